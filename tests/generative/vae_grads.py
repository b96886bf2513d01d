#!/usr/bin/env python3
"""The VAE's gradients against its PyTorch twin, and an f64 gradient check.

usage: vae_grads.py --dlc DLC --workdir DIR [--example PATH]

examples/vae_fmnist.dl is compiled in f64 at a small size (-D B=8 -D H=16
-D Z=4).  PyTorch builds the same network (bench/torch_vae.py's VAE, double
precision, nn.Linear's default initialisation) and its parameters go to a
safetensors file; one batch of 8 images (uniform in [0, 1]) and the
reparameterisation noise eps go to .npy files.  The trainer loads the
parameters, takes the batch (--batch-from) and the noise (--noise eps=...),
and dumps every parameter's gradient (--dump-grads): each must equal
PyTorch's to 1e-9 relative to its largest entry, and the losses must agree.
Then the trainer's --gradcheck (central differences, f64) must pass on the
same batch and noise.  Exit 77 without PyTorch unless DLC_REQUIRE_TORCH=1.
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bench"))

B, H, Z = 8, 16, 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--example", default=os.path.join(ROOT, "examples", "vae_fmnist.dl"))
    a = ap.parse_args()
    try:
        import numpy as np
        import torch
    except ImportError:
        msg = "PyTorch not available (install python3-torch)"
        if os.environ.get("DLC_REQUIRE_TORCH") == "1":
            print("FAIL: " + msg)
            return 1
        print("SKIP: " + msg)
        return 77
    import st
    from torch_vae import VAE

    d = a.workdir
    os.makedirs(d, exist_ok=True)
    torch.manual_seed(3)
    model = VAE(h=H, z=Z).double()
    params = {}
    for name, mod in model.named_children():
        params[name + ".W"] = mod.weight.detach().numpy().T.copy()   # dlc's W is [in, out]
        params[name + ".b"] = mod.bias.detach().numpy().copy()
    rng = np.random.default_rng(5)
    x = rng.random((B, 784))
    eps = rng.standard_normal((B, Z))
    p_st, x_np, e_np = (os.path.join(d, f) for f in ("params.safetensors", "x.npy", "eps.npy"))
    st.save(p_st, params)
    np.save(x_np, x)
    np.save(e_np, eps)

    loss = model.loss(torch.from_numpy(x), torch.from_numpy(eps))
    model.zero_grad()
    loss.backward()

    exe = os.path.join(d, "vae")
    subprocess.run([a.dlc, "--dtype", "f64", "-D", "B=%d" % B, "-D", "H=%d" % H, "-D", "Z=%d" % Z,
                    a.example, "-o", exe], check=True)
    common = [exe, "--load", p_st, "--batch-from", x_np, "--noise", "eps=" + e_np]
    g_st = os.path.join(d, "grads.safetensors")
    out = subprocess.run(common + ["--dump-grads", g_st], check=True, capture_output=True,
                         text=True).stdout
    m = re.search(r"loss ([-+0-9.eE]+)", out)
    ok = True
    if not m or abs(float(m.group(1)) - float(loss)) > 1e-6 * abs(float(loss)):
        print("FAIL: loss: dlc %r, torch %.10f" % (m and m.group(1), float(loss)))
        ok = False
    got, _ = st.load(g_st)
    for name, mod in model.named_children():
        for p, ref in (("W", mod.weight.grad.numpy().T), ("b", mod.bias.grad.numpy())):
            key = "d_%s.%s" % (name, p)
            if key not in got:
                print("FAIL: %s missing from --dump-grads (has %s)" % (key, sorted(got)))
                ok = False
                continue
            err = np.max(np.abs(got[key] - ref)) / max(np.max(np.abs(ref)), 1e-300)
            print("%-10s max |dlc - torch| / max |torch| = %.2e" % (key, err))
            if not err <= 1e-9:
                ok = False
    gc = subprocess.run(common + ["--gradcheck"], capture_output=True, text=True)
    print(gc.stdout.strip().splitlines()[-1] if gc.stdout.strip() else gc.stderr)
    if gc.returncode != 0:
        print(gc.stdout + gc.stderr)
        ok = False
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
