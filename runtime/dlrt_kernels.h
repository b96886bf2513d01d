/* dlrt_kernels.h - the register-tiled kernels that generated code calls:
 * the GEMM micro-kernel and its packing routines, and the convolution
 * micro-kernels with their layout copies.
 *
 * This is not part of libdlrt's interface (dlrt.h): the generated C includes
 * it, once, after it has defined
 *
 *     typedef float dlc_t;    (or double) the element type
 *     #define DLC_ESZ 4       sizeof(dlc_t) as a number the preprocessor
 *                             can test: 4 or 8
 *
 * and optionally DLC_NO_VECTORS (plain C11 instead of GNU C vectors).  Every
 * function is static, so each model compiles its own copy for its element
 * type and target, and its kernels call them with constant shapes and
 * strides, which the C compiler inlines and specialises.  The helpers are
 * named dlc_*: the LLVM JIT may compile the larger ones once, as a partition
 * that models share (compiler/jit.cpp), so those are not declared inline.
 * The order of every sum here is part of the results that models promise
 * (the same bits on any number of threads, JIT or not).  Compiled on their
 * own and tested against naive loops by tests/runtime/test_kernels.c.
 *
 * What it defines besides the functions: the vector type dlc_v with dlc_ld,
 * dlc_st and dlc_splat; DLC_VL elements to a vector, DLC_NV vectors to a tile
 * row of DLC_NR elements, DLC_MR rows to a tile; DLC_TB, the side of the
 * block that dlc_tr transposes; DLC_UNUSED and DLC_UNROLL.  The code
 * generator (compiler/emit_c.c) relies on DLC_MR being 6 and on a tile row
 * taking at most 256 bytes when it sizes its scratch arrays. */
#ifndef DLRT_KERNELS_H
#define DLRT_KERNELS_H

#if !defined(DLC_ESZ) || (DLC_ESZ != 4 && DLC_ESZ != 8)
#error "dlrt_kernels.h: define dlc_t and DLC_ESZ (4 or 8) before including it"
#endif

#include <stdint.h>
#include <string.h>

_Static_assert(sizeof(dlc_t) == DLC_ESZ, "DLC_ESZ is not sizeof(dlc_t)");

/* ---- vector helpers: GNU C vector extensions where the compiler has them
 * (gcc, clang), plain C11 otherwise or with -DDLC_NO_VECTORS.  A tile row is
 * DLC_NV vectors of DLC_VL elements (DLC_NR in all), a tile DLC_MR rows. ---- */
#if defined(__GNUC__)
#define DLC_UNUSED __attribute__((unused))
#else
#define DLC_UNUSED
#endif
#if defined(__clang__)
#define DLC_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__) && __GNUC__ >= 8
#define DLC_UNROLL _Pragma("GCC unroll 32")
#else
#define DLC_UNROLL
#endif
#if defined(__GNUC__) && !defined(DLC_NO_VECTORS)
#if defined(__AVX512F__)
#define DLC_VB 64
#define DLC_NV 4
#elif defined(__AVX__)
#define DLC_VB 32
#define DLC_NV 2
#else
#define DLC_VB 16
#define DLC_NV 2
#endif
#define DLC_VLN (DLC_VB / DLC_ESZ)
typedef dlc_t dlc_v __attribute__((vector_size(DLC_VB)));
#if DLC_ESZ == 4
typedef uint32_t dlc_u;
#else
typedef uint64_t dlc_u;
#endif
typedef dlc_u dlc_vu __attribute__((vector_size(DLC_VB)));
static inline DLC_UNUSED dlc_v dlc_ld(const dlc_t *p)
{
	dlc_v v;
	memcpy(&v, p, sizeof v);
	return v;
}
static inline DLC_UNUSED void dlc_st(dlc_t *p, dlc_v v)
{
	memcpy(p, &v, sizeof v);
}
#define dlc_splat(x) ((dlc_t)(x) - (dlc_v){0})
#else
#define DLC_VLN 1
#define DLC_NV 4
typedef dlc_t dlc_v;
#define dlc_ld(p) (*(p))
#define dlc_st(p, x) (*(p) = (x))
#define dlc_splat(x) ((dlc_t)(x))
#endif
#define DLC_VL ((long)DLC_VLN)
#define DLC_MR 6
#define DLC_NR (DLC_NV * DLC_VL)

