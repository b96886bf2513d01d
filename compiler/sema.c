/* sema.c - semantic analysis: names, dims, shapes and types; builds the
 * forward graph.
 *
 * Statements are processed in order, so a name must be defined before it is
 * used.  An expression evaluates to a Val: a graph node (a tensor), a
 * compile-time number, a string or a list.  Numbers fold at compile time and
 * become constant nodes when they meet a tensor.  User functions (`def`) are
 * inlined at each call: their parameters are bound to the argument values in
 * a fresh scope.  Builtin functions are described by one table (name,
 * parameter names, what they build). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "sema.h"
#include "ops.h"
#include "../runtime/dlrt.h"

typedef enum { V_ERR = 0, V_NODE, V_NUM, V_STR, V_LIST } ValKind;

typedef struct Val {
	ValKind kind;
	NodeId id;
	double num;
	int is_int;
	const char *str;
	struct Val *items;
	int nitems;
} Val;

typedef enum { SYM_DIM, SYM_TENSOR, SYM_VALUE, SYM_DEF } SymKind;

typedef struct Sym {
	const char *name;
	SymKind kind;
	SrcLoc loc;
	int64_t dim;          /* SYM_DIM */
	NodeId id;            /* SYM_TENSOR, SYM_VALUE */
	int tensor;           /* SYM_TENSOR */
	const AstStmt *def;   /* SYM_DEF */
} Sym;

/* A def's parameters bound to values while its body is inlined. */
typedef struct Scope {
	const AstStmt *def;
	Val *vals;
	SrcLoc call_loc;
	struct Scope *up;
} Scope;

typedef struct Sema {
	Arena *a;
	Diag *d;
	Graph *g;
	Model *m;
	Sym *syms;
	int nsyms, cap;
	DimDefine *defs;
	int ndefs;
	int depth;
	int have_batch;
	const char *batch_from;  /* the input that fixed the batch size */
	int eval_mode;           /* building the evaluation-mode graph */
	int mode_dependent;      /* the program has dropout or batch norm */
	int nstate;              /* batch norms seen in this pass */
	int ndropout;
} Sema;

static Val verr(void) { Val v; memset(&v, 0, sizeof v); return v; }
static Val vnode(NodeId id) { Val v = verr(); v.kind = V_NODE; v.id = id; return v; }
static Val vnum(double x, int is_int) { Val v = verr(); v.kind = V_NUM; v.num = x; v.is_int = is_int; return v; }

static const char *shp(Sema *s, Shape sh)
{
	char buf[160];
	return arena_strdup(s->a, shape_str(sh, buf, sizeof buf));
}

static Node *N(Sema *s, NodeId id) { return graph_node(s->g, id); }

/* ---- the batch axis ----
 * A partial last batch is computed exactly while every value keeps its
 * examples apart along one batch axis (graph.h).  These report, at compile
 * time, the operations that would mix examples or lose the batch axis. */

#define PARTIAL "a partial last batch could not be computed"

/* Ops that take axis 0 as the batch (convolution, pooling, losses...). */
static int batch_leading(Sema *s, NodeId x, SrcLoc loc, const char *fn)
{
	const Node *n = N(s, x);
	if (n->bax <= 0)
		return 1;
	diag_error(s->d, loc, "'%s' takes axis 0 as the batch, but the batch axis of %s is axis %d; " PARTIAL, fn,
	           shp(s, n->shape), n->bax);
	return 0;
}

/* A value has one batch axis: a result that would run over the batch along
 * two axes (an outer product of the batch with itself) is an error. */
static int one_batch_axis(Sema *s, SrcLoc loc, const char *what, NodeId a, int ba, NodeId b, int bb, Shape out)
{
	if (ba < 0 || bb < 0 || ba == bb)
		return 1;
	diag_error(s->d, loc, "%s of %s and %s would run over the batch along two axes of %s (%d and %d); " PARTIAL,
	           what, shp(s, N(s, a)->shape), shp(s, N(s, b)->shape), shp(s, out), ba < bb ? ba : bb,
	           ba < bb ? bb : ba);
	return 0;
}

/* reshape(a, to) keeps the examples apart (graph_reshape_bax); `infer`:
 * the axis written -1, or -1.  That axis grows with the batch, so the batch
 * axis cannot come after it (a -1 resolved to 1 before the batch axis). */
static int reshape_keeps_batch(Sema *s, NodeId a, Shape to, int infer, SrcLoc loc, const char *fn)
{
	const Node *n = N(s, a);
	int j = graph_reshape_bax(s->g, a, to);
	if (n->bax < 0 || (j >= 0 && (infer < 0 || j <= infer)))
		return 1;
	int64_t per = shape_numel(n->shape) / s->g->batch;
	const char *hint = n->bax == 0 ? arena_printf(s->a, "; e.g. [%lld, -1] keeps it",
	                                              (long long)n->shape.d[0])
	                               : "";
	diag_error(s->d, loc, "'%s' from %s to %s would mix the examples of the batch (%lld elements each), so " PARTIAL
	           ": the batch axis may only be merged with the axes after it, as their leading factor%s", fn,
	           shp(s, n->shape), shp(s, to), (long long)per, hint);
	return 0;
}

/* ---- symbols ---- */

static Sym *lookup(Sema *s, const char *name)
{
	for (int i = s->nsyms; i-- > 0;)
		if (!strcmp(s->syms[i].name, name))
			return &s->syms[i];
	return NULL;
}

/* The builtin functions besides the op table's (ops with flag OPF_CALL). */
static const char *const builtin_names[] = {
	"sum", "mean", "max", "softmax", "log_softmax", "transpose", "permute", "reshape", "flatten", "matmul", "mse", "bce",
	"cross_entropy", "nll", "conv2d", "max_pool2d", "avg_pool2d", "global_avg_pool", "batch_norm",
	"layer_norm", "dropout", "pad", "concat", "slice",
	"logsumexp", "var", "std", "where", "clamp", "argmax", "one_hot",
};
enum { NBUILTINS = sizeof builtin_names / sizeof builtin_names[0] + OP_COUNT_ };

/* Every builtin function name into c (room for NBUILTINS); returns the count. */
static int builtins(const char **c)
{
	int k = 0;
	for (int op = 0; op < OP_COUNT_; op++)
		if (op_info[op].flags & OPF_CALL)
			c[k++] = op_info[op].name;
	for (size_t i = 0; i < sizeof builtin_names / sizeof builtin_names[0]; i++)
		c[k++] = builtin_names[i];
	return k;
}

/* "; did you mean 'W1'?" or "" */
static const char *suggest(Sema *s, const char *name, int with_builtins, const Scope *sc)
{
	int n = s->nsyms + (with_builtins ? NBUILTINS : 0);
	for (const Scope *k = sc; k; k = k->up)
		n += k->def->nparams;
	const char **c = arena_alloc(s->a, sizeof(char *) * (size_t)(n + 1));
	int k = 0;
	for (int i = 0; i < s->nsyms; i++)
		if (s->syms[i].kind != SYM_DIM)
			c[k++] = s->syms[i].name;
	for (int i = 0; i < s->nsyms; i++)
		if (s->syms[i].kind == SYM_DIM)
			c[k++] = s->syms[i].name;
	if (with_builtins)
		k += builtins(c + k);
	if (sc)
		for (int i = 0; i < sc->def->nparams; i++)
			c[k++] = sc->def->params[i];
	const char *best = diag_closest(name, c, k);
	return best ? arena_printf(s->a, "; did you mean '%s'?", best) : "";
}

static int define(Sema *s, const char *name, SrcLoc loc, SymKind kind, Sym **out)
{
	Sym *old = lookup(s, name);
	if (old) {
		diag_error(s->d, loc, "'%s' is already defined", name);
		if (old->loc.line)
			diag_note(s->d, old->loc, "'%s' was defined here", name);
		return 0;
	}
	const char *b[NBUILTINS];
	int nb = builtins(b);
	for (int i = 0; i < nb; i++)
		if (!strcmp(b[i], name)) {
			diag_error(s->d, loc, "'%s' is a builtin function and cannot be redefined", name);
			return 0;
		}
	if (s->nsyms == s->cap) {
		int ncap = s->cap ? 2 * s->cap : 32;
		s->syms = arena_grow(s->a, s->syms, (size_t)s->cap, (size_t)ncap, sizeof(Sym));
		s->cap = ncap;
	}
	Sym *y = &s->syms[s->nsyms++];
	memset(y, 0, sizeof *y);
	y->name = name;
	y->kind = kind;
	y->loc = loc;
	*out = y;
	return 1;
}

/* ---- dims: integer expressions over dims and literals ---- */

static int eval_dim(Sema *s, const AstExpr *e, int64_t *out)
{
	int64_t a, b;
	switch (e->kind) {
	case AST_NUM:
		if (!e->is_int || e->num < 0 || e->num > 1e15) {
			diag_error(s->d, e->loc, "a dimension must be a non-negative integer, got %g", e->num);
			return 0;
		}
		*out = (int64_t)e->num;
		return 1;
	case AST_NAME: {
		Sym *y = lookup(s, e->name);
		if (!y) {
			diag_error(s->d, e->loc, "unknown dim '%s'%s", e->name, suggest(s, e->name, 0, NULL));
			return 0;
		}
		if (y->kind != SYM_DIM) {
			diag_error(s->d, e->loc, "'%s' is not a dim (declare it with `dim %s = ...`)", e->name, e->name);
			return 0;
		}
		*out = y->dim;
		return 1;
	}
	case AST_UNARY:
		diag_error(s->d, e->loc, "a dimension cannot be negative");
		return 0;
	case AST_BINARY:
		if (!eval_dim(s, e->lhs, &a) || !eval_dim(s, e->rhs, &b))
			return 0;
		switch (e->op) {
		case '+': *out = a + b; return 1;
		case '-':
			if (a < b) {
				diag_error(s->d, e->loc, "dimension %lld - %lld is negative", (long long)a, (long long)b);
				return 0;
			}
			*out = a - b;
			return 1;
		case '*':
			if (a && b > (INT64_C(1) << 40) / a) {
				diag_error(s->d, e->loc, "dimension is too large");
				return 0;
			}
			*out = a * b;
			return 1;
		case '/':
			if (b == 0 || a % b) {
				diag_error(s->d, e->loc, "dimension %lld / %lld is not an integer", (long long)a, (long long)b);
				return 0;
			}
			*out = a / b;
			return 1;
		default:
			break;
		}
		diag_error(s->d, e->loc, "'%c' is not allowed in a dimension", e->op);
		return 0;
	default:
		diag_error(s->d, e->loc, "a dimension must be an integer expression of dims and numbers");
		return 0;
	}
}

static int eval_type(Sema *s, const AstType *t, Shape *sh)
{
	memset(sh, 0, sizeof *sh);
	if (t->ndims > MAXRANK) {
		diag_error(s->d, t->loc, "at most %d dimensions are supported, got %d", MAXRANK, t->ndims);
		return 0;
	}
	int ok = 1;
	sh->rank = t->ndims;
	for (int i = 0; i < t->ndims; i++) {
		if (!eval_dim(s, t->dims[i], &sh->d[i])) {
			ok = 0;
			continue;
		}
		if (sh->d[i] == 0) {
			diag_error(s->d, t->dims[i]->loc, "a dimension must be at least 1");
			ok = 0;
		}
	}
	if (ok && shape_numel(*sh) > (INT64_C(1) << 34)) {
		diag_error(s->d, t->loc, "tensor of %lld elements is too large", (long long)shape_numel(*sh));
		ok = 0;
	}
	return ok;
}

/* ---- expressions ---- */

static Val eval(Sema *s, const AstExpr *e, Scope *sc);

/* A value as a tensor node (numbers become constants). */
static NodeId as_node(Sema *s, Val v, const AstExpr *e, const char *what)
{
	switch (v.kind) {
	case V_NODE: return v.id;
	case V_NUM: return graph_const(s->g, v.num);
	case V_ERR: return 0;
	default:
		diag_error(s->d, e->loc, "%s must be a tensor or a number, not a %s", what,
		           v.kind == V_STR ? "string" : "list");
		return 0;
	}
}

/* Reject integer label tensors where float arithmetic is asked for. */
static int check_float(Sema *s, NodeId id, const AstExpr *e, const char *op)
{
	if (N(s, id)->dtype == DT_I32 && N(s, id)->op != OP_INPUT) {
		const char *nm = N(s, id)->name ? arena_printf(s->a, "'%s'", N(s, id)->name) : "this value";
		diag_error(s->d, e->loc, "%s holds integer indices (i32, from argmax); '%s' needs float values "
		           "(one_hot(...) turns indices into floats)", nm, op);
		return 0;
	}
	if (N(s, id)->dtype == DT_I32) {
		const char *nm = N(s, id)->name ? N(s, id)->name : "this value";
		diag_error(s->d, e->loc, "'%s' holds integer class labels (i32); '%s' needs float values "
		           "(labels can only be the target of cross_entropy or nll)", nm, op);
		return 0;
	}
	return 1;
}

