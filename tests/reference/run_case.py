#!/usr/bin/python3
"""run_case.py - run one op-level reference case of dlc (see cases.py).

    run_case.py CASE --dlc PATH [--dtype f64|f32] [--mode torch|gradcheck|hvpcheck] [--via-jit] [--workdir DIR]
                [--torch-refs DIR]
    run_case.py --list | --list-routed
    run_case.py --routed ROUTE --dlc PATH [--workdir DIR]
    run_case.py --write-torch-refs DIR

Mode torch: writes CASE's .dl into the work directory, compiles it with
`dlc --dtype D`, draws the case's params and inputs (seeded by the case
name), writes them as params.safetensors and one .npy per input/label, runs
the trainer with --load --batch-from --dump-forward --dump-grads, and
compares the loss, the declared outputs and every gradient d_<param> (and the
eval-mode loss and outputs, shown as fwd:NAME) with PyTorch autograd in
float64 on the same numbers (rounded to float32 first in f32 mode).  An
element passes when |got - want| <= atol + rtol * |want|, with rtol 1e-5 (f64)
or 1e-4 (f32) and atol = rtol * 1e-3 * max |want| over the tensor (the tensor's own
scale: small gradients are held to their size, not to a floor; zeros where the
reference is all zero);
a failure prints the worst element.  The dumps must also hold the dtype
compiled for.  --dlc-arg passes more flags to dlc (e.g. --dlc-arg=-O0).

Mode gradcheck: compiles in f64 and runs `trainer --load --batch-from
--gradcheck` (central differences of the loss against the analytic
gradients); passes when the trainer exits 0 and checked every param.

Mode hvpcheck: the case with `train { optimizer = newton(damping = 1) }`
appended and 0.5 sum(o * o) added to its loss (curvature through the output o,
so that each gradient rule's dependence on its incoming gradient is differentiated
too), compiled in f64 (so its loss is differentiated twice), runs
`trainer --load --batch-from --hvpcheck`: the Hessian-vector product along
a random direction against central differences of the gradient, passing
within 1e-6 of max |Hv| plus the rounding of the gradients over the step.  A
case of cases.FIRST_ORDER must instead be refused by dlc with the error
given there; cases.NO_HVPCHECK lists the cases finite differences cannot
check, with the reason (--list-hvpcheck leaves them out).

--via-jit: instead of building a trainer, run the same trainer flags through
`dlc run [--dtype D] CASE.dl FLAGS` (dlc's in-process LLVM JIT), in either
mode; the run must say that the LLVM JIT compiled the model.

--write-torch-refs DIR computes the PyTorch side of mode torch for every
case, f64 and f32, in one process (PyTorch is imported once, not once a case)
and writes DIR/DTYPE/CASE.npz; --torch-refs DIR then takes a case's reference
from there instead of importing PyTorch.  A file is used only when its key,
a hash of this harness, cases.py, the case, the dtype and the numbers drawn
for it, is the key of the run; otherwise the case computes its reference
itself, as without --torch-refs.  CTest writes them once per run (the fixture
ref.torch_refs) for the ref.* tests.

A case with `smaller = DIM` also builds the program with `-D DIM=ROWS` (a
batch of exactly the rows fed) and requires the same loss, outputs and
gradients from it: a partial batch gives the result of a smaller batch.

A case with `reject` (the routed cases of cases.py whose program no partial
batch has a value for) passes when dlc refuses to compile it: exit status 1
with a `file:line:col: error:` message matching the pattern, and no internal
error.  --list-routed lists those generated cases (cases.ROUTED); --routed
ROUTE runs every routed case of one route (cat, merge, regroup, mix) in f64
torch mode, in this one process, and fails if any of them fails.

Exit status: 0 pass, 1 fail, 77 skip (PyTorch missing in torch mode; with
DLC_REQUIRE_TORCH=1 in the environment a missing PyTorch fails instead).

Negative tests (registered with WILL_FAIL): --perturb FACTOR[:KEY] scales the
torch reference (all of it, or only KEY, e.g. d_b or loss) and --negative
says the run is expected to find a mismatch.  Then only a detected mismatch
exits 1; anything else (it passed, dlc did not compile, the trainer crashed)
exits 0, so that such a test cannot pass by breaking.
"""
import argparse
import copy
import hashlib
import os
import shutil
import re
import subprocess
import sys
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

