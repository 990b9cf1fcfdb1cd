#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the test kernel once, load vmlayout and take a `vmlayout snapshot`
# in the guest; write it to OUT on the host.
#
#   snapshot-boot.sh BZIMAGE MODULE VMLAYOUT_BIN PAGING OUT [vm.sh options]
#
# The guest runs the static `vmlayout` binary; its snapshot comes back over
# the runner's command serial port (CRs removed) and must parse: the host's
# `vmlayout report` reads it before it is kept.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 5 ] || { echo "usage: snapshot-boot.sh BZIMAGE MODULE VMLAYOUT_BIN PAGING OUT [vm.sh options]" >&2; exit 2; }
kernel=$1 module=$2 bin=$3 paging=$4 out=$5
shift 5
raw=$(mktemp "${TMPDIR:-/tmp}/vmlayout-snap.XXXXXX")
trap 'rm -f "$raw"' EXIT
"$here/vm.sh" -k "$kernel" -p "$paging" "$@" -f "$module" -f "$bin" -- \
	'insmod /root/vmlayout.ko && /root/vmlayout snapshot' | tr -d '\r' > "$raw"
sed -n '/^# vmlayout snapshot=/,/^end files=/p' "$raw" > "$out.tmp"
rc=0
"$bin" report "$out.tmp" > /dev/null || rc=$?
if [ "$rc" -ge 3 ]; then
	echo "snapshot-boot: the guest's snapshot does not parse; guest output:" >&2
	cat "$raw" >&2
	rm -f "$out.tmp"
	exit 1
fi
mv "$out.tmp" "$out"
