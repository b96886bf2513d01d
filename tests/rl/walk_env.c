/* walk_env.c - a corridor of cells 0..9 for rl_train_test.py walk.  The
 * walker starts in cell 2; action 0 steps left (cell 0's wall keeps it
 * there), 1 steps right.  Entering cell 9 gives reward 1 and ends the
 * episode; every other step costs 0.1.  The best return is 0.4 (seven
 * steps right); episodes are truncated after 50 steps.  Deterministic, so
 * reset ignores its seed; tabular, with outcomes for value iteration. */
#include "dlrt_env.h"

#include <stdio.h>
#include <stdlib.h>

#define CELLS 10
#define START 2

typedef struct walk {
	int pos;
} walk;

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	walk *w;
	if (cfg->map || cfg->slip != 0) {
		snprintf(err, errsize, "the corridor takes no map and no slip");
		return NULL;
	}
	w = calloc(1, sizeof *w);
	if (!w) {
		snprintf(err, errsize, "out of memory");
		return NULL;
	}
	info->obs_size = 1;
	info->obs_states = CELLS;
	info->nactions = 2;
	info->max_steps = cfg->max_steps > 0 ? cfg->max_steps : 50;
	info->reward_threshold = 0;
	return w;
}

static void destroy(void *env)
{
	free(env);
}

static void reset(void *env, uint64_t seed, double *obs)
{
	walk *w = env;
	(void)seed;
	w->pos = START;
	obs[0] = w->pos;
}

/* The cell that action a leads to from cell s. */
static int move(int s, int64_t a)
{
	int next = s + (a == 1 ? 1 : -1);
	return next < 0 ? 0 : next;
}

static double step(void *env, int64_t action, double *obs, int *terminated)
{
	walk *w = env;
	w->pos = move(w->pos, action);
	obs[0] = w->pos;
	*terminated = w->pos == CELLS - 1;
	return *terminated ? 1.0 : -0.1;
}

static int outcomes(void *env, int64_t s, int64_t a, dlrt_env_outcome *out, int max)
{
	(void)env;
	if (s < 0 || s >= CELLS - 1 || max < 1)
		return 0;
	out[0].next = move((int)s, a);
	out[0].prob = 1;
	out[0].terminal = out[0].next == CELLS - 1;
	out[0].reward = out[0].terminal ? 1.0 : -0.1;
	return 1;
}

const dlrt_env_class dlrt_user_env = {"corridor", create, destroy, reset, step, outcomes};
