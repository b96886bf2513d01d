/* parens.c - the parens(...) generator: strings of brackets to classify as
 * well-formed or not, with near-miss negatives (docs/language.md, "Bracket
 * strings", defines every draw; bench/parens_data.py re-implements it).
 *
 * Symbols: 2c is the opening bracket of kind c (0 <= c < pairs), 2c + 1
 * its closing bracket.  Example i of a draw of n takes, in this order:
 *   1. its length: min_len + 2 below((max_len - min_len) / 2 + 1);
 *   2. its shape, a uniformly random Dyck word (Arnold and Sleep): at each
 *      position t with k = len - t symbols left and height h (opened and not
 *      yet closed), u = (k - h) / 2 openings are left, and the symbol opens
 *      iff below(k (h + 1)) < u (h + 2), the exact probability that a
 *      uniform well-formed completion opens here;
 *   3. the kinds: left to right, each opening bracket below(pairs), each
 *      closing bracket its partner's;
 *   4. the last round(negatives n) examples are near misses: one corruption
 *      of the string, a = below(3):
 *        0  p = below(len), bracket p takes kind (c + 1 + below(pairs - 1))
 *           mod pairs (below(0) is 0 and draws nothing)
 *        1  p = below(len), bracket p turns round (opening <-> closing)
 *        2  p = below(len - 1), symbols p and p + 1 swap
 *      tried on the well-formed string again until the result is not
 *      well-formed;
 *    with near_miss = 0 they are random strings instead: after step 1,
 *    every symbol below(2 pairs), left to right, all of them drawn again
 *    (the length kept) until the string is not well-formed; steps 2 to 4
 *    are left out.
 * below(n) is dlrt_rng_below on one generator seeded (seed, stream) for
 * the whole draw. */
#include "dlrt_internal.h"

#include <stdlib.h>
#include <string.h>

static int well_formed(const unsigned char *s, int64_t len, unsigned char *stack)
{
	int64_t h = 0;
	for (int64_t t = 0; t < len; t++) {
		if (!(s[t] & 1))
			stack[h++] = s[t];
		else if (h == 0 || stack[--h] != (s[t] ^ 1))
			return 0;
	}
	return h == 0;
}

/* One example into s[0..len): returns len. */
static int64_t draw_string(const dlrt_gen_spec *g, dlrt_rng *r, int negative, unsigned char *s,
                           unsigned char *w, unsigned char *stack)
{
	int64_t span = (g->max_len - g->min_len) / 2 + 1;
	int64_t len = g->min_len + 2 * (int64_t)dlrt_rng_below(r, (uint32_t)span), h = 0;
	uint32_t pairs = (uint32_t)g->pairs;
	if (negative && !g->near_miss) {
		do
			for (int64_t t = 0; t < len; t++)
				s[t] = (unsigned char)dlrt_rng_below(r, 2 * pairs);
		while (well_formed(s, len, stack));
		return len;
	}
	for (int64_t t = 0; t < len; t++) {
		int64_t k = len - t, u = (k - h) / 2;
		int open = (int64_t)dlrt_rng_below(r, (uint32_t)(k * (h + 1))) < u * (h + 2);
		w[t] = open ? 0 : 1;
		h += open ? 1 : -1;
	}
	h = 0;
	for (int64_t t = 0; t < len; t++) {
		if (!w[t]) {
			s[t] = (unsigned char)(2 * dlrt_rng_below(r, pairs));
			stack[h++] = s[t];
		} else {
			s[t] = (unsigned char)(stack[--h] + 1);
		}
	}
	if (!negative)
		return len;
	do {
		uint32_t a = dlrt_rng_below(r, 3);
		int64_t p;
		memcpy(w, s, (size_t)len);
		if (a == 0) {
			uint32_t c;
			p = (int64_t)dlrt_rng_below(r, (uint32_t)len);
			c = (uint32_t)(w[p] >> 1);
			c = (c + 1 + dlrt_rng_below(r, pairs - 1)) % pairs;
			w[p] = (unsigned char)(2 * c + (w[p] & 1));
		} else if (a == 1) {
			p = (int64_t)dlrt_rng_below(r, (uint32_t)len);
			w[p] ^= 1;
		} else {
			unsigned char x;
			p = (int64_t)dlrt_rng_below(r, (uint32_t)(len - 1));
			x = w[p];
			w[p] = w[p + 1];
			w[p + 1] = x;
		}
	} while (well_formed(w, len, stack));
	memcpy(s, w, (size_t)len);
	return len;
}

