/* test_runtime.c - tests of the runtime library (libdlrt).
 *
 * One program, one test per command-line name (CTest runs each as its own
 * test).  Each test works in a fresh temporary directory, writes the small
 * data files and checkpoints it needs there, and drives either the library
 * functions directly or dlrt_main on the hand-written toy model, capturing
 * what it prints so the messages can be checked.  The error tests feed the
 * loaders corrupt, truncated and mismatched files and check the exit status
 * and the message (file, offset or line, what was expected). */
#include "dlrt.h"
#include "dlrt_internal.h" /* dlrt_schedule_lr */
#include "toy_model.h"

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

static int failures;
static char g_dir[256];
static char *g_out;   /* what the last captured call printed */

#define CHECK(cond, ...)                                                          \
	do {                                                                          \
		if (!(cond)) {                                                            \
			failures++;                                                           \
			printf("%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
			printf(__VA_ARGS__);                                                  \
			printf("\n");                                                         \
			fflush(stdout);                                                       \
		}                                                                         \
	} while (0)

/* ---- files ---- */

static const char *path(const char *name)
{
	static char bufs[8][512];
	static int next;
	char *p = bufs[next++ % 8];
	snprintf(p, 512, "%s/%s", g_dir, name);
	return p;
}

static void write_bytes(const char *p, const void *data, size_t n)
{
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) {
		printf("cannot write %s\n", p);
		exit(1);
	}
}

static void write_text(const char *p, const char *text)
{
	write_bytes(p, text, strlen(text));
}

static void write_gz(const char *p, const void *data, size_t n)
{
	gzFile f = gzopen(p, "wb");
	if (!f || gzwrite(f, data, (unsigned)n) != (int)n || gzclose(f) != Z_OK) {
		printf("cannot write %s\n", p);
		exit(1);
	}
}

static unsigned char *read_bytes(const char *p, size_t *n)
{
	FILE *f = fopen(p, "rb");
	unsigned char *buf;
	long len;
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len)
		len = 0;
	buf[len] = 0;
	fclose(f);
	*n = (size_t)len;
	return buf;
}

