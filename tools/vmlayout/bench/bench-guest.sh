#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs inside the benchmark guest (run-bench.sh boots it): loads vmlayout
# and the vmalloc-areas companion, then times, in this one boot,
#   (a) a vmlayout full scan (walk and every rule): write 1 to rescan
#   (b) ptdump: read /sys/kernel/debug/page_tables/kernel
#   (c) the kernel's W+X check: read /sys/kernel/debug/check_wx_pages
#   (d) the copy floor: copy each table page the walk visits once, with
#       copy_from_kernel_nofault() (bench file)
#   (e) the load floor: read each entry of those pages once, in place, with
#       the walk's own fault-tolerant load (bench file)
#   (f) `vmlayout check`, the same checks without the module, on /proc/kcore
#       (one CPU, the whole program: start, reads through kcore, snapshot)
# and, with 2 vCPUs, the scan again with CPU 1 offline and back online;
# then watch mode's overhead: a module storm (10 loads and unloads of the
# vmalloc-areas companion, 200 areas each) and a fork storm (200 fork and
# exec, each a vmalloc'ed stack) timed with watch mode off and on, by turns.
# and prints one "bench key=value ..." record; times are min,median,max ns.
#
#   sh bench-guest.sh RUNS AREAS
set -eu
runs=${1:-5} areas=${2:-4000}
D=/sys/kernel/debug/vmlayout
time=/root/vmlayout_time

# min,median,max of the numbers on stdin
spread() {
	# %.0f: busybox awk's %d stops at 2^31 (2.1 s in ns).
	sort -n | awk '{ v[NR] = $1 } END { printf "%.0f,%.0f,%.0f", v[1], v[int(NR / 2) + 1], v[NR] }'
}
# field $2 of the first "$1 ..." record in stats
stat() {
	awk -v type="$1" -v key="$2" '$1 == type {
		for (i = 2; i <= NF; i++) if (index($i, key "=") == 1) { print substr($i, length(key) + 2); exit }
	}' $D/stats
}

insmod /root/vmlayout.ko scan_on_load=0
insmod /root/vmlayout_areas.ko count="$areas"
# Warm up: the buffers grow to fit in the first rescans, and what they free
# is flushed lazily, later; with 2 vCPUs the (a) block right after one
# rescan ran 0.1 to 0.3 ms slower than later ones.
for settle in 1 2 3 4 5; do echo 1 > $D/rescan; done
scan_user=$($time "$runs" write $D/rescan 1 | tr ' ' ,)
ptdump=$($time "$runs" read /sys/kernel/debug/page_tables/kernel | tr ' ' ,)
wx=$($time "$runs" read /sys/kernel/debug/check_wx_pages | tr ' ' ,)
offline=$($time "$runs" exec /root/vmlayout check -o /tmp/offline.snap | tr ' ' ,)

# The fields of the last scan's phases and walk records and of the floor
# record, appended to /tmp/<name>, read with shell builtins only: no process
# is started between the timed runs, which would switch page tables and
# leave the next run cold (as an awk per field used to, before each scan
# and each floor).
collect() {
	while read -r type fields; do
		for field in $fields; do
			case $type.${field%%=*} in
			phases.total_ns) out=scan ;;
			phases.walk_ns) out=walk ;;
			phases.rules_ns) out=rules ;;
			phases.ram_ns) out=ram ;;
			phases.audit_ns) out=audit ;;
			walk.merge_ns) out=join ;;
			floor.ns) out=floor ;;
			floor.load_ns) out=load ;;
			*) continue ;;
			esac
			echo "${field#*=}" >> /tmp/$out
		done
	done < $D/stats
}

# In-module timers, for (a)/(d) and the per-phase breakdown: a scan, then
# the floors, back to back.
: > /tmp/scan /tmp/walk /tmp/rules /tmp/join /tmp/ram /tmp/audit /tmp/floor /tmp/load
i=0
while [ $i -lt "$runs" ]; do
	echo 1 > $D/rescan
	echo floor > $D/bench
	collect
	i=$((i + 1))
done
# The module's total_ns of the last scan, appended to file $1 with shell
# builtins only (see collect).
append_total() {
	while read -r type fields; do
		[ "$type" = phases ] || continue
		for field in $fields; do
			case $field in total_ns=*) echo "${field#total_ns=}" >> "$1"; return ;; esac
		done
	done < $D/stats
}

