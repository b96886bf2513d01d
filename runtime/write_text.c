/* write_text.c - a character model writes text (the trainer's --sample with
 * --prime): its generator, the program compiled for batch 1 and one step,
 * runs one character at a time; its carried states hold the context, so
 * the prefix is never run again. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "dlrt_internal.h"

static size_t bytes_of(const dlrt_tensor *t)
{
	return (size_t)t->numel * (t->dtype == DLRT_F64 ? 8 : 4);
}

static const dlrt_tensor *find(const dlrt_model *m, const char *name, dlrt_role role)
{
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == role && !strcmp(m->tensors[i].name, name))
			return &m->tensors[i];
	return NULL;
}

static double value_at(const dlrt_tensor *t, int64_t i)
{
	return t->dtype == DLRT_F64 ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
}

/* The id of the next character: drawn from p^(1/temperature), renormalised,
 * among the top_k most likely (0: all). */
static int draw(const dlrt_tensor *probs, int V, double temperature, int top_k, dlrt_rng *rng, double *w, int *order)
{
	for (int i = 0; i < V; i++) {
		double p = value_at(probs, i);
		w[i] = p > 0 ? exp(log(p) / temperature) : 0;
		order[i] = i;
	}
	int keep = top_k > 0 && top_k < V ? top_k : V;
	if (keep < V) /* a partial selection sort: the keep largest first */
		for (int i = 0; i < keep; i++) {
			int best = i;
			for (int j = i + 1; j < V; j++)
				if (w[order[j]] > w[order[best]])
					best = j;
			int t = order[i];
			order[i] = order[best];
			order[best] = t;
		}
	double total = 0;
	for (int i = 0; i < keep; i++)
		total += w[order[i]];
	if (!(total > 0) || !isfinite(total))
		return order[0];
	double u = dlrt_rng_uniform(rng) * total, acc = 0;
	for (int i = 0; i < keep; i++) {
		acc += w[order[i]];
		if (u < acc)
			return order[i];
	}
	return order[keep - 1];
}

int dlrt_write_text(const dlrt_model *m, int64_t count, const char *prime, double temperature, int top_k,
                  uint64_t seed, FILE *out)
{
	const dlrt_model *g = m->generator;
	if (!m->nvocab || !g) {
		dlrt_error("model %s writes no text: a generator is compiled for character models (`dim V = "
		           "vocab(...)` and an i32 input [B, T] of named dims)", m->name);
		return 1;
	}
	/* the trained params, by name */
	for (int i = 0; i < g->ntensors; i++) {
		dlrt_tensor *t = &g->tensors[i];
		if (t->role != DLRT_PARAM)
			continue;
		const dlrt_tensor *s = find(m, t->name, DLRT_PARAM);
		if (!s || s->numel != t->numel || s->dtype != t->dtype) {
			dlrt_error("generator of %s: param '%s' differs from the model's", m->name, t->name);
			return 1;
		}
		memcpy(t->data, s->data, bytes_of(t));
	}
	dlrt_carry_zero(g);
	const dlrt_tensor *x = NULL, *probs = NULL;
	for (int i = 0; i < g->ntensors; i++) {
		const dlrt_tensor *t = &g->tensors[i];
		if (!x && t->role == DLRT_INPUT && t->dtype == DLRT_I32 && t->numel == 1)
			x = t;
		if (!probs && t->role == DLRT_OUTPUT && i < g->ntensors && t->numel == m->nvocab && t->dtype != DLRT_I32)
			probs = t;
	}
	if (!x || !probs) {
		dlrt_error("model %s writes no text: it needs an i32 input of characters and an output of the next "
		           "character's probabilities over the %d of its vocabulary (`output probs = softmax(logits)`)",
		           m->name, m->nvocab);
		return 1;
	}
	int V = m->nvocab, ids[256];
	for (int i = 0; i < 256; i++)
		ids[i] = -1;
	for (int i = 0; i < V; i++)
		ids[m->vocab[i]] = i;
	size_t np = prime ? strlen(prime) : 0;
	for (size_t i = 0; i < np; i++)
		if (ids[(unsigned char)prime[i]] < 0) {
			unsigned char c = (unsigned char)prime[i];
			char shown[8] = "";
			if (c >= 32 && c < 127)
				snprintf(shown, sizeof shown, " '%c'", c);
			dlrt_error("--prime: character %zu (byte 0x%02x%s) is not in the vocabulary of %s (%d characters "
			           "of its corpus)", i + 1, c, shown, m->name, V);
			return 1;
		}
	double *w = malloc(sizeof(double) * (size_t)V);
	int *order = malloc(sizeof(int) * (size_t)V);
	if (!w || !order) {
		free(w);
		free(order);
		dlrt_error("out of memory");
		return 1;
	}
	dlrt_rng rng;
	dlrt_rng_seed(&rng, seed, 0x54455854); /* "TEXT" */
	/* the prime (or a newline, or the first character) sets the state */
	int32_t *xd = x->data;
	if (np) {
		for (size_t i = 0; i < np; i++) {
			xd[0] = ids[(unsigned char)prime[i]];
			g->forward(1);
			dlrt_carry_advance(g);
		}
		fwrite(prime, 1, np, out);
	} else {
		xd[0] = ids['\n'] >= 0 ? ids['\n'] : 0;
		g->forward(1);
		dlrt_carry_advance(g);
	}
	for (int64_t k = 0; k < count; k++) {
		int id = draw(probs, V, temperature, top_k, &rng, w, order);
		fputc(m->vocab[id], out);
		xd[0] = id;
		g->forward(1);
		dlrt_carry_advance(g);
	}
	fputc('\n', out);
	free(w);
	free(order);
	return fflush(out) ? 1 : 0;
}