static const char *binop_name(int op)
{
	switch (op) {
	case '+': return "+";
	case '-': return "-";
	case '*': return "*";
	case '/': return "/";
	case '@': return "@";
	case '^': return "^";
	}
	return "?";
}

/* `id` reshaped with a new axis of size 1 at `axis` (insert) or without its
 * axis `axis` of size 1; the batch axis keeps its place among the others. */
static NodeId reshape_axis(Sema *s, NodeId id, int axis, int insert)
{
	Shape sh = N(s, id)->shape, to;
	int bax = N(s, id)->bax;
	memset(&to, 0, sizeof to);
	for (int k = 0; k < sh.rank; k++) {
		if (k == axis && insert)
			to.d[to.rank++] = 1;
		if (k != axis || insert)
			to.d[to.rank++] = sh.d[k];
	}
	if (insert && axis == sh.rank)
		to.d[to.rank++] = 1;
	if (bax >= 0)
		bax = insert ? bax + (bax >= axis) : bax == axis ? -1 : bax - (bax > axis);
	return graph_rebatch(s->g, graph_reshape(s->g, id, to), bax);
}

/* a @ b as torch.matmul: [..., M, K] @ [..., K, N] is [..., M, N], the
 * leading axes broadcast; a 1-D a is a row [1, K] and a 1-D b a column
 * [K, 1], whose axis of size 1 the result drops. */
static Val matmul(Sema *s, NodeId a, NodeId b, SrcLoc loc)
{
	Shape sa = N(s, a)->shape, sb = N(s, b)->shape;
	if (sa.rank < 1 || sb.rank < 1) {
		diag_error(s->d, loc, "'@' multiplies tensors of rank 1 or more, got %s @ %s", shp(s, sa), shp(s, sb));
		return verr();
	}
	int64_t Ka = sa.d[sa.rank - 1], Kb = sb.d[sb.rank < 2 ? 0 : sb.rank - 2];
	if (Ka != Kb) {
		diag_error(s->d, loc, "shape mismatch in '@': %s @ %s (inner dimensions %lld and %lld differ)",
		           shp(s, sa), shp(s, sb), (long long)Ka, (long long)Kb);
		return verr();
	}
	Shape la = shape_make(sa.rank > 2 ? sa.rank - 2 : 0, sa.d), lb = shape_make(sb.rank > 2 ? sb.rank - 2 : 0, sb.d);
	Shape lc;
	if (!shape_broadcast(la, lb, &lc)) {
		diag_error(s->d, loc, "shape mismatch in '@': %s @ %s (leading axes %s and %s cannot be broadcast together)",
		           shp(s, sa), shp(s, sb), shp(s, la), shp(s, lb));
		return verr();
	}
	if (lc.rank + 2 > MAXRANK) {
		diag_error(s->d, loc, "'@' of %s and %s: at most %d dimensions are supported", shp(s, sa), shp(s, sb),
		           MAXRANK);
		return verr();
	}
	int rowa = sa.rank == 1, colb = sb.rank == 1;
	if (rowa)
		a = reshape_axis(s, a, 0, 1);
	if (colb)
		b = reshape_axis(s, b, 1, 1);
	/* where each operand's batch axis lands in the result (-1: nowhere, or
	 * contracted, where the product stops at the rows that hold data) */
	int ra = N(s, a)->shape.rank, rb = N(s, b)->shape.rank, r = lc.rank + 2;
	int ba = N(s, a)->bax, bb = N(s, b)->bax;
	ba = ba < 0 || ba == ra - 1 ? -1 : ba == ra - 2 ? r - 2 : ba + r - ra;
	bb = bb < 0 || bb == rb - 2 ? -1 : bb == rb - 1 ? r - 1 : bb + r - rb;
	Shape out = lc;
	out.d[out.rank++] = N(s, a)->shape.d[ra - 2];
	out.d[out.rank++] = N(s, b)->shape.d[rb - 1];
	if (!one_batch_axis(s, loc, "'@'", a, ba, b, bb, out))
		return verr();
	NodeId c = graph_matmul(s->g, a, b, 0, 0);
	int rc = N(s, c)->shape.rank;
	if (colb)
		c = reshape_axis(s, c, rc - 1, 0);
	if (rowa)
		c = reshape_axis(s, c, rc - 2, 0);
	return vnode(c);
}

static Val binary(Sema *s, const AstExpr *e, Val l, Val r)
{
	if (l.kind == V_ERR || r.kind == V_ERR)
		return verr();
	if (l.kind == V_NUM && r.kind == V_NUM && e->op != '@') {
		double x = l.num, y = r.num;
		int ii = l.is_int && r.is_int;
		switch (e->op) {
		case '+': return vnum(x + y, ii);
		case '-': return vnum(x - y, ii);
		case '*': return vnum(x * y, ii);
		case '/':
			if (y == 0) {
				diag_error(s->d, e->loc, "division by zero");
				return verr();
			}
			return vnum(x / y, ii && fmod(x, y) == 0);
		case '^': return vnum(pow(x, y), 0);
		}
	}
	const char *opn = binop_name(e->op);
	if (e->op == '^') {
		if (r.kind != V_NUM) {
			diag_error(s->d, e->rhs->loc, "the exponent of '^' must be a constant number");
			return verr();
		}
		NodeId a = as_node(s, l, e->lhs, "the base of '^'");
		if (!a || !check_float(s, a, e->lhs, "^"))
			return verr();
		return vnode(graph_powc(s->g, a, r.num));
	}
	NodeId a = as_node(s, l, e->lhs, "an operand"), b = as_node(s, r, e->rhs, "an operand");
	if (!a || !b)
		return verr();
	if (!check_float(s, a, e->lhs, opn) || !check_float(s, b, e->rhs, opn))
		return verr();
	if (e->op == '@')
		return matmul(s, a, b, e->loc);
	Shape out;
	if (!shape_broadcast(N(s, a)->shape, N(s, b)->shape, &out)) {
		diag_error(s->d, e->loc, "shape mismatch in '%s': %s and %s cannot be broadcast together", opn,
		           shp(s, N(s, a)->shape), shp(s, N(s, b)->shape));
		return verr();
	}
	const Node *na = N(s, a), *nb = N(s, b);
	if (!one_batch_axis(s, e->loc, arena_printf(s->a, "'%s'", opn), a,
	                    na->bax < 0 ? -1 : na->bax + out.rank - na->shape.rank, b,
	                    nb->bax < 0 ? -1 : nb->bax + out.rank - nb->shape.rank, out))
		return verr();
	OpKind op = e->op == '+' ? OP_ADD : e->op == '-' ? OP_SUB : e->op == '*' ? OP_MUL : OP_DIV;
	return vnode(graph_binary(s->g, op, a, b));
}

/* ---- calls ---- */

/* Match call arguments to parameter names; positional first, then named. */
static int bind_args(Sema *s, const AstExpr *call, const char *fname, const char *const *pnames,
                     int np, int nrequired, const AstExpr **out)
{
	for (int i = 0; i < np; i++)
		out[i] = NULL;
	int ok = 1, seen_named = 0;
	for (int i = 0; i < call->nargs; i++) {
		const AstArg *arg = &call->args[i];
		if (!arg->name) {
			if (seen_named) {
				diag_error(s->d, arg->value->loc, "positional argument after a named one in '%s'", fname);
				ok = 0;
				continue;
			}
			if (i >= np) {
				diag_error(s->d, arg->value->loc, "'%s' takes at most %d argument%s, got %d", fname, np,
				           np == 1 ? "" : "s", call->nargs);
				return 0;
			}
			out[i] = arg->value;
			continue;
		}
		seen_named = 1;
		int k = -1;
		for (int j = 0; j < np; j++)
			if (!strcmp(pnames[j], arg->name))
				k = j;
		if (k < 0) {
			const char *best = diag_closest(arg->name, pnames, np);
			diag_error(s->d, arg->name_loc, "'%s' has no argument named '%s'%s", fname, arg->name,
			           best ? arena_printf(s->a, "; did you mean '%s'?", best) : "");
			ok = 0;
			continue;
		}
		if (out[k]) {
			diag_error(s->d, arg->name_loc, "argument '%s' of '%s' is given twice", arg->name, fname);
			ok = 0;
			continue;
		}
		out[k] = arg->value;
	}
	for (int i = 0; ok && i < nrequired; i++)
		if (!out[i]) {
			diag_error(s->d, call->loc, "'%s' needs %d argument%s (%s), got %d", fname, nrequired,
			           nrequired == 1 ? "" : "s", pnames[i], call->nargs);
			ok = 0;
		}
	return ok;
}

/* An integer constant argument such as axis=1; `dflt` if absent. */
static int int_arg(Sema *s, const AstExpr *e, Scope *sc, int64_t dflt, int64_t *out, const char *what)
{
	if (!e) {
		*out = dflt;
		return 1;
	}
	Val v = eval(s, e, sc);
	if (v.kind == V_ERR)
		return 0;
	if (v.kind != V_NUM || !v.is_int) {
		diag_error(s->d, e->loc, "%s must be an integer constant", what);
		return 0;
	}
	*out = (int64_t)v.num;
	return 1;
}

static int axis_arg(Sema *s, const AstExpr *e, Scope *sc, int64_t dflt, int rank, int *axis, const char *fn)
{
	int64_t ax;
	if (!int_arg(s, e, sc, dflt, &ax, "axis"))
		return 0;
	if (ax == INT64_MIN) {
		*axis = -1; /* all axes */
		return 1;
	}
	if (ax < -rank || ax >= rank) {
		diag_error(s->d, e ? e->loc : (SrcLoc){0, 0}, "axis %lld is out of range for '%s' of a rank-%d tensor",
		           (long long)ax, fn, rank);
		return 0;
	}
	*axis = (int)(ax < 0 ? ax + rank : ax);
	return 1;
}

static NodeId tensor_arg(Sema *s, const AstExpr *e, Scope *sc, const char *fn, int need_float)
{
	Val v = eval(s, e, sc);
	NodeId id = as_node(s, v, e, arena_printf(s->a, "the argument of '%s'", fn));
	if (id && need_float && !check_float(s, id, e, fn))
		return 0;
	return id;
}

/* The number of valid elements reduced when `a` is summed over `axis`
 * (-1: all), as a node: it counts only the valid rows of a batch axis. */
static NodeId reduce_count(Sema *s, NodeId a, int axis)
{
	Node *n = N(s, a);
	if (axis < 0) {
		int64_t tot = shape_numel(n->shape);
		if (n->bax >= 0)
			return graph_count(s->g, tot / s->g->batch, 1);
		return graph_const(s->g, (double)tot);
	}
	if (axis == n->bax)
		return graph_count(s->g, graph_batch_slots(s->g, a), 1);
	return graph_const(s->g, (double)n->shape.d[axis]);
}

static void label_classes(Sema *s, NodeId y, int64_t classes, SrcLoc loc)
{
	Node *n = N(s, y);
	if (n->op != OP_INPUT)
		return;
	Tensor *t = &s->g->tensors[n->sym];
	if (t->classes && t->classes != classes) {
		diag_error(s->d, loc, "label '%s' is used with %lld classes here but %lld elsewhere", t->name,
		           (long long)classes, (long long)t->classes);
		return;
	}
	t->classes = classes;
}

static Val call_loss(Sema *s, const AstExpr *e, Scope *sc, const char *fn, const AstExpr **args)
{
	NodeId a = tensor_arg(s, args[0], sc, fn, 1);
	Val vb = eval(s, args[1], sc);
	NodeId b = as_node(s, vb, args[1], arena_printf(s->a, "the target of '%s'", fn));
	if (!a || !b)
		return verr();
	Node *na = N(s, a), *nb = N(s, b);
	if (strcmp(fn, "mse") && (!batch_leading(s, a, args[0]->loc, fn) || !batch_leading(s, b, args[1]->loc, fn)))
		return verr();
	if (!strcmp(fn, "cross_entropy") || !strcmp(fn, "nll")) {
		if (na->shape.rank != 2) {
			diag_error(s->d, args[0]->loc, "'%s' needs %s of shape [N, C], got %s", fn,
			           fn[0] == 'c' ? "logits" : "log-probabilities", shp(s, na->shape));
			return verr();
		}
		if (nb->dtype != DT_I32 || nb->shape.rank != 1) {
			diag_error(s->d, args[1]->loc, "'%s' needs integer class labels i32[N] as its target, got %s%s", fn,
			           dtype_name((DType)nb->dtype), shp(s, nb->shape));
			return verr();
		}
		if (nb->shape.d[0] != na->shape.d[0]) {
			diag_error(s->d, e->loc, "shape mismatch in '%s': %s scores for %s labels (%lld vs %lld rows)", fn,
			           shp(s, na->shape), shp(s, nb->shape), (long long)na->shape.d[0], (long long)nb->shape.d[0]);
			return verr();
		}
		label_classes(s, b, na->shape.d[1], args[1]->loc);
		return vnode(graph_loss(s->g, fn[0] == 'c' ? OP_XENT : OP_NLL, a, b));
	}
	if (!check_float(s, b, args[1], fn))
		return verr();
	if (!shape_eq(na->shape, nb->shape)) {
		diag_error(s->d, e->loc, "shape mismatch in '%s': prediction %s and target %s must have the same shape",
		           fn, shp(s, na->shape), shp(s, nb->shape));
		return verr();
	}
	if (!strcmp(fn, "bce"))
		return vnode(graph_loss(s->g, OP_BCE, a, b));
	/* mse: mean((a - b)^2) over all elements */
	NodeId d2 = graph_powc(s->g, graph_binary(s->g, OP_SUB, a, b), 2);
	NodeId sum = graph_reduce(s->g, OP_SUM, d2, -1, 0);
	return vnode(graph_binary(s->g, OP_DIV, sum, reduce_count(s, d2, -1)));
}


