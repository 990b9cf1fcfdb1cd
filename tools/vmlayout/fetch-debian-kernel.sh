#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fetch one of Debian's own kernel images, the kernels people run, into
# CACHE_DIR and print its vmlinuz's path as the last line (its release is
# the directory's name). No build: the packaged image as Debian ships it.
#
#   fetch-debian-kernel.sh CACHE_DIR current|lts
#
# current: the newest 7.x of trixie-backports (linux-binary-7.X.Y+debNN-amd64);
# lts: trixie's newest 6.12 (linux-image-6.12.Y+debNN-amd64-unsigned).
set -euo pipefail

cache=${1:?usage: fetch-debian-kernel.sh CACHE_DIR current|lts}
which=${2:?usage: fetch-debian-kernel.sh CACHE_DIR current|lts}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# shellcheck source=debian-apt.sh
. "$(dirname "$0")/debian-apt.sh"
debian_apt "$cache"
debian_apt_update

case $which in
current) re='^linux-binary-7\.[0-9]+\.[0-9]+\+deb[0-9]+-amd64$' ;;
lts) re='^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64-unsigned$' ;;
*) echo "fetch-debian-kernel: '$which' is neither current nor lts" >&2; exit 2 ;;
esac
pkg=$(apt-cache "${apt_opts[@]}" search --names-only "$re" | awk '{print $1}' |
	sort -V | tail -n1)
[ -n "$pkg" ] || { echo "fetch-debian-kernel: no package matches $re" >&2; exit 1; }
release=$(echo "$pkg" | sed -E 's/^linux-(binary|image)-//; s/-unsigned$//')
dest=$cache/debian-kernels/$release
if [ ! -f "$dest/vmlinuz" ]; then
	echo "fetch-debian-kernel: $pkg" >&2
	rm -f "$apt_archives/${pkg}"_*.deb
	(cd "$apt_archives" && apt-get "${apt_opts[@]}" -qq download "$pkg" >&2)
	deb=$(ls -t "$apt_archives/${pkg}"_*.deb | head -n1)
	rm -rf "$dest" && mkdir -p "$dest"
	dpkg-deb --fsys-tarfile "$deb" |
		tar -x -C "$dest" --wildcards '*vmlinuz*' '*/config-*' 2>/dev/null || true
	img=$(find "$dest" -name 'vmlinuz*' -type f | head -n1)
	[ -n "$img" ] || { echo "fetch-debian-kernel: $deb has no vmlinuz" >&2; exit 1; }
	mv "$img" "$dest/vmlinuz"
	rm -f "$deb"
fi
echo "$dest/vmlinuz"
