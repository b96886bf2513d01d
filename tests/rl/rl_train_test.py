#!/usr/bin/env python3
"""Training in an environment (runtime/rl.c, the train block's env and rollout).

usage: rl_train_test.py WHAT --dlc DLC --workdir DIR

grads   the policy gradient against PyTorch's, in f64: reinforce_nodrop.dl
        (examples/reinforce_cartpole.dl without dropout),
        examples/actor_critic_cartpole.dl (a value head as baseline,
        smooth_l1 on the returns) and
        reinforce_raw.dl (plain returns, gamma 0.9) each play one
        episode with --dump-grads, from their initial parameters and from
        parameters trained 150 episodes (up to a 500-step, truncated episode).
        PyTorch rebuilds the network from the dumped parameters and
        differentiates the loss on the dumped rows: the loss and every
        gradient agree to 1e-5 (relative, floor 1e-10).  Independently of
        the model: the episode is a CartPole trajectory (bench/rl_envs.py
        steps each observation with the action taken into the next, and the
        episode ends where it terminates or at 500 steps), the model's own
        action draw at each row equals the one the policy took there, and
        the returns are the discounted returns of a reward of 1 per step
        (normalised: sample std, eps 2^-23) to 1e-9.  The example itself,
        with dropout, passes the same episode checks: the training step's
        rows draw the policy's dropout masks, so the same actions.
train   examples/reinforce_cartpole.dl, 300 episodes, seed 0: the mean return
        of the last 100 episodes is above 50 (a random policy's is about 22;
        this run gives about 92).  With --lr 0 the same bound fails.
        (tests/rltrain trains DQN and actor-critic the same way.)
same    the same run twice gives the same lines and log rows (the timings
        aside), and --threads 1 and --threads 2 give the same:
        reinforce_cartpole, 200 episodes (tests/rltrain checks DQN).
errors  runtime and build errors, each with its exit status and message: a
        user environment that does not compile, a missing environment file,
        one that refuses its settings, a gridworld map with an unknown cell,
        an observation that does not fit the model, actions taken as one of
        3 on CartPole's 2, a batch shorter than an episode, a policy that
        chooses an action outside the action space, a NaN observation, a
        state id outside the states, a
        NaN reward, a NaN loss, --epochs and --episodes -1, --dump-grads with
        replay.
walk    a user environment (walk_env.c, a corridor of 10 cells with a step
        cost) compiled into a REINFORCE model: after 200 episodes the greedy
        policy reaches the goal on the shortest path and is value iteration's
        in every state; with --lr 0 it is not.
short   cartpole(max_steps = 100) with a batch of 100: episodes stop at 100
        steps, and REINFORCE still learns (last 100 episodes above 50).
qlearn  tabular Q-learning (qlearn_start.dl, replay of one transition) on a
        small deterministic map: the saved table equals Q* to 1e-3.
targets a target network following by Polyak averaging (tau 0.3) and one
        copied every 3 updates, on a one-state environment whose episodes
        are truncated (loop_env.c) or terminate (end_env.c): Q and its target
        after 100 updates equal the recurrence worked out by hand to 1e-12
        (f64), so a truncated step bootstraps and a terminal one does not.
schedules  exp_decay (end + (start - end) exp(-t / steps)) and linear_decay
        (start + (end - start) t / steps until t = steps) of a hyper, set
        before environment step t: a one-state table that regresses on the
        hyper records every value, equal by hand to 1e-12 (f64).
draws   categorical and epsilon_greedy draw each step's action with the
        policy's probabilities (count_env.c counts them): mean and variance
        over 100 episodes of 100 steps as a binomial's; greedy evaluation
        takes the most likely action.
vstart  value iteration's summary on that map, whose start is cell 1: the
        value it prints for the start is state 1's, 0.95 (not cell 0's).
flags   trainer flags that an RL run does not carry out (--dump-forward,
        --dump-data, --trace, --dot, --lipschitz, --grad-sweep, --warmup,
        --check-numerics, --noise) are refused or done, not ignored.
batchstats  a policy that reads statistics over the batch (batch norm in
        training mode, a mean over axis 0) acts on one observation, where
        they make the action independent of it: dlc refuses such a policy.
messages  an episode rollout in an environment without a step limit is
        refused with a message that names max_steps and no "0 steps"; an RL
        program's --help lists --episodes, --eval-episodes, --value-iteration.
load    --save and --load as docs/rl.md has them: a checkpoint loaded with
        --eval-episodes alone evaluates as the run that saved it did; one
        more episode from it is Adam's next step; a run from it counts its
        episodes afresh.
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

def discounted_returns(n, gamma, normalize):
    """G_t = sum_{k >= t} gamma^(k - t) for a reward of 1 per step; with
    normalize, standardised with the sample std and eps 2^-23."""
    g, out = 0.0, [0.0] * n
    for t in range(n - 1, -1, -1):
        g = 1.0 + gamma * g
        out[t] = g
    if not normalize:
        return out
    mean = sum(out) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in out) / (n - 1)) if n > 1 else 0.0
    return [(x - mean) / (sd + EPS) for x in out]


def check_episode(t, label, gamma, normalize):
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
    want = discounted_returns(n, gamma, normalize)
    err = max(abs(x - y) for x, y in zip(ret, want))
    if err > 1e-9:
        raise SystemExit("FAIL: %s: returns differ from the %sdiscounted returns (gamma %g) by %.3g"
                         % (label, "normalised " if normalize else "", gamma, err))
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
    if kind != "actor_critic":
        logits = h @ p["fc2.W"] + p["fc2.b"]
    else:
        logits = h @ p["actor.W"] + p["actor.b"]
    logp = F.log_softmax(logits, dim=1).gather(1, act.long().unsqueeze(1)).squeeze(1)
    if kind != "actor_critic":
        return -(ret * logp).sum()
    v = (h @ p["critic.W"] + p["critic.b"]).reshape(-1)
    return (-(ret - v.detach()) * logp).sum() + F.smooth_l1_loss(v, ret, reduction="sum")


def grads(a):
    status = torch_missing()
    if status:
        return status
    import torch
    import st
    cases = (("reinforce", os.path.join(HERE, "reinforce_nodrop.dl"), GAMMA, True),
             ("actor_critic", os.path.join(ROOT, "examples", "actor_critic_cartpole.dl"), GAMMA, True),
             ("reinforce_raw", os.path.join(HERE, "reinforce_raw.dl"), 0.9, False))
    for kind, path, gamma, normalize in cases:
        src = os.path.basename(path)
        exe = build(a, path, kind, "--dtype", "f64")
        ckpt = os.path.join(a.workdir, kind + "_trained.st")
        run([exe, "--episodes", "150", "--seed", "1", "--save", ckpt, "--quiet"])
        for when, extra in (("initial", []), ("trained", ["--load", ckpt])):
            dump = os.path.join(a.workdir, "%s_%s.st" % (kind, when))
            run([exe, "--dump-grads", dump, "--seed", "3"] + extra)
            t, meta = st.load(dump)
            label = "%s (%s parameters)" % (src, when)
            n = check_episode(t, label, gamma, normalize)
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
    # with dropout: the training step's row t draws the mask the policy drew
    # at step t, so the model's own action draws are the policy's again
    exe = build(a, EXAMPLE, "reinforce_dropout", "--dtype", "f64")
    ckpt = os.path.join(a.workdir, "dropout_trained.st")
    run([exe, "--episodes", "150", "--seed", "1", "--save", ckpt, "--quiet"])
    for seed, extra in (("3", []), ("4", []), ("5", []), ("3", ["--load", ckpt]), ("4", ["--load", ckpt])):
        label = "reinforce_cartpole.dl (dropout 0.6, %s parameters), seed %s" % (
            "trained" if extra else "initial", seed)
        dump = os.path.join(a.workdir, "dropout.st")
        run([exe, "--dump-grads", dump, "--seed", seed] + extra)
        t, _ = st.load(dump)
        n = check_episode(t, label, GAMMA, True)
        print("%s: %d steps, the model's draws are the policy's" % (label, n))
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
    cases = (("reinforce_cartpole", "200"),)  # dqn_cartpole: tests/rltrain same_bits
    for name, episodes in cases:
        exe = build(a, os.path.join(ROOT, "examples", name + ".dl"), name)
        runs = {}
        for run_name, threads in (("first", "1"), ("again", "1"), ("threads 2", "2")):
            log = os.path.join(a.workdir, "%s_%s.csv" % (name, run_name.replace(" ", "_")))
            out = run([exe, "--episodes", episodes, "--seed", "4", "--threads", threads, "--log", log,
                       "--log-every", "1"])
            with open(log) as f:
                rows = [line.rsplit(",", 1)[0] for line in f.read().splitlines()]  # without the seconds
            runs[run_name] = (stable_lines(out), rows)
        ref, ref_rows = runs["first"]
        n = int(episodes)
        if len(ref_rows) != n + 1 or sum(line.startswith("episode ") for line in ref) != n:
            raise SystemExit("FAIL: %s: expected a line and a log row per episode" % name)
        for run_name in ("again", "threads 2"):
            lines, rows = runs[run_name]
            for what, x, y in (("output", ref, lines), ("log", ref_rows, rows)):
                if x != y:
                    for i, (u, v) in enumerate(zip(x, y)):
                        if u != v:
                            raise SystemExit("FAIL: %s, %s: %s line %d differs:\n  %s\n  %s"
                                             % (name, run_name, what, i + 1, u, v))
                    raise SystemExit("FAIL: %s, %s: %d %s lines, the first run %d"
                                     % (name, run_name, len(y), what, len(x)))
            print("%s, %s: the same %d lines and %d log rows" % (name, run_name, len(lines), len(rows)))
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
    # an environment that refuses its settings: its reason
    e = build(a, src("refuse_model.dl"), "refuse")
    expect_fail("create refuses", [e, "--episodes", "1"], 1,
                r"refuse_env\.c: refuse: max_steps 10 is not a multiple of 7$")
    # a gridworld map with a cell it does not know
    e = build(a, src("bad_map.dl"), "bad_map")
    expect_fail("gridworld map", [e, "--episodes", "1"], 1, r"unknown character 'X' at row 2, column 2")
    # observations of 3 numbers for a model that reads 4
    e = build(a, src("obs3_model.dl"), "obs3")
    expect_fail("observation size", [e, "--episodes", "1"], 1,
                r"obs3_env\.c observes 3 numbers a step, but observation 'obs' holds 4 numbers a row")
    # actions taken as one of 3 (one_hot(act, 3)) on CartPole's 2
    e = build(a, src("classes3_model.dl"), "classes3")
    expect_fail("action classes", [e, "--episodes", "1"], 1,
                r"cartpole has 2 actions, but the model uses action 'act' as one of 3")
    # a batch of 100 rows for episodes of up to 500 steps
    e = build(a, src("cartpole_batch100.dl"), "batch100")
    expect_fail("batch shorter than an episode", [e, "--episodes", "1"], 1,
                r"an episode of cartpole lasts up to 500 steps, but the batch \(the first dim of 'obs'\) holds 100: "
                r"make it at least that, or limit episodes with max_steps")
    # a policy that always chooses action 2 of CartPole's 2
    e = build(a, src("action2_model.dl"), "action2")
    expect_fail("action outside the space", [e, "--episodes", "3"], 1,
                r"episode 1, step 0: the policy 'action' chose action 2, but cartpole has 2 actions \(0\.\.1\)")
    # an environment whose observation turns NaN at its fourth step
    e = build(a, src("nan_model.dl"), "nan")
    expect_fail("NaN observation", [e, "--episodes", "3"], 1,
                r"nan_env\.c: episode 1, step 4: the environment returned a non-finite observation "
                r"\(element 1 is NaN\); stopping")
    # a state id outside the environment's states
    e = build(a, src("bad_state_model.dl"), "bad_state")
    expect_fail("state outside the states", [e, "--episodes", "2"], 1,
                r"bad_state_env\.c: episode 1, step 3: the environment returned state 3, outside \[0, 3\)")
    # a NaN reward at the fourth step, and a loss that is NaN
    e = build(a, src("nan_reward_model.dl"), "nan_reward")
    expect_fail("NaN reward", [e, "--episodes", "3"], 1,
                r"nan_reward_env\.c: episode 1, step 4: the environment returned a reward of NaN; stopping")
    e = build(a, src("nan_loss.dl"), "nan_loss")
    expect_fail("NaN loss", [e, "--episodes", "3"], 1, r"episode 1, update \d+: the loss is NaN; stopping")
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

def greedy_eval(out, episodes):
    """The eval line's mean return, std and min."""
    m = re.search(r"^eval: %d greedy episodes?: mean return ([0-9.eE+-]+) \(std ([0-9.eE+-]+), min ([0-9.eE+-]+)"
                  % episodes, out, re.M)
    if not m:
        print(out)
        raise SystemExit("FAIL: no eval line")
    return float(m.group(1)), float(m.group(2)), float(m.group(3))


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


