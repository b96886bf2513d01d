/* dlrt_internal.h - helpers shared by the runtime's own source files.
 *
 * Not installed and not part of the contract in dlrt.h: error printing, path
 * joining, byte order, element access by dtype, the .npy reader's variant
 * that also reports where the data starts (for error offsets), and the
 * pieces the trainer is built from: learning-rate schedules, the CSV log and
 * prediction. */
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
/* dlrt_error's messages name this rank (-1: a process of its own) */
void dlrt_set_rank_label(int rank);

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

/* The index of the first NaN or infinity among n elements of an F32 or F64
 * buffer, or -1 when all are finite (other dtypes: -1). */
int64_t dlrt_first_nonfinite(const void *p, dlrt_dtype t, int64_t n);

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

/* ---- the trainer's pieces (trainer.c drives them) ---- */

/* Learning-rate schedules (schedule.c has the formulas). */
typedef enum dlrt_lr_kind {
	DLRT_LR_CONSTANT = 0,
	DLRT_LR_STEP,      /* lr * gamma^floor(epoch / step_size)   (StepLR)          */
	DLRT_LR_EXP,       /* lr * gamma^epoch                      (ExponentialLR)   */
	DLRT_LR_COSINE,    /* lr_min + (lr - lr_min)(1 + cos(pi step / total_steps))/2 */
} dlrt_lr_kind;

typedef struct dlrt_lr_schedule {
	dlrt_lr_kind kind;
	double lr;             /* the base learning rate */
	double gamma;          /* step, exp */
	double lr_min;         /* cosine: the floor it anneals to */
	int64_t step_size;     /* step: epochs between decays */
	int64_t total_steps;   /* cosine: steps of the whole run (T_max) */
	int64_t warmup;        /* linear warm-up steps; 0: none */
} dlrt_lr_schedule;

/* The learning rate of global step `step` (0-based, counted over all runs
 * of a resumed training) in epoch `epoch` (0-based). */
double dlrt_schedule_lr(const dlrt_lr_schedule *s, int64_t step, int64_t epoch);
const char *dlrt_schedule_name(dlrt_lr_kind k);

/* The CSV training log (trainlog.c describes its rows). */
typedef struct dlrt_log {
	FILE *f;
	const char *path;
} dlrt_log;

enum {
	DLRT_LOG_LOSS = 1u << 0,
	DLRT_LOG_LR = 1u << 1,
	DLRT_LOG_TRAIN_ACC = 1u << 2,
	DLRT_LOG_TEST_ACC = 1u << 3,
	DLRT_LOG_IPS = 1u << 4,
};

typedef struct dlrt_log_values {
	int64_t step, epoch;
	unsigned have;         /* DLRT_LOG_* bits: which fields to fill */
	double loss, lr, train_acc, test_acc, images_per_s;
} dlrt_log_values;

/* Open the log: a new file with its header, or when resume_step > 0 an
 * existing log cut back to the rows with step <= resume_step and appended
 * to.  0 or -1 (message printed). */
int dlrt_log_open(dlrt_log *lg, const char *path, int64_t resume_step);
int dlrt_log_row(dlrt_log *lg, const dlrt_log_values *v);
int dlrt_log_close(dlrt_log *lg);

/* --predict: forward() over every row of ds (from dlrt_load_inputs), the
 * declared outputs with a batch axis written as .npy (the first to `out`,
 * the others to out-stem.NAME.npy).  Returns an exit status (0 or 1). */
int dlrt_predict(const dlrt_model *m, const dlrt_dataset *ds, const char *out);
/* --sample ROWS: the data-free outputs (predict.c). */
int dlrt_sample(const dlrt_model *m, int64_t rows, const char *out, uint64_t seed);

/* --noise NAME=FILE.npy: random tensor NAME takes its values from FILE
 * (noise.c); returns -1 after printing why not.  dlrt_noise_step points
 * the fed tensors at the draw of `step`. */
int dlrt_noise_load(const dlrt_model *m, const char *spec);
void dlrt_noise_step(const dlrt_model *m, int64_t step);

/* ---- --profile (profile.c) ---- */

/* Seconds and floating-point operations per kernel of train_step, summed
 * over the steps profiled. */
typedef struct dlrt_profile {
	double *seconds, *flops;
	int64_t steps;
} dlrt_profile;
int dlrt_profile_open(dlrt_profile *p, const dlrt_model *m);
/* train_step(n, lr), one timed kernel at a time */
void dlrt_profile_step(dlrt_profile *p, const dlrt_model *m, int64_t n, double lr);
/* the table, slowest kernel first; peak: the machine's GFLOP/s (0: none) */
void dlrt_profile_print(const dlrt_profile *p, const dlrt_model *m, double peak, FILE *out);
void dlrt_profile_close(dlrt_profile *p);

/* ---- teaching tools (teach.c) ---- */

/* The model has no inputs and labels: a program of params and a loss. */
int dlrt_no_data(const dlrt_model *m);

