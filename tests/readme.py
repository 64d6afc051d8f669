#!/usr/bin/env python3
"""README's "A server in N lines" block is samples/minimal_server.c, verbatim, and N is its length."""
import re
import sys

top = sys.argv[1]
readme = open(f"{top}/README.md").read()
src = open(f"{top}/samples/minimal_server.c").read().rstrip("\n")
m = re.search(r"## A server in (\d+) lines.*?```c\n(.*?)\n```", readme, re.S)
if not m:
    sys.exit("README.md has no 'A server in N lines' section with a C block")
fails = 0
if m.group(2) != src:
    print("FAIL - README's server block differs from samples/minimal_server.c")
    fails += 1
else:
    print("ok   - README's server block is samples/minimal_server.c")
if int(m.group(1)) != len(src.splitlines()):
    print(f"FAIL - README says {m.group(1)} lines, the file has {len(src.splitlines())}")
    fails += 1
else:
    print("ok   - the line count in the heading is right")
print(f"{2 - fails} passed, {fails} failed")
sys.exit(1 if fails else 0)
