#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the vmlayout kselftest in the test kernel, in both paging modes and over
# several boots, and check that the randomized bases differ between boots.
#
#   run-selftests.sh KDIR [BOOTS]
#
# KDIR is a kernel with vmlayout in tree (make intree), as a module or built
# in: its modules and kselftest are staged by stage-guest.sh, and the
# kselftest runs through the kernel's run_kselftest.sh. PAGINGS (default "5 4"): the paging modes
# booted. CHURN_SCANS (default 100): rescans in the kselftest's churn test.
# STRESS_SELFTEST (default 1): run the whole kselftest again in the stress
# boot (under debug_pagealloc=on) before the stress itself. BIG_MEM (e.g.
# 256G): also boot a guest that large (see below). EFI=1: boot through OVMF
# (vm.sh -E). APPENDS: kernel arguments per boot, boots separated by "|"
# (e.g. "pti=on|pti=off": boot 1 gets pti=on, boot 2 pti=off). STRESS=0: no
# stress boot. TCG_SINGLE=1: vm.sh -S. PARALLEL=N: N kselftest boots at once. On a KASAN kernel, every boot must also show
# KASAN initialized, so a run that found no report shows KASAN was looking.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=${1:?usage: run-selftests.sh KDIR [BOOTS]}
boots=${2:-2}
selftest=$top/tools/testing/selftests/vmlayout
log=$(mktemp -d "${TMPDIR:-/tmp}/vmlayout-selftest.XXXXXX")
trap 'rm -rf "$log"' EXIT

# The kernel's modules and the kselftest as the kernel installs them
# (stage-guest.sh): vmlayout is in this kernel's tree, as a module or built in.
stage=$("$here/stage-guest.sh" "$kdir" | tail -n1)
files=(-M "$stage/modules" -f "$stage/kselftest")
[ "${EFI:-0}" = 0 ] || files+=(-E)
# TCG_SINGLE=1: one host thread for all vCPUs (vm.sh -S: text patching
# under pti=on needs it on TCG).
[ "${TCG_SINGLE:-0}" = 0 ] || files+=(-S)
IFS='|' read -r -a appends <<< "${APPENDS:-}"
builtin=""
grep -qx 'CONFIG_X86_VMLAYOUT=y' "$kdir/.config" && builtin=1
kasan=""
grep -qx 'CONFIG_KASAN=y' "$kdir/.config" && kasan="KernelAddressSanitizer initialized"
fail=0
# vm NAME ARGS...: boot with vm.sh; on a KASAN kernel check it was active.
vm() {
	local name=$1 rc=0 t0=$SECONDS
	shift
	VM_CONSOLE=$log/$name.console "$here/vm.sh" "$@" || rc=$?
	echo "$name: $((SECONDS - t0)) s" >&2
	if [ "$rc" -eq 0 ] && [ -n "$kasan" ]; then
		if grep -q "$kasan" "$log/$name.console"; then
			echo "$name: $(grep -o "$kasan.*" "$log/$name.console" | head -n1); no KASAN report"
		else
			echo "FAIL: $name: no '$kasan' on the console"
			rc=1
		fi
	fi
	return "$rc"
}
pagings=${PAGINGS:-5 4}
# Through the kernel's runner; the outer KTAP line is the verdict.
selftest_cmd="cd /root/kselftest && { VMLAYOUT_TOOL=/root/kselftest/vmlayout/vmlayout VMLAYOUT_CHURN_SCANS=${CHURN_SCANS:-100} ./run_kselftest.sh -t vmlayout:vmlayout.sh 2>&1; echo \"run_kselftest=\$?\"; } | tee /tmp/tap; cd /root
grep -q '^ok 1 selftests: vmlayout: vmlayout.sh' /tmp/tap && grep -qx 'run_kselftest=0' /tmp/tap"
# Load and unload vmlayout whether it is a module or built in.
load='[ -d /sys/kernel/debug/vmlayout ] || modprobe vmlayout'
unload='[ ! -e /sys/module/vmlayout/initstate ] || modprobe -r vmlayout'
plant=/root/kselftest/vmlayout/test_modules/vmlayout_plant.ko
# One boot: its KTAP output in $log/pP-bB.tap, its status in .rc.
boot_selftest() {
	local paging=$1 boot=$2 append=${appends[$(($2 - 1))]:-} rc=0
	vm "p$paging-b$boot" -k "$kdir/arch/x86/boot/bzImage" -p "$paging" -a "$append" "${files[@]}" \
		-- "$selftest_cmd" > "$log/p$paging-b$boot.tap" 2>&1 || rc=$?
	echo "$rc" > "$log/p$paging-b$boot.rc"
}
# PARALLEL=N: N boots at a time (each TCG_SINGLE guest is one host thread).
parallel=${PARALLEL:-1}
running=0
for paging in $pagings; do
	for boot in $(seq 1 "$boots"); do
		if [ "$parallel" -gt 1 ]; then
			boot_selftest "$paging" "$boot" &
			running=$((running + 1))
			if [ "$running" -ge "$parallel" ]; then wait -n || true; running=$((running - 1)); fi
		else
			boot_selftest "$paging" "$boot"
		fi
	done
