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
	}
}

void dlrt_init_tensor(const dlrt_tensor *t, uint64_t seed)
{
	size_t bytes = (size_t)t->numel * dlrt_dtype_size(t->dtype);
	if (!t->data)
		return;
	if (t->role == DLRT_PARAM || t->init == DLRT_INIT_ONES || t->init == DLRT_INIT_CONST) {
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
		} else if (t->role == DLRT_STATE && t->data) {
			memset(t->data, 0, bytes);
			if (t->init == DLRT_INIT_ONES || t->init == DLRT_INIT_CONST)
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
