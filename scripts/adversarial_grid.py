"""adversarial_grid.py - lay out test images and their adversarial versions for gnuplot.

usage: adversarial_grid.py batch DATA_DIR N X.npy Y.npy
       adversarial_grid.py draw X.npy Y.npy OUT.txt LABELS.gp EPS=DUMP [EPS=DUMP...]

batch: the first N Fashion-MNIST test images (t10k-*-idx*-ubyte.gz in
DATA_DIR) as float32 [N, 1, 28, 28] in [0, 1] and their labels as int32 [N],
for a trainer's --batch-from.

draw: one grey-level matrix (OUT.txt, row 0 at the top, for gnuplot's
`matrix with image`) and the gnuplot commands that label it (LABELS.gp).
Each DUMP is a trainer's --dump-forward of that batch with --set eps=EPS:
safetensors with probs (the clean class probabilities [N, 10]), x_fgsm (the
attacked images [N, 1, 28, 28]) and probs_fgsm (their probabilities).  The
originals make the first row, each with its true class above it; then one row
per EPS, weakest first.  Under every image the predicted class and its
probability; a wrong prediction is red and its image framed in red.  Images are
white ink on black, as in the data set.  Prints one line per row: how many of
the N predictions are right.
"""
import gzip
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
import st  # noqa: E402  (NumPy-only safetensors reader)

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

# layout, in image pixels (the shell script draws each as SCALE screen pixels)
GAP = 6        # between columns
LEFT = 28      # row titles
RIGHT = 6      # room for the last column's labels
TITLE = 9      # the title line
TRUE = 8       # the true classes, above the originals
BELOW = 9      # the predictions, under each row of images
RED, INK = "#d62728", "#202020"


def read_idx(path):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def batch(data_dir, n, xpath, ypath):
    x = read_idx(os.path.join(data_dir, "t10k-images-idx3-ubyte.gz"))[:n]
    y = read_idx(os.path.join(data_dir, "t10k-labels-idx1-ubyte.gz"))[:n]
    np.save(xpath, (x.reshape(-1, 1, 28, 28) / np.float32(255)).astype(np.float32))
    np.save(ypath, y.astype(np.int32))
    return 0


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def draw(xpath, ypath, mpath, gppath, dumps):
    x = np.load(xpath).reshape(-1, 28, 28)
    y = np.load(ypath).astype(int)
    n = len(y)
    rows = []                      # (title, images, probs)
    clean, model = None, None
    for eps, path in sorted(dumps, key=lambda d: float(d[0])):
        t, meta = st.load(path)
        model = meta.get("model", model)
        missing = [k for k in ("probs", "x_fgsm", "probs_fgsm") if k not in t]
        if missing:
            sys.stderr.write("adversarial_grid.py: %s has no output %s (outputs: %s)\n"
                             % (path, ", ".join(missing), ", ".join(sorted(t))))
            return 1
        if t["probs"].shape != (n, 10) or t["x_fgsm"].size != n * 784:
            sys.stderr.write("adversarial_grid.py: %s: probs %s, x_fgsm %s for %d images of 28 x 28\n"
                             % (path, t["probs"].shape, t["x_fgsm"].shape, n))
            return 1
        if clean is None:
            clean = t["probs"]
        rows.append(("FGSM\n\u03b5 = %s" % eps, t["x_fgsm"].reshape(n, 28, 28), t["probs_fgsm"]))
    rows.insert(0, ("clean", x, clean))

    pitch = 28 + GAP
    band = 28 + BELOW
    width = LEFT + n * pitch - GAP + RIGHT
    height = TITLE + TRUE + len(rows) * band
    m = np.ones((height, width))
    g = []

    def at(col, row):              # gnuplot's coordinates of a matrix position
        return "at %g,%g" % (col - 0.5, row - 0.5)

    top = TITLE + TRUE
    for i in range(n):
        c = LEFT + i * pitch
        g.append("set label %s %s center font ',9:Bold' tc rgb '%s' front"
                 % (quote(CLASSES[y[i]]), at(c + 14, top - 3.5), INK))
    g.append("set label 'true class' %s left font ',9' tc rgb '%s' front" % (at(1, top - 3.5), INK))
    summary = []
    for r, (title, imgs, probs) in enumerate(rows):
        r0 = top + r * band
        pred = probs.argmax(1)
        right = int((pred == y).sum())
        summary.append("%s: %d/%d right" % (title.replace("\n", " "), right, n))
        for k, line in enumerate(title.split("\n")):
            g.append("set label %s %s left font ',10' tc rgb '%s' front" % (quote(line), at(1, r0 + 7 + 5 * k), INK))
        g.append("set label %s %s left font ',9' tc rgb '%s' front"
                 % (quote("%d/%d right" % (right, n)), at(1, r0 + 7 + 5 * (k + 1)), RED if right < n else INK))
        for i in range(n):
            c = LEFT + i * pitch
            m[r0:r0 + 28, c:c + 28] = np.clip(imgs[i], 0, 1)
            wrong = pred[i] != y[i]
            text = "%s %d%%" % (CLASSES[pred[i]], int(round(100 * probs[i, pred[i]])))
            g.append("set label %s %s center font ',9' tc rgb '%s' front"
                     % (quote(text), at(c + 14, r0 + 28 + 4.5), RED if wrong else INK))
            if wrong:
                g.append("set object rectangle from %g,%g to %g,%g fillstyle empty border rgb '%s' lw 2 front"
                         % (c - 1.5, r0 - 1.5, c + 28.5, r0 + 28.5, RED))
    g.append("set label %s %s left font ',10' tc rgb '%s' front"
             % (quote("%sPredicted class and probability of %d Fashion-MNIST test images and of their "
                      "FGSM versions (red: wrong)" % (model + ": " if model else "", n)), at(1, 6), INK))
    np.savetxt(mpath, m, fmt="%.4f")
    with open(gppath, "w", encoding="utf-8") as f:
        f.write("\n".join(g) + "\n")
    print("; ".join(summary))
    return 0


def main(argv):
    if len(argv) == 5 and argv[0] == "batch" and argv[2].isdigit() and 1 <= int(argv[2]) <= 64:
        return batch(argv[1], int(argv[2]), argv[3], argv[4])
    if len(argv) >= 6 and argv[0] == "draw" and all("=" in a for a in argv[5:]):
        return draw(argv[1], argv[2], argv[3], argv[4], [a.split("=", 1) for a in argv[5:]])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
