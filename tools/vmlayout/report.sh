#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Runs in the test VM for `make run`: load vmlayout and print what it shows.
set -e
insmod /root/vmlayout.ko
for f in /sys/kernel/debug/vmlayout/*; do
	[ -r "$f" ] || continue
	case "$(stat -c %A "$f")" in ?r*) ;; *) continue ;; esac
	echo "==> $f <=="
	cat "$f"
	echo
done
rmmod vmlayout
