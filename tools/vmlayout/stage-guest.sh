#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Stage what a guest of a kernel built with vmlayout in tree needs, the way
# the kernel installs it: the kernel's modules (`make modules_install`, so
# `modprobe vmlayout` works) and the kselftest (`make -C
# tools/testing/selftests TARGETS=vmlayout install`, run in the guest with
# run_kselftest.sh; its companion module is built against KDIR there).
# Prints the staging directory: STAGE/modules (copied to / in the guest by
# vm.sh -M) and STAGE/kselftest.
#
#   stage-guest.sh KDIR
set -euo pipefail

kdir=$(cd "${1:?usage: stage-guest.sh KDIR}" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
# The static userspace reporter (make reporter), which the kselftest runs.
bin=${VMLAYOUT_BIN:-${CARGO_TARGET_DIR:-$top/tools/vmlayout/target}/x86_64-unknown-linux-gnu/release/vmlayout}
[ -x "$bin" ] || { echo "stage-guest: no vmlayout tool $bin (make reporter)" >&2; exit 1; }
src=$(readlink -f "$kdir/source")
cc_line=$("$(dirname "$0")/kdir-cc.sh" "$kdir")
read -ra cc <<< "$cc_line"
selftests=$src/tools/testing/selftests
[ -d "$selftests/vmlayout" ] || { echo "stage-guest: $src has no vmlayout kselftest (make intree)" >&2; exit 1; }
stage=$kdir/vmlayout-stage
rm -rf "$stage"
mkdir -p "$stage/modules"
if grep -q '^CONFIG_MODULES=y' "$kdir/.config"; then
	make -s -C "$src" O="$kdir" "${cc[@]}" INSTALL_MOD_PATH="$stage/modules" modules_install >&2
	rm -f "$stage"/modules/lib/modules/*/build "$stage"/modules/lib/modules/*/source
fi
# The companion module's build products belong to the last kernel it was
# built for: start clean, since the tree's copy is shared by kernel variants.
make -s -C "$selftests/vmlayout/test_modules" KDIR="$kdir" O="$kdir" "${cc[@]}" clean >&2
make -s -C "$selftests" TARGETS=vmlayout KDIR="$kdir" O="$kdir" "${cc[@]}" \
	INSTALL_PATH="$stage/kselftest" install >&2
cp "$bin" "$stage/kselftest/vmlayout/vmlayout"
[ -f "$stage/kselftest/vmlayout/test_modules/vmlayout_plant.ko" ] ||
	{ echo "stage-guest: the companion module was not built" >&2; exit 1; }
echo "$stage"
