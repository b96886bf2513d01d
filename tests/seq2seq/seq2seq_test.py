#!/usr/bin/env python3
"""reverse_words(...) against its documented definition, and the attention seq2seq training.

  words  the words that the trainer loads (dumped with --dump-data) are bench/seq2seq_data.py's,
         set by set, with n, min_len and max_len, on Debian's word list and on a small list of
         lines that must be left out (capitals, apostrophes, accents, CRLF, lengths); the three
         sets are disjoint; a word list that does not exist stops the trainer with its name
  train  examples/seq2seq_attention.dl trained for --steps steps: the exact match of its greedy
         decoding on the held-out test words at least --min-exact and the share of their
         letters right at least --min-letters (the trainer's `exact` and `letters`); the exact
         match recomputed from --predict's `guess` on the test words, with the decoder's input
         blanked but for BOS (greedy decoding reads nothing else of it), equals the trainer's

usage: seq2seq_test.py --dlc PATH --workdir DIR words|train [--steps N] [--min-exact X]
       [--min-letters X]
Standard library only."""
import argparse
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import safetensors_raw  # noqa: E402
import trainer_harness  # noqa: E402
from trainer_harness import build, fail, run  # noqa: E402
import seq2seq_data as sd  # noqa: E402

args = None

MODEL = """dim B = 8
dim S = %(S)d
dim T = %(T)d
input  src : i32[B, S]
input  m   : f32[B, S]
input  tgt : i32[B, T]
label  y   : i32[B, T]
param E : [29, 4]
param W : [4, 29]
loss cross_entropy(embedding(tgt, E) @ W + reshape(sum(embedding(src, E) @ W * reshape(m, [B, S, 1]), axis = 1), [B, 1, 29]), y, ignore_index = 0)
train {
  data  = reverse_words(%(a)s)
  test  = reverse_words(%(a)s)
  valid = reverse_words(%(v)s)
}
"""




def ints(t):
    dt, shape, raw = t
    if dt != "I32":
        fail("expected I32, found %s" % dt)
    v = safetensors_raw.values(raw, dt)
    return [list(v[i * shape[1]:(i + 1) * shape[1]]) for i in range(shape[0])]


def check_set(tensors, part, want, S, T):
    """The four columns of `part` are those of the words `want`."""
    src, tgt, y = (ints(tensors["%s.%s" % (part, k)]) for k in ("src", "tgt", "y"))
    dm, shm, rawm = tensors[part + ".m"]
    m = safetensors_raw.values(rawm, dm)
    if len(src) != len(want):
        fail("%s: %d words, expected %d" % (part, len(src), len(want)))
    for i, w in enumerate(want):
        ids = [3 + ord(c) - 97 for c in w]
        pad_s, pad_t = [0] * (S - len(ids)), [0] * (T - len(ids) - 1)
        exp = (ids + pad_s, [sd.BOS] + ids[::-1] + pad_t, ids[::-1] + [sd.EOS] + pad_t,
               [1.0] * len(ids) + [0.0] * (S - len(ids)))
        got = (src[i], tgt[i], y[i], list(m[i * S:(i + 1) * S]))
        if got != exp:
            fail("%s row %d (%r): %s, expected %s" % (part, i, w, got, exp))
    print("%s: %d words as documented" % (part, len(want)))


def dump(exe, name):
    path = os.path.join(args.workdir, name + ".safetensors")
    run([exe, "--dump-data", path])
    return safetensors_raw.read(path)[1]


def cmd_words():
    # Debian's list, the defaults (the example's sets), and n / lengths / shares of its own.
    for name, S, T, a, v, kw, kwv in (
            ("default", 10, 11, "", "n = 1000", {}, {"n": 1000}),
            ("lengths", 14, 16, "min_len = 3, max_len = 14, test_share = 0.2, valid_share = 0.1",
             "min_len = 3, max_len = 14, test_share = 0.2, valid_share = 0.1, n = 77",
             {"min_len": 3, "max_len": 14, "test_share": 0.2, "valid_share": 0.1},
             {"min_len": 3, "max_len": 14, "test_share": 0.2, "valid_share": 0.1, "n": 77})):
        exe = build(MODEL % {"S": S, "T": T, "a": a, "v": v}, "words_" + name)
        ts = dump(exe, "words_" + name)
        sets = {}
        for part in ("train", "test", "valid"):
            sets[part] = sd.words(part, **(kwv if part == "valid" else kw))
            check_set(ts, part, sets[part], S, T)
        full = {p: set(sd.words(p, **kw)) for p in ("train", "test", "valid")}
        if full["train"] & full["test"] or full["train"] & full["valid"] or full["test"] & full["valid"]:
            fail("the sets overlap")
        if not full["test"] or not full["valid"]:
            fail("an empty held-out set")
    # A small list: only lowercase a-z words of 1..10 letters are kept, CRLF ends a line too,
    # and a last line without its newline counts.
    lines = [b"Apple", b"don't", b"caf\xc3\xa9", b"abc\r", b"", b"toolongwordx", b"b", b"ab cd",
             b"zebra", b"sun", b"quiet", b"Tree", b"tree", b"a", b"mnop", b"xyz"]
    wl = os.path.join(args.workdir, "words.txt")
    with open(wl, "wb") as f:
        f.write(b"\n".join(lines))
    kw = {"file": wl, "test_share": 0.3, "valid_share": 0.3}
    a = 'file = "%s", test_share = 0.3, valid_share = 0.3' % wl
    exe = build(MODEL % {"S": 10, "T": 11, "a": a, "v": a}, "words_small")
    ts = dump(exe, "words_small")
    kept = []
    for p in ("train", "test", "valid"):
        want = sd.words(p, **kw)
        check_set(ts, p, want, 10, 11)
        kept += want
    if sorted(kept) != sorted(["abc", "b", "zebra", "sun", "quiet", "tree", "a", "mnop", "xyz"]):
        fail("kept %s" % sorted(kept))
    # A word list that is not there: the trainer stops and names it.
    missing = os.path.join(args.workdir, "no-such-words.txt")
    exe = build(MODEL % {"S": 10, "T": 11, "a": 'file = "%s"' % missing, "v": 'file = "%s"' % missing},
                "words_missing")
    out = run([exe, "--steps", "1"], expect_rc=1)
    if "cannot open the word list '%s'" % missing not in out:
        fail("the trainer's message does not name the missing word list")
    print("ok")


