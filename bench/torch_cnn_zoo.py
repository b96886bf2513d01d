#!/usr/bin/python3
"""PyTorch twins of the CNNs of bench/cnn_zoo.py: W-LeNet and the CNNs in
bench/models/, the same layers, He-uniform weights and zero biases, SGD with
momentum 0.9, batch 64, on Fashion-MNIST, for --steps steps (0: --epochs
epochs).  The data, the initialisation and the JSON line are
fmnist_common.py's; the loop is its loop, stopped after --steps.

usage: /usr/bin/python3 torch_cnn_zoo.py MODEL [--threads N] [--steps S] [--lr X]
  MODEL: lenet5, wide_cnn, cnn_stride2, cnn_1x1, cnn_5x5, cnn_depthwise
"""
import json
import sys
import time

MODEL = sys.argv.pop(1) if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else ""
STEPS = 0
if "--steps" in sys.argv:  # ours; the rest are fmnist_common's flags
    i = sys.argv.index("--steps")
    STEPS = int(sys.argv[i + 1])
    del sys.argv[i:i + 2]
import fmnist_common  # noqa: E402  (sets the thread environment before torch loads)
from fmnist_common import torch  # noqa: E402


def make(name):
    nn = torch.nn
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    if name == "wide_cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "cnn_stride2":
        return nn.Sequential(nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
                             nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3136, 10))
    if name == "cnn_1x1":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 1), nn.ReLU(), nn.Conv2d(64, 32, 1), nn.ReLU(),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(64, 16, 1), nn.ReLU(), nn.Flatten(), nn.Linear(784, 10))
    if name == "cnn_5x5":
        return nn.Sequential(nn.Conv2d(1, 16, 5), nn.ReLU(), nn.Conv2d(16, 32, 5), nn.ReLU(),
                             nn.Conv2d(32, 32, 5), nn.ReLU(), nn.Flatten(), nn.Linear(8192, 10))
    if name == "cnn_depthwise":
        return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(),
                             nn.Conv2d(32, 32, 3, stride=2, padding=1, groups=32), nn.ReLU(),
                             nn.Conv2d(32, 64, 1), nn.ReLU(),
                             nn.Conv2d(64, 64, 3, stride=2, padding=1, groups=64), nn.ReLU(),
                             nn.Conv2d(64, 128, 1), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))
    sys.exit("torch_cnn_zoo.py: unknown model %r" % name)


def main():
    make(MODEL)
    args = fmnist_common.parse_args(MODEL)
    torch.set_num_threads(args.threads)
    xtr, ytr, xte, yte = fmnist_common.load_fmnist(args.data)
    xtr = xtr.reshape(-1, 1, 28, 28).contiguous()
    xte = xte.reshape(-1, 1, 28, 28).contiguous()
    torch.manual_seed(args.seed)
    model = make(MODEL)
    if args.init == "he":
        fmnist_common.he_uniform_(model)
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(args.seed)
    n, steps, seen, loss_sum = xtr.shape[0], 0, 0, torch.zeros(())
    model.train()
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, args.batch):
            if STEPS and steps == STEPS:
                break
            idx = perm[i:i + args.batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            loss_sum += loss.detach() * idx.numel()
            steps += 1
            seen += idx.numel()
    t_train = time.perf_counter() - t0
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, xte.shape[0], 1000):
            correct += (model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
    print(json.dumps({"system": "pytorch-%s-eager" % torch.__version__, "workload": MODEL, "threads": args.threads,
                      "torch_num_threads": torch.get_num_threads(), "steps": steps, "batch": args.batch,
                      "lr": args.lr, "train_time_s": round(t_train, 4), "images_per_s": round(seen / t_train, 1),
                      "train_loss": round(loss_sum.item() / max(seen, 1), 5), "test_acc": correct / xte.shape[0]}))


if __name__ == "__main__":
    main()
