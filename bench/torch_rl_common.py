"""Shared parts of the PyTorch twins of dlc's reinforcement-learning examples
(torch_reinforce.py, torch_actor_critic.py, torch_dqn.py): one thread, the
CartPole-v1 episode loop over rl_envs.CartPole, and the summary every script
reports.

Threads: OMP/MKL/OpenBLAS pinned to one thread before torch is imported, and
torch.set_num_threads(1).

Environment: rl_envs.CartPole (Gymnasium's CartPole-v1 equations).  Every
episode's starting state is drawn from one random.Random(seed) made when the
run starts (four uniform draws in [-0.05, 0.05) per reset), so episode k of a
run with seed S always starts from the same state.  An episode ends when it is
terminated (cart or pole out of bounds) or truncated, after 500 steps
(CartPole-v1's TimeLimit); the return is the number of steps.

Summary: running = 0.05 * return + 0.95 * running, starting at 10, as PyTorch's
examples print it; solved_at is the first episode (1-based) after which it
exceeds 475 (CartPole-v1's reward threshold), or null; the run does not stop
there.  last100 is the mean return of the last 100 episodes."""
import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_v] = "1"

import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402

import torch  # noqa: E402

torch.set_num_threads(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rl_envs import CartPole  # noqa: E402

SYSTEM = "pytorch-%s-eager" % torch.__version__
RUNNING_START = 10.0
RUNNING_ALPHA = 0.05


class Env:
    """CartPole-v1 with its 500-step truncation and a seeded reset stream."""

    def __init__(self, seed):
        self.cp = CartPole()
        self.rng = random.Random(seed)
        self.t = 0

    def reset(self):
        self.t = 0
        return self.cp.reset(self.rng.random)

    def step(self, action):
        """-> observation, reward, terminated, truncated (Gymnasium's order)."""
        obs, reward, terminated = self.cp.step(action)
        self.t += 1
        truncated = not terminated and self.t >= self.cp.max_steps
        return obs, reward, terminated, truncated


def summary(returns, threshold=CartPole.reward_threshold):
    """solved_at, last100, the final running reward, from the per-episode returns."""
    running, solved_at = RUNNING_START, None
    for i, r in enumerate(returns, 1):
        running = RUNNING_ALPHA * r + (1 - RUNNING_ALPHA) * running
        if solved_at is None and running > threshold:
            solved_at = i
    tail = returns[-100:]
    return {
        "solved_at": solved_at,
        "last100": round(sum(tail) / len(tail), 2) if tail else None,
        "mean_return": round(sum(returns) / len(returns), 2) if returns else None,
        "final_running": round(running, 2),
    }


def emit(res, json_path=None, returns=None, returns_path=None):
    """Print the result as one JSON line, append it to json_path, write the returns."""
    line = json.dumps(res)
    print(line, flush=True)
    if json_path:
        with open(json_path, "a") as f:
            f.write(line + "\n")
    if returns_path and returns is not None:
        with open(returns_path, "w") as f:
            for r in returns:
                f.write("%g\n" % r)