/* ---- convolution, pooling, normalization ---- */

static int need_nchw(Sema *s, NodeId x, const AstExpr *e, const char *fn)
{
	if (N(s, x)->shape.rank != 4) {
		diag_error(s->d, e->loc, "'%s' needs an NCHW tensor [N, C, H, W], got %s", fn, shp(s, N(s, x)->shape));
		return 0;
	}
	return 1;
}

/* stride=2, stride=[2, 1], pad="same": one or two non-negative integers */
static int pair_arg(Sema *s, const AstExpr *e, Scope *sc, int64_t dflt, int64_t out[2], const char *what,
                    int64_t min)
{
	out[0] = out[1] = dflt;
	if (!e)
		return 1;
	Val v = eval(s, e, sc);
	if (v.kind == V_ERR)
		return 0;
	if (v.kind == V_NUM && v.is_int && v.num >= (double)min && v.num < 1e6) {
		out[0] = out[1] = (int64_t)v.num;
		return 1;
	}
	if (v.kind == V_LIST && v.nitems == 2) {
		for (int i = 0; i < 2; i++) {
			if (v.items[i].kind != V_NUM || !v.items[i].is_int || v.items[i].num < (double)min ||
			    v.items[i].num >= 1e6) {
				diag_error(s->d, e->loc, "%s must be integers >= %lld", what, (long long)min);
				return 0;
			}
			out[i] = (int64_t)v.items[i].num;
		}
		return 1;
	}
	diag_error(s->d, e->loc, "%s must be an integer >= %lld or a list [h, w] of two", what, (long long)min);
	return 0;
}

static int window_check(Sema *s, const AstExpr *e, const char *fn, Shape xs, Window w, int exact)
{
	int64_t H = xs.d[2], W = xs.d[3];
	int64_t oh = window_out(H, w.kh, w.sh, w.ph, w.dh), ow = window_out(W, w.kw, w.sw, w.pw, w.dw);
	if (oh < 1 || ow < 1) {
		diag_error(s->d, e->loc, "'%s': the %lldx%lld window (dilation %lldx%lld) is larger than the padded "
		           "input %lldx%lld (input %s, padding %lldx%lld)", fn, (long long)w.kh, (long long)w.kw,
		           (long long)w.dh, (long long)w.dw, (long long)(H + 2 * w.ph), (long long)(W + 2 * w.pw),
		           shp(s, xs), (long long)w.ph, (long long)w.pw);
		return 0;
	}
	if (exact) {
		int64_t rh = (H + 2 * w.ph - w.dh * (w.kh - 1) - 1) % w.sh;
		int64_t rw = (W + 2 * w.pw - w.dw * (w.kw - 1) - 1) % w.sw;
		if (rh || rw) {
			diag_error(s->d, e->loc, "'%s': output size (W - K + 2P)/S + 1 = (%lld - %lld + 2*%lld)/%lld + 1 is "
			           "not an integer (exact = 1 asks that the window tile the input exactly)", fn,
			           (long long)(rh ? H : W), (long long)(rh ? w.dh * (w.kh - 1) + 1 : w.dw * (w.kw - 1) + 1),
			           (long long)(rh ? w.ph : w.pw), (long long)(rh ? w.sh : w.sw));
			return 0;
		}
	}
	return 1;
}

static Val call_conv2d(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"x", "kernel", "bias", "stride", "pad", "dilation", "groups", "exact"};
	const AstExpr *args[8];
	if (!bind_args(s, e, "conv2d", pn, 8, 2, args))
		return verr();
	NodeId x = tensor_arg(s, args[0], sc, "conv2d", 1), k = tensor_arg(s, args[1], sc, "conv2d", 1);
	NodeId b = args[2] ? tensor_arg(s, args[2], sc, "conv2d", 1) : 0;
	if (!x || !k || (args[2] && !b) || !need_nchw(s, x, args[0], "conv2d") ||
	    !batch_leading(s, x, args[0]->loc, "conv2d"))
		return verr();
	Shape xs = N(s, x)->shape, ks = N(s, k)->shape;
	if (ks.rank != 4) {
		diag_error(s->d, args[1]->loc, "the kernel of 'conv2d' must be [C_out, C_in/groups, kh, kw], got %s",
		           shp(s, ks));
		return verr();
	}
	Window w;
	memset(&w, 0, sizeof w);
	int64_t st[2], dl[2], pd[2], groups, exact;
	if (!pair_arg(s, args[3], sc, 1, st, "stride", 1) || !pair_arg(s, args[5], sc, 1, dl, "dilation", 1) ||
	    !int_arg(s, args[6], sc, 1, &groups, "groups") || !int_arg(s, args[7], sc, 0, &exact, "exact"))
		return verr();
	w.kh = ks.d[2];
	w.kw = ks.d[3];
	w.sh = st[0];
	w.sw = st[1];
	w.dh = dl[0];
	w.dw = dl[1];
	w.groups = groups;
	if (args[4] && args[4]->kind == AST_STR) {
		if (strcmp(args[4]->str, "same")) {
			diag_error(s->d, args[4]->loc, "pad must be a number, [h, w] or \"same\"");
			return verr();
		}
		int64_t eh = w.dh * (w.kh - 1), ew = w.dw * (w.kw - 1);
		if (w.sh != 1 || w.sw != 1 || eh % 2 || ew % 2) {
			diag_error(s->d, args[4]->loc, "pad = \"same\" needs stride 1 and an odd effective kernel size, got "
			           "stride %lldx%lld and kernel %lldx%lld", (long long)w.sh, (long long)w.sw,
			           (long long)(eh + 1), (long long)(ew + 1));
			return verr();
		}
		w.ph = eh / 2;
		w.pw = ew / 2;
	} else {
		if (!pair_arg(s, args[4], sc, 0, pd, "pad", 0))
			return verr();
		w.ph = pd[0];
		w.pw = pd[1];
	}
	if (groups < 1 || xs.d[1] % groups || ks.d[0] % groups || ks.d[1] * groups != xs.d[1]) {
		diag_error(s->d, e->loc, "'conv2d': channel mismatch: input %s has %lld channels, the kernel %s expects "
		           "%lld x %lld groups (kernel shape is [C_out, C_in/groups, kh, kw])", shp(s, xs),
		           (long long)xs.d[1], shp(s, ks), (long long)ks.d[1], (long long)groups);
		return verr();
	}
	if (!window_check(s, e, "conv2d", xs, w, (int)exact))
		return verr();
	NodeId y = graph_conv2d(s->g, x, k, w);
	if (b) {
		Shape bs = N(s, b)->shape;
		if (bs.rank != 1 || bs.d[0] != ks.d[0]) {
			diag_error(s->d, args[2]->loc, "the bias of 'conv2d' must be [%lld] (one per output channel), got %s",
			           (long long)ks.d[0], shp(s, bs));
			return verr();
		}
		int64_t d[3] = {ks.d[0], 1, 1};
		y = graph_binary(s->g, OP_ADD, y, graph_reshape(s->g, b, shape_make(3, d)));
	}
	return vnode(y);
}

static Val call_pool(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const pn[] = {"x", "kernel", "stride", "pad", "count_pad", "exact"};
	const AstExpr *args[6];
	if (!bind_args(s, e, fn, pn, 6, 2, args))
		return verr();
	NodeId x = tensor_arg(s, args[0], sc, fn, 1);
	if (!x || !need_nchw(s, x, args[0], fn) || !batch_leading(s, x, args[0]->loc, fn))
		return verr();
	Window w;
	memset(&w, 0, sizeof w);
	int64_t k[2], st[2], pd[2], cp, exact;
	if (!pair_arg(s, args[1], sc, 1, k, "kernel", 1))
		return verr();
	if (!pair_arg(s, args[2], sc, 1, st, "stride", 1) || !pair_arg(s, args[3], sc, 0, pd, "pad", 0) ||
	    !int_arg(s, args[4], sc, 1, &cp, "count_pad") || !int_arg(s, args[5], sc, 0, &exact, "exact"))
		return verr();
	w.kh = k[0];
	w.kw = k[1];
	w.sh = args[2] ? st[0] : k[0];
	w.sw = args[2] ? st[1] : k[1];
	w.ph = pd[0];
	w.pw = pd[1];
	w.dh = w.dw = 1;
	w.groups = 1;
	w.count_pad = cp != 0;
	if (w.ph * 2 > w.kh || w.pw * 2 > w.kw) {
		diag_error(s->d, args[3]->loc, "'%s': padding %lldx%lld must be at most half the window %lldx%lld", fn,
		           (long long)w.ph, (long long)w.pw, (long long)w.kh, (long long)w.kw);
		return verr();
	}
	if (!window_check(s, e, fn, N(s, x)->shape, w, (int)exact))
		return verr();
	return vnode(graph_pool(s->g, fn[0] == 'm' ? OP_MAXPOOL : OP_AVGPOOL, x, w));
}

/* batch_norm(x, gamma, beta): per channel (axis 1) over the batch and the
 * spatial axes; layer_norm(x, gamma, beta): over the last axis. */
