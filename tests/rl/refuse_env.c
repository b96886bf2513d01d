/* refuse_env.c - an environment whose create always refuses, with its
 * reason (rl_train_test.py errors): the trainer shows the reason and stops
 * before the first episode. */
#include "dlrt_env.h"

#include <stdio.h>

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	(void)info;
	snprintf(err, errsize, "refuse: max_steps %lld is not a multiple of 7", (long long)cfg->max_steps);
	return NULL;
}

static void destroy(void *env)
{
	(void)env;
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
	(void)action;
	obs[0] = 0;
	*terminated = 1;
	return 0;
}

const dlrt_env_class dlrt_user_env = {"refuse", create, destroy, reset, step, NULL};
