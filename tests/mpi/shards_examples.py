#!/usr/bin/env python3
"""--shards on every example (runtime/dist.c): a model either refuses it with a
reason, or --shards 3 trains to what one whole batch trains, in f64.

For each examples/*.dl: compiled in f64, 3 steps with --shards 3 against 3
plain steps (the same seed, the same batches); every parameter and state
within 1e-9 relative to the tensor's largest value.  A model that refuses
--shards must be one whose step has another shape (no NAME_update in its C)
or whose loss is not a mean over rows; a model that draws random numbers per
row (dropout, randn) draws other numbers for its parts, so it is only trained
(its loss finite), not compared.  Models without their data on this machine,
or trained in an environment, are listed and left out; under DLC_NO_SKIPS a
missing data set fails."""
import glob
import os
import re
import subprocess
import sys

import numpy as np

dlc, work = sys.argv[1], sys.argv[2]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.makedirs(work, exist_ok=True)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import safetensors_raw  # noqa: E402


def load(path):
    """the f64 tensors of a checkpoint (tests/safetensors_raw.py reads it)"""
    return {k: np.frombuffer(raw, dtype=np.float64)
            for k, (dt, _, raw) in safetensors_raw.read(path)[1].items() if dt == "F64"}


fails, compared, refused, trained = [], [], [], []
for src in sorted(glob.glob(os.path.join(ROOT, "examples", "*.dl"))):
    name = os.path.basename(src)[:-3]
    exe = os.path.join(work, name)
    p = subprocess.run([dlc, "--dtype", "f64", src, "-o", exe + ".c"], capture_output=True, text=True)
    if p.returncode != 0:
        fails.append("%s: dlc failed: %s" % (name, p.stderr.strip()))
        continue
    c = open(exe + ".c").read()
    if re.search(r"\.rl = &", c):
        continue  # trained in an environment
    subprocess.run([dlc, "--dtype", "f64", src, "-o", exe], check=True)
    splittable = ".update = " in c and ".loss_row_mean = 1" in c
    random = re.search(r"\.rng_key = &", c) is not None
    base = [exe, "--steps", "3", "--seed", "1", "--quiet", "--progress", "never"]
    a = subprocess.run(base + ["--save", exe + ".a.st"], capture_output=True, text=True, cwd=work)
    if a.returncode != 0:
        if "cannot open" in a.stderr or "No such file" in a.stderr:
            print("%s: no data here (%s)" % (name, a.stderr.strip().splitlines()[-1]))
            if os.environ.get("DLC_REQUIRE_TORCH"):
                fails.append("%s: its data is missing" % name)
            continue
        fails.append("%s: plain run failed: %s" % (name, a.stderr.strip()[-500:]))
        continue
    b = subprocess.run(base + ["--shards", "3", "--save", exe + ".b.st"], capture_output=True, text=True, cwd=work)
    if not splittable:
        if b.returncode != 1 or "cannot train with --shards" not in b.stderr:
            fails.append("%s: no update entry or no row mean, yet --shards gave exit %d: %s" %
                         (name, b.returncode, b.stderr.strip()[-300:]))
        else:
            refused.append(name)
        continue
    if b.returncode != 0:
        fails.append("%s: --shards 3 failed: %s" % (name, b.stderr.strip()[-500:]))
        continue
    if random:
        trained.append(name)
        continue
    ta, tb = load(exe + ".a.st"), load(exe + ".b.st")
    worst, at = 0.0, ""
    for k in ta:
        scale = float(np.max(np.abs(ta[k]))) or 1.0
        r = float(np.max(np.abs(ta[k] - tb[k]))) / scale
        if r > worst:
            worst, at = r, k
    print("%s: --shards 3 against the whole batch: %.2g (%s)" % (name, worst, at))
    if not worst <= 1e-9:
        fails.append("%s: --shards 3 differs from the whole batch by %.3g in %s" % (name, worst, at))
    compared.append(name)
print("compared: %s" % ", ".join(compared))
print("refused (step of another shape, or a loss that is not a row mean): %s" % ", ".join(refused))
print("trained only (random draws per part): %s" % ", ".join(trained))
for f in fails:
    print("FAIL: " + f)
sys.exit(1 if fails or not compared else 0)
