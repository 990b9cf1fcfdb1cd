#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The longest stretch with interrupts off and with preemption off while
# vmlayout scans, from the kernel's irqsoff and preemptoff tracers, against
# the same span with the machine idle. Prints one "latency" record per
# tracer; exits non-zero if the longest stretch is over LIMIT_US and was
# opened or closed by vmlayout's own code (its "started at" or "ended at"
# names a vmlayout function), or if the tracer is missing. Under TCG a
# stretch also lasts while the host runs something else, so the idle
# maximum says what the machine does by itself; "in_stack" says whether
# vmlayout was on the stack where the longest stretch ended (an interrupt
# or a lock inside a kernel function vmlayout called).
#
#   latency.sh vmlayout.ko [SCANS] [LIMIT_US]
MOD=$1 SCANS=${2:-20} LIMIT=${3:-100}
TR=/sys/kernel/tracing
DBG=/sys/kernel/debug/vmlayout
fail=0
lsmod | grep -q '^vmlayout ' || insmod "$MOD" || exit 1
for tracer in irqsoff preemptoff; do
	grep -qw $tracer $TR/available_tracers || { echo "latency: no $tracer tracer"; fail=1; continue; }
	echo $tracer > $TR/current_tracer
	t0=$(date +%s)
	echo 1 > $TR/options/stacktrace
	echo 0 > $TR/tracing_max_latency; echo 1 > $TR/tracing_on
	i=0; while [ $i -lt "$SCANS" ]; do echo 1 > $DBG/rescan; i=$((i + 1)); done
	echo 0 > $TR/tracing_on
	scan=$(cat $TR/tracing_max_latency)
	where=$(grep -E '=> (started|ended) at:' $TR/trace | sed 's/.*at: *//' | tr '\n' ' ')
	cat $TR/trace > /tmp/latency-$tracer
	ours=$(grep -E '=> (started|ended) at:' /tmp/latency-$tracer | grep -c vmlayout)
	stack=$(grep -c vmlayout /tmp/latency-$tracer)
	# The machine idle for as long: what the kernel does anyway.
	span=$(($(date +%s) - t0 + 1))
	echo 0 > $TR/tracing_max_latency; echo 1 > $TR/tracing_on
	sleep $span
	echo 0 > $TR/tracing_on
	idle=$(cat $TR/tracing_max_latency)
	echo "latency tracer=$tracer scans=$SCANS max_us=$scan idle_max_us=$idle opened_by_vmlayout=$ours in_stack=$stack where=\"$where\""
	if [ "$scan" -gt "$LIMIT" ] && [ "$ours" -gt 0 ]; then
		echo "latency: $tracer: ${scan} us in vmlayout's code, over ${LIMIT} us"
		sed -n '1,60p' /tmp/latency-$tracer
		fail=1
	fi
	echo nop > $TR/current_tracer
done
exit $fail
