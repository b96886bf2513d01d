#!/usr/bin/env python3
"""Data-parallel training under mpirun (runtime/dist.c, runtime/mpi/dlrt_mpi.c).

Each case builds its trainers with dlc (--mpi for the ranks) and compares what
P ranks compute after 20 steps with one process:
  exact    mpirun -np P --exact-reduce against one process --shards P: the
           same bytes in the checkpoint (f32); the trainer built without --mpi
           links no MPI library
  reduce   mpirun -np P (MPI_Allreduce) against one process with the whole
           batch, in f64: every parameter and optimizer state within 1e-6
           relative (the largest difference over the tensor's largest value)
  resume   a checkpoint of 10 steps from P ranks resumed in one process, and
           one from one process resumed by P ranks, end where 20 steps in one
           go end (bytes)
  killed   one rank killed by SIGKILL: mpirun stops the others (bounded)
  fails    one rank cannot read its data: every rank stops with its message
  mismatch ranks that run different models (or flags) refuse to start
  run      dlc run under mpirun: the JIT-compiled trainer, exact mode, against
           dlc run --shards P
  refused  a model whose step is not gradients then an update (batch-norm
           statistics), or whose loss sums over the rows (tests/mpi/sum_loss.dl),
           refuses --shards with the reason
Exit 77 (skip) when this dlc has no MPI; under DLC_NO_SKIPS that fails."""
import argparse
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))
import safetensors_raw  # noqa: E402
STEPS = "20"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(cmd, timeout=300, env=None, ok=True, cwd=None):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    except subprocess.TimeoutExpired:
        fail("%s: no exit within %d s" % (" ".join(cmd), timeout))
    dt = time.time() - t0
    if ok and p.returncode != 0:
        fail("%s: exit %d\n%s%s" % (" ".join(cmd), p.returncode, p.stdout[-3000:], p.stderr[-3000:]))
    return p, dt


def mpi_env():
    env = dict(os.environ)
    # root in a container; more ranks than cores
    env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    # Open MPI keeps memory to the end of the process: no leak report
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
    return env


def mpirun(args, P, cmd, **kw):
    return run([args.mpirun, "--oversubscribe", "-np", str(P)] + cmd, env=mpi_env(), **kw)


def load(path):
    """{name: array} of a checkpoint (tests/safetensors_raw.py reads it)"""
    import numpy as np
    types = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "U8": np.uint8}
    return {k: np.frombuffer(raw, dtype=types[dt]) for k, (dt, _, raw) in safetensors_raw.read(path)[1].items()}


def same_bytes(a, b, what):
    ta, tb = load(a), load(b)
    if sorted(ta) != sorted(tb):
        fail("%s: the checkpoints hold different tensors" % what)
    for k in ta:
        if ta[k].tobytes() != tb[k].tobytes():
            import numpy as np
            d = np.abs(ta[k].astype(np.float64) - tb[k].astype(np.float64))
            fail("%s: %s differs (%d of %d elements, largest difference %.3g)" %
                 (what, k, int((d > 0).sum()), d.size, float(d.max())))
    print("%s: %d tensors, the same bytes" % (what, len(ta)))


def close(a, b, what, tol):
    import numpy as np
    ta, tb = load(a), load(b)
    worst, at = 0.0, ""
    for k in ta:
        if ta[k].dtype.kind != "f":
            continue
        scale = float(np.max(np.abs(ta[k]))) or 1.0
        r = float(np.max(np.abs(ta[k] - tb[k]))) / scale
        if r > worst:
            worst, at = r, k
    print("%s: largest relative difference %.3g (%s), bound %g" % (what, worst, at, tol))
    if not worst <= tol:
        fail("%s: %s differs by %.3g relative, more than %g" % (what, at, worst, tol))


def source(model):
    """examples/MODEL.dl, or tests/mpi/MODEL.dl"""
    path = os.path.join(ROOT, "examples", model + ".dl")
    return path if os.path.exists(path) else os.path.join(HERE, model + ".dl")


def build(args, model, out, mpi, extra=()):
    cmd = [args.dlc] + (["--mpi"] if mpi else []) + list(extra) + [source(model), "-o", out]
    run(cmd)
    return out


