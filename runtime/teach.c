/* teach.c - the trainer's teaching tools: programs without data, the path
 * of the parameters (--trace), training on finite-difference gradients
 * (--grad numeric), the error of finite differences against the compiled
 * gradient over a sweep of steps h (--grad-sweep), and the graph of one
 * step with its values and gradients (--dot).
 *
 * A model without inputs and labels (a program of params and a loss, such
 * as f = (x + y) z or the Rosenbrock function) has no data: each step runs
 * the whole program (n = 1), and the trainer treats the run as one epoch of
 * `steps` steps.
 *
 * Numeric gradients are central differences of the training-mode loss that
 * gradients() computes (the random key held fixed), one parameter element
 * at a time, with h = eps^(1/3) max(1, |w|) (eps the element type's machine
 * epsilon: the step that balances truncation and rounding error), divided
 * by the difference of the stored perturbed values.  The trainer then takes
 * the plain gradient step w -= lr g itself, so only models compiled with
 * plain SGD (no momentum, weight decay or clipping) train this way. */
#include "dlrt_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int dlrt_no_data(const dlrt_model *m)
{
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == DLRT_INPUT || m->tensors[i].role == DLRT_LABEL)
			return 0;
	return 1;
}

/* ---- --trace ---- */

/* Elements of a parameter the trace records: all of a small one, else the
 * first few. */
#define TRACE_ELEMS 8

static int64_t trace_count(const dlrt_tensor *t)
{
	return t->numel < TRACE_ELEMS ? t->numel : TRACE_ELEMS;
}

int dlrt_trace_open(dlrt_trace *tr, const dlrt_model *m, const char *path)
{
	int64_t cols = 0;
	memset(tr, 0, sizeof *tr);
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == DLRT_PARAM)
			cols += trace_count(&m->tensors[i]);
	tr->snap = malloc((size_t)(cols + 1) * sizeof *tr->snap);
	if (!tr->snap) {
		dlrt_error("out of memory");
		return -1;
	}
	tr->f = fopen(path, "w");
	if (!tr->f) {
		dlrt_error("cannot write '%s'", path);
		free(tr->snap);
		tr->snap = NULL;
		return -1;
	}
	tr->path = path;
	tr->ncols = cols;
	tr->digits = m->dtype == DLRT_F64 ? 17 : 9;
	fprintf(tr->f, "step,loss");
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_PARAM)
			continue;
		if (t->rank == 0)
			fprintf(tr->f, ",%s", t->name);
		else
			for (int64_t k = 0; k < trace_count(t); k++)
				fprintf(tr->f, ",%s[%lld]", t->name, (long long)k);
	}
	fprintf(tr->f, "\n");
	return 0;
}

void dlrt_trace_snapshot(dlrt_trace *tr, const dlrt_model *m)
{
	int64_t c = 0;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_PARAM)
			continue;
		for (int64_t k = 0; k < trace_count(t); k++)
			tr->snap[c++] = dlrt_get(t->data, t->dtype, k);
	}
}

/* Values with the digits of the element type: they read back exactly. */
int dlrt_trace_row(dlrt_trace *tr, int64_t step, int have_loss, double loss)
{
	fprintf(tr->f, "%lld,", (long long)step);
	if (have_loss)
		fprintf(tr->f, "%.*g", tr->digits, loss);
	for (int64_t c = 0; c < tr->ncols; c++)
		fprintf(tr->f, ",%.*g", tr->digits, tr->snap[c]);
	fprintf(tr->f, "\n");
	if (ferror(tr->f)) {
		dlrt_error("cannot write '%s'", tr->path);
		return -1;
	}
	return 0;
}

int dlrt_trace_close(dlrt_trace *tr)
{
	int rc = 0;
	if (tr->f && fclose(tr->f)) {
		dlrt_error("cannot write '%s'", tr->path);
		rc = -1;
	}
	free(tr->snap);
	memset(tr, 0, sizeof *tr);
	return rc;
}

/* After a run of a program without data: the loss where it ended and its
 * parameters (the first few elements of each). */