static int same_file(const char *a, const char *b)
{
	size_t na, nb;
	unsigned char *x = read_bytes(a, &na), *y = read_bytes(b, &nb);
	int same = x && y && na == nb && memcmp(x, y, na) == 0;
	free(x);
	free(y);
	return same;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[800];
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

/* ---- capturing what the runtime prints ---- */

static int saved_out = -1, saved_err = -1;

static void capture_begin(void)
{
	int fd;
	fflush(stdout);
	fflush(stderr);
	fd = open(path(".capture"), O_CREAT | O_TRUNC | O_WRONLY, 0644);
	saved_out = dup(1);
	saved_err = dup(2);
	dup2(fd, 1);
	dup2(fd, 2);
	close(fd);
}

static void capture_end_quietly(void);

static void capture_end(void)
{
	char *line;
	capture_end_quietly();
	for (line = g_out; *line;) {
		char *nl = strchr(line, '\n');
		int len = nl ? (int)(nl - line) : (int)strlen(line);
		printf("    | %.*s\n", len, line);
		line += len + (nl ? 1 : 0);
	}
}

static void capture_end_quietly(void)
{
	size_t n;
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	free(g_out);
	g_out = (char *)read_bytes(path(".capture"), &n);
	if (!g_out)
		g_out = calloc(1, 1);
}

static int has(const char *s)
{
	return g_out && strstr(g_out, s) != NULL;
}

static int matches(const char *re)
{
	regex_t r;
	int ok;
	if (regcomp(&r, re, REG_EXTENDED | REG_NOSUB) != 0)
		return 0;
	ok = regexec(&r, g_out ? g_out : "", 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

/* dlrt_main on model m with the arguments in fmt (split at spaces). */
static int run(const dlrt_model *m, const char *fmt, ...)
{
	char line[4096], *argv[64], *tok;
	int argc = 0, rc;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	printf("  $ toy %s\n", line);
	argv[argc++] = "toy";
	for (tok = strtok(line, " "); tok && argc < 63; tok = strtok(NULL, " "))
		argv[argc++] = tok;
	argv[argc] = NULL;
	toy_reset();
	capture_begin();
	rc = dlrt_main(m, argc, argv);
	capture_end();
	printf("    -> exit %d\n", rc);
	return rc;
}

/* ---- data ---- */

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

/* An IDX file image: header then big-endian elements (from host values). */
static unsigned char *idx_image(int type, int ndim, const uint32_t *dims, const void *data,
                                size_t *size)
{
	size_t es = type == 0x08 || type == 0x09 ? 1 : type == 0x0B ? 2 : type == 0x0E ? 8 : 4;
	size_t n = 1, hs = 4 + 4 * (size_t)ndim;
	unsigned char *buf;
	for (int i = 0; i < ndim; i++)
		n *= dims[i];
	buf = malloc(hs + n * es + 1);
	buf[0] = 0, buf[1] = 0, buf[2] = (unsigned char)type, buf[3] = (unsigned char)ndim;
	for (int i = 0; i < ndim; i++)
		put_be32(buf + 4 + 4 * i, dims[i]);
	for (size_t i = 0; i < n; i++)
		for (size_t b = 0; b < es; b++)
			buf[hs + i * es + b] = ((const unsigned char *)data)[i * es + (es - 1 - b)];
	*size = hs + n * es;
	return buf;
}

static void write_idx(const char *p, int gz, int type, int ndim, const uint32_t *dims,
                      const void *data)
{
	size_t n;
	unsigned char *img = idx_image(type, ndim, dims, data, &n);
	if (gz)
		write_gz(p, img, n);
	else
		write_bytes(p, img, n);
	free(img);
}

/* A .npy file with a header of our choosing (version 1, padded). */
static void write_npy_raw(const char *p, const char *dict, const void *data, size_t n)
{
	unsigned char buf[4096];
	size_t hl = strlen(dict);
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	memcpy(buf + 10, dict, hl);
	while ((10 + hl + 1) % 16)
		buf[10 + hl++] = ' ';
	buf[10 + hl++] = '\n';
	buf[8] = (unsigned char)(hl & 0xff), buf[9] = (unsigned char)(hl >> 8);
	memcpy(buf + 10 + hl, data, n);
	write_bytes(p, buf, 10 + hl + n);
}

/* y = x Wt + bt + noise, x ~ U(-1, 1). */
static void regression_data(int rows, int F, int K, uint64_t seed, double *X, double *Y)
{
	dlrt_rng r;
	dlrt_rng_seed(&r, seed, 7);
	for (int i = 0; i < rows; i++) {
		for (int f = 0; f < F; f++)
			X[i * F + f] = 2 * dlrt_rng_uniform(&r) - 1;
		for (int k = 0; k < K; k++) {
			double s = 0.3 - 0.2 * k;
			for (int f = 0; f < F; f++)
				s += X[i * F + f] * ((f + 1) * (k % 2 ? -0.5 : 0.7));
			Y[i * K + k] = s + 0.01 * dlrt_rng_normal(&r);
		}
	}
}

/* Regression data as x.npy/y.npy (and tx.npy/ty.npy for testing). */
static void regression_files(int rows, int test_rows, int F, int K)
{
	double *X = malloc(sizeof *X * (size_t)(rows * F)), *Y = malloc(sizeof *Y * (size_t)(rows * K));
	int64_t sx[2] = {rows, F}, sy[2] = {rows, K};
	regression_data(rows, F, K, 11, X, Y);
	CHECK(dlrt_save_npy(path("x.npy"), DLRT_F64, 2, sx, X) == 0, "save x.npy");
	CHECK(dlrt_save_npy(path("y.npy"), DLRT_F64, 2, sy, Y) == 0, "save y.npy");
	sx[0] = sy[0] = test_rows;
	regression_data(test_rows, F, K, 12, X, Y);
	CHECK(dlrt_save_npy(path("tx.npy"), DLRT_F64, 2, sx, X) == 0, "save tx.npy");
	CHECK(dlrt_save_npy(path("ty.npy"), DLRT_F64, 2, sy, Y) == 0, "save ty.npy");
	free(X);
	free(Y);
}

static const dlrt_model *linear(int F, int K, int B, dlrt_dtype dt)
{
	toy_config c = {.features = F, .outputs = K, .batch = B, .dtype = dt};
	return toy_build(&c);
}

static const dlrt_model *classifier(int F, int K, int B, dlrt_dtype dt, double scale)
{
	toy_config c = {.features = F, .outputs = K, .batch = B, .dtype = dt, .classifier = 1, .input_scale = scale};
	return toy_build(&c);
}

static dlrt_data_spec spec2(dlrt_data_kind kind, const char *a, const char *b)
{
	dlrt_data_spec s;
	memset(&s, 0, sizeof s);
	s.kind = kind;
	s.files[s.nfiles++] = a;
	if (b)
		s.files[s.nfiles++] = b;
	return s;
}

/* Load with messages captured; returns dlrt_load_dataset's result. */
static int load(const dlrt_model *m, dlrt_data_spec s, dlrt_dataset *ds)
{
	int rc;
	printf("  load %s%s%s\n", s.files[0], s.nfiles > 1 ? ", " : "", s.nfiles > 1 ? s.files[1] : "");
	capture_begin();
	rc = dlrt_load_dataset(m, &s, g_dir, ds);
	capture_end();
	return rc;
}

/* Expect a load to fail with a message containing `want`. */
static void load_fails(const dlrt_model *m, dlrt_data_spec s, const char *want)
{
	dlrt_dataset ds;
	int rc = load(m, s, &ds);
	CHECK(rc == -1, "load of %s should fail", s.files[0]);
	CHECK(has(want), "message should contain \"%s\"", want);
	CHECK(ds.rows == 0 && ds.cols[0].data == NULL, "a failed load leaves an empty dataset");
	if (rc == 0)
		dlrt_free_dataset(&ds);
}

/* ---- safetensors inspection, independent of the runtime's reader ---- */

typedef struct st_info {
	char dtype[16], shape[64];
	uint64_t begin, end;
	const unsigned char *data;   /* start of this tensor's bytes */
} st_info;

static int st_find(const unsigned char *file, size_t n, const char *name, st_info *out)
{
	uint64_t hl = 0;
	char *hdr, key[128], *p, *q;
	int ok = 0;
	if (n < 8)
		return 0;
	for (int i = 0; i < 8; i++)
		hl |= (uint64_t)file[i] << (8 * i);
	if (hl > n - 8)
		return 0;
	hdr = malloc(hl + 1);
	memcpy(hdr, file + 8, hl);
	hdr[hl] = 0;
	snprintf(key, sizeof key, "\"%s\":{\"dtype\":\"", name);
	p = strstr(hdr, key);
	if (p) {
		p += strlen(key);
		q = strchr(p, '"');
		if (q && q - p < 16) {
			memcpy(out->dtype, p, (size_t)(q - p));
			out->dtype[q - p] = 0;
			p = strstr(q, "\"shape\":[");
			if (p) {
				p += 9;
				q = strchr(p, ']');
				if (q && q - p < 64) {
					memcpy(out->shape, p, (size_t)(q - p));
					out->shape[q - p] = 0;
					ok = sscanf(q, "],\"data_offsets\":[%llu,%llu]}",
					            (unsigned long long *)&out->begin,
					            (unsigned long long *)&out->end) == 2;
					out->data = file + 8 + hl + out->begin;
				}
			}
		}
	}
	free(hdr);
	return ok && 8 + hl + out->end <= n;
}

/* A safetensors file with a header of our choosing. */
static void write_st_raw(const char *p, const char *header, const void *data, size_t n)
{
	size_t hl = strlen(header), pad = (8 - hl % 8) % 8;
	unsigned char *buf = malloc(8 + hl + pad + n);
	for (int i = 0; i < 8; i++)
		buf[i] = (unsigned char)((hl + pad) >> (8 * i));
	memcpy(buf + 8, header, hl);
	memset(buf + 8 + hl, ' ', pad);
	if (n)
		memcpy(buf + 8 + hl + pad, data, n);
	write_bytes(p, buf, 8 + hl + pad + n);
	free(buf);
}

static int load_ckpt(const dlrt_model *m, const char *p, dlrt_ckpt_meta *meta)
{
	int rc;
	printf("  load checkpoint %s\n", p);
	capture_begin();
	rc = dlrt_load_checkpoint(m, p, meta);
	capture_end();
	return rc;
}

/* ==== tests ==== */

static void test_rng(void)
{
	static const uint32_t want[6] = {0xa15c02b7, 0x7b47f409, 0xba1d3330,
	                                 0x83d2f293, 0xbfa4784b, 0xcbed606e};
	dlrt_rng r, s;
	double sum = 0, sum2 = 0;
	int counts[10] = {0}, n = 200000;
	/* The reference sequence of pcg32 (pcg32-demo: seed 42, stream 54). */
	dlrt_rng_seed(&r, 42, 54);
	for (int i = 0; i < 6; i++) {
		uint32_t v = dlrt_rng_u32(&r);
		CHECK(v == want[i], "output %d: %08x, expected %08x", i, (unsigned)v, (unsigned)want[i]);
	}
	dlrt_rng_seed(&r, 7, 1);
	for (int i = 0; i < n; i++) {
		double u = dlrt_rng_uniform(&r);
		CHECK(u >= 0 && u < 1, "uniform out of [0,1): %g", u);
		sum += u;
	}
	CHECK(fabs(sum / n - 0.5) < 0.005, "uniform mean %g", sum / n);
	sum = 0;
	for (int i = 0; i < n; i++) {
		double z = dlrt_rng_normal(&r);
		CHECK(isfinite(z), "normal not finite");
		sum += z, sum2 += z * z;
	}
	CHECK(fabs(sum / n) < 0.01, "normal mean %g", sum / n);
	CHECK(fabs(sum2 / n - 1) < 0.02, "normal variance %g", sum2 / n);
	for (int i = 0; i < n; i++) {
		uint32_t k = dlrt_rng_below(&r, 10);
		CHECK(k < 10, "below(10) gave %u", (unsigned)k);
		if (k < 10)
			counts[k]++;
	}
	for (int k = 0; k < 10; k++)
		CHECK(abs(counts[k] - n / 10) < n / 100, "below(10): %d draws of %d", counts[k], k);
	CHECK(dlrt_rng_below(&r, 1) == 0 && dlrt_rng_below(&r, 0) == 0, "below(1), below(0)");
	dlrt_rng_seed(&r, 3, 9);
	dlrt_rng_seed(&s, 3, 9);
	CHECK(dlrt_rng_u32(&r) == dlrt_rng_u32(&s), "same seed and stream, same numbers");
	dlrt_rng_seed(&s, 3, 10);
	CHECK(dlrt_rng_u32(&r) != dlrt_rng_u32(&s), "another stream, other numbers");
}

/* orthogonal, trunc_normal and torch_default: orthonormal rows or columns,
 * bounds, moments and spread. */
static void test_init_torch(void)
{
	static float W[20 * 50], K[60 * 3 * 2 * 2], B[400];
	static double TN[20000], TA[20000], L[784 * 10];
	dlrt_tensor t[6];
	dlrt_model m;
	memset(t, 0, sizeof t);
#define TT(i, nm, dt, n, buf, in, a, b_, c_)                                                  \
	(t[i].name = nm, t[i].role = DLRT_PARAM, t[i].dtype = dt, t[i].rank = 1, t[i].shape[0] = n, \
	 t[i].numel = n, t[i].data = buf, t[i].batch_axis = -1, t[i].init = in, t[i].init_a = a,    \
	 t[i].init_b = b_, t[i].init_c = c_)
	TT(0, "W", DLRT_F32, 20 * 50, W, DLRT_INIT_ORTHOGONAL, 1.5, 0, 0);
	t[0].rank = 2, t[0].shape[0] = 20, t[0].shape[1] = 50;
	TT(1, "K", DLRT_F32, 60 * 12, K, DLRT_INIT_ORTHOGONAL, 1, 0, 0);
	t[1].rank = 4, t[1].shape[0] = 60, t[1].shape[1] = 3, t[1].shape[2] = 2, t[1].shape[3] = 2;
	TT(2, "TN", DLRT_F64, 20000, TN, DLRT_INIT_TRUNC_NORMAL, 1, -2, 2);
	TT(3, "TA", DLRT_F64, 20000, TA, DLRT_INIT_TRUNC_NORMAL, 2, 0, 3);
	TT(4, "L", DLRT_F64, 784 * 10, L, DLRT_INIT_TORCH_DEFAULT, 0, 0, 0);
	t[4].rank = 2, t[4].shape[0] = 784, t[4].shape[1] = 10, t[4].fan_in = 784, t[4].fan_out = 10;
	TT(5, "B", DLRT_F32, 400, B, DLRT_INIT_TORCH_DEFAULT, 784, 0, 0);
	t[5].fan_in = t[5].fan_out = 400;
#undef TT
	memset(&m, 0, sizeof m);
	m.name = "init_torch";
	m.ntensors = 6;
	m.tensors = t;
	dlrt_init_params(&m, 7);
	/* W [20, 50]: W W^T = gain^2 I (rows orthonormal) */
	double worst = 0;
	for (int i = 0; i < 20; i++)
		for (int j = 0; j < 20; j++) {
			double d = 0;
			for (int k = 0; k < 50; k++)
				d += (double)W[i * 50 + k] * W[j * 50 + k];
			worst = fmax(worst, fabs(d - (i == j ? 2.25 : 0)));
		}
	CHECK(worst < 1e-5, "orthogonal [20, 50]: |W W^T - 2.25 I| = %g", worst);
	/* K [60, 3, 2, 2] as [60, 12]: K^T K = I (columns orthonormal) */
	worst = 0;
	for (int i = 0; i < 12; i++)
		for (int j = 0; j < 12; j++) {
			double d = 0;
			for (int k = 0; k < 60; k++)
				d += (double)K[k * 12 + i] * K[k * 12 + j];
			worst = fmax(worst, fabs(d - (i == j)));
		}
	CHECK(worst < 1e-5, "orthogonal [60, 12]: |K^T K - I| = %g", worst);
	/* trunc_normal(1, -2, 2): in [-2, 2], mean 0, std of N(0, 1) truncated
	 * at +-2: sqrt(1 - 4 phi(2) / (Phi(2) - Phi(-2))) = 0.8796 */
	double sum = 0, sum2 = 0, lo = 1e9, hi = -1e9;
	for (int i = 0; i < 20000; i++) {
		sum += TN[i], sum2 += TN[i] * TN[i];
		lo = fmin(lo, TN[i]), hi = fmax(hi, TN[i]);
	}
	CHECK(lo >= -2 && hi <= 2 && lo < -1.95 && hi > 1.95, "trunc_normal range [%g, %g]", lo, hi);
	CHECK(fabs(sum / 20000) < 0.02, "trunc_normal mean %g", sum / 20000);
	CHECK(fabs(sqrt(sum2 / 20000) - 0.8796) < 0.015, "trunc_normal std %g", sqrt(sum2 / 20000));
	/* trunc_normal(2, 0, 3): in [0, 3], mean 2 (phi(0) - phi(1.5)) / (Phi(1.5) - 1/2) = 1.2439 */
	sum = 0, lo = 1e9, hi = -1e9;
	for (int i = 0; i < 20000; i++)
		sum += TA[i], lo = fmin(lo, TA[i]), hi = fmax(hi, TA[i]);
	CHECK(lo >= 0 && hi <= 3, "trunc_normal(2, 0, 3) range [%g, %g]", lo, hi);
	CHECK(fabs(sum / 20000 - 1.2439) < 0.03, "trunc_normal(2, 0, 3) mean %g", sum / 20000);
	/* torch_default: U(+-1/sqrt(784)) from the shape's fan-in, and the same
	 * from the argument for a bias whose own shape says 400 */
	double bound = 1 / sqrt(784.0), mx = 0;
	sum2 = 0;
	for (int i = 0; i < 7840; i++) {
		CHECK(fabs(L[i]) <= bound, "torch_default %g beyond %g", L[i], bound);
		mx = fmax(mx, fabs(L[i]));
		sum2 += L[i] * L[i];
	}
	CHECK(mx > 0.99 * bound, "torch_default spread %g of %g", mx, bound);
	CHECK(fabs(sqrt(sum2 / 7840) - bound / sqrt(3.0)) < 0.02 * bound, "torch_default std %g", sqrt(sum2 / 7840));
	mx = 0;
	for (int i = 0; i < 400; i++) {
		CHECK(fabsf(B[i]) <= bound, "torch_default(784) bias %g beyond %g", B[i], bound);
		mx = fmax(mx, fabs(B[i]));
	}
	CHECK(mx > 0.95 * bound, "torch_default(784) bias spread %g of %g", mx, bound);
}

static void test_init(void)
{
	enum { NA = 100 * 50, NN = 4000 };
	static float A[NA], A2[NA], gA[NA], C[10], D[10], E[10], G[600], S[10];
	static double N[NN], U[1000], H[2000], Z[5];
	dlrt_tensor t[9], t2[10];
	dlrt_model m, m2;
	double bound = sqrt(6.0 / 100), mx = 0, sum = 0, sum2 = 0;
	memset(t, 0, sizeof t);
#define T(i, nm, role_, dt, n, buf, gr, in, a, b_)                                          \
	(t[i].name = nm, t[i].role = role_, t[i].dtype = dt, t[i].rank = 1, t[i].shape[0] = n, \
	 t[i].numel = n, t[i].data = buf, t[i].grad = gr, t[i].batch_axis = -1, t[i].init = in, \
	 t[i].init_a = a, t[i].init_b = b_)
	T(0, "A", DLRT_PARAM, DLRT_F32, NA, A, gA, DLRT_INIT_HE_UNIFORM, 0, 0);
	t[0].fan_in = 100, t[0].fan_out = 50;
	T(1, "N", DLRT_PARAM, DLRT_F64, NN, N, NULL, DLRT_INIT_NORMAL, 2, 0.5);
	T(2, "C", DLRT_PARAM, DLRT_F32, 10, C, NULL, DLRT_INIT_CONST, 3.5, 0);
	T(3, "D", DLRT_PARAM, DLRT_F32, 10, D, NULL, DLRT_INIT_ONES, 0, 0);
	T(4, "E", DLRT_PARAM, DLRT_F32, 10, E, NULL, DLRT_INIT_ZEROS, 0, 0);
	T(5, "U", DLRT_PARAM, DLRT_F64, 1000, U, NULL, DLRT_INIT_UNIFORM, -2, -1);
	T(6, "G", DLRT_PARAM, DLRT_F32, 600, G, NULL, DLRT_INIT_XAVIER_UNIFORM, 2, 0);
	t[6].fan_in = 20, t[6].fan_out = 30;
	T(7, "H", DLRT_PARAM, DLRT_F64, 2000, H, NULL, DLRT_INIT_HE_NORMAL, 0, 0);
	t[7].fan_in = 50;
	T(8, "S", DLRT_STATE, DLRT_F32, 10, S, NULL, DLRT_INIT_NONE, 0, 0);
	for (int i = 0; i < 10; i++)
		E[i] = 9, S[i] = 7;
	for (int i = 0; i < NA; i++)
		gA[i] = 5;
	memset(&m, 0, sizeof m);
	m.name = "init";
	m.ntensors = 9;
	m.tensors = t;
	dlrt_init_params(&m, 1);
	for (int i = 0; i < NA; i++) {
		CHECK(fabsf(A[i]) <= bound, "he_uniform A[%d] = %g beyond %g", i, A[i], bound);
		mx = fmax(mx, fabs(A[i]));
		CHECK(gA[i] == 0, "gradient not zeroed");
		if (fabsf(A[i]) > bound || gA[i] != 0)
			break;
	}
	CHECK(mx > 0.99 * bound, "he_uniform spread: max %g of %g", mx, bound);
	for (int i = 0; i < NN; i++)
		sum += N[i], sum2 += N[i] * N[i];
	CHECK(fabs(sum / NN - 2) < 0.03, "normal mean %g", sum / NN);
	CHECK(fabs(sqrt(sum2 / NN - (sum / NN) * (sum / NN)) - 0.5) < 0.03, "normal std");
	for (int i = 0; i < 10; i++) {
		CHECK(C[i] == 3.5f && D[i] == 1 && E[i] == 0, "const/ones/zeros at %d", i);
		CHECK(S[i] == 0, "state not zeroed");
	}
	for (int i = 0; i < 1000; i++)
		CHECK(U[i] >= -2 && U[i] < -1, "uniform(-2,-1): %g", U[i]);
	bound = 2 * sqrt(6.0 / 50);
	mx = 0;
	for (int i = 0; i < 600; i++) {
		CHECK(fabsf(G[i]) <= bound, "xavier_uniform %g beyond %g", G[i], bound);
		mx = fmax(mx, fabs(G[i]));
	}
	CHECK(mx > 0.95 * bound, "xavier spread %g", mx);
	sum = sum2 = 0;
	for (int i = 0; i < 2000; i++)
		sum += H[i], sum2 += H[i] * H[i];
	CHECK(fabs(sqrt(sum2 / 2000) - sqrt(2.0 / 50)) < 0.02, "he_normal std %g", sqrt(sum2 / 2000));

	/* Each parameter has its own stream: another parameter in front of A
	 * changes nothing about A.  The same seed repeats, another one differs. */
	memcpy(A2, A, sizeof A);
	memcpy(t2 + 1, t, sizeof t);
	memset(&t2[0], 0, sizeof t2[0]);
	t2[0].name = "Z", t2[0].role = DLRT_PARAM, t2[0].dtype = DLRT_F64, t2[0].rank = 1;
	t2[0].shape[0] = t2[0].numel = 5, t2[0].data = Z, t2[0].init = DLRT_INIT_NORMAL;
	t2[0].init_b = 1;
	m2 = m;
	m2.tensors = t2;
	m2.ntensors = 10;
	memset(A, 0, sizeof A);
	dlrt_init_params(&m2, 1);
	CHECK(memcmp(A, A2, sizeof A) == 0, "A changed when a parameter was added");
	dlrt_init_params(&m, 2);
	CHECK(memcmp(A, A2, sizeof A) != 0, "seed 2 gives the same A as seed 1");
	dlrt_init_params(&m, 1);
	CHECK(memcmp(A, A2, sizeof A) == 0, "seed 1 again gives another A");
#undef T
}

static void test_npy(void)
{
	float f[6] = {1.5f, -2, 3, 4.25f, 5, -6};
	unsigned char u[5] = {0, 1, 128, 254, 255};
	int32_t i3[8] = {1, -2, 3, -4, 5, -6, 7, 2147483647};
	double d = -0.125;
	int64_t sf[2] = {2, 3}, su[1] = {5}, si[3] = {2, 2, 2}, shape[DLRT_MAX_RANK];
	dlrt_dtype dt;
	int rank;
	void *data;
	size_t n;
	unsigned char *img;

	CHECK(dlrt_save_npy(path("f.npy"), DLRT_F32, 2, sf, f) == 0, "save f32");
	CHECK(dlrt_load_npy(path("f.npy"), &dt, &rank, shape, &data) == 0, "load f32");
	CHECK(dt == DLRT_F32 && rank == 2 && shape[0] == 2 && shape[1] == 3, "f32 header");
	CHECK(data && memcmp(data, f, sizeof f) == 0, "f32 data");
	free(data);
	img = read_bytes(path("f.npy"), &n);
	CHECK(img && n == 128 + sizeof f, "data starts at a 64-byte boundary (file is %zu bytes)", n);
	CHECK(img && strstr((char *)img + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"),
	      "numpy-style header");
	free(img);
	CHECK(dlrt_save_npy(path("u.npy"), DLRT_U8, 1, su, u) == 0, "save u8");
	CHECK(dlrt_load_npy(path("u.npy"), &dt, &rank, shape, &data) == 0, "load u8");
	CHECK(dt == DLRT_U8 && rank == 1 && shape[0] == 5 && memcmp(data, u, 5) == 0, "u8 round trip");
	free(data);
	CHECK(dlrt_save_npy(path("i.npy"), DLRT_I32, 3, si, i3) == 0, "save i32");
	CHECK(dlrt_load_npy(path("i.npy"), &dt, &rank, shape, &data) == 0, "load i32");
	CHECK(dt == DLRT_I32 && rank == 3 && memcmp(data, i3, sizeof i3) == 0, "i32 round trip");
	free(data);
	CHECK(dlrt_save_npy(path("d.npy"), DLRT_F64, 0, NULL, &d) == 0, "save scalar");
	CHECK(dlrt_load_npy(path("d.npy"), &dt, &rank, shape, &data) == 0, "load scalar");
	CHECK(dt == DLRT_F64 && rank == 0 && *(double *)data == d, "scalar round trip");
	free(data);

	{ /* i8 is narrowed to i32 (must fit); i1 is widened. */
		int64_t v[3] = {1, -2, 3};
		signed char s[4] = {-128, -1, 0, 127};
		write_npy_raw(path("l.npy"), "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, sizeof v);
		CHECK(dlrt_load_npy(path("l.npy"), &dt, &rank, shape, &data) == 0, "load i8");
		CHECK(dt == DLRT_I32 && ((int32_t *)data)[1] == -2 && ((int32_t *)data)[2] == 3, "i8 narrowed");
		free(data);
		v[1] = (int64_t)1 << 40;
		write_npy_raw(path("l.npy"), "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", v, sizeof v);
		capture_begin();
		CHECK(dlrt_load_npy(path("l.npy"), &dt, &rank, shape, &data) == -1, "i8 too large");
		capture_end();
		CHECK(has("expected an integer that fits in i32, found 1099511627776"), "i8 message");
		write_npy_raw(path("b.npy"), "{'descr': '|i1', 'fortran_order': False, 'shape': (2, 2), }", s, 4);
		CHECK(dlrt_load_npy(path("b.npy"), &dt, &rank, shape, &data) == 0, "load i1");
		CHECK(dt == DLRT_I32 && ((int32_t *)data)[0] == -128 && ((int32_t *)data)[3] == 127, "i1 widened");
		free(data);
	}

	{ /* Malformed files: the message names the offset and what was expected. */
		static const struct { const char *dict; const char *want; } bad[] = {
			{"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", "fortran_order False"},
			{"{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", "expected dtype |u1, <i4, <i8, <f4 or <f8, found '<f2'"},
			{"{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", "found '>f4'"},
			{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", "expected only the keys"},
			{"{'descr': <f4, 'fortran_order': False, 'shape': (2, 3), }", "offset 20: expected a quoted string, found '<'"},
			{"{'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 3), }", "expected True or False"},
			{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "expected a dimension size, found 'x'"},
			{"{'descr': '<f4', 'fortran_order': False, }", "found 'shape' missing"},
			{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } junk", "expected the end of the header"},
			{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", "expected 32 bytes of data, found 24 (truncated file)"},
			{"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", "expected end of file after 4 elements, found more data"},
			{"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", "expected a shape of sensible size"},
			{"{'descr': '<f4', 'fortran_order': False, 'shape': (4000000000, 1), }", "truncated file"},
		};
		for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
			write_npy_raw(path("bad.npy"), bad[k].dict, f, sizeof f);
			capture_begin();
			CHECK(dlrt_load_npy(path("bad.npy"), &dt, &rank, shape, &data) == -1, "bad header %zu", k);
			capture_end();
			CHECK(has(bad[k].want), "message should contain \"%s\"", bad[k].want);
		}
		write_text(path("bad.npy"), "PK\x03\x04 not an npy file at all");
		capture_begin();
		CHECK(dlrt_load_npy(path("bad.npy"), &dt, &rank, shape, &data) == -1, "bad magic");
		capture_end();
		CHECK(has("bad.npy: offset 0: expected the NPY magic"), "magic message");
		write_bytes(path("bad.npy"), "\x93NUMPY\x01\x00\xff\x00{'descr'", 17);
		capture_begin();
		CHECK(dlrt_load_npy(path("bad.npy"), &dt, &rank, shape, &data) == -1, "short header");
		capture_end();
		CHECK(has("offset 10: expected a 255-byte header, found end of file"), "short header message");
		write_bytes(path("bad.npy"), "", 0);
		capture_begin();
		CHECK(dlrt_load_npy(path("bad.npy"), &dt, &rank, shape, &data) == -1, "empty file");
		capture_end();
		CHECK(has("expected the NPY magic"), "empty file message");
	}
}

static void test_idx(void)
{
	enum { R = 50, F = 3, K = 2 };
	double X[R * F], Y[R * K];
	float Xf[R * F];
	int32_t Xi[R * F];
	int16_t Xs[R * F];
	unsigned char Xu[R * F];
	uint32_t dx[2] = {R, F}, dy[2] = {R, K}, dx3[3] = {R, 1, F};
	const dlrt_model *m = linear(F, K, 4, DLRT_F64);
	dlrt_dataset ds;

	regression_data(R, F, K, 5, X, Y);
	for (int i = 0; i < R * F; i++) {
		Xf[i] = (float)X[i];
		Xi[i] = (int32_t)(X[i] * 1000);
		Xs[i] = (int16_t)(X[i] * 1000);
		Xu[i] = (unsigned char)(i % 256);
	}
	write_idx(path("x.idx"), 0, 0x0E, 2, dx, X);
	write_idx(path("y.idx"), 0, 0x0E, 2, dy, Y);
	write_idx(path("x.idx.gz"), 1, 0x0E, 3, dx3, X);
	write_idx(path("y.idx.gz"), 1, 0x0E, 2, dy, Y);
	CHECK(load(m, spec2(DLRT_DATA_IDX, "x.idx", "y.idx"), &ds) == 0, "load f64 IDX");
	CHECK(ds.rows == R && ds.ncols == 2 && ds.cols[0].dtype == DLRT_F64 && ds.cols[0].row_elems == F,
	      "f64 IDX columns");
	CHECK(ds.cols[0].data && memcmp(ds.cols[0].data, X, sizeof X) == 0, "f64 IDX x values");
	CHECK(ds.cols[1].data && memcmp(ds.cols[1].data, Y, sizeof Y) == 0, "f64 IDX y values");
	dlrt_free_dataset(&ds);
	CHECK(load(m, spec2(DLRT_DATA_IDX, "x.idx.gz", "y.idx.gz"), &ds) == 0, "load gzipped IDX");
	CHECK(ds.rows == R && ds.cols[0].data && memcmp(ds.cols[0].data, X, sizeof X) == 0, "gz values");
	dlrt_free_dataset(&ds);
	/* Other element types keep their type (narrow ones widened to i32). */
	write_idx(path("xf.idx"), 0, 0x0D, 2, dx, Xf);
	write_idx(path("xi.idx"), 1, 0x0C, 2, dx, Xi);
	write_idx(path("xs.idx"), 0, 0x0B, 2, dx, Xs);
	write_idx(path("xu.idx"), 1, 0x08, 2, dx, Xu);
	CHECK(load(m, spec2(DLRT_DATA_IDX, "xf.idx", "y.idx"), &ds) == 0 && ds.cols[0].dtype == DLRT_F32 &&
	      memcmp(ds.cols[0].data, Xf, sizeof Xf) == 0, "f32 IDX");
	dlrt_free_dataset(&ds);
	CHECK(load(m, spec2(DLRT_DATA_IDX, "xi.idx", "y.idx"), &ds) == 0 && ds.cols[0].dtype == DLRT_I32 &&
	      memcmp(ds.cols[0].data, Xi, sizeof Xi) == 0, "i32 IDX");
	dlrt_free_dataset(&ds);
	CHECK(load(m, spec2(DLRT_DATA_IDX, "xs.idx", "y.idx"), &ds) == 0 && ds.cols[0].dtype == DLRT_I32,
	      "i16 IDX");
	for (int i = 0; ds.cols[0].data && i < R * F; i++)
		CHECK(((int32_t *)ds.cols[0].data)[i] == Xs[i], "i16 value %d", i);
	dlrt_free_dataset(&ds);
	CHECK(load(m, spec2(DLRT_DATA_IDX, "xu.idx", "y.idx"), &ds) == 0 && ds.cols[0].dtype == DLRT_U8 &&
	      memcmp(ds.cols[0].data, Xu, sizeof Xu) == 0, "u8 IDX stays u8");
	dlrt_free_dataset(&ds);

	{ /* Broken files. */
		size_t n;
		unsigned char *img = idx_image(0x0E, 2, dx, X, &n), *gz;
		uint32_t d4[2] = {R, 4}, d40[2] = {40, K}, huge[2] = {2000000000u, F};
		img[0] = 1;
		write_bytes(path("bad.idx"), img, n);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"),
		           "bad.idx: offset 0: expected IDX magic 0x00 0x00, found 0x01 0x00");
		img[0] = 0, img[2] = 0x07;
		write_bytes(path("bad.idx"), img, n);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"), "offset 2: expected IDX type");
		img[2] = 0x0E, img[3] = 0;
		write_bytes(path("bad.idx"), img, n);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"),
		           "offset 3: expected 1 to 8 dimensions, found 0");
		img[3] = 2;
		write_bytes(path("bad.idx"), img, n - 8 * 30);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"),
		           "expected 1200 bytes of data (50 rows), found 960 (truncated file)");
		write_bytes(path("bad.idx"), img, n);
		write_bytes(path("long.idx"), img, n); /* same, plus one byte */
		{
			FILE *f = fopen(path("long.idx"), "ab");
			fputc(0, f);
			fclose(f);
		}
		load_fails(m, spec2(DLRT_DATA_IDX, "long.idx", "y.idx"),
		           "offset 1212: expected end of file after 50 rows, found more data");
		write_bytes(path("bad.idx"), img, 6);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"),
		           "offset 6: expected 2 dimension sizes, found end of file");
		write_bytes(path("bad.idx"), img, 2);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"),
		           "offset 2: expected a 4-byte IDX header, found end of file");
		write_bytes(path("bad.idx"), "", 0);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"),
		           "offset 0: expected a 4-byte IDX header, found end of file");
		/* A header that promises far more than the file holds. */
		put_be32(img + 4, huge[0]);
		write_bytes(path("bad.idx"), img, n);
		load_fails(m, spec2(DLRT_DATA_IDX, "bad.idx", "y.idx"), "(truncated file)");
		/* Truncated and corrupted gzip streams. */
		write_idx(path("big.idx.gz"), 1, 0x0E, 2, dx, X);
		free(img);
		img = read_bytes(path("big.idx.gz"), &n);
		write_bytes(path("cut.idx.gz"), img, n / 2);
		load_fails(m, spec2(DLRT_DATA_IDX, "cut.idx.gz", "y.idx"), "truncated");
		write_bytes(path("cut.idx.gz"), img, n - 4); /* the length trailer cut */
		load_fails(m, spec2(DLRT_DATA_IDX, "cut.idx.gz", "y.idx"), "cut.idx.gz: offset");
		gz = malloc(n);
		memcpy(gz, img, n);
		for (size_t i = 20; i < n - 8; i += 7)
			gz[i] ^= 0x5a;
		write_bytes(path("cut.idx.gz"), gz, n);
		load_fails(m, spec2(DLRT_DATA_IDX, "cut.idx.gz", "y.idx"), "cut.idx.gz: offset");
		free(gz);
		free(img);
		/* Shapes that do not fit the model. */
		static double X4[R * 4];
		write_idx(path("x4.idx"), 0, 0x0E, 2, d4, X4);
		load_fails(m, spec2(DLRT_DATA_IDX, "x4.idx", "y.idx"),
		           "x4.idx: offset 8: expected 3 elements per row (tensor 'x' has shape [4,3]), found 4");
		write_idx(path("y40.idx"), 0, 0x0E, 2, d40, Y);
		load_fails(m, spec2(DLRT_DATA_IDX, "x.idx", "y40.idx"), "y40.idx: offset 4: expected 50 rows");
		load_fails(m, spec2(DLRT_DATA_IDX, "x.idx", NULL),
		           "expected 2 data files (one for each of x, y), found 1");
		load_fails(m, spec2(DLRT_DATA_IDX, "x.idx", "nothere.idx"), "nothere.idx: cannot open");
		load_fails(m, spec2(DLRT_DATA_IDX, ".", "y.idx"), "cannot open: it is a directory");
	}

	{ /* Class labels must be integers in [0, classes). */
		const dlrt_model *c = classifier(F, 3, 4, DLRT_F32, 1.0 / 255);
		unsigned char lab[R];
		float labf[R];
		uint32_t dl[1] = {R};
		for (int i = 0; i < R; i++)
			lab[i] = (unsigned char)(i % 3), labf[i] = (float)(i % 3);
		write_idx(path("l.idx.gz"), 1, 0x08, 1, dl, lab);
		CHECK(load(c, spec2(DLRT_DATA_IDX, "xu.idx", "l.idx.gz"), &ds) == 0, "u8 labels");
		CHECK(ds.cols[1].dtype == DLRT_U8, "labels kept as u8");
		dlrt_free_dataset(&ds);
		lab[5] = 7;
		write_idx(path("l.idx.gz"), 1, 0x08, 1, dl, lab);
		load_fails(c, spec2(DLRT_DATA_IDX, "xu.idx", "l.idx.gz"),
		           "l.idx.gz: offset 13: expected a class label in [0, 3) for 'y', found 7 (row 5)");
		labf[9] = 1.5f;
		write_idx(path("lf.idx"), 0, 0x0D, 1, dl, labf);
		load_fails(c, spec2(DLRT_DATA_IDX, "xu.idx", "lf.idx"),
		           "lf.idx: offset 44: expected a class label in [0, 3) for 'y', found 1.5 (row 9)");
		labf[9] = -1;
		write_idx(path("lf.idx"), 0, 0x0D, 1, dl, labf);
		load_fails(c, spec2(DLRT_DATA_IDX, "xu.idx", "lf.idx"), "found -1 (row 9)");
		/* The same through the trainer: exit status 1. */
		CHECK(run(c, "--train %s,%s --progress never", path("xu.idx"), path("l.idx.gz")) == 1,
		      "trainer exits 1 on bad labels");
		CHECK(has("found 7 (row 5)"), "trainer shows the loader's message");
	}
}

