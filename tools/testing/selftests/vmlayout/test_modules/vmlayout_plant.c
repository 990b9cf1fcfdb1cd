// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout_plant: test-only companion of the vmlayout kselftest. It plants
 * one page-table violation on load and removes it on unload, so the test can
 * check that vmlayout's findings show it, with the right rule and region,
 * and forget it after a rescan.
 *
 *   insmod vmlayout_plant.ko plant=wx       W+X: a vmalloc'd page with NX cleared by hand
 *   insmod vmlayout_plant.ko plant=wx hold_ms=N  the same for N ms only, during
 *                                           the load (watch mode's transient window)
 *   insmod vmlayout_plant.ko plant=wx hold_ms=N repeat=R every_ms=M  R such
 *                                           transient plants after the load, from a
 *                                           work item, M ms apart (no module hook
 *                                           near them); "wx trials done" when done
 *   insmod vmlayout_plant.ko plant=wx after_ms=N  the same N ms after the load, from
 *                                           a work item, kept until unload: a
 *                                           change only the vmalloc hook sees
 *   insmod vmlayout_plant.ko plant=user     a vmalloc'd page whose PTE has _PAGE_USER
 *   insmod vmlayout_plant.ko plant=alias    the direct-map alias of this module's
 *                                          first text page made present and
 *                                          writable (with the ROX cache it is
 *                                          not present, else read-only)
 *   insmod vmlayout_plant.ko plant=hole     a 4 KiB leaf in the documented unused hole
 *                                          ffffffff00000000-ffffffff7fffffff
 *   insmod vmlayout_plant.ko plant=cpu pid=N  task N's top-level table gets an entry
 *                                          the reference lacks (slot 256, the
 *                                          hypervisor guard hole)
 *   insmod vmlayout_plant.ko plant=sync pid=N task N's top-level entry for a fresh
 *                                          vmalloc page T points to private
 *                                          copies of the tables below it, with
 *                                          T's PTE cleared: an unsynced table.
 *                                          Task N must be stopped (SIGSTOP):
 *                                          its table misses whatever vmalloc
 *                                          maps after the plant (the plant
 *                                          refuses a task not yet stopped, and
 *                                          first moves every CPU that keeps a
 *                                          table loaded lazily to init_mm).
 *                                          Writing "touch" to
 *                                          /sys/kernel/debug/vmlayout_plant loads
 *                                          task N's table on this CPU, with
 *                                          interrupts off, just long enough to
 *                                          read T (a fault through that table);
 *                                          "restore" undoes the plant at once.
 *   insmod vmlayout_plant.ko plant=pti pid=N  with PTI on, task N's user-mode top-level
 *                                          table (the page after its kernel one)
 *                                          maps one kernel page, read-only, at
 *                                          slot 256: kernel memory exposed to
 *                                          user mode
 *   insmod vmlayout_plant.ko plant=poke     init_mm's table maps a writable page in the
 *                                          user half's last top-level slot, where
 *                                          text_poke()'s temporary mm maps (from
 *                                          TASK_UNMAPPED_BASE): a poke-leak
 *   insmod vmlayout_plant.ko plant=none     nothing: load/unload and vmalloc churn
 *   insmod vmlayout_plant.ko plant=leak     leaks 100 bytes (kmemleak must see it)
 *
 * The planted address is printed as "vmlayout_plant: <kind> at 0x...".
 * Never load this on a machine you care about.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/smp.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/workqueue.h>
#include <linux/ktime.h>
#include <linux/uaccess.h>
#include <linux/pgtable.h>
#include <linux/cpufeature.h>
#include <asm/tlbflush.h>

static char *plant = "";
module_param(plant, charp, 0444);
MODULE_PARM_DESC(plant, "wx, user, alias, hole, cpu, sync, pti, poke, none or leak");
static int pid;
module_param(pid, int, 0444);
MODULE_PARM_DESC(pid, "for plant=cpu, sync and pti: the task whose table to change");
static unsigned int hold_ms;
module_param(hold_ms, uint, 0444);
MODULE_PARM_DESC(hold_ms, "for plant=wx: remove the plant after this many ms, still loading");
static unsigned int after_ms;
module_param(after_ms, uint, 0444);
MODULE_PARM_DESC(after_ms, "for plant=wx: plant this many ms after the load instead");
static unsigned int repeat;
module_param(repeat, uint, 0444);
MODULE_PARM_DESC(repeat, "for plant=wx hold_ms=N: this many transient plants after the load");
static unsigned int every_ms = 100;
module_param(every_ms, uint, 0444);
MODULE_PARM_DESC(every_ms, "for plant=wx repeat=R: the time between two plants");

