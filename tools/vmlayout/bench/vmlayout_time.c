// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout_time: time a file operation in the benchmark guest, where busybox
 * has no sub-second clock. Each run is open, read to EOF (or write DATA),
 * close, timed with CLOCK_MONOTONIC; no process is started per run, so a
 * fork/exec never counts against the file being timed.
 *
 *   vmlayout_time RUNS read FILE          prints: min_ns median_ns max_ns
 *   vmlayout_time RUNS write FILE DATA
 *   vmlayout_time RUNS exec PROGRAM ARGS...
 *
 * exec times a whole program, its fork and exec included (vmlayout check),
 * and fails when it exits with a status above 2 (its bad-input status).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static int once(int writing, const char *path, const char *data)
{
	static char buf[1 << 16];
	int fd = open(path, writing ? O_WRONLY : O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	if (writing) {
		n = write(fd, data, strlen(data));
		n = n < 0 ? -errno : 0;
	} else {
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			;
		n = n < 0 ? -errno : 0;
	}
	close(fd);
	return n;
}

static int run_program(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && WEXITSTATUS(status) <= 2 ? 0 : -EIO;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 0;
	int writing = argc > 2 && !strcmp(argv[2], "write");
	int exec = argc > 2 && !strcmp(argv[2], "exec");
	long long *ns;
	int i, err;

	if (runs < 1 || argc < 4 || (!writing && !exec && strcmp(argv[2], "read")) ||
	    (writing && argc < 5)) {
		fprintf(stderr, "usage: %s RUNS read FILE | RUNS write FILE DATA | RUNS exec PROGRAM ARGS...\n",
			argv[0]);
		return 2;
	}
	ns = calloc(runs, sizeof(*ns));
	if (!ns)
		return 1;
	for (i = 0; i < runs; i++) {
		long long t0 = now_ns();

		err = exec ? run_program(argv + 3) : once(writing, argv[3], writing ? argv[4] : NULL);
		ns[i] = now_ns() - t0;
		if (err) {
			fprintf(stderr, "%s: %s\n", argv[3], strerror(-err));
			return 1;
		}
	}
	qsort(ns, runs, sizeof(*ns), cmp);
	printf("%lld %lld %lld\n", ns[0], ns[runs / 2], ns[runs - 1]);
	return 0;
}
