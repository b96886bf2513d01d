/* trainer.c - dlrt_main: the generic trainer every compiled model runs.
 *
 * It parses the command line, loads the training and test sets, initialises
 * or loads the parameters, then trains: each epoch shuffles the row order
 * (Fisher-Yates, from one RNG seeded once, so epochs differ but runs repeat),
 * walks it in batches of m->batch rows keeping the last partial batch, and
 * calls the model's train_step.  Only that loop (shuffle, gather, step) is
 * timed.  Afterwards it evaluates the test set with forward() in batches.
 *
 * Models compiled for second-order methods (optimizer newton or newton_cg)
 * take their steps from dlrt_second_order_step (newton.c) instead of
 * train_step, printing the gradient norm of each.
 *
 * Options on the way (each described where it is implemented): a learning
 * rate that follows a schedule (schedule.c), a CSV log of the run
 * (trainlog.c), a scan of every tensor for NaN and Inf after each step
 * (--check-numerics), and --predict, which only runs forward() over a file
 * of inputs and saves the outputs (predict.c).
 *
 * Resuming is exact.  A checkpoint records the seed and the global step
 * count; the order of examples in epoch k is the k-th Fisher-Yates shuffle
 * from the seed, so --load replays the earlier shuffles, skips the steps of
 * the current epoch already done, and draws dropout keys and learning rates
 * from the global step as an uninterrupted run would: 2 epochs in one go
 * and 1 epoch + `--load --epochs 2` end with the same bits.  --epochs and
 * --steps count from the start of the first run (totals, not additions).
 *
 * The same binary also checks its own gradients: --dump-forward and
 * --dump-grads write one batch's loss, outputs and gradients to a
 * safetensors file (for comparison with a reference framework), and
 * --gradcheck compares gradients() against central differences of the
 * training-mode loss that gradients() computes (with the random key held
 * fixed, so dropout draws the same mask each time).  Losses and metrics are accumulated in double.
 *
 * Exit status: 0 success, 1 a run-time failure (bad data, bad checkpoint,
 * non-finite loss, failed gradient check), 2 a usage error. */
#include "dlrt_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* RNG streams, so that shuffling, random batches and element sampling are
 * independent of each other and of parameter initialisation. */
#define STREAM_SHUFFLE 0x5348554646ULL
#define STREAM_BATCH 0x4241544348ULL
#define STREAM_GRADCHECK 0x4743484bULL
/* Held-out rows (test = split(...), valid = split(...)): seeded with the
 * split's own seed, not --seed, so the split is fixed. */
#define STREAM_SPLIT_TEST 0x54455354ULL
#define STREAM_SPLIT_VALID 0x56414c4944ULL
/* Generated data: the training set of epoch k from dlrt_step_key(seed, k),
 * the test and validation sets once from dlrt_step_key(seed, 0). */
#define STREAM_GEN_TRAIN 0x47454e5452ULL
#define STREAM_GEN_TEST 0x47454e5445ULL
#define STREAM_GEN_VALID 0x47454e5641ULL

enum { PROGRESS_AUTO, PROGRESS_ALWAYS, PROGRESS_NEVER };

typedef struct opts {
	int epochs, have_epochs;
	double lr;
	int have_lr;
	uint64_t seed;
	int have_seed;
	int64_t steps;            /* -1: no limit */
	const char *data_dir;
	const char *train, *test, *valid, *batch_from;
	int64_t early_stop;       /* 0: off; else the patience in epochs */
	int64_t sample;           /* --sample ROWS (0: off) */
	const char *sample_out;
	const char *prime;        /* character models: --prime TEXT, --temperature, --top-k */
	double temperature;
	int64_t top_k;
	const char *save, *load, *dump_grads, *dump_forward, *dump_hvp;
	const char *log, *predict, *predict_out;
	int64_t log_every;        /* 0: about 1% of the run, at most 50 */
	int64_t threads;          /* 0: one per CPU */
	int eval, quiet, gradcheck, hvpcheck, help, progress, check_numerics;
	double tol;
	int have_tol;
	/* the learning-rate schedule; have_* for the checks of what goes with what */
	dlrt_lr_kind sched;
	int64_t step_size, warmup;
	double gamma, lr_min;
	int have_step_size, have_gamma, have_lr_min;
	const char *noise[16];    /* --noise NAME=FILE */
	int nnoise;
	const char *set[16];      /* --set NAME=VALUE */
	int nset;
	int no_shuffle;           /* --no-shuffle: the training rows in file order */
	int lipschitz;            /* --lipschitz: the report, no training */
	int64_t episodes;         /* models trained in an environment: --episodes (-1: the model's) */
	int64_t eval_episodes;    /* --eval-episodes N */
	int value_iteration;      /* --value-iteration */
	int64_t speed;            /* --speed STEPS */
	/* teaching tools (teach.c) */
	const char *trace, *dot;
	int grad_numeric, grad_sweep;
	const char *dump_data;    /* --dump-data PATH */
	int64_t shards;           /* --shards P: each step from P parts' gradients (dist.c); 0: off */
	int exact_reduce;         /* --exact-reduce: MPI ranks sum gradients in rank order */
	int profile;              /* --profile: time train_step's kernels one by one */
	double profile_peak;      /* --profile-peak GFLOPS: the machine's, for the share of it */
} opts;

/* A comma-separated file list turned into a data spec (owns its strings). */
typedef struct file_list {
	dlrt_data_spec spec;
	char *buf;
} file_list;

static void usage(FILE *out, const dlrt_model *m, const char *prog)
{
	fprintf(out,
	        "usage: %s [flags]\n"
	        "Trains model '%s'%s%s%s, %s%s%s.\n"
	        "\n"
	        "  --epochs N             epochs to train (default %d)\n"
	        "  --lr X                 learning rate (default %g)\n"
	        "  --seed S               seed for initialisation and shuffling (default 1)\n"
	        "  --steps N              stop after N training steps in total (from the first run)\n"
	        "  --lr-schedule S        constant (default), step, exp or cosine, as torch's\n"
	        "                         StepLR, ExponentialLR and CosineAnnealingLR:\n"
	        "                           step    lr * G^floor(epoch / N)\n"
	        "                           exp     lr * G^epoch\n"
	        "                           cosine  from lr down to --lr-min, step by step, over\n"
	        "                                   all --epochs (--steps stops early: same curve)\n"
	        "  --lr-step-size N       step: N, the epochs between decays\n"
	        "  --lr-gamma G           step, exp: G, the factor (step: default 0.1)\n"
	        "  --lr-min X             cosine: the final learning rate (default 0)\n"
	        "  --warmup N             times the schedule, a linear warm-up from lr/N at step 0\n"
	        "                         to lr at step N (torch LinearLR(start_factor=1/N))\n"
	        "  --data DIR             directory that relative data paths are in%s%s%s\n"
	        "  --train F[,F...]       training data: one file per input/label in order\n"
	        "                         (.npy, or IDX, optionally .gz), or one .csv file\n"
	        "  --test F[,F...]        test data, likewise\n"
	        "  --valid F[,F...]       validation data, likewise: its loss is printed after\n"
	        "                         every epoch\n"
	        "  --early-stop N         stop when the validation loss has not improved for N\n"
	        "                         epochs, and end with the parameters of the best epoch\n"
	        "  --save PATH            write a safetensors checkpoint after every epoch\n"
	        "  --load PATH            start from a checkpoint instead of the initialisers; a\n"
	        "                         training run continues where it stopped (--epochs and\n"
	        "                         --steps count the total, from the first run on)\n"
	        "  --log PATH             CSV log: step,epoch,loss,lr,train_acc,test_acc,images_per_s;\n"
	        "                         a row every --log-every steps and one per epoch (lr empty),\n"
	        "                         with the test accuracy after each epoch\n"
	        "  --log-every K          steps between log rows (default: 1%% of the run, <= 50)\n"
	        "  --check-numerics       after every step, stop at the first NaN or Inf in the loss,\n"
	        "                         the outputs, the gradients, the parameters or the state\n"
	        "  --eval                 only evaluate: the test set, or the training set if\n"
	        "                         there is none\n"
	        "  --eval-valid           only evaluate the validation set\n"
	        "  --predict F[,F...]     only predict: run the model on the inputs in the files (one\n"
	        "                         per input, or one .csv; no labels) and save its outputs\n"
	        "  --predict-out PATH     where: the first output (default predictions.npy), others\n"
	        "                         to PATH's stem + .NAME.npy\n"
	        "  --sample N             only sample: N rows of the outputs computed from the params\n"
	        "                         and random draws alone (a decoder on randn), to --sample-out\n"
	        "                         PATH (default samples.npy; others to PATH's stem + .NAME.npy);\n"
	        "                         a character model writes N characters (to stdout, or to\n"
	        "                         --sample-out PATH)\n"
	        "  --prime TEXT           character models: the text the sample continues\n"
	        "  --temperature X        draw from the probabilities to the power 1/X (default 1)\n"
	        "  --top-k K              only among the K most likely characters (default: all)\n"
	        "  --threads N            worker threads (default: one per CPU this process may\n"
	        "                         use); results are the same bits for any N\n",
	        prog, m->name ? m->name : "?", m->source ? " (from " : "", m->source ? m->source : "",
	        m->source ? ")" : "", m->rl ? "by acting in its environment, " : "then evaluates it on its test set",
	        m->rl ? m->rl->env_name : "", m->rl ? " (--episodes, --eval-episodes: below)" : "",
	        m->epochs > 0 ? m->epochs : 1, m->lr,
	        m->data_dir ? " (default " : "", m->data_dir ? m->data_dir : "",
	        m->data_dir ? ")" : "");
	fprintf(out,
	        "  --lipschitz            no training: each weight's spectral norm and their product\n"
	        "                         (a bound on the Lipschitz constant of a chain of layers),\n"
	        "                         and the largest value over the test set of each output\n"
	        "                         of one number per example (a gradient's norm)\n"
	        "  --no-shuffle           the training rows in their order, every epoch (to compare\n"
	        "                         with another framework step by step)\n"
	        "  --shards P             each step sums the gradients of P parts of the batch, in\n"
	        "                         order, then updates once: what P MPI ranks compute with\n"
	        "                         --exact-reduce, bit for bit (docs/mpi.md)\n"
	        "  --exact-reduce         under mpirun: gather the ranks' gradients and sum them in\n"
	        "                         rank order (default: MPI_Allreduce, equal to rounding)\n"
	        "  --profile              time each kernel of the training step and print a table:\n"
	        "                         milliseconds per step, share, GFLOP/s (docs/cli.md)\n"
	        "  --profile-peak G       with --profile: the machine's peak, G GFLOP/s, and each\n"
	        "                         kernel's share of it\n"
	        "  --set NAME=VALUE       hyper-parameter NAME (`hyper NAME = ...` in the program) is\n"
	        "                         VALUE instead of its default\n"
	        "  --noise NAME=FILE      random tensor NAME takes its values from FILE (.npy): one draw\n"
	        "                         of its shape for every step, or [S, ...]: draw k mod S at step k\n"
	        "  --quiet                print only the final results\n"
	        "  --progress WHEN        live progress line: auto (default), always, never\n"
	        "  --batch-from F[,F...]  one batch from files (one per input/label, rows <= %lld)\n"
	        "                         for the checks below; random data without it\n"
	        "  --dump-forward PATH    write that batch's loss and outputs (safetensors)\n"
	        "  --dump-grads PATH      write its loss, outputs and gradients d_<param>\n"
	        "  --gradcheck            compare gradients with central differences\n"
	        "  --hvpcheck             second-order models: compare Hessian-vector products\n"
	        "                         with differences of the gradient\n"
	        "  --dump-hvp PATH        with --hvpcheck: write its direction v_<param> and\n"
	        "                         product hv_<param> (safetensors)\n"
	        "  --tol X                relative tolerance of --gradcheck (default 1e-4; f32: 5e-2)\n"
	        "  --trace PATH           CSV of the loss and the parameters (first %d elements of\n"
	        "                         each) before every step, and after the last\n"
	        "  --grad numeric         train on central-difference gradients (plain sgd models)\n"
	        "  --grad-sweep           print the error of forward and central differences\n"
	        "                         against the gradient for h = 1e-1 ... 1e-12\n"
	        "  --dot PATH             run one step's gradients and write the graph with every\n"
	        "                         value and gradient (models compiled with dlc --probe)\n"
	        "  --episodes N           models trained in an environment: episodes to play\n"
	        "  --eval-episodes N      and afterwards, N episodes of the greedy policy\n"
	        "  --value-iteration      tabular environments: the greedy policy next to value\n"
	        "                         iteration's, state by state\n"
	        "  --speed STEPS          no training: environment steps per second with the policy\n"
	        "                         in the loop, and the time of one update (JSON)\n"
	        "  --dump-data PATH       no training: write the data sets as the run loads them (the\n"
	        "                         training set as its first epoch has it) to a safetensors\n"
	        "                         file, as SET.NAME (train.x, test.y, ...)\n"
	        "  --help                 show this help\n"
	        "\n"
	        "Flags take their value as '--flag value' or '--flag=value'.\n",
	        (long long)m->batch, 8);
}

/* ---- flags ---- */

static int parse_i64(const char *s, int64_t min, int64_t *out)
{
	char *end;
	long long v;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (end == s || *end || errno || v < min)
		return -1;
	*out = v;
	return 0;
}

