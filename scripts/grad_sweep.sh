#!/usr/bin/env bash
# grad_sweep.sh - how good are finite differences?  The relative error of
# forward differences (f(w + h) - f(w)) / h and central differences
# (f(w + h) - f(w - h)) / 2h against the compiled (symbolic) gradient, for
# h = 1e-1 ... 1e-12, in f32 and in f64, drawn in one log-log PNG.
#
#   scripts/grad_sweep.sh [MODEL.dl] [OUT.png]
#
# Defaults: examples/rosenbrock.dl, docs/img/grad_sweep.png.  The model is
# compiled twice (dlc --dtype f32 / f64; DLC, default build/dlc) and each
# trainer's --grad-sweep prints its table (also written beside OUT as
# OUT-stem.f32.csv and .f64.csv).  Needs gnuplot (gnuplot-nox).
set -euo pipefail
model=${1:-examples/rosenbrock.dl}
out=${2:-docs/img/grad_sweep.png}
dlc=${DLC:-build/dlc}
command -v gnuplot >/dev/null || { echo "grad_sweep.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
stem=${out%.*}
for d in f32 f64; do
  "$dlc" --dtype "$d" "$model" -o "$tmp/model_$d"
  "$tmp/model_$d" --grad-sweep | tee "$stem.$d.csv"
done
name=$(basename "${model%.dl}")
gnuplot <<GP
set terminal pngcairo size 900,600 font "Helvetica,11"
set output '$out'
set datafile separator ','
set logscale xy
set format x '10^{%L}'
set format y '10^{%L}'
set xrange [1e-12:0.1] reverse
set yrange [1e-16:10]
set grid
set key bottom left box opaque
set xlabel 'step h'
set ylabel 'relative error |g_h - g| / |g|'
set title 'Finite differences against the symbolic gradient ($name)'
plot '$stem.f32.csv' skip 3 using 1:2 with linespoints lw 2 pt 7 lc rgb '#1f77b4' title 'forward, f32', \
     ''              skip 3 using 1:3 with linespoints lw 2 pt 5 lc rgb '#d62728' title 'central, f32', \
     '$stem.f64.csv' skip 3 using 1:2 with linespoints lw 2 pt 6 dt 2 lc rgb '#1f77b4' title 'forward, f64', \
     ''              skip 3 using 1:3 with linespoints lw 2 pt 4 dt 2 lc rgb '#d62728' title 'central, f64'
GP
echo "grad_sweep.sh: $out"