import cases  # noqa: E402
import st  # noqa: E402

TOL = {"f64": 1e-5, "f32": 1e-4}
ATOL_FRACTION = 1e-3  # atol = rtol * ATOL_FRACTION * max |want|
SKIP = 77


class Failure(Exception):
    """The case failed (a mismatch, or dlc / the trainer failed)."""

    def __init__(self, msg, mismatch=False):
        super().__init__(msg)
        self.mismatch = mismatch


# ---- the .dl declarations this harness needs ----

def parse_program(src):
    """Dims, params [(name, shape)], data [(name, shape, is_label)] in
    declaration order, and output names."""
    dims, params, data, outputs = {}, [], [], []

    def shape_of(text):
        text = text.strip()
        if not text:
            return ()
        return tuple(int(eval(d, {"__builtins__": {}}, dict(dims))) for d in text.split(","))

    for line in src.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"dim\s+(\w+)\s*=\s*(.+)$", line)
        if m:
            dims[m.group(1)] = int(eval(m.group(2), {"__builtins__": {}}, dict(dims)))
            continue
        m = re.match(r"param\s+(\w+)\s*:\s*(?:\w+\s*)?\[([^\]]*)\]", line)
        if m:
            params.append((m.group(1), shape_of(m.group(2))))
            continue
        m = re.match(r"(input|label)\s+(\w+)\s*:\s*(\w+)?\s*\[([^\]]*)\]", line)
        if m:
            is_label = m.group(3) == "i32" or (m.group(1) == "label" and m.group(3) is None)
            data.append((m.group(2), shape_of(m.group(4)), is_label))
            continue
        m = re.match(r"output\s+(\w+)", line)
        if m:
            outputs.append(m.group(1))
    return dims, params, data, outputs


# ---- numbers ----

def draw(c, params, data, fdtype):
    """The case's params and inputs (first `rows` rows), as NumPy arrays
    already rounded to the float type dlc computes in."""
    rng = np.random.default_rng(c.seed)
    batch = data[0][1][0]
    rows = c.rows if c.rows is not None else batch
    if not 1 <= rows <= batch:
        raise Failure("case %s: rows = %d, expected 1..%d" % (c.name, rows, batch))
    pv, dv = {}, {}
    for name, shape in params:
        g = c.gen.get(name, cases.normal())
        pv[name] = np.asarray(g(rng, shape), dtype=np.float64).astype(fdtype)
    for name, shape, is_label in data:
        shape = (rows,) + shape[1:]
        if is_label:
            if name not in c.gen:
                raise Failure("case %s: label %s needs a generator such as labels(C)" % (c.name, name))
            dv[name] = np.asarray(c.gen[name](rng, shape)).astype(np.int32)
        else:
            g = c.gen.get(name, cases.normal())
            dv[name] = np.asarray(g(rng, shape), dtype=np.float64).astype(fdtype)
    return pv, dv, rows


def draw_noise(c, fdtype):
    """Values for the case's random tensors (cases.noisy), which the trainer
    takes with --noise NAME=FILE and the torch reference finds by NAME."""
    rng = np.random.default_rng(c.seed + 1)
    out = {}
    for name, (kind, shape) in sorted(getattr(c, "noise", {}).items()):
        a = rng.standard_normal(shape) if kind == "normal" else rng.uniform(0.0, 1.0, shape)
        out[name] = a.astype(fdtype)
    return out


def noise_flags(nv, wd):
    flags = []
    for name, a in nv.items():
        path = os.path.join(wd, "noise_%s.npy" % name)
        np.save(path, a)
        flags += ["--noise", "%s=%s" % (name, path)]
    return flags


class NS:
    def __init__(self, d):
        self.__dict__.update(d)