static Val call_norm(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const pn[] = {"x", "gamma", "beta", "eps", "momentum"};
	const AstExpr *args[5];
	int bn = fn[0] == 'b';
	if (!bind_args(s, e, fn, pn, bn ? 5 : 4, 3, args))
		return verr();
	NodeId x = tensor_arg(s, args[0], sc, fn, 1), ga = tensor_arg(s, args[1], sc, fn, 1),
	       be = tensor_arg(s, args[2], sc, fn, 1);
	if (!x || !ga || !be)
		return verr();
	double eps = 1e-5, mom = 0.1;
	for (int i = 3; i < (bn ? 5 : 4); i++) {
		if (!args[i])
			continue;
		Val v = eval(s, args[i], sc);
		if (v.kind != V_NUM || v.num < 0 || (i == 4 && v.num > 1)) {
			if (v.kind != V_ERR)
				diag_error(s->d, args[i]->loc, "%s of '%s' must be a number%s", pn[i], fn,
				           i == 4 ? " in [0, 1]" : " >= 0");
			return verr();
		}
		*(i == 3 ? &eps : &mom) = v.num;
	}
	Graph *g = s->g;
	Shape xs = N(s, x)->shape;
	int cax = bn ? 1 : xs.rank - 1;
	if (xs.rank < (bn ? 2 : 1)) {
		diag_error(s->d, args[0]->loc, "'%s' needs a tensor of rank %d or more, got %s", fn, bn ? 2 : 1,
		           shp(s, xs));
		return verr();
	}
	if (bn && !batch_leading(s, x, args[0]->loc, fn))
		return verr();
	int64_t C = xs.d[cax];
	for (int i = 1; i <= 2; i++) {
		Shape ps = N(s, i == 1 ? ga : be)->shape;
		if (ps.rank != 1 || ps.d[0] != C) {
			diag_error(s->d, args[i]->loc, "%s of '%s' must be [%lld] (one per %s), got %s", pn[i], fn,
			           (long long)C, bn ? "channel" : "feature", shp(s, ps));
			return verr();
		}
	}
	/* per-channel shape, broadcastable against x */
	Shape cs = xs;
	for (int i = 0; i < cs.rank; i++)
		if (i != cax)
			cs.d[i] = 1;
	Shape ps = shape_make(xs.rank - cax, cs.d + cax); /* [C, 1, 1] or [C] */
	NodeId gam = graph_reshape(g, ga, ps), bet = graph_reshape(g, be, ps);
	if (bn)
		s->mode_dependent = 1;
	int idx = bn ? s->nstate++ : 0;
	int mean_t = -1, var_t = -1;
	if (bn) {
		/* running statistics: state tensors named after gamma */
		const char *gname = N(s, ga)->op == OP_PARAM ? g->tensors[N(s, ga)->sym].name
		                                            : arena_printf(s->a, "bn%d", idx + 1);
		const char *mn = arena_printf(s->a, "%s_running_mean", gname);
		const char *vn = arena_printf(s->a, "%s_running_var", gname);
		for (int t = 0; t < g->ntensors; t++) {
			if (!strcmp(g->tensors[t].name, mn))
				mean_t = t;
			if (!strcmp(g->tensors[t].name, vn))
				var_t = t;
		}
		if (mean_t < 0) {
			int64_t c1[1] = {C};
			mean_t = graph_add_tensor(g, mn, ROLE_STATE, g->fdtype, shape_make(1, c1), -1, e->loc);
			var_t = graph_add_tensor(g, vn, ROLE_STATE, g->fdtype, shape_make(1, c1), -1, e->loc);
			g->tensors[var_t].init = DLRT_INIT_ONES;
			g->tensors[mean_t].init = DLRT_INIT_ZEROS;
		}
	}
	if (bn && s->eval_mode) {
		NodeId rm = graph_reshape(g, g->tensors[mean_t].node, ps);
		NodeId rv = graph_reshape(g, g->tensors[var_t].node, ps);
		NodeId inv = graph_powc(g, graph_binary(g, OP_ADD, rv, graph_const(g, eps)), -0.5);
		NodeId xh = graph_binary(g, OP_MUL, graph_binary(g, OP_SUB, x, rm), inv);
		return vnode(graph_binary(g, OP_ADD, graph_binary(g, OP_MUL, xh, gam), bet));
	}
	NodeId mean, var, cnt;
	NodeId xc;
	if (bn) {
		cnt = N(s, x)->bax == 0 ? graph_count(g, shape_numel(xs) / (g->batch * C), 1)
		                        : graph_const(g, (double)(shape_numel(xs) / C));
		mean = graph_binary(g, OP_DIV, graph_sumto(g, x, ps), cnt);
		xc = graph_binary(g, OP_SUB, x, mean);
		var = graph_binary(g, OP_DIV, graph_sumto(g, graph_binary(g, OP_MUL, xc, xc), ps), cnt);
	} else {
		cnt = reduce_count(s, x, cax);
		mean = graph_binary(g, OP_DIV, graph_reduce(g, OP_SUM, x, cax, 1), cnt);
		xc = graph_binary(g, OP_SUB, x, mean);
		var = graph_binary(g, OP_DIV, graph_reduce(g, OP_SUM, graph_binary(g, OP_MUL, xc, xc), cax, 1), cnt);
	}
	NodeId inv = graph_powc(g, graph_binary(g, OP_ADD, var, graph_const(g, eps)), -0.5);
	NodeId y = graph_binary(g, OP_ADD, graph_binary(g, OP_MUL, graph_binary(g, OP_MUL, xc, inv), gam), bet);
	if (bn) {
		/* running = (1 - momentum) running + momentum batch (unbiased variance) */
		Model *m = s->m;
		int64_t c1[1] = {C};
		Shape s1 = shape_make(1, c1);
		NodeId unb = graph_binary(g, OP_DIV, graph_binary(g, OP_MUL, var, cnt),
		                          graph_binary(g, OP_SUB, cnt, graph_const(g, 1)));
		NodeId rm = g->tensors[mean_t].node, rv = g->tensors[var_t].node;
		NodeId km = graph_const(g, 1 - mom), kb = graph_const(g, mom);
		NodeId nm = graph_binary(g, OP_ADD, graph_binary(g, OP_MUL, rm, km),
		                         graph_binary(g, OP_MUL, graph_reshape(g, mean, s1), kb));
		NodeId nv = graph_binary(g, OP_ADD, graph_binary(g, OP_MUL, rv, km),
		                         graph_binary(g, OP_MUL, graph_reshape(g, unb, s1), kb));
		m->state_updates = arena_grow(s->a, m->state_updates, (size_t)m->nstate_updates,
		                              (size_t)m->nstate_updates + 2, sizeof(NodeId));
		m->state_updates[m->nstate_updates++] = graph_assign(g, rm, nm);
		m->state_updates[m->nstate_updates++] = graph_assign(g, rv, nv);
	}
	return vnode(y);
}

static Val call_concat(Sema *s, const AstExpr *e, Scope *sc)
{
	const AstExpr *axis_e = NULL;
	int n = 0;
	for (int i = 0; i < e->nargs; i++) {
		if (e->args[i].name) {
			if (strcmp(e->args[i].name, "axis")) {
				diag_error(s->d, e->args[i].name_loc, "'concat' has no argument named '%s'", e->args[i].name);
				return verr();
			}
			axis_e = e->args[i].value;
		}
	}
	NodeId *parts = arena_alloc(s->a, ((size_t)e->nargs + 1) * sizeof(NodeId));
	for (int i = 0; i < e->nargs; i++) {
		if (e->args[i].name)
			continue;
		parts[n] = tensor_arg(s, e->args[i].value, sc, "concat", 1);
		if (!parts[n])
			return verr();
		n++;
	}
	if (n < 2) {
		diag_error(s->d, e->loc, "'concat' joins two or more tensors, got %d", n);
		return verr();
	}
	int rank = N(s, parts[0])->shape.rank, axis;
	if (!axis_arg(s, axis_e, sc, 0, rank, &axis, "concat"))
		return verr();
	Shape a = N(s, parts[0])->shape;
	for (int i = 1; i < n; i++) {
		Shape b = N(s, parts[i])->shape;
		int ok = a.rank == b.rank;
		for (int k = 0; ok && k < a.rank; k++)
			if (k != axis && a.d[k] != b.d[k])
				ok = 0;
		if (!ok) {
			diag_error(s->d, e->args[i].value->loc, "'concat' along axis %d: %s and %s differ in another axis",
			           axis, shp(s, a), shp(s, b));
			return verr();
		}
		int ba = N(s, parts[0])->bax, bb = N(s, parts[i])->bax;
		Shape out = a;
		out.d[axis] += b.d[axis];
		if (!one_batch_axis(s, e->args[i].value->loc, "'concat'", parts[0], ba, parts[i], bb, out))
			return verr();
		if ((ba == axis) != (bb == axis)) {
			diag_error(s->d, e->args[i].value->loc, "'concat' along the batch axis (axis %d) of %s and %s: only "
			           "one of them runs over the batch, so " PARTIAL "; concatenate values computed from the "
			           "batch, or along another axis", axis, shp(s, a), shp(s, b));
			return verr();
		}
	}
	return vnode(graph_concat(s->g, parts, n, axis));
}

/* transpose(x): a 2-D transpose; transpose(x, a, b): axes a and b swapped;
 * permute(x, [p0, p1, ...]): output axis k is axis pk of x. */
static Val call_permute(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const p_tr[] = {"x", "axis0", "axis1"};
	static const char *const p_pm[] = {"x", "axes"};
	const AstExpr *args[3];
	int tr = fn[0] == 't';
	if (!bind_args(s, e, fn, tr ? p_tr : p_pm, tr ? 3 : 2, tr ? 1 : 2, args))
		return verr();
	NodeId x = tensor_arg(s, args[0], sc, fn, 1);
	if (!x)
		return verr();
	Shape sh = N(s, x)->shape;
	int r = sh.rank, perm[MAXRANK];
	for (int k = 0; k < r; k++)
		perm[k] = k;
	if (tr) {
		if (!args[1] && !args[2]) {
			if (r != 2) {
				diag_error(s->d, args[0]->loc, "'transpose' needs a 2-D tensor, got %s", shp(s, sh));
				return verr();
			}
			return vnode(graph_transpose(s->g, x));
		}
		if (!args[1] || !args[2]) {
			diag_error(s->d, e->loc, "'transpose' takes no axes (a 2-D transpose) or two: transpose(x, a, b)");
			return verr();
		}
		int a, b;
		if (!axis_arg(s, args[1], sc, 0, r, &a, fn) || !axis_arg(s, args[2], sc, 0, r, &b, fn))
			return verr();
		perm[a] = b;
		perm[b] = a;
		return vnode(graph_permute(s->g, x, perm));
	}
	const AstExpr *l = args[1];
	if (l->kind != AST_LIST || l->nargs != r) {
		diag_error(s->d, l->loc, "'permute' of a rank-%d tensor %s takes a list of %d axes such as [%s]", r,
		           shp(s, sh), r, r == 1 ? "0" : r == 2 ? "1, 0" : r == 3 ? "0, 2, 1" : "0, 2, 1, 3");
		return verr();
	}
	int seen[MAXRANK] = {0};
	for (int k = 0; k < r; k++) {
		if (!axis_arg(s, l->args[k].value, sc, 0, r, &perm[k], fn))
			return verr();
		if (seen[perm[k]]++) {
			diag_error(s->d, l->args[k].value->loc, "'permute': axis %d appears twice in the permutation", perm[k]);
			return verr();
		}
	}
	return vnode(graph_permute(s->g, x, perm));
}

/* A call of an op of the op table (flag OPF_CALL): its tensor operands
 * (x, or a and b), then its float attribute if it has one (pow's exponent).
 * On numbers it is a number, computed with the op's own scalar rule. */
static Val call_op(Sema *s, const AstExpr *e, Scope *sc, OpKind op)
{
	const char *fn = e->name;
	const OpRules *r = &op_rules[op];
	int ar = op_info[op].arity;
	const char *pn[3];
	const AstExpr *args[3];
	int np = 0;
	if (ar == 1) {
		pn[np++] = "x";
	} else {
		pn[np++] = "a";
		pn[np++] = "b";
	}
	if (r->attr)
		pn[np++] = r->attr;
	if (!bind_args(s, e, fn, pn, np, r->attr && isnan(r->attr_default) ? np : ar, args))
		return verr();
	Val v[2] = {verr(), verr()};
	NodeId in[2] = {0, 0};
	int nums = 1, ints = 1;
	for (int k = 0; k < ar; k++) {
		v[k] = eval(s, args[k], sc);
		if (v[k].kind == V_ERR)
			return verr();
		nums &= v[k].kind == V_NUM;
		ints &= v[k].kind == V_NUM && v[k].is_int;
		if (v[k].kind == V_NUM)
			continue;
		in[k] = as_node(s, v[k], args[k], arena_printf(s->a, "the argument of '%s'", fn));
		if (!in[k] || !check_float(s, in[k], args[k], fn))
			return verr();
	}
	Scalars num = {0, 0, r->attr ? r->attr_default : 0, 0};
	if (r->attr && args[ar]) {
		Val c = eval(s, args[ar], sc);
		if (c.kind == V_ERR)
			return verr();
		if (c.kind != V_NUM) {
			diag_error(s->d, args[ar]->loc, "the %s of '%s' must be a constant number", r->attr, fn);
			return verr();
		}
		num.f = c.num;
	}
	if (nums) {
		num.a = v[0].num;
		num.b = ar > 1 ? v[1].num : 0;
		return vnum(r->eval(num), ints && (op_info[op].flags & OPF_INT));
	}
	for (int k = 0; k < ar; k++)
		if (!in[k])
			in[k] = graph_const(s->g, v[k].num);
	if (ar == 1)
		return vnode(graph_unary_f(s->g, op, in[0], num.f));
	Shape out;
	if (!shape_broadcast(N(s, in[0])->shape, N(s, in[1])->shape, &out)) {
		diag_error(s->d, e->loc, "shape mismatch in '%s': %s and %s cannot be broadcast together", fn,
		           shp(s, N(s, in[0])->shape), shp(s, N(s, in[1])->shape));
		return verr();
	}
	return vnode(graph_binary(s->g, op, in[0], in[1]));
}

/* ---- reductions over axes; where, clamp, argmax, one_hot ---- */

/* The axes of a reduction: none given (all axes: *nax = 0), one, or a list
 * [a, b, ...] of distinct axes in range, sorted. */
static int axes_arg(Sema *s, const AstExpr *e, Scope *sc, int rank, int *axes, int *nax, const char *fn)
{
	*nax = 0;
	if (!e)
		return 1;
	if (e->kind != AST_LIST) {
		*nax = 1;
		return axis_arg(s, e, sc, 0, rank, &axes[0], fn);
	}
	if (e->nargs == 0) {
		diag_error(s->d, e->loc, "the axis list of '%s' is empty; leave out axis to reduce over every axis", fn);
		return 0;
	}
	int seen[MAXRANK] = {0};
	for (int i = 0; i < e->nargs; i++) {
		int ax;
		if (!axis_arg(s, e->args[i].value, sc, 0, rank, &ax, fn))
			return 0;
		if (seen[ax]++) {
			diag_error(s->d, e->args[i].value->loc, "'%s': axis %d appears twice in the axis list", fn, ax);
			return 0;
		}
	}
	for (int k = 0; k < rank; k++)
		if (seen[k])
			axes[(*nax)++] = k;
	return 1;
}

/* `op` (sum or max) of `a` over axes[0..nax) (nax = 0 or every axis: all
 * axes, one reduction), with their axes kept as size 1 or dropped. */
