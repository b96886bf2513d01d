/* dlrt.h - the dlc runtime: what generated models link against.
 *
 * A compiled model is a `dlrt_model` descriptor (names, shapes, buffers,
 * entry points) that the generated C file defines.  The runtime knows nothing
 * about any particular model: it loads data into the model's input buffers,
 * initialises and checkpoints its parameters, and drives its entry points
 * (the generic trainer, dlrt_main).  AOT binaries and the JIT share it.
 *
 * Dependencies: libc, libm, zlib (for .gz data). */
#ifndef DLRT_H
#define DLRT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dlrt_env.h"

#define DLRT_MAX_RANK 8

typedef enum dlrt_dtype {
	DLRT_F32 = 0,
	DLRT_F64 = 1,
	DLRT_I32 = 2,
	DLRT_U8 = 3,   /* only in datasets and data files */
} dlrt_dtype;

size_t dlrt_dtype_size(dlrt_dtype t);
const char *dlrt_dtype_name(dlrt_dtype t); /* "f32", "f64", "i32", "u8" */

typedef enum dlrt_init {
	DLRT_INIT_NONE = 0,       /* left as is (inputs, buffers)              */
	DLRT_INIT_ZEROS,
	DLRT_INIT_ONES,
	DLRT_INIT_CONST,          /* a                                          */
	DLRT_INIT_UNIFORM,        /* U(a, b)                                    */
	DLRT_INIT_NORMAL,         /* N(mean a, std b)                           */
	DLRT_INIT_XAVIER_UNIFORM, /* U(+-a*sqrt(6/(fan_in+fan_out))), a = gain  */
	DLRT_INIT_XAVIER_NORMAL,  /* N(0, a*sqrt(2/(fan_in+fan_out)))           */
	DLRT_INIT_HE_UNIFORM,     /* U(+-a*sqrt(6/fan_in))                      */
	DLRT_INIT_HE_NORMAL,      /* N(0, a*sqrt(2/fan_in))                     */
	DLRT_INIT_ORTHOGONAL,     /* a * Q of a normal matrix [d0, rest] (QR)   */
	DLRT_INIT_TRUNC_NORMAL,   /* N(0, std a) truncated to [b, c]            */
	DLRT_INIT_TORCH_DEFAULT,  /* U(+-1/sqrt(fan_in)), fan_in = a if a > 0   */
	DLRT_INIT_DATA,           /* the values init_data (a `const` tensor)    */
} dlrt_init;

typedef enum dlrt_role {
	DLRT_PARAM = 0,  /* trained; has a gradient buffer                  */
	DLRT_INPUT,      /* fed from data: features                        */
	DLRT_LABEL,      /* fed from data: targets (i32 classes or floats) */
	DLRT_OUTPUT,     /* declared `output`                              */
	DLRT_STATE,      /* optimizer state (e.g. momentum), checkpointed  */
	DLRT_DIRECTION,  /* a direction v for hvp(); its grad buffer receives
	                    H v; one per param with a gradient, in order   */
	DLRT_HYPER,      /* a scalar the program reads (`hyper eps = 0.1`):
	                    init_a by default, --set NAME=VALUE; neither
	                    trained nor checkpointed                       */
} dlrt_role;

/* One named tensor of the model.  Shapes are static.  For inputs, labels and
 * outputs whose leading axis is the batch (`batch_axis == 0`), the runtime
 * fills/reads only the first n rows of a step (n <= batch size); an output
 * whose batch axis holds `slots` > 1 rows per example (a reshape merged the
 * batch with the axes after it, or a concat joined values along it) has
 * n * slots rows of data. */
typedef struct dlrt_tensor {
	const char *name;
	dlrt_role role;
	dlrt_dtype dtype;
	int rank;
	int64_t shape[DLRT_MAX_RANK];
	int64_t numel;
	void *data;            /* the value buffer (static storage in the model) */
	void *grad;            /* DLRT_PARAM: its gradient buffer; else NULL */
	int batch_axis;        /* 0 if the leading axis is the batch, else -1 */
	int64_t slots;         /* outputs: rows of the batch axis per example (0: one) */
	int data_free;         /* outputs: computed from params and random draws alone (samples
	                          of a generative model): --sample writes them; train_step skips them */
	int eval_only;         /* outputs: not needed by training (predictions, an accuracy under
	                          attack): forward() and gradients() compute them, train_step does not */
	/* DLRT_STATE declared `carry h`: 1 + the index in tensors[] of the
	 * output that holds its value for the next batch, which the trainer
	 * copies into it after each batch (0: none) */
	int carry_from;
	/* DLRT_PARAM: initialiser */
	dlrt_init init;
	double init_a, init_b;
	double init_c;         /* a third argument (trunc_normal's upper bound) */
	int64_t fan_in, fan_out;
	int64_t init_stream;   /* its random stream: the param's position among the params */
	const double *init_data; /* DLRT_INIT_DATA: its numel values */
	/* DLRT_PARAM of a model with step clauses: 1 + the clause whose loss its
	 * gradient (grad) is of (0: none) */
	int clause;
	/* i32 labels: the number of classes; i32 inputs: the rows of the
	 * tables their ids select (0 if unknown); loaded values are checked */
	int64_t classes;
	/* and a label outside [0, classes) that the loss ignores, if has_ignore */
	int has_ignore;
	int64_t ignore_label;
} dlrt_tensor;

