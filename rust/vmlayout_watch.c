// SPDX-License-Identifier: GPL-2.0
/*
 * Watch mode's hooks (rust/watch.rs; Documentation/vmlayout/watch.rst lists
 * each way a kernel mapping changes and how it is covered). Every hook that
 * says a mapping changed queues the re-check; the re-check also runs every
 * interval, as the backstop for what no hook sees. A hook only queues (it
 * may run in atomic context, a vmalloc tracepoint under a spinlock): the
 * re-check runs in a kworker, in process context.
 *
 * When a re-check runs is watch mode's pacing, in the core
 * (rust/vmlayout_core/pace.rs, with host property tests; this file keeps
 * the times and asks it through rust/watch.rs): the re-check after a hook
 * waits a gap, so that changes made together are checked once, after
 * them; and each re-check is paid from a budget that grows by a twentieth
 * of the time (first from what it earned while quiet, the rest paused
 * after it), so that re-checks take at most 5% of the time, plus one,
 * however fast the changes come. A re-check the pacing does not allow yet
 * queues itself again for when it does. The backstop's interval grows the
 * same way.
 *
 * The vmalloc, module and CPA hooks say where the change is: while every
 * change since the last re-check came with its addresses, the next
 * re-checks only the windows that cover them (a few kept apart:
 * rust/vmlayout_core/changed.rs; the re-check, rust/vmlayout_core/window.rs);
 * any other hook, or the backstop, re-checks everything. With CONFIG_KASAN_VMALLOC a vmalloc
 * area's shadow changes with it, outside the window: everything then too.
 */
#include <linux/cpuhotplug.h>
#include <linux/hrtimer.h>
#include <linux/irq_work.h>
#include <linux/jiffies.h>
#include <linux/kprobes.h>
#include <linux/ktime.h>
#include <linux/memory.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/notifier.h>
#include <linux/sched.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <linux/workqueue.h>

#include "vmlayout_helpers.h"

/* One watch: a module has one state. Serialized by vmlayout_watch_lock. */
static struct {
	const void *state;
	u64 reference;			/* the reference's top level (init_mm's), physical */
	bool on;
	unsigned long interval;		/* the backstop's, in jiffies */
	struct hrtimer gap;		/* after a hook: queues the kick */
	struct work_struct kick;	/* the re-check after a hook */
	atomic_t armed;			/* the gap or the kick is pending */
	bool stopping;			/* arm nothing more */
	struct delayed_work backstop;	/* every interval */
	atomic_long_t hooks[VMLAYOUT_HOOKS];
	unsigned int hooked;		/* bit per hook attached */
	enum cpuhp_state cpuhp;
	struct task_struct *runner;	/* the kworker running a re-check */
	u64 next_ns;			/* no re-check before (pace.rs) */
	u64 longest_ns;			/* the longest re-check's work */
	raw_spinlock_t window_lock;	/* guards changed (raw: taken in hard irq_work) */
	struct vmlayout_changed changed;	/* since the last re-check */
} vmlayout_watch;

static_assert(sizeof(struct vmlayout_changed) == 8 * 2 * VMLAYOUT_WINDOWS + 8);
static DEFINE_MUTEX(vmlayout_watch_lock);

/*
 * Queue the re-check after a hook @delay ns from now, unless one is queued
 * already (it covers this change too). The gap is an hrtimer's, not a
 * delayed work's: it is shorter than a tick (pace.rs's GAP_NS), and a timer
 * of the wheel would round it to between none and a tick at HZ=250.
 */
static void vmlayout_watch_arm(u64 delay)
{
	/* Pairs with vmlayout_watch_stop()'s release: arm nothing once it runs. */
	if (smp_load_acquire(&vmlayout_watch.stopping) || atomic_xchg(&vmlayout_watch.armed, 1))
		return;
	hrtimer_start(&vmlayout_watch.gap, ns_to_ktime(delay), HRTIMER_MODE_REL);
}

