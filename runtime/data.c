/* data.c - datasets: IDX, CSV and .npy loaders, and batch gathering.
 *
 * A dataset is one column per model input/label (in the order they appear
 * in the model's tensor list), each kept in the element type it has on disk
 * so that Fashion-MNIST's bytes stay bytes (u8: memory is the size of the
 * data, not four times it).  dlrt_gather_batch converts rows to the tensor's
 * dtype while copying them into the model's buffers.  A dataset for
 * prediction (dlrt_load_inputs) has columns for the inputs only; gathering
 * from it fills the labels with zeros.
 *
 * IDX files (LeCun's MNIST format) are read through zlib, which reads
 * gzipped and plain files alike: magic 00 00, a type byte, the number of
 * dimensions, big-endian u32 sizes, then big-endian data.  CSV files hold
 * one example per line; .npy files one array per input/label.
 *
 * Every check that fails names the file and the byte offset (in the
 * decompressed stream, for a .gz file) or the line (CSV), and says what was
 * expected there and what was found.  Nothing is read past what the header
 * promises, and buffers grow with the data actually present, so a corrupt
 * header cannot make the loader allocate or read beyond the file. */
#include "dlrt_internal.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* Where a column came from, for messages that point into the file. */
typedef struct colsrc {
	const char *path;
	int64_t data_off;   /* file offset of row 0 */
	int file_esize;     /* bytes per element in the file */
} colsrc;

/* The model's inputs and labels (or its inputs only) in order; -1 if there
 * are too many. */
static int data_tensors(const dlrt_model *m, const dlrt_tensor **out, int inputs_only)
{
	int n = 0;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_INPUT && (t->role != DLRT_LABEL || inputs_only))
			continue;
		if (n == DLRT_MAX_FILES) {
			dlrt_error("model %s has more than %d inputs and labels", m->name, DLRT_MAX_FILES);
			return -1;
		}
		out[n++] = t;
	}
	return n;
}

/* ---- IDX ---- */

