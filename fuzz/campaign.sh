#!/usr/bin/env bash
# A fuzzing campaign: every harness of a fuzzing build in turn, SECONDS each,
# one process at a time (so seconds of wall time are seconds of CPU time).
#
#   fuzz/campaign.sh [--build DIR] [--dir DIR] [--only NAME,...] SECONDS
#
# DIR (default ~/fuzz) keeps each harness's corpus (DIR/NAME/corpus, grown
# from the seeds in fuzz/corpus/NAME and, for the compiler, the .dl files of
# the tree) and what it finds (DIR/NAME/crashes).  Prints one line per
# harness: executions, CPU seconds, corpus files and bytes, findings; exits 1
# if any harness found something (docs/fuzzing.md says what to do with it).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build-fuzz
dir=$HOME/fuzz
only=compile,idx,csv,npy,checkpoint,ckpt_meta
while [ $# -gt 1 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) echo "usage: fuzz/campaign.sh [--build DIR] [--dir DIR] [--only NAME,...] SECONDS" >&2; exit 2 ;;
	esac
done
secs=${1:?usage: fuzz/campaign.sh [--build DIR] [--dir DIR] [--only NAME,...] SECONDS}
found=0
printf '%-11s %12s %8s %7s %10s %8s\n' harness executions cpu_s files bytes findings
for name in ${only//,/ }; do
	exe=$build/fuzz_$name
	[ -x "$exe" ] || { echo "no $exe: build it (docs/fuzzing.md, A fuzzing build)" >&2; exit 2; }
	mkdir -p "$dir/$name/corpus" "$dir/$name/crashes"
	seeds=(fuzz/corpus/$name)
	extra=()
	if [ "$name" = compile ]; then
		seeds+=(examples tests/errors tests/frontend/syntax tests/frontend/ast tests/opt/passes tests/rl)
		extra=(-dict=fuzz/dl.dict)
	fi
	log=$dir/$name/last.log
	status=0
	TIMEFORMAT='%U %S'
	{ time "$exe" "${extra[@]}" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=3 \
		-print_final_stats=1 -artifact_prefix="$dir/$name/crashes/" "$dir/$name/corpus" "${seeds[@]}" \
		>"$log" 2>&1 || status=$?; } 2>"$dir/$name/time"
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	cpu=$(awk '{printf "%.0f", $1 + $2}' "$dir/$name/time")
	files=$(find "$dir/$name/corpus" -type f | wc -l)
	bytes=$(du -sb "$dir/$name/corpus" | cut -f1)
	n=$(find "$dir/$name/crashes" -type f | wc -l)
	printf '%-11s %12s %8s %7s %10s %8s\n' "$name" "${execs:-?}" "$cpu" "$files" "$bytes" "$n"
	if [ "$status" -ne 0 ] || [ "$n" -gt 0 ]; then
		found=1
		echo "  $name: exit $status, see $log and $dir/$name/crashes" >&2
	fi
done
exit $found
