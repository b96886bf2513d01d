/* ops_ew.c - the elementwise ops' rows of the op table.
 *
 * Each op of ops.def's elementwise section has its three rules here, next to
 * each other, and one row in op_rules at the end of the file:
 *
 *   _c     the C expression of one element, for the element type of the
 *          generated code (cx_lit, cx_fn: 0.5f and erff, or 0.5 and erf)
 *   _eval  the same function on doubles, for constant folding
 *   _vjp   the adjoint of input k from the adjoint gy of the value y, built
 *          from graph constructors (so it can be differentiated again)
 *
 * Node ids name the generated arrays, so a rule builds its nodes in an
 * order C fixes: nested calls, or one statement per constructor where two
 * would be arguments of the same call (C leaves their order open). */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "ops.h"

/* ---- writing scalars of the element type ---- */

const char *cx_lit(const CExpr *x, double v)
{
	if (isinf(v))
		return v > 0 ? "INFINITY" : "-INFINITY";
	if (isnan(v))
		return "NAN";
	char buf[64];
	snprintf(buf, sizeof buf, x->f32 ? "%.9g" : "%.17g", v);
	if (!strpbrk(buf, ".e"))
		strcat(buf, ".0");
	if (x->f32)
		strcat(buf, "f");
	if (buf[0] == '-')
		return arena_printf(x->arena, "(%s)", buf);
	return arena_strdup(x->arena, buf);
}

const char *cx_fn(const CExpr *x, const char *name)
{
	return x->f32 ? arena_printf(x->arena, "%sf", name) : name;
}

/* ---- graph constructors for the gradient rules ---- */

static NodeId in0(const VjpCall *v) { return v->n.in[0]; }
static NodeId in1(const VjpCall *v) { return v->n.in[1]; }
static NodeId cst(const VjpCall *v, double c) { return graph_const(v->g, c); }
static NodeId add(const VjpCall *v, NodeId a, NodeId b) { return graph_binary(v->g, OP_ADD, a, b); }
static NodeId sub(const VjpCall *v, NodeId a, NodeId b) { return graph_binary(v->g, OP_SUB, a, b); }
static NodeId mul(const VjpCall *v, NodeId a, NodeId b) { return graph_binary(v->g, OP_MUL, a, b); }
static NodeId dv(const VjpCall *v, NodeId a, NodeId b) { return graph_binary(v->g, OP_DIV, a, b); }
static NodeId un(const VjpCall *v, OpKind op, NodeId a) { return graph_unary(v->g, op, a); }
static NodeId addc(const VjpCall *v, NodeId a, double c) { return add(v, a, cst(v, c)); }
static NodeId mulc(const VjpCall *v, NodeId a, double c) { return mul(v, a, cst(v, c)); }

/* piecewise constant (sign, step, eq, comparisons): the gradient is zero */
static NodeId zero_vjp(const VjpCall *v)
{
	(void)v;
	return 0;
}

/* ---- binary ---- */

static const char *add_c(const CExpr *x) { return arena_printf(x->arena, "%s + %s", x->a, x->b); }
static double add_eval(Scalars s) { return s.a + s.b; }
static NodeId add_vjp(const VjpCall *v) { return v->gy; }

static const char *sub_c(const CExpr *x) { return arena_printf(x->arena, "%s - %s", x->a, x->b); }
static double sub_eval(Scalars s) { return s.a - s.b; }
static NodeId sub_vjp(const VjpCall *v) { return v->k == 0 ? v->gy : un(v, OP_NEG, v->gy); }

static const char *mul_c(const CExpr *x) { return arena_printf(x->arena, "%s * %s", x->a, x->b); }
static double mul_eval(Scalars s) { return s.a * s.b; }
static NodeId mul_vjp(const VjpCall *v) { return mul(v, v->gy, v->k == 0 ? in1(v) : in0(v)); }

static const char *div_c(const CExpr *x) { return arena_printf(x->arena, "%s / %s", x->a, x->b); }
static double div_eval(Scalars s) { return s.a / s.b; }
static NodeId div_vjp(const VjpCall *v)
{
	if (v->k == 0)
		return dv(v, v->gy, in1(v));
	if (!v->need[1])
		return 0;
	return un(v, OP_NEG, dv(v, mul(v, v->gy, v->id), in1(v))); /* -gy a / b^2 = -gy y / b */
}

