/* env_check.c - drives the built-in environments of dlrt_env.h from the
 * command line, for the tests in tests/rl (one line of text per event).
 *
 *   env_check cartpole SEED ACTIONS...        reset, then step until the
 *                                             actions run out or it terminates
 *   env_check gridworld MAP SLIP SEED ACTIONS...
 *   env_check outcomes MAP SLIP STATE ACTION  the gridworld's outcomes
 *   env_check vi MAP SLIP GAMMA               value iteration: V, Q, greedy
 *   env_check create NAME [map=M] [slip=P] [max_steps=N]
 *                                             the info, or the error
 *
 * MAP "-" is the default map.  Numbers are printed with %.17g.  A create
 * that fails prints "error: " and the message and exits 1. */
#include "dlrt_env.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	fprintf(stderr, "usage: env_check cartpole SEED ACTIONS... | gridworld MAP SLIP SEED ACTIONS... |\n"
			"       outcomes MAP SLIP STATE ACTION | vi MAP SLIP GAMMA |\n"
			"       create NAME [map=M] [slip=P] [max_steps=N]\n");
	exit(2);
}

static long long parse_int(const char *s)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "env_check: not an integer: '%s'\n", s);
		exit(2);
	}
	return v;
}

static double parse_double(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end) {
		fprintf(stderr, "env_check: not a number: '%s'\n", s);
		exit(2);
	}
	return v;
}

/* An instance of class c with cfg; on failure the message and exit 1. */
static void *create(const dlrt_env_class *c, const dlrt_env_config *cfg, dlrt_env_info *info)
{
	char err[512] = "";
	void *env;
	memset(info, 0, sizeof *info);
	env = c->create(cfg, info, err, sizeof err);
	if (!env) {
		printf("error: %s\n", err);
		exit(1);
	}
	return env;
}

static void print_info(const dlrt_env_info *info)
{
	printf("info obs_size %lld obs_states %lld nactions %lld max_steps %lld reward_threshold %.17g\n",
	       (long long)info->obs_size, (long long)info->obs_states, (long long)info->nactions,
	       (long long)info->max_steps, info->reward_threshold);
}

/* reset(seed), then one step per action until one terminates: "reset OBS"
 * and "step ACTION OBS REWARD TERMINATED" lines. */
static int run_episode(const dlrt_env_class *c, const dlrt_env_config *cfg, uint64_t seed, int nact, char **acts)
{
	dlrt_env_info info;
	void *env = create(c, cfg, &info);
	double obs[8];
	print_info(&info);
	c->reset(env, seed, obs);
	printf("reset");
	for (int k = 0; k < info.obs_size; k++)
		printf(" %.17g", obs[k]);
	printf("\n");
	for (int i = 0; i < nact; i++) {
		int term = 0;
		long long a = parse_int(acts[i]);
		double r = c->step(env, a, obs, &term);
		printf("step %lld", a);
		for (int k = 0; k < info.obs_size; k++)
			printf(" %.17g", obs[k]);
		printf(" %.17g %d\n", r, term);
		if (term)
			break;
	}
	c->destroy(env);
	return 0;
}

static const char *map_arg(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

/* Value iteration (tol 1e-13, at most 100000 sweeps): "sweeps N", then per
 * state "V s v", "Q s q0 q1 ...", "greedy s a..." (every action within 1e-9
 * of the best). */
static int run_vi(const char *map, double slip, double gamma)
{
	const dlrt_env_class *c = &dlrt_env_gridworld;
	dlrt_env_config cfg = {map, slip, 0};
	dlrt_env_info info;
	void *env = create(c, &cfg, &info);
	int64_t S = info.obs_states, A = info.nactions;
	double *V = malloc(sizeof(double) * (size_t)S), *Q = malloc(sizeof(double) * (size_t)(S * A));
	int sweeps;
	if (!V || !Q)
		return 1;
	sweeps = dlrt_value_iteration(c, env, &info, gamma, 1e-13, 100000, V, Q);
	printf("sweeps %d\n", sweeps);
	for (int64_t s = 0; s < S; s++) {
		printf("V %lld %.17g\n", (long long)s, V[s]);
		printf("Q %lld", (long long)s);
		for (int64_t a = 0; a < A; a++)
			printf(" %.17g", Q[s * A + a]);
		printf("\ngreedy %lld", (long long)s);
		for (int64_t a = 0; a < A; a++)
			if (Q[s * A + a] >= V[s] - 1e-9)
				printf(" %lld", (long long)a);
		printf("\n");
	}
	free(V);
	free(Q);
	c->destroy(env);
	return sweeps < 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "cartpole") == 0 && argc >= 3) {
		return run_episode(&dlrt_env_cartpole, NULL, (uint64_t)parse_int(argv[2]), argc - 3, argv + 3);
	} else if (strcmp(argv[1], "gridworld") == 0 && argc >= 5) {
		dlrt_env_config cfg = {map_arg(argv[2]), parse_double(argv[3]), 0};
		return run_episode(&dlrt_env_gridworld, &cfg, (uint64_t)parse_int(argv[4]), argc - 5, argv + 5);
	} else if (strcmp(argv[1], "outcomes") == 0 && argc == 6) {
		dlrt_env_config cfg = {map_arg(argv[2]), parse_double(argv[3]), 0};
		dlrt_env_info info;
		dlrt_env_outcome out[8];
		void *env = create(&dlrt_env_gridworld, &cfg, &info);
		int n = dlrt_env_gridworld.outcomes(env, parse_int(argv[4]), parse_int(argv[5]), out, 8);
		printf("n %d\n", n);
		for (int i = 0; i < n; i++)
			printf("outcome %lld %.17g %.17g %d\n", (long long)out[i].next, out[i].prob, out[i].reward,
			       out[i].terminal);
		dlrt_env_gridworld.destroy(env);
		return 0;
	} else if (strcmp(argv[1], "vi") == 0 && argc == 5) {
		return run_vi(map_arg(argv[2]), parse_double(argv[3]), parse_double(argv[4]));
	} else if (strcmp(argv[1], "create") == 0 && argc >= 3) {
		const dlrt_env_class *c = dlrt_env_find(argv[2]);
		dlrt_env_config cfg = {NULL, 0, 0};
		dlrt_env_info info;
		if (!c) {
			printf("error: no environment called '%s'\n", argv[2]);
			return 1;
		}
		for (int i = 3; i < argc; i++) {
			if (strncmp(argv[i], "map=", 4) == 0)
				cfg.map = argv[i] + 4;
			else if (strncmp(argv[i], "slip=", 5) == 0)
				cfg.slip = parse_double(argv[i] + 5);
			else if (strncmp(argv[i], "max_steps=", 10) == 0)
				cfg.max_steps = parse_int(argv[i] + 10);
			else
				usage();
		}
		c->destroy(create(c, &cfg, &info));
		printf("class %s\n", c->name);
		print_info(&info);
		return 0;
	}
	usage();
	return 2;
}