def targets(a):
    """Target networks and the done flag, against the recurrence worked out
    by hand: one state, one action, reward 1 a step, each step trained on
    its own transition (capacity 1, batch 1) with SGD, in f64."""
    import st
    cases = (("target_polyak.dl", False, 0.3, 1), ("target_every.dl", True, 1.0, 3))
    for src, end, tau, every in cases:
        exe = build(a, os.path.join(HERE, src), src[:-3], "--dtype", "f64")
        ckpt = os.path.join(a.workdir, src[:-3] + ".st")
        run([exe, "--seed", "0", "--save", ckpt])
        t, meta = st.load(ckpt)
        q = qt = 0.0
        for i in range(100):  # 20 episodes of 5 steps
            done = end and i % 5 == 4
            q += 0.1 * (1 + (0 if done else 0.9 * qt) - q)
            if tau < 1:
                qt = tau * q + (1 - tau) * qt
            elif (i + 1) % every == 0:
                qt = q
        got_q, got_qt = float(t["Q.W"].ravel()[0]), float(t["Qt.W"].ravel()[0])
        print("%s: %s updates: Q %.15g (by hand %.15g), Qt %.15g (by hand %.15g)"
              % (src, meta.get("step"), got_q, q, got_qt, qt))
        if meta.get("step") != "100" or abs(got_q - q) > 1e-12 * q or abs(got_qt - qt) > 1e-12 * qt:
            raise SystemExit("FAIL: %s: Q and its target should follow the recurrence" % src)
    print("PASS")
    return 0


