#!/usr/bin/env python3
"""W-MLP and W-LeNet in JAX (jax.jit), under the workload contract of
fmnist_common.py: Fashion-MNIST, pixels / 255, batch 64 with the last
partial batch kept, reshuffled every epoch, softmax cross-entropy (mean),
SGD lr 0.05 momentum 0.9 in PyTorch's form (v = mu*v + g; w -= lr*v),
He-uniform weights and zero biases.  The timing covers the training loop
(the batch gather, forward, backward and update, all in one jitted step);
the step is compiled for both batch sizes before it starts, as a user's
second epoch would find it.  Prints one JSON line, like torch_mlp.py.

JAX and jaxlib install from PyPI into a virtual environment, for the
benchmark only (bench/README.md, "Modern anchors"):

usage: VENV/bin/python jax_fmnist.py --model mlp|lenet [--threads N] [--epochs E] [--seed S]
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--model", choices=["mlp", "lenet"], required=True)
ap.add_argument("--threads", type=int, default=1, help="CPUs the process may run on (XLA's threads follow)")
ap.add_argument("--epochs", type=int, default=1)
ap.add_argument("--batch", type=int, default=64)
ap.add_argument("--lr", type=float, default=0.05)
ap.add_argument("--momentum", type=float, default=0.9)
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
args = ap.parse_args()

# XLA sizes its thread pools from the CPUs it may use: pin them before jax loads
cpus = sorted(os.sched_getaffinity(0))[:max(1, args.threads)]
os.sched_setaffinity(0, set(cpus))
if args.threads == 1:
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1").strip()

import numpy as np  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def he_uniform(key, shape, fan_in):
    bound = math.sqrt(6.0 / fan_in)
    return jax.random.uniform(key, shape, jnp.float32, -bound, bound)


def init(key):
    if args.model == "mlp":
        sizes = [(784, 512), (512, 256), (256, 10)]
        keys = jax.random.split(key, len(sizes))
        return [(he_uniform(k, (i, o), i), jnp.zeros((o,), jnp.float32)) for k, (i, o) in zip(keys, sizes)]
    k = jax.random.split(key, 5)
    return [(he_uniform(k[0], (6, 1, 5, 5), 25), jnp.zeros((6,), jnp.float32)),
            (he_uniform(k[1], (16, 6, 5, 5), 150), jnp.zeros((16,), jnp.float32)),
            (he_uniform(k[2], (400, 120), 400), jnp.zeros((120,), jnp.float32)),
            (he_uniform(k[3], (120, 84), 120), jnp.zeros((84,), jnp.float32)),
            (he_uniform(k[4], (84, 10), 84), jnp.zeros((10,), jnp.float32))]


def conv_relu_pool(x, w, b, pad):
    y = lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                 dimension_numbers=("NCHW", "OIHW", "NCHW"))
    y = jax.nn.relu(y + b[None, :, None, None])
    return lax.reduce_window(y, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")


def forward(params, x):
    if args.model == "mlp":
        h = x
        for w, b in params[:-1]:
            h = jax.nn.relu(h @ w + b)
        w, b = params[-1]
        return h @ w + b
    h = conv_relu_pool(x, params[0][0], params[0][1], 2)
    h = conv_relu_pool(h, params[1][0], params[1][1], 0)
    h = h.reshape(h.shape[0], -1)
    for w, b in params[2:-1]:
        h = jax.nn.relu(h @ w + b)
    w, b = params[-1]
    return h @ w + b


def loss_fn(params, x, y):
    logp = jax.nn.log_softmax(forward(params, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def step(params, vel, xtr, ytr, idx):
    x, y = xtr[idx], ytr[idx]
    loss, g = jax.value_and_grad(loss_fn)(params, x, y)
    vel = jax.tree_util.tree_map(lambda v, d: args.momentum * v + d, vel, g)
    params = jax.tree_util.tree_map(lambda p, v: p - args.lr * v, params, vel)
    return params, vel, loss


def main():
    t0 = time.perf_counter()
    shape = (-1, 784) if args.model == "mlp" else (-1, 1, 28, 28)
    d = args.data
    xtr = jnp.asarray(read_idx(os.path.join(d, "train-images-idx3-ubyte.gz")).astype(np.float32).reshape(shape) / 255.0)
    ytr = jnp.asarray(read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz")).astype(np.int32))
    xte = jnp.asarray(read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).astype(np.float32).reshape(shape) / 255.0)
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")).astype(np.int32)
    t_load = time.perf_counter() - t0

    params = init(jax.random.PRNGKey(args.seed))
    vel = jax.tree_util.tree_map(jnp.zeros_like, params)
    n = xtr.shape[0]
    jstep = jax.jit(step, donate_argnums=(0, 1))
    # compiled ahead for the full and the last batch
    sizes = sorted({args.batch, n % args.batch or args.batch})
    compiled = {b: jstep.lower(params, vel, xtr, ytr, jnp.zeros((b,), jnp.int32)).compile() for b in sizes}
    rng = np.random.default_rng(args.seed)
    epoch_times, epoch_losses = [], []
    t_train0 = time.perf_counter()
    for _ in range(args.epochs):
        te = time.perf_counter()
        perm = jnp.asarray(rng.permutation(n).astype(np.int32))
        losses = []
        for i in range(0, n, args.batch):
            idx = perm[i:i + args.batch]
            params, vel, loss = compiled[idx.shape[0]](params, vel, xtr, ytr, idx)
            losses.append(loss * idx.shape[0])
        epoch_losses.append(float(jnp.sum(jnp.stack(losses))) / n)
        epoch_times.append(time.perf_counter() - te)
    t_train = time.perf_counter() - t_train0

    predict = jax.jit(lambda p, x: jnp.argmax(forward(p, x), axis=1))
    correct = sum(int(np.sum(np.asarray(predict(params, xte[i:i + 1000])) == yte[i:i + 1000]))
                  for i in range(0, xte.shape[0], 1000))
    print(json.dumps({
        "system": "jax-%s-jit" % jax.__version__,
        "workload": "W-MLP" if args.model == "mlp" else "W-LeNet",
        "threads": args.threads,
        "cpus": cpus,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "epochs": args.epochs,
        "batch": args.batch,
        "seed": args.seed,
        "train_time_s": round(t_train, 4),
        "epoch_times_s": [round(t, 4) for t in epoch_times],
        "images_per_s": round(args.epochs * n / t_train, 1),
        "train_loss": round(epoch_losses[-1], 5),
        "epoch_train_losses": [round(v, 5) for v in epoch_losses],
        "test_acc": correct / xte.shape[0],
        "load_time_s": round(t_load, 3),
    }))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
