#!/usr/bin/python3
"""sklearn_twin.py - PyTorch twins of the scikit-learn examples, trained beside dlc.

    /usr/bin/python3 bench/sklearn_twin.py --dlc build/dlc            # all five, 5 seeds each
    /usr/bin/python3 bench/sklearn_twin.py --dlc build/dlc --only iris --seeds 10
    /usr/bin/python3 bench/sklearn_twin.py --dlc build/dlc --epochs 5 --seeds 1 --min-acc 80
    /usr/bin/python3 bench/sklearn_twin.py --dlc build/dlc --only digits_newton --jsonl runs.jsonl

For each of examples/iris.dl, wine.dl, breast_cancer.dl, digits.dl and digits_newton.dl this
trains the same model in PyTorch (float32; digits_newton float64, as the example) and with dlc
(one thread on each side), and prints the mean test accuracy of each over the seeds and the mean
seconds of one run (dlc: the trainer's process; PyTorch: the training and the test, in this
process).  Both sides use:

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
    a new shuffle every epoch, the last partial batch kept, the mean cross-entropy per batch;
  - digits_newton: instead of Adam, Hessian-free Newton (`newton_cg(damping = 3, cg_iters =
    10)`, lr 1), newton_cg_step below following runtime/newton.c step for step, the
    Hessian-vector products from torch.autograd.grad of the gradient (create_graph=True);
    batch 256, 10 epochs: 6 steps per epoch, the last of 158 rows.

Initial values and shuffles come from each side's own generator (the distributions agree, the
draws do not), so single runs differ; the means over seeds are what is compared.  Before
training, the script checks that both sides see the same data: dlc saves its initial
parameters (--epochs 0), the twin loads them and must find dlc's test loss.  For digits_newton
both sides then train one epoch from those parameters with the training rows in file order
(dlc's --no-shuffle): the loss before every step and the parameters after the epoch must agree
within 1e-8 (relative), which holds the twin's Newton-CG to dlc's (they agree to about 1e-13).

With --min-acc A it exits 1 when a mean test accuracy (either side) is below A percent, and
with --max-gap G when the two means differ by more than G points (the CI's short run of
digits_newton, data.sklearn_twin_newton, uses --min-acc).  --jsonl PATH appends a line per run.
"""
import argparse
import gzip
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time

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
    "digits_newton": dict(file="digits.csv.gz", header=False, cnn="small", f64=True, batch=256,
                          lr=1.0, epochs=10, newton_cg=dict(damping=3.0, cg_iters=10)),
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
    t = lambda v: torch.tensor(v, dtype=dtype(cfg))  # noqa: E731
    return t(xtr), torch.tensor(y[tr]), t(xte), torch.tensor(y[te])


def dtype(cfg):
    return torch.float64 if cfg.get("f64") else torch.float32


def he_uniform(shape, fan_in, dt):
    a = math.sqrt(6.0 / fan_in)
    return torch.empty(shape, dtype=dt).uniform_(-a, a)


def xavier_uniform(shape, fan_in, fan_out, dt):
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return torch.empty(shape, dtype=dt).uniform_(-a, a)


def make_params(cfg):
    """dlc's parameter names and layouts (dense weights [in, out], kernels OIHW)."""
    dt = dtype(cfg)
    if cfg.get("cnn") == "small":
        return {
            "K1": he_uniform((4, 1, 3, 3), 9, dt), "c1": torch.zeros(4, dtype=dt),
            "W2": xavier_uniform((64, 10), 64, 10, dt), "b2": torch.zeros(10, dtype=dt),
        }
    if cfg.get("cnn"):
        return {
            "K1": he_uniform((8, 1, 3, 3), 9, dt), "c1": torch.zeros(8, dtype=dt),
            "K2": he_uniform((16, 8, 3, 3), 72, dt), "c2": torch.zeros(16, dtype=dt),
            "W3": xavier_uniform((64, 10), 64, 10, dt), "b3": torch.zeros(10, dtype=dt),
        }
    i, h, o = cfg["layers"]
    return {"W1": he_uniform((i, h), i, dt), "b1": torch.zeros(h, dtype=dt),
            "W2": xavier_uniform((h, o), h, o, dt), "b2": torch.zeros(o, dtype=dt)}