/* A random tensor of the model: its name and shape, and values that
 * replace its draws while src is not NULL. */
typedef struct dlrt_noise {
	const char *name;
	int rank;
	int64_t shape[DLRT_MAX_RANK];
	int64_t numel;
	const void *src;
} dlrt_noise;

/* Where a dataset comes from (the `train { data = ... }` block). */
typedef enum dlrt_data_kind {
	DLRT_DATA_NONE = 0,
	DLRT_DATA_IDX,   /* one IDX file (optionally .gz) per input/label, in order */
	DLRT_DATA_CSV,   /* one CSV file: columns fill inputs then labels, in order */
	DLRT_DATA_NPY,   /* one .npy file per input/label, in order */
	DLRT_DATA_SPLIT, /* test and valid: rows held out of the training set */
	DLRT_DATA_GEN,   /* points drawn by a 2-D generator (dlrt_generate) */
	DLRT_DATA_TEXT,  /* files[0] a glob of text files: next-character batches (dlrt_load_text) */
} dlrt_data_kind;

/* The 2-D generators (data.c has their formulas). */
typedef enum dlrt_generator {
	DLRT_GEN_MOONS = 1,
	DLRT_GEN_CIRCLES,
	DLRT_GEN_GAUSSIANS,
	DLRT_GEN_SPIRAL,
	DLRT_GEN_CHECKERBOARD,
	DLRT_GEN_PARENS,       /* bracket strings, well-formed or not (parens.c) */
	DLRT_GEN_HIST,         /* token sequences labelled with each token's count (hist.c) */
	DLRT_GEN_WORDS,        /* the words of a word list and their letters reversed (words.c) */
} dlrt_generator;

typedef struct dlrt_gen_spec {
	dlrt_generator kind;
	int64_t n;             /* points per draw */
	int64_t k;             /* gaussians: components */
	double noise;          /* moons, circles, spiral: std of Gaussian noise */
	double factor;         /* circles: inner radius / outer radius */
	double radius, std;    /* gaussians: radius of the centres, std of each */
	double turns;          /* spiral: turns of each arm */
	/* parens: bracket kinds, the even string lengths drawn, the fraction
	 * of negatives, and whether they are near misses (else random strings) */
	int64_t pairs, min_len, max_len;
	double negatives;
	int64_t near_miss;
	/* hist: the tokens' vocabulary (the length is max_len) */
	int64_t vocab;
	/* reverse_words: the word list, the set drawn (0 training, 1 test, 2
	 * validation), the shares of the words held out for the test and
	 * validation sets (min_len, max_len: the words' lengths; n: how many,
	 * 0 all) */
	const char *file;
	int64_t part;
	double test_share, valid_share;
} dlrt_gen_spec;

#define DLRT_MAX_FILES 8
typedef struct dlrt_data_spec {
	dlrt_data_kind kind;
	int nfiles;
	const char *files[DLRT_MAX_FILES];
	int csv_header;        /* CSV: skip the first line */
	/* The training set's spec only: standardise every input feature with
	 * the mean and standard deviation of the training rows (after any
	 * test and valid rows are held out); test and valid sets get the same
	 * transformation. */
	int standardize;
	/* DLRT_DATA_SPLIT: hold out round(split * rows) rows, chosen by a
	 * permutation seeded with split_seed (dlrt_split_dataset). */
	double split;
	uint64_t split_seed;
	/* DLRT_DATA_GEN */
	dlrt_gen_spec gen;
	/* DLRT_DATA_TEXT: characters per sequence (the T of the [B, T] input) */
	int64_t seq;
} dlrt_data_spec;

