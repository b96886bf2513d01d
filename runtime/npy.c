/* npy.c - NumPy .npy files.
 *
 * Format (numpy.lib.format): the magic "\x93NUMPY", a major and minor
 * version byte, the header length (2 bytes little-endian in version 1, 4 in
 * versions 2 and 3), then a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (60000, 784), }
 * padded with spaces and a newline, then the raw C-order data.  The reader
 * accepts |u1 <i4 <i8 <f4 <f8 (plus |i1, widened), C order only; i64 is
 * narrowed to i32 and must fit.  Reads go through zlib so a gzipped .npy
 * works too.  Every malformed input yields a message with the byte offset. */
#include "dlrt_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NPY_MAX_HEADER (1 << 20)

/* A tiny cursor over the header text; errors report file offsets. */
typedef struct hdr {
	const char *path;
	const char *s;
	size_t n, i;
	int64_t base;    /* file offset of s[0] */
} hdr;

static void hdr_ws(hdr *h)
{
	while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t' ||
	                       h->s[h->i] == '\n' || h->s[h->i] == '\r'))
		h->i++;
}

static int hdr_fail(hdr *h, const char *expected)
{
	if (h->i >= h->n)
		dlrt_error("%s: offset %lld: expected %s, found end of header",
		           h->path, (long long)(h->base + (int64_t)h->i), expected);
	else if (h->s[h->i] >= 0x20 && h->s[h->i] < 0x7f)
		dlrt_error("%s: offset %lld: expected %s, found '%c'",
		           h->path, (long long)(h->base + (int64_t)h->i), expected, h->s[h->i]);
	else
		dlrt_error("%s: offset %lld: expected %s, found byte 0x%02x",
		           h->path, (long long)(h->base + (int64_t)h->i), expected,
		           (unsigned char)h->s[h->i]);
	return -1;
}

static int hdr_char(hdr *h, char c, const char *what)
{
	hdr_ws(h);
	if (h->i < h->n && h->s[h->i] == c) {
		h->i++;
		return 0;
	}
	return hdr_fail(h, what);
}

/* A quoted Python string without escapes, copied into out (size cap). */
static int hdr_str(hdr *h, char *out, size_t cap)
{
	char q;
	size_t len = 0;
	hdr_ws(h);
	if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"'))
		return hdr_fail(h, "a quoted string");
	q = h->s[h->i++];
	while (h->i < h->n && h->s[h->i] != q) {
		if (h->s[h->i] == '\\' || len + 1 >= cap)
			return hdr_fail(h, "a short string without escapes");
		out[len++] = h->s[h->i++];
	}
	if (h->i >= h->n)
		return hdr_fail(h, "the closing quote");
	h->i++;
	out[len] = 0;
	return 0;
}

static int hdr_word(hdr *h, const char *w)
{
	size_t k = strlen(w);
	if (h->n - h->i >= k && memcmp(h->s + h->i, w, k) == 0) {
		h->i += k;
		return 1;
	}
	return 0;
}

static int hdr_shape(hdr *h, int *rank, int64_t shape[DLRT_MAX_RANK])
{
	*rank = 0;
	if (hdr_char(h, '(', "'(' starting the shape"))
		return -1;
	for (;;) {
		int64_t v = 0;
		hdr_ws(h);
		if (h->i < h->n && h->s[h->i] == ')') {
			h->i++;
			return 0;
		}
		if (h->i >= h->n || h->s[h->i] < '0' || h->s[h->i] > '9')
			return hdr_fail(h, "a dimension size");
		while (h->i < h->n && h->s[h->i] >= '0' && h->s[h->i] <= '9') {
			int d = h->s[h->i] - '0';
			if (v > (INT64_MAX - d) / 10)
				return hdr_fail(h, "a dimension size that fits in 64 bits");
			v = v * 10 + d;
			h->i++;
		}
		if (h->i < h->n && h->s[h->i] == 'L') /* Python 2 long */
			h->i++;
		if (*rank >= DLRT_MAX_RANK)
			return hdr_fail(h, "at most 8 dimensions");
		shape[(*rank)++] = v;
		hdr_ws(h);
		if (h->i < h->n && h->s[h->i] == ',') {
			h->i++;
			continue;
		}
		if (h->i < h->n && h->s[h->i] == ')') {
			h->i++;
			return 0;
		}
		return hdr_fail(h, "',' or ')' in the shape");
	}
}

