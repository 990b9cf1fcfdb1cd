// SPDX-License-Identifier: GPL-2.0
/*
 * Instantiate the vmlayout tracepoints and the rust_do_trace_*() wrappers
 * rust/fault.rs calls (as samples/rust/rust_print_events.c does).
 */
#define CREATE_TRACE_POINTS
#define CREATE_RUST_TRACE_POINTS
#include <trace/events/vmlayout.h>