static int load_idx(const char *path, const dlrt_tensor *t, dlrt_column *col,
                    int64_t *rows_out, colsrc *src)
{
	unsigned char h[4], dimb[4 * DLRT_MAX_RANK], *raw = NULL;
	int64_t dims[DLRT_MAX_RANK], rows, row_elems = 1, numel, nbytes, got, have = 0, cap;
	int ndim, fsize, hsize, err;
	dlrt_dtype dt;
	char extra;
	gzFile f = dlrt_gz_open(path);
	if (!f)
		return -1;
	got = dlrt_gz_read(f, h, 4, &err);
	if (got < 4) {
		dlrt_error("%s: offset %lld: expected a 4-byte IDX header, found %s", path,
		           (long long)got, err ? dlrt_gz_msg(f, path) : "end of file");
		goto fail;
	}
	if (h[0] != 0 || h[1] != 0) {
		dlrt_error("%s: offset 0: expected IDX magic 0x00 0x00, found 0x%02x 0x%02x",
		           path, h[0], h[1]);
		goto fail;
	}
	switch (h[2]) {
	case 0x08: fsize = 1, dt = DLRT_U8; break;
	case 0x09: fsize = 1, dt = DLRT_I32; break;
	case 0x0B: fsize = 2, dt = DLRT_I32; break;
	case 0x0C: fsize = 4, dt = DLRT_I32; break;
	case 0x0D: fsize = 4, dt = DLRT_F32; break;
	case 0x0E: fsize = 8, dt = DLRT_F64; break;
	default:
		dlrt_error("%s: offset 2: expected IDX type 0x08 (u8), 0x09 (i8), 0x0B (i16), 0x0C (i32), "
		           "0x0D (f32) or 0x0E (f64), found 0x%02x", path, h[2]);
		goto fail;
	}
	ndim = h[3];
	if (ndim < 1 || ndim > DLRT_MAX_RANK) {
		dlrt_error("%s: offset 3: expected 1 to %d dimensions, found %d", path, DLRT_MAX_RANK, ndim);
		goto fail;
	}
	got = dlrt_gz_read(f, dimb, 4 * ndim, &err);
	if (got != 4 * ndim) {
		dlrt_error("%s: offset %lld: expected %d dimension sizes, found %s", path,
		           (long long)(4 + got), ndim, err ? dlrt_gz_msg(f, path) : "end of file");
		goto fail;
	}
	hsize = 4 + 4 * ndim;
	for (int i = 0; i < ndim; i++) {
		dims[i] = ((int64_t)dimb[4 * i] << 24) | ((int64_t)dimb[4 * i + 1] << 16) |
		          ((int64_t)dimb[4 * i + 2] << 8) | (int64_t)dimb[4 * i + 3];
		if (i > 0 && (dlrt_mul_ok(row_elems, dims[i], &row_elems) ||
		              row_elems > ((int64_t)1 << 40))) {
			char b[160];
			dlrt_error("%s: offset %d: expected a row of at most 2^40 elements, found dims %s", path,
			           4 + 4 * i, dlrt_shape_str(b, sizeof b, i + 1, dims));
			goto fail;
		}
	}
	rows = dims[0];
	if (rows == 0) {
		dlrt_error("%s: offset 4: expected at least one row, found 0", path);
		goto fail;
	}
	if (row_elems != dlrt_row_elems(t)) {
		char a[160], b[160];
		dlrt_error("%s: offset %d: expected %lld elements per row (tensor '%s' has shape %s), "
		           "found %lld (dims %s)", path, ndim > 1 ? 8 : 4,
		           (long long)dlrt_row_elems(t), t->name, dlrt_shape_str(a, sizeof a, t->rank, t->shape),
		           (long long)row_elems, dlrt_shape_str(b, sizeof b, ndim, dims));
		goto fail;
	}
	if (dlrt_mul_ok(rows, row_elems, &numel) || dlrt_mul_ok(numel, fsize, &nbytes)) {
		dlrt_error("%s: offset 4: expected a sensible size, found dims that overflow", path);
		goto fail;
	}
	/* Grow with the data: a lying header costs no more than the file. */
	cap = nbytes < (64 << 20) ? nbytes : (64 << 20);
	raw = malloc(cap > 0 ? (size_t)cap : 1);
	while (raw && have < nbytes) {
		if (have == cap) {
			int64_t ncap = cap * 2 < nbytes ? cap * 2 : nbytes;
			unsigned char *nr = realloc(raw, (size_t)ncap);
			if (!nr) {
				free(raw);
				raw = NULL;
				break;
			}
			raw = nr, cap = ncap;
		}
		have += dlrt_gz_read(f, raw + have, cap - have, &err);
		if (have < cap || err)
			break;
	}
	if (!raw) {
		dlrt_error("%s: out of memory for %lld bytes", path, (long long)nbytes);
		goto fail;
	}
	if (have < nbytes || err) {
		if (err)
			dlrt_error("%s: offset %lld: expected %lld bytes of data (%lld rows), found %lld, then: %s",
			           path, (long long)(hsize + have), (long long)nbytes, (long long)rows,
			           (long long)have, dlrt_gz_msg(f, path));
		else
			dlrt_error("%s: offset %lld: expected %lld bytes of data (%lld rows), found %lld (truncated file)",
			           path, (long long)(hsize + have), (long long)nbytes, (long long)rows,
			           (long long)have);
		goto fail;
	}
	got = dlrt_gz_read(f, &extra, 1, &err);
	if (got != 0 || err) {
		if (err)
			dlrt_error("%s: offset %lld: expected end of file after %lld rows, found %s", path,
			           (long long)(hsize + nbytes), (long long)rows, dlrt_gz_msg(f, path));
		else
			dlrt_error("%s: offset %lld: expected end of file after %lld rows, found more data",
			           path, (long long)(hsize + nbytes), (long long)rows);
		goto fail;
	}
	/* IDX is big-endian; widen i8/i16 to i32. */
	if (fsize > 1 && dlrt_host_is_le() && h[2] != 0x0B)
		dlrt_byteswap(raw, (size_t)fsize, (size_t)numel);
	if (dt == DLRT_F32 || dt == DLRT_F64) {
		int64_t bad = dlrt_first_nonfinite(raw, dt, numel);
		if (bad >= 0) {
			dlrt_error("%s: offset %lld: expected a finite number, found %g (element %lld, row %lld)",
			           path, (long long)(hsize + bad * fsize), dlrt_get(raw, dt, bad),
			           (long long)bad, (long long)(bad / row_elems));
			goto fail;
		}
	}
	if (h[2] == 0x09 || h[2] == 0x0B) {
		int32_t *w = malloc((size_t)numel * 4);
		if (!w) {
			dlrt_error("%s: out of memory", path);
			goto fail;
		}
		for (int64_t i = 0; i < numel; i++)
			w[i] = h[2] == 0x09 ? (int32_t)(int8_t)raw[i]
			                    : (int32_t)(int16_t)(uint16_t)((raw[2 * i] << 8) | raw[2 * i + 1]);
		free(raw);
		raw = (unsigned char *)w;
	}
	gzclose(f);
	col->dtype = dt;
	col->row_elems = row_elems;
	col->data = raw;
	*rows_out = rows;
	src->data_off = hsize;
	src->file_esize = fsize;
	return 0;
fail:
	free(raw);
	gzclose(f);
	return -1;
}

/* ---- .npy ---- */

static int load_npy_col(const char *path, const dlrt_tensor *t, dlrt_column *col,
                        int64_t *rows_out, colsrc *src)
{
	int rank;
	int64_t shape[DLRT_MAX_RANK], row_elems = 1, off;
	int fsize;
	dlrt_dtype dt;
	void *data;
	if (dlrt_load_npy_at(path, &dt, &rank, shape, &data, &off, &fsize))
		return -1;
	if (rank < 1) {
		dlrt_error("%s: offset %lld: expected an array with rows (rank >= 1), found a scalar",
		           path, (long long)off);
		free(data);
		return -1;
	}
	for (int i = 1; i < rank; i++)
		row_elems *= shape[i]; /* the loader checked the product */
	if (shape[0] == 0) {
		dlrt_error("%s: offset %lld: expected at least one row, found 0", path, (long long)off);
		free(data);
		return -1;
	}
	if (row_elems != dlrt_row_elems(t)) {
		char a[160], b[160];
		dlrt_error("%s: offset %lld: expected %lld elements per row (tensor '%s' has shape %s), "
		           "found %lld (shape %s)", path, (long long)off, (long long)dlrt_row_elems(t),
		           t->name, dlrt_shape_str(a, sizeof a, t->rank, t->shape), (long long)row_elems,
		           dlrt_shape_str(b, sizeof b, rank, shape));
		free(data);
		return -1;
	}
	col->dtype = dt;
	col->row_elems = row_elems;
	col->data = data;
	*rows_out = shape[0];
	src->data_off = off;
	src->file_esize = fsize;
	return 0;
}

