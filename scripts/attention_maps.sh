#!/usr/bin/env bash
# attention_maps.sh - the attention maps of the histogram transformer, one PNG.
#
#   scripts/attention_maps.sh [OUT.png]     (default docs/img/hist_attention.png)
#
# Trains examples/hist_transformer.dl (30 epochs, seed 1, --lr-schedule cosine, 1 thread;
# EPOCHS overrides; CKPT=FILE loads that checkpoint instead of training), runs the trainer's
# --predict on the first 500 sequences of its test set (seed 1: the model's outputs `maps`,
# [N, heads, T, T], and `counts`, [N, T]) and draws the maps of each head for the first NSEQ
# (default 3) of them in which some token occurs at least 3 times, with gnuplot (gnuplot-nox;
# scripts/setup.sh installs it): a row per query position, a column per key position, the
# tokens (a..j for 0..9) along both axes, the query's true and predicted count on the left;
# and in the last column, for each head, the mean weight that a query of each symbol gives a
# key of each symbol, over the 500 sequences.  Prints the accuracy on these sequences and
# each sequence drawn with its counts.  DLC (default build/dlc) is the
# compiler; the system Python (bench/hist_data.py, numpy) writes and reads the .npy files.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/img/hist_attention.png}
dlc=${DLC:-build/dlc}
epochs=${EPOCHS:-30}
nseq=${NSEQ:-3}
py=/usr/bin/python3
command -v gnuplot >/dev/null || { echo "attention_maps.sh: needs gnuplot (apt-get install gnuplot-nox)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$dlc" ${DLC_CFLAGS:+--cflags "$DLC_CFLAGS"} examples/hist_transformer.dl -o "$tmp/hist"
ck=${CKPT:-$tmp/ck.safetensors}
if [ -z "${CKPT:-}" ]; then
	"$tmp/hist" --quiet --threads 1 --seed 1 --epochs "$epochs" --lr-schedule cosine --save "$ck" | grep '^test:'
fi

# the test sequences, as the model's input x : i32[N, T]
PYTHONPATH=bench "$py" - "$tmp" <<'PY'
import sys
import numpy as np
import hist_data as hd
d = sys.argv[1]
seqs = [s for s, c in hd.test_set(1, n=500, vocab=10, len=10)]
np.save(d + "/x.npy", np.array(seqs, np.int32))
PY
"$tmp/hist" --load "$ck" --predict "$tmp/x.npy" --predict-out "$tmp/maps.npy" >/dev/null

# one matrix file per sequence and head, and the gnuplot script that draws them
"$py" - "$tmp" "$out" "$nseq" <<'PY'
import sys
import numpy as np
sys.path.insert(0, "bench")
import hist_data as hd
d, out = sys.argv[1], sys.argv[2]
x = np.load(d + "/x.npy")
maps = np.load(d + "/maps.npy")          # [500, heads, T, T]
pred = np.load(d + "/maps.counts.npy")   # [500, T]
true = np.array([hd.counts(list(s)) for s in x])
_, H, T, _ = maps.shape
print("%d sequences: %.2f%% of the counts right" % (len(x), 100.0 * (pred == true).mean()))
V = 10
# the mean weight by (query symbol, key symbol) of each head
aff = np.zeros((H, V, V))
n = np.zeros((V, V))
np.add.at(n, (np.repeat(x, T, 1), np.tile(x, (1, T))), 1)
for h in range(H):
    np.add.at(aff[h], (np.repeat(x, T, 1), np.tile(x, (1, T))), maps[:, h].reshape(len(x), T * T))
aff /= np.maximum(n, 1)
pick = [i for i in range(len(x)) if true[i].max() >= 3][:int(sys.argv[3])]
x, maps, pred = x[pick], maps[pick], pred[pick]
N = len(pick)
top = np.ceil(max(maps.max(), aff.max()) * 10) / 10
letters = "abcdefghijklmnopqrstuvwxyz"
g = ["set terminal pngcairo size %d,%d font 'Helvetica,10'" % (330 * (N + 1) + 60, 310 * H + 70),
     "set output '%s'" % out,
     "set palette defined (0 '#ffffff', 0.25 '#9ecae1', 0.6 '#3182bd', 1 '#08306b')",
     "set cbrange [0:%g]" % top, "unset colorbox", "set size ratio -1",
     "set xrange [-0.5:%g]" % (T - 0.5), "set yrange [%g:-0.5]" % (T - 0.5),
     "set tics scale 0 font 'Helvetica,9'", "set xtics offset 0,0.3",
     "set multiplot layout %d,%d title 'hist\\_transformer.dl: attention maps of its block "
     "(rows: queries, columns: keys, white 0 to dark %g; left: true / predicted count)' "
     "font 'Helvetica,12'" % (H, N + 1, top)]
nall = len(true)
for h in range(H):
    for i in range(N):
        toks = [letters[k] for k in x[i]]
        c = hd.counts(list(x[i]))
        np.savetxt("%s/m_%d_%d.txt" % (d, i, h), maps[i, h], fmt="%.6f")
        g.append("set xtics (%s)" % ", ".join('"%s" %d' % (k, t) for t, k in enumerate(toks)))
        g.append("set ytics (%s)" % ", ".join('"%s %d/%d" %d' % (k, c[t], pred[i, t], t)
                                              for t, k in enumerate(toks)))
        g.append("set title 'sequence %d, head %d'" % (i + 1, h + 1))
        g.append("plot '%s/m_%d_%d.txt' matrix with image notitle" % (d, i, h))
        if h == 0:
            print("%s   counts %s   predicted %s" % (" ".join(toks), " ".join(map(str, c)),
                                                    " ".join(str(int(k)) for k in pred[i])))
    np.savetxt("%s/a_%d.txt" % (d, h), aff[h], fmt="%.6f")
    g.append("set xtics (%s)" % ", ".join('"%s" %d' % (letters[k], k) for k in range(V)))
    g.append("set ytics (%s)" % ", ".join('"%s" %d' % (letters[k], k) for k in range(V)))
    g.append("set title 'head %d, by symbol: mean of %d sequences'" % (h + 1, nall))
    g.append("plot '%s/a_%d.txt' matrix with image notitle" % (d, h))
g.append("unset multiplot")
open(d + "/maps.gp", "w").write("\n".join(g) + "\n")
PY
gnuplot "$tmp/maps.gp"
echo "attention_maps.sh: $out"
