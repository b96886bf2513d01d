/* trainer.c - dlrt_main: the generic trainer every compiled model runs.
 *
 * It parses the command line, loads the training and test sets, initialises
 * or loads the parameters, then trains: each epoch shuffles the row order
 * (Fisher-Yates, from one RNG seeded once, so epochs differ but runs repeat),
 * walks it in batches of m->batch rows keeping the last partial batch, and
 * calls the model's train_step.  Only that loop (shuffle, gather, step) is
 * timed.  Afterwards it evaluates the test set with forward() in batches.
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

enum { PROGRESS_AUTO, PROGRESS_ALWAYS, PROGRESS_NEVER };

typedef struct opts {
	int epochs, have_epochs;
	double lr;
	int have_lr;
	uint64_t seed;
	int64_t steps;            /* -1: no limit */
	const char *data_dir;
	const char *train, *test, *batch_from;
	const char *save, *load, *dump_grads, *dump_forward;
	int eval, quiet, gradcheck, help, progress;
	double tol;
	int have_tol;
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
	        "Trains model '%s'%s%s%s, then evaluates it on its test set.\n"
	        "\n"
	        "  --epochs N             epochs to train (default %d)\n"
	        "  --lr X                 learning rate (default %g)\n"
	        "  --seed S               seed for initialisation and shuffling (default 1)\n"
	        "  --steps N              stop after N training steps in total\n"
	        "  --data DIR             directory that relative data paths are in%s%s%s\n"
	        "  --train F[,F...]       training data: one file per input/label in order\n"
	        "                         (.npy, or IDX, optionally .gz), or one .csv file\n"
	        "  --test F[,F...]        test data, likewise\n"
	        "  --save PATH            write a safetensors checkpoint after every epoch\n"
	        "  --load PATH            start from a checkpoint instead of the initialisers\n"
	        "  --eval                 only evaluate: the test set, or the training set if\n"
	        "                         there is none\n"
	        "  --quiet                print only the final results\n"
	        "  --progress WHEN        live progress line: auto (default), always, never\n"
	        "  --batch-from F[,F...]  one batch from files (one per input/label, rows <= %lld)\n"
	        "                         for the checks below; random data without it\n"
	        "  --dump-forward PATH    write that batch's loss and outputs (safetensors)\n"
	        "  --dump-grads PATH      write its loss, outputs and gradients d_<param>\n"
	        "  --gradcheck            compare gradients with central differences\n"
	        "  --tol X                relative tolerance of --gradcheck (default 1e-4; f32: 5e-2)\n"
	        "  --help                 show this help\n"
	        "\n"
	        "Flags take their value as '--flag value' or '--flag=value'.\n",
	        prog, m->name ? m->name : "?", m->source ? " (from " : "", m->source ? m->source : "",
	        m->source ? ")" : "", m->epochs > 0 ? m->epochs : 1, m->lr,
	        m->data_dir ? " (default " : "", m->data_dir ? m->data_dir : "",
	        m->data_dir ? ")" : "", (long long)m->batch);
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
	F_EPOCHS, F_LR, F_SEED, F_DATA, F_TRAIN, F_TEST, F_STEPS, F_SAVE, F_LOAD, F_EVAL,
	F_QUIET, F_PROGRESS, F_HELP, F_BATCH_FROM, F_DUMP_GRADS, F_DUMP_FORWARD, F_GRADCHECK,
	F_TOL,
};

static const struct flag {
	const char *name;
	int id, has_value;
} flags[] = {
	{"epochs", F_EPOCHS, 1}, {"lr", F_LR, 1}, {"seed", F_SEED, 1}, {"data", F_DATA, 1},
	{"train", F_TRAIN, 1}, {"test", F_TEST, 1}, {"steps", F_STEPS, 1}, {"save", F_SAVE, 1},
	{"load", F_LOAD, 1}, {"eval", F_EVAL, 0}, {"quiet", F_QUIET, 0},
	{"progress", F_PROGRESS, 1}, {"help", F_HELP, 0}, {"batch-from", F_BATCH_FROM, 1},
	{"dump-grads", F_DUMP_GRADS, 1}, {"dump-forward", F_DUMP_FORWARD, 1},
	{"gradcheck", F_GRADCHECK, 0}, {"tol", F_TOL, 1},
};