static void test_csv(void)
{
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	const dlrt_model *c;
	dlrt_dataset ds;
	dlrt_data_spec s = spec2(DLRT_DATA_CSV, "d.csv", NULL);

	write_text(path("d.csv"), "x0,x1,x2,y0,y1\r\n1,2,3,4,5\r\n\r\n 6 , 7,8,9,10\r\n-1e-3,0.5,2,3,4.25");
	CHECK(load(m, s, &ds) == 0, "CSV with a header line");
	CHECK(ds.rows == 3 && ds.cols[0].dtype == DLRT_F64 && ds.cols[1].row_elems == 2, "CSV shape");
	CHECK(ds.cols[0].data && ((double *)ds.cols[0].data)[3] == 6 &&
	      ((double *)ds.cols[0].data)[6] == -1e-3, "CSV inputs");
	CHECK(ds.cols[1].data && ((double *)ds.cols[1].data)[3] == 10 &&
	      ((double *)ds.cols[1].data)[5] == 4.25, "CSV labels");
	dlrt_free_dataset(&ds);
	write_text(path("d.csv"), "0,0,0,0,0\n1,2,3,4,5\n");
	s.csv_header = 1;
	CHECK(load(m, s, &ds) == 0 && ds.rows == 1, "csv_header skips a numeric first line");
	dlrt_free_dataset(&ds);
	s.csv_header = 0;
	CHECK(load(m, s, &ds) == 0 && ds.rows == 2, "no header: every line is data");
	dlrt_free_dataset(&ds);

	write_text(path("d.csv"), "a,b,c,d,e\n1,2,3,4,5\n1,2,3,4\n");
	load_fails(m, s, "d.csv:3: expected 5 columns, found 4");
	write_text(path("d.csv"), "1,2,3,4,5,6\n");
	load_fails(m, s, "d.csv:1: expected 5 columns, found 6");
	write_text(path("d.csv"), "1,2,3,4,5\n1,abc,3,4,5\n");
	load_fails(m, s, "d.csv:2: column 2: expected a number, found 'abc'");
	write_text(path("d.csv"), "1,2,3,4,5\n1,,3,4,5\n");
	load_fails(m, s, "d.csv:2: column 2: expected a number, found ''");
	write_text(path("d.csv"), "1,2,3,4,5\n1,2 3,4,5\n");
	load_fails(m, s, "d.csv:2: column 2: expected ',' or the end of the line, found '3'");
	write_text(path("d.csv"), "a,b,c\n\n");
	load_fails(m, s, "expected at least one row of data, found none");
	write_text(path("d.csv"), "");
	load_fails(m, s, "expected at least one row of data, found none");
	{
		size_t n;
		unsigned char *img;
		write_gz(path("z.csv.gz"), "1,2,3,4,5\n6,7,8,9,10\n11,12,13,14,15\n", 36);
		s.files[0] = "z.csv.gz";
		CHECK(load(m, s, &ds) == 0 && ds.rows == 3, "gzipped CSV");
		dlrt_free_dataset(&ds);
		img = read_bytes(path("z.csv.gz"), &n);
		write_bytes(path("z.csv.gz"), img, n - 12);
		free(img);
		load_fails(m, s, "z.csv.gz:");
		s.files[0] = "d.csv";
	}
	c = classifier(3, 4, 4, DLRT_F32, 0);
	write_text(path("d.csv"), "1,2,3,0\n1,2,3,3\n1,2,3,2.5\n");
	load_fails(c, s, "d.csv:3: column 4: expected a class label in [0, 4) for 'y', found 2.5");
	write_text(path("d.csv"), "1,2,3,0\n1,2,3,4\n");
	load_fails(c, s, "d.csv:2: column 4: expected a class label in [0, 4) for 'y', found 4");
	write_text(path("d.csv"), "1,2,3,0\n1,2,3,3\n");
	CHECK(load(c, s, &ds) == 0 && ds.cols[1].dtype == DLRT_I32 && ds.cols[0].dtype == DLRT_F32,
	      "CSV columns take the tensors' dtypes");
	CHECK(ds.cols[1].data && ((int32_t *)ds.cols[1].data)[1] == 3, "CSV class label");
	dlrt_free_dataset(&ds);
	/* Training from CSV, with the trainer's exit status on a broken file. */
	write_text(path("t.csv"), "1,0,0,0\n0,1,0,1\n0,0,1,2\n1,1,0,3\n0,0,0,0\n");
	CHECK(run(c, "--train %s --epochs 3 --progress never", path("t.csv")) == 0, "train from CSV");
	CHECK(has("5 training images"), "CSV rows counted");
	write_text(path("t.csv"), "1,0,0,0\n0,1,0\n");
	CHECK(run(c, "--train %s --progress never", path("t.csv")) == 1, "bad CSV: exit 1");
	CHECK(has("t.csv:2: expected 4 columns, found 3"), "bad CSV message");
}

static void test_gather(void)
{
	const dlrt_model *m = classifier(4, 3, 4, DLRT_F32, 1.0 / 255);
	unsigned char xu[12] = {0, 51, 102, 255, 1, 2, 3, 4, 255, 0, 128, 17};
	int32_t lab[3] = {2, 0, 1};
	double xd[12];
	int64_t idx[2] = {2, 0};
	dlrt_dataset ds;
	float *x = m->tensors[2].data;
	int32_t *y = m->tensors[3].data;
	memset(&ds, 0, sizeof ds);
	ds.rows = 3;
	ds.ncols = 2;
	ds.cols[0].dtype = DLRT_U8, ds.cols[0].row_elems = 4, ds.cols[0].data = xu;
	ds.cols[1].dtype = DLRT_I32, ds.cols[1].row_elems = 1, ds.cols[1].data = lab;
	for (int i = 0; i < 16; i++)
		x[i] = NAN;
	for (int i = 0; i < 4; i++)
		y[i] = 99;
	dlrt_gather_batch(m, &ds, idx, 2);
	for (int j = 0; j < 4; j++) {
		CHECK(x[j] == (float)xu[8 + j] * (float)(1.0 / 255), "row 0 = data row 2, scaled: %g", x[j]);
		CHECK(x[4 + j] == (float)xu[j] * (float)(1.0 / 255), "row 1 = data row 0, scaled");
		CHECK(x[8 + j] == 0 && x[12 + j] == 0, "rows past n are zero");
	}
	CHECK(y[0] == 1 && y[1] == 2 && y[2] == 0 && y[3] == 0, "labels gathered, rest zero");
	/* f64 data into an f32 tensor; no scale for non-u8 data. */
	for (int i = 0; i < 12; i++)
		xd[i] = i * 0.5;
	ds.cols[0].dtype = DLRT_F64, ds.cols[0].data = xd;
	idx[0] = 1;
	dlrt_gather_batch(m, &ds, idx, 1);
	CHECK(x[0] == 2.0f && x[3] == 3.5f && x[4] == 0, "f64 -> f32 unscaled: %g %g", x[0], x[3]);
	/* input_scale 0 means 1. */
	m = classifier(4, 3, 4, DLRT_F64, 0);
	ds.cols[0].dtype = DLRT_U8, ds.cols[0].data = xu;
	dlrt_gather_batch(m, &ds, idx, 1);
	CHECK(((double *)m->tensors[2].data)[3] == 4.0, "u8 -> f64 with input_scale 0");
}

