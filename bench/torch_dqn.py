#!/usr/bin/python3
"""torch_dqn.py - the PyTorch twin of examples/dqn_cartpole.dl: PyTorch's DQN tutorial
(intermediate_source/reinforcement_q_learning.py) on CartPole-v1 (bench/rl_envs.py).

Contract (the tutorial's, unchanged unless said):
  * Q network: Linear(4, 128) -> ReLU -> Linear(128, 128) -> ReLU -> Linear(128, 2), PyTorch's
    default initialisation after torch.manual_seed(seed); a target network, a copy of it at start
  * acting: eps = 0.05 + (0.9 - 0.05) exp(-steps_done / 1000), steps_done counting every action
    chosen (before it is incremented); with probability 1 - eps the greedy action of the Q
    network (no gradient), else a uniformly random action
  * replay memory: the last 10,000 transitions (state, action, next state, reward); the next
    state of a terminated step is None (value 0), a step truncated at 500 keeps its next state
    (it counts as non-final, as in the tutorial)
  * after every environment step, once the memory holds >= 128 transitions: one optimisation step
    on 128 transitions drawn without replacement; target r + 0.99 max_a Q_target(s', a) (0 for
    terminal s'); Huber loss (SmoothL1Loss, beta 1, mean) against Q(s, a); gradients clipped by
    value to --clip-value (100; 0 = no clipping); AdamW lr 1e-4 (weight decay 0.01, PyTorch's
    default), amsgrad --amsgrad (1); then the soft update
    target = 0.005 policy + 0.995 target through the state dicts, after every environment step
  * environment: torch_rl_common.Env (CartPole-v1's equations, 500-step limit, starting states
    from random.Random(seed)); the agent's own draws (the eps coin, the random action, the replay
    sample) from random.Random(seed + 1000003), where the tutorial uses the random module and
    Gymnasium's action space
  * all --episodes (400) are played; reported: solved_at (running reward 0.05 R + 0.95 running,
    from 10, above 475), last100 (mean return of the last 100 episodes), the wall time
  * one thread
Prints one JSON line; --json OUT appends it to OUT, --returns FILE writes the returns, one a line.

--speed instead measures, with a fresh network and the memory filled to its capacity by the
random policy first (untimed):
  (a) environment steps per second with the eps-greedy policy and one optimisation step (and the
      soft update) per environment step, over --speed-steps steps (2,000), the environment reset
      at each episode's end; best and median of --speed-reps runs
  (b) the time of one optimize_model call (sample, batch, loss, backward, clip, AdamW step) with
      the full memory, median of --update-reps (50); the soft update's median beside it
  the machine's 1-minute load average when it ends goes into the JSON (other jobs' load)

usage: /usr/bin/python3 bench/torch_dqn.py [--seed 0] [--episodes 400] [--amsgrad 0|1]
                                           [--clip-value 100] [--json OUT] [--returns FILE]
                                           [--log-interval 0]
       /usr/bin/python3 bench/torch_dqn.py --speed [--speed-steps 2000] [--speed-reps 3]
"""
import argparse
import math
import os
import random
import statistics
import sys
import time
from collections import deque, namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_rl_common import SYSTEM, Env, emit, summary, torch  # noqa: E402  (pins the threads first)

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torch.optim as optim  # noqa: E402

BATCH_SIZE = 128
GAMMA = 0.99
EPS_START = 0.9
EPS_END = 0.05
EPS_DECAY = 1000
TAU = 0.005
LR = 1e-4
CAPACITY = 10000
N_ACTIONS = 2
AGENT_SEED_OFFSET = 1000003

Transition = namedtuple("Transition", ("state", "action", "next_state", "reward"))


class ReplayMemory:
    def __init__(self, capacity, rng):
        self.memory = deque([], maxlen=capacity)
        self.rng = rng

    def push(self, *args):
        self.memory.append(Transition(*args))

    def sample(self, batch_size):
        return self.rng.sample(self.memory, batch_size)

    def __len__(self):
        return len(self.memory)


