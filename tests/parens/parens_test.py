#!/usr/bin/env python3
"""parens(...) against its documented definition: the strings, masks and labels that the
trainer draws (dumped with --dump-data) equal bench/parens_data.py's, set by set and seed by
seed, and the training set is drawn anew each epoch as documented; examples/parens_counts.dl
learns what symbol counts can tell.

usage: parens_test.py --dlc PATH --workdir DIR     (exit 0 pass, 1 fail)
Standard library only."""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import parens_data as pd  # noqa: E402
import safetensors_raw  # noqa: E402
import trainer_harness  # noqa: E402
from trainer_harness import build, fail, run  # noqa: E402

args = None




def decode(tensors, prefix, L, V, with_mask, label_dtype):
    """[(symbols, label)] back from the dumped one-hot rows, checking that they are one-hot
    on a prefix, zero after it, and that the mask marks that prefix."""
    dt, shape, raw = tensors[prefix + ".x"]
    n = shape[0]
    if dt != "F32" or shape != (n, L, V):
        fail("%s.x: %s %s, expected F32 (%d, %d, %d)" % (prefix, dt, shape, n, L, V))
    x = safetensors_raw.values(raw, dt)
    dy, shy, rawy = tensors[prefix + ".y"]
    if dy != label_dtype or shy != (n,):
        fail("%s.y: %s %s, expected %s (%d,)" % (prefix, dy, shy, label_dtype, n))
    y = safetensors_raw.values(rawy, dy)
    m = None
    if with_mask:
        dm, shm, rawm = tensors[prefix + ".m"]
        if dm != "F32" or shm != (n, L):
            fail("%s.m: %s %s" % (prefix, dm, shm))
        m = safetensors_raw.values(rawm, dm)
    out = []
    for i in range(n):
        s, ended = [], False
        for t in range(L):
            row = x[(i * L + t) * V:(i * L + t + 1) * V]
            ones = [k for k, v in enumerate(row) if v == 1.0]
            if sum(row) == 0 and not [v for v in row if v != 0]:
                ended = True
            elif len(ones) == 1 and sum(row) == 1.0 and not ended:
                s.append(ones[0])
            else:
                fail("%s row %d position %d: not one-hot on a prefix: %s" % (prefix, i, t, row))
            if m is not None and m[i * L + t] != (0.0 if ended else 1.0):
                fail("%s row %d: mask %s at position %d" % (prefix, i, m[i * L + t], t))
        out.append((s, int(y[i])))
    return out


