#!/usr/bin/env python3
"""mutate.py - mutation testing: break the compiler on purpose, one way at a time, and check
that the tests notice.

    tests/mutate.py --list [--only PATTERN]
    tests/mutate.py --check [--cc CC]
    tests/mutate.py [--only PATTERN] [--build DIR] [--cmake-args ARGS] [--jobs N]
                    [--timeout S] [--report FILE] [--no-recheck]

The mutations
-------------
Gradient rules (kind vjp), generated from the sources, each applied twice: its value scaled by 2
(id suffix .x2) and negated (.neg):

  * every `_vjp` function of compiler/ops_ew.c that the op table (op_rules) names: the function
    is renamed NAME_unmutated and a wrapper NAME scales what it returns (zero_vjp, the rule of
    the ops without a gradient, has nothing to scale and is left out);
  * every `accum(ad, X, VALUE)` in a `case OP_...:` of the switch in autodiff.c's vjp() (one
    mutation per adjoint: conv2d's input and kernel gradients are two), and in vjp_loop(), the
    rule of OP_SCAN: VALUE becomes mul(ad, VALUE, cst(ad, 2)) or neg(ad, VALUE).  The accum
    before the switch only dispatches to the ops_ew.c rules, which are mutated themselves.

Kernel edge and tail handling (kind kernel), the hand-written list KERNEL_MUTATIONS below: the
remainder loop after a vectorised or blocked loop dropped, the rows or columns of an edge tile
lost, a partial batch's rows past n read or left unzeroed, the pixels no pooling window reads
left unwritten, and so on in compiler/emit_c.c and runtime/dlrt_kernels.h.  Each entry is a file,
an exact snippet that must occur there exactly once, its replacement, a description and the
tests to run.

The tests of a mutation
-----------------------
Chosen from what each test's program is made of, not by hand: every case of
tests/reference/cases.py and tests/cnn/cnn_ref.py is compiled once by the unmutated dlc with
--emit=graph, which lists the ops of its forward graph and of its training graph.  A gradient
rule of op X is tested by the cases whose forward graph has X (grad.CASE, cnn.GROUP,
ref.f64.CASE, ref.f32.CASE, jit.grad.CASE) and those whose training graph has it (hvp.CASE: the
Hessian-vector product differentiates the gradient's ops too, so conv2d_dx's rule is tested
there).  A kernel mutation names the ops whose kernels it breaks (the cases whose training graph
has one), optionally only the cases fed a partial batch, and regular expressions of further
tests (runtime.kernels_* for the micro-kernels).  Only the tests that the build has are run:
without the LLVM JIT there is no jit.grad.*.

The tests run in stages, each `ctest --stop-on-failure`, cheapest first (the reference gradient
checks, the CNN groups, the Hessian-vector products, the PyTorch comparisons, the JIT): a
mutation is caught at its first failing test, and only a survivor runs them all.

Running them
------------
The real tree is never modified: the tree (git's tracked and untracked, not ignored files) is
copied once to DIR-src beside the build directory DIR (default build-mutate), and each mutation is
applied to that copy, built incrementally in DIR, tested, and undone (also on Ctrl-C; a run that
was killed is undone by the next one, which copies the tree again).  Before the first mutation
the copy is built unmutated and PyTorch's references are stored (ref.torch_refs); after the last,
the first failing test of every caught mutation is run again on the unmutated build, so a test
that fails anyway does not count as a catch (--no-recheck skips this).

Results: caught (a test failed), survived (every selected test passed), build-broken (the
mutated tree does not build: a mistake in the mutation), not-applied (its snippet is gone from
the copy), no-tests (no test selected), timeout
(the mutation's build and tests took longer than --timeout seconds), suspect (caught by a test
that fails without the mutation too).  The report (--report FILE, Markdown) has one row per
mutation: id, description, result, the first failing test, seconds; then a summary line, which
is printed too.  Exit status 0 when every mutation was caught, 1 when one survived, 2 when none
survived but some were not tested properly (build-broken, not-applied, no-tests, timeout,
suspect), 130 when interrupted; --check
and --list exit 1 when a mutation does not apply.

The whole campaign, in the two configurations (each takes hours on two cores):

    nice tests/mutate.py --jobs 2 --report mutate-llvm.md
    nice tests/mutate.py --jobs 2 --build build-mutate-nollvm --cmake-args=-DDLC_WITH_LLVM=OFF \\
        --report mutate-nollvm.md

--check (the CTest test compiler.mutate_check) builds nothing: it generates the list, applies
every mutation to the current sources in memory (each snippet found exactly once) and compiles
every mutated file with `CC -fsyntax-only` (all the x2 mutations of a file at once, and all the
neg ones; one by one only if that fails).

Standard library only (the case tables are read by /usr/bin/python3 in a child process).
"""
import argparse
import concurrent.futures
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- the hand-written kernel mutations ----
#
# file, id, description, snippet (must occur exactly once), replacement, and the tests:
# ops (cases whose training graph has one of them), partial (only those fed a partial batch),
# extra (regular expressions of more test names, run first).
KERNEL_MUTATIONS = [
    dict(file="compiler/emit_c.c", id="kernel.lanes_tail",
         desc="16-lane reductions (sum, max, sum_to): the loop over the last len % 16 elements dropped",
         old="for (int pass = 0; pass < 2; pass++) {", new="for (int pass = 0; pass < 1; pass++) {",
         ops=["sum", "max", "sum_to"]),
    dict(file="compiler/emit_c.c", id="kernel.batch_extent_all_rows",
         desc="reductions, softmax, slices, concats and products along the batch axis run over all B rows, "
              "not the n that hold data",
         old='return k == 1 ? "n" : arena_printf(e->a, "(n * %lld)", (long long)k);',
         new='return arena_printf(e->a, "%lld", (long long)x->shape.d[x->bax]);',
         ops=None, partial=True),
    dict(file="compiler/emit_c.c", id="kernel.sumto_batch_rows",
         desc="sum_to over the batch axis sums all B rows, not the n that hold data",
         old="const char *bound = (k == bax && reduced) ? nb : arena_printf(e->a, \"%lld\", (long long)s.d[k]);",
         new="const char *bound = arena_printf(e->a, \"%lld\", (long long)s.d[k]);",
         ops=["sum_to"], partial=True),
    dict(file="compiler/emit_c.c", id="kernel.few_rows_k_tail",
         desc="products of one or two rows, dot-product form: the last K % 8 steps of each sum dropped",
         old='"%.*sfor (; k < %lld; k++)\\n%.*sacc[0] += dlc_ra[k] * dlc_rb[k];\\n"',
         new='"%.*sfor (; k < %lld && 0; k++)\\n%.*sacc[0] += dlc_ra[k] * dlc_rb[k];\\n"',
         ops=["matmul"]),
    dict(file="compiler/emit_c.c", id="kernel.few_rows_n_tail",
         desc="products of one or two rows: the columns past the last multiple of 8 never written",
         old="\tif (N8 < N) {", new="\tif (N8 < N && 0) {", ops=["matmul"]),
    dict(file="compiler/emit_c.c", id="kernel.maxpool_grad_trailing_cols",
         desc="max pooling's fast gradient: the trailing columns no window reads (W > OW * kw) not zeroed",
         old="\tif (W > OW * kw)\n", new="\tif (W > OW * kw && 0)\n", ops=["max_pool2d", "max_pool2d_grad"]),
    dict(file="compiler/emit_c.c", id="kernel.maxpool_grad_trailing_rows",
         desc="max pooling's fast gradient: the trailing rows no window reads (H > OH * kh) not zeroed",
         old="\tif (H > OH * kh)\n", new="\tif (H > OH * kh && 0)\n", ops=["max_pool2d", "max_pool2d_grad"]),
    dict(file="compiler/emit_c.c", id="kernel.maxpool_grad_batch_rows",
         desc="max pooling's fast gradient: the examples past n not zeroed",
         old='\tif (bax == 0)\n\t\tfprintf(o, "\\tfor (long i = %s * %lld; i < %lld; i++)\\n\\t\\t%s[i] = 0;\\n", rows, C * H * W,',
         new='\tif (bax == 0 && 0)\n\t\tfprintf(o, "\\tfor (long i = %s * %lld; i < %lld; i++)\\n\\t\\t%s[i] = 0;\\n", rows, C * H * W,',
         ops=["max_pool2d", "max_pool2d_grad"], partial=True),
    dict(file="compiler/emit_c.c", id="kernel.pool_window_clip",
         desc="pooling (general path): windows not clipped at the bottom and right edges (one row and "
              "column past them read)",
         old="(long long)w.kh, H, (long long)w.kw, W);", new="(long long)w.kh, H + 1, (long long)w.kw, W + 1);",
         ops=["max_pool2d", "avg_pool2d", "max_pool2d_grad", "avg_pool2d_grad"]),
    dict(file="compiler/emit_c.c", id="kernel.conv_dw_row_tail",
         desc="convolution weight gradient, row layout: the last partial vector of each output row not summed",
         old='"\\t\\t\\t\\tif (%lld %% DLC_VL)\\n", c.OW);', new='"\\t\\t\\t\\tif (0 && %lld %% DLC_VL)\\n", c.OW);',
         ops=["conv2d", "conv2d_dw"]),
    dict(file="compiler/emit_c.c", id="kernel.scan_stack_rows_zero",
         desc="scan: the rows past n of a stacked step not zeroed",
         old='fprintf(o, "\\t\\tfor (int64_t i = n * %lld; i < %lld; i++)\\n\\t\\t\\t%s[i] = 0;\\n", k * row, sz, at);',
         new="(void)at;", ops=["scan"], partial=True),
    dict(file="runtime/dlrt_kernels.h", id="kernel.tile_edge_last_row",
         desc="matmul micro-kernel, an edge tile (mr < DLC_MR or nr < DLC_NR): its last row not stored",
         old="\tfor (long r = 0; r < mr; r++)\n\t\tfor (long j = 0; j < nr; j++)\n\t\t\tc[r * ldc + j] = t[r * DLC_NR + j];",
         new="\tfor (long r = 0; r + 1 < mr; r++)\n\t\tfor (long j = 0; j < nr; j++)\n\t\t\tc[r * ldc + j] = t[r * DLC_NR + j];",
         ops=["matmul"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.tile_edge_last_col",
         desc="matmul micro-kernel, an edge tile (mr < DLC_MR or nr < DLC_NR): its last column not stored",
         old="\tfor (long r = 0; r < mr; r++)\n\t\tfor (long j = 0; j < nr; j++)\n\t\t\tc[r * ldc + j] = t[r * DLC_NR + j];",
         new="\tfor (long r = 0; r < mr; r++)\n\t\tfor (long j = 0; j + 1 < nr; j++)\n\t\t\tc[r * ldc + j] = t[r * DLC_NR + j];",
         ops=["matmul"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.pack_b_k_tail",
         desc="matmul packing of a transposed B: the steps past the last whole DLC_TB block not packed",
         old="\t\t\tfor (; k < kc; k++)\n\t\t\t\tfor (long j = 0; j < DLC_NR; j++)\n\t\t\t\t\tbp[k * DLC_NR + j] = s[j * sj + k];",
         new="\t\t\tfor (; k < kc && 0; k++)\n\t\t\t\tfor (long j = 0; j < DLC_NR; j++)\n\t\t\t\t\tbp[k * DLC_NR + j] = s[j * sj + k];",
         ops=["matmul"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.to_bi_batch_tail",
         desc="convolution batch-inner copy: the examples past the last whole DLC_TB block not copied",
         old="\t\tfor (long b = nn; b < n; b++)\n\t\t\txt[f * nb + b] = x[b * bs + f];",
         new="\t\tfor (long b = nn; b < nn; b++)\n\t\t\txt[f * nb + b] = x[b * bs + f];",
         ops=["conv2d", "conv2d_dx", "conv2d_dw"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.to_bi_feature_tail",
         desc="convolution batch-inner copy: the features past the last whole DLC_TB block not copied",
         old="\tfor (long f = f0; f < chw; f++)\n\t\tfor (long b = 0; b < nn; b++)",
         new="\tfor (long f = f0; f < f0; f++)\n\t\tfor (long b = 0; b < nn; b++)",
         ops=["conv2d", "conv2d_dx", "conv2d_dw"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.to_bi_padded_width_tail",
         desc="convolution batch-inner copy with padding: the columns past the last whole DLC_TB block not copied",
         old="\t\t\t\tfor (long w = w0; w < W; w++)", new="\t\t\t\tfor (long w = w0; w < w0; w++)",
         ops=["conv2d", "conv2d_dx", "conv2d_dw"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.from_bi_batch_tail",
         desc="convolution result back from batch-inner: the examples past the last whole DLC_TB block not copied",
         old="\tfor (long b = nn; b < n; b++)\n\t\tfor (long f = 0; f < rows; f++)\n\t\t\ty[b * ys + f] = yt[f * nb + b];",
         new="\tfor (long b = nn; b < nn; b++)\n\t\tfor (long f = 0; f < rows; f++)\n\t\t\ty[b * ys + f] = yt[f * nb + b];",
         ops=["conv2d", "conv2d_dx", "conv2d_dw"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.wukr_skip_mask",
         desc="convolution weight-gradient micro-kernel: the lanes an overlapping last vector repeats not masked "
              "(counted twice)",
         old="\t\t\t\t\tif (skip)\n", new="\t\t\t\t\tif (0 && skip)\n",
         ops=["conv2d", "conv2d_dw"], extra=[r"^runtime\.kernels_"]),
    dict(file="runtime/dlrt_kernels.h", id="kernel.pad_right_zero",
         desc="convolution padded copy: the right padding of each row not zeroed",
         old="\t\t\tfor (long w = pl + W; w < wp; w++)\n\t\t\t\trow[w] = 0;",
         new="\t\t\tfor (long w = pl + W; w < pl + W; w++)\n\t\t\t\trow[w] = 0;",
         ops=["conv2d", "conv2d_dx", "conv2d_dw"], extra=[r"^runtime\.kernels_"]),
]

# Tests a gradient rule's op also has beyond the reference and CNN cases (a regular expression
# of test names): none needed so far.
EXTRA_TESTS = {}

# ---- reading the sources ----


def read(rel, root=ROOT):
    with open(os.path.join(root, rel)) as f:
        return f.read()


def match_close(text, i):
    """The index just past the bracket that closes the one at text[i] ('(' or '{'), skipping
    string and character literals and comments."""
    open_c = text[i]
    close_c = {"(": ")", "{": "}", "[": "]"}[open_c]
    depth = 0
    j = i
    n = len(text)
    while j < n:
        c = text[j]
        if c in "\"'":
            j += 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
        elif text.startswith("/*", j):
            j = text.index("*/", j) + 1
        elif text.startswith("//", j):
            j = text.index("\n", j)
        elif c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    raise ValueError("unbalanced %r at offset %d" % (open_c, i))


def split_args(text, i):
    """The arguments of the call whose '(' is text[i]: [(start, end)] of each, stripped."""
    end = match_close(text, i)
    spans = []
    start = i + 1
    j = start
    while j < end - 1:
        c = text[j]
        if c in "([{":
            j = match_close(text, j)
            continue
        if c in "\"'":
            k = j + 1
            while text[k] != c:
                k += 2 if text[k] == "\\" else 1
            j = k + 1
            continue
        if c == ",":
            spans.append((start, j))
            start = j + 1
        j += 1
    spans.append((start, end - 1))
    out = []
    for a, b in spans:
        while text[a].isspace():
            a += 1
        while text[b - 1].isspace():
            b -= 1
        out.append((a, b))
    return out


def ops_def():
    """ENUM -> the op's name, from compiler/ops.def."""
    return {m.group(1): m.group(2) for m in re.finditer(r'^OP\((\w+),\s*"([^"]+)"', read("compiler/ops.def"), re.M)}


def function_body(text, signature):
    """(start of the signature, end of the body) of the function defined with this signature
    (the definition: the one followed by its body, not a prototype)."""
    for m in re.finditer(re.escape(signature), text):
        k = m.end()
        while text[k].isspace():
            k += 1
        if text[k] == "{":
            return m.start(), match_close(text, k)
    raise ValueError("no definition of %r" % signature)


class Mutation:
    def __init__(self, mid, kind, file, edits, desc, ops=(), rule="first", partial=False, extra=(), line=0):
        self.id = mid
        self.kind = kind            # "vjp" or "kernel"
        self.file = file            # relative to the tree's root
        self.edits = edits          # [(offset, old, new)] in the unmutated file
        self.desc = desc
        self.ops = set(ops or ())   # op names whose cases test it
        self.rule = rule            # vjp: "first" (a rule of the forward graph); kernel: "kernel"
        self.partial = partial      # only the cases fed a partial batch
        self.extra = list(extra)    # regular expressions of more tests
        self.line = line

    def apply(self, text):
        """The mutated text; ValueError when an edit does not find its snippet."""
        for off, old, new in sorted(self.edits, reverse=True):
            if text[off:off + len(old)] != old:
                raise ValueError("%s: the snippet is not at offset %d of %s" % (self.id, off, self.file))
            text = text[:off] + new + text[off + len(old):]
        return text


def line_of(text, off):
    return text.count("\n", 0, off) + 1


def vjp_mutations(problems):
    """The gradient-rule mutations, generated from ops_ew.c and autodiff.c; `problems` collects
    what could not be mutated."""
    names = ops_def()
    out = []

    # ops_ew.c: the functions the op table names as .vjp
    ew = read("compiler/ops_ew.c")
    users = {}
    for m in re.finditer(r"^\s*\[OP_(\w+)\]\s*=\s*\{([^}]*)\}", ew, re.M):
        v = re.search(r"\.vjp\s*=\s*(\w+)", m.group(2))
        if v:
            users.setdefault(v.group(1), []).append(names.get(m.group(1), m.group(1).lower()))
    defined = re.findall(r"^static NodeId (\w+_vjp)\(const VjpCall \*v\)", ew, re.M)
    for fn in defined:
        if fn not in users:
            problems.append("compiler/ops_ew.c: %s is not in the op table: not mutated" % fn)
    for fn, ops in sorted(users.items(), key=lambda kv: ew.find("NodeId %s(" % kv[0])):
        if fn == "zero_vjp":
            continue
        sig = "static NodeId %s(const VjpCall *v)" % fn
        try:
            a, b = function_body(ew, sig)
        except ValueError as e:
            problems.append("compiler/ops_ew.c: %s" % e)
            continue
        old = ew[a:b]
        renamed = old.replace(fn + "(", fn + "_unmutated(", 1)
        base = fn[:-len("_vjp")]
        for suffix, expr, what in (("x2", "mulc(v, r, 2)", "scaled by 2"), ("neg", "un(v, OP_NEG, r)", "negated")):
            new = ("%s\n%s\n{\n\tNodeId r = %s_unmutated(v); /* mutation: %s */\n\treturn r ? %s : 0;\n}"
                   % (renamed, sig, fn, what, expr))
            out.append(Mutation("vjp.%s.%s" % (base, suffix), "vjp", "compiler/ops_ew.c", [(a, old, new)],
                                "%s (%s): the adjoint %s" % (fn, ", ".join(ops), what), ops, "first",
                                line=line_of(ew, a)))

    # autodiff.c: each accum(ad, X, VALUE) of vjp()'s switch and of vjp_loop()
    ad = read("compiler/autodiff.c")
    sites = []  # (op names, operand, offset of VALUE, VALUE)

    def accums(lo, hi):
        for m in re.finditer(r"\baccum\(", ad[lo:hi]):
            p = lo + m.end() - 1
            args = split_args(ad, p)
            if len(args) != 3:
                problems.append("compiler/autodiff.c:%d: accum with %d arguments" % (line_of(ad, p), len(args)))
                continue
            yield ad[args[1][0]:args[1][1]], args[2]

    a, b = function_body(ad, "static void vjp(AD *ad, NodeId id, NodeId gy)")
    sw = ad.find("switch ((OpKind)n.op) {", a, b)
    if sw < 0:
        problems.append("compiler/autodiff.c: vjp() has no `switch ((OpKind)n.op) {`")
    else:
        body_end = match_close(ad, ad.index("{", sw)) - 1
        labels = list(re.finditer(r"^\t((?:case OP_\w+:\s*)+|default:)", ad[:body_end], re.M))
        labels = [m for m in labels if m.start() > sw]
        for i, m in enumerate(labels):
            seg_end = labels[i + 1].start() if i + 1 < len(labels) else body_end
            enums = re.findall(r"case OP_(\w+):", m.group(1))
            ops = [names.get(e, e.lower()) for e in enums]
            for operand, span in accums(m.end(), seg_end):
                if not ops:
                    problems.append("compiler/autodiff.c:%d: an accum under default:" % line_of(ad, span[0]))
                    continue
                sites.append((ops, operand, span))
    a, b = function_body(ad, "static void vjp_loop(AD *ad, int L)")
    for operand, span in accums(a, b):
        sites.append((["scan"], operand, span))

    def short(operand):  # n.in[k] -> in, sl->src -> src
        return re.sub(r"_?\[.*$", "", re.sub(r"^(sl->|n\.)", "", operand))
    total, seen = {}, {}
    for ops, operand, _ in sites:
        key = "%s.%s" % (ops[0], short(operand))
        total[key] = total.get(key, 0) + 1
    for ops, operand, (s, e) in sites:
        key = "%s.%s" % (ops[0], short(operand))
        seen[key] = seen.get(key, 0) + 1
        if total[key] > 1:
            key += ".%d" % seen[key]
        value = ad[s:e]
        for suffix, new, what in (("x2", "mul(ad, %s, cst(ad, 2))" % value, "scaled by 2"),
                                  ("neg", "neg(ad, %s)" % value, "negated")):
            out.append(Mutation("vjp.%s.%s" % (key, suffix), "vjp", "compiler/autodiff.c", [(s, value, new)],
                                "%s (autodiff.c:%d): the adjoint of %s %s" % (
                                    "/".join(ops), line_of(ad, s), OPERANDS.get(operand, operand), what),
                                ops, "first", line=line_of(ad, s)))
    return out


# how the adjoints' first arguments read in a description
OPERANDS = {"a": "in[0] (a)", "b": "in[1] (b)", "n.in[k]": "each input in[k]", "sl->src": "a loop input (sl->src)",
            "sl->first": "a shifted sequence's first value (sl->first)", "id": "a loop-invariant value (id)"}


def kernel_mutations(problems):
    out = []
    for k in KERNEL_MUTATIONS:
        text = read(k["file"])
        n = text.count(k["old"])
        if n != 1:
            problems.append("%s: %s: its snippet occurs %d times in %s (should be once)" % (k["id"], k["desc"], n, k["file"]))
            continue
        off = text.index(k["old"])
        out.append(Mutation(k["id"], "kernel", k["file"], [(off, k["old"], k["new"])], k["desc"], k.get("ops") or (),
                            "kernel", k.get("partial", False), k.get("extra", ()), line_of(text, off)))
    return out


def all_mutations():
    problems = []
    muts = vjp_mutations(problems) + kernel_mutations(problems)
    ids = {}
    for m in muts:
        ids.setdefault(m.id, []).append(m)
    for i, ms in ids.items():
        if len(ms) > 1:
            problems.append("%s: %d mutations have this id" % (i, len(ms)))
    return muts, problems


# ---- --check: every mutation applies, and the mutated files compile ----


def syntax_check(cc, rel, text, tmp):
    """None when `text`, standing for the file rel of the tree, compiles (-fsyntax-only); else
    the compiler's messages."""
    d = tempfile.mkdtemp(dir=tmp)
    base = os.path.basename(rel)
    path = os.path.join(d, base)
    with open(path, "w") as f:
        f.write(text)
    src = path
    if base.endswith(".h"):  # the header the generated C includes: as a model's C does
        src = os.path.join(d, "use_header.c")
        with open(src, "w") as f:
            f.write('typedef double dlc_t;\n#define DLC_ESZ 8\n#include "%s"\n' % base)
    # the definitions CMakeLists.txt gives dlc's sources, as placeholders
    defs = ["-D%s=\"-\"" % d for d in ("DLC_VERSION", "DLC_RUNTIME_INCLUDE", "DLC_RUNTIME_LIBDIR",
                                       "DLC_INSTALL_INCLUDE", "DLC_INSTALL_LIBDIR", "DLC_DEFAULT_CC")]
    cmd = shlex.split(cc) + defs + ["-std=c11", "-fsyntax-only", "-D_POSIX_C_SOURCE=200809L",
                             "-Werror=implicit-function-declaration", "-Werror=int-conversion",
                             "-Werror=incompatible-pointer-types", "-I", d,
                             "-I", os.path.join(ROOT, os.path.dirname(rel)), src]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    return None if p.returncode == 0 else p.stdout[-3000:]


def check(muts, problems, cc):
    bad = list(problems)
    texts = {}
    for m in muts:
        if m.file not in texts:
            texts[m.file] = read(m.file)
        try:
            m.apply(texts[m.file])
        except ValueError as e:
            bad.append(str(e))
    with tempfile.TemporaryDirectory(prefix="dlc-mutate-") as tmp:
        # groups of mutations with disjoint edits in one file: compiled together
        groups = {}
        for m in muts:
            groups.setdefault((m.file, m.id.rsplit(".", 1)[-1] if m.kind == "vjp" else m.id), []).append(m)
        ncompiles = 0
        for (rel, _), ms in sorted(groups.items()):
            edits = sorted(e for m in ms for e in m.edits)
            disjoint = all(edits[i][0] + len(edits[i][1]) <= edits[i + 1][0] for i in range(len(edits) - 1))
            if disjoint:
                combined = Mutation("group", "", rel, edits, "")
                try:
                    text = combined.apply(texts[rel])
                except ValueError:
                    text = None
                if text is not None:
                    ncompiles += 1
                    if syntax_check(cc, rel, text, tmp) is None:
                        continue
            for m in ms:  # one by one, to name the ones that do not compile
                try:
                    text = m.apply(texts[rel])
                except ValueError:
                    continue
                ncompiles += 1
                err = syntax_check(cc, rel, text, tmp)
                if err is not None:
                    bad.append("%s: the mutated %s does not compile:\n%s" % (m.id, rel, err))
    nv = sum(m.kind == "vjp" for m in muts)
    print("mutate.py --check: %d mutations (%d of gradient rules, %d of kernels), %d compiles with %s"
          % (len(muts), nv, len(muts) - nv, ncompiles, cc))
    if not muts:
        bad.append("no mutations generated")
    for b in bad:
        print("FAIL: " + b)
    if not bad:
        print("every mutation applies exactly once and its file compiles")
    return 1 if bad else 0


# ---- the scratch copy of the tree ----


def tree_files():
    p = subprocess.run(["git", "-C", ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                       stdout=subprocess.PIPE, check=True)
    return sorted({f for f in p.stdout.decode().split("\0") if f and os.path.isfile(os.path.join(ROOT, f))})


def sync_tree(src):
    """Make src a copy of the tree: files that differ are copied (the others keep their times,
    so the build stays incremental), files the tree no longer has are removed."""
    files = tree_files()
    want = set(files)
    copied = 0
    for f in files:
        a, b = os.path.join(ROOT, f), os.path.join(src, f)
        try:
            with open(a, "rb") as fa, open(b, "rb") as fb:
                if fa.read() == fb.read():
                    continue
        except OSError:
            pass
        os.makedirs(os.path.dirname(b), exist_ok=True)
        shutil.copy2(a, b)
        copied += 1
    manifest = os.path.join(src, ".mutate-files")
    if os.path.exists(manifest):
        with open(manifest) as fm:
            for f in fm.read().split("\n"):
                if f and f not in want and os.path.isfile(os.path.join(src, f)):
                    os.remove(os.path.join(src, f))
    with open(manifest, "w") as fm:
        fm.write("\n".join(files) + "\n")
    return copied


class Killed(Exception):
    pass


def run(cmd, cwd, log, timeout=None):
    """Run cmd (its own process group, so a timeout ends it all), appending its output to log;
    (returncode or None on timeout, output)."""
    with open(log, "a") as f:
        f.write("$ %s\n" % " ".join(shlex.quote(c) for c in cmd))
        f.flush()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True, start_new_session=True)
        try:
            out, _ = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
            f.write(out + "\n(timed out after %s s)\n" % timeout)
            return None, out
        except BaseException:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            raise
        f.write(out + "\n")
        return p.returncode, out


# ---- which tests use which op ----

DUMP_CASES = r"""
import json, re, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import cases
out = {"ref": [], "cnn": []}
for c in cases.CASES:
    m = re.search(r"^dim B = (\d+)", c.src, re.M)
    B = int(m.group(1)) if m else None
    out["ref"].append({"name": c.name, "src": c.src, "reject": bool(c.reject),
                       "partial": c.rows is not None and B is not None and c.rows < B})
import cnn_ref
for c in cnn_ref.CASES:
    out["cnn"].append({"name": c.name, "group": c.group, "src": cnn_ref.program(c), "reject": False,
                       "partial": c.rows < c.B})
json.dump(out, sys.stdout)
"""


def graph_ops(dlc, src, tmp):
    """(ops of the forward graph, ops of every graph) of a program, by dlc --emit=graph."""
    fd, path = tempfile.mkstemp(suffix=".dl", dir=tmp)
    with os.fdopen(fd, "w") as f:
        f.write(src)
    p = subprocess.run([dlc, path, "--emit=graph"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       universal_newlines=True, cwd=tmp)
    os.remove(path)
    if p.returncode != 0:
        return None
    fwd, every, section = set(), set(), None
    for line in p.stdout.splitlines():
        if line.startswith("#"):
            section = "fwd" if line.startswith("# forward graph") else "other"
            continue
        m = re.match(r"%\d+ = (\w+)", line)
        if m:
            every.add(m.group(1))
            if section == "fwd":
                fwd.add(m.group(1))
    return fwd, every


def op_index(src_tree, dlc, jobs, log):
    """Every case of tests/reference/cases.py and tests/cnn/cnn_ref.py as a dict: kind ("ref" or
    "cnn"), name, group (cnn), fwd and all (the op names of its forward graph and of all its graphs,
    as the unmutated dlc prints them), partial (fed a partial batch)."""
    p = subprocess.run(["/usr/bin/python3", "-c", DUMP_CASES, os.path.join(src_tree, "tests/reference"),
                        os.path.join(src_tree, "tests/cnn")], stdout=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        raise SystemExit("mutate.py: could not read the case tables (/usr/bin/python3 with NumPy)")
    tables = json.loads(p.stdout)
    entries = [("ref", c) for c in tables["ref"] if not c["reject"]] + [("cnn", c) for c in tables["cnn"]]
    with tempfile.TemporaryDirectory(prefix="dlc-mutate-") as tmp:
        with concurrent.futures.ThreadPoolExecutor(max(1, jobs)) as ex:
            results = list(ex.map(lambda e: graph_ops(dlc, e[1]["src"], tmp), entries))
    index = []
    for (kind, c), r in zip(entries, results):
        if r is None:
            with open(log, "a") as f:
                f.write("--emit=graph failed for %s case %s\n" % (kind, c["name"]))
            continue
        index.append(dict(kind=kind, name=c["name"], group=c.get("group"), fwd=r[0], all=r[1], partial=c["partial"]))
    return index


def stages_for(m, index, existing):
    """The tests of mutation m, in stages: [(stage name, [test names])], only tests the build has."""
    def hits(e, graph):
        return (not m.partial or e["partial"]) and bool(m.ops & e[graph])
    if m.ops:
        first_graph = "fwd" if m.rule == "first" else "all"
        first = [e for e in index if hits(e, first_graph)]
        second = [e for e in index if hits(e, "all")]
    else:  # every case (fed a partial batch, if m.partial)
        first = second = [e for e in index if not m.partial or e["partial"]]
    ref1 = [e["name"] for e in first if e["kind"] == "ref"]
    ref2 = [e["name"] for e in second if e["kind"] == "ref"]
    groups = sorted({e["group"] for e in first if e["kind"] == "cnn"})
    extra = list(m.extra)
    for op in m.ops:
        extra += EXTRA_TESTS.get(op, [])
    stages = [
        ("extra", sorted(t for t in existing if any(re.search(x, t) for x in extra))),
        ("grad", ["grad." + c for c in ref1]),
        ("cnn", ["cnn." + g for g in groups]),
        ("hvp", ["hvp." + c for c in ref2]),
        ("torch", [t for c in ref1 for t in ("ref.f64." + c, "ref.f32." + c)]),
        ("jit", ["jit.grad." + c for c in ref1]),
    ]
    out, seen = [], set()
    for name, tests in stages:
        tests = [t for t in tests if t in existing and t not in seen]
        seen.update(tests)
        if tests:
            out.append((name, tests))
    return out


TEST_LINE = re.compile(r"^\s*\d+/\d+ Test\s+#\d+: (\S+?)(?:\s*\.{3,}\s*|\s*)(\*{3}.*?|Passed.*?)\s+[\d.]+ sec\s*$")


def ctest(build, tests, jobs, log, timeout, stop=True):
    """Run the tests (a {name: ctest's number}); (first failing test or None, tests run, timed
    out).  They are named by number (-I), which has no length limit as a regular expression has."""
    cmd = ["ctest", "-I", "0,0,0," + ",".join(str(n) for n in sorted(tests.values())), "-j", str(jobs),
           "--output-on-failure", "-FS", "dlc_torch_refs"]
    if stop:
        cmd.append("--stop-on-failure")
    rc, out = run(cmd, build, log, timeout)
    failed, ran = None, 0
    for line in (out or "").splitlines():
        m = TEST_LINE.match(line)
        if not m:
            continue
        ran += 1
        status = m.group(2)
        if not status.startswith("Passed") and "Skipped" not in status and failed is None:
            failed = m.group(1)
    if rc is None:
        return failed, ran, True
    if rc != 0 and failed is None:
        failed = "(ctest exit status %d, see the log)" % rc
    return failed, ran, False


# ---- the campaign ----


def campaign(args, muts):
    build = os.path.abspath(args.build)
    src = os.path.abspath(args.src or build + "-src")
    logs = os.path.join(build, "mutate-logs")
    os.makedirs(logs, exist_ok=True)
    os.makedirs(src, exist_ok=True)
    main_log = os.path.join(logs, "campaign.log")
    open(main_log, "w").close()
    t0 = time.time()
    print("mutate.py: %d mutations; the tree copied to %s (%d files changed), built in %s"
          % (len(muts), src, sync_tree(src), build), flush=True)
    cmake_args = shlex.split(args.cmake_args or "")
    rc, _ = run(["cmake", "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release"] + cmake_args, src, main_log)
    if rc != 0:
        raise SystemExit("mutate.py: cmake failed, see %s" % main_log)
    build_cmd = ["cmake", "--build", build, "-j", str(args.jobs)]
    rc, _ = run(build_cmd, src, main_log)
    if rc != 0:
        raise SystemExit("mutate.py: the unmutated tree does not build, see %s" % main_log)
    p = subprocess.run(["ctest", "-N"], cwd=build, stdout=subprocess.PIPE, universal_newlines=True)
    existing = {name: int(num) for num, name in re.findall(r"Test\s+#(\d+): (\S+)", p.stdout)}
    index = op_index(src, os.path.join(build, "dlc"), args.jobs, main_log)
    if "ref.torch_refs" in existing:
        run(["ctest", "-R", r"^ref\.torch_refs$"], build, main_log)
    print("mutate.py: baseline built, %d tests, %d cases indexed (%.0f s)" % (len(existing), len(index), time.time() - t0),
          flush=True)

    if args.plan:
        for m in muts:
            st = stages_for(m, index, existing)
            print("%-44s %s" % (m.id, ", ".join("%s %d" % (n, len(t)) for n, t in st) or "no tests"))
        return [], time.time() - t0

    originals = {}
    results = []
    try:
        for i, m in enumerate(muts):
            res = dict(id=m.id, desc=m.desc, kind=m.kind, result=None, failed="", seconds=0.0, tests=0, stage="")
            results.append(res)
            tm = time.time()
            log = os.path.join(logs, m.id + ".log")
            open(log, "w").close()
            stages = stages_for(m, index, existing)
            path = os.path.join(src, m.file)
            if m.file not in originals:
                originals[m.file] = read(m.file, src)
            if not stages:
                res["result"] = "no-tests"
            else:
                try:
                    mutated = m.apply(originals[m.file])
                except ValueError as e:
                    res["result"], res["failed"] = "not-applied", str(e)
                    mutated = None
                if mutated is not None:
                    try:
                        with open(path, "w") as f:
                            f.write(mutated)
                        left = lambda: args.timeout - (time.time() - tm)
                        rc, _ = run(build_cmd, src, log, max(1, left()))
                        if rc is None:
                            res["result"] = "timeout"
                        elif rc != 0:
                            res["result"] = "build-broken"
                        else:
                            res["result"] = "survived"
                            for name, tests in stages:
                                if left() <= 0:
                                    res["result"] = "timeout"
                                    break
                                failed, ran, timed_out = ctest(build, {t: existing[t] for t in tests}, args.jobs,
                                                               log, max(1, left()))
                                res["tests"] += ran
                                if failed:
                                    res["result"], res["failed"], res["stage"] = "caught", failed, name
                                    break
                                if timed_out:
                                    res["result"] = "timeout"
                                    break
                    finally:
                        with open(path, "w") as f:
                            f.write(originals[m.file])
            res["seconds"] = time.time() - tm
            print("[%d/%d] %-44s %-12s %-40s %4.0f s, %d tests" % (i + 1, len(muts), m.id, res["result"],
                                                                  res["failed"], res["seconds"], res["tests"]),
                  flush=True)
    except KeyboardInterrupt:
        print("mutate.py: interrupted; the copy of the tree is restored", flush=True)
        results = [r for r in results if r["result"]]
        args.interrupted = True
    finally:
        for rel, text in originals.items():
            with open(os.path.join(src, rel), "w") as f:
                f.write(text)

    # the first failing tests again, without the mutations
    firsts = sorted({r["failed"] for r in results if r["result"] == "caught" and not r["failed"].startswith("(")})
    if firsts and not args.no_recheck and not args.interrupted:
        rc, _ = run(build_cmd, src, main_log)
        if rc == 0:
            bad = set()
            for t in firsts:
                failed, _, _ = ctest(build, {t: existing[t]}, args.jobs, main_log, None, stop=False)
                if failed:
                    bad.add(t)
            for r in results:
                if r["result"] == "caught" and r["failed"] in bad:
                    r["result"] = "suspect"
            print("mutate.py: the %d first failing tests rerun without the mutations: %s"
                  % (len(firsts), "all pass" if not bad else "%d fail anyway: %s" % (len(bad), ", ".join(sorted(bad)))))
    return results, time.time() - t0


def summary(results, seconds, args):
    counts = {}
    for r in results:
        counts[r["result"]] = counts.get(r["result"], 0) + 1
    order = ["caught", "survived", "build-broken", "no-tests", "not-applied", "timeout", "suspect"]
    parts = ["%d %s" % (counts[k], k) for k in order if counts.get(k)]
    return "%d mutations (%d vjp, %d kernel): %s; %.0f s (%s)" % (
        len(results), sum(r["kind"] == "vjp" for r in results), sum(r["kind"] == "kernel" for r in results),
        ", ".join(parts) or "none run", seconds,
        "configured with %s" % args.cmake_args if args.cmake_args else "default configuration")


def write_report(path, results, line, problems):
    def cell(s):
        return str(s).replace("|", "\\|").replace("\n", " ")
    with open(path, "w") as f:
        f.write("# Mutation testing\n\n%s\n\n" % line)
        f.write("| id | description | result | first failing test | tests run | seconds |\n"
                "|---|---|---|---|---|---|\n")
        for r in results:
            f.write("| %s | %s | %s | %s | %d | %.0f |\n" % (cell(r["id"]), cell(r["desc"]), r["result"],
                                                            cell(r["failed"]), r["tests"], r["seconds"]))
        if problems:
            f.write("\nNot mutated:\n\n" + "".join("- %s\n" % cell(p) for p in problems))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the mutations (id, file:line, description)")
    ap.add_argument("--check", action="store_true",
                    help="apply every mutation in memory and compile each mutated file (-fsyntax-only); builds nothing")
    ap.add_argument("--only", metavar="PATTERN", help="only the mutations whose id matches this regular expression")
    ap.add_argument("--build", default=os.path.join(ROOT, "build-mutate"),
                    help="the build directory of the mutated tree (default: build-mutate); its copy of the tree "
                         "is DIR-src unless --src says")
    ap.add_argument("--src", help="where the copy of the tree goes (default: the build directory + '-src')")
    ap.add_argument("--cmake-args", default="", help="more arguments for cmake's configure, such as -DDLC_WITH_LLVM=OFF")
    ap.add_argument("--jobs", type=int, default=2, help="parallel jobs of the build and of ctest (default 2)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="seconds one mutation's build and tests may take (default 1800)")
    ap.add_argument("--report", metavar="FILE", help="write the results as a Markdown table")
    ap.add_argument("--plan", action="store_true",
                    help="build the unmutated tree and print how many tests each mutation would run, by stage")
    ap.add_argument("--no-recheck", action="store_true",
                    help="do not rerun the first failing tests without the mutations")
    ap.add_argument("--cc", default=os.environ.get("CC") or "cc", help="C compiler of --check (default: $CC or cc)")
    args = ap.parse_args()
    args.interrupted = False

    def terminate(signum, frame):  # as Ctrl-C: the copy of the tree is restored
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)

    muts, problems = all_mutations()
    if args.only:
        muts = [m for m in muts if re.search(args.only, m.id)]
    if args.check:
        return check(muts, problems if not args.only else [], args.cc)
    if args.list:
        for m in muts:
            print("%-48s %s:%d  %s" % (m.id, m.file, m.line, m.desc))
        nv = sum(m.kind == "vjp" for m in muts)
        print("%d mutations: %d of gradient rules, %d of kernels" % (len(muts), nv, len(muts) - nv))
        for p in problems:
            print("not mutated: " + p)
        return 1 if problems else 0
    if not muts:
        ap.error("no mutation matches --only %r (see --list)" % args.only)
    results, seconds = campaign(args, muts)
    if args.plan:
        return 0
    line = summary(results, seconds, args)
    print(line)
    for p in problems:
        print("not mutated: " + p)
    if args.report:
        write_report(args.report, results, line, problems)
        print("report: %s" % args.report)
    res = {r["result"] for r in results}
    if args.interrupted:
        return 130
    if "survived" in res:
        return 1
    if res - {"caught"} or problems:
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
