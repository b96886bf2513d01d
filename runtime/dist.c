/* dist.c - one optimizer step from the gradients of several parts of a
 * batch: data-parallel ranks (MPI, runtime/mpi/dlrt_mpi.c) and --shards P
 * in one process.
 *
 * A global batch of n rows is split into P parts, part r holding rows
 * n*r/P .. n*(r+1)/P - 1 (n_r of them).  Part r's gradient g_r is the
 * model's gradients() of its rows: the mean over them, as every loss of the
 * language averages over the batch's rows.  The step's gradient is
 *
 *     g = sum_r (n_r / n) g_r,
 *
 * the mean over all n rows, and update() applies the optimizer once, the
 * same on every rank.  The loss printed is combined the same way.
 *
 * Two ways to sum:
 *  - exact (--shards, and MPI with --exact-reduce): every part's gradient
 *    is kept (MPI: gathered to every rank), then summed in part order in
 *    double and rounded once.  P ranks and one process with --shards P do
 *    the same arithmetic on the same bits: their results are identical.
 *  - reduce (MPI by default): each rank scales its gradient by n_r / n and
 *    the transport sums them (MPI_Allreduce): one message of the gradient's
 *    size, in an order MPI chooses; the result differs from one process
 *    with batch n by rounding only.
 *
 * Random draws (dropout): part 0 draws with the step's key, part r > 0 with
 * a key of its own, so parts do not repeat each other's masks. */
#include "dlrt_internal.h"

#include <stdlib.h>
#include <string.h>

dlrt_dist *dlrt_dist_now;

uint64_t dlrt_fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t fnv_str(uint64_t h, const char *s)
{
	return dlrt_fnv1a(h, s ? s : "", s ? strlen(s) + 1 : 1);
}

uint64_t dlrt_model_hash(const dlrt_model *m)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	int64_t v[4] = {m->dtype, m->batch, m->ntensors, m->optimizer};
	h = fnv_str(h, m->name);
	h = dlrt_fnv1a(h, &m->source_hash, sizeof m->source_hash);
	h = dlrt_fnv1a(h, v, sizeof v);
	h = dlrt_fnv1a(h, &m->lr, sizeof m->lr);
	h = fnv_str(h, m->optimizer_constants);
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		int64_t d[3] = {t->role, t->dtype, t->rank};
		h = fnv_str(h, t->name);
		h = dlrt_fnv1a(h, d, sizeof d);
		h = dlrt_fnv1a(h, t->shape, sizeof t->shape[0] * (size_t)t->rank);
	}
	return h;
}

/* The params with gradients, as one vector of G elements of the model's
 * element type. */
static int64_t grad_elems(const dlrt_model *m)
{
	int64_t G = 0;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == DLRT_PARAM && m->tensors[i].grad)
			G += m->tensors[i].numel;
	return G;
}

/* copy the grads into v (to = 0) or v into the grads (to = 1) */
static void grad_copy(const dlrt_model *m, void *v, int to)
{
	size_t es = m->dtype == DLRT_F64 ? 8 : 4, off = 0;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_PARAM || !t->grad)
			continue;
		if (to)
			memcpy(t->grad, (char *)v + off, (size_t)t->numel * es);
		else
			memcpy((char *)v + off, t->grad, (size_t)t->numel * es);
		off += (size_t)t->numel * es;
	}
}

const char *dlrt_split_refusal(const dlrt_model *m)
{
	if (!m->update)
		return "its training step is not its gradients followed by an update (step clauses, Newton's "
		       "methods, and updates of state in the forward pass such as batch-norm statistics)";
	if (!m->loss_row_mean)
		return "its loss is not a mean over the batch's rows (it sums over them, or mixes them before the "
		       "loss): the parts' gradients would not add up to the batch's; write the loss as a mean "
		       "(mean(...), or the losses' default reduction)";
	if (dlrt_has_carry(m))
		return "it carries state from one batch to the next, row by row";
	if (m->rl)
		return "it trains in an environment";
	return NULL;
}

