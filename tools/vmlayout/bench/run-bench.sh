#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The vmlayout benchmark (make bench): boot the test kernel with a stress
# layout (debug_pagealloc=on splits the direct map into 4 KiB pages;
# vmlayout_areas.ko keeps thousands of vmalloc areas alive), time a vmlayout
# full scan against ptdump, the kernel's W+X check and two floors (copying
# every table page; loading every entry in place) in the same boot, with 1 and 2 vCPUs and 1, 2 and 4 GiB, in both paging
# modes, and print the tables; with each scan, `vmlayout check` on /proc/kcore
# in the same boot (f), and `vmlayout check --vmcore` on the host on a
# BENCH_DUMP_MEM guest's dump (BENCH_CAPTURE=FILE: its table pages kept
# there as a capture, for the native benchmark). Not a test: it asserts
# nothing about time.
#
#   run-bench.sh KDIR          BENCH_RUNS (default 7), BENCH_AREAS (4000),
#                              BENCH_PAGING ("5 4"), BENCH_SHAPES ("1 4G,2 4G,...")
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
kdir=${1:?usage: run-bench.sh KDIR}
runs=${BENCH_RUNS:-7} areas=${BENCH_AREAS:-4000}
modes=${BENCH_PAGING:-5 4}
IFS=, read -r -a shapes <<< "${BENCH_SHAPES:-1 4G,2 4G,2 2G,2 1G,2 16G}"
stage=$(mktemp -d "${TMPDIR:-/tmp}/vmlayout-bench.XXXXXX")
trap 'rm -rf "$stage"' EXIT

gcc -static -O2 -Wall -o "$stage/vmlayout_time" "$here/vmlayout_time.c"
bin=${VMLAYOUT_BIN:-${CARGO_TARGET_DIR:-$top/tools/vmlayout/target}/x86_64-unknown-linux-gnu/release/vmlayout}
files=(-f "$top/vmlayout.ko" -f "$here/vmlayout_areas.ko" -f "$stage/vmlayout_time"
	-f "$here/bench-guest.sh" -f "$bin")
for paging in $modes; do
	for shape in "${shapes[@]}"; do
		read -r smp mem <<< "$shape"
		echo "bench: ${paging}-level paging, $smp vCPU, $mem, debug_pagealloc=on, $areas vmalloc areas, $runs runs" >&2
		out=$("$top/tools/vmlayout/vm.sh" -k "$kdir/arch/x86/boot/bzImage" -p "$paging" \
			-s "$smp" -m "$mem" -B -a debug_pagealloc=on "${files[@]}" \
			-- "sh /root/bench-guest.sh $runs $areas") || { echo "$out"; exit 1; }
		line=$(grep '^bench ' <<< "$out") || { echo "$out"; exit 1; }
		watch=$(grep '^watch storm_off=' <<< "$out") || { echo "$out"; exit 1; }
		echo "paging=$paging vcpus=$smp mem=$mem ${line#bench } ${watch#watch }" >> "$stage/results"
	done
done

