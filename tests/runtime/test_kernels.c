/* test_kernels.c - the micro-kernels of runtime/dlrt_kernels.h against naive
 * loops.
 *
 * The header is included the way generated code includes it, with dlc_t float
 * (double with -DTEST_F64); tests.cmake builds this file once per element
 * type and per vector path (the compiler's default vectors, this CPU's with
 * -march=native, plain C11 with -DDLC_NO_VECTORS), so every register tile
 * and transpose width the machine has is exercised.
 *
 * Every helper runs over the sizes its code treats apart: 1..3, around the
 * tile sizes DLC_MR, DLC_NR and DLC_VL, the transposed block DLC_TB and the
 * blocking of the generated matrix product (MM_MC, MM_KC, MM_NC), full and
 * partial tiles, each accumulate and partial-sum variant.  Two kinds of data:
 * small integers, whose sums every order computes exactly, so results must
 * equal the reference bit for bit; and reals in [-1, 1], checked against a
 * double-precision reference within the rounding of the sums (a few ulps of
 * the sum of magnitudes), far tighter than any misplaced or missing term.
 * Outputs are surrounded by a sentinel that must survive: a helper writes
 * nothing outside what it is documented to write.
 *
 * Usage: test_kernels (all tests) or test_kernels NAME. */
#ifdef TEST_F64
typedef double dlc_t;
#define DLC_ESZ 8
#define EPS 2.220446049250313e-16
#else
typedef float dlc_t;
#define DLC_ESZ 4
#define EPS 1.1920929e-07
#endif
#include "dlrt_kernels.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* the blocking of the matrix product that compiler/emit_c.c generates */
#define MM_KC 256
#define MM_MC 120
#define MM_NC 1024

#define SENT ((dlc_t)-7777.25) /* no sum of the test data is this */

static long failures, checks;
static int exact; /* integer data: results must be exact */

#define CHECK(cond, ...)                                                          \
	do {                                                                          \
		checks++;                                                                 \
		if (!(cond) && failures++ < 20) {                                         \
			printf("%s:%d: %s: ", __FILE__, __LINE__, exact ? "integers" : "reals"); \
			printf(__VA_ARGS__);                                                  \
			printf("\n");                                                         \
		}                                                                         \
	} while (0)

/* ---- data ---- */

static unsigned long long rng_state = 0x853c49e6748fea9bULL;

static unsigned rnd(void)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng_state >> 33);
}

/* an integer in [-3, 3], or a real in [-1, 1] */
static dlc_t value(void)
{
	if (exact)
		return (dlc_t)((int)(rnd() % 7) - 3);
	return (dlc_t)((double)rnd() / 2147483648.0 * 2 - 1);
}

static dlc_t *array(long n)
{
	dlc_t *p = malloc(sizeof(dlc_t) * (size_t)(n > 0 ? n : 1));
	if (!p) {
		printf("out of memory\n");
		exit(1);
	}
	return p;
}

static dlc_t *random_array(long n)
{
	dlc_t *p = array(n);
	for (long i = 0; i < n; i++)
		p[i] = value();
	return p;
}

static void fill(dlc_t *p, long n, dlc_t v)
{
	for (long i = 0; i < n; i++)
		p[i] = v;
}

/* got equals the sum ref of nterms products whose magnitudes add up to mag:
 * exactly for integer data, else within the rounding of nterms steps */
static int near(dlc_t got, double ref, double mag, long nterms)
{
	if (exact)
		return (double)got == ref;
	return fabs((double)got - ref) <= 2.0 * (double)(nterms + 2) * EPS * mag;
}

/* ---- layout helpers ---- */