def case_exact(args, model, P):
    w = args.workdir
    one = build(args, model, os.path.join(w, model), False)
    par = build(args, model, os.path.join(w, model + "_mpi"), True)
    libs = run(["ldd", one])[0].stdout
    if "mpi" in libs:
        fail("a trainer built without --mpi links MPI:\n" + libs)
    if "libmpi" not in run(["ldd", par])[0].stdout:
        fail("the trainer built with --mpi does not link MPI")
    run([one, "--steps", STEPS, "--shards", str(P), "--quiet", "--save", os.path.join(w, "one.st")])
    p, _ = mpirun(args, P, [par, "--steps", STEPS, "--exact-reduce", "--save", os.path.join(w, "par.st")])
    if "mpi: %d ranks, gradients gathered and summed in rank order" % P not in p.stdout:
        fail("no report of the ranks in:\n" + p.stdout)
    if p.stdout.count("train:") != 1:
        fail("every rank printed (rank 0 alone should):\n" + p.stdout)
    same_bytes(os.path.join(w, "one.st"), os.path.join(w, "par.st"),
               "%s, %d ranks --exact-reduce against --shards %d" % (model, P, P))


def case_reduce(args, model, P):
    w = args.workdir
    one = build(args, model, os.path.join(w, model), False, ["--dtype", "f64"])
    par = build(args, model, os.path.join(w, model + "_mpi"), True, ["--dtype", "f64"])
    run([one, "--steps", STEPS, "--quiet", "--save", os.path.join(w, "one.st")])
    mpirun(args, P, [par, "--steps", STEPS, "--quiet", "--save", os.path.join(w, "par.st")])
    close(os.path.join(w, "one.st"), os.path.join(w, "par.st"),
          "%s f64, %d ranks (MPI_Allreduce) against one process with the whole batch" % (model, P), 1e-6)


def case_resume(args, model, P):
    w = args.workdir
    one = build(args, model, os.path.join(w, model), False)
    par = build(args, model, os.path.join(w, model + "_mpi"), True)
    st = lambda n: os.path.join(w, n + ".st")
    sh = ["--shards", str(P)]
    run([one, "--steps", STEPS, "--quiet", "--save", st("whole")] + sh)
    # ranks to one process
    mpirun(args, P, [par, "--steps", "10", "--exact-reduce", "--quiet", "--save", st("par10")])
    run([one, "--load", st("par10"), "--steps", STEPS, "--quiet", "--save", st("one20")] + sh)
    same_bytes(st("whole"), st("one20"), "%d ranks for 10 steps, then one process to 20" % P)
    # one process to ranks
    run([one, "--steps", "10", "--quiet", "--save", st("one10")] + sh)
    mpirun(args, P, [par, "--load", st("one10"), "--steps", STEPS, "--exact-reduce", "--quiet", "--save",
                     st("par20")])
    same_bytes(st("whole"), st("par20"), "one process for 10 steps, then %d ranks to 20" % P)


def rank_script(w, body):
    """A launcher: rank 0 execs the trainer; rank 1 runs `body` first."""
    path = os.path.join(w, "rank.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\nif [ \"${OMPI_COMM_WORLD_RANK:-0}\" = 1 ]; then\n%s\nfi\nexec \"$@\"\n" % body)
    os.chmod(path, 0o755)
    return path


def case_killed(args, model, P):
    w = args.workdir
    par = build(args, model, os.path.join(w, model + "_mpi"), True)
    # rank 1 kills itself (the trainer: exec keeps the pid) after 2 s
    sh = rank_script(w, "(sleep 2; kill -9 $$) &")
    p, dt = mpirun(args, P, [sh, par, "--epochs", "50", "--progress", "never"], timeout=120, ok=False)
    print("killed rank: exit %d after %.1f s" % (p.returncode, dt))
    if p.returncode == 0:
        fail("the run ended well though rank 1 was killed:\n" + p.stdout[-2000:])
    if dt > 60:
        fail("the other ranks took %.0f s to stop" % dt)
    if "signal 9" not in p.stderr and "Killed" not in p.stderr:
        fail("no word of the killed rank:\n" + p.stderr[-2000:])


