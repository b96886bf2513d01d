#!/usr/bin/python3
"""bench/run.py - dlc next to PyTorch and OpenBLAS, in one run on one machine.

Workloads (defined in bench/README.md):
  W-MLP    examples/mlp.dl     vs bench/torch_mlp.py     1 epoch of Fashion-MNIST
  W-LeNet  examples/lenet5.dl  vs bench/torch_lenet.py   1 epoch of Fashion-MNIST
  W-GEMM   bench/gemm.dl + bench/dlc_gemm_harness.c  vs  OpenBLAS cblas_sgemm
           (bench/gemm_bench.c), at 1024^3, 256^3 and 64x512x784, at each
           thread count of --threads; gcc's naive i-k-j loop at 1 thread

What it does, in order:
  1. builds dlc (CMake, Release) into --build-dir, then the trainers and the GEMM
     programs into BUILD_DIR/bench/;
  2. runs every training configuration --reps times, alternating the systems
     (dlc, PyTorch, dlc, PyTorch, ...; reversed on every other rep) so that both
     share the machine's noise; each run is a fresh process whose peak RSS comes
     from wait4(2); before each run it waits (--wait-idle) for other processes
     to leave the CPUs, and it records how busy they kept them;
  3. runs the GEMM programs the same way, at each thread count T: the dlc
     harness with THREADS=T (dlrt_set_threads, capped at the model's
     max_threads), OpenBLAS with OPENBLAS_NUM_THREADS=T; the naive loop at 1
     thread only; the FMA peak (gemm_bench peak T) is measured once per rep at
     1, 2 and every T (the best run is that thread count's peak), and each
     GFLOP/s figure is set against the peak at its own thread count;
  4. prints Markdown tables of the medians and writes every raw number to a JSON
     file (and the tables to a .md file beside it).

Threads: dlc gets `--threads N` only if its trainer's --help lists the flag;
otherwise its 2-thread rows run at 1 thread and say so.  W-GEMM records the
thread count each program reports it used (dlc's harness, OpenBLAS's
openblas_get_num_threads) and the table notes any that differ from T.
PyTorch at 2 threads is run in three settings (OpenMP 2 + OpenBLAS 2,
OpenMP 2 + OpenBLAS 1, OpenMP 1 + OpenBLAS 2: the two pools fight on two
cores) and the best median is the one compared.

Standard library only.  PyTorch runs under /usr/bin/python3 (Debian's
python3-torch), as a subprocess.  Missing pieces are skipped with a note:
no torch -> dlc columns only; no OpenBLAS -> no OpenBLAS/peak figures.

Two commits: --baseline REV also builds dlc at REV (git archive, as --rev)
and runs its trainers and GEMM harnesses as one more system, "dlc@REV",
alternating with the others; the first tables then give dlc / dlc@REV (new /
old speed) per workload, and --no-torch leaves PyTorch out.

usage: /usr/bin/python3 bench/run.py [--reps 3] [--quick] [--only mlp,lenet,gemm]
       [--baseline REV [--no-torch]]   (--help for the rest)
"""
import argparse
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)

WORKLOADS = {
    "mlp": {"name": "W-MLP", "dl": "examples/mlp.dl", "torch": "torch_mlp.py"},
    "lenet": {"name": "W-LeNet", "dl": "examples/lenet5.dl", "torch": "torch_lenet.py"},
}
GEMM_SIZES = [(1024, 1024, 1024), (256, 256, 256), (64, 512, 784)]  # M, N, K
# PyTorch settings at 2 threads: (label, script flags)
TORCH_2T = [
    ("omp2+blas2", ["--threads", "2"]),
    ("omp2+blas1", ["--threads", "2", "--blas-threads", "1"]),
    ("omp1+blas2", ["--threads", "1", "--blas-threads", "2"]),
]
# Inherited settings that would change what OpenBLAS does (as run_gemm.sh).
SCRUB_ENV = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
             "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GOTO_NUM_THREADS"]


def log(msg):
    print("[bench %s] %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


# ---------------------------------------------------------------- processes

def cpu_busy_ticks():
    """Busy and total jiffies of the whole machine (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v[:8]) - idle, sum(v[:8])
    except (OSError, ValueError, IndexError):
        return None


def run_child(cmd, env=None, cwd=None, timeout=900):
    """Run cmd (a list) as a fresh process; stdout+stderr captured.

    Returns rc, wall time, that child's own peak RSS and CPU time (wait4), and
    other_cpu: the share of the machine's CPU time that went to *other*
    processes while it ran (a noise indicator: 0 = the machine was ours)."""
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    ncpu = os.cpu_count() or 1
    b0 = cpu_busy_ticks()
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        try:
            p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        except OSError as e:
            return {"cmd": cmd, "rc": None, "error": str(e), "output": ""}
        timed_out = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - t0 > timeout:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                timed_out = True
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
    b1 = cpu_busy_ticks()
    res = {
        "cmd": cmd,
        "rc": p.returncode,
        "timed_out": timed_out,
        "wall_s": round(wall, 3),
        "maxrss_kib": ru.ru_maxrss,
        "cpu_user_s": round(ru.ru_utime, 3),
        "cpu_sys_s": round(ru.ru_stime, 3),
        "output": text,
    }
    if b0 and b1 and wall > 0:
        busy = (b1[0] - b0[0]) / hz
        other = max(0.0, busy - ru.ru_utime - ru.ru_stime)
        res["other_cpu"] = round(other / (wall * ncpu), 3)
    return res


def others_busy(seconds=1.0):
    """Share of the machine's CPU busy over `seconds` (this script sleeps meanwhile)."""
    b0 = cpu_busy_ticks()
    time.sleep(seconds)
    b1 = cpu_busy_ticks()
    if not b0 or not b1 or b1[1] == b0[1]:
        return 0.0
    return (b1[0] - b0[0]) / (b1[1] - b0[1])


def wait_for_quiet(args, stats):
    """Before a run: wait (up to --wait-idle seconds) until other processes use
    less than --idle-threshold of the machine's CPU.  Returns the busy share
    seen last and the seconds waited."""
    t0 = time.time()
    limit = min(args.wait_idle, max(0.0, args.max_wait_total - stats.get("waited_s", 0)))
    busy = others_busy(0.5)
    while busy > args.idle_threshold and time.time() - t0 < limit:
        busy = others_busy(2.0)
    waited = time.time() - t0
    stats["waited_s"] = stats.get("waited_s", 0) + waited
    if busy > args.idle_threshold:
        stats["started_busy"] = stats.get("started_busy", 0) + 1
    return round(busy, 3), round(waited, 1)


def clean_env(extra=None):
    env = dict(os.environ)
    for k in SCRUB_ENV:
        env.pop(k, None)
    env.update(extra or {})
    return env


def sh(cmd, cwd=None):
    """Quick helper command: stdout text, or '' if it fails."""
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def tail(text, n=15):
    return "\n".join(text.strip().splitlines()[-n:])


def oneline(text, n=2):
    """The last n lines of text as one line, for notes."""
    return " ".join(tail(text, n).split())


# ---------------------------------------------------------------- machine

def machine_info(python, torch=True):
    info = {
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "hostname": platform.node(),
        "kernel": platform.release(),
        "cpu_count": os.cpu_count(),
        "loadavg_start": open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None,
    }
    lscpu = sh(["lscpu"])
    for key, name in [("Model name", "cpu_model"), ("Core(s) per socket", "cores_per_socket"),
                      ("Socket(s)", "sockets"), ("Thread(s) per core", "threads_per_core"),
                      ("Hypervisor vendor", "hypervisor"), ("L2 cache", "l2"), ("L3 cache", "l3")]:
        m = re.search(r"^%s:\s*(.+)$" % re.escape(key), lscpu, re.M)
        info[name] = m.group(1).strip() if m else None
    flags = re.search(r"^Flags:\s*(.+)$", lscpu, re.M)
    info["avx512f"] = bool(flags and "avx512f" in flags.group(1).split())
    info["gcc"] = sh(["gcc", "--version"]).splitlines()[0] if sh(["gcc", "--version"]) else None
    info["cmake"] = (sh(["cmake", "--version"]).splitlines() or [None])[0]
    info["dlc_commit"] = sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT) or None
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT)
    info["dlc_tree_modified_files"] = len(dirty.splitlines()) if dirty else 0
    for lib in ["/usr/lib/x86_64-linux-gnu/libblas.so.3", "/lib/x86_64-linux-gnu/libblas.so.3"]:
        if os.path.exists(lib):
            info["system_libblas_so3"] = os.path.realpath(lib)
            break
    if not torch:
        info["torch"] = None
        info["torch_skipped"] = True
        return info
    r = run_child([python, "-c", "import torch, numpy; print(torch.__version__, numpy.__version__)"],
                  timeout=120)
    if r.get("rc") == 0:
        tv, nv = r["output"].split()[-2:]
        info["torch"], info["numpy"] = tv, nv
    else:
        info["torch"] = None
        info["torch_error"] = tail(r.get("output", "") or r.get("error", ""), 3)
    return info