void dlrt_print_point(const dlrt_model *m, int64_t steps)
{
	m->forward(1);
	printf("after %lld step%s: loss %.10g at", (long long)steps, steps == 1 ? "" : "s",
	       dlrt_get(m->loss, m->dtype, 0));
	for (int i = 0, first = 1; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role != DLRT_PARAM)
			continue;
		printf("%s %s = ", first ? "" : ",", t->name);
		first = 0;
		if (t->rank == 0) {
			printf("%.10g", dlrt_get(t->data, t->dtype, 0));
			continue;
		}
		printf("[");
		for (int64_t k = 0; k < trace_count(t); k++)
			printf("%s%.6g", k ? ", " : "", dlrt_get(t->data, t->dtype, k));
		printf("%s]", t->numel > TRACE_ELEMS ? ", ..." : "");
	}
	printf("\n");
	fflush(stdout);
}

/* ---- --grad numeric ---- */

static double loss_at(const dlrt_model *m, int64_t n)
{
	m->gradients(n);
	return dlrt_get(m->loss, m->dtype, 0);
}

int dlrt_numeric_check(const dlrt_model *m)
{
	if (m->optimizer != DLRT_OPT_SGD || (m->optimizer_constants && *m->optimizer_constants)) {
		dlrt_error("--grad numeric takes plain gradient steps (w -= lr g); model %s is compiled with %s%s%s "
		           "(use optimizer = sgd(lr = ...))", m->name, dlrt_optimizer_name(m->optimizer),
		           m->optimizer_constants && *m->optimizer_constants ? " " : "",
		           m->optimizer_constants ? m->optimizer_constants : "");
		return -1;
	}
	return 0;
}

int dlrt_numeric_step(const dlrt_model *m, int64_t n, double lr)
{
	double eps = m->dtype == DLRT_F64 ? DBL_EPSILON : FLT_EPSILON;
	double rel = cbrt(eps);
	double **g = calloc((size_t)m->ntensors + 1, sizeof *g);
	int rc = -1;
	if (!g) {
		dlrt_error("out of memory");
		return -1;
	}
	for (int p = 0; p < m->ntensors; p++) {
		const dlrt_tensor *t = &m->tensors[p];
		if (t->role != DLRT_PARAM || !t->grad)
			continue;
		g[p] = malloc((size_t)(t->numel + 1) * sizeof **g);
		if (!g[p]) {
			dlrt_error("out of memory");
			goto done;
		}
		for (int64_t i = 0; i < t->numel; i++) {
			double x = dlrt_get(t->data, t->dtype, i), h = rel * (fabs(x) > 1 ? fabs(x) : 1);
			double xp, xm, lp, lm;
			dlrt_set(t->data, t->dtype, i, x + h);
			xp = dlrt_get(t->data, t->dtype, i);
			lp = loss_at(m, n);
			dlrt_set(t->data, t->dtype, i, x - h);
			xm = dlrt_get(t->data, t->dtype, i);
			lm = loss_at(m, n);
			dlrt_set(t->data, t->dtype, i, x);
			g[p][i] = (lp - lm) / (xp - xm);
		}
	}
	/* the loss (and outputs) at the point the step starts from */
	loss_at(m, n);
	for (int p = 0; p < m->ntensors; p++) {
		const dlrt_tensor *t = &m->tensors[p];
		if (!g[p])
			continue;
		for (int64_t i = 0; i < t->numel; i++) {
			dlrt_set(t->grad, t->dtype, i, g[p][i]);
			dlrt_set(t->data, t->dtype, i, dlrt_get(t->data, t->dtype, i) - lr * g[p][i]);
		}
	}
	rc = 0;
done:
	for (int p = 0; p < m->ntensors; p++)
		free(g[p]);
	free(g);
	return rc;
}

/* ---- --grad-sweep ---- */

/* The elements of a parameter the sweep differentiates: all of a small one,
 * else 64 spread evenly over it. */
#define SWEEP_ELEMS 64

