#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Consume vmlayout:vmalloc_sync_fault through tracefs. Run as root with
# vmlayout loaded; triggers one fault itself through the module's selftest
# file (a read of a vmalloc guard page) and prints the event.
set -e
T=/sys/kernel/tracing
D=/sys/kernel/debug/vmlayout
echo 0 > $T/tracing_on
echo > $T/trace
echo 1 > $T/events/vmlayout/vmalloc_sync_fault/enable
echo 1 > $T/tracing_on
echo fault > $D/selftest
echo 0 > $T/events/vmlayout/vmalloc_sync_fault/enable
echo "== format"
sed -n '/^format:/,$p' $T/events/vmlayout/vmalloc_sync_fault/format
echo "== trace"
grep -v '^#' $T/trace
