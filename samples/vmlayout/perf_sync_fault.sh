#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Record vmlayout:vmalloc_sync_fault with perf, system-wide, while the
# module's selftest file triggers one fault; then print it.
#   PERF=/path/to/perf (default: perf)
set -e
PERF=${PERF:-perf}
$PERF record -q -o /tmp/vmlayout.perf.data -e vmlayout:vmalloc_sync_fault -a -- \
	sh -c 'echo fault > /sys/kernel/debug/vmlayout/selftest'
$PERF script -i /tmp/vmlayout.perf.data
