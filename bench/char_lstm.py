#!/usr/bin/env python3
"""char_lstm.py - examples/char_lstm.dl next to its PyTorch twin (bench/torch_char_lstm.py).

speed   training tokens/s (B T = 2,048 per step) at 1 and 2 threads, dlc and PyTorch 1.13
        taking turns in windows of --window steps on the same machine; medians and ratios
bpc     validation bits per character after 500 / 1,000 / 1,500 steps: dlc trains in stages
        (--steps, --save, --load: a resumed run carries on with the next batch and the saved
        LSTM state), the twin in one run
sample  500 characters after "Q: " at temperature 0.8 from dlc's 1,500-step checkpoint

usage: /usr/bin/python3 bench/char_lstm.py [--dlc build/dlc] [--what speed,bpc,sample]
       [--windows 4] [--window 20] [--no-torch] [--workdir DIR]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOKENS = 32 * 64


def run(cmd):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode:
        sys.exit("%s failed (%d):\n%s" % (" ".join(cmd), p.returncode, p.stdout))
    return p.stdout


def dlc_tokens_per_s(exe, threads, steps):
    out = run([exe, "--steps", str(steps), "--threads", str(threads), "--quiet"])
    m = re.search(r"in ([0-9.]+) s", out)
    return TOKENS * steps / float(m.group(1))


def torch_tokens_per_s(threads, steps, twin="torch_char_lstm.py"):
    out = run(["/usr/bin/python3", os.path.join(HERE, twin), "--steps", str(steps), "--window",
               str(steps), "--eval-at", "0", "--threads", str(threads)])
    res = json.loads(out.strip().split("\n")[-1])
    return float(res["tokens_per_s_median"][str(threads)])


def arguments(name, what):
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--what", default=what)
    ap.add_argument("--windows", type=int, default=4)
    ap.add_argument("--window", type=int, default=20)
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--workdir", default="/tmp/dlc-" + name.replace("_", "-"))
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    return a


def compare(a, name, twin):
    """examples/NAME.dl next to the twin: speed, bpc and sample as a.what asks;
    returns the trainer and its 1,500-step checkpoint."""
    exe = os.path.join(a.workdir, name)
    run([a.dlc, os.path.join(ROOT, "examples", name + ".dl"), "-o", exe])
    what = a.what.split(",")
    if "speed" in what:
        for threads in (1, 2):
            d, t = [], []
            for _ in range(a.windows):
                d.append(dlc_tokens_per_s(exe, threads, a.window))
                if not a.no_torch:
                    t.append(torch_tokens_per_s(threads, a.window, twin))
            md = statistics.median(d)
            line = "%d thread%s: dlc %.0f tokens/s" % (threads, "" if threads == 1 else "s", md)
            if t:
                mt = statistics.median(t)
                line += ", PyTorch %.0f tokens/s, ratio %.2fx" % (mt, md / mt)
            print(line, flush=True)
    ck = os.path.join(a.workdir, "ck.safetensors")
    if "bpc" in what:
        prev = None
        for steps in (500, 1000, 1500):
            run([exe, "--steps", str(steps), "--save", ck, "--quiet"] + (["--load", ck] if prev else []))
            out = run([exe, "--load", ck, "--eval-valid"])
            m = re.search(r"^valid: loss [0-9.eE+-]+, ([0-9.]+) bits per character", out, re.M)
            print("dlc: %d steps, validation %s bits per character" % (steps, m.group(1)), flush=True)
            prev = steps
        if not a.no_torch:
            out = run(["/usr/bin/python3", os.path.join(HERE, twin), "--steps", "1500"])
            res = json.loads(out.strip().split("\n")[-1])
            print("PyTorch: validation bits per character %s" % res["bpc"], flush=True)
    if "sample" in what and os.path.exists(ck):
        print(run([exe, "--load", ck, "--sample", "500", "--prime", "Q: ", "--temperature", "0.8", "--seed", "1",
                   "--quiet"]))
    return exe, ck


if __name__ == "__main__":
    compare(arguments("char_lstm", "speed,bpc,sample"), "char_lstm", "torch_char_lstm.py")
