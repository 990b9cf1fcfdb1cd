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

mirror=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\/debian\)[[:space:]]*$/\1/p' \
	/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
	mirror=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "fetch-kernel-source: no Debian mirror configured in /etc/apt" >&2; exit 1; }

apt_root=$cache/apt
mkdir -p "$apt_root/lists/partial" "$apt_root/archives/partial" "$apt_root/etc/preferences.d"
cat > "$apt_root/etc/sources.list" <<SRC
deb $mirror trixie-backports main
deb $mirror sid main
SRC
apt_opts=(-o "Dir::Etc::SourceList=$apt_root/etc/sources.list"
	-o "Dir::Etc::SourceParts=-" -o "Dir::Etc::Preferences=$apt_root/etc/preferences"
	-o "Dir::Etc::PreferencesParts=$apt_root/etc/preferences.d"
	-o "Dir::State::Lists=$apt_root/lists" -o "Dir::State::Status=/dev/null"
	-o "Dir::Cache=$apt_root" -o "Dir::Cache::Archives=$apt_root/archives"
	-o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")

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

echo "fetch-kernel-source: reading package lists from the apt mirror configured on this machine" >&2
apt-get "${apt_opts[@]}" -qq update >&2
versions=$(pick_version)
if ! echo "$versions" | grep -qx "$want"; then
	echo "fetch-kernel-source: linux-source-$want is not in the archive; have: $(echo $versions)" >&2
	want=$(echo "$versions" | tail -n1)
	[ -n "$want" ] || { echo "fetch-kernel-source: no linux-source-7.x found" >&2; exit 1; }
	echo "fetch-kernel-source: using linux-source-$want" >&2
fi

dest=$cache/linux-source-$want
mkdir -p "$dest"
(cd "$apt_root/archives" && apt-get "${apt_opts[@]}" -qq download "linux-source-$want" >&2)
deb=$(ls -t "$apt_root"/archives/linux-source-"$want"_*.deb | head -n1)
rm -rf "$dest/pkg"
dpkg-deb -x "$deb" "$dest/pkg"
tarball=$(ls "$dest"/pkg/usr/src/linux-source-"$want".tar.* | head -n1)
tar -C "$dest" -xf "$tarball"
rm -rf "$dest/pkg"
tree=$(ls -d "$dest"/linux-source-"$want" 2>/dev/null || ls -d "$dest"/linux-* | head -n1)
echo "$tree"
