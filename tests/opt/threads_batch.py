#!/usr/bin/env python3
"""One batch gives the same gradients on any number of threads.

usage: threads_batch.py --dlc DLC --model M.dl --workdir DIR

Builds a model whose inputs need no dataset (integer inputs are drawn below
the rows of their tables, like labels below their classes), in f32 and in
f64, and for --threads 1, 2 and 3 dumps the loss, outputs and gradients of
the trainer's random batch (every row) and of a batch of 37 rows read from
files (a partial batch, when the batch is larger).  The dumps must be
byte-identical across thread counts: duplicate ids, for one, must accumulate
in the same order whatever the split.  Standard library only.
"""
import argparse
import os
import random
import re
import sys

from opt_equal import run
from threads_equal import write_npy


def data_decls(src):
    """[(name, dtype, shape)] of the inputs and labels, in order; dims resolved."""
    dims, out = {}, []
    for line in src.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"dim\s+(\w+)\s*=\s*(.+)$", line)
        if m:
            dims[m.group(1)] = int(eval(m.group(2), {"__builtins__": {}}, dict(dims)))
        m = re.match(r"(input|label)\s+(\w+)\s*:\s*(\w+)?\s*\[([^\]]*)\]", line)
        if m:
            dt = m.group(3) or ("i32" if m.group(1) == "label" else "f32")
            shape = [int(eval(d, {"__builtins__": {}}, dict(dims))) for d in m.group(4).split(",")]
            out.append((m.group(2), dt, shape))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    name = os.path.basename(a.model)[:-3]
    rows = 37
    rng = random.Random(5)
    files = []
    for dname, dt, shape in data_decls(open(a.model).read()):
        shape = [rows] + shape[1:]
        count = 1
        for d in shape:
            count *= d
        path = os.path.join(a.workdir, dname + ".npy")
        if dt == "i32":
            # below 3: a valid id of any table and class of any label here
            write_npy(path, "<i4", shape, [rng.randrange(3) for _ in range(count)], "i")
        else:
            write_npy(path, "<f4", shape, [rng.random() for _ in range(count)], "f")
        files.append(path)
    failures = 0
    for dt in ("f32", "f64"):
        exe = os.path.join(a.workdir, "%s_%s" % (name, dt))
        run([a.dlc, "--dtype", dt, a.model, "-o", exe], a.workdir)
        ref = None
        for t in ("1", "2", "3"):
            dumps = ["%s_t%s_random.safetensors" % (exe, t), "%s_t%s_rows.safetensors" % (exe, t)]
            for f in dumps:
                if os.path.exists(f):
                    os.remove(f)
            run([exe, "--threads", t, "--seed", "3", "--dump-grads", dumps[0]], a.workdir)
            run([exe, "--threads", t, "--seed", "3", "--batch-from", ",".join(files), "--dump-grads", dumps[1]],
                a.workdir)
            got = [open(f, "rb").read() for f in dumps]
            print("%s --threads %s: gradients %d and %d bytes" % (dt, t, len(got[0]), len(got[1])))
            if ref is None:
                ref = got
                continue
            for k, what in enumerate(("the random batch", "a %d-row batch" % rows)):
                if got[k] != ref[k]:
                    print("FAIL: %s: the gradients of %s on %s threads differ from 1 thread" % (dt, what, t))
                    failures += 1
    if failures:
        sys.exit(1)
    print("PASS: 1, 2 and 3 threads give the same bits (f32 and f64)")


if __name__ == "__main__":
    main()
