"""torch_dcgan.py - the PyTorch twin of examples/dcgan_fmnist.dl.

usage: /usr/bin/python3 bench/torch_dcgan.py [--epochs 1] [--threads 1] [--seed 1]
                                             [--samples 10000] [--samples-out s.npy]
                                             [--save G.pt] [--data DIR]

Workload contract (the same on both sides):
  * data: Fashion-MNIST training images (IDX, gzipped), uint8 -> float32 / 255 in [0, 1],
    shape [N, 1, 28, 28], no labels; reshuffled every epoch, batch 64 (937 x 64 + 1 x 32,
    the partial batch kept, its noise drawn for its 32 rows)
  * G: z [64] -> Linear(64, 64*7*7) -> ReLU -> [64, 7, 7] -> ConvTranspose2d(64, 32, 4,
    stride 2, padding 1) -> ReLU -> ConvTranspose2d(32, 1, 4, 2, 1) -> sigmoid: [1, 28, 28]
  * D: Conv2d(1, 32, 4, 2, 1) -> LeakyReLU(0.2) -> Conv2d(32, 64, 4, 2, 1) -> LeakyReLU(0.2)
    -> flatten -> Linear(3136, 1): a logit
  * initialisation: PyTorch's defaults for every layer (what the prelude's Linear and
    Conv2d and the example's ConvTranspose2d draw)
  * a round per batch: D's step on softplus(-D(x)).mean() + softplus(D(G(z))).mean(), then
    G's step on softplus(-D(G(z))).mean() with the updated D and the same z;
    Adam lr 2e-4, betas (0.5, 0.999), eps 1e-8, one optimizer per network
  * timing: the training loop only (batch gather, noise, both steps)
  * samples: G(randn) for --samples draws, float32 [N, 1, 28, 28] .npy, as dlc's --sample;
    a --samples-out with %d is written after every epoch (the epoch count in its name);
    the draws come from a generator of their own, so they leave training's noise unchanged
Prints one JSON object: the mean losses of each epoch, images/s, peak RSS.
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist_common import DEFAULT_DATA, read_idx  # noqa: E402  (pins the thread pools first)

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

Z = 64


class Generator(torch.nn.Module):
    def __init__(self, z=Z, c=32):
        super().__init__()
        self.c = c
        self.fc = torch.nn.Linear(z, 2 * c * 7 * 7)
        self.up1 = torch.nn.ConvTranspose2d(2 * c, c, 4, stride=2, padding=1)
        self.up2 = torch.nn.ConvTranspose2d(c, 1, 4, stride=2, padding=1)

    def forward(self, u):
        h = F.relu(self.fc(u).view(u.shape[0], 2 * self.c, 7, 7))
        return torch.sigmoid(self.up2(F.relu(self.up1(h))))


class Discriminator(torch.nn.Module):
    def __init__(self, c=32):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, c, 4, stride=2, padding=1)
        self.conv2 = torch.nn.Conv2d(c, 2 * c, 4, stride=2, padding=1)
        self.fc = torch.nn.Linear(2 * c * 7 * 7, 1)

    def forward(self, u):
        h = F.leaky_relu(self.conv1(u), 0.2)
        h = F.leaky_relu(self.conv2(h), 0.2)
        return self.fc(h.flatten(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=0, help="stop after this many rounds (timing)")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--samples-out", default=None)
    ap.add_argument("--save", default=None, help="write G's and D's state dicts here")
    ap.add_argument("--data", default=DEFAULT_DATA)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    a = read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    xtr = torch.from_numpy(a.reshape(a.shape[0], 1, 28, 28).copy())

    torch.manual_seed(args.seed)
    G, D = Generator(), Discriminator()
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(args.seed)

    def write_samples(path):
        g = torch.Generator().manual_seed(args.seed + 1000)
        with torch.no_grad():
            out = [G(torch.randn(min(1000, args.samples - k), Z, generator=g)).numpy()
                   for k in range(0, args.samples, 1000)]
        np.save(path, np.concatenate(out).astype(np.float32))

    n = xtr.shape[0]
    train_time, d_losses, g_losses, rounds = 0.0, [], [], 0
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        dt = gt = 0.0
        seen = 0
        for i in range(0, n, args.batch):
            xb = xtr[perm[i:i + args.batch]]
            z = torch.randn(xb.shape[0], Z)
            fake = G(z)
            d_loss = F.softplus(-D(xb)).mean() + F.softplus(D(fake.detach())).mean()
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
            g_loss = F.softplus(-D(fake)).mean()
            opt_g.zero_grad()
            g_loss.backward()
            opt_g.step()
            dt += float(d_loss.detach()) * xb.shape[0]
            gt += float(g_loss.detach()) * xb.shape[0]
            seen += xb.shape[0]
            rounds += 1
            if args.steps and rounds >= args.steps:
                break
        train_time += time.perf_counter() - t0
        d_losses.append(dt / seen)
        g_losses.append(gt / seen)
        if args.samples_out and "%d" in args.samples_out:
            write_samples(args.samples_out % len(d_losses))
        if args.steps and rounds >= args.steps:
            break
    imgs = rounds * args.batch if args.steps else n * args.epochs
    if args.samples_out and "%d" not in args.samples_out:
        write_samples(args.samples_out)

    if args.save:
        torch.save({"G": G.state_dict(), "D": D.state_dict()}, args.save)
    print(json.dumps({
        "system": "pytorch", "torch": torch.__version__, "model": "dcgan",
        "threads": args.threads, "epochs": args.epochs, "batch": args.batch, "rounds": rounds,
        "d_loss": d_losses, "g_loss": g_losses,
        "images_per_s": imgs / train_time,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "samples_out": args.samples_out,
    }))


if __name__ == "__main__":
    main()
