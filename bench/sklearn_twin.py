#!/usr/bin/python3
"""sklearn_twin.py - PyTorch twins of the scikit-learn examples, trained beside dlc.

    /usr/bin/python3 bench/sklearn_twin.py --dlc build/dlc            # all four, 5 seeds each
    /usr/bin/python3 bench/sklearn_twin.py --dlc build/dlc --only iris --seeds 10
    /usr/bin/python3 bench/sklearn_twin.py --dlc build/dlc --epochs 5 --seeds 1 --min-acc 80

For each of examples/iris.dl, wine.dl, breast_cancer.dl and digits.dl this trains the same
model in PyTorch (float32) and with dlc, and prints the mean test accuracy of each over the
seeds.  Both sides use:

  - the CSV that Debian's python3-sklearn ships (iris.csv, wine_data.csv and breast_cancer.csv
    with their line of counts skipped; digits.csv.gz), features then the label;
  - the same train/test split: the examples' `test = split(0.2)`, i.e. a Fisher-Yates
    permutation of the row numbers drawn from PCG32 seeded with 0 on the test-split stream
    (pcg32/split below re-implement runtime/rng.c and dlrt_split_dataset); the first
    round(0.2 n) entries are the test rows, both parts in file order;
  - standardisation (iris, wine, breast cancer) with the training rows' mean and population
    standard deviation (a constant feature only centred); digits: pixels / 16;
  - the same model, He-uniform hidden weights (U(+-sqrt(6 / fan_in)), fan_in = inputs of a
    dense layer, C_in k k of a convolution), Xavier-uniform output weights, zero biases;
  - Adam (betas 0.9, 0.999, eps 1e-8) with the example's learning rate, batch size and epochs;
    a new shuffle every epoch, the last partial batch kept, the mean cross-entropy per batch.

Initial values and shuffles come from each side's own generator (the distributions agree, the
draws do not), so single runs differ; the means over seeds are what is compared.  Before
training, the script checks that both sides see the same data: dlc saves its initial
parameters (--epochs 0), the twin loads them and must find dlc's test loss.

With --min-acc A it exits 1 when a mean test accuracy (either side) is below A percent, and
with --max-gap G when the two means differ by more than G points (the CI's short run uses
--min-acc).
"""
import argparse
import gzip
import math
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    if os.environ.get("DLC_REQUIRE_TORCH"):
        raise
    print("SKIP: %s (run with /usr/bin/python3, or apt-get install python3-torch)" % e)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests"))
import safetensors_raw  # noqa: E402

DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
STREAM_SPLIT_TEST = 0x54455354  # runtime/trainer.c

# Keep in step with the examples' dims, params and train blocks.
CONFIGS = {
    "iris": dict(file="iris.csv", header=True, layers=[4, 16, 3], batch=16, lr=0.01, epochs=100),
    "wine": dict(file="wine_data.csv", header=True, layers=[13, 32, 3], batch=16, lr=0.01,
                 epochs=60),
    "breast_cancer": dict(file="breast_cancer.csv", header=True, layers=[30, 32, 2], batch=32,
                          lr=0.001, epochs=60),
    "digits": dict(file="digits.csv.gz", header=False, cnn=True, batch=32, lr=0.01, epochs=30),
}

M64 = (1 << 64) - 1


class PCG32:
    """runtime/rng.c: dlrt_rng_seed, dlrt_rng_u32, dlrt_rng_below."""

    def __init__(self, seed, stream):
        self.state = 0
        self.inc = ((stream << 1) | 1) & M64
        self.u32()
        self.state = (self.state + seed) & M64
        self.u32()

    def u32(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        xs = ((((old >> 18) ^ old) >> 27)) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((32 - rot) & 31))) & 0xFFFFFFFF

    def below(self, n):
        threshold = ((1 << 32) - n) % n
        while True:
            x = self.u32()
            if x >= threshold:
                return x % n


def split(rows, frac, seed, stream):
    """dlrt_split_dataset: (kept rows, held-out rows), both in file order."""
    perm = list(range(rows))
    r = PCG32(seed, stream)
    for i in range(rows - 1, 0, -1):
        j = r.below(i + 1)
        perm[i], perm[j] = perm[j], perm[i]
    h = int(math.floor(frac * rows + 0.5))
    held = set(perm[:h])
    return [i for i in range(rows) if i not in held], sorted(held)


def load(cfg):
    path = os.path.join(DATA, cfg["file"])
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        a = np.loadtxt(f, delimiter=",", skiprows=1 if cfg["header"] else 0)
    # the dlc loader stores f32 columns
    x = a[:, :-1].astype(np.float32)
    y = a[:, -1].astype(np.int64)
    tr, te = split(len(a), 0.2, 0, STREAM_SPLIT_TEST)
    xtr, xte = x[tr].astype(np.float64), x[te].astype(np.float64)
    if cfg.get("cnn"):
        xtr, xte = xtr / 16, xte / 16   # digits.dl: reshape(x, [B, 1, 8, 8]) / 16
    else:
        mean = xtr.mean(axis=0)
        std = np.sqrt(((xtr - mean) ** 2).mean(axis=0))
        std[~(std > 0)] = 1.0
        xtr, xte = (xtr - mean) / std, (xte - mean) / std
    t = lambda v: torch.tensor(v.astype(np.float32))  # noqa: E731
    return t(xtr), torch.tensor(y[tr]), t(xte), torch.tensor(y[te])


def he_uniform(shape, fan_in):
    a = math.sqrt(6.0 / fan_in)
    return torch.empty(shape).uniform_(-a, a)


