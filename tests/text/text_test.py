#!/usr/bin/env python3
"""Tests of character-level text data: vocab("glob"), text("glob", seq = T), split by position,
bits per character, the vocabulary in checkpoints.

usage: text_test.py TEST --dlc PATH --workdir DIR
TEST is one of:
  train     the bigram model (tests/text/bigram.dl) on a corpus written here: its validation
            bits per character must fall below the midpoint of the corpus's unigram and bigram
            entropies (a model that ignores its input stays at the unigram entropy)
  fortunes  the same model, one short run on Debian's fortunes (skipped without them)
  twin      the corpus rules and batches against a PyTorch twin (f64): every step's loss of an
            epoch, then the validation and test losses (skipped without PyTorch)
  errors    a missing, empty or too short corpus, a byte outside the vocabulary, a table with
            fewer rows than the vocabulary, and a checkpoint of another vocabulary
Exits 0 (pass), 1 (fail) or 77 (skip).
"""
import argparse
import math
import os
import random
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FORTUNES = "/usr/share/games/fortunes"
WORDS = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "to", "park", "and", "big", "red",
         "ball", "quick", "brown", "fox", "jumps", "over", "lazy"]

args = None


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, expect_rc=0, cwd=None):
    print("$ " + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       cwd=cwd or args.workdir, timeout=600)
    sys.stdout.write(p.stdout)
    if p.returncode != expect_rc:
        fail("exit status %d, expected %d" % (p.returncode, expect_rc))
    return p.stdout


def words_text(seed, nchars):
    r = random.Random(seed)
    out = []
    n = 0
    while n < nchars:
        w = r.choice(WORDS)
        out.append(w)
        n += len(w) + 1
        if r.random() < 0.1:
            out.append("\n")
    return " ".join(out)


