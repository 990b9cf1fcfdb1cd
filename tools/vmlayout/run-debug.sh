#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check-debug: vmlayout on the debug variant of the test kernel
# (tools/testing/selftests/vmlayout/config.debug: lockdep, atomic-sleep,
# debug objects, kmemleak, fault injection, hung-task and soft-lockup
# detection, irqsoff and preemptoff tracers, lockdown, CPU hotplug,
# NR_CPUS=128):
#
# It is also a lab's own kernel as distributions build them (GCC, the
# oldest supported 7.x, no ptdump, module signatures enforced):
#
#   1. the kselftest in both paging modes (4-level: the module as Debian's
#      dkms built and installed it, check-dkms.sh), and with
#      lockdown=integrity;
#   2. stress (guest/stress.sh) with watch mode on (its CPA probes, int3
#      here, hit by every page debug_pagealloc maps or unmaps) and the
#      latency tracers (guest/latency.sh), 5-level, debug_pagealloc=on;
#   3. fault injection (guest/failnth.sh): each allocation of insmod and of
#      a rescan failed in turn;
#   4. lockdown=confidentiality refuses to load; an unsigned module is
#      refused, and the kselftest says that the kernel enforces signatures;
#   5. 66 possible CPUs, 0, 64 and 65 online: all three walk and are audited.
#
#   run-debug.sh KDIR     the module and the companion are built for KDIR
#                         out of tree (STRICT: warnings are errors) and
#                         signed; and by Debian's dkms (check-dkms.sh)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=${1:?usage: run-debug.sh KDIR}
mods=$(STRICT=1 "$here/build-variant-modules.sh" "$kdir" | tail -n1)
version=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$top/dkms.conf")
make -s -C "$top" install-dkms DESTDIR="$kdir/vmlayout-dkms-src"
dkms_ko=$("$here/check-dkms.sh" "$kdir" "$kdir/vmlayout-dkms-src/usr/src/vmlayout-$version" | tail -n1)
selftest=$top/tools/testing/selftests/vmlayout
log=$(mktemp -d "${TMPDIR:-/tmp}/vmlayout-debug.XXXXXX")
trap 'rm -rf "$log"' EXIT
gcc -static -O2 -Wall -o "$log/vmlayout_failnth" "$selftest/vmlayout_failnth.c"

image=$kdir/arch/x86/boot/bzImage
plant=$mods/kselftest/vmlayout/test_modules/vmlayout_plant.ko
files=(-f "$mods/vmlayout.ko" -f "$plant" -f "$mods/kselftest" -f "$here/guest/stress.sh" -f "$here/guest/latency.sh"
	-f "$here/guest/failnth.sh" -f "$here/guest/kmemleak.sh" -f "$log/vmlayout_failnth")
# The module as dkms installed it, and one without its signature.
mkdir -p "$log/dkms"
cp "$dkms_ko" "$log/dkms/vmlayout.ko"
# strip_signature KO OUT: KO without its appended signature: the 28-byte
# marker at the end, before it struct module_signature (12 bytes, the
# last 4 the signature's length, big-endian), before that the signature.
strip_signature() {
	local size siglen
	size=$(stat -c %s "$1")
	[ "$(tail -c 28 "$1")" = "~Module signature appended~" ] || { echo "run-debug: $1 is not signed" >&2; return 1; }
	siglen=$(tail -c 32 "$1" | head -c 4 | od -An -tu1 | awk '{ print (($1 * 256 + $2) * 256 + $3) * 256 + $4 }')
	head -c $((size - 28 - 12 - siglen)) "$1" > "$2"
}
strip_signature "$mods/vmlayout.ko" "$log/vmlayout-unsigned.ko"
files+=(-f "$log/dkms" -f "$log/vmlayout-unsigned.ko")
fail=0
run() { # NAME VM-ARGS... -- CMD
	local name=$1 out=$log/$1.out rc=0 t0=$SECONDS
	shift
	echo "=== check-debug: $name"
	VM_TIMEOUT=${VM_TIMEOUT:-900} "$here/vm.sh" -k "$image" "${files[@]}" "$@" > "$out" 2>&1 || rc=$?
	echo "$name: $((SECONDS - t0)) s"
	grep -E '^(not ok|ok .*# SKIP|# Totals|# kernel:|Bail out|stress:|latency|failnth|insmod|write|lockdown|unsigned|cpus)' "$out" || true
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$out"
		echo "FAIL: check-debug $name"
		fail=1
	fi
}
# Every boot is a job, two at a time, each guest on one TCG thread (vm.sh
# -S) so that they share the host's two cores, the longest queued first:
# `job NAME VM-ARGS... -- CMD` starts NAME when a slot is free; `report
# NAME...` waits for all and prints each one's output in order, failing as
# `run` does.
running=0
job() {
	local name=$1
	shift
	(fail=0; run "$name" -S "$@" > "$log/$name.log" 2>&1; echo "$fail" > "$log/$name.fail") &
	running=$((running + 1))
	if [ "$running" -ge 2 ]; then wait -n || true; running=$((running - 1)); fi
}
report() {
	wait
	for name; do
		cat "$log/$name.log"
		[ "$(cat "$log/$name.fail" 2>/dev/null)" = 0 ] || fail=1
	done
}
# The kernel's own trace-event registration WARN_ON_ONCEs when an
# allocation fails (event_define_fields(), for the module's
# vmlayout:vmalloc_sync_fault); that warning is the kernel's, not ours.
# 7.2's error path after it also WARNs twice in event_file_put() (the
# event's refcount), which 7.3 no longer does: the kernel's too. The
# allowances are failnth's boot's alone (vm.sh reads them when it starts).
VM_ALLOW_ALLOC_FAILURES=1 \
VM_ALLOW_RE='WARNING: kernel/trace/trace_events.c:[0-9]+ at (event_define_fields|event_file_put)\+' \
job failnth -p 5 -- 'sh /root/failnth.sh /root/vmlayout.ko /root/vmlayout_failnth'
job stress -p 5 -a debug_pagealloc=on -- \
	'sh /root/stress.sh /root/vmlayout.ko /root/vmlayout_plant.ko 20 watch && sh /root/latency.sh /root/vmlayout.ko 10 100'