/* The gap is over: the re-check runs in a kworker (the timer is atomic). */
static enum hrtimer_restart vmlayout_watch_gap_over(struct hrtimer *timer)
{
	/* Pairs with vmlayout_watch_stop()'s release: queue nothing after it. */
	if (!smp_load_acquire(&vmlayout_watch.stopping))
		queue_work(system_unbound_wq, &vmlayout_watch.kick);
	return HRTIMER_NORESTART;
}

/* @first..@last changed (@first > @last: no window covers it); re-check. */
static void vmlayout_watch_changed(u64 first, u64 last)
{
	u64 delay = vmlayout_pace_delay(READ_ONCE(vmlayout_watch.next_ns), ktime_get_ns());
	unsigned long flags;

	if (IS_ENABLED(CONFIG_KASAN_VMALLOC)) {
		first = 1;
		last = 0;
	}
	raw_spin_lock_irqsave(&vmlayout_watch.window_lock, flags);
	vmlayout_changed_add(&vmlayout_watch.changed, first, last);
	raw_spin_unlock_irqrestore(&vmlayout_watch.window_lock, flags);
	vmlayout_watch_arm(delay);
}

/*
 * A hook fired: re-check within the gap (one queued re-check covers all).
 * Not for what the re-check itself does (its buffers are vmalloc'ed).
 */
static void vmlayout_watch_kick_window(enum vmlayout_hook hook, u64 first, u64 last)
{
	if (current == READ_ONCE(vmlayout_watch.runner))
		return;
	atomic_long_inc(&vmlayout_watch.hooks[hook]);
	vmlayout_watch_changed(first, last);
}

/* A change that no window covers. */
static void vmlayout_watch_kick(enum vmlayout_hook hook)
{
	vmlayout_watch_kick_window(hook, 1, 0);
}

/* Take what changed since the last re-check into @changed: false if nothing did. */
static bool vmlayout_watch_take(struct vmlayout_changed *changed)
{
	unsigned long flags;

	raw_spin_lock_irqsave(&vmlayout_watch.window_lock, flags);
	*changed = vmlayout_watch.changed;
	vmlayout_watch.changed = (struct vmlayout_changed){};
	raw_spin_unlock_irqrestore(&vmlayout_watch.window_lock, flags);
	return changed->len || changed->everything;
}

/*
 * Run a re-check, unless the pacing does not allow one yet: then return
 * how long until it does (0: it ran, or there was nothing to re-check).
 */
static u64 vmlayout_watch_recheck(bool backstop)
{
	u64 start = ktime_get_ns(), end, worked;
	u64 wait = vmlayout_pace_wait(READ_ONCE(vmlayout_watch.next_ns), start);
	struct vmlayout_changed changed;

	if (wait)
		return wait;
	/* The backstop re-checks everything, which covers any window. */
	if (!vmlayout_watch_take(&changed) && !backstop)
		return 0;
	WRITE_ONCE(vmlayout_watch.runner, current);
	worked = vmlayout_watch_run(vmlayout_watch.state, backstop, &changed);
	WRITE_ONCE(vmlayout_watch.runner, NULL);
	end = ktime_get_ns();
	/*
	 * Paced by its work: a wait for the scan's lock, which a reader of
	 * map holds while it formats, is sleep, not the CPU the pacing
	 * budgets (counted, a reader polling map would stall watch mode).
	 */
	WRITE_ONCE(vmlayout_watch.next_ns,
		   vmlayout_pace_next(READ_ONCE(vmlayout_watch.next_ns), end - worked, end));
	if (worked > READ_ONCE(vmlayout_watch.longest_ns))
		WRITE_ONCE(vmlayout_watch.longest_ns, worked);
	return 0;
}

/*
 * The re-check after a hook. A hook from here on arms the gap again: its
 * change may come after this re-check took the window.
 */
static void vmlayout_watch_kicked(struct work_struct *work)
{
	u64 wait;

	atomic_set(&vmlayout_watch.armed, 0);
	wait = vmlayout_watch_recheck(false);
	if (wait)
		vmlayout_watch_arm(wait);
}