int dlrt_grad_sweep(const dlrt_model *m, int64_t n)
{
	int f64 = m->dtype == DLRT_F64, rc = -1;
	double **sym = calloc((size_t)m->ntensors + 1, sizeof *sym), l0, norm = 0;
	if (!sym) {
		dlrt_error("out of memory");
		return -1;
	}
	l0 = loss_at(m, n);
	for (int p = 0; p < m->ntensors; p++) {
		const dlrt_tensor *t = &m->tensors[p];
		if (t->role != DLRT_PARAM || !t->grad)
			continue;
		sym[p] = malloc((size_t)(t->numel + 1) * sizeof **sym);
		if (!sym[p]) {
			dlrt_error("out of memory");
			goto done;
		}
		for (int64_t i = 0; i < t->numel; i++)
			sym[p][i] = dlrt_get(t->grad, t->dtype, i);
	}
	for (int p = 0; p < m->ntensors; p++) {
		const dlrt_tensor *t = &m->tensors[p];
		int64_t count = t->numel < SWEEP_ELEMS ? t->numel : SWEEP_ELEMS;
		for (int64_t c = 0; sym[p] && c < count; c++) {
			int64_t i = c * (t->numel / count);
			norm += sym[p][i] * sym[p][i];
		}
	}
	norm = sqrt(norm);
	printf("# grad-sweep of %s (%s): relative error |g_h - g| / |g| of finite differences with step h\n"
	       "# against the compiled gradient g (norm %.6g, loss %.10g)\n"
	       "h,forward,central\n", m->name, f64 ? "f64" : "f32", norm, l0);
	for (int e = 1; e <= 12; e++) {
		double h = pow(10.0, -e), ef = 0, ec = 0;
		for (int p = 0; p < m->ntensors; p++) {
			const dlrt_tensor *t = &m->tensors[p];
			int64_t count = t->numel < SWEEP_ELEMS ? t->numel : SWEEP_ELEMS;
			for (int64_t c = 0; sym[p] && c < count; c++) {
				int64_t i = c * (t->numel / count);
				double x = dlrt_get(t->data, t->dtype, i), lp, lm, df, dc;
				dlrt_set(t->data, t->dtype, i, x + h);
				lp = loss_at(m, n);
				dlrt_set(t->data, t->dtype, i, x - h);
				lm = loss_at(m, n);
				dlrt_set(t->data, t->dtype, i, x);
				/* in the model's precision, as a program written in it would */
				if (f64) {
					df = (lp - l0) / h;
					dc = (lp - lm) / (2 * h);
				} else {
					df = (double)(((float)lp - (float)l0) / (float)h);
					dc = (double)(((float)lp - (float)lm) / (2.0f * (float)h));
				}
				ef += (df - sym[p][i]) * (df - sym[p][i]);
				ec += (dc - sym[p][i]) * (dc - sym[p][i]);
			}
		}
		printf("%.0e,%.6e,%.6e\n", h, norm > 0 ? sqrt(ef) / norm : sqrt(ef),
		       norm > 0 ? sqrt(ec) / norm : sqrt(ec));
	}
	loss_at(m, n);
	fflush(stdout);
	rc = 0;
done:
	for (int p = 0; p < m->ntensors; p++)
		free(sym[p]);
	free(sym);
	return rc;
}

/* ---- --dot ---- */

/* Elements of a node's value that hold data for a batch of n rows. */
static int64_t valid_elems(const dlrt_model *m, const dlrt_node *d, int64_t n)
{
	int64_t numel = 1;
	for (int k = 0; k < d->rank; k++)
		numel *= d->shape[k];
	if (d->batch_axis == 0 && d->rank > 0 && m->batch > 0)
		numel = numel / m->batch * n;
	return numel;
}

/* A value for a label: up to four elements in full (%.6g: -12, 3, 0.25),
 * else the first three and the norm. */
static void fmt_values(char *buf, size_t size, const void *p, dlrt_dtype t, int64_t count, int rank)
{
	size_t k = 0;
	if (count <= 4) {
		if (rank > 0)
			k += (size_t)snprintf(buf + k, size - k, "[");
		for (int64_t i = 0; i < count && k < size; i++)
			k += (size_t)snprintf(buf + k, size - k, "%s%.6g", i ? ", " : "", dlrt_get(p, t, i));
		if (rank > 0 && k < size)
			snprintf(buf + k, size - k, "]");
		return;
	}
	double norm = 0;
	for (int64_t i = 0; i < count; i++)
		norm += dlrt_get(p, t, i) * dlrt_get(p, t, i);
	snprintf(buf, size, "[%.4g, %.4g, %.4g, ...] norm %.4g", dlrt_get(p, t, 0), dlrt_get(p, t, 1),
	         dlrt_get(p, t, 2), sqrt(norm));
}

static void value_str(char *buf, size_t size, const dlrt_model *m, const dlrt_node *d, int64_t n)
{
	if (!d->value)
		snprintf(buf, size, "%.6g", d->c);
	else
		fmt_values(buf, size, d->value, d->dtype, valid_elems(m, d, n), d->rank);
}

static void grad_str(char *buf, size_t size, const dlrt_model *m, const dlrt_node *d, int64_t n)
{
	if (!d->grad)
		buf[0] = 0;
	else
		fmt_values(buf, size, d->grad, d->dtype, valid_elems(m, d, n), d->rank);
}