static const char *eq_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s == %s ? %s : %s", x->a, x->b, cx_lit(x, 1), cx_lit(x, 0));
}
static double eq_eval(Scalars s) { return s.a == s.b; }

static const char *maximum_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > %s ? %s : %s", x->a, x->b, x->a, x->b);
}
static double maximum_eval(Scalars s) { return s.a > s.b ? s.a : s.b; }
/* where the operands tie, each gets half of the adjoint (as in torch) */
static NodeId maximum_vjp(const VjpCall *v)
{
	NodeId x = v->k == 0 ? in0(v) : in1(v), o = v->k == 0 ? in1(v) : in0(v);
	NodeId half = mulc(v, v->gy, 0.5);
	NodeId eq = graph_binary(v->g, OP_EQ, x, o);
	NodeId wins = graph_binary(v->g, v->n.op == OP_MAXIMUM ? OP_GT : OP_LT, x, o);
	NodeId z = cst(v, 0);
	return graph_where(v->g, eq, half, graph_where(v->g, wins, v->gy, z));
}

static const char *minimum_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s < %s ? %s : %s", x->a, x->b, x->a, x->b);
}
static double minimum_eval(Scalars s) { return s.a < s.b ? s.a : s.b; }

/* comparisons: 1 where true, else 0; the gradient is zero */
static const char *cmp_c(const CExpr *x, const char *op)
{
	return arena_printf(x->arena, "%s %s %s ? %s : %s", x->a, op, x->b, cx_lit(x, 1), cx_lit(x, 0));
}
static const char *gt_c(const CExpr *x) { return cmp_c(x, ">"); }
static const char *lt_c(const CExpr *x) { return cmp_c(x, "<"); }
static const char *ge_c(const CExpr *x) { return cmp_c(x, ">="); }
static const char *le_c(const CExpr *x) { return cmp_c(x, "<="); }
static double gt_eval(Scalars s) { return s.a > s.b; }
static double lt_eval(Scalars s) { return s.a < s.b; }
static double ge_eval(Scalars s) { return s.a >= s.b; }
static double le_eval(Scalars s) { return s.a <= s.b; }

/* where(cond, a, b): a where cond != 0, else b.  The adjoint goes to the
 * operand chosen, through the same selection (never a product with a mask,
 * so an infinite adjoint or operand elsewhere leaves no NaN). */
static const char *where_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s != 0 ? %s : %s", x->a, x->b, x->c);
}
static double where_eval(Scalars s) { return s.a != 0 ? s.b : s.c; }
static NodeId where_vjp(const VjpCall *v)
{
	if (v->k == 0)
		return 0;
	NodeId z = cst(v, 0);
	return v->k == 1 ? graph_where(v->g, in0(v), v->gy, z) : graph_where(v->g, in0(v), z, v->gy);
}

/* ---- unary ---- */

static const char *neg_c(const CExpr *x) { return arena_printf(x->arena, "-%s", x->a); }
static double neg_eval(Scalars s) { return -s.a; }
static NodeId neg_vjp(const VjpCall *v) { return un(v, OP_NEG, v->gy); }

static const char *exp_c(const CExpr *x) { return arena_printf(x->arena, "%s(%s)", cx_fn(x, "exp"), x->a); }
static double exp_eval(Scalars s) { return exp(s.a); }
static NodeId exp_vjp(const VjpCall *v) { return mul(v, v->gy, v->id); }

static const char *log_c(const CExpr *x) { return arena_printf(x->arena, "%s(%s)", cx_fn(x, "log"), x->a); }
static double log_eval(Scalars s) { return log(s.a); }
static NodeId log_vjp(const VjpCall *v) { return dv(v, v->gy, in0(v)); }

static const char *sqrt_c(const CExpr *x) { return arena_printf(x->arena, "%s(%s)", cx_fn(x, "sqrt"), x->a); }
static double sqrt_eval(Scalars s) { return sqrt(s.a); }
static NodeId sqrt_vjp(const VjpCall *v) { return dv(v, v->gy, mul(v, v->id, cst(v, 2))); }

