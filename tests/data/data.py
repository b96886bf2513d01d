#!/usr/bin/env python3
"""Tests of the data features: validation sets and --early-stop, split(...), the 2-D generators,
and the scikit-learn examples.

usage: data.py TEST --dlc PATH --workdir DIR
Each test prints what it checks and exits 0 (pass), 1 (fail) or 77 (skip).  Only the standard
library is used.  The split and the generators are re-implemented here from their documented
definitions (PCG32 from runtime/rng.c), and the trainer's losses must agree with them.
"""
import argparse
import math
import os
import re
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import safetensors_raw  # noqa: E402
import trainer_harness  # noqa: E402
from trainer_harness import fail, run  # noqa: E402

SKLEARN = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
M64 = (1 << 64) - 1
STREAM_SPLIT_TEST = 0x54455354
STREAM_SPLIT_VALID = 0x56414C4944
STREAM_GEN_TRAIN = 0x47454E5452
STREAM_GEN_TEST = 0x47454E5445

args = None


def build(src, name):
    path = os.path.join(args.workdir, name + ".dl")
    if src.endswith(".dl") and os.path.exists(src):
        path = src
    else:
        with open(path, "w") as f:
            f.write(src)
    exe = os.path.join(args.workdir, name)
    run([args.dlc, path, "-o", exe])
    return exe


def eval_line(out, what):
    m = re.findall(r"^%s: loss ([0-9.eE+-]+)(?:, accuracy ([0-9.]+)%%)?" % what, out, re.M)
    if not m:
        fail("no '%s: loss' line" % what)
    return float(m[-1][0]), (float(m[-1][1]) if m[-1][1] else None)


# ---- runtime/rng.c ----

class PCG32:
    def __init__(self, seed, stream):
        self.state = 0
        self.inc = ((stream << 1) | 1) & M64
        self.u32()
        self.state = (self.state + seed) & M64
        self.u32()

    def u32(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        xs = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((32 - rot) & 31))) & 0xFFFFFFFF

    def below(self, n):
        threshold = ((1 << 32) - n) % n
        while True:
            x = self.u32()
            if x >= threshold:
                return x % n

    def uniform(self):
        hi = self.u32() >> 5
        lo = self.u32() >> 6
        return (hi * 67108864 + lo) / 9007199254740992.0

    def normal(self):
        u1 = 1.0 - self.uniform()
        u2 = self.uniform()
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2 * math.pi * u2)


