/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmlayout tracepoints (rust/vmlayout.rs, rust/fault.rs).
 *
 * vmlayout:vmalloc_sync_fault - a kernel-mode page fault in vmalloc, module
 * or vmemmap space, with how the faulting CPU's page-table path compares
 * with the reference (init_mm's) path for the address:
 *
 *   class=unsynced  the reference maps the address, the CPU's table does not:
 *                   what a lazy page-table sync would have had to fix (64-bit
 *                   x86 no longer does; this is a bug)
 *   class=spurious  both map it (a stale TLB entry or a permission fault)
 *   class=unmapped  the reference does not map it either (a bad access, for
 *                   example a guard page)
 *
 * level is where the two paths first differ (5 pgd ... 1 pte, 0 if they do
 * not), ref_entry and cur_entry the entries there (the leaf-most entries
 * read, if they do not differ).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vmlayout

#if !defined(_TRACE_VMLAYOUT_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_VMLAYOUT_H

#include <linux/tracepoint.h>

TRACE_EVENT(vmalloc_sync_fault,
	TP_PROTO(unsigned long address, unsigned long ip, unsigned long error_code,
		 int cpu, const char *region, int level, u64 ref_entry,
		 u64 cur_entry, const char *class),
	TP_ARGS(address, ip, error_code, cpu, region, level, ref_entry,
		cur_entry, class),
	TP_STRUCT__entry(
		__field(unsigned long, address)
		__field(unsigned long, ip)
		__field(unsigned long, error_code)
		__field(int, cpu)
		__string(region, region)
		__field(int, level)
		__field(u64, ref_entry)
		__field(u64, cur_entry)
		__string(class, class)
	),
	TP_fast_assign(
		__entry->address = address;
		__entry->ip = ip;
		__entry->error_code = error_code;
		__entry->cpu = cpu;
		__assign_str(region);
		__entry->level = level;
		__entry->ref_entry = ref_entry;
		__entry->cur_entry = cur_entry;
		__assign_str(class);
	),
	TP_printk("address=0x%016lx ip=%pS error_code=0x%lx cpu=%d region=%s level=%d ref_entry=0x%016llx cur_entry=0x%016llx class=%s",
		  __entry->address, (void *)__entry->ip, __entry->error_code,
		  __entry->cpu, __get_str(region), __entry->level,
		  __entry->ref_entry, __entry->cur_entry, __get_str(class))
);

#endif /* _TRACE_VMLAYOUT_H */

/* This part must be outside protection */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH trace/events
#include <trace/define_trace.h>