static void test_tr(void)
{
	long ss[] = {DLC_TB, DLC_TB + 1, 3 * DLC_TB + 5}, ds[] = {DLC_TB, DLC_TB + 3, 2 * DLC_TB + 1};
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++) {
			long ns = DLC_TB * ss[a], nd = DLC_TB * ds[b];
			dlc_t *s = random_array(ns), *d = array(nd);
			fill(d, nd, SENT);
			dlc_tr(s, ss[a], d, ds[b]);
			for (long i = 0; i < DLC_TB; i++)
				for (long j = 0; j < ds[b]; j++) {
					/* d[j * ds + i] for i, j < TB; the rest untouched */
					long at = i * ds[b] + j;
					dlc_t want = j < DLC_TB ? s[j * ss[a] + i] : SENT;
					CHECK(d[at] == want, "dlc_tr ss=%ld ds=%ld: d[%ld] = %g, want %g", ss[a], ds[b], at,
					      (double)d[at], (double)want);
				}
			free(s);
			free(d);
		}
}

static void test_hsum(void)
{
	for (int rep = 0; rep < 50; rep++) {
		dlc_t lanes[DLC_VLN], want[DLC_VLN];
		for (int l = 0; l < DLC_VLN; l++)
			lanes[l] = want[l] = value();
		for (int w = DLC_VLN / 2; w >= 1; w /= 2) /* pairwise, as documented */
			for (int i = 0; i < w; i++)
				want[i] += want[i + w];
		dlc_t got = dlc_hsum(dlc_ld(lanes));
		CHECK(got == want[0], "dlc_hsum: %.17g, want %.17g", (double)got, (double)want[0]);
	}
}

/* ---- matrix products ---- */

/* dlc_ukr through dlc_tile: every mr x nr of a tile, with and without
 * accumulation, B packed (sb = NR) and read in place (sb > NR) */
static void test_tile(void)
{
	long kcs[] = {0, 1, 2, 3, 7, 16, 33};
	long ldc = DLC_NR + 3;
	for (int ki = 0; ki < (int)(sizeof kcs / sizeof *kcs); ki++)
		for (long sb = DLC_NR; sb <= DLC_NR + 5; sb += 5)
			for (long mr = 1; mr <= DLC_MR; mr++)
				for (long nr = 1; nr <= DLC_NR; nr++)
					for (int acc = 0; acc < 2; acc++) {
						long kc = kcs[ki], nc = (DLC_MR + 1) * ldc;
						dlc_t *a = random_array(kc * DLC_MR), *b = random_array(kc * sb);
						dlc_t *c = array(nc), *c0 = array(nc);
						for (long i = 0; i < nc; i++)
							c0[i] = c[i] = i % ldc < nr && i / ldc < mr ? value() : SENT;
						dlc_tile(kc, mr, nr, a, b, sb, c, ldc, acc);
						for (long i = 0; i < nc; i++) {
							long r = i / ldc, j = i % ldc;
							if (r >= mr || j >= nr) {
								CHECK(c[i] == SENT, "dlc_tile kc=%ld mr=%ld nr=%ld: wrote c[%ld][%ld]", kc, mr, nr,
								      r, j);
								continue;
							}
							double ref = acc ? (double)c0[i] : 0, mag = fabs(ref);
							for (long k = 0; k < kc; k++) {
								ref += (double)a[k * DLC_MR + r] * (double)b[k * sb + j];
								mag += fabs((double)a[k * DLC_MR + r] * (double)b[k * sb + j]);
							}
							CHECK(near(c[i], ref, mag, kc), "dlc_tile kc=%ld mr=%ld nr=%ld sb=%ld acc=%d: c[%ld][%ld] = "
							      "%.17g, want %.17g", kc, mr, nr, sb, acc, r, j, (double)c[i], ref);
						}
						free(a);
						free(b);
						free(c);
						free(c0);
					}
}

/* A(i, k) = a[i * si + k * sk]: row-major (sk = 1), transposed (si = 1) and
 * strided both ways */
