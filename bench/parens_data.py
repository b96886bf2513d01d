#!/usr/bin/env python3
"""The parens(...) generator of dlc's runtime (runtime/parens.c), re-implemented from its
definition in docs/language.md ("Bracket strings"), with the runtime's PCG32 (runtime/rng.c),
its seeding of generated sets and the trainer's shuffling: the same strings, in the same
batches, as a dlc training run with the same seed.  Standard library only; `to_arrays` needs
NumPy.

    draw(n, seed_key, stream, pairs=5, min_len=4, max_len=20, negatives=0.5)
        -> [(symbols, label)]   symbols: 2c opens kind c, 2c + 1 closes it
    train_set(seed, epoch, **kw), test_set(seed, **kw), valid_set(seed, **kw)
    batches(seed, rows, batch, epochs)  the trainer's row order, batch by batch
"""

M64 = (1 << 64) - 1
STREAM_SHUFFLE = 0x5348554646
STREAM_GEN_TRAIN = 0x47454E5452
STREAM_GEN_TEST = 0x47454E5445
STREAM_GEN_VALID = 0x47454E5641


class PCG32:
    def __init__(self, seed, stream):
        self.state = 0
        self.inc = ((stream << 1) | 1) & M64
        self.u32()
        self.state = (self.state + seed) & M64
        self.u32()

    def u32(self):
        old = self.state
        self.state = (old * 6364136223846793005 + self.inc) & M64
        xs = (((old >> 18) ^ old) >> 27) & 0xFFFFFFFF
        rot = old >> 59
        return ((xs >> rot) | (xs << ((32 - rot) & 31))) & 0xFFFFFFFF

    def below(self, n):
        if n == 0:
            return 0
        threshold = ((1 << 32) - n) % n
        while True:
            x = self.u32()
            if x >= threshold:
                return x % n


def step_key(seed, step):
    z = (seed * 0x9E3779B97F4A7C15 + step + 0x632BE59BD9B4E019) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def well_formed(s):
    stack = []
    for c in s:
        if c % 2 == 0:
            stack.append(c)
        elif not stack or stack.pop() != c - 1:
            return False
    return not stack


def draw_string(r, pairs, min_len, max_len, negative, near_miss=1):
    n = min_len + 2 * r.below((max_len - min_len) // 2 + 1)
    if negative and not near_miss:
        while True:
            s = [r.below(2 * pairs) for _ in range(n)]
            if not well_formed(s):
                return s
    opens, h = [], 0
    for t in range(n):
        k = n - t
        u = (k - h) // 2
        o = r.below(k * (h + 1)) < u * (h + 2)
        opens.append(o)
        h += 1 if o else -1
    s, stack = [], []
    for o in opens:
        if o:
            s.append(2 * r.below(pairs))
            stack.append(s[-1])
        else:
            s.append(stack.pop() + 1)
    if not negative:
        return s
    while True:
        w = list(s)
        a = r.below(3)
        if a == 0:
            p = r.below(n)
            c = (w[p] // 2 + 1 + r.below(pairs - 1)) % pairs
            w[p] = 2 * c + w[p] % 2
        elif a == 1:
            p = r.below(n)
            w[p] ^= 1
        else:
            p = r.below(n - 1)
            w[p], w[p + 1] = w[p + 1], w[p]
        if not well_formed(w):
            return w


def draw(n, key, stream, pairs=5, min_len=4, max_len=20, negatives=0.5, len=None, near_miss=1):
    if len is not None:
        min_len = max_len = len
    r = PCG32(key, stream)
    nneg = int(negatives * n + 0.5)
    out = []
    for i in range(n):
        neg = i >= n - nneg
        out.append((draw_string(r, pairs, min_len, max_len, neg, near_miss), 0 if neg else 1))
    return out


def train_set(seed, epoch, n=1000, **kw):
    return draw(n, step_key(seed, epoch), STREAM_GEN_TRAIN, **kw)


def test_set(seed, n=1000, **kw):
    return draw(n, step_key(seed, 0), STREAM_GEN_TEST, **kw)


def valid_set(seed, n=1000, **kw):
    return draw(n, step_key(seed, 0), STREAM_GEN_VALID, **kw)


def batches(seed, rows, batch, epochs):
    """[(epoch, [row indices])]: the trainer's order, a Fisher-Yates shuffle of one permutation
    every epoch from PCG32(seed, STREAM_SHUFFLE); the last batch of an epoch may be short."""
    perm = list(range(rows))
    r = PCG32(seed, STREAM_SHUFFLE)
    out = []
    for ep in range(epochs):
        for i in range(rows - 1, 0, -1):
            j = r.below(i + 1)
            perm[i], perm[j] = perm[j], perm[i]
        for s in range(0, rows, batch):
            out.append((ep, perm[s:s + batch]))
    return out


def to_arrays(strings, L, pairs=5):
    """(x [n, L, 2 pairs] f32 one-hot, m [n, L] f32, y [n] int64) as the trainer loads them."""
    import numpy as np
    n = len(strings)
    x = np.zeros((n, L, 2 * pairs), np.float32)
    m = np.zeros((n, L), np.float32)
    y = np.zeros(n, np.int64)
    for i, (s, lab) in enumerate(strings):
        x[i, np.arange(len(s)), s] = 1
        m[i, :len(s)] = 1
        y[i] = lab
    return x, m, y


if __name__ == "__main__":
    sym = "()[]{}<>/\\"
    for s, lab in test_set(1, n=8):
        print(lab, "".join(sym[c] for c in s))