# ---------------------------------------------------------------- builds

def export_commit(rev, build_dir, flag="--rev"):
    """A clean copy of commit REV to build from: `git archive` into
    BUILD_DIR/src-<sha12> (reused when it is already there).  Returns (sha, path)."""
    sha = sh(["git", "rev-parse", "--verify", rev + "^{commit}"], cwd=ROOT)
    if not sha:
        sys.exit("bench: %s %s: not a commit" % (flag, rev))
    src = os.path.join(build_dir, "src-" + sha[:12])
    if not os.path.exists(os.path.join(src, "CMakeLists.txt")):
        os.makedirs(build_dir, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix="src-" + sha[:12] + ".", dir=build_dir)
        git = subprocess.Popen(["git", "archive", "--format=tar", sha], cwd=ROOT, stdout=subprocess.PIPE)
        tar = subprocess.run(["tar", "-x", "-C", tmp], stdin=git.stdout)
        git.stdout.close()
        if git.wait() != 0 or tar.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            sys.exit("bench: exporting %s failed" % rev)
        if os.path.exists(src):
            shutil.rmtree(src)
        os.rename(tmp, src)
    return sha, src


def export_rev(args, info):
    """--rev REV: a clean copy of that commit to build from (git archive)."""
    sha, src = export_commit(args.rev, args.build_dir)
    info["dlc_commit"] = sha[:12]
    info["dlc_tree_modified_files"] = 0
    info["dlc_source"] = "git archive %s (%s)" % (args.rev, sha)
    return src


def commit_build_dir(build_dir, src):
    """Where an exported commit's dlc is built: BUILD_DIR/dlc-src-<sha12>."""
    return os.path.join(build_dir, "dlc-" + os.path.basename(src))


def cmake_dlc(src, bdir, skip_build=False, cmake_flags=()):
    """Configure and build dlc (and its runtime) from SRC into BDIR, CMake
    Release without sanitizers; returns the path of the dlc executable."""
    if not skip_build:
        log("building dlc from %s into %s" % (src, bdir))
        r = run_child(["cmake", "-S", src, "-B", bdir, "-DCMAKE_BUILD_TYPE=Release",
                       "-DDLC_SANITIZE=OFF"] + list(cmake_flags), timeout=600)
        if r["rc"] == 0:
            r = run_child(["cmake", "--build", bdir, "-j%d" % (os.cpu_count() or 2),
                           "--target", "dlc", "dlrt"], timeout=1200)
        if r["rc"] != 0:
            sys.exit("bench: building dlc from %s failed:\n%s" % (src, tail(r["output"], 30)))
    dlc = os.path.join(bdir, "dlc")
    if not os.path.exists(dlc):
        sys.exit("bench: %s not found (build it, or drop --skip-build)" % dlc)
    return dlc


def build_dlc(args, notes):
    bdir = commit_build_dir(args.build_dir, args.src) if args.rev else args.build_dir
    return cmake_dlc(args.src, bdir, args.skip_build)


def dlc_build(dlc, args, src, out, dims=(), cflags=""):
    """dlc SRC -o OUT, with dim overrides, the user's --cc and both sets of cflags."""
    cmd = [dlc]
    for d in dims:
        cmd += ["-D", d]
    cmd += [src, "-o", out]
    if args.cc:
        cmd += ["--cc", args.cc]
    flags = " ".join(x for x in [cflags, args.cflags] if x)
    if flags:
        cmd += ["--cflags", flags]
    r = run_child(cmd, timeout=600)
    r["build_cmd"] = cmd
    return r


# ---------------------------------------------------------------- training

TRAIN_RE = re.compile(r"train: (\d+) epochs?, (\d+) steps, (\d+) images in ([\d.]+) s, "
                      r"([\d.]+) images/s, final loss ([\d.naninf-]+)")
TEST_RE = re.compile(r"test: loss ([\d.naninf-]+), accuracy ([\d.]+)% \((\d+) images\)")


def parse_dlc(res):
    m, t = TRAIN_RE.search(res["output"]), TEST_RE.search(res["output"])
    if res["rc"] != 0 or not m:
        return None
    out = {"images_per_s": float(m.group(5)), "train_time_s": float(m.group(4)),
           "steps": int(m.group(2)), "images": int(m.group(3)), "train_loss": float(m.group(6))}
    if t:
        out["test_acc"] = float(t.group(2)) / 100.0
    return out