typedef enum dlrt_optimizer {
	DLRT_OPT_SGD = 0,
	DLRT_OPT_ADAM,
	DLRT_OPT_ADAMW,
	DLRT_OPT_RMSPROP,
	DLRT_OPT_ADAGRAD,
	DLRT_OPT_NEWTON,     /* exact Hessian from hvp(), damped, Cholesky   */
	DLRT_OPT_NEWTON_CG,  /* Hessian-free: conjugate gradient on hvp()    */
} dlrt_optimizer;
/* "sgd", "adam", ... */
const char *dlrt_optimizer_name(dlrt_optimizer o);

/* One node of the forward graph of a model compiled with value probes
 * (dlc --probe): after gradients(n), `value` holds the node's value in the
 * training step and `grad` the gradient of the loss with respect to it
 * (NULL where it has none: the loss does not depend on a parameter through
 * it).  Constants have their value in `c` and value NULL.  Inputs are the
 * nodes node_inputs[first_in .. first_in + nin). */
typedef struct dlrt_node {
	const char *op;        /* the op's name: "add", "matmul", "param", ... */
	const char *name;      /* the program's name for the value, or NULL */
	dlrt_dtype dtype;
	int rank;
	int64_t shape[DLRT_MAX_RANK];
	int batch_axis;        /* 0 when the leading axis is the batch, else -1 */
	int first_in, nin;
	const void *value, *grad;
	double c;
} dlrt_node;

/* A step clause of a model with several objectives (a GAN's critic and
 * generator): its own loss, parameters, optimizer and entry point. */
typedef struct dlrt_clause {
	const char *name;
	void (*step)(int64_t n, double lr);  /* its loss, its gradients, its update */
	void *loss;                /* its scalar loss after its step (dtype) */
	dlrt_optimizer optimizer;
	double lr;                 /* its learning rate (the train block's) */
	const char *optimizer_constants;
	int every;                 /* it runs in rounds 0, every, 2 every, ... */
} dlrt_clause;

/* Training in an environment (`env = ...` in the train block; rl.c).
 * Episode rollouts (REINFORCE, actor-critic): every episode becomes one
 * batch of its steps (n = its length) with each step's discounted return;
 * one update per episode.  Replay (DQN, Q-learning): every environment step
 * adds a transition to a replay memory and, once it holds `start`
 * transitions, one update on a batch drawn from it uniformly. */
typedef enum dlrt_rollout {
	DLRT_ROLLOUT_NONE = 0,
	DLRT_ROLLOUT_EPISODE,
	DLRT_ROLLOUT_REPLAY,
} dlrt_rollout;

/* A hyper-parameter that follows a schedule over environment steps t:
 * end + (start - end) exp(-t / steps), or (linear) from start to end over
 * steps, then end. */
typedef struct dlrt_schedule {
	int tensor;                /* the DLRT_HYPER tensor */
	int linear;
	double start, end, steps;
} dlrt_schedule;

typedef struct dlrt_rl {
	dlrt_rollout rollout;
	const dlrt_env_class *env;
	dlrt_env_config config;
	const char *env_name;      /* "cartpole", "gridworld" or the user file's path */
	/* the policy: the program compiled for one observation, whose
	 * gradients() computes the action in training mode (sampling, dropout)
	 * and forward() the greedy one; policy_output indexes its tensors */
	const struct dlrt_model *policy;
	int policy_output;
	/* indices in tensors[] of what each role fills (-1: none) */
	int obs, action, returns, reward, next_obs, done;
	double gamma;
	int normalize;             /* episode: returns standardised over the batch */
	int batch_episodes;        /* episode: episodes per update (one batch) */
	int64_t capacity, start;   /* replay: memory size, transitions before the first update */
	int64_t episodes;          /* the default of --episodes */
	/* target networks: param target_dst[i] follows param target_src[i]
	 * (tensor indices): after every update, dst = tau src + (1 - tau) dst,
	 * or, with tau 1, dst = src every target_every updates */
	int ntargets;
	const int *target_dst, *target_src;
	double tau;
	int64_t target_every;
	int nschedules;
	const dlrt_schedule *schedules;
} dlrt_rl;

/* One kernel of train_step, for the trainer's --profile: its C function's
 * name, the function, its floating-point operations for a full batch, and
 * the factor of the learning rate it runs at (a step clause's). */
typedef struct dlrt_kernel {
	const char *name;
	void (*fn)(int64_t n);
	double flops;
	double lr_scale;
} dlrt_kernel;