static int parse_f64(const char *s, double *out)
{
	char *end;
	double v;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

enum flag_id {
	F_EPOCHS, F_LR, F_SEED, F_DATA, F_TRAIN, F_TEST, F_STEPS, F_SAVE, F_LOAD, F_EVAL, F_EVAL_VALID,
	F_QUIET, F_PROGRESS, F_HELP, F_BATCH_FROM, F_DUMP_GRADS, F_DUMP_FORWARD, F_GRADCHECK,
	F_TOL, F_LOG, F_LOG_EVERY, F_SCHEDULE, F_STEP_SIZE, F_GAMMA, F_LR_MIN, F_WARMUP,
	F_CHECK_NUMERICS, F_PREDICT, F_PREDICT_OUT, F_HVPCHECK, F_THREADS, F_NOISE, F_VALID, F_EARLY_STOP, F_SAMPLE, F_SAMPLE_OUT, F_PRIME, F_TEMPERATURE, F_TOP_K,
	F_TRACE, F_GRAD, F_GRAD_SWEEP, F_DOT,
	F_DUMP_DATA, F_DUMP_HVP, F_SET, F_NO_SHUFFLE, F_LIPSCHITZ, F_EPISODES, F_EVAL_EPISODES, F_VALUE_ITERATION, F_SPEED,
	F_SHARDS, F_EXACT_REDUCE, F_PROFILE, F_PROFILE_PEAK,
};

static const struct flag {
	const char *name;
	int id, has_value;
} flags[] = {
	{"epochs", F_EPOCHS, 1}, {"lr", F_LR, 1}, {"seed", F_SEED, 1}, {"data", F_DATA, 1},
	{"train", F_TRAIN, 1}, {"test", F_TEST, 1}, {"steps", F_STEPS, 1}, {"save", F_SAVE, 1},
	{"load", F_LOAD, 1}, {"eval", F_EVAL, 0}, {"eval-valid", F_EVAL_VALID, 0}, {"quiet", F_QUIET, 0},
	{"progress", F_PROGRESS, 1}, {"help", F_HELP, 0}, {"batch-from", F_BATCH_FROM, 1},
	{"dump-grads", F_DUMP_GRADS, 1}, {"dump-forward", F_DUMP_FORWARD, 1},
	{"gradcheck", F_GRADCHECK, 0}, {"tol", F_TOL, 1}, {"log", F_LOG, 1},
	{"log-every", F_LOG_EVERY, 1}, {"lr-schedule", F_SCHEDULE, 1},
	{"lr-step-size", F_STEP_SIZE, 1}, {"lr-gamma", F_GAMMA, 1}, {"lr-min", F_LR_MIN, 1},
	{"warmup", F_WARMUP, 1}, {"check-numerics", F_CHECK_NUMERICS, 0},
	{"predict", F_PREDICT, 1}, {"predict-out", F_PREDICT_OUT, 1}, {"hvpcheck", F_HVPCHECK, 0},
	{"threads", F_THREADS, 1}, {"noise", F_NOISE, 1}, {"valid", F_VALID, 1}, {"early-stop", F_EARLY_STOP, 1},
	{"sample", F_SAMPLE, 1}, {"sample-out", F_SAMPLE_OUT, 1}, {"prime", F_PRIME, 1},
	{"temperature", F_TEMPERATURE, 1}, {"top-k", F_TOP_K, 1},
	{"trace", F_TRACE, 1}, {"grad", F_GRAD, 1}, {"grad-sweep", F_GRAD_SWEEP, 0}, {"dot", F_DOT, 1},
	{"dump-data", F_DUMP_DATA, 1}, {"dump-hvp", F_DUMP_HVP, 1}, {"set", F_SET, 1}, {"no-shuffle", F_NO_SHUFFLE, 0},
	{"shards", F_SHARDS, 1}, {"exact-reduce", F_EXACT_REDUCE, 0},
	{"profile", F_PROFILE, 0}, {"profile-peak", F_PROFILE_PEAK, 1},
	{"lipschitz", F_LIPSCHITZ, 0}, {"episodes", F_EPISODES, 1}, {"eval-episodes", F_EVAL_EPISODES, 1},
	{"value-iteration", F_VALUE_ITERATION, 0}, {"speed", F_SPEED, 1},
};

static int bad_value(const char *flag, const char *v, const char *want)
{
	dlrt_error("--%s: expected %s, found '%s'", flag, want, v);
	return -1;
}

static int need(const char *flag, const char *other)
{
	dlrt_error("%s is for %s", flag, other);
	return -1;
}

static int set_flag(opts *o, const struct flag *f, const char *v)
{
	int64_t k;
	switch (f->id) {
	case F_EPOCHS:
		if (parse_i64(v, 0, &k) || k > 1000000000)
			return bad_value(f->name, v, "a whole number >= 0");
		o->epochs = (int)k, o->have_epochs = 1;
		break;
	case F_LR:
		if (parse_f64(v, &o->lr))
			return bad_value(f->name, v, "a number");
		o->have_lr = 1;
		break;
	case F_SEED:
		if (parse_i64(v, 0, &k))
			return bad_value(f->name, v, "a whole number >= 0");
		o->seed = (uint64_t)k, o->have_seed = 1;
		break;
	case F_LOG_EVERY:
		if (parse_i64(v, 1, &o->log_every))
			return bad_value(f->name, v, "a whole number >= 1");
		break;
	case F_STEP_SIZE:
		if (parse_i64(v, 1, &o->step_size))
			return bad_value(f->name, v, "a whole number >= 1");
		o->have_step_size = 1;
		break;
	case F_WARMUP:
		if (parse_i64(v, 0, &o->warmup))
			return bad_value(f->name, v, "a whole number >= 0");
		break;
	case F_GAMMA:
		if (parse_f64(v, &o->gamma) || o->gamma <= 0)
			return bad_value(f->name, v, "a positive number");
		o->have_gamma = 1;
		break;
	case F_LR_MIN:
		if (parse_f64(v, &o->lr_min))
			return bad_value(f->name, v, "a number");
		o->have_lr_min = 1;
		break;
	case F_SCHEDULE: {
		int found = 0;
		for (int kind = DLRT_LR_CONSTANT; kind <= DLRT_LR_COSINE; kind++)
			if (!strcmp(v, dlrt_schedule_name((dlrt_lr_kind)kind)))
				o->sched = (dlrt_lr_kind)kind, found = 1;
		if (!found)
			return bad_value(f->name, v, "constant, step, exp or cosine");
		break;
	}
	case F_SAMPLE:
		if (parse_i64(v, 1, &k))
			return bad_value(f->name, v, "a whole number >= 1");
		o->sample = k;
		break;
	case F_SAMPLE_OUT: o->sample_out = v; break;
	case F_PRIME: o->prime = v; break;
	case F_TEMPERATURE:
		if (parse_f64(v, &o->temperature) || !(o->temperature > 0) || o->temperature > 1e6)
			return bad_value(f->name, v, "a number > 0");
		break;
	case F_TOP_K:
		if (parse_i64(v, 1, &o->top_k))
			return bad_value(f->name, v, "a whole number >= 1");
		break;
	case F_STEPS:
		if (parse_i64(v, 0, &k))
			return bad_value(f->name, v, "a whole number >= 0");
		o->steps = k;
		break;
	case F_THREADS:
		if (parse_i64(v, 1, &k) || k > 256)
			return bad_value(f->name, v, "a whole number from 1 to 256");
		o->threads = k;
		break;
	case F_TOL:
		if (parse_f64(v, &o->tol) || o->tol <= 0)
			return bad_value(f->name, v, "a positive number");
		o->have_tol = 1;
		break;
	case F_PROGRESS:
		if (!strcmp(v, "auto"))
			o->progress = PROGRESS_AUTO;
		else if (!strcmp(v, "always"))
			o->progress = PROGRESS_ALWAYS;
		else if (!strcmp(v, "never"))
			o->progress = PROGRESS_NEVER;
		else
			return bad_value(f->name, v, "auto, always or never");
		break;
	case F_DATA: o->data_dir = v; break;
	case F_TRAIN: o->train = v; break;
	case F_TEST: o->test = v; break;
	case F_VALID: o->valid = v; break;
	case F_EARLY_STOP:
		if (parse_i64(v, 1, &o->early_stop))
			return bad_value(f->name, v, "a whole number >= 1 (epochs without improvement)");
		break;
	case F_SAVE: o->save = v; break;
	case F_LOAD: o->load = v; break;
	case F_BATCH_FROM: o->batch_from = v; break;
	case F_DUMP_GRADS: o->dump_grads = v; break;
	case F_DUMP_FORWARD: o->dump_forward = v; break;
	case F_DUMP_HVP: o->dump_hvp = v; break;
	case F_EVAL: o->eval = 1; break;
	case F_EVAL_VALID: o->eval = 2; break;
	case F_QUIET: o->quiet = 1; break;
	case F_HELP: o->help = 1; break;
	case F_GRADCHECK: o->gradcheck = 1; break;
	case F_HVPCHECK: o->hvpcheck = 1; break;
	case F_LOG: o->log = v; break;
	case F_CHECK_NUMERICS: o->check_numerics = 1; break;
	case F_PREDICT: o->predict = v; break;
	case F_PREDICT_OUT: o->predict_out = v; break;
	case F_NOISE:
		if (o->nnoise == 16)
			return bad_value(f->name, v, "at most 16 --noise files");
		o->noise[o->nnoise++] = v;
		break;
	case F_NO_SHUFFLE:
		o->no_shuffle = 1;
		break;
	case F_SHARDS:
		if (parse_i64(v, 1, &k) || k > 4096)
			return bad_value(f->name, v, "a whole number from 1 to 4096");
		o->shards = k;
		break;
	case F_EXACT_REDUCE:
		o->exact_reduce = 1;
		break;
	case F_PROFILE:
		o->profile = 1;
		break;
	case F_PROFILE_PEAK:
		if (parse_f64(v, &o->profile_peak) || !(o->profile_peak > 0) || o->profile_peak > 1e9)
			return bad_value(f->name, v, "a number of GFLOP/s above 0");
		break;
	case F_LIPSCHITZ:
		o->lipschitz = 1;
		break;
	case F_EPISODES:
		if (parse_i64(v, 0, &o->episodes) || o->episodes > 1000000000)
			return bad_value(f->name, v, "a whole number >= 0");
		break;
	case F_EVAL_EPISODES:
		if (parse_i64(v, 1, &o->eval_episodes) || o->eval_episodes > 100000000)
			return bad_value(f->name, v, "a whole number >= 1");
		break;
	case F_VALUE_ITERATION: o->value_iteration = 1; break;
	case F_SPEED:
		if (parse_i64(v, 1, &o->speed) || o->speed > 1000000000)
			return bad_value(f->name, v, "a whole number of steps >= 1");
		break;
	case F_SET:
		if (o->nset == 16)
			return bad_value(f->name, v, "at most 16 --set values");
		o->set[o->nset++] = v;
		break;
	case F_TRACE: o->trace = v; break;
	case F_DOT: o->dot = v; break;
	case F_DUMP_DATA: o->dump_data = v; break;
	case F_GRAD_SWEEP: o->grad_sweep = 1; break;
	case F_GRAD:
		if (!strcmp(v, "numeric"))
			o->grad_numeric = 1;
		else if (strcmp(v, "compiled"))
			return bad_value(f->name, v, "numeric or compiled");
		break;
	}
	return 0;
}

static int parse_flags(opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->steps = -1;
	o->episodes = -1;
	o->gamma = 0.1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *name, *eq, *val = NULL;
		const struct flag *f = NULL;
		size_t len;
		if (strncmp(a, "--", 2) != 0 || !a[2]) {
			dlrt_error("unexpected argument '%s' (flags start with --)", a);
			return -1;
		}
		name = a + 2;
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++)
			if (strlen(flags[k].name) == len && !strncmp(flags[k].name, name, len))
				f = &flags[k];
		if (!f) {
			dlrt_error("unknown flag '--%.*s'", (int)len, name);
			return -1;
		}
		if (f->has_value) {
			if (eq)
				val = eq + 1;
			else if (i + 1 < argc)
				val = argv[++i];
			else {
				dlrt_error("--%s needs a value", f->name);
				return -1;
			}
		} else if (eq) {
			dlrt_error("--%s takes no value", f->name);
			return -1;
		}
		if (set_flag(o, f, val))
			return -1;
	}
	if (o->batch_from && !o->dump_grads && !o->dump_forward && !o->gradcheck && !o->hvpcheck &&
	    !o->grad_sweep && !o->dot) {
		dlrt_error("--batch-from is for --dump-grads, --dump-forward, --gradcheck, --hvpcheck, --grad-sweep "
		           "or --dot");
		return -1;
	}
	/* Flags that only mean something beside another one. */
	if (o->have_step_size && o->sched != DLRT_LR_STEP)
		return need("--lr-step-size", "--lr-schedule step");
	if (o->have_gamma && o->sched != DLRT_LR_STEP && o->sched != DLRT_LR_EXP)
		return need("--lr-gamma", "--lr-schedule step or exp");
	if (o->have_lr_min && o->sched != DLRT_LR_COSINE)
		return need("--lr-min", "--lr-schedule cosine");
	if (o->sched == DLRT_LR_STEP && !o->have_step_size) {
		dlrt_error("--lr-schedule step needs --lr-step-size N (epochs between decays)");
		return -1;
	}
	if (o->sched == DLRT_LR_EXP && !o->have_gamma) {
		dlrt_error("--lr-schedule exp needs --lr-gamma G (the factor per epoch)");
		return -1;
	}
	if (o->log_every && !o->log)
		return need("--log-every", "--log");
	if (o->predict_out && !o->predict)
		return need("--predict-out", "--predict");
	if (o->dump_hvp && !o->hvpcheck)
		return need("--dump-hvp", "--hvpcheck");
	if (o->sample_out && !o->sample)
		return need("--sample-out", "--sample");
	if (o->prime && !o->sample)
		return need("--prime", "--sample");
	if (o->temperature > 0 && !o->sample)
		return need("--temperature", "--sample");
	if (o->top_k && !o->sample)
		return need("--top-k", "--sample");
	if (o->sample && (o->predict || o->eval || o->batch_from || o->dump_grads || o->dump_forward ||
	                  o->gradcheck || o->hvpcheck || o->early_stop)) {
		dlrt_error("--sample goes alone (with --load and --seed): not with --predict, --eval, --dump-*, "
		           "--gradcheck, --hvpcheck, --early-stop or --batch-from");
		return -1;
	}
	if (o->early_stop && (o->eval || o->predict || o->batch_from || o->dump_grads ||
	                      o->dump_forward || o->gradcheck || o->hvpcheck))
		return need("--early-stop", "training runs");
	if (o->dump_data && (o->eval || o->predict || o->sample || o->batch_from || o->dump_grads ||
	                     o->dump_forward || o->gradcheck || o->hvpcheck || o->grad_sweep || o->dot ||
	                     o->load || o->early_stop)) {
		dlrt_error("--dump-data goes alone (with --seed and the data flags): not with --eval, "
		           "--predict, --sample, --load, --early-stop, --batch-from, --dump-*, --gradcheck, "
		           "--hvpcheck, --grad-sweep or --dot");
		return -1;
	}
	if (o->predict && (o->eval || o->batch_from || o->dump_grads || o->dump_forward ||
	                   o->gradcheck || o->hvpcheck)) {
		dlrt_error("--predict goes alone: not with --eval, --dump-*, --gradcheck, --hvpcheck "
		           "or --batch-from");
		return -1;
	}
	return 0;
}