static int is_leaf(const dlrt_node *d)
{
	return d->nin == 0;
}

/* The course's pictures write arithmetic as its symbol. */
static const char *op_label(const char *op)
{
	static const char *const sym[][2] = {{"add", "+"}, {"sub", "-"}, {"mul", "*"}, {"div", "/"}};
	for (size_t i = 0; i < sizeof sym / sizeof sym[0]; i++)
		if (!strcmp(op, sym[i][0]))
			return sym[i][1];
	return op;
}

int dlrt_write_dot(const dlrt_model *m, int64_t n, const char *path)
{
	FILE *f;
	char v[160], g[160], sh[96];
	if (m->nnodes == 0 || !m->nodes) {
		dlrt_error("model %s was compiled without value probes; compile it with dlc --probe (dlc run adds it "
		           "when given --dot)", m->name);
		return -1;
	}
	f = fopen(path, "w");
	if (!f) {
		dlrt_error("cannot write '%s'", path);
		return -1;
	}
	if (m->rng_key)
		*m->rng_key = 0;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == DLRT_PARAM && m->tensors[i].grad)
			memset(m->tensors[i].grad, 0, (size_t)m->tensors[i].numel * dlrt_dtype_size(m->tensors[i].dtype));
	m->gradients(n);
	fprintf(f, "digraph %s {\n  rankdir=LR;\n  node [fontname=\"Helvetica\", fontsize=11];\n"
	           "  edge [fontname=\"Helvetica\", fontsize=11];\n"
	           "  labelloc=t;\n  label=<%s: forward values (<font color=\"#1a7f37\">green</font>) and gradients "
	           "of the loss (<font color=\"#c62828\">red</font>), one step>;\n", m->name, m->name);
	for (int i = 0; i < m->nnodes; i++) {
		const dlrt_node *d = &m->nodes[i];
		dlrt_shape_str(sh, sizeof sh, d->rank, d->shape);
		if (is_leaf(d) && !d->value)
			fprintf(f, "  n%d [label=\"%.6g\", shape=plaintext];\n", i, d->c);
		else if (is_leaf(d))
			fprintf(f, "  n%d [label=\"%s%s%s\", shape=box, style=filled, fillcolor=\"%s\"];\n", i,
			        d->name ? d->name : d->op, d->rank ? "\\n" : "", d->rank ? sh : "",
			        !strcmp(d->op, "param") ? "#ffe9b3" : "#d6ecff");
		else
			fprintf(f, "  n%d [label=\"%s%s%s%s%s\", shape=ellipse];\n", i, op_label(d->op), d->name ? "\\n" : "",
			        d->name ? d->name : "", d->rank ? "\\n" : "", d->rank ? sh : "");
	}
	/* each edge carries the value that flows along it and, below it, the
	 * gradient of the loss with respect to that value */
	for (int i = 0; i < m->nnodes; i++) {
		const dlrt_node *d = &m->nodes[i];
		for (int k = 0; k < d->nin; k++) {
			int src = m->node_inputs[d->first_in + k];
			const dlrt_node *s = &m->nodes[src];
			value_str(v, sizeof v, m, s, n);
			grad_str(g, sizeof g, m, s, n);
			fprintf(f, "  n%d -> n%d [label=<<font color=\"#1a7f37\">%s</font>%s%s%s>];\n", src, i, v,
			        g[0] ? "<br/><font color=\"#c62828\">" : "", g, g[0] ? "</font>" : "");
		}
	}
	if (m->nnodes > 0) {
		const dlrt_node *d = &m->nodes[m->nnodes - 1];
		value_str(v, sizeof v, m, d, n);
		grad_str(g, sizeof g, m, d, n);
		fprintf(f, "  loss [label=\"loss\", shape=plaintext];\n");
		fprintf(f, "  n%d -> loss [label=<<font color=\"#1a7f37\">%s</font>%s%s%s>];\n", m->nnodes - 1, v,
		        g[0] ? "<br/><font color=\"#c62828\">" : "", g, g[0] ? "</font>" : "");
	}
	fprintf(f, "}\n");
	if (fclose(f)) {
		dlrt_error("cannot write '%s'", path);
		return -1;
	}
	printf("dot: loss %.10g, %d nodes -> %s\n", dlrt_get(m->loss, m->dtype, 0), m->nnodes, path);
	fflush(stdout);
	return 0;
}