/* The backstop: every interval, or as paced. */
static void vmlayout_watch_backstop(struct work_struct *work)
{
	u64 wait = vmlayout_watch_recheck(true), next;

	next = wait ?: vmlayout_pace_backstop(READ_ONCE(vmlayout_watch.next_ns), ktime_get_ns(),
					      jiffies_to_nsecs(vmlayout_watch.interval));
	/* Rounded up: a wait of less than a tick must not run it at once. */
	queue_delayed_work(system_unbound_wq, &vmlayout_watch.backstop,
			   nsecs_to_jiffies(next + TICK_NSEC - 1));
}

/*
 * Modules: coming (text mapped), live (init freed, text read-only), going.
 * The window is each of the module's memory types; their aliases in the
 * direct map change through set_memory_*(), which the CPA hook sees.
 * Unless it gives their windows (no kprobes, or only the catch-all),
 * everything.
 */
static int vmlayout_watch_module(struct notifier_block *nb, unsigned long action,
				 void *data)
{
	const struct module *mod = data;

	if (!(READ_ONCE(vmlayout_watch.hooked) & VMLAYOUT_CPA_WINDOWS)) {
		vmlayout_watch_kick(VMLAYOUT_HOOK_MODULE);
		return NOTIFY_DONE;
	}
	for_each_mod_mem_type(type) {
		const struct module_memory *mem = &mod->mem[type];
		u64 base = (unsigned long)mem->base;

		if (mem->size)
			vmlayout_watch_kick_window(VMLAYOUT_HOOK_MODULE, base, base + mem->size - 1);
	}
	return NOTIFY_DONE;
}

static struct notifier_block vmlayout_module_nb = {
	.notifier_call = vmlayout_watch_module,
};

/*
 * Memory hotplug: a block onlined or offlined. Its pages enter or leave
 * the page allocator (DEBUG_PAGEALLOC maps and unmaps them in the direct
 * map) and its struct pages are in vmemmap; memory hot-added just before
 * it was onlined (add_memory(), no notifier) got its direct map and its
 * vmemmap then: the two windows cover that too, and the re-check reads
 * System RAM again. KASAN maps the block's shadow on the way (outside
 * both): everything.
 */
static int vmlayout_watch_memory(struct notifier_block *nb, unsigned long action,
				 void *data)
{
	const struct memory_notify *arg = data;
	u64 first = PFN_PHYS(arg->start_pfn), size = PFN_PHYS(arg->nr_pages);
	u64 map = (unsigned long)pfn_to_page(arg->start_pfn);

	if (action != MEM_ONLINE && action != MEM_OFFLINE)
		return NOTIFY_DONE;
	if (IS_ENABLED(CONFIG_KASAN) || !size) {
		vmlayout_watch_kick(VMLAYOUT_HOOK_MEMORY);
		return NOTIFY_DONE;
	}
	vmlayout_watch_kick_window(VMLAYOUT_HOOK_MEMORY, (u64)__va(first),
				   (u64)__va(first) + size - 1);
	vmlayout_watch_kick_window(VMLAYOUT_HOOK_MEMORY, map,
				   map + arg->nr_pages * sizeof(struct page) - 1);
	return NOTIFY_DONE;
}

static struct notifier_block vmlayout_memory_nb = {
	.notifier_call = vmlayout_watch_memory,
};

/* CPU hotplug: a CPU's entry area and its active table come and go. */
static int vmlayout_watch_cpu(unsigned int cpu)
{
	vmlayout_watch_kick(VMLAYOUT_HOOK_CPU);
	return 0;
}

/* The vmalloc tracepoints (trace/events/vmalloc.h), found by name. */
static void vmlayout_watch_alloc(void *data, unsigned long addr, unsigned long size,
				 unsigned long align, unsigned long vstart,
				 unsigned long vend, int failed)
{
	if (!failed && size)
		vmlayout_watch_kick_window(VMLAYOUT_HOOK_VMALLOC, addr, addr + size - 1);
}

