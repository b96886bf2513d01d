#!/usr/bin/env bash
# flow_pictures.sh - samples of the Real NVP flow over the two moons it learned, one PNG.
#
#   scripts/flow_pictures.sh [OUT.png]     (default docs/img/realnvp_moons.png)
#
# Trains examples/realnvp_moons.dl (3000 steps, seed 1, 1 thread; STEPS overrides),
# draws 2000 samples with the trainer's --sample (the inverse flow on standard normal
# draws) and plots them with gnuplot (gnuplot-nox; scripts/setup.sh installs it) over
# 2000 points of the data (make_moons, noise 0.05).  Prints the test NLL and the
# fraction of the samples within 0.15 of the moons' arcs.  DLC (default build/dlc) is
# the compiler, DLC_CFLAGS extra flags for the C compiler; the system Python's numpy
# converts the .npy files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/img/realnvp_moons.png}
dlc=${DLC:-build/dlc}
steps=${STEPS:-3000}
py=/usr/bin/python3
command -v gnuplot >/dev/null || { echo "flow_pictures.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$dlc" ${DLC_CFLAGS:+--cflags "$DLC_CFLAGS"} examples/realnvp_moons.dl -o "$tmp/flow"
"$tmp/flow" --quiet --threads 1 --seed 1 --epochs "$steps" --save "$tmp/ck.safetensors" | grep '^test:' || true
"$tmp/flow" --load "$tmp/ck.safetensors" --seed 2 --sample 2000 --sample-out "$tmp/samples.npy" >/dev/null
PYTHONPATH=bench "$py" - "$tmp" <<'PY'
import sys
import numpy as np
from torch_realnvp import near_arcs
d = sys.argv[1]
s = np.load(d + "/samples.npy").astype(np.float64)
rng = np.random.default_rng(1)
t = np.linspace(0, np.pi, 1000)
x = np.concatenate([np.stack([np.cos(t), np.sin(t)], 1), np.stack([1 - np.cos(t), 0.5 - np.sin(t)], 1)])
x += 0.05 * rng.standard_normal(x.shape)
np.savetxt(d + "/samples.txt", s)
np.savetxt(d + "/data.txt", x)
print("samples within 0.15 of the arcs: %.1f%%" % (100 * near_arcs(s)))
PY

gnuplot <<GP
set terminal pngcairo size 800,560 font "Helvetica,11"
set output '$out'
set size ratio -1
set xrange [-1.6:2.6]
set yrange [-1.2:1.7]
set key top right box opaque
set xlabel 'x_1'
set ylabel 'x_2'
set title 'Real NVP, 6 couplings, $steps steps: 2000 samples over 2000 data points'
plot '$tmp/data.txt' using 1:2 with points pt 7 ps 0.35 lc rgb '#b0b0b0' title 'data (noise 0.05)', \
     '$tmp/samples.txt' using 1:2 with points pt 7 ps 0.35 lc rgb '#d62728' title 'samples: inverse flow on randn'
GP
echo "flow_pictures.sh: $out"
