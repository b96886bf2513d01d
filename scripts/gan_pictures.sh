#!/usr/bin/env bash
# gan_pictures.sh - a GAN's samples on the two moons as it trains, one PNG.
#
#   scripts/gan_pictures.sh TRAINER OUT.png
#
# e.g. (the pictures in docs/img)
#       build/dlc examples/gan_moons.dl -o gan && build/dlc examples/cgan_moons.dl -o cgan
#       scripts/gan_pictures.sh ./gan docs/img/gan_moons.png
#       LABELS='upper moon (samples_0),lower moon (samples_1)' \
#           scripts/gan_pictures.sh ./cgan docs/img/cgan_moons.png
#       EVERY=5 EPOCHS=10 scripts/gan_pictures.sh ./cgan /tmp/cgan.png     (a quick look)
#
# TRAINER is a compiled GAN on 2-d points (examples/gan_moons.dl, cgan_moons.dl,
# wgan_gp_moons.dl).  The script trains it from scratch in chunks of EVERY epochs
# (default 50) up to EPOCHS (default 300; the last chunk may be shorter), each chunk
# resuming from the last one's checkpoint (--load CK --epochs E --save CK: the same
# parameters, bit for bit, as one run of EPOCHS), and after each chunk draws SAMPLES
# (default 1000) points with --sample, always with the same --seed (SAMPLE_SEED,
# default 2), so that every panel pushes the same noise through the generator.  The
# PNG has one panel per chunk, titled with its epoch, in COLS columns (default 3 for 5
# to 9 panels), the same axes in each: the generated points over the training set (the
# trainer's --dump-data) in light grey.  A model with several outputs that read no
# input (cgan_moons.dl: samples_0 for the upper moon, samples_1 for the lower) gets
# each output in its own colour (red, blue, green, purple); LABELS, comma-separated,
# names them in the title (default: the first output, then the outputs' names).
#
# Prints, for each chunk, the last epoch's losses and, for each output, the share of
# its samples within 0.15 of the upper and of the lower moon's arc (make_moons without
# noise) and how many fall off the axes.  SEED (default 1) is the training seed,
# THREADS (default 1) the trainer's threads, CKPT=FILE keeps the final checkpoint.
# Needs gnuplot (gnuplot-nox; scripts/setup.sh installs it) and the system Python's
# NumPy (tests/reference/st.py reads the safetensors).
set -euo pipefail
prog=${0##*/}
if [ $# -ne 2 ]; then
	echo "usage: $prog TRAINER OUT.png   (env: EVERY EPOCHS SAMPLES SEED SAMPLE_SEED THREADS COLS LABELS CKPT)" >&2
	exit 2
fi
trainer=$1 out=$2
every=${EVERY:-50}
epochs=${EPOCHS:-300}
nsamples=${SAMPLES:-1000}
seed=${SEED:-1}
sseed=${SAMPLE_SEED:-2}
threads=${THREADS:-1}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
command -v gnuplot >/dev/null || { echo "$prog: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
case $trainer in */*) ;; *) trainer=./$trainer ;; esac
for v in "$every" "$epochs" "$nsamples"; do
	case $v in '' | *[!0-9]* | 0) echo "$prog: EVERY, EPOCHS and SAMPLES must be positive integers" >&2; exit 2 ;; esac
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gan_pictures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
ck=$tmp/ck.safetensors

"$trainer" --dump-data "$tmp/data.safetensors" >/dev/null

# train EVERY epochs at a time (the last chunk may be shorter), sampling after each
ends=()
e=0
while [ "$e" -lt "$epochs" ]; do
	e=$((e + every))
	[ "$e" -gt "$epochs" ] && e=$epochs
	if [ ${#ends[@]} -eq 0 ]; then
		"$trainer" --threads "$threads" --seed "$seed" --epochs "$e" --save "$ck" > "$tmp/log"
		model=$(sed -n 's/^\([A-Za-z0-9_]*\): .* parameters.*/\1/p' "$tmp/log" | head -n 1)
	else
		"$trainer" --threads "$threads" --load "$ck" --epochs "$e" --save "$ck" > "$tmp/log"
	fi
	grep '^epoch' "$tmp/log" | tail -n 1 | sed 's/, [0-9.]* images\/s.*//' > "$tmp/loss_$e.txt"
	"$trainer" --threads "$threads" --load "$ck" --seed "$sseed" --sample "$nsamples" \
		--sample-out "$tmp/s_$e.npy" >/dev/null
	ends+=("$e")
done
if [ -n "${CKPT:-}" ]; then cp "$ck" "$CKPT"; fi

# .npy and safetensors to text for gnuplot: data.txt, and s_E_K.txt for output K after epoch E;
# prints each chunk's line and writes the outputs' names to names.txt (the first one empty)
PYTHONPATH=$here/../tests/reference "$py" - "$tmp" "${ends[@]}" <<'PY'
import glob
import os
import sys
import numpy as np
import st

d, ends = sys.argv[1], [int(e) for e in sys.argv[2:]]
tensors, _ = st.load(d + "/data.safetensors")
np.savetxt(d + "/data.txt", np.asarray(tensors["train.x"], dtype=np.float64)[:, :2], fmt="%.4f")


def arc(q, upper):
    """Distance to one moon's arc (sklearn's make_moons without noise)."""
    r = np.hypot(q[:, 0], q[:, 1])
    on = q[:, 1] >= 0 if upper else q[:, 1] <= 0
    ends = np.minimum(np.hypot(q[:, 0] - 1, q[:, 1]), np.hypot(q[:, 0] + 1, q[:, 1]))
    return np.where(on, np.abs(r - 1), ends)


names = []
for e in ends:
    first = "%s/s_%d.npy" % (d, e)
    files = [first] + sorted(glob.glob("%s/s_%d.*.npy" % (d, e)))
    names = [""] + [os.path.basename(f).split(".")[-2] for f in files[1:]]
    labels = os.environ["LABELS"].split(",") if os.environ.get("LABELS") else []
    parts = []
    for k, f in enumerate(files):
        s = np.load(f).astype(np.float64)
        np.savetxt("%s/s_%d_%d.txt" % (d, e, k), s, fmt="%.4f")
        name = (labels[k] if k < len(labels) else names[k]
                or ("samples" if len(files) == 1 else "the first output"))
        up = np.mean(arc(s, True) <= 0.15)
        lo = np.mean(arc(s - np.array([1.0, 0.5]), False) <= 0.15)
        off = np.sum((s[:, 0] < -1.6) | (s[:, 0] > 2.6) | (s[:, 1] < -1.2) | (s[:, 1] > 1.7))
        parts.append("%s near the upper arc %.1f%%, the lower %.1f%%%s"
                     % (name, 100 * up, 100 * lo, ", %d off the axes" % off if off else ""))
    with open("%s/loss_%d.txt" % (d, e)) as f:
        loss = f.read().strip()
    print("%s; %s" % (loss, "; ".join(parts)))
with open(d + "/names.txt", "w") as f:
    f.write("".join(n + "\n" for n in names))
PY

n=${#ends[@]}
nout=$(wc -l < "$tmp/names.txt")
if [ -n "${COLS:-}" ]; then
	cols=$COLS
elif [ "$n" -le 3 ]; then
	cols=$n
elif [ "$n" -eq 4 ]; then
	cols=2
else
	cols=$(( n <= 9 ? 3 : 4 ))
fi
rows=$(( (n + cols - 1) / cols ))
colours=('#d62728' '#1f77b4' '#2ca02c' '#9467bd')
cnames=(red blue green purple)
name=${model:-$(basename "$trainer")}
# what each colour is: LABELS, or the outputs' names (the first one's is not in its file's name)
if [ -n "${LABELS:-}" ]; then
	IFS=, read -r -a labels <<< "$LABELS"
else
	mapfile -t labels < "$tmp/names.txt"
	labels[0]="the first output"
fi
if [ "$nout" -eq 1 ]; then
	what="$nsamples ${LABELS:-generated points} (red) over the training set (grey)"
else
	what="$nsamples points of each output: "
	for ((k = 0; k < nout; k++)); do
		what+="${labels[k]:-output $((k + 1))} (${cnames[k % 4]}), "
	done
	what+="over the training set (grey)"
fi
what=${what//\"/\'}
{
	# at least 960 pixels wide, for the title
	echo "set terminal pngcairo noenhanced size $((cols < 3 ? 960 : cols * 320)),$((rows * 235 + 40)) font 'Helvetica,10'"
	echo "set output '$out'"
	printf "%s\n" "set multiplot layout $rows,$cols title \"$name, every $every epochs (training seed $seed)\\n$what\" font 'Helvetica,12'"
	echo "set size ratio -1"
	echo "set xrange [-1.6:2.6]"
	echo "set yrange [-1.2:1.7]"
	echo "set xtics -1,1,2 font 'Helvetica,8'"
	echo "set ytics -1,1,1 font 'Helvetica,8'"
	echo "unset key"
	for e in "${ends[@]}"; do
		echo "set title 'epoch $e'"
		line="plot '$tmp/data.txt' using 1:2 with points pt 7 ps 0.35 lc rgb '#c8c8c8'"
		for ((k = 0; k < nout; k++)); do
			line+=", '$tmp/s_${e}_$k.txt' using 1:2 with points pt 7 ps 0.35 lc rgb '${colours[k % 4]}'"
		done
		echo "$line"
	done
	echo "unset multiplot"
} > "$tmp/plot.gp"
gnuplot "$tmp/plot.gp"
plural=s
[ "$n" -eq 1 ] && plural=
echo "$prog: $out ($n panel$plural, $rows x $cols)"
