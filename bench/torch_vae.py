"""torch_vae.py - the PyTorch twin of examples/vae_fmnist.dl (and the autoencoders).

Workload contract (the same on both sides):
  * data: Fashion-MNIST IDX files (gzipped), pixels uint8 -> float32 / 255, no labels;
    60,000 training images reshuffled every epoch, batch 128 (468 x 128 + 1 x 96,
    the partial batch kept); the 10,000 test images for the test figure
  * initialisation: torch.nn.Linear's default (what the prelude's Linear draws)
  * Adam lr 1e-3 (betas 0.9, 0.999, eps 1e-8)
  * --model vae: 784 -> 400 -> ReLU -> (mu, logvar) 20 each; z = mu + exp(0.5 logvar) eps;
    20 -> 400 -> ReLU -> 784 logits.  loss = 784 * mean BCE(logits, x) + mean over the
    batch of KL(N(mu, var) || N(0, 1)): the negative ELBO in nats per image.
    The test figure is that loss over all test images, one draw of eps per image.
  * --model ae / dae: 784 -> 400 -> ReLU -> 20 -> 400 -> ReLU -> 784 -> sigmoid, MSE
    (mean over pixels and images) against x; dae encodes x + 0.3 randn_like(x).
    The test figure is the MSE over all test images (dae: of noisy test inputs).
  * timing: the training loop only (batch gather, forward, backward, step)
Prints one JSON object: the test figure after every epoch, images/s, peak RSS.
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


class VAE(torch.nn.Module):
    def __init__(self, h=400, z=20):
        super().__init__()
        self.enc = torch.nn.Linear(784, h)
        self.mu = torch.nn.Linear(h, z)
        self.lv = torch.nn.Linear(h, z)
        self.dec1 = torch.nn.Linear(z, h)
        self.dec2 = torch.nn.Linear(h, 784)
        self.z = z

    def decode(self, z):
        return self.dec2(F.relu(self.dec1(z)))

    def loss(self, x, eps=None):
        h = F.relu(self.enc(x))
        m, lv = self.mu(h), self.lv(h)
        if eps is None:
            eps = torch.randn(x.shape[0], self.z, dtype=x.dtype)
        z = m + torch.exp(0.5 * lv) * eps
        logits = self.decode(z)
        rec = 784 * F.binary_cross_entropy_with_logits(logits, x)
        kl = 0.5 * torch.sum(torch.exp(lv) + m ** 2 - 1 - lv, dim=1)
        return rec + kl.mean()


class AE(torch.nn.Module):
    def __init__(self, noise=0.0, h=400, z=20):
        super().__init__()
        self.enc1 = torch.nn.Linear(784, h)
        self.enc2 = torch.nn.Linear(h, z)
        self.dec1 = torch.nn.Linear(z, h)
        self.dec2 = torch.nn.Linear(h, 784)
        self.noise = noise

    def loss(self, x, eps=None):
        inp = x + self.noise * torch.randn_like(x) if self.noise else x
        code = self.enc2(F.relu(self.enc1(inp)))
        recon = torch.sigmoid(self.dec2(F.relu(self.dec1(code))))
        return F.mse_loss(recon, x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", choices=["vae", "ae", "dae"], default="vae")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--blas-threads", type=int, default=None)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", default=DEFAULT_DATA)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    def images(name):
        a = read_idx(os.path.join(args.data, name)).astype(np.float32) / 255.0
        return torch.from_numpy(a.reshape(a.shape[0], 784).copy())
    xtr = images("train-images-idx3-ubyte.gz")
    xte = images("t10k-images-idx3-ubyte.gz")

    torch.manual_seed(args.seed)
    model = VAE() if args.model == "vae" else AE(noise=0.3 if args.model == "dae" else 0.0)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)

    def test_figure():
        with torch.no_grad():
            tot = 0.0
            for i in range(0, xte.shape[0], 1000):
                xb = xte[i:i + 1000]
                tot += float(model.loss(xb)) * xb.shape[0]
            return tot / xte.shape[0]

    n = xtr.shape[0]
    train_time, figures, losses = 0.0, [], []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(n, generator=gen)
        tot = 0.0
        for i in range(0, n, args.batch):
            xb = xtr[perm[i:i + args.batch]]
            loss = model.loss(xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * xb.shape[0]
        train_time += time.perf_counter() - t0
        losses.append(tot / n)
        figures.append(test_figure())
    print(json.dumps({
        "system": "pytorch", "torch": torch.__version__, "model": args.model,
        "threads": args.threads, "epochs": args.epochs, "batch": args.batch,
        "train_loss": losses, "test": figures,
        "test_metric": "-ELBO nats/image" if args.model == "vae" else "MSE",
        "images_per_s": n * args.epochs / train_time,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }))


if __name__ == "__main__":
    main()