#define HOLE_ADDR 0xffffffff00000000UL
#define GUARD_SLOT 256

static void *vpage;
static pte_t *vpte;
static pud_t *hole_pud;
static unsigned long hole_pmd_page, hole_pte_page, hole_data_page;
static struct mm_struct *victim_mm;

/* Pin task @pid's mm as victim_mm (mmput() it when done). */
/* Whether task `pid` is stopped: then it cannot load its table again. */
static bool victim_stopped(void)
{
	struct task_struct *task;
	bool stopped;

	rcu_read_lock();
	task = pid_task(find_vpid(pid), PIDTYPE_PID);
	stopped = task && task_is_stopped(task);
	rcu_read_unlock();
	return stopped;
}

static int pin_victim_mm(void)
{
	struct task_struct *task;

	rcu_read_lock();
	task = pid_task(find_vpid(pid), PIDTYPE_PID);
	victim_mm = task ? get_task_mm(task) : NULL;
	rcu_read_unlock();
	return victim_mm ? 0 : -ESRCH;
}

/*
 * Flush every CPU's TLB and paging-structure caches, global entries too, by
 * toggling CR4.PGE (what __native_tlb_flush_global() does; neither it nor
 * flush_tlb_all() is exported).
 */
static void flush_local(void *unused)
{
	unsigned long cr4 = __read_cr4();

	asm volatile("mov %0, %%cr4" : : "r" (cr4 ^ X86_CR4_PGE) : "memory");
	asm volatile("mov %0, %%cr4" : : "r" (cr4) : "memory");
}

static void flush_all(void)
{
	on_each_cpu(flush_local, NULL, 1);
}

/*
 * A CPU that last ran a task keeps its table loaded under the kernel
 * thread that follows (lazy TLB). Switch every such CPU to init_mm, as a
 * TLB-flush IPI does, so that no kernel thread reaches vmalloc memory
 * through a victim's table while it is planted. A CPU interrupted in a
 * task without an mm (a kernel thread, idle) is the lazy one; modules
 * cannot read cpu_tlbstate_shared.is_lazy itself.
 */
static void leave_lazy_mm(void *unused)
{
	if (!current->mm)
		leave_mm();
}

/*
 * How long plant_vmalloc() took, from before its vmalloc() to the changed
 * entry flushed: watch mode's vmalloc hook re-checks the area a gap after
 * it was allocated, so a plant slower than that (its CPU taken away) is
 * one the hook could not see.
 */
static u64 plant_ns;

static int plant_vmalloc(pteval_t set, pteval_t clear)
{
	u64 start = ktime_get_ns();
	unsigned int level;

	vpage = vmalloc(PAGE_SIZE);
	if (!vpage)
		return -ENOMEM;
	vpte = lookup_address((unsigned long)vpage, &level);
	if (!vpte || level != PG_LEVEL_4K) {
		vfree(vpage);
		vpage = NULL;
		return -EINVAL;
	}
	set_pte(vpte, __pte((pte_val(*vpte) | set) & ~clear));
	flush_all();
	plant_ns = ktime_get_ns() - start;
	return 0;
}

static void unplant_vmalloc(pteval_t set, pteval_t clear)
{
	set_pte(vpte, __pte((pte_val(*vpte) & ~set) | clear));
	flush_all();
	vfree(vpage);
}

/* plant=alias: the entry of the alias and what it held. */
static pte_t *alias_pte;
static pte_t alias_was;

static int plant_alias(void)
{
	void *text = (void *)((unsigned long)plant_alias & PAGE_MASK);
	unsigned long alias = (unsigned long)__va(slow_virt_to_phys(text));
	unsigned int level;

	alias_pte = lookup_address(alias, &level);
	if (!alias_pte || pte_none(*alias_pte))
		return -EINVAL;
	alias_was = *alias_pte;
	set_pte(alias_pte, __pte(pte_val(alias_was) | _PAGE_PRESENT | _PAGE_RW));
	flush_all();
	pr_info("vmlayout_plant: alias at 0x%lx\n", alias);
	return 0;
}

static void unplant_alias(void)
{
	set_pte(alias_pte, alias_was);
	flush_all();
}

/* The kernel half is shared: current->mm's upper tables are everyone's. */
static pud_t *pud_of(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd = pgd_offset(mm, addr);
	p4d_t *p4d;

	if (pgd_none(*pgd))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(*p4d))
		return NULL;
	return pud_offset(p4d, addr);
}

