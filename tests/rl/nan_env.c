/* nan_env.c - an environment whose observation turns NaN at its fourth
 * step (rl_train_test.py errors): the trainer stops there and names the
 * episode and the step.  Observations are 4 numbers; reward 1 a step.
 * With NAN_REWARD defined (nan_reward_env.c) the observation stays finite
 * and the fourth step's reward is NaN instead. */
#include "dlrt_env.h"

#include <math.h>
#include <stdlib.h>

typedef struct nan_env {
	int t;
} nan_env;

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	(void)cfg;
	(void)err;
	(void)errsize;
	info->obs_size = 4;
	info->nactions = 2;
	info->max_steps = 10;
	return calloc(1, sizeof(nan_env));
}

static void destroy(void *env)
{
	free(env);
}

static void reset(void *env, uint64_t seed, double *obs)
{
	nan_env *e = env;
	(void)seed;
	e->t = 0;
	for (int i = 0; i < 4; i++)
		obs[i] = 0.01 * i;
}

static double step(void *env, int64_t action, double *obs, int *terminated)
{
	nan_env *e = env;
	e->t++;
	for (int i = 0; i < 4; i++)
		obs[i] = 0.01 * (e->t + i + action);
	*terminated = 0;
#ifdef NAN_REWARD
	return e->t == 4 ? NAN : 1;
#else
	if (e->t == 4)
		obs[1] = NAN;
	return 1;
#endif
}

const dlrt_env_class dlrt_user_env = {"nan_obs", create, destroy, reset, step, NULL};
