#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# vmlayout kselftest: load the module, read every file it makes, and check
# each value against a source in this kernel that vmlayout did not produce:
# ptdump's markers (/sys/kernel/debug/page_tables/kernel), /proc/kallsyms
# (kptr_restrict=0) and /proc/iomem. Emits KTAP.
#
# Usage: vmlayout.sh [vmlayout.ko [vmlayout_plant.ko]]
#   default: vmlayout built in, or modprobe vmlayout; the companion module
#   from test_modules/ (built by this directory's Makefile against KDIR).
# Skips (KSFT_SKIP) when not root or without vmlayout. On a kernel as
# distributions build them, the cases that need what it lacks are KTAP
# SKIPs with the reason, and every other case runs: without ptdump
# (CONFIG_PTDUMP_DEBUGFS) the comparisons with it; without the kernel's
# W+X check (CONFIG_DEBUG_WX) that one; under lockdown (integrity or
# more), which refuses debugfs writes, every case that rescans or plants.

MODULE=${1:-}
PLANT=${2:-$(dirname "$0")/test_modules/vmlayout_plant.ko}
DBG=/sys/kernel/debug/vmlayout
PTDUMP=/sys/kernel/debug/page_tables/kernel
WX=/sys/kernel/debug/check_wx_pages

. "$(dirname "$0")/../kselftest/ktap_helpers.sh"

# ktap_result STATUS DESCRIPTION...: one test, passed if STATUS is 0; the
# description's words joined by a space (so that a long one can be wrapped).
ktap_result() {
	local rc=$1
	shift
	if [ "$rc" -eq 0 ]; then ktap_test_pass "$*"; else ktap_test_fail "$*"; fi
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

# ptdump_marker NAME: start of the first range after ptdump's "---[ NAME ]---",
# from one copy of ptdump taken at the start (the markers do not move, and
# ptdump takes seconds per read on a KASAN kernel).
ptdump_marker() {
	awk -v m="---[ $1 ]---" 'found { split($1, r, "-"); print r[1]; exit }
		$0 == m { found = 1 }' "$tmp/ptdump.first"
}

kallsyms() { awk -v s="$1" '$3 == s { print "0x" $1; exit }' /proc/kallsyms; }

# What this kernel lacks, each a reason to skip the cases that need it
# (empty: it has it).
NO_PTDUMP="" NO_WX="" LOCKED=""
[ -r "$PTDUMP" ] || NO_PTDUMP="no $PTDUMP (CONFIG_PTDUMP_DEBUGFS)"
[ -r "$WX" ] || NO_WX="no $WX (CONFIG_DEBUG_WX)"
# locked_down: whether debugfs refuses writes (LOCKDOWN_DEBUGFS, at every
# lockdown level), by opening rescan for writing, which writes nothing;
# LOCKED then says so, with the level where securityfs tells it.
locked_down() {
	! (: > "$DBG/rescan") 2>/dev/null || return 1
	lsm=/sys/kernel/security/lockdown
	[ -r $lsm ] || mount -t securityfs none /sys/kernel/security 2>/dev/null
	level=$(sed -n 's/.*\[\([a-z]*\)\].*/\1/p' $lsm 2>/dev/null)
	LOCKED="lockdown${level:+=$level}: debugfs refuses writes (LOCKDOWN_DEBUGFS)"
}

# skip_if REASON DESCRIPTION...: when REASON is not empty, a KTAP skip of
# each DESCRIPTION with REASON, and status 0 (the caller's cases are not
# run).
skip_if() {
	[ -n "$1" ] || return 1
	why=$1
	shift
	for d; do ktap_test_skip "$d: $why"; done
}
# both REASON REASON: the two, either, or nothing.
both() { echo "$1${1:+${2:+; }}$2"; }

# check_ptdump DESCRIPTION MARKER ACTUAL: check_eq against ptdump's MARKER.
check_ptdump() {
	skip_if "$NO_PTDUMP" "$1" || check_eq "$1" "$(ptdump_marker "$2")" "$3"
}

# load_failed: why insmod failed, when the kernel says (a module signature
# it does not accept), then the run ends: every case needs the module.
load_failed() {
	if [ "$(cat /sys/module/module/parameters/sig_enforce 2>/dev/null)" = Y ]; then
		note "the kernel enforces module signatures (sig_enforce=Y," \
			"CONFIG_MODULE_SIG_FORCE or"
		note "lockdown): $MODULE must be signed with a key it trusts, such as its build's"
		note "certs/signing_key.pem (scripts/sign-file, as make modules_install signs;"
		note "tools/vmlayout/sign-modules.sh KDIR $MODULE)"
	fi
	klog | grep -iE 'module|vmlayout' | tail -n 3 | sed 's/^/# dmesg: /'
	ktap_exit_fail_msg "insmod $MODULE failed: every case needs the module"
}

load() {
	if [ -n "$MODULE" ]; then insmod "$MODULE"; else modprobe vmlayout; fi
}

# The userspace reporter (tools/vmlayout/reporter, `vmlayout`): its JSON
# counts against findings, its exit status against the severities there.
# VMLAYOUT_TOOL names it (the runners set it: then it must be there);
# otherwise `vmlayout` next to this script or in PATH, or the two tests
# are skipped.
TOOL=${VMLAYOUT_TOOL:-}
if [ -z "$TOOL" ]; then
	TOOL=$(dirname "$0")/vmlayout
	[ -x "$TOOL" ] || TOOL=$(command -v vmlayout || true)
fi

# reporter_check WHEN: `vmlayout report --json` on the live files agrees
# with findings (per severity, every rule's found=) and its exit status is
# 2 with an error finding or region verdict, 1 with a warning finding or a
# stale scan, else 0.
reporter_check() {
	if [ -z "$TOOL" ] && [ -z "${VMLAYOUT_TOOL:-}" ]; then
		ktap_test_skip "vmlayout report --json $1: no vmlayout tool (VMLAYOUT_TOOL)"
		return
	fi
	st=0
	"$TOOL" report --json > "$tmp/report.json" 2> "$tmp/report.err" || st=$?
	cp "$DBG/findings" "$tmp/findings.now"
	F=$tmp/findings.now
	bad=""
	for sev in error warn info; do
		want=$(grep -c "^finding .* severity=$sev " "$F")
		got=$(sed -n "s/^ *\"$sev\": \([0-9]*\),*\$/\1/p" "$tmp/report.json" | head -n1)
		[ "$want" = "$got" ] || bad="$bad $sev:$got/$want"
	done
	want=$(awk '$1 == "rule" { for (i = 2; i <= NF; i++) if ($i ~ /^found=/) {
		sub(/found=/, "", $i); n += $i } } END { print n + 0 }' "$F")
	got=$(sed -n 's/^ *"found": \([0-9]*\),*$/\1/p' "$tmp/report.json" |
		awk '{ n += $1 } END { print n + 0 }')
	[ "$want" = "$got" ] || bad="$bad found:$got/$want"
	map=$(field "$F" scope map)
	if grep -q "^finding .* severity=error " "$F" ||
		grep "^region map=$map " "$DBG/layout" | grep -q " severity=error "; then
		want_st=2
	elif grep -qE "^(finding .* severity=warn |stale )" "$F"; then
		want_st=1
	else
		want_st=0
	fi
	[ "$st" = "$want_st" ] || bad="$bad status:$st/$want_st"
	[ -z "$bad" ]; ktap_result $? "vmlayout report --json $1: counts and exit status $st" \
		"agree with findings${bad:+ (got/want:$bad)}"
	[ -z "$bad" ] || sed 's/^/# /' "$tmp/report.err"
}

# snap_file SNAPSHOT FILE: the records of one file of a snapshot.
snap_file() {
	awk -v want="$2" '/^file name=/ { inside = ($2 == "name=" want); next }
		/^end files=/ { inside = 0 } inside' "$1"
}

