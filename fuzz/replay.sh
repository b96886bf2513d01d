#!/bin/sh
# replay.sh HARNESS DIR[:GLOB]... - run every regular file under the DIRs
# (those that exist; recursively, in name order), or only the files
# directly in DIR whose names match GLOB, through HARNESS once.  Works for
# both builds of a harness: libFuzzer's main runs the files it is given,
# fuzz/replay_main.c's does the same.  Fails when the harness does
# (a crash, a sanitizer report, an abort) or when there is nothing to run.
set -eu
h=$1
shift
list=$(mktemp)
trap 'rm -f "$list"' EXIT
for a in "$@"; do
  case $a in
  *:*) d=${a%:*} g=${a##*:}
       [ ! -d "$d" ] || find "$d" -maxdepth 1 -type f -name "$g" | LC_ALL=C sort >>"$list" ;;
  *)   [ ! -d "$a" ] || find "$a" -type f ! -name '.*' ! -name 'README*' | LC_ALL=C sort >>"$list" ;;
  esac
done
n=$(wc -l <"$list")
if [ "$n" -eq 0 ]; then
  echo "replay.sh: no files in $*" >&2
  exit 1
fi
echo "replay.sh: $n files through $(basename "$h")"
# libFuzzer's main reads at most a few thousand file arguments at a time
xargs -d '\n' -n 500 "$h" -runs=1 <"$list"