static int plant_hole(void)
{
	pmd_t *pmd;
	pte_t *pte;

	hole_pud = pud_of(current->mm, HOLE_ADDR);
	if (!hole_pud || !pud_none(*hole_pud))
		return -EBUSY;
	hole_pmd_page = get_zeroed_page(GFP_KERNEL);
	hole_pte_page = get_zeroed_page(GFP_KERNEL);
	hole_data_page = get_zeroed_page(GFP_KERNEL);
	if (!hole_pmd_page || !hole_pte_page || !hole_data_page) {
		free_page(hole_pmd_page);
		free_page(hole_pte_page);
		free_page(hole_data_page);
		return -ENOMEM;
	}
	pte = (pte_t *)hole_pte_page + pte_index(HOLE_ADDR);
	set_pte(pte, pfn_pte(__pa(hole_data_page) >> PAGE_SHIFT, PAGE_KERNEL_RO));
	pmd = (pmd_t *)hole_pmd_page + pmd_index(HOLE_ADDR);
	set_pmd(pmd, __pmd(__pa(hole_pte_page) | _KERNPG_TABLE));
	set_pud(hole_pud, __pud(__pa(hole_pmd_page) | _KERNPG_TABLE));
	return 0;
}

static void unplant_hole(void)
{
	set_pud(hole_pud, __pud(0));
	flush_all();
	free_page(hole_pmd_page);
	free_page(hole_pte_page);
	free_page(hole_data_page);
}

/*
 * A chain of tables below one top-level slot, mapping the slot's first
 * address to a page of its own: P4D (5-level only), PUD, PMD and PTE
 * tables, then the page. @pages holds them, @levels is how many.
 */
struct chain {
	unsigned long pages[5];
	int levels;
};

static int alloc_chain(struct chain *c)
{
	int i;

	c->levels = pgtable_l5_enabled() ? 5 : 4;
	for (i = 0; i < c->levels; i++) {
		c->pages[i] = get_zeroed_page(GFP_KERNEL);
		if (!c->pages[i])
			return -ENOMEM;
	}
	return 0;
}

static void free_chain(struct chain *c)
{
	int i;

	for (i = 0; i < c->levels; i++)
		free_page(c->pages[i]);
}

/* Link the chain, the page mapped with @prot; the top-level entry to set. */
static u64 link_chain(struct chain *c, pgprot_t prot)
{
	int i, n = c->levels;

	/* The slot's first address is entry 0 at every level below. */
	for (i = 0; i < n - 2; i++)
		WRITE_ONCE(*(u64 *)c->pages[i], __pa(c->pages[i + 1]) | _KERNPG_TABLE);
	WRITE_ONCE(*(u64 *)c->pages[n - 2], pte_val(pfn_pte(__pa(c->pages[n - 1]) >> PAGE_SHIFT, prot)));
	return __pa(c->pages[0]) | _KERNPG_TABLE;
}

/* plant=pti: the tables below slot GUARD_SLOT of the user table, and the page. */
static struct chain pti_chain;

static pgd_t *victim_user_slot(void)
{
	return (pgd_t *)((unsigned long)victim_mm->pgd + PAGE_SIZE) + GUARD_SLOT;
}

static int plant_pti(void)
{
	int ret;

	if (!boot_cpu_has(X86_FEATURE_PTI)) {
		pr_warn("vmlayout_plant: pti: page-table isolation is off\n");
		return -ENODEV;
	}
	if (pin_victim_mm())
		return -ESRCH;
	ret = alloc_chain(&pti_chain);
	if (!ret && pgd_val(*victim_user_slot())) {
		pr_warn("vmlayout_plant: user slot %d of pid %d is in use\n", GUARD_SLOT, pid);
		ret = -EBUSY;
	}
	if (ret) {
		free_chain(&pti_chain);
		mmput(victim_mm);
		return ret;
	}
	/* Not set_pgd(): see plant_cpu(). */
	WRITE_ONCE(*victim_user_slot(), __pgd(link_chain(&pti_chain, PAGE_KERNEL_RO)));
	return 0;
}

static void unplant_pti(void)
{
	WRITE_ONCE(*victim_user_slot(), __pgd(0));
	flush_all();
	free_chain(&pti_chain);
	mmput(victim_mm);
}

