/* newton.c - second-order training steps from Hessian-vector products.
 *
 * A model compiled with `optimizer = newton(...)` or `newton_cg(...)` has an
 * hvp(n) entry point: it computes the gradients and, for the direction held
 * in the DLRT_DIRECTION tensors, H v (differentiating <gradient, v> again).
 *
 * newton:    builds the exact Hessian one column per parameter element
 *            (H e_i), solves (H + damping I) d = g by Cholesky (adding
 *            damping until the matrix is positive definite), w -= lr d.
 *            For small models: P HVPs and O(P^3) work per step.
 * newton_cg: Hessian-free: conjugate gradient on (H + damping I) d = g with
 *            one HVP per iteration, stopped at cg_iters or when the residual
 *            falls below 1e-10 of |g|; a direction of negative curvature ends
 *            the iteration early (truncated Newton).
 * All arithmetic is in double. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dlrt.h"

typedef struct Flat {
	int np;                 /* parameter tensors with a direction */
	int param[64], dir[64]; /* tensor indices */
	int64_t total;          /* parameter elements */
} Flat;

static double get(const void *p, dlrt_dtype t, int64_t i)
{
	return t == DLRT_F64 ? ((const double *)p)[i] : (double)((const float *)p)[i];
}

static void put(void *p, dlrt_dtype t, int64_t i, double v)
{
	if (t == DLRT_F64)
		((double *)p)[i] = v;
	else
		((float *)p)[i] = (float)v;
}

static int flat_init(const dlrt_model *m, Flat *f)
{
	memset(f, 0, sizeof *f);
	int nd = 0;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].role == DLRT_DIRECTION && nd < 64)
			f->dir[nd++] = i;
	for (int i = 0; i < m->ntensors && f->np < nd; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->role == DLRT_PARAM && t->grad) {
			f->param[f->np++] = i;
			f->total += t->numel;
		}
	}
	if (!m->hvp || nd == 0 || f->np != nd) {
		fprintf(stderr, "dlrt: %s was not compiled for second-order steps (use optimizer = newton(...))\n",
		        m->name);
		return -1;
	}
	return 0;
}

/* gather (which 0: gradients, 1: H v) or scatter the direction */
static void gather(const dlrt_model *m, const Flat *f, int which, double *out)
{
	int64_t k = 0;
	for (int j = 0; j < f->np; j++) {
		const dlrt_tensor *p = &m->tensors[f->param[j]], *d = &m->tensors[f->dir[j]];
		const void *src = which ? d->grad : p->grad;
		for (int64_t i = 0; i < p->numel; i++)
			out[k++] = get(src, p->dtype, i);
	}
}

static void set_dir(const dlrt_model *m, const Flat *f, const double *v)
{
	int64_t k = 0;
	for (int j = 0; j < f->np; j++) {
		const dlrt_tensor *d = &m->tensors[f->dir[j]];
		for (int64_t i = 0; i < d->numel; i++)
			put(d->data, d->dtype, i, v[k++]);
	}
}

static void hv(const dlrt_model *m, const Flat *f, int64_t n, const double *v, double *out)
{
	set_dir(m, f, v);
	m->hvp(n);
	gather(m, f, 1, out);
}

/* In-place Cholesky of the P x P matrix a (lower); 0 if positive definite. */
static int cholesky(double *a, int64_t P)
{
	for (int64_t j = 0; j < P; j++) {
		double s = a[j * P + j];
		for (int64_t k = 0; k < j; k++)
			s -= a[j * P + k] * a[j * P + k];
		if (!(s > 0))
			return -1;
		double d = sqrt(s);
		a[j * P + j] = d;
		for (int64_t i = j + 1; i < P; i++) {
			double t = a[i * P + j];
			for (int64_t k = 0; k < j; k++)
				t -= a[i * P + k] * a[j * P + k];
			a[i * P + j] = t / d;
		}
	}
	return 0;
}

int dlrt_hessian(const dlrt_model *m, int64_t n, double **H, int64_t *P)
{
	Flat f;
	if (flat_init(m, &f))
		return -1;
	int64_t p = f.total;
	if (p > 4096) {
		fprintf(stderr, "dlrt: %s has %lld parameters; the exact Hessian is for models of at most 4096 (use "
		        "newton_cg)\n", m->name, (long long)p);
		return -1;
	}
	double *h = malloc(sizeof(double) * (size_t)(p * p)), *e = calloc((size_t)p, sizeof(double)),
	       *col = malloc(sizeof(double) * (size_t)p);
	if (!h || !e || !col) {
		free(h);
		free(e);
		free(col);
		fprintf(stderr, "dlrt: out of memory for a %lld x %lld Hessian\n", (long long)p, (long long)p);
		return -1;
	}
	for (int64_t i = 0; i < p; i++) {
		e[i] = 1;
		hv(m, &f, n, e, col);
		e[i] = 0;
		for (int64_t k = 0; k < p; k++)
			h[k * p + i] = col[k];
	}
	/* symmetrize away rounding */
	for (int64_t i = 0; i < p; i++)
		for (int64_t k = 0; k < i; k++)
			h[i * p + k] = h[k * p + i] = 0.5 * (h[i * p + k] + h[k * p + i]);
	free(e);
	free(col);
	*H = h;
	*P = p;
	return 0;
}