# Same boot, 2 CPUs online against 1: CPU 1 taken offline and back, three
# rounds, each a block of back-to-back rescans after five to settle, timed
# from user space, then a block timed by the module; the spread of the
# blocks' medians.
hotplug=
cpu1=/sys/devices/system/cpu/cpu1/online
if [ -w $cpu1 ]; then
	: > /tmp/one /tmp/two /tmp/one_mod /tmp/two_mod
	for round in 1 2 3; do
		for online in 0 1; do
			echo $online > $cpu1
			# Settle first: the first rescans after a CPU comes
			# online are slower (no pause: an idle guest is slower
			# to come back under TCG).
			for settle in 1 2 3 4 5; do echo 1 > $D/rescan; done
			out=/tmp/one
			[ $online = 0 ] || out=/tmp/two
			$time "$runs" write $D/rescan 1 | cut -d' ' -f2 >> $out
			: > /tmp/block
			i=0
			while [ $i -lt "$runs" ]; do
				echo 1 > $D/rescan
				append_total /tmp/block
				i=$((i + 1))
			done
			spread < /tmp/block | cut -d, -f2 >> ${out}_mod
		done
	done
	hotplug="one_cpu=$(spread < /tmp/one) two_cpus=$(spread < /tmp/two)"
	hotplug="$hotplug one_cpu_mod=$(spread < /tmp/one_mod) two_cpus_mod=$(spread < /tmp/two_mod)"
fi
echo "bench cpus=$(stat walk cpus) mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo)" \
	"table_pages=$(stat walk table_pages) floor_pages=$(stat floor table_pages)" \
	"ranges=$(stat walk ranges) scan_user=$scan_user ptdump=$ptdump wx=$wx offline=$offline" \
	"scan=$(spread < /tmp/scan) walk=$(spread < /tmp/walk) rules=$(spread < /tmp/rules)" \
	"join=$(spread < /tmp/join) ram=$(spread < /tmp/ram) audit=$(spread < /tmp/audit) floor=$(spread < /tmp/floor)" \
	"load=$(spread < /tmp/load) $hotplug"
grep -E '^(walk|cpu|phases|floor) ' $D/stats
rmmod vmlayout_areas

# Watch mode off and on by turns, three rounds: each storm's wall time, from
# user space, the medians' spread; and with watch mode on, the time its
# re-checks took during the storm (summary's busy_ns), the cost itself,
# which the wall times show only through the guest's noise.
storm='i=0; while [ $i -lt 10 ]; do insmod /root/vmlayout_areas.ko count=200;
	rmmod vmlayout_areas; i=$((i + 1)); done'
forks='i=0; while [ $i -lt 200 ]; do /bin/true; i=$((i + 1)); done'
busy() { sed -n 's/^watch .* busy_ns=\([0-9]*\) .*/\1/p' $D/summary; }
# timed NAME WATCH CMD: CMD's wall time in /tmp/NAME_WATCH; with watch mode
# on, the re-checks' time meanwhile in /tmp/NAME_busy.
timed() {
	local b0
	b0=$(busy)
	$time 1 exec /bin/sh -c "$3" | cut -d' ' -f2 >> "/tmp/$1_$2"
	[ "$2" = off ] || echo $(($(busy) - b0)) >> "/tmp/$1_busy"
}
: > /tmp/storm_off /tmp/storm_on /tmp/forks_off /tmp/forks_on /tmp/storm_busy /tmp/forks_busy
for round in 1 2 3; do
	for watch in off on; do
		[ $watch = on ] && echo 1 > $D/watch || echo 0 > $D/watch
		timed storm $watch "$storm"
		timed forks $watch "$forks"
	done
done
echo 0 > $D/watch
echo "watch storm_off=$(spread < /tmp/storm_off) storm_on=$(spread < /tmp/storm_on)" \
	"forks_off=$(spread < /tmp/forks_off) forks_on=$(spread < /tmp/forks_on)" \
	"storm_busy=$(spread < /tmp/storm_busy) forks_busy=$(spread < /tmp/forks_busy)"
grep -E '^(watch|hook) ' $D/summary
rmmod vmlayout