int dlrt_generate_parens(const dlrt_model *m, const dlrt_gen_spec *g, uint64_t seed,
                         uint64_t stream, dlrt_dataset *out)
{
	const dlrt_tensor *x = NULL, *mask = NULL, *lab = NULL;
	int nt = 0, ninputs = 0, ix = -1, im = -1, il = -1;
	int64_t L = 0, V = 2 * g->pairs, nneg;
	unsigned char *s = NULL, *w = NULL, *stack = NULL;
	dlrt_rng r;
	for (int i = 0; i < m->ntensors && nt < DLRT_MAX_FILES; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_INPUT && t->role != DLRT_LABEL)
			continue;
		if (t->role == DLRT_INPUT) {
			ninputs++;
			if (!x)
				x = t, ix = nt;
			else if (!mask)
				mask = t, im = nt;
		} else if (!lab) {
			lab = t, il = nt;
		} else {
			lab = NULL, il = -2;
			break;
		}
		nt++;
	}
	if (g->n < 1 || g->pairs < 1 || g->pairs > 64 || g->min_len < 2 || g->min_len % 2 ||
	    g->max_len < g->min_len || g->max_len % 2 || !(g->negatives >= 0 && g->negatives <= 1)) {
		dlrt_error("parens: expected n >= 1, pairs in 1..64, even lengths 2 <= min_len <= max_len "
		           "and negatives in [0, 1], found n = %lld, pairs = %lld, lengths %lld..%lld, "
		           "negatives = %g", (long long)g->n, (long long)g->pairs, (long long)g->min_len,
		           (long long)g->max_len, g->negatives);
		return -1;
	}
	if (!x || ninputs > 2 || il == -2 || !lab || x->dtype == DLRT_I32 || x->rank != 3 ||
	    x->batch_axis != 0 || x->shape[2] != V) {
		dlrt_error("parens(pairs = %lld) draws one-hot strings of %lld symbols: expected a model with "
		           "an input f32[B, L, %lld], optionally a mask f32[B, L], and one label [B], found %s%s",
		           (long long)g->pairs, (long long)V, (long long)V, x ? "input " : "no input",
		           x ? x->name : "");
		return -1;
	}
	L = x->shape[1];
	if (mask && (mask->dtype == DLRT_I32 || dlrt_row_elems(mask) != L)) {
		dlrt_error("parens: expected the mask '%s' to hold %lld floats per example (f32[B, %lld]), "
		           "found %lld %s", mask->name, (long long)L, (long long)L,
		           (long long)dlrt_row_elems(mask), dlrt_dtype_name(mask->dtype));
		return -1;
	}
	if (dlrt_row_elems(lab) != 1) {
		dlrt_error("parens: expected label '%s' to hold one class per example, found %lld values",
		           lab->name, (long long)dlrt_row_elems(lab));
		return -1;
	}
	if (g->max_len > L) {
		dlrt_error("parens: strings of up to %lld symbols do not fit input '%s' of %lld positions",
		           (long long)g->max_len, x->name, (long long)L);
		return -1;
	}
	if (out->rows != g->n || out->ncols != nt) {
		dlrt_free_dataset(out);
		out->ncols = nt;
		out->rows = g->n;
		for (int i = 0; i < nt; i++) {
			dlrt_column *c = &out->cols[i];
			c->dtype = i == il && lab->dtype == DLRT_I32 ? DLRT_I32 : DLRT_F32;
			c->row_elems = i == ix ? L * V : i == im ? L : 1;
			c->data = malloc((size_t)(g->n * c->row_elems) * dlrt_dtype_size(c->dtype));
			if (!c->data) {
				dlrt_error("parens: out of memory for %lld strings", (long long)g->n);
				dlrt_free_dataset(out);
				return -1;
			}
		}
	}
	s = malloc((size_t)g->max_len);
	w = malloc((size_t)g->max_len);
	stack = malloc((size_t)g->max_len);
	if (!s || !w || !stack) {
		free(s);
		free(w);
		free(stack);
		dlrt_error("parens: out of memory");
		return -1;
	}
	memset(out->cols[ix].data, 0, (size_t)(g->n * L * V) * sizeof(float));
	if (im >= 0)
		memset(out->cols[im].data, 0, (size_t)(g->n * L) * sizeof(float));
	nneg = (int64_t)(g->negatives * (double)g->n + 0.5);
	dlrt_rng_seed(&r, seed, stream);
	for (int64_t i = 0; i < g->n; i++) {
		int negative = i >= g->n - nneg;
		int64_t len = draw_string(g, &r, negative, s, w, stack);
		float *xr = (float *)out->cols[ix].data + i * L * V;
		for (int64_t t = 0; t < len; t++) {
			xr[t * V + s[t]] = 1.0f;
			if (im >= 0)
				((float *)out->cols[im].data)[i * L + t] = 1.0f;
		}
		dlrt_set(out->cols[il].data, out->cols[il].dtype, i, negative ? 0.0 : 1.0);
	}
	free(s);
	free(w);
	free(stack);
	return 0;
}
