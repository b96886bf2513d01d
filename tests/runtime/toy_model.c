/* toy_model.c - the hand-written test model described in toy_model.h.
 *
 * Forward:   pred = x W + b                              x (B,F), W (F,K)
 *   regression:  L = 1/n sum_r sum_k (pred - y)^2 / 2    y (B,K) float
 *   classifier:  L = 1/n sum_r logsumexp(pred_r) - pred_r[y_r]   y (B) i32
 * Backward:  dpred = (pred - y)/n  or  (softmax(pred) - onehot(y))/n
 *            dW = x^T dpred,  db = sum_r dpred
 * Update:    v = 0.9 v + g,  w -= lr v  (PyTorch's SGD momentum)
 * Dropout (cfg.dropout, training mode only): x is replaced by x * mask * 2,
 * mask[r,f] in {0,1} from a hash of the random key, row and column.
 * Only the first n rows of a batch count.  Values go through double so one
 * code path serves f32 and f64. */
#include "toy_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static toy_config cfg;
static void *W, *b, *dW, *db, *vW, *vb, *x, *y, *pred, *dpred, *loss;
static dlrt_tensor tensors[7];
static dlrt_model model;
static uint64_t rng_key;
static int training;    /* the entry point running is gradients/train_step */
static int steps;       /* train_step calls since toy_reset */
static double lrs[TOY_MAX_LRS];

static double get(const void *p, int64_t i)
{
	return cfg.dtype == DLRT_F64 ? ((const double *)p)[i] : ((const float *)p)[i];
}

static void set(void *p, int64_t i, double v)
{
	if (cfg.dtype == DLRT_F64)
		((double *)p)[i] = v;
	else
		((float *)p)[i] = (float)v;
}

/* Input element (r, f) as the layer sees it: dropped out in training. */
static double xin(int64_t r, int f)
{
	uint64_t h;
	if (!cfg.dropout || !training)
		return get(x, r * cfg.features + f);
	h = rng_key ^ ((uint64_t)(r * cfg.features + f) + 1) * UINT64_C(0x9E3779B97F4A7C15);
	h ^= h >> 31;
	h *= UINT64_C(0xBF58476D1CE4E5B9);
	h ^= h >> 29;
	return h >> 63 ? 2 * get(x, r * cfg.features + f) : 0.0;
}

static void run_forward(int64_t n)
{
	int F = cfg.features, K = cfg.outputs;
	double L = 0;
	for (int64_t r = 0; r < n; r++) {
		for (int k = 0; k < K; k++) {
			double s = get(b, k);
			for (int f = 0; f < F; f++)
				s += xin(r, f) * get(W, f * K + k);
			set(pred, r * K + k, s);
		}
		if (cfg.classifier) {
			double mx = get(pred, r * K), z = 0;
			int label = ((const int32_t *)y)[r];
			for (int k = 1; k < K; k++)
				mx = fmax(mx, get(pred, r * K + k));
			for (int k = 0; k < K; k++)
				z += exp(get(pred, r * K + k) - mx);
			L += mx + log(z) - get(pred, r * K + label);
		} else {
			for (int k = 0; k < K; k++) {
				double d = get(pred, r * K + k) - get(y, r * K + k);
				L += 0.5 * d * d;
			}
		}
	}
	set(loss, 0, n > 0 ? L / (double)n : 0);
}

static void forward(int64_t n)
{
	training = 0;
	run_forward(n);
}

static void gradients(int64_t n)
{
	int F = cfg.features, K = cfg.outputs;
	training = 1;
	run_forward(n);
	for (int64_t r = 0; r < n; r++) {
		if (cfg.classifier) {
			double mx = get(pred, r * K), z = 0;
			int label = ((const int32_t *)y)[r];
			for (int k = 1; k < K; k++)
				mx = fmax(mx, get(pred, r * K + k));
			for (int k = 0; k < K; k++)
				z += exp(get(pred, r * K + k) - mx);
			for (int k = 0; k < K; k++)
				set(dpred, r * K + k,
				    (exp(get(pred, r * K + k) - mx) / z - (k == label)) / (double)n);
		} else {
			for (int k = 0; k < K; k++)
				set(dpred, r * K + k, (get(pred, r * K + k) - get(y, r * K + k)) / (double)n);
		}
	}
	for (int f = 0; f < F; f++)
		for (int k = 0; k < K; k++) {
			double s = 0;
			for (int64_t r = 0; r < n; r++)
				s += xin(r, f) * get(dpred, r * K + k);
			set(dW, f * K + k, s);
		}
	for (int k = 0; k < K; k++) {
		double s = 0;
		for (int64_t r = 0; r < n; r++)
			s += get(dpred, r * K + k);
		set(db, k, s);
	}
	if (cfg.broken_grad)
		for (int i = 0; i < F * K; i++)
			set(dW, i, 1.5 * get(dW, i) + 1e-3);
}

