#!/usr/bin/python3
"""difftest.py - differential testing of the compiler on random programs.

Each program is a random well-typed graph over the op set below, in f64: inputs x [B, F] (and an
i32 label y when the loss is a cross-entropy), parameters of the shapes the ops need, a chain of
values built by elementwise unary and binary ops (broadcasting against parameter vectors and
scalars), matrix products, reductions along the feature axis kept and broadcast back, softmax and
log_softmax, concatenation, and a loss (mean or sum of squares, cross-entropy, a mean of a
reduction).  The same graph is written as a .dl program and as PyTorch code.

Every program runs through dlc at -O0 and -O2 (the trainer built by the system C compiler) and,
where dlc has the LLVM JIT, through `dlc run`, on the same parameters (a safetensors file written
here, `--load`) and the same batch (`--batch-from`, n rows of a batch of B: a partial batch when
n < B); each writes its loss and every gradient (`--dump-grads`).  PyTorch (1.13, f64) computes
the same from the same numbers.  A program passes when every loss and gradient agrees with
PyTorch's to 1e-9 (relative, with an absolute floor of 1e-9) on every path.

Op mix (per generated value, uniform over the kinds that fit): unary (relu, tanh, sigmoid, exp
of a bounded value, softplus, sin, cos, negation, square, abs, log of 1 + x^2, sqrt of 1 + x^2,
gelu, elu, leaky_relu, clamp, log_sigmoid, where over a comparison), binary (+, -, *, / by
1 + x^2, maximum, minimum) against a parameter vector [F], a scalar parameter or another value,
x @ W, sum/mean/max/logsumexp/var along axis 1 (keepdims) broadcast back,
softmax/log_softmax along axis 1, concat along axis 1 then x @ W back to the width.

usage: difftest.py --dlc PATH --workdir DIR [--seed S] [--start K] [--count N | --only K,K,...] [--no-jit] [--keep]
Prints one line per program and a summary; exits 1 on any mismatch (the failing program's .dl
and .py stay in the work directory).
"""
import argparse
import json
import math
import os
import random
import re
import shutil
import struct
import subprocess
import sys

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover
    torch = None

UNARY = {
    # name: (dl template, torch template)
    "relu": ("relu({a})", "torch.relu({a})"),
    "tanh": ("tanh({a})", "torch.tanh({a})"),
    "sigmoid": ("sigmoid({a})", "torch.sigmoid({a})"),
    "exp": ("exp(tanh({a}))", "torch.exp(torch.tanh({a}))"),
    "softplus": ("softplus({a})", "F.softplus({a})"),
    "sin": ("sin({a})", "torch.sin({a})"),
    "cos": ("cos({a})", "torch.cos({a})"),
    "neg": ("-{a}", "-{a}"),
    "square": ("{a} * {a}", "{a} * {a}"),
    "abs": ("abs({a})", "torch.abs({a})"),
    "log1p2": ("log(1 + {a} * {a})", "torch.log(1 + {a} * {a})"),
    "sqrt1p2": ("sqrt(1 + {a} * {a})", "torch.sqrt(1 + {a} * {a})"),
    "gelu": ("gelu({a})", "F.gelu({a})"),
    "elu": ("elu({a})", "F.elu({a})"),
    "leaky_relu": ("leaky_relu({a}, 0.1)", "F.leaky_relu({a}, 0.1)"),
    "clamp": ("clamp({a}, -0.7, 0.9)", "torch.clamp({a}, -0.7, 0.9)"),
    "log_sigmoid": ("log_sigmoid({a})", "F.logsigmoid({a})"),
    "where": ("where(greater({a}, 0.2), {a}, 0.5 * {a})", "torch.where({a} > 0.2, {a}, 0.5 * {a})"),
}
BINARY = {
    "add": ("{a} + {b}", "{a} + {b}"),
    "sub": ("{a} - {b}", "{a} - {b}"),
    "mul": ("{a} * {b}", "{a} * {b}"),
    "div": ("{a} / (1 + {b} * {b})", "{a} / (1 + {b} * {b})"),
    "maximum": ("maximum({a}, {b})", "torch.maximum({a}, {b})"),
    "minimum": ("minimum({a}, {b})", "torch.minimum({a}, {b})"),
}
REDUCE = {
    "sum": ("sum({a}, axis = 1, keepdims = 1)", "{a}.sum(1, keepdim=True)"),
    "mean": ("mean({a}, axis = 1, keepdims = 1)", "{a}.mean(1, keepdim=True)"),
    "max": ("max({a}, axis = 1, keepdims = 1)", "{a}.amax(1, keepdim=True)"),
    "logsumexp": ("logsumexp({a}, axis = 1, keepdims = 1)", "torch.logsumexp({a}, 1, keepdim=True)"),
    "var": ("var({a}, axis = 1, keepdims = 1, correction = 0)", "{a}.var(1, unbiased=False, keepdim=True)"),
}


