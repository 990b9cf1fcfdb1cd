#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Regenerate the captured outputs of these samples in a test VM:
#   samples/vmlayout/capture.sh KDIR
# perf comes from Debian's linux-perf (installed if missing); it and its
# libraries are copied into the guest and run through their own loader.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
kdir=${1:?usage: capture.sh KDIR}
if ! command -v perf >/dev/null; then
	sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends linux-perf
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/perf/lib"
cp "$(command -v perf)" "$stage/perf/perf"
ldd "$(command -v perf)" | awk '$3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' |
	xargs -I{} cp -L {} "$stage/perf/lib/"
loader=$(basename "$(ldd "$(command -v perf)" | awk '$1 ~ /^\// { print $1 }')")
cat > "$stage/perf/run" <<RUN
#!/bin/sh
exec /root/perf/lib/$loader --library-path /root/perf/lib /root/perf/perf "\$@"
RUN
chmod +x "$stage/perf/run"
for paging in 5 4; do
	"$top/tools/vmlayout/vm.sh" -k "$kdir/arch/x86/boot/bzImage" -p "$paging" \
		-f "$top/vmlayout.ko" -f "$here/trace_sync_fault.sh" -f "$here/perf_sync_fault.sh" -f "$stage/perf" -- '
insmod /root/vmlayout.ko
echo "# sh trace_sync_fault.sh   (Linux $(uname -r), $(dmesg | sed -n "s/.*vmlayout: loaded, //p"))"
sh /root/trace_sync_fault.sh
echo
echo "# PERF=perf sh perf_sync_fault.sh"
PERF=/root/perf/run sh /root/perf_sync_fault.sh 2>&1
rmmod vmlayout' > "$here/output-${paging}level.txt"
	echo "wrote $here/output-${paging}level.txt"
done
