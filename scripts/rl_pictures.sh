#!/bin/sh
# rl_pictures.sh [OUTDIR] - the return curves of the CartPole examples, as
# docs/rl.md shows them: each example trained once (seed 1, one thread) with
# --log, and scripts/plot_log.sh's plot of the log (the return of every
# episode, the running reward, the loss).  Needs gnuplot (scripts/setup.sh).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/docs/img}
dlc=${DLC:-$root/build/dlc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/rl_pictures.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
for ex in reinforce_cartpole actor_critic_cartpole dqn_cartpole; do
	"$dlc" "$root/examples/$ex.dl" -o "$tmp/$ex"
	"$tmp/$ex" --seed 1 --threads 1 --quiet --log "$tmp/$ex.csv" >/dev/null
	sh "$root/scripts/plot_log.sh" "$tmp/$ex.csv" "$out/$ex.png"
done
