#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Write vmlayout as a patch series against a kernel tree (git format-patch
# form, one logical change per patch), for `git am` on a clean copy of it.
#
#   intree.sh KSRC OUT
#
# KSRC is not modified. The series is made in a scratch repository that
# holds only the files it touches, so it is made in seconds; the patches
# are what they would be in a full clone (blob ids are content ids).
# Commit dates are fixed, so the same sources give byte-identical patches.
#
# Where each file goes in the tree (this checkout -> the kernel):
#   rust/*.rs, rust/*.[ch], rust/scan/, rust/vmlayout_core/   arch/x86/mm/vmlayout/
#   Documentation/vmlayout/mm-historical.txt      arch/x86/mm/vmlayout/
#   include/trace/events/vmlayout.h               (same path)
#   Documentation/vmlayout/*.rst                  Documentation/arch/x86/x86_64/vmlayout/
#   tools/testing/selftests/vmlayout/             (same path)
# and the existing files each patch edits are named in its message.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ksrc=$(cd "${1:?usage: intree.sh KSRC OUT}" && pwd)
out=${2:?usage: intree.sh KSRC OUT}
[ -f "$ksrc/Makefile" ] && [ -f "$ksrc/arch/x86/Kconfig.debug" ] ||
	{ echo "intree: $ksrc is not a kernel tree" >&2; exit 1; }

author="vmlayout developers <vmlayout@users.noreply.example>"
debugfs_patch=$top/Documentation/vmlayout/patches/0001-rust-debugfs-pin-the-owning-module-while-a-file-is-o.patch
moddir=arch/x86/mm/vmlayout
docdir=Documentation/arch/x86/x86_64/vmlayout
selftest=tools/testing/selftests/vmlayout

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
export GIT_AUTHOR_NAME="${author% <*}" GIT_COMMITTER_NAME="${author% <*}"
export GIT_AUTHOR_EMAIL="vmlayout@users.noreply.example" GIT_COMMITTER_EMAIL="vmlayout@users.noreply.example"
export GIT_AUTHOR_DATE="2026-11-25T12:00:00+00:00" GIT_COMMITTER_DATE="2026-11-25T12:00:00+00:00"
git_() { git -C "$scratch" -c core.autocrlf=false -c commit.gpgsign=false "$@"; }

# The existing files the series edits, as they are in KSRC.
existing=(arch/x86/Kconfig.debug arch/x86/mm/Makefile rust/bindings/bindings_helper.h
	Documentation/arch/x86/x86_64/index.rst tools/testing/selftests/Makefile MAINTAINERS)
existing+=($(sed -n 's#^diff --git a/\([^ ]*\) b/.*#\1#p' "$debugfs_patch"))
git_ init -q
for f in "${existing[@]}"; do
	[ -f "$ksrc/$f" ] || { echo "intree: $ksrc has no $f" >&2; exit 1; }
	mkdir -p "$scratch/$(dirname "$f")"
	cp "$ksrc/$f" "$scratch/$f"
done
git_ add -A
git_ commit -q -m "base: the files of $(make -s -C "$ksrc" kernelversion) this series edits"
base=$(git_ rev-parse HEAD)

# edit FILE PYTHON: run a small Python edit on FILE (text in `s`), which
# must change it.
edit() {
	python3 - "$scratch/$1" "$2" <<'EOF'
import sys
path, code = sys.argv[1], sys.argv[2]
s = open(path).read()
before = s
exec(code)
if s == before:
    sys.exit(f"intree: edit of {path} changed nothing")
open(path, "w").write(s)
EOF
}

# insert_before FILE ANCHOR TEXT: TEXT goes right before the line ANCHOR.
insert_before() {
	edit "$1" "
anchor = '''$2\n'''
if s.count(anchor) != 1: sys.exit('intree: anchor not found once in $1: ' + anchor)
s = s.replace(anchor, '''$3''' + anchor)"
}

commit() { # SUBJECT BODY
	git_ add -A
	git_ commit -q -s -F - <<EOF
$1

$2
EOF
}

# 1. The kernel crate's debugfs fix (the module keeps its own, see
#    Documentation/vmlayout/patches/README.rst).
git_ am -q "$debugfs_patch"

