#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `vmlayout check` on the kernels people run: Debian's own images as Debian
# ships them (no build, no module: fetch-debian-kernel.sh), the newest 7.x
# of trixie-backports and trixie's 6.12 LTS, each booted under OVMF with
# pti=on in both paging modes, and once more in 4-level with KASLR off. In each boot the static tool checks the
# running kernel through /proc/kcore and the boot passes when its report
# has no warn or error finding and no error verdict (exit status 0; a
# region that departs from mm.rst is shown, not an error).
#
#   check-distro.sh CACHE_DIR [current|lts ...]
#
# VMLAYOUT_BIN: the static tool (make reporter). DISTRO_BOOTS: the boots,
# PAGING:ARGS separated by "|" (default "5:pti=on|4:pti=on|4:pti=on nokaslr").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${1:?usage: check-distro.sh CACHE_DIR [current|lts ...]}
shift
kinds=${*:-current lts}
bin=${VMLAYOUT_BIN:-${CARGO_TARGET_DIR:-$top/tools/vmlayout/target}/x86_64-unknown-linux-gnu/release/vmlayout}
[ -x "$bin" ] || { echo "check-distro: no vmlayout tool $bin (make reporter)" >&2; exit 1; }
log=${DISTRO_LOG:-$(mktemp -d "${TMPDIR:-/tmp}/vmlayout-distro.XXXXXX")}
mkdir -p "$log"

cmd='/root/vmlayout check -o /tmp/kcore.snap; st=$?
echo "vmlayout-check-exit=$st"
/root/vmlayout report --color=never /tmp/kcore.snap
exit $st'
fail=0
for kind in $kinds; do
	vmlinuz=$("$here/fetch-debian-kernel.sh" "$cache" "$kind" | tail -n1)
	release=$(basename "$(dirname "$vmlinuz")")
	IFS='|' read -r -a boots <<< "${DISTRO_BOOTS:-5:pti=on|4:pti=on|4:pti=on nokaslr}"
	for boot in "${boots[@]}"; do
		paging=${boot%%:*} args=${boot#*:}
		name=$release-p$paging${args:+-$(echo "$args" | tr ' =' '_-')}
		t0=$SECONDS rc=0
		# One host thread for every vCPU (-S): pti=on's boot-time text
		# patching needs it under TCG (vm.sh).
		"$here/vm.sh" -k "$vmlinuz" -E -S -p "$paging" -m 2G -a "$args" -t 600 \
			-f "$bin" -- "$cmd" > "$log/$name.log" 2>&1 || rc=$?
		if [ "$rc" -eq 0 ]; then
			echo "ok: $name: vmlayout check clean ($((SECONDS - t0)) s)"
		else
			echo "FAIL: $name: vmlayout check exit $rc ($((SECONDS - t0)) s)"
			fail=1
		fi
		sed 's/\x1b\[[0-9;=]*[A-Za-z]//g' "$log/$name.log" | { grep -v '^$' || true; } | sed -n '1,40s/^/  /p'
	done
done
exit $fail
