#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# `make rustdoc` for vmlayout in tree: the kernel's `make rustdoc` documents
# the kernel's crates (core, kernel, pin_init, ...), not drivers, so this runs
# rustdoc on the module with the exact flags Kbuild compiled it with (from
# arch/x86/mm/vmlayout/.vmlayout_main.o.cmd), next to the kernel's crates in
# Documentation/output/rust/rustdoc/ so the links into `kernel` resolve.
# Fails on any rustdoc warning (-Dwarnings, private items included).
#
#   rustdoc.sh KDIR     KDIR: a build of a tree with vmlayout in it (=m or =y)
set -euo pipefail

kdir=$(cd "$1" && pwd)
src=$(readlink -f "$kdir/source")
cmdfile=$kdir/arch/x86/mm/vmlayout/.vmlayout_main.o.cmd
[ -f "$cmdfile" ] || { echo "rustdoc: $cmdfile missing: build vmlayout in $kdir first" >&2; exit 1; }
cc_line=$("$(dirname "$0")/kdir-cc.sh" "$kdir")
read -ra cc <<< "$cc_line"

out=$kdir/Documentation/output/rust/rustdoc
# The kernel's crates, once (it rebuilds them all each time: minutes).
[ -f "$out/kernel/index.html" ] || make -s -C "$src" O="$kdir" "${cc[@]}" rustdoc

# The compile command: environment assignments, the driver, its flags.
# Split as the shell that ran it did (it quotes -Zcrate-attr).
eval "words=($(sed -n 's/^savedcmd_[^ ]* := //p' "$cmdfile"))"
env_vars=() flags=() driver_seen=0 skip_next=0
for w in "${words[@]}"; do
	if [ "$skip_next" -eq 1 ]; then skip_next=0; continue; fi
	if [ "$driver_seen" -eq 0 ]; then
		case "$w" in
		*=*) env_vars+=("$w"); continue ;;
		*) driver_seen=1; continue ;; # rustc or clippy-driver
		esac
	fi
	case "$w" in
	--emit=* | --remap-path-scope=* | -Zbinary_dep_depinfo=*) ;;
	--out-dir) skip_next=1 ;;
	*) flags+=("$w") ;;
	esac
done
log=$(mktemp)
trap 'rm -f "$log"' EXIT
(cd "$kdir" && env RUSTC_BOOTSTRAP=1 "${env_vars[@]}" rustdoc "${flags[@]}" \
	-Cunsafe-allow-abi-mismatch=fixed-x18 --document-private-items \
	-Zunstable-options --generate-link-to-definition \
	--crate-name vmlayout --output "$out" -Dwarnings) 2>&1 | tee "$log"
[ ! -s "$log" ] || { echo "rustdoc: the messages above are warnings or errors" >&2; exit 1; }
[ -f "$out/vmlayout/index.html" ] || { echo "rustdoc: no $out/vmlayout/index.html" >&2; exit 1; }
echo "rustdoc: $out/vmlayout/index.html, no warning"
