#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Boot the vmlayout test kernel in QEMU (TCG), run a shell command as root in
# the guest and exit with its status.
#
#   vm.sh -k BZIMAGE [-p 4|5] [-s SMP] [-m MEM] [-B] [-E] [-S] [-a 'kernel args'] [-t SECONDS]
#         [-f FILE]... [-M DIR]... -- 'shell command'
#
# -S runs every vCPU in one host thread (TCG thread=single). With one host
# thread per vCPU, a vCPU can keep executing code translated before another
# vCPU patched it: under pti=on the kernel's own text patching at boot (an
# int3 placed and removed by text_poke_bp()) then oopses in "int3" on
# defconfig kernels, before vmlayout runs. One thread keeps code
# modification coherent, at the price of speed.
#
# -E boots through UEFI firmware (OVMF, Debian's ovmf package) instead of
# SeaBIOS: the kernel starts through its EFI stub and has EFI runtime
# services (efi_mm, the EFI window).
#
# -B backs the guest's memory with a RAM backend that reserves nothing
# (reserve=off): untouched guest memory costs the host nothing, so a guest
# far larger than the host (256G here) boots.
#
# Every -f FILE lands in the guest's /root/; every -M DIR (an INSTALL_MOD_PATH
# holding lib/modules/) is copied to the guest's /. debugfs and tracefs are
# mounted.
# The command's output goes to a second serial port so it is never mixed with
# the kernel console; the console is scanned for panic, oops, BUG and WARNING,
# any of which (or a timeout) fails the run and prints the console log.
set -euo pipefail

kernel="" paging=5 smp=2 mem=2G append="" timeout_s=${VM_TIMEOUT:-600} backend=""
firmware=() accel=tcg
files=() moddirs=()
while getopts "k:p:s:m:a:t:f:M:BES" opt; do
	case $opt in
	k) kernel=$OPTARG ;;
	p) paging=$OPTARG ;;
	s) smp=$OPTARG ;;
	m) mem=$OPTARG ;;
	a) append=$OPTARG ;;
	t) timeout_s=$OPTARG ;;
	f) files+=("$OPTARG") ;;
	M) moddirs+=("$OPTARG") ;;
	B) backend=1 ;;
	S) accel=tcg,thread=single ;;
	E) firmware=(-bios "${OVMF:-/usr/share/ovmf/OVMF.fd}")
		[ -f "${firmware[1]}" ] || { echo "vm: no UEFI firmware ${firmware[1]} (apt ovmf)" >&2; exit 2; } ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
cmd=${1:?usage: vm.sh -k BZIMAGE [options] -- 'command'}
[ -f "$kernel" ] || { echo "vm: no kernel image '$kernel'" >&2; exit 2; }
case $paging in
4) append="no5lvl $append" ;;
5) ;;
*) echo "vm: PAGING must be 4 or 5, not '$paging'" >&2; exit 2 ;;
esac

work=$(mktemp -d "${TMPDIR:-/tmp}/vmlayout-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,tmp,root,etc}
cp /bin/busybox "$root/bin/busybox"
for f in "${files[@]}"; do
	[ -e "$f" ] || { echo "vm: no such file '$f'" >&2; exit 2; }
	cp -r "$f" "$root/root/"
done
for d in "${moddirs[@]}"; do
	[ -d "$d/lib/modules" ] || { echo "vm: '$d' has no lib/modules" >&2; exit 2; }
	cp -a "$d/." "$root/"
done
printf '%s\n' "$cmd" > "$root/root/cmd.sh"
cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mount -t tmpfs tmpfs /tmp
export HOME=/root PATH=/bin:/sbin:/root
cd /root
sh /root/cmd.sh > /dev/ttyS1 2>&1
echo "vmlayout-vm-exit=$?" > /dev/ttyS1
sync
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.cpio.gz"

console=$work/console.log out=$work/out.log
mem_args=(-m "$mem")
[ -z "$backend" ] || mem_args+=(-object "memory-backend-ram,id=vmlayout-mem,size=$mem,reserve=off"
	-machine memory-backend=vmlayout-mem)
# VM_ALLOW_ALLOC_FAILURES=1 (fault injection): a failed allocation's
# "page allocation failure" report and its stack are expected, so a stack
# alone does not fail the run; everything else still does.
bad_re='Kernel panic|Oops|BUG:|WARNING:|general protection fault|blocked for more than'
[ -n "${VM_ALLOW_ALLOC_FAILURES:-}" ] || bad_re="$bad_re|Call Trace:"
boot() {
	rc=0
	timeout --foreground "$timeout_s" qemu-system-x86_64 -accel "$accel" -cpu max -smp "$smp" \
		"${mem_args[@]}" "${firmware[@]}" \
		-kernel "$kernel" -initrd "$work/initramfs.cpio.gz" \
		-append "console=ttyS0 panic=-1 oops=panic panic_on_warn=0 $append" \
		-display none -monitor none -no-reboot \
		-serial "file:$console" -serial "file:$out" ${VM_QEMU_ARGS:-} || rc=$?
	# VM_ALLOW_RE: console lines matching it are known not to be vmlayout's
	# (the runner that sets it says why).
	bad=$(grep -E "$bad_re" "$console" |
		{ if [ -n "${VM_ALLOW_RE:-}" ]; then grep -vE "$VM_ALLOW_RE"; else cat; fi; } || true)
}
boot
# VM_RETRY_RE: a known bug of the kernel's own that can strike a boot before
# any vmlayout code runs (the runner that sets it says which). If the
# console's first report is that one, the boot is run once more, and the
# second boot must be clean: a report the kernel makes only once (KASAN's)
# must not hide vmlayout's from the rest of the boot.
first_bad=$(echo "$bad" | head -n1)
if [ -n "${VM_RETRY_RE:-}" ] && [ -n "$first_bad" ] && echo "$first_bad" | grep -qE "$VM_RETRY_RE"; then
	echo "vm: the kernel's own known report, booting again: $first_bad" >&2
	boot
fi

status=$(sed -n 's/^vmlayout-vm-exit=\([0-9]*\).*/\1/p' "$out" | tail -n1)
sed '/^vmlayout-vm-exit=/d' "$out"
if [ "$rc" -eq 124 ]; then
	echo "vm: TIMEOUT after ${timeout_s}s; console log:" >&2
	cat "$console" >&2
	exit 124
fi
if [ -n "$bad" ] || [ -z "$status" ]; then
	echo "vm: guest failed (qemu rc=$rc, command status '${status:-none}'):" >&2
	echo "$bad" | head -5 >&2
	echo "---- console log ----" >&2
	cat "$console" >&2
	exit 1
fi
[ -z "${VM_CONSOLE:-}" ] || cp "$console" "$VM_CONSOLE"
exit "$status"
