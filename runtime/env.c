/* env.c - the built-in environments of dlrt_env.h and value iteration.
 *
 * CartPole is Gymnasium's CartPole-v1 (gymnasium/envs/classic_control/
 * cartpole.py; bench/rl_envs.py is the same in Python): the same constants,
 * the same Euler step written in the same order, in double, termination
 * when the cart leaves [-2.4, 2.4] or the pole [-12, 12] degrees, reward 1
 * on every step up to and including the one that terminates (0 on steps
 * taken after it, as in Gymnasium), 500 steps by default.  reset(seed) draws
 * the four state variables uniformly from [-0.05, 0.05) with dlrt_rng.
 *
 * The gridworld reads a map: rows separated by '/', all of one length, of
 * cells 'S' (the start, exactly one), 'G' (a goal: reward 1, the episode
 * ends; at least one), 'H' (a hole: reward 0, the episode ends), '#' (a
 * wall, never entered) and '.' (free).  Actions are 0 left, 1 down, 2 right,
 * 3 up (FrozenLake's order); a move into a wall or off the map stays where
 * it is.  With probability slip a move goes to one of the two perpendicular
 * directions instead (slip / 2 each; slip = 2/3 is FrozenLake's
 * is_slippery).  The default map is FrozenLake's 4x4.  An observation is
 * the state id row * cols + col. */
#include "dlrt.h"
#include "dlrt_env.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* clang contracts a * b + c into a fused multiply-add where the target has
 * one; CartPole's step must round like Gymnasium's (gcc does not contract
 * under -std=c11, and does not know the pragma). */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* The dlrt_rng streams of the environments' draws (any fixed constants). */
#define CARTPOLE_STREAM 0x63617274706f6cULL
#define GRIDWORLD_STREAM 0x67726964776fULL

/* Rejects a negative max_steps; 0 when cfg is valid.  max_steps = 0 means
 * the environment's default. */
static int check_max_steps(const char *name, const dlrt_env_config *cfg, char *err, size_t errsize)
{
	if (cfg && cfg->max_steps < 0) {
		snprintf(err, errsize, "%s: max_steps must be positive, got %lld", name, (long long)cfg->max_steps);
		return -1;
	}
	return 0;
}

/* ---- CartPole ---- */

typedef struct cartpole {
	double state[4];          /* x, x_dot, theta, theta_dot */
	int terminated;           /* a step has already terminated the episode */
} cartpole;

static const double cp_gravity = 9.8, cp_masscart = 1.0, cp_masspole = 0.1, cp_length = 0.5,
		    cp_force_mag = 10.0, cp_tau = 0.02, cp_x_threshold = 2.4;
#define CP_TOTAL_MASS (cp_masspole + cp_masscart)
#define CP_POLEMASS_LENGTH (cp_masspole * cp_length)
/* 12 degrees, computed as Gymnasium does: 12 * 2 * pi / 360 */
#define CP_THETA_THRESHOLD (12 * 2 * 3.141592653589793 / 360)

/* A CartPole; it takes max_steps only. */
static void *cartpole_create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	cartpole *e;
	if (cfg && cfg->map) {
		snprintf(err, errsize, "cartpole takes no map");
		return NULL;
	}
	if (cfg && cfg->slip != 0) {
		snprintf(err, errsize, "cartpole takes no slip");
		return NULL;
	}
	if (check_max_steps("cartpole", cfg, err, errsize))
		return NULL;
	e = calloc(1, sizeof *e);
	if (!e) {
		snprintf(err, errsize, "cartpole: out of memory");
		return NULL;
	}
	info->obs_size = 4;
	info->obs_states = 0;
	info->nactions = 2;
	info->max_steps = cfg && cfg->max_steps > 0 ? cfg->max_steps : 500;
	info->reward_threshold = 475.0;
	return e;
}

static void cartpole_destroy(void *env)
{
	free(env);
}

/* Each state variable uniform in [-0.05, 0.05), drawn in order from the
 * generator seeded (seed, CARTPOLE_STREAM). */
static void cartpole_reset(void *env, uint64_t seed, double *obs)
{
	cartpole *e = env;
	dlrt_rng r;
	dlrt_rng_seed(&r, seed, CARTPOLE_STREAM);
	for (int i = 0; i < 4; i++) {
		double v;
		do
			v = -0.05 + 0.1 * dlrt_rng_uniform(&r);
		while (v >= 0.05); /* rounding can reach the upper end */
		e->state[i] = obs[i] = v;
	}
	e->terminated = 0;
}

