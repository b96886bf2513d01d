#!/usr/bin/python3
"""bench/same_bits.py - do two versions of dlc train to the same bits?

Builds dlc at two commits (--old REV, and --new REV or, by default, the working
tree), compiles the example models with each, trains each trainer for a few
steps with the same flags at each thread count, and compares the checkpoints
byte for byte:

  for each side:   git archive REV  ->  BUILD_DIR/src-<sha12>
                   cmake (Release, no sanitizers, -DDLC_WITH_LLVM=OFF)
                                    ->  BUILD_DIR/dlc-src-<sha12>  (the working tree: dlc-worktree)
                   dlc examples/MODEL.dl -o BUILD_DIR/runs/SIDE/MODEL
  for each model and thread count:
                   MODEL --steps 20 --seed 1 --threads T --save SIDE-MODEL-tT.safetensors

Each side compiles its own examples/MODEL.dl (a note says when the two files
differ).  The data is what the trainers find by default (Fashion-MNIST under
/usr/share/datasets/fashion-mnist).  A table gives, per model and thread count,
whether the two checkpoints are identical; for a difference it parses the
safetensors headers and names the first differing tensor (in file order), its
largest absolute difference, and how many tensors differ.

Since parameters draw their initial values from streams numbered by declaration order
(instead of by name) and examples/mlp.dl and lenet5.dl use layers, older revisions start
from other values and name their params differently: compare revisions from that change on.

Exit status: 0 when every pair is identical, 1 when any differs, 2 when a
build or a run failed.

Standard library only.
usage: /usr/bin/python3 bench/same_bits.py --old REV [--new REV] [--models mlp,lenet5,convnet_bn]
       [--threads 1,2] [--steps 20] [--seed 1]   (--help for the rest)
"""
import argparse
import array
import json
import math
import os
import struct
import sys

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.dont_write_bytecode = True
import run as bench  # noqa: E402  (the benchmark driver's export, build and process helpers)

ROOT = bench.ROOT
DEFAULT_MODELS = ["mlp", "lenet5", "convnet_bn"]
CMAKE_FLAGS = ["-DDLC_WITH_LLVM=OFF"]

# safetensors dtype -> (array typecode, bytes per element); BF16 is widened by hand
DTYPES = {"F64": ("d", 8), "F32": ("f", 4), "I64": ("q", 8), "I32": ("i", 4), "I16": ("h", 2),
          "I8": ("b", 1), "U64": ("Q", 8), "U32": ("I", 4), "U16": ("H", 2), "U8": ("B", 1),
          "BOOL": ("B", 1)}


def log(msg):
    bench.log(msg)


# ---------------------------------------------------------------- safetensors

def read_safetensors(path):
    """(metadata, {name: (dtype, shape, bytes)}, names in file order)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError("%s: shorter than a safetensors header" % path)
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        tensors[name] = (t["dtype"], list(t["shape"]), blob[base + a:base + b])
    order = sorted(tensors, key=lambda k: header[k]["data_offsets"][0])
    return meta, tensors, order


def values(dtype, data):
    """The tensor's elements as Python numbers (little-endian storage)."""
    if dtype == "F16":
        return [v for (v,) in struct.iter_unpack("<e", data)]
    if dtype == "BF16":
        return [v for (v,) in struct.iter_unpack("<f", b"".join(b"\0\0" + data[i:i + 2]
                                                                for i in range(0, len(data), 2)))]
    if dtype not in DTYPES:
        return None
    arr = array.array(DTYPES[dtype][0])
    if arr.itemsize != DTYPES[dtype][1]:
        return [v for (v,) in struct.iter_unpack("<" + DTYPES[dtype][0], data)]
    arr.frombytes(data)
    if sys.byteorder == "big":
        arr.byteswap()
    return arr


def max_abs_diff(dtype, a, b):
    """Largest |a - b| over the elements (NaN against a number counts as inf), or None."""
    va, vb = values(dtype, a), values(dtype, b)
    if va is None or vb is None or len(va) != len(vb):
        return None
    worst = 0.0
    for x, y in zip(va, vb):
        if x == y:
            continue
        xn, yn = isinstance(x, float) and math.isnan(x), isinstance(y, float) and math.isnan(y)
        if xn and yn:
            continue
        d = math.inf if xn or yn else abs(x - y)
        if d > worst:
            worst = d
    return worst


