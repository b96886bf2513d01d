#!/usr/bin/python3
"""bench/cnn_zoo.py - CNNs the benchmark does not name, next to their PyTorch
twins, in one run on one machine: W-LeNet (examples/lenet5.dl), the wide CNN
and four CNNs with strided, 1x1, 5x5 (no pooling) and depthwise convolutions
(bench/models/*.dl; their twins in bench/torch_cnn_zoo.py).

For each model, --reps times, taking turns: dlc's trainer (`--steps S
--threads T`) and the PyTorch 1.13 twin (same layers, He-uniform init, SGD
with momentum, batch 64, the same steps); the median images/s of each.  Then
one more dlc run with `--profile` gives the model's FLOPs per image (the
kernels' own count) and where its time goes; with the FMA peak measured in
the same run (bench/gemm_bench.c `peak`, built when OpenBLAS's headers are
installed), GFLOP/s as a share of it.  Prints Markdown tables and writes
bench/results/cnn_zoo-DATE.json.

usage: /usr/bin/python3 bench/cnn_zoo.py [--dlc build/dlc] [--reps 3] [--steps 300]
       [--threads 1] [--only cnn_5x5,...] [--no-torch] [--profile-rows 8]
       [--torch2 VENV/bin/python]
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

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MODELS = [  # name, .dl, learning rate (the twin's --lr)
    ("lenet5", os.path.join(ROOT, "examples", "lenet5.dl"), 0.05),
    ("wide_cnn", os.path.join(HERE, "models", "wide_cnn.dl"), 0.05),
    ("cnn_stride2", os.path.join(HERE, "models", "cnn_stride2.dl"), 0.05),
    ("cnn_1x1", os.path.join(HERE, "models", "cnn_1x1.dl"), 0.05),
    ("cnn_5x5", os.path.join(HERE, "models", "cnn_5x5.dl"), 0.01),
    ("cnn_depthwise", os.path.join(HERE, "models", "cnn_depthwise.dl"), 0.05),
]


def sh(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    if p.returncode:
        sys.exit("cnn_zoo.py: %s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout[-3000:]))
    return p.stdout


def peak(work, threads):
    """The FMA peak in GFLOP/s at `threads` (best of 2), or None without OpenBLAS."""
    if not os.path.exists("/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h"):
        return None
    exe = os.path.join(work, "gemm_bench")
    if not os.path.exists(exe):
        sh(["make", "-s", "-C", HERE, "-f", "Makefile", "gemm_bench"])
        shutil.copy(os.path.join(HERE, "gemm_bench"), exe)
        os.unlink(os.path.join(HERE, "gemm_bench"))
    best = 0
    for _ in range(2):
        out = sh([exe, "peak", str(threads)], env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
        j = json.loads(out.strip().splitlines()[-1])
        best = max(best, max(v for k, v in j.items() if k.endswith("_gflops")))
    return best


def dlc_run(exe, steps, threads, extra=()):
    out = sh([exe, "--steps", str(steps), "--threads", str(threads), "--progress", "never", *extra])
    m = re.search(r"^train: .* ([0-9]+) images/s, final loss ([0-9.]+)", out, re.M)
    acc = re.search(r"^test: loss [0-9.]+, accuracy ([0-9.]+)%", out, re.M)
    return {"images_per_s": float(m.group(1)), "loss": float(m.group(2)),
            "test_acc": float(acc.group(1)) / 100 if acc else None, "output": out}


def torch_run(name, steps, threads, lr, python="/usr/bin/python3"):
    cmd = [python, os.path.join(HERE, "torch_cnn_zoo.py"), name]
    out = sh(cmd + ["--steps", str(steps), "--threads", str(threads), "--lr", str(lr)], cwd=HERE)
    return json.loads(out.strip().splitlines()[-1])


def profile_table(out):
    m = re.search(r"^profile: (\d+) steps, (\d+) kernels, ([0-9.]+) ms per step, ([0-9.]+) GFLOP/s", out, re.M)
    rows = re.findall(r"^(\w+) +([0-9.]+) +([0-9.]+)% +([0-9.]+)% +([0-9.]+|-)", out, re.M)
    return {"ms_per_step": float(m.group(3)), "gflops": float(m.group(4)), "kernels": int(m.group(2)),
            "rows": [{"kernel": k, "ms": float(ms), "share": float(sh_) / 100,
                      "gflops": None if g == "-" else float(g)} for k, ms, sh_, _, g in rows]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--profile-rows", type=int, default=8)
    ap.add_argument("--torch2", default=None, metavar="PYTHON",
                    help="also run each twin under this interpreter (a virtual environment with PyTorch 2 from "
                         "PyPI): the PyTorch 2 eager column")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    models = [m for m in MODELS if not only or m[0] in only]
    work = tempfile.mkdtemp(prefix="cnn_zoo.")
    pk = peak(work, args.threads)
    res = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "threads": args.threads,
           "steps": args.steps, "reps": args.reps, "peak_gflops": pk, "models": {}}
    for name, dl, lr in models:
        exe = os.path.join(work, name)
        sh([args.dlc, dl, "-o", exe])
        d, t, t2 = [], [], []
        for rep in range(args.reps):
            order = ["dlc", "torch", "torch2"] if rep % 2 == 0 else ["torch2", "torch", "dlc"]
            for who in order:
                if who == "dlc":
                    d.append(dlc_run(exe, args.steps, args.threads))
                elif who == "torch" and not args.no_torch:
                    t.append(torch_run(name, args.steps, args.threads, lr))
                elif who == "torch2" and args.torch2:
                    t2.append(torch_run(name, args.steps, args.threads, lr, args.torch2))
            print("%s rep %d: dlc %.0f images/s%s%s" % (name, rep + 1, d[-1]["images_per_s"],
                  ", PyTorch %.0f" % t[-1]["images_per_s"] if t else "",
                  ", PyTorch 2 %.0f" % t2[-1]["images_per_s"] if t2 else ""), file=sys.stderr)
        prof = dlc_run(exe, args.steps, args.threads, ["--profile"] + (["--profile-peak", str(pk)] if pk else []))
        p = profile_table(prof["output"])
        r = {"dlc_images_per_s": statistics.median(x["images_per_s"] for x in d),
             "dlc_test_acc": d[-1]["test_acc"], "dlc_loss": d[-1]["loss"], "profile": p,
             "flops_per_image": p["gflops"] * 1e9 * p["ms_per_step"] * 1e-3 / 64}
        r["dlc_gflops"] = r["flops_per_image"] * r["dlc_images_per_s"] * 1e-9
        if pk:
            r["dlc_share_of_peak"] = r["dlc_gflops"] / pk
        if t:
            r["torch_images_per_s"] = statistics.median(x["images_per_s"] for x in t)
            r["torch_test_acc"] = t[-1]["test_acc"]
            r["ratio"] = r["dlc_images_per_s"] / r["torch_images_per_s"]
        if t2:
            r["torch2_images_per_s"] = statistics.median(x["images_per_s"] for x in t2)
            r["torch2_version"] = t2[-1].get("system")
            r["ratio2"] = r["dlc_images_per_s"] / r["torch2_images_per_s"]
        res["models"][name] = r
    print("\n%d steps of batch 64, %d thread%s, medians of %d; FMA peak %s\n" % (
        args.steps, args.threads, "" if args.threads == 1 else "s", args.reps,
        "%.1f GFLOP/s" % pk if pk else "not measured (no OpenBLAS headers)"))
    print("| model | MFLOP / image | dlc images/s | dlc GFLOP/s | share of peak | PyTorch 1.13 images/s | dlc / PyTorch |"
          " PyTorch 2 eager images/s | dlc / PyTorch 2 | test accuracy dlc / PyTorch |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in res["models"].items():
        print("| %s | %.2f | %.0f | %.1f | %s | %s | %s | %s | %s | %s / %s |" % (
            name, r["flops_per_image"] / 1e6, r["dlc_images_per_s"], r["dlc_gflops"],
            "%.0f%%" % (100 * r["dlc_share_of_peak"]) if pk else "-",
            "%.0f" % r["torch_images_per_s"] if "torch_images_per_s" in r else "-",
            "%.2f×" % r["ratio"] if "ratio" in r else "-",
            "%.0f" % r["torch2_images_per_s"] if "torch2_images_per_s" in r else "-",
            "%.2f×" % r["ratio2"] if "ratio2" in r else "-",
            "%.1f%%" % (100 * r["dlc_test_acc"]) if r["dlc_test_acc"] is not None else "-",
            "%.1f%%" % (100 * r["torch_test_acc"]) if "torch_test_acc" in r else "-"))
    for name, r in res["models"].items():
        print("\n%s: where a step's %.2f ms go (--profile)\n" % (name, r["profile"]["ms_per_step"]))
        print("| kernel | ms / step | share | GFLOP/s |%s" % (" share of peak |" if pk else ""))
        print("|---|---|---|---|%s" % ("---|" if pk else ""))
        for row in r["profile"]["rows"][:args.profile_rows]:
            g = row["gflops"]
            print("| `%s` | %.3f | %.1f%% | %s |%s" % (row["kernel"], row["ms"], 100 * row["share"],
                  "-" if g is None else "%.1f" % g, (" %s |" % ("-" if g is None else "%.0f%%" % (100 * g / pk))) if pk else ""))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    path = os.path.join(HERE, "results", "cnn_zoo-%s.json" % datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    for r in res["models"].values():
        r["profile"].pop("output", None)
    with open(path, "w") as f:
        json.dump(res, f, indent=1)
    print("\nraw figures: %s" % os.path.relpath(path, ROOT))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