/* ---- data specs ---- */

static dlrt_data_kind kind_of(const char *path)
{
	size_t n = strlen(path);
	if (n > 3 && !strcmp(path + n - 3, ".gz"))
		n -= 3;
	if (n >= 4 && !strncmp(path + n - 4, ".npy", 4))
		return DLRT_DATA_NPY;
	if (n >= 4 && !strncmp(path + n - 4, ".csv", 4))
		return DLRT_DATA_CSV;
	return DLRT_DATA_IDX;
}

static int make_list(file_list *fl, const char *flag, const char *list)
{
	char *p;
	memset(fl, 0, sizeof *fl);
	fl->buf = malloc(strlen(list) + 1);
	if (!fl->buf) {
		dlrt_error("out of memory");
		return -1;
	}
	strcpy(fl->buf, list);
	p = fl->buf;
	for (;;) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = 0;
		if (!*p) {
			dlrt_error("--%s: expected a file name, found an empty entry in '%s'", flag, list);
			return -1;
		}
		if (fl->spec.nfiles == DLRT_MAX_FILES) {
			dlrt_error("--%s: expected at most %d files", flag, DLRT_MAX_FILES);
			return -1;
		}
		fl->spec.files[fl->spec.nfiles++] = p;
		if (!comma)
			break;
		p = comma + 1;
	}
	fl->spec.kind = kind_of(fl->spec.files[0]);
	for (int i = 1; i < fl->spec.nfiles; i++)
		if (kind_of(fl->spec.files[i]) != fl->spec.kind) {
			dlrt_error("--%s: expected files of one kind, found %s and %s", flag,
			           fl->spec.files[0], fl->spec.files[i]);
			return -1;
		}
	return 0;
}

/* Load the dataset named by a flag, or else the model's own spec.  Returns
 * 0 loaded, 1 no such data, -1 error. */
static int load_data(const dlrt_model *m, const opts *o, const char *flag, const char *list,
                     const dlrt_data_spec *model_spec, dlrt_dataset *ds)
{
	file_list fl;
	int rc;
	if (list) {
		if (make_list(&fl, flag, list)) {
			free(fl.buf);
			return -1;
		}
		rc = dlrt_load_dataset(m, &fl.spec, o->data_dir, ds);
		free(fl.buf);
		return rc;
	}
	if (!model_spec || model_spec->kind == DLRT_DATA_NONE || model_spec->nfiles == 0)
		return 1;
	return dlrt_load_dataset(m, model_spec, o->data_dir ? o->data_dir : m->data_dir, ds);
}

/* ---- model helpers ---- */

static double loss_of(const dlrt_model *m)
{
	return dlrt_get(m->loss, m->dtype, 0);
}

static int64_t param_count(const dlrt_model *m)
{
	int64_t n = 0;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == DLRT_PARAM)
			n += m->tensors[i].numel;
	return n;
}

static void zero_grads(const dlrt_model *m)
{
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role == DLRT_PARAM && t->grad)
			memset(t->grad, 0, (size_t)t->numel * dlrt_dtype_size(t->dtype));
	}
}

static int check_model(const dlrt_model *m)
{
	if (m->batch < 1 || !m->loss || !m->forward || !m->gradients || !m->train_step ||
	    (m->ntensors > 0 && !m->tensors) || (m->dtype != DLRT_F32 && m->dtype != DLRT_F64)) {
		dlrt_error("model %s: incomplete descriptor (batch, loss, entry points or dtype)",
		           m->name ? m->name : "?");
		return -1;
	}
	for (int i = 0; i < m->ntensors; i++)
		if (!m->tensors[i].data) {
			dlrt_error("model %s: tensor '%s' has no buffer", m->name, m->tensors[i].name);
			return -1;
		}
	if (m->nclauses < 0 || m->nclauses > 16 || (m->nclauses && (!m->clauses || m->lr <= 0)))
		goto bad_clauses;
	for (int c = 0; c < m->nclauses; c++)
		if (!m->clauses[c].step || !m->clauses[c].loss || m->clauses[c].every < 1)
			goto bad_clauses;
	return 0;
bad_clauses:
	dlrt_error("model %s: bad step clauses in its descriptor", m->name);
	return -1;
}

/* ---- progress ---- */

typedef struct progress {
	int mode;          /* 0 none, 1 live line rewritten with \r, 2 a line every 10 s */
	double last;
	int width;         /* length of the live line on screen */
} progress;

static void fmt_time(char *buf, size_t size, double s)
{
	long t = s > 0 && s < 1e9 ? (long)(s + 0.5) : 0;
	if (t >= 3600)
		snprintf(buf, size, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
	else
		snprintf(buf, size, "%ld:%02ld", t / 60, t % 60);
}

static void progress_clear(progress *p)
{
	if (p->mode == 1 && p->width > 0) {
		printf("\r%*s\r", p->width, "");
		fflush(stdout);
		p->width = 0;
	}
}

/* ---- evaluation ---- */

static int64_t argmax_row(const void *p, dlrt_dtype t, int64_t off, int64_t k)
{
	int64_t best = 0;
	double bv = dlrt_get(p, t, off);
	for (int64_t j = 1; j < k; j++) {
		double v = dlrt_get(p, t, off + j);
		if (v > bv || (bv != bv && v == v))
			bv = v, best = j;
	}
	return best;
}

/* The output whose argmax is the class and the label it is compared with;
 * 0 when the model has no accuracy. */
static int accuracy_tensors(const dlrt_model *m, const dlrt_tensor **out, const dlrt_tensor **lab)
{
	if (m->accuracy_output < 0 || m->accuracy_output >= m->ntensors || m->accuracy_label < 0 ||
	    m->accuracy_label >= m->ntensors)
		return 0;
	*out = &m->tensors[m->accuracy_output];
	*lab = &m->tensors[m->accuracy_label];
	return 1;
}

/* The classes each row holds: 1, or with a label of L > 1 per row (a class
 * at each position, scores [B, L, C]) L. */
static int64_t acc_positions(const dlrt_tensor *out, const dlrt_tensor *lab)
{
	int64_t L = dlrt_row_elems(lab), k = dlrt_row_elems(out);
	return L > 1 && k > L && k % L == 0 ? L : 1;
}

/* Classes of the current batch (the first n rows, acc_positions each) whose
 * predicted class is right. */
static int64_t count_correct(const dlrt_tensor *out, const dlrt_tensor *lab, int64_t n)
{
	int64_t L = acc_positions(out, lab), k = dlrt_row_elems(out) / L, correct = 0;
	for (int64_t i = 0; i < n * L; i++) {
		double y = dlrt_get(lab->data, lab->dtype, L > 1 ? i : i * dlrt_row_elems(lab));
		if ((double)argmax_row(out->data, out->dtype, i * k, k) == y)
			correct++;
	}
	return correct;
}

typedef struct eval_result {
	int valid, has_acc;
	int64_t chars;        /* text models: the characters predicted (else 0) */
	double loss;          /* mean over the rows */
	int64_t correct, rows;
	int64_t scored;       /* the classes the accuracy is over: rows, or rows x positions */
	int64_t step;         /* the global step it was taken after */
	/* the scalar outputs (accuracy under attack, a loss term): their mean
	 * over the set, each batch weighted by its rows */
	const dlrt_model *model;
	int nscalar;
	int scalar[16];       /* their indices in tensors[] */
	double scalar_mean[16];
} eval_result;

/* count_correct of the model's accuracy output (dist.c's parts) */
static int64_t model_correct(const dlrt_model *m, int64_t n)
{
	const dlrt_tensor *out, *lab;
	return accuracy_tensors(m, &out, &lab) ? count_correct(out, lab, n) : 0;
}

/* The declared outputs that are one number per batch. */
static int scalar_outputs(const dlrt_model *m, int *idx, int max)
{
	int k = 0;
	for (int i = 0; i < m->ntensors && k < max; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role == DLRT_OUTPUT && t->numel == 1 && t->batch_axis < 0 && !t->data_free &&
		    i != m->accuracy_output && t->dtype != DLRT_I32)
			idx[k++] = i;
	}
	return k;
}

static int eval_set(const dlrt_model *m, const dlrt_dataset *ds, eval_result *r)
{
	int64_t B = m->batch;
	int64_t *idx = malloc((size_t)B * sizeof *idx);
	const dlrt_tensor *out = NULL, *lab = NULL;
	double loss_sum = 0;
	memset(r, 0, sizeof *r);
	if (!idx) {
		dlrt_error("out of memory");
		return 1;
	}
	r->has_acc = accuracy_tensors(m, &out, &lab);
	r->model = m;
	r->nscalar = scalar_outputs(m, r->scalar, 16);
	/* carried states run through the set from zero, in its order; the
	 * training run's are put back after */
	void *carried = dlrt_has_carry(m) ? dlrt_carry_save(m) : NULL;
	if (carried)
		dlrt_carry_zero(m);
	/* MPI ranks: batch b on rank b mod size, the sums added up after
	 * (a model with carried states runs through the whole set on each) */
	int ranks = dlrt_dist_now && !carried ? dlrt_dist_now->size : 1, me = ranks > 1 ? dlrt_dist_now->rank : 0;
	for (int64_t start = 0; start < ds->rows; start += B) {
		int64_t n = ds->rows - start < B ? ds->rows - start : B;
		if ((start / B) % ranks != me)
			continue;
		for (int64_t i = 0; i < n; i++)
			idx[i] = start + i;
		dlrt_gather_batch(m, ds, idx, n);
		m->forward(n);
		dlrt_carry_advance(m);
		loss_sum += loss_of(m) * (double)n;
		for (int k = 0; k < r->nscalar; k++)
			r->scalar_mean[k] += dlrt_get(m->tensors[r->scalar[k]].data, m->tensors[r->scalar[k]].dtype, 0) * (double)n;
		if (r->has_acc)
			r->correct += count_correct(out, lab, n);
	}
	if (ranks > 1) {
		double v[18] = {loss_sum, (double)r->correct};
		for (int k = 0; k < r->nscalar; k++)
			v[2 + k] = r->scalar_mean[k];
		if (dlrt_dist_sum(v, 2 + r->nscalar)) {
			free(idx);
			dlrt_carry_restore(m, carried);
			return 1;
		}
		loss_sum = v[0], r->correct = (int64_t)v[1];
		for (int k = 0; k < r->nscalar; k++)
			r->scalar_mean[k] = v[2 + k];
	}
	r->rows = ds->rows;
	r->scored = r->has_acc ? ds->rows * acc_positions(out, lab) : ds->rows;
	r->loss = loss_sum / (double)ds->rows;
	for (int k = 0; k < r->nscalar; k++)
		r->scalar_mean[k] /= (double)ds->rows;
	if (dlrt_text_model(m) && ds->ncols > 0)
		r->chars = ds->rows * ds->cols[0].row_elems;
	r->valid = 1;
	free(idx);
	dlrt_carry_restore(m, carried);
	return 0;
}

/* The validation loss with the digits of the epoch lines and --early-stop's
 * report, so that they can be compared. */
static void print_eval(const eval_result *r, const char *what)
{
	int prec = strcmp(what, "valid") ? 5 : 9;
	char loss[48];
	snprintf(loss, sizeof loss, prec == 5 ? "%.5f" : "%.9g", r->loss);
	/* a character-level model: bits per character and perplexity */
	if (r->chars)
		printf("%s: loss %s, %.4f bits per character, perplexity %.4f (%lld characters)\n", what, loss,
		       r->loss / log(2.0), exp(r->loss), (long long)r->chars);
	else if (r->has_acc && r->scored != r->rows)
		printf("%s: loss %s, accuracy %.2f%% (%lld positions of %lld images)\n", what, loss,
		       100.0 * (double)r->correct / (double)r->scored, (long long)r->scored, (long long)r->rows);
	else if (r->has_acc)
		printf("%s: loss %s, accuracy %.2f%% (%lld images)\n", what, loss,
		       100.0 * (double)r->correct / (double)r->rows, (long long)r->rows);
	else
		printf("%s: loss %s (%lld images)\n", what, loss, (long long)r->rows);
	/* one line for the scalar outputs, their means over the set */
	if (r->nscalar && r->rows > 0 && r->model) {
		printf("%s:", what);
		for (int k = 0; k < r->nscalar; k++)
			printf("%s %s %.6g", k ? "," : "", r->model->tensors[r->scalar[k]].name, r->scalar_mean[k]);
		printf("\n");
	}
	fflush(stdout);
}

