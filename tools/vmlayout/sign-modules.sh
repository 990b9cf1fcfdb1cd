#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Sign out-of-tree modules for KDIR as `make modules_install` signs the
# kernel's own: with KDIR's scripts/sign-file, its CONFIG_MODULE_SIG_HASH
# and its build key (certs/signing_key.pem, the key CONFIG_MODULE_SIG_KEY
# names by default). A kernel that enforces signatures (MODULE_SIG_FORCE,
# module.sig_enforce=1, lockdown) refuses unsigned modules; one that does
# not still loads signed ones, so every module built for a MODULE_SIG
# kernel is signed when the key is at hand.
#
#   sign-modules.sh KDIR MODULE.ko...
#
# Without MODULE_SIG: nothing to do. Without the key: one line saying so
# (and that the kernel enforces, when it does); exit 0 unless it enforces.
set -euo pipefail

kdir=${1:?usage: sign-modules.sh KDIR MODULE.ko...}
shift
config=$kdir/.config
grep -q '^CONFIG_MODULE_SIG=y' "$config" || exit 0
conf() { sed -n "s/^CONFIG_$1=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p" "$config" | head -n1; }
key=$(conf MODULE_SIG_KEY)
case "$key" in
/*) ;;
pkcs11:*) echo "sign-modules: $kdir signs with a PKCS#11 key ($key): sign the modules yourself" >&2; exit 0 ;;
*) key=$kdir/$key ;;
esac
cert=$kdir/certs/signing_key.x509
if [ ! -f "$key" ] || [ ! -f "$cert" ] || [ ! -x "$kdir/scripts/sign-file" ]; then
	if grep -q '^CONFIG_MODULE_SIG_FORCE=y' "$config"; then
		echo "sign-modules: $kdir enforces module signatures (CONFIG_MODULE_SIG_FORCE) but has no" \
			"signing key ($key) or scripts/sign-file: the kernel will refuse these modules" >&2
		exit 1
	fi
	echo "sign-modules: $kdir has no signing key ($key): modules left unsigned" >&2
	exit 0
fi
signed=0
for ko; do
	# A module make did not rebuild keeps the signature it has.
	[ "$(tail -c 28 "$ko" | tr -d '\000')" != "~Module signature appended~" ] || continue
	"$kdir/scripts/sign-file" "$(conf MODULE_SIG_HASH)" "$key" "$cert" "$ko"
	signed=$((signed + 1))
done
echo "sign-modules: signed $signed module(s) with $key ($(conf MODULE_SIG_HASH)), $(($# - signed)) already signed" >&2