def torch_reference(c, pv, dv, params, outputs):
    import torch
    torch.set_default_dtype(torch.float64)
    tp = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in pv.items()}
    td = {k: torch.tensor(v.astype(np.int64) if v.dtype == np.int32 else v.astype(np.float64))
          for k, v in dv.items()}
    res = c.ref(NS({**tp, **td}))
    loss, outs = (res if isinstance(res, tuple) else (res, {}))
    if loss.dim() != 0:
        raise Failure("case %s: the torch reference returned a loss of shape %s" % (c.name, tuple(loss.shape)))
    if sorted(outs) != sorted(outputs):
        raise Failure("case %s: the torch reference returns outputs %s but the program declares %s"
                      % (c.name, sorted(outs), sorted(outputs)))
    loss.backward()
    want = {"loss": loss.detach().numpy().copy()}
    for k, o in outs.items():
        want[k] = o.detach().numpy().copy()
    for name, shape in params:
        if name in getattr(c, "frozen", ()):
            continue  # a buffer: dlc computes no gradient for it
        g = tp[name].grad
        want["d_" + name] = np.zeros(shape) if g is None else g.numpy().copy()
    return want


HARNESS_FILES = [os.path.abspath(__file__), os.path.abspath(cases.__file__)]


def ref_inputs(c, dtype):
    """What the PyTorch reference of case c in dtype is computed from:
    (params, params + layer params, inputs and labels, noise, outputs)."""
    fdtype = np.float64 if dtype == "f64" else np.float32
    dims, params, data, outputs = parse_program(c.src)
    params += getattr(c, "layer_params", [])
    pv, dv, rows = draw(c, params, data, fdtype)
    nv = draw_noise(c, fdtype)
    return params, data, pv, dv, rows, nv, outputs


def ref_key(c, dtype, pv, dv, nv):
    """The key of a stored reference: this harness and cases.py, the case,
    the dtype and every number drawn for it."""
    h = hashlib.sha256()
    for path in HARNESS_FILES:
        with open(path, "rb") as f:
            h.update(f.read())
    h.update(("%s\0%s\0" % (c.name, dtype)).encode())
    for group in (pv, dv, nv):
        for k in sorted(group):
            a = np.ascontiguousarray(group[k])
            h.update(("%s %s %s\0" % (k, a.dtype.str, a.shape)).encode())
            h.update(a.tobytes())
    return h.hexdigest()


def stored_reference(c, dtype, refs_dir, key):
    """The reference written by --write-torch-refs, or None (no file, or
    written for other code or other numbers)."""
    path = os.path.join(refs_dir, dtype, c.name + ".npz")
    if not os.path.exists(path):
        return None
    with np.load(path, allow_pickle=False) as z:
        if str(z["_key"]) != key:
            print("note: %s was written for other code or numbers; computing the reference here" % path)
            return None
        want = {k[len("want_"):]: z[k] for k in z.files if k.startswith("want_")}
    print("torch reference: %s (written by run_case.py --write-torch-refs)" % path)
    return want


def write_torch_refs(refs_dir):
    """Every case's PyTorch reference in f64 and f32, one file each."""
    if not torch_available():
        print("PyTorch not available (install python3-torch): no references written; "
              "the ref.* tests compute their own (and skip, or fail with DLC_REQUIRE_TORCH=1)")
        return 0
    import torch
    if os.path.isdir(refs_dir):
        shutil.rmtree(refs_dir)
    written, failed = 0, []
    for dtype in ("f64", "f32"):
        os.makedirs(os.path.join(refs_dir, dtype))
        for c in cases.CASES:
            if c.reject:
                continue
            try:
                params, data, pv, dv, rows, nv, outputs = ref_inputs(c, dtype)
                want = torch_reference(c, pv, {**dv, **nv}, params, outputs)
                arrays = {"want_" + k: v for k, v in want.items()}
                arrays["_key"] = np.array(ref_key(c, dtype, pv, dv, nv))
                path = os.path.join(refs_dir, dtype, c.name + ".npz")
                np.savez(path + ".tmp.npz", **arrays)
                os.replace(path + ".tmp.npz", path)
                written += 1
            except Exception:
                traceback.print_exc()
                failed.append("%s %s" % (dtype, c.name))
    print("PyTorch %s: %d references written to %s" % (torch.__version__, written, refs_dir))
    if failed:
        # those cases compute the reference themselves and fail with its error
        print("not written (the reference raised): %s" % ", ".join(failed))
    return 0


