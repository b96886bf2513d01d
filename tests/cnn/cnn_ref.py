#!/usr/bin/env python3
"""Convolutional ops against PyTorch (forward and every gradient) and finite differences.

usage: cnn_ref.py --dlc DLC --workdir DIR [--list] [--dtype f64|f32] [--mode torch|gradcheck] [--seed S] [CASE ...]

Each case is a small program whose parameters are the op's operands; the loss
is sum(op(...) * R) with R a random input, so every gradient is exercised.
Mode torch: the trainer's --dump-grads (loss, outputs, d_<param>) must match
torch autograd (1e-5 relative in f64, 1e-4 in f32).  Mode gradcheck: the
trainer's --gradcheck (central differences in f64) must pass.  Exit 77 without
PyTorch in torch mode unless DLC_REQUIRE_TORCH=1.

Each case draws its numbers from one seed, zlib.crc32 of its name unless --seed gives one; the
seed is printed, and a failing case prints the command that reruns it.
"""
import argparse
import os
import subprocess
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))

# name: (batch B, rows fed, params {name: shape}, inputs {name: shape} (x first, R last),
#        dl expression of the op, torch function of (P, I) -> tensor)
def F():
    import torch.nn.functional as nf
    return nf


CASES = {
    "conv_basic": (2, 2, {"K": (4, 3, 3, 3), "c": (4,)}, {"x": (3, 5, 6), "R": (4, 5, 6)},
                   "conv2d(x, K, c, pad = 1)", lambda P, I: F().conv2d(I["x"], P["K"], P["c"], padding=1)),
    "conv_stride_pad": (2, 2, {"K": (3, 2, 3, 2)}, {"x": (2, 7, 5), "R": (3, 4, 2)},
                        "conv2d(x, K, stride = 2, pad = [1, 0])",
                        lambda P, I: F().conv2d(I["x"], P["K"], stride=2, padding=(1, 0))),
    "conv_dilation": (2, 2, {"K": (2, 2, 3, 3), "c": (2,)}, {"x": (2, 8, 7), "R": (2, 4, 3)},
                      "conv2d(x, K, c, dilation = 2)", lambda P, I: F().conv2d(I["x"], P["K"], P["c"], dilation=2)),
    "conv_groups": (2, 2, {"K": (4, 2, 3, 3)}, {"x": (4, 5, 5), "R": (4, 5, 5)},
                    "conv2d(x, K, pad = 1, groups = 2)", lambda P, I: F().conv2d(I["x"], P["K"], padding=1, groups=2)),
    "conv_depthwise": (2, 2, {"K": (3, 1, 3, 3), "c": (3,)}, {"x": (3, 6, 6), "R": (3, 3, 3)},
                       "conv2d(x, K, c, stride = 2, pad = 1, groups = 3)",
                       lambda P, I: F().conv2d(I["x"], P["K"], P["c"], stride=2, padding=1, groups=3)),
    "conv_same_5x5": (2, 2, {"K": (2, 3, 5, 5)}, {"x": (3, 7, 6), "R": (2, 7, 6)},
                      "conv2d(x, K, pad = \"same\")", lambda P, I: F().conv2d(I["x"], P["K"], padding=2)),
    "conv_all": (3, 3, {"K": (4, 2, 3, 2), "c": (4,)}, {"x": (4, 9, 7), "R": (4, 5, 9)},
                 "conv2d(x, K, c, stride = [2, 1], pad = [1, 2], dilation = [1, 2], groups = 2)",
                 lambda P, I: F().conv2d(I["x"], P["K"], P["c"], stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)),
    "conv_partial_batch": (4, 3, {"K": (2, 2, 3, 3)}, {"x": (2, 5, 5), "R": (2, 3, 3)},
                           "conv2d(x, K)", lambda P, I: F().conv2d(I["x"], P["K"])),
    "maxpool_2": (2, 2, {"A": (2, 3, 6, 6)}, {"R": (3, 3, 3)},
                  "max_pool2d(A, 2)", lambda P, I: F().max_pool2d(P["A"], 2)),
    "maxpool_3s2p1": (2, 2, {"A": (2, 2, 7, 6)}, {"R": (2, 4, 3)},
                      "max_pool2d(A, 3, stride = 2, pad = 1)", lambda P, I: F().max_pool2d(P["A"], 3, stride=2, padding=1)),
    "maxpool_rect": (2, 2, {"A": (2, 2, 6, 6)}, {"R": (2, 3, 2)},
                     "max_pool2d(A, [2, 3])", lambda P, I: F().max_pool2d(P["A"], (2, 3))),
    "avgpool_2": (2, 2, {"A": (2, 3, 6, 5)}, {"R": (3, 3, 2)},
                  "avg_pool2d(A, 2)", lambda P, I: F().avg_pool2d(P["A"], 2)),
    "avgpool_pad_count": (2, 2, {"A": (2, 2, 5, 5)}, {"R": (2, 3, 3)},
                          "avg_pool2d(A, 3, stride = 2, pad = 1)",
                          lambda P, I: F().avg_pool2d(P["A"], 3, stride=2, padding=1, count_include_pad=True)),
    "avgpool_pad_nocount": (2, 2, {"A": (2, 2, 5, 5)}, {"R": (2, 3, 3)},
                            "avg_pool2d(A, 3, stride = 2, pad = 1, count_pad = 0)",
                            lambda P, I: F().avg_pool2d(P["A"], 3, stride=2, padding=1, count_include_pad=False)),
    "global_avg_pool": (3, 3, {"A": (3, 4, 5, 3)}, {"R": (4,)},
                        "global_avg_pool(A)", lambda P, I: P["A"].mean(dim=(2, 3))),
    "batch_norm_4d": (4, 4, {"g": (3,), "e": (3,)}, {"x": (3, 4, 5), "R": (3, 4, 5)},
                      "batch_norm(x * 2 + 1, g, e)",
                      lambda P, I: F().batch_norm(I["x"] * 2 + 1, None, None, P["g"], P["e"], training=True)),
    "batch_norm_2d_partial": (6, 4, {"W": (5, 4), "g": (4,), "e": (4,)}, {"x": (5,), "R": (4,)},
                              "batch_norm(x @ W, g, e, eps = 0.001)",
                              lambda P, I: F().batch_norm(I["x"] @ P["W"], None, None, P["g"], P["e"], training=True, eps=1e-3)),
    "layer_norm": (3, 3, {"W": (6, 7), "g": (7,), "e": (7,)}, {"x": (6,), "R": (7,)},
                   "layer_norm(x @ W, g, e)", lambda P, I: F().layer_norm(I["x"] @ P["W"], (7,), P["g"], P["e"])),
    "pad": (2, 2, {"A": (2, 3, 4)}, {"R": (4, 7)},
            "pad(A, [0, 0, 1, 0, 2, 1])", lambda P, I: F().pad(P["A"], (2, 1, 1, 0))),
    "slice_concat": (2, 2, {"A": (2, 5), "Bm": (2, 3)}, {"R": (6,)},
                     "concat(slice(A, 1, 1, 4), Bm, axis = 1)",
                     lambda P, I: __import__("torch").cat([P["A"][:, 1:4], P["Bm"]], dim=1)),
    "flatten_conv_dense": (2, 2, {"K": (2, 1, 3, 3), "W": (18, 3)}, {"x": (1, 5, 5), "R": (3,)},
                           "relu(flatten(conv2d(x, K, stride = 2, pad = 1))) @ W",
                           lambda P, I: __import__("torch").relu(F().conv2d(I["x"], P["K"], stride=2, padding=1).flatten(1)) @ P["W"]),
    "dropout": (3, 3, {"W": (4, 6)}, {"x": (4,), "R": (6,)},
                "dropout(tanh(x @ W), 0.4)", None),  # random mask: gradient check only
}