def parse_torch(res):
    if res["rc"] != 0:
        return None
    for line in reversed(res["output"].splitlines()):
        if line.startswith("{"):
            try:
                j = json.loads(line)
            except ValueError:
                continue
            return {"images_per_s": j["images_per_s"], "train_time_s": j["train_time_s"],
                    "train_loss": j["train_loss"], "test_acc": j["test_acc"],
                    "threadpools": j.get("threadpools", []), "raw": j}
    return None


def dlc_variants(args, dlc):
    """The dlc builds a run compares: the one benchmarked ("dlc": the working
    tree or --rev) and, with --baseline, the baseline commit's ("dlc@REV")."""
    vs = [{"system": "dlc", "dlc": dlc, "src": args.src, "suffix": "", "threads_key": "dlc_has_threads"}]
    if args.baseline:
        vs.append({"system": args.baseline_label, "dlc": args.baseline_dlc, "src": args.baseline_src,
                   "suffix": "@" + args.baseline_sha[:12], "threads_key": "baseline_has_threads"})
    return vs


def training(args, dlc, info, notes, records):
    work = os.path.join(args.build_dir, "bench")
    os.makedirs(work, exist_ok=True)
    have_torch = info.get("torch") is not None and not args.no_torch
    if not have_torch and not args.no_torch:
        notes.append("PyTorch not importable by %s (%s): dlc columns only."
                     % (args.python, oneline(info.get("torch_error", "") or "?")))
    plans = {}
    variants = dlc_variants(args, dlc)
    for v in variants:
        records[v["threads_key"]] = False
    for key in args.workloads:
        if key not in WORKLOADS:
            continue
        w = WORKLOADS[key]
        built = []  # (variant, exe, has_threads)
        for v in variants:
            exe = os.path.join(work, key + v["suffix"])
            log("%s: building the %s trainer" % (v["system"], w["name"]))
            b = dlc_build(v["dlc"], args, os.path.join(v["src"], w["dl"]), exe)
            records["builds"].append({"what": w["name"] + ("" if v["system"] == "dlc" else " (%s)" % v["system"]),
                                      "cmd": b["build_cmd"], "rc": b["rc"],
                                      "wall_s": b.get("wall_s"), "output": tail(b["output"], 20)})
            if b["rc"] != 0:
                notes.append("%s: %s failed to build the trainer: %s"
                             % (w["name"], v["system"], oneline(b["output"], 3)))
                continue
            has_threads = "--threads" in run_child([exe, "--help"], timeout=60)["output"]
            records[v["threads_key"]] = bool(has_threads)
            built.append((v, exe, has_threads))
        runs = []  # one rep's list of (system, threads, setting, cmd, env)
        for t in args.threads:
            for v, exe, has_threads in built:
                cmd = [exe, "--epochs", str(args.epochs), "--progress", "never", "--seed", str(args.seed)]
                actual = 1
                if has_threads:
                    cmd += ["--threads", str(t)]
                    actual = t
                runs.append((v["system"], t, "threads=%d" % actual if has_threads else "single-threaded",
                             cmd, clean_env()))
            if have_torch:
                script = os.path.join(BENCH, w["torch"])
                base = [args.python, script, "--epochs", str(args.epochs), "--seed", str(args.seed)]
                if t == 1:
                    settings = [("omp1+blas1", ["--threads", "1"])]
                elif t == 2:
                    settings = [x for x in TORCH_2T if x[0] in args.torch2]
                else:
                    settings = [("omp%d+blas%d" % (t, t), ["--threads", str(t)])]
                for label, flags in settings:
                    runs.append(("pytorch", t, label, base + flags, clean_env()))
            if args.anchors and t == 1:
                # the modern anchors, from the virtual environment's interpreter
                common = ["--epochs", str(args.epochs), "--seed", str(args.seed), "--threads", "1"]
                runs.append(("pytorch2-eager", t, "omp1+blas1",
                             [args.anchors, os.path.join(BENCH, w["torch"])] + common, clean_env()))
                runs.append(("torch.compile", t, "omp1+blas1",
                             [args.anchors, os.path.join(BENCH, "torch_compiled.py"), key] + common, clean_env()))
                runs.append(("jax", t, "1 CPU",
                             [args.anchors, os.path.join(BENCH, "jax_fmnist.py"), "--model", key] + common,
                             clean_env()))
        plans[key] = runs
    if not records["dlc_has_threads"] and max(args.threads) > 1:
        notes.append("dlc has no threading yet (its trainer's --help lists no --threads): "
                     "its 2-thread rows ran single-threaded.")
    if args.baseline and not records["baseline_has_threads"] and max(args.threads) > 1:
        notes.append("%s has no threading (its trainer's --help lists no --threads): "
                     "its 2-thread rows ran single-threaded." % args.baseline_label)

    for rep in range(args.reps):
        for key, runs in plans.items():
            order = runs if rep % 2 == 0 else list(reversed(runs))
            for system, t, setting, cmd, env in order:
                log("rep %d/%d %s %s threads=%d %s" % (rep + 1, args.reps, WORKLOADS[key]["name"],
                                                       system, t, setting))
                busy0, waited = wait_for_quiet(args, records["quiet"])
                r = run_child(cmd, env=env, cwd=BENCH if system != "dlc" and "@" not in system else work,
                              timeout=900 * args.epochs)
                parsed = parse_dlc(r) if system == "dlc" or system.startswith("dlc@") else parse_torch(r)
                rec = {"workload": WORKLOADS[key]["name"], "key": key, "system": system,
                       "threads": t, "setting": setting, "rep": rep + 1, "cmd": cmd,
                       "rc": r.get("rc"), "timed_out": r.get("timed_out"), "wall_s": r.get("wall_s"),
                       "maxrss_kib": r.get("maxrss_kib"), "cpu_user_s": r.get("cpu_user_s"),
                       "cpu_sys_s": r.get("cpu_sys_s"), "other_cpu": r.get("other_cpu"),
                       "busy_before": busy0, "waited_s": waited, "ok": parsed is not None}
                if parsed:
                    rec.update(parsed)
                    log("   %.0f images/s, loss %.5f, acc %.2f%%, %.0f MiB, others used %s of the CPU"
                        % (parsed["images_per_s"], parsed["train_loss"], 100 * parsed.get("test_acc", 0),
                           (r.get("maxrss_kib") or 0) / 1024, r.get("other_cpu")))
                else:
                    rec["output_tail"] = tail(r.get("output", "") or r.get("error", ""), 20)
                    log("   FAILED (rc %s): %s" % (r.get("rc"), tail(rec["output_tail"], 3)))
                records["training"].append(rec)


