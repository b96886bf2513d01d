#!/usr/bin/python3
"""torch_actor_critic.py - the PyTorch twin of examples/actor_critic_cartpole.dl: PyTorch's
examples/reinforcement_learning/actor_critic.py on CartPole-v1 (bench/rl_envs.py).

Contract (the example's, unchanged unless said):
  * model: a shared Linear(4, 128) + ReLU, an action head Linear(128, 2) -> softmax and a value
    head Linear(128, 1), PyTorch's default initialisation after torch.manual_seed(seed)
  * acting: one forward pass per step on the observation (shape [4]), an action sampled from
    Categorical(probs), its log-probability and the state value kept with their graph
  * update after every episode: returns G_t = r_t + 0.99 G_{t+1}, normalised
    (G - mean) / (std + eps) (unbiased std, eps = float32 machine epsilon);
    loss = sum_t -log_prob_t * (G_t - value_t.item()) + sum_t smooth_l1(value_t, G_t) (beta 1),
    Adam lr 3e-2, one step
  * environment, seeding, reporting: as torch_reinforce.py (torch_rl_common: CartPole-v1 with its
    500-step limit, starting states from random.Random(seed); all --episodes are played;
    solved_at, last100, wall time)
  * one thread
Prints one JSON line; --json OUT appends it to OUT, --returns FILE writes the returns, one a line.

usage: /usr/bin/python3 bench/torch_actor_critic.py [--seed 0] [--episodes 1000] [--json OUT]
                                                    [--returns FILE] [--log-interval 0]
"""
import argparse
import os
import sys
import time
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_rl_common import SYSTEM, Env, emit, summary, torch  # noqa: E402  (pins the threads first)

import numpy as np  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.optim as optim  # noqa: E402
from torch.distributions import Categorical  # noqa: E402

GAMMA = 0.99
LR = 3e-2
EPS = np.finfo(np.float32).eps.item()
SavedAction = namedtuple("SavedAction", ["log_prob", "value"])


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 128)
        self.action_head = nn.Linear(128, 2)
        self.value_head = nn.Linear(128, 1)
        self.saved_actions = []
        self.rewards = []

    def forward(self, x):
        x = F.relu(self.affine1(x))
        action_prob = F.softmax(self.action_head(x), dim=-1)
        state_values = self.value_head(x)
        return action_prob, state_values


def select_action(model, state):
    state = torch.tensor(state, dtype=torch.float32)
    probs, state_value = model(state)
    m = Categorical(probs)
    action = m.sample()
    model.saved_actions.append(SavedAction(m.log_prob(action), state_value))
    return action.item()


def finish_episode(model, optimizer, gamma=GAMMA):
    R = 0
    saved_actions = model.saved_actions
    policy_losses = []
    value_losses = []
    returns = []
    for r in model.rewards[::-1]:
        R = r + gamma * R
        returns.insert(0, R)
    returns = torch.tensor(returns)
    returns = (returns - returns.mean()) / (returns.std() + EPS)
    for (log_prob, value), R in zip(saved_actions, returns):
        advantage = R - value.item()
        policy_losses.append(-log_prob * advantage)
        value_losses.append(F.smooth_l1_loss(value, torch.tensor([R])))
    optimizer.zero_grad()
    loss = torch.stack(policy_losses).sum() + torch.stack(value_losses).sum()
    loss.backward()
    optimizer.step()
    del model.rewards[:]
    del model.saved_actions[:]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--json", help="append the JSON line to this file")
    ap.add_argument("--returns", help="write the per-episode returns here, one a line")
    ap.add_argument("--log-interval", type=int, default=0, help="print progress to stderr every N episodes")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    env = Env(a.seed)
    model = Policy()
    optimizer = optim.Adam(model.parameters(), lr=LR)
    returns, running, steps = [], 10.0, 0
    t0 = time.perf_counter()
    for i_episode in range(1, a.episodes + 1):
        state = env.reset()
        ep_reward = 0.0
        while True:
            action = select_action(model, state)
            state, reward, terminated, truncated = env.step(action)
            model.rewards.append(reward)
            ep_reward += reward
            if terminated or truncated:
                break
        steps += env.t
        running = 0.05 * ep_reward + 0.95 * running
        finish_episode(model, optimizer)
        returns.append(ep_reward)
        if a.log_interval and i_episode % a.log_interval == 0:
            print("Episode %d\tLast reward: %.2f\tAverage reward: %.2f" % (i_episode, ep_reward, running),
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    res = {"system": SYSTEM, "workload": "actor-critic-cartpole", "seed": a.seed, "episodes": a.episodes,
           "threads": torch.get_num_threads()}
    res.update(summary(returns))
    res.update({"env_steps": steps, "wall_s": round(wall, 2)})
    emit(res, a.json, returns, a.returns)


if __name__ == "__main__":
    main()
