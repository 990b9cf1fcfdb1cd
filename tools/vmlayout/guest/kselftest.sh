#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the guest (tools/vmlayout/run-selftests.sh): the vmlayout
# kselftest as the kernel installed it, through the kernel's
# run_kselftest.sh, whose outer KTAP line is the verdict.
#
#   kselftest.sh CHURN_SCANS [WATCH_REQUIRE [HOTADD]]
#
# WATCH_REQUIRE: the watch churn parts (bpf kprobe ftrace memory hotadd,
# cpa-windows memory-windows; space separated, one argument) that must run:
# one the kernel lacks fails. HOTADD: VMLAYOUT_HOTADD (vmlayout.sh).
cd /root/kselftest || exit 1
{
	VMLAYOUT_TOOL=/root/kselftest/vmlayout/vmlayout VMLAYOUT_CHURN_SCANS=$1 \
		VMLAYOUT_WATCH_REQUIRE="${2:-}" VMLAYOUT_HOTADD="${3:-}" ./run_kselftest.sh -t vmlayout:vmlayout.sh 2>&1
	echo "run_kselftest=$?"
} | tee /tmp/tap
grep -q '^ok 1 selftests: vmlayout: vmlayout.sh' /tmp/tap && grep -qx 'run_kselftest=0' /tmp/tap
