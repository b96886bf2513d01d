#!/usr/bin/env python3
"""Regenerates compiler/c_names.def: every ordinary identifier (function,
variable, typedef, enumeration constant) and macro that the C library headers
declare, and every macro the C compilers predefine, in -std=c11 and in
-std=gnu11 -D_GNU_SOURCE (what --cflags may ask for).  The schedule renames a
DSL name found in the list, so a tensor called memcpy, index or y0 cannot
collide with <string.h> or <math.h>.  Names that start with '_' are left out:
the schedule renames every such name anyway.

    python3 scripts/c_names.py > compiler/c_names.def

Needs clang (its AST dump lists the declarations) and gcc (whose headers
declare the _Float128 functions clang's do not)."""
import re
import subprocess
import tempfile

HEADERS = ["assert.h", "ctype.h", "errno.h", "float.h", "limits.h", "math.h", "stdalign.h", "stdarg.h",
           "stdbool.h", "stddef.h", "stdint.h", "stdio.h", "stdlib.h", "stdnoreturn.h", "string.h"]
MODES = (["-std=c11"], ["-std=gnu11", "-D_GNU_SOURCE"])


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True).stdout


names = set()
with tempfile.NamedTemporaryFile("w", suffix=".c") as f:
    f.write("".join("#include <%s>\n" % h for h in HEADERS))
    f.flush()
    for mode in MODES:
        for line in run(["clang"] + mode + ["-fsyntax-only", "-Xclang", "-ast-dump", f.name]).splitlines():
            m = re.match(r"^[| `-]*(FunctionDecl|VarDecl|TypedefDecl|EnumConstantDecl) 0x\w+ (.*?)'", line)
            if m and m.group(2).split():
                names.add(m.group(2).split()[-1])
        for cc in ("gcc", "clang"):
            for src in (f.name, "/dev/null"):
                for line in run([cc] + mode + ["-E", "-dM", "-x", "c", src]).splitlines():
                    names.add(re.match(r"#define (\w+)", line).group(1))
        # gcc's view of the headers declares the _Float128 functions too
        for w in re.findall(r"\b[A-Za-z]\w*f128\w*\b", run(["gcc"] + mode + ["-E", "-P", f.name])):
            names.add(w)

names = sorted(n for n in names if not n.startswith("_"))
print("/* c_names.def - the identifiers the C headers declare (scripts/c_names.py wrote it). */")
line = ""
for n in names:
    item = '"%s",' % n
    if len(line) + len(item) + 1 > 110:
        print(line.rstrip())
        line = ""
    line += item + " "
print(line.rstrip())
