/* dlc_gemm_harness.c - times the forward pass of a dlc-generated matmul model
 * (bench/gemm.dl) and prints one JSON line in the format of gemm_bench.c.
 *
 * Built by bench/run.py through dlc itself, so the generated code is compiled
 * with exactly the flags dlc uses for trainers:
 *
 *   dlc -D M=.. -D K=.. -D N=.. gemm.dl -o gemm_bench_dlc \
 *       --cflags "-DDLC_NO_MAIN -DBENCH_MODEL=gemm_model dlc_gemm_harness.c"
 *
 *   ./gemm_bench_dlc [reps [threads]]
 *
 * The model has one input a [M, K], one parameter b [K, N] and one output
 * c [M, N]; they are found in the model descriptor by role.  The timed call is
 * the model's forward entry point (the matmul plus the sum that makes the
 * loss).  THREADS (default 1) sets the runtime's thread pool with
 * dlrt_set_threads, capped at the model's max_threads; the JSON's "threads"
 * is the count actually used.  Built with -DBENCH_NO_THREADS (a runtime
 * without a thread pool) it always runs on 1 thread.  A few entries of c are
 * checked against a double-precision dot product first (error relative to
 * sum |a_k b_k|, limit 1e-4), at that thread count.  Each rep times enough
 * back-to-back calls to last >= 50 ms; the JSON gives the median, best and
 * worst GFLOP/s (2*M*N*K / time) over reps.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "dlrt.h"

#ifndef BENCH_MODEL
#error "define BENCH_MODEL to the model descriptor's name (e.g. -DBENCH_MODEL=gemm_model)"
#endif
extern const dlrt_model BENCH_MODEL;

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static const dlrt_tensor *find_role(const dlrt_model *m, dlrt_role role)
{
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == role)
			return &m->tensors[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const dlrt_model *m = &BENCH_MODEL;
	const dlrt_tensor *ta = find_role(m, DLRT_INPUT), *tb = find_role(m, DLRT_PARAM),
	                  *tc = find_role(m, DLRT_OUTPUT);
	int reps = argc >= 2 ? atoi(argv[1]) : 7;
	int threads = argc >= 3 ? atoi(argv[2]) : 1;
	if (reps < 1)
		reps = 1;
	if (threads < 1)
		threads = 1;
	if (!ta || !tb || !tc || ta->rank != 2 || tb->rank != 2 || tc->rank != 2 || m->dtype != DLRT_F32) {
		fprintf(stderr, "harness: expected an f32 model with input a[M,K], param b[K,N], output c[M,N]\n");
		return 2;
	}
	int64_t M = ta->shape[0], K = ta->shape[1], N = tb->shape[1];
	if (tb->shape[0] != K || tc->shape[0] != M || tc->shape[1] != N) {
		fprintf(stderr, "harness: shapes do not chain\n");
		return 2;
	}
	float *A = ta->data, *B = tb->data, *C = tc->data;
	srand(1);
	for (int64_t i = 0; i < M * K; ++i) A[i] = (float)rand() / RAND_MAX - 0.5f;
	for (int64_t i = 0; i < K * N; ++i) B[i] = (float)rand() / RAND_MAX - 0.5f;
	double flops = 2.0 * M * N * K;

#ifdef BENCH_NO_THREADS
	threads = 1;
#else
	{
		int cap = m->max_threads > 0 ? m->max_threads : 1;
		threads = dlrt_set_threads(threads < cap ? threads : cap);
	}
#endif

	/* correctness: a few entries against a double-precision dot product; the
	 * error is relative to sum |a_k b_k|, which bounds rounding in any order */
	m->forward(M);
	double maxrel = 0;
	for (int s = 0; s < 64; ++s) {
		int64_t ii = (s * 7919) % M, jj = (s * 104729) % N;
		double ref = 0, mag = 0, d;
		for (int64_t k = 0; k < K; ++k) {
			double p = (double)A[ii * K + k] * B[k * N + jj];
			ref += p;
			mag += fabs(p);
		}
		d = fabs(ref - C[ii * N + jj]) / (mag + 1e-30);
		if (d > maxrel) maxrel = d;
	}
	if (maxrel > 1e-4) {
		fprintf(stderr, "harness: check failed: max rel err %g\n", maxrel);
		return 3;
	}

	/* calibrate calls per rep so one rep lasts >= 50 ms */
	double t = now();
	m->forward(M);
	t = now() - t;
	int calls = (int)(0.05 / (t > 1e-7 ? t : 1e-7)) + 1;
	double *gf = malloc(sizeof(double) * reps);
	for (int r = 0; r < reps; ++r) {
		double t0 = now();
		for (int i = 0; i < calls; ++i) m->forward(M);
		gf[r] = flops * calls / (now() - t0) / 1e9;
	}
	qsort(gf, reps, sizeof(double), cmp_d);
	printf("{\"mode\": \"dlc_forward\", \"model\": \"%s\", \"M\": %lld, \"N\": %lld, \"K\": %lld, "
	       "\"threads\": %d, \"reps\": %d, \"calls_per_rep\": %d, \"gflops_median\": %.2f, \"gflops_min\": %.2f, "
	       "\"gflops_max\": %.2f, \"check_max_rel_err\": %.3g}\n",
	       m->name, (long long)M, (long long)N, (long long)K, threads, reps, calls, gf[reps / 2], gf[0],
	       gf[reps - 1], maxrel);
	free(gf);
#ifndef BENCH_NO_THREADS
	dlrt_set_threads(1);
#endif
	return 0;
}
