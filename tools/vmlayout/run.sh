#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: boot the test kernel, load vmlayout, take a snapshot in the
# guest, then print `vmlayout report` of it and draw the picture.
#
#   run.sh BZIMAGE MODULE VMLAYOUT_BIN PAGING OUTDIR [vm.sh options]
#
# OUTDIR gets snapshot (every vmlayout file, kernel release, command line,
# config) and layout.svg. RAW=1 also prints the raw debugfs files. The
# report's status (0 clean, 1 warnings, 2 errors) is printed, not failed on:
# `make run` shows; `vmlayout report` is the gate.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 5 ] || { echo "usage: run.sh BZIMAGE MODULE VMLAYOUT_BIN PAGING OUTDIR [vm.sh options]" >&2; exit 2; }
kernel=$1 module=$2 bin=$3 paging=$4 outdir=$5
shift 5
mkdir -p "$outdir"
"$here/snapshot-boot.sh" "$kernel" "$module" "$bin" "$paging" "$outdir/snapshot" "$@"
if [ "${RAW:-0}" = 1 ]; then
	sed -n '/^file name=/,/^end files=/{/^file name=/{s/^file name=\([a-z]*\).*/==> \1 <==/;p;d};/^end files=/d;p}' "$outdir/snapshot"
	echo
fi
rc=0
"$bin" report "$outdir/snapshot" || rc=$?
[ "$rc" -lt 3 ] || exit 1
"$bin" draw "$outdir/snapshot" -o "$outdir/layout.svg"
echo
echo "report status $rc (0 clean, 1 warnings, 2 errors); snapshot: $outdir/snapshot"
echo "picture of the kernel half: $outdir/layout.svg"
echo "raw files: make run RAW=1, or in the guest: cat /sys/kernel/debug/vmlayout/*"