def program(case, dtype):
    B, rows, params, inputs, expr, _ = CASES[case]
    lines = ["dtype %s" % dtype, "dim B = %d" % B]
    batch_params = set()
    for k, s in inputs.items():
        lines.append("input %s : [B%s]" % (k, "".join(", %d" % d for d in s)))
    for k, s in params.items():
        lines.append("param %s : [%s] = normal(0, 1)" % (k, ", ".join(str(d) for d in s)))
    lines.append("output y = %s" % expr)
    lines.append("loss sum(y * R)")
    return "\n".join(lines) + "\n", batch_params


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc")
    ap.add_argument("--workdir")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--dtype", default="f64")
    ap.add_argument("--mode", default="torch")
    ap.add_argument("--seed", type=int, help="the seed of every case run (default: crc32 of the case's name)")
    ap.add_argument("cases", nargs="*")
    a = ap.parse_args()
    if a.list:
        print(";".join(sorted(CASES)))
        return 0
    import numpy as np
    if a.mode == "torch":
        try:
            import torch
        except ImportError:
            msg = "PyTorch not available (install python3-torch)"
            if os.environ.get("DLC_REQUIRE_TORCH") == "1":
                print("FAIL: " + msg)
                return 1
            print("SKIP: " + msg)
            return 77
    import st
    failures = 0
    for case in a.cases or sorted(CASES):
        failures_before = failures
        B, rows, params, inputs, expr, tfn = CASES[case]
        if a.mode == "torch" and tfn is None:
            print("ok   %s: no PyTorch reference (random mask); covered by the gradient check" % case)
            continue
        d = os.path.join(a.workdir, "%s_%s_%s" % (case, a.dtype, a.mode))
        os.makedirs(d, exist_ok=True)
        src, _ = program(case, a.dtype)
        with open(os.path.join(d, "case.dl"), "w") as f:
            f.write(src)
        exe = os.path.join(d, "case")
        subprocess.run([a.dlc, os.path.join(d, "case.dl"), "-o", exe], check=True)
        seed = a.seed if a.seed is not None else zlib.crc32(case.encode())
        print("case %s: seed %d" % (case, seed))
        rng = np.random.default_rng(seed)
        npdt = np.float64 if a.dtype == "f64" else np.float32
        P = {k: rng.normal(0, 1, s).astype(npdt) for k, s in params.items()}
        if case.startswith("maxpool"):  # distinct values: no ties
            for k in P:
                P[k] = (rng.permutation(P[k].size).reshape(P[k].shape) / P[k].size).astype(npdt)
        I = {k: rng.normal(0, 1, (rows,) + s).astype(npdt) for k, s in inputs.items()}
        st.save(os.path.join(d, "p.safetensors"), P)
        files = []
        for k in inputs:
            np.save(os.path.join(d, k + ".npy"), I[k])
            files.append(os.path.join(d, k + ".npy"))
        cmd = [exe, "--load", os.path.join(d, "p.safetensors"), "--batch-from", ",".join(files)]
        if a.mode == "gradcheck":
            p = subprocess.run(cmd + ["--gradcheck"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            ok = p.returncode == 0
            print("%s %s: gradient check%s" % ("ok  " if ok else "FAIL", case, "" if ok else "\n" + p.stdout))
            failures += not ok
            if not ok:
                print(rerun(a, case, seed))
            continue
        out = os.path.join(d, "g.safetensors")
        subprocess.run(cmd + ["--dump-grads", out], check=True, stdout=subprocess.DEVNULL)
        got, _ = st.load(out)
        TP = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in P.items()}
        TI = {k: torch.tensor(v.astype(np.float64)) for k, v in I.items()}
        y = tfn(TP, TI)
        loss = (y * TI["R"].reshape(y.shape)).sum()
        loss.backward()
        tol = 1e-5 if a.dtype == "f64" else 1e-4
        worst = 0.0
        checks = [("loss", got["loss"], loss.detach().numpy()), ("y", got["y"], y.detach().numpy())]
        checks += [("d_" + k, got["d_" + k], TP[k].grad.numpy()) for k in P]
        for name, g, w in checks:
            g = np.asarray(g, dtype=np.float64).reshape(np.shape(w))
            scale = max(float(np.max(np.abs(w))), 1e-12)
            err = float(np.max(np.abs(g - w))) / scale
            worst = max(worst, err)
            if not err <= tol:
                print("FAIL %s: %s differs from PyTorch by %.3g (relative to its largest element)" % (case, name, err))
                failures += 1
        print("%s %s %s: max difference %.2e" % ("ok  " if worst <= tol else "FAIL", case, a.dtype, worst))
        if failures > failures_before:
            print(rerun(a, case, seed))
    return 1 if failures else 0


def rerun(a, case, seed):
    return "rerun: %s %s --dlc %s --workdir %s --dtype %s --mode %s --seed %d %s" % (
        sys.executable, os.path.abspath(__file__), os.path.abspath(a.dlc), os.path.abspath(a.workdir), a.dtype, a.mode,
        seed, case)


if __name__ == "__main__":
    sys.exit(main())
