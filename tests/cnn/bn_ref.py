#!/usr/bin/env python3
"""Batch norm against PyTorch over several training steps, then in evaluation mode.

usage: bn_ref.py --dlc DLC --workdir DIR

A small CNN with batch norm (after a convolution, and on a dense layer) is
trained 5 full-batch SGD steps with momentum by a dlc trainer and by PyTorch
from the same parameters and data.  The parameters, the running means and
variances, and the evaluation-mode outputs (running statistics, no batch
statistics) must agree to 1e-5 relative (f64).  Exit 77 without PyTorch
unless DLC_REQUIRE_TORCH=1.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

MODEL = """dtype f64
dim N = 12
input x : [N, 2, 6, 6]
label y : i32[N]
param K : [4, 2, 3, 3]
param g1 : [4]
param e1 : [4]
param W : [36, 5]
param g2 : [5]
param e2 : [5]
param V : [5, 3]
h = max_pool2d(relu(batch_norm(conv2d(x, K, pad = 1), g1, e1, momentum = 0.2)), 2)
z = batch_norm(flatten(h) @ W, g2, e2, eps = 1e-3)
output logits = tanh(z) @ V
loss cross_entropy(logits, y)
train { optimizer = sgd(lr = 0.1, momentum = 0.9)  epochs = 5 }
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
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
    d = a.workdir
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "bn.dl"), "w") as f:
        f.write(MODEL)
    rng = np.random.default_rng(11)
    P = {"K": rng.normal(0, 0.4, (4, 2, 3, 3)), "g1": rng.normal(1, 0.1, (4,)), "e1": rng.normal(0, 0.1, (4,)),
         "W": rng.normal(0, 0.3, (36, 5)), "g2": rng.normal(1, 0.1, (5,)), "e2": rng.normal(0, 0.1, (5,)),
         "V": rng.normal(0, 0.5, (5, 3))}
    x = rng.normal(0.5, 1, (12, 2, 6, 6))
    y = rng.integers(0, 3, (12,)).astype(np.int32)
    st.save(os.path.join(d, "init.safetensors"), P)
    np.save(os.path.join(d, "x.npy"), x)
    np.save(os.path.join(d, "y.npy"), y)
    exe = os.path.join(d, "bn")
    subprocess.run([a.dlc, os.path.join(d, "bn.dl"), "-o", exe], check=True)
    data = os.path.join(d, "x.npy") + "," + os.path.join(d, "y.npy")
    out = os.path.join(d, "final.safetensors")
    subprocess.run([exe, "--load", os.path.join(d, "init.safetensors"), "--train", data, "--quiet",
                    "--save", out], check=True)
    fwd = os.path.join(d, "eval.safetensors")
    subprocess.run([exe, "--load", out, "--batch-from", data, "--dump-forward", fwd], check=True,
                   stdout=subprocess.DEVNULL)
    got, _ = st.load(out)
    got_eval, _ = st.load(fwd)

    T = {k: torch.tensor(v, requires_grad=True) for k, v in P.items()}
    bn1 = torch.nn.BatchNorm2d(4, momentum=0.2).double()
    bn2 = torch.nn.BatchNorm1d(5, eps=1e-3).double()
    with torch.no_grad():
        bn1.weight.copy_(T["g1"])
        bn1.bias.copy_(T["e1"])
        bn2.weight.copy_(T["g2"])
        bn2.bias.copy_(T["e2"])
    params = [T["K"], bn1.weight, bn1.bias, T["W"], bn2.weight, bn2.bias, T["V"]]
    opt = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    X, Y = torch.tensor(x), torch.tensor(y, dtype=torch.int64)

    def forward():
        h = torch.nn.functional.max_pool2d(torch.relu(bn1(torch.nn.functional.conv2d(X, T["K"], padding=1))), 2)
        z = bn2(h.flatten(1) @ T["W"])
        return torch.tanh(z) @ T["V"]

    bn1.train()
    bn2.train()
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(forward(), Y).backward()
        opt.step()
    bn1.eval()
    bn2.eval()
    with torch.no_grad():
        logits_eval = forward().numpy()
        eval_loss = torch.nn.functional.cross_entropy(forward(), Y).item()
    want = {"K": T["K"], "g1": bn1.weight, "e1": bn1.bias, "W": T["W"], "g2": bn2.weight, "e2": bn2.bias,
            "V": T["V"], "g1_running_mean": bn1.running_mean, "g1_running_var": bn1.running_var,
            "g2_running_mean": bn2.running_mean, "g2_running_var": bn2.running_var}
    failures = 0
    for k, w in want.items():
        w = w.detach().numpy()
        g = got[k].reshape(w.shape)
        err = float(np.max(np.abs(g - w) / np.maximum(np.abs(w), 1e-9)))
        ok = err <= 1e-5
        failures += not ok
        print("%s %-16s max relative difference %.2e" % ("ok  " if ok else "FAIL", k, err))
    for name, g, w in (("eval logits", got_eval["logits"], logits_eval), ("eval loss", got_eval["loss"], eval_loss)):
        g = np.asarray(g).reshape(np.shape(w))
        err = float(np.max(np.abs(g - w) / np.maximum(np.abs(w), 1e-9)))
        ok = err <= 1e-5
        failures += not ok
        print("%s %-16s max relative difference %.2e" % ("ok  " if ok else "FAIL", name, err))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
