/* util.c - small pieces the rest of the runtime shares.
 *
 * Element types and their sizes, the monotonic clock, error printing, path
 * joining, byte-order helpers and overflow-checked sizes.  Everything that
 * reads or writes a file goes through these so that the formats on disk
 * (little-endian safetensors and .npy, big-endian IDX) do not depend on the
 * host. */
#define _GNU_SOURCE /* syscall */
#include "dlrt_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

size_t dlrt_dtype_size(dlrt_dtype t)
{
	switch (t) {
	case DLRT_F32: return 4;
	case DLRT_F64: return 8;
	case DLRT_I32: return 4;
	case DLRT_U8: return 1;
	}
	return 0;
}

const char *dlrt_dtype_name(dlrt_dtype t)
{
	switch (t) {
	case DLRT_F32: return "f32";
	case DLRT_F64: return "f64";
	case DLRT_I32: return "i32";
	case DLRT_U8: return "u8";
	}
	return "?";
}

double dlrt_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* under mpirun with several ranks: this process's rank (-1: none) */
static int rank_label = -1;

void dlrt_set_rank_label(int rank)
{
	rank_label = rank;
}

void dlrt_error(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	if (rank_label >= 0)
		fprintf(stderr, "dlrt (rank %d): ", rank_label);
	else
		fputs("dlrt: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

char *dlrt_join_path(const char *dir, const char *file)
{
	size_t dl, fl = strlen(file);
	char *s;
	if (!dir || !*dir || file[0] == '/') {
		s = malloc(fl + 1);
		if (s)
			memcpy(s, file, fl + 1);
		return s;
	}
	dl = strlen(dir);
	s = malloc(dl + fl + 2);
	if (!s)
		return NULL;
	memcpy(s, dir, dl);
	if (dir[dl - 1] != '/')
		s[dl++] = '/';
	memcpy(s + dl, file, fl + 1);
	return s;
}

int64_t dlrt_row_elems(const dlrt_tensor *t)
{
	if (t->batch_axis == 0 && t->rank > 0 && t->shape[0] > 0)
		return t->numel / t->shape[0] * (t->slots > 1 ? t->slots : 1);
	return t->numel;
}

int dlrt_host_is_le(void)
{
	const uint16_t one = 1;
	unsigned char b;
	memcpy(&b, &one, 1);
	return b == 1;
}

void dlrt_byteswap(void *p, size_t elem_size, size_t count)
{
	unsigned char *b = p;
	if (elem_size < 2)
		return;
	for (size_t i = 0; i < count; i++, b += elem_size)
		for (size_t j = 0; j < elem_size / 2; j++) {
			unsigned char c = b[j];
			b[j] = b[elem_size - 1 - j];
			b[elem_size - 1 - j] = c;
		}
}

int dlrt_fwrite_le(FILE *f, const void *p, size_t elem_size, size_t count)
{
	unsigned char tmp[4096];
	const unsigned char *src = p;
	size_t per, left = count;
	if (dlrt_host_is_le() || elem_size < 2)
		return fwrite(p, elem_size, count, f) == count ? 0 : -1;
	per = sizeof tmp / elem_size;
	while (left > 0) {
		size_t k = left < per ? left : per;
		memcpy(tmp, src, k * elem_size);
		dlrt_byteswap(tmp, elem_size, k);
		if (fwrite(tmp, elem_size, k, f) != k)
			return -1;
		src += k * elem_size;
		left -= k;
	}
	return 0;
}

double dlrt_get(const void *p, dlrt_dtype t, int64_t i)
{
	switch (t) {
	case DLRT_F32: return ((const float *)p)[i];
	case DLRT_F64: return ((const double *)p)[i];
	case DLRT_I32: return ((const int32_t *)p)[i];
	case DLRT_U8: return ((const uint8_t *)p)[i];
	}
	return 0;
}

void dlrt_set(void *p, dlrt_dtype t, int64_t i, double v)
{
	switch (t) {
	case DLRT_F32: ((float *)p)[i] = (float)v; break;
	case DLRT_F64: ((double *)p)[i] = v; break;
	case DLRT_I32: ((int32_t *)p)[i] = (int32_t)v; break;
	case DLRT_U8: ((uint8_t *)p)[i] = (uint8_t)v; break;
	}
}

/* In blocks of bit tests that the compiler can vectorize (memcpy reads the
 * bits without breaking aliasing rules); the exact index is looked for only
 * in a block that has one.  NaN and the infinities are the values whose
 * exponent bits are all ones. */
#define NONFINITE_SCAN(UT, EXP)                                                 \
	do {                                                                        \
		const unsigned char *c_ = p;                                            \
		for (int64_t b_ = 0; b_ < n; b_ += 1024) {                              \
			int64_t e_ = n - b_ < 1024 ? n : b_ + 1024;                         \
			int any_ = 0;                                                       \
			for (int64_t i_ = b_; i_ < e_; i_++) {                              \
				UT u_;                                                          \
				memcpy(&u_, c_ + (size_t)i_ * sizeof u_, sizeof u_);            \
				any_ |= (u_ & (EXP)) == (EXP);                                  \
			}                                                                   \
			for (int64_t i_ = b_; any_ && i_ < e_; i_++) {                      \
				UT u_;                                                          \
				memcpy(&u_, c_ + (size_t)i_ * sizeof u_, sizeof u_);            \
				if ((u_ & (EXP)) == (EXP))                                      \
					return i_;                                                  \
			}                                                                   \
		}                                                                       \
	} while (0)

int64_t dlrt_first_nonfinite(const void *p, dlrt_dtype t, int64_t n)
{
	if (t == DLRT_F32)
		NONFINITE_SCAN(uint32_t, UINT32_C(0x7f800000));
	else if (t == DLRT_F64)
		NONFINITE_SCAN(uint64_t, UINT64_C(0x7ff0000000000000));
	return -1;
}

int dlrt_mul_ok(int64_t a, int64_t b, int64_t *out)
{
	if (a < 0 || b < 0 || (b != 0 && a > INT64_MAX / b))
		return -1;
	*out = a * b;
	return 0;
}

const char *dlrt_shape_str(char *buf, size_t size, int rank, const int64_t *shape)
{
	size_t len = 0;
	int k = snprintf(buf, size, "[");
	if (k > 0)
		len = (size_t)k;
	for (int i = 0; i < rank && len < size; i++) {
		k = snprintf(buf + len, size - len, "%s%lld", i ? "," : "", (long long)shape[i]);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (len < size)
		snprintf(buf + len, size - len, "]");
	return buf;
}

int64_t dlrt_gz_read(gzFile f, void *buf, int64_t n, int *err)
{
	int64_t got = 0;
	*err = 0;
	while (got < n) {
		int64_t left = n - got;
		unsigned chunk = left > (1 << 30) ? (1u << 30) : (unsigned)left;
		int k = gzread(f, (char *)buf + got, chunk);
		if (k < 0) {
			*err = 1;
			break;
		}
		if (k == 0) {
			int e;
			gzerror(f, &e);
			*err = e != Z_OK; /* e.g. a gzip stream cut short */
			break;
		}
		got += k;
	}
	return got;
}

const char *dlrt_gz_msg(gzFile f, const char *path)
{
	int e;
	const char *msg = gzerror(f, &e);
	size_t n = strlen(path);
	if (e == Z_ERRNO)
		return strerror(errno);
	if (e == Z_BUF_ERROR)
		return "unexpected end of compressed data (truncated file)";
	/* zlib puts the path in front of its message; it is already shown. */
	if (!strncmp(msg, path, n) && msg[n] == ':' && msg[n + 1] == ' ')
		msg += n + 2;
	return msg;
}

/* ---- reading gzip files ahead of time ----
 *
 * dlrt_prefetch(path) decompresses a gzip file on a thread of its own into
 * an anonymous file in memory; dlrt_gz_open of the same path waits for it
 * and reads the decompressed bytes (zlib reads a file that is not gzip as
 * it stands), once: the memory goes with the reader.  Anything that goes
 * wrong ahead of time (no such file, a damaged stream) leaves the path to
 * the ordinary reading, which reports it. */
#define PREFETCH_MAX 16
static struct prefetch {
	char *path;
	pthread_t thread;
	int fd; /* the decompressed bytes, or -1 */
} prefetched[PREFETCH_MAX];
static int nprefetched;
static pthread_mutex_t prefetch_lock = PTHREAD_MUTEX_INITIALIZER;

static int memory_file(void)
{
	int fd = -1;
#ifdef SYS_memfd_create
	fd = (int)syscall(SYS_memfd_create, "dlrt-prefetch", 1u /* MFD_CLOEXEC */);
#endif
	if (fd < 0) {
		FILE *t = tmpfile();
		if (!t)
			return -1;
		fd = dup(fileno(t));
		fclose(t);
	}
	return fd;
}

static void *prefetch_run(void *arg)
{
	struct prefetch *p = arg;
	unsigned char magic[2];
	FILE *raw = fopen(p->path, "rb");
	int gz = raw && fread(magic, 1, 2, raw) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
	if (raw)
		fclose(raw);
	if (!gz)
		return NULL; /* a plain file reads fast enough as it is */
	gzFile f = gzopen(p->path, "rb");
	int fd = f ? memory_file() : -1;
	int ok = fd >= 0;
	if (f)
		gzbuffer(f, 1 << 17);
	char *b = malloc(1 << 16);
	ok = ok && b;
	while (ok) {
		int k = gzread(f, b, 1 << 16);
		if (k <= 0) {
			int e;
			gzerror(f, &e);
			ok = k == 0 && e == Z_OK;
			break;
		}
		for (int done = 0; ok && done < k;) {
			ssize_t w = write(fd, b + done, (size_t)(k - done));
			if (w < 0 && errno == EINTR)
				continue;
			ok = w > 0;
			done += w > 0 ? (int)w : 0;
		}
	}
	free(b);
	if (f)
		gzclose(f);
	if (ok && lseek(fd, 0, SEEK_SET) == 0)
		p->fd = fd;
	else if (fd >= 0)
		close(fd);
	return NULL;
}

void dlrt_prefetch(const char *path)
{
	pthread_mutex_lock(&prefetch_lock);
	int i = nprefetched;
	for (int j = 0; j < nprefetched; j++)
		if (prefetched[j].path && !strcmp(prefetched[j].path, path))
			i = -1;
	if (i >= 0 && i < PREFETCH_MAX && (prefetched[i].path = strdup(path))) {
		prefetched[i].fd = -1;
		if (pthread_create(&prefetched[i].thread, NULL, prefetch_run, &prefetched[i]) == 0)
			nprefetched++;
		else {
			free(prefetched[i].path);
			prefetched[i].path = NULL;
		}
	}
	pthread_mutex_unlock(&prefetch_lock);
}

/* The decompressed bytes of path if dlrt_prefetch read them (-1: none);
 * the entry is used up. */
static int prefetched_fd(const char *path)
{
	int fd = -1;
	pthread_mutex_lock(&prefetch_lock);
	for (int i = 0; i < nprefetched; i++)
		if (prefetched[i].path && !strcmp(prefetched[i].path, path)) {
			pthread_join(prefetched[i].thread, NULL);
			fd = prefetched[i].fd;
			free(prefetched[i].path);
			prefetched[i].path = NULL;
			break;
		}
	pthread_mutex_unlock(&prefetch_lock);
	return fd;
}

gzFile dlrt_gz_open(const char *path)
{
	struct stat st;
	gzFile f;
	int fd = prefetched_fd(path);
	if (fd >= 0) {
		f = gzdopen(fd, "rb");
		if (f) {
			gzbuffer(f, 1 << 17);
			return f;
		}
		close(fd);
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		dlrt_error("%s: cannot open: it is a directory", path);
		return NULL;
	}
	errno = 0;
	f = gzopen(path, "rb");
	if (!f)
		dlrt_error("%s: cannot open: %s", path, errno ? strerror(errno) : "out of memory");
	else
		gzbuffer(f, 1 << 17);
	return f;
}