def compare(key, got, want, rtol, atol_fraction=ATOL_FRACTION, floor=0):
    """Returns (ok, message line)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False, "%-12s shape %s, expected %s" % (key, list(got.shape), list(want.shape))
    if got.size == 0:
        return True, "%-12s empty" % key
    # the tensor's own scale: a gradient of 1e-9 is held to 1e-9 * rtol, not to an
    # absolute floor every small value falls under; an all-zero reference wants zeros
    # (up to the smallest normal number of the element type, for f32's flushed denormals)
    scale = float(np.max(np.abs(want)))
    atol = max(rtol * atol_fraction * scale if scale > 0 else np.finfo(np.float32).tiny, floor)
    err = np.abs(got - want)
    bound = atol + rtol * np.abs(want)
    ratio = np.where(np.isfinite(got), err / bound, np.inf)
    rel = float(np.max(err / np.maximum(np.abs(want), atol)))
    worst = np.unravel_index(int(np.argmax(ratio)), got.shape)
    ok = bool(np.all(ratio <= 1.0))
    line = "%-12s %-10s max rel err %.2e, worst %.3g of tolerance" % (
        key, str(list(got.shape)), rel, float(ratio[worst]))
    if not ok:
        line += "\n    worst element %s: dlc %.17g, torch %.17g, |diff| %.3g > %.3g (atol %.3g + rtol %g * |torch|)" % (
            list(map(int, worst)), got[worst], want[worst], err[worst], bound[worst], atol, rtol)
    return ok, line


# ---- running things ----

def run(cmd, cwd, what):
    print("$ " + " ".join(cmd), flush=True)
    try:
        p = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise Failure("%s timed out after 120 s" % what)
    if p.stdout:
        sys.stdout.write(p.stdout if p.stdout.endswith("\n") else p.stdout + "\n")
    return p


def build(c, dlc, dtype, wd, extra):
    dl = os.path.join(wd, c.name + ".dl")
    with open(dl, "w") as f:
        f.write(c.src)
    exe = os.path.join(wd, c.name)
    if os.path.exists(exe):
        os.remove(exe)
    p = run([dlc, dl, "-o", exe, "--dtype", dtype] + extra, wd, "dlc")
    if p.returncode != 0:
        raise Failure("dlc failed to compile %s (exit status %d)" % (dl, p.returncode))
    return exe


class Trainer:
    """The case's trainer: a binary built by dlc, or (via_jit) `dlc run`."""

    def __init__(self, c, args, dtype, wd):
        self.via_jit = args.via_jit
        if self.via_jit:
            self.dl = os.path.join(wd, c.name + ".dl")
            with open(self.dl, "w") as f:
                f.write(c.src)
            self.prefix = [args.dlc, "run", "--dtype", dtype] + args.dlc_arg + [self.dl]
            self.what = "dlc run"
        else:
            self.what = "the trainer"
            self.prefix = [build(c, args.dlc, dtype, wd, args.dlc_arg)]

    def run(self, flags, wd):
        p = run(self.prefix + flags, wd, self.what)
        if self.via_jit and p.returncode == 0 and not re.search(r"compiled in [0-9.]+ s \(LLVM [0-9.]+ JIT", p.stdout):
            raise Failure("dlc run did not say that its LLVM JIT compiled the model (a dlc without the JIT?)")
        return p


def write_inputs(c, pv, dv, data, wd):
    ppath = os.path.join(wd, "params.safetensors")
    st.save(ppath, pv)
    files = []
    for name, _, _ in data:
        path = os.path.join(wd, "in_%s.npy" % name)
        np.save(path, dv[name])
        files.append(path)
    return ppath, ",".join(files)