static NodeId reduce_axes(Sema *s, OpKind op, NodeId a, const int *axes, int nax, int keep)
{
	int rank = N(s, a)->shape.rank;
	if (nax == 0 || nax == rank)
		return graph_reduce(s->g, op, a, -1, keep);
	if (nax == 1)
		return graph_reduce(s->g, op, a, axes[0], keep);
	NodeId r = a;
	for (int i = nax; i-- > 0;)
		r = graph_reduce(s->g, op, r, axes[i], 1);
	for (int i = nax; !keep && i-- > 0;)
		r = reshape_axis(s, r, axes[i], 0);
	return r;
}

/* A reduction's result `r` computed with its axes kept (size 1), as the
 * call asked: kept, or dropped. */
static NodeId kept_as(Sema *s, NodeId r, const int *axes, int nax, int keep)
{
	if (keep)
		return r;
	if (nax == 0 || nax == N(s, r)->shape.rank)
		return graph_reshape(s->g, r, shape_scalar());
	for (int i = nax; i-- > 0;)
		r = reshape_axis(s, r, axes[i], 0);
	return r;
}

/* The number of valid elements over the axes (reduce_count's product). */
static NodeId reduce_count_axes(Sema *s, NodeId a, const int *axes, int nax)
{
	if (nax == 0 || nax == N(s, a)->shape.rank)
		return reduce_count(s, a, -1);
	NodeId c = reduce_count(s, a, axes[0]);
	for (int i = 1; i < nax; i++)
		c = graph_binary(s->g, OP_MUL, c, reduce_count(s, a, axes[i]));
	return c;
}

/* sum, mean, max, logsumexp, var, std over no axis (all), one or a list */
static Val call_reduce(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const pn[] = {"x", "axis", "keepdims", "correction"};
	int stat = !strcmp(fn, "var") || !strcmp(fn, "std");
	const AstExpr *args[4];
	if (!bind_args(s, e, fn, pn, stat ? 4 : 3, 1, args))
		return verr();
	NodeId a = tensor_arg(s, args[0], sc, fn, 1);
	if (!a)
		return verr();
	int axes[MAXRANK], nax;
	int64_t keep;
	if (!axes_arg(s, args[1], sc, N(s, a)->shape.rank, axes, &nax, fn) ||
	    !int_arg(s, args[2], sc, 0, &keep, "keepdims"))
		return verr();
	int k = keep != 0;
	if (!strcmp(fn, "sum"))
		return vnode(reduce_axes(s, OP_SUM, a, axes, nax, k));
	if (!strcmp(fn, "max"))
		return vnode(reduce_axes(s, OP_MAX, a, axes, nax, k));
	if (!strcmp(fn, "mean")) {
		NodeId sum = reduce_axes(s, OP_SUM, a, axes, nax, k);
		return vnode(graph_binary(s->g, OP_DIV, sum, reduce_count_axes(s, a, axes, nax)));
	}
	if (!strcmp(fn, "logsumexp")) {
		/* m + log(sum(exp(x - m))), m the maximum (0 where it is infinite,
		 * as torch: a row of -inf gives -inf, not NaN) */
		NodeId m = reduce_axes(s, OP_MAX, a, axes, nax, 1);
		NodeId am = graph_unary(s->g, OP_ABS, m);
		NodeId inf = graph_binary(s->g, OP_EQ, am, graph_const(s->g, INFINITY));
		m = graph_where(s->g, inf, graph_const(s->g, 0), m);
		NodeId ex = graph_unary(s->g, OP_EXP, graph_binary(s->g, OP_SUB, a, m));
		NodeId l = graph_unary(s->g, OP_LOG, reduce_axes(s, OP_SUM, ex, axes, nax, k));
		return vnode(graph_binary(s->g, OP_ADD, l, kept_as(s, m, axes, nax, k)));
	}
	/* var, std: the mean of the squared deviations from the mean (two
	 * passes), divided by count - correction */
	Val cv = vnum(1, 1);
	if (args[3]) {
		cv = eval(s, args[3], sc);
		if (cv.kind == V_ERR)
			return verr();
		if (cv.kind != V_NUM || cv.num < 0) {
			diag_error(s->d, args[3]->loc, "the correction of '%s' must be a non-negative number "
			           "(1: the unbiased estimate, 0: the mean of the squares)", fn);
			return verr();
		}
	}
	NodeId cnt = reduce_count_axes(s, a, axes, nax);
	int64_t fixed = 1;
	int batch = 0;
	for (int i = 0; i < N(s, a)->shape.rank; i++) {
		int in = nax == 0;
		for (int j = 0; j < nax; j++)
			in |= axes[j] == i;
		if (in && i == N(s, a)->bax)
			batch = 1;
		else if (in)
			fixed *= N(s, a)->shape.d[i];
	}
	if (!batch && (double)fixed <= cv.num) {
		diag_error(s->d, e->loc, "'%s' over %lld element%s with correction %g divides by %g", fn, (long long)fixed,
		           fixed == 1 ? "" : "s", cv.num, (double)fixed - cv.num);
		return verr();
	}
	NodeId mean = graph_binary(s->g, OP_DIV, reduce_axes(s, OP_SUM, a, axes, nax, 1), cnt);
	NodeId d2 = graph_powc(s->g, graph_binary(s->g, OP_SUB, a, mean), 2);
	NodeId ss = reduce_axes(s, OP_SUM, d2, axes, nax, k);
	NodeId dof = graph_binary(s->g, OP_SUB, cnt, graph_const(s->g, cv.num));
	NodeId v = graph_binary(s->g, OP_DIV, ss, dof);
	return vnode(fn[0] == 's' ? graph_unary(s->g, OP_SQRT, v) : v);
}

/* where(cond, a, b): a where cond != 0, else b, broadcast together */
static Val call_where(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"cond", "a", "b"};
	const AstExpr *args[3];
	if (!bind_args(s, e, "where", pn, 3, 3, args))
		return verr();
	Val v[3];
	int nums = 1;
	for (int k = 0; k < 3; k++) {
		v[k] = eval(s, args[k], sc);
		if (v[k].kind == V_ERR)
			return verr();
		nums &= v[k].kind == V_NUM;
	}
	if (nums)
		return v[0].num != 0 ? v[1] : v[2];
	NodeId in[3];
	for (int k = 0; k < 3; k++) {
		in[k] = as_node(s, v[k], args[k], "an argument of 'where'");
		if (!in[k] || !check_float(s, in[k], args[k], "where"))
			return verr();
	}
	Shape ab, out;
	if (!shape_broadcast(N(s, in[1])->shape, N(s, in[2])->shape, &ab) ||
	    !shape_broadcast(N(s, in[0])->shape, ab, &out)) {
		diag_error(s->d, e->loc, "shape mismatch in 'where': %s, %s and %s cannot be broadcast together",
		           shp(s, N(s, in[0])->shape), shp(s, N(s, in[1])->shape), shp(s, N(s, in[2])->shape));
		return verr();
	}
	int bx[3];
	for (int k = 0; k < 3; k++) {
		const Node *n = N(s, in[k]);
		bx[k] = n->bax < 0 ? -1 : n->bax + out.rank - n->shape.rank;
	}
	for (int k = 0; k < 3; k++)
		for (int j = k + 1; j < 3; j++)
			if (!one_batch_axis(s, e->loc, "'where'", in[k], bx[k], in[j], bx[j], out))
				return verr();
	return vnode(graph_where(s->g, in[0], in[1], in[2]));
}

/* clamp(x, min, max): either bound may be left out, not both */
static Val call_clamp(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"x", "min", "max"};
	const AstExpr *args[3];
	if (!bind_args(s, e, "clamp", pn, 3, 1, args))
		return verr();
	if (!args[1] && !args[2]) {
		diag_error(s->d, e->loc, "'clamp' needs a bound: min, max or both, as in clamp(x, min = 0, max = 1)");
		return verr();
	}
	Val x = eval(s, args[0], sc);
	if (x.kind == V_ERR)
		return verr();
	double b[2] = {0, 0};
	for (int k = 0; k < 2; k++) {
		if (!args[k + 1])
			continue;
		Val c = eval(s, args[k + 1], sc);
		if (c.kind == V_ERR)
			return verr();
		if (c.kind != V_NUM) {
			diag_error(s->d, args[k + 1]->loc, "the %s of 'clamp' must be a constant number (for a tensor "
			           "bound, use %s(x, bound))", pn[k + 1], k ? "minimum" : "maximum");
			return verr();
		}
		b[k] = c.num;
	}
	if (x.kind == V_NUM) {
		double r = x.num;
		if (args[1] && r < b[0])
			r = b[0];
		if (args[2] && r > b[1])
			r = b[1];
		return vnum(r, x.is_int && (!args[1] || b[0] == floor(b[0])) && (!args[2] || b[1] == floor(b[1])));
	}
	NodeId id = as_node(s, x, args[0], "the argument of 'clamp'");
	if (!id || !check_float(s, id, args[0], "clamp"))
		return verr();
	if (args[1])
		id = graph_unary_f(s->g, OP_CLAMP_MIN, id, b[0]);
	if (args[2])
		id = graph_unary_f(s->g, OP_CLAMP_MAX, id, b[1]);
	return vnode(id);
}

/* argmax(x, axis, keepdims): i32 indices, without a gradient */
static Val call_argmax(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"x", "axis", "keepdims"};
	const AstExpr *args[3];
	if (!bind_args(s, e, "argmax", pn, 3, 2, args))
		return verr();
	NodeId a = tensor_arg(s, args[0], sc, "argmax", 1);
	if (!a)
		return verr();
	int axis;
	int64_t keep;
	if (!axis_arg(s, args[1], sc, 0, N(s, a)->shape.rank, &axis, "argmax") ||
	    !int_arg(s, args[2], sc, 0, &keep, "keepdims"))
		return verr();
	return vnode(graph_argmax(s->g, a, axis, keep != 0));
}

/* one_hot(y, classes): i32 class indices [...] to floats [..., classes] */
static Val call_one_hot(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"y", "classes"};
	const AstExpr *args[2];
	if (!bind_args(s, e, "one_hot", pn, 2, 2, args))
		return verr();
	Val v = eval(s, args[0], sc);
	NodeId y = as_node(s, v, args[0], "the argument of 'one_hot'");
	int64_t c;
	if (!y || !int_arg(s, args[1], sc, 0, &c, "the number of classes of 'one_hot'"))
		return verr();
	const Node *n = N(s, y);
	if (n->dtype != DT_I32) {
		diag_error(s->d, args[0]->loc, "'one_hot' needs integer class indices (i32), got %s%s", dtype_name((DType)n->dtype),
		           shp(s, n->shape));
		return verr();
	}
	if (c < 1) {
		diag_error(s->d, args[1]->loc, "'one_hot' needs 1 or more classes, got %lld", (long long)c);
		return verr();
	}
	if (n->shape.rank >= MAXRANK) {
		diag_error(s->d, e->loc, "'one_hot' of %s: at most %d dimensions are supported", shp(s, n->shape), MAXRANK);
		return verr();
	}
	label_classes(s, y, c, args[0]->loc);
	return vnode(graph_one_hot(s->g, y, c));
}

