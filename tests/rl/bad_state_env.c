/* bad_state_env.c - a tabular environment of 3 states whose third step
 * returns state 3, outside [0, 3) (rl_train_test.py errors): the trainer
 * stops there and names the episode and the step. */
#include "dlrt_env.h"

#include <stdlib.h>

typedef struct bad_state {
	int t;
} bad_state;

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	(void)cfg;
	(void)err;
	(void)errsize;
	info->obs_size = 1;
	info->obs_states = 3;
	info->nactions = 2;
	info->max_steps = 10;
	return calloc(1, sizeof(bad_state));
}

static void destroy(void *env)
{
	free(env);
}

static void reset(void *env, uint64_t seed, double *obs)
{
	bad_state *e = env;
	(void)seed;
	e->t = 0;
	obs[0] = 0;
}

static double step(void *env, int64_t action, double *obs, int *terminated)
{
	bad_state *e = env;
	(void)action;
	e->t++;
	obs[0] = e->t;
	*terminated = 0;
	return 0;
}

const dlrt_env_class dlrt_user_env = {"bad_state", create, destroy, reset, step, NULL};
