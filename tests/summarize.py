#!/usr/bin/env python3
"""Sum test cases over meson test logs and print one line: "N passed, N failed".

A cmocka program reports its own cases ("[  PASSED  ] N test(s)."); a script
test prints "N passed, N failed"; anything else counts as one case by its
meson result. A program that crashed before its summary counts as failed.
"""
import json
import re
import sys

CM_PASS = re.compile(r"^\[  PASSED  \] (\d+) test\(s\)\.", re.M)
CM_FAIL = re.compile(r"^\[  FAILED  \] (\d+) test\(s\)", re.M)
CM_SKIP = re.compile(r"^\[  SKIPPED \] (\d+) test\(s\)", re.M)
PLAIN = re.compile(r"^(\d+) passed, (\d+) failed", re.M)

passed = failed = skipped = 0
args = sys.argv[1:]
while args and args[0] == "--extra":
    # counts from a runner that keeps no meson log (the fuzz harnesses)
    passed += int(args[1])
    failed += int(args[2])
    args = args[3:]
for path in args:
    try:
        lines = open(path).read().splitlines()
    except OSError as e:
        print(f"missing test log {path}: {e}", file=sys.stderr)
        failed += 1
        continue
    for line in lines:
        t = json.loads(line)
        out = t.get("stdout", "") or ""
        ok = t.get("result") in ("OK", "EXPECTEDFAIL")
        p = sum(map(int, CM_PASS.findall(out)))
        f = sum(map(int, CM_FAIL.findall(out)))
        s = sum(map(int, CM_SKIP.findall(out)))
        m = PLAIN.findall(out)
        if m:
            p += int(m[-1][0])
            f += int(m[-1][1])
        if p + f + s == 0:
            p, f = (1, 0) if ok else (0, 1)
        elif not ok and f == 0:
            f = 1  # crashed or timed out after reporting some passes
        # A skipped engine test is a failure on our machines: they have every feature.
        f += s
        skipped += s
        passed += p
        failed += f
        if not ok or f:
            print(f"FAILED: {t.get('name')} ({t.get('result')})", file=sys.stderr)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
