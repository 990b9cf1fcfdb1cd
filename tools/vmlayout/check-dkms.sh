#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Debian's dkms on vmlayout, as a lab's kernel update runs it: `dkms add`,
# `dkms build` and `dkms install` of the source `make install-dkms` staged,
# against KDIR (a kernel build directory), into trees of its own under KDIR
# (nothing of the machine's /var/lib/dkms or /lib/modules is touched). A
# kernel with module signing gets the module signed by dkms with KDIR's
# build key (dkms's sign_file, mok_signing_key, mok_certificate, as a lab
# sets them in /etc/dkms/framework.conf.d/). Prints the installed module's
# path as the last line.
#
#   check-dkms.sh KDIR DKMS_SOURCE     DKMS_SOURCE: usr/src/vmlayout-VERSION
set -euo pipefail

kdir=$(cd "${1:?usage: check-dkms.sh KDIR DKMS_SOURCE}" && pwd)
src=$(cd "${2:?usage: check-dkms.sh KDIR DKMS_SOURCE}" && pwd)
command -v dkms > /dev/null || { echo "check-dkms: no dkms (Debian package dkms)" >&2; exit 2; }
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$src/dkms.conf")
release=$(cat "$kdir/include/config/kernel.release")
work=$kdir/vmlayout-dkms
rm -rf "$work"
mkdir -p "$work/source" "$work/tree" "$work/install"
cp -a "$src" "$work/source/vmlayout-$ver"
trees=(--sourcetree "$work/source" --dkmstree "$work/tree" --installtree "$work/install")
if grep -q '^CONFIG_MODULE_SIG=y' "$kdir/.config"; then
	export sign_file=$kdir/scripts/sign-file mok_signing_key=$kdir/certs/signing_key.pem \
		mok_certificate=$kdir/certs/signing_key.x509
fi
run() { # dkms ACTION [ARGS]: its output on stderr, and on failure its build log
	dkms "$@" -m vmlayout -v "$ver" "${trees[@]}" >&2 && return
	cat "$work"/tree/vmlayout/"$ver"/build/make.log >&2 2> /dev/null || true
	echo "check-dkms: dkms $1 failed" >&2
	exit 1
}
run add
run build -k "$release" --kernelsourcedir "$kdir"
mkdir -p "$work/install/$release"
run install -k "$release" --kernelsourcedir "$kdir" --no-depmod
ko=$(find "$work/install" -name 'vmlayout.ko*' | head -n1)
[ -n "$ko" ] || { echo "check-dkms: dkms install left no vmlayout.ko in $work/install" >&2; exit 1; }
case "$ko" in
*.ko) ;;
*.xz) xz -dk "$ko" && ko=${ko%.xz} ;;
*.gz) gzip -dk "$ko" && ko=${ko%.gz} ;;
*.zst) zstd -qd "$ko" && ko=${ko%.zst} ;;
esac
signer=$(modinfo -F signer "$ko")
echo "check-dkms: dkms built and installed ${ko#"$work/install/"} (vermagic $(modinfo -F vermagic "$ko" |
	cut -d' ' -f1)${signer:+, signed by \"$signer\"})" >&2
echo "$ko"