/* Only the area's start: the re-check widens it to the area's pages. */
static void vmlayout_watch_free(void *data, unsigned long va_start,
				unsigned long nr_lazy, unsigned long nr_lazy_max)
{
	vmlayout_watch_kick_window(VMLAYOUT_HOOK_VMALLOC, va_start, va_start);
}

/*
 * A purge changes no table (the areas were unmapped when freed) but the
 * KASAN shadow of theirs, which it frees.
 */
static void vmlayout_watch_purge(void *data, unsigned long start, unsigned long end,
				 unsigned int npurged)
{
	if (IS_ENABLED(CONFIG_KASAN_VMALLOC))
		vmlayout_watch_kick(VMLAYOUT_HOOK_VMALLOC);
	else if (current != READ_ONCE(vmlayout_watch.runner))
		atomic_long_inc(&vmlayout_watch.hooks[VMLAYOUT_HOOK_VMALLOC]);
}

static const struct {
	const char *name;
	void *probe;
} vmlayout_vmalloc_events[] = {
	{ "alloc_vmap_area", vmlayout_watch_alloc },
	{ "free_vmap_area_noflush", vmlayout_watch_free },
	{ "purge_vmap_area_lazy", vmlayout_watch_purge },
};

static struct tracepoint *vmlayout_vmalloc_tps[ARRAY_SIZE(vmlayout_vmalloc_events)];

static void vmlayout_find_vmalloc_events(struct tracepoint *tp, void *unused)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(vmlayout_vmalloc_events); i++)
		if (!strcmp(tp->name, vmlayout_vmalloc_events[i].name))
			vmlayout_vmalloc_tps[i] = tp;
}

/*
 * set_memory_*() and set_direct_map_*() (module and BPF text made read-only
 * and executable, execmem's ROX cache, an alias dropped from the direct
 * map), debug_pagealloc: every change of page attributes goes through
 * __change_page_attr_set_clr(), which no tracepoint or notifier reports,
 * and takes its struct cpa_data, private to arch/x86/mm/pat/set_memory.c.
 * It changes a page or a large page at a time, primary range and aliases
 * alike, in __change_page_attr(), which first looks the address up:
 * lookup_address_in_pgd_attr(pgd, address, ...), a function of the
 * kernel's (asm/pgtable_types.h) whose arguments are its ABI's. A kprobe
 * there gives each address a window (the re-check widens it to the large
 * page around it); a lookup in another table than the reference (EFI's)
 * re-checks everything. Other callers of lookup_address() (kfence, an
 * oops) add windows that changed nothing: cheap.
 *
 * That the lookups are seen is checked for each change: a kretprobe on
 * __change_page_attr() compares the CPU's count of lookups, and the last
 * one's task, before and after. A change that announced nothing (the
 * compiler inlined the lookup, the task moved to another CPU) re-checks
 * everything. Where the two cannot be attached (__change_page_attr()
 * inlined into its caller), a kprobe on __change_page_attr_set_clr()
 * re-checks everything for every change, as before windows. The probes
 * only queue the re-check.
 */
#ifdef CONFIG_KRETPROBES
/*
 * The probes' handlers may run as the breakpoint's (int3) exception, which
 * lockdep counts as NMI: no lock, no clock but the fast one, no timer. They
 * add what changed to their CPU's own windows and queue a hard irq_work,
 * which adds those to watch mode's and arms the re-check once interrupts
 * are on again. A handler never runs inside that irq_work on its CPU (it
 * looks nothing up), and both run with interrupts off: the CPU's windows
 * are only ever touched by one of them at a time.
 */
static void vmlayout_watch_flush(struct irq_work *work);

static DEFINE_PER_CPU(struct vmlayout_changed, vmlayout_probed);
static DEFINE_PER_CPU(struct irq_work, vmlayout_flush) = IRQ_WORK_INIT_HARD(vmlayout_watch_flush);

