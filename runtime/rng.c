/* rng.c - reproducible random numbers and parameter initialisation.
 *
 * The generator is PCG32 (O'Neill, pcg-random.org): 64-bit LCG state, an
 * odd increment that selects one of 2^63 streams, and a permuted 32-bit
 * output.  Uniform doubles take 53 bits from two outputs; normals use the
 * Box-Muller transform (one value per call, the sine half is dropped so the
 * generator state stays two words).
 *
 * dlrt_init_params gives every parameter its own stream, derived from the
 * seed and the parameter's position among the model's params (init_stream):
 * as in PyTorch, where modules draw their initial values in the order they
 * are built, a model starts from the same values however it is written,
 * flat or with layers, whatever its params are called. */
#include "dlrt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double two_pi = 6.283185307179586476925286766559;

void dlrt_rng_seed(dlrt_rng *r, uint64_t seed, uint64_t stream)
{
	r->state = 0;
	r->inc = (stream << 1) | 1u;
	(void)dlrt_rng_u32(r);
	r->state += seed;
	(void)dlrt_rng_u32(r);
}

uint32_t dlrt_rng_u32(dlrt_rng *r)
{
	uint64_t old = r->state;
	uint32_t xorshifted, rot;
	r->state = old * 6364136223846793005ULL + r->inc;
	xorshifted = (uint32_t)(((old >> 18) ^ old) >> 27);
	rot = (uint32_t)(old >> 59);
	return (xorshifted >> rot) | (xorshifted << ((32 - rot) & 31));
}

double dlrt_rng_uniform(dlrt_rng *r)
{
	uint64_t hi = dlrt_rng_u32(r) >> 5, lo = dlrt_rng_u32(r) >> 6;
	return (double)(hi * 67108864u + lo) * (1.0 / 9007199254740992.0);
}

