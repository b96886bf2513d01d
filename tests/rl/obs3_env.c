/* obs3_env.c - an environment of 3 numbers per observation, for a model
 * that reads 4 (rl_train_test.py errors): the trainer refuses it before
 * the first episode.  Each episode is 5 steps of reward 1. */
#include "dlrt_env.h"

#include <stdlib.h>

typedef struct obs3 {
	int t;
} obs3;

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	(void)cfg;
	(void)err;
	(void)errsize;
	info->obs_size = 3;
	info->nactions = 2;
	info->max_steps = 5;
	return calloc(1, sizeof(obs3));
}

static void destroy(void *env)
{
	free(env);
}

static void reset(void *env, uint64_t seed, double *obs)
{
	obs3 *e = env;
	(void)seed;
	e->t = 0;
	for (int i = 0; i < 3; i++)
		obs[i] = 0;
}

static double step(void *env, int64_t action, double *obs, int *terminated)
{
	obs3 *e = env;
	e->t++;
	for (int i = 0; i < 3; i++)
		obs[i] = (double)(e->t + action);
	*terminated = 0;
	return 1;
}

const dlrt_env_class dlrt_user_env = {"obs3", create, destroy, reset, step, NULL};
