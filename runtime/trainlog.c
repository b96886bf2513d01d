/* trainlog.c - the CSV training log of --log.
 *
 *     step,epoch,loss,lr,train_acc,test_acc,images_per_s
 *
 * Two kinds of rows, told apart by the lr field:
 *   - a step row every K steps (--log-every): the global step count after
 *     the step, the epoch it is in (1-based), the mean training loss of the
 *     examples since the previous row, the lr of the step, training images
 *     per second since the previous row; train_acc and test_acc empty;
 *   - an epoch row at the end of every epoch: the epoch's mean training
 *     loss, its accuracy on the training batches as trained (when the model
 *     has an accuracy output), the test accuracy after the epoch (when it
 *     also has a test set), the epoch's images per second; lr empty.
 * Accuracies are fractions in [0, 1].  Numbers are written in the shortest
 * form that reads back as the same double, so a log compares bit for bit.
 *
 * Each row is flushed as it is written: a run that crashes keeps its log.
 * A resumed run (--load) keeps the rows up to the checkpoint's step and
 * appends after them, so a log that went past the checkpoint before a crash
 * does not repeat steps. */
#include "dlrt_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char header[] = "step,epoch,loss,lr,train_acc,test_acc,images_per_s";

/* The shortest %.*g that reads back as v (at most 17 digits). */
static void fmt_exact(char *buf, size_t size, double v)
{
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, size, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* Rewrite `path` keeping its header and the rows whose step is <= keep,
 * through a temporary file renamed over it.  Returns 1 kept (the file is a
 * log), 0 not a log (or missing), -1 error. */
static int trim_log(const char *path, int64_t keep)
{
	FILE *in = fopen(path, "r"), *out = NULL;
	char *line = NULL, *tmp = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = -1, fd;
	if (!in)
		return 0;
	len = getline(&line, &cap, in);
	if (len < 0 || strncmp(line, header, sizeof header - 1) != 0 ||
	    (line[sizeof header - 1] != '\n' && line[sizeof header - 1] != 0)) {
		free(line);
		fclose(in);
		return 0;
	}
	tmp = malloc(strlen(path) + 16);
	if (!tmp) {
		dlrt_error("%s: out of memory", path);
		goto done;
	}
	sprintf(tmp, "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0 || !(out = fdopen(fd, "w"))) {
		dlrt_error("%s: cannot create a temporary file beside it: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(tmp);
		tmp = NULL;
		goto done;
	}
	fprintf(out, "%s\n", header);
	while ((len = getline(&line, &cap, in)) >= 0) {
		char *end;
		long long step = strtoll(line, &end, 10);
		/* A row cut short by a crash has no newline: it goes. */
		if (end != line && *end == ',' && step <= keep && line[len - 1] == '\n')
			fputs(line, out);
	}
	if (ferror(in) || fclose(out) != 0) {
		out = NULL;
		dlrt_error("%s: cannot rewrite: %s", path, strerror(errno));
		goto done;
	}
	out = NULL;
	if (rename(tmp, path) != 0) {
		dlrt_error("%s: cannot rename %s over it: %s", path, tmp, strerror(errno));
		goto done;
	}
	free(tmp);
	tmp = NULL;
	rc = 1;
done:
	if (out)
		fclose(out);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(line);
	fclose(in);
	return rc;
}

int dlrt_log_open(dlrt_log *lg, const char *path, int64_t resume_step)
{
	int kept = 0;
	lg->path = path;
	lg->f = NULL;
	if (resume_step > 0) {
		kept = trim_log(path, resume_step);
		if (kept < 0)
			return -1;
	}
	lg->f = fopen(path, kept ? "a" : "w");
	if (!lg->f) {
		dlrt_error("%s: cannot %s: %s", path, kept ? "append to" : "create", strerror(errno));
		return -1;
	}
	if (!kept)
		fprintf(lg->f, "%s\n", header);
	if (fflush(lg->f) != 0) {
		dlrt_error("%s: cannot write: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int dlrt_log_row(dlrt_log *lg, const dlrt_log_values *v)
{
	char f[5][40];
	const double vals[5] = {v->loss, v->lr, v->train_acc, v->test_acc, v->images_per_s};
	if (!lg->f)
		return 0;
	for (int i = 0; i < 5; i++) {
		f[i][0] = 0;
		if (v->have & (1u << i))
			fmt_exact(f[i], sizeof f[i], vals[i]);
	}
	/* images/s is a measurement, not a result: one decimal is plenty. */
	if (v->have & DLRT_LOG_IPS)
		snprintf(f[4], sizeof f[4], "%.1f", v->images_per_s);
	fprintf(lg->f, "%lld,%lld,%s,%s,%s,%s,%s\n", (long long)v->step, (long long)v->epoch, f[0],
	        f[1], f[2], f[3], f[4]);
	if (fflush(lg->f) != 0 || ferror(lg->f)) {
		dlrt_error("%s: cannot write: %s", lg->path, strerror(errno));
		return -1;
	}
	return 0;
}

int dlrt_log_close(dlrt_log *lg)
{
	int rc = 0;
	if (lg->f && fclose(lg->f) != 0) {
		dlrt_error("%s: cannot write: %s", lg->path, strerror(errno));
		rc = -1;
	}
	lg->f = NULL;
	return rc;
}