def step_key(seed, step):
    z = (seed * 0x9E3779B97F4A7C15 + step + 0x632BE59BD9B4E019) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def split(rows, frac, seed, stream):
    """(kept, held out), both in file order: the documented split."""
    perm = list(range(rows))
    r = PCG32(seed, stream)
    for i in range(rows - 1, 0, -1):
        j = r.below(i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    h = int(math.floor(frac * rows + 0.5))
    held = set(perm[:h])
    return [i for i in range(rows) if i not in held], sorted(held)


def generate(kind, n, seed, stream, noise=0.1, factor=0.5, k=8, radius=2.0, std=0.2, turns=1.5):
    """The generators as docs/language.md defines them: [(x, y, class)]."""
    r = PCG32(seed, stream)
    half = n // 2
    pts = []
    for i in range(n):
        if kind == "moons":
            j, m = (i, half) if i < half else (i - half, n - half)
            t = math.pi * j / (m - 1) if m > 1 else 0.0
            x, y = (math.cos(t), math.sin(t)) if i < half else (1 - math.cos(t), 0.5 - math.sin(t))
            x += noise * r.normal()
            y += noise * r.normal()
            c = int(i >= half)
        elif kind == "circles":
            j, m = (i, half) if i < half else (i - half, n - half)
            t = 2 * math.pi * j / m
            s = 1.0 if i < half else factor
            x = s * math.cos(t) + noise * r.normal()
            y = s * math.sin(t) + noise * r.normal()
            c = int(i >= half)
        elif kind == "gaussians":
            c = r.below(k)
            a = 2 * math.pi * c / k
            x = radius * math.cos(a) + std * r.normal()
            y = radius * math.sin(a) + std * r.normal()
        elif kind == "spiral":
            t = math.sqrt(r.uniform()) * turns * 2 * math.pi
            sg = 1.0 if i < half else -1.0
            x = sg * (-t * math.cos(t)) / 3 + noise * r.normal()
            y = sg * (t * math.sin(t)) / 3 + noise * r.normal()
            c = int(i >= half)
        else:  # checkerboard
            x1 = 4 * r.uniform() - 2
            u = r.uniform()
            b = r.below(2)
            f = math.floor(x1)
            x, y, c = 2 * x1, 2 * (u - 2 * b + (f - 2 * math.floor(f / 2))), 0
        pts.append((x, y, c))
    return pts


# ---- tests ----

def t_early_stop():
    """A model that overfits noisy labels: --early-stop stops, keeps the best epoch's parameters
    (the checkpoint evaluates to the best validation loss), and says so."""
    r = PCG32(7, 1)
    with open(os.path.join(args.workdir, "noisy.csv"), "w") as f:
        f.write("x1,x2,x3,x4,y\n")
        for _ in range(120):
            v = [r.normal() for _ in range(4)]
            y = int(v[0] + 0.5 * v[1] > 0)
            if r.uniform() < 0.3:
                y = 1 - y   # label noise to memorise
            f.write(",".join("%.6f" % a for a in v) + ",%d\n" % y)
    exe = build("""dim B = 8
input x : f32[B, 4]
label y : i32[B]
param W1 : [4, 64] = he_uniform
param b1 : [64]
param W2 : [64, 2] = xavier_uniform
param b2 : [2]
loss cross_entropy(relu(x @ W1 + b1) @ W2 + b2, y)
train {
  optimizer = adam(lr = 0.03)
  epochs = 200
  data = csv("noisy.csv", header = 1)
  valid = split(0.25)
}
""", "overfit")
    ck = os.path.join(args.workdir, "best.safetensors")
    out = run([exe, "--early-stop", "4", "--save", ck])
    if "validation set: 30 examples" not in out:
        fail("expected a validation set of 30 rows (25% of 120)")
    losses = [float(v) for v in re.findall(r"^epoch \d+/200: .*valid loss ([0-9.eE+-]+)", out, re.M)]
    if not 5 <= len(losses) < 200:
        fail("expected an early stop within 200 epochs, found %d epochs" % len(losses))
    best = min(range(len(losses)), key=lambda i: losses[i])
    if len(losses) != best + 1 + 4:
        fail("stopped after epoch %d, expected 4 epochs after the best (%d)" % (len(losses), best + 1))
    m = re.search(r"^best epoch (\d+): valid loss ([0-9.eE+-]+); restored its parameters", out, re.M)
    if not m or int(m.group(1)) != best + 1 or float(m.group(2)) != losses[best]:
        fail("expected 'best epoch %d: valid loss %.9g; restored its parameters'" % (best + 1,
                                                                                     losses[best]))
    if not losses[-1] > losses[best]:
        fail("the last epoch should be worse than the best")
    meta, _ = safetensors_raw.read(ck)
    if int(meta.get("epoch", -1)) != best + 1:
        fail("checkpoint says epoch %s, expected the best epoch %d" % (meta.get("epoch"), best + 1))
    ev = run([exe, "--load", ck, "--eval"])
    vl, _ = eval_line(ev, "valid")
    if vl != losses[best]:
        fail("the saved parameters give valid loss %r, expected the best epoch's %r" % (vl, losses[best]))
    print("early stop after epoch %d; best epoch %d (valid loss %r) restored and saved" % (
        len(losses), best + 1, losses[best]))
    # Without a validation set, --early-stop is refused.
    out = run([exe, "--early-stop", "2", "--valid", "noisy.csv", "--epochs", "1"])
    plain = build(open(os.path.join(args.workdir, "overfit.dl")).read().replace(
        "  valid = split(0.25)\n", ""), "novalid")
    out = run([plain, "--early-stop", "2"], expect_rc=1)
    if "--early-stop needs a validation set" not in out:
        fail("expected --early-stop to ask for a validation set")


def t_split():
    """test = split(0.2) and valid = split(0.25, seed = 5) hold out the documented rows: the
    losses of a model that predicts 0 are the mean squares of exactly those targets."""
    rows = 103
    t = [((i * 37) % 101) / 10.0 for i in range(rows)]
    with open(os.path.join(args.workdir, "rows.csv"), "w") as f:
        for i in range(rows):
            f.write("%d,%r\n" % (i, t[i]))
    exe = build("""dim B = 16
input x : f32[B, 1]
label t : f32[B, 1]
param w : [1, 1] = zeros
loss mse(x @ w, t)
train {
  optimizer = sgd(lr = 0)
  data = csv("rows.csv")
  test = split(0.2)
  valid = split(0.25, seed = 5)
}
""", "rows")
    out = run([exe, "--epochs", "1"])
    kept, test = split(rows, 0.2, 0, STREAM_SPLIT_TEST)
    kept2, valid = split(len(kept), 0.25, 5, STREAM_SPLIT_VALID)
    valid = [kept[i] for i in valid]
    train = [kept[i] for i in kept2]
    if "%d training images" % len(train) not in out:
        fail("expected %d training rows" % len(train))
    for what, idx in (("test", test), ("valid", valid)):
        want = sum(t[i] ** 2 for i in idx) / len(idx)
        got, _ = eval_line(out if what == "test" else run([exe, "--eval"]), what)
        if abs(got - want) > 1e-5 * max(1, want):
            fail("%s loss %r, expected %r (the documented rows %s...)" % (what, got, want, idx[:5]))
        print("%s: rows %s... as documented (loss %r)" % (what, idx[:6], got))
    # A split that leaves nothing to train on is an error at run time.
    small = os.path.join(args.workdir, "two.csv")
    with open(small, "w") as f:
        f.write("0,1\n1,2\n")
    out = run([exe, "--train", small, "--epochs", "1"], expect_rc=1)
    if "expected a fraction that leaves at least one row on each side" not in out:
        fail("expected an error for a split of 2 rows")


GEN_MODELS = {
    "moons": ("moons(n = 256, noise = 0.1)", {"noise": 0.1}),
    "circles": ("circles(n = 256, noise = 0.05, factor = 0.3)", {"noise": 0.05, "factor": 0.3}),
    "gaussians": ("gaussians(n = 256, k = 5, radius = 3, std = 0.5)",
                  {"k": 5, "radius": 3.0, "std": 0.5}),
    "spiral": ("spiral(n = 256, turns = 2, noise = 0.2)", {"turns": 2.0, "noise": 0.2}),
    "checkerboard": ("checkerboard(n = 256)", {}),
}


def t_generators():
    """Each generator's points and classes, epoch by epoch, from the documented formulas: with
    lr 0 the loss mean((x - a)^2) + mse(x @ w, t) at a = w = 0 is mean(x^2 + y^2) / 2 + mean(c^2)
    over the epoch's draw; a second epoch draws anew, the test set with its own stream."""
    for kind, (call, kw) in GEN_MODELS.items():
        lab = kind != "checkerboard"
        src = "dim B = 256\ninput x : f32[B, 2]\n%sparam a : [2]\n%s" % (
            "label t : f32[B, 1]\nparam w : [2, 1]\n" if lab else "",
            "loss mean((x - a) ^ 2)%s\n" % (" + mse(x @ w, t)" if lab else ""))
        src += "train {\n  optimizer = sgd(lr = 0)\n  data = %s\n  test = %s\n}\n" % (call, call)
        exe = build(src, kind)
        for seed in (1, 9):
            out = run([exe, "--epochs", "2", "--seed", str(seed)])
            got = [float(v) for v in re.findall(r"^epoch \d/2: train loss ([0-9.]+)", out, re.M)]
            want = []
            for ep in range(2):
                p = generate(kind, 256, step_key(seed, ep), STREAM_GEN_TRAIN, **kw)
                want.append(sum(x * x + y * y for x, y, _ in p) / 512 +
                            (sum(c * c for _, _, c in p) / 256 if lab else 0))
            p = generate(kind, 256, step_key(seed, 0), STREAM_GEN_TEST, **kw)
            want_test = sum(x * x + y * y for x, y, _ in p) / 512 + (
                sum(c * c for _, _, c in p) / 256 if lab else 0)
            got_test, _ = eval_line(out, "test")
            if len(got) != 2 or any(abs(g - w) > 2e-5 * max(1, w) for g, w in zip(got, want)):
                fail("%s seed %d: epoch losses %s, expected %s" % (kind, seed, got, want))
            if abs(got_test - want_test) > 2e-5 * max(1, want_test):
                fail("%s seed %d: test loss %r, expected %r" % (kind, seed, got_test, want_test))
            if got[0] == got[1]:
                fail("%s: the second epoch should draw new points" % kind)
            print("%s seed %d: epochs %s, test %r as defined" % (kind, seed, got, got_test))
    # A model that does not fit a generator is told so.
    exe = build("dim B = 8\ninput x : f32[B, 3]\nparam a : [3]\nloss mean((x - a) ^ 2)\n"
                "train {\n  data = moons()\n}\n", "three")
    out = run([exe, "--epochs", "1"], expect_rc=1)
    if "expected a model with one input of 2 values per example" not in out:
        fail("expected an error for a 3-wide input")
    exe = build("dim B = 8\ninput x : f32[B, 2]\nlabel y : i32[B]\nparam W : [2, 2]\n"
                "loss cross_entropy(x @ W, y)\ntrain {\n  data = checkerboard()\n}\n", "cblabel")
    out = run([exe, "--epochs", "1"], expect_rc=1)
    if "checkerboard draws points without classes" not in out:
        fail("expected an error for a label on checkerboard")


def t_moons():
    """examples/moons.dl, briefly: a trained classifier separates the moons; an untrained one
    does not."""
    exe = build(os.path.join(ROOT, "examples", "moons.dl"), "moons")
    _, acc0 = eval_line(run([exe, "--epochs", "0"]), "test")
    _, acc = eval_line(run([exe, "--epochs", "5"]), "test")
    if not acc >= 97.0 or not acc0 < 97.0:
        fail("moons: test accuracy %.2f%% after 5 epochs (untrained %.2f%%), expected >= 97%%" % (
            acc, acc0))
    print("moons: %.2f%% untrained, %.2f%% after 5 epochs" % (acc0, acc))


SHORT = {"iris": (20, 85.0), "wine": (10, 85.0), "breast_cancer": (5, 90.0), "digits": (3, 85.0),
         "digits_newton": (3, 80.0)}


def t_sklearn_examples():
    """Each scikit-learn example trained briefly beats a bound that its untrained model
    misses.  bench/sklearn_twin.py is the full comparison with PyTorch (data.sklearn_twin)."""
    if not os.path.exists(os.path.join(SKLEARN, "iris.csv")):
        print("SKIP: %s not installed (apt-get install python3-sklearn)" % SKLEARN)
        sys.exit(77)
    for name, (epochs, bound) in SHORT.items():
        exe = build(os.path.join(ROOT, "examples", name + ".dl"), name)
        _, acc0 = eval_line(run([exe, "--epochs", "0", "--quiet"]), "test")
        _, acc = eval_line(run([exe, "--epochs", str(epochs), "--quiet"]), "test")
        if not acc >= bound or not acc0 < bound:
            fail("%s: test accuracy %.2f%% after %d epochs (untrained %.2f%%), expected >= %g%%" % (
                name, acc, epochs, acc0, bound))
        print("%s: %.2f%% untrained, %.2f%% after %d epochs (bound %g%%)" % (name, acc0, acc,
                                                                          epochs, bound))


TESTS = {"early_stop": t_early_stop, "split": t_split, "generators": t_generators,
         "moons": t_moons, "sklearn_examples": t_sklearn_examples}


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    args.dlc = os.path.abspath(args.dlc)
    trainer_harness.configure(args.dlc, args.workdir, 600)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    TESTS[args.test]()
    print("PASS")


if __name__ == "__main__":
    main()
