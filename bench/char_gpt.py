#!/usr/bin/env python3
"""char_gpt.py - examples/char_gpt.dl next to its PyTorch twin (bench/torch_char_gpt.py).

speed   training tokens/s (B T = 2,048 per step) at 1 and 2 threads, dlc and PyTorch 1.13
        taking turns in windows of --window steps on the same machine; medians and ratios
bpc     validation bits per character after 500 / 1,000 / 1,500 steps: dlc trains in stages
        (--steps, --save, --load: a resumed run carries on with the next batch), the twin in
        one run
sample  500 characters after "Q: " at temperature 0.8 from dlc's 1,500-step checkpoint
cache   seconds to write those 500 characters with the key/value cache and without it (dlc
        --no-kv-cache: the last 64 characters run again for each one), both on one thread,
        taking turns, medians of --windows runs, from the 1,500-step checkpoint

usage: /usr/bin/python3 bench/char_gpt.py [--dlc build/dlc] [--what speed,bpc,sample,cache]
       [--windows 4] [--window 20] [--no-torch] [--workdir DIR]
"""
import os
import statistics
import time

from char_lstm import ROOT, arguments, compare, run


def main():
    a = arguments("char_gpt", "speed,bpc,sample,cache")
    exe, ck = compare(a, "char_gpt", "torch_char_gpt.py")
    if "cache" in a.what.split(",") and os.path.exists(ck):
        rerun = os.path.join(a.workdir, "char_gpt_rerun")
        run([a.dlc, "--no-kv-cache", os.path.join(ROOT, "examples", "char_gpt.dl"), "-o", rerun])
        times = {exe: [], rerun: []}
        for _ in range(a.windows):
            for e in times:
                t0 = time.perf_counter()
                run([e, "--load", ck, "--sample", "500", "--prime", "Q: ", "--temperature", "0.8", "--seed", "1",
                     "--threads", "1", "--quiet"])
                times[e].append(time.perf_counter() - t0)
        mc, mr = statistics.median(times[exe]), statistics.median(times[rerun])
        print("500 characters: %.2f s with the key/value cache, %.2f s without, %.1fx" % (mc, mr, mr / mc),
              flush=True)


if __name__ == "__main__":
    main()
