#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build vmlayout.ko and the selftest's vmlayout_plant.ko against a second
# kernel (a config variant such as KASAN) without touching the checkout's own
# in-tree build: the module sources are staged next to that kernel's build
# directory and built there. For a kernel without vmlayout in its tree.
# Prints the staging directory as the last line: OUT/vmlayout.ko, and
# OUT/kselftest (the kselftest and its companion module, installed).
#
#   build-variant-modules.sh KDIR
#
# STRICT=1: vmlayout built with CLIPPY=1, and any warning from the compiler
# or clippy fails (make check: the kernel crate of another version, or
# another compiler, must not make new warnings in vmlayout's code).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=$(cd "${1:?usage: build-variant-modules.sh KDIR}" && pwd)
out=$kdir/vmlayout-modules
cc_line=$("$here/kdir-cc.sh" "$kdir")
read -ra cc <<< "$cc_line"
selftest=tools/testing/selftests/vmlayout

# Only sources: build products of the checkout's own build must not be
# mistaken for this kernel's. Staged afresh each time (a few seconds), as
# the staging is shared by every checkout and make goes by timestamps.
rm -rf "$out"
mkdir -p "$out/$selftest/test_modules"
(cd "$top" && find Kbuild include rust -type f \( -name Kbuild -o -name '*.rs' -o -name '*.c' \
	-o -name '*.h' \) -print0 | cpio -0 -pdmu --quiet "$out")
cp "$top/$selftest/test_modules/Makefile" "$top/$selftest/test_modules/vmlayout_plant.c" \
	"$out/$selftest/test_modules/"
if [ "${STRICT:-0}" = 1 ]; then
	make -C "$kdir" M="$out" "${cc[@]}" CLIPPY=1 modules 2>&1 | tee "$out/build.log" >&2
	! grep -E '(^|: )(warning|error)(\[|:)' "$out/build.log" >&2 ||
		{ echo "build-variant-modules: warnings building vmlayout against $kdir" >&2; exit 1; }
else
	make -C "$kdir" M="$out" "${cc[@]}" modules >&2
fi
make -C "$out/$selftest/test_modules" KDIR="$kdir" "${cc[@]}" >&2
"$here/sign-modules.sh" "$kdir" "$out/vmlayout.ko" "$out/$selftest/test_modules/vmlayout_plant.ko"
# The kselftest laid out as `make install` lays it out in a tree that has it,
# with this kernel's own runner and KTAP helpers (this kernel's tree does
# not have vmlayout): OUT/kselftest/run_kselftest.sh -t vmlayout:vmlayout.sh.
src=$(readlink -f "$kdir/source")
ksft=$out/kselftest
mkdir -p "$ksft/kselftest" "$ksft/vmlayout/test_modules"
cp "$src"/tools/testing/selftests/kselftest/{runner.sh,ktap_helpers.sh,module.sh,prefix.pl} "$ksft/kselftest/"
cp "$src/tools/testing/selftests/run_kselftest.sh" "$ksft/"
cp "$top/$selftest"/{vmlayout.sh,config,settings} "$ksft/vmlayout/"
cp "$out/$selftest/test_modules/vmlayout_plant.ko" "$ksft/vmlayout/test_modules/"
gcc -static -O2 -Wall -o "$ksft/vmlayout/vmlayout_ldt" "$top/$selftest/vmlayout_ldt.c"
gcc -static -O2 -Wall -o "$ksft/vmlayout/vmlayout_bpf" "$top/$selftest/vmlayout_bpf.c"
# The static userspace reporter (make reporter), which the kselftest runs.
bin=${VMLAYOUT_BIN:-${CARGO_TARGET_DIR:-$top/tools/vmlayout/target}/x86_64-unknown-linux-gnu/release/vmlayout}
[ -x "$bin" ] || { echo "build-variant-modules: no vmlayout tool $bin (make reporter)" >&2; exit 1; }
cp "$bin" "$ksft/vmlayout/vmlayout"
echo "vmlayout:vmlayout.sh" > "$ksft/kselftest-list.txt"
echo "$out"
