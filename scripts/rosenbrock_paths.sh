#!/usr/bin/env bash
# rosenbrock_paths.sh - the paths of SGD, momentum, Adam and Newton's method
# on the Rosenbrock function, drawn over its contour lines in one PNG.
#
#   scripts/rosenbrock_paths.sh [OUT.png]     (default docs/img/rosenbrock_paths.png)
#
# Trains examples/rosenbrock.dl (no data: two scalar parameters from
# (-1.5, 2)) once per optimizer, each a copy of the file with its own
# optimizer line, records the path with the trainer's --trace and plots the
# four with gnuplot (gnuplot-nox; scripts/setup.sh installs it).  Prints
# where each run ended.  DLC (default build/dlc) is the compiler to use.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/img/rosenbrock_paths.png}
dlc=${DLC:-build/dlc}
command -v gnuplot >/dev/null || { echo "rosenbrock_paths.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name | optimizer | steps
runs=(
  "sgd|sgd(lr = 0.001)|2000"
  "momentum|sgd(lr = 0.0005, momentum = 0.9)|2000"
  "adam|adam(lr = 0.05)|2000"
  "newton|newton(damping = 1e-3)|20"
)
for r in "${runs[@]}"; do
  IFS='|' read -r name opt steps <<<"$r"
  sed "s/^  optimizer = .*/  optimizer = $opt/" examples/rosenbrock.dl >"$tmp/rosenbrock_$name.dl"
  "$dlc" "$tmp/rosenbrock_$name.dl" -o "$tmp/$name"
  "$tmp/$name" --quiet --steps "$steps" --trace "$tmp/$name.csv" >/dev/null
  tail -n 1 "$tmp/$name.csv" | awk -F, -v n="$name" -v o="$opt" \
    '{ printf "%-9s %-36s after %5d steps: x = %.6f, y = %.6f, f = %.3g\n", n, o, $1, $3, $4, $2 }'
done

gnuplot <<GP
set terminal pngcairo size 900,700 font "Helvetica,11"
set output '$out'
set datafile separator ','
f(x, y) = (1 - x)**2 + 100 * (y - x**2)**2
set xrange [-2:2]
set yrange [-3:3.2]
set isosamples 200, 200
set contour base
set cntrparam levels discrete 1, 4, 16, 64, 256, 1024, 4096
unset surface
set table '$tmp/contour.dat'
splot f(x, y)
unset table
set datafile separator ','
set key bottom right box opaque
set xlabel 'x'
set ylabel 'y'
set title 'Rosenbrock f(x, y) = (1 - x)^2 + 100 (y - x^2)^2 from (-1.5, 2): paths of four optimizers'
set datafile separator whitespace
plot '$tmp/contour.dat' using 1:2 with lines lc rgb '#c8c8c8' notitle, \
     '< tail -n +2 $tmp/adam.csv | tr , " "' using 3:4 with lines lw 6 lc rgb '#a6dba0' title 'Adam lr 0.05', \
     '< tail -n +2 $tmp/momentum.csv | tr , " "' using 3:4 with lines lw 3 lc rgb '#ff7f0e' title 'momentum 0.9, lr 0.0005', \
     '< tail -n +2 $tmp/sgd.csv | tr , " "' using 3:4 with lines lw 1.5 dt 2 lc rgb '#1f4fb4' title 'SGD lr 0.001', \
     '< tail -n +2 $tmp/newton.csv | tr , " "' using 3:4 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#d62728' title 'Newton (damping 1e-3)', \
     '< echo "1 1"' using 1:2 with points pt 3 ps 2.5 lw 2 lc rgb 'black' title 'minimum (1, 1)', \
     '< echo "-1.5 2"' using 1:2 with points pt 6 ps 2 lw 2 lc rgb 'black' title 'start (-1.5, 2)'
GP
echo "rosenbrock_paths.sh: $out"