/* d[j * ds + i] = s[i * ss + j] for i, j < DLC_TB: a block transpose, by
 * rounds of two-vector shuffles where the compiler has them */
#if DLC_VLN > 1 && (defined(__clang__) || __GNUC__ >= 12)
#define DLC_TB DLC_VL
static inline DLC_UNUSED void dlc_tr(const dlc_t *s, long ss, dlc_t *d, long ds)
{
	dlc_v r[DLC_VLN], t[DLC_VLN];
	DLC_UNROLL for (int i = 0; i < DLC_VLN; i++)
		r[i] = dlc_ld(s + i * ss);
#if DLC_VLN == 16
	t[0] = __builtin_shufflevector(r[0], r[1], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[1] = __builtin_shufflevector(r[0], r[1], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	t[2] = __builtin_shufflevector(r[2], r[3], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[3] = __builtin_shufflevector(r[2], r[3], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	t[4] = __builtin_shufflevector(r[4], r[5], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[5] = __builtin_shufflevector(r[4], r[5], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	t[6] = __builtin_shufflevector(r[6], r[7], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[7] = __builtin_shufflevector(r[6], r[7], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	t[8] = __builtin_shufflevector(r[8], r[9], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[9] = __builtin_shufflevector(r[8], r[9], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	t[10] = __builtin_shufflevector(r[10], r[11], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[11] = __builtin_shufflevector(r[10], r[11], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	t[12] = __builtin_shufflevector(r[12], r[13], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[13] = __builtin_shufflevector(r[12], r[13], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	t[14] = __builtin_shufflevector(r[14], r[15], 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30);
	t[15] = __builtin_shufflevector(r[14], r[15], 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31);
	r[0] = __builtin_shufflevector(t[0], t[2], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[2] = __builtin_shufflevector(t[0], t[2], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	r[1] = __builtin_shufflevector(t[1], t[3], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[3] = __builtin_shufflevector(t[1], t[3], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	r[4] = __builtin_shufflevector(t[4], t[6], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[6] = __builtin_shufflevector(t[4], t[6], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	r[5] = __builtin_shufflevector(t[5], t[7], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[7] = __builtin_shufflevector(t[5], t[7], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	r[8] = __builtin_shufflevector(t[8], t[10], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[10] = __builtin_shufflevector(t[8], t[10], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	r[9] = __builtin_shufflevector(t[9], t[11], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[11] = __builtin_shufflevector(t[9], t[11], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	r[12] = __builtin_shufflevector(t[12], t[14], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[14] = __builtin_shufflevector(t[12], t[14], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	r[13] = __builtin_shufflevector(t[13], t[15], 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29);
	r[15] = __builtin_shufflevector(t[13], t[15], 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31);
	t[0] = __builtin_shufflevector(r[0], r[4], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[4] = __builtin_shufflevector(r[0], r[4], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	t[1] = __builtin_shufflevector(r[1], r[5], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[5] = __builtin_shufflevector(r[1], r[5], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	t[2] = __builtin_shufflevector(r[2], r[6], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[6] = __builtin_shufflevector(r[2], r[6], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	t[3] = __builtin_shufflevector(r[3], r[7], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[7] = __builtin_shufflevector(r[3], r[7], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	t[8] = __builtin_shufflevector(r[8], r[12], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[12] = __builtin_shufflevector(r[8], r[12], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	t[9] = __builtin_shufflevector(r[9], r[13], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[13] = __builtin_shufflevector(r[9], r[13], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	t[10] = __builtin_shufflevector(r[10], r[14], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[14] = __builtin_shufflevector(r[10], r[14], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	t[11] = __builtin_shufflevector(r[11], r[15], 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27);
	t[15] = __builtin_shufflevector(r[11], r[15], 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31);
	r[0] = __builtin_shufflevector(t[0], t[8], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[8] = __builtin_shufflevector(t[0], t[8], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	r[1] = __builtin_shufflevector(t[1], t[9], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[9] = __builtin_shufflevector(t[1], t[9], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	r[2] = __builtin_shufflevector(t[2], t[10], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[10] = __builtin_shufflevector(t[2], t[10], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	r[3] = __builtin_shufflevector(t[3], t[11], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[11] = __builtin_shufflevector(t[3], t[11], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	r[4] = __builtin_shufflevector(t[4], t[12], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[12] = __builtin_shufflevector(t[4], t[12], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	r[5] = __builtin_shufflevector(t[5], t[13], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[13] = __builtin_shufflevector(t[5], t[13], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	r[6] = __builtin_shufflevector(t[6], t[14], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[14] = __builtin_shufflevector(t[6], t[14], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	r[7] = __builtin_shufflevector(t[7], t[15], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23);
	r[15] = __builtin_shufflevector(t[7], t[15], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
	DLC_UNROLL for (int i = 0; i < DLC_VLN; i++)
		dlc_st(d + i * ds, r[i]);
#elif DLC_VLN == 8
	t[0] = __builtin_shufflevector(r[0], r[1], 0, 8, 2, 10, 4, 12, 6, 14);
	t[1] = __builtin_shufflevector(r[0], r[1], 1, 9, 3, 11, 5, 13, 7, 15);
	t[2] = __builtin_shufflevector(r[2], r[3], 0, 8, 2, 10, 4, 12, 6, 14);
	t[3] = __builtin_shufflevector(r[2], r[3], 1, 9, 3, 11, 5, 13, 7, 15);
	t[4] = __builtin_shufflevector(r[4], r[5], 0, 8, 2, 10, 4, 12, 6, 14);
	t[5] = __builtin_shufflevector(r[4], r[5], 1, 9, 3, 11, 5, 13, 7, 15);
	t[6] = __builtin_shufflevector(r[6], r[7], 0, 8, 2, 10, 4, 12, 6, 14);
	t[7] = __builtin_shufflevector(r[6], r[7], 1, 9, 3, 11, 5, 13, 7, 15);
	r[0] = __builtin_shufflevector(t[0], t[2], 0, 1, 8, 9, 4, 5, 12, 13);
	r[2] = __builtin_shufflevector(t[0], t[2], 2, 3, 10, 11, 6, 7, 14, 15);
	r[1] = __builtin_shufflevector(t[1], t[3], 0, 1, 8, 9, 4, 5, 12, 13);
	r[3] = __builtin_shufflevector(t[1], t[3], 2, 3, 10, 11, 6, 7, 14, 15);
	r[4] = __builtin_shufflevector(t[4], t[6], 0, 1, 8, 9, 4, 5, 12, 13);
	r[6] = __builtin_shufflevector(t[4], t[6], 2, 3, 10, 11, 6, 7, 14, 15);
	r[5] = __builtin_shufflevector(t[5], t[7], 0, 1, 8, 9, 4, 5, 12, 13);
	r[7] = __builtin_shufflevector(t[5], t[7], 2, 3, 10, 11, 6, 7, 14, 15);
	t[0] = __builtin_shufflevector(r[0], r[4], 0, 1, 2, 3, 8, 9, 10, 11);
	t[4] = __builtin_shufflevector(r[0], r[4], 4, 5, 6, 7, 12, 13, 14, 15);
	t[1] = __builtin_shufflevector(r[1], r[5], 0, 1, 2, 3, 8, 9, 10, 11);
	t[5] = __builtin_shufflevector(r[1], r[5], 4, 5, 6, 7, 12, 13, 14, 15);
	t[2] = __builtin_shufflevector(r[2], r[6], 0, 1, 2, 3, 8, 9, 10, 11);
	t[6] = __builtin_shufflevector(r[2], r[6], 4, 5, 6, 7, 12, 13, 14, 15);
	t[3] = __builtin_shufflevector(r[3], r[7], 0, 1, 2, 3, 8, 9, 10, 11);
	t[7] = __builtin_shufflevector(r[3], r[7], 4, 5, 6, 7, 12, 13, 14, 15);
	DLC_UNROLL for (int i = 0; i < DLC_VLN; i++)
		dlc_st(d + i * ds, t[i]);
#elif DLC_VLN == 4
	t[0] = __builtin_shufflevector(r[0], r[1], 0, 4, 2, 6);
	t[1] = __builtin_shufflevector(r[0], r[1], 1, 5, 3, 7);
	t[2] = __builtin_shufflevector(r[2], r[3], 0, 4, 2, 6);
	t[3] = __builtin_shufflevector(r[2], r[3], 1, 5, 3, 7);
	r[0] = __builtin_shufflevector(t[0], t[2], 0, 1, 4, 5);
	r[2] = __builtin_shufflevector(t[0], t[2], 2, 3, 6, 7);
	r[1] = __builtin_shufflevector(t[1], t[3], 0, 1, 4, 5);
	r[3] = __builtin_shufflevector(t[1], t[3], 2, 3, 6, 7);
	DLC_UNROLL for (int i = 0; i < DLC_VLN; i++)
		dlc_st(d + i * ds, r[i]);
#elif DLC_VLN == 2
	t[0] = __builtin_shufflevector(r[0], r[1], 0, 2);
	t[1] = __builtin_shufflevector(r[0], r[1], 1, 3);
	DLC_UNROLL for (int i = 0; i < DLC_VLN; i++)
		dlc_st(d + i * ds, t[i]);
#endif
}
#else
#define DLC_TB (DLC_VLN > 1 ? 8L : 4L)
static inline DLC_UNUSED void dlc_tr(const dlc_t *s, long ss, dlc_t *d, long ds)
{
	for (long i = 0; i < DLC_TB; i++)
		for (long j = 0; j < DLC_TB; j++)
			d[j * ds + i] = s[i * ss + j];
}
#endif

/* ---- matrix products ---- */

/* C[0:MR][0:NR] (ldc apart) = (acc ? C : 0) + a * b over kc steps, a packed
 * MR values per step, b NR values per step, sb apart (NR when packed) */
static DLC_UNUSED void dlc_ukr(long kc, const dlc_t *restrict a, const dlc_t *restrict b, long sb, dlc_t *restrict c,
                               long ldc, int acc)
{
	dlc_v t[DLC_MR][DLC_NV];
	DLC_UNROLL for (int r = 0; r < DLC_MR; r++)
		DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
			t[r][v] = acc ? dlc_ld(c + r * ldc + v * DLC_VL) : dlc_splat(0);
	for (long k = 0; k < kc; k++) {
		dlc_v bv[DLC_NV];
		DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
			bv[v] = dlc_ld(b + v * DLC_VL);
		DLC_UNROLL for (int r = 0; r < DLC_MR; r++) {
			dlc_v ar = dlc_splat(a[r]);
			DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
				t[r][v] += ar * bv[v];
		}
		a += DLC_MR;
		b += sb;
	}
	DLC_UNROLL for (int r = 0; r < DLC_MR; r++)
		DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
			dlc_st(c + r * ldc + v * DLC_VL, t[r][v]);
}

/* an mr x nr tile of C (mr <= MR, nr <= NR): partial tiles go through a
 * full one on the stack */
static DLC_UNUSED void dlc_tile(long kc, long mr, long nr, const dlc_t *a, const dlc_t *b, long sb, dlc_t *c, long ldc,
                                int acc)
{
	if (mr == DLC_MR && nr == DLC_NR) {
		dlc_ukr(kc, a, b, sb, c, ldc, acc);
		return;
	}
	dlc_t t[DLC_MR * DLC_NR];
	for (long r = 0; r < DLC_MR; r++)
		for (long j = 0; j < DLC_NR; j++)
			t[r * DLC_NR + j] = acc && r < mr && j < nr ? c[r * ldc + j] : 0;
	dlc_ukr(kc, a, b, sb, t, DLC_NR, acc);
	for (long r = 0; r < mr; r++)
		for (long j = 0; j < nr; j++)
			c[r * ldc + j] = t[r * DLC_NR + j];
}

/* ap: slivers of MR rows of A(i, k) = a[i * si + k * sk], i < mc, k < kc,
 * MR values per k (rows past mc zero) */
static DLC_UNUSED void dlc_pack_a(long kc, long mc, const dlc_t *a, long si, long sk, dlc_t *ap)
{
	for (long i0 = 0; i0 < mc; i0 += DLC_MR, ap += kc * DLC_MR) {
		long mr = mc - i0 < DLC_MR ? mc - i0 : DLC_MR;
		const dlc_t *s = a + i0 * si;
		if (mr == DLC_MR && sk == 1) {
			for (long k = 0; k < kc; k++)
				for (long r = 0; r < DLC_MR; r++)
					ap[k * DLC_MR + r] = s[r * si + k];
		} else if (mr == DLC_MR && si == 1) {
			for (long k = 0; k < kc; k++)
				for (long r = 0; r < DLC_MR; r++)
					ap[k * DLC_MR + r] = s[k * sk + r];
		} else {
			for (long k = 0; k < kc; k++)
				for (long r = 0; r < DLC_MR; r++)
					ap[k * DLC_MR + r] = r < mr ? s[r * si + k * sk] : 0;
		}
	}
}

/* bp: panels of NR columns of B(k, j) = b[k * sk + j * sj], k < kc, j < nc,
 * NR values per k (columns past nc zero) */
static DLC_UNUSED void dlc_pack_b(long kc, long nc, const dlc_t *b, long sk, long sj, dlc_t *bp)
{
	for (long j0 = 0; j0 < nc; j0 += DLC_NR, bp += kc * DLC_NR) {
		long nr = nc - j0 < DLC_NR ? nc - j0 : DLC_NR;
		const dlc_t *s = b + j0 * sj;
		if (nr == DLC_NR && sj == 1) {
			for (long k = 0; k < kc; k++)
				for (long j = 0; j < DLC_NR; j++)
					bp[k * DLC_NR + j] = s[k * sk + j];
		} else if (nr == DLC_NR && sk == 1) {
			long k = 0;
			for (; k + DLC_TB <= kc; k += DLC_TB)
				for (long j = 0; j < DLC_NR; j += DLC_TB)
					dlc_tr(s + j * sj + k, sj, bp + k * DLC_NR + j, DLC_NR);
			for (; k < kc; k++)
				for (long j = 0; j < DLC_NR; j++)
					bp[k * DLC_NR + j] = s[j * sj + k];
		} else {
			for (long k = 0; k < kc; k++)
				for (long j = 0; j < DLC_NR; j++)
					bp[k * DLC_NR + j] = j < nr ? s[k * sk + j * sj] : 0;
		}
	}
}

/* ---- convolutions ---- */

/* Convolutions run on "batch-inner" copies of their operands: row f of a
 * [rows][nb] array holds feature f of every batch row (columns past n are
 * zero), so one output pixel of MR channels over NR batch rows is a register
 * tile and every kernel tap is a row of the copy. */

/* xt[((c * hp + h + pt) * wp + w + pl) * nb + b] = x[b * bs + (c * H + h) * W + w]
 * for b < n; zero for n <= b < nz and in the padding (hp x wp planes) */
static DLC_UNUSED void dlc_to_bi(const dlc_t *x, long bs, long n, long nz, long C, long H, long W, long hp, long wp,
                                 long pt, long pl, long nb, dlc_t *xt)
{
	long chw = C * H * W, nn = n / DLC_TB * DLC_TB;
	if (hp != H || wp != W) {
		for (long f = 0; f < C * hp * wp; f++)
			for (long b = 0; b < nz; b++)
				xt[f * nb + b] = 0;
		for (long c = 0; c < C; c++)
			for (long h = 0; h < H; h++) {
				dlc_t *row = xt + ((c * hp + h + pt) * wp + pl) * nb;
				const dlc_t *src = x + (c * H + h) * W;
				long w0 = W / DLC_TB * DLC_TB;
				for (long w = 0; w < w0; w += DLC_TB)
					for (long b = 0; b < nn; b += DLC_TB)
						dlc_tr(src + b * bs + w, bs, row + w * nb + b, nb);
				for (long w = 0; w < W; w++)
					for (long b = nn; b < n; b++)
						row[w * nb + b] = src[b * bs + w];
				for (long w = w0; w < W; w++)
					for (long b = 0; b < nn; b++)
						row[w * nb + b] = src[b * bs + w];
			}
		return;
	}
	long f0 = chw / DLC_TB * DLC_TB;
	for (long f = 0; f < f0; f += DLC_TB)
		for (long b = 0; b < nn; b += DLC_TB)
			dlc_tr(x + b * bs + f, bs, xt + f * nb + b, nb);
	for (long f = 0; f < chw; f++) {
		for (long b = nn; b < n; b++)
			xt[f * nb + b] = x[b * bs + f];
		for (long b = n; b < nz; b++)
			xt[f * nb + b] = 0;
	}
	for (long f = f0; f < chw; f++)
		for (long b = 0; b < nn; b++)
			xt[f * nb + b] = x[b * bs + f];
}

/* y[b * ys + f] = yt[f * nb + b] for b < n, f < rows; zero for n <= b <
 * zero_to */
static DLC_UNUSED void dlc_from_bi(const dlc_t *yt, long n, long zero_to, long rows, long nb, dlc_t *y, long ys)
{
	long nn = n / DLC_TB * DLC_TB, f0 = rows / DLC_TB * DLC_TB;
	for (long f = 0; f < f0; f += DLC_TB)
		for (long b = 0; b < nn; b += DLC_TB)
			dlc_tr(yt + f * nb + b, nb, y + b * ys + f, ys);
	for (long b = 0; b < nn; b++)
		for (long f = f0; f < rows; f++)
			y[b * ys + f] = yt[f * nb + b];
	for (long b = nn; b < n; b++)
		for (long f = 0; f < rows; f++)
			y[b * ys + f] = yt[f * nb + b];
	for (long b = n; b < zero_to; b++)
		for (long f = 0; f < rows; f++)
			y[b * ys + f] = 0;
}

/* a deterministic sum of a vector's lanes (pairwise) */
static inline DLC_UNUSED dlc_t dlc_hsum(dlc_v v)
{
	dlc_t a[DLC_VLN];
	memcpy(a, &v, sizeof a);
	for (int w = DLC_VLN / 2; w >= 1; w /= 2)
		for (int i = 0; i < w; i++)
			a[i] += a[i + w];
	return a[0];
}

/* y[r * ys + yo[v] + 0:VL] for r < mr, v < nv = sum over the taps (c < nc,
 * i < ni, j < nj) of w[c * wc + i * wi + j * wj + r] * x[c * xc + i * xi +
 * j * xj + xo[v] + 0:VL] (weights packed MR per tap, zero past mr; offsets
 * past nv repeat a valid one) */
static DLC_UNUSED void dlc_cukr(long nc, long ni, long nj, const dlc_t *x, long xc, long xi, long xj, const long *xo,
                                const dlc_t *w, long wc, long wi, long wj, dlc_t *y, long ys, const long *yo, long mr,
                                long nv)
{
	dlc_v t[DLC_MR][DLC_NV];
	long o[DLC_NV];
	DLC_UNROLL for (int v = 0; v < DLC_NV; v++) {
		o[v] = xo[v];
		DLC_UNROLL for (int r = 0; r < DLC_MR; r++)
			t[r][v] = dlc_splat(0);
	}
	for (long c = 0; c < nc; c++)
		for (long i = 0; i < ni; i++) {
			const dlc_t *xp = x + c * xc + i * xi, *wp = w + c * wc + i * wi;
			for (long j = 0; j < nj; j++, xp += xj, wp += wj) {
				dlc_v bv[DLC_NV];
				DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
					bv[v] = dlc_ld(xp + o[v]);
				DLC_UNROLL for (int r = 0; r < DLC_MR; r++) {
					dlc_v ar = dlc_splat(wp[r]);
					DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
						t[r][v] += ar * bv[v];
				}
			}
		}
	DLC_UNROLL for (int r = 0; r < DLC_MR; r++)
		DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
			if (r < mr && v < nv)
				dlc_st(y + r * ys + yo[v], t[r][v]);
}

/* The sum over a < n1, b < n2 and the vectors c < n3 of dy[r * ys + a * y1
 * + b * y2 + c * VL + 0:VL] * x[off[t] + a * x1 + b * x2 + c * VL + 0:VL],
 * for r < mr, t < nt (nt <= NV), the first skip lanes of dy taken as zero.  Without part: the lanes summed into
 * dk[r * dks + t].  With part: added to (or, first, stored in) the vector
 * partial sums part[(r * NV + t) * VL + 0:VL], lanes not summed. */
static DLC_UNUSED void dlc_wukr(long n1, long x1, long y1, long n2, long x2, long y2, long n3, const dlc_t *x,
                                const long *off, const dlc_t *dy, long ys, long mr, long nt, dlc_t *dk, long dks,
                                dlc_t *part, int first, long skip)
{
	dlc_v t[DLC_MR][DLC_NV];
	const dlc_t *yr[DLC_MR], *xr[DLC_NV];
#if DLC_VLN > 1
	dlc_vu mk;
	for (int l = 0; l < DLC_VLN; l++)
		mk[l] = l < skip ? 0 : (dlc_u)-1;
#else
	(void)skip;
#endif
	DLC_UNROLL for (int r = 0; r < DLC_MR; r++) {
		yr[r] = dy + (r < mr ? r : mr - 1) * ys;
		DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
			t[r][v] = part && !first ? dlc_ld(part + (r * DLC_NV + v) * DLC_VL) : dlc_splat(0);
	}
	DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
		xr[v] = x + off[v < nt ? v : nt - 1];
	for (long a = 0; a < n1; a++)
		for (long b = 0; b < n2; b++) {
			long xo = a * x1 + b * x2, yo = a * y1 + b * y2;
			for (long c = 0; c < n3 * DLC_VL; c += DLC_VL) {
				dlc_v xv[DLC_NV];
				DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
					xv[v] = dlc_ld(xr[v] + xo + c);
				DLC_UNROLL for (int r = 0; r < DLC_MR; r++) {
					dlc_v yv = dlc_ld(yr[r] + yo + c);
#if DLC_VLN > 1
					if (skip)
						yv = (dlc_v)((dlc_vu)yv & mk);
#endif
					DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
						t[r][v] += yv * xv[v];
				}
			}
		}
	if (part) {
		DLC_UNROLL for (int r = 0; r < DLC_MR; r++)
			DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
				dlc_st(part + (r * DLC_NV + v) * DLC_VL, t[r][v]);
		return;
	}
	DLC_UNROLL for (int r = 0; r < DLC_MR; r++)
		DLC_UNROLL for (int v = 0; v < DLC_NV; v++)
			if (r < mr && v < nt)
				dk[r * dks + v] = dlc_hsum(t[r][v]);
}

/* xp[(b * C + c) * ps + (h + pt) * wp + w + pl] = x[((b * C + c) * H + h) * W + w]
 * for b < n, zero in the padding (planes of ps elements, rows of wp) */
static DLC_UNUSED void dlc_pad(const dlc_t *x, long n, long C, long H, long W, long wp, long pt, long pl, long ps,
                               dlc_t *xp)
{
	for (long p = 0; p < n * C; p++) {
		dlc_t *d = xp + p * ps;
		const dlc_t *s = x + p * H * W;
		for (long i = 0; i < pt * wp; i++)
			d[i] = 0;
		for (long h = 0; h < H; h++) {
			dlc_t *row = d + (h + pt) * wp;
			for (long w = 0; w < pl; w++)
				row[w] = 0;
			memcpy(row + pl, s + h * W, sizeof(dlc_t) * (size_t)W);
			for (long w = pl + W; w < wp; w++)
				row[w] = 0;
		}
		for (long i = (H + pt) * wp; i < ps; i++)
			d[i] = 0;
	}
}

#endif /* DLRT_KERNELS_H */