/* ---- labels ---- */

/* An i32 label or input must hold an integer, in [0, classes) when classes
 * are known (a label's classes, or the rows of the tables an input's ids
 * select). */
static int label_ok(const dlrt_tensor *t, double v)
{
	if (!(v == floor(v)) || v < INT32_MIN || v > INT32_MAX)
		return 0;
	return t->classes <= 0 || (v >= 0 && v < (double)t->classes) || (t->has_ignore && v == (double)t->ignore_label);
}

static void label_expect(const dlrt_tensor *t, char *buf, size_t size)
{
	if (t->classes > 0 && t->role == DLRT_INPUT)
		snprintf(buf, size, "an id in [0, %lld) for '%s'", (long long)t->classes, t->name);
	else if (t->classes > 0)
		snprintf(buf, size, "a class label in [0, %lld)%s for '%s'", (long long)t->classes,
		         t->has_ignore ? " or the ignored label" : "", t->name);
	else
		snprintf(buf, size, "an integer %s for '%s'", t->role == DLRT_INPUT ? "id" : "label", t->name);
}

static int check_labels(const dlrt_tensor *t, const dlrt_column *c, int64_t rows,
                        const colsrc *src)
{
	int64_t n = rows * c->row_elems;
	char exp[96];
	if ((t->role != DLRT_LABEL && t->role != DLRT_INPUT) || t->dtype != DLRT_I32)
		return 0;
	for (int64_t i = 0; i < n; i++) {
		double v = dlrt_get(c->data, c->dtype, i);
		if (label_ok(t, v))
			continue;
		label_expect(t, exp, sizeof exp);
		dlrt_error("%s: offset %lld: expected %s, found %.17g (row %lld)", src->path,
		           (long long)(src->data_off + i * src->file_esize), exp, v,
		           (long long)(i / c->row_elems));
		return -1;
	}
	return 0;
}

/* ---- CSV ---- */

/* One line into *buf (without the newline).  Returns its length, -1 at end
 * of file, -2 on a read error (message printed). */
static long read_line(gzFile f, const char *path, long lineno, char **buf, size_t *cap)
{
	size_t len = 0;
	for (;;) {
		int e;
		if (*cap - len < 2) {
			size_t ncap = *cap ? *cap * 2 : 4096;
			char *nb;
			if (ncap > INT_MAX) {
				dlrt_error("%s:%ld: expected a line shorter than 1 GiB", path, lineno);
				return -2;
			}
			nb = realloc(*buf, ncap);
			if (!nb) {
				dlrt_error("%s:%ld: out of memory", path, lineno);
				return -2;
			}
			*buf = nb, *cap = ncap;
		}
		if (!gzgets(f, *buf + len, (int)(*cap - len))) {
			gzerror(f, &e);
			if (e != Z_OK) {
				dlrt_error("%s:%ld: read error: %s", path, lineno, dlrt_gz_msg(f, path));
				return -2;
			}
			if (len == 0)
				return -1;
			break;
		}
		len += strlen(*buf + len);
		if (len > 0 && (*buf)[len - 1] == '\n')
			break;
	}
	while (len > 0 && ((*buf)[len - 1] == '\n' || (*buf)[len - 1] == '\r'))
		len--;
	(*buf)[len] = 0;
	return (long)len;
}

