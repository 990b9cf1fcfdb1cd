#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What dkms.conf's MAKE runs: build vmlayout.ko in BUILD_DIR against KDIR
# with the compiler that built KDIR (kdir-cc.sh). DKMS appends CC=clang and
# LD=ld.lld for a clang-built kernel: unversioned names, which Debian's
# clang-NN packages do not install; those are replaced by what KDIR's
# .config says. Every other argument (-jN, KERNELRELEASE=) goes to make.
#
#   dkms-build.sh KDIR BUILD_DIR [MAKE ARGUMENTS]
set -euo pipefail

kdir=${1:?usage: dkms-build.sh KDIR BUILD_DIR [MAKE ARGUMENTS]}
build=${2:?usage: dkms-build.sh KDIR BUILD_DIR [MAKE ARGUMENTS]}
shift 2
args=()
for a; do
	case "$a" in
	CC=* | LD=* | LLVM=*) ;;
	*) args+=("$a") ;;
	esac
done
cc_line=$("$(dirname "$0")/kdir-cc.sh" "$kdir")
read -ra cc <<< "$cc_line"
exec make -C "$kdir" M="$build" "${args[@]}" "${cc[@]}" modules
