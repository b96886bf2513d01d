"""gan_pictures_test.py - scripts/gan_pictures.sh on briefly trained GANs.

usage: gan_pictures_test.py --dlc DLC --workdir DIR

Compiles examples/gan_moons.dl and cgan_moons.dl (C at -O1, which builds faster)
and draws each with scripts/gan_pictures.sh, EVERY=5 EPOCHS=10 on one thread:
checks that the result is a PNG of two panels' size (960 x 275), that the
script printed one line per chunk (the cGAN's naming its second output,
samples_1), and that the checkpoint after the two chunks of 5 epochs is the
same file, byte for byte, as one run of 10 epochs.  Exit 77 (skipped) without
gnuplot.
"""
import argparse
import filecmp
import os
import shutil
import struct
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SCRIPT = os.path.join(ROOT, "scripts", "gan_pictures.sh")
SIZE = (960, 275)  # 2 panels: the title's minimum width; one row of 235 under 40 of title


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    return struct.unpack(">II", head[16:24]) if head[:8] == b"\x89PNG\r\n\x1a\n" else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    if not shutil.which("gnuplot"):
        print("SKIP: gnuplot is not installed")
        return 77
    d = a.workdir
    os.makedirs(d, exist_ok=True)
    env = dict(os.environ, TMPDIR=d, EVERY="5", EPOCHS="10", THREADS="1")
    for k in ("SAMPLES", "SEED", "SAMPLE_SEED", "COLS", "LABELS", "CKPT"):
        env.pop(k, None)
    fails = 0
    for name, second in (("gan_moons", None), ("cgan_moons", "samples_1")):
        exe = os.path.join(d, name)
        subprocess.run([a.dlc, "--cflags", "-O1", os.path.join(ROOT, "examples", name + ".dl"), "-o", exe],
                       check=True)
        png, ck = os.path.join(d, name + ".png"), os.path.join(d, name + ".chunks.st")
        for f in (png, ck):
            if os.path.exists(f):
                os.remove(f)
        r = subprocess.run([SCRIPT, exe, png], check=True, env=dict(env, CKPT=ck),
                           stdout=subprocess.PIPE, universal_newlines=True)
        print(r.stdout, end="")
        lines = [l for l in r.stdout.splitlines() if l.startswith("epoch ")]
        if [l.split(":")[0] for l in lines] != ["epoch 5/5", "epoch 10/10"]:
            print("FAIL: %s: not one line for each of epochs 5 and 10" % name)
            fails += 1
        if second and not all(second + " near" in l for l in lines):
            print("FAIL: %s: %s not reported" % (name, second))
            fails += 1
        got = png_size(png)
        if got != SIZE:
            print("FAIL: %s: not a %dx%d PNG (%r)" % (png, SIZE[0], SIZE[1], got))
            fails += 1
        straight = os.path.join(d, name + ".straight.st")
        subprocess.run([exe, "--quiet", "--threads", "1", "--seed", "1", "--epochs", "10", "--save", straight],
                       check=True, stdout=subprocess.DEVNULL)
        if not filecmp.cmp(ck, straight, shallow=False):
            print("FAIL: %s: two chunks of 5 epochs differ from one run of 10" % name)
            fails += 1
    if fails:
        return 1
    print("PASS: gan_moons and cgan_moons drawn after epochs 5 and 10, %dx%d" % SIZE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
