#!/usr/bin/env python3
"""PyTorch twin of the well-parenthesised strings task (issue "Recurrent networks").

Data: dlc's parens(...) generator, re-implemented exactly by bench/parens_data.py, with the
trainer's seeding and shuffling, so that the batches are those of a dlc run with the same seed:
training set parens(n = 6400, near_miss = 0) (5 bracket pairs, even lengths 4..20, half
negatives: random strings that are not well-formed; `--train-negatives near_miss`: the near misses
of parens(n = 6400)), drawn anew every epoch, 30 epochs of 100 batches of 64 = 3,000 steps.  Test sets, 2,000
strings each, drawn once from the seed (dlc: `test`/`valid` sets, or `--eval` with a model whose
`test` is the set named):
  valid_only20  parens(n = 2000, len = 20, negatives = 0)   stream of `test`
  nearmiss20    parens(n = 2000, len = 20)                  stream of `valid`
  nearmiss40    parens(n = 2000, len = 40)                  stream of `test`
Model: one-hot input [B, T, 10] -> nn.RNN (tanh) | nn.GRU | nn.LSTM, hidden 50, one layer ->
the hidden state at each string's true end -> Linear(50, 2) -> cross-entropy (mean over the
batch).  Reading the output at position len - 1 is the same as running the cell over the padded
sequence with the masked update h = m h_new + (1 - m) h and taking the last state.  PyTorch's
default initialisations (torch.manual_seed(seed), the cell built first); Adam lr 1e-3.
Accuracy: argmax of the two scores against the label.

usage: /usr/bin/python3 bench/torch_parens.py --cell elman|gru|lstm [--seed 1] [--steps 3000]
       [--threads 1] [--train-negatives random|near_miss] [--check-mask] [--json OUT]
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import parens_data as pd  # noqa: E402

N_TRAIN, BATCH, PAIRS = 6400, 64, 5


class Net(nn.Module):
    def __init__(self, cell, hidden=50):
        super().__init__()
        V = 2 * PAIRS
        if cell == "elman":
            self.rnn = nn.RNN(V, hidden, nonlinearity="tanh", batch_first=True)
        elif cell == "gru":
            self.rnn = nn.GRU(V, hidden, batch_first=True)
        else:
            self.rnn = nn.LSTM(V, hidden, batch_first=True)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x, lengths):
        h, _ = self.rnn(x)                                   # [B, T, H]
        last = h[torch.arange(x.shape[0]), lengths - 1]      # the state at each string's end
        return self.out(last)


def masked_last(net, x, m):
    """The same scores from the cell's equations run over every position of the padded batch
    with the masked update h = m h_new + (1 - m) h (c likewise for the LSTM), PyTorch's gate
    order and weights: the form dlc's scan with a mask computes."""
    r = net.rnn
    wi, wh, bi, bh = r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0
    B, L, H = x.shape[0], x.shape[1], r.hidden_size
    h = torch.zeros(B, H, dtype=x.dtype)
    c = torch.zeros(B, H, dtype=x.dtype)
    for t in range(L):
        gi, gh = x[:, t] @ wi.t() + bi, h @ wh.t() + bh
        if isinstance(r, nn.LSTM):
            i, f, g, o = (gi + gh).chunk(4, 1)
            c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_new = torch.sigmoid(o) * torch.tanh(c_new)
            c = m[:, t:t + 1] * c_new + (1 - m[:, t:t + 1]) * c
        elif isinstance(r, nn.GRU):
            ir, iz, in_ = gi.chunk(3, 1)
            hr, hz, hn = gh.chunk(3, 1)
            rr, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
            h_new = (1 - z) * torch.tanh(in_ + rr * hn) + z * h
        else:
            h_new = torch.tanh(gi + gh)
        h = m[:, t:t + 1] * h_new + (1 - m[:, t:t + 1]) * h
    return net.out(h)


def check_mask(net, strings):
    """The output read at each string's end equals the masked recurrence's (f64)."""
    x, m, _ = pd.to_arrays(strings, 40, PAIRS)
    x, m = torch.from_numpy(x).double(), torch.from_numpy(m).double()
    net64 = Net.__new__(Net)
    nn.Module.__init__(net64)
    net64.rnn, net64.out = net.rnn.double(), net.out.double()
    with torch.no_grad():
        a = net64(x, m.sum(1).long())
        b = masked_last(net64, x, m)
    net.rnn.float(), net.out.float()
    err = float((a - b).abs().max())
    if err > 1e-10:
        raise SystemExit("masked recurrence differs from the output at the string's end: %g" % err)
    return err


def tensors(strings, L):
    x, m, y = pd.to_arrays(strings, L, PAIRS)
    return torch.from_numpy(x), torch.from_numpy(m.sum(1).astype(np.int64)), torch.from_numpy(y)


def accuracy(net, strings, L):
    x, lengths, y = tensors(strings, L)
    with torch.no_grad():
        correct = 0
        for s in range(0, len(strings), 500):
            z = net(x[s:s + 500], lengths[s:s + 500])
            correct += int((z.argmax(1) == y[s:s + 500]).sum())
    return correct / len(strings)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cell", choices=["elman", "gru", "lstm"], required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--train-negatives", choices=["random", "near_miss"], default="random")
    ap.add_argument("--check-mask", action="store_true",
                    help="check the end-of-string read-out against the masked recurrence (f64)")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net = Net(a.cell)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    spe = N_TRAIN // BATCH
    epochs = (a.steps + spe - 1) // spe
    order = pd.batches(a.seed, N_TRAIN, BATCH, epochs)
    t0 = time.time()
    step, ep_loaded, data = 0, -1, None
    loss_sum, loss_n = 0.0, 0
    for ep, rows in order:
        if step >= a.steps:
            break
        if ep != ep_loaded:
            strings = pd.train_set(a.seed, ep, n=N_TRAIN,
                                   near_miss=int(a.train_negatives == "near_miss"))
            data = tensors(strings, 20)
            ep_loaded = ep
        idx = torch.tensor(rows)
        x, lengths, y = data[0][idx], data[1][idx], data[2][idx]
        T = int(lengths.max())
        loss = nn.functional.cross_entropy(net(x[:, :T], lengths), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_sum += float(loss)
        loss_n += 1
        step += 1
        if step % 500 == 0:
            print("step %d: mean loss %.4f (%.0f s)" % (step, loss_sum / loss_n, time.time() - t0),
                  flush=True)
            loss_sum, loss_n = 0.0, 0
    train_s = time.time() - t0
    key = pd.step_key(a.seed, 0)
    sets = {
        "valid_only20": pd.draw(2000, key, pd.STREAM_GEN_TEST, len=20, negatives=0),
        "nearmiss20": pd.draw(2000, key, pd.STREAM_GEN_VALID, len=20),
        "nearmiss40": pd.draw(2000, key, pd.STREAM_GEN_TEST, len=40),
    }
    res = {"cell": a.cell, "train_negatives": a.train_negatives, "seed": a.seed, "steps": step,
           "threads": a.threads,
           "torch": torch.__version__, "train_s": round(train_s, 1)}
    for name, st in sets.items():
        res[name] = accuracy(net, st, 40)
    if a.check_mask:
        res["mask_check_max_err"] = check_mask(net, sets["nearmiss40"][:200] + sets["nearmiss20"][:200])
    print(json.dumps(res))
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
