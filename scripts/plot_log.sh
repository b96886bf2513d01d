#!/bin/sh
# plot_log.sh LOG.csv OUT.png - plot a training log written by a trainer's --log.
#
# Two panels: the training loss against the step (the rows every K steps as a
# line, each epoch's mean as points), and the train and test accuracies
# against the epoch (or, for a model without accuracy, the epoch's mean loss).
# Needs gnuplot (Debian/Ubuntu: apt-get install gnuplot-nox).
#
# The log's columns: step,epoch,loss,lr,train_acc,test_acc,images_per_s; an
# epoch row is one whose lr field is empty (docs/cli.md, "Training logs").
#
# A model trained in an environment logs a row per episode
# (episode,steps,return,running_reward,loss,env_steps,updates,seconds): its
# plot is the return of each episode with the running reward, and the loss.
set -eu

prog=${0##*/}
if [ $# -ne 2 ]; then
	echo "usage: $prog LOG.csv OUT.png" >&2
	exit 2
fi
log=$1
out=$2

if ! command -v gnuplot >/dev/null 2>&1; then
	echo "$prog: gnuplot is not installed; install it with" >&2
	echo "    sudo apt-get install gnuplot-nox     (Debian, Ubuntu)" >&2
	echo "    sudo dnf install gnuplot             (Fedora)" >&2
	echo "    brew install gnuplot                 (macOS)" >&2
	exit 1
fi
if [ ! -r "$log" ]; then
	echo "$prog: $log: cannot read it" >&2
	exit 1
fi
header=$(head -n 1 "$log")
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
if [ "$header" = "episode,steps,return,running_reward,loss,env_steps,updates,seconds" ]; then
	if [ "$(wc -l < "$log")" -lt 2 ]; then
		echo "$prog: $log: no episodes to plot yet" >&2
		exit 1
	fi
	{
		echo "set terminal pngcairo size 900,800 font 'sans,10'"
		echo "set output $(q "$out")"
		echo "set datafile separator ','"
		echo "set key bottom right box opaque"
		echo "set grid"
		echo "set multiplot layout 2,1 title $(q "$(basename "$log")") noenhanced"
		echo "set xlabel 'episode'"
		echo "set ylabel 'return'"
		echo "plot $(q "$log") every ::1 using 1:3 with points pt 7 ps 0.3 lc rgb '#9999cc' title 'episode return', \\"
		echo "     '' every ::1 using 1:4 with lines lw 2 lc rgb '#cc3333' title 'running reward (0.05 r + 0.95 running)'"
		echo "set ylabel 'loss (the episode''s last update)'"
		echo "unset key"
		echo "plot $(q "$log") every ::1 using 1:5 with lines lw 1"
		echo "unset multiplot"
	} | gnuplot
	echo "$prog: $out"
	exit 0
fi
if [ "$header" != "step,epoch,loss,lr,train_acc,test_acc,images_per_s" ]; then
	echo "$prog: $log: expected a training log (header step,epoch,loss,lr,...), found '$header'" >&2
	exit 1
fi

# The series, one file each: loss by step (step rows, epoch rows), train and
# test accuracy by epoch, epoch loss by epoch.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/plot_log.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
awk -F, -v d="$tmp" 'NR > 1 {
		if ($4 != "") print $1, $3 > (d "/steps")
		else {
			print $1, $3 > (d "/epoch_loss")
			print $2, $3 > (d "/epoch_loss_by_epoch")
			if ($5 != "") print $2, $5 > (d "/train_acc")
			if ($6 != "") print $2, $6 > (d "/test_acc")
		}
		if ($3 + 0 <= 0) print "x" > (d "/nonpositive")
		if ($2 + 0 > max) max = $2 + 0
	}
	END { print max + 0 > (d "/epochs") }' "$log"
if [ ! -s "$tmp/steps" ] && [ ! -s "$tmp/epoch_loss" ]; then
	echo "$prog: $log: no rows to plot yet" >&2
	exit 1
fi

# gnuplot strings in single quotes: a quote inside is written twice.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
# "plot" clauses for the series that exist, joined by commas.
series() {
	out=""
	while [ $# -ge 2 ]; do
		[ -s "$tmp/$1" ] && out="${out:+$out, }$(q "$tmp/$1") $2"
		shift 2
	done
	printf '%s' "$out"
}
logy=""
[ -e "$tmp/nonpositive" ] || logy="set logscale y"
epochs=$(cat "$tmp/epochs")

{
	echo "set terminal pngcairo size 900,800 font 'sans,10'"
	echo "set output $(q "$out")"
	echo "set key top right"
	echo "set grid"
	echo "set multiplot layout 2,1 title $(q "$(basename "$log")") noenhanced"
	# Loss against the step.
	echo "set xlabel 'step'"
	echo "set ylabel 'training loss'"
	echo "$logy"
	echo "plot $(series steps "with lines lw 1.5 title 'every K steps'" \
		epoch_loss "with points pt 7 ps 1.2 title 'epoch mean'")"
	echo "unset logscale y"
	# Accuracies (or the epoch loss) against the epoch.
	echo "set xlabel 'epoch'"
	[ "$epochs" -le 20 ] && echo "set xtics 1"
	if [ -s "$tmp/train_acc" ] || [ -s "$tmp/test_acc" ]; then
		echo "set ylabel 'accuracy'"
		echo "plot $(series train_acc "with linespoints pt 7 title 'train'" \
			test_acc "with linespoints pt 5 title 'test'")"
	elif [ -s "$tmp/epoch_loss_by_epoch" ]; then
		echo "set ylabel 'epoch mean loss (no accuracy in this log)'"
		echo "$logy"
		echo "plot $(series epoch_loss_by_epoch "with linespoints pt 7 title 'train loss'")"
	else
		echo "set ylabel ''"
		echo "unset key"
		echo "set label 1 'no complete epoch yet' at graph 0.5, 0.5 center"
		echo "plot [0:1] [0:1] NaN notitle"
	fi
	echo "unset multiplot"
} | gnuplot

echo "$prog: $out"
