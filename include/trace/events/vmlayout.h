/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmlayout tracepoints.
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
 * read, if they do not differ). The CPU is the event's own.
 *
 * vmlayout:finding - a warn or error finding that the scan before did not
 * have: its rule, severity, table (kernel, cpu, mm, efi, user), whose table
 * (owner), range (start, last), attributes and when it was first seen
 * (ns, monotonic). vmlayout:finding_cleared - one that a scan no longer
 * finds, with when it was first and last seen. Documentation/vmlayout/
 * format.rst names the rules.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vmlayout

#if !defined(_TRACE_VMLAYOUT_H) || defined(TRACE_HEADER_MULTI_READ)
#define _TRACE_VMLAYOUT_H

#include <linux/tracepoint.h>

#ifndef _VMLAYOUT_TRACE_ENUMS
#define _VMLAYOUT_TRACE_ENUMS
/* The watched regions and the classes; the Rust caller passes these values. */
enum vmlayout_fault_region {
	VMLAYOUT_FAULT_VMALLOC,
	VMLAYOUT_FAULT_MODULES,
	VMLAYOUT_FAULT_VMEMMAP,
};

enum vmlayout_fault_class {
	VMLAYOUT_FAULT_UNSYNCED,
	VMLAYOUT_FAULT_SPURIOUS,
	VMLAYOUT_FAULT_UNMAPPED,
};

/* One fault, as the probe (rust/fault.rs's SyncFault, same layout) passes it. */
struct vmlayout_sync_fault {
	unsigned long address;
	unsigned long ip;
	unsigned long error_code;
	u64 ref_entry;
	u64 cur_entry;
	int region;	/* enum vmlayout_fault_region */
	int level;
	int class;	/* enum vmlayout_fault_class */
};

/* One finding, as rust/watch.rs's FindingEvent (same layout) passes it. */
struct vmlayout_finding {
	char rule[24];
	char severity[8];
	char table[8];
	char owner[32];
	char belongs_to[32];
	char attrs[32];
	u64 start;
	u64 last;
	u64 first_ns;
	u64 last_ns;
};
#endif

#define VMLAYOUT_FAULT_REGIONS				\
	EM(VMLAYOUT_FAULT_VMALLOC,	"vmalloc")	\
	EM(VMLAYOUT_FAULT_MODULES,	"modules")	\
	EMe(VMLAYOUT_FAULT_VMEMMAP,	"vmemmap")

#define VMLAYOUT_FAULT_CLASSES				\
	EM(VMLAYOUT_FAULT_UNSYNCED,	"unsynced")	\
	EM(VMLAYOUT_FAULT_SPURIOUS,	"spurious")	\
	EMe(VMLAYOUT_FAULT_UNMAPPED,	"unmapped")

/* Export the enum values to user space, then make them symbol tables. */
#undef EM
#undef EMe
#define EM(a, b)	TRACE_DEFINE_ENUM(a);
#define EMe(a, b)	TRACE_DEFINE_ENUM(a);

VMLAYOUT_FAULT_REGIONS
VMLAYOUT_FAULT_CLASSES

#undef EM
#undef EMe
#define EM(a, b)	{ a, b },
#define EMe(a, b)	{ a, b }

TRACE_EVENT(vmalloc_sync_fault,
	TP_PROTO(const struct vmlayout_sync_fault *f),
	TP_ARGS(f),
	TP_STRUCT__entry(
		__field(unsigned long, address)
		__field(unsigned long, ip)
		__field(unsigned long, error_code)
		__field(int, region)
		__field(int, level)
		__field(u64, ref_entry)
		__field(u64, cur_entry)
		__field(int, class)
	),
	TP_fast_assign(
		__entry->address = f->address;
		__entry->ip = f->ip;
		__entry->error_code = f->error_code;
		__entry->region = f->region;
		__entry->level = f->level;
		__entry->ref_entry = f->ref_entry;
		__entry->cur_entry = f->cur_entry;
		__entry->class = f->class;
	),
	TP_printk("address=0x%016lx ip=%pS error_code=0x%lx region=%s level=%d ref_entry=0x%016llx cur_entry=0x%016llx class=%s",
		  __entry->address, (void *)__entry->ip, __entry->error_code,
		  __print_symbolic(__entry->region, VMLAYOUT_FAULT_REGIONS),
		  __entry->level, __entry->ref_entry, __entry->cur_entry,
		  __print_symbolic(__entry->class, VMLAYOUT_FAULT_CLASSES))
);

DECLARE_EVENT_CLASS(vmlayout_finding_class,
	TP_PROTO(const struct vmlayout_finding *f),
	TP_ARGS(f),
	TP_STRUCT__entry(
		__array(char, rule, 24)
		__array(char, severity, 8)
		__array(char, table, 8)
		__array(char, owner, 32)
		__array(char, belongs_to, 32)
		__array(char, attrs, 32)
		__field(u64, start)
		__field(u64, last)
		__field(u64, first_ns)
		__field(u64, last_ns)
	),
	TP_fast_assign(
		memcpy(__entry->rule, f->rule, sizeof(__entry->rule));
		memcpy(__entry->severity, f->severity, sizeof(__entry->severity));
		memcpy(__entry->table, f->table, sizeof(__entry->table));
		memcpy(__entry->owner, f->owner, sizeof(__entry->owner));
		memcpy(__entry->belongs_to, f->belongs_to, sizeof(__entry->belongs_to));
		memcpy(__entry->attrs, f->attrs, sizeof(__entry->attrs));
		__entry->start = f->start;
		__entry->last = f->last;
		__entry->first_ns = f->first_ns;
		__entry->last_ns = f->last_ns;
	),
	TP_printk("rule=%s severity=%s table=%s owner=\"%s\" belongs_to=\"%s\" start=0x%016llx last=0x%016llx attrs=%s first_ns=%llu last_ns=%llu",
		  __entry->rule, __entry->severity, __entry->table,
		  __entry->owner, __entry->belongs_to, __entry->start, __entry->last,
		  __entry->attrs, __entry->first_ns, __entry->last_ns)
);

DEFINE_EVENT(vmlayout_finding_class, finding,
	TP_PROTO(const struct vmlayout_finding *f),
	TP_ARGS(f)
);

DEFINE_EVENT(vmlayout_finding_class, finding_cleared,
	TP_PROTO(const struct vmlayout_finding *f),
	TP_ARGS(f)
);

#endif /* _TRACE_VMLAYOUT_H */

/* This part must be outside protection */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH trace/events
#include <trace/define_trace.h>
