/* sema.c - semantic analysis: names, dims, shapes and types; builds the
 * forward graph.
 *
 * Statements are processed in order, so a name must be defined before it is
 * used.  An expression evaluates to a Val: a graph node (a tensor), a
 * compile-time number, a string, a list, the several results of a function,
 * a layer instance or an initialiser.  Numbers fold at compile time and
 * become constant nodes when they meet a tensor.
 *
 * The program is executed at compile time, once:
 *   - user functions (`def`) are inlined at each call, their parameters
 *     and local names bound in a fresh Scope whose parent is the scope the
 *     def was written in (the top level, whose names are the Syms, or a
 *     layer instance);
 *   - `for` loops are unrolled, one Scope per iteration; `:=` rebinds a
 *     name of an enclosing scope;
 *   - `name = Layer(args)` runs the layer's body once in the instance's own
 *     Scope: its params become the model's tensors `name.W`, its sub-layers
 *     instances `name.sub`, and `name(x)` inlines its `def (x)`.
 * The prelude's layers (compiler/prelude.dl) are defined before the program.
 * Builtin functions are described by tables (name, parameter names, what
 * they build), the elementwise ones by the op table (ops.h). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "sema.h"
#include "ops.h"
#include "autodiff.h"
#include "../runtime/dlrt.h"

extern const char dlc_prelude[]; /* compiler/prelude.dl */

typedef enum { V_ERR = 0, V_NODE, V_NUM, V_STR, V_LIST, V_TUPLE, V_LAYER, V_INIT } ValKind;

typedef struct Instance Instance;

/* What an expression evaluates to.  V_LIST: [a, b] (or an array of layer
 * instances); V_TUPLE: the several results of a function; V_LAYER: a layer
 * instance; V_INIT: an initialiser (str: its name, items: its arguments). */
typedef struct Val {
	ValKind kind;
	NodeId id;
	double num;
	int is_int;
	const char *str;
	struct Val *items;
	int nitems;
	Instance *inst;
	SrcLoc loc;           /* V_INIT: where it was written */
	const AstExpr *expr;  /* V_INIT: the name or call, */
	struct Scope *env;    /* and the scope its arguments are evaluated in */
} Val;

typedef enum { SYM_DIM, SYM_TENSOR, SYM_VALUE, SYM_DEF, SYM_LAYER } SymKind;

/* A name of the program's top level. */
typedef struct Sym {
	const char *name;
	SymKind kind;
	SrcLoc loc;
	int64_t dim;          /* SYM_DIM */
	NodeId id;            /* SYM_TENSOR, SYM_VALUE (a tensor) */
	Val val;              /* SYM_VALUE: any value (layer instances too) */
	int tensor;           /* SYM_TENSOR */
	const AstStmt *def;   /* SYM_DEF, SYM_LAYER */
	int prelude;          /* defined by the prelude: a program may define it again */
} Sym;

/* A name bound inside a scope. */
typedef struct Bind {
	const char *name;
	SrcLoc loc;
	Val v;
} Bind;

/* The names of a function call being inlined, a loop iteration or a layer
 * instance.  Scopes nest lexically: a function's `up` is the scope it was
 * defined in (NULL for the top level, whose names are the Syms), a loop
 * body's the scope around the loop. */
typedef struct Scope {
	Bind *b;
	int nb, cap;
	const AstStmt *def;   /* the function whose body this is, or NULL */
	Instance *self;       /* the layer instance this body or method belongs to */
	int loop;             /* a loop iteration */
	SrcLoc call_loc;
	struct Scope *up;
	int returned;         /* a function body: its `return` ran */
	Val ret;
} Scope;

/* A layer instantiated: `enc = Dense(784, 400)`.  Its scope holds the
 * layer's arguments and members (params, sub-layers, values). */
struct Instance {
	const AstStmt *layer;
	const char *path;     /* "enc", "s.3.l1": the prefix of its params' names */
	Scope *scope;
};

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
	/* Work of inlining: calls of functions and layer instances so far
	 * (weighted); once it and the graph's constructor calls pass
	 * SEMA_WORK_MAX, every further call is refused (`overworked`: the first
	 * refusal was reported). */
	int64_t work;
	int overworked;
	int have_batch;
	const char *batch_from;  /* the input that fixed the batch size */
	int eval_mode;           /* building the evaluation-mode graph */
	int mode_dependent;      /* the program has dropout or batch norm */
	int nstate;              /* batch norms seen in this pass */
	int ndropout;
	int nrandom;             /* random tensors seen in this pass */
	Scope *cur;              /* the scope being executed (dims inside layers and functions) */
	const char *prefix;      /* the instance whose body is executing: its params' names' prefix */
	int in_scan;             /* evaluating the body of a scan */
	/* A cached generator (sema_build_cached): the program for one new token
	 * at a time; each causal attention keeps its keys and values of the
	 * last kv_ctx tokens in carried states, and positions come from the
	 * input kv.position. */
	int64_t kv_ctx;
	int nkv;                 /* attentions seen in this pass */
	int kv_pos;              /* the tensor kv.position, + 1 */
	/* where the program asks for derivatives some ops do not have
	 * (ad_missing_rule): its first grad(...), its first max_pool2d with a
	 * stride below the window, a newton optimizer */
	struct Origin {
		NodeId lo, hi; /* the nodes [lo, hi) it added */
		SrcLoc loc;
		int pool;      /* a max_pool2d (else a grad) */
	} *origins;
	int norigins;
	SrcLoc newton_loc;
	const char *newton_name;
} Sema;

/* A node among those root depends on that has no rule for a derivative of
 * order `order` (ad_first_missing), and why; 0 if none. */
static NodeId missing_derivative(Sema *s, NodeId root, int order, const char **why)
{
	return ad_first_missing(s->g, root, order, why);
}

static void add_origin(Sema *s, NodeId lo, NodeId hi, SrcLoc loc, int pool)
{
	s->origins = arena_grow(s->a, s->origins, (size_t)s->norigins, (size_t)s->norigins + 1, sizeof *s->origins);
	s->origins[s->norigins++] = (struct Origin){lo, hi, loc, pool};
}

/* After the error about such a node: a note at the grad(...) or max_pool2d
 * that added it (the first grad when the node was there before: a shared
 * subgraph). */
static void missing_derivative_note(Sema *s, NodeId bad)
{
	const struct Origin *o = NULL;
	for (int i = 0; i < s->norigins; i++)
		if (s->origins[i].lo <= bad && bad < s->origins[i].hi)
			o = &s->origins[i];
	for (int i = 0; i < s->norigins && !o; i++)
		if (!s->origins[i].pool && graph_node(s->g, bad)->op != OP_MAXPOOL)
			o = &s->origins[i];
	if (o)
		diag_note(s->d, o->loc, o->pool ? "the max_pool2d is here" : "the gradient is taken here");
}

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
	"layer_norm", "dropout", "pad", "concat", "slice", "randn", "rand", "randn_like", "rand_like", "bernoulli",
	"l1", "smooth_l1", "huber", "kl_div", "gaussian_nll",
	"take", "embedding", "conv_transpose2d", "upsample",
	"logsumexp", "var", "std", "where", "clamp", "argmax", "one_hot", "scan", "size", "choose",
	"arange", "heads", "merge_heads", "attention", "positions", "position_rows", "grad", "accuracy",
	"spectral_norm", "categorical", "epsilon_greedy",
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
		n += k->nb;
	const char **c = arena_alloc(s->a, sizeof(char *) * (size_t)(n + 1));
	int k = 0;
	for (const Scope *q = sc; q; q = q->up)
		for (int i = 0; i < q->nb; i++)
			c[k++] = q->b[i].name;
	for (int i = 0; i < s->nsyms; i++)
		if (s->syms[i].kind != SYM_DIM)
			c[k++] = s->syms[i].name;
	for (int i = 0; i < s->nsyms; i++)
		if (s->syms[i].kind == SYM_DIM)
			c[k++] = s->syms[i].name;
	if (with_builtins)
		k += builtins(c + k);
	const char *best = diag_closest(name, c, k);
	return best ? arena_printf(s->a, "; did you mean '%s'?", best) : "";
}

/* Builtins that came after programs could have used their names: a
 * program's own function of that name replaces the builtin in its code (the
 * prelude's code still calls the builtin). */
static int redefinable(const char *name)
{
	static const char *const names[] = {"arange", "heads", "merge_heads", "attention", "positions",
	                                    "position_rows", "grad", "accuracy",
	                                    "spectral_norm", "categorical", "epsilon_greedy"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(names[i], name))
			return 1;
	return 0;
}

