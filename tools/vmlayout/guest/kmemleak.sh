#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Scan for leaks with kmemleak (twice: an object must look unreferenced in
# two scans to be reported) and print "NAME: kmemleak: N suspected leaks";
# exits non-zero if there is any, or if kmemleak is not there. A leak of an
# unloaded module shows raw addresses, not its name: every leak counts.
#
#   kmemleak.sh NAME
KML=/sys/kernel/debug/kmemleak
[ -w $KML ] || { echo "$1: kmemleak: no $KML (CONFIG_DEBUG_KMEMLEAK, or it turned itself off)"; exit 1; }
echo scan > $KML; sleep 6; echo scan > $KML
leaks=$(grep -c '^unreferenced object' $KML)
echo "$1: kmemleak: $leaks suspected leaks"
[ "$leaks" -eq 0 ] || { sed -n "1,40s/^/$1: /p" $KML; exit 1; }
