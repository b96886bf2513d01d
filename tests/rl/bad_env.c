/* bad_env.c - an environment file with a syntax error on line 14 (a
 * missing semicolon), for rl_train_test.py errors: building the model
 * must fail with the C compiler's message naming this file and line. */
#include "dlrt_env.h"

#include <stdlib.h>

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	(void)cfg;
	(void)err;
	(void)errsize;
	info->obs_size = 4;
	info->nactions = 2
	info->max_steps = 10;
	return calloc(1, 1);
}

static void destroy(void *env) { free(env); }

static void reset(void *env, uint64_t seed, double *obs)
{
	(void)env;
	(void)seed;
	for (int i = 0; i < 4; i++)
		obs[i] = 0;
}

static double step(void *env, int64_t action, double *obs, int *terminated)
{
	(void)env;
	(void)action;
	for (int i = 0; i < 4; i++)
		obs[i] = 0;
	*terminated = 0;
	return 1;
}

const dlrt_env_class dlrt_user_env = {"bad_env", create, destroy, reset, step, NULL};
