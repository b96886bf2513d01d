#!/usr/bin/env python3
"""Hostile names and text: nothing a .dl file or its path holds becomes C that
runs, no name hangs the naming of the C identifiers, and every name the checker
accepts compiles and trains, ahead of time (dlc -o) and in the JIT (dlc run)."""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("test")
ap.add_argument("--dlc", required=True)
ap.add_argument("--workdir", required=True)
ap.add_argument("--runtime", required=True, help="the runtime's headers, for the strict compiles")
args = ap.parse_args()
os.makedirs(args.workdir, exist_ok=True)
W = args.workdir


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, expect_rc=0, timeout=300, cwd=None):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                           timeout=timeout, cwd=cwd)
    except subprocess.TimeoutExpired:
        fail("%s did not finish in %d s" % (" ".join(cmd), timeout))
    if expect_rc == "nonzero" and p.returncode == 0 or expect_rc not in ("nonzero", None) and p.returncode != expect_rc:
        fail("%s: exit %d (expected %s)\n%s" % (" ".join(cmd), p.returncode, expect_rc, p.stdout[-4000:]))
    return p.stdout


def have_jit():
    return "llvm JIT: LLVM" in run([args.dlc, "--version"])


def strict_compile(c_file):
    """The generated C compiles warning-free under the strictest flags with gcc and clang."""
    for cc in ("gcc", "clang"):
        if shutil.which(cc):
            run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", args.runtime, "-fsyntax-only",
                 c_file])


def write_npy(path, rows, cols):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, cols)
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack("<%df" % (rows * cols), *[0.25 * (i % 7) for i in range(rows * cols)]))


def no_pwned(out, what):
    if re.search(r"^PWNED$", out, re.M):  # puts's line, not a message that names the path
        fail("%s: the injected code ran:\n%s" % (what, out[-2000:]))


# ---- C injection ----

MODEL = """dim B = 2
input x : f32[B, 3]
param W : [3] = constant(0.5)
loss mean((x * W) ^ 2)
"""


def t_trigraph():
    """A data path "a??/" would end its C string early under -std=c11 (the trigraph is a
    backslash), and the next string argument would run as code."""
    payload = ('}, .csv_header = 0}}; __attribute__((constructor)) static void pwn(void) { __builtin_puts(\\"PWNED\\"); }'
               ' static const dlrt_model junk = { .train_data = {.kind = 0}, //')
    src = os.path.join(W, "trigraph.dl")
    with open(src, "w") as f:
        f.write(MODEL + 'train {\n  optimizer = sgd(lr = 0.1)\n  data = npy("a??/", "%s")\n}\n' % payload)
    c = os.path.join(W, "trigraph.c")
    run([args.dlc, src, "-o", c])
    text = open(c).read()
    if "??/" in text or '"a\\?\\?/"' not in text:
        fail("the generated C holds a trigraph, or lost the path a??/")
    strict_compile(c)
    exe = os.path.join(W, "trigraph")
    out = run([args.dlc, src, "-o", exe], expect_rc=None)
    no_pwned(out, "dlc -o")
    if os.path.exists(exe):
        out = run([exe, "--epochs", "1"], expect_rc=None, cwd=W)
        no_pwned(out, "the trainer")
        if "dlrt:" not in out:
            fail("the trainer did not refuse its two data files for one input:\n" + out[-2000:])
    else:
        fail("dlc -o did not build the trainer:\n" + out[-2000:])


def t_path():
    """The model's path in the header comment: a directory 'a*' and one whose name is a
    newline and C, then a file '*m.dl', would close the comment, run the code and open
    another comment."""
    code = '\n__attribute__((constructor)) static void pwn(void) { __builtin_puts("PWNED"); }\n'
    d = os.path.join(W, "a*", code)
    os.makedirs(d, exist_ok=True)
    src = os.path.join(d, "*m.dl")
    with open(src, "w") as f:
        f.write(MODEL + "train {\n  optimizer = sgd(lr = 0.1)\n}\n")
    c = os.path.join(W, "path.c")
    run([args.dlc, src, "-o", c])
    text = open(c).read()
    first = text[:text.index("*/")]
    if "Entry points" not in first or "/*" in first[2:] or re.search(r"^__attribute__", text, re.M):
        fail("the model's path left its comment:\n" + text[:600])
    strict_compile(c)
    exe = os.path.join(W, "path")
    out = run([args.dlc, src, "-o", exe], expect_rc=None)
    no_pwned(out, "dlc -o")
    if not os.path.exists(exe):
        fail("dlc -o did not build the trainer:\n" + out[-2000:])
    write_npy(os.path.join(W, "x.npy"), 4, 3)
    out = run([exe, "--train", os.path.join(W, "x.npy"), "--epochs", "1", "--progress", "never"], cwd=W)
    no_pwned(out, "the trainer")
    if have_jit():
        out = run([args.dlc, "run", src, "--train", os.path.join(W, "x.npy"), "--epochs", "1", "--progress", "never"])
        no_pwned(out, "dlc run")