/* File element type -> stored dtype; 0 or -1 for unsupported. */
static int descr_type(const char *d, int *fsize, dlrt_dtype *dt, int *is_signed8)
{
	*is_signed8 = 0;
	if (!strcmp(d, "|u1") || !strcmp(d, "<u1") || !strcmp(d, "u1")) {
		*fsize = 1, *dt = DLRT_U8;
	} else if (!strcmp(d, "|i1") || !strcmp(d, "<i1") || !strcmp(d, "i1")) {
		*fsize = 1, *dt = DLRT_I32, *is_signed8 = 1;
	} else if (!strcmp(d, "<i4")) {
		*fsize = 4, *dt = DLRT_I32;
	} else if (!strcmp(d, "<i8")) {
		*fsize = 8, *dt = DLRT_I32;
	} else if (!strcmp(d, "<f4")) {
		*fsize = 4, *dt = DLRT_F32;
	} else if (!strcmp(d, "<f8")) {
		*fsize = 8, *dt = DLRT_F64;
	} else {
		return -1;
	}
	return 0;
}

static int parse_header(const char *path, const char *text, size_t n, int64_t base,
                        char descr[16], int *fortran, int *rank, int64_t shape[DLRT_MAX_RANK])
{
	hdr h = {path, text, n, 0, base};
	int have_descr = 0, have_order = 0, have_shape = 0;
	if (hdr_char(&h, '{', "'{' starting the header dict"))
		return -1;
	for (;;) {
		char key[32];
		hdr_ws(&h);
		if (h.i < h.n && h.s[h.i] == '}') {
			h.i++;
			break;
		}
		if (hdr_str(&h, key, sizeof key) || hdr_char(&h, ':', "':'"))
			return -1;
		hdr_ws(&h);
		if (!strcmp(key, "descr")) {
			if (hdr_str(&h, descr, 16))
				return -1;
			have_descr = 1;
		} else if (!strcmp(key, "fortran_order")) {
			if (hdr_word(&h, "False"))
				*fortran = 0;
			else if (hdr_word(&h, "True"))
				*fortran = 1;
			else
				return hdr_fail(&h, "True or False");
			have_order = 1;
		} else if (!strcmp(key, "shape")) {
			if (hdr_shape(&h, rank, shape))
				return -1;
			have_shape = 1;
		} else {
			h.i -= 1;
			return hdr_fail(&h, "only the keys 'descr', 'fortran_order' and 'shape'");
		}
		hdr_ws(&h);
		if (h.i < h.n && h.s[h.i] == ',') {
			h.i++;
			continue;
		}
		if (hdr_char(&h, '}', "',' or '}' in the header dict"))
			return -1;
		break;
	}
	hdr_ws(&h);
	if (h.i < h.n)
		return hdr_fail(&h, "the end of the header");
	if (!have_descr || !have_order || !have_shape) {
		dlrt_error("%s: offset %lld: expected the keys 'descr', 'fortran_order' and 'shape', found %s missing",
		           path, (long long)base,
		           !have_descr ? "'descr'" : !have_order ? "'fortran_order'" : "'shape'");
		return -1;
	}
	return 0;
}

