/* rl.c - training in an environment: rollouts, returns, replay, targets.
 *
 * A model whose train block names an environment (dlrt_model.rl) trains on
 * the experience of its own policy.  The policy is the program compiled
 * again for one observation (dlrt_rl.policy); at every environment step the
 * trainer writes the observation into it, runs its gradients() entry point
 * (training mode: the action is sampled, dropout is on) and passes the
 * action to the environment.  After every update the policy's parameters
 * are copied from the model's.
 *
 * Episode rollouts (REINFORCE, actor-critic): an episode of n steps becomes
 * one batch of n rows (n <= the batch size T), the observations, the
 * actions and each step's discounted return G_t = r_t + gamma G_{t+1},
 * standardised over the episode when asked ((G - mean) / (std + eps), the
 * sample std and eps = 2^-23, as PyTorch's reinforce.py); one train_step
 * per episode.  Row t of that step draws the same dropout mask as the
 * policy did at step t: both use the step's random key, and the policy's
 * draws are keyed by the row it stands for (dlrt_model.row0).
 *
 * Replay (DQN, Q-learning): every step adds the transition (observation,
 * action, reward, next observation, terminated) to a ring of `capacity`
 * transitions; once it holds `start` of them, every step also trains on
 * `batch` distinct transitions drawn uniformly, then moves the target
 * networks: Polyak averaging dst = tau src + (1 - tau) dst after every
 * update, or a copy every target_every updates.  A truncated episode (the
 * step limit) is not terminated: its last transition keeps its next
 * observation's value, as Gymnasium's API and PyTorch's DQN tutorial do.
 *
 * Hyper-parameters with a schedule (epsilon_greedy's eps) are set before
 * every environment step from the steps taken so far.
 *
 * The running reward is PyTorch's: 10 at first, then 0.05 r + 0.95 of itself
 * after each episode of return r; the run counts as solved at the first
 * episode where it passes the environment's reward threshold (475 for
 * CartPole-v1).  All episodes run (the figures of a whole run stay
 * comparable); the summary gives the mean return of the last 100. */
