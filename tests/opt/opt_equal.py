#!/usr/bin/env python3
"""-O0 and -O2 give the same training; the memory plan meets its targets.

usage: opt_equal.py --dlc DLC --model M.dl --workdir DIR
       opt_equal.py --dlc DLC --memory-targets EXAMPLES_DIR --workdir DIR

Builds the model at -O0, -O2 and -O2 -fcheck-memory (every planned array is
filled with NaN once dead, so a plan that lets a live array be overwritten
changes the result), in f32 and in f64; trains each the same number of steps
from the same seed; and compares the final loss and every checkpointed tensor:
within 1e-5 relative in f32, bit for bit in f64.  The C compiler gets
-ffp-contract=off: with contraction the fused -O2 kernels may round a * b + c
once where -O0 rounds twice.  Standard library only.
"""
import argparse
import os
import random
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import safetensors_raw  # noqa: E402


def read_safetensors(path):
    _, tensors = safetensors_raw.read(path)
    return {k: (raw, safetensors_raw.values(raw, dt)) for k, (dt, _shape, raw) in tensors.items()}


def write_npy(path, descr, shape, values, fmt):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%d%s" % (len(values), fmt), *values))


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        print("$ " + " ".join(cmd))
        print(p.stdout)
        print("FAIL: exit status %d" % p.returncode)
        sys.exit(1)
    return p.stdout


def equal_runs(a):
    name = os.path.basename(a.model)[:-3]
    if name in ("mlp", "lenet5", "convnet_bn") and not os.path.exists(
            "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        print("SKIP: Fashion-MNIST not installed")
        sys.exit(77)
    # small batches keep the convolutional models quick
    defs = ["-D", "B=16"] if name in ("lenet5", "convnet_bn") else []
    # and 37 random rows as the test set, not the 10000 test images: their evaluation
    # would take longer than the training (most of all at -O0 in f64)
    test = []
    if name in ("mlp", "lenet5", "convnet_bn"):
        rows, rng = 37, random.Random(5)
        x = os.path.join(a.workdir, "test_x.npy")
        y = os.path.join(a.workdir, "test_y.npy")
        write_npy(x, "<f4", (rows, 1, 28, 28) if name != "mlp" else (rows, 784),
                  [rng.random() for _ in range(rows * 784)], "f")
        write_npy(y, "<i4", (rows,), [rng.randrange(10) for _ in range(rows)], "i")
        test = ["--test", x + "," + y]
    steps = "30"
    variants = [("f32", "-O0", []), ("f32", "-O2", []), ("f32", "-O2", ["-fcheck-memory"]),
                ("f64", "-O0", []), ("f64", "-O2", []), ("f64", "-O2", ["-fcheck-memory"])]
    results = {}
    for dt, opt, extra in variants:
        tag = "%s%s%s" % (dt, opt, "-check" if extra else "")
        exe = os.path.join(a.workdir, "%s_%s" % (name, tag))
        # no FMA contraction: fusion puts a * b + c into one expression at -O2
        # that -O0 computes in two kernels, and f64 must agree bit for bit
        run([a.dlc, opt, "--dtype", dt, "--cflags", "-ffp-contract=off"] + extra + defs + [a.model, "-o", exe],
            a.workdir)
        ck = exe + ".safetensors"
        if os.path.exists(ck):
            os.remove(ck)
        out = run([exe, "--steps", steps, "--seed", "3", "--progress", "never", "--save", ck] + test, a.workdir)
        m = re.findall(r"final loss ([0-9.eE+-]+|nan|inf)", out)
        if not m:
            print(out)
            print("FAIL: no final loss")
            sys.exit(1)
        results[tag] = (float(m[-1]), read_safetensors(ck), re.findall(r"^test: .*", out, re.M))
        print("%-16s final loss %s, %d tensors" % (tag, m[-1], len(results[tag][1])))
    failures = 0
    for dt in ("f32", "f64"):
        ref = results[dt + "-O0"]
        for tag in (dt + "-O2", dt + "-O2-check"):
            loss, tensors, test_line = results[tag]
            if dt == "f64" and test_line != ref[2]:
                print("FAIL: %s: test line %r vs %r at -O0" % (tag, test_line, ref[2]))
                failures += 1
            if sorted(tensors) != sorted(ref[1]):
                print("FAIL: %s: tensor names differ" % tag)
                failures += 1
                continue
            if loss != loss or abs(loss - ref[0]) > 1e-5 * max(abs(ref[0]), 1e-30):
                print("FAIL: %s: final loss %r vs %r at -O0" % (tag, loss, ref[0]))
                failures += 1
            for k in ref[1]:
                raw0, v0 = ref[1][k]
                raw1, v1 = tensors[k]
                if dt == "f64":
                    if raw0 != raw1:
                        diff = max(abs(x - y) for x, y in zip(v0, v1))
                        print("FAIL: %s: %s differs from -O0 (f64 must be bit-exact; max diff %g)" % (tag, k, diff))
                        failures += 1
                    continue
                worst = 0.0
                for x, y in zip(v0, v1):
                    if x != x or y != y:
                        worst = float("inf")
                        break
                    d = abs(x - y) / max(abs(x), 1e-6)
                    worst = max(worst, d)
                if worst > 1e-5:
                    print("FAIL: %s: %s differs from -O0 by %g relative" % (tag, k, worst))
                    failures += 1
    if failures:
        sys.exit(1)
    print("PASS: -O0, -O2 and -O2 -fcheck-memory agree (f32 within 1e-5, f64 bit-exact)")


def memory_targets(a):
    targets = {"lenet5": 40.0, "mlp": 50.0}
    failures = 0
    for name, limit in targets.items():
        p = subprocess.run([a.dlc, "--stats", "--check", os.path.join(a.memory_targets, name + ".dl")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        sys.stdout.write(p.stderr)
        m = re.search(r"arena vs naive sum:.*\(([0-9.]+)%\)", p.stderr)
        if p.returncode != 0 or not m:
            print("FAIL: no stats for %s" % name)
            failures += 1
            continue
        pct = float(m.group(1))
        ok = pct <= limit
        print("%s %s: planned memory is %.1f%% of the naive sum (target <= %.0f%%)" %
              ("ok  " if ok else "FAIL", name, pct, limit))
        failures += not ok
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--model")
    ap.add_argument("--memory-targets")
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    if a.memory_targets:
        memory_targets(a)
    else:
        equal_runs(a)