typedef struct dlrt_model {
	const char *name;          /* model name (the .dl file's stem) */
	/* A character-level model's generator: the same program compiled for
	 * batch 1 and one step, whose carried states hold the context (the
	 * trainer's --sample with --prime); NULL if none. */
	const struct dlrt_model *generator;
	const char *source;        /* path of the .dl file it came from */
	dlrt_dtype dtype;          /* f32 or f64: element type of float tensors */
	int64_t batch;             /* static batch size (the B dim) */

	int ntensors;
	dlrt_tensor *tensors;      /* params, inputs, labels, outputs, state */

	void *loss;                /* scalar loss buffer (dtype) */

	/* Entry points.  n = rows of the batch that hold data (1..batch): the
	 * loss averages over those rows only, the rest are ignored. */
	void (*forward)(int64_t n);                /* eval mode: loss, outputs */
	void (*gradients)(int64_t n);              /* train mode: loss, outputs,
	                                              every param's grad */
	void (*train_step)(int64_t n, double lr);  /* gradients + optimizer update */
	/* The optimizer update alone, from the grads as they stand: train_step
	 * is gradients then update.  The trainer's --shards and MPI ranks sum
	 * several batches' gradients in between.  NULL for models whose step
	 * has another shape (step clauses, Newton's methods, agents). */
	void (*update)(int64_t n, double lr);
	/* The loss is a mean over the batch's rows of per-row terms (plus terms
	 * without rows): the losses and gradients of parts of a batch, weighted
	 * by their rows, add up to the whole batch's.  0: it sums over rows, or
	 * mixes them (batch statistics); --shards and MPI refuse the model. */
	int loss_row_mean;
	/* train_step as its kernels, in order (the trainer's --profile calls
	 * them one at a time), and the setter of the learning rate they read */
	int nkernels;
	const dlrt_kernel *kernels;
	void (*set_lr)(double lr);
	/* Models compiled for second-order methods: gradients, and the
	 * Hessian-vector product H v for the directions in the DLRT_DIRECTION
	 * tensors (NULL otherwise). */
	void (*hvp)(int64_t n);
	double damping;            /* newton: (H + damping I) d = g        */
	int cg_iters;              /* newton_cg: at most this many CG steps */

	/* Accuracy: index in tensors[] of the DLRT_OUTPUT whose per-row argmax
	 * is the predicted class, and of the i32 DLRT_LABEL it is compared
	 * with; -1 when the model has no classification loss. */
	int accuracy_output;
	int accuracy_label;

	/* Defaults from the `train` block; trainer flags override them.  lr
	 * is the only optimizer setting that is a runtime value (train_step
	 * takes it, so --lr and schedules change it); the others are constants
	 * of the compiled step, listed in optimizer_constants for the log
	 * ("momentum 0.9", "betas 0.9 0.999 eps 1e-08"; may be NULL). */
	dlrt_optimizer optimizer;
	double lr;
	const char *optimizer_constants;
	int epochs;
	dlrt_data_spec train_data, test_data;
	const char *data_dir;      /* default directory for relative data paths */
	double input_scale;        /* u8 data are multiplied by this (1/255) */
	/* Models with dropout: the random key of the next step; the trainer
	 * sets it from the seed and the step number before each step.  NULL
	 * when the model draws no random numbers. */
	uint64_t *rng_key;
	/* The random tensors (randn, rand, bernoulli), which draw from rng_key
	 * unless the trainer sets their src to values of their shape in the
	 * model's element type (--noise NAME=FILE). */
	dlrt_noise *noise;
	int nnoise;
	/* How many of the DLRT_OUTPUT tensors, the first ones in tensors[]
	 * order, the program declared with `output`; those after them are the
	 * compiler's own (such as the logits that accuracy is taken from).
	 * --predict writes the declared ones.  0: every output is declared. */
	int declared_outputs;
	/* How many threads the model's parallel kernels have scratch for; the
	 * trainer runs at most that many (0: one). */
	int max_threads;
	/* The validation set of the `train` block (valid = ...): evaluated after
	 * every epoch, and what --early-stop watches.  DLRT_DATA_NONE: none. */
	dlrt_data_spec valid_data;
	/* `steps = N` in the train block: the default of --steps (0: none).  A
	 * model without inputs and labels (a program of params and a loss)
	 * has no data: it trains for that many steps, each a full step of the
	 * program (n = 1), as one epoch. */
	int64_t steps;
	/* dlc --probe: the forward graph (in topological order, the loss
	 * last) with buffers for every value and gradient; 0 and NULL without. */
	int nnodes;
	const dlrt_node *nodes;
	const int *node_inputs;
	/* A character-level model (`dim V = vocab("glob")`): its vocabulary, the
	 * distinct bytes of the corpus in increasing order; byte vocab[i] has id
	 * i.  Checkpoints store it.  NULL and 0 without one. */
	const unsigned char *vocab;
	int nvocab;
	/* Step clauses (`critic = step(d_loss, params = [D], optimizer = ...)`
	 * in the train block): a training step is a round that runs them in
	 * order, each in the rounds whose number is a multiple of its every;
	 * loss is the first's, lr and optimizer are the first's, and
	 * train_step runs every clause once.  0 and NULL without. */
	int nclauses;
	const dlrt_clause *clauses;
	/* Training in an environment: NULL for a model trained on data. */
	const dlrt_rl *rl;
	/* A policy model (dlrt_rl.policy): the row of the episode its one row
	 * stands for, which its random draws (dropout masks, samples) are
	 * keyed by, so that the training step's row t draws what the policy
	 * drew at step t.  NULL in other models (their row 0 is row 0). */
	int64_t *row0;
	/* FNV-1a hash of the .dl file the model was compiled from (0: unknown):
	 * with the descriptor, what MPI ranks compare at start-up to find one
	 * that runs another model. */
	uint64_t source_hash;
} dlrt_model;