static const char *skip_sp(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* Print the field starting at p (up to a comma), shortened. */
static void field_text(const char *p, char *out, size_t size)
{
	size_t k = 0;
	while (p[k] && p[k] != ',' && k + 1 < size)
		k++;
	memcpy(out, p, k);
	out[k] = 0;
}

static int first_field_numeric(const char *line)
{
	char *end;
	const char *p = skip_sp(line);
	(void)strtod(p, &end);
	if (end == p)
		return 0;
	p = skip_sp(end);
	return *p == ',' || *p == 0;
}

static int load_csv(const char *path, const dlrt_tensor **ts, int nt, int header,
                    dlrt_dataset *out)
{
	int order[DLRT_MAX_FILES], no = 0, seen_first = 0, rc = -1;
	int64_t total = 0, rows = 0, cap_rows = 0;
	double *vals = NULL;
	char *line = NULL;
	size_t cap = 0;
	long lineno = 0, len;
	gzFile f = dlrt_gz_open(path);
	if (!f)
		return -1;
	/* Columns fill the inputs first, then the labels, each in model order. */
	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < nt; i++)
			if ((ts[i]->role == DLRT_INPUT) == (pass == 0))
				order[no++] = i;
	for (int i = 0; i < nt; i++) {
		out->cols[i].row_elems = dlrt_row_elems(ts[i]);
		out->cols[i].dtype = ts[i]->dtype == DLRT_I32 ? DLRT_I32 :
		                     ts[i]->dtype == DLRT_F64 ? DLRT_F64 : DLRT_F32;
		total += out->cols[i].row_elems;
	}
	out->ncols = nt;
	vals = malloc((size_t)total * sizeof *vals);
	if (!vals) {
		dlrt_error("%s: out of memory", path);
		goto done;
	}
	while ((len = read_line(f, path, lineno + 1, &line, &cap)) >= 0) {
		const char *p;
		int64_t ncol = 0;
		int k;
		lineno++;
		p = skip_sp(line);
		if (*p == 0)
			continue;
		if (!seen_first) {
			seen_first = 1;
			if (header || !first_field_numeric(line))
				continue;
		}
		/* Parse and count every field; store the first `total`. */
		for (;;) {
			char *end;
			double v;
			p = skip_sp(p);
			v = strtod(p, &end);
			if (end == p || !isfinite(v)) {
				char tok[40];
				field_text(p, tok, sizeof tok);
				dlrt_error("%s:%ld: column %lld: expected a %snumber, found '%s'", path, lineno,
				           (long long)ncol + 1, end == p ? "" : "finite ", tok);
				goto done;
			}
			if (ncol < total)
				vals[ncol] = v;
			ncol++;
			p = skip_sp(end);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p == 0)
				break;
			{
				char tok[40];
				field_text(p, tok, sizeof tok);
				dlrt_error("%s:%ld: column %lld: expected ',' or the end of the line, found '%s'",
				           path, lineno, (long long)ncol, tok);
			}
			goto done;
		}
		if (ncol != total) {
			dlrt_error("%s:%ld: expected %lld columns, found %lld", path, lineno,
			           (long long)total, (long long)ncol);
			goto done;
		}
		if (rows == cap_rows) {
			int64_t ncap = cap_rows ? cap_rows * 2 : 1024;
			for (int i = 0; i < nt; i++) {
				dlrt_column *c = &out->cols[i];
				void *nd = realloc(c->data, (size_t)(ncap * c->row_elems) * dlrt_dtype_size(c->dtype));
				if (!nd) {
					dlrt_error("%s:%ld: out of memory", path, lineno);
					goto done;
				}
				c->data = nd;
			}
			cap_rows = ncap;
		}
		k = 0;
		for (int oi = 0; oi < no; oi++) {
			int i = order[oi];
			dlrt_column *c = &out->cols[i];
			for (int64_t j = 0; j < c->row_elems; j++, k++) {
				double v = vals[k];
				if (c->dtype == DLRT_I32) {
					if (!label_ok(ts[i], v)) {
						char exp[96];
						label_expect(ts[i], exp, sizeof exp);
						dlrt_error("%s:%ld: column %d: expected %s, found %.17g", path, lineno,
						           k + 1, exp, v);
						goto done;
					}
				}
				dlrt_set(c->data, c->dtype, rows * c->row_elems + j, v);
			}
		}
		rows++;
	}
	if (len == -2)
		goto done;
	if (rows == 0) {
		dlrt_error("%s:%ld: expected at least one row of data, found none", path, lineno);
		goto done;
	}
	out->rows = rows;
	rc = 0;
done:
	free(vals);
	free(line);
	gzclose(f);
	return rc;
}

/* ---- the dataset ---- */

void dlrt_free_dataset(dlrt_dataset *ds)
{
	for (int i = 0; i < DLRT_MAX_FILES; i++) {
		free(ds->cols[i].data);
		ds->cols[i].data = NULL;
	}
	ds->rows = 0;
	ds->ncols = 0;
}

static int load_columns(const dlrt_model *m, const dlrt_data_spec *spec, const char *dir,
                        dlrt_dataset *out, int inputs_only)
{
	const dlrt_tensor *ts[DLRT_MAX_FILES];
	char *paths[DLRT_MAX_FILES] = {0};
	int nt, rc = -1;
	memset(out, 0, sizeof *out);
	nt = data_tensors(m, ts, inputs_only);
	if (nt < 0)
		return -1;
	if (nt == 0) {
		dlrt_error("model %s has no inputs%s to load data into", m->name,
		           inputs_only ? "" : " or labels");
		return -1;
	}
	if (spec->kind == DLRT_DATA_SPLIT || spec->kind == DLRT_DATA_GEN) {
		dlrt_error("model %s: a %s is not a set of files to load", m->name,
		           spec->kind == DLRT_DATA_SPLIT ? "split" : "generator");
		return -1;
	}
	if (spec->kind == DLRT_DATA_TEXT) {
		dlrt_error("model %s: text data comes in batches of sequences (dlrt_load_text), not rows of "
		           "files", m->name);
		return -1;
	}
	if (spec->kind == DLRT_DATA_NONE || spec->nfiles < 1) {
		dlrt_error("no data files given for model %s", m->name);
		return -1;
	}
	if (spec->nfiles > DLRT_MAX_FILES) {
		dlrt_error("expected at most %d data files, found %d", DLRT_MAX_FILES, spec->nfiles);
		return -1;
	}
	for (int i = 0; i < spec->nfiles; i++) {
		paths[i] = dlrt_join_path(dir, spec->files[i]);
		if (!paths[i]) {
			dlrt_error("out of memory");
			goto done;
		}
	}
	if (spec->kind == DLRT_DATA_CSV) {
		if (spec->nfiles != 1) {
			dlrt_error("expected one CSV file for all inputs%s, found %d files",
			           inputs_only ? "" : " and labels", spec->nfiles);
			goto done;
		}
		rc = load_csv(paths[0], ts, nt, spec->csv_header, out);
		goto done;
	}
	if (spec->nfiles != nt) {
		char names[256];
		size_t len = 0;
		names[0] = 0;
		for (int i = 0; i < nt && len < sizeof names; i++) {
			int k = snprintf(names + len, sizeof names - len, "%s%s", i ? ", " : "", ts[i]->name);
			if (k > 0)
				len += (size_t)k;
		}
		if (inputs_only)
			dlrt_error("expected %d file%s of inputs (one for each of %s; no labels), found %d",
			           nt, nt == 1 ? "" : "s", names, spec->nfiles);
		else
			dlrt_error("expected %d data files (one for each of %s), found %d", nt, names,
			           spec->nfiles);
		goto done;
	}
	for (int i = 0; i < nt; i++) {
		colsrc src = {paths[i], 0, 1};
		int64_t rows = 0;
		int r = spec->kind == DLRT_DATA_NPY ? load_npy_col(paths[i], ts[i], &out->cols[i], &rows, &src)
		                                     : load_idx(paths[i], ts[i], &out->cols[i], &rows, &src);
		if (r)
			goto done;
		out->ncols = i + 1;
		if (i == 0) {
			out->rows = rows;
		} else if (rows != out->rows) {
			dlrt_error("%s: offset 4: expected %lld rows (as in %s), found %lld", paths[i],
			           (long long)out->rows, paths[0], (long long)rows);
			goto done;
		}
		if (check_labels(ts[i], &out->cols[i], rows, &src))
			goto done;
	}
	rc = 0;
done:
	for (int i = 0; i < DLRT_MAX_FILES; i++)
		free(paths[i]);
	if (rc)
		dlrt_free_dataset(out);
	return rc;
}

