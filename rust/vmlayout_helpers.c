// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout's C helpers: what needs the kernel's own headers for struct
 * layouts and inline functions (CR3, interrupts, workqueues, tasks), kept
 * small so that the logic stays in Rust. Declared in rust/helpers.rs.
 */
#include <linux/cpu.h>
#include <linux/cpufeature.h>
#include <linux/efi.h>
#include <linux/ftrace.h>
#include <linux/cpumask.h>
#include <linux/irqflags.h>
#include <linux/kallsyms.h>
#include <linux/kernel.h>
#include <linux/kprobes.h>
#include <linux/mem_encrypt.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mm_types.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/rculist.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/mm.h>
#include <linux/security.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/timekeeping.h>
#include <linux/utsname.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <asm/extable_fixup_types.h>
#include <asm/sections.h>
#include <asm/tlbflush.h>

#include "vmlayout_helpers.h"

/*
 * rust/helpers.rs's load_nofault() writes its exception-table entry by
 * hand: on a fault, DX := 1, AX := 0 and the load is skipped.
 */
static_assert(VMLAYOUT_LOAD_NOFAULT_EXTABLE ==
	      (EX_TYPE_ONE_REG | EX_DATA_REG(2) | EX_FLAG_CLEAR_AX));

/* The kernel half of a top-level table: its upper 256 entries. */
#define KERNEL_HALF_OFFSET (PAGE_SIZE / 2)
#define KERNEL_HALF_SIZE (PAGE_SIZE / 2)

/*
 * Copy the kernel half of this CPU's active top-level table into @out and
 * return the table's physical address. Interrupts are off for the copy
 * (2 KiB), so the CPU cannot switch to another mm, and a table freed
 * meanwhile would first have to shoot this CPU down with an IPI: what is
 * copied is the table this CPU runs on.
 */
u64 vmlayout_copy_active_table(u64 *out)
{
	unsigned long flags;
	unsigned long pa;

	local_irq_save(flags);
	pa = read_cr3_pa();
	memcpy(out, (u8 *)__va(pa) + KERNEL_HALF_OFFSET, KERNEL_HALF_SIZE);
	local_irq_restore(flags);
	return pa;
}

static int vmlayout_leave_mm(void *out)
{
	unsigned long flags;

	local_irq_save(flags);
	leave_mm();
	*(u64 *)out = read_cr3_pa();
	local_irq_restore(flags);
	return 0;
}

#ifndef MODULE
/* Built in, init_mm is in reach: the physical address of its table. */
u64 vmlayout_init_mm_table(void)
{
	return __pa(init_mm.pgd);
}
#endif

#ifdef CONFIG_MODULES
/*
 * Built in, __module_address() finds the module that holds an address. A
 * module cannot call it (not exported since 5.12): loaded as one,
 * vmlayout keeps the modules that load after it, from the module notifier,
 * and itself. Each is kept from MODULE_STATE_COMING to GOING, under RCU
 * (the notifier runs before the module's memory is freed); its init
 * memory's bounds are cleared by the kernel when it frees it.
 */
#ifdef MODULE
struct vmlayout_known_module {
	struct list_head node;
	struct rcu_head rcu;
	struct module *mod;
};

static LIST_HEAD(vmlayout_known_modules);
static DEFINE_SPINLOCK(vmlayout_known_lock);

static void vmlayout_know_module(struct module *mod)
{
	struct vmlayout_known_module *known = kmalloc(sizeof(*known), GFP_KERNEL);

	/* Without memory, its sections go unnamed: owners say "module NAME". */
	if (!known)
		return;
	known->mod = mod;
	spin_lock(&vmlayout_known_lock);
	list_add_rcu(&known->node, &vmlayout_known_modules);
	spin_unlock(&vmlayout_known_lock);
}

static void vmlayout_forget_module(struct module *mod)
{
	struct vmlayout_known_module *known, *next;

	spin_lock(&vmlayout_known_lock);
	list_for_each_entry_safe(known, next, &vmlayout_known_modules, node) {
		if (!mod || known->mod == mod) {
			list_del_rcu(&known->node);
			kfree_rcu(known, rcu);
		}
	}
	spin_unlock(&vmlayout_known_lock);
}