class Program:
    """A random graph, as .dl text and as PyTorch code (a function of a dict of tensors)."""

    def __init__(self, rng, B):
        self.rng = rng
        self.B = B
        self.params = {}      # name -> shape
        self.dl = []          # statements
        self.py = []
        self.nv = 0
        self.F = rng.choice([2, 3, 4, 5])
        self.label = False

    def param(self, shape):
        name = "p%d" % len(self.params)
        self.params[name] = shape
        self.dl.append("param %s : [%s] = normal(0, 0.5)" % (name, ", ".join(str(d) for d in shape)) if shape
                       else "param %s : [] = normal(0, 0.5)" % name)
        return name

    def value(self, dl_expr, py_expr, width):
        name = "v%d" % self.nv
        self.nv += 1
        self.dl.append("%s = %s" % (name, dl_expr))
        self.py.append("%s = %s" % (name, py_expr))
        return name, width

    def step(self, vals):
        rng = self.rng
        a, wa = rng.choice(vals)
        kind = rng.choice(["unary", "unary", "binary", "binary", "matmul", "reduce", "softmax", "concat"])
        if kind == "unary":
            dl, py = UNARY[rng.choice(sorted(UNARY))]
            return self.value(dl.format(a=a), py.format(a=a), wa)
        if kind == "binary":
            dl, py = BINARY[rng.choice(sorted(BINARY))]
            other = rng.choice(["vec", "scalar", "value"])
            if other == "vec":
                b = self.param([wa])
            elif other == "scalar":
                b = self.param([])
            else:
                same = [v for v in vals if v[1] == wa]
                b = rng.choice(same)[0]
            return self.value(dl.format(a=a, b=b), py.format(a=a, b=b), wa)
        if kind == "matmul":
            w = rng.choice([2, 3, 4, 5])
            W = self.param([wa, w])
            return self.value("%s @ %s" % (a, W), "%s @ %s" % (a, W), w)
        if kind == "reduce":
            dl, py = REDUCE[rng.choice(sorted(REDUCE))]
            r, _ = self.value(dl.format(a=a), py.format(a=a), 1)
            return self.value("%s - %s" % (a, r), "%s - %s" % (a, r), wa)
        if kind == "softmax":
            f = rng.choice(["softmax", "log_softmax"])
            return self.value("%s(%s, 1)" % (f, a), "torch.%s(%s, 1)" % (f, a), wa)
        b, wb = rng.choice(vals)
        c, wc = self.value("concat(%s, %s, axis = 1)" % (a, b), "torch.cat([%s, %s], 1)" % (a, b), wa + wb)
        W = self.param([wc, wa])
        return self.value("%s @ %s" % (c, W), "%s @ %s" % (c, W), wa)

    def build(self, nsteps):
        W = self.param([self.F, self.F])
        vals = [("x", self.F), self.value("x @ %s" % W, "x @ %s" % W, self.F)]
        for _ in range(nsteps):
            vals.append(self.step(vals))
        last, w = vals[-1]
        # the loss reaches a parameter: a product with one at the end when the chain left them out
        if not self.depends(last):
            W = self.param([w, w])
            last, w = self.value("%s @ %s" % (last, W), "%s @ %s" % (last, W), w)
        loss = self.rng.choice(["mse", "sum", "xent", "meanmax"])
        if loss == "xent":
            self.label = True
            C = self.rng.choice([2, 3, 4])
            W = self.param([w, C])
            z, _ = self.value("%s @ %s" % (last, W), "%s @ %s" % (last, W), C)
            self.classes = C
            self.loss_dl = "cross_entropy(%s, y)" % z
            self.loss_py = "F.cross_entropy(%s, y)" % z
        elif loss == "mse":
            self.loss_dl = "mean(%s * %s)" % (last, last)
            self.loss_py = "(%s * %s).mean()" % (last, last)
        elif loss == "sum":
            self.loss_dl = "sum(%s * %s)" % (last, last)
            self.loss_py = "(%s * %s).sum()" % (last, last)
        else:
            self.loss_dl = "mean(max(%s, axis = 1))" % last
            self.loss_py = "%s.amax(1).mean()" % last

    def depends(self, name):
        """Whether value `name` is computed from a parameter (from the statements)."""
        defs = dict(line.split(" = ", 1) for line in self.py)
        seen, todo = set(), [name]
        while todo:
            v = todo.pop()
            if v in self.params:
                return True
            if v in seen or v not in defs:
                continue
            seen.add(v)
            for tok in defs[v].replace("(", " ").replace(")", " ").replace(",", " ").split():
                todo.append(tok.split(".")[0])
        return False

    def dl_text(self):
        head = ["dim B = %d" % self.B, "input x : f64[B, %d]" % self.F]
        if self.label:
            head.append("label y : i32[B]")
        tail = ["loss " + self.loss_dl, "train { optimizer = sgd(lr = 0.1) }"]
        return "\n".join(head + self.dl + tail) + "\n"

    def py_text(self):
        return "\n".join(self.py + ["loss = " + self.loss_py])