int dlrt_load_dataset(const dlrt_model *m, const dlrt_data_spec *spec, const char *dir,
                      dlrt_dataset *out)
{
	return load_columns(m, spec, dir, out, 0);
}

int dlrt_load_inputs(const dlrt_model *m, const dlrt_data_spec *spec, const char *dir,
                     dlrt_dataset *out)
{
	return load_columns(m, spec, dir, out, 1);
}

/* ---- batches ---- */

static int32_t to_i32(double v)
{
	return v >= INT32_MIN && v <= INT32_MAX ? (int32_t)v : 0;
}

#define CONVERT(DT, ST, EXPR)                          \
	do {                                               \
		DT *d_ = dst;                                  \
		const ST *s_ = src;                            \
		for (int64_t i_ = 0; i_ < count; i_++) {       \
			ST x = s_[i_];                             \
			d_[i_] = (DT)(EXPR);                       \
		}                                              \
	} while (0)

static void convert(void *dst, dlrt_dtype dt, const void *src, dlrt_dtype st, int64_t count,
                    double scale)
{
	float fs = (float)scale;
	if (dt == st && scale == 1.0) {
		memcpy(dst, src, (size_t)count * dlrt_dtype_size(dt));
		return;
	}
	switch (dt) {
	case DLRT_F32:
		switch (st) {
		case DLRT_U8: CONVERT(float, uint8_t, (float)x * fs); return;
		case DLRT_I32: CONVERT(float, int32_t, (float)x * fs); return;
		case DLRT_F32: CONVERT(float, float, x * fs); return;
		case DLRT_F64: CONVERT(float, double, x * scale); return;
		}
		return;
	case DLRT_F64:
		switch (st) {
		case DLRT_U8: CONVERT(double, uint8_t, x * scale); return;
		case DLRT_I32: CONVERT(double, int32_t, x * scale); return;
		case DLRT_F32: CONVERT(double, float, x * scale); return;
		case DLRT_F64: CONVERT(double, double, x * scale); return;
		}
		return;
	case DLRT_I32:
		switch (st) {
		case DLRT_U8: CONVERT(int32_t, uint8_t, x); return;
		case DLRT_I32: CONVERT(int32_t, int32_t, x); return;
		case DLRT_F32: CONVERT(int32_t, float, to_i32(x)); return;
		case DLRT_F64: CONVERT(int32_t, double, to_i32(x)); return;
		}
		return;
	case DLRT_U8:
		switch (st) {
		case DLRT_U8: CONVERT(uint8_t, uint8_t, x); return;
		case DLRT_I32: CONVERT(uint8_t, int32_t, x >= 0 && x <= 255 ? x : 0); return;
		case DLRT_F32: CONVERT(uint8_t, float, x >= 0 && x <= 255 ? x : 0); return;
		case DLRT_F64: CONVERT(uint8_t, double, x >= 0 && x <= 255 ? x : 0); return;
		}
		return;
	}
}

void dlrt_prefetch_rows(const dlrt_dataset *ds, const int64_t *idx, int64_t n)
{
#if defined(__GNUC__) || defined(__clang__)
	for (int k = 0; k < ds->ncols; k++) {
		const dlrt_column *c = &ds->cols[k];
		size_t row = (size_t)c->row_elems * dlrt_dtype_size(c->dtype);
		if (!c->data)
			continue;
		for (int64_t r = 0; r < n; r++) {
			const char *p = (const char *)c->data + (size_t)idx[r] * row;
			for (size_t b = 0; b < row; b += 64)
				__builtin_prefetch(p + b, 0, 1);
		}
	}
#else
	(void)ds;
	(void)idx;
	(void)n;
#endif
}