#include "dlrt_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Random streams: environment resets, replay sampling, the policy's
 * action draws in replay training (episode training draws with the
 * update's key instead). */
#define STREAM_ENV 0x454e56ULL
#define STREAM_REPLAY 0x5245504cULL
#define STREAM_ACT 0x414354ULL

typedef struct rl_run {
	const dlrt_model *m, *p;          /* the model and its policy */
	const dlrt_rl *rl;
	const dlrt_rl_opts *o;
	const char *name;                 /* the environment's, for messages */
	void *env;
	dlrt_env_info info;
	const dlrt_tensor *pobs, *pact;   /* the policy's observation and action */
	int *pmap;                        /* per policy tensor: the model's of that name, or -1 */
	int64_t obs_elems;                /* numbers per observation row of the model */
	int one_hot;                      /* a state id written as a one-hot row */
	int64_t max_steps;
	double *obs, *next;               /* the environment's observations */
	double *rewards;
	/* episode rollouts: rows of the batch filled, and where each episode starts */
	int64_t rows;
	int64_t *seg;
	int nseg;
	/* replay */
	double *mem_obs, *mem_next, *mem_rew;
	int32_t *mem_act;
	uint8_t *mem_done;
	int64_t mem_size, mem_head;
	int64_t *pick;
	dlrt_rng replay_rng;
	/* counters */
	int64_t env_steps, updates;
	double t_act, t_update;           /* seconds in the policy and environment, in updates */
	double *update_times;
	int64_t nupdate_times, cap_update_times;
	double last_loss;
} rl_run;

static const dlrt_tensor *T(const dlrt_model *m, int i) { return i >= 0 ? &m->tensors[i] : NULL; }

static int find_tensor(const dlrt_model *m, const char *name)
{
	for (int i = 0; i < m->ntensors; i++)
		if (!strcmp(m->tensors[i].name, name))
			return i;
	return -1;
}

/* observation row `row` of tensor t from the environment's numbers */
static void put_obs(rl_run *r, const dlrt_tensor *t, int64_t row, const double *obs)
{
	int64_t base = row * r->obs_elems;
	if (r->one_hot) {
		for (int64_t i = 0; i < r->obs_elems; i++)
			dlrt_set(t->data, t->dtype, base + i, 0);
		dlrt_set(t->data, t->dtype, base + (int64_t)obs[0], 1);
		return;
	}
	for (int64_t i = 0; i < r->obs_elems; i++)
		dlrt_set(t->data, t->dtype, base + i, obs[i]);
}

/* The policy's parameters and hyper-parameters from the model's. */
static void sync_policy(rl_run *r)
{
	for (int i = 0; i < r->p->ntensors; i++)
		if (r->pmap[i] >= 0) {
			const dlrt_tensor *d = &r->p->tensors[i], *s = &r->m->tensors[r->pmap[i]];
			memcpy(d->data, s->data, (size_t)d->numel * dlrt_dtype_size(d->dtype));
		}
}

static double schedule_value(const dlrt_schedule *s, int64_t t)
{
	if (s->linear)
		return t >= s->steps ? s->end : s->start + (s->end - s->start) * ((double)t / s->steps);
	return s->end + (s->start - s->end) * exp(-(double)t / s->steps);
}

static void apply_schedules(rl_run *r)
{
	for (int k = 0; k < r->rl->nschedules; k++) {
		const dlrt_schedule *s = &r->rl->schedules[k];
		const dlrt_tensor *h = &r->m->tensors[s->tensor];
		double v = schedule_value(s, r->env_steps);
		dlrt_set(h->data, h->dtype, 0, v);
		int pi = find_tensor(r->p, h->name);
		if (pi >= 0)
			dlrt_set(r->p->tensors[pi].data, r->p->tensors[pi].dtype, 0, v);
	}
}

/* The environment's observation must be finite. */
static int check_obs(rl_run *r, const double *obs, int64_t episode, int64_t step)
{
	int64_t n = r->info.obs_size;
	for (int64_t i = 0; i < n; i++)
		if (!isfinite(obs[i])) {
			dlrt_error("%s: episode %lld, step %lld: the environment returned a non-finite observation "
			           "(element %lld is %s); stopping", r->name, (long long)episode + 1, (long long)step,
			           (long long)i, isnan(obs[i]) ? "NaN" : "Inf");
			return -1;
		}
	if (r->info.obs_states > 0 && (obs[0] < 0 || obs[0] >= (double)r->info.obs_states || obs[0] != floor(obs[0]))) {
		dlrt_error("%s: episode %lld, step %lld: the environment returned state %g, outside [0, %lld)",
		           r->name, (long long)episode + 1, (long long)step, obs[0], (long long)r->info.obs_states);
		return -1;
	}
	return 0;
}

/* One step of the environment with action a: the next observation into
 * obs, the reward into *rew, *term; -1 (message printed, naming the episode
 * and the step) when the reward or the observation is not finite or the
 * state is outside the environment's. */
static int env_step(rl_run *r, int64_t a, double *obs, int *term, double *rew, int64_t episode, int64_t step)
{
	*term = 0;
	*rew = r->rl->env->step(r->env, a, obs, term);
	if (!isfinite(*rew)) {
		dlrt_error("%s: episode %lld, step %lld: the environment returned a reward of %s; stopping", r->name,
		           (long long)episode + 1, (long long)step, isnan(*rew) ? "NaN" : "Inf");
		return -1;
	}
	return check_obs(r, obs, episode, step);
}

/* The policy's action for observation obs, as row `row` of an episode;
 * greedy: evaluation mode.  -1 (message printed) when it is outside the
 * action space. */
static int64_t act(rl_run *r, const double *obs, int64_t row, int greedy, int64_t episode)
{
	double t0 = dlrt_now();
	put_obs(r, r->pobs, 0, obs);
	if (r->p->row0)
		*r->p->row0 = row;
	if (greedy)
		r->p->forward(1);
	else
		r->p->gradients(1);
	int64_t a = (int64_t)dlrt_get(r->pact->data, r->pact->dtype, 0);
	r->t_act += dlrt_now() - t0;
	if (a < 0 || a >= r->info.nactions) {
		dlrt_error("episode %lld, step %lld: the policy '%s' chose action %lld, but %s has %lld actions "
		           "(0..%lld)", (long long)episode + 1, (long long)row, r->pact->name, (long long)a,
		           r->name, (long long)r->info.nactions, (long long)r->info.nactions - 1);
		return -1;
	}
	return a;
}

static double model_loss(const dlrt_model *m) { return dlrt_get(m->loss, m->dtype, 0); }

static void note_update_time(rl_run *r, double s)
{
	r->t_update += s;
	if (r->nupdate_times == r->cap_update_times) {
		int64_t cap = r->cap_update_times ? 2 * r->cap_update_times : 1024;
		double *p = realloc(r->update_times, sizeof(double) * (size_t)cap);
		if (!p)
			return;
		r->update_times = p;
		r->cap_update_times = cap;
	}
	r->update_times[r->nupdate_times++] = s;
}

/* After an update: the loss must be finite; the target networks move. */
static int after_update(rl_run *r, int64_t episode)
{
	const dlrt_model *m = r->m;
	r->last_loss = model_loss(m);
	if (!isfinite(r->last_loss)) {
		dlrt_error("episode %lld, update %lld: the loss is %s; stopping", (long long)episode + 1,
		           (long long)r->updates + 1, isnan(r->last_loss) ? "NaN" : "Inf");
		return -1;
	}
	r->updates++;
	const dlrt_rl *rl = r->rl;
	if (rl->ntargets && (rl->tau < 1 || r->updates % rl->target_every == 0))
		for (int k = 0; k < rl->ntargets; k++) {
			const dlrt_tensor *d = &m->tensors[rl->target_dst[k]], *s = &m->tensors[rl->target_src[k]];
			if (rl->tau >= 1) {
				memcpy(d->data, s->data, (size_t)d->numel * dlrt_dtype_size(d->dtype));
				continue;
			}
			if (d->dtype == DLRT_F32) {
				float *dv = d->data;
				const float *sv = s->data;
				float tau = (float)rl->tau, keep = (float)(1 - rl->tau);
				for (int64_t i = 0; i < d->numel; i++)
					dv[i] = sv[i] * tau + dv[i] * keep;
			} else {
				double *dv = d->data;
				const double *sv = s->data;
				for (int64_t i = 0; i < d->numel; i++)
					dv[i] = sv[i] * rl->tau + dv[i] * (1 - rl->tau);
			}
		}
	sync_policy(r);
	return 0;
}

/* Discounted returns of rewards[0..n) into the model's returns tensor, each
 * episode of the batch (starting at seg[0..nseg)) on its own; standardised
 * over the batch when asked. */
static void put_returns(rl_run *r, int64_t n)
{
	const dlrt_tensor *t = T(r->m, r->rl->returns);
	double *ret = r->next; /* scratch of at least a batch */
	for (int k = r->nseg - 1; k >= 0; k--) {
		int64_t end = k + 1 < r->nseg ? r->seg[k + 1] : n;
		double g = 0;
		for (int64_t i = end - 1; i >= r->seg[k]; i--) {
			g = r->rewards[i] + r->rl->gamma * g;
			ret[i] = g;
		}
	}
	if (r->rl->normalize) {
		double mean = 0, var = 0;
		for (int64_t i = 0; i < n; i++)
			mean += ret[i];
		mean /= (double)n;
		for (int64_t i = 0; i < n; i++)
			var += (ret[i] - mean) * (ret[i] - mean);
		double sd = n > 1 ? sqrt(var / (double)(n - 1)) : 0;
		for (int64_t i = 0; i < n; i++)
			ret[i] = (ret[i] - mean) / (sd + 1.1920928955078125e-07);
	}
	for (int64_t i = 0; i < n; i++)
		dlrt_set(t->data, t->dtype, i, ret[i]);
}

/* One episode of the policy (greedy: evaluation mode) from reset seed
 * `seed`; with `record`, its observations, actions and rewards fill the
 * model's batch rows from r->rows on (episode rollouts).  Returns the number
 * of steps (the total reward in *ret), or -1 on an error. */
static int64_t play(rl_run *r, uint64_t seed, int greedy, int record, int64_t episode, double *ret)
{
	const dlrt_model *m = r->m;
	const dlrt_rl *rl = r->rl;
	const dlrt_tensor *to = T(m, rl->obs), *ta = T(m, rl->action);
	double total = 0;
	rl->env->reset(r->env, seed, r->obs);
	if (check_obs(r, r->obs, episode, 0))
		return -1;
	int64_t n = 0;
	for (;;) {
		if (rl->nschedules && !greedy)
			apply_schedules(r);
		int64_t row = r->rows + n;
		int64_t a = act(r, r->obs, record ? row : 0, greedy, episode);
		if (a < 0)
			return -1;
		if (record) {
			put_obs(r, to, row, r->obs);
			dlrt_set(ta->data, ta->dtype, row, (double)a);
		}
		int term;
		double rew;
		if (env_step(r, a, r->obs, &term, &rew, episode, n + 1))
			return -1;
		if (record)
			r->rewards[r->rows + n] = rew;
		total += rew;
		n++;
		if (!greedy)
			r->env_steps++;
		if (term || n >= r->max_steps)
			break;
	}
	*ret = total;
	return n;
}

/* Draw `count` distinct indices below `size` (Floyd's algorithm). */
static void draw_distinct(dlrt_rng *g, int64_t size, int64_t count, int64_t *out)
{
	int64_t k = 0;
	for (int64_t j = size - count; j < size; j++) {
		int64_t t = (int64_t)dlrt_rng_below(g, (uint32_t)(j + 1)), dup = 0;
		for (int64_t i = 0; i < k && !dup; i++)
			dup = out[i] == t;
		out[k++] = dup ? j : t;
	}
}

/* The replay memory's transitions pick[0..n) into the model's batch. */
static void gather_replay(rl_run *r, int64_t n)
{
	const dlrt_model *m = r->m;
	const dlrt_rl *rl = r->rl;
	int64_t os = r->info.obs_size;
	for (int64_t i = 0; i < n; i++) {
		int64_t j = r->pick[i];
		put_obs(r, T(m, rl->obs), i, r->mem_obs + j * os);
		put_obs(r, T(m, rl->next_obs), i, r->mem_next + j * os);
		dlrt_set(T(m, rl->action)->data, T(m, rl->action)->dtype, i, r->mem_act[j]);
		dlrt_set(T(m, rl->reward)->data, T(m, rl->reward)->dtype, i, r->mem_rew[j]);
		dlrt_set(T(m, rl->done)->data, T(m, rl->done)->dtype, i, r->mem_done[j]);
	}
}

/* One episode of replay training: act, remember, update.  Returns the
 * steps taken (the total reward in *ret), or -1. */
static int64_t replay_episode(rl_run *r, uint64_t seed, int64_t episode, double *ret)
{
	const dlrt_model *m = r->m;
	const dlrt_rl *rl = r->rl;
	int64_t os = r->info.obs_size, B = m->batch;
	double total = 0;
	rl->env->reset(r->env, seed, r->obs);
	if (check_obs(r, r->obs, episode, 0))
		return -1;
	int64_t n = 0;
	for (;;) {
		apply_schedules(r);
		if (r->p->rng_key)
			*r->p->rng_key = dlrt_step_key(r->o->seed ^ STREAM_ACT, (uint64_t)r->env_steps);
		int64_t a = act(r, r->obs, 0, 0, episode);
		if (a < 0)
			return -1;
		int term;
		double rew;
		if (env_step(r, a, r->next, &term, &rew, episode, n + 1))
			return -1;
		total += rew;
		n++;
		r->env_steps++;
		/* remember */
		int64_t j = r->mem_head;
		memcpy(r->mem_obs + j * os, r->obs, sizeof(double) * (size_t)os);
		memcpy(r->mem_next + j * os, r->next, sizeof(double) * (size_t)os);
		r->mem_act[j] = (int32_t)a;
		r->mem_rew[j] = rew;
		r->mem_done[j] = (uint8_t)(term != 0);
		r->mem_head = (j + 1) % rl->capacity;
		if (r->mem_size < rl->capacity)
			r->mem_size++;
		/* learn */
		if (r->mem_size >= rl->start) {
			double t0 = dlrt_now();
			if (B == 1 && rl->capacity == 1)
				r->pick[0] = j;
			else
				draw_distinct(&r->replay_rng, r->mem_size, B, r->pick);
			gather_replay(r, B);
			if (m->rng_key)
				*m->rng_key = dlrt_step_key(r->o->seed, (uint64_t)r->updates);
			m->train_step(B, r->o->lr);
			note_update_time(r, dlrt_now() - t0);
			if (after_update(r, episode))
				return -1;
		}
		memcpy(r->obs, r->next, sizeof(double) * (size_t)os);
		if (term || n >= r->max_steps)
			break;
	}
	*ret = total;
	return n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Evaluation: `count` episodes of the greedy policy, from reset seeds of
 * their own. */
static int evaluate_policy(rl_run *r, int64_t count)
{
	double sum = 0, sq = 0, lo = INFINITY, hi = -INFINITY;
	int64_t steps = 0;
	for (int64_t e = 0; e < count; e++) {
		double ret;
		int64_t n = play(r, dlrt_step_key(r->o->seed ^ STREAM_ENV ^ 0xE7A1ULL, (uint64_t)e), 1, 0, e, &ret);
		if (n < 0)
			return -1;
		steps += n;
		sum += ret;
		sq += ret * ret;
		lo = ret < lo ? ret : lo;
		hi = ret > hi ? ret : hi;
	}
	double mean = sum / (double)count, sd = count > 1 ? sqrt(fmax(0, (sq - sum * mean) / (double)(count - 1))) : 0;
	printf("eval: %lld greedy episode%s: mean return %.2f (std %.2f, min %g, max %g), %.1f steps per episode\n",
	       (long long)count, count == 1 ? "" : "s", mean, sd, lo, hi, (double)steps / (double)count);
	return 0;
}

/* Tabular environments: value iteration's policy next to the learned
 * greedy one, state by state, and how many states they agree on. */
static int compare_value_iteration(rl_run *r)
{
	const dlrt_rl *rl = r->rl;
	int64_t S = r->info.obs_states, A = r->info.nactions;
	if (S <= 0 || !rl->env->outcomes)
		return 0;
	double *V = malloc(sizeof(double) * (size_t)S), *Q = malloc(sizeof(double) * (size_t)(S * A));
	if (!V || !Q) {
		free(V);
		free(Q);
		dlrt_error("out of memory");
		return -1;
	}
	int sweeps = dlrt_value_iteration(rl->env, r->env, &r->info, rl->gamma, 1e-12, 100000, V, Q);
	int64_t states = 0, agree = 0;
	dlrt_env_outcome oc[16];
	double first;
	rl->env->reset(r->env, dlrt_step_key(r->o->seed ^ STREAM_ENV, 0), &first);
	int64_t s0 = (int64_t)first;
	printf("value iteration (gamma %g, %d sweeps): V(%lld) = %.6f at the first episode's start\n", rl->gamma, sweeps,
	       (long long)s0, s0 >= 0 && s0 < S ? V[s0] : NAN);
	printf("state  learned  optimal  V*\n");
	for (int64_t s = 0; s < S; s++) {
		int any = 0;
		for (int64_t a = 0; a < A && !any; a++)
			any = rl->env->outcomes(r->env, s, a, oc, 16) > 0;
		if (!any)
			continue; /* terminal or a wall */
		double obs = (double)s, best = -INFINITY;
		int64_t a = act(r, &obs, 0, 1, 0);
		if (a < 0)
			break;
		for (int64_t b = 0; b < A; b++)
			best = fmax(best, Q[s * A + b]);
		int ok = Q[s * A + a] >= best - 1e-9 * fmax(1, fabs(best));
		char opt[64] = "";
		for (int64_t b = 0; b < A && strlen(opt) < 48; b++)
			if (Q[s * A + b] >= best - 1e-9 * fmax(1, fabs(best)))
				snprintf(opt + strlen(opt), sizeof opt - strlen(opt), "%s%lld", opt[0] ? "," : "", (long long)b);
		printf("%5lld  %7lld  %7s  %.6f%s\n", (long long)s, (long long)a, opt, V[s], ok ? "" : "  differs");
		states++;
		agree += ok;
	}
	printf("greedy policy: optimal in %lld of %lld states (value iteration's actions)\n", (long long)agree,
	       (long long)states);
	free(V);
	free(Q);
	return 0;
}

/* Checks of the model against the environment, before anything runs. */
static int check_fit(rl_run *r)
{
	const dlrt_model *m = r->m;
	const dlrt_rl *rl = r->rl;
	const dlrt_tensor *o = T(m, rl->obs);
	int64_t rows = o->shape[0], elems = o->numel / rows;
	r->obs_elems = elems;
	if (r->info.obs_states > 0) {
		if (o->dtype == DLRT_I32 && elems == 1)
			r->one_hot = 0;
		else if (o->dtype != DLRT_I32 && elems == r->info.obs_states)
			r->one_hot = 1;
		else {
			dlrt_error("%s observes one of %lld states: observation '%s' must be i32[%lld] (the state id) or "
			           "floats [%lld, %lld] (one-hot), not %s with %lld numbers a row", r->name,
			           (long long)r->info.obs_states, o->name, (long long)rows, (long long)rows,
			           (long long)r->info.obs_states, dlrt_dtype_name(o->dtype), (long long)elems);
			return -1;
		}
	} else if (o->dtype == DLRT_I32 || elems != r->info.obs_size) {
		dlrt_error("%s observes %lld number%s a step, but observation '%s' holds %lld %s a row", r->name,
		           (long long)r->info.obs_size, r->info.obs_size == 1 ? "" : "s", o->name, (long long)elems,
		           o->dtype == DLRT_I32 ? "integer" : elems == 1 ? "number" : "numbers");
		return -1;
	}
	const dlrt_tensor *a = T(m, rl->action);
	if (a->classes > 0 && a->classes != r->info.nactions) {
		dlrt_error("%s has %lld actions, but the model uses action '%s' as one of %lld", r->name,
		           (long long)r->info.nactions, a->name, (long long)a->classes);
		return -1;
	}
	r->max_steps = rl->config.max_steps > 0 ? rl->config.max_steps : r->info.max_steps;
	if (rl->rollout == DLRT_ROLLOUT_EPISODE && r->max_steps > 0 && rl->batch_episodes > 1 &&
	    r->max_steps * rl->batch_episodes > m->batch) {
		dlrt_error("a batch of %d episodes of %s takes up to %lld rows, but the batch (the first dim of '%s') "
		           "holds %lld", rl->batch_episodes, r->name, (long long)(r->max_steps * rl->batch_episodes), o->name,
		           (long long)m->batch);
		return -1;
	}
	if (rl->rollout == DLRT_ROLLOUT_EPISODE) {
		if (r->max_steps <= 0 || r->max_steps > m->batch) {
			if (r->max_steps <= 0)
				dlrt_error("%s sets no limit on an episode's steps, but an episode must fit the batch (the first "
				           "dim of '%s', %lld): limit episodes with max_steps = %lld", r->name, o->name,
				           (long long)m->batch, (long long)m->batch);
			else
				dlrt_error("an episode of %s lasts up to %lld steps, but the batch (the first dim of '%s') holds "
				           "%lld: make it at least that, or limit episodes with max_steps", r->name,
				           (long long)r->max_steps, o->name, (long long)m->batch);
			return -1;
		}
	} else if (r->max_steps <= 0) {
		r->max_steps = 1000000; /* an environment without a limit still ends its episodes */
	}
	return 0;
}

static int setup(rl_run *r)
{
	const dlrt_model *m = r->m, *p = r->p;
	const dlrt_rl *rl = r->rl;
	char err[512] = "";
	r->env = rl->env->create(&rl->config, &r->info, err, sizeof err);
	if (!r->env) {
		dlrt_error("%s: %s", r->name, err[0] ? err : "the environment could not be created");
		return -1;
	}
	if (r->info.obs_size < 1 || r->info.nactions < 1 || r->info.obs_size > (1 << 24)) {
		dlrt_error("%s: an environment needs at least one number per observation and one action (it says %lld "
		           "and %lld)", r->name, (long long)r->info.obs_size, (long long)r->info.nactions);
		return -1;
	}
	if (check_fit(r))
		return -1;
	/* the policy's observation, action and the model's tensors it shares */
	int pi = find_tensor(p, T(m, rl->obs)->name);
	r->pobs = pi >= 0 ? &p->tensors[pi] : NULL;
	for (int i = 0; i < p->ntensors && !r->pact; i++)
		if (p->tensors[i].role == DLRT_OUTPUT)
			r->pact = &p->tensors[i];
	if (!r->pobs || !r->pact) {
		dlrt_error("model %s: its policy has no observation or action (a model compiled by another dlc?)", m->name);
		return -1;
	}
	r->pmap = malloc(sizeof(int) * (size_t)p->ntensors);
	if (!r->pmap)
		return -1;
	for (int i = 0; i < p->ntensors; i++) {
		const dlrt_tensor *t = &p->tensors[i];
		int j = t->role == DLRT_PARAM || t->role == DLRT_HYPER ? find_tensor(m, t->name) : -1;
		if (j >= 0 && (m->tensors[j].numel != t->numel || m->tensors[j].dtype != t->dtype)) {
			dlrt_error("model %s: the policy's '%s' differs from the model's", m->name, t->name);
			return -1;
		}
		r->pmap[i] = j;
	}
	int64_t os = r->info.obs_size, steps = m->batch;
	if (rl->rollout == DLRT_ROLLOUT_REPLAY)
		steps = 1;
	r->seg = malloc(sizeof(int64_t) * (size_t)(rl->batch_episodes > 0 ? rl->batch_episodes : 1));
	if (!r->seg)
		goto oom;
	r->obs = calloc((size_t)os, sizeof(double));
	r->next = calloc((size_t)(os > steps ? os : steps), sizeof(double));
	r->rewards = calloc((size_t)steps, sizeof(double));
	if (!r->obs || !r->next || !r->rewards)
		goto oom;
	if (rl->rollout == DLRT_ROLLOUT_REPLAY) {
		size_t cap = (size_t)rl->capacity;
		r->mem_obs = malloc(sizeof(double) * cap * (size_t)os);
		r->mem_next = malloc(sizeof(double) * cap * (size_t)os);
		r->mem_rew = malloc(sizeof(double) * cap);
		r->mem_act = malloc(sizeof(int32_t) * cap);
		r->mem_done = malloc(cap);
		r->pick = malloc(sizeof(int64_t) * (size_t)m->batch);
		if (!r->mem_obs || !r->mem_next || !r->mem_rew || !r->mem_act || !r->mem_done || !r->pick)
			goto oom;
		dlrt_rng_seed(&r->replay_rng, r->o->seed, STREAM_REPLAY);
	}
	/* a target network starts as a copy of its source */
	for (int k = 0; k < rl->ntargets && !r->o->loaded; k++) {
		const dlrt_tensor *d = &m->tensors[rl->target_dst[k]], *s = &m->tensors[rl->target_src[k]];
		memcpy(d->data, s->data, (size_t)d->numel * dlrt_dtype_size(d->dtype));
	}
	sync_policy(r);
	return 0;
oom:
	dlrt_error("out of memory");
	return -1;
}

static void teardown(rl_run *r)
{
	if (r->env)
		r->rl->env->destroy(r->env);
	free(r->pmap);
	free(r->seg);
	free(r->obs);
	free(r->next);
	free(r->rewards);
	free(r->mem_obs);
	free(r->mem_next);
	free(r->mem_rew);
	free(r->mem_act);
	free(r->mem_done);
	free(r->pick);
	free(r->update_times);
}

/* --dump-grads with an episode rollout: one batch of the policy's episodes
 * (batch_episodes of them), then gradients() on it; the file holds the
 * loss, the gradients, the batch (observations, actions, returns) and the
 * parameters it was played with. */
static int dump_episode(rl_run *r)
{
	const dlrt_model *m = r->m;
	double ret, total = 0;
	if (m->rng_key)
		*m->rng_key = dlrt_step_key(r->o->seed, 0);
	if (r->p->rng_key)
		*r->p->rng_key = dlrt_step_key(r->o->seed, 0);
	r->rows = 0;
	r->nseg = 0;
	for (int e = 0; e < r->rl->batch_episodes; e++) {
		int64_t n = play(r, dlrt_step_key(r->o->seed ^ STREAM_ENV, (uint64_t)e), 0, 1, e, &ret);
		if (n < 0)
			return 1;
		r->seg[r->nseg++] = r->rows;
		r->rows += n;
		total += ret;
	}
	put_returns(r, r->rows);
	m->gradients(r->rows);
	if (dlrt_write_dump(m, r->o->dump_grads, r->rows, 1, r->o->seed, 1))
		return 1;
	if (!r->o->quiet)
		printf("wrote %d episode%s of %lld steps in all (return %g) and the gradients to %s\n", r->nseg,
		       r->nseg == 1 ? "" : "s", (long long)r->rows, total, r->o->dump_grads);
	return 0;
}

/* --speed: (a) environment steps per second with the policy in the loop
 * (training mode, no update), over `steps` steps, best and median of 3
 * runs; (b) one update's time, median of 50: for episode rollouts an
 * episode of `len` steps played by the policy (the environment reset when
 * it ends), for replay a batch from a memory of `start` transitions. */
static int speed(rl_run *r, int64_t steps, int64_t len)
{
	const dlrt_model *m = r->m;
	const dlrt_rl *rl = r->rl;
	double best = 0, runs[3];
	for (int k = 0; k < 3; k++) {
		uint64_t ep = 0;
		rl->env->reset(r->env, dlrt_step_key(r->o->seed ^ STREAM_ENV, ep++), r->obs);
		int64_t t = 0;
		double t0 = dlrt_now();
		for (int64_t i = 0; i < steps; i++) {
			int64_t a = act(r, r->obs, 0, 0, 0);
			if (a < 0)
				return 1;
			int term = 0;
			rl->env->step(r->env, a, r->obs, &term);
			if (term || ++t >= r->max_steps) {
				rl->env->reset(r->env, dlrt_step_key(r->o->seed ^ STREAM_ENV, ep++), r->obs);
				t = 0;
			}
		}
		runs[k] = (double)steps / (dlrt_now() - t0);
		best = runs[k] > best ? runs[k] : best;
	}
	qsort(runs, 3, sizeof(double), cmp_double);
	double times[50];
	if (rl->rollout == DLRT_ROLLOUT_EPISODE) {
		if (len > m->batch)
			len = m->batch;
		rl->env->reset(r->env, dlrt_step_key(r->o->seed ^ STREAM_ENV, 99), r->obs);
		for (int64_t i = 0; i < len; i++) {
			int64_t a = act(r, r->obs, i, 0, 0);
			if (a < 0)
				return 1;
			put_obs(r, T(m, rl->obs), i, r->obs);
			dlrt_set(T(m, rl->action)->data, T(m, rl->action)->dtype, i, (double)a);
			int term = 0;
			r->rewards[i] = rl->env->step(r->env, a, r->obs, &term);
			if (term)
				rl->env->reset(r->env, dlrt_step_key(r->o->seed ^ STREAM_ENV, 100 + (uint64_t)i), r->obs);
		}
		r->seg[0] = 0;
		r->nseg = 1;
		for (int k = 0; k < 50; k++) {
			double t0 = dlrt_now();
			put_returns(r, len);
			m->train_step(len, r->o->lr);
			times[k] = dlrt_now() - t0;
		}
	} else {
		len = m->batch;
		int64_t os = r->info.obs_size, fill = rl->start;
		rl->env->reset(r->env, dlrt_step_key(r->o->seed ^ STREAM_ENV, 99), r->obs);
		for (int64_t j = 0; j < fill; j++) {
			int64_t a = act(r, r->obs, 0, 0, 0);
			if (a < 0)
				return 1;
			int term = 0;
			memcpy(r->mem_obs + j * os, r->obs, sizeof(double) * (size_t)os);
			r->mem_rew[j] = rl->env->step(r->env, a, r->obs, &term);
			memcpy(r->mem_next + j * os, r->obs, sizeof(double) * (size_t)os);
			r->mem_act[j] = (int32_t)a;
			r->mem_done[j] = (uint8_t)(term != 0);
			if (term)
				rl->env->reset(r->env, dlrt_step_key(r->o->seed ^ STREAM_ENV, 100 + (uint64_t)j), r->obs);
		}
		r->mem_size = fill;
		for (int k = 0; k < 50; k++) {
			double t0 = dlrt_now();
			draw_distinct(&r->replay_rng, r->mem_size, len, r->pick);
			gather_replay(r, len);
			m->train_step(len, r->o->lr);
			times[k] = dlrt_now() - t0;
		}
	}
	qsort(times, 50, sizeof(double), cmp_double);
	printf("{\"model\": \"%s\", \"env_steps_per_s_best\": %.1f, \"env_steps_per_s_median\": %.1f, "
	       "\"update_ms_median\": %.5f, \"update_rows\": %lld, \"threads\": %d}\n", m->name, best, runs[1],
	       1e3 * times[25], (long long)len, dlrt_threads());
	return 0;
}

int dlrt_rl_main(const dlrt_model *m, const dlrt_rl_opts *o)
{
	const dlrt_rl *rl = m->rl;
	rl_run r;
	memset(&r, 0, sizeof r);
	/* a user environment by its file's name, a built-in one by its own */
	r.name = strrchr(rl->env_name, '/') ? strrchr(rl->env_name, '/') + 1 : rl->env_name;
	r.m = m;
	r.p = rl->policy;
	r.rl = rl;
	r.o = o;
	int rc = 1;
	dlrt_log lg = {0};
	if (!r.p) {
		dlrt_error("model %s was compiled without its policy", m->name);
		return 1;
	}
	if (setup(&r))
		goto done;
	if (o->speed_steps > 0) {
		rc = speed(&r, o->speed_steps, o->speed_len);
		goto done;
	}
	if (o->dump_grads) {
		if (rl->rollout != DLRT_ROLLOUT_EPISODE) {
			dlrt_error("--dump-grads plays one episode: for models trained on episode rollouts");
			goto done;
		}
		rc = dump_episode(&r);
		goto done;
	}
	int64_t episodes = o->episodes >= 0 ? o->episodes : rl->episodes;
	const char *kind = rl->rollout == DLRT_ROLLOUT_EPISODE ? "episode rollouts" : "replay";
	if (!o->quiet && episodes > 0) {
		int64_t trained = 0, frozen = 0;
		for (int i = 0; i < m->ntensors; i++)
			if (m->tensors[i].role == DLRT_PARAM)
				*(m->tensors[i].grad ? &trained : &frozen) += m->tensors[i].numel;
		printf("%s: %lld parameters", m->name, (long long)trained);
		if (frozen)
			printf(" (and %lld in target networks)", (long long)frozen);
		printf(", %s (%lld observation%s, %lld actions, up to %lld steps), %s, %s lr %g", r.name, (long long)r.info.obs_size,
		       r.info.obs_size == 1 ? "" : "s", (long long)r.info.nactions,
		       (long long)r.max_steps, kind, dlrt_optimizer_name(m->optimizer), o->lr);
		if (m->optimizer_constants && *m->optimizer_constants)
			printf(" %s", m->optimizer_constants);
		printf(", gamma %g", rl->gamma);
		if (rl->rollout == DLRT_ROLLOUT_REPLAY)
			printf(", memory %lld, batch %lld from %lld", (long long)rl->capacity, (long long)m->batch,
			       (long long)rl->start);
		if (rl->ntargets && rl->tau < 1)
			printf(", target tau %g", rl->tau);
		else if (rl->ntargets)
			printf(", target copied every %lld updates", (long long)rl->target_every);
		printf(", %lld episodes, seed %llu\n", (long long)episodes, (unsigned long long)o->seed);
		fflush(stdout);
	}
	if (o->log && episodes > 0) {
		lg.path = o->log;
		lg.f = fopen(o->log, "w");
		if (!lg.f) {
			dlrt_error("cannot write the log '%s': %s", o->log, strerror(errno));
			goto done;
		}
		fprintf(lg.f, "episode,steps,return,running_reward,loss,env_steps,updates,seconds\n");
	}
	double running = 10, *returns = calloc((size_t)(episodes > 0 ? episodes : 1), sizeof(double));
	int64_t solved = 0, log_every = o->log_every > 0 ? o->log_every : episodes >= 1000 ? 50 : 10;
	double t_start = dlrt_now();
	if (!returns) {
		dlrt_error("out of memory");
		goto done;
	}
	for (int64_t e = 0; e < episodes; e++) {
		uint64_t seed = dlrt_step_key(o->seed ^ STREAM_ENV, (uint64_t)e);
		double ret;
		int64_t n;
		if (rl->rollout == DLRT_ROLLOUT_EPISODE) {
			/* the update's key is the rollout's: row t's dropout mask is step t's */
			if (r.nseg == 0) {
				uint64_t key = dlrt_step_key(o->seed, (uint64_t)r.updates);
				if (m->rng_key)
					*m->rng_key = key;
				if (r.p->rng_key)
					*r.p->rng_key = key;
			}
			n = play(&r, seed, 0, 1, e, &ret);
			if (n < 0) {
				free(returns);
				goto done;
			}
			r.seg[r.nseg++] = r.rows;
			r.rows += n;
			/* an update when the batch has its episodes (and after the last one) */
			if (r.nseg == rl->batch_episodes || e + 1 == episodes) {
				double t0 = dlrt_now();
				put_returns(&r, r.rows);
				m->train_step(r.rows, o->lr);
				note_update_time(&r, dlrt_now() - t0);
				r.rows = 0;
				r.nseg = 0;
				if (after_update(&r, e)) {
					free(returns);
					goto done;
				}
			}
		} else {
			n = replay_episode(&r, seed, e, &ret);
			if (n < 0) {
				free(returns);
				goto done;
			}
		}
		returns[e] = ret;
		running = 0.05 * ret + 0.95 * running;
		if (!solved && r.info.reward_threshold > 0 && running > r.info.reward_threshold) {
			solved = e + 1;
			if (!o->quiet)
				printf("solved at episode %lld: running reward %.2f > %g\n", (long long)solved, running,
				       r.info.reward_threshold);
		}
		double el = dlrt_now() - t_start;
		if (lg.f)
			fprintf(lg.f, "%lld,%lld,%.17g,%.17g,%.9g,%lld,%lld,%.6f\n", (long long)e + 1, (long long)n, ret,
			        running, r.last_loss, (long long)r.env_steps, (long long)r.updates, el);
		if (!o->quiet && ((e + 1) % log_every == 0 || e + 1 == episodes)) {
			printf("episode %lld  return %g  running reward %.2f  loss %.4g  %lld steps  %.0f steps/s\n",
			       (long long)e + 1, ret, running, r.last_loss, (long long)r.env_steps,
			       el > 0 ? (double)r.env_steps / el : 0);
			fflush(stdout);
		}
	}
	if (episodes > 0) {
		double el = dlrt_now() - t_start;
		int64_t k = episodes < 100 ? episodes : 100;
		double last = 0;
		for (int64_t e = episodes - k; e < episodes; e++)
			last += returns[e];
		last /= (double)k;
		double med = 0;
		if (r.nupdate_times) {
			qsort(r.update_times, (size_t)r.nupdate_times, sizeof(double), cmp_double);
			med = r.update_times[r.nupdate_times / 2];
		}
		if (solved)
			printf("solved: running reward above %g after %lld episodes\n", r.info.reward_threshold, (long long)solved);
		else if (r.info.reward_threshold > 0)
			printf("not solved: running reward %.2f after %lld episodes (threshold %g)\n", running,
			       (long long)episodes, r.info.reward_threshold);
		printf("mean return of the last %lld episodes: %.2f\n", (long long)k, last);
		printf("%lld environment steps, %lld updates in %.2f s: %.0f steps/s; policy and environment "
		       "%.2f us/step, update %.3f ms (median)\n", (long long)r.env_steps, (long long)r.updates, el,
		       el > 0 ? (double)r.env_steps / el : 0,
		       r.env_steps ? 1e6 * r.t_act / (double)r.env_steps : 0, 1e3 * med);
	}
	free(returns);
	if (lg.f) {
		if (fclose(lg.f) != 0) {
			dlrt_error("error writing the log '%s'", o->log);
			lg.f = NULL;
			goto done;
		}
		lg.f = NULL;
	}
	if (o->save && episodes > 0) {
		dlrt_ckpt_meta meta = {episodes, r.updates, o->seed};
		if (dlrt_save_checkpoint(m, o->save, &meta))
			goto done;
	}
	if (o->eval_episodes > 0 && evaluate_policy(&r, o->eval_episodes))
		goto done;
	if (o->value_iteration && compare_value_iteration(&r))
		goto done;
	rc = 0;
done:
	if (lg.f)
		fclose(lg.f);
	teardown(&r);
	return rc;
}