static int vmlayout_module_event(struct notifier_block *nb, unsigned long action, void *data)
{
	if (action == MODULE_STATE_COMING)
		vmlayout_know_module(data);
	else if (action == MODULE_STATE_GOING)
		vmlayout_forget_module(data);
	return NOTIFY_DONE;
}

static struct notifier_block vmlayout_module_events = {
	.notifier_call = vmlayout_module_event,
};

/* The module that holds @addr, of those known; call under RCU. */
static struct module *vmlayout_module_at(u64 addr)
{
	struct vmlayout_known_module *known;

	list_for_each_entry_rcu(known, &vmlayout_known_modules, node)
		if (within_module(addr, known->mod))
			return known->mod;
	return NULL;
}
#else
static struct module *vmlayout_module_at(u64 addr)
{
	return __module_address(addr);
}
#endif
#endif

/* Start keeping the modules that load from now on, and this one. */
void vmlayout_modules_known_start(void)
{
#ifdef MODULE
	vmlayout_know_module(THIS_MODULE);
	register_module_notifier(&vmlayout_module_events);
#endif
}

void vmlayout_modules_known_stop(void)
{
#ifdef MODULE
	unregister_module_notifier(&vmlayout_module_events);
	vmlayout_forget_module(NULL);
#endif
}

/*
 * The section that holds @addr (rust/helpers.rs names them). Built in, the
 * linker's section symbols are in reach: the kernel image's entry text
 * (inside its text, so asked first) 1, text 2, init text 3. A module's
 * memory of type T (enum mod_mem_type) 16 + T, of the modules known (all,
 * built in); 0 none of them.
 */
int vmlayout_section_of(u64 addr)
{
	int section = 0;

#ifndef MODULE
	if (addr >= (u64)__entry_text_start && addr < (u64)__entry_text_end)
		return 1;
	if (addr >= (u64)_stext && addr < (u64)_etext)
		return 2;
	if (addr >= (u64)_sinittext && addr < (u64)_einittext)
		return 3;
#endif
#ifdef CONFIG_MODULES
	{
		struct module *mod;

		/* The module cannot be freed while it is looked at. */
		rcu_read_lock();
		mod = vmlayout_module_at(addr);
		if (mod) {
			for_each_mod_mem_type(type)
				if (within_module_mem_type(addr, mod, type))
					section = 16 + type;
		}
		rcu_read_unlock();
	}
#endif
	return section;
}

/*
 * EFI's page table, efi_mm's: the EFI window and the 1:1 runtime mappings
 * live only there. Built in: its physical address (0 without EFI runtime
 * services), and in @memattr whether the firmware gave an EFI
 * memory-attributes table (then the kernel made runtime code read-only and
 * runtime data non-executable). efi_mm is not exported: a module gets 0.
 */
u64 vmlayout_efi_table(int *memattr)
{
#if !defined(MODULE) && defined(CONFIG_EFI)
	if (!efi_enabled(EFI_RUNTIME_SERVICES) || !efi_mm.pgd)
		return 0;
	*memattr = efi_mem_attr_table != EFI_INVALID_TABLE_ADDR;
	return __pa(efi_mm.pgd);
#else
	*memattr = 0;
	return 0;
#endif
}

/*
 * The EFI memory map's type of the descriptor holding physical @phys, or -1
 * if none does (built in only: the map is the kernel's after boot, runtime
 * regions and what the kernel keeps).
 */
int vmlayout_efi_memory_type(u64 phys)
{
#if !defined(MODULE) && defined(CONFIG_EFI)
	efi_memory_desc_t *md;

	if (!efi_enabled(EFI_MEMMAP))
		return -1;
	for_each_efi_memory_desc(md) {
		if (phys >= md->phys_addr &&
		    phys - md->phys_addr < (md->num_pages << EFI_PAGE_SHIFT))
			return md->type;
	}
#endif
	return -1;
}