awk '
function med(s,   a) { split(s, a, ","); return a[2] }
function ms(ns) { return sprintf("%.1f", ns / 1e6) }
function spread(s,   a) { split(s, a, ","); return sprintf("%.1f [%.1f-%.1f]", a[2] / 1e6, a[1] / 1e6, a[3] / 1e6) }
{
	delete r
	for (i = 1; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
	n++
	for (k in r) row[n, k] = r[k]
}
END {
	print "Times in ms, median [min-max] over the runs of one boot."
	print "(a) vmlayout full scan, (b) ptdump, (c) check_wx_pages, (d) copy floor: every table page"
	print "copied once with copy_from_kernel_nofault(), (e) load floor: every entry loaded once in place"
	print "with the fault-tolerant load the walk uses; both on one CPU, nothing decoded."
	print "a/b and a/c use times taken from user space the same way (open, read or write, close);"
	print "a/d and a/e use the module timers (the floors have no user-space counterpart)."
	print ""
	printf "%-6s %-5s %-4s %7s %7s %-22s %-22s %-22s %-20s %-20s %-20s %6s %6s %6s %6s\n", \
		"paging", "vCPUs", "mem", "tables", "ranges", "(a) scan, user", "(b) ptdump", "(c) W+X check", \
		"(a) scan, module", "(d) copy floor", "(e) load floor", "a/b", "a/c", "a/d", "a/e"
	for (i = 1; i <= n; i++) {
		a = med(row[i, "scan_user"]); ak = med(row[i, "scan"])
		printf "%-6s %-5s %-4s %7d %7d %-22s %-22s %-22s %-20s %-20s %-20s %6.3f %6.3f %6.2f %6.2f\n", \
			row[i, "paging"] "-lvl", row[i, "vcpus"], row[i, "mem"], row[i, "table_pages"], row[i, "ranges"], \
			spread(row[i, "scan_user"]), spread(row[i, "ptdump"]), spread(row[i, "wx"]), \
			spread(row[i, "scan"]), spread(row[i, "floor"]), spread(row[i, "load"]), \
			a / med(row[i, "ptdump"]), a / med(row[i, "wx"]), ak / med(row[i, "floor"]), ak / med(row[i, "load"])
	}
	print ""
	print "(f) vmlayout check on /proc/kcore, the same checks without the module (one CPU, the"
	print "whole program from user space, so against (a) from user space):"
	printf "%-6s %-5s %-4s %-22s %-22s %6s\n", "paging", "vCPUs", "mem", "(a) scan, user", "(f) check, kcore", "f/a"
	for (i = 1; i <= n; i++)
		printf "%-6s %-5s %-4s %-22s %-22s %6.2f\n", row[i, "paging"] "-lvl", row[i, "vcpus"], row[i, "mem"], \
			spread(row[i, "scan_user"]), spread(row[i, "offline"]), med(row[i, "offline"]) / med(row[i, "scan_user"])
	print ""
	print "Where the module time goes (medians, ms; the join of the walk lists, ram and audit run"
	print "inside rules, beside its chunks):"
	printf "%-6s %-5s %-4s %8s %8s %8s %8s %8s %8s\n", "paging", "vCPUs", "mem", "total", "walk", "rules", "join", "ram", "audit"
	for (i = 1; i <= n; i++)
		printf "%-6s %-5s %-4s %8s %8s %8s %8s %8s %8s\n", row[i, "paging"] "-lvl", row[i, "vcpus"], row[i, "mem"], \
			ms(med(row[i, "scan"])), ms(med(row[i, "walk"])), ms(med(row[i, "rules"])), \
			ms(med(row[i, "join"])), ms(med(row[i, "ram"])), ms(med(row[i, "audit"]))
	print ""
	print "2 CPUs online against 1, same boot (CPU 1 offlined and back, 3 rounds of back-to-back rescans;"
	print "median [min-max] of the three round medians, ms; timed from user space, then by the module):"
	for (i = 1; i <= n; i++) if (row[i, "one_cpu"] != "")
		printf "  %s-level %-4s user: 1 CPU %s, 2 CPUs %s: %.2fx; module: 1 CPU %s, 2 CPUs %s: %.2fx\n", \
			row[i, "paging"], row[i, "mem"], \
			spread(row[i, "one_cpu"]), spread(row[i, "two_cpus"]), med(row[i, "one_cpu"]) / med(row[i, "two_cpus"]), \
			spread(row[i, "one_cpu_mod"]), spread(row[i, "two_cpus_mod"]), \
			med(row[i, "one_cpu_mod"]) / med(row[i, "two_cpus_mod"])
	print ""
	print "2 vCPUs against 1 (4G guests; separate boots, medians):"
	for (i = 1; i <= n; i++) if (row[i, "vcpus"] == 1) for (j = 1; j <= n; j++)
		if (row[j, "vcpus"] == 2 && row[j, "mem"] == row[i, "mem"] && row[j, "paging"] == row[i, "paging"])
			printf "  %s-level: full scan %.2fx faster from user space, %.2fx by the module; walk phase %.2fx faster\n", \
				row[i, "paging"], med(row[i, "scan_user"]) / med(row[j, "scan_user"]), \
				med(row[i, "scan"]) / med(row[j, "scan"]), med(row[i, "walk"]) / med(row[j, "walk"])
	print ""
	print "Watch mode off against on, same boot, by turns (3 rounds; wall time from user space, ms):"
	print "a module storm (10 loads and unloads, 200 vmalloc areas each) and a fork storm (200 forks);"
	print "busy: the time watch mode'"'"'s re-checks took during a storm, against its wall time (medians)."
	printf "%-6s %-5s %-4s %-22s %-22s %6s %6s %-22s %-22s %6s %6s\n", "paging", "vCPUs", "mem", \
		"modules, off", "modules, on", "on/off", "busy", "forks, off", "forks, on", "on/off", "busy"
	for (i = 1; i <= n; i++)
		printf "%-6s %-5s %-4s %-22s %-22s %6.3f %5.1f%% %-22s %-22s %6.3f %5.1f%%\n", row[i, "paging"] "-lvl", \
			row[i, "vcpus"], row[i, "mem"], spread(row[i, "storm_off"]), spread(row[i, "storm_on"]), \
			med(row[i, "storm_on"]) / med(row[i, "storm_off"]), \
			100 * med(row[i, "storm_busy"]) / med(row[i, "storm_on"]), spread(row[i, "forks_off"]), \
			spread(row[i, "forks_on"]), med(row[i, "forks_on"]) / med(row[i, "forks_off"]), \
			100 * med(row[i, "forks_busy"]) / med(row[i, "forks_on"])
	print ""
	print "Growth with table pages (2 vCPUs, module timer):"
	printf "%-6s %-4s %8s %10s %14s\n", "paging", "mem", "tables", "scan ms", "ns per table"
	for (i = 1; i <= n; i++) if (row[i, "vcpus"] == 2)
		printf "%-6s %-4s %8d %10s %14.0f\n", row[i, "paging"] "-lvl", row[i, "mem"], row[i, "table_pages"], \
			ms(med(row[i, "scan"])), med(row[i, "scan"]) / row[i, "table_pages"]
}' "$stage/results"

# `vmlayout check --vmcore` on the host: a guest of BENCH_DUMP_MEM (16G by
# default; 0: none) booted with debug_pagealloc=on and the vmalloc areas,
# dumped by QEMU (QMP dump-guest-memory), then checked here BENCH_RUNS times;
# the dump's size and write time beside the check's.
dump_mem=${BENCH_DUMP_MEM:-16G}
if [ "$dump_mem" != 0 ]; then
	dump=$stage/dump.elf sock=$stage/qmp signal=$stage/signal pidfile=$stage/qemu.pid
	: > "$signal"
	VM_QEMU_ARGS="-qmp unix:$sock,server=on,wait=off -serial file:$signal -pidfile $pidfile" \
		"$top/tools/vmlayout/vm.sh" -k "$kdir/arch/x86/boot/bzImage" -p 5 -s 2 -m "$dump_mem" -B \
		-a debug_pagealloc=on -f "$here/vmlayout_areas.ko" -t 1800 \
		-- "insmod /root/vmlayout_areas.ko count=$areas && echo ready > /dev/ttyS2 && sleep 1200" \
		> "$stage/dump-vm.log" 2>&1 &
	vm=$!
	waited=0
	while ! grep -q ready "$signal" && [ $waited -lt 6000 ] && kill -0 $vm 2>/dev/null; do
		sleep 0.1; waited=$((waited + 1))
	done
	t0=$(date +%s%N)
	"$top/tools/vmlayout/qmp.py" "$sock" "dump-guest-memory {\"paging\": false, \"protocol\": \"file:$dump\"}" quit
	t1=$(date +%s%N)
	kill "$(cat "$pidfile" 2>/dev/null)" 2>/dev/null || true
	wait $vm || true
	: > "$stage/check-ns"
	for run in $(seq "$runs"); do
		c0=$(date +%s%N)
		"$bin" check --vmcore "$dump" -o "$stage/dump.snap" || [ $? -le 2 ]
		echo $(($(date +%s%N) - c0)) >> "$stage/check-ns"
	done
	echo
	echo "vmlayout check --vmcore on the host, a $dump_mem guest (5-level, debug_pagealloc=on, $areas vmalloc areas):"
	echo "  dump: $(stat -c %s "$dump") bytes, written by QEMU in $(((t1 - t0) / 1000000)) ms;" \
		"$(grep -o 'table_pages=[0-9]*' "$stage/dump.snap" | head -n1) read"
	sort -n "$stage/check-ns" | awk '{ v[NR] = $1 } END {
		printf "  check: %.1f ms median [%.1f-%.1f] over %d runs, native\n", v[int(NR / 2) + 1] / 1e6, v[1] / 1e6, v[NR] / 1e6, NR }'
	# The dump's table pages as a capture (`vmlayout check --capture`), which
	# the native benchmark times beside the tree's small ones.
	if [ -n "${BENCH_CAPTURE:-}" ]; then
		"$bin" check --vmcore "$dump" -o /dev/null --capture "$BENCH_CAPTURE" || [ $? -le 2 ]
		echo "  capture of its table pages: $BENCH_CAPTURE, $(stat -c %s "$BENCH_CAPTURE") bytes"
	fi
	rm -f "$dump"
