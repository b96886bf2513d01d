/* count_env.c - an environment that counts the policy's actions 1
 * (rl_train_test.py draws): the observation is always 0, an action earns
 * its own number (0 or 1) as reward, and episodes are truncated after 100
 * steps, so an episode's return is how often the policy chose action 1. */
#include "dlrt_env.h"

#include <stdlib.h>

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	(void)cfg;
	(void)err;
	(void)errsize;
	info->obs_size = 1;
	info->nactions = 2;
	info->max_steps = 100;
	return calloc(1, 1);
}

static void destroy(void *env)
{
	free(env);
}

static void reset(void *env, uint64_t seed, double *obs)
{
	(void)env;
	(void)seed;
	obs[0] = 0;
}

static double step(void *env, int64_t action, double *obs, int *terminated)
{
	(void)env;
	obs[0] = 0;
	*terminated = 0;
	return (double)action;
}

const dlrt_env_class dlrt_user_env = {"count", create, destroy, reset, step, NULL};
