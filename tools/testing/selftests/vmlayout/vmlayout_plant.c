// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout_plant: test-only companion of the vmlayout kselftest. It plants
 * one page-table violation on load and removes it on unload, so the test can
 * check that vmlayout's findings show it, with the right rule and region,
 * and forget it after a rescan.
 *
 *   insmod vmlayout_plant.ko plant=wx       W+X: a vmalloc'd page with NX cleared by hand
 *   insmod vmlayout_plant.ko plant=user     a vmalloc'd page whose PTE has _PAGE_USER
 *   insmod vmlayout_plant.ko plant=hole     a 4 KiB leaf in the documented unused hole
 *                                          ffffffff00000000-ffffffff7fffffff
 *   insmod vmlayout_plant.ko plant=cpu pid=N  task N's top-level table gets an entry
 *                                          the reference lacks (slot 256, the
 *                                          hypervisor guard hole)
 *
 * The planted address is printed as "vmlayout_plant: <kind> at 0x...".
 * Never load this on a machine you care about.
 */
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <linux/mm.h>
#include <linux/pid.h>
#include <linux/sched/mm.h>
#include <linux/smp.h>
#include <asm/pgtable.h>
#include <asm/tlbflush.h>

static char *plant = "";
module_param(plant, charp, 0444);
MODULE_PARM_DESC(plant, "wx, user, hole or cpu");
static int pid;
module_param(pid, int, 0444);
MODULE_PARM_DESC(pid, "for plant=cpu: the task whose table to change");

#define HOLE_ADDR 0xffffffff00000000UL
#define GUARD_SLOT 256

static void *vpage;
static pte_t *vpte;
static pud_t *hole_pud;
static unsigned long hole_pmd_page, hole_pte_page, hole_data_page;
static struct mm_struct *victim_mm;

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

static int plant_vmalloc(pteval_t set, pteval_t clear)
{
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
	return 0;
}

static void unplant_vmalloc(pteval_t set, pteval_t clear)
{
	set_pte(vpte, __pte((pte_val(*vpte) & ~set) | clear));
	flush_all();
	vfree(vpage);
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

static unsigned long cpu_table_page;

static int plant_cpu(void)
{
	struct task_struct *task;
	pgd_t *slot;

	rcu_read_lock();
	task = pid_task(find_vpid(pid), PIDTYPE_PID);
	victim_mm = task ? get_task_mm(task) : NULL;
	rcu_read_unlock();
	if (!victim_mm)
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
	set_pgd(slot, __pgd(__pa(cpu_table_page) | _KERNPG_TABLE));
	return 0;
}

static void unplant_cpu(void)
{
	set_pgd(victim_mm->pgd + GUARD_SLOT, __pgd(0));
	flush_all();
	free_page(cpu_table_page);
	mmput(victim_mm);
}

static int __init vmlayout_plant_init(void)
{
	int ret;

	if (!strcmp(plant, "wx")) {
		ret = plant_vmalloc(0, _PAGE_NX);
		if (!ret)
			pr_info("vmlayout_plant: wx at 0x%lx\n", (unsigned long)vpage);
	} else if (!strcmp(plant, "user")) {
		ret = plant_vmalloc(_PAGE_USER, 0);
		if (!ret)
			pr_info("vmlayout_plant: user at 0x%lx\n", (unsigned long)vpage);
	} else if (!strcmp(plant, "hole")) {
		ret = plant_hole();
		if (!ret)
			pr_info("vmlayout_plant: hole at 0x%lx\n", HOLE_ADDR);
	} else if (!strcmp(plant, "cpu")) {
		ret = plant_cpu();
		if (!ret)
			pr_info("vmlayout_plant: cpu at slot %d of pid %d\n", GUARD_SLOT, pid);
	} else {
		pr_warn("vmlayout_plant: plant= must be wx, user, hole or cpu\n");
		ret = -EINVAL;
	}
	return ret;
}

static void __exit vmlayout_plant_exit(void)
{
	if (!strcmp(plant, "wx"))
		unplant_vmalloc(0, _PAGE_NX);
	else if (!strcmp(plant, "user"))
		unplant_vmalloc(_PAGE_USER, 0);
	else if (!strcmp(plant, "hole"))
		unplant_hole();
	else if (!strcmp(plant, "cpu"))
		unplant_cpu();
}

module_init(vmlayout_plant_init);
module_exit(vmlayout_plant_exit);
MODULE_DESCRIPTION("vmlayout selftest: plant page-table violations");
MODULE_LICENSE("GPL");