# offline_kernel FILE: the reference's warn or error findings (rule,
# severity, region, addresses, attributes), then its ranges outside the
# regions whose mappings come and go while the system runs (the direct map,
# whose pages debug_pagealloc maps and unmaps with every allocation;
# vmalloc; modules; KASAN_VMALLOC's shadow of vmalloc), one per line.
offline_kernel() {
	awk '$1 == "region" { churn = / name=(direct-map|vmalloc|modules|kasan-shadow) / }
		$1 == "finding" && / table=kernel / && / severity=(warn|error) / {
			sub(/ reason=.*/, ""); sub(/ owner=[a-z]+( cpu=[0-9]+)?/, "")
			sub(/ belongs_to=("[^"]*"|[^ ]*)/, "")
			sub(/ first_ns=[0-9]+ last_ns=[0-9]+/, ""); print }
		$1 == "range" && / table=kernel / && !churn' "$1"
}

# offline_check FROM WHEN [PATTERN]: `vmlayout check` without the module,
# FROM kcore (on /proc/kcore) or tables (on the module's `tables` file, the
# table pages a walk reads as a core file, read with `check --vmcore`),
# agrees with the module's scan: the same warn or error findings on the
# reference and the same ranges outside the regions whose mappings churn
# (offline_kernel). Each try is module, check, module: the check agrees
# when it equals either module read, so that a change between two reads (a
# vmalloc area freed in between) is told apart from a disagreement; a
# change retries, at most 3 times, and how many ranges of the churning
# regions differed is noted. PATTERN: a finding both must have.
offline_check() {
	from=$1
	shift
	if [ -z "$TOOL" ] || [ ! -r /proc/kcore ]; then
		ktap_test_skip "vmlayout check on $from $1: no vmlayout tool or no /proc/kcore"
		return
	fi
	agree=0 tries=0
	while [ $agree -eq 0 ] && [ $tries -lt 3 ]; do
		tries=$((tries + 1))
		echo 1 > "$DBG/rescan"
		cat "$DBG/map" "$DBG/findings" > "$tmp/mod1"
		rm -f "$tmp/offline.snap"
		st=0
		if [ "$from" = tables ]; then
			cat "$DBG/tables" > "$tmp/tables.elf" || { st=4; break; }
			"$TOOL" check --vmcore "$tmp/tables.elf" -o "$tmp/offline.snap" \
				2> "$tmp/offline.err" || st=$?
		else
			"$TOOL" check -o "$tmp/offline.snap" 2> "$tmp/offline.err" || st=$?
		fi
		# 0, 1 or 2: the report's status; 3 is an error.
		[ $st -le 2 ] || break
		echo 1 > "$DBG/rescan"
		cat "$DBG/map" "$DBG/findings" > "$tmp/mod2"
		{ snap_file "$tmp/offline.snap" map; snap_file "$tmp/offline.snap" findings; } \
			> "$tmp/off"
		offline_kernel "$tmp/off" > "$tmp/off.k"
		for m in mod1 mod2; do
			offline_kernel "$tmp/$m" > "$tmp/$m.k"
			cmp -s "$tmp/$m.k" "$tmp/off.k" && agree=1
		done
	done
	ranges=$(grep -c '^range ' "$tmp/off.k" 2>/dev/null || true)
	# Lines in one read only (busybox has no comm).
	churned=$(grep -h '^range table=kernel ' "$tmp/off" "$tmp/mod2" | sort | uniq -u | grep -c .)
	found=1 origin=kcore what=/proc/kcore
	if [ "$from" = tables ]; then
		origin=vmcore
		what="the tables file ($(($(wc -c < "$tmp/tables.elf") / 1024)) KiB)"
	fi
	[ -z "${2:-}" ] || { grep -q "^finding table=kernel $2" "$tmp/off" || found=0; }
	[ $agree -eq 1 ] && [ "$ranges" -gt 0 ] && [ $found -eq 1 ] && [ $st -le 2 ] &&
		grep -q "^origin source=$origin" "$tmp/offline.snap"
	ktap_result $? "vmlayout check on $what $1: the module's findings and $ranges ranges" \
		"outside the churning regions${2:+, the planted finding among them} (try $tries;" \
		"$churned direct-map, vmalloc or module ranges changed between the reads)"
	[ $agree -eq 1 ] || { diff "$tmp/mod2.k" "$tmp/off.k" | head -n 20 | sed 's/^/# /'
		sed 's/^/# /' "$tmp/offline.err"; }
}

ktap_print_header
PLAN=90

[ "$(id -u)" -eq 0 ] || { ktap_skip_all "must run as root"; exit "$KSFT_SKIP"; }
# Built in (CONFIG_X86_VMLAYOUT=y): the load-time scan ran at boot; there is
# no module to load, unload or hold open across rmmod.
builtin=0
if [ -z "$MODULE" ] && [ -d "$DBG" ] && [ ! -e /sys/module/vmlayout/initstate ]; then
	builtin=1
elif [ -z "$MODULE" ] && [ ! -d "$DBG" ] &&
	[ -z "$(find "/lib/modules/$(uname -r)" -name 'vmlayout.ko*' 2>/dev/null)" ]; then
	ktap_skip_all "no vmlayout module (CONFIG_X86_VMLAYOUT) and none given"; exit "$KSFT_SKIP"
fi
ktap_set_plan $PLAN

# Leave kptr_restrict and the kernel log as they were: the log is marked,
# not cleared, and only what follows the mark is read.
kptr_restrict=$(cat /proc/sys/kernel/kptr_restrict)
mark="vmlayout-kselftest-$$-$(date +%s)"
echo "$mark" > /dev/kmsg
klog() { dmesg | sed -n "/$mark/,\$p"; }
echo 0 > /proc/sys/kernel/kptr_restrict
cleanup() {
	echo "$kptr_restrict" > /proc/sys/kernel/kptr_restrict
	[ -z "${ldt_pid:-}" ] || kill "$ldt_pid" 2>/dev/null
	[ -n "${tmp:-}" ] && rm -rf "$tmp"
}
trap cleanup EXIT

if [ "$builtin" -eq 1 ]; then
	# The boot-time scan runs once the system runs (after text is made
	# read-only): wait for it, a minute at most.
	waited=0
	while ! grep -q '^scope ' "$DBG/findings" && [ $waited -lt 600 ]; do
		sleep 0.1; waited=$((waited + 1))
	done
	grep -q '^scope ' "$DBG/findings"
	ktap_result $? "vmlayout built in: the boot-time scan's findings are there with no insmod"
else
	load; rc=$?
	ktap_result $rc "insmod vmlayout"
	[ $rc -eq 0 ] || load_failed
fi
tmp=$(mktemp -d)
# A process with an LDT for the whole run: with PTI its mm has its own LDT
# remap slot, which the scan must show and must not call unsynced.
LDT_HOLDER=$(dirname "$0")/vmlayout_ldt
ldt_pid=""
if [ -x "$LDT_HOLDER" ]; then
	"$LDT_HOLDER" > "$tmp/ldt.out" 2>&1 &
	ldt_pid=$!
	waited=0
	while ! grep -q "ldt ready" "$tmp/ldt.out" && [ $waited -lt 50 ]; do
		grep -q "ldt unavailable" "$tmp/ldt.out" && break
		sleep 0.1; waited=$((waited + 1))
	done
fi
# A kernel without modify_ldt() gives no process an LDT: the LDT remap
# case is then skipped, with the reason.
NO_LDT=""
if grep -q "ldt unavailable" "$tmp/ldt.out" 2>/dev/null; then
	why=$(sed -n 's/^ldt unavailable: //p' "$tmp/ldt.out")
	NO_LDT="no process can have an LDT ($why; CONFIG_MODIFY_LDT_SYSCALL)"
	ldt_pid=""
fi
[ -n "$NO_PTDUMP" ] || cat "$PTDUMP" > "$tmp/ptdump.first"
locked_down
missing="${NO_PTDUMP:+; $NO_PTDUMP}${NO_WX:+; $NO_WX}${NO_LDT:+; $NO_LDT}${LOCKED:+; $LOCKED}"
note "kernel: $(uname -r)$missing"
files_seen=0
for f in summary layout map findings stats; do
	if cat "$DBG/$f" > "$tmp/$f" 2>/dev/null &&
		head -n1 "$tmp/$f" | grep -qx "# vmlayout format=2 file=$f"; then
		files_seen=$((files_seen + 1))
	else
		note "$DBG/$f: unreadable or bad header: $(head -n1 "$tmp/$f" 2>/dev/null)"
	fi
done
ktap_result $((files_seen != 5)) "every file readable with a format=2 header"
mode=$(stat -c %a "$DBG/summary")
[ "$mode" = 400 ]; ktap_result $? "summary is mode 0400 (is $mode)"

S=$tmp/summary L=$tmp/layout
base() { field "$S" base value name "$1"; }
levels=$(field "$S" paging levels)
if grep -qw no5lvl /proc/cmdline || ! grep -qw la57 /proc/cpuinfo; then want=4; else want=5; fi
[ "$levels" = "$want" ]; ktap_result $? "paging mode $levels levels (cmdline and cpuinfo say $want)"

check_ptdump "page_offset_base against ptdump 'Low Kernel Mapping'" 'Low Kernel Mapping' \
	"$(base page_offset_base)"
check_ptdump "vmalloc_base against ptdump 'vmalloc() Area'" 'vmalloc() Area' "$(base vmalloc_base)"
check_ptdump "vmemmap_base against ptdump 'Vmemmap'" 'Vmemmap' "$(base vmemmap_base)"
text=$(kallsyms _text)
check_eq "kernel text base against kallsyms _text" "$text" "$(base kernel_text)"
check_eq "text slide against kallsyms _text - 0xffffffff81000000" \
	"$((text - 0xffffffff81000000))" "$(base text_slide)"
code=$(awk -F' : ' '$2 == "Kernel code" {
	split($1, r, "-"); gsub(/ /, "", r[1]); print "0x" r[1]; exit }' /proc/iomem)
check_eq "phys_base: iomem 'Kernel code' = _text - __START_KERNEL_map + phys_base" \
	"$code" "$((text - 0xffffffff80000000 + $(base phys_base)))"
ram_end=$(awk -F' : ' '$2 == "System RAM" { split($1, r, "-"); e = r[2] }
	END { print "0x" e }' /proc/iomem)
check_eq "ram_end against the last System RAM in iomem" "$((ram_end + 1))" "$(base ram_end)"

map=$(field "$S" map name)
region() { field "$L" region "$1" name "$2"; }
[ -n "$map" ] && [ "$(region map direct-map)" = "$map" ]
ktap_result $? "layout evaluates the current map '$map'"
check_eq "layout direct-map live_start = summary" "$(base page_offset_base)" \
	"$(region live_start direct-map)"
check_eq "layout vmalloc live_start = summary" "$(base vmalloc_base)" "$(region live_start vmalloc)"
check_eq "layout vmemmap live_start = summary" "$(base vmemmap_base)" "$(region live_start vmemmap)"
check_eq "layout kernel-text live_start against kallsyms _text" "$text" \
	"$(region live_start kernel-text)"
check_ptdump "layout modules live_start against ptdump 'Modules'" Modules \
	"$(region live_start modules)"
check_ptdump "layout fixmap live_start against ptdump 'Fixmap Area'" 'Fixmap Area' \
	"$(region live_start fixmap)"
check_ptdump "layout cpu-entry-area live_start against ptdump 'CPU entry Area'" 'CPU entry Area' \
	"$(region live_start cpu-entry-area)"
etext=$(kallsyms _etext)
tend=$(region live_end kernel-text)
[ -n "$tend" ] && [ $((tend - etext)) -ge 0 ] && [ $((tend - etext)) -lt $((1 << 30)) ]
ktap_result $? "layout kernel-text live_end $tend covers kallsyms _etext $etext"

# Every region record is complete; no error verdict on a healthy kernel.
nregions=$(grep -c '^region ' "$L")
incomplete=$(awk '$1 == "region" && !(/ doc_start=0x/ && / doc_end=0x/ && / live_start=/ &&
	/ live_end=/ && / placement=/ && / slide=/ && / verdict=/ && / severity=/)' "$L" | wc -l)
[ "$nregions" -gt 10 ] && [ "$incomplete" -eq 0 ]
ktap_result $? "layout holds $nregions complete region records"
errors=$(grep '^region .* severity=error' "$L")
[ -z "$errors" ]; ktap_result $? "layout reports no error verdict ($(grep -c 'verdict=ok' "$L")" \
	"ok, $(grep -c 'verdict=departs' "$L") departs)"
[ -z "$errors" ] || echo "$errors" | sed 's/^/# /'


# ---- The walk -------------------------------------------------------------
F=$tmp/findings M=$tmp/map ST=$tmp/stats
ranges=$(field "$F" scope ranges)
online=$(grep -c '^processor' /proc/cpuinfo)
mms=$(field "$F" scope mms_checked)
if [ "$builtin" -eq 1 ] && [ "${mms:-0}" -eq 0 ] && [ -z "$LOCKED" ]; then
	# The boot-time scan can run before /init has an mm: a rescan's count.
	echo 1 > "$DBG/rescan"
	mms=$(field "$DBG/findings" scope mms_checked)
fi
[ "${ranges:-0}" -gt 20 ] && [ "$(field "$F" scope cpus_checked)" = "$online" ] &&
	[ "${mms:-0}" -gt 0 ] && [ "$(grep -c '^rule ' "$F")" -ge 10 ]
ktap_result $? "findings shows what it looked at: $ranges ranges, $online CPUs, $mms mms, every" \
	"rule with a count"
errs=$(grep '^finding .*severity=error' "$F")
[ -z "$errs" ]; ktap_result $? "load-time scan of a clean boot: zero error findings"
[ -z "$errs" ] || echo "$errs" | sed 's/^/# /'
walked=$(field "$ST" walk cpus)
[ "$walked" = "$online" ] && [ "$(grep -c '^cpu ' "$ST")" = "$online" ]
ktap_result $? "stats: the walk ran on all $online online CPUs"
# Bytes per region in stats add up to the bytes in map.
map_bytes=$(awk '$1 == "range" && $2 == "table=kernel" { n = 1; for (i = 2; i <= NF; i++) {
	split($i, kv, "="); if (kv[1] == "size") b = kv[2]; if (kv[1] == "repeat") n = kv[2] }
	t += b * n } END { printf "%.0f", t }' "$M")
stat_bytes=$(awk '$1 == "region" { for (i = 2; i <= NF; i++) if ($i ~ /^bytes_/) {
	sub(/bytes_[0-9a-z]*=/, "", $i); t += $i } } END { printf "%.0f", t }' "$ST")
[ "$map_bytes" = "$stat_bytes" ] && [ "$map_bytes" -gt 0 ]
ktap_result $? "stats bytes per region add up to map ($map_bytes bytes)"