# 2. The core (vmlayout_core/: no_std, allocation-free, no kernel calls), in
#    three patches a reviewer can read in turn, then the module around it.
#    The core is compiled by the module's Makefile, which comes with the
#    module: each patch builds.
mkdir -p "$scratch/$moddir/vmlayout_core" "$scratch/$moddir/scan" "$scratch/include/trace/events"
core() { # FILES...: vmlayout_core/FILE for each
	for f; do cp "$top/rust/vmlayout_core/$f" "$scratch/$moddir/vmlayout_core/"; done
}
core pte.rs layout.rs map.rs mm_doc.rs record.rs
cp "$top/rust/mmgen.rs" "$scratch/$moddir/"
cp "$top/Documentation/vmlayout/mm-historical.txt" "$scratch/$moddir/"
commit "x86/mm/vmlayout: the documented map and the page-table entries" \
"The first part of vmlayout's core (arch/x86/mm/vmlayout/vmlayout_core/,
no_std, allocation-free, no kernel calls): page-table entries and their
effective attributes (pte.rs), the live layout's bases (layout.rs), the
documented map as a table of regions and its parser for
Documentation/arch/x86/x86_64/mm.rst (map.rs, mm_doc.rs), which mmgen.rs
runs at build time, with the 4.x map kept in mm-historical.txt, and the
record format of vmlayout's debugfs files (record.rs).

Nothing builds these files yet: the module, with its Makefile, comes
later in this series."
core walk.rs runs.rs capture.rs
commit "x86/mm/vmlayout: the page-table walker" \
"The walker of vmlayout's core: the kernel half of a top-level table split
into work items, each walked into coalesced ranges with its tables read
once and its parent entry read again after, a table changed under the
walk noticed (walk.rs), and strided runs such as ESPFIX's (runs.rs). The
kernel gives it a table reader; host property tests hold it against a
leaf-by-leaf walk of random tables. The table pages a walk reads, laid
out as an ELF core file that crash-dump tools read (capture.rs).

Not built until the module comes."
core batch.rs work.rs sync.rs window.rs
commit "x86/mm/vmlayout: the parallel walk's protocols" \
"How the walk is shared among CPUs and checked again, in vmlayout's core: a
worker's output a batch at a time with an item undone when its tables
changed under it, and the worker's loop (batch.rs); the queue the items
are claimed from while they are made, the per-part slots a claim gives a
worker, the published join (work.rs); the comparison of a CPU's or an
mm's path with the reference (sync.rs); and the re-check of one window of
addresses spliced into the last walk (window.rs). The kernel gives them
its atomics and a reschedule point; host tests run them on real threads,
with property tests, and model-check the lock-free parts with loom.

Not built until the module comes."
core rules.rs direct_map.rs check.rs report.rs seen.rs pace.rs changed.rs
commit "x86/mm/vmlayout: the rules" \
"What vmlayout holds each mapped range to (rules.rs): holes empty, no W+X,
no user-accessible kernel page but the vsyscall page, the per-region
rules of mm.rst, PTI's and EFI's; and System RAM against the direct map
(direct_map.rs). Findings carry their rule, severity, table and owner.
The phases of a check, whoever reads the tables (check.rs), the
records of the debugfs files written from a check's result (report.rs),
findings across scans: first and last seen, appeared and cleared
(seen.rs), when watch mode's re-checks may run (pace.rs) and what they
re-check: the windows its hooks saw change (changed.rs).

