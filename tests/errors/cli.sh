#!/bin/sh
# cli.sh - golden tests of dlc's command line: usage errors, files dlc cannot
# read or write, C compilers that fail.
#
#   cli.sh DLC CASE
#
# cli/CASE.cmd holds the case: a line "# exit: N" (the status dlc must exit
# with), optionally lines "# setup: COMMAND" (shell commands run first, in
# order), and on its last line dlc's arguments, split on blanks.  The case
# runs in an empty temporary directory holding copies of cli/*.dl and
# cli/*.sh, so its messages do not depend on where the tree is checked out;
# dlc's stderr, with that directory's path written WORKDIR and the random
# part of /tmp/dlc-run-XXXXXX names blanked, must equal cli/CASE.err.  With UPDATE_GOLDEN=1 in the environment the
# golden is rewritten from this run instead (review the diff).

if [ $# -ne 2 ]; then
	echo "usage: cli.sh DLC CASE" >&2
	exit 2
fi
dlc=$1
name=$2
case "$dlc" in
/*) ;;
*/*) dlc=$(pwd)/$dlc ;;
esac
dir=$(cd "$(dirname "$0")/cli" && pwd) || exit 2
cmd=$dir/$name.cmd
golden=$dir/$name.err
if [ ! -f "$cmd" ]; then
	echo "FAIL: no case $cmd" >&2
	exit 2
fi
want=$(sed -n 's/^# exit: *//p' "$cmd")
args=$(grep -v '^#' "$cmd" | tail -n 1)
if [ -z "$want" ]; then
	echo "FAIL: $cmd has no '# exit: N' line" >&2
	exit 2
fi

work=$(mktemp -d) || exit 2
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp "$dir"/*.dl "$dir"/*.sh "$work"/ || exit 2
cd "$work" || exit 2
export LC_ALL=C
sed -n 's/^# setup: *//p' "$cmd" >setup.sh
if ! sh -e setup.sh; then
	echo "FAIL: the setup of $name failed" >&2
	exit 2
fi
rm -f setup.sh

set -f
# shellcheck disable=SC2086 # the arguments are meant to be split into words
"$dlc" $args >/dev/null 2>stderr.raw
status=$?
set +f
sed -e "s,$(pwd -P),WORKDIR,g" -e 's,/tmp/dlc-run-[A-Za-z0-9]*,/tmp/dlc-run-XXXXXX,g' stderr.raw >stderr.txt

if [ -n "$UPDATE_GOLDEN" ] && [ "$UPDATE_GOLDEN" != 0 ]; then
	cp stderr.txt "$golden" || exit 2
	echo "updated $golden"
	if [ "$status" -ne "$want" ]; then
		echo "warning: dlc exited with status $status, expected $want" >&2
	fi
	exit 0
fi

fail=0
if [ "$status" -ne "$want" ]; then
	echo "FAIL: dlc $args exited with status $status, expected $want" >&2
	fail=1
fi
if [ ! -f "$golden" ]; then
	echo "FAIL: missing golden file $golden (run with UPDATE_GOLDEN=1 to create it)" >&2
	exit 1
fi
if ! diff -u "$golden" stderr.txt >&2; then
	echo "FAIL: stderr differs from $golden (- expected, + actual)" >&2
	fail=1
fi
exit $fail