void dlrt_gather_batch(const dlrt_model *m, const dlrt_dataset *ds, const int64_t *idx,
                       int64_t n)
{
	int k = 0, ninputs = 0, nlabels = 0, inputs_only;
	double in_scale = m->input_scale != 0 ? m->input_scale : 1.0;
	for (int i = 0; i < m->ntensors; i++) {
		ninputs += m->tensors[i].role == DLRT_INPUT;
		nlabels += m->tensors[i].role == DLRT_LABEL;
	}
	/* A dataset of inputs only (dlrt_load_inputs): labels become zeros. */
	inputs_only = nlabels > 0 && ds->ncols == ninputs;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		const dlrt_column *c;
		size_t dsz, ssz;
		int64_t te, e, brows;
		double scale;
		if (t->role != DLRT_INPUT && t->role != DLRT_LABEL)
			continue;
		if (t->role == DLRT_LABEL && inputs_only) {
			if (t->data)
				memset(t->data, 0, (size_t)t->numel * dlrt_dtype_size(t->dtype));
			continue;
		}
		if (k >= ds->ncols)
			break;
		c = &ds->cols[k++];
		if (!t->data || !c->data)
			continue;
		dsz = dlrt_dtype_size(t->dtype);
		ssz = dlrt_dtype_size(c->dtype);
		te = dlrt_row_elems(t);
		e = c->row_elems < te ? c->row_elems : te;
		scale = t->role == DLRT_INPUT && c->dtype == DLRT_U8 ? in_scale : 1.0;
		brows = t->batch_axis == 0 && t->rank > 0 ? t->shape[0] : 1;
		if (n < brows)
			brows = n < 0 ? 0 : n;
		if (t->batch_axis != 0)
			brows = n > 0 ? 1 : 0;
		for (int64_t r = 0; r < brows; r++) {
			char *dst = (char *)t->data + (size_t)(r * te) * dsz;
			const char *src = (const char *)c->data + (size_t)(idx[r] * c->row_elems) * ssz;
			convert(dst, t->dtype, src, c->dtype, e, scale);
			if (e < te)
				memset(dst + (size_t)e * dsz, 0, (size_t)(te - e) * dsz);
		}
		/* Rows past n are ignored by the model, but must hold finite values. */
		if (brows * te < t->numel)
			memset((char *)t->data + (size_t)(brows * te) * dsz, 0,
			       (size_t)(t->numel - brows * te) * dsz);
	}
}

/* ---- splits ---- */

int dlrt_split_dataset(dlrt_dataset *ds, double frac, uint64_t seed, uint64_t stream,
                       const char *what, dlrt_dataset *held)
{
	int64_t rows = ds->rows, h = (int64_t)floor(frac * (double)rows + 0.5), *perm = NULL;
	unsigned char *out = NULL;
	dlrt_rng r;
	int rc = -1;
	memset(held, 0, sizeof *held);
	if (!(frac > 0 && frac < 1) || h < 1 || h >= rows) {
		dlrt_error("%s = split(%g): expected a fraction that leaves at least one row on each side "
		           "of %lld rows, found %lld held out", what, frac, (long long)rows, (long long)h);
		return -1;
	}
	perm = malloc((size_t)rows * sizeof *perm);
	out = calloc((size_t)rows, 1);
	if (!perm || !out) {
		dlrt_error("out of memory");
		goto done;
	}
	for (int64_t i = 0; i < rows; i++)
		perm[i] = i;
	dlrt_rng_seed(&r, seed, stream);
	for (int64_t i = rows - 1; i > 0; i--) {
		int64_t j = i < UINT32_MAX ? (int64_t)dlrt_rng_below(&r, (uint32_t)(i + 1))
		                           : (int64_t)(((uint64_t)dlrt_rng_u32(&r) << 32 |
		                                        dlrt_rng_u32(&r)) % (uint64_t)(i + 1));
		int64_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int64_t i = 0; i < h; i++)
		out[perm[i]] = 1;
	held->ncols = ds->ncols;
	held->rows = h;
	for (int k = 0; k < ds->ncols; k++) {
		dlrt_column *c = &ds->cols[k], *hc = &held->cols[k];
		size_t row = (size_t)c->row_elems * dlrt_dtype_size(c->dtype);
		int64_t a = 0, b = 0;
		hc->dtype = c->dtype;
		hc->row_elems = c->row_elems;
		hc->data = malloc(row * (size_t)h + 1);
		if (!hc->data) {
			dlrt_error("out of memory");
			goto done;
		}
		/* Compact in place: kept rows move down, never past where they were. */
		for (int64_t i = 0; i < rows; i++) {
			const char *src = (const char *)c->data + (size_t)i * row;
			if (out[i])
				memcpy((char *)hc->data + (size_t)(a++) * row, src, row);
			else
				memmove((char *)c->data + (size_t)(b++) * row, src, row);
		}
	}
	ds->rows = rows - h;
	rc = 0;
done:
	if (rc)
		dlrt_free_dataset(held);
	free(perm);
	free(out);
	return rc;
}

/* ---- 2-D generators ----
 *
 * Each draw is n points from one generator, in that order; a point takes
 * its random numbers in the order written here.  N is a standard normal
 * (dlrt_rng_normal), U uniform in [0, 1), pi = 3.14159...
 *
 *   moons        scikit-learn's make_moons: n/2 (rounded down) points of the
 *                upper moon (cos t, sin t), t = linspace(0, pi), class 0,
 *                then the rest on the lower one (1 - cos t, 0.5 - sin t),
 *                class 1; each coordinate plus noise * N
 *   circles      make_circles: n/2 points on the unit circle at angles
 *                linspace(0, 2 pi) without the end point, class 0, the
 *                rest on the circle of radius factor, class 1; plus
 *                noise * N
 *   gaussians    the flow tutorials' mixture: component c = a uniform
 *                integer below k, the point radius (cos a, sin a) + std N
 *                with a = 2 pi c / k; class c
 *   spiral       two arms (FFJORD's 2spirals without its uniform jitter):
 *                t = sqrt(U) turns 2 pi, the point (-t cos t, t sin t) / 3
 *                for the first n/2 points (class 0), its negation for the
 *                rest (class 1); plus noise * N
 *   checkerboard FFJORD's: x1 = 4 U - 2, x2 = U - 2 b + (floor(x1) mod 2)
 *                with b a uniform integer below 2, the point 2 (x1, x2):
 *                the dark squares of a 4 x 4 board on [-4, 4]^2; no
 *                classes */