Not built until the module comes."
# The module, in three patches: the parallel scan and the tracepoint with
# its probe (not built until the third), then the module itself with its
# debugfs files, Kconfig and Makefile. Without the out-of-tree code
# (compat.rs, and the items under cfg(vmlayout_external):
# strip_external.py).
module() { # FILES...: rust/FILE for each, as arch/x86/mm/vmlayout/FILE
	for f; do
		mkdir -p "$(dirname "$scratch/$moddir/$f")"
		cp "$top/rust/$f" "$scratch/$moddir/$f"
		case $f in *.rs) python3 "$here/strip_external.py" "$scratch/$moddir/$f" ;; esac
	done
}
runtime_files=(helpers.rs vmlayout_helpers.c vmlayout_helpers.h scan/reader.rs scan/workspace.rs)
jobs_files=(scan/mod.rs scan/walk_job.rs scan/rules_job.rs scan/pages.rs scan/floor.rs scan/window.rs)
other_files=(scan/other.rs)
scan_files=("${runtime_files[@]}" "${jobs_files[@]}" "${other_files[@]}")
probe_files=(fault.rs watch.rs vmlayout_events.c vmlayout_watch.c)
main_files=(vmlayout_main.rs files.rs live.rs tables.rs)
# Every source file is in some patch, or left out on purpose.
for f in "$top"/rust/*.rs "$top"/rust/*.c "$top"/rust/*.h "$top"/rust/vmlayout_core/*.rs; do
	name=${f#"$top/rust/"}
	case " ${scan_files[*]} ${probe_files[*]} ${main_files[*]} " in *" $name "*) continue ;; esac
	case $name in
	kunit.rs | mmgen.rs | compat.rs | vmlayout_core/generated_maps.rs | vmlayout_core/unit.rs) ;;
	vmlayout_core/*) [ -f "$scratch/$moddir/$name" ] || {
		echo "intree: rust/$name is in none of the core patches" >&2
		exit 1
	} ;;
	*) echo "intree: rust/$name is in none of the patches" >&2; exit 1 ;;
	esac
done
module "${runtime_files[@]}"
commit "x86/mm/vmlayout: per-CPU workers and the table reader" \
"What the scan stands on, on the core of the previous patches: one
kworker per online CPU, bound to it, preemptible, with interrupts on
(vmlayout_helpers.c posts the work, holds CPU hotplug off while it runs,
and keeps the workers of consecutive jobs waiting briefly so that they
start together; helpers.rs, its safe wrappers), the reference table
found and checked, and the direct-map reader that loads table entries
through the exception table, a fault reading as a failed read
(scan/reader.rs), and the buffers kept from scan to scan, one set per
CPU (scan/workspace.rs).

Not built until the module comes (four patches on)."
module "${jobs_files[@]}"
commit "x86/mm/vmlayout: the parallel walk and the rules" \
"The scan itself: the walk job splits the kernel half into work items
and walks them on every online CPU, each worker running the core's batch
loop and auditing its CPU's active top-level table (scan/walk_job.rs);
the rules job joins the workers' lists while the other workers check
what is joined, in chunks (scan/rules_job.rs); the scan's phases, its
findings looked up again before they are reported, and its result
(scan/mod.rs); the table pages a walk reads (scan/pages.rs), the
copy floor the benchmark compares a scan with (scan/floor.rs), and watch
mode's re-check of one window in place of the last scan's
(scan/window.rs).

Not built until the module comes (three patches on)."
module "${other_files[@]}"
commit "x86/mm/vmlayout: EFI's table, PTI's user tables and every process's" \
"The tables other than the reference, checked beside the rules as side
tasks of the rules job: EFI's (efi_mm's, built in only), PTI's user-mode
copy of the reference and of each process's table, and each process's
top-level table against the reference's kernel half (scan/other.rs).

Not built until the module comes (two patches on)."
module "${probe_files[@]}"
cp "$top/include/trace/events/vmlayout.h" "$scratch/include/trace/events/"
edit rust/bindings/bindings_helper.h "
s = s.rstrip('\n') + '''

#if IS_ENABLED(CONFIG_X86_VMLAYOUT)
#include <trace/events/vmlayout.h>
#endif
'''"
commit "x86/mm/vmlayout: a tracepoint on kernel faults in vmalloc space" \
"vmlayout:vmalloc_sync_fault fires for a kernel fault in vmalloc, module
or vmemmap space, with the faulting CPU's path through its active table
classed against init_mm's: a missing top-level entry that the reference
has (what vmalloc_sync_all() once fixed up), a different one, or a fault
the reference would take too. The probe attaches to
exceptions:page_fault_kernel.

The event header is included from rust/bindings/bindings_helper.h, so the
module reaches it with kernel::declare_trace!, as binder does.

Not built until the module comes (next patch)."
module "${main_files[@]}"
cat > "$scratch/$moddir/Makefile" <<'EOF'
# SPDX-License-Identifier: GPL-2.0

obj-$(CONFIG_X86_VMLAYOUT) += vmlayout.o
vmlayout-y := vmlayout_main.o vmlayout_events.o vmlayout_helpers.o vmlayout_watch.o

# The documented maps: generated at build time from this tree's mm.rst (and
# the 4.x map kept here) by mmgen.rs, a Rust host program that shares the
# parser with the module. vmlayout_main.rs includes the result.
hostprogs := mmgen
mmgen-rust := y

mm_rst := $(srctree)/Documentation/arch/x86/x86_64/mm.rst
quiet_cmd_mmgen = MMGEN   $@
      cmd_mmgen = $(obj)/mmgen $@ \
	"mm.rst=$(mm_rst):Documentation/arch/x86/x86_64/mm.rst" \
	"mm.txt-4.x=$(src)/mm-historical.txt:mm.txt (Linux 4.x, before the LDT remap)"

$(obj)/generated_maps.rs: $(obj)/mmgen $(mm_rst) $(src)/mm-historical.txt FORCE
	$(call if_changed,mmgen)
targets += generated_maps.rs

$(obj)/vmlayout_main.o: $(obj)/generated_maps.rs
EOF
insert_before arch/x86/Kconfig.debug "config DEBUG_TLBFLUSH" 'config X86_VMLAYOUT
	tristate "Check the kernel virtual memory layout against its documentation"
	depends on X86_64 && RUST && DEBUG_FS && TRACEPOINTS
	help
	  vmlayout reads the live KASLR bases and walks the kernel page
	  tables, on every online CPU in parallel, and holds every mapped
	  range against Documentation/arch/x86/x86_64/mm.rst: holes empty,
	  no W+X, no user-accessible kernel page but the vsyscall page,
	  per-region rules, every CPU and every process table in sync with
	  init_mm. The result is in /sys/kernel/debug/vmlayout/; a
	  tracepoint, vmlayout:vmalloc_sync_fault, classifies kernel faults
	  in vmalloc space. See Documentation/arch/x86/x86_64/vmlayout/.

	  Built in, the first scan runs at boot. Meant for test kernels;
	  it needs TRACEPOINTS for the fault probe.

	  To compile this as a module, choose M here: the module will be
	  called vmlayout.

	  If unsure, say N.

'
insert_before arch/x86/mm/Makefile "KASAN_SANITIZE_kasan_init_\$(BITS).o := n" 'obj-$(CONFIG_X86_VMLAYOUT)	+= vmlayout/

'
commit "x86/mm: add vmlayout, a Rust checker of the kernel virtual memory layout" \
"Documentation/arch/x86/x86_64/mm.rst documents where each region of the
kernel half lives. Nothing checks a running kernel against it: ptdump
prints the tables, CONFIG_DEBUG_WX checks one rule once at boot.

vmlayout reads the live bases (text slide, phys_base, page_offset_base,
vmalloc_base, vmemmap_base, paging mode; live.rs), walks init_mm's tables
on every online CPU (the scan of the previous patches), and holds every
range against the documented map: holes empty, no W+X, no user-accessible
kernel page but the vsyscall page, per-region rules, and every CPU's
active table and every process's table in sync with the reference for the
kernel half. Warn and error findings are looked up again before they are
reported. The result is in /sys/kernel/debug/vmlayout/ (files.rs): the
layout, the map, the findings, per-CPU statistics, the table pages a walk
reads as an ELF core file (tables.rs), and the commands that
rescan, plant self-test violations and time the scan against a copy.

The documented map is not copied: mmgen.rs, a Rust host program, parses
this tree's mm.rst at build time, with the same parser the module's unit
tests cover.

This patch adds the Kconfig option and the Makefile, which build the
files of the previous seven patches.

Files: arch/x86/Kconfig.debug (X86_VMLAYOUT), arch/x86/mm/Makefile and
arch/x86/mm/vmlayout/."

# 3. KUnit.
cp "$top/rust/kunit.rs" "$top/rust/.kunitconfig" "$scratch/$moddir/"
cp "$top/rust/vmlayout_core/unit.rs" "$scratch/$moddir/vmlayout_core/"
insert_before arch/x86/Kconfig.debug "config DEBUG_TLBFLUSH" 'config X86_VMLAYOUT_KUNIT_TEST
	bool "KUnit tests for vmlayout" if !KUNIT_ALL_TESTS
	depends on X86_VMLAYOUT && KUNIT=y
	default KUNIT_ALL_TESTS
	help
	  The unit checks of vmlayout'"'"'s kernel-independent core (the
	  documented maps generated from mm.rst, the mm.rst parser, entry
	  decoding, the record format, the audit'"'"'s bounded retries, the
	  parallel walk'"'"'s claims and counts) as the KUnit suite
	  vmlayout_core. The same checks run on the host with cargo test.

	  If unsure, say N.

'
commit "x86/mm/vmlayout: add KUnit tests" \
"Run the unit checks of vmlayout's core in the kernel, as the Rust KUnit
suite vmlayout_core, seven cases: the documented maps this tree's mm.rst
generates, the parser's errors, entry flags across levels, the record
format, the bounded retries of a CPU's table audit, every work item of
the parallel walk claimed exactly once, and the walk's counts adding up.
The checks are no_std and allocation-free, shared with the host build
that runs them with cargo test.

  ./tools/testing/kunit/kunit.py run --arch=x86_64 --make_options LLVM=1 \\
	--kunitconfig=arch/x86/mm/vmlayout 'vmlayout_core'"

# 4. Documentation.
mkdir -p "$scratch/$docdir"
# What a user of the kernel needs. Not kernels.rst (building out of tree),
# bench.rst (the project's TCG benchmark logs) nor offline.rst (the
# userspace tool, which the series does not carry): the project's own.
for f in "$top"/Documentation/vmlayout/*.rst; do
	case "$(basename "$f")" in
	kernels.rst | bench.rst | offline.rst) ;;
	*) cp "$f" "$scratch/$docdir/" ;;
	esac
done
edit "$docdir/index.rst" "
s = s.replace('   bench\\n', '', 1).replace('   offline\\n', '', 1)"
edit Documentation/arch/x86/x86_64/index.rst "
s = s.replace('   fred\n', '   fred\n   vmlayout/index\n', 1)"
commit "Documentation/x86/64: document vmlayout" \
"What vmlayout checks, the record format of its debugfs files, how the
walk stays correct while the tables change, and the fault event. Linked
from the x86_64 index."

# 5. The kselftest.
mkdir -p "$scratch/$selftest/test_modules"
for f in Makefile vmlayout.sh vmlayout_ldt.c vmlayout_bpf.c config settings test_modules/Makefile \
	test_modules/vmlayout_plant.c; do
	cp "$top/$selftest/$f" "$scratch/$selftest/$f"
done
insert_before tools/testing/selftests/Makefile "TARGETS += vfio" 'TARGETS += vmlayout
'
commit "selftests/vmlayout: add a kselftest for vmlayout" \
"Check every value vmlayout reports against a source it did not produce
(ptdump's markers, kallsyms, iomem), plant violations with a companion
module and see each found and gone after removal, and run 100 rescans
under fork, module and reader churn with no warn or error finding.

The companion module is built from test_modules/ against KDIR, as
livepatch's test modules are. The test skips when not run as root,
without CONFIG_PTDUMP_DEBUGFS, or without vmlayout; it restores
kptr_restrict and reads the kernel log from its own mark, clearing
nothing. Built in, the module-lifecycle cases are skipped."

# 6. MAINTAINERS.
insert_before MAINTAINERS "VMWARE BALLOON DRIVER" "VMLAYOUT (X86-64 KERNEL VIRTUAL MEMORY LAYOUT CHECKER)
M:	$author
L:	x86@kernel.org
L:	rust-for-linux@vger.kernel.org
S:	Maintained
F:	$docdir/
F:	$moddir/
F:	include/trace/events/vmlayout.h
F:	$selftest/

"
commit "MAINTAINERS: add an entry for vmlayout" \
"vmlayout's module, documentation, tracepoint header and kselftest."

# INTREE_EXPORT: also write every file the series touches, as it ends up.
if [ -n "${INTREE_EXPORT:-}" ]; then
	mkdir -p "$INTREE_EXPORT"
	git_ archive HEAD | tar -x -C "$INTREE_EXPORT"
fi
rm -rf "$out"
mkdir -p "$out"
git_ format-patch -q --cover-letter -o "$out" "$base"..HEAD
# No out-of-tree code in the series, not even named (compat.rs has it).
if grep -l '^+.*vmlayout_external' "$out"/0*.patch >&2; then
	echo "intree: the patches above carry out-of-tree code (vmlayout_external)" >&2
	exit 1
fi
# checkpatch --strict on every patch: each message left must have a reason
# in this table, and the cover letter lists them with it.
reasons=$scratch/reasons
cat > "$reasons" <<'EOF'
does MAINTAINERS need updating	the MAINTAINERS entry (last patch) covers every file the series adds
Macros with complex values should be enclosed in parentheses	the EM()/EMe() idiom of trace headers (as in include/trace/events/tlb.h)
Argument 'b' is not used in function-like macro	the EM()/EMe() idiom of trace headers (as in include/trace/events/tlb.h)
macros should not use a trailing semicolon	the EM()/EMe() idiom of trace headers (as in include/trace/events/tlb.h)
Alignment should match open parenthesis	the TRACE_EVENT() layout of include/trace/events/*.h
Lines should not end with a '('	the TRACE_EVENT() layout of include/trace/events/*.h
spaces preferred around that '/'	TRACE_INCLUDE_PATH trace/events is a path, not a division
Misplaced SPDX-License-Identifier tag	a string in mmgen.rs: the SPDX line it writes at the top of the file it generates
exceeds 100 columns	a format string, or a line of the kselftest's shell (an awk program, a test description), kept whole so it can be grepped
'useable' may be misspelled	the field's name in struct user_desc (include/uapi/asm/ldt.h)
Prefer a maximum 75 chars per line	a command or its output quoted verbatim in the message (the reproducer's rmmod error, the kunit.py command line)
EOF
report=$scratch/checkpatch
: > "$report"
unexplained=0
for p in "$out"/0*.patch; do
	case $p in */0000-cover-letter.patch) continue ;; esac
	msgs=$(cd "$ksrc" && perl scripts/checkpatch.pl --strict --terse --no-summary "$p" |
		sed -n 's/^[^:]*:[0-9]*: \(ERROR\|WARNING\|CHECK\): //p' |
		sed 's/line length of [0-9]* exceeds/line length exceeds/' | sort | uniq -c) || true
	[ -n "$msgs" ] || continue
	echo "$(basename "$p"):" >> "$report"
	while read -r count msg; do
		reason=$(awk -F'\t' -v m="$msg" 'index(m, $1) { print $2; exit }' "$reasons")
		if [ -z "$reason" ]; then
			echo "intree: checkpatch: no reason recorded for '$msg' in $(basename "$p")" >&2
			unexplained=1
		fi
		echo "  ${count}x $msg: ${reason:-NO REASON}" >> "$report"
	done <<< "$msgs"