def case_fails(args, model, P):
    w = args.workdir
    par = build(args, model, os.path.join(w, model + "_mpi"), True)
    # rank 1 runs in a directory without the data file
    os.makedirs(os.path.join(w, "elsewhere"), exist_ok=True)
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz"):
        dst = os.path.join(w, f)
        f = os.path.join("/usr/share/datasets/fashion-mnist", f)
        if not os.path.exists(dst):
            os.symlink(f, dst)
    sh = rank_script(w, "cd elsewhere")
    p, dt = mpirun(args, P, [sh, par, "--train", "train-images-idx3-ubyte.gz,train-labels-idx1-ubyte.gz",
                             "--data", ".", "--epochs", "50"], timeout=120, ok=False, cwd=w)
    print("failing rank: exit %d after %.1f s" % (p.returncode, dt))
    if p.returncode == 0:
        fail("the run ended well though rank 1 could not read its data")
    if dt > 60:
        fail("the other ranks took %.0f s to stop" % dt)
    for want in ("dlrt (rank 1): ", "-idx3-ubyte.gz: cannot open", "rank 1 failed (exit status 1): stopping all"):
        if want not in p.stderr:
            fail("no %r in:\n%s" % (want, p.stderr[-3000:]))


def case_mismatch(args, model, P):
    w = args.workdir
    par = build(args, model, os.path.join(w, model + "_mpi"), True)
    other = build(args, model, os.path.join(w, model + "_b32"), True, ["-D", "B=32"])
    sh = rank_script(w, "set -- %s \"$2\" \"$3\"" % other)
    p, _ = mpirun(args, P, [sh, par, "--steps", "5"], timeout=120, ok=False)
    if p.returncode == 0 or "rank 1 runs another model than rank 0" not in p.stderr:
        fail("ranks of two models trained together:\n" + p.stdout[-2000:] + p.stderr[-2000:])
    print("another model on rank 1:", p.stderr.strip().splitlines()[0])
    sh = rank_script(w, "set -- \"$1\" --steps 6")
    p, _ = mpirun(args, P, [sh, par, "--steps", "5"], timeout=120, ok=False)
    if p.returncode == 0 or "rank 1 runs other flags than rank 0" not in p.stderr:
        fail("ranks with different flags trained together:\n" + p.stdout[-2000:] + p.stderr[-2000:])
    print("other flags on rank 1:", p.stderr.strip().splitlines()[0])


def case_run(args, model, P):
    w = args.workdir
    src = source(model)
    env = dict(os.environ, DLC_JIT_CACHE_DIR=os.path.join(w, "cache"))
    run([args.dlc, "run", src, "--steps", STEPS, "--shards", str(P), "--quiet", "--save",
         os.path.join(w, "one.st")], env=env)
    env = mpi_env()
    env["DLC_JIT_CACHE_DIR"] = os.path.join(w, "cache")
    p, _ = run([args.mpirun, "--oversubscribe", "-np", str(P), args.dlc, "run", src, "--steps", STEPS,
                "--exact-reduce", "--save", os.path.join(w, "par.st")], env=env)
    if "mpi: %d ranks" % P not in p.stdout:
        fail("dlc run under mpirun trained alone:\n" + p.stdout)
    same_bytes(os.path.join(w, "one.st"), os.path.join(w, "par.st"),
               "dlc run, %d ranks --exact-reduce against --shards %d" % (P, P))


def case_refused(args, model, P):
    w = args.workdir
    one = build(args, model, os.path.join(w, model), False)
    p, _ = run([one, "--steps", "2", "--shards", str(P)], ok=False)
    want = ("cannot train with --shards: its loss is not a mean over the batch's rows" if model == "sum_loss" else
            "cannot train with --shards: its training step is not its gradients followed by an update")
    if p.returncode != 1 or want not in p.stderr:
        fail("exit %d, expected 1 and %r:\n%s" % (p.returncode, want, p.stderr))
    print(p.stderr.strip())


CASES = {"exact": case_exact, "reduce": case_reduce, "resume": case_resume, "killed": case_killed,
         "fails": case_fails, "mismatch": case_mismatch, "run": case_run, "refused": case_refused}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--mpirun", default="")
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--workdir", required=True)
    args = ap.parse_args()
    if args.case != "refused" and (not args.mpirun or not shutil.which(args.mpirun)):
        print("SKIP: no mpirun (this dlc was built without MPI: apt-get install openmpi-bin libopenmpi-dev)")
        sys.exit(77)
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        print("SKIP: no Fashion-MNIST (scripts/setup.sh installs it)")
        sys.exit(77)
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    CASES[args.case](args, args.model, args.np)
    print("ok")


if __name__ == "__main__":
    main()