/* scratch kept from step to step */
static struct {
	void *parts;        /* exact: P * G elements */
	void *mine;         /* one part's G elements */
	double *acc;        /* exact: their sum */
	double *vals;       /* per part: loss, correct */
	int64_t G;
	int P;
} S;

static int scratch(const dlrt_model *m, int P)
{
	int64_t G = grad_elems(m);
	size_t es = m->dtype == DLRT_F64 ? 8 : 4;
	if (S.parts && S.G == G && S.P == P)
		return 0;
	free(S.parts), free(S.mine), free(S.vals), free(S.acc);
	S.parts = malloc((size_t)P * (size_t)(G + 1) * es);
	S.acc = malloc((size_t)(G + 1) * sizeof *S.acc);
	S.mine = malloc((size_t)(G + 1) * es);
	S.vals = calloc((size_t)P * 2 + 2, sizeof *S.vals);
	S.G = G, S.P = P;
	if (!S.parts || !S.mine || !S.vals || !S.acc) {
		dlrt_error("out of memory for the gradients of %d parts (%lld elements each)", P, (long long)G);
		free(S.parts), free(S.mine), free(S.vals), free(S.acc);
		memset(&S, 0, sizeof S);
		return -1;
	}
	return 0;
}

static int collective(dlrt_dist *d, int rc, double t0)
{
	d->comm_seconds += dlrt_now() - t0;
	d->comm_calls++;
	if (rc)
		dlrt_error("rank %d: a collective operation failed", d->rank);
	return rc;
}

/* part r of P of the n rows: its gradients in the grads (zeros for a part
 * without rows), its loss and correct rows in vals[0..1] */
static void part_gradients(const dlrt_model *m, const dlrt_dataset *ds, const int64_t *rows, int64_t n, int P,
                           int r, uint64_t key, int64_t (*correct)(const dlrt_model *m, int64_t n), double *vals)
{
	int64_t lo = n * r / P, nr = n * (r + 1) / P - lo;
	vals[0] = vals[1] = 0;
	if (nr == 0) {
		for (int i = 0; i < m->ntensors; i++)
			if (m->tensors[i].role == DLRT_PARAM && m->tensors[i].grad)
				memset(m->tensors[i].grad, 0, (size_t)m->tensors[i].numel * dlrt_dtype_size(m->dtype));
		return;
	}
	dlrt_gather_batch(m, ds, rows + lo, nr);
	if (m->rng_key)
		*m->rng_key = r ? dlrt_step_key(key, (uint64_t)r) : key;
	m->gradients(nr);
	vals[0] = dlrt_get(m->loss, m->dtype, 0);
	vals[1] = correct ? (double)correct(m, nr) : 0;
}

/* the weight of part r: its share of the n rows */
static double part_weight(int64_t n, int P, int r)
{
	return (double)(n * (r + 1) / P - n * r / P) / (double)n;
}

/* MPI by default: this rank's share of the mean, summed in place over the
 * ranks, one message per parameter */
static int reduce_step(dlrt_dist *d, const dlrt_model *m, double w, double *loss, double *corr)
{
	double t0;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_PARAM || !t->grad)
			continue;
		if (m->dtype == DLRT_F64)
			for (int64_t k = 0; k < t->numel; k++)
				((double *)t->grad)[k] *= w;
		else
			for (int64_t k = 0; k < t->numel; k++)
				((float *)t->grad)[k] = (float)(((float *)t->grad)[k] * w);
	}
	t0 = dlrt_now();
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role == DLRT_PARAM && t->grad && d->sum(t->grad, t->numel, m->dtype))
			return collective(d, -1, t0);
	}
	double v[2] = {*loss, *corr};
	if (collective(d, d->sum(v, 2, DLRT_F64), t0))
		return -1;
	*loss = v[0], *corr = v[1];
	return 0;
}