/* The generic trainer: parses flags, loads data, trains, evaluates,
 * checkpoints.  Returns the process exit status.  `dlrt_main --help` lists
 * the flags. */
int dlrt_main(const dlrt_model *m, int argc, char **argv);

/* Decompress a gzip data file on a thread of its own, ahead of the trainer,
 * which then reads it from memory (dlc run starts this for the model's data
 * files while it compiles the model).  At most 16 files; anything that goes
 * wrong is left to the trainer's own reading, which reports it. */
void dlrt_prefetch(const char *path);

/* ---- data-parallel training (dist.c; MPI in runtime/mpi/) ----
 *
 * The trainer splits each global batch of n rows into `size` parts, rank r
 * computing the gradients of rows n*r/size .. n*(r+1)/size - 1; the step's
 * gradient is the mean over all n rows, sum_r (n_r / n) g_r, and every rank
 * applies the same update.  A transport provides the collectives: */
typedef struct dlrt_dist {
	int rank, size;
	/* reduce gradients in rank order (gather, then the same sum on every
	 * rank): bit-identical to one process with --shards size */
	int exact;
	/* sum count elements (f32 or f64) over the ranks, in place */
	int (*sum)(void *buf, int64_t count, dlrt_dtype t);
	/* every rank's `bytes` bytes, in rank order, into all[size * bytes] */
	int (*gather)(const void *mine, void *all, int64_t bytes);
	/* the seconds the collectives took, and how many were run */
	double comm_seconds;
	int64_t comm_calls;
} dlrt_dist;
/* The transport of this process (NULL: one process).  dlrt_mpi_main sets it. */
extern dlrt_dist *dlrt_dist_now;
/* What ranks compare at start-up: the model's descriptor and source hash. */
uint64_t dlrt_model_hash(const dlrt_model *m);
/* The trainer of an MPI program (libdlrt_mpi, built with mpicc):
 * MPI_Init, checks that every rank runs the same model with the same flags,
 * dlrt_main, MPI_Finalize; a rank that fails stops every rank. */
int dlrt_mpi_main(const dlrt_model *m, int argc, char **argv);

/* ---- pieces the trainer is built from, usable on their own ---- */

/* Seeded reproducible RNG (PCG32). */
typedef struct dlrt_rng {
	uint64_t state, inc;
} dlrt_rng;
void dlrt_rng_seed(dlrt_rng *r, uint64_t seed, uint64_t stream);
uint32_t dlrt_rng_u32(dlrt_rng *r);
double dlrt_rng_uniform(dlrt_rng *r);           /* [0, 1) */
double dlrt_rng_normal(dlrt_rng *r);            /* N(0, 1) */
uint32_t dlrt_rng_below(dlrt_rng *r, uint32_t n); /* uniform in [0, n) */

/* Fill one tensor with its initialiser (params), or its starting value
 * (state: zero, or ones/constant when it says so). */
void dlrt_init_tensor(const dlrt_tensor *t, uint64_t seed);

/* The random key of training step `step` (dropout masks). */
uint64_t dlrt_step_key(uint64_t seed, uint64_t step);

/* Fill every DLRT_PARAM with its initialiser; state tensors start at zero,
 * or at their own initialiser (ones, constant) when they have one. */
