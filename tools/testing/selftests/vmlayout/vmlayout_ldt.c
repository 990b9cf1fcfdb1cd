// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout_ldt: hold a process with a local descriptor table while vmlayout
 * scans. With PTI on, the kernel maps an mm's LDT in that mm's own slot of
 * the LDT remap area (Documentation/arch/x86/x86_64/mm.rst), which no other
 * table has: vmlayout must show it and must not call it an unsynced entry.
 *
 *   vmlayout_ldt    installs one LDT entry, prints "ldt ready", waits for
 *                   a signal.
 */
#include <errno.h>
#include <asm/ldt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct user_desc desc;

	memset(&desc, 0, sizeof(desc));
	desc.entry_number = 0;
	desc.base_addr = 0;
	desc.limit = 0xfffff;
	desc.seg_32bit = 1;
	desc.limit_in_pages = 1;
	desc.useable = 1;
	if (syscall(SYS_modify_ldt, 1, &desc, sizeof(desc)) != 0) {
		/* ENOSYS: a kernel without CONFIG_MODIFY_LDT_SYSCALL. */
		printf("ldt unavailable: modify_ldt: %s\n", strerror(errno));
		return 4;
	}
	printf("ldt ready\n");
	fflush(stdout);
	pause();
	return 0;
}
