// SPDX-License-Identifier: GPL-2.0
/*
 * vmlayout_areas: benchmark companion. Keeps `count` vmalloc areas of 1 to
 * 16 pages alive while loaded, so the kernel's page tables carry the
 * thousands of small vmalloc mappings a busy machine has (each area gets its
 * own guard gap, so none coalesce). Freed on unload.
 *
 *   insmod vmlayout_areas.ko count=4000
 */
#include <linux/module.h>
#include <linux/vmalloc.h>
#include <linux/slab.h>
#include <linux/mm.h>

static unsigned int count = 4000;
module_param(count, uint, 0444);
MODULE_PARM_DESC(count, "vmalloc areas to keep alive (1 to 100000)");

static void **areas;

static void free_areas(void)
{
	unsigned int i;

	for (i = 0; i < count; i++)
		vfree(areas[i]);
	kvfree(areas);
}

static int __init areas_init(void)
{
	unsigned int i;

	if (count < 1 || count > 100000) {
		pr_warn("vmlayout_areas: count must be 1 to 100000, not %u\n", count);
		return -EINVAL;
	}
	areas = kvcalloc(count, sizeof(*areas), GFP_KERNEL);
	if (!areas)
		return -ENOMEM;
	for (i = 0; i < count; i++) {
		areas[i] = vmalloc((i % 16 + 1) * PAGE_SIZE);
		if (!areas[i]) {
			free_areas();
			return -ENOMEM;
		}
	}
	pr_info("vmlayout_areas: %u vmalloc areas\n", count);
	return 0;
}

static void __exit areas_exit(void)
{
	free_areas();
}

module_init(areas_init);
module_exit(areas_exit);
MODULE_DESCRIPTION("vmlayout benchmark: keep thousands of vmalloc areas alive");
MODULE_LICENSE("GPL");
