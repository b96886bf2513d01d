#!/bin/sh
# teach.sh - the chapter-2 tools: programs without data, --trace, --dot,
# --grad numeric, --grad-sweep and the expression-swell statistic.
#
#   teach.sh DLC WORKDIR CASE
#
# Each case compiles a trainer from examples/ into WORKDIR/CASE and checks
# what it prints or writes.  Exit status 0 pass, 1 fail.
set -eu
dlc=$1
work=$2/$3
case_name=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
ex=$root/examples
mkdir -p "$work"
cd "$work"

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

case $case_name in
fxyz_dot)
	# the course's figure: f = (x + y) z at (-2, 5, -4); each edge is
	# labelled with its value and, below it, the gradient of f
	"$dlc" --probe "$ex/fxyz.dl" -o fxyz
	./fxyz --dot fxyz.dot >out.txt
	grep -q 'loss -12, 5 nodes' out.txt || fail "loss: $(cat out.txt)"
	edge() { grep -F "$1 [label=<<font color=\"#1a7f37\">$2</font><br/><font color=\"#c62828\">$3</font>>];" fxyz.dot >/dev/null ||
		fail "no edge $1 with value $2 and gradient $3 in fxyz.dot"; }
	x=$(grep -F 'label="x"' fxyz.dot | sed 's/^ *\(n[0-9]*\) .*/\1/')
	y=$(grep -F 'label="y"' fxyz.dot | sed 's/^ *\(n[0-9]*\) .*/\1/')
	z=$(grep -F 'label="z"' fxyz.dot | sed 's/^ *\(n[0-9]*\) .*/\1/')
	q=$(grep -F 'label="+\nq"' fxyz.dot | sed 's/^ *\(n[0-9]*\) .*/\1/')
	f=$(grep -F 'label="*\nf"' fxyz.dot | sed 's/^ *\(n[0-9]*\) .*/\1/')
	[ -n "$x" ] && [ -n "$y" ] && [ -n "$z" ] && [ -n "$q" ] && [ -n "$f" ] || fail "nodes missing in fxyz.dot"
	edge "$x -> $q" -2 -4          # df/dx = z = -4
	edge "$y -> $q" 5 -4           # df/dy = z = -4
	edge "$z -> $f" -4 3           # df/dz = q = 3
	edge "$q -> $f" 3 -4           # q = x + y = 3, df/dq = z
	edge "$f -> loss" -12 1        # f = -12
	# a trainer compiled without --probe says how to get one
	"$dlc" "$ex/fxyz.dl" -o plain
	if ./plain --dot x.dot 2>err.txt; then fail "--dot without probes succeeded"; fi
	grep -q 'compiled without value probes; compile it with dlc --probe' err.txt || fail "$(cat err.txt)"
	;;
fxyz_steps)
	# no data: `steps = 10` in the train block, --steps overrides it; the
	# trace has the starting point and one row per step
	"$dlc" "$ex/fxyz.dl" -o fxyz
	./fxyz --steps 3 --trace t.csv >out.txt
	grep -q 'no data, sgd lr 0.01, 3 steps' out.txt || fail "$(cat out.txt)"
	[ "$(sed -n 1p t.csv)" = "step,loss,x,y,z" ] || fail "header: $(sed -n 1p t.csv)"
	[ "$(sed -n 2p t.csv)" = "0,-12,-2,5,-4" ] || fail "first row: $(sed -n 2p t.csv)"
	# one SGD step with lr 0.01: x -= 0.01 * -4, y likewise, z -= 0.01 * 3
	[ "$(sed -n 3p t.csv)" = "1,-12.4124002,-1.96000004,5.03999996,-4.03000021" ] || fail "second row: $(sed -n 3p t.csv)"
	[ "$(wc -l <t.csv)" -eq 5 ] || fail "expected 5 lines in t.csv"
	./fxyz --quiet >q.txt
	grep -q 'train: 1 epoch, 10 steps' q.txt || fail "$(cat q.txt)"
	# with data, `steps = N` is the default of --steps
	sed "s/^  epochs = 100/  epochs = 100\n  steps = 7/; s#data/logreg.csv#$ex/data/logreg.csv#" "$ex/logreg.dl" >lr.dl
	"$dlc" lr.dl -o lr
	./lr --quiet >lr.txt
	grep -q 'train: 7 epochs, 7 steps' lr.txt || fail "$(cat lr.txt)"
	if ./fxyz --epochs 3 2>err.txt; then fail "--epochs accepted"; fi
	grep -q 'has no data: no --epochs' err.txt || fail "$(cat err.txt)"
	;;
