#!/usr/bin/env python3
"""seq2seq.py - examples/seq2seq_attention.dl next to its PyTorch twin, bench/torch_seq2seq.py.

Builds the example and checks first that dlc's reverse_words(...) sets (its --dump-data) are
word for word those of bench/seq2seq_data.py, which the twin trains on.  Then for each seed:
dlc trains the example (2 epochs of Adam 2e-3 with `--lr-schedule cosine`, one thread) and
reports the exact match of its greedy decoding on the 5,523 held-out test words (`exact`), the
share of their letters right (`letters`) and the time of its training loop; the twin trains on
the same words in the same batches and reports the same three figures.  --samples K prints K
test words with dlc's greedy decoding (the trainer's --predict on the test words), and up to K
of those it gets wrong.

--min-exact X exits 1 when a side's exact match is below X (the test seq2seq.twin_short), 77
when PyTorch is missing.

usage: /usr/bin/python3 bench/seq2seq.py [--dlc build/dlc] [--seeds 1] [--epochs 2] [--steps N]
       [--schedule cosine|constant] [--threads 1] [--samples 12] [--no-torch] [--min-exact X]
       [--json OUT]
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import seq2seq_data as sd  # noqa: E402


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout))
    return p.stdout


def read_safetensors(path):
    import numpy as np
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    head = json.loads(data[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dt = {"I32": np.int32, "F32": np.float32, "F64": np.float64}[v["dtype"]]
        out[k] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=dt).reshape(v["shape"])
    return out


def check_data(exe, wd):
    import numpy as np
    path = os.path.join(wd, "data.safetensors")
    run([exe, "--dump-data", path])
    d = read_safetensors(path)
    for part, n in (("train", 0), ("test", 0), ("valid", 1000)):
        arrs = sd.to_arrays(sd.words(part, n=n))
        for a, k in zip(arrs, ("src", "m", "tgt", "y")):
            if not np.array_equal(a, d["%s.%s" % (part, k)]):
                sys.exit("dlc's %s.%s differs from bench/seq2seq_data.py's" % (part, k))
    print("data: dlc's reverse_words sets = seq2seq_data.py's (%d training, %d test words)"
          % (len(d["train.src"]), len(d["test.src"])))
    return d


def dlc_run(a, exe, seed, wd):
    ck = os.path.join(wd, "ck%d.safetensors" % seed)
    cmd = [exe, "--seed", str(seed), "--epochs", str(a.epochs), "--threads", str(a.threads),
           "--lr-schedule", a.schedule, "--progress", "never", "--save", ck]
    if a.steps:
        cmd += ["--steps", str(a.steps)]
    out = run(cmd)
    m = re.search(r"^test: exact ([0-9.]+), letters ([0-9.]+)", out, re.M)
    t = re.search(r"^train: .* in ([0-9.]+) s,", out, re.M)
    if not m or not t:
        sys.exit("no exact match or training time in:\n" + out)
    return {"exact": float(m.group(1)), "letters": float(m.group(2)), "train_s": float(t.group(1)),
            "checkpoint": ck}


def samples(exe, ck, data, wd, k):
    import numpy as np
    files = []
    for name in ("src", "m", "tgt"):
        p = os.path.join(wd, name + ".npy")
        v = data["test." + name].copy()
        if name == "tgt":        # the greedy decoding reads only BOS: blank the rest
            v[:, 1:] = 0
        np.save(p, v)
        files.append(p)
    out = os.path.join(wd, "guess.npy")
    run([exe, "--load", ck, "--predict", ",".join(files), "--predict-out", out, "--threads", "1"])
    g = np.load(out)
    n = len(g)
    words = [sd.decode(list(r[r > 0]) + [sd.EOS]) for r in data["test.src"]]
    for i in range(0, n, max(1, n // k)):
        print("  %-10s -> %s" % (words[i], sd.decode(g[i])))
    wrong = [i for i in range(n) if sd.decode(g[i]) != words[i][::-1] or sd.EOS not in list(g[i])]
    print("wrong: %d of %d test words%s" % (len(wrong), n, ", for instance:" if wrong else ""))
    for i in wrong[:k]:
        print("  %-10s -> %s" % (words[i], sd.decode(g[i])))


def mean(v):
    return sum(v) / len(v)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: all the epochs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=12)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--min-exact", type=float, default=0.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not a.no_torch and subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                                         stderr=subprocess.DEVNULL).returncode:
        print("SKIP: /usr/bin/python3 has no torch")
        sys.exit(77)
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as wd:
        exe = os.path.join(wd, "seq2seq_attention")
        run([a.dlc, os.path.join(ROOT, "examples", "seq2seq_attention.dl"), "-o", exe])
        data = check_data(exe, wd)
        print("seed   dlc exact  letters  time      PyTorch exact  letters  time")
        for seed in seeds:
            d = dlc_run(a, exe, seed, wd)
            t = None
            if not a.no_torch:
                js = os.path.join(wd, "torch.json")
                cmd = ["/usr/bin/python3", os.path.join(HERE, "torch_seq2seq.py"), "--seed", str(seed),
                       "--epochs", str(a.epochs), "--threads", str(a.threads), "--schedule", a.schedule,
                       "--json", js]
                if a.steps:
                    cmd += ["--steps", str(a.steps)]
                run(cmd)
                t = json.load(open(js))
            rows.append({"seed": seed, "dlc": {k: v for k, v in d.items() if k != "checkpoint"}, "torch": t})
            print("%-6d %7.2f%%  %6.2f%%  %7.1f s%s" % (
                seed, 100 * d["exact"], 100 * d["letters"], d["train_s"],
                "    %7.2f%%      %6.2f%%  %7.1f s" % (100 * t["exact"], 100 * t["letters"], t["train_s"])
                if t else ""), flush=True)
        if len(rows) > 1:
            line = "mean   %7.2f%%  %6.2f%%  %7.1f s" % (100 * mean([r["dlc"]["exact"] for r in rows]),
                                                     100 * mean([r["dlc"]["letters"] for r in rows]),
                                                     mean([r["dlc"]["train_s"] for r in rows]))
            if not a.no_torch:
                line += "    %7.2f%%      %6.2f%%  %7.1f s" % (
                    100 * mean([r["torch"]["exact"] for r in rows]), 100 * mean([r["torch"]["letters"] for r in rows]),
                    mean([r["torch"]["train_s"] for r in rows]))
            print(line)
        if a.samples:
            print("dlc's greedy decoding of test words (seed %d):" % seeds[0])
            samples(exe, os.path.join(wd, "ck%d.safetensors" % seeds[0]), data, wd, a.samples)
    low = ["%s seed %d: %.4f" % (side, r["seed"], r[side]["exact"]) for r in rows
           for side in ("dlc", "torch") if r[side] and r[side]["exact"] < a.min_exact]
    if low:
        print("FAIL: exact match below %.2f: %s" % (a.min_exact, ", ".join(low)))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"epochs": a.epochs, "schedule": a.schedule, "steps": a.steps, "threads": a.threads, "rows": rows}, f, indent=1)
    sys.exit(1 if low else 0)


if __name__ == "__main__":
    main()
