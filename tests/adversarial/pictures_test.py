"""pictures_test.py - scripts/adversarial_pictures.sh on a briefly trained fgsm_lenet.dl.

usage: pictures_test.py --dlc DLC --workdir DIR

Compiles examples/fgsm_lenet.dl (C at -O1, which builds faster), trains it 100
steps on one thread (seed 1; the test set replaced by the 12 images drawn, so
that the evaluation after training is short), draws its 12 clean and 24
attacked test images with scripts/adversarial_pictures.sh and checks that the
result is a PNG of the grid's size.  Exit 77 (skipped) without gnuplot or the
Fashion-MNIST files.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "adversarial_pictures.sh")
GRID = os.path.join(ROOT, "scripts", "adversarial_grid.py")
DATA = os.environ.get("DATA", "/usr/share/datasets/fashion-mnist")
# 12 columns of 28 + 6 pixels and 3 rows of 28 + 9 under 17 of titles, 28 + 6 to the left
# and right of the images (scripts/adversarial_grid.py), at 3 screen pixels per pixel
SIZE = (3 * (28 + 12 * 34 - 6 + 6), 3 * (9 + 8 + 3 * 37))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if not shutil.which("gnuplot"):
        print("SKIP: gnuplot is not installed")
        return 77
    files = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    if not all(os.path.exists(os.path.join(DATA, f)) for f in files):
        print("SKIP: Fashion-MNIST not found in %s" % DATA)
        return 77
    d = a.workdir
    os.makedirs(d, exist_ok=True)
    exe = os.path.join(d, "fgsm")
    subprocess.run([a.dlc, "--cflags", "-O1", os.path.join(ROOT, "examples", "fgsm_lenet.dl"), "-o", exe],
                   check=True)
    x, y = os.path.join(d, "x.npy"), os.path.join(d, "y.npy")
    subprocess.run([sys.executable, GRID, "batch", DATA, "12", x, y], check=True)
    ck = os.path.join(d, "ck.st")
    subprocess.run([exe, "--steps", "100", "--threads", "1", "--seed", "1", "--quiet", "--data", DATA,
                    "--test", x + "," + y, "--save", ck], check=True)
    png = os.path.join(d, "fgsm_examples.png")
    if os.path.exists(png):
        os.remove(png)
    env = dict(os.environ, TMPDIR=d, DATA=DATA)
    for k in ("EPS", "EPS2", "SCALE"):
        env.pop(k, None)
    subprocess.run([SCRIPT, exe, ck, png], check=True, env=env)
    with open(png, "rb") as f:
        head = f.read(24)
    got = struct.unpack(">II", head[16:24]) if head[:8] == b"\x89PNG\r\n\x1a\n" else None
    if got != SIZE:
        print("FAIL: %s: not a %dx%d PNG (%r)" % (png, SIZE[0], SIZE[1], got))
        return 1
    print("PASS: %s, %dx%d" % (png, got[0], got[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