/* From a probe: @first..@last changed (@first > @last: everything). */
static void vmlayout_watch_probed(u64 first, u64 last)
{
	if (current == READ_ONCE(vmlayout_watch.runner))
		return;
	atomic_long_inc(&vmlayout_watch.hooks[VMLAYOUT_HOOK_CPA]);
	vmlayout_changed_add(this_cpu_ptr(&vmlayout_probed), first, last);
	irq_work_queue(this_cpu_ptr(&vmlayout_flush));
}

static void vmlayout_watch_flush(struct irq_work *work)
{
	struct vmlayout_changed *probed = this_cpu_ptr(&vmlayout_probed);
	struct vmlayout_changed taken = *probed;
	unsigned int i;

	*probed = (struct vmlayout_changed){};
	if (taken.everything)
		vmlayout_watch_changed(1, 0);
	for (i = 0; i < taken.len && i < VMLAYOUT_WINDOWS; i++)
		vmlayout_watch_changed(taken.windows[i][0], taken.windows[i][1]);
}

/* Every probe's change added to watch mode's (the probes are gone). */
static void vmlayout_watch_flush_all(void)
{
	int cpu;

	for_each_possible_cpu(cpu)
		irq_work_sync(per_cpu_ptr(&vmlayout_flush, cpu));
}

struct vmlayout_lookups {
	unsigned long count;
	struct task_struct *task;
};

static DEFINE_PER_CPU(struct vmlayout_lookups, vmlayout_lookups);

static int vmlayout_watch_lookup(struct kprobe *p, struct pt_regs *regs)
{
	pgd_t *pgd = (pgd_t *)regs_get_kernel_argument(regs, 0);
	u64 addr = regs_get_kernel_argument(regs, 1) & PAGE_MASK;
	struct vmlayout_lookups *seen = this_cpu_ptr(&vmlayout_lookups);

	seen->count++;
	seen->task = current;
	/* The pgd is the entry's address: init_mm's is in the kernel image. */
	if ((__pa(pgd) & PAGE_MASK) == vmlayout_watch.reference)
		vmlayout_watch_probed(addr, addr + PAGE_SIZE - 1);
	else
		vmlayout_watch_probed(1, 0);
	return 0;
}

static struct kprobe vmlayout_lookup_kprobe = {
	.pre_handler = vmlayout_watch_lookup,
};

/* A change of a page's attributes as it starts: where its lookups count. */
struct vmlayout_cpa_call {
	unsigned long count;
	int cpu;
};

static int vmlayout_cpa_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct vmlayout_cpa_call *call = (void *)ri->data;

	call->cpu = smp_processor_id();
	call->count = this_cpu_read(vmlayout_lookups.count);
	return 0;
}

/* The change is done: if its lookup was not seen, everything. */
static int vmlayout_cpa_return(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct vmlayout_cpa_call *call = (void *)ri->data;
	struct vmlayout_lookups *seen = this_cpu_ptr(&vmlayout_lookups);

	if (call->cpu != smp_processor_id() || seen->count == call->count ||
	    seen->task != current)
		vmlayout_watch_probed(1, 0);
	return 0;
}

static struct kretprobe vmlayout_cpa_kretprobe = {
	.entry_handler = vmlayout_cpa_entry,
	.handler = vmlayout_cpa_return,
	.data_size = sizeof(struct vmlayout_cpa_call),
};

/* Without the two above: every change, everything. */
static int vmlayout_watch_cpa(struct kprobe *p, struct pt_regs *regs)
{
	vmlayout_watch_probed(1, 0);
	return 0;
}

static struct kprobe vmlayout_cpa_kprobe = {
	.pre_handler = vmlayout_watch_cpa,
};

