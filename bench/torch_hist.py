#!/usr/bin/env python3
"""PyTorch twin of examples/hist_transformer.dl: the histogram task (issue "Attention and
transformers"): for each position of a sequence, how many times its token occurs in it.

Data: dlc's hist(...) generator, re-implemented exactly by bench/hist_data.py, with the trainer's
seeding and shuffling, so that the batches are those of a dlc run with the same seed: training set
hist(n = 6400, vocab = 10) of sequences of 10 tokens, drawn anew every epoch, 30 epochs of 100
batches of 64 = 3,000 steps; test set hist(n = 2000, vocab = 10), drawn once from the seed.
Model: Embedding(10, 32) + a learned position table [10, 32] (N(0, 0.02)), one
TransformerEncoderLayer(32, 2, 128, dropout=0, activation="gelu", batch_first=True,
norm_first=True) without a mask, LayerNorm(32), Linear(32, 11): a class per count 0..10 at every
position; PyTorch's default initialisations (torch.manual_seed(seed), built in that order).
Cross-entropy, mean over the B T positions; Adam lr 2e-3, with the cosine schedule of dlc's
`--lr-schedule cosine` (CosineAnnealingLR(T_max = steps), stepped every batch; `--schedule
constant` keeps lr 2e-3 throughout).
Accuracy: the argmax at each position against its count, over the 20,000 test positions.
Time: the training loop (batch gather, forward, backward, update), at --threads threads.

usage: /usr/bin/python3 bench/torch_hist.py [--seed 1] [--epochs 30] [--schedule cosine|constant]
       [--threads 1] [--json OUT]
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hist_data as hd  # noqa: E402

B, T, V, D, NH = 64, 10, 10, 32, 2
N_TRAIN, N_TEST, LR = 6400, 2000, 0.002


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Parameter(torch.randn(T, D) * 0.02)
        self.block = nn.TransformerEncoderLayer(D, NH, 4 * D, dropout=0.0, activation="gelu",
                                                batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, T + 1)

    def forward(self, x):
        return self.head(self.norm(self.block(self.tok(x) + self.pos[:x.shape[1]])))

    def maps(self, x):
        """The block's attention maps [N, heads, T, T] (dlc's `output maps`)."""
        h = self.block.norm1(self.tok(x) + self.pos[:x.shape[1]])
        _, w = self.block.self_attn(h, h, h, need_weights=True, average_attn_weights=False)
        return w


def accuracy(net, x, y):
    with torch.no_grad():
        return float((net(x).argmax(-1) == y).float().mean())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    lossf = nn.CrossEntropyLoss()
    xt, yt = (torch.from_numpy(v) for v in hd.to_arrays(hd.test_set(a.seed, n=N_TEST, vocab=V, len=T)))
    order = hd.batches(a.seed, N_TRAIN, B, a.epochs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, len(order)) if a.schedule == "cosine" else None
    train_time, ep_loaded, losses = 0.0, -1, []
    for ep, idx in order:
        if ep != ep_loaded:
            x, y = (torch.from_numpy(v) for v in hd.to_arrays(hd.train_set(a.seed, ep, n=N_TRAIN, vocab=V, len=T)))
            ep_loaded = ep
        t0 = time.perf_counter()
        ib = torch.tensor(idx)
        xb, yb = x[ib], y[ib]
        loss = lossf(net(xb).reshape(-1, T + 1), yb.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if sched:
            sched.step()
        train_time += time.perf_counter() - t0
        losses.append(float(loss))
    r = {"seed": a.seed, "epochs": a.epochs, "steps": len(order), "threads": a.threads, "schedule": a.schedule,
         "test_acc": accuracy(net, xt, yt), "train_s": train_time,
         "final_loss": sum(losses[-100:]) / len(losses[-100:]), "torch": torch.__version__}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(r, f)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