def torch_available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


def mode_reject(c, args, wd):
    dl = os.path.join(wd, c.name + ".dl")
    with open(dl, "w") as f:
        f.write(c.src)
    p = run([args.dlc, dl, "-o", os.path.join(wd, c.name), "--dtype", args.dtype] + args.dlc_arg, wd, "dlc")
    errors = re.findall(r"^\S+:\d+:\d+: error: .*$", p.stdout, re.M)
    if p.returncode != 1 or "internal error" in p.stdout:
        raise Failure("%s: dlc should reject the program with an error matching %r, but exited with status %d"
                      % (c.name, c.reject, p.returncode))
    if not any(re.search(c.reject, e) for e in errors):
        raise Failure("%s: no error matches %r" % (c.name, c.reject))
    print("case %s: rejected at compile time, as it must be (%s)" % (c.name, c.note))
    return 0


def same_as_smaller(c, args, wd, ppath, batch, rows, dumps, rtol):
    """The program built for a batch of `rows` must give the partial batch's numbers."""
    sub = os.path.join(wd, "smaller")
    os.makedirs(sub, exist_ok=True)
    exe = build(c, args.dlc, args.dtype, sub, args.dlc_arg + ["-D", "%s=%d" % (c.smaller, rows)])
    paths = {k: os.path.join(sub, k + ".safetensors") for k in dumps}
    p = run([exe, "--load", ppath, "--batch-from", batch, "--dump-forward", paths["forward"], "--dump-grads",
             paths["grads"], "--quiet"], sub, "the trainer")
    if p.returncode != 0:
        raise Failure("the trainer built with -D %s=%d failed (exit status %d)" % (c.smaller, rows, p.returncode))
    bad = []
    for kind, got in dumps.items():
        small, _ = st.load(paths[kind])
        for key in sorted(got):
            label = "%s=%d:%s%s" % (c.smaller, rows, "fwd:" if kind == "forward" else "", key)
            if key not in small:
                print("FAIL %-12s missing" % label)
                bad.append(label)
                continue
            ok, line = compare(label, got[key], small[key], rtol)
            print(("ok   " if ok else "FAIL ") + line)
            if not ok:
                bad.append(label)
    return bad