static void test_pack_a(void)
{
	long mcs[] = {1, 2, 3, 5, 6, 7, 11, 12, 13, MM_MC - 1, MM_MC, MM_MC + 1};
	long kcs[] = {1, 2, 3, 8, 17};
	for (int mi = 0; mi < (int)(sizeof mcs / sizeof *mcs); mi++)
		for (int ki = 0; ki < (int)(sizeof kcs / sizeof *kcs); ki++)
			for (int layout = 0; layout < 3; layout++) {
				long mc = mcs[mi], kc = kcs[ki];
				long si = layout == 0 ? kc + 2 : layout == 1 ? 1 : 2 * kc + 1;
				long sk = layout == 0 ? 1 : layout == 1 ? mc + 3 : 2;
				long na = (mc - 1) * si + (kc - 1) * sk + 1;
				long slivers = (mc + DLC_MR - 1) / DLC_MR, np = slivers * kc * DLC_MR + DLC_MR;
				dlc_t *a = random_array(na), *ap = array(np);
				fill(ap, np, SENT);
				dlc_pack_a(kc, mc, a, si, sk, ap);
				for (long p = 0; p < np; p++) {
					long s = p / (kc * DLC_MR), k = p % (kc * DLC_MR) / DLC_MR, r = p % DLC_MR, i = s * DLC_MR + r;
					dlc_t want = s >= slivers ? SENT : i < mc ? a[i * si + k * sk] : 0;
					CHECK(ap[p] == want, "dlc_pack_a mc=%ld kc=%ld si=%ld sk=%ld: ap[%ld] = %g, want %g", mc, kc, si,
					      sk, p, (double)ap[p], (double)want);
				}
				free(a);
				free(ap);
			}
}

/* B(k, j) = b[k * sk + j * sj]: row-major (sj = 1), transposed (sk = 1, by
 * blocks of DLC_TB steps and a tail) and strided both ways */
static void test_pack_b(void)
{
	long ncs[] = {1, 2, 3, DLC_NR - 1, DLC_NR, DLC_NR + 1, 2 * DLC_NR + 1, 3 * DLC_NR};
	long kcs[] = {1, 2, 3, DLC_TB - 1, DLC_TB, DLC_TB + 1, 2 * DLC_TB + 3, 17};
	for (int ni = 0; ni < (int)(sizeof ncs / sizeof *ncs); ni++)
		for (int ki = 0; ki < (int)(sizeof kcs / sizeof *kcs); ki++)
			for (int layout = 0; layout < 3; layout++) {
				long nc = ncs[ni], kc = kcs[ki];
				if (nc < 1 || kc < 1)
					continue;
				long sk = layout == 0 ? nc + 2 : layout == 1 ? 1 : 2;
				long sj = layout == 0 ? 1 : layout == 1 ? kc + 3 : 2 * kc + 1;
				long panels = (nc + DLC_NR - 1) / DLC_NR;
				/* a panel reads whole DLC_NR columns when it is full */
				long nb = (kc - 1) * sk + (panels * DLC_NR - 1) * sj + 1;
				long np = panels * kc * DLC_NR + DLC_NR;
				dlc_t *b = random_array(nb), *bp = array(np);
				fill(bp, np, SENT);
				dlc_pack_b(kc, nc, b, sk, sj, bp);
				for (long p = 0; p < np; p++) {
					long s = p / (kc * DLC_NR), k = p % (kc * DLC_NR) / DLC_NR, jj = p % DLC_NR, j = s * DLC_NR + jj;
					dlc_t want = s >= panels ? SENT : j < nc ? b[k * sk + j * sj] : 0;
					CHECK(bp[p] == want, "dlc_pack_b nc=%ld kc=%ld sk=%ld sj=%ld: bp[%ld] = %g, want %g", nc, kc, sk,
					      sj, p, (double)bp[p], (double)want);
				}
				free(b);
				free(bp);
			}
}

/* C[M][N] = op(A) op(B) with the loops that compiler/emit_c.c generates
 * (kernel_matmul): contraction blocks of up to MM_KC steps split evenly, B
 * packed MM_NC columns at a time, A MM_MC rows at a time, tiles accumulated
 * from the second block on. */