# map against ptdump, range for range. Normalisations: only mapped ranges;
# adjacent lines with equal attributes and level merged on both sides
# (ptdump splits at its markers and at accessed/dirty bits, which it does
# not print); ends exclusive as ptdump prints them. The two walks are not
# atomic: vmalloc areas made or freed between them (the scan's own buffers,
# seq_file buffers) may be on one side only, so lines inside vmalloc space
# that only one side has are listed but allowed (and direct-map lines too
# under debug_pagealloc=on, which maps and unmaps free pages, and the KASAN
# shadow of vmalloc space under KASAN_VMALLOC, which comes and goes with the
# areas); every other line, and every line both have, must match exactly.
# A run record (repeat=N) stands for N ranges; the first 16 are compared
# one by one. ptdump prints at most 16 lines of the ESPfix area and then
# "... S entries skipped ...": map's ranges in the part it skipped are
# counted instead, and S must be what they imply (each range and the gap
# before it are two entries; the area's tail adds at most four more).
# Reading uses shell builtins.
merge() { awk '{ if ($1 == e && $3 == a && $4 == l) { e = $2; next }
	if (s != "") print s, e, a, l; s = $1; e = $2; a = $3; l = $4 }
	END { if (s != "") print s, e, a, l }'; }
snapshot() {
	echo 1 > "$DBG/rescan"
	while IFS= read -r line; do echo "$line"; done < "$1" > "$tmp/ptdump.raw"
	while IFS= read -r line; do echo "$line"; done < "$DBG/map" > "$tmp/map.raw"
}
# map's range records as "start end attrs level" lines; a run's copies past
# the 16th as one "first_start last_end count" line in $tmp/map.hidden.
map_lines() {
	: > "$tmp/map.hidden"
	grep "^range table=$1 " "$tmp/map.raw" |
		while read -r _ _ start last _ level _ attrs _ _ _ repeat stride _; do
		start=${start#start=} last=${last#last=} n=${repeat#repeat=} step=${stride#stride=}
		[ -n "$n" ] || n=1 step=0
		k=0
		while [ $k -lt "$n" ] && [ $k -lt 16 ]; do
			printf '0x%016x 0x%016x %s %s\n' $((start + k * step)) \
				$((last + k * step + 1)) "${attrs#attrs=}" "${level#level=}"
			k=$((k + 1))
		done
		[ "$n" -le 16 ] || printf '0x%016x 0x%016x %s\n' $((start + 16 * step)) \
			$((last + (n - 1) * step + 1)) $((n - 16)) >> "$tmp/map.hidden"
	done
}
# map_vs_ptdump [PTDUMP_FILE TABLE]: map's TABLE ranges (default the
# reference, table=kernel) against that ptdump file's kernel half.
map_vs_ptdump() {
	snapshot "${1:-$PTDUMP}"
	awk -v hidden="$tmp/ptdump.hidden" 'BEGIN { printf "" > hidden }
	     /^---\[ Kernel Space \]---/ || /^---\[ LDT remap \]---/ && !k { k = 1; next }
	     !k || /^---/ { next }
	     / entries skipped / { skipped = $2; next }
	     { split($1, r, "-")
	       if (skipped != "") { print from, r[1], skipped > hidden; skipped = "" }
	       from = r[2]
	       a = ""; for (i = 3; i < NF; i++) a = a (a == "" ? "" : ",") $i
	       if (a !~ /RW|ro/) next; print r[1], r[2], a, $NF }' "$tmp/ptdump.raw" |
		merge > "$tmp/ptdump.norm"
	map_lines "${2:-kernel}" | merge > "$tmp/map.norm"
	vstart=$(region live_start vmalloc) vend=$(region live_end vmalloc)
	# debug_pagealloc maps and unmaps direct-map pages on every allocation.
	ds=- de=-
	if grep -qw debug_pagealloc=on /proc/cmdline; then
		ds=$(region live_start direct-map) de=$(region live_end direct-map)
	fi
	# KASAN: shadow(a) = (a >> 3) + offset; offset from ptdump's marker,
	# which is the shadow of the kernel half's first address.
	ss=- se=-
	kasan=$(ptdump_marker 'KASAN shadow')
	if [ -n "$kasan" ]; then
		half=$((-1 << (levels == 5 ? 56 : 47)))
		off=$((kasan - ((half >> 3) & 0x1fffffffffffffff)))
		ss=$(hex $((((vstart >> 3) & 0x1fffffffffffffff) + off)))
		se=$(hex $((((vend >> 3) & 0x1fffffffffffffff) + off)))
	fi
	awk -v vs="$vstart" -v ve="$vend" -v ds="$ds" -v de="$de" -v ss="$ss" -v se="$se" \
	    -v out="$tmp/allowed" -v hidden="$tmp/ptdump.hidden" -v mhidden="$tmp/map.hidden" \
	    -v capped="$tmp/capped" '
	BEGIN {
		printf "" > capped
		n = 0
		while ((getline l < hidden) > 0) {
			split(l, h, " "); hs[n] = h[1]; he[n] = h[2]; hk[n] = h[3]; hm[n] = 0; n++
		}
		while ((getline l < mhidden) > 0) {
			split(l, h, " "); i = win(h[1], h[2])
			if (i < 0) {
				print "> run beyond ptdump\x27s cap " l; bad = 1
			} else hm[i] += h[3]
		}
	}
	function win(s, e,   i) {
		for (i = 0; i < n; i++) if (s >= hs[i] && e <= he[i]) return i; return -1
	}
	FNR == NR { p[$0] = 1; next }
	{ i = win($1, $2); if (i >= 0) { hm[i]++; next }
		if ($0 in p) delete p[$0]; else only(">", $0) }
	END {
		for (l in p) only("<", l)
		for (i = 0; i < n; i++) {
			if (hk[i] < 2 * hm[i] || hk[i] > 2 * hm[i] + 4) {
				print "ptdump skipped " hk[i] " entries in " hs[i] "-" he[i] \
				      ", map has " hm[i] " ranges there"; bad = 1 }
			else print hk[i], hm[i] > capped
		}
		exit bad
	}
	function only(side, l,   f) {
		split(l, f, " ")
		if ((f[1] >= vs && f[2] <= ve) || (f[1] >= ds && f[2] <= de) ||
		    (f[1] >= ss && f[2] <= se)) { print side, l >> out; allowed++ }
		else { print side, l; bad = 1 }
	}' "$tmp/ptdump.norm" "$tmp/map.norm" > "$tmp/mismatch"
}
# map_vs_ptdump_tries ARGS...: map_vs_ptdump, again on a mismatch (churn
# between the two reads) up to 4 more times; $tries retries were taken and
# $tmp/allowed is the last attempt's. Each try reads ptdump once, which on a
# 5-level KASAN kernel takes ptdump most of a minute under TCG.
map_vs_ptdump_tries() {
	tries=0
	while rm -f "$tmp/allowed"; ! map_vs_ptdump "$@"; do
		[ $tries -lt 4 ] || return 1
		tries=$((tries + 1))
	done
}
if skip_if "$(both "$NO_PTDUMP" "$LOCKED")" "map matches ptdump range for range"; then
	:
elif map_vs_ptdump_tries; then
	capped=""
	[ ! -s "$tmp/capped" ] || capped=", past ptdump's cap: $(awk '{
		printf "%s%s entries skipped by ptdump for %s ranges", s, $1, $2;
		s = "; " }' "$tmp/capped")"
	ktap_result 0 "map matches ptdump range for range ($(wc -l < "$tmp/map.norm") merged" \
		"ranges, $(cat "$tmp/allowed" 2>/dev/null | wc -l) vmalloc lines on one side" \
			"only, $tries retries$capped)"
	sed 's/^/# vmalloc churn: /' "$tmp/allowed" 2>/dev/null | head -5
else
	note "map and ptdump differ outside vmalloc churn (ptdump <, vmlayout >):"
	head -10 "$tmp/mismatch" | sed 's/^/# /'
	ktap_result 1 "map matches ptdump range for range"
fi