def xavier_uniform(shape, fan_in, fan_out):
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape).uniform_(-a, a)


def make_params(cfg):
    """dlc's parameter names and layouts (dense weights [in, out], kernels OIHW)."""
    if cfg.get("cnn"):
        return {
            "K1": he_uniform((8, 1, 3, 3), 9), "c1": torch.zeros(8),
            "K2": he_uniform((16, 8, 3, 3), 72), "c2": torch.zeros(16),
            "W3": xavier_uniform((64, 10), 64, 10), "b3": torch.zeros(10),
        }
    i, h, o = cfg["layers"]
    return {"W1": he_uniform((i, h), i), "b1": torch.zeros(h),
            "W2": xavier_uniform((h, o), h, o), "b2": torch.zeros(o)}


def forward(cfg, p, x):
    if cfg.get("cnn"):
        img = x.reshape(-1, 1, 8, 8)
        h1 = F.max_pool2d(F.relu(F.conv2d(img, p["K1"], p["c1"], padding=1)), 2)
        h2 = F.max_pool2d(F.relu(F.conv2d(h1, p["K2"], p["c2"], padding=1)), 2)
        return h2.flatten(1) @ p["W3"] + p["b3"]
    return F.relu(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def train_torch(cfg, data, seed, epochs):
    xtr, ytr, xte, yte = data
    torch.manual_seed(seed)
    p = make_params(cfg)
    for v in p.values():
        v.requires_grad_(True)
    opt = torch.optim.Adam(p.values(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    n, B = len(xtr), cfg["batch"]
    for _ in range(epochs):
        perm = torch.randperm(n)
        for s in range(0, n, B):
            idx = perm[s:s + B]
            loss = F.cross_entropy(forward(cfg, p, xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        return 100.0 * (forward(cfg, p, xte).argmax(1) == yte).float().mean().item()


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd), p.stdout))
    return p.stdout


def test_line(out):
    m = re.findall(r"^test: loss ([0-9.]+), accuracy ([0-9.]+)%", out, re.M)
    if not m:
        sys.exit("no test line in:\n" + out)
    return float(m[-1][0]), float(m[-1][1])


def same_data_check(cfg, data, exe, tmp):
    """dlc's initial parameters, evaluated by the twin, give dlc's test loss."""
    ck = os.path.join(tmp, "init.safetensors")
    loss_dlc, _ = test_line(run([exe, "--epochs", "0", "--save", ck, "--quiet"]))
    _, tensors = safetensors_raw.read(ck)
    p = {k: torch.tensor(safetensors_raw.values(raw, dt), dtype=torch.float32).reshape(shape)
         for k, (dt, shape, raw) in tensors.items()}
    with torch.no_grad():
        loss_twin = F.cross_entropy(forward(cfg, p, data[2]), data[3]).item()
    if abs(loss_twin - loss_dlc) > 1e-4 * max(1.0, loss_dlc):
        sys.exit("the twin does not see dlc's data: test loss of dlc's initial parameters %.5f "
                 "(dlc) vs %.5f (twin)" % (loss_dlc, loss_twin))
    return loss_dlc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dlc", required=True, help="the dlc compiler")
    ap.add_argument("--only", action="append", choices=sorted(CONFIGS))
    ap.add_argument("--seeds", type=int, default=5, help="seeds 1..N on each side (default 5)")
    ap.add_argument("--epochs", type=int, help="instead of each example's epochs")
    ap.add_argument("--min-acc", type=float, help="fail below this mean test accuracy (percent)")
    ap.add_argument("--max-gap", type=float, help="fail when the means differ by more (points)")
    ap.add_argument("--no-torch", action="store_true", help="dlc only (with the data check)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not os.path.exists(os.path.join(DATA, "iris.csv")):
        print("SKIP: %s not found (apt-get install python3-sklearn)" % DATA)
        sys.exit(77)
    bad = []
    print("%-14s %5s %6s  %10s  %10s  %6s" % ("example", "test", "epochs", "dlc acc %", "torch acc %",
                                               "gap"))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(CONFIGS):
            cfg = CONFIGS[name]
            epochs = args.epochs if args.epochs is not None else cfg["epochs"]
            exe = os.path.join(tmp, name)
            run([args.dlc, os.path.join(ROOT, "examples", name + ".dl"), "-o", exe])
            data = load(cfg)
            same_data_check(cfg, data, exe, tmp)
            seeds = range(1, args.seeds + 1)
            dlc = [test_line(run([exe, "--seed", str(s), "--epochs", str(epochs), "--quiet"]))[1]
                   for s in seeds]
            acc_d = sum(dlc) / len(dlc)
            acc_t = None
            if not args.no_torch:
                tw = [train_torch(cfg, data, s, epochs) for s in seeds]
                acc_t = sum(tw) / len(tw)
            print("%-14s %5d %6d  %10.2f  %10s  %6s" % (
                name, len(data[3]), epochs, acc_d, "-" if acc_t is None else "%.2f" % acc_t,
                "-" if acc_t is None else "%+.2f" % (acc_d - acc_t)), flush=True)
            for side, acc in (("dlc", acc_d), ("torch", acc_t)):
                if acc is not None and args.min_acc is not None and acc < args.min_acc:
                    bad.append("%s: %s mean test accuracy %.2f%% < %g%%" % (name, side, acc,
                                                                          args.min_acc))
            if acc_t is not None and args.max_gap is not None and abs(acc_d - acc_t) > args.max_gap:
                bad.append("%s: dlc %.2f%% vs torch %.2f%%: more than %g points apart" % (
                    name, acc_d, acc_t, args.max_gap))
    for b in bad:
        print("FAIL: " + b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
