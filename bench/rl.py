#!/usr/bin/python3
"""rl.py - dlc's reinforcement-learning examples next to their PyTorch twins.

  figures  train each example for its episodes over several seeds, with dlc and with its twin
           (bench/torch_reinforce.py, torch_actor_critic.py, torch_dqn.py), and print per seed
           the first episode whose running reward passes 475 (solved) and the mean return of the
           last 100 episodes; how many seeds each solves within the run
  speed    environment steps per second with the policy in the loop, and the median time of one
           update (REINFORCE: an episode of 200 steps; DQN: a batch of 128), dlc's trainer
           (--speed) and the twin (--speed) in the same run, one thread each, and the ratios
  short    the CI check: REINFORCE for 300 episodes, dlc only, with a bound on the mean return of
           the last 100 episodes that a broken model does not reach

Both sides run on one thread.  dlc's running reward, solved episode and last-100 mean are computed
here from its --log CSV with the same function as the twins' (torch_rl_common.summary).

usage: /usr/bin/python3 bench/rl.py figures [--algos reinforce,actor_critic,dqn] [--seeds 0,1,2,3,4]
                                            [--episodes N] [--dlc build/dlc] [--out FILE.jsonl]
       /usr/bin/python3 bench/rl.py speed [--dlc build/dlc]
       /usr/bin/python3 bench/rl.py short [--dlc build/dlc]
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PY = "/usr/bin/python3"
EXAMPLES = {
    "reinforce": ("examples/reinforce_cartpole.dl", "torch_reinforce.py", 1000),
    "actor_critic": ("examples/actor_critic_cartpole.dl", "torch_actor_critic.py", 1000),
    "dqn": ("examples/dqn_cartpole.dl", "torch_dqn.py", 400),
}
THRESHOLD = 475.0


def summary(returns):
    """solved_at (1-based), last100 and the final running reward, as torch_rl_common.summary."""
    running, solved = 10.0, None
    for i, r in enumerate(returns, 1):
        running = 0.05 * r + 0.95 * running
        if solved is None and running > THRESHOLD:
            solved = i
    tail = returns[-100:]
    return {"solved_at": solved, "last100": round(sum(tail) / len(tail), 2) if tail else None,
            "final_running": round(running, 2)}


def build(dlc, algo, work):
    src = os.path.join(ROOT, EXAMPLES[algo][0])
    exe = os.path.join(work, algo)
    subprocess.run([dlc, src, "-o", exe], check=True)
    return exe


def run_dlc(exe, seed, episodes, work):
    log = os.path.join(work, "log-%d.csv" % seed)
    t0 = time.time()
    subprocess.run([exe, "--seed", str(seed), "--episodes", str(episodes), "--threads", "1", "--quiet",
                    "--log", log], check=True, stdout=subprocess.DEVNULL)
    wall = time.time() - t0
    with open(log) as f:
        returns = [float(row["return"]) for row in csv.DictReader(f)]
    res = summary(returns)
    res.update({"side": "dlc", "seed": seed, "episodes": len(returns), "wall_s": round(wall, 2)})
    return res


def run_twin(algo, seed, episodes):
    script = os.path.join(HERE, EXAMPLES[algo][1])
    out = subprocess.run([PY, script, "--seed", str(seed), "--episodes", str(episodes)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    res.update({"side": "torch", "seed": seed})
    return res


def figures(a):
    algos = a.algos.split(",")
    seeds = [int(s) for s in a.seeds.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for algo in algos:
            exe = build(a.dlc, algo, work)
            episodes = a.episodes or EXAMPLES[algo][2]
            for seed in seeds:
                for side in ("dlc", "torch"):
                    if side == "torch" and a.no_torch:
                        continue
                    r = run_dlc(exe, seed, episodes, work) if side == "dlc" else run_twin(algo, seed, episodes)
                    r["algo"] = algo
                    rows.append(r)
                    print(json.dumps(r), flush=True)
                    if a.out:
                        with open(a.out, "a") as f:
                            f.write(json.dumps(r) + "\n")
    print()
    print("| algo | side | " + " | ".join("seed %d" % s for s in seeds) + " | solved |")
    print("|---|---|" + "---|" * len(seeds) + "---|")
    for algo in algos:
        for side in ("dlc", "torch"):
            rs = {r["seed"]: r for r in rows if r["algo"] == algo and r["side"] == side}
            if not rs:
                continue
            cells = []
            for s in seeds:
                r = rs.get(s)
                cells.append("-" if r is None else "%s / %.0f" % (r["solved_at"] if r["solved_at"] else "no",
                                                                 r["last100"]))
            n = sum(1 for r in rs.values() if r["solved_at"])
            print("| %s | %s | %s | %d of %d |" % (algo, side, " | ".join(cells), n, len(rs)))
    print("\n(cells: the episode at which the running reward passed 475 / the mean return of the last 100)")


def speed(a):
    res = {}
    with tempfile.TemporaryDirectory() as work:
        for algo, steps in (("reinforce", 20000), ("dqn", 2000)):
            exe = build(a.dlc, algo, work)
            out = subprocess.run([exe, "--speed", str(steps), "--threads", "1"], check=True,
                                 stdout=subprocess.PIPE, text=True).stdout
            d = json.loads(out.strip().splitlines()[-1])
            t = json.loads(subprocess.run([PY, os.path.join(HERE, EXAMPLES[algo][1]), "--speed"], check=True,
                                          stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1])
            t_update = t.get("update_ms", t.get("optimize_ms"))
            r = {"algo": algo, "dlc_steps_per_s": d["env_steps_per_s_median"],
                 "torch_steps_per_s": t["env_steps_per_s"],
                 "steps_ratio": round(d["env_steps_per_s_median"] / t["env_steps_per_s"], 2),
                 "dlc_update_ms": d["update_ms_median"], "torch_update_ms": t_update,
                 "update_ratio": round(t_update / d["update_ms_median"], 2), "update_rows": d["update_rows"]}
            if algo == "dqn":
                r["note"] = ("torch's steps/s include one optimisation step per environment step; dlc's are "
                             "the policy and environment alone")
            res[algo] = r
            print(json.dumps(r), flush=True)
    if a.out:
        with open(a.out, "a") as f:
            f.write(json.dumps({"speed": res}) + "\n")


def short(a):
    with tempfile.TemporaryDirectory() as work:
        exe = build(a.dlc, "reinforce", work)
        ok = True
        for seed in (0, 1):
            r = run_dlc(exe, seed, 300, work)
            print(json.dumps(r))
            ok &= r["last100"] > 50
        # the bound fails for a model that does not learn (lr 0: a random policy, about 22)
        log = os.path.join(work, "frozen.csv")
        subprocess.run([exe, "--seed", "0", "--episodes", "300", "--lr", "0", "--threads", "1", "--quiet",
                        "--log", log], check=True, stdout=subprocess.DEVNULL)
        with open(log) as f:
            frozen = summary([float(row["return"]) for row in csv.DictReader(f)])
        print(json.dumps({"frozen": frozen}))
        ok &= frozen["last100"] <= 50
    print("short: %s" % ("ok" if ok else "FAILED"))
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("figures", "speed", "short"))
    ap.add_argument("--dlc", default=os.path.join(ROOT, "build", "dlc"))
    ap.add_argument("--algos", default="reinforce,actor_critic,dqn")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--episodes", type=int, default=0, help="episodes per run (default: the example's)")
    ap.add_argument("--no-torch", action="store_true", help="dlc only")
    ap.add_argument("--out", help="append the JSON lines here")
    a = ap.parse_args()
    if a.mode == "figures":
        figures(a)
    elif a.mode == "speed":
        speed(a)
    else:
        sys.exit(short(a))


if __name__ == "__main__":
    main()
