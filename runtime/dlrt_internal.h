/* dlrt_internal.h - helpers shared by the runtime's own source files.
 *
 * Not installed and not part of the contract in dlrt.h: error printing, path
 * joining, byte order, element access by dtype, and the .npy reader's
 * variant that also reports where the data starts (for error offsets). */
#ifndef DLRT_INTERNAL_H
#define DLRT_INTERNAL_H

#include "dlrt.h"

#include <zlib.h>

#if defined(__GNUC__) || defined(__clang__)
#define DLRT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DLRT_PRINTF(f, a)
#endif

/* "dlrt: " + message + newline on stderr. */
void dlrt_error(const char *fmt, ...) DLRT_PRINTF(1, 2);

/* dir/file, or file itself when it is absolute or dir is NULL/empty.
 * Returns a malloc'ed string (NULL on allocation failure). */
char *dlrt_join_path(const char *dir, const char *file);

/* Elements per example: numel / shape[0] for batched tensors, else numel. */
int64_t dlrt_row_elems(const dlrt_tensor *t);

/* Byte order: the files dlrt reads and writes are little-endian (except IDX,
 * which is big-endian); these make that independent of the host. */
int dlrt_host_is_le(void);
void dlrt_byteswap(void *p, size_t elem_size, size_t count);
/* fwrite of count elements in little-endian order; 0 or -1. */
int dlrt_fwrite_le(FILE *f, const void *p, size_t elem_size, size_t count);

/* Element i of a buffer of dtype t, as double / stored from double. */
double dlrt_get(const void *p, dlrt_dtype t, int64_t i);
void dlrt_set(void *p, dlrt_dtype t, int64_t i, double v);

/* a * b into *out unless it overflows int64 (both non-negative): 0 or -1. */
int dlrt_mul_ok(int64_t a, int64_t b, int64_t *out);

/* Format a shape as "[784,512]" into buf. */
const char *dlrt_shape_str(char *buf, size_t size, int rank, const int64_t *shape);

/* Open a file for reading through zlib (gzipped or plain), with a message
 * on failure. */
gzFile dlrt_gz_open(const char *path);

/* Read up to n bytes from a zlib stream (gzipped or plain).  Returns the
 * number read; *err is set when reading stopped on an error, including a
 * gzip stream that ends early.  dlrt_gz_msg says what the error was. */
int64_t dlrt_gz_read(gzFile f, void *buf, int64_t n, int *err);
const char *dlrt_gz_msg(gzFile f, const char *path);

/* dlrt_load_npy, also returning the file offset of the data and the element
 * size as stored in the file (for error messages that point into it). */
int dlrt_load_npy_at(const char *path, dlrt_dtype *dtype, int *rank,
                     int64_t shape[DLRT_MAX_RANK], void **data,
                     int64_t *data_offset, int *file_elem_size);

#endif
