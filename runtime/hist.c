/* hist.c - the hist(...) generator: sequences of tokens, each position
 * labelled with how many times its token occurs in the whole sequence (the
 * histogram task of the transformer chapter; docs/language.md, "Token
 * histograms", defines the draw; bench/hist_data.py re-implements it).
 *
 * Sequence i of a draw of n: its tokens left to right, each below(vocab);
 * then the label of position t is the number of positions s (t included)
 * whose token equals token t, 1..len.  below(n) is dlrt_rng_below on one
 * generator seeded (seed, stream) for the whole draw. */
#include "dlrt_internal.h"

#include <stdlib.h>
#include <string.h>

int dlrt_generate_hist(const dlrt_model *m, const dlrt_gen_spec *g, uint64_t seed, uint64_t stream,
                       dlrt_dataset *out)
{
	const dlrt_tensor *x = NULL, *lab = NULL;
	int nt = 0, ninputs = 0, nlabels = 0, ix = -1, il = -1;
	int64_t L = g->max_len, V = g->vocab, *count = NULL;
	dlrt_rng r;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_INPUT && t->role != DLRT_LABEL)
			continue;
		if (t->role == DLRT_INPUT && ninputs++ == 0)
			x = t, ix = nt;
		else if (t->role == DLRT_LABEL && nlabels++ == 0)
			lab = t, il = nt;
		nt++;
	}
	if (g->n < 1 || V < 1 || V > 1000000 || L < 1 || L > 100000) {
		dlrt_error("hist: expected n >= 1, vocab in 1..1000000 and len in 1..100000, found n = %lld, "
		           "vocab = %lld, len = %lld", (long long)g->n, (long long)V, (long long)L);
		return -1;
	}
	if (ninputs != 1 || nlabels != 1 || x->dtype != DLRT_I32 || x->rank != 2 || x->batch_axis != 0 ||
	    x->shape[1] != L || lab->rank != 2 || lab->batch_axis != 0 || lab->shape[1] != L) {
		dlrt_error("hist(len = %lld) draws sequences of %lld tokens: expected a model with one input "
		           "i32[B, %lld] and one label [B, %lld], found %d input%s and %d label%s", (long long)L,
		           (long long)L, (long long)L, (long long)L, ninputs, ninputs == 1 ? "" : "s", nlabels,
		           nlabels == 1 ? "" : "s");
		return -1;
	}
	if (out->rows != g->n || out->ncols != nt) {
		dlrt_free_dataset(out);
		out->ncols = nt;
		out->rows = g->n;
		for (int i = 0; i < nt; i++) {
			dlrt_column *c = &out->cols[i];
			c->dtype = i == ix || lab->dtype == DLRT_I32 ? DLRT_I32 : DLRT_F32;
			c->row_elems = L;
			c->data = malloc((size_t)(g->n * L) * dlrt_dtype_size(c->dtype));
			if (!c->data) {
				dlrt_error("hist: out of memory for %lld sequences", (long long)g->n);
				dlrt_free_dataset(out);
				return -1;
			}
		}
	}
	count = calloc((size_t)V, sizeof *count);
	if (!count) {
		dlrt_error("hist: out of memory");
		return -1;
	}
	dlrt_rng_seed(&r, seed, stream);
	for (int64_t i = 0; i < g->n; i++) {
		int32_t *xr = (int32_t *)out->cols[ix].data + i * L;
		for (int64_t t = 0; t < L; t++) {
			xr[t] = (int32_t)dlrt_rng_below(&r, (uint32_t)V);
			count[xr[t]]++;
		}
		for (int64_t t = 0; t < L; t++)
			dlrt_set(out->cols[il].data, out->cols[il].dtype, i * L + t, (double)count[xr[t]]);
		for (int64_t t = 0; t < L; t++)
			count[xr[t]] = 0;
	}
	free(count);
	return 0;
}