def schedules(a):
    """exp_decay and linear_decay move a hyper before every environment
    step: Q += lr (eps_t - Q) over 100 steps records every eps_t."""
    import st
    cases = (("schedule_exp.dl", lambda t: 0.1 + 0.9 * math.exp(-t / 30)),
             ("schedule_linear.dl", lambda t: 0.2 if t >= 40 else 1 + (0.2 - 1) * t / 40))
    for src, eps in cases:
        exe = build(a, os.path.join(HERE, src), src[:-3], "--dtype", "f64")
        ckpt = os.path.join(a.workdir, src[:-3] + ".st")
        run([exe, "--seed", "0", "--save", ckpt])
        t, _ = st.load(ckpt)
        q = 0.0
        for i in range(100):
            q += 0.1 * (eps(i) - q)
        got = float(t["W"].ravel()[0])
        print("%s: Q %.15g, by hand %.15g" % (src, got, q))
        if abs(got - q) > 1e-12 * q:
            raise SystemExit("FAIL: %s: the schedule's values differ from its formula" % src)
    print("PASS")
    return 0


def draws(a):
    """The policy's action draws in training: categorical picks action 1
    with probability softmax(logits)[1] = 0.8, epsilon_greedy (eps 0.3,
    action 0 the greedy one) with eps / 2 = 0.15, independently at every
    step, in episode rollouts and (epsilon_greedy) in replay: over 100
    episodes of 100 steps (count_env.c: the return counts the actions 1)
    the mean return is 100 p within 5 standard errors and its variance
    across episodes 100 p (1 - p) within a factor [0.4, 1.7]; the greedy
    evaluation always takes the most likely action."""
    import statistics
    for src, p, greedy in (("draw_categorical.dl", 0.8, 100), ("draw_epsilon.dl", 0.15, 0),
                           ("draw_epsilon_replay.dl", 0.15, 0)):
        exe = build(a, os.path.join(HERE, src), src[:-3])
        log = os.path.join(a.workdir, src[:-3] + ".csv")
        out = run([exe, "--episodes", "100", "--seed", "0", "--log", log, "--eval-episodes", "5"])
        with open(log) as f:
            r = [float(line.split(",")[2]) for line in f.read().splitlines()[1:]]
        mean, var = statistics.mean(r), statistics.variance(r)
        ev, _, _ = greedy_eval(out, 5)
        want, want_var = 100 * p, 100 * p * (1 - p)
        print("%s: mean return %.2f (binomial %.1f), variance %.2f (%.2f); greedy %.0f"
              % (src, mean, want, var, want_var, ev))
        if len(r) != 100 or abs(mean - want) > 5 * math.sqrt(want_var / 100) or not 0.4 < var / want_var < 1.7:
            raise SystemExit("FAIL: %s: the draws do not follow the policy's probabilities" % src)
        if ev != greedy:
            raise SystemExit("FAIL: %s: the greedy policy's return should be %d" % (src, greedy))
    print("PASS")
    return 0


