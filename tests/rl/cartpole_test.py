#!/usr/bin/env python3
"""CartPole (runtime/env.c) against bench/rl_envs.py's port of Gymnasium's CartPole-v1.

usage: cartpole_test.py --env-check ENV_CHECK

For seeds 0-9, a random action sequence (Python's random.Random(1000 +
seed), 600 actions: the pole falls after 10-40 steps) runs through
env_check; bench/rl_envs.py's CartPole starts from the C reset state and
takes the same actions.  For seeds 10-19 the actions come from a balancing
controller (push towards theta + 0.5 theta_dot + 0.05 x + 0.1 x_dot) with
35% random actions, worked out on the Python CartPole from the C reset state
and then given to env_check: episodes of a few hundred steps, at most 1,000
(env_check does not truncate at 500; that is the runtime's part).  Every state must agree
to 1e-12 (the formulas are the same in double; the test also counts the
states that are bit-identical and requires all of them), every reward must
be 1 and the terminated flag the same on every step, the last one included.
A sequence of all-right pushes is checked the same way (the pole falls
within a few dozen steps).  The reset distribution: 200 seeds give states in
[-0.05, 0.05), no two seeds the same state, the same seed the same state,
means near 0 and spread near uniform's (0.1 / sqrt(12)), and the info line
says obs_size 4, nactions 2, max_steps 500, reward_threshold 475
(max_steps=200 overrides; a map or slip is refused).
"""
import argparse
import math
import os
import random
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bench"))
from rl_envs import CartPole  # noqa: E402


def run(cmd, code=0):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != code:
        print(r.stdout + r.stderr)
        raise SystemExit("FAIL: %s exited with %d" % (" ".join(cmd[:6]), r.returncode))
    return r.stdout


def episode(env_check, seed, actions):
    """env_check's lines: (info, reset state, [(action, state, reward, terminated)])."""
    info, reset, steps = None, None, []
    for line in run([env_check, "cartpole", str(seed)] + [str(a) for a in actions]).splitlines():
        f = line.split()
        if f[0] == "info":
            info = dict(zip(f[1::2], (float(v) for v in f[2::2])))
        elif f[0] == "reset":
            reset = [float(v) for v in f[1:]]
        elif f[0] == "step":
            steps.append((int(f[1]), [float(v) for v in f[2:6]], float(f[6]), int(f[7])))
    return info, reset, steps


def compare(env_check, seed, actions, what):
    """The C episode against the Python one; returns (steps, bit-identical states)."""
    _, reset, steps = episode(env_check, seed, actions)
    py = CartPole()
    py.reset_to(reset)
    same = 0
    for i, (a, state, reward, term) in enumerate(steps):
        if a != actions[i]:
            raise SystemExit("FAIL: %s step %d: action %d, expected %d" % (what, i, a, actions[i]))
        pstate, preward, pterm = py.step(a)
        err = max(abs(x - y) for x, y in zip(state, pstate))
        if err > 1e-12:
            raise SystemExit("FAIL: %s step %d: state %s, Python %s (error %.3g)" % (what, i, state, pstate, err))
        same += state == pstate
        if reward != preward:
            raise SystemExit("FAIL: %s step %d: reward %g, Python %g" % (what, i, reward, preward))
        if bool(term) != pterm:
            raise SystemExit("FAIL: %s step %d: terminated %d, Python %s" % (what, i, term, pterm))
        if term and i != len(steps) - 1:
            raise SystemExit("FAIL: %s: steps after termination" % what)
    if len(steps) < len(actions) and not steps[-1][3]:
        raise SystemExit("FAIL: %s: stopped after %d of %d steps without terminating" % (what, len(steps), len(actions)))
    return len(steps), same


def controlled_actions(reset, seed, n=1000, eps=0.35):
    """A noisy balancing policy's actions on the Python CartPole from reset."""
    rng, py, actions = random.Random(seed), CartPole(), []
    s = py.reset_to(reset)
    for _ in range(n):
        a = rng.randrange(2) if rng.random() < eps else int(s[2] + 0.5 * s[3] + 0.05 * s[0] + 0.1 * s[1] > 0)
        actions.append(a)
        s, _, done = py.step(a)
        if done:
            break
    return actions


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--env-check", required=True)
    args = ap.parse_args()
    ec = args.env_check

    lengths, total, identical = [], 0, 0
    for seed in range(10):
        rng = random.Random(1000 + seed)
        actions = [rng.randrange(2) for _ in range(600)]
        n, same = compare(ec, seed, actions, "seed %d" % seed)
        lengths.append(n)
        total += n
        identical += same
    long_lengths = []
    for seed in range(10, 20):
        actions = controlled_actions(episode(ec, seed, [])[1], seed)
        n, same = compare(ec, seed, actions, "seed %d (controlled)" % seed)
        long_lengths.append(n)
        total += n
        identical += same
    n, same = compare(ec, 42, [1] * 600, "all right")
    total += n
    identical += same
    if identical != total:
        raise SystemExit("FAIL: %d of %d states bit-identical to Python's" % (identical, total))
    if sum(long_lengths) < 2000:
        raise SystemExit("FAIL: the controlled episodes were short: %s" % long_lengths)
    print("cartpole: %d steps over 21 episodes (random actions: %s; controlled: %s; all right: %d), "
          "all to 1e-12, %d bit-identical" % (total, lengths, long_lengths, n, identical))

    # the reset distribution
    states = {}
    for seed in range(200):
        info, reset, _ = episode(ec, seed, [])
        if any(not (-0.05 <= v < 0.05) for v in reset):
            raise SystemExit("FAIL: seed %d: reset state %s outside [-0.05, 0.05)" % (seed, reset))
        states[seed] = tuple(reset)
    if len(set(states.values())) != len(states):
        raise SystemExit("FAIL: two seeds gave the same reset state")
    for seed in (0, 7, 199):
        if tuple(episode(ec, seed, [])[1]) != states[seed]:
            raise SystemExit("FAIL: seed %d: a second reset gave another state" % seed)
    for k in range(4):
        vals = [s[k] for s in states.values()]
        mean, sd = statistics.fmean(vals), statistics.pstdev(vals)
        # uniform on [-0.05, 0.05): mean 0 (standard error 0.1/sqrt(12*200) = 0.002), sd 0.0289
        if abs(mean) > 0.01 or abs(sd - 0.1 / math.sqrt(12)) > 0.005:
            raise SystemExit("FAIL: reset variable %d: mean %.4f, sd %.4f over 200 seeds" % (k, mean, sd))
    print("cartpole: 200 reset states in [-0.05, 0.05), all different, reproducible")

    # info and configuration
    info = episode(ec, 0, [])[0]
    want = {"obs_size": 4, "obs_states": 0, "nactions": 2, "max_steps": 500, "reward_threshold": 475}
    if info != want:
        raise SystemExit("FAIL: info %s, expected %s" % (info, want))
    out = run([ec, "create", "cartpole", "max_steps=200"])
    if "max_steps 200 " not in out:
        raise SystemExit("FAIL: max_steps=200 gave %s" % out)
    for bad, msg in (("map=S.G", "cartpole takes no map"), ("slip=0.1", "cartpole takes no slip"),
                     ("max_steps=-1", "max_steps must be positive")):
        out = run([ec, "create", "cartpole", bad], code=1)
        if msg not in out:
            raise SystemExit("FAIL: cartpole %s: %r, expected %r" % (bad, out, msg))
    print("cartpole: info and configuration errors as expected")
    print("PASS")


if __name__ == "__main__":
    main()