# ---- The other tables: EFI's, the LDT remap, ESPFIX -------------------------
# EFI's table: built in, on a kernel with EFI runtime services, vmlayout
# walks efi_mm's own entries (the 1:1 runtime map in the lower half, the EFI
# window); they must match ptdump's dump of efi_mm range for range. A
# module cannot reach efi_mm: then summary must say so, with the reason.
[ -n "$LOCKED" ] || echo 1 > "$DBG/rescan"
cat "$DBG/summary" > "$S"; cat "$DBG/map" > "$M"
cat "$DBG/findings" > "$F"; cat "$DBG/layout" > "$L"
efi_checked=$(field "$S" table checked name efi)
EFI_PTDUMP=/sys/kernel/debug/page_tables/efi
if [ "$efi_checked" = 1 ] && [ -r "$EFI_PTDUMP" ]; then
	es=$(region live_start efi) ee=$(region live_end efi)
	awk -v es="$es" -v ee="$ee" '/^---/ || / entries skipped / { next }
	     { a = ""; for (i = 3; i < NF; i++) a = a (a == "" ? "" : ",") $i
	       if (a !~ /RW|ro/) next; split($1, r, "-")
	       if (r[1] < "0x8000000000000000" ||
	           (r[1] >= es && r[1] <= ee)) print r[1], r[2], a, $NF }' "$EFI_PTDUMP" |
		merge > "$tmp/efi.ptdump"
	grep '^range table=efi ' "$M" | while read -r _ _ start last _ level _ attrs _; do
		printf '%s 0x%016x %s %s\n' "${start#start=}" $((${last#last=} + 1)) \
			"${attrs#attrs=}" "${level#level=}"
	done | awk -v es="$es" -v ee="$ee" '$1 < "0x8000000000000000" || ($1 >= es && $1 <= ee)' |
		merge > "$tmp/efi.map"
	n=$(wc -l < "$tmp/efi.map")
	[ "$n" -gt 0 ] && cmp -s "$tmp/efi.ptdump" "$tmp/efi.map"
	ktap_result $? "EFI table: map table=efi matches ptdump's efi_mm dump in the 1:1 map and" \
		"the EFI window ($n merged ranges)"
	cmp -s "$tmp/efi.ptdump" "$tmp/efi.map" ||
		diff "$tmp/efi.ptdump" "$tmp/efi.map" | head -10 | sed 's/^/# /'
else
	reason=$(field "$S" table reason name efi)
	[ "$efi_checked" = 0 ] && [ -n "$reason" ] && ! grep -q '^range table=efi ' "$M"
	ktap_result $? "EFI table not checked here, and summary says why: $reason"
fi

# PTI: with it on, the LDT holder's mm has its own LDT remap slot, which map
# shows under its pid, read-only and not executable; with it off, there is
# no LDT remap and summary says PTI is off. Either way, no warn or error.
pti=$(field "$S" pti enabled)
ldt_ranges=$(awk -v pid="$ldt_pid" '$1 == "region" {
		k = ($0 ~ / name=ldt-remap / && $0 ~ (" pid=" pid " ")); next }
	k && $1 == "range" && / table=mm / && / attrs=ro,NX / && / rw=0 user=0 exec=0/' "$M" |
		wc -l)
bad=$(grep -E '^finding .*severity=(warn|error)' "$F" | wc -l)
if [ -z "$ldt_pid" ] && [ -z "$NO_LDT" ]; then
	ktap_result 1 "LDT remap: the LDT holder $LDT_HOLDER is missing"
elif [ "$pti" = 1 ] &&
	skip_if "$NO_LDT" "PTI on: an LDT holder's LDT remap shows in map as table=mm"; then
	:
elif [ "$pti" = 1 ]; then
	ldt_bytes=$(region mapped_bytes ldt-remap)
	[ "$ldt_ranges" -gt 0 ] && [ "$bad" -eq 0 ] && [ "${ldt_bytes:-0}" -gt 0 ]
	ktap_result $? "PTI on: the LDT holder's (pid $ldt_pid) LDT remap shows in map as" \
		"table=mm ($ldt_ranges read-only ranges) and in layout ($ldt_bytes bytes), no" \
			"warn or error finding"
else
	[ "$pti" = 0 ] && [ "$ldt_ranges" -eq 0 ] && [ "$bad" -eq 0 ] && ! grep -q ' table=mm ' "$M"
	ktap_result $? "PTI off: summary says so, no LDT remap in map with an LDT holder running," \
		"no warn or error finding"
fi

# ESPFIX: where the kernel uses it, ptdump has mapped ESPfix lines and map
# shows the area as runs (repeat=) whose bytes are what the stats count;
# where it does not, neither shows any.
espfix_ptdump=$(awk '/^---\[ ESPfix Area \]---/ { k = 1; next } /^---/ { k = 0 } k && / ro / ' \
	"$tmp/ptdump.first" 2>/dev/null | wc -l)
espfix_runs=$(awk '$1 == "region" { k = ($0 ~ / name=espfix / && $0 ~ / table=kernel/); next }
	k && $1 == "range" && / repeat=/' "$M" | wc -l)
espfix_ranges=$(awk '$1 == "region" {
		k = ($0 ~ / name=espfix / && $0 ~ / table=kernel/); next }
	k && $1 == "range" { n = 1; for (i = 2; i <= NF; i++) {
		split($i, kv, "="); if (kv[1] == "repeat") n = kv[2] } t += n }
	END { print t + 0 }' "$M")
if skip_if "$NO_PTDUMP" "ESPFIX against ptdump's ESPfix Area"; then
	:
elif [ "$espfix_ptdump" -gt 0 ]; then
	espfix_bytes=$(region mapped_bytes espfix)
	[ "$espfix_runs" -gt 0 ] && [ "$espfix_ranges" -ge 16 ] && [ "${espfix_bytes:-0}" -gt 0 ]
	ktap_result $? "ESPFIX in use: map shows $espfix_ranges ranges of it as $espfix_runs run" \
		"record(s), layout $espfix_bytes bytes mapped"
else
	[ "$espfix_ranges" -eq 0 ]
	ktap_result $? "ESPFIX not in use: no ESPfix mapping in ptdump, none in map"
fi

# PTI: the reference's user-mode table (what every process's user table
# shares in the kernel half) against ptdump's current_user (this shell's,
# which has no LDT), range for range, as the kernel table is held above.
USER_PTDUMP=/sys/kernel/debug/page_tables/current_user
if [ "$pti" = 1 ] && skip_if "$(both "$NO_PTDUMP" "$LOCKED")" \
	"PTI user table: map table=user against ptdump current_user"; then
	:
elif [ "$pti" = 1 ] && [ -r "$USER_PTDUMP" ]; then
	map_vs_ptdump_tries "$USER_PTDUMP" user
	n=$(wc -l < "$tmp/map.norm")
	[ "$n" -gt 0 ] && [ ! -s "$tmp/mismatch" ] && [ "$(field "$F" rule found id pti-leak)" = 0 ]
	ktap_result $? "PTI user table: map table=user matches ptdump current_user ($n merged" \
		"ranges), no pti-leak"
	head -10 "$tmp/mismatch" | sed 's/^/# /'
else
	[ "$pti" = 0 ] && ! grep -q '^range table=user ' "$M"
	ktap_result $? "PTI off: summary says so and no user-mode table is walked"
fi

# Shared tables: a KASAN kernel maps most of its shadow through one table per
# level (the early shadow); vmlayout must show that shadow and read each shared
# table once, not once per entry (which is some 10^7 table pages). Any other
# kernel shares no table.
shared=$(awk '$1 == "cpu" { for (i = 2; i <= NF; i++) if ($i ~ /^shared_entries=/) {
	sub(/.*=/, "", $i); t += $i } } END { print t + 0 }' "$ST")
shadow=$(awk '$1 == "region" { k = ($0 ~ / name=kasan-shadow /); next }
	k && $1 == "range"' "$M" | wc -l)
tables=$(field "$ST" walk table_pages)
if [ -n "$NO_PTDUMP" ]; then
	kasan=$(kallsyms kasan_report)
else
	kasan=$(ptdump_marker 'KASAN shadow')
fi
if [ -n "$kasan" ]; then
	[ "$shared" -gt 0 ] && [ "$shadow" -gt 0 ] && [ "${tables:-0}" -gt 0 ] &&
		[ "$tables" -lt 100000 ]
	ktap_result $? "KASAN kernel: $shadow shadow ranges in map, $shared entries of shared" \
		"tables not re-read, $tables table pages walked"
else
	[ "$shared" -eq 0 ] && [ "$shadow" -eq 0 ]
	ktap_result $? \
		"no KASAN: no shadow in map ($shadow ranges) and no shared tables ($shared entries)"
fi

# The command files (rescan, bench) refuse anything but their word.
command_cases() {
	# rescan: only "1" is accepted.
	for bad in 2 0 x11 "1 1"; do
		if printf '%s' "$bad" > "$DBG/rescan" 2>/dev/null; then
			note "writing '$bad' to rescan succeeded"; rescan_bad=1
		fi
	done
	[ -z "${rescan_bad:-}" ] && klog | grep -q "rescan: write '1'"
	ktap_result $? "rescan rejects anything but 1 with -EINVAL and a warning"

	# bench: only "floor"; the floor copies the table pages the walk visits.
	! echo floors > "$DBG/bench" 2>/dev/null && klog | grep -q "bench: write 'floor'"
	ktap_result $? "bench rejects anything but 'floor' with -EINVAL and a warning"
	echo 1 > "$DBG/rescan" && echo floor > "$DBG/bench"
	fp=$(field "$DBG/stats" floor table_pages) wp=$(field "$DBG/stats" walk table_pages)
	fns=$(field "$DBG/stats" floor ns)
	# Two walks, not atomic: vmalloc churn may add or free a few tables between.
	[ "${fp:-0}" -gt 0 ] && [ "${fns:-0}" -gt 0 ] && [ $(((fp - wp) * 50)) -le "$wp" ] &&
		[ $(((wp - fp) * 50)) -le "$wp" ]
	ktap_result $? "bench 'floor' copied $fp table pages in ${fns}ns (the walk visited $wp)"
}
if [ -n "$LOCKED" ]; then
	# Under lockdown the kernel, not vmlayout, refuses the write.
	! echo 1 2>/dev/null > "$DBG/rescan"
	ktap_result $? "rescan refused: $LOCKED"
	skip_if "$LOCKED" "bench rejects anything but 'floor'" \
		"bench 'floor' copies the table pages"
else
	command_cases
fi

TR=/sys/kernel/tracing
# events_on EVENT...: trace only these vmlayout events, from an empty buffer.
events_on() {
	echo 0 > $TR/tracing_on; echo > $TR/trace
	for ev; do echo 1 > "$TR/events/vmlayout/$ev/enable"; done
	echo 1 > $TR/tracing_on
}
# events_off EVENT...
events_off() { for ev; do echo 0 > "$TR/events/vmlayout/$ev/enable"; done; }

# Planted violations, found with the right rule and region, gone after removal.
# plant_case KIND PATTERN [insmod args]: PATTERN matches the finding's record.
# The W+X plant also fires vmlayout:finding, and its removal
# vmlayout:finding_cleared, each naming the plant's page.
plant_case() {
	kind=$1 pattern=$2; shift 2
	[ "$kind" != wx ] || events_on finding finding_cleared
	if ! insmod "$PLANT" plant="$kind" "$@"; then
		ktap_result 1 "plant $kind: insmod $PLANT failed"
		if [ "$kind" = wx ]; then
			ktap_result 1 "plant $kind: no report to check"
			ktap_result 1 "plant $kind: no offline check on kcore"
			ktap_result 1 "plant $kind: no offline check on the tables file"
			ktap_result 1 "plant $kind: no event"
			ktap_result 1 "plant $kind: no map to name its text"
			ktap_result 1 "plant $kind: no event when removed"
			events_off finding finding_cleared
		fi
		ktap_result 1 "plant $kind: removed"
		return
	fi
	addr=$(klog | sed -n "s/.*vmlayout_plant: $kind at \(0x[0-9a-f]*\).*/\1/p" | tail -n1)
	# (A per-CPU finding needs the victim on CPU 1 at that moment: retry.)
	for try in 1 2 3 4 5; do
		taskset 1 sh -c "echo 1 > $DBG/rescan"
		got=$(grep "^finding table=[a-z]* $pattern" "$DBG/findings")
		if [ -n "$addr" ]; then got=$(echo "$got" | grep "start=$(hex "$addr")"); fi
		[ -z "$got" ] || break
		sleep 0.2
	done
	[ -n "$got" ]; ktap_result $? "plant $kind: finding $pattern${addr:+ at $addr}"
	[ -n "$got" ] || grep '^finding' "$DBG/findings" | sed 's/^/# /'
	record=$got
	[ "$kind" != wx ] || reporter_check "with a W+X page planted"
	if [ "$kind" = wx ]; then
		offline_check kcore "with a W+X page planted" "$pattern"
		offline_check tables "with a W+X page planted" "$pattern"
	fi
	[ "$kind" != wx ] || event_check finding "$record" "$addr"
	[ "$kind" != wx ] || belongs_check
	rmmod vmlayout_plant
	taskset 1 sh -c "echo 1 > $DBG/rescan"
	! grep -q "^finding table=[a-z]* $pattern" "$DBG/findings"
	ktap_result $? "plant $kind: gone after removal and rescan"
	[ "$kind" != wx ] || event_check finding_cleared "$record" "$addr"
	[ "$kind" != wx ] || events_off finding finding_cleared
}

# belongs_check: map's code records name whose code each executable page
# is: the kernel image's, the companion's text, and nothing for the plant.
belongs_check() {
	# In the modules area (from ffffffffa0000000), execmem's ROX cache
	# (x86-64 since 6.14) has an unused part past the modules it holds,
	# named for what it holds (int3 only): "execmem unused". (Pages no
	# symbol names are counted: kprobe slots, a BPF pack's page that
	# begins between programs.)
	local modules_unknown modules_unused image=kernel entry=1 plant='"module vmlayout_plant text"'
	# Built in, vmlayout names the sections of the image (its text, and its
	# entry text inside it); a module cannot see them. Either names the
	# sections of a module that loaded after it (the companion).
	if [ "$builtin" -eq 1 ]; then
		image='"kernel text"'
		grep -q '^code table=kernel .* belongs_to="kernel entry"$' "$DBG/map" || entry=0
	fi
	modules_unknown=$(grep '^code table=kernel start=0xffffffff[a-f]' "$DBG/map" |
		grep -c 'belongs_to=unknown$')
	modules_unused=$(grep '^code table=kernel start=0xffffffff[a-f]' "$DBG/map" |
		grep -c 'belongs_to="execmem unused"$')
	grep -q "^code table=kernel .* belongs_to=$plant\$" "$DBG/map" &&
		grep -q "^code table=kernel .* belongs_to=$image\$" "$DBG/map" &&
		grep -q "^code table=kernel start=$(hex "$addr") .* belongs_to=unknown$" "$DBG/map" &&
		grep -q "^finding table=kernel id=code-unowned severity=info .* start=$(hex "$addr") " \
			"$DBG/findings" && [ "$modules_unused" -gt 0 ] && [ $entry -eq 1 ]
	ktap_result $? \
		"map: executable pages name their code ($image$([ "$builtin" -eq 0 ] ||
			echo ', "kernel entry"'), $plant, execmem unused" \
		"($modules_unused runs); the plant none, a code-unowned finding;" \
		"$modules_unknown unknown in the modules area)"
	grep '^code ' "$DBG/map" | cut -d' ' -f2- | sed 's/ start=[^ ]* last=[^ ]*//' | sort |
		uniq -c | head -n 8 | sed 's/^/# /'
}

# event_check EVENT RECORD ADDR: vmlayout:EVENT fired for the W+X finding
# RECORD at ADDR, with the first-seen time RECORD shows.
event_check() {
	local ev first
	first=$(echo "$2" | sed -n 's/.* first_ns=\([0-9]*\) last_ns=[0-9]* .*/\1/p' | head -n1)
	ev=$(grep " $1: rule=wx severity=error table=kernel " $TR/trace |
		grep "start=$(hex "${3:-0}") ")
	[ -n "$first" ] && [ -n "$ev" ] && echo "$ev" | grep -q " first_ns=$first " &&
		echo "$2" | grep -q ' belongs_to=unknown ' &&
		echo "$ev" | grep -q ' belongs_to="unknown" '
	ktap_result $? \
		"plant wx: vmlayout:$1 at its page, first seen at ${first:-?} ns as findings says," \
		"its code's owner unknown in both"
	[ -n "$ev" ] || sed -n 's/^/# /p' $TR/trace | tail -n 5
	echo "$ev" | head -n1 | sed 's/^ */# /'
}
if skip_if "$LOCKED" "plant wx: finding" "vmlayout report --json with a W+X page planted" \
	"vmlayout check on /proc/kcore with a W+X page planted" \
	"vmlayout check on the tables file with a W+X page planted" "plant wx: vmlayout:finding" \
	"map: executable pages name their code" \
	"plant wx: removed" "plant wx: vmlayout:finding_cleared" "plant user: finding" \
	"plant user: removed" "plant hole: finding" \
	"plant hole: removed" "plant alias: finding" "plant alias: removed" \
	"plant cpu: finding" "plant cpu: removed" "plant pti: finding" \
	"plant pti: removed" "plant poke: finding" "plant poke: removed" \
	"selftest 'fault': vmalloc_sync_fault" \
	"selftest rejects anything but 'fault'" "plant sync: finding" \
	"plant sync: vmalloc_sync_fault class=unsynced" "plant sync: removed"; then
	:
elif [ -e "$PLANT" ]; then
	plant_case wx "id=wx .* region=vmalloc "
	plant_case user "id=user-kernel .* region=vmalloc "
	plant_case hole "id=hole-mapping .* region=hole "
	# The direct-map alias of the companion's text (modules area code, from
	# execmem's ROX cache where there is one) made writable: an error.
	plant_case alias "id=writable-text severity=error region=direct-map "
	# A task pinned to CPU 1 whose top-level table differs; the scan runs from CPU 0.
	taskset 2 sh -c 'while :; do :; done' &
	spinner=$!
	sleep 1 # let taskset exec the loop: its mm is the one to change
	plant_case cpu "id=unsynced-pgd .* region=hypervisor-guard owner=cpu cpu=1 " pid=$spinner
	kill $spinner
	# PTI: one kernel page planted in a sleeping task's user-mode table is a
	# pti-leak naming that task, gone after removal. With PTI off the
	# companion refuses (no user-mode tables) and map shows none.
	if [ "$(field "$S" pti enabled)" = 1 ]; then
		sleep 1000 &
		sleeper=$!
		plant_case pti "id=pti-leak .* region=hypervisor-guard owner=task pid=$sleeper " \
			pid=$sleeper
		kill $sleeper
	else
		! insmod "$PLANT" plant=pti pid=$$ 2>/dev/null
		ktap_result $? \
			"PTI off: the companion cannot plant into a user-mode table (there is none)"
		echo 1 > "$DBG/rescan"
		! grep -q ' table=user ' "$DBG/map" &&
			! grep -q '^finding table=user ' "$DBG/findings"
		ktap_result $? "PTI off: no user-mode table in map or findings"
	fi
	# text_poke() maps the text it patches in its own mm, in the user half
	# from TASK_UNMAPPED_BASE: the kernel's own table maps nothing there.
	plant_case poke "id=poke-leak severity=error "
	# vmlayout:vmalloc_sync_fault. A guard-page read is an unmapped fault;
	# a read through a task's unsynced table is an unsynced one.
	echo 0 > $TR/tracing_on; echo > $TR/trace
	echo 1 > $TR/events/vmlayout/vmalloc_sync_fault/enable; echo 1 > $TR/tracing_on
	echo fault > "$DBG/selftest"
	ev=$(grep 'vmalloc_sync_fault:' $TR/trace | grep 'region=vmalloc' | grep 'class=unmapped')
	[ -n "$ev" ]
	ktap_result $? "selftest 'fault': vmalloc_sync_fault class=unmapped in vmalloc"
	echo "$ev" | head -1 | sed 's/^ */# /'
	! echo faults > "$DBG/selftest" 2>/dev/null
	ktap_result $? "selftest rejects anything but 'fault' with -EINVAL"
	# The victim is stopped: its table misses what vmalloc maps after the plant.
	sleep 1000 &
	victim=$!
	kill -STOP $victim
	# The plant refuses a task that has not stopped yet.
	waited=0
	while [ "$(cut -d' ' -f3 /proc/$victim/stat)" != T ] && [ $waited -lt 50 ]; do
		sleep 0.1; waited=$((waited + 1))
	done
	if insmod "$PLANT" plant=sync pid=$victim; then
		echo 1 > "$DBG/rescan"
		grep -q "^finding table=mm id=unsynced-pgd .* owner=task pid=$victim " \
			"$DBG/findings"
		ktap_result $? "plant sync: finding id=unsynced-pgd names task $victim"
		echo > $TR/trace
		echo touch > /sys/kernel/debug/vmlayout_plant
		ev=$(grep 'vmalloc_sync_fault:' $TR/trace | grep 'class=unsynced')
		[ -n "$ev" ]
		ktap_result $? "a fault through that table: vmalloc_sync_fault class=unsynced"
		echo "$ev" | head -1 | sed 's/^ */# /'
		echo restore > /sys/kernel/debug/vmlayout_plant
		rmmod vmlayout_plant
		echo 1 > "$DBG/rescan"
		! grep -q "^finding table=[a-z]* id=unsynced-pgd" "$DBG/findings"
		ktap_result $? "plant sync: gone after restore and rescan"
	else
		for n in 1 2 3; do ktap_result 1 "plant sync: insmod failed"; done
	fi
	kill -CONT $victim; kill $victim
	echo 0 > $TR/events/vmlayout/vmalloc_sync_fault/enable
else
	note "companion module $PLANT missing: build it with make -C KDIR M=$(dirname "$0") modules"
	for n in $(seq 22); do ktap_result 1 "planted violations (no $PLANT)"; done
fi
# (The kernel's W+X check is not run while the W+X plant is live: it WARNs
# with a stack trace, which this test treats as a failure.)
if ! skip_if "$NO_WX" "the kernel's own W+X check"; then
	grep -q SUCCESS "$WX"
	ktap_result $? "the kernel's own W+X check passes after the plants, as vmlayout says"
fi

# Watch mode (Documentation/vmlayout/watch.rst): off by default; on, it
# re-checks after each hook and every watch_interval_ms, and what it finds
# comes as events, without a rescan.
# wait_event EVENT ADDR [TENTHS]: vmlayout:EVENT for the W+X page at ADDR
# within TENTHS tenths of a second (default 50).
wait_event() {
	local n=0
	while [ $n -lt "${3:-50}" ]; do
		grep " $1: rule=wx " $TR/trace | grep -q "start=$(hex "$2") " && return 0
		sleep 0.1; n=$((n + 1))
	done
	return 1
}
# wx_addr: the address of the companion's last W+X plant.
wx_addr() { klog | sed -n "s/.*vmlayout_plant: wx at \(0x[0-9a-f]*\).*/\1/p" | tail -n1; }
# watch_bound_ms: 1.5 times summary's bound_ns (how late watch mode sees
# a change, with re-checks no longer than the longest so far), in ms, and
# 100 ms for the module's load and unload around the plant.
watch_bound_ms() {
	awk '$1 == "watch" { for (i = 2; i <= NF; i++) if ($i ~ /^bound_ns=/) {
		split($i, kv, "="); printf "%d", kv[2] / 1e6 * 1.5 + 100 } }' "$DBG/summary"
}
# hold_trials HOLD LOADS: LOADS loads of a W+X plant held HOLD ms; how many
# the events caught in $caught, and in $slow how many more were made: a
# plant that took longer than watch mode's gap (its CPU taken away, under
# an emulator) lands after the vmalloc hook's re-check, and is not a trial
# of the hook (watch.rst); at most LOADS of those are made again.
hold_trials() {
	local gap_us made n=0
	caught=0 slow=0
	gap_us=$(($(field "$DBG/summary" watch gap_ms) * 1000))
	while [ $n -lt "$2" ]; do
		echo > $TR/trace
		insmod "$PLANT" plant=wx hold_ms="$1" && addr=$(wx_addr) &&
			rmmod vmlayout_plant
		made=$(klog | sed -n 's/.*vmlayout_plant: wx at .*, made in \([0-9]*\) us.*/\1/p' |
			tail -n1)
		if wait_event finding "$addr" 10; then
			caught=$((caught + 1))
			# Cleared before the next load, which may plant at the same
			# address: else no finding appears there, it stays.
			wait_event finding_cleared "$addr" $(($(watch_bound_ms) / 50 + 10)) ||
				note "watch: the plant at $addr removed, not reported cleared"
		elif [ "${made:-0}" -gt "$gap_us" ] && [ $slow -lt "$2" ]; then
			slow=$((slow + 1))
			continue
		else
			note "watch: missed a plant held $1 ms at $addr, made in ${made:-?} us;" \
				"$(grep -c "^finding table=kernel id=wx .* start=$(hex "$addr") " \
					"$DBG/findings") wx findings there now"
			grep '^watch ' "$DBG/summary" | sed 's/^/# /'
		fi
		n=$((n + 1))
	done
}
# repeat_trials HOLD N: N W+X plants held HOLD ms, 100 ms apart, made by
# one load of the companion after it is live (no module hook near them: the
# re-check after a plant is its own vmalloc hook's). How many the events
# caught in $caught, of $made plants; in $slow how many of those took longer
# to make than the gap (the re-check may come before them: not a trial of
# the hook, as in hold_trials), caught or not.
repeat_trials() {
	local addr us klog_mark gap_us n=0
	caught=0 made=0 slow=0
	gap_us=$(($(field "$DBG/summary" watch gap_ms) * 1000))
	echo > $TR/trace
	klog_mark=$(klog | wc -l)
	insmod "$PLANT" plant=wx hold_ms="$1" repeat="$2" every_ms=100 || return 1
	while [ $n -lt $(($2 + 100)) ] &&
		! klog | tail -n +$((klog_mark + 1)) | grep -q 'vmlayout_plant: [0-9]* wx trials done'; do
		sleep 0.1; n=$((n + 1))
	done
	rmmod vmlayout_plant || return 1
	# Let the last plant's event land.
	sleep $(($(watch_bound_ms) / 1000 + 1))
	klog | tail -n +$((klog_mark + 1)) |
		sed -n 's/.*vmlayout_plant: wx at \(0x[0-9a-f]*\), made in \([0-9]*\) us.*/\1 \2/p' \
		> "$tmp/trials"
	while read -r addr us; do
		made=$((made + 1))
		[ "$us" -le "$gap_us" ] || slow=$((slow + 1))
		wait_event finding "$addr" 1 && caught=$((caught + 1))
	done < "$tmp/trials"
	[ $made -eq "$2" ]
}
# hook_fired NAME: how often watch mode's hook NAME fired (summary).
hook_fired() { field "$DBG/summary" hook fired name "$1"; }
# cpu_hotplug_case: CPU 1 taken offline and brought back, 3 times, with
# watch mode on: its entry area and active table go and come, the cpu hook
# fires, the re-checks (and the per-CPU scan, on the CPUs online) find
# nothing to report.
cpu_hotplug_case() {
	local online=/sys/devices/system/cpu/cpu1/online fired n=0
	if [ ! -w "$online" ]; then
		ktap_test_skip "watch: CPU hotplug: no $online (CONFIG_HOTPLUG_CPU, 2 CPUs)"
		return
	fi
	echo > $TR/trace
	fired=$(hook_fired cpu)
	while [ $n -lt 3 ] && echo 0 > "$online" && echo 1 > "$online"; do n=$((n + 1)); done
	sleep $(($(watch_bound_ms) / 1000 + 1))
	[ $n -eq 3 ] && [ "$(hook_fired cpu)" -gt "${fired:-0}" ] &&
		! grep ' finding: ' $TR/trace | grep -q 'severity=\(warn\|error\)'
	ktap_result $? "watch: CPU 1 offline and online $n times, the cpu hook fired" \
		"$(($(hook_fired cpu) - ${fired:-0})) times, no warn or error finding fired"
}
# The watch churn: the kernel's other makers of executable and mapped
# memory, each churned with watch mode on (watch.rst's table of paths):
# BPF programs JIT-compiled into bpf_prog_pack pages, kprobes (their
# instruction slots), the function tracer (its trampolines, text patched),
# a movable memory block offlined and onlined (the direct map and vmemmap),
# forks (vmalloc'ed stacks) with map readers. Each part must fire no warn or
# error vmlayout:finding within watch mode's bound after it, and must have
# done its work. A part whose kernel support is missing is a skip with the
# reason, or a failure when VMLAYOUT_WATCH_REQUIRE (space separated: bpf
# kprobe ftrace memory; and cpa-windows, memory-windows) names it. The events are read from a trace instance
# of the churn's own ($CHURN_TR): setting a tracer, or removing a kprobe
# event that was enabled, empties the top-level buffer.
CHURN_TR=$TR
# churn_missing PART DESCRIPTION REASON...: PART cannot run on this kernel
# (REASON's words joined by a space).
churn_missing() {
	local part=$1 d=$2
	shift 2
	if watch_required "$part"; then
		ktap_result 1 "$d: $* (VMLAYOUT_WATCH_REQUIRE requires it)"
	else
		ktap_test_skip "$d: $*"
	fi
}
# watch_required PART: whether VMLAYOUT_WATCH_REQUIRE names PART (a churn
# part, or HOOK-windows: hook HOOK's record must say windows=1).
watch_required() {
	case " ${VMLAYOUT_WATCH_REQUIRE:-} " in
	*" $1 "*) return 0 ;;
	*) return 1 ;;
	esac
}
# hook_windows HOOK: 0 if hook HOOK gives windows; 1 if not, and then a
# failure where VMLAYOUT_WATCH_REQUIRE names HOOK-windows (said on stdout).
hook_windows() {
	[ "$(field "$DBG/summary" hook windows name "$1")" = 1 ] && return 0
	! watch_required "$1-windows" ||
		echo "# the $1 hook gives no windows, and VMLAYOUT_WATCH_REQUIRE requires them"
	return 1
}
# windows_seen HOOK KICKED WINDOWS: whether the re-checks after HOOK were
# what they should be: where it gives windows, one at least of KICKED
# (WINDOWS of them were windows; none ran: the backstop, a rescan, took
# every change first); where it gives none, only if not required.
windows_seen() {
	if hook_windows "$1"; then
		[ "$2" -eq 0 ] || [ "$3" -gt 0 ]
	else
		! watch_required "$1-windows"
	fi
}
# churn_quiet: after watch mode's bound, whether no warn or error
# vmlayout:finding fired since $CHURN_TR/trace was cleared; the first shown.
churn_quiet() {
	sleep $(($(watch_bound_ms) / 1000 + 1))
	! grep ' finding: ' "$CHURN_TR/trace" | grep 'severity=\(warn\|error\)' |
		head -n 3 | sed 's/^ */# /' | grep .
}
# churn_bpf: vmlayout_bpf loads 64 programs, 8 open at a time.
churn_bpf() {
	local d="watch churn: bpf" helper out loaded st=0 quiet=0 cpa
	helper=$(dirname "$0")/vmlayout_bpf
	if [ ! -e /proc/sys/net/core/bpf_jit_enable ] &&
		[ ! -e /proc/sys/kernel/unprivileged_bpf_disabled ]; then
		churn_missing bpf "$d" "no BPF syscall (CONFIG_BPF_SYSCALL)"
		return
	fi
	if [ ! -x "$helper" ]; then
		churn_missing bpf "$d" "no $helper (this directory's Makefile builds it)"
		return
	fi
	echo > "$CHURN_TR/trace"
	cpa=$(hook_fired cpa)
	out=$("$helper" 64 2> "$tmp/bpf.err") || st=$?
	loaded=$(echo "$out" | sed -n 's/^loaded \([0-9]*\)$/\1/p')
	churn_quiet || quiet=1
	note "$d: bpf_jit_enable=${BPF_JIT:-?}, the cpa hook fired" \
		"$(($(hook_fired cpa) - ${cpa:-0})) times"
	sed 's/^/# /' "$tmp/bpf.err"
	[ $st -eq 0 ] && [ "${loaded:-0}" -eq 64 ] && [ $quiet -eq 0 ]
	ktap_result $? "$d: ${loaded:-0} of 64 programs (r0 = 0; exit) loaded, 8 open at a" \
		"time, and closed, no warn or error finding fired"
}
# kprobe_gone: no kprobe event vmlayout_churn (disabled, removed).
kprobe_gone() {
	[ -e $TR/events/kprobes/vmlayout_churn ] || return 0
	echo 0 > $TR/events/kprobes/vmlayout_churn/enable
	echo '-:vmlayout_churn' >> $TR/kprobe_events
}
# churn_kprobe: 5 times a kprobe event on $churn_fn added, enabled, hit,
# disabled and removed.
churn_kprobe() {
	local d="watch churn: kprobe" ev=$TR/events/kprobes/vmlayout_churn n=0 quiet=0
	if [ ! -w $TR/kprobe_events ]; then
		churn_missing kprobe "$d" "no $TR/kprobe_events (CONFIG_KPROBE_EVENTS)"
		return
	fi
	kprobe_gone
	echo > "$CHURN_TR/trace"
	while [ $n -lt 5 ] && echo "p:vmlayout_churn $churn_fn" >> $TR/kprobe_events &&
		echo 1 > $ev/enable && cat /proc/version > /dev/null &&
		grep -q ' vmlayout_churn: ' $TR/trace && echo 0 > $ev/enable &&
		echo '-:vmlayout_churn' >> $TR/kprobe_events; do
		n=$((n + 1))
	done
	# A round that failed may have left the event.
	kprobe_gone
	churn_quiet || quiet=1
	[ $n -eq 5 ] && [ $quiet -eq 0 ]
	ktap_result $? "$d: a kprobe on $churn_fn added, hit and removed $n of 5 times," \
		"no warn or error finding fired"
}
# churn_ftrace: 3 times the function tracer on $churn_fn only (every
# function patched would be slow under emulation), then nop.
churn_ftrace() {
	local d="watch churn: ftrace" n=0 quiet=0
	if [ ! -w $TR/set_ftrace_filter ]; then
		churn_missing ftrace "$d" "no $TR/set_ftrace_filter (CONFIG_DYNAMIC_FTRACE)"
		return
	fi
	if ! grep -qw function $TR/available_tracers; then
		churn_missing ftrace "$d" "no function tracer (CONFIG_FUNCTION_TRACER)"
		return
	fi
	echo > "$CHURN_TR/trace"
	while [ $n -lt 3 ] && echo "$churn_fn" > $TR/set_ftrace_filter &&
		echo function > $TR/current_tracer && [ "$(cat $TR/current_tracer)" = function ] &&
		cat /proc/version > /dev/null && grep -q ": $churn_fn" $TR/trace &&
		echo nop > $TR/current_tracer && echo > $TR/set_ftrace_filter; do
		n=$((n + 1))
	done
	echo nop > $TR/current_tracer
	echo > $TR/set_ftrace_filter
	churn_quiet || quiet=1
	[ $n -eq 3 ] && [ $quiet -eq 0 ]
	ktap_result $? "$d: the function tracer on $churn_fn, hit, then nop, $n of 3 times," \
		"no warn or error finding fired"
}
# offline_block BLOCK: BLOCK offlined; a page of it briefly pinned makes
# that fail with EBUSY (the kernel's memory-hotplug documentation says to
# try again): up to 5 tries a second apart, the failed ones counted in $busy.
offline_block() {
	local i=0
	while [ $i -lt 5 ]; do
		echo offline 2>/dev/null > "$1/state" && return 0
		busy=$((busy + 1))
		i=$((i + 1))
		sleep 1
	done
	return 1
}
# churn_memory: 3 times an online ZONE_MOVABLE memory block (movablecore=)
# offlined and onlined.
churn_memory() {
	local d="watch churn: memory" blk="" b n=0 quiet=0 fired windows kicked busy=0
	if [ ! -d /sys/devices/system/memory ]; then
		churn_missing memory "$d" "no /sys/devices/system/memory (CONFIG_MEMORY_HOTPLUG)"
		return
	fi
	for b in /sys/devices/system/memory/memory*; do
		if [ "$(cat "$b/state" 2>/dev/null)" = online ] &&
			grep -qw Movable "$b/valid_zones" 2>/dev/null; then
			blk=$b
			break
		fi
	done
	if [ -z "$blk" ]; then
		churn_missing memory "$d" "no online memory block in ZONE_MOVABLE" \
			"(CONFIG_MEMORY_HOTREMOVE, movablecore=)"
		return
	fi
	echo > "$CHURN_TR/trace"
	fired=$(hook_fired memory)
	windows=$(field "$DBG/summary" watch windows)
	kicked=$(field "$DBG/summary" watch rechecks)
	while [ $n -lt 3 ] && offline_block "$blk" && echo online_movable > "$blk/state"; do
		n=$((n + 1))
	done
	[ "$(cat "$blk/state")" = online ] || echo online_movable > "$blk/state" ||
		echo online > "$blk/state"
	churn_quiet || quiet=1
	windows=$(($(field "$DBG/summary" watch windows) - windows))
	kicked=$(($(field "$DBG/summary" watch rechecks) - kicked))
	# Where the hook gives windows (the block's direct map and vmemmap;
	# not with KASAN), a re-check after it is one, unless the backstop
	# took every change first (a rescan).
	windows_seen memory "$kicked" "$windows" || quiet=1
	[ $n -eq 3 ] && [ "$(hook_fired memory)" -gt "${fired:-0}" ] && [ $quiet -eq 0 ]
	ktap_result $? "$d: ${blk##*/} offline ($busy times busy first) and online_movable $n of 3 times, the memory" \
		"hook fired $(($(hook_fired memory) - ${fired:-0})) times, no warn or error" \
		"finding fired; of $kicked re-checks after hooks $windows of windows"
}
# region_ranges NAME...: the ranges map shows in the regions NAME (map's
# region names), as one text.
region_ranges() {
	awk -v names=" $* " '/^region /{ split($0, f, " name="); split(f[2], n, " ")
		on = index(names, " " n[1] " ") > 0 } on && /^range /' "$DBG/map"
}
# same_after_rescan NAME...: 0 if the ranges of regions NAME in map are what
# a rescan finds; the kernel may change them between the two reads (a
# module's init memory freed from a work item), so up to 3 tries, each
# after a wait of watch mode's bound. Tries taken in $tries.
same_after_rescan() {
	local before
	tries=0
	while [ $tries -lt 3 ]; do
		tries=$((tries + 1))
		before=$(region_ranges "$@")
		echo 1 > "$DBG/rescan"
		[ -n "$before" ] && [ "$before" = "$(region_ranges "$@")" ] && return 0
		sleep $(($(watch_bound_ms) / 1000 + 1))
	done
	return 1
}
# churn_hotadd: two memory blocks hot-added at $VMLAYOUT_HOTADD (memory the
# machine has and the kernel was booted without: mem=) through the probe
# file (CONFIG_ARCH_MEMORY_PROBE), as a machine's hotplug adds them: their
# direct map, vmemmap and System RAM, with no notifier. The first is
# onlined at once: the memory hook's windows (its direct map and vmemmap)
# cover what the add made, so its re-check takes the new System RAM and
# does not decline. The second stays offline: the next window re-check (a
# module's load) finds System RAM changed outside its windows and declines,
# unless the backstop rescanned first. Then no warn or error finding, and
# the direct map and vmemmap in map are what a rescan finds.
churn_hotadd() {
	local d="watch churn: memory hot-add" probe=/sys/devices/system/memory/probe
	local size first st=0 windows declined backstops kicked added=0
	if [ ! -w $probe ]; then
		churn_missing hotadd "$d" "no $probe (CONFIG_ARCH_MEMORY_PROBE)"
		return
	fi
	if [ -z "${VMLAYOUT_HOTADD:-}" ]; then
		churn_missing hotadd "$d" "no VMLAYOUT_HOTADD (memory the kernel was booted without)"
		return
	fi
	size=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
	first=$((VMLAYOUT_HOTADD))
	echo > "$CHURN_TR/trace"
	windows=$(field "$DBG/summary" watch windows)
	declined=$(field "$DBG/summary" watch declined)
	kicked=$(field "$DBG/summary" watch rechecks)
	printf '0x%x' $first > $probe && added=1 &&
		echo online_movable > /sys/devices/system/memory/memory$((first / size))/state || st=1
	sleep $(($(watch_bound_ms) / 1000 + 1))
	windows=$(($(field "$DBG/summary" watch windows) - windows))
	declined=$(($(field "$DBG/summary" watch declined) - declined))
	kicked=$(($(field "$DBG/summary" watch rechecks) - kicked))
	# Onlined: a window, none declined (the change is the windows').
	if hook_windows memory; then
		[ "$kicked" -eq 0 ] || { [ "$windows" -gt 0 ] && [ "$declined" -eq 0 ]; } || st=1
	fi
	local online="onlined: $kicked re-checks after hooks, $windows of windows, $declined declined"
	declined=$(field "$DBG/summary" watch declined)
	backstops=$(field "$DBG/summary" watch backstops)
	printf '0x%x' $((first + size)) > $probe && added=$((added + 1)) || st=1
	insmod "$PLANT" plant=none && rmmod vmlayout_plant
	sleep $(($(watch_bound_ms) / 1000 + 1))
	declined=$(($(field "$DBG/summary" watch declined) - declined))
	backstops=$(($(field "$DBG/summary" watch backstops) - backstops))
	# Offline: a module's window declined, or the backstop rescanned.
	if hook_windows cpa; then
		[ $((declined + backstops)) -gt 0 ] || st=1
	fi
	churn_quiet || st=1
	same_after_rescan direct-map vmemmap || st=1
	! grep -q '^finding .* id=ram-missing severity=\(warn\|error\) ' "$DBG/findings" || st=1
	ktap_result $st "$d: $added blocks added at $VMLAYOUT_HOTADD; $online; one left" \
		"offline: a module's window declined $declined times, backstops $backstops;" \
		"no warn or error finding; the direct map and vmemmap as a rescan finds them" \
		"($tries tries)"
}
# uptime_cs: /proc/uptime in hundredths of a second, in $cs (read with no
# fork: "1" before the hundredths keeps "08" from being read as octal).
uptime_cs() {
	local up rest
	read -r up rest < /proc/uptime
	cs=$((${up%.*} * 100 + 1${up#*.} - 100))
}
# churn_forks: for 3 seconds, forks (sh -c 'exit 0'; each a vmalloc'ed
# kernel stack) and two readers of map.
churn_forks() {
	local d="watch churn: forks" forks=0 quiet=0 fired r1 r2 end
	echo > "$CHURN_TR/trace"
	fired=$(hook_fired vmalloc)
	(while [ ! -e "$tmp/churn.stop" ]; do cat "$DBG/map" > /dev/null; done) &
	r1=$!
	(while [ ! -e "$tmp/churn.stop" ]; do cat "$DBG/map" > /dev/null; done) &
	r2=$!
	uptime_cs
	end=$((cs + 300))
	while [ $cs -lt $end ]; do
		sh -c 'exit 0' && forks=$((forks + 1))
		uptime_cs
	done
	touch "$tmp/churn.stop"
	wait $r1 $r2
	rm -f "$tmp/churn.stop"
	churn_quiet || quiet=1
	[ $forks -gt 0 ] && [ "$(hook_fired vmalloc)" -gt "${fired:-0}" ] && [ $quiet -eq 0 ]
	ktap_result $? "$d: $forks forks in 3 s with two map readers, the vmalloc hook fired" \
		"$(($(hook_fired vmalloc) - ${fired:-0})) times, no warn or error finding fired"
}
watch_churn_case() {
	# The probed and traced function: one that opening a file calls.
	churn_fn=do_sys_openat2
	[ -n "$(kallsyms $churn_fn)" ] || churn_fn=vfs_open
	BPF_JIT=$(cat /proc/sys/net/core/bpf_jit_enable 2>/dev/null)
	CHURN_TR=$TR/instances/vmlayout_churn
	[ ! -d "$CHURN_TR" ] || rmdir "$CHURN_TR"
	if ! mkdir "$CHURN_TR" || ! echo 1 > "$CHURN_TR/events/vmlayout/finding/enable"; then
		note "watch churn: no trace instance $CHURN_TR: $TR/trace, which the" \
			"kprobe and ftrace parts empty, is read"
		[ ! -d "$CHURN_TR" ] || rmdir "$CHURN_TR"
		CHURN_TR=$TR
	fi
	churn_bpf
	churn_kprobe
	churn_ftrace
	churn_memory
	churn_hotadd
	churn_forks
	if [ "$CHURN_TR" != "$TR" ]; then
		echo 0 > "$CHURN_TR/events/vmlayout/finding/enable"
		rmdir "$CHURN_TR"
	fi
}
# later_plant_try: one plant=wx after_ms=$after, $after past watch mode's
# bound; st=0 if vmlayout:finding reported it and a window re-check ran or
# declined (not with KASAN_VMALLOC, whose hooks rescan: summary's
# windowed=0), and its removal vmlayout:finding_cleared.
later_plant_try() {
	local before
	before=$(klog | grep -c 'vmlayout_plant: wx at')
	windows=$(field "$DBG/summary" watch windows)
	declined=$(field "$DBG/summary" watch declined)
	backstops=$(field "$DBG/summary" watch backstops)
	after=$(watch_bound_ms)
	[ "$after" -ge 300 ] || after=300
	insmod "$PLANT" plant=wx after_ms="$after"
	n=0
	while [ "$(klog | grep -c 'vmlayout_plant: wx at')" -le "$before" ] && [ $n -lt 100 ]; do
		sleep 0.1; n=$((n + 1))
	done
	addr=$(wx_addr)
	# A window that declined (watch.rst: a rule with findings left out,
	# as debug_pagealloc's ram-missing info can be; a window reaching out
	# of the vmalloc region) rescans: the vmalloc hook still asked for it.
	wait_event finding "$addr" && { [ "$(field "$DBG/summary" watch windowed)" = 0 ] ||
		[ "$(field "$DBG/summary" watch windows)" -gt "$windows" ] ||
		[ "$(field "$DBG/summary" watch declined)" -gt "$declined" ]; }
	st=$?
	rmmod vmlayout_plant
	wait_event finding_cleared "$addr" || st=1
}
watch_cases() {
	local addr hold n before windows st after tries declined backstops module_windows kicked
	grep -q '^watch enabled=0 ' "$DBG/summary"
	ktap_result $? "watch: off by default (summary: watch enabled=0)"
	echo 1 > "$DBG/watch"
	grep -q '^watch enabled=1 ' "$DBG/summary" &&
		grep -q '^hook name=module attached=1 ' "$DBG/summary" &&
		grep -q '^hook name=vmalloc attached=1 ' "$DBG/summary"
	ktap_result $? "watch: on, its module and vmalloc hooks attached"
	grep -E '^(watch|hook) ' "$DBG/summary" | cut -c1-100 | sed 's/^/# /'
	# A W+X page planted while a module loads: reported with no rescan.
	events_on finding finding_cleared
	insmod "$PLANT" plant=wx
	addr=$(wx_addr)
	wait_event finding "$addr"
	ktap_result $? "watch: a W+X plant at $addr reported by vmlayout:finding, no rescan"
	rmmod vmlayout_plant
	wait_event finding_cleared "$addr"
	ktap_result $? "watch: its removal reported by vmlayout:finding_cleared"
	# A W+X page planted after a load, from a work item: no module hook
	# sees it, only the vmalloc one, whose re-check is of a window
	# (watch.rst). Reported, and a window re-check ran. Planted later than
	# watch mode's bound, so that the load's own re-check (paced, later
	# with longer scans) has run; a backstop may still take the change
	# first, and check everything: at most 3 tries.
	tries=0 st=1
	while [ $st -ne 0 ] && [ $tries -lt 3 ]; do
		tries=$((tries + 1))
		later_plant_try
	done
	ktap_result $st "watch: a W+X page planted $after ms after a load, at $addr: reported" \
		"and cleared; window re-checks $windows -> $(field "$DBG/summary" watch windows)" \
		"(declined $declined -> $(field "$DBG/summary" watch declined), backstops" \
		"$backstops -> $(field "$DBG/summary" watch backstops)," \
		"windowed=$(field "$DBG/summary" watch windowed); try $tries)"
	grep '^watch ' "$DBG/summary" | sed 's/^/# /'
	# Transient plants, held during a module's load: how many the events
	# catch. A re-check after a hook runs 2 ms later, and no later than
	# 19 times the last one's length after it (watch.rst: re-checks take at
	# most 5% of the time); so a plant held longer than 2 ms and 21
	# re-checks (one running, the pause, its own) is always caught, as long
	# as re-checks take no longer than the longest so far: summary's
	# bound_ns. Held 1.5 times that, it must be, in 3 of 3 loads; and if
	# one was missed while the re-checks grew longer (a loaded host), the
	# bound grew: again with the new one, at most 3 times. Shorter holds
	# are counted.
	sure=0 tries=0 caught=0
	while [ $caught -lt 3 ] && [ $tries -lt 3 ]; do
		before=$sure
		sure=$(watch_bound_ms)
		[ $tries -eq 0 ] || [ "$sure" -gt "$before" ] || break
		tries=$((tries + 1))
		hold_trials "$sure" 3
	done
	note "watch: a W+X plant held $sure ms caught in $caught of 3 loads (try $tries;" \
		"$slow more, slower than the gap)"
	[ $caught -eq 3 ]
	ktap_result $? "watch: a W+X plant held $sure ms caught in $caught of 3"
	for hold in 50 20 5; do
		hold_trials "$hold" 5
		note "watch: a W+X plant held $hold ms caught in $caught of 5 loads" \
			"($slow more, slower than the gap)"
	done
	# Away from module loads: the vmalloc hook alone, counted (how many a
	# re-check sees depends on how the emulator shares out its CPUs, so
	# it is a measure, not a test: watch.rst gives the figures).
	for hold in 5 2 1; do
		repeat_trials "$hold" 10
		ktap_result $? "watch: 10 W+X plants held $hold ms after a load made" \
			"($made), caught in $caught ($slow made slower than the gap)"
	done
	# A module storm with watch mode on: nothing to report. Where the CPA
	# hook gives windows (kprobes; its record's windows=1), a module's
	# re-checks after its hooks are of windows (its memory types, the
	# pages whose attributes changed): if any ran (on a slow guest the
	# backstop, a rescan, may take every change first), one at least must
	# have been; and the modules area they left must be what a rescan
	# finds.
	events_on finding
	windows=$(field "$DBG/summary" watch windows)
	declined=$(field "$DBG/summary" watch declined)
	kicked=$(field "$DBG/summary" watch rechecks)
	backstops=$(field "$DBG/summary" watch backstops)
	for n in $(seq 20); do insmod "$PLANT" plant=none && rmmod vmlayout_plant; done
	# Past the bound, a re-check has run since the last unload: map is
	# of the tables as they are (a slow guest's pacing waits seconds).
	sleep $(($(watch_bound_ms) / 1000 + 1))
	! grep ' finding: ' $TR/trace | grep -q 'severity=\(warn\|error\)'
	st=$?
	module_windows=$(($(field "$DBG/summary" watch windows) - windows))
	kicked=$(($(field "$DBG/summary" watch rechecks) - kicked))
	windows_seen cpa "$kicked" "$module_windows" || st=1
	# Where module loads are windows, the modules area they left is
	# checked against a rescan. The kernel may change the area between
	# the two reads (a module's init memory is freed from a work item,
	# later on a slow guest): then one more load and unload, watched,
	# and again; 3 tries.
	tries=0
	while [ "$(field "$DBG/summary" hook windows name cpa)" = 1 ]; do
		tries=$((tries + 1))
		before=$(region_ranges modules)
		echo 1 > "$DBG/rescan"
		[ -n "$before" ] && [ "$before" = "$(region_ranges modules)" ] && break
		[ $tries -lt 3 ] || { st=1; break; }
		insmod "$PLANT" plant=none && rmmod vmlayout_plant
		sleep $(($(watch_bound_ms) / 1000 + 1))
	done
	ktap_result $st "watch: 20 module loads and unloads, no warn or error finding fired;" \
		"of $kicked re-checks after hooks $module_windows of windows (declined" \
		"$(($(field "$DBG/summary" watch declined) - declined)); backstops" \
		"$(($(field "$DBG/summary" watch backstops) - backstops)));" \
		"the modules area as a rescan finds it: $tries tries (0: no module windows here)"
	grep ' finding: ' $TR/trace | head -n 3 | sed 's/^ */# /'
	cpu_hotplug_case
	watch_churn_case
	grep -q '^watch enabled=1 .* backstops=[1-9]' "$DBG/summary" &&
		echo 0 > "$DBG/watch" && grep -q '^watch enabled=0 ' "$DBG/summary"
	ktap_result $? "watch: the backstop ran; off again"
	grep '^watch ' "$DBG/summary" | sed 's/^/# /'
	events_off finding finding_cleared
}
if skip_if "$LOCKED" "watch: off by default" "watch: on" "watch: a plant" "watch: its removal" \
	"watch: a W+X page planted after a load" "watch: transient" \
	"watch: W+X plants held 5 ms after a load" "watch: W+X plants held 2 ms after a load" \
	"watch: W+X plants held 1 ms after a load" "watch: a module storm" \
	"watch: CPU hotplug" "watch churn: bpf" \
	"watch churn: kprobe" "watch churn: ftrace" "watch churn: memory" \
	"watch churn: memory hot-add" "watch churn: forks" \
	"watch: backstop, off"; then
	:
elif [ -e "$PLANT" ]; then
	watch_cases
else
	for n in $(seq 18); do ktap_result 1 "watch mode (no $PLANT)"; done
fi

# Command files take exactly their word, with at most one newline, written
# at offset 0; anything else is -EINVAL (a seek, -ESPIPE).
if ! skip_if "$LOCKED" "rescan takes '1' with one optional newline"; then
	printf '1\n' > "$DBG/rescan" && printf 1 > "$DBG/rescan" &&
		! printf '1\n\n' > "$DBG/rescan" 2>/dev/null &&
		! printf ' 1' > "$DBG/rescan" 2>/dev/null &&
		! printf '1 ' > "$DBG/rescan" 2>/dev/null &&
		! printf 1 | dd of="$DBG/rescan" bs=1 seek=1 conv=notrunc 2>/dev/null
	ktap_result $? "rescan takes '1' with one optional newline, at offset 0, nothing else"
fi

# Files held open across rmmod: every file's operations name the module as
# owner, so an open file pins it and rmmod refuses; closing is then safe,
# and rmmod succeeds once nothing is open.
if [ "$builtin" -eq 1 ]; then
	ktap_test_skip "rmmod refuses while a file is open: built in, nothing to unload"
elif ! skip_if "$LOCKED" "rmmod refuses while map or rescan is open"; then
	exec 3< "$DBG/map"
	! rmmod vmlayout 2>/dev/null && [ -d "$DBG" ] && head -c1 <&3 > /dev/null
	held_read=$?
	exec 3<&-
	exec 4> "$DBG/rescan"
	! rmmod vmlayout 2>/dev/null && echo 1 >&4
	held_write=$?
	exec 4>&-
	[ "$held_read" -eq 0 ] && [ "$held_write" -eq 0 ]
	ktap_result $? \
		"rmmod refuses while map or rescan is open; they still work, and close safely"
fi

# Churn: processes come and go, a module loads and unloads (its memory
# made read-only and executable, freed with its direct-map aliases reset),
# vmalloc areas come and go, and readers read while the tables are walked
# again and again. Every warn or error finding must be true: there are none.
churn_cases() {
	churn_scans=${VMLAYOUT_CHURN_SCANS:-100}	# fewer on slow (KASAN) kernels
	: > "$tmp/churn"
	(while [ ! -e "$tmp/stop" ]; do /bin/true; done) &
	forks=$!
	(while [ ! -e "$tmp/stop" ]; do sh -c 'exit 0'; done) &
	forks2=$!
	(while [ ! -e "$tmp/stop" ]; do insmod "$PLANT" plant=none && rmmod vmlayout_plant; done) &
	mods=$!
	(while [ ! -e "$tmp/stop" ]; do cat "$DBG/map" "$DBG/stats" > /dev/null; done) &
	readers=$!
	scans=0 bad_scans=0 rescan_failed=0
	while [ $scans -lt "$churn_scans" ]; do
		echo 1 > "$DBG/rescan" || rescan_failed=$((rescan_failed + 1))
		if grep -E '^finding .*severity=(warn|error)' "$DBG/findings" >> "$tmp/churn"; then
			bad_scans=$((bad_scans + 1))
		fi
		scans=$((scans + 1))
	done
	touch "$tmp/stop"
	wait $forks $forks2 $mods $readers
	rm -f "$tmp/stop"
	lsmod | grep -q vmlayout_plant && rmmod vmlayout_plant
	retried=$(field "$DBG/stats" walk retried_items)
	settled=$(field "$DBG/findings" scope settled)
	note "churn: $scans rescans, $bad_scans with warn or error findings, $rescan_failed" \
		"failed; last scan retried $retried items, settled $settled findings"
	sed -n '1,5s/^/# /p' "$tmp/churn"
	[ "$bad_scans" -eq 0 ] && [ "$rescan_failed" -eq 0 ] && [ "$scans" -ge "$churn_scans" ] &&
		[ "$scans" -ge 1 ]
	ktap_result $? "churn: $scans rescans with forks, module loads and readers, no warn or" \
		"error finding"
	# The audit looked at every process each time: more than the churn's four.
	mms=$(field "$DBG/findings" scope mms_checked)
	[ "${mms:-0}" -ge 4 ]; ktap_result $? "churn: the last audit checked $mms processes' tables"
	# After the churn, a quiet scan: still clean, nothing changed under it.
	echo 1 > "$DBG/rescan" && ! grep -qE '^finding .*severity=(warn|error)' "$DBG/findings"
	ktap_result $? "after the churn, a quiet rescan is clean"
}
skip_if "$LOCKED" "churn: rescans with forks, module loads and readers" \
	"churn: the last audit's processes" "after the churn, a quiet rescan" || churn_cases
reporter_check "after the churn"
if [ -n "$LOCKED" ] && [ -z "$TOOL" ]; then
	ktap_test_skip "vmlayout check under lockdown: no vmlayout tool (VMLAYOUT_TOOL)"
	ktap_test_skip "vmlayout check on the tables file after the churn: no vmlayout tool"
elif [ -n "$LOCKED" ]; then
	# lockdown=integrity refuses debugfs writes, not /proc/kcore (reading
	# kernel memory is a confidentiality restriction, LOCKDOWN_KCORE): the
	# check runs, and finds the warn or error findings the module's
	# load-time scan found (no rescan is possible here).
	st=0
	"$TOOL" check -o "$tmp/offline.snap" 2> "$tmp/offline.err" || st=$?
	snap_file "$tmp/offline.snap" findings > "$tmp/off"
	offline_kernel "$tmp/off" | grep '^finding' > "$tmp/off.f"
	offline_kernel "$DBG/findings" | grep '^finding' > "$tmp/mod.f"
	[ $st -le 2 ] && grep -q '^origin source=kcore' "$tmp/offline.snap" &&
		cmp -s "$tmp/off.f" "$tmp/mod.f"
	ktap_result $? "vmlayout check under $LOCKED: /proc/kcore readable, the module's findings" \
		"(exit $st)"
	sed 's/^/# /' "$tmp/offline.err"
	# The tables file is compared with a rescan's map, which this refuses.
	ktap_test_skip "vmlayout check on the tables file after the churn: $LOCKED"
else
	offline_check kcore "after the churn"
	offline_check tables "after the churn"
fi

if [ "$builtin" -eq 1 ]; then
	ktap_test_skip "rmmod removes $DBG: built in"
	ktap_test_skip "insmod again shows the same summary: built in"
else
	rmmod vmlayout && [ ! -e "$DBG" ]; ktap_result $? "rmmod removes $DBG"
	load && cmp -s "$S" "$DBG/summary" && rmmod vmlayout
	ktap_result $? "insmod again shows the same summary, rmmod again"
fi
bad=$(klog | grep -E 'WARNING|BUG|Oops|Call Trace|general protection')
[ -z "$bad" ]; ktap_result $? "no warning, BUG or oops in dmesg"
[ -z "$bad" ] || echo "$bad" | sed 's/^/# /'

# For the host runner: the bases of this boot, to compare across boots.
for b in page_offset_base vmalloc_base vmemmap_base kernel_text; do
	note "boot-base $b=$(base "$b")"
done
ktap_finished
