#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make kaslr`: boot the test kernel BOOTS times per paging mode, take a
# `vmlayout snapshot` in each boot, and report `vmlayout kaslr` over them.
#
#   kaslr.sh BZIMAGE MODULE VMLAYOUT_BIN BOOTS "PAGINGS" OUTDIR
#
# Two guests at a time, each on one TCG thread. OUTDIR keeps every
# snapshot (pP-bNNN.snap) and the statistics (kaslr-P.txt, kaslr.json).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 6 ] || { echo "usage: kaslr.sh BZIMAGE MODULE VMLAYOUT_BIN BOOTS PAGINGS OUTDIR" >&2; exit 2; }
kernel=$1 module=$2 bin=$3 boots=$4 pagings=$5 outdir=$6
case $boots in '' | *[!0-9]* | 0) echo "kaslr: BOOTS must be a positive number, not '$boots'" >&2; exit 2 ;; esac
for p in $pagings; do
	case $p in 4 | 5) ;; *) echo "kaslr: PAGING must be 4 or 5, not '$p'" >&2; exit 2 ;; esac
done
mkdir -p "$outdir"
rm -f "$outdir"/p[45]-b*.snap
parallel=${PARALLEL:-2}
t0=$SECONDS
fail=0
one() {
	local p=$1 b=$2 f
	f=$outdir/p$p-b$(printf %03d "$b").snap
	"$here/snapshot-boot.sh" "$kernel" "$module" "$bin" "$p" "$f" -S -t 120 > "$outdir/.log-p$p-b$b" 2>&1 ||
		{ echo "kaslr: boot $b (${p}-level) failed:" >&2; cat "$outdir/.log-p$p-b$b" >&2; return 1; }
	rm -f "$outdir/.log-p$p-b$b"
}
running=0
for p in $pagings; do
	for b in $(seq 1 "$boots"); do
		one "$p" "$b" &
		running=$((running + 1))
		if [ "$running" -ge "$parallel" ]; then wait -n || fail=1; running=$((running - 1)); fi
	done
done
while [ "$running" -gt 0 ]; do wait -n || fail=1; running=$((running - 1)); done
[ "$fail" -eq 0 ] || exit 1
echo "kaslr: $(ls "$outdir"/p[45]-b*.snap | wc -l) snapshots in $((SECONDS - t0)) s, in $outdir"
rc=0
for p in $pagings; do
	"$bin" kaslr "$outdir"/p$p-b*.snap | tee "$outdir/kaslr-$p.txt" || rc=$?
	echo
done
# shellcheck disable=SC2046
"$bin" kaslr --json $(for p in $pagings; do echo "$outdir"/p$p-b*.snap; done) > "$outdir/kaslr.json" || true
[ "$rc" -le 1 ] || exit 1
[ "$rc" -eq 0 ] || echo "kaslr: a base is flagged DEGRADED (above)"
