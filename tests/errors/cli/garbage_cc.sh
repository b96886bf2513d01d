#!/bin/sh
# garbage_cc.sh - a "C compiler" that succeeds and writes a file that is no
# object at all to its -o argument
while [ $# -gt 0 ]; do
	if [ "$1" = -o ]; then
		head -c 4096 /dev/zero >"$2"
	fi
	shift
done
