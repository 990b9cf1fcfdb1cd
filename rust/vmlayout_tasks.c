// SPDX-License-Identifier: GPL-2.0
/*
 * The task walk for vmlayout's sync audit (rust/live.rs). In C because it
 * needs for_each_process() and task_struct/mm_struct fields, whose layout
 * the module should take from the kernel's own headers.
 */
#include <linux/sched/signal.h>
#include <linux/sched/mm.h>
#include <linux/rcupdate.h>
#include <linux/string.h>
#include <asm/page.h>

struct vmlayout_task_table {
	int pid;
	char comm[TASK_COMM_LEN];
	u64 table;	/* physical address of the mm's top-level table */
};

/* Called from Rust (rust/live.rs), which declares it there. */
int vmlayout_task_tables(struct vmlayout_task_table *out, int max);

/*
 * Fill @out with up to @max processes that have an mm; return how many
 * there are (more than @max means call again with a bigger array). Nothing
 * here sleeps: the mm is pinned with get_task_mm() while its pgd is read and
 * released with mmput_async().
 */
int vmlayout_task_tables(struct vmlayout_task_table *out, int max)
{
	struct task_struct *p;
	int n = 0;

	rcu_read_lock();
	for_each_process(p) {
		struct mm_struct *mm = get_task_mm(p);

		if (!mm)
			continue;
		if (n < max) {
			out[n].pid = task_pid_nr(p);
			strscpy(out[n].comm, p->comm, sizeof(out[n].comm));
			out[n].table = __pa(mm->pgd);
		}
		n++;
		mmput_async(mm);
	}
	rcu_read_unlock();
	return n;
}