/* --trace: a CSV of the loss and the parameters (each one's first few
 * elements) step by step; a snapshot of the parameters is taken before a
 * step and written with the loss that step computed at them. */
typedef struct dlrt_trace {
	FILE *f;
	const char *path;
	double *snap;
	int64_t ncols;
	int digits;            /* significant digits that read back exactly */
} dlrt_trace;
int dlrt_trace_open(dlrt_trace *tr, const dlrt_model *m, const char *path);
void dlrt_trace_snapshot(dlrt_trace *tr, const dlrt_model *m);
int dlrt_trace_row(dlrt_trace *tr, int64_t step, int have_loss, double loss);
int dlrt_trace_close(dlrt_trace *tr);
/* forward(1) and print the loss and the parameters (no-data programs). */
void dlrt_print_point(const dlrt_model *m, int64_t steps);

/* --grad numeric: whether the model's optimizer allows it (0, or -1 with a
 * message), and one step w -= lr g on central-difference gradients (which
 * also land in the gradient buffers). */
int dlrt_numeric_check(const dlrt_model *m);
int dlrt_numeric_step(const dlrt_model *m, int64_t n, double lr);
/* --grad-sweep: the error of forward and central differences against the
 * compiled gradient for h = 1e-1 ... 1e-12, as CSV on stdout. */
int dlrt_grad_sweep(const dlrt_model *m, int64_t n);
/* --dot: gradients(n) once, then the forward graph with each edge's value
 * and gradient as Graphviz (models compiled with dlc --probe). */
int dlrt_write_dot(const dlrt_model *m, int64_t n, const char *path);

/* Carried states (`carry h` in the program, runtime/carry.c): after a
 * batch, each takes the value its output holds for the next one
 * (truncated backpropagation through time); a saved copy of all of them,
 * for an evaluation that starts them at zero and must leave the training
 * run's where they were. */
int dlrt_has_carry(const dlrt_model *m);
/* --sample N --prime TEXT: a character model writes N characters after
 * TEXT through its generator (runtime/write_text.c), drawn from the next
 * character's probabilities to the power 1/temperature among the top_k
 * most likely (0: all), to out. */
int dlrt_write_text(const dlrt_model *m, int64_t count, const char *prime, double temperature, int top_k,
                  uint64_t seed, FILE *out);
void dlrt_carry_advance(const dlrt_model *m);
void dlrt_carry_zero(const dlrt_model *m);
void *dlrt_carry_save(const dlrt_model *m);
void dlrt_carry_restore(const dlrt_model *m, void *saved);

/* Training in an environment (rl.c): the trainer's settings that apply. */
typedef struct dlrt_rl_opts {
	uint64_t seed;
	int64_t episodes;          /* -1: the model's */
	int64_t eval_episodes;     /* after training: greedy episodes to evaluate (0: none) */
	double lr;
	const char *save, *log, *dump_grads;
	int loaded;                /* the parameters come from a checkpoint */
	int64_t log_every;         /* episodes between progress lines (0: 10, or 50 from 1000 episodes) */
	int quiet;
	int value_iteration;       /* tabular environments: compare with value iteration */
	int64_t speed_steps;       /* --speed: steps of the policy in the loop (0: no) */
	int64_t speed_len;         /* and the episode length of the timed update */
} dlrt_rl_opts;
int dlrt_rl_main(const dlrt_model *m, const dlrt_rl_opts *o);

/* --dump-grads and --dump-forward: the loss, the outputs and (with_grads)
 * every gradient d_NAME of the first n rows to a safetensors file; with_data
 * adds the inputs, labels and parameters (the batch an episode made). */
int dlrt_write_dump(const dlrt_model *m, const char *path, int64_t n, int with_grads, uint64_t seed,
                    int with_data);

/* ---- dist.c: one step from the gradients of several parts of a batch ---- */

/* FNV-1a of n bytes, from h (0xcbf29ce484222325 to start) */
uint64_t dlrt_fnv1a(uint64_t h, const void *p, size_t n);
/* Why the model's step cannot be split (NULL: it can). */
const char *dlrt_split_refusal(const dlrt_model *m);
/* One step of the n rows rows[0..n): each part's gradients (this rank's, or
 * with no transport all `shards` of them), combined, then update(n, lr); the
 * loss buffer holds the combined loss; *ncorrect the rows classified
 * correctly (correct may be NULL).  key: the step's random key.  0 or -1. */
int dlrt_split_step(const dlrt_model *m, const dlrt_dataset *ds, const int64_t *rows, int64_t n, double lr,
                    uint64_t key, int shards, int64_t (*correct)(const dlrt_model *m, int64_t n),
                    int64_t *ncorrect);
/* Sum v[0..k) over the ranks, in place (nothing without a transport). */
int dlrt_dist_sum(double *v, int k);
/* Every rank holds the same params and state (after `after`): 0 or -1. */
int dlrt_dist_check_same(const dlrt_model *m, const char *after);

#endif
