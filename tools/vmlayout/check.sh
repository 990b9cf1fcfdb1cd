#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make check-NAME: the test profile NAME, the file
# tools/testing/selftests/vmlayout/profile.NAME next to the config fragments.
#
#   check.sh NAME
#
# A profile is a list of shell assignments: `variant` (the kernel: config.V
# merged on the test kernel's config and built or reused by build-kernel.sh;
# empty: the test kernel itself), `steps` (what runs on it, in order:
# selftests, run-selftests.sh with `boots` boots per paging mode; kunit,
# run-kunit.sh; debug, run-debug.sh) and the settings of those runners, which
# are exported to them (each runner's header lists its own). BOOTS= in the
# environment overrides `boots`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
profiles=$(cd "$here/../testing/selftests/vmlayout" && pwd)
name=${1:?usage: check.sh PROFILE}
profile=$profiles/profile.$name
if [ ! -f "$profile" ]; then
	echo "check: no profile '$name' (have: $(cd "$profiles" && ls profile.* | sed 's/^profile\.//' | xargs))" >&2
	exit 2
fi
variant="" steps="" boots=1
set -a
# shellcheck source=/dev/null
. "$profile"
set +a
boots=${BOOTS:-$boots}
[ -n "$steps" ] || { echo "check: $profile names no steps" >&2; exit 2; }
kdir=$("$here/build-kernel.sh" $variant | tail -n1)
for step in $steps; do
	case $step in
	selftests) "$here/run-selftests.sh" "$kdir" "$boots" ;;
	kunit) "$here/run-kunit.sh" "$kdir" ;;
	debug) "$here/run-debug.sh" "$kdir" ;;
	dump) "$here/check-dump.sh" "$kdir" ;;
	*) echo "check: $profile: unknown step '$step'" >&2; exit 2 ;;
	esac
done