class DQN(nn.Module):
    def __init__(self, n_observations, n_actions):
        super().__init__()
        self.layer1 = nn.Linear(n_observations, 128)
        self.layer2 = nn.Linear(128, 128)
        self.layer3 = nn.Linear(128, n_actions)

    def forward(self, x):
        x = F.relu(self.layer1(x))
        x = F.relu(self.layer2(x))
        return self.layer3(x)


class Agent:
    """The tutorial's globals: networks, optimiser, memory, steps_done and its functions."""

    def __init__(self, seed, amsgrad, clip_value):
        self.rng = random.Random(seed + AGENT_SEED_OFFSET)
        self.policy_net = DQN(4, N_ACTIONS)
        self.target_net = DQN(4, N_ACTIONS)
        self.target_net.load_state_dict(self.policy_net.state_dict())
        self.optimizer = optim.AdamW(self.policy_net.parameters(), lr=LR, amsgrad=amsgrad)
        self.memory = ReplayMemory(CAPACITY, self.rng)
        self.clip_value = clip_value
        self.steps_done = 0

    def select_action(self, state):
        sample = self.rng.random()
        eps_threshold = EPS_END + (EPS_START - EPS_END) * math.exp(-1. * self.steps_done / EPS_DECAY)
        self.steps_done += 1
        if sample > eps_threshold:
            with torch.no_grad():
                return self.policy_net(state).max(1)[1].view(1, 1)
        return torch.tensor([[self.rng.randrange(N_ACTIONS)]], dtype=torch.long)

    def optimize_model(self):
        if len(self.memory) < BATCH_SIZE:
            return
        transitions = self.memory.sample(BATCH_SIZE)
        batch = Transition(*zip(*transitions))
        non_final_mask = torch.tensor(tuple(map(lambda s: s is not None, batch.next_state)), dtype=torch.bool)
        non_final_next_states = torch.cat([s for s in batch.next_state if s is not None])
        state_batch = torch.cat(batch.state)
        action_batch = torch.cat(batch.action)
        reward_batch = torch.cat(batch.reward)
        state_action_values = self.policy_net(state_batch).gather(1, action_batch)
        next_state_values = torch.zeros(BATCH_SIZE)
        with torch.no_grad():
            next_state_values[non_final_mask] = self.target_net(non_final_next_states).max(1)[0]
        expected_state_action_values = (next_state_values * GAMMA) + reward_batch
        criterion = nn.SmoothL1Loss()
        loss = criterion(state_action_values, expected_state_action_values.unsqueeze(1))
        self.optimizer.zero_grad()
        loss.backward()
        if self.clip_value:
            torch.nn.utils.clip_grad_value_(self.policy_net.parameters(), self.clip_value)
        self.optimizer.step()

    def soft_update(self):
        target_net_state_dict = self.target_net.state_dict()
        policy_net_state_dict = self.policy_net.state_dict()
        for key in policy_net_state_dict:
            target_net_state_dict[key] = policy_net_state_dict[key] * TAU + target_net_state_dict[key] * (1 - TAU)
        self.target_net.load_state_dict(target_net_state_dict)

    def env_step(self, env, state):
        """One step of the tutorial's inner loop: act, store, optimise, soft update.
        -> next state tensor (None when terminated), reward, done."""
        action = self.select_action(state)
        observation, reward, terminated, truncated = env.step(action.item())
        reward_t = torch.tensor([reward])
        done = terminated or truncated
        if terminated:
            next_state = None
        else:
            next_state = torch.tensor(observation, dtype=torch.float32).unsqueeze(0)
        self.memory.push(state, action, next_state, reward_t)
        self.optimize_model()
        self.soft_update()
        return next_state, reward, done


def as_state(obs):
    return torch.tensor(obs, dtype=torch.float32).unsqueeze(0)


