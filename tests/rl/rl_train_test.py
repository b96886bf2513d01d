#!/usr/bin/env python3
"""Training in an environment (runtime/rl.c, the train block's env and rollout).

usage: rl_train_test.py grads|train|same|errors|walk --dlc DLC --workdir DIR

grads   the policy gradient against PyTorch's, in f64: reinforce_nodrop.dl
        (examples/reinforce_cartpole.dl without dropout) and actor_critic.dl
        (a value head as baseline, smooth_l1 on the returns) each play one
        episode with --dump-grads, from their initial parameters and from
        parameters trained 150 episodes (a 500-step, truncated episode).
        PyTorch rebuilds the network from the dumped parameters and
        differentiates the loss on the dumped rows: the loss and every
        gradient agree to 1e-5 (relative, floor 1e-10).  Independently of
        the model: the episode is a CartPole trajectory (bench/rl_envs.py
        steps each observation with the action taken into the next, and the
        episode ends where it terminates or at 500 steps), the model's own
        action draw at each row equals the one the policy took there, and
        the returns are the normalised discounted returns of a reward of 1
        per step (gamma 0.99, sample std, eps 2^-23) to 1e-9.
train   examples/reinforce_cartpole.dl, 300 episodes, seed 0: the mean return
        of the last 100 episodes is above 50 (a random policy's is about 22;
        this run gives about 92).  With --lr 0 the same bound fails.
same    the same run twice gives the same lines (the timings aside), and
        --threads 1 and --threads 2 give the same lines.
errors  runtime and build errors, each with its exit status and message: a
        user environment that does not compile, one whose observation does
        not fit the model, a policy that chooses an action outside the
        action space, a NaN observation, a missing environment file, an
        RL model given --epochs, and --episodes -1.
walk    a user environment (walk_env.c, the corridor of docs/rl-environments.md
        with a start of its own and a step cost) compiled into a REINFORCE
        model: 200 episodes reach the optimal return, and the greedy policy
        is value iteration's in every state.
Exit 77 without PyTorch (grads) unless DLC_REQUIRE_TORCH=1.
"""
import argparse
import math
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
EXAMPLE = os.path.join(ROOT, "examples", "reinforce_cartpole.dl")
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
EPS = 2.0 ** -23
GAMMA = 0.99


def run(cmd, want=0):
    """Run cmd; its exit status must be `want`.  Returns stdout + stderr."""
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != want:
        print(r.stdout + r.stderr)
        raise SystemExit("FAIL: %s exited with %d, expected %d" % (" ".join(cmd), r.returncode, want))
    return r.stdout + r.stderr


def torch_missing():
    """0 when PyTorch imports; else the test's exit status, having said why:
    77 (skipped), or 1 when DLC_REQUIRE_TORCH=1 says it must run."""
    try:
        import torch  # noqa: F401
    except ImportError:
        msg = "PyTorch not available (install python3-torch)"
        if os.environ.get("DLC_REQUIRE_TORCH") == "1":
            print("FAIL: " + msg)
            return 1
        print("SKIP: " + msg)
        return 77
    return 0


def build(a, src, name, *flags):
    exe = os.path.join(a.workdir, name)
    run([a.dlc] + list(flags) + [src, "-o", exe])
    return exe


# ---- grads ----

def normalised_returns(n):
    """G_t = sum_{k >= t} gamma^(k - t) for a reward of 1 per step,
    standardised with the sample std and eps 2^-23."""
    g, out = 0.0, [0.0] * n
    for t in range(n - 1, -1, -1):
        g = 1.0 + GAMMA * g
        out[t] = g
    mean = sum(out) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in out) / (n - 1)) if n > 1 else 0.0
    return [(x - mean) / (sd + EPS) for x in out]


