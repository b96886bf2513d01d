#!/usr/bin/env python3
"""The reverse_words(...) generator of dlc's runtime (runtime/words.c), re-implemented from its
definition there and in docs/language.md ("Reversed words"): the same words in the same sets
(training, test, validation by the FNV-1a hash of each word), as the same arrays; `batches` is
the trainer's shuffle (bench/parens_data.py), so a twin sees the batches of a dlc run with the
same seed.  Standard library only; `to_arrays` needs NumPy.

    words(part, file=WORDS, n=0, min_len=1, max_len=10, test_share=0.1, valid_share=0.05)
        part "train", "test" or "valid" -> [word]
    to_arrays(words, S, T) -> (src i32[n, S], m f32[n, S], tgt i32[n, T], y i32[n, T])
    decode(ids) -> the letters of ids up to the first EOS ("" for none)
    batches(seed, rows, batch, epochs)  the trainer's row order, batch by batch
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parens_data import batches  # noqa: E402,F401

WORDS = "/usr/share/dict/american-english"
PAD, BOS, EOS, VOCAB = 0, 1, 2, 29
M64 = (1 << 64) - 1


def fnv1a(b):
    h = 0xcbf29ce484222325
    for c in b:
        h = ((h ^ c) * 0x100000001b3) & M64
    return h


def part_of(word, test_share=0.1, valid_share=0.05):
    u = (fnv1a(word.encode()) >> 11) / 9007199254740992.0
    return "test" if u < test_share else "valid" if u < test_share + valid_share else "train"


def words(part, file=WORDS, n=0, min_len=1, max_len=10, test_share=0.1, valid_share=0.05):
    out = []
    with open(file, "rb") as f:
        for line in f:
            w = line.rstrip(b"\n").rstrip(b"\r")
            if not w or any(c < 0x61 or c > 0x7a for c in w) or not min_len <= len(w) <= max_len:
                continue
            w = w.decode()
            if part_of(w, test_share, valid_share) == part:
                out.append(w)
    if 0 < n < len(out):
        out = [out[i * len(out) // n] for i in range(n)]
    return out


def to_arrays(ws, S=10, T=11):
    import numpy as np
    n = len(ws)
    src = np.zeros((n, S), np.int32)
    m = np.zeros((n, S), np.float32)
    tgt = np.zeros((n, T), np.int32)
    y = np.zeros((n, T), np.int32)
    for i, w in enumerate(ws):
        ids = [3 + ord(c) - 97 for c in w]
        src[i, :len(ids)] = ids
        m[i, :len(ids)] = 1
        tgt[i, 0] = BOS
        tgt[i, 1:len(ids) + 1] = ids[::-1]
        y[i, :len(ids)] = ids[::-1]
        y[i, len(ids)] = EOS
    return src, m, tgt, y


def decode(ids):
    s = []
    for c in ids:
        if c == EOS:
            break
        s.append(chr(97 + int(c) - 3) if c >= 3 else "?")
    return "".join(s)


if __name__ == "__main__":
    for p in ("train", "test", "valid"):
        w = words(p)
        print(p, len(w), w[:5])