def train(a):
    torch.manual_seed(a.seed)
    env = Env(a.seed)
    agent = Agent(a.seed, bool(a.amsgrad), a.clip_value)
    returns = []
    t0 = time.perf_counter()
    for i_episode in range(1, a.episodes + 1):
        state = as_state(env.reset())
        ep_reward = 0.0
        while True:
            state, reward, done = agent.env_step(env, state)
            ep_reward += reward
            if done:
                break
        returns.append(ep_reward)
        if a.log_interval and i_episode % a.log_interval == 0:
            tail = returns[-a.log_interval:]
            print("Episode %d\tmean of the last %d: %.1f\tsteps %d\t%.0f s" % (
                i_episode, len(tail), sum(tail) / len(tail), agent.steps_done, time.perf_counter() - t0),
                file=sys.stderr, flush=True)
    wall = time.perf_counter() - t0
    res = {"system": SYSTEM, "workload": "dqn-cartpole", "seed": a.seed, "episodes": a.episodes,
           "amsgrad": bool(a.amsgrad), "clip_value": a.clip_value, "threads": torch.get_num_threads()}
    res.update(summary(returns))
    res.update({"env_steps": agent.steps_done, "wall_s": round(wall, 2)})
    emit(res, a.json, returns, a.returns)


def speed(a):
    torch.manual_seed(a.seed)
    env = Env(a.seed)
    agent = Agent(a.seed, bool(a.amsgrad), a.clip_value)
    state = as_state(env.reset())
    while len(agent.memory) < CAPACITY:
        action = torch.tensor([[agent.rng.randrange(N_ACTIONS)]], dtype=torch.long)
        obs, reward, terminated, truncated = env.step(action.item())
        next_state = None if terminated else as_state(obs)
        agent.memory.push(state, action, next_state, torch.tensor([reward]))
        state = as_state(env.reset()) if terminated or truncated else next_state

    rates = []
    for _ in range(a.speed_reps):
        state = as_state(env.reset())
        t0 = time.perf_counter()
        for _ in range(a.speed_steps):
            state, _, done = agent.env_step(env, state)
            if done:
                state = as_state(env.reset())
        rates.append(a.speed_steps / (time.perf_counter() - t0))

    opt_times, soft_times = [], []
    for _ in range(a.update_reps):
        t0 = time.perf_counter()
        agent.optimize_model()
        t1 = time.perf_counter()
        agent.soft_update()
        t2 = time.perf_counter()
        opt_times.append(t1 - t0)
        soft_times.append(t2 - t1)

    res = {"system": SYSTEM, "workload": "dqn-cartpole-speed", "seed": a.seed,
           "amsgrad": bool(a.amsgrad), "clip_value": a.clip_value, "threads": torch.get_num_threads(),
           "speed_steps": a.speed_steps, "speed_reps": a.speed_reps,
           "env_steps_per_s": round(statistics.median(rates), 1),
           "env_steps_per_s_best": round(max(rates), 1),
           "env_steps_per_s_runs": [round(r, 1) for r in rates],
           "update_reps": a.update_reps,
           "optimize_ms": round(1e3 * statistics.median(opt_times), 4),
           "optimize_ms_min": round(1e3 * min(opt_times), 4),
           "soft_update_ms": round(1e3 * statistics.median(soft_times), 4)}
    res["loadavg_1m"] = round(os.getloadavg()[0], 2)
    emit(res, a.json)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--amsgrad", type=int, choices=(0, 1), default=1)
    ap.add_argument("--clip-value", type=float, default=100.0, help="clip_grad_value_ bound (0 = off)")
    ap.add_argument("--json", help="append the JSON line to this file")
    ap.add_argument("--returns", help="write the per-episode returns here, one a line")
    ap.add_argument("--log-interval", type=int, default=0, help="print progress to stderr every N episodes")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--speed-steps", type=int, default=2000)
    ap.add_argument("--speed-reps", type=int, default=3)
    ap.add_argument("--update-reps", type=int, default=50)
    a = ap.parse_args()
    if a.speed:
        speed(a)
    else:
        train(a)


if __name__ == "__main__":
    main()