done
[ "$unexplained" -eq 0 ] || exit 1

cover=$out/0000-cover-letter.patch
python3 - "$cover" "$(make -s -C "$ksrc" kernelversion)" "$report" <<'EOF'
import sys
path, version, report = sys.argv[1], sys.argv[2], open(sys.argv[3]).read()
s = open(path).read()
s = s.replace("*** SUBJECT HERE ***", "x86/mm: vmlayout, check the kernel virtual memory layout against mm.rst")
s = s.replace("*** BLURB HERE ***", f"""vmlayout is a Rust module that holds the live x86-64 kernel virtual
memory layout against Documentation/arch/x86/x86_64/mm.rst: the KASLR
bases against their documented windows, every mapped range of the kernel
half against the documented regions and a set of rules (holes empty, no
W+X, no user-accessible kernel page but the vsyscall page, all CPUs' and
processes' tables in sync), with the result in debugfs and a tracepoint
classifying kernel faults in vmalloc space.

Patch 1 fixes the Rust debugfs abstraction, whose files do not pin their
module (a file held open across rmmod oopses on close); vmlayout itself
does not depend on it. Patches 2-5 add vmlayout's kernel-independent
core (the documented map and the entries, the walker, the parallel
walk's protocols, the rules), patches 6-10 its kernel side (per-CPU
workers and the table reader, the parallel walk and the rules, the other
tables, the fault tracepoint, then the module with its debugfs files,
Kconfig and Makefile, which builds the files of patches 2-9), patches
11-14 its KUnit tests, documentation, kselftest and a MAINTAINERS entry.

Against Linux {version}. Tested with the kselftest (modular and built
in, both paging modes), the KUnit suite through kunit.py, and stress
and KASAN runs.

scripts/checkpatch.pl --strict: no message but these, each with its
reason (count, message: reason):

{report if report else "  none"}""")
open(path, "w").write(s)
EOF
ls "$out"
