#!/usr/bin/env python3
"""Each optimizer matches torch.optim over 20 steps (f64, 1e-5 relative).

usage: optim_ref.py --dlc DLC --workdir DIR [--list] [CASE ...]

A small classifier is trained full-batch for 20 steps by a dlc trainer and by
PyTorch from the same parameters and data; every parameter must agree to
1e-5 relative (1e-10 for the cases that give a tolerance of their own).
Cases with amsgrad, clip_value or clip_norm also check that the feature
changed the run (a maximum above the running second moment, a clamped
gradient element, a scaled norm), and amsgrad's vmax_ state in the trainer's
checkpoint must agree with torch's max_exp_avg_sq.  Exit 77 (skip) without
PyTorch, unless DLC_REQUIRE_TORCH=1.
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
%s
train {
%s
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
    # beta2 = 0.9 lets the second moment fall below its maximum within 20 steps
    "adam_amsgrad": ("adam(lr = 0.05, beta2 = 0.9, amsgrad = 1)", "",
                     lambda P, T: T.optim.Adam(P, lr=0.05, betas=(0.9, 0.9), amsgrad=True), 0, [], 0, 1e-10),
    "adamw_amsgrad": ("adamw(lr = 0.05, beta1 = 0.8, beta2 = 0.9, eps = 1e-6, weight_decay = 0.1, amsgrad = 1)", "",
                      lambda P, T: T.optim.AdamW(P, lr=0.05, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1,
                                                 amsgrad=True), 0, [], 0, 1e-10),
    "sgd_clip_value": ("sgd(lr = 1.0, momentum = 0.5)", "clip_value = 0.02",
                       lambda P, T: T.optim.SGD(P, lr=1.0, momentum=0.5), 0, [], 0.02, 1e-10),
    # clip_value first, then clip_norm on the clamped gradients
    "adam_clip_value_norm": ("adam(lr = 0.05, amsgrad = 1, beta2 = 0.9)", "clip_value = 0.02\n  clip_norm = 0.05",
                             lambda P, T: T.optim.Adam(P, lr=0.05, betas=(0.9, 0.9), amsgrad=True), 0.05, [], 0.02,
                             1e-10),
}

# Step clauses: the same loss trained by two clauses in turn, each with its
# own optimizer; train-block clipping applies to each clause's gradients (the
# norm is that of the clause's own).
CLAUSES = {
    "steps_amsgrad_clip": (
        [("first", ["W1", "b1"], "adamw(lr = 0.05, beta2 = 0.9, weight_decay = 0.1, amsgrad = 1)",
          lambda P, T: T.optim.AdamW(P, lr=0.05, betas=(0.9, 0.9), weight_decay=0.1, amsgrad=True)),
         ("second", ["W2", "b2"], "sgd(lr = 1.0, momentum = 0.5)",
          lambda P, T: T.optim.SGD(P, lr=1.0, momentum=0.5))],
        "clip_value = 0.02\n  clip_norm = 0.05", 0.05, 0.02, 1e-10),
}

LOSS = "cross_entropy(h @ W2 + b2, y)"


ORDER = ["W1", "b1", "W2", "b2"]


def spec(case):
    """The case as (model text, clauses [(prefix, names, factory)], clip norm, clip value, tolerance,
    no-decay names); a prefix is None for a train block with one optimizer."""
    if case in CLAUSES:
        steps, extra, clip, clip_value, tol = CLAUSES[case]
        body = "\n".join("  %s = step(l, params = [%s], optimizer = %s)" % (n, ", ".join(ps), o)
                         for n, ps, o, _ in steps)
        text = MODEL % ("l = " + LOSS, body, extra)
        return text, [(n, ps, f) for n, ps, _, f in steps], clip, clip_value, tol, []
    opt_dl, extra, factory, clip, nodecay, *more = CASES[case]
    clip_value, tol = more if more else (0, 1e-5)
    text = MODEL % ("loss " + LOSS, "  optimizer = " + opt_dl, extra)
    return text, [(None, ORDER, factory)], clip, clip_value, tol, nodecay


def torch_run(case, params, x, y):
    """Train with torch.optim; return the parameters, amsgrad's max_exp_avg_sq by checkpoint name,
    and how often each feature acted."""
    import torch
    _, clauses, clip, clip_value, _, nodecay = spec(case)
    P = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    opts = []
    for prefix, names, factory in clauses:
        if factory is None:  # parameter groups: no weight decay on the biases
            decay = [P[k] for k in names if k not in nodecay]
            nod = [P[k] for k in names if k in nodecay]
            opt = torch.optim.AdamW([{"params": decay}, {"params": nod, "weight_decay": 0.0}], lr=0.01,
                                    weight_decay=0.2)
        else:
            opt = factory([P[k] for k in names], torch)
        opts.append((prefix, names, opt))
    X = torch.tensor(x)
    Y = torch.tensor(y, dtype=torch.int64)
    acted = {"clip_value": 0, "clip_norm": 0, "amsgrad": 0}
    for _ in range(20):
        for _, names, opt in opts:
            opt.zero_grad()
            h = torch.tanh(X @ P["W1"] + P["b1"])
            loss = torch.nn.functional.cross_entropy(h @ P["W2"] + P["b2"], Y)
            loss.backward()
            ps = [P[k] for k in names]
            if clip_value:
                acted["clip_value"] += int(any(bool((p.grad.abs() > clip_value).any()) for p in ps))
                torch.nn.utils.clip_grad_value_(ps, clip_value)
            if clip:
                acted["clip_norm"] += int(float(torch.nn.utils.clip_grad_norm_(ps, clip)) > clip)
            opt.step()
    vmax = {}
    for prefix, names, opt in opts:
        for k in names:
            st = opt.state[P[k]]
            if "max_exp_avg_sq" in st:
                vmax[(prefix + "." if prefix else "") + "vmax_" + k] = st["max_exp_avg_sq"].numpy()
                acted["amsgrad"] += int((st["max_exp_avg_sq"] > st["exp_avg_sq"]).sum())
    return {k: v.detach().numpy() for k, v in P.items()}, vmax, acted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc")
    ap.add_argument("--workdir")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    if a.list:
        print(";".join(sorted(list(CASES) + list(CLAUSES))))
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
    for case in a.cases or sorted(list(CASES) + list(CLAUSES)):
        text, _, clip, clip_value, tol, _ = spec(case)
        d = os.path.join(a.workdir, case)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.dl"), "w") as f:
            f.write(text)
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
        want, vmax, acted = torch_run(case, params, x, y)
        worst = 0.0
        for k in want:
            w = want[k]
            g = got[k].reshape(w.shape)
            err = float(np.max(np.abs(g - w) / np.maximum(np.abs(w), 1e-12)))
            moved = float(np.max(np.abs(w - params[k])))
            worst = max(worst, err)
            if not err <= tol:
                print("FAIL %s: %s differs from torch.optim by %.3g relative" % (case, k, err))
                failures += 1
            if moved == 0:
                print("FAIL %s: %s never moved" % (case, k))
                failures += 1
        for k, w in vmax.items():
            if k not in got:
                print("FAIL %s: the checkpoint has no %s" % (case, k))
                failures += 1
                continue
            err = float(np.max(np.abs(got[k].reshape(w.shape) - w) / np.maximum(np.abs(w), 1e-300)))
            worst = max(worst, err)
            if not err <= tol:
                print("FAIL %s: %s differs from torch's max_exp_avg_sq by %.3g relative" % (case, k, err))
                failures += 1
        used = {"clip_value": clip_value > 0, "clip_norm": clip > 0, "amsgrad": bool(vmax)}
        for feature, on in used.items():
            if on and not acted[feature]:
                print("FAIL %s: %s never changed the run, so the case does not test it" % (case, feature))
                failures += 1
        what = ", ".join("%s %d" % (f, acted[f]) for f, on in used.items() if on)
        print("%s %-24s max relative difference %.2e over 20 steps%s" % ("ok  " if worst <= tol else "FAIL", case,
              worst, " (acted: " + what + ")" if what else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