/* One Euler step of Gymnasium's equations; action 1 pushes right, 0 left. */
static double cartpole_step(void *env, int64_t action, double *obs, int *terminated)
{
	cartpole *e = env;
	double x = e->state[0], x_dot = e->state[1], theta = e->state[2], theta_dot = e->state[3];
	double force = action == 1 ? cp_force_mag : -cp_force_mag;
	double costheta = cos(theta), sintheta = sin(theta);
	double temp = (force + CP_POLEMASS_LENGTH * (theta_dot * theta_dot) * sintheta) / CP_TOTAL_MASS;
	double thetaacc = (cp_gravity * sintheta - costheta * temp) /
			  (cp_length * (4.0 / 3.0 - cp_masspole * (costheta * costheta) / CP_TOTAL_MASS));
	double xacc = temp - CP_POLEMASS_LENGTH * thetaacc * costheta / CP_TOTAL_MASS;
	double reward;
	int done;
	x = x + cp_tau * x_dot;
	x_dot = x_dot + cp_tau * xacc;
	theta = theta + cp_tau * theta_dot;
	theta_dot = theta_dot + cp_tau * thetaacc;
	e->state[0] = obs[0] = x;
	e->state[1] = obs[1] = x_dot;
	e->state[2] = obs[2] = theta;
	e->state[3] = obs[3] = theta_dot;
	done = x < -cp_x_threshold || x > cp_x_threshold || theta < -CP_THETA_THRESHOLD || theta > CP_THETA_THRESHOLD;
	reward = e->terminated ? 0.0 : 1.0;
	if (done)
		e->terminated = 1;
	*terminated = done;
	return reward;
}

const dlrt_env_class dlrt_env_cartpole = {"cartpole", cartpole_create, cartpole_destroy, cartpole_reset,
					  cartpole_step, NULL};

/* ---- gridworld ---- */

#define GRID_MAX_CELLS 4096

typedef struct gridworld {
	int rows, cols;
	char cell[GRID_MAX_CELLS]; /* the map's characters, row-major */
	int start;
	double slip;
	dlrt_rng rng;             /* slips, seeded by reset */
	int pos;                  /* the current state id */
	int done;                 /* the episode has ended */
} gridworld;

/* FrozenLake's 4x4 map. */
static const char frozenlake_4x4[] = "S.../.H.H/...H/H..G";

/* The cell a move in direction a (0 left, 1 down, 2 right, 3 up) from
 * state s reaches: s itself when that is off the map or a wall. */
static int grid_move(const gridworld *g, int s, int a)
{
	static const int dr[4] = {0, 1, 0, -1}, dc[4] = {-1, 0, 1, 0};
	int r = s / g->cols + dr[a], c = s % g->cols + dc[a];
	if (r < 0 || r >= g->rows || c < 0 || c >= g->cols || g->cell[r * g->cols + c] == '#')
		return s;
	return r * g->cols + c;
}

static int grid_terminal(const gridworld *g, int s)
{
	return g->cell[s] == 'G' || g->cell[s] == 'H';
}

/* Parses map into g (rows, cols, cells, start); 0, or -1 with the reason
 * in err.  Rows and columns in messages count from 1. */
