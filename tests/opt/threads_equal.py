#!/usr/bin/env python3
"""Training gives the same bits on any number of threads.

usage: threads_equal.py --dlc DLC --model M.dl --workdir DIR

Builds the model the way a user does (default flags: -O2, FMA contraction
on), in f32 and in f64, and for --threads 1, 2 and 3:
  - trains 5 steps from the same seed, saves a checkpoint and evaluates
    the batch below as its test set (not the 10000 test images, which
    would cost most of the run);
  - dumps the loss, outputs and gradients of one batch of 37 rows, fewer
    than the batch size, so the kernels' partial-batch paths run in parallel.
The checkpoints and the dumps must be byte-identical across thread counts,
and the test lines equal.
Standard library only.
"""
import argparse
import os
import random
import sys

from opt_equal import run, write_npy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    name = os.path.basename(a.model)[:-3]
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        print("SKIP: Fashion-MNIST not installed")
        sys.exit(77)
    rows = 37
    rng = random.Random(5)
    x = os.path.join(a.workdir, "x.npy")
    y = os.path.join(a.workdir, "y.npy")
    write_npy(x, "<f4", (rows, 1, 28, 28) if name != "mlp" else (rows, 784),
              [rng.random() for _ in range(rows * 784)], "f")
    write_npy(y, "<i4", (rows,), [rng.randrange(10) for _ in range(rows)], "i")
    failures = 0
    for dt in ("f32", "f64"):
        exe = os.path.join(a.workdir, "%s_%s" % (name, dt))
        run([a.dlc, "--dtype", dt, a.model, "-o", exe], a.workdir)
        ref = None
        for t in ("1", "2", "3"):
            ck = "%s_t%s.safetensors" % (exe, t)
            dump = "%s_t%s_grads.safetensors" % (exe, t)
            for f in (ck, dump):
                if os.path.exists(f):
                    os.remove(f)
            out = run([exe, "--threads", t, "--steps", "5", "--seed", "3", "--progress", "never",
                       "--test", x + "," + y, "--save", ck], a.workdir)
            run([exe, "--threads", t, "--seed", "3", "--batch-from", x + "," + y, "--dump-grads", dump], a.workdir)
            test_line = [l for l in out.splitlines() if l.startswith("test: ")]
            got = (open(ck, "rb").read(), open(dump, "rb").read(), test_line)
            print("%s --threads %s: checkpoint %d bytes, gradients %d bytes, %s" % (
                dt, t, len(got[0]), len(got[1]), test_line[0] if test_line else "no test line"))
            if not test_line:
                print("FAIL: %s: no test line after training on %s threads" % (dt, t))
                failures += 1
            if ref is None:
                ref = got
                continue
            if got[0] != ref[0]:
                print("FAIL: %s: the checkpoint after 5 steps on %s threads differs from 1 thread" % (dt, t))
                failures += 1
            if got[1] != ref[1]:
                print("FAIL: %s: the gradients of a %d-row batch on %s threads differ from 1 thread" % (dt, rows, t))
                failures += 1
            if got[2] != ref[2]:
                print("FAIL: %s: the test loss of the %d rows on %s threads differs from 1 thread" % (dt, rows, t))
                failures += 1
    if failures:
        sys.exit(1)
    print("PASS: 1, 2 and 3 threads give the same bits (f32 and f64)")


if __name__ == "__main__":
    main()
