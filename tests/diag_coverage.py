#!/usr/bin/env python3
"""diag_coverage.py - every message dlc can print to a user has a golden test.

    diag_coverage.py [--root DIR] [--list]

Reads the front end and the driver (compiler/*.c, grammar/*.y, grammar/*.l)
and collects every user-facing diagnostic in them:

  * the format of each call of diag_error, diag_warning and diag_note, and of
    the scanner's lex_error and lex_complain (a format passed in by the
    caller, as run_def's `note`, is followed to the callers' literals);
  * each fprintf to stderr (or to the diagnostics sink) whose text starts
    with "dlc: ", "dlc run: ", "usage: " or "%s: error: " -- the driver's
    usage errors and failures -- less the internal-error channel
    ("dlc: internal error", like DLC_INTERNAL) and the few REPORTS below,
    which are progress lines, not diagnostics.

Each format becomes a regular expression (%s, %d, %lld, %g, %c, %.*s, ...
become wildcards) that must match a whole line of some golden file of
expected diagnostics (tests/**/*.err).  Messages that no golden shows are
printed with their source file and line, and the script exits with 1.

ALLOWED lists the messages no .dl file and no dlc command line can bring
about, each with its reason; an entry that no longer matches a message in
the sources is an error too, so the list cannot go stale.  --list prints
every message found and the golden that covers it. """
import argparse
import glob
import os
import re
import sys

# (file, format) -> why no test can print it
ALLOWED = {
    ("compiler/arena.c", "dlc: out of memory\n"): "malloc failed",
    ("compiler/diag.c", "dlc: out of memory\n"): "malloc failed",
    ("compiler/driver.c", "dlc: out of memory reading '%s'\n"): "malloc failed",
    ("compiler/driver.c", "dlc: cannot create a temporary file: %s\n"): "mkstemps failed in /tmp",
    ("compiler/driver.c", "dlc run: cannot create a temporary file: %s\n"): "mkstemps failed in /tmp",
    ("compiler/driver.c", "dlc run: cannot write '%s': %s\n"): "an I/O error writing a temporary file",
    ("compiler/driver.c", "dlc run: out of memory\n"): "open_memstream failed (LLVM builds only)",
    ("compiler/driver.c", "dlc run: %s: the LLVM JIT failed: %s\n"):
        "LLVM builds only (a --cflags clang rejects reaches it there); no golden can assume the JIT",
    ("compiler/driver.c", "dlc: --mpi: this dlc was built without MPI (apt-get install openmpi-bin "
                          "libopenmpi-dev, then configure and build again)\n"):
        "builds without MPI only; tests/mpi's cases skip there (fail under DLC_NO_SKIPS)",
    ("compiler/driver.c", "dlc run: under mpirun, but this dlc was built without MPI: every rank would "
                          "train alone (apt-get install libopenmpi-dev, then configure and build again)\n"):
        "builds without MPI only, run by mpirun",
    ("compiler/driver.c", "dlc run: %s: note: the O3 code did not compile (%s); the model ran on the quick code\n"):
        "LLVM builds only: a failure of LLVM's O3 pipeline or code generator on C its quick code generator took",
    ("compiler/sema.c", "a cached generator runs one token at a time, but '%s' asks for %lld positions"):
        "goes to build_generator's /dev/null sink: dlc falls back to the generator without a cache",
    ("compiler/sema.c", "a cached generator needs causal self-attention of one new token (causal = 1), got q %s "
                        "and k %s"):
        "goes to build_generator's /dev/null sink: dlc falls back to the generator without a cache",
}

# fprintf lines that report progress or statistics, not errors
REPORTS = (
    "dlc: stats for ",
    "dlc run: first training step ",
    "dlc run: O3 code in place ",
    "dlc run: %s compiled in ",
)

SINKS = {"diag_error": 2, "diag_warning": 2, "diag_note": 2, "lex_error": 2, "lex_complain": 2}
KIND = {"diag_error": "error", "diag_warning": "warning", "diag_note": "note", "lex_error": "error",
        "lex_complain": "error"}
# the bodies of the sinks themselves: they pass on formats that come from their callers
WRAPPERS = {"lex_vreport", "lex_complain", "lex_error", "report", "diag_error", "diag_warning", "diag_note"}
FPRINTF_PREFIXES = ("dlc: ", "dlc run: ", "usage: ", "%s: error: ")


class SourceError(Exception):
    pass