/*
 * Whether @va is the first page of a possible CPU's TSS (cpu_tss_rw), which
 * PTI maps into the user-mode tables for the SYSCALL entry's scratch word
 * (pti_clone_user_shared()).
 */
int vmlayout_is_cpu_tss_page(u64 va)
{
	unsigned int cpu;

	for_each_possible_cpu(cpu) {
		if ((unsigned long)&per_cpu(cpu_tss_rw, cpu) == va)
			return 1;
	}
	return 0;
}

/* Whether page-table isolation is on (the kernel's X86_FEATURE_PTI). */
int vmlayout_pti_enabled(void)
{
	return boot_cpu_has(X86_FEATURE_PTI);
}

/*
 * The physical address of init_mm's top-level table, which a module cannot
 * name: switch a kworker (a kernel thread, in lazy TLB mode) to init_mm
 * with leave_mm(), as idle drivers do before deep C-states, and read CR3
 * before anything can switch it again.
 */
int vmlayout_reference_cr3(u64 *out)
{
	return smp_call_on_cpu(cpumask_first(cpu_online_mask), vmlayout_leave_mm, out, false);
}

/*
 * Whether the kernel is locked down for confidentiality. vmlayout shows
 * what that level hides: the KASLR bases, physical addresses, every
 * kernel mapping. It asks as /proc/kcore does, which shows the same.
 */
int vmlayout_locked_down(void)
{
	return security_locked_down(LOCKDOWN_KCORE);
}

/* The running kernel's release (uname -r) into @buf, NUL-terminated; its length. */
int vmlayout_release(char *buf)
{
	ssize_t n = strscpy(buf, init_utsname()->release, VMLAYOUT_RELEASE_LEN);

	return n < 0 ? VMLAYOUT_RELEASE_LEN - 1 : n;
}

/* Whether the boot is over: SYSTEM_RUNNING follows mark_readonly(). */
bool vmlayout_system_running(void)
{
	return READ_ONCE(system_state) == SYSTEM_RUNNING;
}

/* The memory-encryption bit(s) in page-table entries (SME/SEV), or 0. */
u64 vmlayout_sme_mask(void)
{
	return sme_me_mask;
}

/* The physical address of this CPU's active top-level table. */
u64 vmlayout_active_table(void)
{
	return read_cr3_pa();
}

/*
 * lookup_address() in init_mm's tables: the address of the entry mapping
 * @addr (0 if none), its level in @level and its value, read once, in @entry.
 */
u64 vmlayout_lookup(u64 addr, unsigned int *level, u64 *entry)
{
	pte_t *pte = lookup_address(addr, level);

	if (!pte)
		return 0;
	*entry = pte_val(ptep_get(pte));
	return (u64)pte;
}

/*
 * The kernel's symbol at @addr, without its offset, in @buf: "name", or
 * "name [module]" (kallsyms: the kernel image, modules, BPF programs as
 * "[bpf]", ftrace and kprobe trampolines as "[__builtin__...]"). 0 when
 * kallsyms has no symbol there.
 */
/*
 * Kprobe slots and ftrace trampolines: /proc/kallsyms lists them (as modules
 * __builtin__kprobes and __builtin__ftrace), an address lookup does not.
 * Their tests are not exported: built in only.
 */
static int vmlayout_trampoline_at(u64 addr, char *buf)
{
#if IS_BUILTIN(CONFIG_X86_VMLAYOUT)
	if (is_kprobe_insn_slot(addr) || is_kprobe_optinsn_slot(addr))
		return scnprintf(buf, KSYM_SYMBOL_LEN, "kprobe_insn_page [__builtin__kprobes]");
	if (is_ftrace_trampoline(addr))
		return scnprintf(buf, KSYM_SYMBOL_LEN, "ftrace_trampoline [__builtin__ftrace]");
#endif
	return 0;
}

int vmlayout_symbol_at(u64 addr, char *buf)
{
	int n;

	static_assert(KSYM_SYMBOL_LEN <= VMLAYOUT_SYMBOL_LEN);
	n = sprint_symbol_no_offset(buf, addr);
	return n > 0 && strncmp(buf, "0x", 2) ? n : vmlayout_trampoline_at(addr, buf);
}