# ---------------------------------------------------------------- GEMM

def last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def gemm_threads_used(system, j):
    """The thread count a GEMM program reports it ran with."""
    if not j:
        return None
    return j.get({"openblas": "openblas_threads", "naive_ikj": "omp_threads"}.get(system, "threads"))


def gemm(args, dlc, info, notes, records):
    work = os.path.join(args.build_dir, "bench")
    os.makedirs(work, exist_ok=True)
    ncpu = os.cpu_count() or 1

    def env_t(t):
        return clean_env({"OPENBLAS_NUM_THREADS": str(t), "OMP_NUM_THREADS": str(t)})

    # gemm_bench: OpenBLAS, the naive i-k-j loop, and the FMA peak.
    gb = os.path.join(work, "gemm_bench")
    cc = shutil.which("gcc") or shutil.which("cc") or "cc"
    cmd = [cc, "-O3", "-march=native", "-fopenmp", "-Wall",
           "-I/usr/include/x86_64-linux-gnu/openblas-pthread", "-o", gb,
           os.path.join(BENCH, "gemm_bench.c"), "-lopenblas", "-lm"]
    r = run_child(cmd, timeout=300)
    records["builds"].append({"what": "gemm_bench", "cmd": cmd, "rc": r["rc"], "output": tail(r["output"], 20)})
    have_gb = r["rc"] == 0
    if not have_gb:
        notes.append("gemm_bench (OpenBLAS) could not be built, so no OpenBLAS, naive-loop or measured "
                     "peak figures (apt-get install libopenblas-dev): %s" % oneline(r["output"]))

    peak_threads = sorted({1, min(2, ncpu)} | set(args.threads)) if have_gb else []

    def run_peaks(rep):
        for t in peak_threads:
            log("rep %d/%d gemm_bench peak %d" % (rep + 1, args.reps, t))
            busy0, waited = wait_for_quiet(args, records["quiet"])
            r = run_child([gb, "peak", str(t)], env=clean_env({"OMP_NUM_THREADS": str(t)}), timeout=300)
            j = last_json(r["output"]) if r["rc"] == 0 else None
            records["gemm_peak"].append({"threads": t, "rep": rep + 1, "rc": r["rc"], "result": j,
                                         "other_cpu": r.get("other_cpu"), "busy_before": busy0})
            if j:
                log("   AVX-512 %.1f, AVX2 %.1f GFLOP/s" % (j["fma512_gflops"], j["fma256_gflops"]))

    # A runtime without a thread pool (an older --rev) builds the harness single-threaded.
    variants = dlc_variants(args, dlc)
    for v in variants:
        try:
            with open(os.path.join(v["src"], "runtime", "dlrt.h")) as f:
                v["gemm_threads"] = "dlrt_set_threads" in f.read()
        except OSError:
            v["gemm_threads"] = False
        if not v["gemm_threads"] and max(args.threads) > 1:
            notes.append("W-GEMM: %s's runtime has no dlrt_set_threads: its harness ran single-threaded "
                         "at every thread count." % v["system"])
    records["dlc_gemm_has_threads"] = variants[0]["gemm_threads"]
    if args.baseline:
        records["baseline_gemm_has_threads"] = variants[1]["gemm_threads"]

    sizes = args.gemm_sizes
    progs = {}
    for (M, N, K) in sizes:
        built = []  # (system, exe)
        for v in variants:
            exe = os.path.join(work, "gemm_dlc_%dx%dx%d%s" % (M, N, K, v["suffix"]))
            harness = os.path.join(BENCH, "dlc_gemm_harness.c")
            cflags = ("-DDLC_NO_MAIN -DBENCH_MODEL=gemm_model " + ("" if v["gemm_threads"] else "-DBENCH_NO_THREADS ")
                      + harness)
            log("%s: building the GEMM harness %dx%dx%d" % (v["system"], M, N, K))
            b = dlc_build(v["dlc"], args, os.path.join(BENCH, "gemm.dl"), exe,
                          dims=["M=%d" % M, "N=%d" % N, "K=%d" % K], cflags=cflags)
            what = "gemm_dlc %dx%dx%d" % (M, N, K) + ("" if v["system"] == "dlc" else " (%s)" % v["system"])
            records["builds"].append({"what": what, "cmd": b["build_cmd"],
                                      "rc": b["rc"], "output": tail(b["output"], 20)})
            if b["rc"] != 0:
                notes.append("W-GEMM %dx%dx%d: %s failed to build the harness: %s"
                             % (M, N, K, v["system"], oneline(b["output"], 3)))
            else:
                built.append((v["system"], exe))
        plan = []  # (system, threads, cmd, env)
        for t in args.threads:
            for system, exe in built:
                plan.append((system, t, [exe, "7", str(t)], env_t(1)))
            if have_gb:
                plan.append(("openblas", t, [gb, "blas", str(M), str(N), str(K), "7"], env_t(t)))
        if have_gb:
            plan.append(("naive_ikj", 1, [gb, "ikj", str(M), str(N), str(K), "3" if M >= 1024 else "7"], env_t(1)))
        progs[(M, N, K)] = plan

    for rep in range(args.reps):
        run_peaks(rep)
        for size, plan in progs.items():
            order = plan if rep % 2 == 0 else list(reversed(plan))
            for system, t, cmd, env in order:
                log("rep %d/%d W-GEMM %dx%dx%d %s threads=%d" % ((rep + 1, args.reps) + size + (system, t)))
                busy0, waited = wait_for_quiet(args, records["quiet"])
                r = run_child(cmd, env=env, timeout=600)
                j = last_json(r["output"]) if r["rc"] == 0 else None
                rec = {"M": size[0], "N": size[1], "K": size[2], "system": system, "threads": t,
                       "threads_used": gemm_threads_used(system, j), "rep": rep + 1,
                       "cmd": cmd, "env": {k: env[k] for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
                       "rc": r["rc"], "ok": j is not None, "wall_s": r.get("wall_s"),
                       "cpu_user_s": r.get("cpu_user_s"), "cpu_sys_s": r.get("cpu_sys_s"),
                       "other_cpu": r.get("other_cpu"), "busy_before": busy0, "waited_s": waited, "result": j}
                if j:
                    log("   %.1f GFLOP/s on %s thread(s)" % (j["gflops_median"], rec["threads_used"]))
                else:
                    rec["output_tail"] = tail(r["output"], 10)
                    log("   FAILED (rc %s): %s" % (r["rc"], tail(r["output"], 3)))
                records["gemm"].append(rec)

    # The peak is what the cores can do: interference only lowers it, so take the best run.
    records["peak_gflops"] = {}
    for t in peak_threads:
        best = [max(p["result"]["fma512_gflops"], p["result"]["fma256_gflops"])
                for p in records["gemm_peak"] if p["threads"] == t and p["result"]]
        if best:
            records["peak_gflops"][str(t)] = max(best)
    if records["peak_gflops"]:
        records["peak_source"] = ("measured: best of %d run(s) of gemm_bench peak T at each thread count T "
                                  "(AVX-512 and AVX2 FMA loops, all threads together)" % args.reps)
    elif args.peak_gflops:
        records["peak_gflops"] = {str(t): args.peak_gflops * min(t, ncpu) for t in args.threads}
        records["peak_source"] = "given with --peak-gflops (per core, times min(threads, CPUs))"
    else:
        notes.append("no measured peak (gemm_bench not built) and no --peak-gflops: "
                     "GEMM fractions of peak are left out.")
    if "1" in records["peak_gflops"]:
        records["peak_gflops_1t"] = records["peak_gflops"]["1"]
    missing = [t for t in args.threads if records["peak_gflops"] and str(t) not in records["peak_gflops"]]
    if missing:
        notes.append("no measured FMA peak at %s thread(s): those fractions of peak are left out."
                     % ",".join(map(str, missing)))


# ---------------------------------------------------------------- report

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="%.0f", none="—"):
    return none if x is None else spec % x