static int evaluate(const dlrt_model *m, const dlrt_dataset *ds, const char *what)
{
	eval_result r;
	if (eval_set(m, ds, &r))
		return 1;
	print_eval(&r, what);
	return 0;
}

/* ---- --check-numerics ---- */

/* Index of the first NaN or Inf among count elements, or -1. */
static int64_t first_nonfinite(const void *p, dlrt_dtype t, int64_t count)
{
	if (t == DLRT_F32) {
		const float *x = p;
		for (int64_t i = 0; i < count; i++)
			if (!isfinite(x[i]))
				return i;
	} else if (t == DLRT_F64) {
		const double *x = p;
		for (int64_t i = 0; i < count; i++)
			if (!isfinite(x[i]))
				return i;
	}
	return -1;
}

static void index_str(char *buf, size_t size, const dlrt_tensor *t, int64_t i);

static const char *nonfinite_name(double v)
{
	return isnan(v) ? "nan" : v > 0 ? "inf" : "-inf";
}

/* After a training step: the loss, the outputs (rows of the batch), every
 * gradient, every parameter, every state tensor, in that order.  Says in
 * msg where the first non-finite value is and returns 1, or returns 0. */
static int check_numerics(const dlrt_model *m, int64_t n, int64_t step, int64_t epoch,
                          char *msg, size_t size)
{
	static const struct { dlrt_role role; int grad; } order[] = {
		{DLRT_OUTPUT, 0}, {DLRT_PARAM, 1}, {DLRT_PARAM, 0}, {DLRT_STATE, 0},
	};
	double loss = loss_of(m);
	if (!isfinite(loss)) {
		snprintf(msg, size, "step %lld (epoch %lld): non-finite value in loss (%s); stopping",
		         (long long)step, (long long)epoch, nonfinite_name(loss));
		return 1;
	}
	for (size_t k = 0; k < sizeof order / sizeof order[0]; k++)
		for (int i = 0; i < m->ntensors; i++) {
			const dlrt_tensor *t = &m->tensors[i];
			const void *p = order[k].grad ? t->grad : t->data;
			int64_t count = t->numel, at;
			char ix[192] = "";
			if (t->role != order[k].role || !p || (t->role == DLRT_OUTPUT && (t->data_free || t->eval_only)))
				continue; /* outputs a training step does not compute */
			if (t->role == DLRT_OUTPUT && t->batch_axis == 0 && t->rank > 0 && t->shape[0] > 0)
				count = (n < t->numel / dlrt_row_elems(t) ? n : t->numel / dlrt_row_elems(t)) * dlrt_row_elems(t);
			at = first_nonfinite(p, t->dtype, count);
			if (at < 0)
				continue;
			if (t->rank > 0)
				index_str(ix, sizeof ix, t, at);
			snprintf(msg, size, "step %lld (epoch %lld): non-finite value in %s%s%s (%s); stopping",
			         (long long)step, (long long)epoch, order[k].grad ? "d_" : "", t->name, ix,
			         nonfinite_name(dlrt_get(p, t->dtype, at)));
			return 1;
		}
	return 0;
}

/* ---- training ---- */

/* Where a training run starts and stops, in global steps (counted from the
 * start of the first run, through any resumes). */
typedef struct run_plan {
	int64_t spe;           /* steps per epoch */
	int64_t first_epoch;   /* 0-based epoch this run starts in */
	int64_t offset;        /* steps of that epoch already done */
	int64_t start;         /* global steps done before this run */
	int64_t planned;       /* the global step count at the end of the last epoch */
	int64_t total;         /* the one to stop at: planned, or less with --steps */
	int resumed;
} run_plan;

static void plan_run(run_plan *p, const dlrt_model *m, const opts *o, int64_t rows, int epochs,
                     const dlrt_ckpt_meta *loaded)
{
	memset(p, 0, sizeof *p);
	p->spe = (rows + m->batch - 1) / m->batch;
	p->start = loaded->step > 0 ? loaded->step : 0;
	p->resumed = loaded->step > 0 || loaded->epoch > 0;
	if (p->resumed) {
		p->first_epoch = p->start / p->spe;
		p->offset = p->start % p->spe;
		if (p->first_epoch != loaded->epoch) {
			/* Not this training set's epochs: the checkpoint's epoch count
			 * wins, from the start of the next epoch. */
			fprintf(stderr,
			        "dlrt: warning: %s is at epoch %lld, step %lld, but an epoch here has %lld "
			        "steps (other training data or batch size?); continuing with epoch %lld from "
			        "its start, in another order of examples than an uninterrupted run\n",
			        o->load, (long long)loaded->epoch, (long long)loaded->step,
			        (long long)p->spe, (long long)loaded->epoch + 1);
			p->first_epoch = loaded->epoch > 0 ? loaded->epoch : 0;
			p->offset = 0;
		}
	}
	p->planned = p->start - p->offset + ((int64_t)epochs - p->first_epoch) * p->spe;
	if (p->planned < p->start)
		p->planned = p->start;
	p->total = p->planned;
	if (o->steps >= 0 && o->steps < p->total)
		p->total = o->steps > p->start ? o->steps : p->start;
}

/* One Fisher-Yates pass over the previous order, from the one generator. */
static void shuffle(int64_t *perm, int64_t rows, dlrt_rng *r)
{
	for (int64_t i = rows - 1; i > 0; i--) {
		int64_t j = i < UINT32_MAX ? (int64_t)dlrt_rng_below(r, (uint32_t)(i + 1))
		                           : (int64_t)(((uint64_t)dlrt_rng_u32(r) << 32 |
		                                        dlrt_rng_u32(r)) % (uint64_t)(i + 1));
		int64_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

static int save_ckpt(const dlrt_model *m, const opts *o, int64_t epochs_done, int64_t step,
                     uint64_t seed)
{
	dlrt_ckpt_meta meta = {epochs_done, step, seed};
	return dlrt_save_checkpoint(m, o->save, &meta);
}

/* The run's settings that train() needs beside the flags. */
typedef struct train_args {
	dlrt_dataset *ds;
	const dlrt_dataset *test, *valid; /* NULL when there is none */
	const dlrt_gen_spec *gen;        /* training data drawn anew each epoch; or NULL */
	dlrt_lr_schedule sched;
	int epochs;
	uint64_t seed;
	run_plan plan;
	eval_result last_test;           /* out: the last test evaluation (--log) */
	int64_t end_step;                /* out: the step the parameters are at */
} train_args;

/* --early-stop: the best epoch so far and a copy of the parameters and
 * state it ended with. */
typedef struct best_epoch {
	double loss;
	int64_t epoch, step, bad;   /* bad: epochs since the last improvement */
	void **copy;                /* per tensor; NULL for those not kept */
} best_epoch;

static int keeps(const dlrt_tensor *t)
{
	return t->role == DLRT_PARAM || t->role == DLRT_STATE;
}

static int best_alloc(const dlrt_model *m, best_epoch *b)
{
	memset(b, 0, sizeof *b);
	b->epoch = -1;
	b->copy = calloc((size_t)m->ntensors + 1, sizeof *b->copy);
	if (!b->copy)
		return -1;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (!keeps(t))
			continue;
		b->copy[i] = malloc((size_t)t->numel * dlrt_dtype_size(t->dtype) + 1);
		if (!b->copy[i])
			return -1;
	}
	return 0;
}

static void best_free(const dlrt_model *m, best_epoch *b)
{
	if (b->copy)
		for (int i = 0; i < m->ntensors; i++)
			free(b->copy[i]);
	free(b->copy);
	b->copy = NULL;
}

/* Copy the model's parameters and state into b (to 0) or back (to 1). */
static void best_copy(const dlrt_model *m, best_epoch *b, int to_model)
{
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		size_t bytes = (size_t)t->numel * dlrt_dtype_size(t->dtype);
		if (!b->copy[i])
			continue;
		if (to_model)
			memcpy(t->data, b->copy[i], bytes);
		else
			memcpy(b->copy[i], t->data, bytes);
	}
}