/* pow(x, c): f is the exponent c */
static const char *pow_c(const CExpr *x)
{
	Arena *A = x->arena;
	if (x->f == 2)
		return arena_printf(A, "%s * %s", x->a, x->a);
	if (x->f == 3)
		return arena_printf(A, "%s * %s * %s", x->a, x->a, x->a);
	if (x->f == 0.5)
		return arena_printf(A, "%s(%s)", cx_fn(x, "sqrt"), x->a);
	if (x->f == -1)
		return arena_printf(A, "%s / %s", cx_lit(x, 1), x->a);
	return arena_printf(A, "%s(%s, %s)", cx_fn(x, "pow"), x->a, cx_lit(x, x->f));
}
static double pow_eval(Scalars s) { return pow(s.a, s.f); }
static NodeId pow_vjp(const VjpCall *v)
{
	double c = v->n.f;
	NodeId a = in0(v);
	NodeId d;
	if (c == 2) {
		d = mulc(v, a, 2);
	} else {
		NodeId k = cst(v, c);
		d = mul(v, graph_powc(v->g, a, c - 1), k);
	}
	if (c == 0)
		return 0;
	return mul(v, v->gy, d);
}

static const char *abs_c(const CExpr *x) { return arena_printf(x->arena, "%s(%s)", cx_fn(x, "fabs"), x->a); }
static double abs_eval(Scalars s) { return fabs(s.a); }
static NodeId abs_vjp(const VjpCall *v) { return mul(v, v->gy, un(v, OP_SIGN, in0(v))); }

static const char *sign_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > 0 ? %s : %s < 0 ? %s : %s", x->a, cx_lit(x, 1), x->a, cx_lit(x, -1),
	                    cx_lit(x, 0));
}
static double sign_eval(Scalars s) { return (s.a > 0) - (s.a < 0); }

static const char *relu_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > 0 ? %s : %s", x->a, x->a, cx_lit(x, 0));
}
static double relu_eval(Scalars s) { return s.a > 0 ? s.a : 0; }
/* relu(x) > 0 exactly where x > 0: the mask from the value lets the input
 * die after the forward pass */
static NodeId relu_vjp(const VjpCall *v) { return mul(v, v->gy, un(v, OP_STEP, v->id)); }

/* stop_gradient(x) = x; its adjoint is zero, so nothing before it learns
 * from what comes after it */
static const char *stop_gradient_c(const CExpr *x) { return x->a; }
static double stop_gradient_eval(Scalars s) { return s.a; }

static const char *step_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > 0 ? %s : %s", x->a, cx_lit(x, 1), cx_lit(x, 0));
}
static double step_eval(Scalars s) { return s.a > 0 ? 1 : 0; }

static const char *sigmoid_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s / (%s + %s(-%s))", cx_lit(x, 1), cx_lit(x, 1), x->f32 ? "dlrt_expf" : "exp",
	                    x->a); /* dlrt.h */
}
static double sigmoid_eval(Scalars s) { return 1 / (1 + exp(-s.a)); }
static NodeId sigmoid_vjp(const VjpCall *v) { return mul(v, v->gy, mul(v, v->id, sub(v, cst(v, 1), v->id))); }

static const char *tanh_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s(%s)", x->f32 ? "dlrt_tanhf" : "tanh", x->a); /* dlrt.h */
}
static double tanh_eval(Scalars s) { return tanh(s.a); }
static NodeId tanh_vjp(const VjpCall *v)
{
	NodeId y2 = mul(v, v->id, v->id);
	return mul(v, v->gy, sub(v, cst(v, 1), y2));
}

/* erf(x); d/dx = 2 / sqrt(pi) exp(-x^2) */
static const char *erf_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s(%s)", x->f32 ? "dlrt_erff" : "erf", x->a); /* dlrt.h */
}
static double erf_eval(Scalars s) { return erf(s.a); }
static NodeId erf_vjp(const VjpCall *v)
{
	NodeId x = in0(v);
	NodeId e = un(v, OP_EXP, un(v, OP_NEG, mul(v, x, x)));
	return mul(v, v->gy, mulc(v, e, 1.1283791670955126)); /* 2 / sqrt(pi) */
}

