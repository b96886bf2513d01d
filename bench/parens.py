#!/usr/bin/env python3
"""parens.py - examples/parens_rnn.dl with each cell, next to its PyTorch twin.

For each cell (Elman, gated, LSTM) and seed: dlc trains parens_rnn.dl (3,000 steps of 64
strings, Adam 1e-3) and reports accuracy on all-well-formed strings of length 20, on near
misses of length 20 and of length 40; bench/torch_parens.py trains the twin on the same strings
(bench/parens_data.py re-implements the generator and the trainer's shuffle) and reports the
same three figures.

usage: /usr/bin/python3 bench/parens.py [--dlc build/dlc] [--seeds 1,2,3] [--epochs 30]
       [--cells elman,gru,lstm] [--no-torch] [--json OUT]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CELLS = {"elman": 1, "gru": 2, "lstm": 3}


def run(cmd, cwd=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd)
    if p.returncode:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout))
    return p.stdout


def acc(out, what):
    m = re.findall(r"^%s: loss [0-9.eE+-]+, accuracy ([0-9.]+)%%" % what, out, re.M)
    if not m:
        sys.exit("no %s accuracy in:\n%s" % (what, out))
    return float(m[-1]) / 100


def dlc_run(a, cell, seed, wd):
    ex = os.path.join(ROOT, "examples", "parens_rnn.dl")
    exe = []
    for test in (1, 2):
        e = os.path.join(wd, "parens_%s_%d" % (cell, test))
        run([a.dlc, ex, "-D", "CELL=%d" % CELLS[cell], "-D", "TEST=%d" % test, "-o", e])
        exe.append(e)
    ck = os.path.join(wd, "ck_%s_%d.safetensors" % (cell, seed))
    run([exe[0], "--seed", str(seed), "--epochs", str(a.epochs), "--save", ck, "--quiet", "--threads", "1"])
    e0 = run([exe[0], "--seed", str(seed), "--load", ck, "--eval"])
    e1 = run([exe[1], "--seed", str(seed), "--load", ck, "--eval"])
    return [acc(e0, "test"), acc(e0, "valid"), acc(e1, "test")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--cells", default="elman,gru,lstm")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as wd:
        for cell in a.cells.split(","):
            for seed in seeds:
                d = dlc_run(a, cell, seed, wd)
                t = None
                if not a.no_torch:
                    out = run(["/usr/bin/python3", os.path.join(HERE, "torch_parens.py"), "--cell", cell,
                               "--seed", str(seed), "--steps", str(a.epochs * 100)])
                    r = json.loads(out.strip().split("\n")[-1])
                    t = [r[k] for k in ("valid_only20", "nearmiss20", "nearmiss40")]
                rows.append({"cell": cell, "seed": seed, "dlc": d, "torch": t})
                print("%-5s seed %d  dlc %.3f / %.3f / %.3f%s" % (cell, seed, *d,
                      "   torch %.3f / %.3f / %.3f" % tuple(t) if t else ""), flush=True)
    print("\nmeans over seeds %s (well-formed at 20 / near misses at 20 / near misses at 40):" % a.seeds)
    for cell in a.cells.split(","):
        rs = [r for r in rows if r["cell"] == cell]
        md = [sum(r["dlc"][k] for r in rs) / len(rs) for k in range(3)]
        line = "%-5s dlc %.3f / %.3f / %.3f" % (cell, *md)
        if rs[0]["torch"]:
            mt = [sum(r["torch"][k] for r in rs) / len(rs) for k in range(3)]
            line += "   torch %.3f / %.3f / %.3f" % tuple(mt)
        print(line)
    if a.json:
        json.dump(rows, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