const char *dlrt_generator_name(dlrt_generator g)
{
	switch (g) {
	case DLRT_GEN_MOONS: return "moons";
	case DLRT_GEN_CIRCLES: return "circles";
	case DLRT_GEN_GAUSSIANS: return "gaussians";
	case DLRT_GEN_SPIRAL: return "spiral";
	case DLRT_GEN_CHECKERBOARD: return "checkerboard";
	case DLRT_GEN_PARENS: return "parens";
	case DLRT_GEN_HIST: return "hist";
	case DLRT_GEN_WORDS: return "reverse_words";
	}
	return "?";
}

static int64_t gen_classes(const dlrt_gen_spec *g)
{
	switch (g->kind) {
	case DLRT_GEN_MOONS:
	case DLRT_GEN_CIRCLES:
	case DLRT_GEN_SPIRAL: return 2;
	case DLRT_GEN_GAUSSIANS: return g->k;
	case DLRT_GEN_CHECKERBOARD: return 0;
	case DLRT_GEN_PARENS: return 2;
	case DLRT_GEN_HIST: return g->max_len;
	case DLRT_GEN_WORDS: return DLRT_WORDS_VOCAB;
	}
	return 0;
}

static void gen_point(const dlrt_gen_spec *g, dlrt_rng *r, int64_t i, double *x, double *y,
                      int64_t *cls)
{
	const double pi = 3.14159265358979323846;
	int64_t n = g->n, half = n / 2;
	switch (g->kind) {
	case DLRT_GEN_MOONS: {
		int64_t j = i < half ? i : i - half, m = i < half ? half : n - half;
		double t = m > 1 ? pi * (double)j / (double)(m - 1) : 0.0;
		*cls = i >= half;
		*x = i < half ? cos(t) : 1.0 - cos(t);
		*y = i < half ? sin(t) : 0.5 - sin(t);
		*x += g->noise * dlrt_rng_normal(r);
		*y += g->noise * dlrt_rng_normal(r);
		return;
	}
	case DLRT_GEN_CIRCLES: {
		int64_t j = i < half ? i : i - half, m = i < half ? half : n - half;
		double t = 2.0 * pi * (double)j / (double)m, s = i < half ? 1.0 : g->factor;
		*cls = i >= half;
		*x = s * cos(t) + g->noise * dlrt_rng_normal(r);
		*y = s * sin(t) + g->noise * dlrt_rng_normal(r);
		return;
	}
	case DLRT_GEN_GAUSSIANS: {
		int64_t c = (int64_t)dlrt_rng_below(r, (uint32_t)g->k);
		double a = 2.0 * pi * (double)c / (double)g->k;
		*cls = c;
		*x = g->radius * cos(a) + g->std * dlrt_rng_normal(r);
		*y = g->radius * sin(a) + g->std * dlrt_rng_normal(r);
		return;
	}
	case DLRT_GEN_SPIRAL: {
		double t = sqrt(dlrt_rng_uniform(r)) * g->turns * 2.0 * pi, sgn = i < half ? 1.0 : -1.0;
		*cls = i >= half;
		*x = sgn * (-t * cos(t)) / 3.0 + g->noise * dlrt_rng_normal(r);
		*y = sgn * (t * sin(t)) / 3.0 + g->noise * dlrt_rng_normal(r);
		return;
	}
	case DLRT_GEN_CHECKERBOARD: {
		double x1 = 4.0 * dlrt_rng_uniform(r) - 2.0, u = dlrt_rng_uniform(r);
		double b = (double)dlrt_rng_below(r, 2), f = floor(x1);
		*cls = 0;
		*x = 2.0 * x1;
		*y = 2.0 * (u - 2.0 * b + (f - 2.0 * floor(f / 2.0)));
		return;
	}
	case DLRT_GEN_PARENS: break;
	case DLRT_GEN_HIST: break;
	case DLRT_GEN_WORDS: break;
	}
	*x = *y = 0;
	*cls = 0;
}