static void test_safetensors(void)
{
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	double *W = m->tensors[0].data, *b = m->tensors[1].data, *vW = m->tensors[5].data;
	double W0[6], b0[2], vW0[6];
	dlrt_ckpt_meta meta = {3, 17, 5}, got;
	unsigned char *img;
	size_t n;
	st_info si;

	dlrt_init_params(m, 5);
	for (int i = 0; i < 6; i++)
		vW[i] = 1.0 / (i + 3);   /* state with values that are not exact in decimal */
	b[1] = -0.1;
	memcpy(W0, W, sizeof W0);
	memcpy(b0, b, sizeof b0);
	memcpy(vW0, vW, sizeof vW0);
	CHECK(dlrt_save_checkpoint(m, path("ck.st"), &meta) == 0, "save");
	img = read_bytes(path("ck.st"), &n);
	CHECK(img != NULL, "checkpoint written");
	if (!img)
		return;
	{
		uint64_t hl = 0;
		for (int i = 0; i < 8; i++)
			hl |= (uint64_t)img[i] << (8 * i);
		CHECK(hl % 8 == 0 && 8 + hl <= n, "header length %llu is a multiple of 8", (unsigned long long)hl);
		CHECK(!memcmp(img + 8, "{\"__metadata__\":{\"format\":\"dlc\",\"model\":\"toy_linear\","
		              "\"epoch\":\"3\",\"step\":\"17\",\"seed\":\"5\"}", 83), "metadata");
		CHECK(n == 8 + hl + 6 * 8 * 2 + 2 * 8 * 2, "file size %zu", n);
	}
	CHECK(st_find(img, n, "W", &si) && !strcmp(si.dtype, "F64") && !strcmp(si.shape, "3,2") &&
	      si.begin == 0 && si.end == 48, "W entry");
	CHECK(st_find(img, n, "W", &si) && !memcmp(si.data, W0, sizeof W0), "W bytes");
	CHECK(st_find(img, n, "v_W", &si) && !memcmp(si.data, vW0, sizeof vW0), "state saved");
	CHECK(!st_find(img, n, "x", &si) && !st_find(img, n, "pred", &si), "only params and state");
	free(img);
	{ /* No temporary file is left behind. */
		DIR *d = opendir(g_dir);
		struct dirent *e;
		while (d && (e = readdir(d)) != NULL)
			CHECK(!strstr(e->d_name, ".tmp"), "leftover %s", e->d_name);
		if (d)
			closedir(d);
	}
	/* Bit-exact round trip. */
	dlrt_init_params(m, 77);
	memset(vW, 0, sizeof vW0);
	CHECK(load_ckpt(m, path("ck.st"), &got) == 0, "load");
	CHECK(!memcmp(W, W0, sizeof W0) && !memcmp(b, b0, sizeof b0) && !memcmp(vW, vW0, sizeof vW0),
	      "values are bit-exact");
	CHECK(got.epoch == 3 && got.step == 17 && got.seed == 5, "metadata read back");
	CHECK(dlrt_save_checkpoint(m, path("ck2.st"), &meta) == 0 && same_file(path("ck.st"), path("ck2.st")),
	      "save after load gives the same file");

	{ /* Broken checkpoints; the model must stay as it was. */
		static const struct { const char *header; size_t data; const char *want; } bad[] = {
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]}}", 63,
			 "tensor 'b': expected data_offsets within the 63-byte data section, found [48,64]"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[40,56]}}", 64,
			 "tensor 'b': expected data after byte 48 (where 'W' ends), found data_offsets starting at 40"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,40]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]}}", 64,
			 "tensor 'W': expected 48 bytes for F64 [3,2], found data_offsets [0,40] (40 bytes)"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]};"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]}}", 64,
			 "offset 64: expected ',' or '}' after a header entry, found ';'"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]}", 64,
			 "expected ',' or '}' after a header entry, found end of header"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,-2],\"data_offsets\":[0,48]}}", 48,
			 "offset 39: expected a dimension size, found '-'"},
			{"{\"W\":{\"dtype\":\"X99\",\"shape\":[3,2],\"data_offsets\":[0,48]}}", 48,
			 "expected a safetensors dtype (F32, F64, I32, ...), found 'X99'"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"offsets\":[0,48]}}", 48,
			 "expected \"dtype\", \"shape\" or \"data_offsets\", found '\"'"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2]}}", 48, "expected \"data_offsets\" before '}'"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]},"
			 "\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]}}", 48,
			 "expected a new tensor name, found 'W' again"},
			{"{\"__metadata__\":{\"a\":[1,{\"b\":tru}]}}", 0, "expected a JSON value, found 't'"},
			{"[1,2]", 0, "offset 8: expected '{' starting the header, found '['"},
			{"{\"W\\q\":1}", 0, "expected a valid escape"},
			{"{\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", 16,
			 "missing tensor 'W' (expected F64 [3,2])"},
			{"{\"W\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[24,40]}}", 40,
			 "tensor 'W': expected F64 [3,2], found F32 [3,2]"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[2,3],\"data_offsets\":[0,48]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]}}", 64,
			 "tensor 'W': expected F64 [3,2], found F64 [2,3]"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]},"
			 "\"Q\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[64,72]}}", 72,
			 "unknown tensor 'Q' in"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]},"
			 "\"x\":{\"dtype\":\"F64\",\"shape\":[4,3],\"data_offsets\":[64,160]}}", 160,
			 "unknown tensor 'x' in"},
			{"{\"W\":{\"dtype\":\"F64\",\"shape\":[3,2],\"data_offsets\":[0,48]},"
			 "\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[48,64]},"
			 "\"v_W\":{\"dtype\":\"F64\",\"shape\":[6],\"data_offsets\":[64,112]}}", 112,
			 "tensor 'v_W': expected F64 [3,2], found F64 [6]"},
		};
		unsigned char zeros[256] = {0};
		for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
			write_st_raw(path("bad.st"), bad[k].header, zeros, bad[k].data);
			CHECK(load_ckpt(m, path("bad.st"), NULL) == -1, "broken checkpoint %zu loads", k);
			CHECK(has(bad[k].want), "message should contain \"%s\"", bad[k].want);
			CHECK(!memcmp(W, W0, sizeof W0), "a failed load changed W");
		}
		write_bytes(path("bad.st"), "\x10\0\0\0", 4);
		CHECK(load_ckpt(m, path("bad.st"), NULL) == -1, "4-byte file");
		CHECK(has("offset 0: expected an 8-byte header length, found a 4-byte file"), "short file message");
		write_bytes(path("bad.st"), "\xff\xff\xff\xff\xff\xff\xff\x7f{}      ", 16);
		CHECK(load_ckpt(m, path("bad.st"), NULL) == -1, "huge header length");
		CHECK(has("offset 0: expected a header length between 2 and 8 (the file has 16 bytes)"),
		      "header length message");
		img = read_bytes(path("ck.st"), &n);
		write_bytes(path("bad.st"), img, n - 1);
		CHECK(load_ckpt(m, path("bad.st"), NULL) == -1, "truncated checkpoint");
		CHECK(has("expected data_offsets within the"), "truncated checkpoint message");
		write_bytes(path("bad.st"), img, 100);
		CHECK(load_ckpt(m, path("bad.st"), NULL) == -1, "checkpoint cut inside the header");
		CHECK(has("expected a header length between 2 and 92"), "cut header message");
		free(img);
		CHECK(load_ckpt(m, path("none.st"), NULL) == -1 && has("none.st: cannot open"), "missing file");
		CHECK(load_ckpt(m, g_dir, NULL) == -1 && has("cannot open: not a regular file"), "a directory");
	}
	{ /* State is optional: missing -> zero, with one note. */
		dlrt_named t[2] = {{"W", DLRT_F64, 2, {3, 2}, W0}, {"b", DLRT_F64, 1, {2}, b0}};
		CHECK(dlrt_write_safetensors(path("nostate.st"), t, 2, NULL) == 0, "write params only");
		CHECK(load_ckpt(m, path("nostate.st"), &got) == 0, "load without state");
		CHECK(has("note: ") && has("has no v_W, v_b; starting them from their initial values"), "one note for both");
		CHECK(vW[0] == 0 && vW[5] == 0 && !memcmp(W, W0, sizeof W0), "state zeroed, params loaded");
		CHECK(got.epoch == 0 && got.step == 0, "no metadata: zeros");
		t[1].name = "W";
		capture_begin();
		CHECK(dlrt_write_safetensors(path("dup.st"), t, 2, NULL) == -1, "duplicate names refused");
		capture_end();
		CHECK(has("two tensors named 'W'"), "duplicate message");
		capture_begin();
		CHECK(dlrt_save_checkpoint(m, path("no/such/dir/ck.st"), &meta) == -1, "save into a missing dir");
		capture_end();
		CHECK(has("cannot create a temporary file beside it"), "missing dir message");
	}
	{ /* A header written by another tool: escapes, unicode, other metadata. */
		const char *h = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"caf\\u00e9 \\ud83d\\ude00\"},"
		                " \"b\" : {\"shape\":[2],\"dtype\":\"F64\",\"data_offsets\":[48,64]},"
		                "\"\\u0057\":{\"data_offsets\":[0,48],\"dtype\":\"F64\",\"shape\":[3,2]}}";
		unsigned char data[64];
		memcpy(data, W0, 48);
		memcpy(data + 48, b0, 16);
		dlrt_init_params(m, 99);
		CHECK(load_ckpt(m, path("ck.st"), NULL) == 0, "reload");
		write_st_raw(path("other.st"), h, data, 64);
		dlrt_init_params(m, 99);
		CHECK(load_ckpt(m, path("other.st"), NULL) == 0, "foreign header order and escapes");
		CHECK(!memcmp(W, W0, sizeof W0) && !memcmp(b, b0, sizeof b0), "foreign values");
	}
}

static void test_flags(void)
{
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	regression_files(20, 8, 3, 2);
	CHECK(run(m, "--bogus") == 2 && has("unknown flag '--bogus'") && has("usage:"), "unknown flag");
	CHECK(run(m, "--epochs=x") == 2 && has("--epochs: expected a whole number >= 0, found 'x'"), "bad int");
	CHECK(run(m, "--lr nan") == 2 && has("--lr: expected a number"), "bad float");
	CHECK(run(m, "--epochs -1") == 2, "negative epochs");
	CHECK(run(m, "--seed") == 2 && has("--seed needs a value"), "missing value");
	CHECK(run(m, "--eval=1") == 2 && has("--eval takes no value"), "value for a switch");
	CHECK(run(m, "stray") == 2 && has("unexpected argument 'stray'"), "positional argument");
	CHECK(run(m, "--progress sometimes") == 2 && has("auto, always or never"), "bad --progress");
	CHECK(run(m, "--tol 0") == 2, "bad --tol");
	CHECK(run(m, "--batch-from a.npy") == 2 && has("--batch-from is for"), "--batch-from alone");
	CHECK(run(m, "--help") == 0 && has("usage: toy [flags]") && has("--dump-grads PATH"), "--help");
	CHECK(run(m, "--progress never") == 1 && has("has no training data; give it with --train"),
	      "no training data");
	CHECK(run(m, "--train=%s,%s --epochs=2 --lr=0.05 --seed=9 --progress=never", path("x.npy"),
	          path("y.npy")) == 0 && has("epoch 2/2:") && has("lr 0.05") && has("seed 9"),
	      "--flag=value forms");
	CHECK(run(m, "--data %s --train x.npy,y.npy --test tx.npy,ty.npy --progress never", g_dir) == 0 &&
	      has("test: loss"), "--data resolves relative paths");
	CHECK(run(m, "--train %s,%s --test %s --progress never", path("x.npy"), path("y.npy"),
	          path("tx.npy")) == 1 && has("expected 2 data files"), "test file count");
	CHECK(run(m, "--train %s,%s --progress never", path("x.npy"), path("y.csv")) == 1 &&
	      has("expected files of one kind"), "mixed kinds");
	CHECK(run(m, "--train %s, --progress never", path("x.npy")) == 1 && has("empty entry"), "empty entry");
}

/* Training loss of epoch e from the captured output. */
static double epoch_loss(int e)
{
	char key[32];
	const char *p;
	snprintf(key, sizeof key, "epoch %d/", e);
	p = g_out ? strstr(g_out, key) : NULL;
	p = p ? strstr(p, "train loss ") : NULL;
	return p ? atof(p + 11) : NAN;
}

static void test_train(void)
{
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	double first, last;
	regression_files(50, 20, 3, 2);
	CHECK(run(m, "--train %s,%s --test %s,%s --epochs 30 --lr 0.05 --progress never", path("x.npy"),
	          path("y.npy"), path("tx.npy"), path("ty.npy")) == 0, "train");
	CHECK(has("toy_linear: 8 parameters, 50 training images, batch 4, sgd lr 0.05 momentum 0.9, "
	          "30 epochs, seed 1"), "first line");
	first = epoch_loss(1);
	last = epoch_loss(30);
	CHECK(first > 0.05 && last < first / 100 && last < 1e-3, "loss %g -> %g", first, last);
	CHECK(has("train: 30 epochs, 390 steps, 1500 images in"), "13 steps per epoch (last batch of 2 kept)");
	CHECK(matches("test: loss 0\\.000[0-9]+ \\(20 images\\)"), "test loss without accuracy");
	CHECK(matches("epoch 30/30: train loss [0-9.]+, [0-9]+ images/s, [0-9.]+ s"), "epoch line");
	/* Determinism: the seed fixes initialisation and shuffling. */
	CHECK(run(m, "--train %s,%s --epochs 3 --seed 3 --save %s --quiet", path("x.npy"), path("y.npy"),
	          path("a.st")) == 0, "run a");
	CHECK(!has("epoch 1/3") && !has("toy_linear:") && has("train: 3 epochs"), "--quiet");
	CHECK(run(m, "--train %s,%s --epochs 3 --seed 3 --save %s --quiet", path("x.npy"), path("y.npy"),
	          path("b.st")) == 0, "run b");
	CHECK(same_file(path("a.st"), path("b.st")), "same seed, same checkpoint");
	CHECK(run(m, "--train %s,%s --epochs 3 --seed 4 --save %s --quiet", path("x.npy"), path("y.npy"),
	          path("c.st")) == 0, "run c");
	CHECK(!same_file(path("a.st"), path("c.st")), "another seed, another checkpoint");
	/* --steps stops early, also inside an epoch. */
	CHECK(run(m, "--train %s,%s --epochs 10 --steps 5 --progress never", path("x.npy"), path("y.npy")) == 0 &&
	      has("train: 1 epoch, 5 steps, 20 images"), "--steps 5");
	CHECK(run(m, "--train %s,%s --epochs 10 --steps 20 --progress never", path("x.npy"), path("y.npy")) == 0 &&
	      has("epoch 2/10:") && !has("epoch 3/10") && has("train: 2 epochs, 20 steps, 78 images"), "--steps 20");
	CHECK(run(m, "--train %s,%s --test %s,%s --epochs 0", path("x.npy"), path("y.npy"), path("tx.npy"),
	          path("ty.npy")) == 0 && !has("train:") && has("test: loss"), "--epochs 0 only evaluates");
	/* Progress lines when asked for (none are due in so short a run). */
	CHECK(run(m, "--train %s,%s --epochs 2 --progress always", path("x.npy"), path("y.npy")) == 0,
	      "--progress always");
	/* A diverging run stops on the first non-finite loss. */
	CHECK(run(m, "--train %s,%s --epochs 50 --lr 1e3 --progress never", path("x.npy"), path("y.npy")) == 1,
	      "divergence exits 1");
	CHECK(matches("dlrt: loss is (nan|inf) at epoch [0-9]+ step [0-9]+; stopping") &&
	      has("--check-numerics finds the first tensor"), "divergence message");
}

static void test_checkpoint(void)
{
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	double W1[6], b1[2], v1[6];
	char test_line[128] = "", *p;
	size_t na, nb;
	unsigned char *a, *b;
	st_info sa, sb;
	regression_files(50, 20, 3, 2);
	CHECK(run(m, "--train %s,%s --test %s,%s --epochs 4 --save %s --progress never", path("x.npy"),
	          path("y.npy"), path("tx.npy"), path("ty.npy"), path("ck.st")) == 0, "train and save");
	CHECK(has("checkpoint: "), "checkpoint line");
	p = g_out ? strstr(g_out, "test: loss ") : NULL;
	if (p)
		sscanf(p, "%127[^\n]", test_line);
	memcpy(W1, m->tensors[0].data, sizeof W1);
	memcpy(b1, m->tensors[1].data, sizeof b1);
	memcpy(v1, m->tensors[5].data, sizeof v1);
	/* --load restores the trained values bit for bit, and --eval agrees. */
	dlrt_init_params(m, 1234);
	CHECK(run(m, "--load %s --test %s,%s --eval", path("ck.st"), path("tx.npy"), path("ty.npy")) == 0,
	      "load and evaluate");
	CHECK(has("loaded ") && has("(epoch 4, step 52)"), "load line with metadata");
	CHECK(test_line[0] && has(test_line), "--eval gives the same \"%s\"", test_line);
	CHECK(!memcmp(W1, m->tensors[0].data, sizeof W1) && !memcmp(b1, m->tensors[1].data, sizeof b1) &&
	      !memcmp(v1, m->tensors[5].data, sizeof v1), "params and state bit-exact after --load");
	CHECK(run(m, "--load %s --train %s,%s --eval", path("ck.st"), path("x.npy"), path("y.npy")) == 0 &&
	      has("train: loss"), "--eval without a test set uses the training set");
	/* Load, train for zero epochs, save: the same tensor bytes. */
	CHECK(run(m, "--load %s --train %s,%s --epochs 0 --save %s", path("ck.st"), path("x.npy"),
	          path("y.npy"), path("ck2.st")) == 0, "load and save again");
	a = read_bytes(path("ck.st"), &na);
	b = read_bytes(path("ck2.st"), &nb);
	CHECK(a && b && st_find(a, na, "W", &sa) && st_find(b, nb, "W", &sb) && !memcmp(sa.data, sb.data, 48),
	      "W round trip");
	CHECK(a && b && st_find(a, na, "v_b", &sa) && st_find(b, nb, "v_b", &sb) && !memcmp(sa.data, sb.data, 16),
	      "v_b round trip");
	free(a);
	free(b);
	/* Resuming continues from the loaded values, not from the seed; --epochs
	 * is the total, so 5 after 4 is one more. */
	CHECK(run(m, "--load %s --train %s,%s --epochs 5 --save %s --progress never", path("ck.st"),
	          path("x.npy"), path("y.npy"), path("ck3.st")) == 0 && epoch_loss(5) < 1e-2 &&
	      !has("epoch 4/5") && has("resuming at epoch 5, step 53 of 65") &&
	      has("train: 1 epoch, 13 steps"), "training resumes from the checkpoint");
	a = read_bytes(path("ck3.st"), &na);
	CHECK(a && strstr((char *)a + 8, "\"epoch\":\"5\",\"step\":\"65\""), "epochs and steps count on");
	free(a);
	/* Mismatches through the trainer: exit 1 and a message. */
	CHECK(run(m, "--load %s --train %s,%s", path("none.st"), path("x.npy"), path("y.npy")) == 1 &&
	      has("none.st: cannot open"), "missing checkpoint");
	m = linear(3, 2, 4, DLRT_F32);
	CHECK(run(m, "--load %s --train %s,%s", path("ck.st"), path("x.npy"), path("y.npy")) == 1 &&
	      has("tensor 'W': expected F32 [3,2], found F64 [3,2]"), "dtype mismatch");
	m = linear(4, 2, 4, DLRT_F64);
	CHECK(run(m, "--load %s --dump-forward %s", path("ck.st"), path("f.st")) == 1 &&
	      has("tensor 'W': expected F64 [4,2], found F64 [3,2]"), "shape mismatch");
	CHECK(run(m, "--dump-grads %s", path("g.st")) == 0, "dump gradients");
	CHECK(run(m, "--load %s --dump-forward %s", path("g.st"), path("f.st")) == 1 &&
	      has("unknown tensor 'loss' in"), "a gradient dump is not a checkpoint");
}