def t_envpath():
    """A user environment's path is #included as it is: one holding "??" (a trigraph) or "/*"
    is refused with a clear error, not printed."""
    for i, sub in enumerate(("e??", os.path.join("e", "*x"))):
        d = os.path.join(W, sub)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "env.c"), "w") as f:
            f.write("#error the environment file was included\n")
        src = os.path.join(W, "env%d.dl" % i)
        with open(src, "w") as f:
            f.write("""dim T = 10
input obs : f32[T, 4]
label act : i32[T]
input ret : f32[T]
fc = Linear(4, 2)
logits = fc(obs)
output action = categorical(logits)
loss -sum(ret * sum(one_hot(act, 2) * log_softmax(logits), axis = 1))
train {
  optimizer = adam(lr = 0.01)
  env = c("%s")
  data = rollout(observation = obs, action = act, returns = ret)
}
""" % os.path.join(sub, "env.c"))
        out = run([args.dlc, src, "-o", os.path.join(W, "env%d.c" % i)], expect_rc="nonzero")
        if not re.search(r"env%d\.dl:\d+:\d+: error: the environment file's path .*trigraph" % i, out):
            fail("the environment path %s was not refused clearly:\n%s" % (sub, out[-2000:]))


# ---- reserved prefixes ----

def t_prefix():
    """A name in the runtime's namespace (dlrt_main) is renamed once, not forever."""
    src = os.path.join(W, "prefix.dl")
    with open(src, "w") as f:
        f.write("dim B = 2\ninput dlrt_main : f32[B, 3]\nparam dlc_W : [3] = constant(0.5)\n"
                "DLC_h = dlrt_main * dlc_W\noutput DLRT_out = DLC_h + 1\nloss mean(DLRT_out ^ 2)\n")
    run([args.dlc, src, "--emit=summary"], timeout=20)
    c = os.path.join(W, "prefix.c")
    run([args.dlc, src, "-o", c], timeout=20)
    strict_compile(c)


# ---- names the emitter makes from others ----

def t_clash():
    """DSL names equal to the names the emitter makes: a kernel's function (h -> h_relu, W ->
    W_update, d_x_copy), the model's own (MODEL_forward, MODEL_tensors, MODEL_const_0), two
    names for one C identifier in a reserved class (the layer member clash.step and clash_step,
    whose clash_step_2 would be MODEL_step_2) and the emitter's locals; and a model file named dlrt.dl, whose MODEL_model would be the runtime's type."""
    for stem in ("clash", "dlrt"):
        clash(stem)


def clash(stem):
    src = os.path.join(W, stem + ".dl")
    with open(src, "w") as f:
        f.write(CLASH.replace("clash_", stem + "_"))
    c = os.path.join(W, stem + ".c")
    run([args.dlc, src, "-o", c], timeout=60)
    strict_compile(c)
    exe = os.path.join(W, stem)
    run([args.dlc, src, "-o", exe])
    write_npy(os.path.join(W, "x.npy"), 4, 3)
    flags = ["--train", os.path.join(W, "x.npy"), "--epochs", "2", "--progress", "never"]
    aot = run([exe] + flags)
    if have_jit():
        jit = run([args.dlc, "run", src] + flags)
        loss = re.findall(r"final loss (\S+)", aot), re.findall(r"final loss (\S+)", jit)
        if not loss[0] or loss[0] != loss[1]:
            fail("%s: final losses differ or are missing: %r" % (stem, loss))