static int train(const dlrt_model *m, const opts *o, train_args *a)
{
	const run_plan *p = &a->plan;
	int64_t B = m->batch, rows = a->ds->rows, spe = p->spe, total = p->total;
	int64_t step = p->start, done = 0, images = 0, saved_at = -1, every = o->log_every;
	int64_t epochs_done = p->first_epoch;   /* complete epochs, for checkpoints */
	int64_t *perm = malloc((size_t)rows * sizeof *perm), ep;
	best_epoch best = {0, -1, 0, 0, NULL};
	eval_result vres;
	int stopped_early = 0;
	double train_time = 0, last_loss = 0, lr = a->sched.lr;
	int rc = 0, epochs = a->epochs, epochs_run = 0, has_acc;
	int second_order = m->optimizer == DLRT_OPT_NEWTON || m->optimizer == DLRT_OPT_NEWTON_CG;
	int split = dlrt_dist_now || o->shards;
	int64_t split_correct = 0;
	/* text: the batches in order, each row continuing the text of the
	 * same row of the batch before */
	int ordered = dlrt_text_model(m) || o->no_shuffle;
	const dlrt_tensor *acc_out = NULL, *acc_lab = NULL;
	dlrt_rng shuf;
	dlrt_log lg = {NULL, NULL};
	dlrt_trace tr = {NULL, NULL, NULL, 0, 0};
	dlrt_profile prof = {NULL, NULL, 0};
	progress pr = {0, 0, 0};
	/* the log's window since its previous row */
	double win_loss = 0, win_t0;
	int64_t win_n = 0;
	if (!perm || (o->early_stop && best_alloc(m, &best))) {
		dlrt_error("out of memory for %lld row indices", (long long)rows);
		free(perm);
		best_free(m, &best);
		return 1;
	}
	has_acc = accuracy_tensors(m, &acc_out, &acc_lab);
	if (o->log && dlrt_log_open(&lg, o->log, p->resumed ? p->start : 0)) {
		free(perm);
		return 1;
	}
	if (o->trace && dlrt_trace_open(&tr, m, o->trace)) {
		dlrt_log_close(&lg);
		free(perm);
		return 1;
	}
	if (o->profile && dlrt_profile_open(&prof, m)) {
		dlrt_trace_close(&tr);
		dlrt_log_close(&lg);
		free(perm);
		return 1;
	}
	if (every <= 0) {
		every = p->planned / 100;
		every = every < 1 ? 1 : every > 50 ? 50 : every;
	}
	for (int64_t i = 0; i < rows; i++)
		perm[i] = i;
	if (dlrt_dist_now)
		dlrt_dist_now->comm_seconds = 0, dlrt_dist_now->comm_calls = 0;
	dlrt_rng_seed(&shuf, a->seed, STREAM_SHUFFLE);
	/* A resumed run: the orders of the epochs already done. */
	for (ep = 0; ep < p->first_epoch && !ordered; ep++)
		shuffle(perm, rows, &shuf);
	int tty = isatty(fileno(stdout));
	double last_epoch_line = dlrt_now();
	if (!o->quiet && o->progress != PROGRESS_NEVER)
		pr.mode = o->progress == PROGRESS_ALWAYS || tty ? 1 : 2;
	win_t0 = dlrt_now();

	for (ep = p->first_epoch; ep < epochs && step < total; ep++) {
		double t0 = dlrt_now(), loss_sum = 0, dt;
		int64_t seen = 0, correct = 0, s = ep == p->first_epoch ? p->offset : 0;
		double closs[16] = {0};   /* step clauses: each one's loss, summed over its rows */
		int64_t cseen[16] = {0};
		pr.last = t0;
		if (!ordered)
			shuffle(perm, rows, &shuf);
		if (a->gen && dlrt_generate(m, a->gen, dlrt_step_key(a->seed, (uint64_t)ep), STREAM_GEN_TRAIN,
		                            a->ds)) {
			rc = 1;
			goto out;
		}
		for (; s < spe && step < total; s++) {
			int64_t start = s * B, n = rows - start < B ? rows - start : B;
			double loss;
			char msg[512];
			if (!split)
				dlrt_gather_batch(m, a->ds, perm + start, n);
			if (s + 1 < spe) /* the next batch's rows, on their way while this one trains */
				dlrt_prefetch_rows(a->ds, perm + start + B, rows - start - B < B ? rows - start - B : B);
			if (m->rng_key)
				*m->rng_key = dlrt_step_key(a->seed, (uint64_t)step);
			dlrt_noise_step(m, step);
			lr = dlrt_schedule_lr(&a->sched, step, ep);
			if (tr.f)
				dlrt_trace_snapshot(&tr, m);
			if (o->grad_numeric) {
				if (dlrt_numeric_step(m, n, lr)) {
					rc = 1;
					goto out;
				}
			} else if (second_order) {
				/* newton, newton_cg: train_step only computes gradients;
				 * the step is solved here from Hessian-vector products. */
				double gnorm;
				if (dlrt_second_order_step(m, n, lr, &gnorm)) {
					progress_clear(&pr);
					dlrt_error("%s step %lld failed", dlrt_optimizer_name(m->optimizer),
					           (long long)step + 1);
					rc = 1;
					goto out;
				}
				if (!o->quiet) {
					progress_clear(&pr);
					printf("step %lld: loss %.10g, gradient norm %.3e\n", (long long)step + 1,
					       loss_of(m), gnorm);
				}
			} else if (m->nclauses) {
				/* a round: each step clause in order, when the round is its turn */
				for (int c = 0; c < m->nclauses; c++) {
					const dlrt_clause *cl = &m->clauses[c];
					if (step % cl->every)
						continue;
					cl->step(n, lr * (cl->lr / m->lr));
					closs[c] += dlrt_get(cl->loss, m->dtype, 0) * (double)n;
					cseen[c] += n;
				}
				dlrt_carry_advance(m);
			} else if (split) {
				/* the step from the parts' gradients: this rank's part, or
				 * every --shards part in turn (dist.c) */
				if (dlrt_split_step(m, a->ds, perm + start, n, lr, dlrt_step_key(a->seed, (uint64_t)step),
				                    (int)o->shards, lg.f && has_acc ? model_correct : NULL, &split_correct)) {
					rc = 1;
					goto out;
				}
			} else {
				if (o->profile)
					dlrt_profile_step(&prof, m, n, lr);
				else
					m->train_step(n, lr);
				dlrt_carry_advance(m);
			}
			if (tr.f && dlrt_trace_row(&tr, step, 1, loss_of(m))) {
				rc = 1;
				goto out;
			}
			step++;
			done++;
			loss = loss_of(m);
			if (o->check_numerics ? check_numerics(m, n, step, ep + 1, msg, sizeof msg)
			                      : !isfinite(loss)) {
				progress_clear(&pr);
				if (o->check_numerics)
					dlrt_error("%s", msg);
				else
					dlrt_error("loss is %s at epoch %lld step %lld; stopping (--check-numerics "
					           "finds the first tensor that goes non-finite)",
					           nonfinite_name(loss), (long long)ep + 1, (long long)s + 1);
				rc = 1;
				goto out;
			}
			loss_sum += loss * (double)n;
			seen += n;
			if (lg.f) {
				if (has_acc)
					correct += split ? split_correct : count_correct(acc_out, acc_lab, n);
				win_loss += loss * (double)n;
				win_n += n;
				if (step % every == 0) {
					double now = dlrt_now();
					dlrt_log_values v = {step, ep + 1, DLRT_LOG_LOSS | DLRT_LOG_LR | DLRT_LOG_IPS,
					                     win_loss / (double)win_n, lr, 0, 0,
					                     now > win_t0 ? (double)win_n / (now - win_t0) : 0};
					if (dlrt_log_row(&lg, &v)) {
						rc = 1;
						goto out;
					}
					win_loss = 0, win_n = 0, win_t0 = dlrt_now();
				}
			}
			if (pr.mode) {
				double now = dlrt_now();
				if (now - pr.last >= (pr.mode == 1 ? 0.1 : 10.0)) {
					char line[160], eta[32];
					double el = train_time + (now - t0);
					int k;
					pr.last = now;
					fmt_time(eta, sizeof eta, el / (double)done * (double)(total - step));
					k = snprintf(line, sizeof line,
					             "epoch %lld/%d  step %lld/%lld  loss %.4f  %.0f img/s  ETA %s",
					             (long long)ep + 1, epochs, (long long)s + 1, (long long)spe,
					             loss_sum / (double)seen, (double)seen / (now - t0), eta);
					if (pr.mode == 1) {
						printf("\r%s%*s", line, pr.width > k ? pr.width - k : 0, "");
						pr.width = k;
					} else {
						printf("%s\n", line);
					}
					fflush(stdout);
				}
			}
		}
		dt = dlrt_now() - t0;
		train_time += dt;
		images += seen;
		epochs_run++;
		last_loss = loss_sum / (double)seen;
		progress_clear(&pr);
		/* Without a terminal, many short epochs print at most one line per
		 * 10 seconds (and the last one). */
		/* The validation set after every complete epoch: its loss is printed
		 * with the epoch and is what --early-stop watches. */
		if (a->valid && s == spe) {
			if (eval_set(m, a->valid, &vres)) {
				rc = 1;
				goto out;
			}
		}
		if (!o->quiet && (tty || epochs <= 20 || ep == p->first_epoch || ep + 1 == epochs ||
		                  step >= total || (a->valid && s == spe) ||
		                  dlrt_now() - last_epoch_line >= 10.0)) {
			printf("epoch %lld/%d: train loss %.5f", (long long)ep + 1, epochs, last_loss);
			for (int c = 0; c < m->nclauses && c < 16; c++)
				printf("%s%s %.5f%s", c ? ", " : " (", m->clauses[c].name,
				       cseen[c] ? closs[c] / (double)cseen[c] : 0.0, c + 1 == m->nclauses ? ")" : "");
			if (a->valid && s == spe) {
				printf(", valid loss %.9g", vres.loss);
				if (vres.chars)
					printf(" (%.4f bits per character, perplexity %.4f)", vres.loss / log(2.0),
					       exp(vres.loss));
				if (vres.has_acc)
					printf(" accuracy %.2f%%", 100.0 * (double)vres.correct / (double)vres.scored);
			}
			printf(", %.0f images/s, %.2f s\n", dt > 0 ? (double)seen / dt : 0.0, dt);
			fflush(stdout);
			last_epoch_line = dlrt_now();
		}
		/* The epoch row (a complete epoch only), then the checkpoint: a crash
		 * between the two leaves a row that a resume from the previous
		 * checkpoint cuts off again. */
		if (lg.f && s == spe) {
			dlrt_log_values v = {step, ep + 1, DLRT_LOG_LOSS | DLRT_LOG_IPS, last_loss, 0, 0, 0,
			                     dt > 0 ? (double)seen / dt : 0};
			if (has_acc) {
				v.have |= DLRT_LOG_TRAIN_ACC;
				v.train_acc = (double)correct / (double)(seen * acc_positions(acc_out, acc_lab));
				if (a->test) {
					if (eval_set(m, a->test, &a->last_test)) {
						rc = 1;
						goto out;
					}
					a->last_test.step = step;
					v.have |= DLRT_LOG_TEST_ACC;
					v.test_acc = (double)a->last_test.correct / (double)a->last_test.scored;
				}
			}
			if (dlrt_log_row(&lg, &v)) {
				rc = 1;
				goto out;
			}
			win_loss = 0, win_n = 0, win_t0 = dlrt_now();
		}
		if (s == spe)
			epochs_done = ep + 1;
		if (o->early_stop && a->valid && s == spe) {
			if (best.epoch < 0 || vres.loss < best.loss) {
				best.loss = vres.loss;
				best.epoch = ep + 1;
				best.step = step;
				best.bad = 0;
				best_copy(m, &best, 0);
			} else if (++best.bad >= o->early_stop) {
				stopped_early = 1;
			}
		}
		if (stopped_early) {
			if (!o->quiet)
				printf("early stop after epoch %lld: the valid loss has not improved for %lld "
				       "epoch%s\n", (long long)ep + 1, (long long)best.bad,
				       best.bad == 1 ? "" : "s");
			break;
		}
		if (o->save) {
			if (save_ckpt(m, o, epochs_done, step, a->seed)) {
				rc = 1;
				goto out;
			}
			saved_at = step;
		}
	}
	if (epochs_run > 0)
		printf("train: %d epoch%s, %lld steps, %lld images in %.2f s, %.0f images/s, final loss %.5f\n",
		       epochs_run, epochs_run == 1 ? "" : "s", (long long)done, (long long)images,
		       train_time, train_time > 0 ? (double)images / train_time : 0.0, last_loss);
	if (o->profile)
		dlrt_profile_print(&prof, m, o->profile_peak, stdout);
	if (dlrt_dist_now && done > 0 && !o->quiet)
		printf("mpi: %d ranks, gradients %s, %.3f ms per step in communication (%.1f%% of the "
		       "training time)\n", dlrt_dist_now->size,
		       dlrt_dist_now->exact ? "gathered and summed in rank order" : "summed by MPI_Allreduce",
		       1e3 * dlrt_dist_now->comm_seconds / (double)done,
		       train_time > 0 ? 100.0 * dlrt_dist_now->comm_seconds / train_time : 0.0);
	/* --early-stop ends with the best epoch's parameters and state; the
	 * checkpoint says that epoch and step, so a run resumed from it goes on
	 * from there. */
	if (o->early_stop && best.epoch >= 0) {
		int restored = best.step != step;
		if (restored) {
			best_copy(m, &best, 1);
			epochs_done = best.epoch;
			step = best.step;
			saved_at = -1;
		}
		if (!o->quiet)
			printf("best epoch %lld: valid loss %.9g%s\n", (long long)best.epoch, best.loss,
			       restored ? "; restored its parameters" : " (the last one)");
	}
	if (o->save && saved_at != step) {
		if (save_ckpt(m, o, epochs_done, step, a->seed)) {
			rc = 1;
			goto out;
		}
	}
	if (o->save && !o->quiet)
		printf("checkpoint: %s\n", o->save);
	if (o->log && !o->quiet)
		printf("log: %s\n", o->log);
	fflush(stdout);
out:
	if (tr.f && rc == 0) {
		/* the point the last step arrived at; its loss where a program
		 * without data can compute it */
		dlrt_trace_snapshot(&tr, m);
		if (dlrt_no_data(m))
			m->forward(1);
		if (dlrt_trace_row(&tr, step, dlrt_no_data(m), loss_of(m)))
			rc = 1;
	}
	if (tr.f && dlrt_trace_close(&tr))
		rc = 1;
	if (dlrt_log_close(&lg))
		rc = 1;
	a->end_step = step;
	dlrt_profile_close(&prof);
	best_free(m, &best);
	free(perm);
	return rc;
}

/* ---- one batch: dumps and gradient checks ---- */

static void random_batch(const dlrt_model *m, uint64_t seed)
{
	dlrt_rng r;
	dlrt_rng_seed(&r, seed, STREAM_BATCH);
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_INPUT && t->role != DLRT_LABEL)
			continue;
		for (int64_t k = 0; k < t->numel; k++) {
			double v;
			if (t->dtype == DLRT_I32)
				v = t->classes > 0
				        ? (double)dlrt_rng_below(&r, (uint32_t)t->classes) : 0.0;
			else if (t->role == DLRT_INPUT)
				v = 2.0 * dlrt_rng_uniform(&r) - 1.0;
			else
				v = dlrt_rng_uniform(&r);
			dlrt_set(t->data, t->dtype, k, v);
		}
	}
}

int dlrt_write_dump(const dlrt_model *m, const char *path, int64_t n, int with_grads, uint64_t seed,
                    int with_data)
{
	dlrt_named *t = calloc((size_t)(3 * m->ntensors + 1), sizeof *t);
	char **names = calloc((size_t)(m->ntensors + 1), sizeof *names);
	char meta[512];
	int k = 0, rc = -1, nn = 0;
	if (!t || !names) {
		dlrt_error("out of memory");
		goto done;
	}
	t[k].name = "loss";
	t[k].dtype = m->dtype;
	t[k].rank = 0;
	t[k].data = m->loss;
	k++;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *s = &m->tensors[i];
		if (s->role != DLRT_OUTPUT)
			continue;
		t[k].name = s->name;
		t[k].dtype = s->dtype;
		t[k].rank = s->rank;
		memcpy(t[k].shape, s->shape, sizeof t[k].shape);
		if (s->batch_axis == 0 && s->rank > 0)
			t[k].shape[0] = n * (s->slots > 1 ? s->slots : 1);
		t[k].data = s->data;
		k++;
	}
	for (int i = 0; with_data && i < m->ntensors; i++) {
		const dlrt_tensor *s = &m->tensors[i];
		if (s->role != DLRT_INPUT && s->role != DLRT_LABEL && s->role != DLRT_PARAM)
			continue;
		t[k].name = s->name;
		t[k].dtype = s->dtype;
		t[k].rank = s->rank;
		memcpy(t[k].shape, s->shape, sizeof t[k].shape);
		if (s->role != DLRT_PARAM && s->batch_axis == 0 && s->rank > 0)
			t[k].shape[0] = n;
		t[k].data = s->data;
		k++;
	}
	for (int i = 0; with_grads && i < m->ntensors; i++) {
		const dlrt_tensor *s = &m->tensors[i];
		if (s->role != DLRT_PARAM || !s->grad)
			continue;
		names[nn] = malloc(strlen(s->name) + 3);
		if (!names[nn]) {
			dlrt_error("out of memory");
			goto done;
		}
		sprintf(names[nn], "d_%s", s->name);
		t[k].name = names[nn++];
		t[k].dtype = s->dtype;
		t[k].rank = s->rank;
		memcpy(t[k].shape, s->shape, sizeof t[k].shape);
		t[k].data = s->grad;
		k++;
	}
	/* Model names are identifiers (.dl file stems): no JSON escaping needed. */
	snprintf(meta, sizeof meta,
	         "{\"format\":\"dlc\",\"model\":\"%.200s\",\"kind\":\"%s\",\"rows\":\"%lld\","
	         "\"seed\":\"%llu\"}", m->name ? m->name : "", with_grads ? "gradients" : "forward",
	         (long long)n, (unsigned long long)seed);
	rc = dlrt_write_safetensors(path, t, k, meta);
done:
	for (int i = 0; i < nn; i++)
		free(names[i]);
	free(names);
	free(t);
	return rc;
}

static void index_str(char *buf, size_t size, const dlrt_tensor *t, int64_t i)
{
	int64_t idx[DLRT_MAX_RANK];
	for (int d = t->rank - 1; d >= 0; d--) {
		idx[d] = t->shape[d] > 0 ? i % t->shape[d] : 0;
		i = t->shape[d] > 0 ? i / t->shape[d] : 0;
	}
	dlrt_shape_str(buf, size, t->rank, idx);
}

/* The loss a param's gradient is of: its step clause's, or the model's. */
static double param_loss(const dlrt_model *m, const dlrt_tensor *t)
{
	if (t->clause > 0 && t->clause <= m->nclauses)
		return dlrt_get(m->clauses[t->clause - 1].loss, m->dtype, 0);
	return loss_of(m);
}

