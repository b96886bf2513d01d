#!/usr/bin/python3
"""torch_fgsm.py - the PyTorch twin of examples/fgsm_lenet.dl and examples/advtrain_lenet.dl:
LeNet-5 on Fashion-MNIST under FGSM and PGD-10 attacks, optionally FGSM-trained.

Workload contract (the same on both sides):
  * data, model, shuffling: as fmnist_common / torch_lenet.py (pixels /255 in [0, 1],
    batch 64, reshuffled every epoch from a generator seeded once with --seed, the
    last partial batch kept; LeNet-5 conv6-pool-conv16-pool-120-84-10)
  * init: --init default (PyTorch's own Conv2d/Linear init, the default here) or he
  * training: --epochs 3, SGD lr 0.05 momentum 0.9, softmax CE (mean over the batch)
  * --adv-train: each batch's loss is 0.5 CE(f(x), y) + 0.5 CE(f(x_adv), y), x_adv the
    FGSM example at eps --adv-eps (0.1) from the current parameters, held constant
  * FGSM at eps: x_adv = clamp(x + eps sign(grad_x CE(f(x), y)), 0, 1), the gradient of
    the batch-mean loss, model in eval mode, test batches of 64
  * PGD-10 at eps: x_0 = x (no random start), 10 steps of
    x_{k+1} = clamp(min(max(x_k + a sign(grad_x CE(f(x_k), y)), x - eps), x + eps), 0, 1),
    a = eps / 4
  * figures: accuracy on the 10,000 test images, clean, FGSM at eps .02/.05/.1/.2,
    PGD-10 at .05/.1
  * --time: wall time of one FGSM evaluation of the test set at eps 0.1 (median of 3
    runs) and of each training epoch (the training loop only: batch gather, forward,
    attack when adversarially training, backward, step)
Prints one JSON line.

usage: /usr/bin/python3 bench/torch_fgsm.py [--seed S] [--threads 1] [--epochs 3]
                                             [--init default|he] [--adv-train] [--time]
                                             [--save PATH | --load PATH]
                                             [--pgd-step F] [--pgd-random-start]
  --save/--load keep a trained model and attack it again without training;
  --pgd-step and --pgd-random-start change the PGD attack (not the contract) for comparisons.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fmnist_common import DEFAULT_DATA, _BT, he_uniform_, load_fmnist, torch  # noqa: E402  (pins the thread pools first)
from torch_lenet import make_model  # noqa: E402

import torch.nn.functional as F  # noqa: E402

FGSM_EPS = (0.02, 0.05, 0.1, 0.2)
PGD_EPS = (0.05, 0.1)
PGD_STEPS = 10


def input_grad(model, x, y):
    """Gradient of the batch-mean cross-entropy with respect to the input."""
    x = x.detach().requires_grad_(True)
    loss = F.cross_entropy(model(x), y)
    (g,) = torch.autograd.grad(loss, x)
    return g


def fgsm(model, x, y, eps):
    return torch.clamp(x + eps * torch.sign(input_grad(model, x, y)), 0.0, 1.0)


def pgd(model, x, y, eps, steps=PGD_STEPS, step_frac=0.25, start_gen=None):
    a = eps * step_frac
    lo, hi = x - eps, x + eps
    xk = x
    if start_gen is not None:
        noise = torch.rand(x.shape, generator=start_gen) * (2 * eps) - eps
        xk = torch.clamp(x + noise, 0.0, 1.0)
    for _ in range(steps):
        xk = xk + a * torch.sign(input_grad(model, xk, y))
        xk = torch.clamp(torch.min(torch.max(xk, lo), hi), 0.0, 1.0)
    return xk


def accuracy(model, xte, yte, batch, attack=None):
    """Share of the test images classified correctly, after `attack` when given."""
    model.eval()
    correct = 0
    for i in range(0, xte.shape[0], batch):
        xb, yb = xte[i:i + batch], yte[i:i + batch]
        if attack is not None:
            xb = attack(model, xb, yb).detach()
        with torch.no_grad():
            correct += (model(xb).argmax(1) == yb).sum().item()
    return correct / xte.shape[0]


def train_epoch(model, opt, xtr, ytr, perm, batch, adv_eps):
    model.train()
    n = xtr.shape[0]
    loss_sum = torch.zeros(())
    for i in range(0, n, batch):
        idx = perm[i:i + batch]
        xb, yb = xtr[idx], ytr[idx]
        opt.zero_grad(set_to_none=True)
        if adv_eps is None:
            loss = F.cross_entropy(model(xb), yb)
        else:
            # One forward serves both the input gradient and the clean half of the loss.
            xg = xb.requires_grad_(True)
            clean = F.cross_entropy(model(xg), yb)
            (g,) = torch.autograd.grad(clean, xg, retain_graph=True)
            x_adv = torch.clamp(xb.detach() + adv_eps * torch.sign(g), 0.0, 1.0).detach()
            loss = 0.5 * clean + 0.5 * F.cross_entropy(model(x_adv), yb)
        loss.backward()
        opt.step()
        loss_sum += loss.detach() * idx.numel()
    return loss_sum.item() / n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op (OpenMP) threads; also OpenBLAS threads unless --blas-threads")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="OpenBLAS pool size (default: same as --threads)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--init", choices=["default", "he"], default="default")
    ap.add_argument("--adv-train", action="store_true",
                    help="train on 0.5 CE(clean) + 0.5 CE(FGSM example at --adv-eps)")
    ap.add_argument("--adv-eps", type=float, default=0.1)
    ap.add_argument("--time", action="store_true",
                    help="time one FGSM evaluation of the test set at eps 0.1 (median of 3)")
    ap.add_argument("--pgd-step", type=float, default=0.25,
                    help="PGD step as a fraction of eps (the contract: 0.25)")
    ap.add_argument("--pgd-random-start", action="store_true",
                    help="start PGD at x + U(-eps, eps), clamped to [0, 1] (the contract: no)")
    ap.add_argument("--save", metavar="PATH", help="save the trained model's state_dict")
    ap.add_argument("--load", metavar="PATH",
                    help="evaluate the state_dict at PATH instead of training")
    ap.add_argument("--data", default=DEFAULT_DATA)
    args = ap.parse_args()
    if args.load:
        args.epochs = 0
    torch.set_num_threads(args.threads)

    xtr, ytr, xte, yte = load_fmnist(args.data)
    xtr = xtr.reshape(-1, 1, 28, 28).contiguous()
    xte = xte.reshape(-1, 1, 28, 28).contiguous()

    torch.manual_seed(args.seed)
    model = make_model()
    if args.init == "he":
        he_uniform_(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    gen = torch.Generator().manual_seed(args.seed)

    if args.load:
        model.load_state_dict(torch.load(args.load))
    adv_eps = args.adv_eps if args.adv_train else None
    epoch_times, epoch_losses = [], []
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(xtr.shape[0], generator=gen)
        epoch_losses.append(train_epoch(model, opt, xtr, ytr, perm, args.batch, adv_eps))
        epoch_times.append(time.perf_counter() - t0)

    if args.save:
        torch.save(model.state_dict(), args.save)

    t_eval0 = time.perf_counter()
    b = args.batch
    out = {
        "system": "pytorch-%s-eager" % torch.__version__,
        "workload": "lenet-fgsm-advtrain" if args.adv_train else "lenet-fgsm",
        "threads": args.threads,
        "torch_num_threads": torch.get_num_threads(),
        "blas_threads": int(_BT),
        "seed": args.seed,
        "epochs": args.epochs,
        "batch": args.batch,
        "init": args.init,
        "adv_train": args.adv_train,
        "adv_eps": args.adv_eps if args.adv_train else None,
        "loaded": args.load,
        "pgd_step": args.pgd_step,
        "pgd_random_start": args.pgd_random_start,
        "train_loss": round(epoch_losses[-1], 5) if epoch_losses else None,
        "epoch_train_losses": [round(v, 5) for v in epoch_losses],
        "clean_acc": accuracy(model, xte, yte, b),
    }
    for eps in FGSM_EPS:
        out["fgsm_%g" % eps] = accuracy(model, xte, yte, b,
                                        lambda m, x, y, e=eps: fgsm(m, x, y, e))
    start_gen = torch.Generator().manual_seed(args.seed) if args.pgd_random_start else None
    for eps in PGD_EPS:
        out["pgd%d_%g" % (PGD_STEPS, eps)] = accuracy(
            model, xte, yte, b,
            lambda m, x, y, e=eps: pgd(m, x, y, e, step_frac=args.pgd_step, start_gen=start_gen))
    out["eval_time_s"] = round(time.perf_counter() - t_eval0, 3)
    out["epoch_times_s"] = [round(t, 4) for t in epoch_times]
    if args.time:
        ts = []
        for _ in range(3):
            t0 = time.perf_counter()
            acc = accuracy(model, xte, yte, b, lambda m, x, y: fgsm(m, x, y, 0.1))
            ts.append(time.perf_counter() - t0)
            assert acc == out["fgsm_0.1"], (acc, out["fgsm_0.1"])
        out["fgsm_0.1_eval_times_s"] = [round(t, 4) for t in ts]
        out["fgsm_0.1_eval_time_s"] = round(statistics.median(ts), 4)
        if epoch_times:
            out["epoch_time_s"] = round(statistics.median(epoch_times), 4)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