done
wait
for paging in $pagings; do
	for boot in $(seq 1 "$boots"); do
		out=$log/p$paging-b$boot.tap
		append=${appends[$((boot - 1))]:-}
		echo "=== kselftest vmlayout: ${paging}-level paging, boot $boot of $boots${append:+ ($append)}${EFI:+, UEFI}"
		if [ "$(cat "$log/p$paging-b$boot.rc")" = 0 ]; then
			grep -E '^p[45]-b[0-9]+: ' "$out" || true
			grep -E '^(# )*(not ok|# Totals)|^ok 1 selftests' "$out" || true
		else
			cat "$out"
			echo "FAIL: ${paging}-level boot $boot"
			fail=1
		fi
	done
	# The randomized bases must differ from boot to boot.
	for b in page_offset_base vmalloc_base vmemmap_base kernel_text; do
		values=$(sed -n "s/^\(# \)*boot-base $b=//p" "$log"/p$paging-b*.tap)
		distinct=$(echo "$values" | sort -u | grep -c . || true)
		echo "$paging-level $b over $boots boots: $(echo $values)"
		if [ "$boots" -eq 1 ]; then
			echo "$paging-level $b: one boot, randomization not compared here"
		elif [ "$distinct" -lt 2 ]; then
			echo "FAIL: $b was the same in every ${paging}-level boot"
			fail=1
		fi
	done
done
# Stress: debug_pagealloc=on (the direct map split into 4 KiB pages that
# come and go), module loads and unloads, forks (vmalloc'd stacks) and W+X
# plants changing the tables while vmlayout rescans; the runner fails on any
# oops, BUG or WARNING in the console.
echo "=== stress: rescans while tables change, debug_pagealloc=on, 5-level"
stress="$load
( i=0; while [ \$i -lt 30 ]; do insmod $plant plant=wx && rmmod vmlayout_plant; i=\$((i + 1)); done ) &"'
( i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i + 1)); done ) &
n=0; while [ $n -lt 40 ]; do echo 1 > /sys/kernel/debug/vmlayout/rescan || st=1; n=$((n + 1)); done
wait
echo "rescans: $n, scan after the churn:"
echo 1 > /sys/kernel/debug/vmlayout/rescan && grep "^walk" /sys/kernel/debug/vmlayout/stats
grep "^rule id=unreadable-table" /sys/kernel/debug/vmlayout/findings'"
$unload"'
exit $st'
if [ "${STRESS_SELFTEST:-1}" = 1 ]; then
	stress="{ $selftest_cmd; } > /root/tap 2>&1 || st=1
grep -E \"^(# )*not ok|Totals\" /root/tap
$stress"
fi
stress="st=0
$stress"
stress_boot() {
	if ! vm stress -k "$kdir/arch/x86/boot/bzImage" -p 5 -a debug_pagealloc=on "${files[@]}" -- "$stress"; then
		echo "FAIL: stress run"
		return 1
	fi
}
stress_pid=""
if [ "${STRESS:-1}" = 0 ]; then
	echo "=== stress: not run here (STRESS=0)"
elif [ "$parallel" -gt 1 ] && [ -n "${BIG_MEM:-}" ]; then
	# Beside the big guest below: its output is shown when both are done.
	stress_boot > "$log/stress.out" 2>&1 &
	stress_pid=$!
elif ! stress_boot; then
	fail=1
fi
# Any machine size: a guest far larger than this host (BIG_MEM, memory
# the host never reserves), debug_pagealloc=on so the whole direct map is in
# 4 KiB pages: some 130,000 work items and table pages. It must load, scan
# and rescan with no warn or error finding and no warning.
if [ -n "${BIG_MEM:-}" ]; then
	echo "=== big: a $BIG_MEM guest, debug_pagealloc=on, 5-level"
	big='grep MemTotal /proc/meminfo
'"$load"' && echo 1 > /sys/kernel/debug/vmlayout/rescan && echo 1 > /sys/kernel/debug/vmlayout/rescan || exit 1
grep "^walk" /sys/kernel/debug/vmlayout/stats
! grep -E "^finding .*severity=(warn|error)" /sys/kernel/debug/vmlayout/findings || exit 1
items=$(sed -n "s/^walk .* items=\([0-9]*\).*/\1/p" /sys/kernel/debug/vmlayout/stats)
echo "big: $items work items"; [ "$items" -gt 100000 ] || exit 1'"
$unload"
	if ! vm big -k "$kdir/arch/x86/boot/bzImage" -p 5 -m "$BIG_MEM" -B -a debug_pagealloc=on "${files[@]}" -- "$big"; then
		echo "FAIL: big guest"
		fail=1
	fi
fi
if [ -n "$stress_pid" ]; then
	wait "$stress_pid" || fail=1
	cat "$log/stress.out"
fi
[ "$fail" -eq 0 ] && echo "kselftest vmlayout: PASS in both paging modes and under stress${kasan:+, under KASAN}" && exit 0
exit 1
