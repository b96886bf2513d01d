#!/usr/bin/python3
"""train_test.py - short training runs of the reinforcement-learning examples, each with a bound
that a model that does not learn misses (checked too: the same run with --lr 0).

  dqn            examples/dqn_cartpole.dl, 250 episodes, seeds 0 and 2: the mean return of the
                 last 100 episodes above 50 (a frozen network: about 11)
  actor_critic   examples/actor_critic_cartpole.dl, 300 episodes, seed 2: above 50 (frozen: ~22)
  qlearn         examples/qlearn_gridworld.dl, its 20,000 episodes: the greedy policy is value
                 iteration's in every state (--value-iteration), and its greedy episodes reach
                 the goal (--eval-episodes); with --lr 0 it is not
  same_bits      examples/dqn_cartpole.dl, 30 episodes: the same output on 1 and 2 threads, and
                 from the same seed twice
  plot           scripts/plot_log.sh draws an episode log (50 episodes of REINFORCE) as a PNG
  levels         REINFORCE in f64: one episode's --dump-grads at -O0, -O1 and -O2 and from dlc run
                 (the LLVM JIT, where dlc has it): the same episode and the same gradients (1e-12)
  batch_episodes REINFORCE with batch_episodes = 3 (f64): --dump-grads holds three episodes one
                 after the other (found where CartPole's step from one row does not give the
                 next), each with its own discounted returns, standardised over the batch; and
                 it trains (1,000 episodes: solved, as the one-episode batches of seed 0 are not)

usage: train_test.py CASE --dlc PATH --workdir DIR
"""
import argparse
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(dlc, example, work):
    exe = os.path.join(work, os.path.splitext(os.path.basename(example))[0])
    subprocess.run([dlc, os.path.join(ROOT, "examples", example), "-o", exe], check=True)
    return exe


