#!/usr/bin/env python3
"""The hist(...) generator of dlc's runtime (runtime/hist.c), re-implemented from its definition
in docs/language.md ("Token histograms"), with the runtime's PCG32 and seeding of generated sets
(bench/parens_data.py has them, and the trainer's shuffle): the same sequences, in the same
batches, as a dlc training run with the same seed.  Standard library only; `to_arrays` needs
NumPy.

    draw(n, key, stream, vocab=10, len=10) -> [(tokens, counts)]
    train_set(seed, epoch, **kw), test_set(seed, **kw), valid_set(seed, **kw)
    batches(seed, rows, batch, epochs)  the trainer's row order, batch by batch (parens_data's)
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from parens_data import (PCG32, STREAM_GEN_TEST, STREAM_GEN_TRAIN, STREAM_GEN_VALID,  # noqa: E402,F401
                         batches, step_key)


def counts(tokens):
    """The label of each position: how many times its token occurs in the sequence."""
    c = {}
    for k in tokens:
        c[k] = c.get(k, 0) + 1
    return [c[k] for k in tokens]


def draw(n, key, stream, vocab=10, len=10):
    """n sequences of `len` tokens, each below(vocab) left to right, from one PCG32 seeded
    (key, stream) for the whole set."""
    r = PCG32(key, stream)
    out = []
    for _ in range(n):
        s = [r.below(vocab) for _ in range(len)]
        out.append((s, counts(s)))
    return out


def train_set(seed, epoch, n=1000, **kw):
    return draw(n, step_key(seed, epoch), STREAM_GEN_TRAIN, **kw)


def test_set(seed, n=1000, **kw):
    return draw(n, step_key(seed, 0), STREAM_GEN_TEST, **kw)


def valid_set(seed, n=1000, **kw):
    return draw(n, step_key(seed, 0), STREAM_GEN_VALID, **kw)


def to_arrays(seqs):
    """(x [n, len] int64 tokens, y [n, len] int64 counts) as the trainer loads them."""
    import numpy as np
    x = np.array([s for s, _ in seqs], np.int64)
    y = np.array([c for _, c in seqs], np.int64)
    return x, y


if __name__ == "__main__":
    for s, c in test_set(1, n=4):
        print(" ".join("%d" % k for k in s), " -> ", " ".join("%d" % k for k in c))
