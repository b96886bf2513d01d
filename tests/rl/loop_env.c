/* loop_env.c - one state, one action, reward 1 on every step, and no end:
 * only the runtime's step limit (c("loop_env.c", max_steps = N)) stops an
 * episode, so its last transition is truncated, not terminated
 * (rl_train_test.py targets).  With END defined (end_env.c) the episode
 * terminates at its fifth step instead. */
#include "dlrt_env.h"

#include <stdlib.h>

typedef struct loop_env {
	int t;
} loop_env;

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	(void)cfg;
	(void)err;
	(void)errsize;
	info->obs_size = 1;
	info->obs_states = 1;
	info->nactions = 1;
	info->max_steps = 0;
	return calloc(1, sizeof(loop_env));
}

static void destroy(void *env)
{
	free(env);
}

static void reset(void *env, uint64_t seed, double *obs)
{
	loop_env *e = env;
	(void)seed;
	e->t = 0;
	obs[0] = 0;
}

static double step(void *env, int64_t action, double *obs, int *terminated)
{
	loop_env *e = env;
	(void)action;
	e->t++;
	obs[0] = 0;
#ifdef END
	*terminated = e->t == 5;
#else
	*terminated = 0;
#endif
	return 1;
}

#ifdef END
const dlrt_env_class dlrt_user_env = {"end", create, destroy, reset, step, NULL};
#else
const dlrt_env_class dlrt_user_env = {"loop", create, destroy, reset, step, NULL};
#endif
