#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Install what building the test kernel, the module and booting QEMU needs on
# a Debian machine. Idempotent and quiet when everything is already there.
set -euo pipefail

APT_PACKAGES=(clang-19 lld-19 llvm-19 libclang-19-dev flex bison bc libelf-dev
	libssl-dev cpio busybox-static qemu-system-x86 xz-utils kmod gcc libc6-dev
	rsync git python3 perl ovmf dkms makedumpfile)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "host-deps: installing ${missing[*]}"
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! rustup component list --installed 2>/dev/null | grep -q '^rust-src'; then
	echo "host-deps: adding rust-src"
	rustup component add rust-src
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v bindgen >/dev/null; then
	echo "host-deps: installing bindgen-cli (about 3 minutes)"
	cargo install --locked bindgen-cli
fi
