#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest (tools/vmlayout/run-selftests.sh's big boot): a guest
# far larger than the host (memory the host never reserves), under
# debug_pagealloc=on so the whole direct map is in 4 KiB pages: some
# 130,000 work items and table pages. vmlayout must load, scan and rescan
# with no warn or error finding (and the runner sees no warning).
grep MemTotal /proc/meminfo
DBG=/sys/kernel/debug/vmlayout
{ [ -d $DBG ] || modprobe vmlayout; } && echo 1 > $DBG/rescan && echo 1 > $DBG/rescan || exit 1
grep "^walk" $DBG/stats
! grep -E "^finding .*severity=(warn|error)" $DBG/findings || exit 1
items=$(sed -n "s/^walk .* items=\([0-9]*\).*/\1/p" $DBG/stats)
echo "big: $items work items"
[ "$items" -gt 100000 ] || exit 1
[ ! -e /sys/module/vmlayout/initstate ] || modprobe -r vmlayout