def check_episode(t, label):
    """The dumped episode is CartPole's, its actions are the model's draws
    and its returns the normalised discounted returns."""
    from rl_envs import CartPole
    obs, act, ret = t["obs"], t["act"], t["ret"]
    n = obs.shape[0]
    if not (act.shape == (n,) and ret.shape == (n,) and 1 <= n <= 500):
        raise SystemExit("FAIL: %s: episode rows: obs %s, act %s, ret %s" % (label, obs.shape, act.shape, ret.shape))
    env = CartPole()
    env.reset_to(obs[0])
    for i in range(n):
        nxt, r, term = env.step(int(act[i]))
        if r != 1.0:
            raise SystemExit("FAIL: %s: reward %g at step %d" % (label, r, i))
        if i + 1 < n:
            if max(abs(x - y) for x, y in zip(nxt, obs[i + 1])) > 1e-12:
                raise SystemExit("FAIL: %s: observation %d is not CartPole's step from %d with action %d:\n"
                                 "  dumped %s\n  stepped %s" % (label, i + 1, i, act[i], list(obs[i + 1]), nxt))
            if term:
                raise SystemExit("FAIL: %s: CartPole terminates at step %d, but the episode goes on to %d rows"
                                 % (label, i + 1, n))
        elif not term and n != 500:
            raise SystemExit("FAIL: %s: the episode stops after %d steps, neither terminated nor truncated"
                             % (label, n))
    if (t["action"] != act).any():
        bad = [i for i in range(n) if t["action"][i] != act[i]]
        raise SystemExit("FAIL: %s: the model's action draw differs from the policy's at rows %s" % (label, bad[:10]))
    want = normalised_returns(n)
    err = max(abs(x - y) for x, y in zip(ret, want))
    if err > 1e-9:
        raise SystemExit("FAIL: %s: returns differ from the normalised discounted returns by %.3g" % (label, err))
    return n


def compare(label, name, got, want, tol=1e-5, floor=1e-10):
    import numpy as np
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise SystemExit("FAIL: %s: %s has shape %s, PyTorch's %s" % (label, name, got.shape, want.shape))
    err = np.abs(got - want)
    bound = tol * np.abs(want) + floor
    if (err > bound).any():
        i = int(np.argmax(err - bound))
        raise SystemExit("FAIL: %s: %s differs from PyTorch's: element %d is %.17g, PyTorch %.17g"
                         % (label, name, i, got.flat[i], want.flat[i]))
    rel = float((err / (np.abs(want) + floor)).max()) if err.size else 0.0
    return rel


def torch_loss(kind, p, t):
    """The model's loss in PyTorch from the dumped parameters p and rows t."""
    import torch
    import torch.nn.functional as F
    obs, act, ret = (torch.from_numpy(t[k]) for k in ("obs", "act", "ret"))
    h = torch.relu(obs @ p["fc1.W"] + p["fc1.b"])
    if kind == "reinforce":
        logits = h @ p["fc2.W"] + p["fc2.b"]
    else:
        logits = h @ p["actor.W"] + p["actor.b"]
    logp = F.log_softmax(logits, dim=1).gather(1, act.long().unsqueeze(1)).squeeze(1)
    if kind == "reinforce":
        return -(ret * logp).sum()
    v = (h @ p["critic.W"] + p["critic.b"]).reshape(-1)
    return (-(ret - v.detach()) * logp).sum() + F.smooth_l1_loss(v, ret, reduction="sum")