static int gradcheck(const dlrt_model *m, const opts *o, int64_t n)
{
	int f64 = m->dtype == DLRT_F64, nparams = 0, nfailed = 0, rc = 1;
	double eps = f64 ? 1e-6 : 1e-3, atol = f64 ? 1e-6 : 1e-3;
	double rtol = o->have_tol ? o->tol : f64 ? 1e-4 : 5e-2;
	void **ana = calloc((size_t)(m->ntensors + 1), sizeof *ana);
	dlrt_rng r;
	if (!ana) {
		dlrt_error("out of memory");
		return 1;
	}
	if (!f64)
		fprintf(stderr, "dlrt: warning: model %s is f32; a gradient check is only meaningful in "
		        "f64 (compile it with f64); using eps 1e-3 and rtol %g\n", m->name, rtol);
	zero_grads(m);
	m->gradients(n);
	/* Copy the gradients: forward() may reuse their memory. */
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		size_t bytes = (size_t)t->numel * dlrt_dtype_size(t->dtype);
		if (t->role != DLRT_PARAM || !t->grad)
			continue;
		ana[i] = malloc(bytes ? bytes : 1);
		if (!ana[i]) {
			dlrt_error("out of memory");
			goto done;
		}
		memcpy(ana[i], t->grad, bytes);
	}
	dlrt_rng_seed(&r, o->seed, STREAM_GRADCHECK);
	for (int p = 0; p < m->ntensors; p++) {
		const dlrt_tensor *t = &m->tensors[p];
		size_t esz = dlrt_dtype_size(t->dtype);
		int64_t count = t->numel <= 256 ? t->numel : 64, chosen[64], fail_at = -1;
		double max_abs = 0, max_rel = 0, fa = 0, fn = 0;
		if (t->role != DLRT_PARAM || !ana[p])
			continue;
		nparams++;
		for (int64_t c = 0; c < count; c++) {
			int64_t i = c;
			double x, xp, xm, lp, lm, h, num = 0, a, err = 0, scale = 0, rel;
			unsigned char orig[8];
			if (t->numel > 256) {
				int dup;
				do {
					i = (int64_t)(((uint64_t)dlrt_rng_u32(&r) << 32 | dlrt_rng_u32(&r)) %
					              (uint64_t)t->numel);
					dup = 0;
					for (int64_t q = 0; q < c; q++)
						dup |= chosen[q] == i;
				} while (dup);
				chosen[c] = i;
			}
			memcpy(orig, (char *)t->data + (size_t)i * esz, esz);
			x = dlrt_get(t->data, t->dtype, i);
			a = dlrt_get(ana[p], t->dtype, i);
			/* A central difference is wrong where its two points straddle a
			 * kink (ReLU, max pooling), and noisy where the step is small
			 * against the rounding of a large loss (a sum over many
			 * elements); in f64 an element that disagrees is tried again
			 * with a ten times smaller, then a ten times larger step. */
			static const double steps[3] = {1.0, 0.1, 10.0};
			for (int k = 0; k < (f64 ? 3 : 1); k++) {
				h = eps * steps[k] * (fabs(x) > 1 ? fabs(x) : 1);
				dlrt_set(t->data, t->dtype, i, x + h);
				xp = dlrt_get(t->data, t->dtype, i);
				m->gradients(n);
				lp = param_loss(m, t);
				dlrt_set(t->data, t->dtype, i, x - h);
				xm = dlrt_get(t->data, t->dtype, i);
				m->gradients(n);
				lm = param_loss(m, t);
				memcpy((char *)t->data + (size_t)i * esz, orig, esz);
				num = (lp - lm) / (xp - xm);
				err = fabs(a - num);
				scale = fabs(a) > fabs(num) ? fabs(a) : fabs(num);
				if (err <= atol + rtol * scale)
					break;
			}
			rel = scale > 0 ? err / scale : 0;
			if (!(err <= max_abs))
				max_abs = err;
			if (!(rel <= max_rel))
				max_rel = rel;
			if (!(err <= atol + rtol * scale) && fail_at < 0)
				fail_at = i, fa = a, fn = num;
		}
		printf("gradcheck %s: max abs err %.1e, max rel err %.1e (%lld of %lld elements)\n",
		       t->name, max_abs, max_rel, (long long)count, (long long)t->numel);
		fflush(stdout);
		if (fail_at >= 0) {
			char ix[192];
			index_str(ix, sizeof ix, t, fail_at);
			dlrt_error("gradcheck %s%s (element %lld): analytic %.10g, numeric %.10g, "
			           "beyond %g + %g * max(|a|, |n|)", t->name, ix, (long long)fail_at, fa, fn,
			           atol, rtol);
			nfailed++;
		}
	}
	/* Leave the model as gradients() left it at the unperturbed point. */
	m->gradients(n);
	if (nfailed) {
		dlrt_error("gradcheck failed for %d of %d parameters", nfailed, nparams);
	} else {
		printf("gradcheck: passed (%d parameters, %s)\n", nparams, f64 ? "f64" : "f32");
		rc = 0;
	}
done:
	for (int i = 0; i < m->ntensors; i++)
		free(ana[i]);
	free(ana);
	return rc;
}

static int batch_tools(const dlrt_model *m, const opts *o)
{
	int64_t n = m->batch;
	int rc = 0;
	if (o->batch_from) {
		dlrt_dataset ds;
		int64_t *idx;
		if (load_data(m, o, "batch-from", o->batch_from, NULL, &ds) != 0)
			return 1;
		if (ds.rows > m->batch) {
			dlrt_error("%s: expected at most %lld rows (the batch size), found %lld",
			           o->batch_from, (long long)m->batch, (long long)ds.rows);
			dlrt_free_dataset(&ds);
			return 1;
		}
		n = ds.rows;
		idx = malloc((size_t)n * sizeof *idx);
		if (!idx) {
			dlrt_free_dataset(&ds);
			dlrt_error("out of memory");
			return 1;
		}
		for (int64_t i = 0; i < n; i++)
			idx[i] = i;
		dlrt_gather_batch(m, &ds, idx, n);
		free(idx);
		dlrt_free_dataset(&ds);
	} else if (o->dot && !dlrt_no_data(m) && (o->train || m->train_data.nfiles > 0)) {
		/* --dot: the first batch of the training set */
		dlrt_dataset ds;
		int64_t idx[1024];
		if (load_data(m, o, "train", o->train, &m->train_data, &ds) != 0)
			return 1;
		n = ds.rows < m->batch ? ds.rows : m->batch;
		if (n > 1024)
			n = 1024;
		for (int64_t i = 0; i < n; i++)
			idx[i] = i;
		dlrt_gather_batch(m, &ds, idx, n);
		dlrt_free_dataset(&ds);
	} else {
		random_batch(m, o->seed);
	}
	if (m->rng_key)
		*m->rng_key = dlrt_step_key(o->seed, 0);
	dlrt_noise_step(m, 0);
	if (o->dump_forward) {
		m->forward(n);
		if (dlrt_write_dump(m, o->dump_forward, n, 0, o->seed, 0))
			return 1;
		if (!o->quiet)
			printf("forward: loss %.10g (%lld rows) -> %s\n", loss_of(m), (long long)n,
			       o->dump_forward);
	}
	if (o->dump_grads) {
		zero_grads(m);
		m->gradients(n);
		if (dlrt_write_dump(m, o->dump_grads, n, 1, o->seed, 0))
			return 1;
		if (!o->quiet)
			printf("gradients: loss %.10g (%lld rows) -> %s\n", loss_of(m), (long long)n,
			       o->dump_grads);
	}
	if (o->gradcheck)
		rc = gradcheck(m, o, n);
	if (o->hvpcheck && rc == 0)
		rc = dlrt_hvp_check(m, n, o->seed, o->dump_hvp);
	if (o->grad_sweep && rc == 0)
		rc = dlrt_grad_sweep(m, n) ? 1 : 0;
	if (o->dot && rc == 0)
		rc = dlrt_write_dot(m, n, o->dot) ? 1 : 0;
	fflush(stdout);
	return rc;
}

/* ---- the run's datasets ---- */

typedef struct data_sets {
	dlrt_dataset train, test, valid;
	int have_train, have_test, have_valid;
	/* generated sets (NULL: read from files or held out) */
	const dlrt_gen_spec *gen_train, *gen_test, *gen_valid;
} data_sets;

/* One set, from a flag's files or else the model's spec: 0 loaded (or
 * drawn), 1 none, 2 a split of the training set still to take, -1 error. */
static int load_set(const dlrt_model *m, const opts *o, const char *flag, const char *list,
                    const dlrt_data_spec *spec, uint64_t stream, dlrt_dataset *ds,
                    const dlrt_gen_spec **gen)
{
	*gen = NULL;
	if (!list && spec && spec->kind == DLRT_DATA_SPLIT)
		return 2;
	if (!list && spec && spec->kind == DLRT_DATA_GEN) {
		*gen = &spec->gen;
		return dlrt_generate(m, *gen, dlrt_step_key(o->seed, 0), stream, ds) ? -1 : 0;
	}
	return load_data(m, o, flag, list, spec, ds);
}

/* The sets a run needs: for training all of them; for --eval the test and
 * validation sets, and the training set when there is no test set, when
 * a set is a split of it or when it gives the standardisation; for
 * --predict (predict != NULL) only what the standardisation of the inputs
 * needs.  Test rows are held out first, then validation rows. */
static int load_text_sets(const dlrt_model *m, const opts *o, data_sets *S);

static int load_sets(const dlrt_model *m, const opts *o, data_sets *S, dlrt_dataset *predict)
{
	int rt, rv, rtr, std = m->train_data.standardize;
	if (dlrt_text_model(m) && !predict)
		return load_text_sets(m, o, S);
	if (predict) {
		if (!std)
			return 0;
		rt = !o->test && m->test_data.kind == DLRT_DATA_SPLIT ? 2 : 1;
		rv = !o->valid && m->valid_data.kind == DLRT_DATA_SPLIT ? 2 : 1;
	} else {
		rt = load_set(m, o, "test", o->test, &m->test_data, STREAM_GEN_TEST, &S->test, &S->gen_test);
		if (rt < 0)
			return -1;
		rv = load_set(m, o, "valid", o->valid, &m->valid_data, STREAM_GEN_VALID, &S->valid,
		              &S->gen_valid);
		if (rv < 0)
			return -1;
		if (o->eval && rt == 0 && rv != 2 && !std) {
			S->have_test = 1;
			S->have_valid = rv == 0;
			return 0;
		}
	}
	rtr = load_set(m, o, "train", o->train, &m->train_data, STREAM_GEN_TRAIN, &S->train,
	               &S->gen_train);
	if (rtr < 0)
		return -1;
	if (rtr != 0) {
		dlrt_error("model %s has no training data%s; give it with --train FILES", m->name,
		           predict ? " (its inputs are standardised with the statistics of the training "
		                     "set)" : rt == 2 || rv == 2 ? " to hold rows out of" : "");
		return -1;
	}
	if ((rt == 2 || rv == 2) && S->gen_train) {
		dlrt_error("model %s: a split holds out rows of a training set read from files; a "
		           "generator draws new points every epoch (give a generator as the %s set)",
		           m->name, rt == 2 ? "test" : "valid");
		return -1;
	}
	if (rt == 2 && dlrt_split_dataset(&S->train, m->test_data.split, m->test_data.split_seed,
	                                  STREAM_SPLIT_TEST, "test", &S->test))
		return -1;
	if (rv == 2 && dlrt_split_dataset(&S->train, m->valid_data.split, m->valid_data.split_seed,
	                                  STREAM_SPLIT_VALID, "valid", &S->valid))
		return -1;
	if (std) {
		dlrt_dataset *others[3];
		others[0] = rt == 1 ? NULL : &S->test;
		others[1] = rv == 1 ? NULL : &S->valid;
		others[2] = predict;
		if (dlrt_standardize(m, &S->train, others, 3))
			return -1;
	}
	S->have_train = 1;
	S->have_test = rt != 1 && !predict;
	S->have_valid = rv != 1 && !predict;
	return 0;
}

/* A text model's sets (text.c): the training corpus, with the test and
 * validation sets held out of its end (split) or read from a text(...) of
 * their own. */
static int load_text_sets(const dlrt_model *m, const opts *o, data_sets *S)
{
	const dlrt_data_spec *ts = &m->test_data, *vs = &m->valid_data;
	int tsplit = ts->kind == DLRT_DATA_SPLIT, vsplit = vs->kind == DLRT_DATA_SPLIT;
	if (o->train || o->test || o->valid) {
		dlrt_error("model %s reads text(...): its data comes from the train block, not --train, "
		           "--test or --valid", m->name);
		return -1;
	}
	if (dlrt_load_text(m, &m->train_data, tsplit ? ts->split : 0, vsplit ? vs->split : 0, &S->train,
	                   tsplit ? &S->test : NULL, vsplit ? &S->valid : NULL))
		return -1;
	if (ts->kind == DLRT_DATA_TEXT && dlrt_load_text(m, ts, 0, 0, &S->test, NULL, NULL))
		return -1;
	if (vs->kind == DLRT_DATA_TEXT && dlrt_load_text(m, vs, 0, 0, &S->valid, NULL, NULL))
		return -1;
	S->have_train = 1;
	S->have_test = tsplit || ts->kind == DLRT_DATA_TEXT;
	S->have_valid = vsplit || vs->kind == DLRT_DATA_TEXT;
	return 0;
}

/* Generated test and validation sets drawn with the run's seed (which a
 * resumed run takes from its checkpoint). */
static int redraw_sets(const dlrt_model *m, data_sets *S, uint64_t seed)
{
	if (S->gen_test && dlrt_generate(m, S->gen_test, dlrt_step_key(seed, 0), STREAM_GEN_TEST,
	                                 &S->test))
		return -1;
	if (S->gen_valid && dlrt_generate(m, S->gen_valid, dlrt_step_key(seed, 0), STREAM_GEN_VALID,
	                                  &S->valid))
		return -1;
	if (S->gen_train && dlrt_generate(m, S->gen_train, dlrt_step_key(seed, 0), STREAM_GEN_TRAIN,
	                                  &S->train))
		return -1;
	return 0;
}

