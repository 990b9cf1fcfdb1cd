#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# How a lab checks its own kernel: build vmlayout and the kselftest's
# companion against KDIR (a kernel build directory), boot KDIR's bzImage
# through the same QEMU runner as the test kernels (under OVMF when the
# kernel has the EFI stub), and run the kselftest there: both paging modes,
# and with PTI on and off when the kernel has it. Each guest runs on one
# TCG thread (vm.sh -S: the kernel's text patching needs it under pti=on).
#
#   check-kernel.sh KDIR
#
# KDIR's kernel needs RUST, DEBUG_FS, MODULES, KALLSYMS and TRACING, and
# to boot in the runner a serial console (SERIAL_8250_CONSOLE),
# BLK_DEV_INITRD and DEVTMPFS. What a distribution's kernel lacks is no
# failure: before it boots, this names each missing option and the cases
# the kselftest skips for it (PTDUMP_DEBUGFS: the comparisons with ptdump;
# DEBUG_WX: the kernel's W+X check). A kernel that enforces module
# signatures gets modules signed with its build's key (sign-modules.sh);
# one with the lockdown LSM is booted once more with lockdown=integrity.
# If vmlayout is built into it (CONFIG_X86_VMLAYOUT=y), the kselftest
# checks the built-in one; otherwise it loads the module built here, with
# the compiler that built KDIR (kdir-cc.sh).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kdir=$(cd "${1:?usage: check-kernel.sh KDIR}" && pwd)
image=$kdir/arch/x86/boot/bzImage
config=$kdir/.config
[ -f "$image" ] && [ -f "$config" ] || { echo "check-kernel: $kdir has no arch/x86/boot/bzImage and .config: not a built x86 kernel" >&2; exit 2; }
has() { grep -q "^CONFIG_$1=y" "$config"; }
missing=""
for opt in RUST DEBUG_FS MODULES KALLSYMS TRACING SERIAL_8250_CONSOLE BLK_DEV_INITRD DEVTMPFS; do
	has "$opt" || missing="$missing CONFIG_$opt"
done
[ -z "$missing" ] || { echo "check-kernel: $kdir lacks$missing (see tools/testing/selftests/vmlayout/config)" >&2; exit 2; }
# What the kselftest can do without, and what it then skips.
has PTDUMP_DEBUGFS || echo "check-kernel: no CONFIG_PTDUMP_DEBUGFS: the kselftest skips its comparisons" \
	"with ptdump (the bases and region starts against ptdump's markers, map against ptdump range for" \
	"range, ESPFIX and the PTI user table against ptdump)"
has DEBUG_WX || echo "check-kernel: no CONFIG_DEBUG_WX: the kselftest skips the kernel's own W+X check"
has MITIGATION_PAGE_TABLE_ISOLATION && ! has MODIFY_LDT_SYSCALL &&
	echo "check-kernel: no CONFIG_MODIFY_LDT_SYSCALL: in the pti=on boots the kselftest skips the LDT remap case (no process can have an LDT)"
has KALLSYMS_ALL || echo "check-kernel: no CONFIG_KALLSYMS_ALL: nothing skipped (the kselftest reads text symbols only)"
has BPF_SYSCALL || echo "check-kernel: no CONFIG_BPF_SYSCALL: the kselftest skips the watch churn's BPF part"
has KPROBE_EVENTS || echo "check-kernel: no CONFIG_KPROBE_EVENTS: the kselftest skips the watch churn's kprobe part"
has DYNAMIC_FTRACE && has FUNCTION_TRACER ||
	echo "check-kernel: no dynamic function tracer: the kselftest skips the watch churn's ftrace part"
has MEMORY_HOTREMOVE || echo "check-kernel: no CONFIG_MEMORY_HOTREMOVE: the kselftest skips the watch churn's" \
	"memory part (it also needs a movable block: boot with movablecore=)"
has MODULE_SIG_FORCE && echo "check-kernel: CONFIG_MODULE_SIG_FORCE: the modules are signed with $kdir's key"
lockdown=""
has SECURITY_LOCKDOWN_LSM && lockdown="lockdown=integrity" &&
	echo "check-kernel: the lockdown LSM: one more boot with lockdown=integrity, where debugfs refuses" \
		"writes: the kselftest skips the cases that rescan or plant"

mods=$("$here/build-variant-modules.sh" "$kdir" | tail -n1)
vm_args=()
grep -q '^CONFIG_EFI_STUB=y' "$config" && vm_args+=(-E)
ptis=("")
grep -q '^CONFIG_MITIGATION_PAGE_TABLE_ISOLATION=y' "$config" && ptis=("pti=on" "pti=off")
module=/root/vmlayout.ko
grep -q '^CONFIG_X86_VMLAYOUT=y' "$config" && module=""
how="vmlayout built in"
[ -z "$module" ] || how="vmlayout as a module built here"
echo "check-kernel: $(make -s -C "$(readlink -f "$kdir/source")" O="$kdir" kernelrelease 2>/dev/null || echo "$kdir")," \
	"${vm_args[*]:+UEFI (OVMF), }$how"
# Each boot: paging mode and kernel command line.
boots=()
for paging in 5 4; do
	for pti in "${ptis[@]}"; do boots+=("$paging|$pti"); done
done
[ -z "$lockdown" ] || boots+=("5|$lockdown")
fail=0
for boot in "${boots[@]}"; do
	paging=${boot%%|*} append=${boot#*|}
	name="${paging}-level${append:+, $append}"
	out=$(mktemp)
	rc=0
	"$here/vm.sh" -S -k "$image" -p "$paging" -a "$append" "${vm_args[@]}" -f "$mods/vmlayout.ko" \
		-f "$mods/kselftest" -- "cd /root/kselftest/vmlayout && VMLAYOUT_TOOL=./vmlayout sh ./vmlayout.sh $module" > "$out" 2>&1 || rc=$?
	grep -E '^(not ok|ok .*# SKIP|# Totals|# kernel:|Bail out)' "$out" || true
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$out"
		echo "FAIL: check-kernel $name"
		fail=1
	else
		echo "check-kernel $name: pass"
	fi
	rm -f "$out"
done
[ "$fail" -eq 0 ] && echo "check-kernel: PASS" && exit 0
exit 1
