#!/usr/bin/env python3
"""Adversarial examples: hyper-parameters, FGSM and PGD against PyTorch, short trainings.

usage: adv_test.py flags|torch|train --dlc DLC --workdir DIR

flags  a small model with `hyper eps`: --set changes what the program computes
       (eps = 0 makes the attacked accuracy the clean one), and a --set of an
       unknown name, of a param or of something that is not a number is an
       error that says so, before any data is read.  --lipschitz gives the
       weight's spectral norm and the largest gradient norm over a test set
       as NumPy computes them.
torch  examples/fgsm_lenet.dl compiled in f64 trains 150 steps; PyTorch loads
       its parameters and attacks the first 500 test images with FGSM
       (torch.autograd.grad) and PGD-10 at eps 0.05 and 0.1: the accuracies
       --eval prints must be PyTorch's (to one image: a gradient entry at
       exactly 0 may take another sign after rounding).
train  examples/fgsm_lenet.dl and examples/advtrain_lenet.dl train 300 steps
       at one thread; on the test set the clean model must lose most of its
       accuracy under FGSM at eps 0.1 and the adversarially trained one much
       less.
Exit 77 when Fashion-MNIST (torch, train) or PyTorch (torch) is missing,
unless DLC_REQUIRE_TORCH=1 for the latter.
"""
import argparse
import gzip
import os
import re
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
EXAMPLES = os.path.join(ROOT, "examples")
DATA = "/usr/share/datasets/fashion-mnist"
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

TINY = """
dim B = 8
input x : f32[B, 2]
label y : i32[B]
param W : [2, 3] = uniform(-1, 1)
hyper eps = 0.5
def net(u) = u @ W
output acc = accuracy(net(x), y)
output acc_fgsm = accuracy(net(x + eps * sign(grad(cross_entropy(net(x), y), x))), y)
output gn = sqrt(sum(grad(cross_entropy(net(x), y, reduction = "sum"), x) ^ 2, axis = 1))
loss cross_entropy(net(x), y)
train {
  optimizer = sgd(lr = 0.5)
  data = moons(n = 400, noise = 0.1)
  test = moons(n = 400, noise = 0.1)
}
"""


def run(cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        print(r.stdout + r.stderr)
        raise SystemExit("FAIL: %s exited with %d" % (" ".join(cmd), r.returncode))
    return r


def scalars(out, what="test"):
    """{name: value} of the trainer's line of scalar outputs."""
    m = re.search(r"^%s: ((?:[A-Za-z_][\w.]* [-+0-9.eE]+(?:, )?)+)$" % what, out, re.M)
    if not m:
        raise SystemExit("FAIL: no line of scalar outputs in:\n" + out)
    return {k: float(v) for k, v in (p.split() for p in m.group(1).split(", "))}


def accuracy(out, what="test"):
    m = re.search(r"^%s: loss [-+0-9.eE]+, accuracy ([0-9.]+)%%" % what, out, re.M)
    if not m:
        raise SystemExit("FAIL: no accuracy in:\n" + out)
    return float(m.group(1)) / 100


def flags(a):
    d = a.workdir
    src, exe, ck = (os.path.join(d, f) for f in ("tiny.dl", "tiny", "tiny.safetensors"))
    with open(src, "w") as f:
        f.write(TINY)
    run([a.dlc, src, "-o", exe])
    run([exe, "--epochs", "3", "--quiet", "--save", ck])
    base = [exe, "--load", ck, "--eval", "--quiet"]
    s0 = scalars(run(base + ["--set", "eps=0"]).stdout)
    s1 = scalars(run(base).stdout)
    s2 = scalars(run(base + ["--set", "eps=2"]).stdout)
    print("eps 0: %s; default 0.5: %s; eps 2: %s" % (s0, s1, s2))
    ok = s0["acc_fgsm"] == s0["acc"] and s1["acc_fgsm"] < s1["acc"] and s2["acc_fgsm"] < s1["acc_fgsm"]
    if not ok:
        print("FAIL: --set eps does not change the attacked accuracy as it should")
    import numpy as np
    import st
    W = st.load(ck)[0]["W"].astype(np.float64)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 2)).astype(np.float32)
    y = rng.integers(0, 3, 20).astype(np.int32)
    xs, ys = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
    np.save(xs, x)
    np.save(ys, y)
    out = run([exe, "--load", ck, "--lipschitz", "--test", xs + "," + ys]).stdout
    print(out.strip())
    z = x.astype(np.float64) @ W
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(20), y] -= 1
    gn = np.sqrt(((p @ W.T) ** 2).sum(1)).max()
    sv = np.linalg.svd(W, compute_uv=False)[0]
    m1 = re.search(r"^  W +([0-9.eE+-]+)$", out, re.M)
    m2 = re.search(r"^largest gn over the test set: ([0-9.eE+-]+)", out, re.M)
    if not m1 or not m2 or abs(float(m1.group(1)) - sv) > 1e-5 * sv or abs(float(m2.group(1)) - gn) > 1e-4 * gn:
        print("FAIL: --lipschitz: expected |W| = %.6g and largest gn %.6g" % (sv, gn))
        ok = False
    for arg, want in (("epz=1", "has no hyper-parameter 'epz'; it has eps"),
                      ("W=1", "'W' is a param, not a hyper-parameter"),
                      ("eps=abc", "'abc' is not a number"),
                      ("eps", "expected NAME=VALUE")):
        r = run(base + ["--set", arg, "--test", "/nonexistent.npy"], check=False)
        if r.returncode != 2 or want not in r.stderr:
            print("FAIL: --set %s: exit %d, stderr %r; expected exit 2 and %r" % (arg, r.returncode, r.stderr, want))
            ok = False
        else:
            print("--set %s: %s" % (arg, r.stderr.strip()))
    return ok


