"""rnn_test.py - recurrent models end to end.

  char_lstm   examples/char_lstm.dl, smaller (-D H=64 -D T=32), trained 150
              steps on fortunes: the validation bits per character must fall
              below 4.3, under the corpus's unigram entropy (4.8 bits)
  code_size   the generated C of char_lstm.dl for T = 64 and T = 512: the
              same kernels, sizes within 1% (a scan is one loop, not unrolled)
"""
import argparse
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


def char_lstm(a):
    if not os.path.isdir(CORPUS):
        print("SKIP: %s is missing (scripts/setup.sh installs fortunes)" % CORPUS)
        sys.exit(77)
    exe = os.path.join(a.workdir, "char_lstm")
    run([a.dlc, EXAMPLE, "-D", "H=64", "-D", "T=32", "-o", exe])
    ck = os.path.join(a.workdir, "ck.safetensors")
    run([exe, "--steps", "150", "--save", ck, "--quiet"])
    out = run([exe, "--load", ck, "--eval"])
    m = re.search(r"valid.*?([0-9.]+) bits per character", out)
    if not m:
        sys.exit("FAIL: --eval printed no bits per character")
    bpc = float(m.group(1))
    print("validation: %.3f bits per character after 150 steps" % bpc)
    if not bpc < 4.3:
        sys.exit("FAIL: %.3f bits per character, expected < 4.3 (unigram entropy 4.8; a model that ignores the context stays above it)" % bpc)
    print("PASS")


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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=["char_lstm", "code_size"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    {"char_lstm": char_lstm, "code_size": code_size}[a.test](a)


if __name__ == "__main__":
    main()