/* The probes a change of page attributes is seen by: which bits of hooked. */
static unsigned int vmlayout_attach_cpa(void)
{
	struct kretprobe *ret = &vmlayout_cpa_kretprobe;

	memset(&ret->kp, 0, sizeof(ret->kp));
	ret->kp.symbol_name = "__change_page_attr";
	ret->nmissed = 0;
	memset(&vmlayout_lookup_kprobe, 0, sizeof(vmlayout_lookup_kprobe));
	vmlayout_lookup_kprobe.symbol_name = "lookup_address_in_pgd_attr";
	vmlayout_lookup_kprobe.pre_handler = vmlayout_watch_lookup;
	if (!register_kretprobe(ret)) {
		if (!register_kprobe(&vmlayout_lookup_kprobe))
			return BIT(VMLAYOUT_HOOK_CPA) | VMLAYOUT_CPA_WINDOWS;
		unregister_kretprobe(ret);
	}
	memset(&vmlayout_cpa_kprobe, 0, sizeof(vmlayout_cpa_kprobe));
	vmlayout_cpa_kprobe.symbol_name = "__change_page_attr_set_clr";
	vmlayout_cpa_kprobe.pre_handler = vmlayout_watch_cpa;
	return register_kprobe(&vmlayout_cpa_kprobe) ? 0 : BIT(VMLAYOUT_HOOK_CPA);
}

static void vmlayout_detach_cpa(unsigned int hooked)
{
	if (hooked & VMLAYOUT_CPA_WINDOWS) {
		unregister_kprobe(&vmlayout_lookup_kprobe);
		unregister_kretprobe(&vmlayout_cpa_kretprobe);
	} else {
		unregister_kprobe(&vmlayout_cpa_kprobe);
	}
	vmlayout_watch_flush_all();
}
#else
static unsigned int vmlayout_attach_cpa(void) { return 0; }
static void vmlayout_detach_cpa(unsigned int hooked) { }
#endif

/*
 * Attach every hook the kernel has; a bit in vmlayout_watch.hooked each,
 * written once all are (the module notifier reads it: until then, no CPA
 * hook, so everything).
 */
static void vmlayout_attach(void)
{
	unsigned int hooked = 0;
	int i, ret;

	if (!register_module_notifier(&vmlayout_module_nb))
		hooked |= BIT(VMLAYOUT_HOOK_MODULE);
	if (IS_ENABLED(CONFIG_MEMORY_HOTPLUG) && !register_memory_notifier(&vmlayout_memory_nb))
		hooked |= BIT(VMLAYOUT_HOOK_MEMORY);
	ret = cpuhp_setup_state_nocalls(CPUHP_AP_ONLINE_DYN, "vmlayout:watch",
					vmlayout_watch_cpu, vmlayout_watch_cpu);
	if (ret >= 0) {
		vmlayout_watch.cpuhp = ret;
		hooked |= BIT(VMLAYOUT_HOOK_CPU);
	}
	for_each_kernel_tracepoint(vmlayout_find_vmalloc_events, NULL);
	for (i = 0; i < ARRAY_SIZE(vmlayout_vmalloc_events); i++)
		if (!vmlayout_vmalloc_tps[i] ||
		    tracepoint_probe_register(vmlayout_vmalloc_tps[i],
					      vmlayout_vmalloc_events[i].probe, NULL))
			vmlayout_vmalloc_tps[i] = NULL;
	if (vmlayout_vmalloc_tps[0] && vmlayout_vmalloc_tps[1] && vmlayout_vmalloc_tps[2])
		hooked |= BIT(VMLAYOUT_HOOK_VMALLOC);
	hooked |= vmlayout_attach_cpa();
	WRITE_ONCE(vmlayout_watch.hooked, hooked);
}

static void vmlayout_detach(void)
{
	unsigned int hooked = vmlayout_watch.hooked;
	int i;

	if (hooked & BIT(VMLAYOUT_HOOK_MODULE))
		unregister_module_notifier(&vmlayout_module_nb);
	if (hooked & BIT(VMLAYOUT_HOOK_MEMORY))
		unregister_memory_notifier(&vmlayout_memory_nb);
	if (hooked & BIT(VMLAYOUT_HOOK_CPU))
		cpuhp_remove_state_nocalls(vmlayout_watch.cpuhp);
	for (i = 0; i < ARRAY_SIZE(vmlayout_vmalloc_events); i++)
		if (vmlayout_vmalloc_tps[i])
			tracepoint_probe_unregister(vmlayout_vmalloc_tps[i],
						    vmlayout_vmalloc_events[i].probe, NULL);
	memset(vmlayout_vmalloc_tps, 0, sizeof(vmlayout_vmalloc_tps));
	if (hooked & BIT(VMLAYOUT_HOOK_CPA))
		vmlayout_detach_cpa(hooked);
	tracepoint_synchronize_unregister();
	WRITE_ONCE(vmlayout_watch.hooked, 0);
}

