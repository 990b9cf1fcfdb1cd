#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Fault injection on the debug kernel: every allocation of insmod, then of
# a rescan, failed in turn (vmlayout_failnth), through failslab and
# fail_page_alloc at every order and gfp. Each must fail cleanly: no oops,
# no module left half-loaded, the files marked stale after a failed rescan.
#
#   failnth.sh vmlayout.ko vmlayout_failnth
MOD=$1 FAILNTH=$2
DBG=/sys/kernel/debug/vmlayout
fail=0
for attr in failslab fail_page_alloc; do
	d=/sys/kernel/debug/$attr
	[ -d $d ] || { echo "failnth: no $d"; exit 1; }
	echo N > $d/ignore-gfp-wait
	echo 0 > $d/verbose
done
echo 0 > /sys/kernel/debug/fail_page_alloc/min-order
echo N > /sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem
# insmod without the load-time scan: the scan's allocations are the
# rescan's, failed in turn below.
# sweep NAME ARGS...: vmlayout_failnth ARGS; its summary, and how many
# points the operation survived (a fallback took over: the point failed
# but the operation did not).
sweep() {
	local name=$1 rc=0
	shift
	"$FAILNTH" "$@" > /tmp/failnth-$name.out || rc=$?
	tail -n1 /tmp/failnth-$name.out
	echo "failnth: $name: $(grep -c 'succeeded anyway' /tmp/failnth-$name.out) points survived"
	return $rc
}
sweep insmod insmod "$MOD" vmlayout scan_on_load=0 || fail=1
insmod "$MOD" || fail=1
sweep rescan write $DBG/rescan 1 $DBG/findings || fail=1
# After the last injected failure, one good rescan clears the stale mark.
echo 1 > $DBG/rescan && ! grep -q '^stale ' $DBG/findings || fail=1
rmmod vmlayout || fail=1
# No leak on any of those paths.
sh "$(dirname "$0")/kmemleak.sh" failnth || fail=1
exit $fail