static int bad_value(const char *flag, const char *v, const char *want)
{
	dlrt_error("--%s: expected %s, found '%s'", flag, want, v);
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
		o->seed = (uint64_t)k;
		break;
	case F_STEPS:
		if (parse_i64(v, 0, &k))
			return bad_value(f->name, v, "a whole number >= 0");
		o->steps = k;
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
	case F_SAVE: o->save = v; break;
	case F_LOAD: o->load = v; break;
	case F_BATCH_FROM: o->batch_from = v; break;
	case F_DUMP_GRADS: o->dump_grads = v; break;
	case F_DUMP_FORWARD: o->dump_forward = v; break;
	case F_EVAL: o->eval = 1; break;
	case F_QUIET: o->quiet = 1; break;
	case F_HELP: o->help = 1; break;
	case F_GRADCHECK: o->gradcheck = 1; break;
	}
	return 0;
}

static int parse_flags(opts *o, int argc, char **argv)
{
	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->steps = -1;
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
	if (o->batch_from && !o->dump_grads && !o->dump_forward && !o->gradcheck) {
		dlrt_error("--batch-from is for --dump-grads, --dump-forward or --gradcheck");
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
	return 0;
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

static int evaluate(const dlrt_model *m, const dlrt_dataset *ds, const char *what)
{
	int64_t B = m->batch, correct = 0;
	int64_t *idx = malloc((size_t)B * sizeof *idx);
	const dlrt_tensor *out = NULL, *lab = NULL;
	double loss_sum = 0;
	if (!idx) {
		dlrt_error("out of memory");
		return 1;
	}
	if (m->accuracy_output >= 0 && m->accuracy_output < m->ntensors && m->accuracy_label >= 0 &&
	    m->accuracy_label < m->ntensors) {
		out = &m->tensors[m->accuracy_output];
		lab = &m->tensors[m->accuracy_label];
	}
	for (int64_t start = 0; start < ds->rows; start += B) {
		int64_t n = ds->rows - start < B ? ds->rows - start : B;
		for (int64_t i = 0; i < n; i++)
			idx[i] = start + i;
		dlrt_gather_batch(m, ds, idx, n);
		m->forward(n);
		loss_sum += loss_of(m) * (double)n;
		if (out) {
			int64_t k = dlrt_row_elems(out);
			for (int64_t i = 0; i < n; i++) {
				double y = dlrt_get(lab->data, lab->dtype, i * dlrt_row_elems(lab));
				if ((double)argmax_row(out->data, out->dtype, i * k, k) == y)
					correct++;
			}
		}
	}
	if (out)
		printf("%s: loss %.5f, accuracy %.2f%% (%lld images)\n", what,
		       loss_sum / (double)ds->rows, 100.0 * (double)correct / (double)ds->rows,
		       (long long)ds->rows);
	else
		printf("%s: loss %.5f (%lld images)\n", what, loss_sum / (double)ds->rows,
		       (long long)ds->rows);
	fflush(stdout);
	free(idx);
	return 0;
}

/* ---- training ---- */

/* A checkpoint's epoch and step count from the start of the first run:
 * `base` holds those of the checkpoint this run was loaded from. */
static int save_ckpt(const dlrt_model *m, const opts *o, const dlrt_ckpt_meta *base,
                     int64_t epoch, int64_t step)
{
	dlrt_ckpt_meta meta = {base->epoch + epoch, base->step + step, o->seed};
	return dlrt_save_checkpoint(m, o->save, &meta);
}

static int train(const dlrt_model *m, const opts *o, const dlrt_dataset *ds, double lr,
                 int epochs, const dlrt_ckpt_meta *base)
{
	int64_t B = m->batch, rows = ds->rows, spe = (rows + B - 1) / B;
	int64_t planned, done = 0, images = 0, saved_at = -1;
	int64_t *perm = malloc((size_t)rows * sizeof *perm);
	double train_time = 0, last_loss = 0;
	int rc = 0, ep, epochs_run = 0;
	dlrt_rng shuf;
	progress pr = {0, 0, 0};
	if (!perm) {
		dlrt_error("out of memory for %lld row indices", (long long)rows);
		return 1;
	}
	for (int64_t i = 0; i < rows; i++)
		perm[i] = i;
	dlrt_rng_seed(&shuf, o->seed, STREAM_SHUFFLE);
	planned = (int64_t)epochs * spe;
	if (o->steps >= 0 && o->steps < planned)
		planned = o->steps;
	int tty = isatty(fileno(stdout));
	double last_epoch_line = dlrt_now();
	if (!o->quiet && o->progress != PROGRESS_NEVER)
		pr.mode = o->progress == PROGRESS_ALWAYS || tty ? 1 : 2;

	for (ep = 1; ep <= epochs && done < planned; ep++) {
		double t0 = dlrt_now(), loss_sum = 0, dt;
		int64_t seen = 0;
		pr.last = t0;
		/* Fisher-Yates over the previous order, from the one generator. */
		for (int64_t i = rows - 1; i > 0; i--) {
			int64_t j = i < UINT32_MAX ? (int64_t)dlrt_rng_below(&shuf, (uint32_t)(i + 1))
			                           : (int64_t)(((uint64_t)dlrt_rng_u32(&shuf) << 32 |
			                                        dlrt_rng_u32(&shuf)) % (uint64_t)(i + 1));
			int64_t t = perm[i];
			perm[i] = perm[j];
			perm[j] = t;
		}
		for (int64_t s = 0; s < spe && done < planned; s++) {
			int64_t start = s * B, n = rows - start < B ? rows - start : B;
			double loss;
			dlrt_gather_batch(m, ds, perm + start, n);
			if (m->rng_key)
				*m->rng_key = dlrt_step_key(o->seed, (uint64_t)(base->step + done));
			m->train_step(n, lr);
			loss = loss_of(m);
			if (!isfinite(loss)) {
				progress_clear(&pr);
				dlrt_error("loss is %s at epoch %d step %lld; stopping",
				           isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf", ep, (long long)s + 1);
				rc = 1;
				goto out;
			}
			loss_sum += loss * (double)n;
			seen += n;
			done++;
			if (pr.mode) {
				double now = dlrt_now();
				if (now - pr.last >= (pr.mode == 1 ? 0.1 : 10.0)) {
					char line[160], eta[32];
					double el = train_time + (now - t0);
					int k;
					pr.last = now;
					fmt_time(eta, sizeof eta, el / (double)done * (double)(planned - done));
					k = snprintf(line, sizeof line,
					             "epoch %d/%d  step %lld/%lld  loss %.4f  %.0f img/s  ETA %s", ep,
					             epochs, (long long)s + 1, (long long)spe,
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
		if (!o->quiet && (tty || epochs <= 20 || ep == 1 || ep == epochs || done >= planned ||
		                  dlrt_now() - last_epoch_line >= 10.0)) {
			printf("epoch %d/%d: train loss %.5f, %.0f images/s, %.2f s\n", ep, epochs, last_loss,
			       dt > 0 ? (double)seen / dt : 0.0, dt);
			fflush(stdout);
			last_epoch_line = dlrt_now();
		}
		if (o->save) {
			if (save_ckpt(m, o, base, ep, done)) {
				rc = 1;
				goto out;
			}
			saved_at = done;
		}
	}
	if (epochs_run > 0)
		printf("train: %d epoch%s, %lld steps, %lld images in %.2f s, %.0f images/s, final loss %.5f\n",
		       epochs_run, epochs_run == 1 ? "" : "s", (long long)done, (long long)images,
		       train_time, train_time > 0 ? (double)images / train_time : 0.0, last_loss);
	if (o->save && saved_at != done) {
		if (save_ckpt(m, o, base, 0, done)) {
			rc = 1;
			goto out;
		}
	}
	if (o->save && !o->quiet)
		printf("checkpoint: %s\n", o->save);
	fflush(stdout);
out:
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
				v = t->role == DLRT_LABEL && t->classes > 0
				        ? (double)dlrt_rng_below(&r, (uint32_t)t->classes) : 0.0;
			else if (t->role == DLRT_INPUT)
				v = 2.0 * dlrt_rng_uniform(&r) - 1.0;
			else
				v = dlrt_rng_uniform(&r);
			dlrt_set(t->data, t->dtype, k, v);
		}
	}
}

static int write_dump(const dlrt_model *m, const char *path, int64_t n, int with_grads,
                      uint64_t seed)
{
	dlrt_named *t = calloc((size_t)(2 * m->ntensors + 1), sizeof *t);
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
			double x, xp, xm, lp, lm, h, num, a, err, scale, rel;
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
			h = eps * (fabs(x) > 1 ? fabs(x) : 1);
			dlrt_set(t->data, t->dtype, i, x + h);
			xp = dlrt_get(t->data, t->dtype, i);
			m->gradients(n);
			lp = loss_of(m);
			dlrt_set(t->data, t->dtype, i, x - h);
			xm = dlrt_get(t->data, t->dtype, i);
			m->gradients(n);
			lm = loss_of(m);
			memcpy((char *)t->data + (size_t)i * esz, orig, esz);
			num = (lp - lm) / (xp - xm);
			a = dlrt_get(ana[p], t->dtype, i);
			err = fabs(a - num);
			scale = fabs(a) > fabs(num) ? fabs(a) : fabs(num);
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
	} else {
		random_batch(m, o->seed);
	}
	if (m->rng_key)
		*m->rng_key = dlrt_step_key(o->seed, 0);
	if (o->dump_forward) {
		m->forward(n);
		if (write_dump(m, o->dump_forward, n, 0, o->seed))
			return 1;
		if (!o->quiet)
			printf("forward: loss %.10g (%lld rows) -> %s\n", loss_of(m), (long long)n,
			       o->dump_forward);
	}
	if (o->dump_grads) {
		zero_grads(m);
		m->gradients(n);
		if (write_dump(m, o->dump_grads, n, 1, o->seed))
			return 1;
		if (!o->quiet)
			printf("gradients: loss %.10g (%lld rows) -> %s\n", loss_of(m), (long long)n,
			       o->dump_grads);
	}
	if (o->gradcheck)
		rc = gradcheck(m, o, n);
	fflush(stdout);
	return rc;
}

/* ---- main ---- */

int dlrt_main(const dlrt_model *m, int argc, char **argv)
{
	const char *prog = argc > 0 && argv[0] ? argv[0] : (m->name ? m->name : "model");
	dlrt_dataset train_ds, test_ds;
	int have_train = 0, have_test = 0, rc = 1, r, epochs;
	dlrt_ckpt_meta loaded = {0, 0, 0};
	double lr;
	opts o;

	memset(&train_ds, 0, sizeof train_ds);
	memset(&test_ds, 0, sizeof test_ds);
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
	lr = o.have_lr ? o.lr : m->lr;
	epochs = o.have_epochs ? o.epochs : m->epochs > 0 ? m->epochs : 1;

	/* Data first: a bad file should fail before anything slow happens. */
	if (!o.batch_from && !o.dump_grads && !o.dump_forward && !o.gradcheck) {
		r = load_data(m, &o, "test", o.test, &m->test_data, &test_ds);
		if (r < 0)
			goto done;
		have_test = r == 0;
		if (!o.eval || !have_test) {
			r = load_data(m, &o, "train", o.train, &m->train_data, &train_ds);
			if (r < 0)
				goto done;
			have_train = r == 0;
			if (!have_train) {
				dlrt_error("model %s has no %s data; give it with --train FILES", m->name,
				           o.eval ? "test or training" : "training");
				goto done;
			}
		}
	}

	if (o.load) {
		zero_grads(m);
		if (dlrt_load_checkpoint(m, o.load, &loaded))
			goto done;
		if (!o.quiet)
			printf("loaded %s (epoch %lld, step %lld)\n", o.load, (long long)loaded.epoch,
			       (long long)loaded.step);
	} else {
		dlrt_init_params(m, o.seed);
	}

	if (o.batch_from || o.dump_grads || o.dump_forward || o.gradcheck) {
		rc = batch_tools(m, &o);
		goto done;
	}
	if (o.eval) {
		rc = evaluate(m, have_test ? &test_ds : &train_ds, have_test ? "test" : "train");
		goto done;
	}
	if (!o.quiet) {
		printf("%s: %lld parameters, %lld training images, batch %lld, sgd lr %g momentum %g, "
		       "%d epoch%s, seed %llu\n", m->name, (long long)param_count(m),
		       (long long)train_ds.rows, (long long)m->batch, lr, m->momentum, epochs,
		       epochs == 1 ? "" : "s", (unsigned long long)o.seed);
		fflush(stdout);
	}
	rc = train(m, &o, &train_ds, lr, epochs, &loaded);
	if (rc == 0 && have_test)
		rc = evaluate(m, &test_ds, "test");
done:
	dlrt_free_dataset(&train_ds);
	dlrt_free_dataset(&test_ds);
	fflush(stdout);
	return rc;
}