def compare(path_old, path_new):
    """None when the files are the same bytes; otherwise a dict describing the difference."""
    with open(path_old, "rb") as f:
        a = f.read()
    with open(path_new, "rb") as f:
        b = f.read()
    if a == b:
        return None
    try:
        meta_a, ta, order_a = read_safetensors(path_old)
        meta_b, tb, order_b = read_safetensors(path_new)
    except (ValueError, KeyError, TypeError, struct.error) as e:
        return {"first": "(unreadable: %s)" % e, "max_abs": None, "differing": None, "tensors": None}
    differing = []
    first, first_diff, worst = None, None, None
    for name in order_a + [k for k in order_b if k not in ta]:
        if name not in ta or name not in tb:
            differing.append(name)
            if first is None:
                first = "%s (only in %s)" % (name, "old" if name in ta else "new")
            continue
        (da, sa, xa), (db, sb, xb) = ta[name], tb[name]
        if (da, sa) != (db, sb):
            differing.append(name)
            if first is None:
                first = "%s (%s%s vs %s%s)" % (name, da, sa, db, sb)
            continue
        if xa != xb:
            differing.append(name)
            d = max_abs_diff(da, xa, xb)
            if first is None:
                first, first_diff = name, d
            if d is not None and (worst is None or d > worst):
                worst = d
    if first is None and meta_a != meta_b:
        keys = sorted(k for k in set(meta_a) | set(meta_b) if meta_a.get(k) != meta_b.get(k))
        first = "__metadata__ (%s)" % ", ".join("%s: %s vs %s" % (k, meta_a.get(k), meta_b.get(k)) for k in keys)
    if first is None:
        first = "(same tensors and metadata; the header's layout differs)"
    return {"first": first, "max_abs": first_diff, "max_abs_all": worst, "differing": len(differing),
            "tensors": len(ta)}


# ---------------------------------------------------------------- builds and runs

def side(rev, args):
    """Build dlc for one side: a commit (git archive) or, rev None, the working tree."""
    if rev is None:
        src, bdir, label = ROOT, os.path.join(args.build_dir, "dlc-worktree"), "working tree"
        dirty = bench.sh(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT)
        head = bench.sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT)
        label = "working tree (HEAD %s%s)" % (head, ", %d modified files" % len(dirty.splitlines())
                                              if dirty else "")
        key = "new"
    else:
        sha, src = bench.export_commit(rev, args.build_dir, flag="--old" if rev == args.old else "--new")
        bdir, label = bench.commit_build_dir(args.build_dir, src), "%s (%s)" % (rev, sha[:12])
        key = sha[:12]
    dlc = bench.cmake_dlc(src, bdir, args.skip_build, CMAKE_FLAGS)
    return {"src": src, "dlc": dlc, "label": label, "key": key}


def compile_models(s, name, args, failures):
    work = os.path.join(args.build_dir, "runs", name)
    os.makedirs(work, exist_ok=True)
    exes = {}
    for m in args.models:
        exe = os.path.join(work, m)
        dl = os.path.join(s["src"], "examples", m + ".dl")
        log("%s: dlc %s" % (name, os.path.relpath(dl, args.build_dir) if s["src"] != ROOT
                            else os.path.relpath(dl, ROOT)))
        cmd = [s["dlc"], dl, "-o", exe]
        if args.cc:
            cmd += ["--cc", args.cc]
        r = bench.run_child(cmd, timeout=900)
        if r["rc"] != 0:
            failures.append("%s: dlc %s.dl failed (rc %s): %s" % (name, m, r["rc"], bench.oneline(r["output"], 3)))
            continue
        exes[m] = exe
    return work, exes


def train(exe, work, tag, threads, args, failures):
    ckpt = os.path.join(work, "%s-t%d.safetensors" % (tag, threads))
    if os.path.exists(ckpt):
        os.remove(ckpt)
    cmd = [exe, "--steps", str(args.steps), "--seed", str(args.seed), "--threads", str(threads),
           "--save", ckpt, "--progress", "never"] + args.train_flags
    log("%s --threads %d" % (os.path.relpath(exe, args.build_dir), threads))
    r = bench.run_child(cmd, env=bench.clean_env(), cwd=work, timeout=1800)
    with open(os.path.join(work, "%s-t%d.log" % (tag, threads)), "w") as f:
        f.write(" ".join(cmd) + "\n" + r.get("output", "") + "\n")
    if r["rc"] != 0 or not os.path.exists(ckpt):
        failures.append("%s at %d thread(s): rc %s, %s" % (exe, threads, r["rc"],
                                                           bench.oneline(r.get("output", "") or r.get("error", ""), 3)))
        return None
    return ckpt


