#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest (tools/vmlayout/run-selftests.sh's stress boot, under
# debug_pagealloc=on: the direct map split into 4 KiB pages that come and
# go): vmlayout rescans while module loads and unloads, forks (vmalloc'd
# stacks) and W+X plants change the tables; the runner fails on any oops,
# BUG or WARNING in the console. Given CHURN_SCANS, the whole kselftest
# (kselftest.sh) runs first. vmlayout is a module or built in.
#
#   churn.sh PLANT.ko [CHURN_SCANS]
plant=$1 st=0
if [ -n "${2:-}" ]; then
	sh /root/kselftest.sh "$2" > /root/tap 2>&1 || st=1
	grep -E "^(# )*not ok|Totals" /root/tap
fi
[ -d /sys/kernel/debug/vmlayout ] || modprobe vmlayout
(
	i=0
	while [ $i -lt 30 ]; do insmod "$plant" plant=wx && rmmod vmlayout_plant; i=$((i + 1)); done
) &
( i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i + 1)); done ) &
n=0
while [ $n -lt 40 ]; do echo 1 > /sys/kernel/debug/vmlayout/rescan || st=1; n=$((n + 1)); done
wait
echo "rescans: $n, scan after the churn:"
echo 1 > /sys/kernel/debug/vmlayout/rescan && grep "^walk" /sys/kernel/debug/vmlayout/stats
grep "^rule id=unreadable-table" /sys/kernel/debug/vmlayout/findings
[ ! -e /sys/module/vmlayout/initstate ] || modprobe -r vmlayout
exit $st
