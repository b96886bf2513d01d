"""dcgan_eval.py - scores generated Fashion-MNIST images with a LeNet-5 trained on the real ones.

usage: /usr/bin/python3 bench/dcgan_eval.py [--lenet /tmp/dcgan_lenet5.pt] [--threads 1]
                                            [--data DIR] NAME=SAMPLES.npy ...

Each SAMPLES.npy holds generated images, [N, 1, 28, 28] or [N, 784], pixels in [0, 1]
(dlc's --sample-out, bench/torch_dcgan.py's --samples-out).  The measures of issue 17:
  * the histogram over the 10 classes of the LeNet's predictions for the samples (a GAN
    that covers the data has every class; "classes" counts those with at least 1% of the
    samples);
  * the Frechet distance between Gaussians fitted to the LeNet's penultimate features
    (the 84 ReLU outputs) of the samples and of the 10,000 test images:
    |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)), in float64.
The reference line "train10k" scores the first 10,000 training images (real against real).
The LeNet (torch_lenet.py's network: PyTorch's default initialisation, 3 epochs of SGD 0.05
momentum 0.9, batch 64, seed 1) is trained once and its weights cached at --lenet.
Prints a table and then one JSON object with every figure.
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist_common import DEFAULT_DATA, read_idx  # noqa: E402  (pins the thread pools first)
from torch_lenet import make_model  # noqa: E402

import numpy as np  # noqa: E402
import scipy.linalg  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def images(data, name):
    a = read_idx(os.path.join(data, name)).astype(np.float32) / 255.0
    return torch.from_numpy(a.reshape(a.shape[0], 1, 28, 28).copy())


def labels(data, name):
    return torch.from_numpy(read_idx(os.path.join(data, name)).astype(np.int64))


def train_lenet(data, epochs=3, seed=1):
    xtr, ytr = images(data, "train-images-idx3-ubyte.gz"), labels(data, "train-labels-idx1-ubyte.gz")
    torch.manual_seed(seed)
    model = make_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(xtr.shape[0], generator=gen)
        for i in range(0, xtr.shape[0], 64):
            idx = perm[i:i + 64]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model


def features(model, x):
    """(penultimate features [N, 84] as float64, predicted classes [N])"""
    body = model[:-1]
    fs, ps = [], []
    with torch.no_grad():
        for i in range(0, x.shape[0], 1000):
            f = body(x[i:i + 1000])
            fs.append(f.double().numpy())
            ps.append(model[-1](f).argmax(1).numpy())
    return np.concatenate(fs), np.concatenate(ps)


def frechet(f1, f2):
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
    if not np.isfinite(covmean).all():
        off = np.eye(s1.shape[0]) * 1e-6
        covmean = scipy.linalg.sqrtm((s1 + off) @ (s2 + off))
    covmean = covmean.real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def load_samples(path):
    a = np.load(path).astype(np.float32)
    if a.ndim == 2 and a.shape[1] == 784 or a.ndim == 4 and a.shape[1:] == (1, 28, 28):
        return torch.from_numpy(a.reshape(a.shape[0], 1, 28, 28).copy())
    sys.exit("%s: expected [N, 784] or [N, 1, 28, 28], got %s" % (path, list(a.shape)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lenet", default="/tmp/dcgan_lenet5.pt", help="cached LeNet weights")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--data", default=DEFAULT_DATA)
    ap.add_argument("samples", nargs="*", help="NAME=SAMPLES.npy")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    if os.path.exists(a.lenet):
        model = make_model()
        model.load_state_dict(torch.load(a.lenet))
    else:
        model = train_lenet(a.data)
        torch.save(model.state_dict(), a.lenet)
    model.eval()

    xte, yte = images(a.data, "t10k-images-idx3-ubyte.gz"), labels(a.data, "t10k-labels-idx1-ubyte.gz")
    fte, pte = features(model, xte)
    result = {"lenet_test_accuracy": float((torch.from_numpy(pte) == yte).double().mean()), "sets": {}}

    sets = [("train10k", images(a.data, "train-images-idx3-ubyte.gz")[:10000])]
    for s in a.samples:
        name, _, path = s.rpartition("=")
        sets.append((name or os.path.basename(path), load_samples(path)))
    print("LeNet-5 test accuracy %.4f" % result["lenet_test_accuracy"])
    print("%-12s %6s %8s %7s  %s" % ("set", "n", "Frechet", "classes", "histogram (classes 0-9)"))
    for name, x in sets:
        f, p = features(model, x)
        hist = np.bincount(p, minlength=10)
        fd = frechet(f, fte)
        classes = int((hist >= 0.01 * len(p)).sum())
        result["sets"][name] = {"n": len(p), "frechet": fd, "histogram": hist.tolist(),
                                "classes_present": int((hist > 0).sum()), "classes_1pct": classes}
        print("%-12s %6d %8.3f %7d  %s" % (name, len(p), fd, classes, " ".join(str(h) for h in hist)))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