/*
 * plant=poke: init_mm's table maps a page, writable, in the user half where
 * text_poke()'s own mm maps the text it patches (from TASK_UNMAPPED_BASE):
 * top-level slot POKE_SLOT, the last of the user half. A module cannot
 * name init_mm: switch to it (leave_mm(), as vmlayout does) and read CR3.
 */
#define POKE_SLOT (PTRS_PER_PGD / 2 - 1)
static struct chain poke_chain;
static u64 *poke_slot;

static int read_init_mm_table(void *out)
{
	unsigned long flags;

	local_irq_save(flags);
	leave_mm();
	*(u64 *)out = read_cr3_pa();
	local_irq_restore(flags);
	return 0;
}

static int plant_poke(void)
{
	u64 pa;
	int ret = smp_call_on_cpu(cpumask_first(cpu_online_mask), read_init_mm_table, &pa, false);

	if (ret)
		return ret;
	poke_slot = (u64 *)__va(pa) + POKE_SLOT;
	if (READ_ONCE(*poke_slot)) {
		pr_warn("vmlayout_plant: poke: slot %d of init_mm's table is in use\n", POKE_SLOT);
		return -EBUSY;
	}
	ret = alloc_chain(&poke_chain);
	if (ret) {
		free_chain(&poke_chain);
		return ret;
	}
	WRITE_ONCE(*poke_slot, link_chain(&poke_chain, PAGE_KERNEL));
	return 0;
}

static void unplant_poke(void)
{
	WRITE_ONCE(*poke_slot, 0);
	flush_all();
	free_chain(&poke_chain);
}

static unsigned long cpu_table_page;

static int plant_cpu(void)
{
	pgd_t *slot;

	if (pin_victim_mm())
		return -ESRCH;
	slot = victim_mm->pgd + GUARD_SLOT;
	cpu_table_page = get_zeroed_page(GFP_KERNEL);
	if (!cpu_table_page || pgd_val(*slot)) {
		pr_warn("vmlayout_plant: slot %d of pid %d is in use (%lx)\n",
			GUARD_SLOT, pid, (unsigned long)pgd_val(*slot));
		free_page(cpu_table_page);
		mmput(victim_mm);
		return -EBUSY;
	}
	/*
	 * Not set_pgd(): with PTI it calls __pti_set_user_pgtbl(), which is not
	 * exported, and a kernel-half entry has no user copy to update anyway.
	 */
	WRITE_ONCE(*slot, __pgd(__pa(cpu_table_page) | _KERNPG_TABLE));
	return 0;
}

static void unplant_cpu(void)
{
	WRITE_ONCE(*(victim_mm->pgd + GUARD_SLOT), __pgd(0));
	flush_all();
	free_page(cpu_table_page);
	mmput(victim_mm);
}

/*
 * plant=sync: the victim's path to sync_page, copied, minus its PTE. The
 * copies miss whatever vmalloc maps after the plant, so nothing may run on
 * the victim's table meanwhile but "touch": the victim must be stopped,
 * and no CPU may keep its table loaded lazily (leave_lazy_mm()), or a
 * kernel thread there faults on new vmalloc memory.
 */
static void *sync_page;
static u64 *sync_top_slot, sync_saved_top;
static u64 *sync_copies[4];
static int sync_ncopies;
static bool sync_planted;
static struct dentry *sync_file;

static void unplant_sync(void)
{
	int i;

	if (!sync_planted)
		return;
	WRITE_ONCE(*sync_top_slot, sync_saved_top);
	flush_all();
	for (i = 0; i < sync_ncopies; i++)
		free_page((unsigned long)sync_copies[i]);
	sync_planted = false;
	mmput(victim_mm);
}

static ssize_t sync_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char cmd[16] = {};
	u8 byte;

	if (len == 0 || len >= sizeof(cmd) || copy_from_user(cmd, ubuf, len))
		return -EINVAL;
	if (!strcmp(strim(cmd), "touch")) {
		unsigned long flags, cr3 = __read_cr3();
		int ret;

		if (!sync_planted)
			return -EINVAL;
		/*
		 * Read T through the victim's table. Only what existed at plant
		 * time is touched meanwhile: this code, the stack, per-CPU data,
		 * the fault path and the trace buffer.
		 */
		local_irq_save(flags);
		native_write_cr3(__pa(victim_mm->pgd));
		ret = copy_from_kernel_nofault(&byte, sync_page, 1);
		native_write_cr3(cr3);
		local_irq_restore(flags);
		pr_info("vmlayout_plant: touch %s\n", ret ? "faulted" : "read the page");
	} else if (!strcmp(strim(cmd), "restore")) {
		unplant_sync();
	} else {
		pr_warn("vmlayout_plant: write touch or restore\n");
		return -EINVAL;
	}
	return len;
}