int dlrt_load_npy_at(const char *path, dlrt_dtype *dtype, int *rank,
                     int64_t shape[DLRT_MAX_RANK], void **data,
                     int64_t *data_offset, int *file_elem_size)
{
	unsigned char pre[12];
	char descr[16] = "", *text = NULL;
	int fortran = 0, fsize = 0, signed8 = 0, ver, err;
	int64_t hlen, hstart, numel = 1, fbytes, got;
	dlrt_dtype dt = DLRT_F32;
	unsigned char *buf = NULL;
	unsigned char extra;
	gzFile f;

	*data = NULL;
	f = dlrt_gz_open(path);
	if (!f)
		return -1;
	got = dlrt_gz_read(f, pre, 10, &err);
	if (err) {
		dlrt_error("%s: offset 0: expected the NPY magic \\x93NUMPY, found %s", path,
		           dlrt_gz_msg(f, path));
		goto fail;
	}
	if (got < 8 || memcmp(pre, "\x93NUMPY", 6) != 0) {
		dlrt_error("%s: offset 0: expected the NPY magic \\x93NUMPY, found %s", path,
		           got < 8 ? "a file shorter than 8 bytes" : "other bytes");
		goto fail;
	}
	ver = pre[6];
	if (ver < 1 || ver > 3) {
		dlrt_error("%s: offset 6: expected NPY format version 1, 2 or 3, found %d", path, ver);
		goto fail;
	}
	if (ver == 1) {
		if (got < 10) {
			dlrt_error("%s: offset 8: expected the header length, found end of file", path);
			goto fail;
		}
		hlen = pre[8] | (pre[9] << 8);
		hstart = 10;
	} else {
		if (got < 10 || dlrt_gz_read(f, pre + 10, 2, &err) != 2) {
			dlrt_error("%s: offset 8: expected the header length, found end of file", path);
			goto fail;
		}
		hlen = (int64_t)pre[8] | ((int64_t)pre[9] << 8) | ((int64_t)pre[10] << 16) |
		       ((int64_t)pre[11] << 24);
		hstart = 12;
	}
	if (hlen > NPY_MAX_HEADER) {
		dlrt_error("%s: offset 8: expected a header length of at most %d bytes, found %lld",
		           path, NPY_MAX_HEADER, (long long)hlen);
		goto fail;
	}
	text = malloc((size_t)hlen + 1);
	if (!text) {
		dlrt_error("%s: out of memory", path);
		goto fail;
	}
	got = dlrt_gz_read(f, text, hlen, &err);
	if (got != hlen) {
		dlrt_error("%s: offset %lld: expected a %lld-byte header, found %s", path,
		           (long long)hstart, (long long)hlen, err ? dlrt_gz_msg(f, path) : "end of file");
		goto fail;
	}
	text[hlen] = 0;
	if (parse_header(path, text, (size_t)hlen, hstart, descr, &fortran, rank, shape))
		goto fail;
	if (descr_type(descr, &fsize, &dt, &signed8)) {
		dlrt_error("%s: offset %lld: expected dtype |u1, <i4, <i8, <f4 or <f8, found '%s'",
		           path, (long long)hstart, descr);
		goto fail;
	}
	if (fortran) {
		dlrt_error("%s: offset %lld: expected fortran_order False (C order), found True",
		           path, (long long)hstart);
		goto fail;
	}
	for (int i = 0; i < *rank && numel >= 0; i++)
		if (dlrt_mul_ok(numel, shape[i], &numel))
			numel = -1;
	if (numel < 0 || dlrt_mul_ok(numel, fsize, &fbytes) || fbytes > INT64_MAX / 2) {
		dlrt_error("%s: offset %lld: expected a shape of sensible size, found one that overflows",
		           path, (long long)hstart);
		goto fail;
	}
	/* Read in growing chunks: a corrupt shape cannot make us allocate far
	 * more than the file holds. */
	{
		int64_t cap = fbytes < (64 << 20) ? fbytes : (64 << 20), have = 0;
		buf = malloc(cap > 0 ? (size_t)cap : 1);
		while (buf && have < fbytes) {
			if (have == cap) {
				int64_t ncap = cap * 2 < fbytes ? cap * 2 : fbytes;
				unsigned char *nb = realloc(buf, (size_t)ncap);
				if (!nb) {
					free(buf);
					buf = NULL;
					break;
				}
				buf = nb, cap = ncap;
			}
			have += dlrt_gz_read(f, buf + have, cap - have, &err);
			if (have < cap || err)
				break;
		}
		if (!buf) {
			dlrt_error("%s: out of memory for %lld bytes of data", path, (long long)fbytes);
			goto fail;
		}
		if (err) {
			dlrt_error("%s: offset %lld: expected %lld bytes of data, found %lld, then: %s", path,
			           (long long)(hstart + hlen + have), (long long)fbytes, (long long)have,
			           dlrt_gz_msg(f, path));
			goto fail;
		}
		if (have < fbytes) {
			dlrt_error("%s: offset %lld: expected %lld bytes of data, found %lld (truncated file)",
			           path, (long long)(hstart + hlen), (long long)fbytes, (long long)have);
			goto fail;
		}
	}
	got = dlrt_gz_read(f, &extra, 1, &err);
	if (got != 0 || err) {
		if (err)
			dlrt_error("%s: offset %lld: expected end of file after %lld elements, found %s",
			           path, (long long)(hstart + hlen + fbytes), (long long)numel,
			           dlrt_gz_msg(f, path));
		else
			dlrt_error("%s: offset %lld: expected end of file after %lld elements, found more data",
			           path, (long long)(hstart + hlen + fbytes), (long long)numel);
		goto fail;
	}
	if (fsize > 1 && !dlrt_host_is_le())
		dlrt_byteswap(buf, (size_t)fsize, (size_t)numel);
	if (dt == DLRT_F32 || dt == DLRT_F64) {
		int64_t bad = dlrt_first_nonfinite(buf, dt, numel);
		if (bad >= 0) {
			char sh[160];
			dlrt_error("%s: offset %lld: expected a finite number, found %g (element %lld of shape %s)",
			           path, (long long)(hstart + hlen + bad * fsize), dlrt_get(buf, dt, bad),
			           (long long)bad, dlrt_shape_str(sh, sizeof sh, *rank, shape));
			goto fail;
		}
	}
	if (signed8) {
		int32_t *w = malloc((size_t)(numel > 0 ? numel : 1) * 4);
		if (!w) {
			dlrt_error("%s: out of memory", path);
			goto fail;
		}
		for (int64_t i = 0; i < numel; i++)
			w[i] = (int8_t)buf[i];
		free(buf);
		buf = (unsigned char *)w;
	} else if (fsize == 8 && dt == DLRT_I32) {
		int32_t *w = (int32_t *)buf;
		for (int64_t i = 0; i < numel; i++) {
			int64_t v;
			memcpy(&v, buf + 8 * i, 8);
			if (v < INT32_MIN || v > INT32_MAX) {
				dlrt_error("%s: offset %lld: expected an integer that fits in i32, found %lld",
				           path, (long long)(hstart + hlen + 8 * i), (long long)v);
				goto fail;
			}
			w[i] = (int32_t)v;
		}
	}
	free(text);
	gzclose(f);
	*dtype = dt;
	*data = buf;
	if (data_offset)
		*data_offset = hstart + hlen;
	if (file_elem_size)
		*file_elem_size = fsize;
	return 0;
fail:
	free(text);
	free(buf);
	gzclose(f);
	return -1;
}

