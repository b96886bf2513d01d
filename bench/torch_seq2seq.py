#!/usr/bin/env python3
"""PyTorch twin of examples/seq2seq_attention.dl: reverse the letters of a word with a GRU
encoder, a GRU decoder and Bahdanau (additive) attention (issue 16, course module 12).

Data: dlc's reverse_words(...) generator, re-implemented exactly by bench/seq2seq_data.py: the
words of /usr/share/dict/american-english of 1 to 10 letters a-z, the training words (44,237)
and the held-out test words (5,523) chosen by each word's hash; batches of 64 in the order of a
dlc run with the same seed (the trainer's shuffle), the short last batch of an epoch included.
Model (built in dlc's order, PyTorch's default initialisations, torch.manual_seed(seed)):
Embedding(29, 64) for the letters and another for the decoder's input; GRU(64, 256) over the
word (packed: the state is held after the word's end); a GRUCell(64 + 256, 256) decoder from the
encoder's final state; attention Linear(256, 128) of the decoder's state (W s), Linear(256,
128) of the encoder's states (U h_j) and v uniform in +-1/sqrt(128): score_j = v . tanh(W s +
U h_j), softmax over the letters (the padding masked), context c = sum_j a_j h_j; the decoder's
input [embedding of the previous letter, c], the logits Linear(512, 29) of [s', c].
Teacher forcing in training; cross-entropy over the letters and EOS (padding ignored), Adam lr
2e-3 with the cosine schedule of dlc's `--lr-schedule cosine` (CosineAnnealingLR(T_max = the
steps of all the epochs), stepped every batch; `--schedule constant` keeps 2e-3), gradient norm
clipped to 1.
Exact match: greedy decoding from BOS, feeding back the argmax, for T = 11 steps; a word counts
when every position of its label (the reversed letters and EOS) is right, as dlc's `exact`.
Time: the training loop (batch gather, forward, backward, update), at --threads threads.

usage: /usr/bin/python3 bench/torch_seq2seq.py [--seed 1] [--epochs 2] [--steps N] [--threads 1]
       [--schedule cosine|constant] [--samples K] [--json OUT]
"""
import argparse
import json
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seq2seq_data as sd  # noqa: E402

B, S, T, V, E, H, A = 64, 10, 11, 29, 64, 256, 128
LR, CLIP = 0.002, 1.0


class Seq2Seq(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_emb = nn.Embedding(V, E)
        self.tgt_emb = nn.Embedding(V, E)
        self.enc = nn.GRU(E, H, batch_first=True)
        self.dec = nn.GRUCell(E + H, H)
        self.att_w = nn.Linear(H, A)
        self.att_u = nn.Linear(H, A)
        self.att_v = nn.Parameter(torch.empty(A).uniform_(-A ** -0.5, A ** -0.5))
        self.out = nn.Linear(2 * H, V)

    def encode(self, src, m):
        lens = m.sum(1).long().cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.src_emb(src), lens, batch_first=True,
                                                   enforce_sorted=False)
        hs, h = self.enc(packed)
        hs, _ = nn.utils.rnn.pad_packed_sequence(hs, batch_first=True, total_length=S)
        return hs, self.att_u(hs), h[0]

    def attend(self, s, hs, uh, m):
        e = torch.tanh(uh + self.att_w(s).unsqueeze(1)) @ self.att_v        # [B, S]
        a = torch.softmax(e.masked_fill(m == 0, float("-inf")), dim=1)
        return (a.unsqueeze(1) @ hs).squeeze(1)                              # [B, H]

    def step(self, s, x, hs, uh, m):
        c = self.attend(s, hs, uh, m)
        s = self.dec(torch.cat([x, c], 1), s)
        return s, self.out(torch.cat([s, c], 1))

    def forward(self, src, m, tgt):
        """Teacher forcing: the logits [B, T, V]."""
        hs, uh, s = self.encode(src, m)
        x = self.tgt_emb(tgt)
        out = []
        for t in range(tgt.shape[1]):
            s, z = self.step(s, x[:, t], hs, uh, m)
            out.append(z)
        return torch.stack(out, 1)

    def greedy(self, src, m, steps=T):
        hs, uh, s = self.encode(src, m)
        prev = torch.full((src.shape[0],), sd.BOS, dtype=torch.long)
        out = []
        for _ in range(steps):
            s, z = self.step(s, self.tgt_emb(prev), hs, uh, m)
            prev = z.argmax(1)
            out.append(prev)
        return torch.stack(out, 1)


def exact_match(net, src, m, y):
    with torch.no_grad():
        g = torch.cat([net.greedy(src[i:i + 1000], m[i:i + 1000]) for i in range(0, len(src), 1000)])
    ok = (g == y) | (y == 0)
    letters = ((g == y) & (y != 0)).sum().item() / (y != 0).sum().item()
    return ok.all(1).float().mean().item(), letters, g


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--steps", type=int, default=0, help="stop after N steps (0: all the epochs)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--schedule", choices=["cosine", "constant"], default="cosine")
    ap.add_argument("--samples", type=int, default=0, help="print K test words and their decoding")
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    net = Seq2Seq()
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    lossf = nn.CrossEntropyLoss(ignore_index=0)
    train_words, test_words = sd.words("train"), sd.words("test")
    tr = [torch.from_numpy(v) for v in sd.to_arrays(train_words, S, T)]
    te = [torch.from_numpy(v) for v in sd.to_arrays(test_words, S, T)]
    tr = [tr[0].long(), tr[1], tr[2].long(), tr[3].long()]
    te = [te[0].long(), te[1], te[2].long(), te[3].long()]
    order = sd.batches(a.seed, len(train_words), B, a.epochs)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, len(order)) if a.schedule == "cosine" else None
    if a.steps:
        order = order[:a.steps]
    t0 = time.perf_counter()
    loss_sum, nb = 0.0, 0
    for ep, idx in order:
        idx = torch.tensor(idx)
        src, m, tgt, y = (v[idx] for v in tr)
        loss = lossf(net(src, m, tgt).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), CLIP)
        opt.step()
        if sched:
            sched.step()
        loss_sum += loss.item()
        nb += 1
    train_s = time.perf_counter() - t0
    exact, letters, g = exact_match(net, te[0], te[1], te[3])
    print("torch: %d steps in %.2f s (%.0f words/s), mean training loss %.5f" %
          (len(order), train_s, len(order) * B / train_s, loss_sum / max(nb, 1)))
    print("torch test: exact %.4f, letters %.4f (%d words)" % (exact, letters, len(test_words)))
    for i in range(0, len(test_words), max(1, len(test_words) // a.samples) if a.samples else len(test_words) + 1):
        print("  %-10s -> %s" % (test_words[i], sd.decode(g[i].tolist())))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"exact": exact, "letters": letters, "train_s": train_s, "steps": len(order),
                       "test_words": len(test_words)}, f)


if __name__ == "__main__":
    main()