/* cond_resched() is a macro; the walkers call it between work items. */
void vmlayout_cond_resched(void)
{
	cond_resched();
}

struct vmlayout_cpu_works;

struct vmlayout_cpu_work {
	struct work_struct work;
	void (*fn)(void *job, unsigned int cpu);
	void *job;
	unsigned int cpu;
	struct vmlayout_cpu_works *works;
	/*
	 * In a session: the last job this CPU's share was taken for, by its
	 * worker, or by the caller for a pooled job the worker had not
	 * started.
	 */
	atomic_long_t taken;
};

struct vmlayout_cpu_works {
	unsigned int nr;
	/*
	 * A session (vmlayout_session_begin()): open, the caller's CPU, the
	 * job posted last, its number, the other CPUs still on it, and
	 * whether the session is ending.
	 */
	bool open;
	unsigned int self;
	void (*fn)(void *job, unsigned int cpu);
	void *job;
	unsigned long posted;
	atomic_t running;
	bool stop;
	atomic_t alive;
	wait_queue_head_t posted_wq;
	wait_queue_head_t done_wq;
	struct vmlayout_cpu_work work[];
};

/* One work per possible CPU, vmalloc'd (nr_cpu_ids may be thousands). */
struct vmlayout_cpu_works *vmlayout_cpu_works_alloc(void)
{
	struct vmlayout_cpu_works *works;

	works = vzalloc(struct_size(works, work, nr_cpu_ids));
	if (works) {
		works->nr = nr_cpu_ids;
		init_waitqueue_head(&works->posted_wq);
		init_waitqueue_head(&works->done_wq);
	}
	return works;
}

void vmlayout_cpu_works_free(struct vmlayout_cpu_works *works)
{
	vfree(works);
}

static void vmlayout_cpu_work_fn(struct work_struct *work)
{
	struct vmlayout_cpu_work *w = container_of(work, struct vmlayout_cpu_work, work);

	w->fn(w->job, w->cpu);
}

/*
 * How long a session's workers, and its caller, spin for what they wait
 * for before they sleep. A CPU that sleeps goes idle, and waking it costs
 * the idle state's exit latency: on hardware, 133 us from Skylake-SP's C6
 * (drivers/idle/intel_idle.c, skx_cstates), which the idle governor picks
 * for any sleep longer than its 600 us target residency; under TCG, 0.15
 * to 0.25 ms. Either is longer than most waits between and within a
 * scan's jobs. Spinning is preemptible (cond_resched()) and bounded.
 */
#define VMLAYOUT_SPIN_NS (1 * NSEC_PER_MSEC)

/* Whether a job was posted after job @seen, or the session is ending. */
static bool vmlayout_posted(struct vmlayout_cpu_works *works, unsigned long seen)
{
	/* Pairs with vmlayout_session_run()'s release: the job is visible. */
	return smp_load_acquire(&works->posted) != seen || READ_ONCE(works->stop);
}

/* Whether every worker of the session has returned. */
static bool vmlayout_gone(struct vmlayout_cpu_works *works, unsigned long unused)
{
	return atomic_read(&works->alive) == 0;
}

/* Whether every other CPU is done with the job posted last. */
static bool vmlayout_done(struct vmlayout_cpu_works *works, unsigned long unused)
{
	/* Pairs with the workers' atomic_dec_and_test(): their results are visible. */
	return atomic_read_acquire(&works->running) == 0;
}

/*
 * Wait until @done(@works, @arg): spin for up to VMLAYOUT_SPIN_NS,
 * preemptible, then sleep on @wq, which whoever makes @done true wakes.
 */
static void vmlayout_wait(struct vmlayout_cpu_works *works, wait_queue_head_t *wq,
			  bool (*done)(struct vmlayout_cpu_works *works, unsigned long arg),
			  unsigned long arg)
{
	u64 until = ktime_get_ns() + VMLAYOUT_SPIN_NS;

	while (!done(works, arg)) {
		if (ktime_get_ns() > until) {
			wait_event_idle(*wq, done(works, arg));
			return;
		}
		cond_resched();
		cpu_relax();
	}
}