static int grid_parse(gridworld *g, const char *map, char *err, size_t errsize)
{
	int n = 0, row = 0, col = 0, nstart = 0, ngoal = 0, srow = 0, scol = 0;
	g->rows = g->cols = 0;
	if (!*map) {
		snprintf(err, errsize, "gridworld map is empty");
		return -1;
	}
	for (const char *p = map;; p++) {
		if (*p == '/' || *p == '\0') {
			if (row == 0)
				g->cols = col;
			else if (col != g->cols) {
				snprintf(err, errsize,
					 "gridworld map: row %d has %d cells but row 1 has %d (all rows must be the same length)",
					 row + 1, col, g->cols);
				return -1;
			}
			row++;
			col = 0;
			if (*p == '\0')
				break;
			continue;
		}
		if (!strchr("SGH#.", *p)) {
			unsigned char ch = (unsigned char)*p;
			if (ch >= 32 && ch < 127)
				snprintf(err, errsize,
					 "gridworld map: unknown character '%c' at row %d, column %d (cells are S, G, H, # and ., rows are separated by '/')",
					 ch, row + 1, col + 1);
			else
				snprintf(err, errsize,
					 "gridworld map: unknown character 0x%02x at row %d, column %d (cells are S, G, H, # and ., rows are separated by '/')",
					 ch, row + 1, col + 1);
			return -1;
		}
		if (n >= GRID_MAX_CELLS) {
			snprintf(err, errsize, "gridworld map is too large: more than %d cells", GRID_MAX_CELLS);
			return -1;
		}
		if (*p == 'S') {
			if (nstart++) {
				snprintf(err, errsize,
					 "gridworld map has two starts 'S' (row %d, column %d and row %d, column %d); it needs exactly one",
					 srow + 1, scol + 1, row + 1, col + 1);
				return -1;
			}
			srow = row, scol = col, g->start = n;
		}
		if (*p == 'G')
			ngoal++;
		g->cell[n++] = *p;
		col++;
	}
	g->rows = row;
	if (n == 0) {
		snprintf(err, errsize, "gridworld map is empty");
		return -1;
	}
	if (!nstart) {
		snprintf(err, errsize, "gridworld map has no start 'S'");
		return -1;
	}
	if (!ngoal) {
		snprintf(err, errsize, "gridworld map has no goal 'G'");
		return -1;
	}
	return 0;
}

/* A gridworld of cfg->map (FrozenLake 4x4 when NULL) and cfg->slip. */
static void *gridworld_create(const dlrt_env_config *cfg, dlrt_env_info *info, char *err, size_t errsize)
{
	gridworld *g;
	double slip = cfg ? cfg->slip : 0.0;
	if (!(slip >= 0.0 && slip < 1.0)) {
		snprintf(err, errsize, "gridworld: slip must be in [0, 1), got %g", slip);
		return NULL;
	}
	if (check_max_steps("gridworld", cfg, err, errsize))
		return NULL;
	g = calloc(1, sizeof *g);
	if (!g) {
		snprintf(err, errsize, "gridworld: out of memory");
		return NULL;
	}
	if (grid_parse(g, cfg && cfg->map ? cfg->map : frozenlake_4x4, err, errsize)) {
		free(g);
		return NULL;
	}
	g->slip = slip;
	g->pos = g->start;
	info->obs_size = 1;
	info->obs_states = (int64_t)g->rows * g->cols;
	info->nactions = 4;
	info->max_steps = cfg && cfg->max_steps > 0 ? cfg->max_steps : 100;
	info->reward_threshold = 0.0;
	return g;
}

static void gridworld_destroy(void *env)
{
	free(env);
}

/* Back to the start; the slips of the episode come from (seed,
 * GRIDWORLD_STREAM). */
static void gridworld_reset(void *env, uint64_t seed, double *obs)
{
	gridworld *g = env;
	dlrt_rng_seed(&g->rng, seed, GRIDWORLD_STREAM);
	g->pos = g->start;
	g->done = 0;
	obs[0] = (double)g->pos;
}

/* One move: with slip > 0 one uniform draw u picks the direction, the
 * first perpendicular ((action + 3) % 4) when u < slip / 2, the second
 * ((action + 1) % 4) when u < slip, else the action's own.  After the
 * episode has ended (or for an action outside 0..3) nothing moves and the
 * reward is 0. */
static double gridworld_step(void *env, int64_t action, double *obs, int *terminated)
{
	gridworld *g = env;
	double reward = 0.0;
	if (!g->done && action >= 0 && action < 4) {
		int a = (int)action;
		if (g->slip > 0) {
			double u = dlrt_rng_uniform(&g->rng);
			if (u < g->slip / 2)
				a = (a + 3) % 4;
			else if (u < g->slip)
				a = (a + 1) % 4;
		}
		g->pos = grid_move(g, g->pos, a);
		if (grid_terminal(g, g->pos)) {
			g->done = 1;
			reward = g->cell[g->pos] == 'G' ? 1.0 : 0.0;
		}
	}
	obs[0] = (double)g->pos;
	*terminated = g->done;
	return reward;
}

/* The distinct next states of action a in state s with their
 * probabilities; none from a goal, a hole or a wall. */