static Val call_builtin(Sema *s, const AstExpr *e, Scope *sc, int *found)
{
	const char *fn = e->name;
	const AstExpr *args[4];
	*found = 1;
	static const char *const p_x[] = {"x"};
	static const char *const p_sm[] = {"x", "axis"};
	static const char *const p_shape[] = {"x", "shape"};
	static const char *const p_ab[] = {"a", "b"};
	static const char *const p_loss[] = {"input", "target"};
	int op = ops_find(fn);
	if (op >= 0)
		return call_op(s, e, sc, (OpKind)op);
	if (!strcmp(fn, "sum") || !strcmp(fn, "mean") || !strcmp(fn, "max") || !strcmp(fn, "logsumexp") ||
	    !strcmp(fn, "var") || !strcmp(fn, "std"))
		return call_reduce(s, e, sc, fn);
	if (!strcmp(fn, "where"))
		return call_where(s, e, sc);
	if (!strcmp(fn, "clamp"))
		return call_clamp(s, e, sc);
	if (!strcmp(fn, "argmax"))
		return call_argmax(s, e, sc);
	if (!strcmp(fn, "one_hot"))
		return call_one_hot(s, e, sc);
	if (!strcmp(fn, "softmax") || !strcmp(fn, "log_softmax")) {
		if (!bind_args(s, e, fn, p_sm, 2, 1, args))
			return verr();
		NodeId a = tensor_arg(s, args[0], sc, fn, 1);
		int axis;
		if (!a || !axis_arg(s, args[1], sc, -1, N(s, a)->shape.rank, &axis, fn))
			return verr();
		if (N(s, a)->shape.rank == 0) {
			diag_error(s->d, args[0]->loc, "'%s' needs a tensor of rank 1 or more, got a scalar", fn);
			return verr();
		}
		return vnode(graph_softmax(s->g, fn[0] == 's' ? OP_SOFTMAX : OP_LOG_SOFTMAX, a, axis));
	}
	if (!strcmp(fn, "transpose") || !strcmp(fn, "permute"))
		return call_permute(s, e, sc, fn);
	if (!strcmp(fn, "matmul")) {
		if (!bind_args(s, e, fn, p_ab, 2, 2, args))
			return verr();
		NodeId a = tensor_arg(s, args[0], sc, fn, 1), b = tensor_arg(s, args[1], sc, fn, 1);
		if (!a || !b)
			return verr();
		return matmul(s, a, b, e->loc);
	}
	if (!strcmp(fn, "flatten")) {
		if (!bind_args(s, e, fn, p_x, 1, 1, args))
			return verr();
		NodeId a = tensor_arg(s, args[0], sc, fn, 1);
		if (!a)
			return verr();
		Shape sh = N(s, a)->shape;
		if (sh.rank < 1) {
			diag_error(s->d, args[0]->loc, "'flatten' needs a tensor of rank 1 or more, got a scalar");
			return verr();
		}
		int64_t d[2] = {sh.d[0], shape_numel(sh) / sh.d[0]};
		if (!reshape_keeps_batch(s, a, shape_make(2, d), -1, e->loc, fn))
			return verr();
		return vnode(graph_reshape(s->g, a, shape_make(2, d)));
	}
	if (!strcmp(fn, "reshape")) {
		if (!bind_args(s, e, fn, p_shape, 2, 2, args))
			return verr();
		NodeId a = tensor_arg(s, args[0], sc, fn, 1);
		if (!a)
			return verr();
		if (args[1]->kind != AST_LIST) {
			diag_error(s->d, args[1]->loc, "the shape of 'reshape' must be a list such as [B, 784]");
			return verr();
		}
		Shape to;
		memset(&to, 0, sizeof to);
		if (args[1]->nargs > MAXRANK) {
			diag_error(s->d, args[1]->loc, "at most %d dimensions are supported", MAXRANK);
			return verr();
		}
		int infer = -1;
		to.rank = args[1]->nargs;
		for (int i = 0; i < to.rank; i++) {
			const AstExpr *de = args[1]->args[i].value;
			if (de->kind == AST_UNARY && de->lhs->kind == AST_NUM && de->lhs->num == 1 && infer < 0) {
				infer = i;
				to.d[i] = 1;
				continue;
			}
			if (!eval_dim(s, de, &to.d[i]))
				return verr();
		}
		int64_t from = shape_numel(N(s, a)->shape), have = shape_numel(to);
		if (infer >= 0 && have > 0 && from % have == 0)
			to.d[infer] = from / have;
		if (shape_numel(to) != from) {
			diag_error(s->d, e->loc, "cannot reshape %s (%lld elements) to %s (%lld elements)",
			           shp(s, N(s, a)->shape), (long long)from, shp(s, to), (long long)shape_numel(to));
			return verr();
		}
		if (!reshape_keeps_batch(s, a, to, infer, e->loc, fn))
			return verr();
		return vnode(graph_reshape(s->g, a, to));
	}
	if (!strcmp(fn, "conv2d"))
		return call_conv2d(s, e, sc);
	if (!strcmp(fn, "max_pool2d") || !strcmp(fn, "avg_pool2d"))
		return call_pool(s, e, sc, fn);
	if (!strcmp(fn, "global_avg_pool")) {
		if (!bind_args(s, e, fn, p_x, 1, 1, args))
			return verr();
		NodeId x = tensor_arg(s, args[0], sc, fn, 1);
		if (!x || !need_nchw(s, x, args[0], fn) || !batch_leading(s, x, args[0]->loc, fn))
			return verr();
		Shape sh = N(s, x)->shape;
		int64_t k[4] = {sh.d[0], sh.d[1], 1, 1}, f[2] = {sh.d[0], sh.d[1]};
		NodeId sum = graph_sumto(s->g, x, shape_make(4, k));
		NodeId r = graph_reshape(s->g, sum, shape_make(2, f));
		return vnode(graph_binary(s->g, OP_DIV, r, graph_const(s->g, (double)(sh.d[2] * sh.d[3]))));
	}
	if (!strcmp(fn, "batch_norm") || !strcmp(fn, "layer_norm"))
		return call_norm(s, e, sc, fn);
	if (!strcmp(fn, "dropout")) {
		static const char *const pn[] = {"x", "p"};
		if (!bind_args(s, e, fn, pn, 2, 2, args))
			return verr();
		NodeId x = tensor_arg(s, args[0], sc, fn, 1);
		Val p = eval(s, args[1], sc);
		if (!x || p.kind == V_ERR)
			return verr();
		if (p.kind != V_NUM || p.num < 0 || p.num >= 1) {
			diag_error(s->d, args[1]->loc, "the drop probability p of 'dropout' must be a number in [0, 1)");
			return verr();
		}
		s->mode_dependent = 1;
		int salt = ++s->ndropout;
		if (s->eval_mode || p.num == 0)
			return vnode(x);
		s->m->uses_rng = 1;
		NodeId mask = graph_dropout_mask(s->g, N(s, x)->shape, N(s, x)->bax, p.num, salt);
		return vnode(graph_binary(s->g, OP_MUL, x, mask));
	}
	if (!strcmp(fn, "pad")) {
		static const char *const pn[] = {"x", "widths"};
		if (!bind_args(s, e, fn, pn, 2, 2, args))
			return verr();
		NodeId x = tensor_arg(s, args[0], sc, fn, 1);
		if (!x)
			return verr();
		Shape sh = N(s, x)->shape;
		int64_t pad[2 * MAXRANK];
		if (args[1]->kind != AST_LIST || args[1]->nargs != 2 * sh.rank) {
			diag_error(s->d, args[1]->loc, "'pad' of a rank-%d tensor takes a list of %d widths "
			           "[before0, after0, before1, after1, ...]", sh.rank, 2 * sh.rank);
			return verr();
		}
		for (int i = 0; i < 2 * sh.rank; i++)
			if (!eval_dim(s, args[1]->args[i].value, &pad[i]))
				return verr();
		int bax = N(s, x)->bax;
		if (bax >= 0 && (pad[2 * bax] || pad[2 * bax + 1])) {
			diag_error(s->d, args[1]->loc, "'pad' of the batch axis (axis %d of %s) adds rows that are not "
			           "examples, so " PARTIAL "; pad the other axes only", bax, shp(s, sh));
			return verr();
		}
		return vnode(graph_pad(s->g, x, pad));
	}
	if (!strcmp(fn, "slice")) {
		static const char *const pn[] = {"x", "axis", "start", "end"};
		if (!bind_args(s, e, fn, pn, 4, 4, args))
			return verr();
		NodeId x = tensor_arg(s, args[0], sc, fn, 1);
		if (!x)
			return verr();
		Shape sh = N(s, x)->shape;
		int axis;
		int64_t st, en;
		if (!axis_arg(s, args[1], sc, 0, sh.rank, &axis, fn) || !int_arg(s, args[2], sc, 0, &st, "start") ||
		    !int_arg(s, args[3], sc, 0, &en, "end"))
			return verr();
		if (st < 0)
			st += sh.d[axis];
		if (en < 0)
			en += sh.d[axis];
		if (st < 0 || en > sh.d[axis] || st >= en) {
			diag_error(s->d, e->loc, "'slice' range [%lld, %lld) is empty or outside axis %d of %s",
			           (long long)st, (long long)en, axis, shp(s, sh));
			return verr();
		}
		if (axis == N(s, x)->bax && (st % s->g->batch || en % s->g->batch)) {
			diag_error(s->d, e->loc, "'slice' [%lld, %lld) of the batch axis (axis %d of %s) takes fixed rows, "
			           "which a partial last batch may not have; slice the batch axis at multiples of the batch size "
			           "%lld only (e.g. the parts of a concat along it)", (long long)st, (long long)en, axis,
			           shp(s, sh), (long long)s->g->batch);
			return verr();
		}
		return vnode(graph_slice(s->g, x, axis, st, en));
	}
	if (!strcmp(fn, "concat"))
		return call_concat(s, e, sc);
	if (!strcmp(fn, "mse") || !strcmp(fn, "bce") || !strcmp(fn, "cross_entropy") || !strcmp(fn, "nll")) {
		if (!bind_args(s, e, fn, p_loss, 2, 2, args))
			return verr();
		return call_loss(s, e, sc, fn, args);
	}
	*found = 0;
	return verr();
}

static Val call_def(Sema *s, const AstExpr *e, Scope *sc, const AstStmt *def)
{
	const AstExpr *args[64];
	if (def->nparams > 64) {
		diag_error(s->d, e->loc, "'%s' has too many parameters", def->name);
		return verr();
	}
	if (s->depth >= 64) {
		diag_error(s->d, e->loc, "calls nested too deeply (is '%s' recursive?)", def->name);
		return verr();
	}
	if (!bind_args(s, e, def->name, def->params, def->nparams, def->nparams, args))
		return verr();
	Scope inner;
	inner.def = def;
	inner.up = sc;
	inner.call_loc = e->loc;
	inner.vals = arena_alloc(s->a, sizeof(Val) * (size_t)(def->nparams + 1));
	for (int i = 0; i < def->nparams; i++) {
		inner.vals[i] = eval(s, args[i], sc);
		if (inner.vals[i].kind == V_ERR)
			return verr();
	}
	int before = s->d->nerrors;
	s->depth++;
	Val v = eval(s, def->value, &inner);
	s->depth--;
	if (s->d->nerrors > before)
		diag_note(s->d, e->loc, "in this call to '%s'", def->name);
	return v;
}

static Val eval(Sema *s, const AstExpr *e, Scope *sc)
{
	switch (e->kind) {
	case AST_NUM:
		return vnum(e->num, e->is_int);
	case AST_STR: {
		Val v = verr();
		v.kind = V_STR;
		v.str = e->str;
		return v;
	}
	case AST_LIST: {
		Val v = verr();
		v.kind = V_LIST;
		v.nitems = e->nargs;
		v.items = arena_alloc(s->a, sizeof(Val) * (size_t)(e->nargs + 1));
		for (int i = 0; i < e->nargs; i++)
			v.items[i] = eval(s, e->args[i].value, sc);
		return v;
	}
	case AST_NAME: {
		if (sc)
			for (int i = 0; i < sc->def->nparams; i++)
				if (!strcmp(sc->def->params[i], e->name))
					return sc->vals[i];
		Sym *y = lookup(s, e->name);
		if (!y) {
			diag_error(s->d, e->loc, "unknown name '%s'%s", e->name, suggest(s, e->name, 0, sc));
			return verr();
		}
		switch (y->kind) {
		case SYM_DIM: return vnum((double)y->dim, 1);
		case SYM_TENSOR:
		case SYM_VALUE: return y->id ? vnode(y->id) : verr(); /* 0: its definition had an error */
		case SYM_DEF:
			diag_error(s->d, e->loc, "'%s' is a function; call it as %s(...)", e->name, e->name);
			return verr();
		}
		return verr();
	}
	case AST_UNARY: {
		Val v = eval(s, e->lhs, sc);
		if (v.kind == V_NUM)
			return vnum(-v.num, v.is_int);
		NodeId a = as_node(s, v, e->lhs, "the operand of unary '-'");
		if (!a || !check_float(s, a, e->lhs, "-"))
			return verr();
		return vnode(graph_unary(s->g, OP_NEG, a));
	}
	case AST_BINARY: {
		Val l = eval(s, e->lhs, sc);
		Val r = eval(s, e->rhs, sc);
		return binary(s, e, l, r);
	}
	case AST_CALL: {
		if (sc)
			for (int i = 0; i < sc->def->nparams; i++)
				if (!strcmp(sc->def->params[i], e->name)) {
					diag_error(s->d, e->loc, "'%s' is a parameter of '%s', not a function", e->name,
					           sc->def->name);
					return verr();
				}
		Sym *y = lookup(s, e->name);
		if (y && y->kind == SYM_DEF)
			return call_def(s, e, sc, y->def);
		if (y) {
			diag_error(s->d, e->loc, "'%s' is not a function", e->name);
			return verr();
		}
		int found;
		Val v = call_builtin(s, e, sc, &found);
		if (found)
			return v;
		const char *best = NULL;
		int nd = 0;
		const char **cands = arena_alloc(s->a, sizeof(char *) * (size_t)(s->nsyms + NBUILTINS + 1));
		nd += builtins(cands);
		for (int i = 0; i < s->nsyms; i++)
			if (s->syms[i].kind == SYM_DEF)
				cands[nd++] = s->syms[i].name;
		best = diag_closest(e->name, cands, nd);
		diag_error(s->d, e->loc, "unknown function '%s'%s", e->name,
		           best ? arena_printf(s->a, "; did you mean '%s'?", best) : "");
		return verr();
	}
	}
	return verr();
}

/* ---- statements ---- */