def forward(cfg, p, x):
    if cfg.get("cnn") == "small":   # digits_newton.dl
        img = x.reshape(-1, 1, 8, 8)
        h1 = F.max_pool2d(F.relu(F.conv2d(img, p["K1"], p["c1"], padding=1)), 2)
        return h1.flatten(1) @ p["W2"] + p["b2"]
    if cfg.get("cnn"):
        img = x.reshape(-1, 1, 8, 8)
        h1 = F.max_pool2d(F.relu(F.conv2d(img, p["K1"], p["c1"], padding=1)), 2)
        h2 = F.max_pool2d(F.relu(F.conv2d(h1, p["K2"], p["c2"], padding=1)), 2)
        return h2.flatten(1) @ p["W3"] + p["b3"]
    return F.relu(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"]


def newton_cg_step(p, loss_fn, lr, damping, cg_iters):
    """One step of runtime/newton.c's dlrt_second_order_step, newton_cg: conjugate gradient on
    (H + damping I) d = g from d = 0 (r = p = g), H the exact Hessian of the batch's loss (its
    products with a vector from differentiating the gradient again), at most cg_iters
    iterations, stopped when r.r <= 1e-20 g.g or at a direction of curvature
    p.(H + damping I)p <= 0 (d = g if that is the first); then w -= lr d.
    Returns the loss (before the step) and |g|, as dlc's `step k:` lines print them."""
    params = list(p.values())
    loss = loss_fn()
    grads = torch.autograd.grad(loss, params, create_graph=True)
    gvec = torch.cat([g.reshape(-1) for g in grads])
    g = gvec.detach()

    def hv(v):
        h = torch.autograd.grad(gvec, params, grad_outputs=v, retain_graph=True, allow_unused=True)
        return torch.cat([torch.zeros_like(w).reshape(-1) if x is None else x.reshape(-1)
                          for w, x in zip(params, h)])

    gg = torch.dot(g, g).item()
    d, r, pd, rr = torch.zeros_like(g), g.clone(), g.clone(), gg
    it = 0
    while it < (cg_iters if cg_iters > 0 else 50) and rr > 1e-20 * gg:
        q = hv(pd) + damping * pd
        pq = torch.dot(pd, q).item()
        if not pq > 0:
            if it == 0:
                d = g.clone()   # fall back to the gradient
            break
        alpha = rr / pq
        d += alpha * pd
        r -= alpha * q
        rr2 = torch.dot(r, r).item()
        pd = r + rr2 / rr * pd
        rr = rr2
        it += 1
    with torch.no_grad():
        k = 0
        for w in params:
            w -= lr * d[k:k + w.numel()].reshape(w.shape)
            k += w.numel()
    return loss.item(), math.sqrt(gg)


def train_epochs(cfg, p, data, epochs, order):
    """Train p in place; order() gives each epoch's row order.  Returns the second-order steps'
    (loss, |g|)."""
    xtr, ytr = data[0], data[1]
    for v in p.values():
        v.requires_grad_(True)
    ncg = cfg.get("newton_cg")
    opt = None if ncg else torch.optim.Adam(p.values(), lr=cfg["lr"], betas=(0.9, 0.999), eps=1e-8)
    n, B = len(xtr), cfg["batch"]
    steps = []
    for _ in range(epochs):
        perm = order(n)
        for s in range(0, n, B):
            idx = perm[s:s + B]
            loss_fn = lambda: F.cross_entropy(forward(cfg, p, xtr[idx]), ytr[idx])  # noqa: E731
            if ncg:
                steps.append(newton_cg_step(p, loss_fn, cfg["lr"], ncg["damping"], ncg["cg_iters"]))
                continue
            loss = loss_fn()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return steps


def accuracy(cfg, p, data):
    with torch.no_grad():
        return 100.0 * (forward(cfg, p, data[2]).argmax(1) == data[3]).float().mean().item()


def train_torch(cfg, data, seed, epochs):
    torch.manual_seed(seed)
    p = make_params(cfg)
    train_epochs(cfg, p, data, epochs, torch.randperm)
    return accuracy(cfg, p, data)


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


def read_params(cfg, path):
    _, tensors = safetensors_raw.read(path)
    return {k: torch.tensor(safetensors_raw.values(raw, dt), dtype=dtype(cfg)).reshape(shape)
            for k, (dt, shape, raw) in tensors.items()}


def same_data_check(cfg, data, exe, tmp):
    """dlc's initial parameters, evaluated by the twin, give dlc's test loss.  Returns them."""
    ck = os.path.join(tmp, "init.safetensors")
    loss_dlc, _ = test_line(run([exe, "--epochs", "0", "--save", ck, "--quiet"]))
    p = read_params(cfg, ck)
    with torch.no_grad():
        loss_twin = F.cross_entropy(forward(cfg, p, data[2]), data[3]).item()
    if abs(loss_twin - loss_dlc) > 1e-4 * max(1.0, loss_dlc):
        sys.exit("the twin does not see dlc's data: test loss of dlc's initial parameters %.5f "
                 "(dlc) vs %.5f (twin)" % (loss_dlc, loss_twin))
    return p


def same_steps_check(name, cfg, data, exe, tmp, p0):
    """Second-order examples: from dlc's initial parameters and the training rows in file order
    (dlc's --no-shuffle), one epoch on each side gives the same loss before every step and the
    same parameters after it (f64: within 1e-8 relative)."""
    ck = os.path.join(tmp, "epoch1.safetensors")
    out = run([exe, "--epochs", "1", "--no-shuffle", "--threads", "1", "--progress", "never",
               "--save", ck])
    dlc = [(float(a), float(b)) for a, b in
           re.findall(r"^step \d+: loss (\S+), gradient norm (\S+)$", out, re.M)]
    p = {k: v.clone() for k, v in p0.items()}
    twin = train_epochs(cfg, p, data, 1, torch.arange)
    if len(dlc) != len(twin):
        sys.exit("%s: dlc took %d steps in its first epoch, the twin %d" % (name, len(dlc),
                                                                           len(twin)))
    dloss = max(abs(a[0] - b[0]) / abs(a[0]) for a, b in zip(dlc, twin))
    dnorm = max(abs(a[1] - b[1]) / abs(a[1]) for a, b in zip(dlc, twin))
    pd = read_params(cfg, ck)
    scale = max(v.abs().max().item() for v in pd.values())
    dpar = max((p[k].detach() - pd[k]).abs().max().item() for k in pd) / scale
    print("%s, first epoch from dlc's initial parameters in file order: %d steps, losses within "
          "%.1e, gradient norms within %.1e (dlc prints 4 digits), parameters after it within "
          "%.1e (relative)" % (name, len(dlc), dloss, dnorm, dpar), flush=True)
    if not (dloss <= 1e-8 and dnorm <= 1e-3 and dpar <= 1e-8):
        sys.exit("%s: the twin's steps differ from dlc's (first losses: dlc %s, twin %s)" % (
            name, [a[0] for a in dlc[:3]], [b[0] for b in twin[:3]]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dlc", required=True, help="the dlc compiler")
    ap.add_argument("--only", action="append", choices=sorted(CONFIGS))
    ap.add_argument("--seeds", type=int, default=5, help="seeds 1..N on each side (default 5)")
    ap.add_argument("--epochs", type=int, help="instead of each example's epochs")
    ap.add_argument("--min-acc", type=float, help="fail below this mean test accuracy (percent)")
    ap.add_argument("--max-gap", type=float, help="fail when the means differ by more (points)")
    ap.add_argument("--no-torch", action="store_true", help="dlc only (with the data check)")
    ap.add_argument("--jsonl", help="append one line per run (example, side, seed, accuracy, "
                    "seconds) to this file")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not os.path.exists(os.path.join(DATA, "iris.csv")):
        print("SKIP: %s not found (apt-get install python3-sklearn)" % DATA)
        sys.exit(77)
    bad = []
    print("%-14s %5s %6s  %10s  %11s  %6s  %7s  %7s" % (
        "example", "test", "epochs", "dlc acc %", "torch acc %", "gap", "dlc s", "torch s"))
    log = open(args.jsonl, "a") if args.jsonl else None
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.only or list(CONFIGS):
            cfg = CONFIGS[name]
            epochs = args.epochs if args.epochs is not None else cfg["epochs"]
            exe = os.path.join(tmp, name)
            run([args.dlc, os.path.join(ROOT, "examples", name + ".dl"), "-o", exe])
            data = load(cfg)
            p0 = same_data_check(cfg, data, exe, tmp)
            if cfg.get("newton_cg"):
                same_steps_check(name, cfg, data, exe, tmp, p0)
            seeds = range(1, args.seeds + 1)
            runs = {"dlc": [], "torch": []}   # (accuracy, seconds) per seed
            for s in seeds:
                t0 = time.perf_counter()
                acc = test_line(run([exe, "--seed", str(s), "--epochs", str(epochs), "--threads",
                                     "1", "--quiet"]))[1]
                runs["dlc"].append((acc, time.perf_counter() - t0))
            if not args.no_torch:
                for s in seeds:
                    t0 = time.perf_counter()
                    acc = train_torch(cfg, data, s, epochs)
                    runs["torch"].append((acc, time.perf_counter() - t0))
            mean = lambda side, i: (sum(r[i] for r in runs[side]) / len(runs[side])  # noqa: E731
                                    if runs[side] else None)
            acc_d, acc_t = mean("dlc", 0), mean("torch", 0)
            opt = lambda v, f: "-" if v is None else f % v  # noqa: E731
            print("%-14s %5d %6d  %10.2f  %11s  %6s  %7.3f  %7s" % (
                name, len(data[3]), epochs, acc_d, opt(acc_t, "%.2f"),
                "-" if acc_t is None else "%+.2f" % (acc_d - acc_t), mean("dlc", 1),
                opt(mean("torch", 1), "%.3f")), flush=True)
            for side in runs:
                for s, (acc, sec) in zip(seeds, runs[side]):
                    if log:
                        log.write(json.dumps({
                            "example": name, "side": side, "seed": s, "epochs": epochs,
                            "test_acc": acc, "wall_s": round(sec, 3), "threads": 1,
                            "system": "dlc" if side == "dlc" else "pytorch-" + torch.__version__,
                        }) + "\n")
            for side, acc in (("dlc", acc_d), ("torch", acc_t)):
                if acc is not None and args.min_acc is not None and acc < args.min_acc:
                    bad.append("%s: %s mean test accuracy %.2f%% < %g%%" % (name, side, acc,
                                                                          args.min_acc))
            if acc_t is not None and args.max_gap is not None and abs(acc_d - acc_t) > args.max_gap:
                bad.append("%s: dlc %.2f%% vs torch %.2f%%: more than %g points apart" % (
                    name, acc_d, acc_t, args.max_gap))
    if log:
        log.close()
    for b in bad:
        print("FAIL: " + b)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