def mode_torch(c, args, wd):
    if c.reject:
        return mode_reject(c, args, wd)
    fdtype = np.float64 if args.dtype == "f64" else np.float32
    rtol = TOL[args.dtype]
    params, data, pv, dv, rows, nv, outputs = ref_inputs(c, args.dtype)
    want = None
    if args.torch_refs:
        want = stored_reference(c, args.dtype, args.torch_refs, ref_key(c, args.dtype, pv, dv, nv))
    if want is None:
        if not torch_available():
            if os.environ.get("DLC_REQUIRE_TORCH", "") not in ("", "0"):
                raise Failure("PyTorch not available (install python3-torch) and DLC_REQUIRE_TORCH is set")
            print("SKIP: PyTorch not available (install python3-torch)")
            return SKIP
        want = torch_reference(c, pv, {**dv, **nv}, params, outputs)
    if args.perturb:
        factor, _, key = args.perturb.partition(":")
        for k in want:
            if not key or k == key:
                want[k] = want[k] * float(factor)
        if key and key not in want:
            raise Failure("--perturb: no tensor %s (have %s)" % (key, ", ".join(want)))
    trainer = Trainer(c, args, args.dtype, wd)
    ppath, batch = write_inputs(c, pv, dv, data, wd)
    gpath = os.path.join(wd, "grads.safetensors")
    fpath = os.path.join(wd, "forward.safetensors")
    for path in (gpath, fpath):
        if os.path.exists(path):
            os.remove(path)
    p = trainer.run(["--load", ppath, "--batch-from", batch, "--dump-forward", fpath, "--dump-grads", gpath,
                     "--quiet"] + noise_flags(nv, wd), wd)
    if p.returncode != 0:
        raise Failure("%s failed (exit status %d)" % (trainer.what, p.returncode))
    got, _ = st.load(gpath)
    fwd, _ = st.load(fpath)
    print("case %s: %s, %d of %d batch rows, rtol %g%s" % (c.name, args.dtype, rows, data[0][1][0], rtol,
                                                          " (%s)" % c.note if c.note else ""))
    bad = []
    # --dump-grads: loss, outputs, gradients; --dump-forward (the eval-mode
    # entry point): loss and outputs, shown as fwd:NAME.
    checks = [(k, k, got, gpath) for k in want]
    checks += [("fwd:" + k, k, fwd, fpath) for k in want if not k.startswith("d_")]
    for label, key, dump, path in checks:
        if key not in dump:
            bad.append(label)
            print("FAIL %-12s missing from %s" % (label, path))
            continue
        floor = getattr(c, "f32_floor", None) if args.dtype == "f32" and key.startswith("d_") else None
        ok, line = compare(label, dump[key], want[key], rtol,
                           ATOL_FRACTION * (getattr(c, "f32_atol", 1) if args.dtype == "f32" else 1),
                           floor=floor[0] if floor else 0)
        if floor:
            line += " (f32 floor %g: %s)" % floor
        # integer results (argmax) are stored as int32
        want_dt = np.dtype(np.int32) if want[key].dtype.kind in "iu" else np.dtype(fdtype)
        if dump[key].dtype != want_dt:
            ok = False
            line += "\n    stored as %s, expected %s" % (dump[key].dtype, want_dt)
        print(("ok   " if ok else "FAIL ") + line)
        if not ok:
            bad.append(label)
    if c.smaller and not args.via_jit:
        bad += same_as_smaller(c, args, wd, ppath, batch, rows, {"grads": got, "forward": fwd}, rtol)
    extra = sorted(set(got) - set(want))
    if extra:
        print("(not compared: %s)" % ", ".join(extra))
    if bad:
        raise Failure("%s: mismatch in %s" % (c.name, ", ".join(bad)), mismatch=True)
    return 0


def mode_gradcheck(c, args, wd):
    if c.reject:
        return mode_reject(c, args, wd)
    if getattr(c, "no_gradcheck", None):
        raise Failure("case %s has no gradient check: %s" % (c.name, c.no_gradcheck))
    if args.dtype != "f64":
        raise Failure("--mode gradcheck runs in f64 only")
    dims, params, data, outputs = parse_program(c.src)
    params += getattr(c, "layer_params", [])
    pv, dv, rows = draw(c, params, data, np.float64)
    trainer = Trainer(c, args, "f64", wd)
    ppath, batch = write_inputs(c, pv, dv, data, wd)
    p = trainer.run(["--load", ppath, "--batch-from", batch, "--gradcheck", "--quiet"]
                    + noise_flags(draw_noise(c, np.float64), wd), wd)
    checked = set(re.findall(r"^gradcheck ([\w.]+):", p.stdout, re.M))
    if p.returncode == 1 and "gradcheck failed" in p.stdout:
        raise Failure("%s: the trainer's gradient check failed" % c.name, mismatch=True)
    if p.returncode != 0:
        raise Failure("%s failed (exit status %d)" % (trainer.what, p.returncode))
    missing = [n for n, _ in params if n not in checked and n not in getattr(c, "frozen", ())]
    if missing:
        raise Failure("the gradient check did not report %s" % ", ".join(missing))
    print("case %s: gradcheck passed for %d params, %d of %d batch rows" % (c.name, len(params), rows,
                                                                              data[0][1][0]))
    return 0


