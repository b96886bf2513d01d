#!/usr/bin/python3
"""Real NVP on the two moons: examples/realnvp_moons.dl next to its PyTorch twin (torch_realnvp.py).

usage: /usr/bin/python3 bench/flow_moons.py [--dlc build/dlc] [--workdir build-bench/flow]
                                            [--seeds 1,2,3] [--iters 1000,3000] [--no-torch]

Both sides train with 1 thread on 100 fresh moons (noise 0.05) per iteration; after each
count of iterations in --iters, the negative log-likelihood (nats/point) of the same 10,000
fresh moons (make_moons, noise 0.05, drawn from the seed + 1000) is measured: dlc's through
`--predict` of the per-point output `nlp` on a checkpoint saved at that iteration.  After the
last, 10,000 samples of each flow (dlc: `--sample`) are scored by the fraction within 0.15 of
the moons' arcs.  Each seed runs in WORKDIR/seedN; prints a table (with means over the
seeds) and writes WORKDIR/flow_moons.json.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stdout))
    return p.stdout


def one_seed(a, exe, seed, marks):
    """Both systems with one seed, in WORKDIR/seedN; returns {system: result}."""
    from sklearn.datasets import make_moons
    from torch_realnvp import near_arcs
    w = os.path.join(a.workdir, "seed%d" % seed)
    os.makedirs(w, exist_ok=True)
    test = os.path.join(w, "test.npy")
    np.save(test, make_moons(10000, noise=0.05, random_state=seed + 1000)[0].astype(np.float32))
    dl = {"system": "dlc", "threads": 1, "seed": seed, "test_nll": {}}
    ck, t_train = None, 0.0
    for it in marks:
        nxt = os.path.join(w, "ck%d.safetensors" % it)
        cmd = [exe, "--threads", "1", "--seed", str(seed), "--epochs", str(it), "--save", nxt]
        t0 = time.perf_counter()
        run(cmd + (["--load", ck] if ck else []), w)
        t_train += time.perf_counter() - t0
        ck = nxt
        out = os.path.join(w, "pred%d.npy" % it)
        run([exe, "--load", ck, "--predict", test, "--predict-out", out], w)
        dl["test_nll"][str(it)] = float(np.load(os.path.join(w, "pred%d.nlp.npy" % it)).astype(np.float64).mean())
    samples = os.path.join(w, "dlc_samples.npy")
    run([exe, "--load", ck, "--seed", str(seed), "--sample", "10000", "--sample-out", samples], w)
    dl["near_arcs"] = near_arcs(np.load(samples))
    dl["wall_s"] = t_train  # whole processes, test-set evaluation included
    res = {"dlc": dl}
    if not a.no_torch:
        js = os.path.join(w, "torch.json")
        run(["/usr/bin/python3", os.path.join(HERE, "torch_realnvp.py"), "--iters", ",".join(map(str, marks)),
             "--test", test, "--seed", str(seed), "--json", js, "--samples-out", os.path.join(w, "torch_samples.npy")],
            w)
        with open(js) as f:
            res["torch"] = json.load(f)
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--workdir", default=os.path.join(ROOT, "build-bench", "flow"))
    ap.add_argument("--seeds", default="1", help="comma-separated seeds, e.g. 1,2,3")
    ap.add_argument("--iters", default="1000,3000")
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args()
    a.dlc = os.path.abspath(a.dlc)
    a.workdir = os.path.abspath(a.workdir)
    os.makedirs(a.workdir, exist_ok=True)
    marks = sorted(int(v) for v in a.iters.split(","))
    seeds = [int(v) for v in a.seeds.split(",")]
    exe = os.path.join(a.workdir, "realnvp_moons")
    run([a.dlc, os.path.join(ROOT, "examples", "realnvp_moons.dl"), "-o", exe], a.workdir)
    runs = {seed: one_seed(a, exe, seed, marks) for seed in seeds}
    with open(os.path.join(a.workdir, "flow_moons.json"), "w") as f:
        json.dump({str(k): v for k, v in runs.items()}, f, indent=1)
    print("Real NVP on two moons: test NLL (nats/point, 10,000 fresh moons per seed), samples within 0.15 of the arcs")
    print("%-8s%6s" % ("system", "seed") + "".join("%12s" % ("%d it" % it) for it in marks) + "%12s" % "near arcs")
    for name in runs[seeds[0]]:
        rows = [runs[seed][name] for seed in seeds]
        for seed, r in zip(seeds, rows):
            print("%-8s%6d" % (name, seed) + "".join("%12.4f" % r["test_nll"][str(it)] for it in marks) +
                  "%11.1f%%" % (100 * r["near_arcs"]))
        if len(seeds) > 1:
            print("%-8s%6s" % (name, "mean") +
                  "".join("%12.4f" % np.mean([r["test_nll"][str(it)] for r in rows]) for it in marks) +
                  "%11.1f%%" % (100 * np.mean([r["near_arcs"] for r in rows])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