static dlc_t pa_buf[MM_MC * MM_KC], pb_buf[(MM_NC + 64) * MM_KC];

static void gemm(long M, long N, long K, int ta, int tb, const dlc_t *ab, const dlc_t *bb, dlc_t *c)
{
	long sai = ta ? 1 : K, sak = ta ? M : 1, sbk = tb ? 1 : N, sbj = tb ? K : 1;
	long kb = K, nkb = kb > MM_KC ? (kb + MM_KC - 1) / MM_KC : 1;
	for (long pb = 0, pc = 0; pb < nkb; pb++) {
		long kc = (kb - pc) / (nkb - pb);
		for (long jc = 0; jc < N; jc += MM_NC) {
			long nc = N - jc < MM_NC ? N - jc : MM_NC;
			dlc_pack_b(kc, nc, bb + pc * sbk + jc * sbj, sbk, sbj, pb_buf);
			for (long ic = 0; ic < M; ic += MM_MC) {
				long mc = M - ic < MM_MC ? M - ic : MM_MC;
				dlc_pack_a(kc, mc, ab + ic * sai + pc * sak, sai, sak, pa_buf);
				for (long jr = 0; jr < nc; jr += DLC_NR)
					for (long ir = 0; ir < mc; ir += DLC_MR) {
						long mr = mc - ir < DLC_MR ? mc - ir : DLC_MR, nr = nc - jr < DLC_NR ? nc - jr : DLC_NR;
						dlc_tile(kc, mr, nr, pa_buf + ir * kc, pb_buf + jr * kc, DLC_NR, c + (ic + ir) * N + jc + jr, N,
						         pb > 0);
					}
			}
		}
		pc += kc;
	}
}

static void check_gemm(long M, long N, long K, int ta, int tb)
{
	dlc_t *a = random_array(M * K), *b = random_array(K * N), *c = array(M * N + 1);
	fill(c, M * N + 1, SENT);
	gemm(M, N, K, ta, tb, a, b, c);
	for (long i = 0; i < M; i++)
		for (long j = 0; j < N; j++) {
			double ref = 0, mag = 0;
			for (long k = 0; k < K; k++) {
				double t = (double)a[ta ? k * M + i : i * K + k] * (double)b[tb ? j * K + k : k * N + j];
				ref += t;
				mag += fabs(t);
			}
			CHECK(near(c[i * N + j], ref, mag, K), "gemm %ldx%ldx%ld ta=%d tb=%d: C[%ld][%ld] = %.17g, want %.17g", M,
			      N, K, ta, tb, i, j, (double)c[i * N + j], ref);
		}
	CHECK(c[M * N] == SENT, "gemm %ldx%ldx%ld ta=%d tb=%d: wrote past C", M, N, K, ta, tb);
	free(a);
	free(b);
	free(c);
}

static void test_gemm(void)
{
	long ms[] = {1, 2, 3, 5, 6, 7, 12, 13};
	long ns[] = {1, 2, 3, DLC_NR - 1, DLC_NR, DLC_NR + 1, 2 * DLC_NR + 1};
	long ks[] = {0, 1, 2, 3, 8, 17};
	for (int t = 0; t < 4; t++) {
		int ta = t & 1, tb = t >> 1;
		for (int mi = 0; mi < (int)(sizeof ms / sizeof *ms); mi++)
			for (int ni = 0; ni < (int)(sizeof ns / sizeof *ns); ni++)
				for (int ki = 0; ki < (int)(sizeof ks / sizeof *ks); ki++)
					check_gemm(ms[mi], ns[ni], ks[ki], ta, tb);
		/* the blocking: MM_MC rows, MM_KC steps (split evenly), MM_NC columns */
		long big[][3] = {
			{MM_MC - 1, 5, 20}, {MM_MC, 5, 20}, {MM_MC + 1, 5, 20}, {2 * MM_MC + 7, 3, 9},
			{7, 5, MM_KC - 1}, {7, 5, MM_KC}, {7, 5, MM_KC + 1}, {5, 3, 2 * MM_KC + 1}, {3, 2, 600},
			{5, MM_NC - 1, 9}, {5, MM_NC, 9}, {2, MM_NC + 1, 7}, {3, 2 * MM_NC + DLC_NR + 1, 3},
			{MM_MC + 1, MM_NC + 1, MM_KC + 1},
		};
		for (int i = 0; i < (int)(sizeof big / sizeof *big); i++)
			check_gemm(big[i][0], big[i][1], big[i][2], ta, tb);
	}
}

