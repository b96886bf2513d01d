/* profile.c - the trainer's --profile: train_step's kernels called one at a
 * time (dlrt_model.kernels, in train_step's order), each timed, and a table
 * of where a step's time goes: milliseconds per step, share, GFLOP/s and,
 * given the machine's peak (--profile-peak), the share of it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dlrt_internal.h"

int dlrt_profile_open(dlrt_profile *p, const dlrt_model *m)
{
	memset(p, 0, sizeof *p);
	if (!m->kernels || m->nkernels <= 0 || !m->set_lr) {
		dlrt_error("--profile: model %s was compiled without its table of kernels (compile it again with "
		           "this dlc)", m->name);
		return -1;
	}
	p->seconds = calloc((size_t)m->nkernels, sizeof *p->seconds);
	p->flops = calloc((size_t)m->nkernels, sizeof *p->flops);
	if (!p->seconds || !p->flops) {
		dlrt_error("--profile: out of memory for %d kernels", m->nkernels);
		dlrt_profile_close(p);
		return -1;
	}
	return 0;
}

void dlrt_profile_step(dlrt_profile *p, const dlrt_model *m, int64_t n, double lr)
{
	double scale = -1, part = (double)n / (double)(m->batch > 0 ? m->batch : 1);
	double t0 = dlrt_now();
	for (int k = 0; k < m->nkernels; k++) {
		const dlrt_kernel *kn = &m->kernels[k];
		if (kn->lr_scale != scale) {
			scale = kn->lr_scale;
			m->set_lr(lr * scale);
		}
		kn->fn(n);
		double t1 = dlrt_now();
		p->seconds[k] += t1 - t0;
		p->flops[k] += kn->flops * part;
		t0 = t1;
	}
	p->steps++;
}

typedef struct row {
	int k;
	double s;
} row;

static int by_time(const void *a, const void *b)
{
	const row *x = a, *y = b;
	return x->s < y->s ? 1 : x->s > y->s ? -1 : x->k - y->k;
}

void dlrt_profile_print(const dlrt_profile *p, const dlrt_model *m, double peak, FILE *out)
{
	if (!p->steps)
		return;
	double total = 0, flops = 0;
	row *r = malloc((size_t)m->nkernels * sizeof *r);
	if (!r)
		return;
	for (int k = 0; k < m->nkernels; k++) {
		total += p->seconds[k];
		flops += p->flops[k];
		r[k].k = k;
		r[k].s = p->seconds[k];
	}
	qsort(r, (size_t)m->nkernels, sizeof *r, by_time);
	double st = (double)p->steps;
	fprintf(out, "profile: %lld steps, %d kernels, %.3f ms per step, %.2f GFLOP/s", (long long)p->steps,
	        m->nkernels, 1e3 * total / st, total > 0 ? flops / total * 1e-9 : 0.0);
	if (peak > 0)
		fprintf(out, ", %.1f%% of a peak of %.1f GFLOP/s", total > 0 ? 100 * flops / total * 1e-9 / peak : 0.0, peak);
	fprintf(out, "\n%-40s %10s %7s %8s %9s%s\n", "kernel (by time)", "ms/step", "share", "cum.", "GFLOP/s",
	        peak > 0 ? "  of peak" : "");
	double cum = 0, rest = 0;
	int shown = 0, hidden = 0;
	for (int i = 0; i < m->nkernels; i++) {
		int k = r[i].k;
		double s = p->seconds[k], share = total > 0 ? s / total : 0;
		cum += share;
		/* the kernels that make up 99% of the time, at least 10, at most 60 */
		if (shown >= 60 || (shown >= 10 && cum - share > 0.99)) {
			rest += s;
			hidden++;
			continue;
		}
		shown++;
		double gf = s > 0 ? p->flops[k] / s * 1e-9 : 0;
		fprintf(out, "%-40s %10.4f %6.1f%% %7.1f%% ", m->kernels[k].name, 1e3 * s / st, 100 * share, 100 * cum);
		if (p->flops[k] > 0)
			fprintf(out, "%9.2f", gf);
		else
			fprintf(out, "%9s", "-");
		if (peak > 0 && p->flops[k] > 0)
			fprintf(out, "  %6.1f%%", 100 * gf / peak);
		fputc('\n', out);
	}
	if (hidden) {
		char what[48];
		snprintf(what, sizeof what, "(%d more kernels)", hidden);
		fprintf(out, "%-40s %10.4f %6.1f%%\n", what, 1e3 * rest / st, total > 0 ? 100 * rest / total : 0.0);
	}
	free(r);
}

void dlrt_profile_close(dlrt_profile *p)
{
	free(p->seconds);
	free(p->flops);
	p->seconds = p->flops = NULL;
}