static const struct { const char *name; int init; int nargs; } inits[] = {
	{"zeros", DLRT_INIT_ZEROS, 0}, {"ones", DLRT_INIT_ONES, 0}, {"constant", DLRT_INIT_CONST, 1},
	{"uniform", DLRT_INIT_UNIFORM, 2}, {"normal", DLRT_INIT_NORMAL, 2},
	{"xavier_uniform", DLRT_INIT_XAVIER_UNIFORM, 1}, {"glorot_uniform", DLRT_INIT_XAVIER_UNIFORM, 1},
	{"xavier_normal", DLRT_INIT_XAVIER_NORMAL, 1}, {"glorot_normal", DLRT_INIT_XAVIER_NORMAL, 1},
	{"he_uniform", DLRT_INIT_HE_UNIFORM, 1}, {"kaiming_uniform", DLRT_INIT_HE_UNIFORM, 1},
	{"he_normal", DLRT_INIT_HE_NORMAL, 1}, {"kaiming_normal", DLRT_INIT_HE_NORMAL, 1},
};

static void param_init(Sema *s, Tensor *t, const AstExpr *e)
{
	t->init = DLRT_INIT_ZEROS;
	t->init_a = 0;
	t->init_b = 0;
	Shape sh = t->shape;
	if (sh.rank == 0) {
		t->fan_in = t->fan_out = 1;
	} else if (sh.rank == 1) {
		t->fan_in = t->fan_out = sh.d[0];
	} else if (sh.rank == 2) {
		t->fan_in = sh.d[0];
		t->fan_out = sh.d[1];
	} else {
		int64_t rf = shape_numel(sh) / (sh.d[0] * sh.d[1]);
		t->fan_in = sh.d[1] * rf;
		t->fan_out = sh.d[0] * rf;
	}
	if (!e)
		return;
	if (e->kind == AST_NUM || (e->kind == AST_UNARY && e->lhs->kind == AST_NUM)) {
		t->init = DLRT_INIT_CONST;
		t->init_a = e->kind == AST_NUM ? e->num : -e->lhs->num;
		return;
	}
	if (e->kind != AST_NAME && e->kind != AST_CALL) {
		diag_error(s->d, e->loc, "a parameter's initialiser is a name such as he_uniform, a call such as "
		           "normal(0, 0.01), or a number");
		return;
	}
	int k = -1;
	for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++)
		if (!strcmp(inits[i].name, e->name))
			k = (int)i;
	if (k < 0) {
		const char *c[sizeof inits / sizeof inits[0]];
		for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++)
			c[i] = inits[i].name;
		const char *best = diag_closest(e->name, c, (int)(sizeof inits / sizeof inits[0]));
		diag_error(s->d, e->loc, "unknown initialiser '%s'%s", e->name,
		           best ? arena_printf(s->a, "; did you mean '%s'?", best) : "");
		return;
	}
	t->init = inits[k].init;
	double a = 0, b = 0;
	switch (t->init) {
	case DLRT_INIT_NORMAL: b = 1; break;
	case DLRT_INIT_UNIFORM: b = 1; break;
	case DLRT_INIT_CONST: a = 0; break;
	default: a = 1; break; /* gain */
	}
	if (e->kind == AST_CALL) {
		static const char *const pn_normal[] = {"mean", "std"}, *const pn_uniform[] = {"low", "high"},
		                         *const pn_gain[] = {"gain"}, *const pn_const[] = {"value"};
		const char *const *pn = t->init == DLRT_INIT_NORMAL ? pn_normal
		                        : t->init == DLRT_INIT_UNIFORM ? pn_uniform
		                        : t->init == DLRT_INIT_CONST ? pn_const : pn_gain;
		const AstExpr *args[2];
		if (!bind_args(s, e, e->name, pn, inits[k].nargs, 0, args))
			return;
		double *dst[2] = {&a, &b};
		for (int i = 0; i < inits[k].nargs; i++) {
			if (!args[i])
				continue;
			Val v = eval(s, args[i], NULL);
			if (v.kind == V_ERR)
				return;
			if (v.kind != V_NUM) {
				diag_error(s->d, args[i]->loc, "'%s' of '%s' must be a number", pn[i], e->name);
				return;
			}
			*dst[i] = v.num;
		}
	}
	if ((t->init == DLRT_INIT_NORMAL && b < 0) || (t->init == DLRT_INIT_UNIFORM && b < a)) {
		diag_error(s->d, e->loc, "invalid range for '%s'", e->name);
		return;
	}
	t->init_a = a;
	t->init_b = b;
}

static DType decl_dtype(Sema *s, const AstStmt *st, int is_label)
{
	const char *dt = st->type.dtype;
	if (!dt)
		return is_label ? DT_I32 : s->g->fdtype;
	if (!strcmp(dt, "f32") || !strcmp(dt, "f64"))
		return s->g->fdtype;
	if (!strcmp(dt, "i32")) {
		if (!is_label)
			diag_error(s->d, st->type.dtype_loc, "only labels can be integers (i32); inputs and "
			           "parameters are f32 or f64");
		return DT_I32;
	}
	diag_error(s->d, st->type.dtype_loc, "unknown element type '%s' (expected f32, f64 or i32)", dt);
	return s->g->fdtype;
}

static void stmt_tensor(Sema *s, const AstStmt *st)
{
	Shape sh;
	Sym *y;
	if (!eval_type(s, &st->type, &sh)) {
		define(s, st->name, st->name_loc, SYM_TENSOR, &y); /* later uses stay quiet */
		return;
	}
	Role role = st->kind == ST_PARAM ? ROLE_PARAM : st->kind == ST_LABEL ? ROLE_LABEL : ROLE_INPUT;
	DType dt = decl_dtype(s, st, role == ROLE_LABEL);
	int bax = -1;
	if (role != ROLE_PARAM) {
		if (sh.rank == 0) {
			diag_error(s->d, st->type.loc, "%s '%s' needs a batch dimension first, e.g. [B, ...]",
			           role == ROLE_LABEL ? "label" : "input", st->name);
			define(s, st->name, st->name_loc, SYM_TENSOR, &y);
			return;
		}
		if (!s->have_batch) {
			s->g->batch = sh.d[0];
			s->have_batch = 1;
			s->batch_from = st->name;
		} else if (sh.d[0] != s->g->batch) {
			diag_error(s->d, st->type.loc, "'%s' has %lld rows but '%s' has %lld: inputs and labels share "
			           "the batch size (their first dimension)", st->name, (long long)sh.d[0],
			           s->batch_from, (long long)s->g->batch);
			define(s, st->name, st->name_loc, SYM_TENSOR, &y);
			return;
		}
		bax = 0;
	}
	if (!define(s, st->name, st->name_loc, SYM_TENSOR, &y))
		return;
	int ti = graph_add_tensor(s->g, st->name, role, dt, sh, bax, st->name_loc);
	Tensor *t = &s->g->tensors[ti];
	t->trainable = role == ROLE_PARAM;
	if (role == ROLE_PARAM)
		param_init(s, t, st->value);
	y->tensor = ti;
	y->id = t->node;
}

static void name_node(Sema *s, NodeId id, const char *name)
{
	Node *n = N(s, id);
	if (!n->name && !(op_info[n->op].flags & OPF_LEAF))
		n->name = name;
}

static void add_output(Sema *s, const char *name, NodeId id, int hidden)
{
	Model *m = s->m;
	m->outputs = arena_grow(s->a, m->outputs, (size_t)m->noutputs, (size_t)m->noutputs + 1, sizeof(Output));
	Output *o = &m->outputs[m->noutputs++];
	o->name = name;
	o->node = id;
	o->hidden = hidden;
}

/* ---- the train block ---- */

static int data_spec(Sema *s, const AstExpr *e, DataSpec *ds)
{
	memset(ds, 0, sizeof *ds);
	if (e->kind != AST_CALL || (strcmp(e->name, "idx") && strcmp(e->name, "csv") && strcmp(e->name, "npy"))) {
		diag_error(s->d, e->loc, "a dataset is idx(\"images\", \"labels\"), csv(\"file.csv\") or "
		           "npy(\"x.npy\", \"y.npy\")");
		return 0;
	}
	ds->kind = e->name[0] == 'i' ? DATA_IDX : e->name[0] == 'c' ? DATA_CSV : DATA_NPY;
	for (int i = 0; i < e->nargs; i++) {
		const AstArg *a = &e->args[i];
		if (a->name) {
			if (ds->kind == DATA_CSV && !strcmp(a->name, "header") && a->value->kind == AST_NUM) {
				ds->csv_header = a->value->num != 0;
				continue;
			}
			diag_error(s->d, a->name_loc, "'%s' has no argument named '%s'", e->name, a->name);
			return 0;
		}
		if (a->value->kind != AST_STR) {
			diag_error(s->d, a->value->loc, "'%s' takes file names as strings", e->name);
			return 0;
		}
		if (ds->nfiles == 8) {
			diag_error(s->d, a->value->loc, "at most 8 files in a dataset");
			return 0;
		}
		ds->files[ds->nfiles++] = a->value->str;
	}
	if (ds->nfiles == 0) {
		diag_error(s->d, e->loc, "'%s' needs at least one file", e->name);
		return 0;
	}
	if (ds->kind == DATA_CSV && ds->nfiles != 1) {
		diag_error(s->d, e->loc, "'csv' takes one file holding all the columns");
		return 0;
	}
	return 1;
}

/* optimizer = sgd(...) | adam(...) | adamw(...) | rmsprop(...) | adagrad(...) */
static void optimizer_spec(Sema *s, const AstExpr *v)
{
	static const struct {
		const char *name;
		OptKind kind;
		const char *params[6];
	} opts[] = {
		{"sgd", OPT_SGD, {"lr", "momentum", "dampening", "nesterov", "weight_decay", NULL}},
		{"adam", OPT_ADAM, {"lr", "beta1", "beta2", "eps", "weight_decay", NULL}},
		{"adamw", OPT_ADAMW, {"lr", "beta1", "beta2", "eps", "weight_decay", NULL}},
		{"rmsprop", OPT_RMSPROP, {"lr", "alpha", "eps", "momentum", "weight_decay", NULL}},
		{"adagrad", OPT_ADAGRAD, {"lr", "eps", "weight_decay", "initial_accumulator", NULL, NULL}},
		{"newton", OPT_NEWTON, {"damping", "lr", NULL, NULL, NULL, NULL}},
		{"newton_cg", OPT_NEWTON_CG, {"damping", "lr", "cg_iters", NULL, NULL, NULL}},
	};
	const char *names[7];
	int k = -1;
	for (int i = 0; i < 7; i++) {
		names[i] = opts[i].name;
		if ((v->kind == AST_CALL || v->kind == AST_NAME) && !strcmp(v->name, opts[i].name))
			k = i;
	}
	if (k < 0) {
		const char *best = v->kind == AST_CALL || v->kind == AST_NAME ? diag_closest(v->name, names, 7) : NULL;
		diag_error(s->d, v->loc, "unknown optimizer%s%s%s%s; dlc has sgd, adam, adamw, rmsprop, adagrad, newton "
		           "and newton_cg",
		           v->kind == AST_CALL || v->kind == AST_NAME ? " '" : "",
		           v->kind == AST_CALL || v->kind == AST_NAME ? v->name : "",
		           v->kind == AST_CALL || v->kind == AST_NAME ? "'" : "",
		           best ? arena_printf(s->a, " (did you mean '%s'?)", best) : "");
		return;
	}
	OptimSpec *o = &s->m->opt;
	const char **keep_nd = o->no_decay;
	int keep_nnd = o->nno_decay;
	double keep_clip = o->clip_norm;
	optim_defaults(o, opts[k].kind);
	o->no_decay = keep_nd;
	o->nno_decay = keep_nnd;
	o->clip_norm = keep_clip;
	if (v->kind == AST_NAME)
		return;
	int np = 0;
	while (np < 6 && opts[k].params[np])
		np++;
	const AstExpr *args[6];
	if (!bind_args(s, v, opts[k].name, opts[k].params, np, 0, args))
		return;
	for (int j = 0; j < np; j++) {
		if (!args[j])
			continue;
		const char *pn = opts[k].params[j];
		Val x = eval(s, args[j], NULL);
		if (x.kind == V_ERR)
			continue;
		int unit = !strcmp(pn, "momentum") || !strcmp(pn, "dampening") || !strcmp(pn, "beta1") ||
		           !strcmp(pn, "beta2") || !strcmp(pn, "alpha");
		if (x.kind != V_NUM || x.num < 0 || (unit && x.num >= 1) || (!strcmp(pn, "eps") && x.num <= 0)) {
			diag_error(s->d, args[j]->loc, "%s of '%s' must be a number%s", pn, opts[k].name,
			           unit ? " in [0, 1)" : !strcmp(pn, "eps") ? " > 0" : " >= 0");
			continue;
		}
		double val = x.num;
		if (!strcmp(pn, "lr")) o->lr = val;
		else if (!strcmp(pn, "momentum")) o->momentum = val;
		else if (!strcmp(pn, "dampening")) o->dampening = val;
		else if (!strcmp(pn, "nesterov")) o->nesterov = val != 0;
		else if (!strcmp(pn, "weight_decay")) o->weight_decay = val;
		else if (!strcmp(pn, "beta1")) o->beta1 = val;
		else if (!strcmp(pn, "beta2") || !strcmp(pn, "alpha")) o->beta2 = val;
		else if (!strcmp(pn, "eps")) o->eps = val;
		else if (!strcmp(pn, "initial_accumulator")) o->initial_accumulator = val;
		else if (!strcmp(pn, "damping")) o->damping = val;
		else if (!strcmp(pn, "cg_iters")) {
			if (!x.is_int || val < 1) {
				diag_error(s->d, args[j]->loc, "cg_iters must be a positive integer");
				continue;
			}
			o->cg_iters = (int)val;
		}
	}
	if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
		diag_error(s->d, v->loc, "nesterov momentum needs momentum > 0 and dampening 0 (as in torch.optim.SGD)");
}

