#!/bin/sh
# empty_cc.sh - a "C compiler" that succeeds and builds an empty shared object
# (the model's symbol missing) into its -o argument
while [ $# -gt 0 ]; do
	if [ "$1" = -o ]; then
		out=$2
	fi
	shift
done
printf 'int dl_nothing;\n' | cc -shared -fPIC -x c - -o "$out"