void dlrt_init_params(const dlrt_model *m, uint64_t seed);

/* A dataset held in its stored element type; rows are examples. */
typedef struct dlrt_column {
	dlrt_dtype dtype;          /* as stored: u8, i32, f32, f64 */
	int64_t row_elems;         /* elements per example */
	void *data;                /* rows * row_elems elements */
} dlrt_column;

typedef struct dlrt_dataset {
	int64_t rows;
	int ncols;                 /* one per model input/label, in order */
	dlrt_column cols[DLRT_MAX_FILES];
} dlrt_dataset;

/* Load a dataset matching the model's inputs and labels (in declaration
 * order).  On error prints "file: offset N: expected ..., found ..." to
 * stderr and returns -1. */
int dlrt_load_dataset(const dlrt_model *m, const dlrt_data_spec *spec,
                      const char *dir, dlrt_dataset *out);
/* The same for the model's inputs only (prediction): one file per input,
 * or a CSV whose columns fill the inputs. */
int dlrt_load_inputs(const dlrt_model *m, const dlrt_data_spec *spec,
                     const char *dir, dlrt_dataset *out);
void dlrt_free_dataset(dlrt_dataset *ds);
/* Move round(frac * rows) rows of ds into *held (both keep file order).  The
 * held-out rows are the first ones of a Fisher-Yates permutation of
 * 0..rows-1 drawn from dlrt_rng_seed(seed, stream): for i = rows-1 down to
 * 1, swap entries i and dlrt_rng_below(i + 1).  Returns 0, or -1 (message
 * printed) when either part would be empty.  `what` names the split in
 * messages. */
int dlrt_split_dataset(dlrt_dataset *ds, double frac, uint64_t seed, uint64_t stream,
                       const char *what, dlrt_dataset *held);
/* Draw spec->gen.n points of a 2-D generator into *out (allocated on the
 * first call, reused after), from dlrt_rng_seed(seed, stream): the model's
 * first input gets the points ([n, 2]), its first label (if any) the class
 * of each point.  Returns 0, or -1 (message printed) when the model's
 * inputs and labels do not fit the generator. */
int dlrt_generate(const dlrt_model *m, const dlrt_gen_spec *spec, uint64_t seed,
                  uint64_t stream, dlrt_dataset *out);
const char *dlrt_generator_name(dlrt_generator g);
/* dlrt_generate's parens(...): n strings of brackets, one-hot, into the
 * model's first input ([n, L, 2 pairs]), the second input if it has one
 * (the mask, [n, L]) and its label (1 well-formed, 0 not). */
int dlrt_generate_parens(const dlrt_model *m, const dlrt_gen_spec *spec, uint64_t seed,
                         uint64_t stream, dlrt_dataset *out);
/* dlrt_generate's hist(...): n sequences of max_len tokens below vocab into
 * the model's input ([n, len] i32) and its label ([n, len]: how many times
 * the token at each position occurs in its sequence). */
int dlrt_generate_hist(const dlrt_model *m, const dlrt_gen_spec *spec, uint64_t seed,
                       uint64_t stream, dlrt_dataset *out);
/* dlrt_generate's reverse_words(...): the words of spec->file of its part
 * (words.c) into the model's inputs (the letters i32[n, S], their mask
 * f32[n, S], the decoder's input i32[n, T]: BOS and the letters reversed)
 * and its label (i32[n, T]: the letters reversed and EOS); 0 pads. */
int dlrt_generate_words(const dlrt_model *m, const dlrt_gen_spec *spec, uint64_t seed,
                        uint64_t stream, dlrt_dataset *out);
/* The ids of reverse_words: 0 padding, 1 BOS, 2 EOS, 3 + (c - 'a') the
 * letter c; DLRT_WORDS_VOCAB of them. */
enum { DLRT_WORDS_PAD = 0, DLRT_WORDS_BOS = 1, DLRT_WORDS_EOS = 2, DLRT_WORDS_VOCAB = 29 };
/* Standardise the input columns of `train` (per feature: subtract the mean,
 * divide by the standard deviation, both over its rows, the population
 * std as sklearn's StandardScaler; a constant feature is only centred), and
 * the same columns of the n datasets in others (NULL entries skipped; a
 * dataset of inputs only, from dlrt_load_inputs, too) with train's
 * statistics.  Input columns become the model's float type. */
int dlrt_standardize(const dlrt_model *m, dlrt_dataset *train, dlrt_dataset *const *others,
                     int n);