# A stock kernel: the out-of-tree module is given to the kselftest (30
# churn rescans: the stress boot churns, and check-vm runs the 100).
# The CPA hook must give windows (config.debug has kprobes): GCC-built.
KSELFTEST='cd /root/kselftest/vmlayout && VMLAYOUT_TOOL=./vmlayout VMLAYOUT_CHURN_SCANS=30 '
KSELFTEST+='VMLAYOUT_WATCH_REQUIRE=cpa-windows sh ./vmlayout.sh'
job kselftest-5level -p 5 -- "$KSELFTEST /root/vmlayout.ko"
job kselftest-4level-dkms -p 4 -- "$KSELFTEST /root/dkms/vmlayout.ko"
# Lockdown: integrity (no debugfs writes) runs the kselftest, which skips
# what rescans or plants; confidentiality refuses vmlayout (EPERM). In the
# same boot, the unsigned module is refused, and the kselftest says why.
job kselftest-lockdown-integrity -p 5 -a lockdown=integrity -- "$KSELFTEST /root/vmlayout.ko"
job lockdown-confidentiality -p 5 -a lockdown=confidentiality -- \
	'! insmod /root/vmlayout.ko 2>/dev/null && [ ! -d /sys/kernel/debug/vmlayout ] &&
	dmesg | grep -q "vmlayout: the kernel is locked down for confidentiality" &&
	echo "lockdown: confidentiality: vmlayout refuses to load (EPERM), as documented" &&
	cd /root/kselftest/vmlayout && ! sh ./vmlayout.sh /root/vmlayout-unsigned.ko > /tmp/unsigned.out 2>&1 &&
	grep "enforces module signatures" /tmp/unsigned.out &&
	echo "unsigned: refused, and the kselftest says the kernel enforces module signatures"'
# 66 possible CPUs, 2 started at boot (maxcpus=2: the other vCPUs never
# run, so the guest stays fast); then CPUs 64 and 65 online, CPU 1 offline.
job cpus -p 5 -s 66 -a "maxcpus=2 kmemleak=off" -- \
	'echo 1 > /sys/devices/system/cpu/cpu64/online && echo 1 > /sys/devices/system/cpu/cpu65/online &&
	echo 0 > /sys/devices/system/cpu/cpu1/online &&
	insmod /root/vmlayout.ko && echo 1 > /sys/kernel/debug/vmlayout/rescan &&
	cpus=$(grep "^cpu " /sys/kernel/debug/vmlayout/stats | sed "s/.* cpu=\([0-9]*\) .*/\1/" | tr "\n" " ") &&
	checked=$(sed -n "s/.*cpus_checked=\([0-9]*\).*/\1/p" /sys/kernel/debug/vmlayout/findings) &&
	echo "cpus: online $(cat /sys/devices/system/cpu/online), walked by $cpus, $checked audited" &&
	[ "$cpus" = "0 64 65 " ] && [ "$checked" -eq 3 ]'
report kselftest-5level kselftest-4level-dkms stress failnth kselftest-lockdown-integrity \
	lockdown-confidentiality cpus
[ "$fail" -eq 0 ] && echo "check-debug: PASS" && exit 0
exit 1
