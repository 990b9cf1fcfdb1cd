#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Where a scan's time goes under QEMU TCG: a sampling profile of the guest.

The test kernel has no perf and no high-resolution timers, so this samples
from outside: it boots the bench layout (debug_pagealloc=on, 4,000 vmalloc
areas) with QEMU's gdbstub, rescans in a loop, and meanwhile stops the
guest every few milliseconds to read its RIP. The guest's kallsyms,
printed before the loop, name the samples. Samples land where the vCPU
next checks for an exit, at the start of a translation block, so a count
belongs to the code just before it as much as to the line it names: read
it per function, not per instruction.

    tcg-profile.py KDIR [SMP [MEM [PAGING [SECONDS]]]]
    (defaults: 1 vCPU, 1G, 5-level paging, 15 s of rescans; make profile)

Not a test and not a benchmark: it asserts nothing.
"""
import bisect
import collections
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
GUEST = r'''
insmod /root/vmlayout.ko scan_on_load=0
echo KALLSYMS-BEGIN
grep -E ' [tT] ' /proc/kallsyms
echo KALLSYMS-END
insmod /root/vmlayout_areas.ko count=4000
echo 1 > /sys/kernel/debug/vmlayout/rescan
end=$(( $(cut -d. -f1 /proc/uptime) + %d ))
while [ "$(cut -d. -f1 /proc/uptime)" -lt $end ]; do
	echo 1 > /sys/kernel/debug/vmlayout/rescan
	echo 1 > /sys/kernel/debug/vmlayout/rescan
	echo 1 > /sys/kernel/debug/vmlayout/rescan
	echo 1 > /sys/kernel/debug/vmlayout/rescan
done
grep '^phases ' /sys/kernel/debug/vmlayout/stats
'''


class Stub:
    """Just enough of the GDB remote protocol: stop, read RIP, go on."""

    def __init__(self, port):
        for _ in range(300):
            try:
                self.sock = socket.create_connection(('127.0.0.1', port))
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit('tcg-profile: no gdbstub on port %d' % port)
        self.sock.settimeout(10)
        self.buf = b''
        self.sock.sendall(b'+\x03')
        self.packet()
        self.command(b'QStartNoAckMode')
        self.buf = b''

    def packet(self):
        while True:
            start = self.buf.find(b'$')
            end = self.buf.find(b'#', start)
            if start >= 0 and end >= 0 and len(self.buf) >= end + 3:
                data, self.buf = self.buf[start + 1:end], self.buf[end + 3:]
                return data
            self.buf += self.sock.recv(65536)

    def send(self, data):
        self.sock.sendall(b'$%s#%02x' % (data, sum(data) % 256))

    def command(self, data):
        self.send(data)
        return self.packet()

    def sample(self):
        self.sock.sendall(b'\x03')
        self.packet()
        regs = self.command(b'g')
        self.send(b'c')
        # RIP is the 17th register of x86-64's 'g' reply, 8 bytes each.
        return int.from_bytes(bytes.fromhex(regs[256:272].decode()), 'little')

    def detach(self):
        self.sock.sendall(b'\x03')
        self.packet()
        self.command(b'D')


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    kdir = args[0]
    smp, mem, paging = (args[1:4] + ['1', '1G', '5'][len(args[1:4]):])[:3]
    seconds = int(args[4]) if len(args) > 4 else 15
    port = 20000 + os.getpid() % 10000
    script = '/tmp/vmlayout-profile-%d.sh' % os.getpid()
    with open(script, 'w') as f:
        f.write(GUEST % seconds)
    env = dict(os.environ, VM_QEMU_ARGS='-gdb tcp:127.0.0.1:%d' % port)
    vm = subprocess.Popen(
        [os.path.join(TOP, 'tools/vmlayout/vm.sh'), '-k', kdir + '/arch/x86/boot/bzImage',
         '-p', paging, '-s', smp, '-m', mem, '-B', '-a', 'debug_pagealloc=on',
         '-f', os.path.join(TOP, 'vmlayout.ko'), '-f', os.path.join(HERE, 'vmlayout_areas.ko'),
         '-f', script, '--', 'sh /root/' + os.path.basename(script)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stub = Stub(port)
    stub.send(b'c')
    # Let it boot and load, then sample until the loop is over and the
    # guest powers off (the stub goes away).
    time.sleep(6)
    samples = []
    try:
        while True:
            samples.append(stub.sample())
            time.sleep(0.002)
    except (OSError, ValueError):
        pass
    out, _ = vm.communicate()
    os.unlink(script)
    if vm.returncode != 0:
        sys.exit('tcg-profile: the guest failed:\n' + out[-3000:])
    report(samples, out)


def report(samples, out):
    symbols, inside = [], False
    for line in out.splitlines():
        if line.startswith('phases '):
            print('last scan: ' + line)
        if line == 'KALLSYMS-BEGIN':
            inside = True
        elif line == 'KALLSYMS-END':
            inside = False
        elif inside:
            fields = line.split()
            if len(fields) >= 3:
                symbols.append((int(fields[0], 16), ' '.join(fields[2:4])))
    symbols.sort()
    starts = [a for a, _ in symbols]
    counts = collections.Counter()
    for rip in samples:
        i = bisect.bisect_right(starts, rip) - 1
        if rip < 1 << 63:
            counts['(user space)'] += 1
        else:
            counts[symbols[i][1] if i >= 0 else '?'] += 1
    print('%d samples of the guest\'s RIP:' % len(samples))
    for name, n in counts.most_common(30):
        print('%6d %5.1f%%  %s' % (n, 100.0 * n / len(samples), name))


if __name__ == '__main__':
    main()