/* Copy rows idx[0..n) of ds into the model's input/label buffers,
 * converting element types (u8 -> float times input_scale).  A dataset
 * from dlrt_load_inputs (one column per input) zero-fills the labels. */
void dlrt_gather_batch(const dlrt_model *m, const dlrt_dataset *ds,
                       const int64_t *idx, int64_t n);
/* Ask the memory system for rows idx[0..n) of ds ahead of their gather
 * (the next batch, while this one trains); changes nothing else. */
void dlrt_prefetch_rows(const dlrt_dataset *ds, const int64_t *idx, int64_t n);

/* Character-level text (text.c).  A corpus: the regular files a glob
 * matches, sorted by name (strcmp), read whole and concatenated; a file
 * holding a NUL byte (binary, such as fortune's .dat index files) is
 * skipped, and so is one that is the same file (device and inode) as one
 * already read (symlinks).  files[i] starts at offset starts[i]. */
typedef struct dlrt_corpus {
	unsigned char *bytes;
	int64_t len;
	int nfiles;
	char **files;
	int64_t *starts;
} dlrt_corpus;
/* 0, or -1 with the reason in err (no file matches, a read error). */
int dlrt_read_corpus(const char *pattern, dlrt_corpus *c, char *err, size_t errsize);
void dlrt_free_corpus(dlrt_corpus *c);
/* The sorted distinct bytes of a corpus into vocab; returns how many. */
int dlrt_corpus_vocab(const dlrt_corpus *c, unsigned char vocab[256]);
/* The model's training data is text. */
int dlrt_text_model(const dlrt_model *m);
/* A DLRT_DATA_TEXT spec's corpus as ids of the model's vocabulary, the last
 * test_frac of it into *test and the valid_frac before that into *valid
 * (by position; NULL: none), the rest into *train, each cut into batches
 * as PyTorch's word_language_model batchify does (text.c says how): row
 * k * batch + b of a set is row b of its batch k, inputs in column 0 and
 * next-character labels in column 1.  An epoch takes the rows in order.
 * Returns 0, or -1 with a message (no file, an empty corpus, a byte
 * outside the vocabulary, a part shorter than one batch). */
int dlrt_load_text(const dlrt_model *m, const dlrt_data_spec *spec, double test_frac,
                   double valid_frac, dlrt_dataset *train, dlrt_dataset *test, dlrt_dataset *valid);

/* Checkpoints: safetensors files.  Save writes every param and state tensor
 * (and "__metadata__" with the model name, epoch and step) to a temporary file
 * beside `path`, then renames it over `path`.  Load checks names, dtypes and
 * shapes and reports the first mismatch.  Both return 0 or -1 (message on
 * stderr). */
typedef struct dlrt_ckpt_meta {
	int64_t epoch, step;
	uint64_t seed;
} dlrt_ckpt_meta;
int dlrt_save_checkpoint(const dlrt_model *m, const char *path, const dlrt_ckpt_meta *meta);
int dlrt_load_checkpoint(const dlrt_model *m, const char *path, dlrt_ckpt_meta *meta);

/* Generic safetensors writer: n named tensors. */
typedef struct dlrt_named {
	const char *name;
	dlrt_dtype dtype;
	int rank;
	int64_t shape[DLRT_MAX_RANK];
	const void *data;
} dlrt_named;
int dlrt_write_safetensors(const char *path, const dlrt_named *t, int n, const char *meta_json);

/* .npy: load into a freshly malloc'ed buffer (any of u8/i32/i64/f32/f64, C
 * order); i64 is narrowed to i32.  Returns 0 or -1 with a message. */
int dlrt_load_npy(const char *path, dlrt_dtype *dtype, int *rank, int64_t shape[DLRT_MAX_RANK], void **data);
int dlrt_save_npy(const char *path, dlrt_dtype dtype, int rank, const int64_t *shape, const void *data);

/* Second-order methods (models compiled with optimizer = newton(...) or
 * newton_cg(...)): one step on the current batch (w -= lr d with
 * (H + damping I) d = g), returning the gradient norm before the step;
 * the exact Hessian (row-major P x P, malloc'ed); and a check of hvp()
 * against central differences of the gradient along a random direction
 * (0 when it agrees; dump, if not NULL, names a safetensors file for the
 * direction v_<param> and the product hv_<param>). */
int dlrt_second_order_step(const dlrt_model *m, int64_t n, double lr, double *gnorm);
int dlrt_hessian(const dlrt_model *m, int64_t n, double **H, int64_t *P);
int dlrt_hvp_check(const dlrt_model *m, int64_t n, uint64_t seed, const char *dump);