/* sin and cos: each the other's derivative (up to sign) */
static const char *sin_c(const CExpr *x) { return arena_printf(x->arena, "%s(%s)", cx_fn(x, "sin"), x->a); }
static double sin_eval(Scalars s) { return sin(s.a); }
static NodeId sin_vjp(const VjpCall *v) { return mul(v, v->gy, un(v, OP_COS, in0(v))); }
static const char *cos_c(const CExpr *x) { return arena_printf(x->arena, "%s(%s)", cx_fn(x, "cos"), x->a); }
static double cos_eval(Scalars s) { return cos(s.a); }
static NodeId cos_vjp(const VjpCall *v) { return mul(v, v->gy, un(v, OP_NEG, un(v, OP_SIN, in0(v)))); }

/* gelu(x) = x Phi(x) = x (1 + erf(x / sqrt(2))) / 2, the exact form (torch's
 * default); d/dx = Phi(x) + x phi(x), phi(x) = exp(-x^2 / 2) / sqrt(2 pi) */
#define SQRT1_2 0.70710678118654752440
static const char *gelu_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s * %s * (%s + %s(%s * %s))", cx_lit(x, 0.5), x->a, cx_lit(x, 1),
	                    x->f32 ? "dlrt_erff" : "erf", x->a, cx_lit(x, SQRT1_2)); /* dlrt.h */
}
static double gelu_eval(Scalars s) { return 0.5 * s.a * (1 + erf(s.a * SQRT1_2)); }
static NodeId gelu_vjp(const VjpCall *v)
{
	NodeId x = in0(v);
	NodeId cdf = mulc(v, addc(v, un(v, OP_ERF, mulc(v, x, SQRT1_2)), 1), 0.5);
	NodeId pdf = mulc(v, un(v, OP_EXP, mulc(v, mul(v, x, x), -0.5)), 0.39894228040143268); /* 1 / sqrt(2 pi) */
	return mul(v, v->gy, add(v, cdf, mul(v, x, pdf)));
}

/* softplus(x) = log(1 + e^x), and x itself past x = 20 (torch's defaults
 * beta = 1, threshold = 20); d/dx = sigmoid(x) */
static const char *softplus_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > %s ? %s : %s(%s(%s))", x->a, cx_lit(x, 20), x->a, cx_fn(x, "log1p"),
	                    cx_fn(x, "exp"), x->a);
}
static double softplus_eval(Scalars s) { return s.a > 20 ? s.a : log1p(exp(s.a)); }
static NodeId softplus_vjp(const VjpCall *v) { return mul(v, v->gy, un(v, OP_SIGMOID, in0(v))); }

/* leaky_relu(x, s) = x where x > 0, else s x (f is the slope s); d/dx = 1
 * or s.  For s >= 0 the mask comes from the value, as relu's does. */
static const char *leaky_relu_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > 0 ? %s : %s * %s", x->a, x->a, x->a, cx_lit(x, x->f));
}
static double leaky_relu_eval(Scalars s) { return s.a > 0 ? s.a : s.a * s.f; }
static NodeId leaky_relu_vjp(const VjpCall *v)
{
	double s = v->n.f;
	NodeId m = un(v, OP_STEP, s >= 0 ? v->id : in0(v));
	return mul(v, v->gy, addc(v, mulc(v, m, 1 - s), s));
}

/* clamp_min(x, lo) = max(x, lo), clamp_max(x, hi) = min(x, hi) (f is the
 * bound); the adjoint passes where x >= lo (x <= hi), bounds included, as
 * torch's clamp.  clamp(x, lo, hi) is clamp_max(clamp_min(x, lo), hi). */