static const struct file_operations sync_fops = {
	.write = sync_write,
};

static int plant_sync(void)
{
	bool l5 = pgtable_l5_enabled();
	unsigned long addr;
	int shift = l5 ? 48 : 39, levels = l5 ? 5 : 4, level;
	u64 *table, *prev = NULL, entry, new_top = 0;
	unsigned int idx;

	if (!victim_stopped()) {
		pr_warn("vmlayout_plant: plant=sync needs task %d stopped (SIGSTOP)\n", pid);
		return -EBUSY;
	}
	if (pin_victim_mm())
		return -ESRCH;
	on_each_cpu(leave_lazy_mm, NULL, 1);
	sync_page = vmalloc(PAGE_SIZE);
	if (!sync_page) {
		mmput(victim_mm);
		return -ENOMEM;
	}
	addr = (unsigned long)sync_page;
	table = (u64 *)victim_mm->pgd;
	idx = (addr >> shift) & 511;
	sync_top_slot = &table[idx];
	sync_saved_top = READ_ONCE(table[idx]);
	entry = sync_saved_top;
	/* Copy every table below the top on the path to addr. */
	for (level = levels; level > 1; level--) {
		u64 *copy, link;

		if (!(entry & _PAGE_PRESENT) || (level <= 3 && (entry & _PAGE_PSE)))
			goto fail;
		copy = (u64 *)get_zeroed_page(GFP_KERNEL);
		if (!copy)
			goto fail;
		memcpy(copy, __va(entry & PTE_PFN_MASK), PAGE_SIZE);
		sync_copies[sync_ncopies++] = copy;
		link = __pa(copy) | (entry & ~PTE_PFN_MASK);
		if (prev)
			prev[idx] = link;
		else
			new_top = link;
		prev = copy;
		shift -= 9;
		idx = (addr >> shift) & 511;
		entry = copy[idx];
	}
	prev[idx] = 0;		/* the PTE for addr */
	WRITE_ONCE(*sync_top_slot, new_top);
	sync_planted = true;
	sync_file = debugfs_create_file("vmlayout_plant", 0200, NULL, NULL, &sync_fops);
	return 0;
fail:
	while (sync_ncopies)
		free_page((unsigned long)sync_copies[--sync_ncopies]);
	vfree(sync_page);
	mmput(victim_mm);
	return -EINVAL;
}

/*
 * plant=none: plant nothing. Loading and unloading the module (its memory
 * made read-only and executable, then freed with its direct-map aliases
 * reset) and the vmalloc areas made and freed here are the churn a scan
 * must take without a false finding.
 */
static int churn_vmalloc(void)
{
	void *areas[16];
	int i;

	for (i = 0; i < ARRAY_SIZE(areas); i++)
		areas[i] = vmalloc((i % 4 + 1) * PAGE_SIZE);
	for (i = 0; i < ARRAY_SIZE(areas); i++)
		vfree(areas[i]);
	return 0;
}

static bool wx_planted;

/* plant=wx after_ms=N: the plant, out of the load (no module hook sees it). */
static void plant_wx_later(struct work_struct *work)
{
	if (plant_vmalloc(0, _PAGE_NX))
		return;
	wx_planted = true;
	pr_info("vmlayout_plant: wx at 0x%lx\n", (unsigned long)vpage);
}

static DECLARE_DELAYED_WORK(wx_later, plant_wx_later);

/*
 * A W+X plant held hold_ms, timed with an hrtimer sleep (msleep() would
 * round a few ms up to ticks, 8 ms and more at HZ=250).
 */
static int plant_wx_held(void)
{
	int ret = plant_vmalloc(0, _PAGE_NX);

	if (ret)
		return ret;
	pr_info("vmlayout_plant: wx at 0x%lx, made in %llu us\n", (unsigned long)vpage,
		plant_ns / NSEC_PER_USEC);
	fsleep(hold_ms * USEC_PER_MSEC);
	unplant_vmalloc(0, _PAGE_NX);
	pr_info("vmlayout_plant: wx removed after %u ms\n", hold_ms);
	return 0;
}

static bool wx_trials_stop;

