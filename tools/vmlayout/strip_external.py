#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Drop the out-of-tree-only code from a vmlayout source file, in place.

    strip_external.py FILE...

The series (intree.sh) carries no code for out-of-tree builds: every item
under `#[cfg(vmlayout_external)]` goes, with the doc comment right above
it, and every `#[cfg(not(vmlayout_external))]` attribute goes, its item
staying. An item ends at the first line, at brace depth 0, that ends with
`;` or `}`. What is left must not name `vmlayout_external` in code: the
script fails if it does, rather than write a file that builds differently.
"""

import re
import sys

EXTERNAL = re.compile(r"^\s*#\[cfg\(vmlayout_external\)\]\s*$")
IN_TREE = re.compile(r"^\s*#\[cfg\(not\(vmlayout_external\)\)\]\s*$")


def depth_change(line):
    code = re.sub(r'"(\\.|[^"\\])*"', '""', line.split("//", 1)[0])
    return code.count("{") - code.count("}")


def item_end(lines, start):
    """Index of the last line of the item starting at `start`."""
    depth = 0
    for i in range(start, len(lines)):
        depth += depth_change(lines[i])
        stripped = lines[i].rstrip()
        if depth == 0 and (stripped.endswith(";") or stripped.endswith("}")):
            return i
    sys.exit(f"strip_external: unterminated item at line {start + 1}")


def strip(lines):
    out = []
    i = 0
    while i < len(lines):
        if IN_TREE.match(lines[i]):
            i += 1
        elif EXTERNAL.match(lines[i]):
            while out and out[-1].lstrip().startswith("///"):
                out.pop()
            i = item_end(lines, i + 1) + 1
        else:
            out.append(lines[i])
            i += 1
    return out


for path in sys.argv[1:]:
    with open(path) as f:
        lines = f.read().split("\n")
    kept = []
    # Where an item went, its blank line may now be doubled, or trail.
    for line in strip(lines):
        if not (line == "" and kept and kept[-1] == ""):
            kept.append(line)
    while kept and kept[-1] == "":
        kept.pop()
    kept.append("")
    for n, line in enumerate(kept, 1):
        if "vmlayout_external" in line.split("//", 1)[0]:
            sys.exit(f"strip_external: {path}:{n}: still names vmlayout_external: {line.strip()}")
    with open(path, "w") as f:
        f.write("\n".join(kept))
