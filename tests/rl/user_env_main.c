/* user_env_main.c - runs a user environment (the class dlrt_user_env of
 * another file, docs/rl-environments.md's example in the tests) the way the
 * runtime would, for doc_example_test.py.
 *
 *   user_env_main create MAP SLIP             the info, or "error: " and the
 *                                             message (exit 1); MAP "-": none
 *   user_env_main run SLIP GAMMA EPISODES SEED
 *       value iteration ("sweeps N", "V s v", "greedy s a..."), then
 *       EPISODES episodes of the greedy policy (the first greedy action),
 *       seeds SEED, SEED + 1, ...: "episodes N return R steps T" (sums),
 *       and "repeat same" when the first episode run again gives the same
 *       states. */
#include "dlrt_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const dlrt_env_class dlrt_user_env;

static void *create(const dlrt_env_config *cfg, dlrt_env_info *info)
{
	char err[512] = "";
	void *env;
	memset(info, 0, sizeof *info);
	env = dlrt_user_env.create(cfg, info, err, sizeof err);
	if (!env) {
		printf("error: %s\n", err);
		exit(1);
	}
	return env;
}

/* One episode of policy pi from seed; the return, its steps into *steps
 * and the state ids visited into trace (at most tmax). */
static double episode(void *env, const dlrt_env_info *info, const int *pi, uint64_t seed, int64_t *steps,
		      double *trace, int64_t tmax)
{
	double obs[1], ret = 0;
	int term = 0;
	int64_t t = 0;
	dlrt_user_env.reset(env, seed, obs);
	while (!term && t < info->max_steps) {
		int64_t s = (int64_t)obs[0];
		if (s < 0 || s >= info->obs_states) {
			printf("bad observation %g\n", obs[0]);
			exit(1);
		}
		ret += dlrt_user_env.step(env, pi[s], obs, &term);
		if (t < tmax)
			trace[t] = obs[0];
		t++;
	}
	*steps = t;
	return ret;
}

int main(int argc, char **argv)
{
	dlrt_env_info info;
	if (argc == 4 && strcmp(argv[1], "create") == 0) {
		dlrt_env_config cfg = {strcmp(argv[2], "-") ? argv[2] : NULL, atof(argv[3]), 0};
		dlrt_user_env.destroy(create(&cfg, &info));
		printf("class %s obs_size %lld obs_states %lld nactions %lld max_steps %lld\n", dlrt_user_env.name,
		       (long long)info.obs_size, (long long)info.obs_states, (long long)info.nactions,
		       (long long)info.max_steps);
		return 0;
	}
	if (argc == 6 && strcmp(argv[1], "run") == 0) {
		dlrt_env_config cfg = {NULL, atof(argv[2]), 0};
		double gamma = atof(argv[3]), total = 0, trace[2][1000];
		long episodes = atol(argv[4]);
		uint64_t seed = strtoull(argv[5], NULL, 10);
		void *env = create(&cfg, &info);
		int64_t S = info.obs_states, A = info.nactions, nsteps = 0, s1, s2;
		double *V = malloc(sizeof(double) * (size_t)S), *Q = malloc(sizeof(double) * (size_t)(S * A));
		int *pi = calloc((size_t)S, sizeof *pi);
		int sweeps;
		if (!V || !Q || !pi)
			return 1;
		sweeps = dlrt_value_iteration(&dlrt_user_env, env, &info, gamma, 1e-14, 100000, V, Q);
		printf("sweeps %d\n", sweeps);
		for (int64_t s = 0; s < S; s++) {
			printf("V %lld %.17g\ngreedy %lld", (long long)s, V[s], (long long)s);
			pi[s] = -1;
			for (int64_t a = 0; a < A; a++)
				if (Q[s * A + a] >= V[s] - 1e-9) {
					printf(" %lld", (long long)a);
					if (pi[s] < 0)
						pi[s] = (int)a;
				}
			printf("\n");
		}
		for (long e = 0; e < episodes; e++) {
			int64_t t;
			total += episode(env, &info, pi, seed + (uint64_t)e, &t, trace[0], 0);
			nsteps += t;
		}
		printf("episodes %ld return %.17g steps %lld\n", episodes, total, (long long)nsteps);
		episode(env, &info, pi, seed, &s1, trace[0], 1000);
		episode(env, &info, pi, seed, &s2, trace[1], 1000);
		printf("repeat %s\n", s1 == s2 && memcmp(trace[0], trace[1], sizeof(double) * (size_t)(s1 < 1000 ? s1 : 1000)) == 0
					       ? "same"
					       : "different");
		free(V);
		free(Q);
		free(pi);
		dlrt_user_env.destroy(env);
		return 0;
	}
	fprintf(stderr, "usage: user_env_main create MAP SLIP | run SLIP GAMMA EPISODES SEED\n");
	return 2;
}
