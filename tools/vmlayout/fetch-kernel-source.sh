#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Fetch and unpack Debian's linux-source package into $1 (a cache directory),
# print the unpacked tree's path as the last line.
#
# The package comes from trixie-backports (or sid), through the Debian mirror
# already configured on this machine: an apt configuration of our own, with
# its own state directories, so the system's apt state is left untouched.
set -euo pipefail

cache=${1:?usage: fetch-kernel-source.sh CACHE_DIR [VERSION]}
want=${2:-7.3}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# shellcheck source=debian-apt.sh
. "$(dirname "$0")/debian-apt.sh"
debian_apt "$cache"

# Only pick a version whose tree is not unpacked yet.
pick_version() {
	apt-cache "${apt_opts[@]}" search --names-only '^linux-source-7\.[0-9]+$' |
		awk '{print $1}' | sed 's/linux-source-//' | sort -t. -k1,1n -k2,2n
}

existing=$(ls -d "$cache"/linux-source-"$want"/linux-* 2>/dev/null | head -n1 || true)
if [ -n "$existing" ] && [ -f "$existing/Makefile" ]; then
	echo "$existing"
	exit 0
fi

debian_apt_update
versions=$(pick_version)
if ! echo "$versions" | grep -qx "$want"; then
	echo "fetch-kernel-source: linux-source-$want is not in the archive; have: $(echo $versions)" >&2
	want=$(echo "$versions" | tail -n1)
	[ -n "$want" ] || { echo "fetch-kernel-source: no linux-source-7.x found" >&2; exit 1; }
	echo "fetch-kernel-source: using linux-source-$want" >&2
fi

dest=$cache/linux-source-$want
mkdir -p "$dest"
(cd "$apt_archives" && apt-get "${apt_opts[@]}" -qq download "linux-source-$want" >&2)
deb=$(ls -t "$apt_archives"/linux-source-"$want"_*.deb | head -n1)
rm -rf "$dest/pkg"
dpkg-deb -x "$deb" "$dest/pkg"
tarball=$(ls "$dest"/pkg/usr/src/linux-source-"$want".tar.* | head -n1)
tar -C "$dest" -xf "$tarball"
rm -rf "$dest/pkg"
tree=$(ls -d "$dest"/linux-source-"$want" 2>/dev/null || ls -d "$dest"/linux-* | head -n1)
echo "$tree"
