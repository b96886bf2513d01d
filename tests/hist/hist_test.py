#!/usr/bin/env python3
"""hist(...) against its documented definition, and the histogram transformer training.

  draws  the tokens and counts that the trainer draws (dumped with --dump-data) equal
         bench/hist_data.py's, set by set and seed by seed, in the dtype of the label; the
         training set is drawn anew each epoch as documented
  train  examples/hist_transformer.dl, trained for a few epochs, counts the tokens of held-out
         sequences: token accuracy at least --min-acc (the trainer's per-position accuracy,
         checked against the counts of --predict's output on the test sequences)

usage: hist_test.py --dlc PATH --workdir DIR draws|train [--epochs N] [--min-acc PCT]
Standard library only."""
import argparse
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import hist_data as hd  # noqa: E402
import safetensors_raw  # noqa: E402
import trainer_harness  # noqa: E402
from trainer_harness import build, fail, run  # noqa: E402

args = None




def decode(tensors, prefix, T, label_dtype):
    dt, shape, raw = tensors[prefix + ".x"]
    n = shape[0]
    if dt != "I32" or shape != (n, T):
        fail("%s.x: %s %s, expected I32 (%d, %d)" % (prefix, dt, shape, n, T))
    dy, shy, rawy = tensors[prefix + ".y"]
    if dy != label_dtype or shy != (n, T):
        fail("%s.y: %s %s, expected %s (%d, %d)" % (prefix, dy, shy, label_dtype, n, T))
    x = safetensors_raw.values(raw, dt)
    y = safetensors_raw.values(rawy, dy)
    return [(list(x[i * T:(i + 1) * T]), [int(v) for v in y[i * T:(i + 1) * T]]) for i in range(n)]


def compare(got, want, what, vocab):
    if len(got) != len(want):
        fail("%s: %d sequences, expected %d" % (what, len(got), len(want)))
    for i, (g, w) in enumerate(zip(got, want)):
        if g != (list(w[0]), list(w[1])):
            fail("%s: sequence %d is %s, expected %s" % (what, i, g, w))
    seen = set(k for s, _ in got for k in s)
    if not all(0 <= k < vocab for k in seen):
        fail("%s: tokens %s, expected 0..%d" % (what, sorted(seen), vocab - 1))
    print("%s: %d sequences as defined" % (what, len(got)))


MODEL = """dim B = 32
dim T = {T}
input x : i32[B, T]
label y : {ydt}[B, T]
param E : [{V}, {C}] = zeros
{loss}
train {{
  optimizer = sgd(lr = 0)
  data = hist(n = 256{train})
  test = hist(n = 128{test})
  valid = hist(n = 64{valid})
}}
"""

CASES = [
    # name, T, vocab of the model, label dtype, the three sets' arguments
    ("default", 10, 10, "i32", {}, {"len": 10}, {"vocab": 10}),
    ("v26", 16, 26, "i32", {"vocab": 26}, {"vocab": 26, "len": 16}, {"vocab": 3}),
    ("float", 20, 8, "f32", {"vocab": 8}, {"vocab": 1}, {"vocab": 5}),
]


def dl_args(kw):
    return "".join(", %s = %s" % (k, v) for k, v in kw.items())


def t_draws():
    for name, T, V, ydt, tr, te, va in CASES:
        if ydt == "i32":
            loss = "loss cross_entropy(embedding(x, E), y)"
            C = T + 1
        else:
            loss = "loss mean((y - sum(embedding(x, E), axis = 2)) ^ 2)"
            C = 1
        exe = build(MODEL.format(T=T, V=V, C=C, ydt=ydt, loss=loss, train=dl_args(tr),
                                 test=dl_args(te), valid=dl_args(va)), name)
        ldt = ydt.upper()

        def kw(d):
            return {"vocab": d.get("vocab", 10), "len": T}
        for seed in (1, 7):
            path = os.path.join(args.workdir, "%s_%d.safetensors" % (name, seed))
            run([exe, "--seed", str(seed), "--dump-data", path])
            _, t = safetensors_raw.read(path)
            compare(decode(t, "train", T, ldt), hd.train_set(seed, 0, n=256, **kw(tr)),
                    "%s seed %d train (epoch 0)" % (name, seed), kw(tr)["vocab"])
            compare(decode(t, "test", T, ldt), hd.test_set(seed, n=128, **kw(te)),
                    "%s seed %d test" % (name, seed), kw(te)["vocab"])
            compare(decode(t, "valid", T, ldt), hd.valid_set(seed, n=64, **kw(va)),
                    "%s seed %d valid" % (name, seed), kw(va)["vocab"])
        if ydt == "f32":
            # Epochs draw anew: with lr 0 (E = 0) an epoch's loss is the mean squared count of
            # its sequences.
            out = run([exe, "--seed", "3", "--epochs", "3"])
            got = [float(v) for v in re.findall(r"^epoch \d/3: train loss ([0-9.]+)", out, re.M)]
            want = []
            for ep in range(3):
                st = hd.train_set(3, ep, n=256, **kw(tr))
                want.append(sum(c * c for _, cs in st for c in cs) / (256.0 * T))
            if len(got) != 3 or len(set(want)) != 3 or any(abs(g - w) > 1e-4 * w for g, w in zip(got, want)):
                fail("%s: epoch losses %s, expected %s" % (name, got, want))
            print("%s: epoch losses %s as defined" % (name, got))