static void stmt_train(Sema *s, const AstStmt *st)
{
	Model *m = s->m;
	static const char *const keys[] = {"optimizer", "epochs", "data", "test", "data_dir", "byte_scale",
	                                   "clip_norm", "no_weight_decay"};
	for (int i = 0; i < st->nitems; i++) {
		const AstArg *it = &st->items[i];
		const AstExpr *v = it->value;
		int k = -1;
		for (int j = 0; j < 8; j++)
			if (!strcmp(keys[j], it->name))
				k = j;
		switch (k) {
		case 0:
			optimizer_spec(s, v);
			break;
		case 1: {
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM || !x.is_int || x.num < 0 || x.num > 1e6) {
				if (x.kind != V_ERR)
					diag_error(s->d, v->loc, "epochs must be a non-negative integer");
				break;
			}
			m->epochs = (int)x.num;
			break;
		}
		case 2: data_spec(s, v, &m->train_data); break;
		case 3: data_spec(s, v, &m->test_data); break;
		case 4:
			if (v->kind != AST_STR)
				diag_error(s->d, v->loc, "data_dir must be a string");
			else
				m->data_dir = v->str;
			break;
		case 5: {
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM)
				diag_error(s->d, v->loc, "byte_scale must be a number");
			else
				m->byte_scale = x.num;
			break;
		}
		case 6: {
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM || x.num <= 0)
				diag_error(s->d, v->loc, "clip_norm must be a positive number (the largest global gradient norm)");
			else
				m->opt.clip_norm = x.num;
			break;
		}
		case 7: {
			if (v->kind != AST_LIST) {
				diag_error(s->d, v->loc, "no_weight_decay is a list of parameters, e.g. [b1, b2]");
				break;
			}
			m->opt.no_decay = arena_alloc(s->a, sizeof(char *) * (size_t)(v->nargs + 1));
			for (int j = 0; j < v->nargs; j++) {
				const AstExpr *x = v->args[j].value;
				Sym *y = x->kind == AST_NAME ? lookup(s, x->name) : NULL;
				if (!y || y->kind != SYM_TENSOR || s->g->tensors[y->tensor].role != ROLE_PARAM) {
					diag_error(s->d, x->loc, "no_weight_decay lists parameters; %s is not one",
					           x->kind == AST_NAME ? arena_printf(s->a, "'%s'", x->name) : "this");
					continue;
				}
				m->opt.no_decay[m->opt.nno_decay++] = x->name;
			}
			break;
		}
		default: {
			const char *best = diag_closest(it->name, keys, 8);
			diag_error(s->d, it->name_loc, "unknown train setting '%s'%s", it->name,
			           best ? arena_printf(s->a, "; did you mean '%s'?", best)
			                : " (settings: optimizer, epochs, data, test, data_dir, byte_scale, clip_norm, "
			                  "no_weight_decay)");
		}
		}
	}
}

static const char *model_name(Arena *a, const char *file)
{
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	size_t n = strcspn(base, ".");
	char *id = arena_alloc(a, n + 8);
	size_t k = 0;
	if (n == 0 || isdigit((unsigned char)base[0])) {
		memcpy(id, "model_", 6);
		k = 6;
	}
	for (size_t i = 0; i < n; i++)
		id[k++] = isalnum((unsigned char)base[i]) ? base[i] : '_';
	id[k] = 0;
	return id;
}

/* Build the evaluation-mode values: every named value, output and the loss
 * again, with dropout off and batch norm on its running statistics.  Nodes
 * that do not depend on the mode are shared with the training graph. */
static void eval_pass(Sema *s, const AstProgram *p)
{
	Model *m = s->m;
	FILE *devnull = fopen("/dev/null", "w");
	if (!devnull)
		return;
	Diag quiet = *s->d;
	quiet.out = devnull;
	Diag *saved = s->d;
	s->d = &quiet;
	s->eval_mode = 1;
	s->nstate = 0;
	s->ndropout = 0;
	int nout = 0;
	for (int i = 0; i < p->nstmts; i++) {
		const AstStmt *st = p->stmts[i];
		Sym *y = st->name ? lookup(s, st->name) : NULL;
		switch (st->kind) {
		case ST_LET: {
			Val v = eval(s, st->value, NULL);
			NodeId id = v.kind == V_NODE || v.kind == V_NUM ? as_node(s, v, st->value, "a value") : 0;
			if (y && id) {
				y->id = id;
				name_node(s, id, st->name);
			}
			if (st->is_output && nout < m->noutputs) {
				m->eval_outputs[nout] = id ? id : m->outputs[nout].node;
				nout++;
			}
			break;
		}
		case ST_OUTPUT:
			if (y && nout < m->noutputs)
				m->eval_outputs[nout++] = y->id;
			break;
		case ST_LOSS: {
			Val v = eval(s, st->value, NULL);
			if (v.kind == V_NODE) {
				m->eval_loss = v.id;
				const Node *ln = N(s, v.id);
				if (m->accuracy_output >= 0 && m->outputs[m->accuracy_output].hidden &&
				    (ln->op == OP_XENT || ln->op == OP_NLL))
					m->eval_outputs[m->accuracy_output] = ln->in[0];
			}
			break;
		}
		default:
			break;
		}
	}
	s->d = saved;
	s->eval_mode = 0;
	fclose(devnull);
}

Model *sema_build(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs, DType dtype,
                  int force_dtype, int fold, int cse)
{
	Sema s;
	memset(&s, 0, sizeof s);
	s.a = a;
	s.d = d;
	s.defs = defs;
	s.ndefs = ndefs;
	Model *m = arena_alloc(a, sizeof *m);
	s.m = m;
	m->name = model_name(a, p->file);
	m->source = p->file;
	m->accuracy_output = -1;
	m->accuracy_label = -1;
	optim_defaults(&m->opt, OPT_SGD);
	m->epochs = 1;
	m->byte_scale = 1.0 / 255.0;

	/* the element type comes first: every float tensor uses it */
	for (int i = 0; i < p->nstmts; i++) {
		const AstStmt *st = p->stmts[i];
		if (st->kind != ST_DTYPE)
			continue;
		if (!strcmp(st->name, "f32") || !strcmp(st->name, "f64")) {
			if (!force_dtype)
				dtype = st->name[2] == '2' ? DT_F32 : DT_F64;
		} else {
			diag_error(d, st->name_loc, "unknown element type '%s' (expected f32 or f64)", st->name);
		}
	}
	s.g = graph_new(a, dtype);
	s.g->fold = fold;
	s.g->cse = cse;
	m->g = s.g;

	for (int i = 0; i < p->nstmts; i++) {
		const AstStmt *st = p->stmts[i];
		Sym *y;
		switch (st->kind) {
		case ST_DTYPE:
			break;
		case ST_DIM: {
			int64_t v = 0;
			int ok = eval_dim(&s, st->value, &v);
			for (int k = 0; k < ndefs; k++)
				if (!strcmp(defs[k].name, st->name)) {
					v = defs[k].value;
					defs[k].used = 1;
					ok = 1;
				}
			if (ok && v < 1) {
				diag_error(d, st->value->loc, "dim '%s' must be at least 1", st->name);
				ok = 0;
			}
			if (define(&s, st->name, st->name_loc, SYM_DIM, &y)) {
				y->dim = ok ? v : 1;
				m->dim_names = arena_grow(a, m->dim_names, (size_t)m->ndims, (size_t)m->ndims + 1, sizeof(char *));
				m->dim_values = arena_grow(a, m->dim_values, (size_t)m->ndims, (size_t)m->ndims + 1, sizeof(int64_t));
				m->dim_names[m->ndims] = st->name;
				m->dim_values[m->ndims++] = y->dim;
			}
			break;
		}
		case ST_INPUT:
		case ST_LABEL:
		case ST_PARAM:
			stmt_tensor(&s, st);
			break;
		case ST_DEF: {
			for (int k = 0; k < st->nparams; k++)
				for (int j = 0; j < k; j++)
					if (!strcmp(st->params[k], st->params[j]))
						diag_error(d, st->param_locs[k], "parameter '%s' appears twice", st->params[k]);
			if (define(&s, st->name, st->name_loc, SYM_DEF, &y))
				y->def = st;
			break;
		}
		case ST_LET: {
			Val v = eval(&s, st->value, NULL);
			NodeId id = 0;
			if (v.kind == V_NODE || v.kind == V_NUM)
				id = as_node(&s, v, st->value, "a value");
			else if (v.kind != V_ERR)
				diag_error(d, st->value->loc, "'%s' must be a tensor or a number, not a %s", st->name,
				           v.kind == V_STR ? "string" : "list");
			if (!define(&s, st->name, st->name_loc, SYM_VALUE, &y) || !id)
				break;
			y->id = id;
			name_node(&s, id, st->name);
			if (st->is_output)
				add_output(&s, st->name, id, 0);
			break;
		}
		case ST_OUTPUT: {
			Sym *o = lookup(&s, st->name);
			if (!o || (o->kind != SYM_VALUE && o->kind != SYM_TENSOR)) {
				diag_error(d, st->name_loc, "unknown value '%s'%s", st->name, suggest(&s, st->name, 0, NULL));
				break;
			}
			add_output(&s, st->name, o->id, 0);
			break;
		}
		case ST_LOSS: {
			if (m->loss || m->loss_loc.line) {
				diag_error(d, st->loc, "a model has one loss; add the terms into one expression");
				diag_note(d, m->loss_loc, "the first loss is here");
				break;
			}
			m->loss_loc = st->loc;
			Val v = eval(&s, st->value, NULL);
			NodeId id = v.kind == V_NODE ? v.id : 0;
			if (v.kind == V_NUM)
				diag_error(d, st->value->loc, "the loss is a constant; it must depend on the parameters");
			if (!id)
				break;
			if (N(&s, id)->dtype == DT_I32) {
				diag_error(d, st->value->loc, "the loss must be a float value, got integer indices (i32)");
				break;
			}
			if (N(&s, id)->shape.rank != 0) {
				diag_error(d, st->value->loc, "the loss must be a scalar, got a tensor of shape %s "
				           "(reduce it with mean(...) or sum(...))", shp(&s, N(&s, id)->shape));
				break;
			}
			m->loss = id;
			/* accuracy: the argmax of a classification loss's scores */
			const Node *ln = N(&s, id);
			if ((ln->op == OP_XENT || ln->op == OP_NLL) && N(&s, ln->in[1])->op == OP_INPUT) {
				NodeId z = ln->in[0];
				int k = -1;
				for (int j = 0; j < m->noutputs; j++)
					if (m->outputs[j].node == z)
						k = j;
				if (k < 0) {
					const char *nm = N(&s, z)->name ? N(&s, z)->name : "scores";
					add_output(&s, nm, z, 1);
					k = m->noutputs - 1;
				}
				m->accuracy_output = k;
				m->accuracy_label = N(&s, ln->in[1])->sym;
			}
			break;
		}
		case ST_TRAIN:
			stmt_train(&s, st);
			break;
		}
	}
	m->eval_loss = m->loss;
	m->eval_outputs = arena_alloc(a, sizeof(NodeId) * (size_t)(m->noutputs + 1));
	for (int i = 0; i < m->noutputs; i++)
		m->eval_outputs[i] = m->outputs[i].node;
	if (s.mode_dependent && d->nerrors == 0)
		eval_pass(&s, p);
	for (int k = 0; k < ndefs; k++)
		if (!defs[k].used) {
			const char **c = arena_alloc(a, sizeof(char *) * (size_t)(m->ndims + 1));
			for (int j = 0; j < m->ndims; j++)
				c[j] = m->dim_names[j];
			const char *best = diag_closest(defs[k].name, c, m->ndims);
			diag_error(d, (SrcLoc){0, 0}, "-D %s: the program has no dim named '%s'%s", defs[k].name,
			           defs[k].name, best ? arena_printf(a, "; did you mean '%s'?", best) : "");
		}
	return m;
}