def compare(got, want, what):
    if len(got) != len(want):
        fail("%s: %d strings, expected %d" % (what, len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        if tuple(g) != tuple(w):
            fail("%s: string %d is %s, expected %s" % (what, i, g, w))
    nneg = sum(1 for _, lab in got if lab == 0)
    bad = [s for s, lab in got if pd.well_formed(s) != (lab == 1)]
    if bad:
        fail("%s: %d labels disagree with the strings, e.g. %s" % (what, len(bad), bad[0]))
    print("%s: %d strings (%d not well-formed) as defined" % (what, len(got), nneg))


MODEL = """dim B = 64
dim L = {L}
input x : f32[B, L, {V}]
{mask}label y : {ydt}[B]
param a : [1]
param W : [{V}, 2]
loss mean(({mvar} - a) ^ 2) + {xent}
train {{
  optimizer = sgd(lr = 0)
  data = parens(n = 256{train})
  test = parens(n = 128{test})
  valid = parens(n = 64{valid})
}}
"""

CASES = [
    # name, L, pairs, with mask, label dtype, the three sets' arguments (a python dict each)
    ("default", 20, 5, True, "i32", {}, {"len": 20}, {"len": 20, "negatives": 0}),
    ("pairs2", 24, 2, True, "f32", {"pairs": 2, "min_len": 2, "max_len": 24, "negatives": 0.25},
     {"pairs": 2, "len": 24, "negatives": 1}, {"pairs": 2, "len": 2}),
    ("random", 20, 5, True, "i32", {"near_miss": 0}, {"len": 20, "near_miss": 0, "negatives": 0.75},
     {"len": 6}),
    ("pairs1", 12, 1, False, "i32", {"pairs": 1, "min_len": 6, "max_len": 12},
     {"pairs": 1, "len": 12}, {"pairs": 1, "len": 8, "negatives": 1}),
]


def dl_args(kw):
    return "".join(", %s = %s" % (k, v) for k, v in kw.items())


def t_draws():
    for name, L, P, with_mask, ydt, tr, te, va in CASES:
        V = 2 * P
        xent = ("cross_entropy(sum(x, axis = 1) @ W, y)" if ydt == "i32"
                else "mean((sum(sum(x, axis = 1) @ W, axis = 1) - y) ^ 2)")
        src = MODEL.format(L=L, V=V, mask="input m : f32[B, L]\n" if with_mask else "", ydt=ydt,
                           mvar="m" if with_mask else "sum(x, axis = 2)", xent=xent,
                           train=dl_args(tr), test=dl_args(te), valid=dl_args(va))
        exe = build(src, name)
        for seed in (1, 7):
            path = os.path.join(args.workdir, "%s_%d.safetensors" % (name, seed))
            run([exe, "--seed", str(seed), "--dump-data", path])
            _, t = safetensors_raw.read(path)
            ldt = "I32" if ydt == "i32" else "F32"
            compare(decode(t, "train", L, V, with_mask, ldt), pd.train_set(seed, 0, n=256, **tr),
                    "%s seed %d train (epoch 0)" % (name, seed))
            compare(decode(t, "test", L, V, with_mask, ldt), pd.test_set(seed, n=128, **te),
                    "%s seed %d test" % (name, seed))
            compare(decode(t, "valid", L, V, with_mask, ldt), pd.valid_set(seed, n=64, **va),
                    "%s seed %d valid" % (name, seed))
        if name == "default":
            t_batches(exe, L)
            out = run([exe, "--dump-data", "d.safetensors", "--eval"], expect_rc=2)
            if "--dump-data goes alone" not in out:
                fail("expected --dump-data with --eval to be refused")
        # Epochs draw anew: with lr 0 an epoch's loss is mean(m) over its strings (a = 0),
        # plus log 2 for the cross-entropy at W = 0 (the f32 label's mse: mean(y^2)).
        out = run([exe, "--seed", "3", "--epochs", "3"])
        got = [float(v) for v in re.findall(r"^epoch \d/3: train loss ([0-9.]+)", out, re.M)]
        want = []
        for ep in range(3):
            st = pd.train_set(3, ep, n=256, **tr)
            w = sum(len(s) for s, _ in st) / (256.0 * L)
            w += 0.6931471805599453 if ydt == "i32" else sum(lab for _, lab in st) / 256.0
            want.append(w)
        if len(got) != 3 or any(abs(g - w) > 2e-5 for g, w in zip(got, want)):
            fail("%s: epoch losses %s, expected %s" % (name, got, want))
        print("%s: epoch losses %s as defined" % (name, got))


def t_batches(exe, L):
    """The batches are parens_data.batches': with lr 0, the loss of each step (--log-every 1) is
    log 2 + mean(m) over the rows of that batch of that epoch's strings."""
    log = os.path.join(args.workdir, "steps.csv")
    run([exe, "--seed", "5", "--epochs", "3", "--log", log, "--log-every", "1", "--quiet"])
    with open(log) as f:
        rows = [r.split(",") for r in f.read().split("\n")[1:] if r]
    got = [float(r[2]) for r in rows if r[3] != ""]
    sets = [pd.train_set(5, ep, n=256) for ep in range(3)]
    want = [0.6931471805599453 + sum(len(sets[ep][i][0]) for i in idx) / (len(idx) * float(L))
            for ep, idx in pd.batches(5, 256, 64, 3)]
    if len(got) != len(want) or any(abs(g - w) > 1e-6 for g, w in zip(got, want)):
        fail("step losses %s, expected %s (the batches of parens_data.batches)" % (got, want))
    print("%d steps: each batch's rows as parens_data.batches has them" % len(got))


def t_uniform():
    """The shapes are uniform over the well-formed strings: all 14 Dyck words of length 8
    come out about equally often (and the kinds, pairs = 2, too)."""
    r = pd.PCG32(5, 1)
    counts = {}
    N = 28000
    for _ in range(N):
        s = pd.draw_string(r, 2, 8, 8, False)
        if not pd.well_formed(s):
            fail("a positive that is not well-formed: %s" % s)
        key = tuple(c % 2 for c in s)
        counts[key] = counts.get(key, 0) + 1
    if len(counts) != 14 or min(counts.values()) < 0.85 * N / 14 or max(counts.values()) > 1.15 * N / 14:
        fail("shapes of length 8: %d of 14, counts %s" % (len(counts), sorted(counts.values())))
    print("14 shapes of length 8, counts %d..%d of %d" % (min(counts.values()), max(counts.values()), N))


def t_counts():
    """examples/parens_counts.dl end to end: an MLP on the symbol counts, trained 10 epochs,
    reaches the best accuracy that counts allow on the near-miss test set (every well-formed
    string, and the negatives whose counts of each kind do not balance, computed here from the
    Python draws of that set), within a point, and accepts the well-formed validation set."""
    exe = os.path.join(args.workdir, "parens_counts")
    run([args.dlc, os.path.join(ROOT, "examples", "parens_counts.dl"), "-o", exe])
    for seed in (1, 2):
        out = run([exe, "--seed", str(seed), "--progress", "never"])
        m = re.findall(r"^test: loss [0-9.]+, accuracy ([0-9.]+)%", out, re.M)
        v = re.findall(r"^epoch 10/10: .*valid loss [0-9.]+ accuracy ([0-9.]+)%", out, re.M)
        st = pd.test_set(seed, n=2000, len=20)

        def balanced(s):
            c = [0] * 5
            for k in s:
                c[k // 2] += 1 if k % 2 == 0 else -1
            return not any(c)
        best = 100.0 * sum(1 for s, lab in st if lab == 1 or not balanced(s)) / len(st)
        if not m or abs(float(m[-1]) - best) > 1.0:
            fail("seed %d: test accuracy %s%%, expected %.2f%% (what the counts can tell) +- 1" % (
                seed, m[-1] if m else "?", best))
        if not v or float(v[-1]) < 99.5:
            fail("seed %d: last valid accuracy %s%% on well-formed strings, expected >= 99.5%%" % (
                seed, v[-1] if v else "?"))
        print("seed %d: test accuracy %s%%, the counts allow %.2f%%" % (seed, m[-1], best))


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    trainer_harness.configure(args.dlc, args.workdir, timeout=300)
    os.makedirs(args.workdir, exist_ok=True)
    t_uniform()
    t_draws()
    t_counts()
    print("PASS")


if __name__ == "__main__":
    main()
