#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run the vmlayout kselftest in the test kernel, in both paging modes and over
# several boots, and check that the randomized bases differ between boots.
#
#   run-selftests.sh KDIR [BOOTS]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=${1:?usage: run-selftests.sh KDIR [BOOTS]}
boots=${2:-2}
selftest=$top/tools/testing/selftests/vmlayout
log=$(mktemp -d "${TMPDIR:-/tmp}/vmlayout-selftest.XXXXXX")
trap 'rm -rf "$log"' EXIT

files=(-f "$top/vmlayout.ko" -f "$selftest/vmlayout.sh" -f "$selftest/vmlayout_plant.ko")
fail=0
for paging in 5 4; do
	for boot in $(seq 1 "$boots"); do
		out=$log/p$paging-b$boot.tap
		echo "=== kselftest vmlayout: ${paging}-level paging, boot $boot of $boots"
		if "$here/vm.sh" -k "$kdir/arch/x86/boot/bzImage" -p "$paging" "${files[@]}" \
			-- 'sh /root/vmlayout.sh /root/vmlayout.ko /root/vmlayout_plant.ko' > "$out" 2>&1; then
			grep -E '^(not ok|# Totals)' "$out" || true
		else
			cat "$out"
			echo "FAIL: ${paging}-level boot $boot"
			fail=1
		fi
	done
	# The randomized bases must differ from boot to boot.
	for b in page_offset_base vmalloc_base vmemmap_base kernel_text; do
		values=$(sed -n "s/^# boot-base $b=//p" "$log"/p$paging-b*.tap)
		distinct=$(echo "$values" | sort -u | grep -c . || true)
		echo "$paging-level $b over $boots boots: $(echo $values)"
		if [ "$boots" -gt 1 ] && [ "$distinct" -lt 2 ]; then
			echo "FAIL: $b was the same in every ${paging}-level boot"
			fail=1
		fi
	done
done
[ "$fail" -eq 0 ] && echo "kselftest vmlayout: PASS in both paging modes" && exit 0
exit 1