def summarize(records):
    """Medians per (workload, system, threads, setting)."""
    groups = {}
    for r in records["training"]:
        groups.setdefault((r["workload"], r["system"], r["threads"], r["setting"]), []).append(r)
    summary = []
    for (wl, system, t, setting), rs in groups.items():
        ok = [r for r in rs if r["ok"]]
        summary.append({
            "workload": wl, "system": system, "threads": t, "setting": setting,
            "runs": len(rs), "ok": len(ok),
            "images_per_s_median": med([r["images_per_s"] for r in ok]),
            "images_per_s_min": min([r["images_per_s"] for r in ok], default=None),
            "images_per_s_max": max([r["images_per_s"] for r in ok], default=None),
            "test_acc_median": med([r.get("test_acc") for r in ok]),
            "train_loss_median": med([r.get("train_loss") for r in ok]),
            "maxrss_mib_median": med([r["maxrss_kib"] / 1024 for r in ok if r.get("maxrss_kib")]),
            "other_cpu_max": max([r["other_cpu"] for r in rs if r.get("other_cpu") is not None], default=None),
        })
    gsum = {}
    for r in records["gemm"]:
        gsum.setdefault((r["M"], r["N"], r["K"], r["system"], r.get("threads", 1)), []).append(r)
    gemm_summary = []
    for (M, N, K, system, t), rs in gsum.items():
        ok = [r["result"]["gflops_median"] for r in rs if r["ok"]]
        used = sorted({r.get("threads_used") for r in rs if r["ok"]} - {None})
        gemm_summary.append({"M": M, "N": N, "K": K, "system": system, "threads": t, "threads_used": used,
                             "runs": len(rs), "ok": len(ok),
                             "gflops_median": med(ok), "gflops_min": min(ok, default=None),
                             "gflops_max": max(ok, default=None),
                             "other_cpu_max": max([r["other_cpu"] for r in rs if r.get("other_cpu") is not None],
                                                  default=None)})
    return summary, gemm_summary


def ratio(a, b):
    return a / b if a and b else None


def compare_baseline(args, records, summary, gemm_summary):
    """--baseline: dlc (new) against dlc@REV (old), per training workload and
    thread count and per GEMM size and thread count: the medians, their ratio
    new / old, and the ratios of the runs paired within each rep."""
    new, old = "dlc", args.baseline_label
    out = {"new": new, "old": old, "training": [], "gemm": []}
    by = {(s["workload"], s["system"], s["threads"]): s for s in summary}
    for wl in [WORKLOADS[k]["name"] for k in args.workloads if k in WORKLOADS]:
        for t in args.threads:
            n, o = by.get((wl, new, t)), by.get((wl, old, t))
            if not n and not o:
                continue
            runs = {}
            for r in records["training"]:
                if r["workload"] == wl and r["threads"] == t and r["ok"] and r["system"] in (new, old):
                    runs.setdefault(r["rep"], {})[r["system"]] = r
            paired = [ratio(x[new]["images_per_s"], x[old]["images_per_s"])
                      for _, x in sorted(runs.items()) if new in x and old in x]
            ni, oi = n and n["images_per_s_median"], o and o["images_per_s_median"]
            out["training"].append({
                "workload": wl, "threads": t,
                "new_setting": n and n["setting"], "old_setting": o and o["setting"],
                "new_images_per_s_median": ni, "old_images_per_s_median": oi,
                "ratio_of_medians": ratio(ni, oi), "ratio_per_rep": paired,
                "new_train_loss_median": n and n["train_loss_median"],
                "old_train_loss_median": o and o["train_loss_median"],
                "new_test_acc_median": n and n["test_acc_median"], "old_test_acc_median": o and o["test_acc_median"],
                "new_maxrss_mib_median": n and n["maxrss_mib_median"],
                "old_maxrss_mib_median": o and o["maxrss_mib_median"]})
    g = {(s["M"], s["N"], s["K"], s["system"], s["threads"]): s for s in gemm_summary}
    for (M, N, K) in args.gemm_sizes:
        for t in args.threads:
            n, o = g.get((M, N, K, new, t)), g.get((M, N, K, old, t))
            if not n and not o:
                continue
            runs = {}
            for r in records["gemm"]:
                if (r["M"], r["N"], r["K"], r["threads"]) == (M, N, K, t) and r["ok"] and r["system"] in (new, old):
                    runs.setdefault(r["rep"], {})[r["system"]] = r
            paired = [ratio(x[new]["result"]["gflops_median"], x[old]["result"]["gflops_median"])
                      for _, x in sorted(runs.items()) if new in x and old in x]
            ng, og = n and n["gflops_median"], o and o["gflops_median"]
            out["gemm"].append({"M": M, "N": N, "K": K, "threads": t,
                                "new_gflops_median": ng, "old_gflops_median": og,
                                "ratio_of_medians": ratio(ng, og), "ratio_per_rep": paired})
    return out