int dlrt_load_npy(const char *path, dlrt_dtype *dtype, int *rank,
                  int64_t shape[DLRT_MAX_RANK], void **data)
{
	return dlrt_load_npy_at(path, dtype, rank, shape, data, NULL, NULL);
}

int dlrt_save_npy(const char *path, dlrt_dtype dtype, int rank, const int64_t *shape,
                  const void *data)
{
	char text[512], sh[256];
	const char *descr = dtype == DLRT_U8 ? "|u1" : dtype == DLRT_I32 ? "<i4" :
	                    dtype == DLRT_F32 ? "<f4" : "<f8";
	size_t len = 0, hl;
	int64_t numel = 1;
	FILE *f;
	int k;

	if (rank < 0 || rank > DLRT_MAX_RANK) {
		dlrt_error("%s: cannot write a tensor of rank %d", path, rank);
		return -1;
	}
	sh[0] = 0;
	for (int i = 0; i < rank; i++) {
		k = snprintf(sh + len, sizeof sh - len, "%lld,%s", (long long)shape[i],
		             i + 1 < rank ? " " : "");
		len += (size_t)k;
		numel *= shape[i];
	}
	if (rank > 1)
		sh[len - 1] = 0; /* "(2, 3)", but "(5,)" for rank 1 */
	k = snprintf(text, sizeof text, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }",
	             descr, sh);
	hl = (size_t)k;
	/* Pad so that the data starts on a 64-byte boundary (10 bytes of preamble). */
	while ((10 + hl + 1) % 64 != 0)
		text[hl++] = ' ';
	text[hl++] = '\n';
	f = fopen(path, "wb");
	if (!f) {
		dlrt_error("%s: cannot create: %s", path, strerror(errno));
		return -1;
	}
	{
		unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
		                         (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};
		if (fwrite(pre, 1, 10, f) != 10 || fwrite(text, 1, hl, f) != hl ||
		    dlrt_fwrite_le(f, data, dlrt_dtype_size(dtype), (size_t)numel) != 0) {
			dlrt_error("%s: write failed: %s", path, strerror(errno));
			fclose(f);
			return -1;
		}
	}
	if (fclose(f) != 0) {
		dlrt_error("%s: write failed: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}
