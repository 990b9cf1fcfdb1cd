#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build vmlayout.ko and the selftest's vmlayout_plant.ko against a second
# kernel (a config variant such as KASAN) without touching the checkout's own
# in-tree build: the module sources are staged next to that kernel's build
# directory and built there. Prints the staging directory as the last line;
# the modules are OUT/vmlayout.ko and OUT/tools/testing/selftests/vmlayout/
# vmlayout_plant.ko.
#
#   build-variant-modules.sh KDIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=$(cd "${1:?usage: build-variant-modules.sh KDIR}" && pwd)
out=$kdir/vmlayout-modules
llvm=${LLVM:--19}
selftest=tools/testing/selftests/vmlayout

# Only sources: build products of the checkout's own build must not be
# mistaken for this kernel's. Staged afresh each time (a few seconds), as
# the staging is shared by every checkout and make goes by timestamps.
rm -rf "$out"
mkdir -p "$out/$selftest"
(cd "$top" && find Kbuild include rust -type f \( -name Kbuild -o -name '*.rs' -o -name '*.c' \
	-o -name '*.h' \) -print0 | cpio -0 -pdmu --quiet "$out")
cp "$top/$selftest/Kbuild" "$top/$selftest/vmlayout_plant.c" "$out/$selftest/"
make -C "$kdir" M="$out" LLVM="$llvm" modules >&2
make -C "$kdir" M="$out/$selftest" LLVM="$llvm" modules >&2
echo "$out"
