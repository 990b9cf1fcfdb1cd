#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run QMP commands on a QEMU's monitor socket, each waited for.

    qmp.py SOCKET 'COMMAND [JSON ARGUMENTS]'...

vm.sh's guests get the socket with VM_QEMU_ARGS="-qmp unix:SOCKET,server=on,
wait=off". Each command's reply is waited for (events in between are
skipped); an error reply, or QEMU closing the connection before it replies,
ends the run with status 1 (`quit` may close it unanswered). QMP, not the
human monitor: its replies are JSON lines, not a prompt to recognize among
terminal escapes.
"""
import json
import socket
import sys


def replies(f):
    for line in f:
        msg = json.loads(line)
        if "event" not in msg:
            yield msg


def main():
    if len(sys.argv) < 3:
        raise SystemExit("usage: qmp.py SOCKET 'COMMAND [JSON ARGUMENTS]'...")
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.settimeout(900)
    f = s.makefile("r")
    got = replies(f)
    next(got)  # the greeting
    for cmd in ["qmp_capabilities"] + sys.argv[2:]:
        name, _, args = cmd.partition(" ")
        msg = {"execute": name}
        if args:
            msg["arguments"] = json.loads(args)
        s.sendall(json.dumps(msg).encode() + b"\n")
        reply = next(got, None)
        if reply is None:
            if name == "quit":
                break
            raise SystemExit(f"qmp: {name}: QEMU closed the connection")
        if "error" in reply:
            raise SystemExit(f"qmp: {name}: {reply['error'].get('desc', reply['error'])}")


main()