def main():
    ap = argparse.ArgumentParser(description="checkpoints of two dlc versions, compared bit for bit "
                                             "(see bench/README.md)")
    ap.add_argument("--old", required=True, help="the commit before (anything git rev-parse takes)")
    ap.add_argument("--new", default=None, help="the commit after (default: the working tree)")
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS),
                    help="examples/NAME.dl to compare (default %s)" % ",".join(DEFAULT_MODELS))
    ap.add_argument("--threads", default="1,2", help="thread counts to train at (default 1,2)")
    ap.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    ap.add_argument("--seed", type=int, default=1, help="the trainers' --seed (default 1)")
    ap.add_argument("--train-flags", default="",
                    help="more trainer flags for both sides, one string (e.g. \"--lr 0.01\")")
    ap.add_argument("--cc", default=None, help="C compiler dlc uses for the trainers (dlc --cc), both sides")
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-same-bits"),
                    help="exports, builds, trainers and checkpoints (default build-same-bits)")
    ap.add_argument("--skip-build", action="store_true", help="use the dlc builds already in BUILD_DIR")
    ap.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = ap.parse_args()
    args.models = [m for m in args.models.split(",") if m]
    args.threads = [int(t) for t in args.threads.split(",") if t]
    args.train_flags = args.train_flags.split()
    args.build_dir = os.path.abspath(args.build_dir)
    for m in args.models:
        if not os.path.exists(os.path.join(ROOT, "examples", m + ".dl")) and args.new is None:
            ap.error("--models: no examples/%s.dl" % m)

    failures, notes = [], []
    old = side(args.old, args)
    new = side(args.new, args)
    if old["key"] == new["key"]:
        notes.append("--old and --new are the same commit.")
    work_old, exe_old = compile_models(old, "old", args, failures)
    work_new, exe_new = compile_models(new, "new", args, failures)
    for m in args.models:
        try:
            with open(os.path.join(old["src"], "examples", m + ".dl"), "rb") as f:
                a = f.read()
            with open(os.path.join(new["src"], "examples", m + ".dl"), "rb") as f:
                b = f.read()
            if a != b:
                notes.append("examples/%s.dl differs between the two sides: each compiled its own." % m)
        except OSError:
            pass

    rows = []
    for m in args.models:
        for t in args.threads:
            row = {"model": m, "threads": t, "identical": None}
            if m in exe_old and m in exe_new:
                co = train(exe_old[m], work_old, m, t, args, failures)
                cn = train(exe_new[m], work_new, m, t, args, failures)
                if co and cn:
                    d = compare(co, cn)
                    row.update({"old": co, "new": cn, "identical": d is None,
                                "bytes": os.path.getsize(cn)})
                    if d:
                        row.update(d)
            rows.append(row)

    print()
    print("old: %s" % old["label"])
    print("new: %s" % new["label"])
    print("trainers: --steps %d --seed %d --threads T --save CKPT%s" % (
        args.steps, args.seed, " " + " ".join(args.train_flags) if args.train_flags else ""))
    print()
    print("| model | threads | identical | first differing tensor | its max abs difference | "
          "max abs difference, all tensors | differing tensors |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ident = {True: "yes", False: "**no**", None: "failed"}[r["identical"]]
        print("| %s | %d | %s | %s | %s | %s | %s |" % (
            r["model"], r["threads"], ident, r.get("first", ""),
            "" if r.get("max_abs") is None else "%.6g" % r["max_abs"],
            "" if r.get("max_abs_all") is None else "%.6g" % r["max_abs_all"],
            "" if r.get("differing") is None else "%d of %d" % (r["differing"], r["tensors"])))
    for n in notes:
        print("note: " + n)
    for f in failures:
        print("failed: " + f)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"old": old, "new": new, "args": {k: v for k, v in vars(args).items()},
                       "rows": rows, "notes": notes, "failures": failures}, f, indent=1)
            f.write("\n")
    if failures or any(r["identical"] is None for r in rows):
        sys.exit(2)
    if not all(r["identical"] for r in rows):
        sys.exit(1)
    print("all %d pairs identical" % len(rows))


if __name__ == "__main__":
    main()
