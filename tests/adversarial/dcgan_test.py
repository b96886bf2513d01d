#!/usr/bin/env python3
"""The DCGAN of examples/dcgan_fmnist.dl: rounds against PyTorch, and a short training run.

usage: dcgan_test.py rounds|train --dlc DLC --workdir DIR

rounds  the example compiled in f64 at batch 4 starts from the initial parameters of
        bench/torch_dcgan.py's twin (PyTorch's default initialisation of Linear, Conv2d and
        ConvTranspose2d) and runs 3 rounds, each a critic step then a generator step, on the
        same 3 batches of images (--no-shuffle) and the same noise z (--noise z=...): every
        parameter and every Adam moment must equal torch.optim.Adam's (betas 0.5, 0.999)
        to 1e-9 relative to the largest entry.
train   the example (f32, batch 64) trains 20 rounds on Fashion-MNIST at one thread: both
        losses finite; then --sample 16 writes [16, 1, 28, 28] images in [0, 1].
Exit 77 without PyTorch (rounds) unless DLC_REQUIRE_TORCH=1, or without Fashion-MNIST (train).
"""
import argparse
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
EXAMPLE = os.path.join(ROOT, "examples", "dcgan_fmnist.dl")
DATA = "/usr/share/datasets/fashion-mnist"
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
B, Z, ROUNDS = 4, 64, 3

from gan_test import run, torch_missing  # noqa: E402  (the same directory)



def rounds(a):
    status = torch_missing()
    if status:
        return status
    import numpy as np
    import torch
    import torch.nn.functional as F
    from torch_dcgan import Discriminator, Generator
    import st
    d = a.workdir
    torch.manual_seed(7)
    G, D = Generator().double(), Discriminator().double()
    # dlc's names; a Linear's W is torch's weight transposed, a kernel K is the weight itself
    mods = {"G.fc": G.fc, "G.up1": G.up1, "G.up2": G.up2, "D.conv1": D.conv1, "D.conv2": D.conv2, "D.fc": D.fc}

    def dlc_layout(k, t):
        t = t.detach().numpy()
        return t.T.copy() if k.endswith(".fc") and t.ndim == 2 else t.copy()

    params = {}
    for k, m in mods.items():
        params[k + (".W" if k.endswith(".fc") else ".K")] = dlc_layout(k, m.weight)
        params[k + ".b"] = m.bias.detach().numpy().copy()
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (ROUNDS * B, 1, 28, 28))
    z = rng.standard_normal((ROUNDS, B, Z))
    p0, xs, zs, p1 = (os.path.join(d, f) for f in ("init.safetensors", "x.npy", "z.npy", "out.safetensors"))
    st.save(p0, params)
    np.save(xs, x)
    np.save(zs, z)

    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    X, ZZ = torch.from_numpy(x), torch.from_numpy(z)
    for k in range(ROUNDS):
        xb, zb = X[k * B:(k + 1) * B], ZZ[k]
        fake = G(zb)
        d_loss = F.softplus(-D(xb)).mean() + F.softplus(D(fake.detach())).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(fake)).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()

    exe = os.path.join(d, "dcgan64")
    run([a.dlc, "--dtype", "f64", "-D", "B=%d" % B, EXAMPLE, "-o", exe])
    print(run([exe, "--load", p0, "--train", xs, "--no-shuffle", "--epochs", "1", "--noise", "z=" + zs,
               "--save", p1, "--threads", "1"]).strip())
    got, _ = st.load(p1)
    ok = True
    worst = 0.0
    for k, m in mods.items():
        clause = "critic" if k[0] == "D" else "generator"
        opt = opt_d if k[0] == "D" else opt_g
        for p, ref in (("W" if k.endswith(".fc") else "K", m.weight), ("b", m.bias)):
            state = opt.state[ref]
            for name, want in ((k + "." + p, ref), ("%s.m_%s.%s" % (clause, k, p), state["exp_avg"]),
                               ("%s.v_%s.%s" % (clause, k, p), state["exp_avg_sq"])):
                want = dlc_layout(k, want)
                if name not in got:
                    print("FAIL: %s missing from the checkpoint (has %s)" % (name, sorted(got)))
                    ok = False
                    continue
                err = float(np.max(np.abs(got[name] - want)) / max(float(np.max(np.abs(want))), 1e-300))
                worst = max(worst, err)
                if not err <= 1e-9:
                    print("FAIL: %s: max |dlc - torch| / max |torch| = %.3e" % (name, err))
                    ok = False
    for clause in ("critic", "generator"):
        n = got.get(clause + ".optimizer_step")
        if n is None or float(n.reshape(-1)[0]) != ROUNDS:
            print("FAIL: %s.optimizer_step is %s, expected %d" % (clause, n, ROUNDS))
            ok = False
    print("%d rounds: parameters and Adam moments agree with PyTorch to %.2e (relative to the largest entry)"
          % (ROUNDS, worst))
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def train(a):
    import numpy as np
    if not os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")):
        print("SKIP: Fashion-MNIST not found in %s (scripts/setup.sh installs it)" % DATA)
        return 77
    d = a.workdir
    exe, ck, s = (os.path.join(d, f) for f in ("dcgan", "dcgan.safetensors", "samples.npy"))
    run([a.dlc, EXAMPLE, "-o", exe])
    out = run([exe, "--steps", "20", "--threads", "1", "--save", ck])
    print(out.strip())
    m = re.search(r"critic ([-+0-9.eEnaif]+), generator ([-+0-9.eEnaif]+)\)", out)
    ok = True
    if not m or not all(np.isfinite(float(v)) for v in m.groups()):
        print("FAIL: expected finite critic and generator losses in the trainer's output")
        ok = False
    run([exe, "--load", ck, "--sample", "16", "--sample-out", s])
    x = np.load(s)
    print("samples %s in [%.4f, %.4f]" % (list(x.shape), float(x.min()), float(x.max())))
    if x.shape != (16, 1, 28, 28) or not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
        print("FAIL: expected 16 finite images [1, 28, 28] in [0, 1]")
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["rounds", "train"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    return {"rounds": rounds, "train": train}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