static void test_dump(void)
{
	enum { F = 3, K = 2, B = 8, N = 5 };
	const dlrt_model *m = linear(F, K, B, DLRT_F64);
	double X[9 * F], Y[9 * K], W[F * K], bias[K], dp[N * K], L = 0;
	int64_t sx[2] = {N, F}, sy[2] = {N, K};
	unsigned char *img;
	size_t n;
	st_info si;
	regression_data(9, F, K, 3, X, Y);
	dlrt_save_npy(path("bx.npy"), DLRT_F64, 2, sx, X);
	dlrt_save_npy(path("by.npy"), DLRT_F64, 2, sy, Y);
	CHECK(run(m, "--batch-from %s,%s --dump-grads %s --seed 2", path("bx.npy"), path("by.npy"),
	          path("g.st")) == 0, "--dump-grads");
	CHECK(has("(5 rows)"), "five rows used");
	/* The expected values, computed here from the same initial parameters. */
	dlrt_init_params(m, 2);
	memcpy(W, m->tensors[0].data, sizeof W);
	memcpy(bias, m->tensors[1].data, sizeof bias);
	for (int r = 0; r < N; r++)
		for (int k = 0; k < K; k++) {
			double s = bias[k];
			for (int f = 0; f < F; f++)
				s += X[r * F + f] * W[f * K + k];
			dp[r * K + k] = (s - Y[r * K + k]) / N;
			L += 0.5 * (s - Y[r * K + k]) * (s - Y[r * K + k]) / N;
		}
	img = read_bytes(path("g.st"), &n);
	CHECK(img && st_find(img, n, "loss", &si) && !strcmp(si.dtype, "F64") && !strcmp(si.shape, "") &&
	      si.end - si.begin == 8, "loss is a scalar");
	if (img && st_find(img, n, "loss", &si)) {
		double v;
		memcpy(&v, si.data, 8);
		CHECK(fabs(v - L) < 1e-12, "loss %.17g, expected %.17g", v, L);
	}
	CHECK(img && st_find(img, n, "pred", &si) && !strcmp(si.shape, "5,2") && si.end - si.begin == 80,
	      "outputs: first n rows");
	CHECK(img && st_find(img, n, "d_W", &si) && !strcmp(si.shape, "3,2"), "d_W entry");
	if (img && st_find(img, n, "d_W", &si))
		for (int f = 0; f < F; f++)
			for (int k = 0; k < K; k++) {
				double want = 0, v;
				for (int r = 0; r < N; r++)
					want += X[r * F + f] * dp[r * K + k];
				memcpy(&v, si.data + 8 * (f * K + k), 8);
				CHECK(fabs(v - want) < 1e-12, "d_W[%d,%d] = %g, expected %g", f, k, v, want);
			}
	CHECK(img && st_find(img, n, "d_b", &si) && !strcmp(si.shape, "2"), "d_b entry");
	CHECK(img && !st_find(img, n, "d_x", &si) && !st_find(img, n, "v_W", &si), "nothing else");
	free(img);
	CHECK(run(m, "--batch-from %s,%s --dump-forward %s --seed 2", path("bx.npy"), path("by.npy"),
	          path("f.st")) == 0, "--dump-forward");
	img = read_bytes(path("f.st"), &n);
	CHECK(img && st_find(img, n, "loss", &si) && st_find(img, n, "pred", &si) && !st_find(img, n, "d_W", &si),
	      "forward dump: loss and outputs only");
	free(img);
	sx[0] = sy[0] = 9;
	dlrt_save_npy(path("bx.npy"), DLRT_F64, 2, sx, X);
	dlrt_save_npy(path("by.npy"), DLRT_F64, 2, sy, Y);
	CHECK(run(m, "--batch-from %s,%s --dump-grads %s", path("bx.npy"), path("by.npy"), path("g.st")) == 1 &&
	      has("expected at most 8 rows (the batch size), found 9"), "too many rows");
	CHECK(run(m, "--dump-grads %s", path("g.st")) == 0 && has("(8 rows)"), "random batch");
	img = read_bytes(path("g.st"), &n);
	CHECK(img && st_find(img, n, "pred", &si) && !strcmp(si.shape, "8,2"), "random batch: all rows");
	free(img);
	write_bytes(path("bad.npy"), "\x93NUMPY\x01\x00\x0f\x00{'descr': zz}  ", 25);
	CHECK(run(m, "--batch-from %s,%s --dump-grads %s", path("bad.npy"), path("by.npy"), path("g.st")) == 1 &&
	      has("bad.npy: offset 20: expected a quoted string, found 'z'"), "bad npy header through the trainer");
}

static void test_gradcheck(void)
{
	toy_config c = {.features = 3, .outputs = 2, .batch = 4, .dtype = DLRT_F64};
	const dlrt_model *m = toy_build(&c);
	double W[6];
	CHECK(run(m, "--gradcheck") == 0, "linear f64 passes");
	CHECK(has("gradcheck W: max abs err") && has("(6 of 6 elements)") && has("gradcheck b:") &&
	      has("gradcheck: passed (2 parameters, f64)"), "per-parameter lines");
	/* The parameters are left exactly as initialised. */
	memcpy(W, m->tensors[0].data, sizeof W);
	dlrt_init_params(m, 1);
	CHECK(!memcmp(W, m->tensors[0].data, sizeof W), "values restored exactly");

	c.classifier = 1, c.features = 20, c.outputs = 15, c.batch = 6;
	m = toy_build(&c);
	CHECK(run(m, "--gradcheck --seed 5") == 0, "classifier f64 passes");
	CHECK(has("(64 of 300 elements)") && has("(15 of 15 elements)"), "sampling large tensors");
	regression_files(8, 4, 3, 2);
	c = (toy_config){.features = 3, .outputs = 2, .batch = 8, .dtype = DLRT_F64};
	m = toy_build(&c);
	CHECK(run(m, "--gradcheck --batch-from %s,%s", path("tx.npy"), path("ty.npy")) == 0,
	      "gradcheck on a batch from files");

	/* A wrong gradient must be caught. */
	c = (toy_config){.features = 3, .outputs = 2, .batch = 4, .dtype = DLRT_F64, .broken_grad = 1};
	m = toy_build(&c);
	CHECK(run(m, "--gradcheck") == 1, "broken gradient fails");
	CHECK(has("gradcheck W[0,0] (element 0): analytic") && has("gradcheck failed for 1 of 2 parameters"),
	      "the failure names the parameter and element");
	c = (toy_config){.features = 20, .outputs = 15, .batch = 6, .dtype = DLRT_F64, .classifier = 1, .broken_grad = 1};
	m = toy_build(&c);
	CHECK(run(m, "--gradcheck") == 1 && has("gradcheck W[") && has("gradcheck failed"),
	      "found among sampled elements too");
	CHECK(run(m, "--gradcheck --tol 3") == 0, "--tol loosens the check");

	/* f32: a warning and looser tolerances. */
	c = (toy_config){.features = 5, .outputs = 3, .batch = 4, .dtype = DLRT_F32, .classifier = 1};
	m = toy_build(&c);
	CHECK(run(m, "--gradcheck") == 0 && has("only meaningful in f64"), "f32 passes with a warning");
}

static void test_classifier(void)
{
	/* Three classes told apart by which of four pixels is brightest, stored
	 * the way Fashion-MNIST is: gzipped u8 IDX, images 2x2, labels u8. */
	enum { R = 300, T = 90 };
	const dlrt_model *m = classifier(4, 3, 16, DLRT_F32, 1.0 / 255);
	unsigned char img[R * 4], lab[R];
	uint32_t di[3] = {R, 2, 2}, dl[1] = {R}, dti[3] = {T, 2, 2}, dtl[1] = {T};
	dlrt_rng r;
	double acc = 0;
	const char *p;
	dlrt_rng_seed(&r, 8, 8);
	for (int i = 0; i < R; i++) {
		int k = (int)dlrt_rng_below(&r, 3);
		for (int j = 0; j < 4; j++)
			img[i * 4 + j] = (unsigned char)dlrt_rng_below(&r, 100);
		img[i * 4 + k] = (unsigned char)(155 + dlrt_rng_below(&r, 100));
		lab[i] = (unsigned char)k;
	}
	write_idx(path("train-images.gz"), 1, 0x08, 3, di, img);
	write_idx(path("train-labels.gz"), 1, 0x08, 1, dl, lab);
	write_idx(path("test-images.gz"), 1, 0x08, 3, dti, img + 4 * (R - T));
	write_idx(path("test-labels.gz"), 1, 0x08, 1, dtl, lab + (R - T));
	CHECK(run(m, "--data %s --train train-images.gz,train-labels.gz --test test-images.gz,test-labels.gz "
	          "--epochs 20 --lr 0.5 --progress never", g_dir) == 0, "train the classifier");
	CHECK(epoch_loss(20) < epoch_loss(1) / 2, "loss falls");
	p = g_out ? strstr(g_out, "test: loss ") : NULL;
	p = p ? strstr(p, "accuracy ") : NULL;
	if (p)
		acc = atof(p + 9);
	CHECK(acc >= 90, "test accuracy %g%%", acc);
	CHECK(matches("test: loss [0-9.]+, accuracy [0-9.]+% \\(90 images\\)"), "test line");
	/* The same files named by the model's own data spec and data_dir. */
	{
		dlrt_model mm = *m;
		mm.train_data = spec2(DLRT_DATA_IDX, "train-images.gz", "train-labels.gz");
		mm.test_data = spec2(DLRT_DATA_IDX, "test-images.gz", "test-labels.gz");
		mm.data_dir = g_dir;
		mm.epochs = 2;
		CHECK(run(&mm, "--progress never") == 0 && has("epoch 2/2") && has("(90 images)"),
		      "the model's data spec");
		CHECK(run(&mm, "--data /nonexistent --progress never") == 1 &&
		      has("/nonexistent/test-images.gz: cannot open"), "--data overrides data_dir");
	}
}

/* Not a test of correctness: the real dataset loads fast and in its own
 * size.  Skipped (77) when the files are not installed. */
