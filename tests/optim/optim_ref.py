#!/usr/bin/env python3
"""Each optimizer matches torch.optim over 20 steps (f64, 1e-5 relative).

usage: optim_ref.py --dlc DLC --workdir DIR [--list] [CASE ...]

A small classifier is trained full-batch for 20 steps by a dlc trainer and by
PyTorch from the same parameters and data; every parameter must agree to
1e-5 relative.  Exit 77 (skip) without PyTorch, unless DLC_REQUIRE_TORCH=1.
"""
import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

MODEL = """dtype f64
dim N = 32
input x : [N, 5]
label y : i32[N]
param W1 : [5, 8]
param b1 : [8]
param W2 : [8, 3]
param b2 : [3]
h = tanh(x @ W1 + b1)
loss cross_entropy(h @ W2 + b2, y)
train {
  optimizer = %s
  epochs = 20
  %s
}
"""

# name: (dl optimizer, extra train settings, torch optimizer factory, clip norm, no-decay names)
CASES = {
    "sgd": ("sgd(lr = 0.1)", "", lambda P, T: T.optim.SGD(P, lr=0.1), 0, []),
    "sgd_momentum": ("sgd(lr = 0.1, momentum = 0.9)", "", lambda P, T: T.optim.SGD(P, lr=0.1, momentum=0.9), 0, []),
    "sgd_nesterov_wd": ("sgd(lr = 0.1, momentum = 0.9, nesterov = 1, weight_decay = 0.01)", "",
                        lambda P, T: T.optim.SGD(P, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01), 0, []),
    "sgd_dampening": ("sgd(lr = 0.1, momentum = 0.9, dampening = 0.1)", "",
                      lambda P, T: T.optim.SGD(P, lr=0.1, momentum=0.9, dampening=0.1), 0, []),
    "adam": ("adam(lr = 0.01)", "", lambda P, T: T.optim.Adam(P, lr=0.01), 0, []),
    "adam_wd": ("adam(lr = 0.01, beta1 = 0.8, beta2 = 0.99, eps = 1e-6, weight_decay = 0.01)", "",
                lambda P, T: T.optim.Adam(P, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.01), 0, []),
    "adamw": ("adamw(lr = 0.01, weight_decay = 0.1)", "", lambda P, T: T.optim.AdamW(P, lr=0.01, weight_decay=0.1), 0, []),
    "rmsprop": ("rmsprop(lr = 0.01)", "", lambda P, T: T.optim.RMSprop(P, lr=0.01), 0, []),
    "rmsprop_momentum": ("rmsprop(lr = 0.01, alpha = 0.9, momentum = 0.9, weight_decay = 0.01)", "",
                         lambda P, T: T.optim.RMSprop(P, lr=0.01, alpha=0.9, momentum=0.9, weight_decay=0.01), 0, []),
    "adagrad": ("adagrad(lr = 0.1)", "", lambda P, T: T.optim.Adagrad(P, lr=0.1), 0, []),
    "adagrad_init": ("adagrad(lr = 0.1, initial_accumulator = 0.1, weight_decay = 0.01)", "",
                     lambda P, T: T.optim.Adagrad(P, lr=0.1, initial_accumulator_value=0.1, weight_decay=0.01), 0, []),
    "sgd_clip": ("sgd(lr = 0.5, momentum = 0.5)", "clip_norm = 0.3",
                 lambda P, T: T.optim.SGD(P, lr=0.5, momentum=0.5), 0.3, []),
    "adam_clip": ("adam(lr = 0.05)", "clip_norm = 0.1", lambda P, T: T.optim.Adam(P, lr=0.05), 0.1, []),
    "adamw_groups": ("adamw(lr = 0.01, weight_decay = 0.2)", "no_weight_decay = [b1, b2]",
                     None, 0, ["b1", "b2"]),
}


def torch_run(case, params, x, y):
    import torch
    opt_dl, extra, factory, clip, nodecay = CASES[case]
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    order = ["W1", "b1", "W2", "b2"]
    if factory is None:  # parameter groups: no weight decay on the biases
        decay = [P[k] for k in order if k not in nodecay]
        nod = [P[k] for k in order if k in nodecay]
        opt = torch.optim.AdamW([{"params": decay}, {"params": nod, "weight_decay": 0.0}], lr=0.01, weight_decay=0.2)
    else:
        opt = factory([P[k] for k in order], torch)
    X = torch.tensor(x)
    Y = torch.tensor(y, dtype=torch.int64)
    for _ in range(20):
        opt.zero_grad()
        h = torch.tanh(X @ P["W1"] + P["b1"])
        loss = torch.nn.functional.cross_entropy(h @ P["W2"] + P["b2"], Y)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_([P[k] for k in order], clip)
        opt.step()
    return {k: v.detach().numpy() for k, v in P.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc")
    ap.add_argument("--workdir")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    if a.list:
        print(";".join(sorted(CASES)))
        return 0
    try:
        import numpy as np
        import torch  # noqa: F401
    except ImportError:
        msg = "PyTorch not available (install python3-torch)"
        if os.environ.get("DLC_REQUIRE_TORCH") == "1":
            print("FAIL: " + msg)
            return 1
        print("SKIP: " + msg)
        return 77
    import st
    os.makedirs(a.workdir, exist_ok=True)
    failures = 0
    for case in a.cases or sorted(CASES):
        opt_dl, extra, _, _, _ = CASES[case]
        d = os.path.join(a.workdir, case)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.dl"), "w") as f:
            f.write(MODEL % (opt_dl, extra))
        rng = np.random.default_rng(7)
        params = {"W1": rng.normal(0, 0.5, (5, 8)), "b1": rng.normal(0, 0.1, (8,)),
                  "W2": rng.normal(0, 0.5, (8, 3)), "b2": rng.normal(0, 0.1, (3,))}
        x = rng.normal(0, 1, (32, 5))
        y = rng.integers(0, 3, (32,)).astype(np.int32)
        st.save(os.path.join(d, "init.safetensors"), params)
        np.save(os.path.join(d, "x.npy"), x)
        np.save(os.path.join(d, "y.npy"), y)
        exe = os.path.join(d, "model")
        subprocess.run([a.dlc, os.path.join(d, "model.dl"), "-o", exe], check=True)
        out = os.path.join(d, "final.safetensors")
        p = subprocess.run([exe, "--load", os.path.join(d, "init.safetensors"), "--train",
                            os.path.join(d, "x.npy") + "," + os.path.join(d, "y.npy"), "--progress", "never",
                            "--quiet", "--save", out], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            print(p.stdout)
            print("FAIL %s: trainer exit status %d" % (case, p.returncode))
            failures += 1
            continue
        got, _ = st.load(out)
        want = torch_run(case, params, x, y)
        worst = 0.0
        for k in want:
            w = want[k]
            g = got[k].reshape(w.shape)
            err = float(np.max(np.abs(g - w) / np.maximum(np.abs(w), 1e-12)))
            moved = float(np.max(np.abs(w - params[k])))
            worst = max(worst, err)
            if not err <= 1e-5:
                print("FAIL %s: %s differs from torch.optim by %.3g relative" % (case, k, err))
                failures += 1
            if moved == 0:
                print("FAIL %s: %s never moved" % (case, k))
                failures += 1
        print("%s %-18s max relative difference %.2e over 20 steps" % ("ok  " if worst <= 1e-5 else "FAIL", case, worst))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
