// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout_bpf: load and close BPF programs while vmlayout's watch mode
 * re-checks the tables. With the kernel's JIT each program is executable
 * memory in a bpf_prog_pack page, allocated with the first program in a
 * pack and freed with the last.
 *
 *   vmlayout_bpf N  loads N programs "r0 = 0; exit" of type
 *                   BPF_PROG_TYPE_SYSCALL (which needs no networking;
 *                   such programs must be sleepable), ROUND of them open
 *                   at a time, closed before the next round. Prints
 *                   "loaded K" (K: how many loads succeeded); exits 0 when
 *                   all N loaded, 1 at the first failure (its errno and
 *                   the verifier's log on stderr), 2 on a bad argument.
 */
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Programs open at a time. */
#define ROUND 8
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * load_prog: load "r0 = 0; exit", with the verifier's log in LOG (SIZE
 * bytes) when LOG is not NULL. Returns the program's fd, or -1 with errno.
 */
static int load_prog(char *log, unsigned int size)
{
	struct bpf_insn insns[2];
	union bpf_attr attr;

	memset(insns, 0, sizeof(insns));
	/* BPF_MOV64_IMM(BPF_REG_0, 0) */
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
	insns[0].dst_reg = BPF_REG_0;
	insns[0].imm = 0;
	/* BPF_EXIT_INSN() */
	insns[1].code = BPF_JMP | BPF_EXIT;

	memset(&attr, 0, sizeof(attr));
	attr.prog_type = BPF_PROG_TYPE_SYSCALL;
	attr.prog_flags = BPF_F_SLEEPABLE;
	attr.insns = (uintptr_t)insns;
	attr.insn_cnt = ARRAY_SIZE(insns);
	attr.license = (uintptr_t)"GPL";
	snprintf(attr.prog_name, sizeof(attr.prog_name), "vmlayout_churn");
	if (log) {
		log[0] = '\0';
		attr.log_level = 1;
		attr.log_buf = (uintptr_t)log;
		attr.log_size = size;
	}
	return syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof(attr));
}

int main(int argc, char **argv)
{
	/* Between rounds: time for the deferred frees of closed programs. */
	const struct timespec gap = { .tv_sec = 0, .tv_nsec = 20 * 1000 * 1000 };
	int fds[ROUND], loaded = 0, err = 0, held, i, fd;
	static char log[4096];
	size_t len;
	char *end;
	long n;

	if (argc != 2) {
		fprintf(stderr, "usage: vmlayout_bpf N\n");
		return 2;
	}
	errno = 0;
	n = strtol(argv[1], &end, 10);
	if (errno || end == argv[1] || *end || n < 0 || n > 1000000) {
		fprintf(stderr, "vmlayout_bpf: bad count '%s'\n", argv[1]);
		return 2;
	}
	while (loaded < n && !err) {
		for (held = 0; held < ROUND && loaded < n; held++) {
			fd = load_prog(NULL, 0);
			if (fd < 0) {
				err = errno;
				break;
			}
			fds[held] = fd;
			loaded++;
		}
		for (i = 0; i < held; i++)
			close(fds[i]);
		nanosleep(&gap, NULL);
	}
	printf("loaded %d\n", loaded);
	if (!err)
		return 0;
	fprintf(stderr, "vmlayout_bpf: load %d of %ld: %s\n", loaded + 1, n,
		strerror(err));
	/* Again with the verifier's log, which says why. */
	fd = load_prog(log, sizeof(log));
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	len = strlen(log);
	while (len && log[len - 1] == '\n')
		log[--len] = '\0';
	if (len)
		fprintf(stderr, "vmlayout_bpf: verifier: %s\n", log);
	return 1;
}
