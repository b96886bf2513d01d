#!/usr/bin/python3
"""A GAN on the two moons in PyTorch: the twin of examples/gan_moons.dl (issue 17).

The contract: G maps z (32 standard normals) through Linear(32, 128), ReLU, Linear(128, 2);
D maps a point through Linear(2, 128), LeakyReLU(0.2), Linear(128, 1) to a logit.  PyTorch's
default initialisation (weights and biases uniform in +-1/sqrt(fan_in)).  Training set: n = 1000
points of make_moons (noise 0.05), drawn once with numpy RandomState(seed) (gan_metrics.make_moons,
scikit-learn's make_moons bit for bit), reshuffled every epoch (torch.randperm), batches of 50.
Each batch: one D step, then one G step, each with its own Adam (lr 1e-3, betas 0.9, 0.999,
eps 1e-8) and fresh noise:
  D: z ~ N(0, I) [50, 32]; loss = BCE-with-logits(D(x), 1) + BCE-with-logits(D(G(z)), 0), each
     a mean over the batch, G(z) detached;
  G: z' ~ N(0, I) [50, 32]; loss = BCE-with-logits(D(G(z')), 1) (the non-saturating loss).
300 epochs (6,000 steps of each).  Then 2,000 samples G(z) are scored with bench/gan_metrics.py
against 2,000 fresh moons of the same noise (RandomState(seed + 1000); real-vs-real: those and
RandomState(seed + 1001)).

usage: /usr/bin/python3 bench/torch_gan_moons.py [--seed 1] [--epochs 300] [--threads 1]
            [--save-samples s.npy] [--png s.png] [--json out.jsonl] [--samples 2000]
            [--n 1000] [--noise 0.05] [--d-act leaky0.2] [--beta1 0.9] [--fresh]
Prints one JSON line: the metrics (near_arcs, second_moon, mmd2, mmd2_real, ...; see
gan_metrics.py), the last epoch's mean losses, and the training time per epoch (the training
loop only, at --threads threads).  --json appends that line to a file.  --png draws the samples
over the training points with gnuplot (matplotlib is not installed for /usr/bin/python3).
--n, --noise, --d-act (leaky0.2, leaky0.01, relu), --beta1 (both optimizers) and --fresh (the
training set drawn anew every epoch from the same RandomState, as dlc's moons(...) generator
does) move away from the contract, for comparisons; the JSON line records them.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gan_metrics  # noqa: E402

Z_DIM = 32
HIDDEN = 128


def activation(name):
    if name == "relu":
        return nn.ReLU()
    if name.startswith("leaky"):
        return nn.LeakyReLU(float(name[len("leaky"):]))
    raise ValueError("unknown activation %r (relu, leaky0.2, ...)" % name)


def models(d_act="leaky0.2"):
    g = nn.Sequential(nn.Linear(Z_DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2))
    d = nn.Sequential(nn.Linear(2, HIDDEN), activation(d_act), nn.Linear(HIDDEN, 1))
    return g, d


def train(g, d, data, epochs, batch=50, lr=1e-3, redraw=None, beta1=0.9):
    """Alternating D and G steps over data [n, 2]; returns (seconds, last epoch's mean losses).
    redraw: None, or a function that returns the next epoch's training set (drawn before the
    epoch's clock starts)."""
    opt_d = torch.optim.Adam(d.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_g = torch.optim.Adam(g.parameters(), lr=lr, betas=(beta1, 0.999))
    n = data.shape[0]
    seconds = 0.0
    for epoch in range(epochs):
        if redraw and epoch:
            data = redraw()
        t0 = time.perf_counter()
        perm = torch.randperm(n)
        sum_d = sum_g = 0.0
        steps = 0
        for i in range(0, n, batch):
            x = data[perm[i:i + batch]]
            b = x.shape[0]
            fake = g(torch.randn(b, Z_DIM)).detach()
            real_logit, fake_logit = d(x), d(fake)
            loss_d = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                      + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            logit = d(g(torch.randn(b, Z_DIM)))
            loss_g = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            sum_d += loss_d.item()
            sum_g += loss_g.item()
            steps += 1
        seconds += time.perf_counter() - t0
    return seconds, (sum_d / steps, sum_g / steps)


def scatter_png(path, samples, real, title):
    """Samples (red) over the real points (grey) with gnuplot's pngcairo terminal."""
    if not shutil.which("gnuplot"):
        sys.exit("torch_gan_moons.py: --png needs gnuplot (apt-get install gnuplot-nox)")
    tmp = tempfile.mkdtemp()
    try:
        np.savetxt(os.path.join(tmp, "real.txt"), real)
        np.savetxt(os.path.join(tmp, "samples.txt"), samples)
        script = "\n".join([
            'set terminal pngcairo size 800,560 font "Helvetica,11"',
            "set output '%s'" % os.path.abspath(path).replace("'", "''"),
            "set size ratio -1",
            "set xrange [-1.6:2.6]",
            "set yrange [-1.2:1.7]",
            "set key top right box opaque",
            "set xlabel 'x_1'",
            "set ylabel 'x_2'",
            "set title '%s'" % title.replace("'", "''"),
            "plot '%s' using 1:2 with points pt 7 ps 0.35 lc rgb '#b0b0b0' title 'training points', \\"
            % os.path.join(tmp, "real.txt"),
            "     '%s' using 1:2 with points pt 7 ps 0.35 lc rgb '#d62728' title 'samples G(z)'"
            % os.path.join(tmp, "samples.txt"),
            ""])
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    finally:
        shutil.rmtree(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--n", type=int, default=1000, help="training points (default 1000)")
    ap.add_argument("--noise", type=float, default=0.05, help="noise of the moons (default 0.05)")
    ap.add_argument("--d-act", default="leaky0.2", help="D's hidden activation (default leaky0.2)")
    ap.add_argument("--fresh", action="store_true",
                    help="draw the training set anew every epoch (from the same RandomState), as dlc's moons(...)")
    ap.add_argument("--beta1", type=float, default=0.9, help="Adam's beta1 for both (default 0.9)")
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--save-samples", metavar="PATH", help="write the samples (.npy [N, 2], float32)")
    ap.add_argument("--png", metavar="PATH", help="scatter of the samples over the training points")
    ap.add_argument("--json", metavar="PATH", help="append the JSON line to PATH")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    data_np = gan_metrics.make_moons(a.n, a.noise, rng)[0].astype(np.float32)
    redraw = None
    if a.fresh:
        def redraw():
            return torch.from_numpy(gan_metrics.make_moons(a.n, a.noise, rng)[0].astype(np.float32))
    g, d = models(a.d_act)
    seconds, (loss_d, loss_g) = train(g, d, torch.from_numpy(data_np), a.epochs, redraw=redraw, beta1=a.beta1)
    with torch.no_grad():
        samples = g(torch.randn(a.samples, Z_DIM)).numpy()
    if a.save_samples:
        np.save(a.save_samples, samples)
    res = {"system": "pytorch " + torch.__version__, "threads": torch.get_num_threads(), "seed": a.seed,
           "epochs": a.epochs, "n": a.n, "noise": a.noise, "d_act": a.d_act, "fresh": a.fresh,
           "beta1": a.beta1,
           "params_g": sum(p.numel() for p in g.parameters()),
           "params_d": sum(p.numel() for p in d.parameters())}
    res.update(gan_metrics.metrics(samples, a.noise, a.seed + 1000))
    if a.save_samples:
        res["samples_file"] = a.save_samples
    res.update({"loss_d": loss_d, "loss_g": loss_g, "train_s": seconds,
                "s_per_epoch": seconds / a.epochs if a.epochs else 0.0})
    line = json.dumps(res)
    print(line)
    if a.json:
        with open(a.json, "a") as f:
            f.write(line + "\n")
    if a.png:
        scatter_png(a.png, samples, data_np, "GAN (PyTorch), %d epochs, seed %d: %d samples over %d training points"
                    % (a.epochs, a.seed, a.samples, a.n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