static void test_fmnist(void)
{
	const char *dir = "/usr/share/datasets/fashion-mnist";
	static float x[64 * 784];
	static int32_t y[64];
	dlrt_tensor t[2];
	dlrt_model m;
	dlrt_dataset tr, te;
	dlrt_data_spec s = spec2(DLRT_DATA_IDX, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
	double t0, t1;
	int64_t idx[64];
	if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
		printf("skipped: Fashion-MNIST is not installed in %s\n", dir);
		exit(77);
	}
	memset(t, 0, sizeof t);
	memset(&m, 0, sizeof m);
	t[0].name = "x", t[0].role = DLRT_INPUT, t[0].dtype = DLRT_F32, t[0].rank = 2;
	t[0].shape[0] = 64, t[0].shape[1] = 784, t[0].numel = 64 * 784, t[0].data = x;
	t[1].name = "y", t[1].role = DLRT_LABEL, t[1].dtype = DLRT_I32, t[1].rank = 1;
	t[1].shape[0] = 64, t[1].numel = 64, t[1].data = y, t[1].classes = 10;
	m.name = "mlp", m.batch = 64, m.ntensors = 2, m.tensors = t, m.input_scale = 1.0 / 255;
	t0 = dlrt_now();
	CHECK(dlrt_load_dataset(&m, &s, dir, &tr) == 0, "load the training set");
	t1 = dlrt_now();
	s = spec2(DLRT_DATA_IDX, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
	CHECK(dlrt_load_dataset(&m, &s, dir, &te) == 0, "load the test set");
	printf("  loaded %lld + %lld images in %.3f + %.3f s\n", (long long)tr.rows, (long long)te.rows,
	       t1 - t0, dlrt_now() - t1);
	CHECK(tr.rows == 60000 && te.rows == 10000 && tr.cols[0].dtype == DLRT_U8, "sizes and types");
	for (int i = 0; i < 64; i++)
		idx[i] = 59999 - i;
	dlrt_gather_batch(&m, &tr, idx, 64);
	for (int i = 0; i < 64 * 784; i++)
		CHECK(x[i] >= 0 && x[i] <= 1, "pixel %d = %g", i, x[i]);
	CHECK(y[0] == ((uint8_t *)tr.cols[1].data)[59999], "label gathered");
	dlrt_free_dataset(&tr);
	dlrt_free_dataset(&te);
}

/* Damaged copies of valid files: flipped bytes, cut ends, inserted junk.
 * The loaders must fail cleanly or succeed, never crash or read out of
 * bounds (the sanitizer build checks that). */
static unsigned char *mutate(dlrt_rng *r, const unsigned char *img, size_t n, size_t *out_n)
{
	unsigned char *m = malloc(n + 64);
	size_t len = n;
	memcpy(m, img, n);
	switch (dlrt_rng_below(r, 4)) {
	case 0: /* flip a few bytes, mostly near the start where headers are */
		for (int k = 1 + (int)dlrt_rng_below(r, 4); k > 0 && n > 0; k--) {
			size_t at = dlrt_rng_below(r, 2) ? dlrt_rng_below(r, (uint32_t)(n < 96 ? n : 96))
			                                  : dlrt_rng_below(r, (uint32_t)n);
			m[at] ^= (unsigned char)(1 + dlrt_rng_below(r, 255));
		}
		break;
	case 1: /* cut */
		len = n ? dlrt_rng_below(r, (uint32_t)n) : 0;
		break;
	case 2: /* insert junk */
		if (n > 0) {
			size_t at = dlrt_rng_below(r, (uint32_t)n), k = 1 + dlrt_rng_below(r, 40);
			memmove(m + at + k, m + at, n - at);
			for (size_t i = 0; i < k; i++)
				m[at + i] = (unsigned char)dlrt_rng_u32(r);
			len = n + k;
		}
		break;
	default: /* a digit or delimiter changed into another */
		for (int k = 0; k < 3 && n > 0; k++) {
			static const char set[] = "0123456789,{}[]:\"' -.\n";
			m[dlrt_rng_below(r, (uint32_t)n)] = (unsigned char)set[dlrt_rng_below(r, sizeof set - 1)];
		}
		break;
	}
	*out_n = len;
	return m;
}

static void test_mutations(void)
{
	enum { R = 20, F = 3, K = 2, ROUNDS = 300 };
	const dlrt_model *m = linear(F, K, 4, DLRT_F64);
	double X[R * F], Y[R * K];
	uint32_t dx[2] = {R, F}, dy[2] = {R, K};
	int64_t sx[2] = {R, F}, sy[2] = {R, K};
	const char *names[5] = {"m.idx", "m.idx.gz", "m.npy", "m.csv", "m.st"};
	unsigned char *img[5];
	size_t len[5];
	dlrt_ckpt_meta meta = {1, 2, 3};
	dlrt_rng r;
	int ok[5] = {0}, bad[5] = {0};
	regression_data(R, F, K, 1, X, Y);
	write_idx(path("y.idx"), 0, 0x0E, 2, dy, Y);
	write_idx(path("m.idx"), 0, 0x0E, 2, dx, X);
	write_idx(path("m.idx.gz"), 1, 0x0E, 2, dx, X);
	dlrt_save_npy(path("m.npy"), DLRT_F64, 2, sx, X);
	dlrt_save_npy(path("y.npy"), DLRT_F64, 2, sy, Y);
	write_text(path("m.csv"), "a,b,c,d,e\n1,2,3,4,5\n6,7,8,9,10\n0.5,-1,2e3,4,5\n");
	dlrt_init_params(m, 1);
	dlrt_save_checkpoint(m, path("m.st"), &meta);
	for (int k = 0; k < 5; k++)
		img[k] = read_bytes(path(names[k]), &len[k]);
	dlrt_rng_seed(&r, 2024, 1);
	for (int round = 0; round < ROUNDS; round++)
		for (int k = 0; k < 5; k++) {
			size_t n;
			unsigned char *mut = mutate(&r, img[k], len[k], &n);
			dlrt_dataset ds;
			dlrt_data_spec s;
			int rc;
			write_bytes(path("mut"), mut, n);
			free(mut);
			capture_begin();
			if (k == 4) {
				rc = dlrt_load_checkpoint(m, path("mut"), NULL);
			} else {
				s = k == 3 ? spec2(DLRT_DATA_CSV, "mut", NULL)
				           : spec2(k == 2 ? DLRT_DATA_NPY : DLRT_DATA_IDX, "mut", "y.idx");
				if (k == 2)
					s.files[1] = "y.npy";
				rc = dlrt_load_dataset(m, &s, g_dir, &ds);
				if (rc == 0)
					dlrt_free_dataset(&ds);
			}
			capture_end_quietly();
			CHECK(rc == 0 || (rc == -1 && strncmp(g_out, "dlrt: ", 6) == 0),
			      "%s round %d: rc %d without a message", names[k], round, rc);
			if (rc == 0)
				ok[k]++;
			else
				bad[k]++;
		}
	for (int k = 0; k < 5; k++) {
		printf("  %-9s %3d damaged copies loaded, %3d refused\n", names[k], ok[k], bad[k]);
		free(img[k]);
	}
}

/* ---- training logs ---- */

typedef struct log_row {
	long long step, epoch;
	char f[5][40];   /* loss, lr, train_acc, test_acc, images_per_s, as written */
} log_row;

enum { LOSS, LR, TRAIN_ACC, TEST_ACC, IPS };

/* The rows of a training log after its header: how many, or -1 when the
 * file is missing or its header or a row is malformed. */
static int read_log(const char *p, log_row *rows, int max)
{
	size_t n;
	char *text = (char *)read_bytes(p, &n), *line, *next;
	int count = 0;
	static const char header[] = "step,epoch,loss,lr,train_acc,test_acc,images_per_s\n";
	if (!text)
		return -1;
	if (strncmp(text, header, sizeof header - 1) != 0) {
		free(text);
		return -1;
	}
	for (line = text + sizeof header - 1; *line; line = next) {
		char *nl = strchr(line, '\n'), *field;
		log_row r;
		int k = 0;
		if (!nl) { /* every row ends with a newline */
			count = -1;
			break;
		}
		*nl = 0;
		next = nl + 1;
		memset(&r, 0, sizeof r);
		if (sscanf(line, "%lld,%lld,", &r.step, &r.epoch) != 2) {
			count = -1;
			break;
		}
		field = strchr(strchr(line, ',') + 1, ',') + 1;
		for (;;) {
			char *comma = strchr(field, ',');
			size_t len = comma ? (size_t)(comma - field) : strlen(field);
			if (k == 5 || len >= sizeof r.f[0]) {
				k = 6;
				break;
			}
			memcpy(r.f[k], field, len);
			r.f[k++][len] = 0;
			if (!comma)
				break;
			field = comma + 1;
		}
		if (k != 5) {
			count = -1;
			break;
		}
		if (count < max)
			rows[count] = r;
		count++;
	}
	free(text);
	return count;
}

/* Two logs agree in every field but images/s. */
static int same_log(const char *a, const char *b)
{
	static log_row ra[512], rb[512];
	int na = read_log(a, ra, 512), nb = read_log(b, rb, 512);
	if (na < 0 || na != nb || na > 512)
		return 0;
	for (int i = 0; i < na; i++) {
		if (ra[i].step != rb[i].step || ra[i].epoch != rb[i].epoch)
			return 0;
		for (int k = 0; k < IPS; k++)
			if (strcmp(ra[i].f[k], rb[i].f[k]) != 0) {
				printf("  row %d field %d: %s vs %s\n", i, k, ra[i].f[k], rb[i].f[k]);
				return 0;
			}
	}
	return 1;
}

static void test_log(void)
{
	static log_row rows[256];
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	int n, nsteps, nepochs;
	const double *lrs;
	regression_files(50, 20, 3, 2);

	/* A row per step: each is that step's loss; the epoch rows are their
	 * means weighted by batch rows (13 steps: 12 of 4 rows, one of 2). */
	CHECK(run(m, "--train %s,%s --epochs 3 --log %s --log-every 1 --progress never", path("x.npy"),
	          path("y.npy"), path("run.csv")) == 0 && has("log: "), "train with a log");
	n = read_log(path("run.csv"), rows, 256);
	CHECK(n == 39 + 3, "39 step rows and 3 epoch rows, found %d", n);
	lrs = toy_lrs(&nsteps);
	nepochs = 0;
	for (int i = 0, step = 0; i < n && i < 256; i++) {
		log_row *r = &rows[i];
		if (r->f[LR][0]) {
			step++;
			CHECK(r->step == step && r->epoch == (step - 1) / 13 + 1, "row %d: step %lld epoch %lld",
			      i, r->step, r->epoch);
			CHECK(strtod(r->f[LR], NULL) == lrs[step - 1], "row %d: lr %s", i, r->f[LR]);
			CHECK(!r->f[TRAIN_ACC][0] && !r->f[TEST_ACC][0] && atof(r->f[IPS]) > 0,
			      "row %d: no accuracies, a speed", i);
		} else {
			double sum = 0, w = 0, loss = strtod(r->f[LOSS], NULL);
			nepochs++;
			CHECK(r->step == 13 * nepochs && r->epoch == nepochs && i >= 13,
			      "epoch row %d at step %lld", i, r->step);
			for (int j = i - 13; j < i && j >= 0; j++) {
				double k = j == i - 1 ? 2 : 4;
				sum += strtod(rows[j].f[LOSS], NULL) * k;
				w += k;
			}
			CHECK(fabs(loss - sum / w) <= 1e-14 * loss, "epoch %d loss %s, steps say %.17g",
			      nepochs, r->f[LOSS], sum / w);
			CHECK(fabs(loss - epoch_loss(nepochs)) < 1e-5, "epoch %d: log %g, printed %g", nepochs,
			      loss, epoch_loss(nepochs));
			CHECK(!r->f[TRAIN_ACC][0] && !r->f[TEST_ACC][0], "no accuracy in a regression");
		}
	}
	CHECK(nepochs == 3 && nsteps == 39, "%d epoch rows, %d steps", nepochs, nsteps);

	/* Every K steps: the loss is the mean since the previous row, the
	 * window restarting after each epoch row. */
	CHECK(run(m, "--train %s,%s --epochs 2 --log %s --log-every 5 --progress never", path("x.npy"),
	          path("y.npy"), path("run5.csv")) == 0, "--log-every 5");
	{
		static log_row r5[64];
		static const long long want[] = {5, 10, 13, 15, 20, 25, 26};
		int n5 = read_log(path("run5.csv"), r5, 64);
		CHECK(n5 == 7, "7 rows, found %d", n5);
		for (int i = 0; i < n5 && i < 7; i++)
			CHECK(r5[i].step == want[i] && !r5[i].f[LR][0] == (want[i] % 13 == 0),
			      "row %d at step %lld", i, r5[i].step);
		/* Steps 14 and 15 (epoch 2) from the per-step log of the same seed. */
		if (n5 == 7 && n > 16) {
			double want15 = (strtod(rows[14].f[LOSS], NULL) + strtod(rows[15].f[LOSS], NULL)) / 2;
			CHECK(rows[14].step == 14 && rows[15].step == 15 &&
			      fabs(strtod(r5[3].f[LOSS], NULL) - want15) <= 1e-14 * want15,
			      "row at 15: %s, expected %.17g", r5[3].f[LOSS], want15);
		}
	}
	/* The default: about 1% of the run, at most every 50 steps. */
	CHECK(run(m, "--train %s,%s --epochs 40 --log %s --quiet", path("x.npy"), path("y.npy"),
	          path("d.csv")) == 0, "520 steps, default interval");
	n = read_log(path("d.csv"), rows, 256);
	CHECK(n == 520 / 5 + 40 && rows[0].step == 5, "a row every 5 steps: %d rows", n);
	CHECK(run(m, "--train %s,%s --epochs 400 --log %s --quiet", path("x.npy"), path("y.npy"),
	          path("d.csv")) == 0, "5200 steps, default interval");
	n = read_log(path("d.csv"), rows, 256);
	CHECK(n == 5200 / 50 + 400 && rows[0].step == 13 && rows[2].step == 39 && rows[3].step == 50 &&
	      rows[3].f[LR][0], "a row every 50 steps (after epoch rows at 13, 26, 39): %d rows", n);

	/* A classifier: train accuracy from the training steps, test accuracy
	 * after every epoch; the last one is the final test line's. */
	{
		enum { R = 120, T = 40 };
		const dlrt_model *c = classifier(4, 3, 8, DLRT_F64, 0);
		double X[R * 4];
		int32_t Y[R];
		int64_t sx[2] = {R, 4}, sy[1] = {R};
		double acc = -1;
		const char *p;
		dlrt_rng r;
		dlrt_rng_seed(&r, 5, 5);
		for (int i = 0; i < R; i++) {
			Y[i] = (int32_t)dlrt_rng_below(&r, 3);
			for (int j = 0; j < 4; j++)
				X[i * 4 + j] = dlrt_rng_uniform(&r) + (j == Y[i] ? 0.8 : 0);
		}
		dlrt_save_npy(path("cx.npy"), DLRT_F64, 2, sx, X);
		dlrt_save_npy(path("cy.npy"), DLRT_I32, 1, sy, Y);
		sx[0] = sy[0] = T;
		dlrt_save_npy(path("ctx.npy"), DLRT_F64, 2, sx, X + 4 * (R - T));
		dlrt_save_npy(path("cty.npy"), DLRT_I32, 1, sy, Y + (R - T));
		CHECK(run(c, "--train %s,%s --test %s,%s --epochs 6 --lr 0.5 --log %s --log-every 4 "
		          "--progress never", path("cx.npy"), path("cy.npy"), path("ctx.npy"), path("cty.npy"),
		          path("c.csv")) == 0, "classifier with a log");
		p = g_out ? strstr(g_out, "test: loss ") : NULL;
		p = p ? strstr(p, "accuracy ") : NULL;
		if (p)
			acc = atof(p + 9);
		n = read_log(path("c.csv"), rows, 256);
		/* 15 steps an epoch; the step rows are at multiples of 4 of the
		 * global step (so a resumed run writes them where the first would
		 * have): 3 + 4 + 4 + 4 + 3 + 4, and 6 epoch rows. */
		CHECK(n == 22 + 6, "28 rows, found %d", n);
		nepochs = 0;
		for (int i = 0; i < n && i < 256; i++) {
			if (rows[i].f[LR][0]) {
				CHECK(!rows[i].f[TRAIN_ACC][0] && !rows[i].f[TEST_ACC][0], "step row %d", i);
				continue;
			}
			nepochs++;
			CHECK(rows[i].f[TRAIN_ACC][0] && rows[i].f[TEST_ACC][0], "epoch row %d has accuracies", i);
			CHECK(atof(rows[i].f[TRAIN_ACC]) >= 0 && atof(rows[i].f[TRAIN_ACC]) <= 1 &&
			      atof(rows[i].f[TEST_ACC]) >= 0 && atof(rows[i].f[TEST_ACC]) <= 1,
			      "fractions: %s %s", rows[i].f[TRAIN_ACC], rows[i].f[TEST_ACC]);
			/* 40 test rows: the fraction is k/40 exactly. */
			CHECK(fabs(atof(rows[i].f[TEST_ACC]) * 40 - floor(atof(rows[i].f[TEST_ACC]) * 40 + 0.5)) < 1e-9,
			      "test accuracy %s is k/40", rows[i].f[TEST_ACC]);
			if (nepochs == 6)
				CHECK(fabs(atof(rows[i].f[TEST_ACC]) * 100 - acc) < 0.006,
				      "last epoch's test accuracy %s, final line %g%%", rows[i].f[TEST_ACC], acc);
		}
		CHECK(nepochs == 6 && atof(rows[n - 1].f[TRAIN_ACC]) > 0.7 && acc > 70,
		      "it learns: train %s, test %g%%", n > 0 ? rows[n - 1].f[TRAIN_ACC] : "?", acc);
		/* Logging (and evaluating after each epoch) changes nothing. */
		CHECK(run(c, "--train %s,%s --test %s,%s --epochs 3 --lr 0.5 --save %s --quiet", path("cx.npy"),
		          path("cy.npy"), path("ctx.npy"), path("cty.npy"), path("nolog.st")) == 0 &&
		      run(c, "--train %s,%s --test %s,%s --epochs 3 --lr 0.5 --save %s --log %s --quiet",
		          path("cx.npy"), path("cy.npy"), path("ctx.npy"), path("cty.npy"), path("log.st"),
		          path("c3.csv")) == 0 && same_file(path("nolog.st"), path("log.st")),
		      "the same checkpoint with and without --log");
		/* Train accuracy counts the steps' own outputs: with lr 0 the
		 * model stays as initialised, and scores what it scores on all
		 * rows at the start. */
		CHECK(run(c, "--train %s,%s --epochs 1 --lr 0 --log %s --progress never", path("cx.npy"),
		          path("cy.npy"), path("c0.csv")) == 0, "lr 0");
		{
			int right = 0, k;
			const double *W = c->tensors[0].data;
			for (int i = 0; i < R; i++) {
				double best = 0;
				int arg = 0;
				for (int j = 0; j < 3; j++) {
					double v = 0; /* b = 0 */
					for (int f = 0; f < 4; f++)
						v += X[i * 4 + f] * W[f * 3 + j];
					if (j == 0 || v > best)
						best = v, arg = j;
				}
				right += arg == Y[i];
			}
			k = read_log(path("c0.csv"), rows, 256);
			CHECK(k > 0 && !rows[k - 1].f[LR][0] && strtod(rows[k - 1].f[TRAIN_ACC], NULL) == (double)right / R,
			      "train accuracy %s, expected %d/%d", k > 0 ? rows[k - 1].f[TRAIN_ACC] : "?", right, R);
			CHECK(k > 0 && !rows[k - 1].f[TEST_ACC][0], "no test set, no test accuracy");
		}
	}
	/* A run that stops keeps its log up to the step it stopped at. */
	{
		toy_config cfg = {.features = 3, .outputs = 2, .batch = 4, .dtype = DLRT_F64,
		                  .poison_step = 17, .poison_what = TOY_POISON_W, .poison_value = NAN};
		m = toy_build(&cfg);
		CHECK(run(m, "--train %s,%s --epochs 3 --log %s --log-every 1 --progress never", path("x.npy"),
		          path("y.npy"), path("crash.csv")) == 1, "a run that fails");
		n = read_log(path("crash.csv"), rows, 256);
		CHECK(n == 18 && rows[n - 1].step == 17, "18 rows (17 steps, 1 epoch), found %d", n);
	}
	/* Flags and files. */
	m = linear(3, 2, 4, DLRT_F64);
	CHECK(run(m, "--log-every 5") == 2 && has("--log-every is for --log"), "--log-every alone");
	CHECK(run(m, "--log x.csv --log-every 0") == 2 && has("expected a whole number >= 1"), "--log-every 0");
	CHECK(run(m, "--train %s,%s --log %s/no/such/dir.csv", path("x.npy"), path("y.npy"), g_dir) == 1 &&
	      has("no/such/dir.csv: cannot create"), "a log that cannot be created");
}

/* ---- learning-rate schedules ---- */

static int near(double a, double b)
{
	return fabs(a - b) <= 1e-15 * fabs(b) + 1e-300;
}

static void test_schedule(void)
{
	/* The values torch.optim.lr_scheduler gives (closed forms, computed by
	 * hand): StepLR, ExponentialLR, CosineAnnealingLR, LinearLR. */
	static const double step_want[6] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025};
	static const double exp_want[4] = {0.1, 0.09, 0.081, 0.0729};
	static const double cos_t[5] = {0, 2, 5, 9, 10};
	static const double cos_want[5] = {1, 0.9045084971874737, 0.5, 0.024471741852423234, 0};
	static const double warm_want[6] = {0.25, 0.4375, 0.625, 0.8125, 1, 1};
	dlrt_lr_schedule s;
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	const double *lrs;
	int n;
	memset(&s, 0, sizeof s);
	s.lr = 0.1;
	for (int t = 0; t < 100; t += 7)
		CHECK(dlrt_schedule_lr(&s, t, t / 10) == 0.1, "constant at %d", t);
	s.kind = DLRT_LR_STEP, s.step_size = 2, s.gamma = 0.5;
	for (int e = 0; e < 6; e++)
		CHECK(near(dlrt_schedule_lr(&s, 1000 + e, e), step_want[e]), "StepLR epoch %d: %.17g", e,
		      dlrt_schedule_lr(&s, 1000 + e, e));
	s.kind = DLRT_LR_EXP, s.gamma = 0.9;
	for (int e = 0; e < 4; e++)
		CHECK(near(dlrt_schedule_lr(&s, 3 * e, e), exp_want[e]), "ExponentialLR epoch %d: %.17g", e,
		      dlrt_schedule_lr(&s, 3 * e, e));
	s.kind = DLRT_LR_COSINE, s.lr = 1, s.total_steps = 10;
	for (int i = 0; i < 5; i++)
		CHECK(fabs(dlrt_schedule_lr(&s, (int64_t)cos_t[i], 0) - cos_want[i]) <= 1e-15,
		      "CosineAnnealingLR step %g: %.17g", cos_t[i], dlrt_schedule_lr(&s, (int64_t)cos_t[i], 0));
	CHECK(dlrt_schedule_lr(&s, 10, 3) == dlrt_schedule_lr(&s, 50, 3), "cosine stays at its end");
	s.lr_min = 0.1, s.total_steps = 4;
	CHECK(near(dlrt_schedule_lr(&s, 2, 0), 0.55) && near(dlrt_schedule_lr(&s, 1, 0), 0.8681980515339464),
	      "eta_min: %.17g %.17g", dlrt_schedule_lr(&s, 2, 0), dlrt_schedule_lr(&s, 1, 0));
	memset(&s, 0, sizeof s);
	s.lr = 1, s.warmup = 4;
	for (int t = 0; t < 6; t++)
		CHECK(near(dlrt_schedule_lr(&s, t, 0), warm_want[t]), "LinearLR(1/4) step %d: %.17g", t,
		      dlrt_schedule_lr(&s, t, 0));
	s.warmup = 1;
	CHECK(dlrt_schedule_lr(&s, 0, 0) == 1, "a warm-up of 1 step is no warm-up");
	/* Warm-up times StepLR, as torch's ChainedScheduler. */
	s.kind = DLRT_LR_STEP, s.step_size = 1, s.gamma = 0.5, s.warmup = 4, s.lr = 0.2;
	CHECK(near(dlrt_schedule_lr(&s, 3, 1), 0.2 * 0.8125 * 0.5), "warm-up x step: %.17g",
	      dlrt_schedule_lr(&s, 3, 1));

	/* Through the trainer: what train_step was given, step by step. */
	regression_files(50, 20, 3, 2);
	CHECK(run(m, "--train %s,%s --epochs 3 --lr 0.2 --lr-schedule step --lr-step-size 2 --lr-gamma 0.5 "
	          "--progress never", path("x.npy"), path("y.npy")) == 0 &&
	      has("lr x0.5 every 2 epochs"), "StepLR run");
	lrs = toy_lrs(&n);
	CHECK(n == 39, "39 steps, found %d", n);
	for (int t = 0; t < n && t < 39; t++)
		CHECK(lrs[t] == (t < 26 ? 0.2 : 0.1), "step %d: lr %.17g", t, lrs[t]);
	CHECK(run(m, "--train %s,%s --epochs 3 --lr 0.05 --lr-schedule exp --lr-gamma 0.5 --warmup 20 "
	          "--progress never", path("x.npy"), path("y.npy")) == 0, "exp with warm-up");
	lrs = toy_lrs(&n);
	for (int t = 0; t < n && t < 39; t++) {
		double want = 0.05 * (t < 13 ? 1 : t < 26 ? 0.5 : 0.25) *
		              (t < 20 ? 1.0 / 20 + (1 - 1.0 / 20) * t / 20 : 1);
		CHECK(near(lrs[t], want), "step %d: lr %.17g, expected %.17g", t, lrs[t], want);
	}
	/* Cosine over the whole run: 2 epochs of 13 steps, or --steps. */
	memset(&s, 0, sizeof s);
	s.kind = DLRT_LR_COSINE, s.lr = 0.1, s.total_steps = 26;
	CHECK(run(m, "--train %s,%s --epochs 2 --lr 0.1 --lr-schedule cosine --log %s --log-every 1 "
	          "--progress never", path("x.npy"), path("y.npy"), path("cos.csv")) == 0 &&
	      has("cosine lr to 0 over 26 steps"), "cosine run");
	lrs = toy_lrs(&n);
	CHECK(n == 26, "26 steps");
	for (int t = 0; t < n && t < 26; t++)
		CHECK(lrs[t] == dlrt_schedule_lr(&s, t, t / 13), "step %d: lr %.17g", t, lrs[t]);
	CHECK(near(lrs[13], 0.05) && lrs[25] < 0.001 && lrs[25] > 0, "half way 0.05, last %g", lrs[25]);
	{
		static log_row rows[64];
		int k = read_log(path("cos.csv"), rows, 64), t = 0;
		for (int i = 0; i < k && i < 64; i++)
			if (rows[i].f[LR][0]) {
				CHECK(strtod(rows[i].f[LR], NULL) == lrs[t], "logged lr of step %d: %s", t, rows[i].f[LR]);
				t++;
			}
		CHECK(t == 26, "a logged lr for every step");
	}
	/* --steps stops the run, but the curve is that of all the epochs. */
	s.total_steps = 65, s.lr_min = 0.01;
	CHECK(run(m, "--train %s,%s --epochs 5 --steps 20 --lr 0.1 --lr-schedule cosine --lr-min 0.01 "
	          "--progress never", path("x.npy"), path("y.npy")) == 0 && has("over 65 steps"),
	      "cosine, stopped by --steps");
	lrs = toy_lrs(&n);
	CHECK(n == 20, "20 steps");
	for (int t = 0; t < n && t < 20; t++)
		CHECK(lrs[t] == dlrt_schedule_lr(&s, t, t / 13), "step %d: lr %.17g", t, lrs[t]);
	/* Flags that do not fit together. */
	CHECK(run(m, "--lr-schedule linear") == 2 && has("expected constant, step, exp or cosine"), "bad name");
	CHECK(run(m, "--lr-schedule step") == 2 && has("needs --lr-step-size"), "step without size");
	CHECK(run(m, "--lr-schedule exp") == 2 && has("needs --lr-gamma"), "exp without gamma");
	CHECK(run(m, "--lr-gamma 0.5") == 2 && has("--lr-gamma is for --lr-schedule step or exp"), "stray gamma");
	CHECK(run(m, "--lr-schedule cosine --lr-step-size 3") == 2 && has("--lr-step-size is for"), "stray size");
	CHECK(run(m, "--lr-schedule step --lr-step-size 1 --lr-min 0") == 2 && has("--lr-min is for"), "stray min");
	CHECK(run(m, "--lr-schedule exp --lr-gamma 0") == 2 && has("expected a positive number"), "gamma 0");
	CHECK(run(m, "--warmup -1") == 2, "negative warm-up");
}