double dlrt_rng_normal(dlrt_rng *r)
{
	double u1 = 1.0 - dlrt_rng_uniform(r); /* (0, 1]: log is finite */
	double u2 = dlrt_rng_uniform(r);
	return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

uint32_t dlrt_rng_below(dlrt_rng *r, uint32_t n)
{
	/* Rejection of the lowest 2^32 mod n values removes the modulo bias. */
	uint32_t threshold, x;
	if (n == 0)
		return 0;
	threshold = (uint32_t)(0u - n) % n;
	do
		x = dlrt_rng_u32(r);
	while (x < threshold);
	return x % n;
}

/* splitmix64 finaliser: spreads nearby seeds over the whole state space. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill_uniform(dlrt_rng *r, const dlrt_tensor *t, double lo, double hi)
{
	for (int64_t i = 0; i < t->numel; i++)
		dlrt_set(t->data, t->dtype, i, lo + (hi - lo) * dlrt_rng_uniform(r));
}

static void fill_normal(dlrt_rng *r, const dlrt_tensor *t, double mean, double std)
{
	for (int64_t i = 0; i < t->numel; i++)
		dlrt_set(t->data, t->dtype, i, mean + std * dlrt_rng_normal(r));
}

static void fill_const(const dlrt_tensor *t, double v)
{
	for (int64_t i = 0; i < t->numel; i++)
		dlrt_set(t->data, t->dtype, i, v);
}

/* torch.nn.init.orthogonal_: the [rows, cols] matrix (the first axis
 * against the others) of a normal matrix's QR factor Q, with the signs that
 * make R's diagonal positive, times gain.  Gram-Schmidt gives that Q
 * directly (orthogonalised twice, for columns orthonormal to rounding). */
static void fill_orthogonal(dlrt_rng *r, const dlrt_tensor *t, double gain)
{
	int64_t rows = t->rank > 0 ? t->shape[0] : 1, cols = rows ? t->numel / rows : 0;
	int tall = rows >= cols;
	int64_t m = tall ? rows : cols, k = tall ? cols : rows; /* m x k, m >= k, column-major */
	double *a = malloc(sizeof(double) * (size_t)(m * k > 0 ? m * k : 1));
	if (!a) {
		dlrt_error("out of memory initialising '%s'", t->name);
		exit(1);
	}
	/* the normal draws in the row-major order of the [rows, cols] matrix */
	for (int64_t i = 0; i < rows; i++)
		for (int64_t j = 0; j < cols; j++) {
			double v = dlrt_rng_normal(r);
			if (tall)
				a[j * m + i] = v;
			else
				a[i * m + j] = v;
		}
	for (int64_t j = 0; j < k; j++) {
		double *q = a + j * m;
		for (int pass = 0; pass < 2; pass++)
			for (int64_t p = 0; p < j; p++) {
				const double *u = a + p * m;
				double d = 0;
				for (int64_t i = 0; i < m; i++)
					d += u[i] * q[i];
				for (int64_t i = 0; i < m; i++)
					q[i] -= d * u[i];
			}
		double nrm = 0;
		for (int64_t i = 0; i < m; i++)
			nrm += q[i] * q[i];
		nrm = sqrt(nrm);
		for (int64_t i = 0; i < m; i++)
			q[i] = nrm > 0 ? q[i] / nrm : 0;
	}
	for (int64_t i = 0; i < rows; i++)
		for (int64_t j = 0; j < cols; j++)
			dlrt_set(t->data, t->dtype, i * cols + j, gain * (tall ? a[j * m + i] : a[i * m + j]));
	free(a);
}

/* N(0, std) truncated to [lo, hi] by rejection (the compiler checks that
 * the interval holds a fair share of the distribution). */
static void fill_trunc_normal(dlrt_rng *r, const dlrt_tensor *t, double std, double lo, double hi)
{
	for (int64_t i = 0; i < t->numel; i++) {
		double v;
		do
			v = std * dlrt_rng_normal(r);
		while (v < lo || v > hi);
		dlrt_set(t->data, t->dtype, i, v);
	}
}

static void init_param(const dlrt_tensor *t, uint64_t seed)
{
	uint64_t h = mix64((uint64_t)t->init_stream ^ 0x5a17ULL);
	double gain = t->init_a != 0 ? t->init_a : 1.0;
	double fi = t->fan_in > 0 ? (double)t->fan_in : 1.0;
	double fo = t->fan_out > 0 ? (double)t->fan_out : 1.0;
	dlrt_rng r;
	dlrt_rng_seed(&r, mix64(seed ^ mix64(h)), h);
	switch (t->init) {
	case DLRT_INIT_NONE:
		break;
	case DLRT_INIT_ZEROS:
		memset(t->data, 0, (size_t)t->numel * dlrt_dtype_size(t->dtype));
		break;
	case DLRT_INIT_ONES:
		fill_const(t, 1.0);
		break;
	case DLRT_INIT_CONST:
		fill_const(t, t->init_a);
		break;
	case DLRT_INIT_UNIFORM:
		fill_uniform(&r, t, t->init_a, t->init_b);
		break;
	case DLRT_INIT_NORMAL:
		fill_normal(&r, t, t->init_a, t->init_b);
		break;
	case DLRT_INIT_XAVIER_UNIFORM: {
		double a = gain * sqrt(6.0 / (fi + fo));
		fill_uniform(&r, t, -a, a);
		break;
	}
	case DLRT_INIT_XAVIER_NORMAL:
		fill_normal(&r, t, 0.0, gain * sqrt(2.0 / (fi + fo)));
		break;
	case DLRT_INIT_HE_UNIFORM: {
		double a = gain * sqrt(6.0 / fi);
		fill_uniform(&r, t, -a, a);
		break;
	}
	case DLRT_INIT_HE_NORMAL:
		fill_normal(&r, t, 0.0, gain * sqrt(2.0 / fi));
		break;
	case DLRT_INIT_ORTHOGONAL:
		fill_orthogonal(&r, t, gain);
		break;
	case DLRT_INIT_TRUNC_NORMAL:
		fill_trunc_normal(&r, t, t->init_a, t->init_b, t->init_c);
		break;
	case DLRT_INIT_DATA:
		for (int64_t i = 0; i < t->numel; i++)
			dlrt_set(t->data, t->dtype, i, t->init_data ? t->init_data[i] : 0.0);
		break;
	case DLRT_INIT_TORCH_DEFAULT: {
		double a = 1.0 / sqrt(t->init_a > 0 ? t->init_a : fi);
		fill_uniform(&r, t, -a, a);
		break;
	}
	}
}

void dlrt_init_tensor(const dlrt_tensor *t, uint64_t seed)
{
	size_t bytes = (size_t)t->numel * dlrt_dtype_size(t->dtype);
	if (!t->data)
		return;
	if (t->role == DLRT_PARAM || t->init == DLRT_INIT_ONES || t->init == DLRT_INIT_CONST ||
	    t->init == DLRT_INIT_NORMAL) {
		init_param(t, seed);
		return;
	}
	memset(t->data, 0, bytes);
}

void dlrt_init_params(const dlrt_model *m, uint64_t seed)
{
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		size_t bytes = (size_t)t->numel * dlrt_dtype_size(t->dtype);
		if (t->role == DLRT_PARAM) {
			if (t->data)
				init_param(t, seed);
			if (t->grad)
				memset(t->grad, 0, bytes);
		} else if ((t->role == DLRT_STATE || t->role == DLRT_HYPER) && t->data) {
			memset(t->data, 0, bytes);
			if (t->init == DLRT_INIT_ONES || t->init == DLRT_INIT_CONST || t->init == DLRT_INIT_NORMAL)
				init_param(t, seed);
		}
	}
}

uint64_t dlrt_step_key(uint64_t seed, uint64_t step)
{
	uint64_t z = seed * 0x9E3779B97F4A7C15ULL + step + 0x632BE59BD9B4E019ULL;
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

const char *dlrt_optimizer_name(dlrt_optimizer o)
{
	static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad", "newton", "newton_cg"};
	return (unsigned)o < sizeof names / sizeof names[0] ? names[o] : "?";
}