fi

# Latency: the longest stretch with interrupts off and with preemption off
# during 20 scans, from the kernel's irqsoff and preemptoff tracers, which
# need the debug variant of the kernel (PREEMPT, the tracers): each shape
# again on it, the scan max against the max of the same span idle.
if [ -n "${BENCH_DEBUG_KDIR:-}" ]; then
	echo
	echo "Latency on the debug kernel (us, longest stretch during 20 scans / the same span idle;"
	echo "'opened' counts stretches opened or closed by vmlayout's own code):"
	printf "%-6s %-5s %-4s %22s %22s\n" paging vCPUs mem "irqs off: scan/idle" "preempt off: scan/idle"
	dfiles=(-f "$BENCH_DEBUG_MODULES/vmlayout.ko" -f "$top/tools/vmlayout/guest/latency.sh")
	for paging in 5 4; do
		for shape in "1 4G" "2 4G" "2 1G" "2 16G"; do
			read -r smp mem <<< "$shape"
			out=$("$top/tools/vmlayout/vm.sh" -k "$BENCH_DEBUG_KDIR/arch/x86/boot/bzImage" -p "$paging" \
				-s "$smp" -m "$mem" -B -a "debug_pagealloc=on kmemleak=off" "${dfiles[@]}" \
				-- "sh /root/latency.sh /root/vmlayout.ko 20 100000") || { echo "$out"; exit 1; }
			lat() { sed -n "s/^latency tracer=$1 .*max_us=\([0-9]*\) idle_max_us=\([0-9]*\) opened_by_vmlayout=\([0-9]*\).*/\1\/\2 (opened \3)/p" <<< "$out"; }
			printf "%-6s %-5s %-4s %22s %22s\n" "$paging-lvl" "$smp" "$mem" "$(lat irqsoff)" "$(lat preemptoff)"
		done
	done
fi
echo
echo "made by: make bench (BENCH_RUNS=$runs BENCH_AREAS=$areas), $(date -u +%Y-%m-%d), host $(nproc) cores, QEMU TCG"
