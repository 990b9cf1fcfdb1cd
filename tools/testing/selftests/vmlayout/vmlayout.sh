#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# vmlayout kselftest: load the module, read every file it makes, and check
# each value against a source in this kernel that vmlayout did not produce:
# ptdump's markers (/sys/kernel/debug/page_tables/kernel), /proc/kallsyms
# (kptr_restrict=0) and /proc/iomem. Emits KTAP.
#
# Usage: vmlayout.sh [path/to/vmlayout.ko]   (default: modprobe vmlayout)

MODULE=${1:-}
DBG=/sys/kernel/debug/vmlayout
PTDUMP=/sys/kernel/debug/page_tables/kernel
KSFT_PASS=0 KSFT_FAIL=1 KSFT_SKIP=4
num=0 failed=0

ktap_result() { # status description
	num=$((num + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $num $2"
	else
		echo "not ok $num $2"
		failed=$((failed + 1))
	fi
}
note() { echo "# $*"; }
hex() { printf '0x%016x' "$(($1))"; }

# check DESCRIPTION EXPECTED ACTUAL: equality of two hex values, both shown.
check_eq() {
	if [ -n "$2" ] && [ -n "$3" ] && [ "$(hex "$2")" = "$(hex "$3")" ]; then
		ktap_result 0 "$1 ($(hex "$3"))"
	else
		note "$1: expected '${2:-<none>}', vmlayout says '${3:-<none>}'"
		ktap_result 1 "$1"
	fi
}

# field FILE RECORD-TYPE KEY SELECT-KEY SELECT-VALUE: value of KEY in the first
# record of that type whose SELECT-KEY equals SELECT-VALUE.
field() {
	awk -v type="$2" -v key="$3" -v sk="$4" -v sv="$5" '
	$1 == type {
		delete f
		for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		if (sk == "" || f[sk] == sv) { print f[key]; exit }
	}' "$1"
}

# ptdump_marker NAME: start of the first range after ptdump's "---[ NAME ]---".
ptdump_marker() {
	awk -v m="---[ $1 ]---" 'found { split($1, r, "-"); print r[1]; exit } $0 == m { found = 1 }' "$PTDUMP"
}

kallsyms() { awk -v s="$1" '$3 == s { print "0x" $1; exit }' /proc/kallsyms; }

load() {
	if [ -n "$MODULE" ]; then insmod "$MODULE"; else modprobe vmlayout; fi
}

echo "TAP version 13"
PLAN=25
echo "1..$PLAN"

[ "$(id -u)" -eq 0 ] || { echo "Bail out! must run as root"; exit $KSFT_FAIL; }
[ -r "$PTDUMP" ] || { echo "Bail out! $PTDUMP missing: CONFIG_PTDUMP_DEBUGFS is required (see config)"; exit $KSFT_FAIL; }
echo 0 > /proc/sys/kernel/kptr_restrict
dmesg -c > /dev/null

load; ktap_result $? "insmod vmlayout"
tmp=$(mktemp -d)
files_seen=0
for f in summary layout; do
	if cat "$DBG/$f" > "$tmp/$f" 2>/dev/null && head -n1 "$tmp/$f" | grep -qx "# vmlayout format=1 file=$f"; then
		files_seen=$((files_seen + 1))
	else
		note "$DBG/$f: unreadable or bad header: $(head -n1 "$tmp/$f" 2>/dev/null)"
	fi
done
ktap_result $((files_seen != 2)) "every file readable with a format=1 header"
mode=$(stat -c %a "$DBG/summary")
[ "$mode" = 400 ]; ktap_result $? "summary is mode 0400 (is $mode)"

S=$tmp/summary L=$tmp/layout
base() { field "$S" base value name "$1"; }
levels=$(field "$S" paging levels)
if grep -qw no5lvl /proc/cmdline || ! grep -qw la57 /proc/cpuinfo; then want=4; else want=5; fi
[ "$levels" = "$want" ]; ktap_result $? "paging mode $levels levels (cmdline and cpuinfo say $want)"

check_eq "page_offset_base against ptdump 'Low Kernel Mapping'" "$(ptdump_marker 'Low Kernel Mapping')" "$(base page_offset_base)"
check_eq "vmalloc_base against ptdump 'vmalloc() Area'" "$(ptdump_marker 'vmalloc() Area')" "$(base vmalloc_base)"
check_eq "vmemmap_base against ptdump 'Vmemmap'" "$(ptdump_marker 'Vmemmap')" "$(base vmemmap_base)"
text=$(kallsyms _text)
check_eq "kernel text base against kallsyms _text" "$text" "$(base kernel_text)"
check_eq "text slide against kallsyms _text - 0xffffffff81000000" "$((text - 0xffffffff81000000))" "$(base text_slide)"
code=$(awk -F' : ' '$2 == "Kernel code" { split($1, r, "-"); gsub(/ /, "", r[1]); print "0x" r[1]; exit }' /proc/iomem)
check_eq "phys_base: iomem 'Kernel code' = _text - __START_KERNEL_map + phys_base" \
	"$code" "$((text - 0xffffffff80000000 + $(base phys_base)))"
ram_end=$(awk -F' : ' '$2 == "System RAM" { split($1, r, "-"); e = r[2] } END { print "0x" e }' /proc/iomem)
check_eq "ram_end against the last System RAM in iomem" "$((ram_end + 1))" "$(base ram_end)"

map=$(field "$S" map name)
region() { field "$L" region "$1" name "$2"; }
[ -n "$map" ] && [ "$(region map direct-map)" = "$map" ]
ktap_result $? "layout evaluates the current map '$map'"
check_eq "layout direct-map live_start = summary" "$(base page_offset_base)" "$(region live_start direct-map)"
check_eq "layout vmalloc live_start = summary" "$(base vmalloc_base)" "$(region live_start vmalloc)"
check_eq "layout vmemmap live_start = summary" "$(base vmemmap_base)" "$(region live_start vmemmap)"
check_eq "layout kernel-text live_start against kallsyms _text" "$text" "$(region live_start kernel-text)"
check_eq "layout modules live_start against ptdump 'Modules'" "$(ptdump_marker Modules)" "$(region live_start modules)"
check_eq "layout fixmap live_start against ptdump 'Fixmap Area'" "$(ptdump_marker 'Fixmap Area')" "$(region live_start fixmap)"
check_eq "layout cpu-entry-area live_start against ptdump 'CPU entry Area'" "$(ptdump_marker 'CPU entry Area')" "$(region live_start cpu-entry-area)"
etext=$(kallsyms _etext)
tend=$(region live_end kernel-text)
[ -n "$tend" ] && [ $((tend - etext)) -ge 0 ] && [ $((tend - etext)) -lt $((1 << 30)) ]
ktap_result $? "layout kernel-text live_end $tend covers kallsyms _etext $etext"

# Every region record is complete; no error verdict on a healthy kernel.
nregions=$(grep -c '^region ' "$L")
incomplete=$(awk '$1 == "region" && !(/ doc_start=0x/ && / doc_end=0x/ && / live_start=/ && / live_end=/ && / placement=/ && / slide=/ && / verdict=/ && / severity=/)' "$L" | wc -l)
[ "$nregions" -gt 10 ] && [ "$incomplete" -eq 0 ]
ktap_result $? "layout holds $nregions complete region records"
errors=$(grep '^region .* severity=error' "$L")
[ -z "$errors" ]; ktap_result $? "layout reports no error verdict ($(grep -c 'verdict=ok' "$L") ok, $(grep -c 'verdict=departs' "$L") departs)"
[ -z "$errors" ] || echo "$errors" | sed 's/^/# /'

rmmod vmlayout && [ ! -e "$DBG" ]; ktap_result $? "rmmod removes $DBG"
load && cmp -s "$S" "$DBG/summary" && rmmod vmlayout
ktap_result $? "insmod again shows the same summary, rmmod again"
bad=$(dmesg | grep -E 'WARNING|BUG|Oops|Call Trace|general protection')
[ -z "$bad" ]; ktap_result $? "no warning, BUG or oops in dmesg"
[ -z "$bad" ] || echo "$bad" | sed 's/^/# /'

# For the host runner: the bases of this boot, to compare across boots.
for b in page_offset_base vmalloc_base vmemmap_base kernel_text; do
	note "boot-base $b=$(base "$b")"
done
rm -rf "$tmp"
echo "# Totals: pass:$((num - failed)) fail:$failed xfail:0 xpass:0 skip:0 error:0"
[ "$failed" -eq 0 ] && [ "$num" -eq "$PLAN" ] && exit $KSFT_PASS
exit $KSFT_FAIL
