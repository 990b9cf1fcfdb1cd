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
# The tables file: the table pages a walk reads (some 130,000 here) as a
# core file, checked by `vmlayout check --vmcore` without kcore or the
# module: no warn or error finding there either. With an argument
# (run-selftests.sh BIG_CAPTURE=FILE) also printed packed, in base64, for a
# host fixture (tools/vmlayout/testdata/captures/).
TOOL=/root/kselftest/vmlayout/vmlayout
cat $DBG/tables > /tmp/tables.elf || exit 1
st=0
$TOOL check --vmcore /tmp/tables.elf -o /tmp/tables.snap || st=$?
pages=$(sed -n "s/^walk .* table_pages=\([0-9]*\).*/\1/p" /tmp/tables.snap)
echo "big: the tables file, $(wc -c < /tmp/tables.elf) bytes: vmlayout check status $st," \
	"$pages table pages"
grep "^scope" /tmp/tables.snap
[ "$st" -le 1 ] && [ "${pages:-0}" -gt 100000 ] || exit 1
! grep -E "^finding .*severity=(warn|error)" /tmp/tables.snap || exit 1
if [ -n "${1:-}" ]; then
	$TOOL pack /tmp/tables.elf /tmp/tables.d64.gz || exit 1
	echo "big: packed, $(wc -c < /tmp/tables.d64.gz) bytes"
	echo "BEGIN-CAPTURE"
	base64 /tmp/tables.d64.gz
	echo "END-CAPTURE"
fi
[ ! -e /sys/module/vmlayout/initstate ] || modprobe -r vmlayout
