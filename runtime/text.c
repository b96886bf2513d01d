/* text.c - character-level text: the corpus of a glob, its vocabulary, and
 * batches of next-character prediction.
 *
 * A corpus is the files a glob matches, sorted by name (byte order), read
 * whole and concatenated.  Files holding a NUL byte are binary (fortune's
 * .dat index files) and skipped, and so is a file that is the same file
 * (device and inode) as one already read (fortune's .u8 symlinks);
 * directories and other non-regular files are skipped too.  The compiler
 * reads the same corpus for `dim V = vocab("glob")` (the sorted set of
 * distinct bytes), the trainer for `data = text("glob", seq = T)`.
 *
 * Batches follow PyTorch's word_language_model `batchify`: the ids are cut
 * into B tracks of L = len / B ids (the last len mod B ids dropped), track b
 * = ids[b L, (b + 1) L); batch k < nb = (L - 1) / T holds, for row b, the
 * inputs track_b[k T, k T + T) and the labels track_b[k T + 1, k T + T + 1).
 * The dataset's row k B + b is that row, so an epoch in row order is the nb
 * batches in order and row b of one batch continues row b of the previous
 * one. */
#include "dlrt_internal.h"

#include <errno.h>
#include <glob.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void err_set(char *err, size_t size, const char *fmt, ...) DLRT_PRINTF(3, 4);
static void err_set(char *err, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, size, fmt, ap);
	va_end(ap);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void dlrt_free_corpus(dlrt_corpus *c)
{
	for (int i = 0; i < c->nfiles; i++)
		free(c->files[i]);
	free(c->files);
	free(c->starts);
	free(c->bytes);
	memset(c, 0, sizeof *c);
}

/* Append one file to the corpus unless it is binary: 1 added, 0 skipped,
 * -1 error. */
static int add_file(dlrt_corpus *c, const char *path, int64_t size, char *err, size_t errsize)
{
	FILE *f = fopen(path, "rb");
	unsigned char *nb;
	size_t got;
	if (!f) {
		err_set(err, errsize, "%s: %s", path, strerror(errno));
		return -1;
	}
	nb = realloc(c->bytes, (size_t)(c->len + size + 1));
	if (!nb) {
		fclose(f);
		err_set(err, errsize, "%s: out of memory for %lld bytes", path, (long long)(c->len + size));
		return -1;
	}
	c->bytes = nb;
	got = fread(c->bytes + c->len, 1, (size_t)size, f);
	if (ferror(f) || (int64_t)got != size) {
		err_set(err, errsize, "%s: read error after %lld of %lld bytes", path, (long long)got,
		        (long long)size);
		fclose(f);
		return -1;
	}
	fclose(f);
	if (memchr(c->bytes + c->len, 0, (size_t)size))
		return 0;
	{
		char **nf = realloc(c->files, (size_t)(c->nfiles + 1) * sizeof *nf);
		int64_t *ns;
		if (!nf) {
			err_set(err, errsize, "out of memory");
			return -1;
		}
		c->files = nf;
		ns = realloc(c->starts, (size_t)(c->nfiles + 1) * sizeof *ns);
		if (!ns) {
			err_set(err, errsize, "out of memory");
			return -1;
		}
		c->starts = ns;
		c->files[c->nfiles] = strdup(path);
		if (!c->files[c->nfiles]) {
			err_set(err, errsize, "out of memory");
			return -1;
		}
		c->starts[c->nfiles++] = c->len;
	}
	c->len += size;
	return 1;
}