CLASH = """dim B = 2
input x : f32[B, 3]
param W : [3] = constant(0.5)
param W_update : [3] = constant(0.25)
param clash_forward : [3] = constant(0.5)
param clash_gradients : [3] = constant(0.5)
param clash_train_step : [3] = constant(0.5)
param clash_model : [3] = constant(0.5)
param clash_tensors : [3] = constant(0.5)
param clash_const_0 : [3] = constant(0.5)
layer S(n) {
  param step : [n] = constant(1)
  def (h) {
    return h * step
  }
}
clash = S(3)
param clash_step : [3] = constant(0.5)
h = relu(clash(x) * W * clash_step)
h_relu = h * 2 + W_update + clash_forward + clash_gradients + clash_train_step
h_relu_add = h_relu * clash_model * clash_tensors + clash_const_0
d_h_relu_mul = h_relu_add * 3
output arena = d_h_relu_mul
output main = d_h_relu_mul + 1
loss mean(d_h_relu_mul ^ 2)
train {
  optimizer = adam(lr = 0.01)
}
"""


# ---- every name ----

C_KEYWORDS = """auto break case char const continue default do double else enum extern float for goto if inline
int long register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while
_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
alignas alignof bool false nullptr static_assert thread_local true typeof typeof_unqual constexpr asm""".split()

LIBC = """memcpy memset memmove memcmp strlen strcpy strcmp strncmp strcat strchr strrchr strstr strtok strdup
size_t ptrdiff_t wchar_t max_align_t offsetof NULL EOF BUFSIZ FILE fpos_t stdin stdout stderr printf fprintf
sprintf snprintf puts fputs fopen fclose fread fwrite fflush getc putc getchar putchar remove rename tmpfile
malloc calloc realloc free abort exit atexit getenv system qsort bsearch abs labs div ldiv rand srand random
atoi atof strtol strtod RAND_MAX EXIT_SUCCESS EXIT_FAILURE
int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t intptr_t uintptr_t intmax_t uintmax_t
INT8_MAX INT32_MAX INT64_MIN UINT64_MAX SIZE_MAX PTRDIFF_MIN INTMAX_C UINT64_C
float_t double_t INFINITY NAN HUGE_VAL HUGE_VALF FP_NAN FP_ZERO FP_INFINITE MATH_ERRNO math_errhandling
M_PI M_E M_SQRT2 isnan isinf isfinite signbit fpclassify isgreater
cos sin tan cosf sinf tanf acosf asinf atanf atan2f coshf sinhf tanhf expf exp2f expm1f logf log2f log10f log1pf
powf sqrtf cbrtf hypotf fabsf floorf ceilf roundf truncf fmodf fmaxf fminf fmaf erff erfcf tgammaf lgammaf
ldexpf frexpf modff copysignf nextafterf nanf remainderf rintf lrintf
y0 y1 yn j0 j1 jn gamma signgam drem finite significand exp10 pow10 sincos
index rindex bzero bcopy ffs strcasecmp linux unix
__LINE__ __FILE__ __func__ __attribute__ __STDC__ __STDC_VERSION__ __GNUC__ __x86_64__ __builtin_puts __asm__
__inline __restrict __extension__ __typeof__ _IO_FILE _Float128""".split()

PREFIXED = """dlrt_main dlrt_model dlrt_tensor dlrt_parallel dlrt_user_env DLRT_INIT_NONE DLRT_DATA_NPY dlc_t DLC_ESZ
DLC_MAXT DLC_NR dlc_bx0 dlc_by0 dlc_x Dlrt_x DLC_y dlc_ dlrt_ DlC_z""".split()

# the emitter's own names
OWN = """main time arena n lr learning_rate rng_key i j k v1 v12 loss_value eval_loss t3 d_x hv_x probe_g1 loop0_state0
acc val out""".split()


def header_names():
    """Every identifier in the preprocessed headers the generated C includes (GNU mode, the widest)."""
    hdr = os.path.join(W, "headers.c")
    with open(hdr, "w") as f:
        f.write("".join("#include <%s>\n" % h for h in
                        ("math.h", "stddef.h", "stdint.h", "stdio.h", "string.h", "stdlib.h")))
    names = set()
    for mode in (["-std=c11"], ["-std=gnu11", "-D_GNU_SOURCE"]):
        text = run(["cc"] + mode + ["-E", "-P", hdr]) + run(["cc"] + mode + ["-E", "-dM", hdr])
        names |= set(re.findall(r"\b[A-Za-z][A-Za-z0-9_]*\b", text))
    return names


