#!/bin/sh
# ae_pictures.sh recon|samples TRAINER CHECKPOINT OUT.png - pictures of an
# autoencoder or a VAE trained by dlc.
#
#   recon    the trainer's --predict on the Fashion-MNIST test images: the
#            first 32 originals over their reconstructions (the output
#            recon, or the only output), 4 bands of 8; a model with one
#            more output (the denoising autoencoder's noisy inputs) gets it
#            as a middle row
#   samples  the trainer's --sample 64 (outputs that read no input, such as
#            the VAE's decoded prior draws) as an 8 x 8 grid
#
# e.g.  build/dlc examples/vae_fmnist.dl -o vae && ./vae --save vae.st
#       scripts/ae_pictures.sh samples ./vae vae.st docs/img/vae_samples.png
#
# The grid is laid out by scripts/image_grid.py (/usr/bin/python3 with
# NumPy) and drawn by gnuplot (apt-get install gnuplot-nox).  DATA overrides
# the directory of t10k-images-idx3-ubyte.gz; SEED the trainer's --seed.
set -eu

prog=${0##*/}
if [ $# -ne 4 ] || { [ "$1" != recon ] && [ "$1" != samples ]; }; then
	echo "usage: $prog recon|samples TRAINER CHECKPOINT OUT.png" >&2
	exit 2
fi
mode=$1 trainer=$2 ck=$3 out=$4
data=${DATA:-/usr/share/datasets/fashion-mnist}
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v gnuplot >/dev/null 2>&1; then
	echo "$prog: gnuplot is not installed (apt-get install gnuplot-nox)" >&2
	exit 1
fi
case $trainer in */*) ;; *) trainer=./$trainer ;; esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ae_pictures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ "$mode" = recon ]; then
	"$trainer" --load "$ck" --seed "${SEED:-1}" --predict "$data/t10k-images-idx3-ubyte.gz" \
		--predict-out "$tmp/p.npy" >/dev/null
	# The outputs go to p.npy (the first) and p.NAME.npy (the others): with
	# an output named recon besides another (the denoising autoencoder's
	# corrupted input), that other one is drawn too.
	if [ -f "$tmp/p.recon.npy" ]; then
		set -- "$data/t10k-images-idx3-ubyte.gz" "$tmp/p.recon.npy" "$tmp/p.npy"
	else
		set -- "$data/t10k-images-idx3-ubyte.gz" "$tmp/p.npy"
	fi
	/usr/bin/python3 "$here/image_grid.py" recon "$@" "$tmp/m.txt"
else
	"$trainer" --load "$ck" --seed "${SEED:-1}" --sample 64 --sample-out "$tmp/s.npy" >/dev/null
	/usr/bin/python3 "$here/image_grid.py" samples "$tmp/s.npy" "$tmp/m.txt"
fi

# width and height of the matrix, for a picture of 2 screen pixels per image pixel
cols=$(head -n 1 "$tmp/m.txt" | wc -w)
rows=$(wc -l < "$tmp/m.txt")
gnuplot <<GP
set terminal pngcairo size $((cols * 2)),$((rows * 2))
set output '$out'
set margins 0, 0, 0, 0
unset border; unset tics; unset key; unset colorbox
set palette gray
set cbrange [0:1]
set xrange [-0.5:$cols - 0.5]
set yrange [$rows - 0.5:-0.5]
plot '$tmp/m.txt' matrix with image
GP
echo "$prog: wrote $out ($mode, ${cols}x${rows} pixels at 2x)"
