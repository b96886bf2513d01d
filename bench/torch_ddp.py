#!/usr/bin/env python3
"""W-MLP and W-LeNet with PyTorch's DistributedDataParallel (gloo), the twin of
`mpirun -np P` with a trainer built by `dlc --mpi` (bench/mpi.py runs both).

The workload is bench/fmnist_common.py's (Fashion-MNIST /255, SGD lr 0.05
momentum 0.9, He-uniform weights, cross-entropy mean over the batch, 1 epoch)
with a global batch of 64 split over the P processes as dlc splits it: every
process draws the same permutation from the seed, and process r takes rows
64*s + 64*r/P .. 64*s + 64*(r+1)/P - 1 of step s.  DDP averages the gradients
(an all-reduce of each bucket during the backward pass), which equals the
global batch's mean when the parts are equal (the last batch of 32 splits
evenly too).

Prints one JSON line from process 0: images/s of the training loop (one
epoch), the final loss, the test accuracy, and the time of one all-reduce of
all the gradients, measured alone after training (DDP overlaps it with the
backward pass, so it is an upper bound of what a step waits for).

  /usr/bin/python3 bench/torch_ddp.py --model mlp --procs 2 --threads 1
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--model", choices=["mlp", "lenet"], default="mlp")
ap.add_argument("--procs", type=int, default=2)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--steps", type=int, default=0, help="stop after this many steps (0: the epochs)")
ap.add_argument("--batch", type=int, default=64, help="the global batch")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--port", type=int, default=29517)
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
args = ap.parse_args()
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
os.environ["MKL_NUM_THREADS"] = str(args.threads)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from fmnist_common import load_fmnist, he_uniform_  # noqa: E402


def make_model(name):
    nn = torch.nn
    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10))
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def worker(rank, P, q):
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method="tcp://127.0.0.1:%d" % args.port, rank=rank, world_size=P)
    xtr, ytr, xte, yte = load_fmnist(args.data)
    shape = (-1, 784) if args.model == "mlp" else (-1, 1, 28, 28)
    xtr, xte = xtr.reshape(shape).contiguous(), xte.reshape(shape).contiguous()
    torch.manual_seed(args.seed)
    model = make_model(args.model)
    he_uniform_(model)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    n, B, steps = xtr.shape[0], args.batch, 0
    dist.barrier()
    t0 = time.perf_counter()
    images, loss_sum = 0, 0.0
    for _ in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, B):
            rows = min(B, n - s)
            idx = perm[s + rows * rank // P: s + rows * (rank + 1) // P]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(ddp(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            images += rows
            loss_sum += loss.item() * idx.numel()
            steps += 1
            if args.steps and steps >= args.steps:
                break
        if args.steps and steps >= args.steps:
            break
    dist.barrier()
    t_train = time.perf_counter() - t0
    # the all-reduce of every gradient, alone
    flat = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    for _ in range(5):
        dist.all_reduce(flat)
    t1 = time.perf_counter()
    reps = 50
    for _ in range(reps):
        dist.all_reduce(flat)
    t_ar = (time.perf_counter() - t1) / reps
    model.eval()
    with torch.no_grad():
        correct = (model(xte).argmax(1) == yte).sum().item()
    if rank == 0:
        q.put({"system": "pytorch-%s-ddp-gloo" % torch.__version__, "model": args.model, "procs": P,
               "threads": args.threads, "steps": steps, "train_time_s": round(t_train, 4),
               "images_per_s": round(images / t_train, 1), "allreduce_ms": round(1e3 * t_ar, 3),
               "gradient_bytes": flat.numel() * 4, "test_accuracy": correct / xte.shape[0],
               "train_loss_rank0": round(loss_sum / max(1, images // P), 5)})
    dist.destroy_process_group()


if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=worker, args=(r, args.procs, q)) for r in range(args.procs)]
    for p in procs:
        p.start()
    res = q.get()
    for p in procs:
        p.join()
    print(json.dumps(res))