/* --dump-data: every column of the run's sets, as SET.NAME with the shape
 * [rows, the tensor's example shape] and the element type they are held in. */
static int dump_data(const dlrt_model *m, const data_sets *S, const char *path, int quiet)
{
	dlrt_named t[3 * DLRT_MAX_FILES];
	char names[3 * DLRT_MAX_FILES][128];
	const char *set_names[3] = {"train", "test", "valid"};
	const dlrt_dataset *sets[3] = {S->have_train ? &S->train : NULL, S->have_test ? &S->test : NULL,
	                               S->have_valid ? &S->valid : NULL};
	int k = 0;
	if (dlrt_no_data(m)) {
		dlrt_error("--dump-data: model %s has no inputs or labels", m->name);
		return 1;
	}
	for (int d = 0; d < 3; d++) {
		int col = 0;
		if (!sets[d])
			continue;
		for (int i = 0; i < m->ntensors && col < sets[d]->ncols; i++) {
			const dlrt_tensor *x = &m->tensors[i];
			const dlrt_column *c = &sets[d]->cols[col];
			int64_t per = 1;
			if (x->role != DLRT_INPUT && x->role != DLRT_LABEL)
				continue;
			col++;
			snprintf(names[k], sizeof names[k], "%s.%s", set_names[d], x->name);
			t[k].name = names[k];
			t[k].dtype = c->dtype;
			t[k].data = c->data;
			t[k].shape[0] = sets[d]->rows;
			for (int a = 1; a < x->rank; a++)
				per *= x->shape[a];
			if (x->batch_axis == 0 && per == c->row_elems) {
				t[k].rank = x->rank > 0 ? x->rank : 1;
				for (int a = 1; a < x->rank; a++)
					t[k].shape[a] = x->shape[a];
			} else {
				t[k].rank = 2;
				t[k].shape[1] = c->row_elems;
			}
			k++;
		}
	}
	if (dlrt_write_safetensors(path, t, k, NULL))
		return 1;
	if (!quiet)
		printf("data: %d tensors -> %s\n", k, path);
	return 0;
}

/* ---- --lipschitz ---- */

/* The largest singular value of the rows x cols matrix a (row-major), by
 * power iteration on a^T a from a fixed start, to 1e-10 relative. */
static double spectral_norm(const dlrt_tensor *t, int64_t rows, int64_t cols)
{
	double *v = malloc(sizeof(double) * (size_t)cols), *u = malloc(sizeof(double) * (size_t)rows), sigma = 0;
	if (!u || !v) {
		free(u);
		free(v);
		return NAN;
	}
	for (int64_t j = 0; j < cols; j++)
		v[j] = 1.0 + 0.01 * (double)(j % 7);
	for (int it = 0; it < 1000; it++) {
		double nu = 0, nv = 0;
		for (int64_t i = 0; i < rows; i++) {
			double s = 0;
			for (int64_t j = 0; j < cols; j++)
				s += dlrt_get(t->data, t->dtype, i * cols + j) * v[j];
			u[i] = s;
			nu += s * s;
		}
		nu = sqrt(nu);
		if (nu == 0)
			break;
		for (int64_t j = 0; j < cols; j++) {
			double s = 0;
			for (int64_t i = 0; i < rows; i++)
				s += dlrt_get(t->data, t->dtype, i * cols + j) * u[i] / nu;
			v[j] = s;
			nv += s * s;
		}
		nv = sqrt(nv); /* |a^T u| with |u| = 1: sigma once converged */
		for (int64_t j = 0; j < cols; j++)
			v[j] /= nv;
		if (fabs(nv - sigma) <= 1e-10 * nv) {
			sigma = nv;
			break;
		}
		sigma = nv;
	}
	free(u);
	free(v);
	return sigma;
}

/* Each weight of rank 2 ([in, out], as x @ W) or 4 (a convolution kernel
 * [cout, cin, kh, kw]: sqrt(kh kw) |K as [cout, cin kh kw]|, a bound on the
 * operator norm of the convolution for any stride and padding) with its
 * spectral norm, and their product: the Lipschitz constant of a network
 * that chains these layers with 1-Lipschitz activations (ReLU, tanh,
 * leaky ReLU, max pooling) is at most that.  Then each declared output of
 * one number per example, its largest value over the set. */
static int lipschitz_report(const dlrt_model *m, const dlrt_dataset *ds, const char *what)
{
	double product = 1;
	int n = 0;
	printf("spectral norms (largest singular values) of the weights:\n");
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_PARAM || (t->rank != 2 && t->rank != 4))
			continue;
		int64_t rows = t->shape[0], cols = t->numel / t->shape[0];
		double s = spectral_norm(t, rows, cols), k = t->rank == 4 ? sqrt((double)(t->shape[2] * t->shape[3])) : 1;
		if (t->rank == 4)
			printf("  %-24s %12.6g  (x %g: a %lldx%lld convolution)\n", t->name, s, k, (long long)t->shape[2],
			       (long long)t->shape[3]);
		else
			printf("  %-24s %12.6g\n", t->name, s);
		product *= s * k;
		n++;
	}
	if (!n)
		printf("  (none: the model has no weight of rank 2 or 4)\n");
	else
		printf("layer-wise upper bound (their product): %.6g\n", product);
	int64_t B = m->batch;
	int idx[16], nr = 0, kout = 0;
	for (int i = 0; i < m->ntensors && nr < 16; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_OUTPUT)
			continue;
		int declared = m->declared_outputs <= 0 || kout++ < m->declared_outputs;
		if (declared && t->batch_axis == 0 && t->numel == B && t->dtype != DLRT_I32 && !t->data_free)
			idx[nr++] = i;
	}
	if (!nr) {
		printf("no output of one number per example: declare one to have its largest value over the %s set "
		       "(output grad_norm = sqrt(sum(grad(loss_of(x), x) ^ 2, axis = 1)))\n", what);
		return 0;
	}
	double best[16];
	int64_t at[16];
	for (int k = 0; k < nr; k++)
		best[k] = -INFINITY, at[k] = -1;
	int64_t *rowsel = malloc((size_t)B * sizeof *rowsel);
	if (!rowsel) {
		dlrt_error("out of memory");
		return 1;
	}
	for (int64_t start = 0; start < ds->rows; start += B) {
		int64_t nb = ds->rows - start < B ? ds->rows - start : B;
		for (int64_t r = 0; r < nb; r++)
			rowsel[r] = start + r;
		dlrt_gather_batch(m, ds, rowsel, nb);
		m->forward(nb);
		for (int k = 0; k < nr; k++)
			for (int64_t r = 0; r < nb; r++) {
				double v = dlrt_get(m->tensors[idx[k]].data, m->tensors[idx[k]].dtype, r);
				if (v > best[k] || (v != v && best[k] == best[k]))
					best[k] = v, at[k] = start + r;
			}
	}
	free(rowsel);
	for (int k = 0; k < nr; k++)
		printf("largest %s over the %s set: %.6g (row %lld of %lld)\n", m->tensors[idx[k]].name, what, best[k],
		       (long long)at[k], (long long)ds->rows);
	return 0;
}

/* ---- hyper-parameters: `hyper eps = 0.1` in the program, --set eps=0.05 ---- */

/* The hyper-parameter of a --set NAME=VALUE and its value, or an error that
 * says what NAME is instead. */
static const dlrt_tensor *find_hyper(const dlrt_model *m, const char *arg, double *value)
{
	const char *eq = strchr(arg, '=');
	if (!eq || eq == arg) {
		dlrt_error("--set %s: expected NAME=VALUE", arg);
		return NULL;
	}
	size_t len = (size_t)(eq - arg);
	const dlrt_tensor *found = NULL;
	for (int i = 0; i < m->ntensors && !found; i++)
		if (strlen(m->tensors[i].name) == len && !strncmp(m->tensors[i].name, arg, len))
			found = &m->tensors[i];
	if (found && found->role != DLRT_HYPER) {
		static const char *const what[] = {"param", "input", "label", "output", "state", "direction"};
		dlrt_error("--set %s: '%.*s' is %s %s, not a hyper-parameter (declare one with `hyper NAME = VALUE`)", arg,
		           (int)len, arg, found->role == DLRT_INPUT ? "an" : "a",
		           (unsigned)found->role < 6 ? what[found->role] : "tensor");
		return NULL;
	}
	if (!found) {
		char names[512];
		size_t k = 0;
		names[0] = 0;
		for (int i = 0; i < m->ntensors; i++)
			if (m->tensors[i].role == DLRT_HYPER && k < sizeof names - 64)
				k += (size_t)snprintf(names + k, sizeof names - k, "%s%s", k ? ", " : "", m->tensors[i].name);
		dlrt_error("--set %s: model %s has no hyper-parameter '%.*s'; %s%s", arg, m->name, (int)len, arg,
		           k ? "it has " : "it declares none (`hyper NAME = VALUE`)", names);
		return NULL;
	}
	if (parse_f64(eq + 1, value)) {
		dlrt_error("--set %s: '%s' is not a number", arg, eq + 1);
		return NULL;
	}
	return found;
}

/* Every hyper-parameter at its default, then the --set values. */
static int set_hypers(const dlrt_model *m, const opts *o)
{
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == DLRT_HYPER)
			dlrt_set(m->tensors[i].data, m->tensors[i].dtype, 0, m->tensors[i].init_a);
	for (int k = 0; k < o->nset; k++) {
		double v;
		const dlrt_tensor *t = find_hyper(m, o->set[k], &v);
		if (!t)
			return 1;
		dlrt_set(t->data, t->dtype, 0, v);
		if (!o->quiet)
			printf("%s = %.9g\n", t->name, v);
	}
	return 0;
}

/* ---- main ---- */

/* A model trained in an environment (rl.c): the flags that apply. */
static int rl_main(const dlrt_model *m, const opts *o)
{
	static const struct { int set; const char *flag; } no[] = {
		{0, "--epochs (use --episodes)"}, {0, "--train"}, {0, "--test"}, {0, "--valid"}, {0, "--predict"},
		{0, "--sample"}, {0, "--steps"}, {0, "--lr-schedule"},
		{0, "--eval (use --eval-episodes)"}, {0, "--early-stop"}, {0, "--dump-data"},
		{0, "--trace"}, {0, "--lipschitz"}, {0, "--grad numeric"},
		{0, "--warmup"}, {0, "--check-numerics (a non-finite loss, observation or reward stops the run anyway)"},
		{0, "--noise"},
	};
	int set[] = {o->have_epochs, o->train != NULL, o->test != NULL, o->valid != NULL, o->predict != NULL,
	             o->sample > 0, o->steps >= 0 && !m->steps, o->sched != DLRT_LR_CONSTANT, o->eval != 0,
	             o->early_stop > 0, o->dump_data != NULL, o->trace != NULL, o->lipschitz, o->grad_numeric,
	             o->warmup > 0, o->check_numerics, o->nnoise > 0};
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		if (set[i]) {
			dlrt_error("model %s trains in an environment: %s does not apply", m->name, no[i].flag);
			return 2;
		}
	dlrt_ckpt_meta loaded = {0, 0, 0};
	if (o->load) {
		zero_grads(m);
		if (dlrt_load_checkpoint(m, o->load, &loaded))
			return 1;
		if (!o->quiet)
			printf("loaded %s (episode %lld, update %lld)\n", o->load, (long long)loaded.epoch,
			       (long long)loaded.step);
	} else {
		dlrt_init_params(m, o->seed);
	}
	if (set_hypers(m, o))
		return 2;
	dlrt_rl_opts ro = {
		.seed = o->seed, .episodes = o->episodes, .eval_episodes = o->eval_episodes,
		.lr = o->have_lr ? o->lr : m->lr, .save = o->save, .log = o->log, .dump_grads = o->dump_grads,
		.loaded = o->load != NULL, .log_every = o->log_every, .quiet = o->quiet,
		.value_iteration = o->value_iteration,
		.speed_steps = o->speed, .speed_len = 200,
	};
	if (o->load && o->episodes < 0 && (o->eval_episodes || o->value_iteration))
		ro.episodes = 0; /* --load with an evaluation only evaluates */
	return dlrt_rl_main(m, &ro);
}

