#!/bin/sh
# check.sh - hostile sizes: dlc must reject them with a clear message, fast.
#
#   check.sh DLC CASE
#
# CASE define: -D values past the largest dim (2^40), or past what an int64
#   holds, are usage errors (exit 2) that say the value is out of range.
# CASE inline: programs whose inlining doubles at each of 40 levels (functions,
#   layer instances) stop with an error at a call within a few seconds; one
#   10 levels deep compiles.
dlc=$1
what=$2
case "$dlc" in
/*) ;;
*/*) dlc=$(pwd)/$dlc ;;
esac
cd "$(dirname "$0")" || exit 2
fail=0
err=$(mktemp) || exit 2
trap 'rm -f "$err"' EXIT

# expect STATUS PATTERN ARGS...: dlc ARGS exits with STATUS within 10 s and
# its stderr holds PATTERN (a grep -E expression), or is empty when PATTERN is.
expect() {
	want=$1
	pat=$2
	shift 2
	timeout 10 "$dlc" "$@" >/dev/null 2>"$err"
	rc=$?
	if [ -z "$pat" ]; then
		ok=$([ -s "$err" ] && echo 0 || echo 1)
	else
		ok=$(grep -Eq -- "$pat" "$err" && echo 1 || echo 0)
	fi
	if [ "$rc" -ne "$want" ] || [ "$ok" -ne 1 ]; then
		echo "FAIL: dlc $* exited $rc (want $want), stderr:"
		head -c 2000 "$err"
		echo "(wanted a line matching: ${pat:-nothing})"
		fail=1
	fi
}

case "$what" in
define)
	expect 2 "^dlc: -D B=9223372036854775807: the value is out of range" --check -D B=9223372036854775807 inline_ok.dl
	expect 2 "^dlc: -D B=99999999999999999999999: the value is out of range" --check -D B=99999999999999999999999 inline_ok.dl
	expect 2 "^dlc: -D B=1099511627777: the value is out of range \(a dim is at most 2\^40" --check -D B=1099511627777 inline_ok.dl
	expect 2 "positive integer VALUE" --check -D B=-99999999999999999999999 inline_ok.dl
	# 2^40 itself is a dim, but [2^40, 3] is too many elements: an error at the declaration
	expect 1 "^inline_ok.dl:3:11: error: tensor of shape \[1099511627776, 3\] is too large: 3298534883328 elements" \
		--check -D B=1099511627776 inline_ok.dl
	expect 0 "" --check -D B=1000 inline_ok.dl
	;;
inline)
	expect 1 "^inline_doubling.dl:[0-9]+:[0-9]+: error: inlining this call of 'f[0-9]+' goes over the limit of 250000 calls" \
		--check inline_doubling.dl
	expect 1 "^inline_layers.dl:[0-9]+:[0-9]+: error: this instance of layer 'L[0-9]+' goes over the limit" \
		--check inline_layers.dl
	expect 1 "^inline_doubling.dl:[0-9]+:[0-9]+: error: inlining this call" --emit=summary inline_doubling.dl
	expect 0 "" --emit=summary inline_ok.dl
	;;
*)
	echo "usage: check.sh DLC define|inline" >&2
	exit 2
	;;
esac
exit $fail
