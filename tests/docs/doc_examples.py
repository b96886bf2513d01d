#!/usr/bin/env python3
"""Check every example of a Markdown document against dlc.

usage: doc_examples.py DLC DOC.md WORKDIR

A ```dl block is a complete program that dlc must compile to C, and that C must pass a strict
C11 syntax check (-Wall -Wextra -Werror -pedantic).  A ```dl-error block must be
rejected with exit status 1, and its messages must equal the ```text block that follows it (the
program is checked as `example.dl`).  Prints one line per example and exits 1 on any failure.
"""
import os
import re
import subprocess
import sys

dlc, doc, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
runtime = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "runtime")
text = open(doc).read()
blocks = re.findall(r"```([a-z-]*)\n(.*?)```", text, re.S)
failures = 0
count = 0
for i, (kind, body) in enumerate(blocks):
    if kind not in ("dl", "dl-error"):
        continue
    count += 1
    sub = os.path.join(work, "ex%d" % i)
    os.makedirs(sub, exist_ok=True)
    # relative data paths in examples are relative to the docs directory
    path = os.path.join(sub, "example.dl")
    with open(path, "w") as f:
        f.write(body)
    p = subprocess.run([dlc, "--check", "example.dl"], cwd=sub, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    first = body.strip().splitlines()[0]
    if kind == "dl":
        ok = p.returncode == 0 and not p.stderr
        detail = p.stderr
        if ok:
            c = subprocess.run([dlc, "example.dl", "-o", "example.c"], cwd=sub, stderr=subprocess.PIPE, text=True)
            cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only",
                                 "-I" + runtime, "example.c"], cwd=sub, stderr=subprocess.PIPE, text=True)
            ok = c.returncode == 0 and cc.returncode == 0
            detail = c.stderr + cc.stderr
    else:
        want = blocks[i + 1][1] if i + 1 < len(blocks) and blocks[i + 1][0] == "text" else None
        ok = p.returncode == 1 and want is not None and p.stderr == want
        detail = "expected:\n%s\ngot (status %d):\n%s" % (want, p.returncode, p.stderr)
    print("%s example %d (%s): %s" % ("ok  " if ok else "FAIL", count, kind, first))
    if not ok:
        print(detail)
        failures += 1
if count == 0:
    print("FAIL: no examples found in %s" % doc)
    sys.exit(1)
print("%d examples, %d failed" % (count, failures))
sys.exit(1 if failures else 0)