def markdown_baseline(args, info, cmp):
    """The tables of --baseline: new / old speed per workload."""
    new, old = cmp["new"], cmp["old"]
    L = []

    def spread(xs):
        xs = [x for x in xs if x is not None]
        if not xs:
            return "—"
        return "%.3f" % xs[0] if len(xs) == 1 else "%.3f–%.3f" % (min(xs), max(xs))

    if cmp["training"]:
        L.append("### %s vs %s, training (medians; new / old = %s / %s speed)" % (new, old, new, old))
        L.append("")
        L.append("| workload | threads | %s images/s | %s images/s | new / old | new / old per rep | "
                 "%s loss | %s loss | %s test acc | %s test acc | %s peak RSS | %s peak RSS |"
                 % (new, old, new, old, new, old, new, old))
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for c in cmp["training"]:
            tcol = str(c["threads"])
            for name, st in ((new, c["new_setting"]), (old, c["old_setting"])):
                if st == "single-threaded" and c["threads"] != 1:
                    tcol += " (%s: 1)" % name
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                c["workload"], tcol, fmt(c["new_images_per_s_median"]), fmt(c["old_images_per_s_median"]),
                fmt(c["ratio_of_medians"], "**%.3fx**"), spread(c["ratio_per_rep"]),
                fmt(c["new_train_loss_median"], "%.5f"), fmt(c["old_train_loss_median"], "%.5f"),
                fmt(c["new_test_acc_median"] and 100 * c["new_test_acc_median"], "%.2f%%"),
                fmt(c["old_test_acc_median"] and 100 * c["old_test_acc_median"], "%.2f%%"),
                fmt(c["new_maxrss_mib_median"], "%.0f MiB"), fmt(c["old_maxrss_mib_median"], "%.0f MiB")))
        L.append("")
    if cmp["gemm"]:
        L.append("### %s vs %s, W-GEMM (GFLOP/s, medians)" % (new, old))
        L.append("")
        L.append("| M×N×K | threads | %s | %s | new / old | new / old per rep |" % (new, old))
        L.append("|---|---|---|---|---|---|")
        for c in cmp["gemm"]:
            L.append("| %d×%d×%d | %d | %s | %s | %s | %s |" % (
                c["M"], c["N"], c["K"], c["threads"], fmt(c["new_gflops_median"], "%.1f"),
                fmt(c["old_gflops_median"], "%.1f"), fmt(c["ratio_of_medians"], "**%.3fx**"),
                spread(c["ratio_per_rep"])))
        L.append("")
    if L:
        L.append("new / old above 1 means %s is faster; \"per rep\" is the range of the ratios of the two "
                 "runs next to each other in each rep." % new)
        L.append("")
    return L


def markdown_torch(args, wls, by):
    """The dlc-vs-PyTorch training table (left out with --no-torch)."""
    L = []
    if args.no_torch:
        return L
    L.append("### Training, 1 epoch of Fashion-MNIST (medians)")
    L.append("")
    L.append("| workload | threads | dlc images/s | PyTorch images/s | dlc / PyTorch | "
             "dlc test acc | PyTorch test acc | dlc loss | PyTorch loss | dlc peak RSS | PyTorch peak RSS |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|")
    for wl in wls:
        for t in args.threads:
            d = [s for k, s in by.items() if k[0] == wl and k[1] == "dlc" and k[2] == t]
            p = [s for k, s in by.items() if k[0] == wl and k[1] == "pytorch" and k[2] == t
                 and s["images_per_s_median"] is not None]
            d = d[0] if d else None
            p = max(p, key=lambda s: s["images_per_s_median"]) if p else None
            di = d and d["images_per_s_median"]
            pi = p and p["images_per_s_median"]
            tcol = str(t)
            if d and d["setting"] == "single-threaded" and t != 1:
                tcol += " (dlc: 1, no threading yet)"
            if p and t != 1:
                tcol += " (PyTorch best: %s)" % p["setting"]
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                wl, tcol, fmt(di), fmt(pi), fmt(di / pi if di and pi else None, "%.2f"),
                fmt(d and d["test_acc_median"] and 100 * d["test_acc_median"], "%.2f%%"),
                fmt(p and p["test_acc_median"] and 100 * p["test_acc_median"], "%.2f%%"),
                fmt(d and d["train_loss_median"], "%.4f"), fmt(p and p["train_loss_median"], "%.4f"),
                fmt(d and d["maxrss_mib_median"], "%.0f MiB"), fmt(p and p["maxrss_mib_median"], "%.0f MiB")))
    L.append("")
    return L


def markdown_anchors(args, wls, by):
    """dlc next to the modern anchors at 1 thread (with --anchors)."""
    L = []
    if not args.anchors:
        return L
    systems = ["pytorch", "pytorch2-eager", "torch.compile", "jax"]
    L.append("### Modern anchors, 1 thread, 1 epoch (medians; images/s and dlc's ratio)")
    L.append("")
    L.append("| workload | dlc | " + " | ".join("%s | dlc / %s" % (x, x) for x in systems) + " |")
    L.append("|---|---|" + "---|---|" * len(systems))
    for wl in wls:
        d = [s for k, s in by.items() if k[0] == wl and k[1] == "dlc" and k[2] == 1]
        di = d[0]["images_per_s_median"] if d else None
        row = "| %s | %s |" % (wl, fmt(di))
        for x in systems:
            p = [s for k, s in by.items() if k[0] == wl and k[1] == x and k[2] == 1 and s["images_per_s_median"]]
            pi = p[0]["images_per_s_median"] if p else None
            row += " %s | %s |" % (fmt(pi), fmt(di / pi if di and pi else None, "%.2f"))
        L.append(row)
    L.append("")
    return L