def write_safetensors(path, tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for name, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype=np.float64).tobytes()
        header[name] = {"dtype": "F64", "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        dt = {"F64": np.float64, "F32": np.float32, "I32": np.int32}[v["dtype"]]
        out[k] = np.frombuffer(data[8 + n + a:8 + n + b], dtype=dt).reshape(v["shape"])
    return out


def run_one(a, k, seed, jit):
    rng = random.Random(seed * 100003 + k)
    B = rng.choice([3, 4, 5])
    prog = Program(rng, B)
    prog.build(rng.randint(2, 7))
    n = rng.choice([B, B, B - 1, 1])          # rows of the batch that hold data
    work = os.path.join(a.workdir, "p%d" % k)
    os.makedirs(work, exist_ok=True)
    dl = os.path.join(work, "prog.dl")
    with open(dl, "w") as f:
        f.write(prog.dl_text())
    with open(os.path.join(work, "prog.py"), "w") as f:
        f.write(prog.py_text() + "\n")
    nrs = np.random.RandomState(seed * 7919 + k)
    params = {p: nrs.normal(0, 0.5, size=s) for p, s in prog.params.items()}
    x = nrs.normal(0, 1, size=(n, prog.F))
    files = [os.path.join(work, "x.npy")]
    np.save(files[0], x)
    y = None
    if prog.label:
        y = nrs.randint(0, prog.classes, size=n).astype(np.int32)
        files.append(os.path.join(work, "y.npy"))
        np.save(files[1], y)
    ck = os.path.join(work, "params.safetensors")
    write_safetensors(ck, params, {"format": "dlc", "model": "prog", "epoch": "0", "step": "0", "seed": "1"})
    # PyTorch
    env = {"torch": torch, "F": F, "x": torch.tensor(x, dtype=torch.float64)}
    if y is not None:
        env["y"] = torch.tensor(y, dtype=torch.int64)
    tp = {p: torch.tensor(v, dtype=torch.float64, requires_grad=True) for p, v in params.items()}
    env.update(tp)
    exec(prog.py_text(), env)
    env["loss"].backward()
    ref = {"loss": env["loss"].item()}
    for p, t in tp.items():
        ref["d_" + p] = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
    # dlc
    results = {}
    for level in ("-O0", "-O2"):
        exe = os.path.join(work, "prog" + level)
        c = subprocess.run([a.dlc, level, "--dtype", "f64", dl, "-o", exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        if c.returncode != 0:
            return prog, work, "dlc %s failed:\n%s" % (level, c.stdout)
        out = os.path.join(work, "g%s.safetensors" % level)
        r = subprocess.run([exe, "--load", ck, "--batch-from", ",".join(files), "--dump-grads", out, "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            return prog, work, "trainer %s failed:\n%s" % (level, r.stdout)
        results[level] = read_safetensors(out)
    if jit:
        out = os.path.join(work, "g-jit.safetensors")
        r = subprocess.run([a.dlc, "run", "--dtype", "f64", dl, "--load", ck, "--batch-from", ",".join(files), "--dump-grads", out,
                            "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           env=dict(os.environ, DLC_JIT_CACHE="0"))
        if r.returncode != 0:
            return prog, work, "dlc run failed:\n%s" % r.stdout
        results["jit"] = read_safetensors(out)
    for path, got in results.items():
        for name, want in ref.items():
            if name not in got:
                if name.startswith("d_") and not np.any(want):
                    continue  # a parameter the loss does not reach has no gradient buffer
                return prog, work, "%s: %s missing" % (path, name)
            g = np.asarray(got[name], dtype=np.float64).reshape(np.shape(want))
            err = np.max(np.abs(g - want) / np.maximum(1e-9, np.abs(want))) if np.size(want) else 0
            if not (np.all(np.isfinite(g)) and err <= 1e-9 or np.max(np.abs(g - want)) <= 1e-9):
                return prog, work, "%s: %s differs: largest relative error %.3g" % (path, name, err)
    return prog, work, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--start", type=int, default=0, help="the first program's number (a long run in parts)")
    ap.add_argument("--only", help="comma-separated program numbers of the seed to run (found mismatches)")
    ap.add_argument("--no-jit", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep every program's directory")
    a = ap.parse_args()
    if torch is None:
        print("skipped: PyTorch is not importable")
        sys.exit(77 if os.environ.get("DLC_REQUIRE_TORCH") != "1" else 1)
    torch.set_num_threads(1)
    os.makedirs(a.workdir, exist_ok=True)
    version = subprocess.run([a.dlc, "--version"], stdout=subprocess.PIPE, text=True).stdout
    jit = not a.no_jit and "llvm JIT: not in this build" not in version
    bad = 0
    ops = {}
    numbers = [int(k) for k in a.only.split(",")] if a.only else list(range(a.start, a.start + a.count))
    a.count = len(numbers)
    for k in numbers:
        prog, work, err = run_one(a, k, a.seed, jit)
        for line in prog.dl:
            rhs = line.split(" = ", 1)[-1]
            for name in (set(re.findall(r"[a-z_]+(?=\()", rhs)) - {"normal"}) | ({"@"} if "@" in rhs else set()):
                ops[name] = ops.get(name, 0) + 1
        if err:
            bad += 1
            print("program %d (%s): FAIL %s" % (k, work, err))
        else:
            print("program %d: ok (%d params, %d values, loss %s)" % (k, len(prog.params), prog.nv,
                                                                      prog.loss_dl.split("(")[0]))
            if not a.keep:
                shutil.rmtree(work, ignore_errors=True)
    print("%d programs, %d mismatches; paths: -O0, -O2%s" % (a.count, bad, ", dlc run" if jit else ""))
    print("ops used: " + ", ".join("%s %d" % kv for kv in sorted(ops.items())))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