int dlrt_generate(const dlrt_model *m, const dlrt_gen_spec *g, uint64_t seed, uint64_t stream,
                  dlrt_dataset *out)
{
	const dlrt_tensor *ts[DLRT_MAX_FILES];
	const char *name = dlrt_generator_name(g->kind);
	int nt = data_tensors(m, ts, 0);
	int64_t classes = gen_classes(g);
	dlrt_rng r;
	if (g->kind == DLRT_GEN_PARENS)
		return dlrt_generate_parens(m, g, seed, stream, out);
	if (g->kind == DLRT_GEN_HIST)
		return dlrt_generate_hist(m, g, seed, stream, out);
	if (g->kind == DLRT_GEN_WORDS)
		return dlrt_generate_words(m, g, seed, stream, out);
	if (nt < 0)
		return -1;
	if (g->n < 1) {
		dlrt_error("%s: expected n >= 1 points, found %lld", name, (long long)g->n);
		return -1;
	}
	if (nt < 1 || ts[0]->role != DLRT_INPUT || dlrt_row_elems(ts[0]) != 2 || nt > 2 ||
	    (nt == 2 && ts[1]->role != DLRT_LABEL)) {
		dlrt_error("%s draws 2-D points%s: expected a model with one input of 2 values per example "
		           "%s, found %d inputs and labels (the first %s with %lld values)", name,
		           classes ? " and their classes" : "",
		           classes ? "and at most one label" : "and no label", nt,
		           nt > 0 ? ts[0]->name : "-", nt > 0 ? (long long)dlrt_row_elems(ts[0]) : 0LL);
		return -1;
	}
	if (nt == 2) {
		const dlrt_tensor *lab = ts[1];
		if (!classes) {
			dlrt_error("%s draws points without classes: expected a model without a label, found "
			           "label '%s'", name, lab->name);
			return -1;
		}
		if (dlrt_row_elems(lab) != 1) {
			dlrt_error("%s: expected label '%s' to hold one class per example, found %lld values",
			           name, lab->name, (long long)dlrt_row_elems(lab));
			return -1;
		}
		if (lab->dtype == DLRT_I32 && lab->classes > 0 && lab->classes < classes) {
			dlrt_error("%s: draws %lld classes, but label '%s' has %lld", name, (long long)classes,
			           lab->name, (long long)lab->classes);
			return -1;
		}
	}
	if (out->rows != g->n || out->ncols != nt) {
		dlrt_free_dataset(out);
		out->ncols = nt;
		out->rows = g->n;
		for (int i = 0; i < nt; i++) {
			dlrt_column *c = &out->cols[i];
			c->dtype = i == 0 || ts[i]->dtype != DLRT_I32 ? DLRT_F64 : DLRT_I32;
			c->row_elems = i == 0 ? 2 : 1;
			c->data = malloc((size_t)(g->n * c->row_elems) * dlrt_dtype_size(c->dtype));
			if (!c->data) {
				dlrt_error("%s: out of memory for %lld points", name, (long long)g->n);
				dlrt_free_dataset(out);
				return -1;
			}
		}
	}
	dlrt_rng_seed(&r, seed, stream);
	for (int64_t i = 0; i < g->n; i++) {
		double x, y;
		int64_t cls;
		gen_point(g, &r, i, &x, &y, &cls);
		((double *)out->cols[0].data)[2 * i] = x;
		((double *)out->cols[0].data)[2 * i + 1] = y;
		if (nt == 2)
			dlrt_set(out->cols[1].data, out->cols[1].dtype, i, (double)cls);
	}
	return 0;
}

/* ---- standardisation ---- */

int dlrt_standardize(const dlrt_model *m, dlrt_dataset *train, dlrt_dataset *const *others, int n)
{
	const dlrt_tensor *ts[DLRT_MAX_FILES];
	int nt = data_tensors(m, ts, 0);
	dlrt_dtype ft = m->dtype == DLRT_F64 ? DLRT_F64 : DLRT_F32;
	int ninputs = 0, ki = -1;
	if (nt < 0)
		return -1;
	for (int k = 0; k < nt; k++)
		ninputs += ts[k]->role == DLRT_INPUT;
	for (int k = 0; k < nt && k < train->ncols; k++) {
		dlrt_column *c = &train->cols[k];
		int64_t e = c->row_elems;
		double *mean, *scale;
		if (ts[k]->role != DLRT_INPUT)
			continue;
		ki++;
		mean = calloc((size_t)e, sizeof *mean);
		scale = calloc((size_t)e, sizeof *scale);
		if (!mean || !scale) {
			free(mean);
			free(scale);
			dlrt_error("out of memory");
			return -1;
		}
		for (int64_t i = 0; i < train->rows; i++)
			for (int64_t j = 0; j < e; j++)
				mean[j] += dlrt_get(c->data, c->dtype, i * e + j);
		for (int64_t j = 0; j < e; j++)
			mean[j] /= (double)train->rows;
		for (int64_t i = 0; i < train->rows; i++)
			for (int64_t j = 0; j < e; j++) {
				double d = dlrt_get(c->data, c->dtype, i * e + j) - mean[j];
				scale[j] += d * d;
			}
		for (int64_t j = 0; j < e; j++) {
			scale[j] = sqrt(scale[j] / (double)train->rows);
			if (!(scale[j] > 0))
				scale[j] = 1.0;
		}
		for (int d = -1; d < n; d++) {
			dlrt_dataset *ds = d < 0 ? train : others[d];
			dlrt_column *col;
			void *nd;
			/* A dataset of inputs only (prediction) has one column per input. */
			int kk = ds && ds->ncols == ninputs && ninputs < nt ? ki : k;
			if (!ds || kk >= ds->ncols || !ds->cols[kk].data)
				continue;
			col = &ds->cols[kk];
			nd = malloc((size_t)(ds->rows * e) * dlrt_dtype_size(ft) + 1);
			if (!nd) {
				free(mean);
				free(scale);
				dlrt_error("out of memory");
				return -1;
			}
			for (int64_t i = 0; i < ds->rows; i++)
				for (int64_t j = 0; j < e; j++)
					dlrt_set(nd, ft, i * e + j,
					         (dlrt_get(col->data, col->dtype, i * e + j) - mean[j]) / scale[j]);
			free(col->data);
			col->data = nd;
			col->dtype = ft;
		}
		free(mean);
		free(scale);
	}
	return 0;
}