rosenbrock)
	# every optimizer on a program without data; Newton ends at (1, 1)
	sed 's/^  optimizer = .*/  optimizer = newton(damping = 1e-3)/' "$ex/rosenbrock.dl" >newton.dl
	"$dlc" newton.dl -o newton
	./newton --steps 12 --trace n.csv >out.txt
	tail -n 1 n.csv | awk -F, '{ exit !($1 == 12 && $2 < 1e-20 && ($3 - 1)^2 < 1e-20 && ($4 - 1)^2 < 1e-20) }' ||
		fail "newton ended at $(tail -n 1 n.csv)"
	grep -q 'after 12 steps: loss' out.txt || fail "$(cat out.txt)"
	for opt in 'sgd(lr = 0.001)' 'sgd(lr = 0.0005, momentum = 0.9)' 'adam(lr = 0.05)' 'rmsprop(lr = 0.001)' \
	           'adagrad(lr = 0.5)' 'newton_cg(damping = 1e-3)'; do
		sed "s/^  optimizer = .*/  optimizer = $opt/" "$ex/rosenbrock.dl" >o.dl
		"$dlc" o.dl -o o
		./o --quiet --steps 200 --trace o.csv >/dev/null
		# each one goes downhill from f(-1.5, 2) = 12.5
		tail -n 1 o.csv | awk -F, '{ exit !($2 < 12.5) }' || fail "$opt ended at $(tail -n 1 o.csv)"
	done
	;;
grad_numeric)
	# training on central differences follows the compiled gradient (f64)
	"$dlc" --dtype f64 "$ex/logreg.dl" -o logreg
	./logreg --epochs 20 --quiet --trace a.csv >a.txt
	./logreg --epochs 20 --quiet --trace b.csv --grad numeric >b.txt
	paste -d, a.csv b.csv | tail -n +2 | awk -F, '{
		for (i = 2; i <= 5; i++) { d = $i - $(i + 5); if (d < 0) d = -d; if (d > 1e-7) bad = 1 } }
		END { exit bad }' || fail "numeric and compiled paths differ"
	"$dlc" "$ex/rosenbrock.dl" -o rb
	if ./rb --grad numeric --steps 1 2>err.txt; then fail "--grad numeric with momentum accepted"; fi
	grep -q -- '--grad numeric takes plain gradient steps' err.txt || fail "$(cat err.txt)"
	;;
grad_sweep)
	# central differences are second-order accurate: the error falls 100x
	# per decade of h until rounding takes over; forward ones 10x
	"$dlc" "$ex/rosenbrock.dl" -o rb
	./rb --grad-sweep >s.csv
	grep -q '^h,forward,central$' s.csv || fail "$(cat s.csv)"
	awk -F, '$1 == "1e-02" { f2 = $2; c2 = $3 } $1 == "1e-03" { f3 = $2; c3 = $3 }
	         $1 == "1e-12" { f12 = $2 }
		END { exit !(f2 / f3 > 9 && f2 / f3 < 11 && c2 / c3 > 90 && c2 / c3 < 110 && f12 > f3 * 1e-3) }' s.csv ||
		fail "unexpected sweep: $(cat s.csv)"
	"$dlc" --dtype f32 "$ex/rosenbrock.dl" -o rb32
	./rb32 --grad-sweep >s32.csv
	# in f32 a step below eps * |x| vanishes: the difference is 0, the error 1
	grep -q '^1e-09,1.000000e+00,1.000000e+00$' s32.csv || fail "$(cat s32.csv)"
	;;
swell)
	# f = (x + y) z: the loss is 5 nodes; the gradients are z, z and q = x + y
	# (4 nodes, trees of 1 + 1 + 3 symbols)
	"$dlc" --check --stats "$ex/fxyz.dl" 2>stats.txt
	grep -q 'expression swell: *loss 5 nodes, 5 as a tree; gradients of 3 parameters 4 nodes, 5 as trees' stats.txt ||
		fail "$(cat stats.txt)"
	;;
*)
	echo "teach.sh: unknown case '$case_name'" >&2
	exit 2
	;;
esac
echo "ok: $case_name"