def messages(a):
    """What an RL program says about itself: a batch for an environment
    without a step limit names the missing limit (not "up to (no limit) 0
    steps"), and --help lists the flags of training in an environment."""
    bad = []
    e = build(a, os.path.join(HERE, "nolimit_model.dl"), "nolimit")
    r = subprocess.run([e, "--episodes", "1"], capture_output=True, text=True)
    said = (r.stdout + r.stderr).strip()
    print("no step limit: exit %d: %s" % (r.returncode, said))
    if r.returncode != 1 or "max_steps" not in said or re.search(r"\b0 steps", said):
        bad.append("the message for an environment without a step limit")
    e = build(a, EXAMPLE, "reinforce_cartpole")
    r = subprocess.run([e, "--help"], capture_output=True, text=True)
    out = r.stdout + r.stderr
    missing = [f for f in ("--episodes", "--eval-episodes", "--value-iteration") if f not in out]
    print("--help: exit %d, %s" % (r.returncode, "lists " + ", ".join(missing) + " not" if missing else
                                   "lists the RL flags"))
    if missing:
        bad.append("--help without %s" % ", ".join(missing))
    if bad:
        raise SystemExit("FAIL: " + "; ".join(bad))
    print("PASS")
    return 0


def vstart(a):
    e = build(a, os.path.join(HERE, "qlearn_start.dl"), "qlearn_start")
    out = run([e, "--seed", "0", "--eval-episodes", "10", "--value-iteration"])
    ret, agree, states = greedy_summary(out, 10)
    m = re.search(r"^value iteration \(gamma 0\.95, \d+ sweeps\): V\((start|\d+)\) = ([0-9.eE+-]+)", out, re.M)
    row = re.search(r"^ +1 +\d+ +[0-9,]+ +([0-9.eE+-]+)$", out, re.M)
    if not m or not row:
        print(out)
        raise SystemExit("FAIL: no V(start) line or no row for state 1")
    print("qlearn_start: greedy return %.2f, optimal in %d of %d states; V(%s) %s, V*(1) %s"
          % (ret, agree, states, m.group(1), m.group(2), row.group(1)))
    if ret != 1.0 or agree != states or states != 4:
        raise SystemExit("FAIL: Q-learning should find the 2-step path (return 1) and be optimal in the 4 states")
    if abs(float(row.group(1)) - 0.95) > 1e-6:
        raise SystemExit("FAIL: V*(1) should be gamma = 0.95")
    if m.group(1) not in ("start", "1") or abs(float(m.group(2)) - 0.95) > 1e-6:
        raise SystemExit("FAIL: the summary should give the value of the start, state 1 (0.95), not V(%s) = %s"
                         % m.groups())
    print("PASS")
    return 0