/* A session's worker: run each job posted for this CPU until the end. */
static void vmlayout_session_fn(struct work_struct *work)
{
	struct vmlayout_cpu_work *w = container_of(work, struct vmlayout_cpu_work, work);
	struct vmlayout_cpu_works *works = w->works;
	unsigned long seen = 0, posted;

	for (;;) {
		vmlayout_wait(works, &works->posted_wq, vmlayout_posted, seen);
		/* Pairs with vmlayout_session_run()'s release: the job is visible. */
		posted = smp_load_acquire(&works->posted);
		if (posted == seen)
			break;
		seen = posted;
		if (atomic_long_cmpxchg(&w->taken, posted - 1, posted) != posted - 1)
			continue;
		works->fn(works->job, w->cpu);
		if (atomic_dec_and_test(&works->running))
			wake_up(&works->done_wq);
	}
	if (atomic_dec_and_test(&works->alive))
		wake_up(&works->done_wq);
}

/*
 * Open a session on @works: until vmlayout_session_end(), every online CPU
 * but the caller's keeps a worker that waits for the jobs
 * vmlayout_on_each_cpu() posts, so that a scan's jobs (the walk, the
 * rules) start on every CPU at once, without a wake-up each. The caller
 * stays on its CPU and CPU hotplug waits meanwhile.
 */
void vmlayout_session_begin(struct vmlayout_cpu_works *works)
{
	unsigned int cpu;

	cpus_read_lock();
	migrate_disable();
	works->self = smp_processor_id();
	works->posted = 0;
	works->stop = false;
	atomic_set(&works->running, 0);
	atomic_set(&works->alive, num_online_cpus() - 1);
	for_each_online_cpu(cpu) {
		struct vmlayout_cpu_work *w = &works->work[cpu];

		if (cpu == works->self)
			continue;
		INIT_WORK(&w->work, vmlayout_session_fn);
		w->works = works;
		w->cpu = cpu;
		atomic_long_set(&w->taken, 0);
		queue_work_on(cpu, system_highpri_wq, &w->work);
	}
	works->open = true;
}

/* End the session: its workers return; the caller may move again. */
void vmlayout_session_end(struct vmlayout_cpu_works *works)
{
	unsigned int cpu;

	if (!works->open)
		return;
	WRITE_ONCE(works->stop, true);
	wake_up_all(&works->posted_wq);
	vmlayout_wait(works, &works->done_wq, vmlayout_gone, 0);
	for_each_online_cpu(cpu)
		if (cpu != works->self)
			flush_work(&works->work[cpu].work);
	works->open = false;
	migrate_enable();
	cpus_read_unlock();
}

/* vmlayout_on_each_cpu() in a session: post the job to the waiting workers. */
static int vmlayout_session_run(struct vmlayout_cpu_works *works,
				void (*fn)(void *job, unsigned int cpu), void *job,
				bool pooled)
{
	unsigned long posted = works->posted + 1;
	unsigned int cpu;

	works->fn = fn;
	works->job = job;
	atomic_set(&works->running, num_online_cpus() - 1);
	/* Pairs with the workers' acquire: the job is visible to them. */
	smp_store_release(&works->posted, posted);
	wake_up_all(&works->posted_wq);
	fn(job, works->self);
	for_each_online_cpu(cpu) {
		struct vmlayout_cpu_work *w = &works->work[cpu];

		/* Pooled work a worker has not started on is all done: take it. */
		if (pooled && cpu != works->self &&
		    atomic_long_cmpxchg(&w->taken, posted - 1, posted) == posted - 1)
			atomic_dec(&works->running);
	}
	vmlayout_wait(works, &works->done_wq, vmlayout_done, 0);
	return 0;
}

