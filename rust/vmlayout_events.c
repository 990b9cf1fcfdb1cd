// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiate the vmlayout tracepoints and the rust_do_trace_*() wrappers
 * rust/fault.rs calls (as samples/rust/rust_print_events.c does), and
 * attach rust/fault.rs's probe to exceptions:page_fault_kernel.
 */
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <asm/ptrace.h>

#include "vmlayout_helpers.h"

#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include <trace/events/vmlayout.h>

/* rust/watch.rs's FindingEvent has this layout. */
static_assert(sizeof(struct vmlayout_finding) == 168);

/*
 * Emit vmlayout:finding (@cleared false) or vmlayout:finding_cleared: the
 * events take a struct that Rust fills, and only C names them.
 */
void vmlayout_trace_finding(const struct vmlayout_finding *f, bool cleared)
{
	if (cleared)
		trace_finding_cleared(f);
	else
		trace_finding(f);
}

/* exceptions:page_fault_kernel: not exported, so found by its name. */
static struct tracepoint *vmlayout_page_fault_kernel;
/* Whether the probe is on it (module init and exit: never at once). */
static bool vmlayout_fault_probe_on;

static void vmlayout_find_page_fault_kernel(struct tracepoint *tp, void *unused)
{
	if (!strcmp(tp->name, "page_fault_kernel"))
		vmlayout_page_fault_kernel = tp;
}

/* The probe, with the tracepoint's prototype; rust/fault.rs does the rest. */
static void vmlayout_page_fault_probe(void *watch, unsigned long address,
				      struct pt_regs *regs,
				      unsigned long error_code)
{
	vmlayout_on_page_fault(watch, address, instruction_pointer(regs),
			       error_code);
}

/*
 * Call vmlayout_on_page_fault(@watch, ...) on each kernel-mode page fault
 * until vmlayout_fault_probe_unregister(@watch). -ENODEV without the
 * tracepoint (CONFIG_TRACING off).
 */
int vmlayout_fault_probe_register(const void *watch)
{
	int ret;

	if (!vmlayout_page_fault_kernel)
		for_each_kernel_tracepoint(vmlayout_find_page_fault_kernel, NULL);
	if (!vmlayout_page_fault_kernel)
		return -ENODEV;
	ret = tracepoint_probe_register(vmlayout_page_fault_kernel,
					vmlayout_page_fault_probe, (void *)watch);
	vmlayout_fault_probe_on = !ret;
	return ret;
}

/*
 * Detach the probe registered with @watch, if it is (unregistering a probe
 * that is not WARNs), and wait until no CPU runs it: @watch may be freed on
 * return.
 */
void vmlayout_fault_probe_unregister(const void *watch)
{
	if (!vmlayout_fault_probe_on)
		return;
	tracepoint_probe_unregister(vmlayout_page_fault_kernel,
				    vmlayout_page_fault_probe, (void *)watch);
	tracepoint_synchronize_unregister();
	vmlayout_fault_probe_on = false;
}
