#!/usr/bin/env python3
"""A short training run of one generative example, with a bound on its test loss.

usage: train_short.py MODEL --dlc DLC --workdir DIR

MODEL is ae, dae or vae (examples/MODEL_fmnist.dl).  The trainer runs 200
steps of batch 128 on Fashion-MNIST at one thread, then its test loss on the
10,000 test images must lie below a bound that an untrained or broken model
does not reach (after 200 steps: about 0.022, 0.023 and 273; untrained: MSE
0.169, -ELBO 549; the training set's mean image as every reconstruction:
MSE 0.087, -ELBO 385).  For the VAE, --sample and --predict then write
decoded prior draws and reconstructions of the right shape, in [0, 1], and
scripts/ae_pictures.sh draws both as PNGs (when gnuplot is installed).
Exit 77 when Fashion-MNIST is not installed.
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLES = os.path.join(HERE, "..", "..", "examples")
PICTURES = os.path.join(HERE, "..", "..", "scripts", "ae_pictures.sh")
DATA = "/usr/share/datasets/fashion-mnist"
BOUND = {"ae": 0.028, "dae": 0.030, "vae": 290.0}
STEPS = 200


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model", choices=sorted(BOUND))
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if not os.path.exists(os.path.join(DATA, "t10k-images-idx3-ubyte.gz")):
        print("SKIP: Fashion-MNIST not found in %s (scripts/setup.sh installs it)" % DATA)
        return 77
    d = a.workdir
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, a.model)
    subprocess.run([a.dlc, os.path.join(EXAMPLES, a.model + "_fmnist.dl"), "-o", exe], check=True)
    ck = os.path.join(d, "ck.safetensors")
    out = subprocess.run([exe, "--steps", str(STEPS), "--threads", "1", "--quiet", "--save", ck],
                         check=True, capture_output=True, text=True).stdout
    print(out.strip())
    m = re.search(r"^test: loss ([-+0-9.eE]+)", out, re.M)
    if not m:
        print("FAIL: no test loss in the trainer's output")
        return 1
    loss = float(m.group(1))
    if not loss < BOUND[a.model]:
        print("FAIL: test loss %g after %d steps, expected below %g" % (loss, STEPS, BOUND[a.model]))
        return 1
    if a.model == "vae":
        import numpy as np
        s = os.path.join(d, "samples.npy")
        subprocess.run([exe, "--load", ck, "--sample", "64", "--sample-out", s], check=True,
                       stdout=subprocess.DEVNULL)
        p = os.path.join(d, "recon.npy")
        subprocess.run([exe, "--load", ck, "--predict", os.path.join(DATA, "t10k-images-idx3-ubyte.gz"),
                        "--predict-out", p], check=True, stdout=subprocess.DEVNULL)
        for path, rows in ((s, 64), (p, 10000)):
            v = np.load(path)
            if v.shape != (rows, 784) or not (v.min() >= 0 and v.max() <= 1) or v.std() < 0.05:
                print("FAIL: %s: shape %s, range [%g, %g], std %g" % (path, v.shape, v.min(), v.max(), v.std()))
                return 1
        print("samples %s and reconstructions %s in [0, 1]" % (np.load(s).shape, np.load(p).shape))
        if shutil.which("gnuplot"):
            for mode, size in (("recon", (476, 476)), ("samples", (476, 476))):
                png = os.path.join(d, mode + ".png")
                if os.path.exists(png):
                    os.remove(png)
                subprocess.run([PICTURES, mode, exe, ck, png], check=True)
                with open(png, "rb") as f:
                    head = f.read(24)
                got = struct.unpack(">II", head[16:24]) if head[:8] == b"\x89PNG\r\n\x1a\n" else None
                if got != size:
                    print("FAIL: %s: not a %dx%d PNG (%r)" % (png, size[0], size[1], got))
                    return 1
        else:
            print("gnuplot not installed: scripts/ae_pictures.sh not run")
    print("PASS: test loss %g < %g after %d steps" % (loss, BOUND[a.model], STEPS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
