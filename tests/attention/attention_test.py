"""attention_test.py - transformers end to end.

  char_gpt   examples/char_gpt.dl, smaller (-D T=32 -D D=64), trained 150 steps
             on fortunes: the validation bits per character must fall below
             4.3, under the corpus's unigram entropy (4.8 bits)
  generate   --sample of char_gpt.dl (f64, -D T=16 -D D=32): the generator that
             caches keys and values writes the same greedy text (--top-k 1) as
             the one that reruns the whole context (dlc --no-kv-cache) while
             the text fits the context; past it both go on (the window slides,
             the cache starts again), and the cached one is really cached (it
             has the input kv.position)
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "rnn"))
from rnn_test import CORPUS, run, train_bpc  # noqa: E402

EXAMPLE = os.path.join(ROOT, "examples", "char_gpt.dl")


def need_corpus():
    if not os.path.isdir(CORPUS):
        print("SKIP: %s is missing (scripts/setup.sh installs fortunes)" % CORPUS)
        sys.exit(77)


def char_gpt(a):
    train_bpc(a, EXAMPLE, ["T=32", "D=64"], "--eval-valid")


def generate(a):
    need_corpus()
    small = ["-D", "T=16", "-D", "D=32", "--dtype", "f64"]
    cached, rerun = os.path.join(a.workdir, "cached"), os.path.join(a.workdir, "rerun")
    run([a.dlc, EXAMPLE] + small + ["-o", cached])
    with open(cached, "rb") as f:
        if b"kv.position" not in f.read():
            sys.exit("FAIL: the generator of char_gpt.dl does not cache keys and values (no tensor kv.position)")
    run([a.dlc, "--no-kv-cache", EXAMPLE] + small + ["-o", rerun])
    ck = os.path.join(a.workdir, "ck.safetensors")
    run([cached, "--steps", "30", "--save", ck, "--quiet"])
    texts = {}
    for exe in (cached, rerun):
        for count in (11, 100):
            out = run([exe, "--load", ck, "--sample", str(count), "--prime", "Q: ", "--top-k", "1", "--quiet"])
            if not out.startswith("Q: ") or len(out) != 3 + count + 1:
                sys.exit("FAIL: %s --sample %d wrote %d bytes, expected the prime and %d characters" % (
                    exe, count, len(out), count))
            texts[exe, count] = out
    if texts[cached, 11] != texts[rerun, 11]:
        sys.exit("FAIL: within the context the cached generator wrote %r, the rerun one %r" % (
            texts[cached, 11], texts[rerun, 11]))
    print("PASS: the same %d characters within the context; %d past it from each" % (11, 100))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=["char_gpt", "generate"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    globals()[a.test](a)


if __name__ == "__main__":
    main()
