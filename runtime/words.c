/* words.c - the reverse_words(...) generator: the words of a word list (one
 * a line, such as Debian's /usr/share/dict/american-english) and the same
 * letters in reverse order, for a sequence-to-sequence model
 * (docs/language.md, "Reversed words"; bench/seq2seq_data.py re-implements
 * it).
 *
 * A word is a line of the file (without its "\n" or "\r\n") made only of
 * the letters a to z, of min_len to max_len letters; other lines (capitals,
 * apostrophes, accents, longer or shorter words) are left out.  Each word
 * goes to one set by its hash alone, so the sets are disjoint and the same
 * on every run and machine: with h the 64-bit FNV-1a of the word's bytes
 * and u = (h >> 11) / 2^53 in [0, 1), the word is a test word when
 * u < test_share, a validation word when test_share <= u < test_share +
 * valid_share, and a training word otherwise.  A set is its words in the
 * file's order; with n > 0 and fewer than the set's c words, the n words
 * at positions floor(i c / n), i = 0 .. n - 1.
 *
 * Ids: 0 padding, 1 BOS, 2 EOS, 3 + (c - 'a') the letter c (29 in all).
 * Example i fills, in the model's declaration order, the input of the
 * letters (i32[n, S]: the word, then 0), their mask (f32[n, S]: 1 on the
 * letters), the decoder's input (i32[n, T]: BOS, the letters reversed,
 * then 0) and the label (i32[n, T]: the letters reversed, EOS, then 0,
 * which the loss ignores with ignore_index = 0).  The draw is the same at
 * every epoch (the trainer shuffles the order). */
#include "dlrt_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The set of the word w[0..len): 0 training, 1 test, 2 validation. */
static int word_part(const dlrt_gen_spec *g, const char *w, size_t len)
{
	uint64_t h = dlrt_fnv1a(0xcbf29ce484222325ULL, w, len);
	double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
	return u < g->test_share ? 1 : u < g->test_share + g->valid_share ? 2 : 0;
}

/* The words of the spec's part, packed in *buf as max_len + 1 bytes each
 * (NUL-terminated); returns their count, or -1 (message printed). */
static int64_t read_words(const dlrt_gen_spec *g, char **buf)
{
	FILE *f = fopen(g->file, "rb");
	char line[4096];
	int64_t n = 0, cap = 0;
	size_t stride = (size_t)g->max_len + 1;
	*buf = NULL;
	if (!f) {
		dlrt_error("reverse_words: cannot open the word list '%s': %s", g->file, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof line, f)) {
		size_t len = strcspn(line, "\r\n"), k;
		int whole = line[len] != 0 || feof(f);
		if (!whole) { /* a line longer than the buffer: no word of ours; skip its rest */
			int c;
			while ((c = fgetc(f)) != EOF && c != '\n')
				;
			continue;
		}
		for (k = 0; k < len && line[k] >= 'a' && line[k] <= 'z'; k++)
			;
		if (k < len || (int64_t)len < g->min_len || (int64_t)len > g->max_len ||
		    word_part(g, line, len) != g->part)
			continue;
		if (n == cap) {
			char *nb;
			cap = cap ? 2 * cap : 4096;
			nb = realloc(*buf, (size_t)cap * stride);
			if (!nb) {
				dlrt_error("reverse_words: out of memory reading '%s'", g->file);
				free(*buf);
				*buf = NULL;
				fclose(f);
				return -1;
			}
			*buf = nb;
		}
		memcpy(*buf + (size_t)n * stride, line, len);
		(*buf)[(size_t)n * stride + len] = 0;
		n++;
	}
	if (ferror(f)) {
		dlrt_error("reverse_words: cannot read the word list '%s': %s", g->file, strerror(errno));
		free(*buf);
		*buf = NULL;
		fclose(f);
		return -1;
	}
	fclose(f);
	if (n == 0) {
		dlrt_error("reverse_words: the word list '%s' has no %s words of %lld to %lld letters a-z",
		           g->file, g->part == 1 ? "test" : g->part == 2 ? "validation" : "training",
		           (long long)g->min_len, (long long)g->max_len);
		return -1;
	}
	return n;
}