def grads(a):
    status = torch_missing()
    if status:
        return status
    import torch
    import st
    cases = (("reinforce", "reinforce_nodrop.dl"), ("actor_critic", "actor_critic.dl"))
    for kind, src in cases:
        exe = build(a, os.path.join(HERE, src), kind, "--dtype", "f64")
        ckpt = os.path.join(a.workdir, kind + "_trained.st")
        run([exe, "--episodes", "150", "--seed", "1", "--save", ckpt, "--quiet"])
        for when, extra in (("initial", []), ("trained", ["--load", ckpt])):
            dump = os.path.join(a.workdir, "%s_%s.st" % (kind, when))
            run([exe, "--dump-grads", dump, "--seed", "3"] + extra)
            t, meta = st.load(dump)
            label = "%s (%s parameters)" % (src, when)
            n = check_episode(t, label)
            if meta.get("rows") != str(n):
                raise SystemExit("FAIL: %s: metadata rows %r, episode of %d rows" % (label, meta.get("rows"), n))
            pnames = [k[2:] for k in t if k.startswith("d_")]
            p = {k: torch.from_numpy(t[k]).requires_grad_(True) for k in pnames}
            loss = torch_loss(kind, p, t)
            loss.backward()
            worst = compare(label, "loss", t["loss"], loss.item())
            for k in sorted(pnames):
                worst = max(worst, compare(label, "d_" + k, t["d_" + k], p[k].grad.numpy()))
            print("%s: %d steps, loss %.6f, %d gradients equal PyTorch's (largest relative difference %.2g)"
                  % (label, n, float(t["loss"]), len(pnames), worst))
    print("PASS")
    return 0


# ---- train, same ----

LAST = re.compile(r"^mean return of the last (\d+) episodes: ([0-9.eE+-]+)$", re.M)


def last_mean(out):
    m = LAST.search(out)
    if not m:
        print(out)
        raise SystemExit("FAIL: no 'mean return of the last ... episodes' line")
    return int(m.group(1)), float(m.group(2))


def train(a):
    exe = build(a, EXAMPLE, "reinforce_cartpole")
    k, good = last_mean(run([exe, "--episodes", "300", "--seed", "0"]))
    print("reinforce_cartpole, 300 episodes, seed 0: mean return of the last %d episodes %.2f" % (k, good))
    if k != 100 or not good > 50:
        raise SystemExit("FAIL: the mean return of the last 100 episodes should be above 50 (random: about 22)")
    k, still = last_mean(run([exe, "--episodes", "300", "--seed", "0", "--lr", "0"]))
    print("the same with --lr 0: %.2f" % still)
    if still > 50:
        raise SystemExit("FAIL: an untrained policy meets the bound: the bound proves nothing")
    print("PASS")
    return 0


TIMING = re.compile(r"\s+[0-9.]+ steps/s|in [0-9.]+ s: [0-9]+ steps/s.*$")


def stable_lines(out):
    """The output without its timings."""
    return [TIMING.sub("", line) for line in out.splitlines()]


def same(a):
    exe = build(a, EXAMPLE, "reinforce_cartpole")
    runs = {}
    for name, threads in (("first", "1"), ("again", "1"), ("threads 2", "2")):
        log = os.path.join(a.workdir, "log_%s.csv" % name.replace(" ", "_"))
        out = run([exe, "--episodes", "200", "--seed", "4", "--threads", threads, "--log", log, "--log-every", "1"])
        with open(log) as f:
            rows = [line.rsplit(",", 1)[0] for line in f.read().splitlines()]  # without the seconds
        runs[name] = (stable_lines(out), rows)
    ref, ref_rows = runs["first"]
    if len(ref_rows) != 201 or sum(line.startswith("episode ") for line in ref) != 200:
        raise SystemExit("FAIL: expected a line and a log row per episode")
    for name in ("again", "threads 2"):
        lines, rows = runs[name]
        for what, x, y in (("output", ref, lines), ("log", ref_rows, rows)):
            if x != y:
                for i, (u, v) in enumerate(zip(x, y)):
                    if u != v:
                        raise SystemExit("FAIL: %s: %s line %d differs:\n  %s\n  %s" % (name, what, i + 1, u, v))
                raise SystemExit("FAIL: %s: %d %s lines, the first run %d" % (name, len(y), what, len(x)))
        print("%s: the same %d lines and %d log rows" % (name, len(lines), len(rows)))
    print("PASS")
    return 0


# ---- errors ----

def expect_fail(label, cmd, status, *patterns):
    r = subprocess.run(cmd, capture_output=True, text=True)
    out = r.stdout + r.stderr
    if r.returncode != status:
        print(out)
        raise SystemExit("FAIL: %s: exit status %d, expected %d" % (label, r.returncode, status))
    for p in patterns:
        if not re.search(p, out, re.M):
            print(out)
            raise SystemExit("FAIL: %s: no message matching %r" % (label, p))
    said = next(line for line in out.splitlines() if re.search(patterns[0], line))
    print("%s: exit %d: %s" % (label, status, said.strip()))
    return out