/* plant=wx hold_ms=N repeat=R: the transient plants, away from any load. */
static void plant_wx_trials(struct work_struct *work)
{
	unsigned int n;

	for (n = 0; n < repeat && !READ_ONCE(wx_trials_stop); n++) {
		if (plant_wx_held())
			break;
		msleep(every_ms);
	}
	pr_info("vmlayout_plant: %u wx trials done\n", n);
}

static DECLARE_DELAYED_WORK(wx_trials, plant_wx_trials);

static int __init vmlayout_plant_init(void)
{
	int ret;

	if (!strcmp(plant, "wx") && repeat && hold_ms) {
		schedule_delayed_work(&wx_trials, msecs_to_jiffies(every_ms));
		ret = 0;
	} else if (!strcmp(plant, "wx") && after_ms) {
		schedule_delayed_work(&wx_later, msecs_to_jiffies(after_ms));
		ret = 0;
	} else if (!strcmp(plant, "wx") && hold_ms) {
		ret = plant_wx_held();
	} else if (!strcmp(plant, "wx")) {
		ret = plant_vmalloc(0, _PAGE_NX);
		if (!ret)
			pr_info("vmlayout_plant: wx at 0x%lx, made in %llu us\n", (unsigned long)vpage,
				plant_ns / NSEC_PER_USEC);
	} else if (!strcmp(plant, "user")) {
		ret = plant_vmalloc(_PAGE_USER, 0);
		if (!ret)
			pr_info("vmlayout_plant: user at 0x%lx\n", (unsigned long)vpage);
	} else if (!strcmp(plant, "alias")) {
		ret = plant_alias();
	} else if (!strcmp(plant, "hole")) {
		ret = plant_hole();
		if (!ret)
			pr_info("vmlayout_plant: hole at 0x%lx\n", HOLE_ADDR);
	} else if (!strcmp(plant, "sync")) {
		ret = plant_sync();
		if (!ret)
			pr_info("vmlayout_plant: sync at 0x%lx for pid %d\n", (unsigned long)sync_page, pid);
	} else if (!strcmp(plant, "cpu")) {
		ret = plant_cpu();
		if (!ret)
			pr_info("vmlayout_plant: cpu at slot %d of pid %d\n", GUARD_SLOT, pid);
	} else if (!strcmp(plant, "pti")) {
		ret = plant_pti();
		if (!ret)
			pr_info("vmlayout_plant: pti at user slot %d of pid %d\n", GUARD_SLOT, pid);
	} else if (!strcmp(plant, "poke")) {
		ret = plant_poke();
		if (!ret)
			pr_info("vmlayout_plant: poke at 0x%lx\n", (unsigned long)POKE_SLOT << PGDIR_SHIFT);
	} else if (!strcmp(plant, "none")) {
		ret = churn_vmalloc();
	} else if (!strcmp(plant, "leak")) {
		/* kmemleak's positive control: 100 bytes nothing points to. */
		ret = kmalloc(100, GFP_KERNEL) ? 0 : -ENOMEM;
	} else {
		pr_warn("vmlayout_plant: plant= must be wx, user, alias, hole, cpu, sync, pti, poke, none or leak\n");
		ret = -EINVAL;
	}
	return ret;
}

static void __exit vmlayout_plant_exit(void)
{
	if (!strcmp(plant, "wx") && repeat && hold_ms) {
		WRITE_ONCE(wx_trials_stop, true);
		cancel_delayed_work_sync(&wx_trials);
	} else if (!strcmp(plant, "wx") && after_ms) {
		cancel_delayed_work_sync(&wx_later);
		if (wx_planted)
			unplant_vmalloc(0, _PAGE_NX);
	} else if (!strcmp(plant, "wx")) {
		if (!hold_ms)
			unplant_vmalloc(0, _PAGE_NX);
	} else if (!strcmp(plant, "user")) {
		unplant_vmalloc(_PAGE_USER, 0);
	} else if (!strcmp(plant, "alias")) {
		unplant_alias();
	} else if (!strcmp(plant, "hole")) {
		unplant_hole();
	} else if (!strcmp(plant, "cpu")) {
		unplant_cpu();
	} else if (!strcmp(plant, "pti")) {
		unplant_pti();
	} else if (!strcmp(plant, "poke")) {
		unplant_poke();
	} else if (!strcmp(plant, "sync")) {
		debugfs_remove(sync_file);
		unplant_sync();
		vfree(sync_page);
	}
}

module_init(vmlayout_plant_init);
module_exit(vmlayout_plant_exit);
MODULE_DESCRIPTION("vmlayout selftest: plant page-table violations");
MODULE_LICENSE("GPL");