def npy_read(path):
    """A little-endian .npy array as (shape, flat values)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        fail("%s is not a .npy file" % path)
    hl = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hl].decode("latin1")
    descr = re.search(r"'descr': *'([^']+)'", header).group(1)
    shape = tuple(int(v) for v in re.search(r"'shape': *\(([^)]*)\)", header).group(1).split(",") if v.strip())
    fmt = {"<f4": "f", "<i4": "i", "<f8": "d", "<i8": "q"}[descr]
    body = data[10 + hl:]
    return shape, struct.unpack("<%d%s" % (len(body) // struct.calcsize(fmt), fmt), body)


def npy_write_i32(path, rows):
    T = len(rows[0])
    header = "{'descr': '<i4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), T)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack("<%di" % (len(rows) * T), *[k for r in rows for k in r]))


def t_train():
    exe = os.path.join(args.workdir, "hist_transformer")
    run([args.dlc, os.path.join(ROOT, "examples", "hist_transformer.dl"), "-o", exe])
    ck = os.path.join(args.workdir, "hist.safetensors")
    out = run([exe, "--seed", "1", "--epochs", str(args.epochs), "--threads", "1", "--progress", "never",
               "--save", ck])
    m = re.findall(r"^test: loss [0-9.eE+-]+, accuracy ([0-9.]+)% \((\d+) positions of (\d+) images\)",
                   out, re.M)
    if not m:
        fail("no per-position test accuracy in the output")
    acc, npos, nseq = float(m[-1][0]), int(m[-1][1]), int(m[-1][2])
    # the same figure from --predict's counts on the test set of that seed
    T = npos // nseq
    test = hd.test_set(1, n=nseq, vocab=10, len=T)
    xin = os.path.join(args.workdir, "test_x.npy")
    npy_write_i32(xin, [s for s, _ in test])
    pred = os.path.join(args.workdir, "pred.npy")
    run([exe, "--load", ck, "--predict", xin, "--predict-out", pred])
    shape, maps = npy_read(pred)
    if shape != (nseq, 2, T, T):
        fail("maps: shape %s, expected (%d, 2, %d, %d)" % (shape, nseq, T, T))
    for i in range(0, nseq * 2 * T, 97):
        row = maps[i * T:(i + 1) * T]
        if abs(sum(row) - 1) > 1e-4 or min(row) < 0:
            fail("maps: row %d is not a distribution: %s" % (i, row))
    shape, counts = npy_read(os.path.join(args.workdir, "pred.counts.npy"))
    if shape != (nseq, T):
        fail("counts: shape %s, expected (%d, %d)" % (shape, nseq, T))
    right = sum(1 for i, (_, cs) in enumerate(test) for t in range(T) if counts[i * T + t] == cs[t])
    pacc = 100.0 * right / npos
    if abs(pacc - acc) > 0.006:
        fail("--predict's counts are right at %.3f%% of the positions, the trainer says %.2f%%" % (pacc, acc))
    print("test accuracy %.2f%% after %d epochs (--predict: %.3f%%), expected >= %g%%" % (
        acc, args.epochs, pacc, args.min_acc))
    if acc < args.min_acc:
        fail("test accuracy %.2f%% < %g%%" % (acc, args.min_acc))


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("what", choices=["draws", "train"])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--min-acc", type=float, default=95.0)
    args = ap.parse_args()
    trainer_harness.configure(args.dlc, args.workdir, timeout=300)
    os.makedirs(args.workdir, exist_ok=True)
    if args.what == "draws":
        t_draws()
    else:
        t_train()
    print("PASS")


if __name__ == "__main__":
    main()
