/* safetensors.c - checkpoints and tensor dumps in the safetensors format.
 *
 * Layout (huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length N, N bytes of JSON
 *     {"__metadata__":{"format":"dlc",...},
 *      "W1":{"dtype":"F32","shape":[784,512],"data_offsets":[0,1605632]},...}
 * padded with spaces so the data starts on an 8-byte boundary, then the raw
 * little-endian tensor data; offsets are relative to the end of the header.
 * NumPy, PyTorch and the safetensors library read these files directly.
 *
 * Writing is atomic: the file is written beside its destination under a
 * temporary name, flushed and fsync'ed, then renamed over the destination,
 * so a crash leaves either the old checkpoint or the new one.  The temporary
 * is PATH.tmp.PID.XXXXXX: a save that fails removes its own, and a save
 * removes those of earlier saves to PATH whose process no longer exists
 * (killed while writing).  Reading
 * validates everything before touching the model: header length within the
 * file, well-formed JSON (errors give the byte offset), known dtypes, sizes
 * that match dtype x shape, offsets inside the data section, no overlaps,
 * no name twice (found by sorting: many names cost n log n), no NUL in a
 * name, and metadata counts that are decimal integers within their range. */
#include "dlrt_internal.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define ST_MAX_HEADER (100 << 20)
#define ST_MAX_DEPTH 64

/* ---- a growing string ---- */

typedef struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		char *np;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->oom = 1;
			return;
		}
		b->p = np, b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_printf(sbuf *b, const char *fmt, ...) DLRT_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int k;
	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (k >= 0 && (size_t)k < sizeof tmp)
		sb_put(b, tmp, (size_t)k);
	else
		b->oom = 1;
}

static void sb_json_str(sbuf *b, const char *s)
{
	sb_put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			sb_put(b, e, 2);
		} else if (c < 0x20) {
			sb_printf(b, "\\u%04x", c);
		} else {
			sb_put(b, s, 1);
		}
	}
	sb_put(b, "\"", 1);
}

/* ---- dtypes ---- */

static const char *st_dtype(dlrt_dtype t)
{
	switch (t) {
	case DLRT_F32: return "F32";
	case DLRT_F64: return "F64";
	case DLRT_I32: return "I32";
	case DLRT_U8: return "U8";
	}
	return "?";
}