/* ---- convolutions ---- */

/* x[b * bs + (c * H + h) * W + w] to the batch-inner copy, padded or not */
static void test_to_bi(void)
{
	long ns[] = {0, 1, 2, 3, DLC_TB - 1, DLC_TB, DLC_TB + 1, 2 * DLC_TB + 1};
	long ws[] = {1, 2, 3, DLC_TB - 1, DLC_TB, DLC_TB + 1, 2 * DLC_TB + 3};
	for (int ni = 0; ni < (int)(sizeof ns / sizeof *ns); ni++)
		for (int wi = 0; wi < (int)(sizeof ws / sizeof *ws); wi++)
			for (long C = 1; C <= 2; C++)
				for (long H = 1; H <= 3; H += 2)
					for (int pad = 0; pad < 3; pad++)
						for (long extra = 0; extra <= DLC_TB + 1; extra += DLC_TB + 1) {
							long n = ns[ni], W = ws[wi], nz = n + extra, nb = nz + 2;
							/* pad 0: none (the copy without padding); 1: on every
							 * side; 2: bottom and right only */
							long pt = pad == 1, pl = pad == 1 ? 2 : 0;
							long hp = H + pt + (pad ? 1 : 0), wp = W + pl + (pad ? 3 : 0);
							long chw = C * H * W, bs = chw + 3;
							long rows = C * hp * wp, nt = rows * nb;
							dlc_t *x = random_array(n * bs + 1), *xt = array(nt);
							fill(xt, nt, SENT);
							dlc_to_bi(x, bs, n, nz, C, H, W, hp, wp, pt, pl, nb, xt);
							for (long f = 0; f < rows; f++)
								for (long b = 0; b < nb; b++) {
									long c = f / (hp * wp), h = f / wp % hp - pt, w = f % wp - pl;
									dlc_t want = b >= nz ? SENT
									             : b >= n || h < 0 || h >= H || w < 0 || w >= W ? 0
									                                                         : x[b * bs + (c * H + h) * W + w];
									CHECK(xt[f * nb + b] == want, "dlc_to_bi n=%ld nz=%ld C=%ld H=%ld W=%ld hp=%ld "
									      "wp=%ld: xt[%ld][%ld] = %g, want %g", n, nz, C, H, W, hp, wp, f, b,
									      (double)xt[f * nb + b], (double)want);
								}
							free(x);
							free(xt);
						}
}

/* the batch-inner yt[f * nb + b] back to y[b * ys + f] */
static void test_from_bi(void)
{
	long ns[] = {0, 1, 2, 3, DLC_TB - 1, DLC_TB, DLC_TB + 1, 2 * DLC_TB + 1};
	long rs[] = {1, 2, 3, DLC_TB - 1, DLC_TB, DLC_TB + 1, 3 * DLC_TB + 2};
	for (int ni = 0; ni < (int)(sizeof ns / sizeof *ns); ni++)
		for (int ri = 0; ri < (int)(sizeof rs / sizeof *rs); ri++)
			for (long extra = 0; extra <= 3; extra += 3) {
				long n = ns[ni], rows = rs[ri], zero_to = n + extra, nb = zero_to + 1, ys = rows + 2;
				long ny = (zero_to + 1) * ys;
				dlc_t *yt = random_array(rows * nb), *y = array(ny);
				fill(y, ny, SENT);
				dlc_from_bi(yt, n, zero_to, rows, nb, y, ys);
				for (long i = 0; i < ny; i++) {
					long b = i / ys, f = i % ys;
					dlc_t want = f >= rows || b >= zero_to ? SENT : b >= n ? 0 : yt[f * nb + b];
					CHECK(y[i] == want, "dlc_from_bi n=%ld zero_to=%ld rows=%ld: y[%ld][%ld] = %g, want %g", n,
					      zero_to, rows, b, f, (double)y[i], (double)want);
				}
				free(yt);
				free(y);
			}
}

