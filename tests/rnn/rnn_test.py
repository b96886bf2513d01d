"""rnn_test.py - recurrent models end to end.

  char_lstm   examples/char_lstm.dl, smaller (-D H=64 -D T=32), trained 150
              steps on fortunes: the validation bits per character must fall
              below 4.3, under the corpus's unigram entropy (4.8 bits)
  code_size   the generated C of char_lstm.dl for T = 64 and T = 512: the
              same kernels, sizes within 1% (a scan is one loop, not unrolled)
  tbptt       an LSTM whose state is carried from batch to batch against
              torch.nn.LSTM with the state detached between batches (f64, the
              same starting weights): every step's loss of an epoch, and the
              validation loss with the state carried through the set from zero
  parens      examples/parens_rnn.dl (LSTM) trained 400 steps: at least 90% of all-well-
              formed strings of length 20 classified right (a broken model stays near 50%)
  generate    --sample with --prime, --temperature and --top-k: the text
              continues the prime, the same seed gives the same text, and an
              unknown character in the prime is an error
"""
import argparse
import math
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "char_lstm.dl")
CORPUS = "/usr/share/games/fortunes"


def run(cmd, **kw):
    print("$ " + " ".join(cmd), flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    print(p.stdout, end="")
    if p.returncode:
        sys.exit("FAIL: exit %d" % p.returncode)
    return p.stdout


def train_bpc(a, example, defines, eval_flag, bound=4.3, steps=150):
    """Build EXAMPLE with -D DEFINES, train it STEPS steps on fortunes and
    require validation bits per character below BOUND (the corpus's unigram
    entropy is 4.8 bits; a model that ignores the context stays above it)."""
    if not os.path.isdir(CORPUS):
        print("SKIP: %s is missing (scripts/setup.sh installs fortunes)" % CORPUS)
        sys.exit(77)
    exe = os.path.join(a.workdir, os.path.basename(example)[:-3])
    run([a.dlc, example] + [f for d in defines for f in ("-D", d)] + ["-o", exe])
    ck = os.path.join(a.workdir, "ck.safetensors")
    run([exe, "--steps", str(steps), "--save", ck, "--quiet"])
    out = run([exe, "--load", ck, eval_flag])
    m = re.search(r"valid.*?([0-9.]+) bits per character", out)
    if not m:
        sys.exit("FAIL: %s printed no bits per character" % eval_flag)
    bpc = float(m.group(1))
    print("validation: %.3f bits per character after %d steps" % (bpc, steps))
    if not bpc < bound:
        sys.exit("FAIL: %.3f bits per character, expected < %g (unigram entropy 4.8; a model that ignores the context stays above it)" % (bpc, bound))
    print("PASS")


def char_lstm(a):
    train_bpc(a, EXAMPLE, ["H=64", "T=32"], "--eval")


def code_size(a):
    sizes, kernels = [], []
    for t in (64, 512):
        c = os.path.join(a.workdir, "char_lstm_T%d.c" % t)
        run([a.dlc, EXAMPLE, "-D", "T=%d" % t, "-o", c])
        text = open(c).read()
        sizes.append(len(text))
        kernels.append(len(re.findall(r"^static void \w+\(int64_t n\)$", text, re.M)))
    print("T = 64: %d bytes, %d kernels; T = 512: %d bytes, %d kernels" % (sizes[0], kernels[0], sizes[1], kernels[1]))
    if kernels[0] != kernels[1] or abs(sizes[1] - sizes[0]) > 0.01 * sizes[0]:
        sys.exit("FAIL: the generated code grows with the sequence length")
    print("PASS")


TBPTT = """dtype f64
dim B = 4
dim T = 8
dim H = 5
dim V = vocab("corpus/*.txt")
input x : i32[B, T]
label y : i32[B, T]
emb = Embedding(V, 6)
lstm = LSTM(6, H)
head = Linear(H, V)
carry h : [B, H]
carry c : [B, H]
hs, cs = lstm.states(emb(x), h, c)
h := reshape(slice(hs, 1, T - 1, T), [B, H])
c := reshape(slice(cs, 1, T - 1, T), [B, H])
output probs = softmax(head(hs))
loss cross_entropy(head(hs), y)
train {
  optimizer = sgd(lr = 0.5)
  epochs = 1
  data = text("corpus/*.txt", seq = T)
  valid = split(0.15)
}
"""


def text_helpers(a):
    sys.path.insert(0, os.path.join(ROOT, "tests", "text"))
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    import text_test
    text_test.args = a
    return text_test


def tbptt(a):
    try:
        import numpy as np
        import torch
    except ImportError:
        print("SKIP: PyTorch is not installed (/usr/bin/python3 with python3-torch)")
        sys.exit(77)
    tt = text_helpers(a)
    import st
    torch.set_default_dtype(torch.float64)
    d = tt.fresh_dir("tbptt")
    tt.write(os.path.join(d, "corpus", "a.txt"), tt.words_text(7, 2400))
    data = tt.corpus_files(os.path.join(d, "corpus", "*.txt"))
    vocab = sorted(set(data))
    V, B, T, H = len(vocab), 4, 8, 5
    ids = [vocab.index(ch) for ch in data]
    n = len(ids)
    nvalid = int(math.floor(0.15 * n + 0.5))
    train, valid = ids[:n - nvalid], ids[n - nvalid:]
    exe = tt.build(d, TBPTT, "tbptt")
    tt.run([exe, "--steps", "0", "--save", "init.safetensors", "--quiet"], cwd=d)
    out = tt.run([exe, "--load", "init.safetensors", "--log", "log.csv", "--log-every", "1"], cwd=d)
    rows = [ln.split(",") for ln in open(os.path.join(d, "log.csv")).read().split("\n")[1:] if ln]
    dl_steps = [float(r[2]) for r in rows if r[3] != ""]
    vloss = float(re.search(r"valid loss ([0-9.eE+-]+)", out).group(1))

    w = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in st.load(os.path.join(d, "init.safetensors"))[0].items()
         if k not in ("h", "c")}
    lstm = torch.nn.LSTM(6, H, batch_first=True)
    lstm._flat_weights = [w["lstm." + k] for k in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")]
    params = list(w.values())
    opt = torch.optim.SGD(params, lr=0.5)

    def loss_of(x, y, state):
        hs, state = lstm(torch.nn.functional.embedding(torch.tensor(x), w["emb.weight"]), state)
        z = hs @ w["head.W"] + w["head.b"]
        return torch.nn.functional.cross_entropy(z.reshape(-1, V), torch.tensor(y).reshape(-1)), state

    ref = []
    state = (torch.zeros(1, B, H), torch.zeros(1, B, H))
    for x, y in tt.batchify(train, B, T):
        opt.zero_grad()
        state = (state[0].detach(), state[1].detach())
        loss, state = loss_of(x, y, state)
        loss.backward()
        opt.step()
        ref.append(loss.item())
    with torch.no_grad():
        state = (torch.zeros(1, B, H), torch.zeros(1, B, H))
        rv = []
        for x, y in tt.batchify(valid, B, T):
            loss, state = loss_of(x, y, state)
            rv.append(loss.item())
    print("corpus %d bytes, V %d; %d steps (dlc %d); valid %d batches" % (n, V, len(ref), len(dl_steps), len(rv)))
    if len(dl_steps) != len(ref) or not ref:
        sys.exit("FAIL: dlc took %d steps, the twin %d" % (len(dl_steps), len(ref)))
    worst = max(abs(p - r) / abs(r) for p, r in zip(dl_steps, ref))
    print("largest relative difference of a step's loss: %.3g" % worst)
    if worst > 1e-9:
        sys.exit("FAIL: the step losses differ from torch.nn.LSTM's with the state detached between batches")
    want = sum(rv) / len(rv)
    print("valid loss: dlc %.9g, twin %.9g" % (vloss, want))
    if abs(vloss - want) > 2e-5 * want:
        sys.exit("FAIL: the validation loss differs from the twin's")
    print("PASS")


def generate(a):
    tt = text_helpers(a)
    d = tt.fresh_dir("generate")
    tt.write(os.path.join(d, "corpus", "a.txt"), tt.words_text(9, 3000))
    src = TBPTT.replace("dtype f64\n", "").replace("dim H = 5", "dim H = 32").replace(
        "sgd(lr = 0.5)", "adam(lr = 0.01)").replace("epochs = 1", "epochs = 6")
    exe = tt.build(d, src, "gen")
    tt.run([exe, "--save", "ck.safetensors", "--quiet"], cwd=d)
    flags = ["--load", "ck.safetensors", "--sample", "300", "--prime", "the cat ", "--temperature", "0.7",
             "--top-k", "5", "--quiet", "--seed", "3"]
    one, two = tt.run([exe] + flags, cwd=d), tt.run([exe] + flags, cwd=d)
    text = one.split("\n", 1)[1] if one.startswith("loaded") else one
    if one != two:
        sys.exit("FAIL: the same seed wrote different text")
    if "the cat " not in one or len(text.strip()) < 300:
        sys.exit("FAIL: the sample does not continue the prime with 300 characters")
    known = set(open(os.path.join(d, "corpus", "a.txt")).read())
    if not set(text.strip()) <= known:
        sys.exit("FAIL: characters outside the corpus")
    words = [w for w in re.split(r"\s+", text) if w]
    real = sum(w in tt.WORDS for w in words)
    print("%d of %d written words are the corpus's" % (real, len(words)))
    if real < len(words) // 2:
        sys.exit("FAIL: the model writes mostly non-words after 6 epochs")
    out = tt.run([exe, "--load", "ck.safetensors", "--sample", "5", "--prime", "the Z"], expect_rc=1, cwd=d)
    if "not in the vocabulary" not in out:
        sys.exit("FAIL: an unknown character in --prime is not reported")
    print("PASS")


def parens(a):
    exe = os.path.join(a.workdir, "parens_rnn")
    run([a.dlc, os.path.join(ROOT, "examples", "parens_rnn.dl"), "-o", exe])
    ck = os.path.join(a.workdir, "ck.safetensors")
    run([exe, "--epochs", "4", "--save", ck, "--quiet"])
    out = run([exe, "--load", ck, "--eval"])
    m = re.search(r"^test: loss [0-9.eE+-]+, accuracy ([0-9.]+)%", out, re.M)
    if not m or float(m.group(1)) < 90:
        sys.exit("FAIL: accuracy on well-formed strings %s, expected >= 90%%" % (m.group(1) if m else "missing"))
    print("PASS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=["char_lstm", "code_size", "tbptt", "generate", "parens"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    {"char_lstm": char_lstm, "code_size": code_size, "tbptt": tbptt, "generate": generate, "parens": parens}[a.test](a)


if __name__ == "__main__":
    main()