def fresh_dir(name):
    d = os.path.join(args.workdir, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(os.path.join(d, "corpus"))
    return d


def write(path, data):
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def build(d, src, name, extra=()):
    path = os.path.join(d, name + ".dl")
    write(path, src)
    exe = os.path.join(d, name)
    run([args.dlc, path, "-o", exe] + list(extra), cwd=d)
    return exe


def bpc_line(out, what):
    m = re.findall(r"^%s: loss ([0-9.eE+-]+), ([0-9.]+) bits per character, perplexity ([0-9.]+)"
                   % what, out, re.M)
    if not m:
        fail("no '%s: loss ..., bits per character, perplexity' line" % what)
    loss, bpc, ppl = (float(v) for v in m[-1])
    if abs(bpc - loss / math.log(2)) > 1e-3 or abs(ppl - math.exp(loss)) > 1e-3 * ppl:
        fail("%s: %g bits per character and perplexity %g do not match the loss %g"
             % (what, bpc, ppl, loss))
    return loss, bpc


def entropies(text):
    """Unigram and bigram (conditional) entropies in bits per character."""
    from collections import Counter
    uni = Counter(text)
    n = len(text)
    h1 = -sum(c / n * math.log2(c / n) for c in uni.values())
    pairs = Counter(zip(text, text[1:]))
    prev = Counter(text[:-1])
    h2 = -sum(c / (n - 1) * math.log2(c / prev[a]) for (a, _), c in pairs.items())
    return h1, h2


# ---- the corpus and batches, from the documented rules ----

def corpus_files(pattern):
    """The files of a glob: sorted by name, regular, not binary (a NUL byte), each inode once."""
    import glob
    seen = set()
    out = []
    for p in sorted(glob.glob(pattern), key=lambda s: s.encode()):
        st = os.stat(p)
        if not os.path.isfile(p) or (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        data = open(p, "rb").read()
        if b"\0" in data:
            continue
        out.append(data)
    return b"".join(out)


def batchify(ids, B, T):
    """word_language_model's batchify: B tracks of len // B; batch k is columns kT .. kT+T."""
    L = len(ids) // B
    tracks = [ids[b * L:(b + 1) * L] for b in range(B)]
    nb = (L - 1) // T
    return [([t[k * T:k * T + T] for t in tracks], [t[k * T + 1:k * T + T + 1] for t in tracks])
            for k in range(nb)]


# ---- tests ----

def test_train():
    d = fresh_dir("train")
    text = words_text(1, 30000)
    write(os.path.join(d, "corpus", "a.txt"), text[:12000])
    write(os.path.join(d, "corpus", "b.txt"), text[12000:])
    h1, h2 = entropies(text)
    bound = (h1 + h2) / 2
    print("corpus: unigram entropy %.3f, bigram entropy %.3f bits per character; bound %.3f"
          % (h1, h2, bound))
    src = open(os.path.join(HERE, "bigram.dl")).read()
    exe = build(d, src, "bigram")
    out = run([exe, "--epochs", "2", "--save", "bigram.st"], cwd=d)
    m = re.findall(r"valid loss ([0-9.eE+-]+) \(([0-9.]+) bits per character, perplexity ([0-9.]+)\)",
                   out)
    if len(m) != 2:
        fail("expected a validation line with bits per character after each of 2 epochs")
    first, last = float(m[0][1]), float(m[-1][1])
    steps = int(re.search(r"(\d+) steps", out).group(1))
    print("steps %d; valid bits per character %.4f, then %.4f" % (steps, first, last))
    if steps < 200:
        fail("expected a few hundred steps, got %d" % steps)
    if not last < bound:
        fail("valid bits per character %.4f is not below %.4f" % (last, bound))
    bpc_line(out, "test")
    # a run stopped mid-epoch and resumed goes on with the next batch: the same first epoch
    one = run([exe, "--epochs", "1"], cwd=d)
    run([exe, "--epochs", "1", "--steps", "150", "--save", "half.st"], cwd=d)
    rest = run([exe, "--epochs", "1", "--load", "half.st"], cwd=d)
    v1 = re.search(r"valid loss ([0-9.eE+-]+)", one).group(1)
    v2 = re.search(r"valid loss ([0-9.eE+-]+)", rest).group(1)
    print("valid loss after one epoch: %s; stopped at step 150 and resumed: %s" % (v1, v2))
    if v1 != v2:
        fail("the resumed epoch differs from the uninterrupted one")
    # --eval of the checkpoint: the same figures
    ev = run([exe, "--load", "bigram.st", "--eval"], cwd=d)
    _, vb = bpc_line(ev, "valid")
    if abs(vb - last) > 1e-3:
        fail("--eval gives valid bits per character %.4f, training printed %.4f" % (vb, last))
    # a test set of its own: text(...) read whole, batchified with the same B and T
    src2 = src.replace("test = split(0.1)", 'test = text("corpus/a.txt", seq = T)')
    exe2 = build(d, src2, "bigram_test")
    ev = run([exe2, "--load", "bigram.st", "--eval"], cwd=d)
    chars = int(re.search(r"^test: .*\((\d+) characters\)", ev, re.M).group(1))
    want = sum(len(x) * len(x[0]) for x, _ in batchify(list(range(12000)), 8, 16))
    if chars != want:
        fail("the test set of corpus/a.txt has %d characters in its batches, expected %d" % (chars, want))
    print("PASS")


def test_fortunes():
    if not os.path.isdir(FORTUNES):
        print("SKIP: %s is not installed (scripts/setup.sh installs the fortunes package)" % FORTUNES)
        sys.exit(77)
    d = fresh_dir("fortunes")
    h1, _ = entropies(corpus_files(FORTUNES + "/*").decode("latin-1"))
    src = open(os.path.join(HERE, "bigram.dl")).read()
    src = src.replace("corpus/*.txt", FORTUNES + "/*").replace("dim B = 8", "dim B = 32")
    exe = build(d, src, "fortunes")
    run([exe, "--steps", "300", "--save", "f.st", "--quiet"], cwd=d)
    ev = run([exe, "--load", "f.st", "--eval"], cwd=d)
    _, vb = bpc_line(ev, "valid")
    print("fortunes: unigram entropy %.3f bits per character; valid %.4f after 300 steps" % (h1, vb))
    if not vb < h1:
        fail("valid bits per character %.4f is not below the unigram entropy %.4f" % (vb, h1))
    print("PASS")


TWIN = """dtype f64
dim B = 4
dim T = 8
dim V = vocab("corpus/*.txt")
input x : i32[B, T]
label y : i32[B, T]
param E : [V, 6] = npy("E.npy")
param W : [6, V] = npy("W.npy")
param b : [V] = npy("b.npy")
loss cross_entropy(embedding(x, E) @ W + b, y)
train {
  optimizer = sgd(lr = 0.5)
  epochs = 1
  data = text("corpus/*.txt", seq = T)
  valid = split(0.15)
  test = split(0.1)
}
"""


def test_twin():
    try:
        import numpy as np
        import torch
    except ImportError:
        print("SKIP: PyTorch is not installed (/usr/bin/python3 with python3-torch)")
        sys.exit(77)
    torch.set_default_dtype(torch.float64)
    d = fresh_dir("twin")
    c = os.path.join(d, "corpus")
    write(os.path.join(c, "b.txt"), words_text(2, 1500))
    write(os.path.join(c, "a.txt"), words_text(3, 1200).upper())
    write(os.path.join(c, "c.txt"), "\xe9t\xe9 " * 40)       # bytes past ASCII (UTF-8)
    write(os.path.join(c, "n.txt"), b"binary\0Q~\x01")        # a NUL byte: skipped
    os.symlink("a.txt", os.path.join(c, "z.txt"))              # the same file: read once
    data = corpus_files(os.path.join(c, "*.txt"))
    vocab = sorted(set(data))
    V, B, T = len(vocab), 4, 8
    ids = [vocab.index(ch) for ch in data]
    n = len(ids)
    ntest, nvalid = int(math.floor(0.1 * n + 0.5)), int(math.floor(0.15 * n + 0.5))
    train, valid, test = ids[:n - ntest - nvalid], ids[n - ntest - nvalid:n - ntest], ids[n - ntest:]
    rng = np.random.default_rng(5)
    E, W, b = rng.normal(0, 1, (V, 6)), rng.normal(0, 0.5, (6, V)), rng.normal(0, 0.1, V)
    np.save(os.path.join(d, "E.npy"), E)
    np.save(os.path.join(d, "W.npy"), W)
    np.save(os.path.join(d, "b.npy"), b)
    exe = build(d, TWIN, "twin")
    out = run([exe, "--log", "log.csv", "--log-every", "1"], cwd=d)
    rows = [ln.split(",") for ln in open(os.path.join(d, "log.csv")).read().split("\n")[1:] if ln]
    dl_steps = [float(r[2]) for r in rows if r[3] != ""]
    vloss = float(re.search(r"valid loss ([0-9.eE+-]+)", out).group(1))
    tloss, _ = bpc_line(out, "test")

    pE, pW, pb = (torch.tensor(a, requires_grad=True) for a in (E, W, b))
    opt = torch.optim.SGD([pE, pW, pb], lr=0.5)

    def loss_of(x, y):
        z = torch.nn.functional.embedding(torch.tensor(x), pE) @ pW + pb
        return torch.nn.functional.cross_entropy(z.reshape(-1, V), torch.tensor(y).reshape(-1))

    ref = []
    for x, y in batchify(train, B, T):
        opt.zero_grad()
        loss = loss_of(x, y)
        loss.backward()
        opt.step()
        ref.append(loss.item())
    with torch.no_grad():
        rv = [loss_of(x, y).item() for x, y in batchify(valid, B, T)]
        rt = [loss_of(x, y).item() for x, y in batchify(test, B, T)]
    print("corpus %d bytes, V %d; %d steps (dlc %d); valid %d batches, test %d"
          % (n, V, len(ref), len(dl_steps), len(rv), len(rt)))
    if len(dl_steps) != len(ref):
        fail("dlc took %d steps in the epoch, the twin %d" % (len(dl_steps), len(ref)))
    worst = max(abs(a - r) / abs(r) for a, r in zip(dl_steps, ref))
    print("largest relative difference of a step's loss: %.3g" % worst)
    if worst > 1e-9:
        fail("the step losses differ from the twin's")
    for what, got, want in (("valid", vloss, sum(rv) / len(rv)), ("test", tloss, sum(rt) / len(rt))):
        print("%s loss: dlc %.9g, twin %.9g" % (what, got, want))
        if abs(got - want) > 2e-5 * want:
            fail("the %s loss differs from the twin's" % what)
    print("PASS")


ERR = """dim B = 4
dim T = 8
dim V = vocab("%s")
input x : i32[B, T]
label y : i32[B, T]
param E : [V, V]
loss cross_entropy(embedding(x, E), y)
train {
  data = text("%s", seq = T)
}
"""


def expect_error(exe, d, pattern, flags=()):
    out = run([exe, "--epochs", "1"] + list(flags), expect_rc=1, cwd=d)
    if not re.search(pattern, out):
        fail("expected a message matching %r" % pattern)


def test_errors():
    d = fresh_dir("errors")
    c = os.path.join(d, "corpus")
    write(os.path.join(c, "a.txt"), words_text(4, 400))
    write(os.path.join(c, "b.txt"), "abc")
    exe = build(d, ERR % ("corpus/*.txt", "corpus/*.txt"), "m")
    run([exe, "--epochs", "1", "--save", "m.st"], cwd=d)
    # an embedding table with fewer rows than the vocabulary has characters
    exe3 = build(d, ERR.replace("param E : [V, V]", "param E : [4, V]") % ("corpus/*.txt", "corpus/*.txt"),
                 "small")
    expect_error(exe3, d, r"'x' holds ids in \[0, 4\), fewer than the \d+ characters of its vocabulary")
    # a byte outside the vocabulary: its file, offset and value
    write(os.path.join(c, "b.txt"), "abc#")
    expect_error(exe, d, r"corpus/b\.txt: offset 3: byte 0x23 \('#'\) is not in the model's vocabulary")
    # shorter than one batch: B x (T + 1) = 36 characters
    write(os.path.join(c, "b.txt"), "abc")
    write(os.path.join(c, "a.txt"), "the cat sat on the mat")
    expect_error(exe, d, r"holds 25 characters, shorter than one batch of 4 sequences of 8 "
                         r"\(it needs 36")
    # empty
    write(os.path.join(c, "a.txt"), "")
    write(os.path.join(c, "b.txt"), "")
    expect_error(exe, d, r"the corpus is empty")
    # missing
    shutil.rmtree(c)
    expect_error(exe, d, r"no file matches '.*corpus/\*\.txt'")
    # a checkpoint of another vocabulary
    os.makedirs(c)
    write(os.path.join(c, "a.txt"), words_text(4, 400) + "#")
    exe2 = build(d, ERR % ("corpus/*.txt", "corpus/*.txt"), "m2")
    expect_error(exe2, d, r"m\.st: its vocabulary \(\d+ characters\) differs from model m2's "
                          r"\(\d+ characters\): id \d+ is 0x.. .* in the checkpoint and 0x23 '#' in "
                          r"the model", ["--load", "m.st"])
    print("PASS")


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=["train", "fortunes", "twin", "errors"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    args.dlc = os.path.abspath(args.dlc)
    os.makedirs(args.workdir, exist_ok=True)
    {"train": test_train, "fortunes": test_fortunes, "twin": test_twin,
     "errors": test_errors}[args.test]()


if __name__ == "__main__":
    main()