def accepted(names):
    """The names the checker takes as a param's name (the rest it refuses with an error)."""
    names = list(names)
    while True:
        src = os.path.join(W, "names_check.dl")
        with open(src, "w") as f:
            f.write("dim B = 2\ninput x_in : f32[B, 3]\n")
            f.write("".join("param %s : [3] = constant(1)\n" % n for n in names))
            f.write("loss mean(x_in ^ 2)\n")
        p = subprocess.run([args.dlc, "--check", src], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        bad = {int(m) - 3 for m in re.findall(r"names_check\.dl:(\d+):\d+: error", p.stdout)}
        bad = {i for i in bad if 0 <= i < len(names)}
        if p.returncode == 0:
            return names
        if not bad:
            fail("the checker refused the names model for no name's sake:\n" + p.stdout[-3000:])
        names = [n for i, n in enumerate(names) if i not in bad]


def names_model(names):
    """A model in which each name has one role: input, param, value, output, layer instance, layer member."""
    ins, inst, rest = names[:3], names[3], names[4:]
    members, rest = rest[:8], rest[8:]
    third = (len(rest) + 2) // 3
    params, values, outputs = rest[:third], rest[third:2 * third], rest[2 * third:]
    L = ["dim B = 2"]
    L += ["input %s : f32[B, 3]" % n for n in ins]
    L += ["param %s : [3] = constant(0.5)" % n for n in params]
    L.append("layer HostileLayer(m) {")
    L += ["  param %s : [m] = constant(1)" % n for n in members]
    L.append("  def (h) {\n    return h * %s\n  }\n}" % " * ".join(members))
    L.append("%s = HostileLayer(3)" % inst)
    cur = "(%s)" % " + ".join(ins)
    for i, v in enumerate(values):
        p = params[i % len(params)]
        L.append("%s = %s * %s" % (v, cur, p))
        cur = v
    for p in params[len(values):]:
        cur = "(%s * %s)" % (cur, p)
    L.append("hostile_last = %s(%s)" % (inst, cur))
    for o in outputs:
        L.append("output %s = hostile_last + 1" % o)
    L.append("loss mean(hostile_last ^ 2)")
    L.append("train {\n  optimizer = sgd(lr = 0.01)\n}")
    return "\n".join(L) + "\n", len(ins)


def t_names():
    """C keywords, the C library's names (all those its headers declare, here), the runtime's
    prefixes and the emitter's own names, as DSL names of every kind, through dlc -o and dlc run."""
    wanted = set(C_KEYWORDS) | set(LIBC) | set(PREFIXED) | set(OWN) | header_names()
    names = accepted(sorted(wanted))
    print("%d names of %d accepted by the checker" % (len(names), len(wanted)))
    for n in ("memcpy", "size_t", "stderr", "NULL", "EOF", "float_t", "uint8_t", "cosf", "_Bool", "__LINE__",
              "dlrt_main", "index", "y0", "int", "while"):
        if n not in names:
            fail("the checker refused the name %s" % n)
    jit = have_jit()
    per = 400
    chunks = [names[i:i + per] for i in range(0, len(names), per)]
    for ci, chunk in enumerate(chunks):
        text, nin = names_model(chunk)
        src = os.path.join(W, "names%d.dl" % ci)
        with open(src, "w") as f:
            f.write(text)
        c = os.path.join(W, "names%d.c" % ci)
        run([args.dlc, src, "-o", c])
        strict_compile(c)
        exe = os.path.join(W, "names%d" % ci)
        run([args.dlc, src, "-o", exe])
        data = []
        for k in range(nin):
            data.append(os.path.join(W, "in%d.npy" % k))
            write_npy(data[-1], 4, 3)
        flags = ["--train", ",".join(data), "--epochs", "1", "--progress", "never"]
        aot = run([exe] + flags)
        if "final loss" not in aot:
            fail("names%d: the trainer did not train:\n%s" % (ci, aot[-2000:]))
        if jit:
            out = run([args.dlc, "run", src] + flags)
            if "final loss" not in out:
                fail("names%d: dlc run did not train:\n%s" % (ci, out[-2000:]))
        # the descriptors keep the DSL names (checkpoints use them)
        dtext = open(c).read()
        for n in chunk[:3]:
            if '.name = "%s"' % n not in dtext:
                fail("names%d: the descriptor lost the name %s" % (ci, n))
        print("names%d: %d names, AOT%s ok" % (ci, len(chunk), " and JIT" if jit else ""))


globals()["t_" + args.test]()
print("PASS")