static const char *clamp_min_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s < %s ? %s : %s", x->a, cx_lit(x, x->f), cx_lit(x, x->f), x->a);
}
static double clamp_min_eval(Scalars s) { return s.a < s.f ? s.f : s.a; }
static NodeId clamp_min_vjp(const VjpCall *v)
{
	NodeId m = graph_binary(v->g, OP_GE, in0(v), cst(v, v->n.f));
	return graph_where(v->g, m, v->gy, cst(v, 0));
}
static const char *clamp_max_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > %s ? %s : %s", x->a, cx_lit(x, x->f), cx_lit(x, x->f), x->a);
}
static double clamp_max_eval(Scalars s) { return s.a > s.f ? s.f : s.a; }
static NodeId clamp_max_vjp(const VjpCall *v)
{
	NodeId m = graph_binary(v->g, OP_LE, in0(v), cst(v, v->n.f));
	return graph_where(v->g, m, v->gy, cst(v, 0));
}

/* elu(x, alpha) = x where x > 0, else alpha (e^x - 1) (f is alpha); d/dx =
 * 1 or alpha e^x, the exponential of min(x, 0) so that no branch overflows */
static const char *elu_c(const CExpr *x)
{
	return arena_printf(x->arena, "%s > 0 ? %s : %s * %s(%s)", x->a, x->a, cx_lit(x, x->f), cx_fn(x, "expm1"), x->a);
}
static double elu_eval(Scalars s) { return s.a > 0 ? s.a : s.f * expm1(s.a); }
static NodeId elu_vjp(const VjpCall *v)
{
	NodeId x = in0(v);
	NodeId m = graph_binary(v->g, OP_GT, x, cst(v, 0));
	NodeId e = mulc(v, un(v, OP_EXP, graph_unary_f(v->g, OP_CLAMP_MAX, x, 0)), v->n.f);
	return graph_where(v->g, m, v->gy, mul(v, v->gy, e));
}

/* log_sigmoid(x) = log(1 / (1 + e^-x)) = min(x, 0) - log1p(e^-|x|), which
 * neither overflows nor loses the small values; d/dx = sigmoid(-x) */
static const char *log_sigmoid_c(const CExpr *x)
{
	return arena_printf(x->arena, "(%s < 0 ? %s : %s) - %s(%s(-%s(%s)))", x->a, x->a, cx_lit(x, 0),
	                    cx_fn(x, "log1p"), cx_fn(x, "exp"), cx_fn(x, "fabs"), x->a);
}
static double log_sigmoid_eval(Scalars s) { return (s.a < 0 ? s.a : 0) - log1p(exp(-fabs(s.a))); }
static NodeId log_sigmoid_vjp(const VjpCall *v) { return mul(v, v->gy, un(v, OP_SIGMOID, un(v, OP_NEG, in0(v)))); }

/* ---- the rows, by ops.def's enum ---- */