def flags(a):
    """Trainer flags that do nothing in an environment are refused, not
    ignored: each either stops with 'does not apply' (exit 2) or does
    what it says (writes its file, prints its table; --dot asks for a
    build with value probes, as for any model)."""
    import numpy as np
    e = build(a, EXAMPLE, "reinforce_cartpole")
    d = a.workdir
    noise = os.path.join(d, "u.npy")
    np.save(noise, np.full((500, 2), 0.5))  # the Gumbel draws of categorical: its greedy action
    cases = [
        (["--dump-forward", os.path.join(d, "fwd.st")], os.path.join(d, "fwd.st")),
        (["--dump-data", os.path.join(d, "data.st")], os.path.join(d, "data.st")),
        (["--trace", os.path.join(d, "trace.csv")], os.path.join(d, "trace.csv")),
        (["--dot", os.path.join(d, "g.dot")], "compiled without value probes"),
        (["--lipschitz"], None),
        (["--grad-sweep"], "grad-sweep of"),
        (["--warmup", "5"], None),
        (["--check-numerics"], None),
        (["--noise", "random1=" + noise], None),
    ]
    bad = []
    for extra, path in cases:
        is_file = path is not None and path.startswith(d)
        if is_file and os.path.exists(path):
            os.remove(path)
        r = subprocess.run([e, "--episodes", "2"] + extra, capture_output=True, text=True)
        out = r.stdout + r.stderr
        refused = r.returncode == 2 and extra[0] in out and "does not apply" in out
        done = (is_file and r.returncode == 0 and os.path.exists(path)) or \
               (path is not None and not is_file and path in out and "episode 1 " not in out)
        print("%s: exit %d, %s" % (" ".join(extra), r.returncode,
                                   "refused" if refused else "file written" if done else "ignored"))
        if not (refused or done):
            bad.append(extra[0])
    if bad:
        raise SystemExit("FAIL: an RL model trains as if %s were not given" % ", ".join(bad))
    print("PASS")
    return 0


