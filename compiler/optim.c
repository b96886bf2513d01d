/* optim.c - optimizer updates built from ordinary graph nodes.
 *
 * The rules are torch.optim's (PyTorch 1.13), written with graph ops so the
 * emitter fuses each parameter's update into one or two loops:
 *
 *   sgd      g += wd p;  b = mu b + (1 - dampening) g (b = g on the first step);
 *            g = nesterov ? g + mu b : b;  p -= lr g
 *   adam     g += wd p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *            p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *            amsgrad: vmax = max(vmax, v), and sqrt(vmax) in place of sqrt(v)
 *   adamw    p *= 1 - lr wd, then adam without the L2 term
 *   rmsprop  g += wd p;  v = a v + (1-a) g^2;  d = g / (sqrt(v) + eps);
 *            b = mu b + d (if mu > 0);  p -= lr (mu > 0 ? b : d)
 *   adagrad  g += wd p;  s += g^2;  p -= lr g / (sqrt(s) + eps)
 *
 * t, the step count, is a state tensor incremented by each step.  Gradient
 * clipping comes first: by value, every element clamped to [-V, V] like
 * clip_grad_value_; then by global norm, every gradient scaled by
 * min(1, max_norm / (norm + 1e-6)) like clip_grad_norm_ (with both, the
 * norm is that of the clamped gradients). */
#include <math.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include "optim.h"
#include "../runtime/dlrt.h"

void optim_defaults(OptimSpec *o, OptKind kind)
{
	memset(o, 0, sizeof *o);
	o->kind = kind;
	switch (kind) {
	case OPT_SGD: o->lr = 0.01; break;
	case OPT_ADAM: o->lr = 0.001; o->beta1 = 0.9; o->beta2 = 0.999; o->eps = 1e-8; break;
	case OPT_ADAMW: o->lr = 0.001; o->beta1 = 0.9; o->beta2 = 0.999; o->eps = 1e-8; o->weight_decay = 0.01; break;
	case OPT_RMSPROP: o->lr = 0.01; o->beta2 = 0.99; o->eps = 1e-8; break;
	case OPT_ADAGRAD: o->lr = 0.01; o->eps = 1e-10; break;
	case OPT_NEWTON: o->lr = 1; o->damping = 1e-6; break;
	case OPT_NEWTON_CG: o->lr = 1; o->damping = 1e-6; o->cg_iters = 50; break;
	}
}

const char *optim_name(OptKind k)
{
	static const char *const names[] = {"sgd", "adam", "adamw", "rmsprop", "adagrad", "newton", "newton_cg"};
	return names[k];
}

/* s, a space if s is not empty, and the formatted text */
static const char *more(Arena *a, const char *s, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	return arena_printf(a, "%s%s%s", s, *s ? " " : "", buf);
}

const char *optim_constants(Arena *a, const OptimSpec *o)
{
	const char *s = "";
	switch (o->kind) {
	case OPT_SGD:
		if (o->momentum != 0)
			s = more(a, s, "momentum %g", o->momentum);
		if (o->dampening != 0)
			s = more(a, s, "dampening %g", o->dampening);
		if (o->nesterov)
			s = more(a, s, "nesterov");
		break;
	case OPT_ADAM: case OPT_ADAMW:
		s = more(a, s, "betas %g %g eps %g", o->beta1, o->beta2, o->eps);
		if (o->amsgrad)
			s = more(a, s, "amsgrad");
		break;
	case OPT_RMSPROP:
		s = more(a, s, "alpha %g eps %g", o->beta2, o->eps);
		if (o->momentum != 0)
			s = more(a, s, "momentum %g", o->momentum);
		break;
	case OPT_ADAGRAD:
		s = more(a, s, "eps %g", o->eps);
		if (o->initial_accumulator != 0)
			s = more(a, s, "initial_accumulator %g", o->initial_accumulator);
		break;
	case OPT_NEWTON: case OPT_NEWTON_CG:
		return s; /* damping and cg_iters are runtime values of their own */
	}
	if (o->weight_decay != 0)
		s = more(a, s, "weight_decay %g", o->weight_decay);
	for (int i = 0; i < o->nno_decay; i++)
		s = more(a, s, "%s%s", i ? "" : "no_decay ", o->no_decay[i]);
	if (o->clip_value > 0)
		s = more(a, s, "clip_value %g", o->clip_value);
	if (o->clip_norm > 0)
		s = more(a, s, "clip_norm %g", o->clip_norm);
	return s;
}