static int st_dtype_size(const char *d)
{
	static const struct { const char *name; int size; } tab[] = {
		{"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
		{"I64", 8}, {"I32", 4}, {"I16", 2}, {"I8", 1}, {"U64", 8}, {"U32", 4},
		{"U16", 2}, {"U8", 1}, {"BOOL", 1},
	};
	for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
		if (!strcmp(tab[i].name, d))
			return tab[i].size;
	return 0;
}

/* ---- writing ---- */

static int write_all(FILE *f, const dlrt_named *t, int n, const sbuf *hdr)
{
	unsigned char len8[8];
	uint64_t hl = hdr->len;
	for (int i = 0; i < 8; i++)
		len8[i] = (unsigned char)(hl >> (8 * i));
	if (fwrite(len8, 1, 8, f) != 8 || fwrite(hdr->p, 1, hdr->len, f) != hdr->len)
		return -1;
	for (int i = 0; i < n; i++) {
		int64_t numel = 1;
		for (int d = 0; d < t[i].rank; d++)
			numel *= t[i].shape[d];
		if (numel > 0 &&
		    dlrt_fwrite_le(f, t[i].data, dlrt_dtype_size(t[i].dtype), (size_t)numel) != 0)
			return -1;
	}
	return 0;
}

static void sync_dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir;
	int fd;
	if (!slash) {
		fd = open(".", O_RDONLY);
	} else {
		size_t k = slash == path ? 1 : (size_t)(slash - path);
		dir = malloc(k + 1);
		if (!dir)
			return;
		memcpy(dir, path, k);
		dir[k] = 0;
		fd = open(dir, O_RDONLY);
		free(dir);
	}
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* The temporaries of saves to PATH that were killed before they could remove
 * them: PATH.tmp.PID.XXXXXX (the writer's process id, then mkstemp's six
 * characters) whose process no longer exists.  A live writer's temporary,
 * ours included, is left alone; so is any other name. */
static void remove_stale_temps(const char *path)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t blen = strlen(base);
	char *dir = NULL, *victim;
	DIR *d;
	struct dirent *de;
	if (slash) {
		size_t k = slash == path ? 1 : (size_t)(slash - path);
		dir = malloc(k + 1);
		if (!dir)
			return;
		memcpy(dir, path, k);
		dir[k] = 0;
	}
	d = opendir(dir ? dir : ".");
	if (!d) {
		free(dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *p = de->d_name, *digits;
		char *end;
		long long pid;
		if (strncmp(p, base, blen) != 0 || strncmp(p + blen, ".tmp.", 5) != 0)
			continue;
		digits = p + blen + 5;
		if (*digits < '1' || *digits > '9')
			continue;
		errno = 0;
		pid = strtoll(digits, &end, 10);
		if (errno || *end != '.' || strlen(end + 1) != 6 || pid > INT_MAX || pid == (long long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		victim = dlrt_join_path(dir, p);
		if (victim) {
			struct stat sb;
			if (lstat(victim, &sb) == 0 && S_ISREG(sb.st_mode))
				(void)unlink(victim);
			free(victim);
		}
	}
	closedir(d);
	free(dir);
}

int dlrt_write_safetensors(const char *path, const dlrt_named *t, int n, const char *meta_json)
{
	sbuf hdr = {0};
	uint64_t off = 0;
	char *tmp = NULL;
	FILE *f = NULL;
	int fd = -1, rc = -1;
	mode_t um;

	sb_put(&hdr, "{", 1);
	if (meta_json) {
		sb_put(&hdr, "\"__metadata__\":", 15);
		sb_put(&hdr, meta_json, strlen(meta_json));
	}
	for (int i = 0; i < n; i++) {
		int64_t numel = 1;
		size_t bytes;
		for (int j = 0; j < i; j++)
			if (!strcmp(t[i].name, t[j].name)) {
				dlrt_error("%s: two tensors named '%s'", path, t[i].name);
				goto done;
			}
		if (t[i].rank < 0 || t[i].rank > DLRT_MAX_RANK) {
			dlrt_error("%s: tensor '%s' has rank %d", path, t[i].name, t[i].rank);
			goto done;
		}
		for (int d = 0; d < t[i].rank; d++)
			numel *= t[i].shape[d];
		bytes = (size_t)numel * dlrt_dtype_size(t[i].dtype);
		if (i > 0 || meta_json)
			sb_put(&hdr, ",", 1);
		sb_json_str(&hdr, t[i].name);
		sb_printf(&hdr, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype(t[i].dtype));
		for (int d = 0; d < t[i].rank; d++)
			sb_printf(&hdr, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
		sb_printf(&hdr, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
		          (unsigned long long)(off + bytes));
		off += bytes;
	}
	sb_put(&hdr, "}", 1);
	while (!hdr.oom && hdr.len % 8 != 0)
		sb_put(&hdr, " ", 1);
	if (hdr.oom) {
		dlrt_error("%s: out of memory", path);
		goto done;
	}

	remove_stale_temps(path);
	tmp = malloc(strlen(path) + 48);
	if (!tmp) {
		dlrt_error("%s: out of memory", path);
		goto done;
	}
	sprintf(tmp, "%s.tmp.%lld.XXXXXX", path, (long long)getpid());
	fd = mkstemp(tmp);
	if (fd < 0) {
		dlrt_error("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
		free(tmp);
		tmp = NULL;
		goto done;
	}
	um = umask(0);
	umask(um);
	(void)fchmod(fd, 0666 & ~um);
	f = fdopen(fd, "wb");
	if (!f) {
		dlrt_error("%s: %s", tmp, strerror(errno));
		close(fd);
		goto done;
	}
	if (write_all(f, t, n, &hdr) != 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		dlrt_error("%s: write failed: %s", tmp, strerror(errno));
		fclose(f);
		goto done;
	}
	if (fclose(f) != 0) {
		dlrt_error("%s: write failed: %s", tmp, strerror(errno));
		goto done;
	}
	if (rename(tmp, path) != 0) {
		dlrt_error("%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
		goto done;
	}
	sync_dir_of(path);
	free(tmp);
	tmp = NULL;
	rc = 0;
done:
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(hdr.p);
	return rc;
}

static void meta_json(sbuf *b, const dlrt_model *m, const dlrt_ckpt_meta *meta)
{
	sb_put(b, "{\"format\":\"dlc\",\"model\":", 24);
	sb_json_str(b, m->name ? m->name : "");
	sb_printf(b, ",\"epoch\":\"%lld\",\"step\":\"%lld\",\"seed\":\"%llu\"",
	          (long long)(meta ? meta->epoch : 0), (long long)(meta ? meta->step : 0),
	          (unsigned long long)(meta ? meta->seed : 0));
	/* a character-level model's vocabulary: its bytes in hex, id order */
	if (m->nvocab > 0) {
		sb_put(b, ",\"vocab\":\"", 10);
		for (int i = 0; i < m->nvocab; i++)
			sb_printf(b, "%02x", m->vocab[i]);
		sb_put(b, "\"", 1);
	}
	sb_put(b, "}", 1);
}

int dlrt_save_checkpoint(const dlrt_model *m, const char *path, const dlrt_ckpt_meta *meta)
{
	dlrt_named *t = calloc((size_t)(m->ntensors > 0 ? m->ntensors : 1), sizeof *t);
	sbuf mj = {0};
	int n = 0, rc;
	if (!t) {
		dlrt_error("%s: out of memory", path);
		return -1;
	}
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *s = &m->tensors[i];
		if (s->role != DLRT_PARAM && s->role != DLRT_STATE)
			continue;
		t[n].name = s->name;
		t[n].dtype = s->dtype;
		t[n].rank = s->rank;
		memcpy(t[n].shape, s->shape, sizeof t[n].shape);
		t[n].data = s->data;
		n++;
	}
	meta_json(&mj, m, meta);
	if (mj.oom) {
		dlrt_error("%s: out of memory", path);
		free(t);
		free(mj.p);
		return -1;
	}
	rc = dlrt_write_safetensors(path, t, n, mj.p);
	free(mj.p);
	free(t);
	return rc;
}

/* ---- reading: a small JSON parser for the header ---- */

typedef struct st_entry {
	char *name;
	char dtype[12];
	int rank;
	int64_t shape[DLRT_MAX_RANK];
	uint64_t begin, end;
	int64_t off;             /* file offset of the entry's key */
} st_entry;

typedef struct st_file {
	const char *path;
	FILE *f;
	int64_t fsize, data_start;
	st_entry *e;
	int n, cap;
	dlrt_ckpt_meta meta;
	char *vocab;             /* the metadata's "vocab" (hex), or NULL */
} st_file;

typedef struct json {
	const char *path;
	const char *s;
	size_t n, i;
	int64_t base;            /* file offset of s[0] */
} json;

static int j_fail(json *j, const char *expected)
{
	long long off = (long long)(j->base + (int64_t)j->i);
	if (j->i >= j->n)
		dlrt_error("%s: offset %lld: expected %s, found end of header", j->path, off, expected);
	else if (j->s[j->i] > 0x20 && j->s[j->i] < 0x7f)
		dlrt_error("%s: offset %lld: expected %s, found '%c'", j->path, off, expected, j->s[j->i]);
	else
		dlrt_error("%s: offset %lld: expected %s, found byte 0x%02x", j->path, off, expected,
		           (unsigned char)j->s[j->i]);
	return -1;
}

static void j_ws(json *j)
{
	while (j->i < j->n && (j->s[j->i] == ' ' || j->s[j->i] == '\t' || j->s[j->i] == '\n' ||
	                       j->s[j->i] == '\r'))
		j->i++;
}

static int j_peek(json *j)
{
	j_ws(j);
	return j->i < j->n ? (unsigned char)j->s[j->i] : -1;
}

static int j_char(json *j, char c, const char *what)
{
	if (j_peek(j) == (unsigned char)c) {
		j->i++;
		return 0;
	}
	return j_fail(j, what);
}

static int hexval(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int j_hex4(json *j, unsigned *out)
{
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		int h = j->i < j->n ? hexval((unsigned char)j->s[j->i]) : -1;
		if (h < 0)
			return j_fail(j, "four hex digits after \\u");
		v = v * 16 + (unsigned)h;
		j->i++;
	}
	*out = v;
	return 0;
}

/* A JSON string, decoded to UTF-8 into a malloc'ed *out (if out != NULL). */
static int j_string(json *j, char **out)
{
	sbuf b = {0};
	if (out)
		*out = NULL;
	if (j_peek(j) != '"')
		return j_fail(j, "a string");
	j->i++;
	for (;;) {
		unsigned char c;
		if (j->i >= j->n) {
			free(b.p);
			return j_fail(j, "the closing '\"' of a string");
		}
		c = (unsigned char)j->s[j->i];
		if (c == '"') {
			j->i++;
			break;
		}
		if (c < 0x20) {
			free(b.p);
			return j_fail(j, "a string character (control characters must be escaped)");
		}
		if (c != '\\') {
			sb_put(&b, (const char *)&j->s[j->i], 1);
			j->i++;
			continue;
		}
		j->i++;
		if (j->i >= j->n) {
			free(b.p);
			return j_fail(j, "an escape character");
		}
		c = (unsigned char)j->s[j->i++];
		switch (c) {
		case '"': sb_put(&b, "\"", 1); break;
		case '\\': sb_put(&b, "\\", 1); break;
		case '/': sb_put(&b, "/", 1); break;
		case 'b': sb_put(&b, "\b", 1); break;
		case 'f': sb_put(&b, "\f", 1); break;
		case 'n': sb_put(&b, "\n", 1); break;
		case 'r': sb_put(&b, "\r", 1); break;
		case 't': sb_put(&b, "\t", 1); break;
		case 'u': {
			unsigned u, lo;
			char enc[4];
			int k = 0;
			if (j_hex4(j, &u)) {
				free(b.p);
				return -1;
			}
			if (u == 0 && out) {
				/* names and values are C strings: a NUL would cut them short */
				free(b.p);
				dlrt_error("%s: offset %lld: expected a string without NUL characters, found \\u0000",
				           j->path, (long long)(j->base + (int64_t)j->i - 6));
				return -1;
			}
			if (u >= 0xD800 && u < 0xDC00 && j->i + 1 < j->n && j->s[j->i] == '\\' &&
			    j->s[j->i + 1] == 'u') {
				size_t save = j->i;
				j->i += 2;
				if (j_hex4(j, &lo)) {
					free(b.p);
					return -1;
				}
				if (lo >= 0xDC00 && lo < 0xE000)
					u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
				else
					j->i = save;
			}
			if (u < 0x80) {
				enc[k++] = (char)u;
			} else if (u < 0x800) {
				enc[k++] = (char)(0xC0 | (u >> 6));
				enc[k++] = (char)(0x80 | (u & 0x3F));
			} else if (u < 0x10000) {
				enc[k++] = (char)(0xE0 | (u >> 12));
				enc[k++] = (char)(0x80 | ((u >> 6) & 0x3F));
				enc[k++] = (char)(0x80 | (u & 0x3F));
			} else {
				enc[k++] = (char)(0xF0 | (u >> 18));
				enc[k++] = (char)(0x80 | ((u >> 12) & 0x3F));
				enc[k++] = (char)(0x80 | ((u >> 6) & 0x3F));
				enc[k++] = (char)(0x80 | (u & 0x3F));
			}
			sb_put(&b, enc, (size_t)k);
			break;
		}
		default:
			j->i--;
			free(b.p);
			return j_fail(j, "a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u)");
		}
	}
	if (!b.p)
		sb_put(&b, "", 0);
	if (b.oom) {
		free(b.p);
		dlrt_error("%s: out of memory", j->path);
		return -1;
	}
	if (out)
		*out = b.p;
	else
		free(b.p);
	return 0;
}

/* A non-negative integer without sign, fraction or exponent. */
static int j_uint(json *j, uint64_t *v, const char *what)
{
	uint64_t x = 0;
	size_t start;
	j_ws(j);
	start = j->i;
	while (j->i < j->n && j->s[j->i] >= '0' && j->s[j->i] <= '9') {
		unsigned d = (unsigned)(j->s[j->i] - '0');
		if (x > (UINT64_MAX - d) / 10) {
			j->i = start;
			return j_fail(j, "an integer that fits in 64 bits");
		}
		x = x * 10 + d;
		j->i++;
	}
	if (j->i == start || (j->i - start > 1 && j->s[start] == '0')) {
		j->i = start;
		return j_fail(j, what);
	}
	if (j->i < j->n && (j->s[j->i] == '.' || j->s[j->i] == 'e' || j->s[j->i] == 'E'))
		return j_fail(j, what);
	*v = x;
	return 0;
}

static int j_number(json *j)
{
	size_t start = j->i;
	const char *s = j->s;
	if (j->i < j->n && s[j->i] == '-')
		j->i++;
	if (j->i < j->n && s[j->i] == '0') {
		j->i++;
	} else if (j->i < j->n && s[j->i] >= '1' && s[j->i] <= '9') {
		while (j->i < j->n && s[j->i] >= '0' && s[j->i] <= '9')
			j->i++;
	} else {
		j->i = start;
		return j_fail(j, "a JSON value");
	}
	if (j->i < j->n && s[j->i] == '.') {
		j->i++;
		if (j->i >= j->n || s[j->i] < '0' || s[j->i] > '9')
			return j_fail(j, "a digit after '.'");
		while (j->i < j->n && s[j->i] >= '0' && s[j->i] <= '9')
			j->i++;
	}
	if (j->i < j->n && (s[j->i] == 'e' || s[j->i] == 'E')) {
		j->i++;
		if (j->i < j->n && (s[j->i] == '+' || s[j->i] == '-'))
			j->i++;
		if (j->i >= j->n || s[j->i] < '0' || s[j->i] > '9')
			return j_fail(j, "a digit in the exponent");
		while (j->i < j->n && s[j->i] >= '0' && s[j->i] <= '9')
			j->i++;
	}
	return 0;
}

/* Any JSON value, skipped. */
static int j_skip(json *j, int depth)
{
	int c = j_peek(j);
	if (depth > ST_MAX_DEPTH)
		return j_fail(j, "nesting at most 64 deep");
	if (c == '"')
		return j_string(j, NULL);
	if (c == '{' || c == '[') {
		char close = c == '{' ? '}' : ']';
		j->i++;
		if (j_peek(j) == close) {
			j->i++;
			return 0;
		}
		for (;;) {
			if (c == '{' && (j_string(j, NULL) || j_char(j, ':', "':'")))
				return -1;
			if (j_skip(j, depth + 1))
				return -1;
			if (j_peek(j) == ',') {
				j->i++;
				continue;
			}
			return j_char(j, close, c == '{' ? "',' or '}'" : "',' or ']'");
		}
	}
	if (j->n - j->i >= 4 && (!memcmp(j->s + j->i, "true", 4) || !memcmp(j->s + j->i, "null", 4))) {
		j->i += 4;
		return 0;
	}
	if (j->n - j->i >= 5 && !memcmp(j->s + j->i, "false", 5)) {
		j->i += 5;
		return 0;
	}
	return j_number(j);
}

/* A metadata count: decimal digits only (no sign, space or fraction), at most
 * max.  0, or -1 when it is anything else. */
static int meta_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -1;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');
		if (*s < '0' || *s > '9' || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int parse_meta(json *j, st_file *st)
{
	if (j_char(j, '{', "'{' starting __metadata__"))
		return -1;
	if (j_peek(j) == '}') {
		j->i++;
		return 0;
	}
	for (;;) {
		char *key = NULL, *val = NULL;
		if (j_string(j, &key) || j_char(j, ':', "':'")) {
			free(key);
			return -1;
		}
		if (j_peek(j) == '"') {
			int64_t val_off = j->base + (int64_t)j->i;
			int known = !strcmp(key, "epoch") || !strcmp(key, "step") || !strcmp(key, "seed") ||
			            !strcmp(key, "vocab");
			if (j_string(j, known ? &val : NULL)) {
				free(key);
				return -1;
			}
			if (!strcmp(key, "epoch") || !strcmp(key, "step") || !strcmp(key, "seed")) {
				/* epochs are counted in an int; steps in an int64_t */
				uint64_t max = !strcmp(key, "epoch") ? (uint64_t)INT32_MAX :
				               !strcmp(key, "step") ? (uint64_t)INT64_MAX : UINT64_MAX;
				uint64_t v;
				if (meta_uint(val, max, &v)) {
					dlrt_error("%s: offset %lld: __metadata__ \"%s\": expected a decimal integer from 0 "
					           "to %llu in a string, found \"%.40s\"", j->path, (long long)val_off, key,
					           (unsigned long long)max, val);
					free(val);
					free(key);
					return -1;
				}
				if (!strcmp(key, "epoch"))
					st->meta.epoch = (int64_t)v;
				else if (!strcmp(key, "step"))
					st->meta.step = (int64_t)v;
				else
					st->meta.seed = v;
			}
			if (!strcmp(key, "vocab") && !st->vocab) {
				st->vocab = val;
				val = NULL;
			}
			free(val);
		} else if (j_skip(j, 1)) {
			free(key);
			return -1;
		}
		free(key);
		if (j_peek(j) == ',') {
			j->i++;
			continue;
		}
		return j_char(j, '}', "',' or '}' in __metadata__");
	}
}

static int parse_entry(json *j, st_entry *e)
{
	int have_dtype = 0, have_shape = 0, have_off = 0;
	if (j_char(j, '{', "'{' starting a tensor entry"))
		return -1;
	for (;;) {
		char *key = NULL;
		size_t key_at;
		j_ws(j);
		key_at = j->i;
		if (j_string(j, &key) || j_char(j, ':', "':'")) {
			free(key);
			return -1;
		}
		if (!strcmp(key, "dtype")) {
			char *d = NULL;
			if (j_string(j, &d)) {
				free(key);
				return -1;
			}
			if (strlen(d) >= sizeof e->dtype || !st_dtype_size(d)) {
				dlrt_error("%s: offset %lld: expected a safetensors dtype (F32, F64, I32, ...), found '%.20s'",
				           j->path, (long long)(j->base + (int64_t)key_at), d);
				free(d);
				free(key);
				return -1;
			}
			strcpy(e->dtype, d);
			free(d);
			have_dtype = 1;
		} else if (!strcmp(key, "shape")) {
			e->rank = 0;
			if (j_char(j, '[', "'[' starting the shape")) {
				free(key);
				return -1;
			}
			if (j_peek(j) == ']') {
				j->i++;
			} else {
				for (;;) {
					uint64_t v;
					if (e->rank == DLRT_MAX_RANK) {
						free(key);
						return j_fail(j, "at most 8 dimensions");
					}
					if (j_uint(j, &v, "a dimension size")) {
						free(key);
						return -1;
					}
					if (v > (uint64_t)INT64_MAX) {
						free(key);
						return j_fail(j, "a smaller dimension size");
					}
					e->shape[e->rank++] = (int64_t)v;
					if (j_peek(j) == ',') {
						j->i++;
						continue;
					}
					if (j_char(j, ']', "',' or ']' in the shape")) {
						free(key);
						return -1;
					}
					break;
				}
			}
			have_shape = 1;
		} else if (!strcmp(key, "data_offsets")) {
			if (j_char(j, '[', "'[' starting data_offsets") ||
			    j_uint(j, &e->begin, "a data offset") || j_char(j, ',', "',' in data_offsets") ||
			    j_uint(j, &e->end, "a data offset") ||
			    j_char(j, ']', "']' after the two data offsets")) {
				free(key);
				return -1;
			}
			have_off = 1;
		} else {
			j->i = key_at;
			free(key);
			return j_fail(j, "\"dtype\", \"shape\" or \"data_offsets\"");
		}
		free(key);
		if (j_peek(j) == ',') {
			j->i++;
			continue;
		}
		if (j_char(j, '}', "',' or '}' in a tensor entry"))
			return -1;
		break;
	}
	if (!have_dtype || !have_shape || !have_off) {
		j->i--;
		return j_fail(j, !have_dtype ? "a \"dtype\" before '}'" :
		                 !have_shape ? "a \"shape\" before '}'" : "\"data_offsets\" before '}'");
	}
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
	int c = strcmp(x->name, y->name);
	return c ? c : x->off < y->off ? -1 : x->off > y->off;
}

/* No name twice: sorted by name (then place), equal names are neighbours;
 * the message names the first repeat in the file.  n log n for headers of
 * many entries. */
static int check_names(st_file *st)
{
	st_entry **order, *dup = NULL;
	if (st->n < 2)
		return 0;
	order = malloc((size_t)st->n * sizeof *order);
	if (!order) {
		dlrt_error("%s: out of memory", st->path);
		return -1;
	}
	for (int i = 0; i < st->n; i++)
		order[i] = &st->e[i];
	qsort(order, (size_t)st->n, sizeof *order, cmp_name);
	for (int i = 1; i < st->n; i++)
		if (!strcmp(order[i]->name, order[i - 1]->name) && (!dup || order[i]->off < dup->off))
			dup = order[i];
	free(order);
	if (dup) {
		dlrt_error("%s: offset %lld: expected a new tensor name, found '%s' again", st->path,
		           (long long)dup->off, dup->name);
		return -1;
	}
	return 0;
}

static int parse_header(st_file *st, const char *text, size_t n)
{
	json j = {st->path, text, n, 0, 8};
	if (j_char(&j, '{', "'{' starting the header"))
		return -1;
	if (j_peek(&j) == '}') {
		j.i++;
	} else {
		for (;;) {
			char *key = NULL;
			int64_t key_off;
			j_ws(&j);
			key_off = j.base + (int64_t)j.i;
			if (j_string(&j, &key) || j_char(&j, ':', "':'")) {
				free(key);
				return -1;
			}
			if (!strcmp(key, "__metadata__")) {
				free(key);
				if (parse_meta(&j, st))
					return -1;
			} else {
				st_entry *e;
				if (st->n == INT_MAX / 2) {
					free(key);
					dlrt_error("%s: offset %lld: expected fewer tensors", st->path, (long long)key_off);
					return -1;
				}
				if (st->n == st->cap) {
					int ncap = st->cap ? st->cap * 2 : 16;
					st_entry *ne = realloc(st->e, (size_t)ncap * sizeof *ne);
					if (!ne) {
						free(key);
						dlrt_error("%s: out of memory", st->path);
						return -1;
					}
					st->e = ne, st->cap = ncap;
				}
				e = &st->e[st->n++];
				memset(e, 0, sizeof *e);
				e->name = key;
				e->off = key_off;
				if (parse_entry(&j, e))
					return -1;
			}
			if (j_peek(&j) == ',') {
				j.i++;
				continue;
			}
			if (j_char(&j, '}', "',' or '}' after a header entry"))
				return -1;
			break;
		}
	}
	j_ws(&j);
	if (j.i < j.n)
		return j_fail(&j, "the end of the header (only space padding)");
	return check_names(st);
}

static int cmp_begin(const void *a, const void *b)
{
	const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
	return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

static void st_close(st_file *st)
{
	for (int i = 0; i < st->n; i++)
		free(st->e[i].name);
	free(st->e);
	st->e = NULL;
	st->n = st->cap = 0;
	free(st->vocab);
	st->vocab = NULL;
	if (st->f)
		fclose(st->f);
	st->f = NULL;
}

static int st_open(st_file *st, const char *path)
{
	unsigned char len8[8];
	uint64_t hlen = 0, data_size;
	char *text;
	st_entry **order;
	memset(st, 0, sizeof *st);
	st->path = path;
	st->f = fopen(path, "rb");
	if (!st->f) {
		dlrt_error("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	{
		struct stat sb;
		if (fstat(fileno(st->f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
			dlrt_error("%s: cannot open: not a regular file", path);
			goto fail;
		}
	}
	if (fseeko(st->f, 0, SEEK_END) != 0 || (st->fsize = ftello(st->f)) < 0 ||
	    fseeko(st->f, 0, SEEK_SET) != 0) {
		dlrt_error("%s: cannot determine its size: %s", path, strerror(errno));
		goto fail;
	}
	if (st->fsize < 8 || fread(len8, 1, 8, st->f) != 8) {
		dlrt_error("%s: offset 0: expected an 8-byte header length, found a %lld-byte file",
		           path, (long long)st->fsize);
		goto fail;
	}
	for (int i = 0; i < 8; i++)
		hlen |= (uint64_t)len8[i] << (8 * i);
	if (hlen < 2 || hlen > (uint64_t)(st->fsize - 8) || hlen > ST_MAX_HEADER) {
		dlrt_error("%s: offset 0: expected a header length between 2 and %lld (the file has %lld bytes), found %llu",
		           path, (long long)(st->fsize - 8 < ST_MAX_HEADER ? st->fsize - 8 : ST_MAX_HEADER),
		           (long long)st->fsize, (unsigned long long)hlen);
		goto fail;
	}
	text = malloc((size_t)hlen + 1);
	if (!text) {
		dlrt_error("%s: out of memory", path);
		goto fail;
	}
	if (fread(text, 1, (size_t)hlen, st->f) != (size_t)hlen) {
		dlrt_error("%s: offset 8: read error", path);
		free(text);
		goto fail;
	}
	text[hlen] = 0;
	if (parse_header(st, text, (size_t)hlen)) {
		free(text);
		goto fail;
	}
	free(text);
	st->data_start = 8 + (int64_t)hlen;
	data_size = (uint64_t)(st->fsize - st->data_start);
	for (int i = 0; i < st->n; i++) {
		st_entry *e = &st->e[i];
		int64_t numel = 1, bytes;
		char sh[192];
		for (int d = 0; d < e->rank && numel >= 0; d++)
			if (dlrt_mul_ok(numel, e->shape[d], &numel))
				numel = -1;
		if (numel < 0 || dlrt_mul_ok(numel, st_dtype_size(e->dtype), &bytes)) {
			dlrt_error("%s: offset %lld: tensor '%s': expected a shape of sensible size, found %s",
			           path, (long long)e->off, e->name,
			           dlrt_shape_str(sh, sizeof sh, e->rank, e->shape));
			goto fail;
		}
		if (e->begin > e->end || e->end > data_size) {
			dlrt_error("%s: offset %lld: tensor '%s': expected data_offsets within the %llu-byte data section, found [%llu,%llu]",
			           path, (long long)e->off, e->name, (unsigned long long)data_size,
			           (unsigned long long)e->begin, (unsigned long long)e->end);
			goto fail;
		}
		if (e->end - e->begin != (uint64_t)bytes) {
			dlrt_error("%s: offset %lld: tensor '%s': expected %lld bytes for %s %s, found data_offsets [%llu,%llu] (%llu bytes)",
			           path, (long long)e->off, e->name, (long long)bytes, e->dtype,
			           dlrt_shape_str(sh, sizeof sh, e->rank, e->shape),
			           (unsigned long long)e->begin, (unsigned long long)e->end,
			           (unsigned long long)(e->end - e->begin));
			goto fail;
		}
	}
	order = malloc((size_t)(st->n > 0 ? st->n : 1) * sizeof *order);
	if (!order) {
		dlrt_error("%s: out of memory", path);
		goto fail;
	}
	for (int i = 0; i < st->n; i++)
		order[i] = &st->e[i];
	qsort(order, (size_t)st->n, sizeof *order, cmp_begin);
	for (int i = 1; i < st->n; i++)
		if (order[i]->begin < order[i - 1]->end) {
			dlrt_error("%s: offset %lld: tensor '%s': expected data after byte %llu (where '%s' ends), found data_offsets starting at %llu",
			           path, (long long)order[i]->off, order[i]->name,
			           (unsigned long long)order[i - 1]->end, order[i - 1]->name,
			           (unsigned long long)order[i]->begin);
			free(order);
			goto fail;
		}
	free(order);
	return 0;
fail:
	st_close(st);
	return -1;
}

static st_entry *st_find(st_file *st, const char *name)
{
	for (int i = 0; i < st->n; i++)
		if (!strcmp(st->e[i].name, name))
			return &st->e[i];
	return NULL;
}

static int same_shape(const st_entry *e, const dlrt_tensor *t)
{
	if (e->rank != t->rank)
		return 0;
	for (int d = 0; d < t->rank; d++)
		if (e->shape[d] != t->shape[d])
			return 0;
	return 1;
}

static void byte_str(char *buf, size_t size, int b)
{
	if (b < 0)
		snprintf(buf, size, "nothing (it ends there)");
	else if (b >= 0x20 && b < 0x7f)
		snprintf(buf, size, "0x%02x '%c'", b, b);
	else
		snprintf(buf, size, "0x%02x", b);
}

/* A character-level model's vocabulary against the checkpoint's: 0 equal,
 * -1 (message printed) when it has none or another one. */
static int check_vocab(const dlrt_model *m, const st_file *st, const char *path)
{
	size_t hex = st->vocab ? strlen(st->vocab) : 0;
	int n = (int)(hex / 2);
	char a[40], b[40];
	if (m->nvocab <= 0)
		return 0;
	if (!st->vocab) {
		dlrt_error("%s has no vocabulary, but model %s reads text with a vocabulary of %d characters",
		           path, m->name, m->nvocab);
		return -1;
	}
	if (hex % 2 || hex > 512 || strspn(st->vocab, "0123456789abcdefABCDEF") != hex) {
		dlrt_error("%s: the vocabulary in its metadata is not the hex of at most 256 bytes", path);
		return -1;
	}
	for (int i = 0; i < n || i < m->nvocab; i++) {
		int c = -1, w = i < m->nvocab ? m->vocab[i] : -1;
		if (i < n) {
			char h[3] = {st->vocab[2 * i], st->vocab[2 * i + 1], 0};
			c = (int)strtol(h, NULL, 16);
		}
		if (c == w)
			continue;
		byte_str(a, sizeof a, c);
		byte_str(b, sizeof b, w);
		dlrt_error("%s: its vocabulary (%d characters) differs from model %s's (%d characters): "
		           "id %d is %s in the checkpoint and %s in the model", path, n, m->name, m->nvocab, i,
		           a, b);
		return -1;
	}
	return 0;
}

int dlrt_load_checkpoint(const dlrt_model *m, const char *path, dlrt_ckpt_meta *meta)
{
	st_file st;
	sbuf missing = {0};
	int nmissing = 0;
	if (st_open(&st, path))
		return -1;
	if (check_vocab(m, &st, path))
		goto fail;
	/* Every entry must be a param or state tensor of this model. */
	for (int i = 0; i < st.n; i++) {
		const dlrt_tensor *t = NULL;
		for (int k = 0; k < m->ntensors; k++)
			if (!strcmp(m->tensors[k].name, st.e[i].name) &&
			    (m->tensors[k].role == DLRT_PARAM || m->tensors[k].role == DLRT_STATE))
				t = &m->tensors[k];
		if (!t) {
			dlrt_error("unknown tensor '%s' in %s (model %s has no such parameter or state)",
			           st.e[i].name, path, m->name);
			goto fail;
		}
	}
	for (int k = 0; k < m->ntensors; k++) {
		const dlrt_tensor *t = &m->tensors[k];
		st_entry *e;
		char a[192], b[192];
		if (t->role != DLRT_PARAM && t->role != DLRT_STATE)
			continue;
		e = st_find(&st, t->name);
		if (!e) {
			if (t->role == DLRT_PARAM) {
				dlrt_error("%s: missing tensor '%s' (expected %s %s)", path, t->name,
				           st_dtype(t->dtype), dlrt_shape_str(a, sizeof a, t->rank, t->shape));
				goto fail;
			}
			sb_printf(&missing, "%s%s", nmissing ? ", " : "", t->name);
			nmissing++;
			continue;
		}
		if (strcmp(e->dtype, st_dtype(t->dtype)) != 0 || !same_shape(e, t)) {
			dlrt_error("%s: tensor '%s': expected %s %s, found %s %s", path, t->name,
			           st_dtype(t->dtype), dlrt_shape_str(a, sizeof a, t->rank, t->shape),
			           e->dtype, dlrt_shape_str(b, sizeof b, e->rank, e->shape));
			goto fail;
		}
	}
	/* Validated: now read. */
	for (int k = 0; k < m->ntensors; k++) {
		const dlrt_tensor *t = &m->tensors[k];
		size_t esz = dlrt_dtype_size(t->dtype);
		st_entry *e;
		if (t->role != DLRT_PARAM && t->role != DLRT_STATE)
			continue;
		e = st_find(&st, t->name);
		if (!e) {
			dlrt_init_tensor(t, 0); /* state: zero, or its own constant start */
			continue;
		}
		if (fseeko(st.f, (off_t)(st.data_start + (int64_t)e->begin), SEEK_SET) != 0 ||
		    fread(t->data, esz, (size_t)t->numel, st.f) != (size_t)t->numel) {
			dlrt_error("%s: offset %lld: tensor '%s': read error", path,
			           (long long)(st.data_start + (int64_t)e->begin), t->name);
			goto fail;
		}
		if (!dlrt_host_is_le())
			dlrt_byteswap(t->data, esz, (size_t)t->numel);
	}
	if (nmissing && !missing.oom)
		fprintf(stderr, "dlrt: note: %s has no %s; starting %s from %s initial value%s\n", path, missing.p,
		        nmissing == 1 ? "it" : "them", nmissing == 1 ? "its" : "their", nmissing == 1 ? "" : "s");
	if (meta)
		*meta = st.meta;
	free(missing.p);
	st_close(&st);
	return 0;
fail:
	free(missing.p);
	st_close(&st);
	return -1;
}
