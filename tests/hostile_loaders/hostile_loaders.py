#!/usr/bin/env python3
"""Hostile data, checkpoint and cache files against the loaders (issue 19, items 7 to 10).

usage: hostile_loaders.py TEST --dlc PATH --workdir DIR
TEST is one of: idx_dims, ckpt_meta, st_many_keys, st_nul_key, nonfinite, stale_temps, jit_cache.
Each test writes its files with the standard library, runs a trainer built from a small model,
prints what it checks and exits 0 (pass), 1 (fail) or 77 (skip).
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import time

args = None

# A logistic regression on 3 features; its data comes from --train.
SMALL = """dim N = 4
input x : f32[N, 3]
label t : f32[N, 1]
param w : [3, 1] = zeros
param b : [1] = zeros
z = x @ w + b
output p = sigmoid(z)
loss bce(z, t)
train {
  optimizer = sgd(lr = 0.5)
  epochs = 1
  data = csv("small.csv", header = 0)
}
"""

SMALL_CSV = "0.5,1,2,1\n-1,0.25,3,0\n2,2,-2,1\n0,1,0,0\n"

# A 1 MiB parameter, so that its checkpoint takes a while to write.
WIDE = """dim N = 4
input x : f32[N, 512]
label t : f32[N, 1]
param W : [512, 512] = xavier_uniform
param v : [512, 1] = zeros
z = (x @ W) @ v
loss bce(z, t)
train {
  optimizer = sgd(lr = 0.1)
  epochs = 1
  data = csv("wide.csv", header = 0)
}
"""


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, expect_rc=0, timeout=120, env=None, **kw):
    """Runs cmd in the work directory; its output, after checking the exit status (None: any)."""
    print("$ " + " ".join(cmd))
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         errors="replace", cwd=args.workdir, env=e, **kw)
    try:
        p.stdout_text = p.communicate(timeout=timeout)[0]
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        fail("still running after %d s: %s" % (timeout, " ".join(cmd)))
    p.stdout = p.stdout_text
    sys.stdout.write(p.stdout)
    if expect_rc == "nonzero":
        if p.returncode == 0 or p.returncode < 0 or p.returncode > 128:
            fail("exit status %d, expected an error (1)" % p.returncode)
    elif expect_rc is not None and p.returncode != expect_rc:
        fail("exit status %d, expected %d" % (p.returncode, expect_rc))
    return p


def wpath(name):
    return os.path.join(args.workdir, name)


def write(name, data):
    with open(wpath(name), "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    return wpath(name)


def build(src, name, data=None):
    write(name + ".dl", src)
    for fname, text in (data or {}).items():
        write(fname, text)
    run([args.dlc, wpath(name + ".dl"), "-o", wpath(name)])
    return wpath(name)


def expect_error(cmd, *patterns, **kw):
    """cmd must fail with a message matching every pattern (and no negative sizes)."""
    out = run(cmd, expect_rc="nonzero", **kw).stdout
    for pat in patterns:
        if not re.search(pat, out):
            fail("the message does not match %r:\n%s" % (pat, out))
    return out


def npy(name, fmt, shape, values):
    """A version 1 .npy file of little-endian fmt ('f' f4, 'd' f8) values."""
    descr = {"f": "<f4", "d": "<f8"}[fmt]
    head = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % d for d in shape))
    head += " " * ((64 - (10 + len(head) + 1) % 64) % 64) + "\n"
    body = struct.pack("<%d%s" % (len(values), fmt), *values)
    return write(name, b"\x93NUMPY\x01\x00" + struct.pack("<H", len(head)) + head.encode() + body)


def idx(name, code, dims, payload=b""):
    return write(name, bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) +
                 payload)


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_st(path, header_text, body):
    h = header_text.encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + body)


def trained_checkpoint():
    exe = build(SMALL, "small", {"small.csv": SMALL_CSV})
    ck = wpath("small.st")
    run([exe, "--epochs", "2", "--save", ck, "--progress", "never"])
    return exe, ck


# ---- item 7: IDX sizes, checkpoint metadata, safetensors headers ----

def t_idx_dims():
    """IDX dims of 4e9 x 4e9 x 4e9: their product overflows int64; the loader says so at the
    offset of the size that overflows, never with a wrapped (negative) count."""
    exe = build(SMALL, "small", {"small.csv": SMALL_CSV})
    big = 4000000000
    for dims, off in (([big, big, big], 12), ([1, big, big, big, big], 12), ([1, 3, big, big], 16),
                      ([1, 1 << 20, 1 << 21], 12)):
        idx("x.idx", 0x0D, dims)
        idx("y.idx", 0x0D, [4, 1], struct.pack(">4f", 1, 0, 1, 0))
        out = expect_error([exe, "--train", "x.idx,y.idx", "--progress", "never"],
                           r"x\.idx: offset %d: expected a row of at most 2\^40 elements" % off)
        if re.search(r"-\d{6,}", out):
            fail("a wrapped size in the message:\n" + out)
    # a row size within bounds still gets the usual message (expected 3 elements)
    idx("x.idx", 0x0D, [4, 7])
    expect_error([exe, "--train", "x.idx,y.idx", "--progress", "never"],
                 r"x\.idx: offset 8: expected 3 elements per row")
    print("ok: overflowing IDX dims are refused with the file, offset and expectation")


def t_ckpt_meta():
    """Checkpoint metadata: out-of-range, negative or non-numeric epoch, step and seed are refused
    with the file and the key; in-range values still load."""
    exe, ck = trained_checkpoint()
    header, body = read_st(ck)
    meta = header["__metadata__"]
    bad = [("step", "99999999999999999999999"), ("step", "-1"), ("epoch", "-5"),
           ("epoch", "99999999999"), ("seed", "18446744073709551616"), ("step", "12abc"),
           ("step", ""), ("step", " 5"), ("epoch", "+3")]
    for key, val in bad:
        h = dict(header)
        h["__metadata__"] = dict(meta, **{key: val})
        path = wpath("meta_bad.st")
        write_st(path, json.dumps(h, separators=(",", ":")), body)
        expect_error([exe, "--load", path, "--eval", "--progress", "never"],
                     r"meta_bad\.st: offset \d+: __metadata__ \"%s\": expected a decimal integer" % key)
    good = dict(meta, epoch="2147483647", step="9223372036854775807", seed="18446744073709551615")
    h = dict(header)
    h["__metadata__"] = good
    write_st(wpath("meta_good.st"), json.dumps(h, separators=(",", ":")), body)
    out = run([exe, "--load", wpath("meta_good.st"), "--eval", "--progress", "never"]).stdout
    if "epoch 2147483647, step 9223372036854775807" not in out:
        fail("the largest epoch and step did not load as written")
    print("ok: metadata out of range is refused, the extremes in range load")


def t_st_many_keys():
    """A header of 50,000 tensor names parses in linear or n log n time (it took 13.5 s when
    every name was compared with every other); a repeated name is still found."""
    exe, ck = trained_checkpoint()
    n = 50000
    entry = '"dtype":"F32","shape":[0],"data_offsets":[0,0]'
    text = "{" + ",".join('"k%07d":{%s}' % (i, entry) for i in range(n)) + "}"
    write_st(wpath("many.st"), text, b"")
    t0 = time.time()
    expect_error([exe, "--load", wpath("many.st"), "--eval", "--progress", "never"],
                 r"unknown tensor 'k0000000'", timeout=300)
    took = time.time() - t0
    print("%d names: %.2f s" % (n, took))
    if took > 4:
        fail("%d names took %.1f s (quadratic?)" % (n, took))
    # the repeat nearest the start is the one named, at its offset
    names = ["k%07d" % i for i in range(n)] + ["k0000007", "k0000003"]
    text = "{" + ",".join('"%s":{%s}' % (k, entry) for k in names) + "}"
    write_st(wpath("dup.st"), text, b"")
    where = 8 + text.index('"k0000007"', text.index('"k0000007"') + 1)
    t0 = time.time()
    expect_error([exe, "--load", wpath("dup.st"), "--eval", "--progress", "never"],
                 r"dup\.st: offset %d: expected a new tensor name, found 'k0000007' again" % where,
                 timeout=300)
    if time.time() - t0 > 4:
        fail("the repeated name took %.1f s to find" % (time.time() - t0))
    print("ok: many names parse fast and repeats are found")


def t_st_nul_key():
    """A key "b\\u0000x" must not match the tensor b: a NUL in a name (or a metadata value the
    loader reads) is refused."""
    exe, ck = trained_checkpoint()
    with open(ck, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    text = data[8:8 + n].decode()
    if '"b":' not in text:
        fail("no tensor b in the checkpoint's header: " + text)
    for old, new, what in (('"b":', '"b\\u0000x":', "tensor name"),
                           ('"format":"dlc"', '"format":"dlc","step\\u0000":"1"', "metadata key"),
                           ('"epoch":"2"', '"epoch":"2\\u0000junk"', "metadata value")):
        t = text.replace(old, new, 1)
        if t == text:
            fail("no %r in the checkpoint's header: %s" % (old, text))
        path = wpath("nul.st")
        write_st(path, t.rstrip(" "), data[8 + n:])
        expect_error([exe, "--load", path, "--eval", "--progress", "never"],
                     r"nul\.st: offset %d: expected a string without NUL characters, found \\u0000" %
                     (8 + t.index("\\u0000")))
        print("ok: NUL in a %s refused" % what)
    # an unread metadata value may hold one
    t = text.replace('"format":"dlc"', '"format":"dlc","note":"a\\u0000b"', 1)
    write_st(wpath("nul_ok.st"), t.rstrip(" "), data[8 + n:])
    run([exe, "--load", wpath("nul_ok.st"), "--eval", "--progress", "never"])


# ---- item 10: NaN and infinities in the data ----

def t_nonfinite():
    """NaN and infinities in float data (CSV, .npy, IDX; inputs and labels) are refused when loading,
    with the file and the line and column, or the offset and element."""
    exe = build(SMALL, "small", {"small.csv": SMALL_CSV})
    run([exe, "--progress", "never"])
    for field, pat in (("nan", "nan"), ("inf", "inf"), ("-Infinity", "-Infinity"), ("1e999", "1e999"),
                       ("NAN(123)", r"NAN\(123\)")):
        for col in (2, 4):
            rows = [r.split(",") for r in SMALL_CSV.strip().split("\n")]
            rows[2][col - 1] = field
            write("bad.csv", "\n".join(",".join(r) for r in rows) + "\n")
            expect_error([exe, "--train", "bad.csv", "--progress", "never"],
                         r"bad\.csv:3: column %d: expected a finite number, found '%s'" % (col, pat))
    x = [0.5, 1, 2, -1, 0.25, 3, 2, 2, -2, 0, 1, 0]
    y = [1, 0, 1, 0]
    for fmt, size in (("f", 4), ("d", 8)):
        bx = list(x)
        bx[7] = float("nan")
        npy("x.npy", fmt, [4, 3], bx)
        npy("y.npy", fmt, [4, 1], y)
        expect_error([exe, "--train", "x.npy,y.npy", "--progress", "never"],
                     r"x\.npy: offset %d: expected a finite number, found nan \(element 7 of shape \[4,3\]\)" %
                     (128 + 7 * size))
        npy("x.npy", fmt, [4, 3], x)
        npy("y.npy", fmt, [4, 1], [1, 0, float("-inf"), 0])
        expect_error([exe, "--train", "x.npy,y.npy", "--progress", "never"],
                     r"y\.npy: offset %d: expected a finite number, found -inf \(element 2 of shape \[4,1\]\)" %
                     (128 + 2 * size))
        npy("y.npy", fmt, [4, 1], y)
        run([exe, "--train", "x.npy,y.npy", "--progress", "never"])
    for code, fmt, size in ((0x0D, "f", 4), (0x0E, "d", 8)):
        bx = list(x)
        bx[10] = float("inf")
        idx("x.idx", code, [4, 3], struct.pack(">12" + fmt, *bx))
        idx("y.idx", code, [4, 1], struct.pack(">4" + fmt, *y))
        expect_error([exe, "--train", "x.idx,y.idx", "--progress", "never"],
                     r"x\.idx: offset %d: expected a finite number, found inf \(element 10, row 3\)" %
                     (12 + 10 * size))
        idx("x.idx", code, [4, 3], struct.pack(">12" + fmt, *x))
        run([exe, "--train", "x.idx,y.idx", "--progress", "never"])
    # --predict reads its inputs through the same loaders
    run([exe, "--save", wpath("small.st"), "--progress", "never"])
    bx = list(x)
    bx[0] = float("nan")
    npy("px.npy", "f", [4, 3], bx)
    expect_error([exe, "--load", wpath("small.st"), "--predict", "px.npy", "--progress", "never"],
                 r"px\.npy: offset 128: expected a finite number")
    print("ok: non-finite values refused in CSV, .npy and IDX files")


# ---- item 9: temporaries of killed saves ----

def dead_pid():
    """The id of a process that has exited (and been waited for)."""
    p = subprocess.Popen(["sleep", "60"])
    p.kill()
    p.wait()
    return p.pid


def temps(base):
    return sorted(f for f in os.listdir(args.workdir) if f.startswith(base + ".tmp."))


def t_stale_temps():
    """A save killed while it writes (SIGXFSZ from a file size limit: a kill at a known point)
    leaves NAME.tmp.PID.XXXXXX; the next save to NAME removes the temporaries whose process is gone
    and keeps the others.  A save that fails (the write refused) removes its own."""
    rows = []
    for i in range(4):
        rows.append(",".join("%g" % (((i * 7 + j * 3) % 11) / 10.0 - 0.5) for j in range(512)) + ",%d" % (i % 2))
    exe = build(WIDE, "wide", {"wide.csv": "\n".join(rows) + "\n"})
    ck = wpath("wide.st")
    for f in os.listdir(args.workdir):
        if ".tmp" in f:
            os.remove(wpath(f))

    def limited(ignore):
        def pre():
            resource.setrlimit(resource.RLIMIT_FSIZE, (256 << 10, 256 << 10))
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN if ignore else signal.SIG_DFL)
        return pre

    # the write refused (SIGXFSZ ignored): an error, and the save removes its own temporary
    run([exe, "--save", ck, "--progress", "never"], expect_rc="nonzero", preexec_fn=limited(True))
    if temps("wide.st"):
        fail("a failed save left %s" % temps("wide.st"))
    # killed during the write: the temporary stays behind, named after the process
    p = run([exe, "--save", ck, "--progress", "never"], expect_rc=None, preexec_fn=limited(False))
    if p.returncode != -signal.SIGXFSZ:
        fail("exit status %d, expected death by SIGXFSZ" % p.returncode)
    left = temps("wide.st")
    if len(left) != 1 or not re.fullmatch(r"wide\.st\.tmp\.%d\.[A-Za-z0-9]{6}" % p.pid, left[0]):
        fail("expected one temporary wide.st.tmp.%d.XXXXXX, found %s" % (p.pid, left))
    # more stale ones, and some that are not stale or not ours
    dead = dead_pid()
    stale = left + ["wide.st.tmp.%d.abcDEF" % dead, "wide.st.tmp.%d.000000" % dead]
    keep = ["wide.st.tmp.%d.abcdef" % os.getpid(),          # a live writer
            "wide.st.tmp.%d.abcdefg" % dead,                # not a mkstemp name
            "wide.st.tmp.abcdef",                            # no process id
            "wide.st.tmp.%d" % dead,
            "other.st.tmp.%d.abcdef" % dead]                # another target
    for f in stale[1:] + keep:
        write(f, b"partial")
    run([exe, "--save", ck, "--progress", "never"])
    now = sorted(f for f in os.listdir(args.workdir) if ".tmp" in f)
    if now != sorted(keep):
        fail("after the save: %s, expected %s (removed: %s)" % (now, sorted(keep), stale))
    if not os.path.exists(ck):
        fail("no checkpoint written")
    print("ok: stale temporaries removed, live and foreign ones kept")


# ---- item 8: the JIT cache's entries ----

def t_jit_cache():
    """JIT cache entries that are not regular files (a link to /dev/zero, a FIFO, a directory) or
    that have another size than the manifest says are misses: compiled again, never a crash or a
    hang, and noted under DLC_JIT_VERBOSE."""
    out = subprocess.run([args.dlc, "--version"], stdout=subprocess.PIPE, text=True).stdout
    if "llvm JIT: LLVM" not in out:
        print("SKIP: this dlc has no LLVM JIT: " + out.strip().replace("\n", " "))
        sys.exit(77)
    write("small.dl", SMALL)
    write("small.csv", SMALL_CSV)
    cache = wpath("cache")
    shutil.rmtree(cache, ignore_errors=True)
    env = {"DLC_JIT_CACHE_DIR": cache, "DLC_JIT_INLINE_HELPERS": "0", "DLC_JIT_VERBOSE": "1"}
    cmd = [args.dlc, "run", wpath("small.dl"), "--progress", "never"]
    first = run(cmd, env=env).stdout
    loss = re.findall(r"loss ([0-9.e+-]+)", first)
    hit = run(cmd, env=env).stdout
    if "cache hit" not in hit:
        fail("the second run was not a cache hit")

    def entries():
        return sorted(f for f in os.listdir(cache) if f.endswith(".o") or f.endswith(".m"))

    def damage(name, how):
        path = os.path.join(cache, name)
        os.remove(path)
        if how == "zero":
            os.symlink("/dev/zero", path)
        elif how == "fifo":
            os.mkfifo(path)
        elif how == "dir":
            os.mkdir(path)
        elif how == "link":
            with open(path + ".real", "wb") as f:
                f.write(saved[name])
            os.symlink(path + ".real", path)

    saved = {}
    for name in entries():
        with open(os.path.join(cache, name), "rb") as f:
            saved[name] = f.read()
    for how in ("zero", "fifo", "dir", "link"):
        for name in entries():
            for other in entries():
                p = os.path.join(cache, other)
                if os.path.isdir(p) and not os.path.islink(p):
                    os.rmdir(p)
                elif os.path.lexists(p):
                    os.remove(p)
                with open(p, "wb") as f:
                    f.write(saved[other])
            damage(name, how)
            out = run(cmd, env=env, timeout=120).stdout
            if re.findall(r"loss ([0-9.e+-]+)", out) != loss:
                fail("%s %s: the losses differ: %s" % (how, name, out))
            if "cache hit" in out:
                fail("%s %s: reported a cache hit" % (how, name))
            if "cache entry %s/%s" % (cache, name) not in out:
                fail("%s %s: no note under DLC_JIT_VERBOSE" % (how, name))
            if how == "dir":
                continue   # a directory stays in the way of the rename; nothing to check
            p = os.path.join(cache, name)
            if os.path.islink(p) or not os.path.isfile(p):
                fail("%s %s: the entry was not written again as a file" % (how, name))
            print("ok: %s as %s: compiled again" % (name, how))
    # an entry of another size than its manifest says, though whole in itself (another object's
    # bytes, its own magic, length and checksum): a miss, not machine code for the wrong part
    for name in entries():
        p = os.path.join(cache, name)
        if os.path.isdir(p) and not os.path.islink(p):
            os.rmdir(p)
        else:
            os.remove(p)
    run(cmd, env=env)
    man = [f for f in entries() if f.endswith(".m")]
    with open(os.path.join(cache, man[0]), "rb") as f:
        text = f.read()[24:].decode("latin-1")
    objs = re.findall(r"^object (\S+) (\d+)$", text, re.M)
    if len(objs) < 2:
        fail("the manifest does not give two objects and their sizes:\n" + text)
    sizes = {}
    for key, size in objs:
        sizes[key] = os.path.getsize(os.path.join(cache, key + ".o"))
        if sizes[key] != int(size):
            fail("object %s has %d bytes, the manifest says %s" % (key, sizes[key], size))
    (a, _), (b, _) = objs[:2]
    if sizes[a] == sizes[b]:
        fail("two objects of the same size; the test needs two sizes")
    shutil.copyfile(os.path.join(cache, b + ".o"), os.path.join(cache, a + ".o"))
    out = run(cmd, env=env).stdout
    if "cache hit" in out or "%s.o has %d bytes, expected %d" % (a, sizes[b], sizes[a]) not in out:
        fail("an object of the wrong size was used, or its miss not noted")
    if re.findall(r"loss ([0-9.e+-]+)", out) != loss:
        fail("the losses differ: %s" % out)
    print("ok: an object of another size than the manifest's is a miss")


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("test")
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    args.dlc = os.path.abspath(args.dlc)
    os.makedirs(args.workdir, exist_ok=True)
    globals()["t_" + args.test]()
    print("PASS")


if __name__ == "__main__":
    main()
