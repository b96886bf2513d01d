#!/usr/bin/env python3
"""End-to-end tests: build trainers with dlc, train, checkpoint, and feed them bad files.

usage: e2e.py TEST --dlc PATH --workdir DIR
Each test prints what it checks and exits 0 (pass) or 1 (fail).  Only the standard library is
used, so these run on any machine that can build dlc.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import safetensors_raw  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(ROOT, "examples")
FMNIST = "/usr/share/datasets/fashion-mnist"

args = None


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, expect_rc=0, timeout=600, env=None):
    print("$ " + "".join("%s=%s " % kv for kv in sorted((env or {}).items())) + " ".join(cmd))
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, cwd=args.workdir, env=dict(os.environ, **env) if env else None)
    out = p.stdout + p.stderr
    sys.stdout.write(out)
    if expect_rc is not None:
        if expect_rc == "nonzero":
            if p.returncode == 0:
                fail("expected a non-zero exit status")
        elif p.returncode != expect_rc:
            fail("exit status %d, expected %d" % (p.returncode, expect_rc))
    if p.returncode < 0 or p.returncode >= 128:
        fail("killed by a signal (%d): a crash" % p.returncode)
    return out


def build(model, name, *flags):
    exe = os.path.join(args.workdir, name)
    run([args.dlc, *flags, model, "-o", exe])
    return exe


def test_loss(out, what="test"):
    m = re.findall(r"^%s: loss ([0-9.eE+-]+)(?:, accuracy ([0-9.]+)%%)?" % what, out, re.M)
    if not m:
        fail("no '%s: loss' line in the output" % what)
    loss, acc = m[-1]
    return float(loss), (float(acc) if acc else None)


def final_train_loss(out):
    m = re.findall(r"final loss ([0-9.eE+-]+|nan|inf)", out)
    if not m:
        fail("no 'final loss' in the output")
    return float(m[-1])


def need_fmnist():
    if not os.path.exists(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")):
        print("SKIP: Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
        sys.exit(77)


def read_safetensors(path):
    return safetensors_raw.read(path)


# ---- tests ----

def t_mlp_learns():
    """300 SGD steps on Fashion-MNIST lower the test loss well below its initial value."""
    need_fmnist()
    exe = build(os.path.join(EXAMPLES, "mlp.dl"), "mlp")
    before, acc0 = test_loss(run([exe, "--eval", "--progress", "never"]))
    after, acc1 = test_loss(run([exe, "--steps", "300", "--progress", "never"]))
    print("test loss %.4f -> %.4f, accuracy %.2f%% -> %.2f%%" % (before, after, acc0, acc1))
    if not (after < 0.75 * before and after < 0.8 and acc1 > 70):
        fail("the loss did not fall enough")


def t_mlp_epoch():
    """One full epoch of W-MLP reaches >= 82% test accuracy (issue target)."""
    need_fmnist()
    exe = build(os.path.join(EXAMPLES, "mlp.dl"), "mlp_epoch")
    out = run([exe, "--epochs", "1", "--progress", "never"])
    loss, acc = test_loss(out)
    if "(10000 images)" not in out:
        fail("the test set was not evaluated whole")
    if acc < 82.0:
        fail("accuracy %.2f%% < 82%%" % acc)


def t_checkpoint():
    """save -> load round-trips bit-exactly and resumes with the same evaluation."""
    need_fmnist()
    exe = build(os.path.join(EXAMPLES, "mlp.dl"), "mlp_ckpt")
    a = os.path.join(args.workdir, "a.safetensors")
    b = os.path.join(args.workdir, "b.safetensors")
    for p in (a, b):
        if os.path.exists(p):
            os.remove(p)
    out1 = run([exe, "--steps", "40", "--save", a, "--progress", "never"])
    out2 = run([exe, "--load", a, "--eval"])
    if test_loss(out1) != test_loss(out2):
        fail("evaluation after --load differs: %s vs %s" % (test_loss(out1), test_loss(out2)))
    run([exe, "--load", a, "--steps", "0", "--save", b, "--progress", "never"])
    ma, ta = read_safetensors(a)
    mb, tb = read_safetensors(b)
    if sorted(ta) != sorted(tb):
        fail("tensor names differ")
    for k in ta:
        if ta[k] != tb[k]:
            fail("tensor %s differs after save/load/save" % k)
    names = set(ta)
    for want in ("fc1.W", "fc1.b", "fc3.W", "v_fc1.W"):
        if want not in names:
            fail("checkpoint lacks %s" % want)
    if any(f.startswith("a.safetensors.") or f.startswith(".a.safetensors") for f in os.listdir(args.workdir)):
        fail("a temporary file was left behind")
    print("round trip bit-exact over %d tensors" % len(ta))


def t_bad_checkpoints():
    """Truncated, corrupted and mismatched checkpoints: clear error, non-zero exit."""
    exe = build(os.path.join(EXAMPLES, "linreg.dl"), "linreg_bad")
    good = os.path.join(args.workdir, "good.safetensors")
    run([exe, "--epochs", "2", "--save", good, "--progress", "never"])
    raw = open(good, "rb").read()

    def check(name, data, pattern):
        p = os.path.join(args.workdir, name)
        with open(p, "wb") as f:
            f.write(data)
        out = run([exe, "--load", p, "--eval"], expect_rc="nonzero")
        if not re.search(pattern, out):
            fail("message for %s does not match /%s/" % (name, pattern))

    check("truncated.safetensors", raw[:len(raw) - 3], r"truncated\.safetensors")
    check("short.safetensors", raw[:5], r"short\.safetensors")
    check("empty.safetensors", b"", r"empty\.safetensors")
    hdr = bytearray(raw)
    hdr[8] = ord("[")
    check("badjson.safetensors", bytes(hdr), r"badjson\.safetensors.*offset")
    huge = struct.pack("<Q", 1 << 60) + raw[8:]
    check("hugelen.safetensors", huge, r"hugelen\.safetensors")
    # a checkpoint of another model: names or shapes do not match
    other = build(os.path.join(EXAMPLES, "logreg.dl"), "logreg_other")
    o = os.path.join(args.workdir, "other.safetensors")
    run([other, "--epochs", "1", "--save", o, "--progress", "never"])
    out = run([exe, "--load", o, "--eval"], expect_rc="nonzero")
    if not re.search(r"other\.safetensors.*(shape|w)", out):
        fail("mismatched checkpoint message does not name the tensor or shape")
    out = run([exe, "--load", os.path.join(args.workdir, "does-not-exist.safetensors"), "--eval"],
              expect_rc="nonzero")
    if "does-not-exist.safetensors" not in out:
        fail("missing checkpoint message does not name the file")


def t_bad_data():
    """Corrupted, truncated and mismatched data files: clear error, non-zero exit."""
    exe = build(os.path.join(EXAMPLES, "mlp.dl"), "mlp_bad")
    w = args.workdir
    # IDX with a bad magic number
    bad = os.path.join(w, "bad-images.idx")
    with open(bad, "wb") as f:
        f.write(b"\x12\x34\x08\x03" + struct.pack(">III", 2, 28, 28) + bytes(2 * 784))
    lab = os.path.join(w, "labels.idx")
    with open(lab, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes([1, 2]))
    out = run([exe, "--train", bad + "," + lab, "--epochs", "1"], expect_rc="nonzero")
    if "bad-images.idx" not in out or "offset" not in out:
        fail("bad magic: message lacks the file name or offset")
    # images of the wrong size (27x27)
    wrong = os.path.join(w, "wrong-images.idx")
    with open(wrong, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">III", 2, 27, 27) + bytes(2 * 729))
    out = run([exe, "--train", wrong + "," + lab, "--epochs", "1"], expect_rc="nonzero")
    if "wrong-images.idx" not in out or "784" not in out:
        fail("wrong image size: message lacks the file or the expected size")
    # truncated gzip
    good = os.path.join(w, "ok-images.idx")
    with open(good, "wb") as f:
        f.write(b"\x00\x00\x08\x03" + struct.pack(">III", 2, 28, 28) + bytes(2 * 784))
    gz = gzip.compress(open(good, "rb").read())
    tr = os.path.join(w, "trunc-images.idx.gz")
    with open(tr, "wb") as f:
        f.write(gz[:len(gz) // 2])
    out = run([exe, "--train", tr + "," + lab, "--epochs", "1"], expect_rc="nonzero")
    if "trunc-images.idx.gz" not in out:
        fail("truncated gzip: message lacks the file name")
    # labels out of range
    badlab = os.path.join(w, "badlabels.idx")
    with open(badlab, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 2) + bytes([1, 12]))
    out = run([exe, "--train", good + "," + badlab, "--epochs", "1"], expect_rc="nonzero")
    if "badlabels.idx" not in out or "12" not in out:
        fail("label out of range: message lacks the file or the value")
    # row counts that disagree
    lab3 = os.path.join(w, "labels3.idx")
    with open(lab3, "wb") as f:
        f.write(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([1, 2, 3]))
    run([exe, "--train", good + "," + lab3, "--epochs", "1"], expect_rc="nonzero")
    # missing file
    out = run([exe, "--train", os.path.join(w, "nope.idx") + "," + lab, "--epochs", "1"], expect_rc="nonzero")
    if "nope.idx" not in out:
        fail("missing file: message lacks the file name")
    # CSV with a wrong number of columns
    exe2 = build(os.path.join(EXAMPLES, "linreg.dl"), "linreg_csv")
    csv = os.path.join(w, "short.csv")
    with open(csv, "w") as f:
        f.write("1,2,3,4\n1,2,3\n")
    out = run([exe2, "--train", csv, "--epochs", "1"], expect_rc="nonzero")
    if "short.csv:2" not in out:
        fail("CSV: message lacks file:line")


def t_gd_modes():
    """Stochastic (batch 1), minibatch and full-batch gradient descent all fit the line."""
    for n, epochs, lr in (("1", "3", "0.02"), ("20", "30", "0.1"), ("200", "300", "0.1")):
        exe = build(os.path.join(EXAMPLES, "linreg.dl"), "linreg_%s" % n, "-D", "N=" + n)
        out = run([exe, "--epochs", epochs, "--lr", lr, "--progress", "never"])
        loss = final_train_loss(out)
        print("batch %s: final loss %.5f" % (n, loss))
        if not loss < 0.03:
            fail("batch %s did not converge (loss %g)" % (n, loss))


def t_logreg():
    """Logistic regression separates its data."""
    exe = build(os.path.join(EXAMPLES, "logreg.dl"), "logreg")
    loss = final_train_loss(run([exe, "--progress", "never"]))
    if not loss < 0.25:
        fail("logistic loss %g did not fall below 0.25" % loss)


def t_warnings():
    """The generated C of every example is warning-free under strict flags, with gcc and clang, with GNU C
    vectors and in plain C11 (-DDLC_NO_VECTORS)."""
    for ex in sorted(os.listdir(EXAMPLES)):
        if not ex.endswith(".dl"):
            continue
        c = os.path.join(args.workdir, ex[:-3] + ".c")
        run([args.dlc, os.path.join(EXAMPLES, ex), "-o", c])
        for cc in ("gcc", "clang"):
            if not shutil.which(cc):
                fail("%s is not installed" % cc)
            for vec in ([], ["-DDLC_NO_VECTORS"]):
                run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I" + os.path.join(ROOT, "runtime")]
                    + vec + ["-c", c, "-o", c + "." + cc + ".o"])


def t_progress_quiet():
    """Without a terminal, progress does not flood the log."""
    exe = build(os.path.join(EXAMPLES, "linreg.dl"), "linreg_log", "-D", "N=1")
    out = run([exe, "--epochs", "300", "--lr", "0.01"])
    lines = out.count("\n")
    print("%d lines for 300 epochs" % lines)
    if lines > 40:
        fail("%d lines of output for 300 short epochs" % lines)


def t_run():
    """dlc run trains in-process with the same results as the ahead-of-time trainer, and leaves no
    files in $TMPDIR (a directory of this test's own: other tests run dlc at the same time)."""
    tmp = os.path.join(args.workdir, "tmpdir")
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    for ex, flags in (("logreg.dl", ["--epochs", "30"]), ("linreg.dl", ["--epochs", "20", "--lr", "0.05"])):
        exe = build(os.path.join(EXAMPLES, ex), ex[:-3] + "_aot")
        aot = run([exe, "--progress", "never"] + flags)
        jit = run([args.dlc, "run", "--cc-jit", os.path.join(EXAMPLES, ex), "--progress", "never"] + flags,
                  env={"TMPDIR": tmp})
        if "compiled in" not in jit:
            fail("dlc run did not report its compile time")
        if final_train_loss(aot) != final_train_loss(jit):
            fail("dlc run: final loss %r differs from the trainer's %r" % (final_train_loss(jit), final_train_loss(aot)))
        jit = run([args.dlc, "run", os.path.join(EXAMPLES, ex), "--progress", "never"] + flags, env={"TMPDIR": tmp})
        if final_train_loss(aot) != final_train_loss(jit):
            fail("dlc run: final loss %r differs from the trainer's %r" % (final_train_loss(jit), final_train_loss(aot)))
    if os.listdir(tmp):
        fail("dlc run left files behind: %s" % sorted(os.listdir(tmp)))
    out = run([args.dlc, "run", os.path.join(EXAMPLES, "nope.dl")], expect_rc="nonzero")
    if "nope.dl" not in out:
        fail("a missing model file is not named")


RECORDING_CC = """#!/bin/sh
# the system C compiler, its arguments written one per line to $DLC_TEST_CC_ARGS first
printf '%s\\n' "$@" >"$DLC_TEST_CC_ARGS"
exec cc "$@"
"""


def t_portable():
    """--target=portable: the same C file as native; trainers (ahead of time and dlc run) are built
    without -march=native, which the default build has, and train."""
    wd = args.workdir
    model = os.path.join(EXAMPLES, "linreg.dl")
    cc = os.path.join(wd, "recording-cc")
    with open(cc, "w") as f:
        f.write(RECORDING_CC)
    os.chmod(cc, 0o755)
    record = os.path.join(wd, "cc-args.txt")

    def cc_args(*cmd):
        """dlc's C compiler's arguments for dlc CMD (dlc run: run first), and dlc's output"""
        if os.path.exists(record):
            os.remove(record)
        mode = [cmd[0]] if cmd[0] == "run" else []
        out = run([args.dlc, *mode, "--cc", cc, *cmd[len(mode):]], env={"DLC_TEST_CC_ARGS": record})
        if not os.path.exists(record):
            fail("dlc did not run the C compiler it was given")
        with open(record) as f:
            return f.read().split("\n"), out

    c_native, c_portable = os.path.join(wd, "native.c"), os.path.join(wd, "portable.c")
    run([args.dlc, model, "-o", c_native])
    run([args.dlc, "--target=portable", model, "-o", c_portable])
    with open(c_native, "rb") as a, open(c_portable, "rb") as b:
        if a.read() != b.read():
            fail("--target changes the generated C; it should change only the build flags")

    native, _ = cc_args(model, "-o", os.path.join(wd, "linreg_native"))
    if "-march=native" not in native or "-O3" not in native:
        fail("the default build should use -O3 -march=native: %s" % " ".join(native))
    exe = os.path.join(wd, "linreg_portable")
    portable, _ = cc_args("--target=portable", model, "-o", exe)
    if "-O3" not in portable or any(a.startswith("-march") or a.startswith("-mtune") for a in portable):
        fail("--target=portable should build with -O3 and no -march: %s" % " ".join(portable))
    loss = final_train_loss(run([exe, "--epochs", "200", "--progress", "never"]))
    print("portable trainer: final loss %.5f" % loss)
    if not loss < 0.03:
        fail("the portable trainer did not fit the line (loss %g)" % loss)

    inproc, out = cc_args("run", "--target=portable", model, "--epochs", "200", "--progress", "never")
    if "-shared" not in inproc or "-march=native" in inproc:
        fail("dlc run --target=portable should build a shared object without -march=native: %s" % " ".join(inproc))
    if final_train_loss(out) != loss:
        fail("dlc run --target=portable: final loss %r, the portable trainer's %r" % (final_train_loss(out), loss))
    print("--target=portable: no -march in either build; the default build has -march=native")


def need_jit():
    out = subprocess.run([args.dlc, "--version"], stdout=subprocess.PIPE, text=True).stdout
    if "llvm JIT: LLVM" not in out:
        print("SKIP: this dlc has no LLVM JIT (built with -DDLC_WITH_LLVM=OFF, or LLVM/clang 14 were not found); "
              "dlc --version says: " + out.strip().replace("\n", " "))
        sys.exit(77)


def compare_checkpoints(a, b, rel=1e-5):
    """Largest difference between two checkpoints' tensors, relative to each tensor's largest
    magnitude (fails on a mismatch beyond rel).  dlc run's JIT fuses multiply-adds only within an
    expression, gcc's -ffp-contract=fast across statements too: the rounding differs, and an
    element near zero can differ by far more than rel of itself."""
    import array
    _, ta = read_safetensors(a)
    _, tb = read_safetensors(b)
    if sorted(ta) != sorted(tb):
        fail("the checkpoints hold different tensors: %s vs %s" % (sorted(ta), sorted(tb)))
    worst = 0.0
    for k in ta:
        (da, sa, ra), (db, sb, rb) = ta[k], tb[k]
        if (da, sa) != (db, sb):
            fail("tensor %s: %s%s vs %s%s" % (k, da, sa, db, sb))
        if ra == rb:
            continue
        code = {"F32": "f", "F64": "d", "I32": "i", "I64": "q"}.get(da)
        if code is None:
            fail("tensor %s (%s) differs" % (k, da))
        xa, xb = array.array(code, ra), array.array(code, rb)
        scale = max(max(abs(x) for x in xa), max(abs(y) for y in xb), 1e-30)
        for x, y in zip(xa, xb):
            worst = max(worst, abs(x - y) / scale)
        if worst > rel:
            fail("tensor %s differs by %.3g relative (> %g)" % (k, worst, rel))
    return worst


def t_jit():
    """dlc run's LLVM JIT: the same losses and parameters as the ahead-of-time trainer, whole or
    compiled on several threads; its failures are clean errors naming the kernel or symbol."""
    need_jit()
    cases = [("logreg.dl", ["--epochs", "30"]), ("linreg.dl", ["--epochs", "20", "--lr", "0.05"])]
    if os.path.exists(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")):
        cases += [("mlp.dl", ["--steps", "100"]), ("lenet5.dl", ["--steps", "100"])]
    else:
        print("note: Fashion-MNIST not installed, mlp.dl and lenet5.dl are not compared")
    before = set(f for f in os.listdir("/tmp") if f.startswith("dlc-run-"))
    for ex, flags in cases:
        model = os.path.join(EXAMPLES, ex)
        exe = build(model, ex[:-3] + "_aot")
        a = os.path.join(args.workdir, ex[:-3] + "_aot.safetensors")
        aot = run([exe, "--progress", "never", "--save", a] + flags)
        # one piece, and split over 3 threads (small models stay whole unless told); with the
        # contraction of the ahead-of-time build (-ffp-contract=fast, which also turns the quick
        # code off: e2e.jit_tiers checks it against the O3 code), so that the two agree to 1e-5
        for threads in ("1", "3"):
            j = os.path.join(args.workdir, ex[:-3] + "_jit%s.safetensors" % threads)
            jit = run([args.dlc, "run", "--cflags=-ffp-contract=fast", model, "--progress", "never", "--save", j] +
                      flags,
                      env={"DLC_JIT_THREADS": threads, "DLC_JIT_CACHE": "0"})
            m = re.search(r"compiled in ([0-9.]+) s \(LLVM [0-9.]+ JIT", jit)
            if not m:
                fail("dlc run did not say that the LLVM JIT compiled the model")
            if final_train_loss(aot) != final_train_loss(jit):
                print("note: final loss %r (JIT) vs %r (AOT)" % (final_train_loss(jit), final_train_loss(aot)))
                if abs(final_train_loss(jit) - final_train_loss(aot)) > 1e-5 * abs(final_train_loss(aot)):
                    fail("the final losses differ by more than 1e-5 relative")
            worst = compare_checkpoints(a, j)
            print("%s, %s thread(s): parameters %s" % (ex, threads, "bit-identical" if worst == 0 else
                                                      "within %.3g of their scale" % worst))
    # the trainer's gradient check (central differences, f64) through JIT-compiled code, every example
    # (a batch of 4 where the example has a dim B: with hundreds of ReLU units over a batch of
    # 128, central differences straddle kinks too often to check the larger models; the
    # recurrent ones with 8 steps of 16 units, and the transformers 16 wide, which keeps their
    # compile and check short)
    # Left out: semi-gradient losses, which hold a value of the parameters constant with
    # stop_gradient (the actor-critic's advantage, Q-learning's TD target): central differences
    # move that value too, so they measure another derivative.  tests/rl checks their gradients
    # against PyTorch's instead.
    semi_gradient = {"actor_critic_cartpole.dl", "qlearn_gridworld.dl"}
    for ex in sorted(os.listdir(EXAMPLES)):
        if ex.endswith(".dl") and ex not in semi_gradient:
            with open(os.path.join(EXAMPLES, ex)) as f:
                text = f.read()
            small = []
            for dim, value in (("B", 4), ("T", 8), ("H", 16), ("D", 16)):
                if re.search(r"^dim %s\b" % dim, text, re.M):
                    small += ["-D", "%s=%d" % (dim, value)]
            out = run([args.dlc, "run", "--dtype", "f64"] + small + [os.path.join(EXAMPLES, ex), "--gradcheck",
                                                                   "--quiet"])
            if "gradcheck: passed" not in out or "LLVM" not in out:
                fail("%s: no passing gradient check through the LLVM JIT" % ex)
    # the system C compiler path is still there
    out = run([args.dlc, "run", "--cc-jit", os.path.join(EXAMPLES, "logreg.dl"), "--epochs", "30",
               "--progress", "never"])
    if "system C compiler" not in out:
        fail("--cc-jit did not use the system C compiler")
    # failures: clean messages, exit status 1
    logreg = os.path.join(EXAMPLES, "logreg.dl")
    out = run([args.dlc, "run", "--cflags=-Dza=+", logreg], expect_rc=1)
    if not re.search(r"clang rejected the generated C in kernel loss_value_bce", out) or "error:" not in out:
        fail("invalid C: the message does not name the kernel or lacks clang's error")
    hdr = os.path.join(args.workdir, "missing.h")
    with open(hdr, "w") as f:
        f.write("#include <math.h>\ndouble dlc_no_such_function(double);\n#define log1p dlc_no_such_function\n")
    out = run([args.dlc, "run", "--cflags=-include " + hdr, logreg], expect_rc=1)
    if not re.search(r"'dlc_no_such_function', used by kernel loss_value_bce", out):
        fail("a missing runtime symbol: the message does not name the symbol and the kernel")
    out = run([args.dlc, "run", "--cflags=-Dlogreg_model=renamed", logreg], expect_rc=1)
    if "no symbol 'logreg_model'" not in out:
        fail("a missing model descriptor: the message does not name the symbol")
    out = run([args.dlc, "run", "--cflags=-nostdinc", logreg], expect_rc=1)
    if "'math.h' file not found" not in out:
        fail("a header that cannot be found: the message does not say which")
    out = run([args.dlc, "run", "--cflags=-fno-such-flag", logreg], expect_rc=1)
    if "unknown argument" not in out:
        fail("a bad compiler flag: the message does not say so")
    after = set(f for f in os.listdir("/tmp") if f.startswith("dlc-run-"))
    if after - before:
        fail("dlc run left files behind: %s" % sorted(after - before))


MLP2 = """dim N = 200
input x : f32[N, 2]
label t : f32[N, 1]
param W1 : [2, 32] = he_uniform
param b1 : [32] = zeros
param W2 : [32, 1] = he_uniform
param b2 : [1] = zeros
h = tanh(x @ W1 + b1)
z = h @ W2 + b2
output p = sigmoid(z)
loss bce(z, t)
train {
  optimizer = sgd(lr = 0.5)
  epochs = 5
  data = csv("data/logreg.csv", header = 1)
}
"""


def t_jit_tiers():
    """dlc run's two tiers (compiler/jit.h): the quick code alone, the O3 code alone and a run that
    starts on the quick code and goes on in the O3 code save the same checkpoint bytes; the tiered
    run fills the cache, and the next run takes its code from there, with the same bytes."""
    need_jit()
    cases = [("logreg.dl", ["--epochs", "30"])]
    if os.path.exists(os.path.join(FMNIST, "train-images-idx3-ubyte.gz")):
        cases += [("lenet5.dl", ["--steps", "300"]), ("mlp.dl", ["--steps", "400"])]
    else:
        print("note: Fashion-MNIST not installed, mlp.dl and lenet5.dl are not compared")
    for ex, flags in cases:
        model = os.path.join(EXAMPLES, ex)
        cache = os.path.join(args.workdir, "cache-" + ex[:-3])
        shutil.rmtree(cache, ignore_errors=True)
        saved = {}
        for mode, env in (("quick", {"DLC_JIT_TIERED": "quick", "DLC_JIT_CACHE": "0"}),
                          ("O3", {"DLC_JIT_TIERED": "0", "DLC_JIT_CACHE": "0"}),
                          ("tiered", {"DLC_JIT_CACHE_DIR": cache}),
                          ("cached", {"DLC_JIT_CACHE_DIR": cache})):
            path = os.path.join(args.workdir, "%s_%s.safetensors" % (ex[:-3], mode))
            out = run([args.dlc, "run", model, "--progress", "never", "--save", path] + flags,
                      env=dict(env, DLC_JIT_VERBOSE="1"))
            with open(path, "rb") as f:
                saved[mode] = f.read()
            said = {"quick": "no O3 code", "O3": "O3 and machine code", "tiered": "the O3 code follows",
                    "cached": "machine code from the cache"}[mode]
            if said not in out:
                fail("%s, %s: dlc run did not say %r" % (ex, mode, said))
            m = re.search(r"O3 code in place [0-9]+ ms after the JIT began, (from training step [0-9]+ of [0-9]+|"
                          r"after [0-9]+ training steps)", out)
            if mode == "tiered":
                if not m:
                    fail("%s: the tiered run did not say when the O3 code took over" % ex)
                print("%s: %s" % (ex, m.group(0)))
            if saved[mode] != saved["quick"]:
                fail("%s: the %s run saved other bytes than the quick code alone" % (ex, mode))
        print("%s: quick, O3, tiered and cached runs: the same checkpoint bytes" % ex)


def t_jit_cache():
    """dlc run's cache of compiled code: a second run compiles nothing, another model reuses the shared
    helpers, damaged entries are compiled again (never a crash), and the opt-outs write nothing."""
    need_jit()
    cache = os.path.join(args.workdir, "cache")
    shutil.rmtree(cache, ignore_errors=True)
    model = os.path.join(args.workdir, "mlp2.dl")
    with open(model, "w") as f:
        f.write(MLP2)
    base = [args.dlc, "run"]
    flags = [model, "--data", EXAMPLES, "--progress", "never"]
    # helpers compiled once and shared (not inlined into the kernels)
    env = {"DLC_JIT_CACHE_DIR": cache, "DLC_JIT_INLINE_HELPERS": "0"}
    compiled = re.compile(r"compiled in [0-9.]+ s \(LLVM [0-9.]+ JIT: clang frontend")
    hit = re.compile(r"compiled in [0-9.]+ s \(LLVM [0-9.]+ JIT: machine code from the cache")

    def files():
        return sorted(os.listdir(cache)) if os.path.isdir(cache) else []

    first = run(base + flags, env=env)
    if not compiled.search(first) or "from the cache" in first:
        fail("a run with an empty cache did not compile")
    loss = final_train_loss(first)
    stored = files()
    if not any(f.endswith(".m") for f in stored) or len([f for f in stored if f.endswith(".o")]) < 2:
        fail("the cache holds %s, expected a manifest and objects for the model and its helpers" % stored)
    second = run(base + flags, env=env)
    if not hit.search(second):
        fail("the second run did not load its machine code from the cache")
    if final_train_loss(second) != loss:
        fail("the cached code trains differently: %r vs %r" % (final_train_loss(second), loss))
    if files() != stored:
        fail("a cache hit changed the cache: %s -> %s" % (stored, files()))
    # another model (a changed dim): its own kernels, the shared helpers from the cache
    other = run(base + ["-D", "N=100"] + flags, env=dict(env, DLC_JIT_TIERED="0"))
    if not compiled.search(other) or "shared helpers from the cache" not in other:
        fail("a changed model did not reuse the cached helpers")
    # damaged entries: cut short, bytes flipped, emptied, garbage; each is compiled again
    damages = [lambda b: b[:len(b) // 2], lambda b: b[:40] + bytes(x ^ 0x5A for x in b[40:80]) + b[80:],
               lambda b: b"", lambda b: b"DLCJITC1" + b"\xff" * 64]
    for k, damage in enumerate(damages):
        for name in files():
            path = os.path.join(cache, name)
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:
                f.write(damage(data))
        out = run(base + flags, env=env)
        if not compiled.search(out) or "from the cache" in out:
            fail("damage %d: the damaged cache was used instead of compiling again" % k)
        if final_train_loss(out) != loss:
            fail("damage %d: final loss %r, expected %r" % (k, final_train_loss(out), loss))
        if not hit.search(run(base + flags, env=env)):
            fail("damage %d: the entry was not written again" % k)
    if any(f.startswith(".tmp") for f in files()):
        fail("temporary files left in the cache: %s" % files())
    # a cache that cannot be written: the run still works
    blocked = os.path.join(args.workdir, "not-a-directory")
    with open(blocked, "w") as f:
        f.write("x")
    out = run(base + flags, env={"DLC_JIT_CACHE_DIR": blocked})
    if final_train_loss(out) != loss:
        fail("an unwritable cache changed the result")
    # the opt-outs: no cache read or written
    for opt_env, opt in (({"DLC_JIT_CACHE_DIR": cache, "DLC_JIT_CACHE": "0"}, []),
                         ({"DLC_JIT_CACHE_DIR": cache}, ["--no-jit-cache"])):
        shutil.rmtree(cache, ignore_errors=True)
        out = run(base + opt + flags, env=opt_env)
        if not compiled.search(out) or os.path.exists(cache):
            fail("%s: the cache was used" % (" ".join(opt) or "DLC_JIT_CACHE=0"))
    # the default location: $XDG_CACHE_HOME/dlc
    xdg = os.path.join(args.workdir, "xdg")
    shutil.rmtree(xdg, ignore_errors=True)
    env = dict(os.environ, XDG_CACHE_HOME=xdg)
    env.pop("DLC_JIT_CACHE_DIR", None)
    env.pop("DLC_JIT_CACHE", None)
    p = subprocess.run(base + flags, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                       cwd=args.workdir)
    if p.returncode != 0 or not any(f.endswith(".m") for f in os.listdir(os.path.join(xdg, "dlc"))):
        fail("the default cache $XDG_CACHE_HOME/dlc was not written:\n" + p.stdout)


def t_newton():
    """Newton's method on logistic regression: gradient norm below 1e-8 within 10 steps; hvp matches finite differences."""
    exe = build(os.path.join(EXAMPLES, "logreg_newton.dl"), "logreg_newton")
    out = run([exe, "--hvpcheck"])
    if "hvpcheck:" not in out:
        fail("no hvpcheck line")
    out = run([exe, "--progress", "never"])
    norms = [float(x) for x in re.findall(r"gradient norm ([0-9.eE+-]+)", out)]
    print("gradient norms:", norms)
    if not norms or min(norms[:11]) >= 1e-8:
        fail("Newton did not reach a gradient norm below 1e-8 in 10 steps")


CNN_NEWTON_DL = """
# the CNN of examples/digits_newton.dl, trained by exact Newton, with a param
# the loss does not use (its Hessian-vector product is zero)
dtype f64
dim B = 64
input  x : [B, 64]
label  y : i32[B]
param  K1 : [4, 1, 3, 3] = he_uniform
param  c1 : [4]          = zeros
param  W2 : [64, 10]     = xavier_uniform
param  b2 : [10]         = zeros
param  unused : [3]      = normal(0, 1)
img    = reshape(x, [B, 1, 8, 8]) / 16
h1     = max_pool2d(relu(conv2d(img, K1, c1, pad = 1)), 2)
loss   cross_entropy(flatten(h1) @ W2 + b2, y)
train {
  optimizer = newton(damping = 3)
  epochs = 2
  data_dir = "/usr/lib/python3/dist-packages/sklearn/datasets/data"
  data = csv("digits.csv.gz")
  test = split(0.2)
}
"""


def t_newton_cnn():
    """Second order on a CNN (conv2d, ReLU, max pooling): examples/digits_newton.dl (Newton-CG)
    reaches 80% test accuracy in 3 epochs; the same network by exact Newton, with a param the loss
    does not use, passes --hvpcheck on a batch of 8 and lowers the test loss below 1.5 in 2 epochs."""
    digits = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
    if not os.path.exists(digits):
        print("SKIP: %s not installed (apt-get install python3-sklearn)" % digits)
        sys.exit(77)
    exe = build(os.path.join(EXAMPLES, "digits_newton.dl"), "digits_newton")
    out = run([exe, "--epochs", "3", "--progress", "never"])
    loss, acc = test_loss(out)
    print("Newton-CG, 3 epochs: test loss %.4f, accuracy %.2f%%" % (loss, acc))
    if not acc >= 80:
        fail("Newton-CG on the digits CNN: test accuracy %.2f%% < 80%% after 3 epochs" % acc)
    model = os.path.join(args.workdir, "cnn_newton.dl")
    with open(model, "w") as f:
        f.write(CNN_NEWTON_DL)
    small = build(model, "cnn_newton_b8", "-D", "B=8")
    out = run([small, "--hvpcheck"])
    if "hvpcheck: 693 parameters" not in out:
        fail("the hvpcheck line should count 693 parameters (690 used, 3 unused)")
    exe = build(model, "cnn_newton")
    out = run([exe, "--progress", "never"])
    loss, acc = test_loss(out)
    print("exact Newton, 2 epochs: test loss %.4f, accuracy %.2f%%" % (loss, acc))
    if not loss < 1.5:
        fail("exact Newton on the digits CNN: test loss %.4f >= 1.5 after 2 epochs" % loss)


def t_layers_same_bits():
    """examples/mlp.dl and lenet5.dl, written with layers, train to the same bits as the same
    networks written with one param per tensor (tests/e2e/flat/), and their checkpoints name
    the params after the layers (fc1.W, conv1.K)."""
    need_fmnist()
    for name, params in (("mlp", ["fc1.W", "fc1.b", "fc2.W", "fc2.b", "fc3.W", "fc3.b"]),
                         ("lenet5", ["conv1.K", "conv1.b", "conv2.K", "conv2.b", "fc1.W", "fc3.b"])):
        ckpt = {}
        for kind, src in (("layers", os.path.join(EXAMPLES, name + ".dl")),
                          ("flat", os.path.join(HERE, "flat", name + ".dl"))):
            exe = build(src, "%s_%s" % (name, kind))
            path = os.path.join(args.workdir, "%s_%s.safetensors" % (name, kind))
            run([exe, "--steps", "25", "--seed", "7", "--save", path, "--progress", "never"])
            ckpt[kind] = read_safetensors(path)[1]
        lay, flat = ckpt["layers"], ckpt["flat"]
        for p in params:
            if p not in lay:
                fail("%s: no param '%s' in the checkpoint (has %s)" % (name, p, sorted(lay)))
        a, b = list(lay.values()), list(flat.values())  # in the models' declaration order
        if len(a) != len(b):
            fail("%s: %d tensors with layers, %d without" % (name, len(a), len(b)))
        for x, y in zip(a, b):
            if x != y:
                fail("%s: the checkpoints differ" % name)
        print("%s: %d tensors, the same bits after 25 steps" % (name, len(a)))


TOKENS_DL = """
dim B = 8
dim V = 6
input tok : i32[B, 3]
label y : i32[B]
param E : [V, 4] = normal(0, 1)
param W : [4, 2] = xavier_uniform
loss cross_entropy(mean(embedding(tok, E), axis = 1) @ W, y)
"""

DECODER_DL = """
dim B = 4
input tok : i32[B, 2]
input x : f32[B, 2, 3, 3]
input t : f32[B, 1, 10, 10]
param E : [5, 2]
param K : [2, 1, 2, 2]
h = x * reshape(mean(embedding(tok, E), axis = 1), [B, 2, 1, 1])
loss mse(upsample(conv_transpose2d(h, K, stride = 2, pad = 1, output_padding = 1), 2), t)
train { optimizer = newton(damping = 0.1) }
"""


def t_token_ids():
    """Integer inputs: token ids train from CSV, a bad id stops the trainer with its line, column and value;
    Hessian-vector products through embedding, conv_transpose2d and upsample match finite differences."""
    w = args.workdir
    model = os.path.join(w, "tokens.dl")
    with open(model, "w") as f:
        f.write(TOKENS_DL)
    exe = build(model, "tokens")
    rows = []
    for i in range(48):
        tok = [(i * 7 + 3 * k + i // 5) % 6 for k in range(3)]
        rows.append(tok + [1 if 5 in tok else 0])
    csv = os.path.join(w, "tok.csv")
    with open(csv, "w") as f:
        f.write("".join(",".join(map(str, r)) + "\n" for r in rows))
    out = run([exe, "--train", csv, "--epochs", "60", "--lr", "0.5", "--progress", "never"])
    loss = final_train_loss(out)
    print("final training loss %.4f" % loss)
    if not loss < 0.3:
        fail("the token model did not learn (loss %g)" % loss)
    for bad, want in (("6", "tok.csv:3: column 2: expected an id in [0, 6) for 'tok', found 6"),
                      ("1.5", "tok.csv:3: column 2: expected an id in [0, 6) for 'tok', found 1.5")):
        lines = [",".join(map(str, r)) for r in rows]
        lines[2] = "0,%s,1,0" % bad
        with open(csv, "w") as f:
            f.write("\n".join(lines) + "\n")
        out = run([exe, "--train", csv, "--epochs", "1", "--progress", "never"], expect_rc=1)
        if want not in out:
            fail("the message for id %s should say: %s" % (bad, want))
    model = os.path.join(w, "decoder.dl")
    with open(model, "w") as f:
        f.write(DECODER_DL)
    exe = build(model, "decoder", "--dtype", "f64")
    out = run([exe, "--hvpcheck"])
    if "hvpcheck:" not in out:
        fail("no hvpcheck line")


SAMPLER_DL = """
dim B = 8
input x : f32[B, 4]
enc = Linear(4, 2)
dec = Linear(2, 4)
output recon = dec(tanh(enc(x)))
output samples = dec(randn([B, 2]))     # reads no input: --sample writes it
loss mean((recon - x) ^ 2)
train {
  optimizer = adam(lr = 0.01)
  epochs = 2
  data = csv("x.csv")
}
"""


def t_sample():
    """--sample N writes the outputs computed from params and random draws alone: N rows, the
    same for the same seed, different for another; train_step does not compute them; a
    checkpoint of another model or size is refused with the mismatch named."""
    wd = args.workdir
    with open(os.path.join(wd, "x.csv"), "w") as f:
        for i in range(40):
            f.write(",".join("%.3f" % (((i * 7 + j * 3) % 11) / 11.0) for j in range(4)) + "\n")
    src = os.path.join(wd, "sampler.dl")
    with open(src, "w") as f:
        f.write(SAMPLER_DL)
    kernels = run([args.dlc, "--emit=kernels", src])
    line = [l for l in kernels.splitlines() if "-> samples" in l]
    if not line or "S" in line[0].split("[")[1].split("]")[0]:
        fail("the samples kernel should run in forward and gradients only: %s" % line)
    exe = build(src, "sampler")
    ck = os.path.join(wd, "s.safetensors")
    run([exe, "--save", ck, "--progress", "never"])
    outs = []
    for seed, name in ((1, "a.npy"), (1, "b.npy"), (2, "c.npy")):
        path = os.path.join(wd, name)
        out = run([exe, "--load", ck, "--sample", "20", "--seed", str(seed), "--sample-out", path])
        if "sample: 20 rows" not in out:
            fail("no 'sample: 20 rows' line")
        with open(path, "rb") as f:
            outs.append(f.read())
    if b"(20, 4)" not in outs[0][:128]:
        fail("samples.npy is not [20, 4]: %r" % outs[0][:128])
    if outs[0] != outs[1] or outs[0] == outs[2]:
        fail("samples must repeat with the seed and change with it")
    other = build(os.path.join(EXAMPLES, "mlp.dl"), "mlp_for_sample")
    out = run([other, "--load", ck, "--sample", "4"], expect_rc=1)
    if "unknown tensor" not in out:
        fail("a checkpoint of another model was not refused by name")
    with open(os.path.join(wd, "wide.dl"), "w") as f:
        f.write(SAMPLER_DL.replace("Linear(2, 4)", "Linear(3, 4)").replace("Linear(4, 2)", "Linear(4, 3)")
                .replace("[B, 2]", "[B, 3]"))
    wide = build(os.path.join(wd, "wide.dl"), "wide")
    out = run([wide, "--load", ck, "--sample", "4"], expect_rc=1)
    if "expected" not in out or "found" not in out:
        fail("a checkpoint of another size was not refused with the shapes")
    print("samples: 20 rows, reproducible from the seed; other models and sizes refused")


def t_profile():
    """--profile times train_step's kernels one by one: the same checkpoint bytes as a run without it,
    a table whose kernels are the generated file's, in which the convolutions run at a plausible
    GFLOP/s; --profile-peak adds the share of it; models it cannot time are refused."""
    need_fmnist()
    c = os.path.join(args.workdir, "lenet5.c")
    run([args.dlc, os.path.join(EXAMPLES, "lenet5.dl"), "-o", c])
    exe = build(os.path.join(EXAMPLES, "lenet5.dl"), "lenet5")
    plain, prof = os.path.join(args.workdir, "plain.safetensors"), os.path.join(args.workdir, "prof.safetensors")
    run([exe, "--steps", "30", "--threads", "2", "--save", plain, "--quiet"])
    out = run([exe, "--steps", "30", "--threads", "2", "--save", prof, "--quiet", "--profile", "--profile-peak", "100"])
    if open(plain, "rb").read() != open(prof, "rb").read():
        fail("--profile changed the checkpoint")
    m = re.search(r"^profile: 30 steps, (\d+) kernels, ([0-9.]+) ms per step, ([0-9.]+) GFLOP/s, ([0-9.]+)% of a "
                  r"peak of 100.0 GFLOP/s$", out, re.M)
    if not m:
        fail("no profile summary line")
    nk = int(m.group(1))
    table = [k for k in re.findall(r"^(\w+) +[0-9.]+ +[0-9.]+% +[0-9.]+% ", out, re.M)]
    more = re.search(r"^\((\d+) more kernels\)", out, re.M)
    if len(table) + (int(more.group(1)) if more else 0) != nk:
        fail("the table has %d rows and %s more for %d kernels" % (len(table), more and more.group(1), nk))
    src = open(c).read()
    for k in table:
        if not re.search(r"^static void %s\(int64_t n\)" % k, src, re.M):
            fail("kernel %s of the table is not in the generated file" % k)
    conv = re.findall(r"^(t\d+_conv2d|d_\w+_conv2d_d[xw]) +[0-9.]+ +[0-9.]+% +[0-9.]+% +([0-9.]+) +([0-9.]+)%$",
                      out, re.M)
    if len(conv) < 4 or not all(0.5 < float(g) < 2000 for _, g, _ in conv):
        fail("the convolutions' rates are missing or implausible: %s" % conv)
    out = run([exe, "--profile-peak", "10"], expect_rc=2)
    if "--profile-peak goes with --profile" not in out:
        fail("--profile-peak alone was not refused")
    gan = build(os.path.join(EXAMPLES, "gan_moons.dl"), "gan_moons")
    out = run([gan, "--steps", "2", "--profile"], expect_rc=2)
    if "--profile times the kernels of one training step: not for a model with step clauses" not in out:
        fail("a model with step clauses was not refused")


TESTS = {k[2:]: v for k, v in globals().items() if k.startswith("t_")}

if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("test", choices=sorted(TESTS))
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    # dlc run's compiled code goes to a cache in the work directory, not the user's
    os.environ.setdefault("DLC_JIT_CACHE_DIR", os.path.join(args.workdir, "jit-cache"))
    TESTS[args.test]()
    print("PASS")