static int gridworld_outcomes(void *env, int64_t s, int64_t a, dlrt_env_outcome *out, int max)
{
	const gridworld *g = env;
	int n = 0;
	if (s < 0 || s >= (int64_t)g->rows * g->cols || a < 0 || a >= 4 || grid_terminal(g, (int)s) ||
	    g->cell[s] == '#')
		return 0;
	const int dirs[3] = {(int)(a + 3) % 4, (int)a, (int)(a + 1) % 4};
	const double probs[3] = {g->slip / 2, 1.0 - g->slip, g->slip / 2};
	for (int k = 0; k < 3; k++) {
		int next, i;
		if (probs[k] == 0)
			continue;
		next = grid_move(g, (int)s, dirs[k]);
		for (i = 0; i < n && out[i].next != next; i++)
			;
		if (i < n) {
			out[i].prob += probs[k];
			continue;
		}
		if (n == max)
			break;
		out[n].next = next;
		out[n].prob = probs[k];
		out[n].reward = g->cell[next] == 'G' ? 1.0 : 0.0;
		out[n].terminal = grid_terminal(g, next);
		n++;
	}
	return n;
}

const dlrt_env_class dlrt_env_gridworld = {"gridworld", gridworld_create, gridworld_destroy, gridworld_reset,
					   gridworld_step, gridworld_outcomes};

const dlrt_env_class *dlrt_env_find(const char *name)
{
	static const dlrt_env_class *const builtin[] = {&dlrt_env_cartpole, &dlrt_env_gridworld};
	if (!name)
		return NULL;
	for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++)
		if (strcmp(builtin[i]->name, name) == 0)
			return builtin[i];
	return NULL;
}

/* ---- value iteration ---- */

/* Synchronous sweeps: every V(s) of a sweep from the previous sweep's V.
 * Q(s, a) is the sum over the outcomes of prob (reward + gamma V(next)),
 * V(next) left out where the outcome is terminal; an action without
 * outcomes is worth 0, so states without any (terminal, walls) keep V = 0.
 * V(s) = max_a Q(s, a) exactly after every sweep.  The outcome buffer
 * grows until a call leaves room to spare.  Also -1 when the environment
 * is not tabular, an outcome's next state is outside [0, obs_states), or
 * memory runs out. */
int dlrt_value_iteration(const dlrt_env_class *c, void *env, const dlrt_env_info *info, double gamma,
			 double tol, int max_iters, double *V, double *Q)
{
	int64_t S, A;
	int cap = 16, it, rc = -1;
	double *Vnew;
	dlrt_env_outcome *out;
	if (!c || !c->outcomes || !info || info->obs_states <= 0 || info->nactions <= 0)
		return -1;
	S = info->obs_states;
	A = info->nactions;
	Vnew = malloc(sizeof(double) * (size_t)S);
	out = malloc(sizeof *out * (size_t)cap);
	if (!Vnew || !out)
		goto done;
	for (int64_t s = 0; s < S; s++)
		V[s] = 0.0;
	if (Q)
		for (int64_t i = 0; i < S * A; i++)
			Q[i] = 0.0;
	if (max_iters <= 0) {
		rc = 0;
		goto done;
	}
	for (it = 1; it <= max_iters; it++) {
		double delta = 0.0;
		for (int64_t s = 0; s < S; s++) {
			double best = 0.0;
			for (int64_t a = 0; a < A; a++) {
				double q = 0.0;
				int n = c->outcomes(env, s, a, out, cap);
				while (n >= cap && cap < (1 << 20)) {
					dlrt_env_outcome *bigger = realloc(out, sizeof *out * (size_t)cap * 2);
					if (!bigger)
						goto done;
					out = bigger;
					cap *= 2;
					n = c->outcomes(env, s, a, out, cap);
				}
				for (int k = 0; k < n; k++) {
					if (out[k].next < 0 || out[k].next >= S)
						goto done;
					q += out[k].prob * (out[k].reward + (out[k].terminal ? 0.0 : gamma * V[out[k].next]));
				}
				if (Q)
					Q[s * A + a] = q;
				if (a == 0 || q > best)
					best = q;
			}
			Vnew[s] = best;
			if (fabs(best - V[s]) > delta)
				delta = fabs(best - V[s]);
		}
		memcpy(V, Vnew, sizeof(double) * (size_t)S);
		if (delta <= tol)
			break;
	}
	rc = it <= max_iters ? it : max_iters;
done:
	free(Vnew);
	free(out);
	return rc;
}