def read_idx(path):
    import numpy as np
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def torch_attacks(a):
    try:
        import numpy as np
        import torch
        import torch.nn.functional as F
    except ImportError:
        msg = "PyTorch not available (install python3-torch)"
        if os.environ.get("DLC_REQUIRE_TORCH") == "1":
            print("FAIL: " + msg)
            return False
        print("SKIP: " + msg)
        return 77
    import st
    d = a.workdir
    exe, ck = os.path.join(d, "fgsm64"), os.path.join(d, "lenet.safetensors")
    run([a.dlc, "--dtype", "f64", os.path.join(EXAMPLES, "fgsm_lenet.dl"), "-o", exe])
    run([exe, "--steps", "150", "--quiet", "--save", ck])
    n = 500
    x = read_idx(os.path.join(DATA, "t10k-images-idx3-ubyte.gz"))[:n].astype(np.float64) / 255
    y = read_idx(os.path.join(DATA, "t10k-labels-idx1-ubyte.gz"))[:n].astype(np.int32)
    xs, ys = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
    np.save(xs, x.reshape(n, 1, 28, 28))
    np.save(ys, y)
    p, _ = st.load(ck)
    P = {k: torch.from_numpy(v) for k, v in p.items()}

    def net(u):
        h = F.max_pool2d(F.relu(F.conv2d(u, P["conv1.K"], P["conv1.b"], padding=2)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, P["conv2.K"], P["conv2.b"])), 2).flatten(1)
        h = F.relu(h @ P["fc1.W"] + P["fc1.b"])
        return F.relu(h @ P["fc2.W"] + P["fc2.b"]) @ P["fc3.W"] + P["fc3.b"]

    def ascend(u, yb, step):
        u = u.detach().requires_grad_()
        g, = torch.autograd.grad(F.cross_entropy(net(u), yb), u)
        return (u + step * torch.sign(g)).detach()

    def correct(u, yb):
        return int((net(u).argmax(1) == yb).sum())

    ok = True
    X, Y = torch.from_numpy(x.reshape(n, 1, 28, 28)), torch.from_numpy(y).long()
    for eps in (0.05, 0.1):
        hits = {"acc": 0, "acc_fgsm": 0, "acc_pgd": 0}
        for s in range(0, n, 64):      # the trainer's batches of 64: the gradient of each batch's mean loss
            xb, yb = X[s:s + 64], Y[s:s + 64]
            hits["acc"] += correct(xb, yb)
            hits["acc_fgsm"] += correct(ascend(xb, yb, eps).clamp(0, 1), yb)
            xp = xb
            for _ in range(10):
                xp = torch.min(torch.max(ascend(xp, yb, eps / 4), xb - eps), xb + eps).clamp(0, 1)
            hits["acc_pgd"] += correct(xp, yb)
        out = run([exe, "--load", ck, "--eval", "--quiet", "--test", xs + "," + ys, "--set", "eps=%g" % eps]).stdout
        got = scalars(out)
        got["acc"] = accuracy(out)
        for k, h in hits.items():
            diff = abs(got[k] * n - h)
            print("eps %-4g %-8s dlc %.4f  torch %.4f" % (eps, k, got[k], h / n))
            if diff > 1.01:
                print("FAIL: %s differs by %g images" % (k, diff))
                ok = False
    return ok


def train(a):
    d = a.workdir
    res = {}
    for name in ("fgsm_lenet", "advtrain_lenet"):
        exe = os.path.join(d, name)
        run([a.dlc, os.path.join(EXAMPLES, name + ".dl"), "-o", exe])
        out = run([exe, "--steps", "300", "--threads", "1", "--quiet"]).stdout
        sc = scalars(out)
        res[name] = (sc["acc"] if "acc" in sc else accuracy(out), sc["acc_fgsm"])
        print("%-15s after 300 steps: clean %.4f, FGSM eps 0.1 %.4f" % ((name,) + res[name]))
    clean, fgsm = res["fgsm_lenet"]
    adv_clean, adv_fgsm = res["advtrain_lenet"]
    ok = clean > 0.65 and fgsm < clean / 2 and adv_clean > 0.65 and adv_fgsm > 0.45 and adv_fgsm > fgsm + 0.2
    if not ok:
        print("FAIL: expected clean > 0.65 and FGSM below half of it for fgsm_lenet; clean > 0.65 and FGSM "
              "> 0.45 (and 0.2 above fgsm_lenet's) for advtrain_lenet")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["flags", "torch", "train"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    if a.what != "flags" and not os.path.exists(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")):
        print("SKIP: Fashion-MNIST not found in %s (scripts/setup.sh installs it)" % DATA)
        return 77
    ok = {"flags": flags, "torch": torch_attacks, "train": train}[a.what](a)
    if ok == 77:
        return 77
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