static int define(Sema *s, const char *name, SrcLoc loc, SymKind kind, Sym **out)
{
	Sym *old = lookup(s, name);
	if (old && old->prelude) {
		old->name = ""; /* the program's own definition replaces the prelude's */
		old = NULL;
	}
	if (old) {
		diag_error(s->d, loc, "'%s' is already defined", name);
		if (old->loc.line)
			diag_note(s->d, old->loc, "'%s' was defined here", name);
		return 0;
	}
	const char *b[NBUILTINS];
	int nb = builtins(b);
	for (int i = 0; i < nb; i++)
		if (!strcmp(b[i], name) && !redefinable(name)) {
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

/* ---- scopes ---- */

/* The binding of `name` in sc or the scopes around it; *where: its scope. */
static Bind *scope_find(Scope *sc, const char *name, Scope **where)
{
	for (Scope *k = sc; k; k = k->up)
		for (int i = k->nb; i-- > 0;)
			if (!strcmp(k->b[i].name, name)) {
				if (where)
					*where = k;
				return &k->b[i];
			}
	return NULL;
}

static Bind *scope_add(Sema *s, Scope *sc, const char *name, SrcLoc loc, Val v)
{
	if (sc->nb == sc->cap) {
		int ncap = sc->cap ? 2 * sc->cap : 8;
		sc->b = arena_grow(s->a, sc->b, (size_t)sc->cap, (size_t)ncap, sizeof(Bind));
		sc->cap = ncap;
	}
	Bind *b = &sc->b[sc->nb++];
	b->name = name;
	b->loc = loc;
	b->v = v;
	return b;
}

static Scope *scope_new(Sema *s, Scope *up, Instance *self)
{
	Scope *sc = arena_alloc(s->a, sizeof *sc);
	sc->up = up;
	sc->self = self;
	return sc;
}

/* The layer instance whose body or method sc is part of, or NULL. */
static Instance *scope_self(const Scope *sc)
{
	for (; sc; sc = sc->up)
		if (sc->self)
			return sc->self;
	return NULL;
}

static const char *val_kind(Val v)
{
	switch (v.kind) {
	case V_NODE: return "tensor";
	case V_NUM: return "number";
	case V_STR: return "string";
	case V_LIST: return "list";
	case V_TUPLE: return "group of results";
	case V_LAYER: return "layer instance";
	case V_INIT: return "initialiser";
	case V_ERR: break;
	}
	return "value";
}

/* ---- dims: integer expressions over dims and literals ---- */

static Val eval(Sema *s, const AstExpr *e, Scope *sc);

static int eval_dim(Sema *s, const AstExpr *e, int64_t *out)
{
	int64_t a, b;
	switch (e->kind) {
	case AST_NUM:
		if (!e->is_int || e->num < 0) {
			diag_error(s->d, e->loc, "a dimension must be a non-negative integer, got %g", e->num);
			return 0;
		}
		if (e->num > (double)DLC_DIM_MAX) {
			diag_error(s->d, e->loc, "dimension %.0f is too large (at most 2^40 = %lld)", e->num,
			           (long long)DLC_DIM_MAX);
			return 0;
		}
		*out = (int64_t)e->num;
		return 1;
	case AST_NAME: {
		Bind *bd = scope_find(s->cur, e->name, NULL);
		if (bd) {
			if (bd->v.kind == V_ERR)
				return 0;
			if (bd->v.kind != V_NUM || !bd->v.is_int || bd->v.num < 0) {
				diag_error(s->d, e->loc, "'%s' is a %s here, not a dimension (a non-negative integer)", e->name,
				           val_kind(bd->v));
				return 0;
			}
			if (bd->v.num > (double)DLC_DIM_MAX) {
				diag_error(s->d, e->loc, "'%s' = %.0f is too large for a dimension (at most 2^40 = %lld)", e->name,
				           bd->v.num, (long long)DLC_DIM_MAX);
				return 0;
			}
			*out = (int64_t)bd->v.num;
			return 1;
		}
		Sym *y = lookup(s, e->name);
		if (!y) {
			diag_error(s->d, e->loc, "unknown dim '%s'%s", e->name, suggest(s, e->name, 0, s->cur));
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
		case '+':
			if (a + b > DLC_DIM_MAX) {
				diag_error(s->d, e->loc, "dimension %lld + %lld is too large (at most 2^40 = %lld)", (long long)a,
				           (long long)b, (long long)DLC_DIM_MAX);
				return 0;
			}
			*out = a + b;
			return 1;
		case '-':
			if (a < b) {
				diag_error(s->d, e->loc, "dimension %lld - %lld is negative", (long long)a, (long long)b);
				return 0;
			}
			*out = a - b;
			return 1;
		case '*':
			if (a && b > DLC_DIM_MAX / a) {
				diag_error(s->d, e->loc, "dimension %lld * %lld is too large (at most 2^40 = %lld)", (long long)a,
				           (long long)b, (long long)DLC_DIM_MAX);
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
		/* size(x, axis), known when compiling (or a layer's own method named size) */
		if (e->kind == AST_CALL && !strcmp(e->name, "size")) {
			Val v = eval(s, e, s->cur);
			if (v.kind != V_NUM)
				return 0;
			if (!(v.num >= 0 && v.num <= (double)DLC_DIM_MAX) || v.num != floor(v.num)) {
				diag_error(s->d, e->loc, "a dimension must be an integer from 0 to 2^40, got %g", v.num);
				return 0;
			}
			*out = (int64_t)v.num;
			return 1;
		}
		if (e->kind == AST_CALL)
			diag_error(s->d, e->loc, "a dimension must be an integer expression of dims and numbers, known when "
			           "compiling; '%s(...)' is a value of the running model", e->name);
		else
			diag_error(s->d, e->loc, "a dimension must be an integer expression of dims and numbers");
		return 0;
	}
}

/* The element count of sh in words: exact, or about so many once it would
 * not fit an int64_t. */
static const char *numel_text(Sema *s, Shape sh)
{
	int64_t n = shape_numel(sh);
	if (n < INT64_MAX)
		return arena_printf(s->a, "%lld", (long long)n);
	double x = 1;
	for (int i = 0; i < sh.rank; i++)
		x *= (double)sh.d[i];
	return arena_printf(s->a, "about %.3g", x);
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
	if (ok && !shape_fits(*sh)) {
		diag_error(s->d, t->loc, "tensor of shape %s is too large: %s elements, more than the 2^34 = %lld a "
		           "tensor may hold", shp(s, *sh), numel_text(s, *sh), (long long)DLC_NUMEL_MAX);
		ok = 0;
	}
	return ok;
}

/* v, or an error at loc when it is a tensor value with more elements than
 * a tensor may hold, or one whose operation takes more than DLC_FLOPS_MAX
 * flops (graph.c marks such a node as it builds it). */
static Val checked_size(Sema *s, Val v, SrcLoc loc)
{
	NodeId big = s->g->too_large;
	if (!big)
		return v;
	s->g->too_large = 0;
	if (v.kind == V_ERR)
		return v;
	Shape sh = N(s, big)->shape;
	if (shape_fits(sh))
		diag_error(s->d, loc, "this value of shape %s takes too much work: about %.3g flops, more than the 2^52 one "
		           "operation may take", shp(s, sh), graph_work(s->g, big));
	else
		diag_error(s->d, loc, "this value of shape %s is too large: %s elements, more than the 2^34 = %lld a "
		           "tensor may hold", shp(s, sh), numel_text(s, sh), (long long)DLC_NUMEL_MAX);
	return verr();
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
		diag_error(s->d, e->loc, "%s must be a tensor or a number, not a %s", what, val_kind(v));
		return 0;
	}
}

/* Reject integer tensors (class labels, ids) where float arithmetic is asked for. */
static int check_float(Sema *s, NodeId id, const AstExpr *e, const char *op)
{
	if (N(s, id)->dtype == DT_I32 && N(s, id)->op == OP_INPUT && s->g->tensors[N(s, id)->sym].role == ROLE_INPUT) {
		diag_error(s->d, e->loc, "'%s' holds integer ids (i32); '%s' needs float values (integer inputs can only "
		           "select rows with take or embedding)", N(s, id)->name, op);
		return 0;
	}
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
	/* lc.rank + 2 <= MAXRANK: each operand's leading axes number at most MAXRANK - 2 */
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

/* Match call arguments to parameter names; positional first, then named
 * (the parser reports a positional argument after a named one). */
static int bind_args(Sema *s, const AstExpr *call, const char *fname, const char *const *pnames,
                     int np, int nrequired, const AstExpr **out)
{
	for (int i = 0; i < np; i++)
		out[i] = NULL;
	int ok = 1;
	for (int i = 0; i < call->nargs; i++) {
		const AstArg *arg = &call->args[i];
		if (!arg->name) {
			if (i >= np) {
				diag_error(s->d, arg->value->loc, "'%s' takes at most %d argument%s, got %d", fname, np,
				           np == 1 ? "" : "s", call->nargs);
				return 0;
			}
			out[i] = arg->value;
			continue;
		}
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
	if (v.kind != V_NUM || !v.is_int || fabs(v.num) > 9007199254740992.0) { /* 2^53: exact, and an int64_t */
		diag_error(s->d, e->loc, "%s must be an integer constant", what);
		return 0;
	}
	*out = (int64_t)v.num;
	return 1;
}

/* An axis of a rank-`rank` tensor, `dflt` if e is absent; an axis out of
 * range is reported at e, or at the call (`call`) for the default. */
static int axis_arg(Sema *s, const AstExpr *e, Scope *sc, int64_t dflt, int rank, int *axis, const char *fn,
                    SrcLoc call)
{
	int64_t ax;
	if (!int_arg(s, e, sc, dflt, &ax, "axis"))
		return 0;
	if (ax < -rank || ax >= rank) {
		diag_error(s->d, e ? e->loc : call, "axis %lld is out of range for '%s' of a rank-%d tensor",
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

/* The labels' tensor behind reshapes (cross_entropy over [N, ..., C]). */
static Tensor *label_tensor(Sema *s, NodeId y)
{
	while (N(s, y)->op == OP_RESHAPE)
		y = N(s, y)->in[0];
	return N(s, y)->op == OP_INPUT ? &s->g->tensors[N(s, y)->sym] : NULL;
}

static void label_classes(Sema *s, NodeId y, int64_t classes, SrcLoc loc)
{
	Tensor *t = label_tensor(s, y);
	if (!t)
		return;
	if (t->classes && t->classes != classes) {
		diag_error(s->d, loc, "label '%s' is used with %lld classes here but %lld elsewhere", t->name,
		           (long long)classes, (long long)t->classes);
		return;
	}
	t->classes = classes;
}

enum { RED_MEAN, RED_SUM, RED_NONE, RED_BATCHMEAN };

/* reduction = "mean" | "sum" | "none" (| "batchmean" for kl_div) */
static int reduction_arg(Sema *s, const AstExpr *e, Scope *sc, const char *fn, int none_ok, int batchmean_ok,
                         int *out)
{
	*out = RED_MEAN;
	if (!e)
		return 1;
	Val v = eval(s, e, sc);
	if (v.kind == V_ERR)
		return 0;
	static const char *const names[] = {"mean", "sum", "none", "batchmean"};
	if (v.kind == V_STR)
		for (int k = 0; k < 4; k++)
			if (!strcmp(v.str, names[k]) && (k < 3 || batchmean_ok)) {
				*out = k;
				if (k == RED_NONE && !none_ok) {
					diag_error(s->d, e->loc, "'%s' supports reduction \"mean\" and \"sum\", not \"none\" "
					           "(its value is one number per batch)", fn);
					return 0;
				}
				return 1;
			}
	const char *best = v.kind == V_STR ? diag_closest(v.str, names, batchmean_ok ? 4 : 3) : NULL;
	diag_error(s->d, e->loc, "unknown reduction%s%s%s for '%s': expected \"mean\", \"sum\"%s%s%s",
	           v.kind == V_STR ? " \"" : "", v.kind == V_STR ? v.str : "", v.kind == V_STR ? "\"" : "", fn,
	           none_ok ? ", \"none\"" : "", batchmean_ok ? " or \"batchmean\"" : "",
	           best ? arena_printf(s->a, "; did you mean \"%s\"?", best) : "");
	return 0;
}

/* A number argument (`dflt` if absent). */
static int num_arg(Sema *s, const AstExpr *e, Scope *sc, double dflt, double *out, const char *what, const char *fn)
{
	*out = dflt;
	if (!e)
		return 1;
	Val v = eval(s, e, sc);
	if (v.kind == V_ERR)
		return 0;
	if (v.kind != V_NUM) {
		diag_error(s->d, e->loc, "'%s' of '%s' must be a number", what, fn);
		return 0;
	}
	*out = v.num;
	return 1;
}

/* An elementwise loss reduced: the mean over the valid elements, their
 * sum, the elements themselves, or the sum over the rows of axis 0. */
static NodeId reduce_loss(Sema *s, NodeId x, int red)
{
	if (red == RED_NONE)
		return x;
	NodeId sum = graph_reduce(s->g, OP_SUM, x, -1, 0);
	if (red == RED_SUM)
		return sum;
	if (red == RED_BATCHMEAN) {
		const Node *n = N(s, x);
		NodeId rows = n->bax == 0 ? graph_count(s->g, graph_batch_slots(s->g, x), 1)
		                          : graph_const(s->g, (double)n->shape.d[0]);
		return graph_binary(s->g, OP_DIV, sum, rows);
	}
	return graph_binary(s->g, OP_DIV, sum, reduce_count(s, x, -1));
}

/* Whether a value depends on a trainable parameter. */
static int on_trainable(Sema *s, NodeId id)
{
	uint8_t *seen = calloc(s->g->nnodes, 1);
	NodeId *stack = malloc(sizeof(NodeId) * s->g->nnodes);
	if (!seen || !stack)
		DLC_INTERNAL("out of memory");
	int sp = 0, found = 0;
	stack[sp++] = id;
	seen[id] = 1;
	while (sp && !found) {
		const Node *n = N(s, stack[--sp]);
		if (n->op == OP_PARAM && s->g->tensors[n->sym].trainable)
			found = 1;
		for (int k = 0; k < n->nin; k++)
			if (!seen[n->in[k]]) {
				seen[n->in[k]] = 1;
				stack[sp++] = n->in[k];
			}
	}
	free(seen);
	free(stack);
	return found;
}

static NodeId cst(Sema *s, double v) { return graph_const(s->g, v); }
static NodeId bin(Sema *s, OpKind op, NodeId a, NodeId b) { return graph_binary(s->g, op, a, b); }

/* cross_entropy and nll: scores [N, ..., C], labels i32 [N, ...]; the
 * axes between are flattened into the rows ([N k, C], k slots per example). */
static Val class_loss(Sema *s, const AstExpr *e, Scope *sc, const char *fn, const AstExpr **args, NodeId a,
                      NodeId b)
{
	int xent = fn[0] == 'c';
	Node *na = N(s, a), *nb = N(s, b);
	const char *what = xent ? "logits" : "log-probabilities";
	if (na->shape.rank < 2) {
		diag_error(s->d, args[0]->loc, "'%s' needs %s of shape [N, C] or [N, ..., C], got %s", fn, what,
		           shp(s, na->shape));
		return verr();
	}
	Shape rows = shape_make(na->shape.rank - 1, na->shape.d);
	if (nb->dtype != DT_I32 || !shape_eq(nb->shape, rows)) {
		if (nb->dtype == DT_I32 && rows.rank == 1 && nb->shape.rank == 1)
			diag_error(s->d, e->loc, "shape mismatch in '%s': %s scores for %s labels (%lld vs %lld rows)", fn,
			           shp(s, na->shape), shp(s, nb->shape), (long long)na->shape.d[0], (long long)nb->shape.d[0]);
		else if (nb->dtype == DT_I32 && nb->shape.rank == rows.rank)
			diag_error(s->d, e->loc, "shape mismatch in '%s': %s scores for %s labels (the labels have the "
			           "scores' shape without the class axis, %s)", fn, shp(s, na->shape), shp(s, nb->shape),
			           shp(s, rows));
		else
			diag_error(s->d, args[1]->loc, "'%s' needs integer class labels %s as its target, got %s%s", fn,
			           rows.rank == 1 ? "i32[N]" : arena_printf(s->a, "i32%s", shp(s, rows)),
			           dtype_name((DType)nb->dtype), shp(s, nb->shape));
		return verr();
	}
	int64_t C = na->shape.d[na->shape.rank - 1];
	LossOpts o;
	memset(&o, 0, sizeof o);
	int red;
	if (!reduction_arg(s, args[4], sc, fn, 0, 0, &red))
		return verr();
	o.sum = red == RED_SUM;
	if (args[3]) {
		int64_t ig;
		if (!int_arg(s, args[3], sc, -100, &ig, "ignore_index"))
			return verr();
		if (ig < INT32_MIN || ig > INT32_MAX) {
			diag_error(s->d, args[3]->loc, "ignore_index %lld is not an i32 label", (long long)ig);
			return verr();
		}
		o.ignore = 1;
		o.ignore_index = ig;
	}
	if (xent && !num_arg(s, args[5], sc, 0, &o.smoothing, "label_smoothing", fn))
		return verr();
	if (o.smoothing < 0 || o.smoothing >= 1) {
		diag_error(s->d, args[5]->loc, "label_smoothing of '%s' must be in [0, 1), got %g", fn, o.smoothing);
		return verr();
	}
	if (args[2]) {
		NodeId w = tensor_arg(s, args[2], sc, fn, 1);
		if (!w)
			return verr();
		Shape ws = N(s, w)->shape;
		if (ws.rank != 1 || ws.d[0] != C || N(s, w)->bax >= 0) {
			diag_error(s->d, args[2]->loc, "the class weights of '%s' must have shape [%lld] (one per class, "
			           "not per example), got %s", fn, (long long)C, shp(s, ws));
			return verr();
		}
		if (N(s, w)->op == OP_PARAM) {
			/* a buffer, as nn.CrossEntropyLoss's weight: never trained */
			s->g->tensors[N(s, w)->sym].trainable = 0;
		} else if (on_trainable(s, w)) {
			diag_error(s->d, args[2]->loc, "the class weights of '%s' get no gradient (as in PyTorch), so they "
			           "cannot be computed from trainable parameters; pass a param, which then keeps its "
			           "initial value", fn);
			return verr();
		}
		o.weight = w;
	}
	label_classes(s, b, C, args[1]->loc);
	Tensor *lt = label_tensor(s, b);
	if (o.ignore && lt && (o.ignore_index < 0 || o.ignore_index >= C)) {
		if (lt->has_ignore && lt->ignore_label != o.ignore_index) {
			diag_error(s->d, args[3]->loc, "label '%s' ignores %lld here but %lld elsewhere", lt->name,
			           (long long)o.ignore_index, (long long)lt->ignore_label);
			return verr();
		}
		lt->has_ignore = 1;
		lt->ignore_label = o.ignore_index;
	}
	if (na->shape.rank > 2) {
		/* [N, ..., C] -> [N k, C], [N, ...] -> [N k] */
		int64_t k = shape_numel(rows);
		Shape z2 = shape_make(2, (int64_t[]){k, C}), y1 = shape_make(1, (int64_t[]){k});
		if (!reshape_keeps_batch(s, a, z2, -1, e->loc, fn) || !reshape_keeps_batch(s, b, y1, -1, e->loc, fn))
			return verr();
		a = graph_reshape(s->g, a, z2);
		b = graph_reshape(s->g, b, y1);
	}
	return vnode(graph_loss_ex(s->g, xent ? OP_XENT : OP_NLL, a, b, &o));
}

static const struct {
	const char *name;
	int nparams, nrequired;
	const char *params[6];
} loss_fns[] = {
	{"mse", 3, 2, {"input", "target", "reduction"}},
	{"l1", 3, 2, {"input", "target", "reduction"}},
	{"bce", 3, 2, {"input", "target", "reduction"}},
	{"cross_entropy", 6, 2, {"input", "target", "weight", "ignore_index", "reduction", "label_smoothing"}},
	{"nll", 5, 2, {"input", "target", "weight", "ignore_index", "reduction"}},
	{"smooth_l1", 4, 2, {"input", "target", "reduction", "beta"}},
	{"huber", 4, 2, {"input", "target", "reduction", "delta"}},
	{"kl_div", 4, 2, {"input", "target", "reduction", "log_target"}},
	{"gaussian_nll", 6, 3, {"input", "target", "var", "full", "eps", "reduction"}},
};

static int is_loss(const char *fn)
{
	for (size_t k = 0; k < sizeof loss_fns / sizeof loss_fns[0]; k++)
		if (!strcmp(fn, loss_fns[k].name))
			return 1;
	return 0;
}

static Val call_loss(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	int L = 0;
	while (strcmp(loss_fns[L].name, fn))
		L++;
	const AstExpr *args[6];
	if (!bind_args(s, e, fn, loss_fns[L].params, loss_fns[L].nparams, loss_fns[L].nrequired, args))
		return verr();
	NodeId a = tensor_arg(s, args[0], sc, fn, 1);
	Val vb = eval(s, args[1], sc);
	NodeId b = as_node(s, vb, args[1], arena_printf(s->a, "the target of '%s'", fn));
	if (!a || !b)
		return verr();
	Node *na = N(s, a), *nb = N(s, b);
	int classes = !strcmp(fn, "cross_entropy") || !strcmp(fn, "nll");
	if ((classes || !strcmp(fn, "bce")) &&
	    (!batch_leading(s, a, args[0]->loc, fn) || !batch_leading(s, b, args[1]->loc, fn)))
		return verr();
	if (classes)
		return class_loss(s, e, sc, fn, args, a, b);
	if (!check_float(s, b, args[1], fn))
		return verr();
	if (!shape_eq(na->shape, nb->shape)) {
		diag_error(s->d, e->loc, "shape mismatch in '%s': prediction %s and target %s must have the same shape",
		           fn, shp(s, na->shape), shp(s, nb->shape));
		return verr();
	}
	int red, gauss = !strcmp(fn, "gaussian_nll"), kl = !strcmp(fn, "kl_div");
	int ri = gauss ? 5 : 2;
	if (!reduction_arg(s, args[ri], sc, fn, strcmp(fn, "bce") != 0, kl, &red))
		return verr();
	if (!strcmp(fn, "bce")) {
		LossOpts o;
		memset(&o, 0, sizeof o);
		o.sum = red == RED_SUM;
		return vnode(graph_loss_ex(s->g, OP_BCE, a, b, &o));
	}
	NodeId d = bin(s, OP_SUB, a, b);
	if (!strcmp(fn, "mse")) /* mean((a - b)^2) over all elements */
		return vnode(reduce_loss(s, graph_powc(s->g, d, 2), red));
	NodeId ad = graph_unary(s->g, OP_ABS, d);
	if (!strcmp(fn, "l1"))
		return vnode(reduce_loss(s, ad, red));
	if (!strcmp(fn, "smooth_l1") || !strcmp(fn, "huber")) {
		/* with r = relu(|d| - beta) and c = |d| - r (|d| clamped to beta):
		 * smooth_l1 = c^2 / (2 beta) + r, huber = c^2 / 2 + delta r */
		int hub = fn[0] == 'h';
		const char *pn = hub ? "delta" : "beta";
		double beta;
		if (!num_arg(s, args[3], sc, 1.0, &beta, pn, fn))
			return verr();
		if (beta < 0 || (hub && beta == 0)) {
			diag_error(s->d, args[3]->loc, "'%s' of '%s' must be %s, got %g", pn, fn,
			           hub ? "positive" : "non-negative", beta);
			return verr();
		}
		if (beta == 0)
			return vnode(reduce_loss(s, ad, red));
		NodeId r = graph_unary(s->g, OP_RELU, bin(s, OP_SUB, ad, cst(s, beta)));
		NodeId c = bin(s, OP_SUB, ad, r);
		NodeId q = bin(s, OP_MUL, bin(s, OP_MUL, c, c), cst(s, hub ? 0.5 : 0.5 / beta));
		return vnode(reduce_loss(s, bin(s, OP_ADD, q, hub ? bin(s, OP_MUL, r, cst(s, beta)) : r), red));
	}
	if (kl) {
		/* input: log-probabilities; target: probabilities, or their logs */
		int64_t lt;
		if (!int_arg(s, args[3], sc, 0, &lt, "log_target"))
			return verr();
		NodeId x;
		if (lt)
			x = bin(s, OP_MUL, graph_unary(s->g, OP_EXP, b), bin(s, OP_SUB, b, a));
		else /* xlogy(t, t) - t a, with 0 log 0 = 0 */
			x = bin(s, OP_SUB,
			        bin(s, OP_MUL, b, graph_unary(s->g, OP_LOG, bin(s, OP_ADD, b, bin(s, OP_EQ, b, cst(s, 0))))),
			        bin(s, OP_MUL, b, a));
		if (red == RED_BATCHMEAN && na->shape.rank == 0)
			red = RED_SUM;
		return vnode(reduce_loss(s, x, red));
	}
	/* gaussian_nll: var of the input's shape, or without its last axis, or
	 * with 1 there; clamped below at eps */
	NodeId v = tensor_arg(s, args[2], sc, fn, 1);
	if (!v)
		return verr();
	Shape vs = N(s, v)->shape, xs = na->shape;
	int r = xs.rank;
	Shape lead = shape_make(r > 0 ? r - 1 : 0, xs.d);
	int ok = shape_eq(vs, xs);
	if (!ok && r > 0 && shape_eq(vs, lead)) {
		v = reshape_axis(s, v, r - 1, 1);
		ok = 1;
	} else if (!ok && r > 0 && vs.rank == r && vs.d[r - 1] == 1 && shape_eq(shape_make(r - 1, vs.d), lead)) {
		ok = 1;
	}
	if (!ok) {
		diag_error(s->d, args[2]->loc, "the variance of 'gaussian_nll' must have the input's shape %s, or that "
		           "shape without its last axis or with 1 there, got %s", shp(s, xs), shp(s, vs));
		return verr();
	}
	const Node *nv = N(s, v);
	if (!one_batch_axis(s, e->loc, "'gaussian_nll'", a, na->bax, v, nv->bax, xs))
		return verr();
	double eps;
	int64_t full;
	if (!int_arg(s, args[3], sc, 0, &full, "full") || !num_arg(s, args[4], sc, 1e-6, &eps, "eps", fn))
		return verr();
	if (eps <= 0) {
		diag_error(s->d, args[4]->loc, "'eps' of 'gaussian_nll' must be positive, got %g", eps);
		return verr();
	}
	NodeId vc = bin(s, OP_ADD, v, graph_unary(s->g, OP_RELU, bin(s, OP_SUB, cst(s, eps), v)));
	NodeId x = bin(s, OP_MUL, bin(s, OP_ADD, graph_unary(s->g, OP_LOG, vc), bin(s, OP_DIV, graph_powc(s->g, d, 2), vc)),
	               cst(s, 0.5));
	if (full)
		x = bin(s, OP_ADD, x, cst(s, 0.5 * log(2 * 3.14159265358979323846)));
	return vnode(reduce_loss(s, x, red));
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
	if (groups < 1 || ks.d[0] % groups) {
		diag_error(s->d, args[6] ? args[6]->loc : e->loc, "the groups of 'conv2d' must be a positive integer that "
		           "divides the kernel's %lld output channels (kernel %s), got %lld", (long long)ks.d[0], shp(s, ks),
		           (long long)groups);
		return verr();
	}
	if (ks.d[1] * groups != xs.d[1]) { /* no overflow: groups <= C_out, and the kernel fits */
		diag_error(s->d, e->loc, "'conv2d': channel mismatch: input %s has %lld channels, the kernel %s expects "
		           "%lld x %lld groups (kernel shape is [C_out, C_in/groups, kh, kw])", shp(s, xs),
		           (long long)xs.d[1], shp(s, ks), (long long)ks.d[1], (long long)groups);
		return verr();
	}
	if (!window_check(s, e, "conv2d", xs, w, (int)exact))
		return verr();
	NodeId y;
	if (w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.ph == 0 && w.pw == 0 && groups == 1) {
		/* a 1x1 convolution is a product per example: [C_out, C_in] @ [C_in, H W] */
		int64_t kd[2] = {ks.d[0], ks.d[1]}, xd[3] = {xs.d[0], xs.d[1], xs.d[2] * xs.d[3]};
		int64_t yd[4] = {xs.d[0], ks.d[0], xs.d[2], xs.d[3]};
		y = graph_reshape(s->g, graph_matmul(s->g, graph_reshape(s->g, k, shape_make(2, kd)),
		                                     graph_reshape(s->g, x, shape_make(3, xd)), 0, 0),
		                  shape_make(4, yd));
	} else {
		y = graph_conv2d(s->g, x, k, w);
	}
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
	NodeId y = graph_pool(s->g, fn[0] == 'm' ? OP_MAXPOOL : OP_AVGPOOL, x, w);
	if (fn[0] == 'm' && (w.sh < w.kh || w.sw < w.kw))
		add_origin(s, y, y + 1, e->loc, 1);
	return vnode(y);
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
	if (!axis_arg(s, axis_e, sc, 0, rank, &axis, "concat", e->loc))
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
		if (!axis_arg(s, args[1], sc, 0, r, &a, fn, e->loc) || !axis_arg(s, args[2], sc, 0, r, &b, fn, e->loc))
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
		if (!axis_arg(s, l->args[k].value, sc, 0, r, &perm[k], fn, e->loc))
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

/* randn(shape), rand(shape), randn_like(x), rand_like(x), bernoulli(p):
 * random tensors drawn anew at every step from the trainer's seed (the
 * same draws in the evaluation-mode graph).  A shape whose first axis is
 * the batch size has one row per example. */
static Val call_random(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const p_shape[] = {"shape"}, *const p_x[] = {"x"}, *const p_p[] = {"p"};
	const AstExpr *args[1];
	int like = strstr(fn, "_like") != NULL, bern = fn[0] == 'b';
	if (!bind_args(s, e, fn, like ? p_x : bern ? p_p : p_shape, 1, 1, args))
		return verr();
	Shape sh;
	int bax = -1;
	NodeId p = 0;
	if (like || bern) {
		p = tensor_arg(s, args[0], sc, fn, 1);
		if (!p)
			return verr();
		sh = N(s, p)->shape;
		bax = N(s, p)->bax;
	} else {
		if (args[0]->kind != AST_LIST) {
			diag_error(s->d, args[0]->loc, "the shape of '%s' must be a list of dims such as [B, 20]", fn);
			return verr();
		}
		if (args[0]->nargs > MAXRANK) {
			diag_error(s->d, args[0]->loc, "at most %d dimensions are supported", MAXRANK);
			return verr();
		}
		memset(&sh, 0, sizeof sh);
		sh.rank = args[0]->nargs;
		for (int i = 0; i < sh.rank; i++) {
			if (!eval_dim(s, args[0]->args[i].value, &sh.d[i]))
				return verr();
			if (sh.d[i] < 1) {
				diag_error(s->d, args[0]->args[i].value->loc, "a dimension must be at least 1");
				return verr();
			}
		}
		if (sh.rank > 0 && s->have_batch && sh.d[0] == s->g->batch)
			bax = 0;
	}
	s->m->uses_rng = 1;
	int index = s->nrandom++;
	if (s->m->nrandom < s->nrandom)
		s->m->nrandom = s->nrandom;
	NodeId r = graph_random(s->g, sh, bax, fn[4] == 'n' || !strcmp(fn, "randn_like"), 1000 + index, index);
	if (bern) /* 1 where u < p */
		r = graph_unary(s->g, OP_STEP, graph_binary(s->g, OP_SUB, p, r));
	return vnode(r);
}

/* ---- gathers, transposed convolution, upsampling ---- */

/* take(table, ids) with ids known at compile time: an integer (one row,
 * table.shape[1:]) or a list of integers ([len, ...]); slices of the table. */
static Val take_const(Sema *s, NodeId table, Val v, const AstExpr *ie, const char *fn)
{
	Shape ts = N(s, table)->shape;
	int nid = v.kind == V_LIST ? v.nitems : 1;
	if (nid == 0) {
		diag_error(s->d, ie->loc, "the ids of '%s' are an empty list", fn);
		return verr();
	}
	NodeId *rows = arena_alloc(s->a, sizeof(NodeId) * (size_t)nid);
	for (int k = 0; k < nid; k++) {
		Val it = v.kind == V_LIST ? v.items[k] : v;
		SrcLoc loc = v.kind == V_LIST && ie->kind == AST_LIST ? ie->args[k].value->loc : ie->loc;
		if (it.kind == V_ERR)
			return verr();
		if (it.kind != V_NUM || !it.is_int) {
			diag_error(s->d, loc, "the ids of '%s' must be integers: an i32 tensor, an integer or a list of "
			           "integers", fn);
			return verr();
		}
		if (it.num < 0 || it.num >= (double)ts.d[0]) {
			diag_error(s->d, loc, "'%s': id %.17g is out of range for a table of %lld rows %s (ids are in [0, %lld))",
			           fn, it.num, (long long)ts.d[0], shp(s, ts), (long long)ts.d[0]);
			return verr();
		}
		rows[k] = graph_slice(s->g, table, 0, (int64_t)it.num, (int64_t)it.num + 1);
	}
	if (v.kind == V_LIST)
		return vnode(graph_concat(s->g, rows, nid, 0));
	return vnode(graph_reshape(s->g, rows[0], shape_make(ts.rank - 1, ts.d + 1)));
}

/* take(table, ids), embedding(ids, table): the rows of table selected by
 * integer ids of any shape, ids.shape + table.shape[1:]. */
static Val call_take(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const p_take[] = {"table", "ids"}, *const p_emb[] = {"ids", "table"};
	const AstExpr *args[2];
	int emb = fn[0] == 'e';
	if (!bind_args(s, e, fn, emb ? p_emb : p_take, 2, 2, args))
		return verr();
	const AstExpr *te = args[emb], *ie = args[!emb];
	NodeId table = tensor_arg(s, te, sc, fn, 0);
	Val iv = eval(s, ie, sc);
	if (!table || iv.kind == V_ERR)
		return verr();
	Shape ts = N(s, table)->shape;
	if (N(s, table)->dtype == DT_I32) {
		diag_error(s->d, te->loc, "the table of '%s' must hold float values, got the integers i32%s", fn,
		           shp(s, ts));
		return verr();
	}
	if (ts.rank < 1) {
		diag_error(s->d, te->loc, "the table of '%s' must have its rows along axis 0, got a scalar", fn);
		return verr();
	}
	if (N(s, table)->bax >= 0) {
		diag_error(s->d, te->loc, "'%s' selects rows of a table that runs over the batch (axis %d of %s), so "
		           PARTIAL "; take rows of a table that does not depend on the batch", fn, N(s, table)->bax,
		           shp(s, ts));
		return verr();
	}
	if (iv.kind == V_NUM || iv.kind == V_LIST)
		return take_const(s, table, iv, ie, fn);
	NodeId ids = as_node(s, iv, ie, arena_printf(s->a, "the ids of '%s'", fn));
	if (!ids)
		return verr();
	const Node *ni = N(s, ids);
	if (ni->dtype != DT_I32) {
		diag_error(s->d, ie->loc, "the ids of '%s' must be integers (i32), got %s%s; declare them as "
		           "`input NAME : i32[...]`", fn, dtype_name((DType)ni->dtype), shp(s, ni->shape));
		return verr();
	}
	if (ni->shape.rank + ts.rank - 1 > MAXRANK) {
		diag_error(s->d, e->loc, "'%s' of a table %s by ids %s: at most %d dimensions are supported", fn,
		           shp(s, ts), shp(s, ni->shape), MAXRANK);
		return verr();
	}
	if (ni->op == OP_INPUT) {
		/* the trainer checks that the ids it loads are rows of every table */
		Tensor *t = &s->g->tensors[ni->sym];
		if (t->role == ROLE_LABEL && t->classes > ts.d[0]) {
			diag_error(s->d, ie->loc, "label '%s' holds %lld classes, but the table of '%s' has %lld rows %s",
			           t->name, (long long)t->classes, fn, (long long)ts.d[0], shp(s, ts));
			return verr();
		}
		if (!t->classes || t->classes > ts.d[0])
			t->classes = ts.d[0];
	}
	return vnode(graph_take(s->g, table, ids));
}

/* conv_transpose2d(x, kernel [C_in, C_out, kh, kw], ...): the adjoint of a
 * convolution with that kernel, as torch.nn.functional.conv_transpose2d. */
static Val call_conv_transpose2d(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"x", "kernel", "bias", "stride", "pad", "output_padding", "dilation"};
	const char *fn = "conv_transpose2d";
	const AstExpr *args[7];
	if (!bind_args(s, e, fn, pn, 7, 2, args))
		return verr();
	NodeId x = tensor_arg(s, args[0], sc, fn, 1), k = tensor_arg(s, args[1], sc, fn, 1);
	NodeId b = args[2] ? tensor_arg(s, args[2], sc, fn, 1) : 0;
	if (!x || !k || (args[2] && !b) || !need_nchw(s, x, args[0], fn) || !batch_leading(s, x, args[0]->loc, fn))
		return verr();
	Shape xs = N(s, x)->shape, ks = N(s, k)->shape;
	if (ks.rank != 4) {
		diag_error(s->d, args[1]->loc, "the kernel of '%s' must be [C_in, C_out, kh, kw], got %s", fn, shp(s, ks));
		return verr();
	}
	int64_t st[2], pd[2], op[2], dl[2];
	if (!pair_arg(s, args[3], sc, 1, st, "stride", 1) || !pair_arg(s, args[4], sc, 0, pd, "pad", 0) ||
	    !pair_arg(s, args[5], sc, 0, op, "output_padding", 0) || !pair_arg(s, args[6], sc, 1, dl, "dilation", 1))
		return verr();
	if (ks.d[0] != xs.d[1]) {
		diag_error(s->d, e->loc, "'%s': channel mismatch: input %s has %lld channels, the kernel %s expects %lld "
		           "(kernel shape is [C_in, C_out, kh, kw])", fn, shp(s, xs), (long long)xs.d[1], shp(s, ks),
		           (long long)ks.d[0]);
		return verr();
	}
	if (op[0] >= st[0] || op[1] >= st[1]) {
		diag_error(s->d, args[5]->loc, "'%s': output_padding %lldx%lld must be smaller than the stride %lldx%lld", fn,
		           (long long)op[0], (long long)op[1], (long long)st[0], (long long)st[1]);
		return verr();
	}
	int64_t d[4] = {xs.d[0], ks.d[1], 0, 0};
	for (int i = 0; i < 2; i++) {
		d[2 + i] = (xs.d[2 + i] - 1) * st[i] - 2 * pd[i] + dl[i] * (ks.d[2 + i] - 1) + op[i] + 1;
		if (d[2 + i] < 1) {
			diag_error(s->d, e->loc, "'%s': the output %s would be %lld: (%lld - 1) * %lld - 2 * %lld + %lld * (%lld - 1) "
			           "+ %lld + 1, that is (in - 1) stride - 2 pad + dilation (kernel - 1) + output_padding + 1", fn,
			           i ? "width" : "height", (long long)d[2 + i], (long long)xs.d[2 + i], (long long)st[i],
			           (long long)pd[i], (long long)dl[i], (long long)ks.d[2 + i], (long long)op[i]);
			return verr();
		}
	}
	Window w;
	memset(&w, 0, sizeof w);
	w.kh = ks.d[2];
	w.kw = ks.d[3];
	w.sh = st[0];
	w.sw = st[1];
	w.ph = pd[0];
	w.pw = pd[1];
	w.dh = dl[0];
	w.dw = dl[1];
	w.groups = 1;
	NodeId y = graph_conv2d_dx(s->g, x, k, shape_make(4, d), w);
	if (b) {
		Shape bs = N(s, b)->shape;
		if (bs.rank != 1 || bs.d[0] != ks.d[1]) {
			diag_error(s->d, args[2]->loc, "the bias of '%s' must be [%lld] (one per output channel), got %s", fn,
			           (long long)ks.d[1], shp(s, bs));
			return verr();
		}
		int64_t bd[3] = {ks.d[1], 1, 1};
		y = graph_binary(s->g, OP_ADD, y, graph_reshape(s->g, b, shape_make(3, bd)));
	}
	return vnode(y);
}

/* upsample(x, scale): nearest-neighbour, each pixel repeated scale x scale
 * times (F.interpolate(x, scale_factor = scale, mode = "nearest")). */
static Val call_upsample(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"x", "scale"};
	const AstExpr *args[2];
	if (!bind_args(s, e, "upsample", pn, 2, 2, args))
		return verr();
	NodeId x = tensor_arg(s, args[0], sc, "upsample", 1);
	int64_t f[2];
	if (!x || !need_nchw(s, x, args[0], "upsample") || !batch_leading(s, x, args[0]->loc, "upsample") ||
	    !pair_arg(s, args[1], sc, 1, f, "the scale of 'upsample'", 1))
		return verr();
	return vnode(graph_upsample(s->g, x, f[0], f[1]));
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
		return axis_arg(s, e, sc, 0, rank, &axes[0], fn, e->loc);
	}
	if (e->nargs == 0) {
		diag_error(s->d, e->loc, "the axis list of '%s' is empty; leave out axis to reduce over every axis", fn);
		return 0;
	}
	int seen[MAXRANK] = {0};
	for (int i = 0; i < e->nargs; i++) {
		int ax;
		if (!axis_arg(s, e->args[i].value, sc, 0, rank, &ax, fn, e->loc))
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

/* ---- attention ---- */

/* heads(x, nh): [..., T, D] -> [..., nh, T, D / nh], the last axis cut into
 * nh heads of D / nh features; merge_heads(x): [..., nh, T, E] -> [..., T,
 * nh E], the inverse. */
static Val call_heads(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const pn[] = {"x", "nh"};
	const AstExpr *args[2];
	int split = !strcmp(fn, "heads");
	if (!bind_args(s, e, fn, pn, split ? 2 : 1, split ? 2 : 1, args))
		return verr();
	NodeId x = tensor_arg(s, args[0], sc, fn, 1);
	if (!x)
		return verr();
	Shape sh = N(s, x)->shape;
	int r = sh.rank;
	if (r < 2 || (!split && r < 3) || (split && r + 1 > MAXRANK)) {
		diag_error(s->d, args[0]->loc, "'%s' needs a tensor %s, got %s", fn,
		           split ? "[..., T, D] of rank 2 or more" : "[..., heads, T, E] of rank 3 or more", shp(s, sh));
		return verr();
	}
	Shape to = sh;
	int perm[MAXRANK];
	for (int k = 0; k < MAXRANK; k++)
		perm[k] = k;
	if (split) {
		int64_t nh;
		if (!eval_dim(s, args[1], &nh))
			return verr();
		if (nh < 1 || sh.d[r - 1] % nh) {
			diag_error(s->d, args[1]->loc, "'heads': %lld heads do not divide the width %lld of %s",
			           (long long)nh, (long long)sh.d[r - 1], shp(s, sh));
			return verr();
		}
		/* [..., T, nh, E], then the heads before the tokens */
		to.rank = r + 1;
		to.d[r - 1] = nh;
		to.d[r] = sh.d[r - 1] / nh;
		if (!reshape_keeps_batch(s, x, to, -1, e->loc, fn))
			return verr();
		perm[r - 2] = r - 1;
		perm[r - 1] = r - 2;
		return vnode(graph_permute(s->g, graph_reshape(s->g, x, to), perm));
	}
	/* the tokens before the heads, then [..., T, nh E] */
	perm[r - 3] = r - 2;
	perm[r - 2] = r - 3;
	NodeId p = graph_permute(s->g, x, perm);
	to = N(s, p)->shape;
	to.d[r - 2] *= to.d[r - 1];
	to.rank = r - 1;
	if (!reshape_keeps_batch(s, p, to, -1, e->loc, fn))
		return verr();
	return vnode(graph_reshape(s->g, p, to));
}

/* The position of the new token in a cached generator: its input
 * kv.position [1] (floats), made on first use. */
static NodeId kv_position(Sema *s, SrcLoc loc)
{
	if (!s->kv_pos) {
		int ti = graph_add_tensor(s->g, "kv.position", ROLE_INPUT, s->g->fdtype, shape_make(1, (int64_t[]){1}), -1,
		                          loc);
		s->g->tensors[ti].of_param = -1;
		s->kv_pos = ti + 1;
	}
	return s->g->tensors[s->kv_pos - 1].node;
}

/* positions(t): the positions of the t tokens, [t] floats: 0, 1, ..., t - 1;
 * in a cached generator (t = 1) the new token's.  position_rows(table, t):
 * the rows of a position table [n, ...] for those positions, [t, ...]. */
static Val call_positions(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	static const char *const pn[] = {"table", "t"};
	const AstExpr *args[2];
	int rows = !strcmp(fn, "position_rows");
	if (!bind_args(s, e, fn, rows ? pn : pn + 1, rows ? 2 : 1, rows ? 2 : 1, args))
		return verr();
	NodeId table = rows ? tensor_arg(s, args[0], sc, fn, 1) : 0;
	int64_t t;
	if ((rows && !table) || !eval_dim(s, args[rows], &t))
		return verr();
	if (t < 1) {
		diag_error(s->d, args[rows]->loc, "'%s' needs at least 1 position, got %lld", fn, (long long)t);
		return verr();
	}
	Shape ts = rows ? N(s, table)->shape : shape_scalar();
	if (rows && (ts.rank < 1 || N(s, table)->bax >= 0)) {
		diag_error(s->d, args[0]->loc, "'position_rows' needs a table [positions, ...] (a param), got %s",
		           shp(s, ts));
		return verr();
	}
	if (rows && t > ts.d[0]) {
		diag_error(s->d, e->loc, "a context of %lld positions is longer than the position table %s (%lld rows)",
		           (long long)t, shp(s, ts), (long long)ts.d[0]);
		return verr();
	}
	if (!s->kv_ctx)
		return vnode(rows ? graph_slice(s->g, table, 0, 0, t) : graph_arange(s->g, t));
	if (t != 1) {
		diag_error(s->d, e->loc, "a cached generator runs one token at a time, but '%s' asks for %lld positions",
		           fn, (long long)t);
		return verr();
	}
	NodeId p = kv_position(s, e->loc);
	if (!rows)
		return vnode(p);
	/* the row at p: the table's rows weighted by (row == p), summed */
	int64_t n = ts.d[0];
	NodeId hit = graph_binary(s->g, OP_EQ, graph_reshape(s->g, graph_arange(s->g, n), shape_make(2, (int64_t[]){1, n})),
	                          graph_reshape(s->g, p, shape_make(2, (int64_t[]){1, 1})));
	Shape row = ts;
	row.d[0] = 1;
	NodeId flat = graph_reshape(s->g, table, shape_make(2, (int64_t[]){n, shape_numel(ts) / n}));
	Val r = matmul(s, hit, flat, e->loc);
	if (r.kind == V_ERR)
		return r;
	return vnode(graph_reshape(s->g, r.id, row));
}

static void add_output(Sema *s, const char *name, NodeId id, int hidden, SrcLoc loc);

/* The value carried state ti takes for the next run: the hidden output
 * oname, which the runtime copies into it (in the evaluation pass, that
 * output's evaluation-mode node). */
static void carry_next(Sema *s, int ti, const char *oname, NodeId id)
{
	if (s->eval_mode) {
		for (int i = 0; i < s->m->noutputs; i++)
			if (!strcmp(s->m->outputs[i].name, oname))
				s->m->eval_outputs[i] = id;
		return;
	}
	add_output(s, oname, id, 1, (SrcLoc){0, 0, 0});
	s->g->tensors[ti].carry_out = s->m->noutputs;
}

/* The carried state kv.cacheN.NAME of a cached generator's attention N, of
 * shape sh (made on the first pass, found again on the evaluation pass):
 * its tensor's index. */
static int kv_state(Sema *s, const char *what, Shape sh, SrcLoc loc)
{
	const char *name = arena_printf(s->a, "kv.cache%d.%s", s->nkv, what);
	for (int i = 0; i < s->g->ntensors; i++)
		if (!strcmp(s->g->tensors[i].name, name))
			return i;
	int ti = graph_add_tensor(s->g, name, ROLE_STATE, s->g->fdtype, sh, 0, loc);
	s->g->tensors[ti].carry = 1;
	s->g->tensors[ti].of_param = -1;
	return ti;
}

/* The mask of attention (a number or a float tensor that broadcasts to the
 * scores ss [..., T, S], whose batch axis is sbax; `with` is the scores or the
 * queries, for the message) as a node: 0 on an error, a constant 1 where the
 * mask is a number other than 0. */
static NodeId attention_mask(Sema *s, const AstExpr *arg, Scope *sc, NodeId with, int sbax, Shape ss)
{
	Val m = eval(s, arg, sc);
	if (m.kind == V_ERR)
		return 0;
	if (m.kind == V_NUM && m.num != 0)
		return graph_const(s->g, 1);
	NodeId mn = as_node(s, m, arg, "the mask of 'attention'");
	if (!mn || !check_float(s, mn, arg, "attention"))
		return 0;
	Shape out;
	if (!shape_broadcast(N(s, mn)->shape, ss, &out) || !shape_eq(out, ss)) {
		diag_error(s->d, arg->loc, "the mask %s of 'attention' does not broadcast to the scores %s "
		           "(queries by keys)", shp(s, N(s, mn)->shape), shp(s, ss));
		return 0;
	}
	const Node *nm = N(s, mn);
	int bm = nm->bax < 0 ? -1 : nm->bax + ss.rank - nm->shape.rank;
	if (!one_batch_axis(s, arg->loc, "the mask of 'attention'", mn, bm, with, sbax, ss))
		return 0;
	return mn;
}

/* attention(..., fused = 1): one op (ops.def: ATTENTION) that computes each
 * query's row of scores, its softmax and the weighted values, and keeps per
 * query its score maximum for the gradient instead of the [T, S]
 * weights.  q, k and v share their leading axes ([batch, heads]). */
static Val fused_attention(Sema *s, const AstExpr *e, const AstExpr *marg, Scope *sc, NodeId q, NodeId k, NodeId v,
                           double scale, int causal)
{
	Shape sq = N(s, q)->shape, sk = N(s, k)->shape, sv = N(s, v)->shape;
	int r = sq.rank, same = sk.rank == r && sv.rank == r && N(s, k)->bax == N(s, q)->bax &&
	                        N(s, v)->bax == N(s, q)->bax && N(s, q)->bax < r - 2;
	for (int a = 0; same && a < r - 2; a++)
		same = sk.d[a] == sq.d[a] && sv.d[a] == sq.d[a];
	if (!same) {
		diag_error(s->d, e->loc, "the fused attention needs q, k and v with the same leading axes and the batch "
		           "among them, got %s, %s and %s; use attention(..., fused = 0), which broadcasts them",
		           shp(s, sq), shp(s, sk), shp(s, sv));
		return verr();
	}
	int64_t S = sk.d[r - 2];
	if (S > 65536) {
		diag_error(s->d, e->loc, "the fused attention keeps a row of %lld scores per query on the stack; it "
		           "takes at most 65536 keys (use attention(..., fused = 0))", (long long)S);
		return verr();
	}
	NodeId mask = graph_const(s->g, 1);
	if (marg) {
		/* the scores' shape and batch axis, for the mask's checks */
		Shape ss = sq;
		ss.d[r - 1] = S;
		if (!(mask = attention_mask(s, marg, sc, q, N(s, q)->bax, ss)))
			return verr();
	}
	return vnode(graph_attention_out(s->g, graph_attention(s->g, q, k, v, mask, scale, causal)));
}

/* attention(q, k, v, mask = 1, dropout = 0, scale = 1 / sqrt(E)): q [..., T,
 * E], k [..., S, E], v [..., S, F] -> softmax(q k^T scale, masked) v [..., T,
 * F].  Where the mask (broadcast to the scores [..., T, S]) is 0 the score
 * is -inf: those keys get no weight, and a row with no key left is all zero
 * (not NaN).  Dropout acts on the weights, as torch.nn.MultiheadAttention. */
static Val call_attention(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"q", "k", "v", "mask", "dropout", "scale", "causal", "fused"};
	const AstExpr *args[8];
	if (!bind_args(s, e, "attention", pn, 8, 3, args))
		return verr();
	NodeId q = tensor_arg(s, args[0], sc, "attention", 1), k = tensor_arg(s, args[1], sc, "attention", 1),
	       v = tensor_arg(s, args[2], sc, "attention", 1);
	if (!q || !k || !v)
		return verr();
	Shape sq = N(s, q)->shape, sk = N(s, k)->shape, sv = N(s, v)->shape;
	if (sq.rank < 2 || sk.rank < 2 || sv.rank < 2 || sq.d[sq.rank - 1] != sk.d[sk.rank - 1] ||
	    sk.d[sk.rank - 2] != sv.d[sv.rank - 2]) {
		diag_error(s->d, e->loc, "'attention' needs q [..., T, E], k [..., S, E] and v [..., S, F], got %s, %s "
		           "and %s", shp(s, sq), shp(s, sk), shp(s, sv));
		return verr();
	}
	double scale = 1 / sqrt((double)sq.d[sq.rank - 1]), p = 0, causal = 0, fused = 0;
	for (int i = 4; i < 8; i++) {
		if (!args[i])
			continue;
		Val c = eval(s, args[i], sc);
		if (c.kind == V_ERR)
			return verr();
		if (c.kind != V_NUM || (i == 4 && (c.num < 0 || c.num >= 1)) || (i >= 6 && c.num != 0 && c.num != 1)) {
			diag_error(s->d, args[i]->loc, i == 4   ? "the dropout of 'attention' must be a number in [0, 1)"
			                               : i == 5 ? "the scale of 'attention' must be a number"
			                               : i == 6 ? "'causal' of 'attention' is 0 or 1"
			                                        : "'fused' of 'attention' is 0 or 1");
			return verr();
		}
		*(i == 4 ? &p : i == 5 ? &scale : i == 6 ? &causal : &fused) = c.num;
	}
	if (fused && p > 0) {
		diag_error(s->d, args[4]->loc, "the fused attention has no dropout on its weights; use attention(..., "
		           "fused = 0) for dropout %g", p);
		return verr();
	}
	int64_t T = sq.d[sq.rank - 2], S = sk.d[sk.rank - 2];
	if (s->kv_ctx) {
		/* one new token: its key and value join the cached ones of the
		 * tokens before it (the oldest leaves), and the scores see the
		 * slots that hold a token, position p's key in the last one */
		if (!causal || T != 1 || S != 1) {
			diag_error(s->d, e->loc, "a cached generator needs causal self-attention of one new token "
			           "(causal = 1), got q %s and k %s", shp(s, sq), shp(s, sk));
			return verr();
		}
		s->nkv++;
		NodeId kv[2] = {k, v};
		for (int j = 0; j < 2; j++) {
			Shape cs = N(s, kv[j])->shape;
			cs.d[cs.rank - 2] = s->kv_ctx;
			int ti = kv_state(s, j ? "v" : "k", cs, e->loc);
			NodeId parts[2] = {graph_slice(s->g, s->g->tensors[ti].node, cs.rank - 2, 1, s->kv_ctx), kv[j]};
			kv[j] = graph_concat(s->g, parts, 2, cs.rank - 2);
			carry_next(s, ti, arena_printf(s->a, "%s.next", s->g->tensors[ti].name), kv[j]);
		}
		k = kv[0];
		v = kv[1];
		S = s->kv_ctx;
		sk = N(s, k)->shape;
	}

	if (fused && !s->kv_ctx) /* a cached generator's one query has a row of scores only */
		return fused_attention(s, e, args[3], sc, q, k, v, scale, (int)causal);
	int perm[MAXRANK];
	for (int j = 0; j < MAXRANK; j++)
		perm[j] = j;
	perm[sk.rank - 1] = sk.rank - 2;
	perm[sk.rank - 2] = sk.rank - 1;
	Val sv2 = matmul(s, q, graph_permute(s->g, k, perm), e->loc);
	if (sv2.kind == V_ERR)
		return verr();
	NodeId sc2 = graph_binary(s->g, OP_MUL, sv2.id, graph_const(s->g, scale));
	if (args[3] && !s->kv_ctx) { /* a cached generator's tokens see those before them, as in training */
		NodeId mn = attention_mask(s, args[3], sc, sc2, N(s, sc2)->bax, N(s, sc2)->shape);
		if (!mn)
			return verr();
		if (N(s, mn)->op != OP_CONST || N(s, mn)->f == 0)
			sc2 = graph_where(s->g, mn, sc2, graph_const(s->g, -INFINITY));
	}
	if (causal) {
		/* key j sees query i when j <= i + S - T; in a cached generator,
		 * slot j holds a token when j >= S - 1 - p */
		int64_t rs[2] = {1, S}, cs[2] = {T, 1};
		NodeId keys = graph_reshape(s->g, graph_arange(s->g, S), shape_make(2, rs)), ok;
		if (s->kv_ctx) {
			NodeId first = graph_binary(s->g, OP_SUB, graph_const(s->g, (double)(S - 1)),
			                            graph_reshape(s->g, kv_position(s, e->loc), shape_make(2, cs)));
			ok = graph_binary(s->g, OP_GE, keys, first);
		} else {
			NodeId last = graph_binary(s->g, OP_ADD, graph_reshape(s->g, graph_arange(s->g, T), shape_make(2, cs)),
			                           graph_const(s->g, (double)(S - T)));
			ok = graph_binary(s->g, OP_LE, keys, last);
		}
		Shape ss = N(s, sc2)->shape;
		int64_t full[MAXRANK];
		for (int j = 0; j < ss.rank; j++)
			full[j] = j < ss.rank - 2 ? 1 : ss.d[j];
		sc2 = graph_where(s->g, graph_reshape(s->g, ok, shape_make(ss.rank, full)), sc2, graph_const(s->g, -INFINITY));
	}
	NodeId w = graph_softmax(s->g, OP_SOFTMAX, sc2, N(s, sc2)->shape.rank - 1);
	if (args[4]) {
		s->mode_dependent = 1;
		int salt = ++s->ndropout;
		if (!s->eval_mode && p > 0) {
			s->m->uses_rng = 1;
			w = graph_binary(s->g, OP_MUL, w, graph_dropout_mask(s->g, N(s, w)->shape, N(s, w)->bax, p, salt));
		}
	}
	return matmul(s, w, v, e->loc);
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
	if (!axis_arg(s, args[1], sc, 0, N(s, a)->shape.rank, &axis, "argmax", e->loc) ||
	    !int_arg(s, args[2], sc, 0, &keep, "keepdims"))
		return verr();
	return vnode(graph_argmax(s->g, a, axis, keep != 0));
}

/* A uniform random tensor of shape sh (the batch axis bax), drawn in both
 * modes so that the random tensors after it keep their numbers. */
static NodeId uniform_draw(Sema *s, Shape sh, int bax)
{
	s->m->uses_rng = 1;
	int index = s->nrandom++;
	if (s->m->nrandom < s->nrandom)
		s->m->nrandom = s->nrandom;
	return graph_random(s->g, sh, bax, 0, 1000 + index, index);
}

/* The scores [..., A] of a sampling op and the shape of its draws. */
static NodeId scores_arg(Sema *s, const AstExpr *e, Scope *sc, const char *fn)
{
	NodeId z = tensor_arg(s, e, sc, fn, 1);
	if (z && N(s, z)->shape.rank < 1) {
		diag_error(s->d, e->loc, "'%s' takes scores with the actions along the last axis, such as [B, A]; "
		           "this is a scalar", fn);
		return 0;
	}
	return z;
}

/* categorical(logits): an action drawn from softmax(logits) along the last
 * axis, i32 without a gradient.  Training mode draws with the Gumbel-max
 * trick, argmax(logits - log(-log(u))) for u uniform, which picks action a
 * with probability softmax(logits)[a]; evaluation mode takes the most
 * likely action (the greedy policy). */
static Val call_categorical(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"logits"};
	const AstExpr *args[1];
	if (!bind_args(s, e, "categorical", pn, 1, 1, args))
		return verr();
	NodeId z = scores_arg(s, args[0], sc, "categorical");
	if (!z)
		return verr();
	const Node *n = N(s, z);
	int axis = n->shape.rank - 1;
	s->mode_dependent = 1;
	NodeId u = uniform_draw(s, n->shape, n->bax);
	if (s->eval_mode)
		return vnode(graph_argmax(s->g, z, axis, 0));
	NodeId gumbel = graph_unary(s->g, OP_NEG, graph_unary(s->g, OP_LOG, graph_unary(s->g, OP_NEG,
	                                                                                  graph_unary(s->g, OP_LOG, u))));
	return vnode(graph_argmax(s->g, graph_binary(s->g, OP_ADD, graph_unary(s->g, OP_STOP_GRADIENT, z), gumbel),
	                          axis, 0));
}

/* epsilon_greedy(q, eps): per row, with probability eps an action drawn
 * uniformly, else the one of the largest q (along the last axis); i32
 * without a gradient.  Evaluation mode is greedy.  eps is a number or a
 * scalar such as a hyper that a schedule moves. */
static Val call_epsilon_greedy(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"q", "eps"};
	const AstExpr *args[2];
	if (!bind_args(s, e, "epsilon_greedy", pn, 2, 2, args))
		return verr();
	NodeId q = scores_arg(s, args[0], sc, "epsilon_greedy");
	NodeId eps = tensor_arg(s, args[1], sc, "epsilon_greedy", 1);
	if (!q || !eps)
		return verr();
	if (shape_numel(N(s, eps)->shape) != 1) {
		diag_error(s->d, args[1]->loc, "the eps of 'epsilon_greedy' is one probability (a number or a scalar "
		           "hyper), not %s", shp(s, N(s, eps)->shape));
		return verr();
	}
	const Node *n = N(s, q);
	int axis = n->shape.rank - 1;
	Shape rows = n->shape;
	rows.d[axis] = 1;
	s->mode_dependent = 1;
	NodeId coin = uniform_draw(s, rows, n->bax), noise = uniform_draw(s, n->shape, n->bax);
	if (s->eval_mode)
		return vnode(graph_argmax(s->g, q, axis, 0));
	NodeId explore = graph_binary(s->g, OP_LT, coin, eps);
	return vnode(graph_argmax(s->g, graph_where(s->g, explore, noise, graph_unary(s->g, OP_STOP_GRADIENT, q)),
	                          axis, 0));
}

/* grad(f, x): the gradient of the scalar f with respect to the value x (an
 * input, a param or any value computed before f), x's shape; its nodes are
 * ordinary nodes, so the loss's differentiation goes through them again. */
static Val call_grad(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"f", "wrt"};
	const AstExpr *args[2];
	if (!bind_args(s, e, "grad", pn, 2, 2, args))
		return verr();
	NodeId f = tensor_arg(s, args[0], sc, "grad", 1), x = tensor_arg(s, args[1], sc, "grad", 1);
	if (!f || !x)
		return verr();
	const Node *nf = N(s, f), *nx = N(s, x);
	if (shape_numel(nf->shape) != 1 || nf->bax >= 0) {
		diag_error(s->d, args[0]->loc, "'grad' differentiates a scalar, got %s%s: sum or mean it first",
		           nf->bax >= 0 ? "a value of the batch " : "", shp(s, nf->shape));
		return verr();
	}
	if (op_info[nx->op].flags & OPF_LEAF && nx->op != OP_PARAM && nx->op != OP_INPUT && nx->op != OP_STATE) {
		diag_error(s->d, args[1]->loc, "'grad' is taken with respect to a value of the program (an input, a "
		           "param or a value computed from them), not a number or a random draw");
		return verr();
	}
	const char *why;
	NodeId bad = missing_derivative(s, f, 1, &why);
	if (bad) {
		diag_error(s->d, args[0]->loc, "'grad' cannot differentiate this value: %s", why);
		missing_derivative_note(s, bad);
		return verr();
	}
	int depends;
	NodeId lo = (NodeId)s->g->nnodes;
	NodeId gx = ad_grad(s->g, f, x, &depends);
	add_origin(s, lo, (NodeId)s->g->nnodes, e->loc, 0);
	if (!depends)
		diag_warning(s->d, args[1]->loc, "the differentiated value does not depend on %s%s%s; its gradient is zero",
		             nx->name ? "'" : "this value", nx->name ? nx->name : "", nx->name ? "'" : "");
	if (!gx) {
		gx = graph_broadcast(s->g, cst(s, 0), nx->shape);
		if (nx->bax >= 0)
			gx = graph_rebatch(s->g, gx, nx->bax);
	}
	return vnode(gx);
}

/* x / max(|x|, 1e-12), x a vector [n, 1] */
static NodeId unit_vector(Sema *s, NodeId x)
{
	NodeId norm = graph_unary(s->g, OP_SQRT, graph_reduce(s->g, OP_SUM, bin(s, OP_MUL, x, x), -1, 0));
	return bin(s, OP_DIV, x, graph_binary(s->g, OP_MAXIMUM, norm, cst(s, 1e-12)));
}

/* spectral_norm(W, axis): W divided by its largest singular value sigma,
 * estimated as torch.nn.utils.spectral_norm does: W as the matrix Wm
 * [W's size along axis, the rest] (axis: 0, or 1 for a Linear's [in, out]
 * W, whose torch weight is its transpose), vectors u and v kept in state
 * tensors W_sn_u, W_sn_v (normal draws at first), one power iteration per
 * training step (v = normalize(Wm^T u), u = normalize(Wm v), constants for
 * the gradient), sigma = u^T Wm v; evaluation uses the stored u and v. */
static Val call_spectral_norm(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"W", "axis"};
	const AstExpr *args[2];
	Graph *g = s->g;
	if (!bind_args(s, e, "spectral_norm", pn, 2, 1, args))
		return verr();
	NodeId w = tensor_arg(s, args[0], sc, "spectral_norm", 1);
	if (!w)
		return verr();
	Shape ws = N(s, w)->shape;
	if (ws.rank < 2 || N(s, w)->bax >= 0) {
		diag_error(s->d, args[0]->loc, "'spectral_norm' takes a weight of rank 2 or more (not of the batch), got %s",
		           shp(s, ws));
		return verr();
	}
	int axis;
	if (!axis_arg(s, args[1], sc, ws.rank == 2 ? 1 : 0, ws.rank, &axis, "spectral_norm", e->loc))
		return verr();
	if (axis != 0 && !(ws.rank == 2 && axis == 1)) {
		diag_error(s->d, args[1] ? args[1]->loc : e->loc, "'spectral_norm' runs its vector u along axis 0, or "
		           "along axis 1 of a matrix; got axis %d of %s", axis, shp(s, ws));
		return verr();
	}
	int64_t p = ws.d[axis], q = shape_numel(ws) / p;
	NodeId wm = axis == 1 ? graph_transpose(g, w) : graph_reshape(g, w, shape_make(2, (int64_t[]){p, q}));
	const char *wname = N(s, w)->op == OP_PARAM ? g->tensors[N(s, w)->sym].name
	                                            : arena_printf(s->a, "sn%d", s->nstate + 1);
	s->nstate++;
	s->mode_dependent = 1;
	const char *un = arena_printf(s->a, "%s_sn_u", wname), *vn = arena_printf(s->a, "%s_sn_v", wname);
	int ut = -1, vt = -1;
	for (int t = 0; t < g->ntensors; t++) {
		if (!strcmp(g->tensors[t].name, un))
			ut = t;
		if (!strcmp(g->tensors[t].name, vn))
			vt = t;
	}
	if (ut < 0 || vt < 0) {
		ut = graph_add_tensor(g, un, ROLE_STATE, g->fdtype, shape_make(2, (int64_t[]){p, 1}), -1, e->loc);
		vt = graph_add_tensor(g, vn, ROLE_STATE, g->fdtype, shape_make(2, (int64_t[]){q, 1}), -1, e->loc);
		g->tensors[ut].init = g->tensors[vt].init = DLRT_INIT_NORMAL;
		g->tensors[ut].init_b = g->tensors[vt].init_b = 1;
	}
	NodeId u = g->tensors[ut].node, v = g->tensors[vt].node;
	if (!s->eval_mode) {
		v = graph_unary(g, OP_STOP_GRADIENT, unit_vector(s, graph_matmul(g, wm, u, 1, 0)));
		u = graph_unary(g, OP_STOP_GRADIENT, unit_vector(s, graph_matmul(g, wm, v, 0, 0)));
		Model *m = s->m;
		m->state_updates = arena_grow(s->a, m->state_updates, (size_t)m->nstate_updates,
		                              (size_t)m->nstate_updates + 2, sizeof(NodeId));
		m->state_updates[m->nstate_updates++] = graph_assign(g, g->tensors[ut].node, u);
		m->state_updates[m->nstate_updates++] = graph_assign(g, g->tensors[vt].node, v);
	}
	NodeId sigma = graph_reshape(g, graph_matmul(g, u, graph_matmul(g, wm, v, 0, 0), 1, 0), shape_scalar());
	return vnode(bin(s, OP_DIV, w, sigma));
}

/* accuracy(scores, y): the fraction of rows whose largest score (the
 * first, on ties) is at the class y, over the valid rows; no gradient */
static Val call_accuracy(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const pn[] = {"scores", "y"};
	const AstExpr *args[2];
	if (!bind_args(s, e, "accuracy", pn, 2, 2, args))
		return verr();
	NodeId z = tensor_arg(s, args[0], sc, "accuracy", 1);
	Val v = eval(s, args[1], sc);
	NodeId y = as_node(s, v, args[1], "the labels of 'accuracy'");
	if (!z || !y)
		return verr();
	const Node *nz = N(s, z), *ny = N(s, y);
	if (ny->dtype != DT_I32) {
		diag_error(s->d, args[1]->loc, "'accuracy' needs integer class labels (i32), got %s%s",
		           dtype_name((DType)ny->dtype), shp(s, ny->shape));
		return verr();
	}
	Shape want = nz->shape;
	want.rank--;
	if (nz->shape.rank < 1 || !shape_eq(want, ny->shape)) {
		diag_error(s->d, e->loc, "'accuracy' needs scores [..., C] and labels [...] of the same rows, got %s and %s",
		           shp(s, nz->shape), shp(s, ny->shape));
		return verr();
	}
	int64_t c = nz->shape.d[nz->shape.rank - 1];
	label_classes(s, y, c, args[1]->loc);
	NodeId hit = graph_reduce(s->g, OP_SUM,
	                          bin(s, OP_MUL, graph_one_hot(s->g, graph_argmax(s->g, z, nz->shape.rank - 1, 0), c),
	                              graph_one_hot(s->g, y, c)),
	                          -1, 0);
	return vnode(bin(s, OP_DIV, hit, reduce_count(s, graph_one_hot(s->g, y, 1), -1)));
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

/* choose(k, e0, e1, ...): the expression e_k, k an integer known when
 * compiling (a dim: -D K=2 picks another); the others are not evaluated. */
static const AstExpr *chosen(Sema *s, const AstExpr *e, Scope *sc)
{
	if (e->nargs < 2) {
		diag_error(s->d, e->loc, "'choose' takes an index and the expressions to choose from: choose(K, a, b, ...)");
		return NULL;
	}
	for (int i = 0; i < e->nargs; i++)
		if (e->args[i].name) {
			diag_error(s->d, e->args[i].name_loc, "the arguments of 'choose' are positional");
			return NULL;
		}
	int64_t k;
	if (!int_arg(s, e->args[0].value, sc, 0, &k, "the index of 'choose'"))
		return NULL;
	if (k < 0 || k >= e->nargs - 1) {
		diag_error(s->d, e->args[0].value->loc, "'choose' has %d expressions to choose from (0 to %d), not %lld",
		           e->nargs - 1, e->nargs - 2, (long long)k);
		return NULL;
	}
	return e->args[k + 1].value;
}

/* ---- recurrences ---- */

static const AstStmt *layer_method(const AstStmt *layer, const char *name);

/* A function value: the first argument of scan, a def's name, a method of
 * the instance being defined or of a named one (`rnn.step`), or a layer
 * instance (its call). */
typedef struct FnRef {
	const AstStmt *def;
	Scope *up;
	Instance *self;
	const char *name;
} FnRef;

static int fn_ref(Sema *s, const AstExpr *e, Scope *sc, FnRef *f)
{
	memset(f, 0, sizeof *f);
	if (e->kind == AST_FIELD) {
		Val o = eval(s, e->lhs, sc);
		if (o.kind == V_ERR)
			return 0;
		const AstStmt *m = o.kind == V_LAYER ? layer_method(o.inst->layer, e->name) : NULL;
		if (!m) {
			diag_error(s->d, e->loc, "the body of 'scan' must be a function: '%s' is no method of %s", e->name,
			           o.kind == V_LAYER ? o.inst->path : val_kind(o));
			return 0;
		}
		f->def = m;
		f->up = o.inst->scope;
		f->self = o.inst;
		f->name = arena_printf(s->a, "%s.%s", o.inst->path, e->name);
		return 1;
	}
	if (e->kind == AST_NAME) {
		Bind *b = scope_find(sc, e->name, NULL);
		Instance *self = scope_self(sc);
		const AstStmt *m = !b && self ? layer_method(self->layer, e->name) : NULL;
		Sym *y = b || m ? NULL : lookup(s, e->name);
		Val v = b ? b->v : y && y->kind == SYM_VALUE ? y->val : verr();
		if (m) {
			f->def = m;
			f->up = self->scope;
			f->self = self;
			f->name = arena_printf(s->a, "%s.%s", self->path, e->name);
			return 1;
		}
		if (y && y->kind == SYM_DEF) {
			f->def = y->def;
			f->name = y->def->name;
			return 1;
		}
		if (v.kind == V_LAYER && layer_method(v.inst->layer, NULL)) {
			f->def = layer_method(v.inst->layer, NULL);
			f->up = v.inst->scope;
			f->self = v.inst;
			f->name = v.inst->path;
			return 1;
		}
	}
	diag_error(s->d, e->loc, "the body of 'scan' must be a function (a def, a method or a layer instance) "
	           "taking the carried state and the step's input");
	return 0;
}

/* The leaves of a value that is a tensor or a group of tensors, in order. */
static int flatten_val(Sema *s, Val v, const AstExpr *e, NodeId *out, int max, const char *what)
{
	if (v.kind == V_TUPLE || v.kind == V_LIST) {
		int n = 0;
		for (int i = 0; i < v.nitems; i++) {
			if (v.items[i].kind == V_TUPLE || v.items[i].kind == V_LIST) {
				diag_error(s->d, e->loc, "%s: nested groups are not supported; use one flat group (a, b, c)", what);
				return -1;
			}
			if (n >= max) {
				diag_error(s->d, e->loc, "%s: at most %d tensors", what, max);
				return -1;
			}
			NodeId id = as_node(s, v.items[i], e, what);
			if (!id)
				return -1;
			out[n++] = id;
		}
		if (!n) {
			diag_error(s->d, e->loc, "%s: an empty group", what);
			return -1;
		}
		return n;
	}
	NodeId id = as_node(s, v, e, what);
	if (!id)
		return -1;
	out[0] = id;
	return 1;
}

static Val group_val(Sema *s, const NodeId *ids, int n, int tuple)
{
	if (!tuple)
		return vnode(ids[0]);
	Val v = verr();
	v.kind = V_TUPLE;
	v.nitems = n;
	v.items = arena_alloc(s->a, sizeof(Val) * (size_t)(n + 1));
	for (int i = 0; i < n; i++)
		v.items[i] = vnode(ids[i]);
	return v;
}

static Val invoke_vals(Sema *s, const FnRef *f, SrcLoc loc, const Val *args, int nargs);

/* Axis `axis` of x moved to the front (to = 1) or the front axis moved to
 * `axis` (to = 0). */
static NodeId time_axis(Sema *s, NodeId x, int axis, int front)
{
	int r = N(s, x)->shape.rank, perm[MAXRANK], k = 0;
	if (axis == 0)
		return x;
	if (front) {
		perm[k++] = axis;
		for (int i = 0; i < r; i++)
			if (i != axis)
				perm[k++] = i;
	} else {
		for (int i = 1; i <= axis; i++)
			perm[k++] = i;
		perm[k++] = 0;
		for (int i = axis + 1; i < r; i++)
			perm[k++] = i;
	}
	return graph_permute(s->g, x, perm);
}

/* scan(f, xs, init = h0, axis = 1, mask = m, reverse = 0): the carried state
 * h_t = f(h_{t-1}, x_t) at every step t of the sequences xs along `axis`,
 * stacked along that axis.  A tuple init carries several tensors, a tuple xs
 * gives several per-step inputs; where mask[b, t] is 0 the state is held. */
static Val call_scan(Sema *s, const AstExpr *e, Scope *sc)
{
	static const char *const p[] = {"f", "xs", "init", "axis", "mask", "reverse"};
	const AstExpr *args[6];
	enum { MAXC = 16 };
	if (!bind_args(s, e, "scan", p, 6, 3, args))
		return verr();
	if (s->in_scan) {
		diag_error(s->d, e->loc, "a 'scan' inside the body of another 'scan' is not supported; "
		           "stack the recurrences one after the other instead");
		return verr();
	}
	FnRef f;
	if (!fn_ref(s, args[0], sc, &f))
		return verr();
	Val xv = eval(s, args[1], sc), iv = eval(s, args[2], sc);
	if (xv.kind == V_ERR || iv.kind == V_ERR)
		return verr();
	NodeId xs[MAXC], init[MAXC];
	int nx = flatten_val(s, xv, args[1], xs, MAXC, "the sequences of 'scan'");
	int nc = flatten_val(s, iv, args[2], init, MAXC, "the initial state of 'scan'");
	if (nx < 0 || nc < 0)
		return verr();
	int64_t ax, rev;
	if (!int_arg(s, args[3], sc, 1, &ax, "axis") || !int_arg(s, args[5], sc, 0, &rev, "reverse"))
		return verr();
	const AstExpr *ae = args[3] ? args[3] : args[1];
	int64_t T = 0;
	int axis = 0;
	for (int i = 0; i < nx; i++) {
		const Node *x = N(s, xs[i]);
		int r = x->shape.rank;
		char b1[96];
		if (ax < -r || ax >= r) {
			diag_error(s->d, ae->loc, "'scan' runs along axis %lld, but the sequence%s has no such axis "
			           "(its shape is %s)", (long long)ax, nx > 1 ? arena_printf(s->a, " %d", i + 1) : "",
			           shape_str(x->shape, b1, sizeof b1));
			return verr();
		}
		int a = (int)(ax < 0 ? ax + r : ax);
		if (x->bax == a) {
			diag_error(s->d, ae->loc, "'scan' runs along axis %d, which is the batch axis of its sequence %s; "
			           "the steps must run along another axis", a, shape_str(x->shape, b1, sizeof b1));
			return verr();
		}
		if (i && x->shape.d[a] != T) {
			diag_error(s->d, args[1]->loc, "the sequences of 'scan' have %lld and %lld steps along axis %d",
			           (long long)T, (long long)x->shape.d[a], a);
			return verr();
		}
		T = x->shape.d[a];
		axis = i ? axis : a;
		if (i && a != axis) {
			diag_error(s->d, args[1]->loc, "the sequences of 'scan' have different ranks; give them the same axis");
			return verr();
		}
	}
	NodeId mask = 0;
	Val mv = args[4] ? eval(s, args[4], sc) : verr();
	if (args[4] && mv.kind == V_ERR)
		return verr();
	if (args[4] && !(mv.kind == V_NUM && mv.num == 1)) { /* mask = 1: every step counts */
		mask = as_node(s, mv, args[4], "the mask of 'scan'");
		if (!mask)
			return verr();
		const Node *m = N(s, mask), *x0 = N(s, xs[0]);
		char b1[96], b2[96];
		if (m->shape.rank != 2 || axis != 1 || m->shape.d[1] != T || m->shape.d[0] != x0->shape.d[0]) {
			diag_error(s->d, args[4]->loc, "the mask of 'scan' must be [batch, steps] = [%lld, %lld] (axis 1), "
			           "got %s", (long long)x0->shape.d[0], (long long)T, shape_str(m->shape, b1, sizeof b1));
			(void)b2;
			return verr();
		}
	}
	Graph *g = s->g;
	int L = graph_loop_new(g, T, rev != 0);
	NodeId var[MAXC], xt[MAXC + 1];
	int batched = 0;
	for (int i = 0; i < nx; i++)
		batched |= N(s, xs[i])->bax >= 0;
	for (int k = 0; k < nc; k++) {
		NodeId i0 = init[k];
		const Node *n = N(s, i0);
		if (batched && n->bax < 0 && n->shape.rank > 0 && s->have_batch && n->shape.d[0] == g->batch)
			i0 = graph_rebatch(g, i0, 0);
		init[k] = i0;
		var[k] = graph_loop_carry(g, L, i0);
	}
	for (int i = 0; i < nx; i++)
		xt[i] = graph_loop_seq(g, L, time_axis(s, xs[i], axis, 1), 0, 0);
	NodeId mt = mask ? graph_loop_seq(g, L, time_axis(s, mask, 1, 1), 0, 0) : 0;
	Val a2[2];
	a2[0] = group_val(s, var, nc, iv.kind == V_TUPLE || iv.kind == V_LIST);
	a2[1] = group_val(s, xt, nx, xv.kind == V_TUPLE || xv.kind == V_LIST);
	s->in_scan++;
	Val r = invoke_vals(s, &f, e->loc, a2, 2);
	s->in_scan--;
	if (r.kind == V_ERR)
		return verr();
	NodeId next[MAXC];
	int nr = flatten_val(s, r, e, next, MAXC, arena_printf(s->a, "the result of '%s'", f.name));
	if (nr < 0)
		return verr();
	if (nr != nc) {
		diag_error(s->d, e->loc, "'%s' returns %d tensor%s, but the state of 'scan' has %d: the body must return "
		           "the next state, one tensor per tensor of init", f.name, nr, nr == 1 ? "" : "s", nc);
		return verr();
	}
	NodeId outs[MAXC];
	for (int k = 0; k < nc; k++) {
		const Node *v = N(s, var[k]), *x = N(s, next[k]);
		char b1[96], b2[96];
		if (!shape_eq(v->shape, x->shape) || v->dtype != x->dtype) {
			diag_error(s->d, e->loc, "the body of 'scan' changes its state%s: %s %s in, %s %s out; the next state "
			           "must have the shape and type of the initial one",
			           nc > 1 ? arena_printf(s->a, " %d", k + 1) : "", dtype_name((DType)v->dtype),
			           shape_str(v->shape, b1, sizeof b1), dtype_name((DType)x->dtype),
			           shape_str(x->shape, b2, sizeof b2));
			return verr();
		}
		NodeId nk = next[k];
		if (x->bax != v->bax) {
			if (x->bax >= 0 && v->bax < 0) {
				diag_error(s->d, args[2]->loc, "the state of 'scan' runs over the batch (it depends on the "
				           "inputs), so its initial value must too: give init the batch as its first axis");
				return verr();
			}
			nk = graph_rebatch(g, nk, v->bax);
		}
		if (mt) { /* h = m h' + (1 - m) h, m broadcast over the state's other axes */
			Shape ms = N(s, mt)->shape;
			Shape ks = v->shape;
			for (int d = 1; d < ks.rank; d++)
				ms.d[d] = 1;
			ms.rank = ks.rank;
			NodeId mb = graph_reshape(g, mt, ms);
			nk = graph_binary(g, OP_ADD, var[k], graph_binary(g, OP_MUL, mb, graph_binary(g, OP_SUB, nk, var[k])));
		}
		next[k] = nk;
	}
	graph_loop_hoist(g, L, next, nc);
	for (int k = 0; k < nc; k++) {
		graph_loop_next(g, L, var[k], next[k]);
		graph_loop_stack(g, L, next[k]);
	}
	graph_loop_close(g, L, outs);
	for (int k = 0; k < nc; k++)
		outs[k] = time_axis(s, outs[k], axis, 0);
	return group_val(s, outs, nc, iv.kind == V_TUPLE || iv.kind == V_LIST);
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
	int op = ops_find(fn);
	if (op >= 0)
		return call_op(s, e, sc, (OpKind)op);
	if (!strcmp(fn, "scan"))
		return call_scan(s, e, sc);
	if (!strcmp(fn, "choose")) {
		const AstExpr *c = chosen(s, e, sc);
		return c ? eval(s, c, sc) : verr();
	}
	if (!strcmp(fn, "size")) { /* the size of an axis of a tensor: a number */
		static const char *const p_sz[] = {"x", "axis"};
		if (!bind_args(s, e, fn, p_sz, 2, 2, args))
			return verr();
		NodeId a = tensor_arg(s, args[0], sc, fn, 0);
		int axis;
		if (!a || !axis_arg(s, args[1], sc, 0, N(s, a)->shape.rank, &axis, fn, e->loc))
			return verr();
		return vnum((double)N(s, a)->shape.d[axis], 1);
	}
	if ((!strcmp(fn, "zeros") || !strcmp(fn, "ones")) && e->nargs == 1 && !e->args[0].name &&
	    e->args[0].value->kind == AST_LIST) {
		const AstExpr *l = e->args[0].value;
		Shape sh;
		memset(&sh, 0, sizeof sh);
		if (l->nargs > MAXRANK) {
			diag_error(s->d, l->loc, "at most %d dimensions are supported", MAXRANK);
			return verr();
		}
		sh.rank = l->nargs;
		for (int i = 0; i < sh.rank; i++) {
			if (!eval_dim(s, l->args[i].value, &sh.d[i]))
				return verr();
			if (sh.d[i] < 1) {
				diag_error(s->d, l->args[i].value->loc, "a dimension must be at least 1");
				return verr();
			}
		}
		NodeId z = graph_broadcast(s->g, graph_const(s->g, fn[0] == 'o' ? 1 : 0), sh);
		if (sh.rank > 0 && s->have_batch && sh.d[0] == s->g->batch)
			z = graph_rebatch(s->g, z, 0);
		return vnode(z);
	}
	if (!strcmp(fn, "sum") || !strcmp(fn, "mean") || !strcmp(fn, "max") || !strcmp(fn, "logsumexp") ||
	    !strcmp(fn, "var") || !strcmp(fn, "std"))
		return call_reduce(s, e, sc, fn);
	if (!strcmp(fn, "where"))
		return call_where(s, e, sc);
	if (!strcmp(fn, "heads") || !strcmp(fn, "merge_heads"))
		return call_heads(s, e, sc, fn);
	if (!strcmp(fn, "attention"))
		return call_attention(s, e, sc);
	if (!strcmp(fn, "positions") || !strcmp(fn, "position_rows"))
		return call_positions(s, e, sc, fn);
	if (!strcmp(fn, "arange")) {
		static const char *const pn[] = {"n"};
		int64_t n;
		if (!bind_args(s, e, fn, pn, 1, 1, args) || !eval_dim(s, args[0], &n))
			return verr();
		if (n < 1) {
			diag_error(s->d, args[0]->loc, "'arange' needs at least 1 element, got %lld", (long long)n);
			return verr();
		}
		return vnode(graph_arange(s->g, n));
	}
	if (!strcmp(fn, "clamp"))
		return call_clamp(s, e, sc);
	if (!strcmp(fn, "grad"))
		return call_grad(s, e, sc);
	if (!strcmp(fn, "accuracy"))
		return call_accuracy(s, e, sc);
	if (!strcmp(fn, "spectral_norm"))
		return call_spectral_norm(s, e, sc);
	if (!strcmp(fn, "argmax"))
		return call_argmax(s, e, sc);
	if (!strcmp(fn, "categorical"))
		return call_categorical(s, e, sc);
	if (!strcmp(fn, "epsilon_greedy"))
		return call_epsilon_greedy(s, e, sc);
	if (!strcmp(fn, "one_hot"))
		return call_one_hot(s, e, sc);
	if (!strcmp(fn, "softmax") || !strcmp(fn, "log_softmax")) {
		if (!bind_args(s, e, fn, p_sm, 2, 1, args))
			return verr();
		NodeId a = tensor_arg(s, args[0], sc, fn, 1);
		if (!a)
			return verr();
		if (N(s, a)->shape.rank == 0) {
			diag_error(s->d, args[0]->loc, "'%s' needs a tensor of rank 1 or more, got a scalar", fn);
			return verr();
		}
		int axis;
		if (!axis_arg(s, args[1], sc, -1, N(s, a)->shape.rank, &axis, fn, e->loc))
			return verr();
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
		if (!axis_arg(s, args[1], sc, 0, sh.rank, &axis, fn, e->loc) || !int_arg(s, args[2], sc, 0, &st, "start") ||
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
	if (!strcmp(fn, "take") || !strcmp(fn, "embedding"))
		return call_take(s, e, sc, fn);
	if (!strcmp(fn, "conv_transpose2d"))
		return call_conv_transpose2d(s, e, sc);
	if (!strcmp(fn, "upsample"))
		return call_upsample(s, e, sc);
	if (!strcmp(fn, "concat"))
		return call_concat(s, e, sc);
	if (is_loss(fn))
		return call_loss(s, e, sc, fn);
	if (!strcmp(fn, "randn") || !strcmp(fn, "rand") || !strcmp(fn, "randn_like") || !strcmp(fn, "rand_like") ||
	    !strcmp(fn, "bernoulli"))
		return call_random(s, e, sc, fn);
	*found = 0;
	return verr();
}

/* ---- functions and layers ---- */

static int exec_block(Sema *s, const AstBlock *b, Scope *sc);
static Val instantiate(Sema *s, const AstStmt *layer, const AstExpr *call, Scope *caller, const char *path);
static Val eval(Sema *s, const AstExpr *e, Scope *sc);

/* The number of parameters a def or layer needs (those without a default). */
static int required_params(const AstStmt *d)
{
	int n = 0;
	while (n < d->nparams && !(d->param_defaults && d->param_defaults[n]))
		n++;
	return n;
}

/* The method `name` of a layer (NULL: its call, `def (x) = ...`), or NULL. */
static const AstStmt *layer_method(const AstStmt *layer, const char *name)
{
	for (int i = 0; layer->body && i < layer->body->n; i++) {
		const AstStmt *st = layer->body->stmts[i];
		if (st->kind == ST_DEF && (name ? st->name && !strcmp(st->name, name) : !st->name))
			return st;
	}
	return NULL;
}

static const Sym *find_layer(Sema *s, const char *name)
{
	const Sym *y = lookup(s, name);
	return y && y->kind == SYM_LAYER ? y : NULL;
}

/* The body (or value) of def, its parameters bound in fs; `note` (with the
 * function's name) follows any error it reports. */
static Val run_def(Sema *s, const AstStmt *def, Scope *fs, SrcLoc loc, Instance *self, const char *fname,
                   const char *note)
{
	int before = s->d->nerrors;
	Scope *saved = s->cur;
	const char *saved_prefix = s->prefix;
	s->cur = fs;
	s->prefix = self ? self->path : NULL;
	s->depth++;
	Val v;
	if (def->body) {
		exec_block(s, def->body, fs);
		v = fs->ret;
		if (!fs->returned && s->d->nerrors == before) {
			diag_error(s->d, def->loc, "'%s' ends without a 'return'", fname);
			v = verr();
		}
	} else {
		v = eval(s, def->value, fs);
	}
	s->depth--;
	s->cur = saved;
	s->prefix = saved_prefix;
	if (s->d->nerrors > before)
		diag_note(s->d, loc, note, fname);
	return v;
}

/* Every call inlines its function's body again (and every instance runs
 * its layer's body): calls of calls multiply, so a few lines can ask for
 * 2^40 copies.  Inlining stops, with an error at the call that goes over
 * it, past this much work: graph nodes built (equal nodes found included),
 * plus one for each call of a function and eight for each layer instance
 * (its params, names and scope).  The largest examples take a few thousand. */
#define SEMA_WORK_MAX 250000

static int inline_budget(Sema *s, SrcLoc loc, const char *fname, int weight)
{
	s->work += weight;
	if (s->overworked)
		return 0;
	if ((uint64_t)s->work + s->g->built <= SEMA_WORK_MAX)
		return 1;
	s->overworked = 1;
	if (weight > 1)
		diag_error(s->d, loc, "this instance of layer '%s' goes over the limit of %d calls, instances and graph "
		           "nodes built: each instance builds its layer's body again, so instances within instances "
		           "multiply", fname, SEMA_WORK_MAX);
	else
		diag_error(s->d, loc, "inlining this call of '%s' goes over the limit of %d calls and graph nodes built: "
		           "each call inlines its function again, so calls of calls multiply; compute a value once, "
		           "bind it to a name and use the name", fname, SEMA_WORK_MAX);
	return 0;
}

/* Inline a call of `def`: its parameters bound to the arguments (evaluated
 * in the caller's scope; defaults in the function's own), then its value or
 * its body up to `return`.  `up` is the scope the def was written in (its
 * instance's, for a method) and fname the name errors use. */
static Val invoke(Sema *s, const AstStmt *def, const AstExpr *e, Scope *sc, Scope *up, Instance *self,
                  const char *fname)
{
	const AstExpr *args[64];
	if (def->nparams > 64) {
		diag_error(s->d, e->loc, "'%s' has too many parameters", fname);
		return verr();
	}
	if (s->depth >= 64) {
		diag_error(s->d, e->loc, "calls nested too deeply (is '%s' recursive?)", fname);
		return verr();
	}
	if (!inline_budget(s, e->loc, fname, 1))
		return verr();
	if (!bind_args(s, e, fname, def->params, def->nparams, required_params(def), args))
		return verr();
	Scope *fs = scope_new(s, up, self);
	fs->def = def;
	fs->call_loc = e->loc;
	for (int i = 0; i < def->nparams; i++) {
		Val v = args[i] ? eval(s, args[i], sc) : eval(s, def->param_defaults[i], fs);
		if (v.kind == V_ERR)
			return verr();
		scope_add(s, fs, def->params[i], def->param_locs[i], v);
	}
	return run_def(s, def, fs, e->loc, self, fname, "in this call to '%s'");
}

/* inst(args): the layer's `def (...)`. */
static Val call_instance(Sema *s, const AstExpr *e, Scope *sc, Instance *inst)
{
	const AstStmt *def = layer_method(inst->layer, NULL);
	if (!def) {
		diag_error(s->d, e->loc, "layer '%s' has no 'def (...)', so its instance '%s' cannot be called; "
		           "call one of its methods", inst->layer->name, inst->path);
		return verr();
	}
	return invoke(s, def, e, sc, inst->scope, inst, inst->path);
}

/* A call of function f with arguments already evaluated (scan's body). */
static Val invoke_vals(Sema *s, const FnRef *f, SrcLoc loc, const Val *args, int nargs)
{
	const AstStmt *def = f->def;
	if (nargs > def->nparams || nargs < required_params(def)) {
		diag_error(s->d, loc, "'%s' is called with %d argument%s (the state and the step's input), but takes %d",
		           f->name, nargs, nargs == 1 ? "" : "s", def->nparams);
		return verr();
	}
	if (s->depth >= 64) {
		diag_error(s->d, loc, "calls nested too deeply (is '%s' recursive?)", f->name);
		return verr();
	}
	if (!inline_budget(s, loc, f->name, 1))
		return verr();
	Scope *fs = scope_new(s, f->up, f->self);
	fs->def = def;
	fs->call_loc = loc;
	for (int i = 0; i < def->nparams; i++) {
		Val v = i < nargs ? args[i] : eval(s, def->param_defaults[i], fs);
		if (v.kind == V_ERR)
			return verr();
		scope_add(s, fs, def->params[i], def->param_locs[i], v);
	}
	return run_def(s, def, fs, loc, f->self, f->name, "in the body of this 'scan' ('%s')");
}

/* A member of an instance: a param, a sub-layer or a value of its body. */
static Val member(Sema *s, Instance *inst, const char *name, SrcLoc loc)
{
	for (int i = inst->scope->nb; i-- > 0;)
		if (!strcmp(inst->scope->b[i].name, name))
			return inst->scope->b[i].v;
	if (layer_method(inst->layer, name)) {
		diag_error(s->d, loc, "'%s' is a method of '%s'; call it as %s.%s(...)", name, inst->path, inst->path, name);
		return verr();
	}
	const char **c = arena_alloc(s->a, sizeof(char *) * (size_t)(inst->scope->nb + 1));
	for (int i = 0; i < inst->scope->nb; i++)
		c[i] = inst->scope->b[i].name;
	const char *best = diag_closest(name, c, inst->scope->nb);
	diag_error(s->d, loc, "'%s' (a %s) has no member '%s'%s", inst->path, inst->layer->name, name,
	           best ? arena_printf(s->a, "; did you mean '%s'?", best) : "");
	return verr();
}

static const char *init_name_of(const char *name);

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
	case AST_LIST:
	case AST_TUPLE: {
		Val v = verr();
		v.kind = e->kind == AST_LIST ? V_LIST : V_TUPLE;
		v.nitems = e->nargs;
		v.items = arena_alloc(s->a, sizeof(Val) * (size_t)(e->nargs + 1));
		for (int i = 0; i < e->nargs; i++) {
			v.items[i] = eval(s, e->args[i].value, sc);
			if (e->kind == AST_TUPLE && v.items[i].kind == V_ERR)
				return verr();
		}
		return v;
	}
	case AST_NAME: {
		Bind *b = scope_find(sc, e->name, NULL);
		if (b)
			return b->v;
		Sym *y = lookup(s, e->name);
		if (!y) {
			if (init_name_of(e->name)) {
				Val v = verr();
				v.kind = V_INIT;
				v.str = e->name;
				v.loc = e->loc;
				v.expr = e;
				v.env = sc;
				return v;
			}
			if (!strcmp(e->name, "inf"))
				return vnum(INFINITY, 0);
			diag_error(s->d, e->loc, "unknown name '%s'%s", e->name, suggest(s, e->name, 0, sc));
			return verr();
		}
		switch (y->kind) {
		case SYM_DIM: return vnum((double)y->dim, 1);
		case SYM_TENSOR:
		case SYM_VALUE:
			if (y->val.kind != V_ERR && y->val.kind != V_NODE)
				return y->val;
			return y->id ? vnode(y->id) : verr(); /* 0: its definition had an error */
		case SYM_DEF:
			diag_error(s->d, e->loc, "'%s' is a function; call it as %s(...)", e->name, e->name);
			return verr();
		case SYM_LAYER:
			diag_error(s->d, e->loc, "'%s' is a layer; make an instance with `name = %s(...)` and use the name",
			           e->name, e->name);
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
		return checked_size(s, binary(s, e, l, r), e->loc);
	}
	case AST_INDEX: {
		Val l = eval(s, e->lhs, sc);
		Val k = eval(s, e->rhs, sc);
		if (l.kind == V_ERR || k.kind == V_ERR)
			return verr();
		if (l.kind != V_LIST && l.kind != V_TUPLE) {
			diag_error(s->d, e->loc, "only arrays of layers and lists can be indexed with [ ], not a %s%s",
			           val_kind(l), l.kind == V_NODE ? " (take rows of a tensor with slice(...))" : "");
			return verr();
		}
		if (k.kind != V_NUM || !k.is_int) {
			diag_error(s->d, e->rhs->loc, "an index must be a compile-time integer, such as a loop variable");
			return verr();
		}
		int64_t i = (int64_t)k.num;
		if (i < -l.nitems || i >= l.nitems) {
			diag_error(s->d, e->rhs->loc, "index %lld is out of range for %d items", (long long)i, l.nitems);
			return verr();
		}
		return l.items[i < 0 ? i + l.nitems : i];
	}
	case AST_FIELD: {
		Val l = eval(s, e->lhs, sc);
		if (l.kind == V_ERR)
			return verr();
		if (l.kind != V_LAYER) {
			diag_error(s->d, e->loc, "only layer instances have members ('.%s'), not a %s", e->name, val_kind(l));
			return verr();
		}
		return member(s, l.inst, e->name, e->loc);
	}
	case AST_APPLY: {
		if (e->lhs->kind == AST_FIELD) { /* vae.encode(x): a method */
			Val o = eval(s, e->lhs->lhs, sc);
			if (o.kind == V_ERR)
				return verr();
			const AstStmt *m = o.kind == V_LAYER ? layer_method(o.inst->layer, e->lhs->name) : NULL;
			if (m)
				return invoke(s, m, e, sc, o.inst->scope, o.inst,
				              arena_printf(s->a, "%s.%s", o.inst->path, e->lhs->name));
		}
		Val f = eval(s, e->lhs, sc);
		if (f.kind == V_ERR)
			return verr();
		if (f.kind != V_LAYER) {
			diag_error(s->d, e->loc, "only functions and layer instances can be called, not a %s", val_kind(f));
			return verr();
		}
		return call_instance(s, e, sc, f.inst);
	}
	case AST_CALL: {
		Bind *b = scope_find(sc, e->name, NULL);
		if (b) {
			if (b->v.kind == V_LAYER)
				return call_instance(s, e, sc, b->v.inst);
			if (b->v.kind == V_ERR)
				return verr();
			diag_error(s->d, e->loc, "'%s' is a %s here, not a function", e->name, val_kind(b->v));
			return verr();
		}
		Instance *self = scope_self(sc);
		const AstStmt *m = self ? layer_method(self->layer, e->name) : NULL;
		if (m)
			return invoke(s, m, e, sc, self->scope, self, arena_printf(s->a, "%s.%s", self->path, e->name));
		Sym *y = lookup(s, e->name);
		if (y && y->kind == SYM_DEF && !y->prelude && e->loc.file == 1 && redefinable(e->name))
			y = NULL;
		if (y && y->kind == SYM_DEF)
			return invoke(s, y->def, e, sc, NULL, NULL, y->def->name);
		if (y && y->kind == SYM_VALUE && y->val.kind == V_LAYER)
			return call_instance(s, e, sc, y->val.inst);
		if (y && y->kind == SYM_LAYER) {
			diag_error(s->d, e->loc, "layer '%s' makes an instance in a statement of its own, `name = %s(...)`; "
			           "then call it by that name", e->name, e->name);
			return verr();
		}
		if (y) {
			diag_error(s->d, e->loc, "'%s' is not a function", e->name);
			return verr();
		}
		int found;
		Val v = call_builtin(s, e, sc, &found);
		if (found)
			return checked_size(s, v, e->loc);
		if (init_name_of(e->name)) { /* normal(0, 0.01): evaluated where a param uses it */
			Val iv = verr();
			iv.kind = V_INIT;
			iv.str = e->name;
			iv.loc = e->loc;
			iv.expr = e;
			iv.env = sc;
			return iv;
		}
		const char *best = NULL;
		int nd = 0;
		const char **cands = arena_alloc(s->a, sizeof(char *) * (size_t)(s->nsyms + NBUILTINS + 1));
		nd += builtins(cands);
		for (int i = 0; i < s->nsyms; i++)
			if (s->syms[i].kind == SYM_DEF || s->syms[i].kind == SYM_LAYER)
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
	{"orthogonal", DLRT_INIT_ORTHOGONAL, 1}, {"trunc_normal", DLRT_INIT_TRUNC_NORMAL, 3},
	{"torch_default", DLRT_INIT_TORCH_DEFAULT, 1},
};

/* The probability of N(0, 1) in [lo, hi]. */
static double std_normal_mass(double lo, double hi)
{
	return 0.5 * (erfc(-hi / sqrt(2.0)) - erfc(-lo / sqrt(2.0)));
}

static const char *init_name_of(const char *name)
{
	for (size_t i = 0; i < sizeof inits / sizeof inits[0]; i++)
		if (!strcmp(inits[i].name, name))
			return inits[i].name;
	return NULL;
}

/* t's initialiser, written `e` in scope sc: a name (he_uniform), a call
 * (normal(0, 0.01)), a number, or a name bound to one of those (a layer's
 * argument `weight = he_uniform`). */
static int npy_values(Sema *s, const char *name, const AstExpr *e, Shape sh, double *vals);

static void param_init(Sema *s, Tensor *t, const AstExpr *e, Scope *sc)
{
	if (e && e->kind == AST_NAME && !init_name_of(e->name) && (scope_find(sc, e->name, NULL) || lookup(s, e->name))) {
		Val v = eval(s, e, sc);
		if (v.kind == V_ERR)
			return;
		if (v.kind == V_INIT) {
			e = v.expr;
			sc = v.env;
		} else if (v.kind == V_NUM) {
			e = arena_alloc(s->a, sizeof(AstExpr));
			((AstExpr *)e)->kind = AST_NUM;
			((AstExpr *)e)->num = v.num;
		} else {
			diag_error(s->d, e->loc, "'%s' is a %s, not an initialiser such as he_uniform or normal(0, 0.01)",
			           e->name, val_kind(v));
			return;
		}
	}
	t->init = DLRT_INIT_ZEROS;
	t->init_a = 0;
	t->init_b = 0;
	t->init_c = 0;
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
	if (e->kind == AST_CALL && !strcmp(e->name, "npy")) { /* starting values from a file */
		double *vals = arena_alloc(s->a, sizeof(double) * (size_t)(shape_numel(sh) ? shape_numel(sh) : 1));
		if (npy_values(s, t->name, e, sh, vals)) {
			t->init = DLRT_INIT_DATA;
			t->data = vals;
		}
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
	double a = 0, b = 0, c = 0;
	switch (t->init) {
	case DLRT_INIT_NORMAL: b = 1; break;
	case DLRT_INIT_UNIFORM: b = 1; break;
	case DLRT_INIT_CONST: a = 0; break;
	case DLRT_INIT_TRUNC_NORMAL: a = 1, b = -2, c = 2; break; /* std, a, b */
	case DLRT_INIT_TORCH_DEFAULT: a = 0; break;               /* fan_in: from the shape */
	default: a = 1; break; /* gain */
	}
	static const char *const pn_normal[] = {"mean", "std"}, *const pn_uniform[] = {"low", "high"},
	                         *const pn_gain[] = {"gain"}, *const pn_const[] = {"value"},
	                         *const pn_trunc[] = {"std", "a", "b"}, *const pn_fan[] = {"fan_in"};
	const char *const *pn = t->init == DLRT_INIT_NORMAL ? pn_normal
	                        : t->init == DLRT_INIT_UNIFORM ? pn_uniform
	                        : t->init == DLRT_INIT_CONST ? pn_const
	                        : t->init == DLRT_INIT_TRUNC_NORMAL ? pn_trunc
	                        : t->init == DLRT_INIT_TORCH_DEFAULT ? pn_fan : pn_gain;
	if (e->kind == AST_CALL) {
		const AstExpr *args[3];
		if (!bind_args(s, e, e->name, pn, inits[k].nargs, 0, args))
			return;
		double *dst[3] = {&a, &b, &c};
		for (int i = 0; i < inits[k].nargs; i++) {
			if (!args[i])
				continue;
			Val v = eval(s, args[i], sc);
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
	if (t->init == DLRT_INIT_ORTHOGONAL && sh.rank < 2) {
		diag_error(s->d, e->loc, "'orthogonal' initialises a parameter of rank 2 or more (rows along its first "
		           "axis), not %s", shp(s, sh));
		return;
	}
	if (t->init == DLRT_INIT_TRUNC_NORMAL) {
		/* rejection sampling: the interval must hold a fair share of N(0, std) */
		double share = std_normal_mass(b / a, c / a);
		if (!(a > 0) || !(b < c) || share < 1e-3) {
			diag_error(s->d, e->loc, "'trunc_normal' needs std > 0 and a < b with [a, b] holding at least 0.1%% of "
			           "N(0, std); got std = %g, [%g, %g]", a, b, c);
			return;
		}
	}
	if (t->init == DLRT_INIT_TORCH_DEFAULT) {
		if (a != 0 && (a < 1 || a != floor(a))) {
			diag_error(s->d, e->loc, "the fan-in of 'torch_default' must be a positive integer, got %g", a);
			return;
		}
		if (a == 0 && sh.rank < 2) {
			diag_error(s->d, e->loc, "'torch_default' of a parameter of shape %s needs its layer's fan-in, "
			           "e.g. torch_default(784) for a layer of 784 inputs (PyTorch's bias bound is "
			           "1/sqrt(fan_in))", shp(s, sh));
			return;
		}
	}
	t->init_a = a;
	t->init_b = b;
	t->init_c = c;
}

static DType decl_dtype(Sema *s, const AstStmt *st, int is_label)
{
	const char *dt = st->type.dtype;
	if (!dt)
		return is_label ? DT_I32 : s->g->fdtype;
	if (!strcmp(dt, "f32") || !strcmp(dt, "f64"))
		return s->g->fdtype;
	if (!strcmp(dt, "i32")) {
		if (st->kind == ST_PARAM) {
			diag_error(s->d, st->type.dtype_loc, "only inputs and labels can be integers (i32); parameters "
			           "are f32 or f64");
			return s->g->fdtype;
		}
		return DT_I32;
	}
	diag_error(s->d, st->type.dtype_loc, "unknown element type '%s' (expected f32, f64 or i32)", dt);
	return s->g->fdtype;
}

/* input, label or param: a tensor of the model.  In a layer's body (sc),
 * a param is named after its instance (enc.W) and bound in sc. */
static void stmt_tensor(Sema *s, const AstStmt *st, Scope *sc)
{
	Shape sh;
	Sym *y = NULL;
	const char *name = sc ? arena_printf(s->a, "%s.%s", s->prefix, st->name) : st->name;
	if (sc) {
		for (int i = 0; i < sc->nb; i++)
			if (!strcmp(sc->b[i].name, st->name)) {
				diag_error(s->d, st->name_loc, "'%s' is already defined in layer '%s'", st->name,
				           sc->self->layer->name);
				return;
			}
	}
	if (!eval_type(s, &st->type, &sh)) {
		if (sc)
			scope_add(s, sc, st->name, st->name_loc, verr());
		else
			define(s, st->name, st->name_loc, SYM_TENSOR, &y); /* later uses stay quiet */
		return;
	}
	Role role = st->kind == ST_PARAM ? ROLE_PARAM : st->kind == ST_LABEL ? ROLE_LABEL
	            : st->kind == ST_CARRY ? ROLE_STATE : ROLE_INPUT;
	DType dt = decl_dtype(s, st, role == ROLE_LABEL);
	int bax = -1;
	if (s->kv_ctx && (role == ROLE_INPUT || role == ROLE_LABEL) && sh.rank == 2)
		sh.d[1] = 1; /* a cached generator: one token; the dims keep their values */
	if (role == ROLE_STATE && sh.rank > 0 && s->have_batch && sh.d[0] == s->g->batch)
		bax = 0;
	if (role != ROLE_PARAM && role != ROLE_STATE) {
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
	if (!sc && !define(s, st->name, st->name_loc, SYM_TENSOR, &y))
		return;
	int ti = graph_add_tensor(s->g, name, role, dt, sh, bax, st->name_loc);
	Tensor *t = &s->g->tensors[ti];
	t->trainable = role == ROLE_PARAM;
	t->carry = role == ROLE_STATE;
	t->of_param = -1;
	if (role == ROLE_PARAM)
		param_init(s, t, st->value, sc);
	if (sc) {
		scope_add(s, sc, st->name, st->name_loc, vnode(t->node));
		return;
	}
	y->tensor = ti;
	y->id = t->node;
}

/* hyper NAME = value: a scalar of the model that the trainer sets when it
 * runs (--set NAME=VALUE), value by default; never trained or saved */
static void stmt_hyper(Sema *s, const AstStmt *st)
{
	Sym *y = NULL;
	Val v = eval(s, st->value, NULL);
	if (v.kind != V_NUM && v.kind != V_ERR)
		diag_error(s->d, st->value->loc, "a hyper-parameter's default is a number, got %s", val_kind(v));
	if (!define(s, st->name, st->name_loc, SYM_TENSOR, &y) || v.kind != V_NUM)
		return;
	int ti = graph_add_tensor(s->g, st->name, ROLE_HYPER, s->g->fdtype, shape_scalar(), -1, st->name_loc);
	Tensor *t = &s->g->tensors[ti];
	t->init = DLRT_INIT_CONST;
	t->init_a = v.num;
	y->tensor = ti;
	y->id = t->node;
}

static void name_node(Sema *s, NodeId id, const char *name)
{
	Node *n = N(s, id);
	if (!n->name && (!(op_info[n->op].flags & OPF_LEAF) || n->op == OP_RANDOM))
		n->name = name;
}

static void add_output(Sema *s, const char *name, NodeId id, int hidden, SrcLoc loc)
{
	Model *m = s->m;
	m->outputs = arena_grow(s->a, m->outputs, (size_t)m->noutputs, (size_t)m->noutputs + 1, sizeof(Output));
	Output *o = &m->outputs[m->noutputs++];
	o->name = name;
	o->node = id;
	o->hidden = hidden;
	o->loc = loc;
}

/* The values of a constant's literal, nested lists matching shape sh from
 * axis k on, into out[*at...]. */
static int literal_values(Sema *s, const AstStmt *st, Val v, const AstExpr *e, Shape sh, int k, double *out,
                          int64_t *at)
{
	if (k == sh.rank) {
		if (v.kind != V_NUM) {
			diag_error(s->d, e->loc, "the literal of '%s' must hold numbers, not a %s", st->name, val_kind(v));
			return 0;
		}
		out[(*at)++] = v.num;
		return 1;
	}
	if (v.kind != V_LIST || v.nitems != sh.d[k]) {
		diag_error(s->d, e->loc, "the literal of '%s' does not match its type %s: axis %d has %lld items, but %s "
		           "%s here", st->name, shp(s, sh), k, (long long)sh.d[k],
		           v.kind == V_LIST ? "the list has" : "this is", v.kind == V_LIST
		           ? arena_printf(s->a, "%d", v.nitems) : arena_printf(s->a, "a %s", val_kind(v)));
		return 0;
	}
	for (int i = 0; i < v.nitems; i++)
		if (!literal_values(s, st, v.items[i], e->kind == AST_LIST && i < e->nargs ? e->args[i].value : e, sh, k + 1,
		                    out, at))
			return 0;
	return 1;
}

/* The values of npy("file.npy") for a tensor `name` of shape sh, into
 * vals (numel of sh); the path is relative to the program's directory. */
static int npy_values(Sema *s, const char *name, const AstExpr *e, Shape sh, double *vals)
{
	int64_t n = shape_numel(sh);
	if (e->nargs != 1 || e->args[0].name || e->args[0].value->kind != AST_STR) {
		diag_error(s->d, e->loc, "npy takes one file name, such as npy(\"weights.npy\")");
		return 0;
	}
	const char *file = e->args[0].value->str;
	const char *slash = strrchr(s->m->source ? s->m->source : "", '/');
	const char *path = file[0] == '/' || !slash ? file
	                   : arena_printf(s->a, "%.*s/%s", (int)(slash - s->m->source), s->m->source, file);
	dlrt_dtype dt;
	int rank;
	int64_t fs[DLRT_MAX_RANK];
	void *raw = NULL;
	if (dlrt_load_npy(path, &dt, &rank, fs, &raw)) {
		diag_error(s->d, e->args[0].value->loc, "cannot read '%s' as a .npy file (the message above says why)",
		           path);
		return 0;
	}
	Shape got = shape_make(rank, fs);
	if (!shape_eq(got, sh) || (dt != DLRT_F32 && dt != DLRT_F64 && dt != DLRT_I32)) {
		diag_error(s->d, e->args[0].value->loc, "'%s' holds %s values of shape %s, but '%s' is declared %s",
		           path, dt == DLRT_F32 ? "f32" : dt == DLRT_F64 ? "f64" : dt == DLRT_I32 ? "i32" : "byte",
		           shp(s, got), name, shp(s, sh));
		free(raw);
		return 0;
	}
	for (int64_t i = 0; i < n; i++) /* finite: the loader rejects NaN and infinities */
		vals[i] = dt == DLRT_F32 ? ((const float *)raw)[i] : dt == DLRT_F64 ? ((const double *)raw)[i]
		                                                                   : ((const int32_t *)raw)[i];
	free(raw);
	return 1;
}

/* `const NAME : [dims] = literal | number | npy("file.npy")`: a tensor of
 * fixed values, written into the generated C and never trained (saved in
 * checkpoints like a param).  A file's path is relative to the program's
 * directory. */
static void stmt_const(Sema *s, const AstStmt *st, Scope *sc)
{
	Shape sh;
	Sym *y = NULL;
	if (sc) {
		for (int i = 0; i < sc->nb; i++)
			if (!strcmp(sc->b[i].name, st->name)) {
				diag_error(s->d, st->name_loc, "'%s' is already defined in layer '%s'", st->name,
				           sc->self->layer->name);
				return;
			}
	} else if (!define(s, st->name, st->name_loc, SYM_TENSOR, &y)) {
		return;
	}
	if (!eval_type(s, &st->type, &sh))
		return;
	if (st->type.dtype && strcmp(st->type.dtype, "f32") && strcmp(st->type.dtype, "f64")) {
		diag_error(s->d, st->type.dtype_loc, "a constant holds floats (f32 or f64), not '%s'", st->type.dtype);
		return;
	}
	int64_t n = shape_numel(sh);
	double *vals = arena_alloc(s->a, sizeof(double) * (size_t)(n ? n : 1));
	const AstExpr *e = st->value;
	if (e->kind == AST_CALL && !strcmp(e->name, "npy")) {
		if (!npy_values(s, st->name, e, sh, vals))
			return;
	} else {
		Val v = eval(s, e, sc);
		if (v.kind == V_ERR)
			return;
		int64_t at = 0;
		if (v.kind == V_NUM) { /* every element the same */
			for (int64_t i = 0; i < n; i++)
				vals[i] = v.num;
		} else if (!literal_values(s, st, v, e, sh, 0, vals, &at)) {
			return;
		}
	}
	const char *name = sc ? arena_printf(s->a, "%s.%s", s->prefix, st->name) : st->name;
	int ti = graph_add_tensor(s->g, name, ROLE_PARAM, s->g->fdtype, sh, -1, st->name_loc);
	Tensor *t = &s->g->tensors[ti];
	t->trainable = 0;
	t->init = DLRT_INIT_DATA;
	t->data = vals;
	t->fan_in = t->fan_out = 1;
	if (sc) {
		scope_add(s, sc, st->name, st->name_loc, vnode(t->node));
		return;
	}
	y->tensor = ti;
	y->id = t->node;
}

/* ---- statements in blocks: bodies of functions, layers and loops ---- */

/* Is sc (or a scope around it, up to its function or layer) a loop body? */
static int in_loop(const Scope *sc)
{
	for (; sc; sc = sc->up) {
		if (sc->loop)
			return 1;
		if (sc->def || sc->self)
			return 0;
	}
	return 0;
}

/* A DSL name for the values bound inside a layer: enc.h */
static const char *value_name(Sema *s, const char *name)
{
	return s->prefix ? arena_printf(s->a, "%s.%s", s->prefix, name) : name;
}

/* `name = v`: a new name in sc, or at the top level (sc NULL). */
static void bind_value(Sema *s, Scope *sc, const char *name, SrcLoc loc, Val v, int is_output)
{
	if (v.kind == V_TUPLE) {
		diag_error(s->d, loc, "this value is %d results; bind them with `%s, ... = ...`", v.nitems, name);
		v = verr();
	}
	if (!sc) {
		Sym *y = lookup(s, name);
		if (s->eval_mode) { /* the evaluation-mode pass: the names exist */
			if (y && y->kind == SYM_VALUE && v.kind != V_ERR) {
				y->val = v;
				y->id = v.kind == V_NODE ? v.id : v.kind == V_NUM ? as_node(s, v, NULL, "") : y->id;
				if (v.kind == V_NODE)
					name_node(s, v.id, name);
			}
			return;
		}
		if (!define(s, name, loc, SYM_VALUE, &y))
			return;
		if (v.kind == V_NUM)
			v = vnode(graph_const(s->g, v.num));
		y->val = v;
		if (v.kind == V_NODE) {
			y->id = v.id;
			name_node(s, v.id, name);
			if (is_output)
				add_output(s, name, v.id, 0, loc);
		} else if (v.kind != V_ERR && is_output) {
			diag_error(s->d, loc, "output '%s' must be a tensor, not a %s", name, val_kind(v));
		}
		return;
	}
	for (int i = 0; i < sc->nb; i++)
		if (!strcmp(sc->b[i].name, name)) {
			diag_error(s->d, loc, "'%s' is already defined%s", name,
			           in_loop(sc) ? "; rebind it with `:=`" : "");
			diag_note(s->d, sc->b[i].loc, "'%s' was defined here", name);
			return;
		}
	if (sc->loop) {
		Scope *where = NULL;
		int outer = scope_find(sc->up, name, &where) != NULL;
		if (!outer && !scope_self(sc) && !sc->def) {
			const Sym *y = lookup(s, name);
			outer = y && y->kind == SYM_VALUE;
		}
		if (outer && in_loop(sc)) {
			diag_error(s->d, loc, "'%s' is already defined outside the loop; rebind it with `%s := ...`", name,
			           name);
			return;
		}
	}
	if (v.kind == V_NODE)
		name_node(s, v.id, value_name(s, name));
	scope_add(s, sc, name, loc, v);
}

/* `name := v` in a loop body: the nearest binding of name, up to the
 * function around the loop (or the top level), takes the new value. */

/* `h := value` at the top level, for `carry h`: the value h takes for the
 * next batch (an output of the model that the trainer copies into h). */
static int carry_update(Sema *s, Scope *sc, const char *name, SrcLoc loc, Val v)
{
	Sym *y = sc ? NULL : lookup(s, name);
	if (!y || y->kind != SYM_TENSOR || !y->id || !s->g->tensors[y->tensor].carry)
		return 0;
	Tensor *t = &s->g->tensors[y->tensor];
	const char *oname = arena_printf(s->a, "%s.next", name);
	if (v.kind == V_ERR)
		return 1;
	if (v.kind != V_NODE) {
		diag_error(s->d, loc, "the next value of carry '%s' must be a tensor, not a %s", name, val_kind(v));
		return 1;
	}
	NodeId id = v.id;
	const Node *n = N(s, id);
	char b1[96], b2[96];
	if (!shape_eq(n->shape, t->shape) || n->dtype != t->dtype) {
		diag_error(s->d, loc, "carry '%s' is %s %s, but its next value is %s %s", name, dtype_name(t->dtype),
		           shape_str(t->shape, b1, sizeof b1), dtype_name((DType)n->dtype), shape_str(n->shape, b2, sizeof b2));
		return 1;
	}
	if (!s->eval_mode && t->carry_out) {
		diag_error(s->d, loc, "carry '%s' gets its next value twice", name);
		return 1;
	}
	carry_next(s, y->tensor, oname, id);
	return 1;
}

static void rebind(Sema *s, Scope *sc, const char *name, SrcLoc loc, Val v)
{
	if (carry_update(s, sc, name, loc, v))
		return;
	if (!in_loop(sc)) {
		diag_error(s->d, loc, "`%s := ...` rebinds a name, which only a loop body does; define it with `%s = ...`",
		           name, name);
		return;
	}
	if (v.kind == V_TUPLE) {
		diag_error(s->d, loc, "this value is %d results; rebind them with `%s, ... := ...`", v.nitems, name);
		return;
	}
	for (Scope *k = sc; k; k = k->up) {
		for (int i = k->nb; i-- > 0;)
			if (!strcmp(k->b[i].name, name)) {
				if (k->self && !k->def && !k->loop) {
					diag_error(s->d, loc, "'%s' is a member of layer '%s' and cannot be rebound", name,
					           k->self->layer->name);
					return;
				}
				if (v.kind == V_NODE)
					name_node(s, v.id, value_name(s, name));
				if (v.kind != V_ERR)
					k->b[i].v = v;
				return;
			}
		if (k->def || k->self)
			break;
		if (!k->up) { /* a loop at the top level: the program's names */
			Sym *y = lookup(s, name);
			if (y && y->kind == SYM_VALUE) {
				if (v.kind == V_NUM)
					v = vnode(graph_const(s->g, v.num));
				if (v.kind == V_NODE) {
					name_node(s, v.id, name);
					y->id = v.id;
				}
				if (v.kind != V_ERR)
					y->val = v;
				return;
			}
			if (y) {
				diag_error(s->d, loc, "'%s' is not a value and cannot be rebound", name);
				return;
			}
		}
	}
	diag_error(s->d, loc, "`%s := ...` rebinds a name, but '%s' is not defined before the loop%s", name, name,
	           suggest(s, name, 0, sc));
}

/* The value of `a, b = v`: v must be exactly n results. */
static int several(Sema *s, const AstStmt *st, Val v)
{
	if (v.kind == V_ERR)
		return 0;
	if (v.kind != V_TUPLE) {
		diag_error(s->d, st->value->loc, "%d names are bound, but the value is one %s", st->nnames, val_kind(v));
		return 0;
	}
	if (v.nitems != st->nnames) {
		diag_error(s->d, st->value->loc, "%d names are bound, but the value has %d results", st->nnames,
		           v.nitems);
		return 0;
	}
	return 1;
}

static int loop_bound(Sema *s, const AstExpr *e, Scope *sc, int64_t *out)
{
	Val v = eval(s, e, sc);
	if (v.kind == V_ERR)
		return 0;
	if (v.kind != V_NUM || !v.is_int) {
		diag_error(s->d, e->loc, "a loop bound must be a compile-time integer (a number, dim or loop variable), "
		           "not a %s", v.kind == V_NUM ? "fraction" : val_kind(v));
		return 0;
	}
	*out = (int64_t)v.num;
	return 1;
}

static const char *stmt_word(AstStmtKind k)
{
	switch (k) {
	case ST_DIM: return "dim";
	case ST_DTYPE: return "dtype";
	case ST_INPUT: return "input";
	case ST_LABEL: return "label";
	case ST_PARAM: return "param";
	case ST_DEF: return "def";
	case ST_OUTPUT: return "output";
	case ST_LOSS: return "loss";
	case ST_TRAIN: return "train";
	case ST_LAYER: return "layer";
	case ST_RETURN: return "return";
	case ST_CARRY: return "carry";
	case ST_CONST: return "const";
	case ST_HYPER: return "hyper";
	default: return "this statement";
	}
}

/* One statement in a body (sc) or at the top level (sc NULL). */
static void exec_stmt(Sema *s, const AstStmt *st, Scope *sc)
{
	int layer_body = sc && sc->self && !sc->def && !sc->loop;
	switch (st->kind) {
	case ST_LET: {
		const AstExpr *v = st->value;
		if (v->kind == AST_CALL && !strcmp(v->name, "choose") && !lookup(s, "choose")) {
			v = chosen(s, v, sc); /* `cell = choose(K, RNN(...), GRU(...))` makes one instance */
			if (!v) {
				bind_value(s, sc, st->name, st->name_loc, verr(), 0); /* later uses stay quiet */
				return;
			}
		}
		const Sym *ly = v->kind == AST_CALL ? find_layer(s, v->name) : NULL;
		if (ly && (!sc || !scope_find(sc, v->name, NULL))) {
			if (s->eval_mode && !sc)
				return; /* made in the first pass */
			if (sc && !layer_body) {
				diag_error(s->d, st->loc, "layer instances are made at the top level or in a layer's body, "
				           "not in a function or loop");
				bind_value(s, sc, st->name, st->name_loc, verr(), 0); /* its uses say nothing more */
				return;
			}
			Val inst = instantiate(s, ly->def, v, sc, s->prefix ? arena_printf(s->a, "%s.%s", s->prefix, st->name)
			                                                     : st->name);
			if (st->is_output && inst.kind != V_ERR)
				diag_error(s->d, st->loc, "output '%s' must be a tensor, not a layer instance", st->name);
			bind_value(s, sc, st->name, st->name_loc, inst, 0);
			return;
		}
		bind_value(s, sc, st->name, st->name_loc, eval(s, v, sc), st->is_output);
		return;
	}
	case ST_MULTI: {
		Val v = eval(s, st->value, sc);
		int ok = several(s, st, v);
		for (int i = 0; i < st->nnames; i++)
			bind_value(s, sc, st->names[i], st->name_locs[i], ok ? v.items[i] : verr(), 0);
		return;
	}
	case ST_REBIND: {
		Val v = eval(s, st->value, sc);
		if (st->nnames == 1) {
			rebind(s, sc, st->name, st->name_loc, v);
			return;
		}
		if (!several(s, st, v))
			return;
		for (int i = 0; i < st->nnames; i++)
			rebind(s, sc, st->names[i], st->name_locs[i], v.items[i]);
		return;
	}
	case ST_ARRAY: {
		const AstExpr *v = st->value;
		const Sym *ly = v->kind == AST_CALL ? find_layer(s, v->name) : NULL;
		if (!ly) {
			diag_error(s->d, v->loc, "an array `%s[n] = ...` holds n instances of a layer, such as "
			           "`s[6] = MLP(2, 256, 2)`", st->name);
			return;
		}
		if (s->eval_mode && !sc)
			return;
		if (sc && !layer_body) {
			diag_error(s->d, st->loc, "layer instances are made at the top level or in a layer's body, "
			           "not in a function or loop");
			return;
		}
		int64_t n;
		if (!loop_bound(s, st->count, sc, &n))
			return;
		if (n < 1 || n > 100000) {
			diag_error(s->d, st->count->loc, "an array holds 1 to 100000 instances, got %lld", (long long)n);
			return;
		}
		Val arr = verr();
		arr.kind = V_LIST;
		arr.nitems = (int)n;
		arr.items = arena_alloc(s->a, sizeof(Val) * (size_t)n);
		const char *base = s->prefix ? arena_printf(s->a, "%s.%s", s->prefix, st->name) : st->name;
		for (int64_t i = 0; i < n; i++) {
			arr.items[i] = instantiate(s, ly->def, v, sc, arena_printf(s->a, "%s.%lld", base, (long long)i));
			if (arr.items[i].kind == V_ERR) {
				arr = verr();
				break;
			}
		}
		bind_value(s, sc, st->name, st->name_loc, arr, 0);
		return;
	}
	case ST_FOR: {
		int64_t lo, hi;
		int ok = loop_bound(s, st->value, sc, &lo);
		ok &= loop_bound(s, st->hi, sc, &hi);
		if (!ok)
			return;
		if (hi - lo > 100000) {
			diag_error(s->d, st->loc, "a loop runs at most 100000 times (it is unrolled), got %lld",
			           (long long)(hi - lo));
			return;
		}
		for (int64_t i = lo; i < hi; i++) {
			Scope *it = scope_new(s, sc, NULL);
			it->loop = 1;
			scope_add(s, it, st->name, st->name_loc, vnum((double)i, 1));
			int before = s->d->nerrors;
			exec_block(s, st->body, it);
			if (s->d->nerrors > before) {
				diag_note(s->d, st->loc, "in the iteration %s = %lld of this loop", st->name, (long long)i);
				break;
			}
		}
		return;
	}
	case ST_CARRY:
		if (sc) {
			diag_error(s->d, st->loc, "a 'carry' is declared at the top level of the program");
			return;
		}
		break;
	case ST_RETURN:
		if (!sc || !sc->def) {
			diag_error(s->d, st->loc, sc && in_loop(sc) ? "'return' inside a loop; return after the loop"
			                                            : "'return' is only allowed in the body of a def");
			return;
		}
		sc->ret = eval(s, st->value, sc);
		sc->returned = 1;
		return;
	case ST_PARAM:
	case ST_CONST:
		if (layer_body) {
			if (st->kind == ST_PARAM)
				stmt_tensor(s, st, sc);
			else
				stmt_const(s, st, sc);
			return;
		}
		break;
	case ST_DEF:
		if (layer_body)
			return; /* a method: inlined where it is called */
		break;
	default:
		break;
	}
	if (layer_body)
		return; /* reported with the layer's definition */
	diag_error(s->d, st->loc, "'%s' belongs at the top level of the program%s", stmt_word(st->kind),
	           st->kind == ST_PARAM || st->kind == ST_DEF ? " or in a layer's body" : "");
}

/* The statements of a body, in order; returns 0 after an error. */
static int exec_block(Sema *s, const AstBlock *b, Scope *sc)
{
	int before = s->d->nerrors;
	Scope *saved = s->cur;
	s->cur = sc;
	for (int i = 0; b && i < b->n; i++) {
		if (sc->returned) {
			diag_error(s->d, b->stmts[i]->loc, "this statement comes after 'return' and would never run");
			break;
		}
		exec_stmt(s, b->stmts[i], sc);
	}
	s->cur = saved;
	return s->d->nerrors == before;
}

/* `path = layer(args)`: the layer's body runs once with its parameters
 * bound to the arguments; its params become the model's tensors path.NAME. */
static Val instantiate(Sema *s, const AstStmt *layer, const AstExpr *call, Scope *caller, const char *path)
{
	const AstExpr *args[64];
	if (layer->nparams > 64) {
		diag_error(s->d, call->loc, "'%s' has too many parameters", layer->name);
		return verr();
	}
	if (s->depth >= 64) {
		diag_error(s->d, call->loc, "layers nested too deeply (does '%s' contain itself?)", layer->name);
		return verr();
	}
	if (!inline_budget(s, call->loc, layer->name, 8))
		return verr();
	if (!bind_args(s, call, layer->name, layer->params, layer->nparams, required_params(layer), args))
		return verr();
	Instance *inst = arena_alloc(s->a, sizeof *inst);
	inst->layer = layer;
	inst->path = path;
	Scope *is = scope_new(s, NULL, inst);
	inst->scope = is;
	for (int i = 0; i < layer->nparams; i++) {
		Val v = args[i] ? eval(s, args[i], caller) : eval(s, layer->param_defaults[i], is);
		if (v.kind == V_ERR)
			return verr();
		scope_add(s, is, layer->params[i], layer->param_locs[i], v);
	}
	int before = s->d->nerrors;
	const char *saved_prefix = s->prefix;
	s->prefix = path;
	s->depth++;
	exec_block(s, layer->body, is);
	s->depth--;
	s->prefix = saved_prefix;
	if (s->d->nerrors > before) {
		diag_note(s->d, call->loc, "in this instance of layer '%s'", layer->name);
		return verr();
	}
	Val v = verr();
	v.kind = V_LAYER;
	v.inst = inst;
	return v;
}

/* `layer NAME(params) { body }` */
static void stmt_layer(Sema *s, const AstStmt *st, int prelude)
{
	for (int k = 0; k < st->nparams; k++)
		for (int j = 0; j < k; j++)
			if (!strcmp(st->params[k], st->params[j]))
				diag_error(s->d, st->param_locs[k], "parameter '%s' appears twice", st->params[k]);
	int ncall = 0;
	for (int i = 0; st->body && i < st->body->n; i++) {
		const AstStmt *d = st->body->stmts[i];
		if (d->kind != ST_DEF)
			continue;
		if (!d->name && ++ncall > 1)
			diag_error(s->d, d->loc, "layer '%s' has two 'def (...)'; name the others (def encode(x) = ...)",
			           st->name);
		for (int j = 0; d->name && j < i; j++) {
			const AstStmt *o = st->body->stmts[j];
			if (o->kind == ST_DEF && o->name && !strcmp(o->name, d->name))
				diag_error(s->d, d->name_loc, "method '%s' is defined twice in layer '%s'", d->name, st->name);
		}
	}
	for (int i = 0; st->body && i < st->body->n; i++) {
		const AstStmt *b = st->body->stmts[i];
		if (b->kind != ST_PARAM && b->kind != ST_CONST && b->kind != ST_DEF && b->kind != ST_LET && b->kind != ST_MULTI &&
		    b->kind != ST_ARRAY && b->kind != ST_FOR)
			diag_error(s->d, b->loc, "'%s' belongs at the top level of the program, not in layer '%s'",
			           stmt_word(b->kind), st->name);
	}
	Sym *y;
	if (define(s, st->name, st->name_loc, SYM_LAYER, &y)) {
		y->def = st;
		y->prelude = prelude;
	}
}

/* ---- the train block ---- */

static int text_spec(Sema *s, const AstExpr *e, DataSpec *ds);
/* parens(n, pairs, min_len, max_len, len, negatives, near_miss): bracket strings
 * (runtime/parens.c); each parameter is checked against what it can be.
 * Whether the strings fit the model's inputs is checked once the whole
 * program is read (parens_fits). */
static int parens_spec(Sema *s, const AstExpr *e, DataSpec *ds)
{
	static const char *const pn[] = {"n", "pairs", "min_len", "max_len", "len", "negatives", "near_miss"};
	const AstExpr *args[7] = {NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	int ok = 1;
	if (e->kind == AST_CALL && !bind_args(s, e, "parens", pn, 7, 0, args))
		return 0;
	ds->kind = DATA_GEN;
	ds->gen = GEN_PARENS;
	ds->gen_loc = e->loc;
	ds->gen_n = 1000;
	ds->gen_pairs = 5;
	ds->gen_min_len = 4;
	ds->gen_max_len = 20;
	ds->gen_negatives = 0.5;
	ds->gen_near_miss = 1;
	for (int j = 0; j < 7; j++) {
		if (!args[j])
			continue;
		Val x = eval(s, args[j], NULL);
		if (x.kind == V_ERR) {
			ok = 0;
			continue;
		}
		if (j == 6) {
			if (x.kind != V_NUM || (x.num != 0 && x.num != 1)) {
				diag_error(s->d, args[j]->loc, "near_miss of 'parens' must be 1 (negatives one corruption "
				           "away from a well-formed string) or 0 (random strings)");
				ok = 0;
			} else {
				ds->gen_near_miss = (int64_t)x.num;
			}
			continue;
		}
		if (j == 5) {
			if (x.kind != V_NUM || !(x.num >= 0 && x.num <= 1)) {
				diag_error(s->d, args[j]->loc, "negatives of 'parens' must be a number in [0, 1] "
				           "(the fraction of strings that are not well-formed)");
				ok = 0;
			} else {
				ds->gen_negatives = x.num;
			}
			continue;
		}
		int is_len = j >= 2;
		double hi = j == 1 ? 64 : is_len ? 100000 : 1e9;
		if (x.kind != V_NUM || !x.is_int || x.num < (is_len ? 2 : 1) || x.num > hi ||
		    (is_len && fmod(x.num, 2) != 0)) {
			diag_error(s->d, args[j]->loc, "%s of 'parens' must be %s", pn[j],
			           j == 0 ? "a positive integer" : j == 1 ? "an integer from 1 to 64 (bracket kinds)" :
			           "an even integer >= 2 (a well-formed string has even length)");
			ok = 0;
			continue;
		}
		int64_t v = (int64_t)x.num;
		if (j == 0) ds->gen_n = v;
		else if (j == 1) ds->gen_pairs = v;
		else if (j == 2) ds->gen_min_len = v;
		else if (j == 3) ds->gen_max_len = v;
		else ds->gen_min_len = ds->gen_max_len = v;
	}
	if (ok && args[4] && (args[2] || args[3])) {
		diag_error(s->d, args[4]->loc, "'len' gives every string the same length; drop %s or 'len'",
		           args[2] ? "'min_len'" : "'max_len'");
		return 0;
	}
	if (ok && ds->gen_min_len > ds->gen_max_len) {
		diag_error(s->d, (args[2] ? args[2] : args[3])->loc, "min_len of 'parens' (%lld) must be at most max_len (%lld)",
		           (long long)ds->gen_min_len, (long long)ds->gen_max_len);
		return 0;
	}
	return ok;
}

/* A parens(...) dataset fills the model's first input x : f32[B, L, 2 pairs]
 * (one-hot symbols), a second input m : f32[B, L] if there is one (the
 * mask) and its one label (1 well-formed, 0 not): strings must fit in L. */
static void parens_fits(Sema *s, const DataSpec *ds, const char *key)
{
	const Tensor *x = NULL, *mask = NULL, *lab = NULL;
	int ninputs = 0, nlabels = 0;
	int64_t V = 2 * ds->gen_pairs;
	if (ds->kind != DATA_GEN || ds->gen != GEN_PARENS)
		return;
	for (int t = 0; t < s->g->ntensors; t++) {
		const Tensor *T = &s->g->tensors[t];
		if (T->role == ROLE_INPUT) {
			ninputs++;
			if (!x)
				x = T;
			else if (!mask)
				mask = T;
		} else if (T->role == ROLE_LABEL) {
			nlabels++;
			lab = T;
		}
	}
	if (!x || ninputs > 2 || nlabels != 1 || x->dtype == DT_I32 || x->shape.rank != 3 || x->bax != 0 ||
	    x->shape.d[2] != V) {
		diag_error(s->d, ds->gen_loc, "%s = parens(...) draws one-hot strings of %lld symbols (pairs = %lld): "
		           "it fills an input x : f32[B, L, %lld], optionally a mask m : f32[B, L], and one label "
		           "y : i32[B]; this program has %d input%s (the first %s) and %d label%s",
		           key, (long long)V, (long long)ds->gen_pairs, (long long)V, ninputs, ninputs == 1 ? "" : "s",
		           x ? arena_printf(s->a, "'%s' : %s", x->name, shp(s, x->shape)) : "none",
		           nlabels, nlabels == 1 ? "" : "s");
		return;
	}
	int64_t L = x->shape.d[1];
	if (mask && (mask->dtype == DT_I32 || mask->shape.rank != 2 || mask->bax != 0 || mask->shape.d[1] != L)) {
		diag_error(s->d, ds->gen_loc, "%s = parens(...): the second input '%s' is the mask of the string "
		           "positions, f32[B, %lld] for x's %lld positions; it is %s", key, mask->name,
		           (long long)L, (long long)L, shp(s, mask->shape));
		return;
	}
	if (lab->shape.rank != 1 || lab->bax != 0) {
		diag_error(s->d, ds->gen_loc, "%s = parens(...): label '%s' holds one class per string, [B]; it is %s",
		           key, lab->name, shp(s, lab->shape));
		return;
	}
	if (ds->gen_max_len > L)
		diag_error(s->d, ds->gen_loc, "%s = parens(...) draws strings of up to %lld symbols, longer than "
		           "the %lld positions of input '%s' : %s", key, (long long)ds->gen_max_len, (long long)L,
		           x->name, shp(s, x->shape));
}

/* hist(n, vocab, len): token sequences labelled with each token's count
 * (runtime/hist.c); len 0 (left out) is the input's length, resolved with
 * the check against the model's tensors (hist_fits). */
static int hist_spec(Sema *s, const AstExpr *e, DataSpec *ds)
{
	static const char *const pn[] = {"n", "vocab", "len"};
	static const double hi[] = {1e9, 1000000, 100000};
	const AstExpr *args[3] = {NULL, NULL, NULL};
	int ok = 1;
	if (e->kind == AST_CALL && !bind_args(s, e, "hist", pn, 3, 0, args))
		return 0;
	ds->kind = DATA_GEN;
	ds->gen = GEN_HIST;
	ds->gen_loc = e->loc;
	ds->gen_n = 1000;
	ds->gen_vocab = 10;
	ds->gen_max_len = 0;
	for (int j = 0; j < 3; j++) {
		if (!args[j])
			continue;
		Val x = eval(s, args[j], NULL);
		if (x.kind == V_ERR) {
			ok = 0;
			continue;
		}
		if (x.kind != V_NUM || !x.is_int || x.num < 1 || x.num > hi[j]) {
			diag_error(s->d, args[j]->loc, "%s of 'hist' must be %s", pn[j],
			           j == 0 ? "a positive integer" : j == 1 ? "an integer from 1 to 1000000 (token kinds)" :
			           "an integer from 1 to 100000 (tokens per sequence)");
			ok = 0;
			continue;
		}
		if (j == 0) ds->gen_n = (int64_t)x.num;
		else if (j == 1) ds->gen_vocab = (int64_t)x.num;
		else ds->gen_min_len = ds->gen_max_len = (int64_t)x.num;
	}
	return ok;
}

/* A hist(...) dataset fills the model's one input x : i32[B, T] (the
 * tokens) and its one label y : [B, T] (the counts): len must be T. */
static void hist_fits(Sema *s, DataSpec *ds, const char *key)
{
	const Tensor *x = NULL, *lab = NULL;
	int ninputs = 0, nlabels = 0;
	if (ds->kind != DATA_GEN || ds->gen != GEN_HIST)
		return;
	for (int t = 0; t < s->g->ntensors; t++) {
		const Tensor *T = &s->g->tensors[t];
		if (T->role == ROLE_INPUT && ninputs++ == 0)
			x = T;
		else if (T->role == ROLE_LABEL && nlabels++ == 0)
			lab = T;
	}
	if (ninputs != 1 || nlabels != 1 || x->dtype != DT_I32 || x->shape.rank != 2 || x->bax != 0) {
		diag_error(s->d, ds->gen_loc, "%s = hist(...) draws sequences of tokens: it fills one input "
		           "x : i32[B, T] (the tokens) and one label y : i32[B, T] (their counts); this program has %d input%s (the first %s) "
		           "and %d label%s", key, ninputs, ninputs == 1 ? "" : "s",
		           x ? arena_printf(s->a, "'%s' : %s%s", x->name, x->dtype == DT_I32 ? "i32" : "f32",
		                            shp(s, x->shape)) : "none",
		           nlabels, nlabels == 1 ? "" : "s");
		return;
	}
	int64_t T = x->shape.d[1];
	if (lab->shape.rank != 2 || lab->bax != 0 || lab->shape.d[1] != T) {
		diag_error(s->d, ds->gen_loc, "%s = hist(...): label '%s' holds the count of the token at each "
		           "of x's %lld positions, [B, %lld]; it is %s", key, lab->name, (long long)T, (long long)T,
		           shp(s, lab->shape));
		return;
	}
	if (ds->gen_max_len && ds->gen_max_len != T) {
		diag_error(s->d, ds->gen_loc, "%s = hist(...) draws sequences of %lld tokens, but input '%s' : %s "
		           "has %lld positions (leave 'len' out to take them)", key, (long long)ds->gen_max_len,
		           x->name, shp(s, x->shape), (long long)T);
		return;
	}
	ds->gen_min_len = ds->gen_max_len = T;
	if (x->classes > 0 && ds->gen_vocab > x->classes)
		diag_error(s->d, ds->gen_loc, "%s = hist(...) draws tokens 0..%lld (vocab = %lld), but the ids of "
		           "input '%s' index a table of %lld rows", key, (long long)ds->gen_vocab - 1,
		           (long long)ds->gen_vocab, x->name, (long long)x->classes);
	else if (lab->dtype == DT_I32 && lab->classes > 0 && lab->classes <= T)
		diag_error(s->d, ds->gen_loc, "%s = hist(...) labels each position with its token's count, 1..%lld: "
		           "label '%s' has %lld classes, it needs %lld (class 0 never occurs)", key, (long long)T,
		           lab->name, (long long)lab->classes, (long long)T + 1);
}

static const char *program_path(Sema *s, const char *file, int absolute);
/* reverse_words(file, n, min_len, max_len, test_share, valid_share): the
 * words of a word list and their letters reversed (runtime/words.c); the
 * set (training, test or validation words) is the train setting's key.
 * Whether they fit the model's inputs is checked once the whole program is
 * read (words_fits). */
static int words_spec(Sema *s, const AstExpr *e, DataSpec *ds, const char *key)
{
	static const char *const pn[] = {"file", "n", "min_len", "max_len", "test_share", "valid_share"};
	const AstExpr *args[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
	int ok = 1;
	if (e->kind == AST_CALL && !bind_args(s, e, "reverse_words", pn, 6, 0, args))
		return 0;
	ds->kind = DATA_GEN;
	ds->gen = GEN_WORDS;
	ds->gen_loc = e->loc;
	ds->gen_file = "/usr/share/dict/american-english";
	ds->gen_part = !strcmp(key, "test") ? 1 : !strcmp(key, "valid") ? 2 : 0;
	ds->gen_n = 0;
	ds->gen_min_len = 1;
	ds->gen_max_len = 10;
	ds->gen_test_share = 0.1;
	ds->gen_valid_share = 0.05;
	if (args[0]) {
		if (args[0]->kind != AST_STR || !args[0]->str[0]) {
			diag_error(s->d, args[0]->loc, "file of 'reverse_words' must be the word list's name as a string, "
			           "such as \"/usr/share/dict/american-english\"");
			ok = 0;
		} else {
			ds->gen_file = program_path(s, args[0]->str, 1);
		}
	}
	for (int j = 1; j < 6; j++) {
		if (!args[j])
			continue;
		Val x = eval(s, args[j], NULL);
		if (x.kind == V_ERR) {
			ok = 0;
			continue;
		}
		if (j >= 4) {
			if (x.kind != V_NUM || !(x.num >= 0 && x.num < 1)) {
				diag_error(s->d, args[j]->loc, "%s of 'reverse_words' must be a number in [0, 1) (the share "
				           "of the words held out for the %s set)", pn[j], j == 4 ? "test" : "validation");
				ok = 0;
			} else if (j == 4) {
				ds->gen_test_share = x.num;
			} else {
				ds->gen_valid_share = x.num;
			}
			continue;
		}
		if (x.kind != V_NUM || !x.is_int || x.num < (j == 1 ? 0 : 1) || x.num > (j == 1 ? 1e9 : 1000)) {
			diag_error(s->d, args[j]->loc, "%s of 'reverse_words' must be %s", pn[j],
			           j == 1 ? "an integer >= 0 (how many words; 0 all of them)" :
			           "an integer from 1 to 1000 (letters of a word)");
			ok = 0;
			continue;
		}
		if (j == 1) ds->gen_n = (int64_t)x.num;
		else if (j == 2) ds->gen_min_len = (int64_t)x.num;
		else ds->gen_max_len = (int64_t)x.num;
	}
	if (ok && ds->gen_min_len > ds->gen_max_len) {
		diag_error(s->d, (args[2] ? args[2] : args[3])->loc, "min_len of 'reverse_words' (%lld) must be at "
		           "most max_len (%lld)", (long long)ds->gen_min_len, (long long)ds->gen_max_len);
		return 0;
	}
	if (ok && ds->gen_test_share + ds->gen_valid_share >= 1) {
		diag_error(s->d, (args[4] ? args[4] : args[5])->loc, "'reverse_words' holds out %g of the words for "
		           "the test set and %g for the validation set, which leaves none for training",
		           ds->gen_test_share, ds->gen_valid_share);
		return 0;
	}
	return ok;
}

/* A reverse_words(...) dataset fills the model's three inputs, the letters
 * i32[B, S], their mask f32[B, S] and the decoder's input i32[B, T], and its
 * label i32[B, T]: words of max_len letters need S >= max_len and T >=
 * max_len + 1.  The sets of one train block must split the same word list
 * the same way, or their words could overlap. */
static void words_fits(Sema *s, const DataSpec *ds, const char *key)
{
	const Tensor *t[4] = {NULL, NULL, NULL, NULL};
	int nin = 0, nlab = 0;
	if (ds->kind != DATA_GEN || ds->gen != GEN_WORDS)
		return;
	for (int i = 0; i < s->g->ntensors; i++) {
		const Tensor *T = &s->g->tensors[i];
		if (T->role == ROLE_INPUT && nin < 3)
			t[nin] = T;
		else if (T->role == ROLE_LABEL && nlab < 1)
			t[3] = T;
		nin += T->role == ROLE_INPUT;
		nlab += T->role == ROLE_LABEL;
	}
	int bad = nin != 3 || nlab != 1;
	for (int i = 0; i < 4 && !bad; i++)
		bad = (t[i]->dtype == DT_I32) != (i != 1) || t[i]->shape.rank != 2 || t[i]->bax != 0;
	if (bad || t[1]->shape.d[1] != t[0]->shape.d[1] || t[3]->shape.d[1] != t[2]->shape.d[1]) {
		diag_error(s->d, ds->gen_loc, "%s = reverse_words(...) fills three inputs, the letters "
		           "src : i32[B, S], their mask m : f32[B, S] and the decoder's input (BOS and the letters "
		           "reversed) tgt : i32[B, T], and one label y : i32[B, T] (the letters reversed and EOS); "
		           "this program has %d input%s and %d label%s%s", key, nin, nin == 1 ? "" : "s", nlab,
		           nlab == 1 ? "" : "s", bad ? ", not of these types" : ", of other lengths");
		return;
	}
	int64_t S = t[0]->shape.d[1], T = t[2]->shape.d[1];
	if (ds->gen_max_len > S || ds->gen_max_len + 1 > T) {
		diag_error(s->d, ds->gen_loc, "%s = reverse_words(...) draws words of up to %lld letters: the "
		           "letters need S >= %lld positions and the reversed letters and EOS T >= %lld; '%s' is %s "
		           "and '%s' %s", key, (long long)ds->gen_max_len, (long long)ds->gen_max_len,
		           (long long)ds->gen_max_len + 1, t[0]->name, shp(s, t[0]->shape), t[2]->name,
		           shp(s, t[2]->shape));
		return;
	}
	for (int i = 0; i < 4; i++)
		if (i != 1 && t[i]->classes > 0 && t[i]->classes < 29) {
			diag_error(s->d, ds->gen_loc, "%s = reverse_words(...) uses 29 ids (0 padding, 1 BOS, 2 EOS, "
			           "3..28 the letters a-z), but the ids of '%s' %s %lld classes", key, t[i]->name,
			           i == 3 ? "have" : "index a table of", (long long)t[i]->classes);
			return;
		}
	const DataSpec *tr = &s->m->train_data;
	if (ds != tr && tr->kind == DATA_GEN && tr->gen == GEN_WORDS &&
	    (strcmp(ds->gen_file, tr->gen_file) || ds->gen_test_share != tr->gen_test_share ||
	     ds->gen_valid_share != tr->gen_valid_share))
		diag_error(s->d, ds->gen_loc, "%s = reverse_words(...) splits the words otherwise than data = "
		           "reverse_words(...) (another file, test_share or valid_share), so its words could be "
		           "training words; give both the same", key);
}

/* key: "data", "test" or "valid", the train setting the dataset is for. */
static int data_spec(Sema *s, const AstExpr *e, DataSpec *ds, const char *key)
{
	static const char *const gens[] = {"moons", "circles", "gaussians", "spiral", "checkerboard"};
	int gen = -1;
	memset(ds, 0, sizeof *ds);
	if (e->kind == AST_CALL && !strcmp(e->name, "choose")) { /* test = choose(K, set0, set1, ...) */
		e = chosen(s, e, NULL);
		if (!e)
			return 0;
	}
	for (int i = 0; i < 5; i++)
		if ((e->kind == AST_CALL || e->kind == AST_NAME) && !strcmp(e->name, gens[i]))
			gen = i;
	if ((e->kind == AST_CALL || e->kind == AST_NAME) && !strcmp(e->name, "parens"))
		return parens_spec(s, e, ds);
	if ((e->kind == AST_CALL || e->kind == AST_NAME) && !strcmp(e->name, "hist"))
		return hist_spec(s, e, ds);
	if ((e->kind == AST_CALL || e->kind == AST_NAME) && !strcmp(e->name, "reverse_words"))
		return words_spec(s, e, ds, key);
	/* split(fraction, seed = 0): rows of the training set held out. */
	if (e->kind == AST_CALL && !strcmp(e->name, "split")) {
		static const char *const pn[] = {"fraction", "seed"};
		const AstExpr *args[2];
		if (!strcmp(key, "data")) {
			diag_error(s->d, e->loc, "split(...) holds rows of the training set out for 'test' or "
			           "'valid'; 'data' needs a dataset of its own");
			return 0;
		}
		if (!bind_args(s, e, "split", pn, 2, 1, args))
			return 0;
		Val f = eval(s, args[0], NULL);
		if (f.kind != V_NUM || !(f.num > 0 && f.num < 1)) {
			if (f.kind != V_ERR)
				diag_error(s->d, args[0]->loc, "the fraction of 'split' must be a number in (0, 1)");
			return 0;
		}
		ds->kind = DATA_SPLIT;
		ds->split = f.num;
		if (args[1]) {
			Val sd = eval(s, args[1], NULL);
			if (sd.kind != V_NUM || !sd.is_int || sd.num < 0 || sd.num > 9e15) {
				if (sd.kind != V_ERR)
					diag_error(s->d, args[1]->loc, "the seed of 'split' must be a non-negative integer");
				return 0;
			}
			ds->split_seed = (int64_t)sd.num;
		}
		return 1;
	}
	/* The 2-D generators; each parameter is checked against what it can be. */
	if (gen >= 0) {
		static const char *const pn[5][4] = {
			{"n", "noise", NULL, NULL},
			{"n", "noise", "factor", NULL},
			{"n", "k", "radius", "std"},
			{"n", "turns", "noise", NULL},
			{"n", NULL, NULL, NULL},
		};
		const AstExpr *args[4] = {NULL, NULL, NULL, NULL};
		int np = 0, ok = 1;
		while (np < 4 && pn[gen][np])
			np++;
		if (e->kind == AST_CALL && !bind_args(s, e, gens[gen], pn[gen], np, 0, args))
			return 0;
		ds->kind = DATA_GEN;
		ds->gen = (GenKind)(gen + 1);
		ds->gen_n = 1000;
		ds->gen_noise = gen == 1 ? 0.05 : 0.1;
		ds->gen_factor = 0.5;
		ds->gen_k = 8;
		ds->gen_radius = 2.0;
		ds->gen_std = 0.2;
		ds->gen_turns = 1.5;
		for (int j = 0; j < np; j++) {
			const char *p = pn[gen][j];
			if (!args[j])
				continue;
			Val x = eval(s, args[j], NULL);
			if (x.kind == V_ERR) {
				ok = 0;
				continue;
			}
			int is_count = !strcmp(p, "n") || !strcmp(p, "k");
			int bad = x.kind != V_NUM || (is_count && (!x.is_int || x.num < 1 || x.num > 1e9)) ||
			          (!strcmp(p, "noise") && !(x.num >= 0)) || (!strcmp(p, "std") && !(x.num >= 0)) ||
			          (!strcmp(p, "factor") && !(x.num > 0 && x.num < 1)) ||
			          ((!strcmp(p, "radius") || !strcmp(p, "turns")) && !(x.num > 0));
			if (bad) {
				diag_error(s->d, args[j]->loc, "%s of '%s' must be %s", p, gens[gen],
				           is_count ? "a positive integer" :
				           !strcmp(p, "factor") ? "a number in (0, 1) (the inner circle's radius over the outer's)" :
				           !strcmp(p, "radius") || !strcmp(p, "turns") ? "a number > 0" : "a number >= 0");
				ok = 0;
				continue;
			}
			if (!strcmp(p, "n")) ds->gen_n = (int64_t)x.num;
			else if (!strcmp(p, "k")) ds->gen_k = (int64_t)x.num;
			else if (!strcmp(p, "noise")) ds->gen_noise = x.num;
			else if (!strcmp(p, "factor")) ds->gen_factor = x.num;
			else if (!strcmp(p, "radius")) ds->gen_radius = x.num;
			else if (!strcmp(p, "std")) ds->gen_std = x.num;
			else ds->gen_turns = x.num;
		}
		return ok;
	}
	if (e->kind == AST_CALL && !strcmp(e->name, "text"))
		return text_spec(s, e, ds);
	if (e->kind != AST_CALL || (strcmp(e->name, "idx") && strcmp(e->name, "csv") && strcmp(e->name, "npy"))) {
		diag_error(s->d, e->loc, "a dataset is idx(\"images\", \"labels\"), csv(\"file.csv\"), "
		           "npy(\"x.npy\", \"y.npy\"), text(\"files*\", seq = T), a generator (moons, circles, "
		           "gaussians, spiral, checkerboard, parens, hist, reverse_words)%s", strcmp(key, "data") ? " or split(fraction)" : "");
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
			if (!strcmp(a->name, "standardize") && a->value->kind == AST_NUM) {
				if (strcmp(key, "data")) {
					diag_error(s->d, a->name_loc, "standardize belongs to 'data': the %s set is "
					           "standardised with the training set's statistics", key);
					return 0;
				}
				ds->standardize = a->value->num != 0;
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

/* ---- character-level text: vocab("glob") and text("glob", seq = T) ---- */

/* A file name of the program as the compiler opens it: relative to the
 * program's directory.  With `absolute`, a relative result is prefixed with
 * the working directory (a path the trainer opens wherever it runs). */
static const char *program_path(Sema *s, const char *file, int absolute)
{
	const char *src = s->m->source ? s->m->source : "";
	const char *slash = strrchr(src, '/');
	const char *rel = file[0] == '/' || !slash ? file
	                  : arena_printf(s->a, "%.*s/%s", (int)(slash - src), src, file);
	char cwd[4096];
	if (absolute && rel[0] != '/' && getcwd(cwd, sizeof cwd))
		return arena_printf(s->a, "%s/%s", cwd, rel);
	return rel;
}

/* `dim V = vocab("glob")`: the number of distinct bytes of the corpus (the
 * files the glob matches: runtime/text.c's rules); the bytes become the
 * model's vocabulary. */
static int vocab_dim(Sema *s, const AstExpr *e, int64_t *out)
{
	if (e->nargs != 1 || e->args[0].name || e->args[0].value->kind != AST_STR) {
		diag_error(s->d, e->loc, "vocab takes one glob of text files, such as vocab(\"corpus/*.txt\")");
		return 0;
	}
	const AstExpr *a = e->args[0].value;
	const char *path = program_path(s, a->str, 0);
	dlrt_corpus c;
	char err[1024];
	unsigned char v[256];
	if (dlrt_read_corpus(path, &c, err, sizeof err)) {
		diag_error(s->d, a->loc, "vocab: %s", err);
		return 0;
	}
	int n = dlrt_corpus_vocab(&c, v), nf = c.nfiles;
	dlrt_free_corpus(&c);
	if (n == 0) {
		diag_error(s->d, a->loc, "vocab: the files of '%s' hold no text (%s)", path,
		           nf ? "they are empty" : "each is binary, holding a NUL byte, or not a regular file");
		return 0;
	}
	if (s->m->nvocab && (s->m->nvocab != n || memcmp(s->m->vocab, v, (size_t)n))) {
		diag_error(s->d, a->loc, "a model has one vocabulary, and '%s' gives another one (%d bytes) than "
		           "the first vocab(...) (%d bytes)", path, n, s->m->nvocab);
		return 0;
	}
	unsigned char *keep = arena_alloc(s->a, (size_t)n);
	memcpy(keep, v, (size_t)n);
	s->m->vocab = keep;
	s->m->nvocab = n;
	*out = n;
	return 1;
}

/* text("glob", seq = T): the corpus as next-character sequences of T. */
static int text_spec(Sema *s, const AstExpr *e, DataSpec *ds)
{
	static const char *const pn[] = {"files", "seq"};
	const AstExpr *args[2];
	if (!bind_args(s, e, "text", pn, 2, 2, args))
		return 0;
	if (args[0]->kind != AST_STR) {
		diag_error(s->d, args[0]->loc, "'text' takes a glob of text files as a string, such as "
		           "\"/usr/share/games/fortunes/*\"");
		return 0;
	}
	Val t = eval(s, args[1], NULL);
	if (t.kind != V_NUM || !t.is_int || t.num < 1 || t.num > 1e9) {
		if (t.kind != V_ERR)
			diag_error(s->d, args[1]->loc, "seq of 'text' must be a positive integer (characters per sequence)");
		return 0;
	}
	ds->kind = DATA_TEXT;
	ds->nfiles = 1;
	ds->files[0] = program_path(s, args[0]->str, 1);
	ds->seq = (int64_t)t.num;
	ds->loc = e->loc;
	return 1;
}

/* After the program: text data fills one i32 input and one i32 label of
 * shape [B, seq] with ids of the model's vocabulary. */
static void text_check(Sema *s)
{
	Model *m = s->m;
	const DataSpec *sets[3] = {&m->train_data, &m->test_data, &m->valid_data};
	for (int i = 0; i < 3 && !s->kv_ctx; i++) { /* a cached generator reads no data */
		const DataSpec *ds = sets[i];
		if (ds->kind != DATA_TEXT)
			continue;
		if (i > 0 && m->train_data.kind != DATA_TEXT) {
			diag_error(s->d, ds->loc, "a text %s set needs text training data (data = text(...))",
			           i == 1 ? "test" : "validation");
			continue;
		}
		if (!m->nvocab) {
			diag_error(s->d, ds->loc, "text(...) gives the ids of characters in the model's vocabulary; "
			           "declare it with `dim V = vocab(\"...\")`");
			continue;
		}
		int nin = 0, nlab = 0;
		for (int t = 0; t < s->g->ntensors; t++) {
			const Tensor *T = &s->g->tensors[t];
			if ((T->role != ROLE_INPUT && T->role != ROLE_LABEL) || t + 1 == s->kv_pos)
				continue;
			nin += T->role == ROLE_INPUT;
			nlab += T->role == ROLE_LABEL;
			if (T->dtype != DT_I32 || T->shape.rank != 2 || T->bax != 0 || T->shape.d[1] != ds->seq) {
				diag_error(s->d, ds->loc, "text(..., seq = %lld) fills an i32 input and label of shape "
				           "[B, %lld]; '%s' is %s %s", (long long)ds->seq, (long long)ds->seq, T->name,
				           T->dtype == DT_I32 ? "i32" : "a float", shp(s, T->shape));
				return;
			}
		}
		if (nin != 1 || nlab != 1)
			diag_error(s->d, ds->loc, "text(...) fills one input (the characters) and one label (the next "
			           "characters); the model declares %d input%s and %d label%s", nin, nin == 1 ? "" : "s",
			           nlab, nlab == 1 ? "" : "s");
	}
}

/* optimizer = sgd(...) | adam(...) | adamw(...) | rmsprop(...) | adagrad(...) */
static void optimizer_spec_to(Sema *s, const AstExpr *v, OptimSpec *o);
static void optimizer_spec(Sema *s, const AstExpr *v) { optimizer_spec_to(s, v, &s->m->opt); }

static void optimizer_spec_to(Sema *s, const AstExpr *v, OptimSpec *o)
{
	static const struct {
		const char *name;
		OptKind kind;
		const char *params[7];
	} opts[] = {
		{"sgd", OPT_SGD, {"lr", "momentum", "dampening", "nesterov", "weight_decay", NULL}},
		{"adam", OPT_ADAM, {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", NULL}},
		{"adamw", OPT_ADAMW, {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", NULL}},
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
	const char **keep_nd = o->no_decay;
	int keep_nnd = o->nno_decay;
	double keep_clip = o->clip_norm, keep_clipv = o->clip_value;
	if (opts[k].kind == OPT_NEWTON || opts[k].kind == OPT_NEWTON_CG) {
		s->newton_loc = v->loc;
		s->newton_name = opts[k].name;
	}
	if ((opts[k].kind == OPT_NEWTON || opts[k].kind == OPT_NEWTON_CG) && s->g->nloops) {
		diag_error(s->d, v->loc, "'%s' needs second derivatives, and the model has a 'scan', which is "
		           "differentiated once only; use a first-order optimizer such as adam", opts[k].name);
		return;
	}
	optim_defaults(o, opts[k].kind);
	o->no_decay = keep_nd;
	o->nno_decay = keep_nnd;
	o->clip_norm = keep_clip;
	o->clip_value = keep_clipv;
	if (v->kind == AST_NAME)
		return;
	int np = 0;
	while (np < 7 && opts[k].params[np])
		np++;
	const AstExpr *args[7];
	if (!bind_args(s, v, opts[k].name, opts[k].params, np, 0, args))
		return;
	for (int j = 0; j < np; j++) {
		if (!args[j])
			continue;
		const char *pn = opts[k].params[j];
		Val x = eval(s, args[j], NULL);
		if (x.kind == V_ERR)
			continue;
		if (!strcmp(pn, "amsgrad")) {
			if (x.kind != V_NUM || (x.num != 0 && x.num != 1))
				diag_error(s->d, args[j]->loc, "amsgrad of '%s' must be 0 or 1", opts[k].name);
			else
				o->amsgrad = x.num != 0;
			continue;
		}
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

/* The params of a step clause's `params`: layer instances (all their
 * params), arrays of them, or params, into the per-tensor mark `on`. */
static void clause_params(Sema *s, Val v, const AstExpr *e, uint8_t *on, const char *name)
{
	if (v.kind == V_LIST) {
		for (int i = 0; i < v.nitems; i++)
			clause_params(s, v.items[i], e->kind == AST_LIST && i < e->nargs ? e->args[i].value : e, on, name);
		return;
	}
	if (v.kind == V_LAYER && v.inst) {
		size_t n = strlen(v.inst->path);
		int any = 0;
		for (int t = 0; t < s->g->ntensors; t++) {
			const Tensor *T = &s->g->tensors[t];
			if (T->role == ROLE_PARAM && T->trainable && !strncmp(T->name, v.inst->path, n) && T->name[n] == '.')
				on[t] = 1, any = 1;
		}
		if (!any)
			diag_error(s->d, e->loc, "layer instance '%s' has no trained parameter for step '%s'", v.inst->path,
			           name);
		return;
	}
	if (v.kind == V_NODE && N(s, v.id)->op == OP_PARAM && s->g->tensors[N(s, v.id)->sym].trainable) {
		on[N(s, v.id)->sym] = 1;
		return;
	}
	if (v.kind != V_ERR)
		diag_error(s->d, e->loc, "the params of step '%s' are layer instances and params, e.g. params = [G] or "
		           "params = [W1, b1]; got %s", name, val_kind(v));
}

/* NAME = step(loss, params = [...], optimizer = adam(...), every = K,
 * overlap = 0): a step clause of the train block. */
static void step_clause(Sema *s, const AstArg *it)
{
	static const char *const pn[] = {"loss", "params", "optimizer", "every", "overlap"};
	const AstExpr *args[5];
	Model *m = s->m;
	if (!bind_args(s, it->value, "step", pn, 5, 2, args))
		return;
	for (int k = 0; k < m->nclauses; k++)
		if (!strcmp(m->clauses[k].name, it->name)) {
			diag_error(s->d, it->name_loc, "a second step named '%s'", it->name);
			return;
		}
	StepClause c;
	memset(&c, 0, sizeof c);
	c.name = it->name;
	c.loc = it->name_loc;
	c.every = 1;
	c.params = arena_alloc(s->a, (size_t)s->g->ntensors + 1);
	Val lv = eval(s, args[0], NULL);
	NodeId l = as_node(s, lv, args[0], "the loss of a step");
	if (l && (N(s, l)->dtype == DT_I32 || shape_numel(N(s, l)->shape) != 1 || N(s, l)->bax >= 0)) {
		diag_error(s->d, args[0]->loc, "the loss of step '%s' must be a float scalar, got %s%s", c.name,
		           dtype_name((DType)N(s, l)->dtype), shp(s, N(s, l)->shape));
		l = 0;
	}
	c.loss = l;
	int before = s->d->nerrors;
	clause_params(s, eval(s, args[1], NULL), args[1], c.params, c.name);
	optim_defaults(&c.opt, OPT_SGD);
	if (args[2]) {
		optimizer_spec_to(s, args[2], &c.opt);
		if (c.opt.kind == OPT_NEWTON || c.opt.kind == OPT_NEWTON_CG)
			diag_error(s->d, args[2]->loc, "step '%s': Newton's methods train a model with one loss, not step "
			           "clauses", c.name);
	}
	int64_t every = 1, overlap = 0;
	if (!int_arg(s, args[3], NULL, 1, &every, "every") || !int_arg(s, args[4], NULL, 0, &overlap, "overlap"))
		return;
	if (every < 1 || every > 1000000) {
		diag_error(s->d, args[3]->loc, "every must be a positive integer (the step runs every K-th round)");
		return;
	}
	c.every = (int)every;
	if (!c.loss || s->d->nerrors > before)
		return;
	int any = 0;
	for (int t = 0; t < s->g->ntensors; t++)
		any |= c.params[t];
	if (!any) {
		diag_error(s->d, args[1]->loc, "step '%s' trains no parameter", c.name);
		return;
	}
	for (int k = 0; k < m->nclauses && !overlap; k++)
		for (int t = 0; t < s->g->ntensors; t++)
			if (c.params[t] && m->clauses[k].params[t]) {
				diag_error(s->d, args[1]->loc, "'%s' is trained by step '%s' too; say overlap = 1 if both "
				           "steps should train it", s->g->tensors[t].name, m->clauses[k].name);
				return;
			}
	m->clauses = arena_grow(s->a, m->clauses, (size_t)m->nclauses, (size_t)m->nclauses + 1, sizeof c);
	m->clauses[m->nclauses++] = c;
}

/* ---- reinforcement learning: the environment, rollouts, targets ---- */

/* env = cartpole(max_steps = N) | gridworld(map = "...", slip = p, max_steps = N)
 *     | c("my_env.c", max_steps = N) */
static void rl_env(Sema *s, const AstExpr *v)
{
	RLSpec *rl = &s->m->rl;
	static const char *const kinds[] = {"cartpole", "gridworld", "c"};
	int k = -1;
	for (int i = 0; i < 3; i++)
		if ((v->kind == AST_CALL || v->kind == AST_NAME) && !strcmp(v->name, kinds[i]))
			k = i;
	if (k < 0) {
		diag_error(s->d, v->loc, "env takes an environment: cartpole(), gridworld(map = \"...\", slip = p) or "
		           "c(\"my_env.c\") (a C file that defines dlrt_user_env, see docs/rl.md)");
		return;
	}
	rl->loc = v->loc;
	static const char *const p_cart[] = {"max_steps"}, *const p_grid[] = {"map", "slip", "max_steps"},
	                         *const p_c[] = {"file", "max_steps"};
	const AstExpr *args[3] = {NULL, NULL, NULL};
	const AstExpr *steps = NULL;
	if (k == 0) {
		if (v->kind == AST_CALL && !bind_args(s, v, "cartpole", p_cart, 1, 0, args))
			return;
		rl->env = ENV_CARTPOLE;
		steps = args[0];
	} else if (k == 1) {
		if (v->kind == AST_CALL && !bind_args(s, v, "gridworld", p_grid, 3, 0, args))
			return;
		rl->env = ENV_GRIDWORLD;
		if (args[0]) {
			if (args[0]->kind != AST_STR) {
				diag_error(s->d, args[0]->loc, "the map of 'gridworld' is a string of rows separated by '/', "
				           "such as \"S..#/...G\"");
				return;
			}
			rl->map = args[0]->str;
		}
		if (!num_arg(s, args[1], NULL, 0, &rl->slip, "slip", "gridworld"))
			return;
		if (!(rl->slip >= 0 && rl->slip < 1)) {
			diag_error(s->d, args[1]->loc, "the slip of 'gridworld' is a probability in [0, 1)");
			return;
		}
		steps = args[2];
	} else {
		if (v->kind != AST_CALL || !bind_args(s, v, "c", p_c, 2, 1, args))
			return;
		if (args[0]->kind != AST_STR || !args[0]->str[0]) {
			diag_error(s->d, args[0]->loc, "c(...) takes the path of a C file that defines the environment, "
			           "such as c(\"my_env.c\")");
			return;
		}
		for (const char *c = args[0]->str; *c; c++)
			if (*c == '"' || *c == '\\' || *c == '\n' || (unsigned char)*c < 0x20) {
				diag_error(s->d, args[0]->loc, "the path of an environment file cannot hold quotes, backslashes "
				           "or control characters");
				return;
			}
		rl->env = ENV_USER;
		rl->env_file = args[0]->str;
		steps = args[1];
	}
	int64_t ms = 0;
	if (!int_arg(s, steps, NULL, 0, &ms, "max_steps"))
		return;
	if (ms < 0 || ms > 100000000) {
		diag_error(s->d, steps->loc, "max_steps must be a positive number of steps");
		return;
	}
	rl->max_steps = ms;
}

/* The model tensor a rollout argument names: an input or label. */
static int rl_tensor(Sema *s, const AstExpr *e, const char *role, int want_i32, int want_rows)
{
	if (!e)
		return -1;
	Sym *y = e->kind == AST_NAME ? lookup(s, e->name) : NULL;
	if (y && y->kind == SYM_TENSOR && !y->id)
		return -2; /* its declaration was an error, reported there */
	if (!y || y->kind != SYM_TENSOR ||
	    (s->g->tensors[y->tensor].role != ROLE_INPUT && s->g->tensors[y->tensor].role != ROLE_LABEL)) {
		diag_error(s->d, e->loc, "%s names an input or label of the model%s", role,
		           e->kind == AST_NAME ? arena_printf(s->a, "; '%s' is not one", e->name) : "");
		return -2;
	}
	const Tensor *t = &s->g->tensors[y->tensor];
	if (want_i32 >= 0 && (t->dtype == DT_I32) != want_i32) {
		diag_error(s->d, e->loc, "%s '%s' must be %s, not %s", role, t->name,
		           want_i32 ? "integers (i32): an action per row" : "floats", dtype_name(t->dtype));
		return -2;
	}
	if (want_rows && shape_numel(t->shape) != t->shape.d[0]) {
		diag_error(s->d, e->loc, "%s '%s' holds one number per step: [%lld], not %s", role, t->name,
		           (long long)t->shape.d[0], shp(s, t->shape));
		return -2;
	}
	return y->tensor;
}

/* data = rollout(observation = o, action = a, returns = r, gamma = 0.99,
 *                normalize = 1, policy = out)
 * data = replay(observation = o, action = a, reward = r, next_observation = o2,
 *               done = d, capacity = N, start = K, policy = out) */
static void rl_rollout(Sema *s, const AstExpr *v)
{
	RLSpec *rl = &s->m->rl;
	int replay = !strcmp(v->name, "replay");
	static const char *const p_ep[] = {"observation", "action", "returns", "gamma", "normalize", "policy",
	                                   "batch_episodes"};
	static const char *const p_rp[] = {"observation", "action", "reward", "next_observation", "done",
	                                   "gamma", "capacity", "start", "policy"};
	const AstExpr *a[9];
	if (v->kind != AST_CALL || !bind_args(s, v, v->name, replay ? p_rp : p_ep, replay ? 9 : 7, replay ? 5 : 3, a))
		return;
	rl->rollout = replay ? ROLLOUT_REPLAY : ROLLOUT_EPISODE;
	rl->obs = rl_tensor(s, a[0], "observation", -1, 0);
	rl->action = rl_tensor(s, a[1], "action", 1, 1);
	rl->returns = rl->reward = rl->next_obs = rl->done = -1;
	const AstExpr *gamma = replay ? a[5] : a[3], *policy = replay ? a[8] : a[5];
	if (replay) {
		rl->reward = rl_tensor(s, a[2], "reward", 0, 1);
		rl->next_obs = rl_tensor(s, a[3], "next_observation", -1, 0);
		rl->done = rl_tensor(s, a[4], "done", 0, 1);
	} else {
		rl->returns = rl_tensor(s, a[2], "returns", 0, 1);
	}
	if (rl->obs < -1 || rl->action < -1 || rl->returns < -1 || rl->reward < -1 || rl->next_obs < -1 || rl->done < -1)
		return;
	const Tensor *o = &s->g->tensors[rl->obs];
	if (rl->next_obs >= 0) {
		const Tensor *o2 = &s->g->tensors[rl->next_obs];
		if (o2->dtype != o->dtype || !shape_eq(o2->shape, o->shape)) {
			diag_error(s->d, a[3]->loc, "next_observation '%s' %s %s must be like observation '%s' %s %s",
			           o2->name, dtype_name(o2->dtype), shp(s, o2->shape), o->name, dtype_name(o->dtype),
			           shp(s, o->shape));
			return;
		}
	}
	int bound[6] = {rl->obs, rl->action, rl->returns, rl->reward, rl->next_obs, rl->done};
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < i; j++)
			if (bound[i] >= 0 && bound[i] == bound[j]) {
				diag_error(s->d, v->loc, "'%s' is given two roles in %s(...)", s->g->tensors[bound[i]].name,
				           v->name);
				return;
			}
	for (int t = 0; t < s->g->ntensors; t++) {
		const Tensor *T = &s->g->tensors[t];
		int is_bound = 0;
		for (int i = 0; i < 6; i++)
			is_bound |= bound[i] == t;
		if ((T->role == ROLE_INPUT || T->role == ROLE_LABEL) && !is_bound) {
			diag_error(s->d, v->loc, "%s(...) fills the model's inputs from the environment, but gives '%s' no "
			           "role (%s)", v->name, T->name,
			           replay ? "observation, action, reward, next_observation, done"
			                  : "observation, action, returns");
			return;
		}
	}
	rl->gamma = 0.99;
	if (!num_arg(s, gamma, NULL, 0.99, &rl->gamma, "gamma", v->name))
		return;
	if (!(rl->gamma >= 0 && rl->gamma <= 1)) {
		diag_error(s->d, gamma->loc, "gamma, the discount, is a number in [0, 1]");
		return;
	}
	if (!replay) {
		int64_t norm = 0, per = 1;
		if (!int_arg(s, a[4], NULL, 0, &norm, "normalize") || !int_arg(s, a[6], NULL, 1, &per, "batch_episodes"))
			return;
		rl->normalize = norm != 0;
		if (per < 1 || per > 1000000) {
			diag_error(s->d, a[6]->loc, "batch_episodes, the episodes of one update, must be a positive number");
			return;
		}
		rl->batch_episodes = (int)per;
	} else {
		int64_t cap = 10000, start = -1;
		if (!int_arg(s, a[6], NULL, 10000, &cap, "capacity") || !int_arg(s, a[7], NULL, -1, &start, "start"))
			return;
		int64_t B = o->shape.d[0];
		if (cap < B || cap > ((int64_t)1 << 32)) {
			diag_error(s->d, a[6] ? a[6]->loc : v->loc, "the replay memory's capacity (%lld) must hold at least a "
			           "batch (%lld transitions)", (long long)cap, (long long)B);
			return;
		}
		if (start < 0)
			start = B;
		if (start < B || start > cap) {
			diag_error(s->d, a[7]->loc, "start, the transitions gathered before the first update, must be "
			           "between the batch (%lld) and the capacity (%lld)", (long long)B, (long long)cap);
			return;
		}
		rl->capacity = cap;
		rl->start = start;
	}
	/* the policy: the output named, or the one declared integer output */
	Model *m = s->m;
	rl->policy = -1;
	if (policy) {
		for (int i = 0; i < m->noutputs; i++)
			if (policy->kind == AST_NAME && !m->outputs[i].hidden && !strcmp(m->outputs[i].name, policy->name))
				rl->policy = i;
		if (rl->policy < 0) {
			diag_error(s->d, policy->loc, "policy names an output of the model (the action it takes, such as "
			           "`output action = categorical(logits)`)");
			return;
		}
	} else {
		int n = 0;
		for (int i = 0; i < m->noutputs; i++)
			if (!m->outputs[i].hidden && N(s, m->outputs[i].node)->dtype == DT_I32) {
				rl->policy = i;
				n++;
			}
		if (n != 1) {
			diag_error(s->d, v->loc, "%s: which output is the policy? %s; say policy = NAME", v->name,
			           n ? "the model has several integer outputs"
			             : "the model has no integer output (an action per row, such as "
			               "`output action = categorical(logits)`)");
			rl->policy = -1;
			return;
		}
	}
	const Node *pn = N(s, m->outputs[rl->policy].node);
	if (pn->dtype != DT_I32 || shape_numel(pn->shape) != o->shape.d[0] || pn->bax != 0) {
		diag_error(s->d, policy ? policy->loc : v->loc, "the policy '%s' %s %s must give one action (i32) per "
		           "observation: [%lld]", m->outputs[rl->policy].name, dtype_name(pn->dtype), shp(s, pn->shape),
		           (long long)o->shape.d[0]);
		rl->policy = -1;
		return;
	}
	/* it acts on the observation alone, one row at a time */
	uint8_t *seen = calloc(s->g->nnodes, 1);
	if (!seen)
		return;
	graph_reach(s->g, &m->outputs[rl->policy].node, 1, seen);
	for (NodeId id = 1; id < s->g->nnodes; id++) {
		const Node *n = N(s, id);
		if (!seen[id] || n->bax >= 0 || n->op == OP_COUNT)
			continue;
		for (int k = 0; k < n->nin; k++)
			if (N(s, n->in[k])->bax >= 0) {
				diag_error(s->d, m->outputs[rl->policy].loc.line ? m->outputs[rl->policy].loc : policy ? policy->loc : v->loc,
				           "the policy '%s' mixes the rows of a batch "
				           "(%s of a value along its batch axis, such as batch_norm's statistics in training or a "
				           "mean over the batch): it acts on one observation at a time, so each row must be "
				           "computed alone", m->outputs[rl->policy].name, op_info[n->op].name);
				free(seen);
				return;
			}
	}
	for (int t = 0; t < s->g->ntensors; t++) {
		const Tensor *T = &s->g->tensors[t];
		if ((T->role == ROLE_INPUT || T->role == ROLE_LABEL) && t != rl->obs && seen[T->node]) {
			SrcLoc at = m->outputs[rl->policy].loc.line ? m->outputs[rl->policy].loc : policy ? policy->loc : v->loc;
			diag_error(s->d, at, "the policy '%s' reads '%s', which the environment gives only after the action; "
			           "it may read the observation '%s' alone", m->outputs[rl->policy].name, T->name, o->name);
			diag_note(s->d, v->loc, "the policy of this %s", v->name);
			break;
		}
	}
	free(seen);
}

/* Qt = target(Q, tau = 0.005) | target(Q, every = 1000): the params of layer
 * instance Qt follow those of Q (same names after the instance's, same
 * shapes); Qt is not trained. */
static void rl_target(Sema *s, const AstArg *it)
{
	RLSpec *rl = &s->m->rl;
	const AstExpr *v = it->value;
	static const char *const pn[] = {"source", "tau", "every"};
	const AstExpr *a[3];
	if (!bind_args(s, v, "target", pn, 3, 1, a))
		return;
	Sym *dst = lookup(s, it->name);
	Sym *src = a[0]->kind == AST_NAME ? lookup(s, a[0]->name) : NULL;
	if (!dst || dst->kind != SYM_VALUE || dst->val.kind != V_LAYER) {
		diag_error(s->d, it->name_loc, "'%s = target(...)' makes the layer '%s' a target network; '%s' is not a "
		           "layer of the program", it->name, it->name, it->name);
		return;
	}
	if (!src || src->kind != SYM_VALUE || src->val.kind != V_LAYER) {
		diag_error(s->d, a[0]->loc, "target(...) follows a layer of the program (the network it copies)");
		return;
	}
	if (a[1] && a[2]) {
		diag_error(s->d, a[2]->loc, "a target network follows by Polyak averaging (tau) or by copies (every), "
		           "not both");
		return;
	}
	double tau = 1;
	int64_t every = 1;
	if (!num_arg(s, a[1], NULL, 1, &tau, "tau", "target") || !int_arg(s, a[2], NULL, 1, &every, "every"))
		return;
	if (!(tau > 0 && tau <= 1)) {
		diag_error(s->d, a[1]->loc, "tau, the weight of the new values in the average, is in (0, 1]");
		return;
	}
	if (every < 1) {
		diag_error(s->d, a[2]->loc, "every must be a positive number of updates");
		return;
	}
	if (rl->ntargets && (rl->tau != tau || rl->target_every != every)) {
		diag_error(s->d, v->loc, "every target network of a program follows with the same tau and every");
		return;
	}
	rl->tau = tau;
	rl->target_every = every;
	const char *dp = dst->val.inst->path, *sp = src->val.inst->path;
	size_t dn = strlen(dp);
	int pairs = 0;
	for (int t = 0; t < s->g->ntensors; t++) {
		Tensor *T = &s->g->tensors[t];
		if (T->role != ROLE_PARAM || strncmp(T->name, dp, dn) || T->name[dn] != '.')
			continue;
		const char *want = arena_printf(s->a, "%s%s", sp, T->name + dn);
		int match = -1;
		for (int u = 0; u < s->g->ntensors; u++)
			if (s->g->tensors[u].role == ROLE_PARAM && !strcmp(s->g->tensors[u].name, want))
				match = u;
		if (match < 0 || !shape_eq(s->g->tensors[match].shape, T->shape)) {
			diag_error(s->d, v->loc, "'%s' %s has no counterpart in '%s' (%s%s)", T->name, shp(s, T->shape), sp,
			           want, match < 0 ? " does not exist" : arena_printf(s->a, " is %s", shp(s, s->g->tensors[match].shape)));
			return;
		}
		T->trainable = 0;
		rl->target_dst = arena_grow(s->a, rl->target_dst, (size_t)rl->ntargets, (size_t)rl->ntargets + 1, sizeof(int));
		rl->target_src = arena_grow(s->a, rl->target_src, (size_t)rl->ntargets, (size_t)rl->ntargets + 1, sizeof(int));
		rl->target_dst[rl->ntargets] = t;
		rl->target_src[rl->ntargets++] = match;
		pairs++;
	}
	if (!pairs)
		diag_error(s->d, it->name_loc, "the layer '%s' has no parameters to follow '%s' with", it->name, sp);
}

/* eps = exp_decay(start, end, steps) | linear_decay(start, end, steps): the
 * hyper eps follows a schedule over environment steps. */
static void rl_schedule(Sema *s, const AstArg *it, int tensor)
{
	const AstExpr *v = it->value;
	static const char *const pn[] = {"start", "end", "steps"};
	const AstExpr *a[3];
	if (!bind_args(s, v, v->name, pn, 3, 3, a))
		return;
	HyperSchedule h = {.tensor = tensor, .linear = !strcmp(v->name, "linear_decay")};
	if (!num_arg(s, a[0], NULL, 0, &h.start, "start", v->name) || !num_arg(s, a[1], NULL, 0, &h.end, "end", v->name) ||
	    !num_arg(s, a[2], NULL, 0, &h.steps, "steps", v->name))
		return;
	if (!(h.steps > 0)) {
		diag_error(s->d, a[2]->loc, "steps, the schedule's length in environment steps, must be positive");
		return;
	}
	RLSpec *rl = &s->m->rl;
	rl->schedules = arena_grow(s->a, rl->schedules, (size_t)rl->nschedules, (size_t)rl->nschedules + 1, sizeof h);
	rl->schedules[rl->nschedules++] = h;
}

/* The train block's RL items other than env and data: targets and
 * schedules.  Returns 1 when `it` was one. */
static int rl_item(Sema *s, const AstArg *it)
{
	const AstExpr *v = it->value;
	if (v->kind != AST_CALL)
		return 0;
	if (!strcmp(v->name, "target")) {
		rl_target(s, it);
		return 1;
	}
	if (!strcmp(v->name, "exp_decay") || !strcmp(v->name, "linear_decay")) {
		Sym *y = lookup(s, it->name);
		if (y && y->kind == SYM_TENSOR && !y->id)
			return 1; /* its declaration was an error, reported there */
		if (!y || y->kind != SYM_TENSOR || s->g->tensors[y->tensor].role != ROLE_HYPER) {
			diag_error(s->d, it->name_loc, "a schedule moves a hyper-parameter; declare `hyper %s = ...` first",
			           it->name);
			return 1;
		}
		rl_schedule(s, it, y->tensor);
		return 1;
	}
	return 0;
}

static void stmt_train(Sema *s, const AstStmt *st)
{
	Model *m = s->m;
	static const char *const keys[] = {"optimizer", "epochs", "data", "test", "data_dir", "byte_scale",
	                                   "clip_norm", "no_weight_decay", "valid", "steps", "env", "episodes",
	                                   "clip_value"};
	for (int i = 0; i < st->nitems; i++) {
		const AstArg *it = &st->items[i];
		const AstExpr *v = it->value;
		int k = -1;
		for (int j = 0; j < 13; j++)
			if (!strcmp(keys[j], it->name))
				k = j;
		if (v->kind == AST_CALL && !strcmp(v->name, "step")) {
			step_clause(s, it);
			continue;
		}
		if (k < 0 && rl_item(s, it))
			continue;
		if (k == 2 && v->kind == AST_CALL && (!strcmp(v->name, "rollout") || !strcmp(v->name, "replay"))) {
			rl_rollout(s, v);
			continue;
		}
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
		case 2: data_spec(s, v, &m->train_data, "data"); break;
		case 3: data_spec(s, v, &m->test_data, "test"); break;
		case 8: data_spec(s, v, &m->valid_data, "valid"); break;
		case 4:
			if (v->kind != AST_STR)
				diag_error(s->d, v->loc, "data_dir must be a string");
			else
				m->data_dir = v->str;
			break;
		case 5: {
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM) {
				if (x.kind != V_ERR)
					diag_error(s->d, v->loc, "byte_scale must be a number");
			} else
				m->byte_scale = x.num;
			break;
		}
		case 6: {
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM || x.num <= 0) {
				if (x.kind != V_ERR)
					diag_error(s->d, v->loc, "clip_norm must be a positive number (the largest global gradient "
					           "norm)");
			} else
				m->opt.clip_norm = x.num;
			break;
		}
		case 12: {
			/* clip_grad_value_: applied before clip_norm when both are given */
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM || x.num <= 0) {
				if (x.kind != V_ERR)
					diag_error(s->d, v->loc, "clip_value must be a positive number (every gradient element "
					           "is clamped to [-clip_value, clip_value])");
			} else
				m->opt.clip_value = x.num;
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
				if (y && y->kind == SYM_TENSOR && !y->id)
					continue; /* its declaration was an error, reported there */
				if (!y || y->kind != SYM_TENSOR || s->g->tensors[y->tensor].role != ROLE_PARAM) {
					diag_error(s->d, x->loc, "no_weight_decay lists parameters; %s is not one",
					           x->kind == AST_NAME ? arena_printf(s->a, "'%s'", x->name) : "this");
					continue;
				}
				m->opt.no_decay[m->opt.nno_decay++] = x->name;
			}
			break;
		}
		case 9: {
			/* the default of the trainer's --steps; a program without data
			 * trains for this many steps */
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM || !x.is_int || x.num < 1 || x.num > 1e12) {
				if (x.kind != V_ERR)
					diag_error(s->d, v->loc, "steps must be a positive integer");
				break;
			}
			m->steps = (int64_t)x.num;
			break;
		}
		case 10: rl_env(s, v); break;
		case 11: {
			Val x = eval(s, v, NULL);
			if (x.kind != V_NUM || !x.is_int || x.num < 1 || x.num > 1e9) {
				if (x.kind != V_ERR)
					diag_error(s->d, v->loc, "episodes must be a positive integer");
				break;
			}
			m->rl.episodes = (int64_t)x.num;
			break;
		}
		default: {
			const char *best = diag_closest(it->name, keys, 13);
			diag_error(s->d, it->name_loc, "unknown train setting '%s'%s", it->name,
			           best ? arena_printf(s->a, "; did you mean '%s'?", best)
			                : " (settings: optimizer, epochs, data, test, valid, data_dir, byte_scale, "
			                  "clip_norm, clip_value, no_weight_decay, steps, env, episodes)");
		}
		}
	}
	if (m->nclauses) {
		for (int i = 0; i < st->nitems; i++)
			if (!strcmp(st->items[i].name, "optimizer"))
				diag_error(s->d, st->items[i].name_loc, "with step clauses, each step has its own optimizer "
				           "(step(loss, params = [...], optimizer = ...))");
		for (int k = 0; k < m->nclauses; k++) {
			m->clauses[k].opt.clip_norm = m->opt.clip_norm;
			m->clauses[k].opt.clip_value = m->opt.clip_value;
			m->clauses[k].opt.no_decay = m->opt.no_decay;
			m->clauses[k].opt.nno_decay = m->opt.nno_decay;
		}
		int64_t warned = 0;
		for (int t = 0; t < s->g->ntensors; t++) {
			const Tensor *T = &s->g->tensors[t];
			int on = 0;
			for (int k = 0; k < m->nclauses; k++)
				on |= m->clauses[k].params[t];
			if (T->role == ROLE_PARAM && T->trainable && !on && warned++ < 8)
				diag_warning(s->d, T->loc, "'%s' is in no step's params: it keeps its initial value", T->name);
		}
	}
	/* an environment and its rollout come together */
	if (m->rl.env && !m->rl.rollout)
		diag_error(s->d, m->rl.loc, "an environment needs a rollout that turns its experience into batches: "
		           "data = rollout(observation = ..., action = ..., returns = ...) or data = replay(...)");
	int env_item = 0;
	for (int i = 0; i < st->nitems; i++)
		env_item |= !strcmp(st->items[i].name, "env");
	for (int i = 0; i < st->nitems && !m->rl.env && !env_item && m->rl.rollout; i++)
		if (!strcmp(st->items[i].name, "data"))
			diag_error(s->d, st->items[i].value->loc, "%s(...) gathers experience from an environment; say which: "
			           "env = cartpole(), gridworld(...) or c(\"my_env.c\")", st->items[i].value->name);
	if ((m->rl.ntargets || m->rl.nschedules) && !m->rl.rollout)
		diag_error(s->d, st->loc, "target networks and schedules belong to training in an environment (env = ...)");
	if (m->rl.rollout) {
		if (m->test_data.kind || m->valid_data.kind)
			diag_error(s->d, st->loc, "a model trained in an environment is evaluated there (--eval-episodes), "
			           "not on test or valid data");
		if (m->nclauses)
			diag_error(s->d, st->loc, "a model trained in an environment has one loss and one optimizer");
		if (!m->rl.episodes)
			m->rl.episodes = 1000;
	}
	/* A split holds rows out of a training set read from files. */
	if (m->train_data.kind == DATA_GEN)
		for (int i = 0; i < st->nitems; i++) {
			const AstArg *it = &st->items[i];
			if ((!strcmp(it->name, "test") || !strcmp(it->name, "valid")) &&
			    it->value->kind == AST_CALL && !strcmp(it->value->name, "split"))
				diag_error(s->d, it->value->loc, "split(...) holds out rows of data read from files; "
				           "a generator draws new points every epoch: give '%s' a generator of its own",
				           it->name);
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
	/* MODEL_model, MODEL_rl, ... must not be the runtime's (dlrt_model) */
	static const char *const rt[] = {"dlrt", "DLRT", "dlc", "DLC"};
	for (size_t i = 0; i < sizeof rt / sizeof rt[0]; i++)
		if (!strncmp(id, rt[i], strlen(rt[i])) && (!id[strlen(rt[i])] || id[strlen(rt[i])] == '_'))
			return arena_printf(a, "model_%s", id);
	return id;
}

/* The scores z and the label input y of a classification loss, whose
 * accuracy the trainer reports: cross_entropy(z, y) (or nll) of z [N, C] and
 * an input y [N], or of z [N, ..., C] and y [N, ...], which the loss
 * flattens to a class per position. */
static int loss_classes(Sema *s, const Node *ln, NodeId *z, NodeId *y)
{
	if ((ln->op != OP_XENT && ln->op != OP_NLL) || ln->i[1])
		return 0;
	*z = ln->in[0];
	*y = ln->in[1];
	if (N(s, *y)->op == OP_RESHAPE && N(s, *z)->op == OP_RESHAPE && N(s, N(s, *y)->in[0])->op == OP_INPUT &&
	    N(s, N(s, *z)->in[0])->shape.rank > 2) {
		*z = N(s, *z)->in[0];
		*y = N(s, *y)->in[0];
	}
	return N(s, *y)->op == OP_INPUT;
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
	s->nkv = 0;
	s->ndropout = 0;
	s->nrandom = 0;
	for (int i = 0; i < p->nstmts; i++) {
		const AstStmt *st = p->stmts[i];
		switch (st->kind) {
		case ST_LET:
		case ST_MULTI:
		case ST_REBIND:
		case ST_ARRAY:
		case ST_FOR:
			exec_stmt(s, st, NULL);
			break;
		case ST_LOSS: {
			Val v = eval(s, st->value, NULL);
			if (v.kind == V_NODE) {
				m->eval_loss = v.id;
				NodeId z, yl;
				if (m->accuracy_output >= 0 && m->outputs[m->accuracy_output].hidden &&
				    loss_classes(s, N(s, v.id), &z, &yl))
					m->eval_outputs[m->accuracy_output] = z;
			}
			break;
		}
		default:
			break;
		}
	}
	for (int i = 0; i < m->noutputs; i++) {
		const Sym *y = m->outputs[i].hidden ? NULL : lookup(s, m->outputs[i].name);
		if (y && y->id)
			m->eval_outputs[i] = y->id;
	}
	s->d = saved;
	s->eval_mode = 0;
	fclose(devnull);
}

static Model *build(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs, DType dtype, int force_dtype,
                    int fold, int cse, int64_t kv_ctx);

Model *sema_build(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs, DType dtype,
                  int force_dtype, int fold, int cse)
{
	return build(a, d, p, defs, ndefs, dtype, force_dtype, fold, cse, 0);
}

Model *sema_build_cached(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs, DType dtype,
                         int force_dtype, int fold, int cse, int64_t context)
{
	return build(a, d, p, defs, ndefs, dtype, force_dtype, fold, cse, context);
}

static Model *build(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs, DType dtype, int force_dtype,
                    int fold, int cse, int64_t kv_ctx)
{
	Sema s;
	memset(&s, 0, sizeof s);
	s.kv_ctx = kv_ctx;
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
	m->epochs = 0; /* not given: one, or as many as `steps` takes */
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

	/* the standard layers, which the program's own definitions replace */
	d->prelude_file = "prelude.dl";
	d->prelude_src = dlc_prelude;
	const AstProgram *pre = parse_source(a, d, "prelude.dl", dlc_prelude, 1);
	for (int i = 0; i < pre->nstmts; i++) {
		const AstStmt *st = pre->stmts[i];
		Sym *y;
		if (st->kind == ST_LAYER) {
			stmt_layer(&s, st, 1);
		} else if (st->kind == ST_DEF && define(&s, st->name, st->name_loc, SYM_DEF, &y)) {
			y->def = st;
			y->prelude = 1;
		}
	}

	for (int i = 0; i < p->nstmts; i++) {
		const AstStmt *st = p->stmts[i];
		Sym *y;
		switch (st->kind) {
		case ST_DTYPE:
			break;
		case ST_DIM: {
			int64_t v = 0;
			int ok = st->value->kind == AST_CALL && !strcmp(st->value->name, "vocab") ? vocab_dim(&s, st->value, &v)
			                                                                         : eval_dim(&s, st->value, &v);
			for (int k = 0; k < ndefs; k++)
				if (!strcmp(defs[k].name, st->name) && st->value->kind == AST_CALL &&
				    !strcmp(st->value->name, "vocab")) {
					diag_error(d, (SrcLoc){0, 0, 0}, "-D %s: '%s' is the size of a vocabulary, which its "
					           "corpus gives", defs[k].name, defs[k].name);
					defs[k].used = 1;
				} else if (!strcmp(defs[k].name, st->name)) {
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
		case ST_CARRY:
			stmt_tensor(&s, st, NULL);
			break;
		case ST_DEF: {
			for (int k = 0; k < st->nparams; k++)
				for (int j = 0; j < k; j++)
					if (!strcmp(st->params[k], st->params[j]))
						diag_error(d, st->param_locs[k], "parameter '%s' appears twice", st->params[k]);
			if (!st->name) {
				diag_error(d, st->loc, "a 'def' without a name is the call of a layer and belongs in a layer's body");
				break;
			}
			if (define(&s, st->name, st->name_loc, SYM_DEF, &y))
				y->def = st;
			break;
		}
		case ST_LAYER:
			stmt_layer(&s, st, 0);
			break;
		case ST_CONST:
			stmt_const(&s, st, NULL);
			break;
		case ST_HYPER:
			stmt_hyper(&s, st);
			break;
		case ST_LET:
		case ST_MULTI:
		case ST_REBIND:
		case ST_ARRAY:
		case ST_FOR:
		case ST_RETURN:
			exec_stmt(&s, st, NULL);
			break;
		case ST_OUTPUT: {
			Sym *o = lookup(&s, st->name);
			if (!o || (o->kind != SYM_VALUE && o->kind != SYM_TENSOR)) {
				diag_error(d, st->name_loc, "unknown value '%s'%s", st->name, suggest(&s, st->name, 0, NULL));
				break;
			}
			add_output(&s, st->name, o->id, 0, st->name_loc);
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
			NodeId z, yl;
			if (loss_classes(&s, ln, &z, &yl)) {
				int k = -1;
				for (int j = 0; j < m->noutputs; j++)
					if (m->outputs[j].node == z)
						k = j;
				if (k < 0) {
					const char *nm = N(&s, z)->name ? N(&s, z)->name : "scores";
					add_output(&s, nm, z, 1, (SrcLoc){0, 0, 0});
					k = m->noutputs - 1;
				}
				m->accuracy_output = k;
				m->accuracy_label = N(&s, yl)->sym;
			}
			break;
		}
		case ST_TRAIN:
			stmt_train(&s, st);
			break;
		}
	}
	if (m->nclauses) {
		if (m->loss)
			diag_error(d, m->loss_loc, "a program with step clauses names each step's loss in its clause, "
			           "not with 'loss'");
		m->loss = m->clauses[0].loss;
		m->loss_loc = m->clauses[0].loc;
		m->opt = m->clauses[0].opt;
	}
	if (d->nerrors == 0) {
		const char *why;
		NodeId bad;
		for (int c = 0; c < m->nclauses; c++)
			if ((bad = missing_derivative(&s, m->clauses[c].loss, 1, &why))) {
				diag_error(d, m->clauses[c].loc, "the loss of step '%s' cannot be differentiated: %s",
				           m->clauses[c].name, why);
				missing_derivative_note(&s, bad);
			}
		if (!m->nclauses && m->loss && (bad = missing_derivative(&s, m->loss, 1, &why))) {
			diag_error(d, m->loss_loc, "the loss cannot be differentiated: %s", why);
			missing_derivative_note(&s, bad);
		} else if (!m->nclauses && m->loss && s.newton_name && (bad = missing_derivative(&s, m->loss, 2, &why))) {
			diag_error(d, s.newton_loc, "'%s' needs second derivatives of the loss: %s", s.newton_name, why);
			missing_derivative_note(&s, bad);
		}
	}
	m->eval_loss = m->loss;
	m->eval_outputs = arena_alloc(a, sizeof(NodeId) * (size_t)(m->noutputs + 1));
	for (int i = 0; i < m->noutputs; i++)
		m->eval_outputs[i] = m->outputs[i].node;
	if (s.mode_dependent && d->nerrors == 0)
		eval_pass(&s, p);
	if (d->nerrors == 0)
		text_check(&s);
	/* A program without data (params and a loss only) trains for `steps`
	 * steps of the whole program; epochs and data sets have no meaning. */
	if (d->nerrors == 0 && s.g->batch == 0) {
		int has_data_tensor = 0;
		for (int t = 0; t < s.g->ntensors; t++)
			has_data_tensor |= s.g->tensors[t].role == ROLE_INPUT || s.g->tensors[t].role == ROLE_LABEL;
		for (int i = 0; i < p->nstmts && !has_data_tensor; i++) {
			const AstStmt *st = p->stmts[i];
			if (st->kind != ST_TRAIN)
				continue;
			for (int j = 0; j < st->nitems; j++) {
				const char *k = st->items[j].name;
				if (!strcmp(k, "epochs"))
					diag_error(d, st->items[j].name_loc, "a program without data has no epochs; say how many "
					           "steps to train with `steps = N`");
				else if (!strcmp(k, "data") || !strcmp(k, "test") || !strcmp(k, "data_dir") ||
				         !strcmp(k, "byte_scale"))
					diag_error(d, st->items[j].name_loc, "'%s' is for programs with data; this one declares "
					           "no input or label", k);
			}
		}
	}
	if (d->nerrors == 0) {
		parens_fits(&s, &m->train_data, "data");
		parens_fits(&s, &m->test_data, "test");
		parens_fits(&s, &m->valid_data, "valid");
		words_fits(&s, &m->train_data, "data");
		words_fits(&s, &m->test_data, "test");
		words_fits(&s, &m->valid_data, "valid");
		hist_fits(&s, &m->train_data, "data");
		hist_fits(&s, &m->test_data, "test");
		hist_fits(&s, &m->valid_data, "valid");
	}
	for (int k = 0; k < ndefs; k++)
		if (!defs[k].used) {
			const char **c = arena_alloc(a, sizeof(char *) * (size_t)(m->ndims + 1));
			for (int j = 0; j < m->ndims; j++)
				c[j] = m->dim_names[j];
			const char *best = diag_closest(defs[k].name, c, m->ndims);
			diag_error(d, (SrcLoc){0, 0, 0}, "-D %s: the program has no dim named '%s'%s", defs[k].name,
			           defs[k].name, best ? arena_printf(a, "; did you mean '%s'?", best) : "");
		}
	return m;
}
