#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Build (or reuse) the vmlayout test kernel. Prints the build directory as the
# last line. The build lives in a cache outside the checkout, keyed by kernel
# version and config fragments, so it is built once and reused.
#
#   build-kernel.sh [VARIANT]   VARIANT: a fragment config.VARIANT merged after
#                               the test kernel's config (e.g. kasan). Lines
#                               of the form "# key: value" in the fragments:
#                               "# base: TARGETS" replaces tinyconfig as the
#                               starting point (e.g. x86_64_defconfig);
#                               "# compiler: gcc" builds with GCC instead of
#                               LLVM; "# version: 7.2" builds that Debian
#                               linux-source instead of the newest supported.
#
# Environment: VMLAYOUT_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/vmlayout),
# KSRC (a kernel source tree to use instead of Debian's linux-source),
# KVER (Debian linux-source version, default: the fragment's or 7.3),
# LLVM (default -19, for the fragments that do not ask for GCC).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cache=${VMLAYOUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmlayout}
fragments=("$top/tools/testing/selftests/vmlayout/config")
if [ -n "${1:-}" ]; then
	fragments+=("$top/tools/testing/selftests/vmlayout/config.$1")
	[ -f "${fragments[1]}" ] || { echo "build-kernel: no ${fragments[1]}" >&2; exit 1; }
fi
# fragment_key KEY: the last "# KEY: value" line of the fragments.
fragment_key() { sed -n "s/^# $1: //p" "${fragments[@]}" | tail -n1; }
case "$(fragment_key compiler)" in
gcc) cc_args=(CC=gcc HOSTCC=gcc) ;;
"") cc_args=(LLVM="${LLVM--19}") ;;
*) echo "build-kernel: unknown '# compiler: $(fragment_key compiler)' (gcc, or none for LLVM)" >&2; exit 1 ;;
esac
export PATH="$HOME/.cargo/bin:$PATH"
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}

if [ -n "${KSRC:-}" ]; then
	src=$(cd "$KSRC" && pwd)
else
	src=$("$here/fetch-kernel-source.sh" "$cache/src" "${KVER:-$(fragment_key version)}" | tail -n1)
fi
[ -f "$src/Makefile" ] || { echo "build-kernel: $src is not a kernel tree" >&2; exit 1; }

version=$(make -s -C "$src" kernelversion)
key=$(cat "${fragments[@]}" | sha256sum | cut -c1-12)

# vmlayout in tree (the last CONFIG_X86_VMLAYOUT of the fragments is y or m):
# build from a copy of the tree with the series of `make intree` applied.
# Only files whose content the series changes are rewritten, so a change
# to the module rebuilds the module, not the kernel.
series_key=""
if cat "${fragments[@]}" | grep '^CONFIG_X86_VMLAYOUT=' | tail -n1 | grep -q '=[ym]$'; then
	pristine=$src
	src=$cache/src/intree-$(echo "$pristine" | sha256sum | cut -c1-8)
	if [ ! -f "$src/.vmlayout-copied" ]; then
		echo "build-kernel: copying $pristine to $src (once)" >&2
		rm -rf "$src"
		cp -a "$pristine" "$src"
		touch "$src/.vmlayout-copied"
	fi
	stage=$(mktemp -d)
	INTREE_EXPORT=$stage/tree "$here/intree.sh" "$pristine" "$stage/series" >&2
	rsync -rc "$stage/tree/" "$src/"
	# A file an earlier series wrote and this one does not (rsync only adds
	# and changes): in the directories the series owns, gone; elsewhere
	# (the manifest of the last series), back to the pristine tree's.
	(cd "$stage/tree" && find . -type f | sed 's#^\./##' | sort) > "$stage/files"
	{
		for d in arch/x86/mm/vmlayout tools/testing/selftests/vmlayout \
			Documentation/arch/x86/x86_64/vmlayout; do
			[ ! -d "$src/$d" ] || (cd "$src" && find "$d" -type f)
		done
		cat "$src/.vmlayout-series-files" 2>/dev/null || true
	} | sort -u | comm -23 - "$stage/files" | while IFS= read -r f; do
		if [ -f "$pristine/$f" ]; then cp "$pristine/$f" "$src/$f"; else rm -f "$src/$f"; fi
	done
	cp "$stage/files" "$src/.vmlayout-series-files"
	series_key=$(cd "$stage/tree" && find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-12)
	rm -rf "$stage"
fi
srckey=$(echo "$src" | sha256sum | cut -c1-8)
out=$cache/build/$version-$srckey-$key
mkdir -p "$out"

if [ -f "$out/.vmlayout-built" ] && [ -f "$out/arch/x86/boot/bzImage" ] &&
	[ "$(cat "$out/.vmlayout-built")" = "$series_key" ]; then
	echo "build-kernel: reusing $out" >&2
	echo "$out"
	exit 0
fi
if [ -f "$out/.config" ] && [ -f "$out/arch/x86/boot/bzImage" ]; then
	echo "build-kernel: the series changed: rebuilding what it touches in $out" >&2
	make -C "$src" O="$out" "${cc_args[@]}" -j"$(nproc)" all >&2
	echo "$series_key" > "$out/.vmlayout-built"
	echo "$out"
	exit 0
fi

echo "build-kernel: building Linux $version in $out (on 2 cores: tinyconfig 5 to 11 minutes, the trimmed defconfig 10 to 17)" >&2
mk=(make -C "$src" O="$out" "${cc_args[@]}" -j"$(nproc)")
base=$(fragment_key base)
"${mk[@]}" -s ${base:-tinyconfig} >&2
"$src/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" "${fragments[@]}" >&2
"${mk[@]}" -s olddefconfig >&2
# Every line of the fragments must have survived olddefconfig (a later
# fragment may override an earlier one: the last value of a symbol counts).
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=n) sym=${line%%=*}
		grep -q "^$sym=y" "$out/.config" && { echo "build-kernel: $sym is set" >&2; bad=1; } ;;
	CONFIG_*) grep -qx "$line" "$out/.config" || { echo "build-kernel: $line did not stick" >&2; bad=1; } ;;
	esac
done < <(cat "${fragments[@]}" | grep '^CONFIG_' | tac | awk -F= '!seen[$1]++')
[ "$bad" -eq 0 ] || { echo "build-kernel: config fragment not satisfiable" >&2; exit 1; }
"${mk[@]}" all >&2
echo "$series_key" > "$out/.vmlayout-built"
echo "$out"