static NodeId C(Graph *g, double v) { return graph_const(g, v); }
static NodeId add(Graph *g, NodeId a, NodeId b) { return graph_binary(g, OP_ADD, a, b); }
static NodeId sub(Graph *g, NodeId a, NodeId b) { return graph_binary(g, OP_SUB, a, b); }
static NodeId mul(Graph *g, NodeId a, NodeId b) { return graph_binary(g, OP_MUL, a, b); }
static NodeId dv(Graph *g, NodeId a, NodeId b) { return graph_binary(g, OP_DIV, a, b); }

/* a state tensor's name: NAME, or PREFIX.NAME for a step clause's */
static const char *state_name(Graph *g, const char *prefix, const char *name)
{
	return prefix ? arena_printf(g->arena, "%s.%s", prefix, name) : name;
}

static NodeId state(Graph *g, const char *clause, const char *prefix, int param, Shape s, int init)
{
	Tensor T = g->tensors[param];
	int t = graph_add_tensor(g, state_name(g, clause, arena_printf(g->arena, "%s_%s", prefix, T.name)), ROLE_STATE,
	                         T.dtype, s, -1, T.loc);
	g->tensors[t].of_param = param;
	g->tensors[t].init = init;
	return g->tensors[t].node;
}

void optim_build(Graph *g, const OptimSpec *o, const NodeId *grads, int ngrads, const char *clause,
                 NodeId **updates, int *nupdates)
{
	int nt = ngrads;
	NodeId *up = arena_alloc(g->arena, sizeof(NodeId) * (size_t)(4 * nt + 2));
	int k = 0;
	*updates = up;
	*nupdates = 0;
	if (o->kind == OPT_NEWTON || o->kind == OPT_NEWTON_CG)
		return;
	NodeId lr = graph_hyper(g, HYPER_LR);
	if (o->clip_value > 0) {
		/* clamp(g, -V, V), before the norm is taken */
		NodeId *cg = arena_alloc(g->arena, sizeof(NodeId) * (size_t)(nt + 1));
		for (int t = 0; t < nt; t++)
			cg[t] = grads[t] ? graph_unary_f(g, OP_CLAMP_MAX, graph_unary_f(g, OP_CLAMP_MIN, grads[t], -o->clip_value),
			                                 o->clip_value)
			                 : 0;
		grads = cg;
	}
	NodeId scale = 0;
	if (o->clip_norm > 0) {
		NodeId sq = 0;
		for (int t = 0; t < nt; t++)
			if (grads[t]) {
				NodeId s = graph_reduce(g, OP_SUM, mul(g, grads[t], grads[t]), -1, 0);
				sq = sq ? add(g, sq, s) : s;
			}
		if (sq) {
			NodeId norm = graph_unary(g, OP_SQRT, sq);
			NodeId coef = dv(g, C(g, o->clip_norm), add(g, norm, C(g, 1e-6)));
			/* min(1, coef) = -max(-1, -coef) */
			scale = graph_unary(g, OP_NEG, graph_binary(g, OP_MAXIMUM, C(g, -1), graph_unary(g, OP_NEG, coef)));
		}
	}
	/* the step count t, shared by every parameter, for bias corrections */
	NodeId tnew = 0;
	int sgd_damp = o->kind == OPT_SGD && o->momentum > 0 && o->dampening != 0;
	if (o->kind == OPT_ADAM || o->kind == OPT_ADAMW || sgd_damp) {
		int64_t one[1] = {1};
		int first = -1;
		for (int t = 0; t < nt && first < 0; t++)
			if (grads[t])
				first = t;
		if (first >= 0) {
			int ti = graph_add_tensor(g, state_name(g, clause, "optimizer_step"), ROLE_STATE, g->fdtype, shape_make(1, one), -1,
			                          g->tensors[first].loc);
			NodeId told = g->tensors[ti].node;
			tnew = add(g, told, C(g, 1));
			up[k++] = graph_assign(g, told, tnew);
		}
	}
	for (int t = 0; t < nt; t++) {
		if (!grads[t])
			continue;
		Tensor T = g->tensors[t];
		NodeId p = T.node, gr = grads[t];
		if (scale)
			gr = mul(g, gr, scale);
		double wd = o->weight_decay;
		for (int i = 0; i < o->nno_decay; i++)
			if (!strcmp(o->no_decay[i], T.name))
				wd = 0;
		if (wd != 0 && o->kind != OPT_ADAMW)
			gr = add(g, gr, mul(g, p, C(g, wd)));
		NodeId pnew = 0;
		switch (o->kind) {
		case OPT_SGD: {
			NodeId step = gr;
			if (o->momentum > 0) {
				NodeId b = state(g, clause, "v", t, T.shape, 0);
				NodeId gd = gr;
				if (o->dampening != 0) {
					/* torch starts the buffer at the first gradient, undamped:
					 * (1 - dampening [t > 1]) g */
					NodeId later = graph_unary(g, OP_STEP, sub(g, graph_reshape(g, tnew, shape_scalar()), C(g, 1)));
					gd = mul(g, gr, sub(g, C(g, 1), mul(g, later, C(g, o->dampening))));
				}
				NodeId bnew = add(g, mul(g, b, C(g, o->momentum)), gd);
				up[k++] = graph_assign(g, b, bnew);
				step = o->nesterov ? add(g, gr, mul(g, bnew, C(g, o->momentum))) : bnew;
			}
			pnew = sub(g, p, mul(g, step, lr));
			break;
		}
		case OPT_ADAM:
		case OPT_ADAMW: {
			NodeId m = state(g, clause, "m", t, T.shape, 0), v = state(g, clause, "v", t, T.shape, 0);
			NodeId mnew = add(g, mul(g, m, C(g, o->beta1)), mul(g, gr, C(g, 1 - o->beta1)));
			NodeId vnew = add(g, mul(g, v, C(g, o->beta2)), mul(g, mul(g, gr, gr), C(g, 1 - o->beta2)));
			up[k++] = graph_assign(g, m, mnew);
			up[k++] = graph_assign(g, v, vnew);
			/* bias corrections 1 - beta^t, as exp(t log beta) of the scalar t */
			NodeId ts = graph_reshape(g, tnew, shape_scalar());
			NodeId bc1 = sub(g, C(g, 1), graph_unary(g, OP_EXP, mul(g, ts, C(g, log(o->beta1)))));
			NodeId bc2 = sub(g, C(g, 1), graph_unary(g, OP_EXP, mul(g, ts, C(g, log(o->beta2)))));
			NodeId step_size = dv(g, lr, bc1);
			NodeId vden = vnew;
			if (o->amsgrad) {
				NodeId vmax = state(g, clause, "vmax", t, T.shape, 0);
				vden = graph_binary(g, OP_MAXIMUM, vmax, vnew);
				up[k++] = graph_assign(g, vmax, vden);
			}
			NodeId denom = add(g, dv(g, graph_unary(g, OP_SQRT, vden), graph_unary(g, OP_SQRT, bc2)), C(g, o->eps));
			NodeId base = p;
			if (o->kind == OPT_ADAMW && wd != 0)
				base = mul(g, p, sub(g, C(g, 1), mul(g, lr, C(g, wd))));
			pnew = sub(g, base, mul(g, step_size, dv(g, mnew, denom)));
			break;
		}
		case OPT_RMSPROP: {
			double a = o->beta2;
			NodeId v = state(g, clause, "v", t, T.shape, 0);
			NodeId vnew = add(g, mul(g, v, C(g, a)), mul(g, mul(g, gr, gr), C(g, 1 - a)));
			up[k++] = graph_assign(g, v, vnew);
			NodeId d = dv(g, gr, add(g, graph_unary(g, OP_SQRT, vnew), C(g, o->eps)));
			if (o->momentum > 0) {
				NodeId b = state(g, clause, "b", t, T.shape, 0);
				NodeId bnew = add(g, mul(g, b, C(g, o->momentum)), d);
				up[k++] = graph_assign(g, b, bnew);
				d = bnew;
			}
			pnew = sub(g, p, mul(g, d, lr));
			break;
		}
		case OPT_ADAGRAD: {
			NodeId s = state(g, clause, "sum", t, T.shape, o->initial_accumulator != 0 ? DLRT_INIT_CONST : 0);
			if (o->initial_accumulator != 0) {
				for (int i = 0; i < g->ntensors; i++)
					if (g->tensors[i].node == s)
						g->tensors[i].init_a = o->initial_accumulator;
			}
			NodeId snew = add(g, s, mul(g, gr, gr));
			up[k++] = graph_assign(g, s, snew);
			pnew = sub(g, p, mul(g, lr, dv(g, gr, add(g, graph_unary(g, OP_SQRT, snew), C(g, o->eps)))));
			break;
		}
		case OPT_NEWTON: case OPT_NEWTON_CG:
			continue; /* not reached: the runtime steps these */
		}
		up[k++] = graph_assign(g, p, pnew);
	}
	*updates = up;
	*nupdates = k;
}
