#!/usr/bin/env python3
"""PyTorch twin of examples/char_lstm.dl: a character-level LSTM language model on Debian's
fortunes (issue "Recurrent networks").

Data, as dlc's text("/usr/share/games/fortunes/*", seq = 64) loads it: the files matching the
pattern, sorted by name; a file that is not a regular file, that holds a NUL byte (the .dat
indexes) or that is the same file (device and inode) as one already read (the .u8 symlinks) is
skipped; the corpus is the bytes of the others concatenated; the vocabulary is its sorted
distinct bytes; the last 10% by position (floor(n / 10) bytes) is the validation part, the rest
the training part.
Batches as PyTorch's word_language_model batchify: the ids cut into B = 32 tracks of
L = len // B each (the remainder dropped), batch k: x[b] = track_b[kT : kT + T],
y[b] = track_b[kT + 1 : kT + T + 1], T = 64, in order, nb = (L - 1) // T batches, then k = 0
again (a new pass starts from a zero state).
Model: Embedding(V, 64) -> LSTM(64, 256) -> Linear(256, V), PyTorch's default initialisations
(torch.manual_seed(seed), built in that order); cross-entropy, mean over the B T positions;
Adam lr 2e-3; gradient norm clipped to 1 (clip_grad_norm_); the state carried from batch to batch
and detached (truncated BPTT), or `--zero-state` for a zero state every batch.
Validation: bits per character, the mean cross-entropy over every position of the validation
part batchified the same way (state carried from zero, through all its batches) / ln 2.
Speed: training tokens/s (B T per step) in windows of --window steps, evaluation excluded; the
median of the windows is reported.  `--threads 1,2` alternates the windows between the thread
counts (torch.set_num_threads before each), so that both see the same machine load, and reports
each count's median.

usage: /usr/bin/python3 bench/torch_char_lstm.py [--steps 1500] [--eval-at 500,1000,1500]
       [--threads 1 | --threads 1,2] [--seed 1] [--zero-state] [--window 100] [--json OUT]
"""
import argparse
import glob
import json
import math
import os
import statistics
import time

import torch
import torch.nn as nn

B, T, EMB, HID = 32, 64, 64, 256


def load_corpus(pattern):
    seen, parts, files = set(), [], []
    for p in sorted(glob.glob(pattern)):
        st = os.stat(p)
        if not os.path.isfile(p) or (st.st_dev, st.st_ino) in seen:
            continue
        with open(p, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue
        seen.add((st.st_dev, st.st_ino))
        parts.append(data)
        files.append(p)
    return b"".join(parts), files


def batchify(ids, bsz):
    L = ids.numel() // bsz
    return ids[:L * bsz].view(bsz, L)        # [B, L]: track b is row b


def get_batch(tracks, k):
    return tracks[:, k * T:k * T + T], tracks[:, k * T + 1:k * T + T + 1]


def load_tracks(pattern):
    """The training and validation parts of the corpus as ids, batchified:
    (train [B, L], valid [B, L'], vocabulary size, batches per pass)."""
    corpus, files = load_corpus(pattern)
    vocab = sorted(set(corpus))
    lut = torch.zeros(256, dtype=torch.long)
    lut[torch.tensor(vocab)] = torch.arange(len(vocab))
    ids = lut[torch.tensor(list(corpus), dtype=torch.long)]
    nval = len(corpus) // 10
    train, valid = batchify(ids[:len(corpus) - nval], B), batchify(ids[len(corpus) - nval:], B)
    nb = (train.shape[1] - 1) // T
    print("corpus: %d files, %d bytes, vocabulary %d; training %d bytes (%d batches), "
          "validation %d bytes" % (len(files), len(corpus), len(vocab), len(corpus) - nval, nb, nval),
          flush=True)
    return train, valid, len(vocab), nb, len(corpus)


class Net(nn.Module):
    def __init__(self, V):
        super().__init__()
        self.emb = nn.Embedding(V, EMB)
        self.rnn = nn.LSTM(EMB, HID, batch_first=True)
        self.out = nn.Linear(HID, V)

    def forward(self, x, state):
        h, state = self.rnn(self.emb(x), state)
        return self.out(h), state


def zero_state():
    return (torch.zeros(1, B, HID), torch.zeros(1, B, HID))


def evaluate(net, tracks):
    nb = (tracks.shape[1] - 1) // T
    state, total, count = zero_state(), 0.0, 0
    with torch.no_grad():
        for k in range(nb):
            x, y = get_batch(tracks, k)
            z, state = net(x, state)
            total += float(nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1),
                                                       reduction="sum"))
            count += y.numel()
    return total / count / math.log(2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default="/usr/share/games/fortunes/*")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--eval-at", default="500,1000,1500")
    ap.add_argument("--threads", default="1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--zero-state", action="store_true")
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--json")
    a = ap.parse_args()
    counts = [int(v) for v in a.threads.split(",")]
    torch.set_num_threads(counts[0])
    train, valid, nvocab, nb, nbytes = load_tracks(a.corpus)
    torch.manual_seed(a.seed)
    net = Net(nvocab)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    eval_at = {int(s) for s in a.eval_at.split(",") if s}
    res = {"threads": counts, "seed": a.seed, "zero_state": a.zero_state, "steps": a.steps,
           "torch": torch.__version__, "vocab": nvocab, "corpus_bytes": nbytes,
           "bpc": {}, "tokens_per_s": {str(c): [] for c in counts}}
    state = zero_state()
    t_win, n_win, loss_win, win = 0.0, 0, 0.0, 0
    for step in range(1, a.steps + 1):
        k = (step - 1) % nb
        if k == 0 or a.zero_state:
            state = zero_state()
        t0 = time.perf_counter()
        x, y = get_batch(train, k)
        state = tuple(s.detach() for s in state)
        z, state = net(x, state)
        loss = nn.functional.cross_entropy(z.reshape(-1, z.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
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