/* ---- --check-numerics ---- */

static void test_numerics(void)
{
	static const struct {
		int what, index, step;
		double value;
		const char *want;
	} cases[] = {
		{TOY_POISON_DW, 3, 5, INFINITY, "dlrt: step 5 (epoch 1): non-finite value in d_W[1,1] (inf); stopping"},
		{TOY_POISON_W | TOY_POISON_VW, 4, 15, -INFINITY, "step 15 (epoch 2): non-finite value in W[2,0] (-inf)"},
		{TOY_POISON_VW, 0, 2, NAN, "step 2 (epoch 1): non-finite value in v_W[0,0] (nan)"},
		{TOY_POISON_PRED | TOY_POISON_DW | TOY_POISON_W | TOY_POISON_VW, 5, 3, NAN,
		 "step 3 (epoch 1): non-finite value in pred[2,1] (nan)"},
		{TOY_POISON_DW | TOY_POISON_W, 1, 3, INFINITY, "non-finite value in d_W[0,1] (inf)"},
		{TOY_POISON_LOSS | TOY_POISON_PRED, 0, 1, NAN, "step 1 (epoch 1): non-finite value in loss (nan)"},
	};
	toy_config c = {.features = 3, .outputs = 2, .batch = 4, .dtype = DLRT_F64};
	const dlrt_model *m;
	regression_files(50, 20, 3, 2);
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		c.poison_what = cases[k].what, c.poison_index = cases[k].index;
		c.poison_step = cases[k].step, c.poison_value = cases[k].value;
		m = toy_build(&c);
		CHECK(run(m, "--train %s,%s --epochs 3 --check-numerics --progress never", path("x.npy"),
		          path("y.npy")) == 1 && has(cases[k].want), "case %zu: \"%s\"", k, cases[k].want);
		CHECK(!has("train: "), "case %zu stops", k);
	}
	/* Without the flag, a bad gradient that the update does not use goes
	 * unnoticed, and a bad weight is found one step later, by the loss. */
	c.poison_what = TOY_POISON_DW, c.poison_step = 5, c.poison_value = NAN;
	m = toy_build(&c);
	CHECK(run(m, "--train %s,%s --epochs 2 --progress never", path("x.npy"), path("y.npy")) == 0,
	      "unchecked: runs on");
	c.poison_what = TOY_POISON_W;
	m = toy_build(&c);
	CHECK(run(m, "--train %s,%s --epochs 2 --progress never", path("x.npy"), path("y.npy")) == 1 &&
	      has("loss is nan at epoch 1 step 6; stopping (--check-numerics"), "unchecked: a step later");
	/* Output rows past the batch's n do not count: the last batch of an
	 * epoch has 2 rows (50 = 12 x 4 + 2), and row 3 is not one of them. */
	c.poison_what = TOY_POISON_PRED, c.poison_step = 13, c.poison_index = 6, c.poison_value = NAN;
	m = toy_build(&c);
	CHECK(run(m, "--train %s,%s --epochs 2 --check-numerics --progress never", path("x.npy"),
	          path("y.npy")) == 0, "rows past n are not scanned");
	c.poison_index = 3;
	m = toy_build(&c);
	CHECK(run(m, "--train %s,%s --epochs 2 --check-numerics --progress never", path("x.npy"),
	          path("y.npy")) == 1 && has("step 13 (epoch 1): non-finite value in pred[1,1] (nan)"),
	      "row 1 of the last batch is");
	/* f32, and a clean run passes. */
	c = (toy_config){.features = 3, .outputs = 2, .batch = 4, .dtype = DLRT_F32,
	                 .poison_what = TOY_POISON_VW, .poison_step = 7, .poison_index = 5,
	                 .poison_value = INFINITY};
	m = toy_build(&c);
	CHECK(run(m, "--train %s,%s --epochs 2 --check-numerics --progress never", path("x.npy"),
	          path("y.npy")) == 1 && has("step 7 (epoch 1): non-finite value in v_W[2,1] (inf)"), "f32");
	m = linear(3, 2, 4, DLRT_F32);
	CHECK(run(m, "--train %s,%s --epochs 2 --check-numerics --progress never", path("x.npy"),
	          path("y.npy")) == 0 && has("train: 2 epochs"), "a clean run");
	/* A real divergence is caught no later than by the loss. */
	CHECK(run(m, "--train %s,%s --epochs 50 --lr 1e3 --check-numerics --progress never", path("x.npy"),
	          path("y.npy")) == 1 &&
	      matches("dlrt: step [0-9]+ \\(epoch [0-9]+\\): non-finite value in [a-zA-Z_]+(\\[[0-9,]+\\])? "
	              "\\((nan|inf|-inf)\\); stopping"), "divergence");
}

/* ---- --predict ---- */

/* pred = x W + b for rows of X, the way the toy computes it. */
static void toy_predict(const dlrt_model *m, const double *X, int rows, double *P)
{
	const double *W = m->tensors[0].data, *b = m->tensors[1].data;
	for (int r = 0; r < rows; r++)
		for (int k = 0; k < 2; k++) {
			double s = b[k];
			for (int f = 0; f < 3; f++)
				s += X[r * 3 + f] * W[f * 2 + k];
			P[r * 2 + k] = s;
		}
}

static void test_predict(void)
{
	enum { R = 7 };
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	double X[20 * 3], Y[20 * 2], P[20 * 2];
	int64_t sx[2] = {R, 3}, shape[DLRT_MAX_RANK];
	dlrt_dtype dt;
	int rank;
	void *data = NULL;
	char cwd[512];
	regression_files(50, 20, 3, 2);
	regression_data(20, 3, 2, 12, X, Y);
	CHECK(run(m, "--train %s,%s --epochs 3 --save %s --quiet", path("x.npy"), path("y.npy"),
	          path("ck.st")) == 0, "train");
	dlrt_save_npy(path("px.npy"), DLRT_F64, 2, sx, X);
	/* 7 rows: a batch of 4 and a partial one of 3. */
	dlrt_init_params(m, 99);
	CHECK(run(m, "--load %s --predict %s --predict-out %s", path("ck.st"), path("px.npy"),
	          path("p.npy")) == 0 && has("predict: 7 rows -> ") && has("p.npy"), "predict");
	toy_predict(m, X, R, P);
	CHECK(dlrt_load_npy(path("p.npy"), &dt, &rank, shape, &data) == 0 && dt == DLRT_F64 && rank == 2 &&
	      shape[0] == R && shape[1] == 2, "predictions (7, 2)");
	CHECK(data && !memcmp(data, P, sizeof(double) * R * 2), "x W + b, bit for bit");
	free(data);
	data = NULL;
	/* The default name, in the working directory; files from --data. */
	if (getcwd(cwd, sizeof cwd) && chdir(g_dir) == 0) {
		CHECK(run(m, "--load ck.st --data %s --predict tx.npy", g_dir) == 0 &&
		      has("predict: 20 rows -> predictions.npy"), "default output");
		CHECK(chdir(cwd) == 0, "back");
	}
	toy_predict(m, X, 20, P);
	CHECK(dlrt_load_npy(path("predictions.npy"), &dt, &rank, shape, &data) == 0 && shape[0] == 20 &&
	      !memcmp(data, P, sizeof(double) * 40), "20 rows, 5 full batches");
	free(data);
	data = NULL;
	/* CSV and gzipped IDX inputs. */
	write_text(path("p.csv"), "a,b,c\n0.5,1,-2\n3,0,1\n");
	CHECK(run(m, "--load %s --predict %s --predict-out %s", path("ck.st"), path("p.csv"), path("pc.npy")) == 0 &&
	      has("predict: 2 rows"), "CSV inputs");
	{
		double Xc[6] = {0.5, 1, -2, 3, 0, 1};
		uint32_t d[2] = {2, 3};
		toy_predict(m, Xc, 2, P);
		CHECK(dlrt_load_npy(path("pc.npy"), &dt, &rank, shape, &data) == 0 && shape[0] == 2 &&
		      !memcmp(data, P, sizeof(double) * 4), "CSV predictions");
		free(data);
		data = NULL;
		write_idx(path("p.idx.gz"), 1, 0x0E, 2, d, Xc);
		CHECK(run(m, "--load %s --predict %s --predict-out %s", path("ck.st"), path("p.idx.gz"),
		          path("pi.npy")) == 0 && same_file(path("pi.npy"), path("pc.npy")), "IDX inputs");
	}
	/* Inputs only: a labels file or column is an error. */
	CHECK(run(m, "--load %s --predict %s,%s", path("ck.st"), path("tx.npy"), path("ty.npy")) == 1 &&
	      has("expected 1 file of inputs (one for each of x; no labels), found 2"), "labels given");
	write_text(path("p.csv"), "0.5,1,-2,4,5\n");
	CHECK(run(m, "--load %s --predict %s", path("ck.st"), path("p.csv")) == 1 &&
	      has("p.csv:1: expected 3 columns, found 5"), "CSV with labels");
	CHECK(run(m, "--predict %s --predict-out %s", path("px.npy"), path("p0.npy")) == 0 &&
	      has("note: no --load"), "no checkpoint: a note");
	CHECK(run(m, "--predict-out x.npy") == 2 && has("--predict-out is for --predict"), "--predict-out alone");
	CHECK(run(m, "--predict a.npy --eval") == 2 && has("--predict goes alone"), "--predict --eval");
	CHECK(run(m, "--load %s --predict %s --predict-out %s/none/p.npy", path("ck.st"), path("px.npy"),
	          g_dir) == 1 && has("cannot create"), "unwritable output");

	/* A classifier: labels are zero-filled; i32 labels need no file. */
	{
		const dlrt_model *c = classifier(3, 4, 4, DLRT_F32, 0);
		float *probe;
		CHECK(run(c, "--predict %s --predict-out %s --seed 3", path("px.npy"), path("pcl.npy")) == 0 &&
		      has("predict: 7 rows"), "classifier");
		CHECK(dlrt_load_npy(path("pcl.npy"), &dt, &rank, shape, &data) == 0 && dt == DLRT_F32 &&
		      shape[0] == 7 && shape[1] == 4, "f32 (7, 4)");
		probe = data;
		CHECK(probe && isfinite(probe[27]) && ((int32_t *)c->tensors[3].data)[0] == 0, "labels zero");
		free(data);
		data = NULL;
	}
	/* Several outputs: OUT for the first, OUT-stem.NAME.npy for the rest;
	 * one without a batch axis is left out with a note. */
	{
		dlrt_tensor t[9];
		dlrt_model mm = *linear(3, 2, 4, DLRT_F64);
		memcpy(t, mm.tensors, sizeof(dlrt_tensor) * 7);
		t[7] = t[4];
		t[7].name = "again";
		t[8] = t[1];
		t[8].name = "bias";
		t[8].role = DLRT_OUTPUT;
		t[8].grad = NULL;
		mm.tensors = t;
		mm.ntensors = 9;
		CHECK(run(&mm, "--load %s --predict %s --predict-out %s", path("ck.st"), path("px.npy"),
		          path("multi.npy")) == 0 && has("multi.npy, ") && has("multi.again.npy") &&
		      has("note: output 'bias' has no batch axis"), "two outputs");
		CHECK(same_file(path("multi.npy"), path("p.npy")) && same_file(path("multi.again.npy"), path("p.npy")),
		      "both hold the predictions");
		CHECK(access(path("multi.bias.npy"), F_OK) != 0, "no file for the unbatched output");
		/* Outputs the compiler added after the declared ones are left out. */
		mm.declared_outputs = 1;
		remove(path("multi.again.npy"));
		CHECK(run(&mm, "--load %s --predict %s --predict-out %s", path("ck.st"), path("px.npy"),
		          path("multi.npy")) == 0 && has("-> ") && !has("again") && !has("bias"),
		      "declared_outputs 1");
		CHECK(same_file(path("multi.npy"), path("p.npy")) && access(path("multi.again.npy"), F_OK) != 0,
		      "only the declared output");
	}
}