int dlrt_generate_words(const dlrt_model *m, const dlrt_gen_spec *g, uint64_t seed, uint64_t stream,
                        dlrt_dataset *out)
{
	const dlrt_tensor *ts[4] = {NULL, NULL, NULL, NULL};
	int nin = 0, nlab = 0;
	int64_t S, T, count, rows;
	size_t stride = (size_t)g->max_len + 1;
	char *words = NULL;
	(void)seed;
	(void)stream;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role == DLRT_INPUT && nin < 3)
			ts[nin] = t;
		else if (t->role == DLRT_LABEL && nlab < 1)
			ts[3] = t;
		nin += t->role == DLRT_INPUT;
		nlab += t->role == DLRT_LABEL;
	}
	if (!g->file || g->min_len < 1 || g->max_len < g->min_len || g->max_len > 1000 || g->n < 0 ||
	    g->part < 0 || g->part > 2 || !(g->test_share >= 0 && g->valid_share >= 0 &&
	                                    g->test_share + g->valid_share < 1)) {
		dlrt_error("reverse_words: expected a word list, lengths 1 <= min_len <= max_len <= 1000, n >= 0 "
		           "and shares of held-out words that leave some for training, found min_len = %lld, "
		           "max_len = %lld, n = %lld, test_share = %g, valid_share = %g", (long long)g->min_len,
		           (long long)g->max_len, (long long)g->n, g->test_share, g->valid_share);
		return -1;
	}
	if (nin != 3 || nlab != 1 || ts[0]->dtype != DLRT_I32 || ts[0]->rank != 2 || ts[1]->dtype == DLRT_I32 ||
	    ts[1]->rank != 2 || ts[2]->dtype != DLRT_I32 || ts[2]->rank != 2 || ts[3]->dtype != DLRT_I32 ||
	    ts[3]->rank != 2 || ts[1]->shape[1] != ts[0]->shape[1] || ts[3]->shape[1] != ts[2]->shape[1]) {
		dlrt_error("reverse_words: expected a model with three inputs, the letters i32[B, S], their mask "
		           "f32[B, S] and the decoder's input i32[B, T], and one label i32[B, T]; found %d input%s "
		           "and %d label%s", nin, nin == 1 ? "" : "s", nlab, nlab == 1 ? "" : "s");
		return -1;
	}
	S = ts[0]->shape[1];
	T = ts[2]->shape[1];
	if (g->max_len > S || g->max_len + 1 > T) {
		dlrt_error("reverse_words: words of up to %lld letters need S >= %lld source positions and "
		           "T >= %lld target positions (EOS), found S = %lld, T = %lld", (long long)g->max_len,
		           (long long)g->max_len, (long long)g->max_len + 1, (long long)S, (long long)T);
		return -1;
	}
	count = read_words(g, &words);
	if (count < 0)
		return -1;
	rows = g->n > 0 && g->n < count ? g->n : count;
	if (out->rows != rows || out->ncols != 4) {
		dlrt_free_dataset(out);
		out->ncols = 4;
		out->rows = rows;
		for (int i = 0; i < 4; i++) {
			dlrt_column *c = &out->cols[i];
			c->dtype = i == 1 ? DLRT_F32 : DLRT_I32;
			c->row_elems = i < 2 ? S : T;
			c->data = calloc((size_t)(rows * c->row_elems), dlrt_dtype_size(c->dtype));
			if (!c->data) {
				dlrt_error("reverse_words: out of memory for %lld words", (long long)rows);
				dlrt_free_dataset(out);
				free(words);
				return -1;
			}
		}
	}
	for (int64_t i = 0; i < rows; i++) {
		int64_t j = i * count / rows;
		const char *w = words + (size_t)j * stride;
		int64_t len = (int64_t)strlen(w);
		int32_t *src = (int32_t *)out->cols[0].data + i * S;
		float *mask = (float *)out->cols[1].data + i * S;
		int32_t *din = (int32_t *)out->cols[2].data + i * T;
		int32_t *lab = (int32_t *)out->cols[3].data + i * T;
		memset(src, 0, (size_t)S * sizeof *src);
		memset(mask, 0, (size_t)S * sizeof *mask);
		memset(din, 0, (size_t)T * sizeof *din);
		memset(lab, 0, (size_t)T * sizeof *lab);
		din[0] = DLRT_WORDS_BOS;
		for (int64_t t = 0; t < len; t++) {
			int32_t c = 3 + (w[t] - 'a'), r = 3 + (w[len - 1 - t] - 'a');
			src[t] = c;
			mask[t] = 1.0f;
			din[t + 1] = r;
			lab[t] = r;
		}
		lab[len] = DLRT_WORDS_EOS;
	}
	free(words);
	return 0;
}
