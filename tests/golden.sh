#!/bin/sh
# golden.sh - run dlc on one .dl file and compare with its golden output.
#
#   golden.sh DLC MODE CASE.dl
#
# MODE err: dlc must exit with status 1, and its stderr must equal CASE.err.
# Any other MODE (ast, graph, ...): dlc must exit with status 0, its stderr
# must be empty, and its stdout must equal CASE.MODE.
#
# dlc's arguments come from the first line of CASE.dl if it reads
# "# args: ..." (for example "# args: --emit=graph -D B=2"); the default is
# --emit=ast.  dlc runs in the case's directory with the bare file name, so
# messages and goldens do not depend on where the tree is checked out.
#
# With UPDATE_GOLDEN=1 in the environment, the golden file is rewritten from
# this run instead of compared (review the diff before committing it).

if [ $# -ne 3 ]; then
	echo "usage: golden.sh DLC MODE CASE.dl" >&2
	exit 2
fi
dlc=$1
mode=$2
case_file=$3

case "$dlc" in
/*) ;;
*/*) dlc=$(pwd)/$dlc ;;
esac

dir=$(dirname "$case_file")
base=$(basename "$case_file")
stem=${base%.dl}
golden=$stem.$mode
cd "$dir" || exit 2

args=$(sed -n '1s/^# args://p' "$base")
if [ -z "$args" ]; then
	args=--emit=ast
fi

out=$(mktemp) || exit 2
err=$(mktemp) || exit 2
trap 'rm -f "$out" "$err"' EXIT

set -f
# shellcheck disable=SC2086 # the arguments are meant to be split into words
"$dlc" $args "$base" >"$out" 2>"$err"
status=$?
set +f

if [ "$mode" = err ]; then
	want_status=1
	actual=$err
else
	want_status=0
	actual=$out
fi

if [ -n "$UPDATE_GOLDEN" ] && [ "$UPDATE_GOLDEN" != 0 ]; then
	cp "$actual" "$golden" || exit 2
	echo "updated $dir/$golden"
	if [ "$status" -ne "$want_status" ]; then
		echo "warning: dlc exited with status $status, expected $want_status" >&2
	fi
	exit 0
fi

fail=0
if [ "$status" -ne "$want_status" ]; then
	echo "FAIL: dlc $args $base exited with status $status, expected $want_status" >&2
	fail=1
fi
if [ "$mode" != err ] && [ -s "$err" ]; then
	echo "FAIL: unexpected messages on stderr:" >&2
	cat "$err" >&2
	fail=1
fi
if [ ! -f "$golden" ]; then
	echo "FAIL: missing golden file $dir/$golden (run with UPDATE_GOLDEN=1 to create it)" >&2
	exit 1
fi
if ! diff -u "$golden" "$actual" >&2; then
	echo "FAIL: output differs from $dir/$golden (- expected, + actual)" >&2
	fail=1
fi
exit $fail
