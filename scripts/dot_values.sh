#!/usr/bin/env bash
# dot_values.sh - draw the graph of one training step of a model with the
# value and the gradient of the loss on every edge (the course's chapter-2
# figure of f = (x + y) z), with Graphviz.
#
#   scripts/dot_values.sh MODEL.dl OUT.svg|OUT.png [trainer flags]
#
# Compiles MODEL.dl with dlc --probe (DLC, default build/dlc), runs its
# gradients once with the trainer's --dot (a model with data: the first
# batch of its training set) and renders the DOT file with `dot` (package
# graphviz; scripts/setup.sh installs it).  OUT's stem + .dot keeps the DOT.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: dot_values.sh MODEL.dl OUT.svg|OUT.png [trainer flags]" >&2
  exit 2
fi
model=$1
out=$2
shift 2
dlc=${DLC:-build/dlc}
case "$out" in
*.svg) fmt=svg ;;
*.png) fmt=png ;;
*) echo "dot_values.sh: OUT must end in .svg or .png" >&2; exit 2 ;;
esac
command -v dot >/dev/null || { echo "dot_values.sh: needs Graphviz's dot (apt-get install graphviz)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$dlc" --probe "$model" -o "$tmp/model"
"$tmp/model" --dot "${out%.*}.dot" "$@"
dot -T"$fmt" "${out%.*}.dot" -o "$out"
echo "dot_values.sh: $out"
