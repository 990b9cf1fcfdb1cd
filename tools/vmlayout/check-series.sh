#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Check the series `make intree` writes: it applies with `git am` to a clean
# copy of the tree and the kernel builds after every patch (the test
# kernel's config, vmlayout =m and its KUnit suite on from the patch that
# adds them; one build directory, so each patch costs what it changes).
#
#   check-series.sh KSRC SERIES_DIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
ksrc=$(cd "${1:?usage: check-series.sh KSRC SERIES_DIR}" && pwd)
series=$(cd "${2:?usage: check-series.sh KSRC SERIES_DIR}" && pwd)
cache=${VMLAYOUT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmlayout}
llvm=${LLVM--19}
export PATH="$HOME/.cargo/bin:$PATH"
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}

tree=$cache/series-check/tree
out=$cache/series-check/build
rm -rf "$tree"
mkdir -p "$tree" "$out"
cp -a "$ksrc/." "$tree/"
export GIT_AUTHOR_NAME=check GIT_AUTHOR_EMAIL=check@localhost GIT_COMMITTER_NAME=check GIT_COMMITTER_EMAIL=check@localhost
git -C "$tree" init -q
git -C "$tree" add -A -f   # Debian's tree ignores everything (/* in .gitignore)
git -C "$tree" commit -q -m base
mk=(make -C "$tree" O="$out" LLVM="$llvm" -j"$(nproc)")
if [ ! -f "$out/.config" ]; then
	"${mk[@]}" -s tinyconfig
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"$top/tools/testing/selftests/vmlayout/config" > /dev/null
fi
for p in "$series"/0*.patch; do
	case $p in */0000-cover-letter.patch) continue ;; esac
	git -C "$tree" am -q "$p" || { echo "check-series: $(basename "$p") does not apply" >&2; exit 1; }
	# Options a patch adds take their value from the test configuration.
	"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
		"$top/tools/testing/selftests/vmlayout/config" <(echo CONFIG_KUNIT=y; echo CONFIG_X86_VMLAYOUT_KUNIT_TEST=y) > /dev/null
	"${mk[@]}" -s olddefconfig
	t0=$SECONDS
	if ! "${mk[@]}" -s all > "$out/patch.log" 2>&1; then
		tail -n 30 "$out/patch.log"
		echo "check-series: the kernel does not build after $(basename "$p")" >&2
		exit 1
	fi
	echo "check-series: $(basename "$p"): applies and builds ($((SECONDS - t0)) s)"
done
echo "check-series: every patch applies with git am and builds"