def short(a):
    """Episodes truncated at cartpole(max_steps = 100), in a batch of 100."""
    e = build(a, os.path.join(HERE, "cartpole_short.dl"), "cartpole_short")
    log = os.path.join(a.workdir, "short.csv")
    k, last = last_mean(run([e, "--seed", "1", "--log", log]))
    with open(log) as f:
        steps = [int(line.split(",")[1]) for line in f.read().splitlines()[1:]]
    full = sum(n == 100 for n in steps)
    print("cartpole_short: %d episodes, the longest %d steps, %d of them truncated at 100; mean return of the "
          "last %d %.2f" % (len(steps), max(steps), full, k, last))
    if len(steps) != 200 or max(steps) != 100 or full < 20 or not last > 50:
        raise SystemExit("FAIL: 200 episodes of at most 100 steps, at least 20 truncated, the last 100 above 50")
    print("PASS")
    return 0


def qlearn_q(cells, cols, gamma):
    """Q* of a deterministic gridworld (value iteration on the map)."""
    rows = len(cells) // cols
    moves = ((0, -1), (1, 0), (0, 1), (-1, 0))  # left, down, right, up

    def nxt(s, act):
        r, c = divmod(s, cols)
        r2, c2 = r + moves[act][0], c + moves[act][1]
        if not (0 <= r2 < rows and 0 <= c2 < cols) or cells[r2 * cols + c2] == "#":
            return s
        return r2 * cols + c2
    V = [0.0] * len(cells)
    for _ in range(1000):
        Q = [[0.0] * 4 for _ in cells]
        for s, ch in enumerate(cells):
            if ch in "#GH":
                continue
            for act in range(4):
                s2 = nxt(s, act)
                end = cells[s2] in "GH"
                Q[s][act] = (1.0 if cells[s2] == "G" else 0.0) + (0.0 if end else gamma * V[s2])
        V = [max(q) for q in Q]
    return Q


def qlearn(a):
    """Tabular Q-learning's table converges to Q*: the TD target, terminal
    cells (no bootstrap), walls and edges."""
    import st
    e = build(a, os.path.join(HERE, "qlearn_start.dl"), "qlearn_start")
    ckpt = os.path.join(a.workdir, "q.st")
    run([e, "--seed", "0", "--save", ckpt])
    t, meta = st.load(ckpt)
    want = qlearn_q("#S...G", 3, 0.95)
    err = max(abs(t["Q"][s][act] - want[s][act]) for s in range(6) for act in range(4))
    print("qlearn_start: 300 episodes, %s updates: Q within %.2g of Q*" % (meta.get("step"), err))
    if err > 1e-3:
        print(t["Q"])
        raise SystemExit("FAIL: the learned Q should be Q* to 1e-3")
    print("PASS")
    return 0