/* ---- exact resume ---- */

static void test_resume(void)
{
	toy_config c = {.features = 3, .outputs = 2, .batch = 4, .dtype = DLRT_F64, .dropout = 1};
	const dlrt_model *m = toy_build(&c);
	const char *sched = "--lr 0.05 --lr-schedule step --lr-step-size 1 --lr-gamma 0.7 --warmup 6 "
	                    "--progress never";
	const char *cosine = "--lr 0.05 --lr-schedule cosine --warmup 6 --progress never";
	size_t n;
	unsigned char *img;
	regression_files(50, 20, 3, 2);
	/* Two epochs in one go. */
	CHECK(run(m, "--train %s,%s --epochs 2 --seed 7 --save %s --log %s --log-every 5 %s", path("x.npy"), path("y.npy"),
	          path("a.st"), path("a.csv"), sched) == 0, "2 epochs straight");
	img = read_bytes(path("a.st"), &n);
	CHECK(img && strstr((char *)img + 8, "\"epoch\":\"2\",\"step\":\"26\",\"seed\":\"7\""), "metadata");
	free(img);
	/* One epoch, then one more from its checkpoint (no --seed: the
	 * checkpoint's). */
	CHECK(run(m, "--train %s,%s --epochs 1 --seed 7 --save %s --log %s --log-every 5 %s", path("x.npy"), path("y.npy"),
	          path("b.st"), path("b.csv"), sched) == 0, "1 epoch");
	CHECK(run(m, "--train %s,%s --epochs 1 --seed 7 --save %s %s", path("x.npy"), path("y.npy"),
	          path("b1.st"), sched) == 0, "1 epoch again");
	CHECK(same_file(path("b.st"), path("b1.st")), "the runs repeat");
	CHECK(run(m, "--train %s,%s --epochs 2 --load %s --save %s --log %s --log-every 5 %s", path("x.npy"), path("y.npy"),
	          path("b.st"), path("b.st"), path("b.csv"), sched) == 0 &&
	      has("resuming at epoch 2, step 14 of 26") && has("seed 7") && !has("epoch 1/2"), "resume");
	CHECK(same_file(path("a.st"), path("b.st")), "the same checkpoint, byte for byte");
	CHECK(same_log(path("a.csv"), path("b.csv")), "the same log: losses, lrs, bit for bit");
	/* Resuming from a step inside an epoch. */
	CHECK(run(m, "--train %s,%s --epochs 2 --steps 20 --seed 7 --save %s %s", path("x.npy"), path("y.npy"),
	          path("c.st"), sched) == 0, "stop at step 20");
	img = read_bytes(path("c.st"), &n);
	CHECK(img && strstr((char *)img + 8, "\"epoch\":\"1\",\"step\":\"20\""), "epoch 1 complete, step 20");
	free(img);
	CHECK(run(m, "--train %s,%s --epochs 2 --load %s --save %s %s", path("x.npy"), path("y.npy"),
	          path("c.st"), path("c.st"), sched) == 0 && has("resuming at epoch 2, step 21 of 26") &&
	      has("train: 1 epoch, 6 steps"), "resume inside epoch 2");
	CHECK(same_file(path("a.st"), path("c.st")), "the same checkpoint after a mid-epoch resume");
	/* A log that ran past its checkpoint (a crash between the two) is cut
	 * back to the checkpoint's step before the resumed run appends. */
	CHECK(run(m, "--train %s,%s --epochs 1 --seed 7 --save %s --log %s --log-every 5 %s", path("x.npy"), path("y.npy"),
	          path("d.st"), path("d.csv"), sched) == 0, "1 epoch");
	CHECK(run(m, "--train %s,%s --epochs 2 --load %s --save %s --log %s --log-every 5 %s", path("x.npy"), path("y.npy"),
	          path("d.st"), path("d2.st"), path("d.csv"), sched) == 0, "2 epochs, checkpoint elsewhere");
	{ /* and a row cut short */
		FILE *f = fopen(path("d.csv"), "a");
		fputs("3,1,0.25", f);
		fclose(f);
	}
	CHECK(run(m, "--train %s,%s --epochs 2 --load %s --save %s --log %s --log-every 5 %s", path("x.npy"), path("y.npy"),
	          path("d.st"), path("d.st"), path("d.csv"), sched) == 0, "resume again");
	CHECK(same_log(path("a.csv"), path("d.csv")), "no repeated rows");
	/* The comparisons can fail: another seed on resume, another result. */
	CHECK(run(m, "--train %s,%s --epochs 2 --load %s --seed 8 --save %s %s", path("x.npy"), path("y.npy"),
	          path("b1.st"), path("e.st"), sched) == 0 && has("--seed 8 differs from the seed"),
	      "resume with another seed");
	CHECK(!same_file(path("a.st"), path("e.st")), "another seed: another checkpoint");
	CHECK(run(m, "--train %s,%s --epochs 2 --seed 7 --save %s --lr 0.05 --progress never", path("x.npy"),
	          path("y.npy"), path("f.st")) == 0 && !same_file(path("a.st"), path("f.st")),
	      "another schedule: another checkpoint");
	/* --epochs is the total: nothing left to do. */
	CHECK(run(m, "--train %s,%s --epochs 2 --load %s %s", path("x.npy"), path("y.npy"), path("a.st"),
	          sched) == 0 && has("nothing to train: ") && !matches("(^|\n)train: "), "already done");
	/* Cosine depends on the planned length: the first part is a 2-epoch
	 * run stopped after one epoch by --steps. */
	CHECK(run(m, "--train %s,%s --epochs 2 --seed 7 --save %s --log %s %s", path("x.npy"), path("y.npy"),
	          path("h.st"), path("h.csv"), cosine) == 0, "cosine, 2 epochs");
	CHECK(run(m, "--train %s,%s --epochs 2 --steps 13 --seed 7 --save %s --log %s %s", path("x.npy"),
	          path("y.npy"), path("i.st"), path("i.csv"), cosine) == 0, "cosine, stopped after 1");
	CHECK(run(m, "--train %s,%s --epochs 2 --load %s --save %s --log %s %s", path("x.npy"), path("y.npy"),
	          path("i.st"), path("i.st"), path("i.csv"), cosine) == 0, "cosine, resumed");
	CHECK(same_file(path("h.st"), path("i.st")) && same_log(path("h.csv"), path("i.csv")),
	      "cosine: the same checkpoint and log");
	/* Other training data: the checkpoint's epoch count wins. */
	regression_files(60, 20, 3, 2);
	CHECK(run(m, "--train %s,%s --epochs 3 --load %s --save %s %s", path("x.npy"), path("y.npy"),
	          path("b1.st"), path("g.st"), sched) == 0 && has("an epoch here has 15 steps") &&
	      has("epoch 2/3") && has("epoch 3/3"), "other data");
	img = read_bytes(path("g.st"), &n);
	CHECK(img && strstr((char *)img + 8, "\"epoch\":\"3\",\"step\":\"43\""), "epoch 3 at step 13 + 30");
	free(img);
}

/* ---- scripts/plot_log.sh ---- */

/* Run a shell command with its output captured; returns its exit status. */
static int shell(const char *fmt, ...)
{
	char cmd[2048];
	va_list ap;
	int rc;
	va_start(ap, fmt);
	vsnprintf(cmd, sizeof cmd, fmt, ap);
	va_end(ap);
	printf("  $ %s\n", cmd);
	capture_begin();
	rc = system(cmd);
	capture_end();
	rc = rc != -1 && WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
	printf("    -> exit %d\n", rc);
	return rc;
}

static int is_png(const char *p)
{
	size_t n;
	unsigned char *img = read_bytes(p, &n);
	int ok = img && n > 1000 && !memcmp(img, "\x89PNG\r\n\x1a\n", 8);
	free(img);
	return ok;
}

static void test_plot(void)
{
	const char *script = DLRT_SOURCE_DIR "/scripts/plot_log.sh";
	const dlrt_model *m = linear(3, 2, 4, DLRT_F64);
	regression_files(50, 20, 3, 2);
	CHECK(run(m, "--train %s,%s --epochs 4 --log %s --log-every 3 --quiet", path("x.npy"), path("y.npy"),
	          path("r.csv")) == 0, "a regression log");
	/* Without gnuplot: a message that says how to get it. */
	CHECK(shell("PATH=/nonexistent /bin/sh %s %s %s", script, path("r.csv"), path("r.png")) == 1 &&
	      has("gnuplot is not installed") && has("apt-get install gnuplot-nox"), "no gnuplot");
	CHECK(shell("/bin/sh %s %s", script, path("r.csv")) == 2 && has("usage: plot_log.sh LOG.csv OUT.png"),
	      "usage");
	if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
		printf("skipped: gnuplot is not installed (apt-get install gnuplot-nox)\n");
		exit(failures ? 1 : 77);
	}
	CHECK(shell("/bin/sh %s %s %s", script, path("r.csv"), path("r.png")) == 0 && is_png(path("r.png")),
	      "a PNG from a regression log");
	{
		const dlrt_model *c = classifier(4, 3, 16, DLRT_F32, 1.0 / 255);
		unsigned char img[200 * 4], lab[200];
		uint32_t di[2] = {200, 4}, dl[1] = {200};
		dlrt_rng r;
		dlrt_rng_seed(&r, 3, 3);
		for (int i = 0; i < 200; i++) {
			lab[i] = (unsigned char)dlrt_rng_below(&r, 3);
			for (int j = 0; j < 4; j++)
				img[i * 4 + j] = (unsigned char)(dlrt_rng_below(&r, 100) + (j == lab[i] ? 150 : 0));
		}
		write_idx(path("i.idx"), 0, 0x08, 2, di, img);
		write_idx(path("l.idx"), 0, 0x08, 1, dl, lab);
		CHECK(run(c, "--train %s,%s --test %s,%s --epochs 5 --lr 0.5 --log %s --quiet", path("i.idx"),
		          path("l.idx"), path("i.idx"), path("l.idx"), path("c.csv")) == 0, "a classifier log");
		CHECK(shell("/bin/sh %s %s %s", script, path("c.csv"), path("c.png")) == 0 && is_png(path("c.png")),
		      "a PNG from a classifier log");
	}
	write_text(path("bad.csv"), "a,b,c\n1,2,3\n");
	CHECK(shell("/bin/sh %s %s %s", script, path("bad.csv"), path("bad.png")) == 1 &&
	      has("expected a training log"), "not a log");
	write_text(path("empty.csv"), "step,epoch,loss,lr,train_acc,test_acc,images_per_s\n");
	CHECK(shell("/bin/sh %s %s %s", script, path("empty.csv"), path("e.png")) == 1 && has("no rows to plot yet"),
	      "a log without rows");
}

/* ---- the thread pool ---- */

static int pool_owner[10007];
static int pool_tid_seen[64];
static long pool_lo[64], pool_hi[64];

static void pool_task(int64_t n, long lo, long hi, int tid)
{
	for (long i = lo; i < hi; i++)
		pool_owner[i] += (int)n;
	pool_tid_seen[tid]++;
	pool_lo[tid] = lo;
	pool_hi[tid] = hi;
}

static void test_threads(void)
{
	CHECK(dlrt_threads() == 1, "%d threads before any set", dlrt_threads());
	CHECK(dlrt_default_threads() >= 1, "%d", dlrt_default_threads());
	static const int ks[] = {1, 2, 3, 7, 2, 16, 1};
	static const long counts[] = {0, 1, 5, 64, 1000, 10007};
	static const long grains[] = {1, 16, 1024};
	for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
		int k = dlrt_set_threads(ks[a]);
		CHECK(k == ks[a] && dlrt_threads() == k, "set %d: got %d", ks[a], k);
		for (size_t b = 0; b < sizeof counts / sizeof counts[0]; b++)
			for (size_t c = 0; c < sizeof grains / sizeof grains[0]; c++)
				for (int rep = 0; rep < 20; rep++) {
					long count = counts[b], grain = grains[c];
					memset(pool_owner, 0, sizeof pool_owner);
					memset(pool_tid_seen, 0, sizeof pool_tid_seen);
					memset(pool_lo, 0, sizeof pool_lo);
					memset(pool_hi, 0, sizeof pool_hi);
					dlrt_parallel(pool_task, 3, count, grain);
					int bad = 0, calls = 0;
					for (long i = 0; i < count; i++)
						bad += pool_owner[i] != 3;
					CHECK(!bad, "%d threads, count %ld, grain %ld: %d items not run exactly once", k, count, grain, bad);
					for (int t = 0; t < 64; t++) {
						calls += pool_tid_seen[t];
						if (t >= k)
							CHECK(!pool_tid_seen[t], "tid %d of %d threads", t, k);
						if (pool_tid_seen[t] == 1 && pool_hi[t] < count)
							CHECK(pool_hi[t] % grain == 0, "piece [%ld, %ld) of %ld not on a grain of %ld", pool_lo[t],
							      pool_hi[t], count, grain);
					}
					CHECK(calls <= k, "%d calls for %d threads", calls, k);
				}
	}
	/* starting and stopping at once, over and over: no hang */
	for (int i = 0; i < 200; i++)
		dlrt_set_threads(1 + i % 4);
	dlrt_set_threads(1);
	CHECK(dlrt_threads() == 1, "%d", dlrt_threads());
}


static const struct {
	const char *name;
	void (*fn)(void);
} tests[] = {
	{"rng", test_rng},
	{"init", test_init},
	{"init_torch", test_init_torch},
	{"npy", test_npy},
	{"idx", test_idx},
	{"csv", test_csv},
	{"gather", test_gather},
	{"safetensors", test_safetensors},
	{"flags", test_flags},
	{"train", test_train},
	{"checkpoint", test_checkpoint},
	{"dump", test_dump},
	{"gradcheck", test_gradcheck},
	{"classifier", test_classifier},
	{"mutations", test_mutations},
	{"log", test_log},
	{"schedule", test_schedule},
	{"numerics", test_numerics},
	{"predict", test_predict},
	{"resume", test_resume},
	{"threads", test_threads},
	{"plot", test_plot},
	{"fmnist", test_fmnist},
};

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	int found = 0;
	if (argc != 2) {
		printf("usage: %s TEST\ntests:", argv[0]);
		for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
			printf(" %s", tests[i].name);
		printf(" all\n");
		return 2;
	}
	snprintf(g_dir, sizeof g_dir, "%s/dlrt-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(g_dir)) {
		perror("mkdtemp");
		return 1;
	}
	for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
		if (!strcmp(argv[1], tests[i].name) ||
		    (!strcmp(argv[1], "all") && strcmp(tests[i].name, "fmnist") != 0 &&
		     strcmp(tests[i].name, "plot") != 0)) {
			printf("== %s\n", tests[i].name);
			tests[i].fn();
			found = 1;
		}
	toy_free();
	free(g_out);
	if (!found) {
		printf("no test named '%s'\n", argv[1]);
		remove_dir(g_dir);
		return 2;
	}
	if (failures) {
		printf("%d check%s failed (files kept in %s)\n", failures, failures == 1 ? "" : "s", g_dir);
		return 1;
	}
	remove_dir(g_dir);
	printf("ok\n");
	return 0;
}
