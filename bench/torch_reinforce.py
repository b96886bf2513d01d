#!/usr/bin/python3
"""torch_reinforce.py - the PyTorch twin of examples/reinforce_cartpole.dl: PyTorch's
examples/reinforcement_learning/reinforce.py on CartPole-v1 (bench/rl_envs.py).

Contract (the example's, unchanged unless said):
  * policy: Linear(4, 128) -> Dropout(p=0.6) -> ReLU -> Linear(128, 2) -> softmax, PyTorch's
    default initialisation after torch.manual_seed(seed); the network stays in training mode
    (dropout on while acting, as in the example)
  * acting: one forward pass per step on the 1x4 observation, an action sampled from
    Categorical(probs), its log-probability kept with its autograd graph
  * update after every episode: returns G_t = r_t + 0.99 G_{t+1}, normalised
    (G - mean) / (std + eps) (unbiased std, eps = float32 machine epsilon),
    loss = sum_t -log_prob_t * G_t, Adam lr 1e-2, one step
  * environment: torch_rl_common.Env: CartPole-v1's equations, an episode ends when terminated
    or truncated after 500 steps, as in the example; the example seeds Gymnasium's generator
    once (env.reset(seed=seed)), here the starting states come from random.Random(seed)
  * the run does not stop when solved: all --episodes are played; reported: solved_at (first
    episode, 1-based, whose running reward 0.05 R + 0.95 running, from 10, exceeds 475),
    last100 (mean return of the last 100 episodes), the wall time of the whole run
  * one thread (torch.set_num_threads(1), BLAS/OpenMP pinned to 1)
Prints one JSON line; --json OUT appends it to OUT, --returns FILE writes the returns, one a line.

--speed instead measures, with a fresh policy:
  (a) environment steps per second with the policy in the loop: --speed-steps steps (20,000) of
      select_action (batch-1 forward, sampling, the log-probability and its graph kept) and an
      environment step, the lists cleared and the environment reset at each episode's end
      (no update); best and median of --speed-reps runs
  (b) the time of one update (returns, normalisation, loss, backward, Adam step) for an episode
      of 200 steps, filled by running the policy (the environment reset when it ends, every
      reward 1); median of 50
  the machine's 1-minute load average when it ends goes into the JSON (other jobs' load)

usage: /usr/bin/python3 bench/torch_reinforce.py [--seed 0] [--episodes 1000] [--json OUT]
                                                 [--returns FILE] [--log-interval 0]
       /usr/bin/python3 bench/torch_reinforce.py --speed [--speed-steps 20000] [--speed-reps 3]
"""
import argparse
import os
import statistics
import sys
import time
from collections import deque

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_rl_common import SYSTEM, Env, emit, summary, torch  # noqa: E402  (pins the threads first)

import numpy as np  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.optim as optim  # noqa: E402
from torch.distributions import Categorical  # noqa: E402

GAMMA = 0.99
LR = 1e-2
EPS = np.finfo(np.float32).eps.item()


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(128, 2)
        self.saved_log_probs = []
        self.rewards = []

    def forward(self, x):
        x = self.affine1(x)
        x = self.dropout(x)
        x = F.relu(x)
        action_scores = self.affine2(x)
        return F.softmax(action_scores, dim=1)


def select_action(policy, state):
    state = torch.tensor(state, dtype=torch.float32).unsqueeze(0)
    probs = policy(state)
    m = Categorical(probs)
    action = m.sample()
    policy.saved_log_probs.append(m.log_prob(action))
    return action.item()


def finish_episode(policy, optimizer, gamma=GAMMA):
    R = 0
    policy_loss = []
    returns = deque()
    for r in policy.rewards[::-1]:
        R = r + gamma * R
        returns.appendleft(R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + EPS)
    for log_prob, R in zip(policy.saved_log_probs, returns):
        policy_loss.append(-log_prob * R)
    optimizer.zero_grad()
    policy_loss = torch.cat(policy_loss).sum()
    policy_loss.backward()
    optimizer.step()
    del policy.rewards[:]
    del policy.saved_log_probs[:]


def train(a):
    torch.manual_seed(a.seed)
    env = Env(a.seed)
    policy = Policy()
    optimizer = optim.Adam(policy.parameters(), lr=LR)
    returns, running, steps = [], 10.0, 0
    t0 = time.perf_counter()
    for i_episode in range(1, a.episodes + 1):
        state = env.reset()
        ep_reward = 0.0
        while True:
            action = select_action(policy, state)
            state, reward, terminated, truncated = env.step(action)
            policy.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break
        steps += env.t
        running = 0.05 * ep_reward + 0.95 * running
        finish_episode(policy, optimizer)
        returns.append(ep_reward)
        if a.log_interval and i_episode % a.log_interval == 0:
            print("Episode %d\tLast reward: %.2f\tAverage reward: %.2f" % (i_episode, ep_reward, running),
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    res = {"system": SYSTEM, "workload": "reinforce-cartpole", "seed": a.seed, "episodes": a.episodes,
           "threads": torch.get_num_threads()}
    res.update(summary(returns))
    res.update({"env_steps": steps, "wall_s": round(wall, 2)})
    emit(res, a.json, returns, a.returns)


def speed(a):
    torch.manual_seed(a.seed)
    env = Env(a.seed)
    policy = Policy()
    optimizer = optim.Adam(policy.parameters(), lr=LR)

    rates = []
    for _ in range(a.speed_reps):
        state = env.reset()
        t0 = time.perf_counter()
        for _ in range(a.speed_steps):
            action = select_action(policy, state)
            state, reward, terminated, truncated = env.step(action)
            policy.rewards.append(reward)
            if terminated or truncated:
                del policy.rewards[:]
                del policy.saved_log_probs[:]
                state = env.reset()
        rates.append(a.speed_steps / (time.perf_counter() - t0))
        del policy.rewards[:]
        del policy.saved_log_probs[:]

    times = []
    state = env.reset()
    for _ in range(a.update_reps):
        for _ in range(a.update_len):
            action = select_action(policy, state)
            state, reward, terminated, truncated = env.step(action)
            policy.rewards.append(reward)
            if terminated or truncated:
                state = env.reset()
        t0 = time.perf_counter()
        finish_episode(policy, optimizer)
        times.append(time.perf_counter() - t0)

    res = {"system": SYSTEM, "workload": "reinforce-cartpole-speed", "seed": a.seed,
           "threads": torch.get_num_threads(), "speed_steps": a.speed_steps, "speed_reps": a.speed_reps,
           "env_steps_per_s": round(statistics.median(rates), 1),
           "env_steps_per_s_best": round(max(rates), 1),
           "env_steps_per_s_runs": [round(r, 1) for r in rates],
           "update_len": a.update_len, "update_reps": a.update_reps,
           "update_ms": round(1e3 * statistics.median(times), 4),
           "update_ms_min": round(1e3 * min(times), 4)}
    res["loadavg_1m"] = round(os.getloadavg()[0], 2)
    emit(res, a.json)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--json", help="append the JSON line to this file")
    ap.add_argument("--returns", help="write the per-episode returns here, one a line")
    ap.add_argument("--log-interval", type=int, default=0, help="print progress to stderr every N episodes")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--speed-steps", type=int, default=20000)
    ap.add_argument("--speed-reps", type=int, default=3)
    ap.add_argument("--update-len", type=int, default=200)
    ap.add_argument("--update-reps", type=int, default=50)
    a = ap.parse_args()
    if a.speed:
        speed(a)
    else:
        train(a)


if __name__ == "__main__":
    main()