/* planes of H x W into padded planes of ps elements, rows of wp */
static void test_pad(void)
{
	for (long n = 1; n <= 2; n++)
		for (long C = 1; C <= 2; C++)
			for (long H = 1; H <= 4; H += 3)
				for (long W = 1; W <= 9; W += 4)
					for (int pad = 0; pad < 4; pad++) {
						long pt = pad & 1 ? 2 : 0, pl = pad & 2 ? 1 : 0, pb = pad == 3 ? 1 : 0, pr = pad ? 2 : 0;
						long wp = W + pl + pr, ps = (H + pt + pb) * wp + (pad == 2 ? 3 : 0);
						long np = n * C * ps + 1;
						dlc_t *x = random_array(n * C * H * W), *xp = array(np);
						fill(xp, np, SENT);
						dlc_pad(x, n, C, H, W, wp, pt, pl, ps, xp);
						for (long i = 0; i < np; i++) {
							long p = i / ps, h = i % ps / wp - pt, w = i % ps % wp - pl;
							dlc_t want = i == np - 1                               ? SENT
							             : h < 0 || h >= H || w < 0 || w >= W ? 0
							                                                   : x[(p * H + h) * W + w];
							CHECK(xp[i] == want, "dlc_pad n=%ld C=%ld H=%ld W=%ld pt=%ld pl=%ld: xp[%ld] = %g, want %g",
							      n, C, H, W, pt, pl, i, (double)xp[i], (double)want);
						}
						free(x);
						free(xp);
					}
}

/* a tile of mr x nv vectors: taps c < nc, i < ni, j < nj, strides of either
 * sign, offsets per vector */
static void test_cukr(void)
{
	long dims[][3] = {{1, 1, 1}, {1, 5, 5}, {2, 3, 3}, {3, 2, 1}, {1, 0, 2}, {2, 1, 3}};
	for (int di = 0; di < (int)(sizeof dims / sizeof *dims); di++)
		for (int neg = 0; neg < 2; neg++)
			for (long mr = 1; mr <= DLC_MR; mr++)
				for (long nv = 1; nv <= DLC_NV; nv++) {
					long nc = dims[di][0], ni = dims[di][1], nj = dims[di][2];
					/* x: channels xc apart, rows xi, columns xj; vectors at xo[v] */
					long span = DLC_NV * (DLC_VL + 1) + 3;
					long xj = neg ? -span : span, xi = (neg ? -1 : 1) * (nj + 1) * span;
					long xc = (ni + 1) * (nj + 1) * span + 7;
					long nx = nc * xc + 2 * (ni + 1) * (nj + 1) * span + 2 * span;
					long base = neg ? (ni + 1) * (nj + 1) * span + span : 0;
					long wj = DLC_MR + (di & 1), wi = nj * wj + 1, wc = ni * wi + 2, nw = nc * wc + DLC_MR;
					long xo[DLC_NV], yo[DLC_NV], ys = DLC_NV * (DLC_VL + 2) + 1, ny = (DLC_MR + 1) * ys;
					for (long v = 0; v < DLC_NV; v++) {
						xo[v] = v < nv ? v * (DLC_VL + 1) + (v & 1) : 0; /* past nv: a valid one again */
						yo[v] = v < nv ? v * (DLC_VL + 2) + 1 : 1;
					}
					dlc_t *x = random_array(nx), *w = random_array(nw), *y = array(ny);
					fill(y, ny, SENT);
					dlc_cukr(nc, ni, nj, x + base, xc, xi, xj, xo, w, wc, wi, wj, y, ys, yo, mr, nv);
					for (long i = 0; i < ny; i++) {
						long r = i / ys, q = i % ys, v = -1;
						for (long u = 0; u < nv; u++)
							if (q >= yo[u] && q < yo[u] + DLC_VL)
								v = u;
						if (r >= mr || v < 0) {
							CHECK(y[i] == SENT, "dlc_cukr %ldx%ldx%ld mr=%ld nv=%ld: wrote y[%ld][%ld]", nc, ni, nj, mr,
							      nv, r, q);
							continue;
						}
						long l = q - yo[v];
						double ref = 0, mag = 0;
						for (long c = 0; c < nc; c++)
							for (long ii = 0; ii < ni; ii++)
								for (long j = 0; j < nj; j++) {
									double t = (double)w[c * wc + ii * wi + j * wj + r] *
									           (double)x[base + c * xc + ii * xi + j * xj + xo[v] + l];
									ref += t;
									mag += fabs(t);
								}
						CHECK(near(y[i], ref, mag, nc * ni * nj), "dlc_cukr %ldx%ldx%ld neg=%d mr=%ld nv=%ld: y[%ld][%ld] "
						      "= %.17g, want %.17g", nc, ni, nj, neg, mr, nv, r, q, (double)y[i], ref);
					}
					free(x);
					free(w);
					free(y);
				}
}