def cmd_train():
    exe = os.path.join(args.workdir, "seq2seq_attention")
    run([args.dlc, os.path.join(ROOT, "examples", "seq2seq_attention.dl"), "-o", exe])
    ck = os.path.join(args.workdir, "ck.safetensors")
    out = run([exe, "--steps", str(args.steps), "--seed", "1", "--threads", "2", "--progress", "never",
               "--save", ck])
    m = re.search(r"^test: exact ([0-9.]+), letters ([0-9.]+)", out, re.M)
    if not m:
        fail("no `test: exact ..., letters ...` line")
    exact, letters = float(m.group(1)), float(m.group(2))
    if exact < args.min_exact or letters < args.min_letters:
        fail("exact %.4f, letters %.4f after %d steps: expected at least %.2f and %.2f" %
             (exact, letters, args.steps, args.min_exact, args.min_letters))
    # --predict on the test words, the decoder's input blanked but for BOS.
    ts = dump(exe, "data")
    files = []
    for k in ("src", "m", "tgt"):
        dt, shape, raw = ts["test." + k]
        if k == "tgt":
            v = list(safetensors_raw.values(raw, dt))
            for i in range(len(v)):
                if i % shape[1]:
                    v[i] = 0
            raw = struct.pack("<%di" % len(v), *v)
        p = os.path.join(args.workdir, k + ".npy")
        write_npy(p, dt, shape, raw)
        files.append(p)
    guess = os.path.join(args.workdir, "guess.npy")
    run([exe, "--load", ck, "--predict", ",".join(files), "--predict-out", guess, "--threads", "2"])
    g = read_npy_i32(guess)
    y = ints(ts["test.y"])
    right = sum(all(gi == yi for gi, yi in zip(gr, yr) if yi) for gr, yr in zip(g, y))
    if abs(right / len(y) - exact) > 1.5e-6 + 1.0 / len(y):
        fail("--predict's guesses match %d of %d words (%.6f), the trainer says %.6f" %
             (right, len(y), right / len(y), exact))
    print("exact %.4f, letters %.4f after %d steps; --predict agrees (%d of %d words)" %
          (exact, letters, args.steps, right, len(y)))


def write_npy(path, dt, shape, raw):
    descr = {"I32": "<i4", "F32": "<f4"}[dt]
    head = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d, " % d for d in shape))
    head += " " * (63 - (len(head) + 10) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + raw)


def read_npy_i32(path):
    data = open(path, "rb").read()
    n = struct.unpack("<H", data[8:10])[0]
    head = data[10:10 + n].decode()
    shape = tuple(int(x) for x in re.search(r"'shape': \(([^)]*)\)", head).group(1).split(",") if x.strip())
    kind = re.search(r"'descr': '([^']*)'", head).group(1)
    fmt = {"<i4": "i", "<i8": "q", "<f4": "f", "<f8": "d"}[kind]
    v = struct.unpack("<%d%s" % (shape[0] * shape[1], fmt), data[10 + n:])
    return [[int(x) for x in v[i * shape[1]:(i + 1) * shape[1]]] for i in range(shape[0])]


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["words", "train"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--min-exact", type=float, default=0.5)
    ap.add_argument("--min-letters", type=float, default=0.8)
    args = ap.parse_args()
    trainer_harness.configure(args.dlc, args.workdir, timeout=600)
    os.makedirs(args.workdir, exist_ok=True)
    {"words": cmd_words, "train": cmd_train}[args.what]()


if __name__ == "__main__":
    main()
