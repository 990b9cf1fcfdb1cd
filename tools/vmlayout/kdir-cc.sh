#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The compiler that built a kernel: prints the make arguments that build
# modules (and anything else) against KDIR with it, on one line, e.g.
# "LLVM=-19" or "LLVM= CC=gcc-12". Read from KDIR/.config, as the kernel
# itself records it (CONFIG_CC_IS_GCC / CONFIG_CC_IS_CLANG, the version,
# CONFIG_CC_VERSION_TEXT, CONFIG_LD_IS_LLD), never assumed.
#
#   kdir-cc.sh KDIR
#
# VMLAYOUT_CC, when set (the top Makefile sets it from LLVM= and CC= on its
# command line), is printed instead: the user's choice overrides.
#
# A compiler that is not installed is one line on stderr naming the Debian
# package that has it, and exit status 2. A rustc other than the kernel's is
# a warning: Rust modules only link against the kernel crate of the same
# rustc.
set -euo pipefail

kdir=${1:?usage: kdir-cc.sh KDIR}
config=$kdir/.config
[ -f "$config" ] || { echo "kdir-cc: $kdir has no .config: not a kernel build directory" >&2; exit 2; }
conf() { sed -n "s/^CONFIG_$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$config" | head -n1; }
missing() { echo "kdir-cc: $kdir was built by $(conf CC_VERSION_TEXT); install $1 (Debian package $2)" >&2; exit 2; }
# major NUMBER: the major version of a CONFIG_*_VERSION number (120200 -> 12).
major() { echo $(($1 / 10000)); }
# version_of PROGRAM: its first line of --version, or nothing.
version_of() { command -v "$1" > /dev/null && "$1" --version 2> /dev/null | head -n1 || true; }

rustc_text=$(conf RUSTC_VERSION_TEXT)
if [ -n "$rustc_text" ] && [ "$(version_of "${RUSTC:-rustc}")" != "$rustc_text" ]; then
	echo "kdir-cc: warning: $kdir was built with $rustc_text, ${RUSTC:-rustc} is '$(version_of "${RUSTC:-rustc}")':" \
		"Rust modules need the kernel's rustc (RUSTC=)" >&2
fi

if [ -n "${VMLAYOUT_CC+x}" ]; then
	echo "$VMLAYOUT_CC"
	exit 0
fi

text=$(conf CC_VERSION_TEXT)
if grep -q '^CONFIG_CC_IS_CLANG=y' "$config"; then
	v=$(major "$(conf CLANG_VERSION)")
	if command -v "clang-$v" > /dev/null; then
		cc=clang-$v llvm=-$v
	elif [ "$(version_of clang)" = "$text" ]; then
		cc=clang llvm=1
	else
		missing "clang $v" "clang-$v lld-$v llvm-$v"
	fi
	# LLVM= picks lld and the LLVM binutils too: only if the kernel used lld.
	if grep -q '^CONFIG_LD_IS_LLD=y' "$config"; then echo "LLVM=$llvm"; else echo "LLVM= CC=$cc"; fi
elif grep -q '^CONFIG_CC_IS_GCC=y' "$config"; then
	v=$(major "$(conf GCC_VERSION)")
	# The program the kernel ran is the first word of its version text
	# (gcc, gcc-14, x86_64-linux-gnu-gcc-14, ...).
	for cc in "${text%% *}" "gcc-$v" "x86_64-linux-gnu-gcc-$v" gcc; do
		if [ "$(version_of "$cc" | cut -d' ' -f2-)" = "${text#* }" ]; then
			echo "LLVM= CC=$cc"
			exit 0
		fi
	done
	# The same major version is close enough (the kernel warns, and builds).
	for cc in "gcc-$v" gcc; do
		if [ "$(version_of "$cc" | sed 's/.* \([0-9]*\)\.[0-9.]*$/\1/')" = "$v" ]; then
			echo "LLVM= CC=$cc"
			exit 0
		fi
	done
	missing "GCC $v" "gcc-$v"
else
	echo "kdir-cc: $config names neither GCC nor clang (CONFIG_CC_IS_GCC, CONFIG_CC_IS_CLANG)" >&2
	exit 2
fi
