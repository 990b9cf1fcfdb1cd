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
# WATCH_REQUIRE (default none): the parts of the kselftest's watch churn
# (bpf kprobe ftrace memory, space separated) that must run: one the kernel
# lacks is a failure, not a skip (profile.defconfig requires all four); and
# the hooks that must give windows (cpa-windows, memory-windows).
# SELFTEST_MEM (default vm.sh's): the kselftest boots' memory. HOTADD:
# physical memory the guest has and its kernel was booted without (mem= in
# APPENDS), two memory blocks the kselftest hot-adds (VMLAYOUT_HOTADD).
# STRESS_SELFTEST (default 1): run the whole kselftest again in the stress
# boot (under debug_pagealloc=on) before the stress itself. BIG_MEM (e.g.
# 256G): also boot a guest that large (see below). EFI=1: boot through OVMF
# (vm.sh -E). APPENDS: kernel arguments per boot, boots separated by "|"
# (e.g. "pti=on|pti=off": boot 1 gets pti=on, boot 2 pti=off); APPENDS_4 and
# APPENDS_5 the same for one paging mode, in place of APPENDS. STRESS=0: no
# stress boot. TCG_SINGLE=1: vm.sh -S. PARALLEL=N: N boots at once (kselftest,
# stress and big boots alike). On a KASAN kernel, every boot must also show
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
# append PAGING BOOT: that boot's kernel arguments.
append() {
	local var=APPENDS_$1 list
	list=${!var-${APPENDS:-}}
	IFS='|' read -r -a list <<< "$list"
	echo "${list[$(($2 - 1))]:-}"
}
builtin=""
grep -qx 'CONFIG_X86_VMLAYOUT=y' "$kdir/.config" && builtin=1
kasan=""
grep -qx 'CONFIG_KASAN=y' "$kdir/.config" && kasan="KernelAddressSanitizer initialized"
# Seen once (the stress boot, 5-level, debug_pagealloc=on, under TCG): an
# interrupt taken within identify_boot_cpu(), in the first 10 ms of
# start_kernel(), makes KASAN report a wild access in __common_interrupt().
# The kernel's, long before any initcall (built-in vmlayout starts after
# some 8 s; no vmlayout frame in the report). KASAN reports once, so that
# boot is run again rather than allowed (vm.sh, VM_RETRY_RE).
[ -z "$kasan" ] ||
	export VM_RETRY_RE='^\[ *0\.[0-9]+\] BUG: KASAN: wild-memory-access in __common_interrupt\+'
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
# The guest's side (tools/vmlayout/guest/): the kselftest through the
# kernel's runner, the stress boot's churn, the big guest's scans.
files+=(-f "$here/guest/kselftest.sh" -f "$here/guest/churn.sh" -f "$here/guest/big.sh")
# The guest's sh runs it: WATCH_REQUIRE quoted, one argument with its spaces.
selftest_cmd="sh /root/kselftest.sh ${CHURN_SCANS:-100} '${WATCH_REQUIRE:-}' '${HOTADD:-}'"
stress="sh /root/churn.sh /root/kselftest/vmlayout/test_modules/vmlayout_plant.ko"
[ "${STRESS_SELFTEST:-1}" = 0 ] || stress="$stress ${CHURN_SCANS:-100}"
# BIG_CAPTURE=FILE: the big guest's tables file, packed, kept in FILE.
big="sh /root/big.sh ${BIG_CAPTURE:+capture}"
image=$kdir/arch/x86/boot/bzImage
# Every boot is a job: job NAME VM-ARGS... -- CMD boots it with its output
# in $log/NAME.out and its status in $log/NAME.rc. PARALLEL=N jobs run at
# once (with TCG_SINGLE each guest is one host thread); the longest are
# queued first so that the slots finish together.
parallel=${PARALLEL:-1}
running=0
job() {
	local name=$1
	shift
	if [ "$parallel" -le 1 ]; then
		run_job "$name" "$@"
		return
	fi
	run_job "$name" "$@" &
	running=$((running + 1))
	if [ "$running" -ge "$parallel" ]; then wait -n || true; running=$((running - 1)); fi
}
run_job() {
	local name=$1 rc=0
	shift
	vm "$name" -k "$image" "$@" > "$log/$name.out" 2>&1 || rc=$?
	echo "$rc" > "$log/$name.rc"
}
ok() { [ "$(cat "$log/$1.rc" 2>/dev/null)" = 0 ]; }
[ "${STRESS:-1}" = 0 ] || job stress -p 5 -a debug_pagealloc=on "${files[@]}" -- "$stress"
[ -z "${BIG_MEM:-}" ] || job big -p 5 -m "$BIG_MEM" -B -a debug_pagealloc=on "${files[@]}" -- "$big"
pagings=${PAGINGS:-5 4}
for boot in $(seq 1 "$boots"); do
	for paging in $pagings; do
		job "p$paging-b$boot" -p "$paging" ${SELFTEST_MEM:+-m "$SELFTEST_MEM"} \
			-a "$(append "$paging" "$boot")" "${files[@]}" -- "$selftest_cmd"
	done
done
wait
for paging in $pagings; do
	for boot in $(seq 1 "$boots"); do
		name=p$paging-b$boot
		append=$(append "$paging" "$boot")
		echo "=== kselftest vmlayout: ${paging}-level paging, boot $boot of $boots${append:+ ($append)}${EFI:+, UEFI}"
		if ok "$name"; then
			grep -E '^p[45]-b[0-9]+: ' "$log/$name.out" || true
			grep -E '^(# )*(not ok|# Totals)|^ok 1 selftests' "$log/$name.out" || true
			# Watch mode's transient plants: how many loads the events
			# caught; and the module against `vmlayout check` on kcore.
			grep -E '^(# )+watch: a W\+X plant held [0-9]+ ms caught|^(# )*ok [0-9]+ watch: [0-9]+ W\+X plants held|^(# )*ok [0-9]+ watch: 20 module loads|^(# )*ok [0-9]+ vmlayout check on (/proc/kcore|the tables file)' \
				"$log/$name.out" | sed 's/^\(# \)*/  /' || true
		else
			cat "$log/$name.out"
			echo "FAIL: ${paging}-level boot $boot"
			fail=1
		fi
	done
	# The randomized bases must differ from boot to boot.
	for b in page_offset_base vmalloc_base vmemmap_base kernel_text; do
		values=$(sed -n "s/^\(# \)*boot-base $b=//p" "$log"/p$paging-b*.out)
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
if [ "${STRESS:-1}" = 0 ]; then
	echo "=== stress: not run here (STRESS=0)"
else
	echo "=== stress: rescans while tables change, debug_pagealloc=on, 5-level"
	cat "$log/stress.out"
	ok stress || { echo "FAIL: stress run"; fail=1; }
fi
if [ -n "${BIG_MEM:-}" ]; then
	echo "=== big: a $BIG_MEM guest, debug_pagealloc=on, 5-level"
	sed '/^BEGIN-CAPTURE$/,/^END-CAPTURE$/d' "$log/big.out"
	if [ -n "${BIG_CAPTURE:-}" ]; then
		sed -n '/^BEGIN-CAPTURE$/,/^END-CAPTURE$/p' "$log/big.out" | sed '1d;$d' |
			base64 -d > "$BIG_CAPTURE" && echo "big: capture kept in $BIG_CAPTURE"
	fi
	ok big || { echo "FAIL: big guest"; fail=1; }
fi
[ "$fail" -eq 0 ] && echo "kselftest vmlayout: PASS in both paging modes and under stress${kasan:+, under KASAN}" && exit 0
exit 1