def blank_comments(text):
    """Comments, and backslash-newlines, become spaces (newlines are kept, so
    offsets and line numbers stay those of the file)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("\\\n", i):
            out.append("  ")
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def call_args(text, open_paren):
    """The arguments of the call whose '(' is at open_paren, as stripped
    strings, and the offset after its ')'."""
    args, depth, start, i = [], 0, open_paren + 1, open_paren
    while i < len(text):
        c = text[i]
        if c in "\"'":
            j = i + 1
            while text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(text[start:i].strip())
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(text[start:i].strip())
            start = i + 1
        i += 1
    raise SourceError("unterminated call")


ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "\"": "\"", "'": "'", "r": "\r", "0": "\0", "a": "\a"}


def c_string(body):
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\":
            out.append(ESCAPES[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def string_expr(expr, macros):
    """The text of a format made of string literals and string macros, or None."""
    parts, rest = [], expr.strip()
    while rest:
        m = re.match(r'"((?:[^"\\]|\\.)*)"\s*', rest)
        if m:
            parts.append(c_string(m.group(1)))
        else:
            m = re.match(r"([A-Za-z_]\w*)\s*", rest)
            if not m or m.group(1) not in macros:
                return None
            parts.append(macros[m.group(1)])
        rest = rest[m.end():]
    return "".join(parts) if parts else None


FUNC_DEF = re.compile(r"^[A-Za-z_][\w \t\*]*?\b(\w+)\s*\(([^;{}()]*)\)\s*(?:__attribute__[^{;]*)?\{", re.M)


class Source:
    def __init__(self, root, rel):
        self.rel = rel
        with open(os.path.join(root, rel), encoding="utf-8") as f:
            self.raw = f.read()
        self.text = blank_comments(self.raw)
        self.macros = {}
        for m in re.finditer(r'^[ \t]*#define[ \t]+(\w+)[ \t]+("(?:[^"\\]|\\.)*")[ \t]*$', self.text, re.M):
            self.macros[m.group(1)] = c_string(m.group(2)[1:-1])
        self.funcs = [(m.start(), m.group(1), [p.strip() for p in m.group(2).split(",")])
                      for m in FUNC_DEF.finditer(self.text)]

    def line(self, off):
        return self.raw.count("\n", 0, off) + 1

    def enclosing(self, off):
        best = None
        for start, name, params in self.funcs:
            if start < off:
                best = (name, params)
        return best


def param_index(params, name):
    for i, p in enumerate(params):
        m = re.search(r"(\w+)\s*$", p)
        if m and m.group(1) == name:
            return i
    return None


def ternary(expr):
    """The two branches of `cond ? a : b` at the top level of expr, or None."""
    depth, q, nested, i = 0, None, 0, 0
    while i < len(expr):
        c = expr[i]
        if c in "\"'":
            j = i + 1
            while expr[j] != c:
                j += 2 if expr[j] == "\\" else 1
            i = j
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif depth == 0 and c == "?":
            if q is None:
                q = i
            else:
                nested += 1
        elif depth == 0 and c == ":" and q is not None:
            if nested == 0:
                return expr[q + 1:i].strip(), expr[i + 1:].strip()
            nested -= 1
        i += 1
    return None


def formats(src, expr, off, depth=0):
    """The formats a format argument can be: [(format, line)]."""
    text = string_expr(expr, src.macros)
    if text is not None:
        return [(text, src.line(off))]
    alts = ternary(expr)
    if alts:
        return formats(src, alts[0], off, depth) + formats(src, alts[1], off, depth)
    enc = src.enclosing(off)
    k = param_index(enc[1], expr) if enc and re.fullmatch(r"\w+", expr) else None
    if k is None or depth > 3:
        raise SourceError("%s:%d: cannot read the message's format '%s'" % (src.rel, src.line(off), expr))
    found = []
    for m in re.finditer(r"\b%s\s*\(" % re.escape(enc[0]), src.text):
        args, _ = call_args(src.text, m.end() - 1)
        if any("const char" in a or a == "..." for a in args):
            continue  # the definition
        found += formats(src, args[k], m.start(), depth + 1)
    return found


def collect(root, reports_seen=None):
    """[(kind, format, file, line)] of every diagnostic in the sources (and
    the REPORTS prefixes met, into reports_seen)."""
    rels = sorted(glob.glob("compiler/*.c", root_dir=root) + glob.glob("compiler/*.[yl]", root_dir=root) +
                  glob.glob("grammar/*.[yl]", root_dir=root))
    msgs = []
    call = re.compile(r"\b(%s|fprintf)\s*\(" % "|".join(SINKS))
    for rel in rels:
        src = Source(root, rel)
        for m in call.finditer(src.text):
            fn = m.group(1)
            args, _ = call_args(src.text, m.end() - 1)
            if any("const char" in a or a == "..." for a in args):
                continue  # a declaration or definition
            enc = src.enclosing(m.start())
            if fn in SINKS:
                if enc and enc[0] in WRAPPERS:
                    continue
                for fmt, line in formats(src, args[SINKS[fn]], m.start()):
                    msgs.append((KIND[fn], fmt, rel, line))
            elif args[0] in ("stderr", "d->out"):
                fmt = string_expr(args[1], src.macros)
                if fmt is None or not fmt.startswith(FPRINTF_PREFIXES):
                    continue
                if fmt.startswith("dlc: internal error"):
                    continue
                if fmt.startswith(REPORTS):
                    if reports_seen is not None:
                        reports_seen.update(r for r in REPORTS if fmt.startswith(r))
                    continue
                msgs.append((None, fmt, rel, src.line(m.start())))
    return msgs


CONVERSION = re.compile(r"%(%|[-+ #0]*(\*|\d+)?(\.(\*|\d+))?(hh|h|ll|l|z|j|t)?([a-zA-Z]))")


def to_regex(kind, fmt):
    """A regular expression for the lines the message prints."""
    fmt = fmt[:-1] if fmt.endswith("\n") else fmt
    out, pos = [], 0
    for m in CONVERSION.finditer(fmt):
        out.append(re.escape(fmt[pos:m.start()]))
        pos = m.end()
        conv = m.group(6)
        if m.group(1) == "%":
            out.append("%")
        elif conv == "s":
            out.append(".*?")
        elif conv in "diu":
            out.append(" *-?[0-9]+")
        elif conv in "xX":
            out.append("[0-9a-fA-F]+")
        elif conv in "eEfFgG":
            out.append(" *[-+0-9.eEinfaINFA]+")
        elif conv == "c":
            out.append(".")
        else:
            raise SourceError("unknown conversion %r in %r" % (m.group(0), fmt))
    out.append(re.escape(fmt[pos:]))
    body = "".join(out)
    literal = len(CONVERSION.sub("", fmt))
    if kind is None:
        return re.compile(body), literal
    return re.compile(r".*?(?::[0-9]+:[0-9]+)?: %s: %s" % (kind, body)), literal


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--list", action="store_true", help="print every message and where it is covered")
    a = ap.parse_args()

    reports_seen = set()
    try:
        msgs = collect(a.root, reports_seen)
    except SourceError as e:
        print("diag_coverage: %s" % e)
        return 1
    # Each line of a golden credits the message that prints it: of several
    # formats that match the line, the one with the most literal text
    # ("unexpected %s, expected %s", not "unexpected %s").
    regexes = [to_regex(kind, fmt) for kind, fmt, _, _ in msgs]
    covered = {}
    for path in sorted(glob.glob(os.path.join(a.root, "tests", "**", "*.err"), recursive=True)):
        golden = os.path.relpath(path, a.root)
        with open(path, encoding="utf-8", errors="replace") as f:
            for text in f.read().splitlines():
                hits = [i for i, (rx, _) in enumerate(regexes) if rx.fullmatch(text)]
                best = max((regexes[i][1] for i in hits), default=0)
                for i in hits:
                    if regexes[i][1] == best:
                        covered.setdefault(i, golden)

    uncovered, allowed_used = [], set()
    for i, (kind, fmt, rel, line) in enumerate(msgs):
        if (rel, fmt) in ALLOWED:
            allowed_used.add((rel, fmt))
            if a.list:
                print("%s:%d: allowed (%s): %r" % (rel, line, ALLOWED[(rel, fmt)], fmt))
            continue
        if a.list:
            print("%s:%d: %s: %r" % (rel, line, covered.get(i, "UNCOVERED"), fmt))
        if i not in covered:
            uncovered.append((kind, fmt, rel, line))

    fail = 0
    for kind, fmt, rel, line in uncovered:
        print("%s:%d: no golden test prints %s%r" % (rel, line, kind + ": " if kind else "", fmt.rstrip("\n")))
        fail = 1
    for key in sorted(set(ALLOWED) - allowed_used):
        print("%s: the allowed message %r is no longer in the sources; remove it from ALLOWED" % key)
        fail = 1
    for prefix in sorted(set(REPORTS) - reports_seen):
        print("no fprintf starts with the report %r any more; remove it from REPORTS" % prefix)
        fail = 1
    print("%d messages in the sources, %d allowed, %d without a golden test" %
          (len(msgs), len(allowed_used), len(uncovered)))
    return fail


if __name__ == "__main__":
    sys.exit(main())