def markdown(args, info, notes, records, summary, gemm_summary):
    L = []
    L.append("## dlc benchmark, %s" % info["date_utc"])
    L.append("")
    L.append("Machine: %s, %s CPUs (%s core(s) per socket × %s socket(s), %s thread(s) per core)%s; %s; "
             "dlc %s%s (%s); PyTorch %s; system libblas.so.3 → `%s`. Reps: %d, epochs: %d, seed %d."
             % (info.get("cpu_model"), info.get("cpu_count"), info.get("cores_per_socket"),
                info.get("sockets"), info.get("threads_per_core"),
                ", %s VM" % info["hypervisor"] if info.get("hypervisor") else "", info.get("gcc"),
                info.get("dlc_commit"),
                " (+%d modified files)" % info["dlc_tree_modified_files"] if info.get("dlc_tree_modified_files") else "",
                info.get("dlc_source"),
                info.get("torch") or ("skipped (--no-torch)" if info.get("torch_skipped") else "not available"),
                info.get("system_libblas_so3", "?"), args.reps, args.epochs, args.seed))
    L.append("")
    if args.baseline:
        L[-2] += " Baseline: %s = %s." % (args.baseline_label, info.get("baseline_source"))
        L += markdown_baseline(args, info, records["baseline_comparison"])
    by = {(s["workload"], s["system"], s["threads"], s["setting"]): s for s in summary}
    wls = [WORKLOADS[k]["name"] for k in args.workloads if k in WORKLOADS]
    if wls and summary:
        L += markdown_torch(args, wls, by)
        L += markdown_anchors(args, wls, by)
        L.append("Every configuration (images/s: median [min–max] over the reps; `other CPU`: the largest share "
                 "of the machine's CPU time that other processes used during one of its runs):")
        L.append("")
        L.append("| workload | system | threads | setting | runs ok | images/s | test acc | peak RSS | other CPU |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for s in sorted(summary, key=lambda s: (wls.index(s["workload"]) if s["workload"] in wls else 9,
                                                 s["threads"], s["system"], s["setting"])):
            L.append("| %s | %s | %d | %s | %d/%d | %s [%s–%s] | %s | %s | %s |" % (
                s["workload"], s["system"], s["threads"], s["setting"], s["ok"], s["runs"],
                fmt(s["images_per_s_median"]), fmt(s["images_per_s_min"]), fmt(s["images_per_s_max"]),
                fmt(s["test_acc_median"] and 100 * s["test_acc_median"], "%.2f%%"),
                fmt(s["maxrss_mib_median"], "%.0f MiB"), fmt(s["other_cpu_max"] and 100 * s["other_cpu_max"], "%.0f%%")))
        L.append("")
    if gemm_summary or records.get("gemm_peak"):
        peaks = {int(t): v for t, v in (records.get("peak_gflops") or {}).items()}
        L.append("### W-GEMM, fp32 row-major C = A·B, %s thread(s) (GFLOP/s = 2MNK / time, median over reps)"
                 % ",".join(map(str, args.threads)))
        L.append("")
        for t in sorted({p["threads"] for p in records.get("gemm_peak", [])}):
            js = [p["result"] for p in records["gemm_peak"] if p["threads"] == t and p["result"]]
            if js:
                L.append("- FMA peak, %d thread(s), best of %d: AVX-512 %.1f GFLOP/s, AVX2 %.1f GFLOP/s "
                         "(gemm_bench peak; all threads together)"
                         % (t, len(js), max(j["fma512_gflops"] for j in js), max(j["fma256_gflops"] for j in js)))
        if peaks:
            L.append("- Peaks used for the fractions: %s (%s)" % (
                ", ".join("%d thread(s) %.1f GFLOP/s" % (t, peaks[t]) for t in sorted(peaks)),
                records.get("peak_source")))
        L.append("")
        g = {(s["M"], s["N"], s["K"], s["system"], s["threads"]): s for s in gemm_summary}
        naive_t = 1 if 1 in args.threads else args.threads[0]
        L.append("| M×N×K | threads | dlc generated | of peak | OpenBLAS | of peak | dlc / OpenBLAS | "
                 "dlc vs dlc at 1 thread | naive i-k-j loop, 1 thread (gcc -O3) |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for (M, N, K) in args.gemm_sizes:
            d1 = g.get((M, N, K, "dlc", 1))
            d1g = d1 and d1["gflops_median"]
            for t in args.threads:
                d, o = g.get((M, N, K, "dlc", t)), g.get((M, N, K, "openblas", t))
                n = g.get((M, N, K, "naive_ikj", 1)) if t == naive_t else None
                dg, og, ng = (x and x["gflops_median"] for x in (d, o, n))
                pk = peaks.get(t)
                tcol = str(t)
                for name, x in (("dlc", d), ("OpenBLAS", o)):
                    if x and x["threads_used"] and x["threads_used"] != [t]:
                        tcol += " (%s: %s)" % (name, ",".join(map(str, x["threads_used"])))
                L.append("| %d×%d×%d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    M, N, K, tcol, fmt(dg, "%.1f"), fmt(dg and pk and 100 * dg / pk, "%.0f%%"),
                    fmt(og, "%.1f"), fmt(og and pk and 100 * og / pk, "%.0f%%"),
                    fmt(dg / og if dg and og else None, "%.2f"),
                    fmt(dg / d1g if dg and d1g and t != 1 else None, "%.2f×"), fmt(ng, "%.1f")))
        L.append("")
        L.append("Every GEMM configuration (GFLOP/s: median [min–max] over the reps; `threads used`: as the "
                 "program reported it; `other CPU` as for training):")
        L.append("")
        L.append("| M×N×K | system | threads | threads used | runs ok | GFLOP/s | other CPU |")
        L.append("|---|---|---|---|---|---|---|")
        sizes = list(args.gemm_sizes)
        systems = ["dlc"] + ([args.baseline_label] if args.baseline else []) + ["openblas", "naive_ikj"]
        for s in sorted(gemm_summary, key=lambda s: (sizes.index((s["M"], s["N"], s["K"]))
                                                      if (s["M"], s["N"], s["K"]) in sizes else 9,
                                                      s["threads"], systems.index(s["system"])
                                                      if s["system"] in systems else 9)):
            L.append("| %d×%d×%d | %s | %d | %s | %d/%d | %s [%s–%s] | %s |" % (
                s["M"], s["N"], s["K"], s["system"], s["threads"],
                ",".join(map(str, s["threads_used"])) or "—", s["ok"], s["runs"],
                fmt(s["gflops_median"], "%.1f"), fmt(s["gflops_min"], "%.1f"), fmt(s["gflops_max"], "%.1f"),
                fmt(s["other_cpu_max"] and 100 * s["other_cpu_max"], "%.0f%%")))
        over = [s for s in gemm_summary
                if s["gflops_max"] and peaks.get(s["threads"]) and s["gflops_max"] > peaks[s["threads"]]]
        if over:
            L.append("")
            L.append("Some GEMM runs beat the measured peak for their thread count: the peak runs were slowed "
                     "by other processes, so the fractions of peak are too high.")
        cores = sorted({r["result"].get("openblas_core") for r in records["gemm"]
                        if r["ok"] and r["system"] == "openblas"} - {None})
        if cores:
            L.append("")
            L.append("OpenBLAS kernel: %s." % ", ".join(cores))
        L.append("")
    if notes:
        L.append("Notes:")
        L.append("")
        for n in notes:
            L.append("- " + n)
        L.append("")
    return "\n".join(L)


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description="dlc vs PyTorch / OpenBLAS benchmarks (see bench/README.md)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions of every run (default 3; --quick: 1)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke test: 1 rep, W-MLP at 1 thread, small GEMMs only")
    ap.add_argument("--only", default=None, help="comma-separated subset of mlp,lenet,gemm")
    ap.add_argument("--threads", default=None,
                    help="thread counts for training and W-GEMM (default 1,2; --quick: 1)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench"),
                    help="CMake build directory (default: build-bench, Release, kept apart from build/)")
    ap.add_argument("--skip-build", action="store_true", help="use BUILD_DIR/dlc as it is")
    ap.add_argument("--rev", default=None,
                    help="benchmark this git commit (e.g. HEAD), exported with git archive into BUILD_DIR, "
                         "instead of the working tree; bench/ itself always comes from the working tree")
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also build dlc at this git commit (git archive into BUILD_DIR) and run its trainers "
                         "and GEMM harnesses as the system dlc@REV, alternating with the others; the tables "
                         "give dlc / dlc@REV (new / old speed)")
    ap.add_argument("--no-torch", action="store_true",
                    help="leave PyTorch out (dlc only; with --baseline, a quicker old-vs-new comparison)")
    ap.add_argument("--cc", default=None, help="C compiler dlc uses for the trainers (dlc --cc)")
    ap.add_argument("--cflags", default="", help="extra flags for it (dlc --cflags)")
    ap.add_argument("--torch2", default=None,
                    help="PyTorch settings to try at 2 threads, the best is compared (default: all of %s; "
                         "--quick: omp1+blas2)" % ",".join(x[0] for x in TORCH_2T))
    ap.add_argument("--python", default="/usr/bin/python3", help="interpreter with torch (default /usr/bin/python3)")
    ap.add_argument("--anchors", default=None, metavar="PYTHON",
                    help="also run, at 1 thread, PyTorch 2 eager, torch.compile and JAX jit (bench/torch_compiled.py, "
                         "bench/jax_fmnist.py) under this interpreter: a virtual environment with torch 2 and "
                         "jax[cpu] from PyPI (bench/README.md, 'Modern anchors')")
    ap.add_argument("--peak-gflops", type=float, default=None,
                    help="per-core peak to use if gemm_bench cannot measure it")
    ap.add_argument("--wait-idle", type=float, default=30.0,
                    help="before each run, wait up to this many seconds for the machine to be idle (default 30)")
    ap.add_argument("--max-wait-total", type=float, default=1800.0,
                    help="stop waiting for idle once this many seconds were spent waiting in all (default 1800)")
    ap.add_argument("--idle-threshold", type=float, default=0.15,
                    help="'idle': other processes use less than this share of all CPUs (default 0.15)")
    ap.add_argument("--out", default=None,
                    help="JSON output (default bench/results/<UTC date-time>.json; the .md beside it)")
    args = ap.parse_args()

    only = set((args.only or "mlp,lenet,gemm").split(","))
    bad = only - {"mlp", "lenet", "gemm"}
    if bad:
        ap.error("--only: unknown %s" % ",".join(sorted(bad)))
    if args.quick and not args.only:
        only = {"mlp", "gemm"}
    args.workloads = [k for k in ("mlp", "lenet") if k in only]
    args.torch2 = (args.torch2 or ("omp1+blas2" if args.quick else ",".join(x[0] for x in TORCH_2T))).split(",")
    bad = set(args.torch2) - {x[0] for x in TORCH_2T}
    if bad or not args.torch2:
        ap.error("--torch2: choose from %s" % ",".join(x[0] for x in TORCH_2T))
    args.reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    args.threads = [int(x) for x in (args.threads or ("1" if args.quick else "1,2")).split(",")]
    args.gemm_sizes = GEMM_SIZES[1:] if args.quick else GEMM_SIZES
    args.build_dir = os.path.abspath(args.build_dir)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    args.out = args.out or os.path.join(BENCH, "results", "%s%s.json" % (stamp, "-quick" if args.quick else ""))

    t0 = time.time()
    notes = []
    info = machine_info(args.python, torch=not args.no_torch)
    if info.get("cpu_count") and max(args.threads) > info["cpu_count"]:
        notes.append("asked for %d threads on %d CPUs." % (max(args.threads), info["cpu_count"]))
    la = info.get("loadavg_start")
    if la and float(la[0]) > 0.5:
        notes.append("the machine was not idle at the start (load average %s): expect noise; "
                     "see the `other CPU` column." % " ".join(la))
    records = {"args": {k: v for k, v in vars(args).items()}, "machine": info, "builds": [],
               "training": [], "gemm": [], "gemm_peak": [], "quiet": {}}
    args.src = export_rev(args, info) if args.rev else ROOT
    info.setdefault("dlc_source", "working tree %s" % ROOT)
    if args.baseline:
        args.baseline_sha, args.baseline_src = export_commit(args.baseline, args.build_dir, flag="--baseline")
        args.baseline_label = "dlc@" + args.baseline
    dlc = build_dlc(args, notes)
    if args.baseline:
        args.baseline_dlc = cmake_dlc(args.baseline_src, commit_build_dir(args.build_dir, args.baseline_src),
                                      args.skip_build)
        info["baseline_commit"] = args.baseline_sha[:12]
        info["baseline_source"] = "git archive %s (%s)" % (args.baseline, args.baseline_sha)
        records["args"].update(baseline_sha=args.baseline_sha, baseline_label=args.baseline_label)
    if args.workloads:
        training(args, dlc, info, notes, records)
    if "gemm" in only:
        gemm(args, dlc, info, notes, records)
    info["loadavg_end"] = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else None
    records["elapsed_s"] = round(time.time() - t0, 1)
    q = records["quiet"]
    if q.get("started_busy"):
        notes.append("%d run(s) started while other processes kept more than %.0f%% of the CPUs busy "
                     "(after waiting up to %.0f s each, %.0f s in all at most; %.0f s waited): their numbers are noisier."
                     % (q["started_busy"], 100 * args.idle_threshold, args.wait_idle, args.max_wait_total,
                        q.get("waited_s", 0)))
    for r in records["training"]:
        if r["system"] == "pytorch" and r.get("threadpools"):
            records.setdefault("torch_threadpools", {})[r["setting"]] = r["threadpools"]

    summary, gemm_summary = summarize(records)
    records["summary"], records["gemm_summary"], records["notes"] = summary, gemm_summary, notes
    if args.baseline:
        records["baseline_comparison"] = compare_baseline(args, records, summary, gemm_summary)
    md = markdown(args, info, notes, records, summary, gemm_summary)
    md += "\nRaw numbers: `%s`; %.0f s in all.\n" % (os.path.relpath(args.out, ROOT), records["elapsed_s"])
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(records, f, indent=1)
        f.write("\n")
    with open(os.path.splitext(args.out)[0] + ".md", "w") as f:
        f.write(md)
    print(md)


if __name__ == "__main__":
    main()