/*
 * schedule_on_each_cpu() with an argument: call @prepare(@job, cpu) for each
 * online CPU (it may sleep and allocate; an error stops here), then run
 * @fn(@job, cpu) on every online CPU at once, preemptible, interrupts on,
 * and wait for all of them: on the other CPUs in a kworker bound to each,
 * on the caller's own CPU in the caller, pinned there (migrate_disable())
 * for the call. The caller's share thus starts at once instead of after a
 * kworker wakes, and it waits only for the other CPUs (under TCG, each
 * wake-up cost 0.15 to 0.25 ms of a 6 ms scan). With @pooled (the workers
 * claim their work from a common pool, so the caller's share ends only when
 * the pool is empty), a worker that has not started by then is cancelled,
 * not waited for. CPU hotplug waits meanwhile, so the CPUs prepared are the
 * CPUs that run (or, pooled, are cancelled). In a session (see
 * vmlayout_session_begin()), the job is posted to its waiting workers
 * instead, and the caller spins a while for them before it sleeps.
 */
int vmlayout_on_each_cpu(struct vmlayout_cpu_works *works,
			 int (*prepare)(void *job, unsigned int cpu),
			 void (*fn)(void *job, unsigned int cpu), void *job,
			 bool pooled)
{
	unsigned int cpu, self;
	int ret = 0;

	if (works->open) {
		for_each_online_cpu(cpu) {
			ret = prepare(job, cpu);
			if (ret)
				return ret;
		}
		return vmlayout_session_run(works, fn, job, pooled);
	}
	cpus_read_lock();
	for_each_online_cpu(cpu) {
		ret = prepare(job, cpu);
		if (ret)
			goto out;
	}
	migrate_disable();
	self = smp_processor_id();
	for_each_online_cpu(cpu) {
		struct vmlayout_cpu_work *w = &works->work[cpu];

		if (cpu == self)
			continue;
		INIT_WORK(&w->work, vmlayout_cpu_work_fn);
		w->fn = fn;
		w->job = job;
		w->cpu = cpu;
		queue_work_on(cpu, system_highpri_wq, &w->work);
	}
	fn(job, self);
	migrate_enable();
	for_each_online_cpu(cpu) {
		struct work_struct *work = &works->work[cpu].work;

		if (cpu == self)
			continue;
		/* Pooled work a worker has not started on is all done: do not wait for it to wake. */
		if (pooled && cancel_work(work))
			continue;
		flush_work(work);
	}
out:
	cpus_read_unlock();
	return ret;
}

/*
 * The next process from pid @*next on that has an mm: pin its mm in @*mm
 * (the caller releases it with vmlayout_mm_put()), describe the process in
 * @task, move @*next past it and return 1. Return 0 when no process is
 * left, or -EAGAIN after a stretch of processes without an mm, so that the
 * caller reschedules before calling again: the RCU read section stays
 * short however many tasks there are.
 */
int vmlayout_next_mm(int *next, struct vmlayout_task *task, struct mm_struct **mm)
{
	int tries, ret = -EAGAIN;

	rcu_read_lock();
	for (tries = 0; tries < 32; tries++) {
		struct pid *pid = find_ge_pid(*next, &init_pid_ns);
		struct task_struct *p;

		if (!pid) {
			ret = 0;
			break;
		}
		*next = pid_nr(pid) + 1;
		p = pid_task(pid, PIDTYPE_TGID);
		if (!p)
			continue;
		*mm = get_task_mm(p);
		if (!*mm)
			continue;
		task->pid = task_tgid_nr(p);
		strscpy(task->comm, p->comm, sizeof(task->comm));
		ret = 1;
		break;
	}
	rcu_read_unlock();
	return ret;
}

/* Copy the kernel half of pinned @mm's top-level table; its address. */
u64 vmlayout_mm_copy_table(struct mm_struct *mm, u64 *out)
{
	memcpy(out, (u8 *)mm->pgd + KERNEL_HALF_OFFSET, KERNEL_HALF_SIZE);
	return __pa(mm->pgd);
}

void vmlayout_mm_put(struct mm_struct *mm)
{
	mmput(mm);
}