/*
 * Start watching for @state (nothing if already on), whose reference table
 * is at physical address @reference: attach the hooks and run the backstop
 * every @interval_ms (at least 10). @state is passed to
 * vmlayout_watch_run() until vmlayout_watch_stop().
 */
void vmlayout_watch_start(const void *state, u64 reference, unsigned int interval_ms)
{
	int i;

	mutex_lock(&vmlayout_watch_lock);
	if (!vmlayout_watch.on) {
		vmlayout_watch.state = state;
		vmlayout_watch.reference = reference;
		vmlayout_watch.interval = msecs_to_jiffies(max(interval_ms, 10U));
		vmlayout_watch.next_ns = 0;
		vmlayout_watch.longest_ns = 0;
		raw_spin_lock_init(&vmlayout_watch.window_lock);
		vmlayout_watch.changed = (struct vmlayout_changed){};
		for (i = 0; i < VMLAYOUT_HOOKS; i++)
			atomic_long_set(&vmlayout_watch.hooks[i], 0);
		atomic_set(&vmlayout_watch.armed, 0);
		vmlayout_watch.stopping = false;
		hrtimer_setup(&vmlayout_watch.gap, vmlayout_watch_gap_over, CLOCK_MONOTONIC,
			      HRTIMER_MODE_REL);
		INIT_WORK(&vmlayout_watch.kick, vmlayout_watch_kicked);
		INIT_DELAYED_WORK(&vmlayout_watch.backstop, vmlayout_watch_backstop);
		vmlayout_attach();
		queue_delayed_work(system_unbound_wq, &vmlayout_watch.backstop,
				   vmlayout_watch.interval);
		vmlayout_watch.on = true;
	}
	mutex_unlock(&vmlayout_watch_lock);
}

/*
 * Stop watching (nothing if off): detach the hooks, then cancel the
 * re-checks and wait for a running one. No call of vmlayout_watch_run()
 * follows.
 */
void vmlayout_watch_stop(void)
{
	mutex_lock(&vmlayout_watch_lock);
	if (vmlayout_watch.on) {
		vmlayout_detach();
		cancel_delayed_work_sync(&vmlayout_watch.backstop);
		/*
		 * The kick may arm the gap until it sees stopping, and the
		 * gap queue the kick: the timer, the work, then the timer the
		 * work may have armed.
		 */
		/* Pairs with the acquires of the gap's arming and expiry. */
		smp_store_release(&vmlayout_watch.stopping, true);
		hrtimer_cancel(&vmlayout_watch.gap);
		cancel_work_sync(&vmlayout_watch.kick);
		hrtimer_cancel(&vmlayout_watch.gap);
		vmlayout_watch.on = false;
	}
	mutex_unlock(&vmlayout_watch_lock);
}

/*
 * Whether watching; the hooks attached (a bit per enum vmlayout_hook) in
 * @hooked, how often each fired in @fired, the longest re-check in
 * @longest_ns.
 */
bool vmlayout_watch_status(unsigned int *hooked, u64 *fired, u64 *longest_ns)
{
	bool on;
	int i;

	mutex_lock(&vmlayout_watch_lock);
	on = vmlayout_watch.on;
	*hooked = vmlayout_watch.hooked;
	*longest_ns = READ_ONCE(vmlayout_watch.longest_ns);
	for (i = 0; i < VMLAYOUT_HOOKS; i++)
		fired[i] = atomic_long_read(&vmlayout_watch.hooks[i]);
	mutex_unlock(&vmlayout_watch_lock);
	return on;
}
