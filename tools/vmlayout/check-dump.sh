#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `vmlayout check --vmcore` on real crash dumps, on the host: boot the test
# kernel, plant a W+X page with the kselftest's companion module, have QEMU
# write the guest's memory (`dump-guest-memory`: an ELF dump with each
# vCPU's registers), and check the dump here. The plant must be found with
# its rule and region at the address the companion printed, and nothing
# else may be a warn or error finding. One boot per paging mode: 5-level
# with `-device vmcoreinfo` (the dump carries VMCOREINFO), 4-level without
# (the bases come from CR3, CR4 and the tables: Documentation/vmlayout/offline.rst);
# then three dumped as makedumpfile's kdump-compressed format, one per page
# compression (zlib, lzo, snappy: QEMU writes it flattened; `makedumpfile
# -R` reassembles it into the file kdump-tools would have saved).
# check-defconfig dumps its kernel booted through UEFI with pti=on: the
# user-mode (PTI) table is then checked offline, PTI told from the CPUs' TSS
# (TR in QEMU's notes) mapped in it.
#
#   check-dump.sh KDIR        DUMP_DIR (keep the dumps there), DUMP_CASES,
#                             EFI=1 and TCG_SINGLE=1 (as run-selftests.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=${1:?usage: check-dump.sh KDIR}
bin=${VMLAYOUT_BIN:-${CARGO_TARGET_DIR:-$top/tools/vmlayout/target}/x86_64-unknown-linux-gnu/release/vmlayout}
stage=$("$here/stage-guest.sh" "$kdir" | tail -n1)
plant=/root/kselftest/vmlayout/test_modules/vmlayout_plant.ko
work=$(mktemp -d "${TMPDIR:-/tmp}/vmlayout-dump.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Boot options every case shares.
vm_opts=()
[ "${EFI:-0}" = 0 ] || vm_opts+=(-E)
[ "${TCG_SINGLE:-0}" = 0 ] || vm_opts+=(-S)

# dump_case PAGING INFO [FORMAT [APPEND]]: boot, plant, dump, check; INFO=1
# adds -device vmcoreinfo; FORMAT kdump-zlib dumps in that format; APPEND
# is added to the kernel's arguments (pti=on: the PTI table is checked).
dump_case() {
	local paging=$1 info=$2 format=${3:-elf} append=${4:-}
	local tag=$paging-$format
	local sock=$work/mon$tag signal=$work/signal$tag dump=$work/dump$tag.elf
	local pidfile=$work/qemu$tag.pid
	local args="-qmp unix:$sock,server=on,wait=off -serial file:$signal -pidfile $pidfile"
	[ "$info" = 0 ] || args="$args -device vmcoreinfo"
	: > "$signal"
	# The guest plants, says where on its third serial port, and waits to
	# be dumped (the host ends it with `quit` once the dump is written).
	local cmd="insmod $plant plant=wx && dmesg | grep 'vmlayout_plant: wx at' | tail -n1 > /dev/ttyS2"
	cmd="$cmd && sleep 600"
	VM_QEMU_ARGS=$args "$here/vm.sh" -k "$kdir/arch/x86/boot/bzImage" -p "$paging" -m 1G \
		${vm_opts[@]+"${vm_opts[@]}"} -a "$append" -M "$stage/modules" -f "$stage/kselftest" -t 900 -- "$cmd" > "$work/vm$tag.log" 2>&1 &
	local vm=$! waited=0
	while ! grep -q 'wx at' "$signal" && [ $waited -lt 6000 ] && kill -0 $vm 2>/dev/null; do
		sleep 0.1; waited=$((waited + 1))
	done
	local addr
	addr=$(sed -n 's/.*vmlayout_plant: wx at \(0x[0-9a-f]*\).*/\1/p' "$signal")
	if [ -z "$addr" ]; then
		echo "FAIL: dump $paging-level: the guest did not plant"; cat "$work/vm$tag.log"
		kill "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null; wait $vm; return 1
	fi
	local t0=$SECONDS
	"$here/qmp.py" "$sock" "dump-guest-memory {\"paging\": false, \"protocol\": \"file:$dump\", \"format\": \"$format\"}" quit
	# QEMU quits; should it not, the guest is ended rather than waited for.
	waited=0
	while kill -0 $vm 2>/dev/null && [ $waited -lt 300 ]; do sleep 0.1; waited=$((waited + 1)); done
	kill "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || true
	wait $vm || true
	if [ "$format" != elf ]; then
		makedumpfile -R "$dump.kdump" < "$dump" > "$work/makedumpfile.log" 2>&1 ||
			{ echo "FAIL: makedumpfile -R"; head -c 600 "$work/makedumpfile.log"; ls -la "$dump"; return 1; }
		mv "$dump.kdump" "$dump"
		head -c 8 "$dump" | grep -q '^KDUMP' || { echo "FAIL: $format dump is not KDUMP"; return 1; }
	fi
	local dump_s=$((SECONDS - t0)) st=0 t1=$SECONDS
	"$bin" check --vmcore "$dump" -o "$work/dump$tag.snap" 2> "$work/check.err" || st=$?
	local check_s=$((SECONDS - t1))
	local want
	want=$(printf '0x%016x' "$addr")
	local plant_found bad
	plant_found=$(grep -c "^finding table=kernel id=wx severity=error region=vmalloc .* start=$want " \
		"$work/dump$tag.snap" || true)
	bad=$(grep -E '^finding .* severity=(warn|error) ' "$work/dump$tag.snap" |
		grep -v " start=$want " || true)
	echo "dump $paging-level ($format, vmcoreinfo=$info): $(stat -c %s "$dump") bytes, written in ${dump_s}s," \
		"checked in ${check_s}s (exit $st)"
	grep -E '^(origin|base|unchecked) ' "$work/dump$tag.snap" | sed 's/^/  /'
	grep -E '^(scope|pti) ' "$work/dump$tag.snap" | sed 's/^/  /'
	# pti=on: the dump's user-mode table is checked (PTI told from the dump).
	local user_checked=1
	if [[ " $append " == *" pti=on "* ]]; then
		grep -q '^pti enabled=1 ' "$work/dump$tag.snap" &&
			! grep -q '^unchecked what=user-tables ' "$work/dump$tag.snap" &&
			grep -q '^range table=user ' "$work/dump$tag.snap" || user_checked=0
	fi
	if [ "$plant_found" != 1 ] || [ -n "$bad" ] || [ "$st" != 2 ] || [ $user_checked = 0 ]; then
		[ $user_checked = 1 ] || echo "FAIL: dump $paging-level: pti=on, but its user-mode table was not checked"
		echo "FAIL: dump $paging-level: plant at $want found $plant_found times, exit $st (want 2)"
		echo "$bad" | head -n 10
		cat "$work/check.err"
		return 1
	fi
	echo "ok: dump $paging-level ($format): the W+X plant at $want found (wx, vmalloc), nothing else"
}

# DUMP_CASES: which cases run, each PAGING:VMCOREINFO:FORMAT[:APPEND]
# (APPEND without spaces).
fail=0
for case in ${DUMP_CASES:-5:1:elf 4:0:elf 5:1:kdump-zlib}; do
	IFS=: read -r paging info format append <<< "$case"
	dump_case "$paging" "$info" "$format" "$append" || fail=1
done
# DUMP_DIR: keep the dumps and their snapshots there.
[ -z "${DUMP_DIR:-}" ] || { mkdir -p "$DUMP_DIR" && mv "$work"/dump* "$DUMP_DIR/"; }
rm -f "$work"/dump*.elf
exit $fail
