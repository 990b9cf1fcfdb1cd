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
# KDIR's kernel needs what the kselftest needs (tools/testing/selftests/
# vmlayout/config): RUST, DEBUG_FS, PTDUMP_DEBUGFS, MODULES, TRACING, and to
# boot in the runner a serial console (SERIAL_8250_CONSOLE), BLK_DEV_INITRD
# and DEVTMPFS. If vmlayout is built into it (CONFIG_X86_VMLAYOUT=y), the
# kselftest checks the built-in one; otherwise it loads the module built here.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kdir=$(cd "${1:?usage: check-kernel.sh KDIR}" && pwd)
image=$kdir/arch/x86/boot/bzImage
config=$kdir/.config
[ -f "$image" ] && [ -f "$config" ] || { echo "check-kernel: $kdir has no arch/x86/boot/bzImage and .config: not a built x86 kernel" >&2; exit 2; }
missing=""
for opt in RUST DEBUG_FS PTDUMP_DEBUGFS MODULES TRACING SERIAL_8250_CONSOLE BLK_DEV_INITRD DEVTMPFS; do
	grep -q "^CONFIG_$opt=y" "$config" || missing="$missing CONFIG_$opt"
done
[ -z "$missing" ] || { echo "check-kernel: $kdir lacks$missing (see tools/testing/selftests/vmlayout/config)" >&2; exit 2; }

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
fail=0
for paging in 5 4; do
	for pti in "${ptis[@]}"; do
		name="${paging}-level${pti:+, $pti}"
		out=$(mktemp)
		rc=0
		"$here/vm.sh" -S -k "$image" -p "$paging" -a "$pti" "${vm_args[@]}" -f "$mods/vmlayout.ko" \
			-f "$mods/kselftest" -- "cd /root/kselftest/vmlayout && VMLAYOUT_TOOL=./vmlayout sh ./vmlayout.sh $module" > "$out" 2>&1 || rc=$?
		grep -E '^(not ok|# Totals)' "$out" || true
		if [ "$rc" -ne 0 ]; then
			tail -n 40 "$out"
			echo "FAIL: check-kernel $name"
			fail=1
		else
			echo "check-kernel $name: pass"
		fi
		rm -f "$out"
	done
done
[ "$fail" -eq 0 ] && echo "check-kernel: PASS" && exit 0
exit 1