/* the weight-gradient sums: summed lanes into dk, or lane partial sums into
 * part (stored first, then added to), with the first skip lanes of dy
 * masked */
static void test_wukr(void)
{
	long dims[][3] = {{1, 1, 1}, {3, 1, 2}, {2, 3, 1}, {1, 2, 3}, {0, 1, 1}, {4, 2, 2}};
	for (int di = 0; di < (int)(sizeof dims / sizeof *dims); di++)
		for (int mode = 0; mode < 3; mode++) /* 0: dk, 1: part first, 2: part added */
			for (long skip = 0; skip < DLC_VLN; skip += (DLC_VLN > 2 ? DLC_VLN / 2 - 1 : 1))
				for (long mr = 1; mr <= DLC_MR; mr++)
					for (long nt = 1; nt <= DLC_NV; nt++) {
						long n1 = dims[di][0], n2 = dims[di][1], n3 = dims[di][2];
						if (skip && n3 != 1)
							continue; /* a masked call covers one vector, the tail of a row */
						long row = n3 * DLC_VL + 1; /* x and dy: rows of n3 vectors, planes of n2 rows */
						long x2 = row + 2, x1 = n2 * x2 + 3, y2 = row, y1 = n2 * y2 + 1, ys = (n1 + 1) * y1;
						long off[DLC_NV], nx = (n1 + 1) * x1 + DLC_NV * 5 + 1;
						for (long t = 0; t < DLC_NV; t++)
							off[t] = t < nt ? t * 5 + (t & 1) : 0;
						long dks = DLC_NV + 2, ndk = (DLC_MR + 1) * dks, npart = DLC_MR * DLC_NR + 1;
						dlc_t *x = random_array(nx), *dy = random_array(DLC_MR * ys), *dk = array(ndk);
						dlc_t *part = array(npart), *part0 = array(npart);
						fill(dk, ndk, SENT);
						for (long i = 0; i < npart; i++)
							part0[i] = part[i] = i < npart - 1 ? value() : SENT;
						dlc_wukr(n1, x1, y1, n2, x2, y2, n3, x, off, dy, ys, mr, nt, mode ? NULL : dk, dks,
						         mode ? part : NULL, mode == 1, skip);
						for (long r = 0; r < DLC_MR; r++)
							for (long t = 0; t < DLC_NV; t++) {
								double lane[DLC_VLN], mag[DLC_VLN];
								for (long l = 0; l < DLC_VLN; l++) {
									lane[l] = mode == 2 ? (double)part0[(r * DLC_NV + t) * DLC_VL + l] : 0;
									mag[l] = fabs(lane[l]);
									for (long a = 0; a < n1; a++)
										for (long b = 0; b < n2; b++)
											for (long c = 0; c < n3; c++) {
												if (l < skip)
													continue;
												double p = (double)dy[r * ys + a * y1 + b * y2 + c * DLC_VL + l] *
												           (double)x[off[t] + a * x1 + b * x2 + c * DLC_VL + l];
												lane[l] += p;
												mag[l] += fabs(p);
											}
								}
								long nterms = n1 * n2 * n3 + 1;
								if (mode == 0) {
									dlc_t got = dk[r * dks + t];
									if (r >= mr || t >= nt) {
										CHECK(got == SENT, "dlc_wukr: wrote dk[%ld][%ld] (mr=%ld nt=%ld)", r, t, mr,
										      nt);
										continue;
									}
									double ref = 0, m = 0;
									for (long l = 0; l < DLC_VLN; l++) {
										ref += lane[l];
										m += mag[l];
									}
									CHECK(near(got, ref, m, nterms + DLC_VLN), "dlc_wukr %ldx%ldx%ld mr=%ld nt=%ld "
									      "skip=%ld: dk[%ld][%ld] = %.17g, want %.17g", n1, n2, n3, mr, nt, skip, r,
									      t, (double)got, ref);
								} else if (r < mr && t < nt) {
									for (long l = 0; l < DLC_VLN; l++) {
										dlc_t got = part[(r * DLC_NV + t) * DLC_VL + l];
										CHECK(near(got, lane[l], mag[l], nterms), "dlc_wukr %ldx%ldx%ld mode=%d "
										      "mr=%ld nt=%ld skip=%ld: part[%ld][%ld][%ld] = %.17g, want %.17g", n1,
										      n2, n3, mode, mr, nt, skip, r, t, l, (double)got, lane[l]);
									}
								}
							}
						if (mode)
							CHECK(part[npart - 1] == SENT, "dlc_wukr: wrote past the partial sums");
						else
							CHECK(dk[DLC_MR * dks] == SENT, "dlc_wukr: wrote past dk");
						free(x);
						free(dy);
						free(dk);
						free(part);
						free(part0);
					}
}