static void apply_step(const dlrt_model *m, const Flat *f, const double *d, double lr)
{
	int64_t k = 0;
	for (int j = 0; j < f->np; j++) {
		const dlrt_tensor *p = &m->tensors[f->param[j]];
		for (int64_t i = 0; i < p->numel; i++, k++)
			put(p->data, p->dtype, i, get(p->data, p->dtype, i) - lr * d[k]);
	}
}

int dlrt_second_order_step(const dlrt_model *m, int64_t n, double lr, double *gnorm)
{
	Flat f;
	if (flat_init(m, &f))
		return -1;
	int64_t P = f.total;
	double *g = malloc(sizeof(double) * (size_t)P), *d = calloc((size_t)P, sizeof(double));
	if (!g || !d) {
		free(g);
		free(d);
		return -1;
	}
	m->gradients(n);
	gather(m, &f, 0, g);
	double gg = 0;
	for (int64_t i = 0; i < P; i++)
		gg += g[i] * g[i];
	*gnorm = sqrt(gg);
	int rc = 0;
	if (m->optimizer == DLRT_OPT_NEWTON) {
		double *H;
		int64_t p;
		if (dlrt_hessian(m, n, &H, &p)) {
			rc = -1;
			goto out;
		}
		double *a = malloc(sizeof(double) * (size_t)(P * P));
		double damp = m->damping;
		for (int tries = 0;; tries++) {
			memcpy(a, H, sizeof(double) * (size_t)(P * P));
			for (int64_t i = 0; i < P; i++)
				a[i * P + i] += damp;
			if (cholesky(a, P) == 0)
				break;
			if (tries == 60) {
				fprintf(stderr, "dlrt: newton: the Hessian stays indefinite with damping %g\n", damp);
				free(a);
				free(H);
				rc = -1;
				goto out;
			}
			damp = damp > 0 ? damp * 10 : 1e-8;
		}
		/* solve L L^T d = g */
		for (int64_t i = 0; i < P; i++) {
			double s = g[i];
			for (int64_t k = 0; k < i; k++)
				s -= a[i * P + k] * d[k];
			d[i] = s / a[i * P + i];
		}
		for (int64_t i = P; i-- > 0;) {
			double s = d[i];
			for (int64_t k = i + 1; k < P; k++)
				s -= a[k * P + i] * d[k];
			d[i] = s / a[i * P + i];
		}
		free(a);
		free(H);
	} else {
		/* conjugate gradient on (H + damping I) d = g */
		double *r = malloc(sizeof(double) * (size_t)P), *p = malloc(sizeof(double) * (size_t)P),
		       *q = malloc(sizeof(double) * (size_t)P);
		memcpy(r, g, sizeof(double) * (size_t)P);
		memcpy(p, g, sizeof(double) * (size_t)P);
		double rr = gg;
		int iters = m->cg_iters > 0 ? m->cg_iters : 50;
		for (int it = 0; it < iters && rr > 1e-20 * gg; it++) {
			hv(m, &f, n, p, q);
			double pq = 0;
			for (int64_t i = 0; i < P; i++) {
				q[i] += m->damping * p[i];
				pq += p[i] * q[i];
			}
			if (!(pq > 0)) {
				if (it == 0)
					memcpy(d, g, sizeof(double) * (size_t)P); /* fall back to the gradient */
				break;
			}
			double alpha = rr / pq, rr2 = 0;
			for (int64_t i = 0; i < P; i++) {
				d[i] += alpha * p[i];
				r[i] -= alpha * q[i];
				rr2 += r[i] * r[i];
			}
			for (int64_t i = 0; i < P; i++)
				p[i] = r[i] + rr2 / rr * p[i];
			rr = rr2;
		}
		free(r);
		free(p);
		free(q);
	}
	apply_step(m, &f, d, lr);
out:
	free(g);
	free(d);
	return rc;
}

/* --dump-hvp: the direction as v_<param> and the product as hv_<param>, in the
 * model's type, for a comparison with another framework's H v. */
