/* dlrt_env.h - environments for reinforcement learning.
 *
 * An environment is a class (a table of functions) and instances it
 * creates.  The trainer of a model whose train block says `env = ...`
 * creates one instance, resets it at the start of every episode with a seed
 * of its own, and steps it with the actions its policy picks:
 *
 *     obs = reset(seed)
 *     loop: reward = step(action, obs, &terminated)   (obs: the next one)
 *
 * An episode ends when the environment says it terminated, or when the
 * runtime truncates it after info.max_steps steps.  Observations are
 * info.obs_size numbers (doubles; the runtime converts them to the model's
 * element type), or one state id in [0, info.obs_states) for a tabular
 * environment.  Actions are integers in [0, info.nactions).
 *
 * Built in: CartPole (Gymnasium's CartPole-v1: the same constants, Euler
 * integration, termination and 500-step limit) and a gridworld (a map of
 * start, goal, holes and walls, with optional slip).
 *
 * A user environment is a C file named in the train block,
 * `env = c("my_env.c")`, compiled into the model's program.  It includes
 * this header and defines one class called `dlrt_user_env`:
 *
 *     #include "dlrt_env.h"
 *     static void *create(const dlrt_env_config *cfg, dlrt_env_info *info,
 *                         char *err, size_t errsize) { ... }
 *     ...
 *     const dlrt_env_class dlrt_user_env = {"my_env", create, destroy, reset, step, NULL};
 *
 * docs/rl.md has a complete example. */
#ifndef DLRT_ENV_H
#define DLRT_ENV_H

#include <stddef.h>
#include <stdint.h>

/* Settings from the train block (`gridworld(map = "...", slip = 0.1)`,
 * `cartpole(max_steps = 200)`); fields an environment does not take are 0. */
typedef struct dlrt_env_config {
	const char *map;          /* gridworld: rows separated by '/', see env.c */
	double slip;              /* gridworld: probability that a move goes sideways */
	int64_t max_steps;        /* > 0: truncate episodes after this many steps */
} dlrt_env_config;

/* What an instance is like, filled in by create. */
typedef struct dlrt_env_info {
	int64_t obs_size;         /* numbers in an observation (1 for a state id) */
	int64_t obs_states;       /* > 0: an observation is a state id in [0, obs_states) */
	int64_t nactions;         /* actions are 0 .. nactions - 1 */
	int64_t max_steps;        /* episodes are truncated after this many steps (0: never) */
	double reward_threshold;  /* a running reward above it counts as solved (0: no threshold) */
} dlrt_env_info;

/* One possible outcome of an action in a tabular environment. */
typedef struct dlrt_env_outcome {
	int64_t next;             /* the next state */
	double prob;              /* its probability */
	double reward;
	int terminal;             /* the episode ends there */
} dlrt_env_outcome;

typedef struct dlrt_env_class {
	const char *name;
	/* A new instance; NULL with the reason in err when cfg is not valid. */
	void *(*create)(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize);
	void (*destroy)(void *env);
	/* Start an episode: the first observation into obs.  Every random
	 * number the episode draws comes from this seed. */
	void (*reset)(void *env, uint64_t seed, double *obs);
	/* Take an action (0 <= action < nactions): the next observation into obs,
	 * the reward returned; *terminated = 1 when the episode ended. */
	double (*step)(void *env, int64_t action, double *obs, int *terminated);
	/* Tabular environments (obs_states > 0), optional: the outcomes of
	 * action a in state s, at most max of them into out; returns how many
	 * (0: s is terminal or unreachable).  Value iteration reads it. */
	int (*outcomes)(void *env, int64_t s, int64_t a, dlrt_env_outcome *out, int max);
} dlrt_env_class;

extern const dlrt_env_class dlrt_env_cartpole;
extern const dlrt_env_class dlrt_env_gridworld;

/* The built-in class of that name ("cartpole", "gridworld"), or NULL. */
const dlrt_env_class *dlrt_env_find(const char *name);

/* Value iteration on a tabular environment: V(s) = max_a sum over outcomes
 * of prob (reward + gamma V(next) [not terminal]), from V = 0 until no value
 * moves by more than tol (at most max_iters sweeps).  V has obs_states
 * entries, Q obs_states * nactions (row-major, may be NULL).  Returns the
 * sweeps taken, or -1 when the class has no outcomes function. */
int dlrt_value_iteration(const dlrt_env_class *c, void *env, const dlrt_env_info *info, double gamma,
                         double tol, int max_iters, double *V, double *Q);

#endif