int dlrt_read_corpus(const char *pattern, dlrt_corpus *c, char *err, size_t errsize)
{
	glob_t g;
	char **names = NULL;
	dev_t *devs = NULL;
	ino_t *inos = NULL;
	size_t nseen = 0;
	int rc = -1, gr;
	memset(c, 0, sizeof *c);
	memset(&g, 0, sizeof g);
	gr = glob(pattern, GLOB_NOSORT, NULL, &g);
	if (gr == GLOB_NOMATCH || (gr == 0 && g.gl_pathc == 0)) {
		err_set(err, errsize, "no file matches '%s'", pattern);
		globfree(&g);
		return -1;
	}
	if (gr != 0) {
		err_set(err, errsize, "cannot list the files of '%s'%s", pattern,
		        gr == GLOB_NOSPACE ? ": out of memory" : "");
		globfree(&g);
		return -1;
	}
	names = malloc(g.gl_pathc * sizeof *names);
	devs = malloc(g.gl_pathc * sizeof *devs);
	inos = malloc(g.gl_pathc * sizeof *inos);
	if (!names || !devs || !inos) {
		err_set(err, errsize, "out of memory");
		goto done;
	}
	memcpy(names, g.gl_pathv, g.gl_pathc * sizeof *names);
	qsort(names, g.gl_pathc, sizeof *names, cmp_str);
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		int dup = 0;
		if (stat(names[i], &st) != 0) {
			err_set(err, errsize, "%s: %s", names[i], strerror(errno));
			goto done;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		for (size_t k = 0; k < nseen; k++)
			dup |= devs[k] == st.st_dev && inos[k] == st.st_ino;
		if (dup)
			continue;
		devs[nseen] = st.st_dev;
		inos[nseen++] = st.st_ino;
		if (add_file(c, names[i], (int64_t)st.st_size, err, errsize) < 0)
			goto done;
	}
	rc = 0;
done:
	free(names);
	free(devs);
	free(inos);
	globfree(&g);
	if (rc)
		dlrt_free_corpus(c);
	return rc;
}

int dlrt_corpus_vocab(const dlrt_corpus *c, unsigned char vocab[256])
{
	unsigned char seen[256] = {0};
	int n = 0;
	for (int64_t i = 0; i < c->len; i++)
		seen[c->bytes[i]] = 1;
	for (int b = 0; b < 256; b++)
		if (seen[b])
			vocab[n++] = (unsigned char)b;
	return n;
}

/* ---- the trainer's text data ---- */

/* The file of corpus offset i and the offset inside it. */
static const char *where(const dlrt_corpus *c, int64_t i, int64_t *off)
{
	int k = 0;
	while (k + 1 < c->nfiles && c->starts[k + 1] <= i)
		k++;
	*off = i - c->starts[k];
	return c->files[k];
}

/* len ids as the rows of ds, batchified; `what` names the part in messages. */
static int batchify(const dlrt_model *m, const unsigned char *ids, int64_t len, int64_t T,
                    const char *what, const char *pattern, dlrt_dataset *ds)
{
	int64_t B = m->batch, L = len / B, nb = L >= 1 ? (L - 1) / T : 0;
	unsigned char *x, *y;
	memset(ds, 0, sizeof *ds);
	if (nb < 1) {
		dlrt_error("%s: the %s text holds %lld characters, shorter than one batch of %lld "
		           "sequences of %lld (it needs %lld = batch x (seq + 1))", pattern, what,
		           (long long)len, (long long)B, (long long)T, (long long)(B * (T + 1)));
		return -1;
	}
	x = malloc((size_t)(nb * B * T));
	y = malloc((size_t)(nb * B * T));
	if (!x || !y) {
		free(x);
		free(y);
		dlrt_error("out of memory for %lld sequences of %lld characters", (long long)(nb * B),
		           (long long)T);
		return -1;
	}
	for (int64_t k = 0; k < nb; k++)
		for (int64_t b = 0; b < B; b++) {
			const unsigned char *track = ids + b * L + k * T;
			memcpy(x + (k * B + b) * T, track, (size_t)T);
			memcpy(y + (k * B + b) * T, track + 1, (size_t)T);
		}
	ds->rows = nb * B;
	ds->ncols = 2;
	ds->cols[0] = (dlrt_column){DLRT_U8, T, x};
	ds->cols[1] = (dlrt_column){DLRT_U8, T, y};
	return 0;
}