def batchstats(a):
    """A policy that reads statistics over the batch (batch norm in training
    mode, a mean over axis 0) acts on one observation, where they make its
    action independent of the observation: dlc refuses it."""
    bad = []
    for name in ("policy_batch_norm.dl", "policy_batch_mean.dl"):
        exe = os.path.join(a.workdir, name[:-3])
        r = subprocess.run([a.dlc, os.path.join(HERE, name), "-o", exe], capture_output=True, text=True)
        out = r.stdout + r.stderr
        if r.returncode == 1 and re.search(r"%s:\d+:\d+: error: .*policy" % re.escape(name), out):
            print("%s: %s" % (name, next(line for line in out.splitlines() if "error" in line)))
            continue
        if r.returncode == 0:
            k, last = last_mean(run([exe, "--seed", "0"]))
            print("%s: compiled; 300 episodes give a mean return of %.2f over the last %d (a random policy: "
                  "about 22)" % (name, last, k))
        else:
            print(out)
        bad.append(name)
    if bad:
        raise SystemExit("FAIL: dlc should refuse a policy that reads batch statistics: %s" % ", ".join(bad))
    print("PASS")
    return 0


def load(a):
    """--save and --load (docs/rl.md: --load starts from the saved
    parameters and optimizer state, as a new run): the greedy evaluation
    after 60 episodes equals the one of the checkpoint loaded alone; one
    more episode from it is the optimizer's 61st step; a run from it counts
    its episodes from 1."""
    import st
    e = build(a, EXAMPLE, "reinforce_cartpole")
    d = a.workdir
    ckpt, ckpt2, log = (os.path.join(d, n) for n in ("ck60.st", "ck61.st", "more.csv"))
    out = run([e, "--episodes", "60", "--seed", "2", "--save", ckpt, "--eval-episodes", "5"])
    evals = re.findall(r"^eval: .*$", out, re.M)
    out2 = run([e, "--load", ckpt, "--seed", "2", "--eval-episodes", "5"])
    evals2 = re.findall(r"^eval: .*$", out2, re.M)
    print("after training: %s\nloaded alone:   %s" % (evals[0] if evals else "-", evals2[0] if evals2 else "-"))
    if len(evals) != 1 or evals != evals2 or re.search(r"^episode ", out2, re.M):
        raise SystemExit("FAIL: --load with --eval-episodes should only evaluate, and as the run that saved it")
    run([e, "--load", ckpt, "--seed", "2", "--episodes", "1", "--save", ckpt2])
    t, _ = st.load(ckpt)
    t2, _ = st.load(ckpt2)
    steps = (float(t["optimizer_step"][0]), float(t2["optimizer_step"][0]))
    moved = any((t[k] != t2[k]).any() for k in ("fc1.W", "fc2.W", "m_fc2.W", "v_fc2.W"))
    print("optimizer steps %g then %g; one episode from the checkpoint moves its parameters: %s"
          % (steps[0], steps[1], moved))
    if steps != (60.0, 61.0) or not moved:
        raise SystemExit("FAIL: one episode from the checkpoint should be Adam's 61st step")
    run([e, "--load", ckpt, "--seed", "2", "--episodes", "5", "--log", log])
    with open(log) as f:
        numbers = [line.split(",")[0] for line in f.read().splitlines()[1:]]
    if numbers != ["1", "2", "3", "4", "5"]:
        raise SystemExit("FAIL: a run from a checkpoint counts its episodes from 1, got %s" % numbers)
    print("PASS")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=sorted(TESTS))
    ap.add_argument("--dlc", required=True)
    ap.add_argument("--workdir", required=True)
    a = ap.parse_args()
    os.makedirs(a.workdir, exist_ok=True)
    return TESTS[a.what](a)


TESTS = {"grads": grads, "train": train, "same": same, "errors": errors, "walk": walk, "short": short,
         "qlearn": qlearn, "vstart": vstart, "targets": targets, "schedules": schedules, "draws": draws,
         "load": load, "flags": flags, "batchstats": batchstats, "messages": messages}

if __name__ == "__main__":
    sys.exit(main())
