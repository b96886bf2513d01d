#!/usr/bin/env python3
"""hist.py - examples/hist_transformer.dl next to its PyTorch twin, bench/torch_hist.py.

For each seed: dlc trains hist_transformer.dl (30 epochs of 100 batches of 64 sequences of 10
tokens, Adam 2e-3 with `--lr-schedule cosine`, one thread) and reports the per-position test accuracy on hist(n = 2000)
and the time of its training loop; the twin trains on the same sequences in the same batches
(bench/hist_data.py re-implements the generator and the trainer's shuffle) and reports the
same two figures.

usage: /usr/bin/python3 bench/hist.py [--dlc build/dlc] [--seeds 1,2,3] [--epochs 30]
       [--schedule cosine|constant] [--threads 1] [--no-torch] [--json OUT]
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


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout))
    return p.stdout


def dlc_run(a, exe, seed):
    out = run([exe, "--seed", str(seed), "--epochs", str(a.epochs), "--threads", str(a.threads),
               "--lr-schedule", a.schedule, "--progress", "never"])
    m = re.search(r"^test: loss [0-9.eE+-]+, accuracy ([0-9.]+)% \((\d+) positions", out, re.M)
    t = re.search(r"^train: .* in ([0-9.]+) s,", out, re.M)
    if not m or not t:
        sys.exit("no test accuracy or training time in:\n" + out)
    return {"test_acc": float(m.group(1)) / 100, "train_s": float(t.group(1))}


def mean(v):
    return sum(v) / len(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--json")
    a = ap.parse_args()
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as wd:
        exe = os.path.join(wd, "hist_transformer")
        run([a.dlc, os.path.join(ROOT, "examples", "hist_transformer.dl"), "-o", exe])
        print("seed   dlc accuracy  time      PyTorch accuracy  time")
        for seed in seeds:
            d = dlc_run(a, exe, seed)
            t = None
            if not a.no_torch:
                out = run(["/usr/bin/python3", os.path.join(HERE, "torch_hist.py"), "--seed", str(seed),
                           "--epochs", str(a.epochs), "--schedule", a.schedule, "--threads", str(a.threads)])
                t = json.loads(out.strip().split("\n")[-1])
            rows.append({"seed": seed, "dlc": d, "torch": t})
            print("%-6d %7.2f%%  %7.2f s%s" % (seed, 100 * d["test_acc"], d["train_s"],
                  "    %7.2f%%      %7.2f s" % (100 * t["test_acc"], t["train_s"]) if t else ""), flush=True)
    line = "mean   %7.2f%%  %7.2f s" % (100 * mean([r["dlc"]["test_acc"] for r in rows]),
                                       mean([r["dlc"]["train_s"] for r in rows]))
    if not a.no_torch:
        line += "    %7.2f%%      %7.2f s" % (100 * mean([r["torch"]["test_acc"] for r in rows]),
                                             mean([r["torch"]["train_s"] for r in rows]))
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"epochs": a.epochs, "schedule": a.schedule, "threads": a.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