int dlrt_text_model(const dlrt_model *m)
{
	return m->train_data.kind == DLRT_DATA_TEXT;
}

int dlrt_load_text(const dlrt_model *m, const dlrt_data_spec *spec, double test_frac,
                   double valid_frac, dlrt_dataset *train, dlrt_dataset *test, dlrt_dataset *valid)
{
	dlrt_corpus c;
	char err[1024];
	int16_t id[256];
	int64_t ntest, nvalid, ntrain;
	int nin = 0, nlab = 0, rc = -1;
	const char *pattern = spec->files[0];
	memset(train, 0, sizeof *train);
	if (test)
		memset(test, 0, sizeof *test);
	if (valid)
		memset(valid, 0, sizeof *valid);
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_INPUT && t->role != DLRT_LABEL)
			continue;
		if (t->role == DLRT_INPUT)
			nin++;
		else
			nlab++;
		if (t->dtype != DLRT_I32 || t->rank != 2 || t->batch_axis != 0 || t->shape[1] != spec->seq) {
			dlrt_error("model %s: text data fills an i32 input and label of shape [batch, %lld]; "
			           "'%s' is not one", m->name, (long long)spec->seq, t->name);
			return -1;
		}
	}
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if ((t->role == DLRT_INPUT || t->role == DLRT_LABEL) && t->classes > 0 && t->classes < m->nvocab) {
			dlrt_error("model %s: '%s' holds ids in [0, %lld), fewer than the %d characters of its "
			           "vocabulary", m->name, t->name, (long long)t->classes, m->nvocab);
			return -1;
		}
	}
	if (nin != 1 || nlab != 1 || m->nvocab < 1 || spec->seq < 1) {
		dlrt_error("model %s: text data needs one input, one label and the vocabulary of "
		           "`dim V = vocab(...)`", m->name);
		return -1;
	}
	if (dlrt_read_corpus(pattern, &c, err, sizeof err)) {
		dlrt_error("%s", err);
		return -1;
	}
	if (c.len == 0) {
		dlrt_error("%s: the corpus is empty (%s)", pattern,
		           c.nfiles ? "its files are empty" : "no text file among the files it matches");
		goto done;
	}
	for (int b = 0; b < 256; b++)
		id[b] = -1;
	for (int k = 0; k < m->nvocab; k++)
		id[m->vocab[k]] = (int16_t)k;
	for (int64_t i = 0; i < c.len; i++) {
		int16_t v = id[c.bytes[i]];
		if (v < 0) {
			int64_t off;
			const char *file = where(&c, i, &off);
			unsigned char ch = c.bytes[i];
			dlrt_error("%s: offset %lld: byte 0x%02x%s%c%s is not in the model's vocabulary (%d bytes)",
			           file, (long long)off, ch, ch >= 0x20 && ch < 0x7f ? " ('" : "",
			           ch >= 0x20 && ch < 0x7f ? ch : ' ', ch >= 0x20 && ch < 0x7f ? "')" : "",
			           m->nvocab);
			goto done;
		}
		c.bytes[i] = (unsigned char)v;
	}
	/* The held-out parts are the end of the corpus: test last, valid before it. */
	ntest = test ? (int64_t)floor(test_frac * (double)c.len + 0.5) : 0;
	nvalid = valid ? (int64_t)floor(valid_frac * (double)c.len + 0.5) : 0;
	ntrain = c.len - ntest - nvalid;
	if (batchify(m, c.bytes, ntrain, spec->seq, "training", pattern, train))
		goto done;
	if (valid && batchify(m, c.bytes + ntrain, nvalid, spec->seq, "validation", pattern, valid))
		goto done;
	if (test && batchify(m, c.bytes + ntrain + nvalid, ntest, spec->seq, "test", pattern, test))
		goto done;
	rc = 0;
done:
	dlrt_free_corpus(&c);
	if (rc) {
		dlrt_free_dataset(train);
		if (test)
			dlrt_free_dataset(test);
		if (valid)
			dlrt_free_dataset(valid);
	}
	return rc;
}
