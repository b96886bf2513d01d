"""image_grid.py - lay out 28x28 images as one grey-level matrix for gnuplot.

usage: image_grid.py recon ORIGINALS.gz RECON.npy [CORRUPTED.npy] OUT.txt
       image_grid.py samples SAMPLES.npy OUT.txt

recon: the first 32 test images in 4 bands of 8 columns; each band holds
the originals, then (when given) the corrupted inputs, then the
reconstructions.  samples: the first 64 rows as an 8 x 8 grid.  Images (white
ink on black, as the data set) are separated by 2 pixels of white; OUT.txt is a whitespace-separated matrix
(row 0 at the top) for gnuplot's `matrix with image`.
"""
import gzip
import struct
import sys

import numpy as np


def read_idx(path):
    with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
        data = f.read()
    ndim = struct.unpack(">I", data[:4])[0] & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims[0], -1) / 255.0


def grid(rows, gap=2):
    """rows: a list of lists of 784-vectors; one grid row each."""
    cols = max(len(r) for r in rows)
    out = np.ones((len(rows) * (28 + gap) - gap, cols * (28 + gap) - gap))
    for i, r in enumerate(rows):
        for j, img in enumerate(r):
            out[i * (28 + gap):i * (28 + gap) + 28, j * (28 + gap):j * (28 + gap) + 28] = \
                np.asarray(img, dtype=float).reshape(28, 28)
    return out


def main(argv):
    if len(argv) >= 4 and argv[0] == "recon":
        orig = read_idx(argv[1])
        recon = np.load(argv[2]).reshape(-1, 784)
        extra = [np.clip(np.load(argv[3]).reshape(-1, 784), 0, 1)] if len(argv) == 5 else []
        rows = []
        for band in range(4):
            idx = range(band * 8, band * 8 + 8)
            for src in [orig] + extra + [recon]:
                rows.append([src[k] for k in idx])
        m = grid(rows)
    elif len(argv) == 3 and argv[0] == "samples":
        s = np.load(argv[1]).reshape(-1, 784)[:64]
        m = grid([list(s[i * 8:i * 8 + 8]) for i in range(8)])
    else:
        sys.stderr.write(__doc__)
        return 2
    # gnuplot draws matrix row 0 at the bottom: write the rows top first and
    # reverse the y axis in the plot.
    np.savetxt(argv[-1], m, fmt="%.4f")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