static int write_hvp(const dlrt_model *m, const Flat *f, const double *v, const double *a, const char *path)
{
	dlrt_named t[128] = {{0}};
	char names[128][80];
	void *bufs[128] = {0};
	int k = 0, rc = -1;
	int64_t off = 0;
	size_t esz = m->dtype == DLRT_F64 ? sizeof(double) : sizeof(float);
	for (int j = 0; j < f->np; j++) {
		const dlrt_tensor *p = &m->tensors[f->param[j]];
		for (int which = 0; which < 2; which++, k++) {
			const double *src = which ? a : v;
			snprintf(names[k], sizeof names[k], "%s_%.70s", which ? "hv" : "v", p->name);
			bufs[k] = malloc(esz * (size_t)(p->numel ? p->numel : 1));
			if (!bufs[k]) {
				fprintf(stderr, "dlrt: out of memory\n");
				goto done;
			}
			for (int64_t i = 0; i < p->numel; i++)
				put(bufs[k], m->dtype, i, src[off + i]);
			t[k].name = names[k];
			t[k].dtype = m->dtype;
			t[k].rank = p->rank;
			memcpy(t[k].shape, p->shape, sizeof t[k].shape);
			t[k].data = bufs[k];
		}
		off += p->numel;
	}
	rc = dlrt_write_safetensors(path, t, k, "{\"format\":\"dlc\",\"kind\":\"hvp\"}");
done:
	for (int i = 0; i < k; i++)
		free(bufs[i]);
	return rc;
}

int dlrt_hvp_check(const dlrt_model *m, int64_t n, uint64_t seed, const char *dump)
{
	Flat f;
	if (flat_init(m, &f))
		return 1;
	int64_t P = f.total;
	double *v = malloc(sizeof(double) * (size_t)P), *a = malloc(sizeof(double) * (size_t)P),
	       *gp = malloc(sizeof(double) * (size_t)P), *gm = malloc(sizeof(double) * (size_t)P);
	double *save = malloc(sizeof(double) * (size_t)P), *step = calloc((size_t)P + 1, sizeof(double));
	dlrt_rng r;
	int rc = 1;
	if (!v || !a || !gp || !gm || !save || !step) {
		fprintf(stderr, "dlrt: out of memory\n");
		goto out;
	}
	dlrt_rng_seed(&r, seed, 77);
	for (int64_t i = 0; i < P; i++)
		v[i] = dlrt_rng_normal(&r);
	hv(m, &f, n, v, a);
	if (dump && write_hvp(m, &f, v, a, dump))
		goto out;
	int64_t k = 0;
	for (int j = 0; j < f.np; j++) {
		const dlrt_tensor *p = &m->tensors[f.param[j]];
		for (int64_t i = 0; i < p->numel; i++)
			save[k++] = get(p->data, p->dtype, i);
	}
	double eps = m->dtype == DLRT_F64 ? 1e-5 : 1e-2;
	for (int64_t i = 0; i < P; i++)
		step[i] = -eps * v[i];
	apply_step(m, &f, step, 1); /* w + eps v */
	m->gradients(n);
	gather(m, &f, 0, gp);
	for (int64_t i = 0; i < P; i++)
		step[i] = 2 * eps * v[i];
	apply_step(m, &f, step, 1); /* w - eps v */
	m->gradients(n);
	gather(m, &f, 0, gm);
	k = 0;
	for (int j = 0; j < f.np; j++) {
		const dlrt_tensor *p = &m->tensors[f.param[j]];
		for (int64_t i = 0; i < p->numel; i++)
			put(p->data, p->dtype, i, save[k++]);
	}
	double worst = 0, scale = 0, gscale = 0;
	for (int64_t i = 0; i < P; i++) {
		double num = (gp[i] - gm[i]) / (2 * eps);
		double err = fabs(num - a[i]);
		if (err > worst)
			worst = err;
		if (fabs(a[i]) > scale)
			scale = fabs(a[i]);
		if (fabs(gp[i]) > gscale)
			gscale = fabs(gp[i]);
		if (fabs(gm[i]) > gscale)
			gscale = fabs(gm[i]);
	}
	/* The difference quotient carries the rounding of the gradients it
	 * subtracts, about ulp(|g|) / eps: where the curvature is far below the
	 * slope (a saturated sigmoid), that floor, not the tolerance relative
	 * to |Hv|, bounds what the check can see. */
	double ulp = m->dtype == DLRT_F64 ? 2.220446049250313e-16 : 1.1920929e-7;
	double noise = 64 * ulp * gscale / eps;
	double rel = scale > 0 ? worst / scale : worst;
	double tol = m->dtype == DLRT_F64 ? 1e-6 : 1e-2;
	printf("hvpcheck: %lld parameters, max |Hv - finite differences of the gradient| %.3g (%.3g relative; "
	       "max |Hv| %.3g, rounding floor %.3g)\n", (long long)P, worst, rel, scale, noise);
	rc = worst <= tol * scale + noise ? 0 : 1;
	if (rc)
		fprintf(stderr, "dlrt: hvpcheck failed: error %.3g > %g x max |Hv| + rounding floor %.3g\n", worst, tol,
		        noise);
out:
	free(v);
	free(a);
	free(gp);
	free(gm);
	free(save);
	free(step);
	return rc;
}
