#!/usr/bin/env python3
"""examples/realnvp_moons.dl: gradients against PyTorch, gradient check, inverse, training.

usage: flow_test.py --dlc DLC --workdir DIR MODE
  torch      f64, -D B=16 -D H=16: the loss, z, each point's NLL and every parameter's gradient
             on one batch (--load --batch-from --dump-grads) equal the PyTorch twin's
             (bench/torch_realnvp.py) with the same parameters, to 1e-10 relative; exit 77
             without PyTorch unless DLC_REQUIRE_TORCH=1
  gradcheck  f64, -D B=16 -D H=16: the trainer's --gradcheck (central differences) passes
  inverse    f64, the full model after 5 training steps: x -> z (--predict) -> x (--sample
             with the draws `eps` fed from z) gives x back within 1e-10, while z is far from x
  picture    scripts/flow_pictures.sh with 30 steps writes a PNG (exit 77 without gnuplot)
  train      f32, the full model: 300 steps, the test NLL on 10,000 moons falls below 0.9
             nats/point (2.3 at the start; about 0.65 reached)
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
EXAMPLE = os.path.join(ROOT, "examples", "realnvp_moons.dl")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bench"))


def run(cmd, cwd):
    p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        print("FAIL: %s exited with %d\n%s" % (" ".join(cmd), p.returncode, p.stdout))
        sys.exit(1)
    return p.stdout


def moons(rng, n, noise=0.05):
    """make_moons without scikit-learn: half on each arc, evenly spaced, plus noise, shuffled."""
    import numpy as np
    a = n // 2
    t0, t1 = np.linspace(0, np.pi, a), np.linspace(0, np.pi, n - a)
    x = np.concatenate([np.stack([np.cos(t0), np.sin(t0)], 1), np.stack([1 - np.cos(t1), 0.5 - np.sin(t1)], 1)])
    return rng.permutation(x + noise * rng.standard_normal(x.shape))


# -O1 builds the trainers in a third of -O3's time; these checks run only a few steps
FAST = ["--cflags", "-O1"]


def small(a, w):
    exe = os.path.join(w, "small")
    run([a.dlc] + FAST + ["--dtype", "f64", "-D", "B=16", "-D", "H=16", EXAMPLE, "-o", exe], w)
    return exe


def mode_torch(a, w):
    try:
        import torch
    except ImportError:
        msg = "PyTorch not available (install python3-torch)"
        if os.environ.get("DLC_REQUIRE_TORCH") == "1":
            print("FAIL: " + msg)
            return 1
        print("SKIP: " + msg)
        return 77
    import numpy as np
    import st
    from torch_realnvp import RealNVP, dlc_state
    exe = small(a, w)
    torch.manual_seed(3)
    model = RealNVP(h=16).double()
    with torch.no_grad():  # larger scales than the initialisation's, so that tanh and exp matter
        for p in model.parameters():
            p.mul_(3)
    x = moons(np.random.default_rng(5), 16)
    np.save(os.path.join(w, "x.npy"), x)
    st.save(os.path.join(w, "p.safetensors"), dlc_state(model))
    g = os.path.join(w, "g.safetensors")
    run([exe, "--load", os.path.join(w, "p.safetensors"), "--batch-from", os.path.join(w, "x.npy"),
         "--dump-grads", g], w)
    got, _ = st.load(g)
    z, _ = model(torch.from_numpy(x))
    nlp = model.nll(torch.from_numpy(x))
    loss = nlp.mean()
    loss.backward()
    want = {"loss": loss.detach().numpy(), "z": z.detach().numpy(), "nlp": nlp.detach().numpy()}
    for i in range(len(model.s)):
        for n, seq in (("s", model.s[i]), ("t", model.t[i])):
            for k, idx in (("l1", 0), ("l2", 2), ("l3", 4)):
                want["d_c.%d.%s.%s.W" % (i, n, k)] = seq[idx].weight.grad.numpy().T
                want["d_c.%d.%s.%s.b" % (i, n, k)] = seq[idx].bias.grad.numpy()
    missing = [k for k in got if k.startswith("d_") and k not in want and k not in ("d_ma", "d_mb")]
    if missing:
        print("FAIL: gradients without a PyTorch counterpart: %s" % ", ".join(missing))
        return 1
    worst, failures = 0.0, 0
    for name, wv in want.items():
        if name not in got:
            print("FAIL: the trainer wrote no %s" % name)
            failures += 1
            continue
        gv = np.asarray(got[name], dtype=np.float64).reshape(np.shape(wv))
        err = float(np.max(np.abs(gv - wv))) / max(float(np.max(np.abs(wv))), 1e-300)
        worst = max(worst, err)
        if not err <= 1e-10:
            print("FAIL: %s differs from PyTorch by %.3g (relative to its largest element)" % (name, err))
            failures += 1
    print("%s torch: loss %.10f, %d tensors compared, largest relative difference %.2e"
          % ("ok  " if not failures else "FAIL", float(want["loss"]), len(want), worst))
    return 1 if failures else 0


def mode_gradcheck(a, w):
    import numpy as np
    exe = small(a, w)
    np.save(os.path.join(w, "x.npy"), moons(np.random.default_rng(7), 16))
    out = run([exe, "--seed", "2", "--batch-from", os.path.join(w, "x.npy"), "--gradcheck"], w)
    print(out.strip().splitlines()[-1] if out.strip() else "ok gradcheck")
    return 0


def mode_inverse(a, w):
    import numpy as np
    exe = os.path.join(w, "flow64")
    run([a.dlc] + FAST + ["--dtype", "f64", EXAMPLE, "-o", exe], w)
    ck = os.path.join(w, "ck.safetensors")
    run([exe, "--epochs", "5", "--save", ck], w)
    x = moons(np.random.default_rng(11), 200)
    np.save(os.path.join(w, "x.npy"), x)
    run([exe, "--load", ck, "--predict", os.path.join(w, "x.npy"), "--predict-out", os.path.join(w, "z.npy")], w)
    z = np.load(os.path.join(w, "z.npy"))
    np.save(os.path.join(w, "eps.npy"), z.reshape(2, 100, 2))  # batch k of --sample takes draw k
    back = os.path.join(w, "back.npy")
    run([exe, "--load", ck, "--sample", "200", "--noise", "eps=" + os.path.join(w, "eps.npy"), "--sample-out", back], w)
    xb = np.load(back)
    err, moved = float(np.max(np.abs(xb - x))), float(np.max(np.abs(z - x)))
    ok = err <= 1e-10 and moved > 0.1
    print("%s inverse: max |x - inverse(f(x))| = %.3g over 200 points (max |f(x) - x| = %.3g)"
          % ("ok  " if ok else "FAIL", err, moved))
    return 0 if ok else 1


def mode_train(a, w):
    exe = os.path.join(w, "flow")
    run([a.dlc, EXAMPLE, "-o", exe], w)
    out = run([exe, "--epochs", "300", "--seed", "1"], w)
    m = re.search(r"^test: loss ([0-9.eE+-]+|nan|-?inf)", out, re.M)
    if not m:
        print("FAIL: no test loss in the output\n" + out)
        return 1
    nll = float(m.group(1))
    ok = nll < 0.9
    print("%s train: test NLL %.4f nats/point after 300 steps (bound 0.9)" % ("ok  " if ok else "FAIL", nll))
    return 0 if ok else 1


def mode_picture(a, w):
    import shutil
    if not shutil.which("gnuplot"):
        print("SKIP: gnuplot not installed (scripts/setup.sh installs gnuplot-nox)")
        return 77
    png = os.path.join(w, "realnvp_moons.png")
    if os.path.exists(png):
        os.remove(png)
    env = dict(os.environ, DLC=a.dlc, STEPS="30", DLC_CFLAGS="-O1")
    p = subprocess.run([os.path.join(ROOT, "scripts", "flow_pictures.sh"), png], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    head = b""
    if os.path.exists(png):
        with open(png, "rb") as f:
            head = f.read(8)
    ok = p.returncode == 0 and head == b"\x89PNG\r\n\x1a\n" and "within 0.15 of the arcs" in p.stdout
    print("%s picture: %s" % ("ok  " if ok else "FAIL", png) + ("" if ok else "\n" + p.stdout))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("mode", choices=["torch", "gradcheck", "inverse", "picture", "train"])
    a = ap.parse_args()
    a.dlc = os.path.abspath(a.dlc)
    w = os.path.join(os.path.abspath(a.workdir), a.mode)
    os.makedirs(w, exist_ok=True)
    return globals()["mode_" + a.mode](a, w)


if __name__ == "__main__":
    sys.exit(main())
