#!/usr/bin/env python3
"""PyTorch twin of examples/char_gpt.dl: a character-level transformer on Debian's fortunes
(issue "Attention and transformers").

Data and batches exactly as bench/torch_char_lstm.py (dlc's text("/usr/share/games/fortunes/*",
seq = 64) with split(0.1)): B = 32 tracks, batch k: x[b] = track_b[kT : kT + T], y the next
characters, in order.  Each batch stands alone (no state between batches).
Model: Embedding(V, 128) + a learned position table [64, 128] (N(0, 0.02)), two
TransformerEncoderLayer(128, 4, 512, dropout=0, activation="gelu", batch_first=True,
norm_first=True) with a causal mask, LayerNorm(128), Linear(128, V); PyTorch's default
initialisations (torch.manual_seed(seed), built in that order).  Cross-entropy, mean over the
B T positions; Adam lr 1e-3.
Validation: bits per character, the mean cross-entropy over every position of the validation
part batchified the same way / ln 2.
Speed: training tokens/s as in bench/torch_char_lstm.py (--window, --threads 1,2).

usage: /usr/bin/python3 bench/torch_char_gpt.py [--steps 1500] [--eval-at 500,1000,1500]
       [--threads 1 | --threads 1,2] [--seed 1] [--window 100] [--json OUT]
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn

from torch_char_lstm import get_batch, load_tracks  # the same corpus and batches

B, T, D, NH = 32, 64, 128, 4


class Net(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.tok = nn.Embedding(V, D)
        self.pos = nn.Parameter(torch.randn(T, D) * 0.02)
        self.blocks = nn.ModuleList([nn.TransformerEncoderLayer(D, NH, 4 * D, dropout=0.0, activation="gelu",
                                                                batch_first=True, norm_first=True)
                                     for _ in range(2)])
        self.norm = nn.LayerNorm(D)
        self.head = nn.Linear(D, V)
        self.register_buffer("causal", torch.triu(torch.ones(T, T, dtype=torch.bool), 1))

    def forward(self, x):
        h = self.tok(x) + self.pos[:x.shape[1]]
        for blk in self.blocks:
            h = blk(h, src_mask=self.causal)
        return self.head(self.norm(h))


def evaluate(net, tracks):
    nb = (tracks.shape[1] - 1) // T
    total, count = 0.0, 0
    net.eval()
    with torch.no_grad():
        for k in range(nb):
            x, y = get_batch(tracks, k)
            z = net(x)
            total += float(nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1),
                                                       reduction="sum"))
            count += y.numel()
    net.train()
    return total / count / math.log(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/usr/share/games/fortunes/*")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--eval-at", default="500,1000,1500")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--json")
    a = ap.parse_args()
    counts = [int(v) for v in a.threads.split(",")]
    torch.set_num_threads(counts[0])
    train, valid, nvocab, nb, nbytes = load_tracks(a.corpus)
    torch.manual_seed(a.seed)
    net = Net(nvocab)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    eval_at = {int(s) for s in a.eval_at.split(",") if s}
    res = {"threads": counts, "seed": a.seed, "steps": a.steps,
           "torch": torch.__version__, "vocab": nvocab, "corpus_bytes": nbytes,
           "bpc": {}, "tokens_per_s": {str(c): [] for c in counts}}
    t_win, n_win, loss_win, win = 0.0, 0, 0.0, 0
    for step in range(1, a.steps + 1):
        k = (step - 1) % nb
        t0 = time.perf_counter()
        x, y = get_batch(train, k)
        z = net(x)
        loss = nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        t_win += time.perf_counter() - t0
        n_win += 1
        loss_win += float(loss)
        if n_win == a.window:
            c = counts[win % len(counts)]
            res["tokens_per_s"][str(c)].append(B * T * n_win / t_win)
            print("step %d: train loss %.4f, %.0f tokens/s (%d thread%s)" % (
                step, loss_win / n_win, B * T * n_win / t_win, c, "" if c == 1 else "s"), flush=True)
            t_win, n_win, loss_win, win = 0.0, 0, 0.0, win + 1
            torch.set_num_threads(counts[win % len(counts)])
        if step in eval_at:
            bpc = evaluate(net, valid)
            res["bpc"][str(step)] = round(bpc, 4)
            print("step %d: validation %.4f bits per character" % (step, bpc), flush=True)
    res["tokens_per_s_median"] = {c: round(statistics.median(v)) for c, v in res["tokens_per_s"].items() if v}
    res["tokens_per_s"] = {c: [round(x) for x in v] for c, v in res["tokens_per_s"].items()}
    print(json.dumps(res))
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