/* ---- driver ---- */

static const struct {
	const char *name;
	void (*run)(void);
} tests[] = {
	{"tr", test_tr},         {"hsum", test_hsum},       {"tile", test_tile},   {"pack_a", test_pack_a},
	{"pack_b", test_pack_b}, {"gemm", test_gemm},       {"to_bi", test_to_bi}, {"from_bi", test_from_bi},
	{"pad", test_pad},       {"cukr", test_cukr},       {"wukr", test_wukr},
};

int main(int argc, char **argv)
{
	int ran = 0;
	long failed[2] = {0, 0}; /* reals, integers */
	printf("dlc_t %s, DLC_VL %ld, DLC_NV %d, DLC_NR %ld, DLC_MR %d, DLC_TB %ld\n", DLC_ESZ == 4 ? "float" : "double",
	       (long)DLC_VL, DLC_NV, (long)DLC_NR, DLC_MR, (long)DLC_TB);
	for (int i = 0; i < (int)(sizeof tests / sizeof *tests); i++) {
		if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
			continue;
		for (exact = 1; exact >= 0; exact--) {
			long before = failures;
			tests[i].run();
			failed[exact] += failures - before;
		}
		ran++;
	}
	if (!ran) {
		printf("no test named %s\n", argv[1]);
		return 2;
	}
	printf("%ld checks, %ld failed (%ld with integers, %ld with reals)\n", checks, failures, failed[1], failed[0]);
	return failures ? 1 : 0;
}