int dlrt_split_step(const dlrt_model *m, const dlrt_dataset *ds, const int64_t *rows, int64_t n, double lr,
                    uint64_t key, int shards, int64_t (*correct)(const dlrt_model *m, int64_t n),
                    int64_t *ncorrect)
{
	dlrt_dist *d = dlrt_dist_now;
	int P = d ? d->size : shards, first = d ? d->rank : 0, last = d ? d->rank + 1 : shards;
	size_t es = m->dtype == DLRT_F64 ? 8 : 4;
	double loss = 0, corr = 0;
	if (d && !d->exact) {
		double vals[2], w = part_weight(n, P, d->rank);
		part_gradients(m, ds, rows, n, P, d->rank, key, correct, vals);
		loss = vals[0] * w, corr = vals[1];
		if (reduce_step(d, m, w, &loss, &corr))
			return -1;
	} else {
		/* exact: every part's gradient, summed in part order in double and
		 * rounded once */
		if (scratch(m, P))
			return -1;
		int64_t G = S.G;
		double *acc = S.acc;
		for (int r = first; r < last; r++) {
			part_gradients(m, ds, rows, n, P, r, key, correct, S.vals + 2 * r);
			grad_copy(m, d ? S.mine : (char *)S.parts + (size_t)r * (size_t)G * es, 0);
		}
		if (d) {
			double t0 = dlrt_now(), mine[2] = {S.vals[2 * d->rank], S.vals[2 * d->rank + 1]};
			if (collective(d, d->gather(S.mine, S.parts, G * (int64_t)es) || d->gather(mine, S.vals, sizeof mine),
			               t0))
				return -1;
		}
		memset(acc, 0, (size_t)G * sizeof *acc);
		for (int r = 0; r < P; r++) {
			double w = part_weight(n, P, r);
			const void *g = (char *)S.parts + (size_t)r * (size_t)G * es;
			if (w == 0)
				continue;
			if (m->dtype == DLRT_F64)
				for (int64_t i = 0; i < G; i++)
					acc[i] += w * ((const double *)g)[i];
			else
				for (int64_t i = 0; i < G; i++)
					acc[i] += w * ((const float *)g)[i];
			loss += w * S.vals[2 * r];
			corr += S.vals[2 * r + 1];
		}
		if (m->dtype == DLRT_F64)
			memcpy(S.mine, acc, (size_t)G * sizeof *acc);
		else
			for (int64_t i = 0; i < G; i++)
				((float *)S.mine)[i] = (float)acc[i];
		grad_copy(m, S.mine, 1);
	}
	dlrt_set(m->loss, m->dtype, 0, loss);
	if (ncorrect)
		*ncorrect = (int64_t)corr;
	m->update(n, lr);
	return 0;
}

/* Sums of an evaluation over the ranks (each evaluated its share of the
 * batches): v[0..k) in place. */
int dlrt_dist_sum(double *v, int k)
{
	dlrt_dist *d = dlrt_dist_now;
	double t0 = dlrt_now();
	if (!d)
		return 0;
	return collective(d, d->sum(v, k, DLRT_F64), t0);
}

/* Every rank holds the same bits in its params and state (after
 * initialisation or a checkpoint): 0, or -1 with an error naming a rank. */
int dlrt_dist_check_same(const dlrt_model *m, const char *after)
{
	dlrt_dist *d = dlrt_dist_now;
	uint64_t h = 0xcbf29ce484222325ULL, *all;
	if (!d || d->size < 2)
		return 0;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role == DLRT_PARAM || t->role == DLRT_STATE)
			h = dlrt_fnv1a(h, t->data, (size_t)t->numel * dlrt_dtype_size(t->dtype));
	}
	all = malloc((size_t)d->size * sizeof *all);
	if (!all || d->gather(&h, all, sizeof h)) {
		free(all);
		dlrt_error("rank %d: cannot compare the parameters of the ranks", d->rank);
		return -1;
	}
	for (int r = 1; r < d->size; r++)
		if (all[r] != all[0]) {
			if (d->rank == 0)
				dlrt_error("rank %d holds other parameters than rank 0 after %s (a different "
				           "checkpoint file at the same path?)", r, after);
			free(all);
			return -1;
		}
	free(all);
	return 0;
}
