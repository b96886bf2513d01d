#!/usr/bin/python3
"""bench/jit_start.py - how soon `dlc run` trains, and how fast, next to the
ahead-of-time trainer of the same model.

For a model (default examples/lenet5.dl), --reps times, taking turns:
  aot       the trainer `dlc MODEL -o EXE` builds (gcc), one epoch;
  tiered    `dlc run` with an empty JIT cache: the quick code first, the O3
            code from a background thread (compiler/jit.h);
  o3        `dlc run` with an empty cache and DLC_JIT_TIERED=0: it waits for
            the O3 code;
  cached    `dlc run` again on the cache the tiered run filled.
Each dlc run says (DLC_JIT_VERBOSE=1) when its first training step began,
counted from dlc's start, and from which step the O3 code ran; the trainer
says its images/s over the epoch.  Prints a Markdown table of the medians
and writes bench/results/jit_start-DATE.json.

usage: /usr/bin/python3 bench/jit_start.py [--dlc build/dlc] [--model examples/lenet5.dl]
       [--reps 5] [--threads 1] [--epochs 1]
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def run(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       env=dict(os.environ, **(env or {})), cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode:
        sys.exit("jit_start.py: %s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout[-3000:]))
    out = p.stdout
    r = {"wall_s": wall}
    m = re.search(r"^train: .* in ([0-9.]+) s, ([0-9]+) images/s", out, re.M)
    r["train_s"], r["images_per_s"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"first training step ([0-9]+) ms after start", out)
    r["first_step_ms"] = float(m.group(1)) if m else None
    m = re.search(r"O3 code in place ([0-9]+) ms after the JIT began, (?:from training step ([0-9]+) of ([0-9]+)|"
                  r"after ([0-9]+) training steps)", out)
    if m:
        r["o3_ms"] = float(m.group(1))
        r["o3_from_step"] = int(m.group(2)) if m.group(2) else int(m.group(4))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--model", default=os.path.join(ROOT, "examples", "lenet5.dl"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="jit_start.")
    exe = os.path.join(work, "aot")
    subprocess.run([args.dlc, args.model, "-o", exe], check=True, cwd=ROOT)
    flags = ["--epochs", str(args.epochs), "--threads", str(args.threads), "--progress", "never"]
    res = {k: [] for k in ("aot", "tiered", "o3", "cached")}
    for rep in range(args.reps):
        cache = os.path.join(work, "cache%d" % rep)
        verbose = {"DLC_JIT_VERBOSE": "1"}
        res["aot"].append(run([exe] + flags))
        res["o3"].append(run([args.dlc, "run", args.model] + flags,
                             dict(verbose, DLC_JIT_CACHE="0", DLC_JIT_TIERED="0")))
        res["tiered"].append(run([args.dlc, "run", args.model] + flags, dict(verbose, DLC_JIT_CACHE_DIR=cache)))
        res["cached"].append(run([args.dlc, "run", args.model] + flags, dict(verbose, DLC_JIT_CACHE_DIR=cache)))
        print("rep %d: %s" % (rep + 1, ", ".join("%s %.0f images/s" % (k, v[-1]["images_per_s"]) for k, v in res.items())),
              file=sys.stderr)

    def med(k, f):
        xs = [r[f] for r in res[k] if r.get(f) is not None]
        return statistics.median(xs) if xs else None

    aot = med("aot", "images_per_s")
    print("\n%s, %d epoch%s, %d thread%s, medians of %d\n" % (os.path.relpath(args.model, ROOT), args.epochs,
          "" if args.epochs == 1 else "s", args.threads, "" if args.threads == 1 else "s", args.reps))
    print("| run | first training step | O3 code in place | from step | images/s | / AOT | whole run |")
    print("|---|---|---|---|---|---|---|")
    for k in ("aot", "tiered", "o3", "cached"):
        f, o, s, i, w = (med(k, "first_step_ms"), med(k, "o3_ms"), med(k, "o3_from_step"), med(k, "images_per_s"),
                         med(k, "wall_s"))
        print("| %s | %s | %s | %s | %.0f | %.2f | %.2f s |" % (
            k, "-" if f is None else "%.0f ms" % f, "-" if o is None else "%.0f ms" % o,
            "-" if s is None else "%d" % s, i, i / aot, w))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "jit_start-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    with open(path, "w") as fh:
        json.dump({"model": args.model, "threads": args.threads, "epochs": args.epochs, "runs": res}, fh, indent=1)
    print("\nraw figures: %s" % os.path.relpath(path, ROOT))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
