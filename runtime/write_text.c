/* write_text.c - a character model writes text (the trainer's --sample with
 * --prime).  Its generator is the program compiled for batch 1 and either
 * one step (a recurrent model: its carried states hold the context, so the
 * prefix is never run again) or the whole context of T characters (a
 * transformer: it runs on the last T characters, left-aligned, and the
 * next character is drawn from the last one's prediction; past T
 * characters the window slides). */
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

/* One run of a cached generator: character id at position p. */
static void step(const dlrt_model *g, int32_t *xd, dlrt_tensor *pos, int32_t id, int64_t p)
{
	xd[0] = id;
	if (pos->dtype == DLRT_F64)
		((double *)pos->data)[0] = (double)p;
	else
		((float *)pos->data)[0] = (float)p;
	g->forward(1);
	dlrt_carry_advance(g);
}

/* A transformer's text: the window xd[0..T) holds the last (at most T)
 * characters from its start; the prediction at the last of them draws the
 * next, which goes after it, or, with the window full, at its end after
 * shifting the others one place to the left. */
static int window_text(const dlrt_model *g, int32_t *xd, int64_t T, const dlrt_tensor *probs, const dlrt_model *m,
                       const int *ids, const char *prime, size_t np, int64_t count, double temperature, int top_k,
                       dlrt_rng *rng, double *w, int *order, FILE *out)
{
	int V = m->nvocab;
	int64_t n = 0;
	memset(xd, 0, sizeof(int32_t) * (size_t)T);
	if (np) {
		for (size_t i = np > (size_t)T ? np - (size_t)T : 0; i < np; i++)
			xd[n++] = ids[(unsigned char)prime[i]];
		fwrite(prime, 1, np, out);
	} else {
		xd[n++] = ids['\n'] >= 0 ? ids['\n'] : 0;
	}
	dlrt_tensor row = *probs; /* the prediction at position n - 1 */
	for (int64_t k = 0; k < count; k++) {
		g->forward(1);
		row.data = (char *)probs->data + (size_t)((n - 1) * V) * (probs->dtype == DLRT_F64 ? 8 : 4);
		int id = draw(&row, V, temperature, top_k, rng, w, order);
		fputc(m->vocab[id], out);
		if (n == T) {
			memmove(xd, xd + 1, sizeof(int32_t) * (size_t)(T - 1));
			n--;
		}
		xd[n++] = id;
	}
	fputc('\n', out);
	return 0;
}

/* A cached generator's state: the last (at most T) characters and the
 * position of the next one in the cache. */
typedef struct Cached {
	const dlrt_model *g;
	int32_t *xd;
	dlrt_tensor *pos;
	int64_t T, n, p;
	int32_t *hist;
} Cached;

/* Character id joins the text.  When the cache is full (p reaches the
 * context T), it starts again from the last T / 2 characters, so every
 * prediction sees between T / 2 and T of them. */
static void feed(Cached *c, int32_t id)
{
	if (c->n == c->T) {
		memmove(c->hist, c->hist + 1, sizeof(int32_t) * (size_t)(c->T - 1));
		c->n--;
	}
	c->hist[c->n++] = id;
	if (c->p == c->T) {
		dlrt_carry_zero(c->g);
		c->p = 0;
		for (int64_t j = c->n - c->T / 2; j < c->n - 1; j++)
			step(c->g, c->xd, c->pos, c->hist[j], c->p++);
	}
	step(c->g, c->xd, c->pos, id, c->p++);
}

/* A cached generator's text: one character per run at position p, whose
 * keys and values join the carried ones of those before it.  It runs on
 * one thread: one token's kernels are too small to share. */
static int cached_text(const dlrt_model *g, int32_t *xd, dlrt_tensor *pos, int64_t T, const dlrt_tensor *probs,
                       const dlrt_model *m, const int *ids, const char *prime, size_t np, int64_t count,
                       double temperature, int top_k, dlrt_rng *rng, double *w, int *order, FILE *out)
{
	Cached c = {g, xd, pos, T, 0, 0, malloc(sizeof(int32_t) * (size_t)(T > 2 ? T : 2))};
	if (T < 2 || !c.hist) {
		free(c.hist);
		if (T < 2)
			dlrt_error("generator of %s: a context of %lld characters", m->name, (long long)T);
		else
			dlrt_error("out of memory");
		return 1;
	}
	int threads = dlrt_threads();
	dlrt_set_threads(1);
	dlrt_carry_zero(g);
	if (np) {
		for (size_t i = 0; i < np; i++)
			feed(&c, ids[(unsigned char)prime[i]]);
		fwrite(prime, 1, np, out);
	} else {
		feed(&c, ids['\n'] >= 0 ? ids['\n'] : 0);
	}
	for (int64_t k = 0; k < count; k++) {
		int id = draw(probs, m->nvocab, temperature, top_k, rng, w, order);
		fputc(m->vocab[id], out);
		feed(&c, id);
	}
	fputc('\n', out);
	free(c.hist);
	dlrt_set_threads(threads);
	return 0;
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
	for (int i = 0; i < g->ntensors && !x; i++) {
		const dlrt_tensor *t = &g->tensors[i];
		if (t->role == DLRT_INPUT && t->dtype == DLRT_I32 && t->rank == 2 && t->shape[0] == 1)
			x = t;
	}
	int64_t T = x ? x->numel : 1; /* the context */
	for (int i = 0; i < g->ntensors && x && !probs; i++) {
		const dlrt_tensor *t = &g->tensors[i];
		if (t->role == DLRT_OUTPUT && t->numel == T * m->nvocab && t->dtype != DLRT_I32)
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
	int32_t *xd = x->data;
	dlrt_tensor *pos = NULL;
	for (int i = 0; i < g->ntensors; i++)
		if (g->tensors[i].role == DLRT_INPUT && !strcmp(g->tensors[i].name, "kv.position"))
			pos = &g->tensors[i];
	if (pos) {
		int64_t ctx = 0;
		for (int i = 0; i < m->ntensors && !ctx; i++)
			if (m->tensors[i].role == DLRT_INPUT && m->tensors[i].dtype == DLRT_I32 && m->tensors[i].rank == 2)
				ctx = m->tensors[i].shape[1];
		int rc = cached_text(g, xd, pos, ctx, probs, m, ids, prime, np, count, temperature, top_k, &rng, w, order,
		                     out);
		free(w);
		free(order);
		return rc || fflush(out) ? 1 : 0;
	}
	if (T > 1) {
		int rc = window_text(g, xd, T, probs, m, ids, prime, np, count, temperature, top_k, &rng, w, order, out);
		free(w);
		free(order);
		return rc || fflush(out) ? 1 : 0;
	}
	/* the prime (or a newline, or the first character) sets the state */
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