/* ---- threads ----
 * Parallel kernels run through one process-wide pool.  dlrt_parallel runs
 * fn(n, lo, hi, tid) over [0, count) split into dlrt_threads() contiguous
 * pieces with boundaries at multiples of grain, piece t on worker t (the
 * caller is worker 0), and returns when all are done.  The split depends
 * only on count, grain and the thread count; kernels whose per-item
 * arithmetic does not depend on the split give the same bits on any number
 * of threads. */
typedef void (*dlrt_task)(int64_t n, long lo, long hi, int tid);
void dlrt_parallel(dlrt_task fn, int64_t n, long count, long grain);
int dlrt_set_threads(int k);    /* starts/stops workers; returns the count */
int dlrt_threads(void);
int dlrt_default_threads(void); /* the CPUs this process may run on */

/* Monotonic wall clock in seconds. */
double dlrt_now(void);

/* tanh for f32 kernels: a rational function of x (odd: x p(x^2) / q(x^2),
 * the coefficients of Eigen's float tanh) with x clamped to +-7.9, within 7
 * units in the last place of tanh over all floats, and without a call or a
 * branch, so that the loops around it vectorize (tanhf is a call). */
static inline float dlrt_tanhf(float x)
{
	float c = x > 7.90531110763549805f ? 7.90531110763549805f : x < -7.90531110763549805f ? -7.90531110763549805f : x;
	float x2 = c * c;
	float p = -2.76076847742355e-16f;
	p = p * x2 + 2.00018790482477e-13f;
	p = p * x2 + -8.60467152213735e-11f;
	p = p * x2 + 5.12229709037114e-08f;
	p = p * x2 + 1.48572235717979e-05f;
	p = p * x2 + 6.37261928875436e-04f;
	p = p * x2 + 4.89352455891786e-03f;
	float q = 1.19825839466702e-06f;
	q = q * x2 + 1.18534705686654e-04f;
	q = q * x2 + 2.26843463243900e-03f;
	q = q * x2 + 4.89352518554385e-03f;
	float r = c * p / q;
	return (x < 0.0004f && x > -0.0004f) ? x : r;
}

/* erf for f32 kernels (erf and gelu): a rational function of x (odd: x
 * p(x^2) / q(x^2), the coefficients of Eigen's float erf) with x clamped to
 * +-4, where erf is 1 in f32; without a call or a branch, so that the
 * loops around it vectorize (erff is a call). */
static inline float dlrt_erff(float x)
{
	float c = x > 4.0f ? 4.0f : x < -4.0f ? -4.0f : x;
	float x2 = c * c;
	float p = -2.72614225801306e-10f;
	p = p * x2 + 2.77068142495902e-08f;
	p = p * x2 + -2.10102402082508e-06f;
	p = p * x2 + -5.69250639462346e-05f;
	p = p * x2 + -7.34990630326855e-04f;
	p = p * x2 + -2.95459980854025e-03f;
	p = p * x2 + -1.60960333262415e-02f;
	float q = -1.45660718464996e-05f;
	q = q * x2 + -2.13374055278905e-04f;
	q = q * x2 + -1.68282697438203e-03f;
	q = q * x2 + -7.37332916720468e-03f;
	q = q * x2 + -1.42647390514189e-02f;
	return c * (p / q);
}

/* e^x for f32 kernels (the sigmoid): Cephes' expf, a polynomial on the
 * reduced argument times 2^n put together from its bits, with x clamped to
 * [-87.3, 88.38]; within 2 units in the last place of e^x there, and
 * without a call or a branch, so that the loops around it vectorize. */
static inline float dlrt_expf(float x)
{
	float c = x > 88.3762626647949f ? 88.3762626647949f : x < -87.3f ? -87.3f : x;
	float fx = floorf(c * 1.44269504088896341f + 0.5f);
	float r = c - fx * 0.693359375f - fx * -2.12194440e-4f;
	float y = 1.9875691500e-4f;
	y = y * r + 1.3981999507e-3f;
	y = y * r + 8.3334519073e-3f;
	y = y * r + 4.1665795894e-2f;
	y = y * r + 1.6666665459e-1f;
	y = y * r + 5.0000001201e-1f;
	y = y * (r * r) + r + 1.0f;
	int32_t bits = ((int32_t)fx + 127) * 8388608; /* 2^fx: the exponent field */
	float p;
	memcpy(&p, &bits, sizeof p);
	return y * p;
}

#endif
