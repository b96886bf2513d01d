#!/usr/bin/python3
"""Real NVP on the two moons in PyTorch: the twin of examples/realnvp_moons.dl.

The contract both sides follow: six affine couplings with masks [1, 0], [0, 1], [1, 0], ...;
coupling i with mask m maps x to z = m x + (1 - m) (x exp(s) + t), s = (1 - m) tanh(S(m x)),
t = T(m x), log|det J| = sum(s); S and T are Linear(2, H), LeakyReLU(0.01), Linear(H, H),
LeakyReLU(0.01), Linear(H, 2) with PyTorch's default initialisation (uniform in +-1/sqrt(fan_in)
for weights and biases), H = 256.  Loss: the mean over the batch of
0.5 |z|^2 + log(2 pi) - sum of log|det J|.  Adam, lr 1e-4, betas (0.9, 0.999), eps 1e-8.
Each iteration trains on 100 fresh points of make_moons(noise = 0.05).  Samples: the inverse
couplings, last first, on standard normal draws.

usage: torch_realnvp.py [--iters 1000,3000] [--test test.npy] [--samples 10000] [--seed 1]
                        [--threads 1] [--json out.json] [--samples-out s.npy]
Prints one JSON object: test NLL (nats/point) at each checkpoint in --iters, the fraction of
samples within 0.15 of the moons' arcs after the last, and the training time.
"""
import argparse
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn as nn

LOG_2PI = math.log(2 * math.pi)


def net(h):
    return nn.Sequential(nn.Linear(2, h), nn.LeakyReLU(0.01), nn.Linear(h, h), nn.LeakyReLU(0.01), nn.Linear(h, 2))


class RealNVP(nn.Module):
    def __init__(self, h=256, n=6):
        super().__init__()
        self.s = nn.ModuleList()
        self.t = nn.ModuleList()
        for _ in range(n):  # built in dlc's order: coupling i's s net, then its t net
            self.s.append(net(h))
            self.t.append(net(h))
        self.register_buffer("masks", torch.tensor([[1.0, 0.0], [0.0, 1.0]] * (n // 2)))

    def forward(self, x):
        """z = f(x) and log|det df/dx| per point."""
        z, logdet = x, x.new_zeros(x.shape[0])
        for i in range(len(self.s)):
            m = self.masks[i].to(x.dtype)
            zm = m * z
            s = (1 - m) * torch.tanh(self.s[i](zm))
            z = zm + (1 - m) * (z * torch.exp(s) + self.t[i](zm))
            logdet = logdet + s.sum(dim=1)
        return z, logdet

    def inverse(self, z):
        x = z
        for i in reversed(range(len(self.s))):
            m = self.masks[i].to(z.dtype)
            xm = m * x
            x = xm + (1 - m) * (x - self.t[i](xm)) * torch.exp(-torch.tanh(self.s[i](xm)))
        return x

    def nll(self, x):
        z, logdet = self(x)
        return 0.5 * (z ** 2).sum(dim=1) + LOG_2PI - logdet


def dlc_state(model):
    """The parameters under examples/realnvp_moons.dl's names (W is torch's weight transposed)."""
    out = {"ma": np.array([1.0, 0.0]), "mb": np.array([0.0, 1.0])}
    for i in range(len(model.s)):
        for net_name, seq in (("s", model.s[i]), ("t", model.t[i])):
            for k, idx in (("l1", 0), ("l2", 2), ("l3", 4)):
                lin = seq[idx]
                out["c.%d.%s.%s.W" % (i, net_name, k)] = lin.weight.detach().numpy().T.copy()
                out["c.%d.%s.%s.b" % (i, net_name, k)] = lin.bias.detach().numpy().copy()
    return out


def arc_distance(p):
    """Distance of each point of p [N, 2] to the two moons' arcs (sklearn's make_moons without noise)."""
    def arc(q, upper):
        r = np.hypot(q[:, 0], q[:, 1])
        on = q[:, 1] >= 0 if upper else q[:, 1] <= 0
        ends = np.minimum(np.hypot(q[:, 0] - 1, q[:, 1]), np.hypot(q[:, 0] + 1, q[:, 1]))
        return np.where(on, np.abs(r - 1), ends)
    return np.minimum(arc(p, True), arc(p - np.array([1.0, 0.5]), False))


def near_arcs(p, d=0.15):
    return float(np.mean(arc_distance(np.asarray(p, dtype=np.float64)) <= d))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", default="1000,3000")
    ap.add_argument("--test", help="test points (.npy [N, 2]); default 10,000 fresh moons")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--samples-out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    from sklearn.datasets import make_moons
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.RandomState(a.seed)
    if a.test:
        test = np.load(a.test).astype(np.float32)
    else:
        test = make_moons(10000, noise=0.05, random_state=rng)[0].astype(np.float32)
    test = torch.from_numpy(test)
    model = RealNVP()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    marks = sorted(int(v) for v in a.iters.split(","))
    res = {"system": "pytorch " + torch.__version__, "threads": a.threads, "seed": a.seed,
           "params": sum(p.numel() for p in model.parameters()), "test_nll": {}}
    t_train = 0.0
    for it in range(1, marks[-1] + 1):
        x = torch.from_numpy(make_moons(100, noise=0.05, random_state=rng)[0].astype(np.float32))
        t0 = time.perf_counter()
        loss = model.nll(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        t_train += time.perf_counter() - t0
        if it in marks:
            with torch.no_grad():
                res["test_nll"][str(it)] = float(model.nll(test).double().mean())
    with torch.no_grad():
        s = model.inverse(torch.randn(a.samples, 2)).numpy()
    if a.samples_out:
        np.save(a.samples_out, s)
    res["near_arcs"] = near_arcs(s)
    res["train_s"] = t_train
    res["steps_per_s"] = marks[-1] / t_train
    print(json.dumps(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