def errors(a):
    d = a.workdir
    src = lambda name: os.path.join(HERE, name)  # noqa: E731
    exe = os.path.join(d, "bin")
    # a user environment that does not compile: the C compiler's message
    # names the file and the line
    expect_fail("bad_env.c", [a.dlc, src("bad_env_model.dl"), "-o", exe], 1,
                r"bad_env\.c:14:", r"error")
    # a missing environment file: dlc's message at the c("...") argument
    expect_fail("missing env file", [a.dlc, src("missing_env_model.dl"), "-o", exe], 1,
                r"missing_env_model\.dl:17:9: error: cannot open the environment file 'no_such_env\.c'")
    # observations of 3 numbers for a model that reads 4
    e = build(a, src("obs3_model.dl"), "obs3")
    expect_fail("observation size", [e, "--episodes", "1"], 1,
                r"obs3_env\.c observes 3 numbers a step, but observation 'obs' holds 4 numbers a row")
    # actions taken as one of 3 (one_hot(act, 3)) on CartPole's 2
    e = build(a, src("classes3_model.dl"), "classes3")
    expect_fail("action classes", [e, "--episodes", "1"], 1,
                r"cartpole has 2 actions, but the model uses action 'act' as one of 3")
    # a policy that always chooses action 2 of CartPole's 2
    e = build(a, src("action2_model.dl"), "action2")
    expect_fail("action outside the space", [e, "--episodes", "3"], 1,
                r"episode 1, step 0: the policy 'action' chose action 2, but cartpole has 2 actions \(0\.\.1\)")
    # an environment whose observation turns NaN at its fourth step
    e = build(a, src("nan_model.dl"), "nan")
    expect_fail("NaN observation", [e, "--episodes", "3"], 1,
                r"nan_env\.c: episode 1, step 4: the environment returned a non-finite observation "
                r"\(element 1 is NaN\); stopping")
    # the trainer's flags
    e = build(a, EXAMPLE, "reinforce_cartpole")
    expect_fail("--epochs", [e, "--epochs", "3"], 2, r"--epochs.*does not apply")
    expect_fail("--episodes -1", [e, "--episodes", "-1"], 2, r"--episodes: expected a whole number >= 0, found '-1'")
    # --dump-grads plays an episode: not for replay
    e = build(a, src("qlearn_start.dl"), "qlearn_start")
    expect_fail("--dump-grads with replay", [e, "--dump-grads", os.path.join(d, "x.st")], 1,
                r"--dump-grads plays one episode: for models trained on episode rollouts")
    print("PASS")
    return 0


# ---- walk ----

def greedy_summary(out, episodes):
    """The eval line's mean return and value iteration's agreement."""
    m = re.search(r"^eval: %d greedy episodes: mean return ([0-9.eE+-]+) " % episodes, out, re.M)
    v = re.search(r"^greedy policy: optimal in (\d+) of (\d+) states", out, re.M)
    if not m or not v:
        print(out)
        raise SystemExit("FAIL: no eval or value-iteration summary")
    return float(m.group(1)), int(v.group(1)), int(v.group(2))