def run(exe, *args):
    p = subprocess.run([exe, "--threads", "1"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if p.returncode != 0:
        sys.exit("%s %s failed (%d):\n%s" % (exe, " ".join(args), p.returncode, p.stdout))
    return p.stdout


def last100(out):
    m = re.search(r"mean return of the last \d+ episodes: ([-0-9.]+)", out)
    if not m:
        sys.exit("no mean return in:\n" + out)
    return float(m.group(1))


def bounded(exe, episodes, seeds, bound):
    ok = True
    for seed in seeds:
        v = last100(run(exe, "--episodes", str(episodes), "--seed", str(seed)))
        print("seed %d: mean return of the last 100 episodes %.2f (bound > %g)" % (seed, v, bound))
        ok &= v > bound
    frozen = last100(run(exe, "--episodes", str(episodes), "--seed", str(seeds[0]), "--lr", "0"))
    print("lr 0: %.2f (must not pass the bound)" % frozen)
    return ok and frozen <= bound


def batch_episodes(a):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import safetensors_raw
    from rl_envs import CartPole
    src = open(os.path.join(ROOT, "examples", "reinforce_cartpole.dl")).read()
    src = src.replace("dim T = 500 ", "dim T = 1500").replace("normalize = 1)", "normalize = 1, batch_episodes = 3)")
    assert "batch_episodes = 3" in src and "dim T = 1500" in src
    dl = os.path.join(a.workdir, "reinforce3.dl")
    with open(dl, "w") as f:
        f.write(src)
    exe = os.path.join(a.workdir, "reinforce3")
    subprocess.run([a.dlc, "--dtype", "f64", dl, "-o", exe], check=True)
    dump = os.path.join(a.workdir, "batch.safetensors")
    run(exe, "--dump-grads", dump, "--seed", "4")
    _, t = safetensors_raw.read(dump)
    obs = safetensors_raw.values(t["obs"][2], t["obs"][0])
    ret = safetensors_raw.values(t["ret"][2], t["ret"][0])
    act = safetensors_raw.values(t["act"][2], t["act"][0])
    n = len(ret)
    rows = [obs[4 * i:4 * i + 4] for i in range(n)]
    starts = [0]
    env = CartPole()
    for i in range(n - 1):
        env.reset_to(rows[i])
        nxt, _, term = env.step(act[i])
        if max(abs(x - y) for x, y in zip(nxt, rows[i + 1])) > 1e-9:
            starts.append(i + 1)
    print("rows %d, episodes start at %s" % (n, starts))
    g = []
    for k, s0 in enumerate(starts):
        end = starts[k + 1] if k + 1 < len(starts) else n
        acc, seg = 0.0, []
        for _ in range(s0, end):
            acc = 1.0 + 0.99 * acc
            seg.append(acc)
        g += seg[::-1]
    mean = sum(g) / n
    sd = (sum((x - mean) ** 2 for x in g) / (n - 1)) ** 0.5
    want = [(x - mean) / (sd + 2.0 ** -23) for x in g]
    err = max(abs(x - y) for x, y in zip(want, ret))
    print("returns: largest difference %.3g" % err)
    ok = len(starts) == 3 and err < 1e-9
    out = run(exe, "--seed", "0", "--episodes", "1000")
    print([l for l in out.splitlines() if "solved" in l or "mean return" in l])
    return ok and "solved: running reward above" in out


def levels(a):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import safetensors_raw
    src = os.path.join(ROOT, "examples", "reinforce_cartpole.dl")
    dumps = {}
    for level in ("-O0", "-O1", "-O2"):
        exe = os.path.join(a.workdir, "rf" + level)
        subprocess.run([a.dlc, level, "--dtype", "f64", src, "-o", exe], check=True)
        dumps[level] = os.path.join(a.workdir, "dump%s.safetensors" % level)
        run(exe, "--dump-grads", dumps[level], "--seed", "7")
    jit = subprocess.run([a.dlc, "--version"], stdout=subprocess.PIPE, text=True).stdout
    if "llvm JIT: not in this build" not in jit:
        dumps["jit"] = os.path.join(a.workdir, "dump-jit.safetensors")
        p = subprocess.run([a.dlc, "run", "--dtype", "f64", src, "--dump-grads", dumps["jit"], "--seed", "7",
                            "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            sys.exit("dlc run failed:\n" + p.stdout)
    ref = safetensors_raw.read(dumps["-O2"])[1]
    ok = True
    for k, path in dumps.items():
        t = safetensors_raw.read(path)[1]
        worst = 0.0
        for name, (dt, shape, raw) in ref.items():
            if name not in t or t[name][1] != shape:
                print("%s: %s differs in shape or is missing" % (k, name))
                ok = False
                continue
            x, y = safetensors_raw.values(raw, dt), safetensors_raw.values(t[name][2], t[name][0])
            for u, v in zip(x, y):
                worst = max(worst, abs(u - v) / max(1.0, abs(u)))
        print("%s against -O2: rows %s, largest relative difference %.3g" % (k, t["obs"][1][0], worst))
        ok &= worst < 1e-12
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=("dqn", "actor_critic", "qlearn", "same_bits", "batch_episodes", "levels", "plot"))
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    if a.case == "dqn":
        ok = bounded(build(a.dlc, "dqn_cartpole.dl", a.workdir), 250, (0, 2), 50)
    elif a.case == "actor_critic":
        ok = bounded(build(a.dlc, "actor_critic_cartpole.dl", a.workdir), 300, (2,), 50)
    elif a.case == "qlearn":
        exe = build(a.dlc, "qlearn_gridworld.dl", a.workdir)
        out = run(exe, "--value-iteration", "--eval-episodes", "1000")
        m = re.search(r"greedy policy: optimal in (\d+) of (\d+) states", out)
        e = re.search(r"mean return ([0-9.]+)", out)
        print(m.group(0), "; greedy episodes:", e.group(0))
        ok = m and m.group(1) == m.group(2) and int(m.group(2)) >= 10 and float(e.group(1)) > 0.9
        frozen = run(exe, "--value-iteration", "--lr", "0", "--episodes", "2000")
        f = re.search(r"greedy policy: optimal in (\d+) of (\d+) states", frozen)
        print("lr 0:", f.group(0))
        ok = ok and f.group(1) != f.group(2)
    elif a.case == "batch_episodes":
        ok = batch_episodes(a)
    elif a.case == "levels":
        ok = levels(a)
    elif a.case == "plot":
        exe = build(a.dlc, "reinforce_cartpole.dl", a.workdir)
        log, png = os.path.join(a.workdir, "log.csv"), os.path.join(a.workdir, "curve.png")
        if os.path.exists(png):
            os.remove(png)
        run(exe, "--episodes", "50", "--log", log)
        with open(log) as f:
            rows = f.read().splitlines()
        subprocess.run(["sh", os.path.join(ROOT, "scripts", "plot_log.sh"), log, png], check=True)
        with open(png, "rb") as f:
            magic = f.read(8)
        print("log rows %d, %s: %d bytes" % (len(rows), png, os.path.getsize(png)))
        ok = len(rows) == 51 and magic == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 5000
    else:
        exe = build(a.dlc, "dqn_cartpole.dl", a.workdir)
        strip = lambda s: re.sub(r"[0-9.]+ s: [0-9]+ steps/s.*|[0-9]+ steps/s", "", s)
        one = strip(run(exe, "--episodes", "30", "--seed", "5"))
        two = strip(subprocess.run([exe, "--threads", "2", "--episodes", "30", "--seed", "5"],
                                   stdout=subprocess.PIPE, text=True, check=True).stdout)
        again = strip(run(exe, "--episodes", "30", "--seed", "5"))
        ok = one == two == again and "running reward" in one
        print("same output on 1 and 2 threads and twice: %s" % ok)
    print("ok" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
