#!/usr/bin/env python3
"""Data-parallel training next to one process: W-MLP and W-LeNet for one epoch
(docs/mpi.md), in the same run on the same machine, medians of --reps:

  dlc 1x1    the trainer, 1 process, 1 thread
  dlc 1x2    1 process, 2 threads (the kernels split over threads)
  dlc 2x1    mpirun -np 2, a trainer built by dlc --mpi, 1 thread per rank
             (MPI_Allreduce of the gradients every step; the trainer prints the
             milliseconds each step spends in it)
  torch 2x1  PyTorch DistributedDataParallel, gloo, 2 processes of 1 thread
             (bench/torch_ddp.py: the same split of the global batch of 64)

Prints a Markdown table (images/s, communication ms per step, ratios) and
writes the raw numbers to bench/results/mpi-DATE.json.

  /usr/bin/python3 bench/mpi.py                 # 3 reps, one epoch each (~5 min)
  /usr/bin/python3 bench/mpi.py --steps 200 --reps 1 --min-accuracy 0.7   # the short run (tests)
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = {"mlp": "mlp", "lenet": "lenet5"}


def mpi_env():
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    return env


def sh(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit("bench/mpi.py: %s failed (exit %d):\n%s%s" % (" ".join(cmd), p.returncode, p.stdout[-2000:],
                                                              p.stderr[-2000:]))
    return p.stdout


def dlc_run(cmd, env=None):
    out = sh(cmd, env)
    m = re.search(r"^train: .* ([0-9.]+) images/s", out, re.M)
    c = re.search(r"^mpi: .* ([0-9.]+) ms per step in communication", out, re.M)
    a = re.search(r"^test: .*accuracy ([0-9.]+)%", out, re.M)
    return {"images_per_s": float(m.group(1)), "comm_ms": float(c.group(1)) if c else 0.0,
            "test_accuracy": float(a.group(1)) / 100 if a else None}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--mpirun", default="mpirun")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=0, help="steps per run (0: one epoch)")
    ap.add_argument("--only", choices=sorted(MODELS))
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--workdir", default="/tmp/dlc-bench-mpi")
    ap.add_argument("--min-accuracy", type=float, default=0.0,
                    help="fail when a run's test accuracy is below this (the short run in the tests)")
    ap.add_argument("--results", default=os.path.join(HERE, "results"), help="where the JSON goes")
    args = ap.parse_args()
    if not args.mpirun or not shutil.which(args.mpirun):
        print("SKIP: no mpirun (apt-get install openmpi-bin libopenmpi-dev, then build dlc again)")
        sys.exit(77)
    os.makedirs(args.workdir, exist_ok=True)
    length = ["--steps", str(args.steps)] if args.steps else ["--epochs", "1"]
    results = {}
    for key, ex in MODELS.items():
        if args.only and key != args.only:
            continue
        src = os.path.join(ROOT, "examples", ex + ".dl")
        one = os.path.join(args.workdir, ex)
        par = os.path.join(args.workdir, ex + "_mpi")
        sh([args.dlc, src, "-o", one])
        sh([args.dlc, "--mpi", src, "-o", par])
        runs = {"dlc 1x1": [], "dlc 1x2": [], "dlc 2x1": [], "torch 2x1": []}
        base = ["--progress", "never", "--seed", "1"] + length
        for rep in range(args.reps):
            runs["dlc 1x1"].append(dlc_run([one, "--threads", "1"] + base))
            runs["dlc 1x2"].append(dlc_run([one, "--threads", "2"] + base))
            runs["dlc 2x1"].append(dlc_run([args.mpirun, "--oversubscribe", "--bind-to", "core", "-np", "2", par,
                                            "--threads", "1"] + base, env=mpi_env()))
            if not args.no_torch:
                t = json.loads(sh(["/usr/bin/python3", os.path.join(HERE, "torch_ddp.py"), "--model", key,
                                   "--procs", "2", "--threads", "1"] +
                                  (["--steps", str(args.steps)] if args.steps else [])).strip().splitlines()[-1])
                runs["torch 2x1"].append({"images_per_s": t["images_per_s"], "comm_ms": t["allreduce_ms"],
                                          "test_accuracy": t["test_accuracy"]})
            print("%s rep %d: %s" % (key, rep + 1, ", ".join("%s %.0f img/s" % (k, v[-1]["images_per_s"])
                                                             for k, v in runs.items() if v)), flush=True)
        results[key] = runs
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.results, exist_ok=True)
    path = os.path.join(args.results, "mpi-%s.json" % stamp)
    with open(path, "w") as f:
        json.dump({"steps": args.steps or "1 epoch", "reps": args.reps, "cpus": os.cpu_count(), "runs": results}, f,
                  indent=1)
    print("\n| model | system | images/s (median) | comm. ms/step | vs dlc 1x1 | test acc. |")
    print("|---|---|---:|---:|---:|---:|")
    for key, runs in results.items():
        base = statistics.median(r["images_per_s"] for r in runs["dlc 1x1"])
        for name, rs in runs.items():
            if not rs:
                continue
            ips = statistics.median(r["images_per_s"] for r in rs)
            comm = statistics.median(r["comm_ms"] for r in rs)
            acc = rs[-1]["test_accuracy"]
            print("| %s | %s | %.0f | %s | %.2fx | %s |" % (key, name, ips, "%.3f" % comm if comm else "-",
                                                          ips / base, "%.2f%%" % (100 * acc) if acc else "-"))
    print("\nraw numbers: %s" % path)
    low = [(key, name, r["test_accuracy"]) for key, runs in results.items() for name, rs in runs.items()
           for r in rs if r["test_accuracy"] is not None and r["test_accuracy"] < args.min_accuracy]
    for key, name, acc in low:
        print("FAIL: %s %s: test accuracy %.2f%% below %.2f%%" % (key, name, 100 * acc, 100 * args.min_accuracy))
    if low:
        sys.exit(1)


if __name__ == "__main__":
    main()
