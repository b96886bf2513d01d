/* pool.c - the worker threads that run a model's parallel kernels.
 *
 * One pool per process.  The calling thread takes part in every job as
 * worker 0; workers 1..T-1 are threads that wait for the next job.  A job is
 * a range [0, count) split into T contiguous pieces whose boundaries are
 * multiples of the job's grain, a function of (count, grain, T) only.  The
 * threads claim pieces from a shared counter, so a worker that the system
 * has not scheduled yet delays nothing: another thread takes its piece.
 * Every thread passes its own number as tid (for its scratch), and the
 * kernels compute each item the same way whoever runs it.
 *
 * Between jobs the workers spin for a short while (kernels of a training
 * step follow each other within microseconds) and then sleep on a condition
 * variable, so an idle trainer costs no CPU. */
#define _GNU_SOURCE
#include "dlrt.h"
#include "dlrt_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <sched.h>
#endif
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define POOL_RELAX() _mm_pause()
#else
#define POOL_RELAX() ((void)0)
#endif

#define POOL_MAX 256
#define POOL_SPIN 4000 /* relax() rounds before a waiting thread sleeps or yields */

typedef struct Pool {
	int threads;                 /* in force, 1..POOL_MAX */
	int started;                 /* worker threads running: threads - 1 */
	pthread_t tid[POOL_MAX];
	/* the job: published by bumping gen */
	dlrt_task fn;
	int64_t n;
	long count, grain;
	atomic_int pieces;           /* read by threads that come late to a job */
	atomic_int next;             /* the next piece to claim */
	atomic_int done;             /* pieces finished */
	atomic_ulong gen;
	unsigned long gen0;          /* gen when the workers were started */
	atomic_int quit;
	/* sleeping */
	pthread_mutex_t mu;
	pthread_cond_t wake;
	atomic_int sleepers;
} Pool;

static Pool pool = {
	.threads = 1,
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
};

/* piece t of T of [0, count): [lo, hi), boundaries at multiples of grain */
static void piece(long count, long grain, int T, int t, long *lo, long *hi)
{
	long units = (count + grain - 1) / grain;
	long a = units * t / T, b = units * (t + 1) / T;
	*lo = a * grain < count ? a * grain : count;
	*hi = b * grain < count ? b * grain : count;
}

/* claim and run pieces of the current job until none is left */
static void run_pieces(int tid)
{
	for (;;) {
		int t = atomic_fetch_add_explicit(&pool.next, 1, memory_order_acq_rel);
		int pieces = atomic_load_explicit(&pool.pieces, memory_order_relaxed);
		if (t >= pieces)
			return;
		long lo, hi;
		piece(pool.count, pool.grain, pieces, t, &lo, &hi);
		if (lo < hi)
			pool.fn(pool.n, lo, hi, tid);
		atomic_fetch_add_explicit(&pool.done, 1, memory_order_release);
	}
}

static void *worker(void *arg)
{
	int tid = (int)(intptr_t)arg;
	/* from the generation the workers were started at: a job or a stop
	 * published before this thread ran is still seen */
	unsigned long seen = pool.gen0;
	for (;;) {
		unsigned long g;
		int spins = 0;
		while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen) {
			if (++spins < POOL_SPIN) {
				POOL_RELAX();
				continue;
			}
			pthread_mutex_lock(&pool.mu);
			atomic_fetch_add(&pool.sleepers, 1);
			while (atomic_load_explicit(&pool.gen, memory_order_acquire) == seen)
				pthread_cond_wait(&pool.wake, &pool.mu);
			atomic_fetch_sub(&pool.sleepers, 1);
			pthread_mutex_unlock(&pool.mu);
			spins = 0;
		}
		seen = g;
		if (atomic_load(&pool.quit))
			return NULL;
		run_pieces(tid);
	}
}

static void publish(void)
{
	atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release);
	if (atomic_load(&pool.sleepers)) {
		pthread_mutex_lock(&pool.mu);
		pthread_cond_broadcast(&pool.wake);
		pthread_mutex_unlock(&pool.mu);
	}
}

static void stop_workers(void)
{
	if (!pool.started)
		return;
	atomic_store(&pool.quit, 1);
	publish();
	for (int t = 1; t <= pool.started; t++)
		pthread_join(pool.tid[t], NULL);
	atomic_store(&pool.quit, 0);
	pool.started = 0;
	pool.threads = 1;
}

int dlrt_default_threads(void)
{
	long k = 0;
#if defined(__linux__) && defined(CPU_COUNT)
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0)
		k = CPU_COUNT(&set);
#endif
	if (k <= 0)
		k = sysconf(_SC_NPROCESSORS_ONLN);
	if (k <= 0)
		k = 1;
	return k > POOL_MAX ? POOL_MAX : (int)k;
}

int dlrt_set_threads(int k)
{
	if (k < 1)
		k = 1;
	if (k > POOL_MAX)
		k = POOL_MAX;
	if (k == pool.threads)
		return k;
	stop_workers();
	pool.threads = k;
	pool.gen0 = atomic_load(&pool.gen);
	for (int t = 1; t < k; t++) {
		if (pthread_create(&pool.tid[t], NULL, worker, (void *)(intptr_t)t) != 0) {
			dlrt_error("cannot start worker thread %d of %d; running with %d", t + 1, k, t);
			pool.threads = t;
			break;
		}
		pool.started = t;
	}
	return pool.threads;
}

int dlrt_threads(void)
{
	return pool.threads;
}

void dlrt_parallel(dlrt_task fn, int64_t n, long count, long grain)
{
	if (grain < 1)
		grain = 1;
	if (pool.threads == 1 || count <= grain) {
		if (count > 0)
			fn(n, 0, count, 0);
		return;
	}
	pool.fn = fn;
	pool.n = n;
	pool.count = count;
	pool.grain = grain;
	atomic_store_explicit(&pool.pieces, pool.threads, memory_order_relaxed);
	atomic_store_explicit(&pool.done, 0, memory_order_relaxed);
	atomic_store_explicit(&pool.next, 0, memory_order_release);
	publish();
	run_pieces(0);
	/* the pieces other threads took */
	int spins = 0;
	while (atomic_load_explicit(&pool.done, memory_order_acquire) < pool.threads) {
		if (++spins < POOL_SPIN)
			POOL_RELAX();
		else
			sched_yield();
	}
}
