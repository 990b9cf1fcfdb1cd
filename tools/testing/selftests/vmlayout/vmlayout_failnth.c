// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout_failnth: fail each allocation of one operation in turn, with the
 * kernel's per-task fault injection (/proc/thread-self/fail-nth, failslab
 * and fail_page_alloc), and check that each failure is a clean error.
 *
 *   vmlayout_failnth insmod MODULE.ko NAME [PARAMS]
 *       finit_module() with its Nth injection point failing, N = 1, 2, ...
 *       until the load no longer reaches an Nth point. A failed load must
 *       leave no module behind; a successful one is removed again.
 *   vmlayout_failnth write FILE WORD STALE_FILE
 *       write(FILE, WORD) likewise. After a failed write, STALE_FILE must
 *       say it is stale (a "stale" record); after a successful one, not.
 *
 * Prints one line per injected failure and a summary; exits 0 if every
 * failure was clean. The operation runs right after fail-nth is set, in
 * the same thread, with nothing else in between (no exec, no open).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int failnth_fd;

static void arm(int n)
{
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%d", n);

	if (pwrite(failnth_fd, buf, len, 0) != len) {
		perror("fail-nth");
		exit(2);
	}
}

/* What is left of the count: 0 means the Nth point was reached and failed. */
static int left(void)
{
	char buf[16] = "";

	if (pread(failnth_fd, buf, sizeof(buf) - 1, 0) < 0) {
		perror("fail-nth");
		exit(2);
	}
	arm(0);
	return atoi(buf);
}

static int module_loaded(const char *name)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "/sys/module/%s", name);
	return stat(path, &st) == 0;
}

static int stale(const char *file)
{
	char buf[512];
	FILE *f = fopen(file, "r");
	int found = 0;

	if (!f)
		return -1;
	while (fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "stale ", 6))
			found = 1;
	fclose(f);
	return found;
}

int main(int argc, char **argv)
{
	int n, injected = 0, bad = 0, fd;

	if (argc < 4) {
		fprintf(stderr, "usage: %s insmod KO NAME [PARAMS] | write FILE WORD STALE_FILE\n", argv[0]);
		return 2;
	}
	failnth_fd = open("/proc/thread-self/fail-nth", O_RDWR);
	if (failnth_fd < 0) {
		perror("/proc/thread-self/fail-nth (CONFIG_FAULT_INJECTION)");
		return 2;
	}
	for (n = 1; n < 100000; n++) {
		int ret, err, rest;

		if (!strcmp(argv[1], "insmod")) {
			const char *params = argc > 4 ? argv[4] : "";

			fd = open(argv[2], O_RDONLY);
			if (fd < 0) {
				perror(argv[2]);
				return 2;
			}
			arm(n);
			ret = syscall(SYS_finit_module, fd, params, 0);
			err = errno;
			rest = left();
			close(fd);
			if (ret == 0) {
				if (syscall(SYS_delete_module, argv[3], O_NONBLOCK)) {
					perror("delete_module");
					return 2;
				}
			} else if (module_loaded(argv[3])) {
				printf("not clean: insmod failed (%s) at point %d but %s is loaded\n",
				       strerror(err), n, argv[3]);
				bad++;
			}
		} else if (!strcmp(argv[1], "write") && argc == 5) {
			size_t len = strlen(argv[3]);
			int is_stale;

			fd = open(argv[2], O_WRONLY);
			if (fd < 0) {
				perror(argv[2]);
				return 2;
			}
			arm(n);
			ret = write(fd, argv[3], len) == (ssize_t)len ? 0 : -1;
			err = errno;
			rest = left();
			close(fd);
			is_stale = stale(argv[4]);
			if ((ret == 0 && is_stale) || (ret && rest == 0 && err == ENOMEM && !is_stale)) {
				printf("not clean: write %s at point %d, and %s %s stale\n",
				       ret ? strerror(err) : "succeeded", n, argv[4],
				       is_stale ? "is" : "is not");
				bad++;
			}
		} else {
			fprintf(stderr, "%s: unknown operation '%s'\n", argv[0], argv[1]);
			return 2;
		}
		if (rest != 0)
			break;	/* the operation no longer reaches an Nth point */
		injected++;
		printf("point %d: %s\n", n, ret ? strerror(err) : "succeeded anyway");
	}
	printf("%s %s: %d injection points failed in turn, %d not clean\n",
	       argv[1], argv[2], injected, bad);
	return bad || injected == 0 ? 1 : 0;
}
