/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vmlayout's C helpers (rust/vmlayout_helpers.c), called from Rust
 * (rust/helpers.rs declares them again there, with the same layouts).
 */
#ifndef _VMLAYOUT_HELPERS_H
#define _VMLAYOUT_HELPERS_H

#include <linux/sched.h>
#include <linux/types.h>

struct mm_struct;
struct vmlayout_cpu_works;

/* A process as the audit names it. */
struct vmlayout_task {
	int pid;
	char comm[TASK_COMM_LEN];
};

/* The data word of load_nofault()'s exception-table entry (rust/helpers.rs). */
#define VMLAYOUT_LOAD_NOFAULT_EXTABLE 0x11211

int vmlayout_locked_down(void);
/* Room for the release in vmlayout_release()'s buffer (rust/tables.rs). */
#define VMLAYOUT_RELEASE_LEN 65
int vmlayout_release(char *buf);
bool vmlayout_system_running(void);
u64 vmlayout_sme_mask(void);
int vmlayout_reference_cr3(u64 *out);
u64 vmlayout_init_mm_table(void);
int vmlayout_section_of(u64 addr);
void vmlayout_modules_known_start(void);
void vmlayout_modules_known_stop(void);
u64 vmlayout_efi_table(int *memattr);
int vmlayout_pti_enabled(void);
int vmlayout_is_cpu_tss_page(u64 va);
int vmlayout_efi_memory_type(u64 phys);
u64 vmlayout_active_table(void);
u64 vmlayout_copy_active_table(u64 *out);
u64 vmlayout_lookup(u64 addr, unsigned int *level, u64 *entry);
/* A symbol's room in vmlayout_symbol_at()'s buffer (rust/watch.rs). */
#define VMLAYOUT_SYMBOL_LEN 1024
int vmlayout_symbol_at(u64 addr, char *buf);
void vmlayout_cond_resched(void);

struct vmlayout_cpu_works *vmlayout_cpu_works_alloc(void);
void vmlayout_cpu_works_free(struct vmlayout_cpu_works *works);
void vmlayout_session_begin(struct vmlayout_cpu_works *works);
void vmlayout_session_end(struct vmlayout_cpu_works *works);
int vmlayout_on_each_cpu(struct vmlayout_cpu_works *works,
			 int (*prepare)(void *job, unsigned int cpu),
			 void (*fn)(void *job, unsigned int cpu), void *job,
			 bool pooled);

int vmlayout_next_mm(int *next, struct vmlayout_task *task, struct mm_struct **mm);
u64 vmlayout_mm_copy_table(struct mm_struct *mm, u64 *out);
void vmlayout_mm_put(struct mm_struct *mm);

struct vmlayout_finding;
/* rust/watch.rs's events (vmlayout_events.c). */
void vmlayout_trace_finding(const struct vmlayout_finding *f, bool cleared);

/* rust/fault.rs's probe on exceptions:page_fault_kernel (vmlayout_events.c). */
int vmlayout_fault_probe_register(const void *watch);
void vmlayout_fault_probe_unregister(const void *watch);
void vmlayout_on_page_fault(const void *watch, unsigned long address,
			    unsigned long ip, unsigned long error_code);

/* Watch mode's hooks (vmlayout_watch.c), numbered as rust/watch.rs's Hook. */
enum vmlayout_hook {
	VMLAYOUT_HOOK_MODULE,
	VMLAYOUT_HOOK_VMALLOC,
	VMLAYOUT_HOOK_MEMORY,
	VMLAYOUT_HOOK_CPU,
	VMLAYOUT_HOOK_CPA,
	VMLAYOUT_HOOKS
};

/* In the hooks attached: the CPA hook gives windows (vmlayout_watch.c). */
#define VMLAYOUT_CPA_WINDOWS BIT(VMLAYOUT_HOOKS)

void vmlayout_watch_start(const void *state, u64 reference, unsigned int interval_ms);
void vmlayout_watch_stop(void);
bool vmlayout_watch_status(unsigned int *hooked, u64 *fired, u64 *longest_ns);
/*
 * What changed since the last re-check (rust/vmlayout_core/changed.rs,
 * field for field): a few windows, in address order and apart, or
 * everything. Hooks add to it with vmlayout_changed_add().
 */
#define VMLAYOUT_WINDOWS 8
struct vmlayout_changed {
	u64 windows[VMLAYOUT_WINDOWS][2];
	u32 len;
	bool everything;
};

/* @first..@last changed (@first > @last: something no window covers). */
void vmlayout_changed_add(struct vmlayout_changed *changed, u64 first, u64 last);
/*
 * rust/watch.rs: one re-check (@backstop: the periodic one), of the
 * windows of @changed when it has only those, else of everything. Returns
 * the ns it worked, its waits for vmlayout's locks not counted.
 */
u64 vmlayout_watch_run(const void *state, bool backstop, const struct vmlayout_changed *changed);

/* Watch mode's pacing (rust/watch.rs, rust/vmlayout_core/pace.rs), in ns. */
u64 vmlayout_pace_delay(u64 next_ns, u64 now);
u64 vmlayout_pace_wait(u64 next_ns, u64 now);
u64 vmlayout_pace_backstop(u64 next_ns, u64 now, u64 interval_ns);
u64 vmlayout_pace_next(u64 next_ns, u64 start, u64 end);

#endif