int dlrt_main(const dlrt_model *m, int argc, char **argv)
{
	const char *prog = argc > 0 && argv[0] ? argv[0] : (m->name ? m->name : "model");
	dlrt_dataset pred_ds;
	data_sets S;
	int rc = 1, r, epochs;
	uint64_t run_seed;
	int batch_mode;
	dlrt_ckpt_meta loaded = {0, 0, 0};
	train_args ta;
	opts o;

	memset(&pred_ds, 0, sizeof pred_ds);
	memset(&S, 0, sizeof S);
	memset(&ta, 0, sizeof ta);
	if (strrchr(prog, '/'))
		prog = strrchr(prog, '/') + 1;
	if (parse_flags(&o, argc, argv)) {
		usage(stderr, m, prog);
		return 2;
	}
	if (o.help) {
		usage(stdout, m, prog);
		return 0;
	}
	if (check_model(m))
		return 1;
	for (int i = 0; i < o.nnoise; i++)
		if (dlrt_noise_load(m, o.noise[i]))
			return 2;
	for (int i = 0; i < o.nset; i++) {
		double v;
		if (!find_hyper(m, o.set[i], &v))
			return 2;
	}
	{
		int want = o.threads ? (int)o.threads : dlrt_default_threads();
		int cap = m->max_threads > 0 ? m->max_threads : 1;
		if (want > cap) {
			if (o.threads)
				dlrt_error("warning: model %s was compiled for at most %d thread%s; using %d", m->name, cap,
				           cap == 1 ? "" : "s", cap);
			want = cap;
		}
		dlrt_set_threads(want);
	}
	batch_mode = o.batch_from || o.dump_grads || o.dump_forward || o.gradcheck || o.hvpcheck ||
	             o.grad_sweep || o.dot;
	if (o.steps < 0 && m->steps > 0) /* `steps = N` in the train block */
		o.steps = m->steps;
	if (dlrt_dist_now) { /* under mpirun (dlrt_mpi_main): rank 0 writes the files */
		dlrt_dist *d = dlrt_dist_now;
		d->exact = o.exact_reduce;
		if (o.shards) {
			dlrt_error("--shards is for one process; under mpirun the ranks are the parts");
			rc = 2;
			goto done;
		}
		if (d->rank)
			o.save = NULL, o.log = NULL;
		if (d->size > 1 && (o.predict || o.sample || batch_mode || o.dump_data || o.trace || o.grad_numeric ||
		                    o.lipschitz)) {
			dlrt_error("--predict, --sample, --lipschitz, --trace, --grad numeric, --dump-data and the checks of "
			           "one batch run in one process: run them without mpirun");
			rc = 2;
			goto done;
		}
	} else if (o.exact_reduce) {
		dlrt_error("--exact-reduce is for a trainer built with dlc --mpi and run under mpirun (in one process, "
		           "--shards P sums the same parts in the same order)");
		rc = 2;
		goto done;
	}
	if (o.profile_peak > 0 && !o.profile) {
		dlrt_error("--profile-peak goes with --profile");
		rc = 2;
		goto done;
	}
	if (o.profile && (m->nclauses || m->rl || dlrt_dist_now || o.shards || m->optimizer == DLRT_OPT_NEWTON ||
	                  m->optimizer == DLRT_OPT_NEWTON_CG)) {
		dlrt_error("--profile times the kernels of one training step: not for %s",
		           m->nclauses ? "a model with step clauses" : m->rl ? "a model trained in an environment"
		           : dlrt_dist_now ? "MPI ranks" : o.shards ? "--shards" : "Newton's methods");
		rc = 2;
		goto done;
	}
	if ((dlrt_dist_now || o.shards) && !batch_mode && !o.eval && dlrt_split_refusal(m)) {
		dlrt_error("model %s cannot train %s: %s", m->name,
		           dlrt_dist_now ? "data-parallel under MPI" : "with --shards", dlrt_split_refusal(m));
		goto done;
	}
	if (o.grad_numeric && (batch_mode || m->optimizer == DLRT_OPT_NEWTON ||
	                       m->optimizer == DLRT_OPT_NEWTON_CG || dlrt_numeric_check(m))) {
		if (batch_mode || m->optimizer == DLRT_OPT_NEWTON || m->optimizer == DLRT_OPT_NEWTON_CG)
			dlrt_error("--grad numeric is for training with plain sgd steps");
		goto done;
	}
	epochs = o.have_epochs ? o.epochs : m->epochs > 0 ? m->epochs : 1;

	/* a model trained in an environment plays it, but for the checks of
	 * one batch (random or from files), which any model takes */
	if (m->rl && !(o.batch_from || o.gradcheck || o.hvpcheck || o.dump_forward || o.grad_sweep || o.dot)) {
		rc = rl_main(m, &o);
		goto done;
	}
	if (!m->rl && (o.episodes >= 0 || o.eval_episodes || o.value_iteration || o.speed)) {
		dlrt_error("--episodes, --eval-episodes, --value-iteration and --speed are for models trained in an environment "
		           "(env = ... in the train block)");
		rc = 2;
		goto done;
	}

	/* Data first: a bad file should fail before anything slow happens. */
	if (o.predict) {
		file_list fl;
		if (make_list(&fl, "predict", o.predict)) {
			free(fl.buf);
			goto done;
		}
		r = dlrt_load_inputs(m, &fl.spec, o.data_dir, &pred_ds);
		free(fl.buf);
		if (r || load_sets(m, &o, &S, &pred_ds))
			goto done;
	} else if (o.sample) {
		/* no data: the sampled outputs read no input */
	} else if (!batch_mode && dlrt_no_data(m)) {
		/* A program without data: one epoch of `steps` steps, each a run
		 * of the whole program (an empty dataset of that many rows). */
		int64_t steps = o.steps >= 0 ? o.steps : m->steps;
		if (o.have_epochs || o.train || o.test) {
			dlrt_error("model %s has no data: no --epochs, --train or --test; say how many steps to train "
			           "with --steps N", m->name);
			goto done;
		}
		if (steps < 1 && !o.eval) {
			dlrt_error("model %s has no data: say how many steps to train with --steps N (or `steps = N` "
			           "in its train block)", m->name);
			goto done;
		}
		epochs = 1;
		S.train.rows = o.eval ? 1 : steps;
		S.have_train = 1;
	} else if (!batch_mode) {
		if (load_sets(m, &o, &S, NULL))
			goto done;
		if (o.early_stop && !S.have_valid) {
			dlrt_error("--early-stop needs a validation set: valid = split(0.1) (or another "
			           "dataset) in the train block, or --valid FILES");
			goto done;
		}
	}

	if (o.dump_data) {
		rc = dump_data(m, &S, o.dump_data, o.quiet);
		goto done;
	}
	if (o.load) {
		zero_grads(m);
		if (dlrt_load_checkpoint(m, o.load, &loaded))
			goto done;
		if (!o.quiet)
			printf("loaded %s (epoch %lld, step %lld)\n", o.load, (long long)loaded.epoch,
			       (long long)loaded.step);
	} else {
		if (o.predict || o.sample)
			fprintf(stderr, "dlrt: note: no --load: %s with freshly initialised parameters\n",
			        o.predict ? "predicting" : "sampling");
		dlrt_init_params(m, o.seed);
	}
	if (set_hypers(m, &o))
		goto done;
	if (dlrt_dist_check_same(m, o.load ? "loading the checkpoint" : "initialisation"))
		goto done;

	/* The seed of the run: a resumed run's is its checkpoint's, unless
	 * --seed says otherwise. */
	run_seed = (loaded.step > 0 || loaded.epoch > 0) && !o.have_seed ? loaded.seed : o.seed;
	if (run_seed != o.seed && redraw_sets(m, &S, run_seed))
		goto done;
	if (o.predict) {
		rc = dlrt_predict(m, &pred_ds, o.predict_out ? o.predict_out : "predictions.npy");
		goto done;
	}
	if (o.sample && m->nvocab) { /* a character model writes text */
		FILE *f = o.sample_out ? fopen(o.sample_out, "w") : stdout;
		if (!f) {
			dlrt_error("cannot write '%s': %s", o.sample_out, strerror(errno));
			goto done;
		}
		rc = dlrt_write_text(m, o.sample, o.prime, o.temperature > 0 ? o.temperature : 1.0, (int)o.top_k, run_seed, f);
		if (f != stdout && fclose(f) != 0)
			rc = 1;
		goto done;
	}
	if (o.sample && (o.prime || o.temperature > 0 || o.top_k)) {
		dlrt_error("--prime, --temperature and --top-k are for character models (`dim V = vocab(...)`); "
		           "model %s samples outputs", m->name);
		goto done;
	}
	if (o.sample) {
		rc = dlrt_sample(m, o.sample, o.sample_out ? o.sample_out : "samples.npy", run_seed);
		goto done;
	}
	if (batch_mode) {
		rc = batch_tools(m, &o);
		goto done;
	}
	if (o.eval == 2) {
		if (!S.have_valid) {
			dlrt_error("--eval-valid: model %s has no validation set (valid = ... in its train block, or --valid FILES)",
			           m->name);
			goto done;
		}
		rc = evaluate(m, &S.valid, "valid");
		goto done;
	}
	if (o.lipschitz) {
		rc = lipschitz_report(m, S.have_test ? &S.test : &S.train, S.have_test ? "test" : "training");
		goto done;
	}
	if (o.eval) {
		rc = evaluate(m, S.have_test ? &S.test : &S.train, S.have_test ? "test" : "train");
		if (rc == 0 && S.have_valid)
			rc = evaluate(m, &S.valid, "valid");
		goto done;
	}

	/* A resumed run shuffles and draws dropout keys with the seed it was
	 * started with, unless told otherwise. */
	ta.seed = run_seed;
	if (loaded.step > 0 || loaded.epoch > 0) {
		if (o.have_seed && o.seed != loaded.seed)
			fprintf(stderr, "dlrt: note: --seed %llu differs from the seed of %s (%llu): the "
			        "order of examples and dropout masks will differ from an uninterrupted run\n",
			        (unsigned long long)o.seed, o.load, (unsigned long long)loaded.seed);
	}
	/* `steps = N` or --steps N past one epoch, and no epoch count given: as
	 * many epochs as the steps take */
	if (!o.have_epochs && m->epochs <= 0 && o.steps > 0 && S.train.rows > 0) {
		int64_t spe = (S.train.rows + m->batch - 1) / m->batch;
		if (o.steps > spe)
			epochs = (int)((o.steps + spe - 1) / spe);
	}
	plan_run(&ta.plan, m, &o, S.train.rows, epochs, &loaded);
	ta.ds = &S.train;
	ta.test = S.have_test ? &S.test : NULL;
	ta.valid = S.have_valid ? &S.valid : NULL;
	ta.gen = S.gen_train;
	ta.epochs = epochs;
	ta.sched.kind = o.sched;
	ta.sched.lr = o.have_lr ? o.lr : m->lr;
	ta.sched.gamma = o.gamma;
	ta.sched.lr_min = o.lr_min;
	ta.sched.step_size = o.step_size;
	ta.sched.warmup = o.warmup;
	/* The planned epochs, not --steps: a run stopped early by --steps and
	 * resumed follows the curve of one that was not. */
	ta.sched.total_steps = ta.plan.planned;
	if (!o.quiet) {
		if (dlrt_no_data(m))
			printf("%s: %lld parameters, no data", m->name, (long long)param_count(m));
		else
			printf("%s: %lld parameters, %lld training images, batch %lld", m->name, (long long)param_count(m),
			       (long long)S.train.rows, (long long)m->batch);
		if (!m->nclauses) {
			printf(", %s lr %g", dlrt_optimizer_name(m->optimizer), ta.sched.lr);
			if (m->optimizer_constants && *m->optimizer_constants)
				printf(" %s", m->optimizer_constants);
		}
		/* step clauses: each one's optimizer, and how often it runs */
		for (int c = 0; c < m->nclauses; c++) {
			const dlrt_clause *cl = &m->clauses[c];
			printf("%s %s (%s lr %g", c ? ";" : ", steps", cl->name, dlrt_optimizer_name(cl->optimizer),
			       cl->lr * (ta.sched.lr / m->lr));
			if (cl->optimizer_constants && *cl->optimizer_constants)
				printf(" %s", cl->optimizer_constants);
			if (cl->every > 1)
				printf(", every %d rounds", cl->every);
			printf(")");
		}
		printf(", ");
		switch (o.sched) {
		case DLRT_LR_CONSTANT: break;
		case DLRT_LR_STEP:
			if (o.step_size == 1)
				printf("lr x%g every epoch, ", o.gamma);
			else
				printf("lr x%g every %lld epochs, ", o.gamma, (long long)o.step_size);
			break;
		case DLRT_LR_EXP: printf("lr x%g every epoch, ", o.gamma); break;
		case DLRT_LR_COSINE:
			printf("cosine lr to %g over %lld steps, ", o.lr_min, (long long)ta.plan.planned);
			break;
		}
		if (o.warmup > 0)
			printf("warm-up %lld steps, ", (long long)o.warmup);
		if (dlrt_no_data(m))
			printf("%lld steps%s, seed %llu\n", (long long)ta.plan.total,
			       o.grad_numeric ? ", numeric gradients" : "", (unsigned long long)ta.seed);
		else
			printf("%d epoch%s%s, seed %llu\n", epochs, epochs == 1 ? "" : "s",
			       o.grad_numeric ? ", numeric gradients" : "", (unsigned long long)ta.seed);
		if (ta.valid)
		{
			if (o.early_stop)
				printf("validation set: %lld examples; early stop after %lld epochs without "
				       "improvement\n", (long long)ta.valid->rows, (long long)o.early_stop);
			else
				printf("validation set: %lld examples\n", (long long)ta.valid->rows);
		}
		if (ta.plan.resumed && ta.plan.start < ta.plan.total)
			printf("resuming at epoch %lld, step %lld of %lld\n",
			       (long long)(ta.plan.first_epoch + 1), (long long)ta.plan.start + 1,
			       (long long)ta.plan.total);
		else if (ta.plan.resumed)
			printf("nothing to train: %s is at epoch %lld, step %lld, where this run ends "
			       "(--epochs and --steps are totals, counted from the first run)\n", o.load,
			       (long long)loaded.epoch, (long long)loaded.step);
		fflush(stdout);
	}
	rc = train(m, &o, &ta);
	if (rc == 0 && dlrt_no_data(m) && !o.quiet)
		dlrt_print_point(m, ta.plan.total);
	if (rc == 0 && S.have_test) {
		if (ta.last_test.valid && ta.last_test.step == ta.end_step && ta.end_step == ta.plan.total)
			print_eval(&ta.last_test, "test");
		else
			rc = evaluate(m, &S.test, "test");
	}
done:
	dlrt_free_dataset(&S.train);
	dlrt_free_dataset(&S.test);
	dlrt_free_dataset(&S.valid);
	dlrt_free_dataset(&pred_ds);
	dlrt_set_threads(1);
	fflush(stdout);
	return rc;
}
