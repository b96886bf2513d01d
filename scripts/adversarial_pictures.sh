#!/bin/sh
# adversarial_pictures.sh TRAINER CHECKPOINT OUT.png - test images next to
# their adversarial versions, with the classes a model predicts for them.
#
# For a classifier of 28 x 28 images such as examples/fgsm_lenet.dl: a
# program with `hyper eps` and the outputs probs (the class probabilities
# [B, 10]), x_fgsm (the attacked images [B, 1, 28, 28]) and probs_fgsm
# (theirs).  The first 12 Fashion-MNIST test images make the top row, each
# with its true class over it; below them their FGSM versions, a row for
# EPS and one for EPS2, the weaker first.  Under every image the predicted class and its probability, in red
# (and the image framed in red) where it is wrong.  Each row is one run of
# the trainer's --batch-from on the 12 images, --dump-forward, --set eps=X.
#
# e.g.  build/dlc examples/fgsm_lenet.dl -o fgsm && ./fgsm --save lenet.st
#       scripts/adversarial_pictures.sh ./fgsm lenet.st docs/img/fgsm_examples.png
#
# EPS      the attack's strength (default 0.1)
# EPS2     a second strength, for a third row (default 0.03; empty: none)
# DATA     the directory of t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz
# SCALE    screen pixels per image pixel (default 3; the labels need 3)
#
# The grid and its labels are laid out by scripts/adversarial_grid.py
# (/usr/bin/python3 with NumPy) and drawn by gnuplot (apt-get install
# gnuplot-nox).
set -eu

prog=${0##*/}
if [ $# -ne 3 ]; then
	echo "usage: $prog TRAINER CHECKPOINT OUT.png" >&2
	exit 2
fi
trainer=$1 ck=$2 out=$3
data=${DATA:-/usr/share/datasets/fashion-mnist}
eps=${EPS:-0.1}
eps2=${EPS2-0.03}
scale=${SCALE:-3}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "$prog: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
	exit 1
fi
case $trainer in */*) ;; *) trainer=./$trainer ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/adversarial_pictures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

/usr/bin/python3 "$here/adversarial_grid.py" batch "$data" 12 "$tmp/x.npy" "$tmp/y.npy"
set --
for e in $eps $eps2; do
	"$trainer" --load "$ck" --batch-from "$tmp/x.npy,$tmp/y.npy" --dump-forward "$tmp/eps$e.st" \
		--set "eps=$e" >/dev/null
	set -- "$@" "$e=$tmp/eps$e.st"
done
/usr/bin/python3 "$here/adversarial_grid.py" draw "$tmp/x.npy" "$tmp/y.npy" "$tmp/m.txt" "$tmp/labels.gp" "$@"

# width and height of the matrix, drawn at SCALE screen pixels per element
cols=$(head -n 1 "$tmp/m.txt" | wc -w)
rows=$(wc -l < "$tmp/m.txt")
gnuplot <<GP
set encoding utf8
set terminal pngcairo size $((cols * scale)),$((rows * scale)) noenhanced font 'Helvetica,9'
set output '$out'
set margins 0, 0, 0, 0
unset border; unset tics; unset key; unset colorbox
set palette gray
set cbrange [0:1]
set xrange [-0.5:$cols - 0.5]
set yrange [$rows - 0.5:-0.5]
load '$tmp/labels.gp'
plot '$tmp/m.txt' matrix with image
GP
echo "$prog: wrote $out (${cols}x${rows} pixels at ${scale}x)"