def run_routed(args):
    if os.sep in args.dlc:
        args.dlc = os.path.abspath(args.dlc)
    if not torch_available():
        print("SKIP: PyTorch not available (install python3-torch)")
        return 1 if os.environ.get("DLC_REQUIRE_TORCH", "") not in ("", "0") else SKIP
    base = args.workdir or os.path.join(os.getcwd(), "route-" + args.routed)
    todo = [c for c in cases.ROUTED if c.name.startswith("route.%s." % args.routed)]
    failed = []
    for c in todo:
        wd = os.path.join(base, c.name)
        os.makedirs(wd, exist_ok=True)
        print("==== %s" % c.name, flush=True)
        try:
            mode_torch(c, args, wd)
            print("PASS")
        except Failure as e:
            print("FAIL: %s" % e)
            failed.append(c.name)
        except Exception:
            traceback.print_exc()
            print("FAIL: harness error")
            failed.append(c.name)
    print("route %s: %d cases, %d matched PyTorch or were rejected as expected, %d failed%s"
          % (args.routed, len(todo), len(todo) - len(failed), len(failed),
             (": " + " ".join(failed)) if failed else ""))
    return 1 if failed else 0


def mode_hvpcheck(c, args, wd):
    """The case's loss trained by Newton: `trainer --load --batch-from --hvpcheck` compares its
    Hessian-vector product with central differences of the gradient (f64).  A case in
    cases.FIRST_ORDER must instead be refused by dlc with its reason."""
    if c.reject:
        return mode_reject(c, args, wd)
    if args.dtype != "f64":
        raise Failure("--mode hvpcheck runs in f64 only")
    dims, params, data, outputs = parse_program(c.src)
    params += getattr(c, "layer_params", [])
    pv, dv, rows = draw(c, params, data, np.float64)
    newton = copy.copy(c)
    # A loss linear in the output o (sum(o * R)) has no curvature through o: the
    # gradient rules' dependence on the incoming gradient would go unchecked (and
    # linear ops would compare zero with zero).  0.5 sum(o * o) gives it some.
    src = c.src
    if re.search(r"^output o = ", src, re.M) and not re.search(r"\b(argmax|one_hot|step|sign)\(", src):
        src = re.sub(r"^loss (.*)$", lambda m: "loss " + m.group(1) + " + 0.5 * sum(o * o)", src, count=1,
                     flags=re.M)
    newton.src = src + "\ntrain { optimizer = newton(damping = 1) }\n"
    refused = cases.FIRST_ORDER.get(c.name)
    if refused:
        dl = os.path.join(wd, c.name + ".dl")
        with open(dl, "w") as f:
            f.write(newton.src)
        p = run([args.dlc, dl, "-o", os.path.join(wd, c.name), "--dtype", "f64"], wd, "dlc")
        if p.returncode != 1 or "internal error" in p.stdout or not re.search(refused, p.stdout):
            raise Failure("dlc should refuse newton on %s with an error matching %r (exit status %d)"
                          % (c.name, refused, p.returncode))
        print("case %s: newton refused, as it should be: %s" % (c.name, refused))
        return 0
    trainer = Trainer(newton, args, "f64", wd)
    ppath, batch = write_inputs(c, pv, dv, data, wd)
    p = trainer.run(["--load", ppath, "--batch-from", batch, "--hvpcheck", "--quiet"]
                    + noise_flags(draw_noise(c, np.float64), wd), wd)
    m = re.search(r"^hvpcheck: (\d+) parameters, .*\(([0-9.e+-]+) relative;", p.stdout, re.M)
    if p.returncode == 1 and "hvpcheck failed" in p.stdout:
        raise Failure("%s: the Hessian-vector product differs from finite differences of the gradient" % c.name,
                      mismatch=True)
    if p.returncode != 0 or not m:
        raise Failure("%s failed (exit status %d)" % (trainer.what, p.returncode))
    print("case %s: hvpcheck passed, %s parameters, relative error %s" % (c.name, m.group(1), m.group(2)))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("case", nargs="?")
    ap.add_argument("--list", action="store_true", help="print the case names, one a line")
    ap.add_argument("--list-gradcheck", action="store_true",
                    help="print the names of the cases that have a gradient check, one a line")
    ap.add_argument("--list-hvpcheck", action="store_true",
                    help="print the names of the cases that have a Hessian-vector product check, one a line")
    ap.add_argument("--routed", choices=cases.ROUTES, help="run every routed case of this route")
    ap.add_argument("--list-routed", action="store_true",
                    help="print the names of the generated routed cases (cases.ROUTED), one a line")
    ap.add_argument("--dlc", help="the dlc compiler")
    ap.add_argument("--dtype", choices=["f64", "f32"], default="f64")
    ap.add_argument("--mode", choices=["torch", "gradcheck", "hvpcheck"], default="torch")
    ap.add_argument("--dlc-arg", action="append", default=[], metavar="ARG",
                    help="pass ARG to dlc too (repeatable), e.g. --dlc-arg=-O0")
    ap.add_argument("--via-jit", action="store_true",
                    help="run the trainer flags through `dlc run` (the LLVM JIT) instead of a built trainer")
    ap.add_argument("--workdir", help="directory for the case's files (default: ./ref-CASE)")
    ap.add_argument("--perturb", metavar="FACTOR[:KEY]",
                    help="scale the torch reference (or only tensor KEY); implies --negative")
    ap.add_argument("--negative", action="store_true",
                    help="expect a mismatch: exit 1 only if one is found, else 0 (for WILL_FAIL tests)")
    ap.add_argument("--check-torch", action="store_true",
                    help="exit 0 if PyTorch imports, else 77 (1 with DLC_REQUIRE_TORCH=1)")
    ap.add_argument("--torch-refs", metavar="DIR",
                    help="mode torch: take the PyTorch reference from DIR (see --write-torch-refs) when it is there")
    ap.add_argument("--write-torch-refs", metavar="DIR",
                    help="compute every case's PyTorch reference (f64 and f32) and write them to DIR")
    args = ap.parse_args()

    if args.list or args.list_routed:
        for c in (cases.CASES if args.list else cases.ROUTED):
            print(c.name)
        return 0
    if args.list_gradcheck:
        for c in cases.CASES:
            if not getattr(c, "no_gradcheck", None):
                print(c.name)
        return 0
    if args.list_hvpcheck:
        for c in cases.CASES:
            if not getattr(c, "no_gradcheck", None) and c.name not in cases.NO_HVPCHECK:
                print(c.name)
        return 0
    if args.check_torch:
        if torch_available():
            import torch
            print("PyTorch %s" % torch.__version__)
            return 0
        if os.environ.get("DLC_REQUIRE_TORCH", "") not in ("", "0"):
            print("FAIL: PyTorch not available (install python3-torch) and DLC_REQUIRE_TORCH is set")
            return 1
        print("SKIP: PyTorch not available (install python3-torch)")
        return SKIP
    if args.write_torch_refs:
        return write_torch_refs(args.write_torch_refs)
    if args.routed and args.dlc:
        return run_routed(args)
    if not args.case or not args.dlc:
        ap.error("give a CASE and --dlc (or --list)")
    c = cases.get(args.case)
    if c is None:
        ap.error("no case named %r (see --list)" % args.case)
    if os.sep in args.dlc:
        args.dlc = os.path.abspath(args.dlc)  # dlc runs in the work directory
    negative = args.negative or bool(args.perturb)
    wd = args.workdir or os.path.join(os.getcwd(), "ref-" + c.name)
    os.makedirs(wd, exist_ok=True)
    try:
        rc = {"torch": mode_torch, "gradcheck": mode_gradcheck, "hvpcheck": mode_hvpcheck}[args.mode](c, args, wd)
    except Failure as e:
        print("FAIL: %s" % e)
        if negative:
            if e.mismatch:
                print("(negative test: the mismatch was detected, as it should be)")
                return 1
            print("(negative test: this failure is not the expected mismatch, so exit 0 to fail the test)")
            return 0
        return 1
    except Exception:
        traceback.print_exc()
        print("FAIL: harness error")
        if negative:
            print("(negative test: this failure is not the expected mismatch, so exit 0 to fail the test)")
            return 0
        return 1
    if rc == 0:
        print("PASS" if not negative else "(negative test: no mismatch found, so exit 0 to fail the test)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