const OpRules op_rules[OP_COUNT_] = {
	[OP_ADD] = {.c_expr = add_c, .eval = add_eval, .vjp = add_vjp},
	[OP_SUB] = {.c_expr = sub_c, .eval = sub_eval, .vjp = sub_vjp},
	[OP_MUL] = {.c_expr = mul_c, .eval = mul_eval, .vjp = mul_vjp},
	[OP_DIV] = {.c_expr = div_c, .eval = div_eval, .vjp = div_vjp},
	[OP_EQ] = {.c_expr = eq_c, .eval = eq_eval, .vjp = zero_vjp},
	[OP_MAXIMUM] = {.c_expr = maximum_c, .eval = maximum_eval, .vjp = maximum_vjp},
	[OP_NEG] = {.c_expr = neg_c, .eval = neg_eval, .vjp = neg_vjp},
	[OP_EXP] = {.c_expr = exp_c, .eval = exp_eval, .vjp = exp_vjp},
	[OP_LOG] = {.c_expr = log_c, .eval = log_eval, .vjp = log_vjp},
	[OP_SQRT] = {.c_expr = sqrt_c, .eval = sqrt_eval, .vjp = sqrt_vjp},
	[OP_POWC] = {.c_expr = pow_c, .eval = pow_eval, .vjp = pow_vjp, .attr = "exponent", .attr_default = NAN},
	[OP_ABS] = {.c_expr = abs_c, .eval = abs_eval, .vjp = abs_vjp},
	[OP_SIGN] = {.c_expr = sign_c, .eval = sign_eval, .vjp = zero_vjp},
	[OP_STOP_GRADIENT] = {.c_expr = stop_gradient_c, .eval = stop_gradient_eval, .vjp = zero_vjp},
	[OP_RELU] = {.c_expr = relu_c, .eval = relu_eval, .vjp = relu_vjp},
	[OP_STEP] = {.c_expr = step_c, .eval = step_eval, .vjp = zero_vjp},
	[OP_SIGMOID] = {.c_expr = sigmoid_c, .eval = sigmoid_eval, .vjp = sigmoid_vjp},
	[OP_TANH] = {.c_expr = tanh_c, .eval = tanh_eval, .vjp = tanh_vjp},
	[OP_ERF] = {.c_expr = erf_c, .eval = erf_eval, .vjp = erf_vjp},
	[OP_SIN] = {.c_expr = sin_c, .eval = sin_eval, .vjp = sin_vjp},
	[OP_COS] = {.c_expr = cos_c, .eval = cos_eval, .vjp = cos_vjp},
	[OP_GELU] = {.c_expr = gelu_c, .eval = gelu_eval, .vjp = gelu_vjp},
	[OP_SOFTPLUS] = {.c_expr = softplus_c, .eval = softplus_eval, .vjp = softplus_vjp},
	[OP_LEAKY_RELU] = {.c_expr = leaky_relu_c, .eval = leaky_relu_eval, .vjp = leaky_relu_vjp,
	                   .attr = "negative_slope", .attr_default = 0.01},
	[OP_MINIMUM] = {.c_expr = minimum_c, .eval = minimum_eval, .vjp = maximum_vjp},
	[OP_GT] = {.c_expr = gt_c, .eval = gt_eval, .vjp = zero_vjp},
	[OP_LT] = {.c_expr = lt_c, .eval = lt_eval, .vjp = zero_vjp},
	[OP_GE] = {.c_expr = ge_c, .eval = ge_eval, .vjp = zero_vjp},
	[OP_LE] = {.c_expr = le_c, .eval = le_eval, .vjp = zero_vjp},
	[OP_WHERE] = {.c_expr = where_c, .eval = where_eval, .vjp = where_vjp},
	[OP_CLAMP_MIN] = {.c_expr = clamp_min_c, .eval = clamp_min_eval, .vjp = clamp_min_vjp, .attr = "min",
	                  .attr_default = NAN},
	[OP_CLAMP_MAX] = {.c_expr = clamp_max_c, .eval = clamp_max_eval, .vjp = clamp_max_vjp, .attr = "max",
	                  .attr_default = NAN},
	[OP_ELU] = {.c_expr = elu_c, .eval = elu_eval, .vjp = elu_vjp, .attr = "alpha", .attr_default = 1.0},
	[OP_LOG_SIGMOID] = {.c_expr = log_sigmoid_c, .eval = log_sigmoid_eval, .vjp = log_sigmoid_vjp},
};

void ops_check(void)
{
	for (int op = 0; op < OP_COUNT_; op++) {
		const OpInfo *oi = &op_info[op];
		const OpRules *r = &op_rules[op];
		int ew = (oi->flags & OPF_EW) != 0;
		if (ew != (r->c_expr != NULL) || ew != (r->eval != NULL))
			DLC_INTERNAL("op table: '%s' is %selementwise but has %s C expression and %s evaluation", oi->name,
			             ew ? "" : "not ", r->c_expr ? "a" : "no", r->eval ? "an" : "no");
		if ((oi->flags & (OPF_FOLD | OPF_CALL)) && !ew)
			DLC_INTERNAL("op table: '%s' is folded or called by name but not elementwise", oi->name);
		if (r->attr && oi->arity != 1)
			DLC_INTERNAL("op table: '%s' has a float attribute but not one input", oi->name);
		if ((oi->flags & OPF_CALL) && ops_find(oi->name) != op)
			DLC_INTERNAL("op table: two ops are called '%s'", oi->name);
	}
}

int ops_find(const char *name)
{
	for (int op = 0; op < OP_COUNT_; op++)
		if ((op_info[op].flags & OPF_CALL) && !strcmp(op_info[op].name, name))
			return op;
	return -1;
}

int op_vjp_is_zero(int op) { return op_rules[op].vjp == zero_vjp; }