def walk(a):
    e = build(a, os.path.join(HERE, "walk_model.dl"), "walk")
    flags = ["--episodes", "200", "--seed", "0", "--eval-episodes", "20", "--value-iteration"]
    out = run([e] + flags)
    ret, agree, states = greedy_summary(out, 20)
    k, last = last_mean(out)
    print("walk: mean return of the last %d episodes %.2f, greedy %.2f, optimal in %d of %d states"
          % (k, last, ret, agree, states))
    # from cell 2 to cell 9: six steps of -0.1, then +1 entering the goal
    best = 1.0 - 0.1 * 6
    if abs(ret - best) > 1e-9 or states != 9 or agree != states:
        print(out)
        raise SystemExit("FAIL: the greedy policy should reach the goal in 7 steps (return %.1f) and be optimal "
                         "in the 9 cells before it" % best)
    if not last > 0.2:
        raise SystemExit("FAIL: the sampled policy's mean return %.2f should be above 0.2" % last)
    ret0, agree0, _ = greedy_summary(run([e] + flags + ["--lr", "0"]), 20)
    print("the same with --lr 0: greedy %.2f, optimal in %d of %d states" % (ret0, agree0, states))
    if abs(ret0 - best) <= 1e-9 and agree0 == states:
        raise SystemExit("FAIL: the untrained policy is already optimal: the check proves nothing")
    print("PASS")
    return 0


def vstart(a):
    e = build(a, os.path.join(HERE, "qlearn_start.dl"), "qlearn_start")
    out = run([e, "--seed", "0", "--eval-episodes", "10", "--value-iteration"])
    ret, agree, states = greedy_summary(out, 10)
    m = re.search(r"^value iteration \(gamma 0\.95, \d+ sweeps\): V\(start\) = ([0-9.eE+-]+)$", out, re.M)
    row = re.search(r"^ +1 +\d+ +[0-9,]+ +([0-9.eE+-]+)$", out, re.M)
    if not m or not row:
        print(out)
        raise SystemExit("FAIL: no V(start) line or no row for state 1")
    print("qlearn_start: greedy return %.2f, optimal in %d of %d states; V(start) %s, V*(1) %s"
          % (ret, agree, states, m.group(1), row.group(1)))
    if ret != 1.0 or agree != states or states != 4:
        raise SystemExit("FAIL: Q-learning should find the 2-step path (return 1) and be optimal in the 4 states")
    if abs(float(row.group(1)) - 0.95) > 1e-6:
        raise SystemExit("FAIL: V*(1) should be gamma = 0.95")
    if abs(float(m.group(1)) - 0.95) > 1e-6:
        raise SystemExit("FAIL: V(start) should be the value of the start, state 1 (0.95), not %s" % m.group(1))
    print("PASS")
    return 0


def flags(a):
    """Trainer flags that do nothing in an environment are refused, not
    ignored: each either stops with 'does not apply' (exit 2) or does
    what it says (writes its file)."""
    e = build(a, EXAMPLE, "reinforce_cartpole")
    d = a.workdir
    cases = [
        (["--dump-forward", os.path.join(d, "fwd.st")], os.path.join(d, "fwd.st")),
        (["--dump-data", os.path.join(d, "data.st")], os.path.join(d, "data.st")),
        (["--trace", os.path.join(d, "trace.csv")], os.path.join(d, "trace.csv")),
        (["--dot", os.path.join(d, "g.dot")], os.path.join(d, "g.dot")),
        (["--lipschitz"], None),
        (["--grad-sweep"], None),
        (["--warmup", "5"], None),
        (["--check-numerics"], None),
    ]
    bad = []
    for extra, path in cases:
        if path and os.path.exists(path):
            os.remove(path)
        r = subprocess.run([e, "--episodes", "2"] + extra, capture_output=True, text=True)
        out = r.stdout + r.stderr
        refused = r.returncode == 2 and extra[0] in out and "does not apply" in out
        done = r.returncode == 0 and path is not None and os.path.exists(path)
        print("%s: exit %d, %s" % (" ".join(extra), r.returncode,
                                   "refused" if refused else "file written" if done else "ignored"))
        if not (refused or done):
            bad.append(extra[0])
    if bad:
        raise SystemExit("FAIL: an RL model trains as if %s were not given" % ", ".join(bad))
    print("PASS")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["grads", "train", "same", "errors", "walk", "vstart", "flags"])
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    return {"grads": grads, "train": train, "same": same, "errors": errors, "walk": walk, "vstart": vstart,
            "flags": flags}[a.what](a)


if __name__ == "__main__":
    sys.exit(main())
