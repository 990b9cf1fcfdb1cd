#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Stress on the debug kernel (run by tools/vmlayout/run-debug.sh in the
# guest): parallel readers, rescans, selftest faults, bench floors, CPU
# hotplug, fork and module/vmalloc churn, all at once; then 50 insmod/rmmod
# cycles; then a kmemleak scan. Every scan must have no warn or error
# finding. Prints "stress: ..." lines; exits non-zero on any failure.
#
#   stress.sh vmlayout.ko vmlayout_plant.ko [SECONDS [watch]]
#
# watch: watch mode on through the churn (its hooks, the CPA probes among
# them, fire on every page debug_pagealloc maps or unmaps), and off by the
# rmmod; its hooks must have fired.
MOD=$1 PLANT=$2 SECONDS_=${3:-30} WATCH=${4:-}
DBG=/sys/kernel/debug/vmlayout
tmp=$(mktemp -d)
fail=0

insmod "$MOD" || { echo "stress: insmod failed"; exit 1; }
[ "$WATCH" != watch ] || echo 1 > $DBG/watch || { echo "stress: watch mode refused"; exit 1; }
# The churn runs until the rescans have had SECONDS and at least
# MIN_SCANS scans (a slow machine gets more time, never fewer scans):
# the main loop decides, the churn loops stop when it says so.
MIN_SCANS=20
end=$(($(date +%s) + SECONDS_))
running() { [ ! -e "$tmp/stop" ]; }
(while running; do cat $DBG/map $DBG/findings $DBG/stats $DBG/layout $DBG/summary > /dev/null; done) &
(while running; do cat $DBG/map > /dev/null; done) &
(while running; do echo fault > $DBG/selftest; done) &
(while running; do echo floor > $DBG/bench; sleep 0.2; done) &
(while running; do /bin/true; done) &
(while running; do insmod "$PLANT" plant=none && rmmod vmlayout_plant; done) &
hotplug=0
if [ -w /sys/devices/system/cpu/cpu1/online ]; then
	(n=0; while running; do echo 0 > /sys/devices/system/cpu/cpu1/online; sleep 0.1
		echo 1 > /sys/devices/system/cpu/cpu1/online; n=$((n + 1)); sleep 0.1; done
	echo $n > "$tmp/hotplug") &
	hotplug=1
fi
scans=0 bad=0 failed=0
while [ "$(date +%s)" -lt "$end" ] || [ "$scans" -lt "$MIN_SCANS" ]; do
	if echo 1 > $DBG/rescan; then
		grep -E '^finding .*severity=(warn|error)' $DBG/findings > "$tmp/bad" && {
			bad=$((bad + 1)); sed 's/^/stress: /' "$tmp/bad" | head -3; }
	else
		failed=$((failed + 1))
	fi
	scans=$((scans + 1))
done
: > "$tmp/stop"
wait
echo 1 > /sys/devices/system/cpu/cpu1/online 2>/dev/null
echo "stress: $scans rescans under churn, $bad with warn or error findings, $failed failed; CPU 1 offlined $(cat "$tmp/hotplug" 2>/dev/null || echo 0) times"
[ "$bad" -eq 0 ] && [ "$failed" -eq 0 ] && [ "$scans" -ge "$MIN_SCANS" ] || fail=1
[ "$hotplug" -eq 0 ] || [ "$(cat "$tmp/hotplug" 2>/dev/null || echo 0)" -gt 0 ] || fail=1
if [ "$WATCH" = watch ]; then
	grep -E '^(watch|hook name=cpa)' $DBG/summary | sed 's/ covers=.*//; s/^/stress: /'
	grep -q '^watch enabled=1 .* rechecks=[1-9]' $DBG/summary || fail=1
fi
rmmod vmlayout || fail=1

# Load and unload, 50 times (each load scans; failnth loads it hundreds of
# times more, with each allocation failing in turn).
cycles=0
while [ $cycles -lt 50 ]; do
	insmod "$MOD" && rmmod vmlayout || { fail=1; break; }
	cycles=$((cycles + 1))
done
echo "stress: $cycles insmod/rmmod cycles"

# No leak, and a leak planted on purpose is found (kmemleak is looking).
KML=/sys/kernel/debug/kmemleak
if sh "$(dirname "$0")/kmemleak.sh" stress; then
	echo clear > $KML
	insmod "$PLANT" plant=leak && rmmod vmlayout_plant
	sleep 6; echo scan > $KML; sleep 1; echo scan > $KML
	planted=$(grep -A1 '^unreferenced object .*(size 128)' $KML | grep -c 'comm "insmod"')
	echo "stress: kmemleak finds the 100-byte leak planted on purpose: $planted"
	[ "$planted" -gt 0 ] || fail=1
else
	fail=1
fi
rm -rf "$tmp"
exit $fail
