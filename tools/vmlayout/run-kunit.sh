#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run vmlayout's KUnit suite (vmlayout_core) through the kernel's own
# runner, tools/testing/kunit/kunit.py, which boots the kernel in QEMU and
# parses its KTAP. KDIR is a build of a tree with vmlayout in it (make
# intree) whose config holds arch/x86/mm/vmlayout/.kunitconfig (the KASAN
# variant does): kunit.py keeps such a build and rebuilds only what changed.
#
#   run-kunit.sh KDIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
kdir=$(cd "${1:?usage: run-kunit.sh KDIR}" && pwd)
src=$(readlink -f "$kdir/source")
kunitconfig=$src/arch/x86/mm/vmlayout/.kunitconfig
cc_line=$("$here/kdir-cc.sh" "$kdir")
read -ra cc <<< "$cc_line"
make_options=()
for o in "${cc[@]}"; do make_options+=(--make_options "$o"); done
[ -f "$kunitconfig" ] || { echo "run-kunit: $src has no vmlayout .kunitconfig (make intree)" >&2; exit 1; }
# kunit.py regenerates .config (a full rebuild) unless the build's record of
# its last kunitconfig matches this one with the arch's additions: write it.
{ printf 'CONFIG_SERIAL_8250=y\nCONFIG_SERIAL_8250_CONSOLE=y\n'; cat "$kunitconfig"; } > "$kdir/last_used_kunitconfig"
while IFS= read -r line; do
	grep -qx "$line" "$kdir/.config" || { echo "run-kunit: $kdir lacks $line" >&2; exit 1; }
done < "$kdir/last_used_kunitconfig"
cd "$src"
out=$(mktemp)
config=$(mktemp)
trap 'rm -f "$out" "$config"' EXIT
cp "$kdir/.config" "$config"
rc=0
# TCG only: kunit.py asks for KVM first (see tcg/qemu-system-x86_64).
PATH="$here/tcg:$PATH" python3 tools/testing/kunit/kunit.py run --arch=x86_64 --build_dir="$kdir" \
	--kunitconfig="$kunitconfig" "${make_options[@]}" --jobs "$(nproc)" \
	--timeout 900 'vmlayout_core' 2>&1 | tee "$out" || rc=$?
# kunit.py must have kept the variant's config (it rewrites a .config that
# does not hold the kunitconfig, which would make this another kernel).
# (Its header comment names ARCH=x86_64 instead of x86: only settings count.)
cmp -s <(grep -v '^#' "$config") <(grep -v '^#' "$kdir/.config") ||
	{ echo "run-kunit: kunit.py changed the settings of $kdir/.config" >&2; exit 1; }
# The suite must have run: as many passes as it has cases, none failed.
cases=$(grep -c '^    #\[test\]' "$src/arch/x86/mm/vmlayout/kunit.rs")
grep -q "Testing complete. Ran $cases tests: passed: $cases" "$out" ||
	{ echo "run-kunit: expected $cases passing vmlayout_core cases" >&2; exit 1; }
exit "$rc"