static void update(void *w, void *g, void *v, int64_t count, double lr)
{
	for (int64_t i = 0; i < count; i++) {
		double vi = (cfg.no_state ? 0 : 0.9 * get(v, i)) + get(g, i);
		if (!cfg.no_state)
			set(v, i, vi);
		set(w, i, get(w, i) - lr * vi);
	}
}

static void train_step(int64_t n, double lr)
{
	gradients(n);
	update(W, dW, vW, (int64_t)cfg.features * cfg.outputs, lr);
	update(b, db, vb, cfg.outputs, lr);
	if (steps < TOY_MAX_LRS)
		lrs[steps] = lr;
	if (++steps == cfg.poison_step) {
		int w = cfg.poison_what, i = cfg.poison_index;
		double v = cfg.poison_value;
		if (w & TOY_POISON_LOSS)
			set(loss, 0, v);
		if (w & TOY_POISON_PRED)
			set(pred, i, v);
		if (w & TOY_POISON_DW)
			set(dW, i, v);
		if (w & TOY_POISON_W)
			set(W, i, v);
		if (w & TOY_POISON_VW)
			set(vW, i, v);
	}
}

void toy_reset(void)
{
	steps = 0;
}

const double *toy_lrs(int *n)
{
	*n = steps;
	return lrs;
}

void toy_free(void)
{
	void **bufs[] = {&W, &b, &dW, &db, &vW, &vb, &x, &y, &pred, &dpred, &loss};
	for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
		free(*bufs[i]);
		*bufs[i] = NULL;
	}
}

static void tensor(int i, const char *name, dlrt_role role, dlrt_dtype dt, int rank,
                   int64_t d0, int64_t d1, void *data, void *grad, int batch_axis)
{
	dlrt_tensor *t = &tensors[i];
	memset(t, 0, sizeof *t);
	t->name = name;
	t->role = role;
	t->dtype = dt;
	t->rank = rank;
	t->shape[0] = d0;
	t->shape[1] = d1;
	t->numel = rank == 1 ? d0 : d0 * d1;
	t->data = data;
	t->grad = grad;
	t->batch_axis = batch_axis;
}

const dlrt_model *toy_build(const toy_config *c)
{
	int64_t F = c->features, K = c->outputs, B = c->batch;
	size_t es;
	toy_free();
	cfg = *c;
	steps = 0;
	rng_key = 0;
	es = dlrt_dtype_size(c->dtype);
	W = calloc((size_t)(F * K), es);
	dW = calloc((size_t)(F * K), es);
	vW = calloc((size_t)(F * K), es);
	b = calloc((size_t)K, es);
	db = calloc((size_t)K, es);
	vb = calloc((size_t)K, es);
	x = calloc((size_t)(B * F), es);
	y = c->classifier ? calloc((size_t)B, 4) : calloc((size_t)(B * K), es);
	pred = calloc((size_t)(B * K), es);
	dpred = calloc((size_t)(B * K), es);
	loss = calloc(1, es);

	tensor(0, "W", DLRT_PARAM, c->dtype, 2, F, K, W, dW, -1);
	tensors[0].init = DLRT_INIT_HE_UNIFORM;
	tensors[0].fan_in = F;
	tensors[0].fan_out = K;
	tensor(1, "b", DLRT_PARAM, c->dtype, 1, K, 0, b, db, -1);
	tensors[1].init = DLRT_INIT_ZEROS;
	tensor(2, "x", DLRT_INPUT, c->dtype, 2, B, F, x, NULL, 0);
	if (c->classifier) {
		tensor(3, "y", DLRT_LABEL, DLRT_I32, 1, B, 0, y, NULL, 0);
		tensors[3].classes = K;
	} else {
		tensor(3, "y", DLRT_LABEL, c->dtype, 2, B, K, y, NULL, 0);
	}
	tensor(4, "pred", DLRT_OUTPUT, c->dtype, 2, B, K, pred, NULL, 0);
	tensor(5, "v_W", DLRT_STATE, c->dtype, 2, F, K, vW, NULL, -1);
	tensor(6, "v_b", DLRT_STATE, c->dtype, 1, K, 0, vb, NULL, -1);

	memset(&model, 0, sizeof model);
	model.name = c->classifier ? "toy_classifier" : "toy_linear";
	model.source = "tests/runtime/toy_model.c";
	model.dtype = c->dtype;
	model.batch = B;
	model.ntensors = c->no_state ? 5 : 7;
	model.tensors = tensors;
	model.loss = loss;
	model.forward = forward;
	model.gradients = gradients;
	model.train_step = train_step;
	model.accuracy_output = c->classifier ? 4 : -1;
	model.accuracy_label = c->classifier ? 3 : -1;
	model.optimizer = DLRT_OPT_SGD;
	model.lr = 0.1;
	model.optimizer_constants = "momentum 0.9";
	model.epochs = 1;
	model.input_scale = c->input_scale;
	model.rng_key = c->dropout ? &rng_key : NULL;
	return &model;
}
