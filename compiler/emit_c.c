/* emit_c.c - print a scheduled training step as one C11 file.
 *
 * Everything about what runs where comes from the schedule (schedule.h):
 * each stored value's static array (or its place in the arena, memplan.h),
 * views read through strided indexing, inlined values as locals `v<id>`,
 * scalars (constants, the learning rate, row counts) as expressions.  This
 * file turns that into text: one static function per kernel in schedule
 * order, with a comment naming what it computes; the entry points calling
 * their kernels (the optimizer's assignments last in train_step, after
 * every read of the old parameter values); the model descriptor.  Loops over
 * the batch axis of a reduction, a matmul contraction or a loss stop at n,
 * the rows that hold data. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "emit_c.h"
#include "memplan.h"
#include "ops.h"

typedef struct Emit {
	FILE *o;
	const char *lr, *key;  /* the learning rate's and the random key's variables */
	const char *row0;      /* a policy model's: the episode's row of its one row */
	const TrainGraph *tg;
	const Model *m;
	Graph *g;
	Arena *a;
	const char *T;       /* "float" or "double" */
	int f32;
	const Schedule *s;   /* what to print: storage, kernels, names */
	const MemPlan *mp;   /* where planned arrays live in the arena */
	int *done;           /* inline definitions already printed in this kernel */
	int kstamp;
	/* the kernel being printed: its name; its own function's text and that
	 * of its parallel parts (printed before it); the next part's number */
	const char *kname;
	FILE *kbody, *kparts;
	int npart, stamp_max, saved_stamp;
	NodeId also;         /* the update the kernel being printed also computes */
	int no_ifcvt;        /* the kernel being printed is compiled without if-conversion (gcc) */
	/* the file-scope names made from the arrays' (kernels, their parallel
	 * parts, packed copies, loop states): what each wanted, what it got */
	const char **kname_of;
	const char **made_want, **made;
	int nmade;
	/* an elementwise kernel's loops over merged axes: merged axis g is the
	 * original axes cgrp[g] .. cgrp[g + 1] - 1 of the output shape corig */
	int ncg, cgrp[MAXRANK + 1];
	Shape corig;
} Emit;

static const Node *NN(const Emit *e, NodeId id) { return graph_node(e->g, id); }
static void emit_probe_table(Emit *e);
static void emit_rl(Emit *e);
static uint64_t file_hash(const char *path);
struct Kernel;
static const char *kernel_name(Emit *e, const Kernel *k);
static const char *made_name(Emit *e, const char *want);

/* ---- the loss as a mean over the batch's rows ---- */

/* How a value depends on the batch's rows: not at all (K_CONST), row by row
 * (K_ROWS: a batched value whose rows are independent), the mean over the
 * rows of per-row terms (K_MEAN), their sum (K_SUM), the row count n
 * (K_COUNT), or otherwise (K_OTHER: rows mixed, or a nonlinear function of
 * a sum over them). */
enum { K_CONST, K_ROWS, K_MEAN, K_SUM, K_COUNT, K_OTHER };

static int rows_kind(const Emit *e, NodeId id, int8_t *memo)
{
	const Node *n = NN(e, id);
	int k[2] = {K_CONST, K_CONST}, all_const = 1, only_rows = 1, r = K_OTHER;
	if (memo[id] >= 0)
		return memo[id];
	if (n->op == OP_COUNT)
		r = n->i[1] ? K_COUNT : K_CONST;
	else if (n->nin == 0)
		r = n->bax >= 0 ? K_ROWS : K_CONST;
	else {
		for (int i = 0; i < n->nin; i++) {
			int ki = rows_kind(e, n->in[i], memo);
			if (i < 2)
				k[i] = ki;
			all_const &= ki == K_CONST;
			only_rows &= ki == K_CONST || ki == K_ROWS;
		}
		if (all_const)
			r = K_CONST;
		else if (n->bax >= 0)
			r = only_rows ? K_ROWS : K_OTHER;
		else if ((n->op == OP_XENT || n->op == OP_NLL || n->op == OP_BCE) && only_rows) {
			/* the mean over the rows (bce: over their elements), or their
			 * sum; a mean over the rows that count (ignore_index) or
			 * weighted by class (divided by the rows' weights) is neither */
			LossOpts o;
			graph_loss_opts(e->g, id, &o);
			r = o.ignore || o.weight ? K_OTHER : o.sum ? K_SUM : K_MEAN;
		}
		else if (n->op == OP_SUM && (k[0] == K_ROWS || k[0] == K_SUM))
			r = K_SUM;
		else if ((n->op == OP_SUM || n->op == OP_BROADCAST || n->op == OP_RESHAPE || n->op == OP_NEG) &&
		         n->nin == 1)
			r = k[0] == K_MEAN || k[0] == K_SUM ? k[0] : K_OTHER;
		else if (n->op == OP_MUL && n->nin == 2) {
			int a = k[0] == K_CONST ? k[1] : k[0], b = k[0] == K_CONST ? k[0] : k[1];
			if (b == K_CONST && (a == K_MEAN || a == K_SUM))
				r = a;
			else if ((a == K_MEAN && b == K_COUNT) || (a == K_COUNT && b == K_MEAN))
				r = K_SUM;
		} else if (n->op == OP_DIV && n->nin == 2) {
			if (k[1] == K_CONST && (k[0] == K_MEAN || k[0] == K_SUM))
				r = k[0];
			else if (k[0] == K_SUM && k[1] == K_COUNT)
				r = K_MEAN;
		} else if ((n->op == OP_ADD || n->op == OP_SUB) && n->nin == 2) {
			int a = k[0], b = k[1];
			if ((a == K_MEAN || a == K_CONST) && (b == K_MEAN || b == K_CONST))
				r = K_MEAN;
			else if (a == K_SUM && b == K_SUM)
				r = K_SUM;
		}
	}
	memo[id] = (int8_t)r;
	return r;
}

/* The loss is a mean over the batch's rows of per-row terms (plus terms that
 * do not depend on the rows): the losses and gradients of parts of a batch,
 * weighted by their rows, add up to the whole batch's (runtime/dist.c). */
static int loss_is_row_mean(const Emit *e)
{
	int8_t *memo = arena_alloc(e->a, e->g->nnodes);
	int k;
	if (!e->m->loss)
		return 0;
	memset(memo, -1, e->g->nnodes);
	k = rows_kind(e, e->m->loss, memo);
	return k == K_MEAN || k == K_CONST;
}

/* ---- the update entry point ---- */

/* A kernel of the optimizer update: train_step runs it, gradients does not. */
static int is_update_kernel(const Kernel *k)
{
	return (k->entries & ENTRY_TRAIN_STEP) && !(k->entries & ENTRY_GRADIENTS) && !k->loop;
}

/* A model whose train_step is gradients then the update, in that order (every
 * update kernel after the last gradients kernel), gets NAME_update: the
 * runtime can then combine the gradients of several batches (--shards, MPI
 * ranks) before one update.  Step clauses, Newton's methods and agents have
 * steps of another shape and get none. */
static int has_update_entry(const Emit *e)
{
	const Model *m = e->m;
	int last_grad = -1, first_update = -1;
	if (m->nclauses || m->policy_only || m->rl.rollout || m->opt.kind == OPT_NEWTON || m->opt.kind == OPT_NEWTON_CG)
		return 0;
	for (int i = 0; i < e->s->nk; i++) {
		const Kernel *k = &e->s->k[i];
		/* a gradient the runtime sees through a copy: the update reads the
		 * original, which the runtime cannot change */
		for (int t = 0; k->dst && t < e->g->ntensors; t++)
			if (e->s->grad_buf[t] == k->dst)
				return 0;
		if ((k->entries & ENTRY_GRADIENTS) && !k->loop)
			last_grad = i;
		if (is_update_kernel(k) && first_update < 0)
			first_update = i;
	}
	return first_update > last_grad;
}

/* ---- literals and math ---- */

static const char *lit(Emit *e, double v)
{
	CExpr x = {e->a, e->f32, NULL, NULL, 0, NULL};
	return cx_lit(&x, v);
}

static const char *fn(Emit *e, const char *name)
{
	CExpr x = {e->a, e->f32, NULL, NULL, 0, NULL};
	return cx_fn(&x, name);
}

/* ---- index expressions ---- */

/* Flat index into an array of shape `src`, broadcast (aligned right) to the
 * loop nest over `out` with loop variables i0..i{r-1}. */
/* src (aligned right to the output shape e->corig) over the merged axes */
static Shape merged_shape(const Emit *e, Shape src)
{
	Shape r;
	memset(&r, 0, sizeof r);
	r.rank = e->ncg;
	int off = e->corig.rank - src.rank;
	for (int g = 0; g < e->ncg; g++) {
		int64_t p = 1;
		for (int k = e->cgrp[g]; k < e->cgrp[g + 1]; k++)
			p *= k >= off ? src.d[k - off] : 1;
		r.d[g] = p;
	}
	return r;
}

static const char *bcast_index(Emit *e, Shape src, Shape out)
{
	const char *s = NULL;
	if (e->ncg && shape_eq(out, e->corig)) {
		src = merged_shape(e, src);
		out = merged_shape(e, out);
	}
	int off = out.rank - src.rank;
	for (int k = 0; k < src.rank; k++) {
		if (s && src.d[k] != 1)
			s = arena_printf(e->a, "%s * %lld", s, (long long)src.d[k]);
		if (src.d[k] != 1)
			s = s ? arena_printf(e->a, "%s + i%d", s, k + off) : arena_printf(e->a, "i%d", k + off);
		if (s && k + 1 < src.rank && src.d[k + 1] != 1 && strchr(s, '+'))
			s = arena_printf(e->a, "(%s)", s);
	}
	return s ? s : "0";
}

/* "(p * A + k) * post + q" with the trivial parts left out */
static const char *pak_index(Emit *e, int64_t pre, int64_t A, int64_t post, const char *kv)
{
	const char *s = kv;
	if (pre > 1)
		s = arena_printf(e->a, "p * %lld + %s", (long long)A, kv);
	if (post > 1)
		s = pre > 1 ? arena_printf(e->a, "(%s) * %lld + q", s, (long long)post)
		            : arena_printf(e->a, "%s * %lld + q", s, (long long)post);
	return s;
}

/* Reference to element `flat` of node id (flat mode) or at the loop indices
 * of shape `out` (nested mode). */
static const char *ref(Emit *e, NodeId id, int nested, Shape out)
{
	const Node *n = NN(e, id);
	switch (e->s->st[id]) {
	case ST_SCALAR:
		if (n->op == OP_BROADCAST || n->op == OP_RESHAPE)
			return ref(e, n->in[0], nested, out);
		if (n->op == OP_CONST)
			return lit(e, n->f);
		if (n->op == OP_HYPER)
			return e->lr;
		if (n->op == OP_COUNT)
			return arena_printf(e->a, "(%s)(n * %lld)", e->T, (long long)n->i[0]);
		break;
	case ST_VIEW: {
		if (n->op == OP_RESHAPE)
			return ref(e, n->in[0], nested, out); /* a rebatched view */
		const Node *src = NN(e, n->in[0]);
		if (!nested)
			DLC_INTERNAL("view read in flat mode");
		return arena_printf(e->a, "%s[%s]", e->s->buf[n->in[0]], bcast_index(e, src->shape, out));
	}
	case ST_OWN:
	case ST_ALIAS:
		return arena_printf(e->a, "%s[%s]", e->s->buf[id], nested ? bcast_index(e, n->shape, out) : "i");
	case ST_INLINE:
		return arena_printf(e->a, "v%u", id);
	case ST_NONE:
		break;
	}
	DLC_INTERNAL("no value for node %u", id);
}

static const char *ew_apply(Emit *e, const Node *n, const char *a, const char *b, const char *c);

/* the parameters a step clause trains */
static int sc_count(const Graph *g, const StepClause *sc)
{
	int k = 0;
	for (int t = 0; t < g->ntensors; t++)
		k += g->tensors[t].role == ROLE_PARAM && sc->params[t]; /* params[] has an entry per param */
	return k;
}

/* Print `T v<id> = ...;` for the inlined values under id, each once per
 * kernel, inputs first. */
static void inline_defs(Emit *e, NodeId id, int nested, Shape out, int depth)
{
	if (e->s->st[id] != ST_INLINE || e->done[id] == e->kstamp)
		return;
	const Node *n = NN(e, id);
	for (int k = 0; k < n->nin; k++)
		inline_defs(e, n->in[k], nested, out, depth);
	e->done[id] = e->kstamp;
	const char *a = ref(e, n->in[0], nested, out);
	const char *b = op_info[n->op].arity > 1 ? ref(e, n->in[1], nested, out) : NULL;
	const char *c = op_info[n->op].arity > 2 ? ref(e, n->in[2], nested, out) : NULL;
	fprintf(e->o, "%.*s%s v%u = %s; /* %s */\n", depth, "\t\t\t\t\t\t\t\t\t\t\t\t", e->T, id,
	        ew_apply(e, n, a, b, c), n->name ? n->name : op_info[n->op].name);
}

static const char *desc_node(Emit *e, NodeId id)
{
	const Node *n = NN(e, id);
	char sb[160];
	const char *s = arena_printf(e->a, "%%%u = %s(", id, op_info[n->op].name);
	for (int k = 0; k < n->nin; k++) {
		NodeId in = n->in[k];
		const char *nm = e->s->buf[in] ? e->s->buf[in] : NN(e, in)->op == OP_CONST ? lit(e, NN(e, in)->f)
		                                                                    : arena_printf(e->a, "%%%u", in);
		s = arena_printf(e->a, "%s%s%s", s, k ? ", " : "", nm);
	}
	return arena_printf(e->a, "%s) %s", s, shape_str(n->shape, sb, sizeof sb));
}

/* ---- kernels ---- */

/* The elementwise op n applied to operand expressions a (and b, c). */
static const char *ew_apply(Emit *e, const Node *n, const char *a, const char *b, const char *c)
{
	if (op_rules[n->op].c_expr) {
		CExpr x = {e->a, e->f32, a, b, n->f, c};
		return op_rules[n->op].c_expr(&x);
	}
	switch ((OpKind)n->op) {
	case OP_BROADCAST: case OP_RESHAPE: case OP_ASSIGN:
		return a;
	default: break;
	}
	DLC_INTERNAL("not elementwise: %s", op_info[n->op].name);
}

/* Loop nest over `shape` with variables i0..; returns the indentation depth
 * and prints the headers. */
/* The loops over a shape (flat: one loop over every element); part: in a
 * parallel part, the outermost loop runs over [lo, hi). */
static int open_nest(Emit *e, Shape shape, int flat, int depth, int part)
{
	FILE *o = e->o;
	if (flat) {
		if (part)
			fprintf(o, "%.*sfor (long i = lo; i < hi; i++) {\n", depth, "\t\t\t\t\t\t\t\t\t\t");
		else
			fprintf(o, "%.*sfor (long i = 0; i < %lld; i++) {\n", depth, "\t\t\t\t\t\t\t\t\t\t",
			        (long long)shape_numel(shape));
		return depth + 1;
	}
	for (int d = 0; d < shape.rank; d++) {
		if (d == 0 && part)
			fprintf(o, "%.*sfor (long i0 = lo; i0 < hi; i0++)%s\n", depth, "\t\t\t\t\t\t\t\t\t\t",
			        shape.rank == 1 ? " {" : "");
		else
			fprintf(o, "%.*sfor (long i%d = 0; i%d < %lld; i%d++)%s\n", depth + d, "\t\t\t\t\t\t\t\t\t\t", d, d,
			        (long long)shape.d[d], d, d + 1 == shape.rank ? " {" : "");
	}
	if (shape.rank == 0) {
		fprintf(o, "%.*s{\n", depth, "\t\t\t\t\t\t\t\t\t\t");
		return depth + 1;
	}
	return depth + shape.rank;
}

static void close_nest(Emit *e, int depth)
{
	fprintf(e->o, "%.*s}\n", depth - 1, "\t\t\t\t\t\t\t\t\t\t");
}

#define IND(d) (d), "\t\t\t\t\t\t\t\t\t\t\t\t"

/* ---- parallel parts ----
 * A parallel loop of a kernel is a function of its own, NAME_pK(n, lo, hi,
 * tid), computing items [lo, hi) of the loop; the kernel hands it to the
 * runtime's pool (dlrt_parallel), which splits [0, count) into one range
 * per thread, boundaries at multiples of grain.  Every item is computed by
 * exactly one thread with the same arithmetic whatever the split, so the
 * results do not depend on the number of threads.  Between par_begin and
 * par_end the emitter prints the part's body; tid picks the thread's own
 * scratch (dlc_pa[tid], ...). */

/* Work (in multiply-adds or element operations) below which a loop stays
 * serial: starting the pool's threads costs about a microsecond. */
#define PAR_MIN_WORK 32768

static void par_begin(Emit *e, const char *count, long long grain, const char *what)
{
	const char *fnm = made_name(e, arena_printf(e->a, "%s_p%d", e->kname, e->npart++));
	fprintf(e->o, "	dlrt_parallel(%s, n, %s, %lld); /* %s */\n", fnm, count, grain, what);
	e->o = e->kparts;
	fprintf(e->o, "/* %s, in parallel: %s */\n%sstatic void %s(int64_t n, long lo, long hi, int tid)\n{\n"
	              "\t(void)n;\n\t(void)tid;\n", e->kname, what, e->no_ifcvt ? "DLC_KERNEL_SELECTS\n" : "", fnm);
	e->saved_stamp = e->kstamp;
	e->kstamp = ++e->stamp_max;
}

static void par_end(Emit *e)
{
	fprintf(e->o, "}\n\n");
	e->o = e->kbody;
	e->kstamp = e->saved_stamp;
}

/* The shapes of the arrays an elementwise tree reads (through inlined
 * values and views); returns the new count, or max + 1 when there are more. */
static int tree_shapes(const Emit *e, NodeId id, Shape *out, int n, int max)
{
	const Node *x = NN(e, id);
	switch (e->s->st[id]) {
	case ST_INLINE:
		for (int k = 0; k < x->nin; k++)
			n = tree_shapes(e, x->in[k], out, n, max);
		return n;
	case ST_SCALAR:
		if (x->op == OP_BROADCAST || x->op == OP_RESHAPE)
			return tree_shapes(e, x->in[0], out, n, max);
		return n;
	case ST_VIEW:
		if (x->op == OP_RESHAPE)
			return tree_shapes(e, x->in[0], out, n, max);
		if (n < max)
			out[n] = NN(e, x->in[0])->shape;
		return n + 1;
	default:
		if (n < max)
			out[n] = x->shape;
		return n + 1;
	}
}

/* Merge neighbouring axes of a nested loop where every array read is either
 * whole or broadcast along both (a bias over [B, C, H, W] needs loops over
 * B, C and H x W): longer inner loops, the same elements in the same order. */
static void plan_merge(Emit *e, Shape shape, const NodeId *in, int nin)
{
	enum { MAXS = 16 };
	Shape srcs[MAXS];
	int ns = 0;
	for (int k = 0; k < nin; k++)
		ns = tree_shapes(e, in[k], srcs, ns, MAXS);
	e->ncg = 0;
	if (ns > MAXS || shape.rank < 2)
		return;
	e->corig = shape;
	e->cgrp[0] = 0;
	int g = 0;
	/* per array, what the current group does with it: 0 nothing yet (axes
	 * of size 1 go with anything), 1 reads it whole, 2 broadcasts it */
	int how[MAXS];
	for (int j = 0; j < ns; j++)
		how[j] = 0;
	for (int k = 0; k < shape.rank; k++) {
		int merge = k > 0, st[MAXS];
		for (int j = 0; j < ns; j++) {
			int off = shape.rank - srcs[j].rank;
			int64_t b = k >= off ? srcs[j].d[k - off] : 1;
			st[j] = shape.d[k] == 1 ? 0 : b == shape.d[k] ? 1 : 2;
			if (st[j] && how[j] && st[j] != how[j])
				merge = 0;
		}
		if (k > 0 && !merge) {
			e->cgrp[++g] = k;
			for (int j = 0; j < ns; j++)
				how[j] = 0;
		}
		for (int j = 0; j < ns; j++)
			if (st[j])
				how[j] = st[j];
	}
	e->cgrp[++g] = shape.rank;
	e->ncg = g;
	if (g == shape.rank)
		e->ncg = 0; /* nothing merged */
}

/* dst[...] = node's elementwise value (or, for a copy, the source's value)
 * over `shape`, with the inlined values it reads computed in the loop. */
static void kernel_ew(Emit *e, const char *dst, Shape shape, NodeId id, int copy)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	int nin = copy ? 1 : op_info[n->op].arity;
	const NodeId *in = copy ? &id : n->in;
	int nested = 0;
	if (!copy && (n->op == OP_ASSIGN || n->op == OP_BROADCAST || n->op == OP_RESHAPE)) {
		/* an update copies its value; a materialised view copies its source */
		in = &n->in[n->op == OP_ASSIGN ? 1 : 0];
		nin = 1;
		copy = 1;
		nested = n->op == OP_BROADCAST;
	}
	for (int k = 0; k < nin; k++)
		nested |= sched_needs_nested(e->s, in[k]);
	int64_t numel = shape_numel(shape);
	Shape loops = shape;
	if (nested) {
		plan_merge(e, shape, in, nin);
		if (e->ncg)
			loops = merged_shape(e, shape);
	}
	int par = numel >= PAR_MIN_WORK && (!nested || loops.d[0] > 1);
	if (par) {
		if (nested)
			par_begin(e, arena_printf(e->a, "%lld", (long long)loops.d[0]), 1, "along the first axis");
		else
			par_begin(e, arena_printf(e->a, "%lld", (long long)numel), 1024, "blocks of 1024 elements");
		o = e->o;
	}
	int d = open_nest(e, loops, !nested, 1, par);
	for (int k = 0; k < nin; k++)
		inline_defs(e, in[k], nested, shape, d);
	const char *a = ref(e, in[0], nested, shape);
	const char *b = nin > 1 ? ref(e, in[1], nested, shape) : NULL;
	const char *c = nin > 2 ? ref(e, in[2], nested, shape) : NULL;
	fprintf(o, "%.*s%s[%s] = %s;\n", IND(d), dst, nested ? bcast_index(e, shape, shape) : "i",
	        copy ? a : ew_apply(e, n, a, b, c));
	if (e->also) {
		const Node *un = NN(e, e->also);
		inline_defs(e, un->in[1], 0, shape, d);
		fprintf(o, "%.*s%s[i] = %s; /* %s <- %s */\n", IND(d), e->s->buf[un->in[0]], ref(e, un->in[1], 0, shape),
		        e->s->buf[un->in[0]], desc_node(e, un->in[1]));
	}
	close_nest(e, d);
	e->ncg = 0;
	if (par)
		par_end(e);
}

/* pre/A/post split of a shape around axis */
static void split(Shape s, int axis, int64_t *pre, int64_t *A, int64_t *post)
{
	*pre = 1;
	*post = 1;
	for (int i = 0; i < axis; i++)
		*pre *= s.d[i];
	*A = s.d[axis];
	for (int i = axis + 1; i < s.rank; i++)
		*post *= s.d[i];
}

/* The entries of x's batch axis that hold data: n, times the slots per
 * example when the batch axis has several (graph.h). */
static const char *batch_extent(Emit *e, const Node *x)
{
	int64_t k = x->bax >= 0 && e->g->batch > 0 ? x->shape.d[x->bax] / e->g->batch : 1;
	return k == 1 ? "n" : arena_printf(e->a, "(n * %lld)", (long long)k);
}

/* Print the pairwise sum (or max) of part[0..15] into `into` (a C lvalue
 * expression, combined with op "=" or "+="). */
static void lanes_combine(Emit *e, int ismax, const char *into, const char *op, int d)
{
	const char *t[16];
	for (int r = 0; r < 16; r++)
		t[r] = arena_printf(e->a, "part[%d]", r);
	for (int w = 8; w >= 1; w /= 2)
		for (int r = 0; r < w; r++)
			t[r] = ismax ? arena_printf(e->a, "(%s > %s ? %s : %s)", t[r + w], t[r], t[r + w], t[r])
			             : arena_printf(e->a, "(%s + %s)", t[r], t[r + w]);
	fprintf(e->o, "%.*s%s %s %s;\n", IND(d), into, op, t[0]);
}

/* Reduce `len` contiguous elements starting at flat index `base` into the 16
 * lane accumulators part[] (a vector's worth of independent sums, so the
 * compiler vectorizes; the order is fixed).  `val` is the element's value in
 * terms of the flat index i; defs (if any) prints the inlined values it
 * reads. */
static void lanes_loop(Emit *e, int ismax, const char *base, const char *len, const char *T, NodeId defs,
                       const char *val, int d)
{
	FILE *o = e->o;
	const char *upd = ismax ? "part[r] = val > part[r] ? val : part[r];" : "part[r] += val;";
	for (int pass = 0; pass < 2; pass++) {
		int b = d + 1 - pass; /* the body's depth */
		if (pass == 0)
			fprintf(o, "%.*sfor (long k = 0; k + 16 <= (%s); k += 16)\n%.*sfor (long r = 0; r < 16; r++) {\n", IND(d),
			        len, IND(d + 1));
		else
			fprintf(o, "%.*sfor (long k = (%s) / 16 * 16, r = 0; r < (%s) %% 16; r++) {\n", IND(d), len, len);
		fprintf(o, "%.*slong i = %s + k + r;\n", IND(b + 1), base);
		if (defs) {
			e->kstamp = ++e->stamp_max; /* the definitions again in this loop */
			inline_defs(e, defs, 0, NN(e, defs)->shape, b + 1);
		}
		fprintf(o, "%.*s%s val = %s;\n%.*s%s\n%.*s}\n", IND(b + 1), T, val, IND(b + 1), upd, IND(b));
	}
}

static void kernel_reduce(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id), *x = NN(e, n->in[0]);
	const char *xb = e->s->buf[n->in[0]];
	int ismax = n->op == OP_MAX;
	const char *acct = ismax ? e->T : "double";
	const char *init = ismax ? "-INFINITY" : "0";
	int axis = (int)n->i[0];
	int64_t pre, A, post;
	const char *bound;
	if (axis < 0) {
		pre = 1;
		A = shape_numel(x->shape);
		post = 1;
		bound = arena_printf(e->a, "%lld", (long long)A);
		if (x->bax >= 0) {
			split(x->shape, x->bax, &pre, &A, &post);
			bound = batch_extent(e, x);
		}
		/* every p: bound x post contiguous elements */
		fprintf(o, "\t%s part[16];\n\tfor (long r = 0; r < 16; r++)\n\t\tpart[r] = %s;\n", acct, init);
		int d = 1;
		if (pre > 1)
			fprintf(o, "%.*sfor (long p = 0; p < %lld; p++) {\n", IND(d++), (long long)pre);
		lanes_loop(e, ismax, pre > 1 ? arena_printf(e->a, "p * %lld", (long long)(A * post)) : "0",
		           post > 1 ? arena_printf(e->a, "%s * %lld", bound, (long long)post) : bound, acct, 0,
		           arena_printf(e->a, "%s[i]", xb), d);
		if (pre > 1)
			fprintf(o, "\t}\n");
		lanes_combine(e, ismax, arena_printf(e->a, "%s acc", acct), "=", 1);
		fprintf(o, "\t%s[0] = (%s)acc;\n", dst, e->T);
		return;
	}
	split(x->shape, axis, &pre, &A, &post);
	bound = x->bax == axis ? batch_extent(e, x) : arena_printf(e->a, "%lld", (long long)A);
	const char *upd = ismax ? "if (val > acc)\n%.*sacc = val;" : "acc += val;";
	int d = 1;
	if (pre > 1)
		fprintf(o, "%.*sfor (long p = 0; p < %lld; p++)\n", IND(d++), (long long)pre);
	if (post == 1) {
		/* contiguous along the axis: lanes */
		fprintf(o, "%.*s{\n", IND(d - 1));
		fprintf(o, "%.*s%s part[16];\n%.*sfor (long r = 0; r < 16; r++)\n%.*spart[r] = %s;\n", IND(d), acct, IND(d),
		        IND(d + 1), init);
		lanes_loop(e, ismax, pre > 1 ? arena_printf(e->a, "p * %lld", (long long)A) : "0", bound, acct, 0,
		           arena_printf(e->a, "%s[i]", xb), d);
		lanes_combine(e, ismax, arena_printf(e->a, "%s acc", acct), "=", d);
		fprintf(o, "%.*s%s[%s] = (%s)acc;\n", IND(d), dst, pre > 1 ? "p" : "0", e->T);
		fprintf(o, "%.*s}\n", IND(d - 1));
		return;
	}
	fprintf(o, "%.*sfor (long q = 0; q < %lld; q++)\n", IND(d++), (long long)post);
	fprintf(o, "%.*s{\n", IND(d - 1));
	fprintf(o, "%.*s%s acc = %s;\n", IND(d), acct, init);
	fprintf(o, "%.*sfor (long k = 0; k < %s; k++) {\n", IND(d), bound);
	fprintf(o, "%.*s%s val = %s[%s];\n", IND(d + 1), e->T, xb, pak_index(e, pre, A, post, "k"));
	fprintf(o, "%.*s", IND(d + 1));
	fprintf(o, upd, IND(d + 2));
	fprintf(o, "\n%.*s}\n", IND(d));
	const char *oi = pre > 1 ? arena_printf(e->a, "p * %lld + q", (long long)post) : "q";
	fprintf(o, "%.*s%s[%s] = (%s)acc;\n", IND(d), dst, oi, e->T);
	fprintf(o, "%.*s}\n", IND(d - 1));
}

/* The loops over axes 0..m-1 of s for a sum_to, the parallel axis pax (a
 * kept axis; -1: none) over [lo, hi); returns the depth. */
static int sumto_loops(Emit *e, const Node *n, Shape s, int off, int bax, const char *nb, int m, int pax)
{
	FILE *o = e->o;
	int d = 1;
	for (int k = 0; k < m; k++) {
		if (k == pax) {
			fprintf(o, "%.*sfor (long i%d = lo; i%d < hi; i%d++)\n", IND(d++), k, k, k);
			continue;
		}
		int reduced = k < off || n->shape.d[k - off] == 1;
		const char *bound = (k == bax && reduced) ? nb : arena_printf(e->a, "%lld", (long long)s.d[k]);
		fprintf(o, "%.*sfor (long i%d = 0; i%d < %s; i%d++)\n", IND(d++), k, k, bound, k);
	}
	return d;
}

/* sum over the broadcast axes of the input down to the node's shape; when
 * the trailing axes are all summed, 16 lane accumulators per output element
 * (fixed order).  In parallel, threads take ranges of one kept axis: every
 * output element is still summed by one thread in the serial order. */
static void kernel_sumto(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id), *x = NN(e, n->in[0]);
	int64_t NO = shape_numel(n->shape);
	fprintf(o, "\tfor (long i = 0; i < %lld; i++)\n\t\t%s[i] = 0;\n", (long long)NO, dst);
	Shape s = x->shape;
	int off = s.rank - n->shape.rank;
	int m = s.rank;
	int64_t L = 1;
	while (m > 0 && (m - 1 < off || n->shape.d[m - 1 - off] == 1) && m - 1 != x->bax) {
		L *= s.d[m - 1];
		m--;
	}
	int lanes = m < s.rank && L >= 16 && !sched_needs_nested(e->s, n->in[0]);
	int nl = lanes ? m : s.rank;
	/* the parallel axis: the widest kept one (in whole vectors when it is
	 * the innermost loop) */
	int pax = -1;
	if (shape_numel(s) >= PAR_MIN_WORK)
		for (int k = 0; k < nl; k++) {
			int reduced = k < off || n->shape.d[k - off] == 1;
			if (!reduced && s.d[k] > 1 && (pax < 0 || s.d[k] > s.d[pax]))
				pax = k;
		}
	long long grain = !lanes && pax == nl - 1 ? 16 : 1;
	if (pax >= 0 && s.d[pax] <= grain)
		pax = -1;
	if (pax >= 0) {
		par_begin(e, arena_printf(e->a, "%lld", (long long)s.d[pax]), grain, arena_printf(e->a, "ranges of axis %d", pax));
		o = e->o;
	}
	int d = sumto_loops(e, n, s, off, x->bax, batch_extent(e, x), nl, pax);
	if (lanes) {
		fprintf(o, "%.*s{\n", IND(d - 1));
		fprintf(o, "%.*s%s part[16] = {0};\n", IND(d), e->T);
		Shape so = s;
		so.rank = m;
		const char *base = m ? arena_printf(e->a, "(%s) * %lld", bcast_index(e, so, so), (long long)L) : "0";
		int inl = e->s->st[n->in[0]] == ST_INLINE;
		lanes_loop(e, 0, base, arena_printf(e->a, "%lld", (long long)L), e->T, inl ? n->in[0] : 0,
		           ref(e, n->in[0], 0, s), d);
		lanes_combine(e, 0, arena_printf(e->a, "%s[%s]", dst, bcast_index(e, n->shape, s)), "+=", d);
		fprintf(o, "%.*s}\n", IND(d - 1));
	} else if (e->s->st[n->in[0]] == ST_INLINE) {
		fprintf(o, "%.*s{\n", IND(d - 1));
		inline_defs(e, n->in[0], 1, s, d);
		fprintf(o, "%.*s%s[%s] += %s;\n%.*s}\n", IND(d), dst, bcast_index(e, n->shape, s),
		        ref(e, n->in[0], 1, s), IND(d - 1));
	} else
		fprintf(o, "%.*s%s[%s] += %s;\n", IND(d), dst, bcast_index(e, n->shape, s), ref(e, n->in[0], 1, s));
	if (pax >= 0)
		par_end(e);
}

/* A permutation of axes: a loop over the output, reading the input with
 * the permuted strides.  2-D: the plain transpose. */
static void kernel_transpose(Emit *e, NodeId id, const char *dst)
{
	const Node *n = NN(e, id);
	int r = n->shape.rank;
	if (r > 2) {
		Shape xs = NN(e, n->in[0])->shape;
		int64_t xst[MAXRANK], st = 1;
		for (int k = r; k-- > 0;) {
			xst[k] = st;
			st *= xs.d[k];
		}
		const char *oi = "0", *xi = "0";
		for (int k = 0; k < r; k++) {
			fprintf(e->o, "%.*sfor (long i%d = 0; i%d < %lld; i%d++)\n", IND(k + 1), k, k, (long long)n->shape.d[k], k);
			oi = k > 1 ? arena_printf(e->a, "(%s) * %lld + i%d", oi, (long long)n->shape.d[k], k)
			     : k ? arena_printf(e->a, "i0 * %lld + i1", (long long)n->shape.d[1]) : "i0";
			xi = arena_printf(e->a, "%s%si%d * %lld", k ? xi : "", k ? " + " : "", k, (long long)xst[n->i[k]]);
		}
		fprintf(e->o, "%.*s%s[%s] = %s[%s];\n", IND(r + 1), dst, oi, e->s->buf[n->in[0]], xi);
		return;
	}
	long long M = (long long)n->shape.d[1], N = (long long)n->shape.d[0];
	fprintf(e->o, "\tfor (long i = 0; i < %lld; i++)\n\t\tfor (long j = 0; j < %lld; j++)\n"
	              "\t\t\t%s[j * %lld + i] = %s[i * %lld + j];\n",
	        M, N, dst, M, e->s->buf[n->in[0]], N);
}

/* The body of an epilogue loop at depth d, inside loops over the indices
 * i0, i1, ... of consumer c's shape: c's inlined values, then c's element
 * written over dst's (the producer's value, which c reads). */
static void epilogue_body(Emit *e, NodeId c, const char *dst, int d)
{
	const Node *cn = NN(e, c);
	for (int k = 0; k < cn->nin; k++)
		inline_defs(e, cn->in[k], 1, cn->shape, d);
	const char *a = ref(e, cn->in[0], 1, cn->shape);
	const char *b = op_info[cn->op].arity > 1 ? ref(e, cn->in[1], 1, cn->shape) : NULL;
	const char *c3 = op_info[cn->op].arity > 2 ? ref(e, cn->in[2], 1, cn->shape) : NULL;
	fprintf(e->o, "%.*s%s[%s] = %s;\n", IND(d), dst, bcast_index(e, cn->shape, cn->shape), ew_apply(e, cn, a, b, c3));
}

/* The fused consumer of a product, applied to the finished tile: rows
 * [r0, r0 + mr), columns [c0, c0 + nr) (C expressions). */
static void matmul_epilogue(Emit *e, NodeId id, const char *dst, const char *r0, const char *c0, int d)
{
	NodeId c = e->s->epi[id];
	if (!c)
		return;
	FILE *o = e->o;
	fprintf(o, "%.*sif (pb + 1 == nkb) /* epilogue: %s */\n", IND(d), desc_node(e, c));
	fprintf(o, "%.*sfor (long i0 = %s; i0 < %s + mr; i0++)\n", IND(d + 1), r0, r0);
	fprintf(o, "%.*sfor (long i1 = %s; i1 < %s + nr; i1++) {\n", IND(d + 2), c0, c0);
	epilogue_body(e, c, dst, d + 3);
	fprintf(o, "%.*s}\n", IND(d + 2));
}

/* The blocked loops of one product C = op(A) op(B) at depth d: A(i, k) =
 * ab[i * sai + k * sak], B(k, j) = bb[k * sbk + j * sbj], C(i, j) =
 * dst[i * N + j], rows [i0, i1) and columns [j0, j1) of C, a contraction of
 * Kb steps (a C expression: "n" over the rows of a batch). */
static int matmul_flat(const Emit *e, const Node *n);

/* N columns rounded up to whole panels (a C expression) */
static const char *npad_expr(Emit *e, long long N)
{
	return arena_printf(e->a, "((%lld + DLC_NR - 1) / DLC_NR * DLC_NR)", N);
}

/* The product `id` runs in a loop's body and its B is loop-invariant, with
 * a contraction of fixed length: its B is packed once, before the loop, into
 * the array named here (NULL: packed at every call). */
static const char *prepacked(Emit *e, NodeId id)
{
	const Node *n = NN(e, id);
	if (n->op != OP_MATMUL || !e->s->region[id] || e->s->region[n->in[1]] || !matmul_flat(e, n) ||
	    !e->s->buf[n->in[1]])
		return NULL;
	const Node *A = NN(e, n->in[0]);
	int ka = A->shape.rank - (n->i[0] ? 2 : 1);
	if (A->bax >= 0 && A->bax == ka)
		return NULL; /* contracted over the batch: its length is n */
	return made_name(e, arena_printf(e->a, "%s_packed%u", e->s->buf[n->in[1]], id));
}

static void gemm_loops(Emit *e, NodeId id, int d, const char *ab, const char *bb, const char *dst, long long N,
                       const char *Kb, long long sai, long long sak, long long sbk, long long sbj, const char *i0,
                       const char *i1, const char *j0, const char *j1, const char *pa, const char *pbk)
{
	FILE *o = e->o;
	fprintf(o, "%.*slong kb = %s, nkb = kb > %d ? (kb + %d) / %d : 1;\n", IND(d), Kb, MM_KC, MM_KC - 1, MM_KC);
	fprintf(o, "%.*sfor (long pb = 0, pc = 0; pb < nkb; pb++) {\n", IND(d));
	fprintf(o, "%.*slong kc = (kb - pc) / (nkb - pb);\n", IND(d + 1));
	fprintf(o, "%.*sfor (long jc = %s; jc < %s; jc += %d) {\n", IND(d + 1), j0, j1, MM_NC);
	fprintf(o, "%.*slong nc = %s - jc < %d ? %s - jc : %d;\n", IND(d + 2), j1, MM_NC, j1, MM_NC);
	/* B is packed even when its rows could be read in place: rows a power
	 * of two apart would fight over the same L1 sets; a loop-invariant B of
	 * a loop's body is packed once, before the loop (prepacked) */
	if (pbk[0] == '=')
		pbk = arena_printf(e->a, "(%s + pc * %s + jc * kc)", pbk + 1, npad_expr(e, N));
	else
		fprintf(o, "%.*sdlc_pack_b(kc, nc, %s + pc * %lld + jc * %lld, %lld, %lld, %s);\n", IND(d + 2), bb, sbk, sbj,
		        sbk, sbj, pbk);
	fprintf(o, "%.*sfor (long ic = %s; ic < %s; ic += %d) {\n", IND(d + 2), i0, i1, MM_MC);
	fprintf(o, "%.*slong mc = %s - ic < %d ? %s - ic : %d;\n", IND(d + 3), i1, MM_MC, i1, MM_MC);
	fprintf(o, "%.*sdlc_pack_a(kc, mc, %s + ic * %lld + pc * %lld, %lld, %lld, %s);\n", IND(d + 3), ab, sai, sak, sai,
	        sak, pa);
	fprintf(o, "%.*sfor (long jr = 0; jr < nc; jr += DLC_NR)\n", IND(d + 3));
	fprintf(o, "%.*sfor (long ir = 0; ir < mc; ir += DLC_MR) {\n", IND(d + 4));
	fprintf(o, "%.*slong mr = mc - ir < DLC_MR ? mc - ir : DLC_MR, nr = nc - jr < DLC_NR ? nc - jr : DLC_NR;\n",
	        IND(d + 5));
	fprintf(o, "%.*sdlc_tile(kc, mr, nr, %s + ir * kc, %s + jr * kc, DLC_NR, %s + (ic + ir) * %lld + jc + jr, "
	           "%lld, pb > 0);\n", IND(d + 5), pa, pbk, dst, N, N);
	matmul_epilogue(e, id, dst, "ic + ir", "jc + jr", d + 5);
	fprintf(o, "%.*s}\n%.*s}\n%.*s}\n%.*spc += kc;\n%.*s}\n", IND(d + 4), IND(d + 2), IND(d + 1), IND(d + 1), IND(d));
}

/* A product whose rows can be read as one matrix: 2-D, or [..., M, K] @
 * [K, N] (the rows of A's matrices follow each other). */
static int matmul_flat(const Emit *e, const Node *n)
{
	return n->shape.rank == 2 || (NN(e, n->in[1])->shape.rank == 2 && !n->i[0]);
}

/* The contraction length of a product: "n" when it runs over the batch. */
static const char *matmul_k(Emit *e, const Node *n, long long K)
{
	const Node *A = NN(e, n->in[0]), *B = NN(e, n->in[1]);
	int ka = A->shape.rank - (n->i[0] ? 2 : 1), kb = B->shape.rank - (n->i[1] ? 1 : 2);
	if (A->bax >= 0 && A->bax == ka)
		return batch_extent(e, A);
	if (B->bax >= 0 && B->bax == kb)
		return batch_extent(e, B);
	return arena_printf(e->a, "%lld", K);
}

/* A product of a row or two (a generator's one token): packing B would cost
 * more than the product, so each element is summed straight from the
 * operands: in order k = 0, 1, ..., eight columns at a time, or, when both
 * operands are contiguous along k, as a dot product in eight partial sums
 * (the same bits on any number of threads either way: the path depends on
 * the shapes only). */
static int few_rows(Emit *e, NodeId id, long long M, long long K, const char *Kb)
{
	return M <= 2 && !strcmp(Kb, arena_printf(e->a, "%lld", K));
}

static void few_rows_product(Emit *e, int d, const char *ab, const char *bb, const char *dst, long long M,
                             long long N, long long K, long long sai, long long sak, long long sbk, long long sbj)
{
	FILE *o = e->o;
	if (sak == 1 && sbk == 1) {
		/* rows of A against rows of B (B read transposed): dot products of
		 * contiguous rows, in eight partial sums k mod 8 added in a fixed
		 * order */
		fprintf(o, "%.*sfor (long i = 0; i < %lld; i++)\n%.*sfor (long j = 0; j < %lld; j++) {\n", IND(d), M,
		        IND(d + 1), N);
		fprintf(o, "%.*sconst %s *dlc_ra = %s + i * %lld, *dlc_rb = %s + j * %lld;\n%.*s%s acc[8] = {0};\n%.*slong k = 0;\n",
		        IND(d + 2), e->T, ab, sai, bb, sbj, IND(d + 2), e->T, IND(d + 2));
		fprintf(o, "%.*sfor (; k + 8 <= %lld; k += 8)\n%.*sfor (int dlc_u = 0; dlc_u < 8; dlc_u++)\n%.*sacc[dlc_u] += "
		           "dlc_ra[k + dlc_u] * dlc_rb[k + dlc_u];\n", IND(d + 2), K, IND(d + 3), IND(d + 4));
		fprintf(o, "%.*sfor (; k < %lld; k++)\n%.*sacc[0] += dlc_ra[k] * dlc_rb[k];\n", IND(d + 2), K, IND(d + 3));
		fprintf(o, "%.*s%s[i * %lld + j] = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + "
		           "acc[7]));\n%.*s}\n", IND(d + 2), dst, N, IND(d + 1));
		return;
	}
	/* eight columns at a time, then the rest one by one (each loop printed
	 * only when it has columns: gcc warns about the index of a loop it
	 * cannot see is empty) */
	long long N8 = N / 8 * 8;
	fprintf(o, "%.*sfor (long i = 0; i < %lld; i++) {\n", IND(d), M);
	if (N8)
		fprintf(o, "%.*sfor (long j = 0; j < %lld; j += 8) {\n%.*s%s acc[8] = {0};\n", IND(d + 1), N8, IND(d + 2), e->T);
	if (N8) {
		fprintf(o, "%.*sfor (long k = 0; k < %lld; k++) {\n%.*s%s dlc_x = %s[i * %lld + k * %lld];\n", IND(d + 2), K,
		        IND(d + 3), e->T, ab, sai, sak);
		fprintf(o, "%.*sfor (int dlc_u = 0; dlc_u < 8; dlc_u++)\n%.*sacc[dlc_u] += dlc_x * %s[k * %lld + (j + dlc_u) * %lld];\n%.*s}\n",
		        IND(d + 3), IND(d + 4), bb, sbk, sbj, IND(d + 2));
		fprintf(o, "%.*sfor (int dlc_u = 0; dlc_u < 8; dlc_u++)\n%.*s%s[i * %lld + j + dlc_u] = acc[dlc_u];\n%.*s}\n",
		        IND(d + 2), IND(d + 3), dst, N, IND(d + 1));
	}
	if (N8 < N) {
		fprintf(o, "%.*sfor (long j = %lld; j < %lld; j++) {\n%.*s%s acc = 0;\n%.*sfor (long k = 0; k < %lld; k++)\n",
		        IND(d + 1), N8, N, IND(d + 2), e->T, IND(d + 2), K);
		fprintf(o, "%.*sacc += %s[i * %lld + k * %lld] * %s[k * %lld + j * %lld];\n%.*s%s[i * %lld + j] = acc;\n",
		        IND(d + 3), ab, sai, sak, bb, sbk, sbj, IND(d + 2), dst, N);
		fprintf(o, "%.*s}\n", IND(d + 1));
	}
	fprintf(o, "%.*s}\n", IND(d));
}

/* A batch of products [..., M, K] x [..., K, N]: a loop over the leading
 * axes of C, each product through the same blocked loops as a 2-D one with
 * its operands' slices (a broadcast operand: the same slice again).  In
 * parallel, each thread takes whole products. */
static void kernel_matmul_batched(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id), *A = NN(e, n->in[0]), *B = NN(e, n->in[1]);
	int ta = (int)n->i[0], tb = (int)n->i[1], r = n->shape.rank, L = r - 2;
	int ra = A->shape.rank, rb = B->shape.rank;
	long long M = (long long)n->shape.d[r - 2], N = (long long)n->shape.d[r - 1];
	long long K = (long long)A->shape.d[ra - (ta ? 2 : 1)];
	long long nb = (long long)shape_numel(shape_make(L, n->shape.d));
	const char *ab = e->s->buf[n->in[0]], *bb = e->s->buf[n->in[1]];
	long long sai = ta ? 1 : K, sak = ta ? M : 1, sbk = tb ? 1 : N, sbj = tb ? K : 1;
	fprintf(o, "\t/* %s = %s%s @ %s%s: %lld products [%lld, %lld] x [%lld, %lld] */\n", dst, ab, ta ? "^T" : "", bb,
	        tb ? "^T" : "", nb, M, K, K, N);
	int small = few_rows(e, id, M, K, matmul_k(e, n, K)) && !e->s->epi[id];
	int par = nb > 1 && nb * M * N * K >= PAR_MIN_WORK && !(small && nb * N * K <= (1 << 20));
	const char *lo = "0", *hi = arena_printf(e->a, "%lld", nb), *pa = "dlc_pa[0]", *pbk = "dlc_pb[0]";
	if (par) {
		par_begin(e, hi, 1, "products");
		o = e->o;
		lo = "lo";
		hi = "hi";
		pa = "dlc_pa[tid]";
		pbk = "dlc_pb[tid]";
	}
	fprintf(o, "\tfor (long dlc_bi = %s; dlc_bi < %s; dlc_bi++) {\n", lo, hi);
	/* the product's index along each leading axis of C, and the offsets of
	 * the operands' slices (broadcast axes: none) */
	int64_t sta[MAXRANK], stb[MAXRANK], st = 1;
	for (int k = ra; k-- > 0; st *= A->shape.d[k])
		sta[k] = st;
	st = 1;
	for (int k = rb; k-- > 0; st *= B->shape.d[k])
		stb[k] = st;
	const char *offa = NULL, *offb = NULL;
	fprintf(o, "\t\tlong dlc_r = dlc_bi;\n");
	for (int j = L; j-- > 0;) {
		int ja = j - (L - (ra - 2)), jb = j - (L - (rb - 2));
		int usea = ja >= 0 && A->shape.d[ja] != 1, useb = jb >= 0 && B->shape.d[jb] != 1;
		long long D = (long long)n->shape.d[j];
		if (D == 1)
			continue;
		fprintf(o, "\t\tlong dlc_b%d = dlc_r %% %lld;\n\t\tdlc_r /= %lld;\n", j, D, D);
		if (usea)
			offa = arena_printf(e->a, "dlc_b%d * %lld%s%s", j, (long long)sta[ja], offa ? " + " : "", offa ? offa : "");
		if (useb)
			offb = arena_printf(e->a, "dlc_b%d * %lld%s%s", j, (long long)stb[jb], offb ? " + " : "", offb ? offb : "");
	}
	fprintf(o, "\t\t(void)dlc_r;\n");
	fprintf(o, "\t\tconst dlc_t *dlc_a = %s%s%s, *dlc_b = %s%s%s;\n", ab, offa ? " + " : "", offa ? offa : "", bb,
	        offb ? " + " : "", offb ? offb : "");
	fprintf(o, "\t\tdlc_t *dlc_c = %s + dlc_bi * %lld;\n", dst, M * N);
	if (small)
		few_rows_product(e, 2, "dlc_a", "dlc_b", "dlc_c", M, N, K, sai, sak, sbk, sbj);
	else
		gemm_loops(e, id, 2, "dlc_a", "dlc_b", "dlc_c", N, matmul_k(e, n, K), sai, sak, sbk, sbj, "0",
		           arena_printf(e->a, "%lld", M), "0", arena_printf(e->a, "%lld", N), pa, pbk);
	fprintf(o, "\t}\n");
	if (par)
		par_end(e);
}

/* C = op(A) op(B) through packed panels and the register-tiled micro-kernel
 * dlc_ukr (runtime/dlrt_kernels.h); the transposed variants differ only in the
 * strides the packing reads with.  The contraction is summed in order k = 0,
 * 1, ... for every element, whatever the blocking. */
static void kernel_matmul(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id), *A = NN(e, n->in[0]);
	if (!matmul_flat(e, n)) {
		kernel_matmul_batched(e, id, dst);
		return;
	}
	/* [..., M, K] @ [K, N] is one product of all rows of A */
	int ta = (int)n->i[0], tb = (int)n->i[1], r = n->shape.rank;
	long long N = (long long)n->shape.d[r - 1], M = (long long)shape_numel(n->shape) / N;
	long long K = (long long)A->shape.d[A->shape.rank - (ta ? 2 : 1)];
	const char *Kb = matmul_k(e, n, K);
	const char *ab = e->s->buf[n->in[0]], *bb = e->s->buf[n->in[1]];
	/* A(i, k) = ab[i * sai + k * sak], B(k, j) = bb[k * sbk + j * sbj] */
	long long sai = ta ? 1 : K, sak = ta ? M : 1, sbk = tb ? 1 : N, sbj = tb ? K : 1;
	fprintf(o, "\t/* %s = %s%s @ %s%s: [%lld, %lld] x [%lld, %lld] */\n", dst, ab, ta ? "^T" : "", bb,
	        tb ? "^T" : "", M, K, K, N);
	/* In parallel, each thread takes whole tiles: a range of panels of
	 * DLC_NR columns when A is the smaller operand (each thread packs all
	 * of A and its own columns of B), else a range of slivers of DLC_MR
	 * rows; the tiles and the order of the sums are those of the serial
	 * loop. */
	long long nrmax = MM_NRMAX(e);
	long long ncols = (N + nrmax - 1) / nrmax, nrows = (M + 5) / 6;
	int small = few_rows(e, id, M, K, Kb) && N * K <= (1 << 20) && !prepacked(e, id);
	int par = !small && M * N * K >= PAR_MIN_WORK && (ncols > 1 || nrows > 1);
	int bycol = ncols > 1 && (M <= N || nrows < 2);
	const char *i0 = "0", *i1 = arena_printf(e->a, "%lld", M), *j0 = "0", *j1 = arena_printf(e->a, "%lld", N);
	const char *pa = "dlc_pa[0]", *pbk = "dlc_pb[0]";
	if (par) {
		if (bycol)
			par_begin(e, arena_printf(e->a, "(%lld + DLC_NR - 1) / DLC_NR", N), 1, "panels of DLC_NR columns");
		else
			par_begin(e, arena_printf(e->a, "(%lld + DLC_MR - 1) / DLC_MR", M), 1, "slivers of DLC_MR rows");
		o = e->o;
		if (bycol) {
			fprintf(o, "\tlong c0 = lo * DLC_NR, c1 = hi * DLC_NR < %lld ? hi * DLC_NR : %lld; /* columns */\n", N, N);
			j0 = "c0";
			j1 = "c1";
		} else {
			fprintf(o, "\tlong r0 = lo * DLC_MR, r1 = hi * DLC_MR < %lld ? hi * DLC_MR : %lld; /* rows */\n", M, M);
			i0 = "r0";
			i1 = "r1";
		}
		pa = "dlc_pa[tid]";
		pbk = "dlc_pb[tid]";
	}
	const char *pk = prepacked(e, id);
	if (pk)
		pbk = arena_printf(e->a, "=%s", pk);
	if (small) {
		few_rows_product(e, 1, ab, bb, dst, M, N, K, sai, sak, sbk, sbj);
		if (e->s->epi[id]) { /* the fused consumer, over the whole product */
			fprintf(o, "\t{\n\t\tconst long pb = 0, nkb = 1, mr = %lld, nr = %lld;\n", M, N);
			matmul_epilogue(e, id, dst, "0", "0", 2);
			fprintf(o, "\t}\n");
		}
		return;
	}
	gemm_loops(e, id, 1, ab, bb, dst, N, Kb, sai, sak, sbk, sbj, i0, i1, j0, j1, pa, pbk);
	if (par)
		par_end(e);
}

/* argmax along an axis: the first index of the largest value (a NaN counts
 * as the largest, as in torch), over the rows that hold data along the
 * batch axis */
static void kernel_argmax(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id), *x = NN(e, n->in[0]);
	int64_t pre, A, post;
	split(x->shape, (int)n->i[0], &pre, &A, &post);
	const char *xb = e->s->buf[n->in[0]];
	const char *bound = x->bax == n->i[0] ? batch_extent(e, x) : arena_printf(e->a, "%lld", (long long)A);
	int d = 1;
	if (pre > 1)
		fprintf(o, "%.*sfor (long p = 0; p < %lld; p++)\n", IND(d++), (long long)pre);
	if (post > 1)
		fprintf(o, "%.*sfor (long q = 0; q < %lld; q++)\n", IND(d++), (long long)post);
	fprintf(o, "%.*s{\n", IND(d - 1));
	fprintf(o, "%.*s%s best = %s[%s];\n%.*sint32_t at = 0;\n", IND(d), e->T, xb, pak_index(e, pre, A, post, "0"),
	        IND(d));
	fprintf(o, "%.*sfor (long k = 1; k < %s; k++) {\n", IND(d), bound);
	fprintf(o, "%.*s%s v = %s[%s];\n", IND(d + 1), e->T, xb, pak_index(e, pre, A, post, "k"));
	fprintf(o, "%.*sif (v > best || (v != v && best == best)) {\n%.*sbest = v;\n%.*sat = (int32_t)k;\n%.*s}\n",
	        IND(d + 1), IND(d + 2), IND(d + 2), IND(d + 1));
	fprintf(o, "%.*s}\n", IND(d));
	const char *oi = pre > 1 && post > 1 ? arena_printf(e->a, "p * %lld + q", (long long)post)
	                 : pre > 1 ? "p" : post > 1 ? "q" : "0";
	fprintf(o, "%.*s%s[%s] = at;\n", IND(d), dst, oi);
	fprintf(o, "%.*s}\n", IND(d - 1));
}

/* one_hot: row i of the result is 1 at column y[i] and 0 elsewhere (all 0
 * for a value outside [0, C)) */
static void kernel_one_hot(Emit *e, NodeId id, const char *dst)
{
	const Node *n = NN(e, id);
	long long C = (long long)n->i[0], rows = (long long)graph_numel(e->g, n->in[0]);
	fprintf(e->o, "\tfor (long i = 0; i < %lld; i++)\n\t\tfor (long c = 0; c < %lld; c++)\n", rows, C);
	fprintf(e->o, "\t\t\t%s[i * %lld + c] = %s[i] == c ? %s : %s;\n", dst, C, e->s->buf[n->in[0]], lit(e, 1),
	        lit(e, 0));
}

static void kernel_softmax(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id), *x = NN(e, n->in[0]);
	int64_t pre, A, post;
	split(x->shape, (int)n->i[0], &pre, &A, &post);
	const char *xb = e->s->buf[n->in[0]];
	const char *xi = pak_index(e, pre, A, post, "k");
	/* along the batch axis only the rows that hold data take part */
	const char *bound = x->bax == n->i[0] ? batch_extent(e, x) : arena_printf(e->a, "%lld", (long long)A);
	int d = 1;
	if (pre > 1)
		fprintf(o, "%.*sfor (long p = 0; p < %lld; p++)\n", IND(d++), (long long)pre);
	if (post > 1)
		fprintf(o, "%.*sfor (long q = 0; q < %lld; q++)\n", IND(d++), (long long)post);
	fprintf(o, "%.*s{\n", IND(d - 1));
	fprintf(o, "%.*s%s mx = -INFINITY;\n", IND(d), e->T);
	fprintf(o, "%.*sfor (long k = 0; k < %s; k++)\n%.*sif (%s[%s] > mx)\n%.*smx = %s[%s];\n", IND(d),
	        bound, IND(d + 1), xb, xi, IND(d + 2), xb, xi);
	/* a row with every score -inf (masked) has no weight anywhere: 0, and -inf for log_softmax */
	fprintf(o, "%.*sif (mx == -INFINITY)\n%.*smx = 0;\n", IND(d), IND(d + 1));
	fprintf(o, "%.*sdouble se = 0;\n", IND(d));
	if (n->op == OP_SOFTMAX) {
		/* each e^(x - mx) once: kept in the result, then scaled */
		fprintf(o, "%.*sfor (long k = 0; k < %s; k++) {\n%.*s%s v = %s(%s[%s] - mx);\n%.*s%s[%s] = v;\n%.*sse += v;\n"
		           "%.*s}\n", IND(d), bound, IND(d + 1), e->T, fn(e, "exp"), xb, xi, IND(d + 1), dst, xi, IND(d + 1),
		        IND(d));
		fprintf(o, "%.*sdouble inv = se > 0 ? 1 / se : 0;\n%.*sfor (long k = 0; k < %s; k++)\n%.*s%s[%s] = (%s)(%s[%s] * inv);\n",
		        IND(d), IND(d), bound, IND(d + 1), dst, xi, e->T, dst, xi);
	} else {
		fprintf(o, "%.*sfor (long k = 0; k < %s; k++)\n%.*sse += %s(%s[%s] - mx);\n", IND(d), bound, IND(d + 1),
		        fn(e, "exp"), xb, xi);
	}
	if (n->op == OP_LOG_SOFTMAX)
		fprintf(o, "%.*s%s lse = (%s)(se > 0 ? log(se) : 0);\n%.*sfor (long k = 0; k < %lld; k++)\n%.*s%s[%s] = %s[%s] - mx - lse;\n",
		        IND(d), e->T, e->T, IND(d), (long long)A, IND(d + 1), dst, xi, xb, xi);
	if (x->bax == n->i[0])
		fprintf(o, "%.*sfor (long k = %s; k < %lld; k++)\n%.*s%s[%s] = 0;\n", IND(d), bound, (long long)A, IND(d + 1),
		        dst, xi);
	fprintf(o, "%.*s}\n", IND(d - 1));
}

/* rows of a [N, ...] value that hold data */
static const char *rows_of(Emit *e, const Node *x)
{
	return x->bax == 0 ? batch_extent(e, x) : arena_printf(e->a, "%lld", (long long)x->shape.d[0]);
}

/* The cross-entropy family with options (graph_loss_ex): class weights w,
 * an ignored label, label smoothing eps, the sum instead of the mean.  Row
 * r with label y (not ignored) has the target distribution q_c = (1 - eps)
 * w_y [c = y] + eps / C w_c and loses -sum_c q_c log p_c; the mean divides
 * the total by the sum of w_y over the rows that count (PyTorch's weighted
 * mean).  Its gradient is (sum_c q_c) p - q, its Hessian (sum_c q_c) times
 * softmax's Jacobian. */
static void kernel_loss_ex(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	const char *T = e->T;
	OpKind op = (OpKind)n->op;
	const Node *z = NN(e, n->in[0]); /* NLL_GRAD: the labels */
	NodeId yid = op == OP_NLL_GRAD ? n->in[0] : op == OP_XENT_HESS ? n->in[2] : n->in[1];
	const Node *y = NN(e, yid);
	const char *yb = e->s->buf[yid];
	const char *zb = e->s->buf[n->in[0]];
	const char *wb = n->i[3] ? e->s->buf[n->in[n->nin - 1]] : NULL;
	/* classes: the scores' last axis (the losses themselves are scalars) */
	long long C = op == OP_XENT || op == OP_NLL ? (long long)z->shape.d[1]
	                                            : (long long)n->shape.d[n->shape.rank - 1];
	long long R = (long long)y->shape.d[0];
	const char *rows = rows_of(e, y);
	double eps = n->f;
	const char *w_y = wb ? arena_printf(e->a, "(double)%s[yi]", wb) : "1.0";
	const char *w_c = wb ? arena_printf(e->a, "(double)%s[c]", wb) : "1.0";
	const char *skip = n->i[1] ? arena_printf(e->a, "yi == %lld", (long long)n->i[2]) : "0";
	/* the denominator: the weights of the rows that count, or 1 */
	if (n->i[0])
		fprintf(o, "\tdouble den = 1;\n");
	else if (!n->i[1] && !wb)
		fprintf(o, "\tdouble den = (double)%s;\n", rows);
	else
		fprintf(o, "\tdouble den = 0;\n\tfor (long r = 0; r < %s; r++) {\n\t\tint yi = %s[r];\n\t\tif (!(%s))\n"
		           "\t\t\tden += %s;\n\t}\n", rows, yb, skip, w_y);
	if (op == OP_XENT || op == OP_NLL) {
		fprintf(o, "\tdouble total = 0;\n\tfor (long r = 0; r < %s; r++) {\n\t\tint yi = %s[r];\n\t\tif (%s)\n"
		           "\t\t\tcontinue;\n", rows, yb, skip);
		if (op == OP_XENT) {
			fprintf(o, "\t\tdouble mx = -INFINITY, se = 0;\n\t\tfor (long c = 0; c < %lld; c++)\n"
			           "\t\t\tif (%s[r * %lld + c] > mx)\n\t\t\t\tmx = %s[r * %lld + c];\n", C, zb, C, zb, C);
			fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tse += exp(%s[r * %lld + c] - mx);\n", C, zb, C);
			fprintf(o, "\t\tdouble lse = mx + log(se);\n");
		} else {
			fprintf(o, "\t\tdouble lse = 0;\n");
		}
		fprintf(o, "\t\ttotal += %s * %s * (lse - %s[r * %lld + yi]);\n", lit(e, 1 - eps), w_y, zb, C);
		if (eps != 0) {
			fprintf(o, "\t\tdouble sm = 0;\n\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tsm += %s * (lse - %s[r * %lld + c]);\n",
			        C, w_c, zb, C);
			fprintf(o, "\t\ttotal += %s * sm;\n", lit(e, eps / (double)C));
		}
		fprintf(o, "\t}\n\t%s[0] = (%s)(total / den);\n", dst, T);
		return;
	}
	if (op == OP_NLL_GRAD) {
		fprintf(o, "\tfor (long i = 0; i < %lld; i++)\n\t\t%s[i] = 0;\n", R * C, dst);
		fprintf(o, "\tfor (long r = 0; r < %s; r++) {\n\t\tint yi = %s[r];\n\t\tif (!(%s))\n"
		           "\t\t\t%s[r * %lld + yi] = (%s)(-%s / den);\n\t}\n", rows, yb, skip, dst, C, T, w_y);
		return;
	}
	/* XENT_GRAD (z, y) and XENT_HESS (z, u, y): per row, Q = sum_c q_c */
	fprintf(o, "\tdouble wsum = 0;\n\tfor (long c = 0; c < %lld; c++)\n\t\twsum += %s;\n", C, w_c);
	fprintf(o, "\tfor (long r = 0; r < %lld; r++) {\n", R);
	if (op == OP_XENT_GRAD || n->i[1] || wb)
		fprintf(o, "\t\tint yi = %s[r];\n", yb);
	fprintf(o, "\t\tif (r >= %s || %s) {\n\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\t%s[r * %lld + c] = 0;\n"
	           "\t\t\tcontinue;\n\t\t}\n", rows, skip, C, dst, C);
	fprintf(o, "\t\tdouble q = %s * %s + %s * wsum;\n", lit(e, 1 - eps), w_y, lit(e, eps / (double)C));
	fprintf(o, "\t\tdouble mx = -INFINITY, se = 0;\n\t\tfor (long c = 0; c < %lld; c++)\n"
	           "\t\t\tif (%s[r * %lld + c] > mx)\n\t\t\t\tmx = %s[r * %lld + c];\n", C, zb, C, zb, C);
	fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tse += exp(%s[r * %lld + c] - mx);\n", C, zb, C);
	if (op == OP_XENT_GRAD) {
		fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t%s[r * %lld + c] = (%s)((q * (exp(%s[r * %lld + c] - mx) / se)"
		           " - %s * %s) / den);\n", C, dst, C, T, zb, C, lit(e, eps / (double)C), w_c);
		fprintf(o, "\t\t%s[r * %lld + yi] -= (%s)(%s * %s / den);\n\t}\n", dst, C, T, lit(e, 1 - eps), w_y);
		return;
	}
	const char *ub = e->s->buf[n->in[1]];
	fprintf(o, "\t\tdouble up = 0;\n\t\tfor (long c = 0; c < %lld; c++)\n"
	           "\t\t\tup += %s[r * %lld + c] * (exp(%s[r * %lld + c] - mx) / se);\n", C, ub, C, zb, C);
	fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t%s[r * %lld + c] = (%s)(q * exp(%s[r * %lld + c] - mx) / se * "
	           "(%s[r * %lld + c] - up) / den);\n\t}\n", C, dst, C, T, zb, C, ub, C);
}

static void kernel_loss(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	const Node *z = NN(e, n->in[0]);
	const char *zb = e->s->buf[n->in[0]];
	const char *T = e->T;
	if ((n->op == OP_XENT || n->op == OP_XENT_GRAD || n->op == OP_XENT_HESS || n->op == OP_NLL ||
	     n->op == OP_NLL_GRAD) && (n->i[0] || n->i[1] || n->i[3] || n->f != 0)) {
		kernel_loss_ex(e, id, dst);
		return;
	}
	switch ((OpKind)n->op) {
	case OP_XENT:
	case OP_XENT_GRAD: {
		const char *yb = e->s->buf[n->in[1]];
		long long C = (long long)z->shape.d[1], R = (long long)z->shape.d[0];
		const char *rows = rows_of(e, z);
		if (n->op == OP_XENT)
			fprintf(o, "\tdouble total = 0;\n\tfor (long r = 0; r < %s; r++) {\n", rows);
		else
			fprintf(o, "\tdouble inv = 1.0 / %s;\n\tfor (long r = 0; r < %lld; r++) {\n", rows, R);
		if (n->op == OP_XENT_GRAD && z->bax == 0)
			fprintf(o, "\t\tif (r >= %s) {\n\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\t%s[r * %lld + c] = 0;\n"
			           "\t\t\tcontinue;\n\t\t}\n", rows, C, dst, C);
		fprintf(o, "\t\t%s mx = -INFINITY;\n\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tif (%s[r * %lld + c] > mx)\n"
		           "\t\t\t\tmx = %s[r * %lld + c];\n", T, C, zb, C, zb, C);
		fprintf(o, "\t\tdouble se = 0;\n\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tse += %s(%s[r * %lld + c] - mx);\n",
		        C, fn(e, "exp"), zb, C);
		if (n->op == OP_XENT) {
			fprintf(o, "\t\ttotal += mx + log(se) - %s[r * %lld + %s[r]];\n\t}\n", zb, C, yb);
			fprintf(o, "\t%s[0] = (%s)(total / %s);\n", dst, T, rows);
		} else {
			fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t%s[r * %lld + c] = (%s)(%s(%s[r * %lld + c] - mx) / se * inv);\n",
			        C, dst, C, T, fn(e, "exp"), zb, C);
			fprintf(o, "\t\t%s[r * %lld + %s[r]] -= (%s)inv;\n\t}\n", dst, C, yb, T);
		}
		return;
	}
	case OP_XENT_HESS: {
		/* the product of softmax's Jacobian with u, per row, over n */
		const char *ub = e->s->buf[n->in[1]];
		long long C = (long long)z->shape.d[1], R = (long long)z->shape.d[0];
		const char *rows = rows_of(e, z);
		fprintf(o, "\tdouble inv = 1.0 / %s;\n\tfor (long r = 0; r < %lld; r++) {\n", rows, R);
		if (z->bax == 0)
			fprintf(o, "\t\tif (r >= %s) {\n\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\t%s[r * %lld + c] = 0;\n"
			           "\t\t\tcontinue;\n\t\t}\n", rows, C, dst, C);
		fprintf(o, "\t\tdouble mx = -INFINITY, se = 0, up = 0;\n\t\tfor (long c = 0; c < %lld; c++)\n"
		           "\t\t\tif (%s[r * %lld + c] > mx)\n\t\t\t\tmx = %s[r * %lld + c];\n", C, zb, C, zb, C);
		fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tse += exp(%s[r * %lld + c] - mx);\n", C, zb, C);
		fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tup += %s[r * %lld + c] * (exp(%s[r * %lld + c] - mx) / se);\n",
		        C, ub, C, zb, C);
		fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t%s[r * %lld + c] = (%s)(exp(%s[r * %lld + c] - mx) / se * "
		           "(%s[r * %lld + c] - up) * inv);\n\t}\n", C, dst, C, T, zb, C, ub, C);
		return;
	}
	case OP_BCE_HESS: {
		const char *ub = e->s->buf[n->in[1]];
		long long R = z->shape.rank ? (long long)z->shape.d[0] : 1;
		long long per = (long long)(shape_numel(z->shape) / (R ? R : 1));
		const char *rows = z->bax == 0 ? batch_extent(e, z) : arena_printf(e->a, "%lld", R);
		if (n->i[0])
			fprintf(o, "\tdouble count = 1;\n");
		else
			fprintf(o, "\tdouble count = (double)%s * %lld;\n", rows, per);
		fprintf(o, "\tfor (long i = 0; i < %lld; i++) {\n\t\tdouble sg = 1 / (1 + exp(-(double)%s[i]));\n", R * per, zb);
		fprintf(o, "\t\t%s[i] = i < %s * %lld ? (%s)(sg * (1 - sg) * %s[i] / count) : 0;\n\t}\n", dst, rows, per, T, ub);
		return;
	}
	case OP_NLL: {
		const char *yb = e->s->buf[n->in[1]];
		long long C = (long long)z->shape.d[1];
		const char *rows = rows_of(e, z);
		fprintf(o, "\tdouble total = 0;\n\tfor (long r = 0; r < %s; r++)\n\t\ttotal -= %s[r * %lld + %s[r]];\n", rows,
		        zb, C, yb);
		fprintf(o, "\t%s[0] = (%s)(total / %s);\n", dst, T, rows);
		return;
	}
	case OP_NLL_GRAD: {
		const Node *y = z; /* in[0] is the labels */
		long long C = (long long)n->shape.d[1], R = (long long)n->shape.d[0];
		const char *yb = e->s->buf[n->in[0]];
		fprintf(o, "\tfor (long i = 0; i < %lld; i++)\n\t\t%s[i] = 0;\n", R * C, dst);
		fprintf(o, "\tfor (long r = 0; r < %s; r++)\n\t\t%s[r * %lld + %s[r]] = (%s)(-1.0 / %s);\n", rows_of(e, y),
		        dst, C, yb, T, rows_of(e, y));
		return;
	}
	case OP_BCE:
	case OP_BCE_GRAD: {
		const char *tb = e->s->buf[n->in[1]];
		long long R = z->shape.rank ? (long long)z->shape.d[0] : 1;
		long long per = (long long)(shape_numel(z->shape) / (R ? R : 1));
		const char *rows = z->bax == 0 ? batch_extent(e, z) : arena_printf(e->a, "%lld", R);
		if (n->i[0])
			fprintf(o, "\tdouble count = 1;\n");
		else
			fprintf(o, "\tdouble count = (double)%s * %lld;\n", rows, per);
		if (n->op == OP_BCE) {
			fprintf(o, "\tdouble total = 0;\n\tfor (long i = 0; i < %s * %lld; i++) {\n", rows, per);
			fprintf(o, "\t\tdouble za = %s[i], tb = %s[i];\n", zb, tb);
			fprintf(o, "\t\ttotal += (za > 0 ? za : 0) - za * tb + log1p(exp(-fabs(za)));\n\t}\n");
			fprintf(o, "\t%s[0] = (%s)(total / count);\n", dst, T);
		} else {
			fprintf(o, "\tfor (long i = 0; i < %lld; i++) {\n", R * per);
			fprintf(o, "\t\tdouble za = %s[i], tb = %s[i];\n", zb, tb);
			fprintf(o, "\t\t%s[i] = i < %s * %lld ? (%s)((1 / (1 + exp(-za)) - tb) / count) : 0;\n\t}\n", dst, rows,
			        per, T);
		}
		return;
	}
	default:
		break;
	}
	DLC_INTERNAL("not a loss: %s", op_info[n->op].name);
}


/* ---- convolution and pooling (NCHW) ---- */

/* weights for the forward tiles: per group and block of 6 output channels,
 * 6 per tap (zero past the group's channels) */
static void conv_pack_fwd(Emit *e, const ConvDims *c, const char *kb)
{
	FILE *o = e->o;
	long long nblk = (c->Cog + 5) / 6;
	fprintf(o, "\tfor (long co = 0; co < %lld; co++)\n", c->Co);
	fprintf(o, "\t\tfor (long t0 = 0; t0 < %lld; t0++)\n", c->T);
	fprintf(o, "\t\t\tdlc_cw[((co / %lld * %lld + co %% %lld / 6) * %lld + t0) * 6 + co %% %lld %% 6] = %s[co * %lld + t0];\n",
	        c->Cog, nblk, c->Cog, c->T, c->Cog, kb, c->T);
	if (c->Cog % 6)
		fprintf(o, "\tfor (long g = 0; g < %lld; g++)\n\t\tfor (long t0 = 0; t0 < %lld; t0++)\n"
		           "\t\t\tfor (long r = %lld; r < 6; r++)\n\t\t\t\tdlc_cw[((g * %lld + %lld) * %lld + t0) * 6 + r] = 0;\n",
		        c->G, c->T, c->Cog % 6, nblk, nblk - 1, c->T);
}

/* the loops over the groups and blocks of 6 output channels (co: the first
 * channel of the block, mr: how many) */
static void conv_blocks_open(Emit *e, const ConvDims *c, long long per_group, int d)
{
	FILE *o = e->o;
	long long nblk = (per_group + 5) / 6;
	fprintf(o, "%.*sfor (long g = 0; g < %lld; g++)\n", IND(d), c->G);
	fprintf(o, "%.*sfor (long blk = 0; blk < %lld; blk++) {\n", IND(d + 1), nblk);
	fprintf(o, "%.*slong co = g * %lld + blk * 6, mr = %lld - blk * 6 < 6 ? %lld - blk * 6 : 6;\n", IND(d + 2),
	        per_group, per_group, per_group);
}

/* The pieces of a convolution kernel that run in parallel print `decl`
 * first: the local names (pointers into the scratch, bounds) that the
 * kernel and its parts share. */

/* dlc_pad of the rows x C planes of x into dst, over the planes */
static void conv_pad(Emit *e, const char *xb, const ConvDims *c, const char *dstp, const char *decl)
{
	long long plane = c->HP * c->WP;
	if (c->N * c->C * plane >= PAR_MIN_WORK && c->N * c->C > 1) {
		par_begin(e, arena_printf(e->a, "%s * %lld", c->rows, c->C), 1, "planes of the padded copy");
		fprintf(e->o, "%s\tdlc_pad(%s + lo * %lld, 1, hi - lo, %lld, %lld, %lld, %lld, %lld, %lld, %s + lo * %lld);\n", decl,
		        xb, c->H * c->W, c->H, c->W, c->WP, c->PT, c->PL, plane, dstp, plane);
		par_end(e);
		return;
	}
	fprintf(e->o, "\tdlc_pad(%s, %s, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %s);\n", xb, c->rows, c->C, c->H, c->W,
	        c->WP, c->PT, c->PL, plane, dstp);
}

/* dlc_to_bi of C channels of H x W (padded to HP x WP) into xt; in
 * parallel over ranges of examples (columns of the copy), so each thread
 * reads the examples the kernels before it wrote */
static void conv_to_bi(Emit *e, const char *xb, const char *rows, long long C, long long H, long long W, long long HP,
                       long long WP, long long PT, long long PL, long long NB, const char *xt, const char *decl)
{
	if (C * HP * WP * NB >= PAR_MIN_WORK && NB > 16) {
		par_begin(e, "ncol", 16, "examples (columns) of the batch-inner copy");
		fprintf(e->o, "%s\tlong ne = (hi < %s ? hi : %s) - lo;\n", decl, rows, rows);
		fprintf(e->o, "\tdlc_to_bi(%s + lo * %lld, %lld, ne > 0 ? ne : 0, hi - lo, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %s + lo);\n",
		        xb, C * H * W, C * H * W, C, H, W, HP, WP, PT, PL, NB, xt);
		par_end(e);
		return;
	}
	fprintf(e->o, "\tdlc_to_bi(%s, %lld, %s, ncol, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %s);\n", xb, C * H * W,
	        rows, C, H, W, HP, WP, PT, PL, NB, xt);
}

/* The fused consumer of a rank-4 value (a convolution's, a max-pooling
 * gradient's), applied in place to planes [p0, p1) of it once they are
 * whole (C expressions). */
static void plane_epilogue(Emit *e, NodeId id, const char *dst, const char *p0, const char *p1, int d)
{
	NodeId c = e->s->epi[id];
	if (!c)
		return;
	const Node *cn = NN(e, c);
	FILE *o = e->o;
	long long C = cn->shape.d[1], H = cn->shape.d[2], W = cn->shape.d[3];
	int ncg = e->ncg, stamp = e->kstamp;
	e->ncg = 0;
	e->kstamp = ++e->stamp_max; /* its inlined values are defined in this loop */
	fprintf(o, "%.*s/* epilogue: %s */\n", IND(d), desc_node(e, c));
	fprintf(o, "%.*sfor (long pe = %s; pe < %s; pe++)\n", IND(d), p0, p1);
	fprintf(o, "%.*sfor (long i0 = pe / %lld, i1 = pe %% %lld, i2 = 0; i2 < %lld; i2++)\n", IND(d + 1), C, C, H);
	fprintf(o, "%.*sfor (long i3 = 0; i3 < %lld; i3++) {\n", IND(d + 2), W);
	fprintf(o, "%.*s(void)i0;\n%.*s(void)i1;\n", IND(d + 3), IND(d + 3));
	epilogue_body(e, c, dst, d + 3);
	fprintf(o, "%.*s}\n", IND(d + 2));
	e->ncg = ncg;
	e->kstamp = stamp;
}

/* dlc_from_bi of F features of a batch-inner array into dst; in parallel
 * over ranges of examples, so each thread writes the examples the kernels
 * after it read.  When node id (a convolution of C output channels) has a
 * fused consumer: that consumer on each range of examples as it arrives,
 * then on the examples from zero_to up to N. */
static void conv_from_bi(Emit *e, const char *yt, const char *rows, const char *zero_to, long long F, long long NB,
                         const char *dst, const char *decl, NodeId id, long long C, long long N)
{
	if (F * NB >= PAR_MIN_WORK && NB > 16) {
		par_begin(e, zero_to, 16, "examples, back to the batch-outer layout");
		fprintf(e->o, "%s\tlong ne = (hi < %s ? hi : %s) - lo;\n", decl, rows, rows);
		fprintf(e->o, "\tdlc_from_bi(%s + lo, ne > 0 ? ne : 0, hi - lo, %lld, %lld, %s + lo * %lld, %lld);\n", yt, F, NB, dst,
		        F, F);
		plane_epilogue(e, id, dst, arena_printf(e->a, "lo * %lld", C), arena_printf(e->a, "hi * %lld", C), 1);
		par_end(e);
	} else {
		fprintf(e->o, "\tdlc_from_bi(%s, %s, %s, %lld, %lld, %s, %lld);\n", yt, rows, zero_to, F, NB, dst, F);
		plane_epilogue(e, id, dst, "0", arena_printf(e->a, "%s * %lld", zero_to, C), 1);
	}
	if (e->s->epi[id] && strcmp(zero_to, arena_printf(e->a, "%lld", N)))
		plane_epilogue(e, id, dst, arena_printf(e->a, "%s * %lld", zero_to, C), arena_printf(e->a, "%lld", N * C), 1);
}

/* The loop over the items of a convolution's main work: a parallel part
 * when there is enough of it (returns 1; the caller closes it with
 * par_end), else a serial loop in the kernel; `extra`: declarations only
 * the loop needs.  Opens "for (long u ...) {". */
static int conv_items(Emit *e, const char *count, long long work, const char *what, const char *decl, const char *extra)
{
	if (work >= PAR_MIN_WORK) {
		par_begin(e, count, 1, what);
		fprintf(e->o, "%s%s\tfor (long u = lo; u < hi; u++) {\n", decl, extra);
		return 1;
	}
	fprintf(e->o, "%s\tfor (long u = 0; u < %s; u++) {\n", extra, count);
	return 0;
}

/* Print, at depth d inside a loop over the planes or channels, the taps of
 * a depthwise convolution (one filter per channel) and for each the output
 * rows and columns whose input lies inside the image (no padding is read):
 * ih = oh sh + i dh - ph, iw = ow sw + x0 with x0 = j dw - pw.  `body` is
 * the innermost statement, in oh, ow, ih, x0 and, where kp names the
 * filters, k (the tap's weight). */
static void dw_taps(Emit *e, int d, const ConvDims *c, const Window *w, const char *kp, const char *body)
{
	FILE *o = e->o;
	fprintf(o, "%.*sfor (long i = 0; i < %lld; i++)\n%.*sfor (long j = 0; j < %lld; j++) {\n", IND(d), c->kh, IND(d + 1),
	        c->kw);
	if (kp)
		fprintf(o, "%.*sconst %s k = %s[i * %lld + j];\n", IND(d + 2), e->T, kp, c->kw);
	fprintf(o, "%.*slong x0 = j * %lld - %lld, lo = x0 >= 0 ? 0 : (-x0 + %lld) / %lld;\n", IND(d + 2),
	        (long long)w->dw, (long long)w->pw, (long long)w->sw - 1, (long long)w->sw);
	fprintf(o, "%.*slong hi = x0 > %lld ? 0 : (%lld - x0) / %lld + 1;\n%.*sif (hi > %lld)\n%.*shi = %lld;\n", IND(d + 2),
	        c->W - 1, c->W - 1, (long long)w->sw, IND(d + 2), c->OW, IND(d + 3), c->OW);
	fprintf(o, "%.*sfor (long oh = 0; oh < %lld; oh++) {\n", IND(d + 2), c->OH);
	fprintf(o, "%.*slong ih = oh * %lld + i * %lld - %lld;\n%.*sif (ih < 0 || ih >= %lld)\n%.*scontinue;\n", IND(d + 3),
	        (long long)w->sh, (long long)w->dh, (long long)w->ph, IND(d + 3), c->H, IND(d + 4));
	fprintf(o, "%.*sfor (long ow = lo; ow < hi; ow++)\n%.*s%s\n%.*s}\n%.*s}\n", IND(d + 3), IND(d + 4), body, IND(d + 2),
	        IND(d + 1));
}

/* A depthwise convolution (groups = channels, one filter each) and its
 * gradients, as plain loops over each channel's plane: the general kernels'
 * tiles of 6 output channels would hold one.  The forward and the input
 * gradient run a plane (an example's channel) per item, the weight gradient
 * a channel per item, summing its examples in order into a row of partial
 * sums per tap: the same arithmetic on any number of threads. */
static void kernel_conv_depthwise(Emit *e, NodeId id, const char *dst, const ConvDims *c, const Window *w)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	long long C = c->C, HW = c->H * c->W, P = c->OH * c->OW, KK = c->kh * c->kw;
	long long work = c->N * C * P * KK;
	const char *a = e->s->buf[n->in[0]], *b = e->s->buf[n->in[1]];
	fprintf(o, "\t/* depthwise: x [%lld, %lld, %lld, %lld], one %lldx%lld filter per channel, y [%lld, %lld, %lld, %lld]; "
	           "stride %lldx%lld, padding %lldx%lld, dilation %lldx%lld */\n", c->N, C, c->H, c->W, c->kh, c->kw, c->N, C,
	        c->OH, c->OW, (long long)w->sh, (long long)w->sw, (long long)w->ph, (long long)w->pw, (long long)w->dh,
	        (long long)w->dw);
	if (n->op == OP_CONV2D_DW) {
		const char *count = arena_printf(e->a, "%lld", C);
		int par = work >= PAR_MIN_WORK && C > 1;
		if (par)
			par_begin(e, count, 1, "channels");
		o = e->o;
		fprintf(o, "\tfor (long c = %s; c < %s; c++) {\n", par ? "lo" : "0", par ? "hi" : count);
		fprintf(o, "\t\t%s part[%lld][%lld];\n\t\tfor (long t = 0; t < %lld; t++)\n\t\t\tfor (long ow = 0; ow < %lld; ow++)\n"
		           "\t\t\t\tpart[t][ow] = 0;\n", e->T, KK, c->OW, KK, c->OW);
		fprintf(o, "\t\tfor (long nb = 0; nb < %s; nb++) {\n", c->rows);
		fprintf(o, "\t\t\tconst %s *xp = %s + (nb * %lld + c) * %lld, *gp = %s + (nb * %lld + c) * %lld;\n", e->T, a, C,
		        HW, b, C, P);
		dw_taps(e, 3, c, w, NULL, arena_printf(e->a, "part[i * %lld + j][ow] += gp[oh * %lld + ow] * xp[ih * %lld + x0 + "
		                                            "ow * %lld];", c->kw, c->OW, c->W, (long long)w->sw));
		fprintf(o, "\t\t}\n\t\tfor (long t = 0; t < %lld; t++) {\n\t\t\tdouble sum = 0;\n", KK);
		fprintf(o, "\t\t\tfor (long ow = 0; ow < %lld; ow++)\n\t\t\t\tsum += part[t][ow];\n", c->OW);
		fprintf(o, "\t\t\t%s[c * %lld + t] = (%s)sum;\n\t\t}\n\t}\n", dst, KK, e->T);
		if (par)
			par_end(e);
		return;
	}
	/* a plane per item: the forward gathers, the input gradient scatters */
	int fwd = n->op == OP_CONV2D;
	long long out_plane = fwd ? P : HW, total = c->N * C;
	const char *count = arena_printf(e->a, "%s * %lld", c->rows, C);
	fprintf(o, "\tfor (long q = %s * %lld; q < %lld; q++) /* past the batch's rows */\n\t\t%s[q] = 0;\n", count, out_plane,
	        total * out_plane, dst);
	int par = work >= PAR_MIN_WORK && total > 1;
	if (par)
		par_begin(e, count, 1, "planes");
	o = e->o;
	fprintf(o, "\tfor (long u = %s; u < %s; u++) {\n", par ? "lo" : "0", par ? "hi" : count);
	fprintf(o, "\t\tconst %s *ip = %s + u * %lld, *kp = %s + u %% %lld * %lld;\n\t\t%s *op = %s + u * %lld;\n", e->T, a,
	        fwd ? HW : P, b, C, KK, e->T, dst, out_plane);
	fprintf(o, "\t\tfor (long q = 0; q < %lld; q++)\n\t\t\top[q] = 0;\n", out_plane);
	if (fwd)
		dw_taps(e, 2, c, w, "kp", arena_printf(e->a, "op[oh * %lld + ow] += k * ip[ih * %lld + x0 + ow * %lld];", c->OW, c->W,
		                                     (long long)w->sw));
	else
		dw_taps(e, 2, c, w, "kp", arena_printf(e->a, "op[ih * %lld + x0 + ow * %lld] += k * ip[oh * %lld + ow];", c->W,
		                                     (long long)w->sw, c->OW));
	fprintf(o, "\t}\n");
	if (par)
		par_end(e);
}

static void kernel_conv(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	Window w = graph_window(e->g, id);
	ConvDims c = sched_conv_dims(e->s, id);
	if (sched_conv_depthwise(&c)) {
		kernel_conv_depthwise(e, id, dst, &c, &w);
		return;
	}
	long long NB = c.NB, KK = c.kh * c.kw, P = c.OH * c.OW;
	long long sh = w.sh, sw = w.sw, dh = w.dh, dw = w.dw;
	long long work = c.N * c.Co * P * c.T; /* multiply-adds */
	fprintf(o, "\t/* x [%lld, %lld, %lld, %lld], kernel [%lld, %lld, %lld, %lld], y [%lld, %lld, %lld, %lld];"
	           " stride %lldx%lld, padding %lldx%lld, dilation %lldx%lld, %lld group%s */\n",
	        c.N, c.C, c.H, c.W, c.Co, c.Cg, c.kh, c.kw, c.N, c.Co, c.OH, c.OW, sh, sw, (long long)w.ph,
	        (long long)w.pw, dh, dw, (long long)w.groups, w.groups == 1 ? "" : "s");
	int padded = w.ph || w.pw || c.HP > c.H || c.WP > c.W;
	if (n->op == OP_CONV2D && c.row) {
		/* along output rows: positions (oh, first column) of whole vectors */
		const char *xb = e->s->buf[n->in[0]];
		long long nblk = (c.Cog + 5) / 6;
		const char *decl = arena_printf(e->a, "\tlong nvr = (%lld + DLC_VL - 1) / DLC_VL, npos = %lld * nvr;\n\t(void)npos;\n",
		                                c.OW, c.OH);
		fprintf(o, "\t/* tiles along the output rows, an example at a time */\n%s", decl);
		if (padded) {
			conv_pad(e, xb, &c, "dlc_cs", "");
			xb = "dlc_cs";
		}
		long long hp = padded ? c.HP : c.H, wp = padded ? c.WP : c.W;
		conv_pack_fwd(e, &c, e->s->buf[n->in[1]]);
		int par = conv_items(e, c.rows, work, "examples", decl, "");
		o = e->o;
		fprintf(o, "\t\tlong nb = u;\n");
		conv_blocks_open(e, &c, c.Cog, 2);
		fprintf(o, "\t\t\t\tfor (long p = 0; p < npos; p += DLC_NV) {\n");
		fprintf(o, "\t\t\t\t\tlong xo[DLC_NV], yo[DLC_NV], nt = npos - p < DLC_NV ? npos - p : DLC_NV;\n");
		fprintf(o, "\t\t\t\t\tfor (long v = 0; v < DLC_NV; v++) {\n");
		fprintf(o, "\t\t\t\t\t\tlong q = p + (v < nt ? v : nt - 1), oh = q / nvr, ow = q %% nvr * DLC_VL;\n");
		fprintf(o, "\t\t\t\t\t\tif (ow > %lld - DLC_VL)\n\t\t\t\t\t\t\tow = %lld - DLC_VL;\n", c.OW, c.OW);
		fprintf(o, "\t\t\t\t\t\txo[v] = oh * %lld + ow;\n\t\t\t\t\t\tyo[v] = oh * %lld + ow;\n\t\t\t\t\t}\n", sh * wp, c.OW);
		fprintf(o, "\t\t\t\t\tdlc_cukr(%lld, %lld, %lld, %s + (nb * %lld + g * %lld) * %lld, %lld, %lld, %lld, xo,\n",
		        c.Cg, c.kh, c.kw, xb, c.C, c.Cg, hp * wp, hp * wp, dh * wp, dw);
		fprintf(o, "\t\t\t\t\t         dlc_cw + (g * %lld + blk) * %lld, %lld, %lld, 6, %s + (nb * %lld + co) * %lld, %lld, yo, "
		           "mr, nt);\n", nblk, c.T * 6, KK * 6, c.kw * 6, dst, c.Co, P, P);
		fprintf(o, "\t\t\t\t}\n\t\t\t}\n");
		/* the fused consumer (bias, activation) on the example's planes */
		plane_epilogue(e, id, dst, arena_printf(e->a, "nb * %lld", c.Co), arena_printf(e->a, "(nb + 1) * %lld", c.Co), 2);
		fprintf(o, "\t}\n");
		if (par)
			par_end(e);
		/* and on the rows past the batch's, as the consumer's own kernel would */
		if (e->s->epi[id] && strcmp(c.rows, arena_printf(e->a, "%lld", c.N)))
			plane_epilogue(e, id, dst, arena_printf(e->a, "%s * %lld", c.rows, c.Co), arena_printf(e->a, "%lld", c.N * c.Co), 1);
		return;
	}
	if (n->op == OP_CONV2D_DW && c.row) {
		/* summed along the output rows, one example at a time (its operands
		 * stay in cache) into vector partial sums; the last vector of a row
		 * overlaps the one before it, its repeated lanes masked off.  The
		 * examples are summed in a fixed number of chunks, each into partial
		 * sums of its own, added in chunk order at the end: the chunks run in
		 * parallel, the same sums whatever the number of threads. */
		const char *xb = e->s->buf[n->in[0]], *yb = e->s->buf[n->in[1]];
		long long nblk = (c.Cog + 5) / 6, wp = c.WP, plane = c.HP * wp, nch = c.N < DW_CHUNKS ? c.N : DW_CHUNKS;
		const char *decl;
		if (padded)
			decl = arena_printf(e->a, "\tdlc_t *xt = dlc_cs, *part = dlc_cs + %s * %lld;\n", c.rows, c.C * plane);
		else {
			wp = c.W;
			plane = c.H * c.W;
			decl = arena_printf(e->a, "\tconst dlc_t *xt = %s;\n\tdlc_t *part = dlc_cs;\n", xb);
		}
		decl = arena_printf(e->a, "%s\tlong ntile = (%lld + DLC_NV - 1) / DLC_NV, ntt = %lld * ntile; /* tiles */\n"
		                          "\t(void)xt;\n\t(void)part;\n\t(void)ntt;\n", decl, c.T, c.G * nblk);
		fprintf(o, "\t/* sums along the output rows, an example at a time, in %lld chunks of examples */\n%s", nch, decl);
		if (padded)
			conv_pad(e, xb, &c, "xt", decl);
		const char *count = arena_printf(e->a, "%lld", nch);
		int par = work >= PAR_MIN_WORK && nch > 1;
		if (par) {
			par_begin(e, count, 1, "chunks of examples");
			fprintf(e->o, "%s", decl);
		}
		o = e->o;
		fprintf(o, "\tfor (long ch = %s; ch < %s; ch++) {\n", par ? "lo" : "0", par ? "hi" : count);
		fprintf(o, "\t\tlong b0 = ch * %lld / %lld, b1 = (ch + 1) * %lld / %lld;\n", c.N, nch, c.N, nch);
		fprintf(o, "\t\tif (b1 > %s)\n\t\t\tb1 = %s;\n", c.rows, c.rows);
		fprintf(o, "\t\tfor (long nb = b0; nb < b1; nb++)\n");
		fprintf(o, "\t\t\tfor (long u = 0; u < ntt; u++) {\n");
		fprintf(o, "\t\t\t\tlong g = u / (%lld * ntile), blk = u / ntile %% %lld, t0 = u %% ntile * DLC_NV;\n", nblk, nblk);
		fprintf(o, "\t\t\t\tlong co = g * %lld + blk * 6, mr = %lld - blk * 6 < 6 ? %lld - blk * 6 : 6;\n", c.Cog, c.Cog,
		        c.Cog);
		fprintf(o, "\t\t\t\tlong nt = %lld - t0 < DLC_NV ? %lld - t0 : DLC_NV, toff[DLC_NV] = {0};\n", c.T, c.T);
		fprintf(o, "\t\t\t\tdlc_t *ps = part + (ch * ntt + u) * DLC_MR * DLC_NR;\n");
		fprintf(o, "\t\t\t\tfor (long t = 0; t < nt; t++)\n");
		fprintf(o, "\t\t\t\t\ttoff[t] = nb * %lld + ((g * %lld + (t0 + t) / %lld) * %lld + (t0 + t) / %lld %% %lld * %lld) * "
		           "%lld + (t0 + t) %% %lld * %lld;\n", c.C * plane, c.Cg, KK, padded ? c.HP : c.H, c.kw, c.kh, dh, wp,
		        c.kw, dw);
		fprintf(o, "\t\t\t\tdlc_wukr(%lld, %lld, %lld, 1, 0, 0, %lld / DLC_VL, xt, toff, %s + (nb * %lld + co) * %lld, %lld, mr, "
		           "nt, NULL, 0, ps, nb == b0, 0);\n", c.OH, sh * wp, c.OW, c.OW, yb, c.Co, P, P);
		fprintf(o, "\t\t\t\tif (%lld %% DLC_VL)\n", c.OW);
		fprintf(o, "\t\t\t\t\tdlc_wukr(%lld, %lld, %lld, 1, 0, 0, 1, xt + %lld - DLC_VL, toff, %s + (nb * %lld + co) * %lld + %lld - "
		           "DLC_VL, %lld,\n", c.OH, sh * wp, c.OW, c.OW, yb, c.Co, P, c.OW, P);
		fprintf(o, "\t\t\t\t\t         mr, nt, NULL, 0, ps, 0, DLC_VL - %lld %% DLC_VL);\n", c.OW);
		fprintf(o, "\t\t\t}\n\t}\n");
		if (par)
			par_end(e);
		o = e->o;
		/* the chunks that hold examples, in order; then the lanes */
		conv_blocks_open(e, &c, c.Cog, 1);
		fprintf(o, "\t\t\tfor (long r = 0; r < mr; r++)\n\t\t\t\tfor (long t = 0; t < %lld; t++) {\n", c.T);
		fprintf(o, "\t\t\t\t\tconst dlc_t *p0 = part + ((g * %lld + blk) * ntile + t / DLC_NV) * DLC_MR * DLC_NR + "
		           "(r * DLC_NV + t %% DLC_NV) * DLC_VL;\n", nblk);
		fprintf(o, "\t\t\t\t\tdlc_v acc = dlc_ld(p0);\n");
		fprintf(o, "\t\t\t\t\tfor (long ch = 1; ch < %lld && ch * %lld / %lld < %s; ch++)\n", nch, c.N, nch, c.rows);
		fprintf(o, "\t\t\t\t\t\tacc += dlc_ld(p0 + ch * ntt * DLC_MR * DLC_NR);\n");
		fprintf(o, "\t\t\t\t\t%s[(co + r) * %lld + t] = dlc_hsum(acc);\n\t\t\t\t}\n", dst, c.T);
		fprintf(o, "\t\t}\n");
		return;
	}
	/* batch-inner */
	const char *decl = arena_printf(e->a, "\tlong ncol = (%s + DLC_NR - 1) / DLC_NR * DLC_NR;\n\t(void)ncol;\n", c.rows);
	const char *xodecl = "\tlong xo[DLC_NV];\n\tfor (long v = 0; v < DLC_NV; v++)\n\t\txo[v] = v * DLC_VL;\n";
	if (n->op == OP_CONV2D) {
		const char *xb = e->s->buf[n->in[0]];
		long long nblk = (c.Cog + 5) / 6, xsz = c.C * c.HP * c.WP * NB;
		int ki = sched_kernel_index(e->s, id);
		if (e->s->conv_keep[ki] & 1)
			decl = arena_printf(e->a, "%s\tdlc_t *xt = dlc_bx%d, *yt = dlc_cs; /* the input's copy stays for its weight gradient */\n",
			                    decl, ki);
		else
			decl = arena_printf(e->a, "%s\tdlc_t *xt = dlc_cs, *yt = dlc_cs + %lld;\n", decl, xsz);
		decl = arena_printf(e->a, "%s\t(void)xt;\n\t(void)yt;\n", decl);
		fprintf(o, "%s", decl);
		conv_to_bi(e, xb, c.rows, c.C, c.H, c.W, c.HP, c.WP, c.PT, c.PL, NB, "xt", decl);
		conv_pack_fwd(e, &c, e->s->buf[n->in[1]]);
		int par = conv_items(e, arena_printf(e->a, "%lld", c.G * nblk * c.OH), work, "rows of output pixels of 6 channels",
		                     decl, xodecl);
		o = e->o;
		fprintf(o, "\t\tlong g = u / %lld, blk = u / %lld %% %lld, oh = u %% %lld;\n", nblk * c.OH, c.OH, nblk, c.OH);
		fprintf(o, "\t\tlong co = g * %lld + blk * 6, mr = %lld - blk * 6 < 6 ? %lld - blk * 6 : 6;\n", c.Cog, c.Cog, c.Cog);
		fprintf(o, "\t\tfor (long ow = 0; ow < %lld; ow++)\n", c.OW);
		fprintf(o, "\t\t\tfor (long col = 0; col < ncol; col += DLC_NR)\n");
		fprintf(o, "\t\t\t\tdlc_cukr(%lld, %lld, %lld, xt + ((g * %lld + oh * %lld) * %lld + ow * %lld) * %lld + col, "
		           "%lld, %lld, %lld, xo,\n", c.Cg, c.kh, c.kw, c.Cg * c.HP, sh, c.WP, sw, NB, c.HP * c.WP * NB,
		        dh * c.WP * NB, dw * NB);
		fprintf(o, "\t\t\t\t         dlc_cw + (g * %lld + blk) * %lld, %lld, %lld, 6, yt + ((co * %lld + oh) * %lld + ow) * %lld + col, "
		           "%lld, xo, mr, DLC_NV);\n", nblk, c.T * 6, KK * 6, c.kw * 6, c.OH, c.OW, NB, P * NB);
		fprintf(o, "\t}\n");
		if (par)
			par_end(e);
		conv_from_bi(e, "yt", c.rows, c.rows, c.Co * P, NB, dst, decl, id, c.Co, c.N);
		return;
	}
	if (n->op == OP_CONV2D_DX) {
		const char *yb = e->s->buf[n->in[0]], *kb = e->s->buf[n->in[1]];
		long long nblk = (c.Cg + 5) / 6, ysz = c.Co * P * NB, Tx = c.Cog * KK;
		/* the taps that reach input row ih: i = i0, i0 + istep, ... */
		long long gh = sh, a = dh, gw = sw, bw = dw;
		while (a) {
			long long t = gh % a;
			gh = a;
			a = t;
		}
		while (bw) {
			long long t = gw % bw;
			gw = bw;
			bw = t;
		}
		long long istep = sh / gh, jstep = sw / gw;
		int ki = sched_kernel_index(e->s, id);
		if (e->s->conv_keep[ki] & 2)
			decl = arena_printf(e->a, "%s\tdlc_t *yt = dlc_by%d, *xt = dlc_cs; /* the copy stays for the weight gradient */\n",
			                    decl, ki);
		else
			decl = arena_printf(e->a, "%s\tdlc_t *yt = dlc_cs, *xt = dlc_cs + %lld;\n", decl, ysz);
		decl = arena_printf(e->a, "%s\t(void)xt;\n\t(void)yt;\n", decl);
		fprintf(o, "%s", decl);
		conv_to_bi(e, yb, c.rows, c.Co, c.OH, c.OW, c.OH, c.OW, 0, 0, NB, "yt", decl);
		/* weights: per group and block of 6 input channels, 6 per tap (co, i, j) */
		fprintf(o, "\tfor (long g = 0; g < %lld; g++)\n", c.G);
		fprintf(o, "\t\tfor (long blk = 0; blk < %lld; blk++)\n", nblk);
		fprintf(o, "\t\t\tfor (long t0 = 0; t0 < %lld; t0++)\n", Tx);
		fprintf(o, "\t\t\t\tfor (long r = 0; r < 6; r++)\n");
		fprintf(o, "\t\t\t\t\tdlc_cw[((g * %lld + blk) * %lld + t0) * 6 + r] = blk * 6 + r < %lld ? "
		           "%s[((g * %lld + t0 / %lld) * %lld + blk * 6 + r) * %lld + t0 %% %lld] : 0;\n",
		        nblk, Tx, c.Cg, kb, c.Cog, KK, c.Cg, KK, KK);
		int par = conv_items(e, arena_printf(e->a, "%lld", c.G * nblk * c.H), work, "input rows of 6 channels", decl,
		                     xodecl);
		o = e->o;
		/* co: here the first input channel of the block */
		fprintf(o, "\t\tlong g = u / %lld, blk = u / %lld %% %lld, ih = u %% %lld;\n", nblk * c.H, c.H, nblk, c.H);
		fprintf(o, "\t\tlong co = g * %lld + blk * 6, mr = %lld - blk * 6 < 6 ? %lld - blk * 6 : 6;\n", c.Cg, c.Cg, c.Cg);
		fprintf(o, "\t\tlong i0 = 0, ni = 0, oh0 = 0;\n");
		fprintf(o, "\t\tfor (long i = 0; i < %lld; i++) {\n", c.kh);
		fprintf(o, "\t\t\tlong t = ih + %lld - i * %lld;\n", (long long)w.ph, dh);
		fprintf(o, "\t\t\tif (t >= 0 && t %% %lld == 0 && t / %lld < %lld) {\n", sh, sh, c.OH);
		fprintf(o, "\t\t\t\tif (!ni++) {\n\t\t\t\t\ti0 = i;\n\t\t\t\t\toh0 = t / %lld;\n\t\t\t\t}\n", sh);
		fprintf(o, "\t\t\t}\n\t\t}\n");
		fprintf(o, "\t\tfor (long iw = 0; iw < %lld; iw++) {\n", c.W);
		fprintf(o, "\t\t\tlong j0 = 0, nj = 0, ow0 = 0;\n");
		fprintf(o, "\t\t\tfor (long j = 0; j < %lld; j++) {\n", c.kw);
		fprintf(o, "\t\t\t\tlong t = iw + %lld - j * %lld;\n", (long long)w.pw, dw);
		fprintf(o, "\t\t\t\tif (t >= 0 && t %% %lld == 0 && t / %lld < %lld) {\n", sw, sw, c.OW);
		fprintf(o, "\t\t\t\t\tif (!nj++) {\n\t\t\t\t\t\tj0 = j;\n\t\t\t\t\t\tow0 = t / %lld;\n\t\t\t\t\t}\n", sw);
		fprintf(o, "\t\t\t\t}\n\t\t\t}\n");
		fprintf(o, "\t\t\tfor (long col = 0; col < ncol; col += DLC_NR)\n");
		fprintf(o, "\t\t\t\tdlc_cukr(%lld, ni, nj, yt + ((g * %lld + oh0) * %lld + ow0) * %lld + col, %lld, %lld, %lld, xo,\n",
		        c.Cog, c.Cog * c.OH, c.OW, NB, P * NB, -(istep * dh / sh) * c.OW * NB, -(jstep * dw / sw) * NB);
		fprintf(o, "\t\t\t\t         dlc_cw + (g * %lld + blk) * %lld + (i0 * %lld + j0) * 6, %lld, %lld, %lld,\n",
		        nblk, Tx * 6, c.kw, KK * 6, istep * c.kw * 6, jstep * 6);
		fprintf(o, "\t\t\t\t         xt + ((co * %lld + ih) * %lld + iw) * %lld + col, %lld, xo, mr, DLC_NV);\n", c.H,
		        c.W, NB, c.H * c.W * NB);
		fprintf(o, "\t\t}\n\t}\n");
		if (par)
			par_end(e);
		conv_from_bi(e, "xt", c.rows, arena_printf(e->a, "%lld", c.N), c.C * c.H * c.W, NB, dst, decl, id, c.C, c.N);
		return;
	}
	/* weight gradient: tiles of 6 output channels x DLC_NV taps, summed over
	 * the output pixels and the batch columns */
	const char *xb = e->s->buf[n->in[0]], *yb = e->s->buf[n->in[1]];
	long long xsz = c.C * c.HP * c.WP * NB, nblk = (c.Cog + 5) / 6;
	int ki = sched_kernel_index(e->s, id), sx = e->s->conv_src[2 * ki], sy = e->s->conv_src[2 * ki + 1];
	if (sx >= 0)
		decl = arena_printf(e->a, "%s\tdlc_t *xt = dlc_bx%d; /* the forward convolution's copy of the input */\n", decl, sx);
	else
		decl = arena_printf(e->a, "%s\tdlc_t *xt = dlc_cs;\n", decl);
	if (sy >= 0)
		decl = arena_printf(e->a, "%s\tdlc_t *yt = dlc_by%d; /* the input gradient's copy of the output gradient */\n", decl,
		                    sy);
	else
		decl = arena_printf(e->a, "%s\tdlc_t *yt = dlc_cs + %lld;\n", decl, sx >= 0 ? 0LL : (long long)xsz);
	decl = arena_printf(e->a, "%s\t(void)xt;\n\t(void)yt;\n", decl);
	fprintf(o, "%s", decl);
	if (sx < 0)
		conv_to_bi(e, xb, c.rows, c.C, c.H, c.W, c.HP, c.WP, c.PT, c.PL, NB, "xt", decl);
	if (sy < 0)
		conv_to_bi(e, yb, c.rows, c.Co, c.OH, c.OW, c.OH, c.OW, 0, 0, NB, "yt", decl);
	const char *count = arena_printf(e->a, "%lld * ((%lld + DLC_NV - 1) / DLC_NV)", c.G * nblk, c.T);
	int par = conv_items(e, count, work, "tiles of 6 channels x DLC_NV taps", decl, "");
	o = e->o;
	fprintf(o, "\t\tlong ntile = (%lld + DLC_NV - 1) / DLC_NV;\n", c.T);
	fprintf(o, "\t\tlong g = u / (%lld * ntile), blk = u / ntile %% %lld, t0 = u %% ntile * DLC_NV;\n", nblk, nblk);
	fprintf(o, "\t\tlong co = g * %lld + blk * 6, mr = %lld - blk * 6 < 6 ? %lld - blk * 6 : 6;\n", c.Cog, c.Cog, c.Cog);
	fprintf(o, "\t\tlong nt = %lld - t0 < DLC_NV ? %lld - t0 : DLC_NV, toff[DLC_NV] = {0};\n", c.T, c.T);
	fprintf(o, "\t\tfor (long t = 0; t < nt; t++)\n");
	fprintf(o, "\t\t\ttoff[t] = ((g * %lld + (t0 + t) / %lld) * %lld + (t0 + t) / %lld %% %lld * %lld) * %lld + "
	           "(t0 + t) %% %lld * %lld;\n", c.Cg, KK, c.HP, c.kw, c.kh, dh, c.WP * NB, c.kw, dw * NB);
	fprintf(o, "\t\tdlc_wukr(%lld, %lld, %lld, %lld, %lld, %lld, ncol / DLC_VL, xt, toff, yt + co * %lld, %lld, mr, nt, "
	           "%s + co * %lld + t0, %lld, NULL, 0, 0);\n", c.OH, sh * c.WP * NB, c.OW * NB, c.OW, sw * NB, NB, P * NB, P * NB,
	        dst, c.T, c.T);
	fprintf(o, "\t}\n");
	if (par)
		par_end(e);
}

/* Max pooling without padding, windows inside the input: one output row at a
 * time with the window unrolled, written so the compiler vectorizes along the
 * row (the argmax kept as a value of the element type: selects, no branches).
 * Returns 0 when the window does not qualify.  The gradient needs windows
 * that do not overlap (stride = window): each input element then gets its
 * window's gradient or zero, no scatter. */
static int kernel_maxpool_fast(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	Window w = graph_window(e->g, id);
	const char *T = e->T;
	int fwd = n->op == OP_MAXPOOL;
	Shape xs = fwd ? NN(e, n->in[0])->shape : n->shape;
	Shape ys = fwd ? n->shape : NN(e, n->in[1])->shape;
	long long N = xs.d[0], C = xs.d[1], H = xs.d[2], W = xs.d[3], OH = ys.d[2], OW = ys.d[3];
	long long kh = w.kh, kw = w.kw, sh = w.sh, sw = w.sw;
	if (w.ph || w.pw || (OH - 1) * sh + kh > H || (OW - 1) * sw + kw > W || kh * kw > 64)
		return 0;
	if (!fwd && (sh != kh || sw != kw))
		return 0;
	int bax = fwd ? NN(e, n->in[0])->bax : n->bax;
	const char *rows = bax == 0 ? (N == e->g->batch ? "n" : arena_printf(e->a, "(n * %lld)", (long long)(N / e->g->batch)))
	                            : arena_printf(e->a, "%lld", (long long)N);
	const char *xb = e->s->buf[n->in[0]];
	fprintf(o, "\t/* max %lldx%lld window, stride %lldx%lld over [%lld, %lld, %lld, %lld] */\n", kh, kw, sh, sw, N, C, H, W);
	int par = N * C * H * W >= PAR_MIN_WORK && N * C > 1;
	/* the fused consumer of a gradient, on each plane while it is in cache,
	 * when the windows cover the plane */
	int epi_planes = !fwd && e->s->epi[id] && H == OH * kh;
	const char *open = epi_planes ? " {" : "";
	if (par) {
		par_begin(e, arena_printf(e->a, "%s * %lld", rows, C), 1, "planes");
		o = e->o;
		fprintf(o, "\tfor (long p = lo; p < hi; p++)%s\n", open);
	} else
		fprintf(o, "\tfor (long p = 0; p < %s * %lld; p++)%s\n", rows, C, open);
	fprintf(o, "\t\tfor (long oh = 0; oh < %lld; oh++) {\n", OH);
	fprintf(o, "\t\t\tconst %s *xr = %s + (p * %lld + oh * %lld) * %lld;\n", T, xb, H, sh, W);
	if (fwd) {
		fprintf(o, "\t\t\t%s *yr = %s + (p * %lld + oh) * %lld;\n", T, dst, OH, OW);
		fprintf(o, "\t\t\tfor (long ow = 0; ow < %lld; ow++) {\n", OW);
		fprintf(o, "\t\t\t\t%s mx = xr[ow * %lld];\n", T, sw);
		for (long long i = 0; i < kh; i++)
			for (long long j = 0; j < kw; j++)
				if (i || j)
					fprintf(o, "\t\t\t\t{\n\t\t\t\t\t%s val = xr[%lld + ow * %lld];\n\t\t\t\t\tmx = val > mx ? val : mx;\n\t\t\t\t}\n",
					        T, i * W + j, sw);
		fprintf(o, "\t\t\t\tyr[ow] = mx;\n\t\t\t}\n\t\t}\n");
		if (par)
			par_end(e);
		return 1;
	}
	const char *gb = e->s->buf[n->in[1]];
	fprintf(o, "\t\t\t%s *dr = %s + (p * %lld + oh * %lld) * %lld;\n", T, dst, H, sh, W);
	fprintf(o, "\t\t\tconst %s *gr = %s + (p * %lld + oh) * %lld;\n", T, gb, OH, OW);
	fprintf(o, "\t\t\tfor (long ow = 0; ow < %lld; ow++) {\n", OW);
	fprintf(o, "\t\t\t\t%s mx = xr[ow * %lld], at = 0, gs = gr[ow];\n", T, sw);
	for (long long i = 0; i < kh; i++)
		for (long long j = 0; j < kw; j++)
			if (i || j)
				fprintf(o, "\t\t\t\t{\n\t\t\t\t\t%s val = xr[%lld + ow * %lld];\n\t\t\t\t\tat = val > mx ? %s : at;\n"
				           "\t\t\t\t\tmx = val > mx ? val : mx;\n\t\t\t\t}\n", T, i * W + j, sw, lit(e, (double)(i * kw + j)));
	for (long long i = 0; i < kh; i++)
		for (long long j = 0; j < kw; j++)
			fprintf(o, "\t\t\t\tdr[%lld + ow * %lld] = at == %s ? gs : 0;\n", i * W + j, sw, lit(e, (double)(i * kw + j)));
	fprintf(o, "\t\t\t}\n");
	if (W > OW * kw)
		fprintf(o, "\t\t\tfor (long i = 0; i < %lld; i++)\n\t\t\t\tfor (long j = %lld; j < %lld; j++)\n"
		           "\t\t\t\t\tdr[i * %lld + j] = 0;\n", kh, OW * kw, W, W);
	fprintf(o, "\t\t}\n");
	if (epi_planes) {
		plane_epilogue(e, id, dst, "p", "p + 1", 2);
		fprintf(o, "\t}\n");
	}
	if (par)
		par_end(e);
	o = e->o;
	if (H > OH * kh)
		fprintf(o, "\tfor (long p = 0; p < %s * %lld; p++)\n\t\tfor (long i = %lld; i < %lld; i++)\n"
		           "\t\t\t%s[p * %lld + i] = 0;\n", rows, C, OH * kh * W, H * W, dst, H * W);
	if (bax == 0)
		fprintf(o, "\tfor (long i = %s * %lld; i < %lld; i++)\n\t\t%s[i] = 0;\n", rows, C * H * W, N * C * H * W, dst);
	if (!epi_planes)
		plane_epilogue(e, id, dst, "0", arena_printf(e->a, "%lld", N * C), 1);
	else if (bax == 0)
		plane_epilogue(e, id, dst, arena_printf(e->a, "%s * %lld", rows, C), arena_printf(e->a, "%lld", N * C), 1);
	return 1;
}

static void kernel_pool(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	if ((n->op == OP_MAXPOOL || n->op == OP_MAXPOOL_GRAD) && kernel_maxpool_fast(e, id, dst))
		return;
	Window w = graph_window(e->g, id);
	const char *T = e->T;
	int fwd = n->op == OP_MAXPOOL || n->op == OP_AVGPOOL;
	int ismax = n->op == OP_MAXPOOL || n->op == OP_MAXPOOL_GRAD;
	Shape xs = fwd ? NN(e, n->in[0])->shape : n->shape;
	Shape ys = fwd ? n->shape : NN(e, n->op == OP_MAXPOOL_GRAD ? n->in[1] : n->in[0])->shape;
	long long C = xs.d[1], H = xs.d[2], W = xs.d[3], OH = ys.d[2], OW = ys.d[3];
	int bax = fwd ? NN(e, n->in[0])->bax : n->bax;
	const char *rows = bax == 0 ? (xs.d[0] == e->g->batch ? "n"
	                                                      : arena_printf(e->a, "(n * %lld)", (long long)(xs.d[0] / e->g->batch)))
	                            : arena_printf(e->a, "%lld", (long long)xs.d[0]);
	const char *xb = ismax ? e->s->buf[n->in[0]] : fwd ? e->s->buf[n->in[0]] : NULL;
	const char *yb = fwd ? dst : e->s->buf[n->op == OP_MAXPOOL_GRAD ? n->in[1] : n->in[0]];
	fprintf(o, "\t/* %s %lldx%lld window, stride %lldx%lld, padding %lldx%lld over [%lld, %lld, %lld, %lld] */\n",
	        ismax ? "max" : "average", (long long)w.kh, (long long)w.kw, (long long)w.sh, (long long)w.sw,
	        (long long)w.ph, (long long)w.pw, (long long)xs.d[0], C, H, W);
	if (!fwd)
		fprintf(o, "\tfor (long i = 0; i < %lld; i++)\n\t\t%s[i] = 0;\n", (long long)shape_numel(xs), dst);
	int par = shape_numel(xs) >= PAR_MIN_WORK && xs.d[0] > 1;
	if (par) {
		par_begin(e, rows, 1, "examples");
		o = e->o;
		fprintf(o, "\tfor (long nb = lo; nb < hi; nb++)\n\t\tfor (long c = 0; c < %lld; c++)\n", C);
	} else
		fprintf(o, "\tfor (long nb = 0; nb < %s; nb++)\n\t\tfor (long c = 0; c < %lld; c++)\n", rows, C);
	fprintf(o, "\t\t\tfor (long oh = 0; oh < %lld; oh++)\n\t\t\t\tfor (long ow = 0; ow < %lld; ow++) {\n", OH, OW);
	fprintf(o, "\t\t\t\t\tlong plane = (nb * %lld + c) * %lld, out = (nb * %lld + c) * %lld + oh * %lld + ow;\n", C,
	        H * W, C, OH * OW, OW);
	fprintf(o, "\t\t\t\t\tlong h0 = oh * %lld - %lld, w0 = ow * %lld - %lld;\n", (long long)w.sh, (long long)w.ph,
	        (long long)w.sw, (long long)w.pw);
	if (ismax) {
		fprintf(o, "\t\t\t\t\t%s mx = -INFINITY;\n\t\t\t\t\tlong at = -1;\n", T);
	} else {
		fprintf(o, "\t\t\t\t\tlong count = 0;\n");
		if (fwd)
			fprintf(o, "\t\t\t\t\t%s acc = 0;\n", T);
	}
	const char *loop = arena_printf(e->a, "\t\t\t\t\tfor (long i = h0 < 0 ? 0 : h0; i < h0 + %lld && i < %lld; i++)\n"
	                                     "\t\t\t\t\t\tfor (long j = w0 < 0 ? 0 : w0; j < w0 + %lld && j < %lld; j++) {\n",
	                                (long long)w.kh, H, (long long)w.kw, W);
	if (ismax) {
		fprintf(o, "%s", loop);
		fprintf(o, "\t\t\t\t\t\t\t%s val = %s[plane + i * %lld + j];\n", T, xb, W);
		fprintf(o, "\t\t\t\t\t\t\tif (val > mx || at < 0) {\n\t\t\t\t\t\t\t\tmx = val;\n\t\t\t\t\t\t\t\tat = plane + i * %lld + j;\n"
		           "\t\t\t\t\t\t\t}\n\t\t\t\t\t\t}\n", W);
		if (fwd)
			fprintf(o, "\t\t\t\t\t%s[out] = mx;\n", dst);
		else
			fprintf(o, "\t\t\t\t\t%s[at] += %s[out];\n", dst, yb);
	} else {
		const char *div = w.count_pad ? arena_printf(e->a, "%s", lit(e, (double)(w.kh * w.kw))) : "(%s)count";
		if (!w.count_pad)
			div = arena_printf(e->a, "(%s)count", T);
		if (fwd) {
			fprintf(o, "%s", loop);
			fprintf(o, "\t\t\t\t\t\t\tacc += %s[plane + i * %lld + j];\n\t\t\t\t\t\t\tcount++;\n\t\t\t\t\t\t}\n", xb, W);
			fprintf(o, "\t\t\t\t\t(void)count;\n\t\t\t\t\t%s[out] = acc / %s;\n", dst, div);
		} else {
			fprintf(o, "%s\t\t\t\t\t\t\tcount++;\n\t\t\t\t\t\t}\n", loop);
			fprintf(o, "\t\t\t\t\t(void)count;\n\t\t\t\t\t%s gs = %s[out] / %s;\n", T, yb, div);
			fprintf(o, "%s\t\t\t\t\t\t\t%s[plane + i * %lld + j] += gs;\n\t\t\t\t\t\t}\n", loop, dst, W);
		}
	}
	fprintf(o, "\t\t\t\t}\n");
	if (par)
		par_end(e);
	if (n->op == OP_MAXPOOL_GRAD) /* the fused consumer, once the gradient is whole */
		plane_epilogue(e, id, dst, "0", arena_printf(e->a, "%lld", (long long)(xs.d[0] * C)), 1);
}

/* pad, slice and concat copy blocks: loops over the source shape with an
 * offset into the destination.  Along the batch axis the blocks are n * k
 * rows (k slots per example) at offsets that are multiples of n, so that a
 * partial batch of n stays packed at the start of the axis. */
static void kernel_block(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	if (n->op == OP_PAD) {
		const Node *x = NN(e, n->in[0]);
		fprintf(o, "\tfor (long i = 0; i < %lld; i++)\n\t\t%s[i] = 0;\n", (long long)shape_numel(n->shape), dst);
		Shape s = x->shape;
		int d = 1;
		for (int k = 0; k < s.rank; k++)
			fprintf(o, "%.*sfor (long i%d = 0; i%d < %s; i%d++)\n", IND(d++), k, k,
			        k == n->bax ? batch_extent(e, x) : arena_printf(e->a, "%lld", (long long)s.d[k]), k);
		const char *oi = NULL;
		for (int k = 0; k < s.rank; k++) {
			const char *ax = !n->i[2 * k] ? arena_printf(e->a, "i%d", k)
			                 : k == n->bax ? arena_printf(e->a, "(i%d + n * %lld)", k,
			                                              (long long)(n->i[2 * k] / e->g->batch))
			                               : arena_printf(e->a, "(i%d + %lld)", k, (long long)n->i[2 * k]);
			oi = oi ? arena_printf(e->a, "(%s) * %lld + %s", oi, (long long)n->shape.d[k], ax) : ax;
		}
		fprintf(o, "%.*s%s[%s] = %s[%s];\n", IND(d), dst, oi ? oi : "0", e->s->buf[n->in[0]], bcast_index(e, s, s));
		return;
	}
	if (n->op == OP_SLICE) {
		const Node *x = NN(e, n->in[0]);
		int64_t pre, A, post;
		split(x->shape, (int)n->i[0], &pre, &A, &post);
		long long len = (long long)(n->i[2] - n->i[1]);
		int batch = n->bax == (int)n->i[0];
		const char *rows = batch ? batch_extent(e, n) : arena_printf(e->a, "%lld", len);
		const char *at = batch ? arena_printf(e->a, "n * %lld", (long long)n->i[1] / e->g->batch)
		                       : arena_printf(e->a, "%lld", (long long)n->i[1]);
		fprintf(o, "\tfor (long p = 0; p < %lld; p++)\n\t\tfor (long k = 0; k < %s; k++)\n", (long long)pre, rows);
		if (post == 1) /* the last axis: no loop of one (gcc 12 vectorises that nest wrong with AVX-512) */
			fprintf(o, "\t\t\t%s[p * %lld + k] = %s[p * %lld + k + %s];\n", dst, len, e->s->buf[n->in[0]],
			        (long long)A, at);
		else {
			fprintf(o, "\t\t\tfor (long q = 0; q < %lld; q++)\n", (long long)post);
			fprintf(o, "\t\t\t\t%s[(p * %lld + k) * %lld + q] = %s[(p * %lld + k + %s) * %lld + q];\n", dst, len,
			        (long long)post, e->s->buf[n->in[0]], (long long)A, at, (long long)post);
		}
		return;
	}
	/* concat: each part copied to its offset along the axis */
	int64_t pre, A, post, Ak, tmp, at = 0;
	const char *at_rows = "";
	split(n->shape, (int)n->i[0], &pre, &A, &post);
	int batch = n->bax == (int)n->i[0];
	fprintf(o, "\tfor (long p = 0; p < %lld; p++) {\n", (long long)pre);
	for (int j = 0; j < n->nin; j++) {
		const Node *part = NN(e, n->in[j]);
		split(part->shape, (int)n->i[0], &tmp, &Ak, &tmp);
		/* along the batch axis, each part's n * k rows follow the previous part's */
		const char *rows = batch ? batch_extent(e, part) : arena_printf(e->a, "%lld", (long long)Ak);
		const char *off = batch ? (j ? arena_printf(e->a, " + %s", at_rows) : "")
		                        : at ? arena_printf(e->a, " + %lld", (long long)at) : "";
		if (post == 1) {
			fprintf(o, "\t\tfor (long k = 0; k < %s; k++)\n", rows);
			fprintf(o, "\t\t\t%s[p * %lld%s + k] = %s[p * %lld + k];\n", dst, (long long)A, off, e->s->buf[n->in[j]],
			        (long long)Ak);
		} else {
			fprintf(o, "\t\tfor (long k = 0; k < %s; k++)\n\t\t\tfor (long q = 0; q < %lld; q++)\n", rows,
			        (long long)post);
			fprintf(o, "\t\t\t\t%s[(p * %lld%s + k) * %lld + q] = %s[(p * %lld + k) * %lld + q];\n", dst,
			        (long long)A, off, (long long)post, e->s->buf[n->in[j]], (long long)Ak, (long long)post);
		}
		at += Ak;
		at_rows = j ? arena_printf(e->a, "%s + %s", at_rows, rows) : rows;
	}
	fprintf(o, "\t}\n");
}

/* Dropout mask: each element keeps its value with probability 1 - p, drawn
 * from a counter-based hash of the step's random key, the dropout site and
 * the element index, so a step is reproducible from the seed. */
/* The elements of a random draw that rows 0..n-1 of the batch read: a
 * tensor whose leading axis is the batch draws those rows only (the
 * others are never read: reductions and contractions over the batch stop
 * at n); `count` (all of them) otherwise. */
static const char *batch_rows(Emit *e, NodeId id, long long count)
{
	const Node *n = NN(e, id);
	long long B = (long long)e->g->batch;
	if (n->bax != 0 || B <= 0 || n->shape.rank < 1 || n->shape.d[0] % B)
		return arena_printf(e->a, "%lld", count);
	return arena_printf(e->a, "n * %lld", count / B);
}

static void kernel_dropout(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	double p = n->f;
	long long rows = n->shape.rank ? (long long)n->shape.d[0] : 1;
	long long per = (long long)shape_numel(n->shape) / (rows ? rows : 1);
	if (e->m->policy_only) /* the episode's row this one stands for */
		fprintf(o, "\tconst uint64_t row_base = (uint64_t)%s * UINT64_C(%lld);\n", e->row0, per);
	fprintf(o, "\tfor (long i = 0; i < %s; i++) {\n", batch_rows(e, id, rows * per));
	fprintf(o, "\t\tuint64_t hk = %s ^ (UINT64_C(%lld) * UINT64_C(0x9E3779B97F4A7C15)) ^ ((uint64_t)%s * UINT64_C(0xD1B54A32D192ED03));\n", e->key,
	        (long long)n->i[0], e->m->policy_only ? "(i + row_base)" : "i");
	fprintf(o, "\t\thk = (hk ^ (hk >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);\n");
	fprintf(o, "\t\thk = (hk ^ (hk >> 27)) * UINT64_C(0x94D049BB133111EB);\n");
	fprintf(o, "\t\thk ^= hk >> 31;\n");
	fprintf(o, "\t\t%s[i] = (double)(hk >> 11) * (1.0 / 9007199254740992.0) < %.17g ? 0 : %s;\n\t}\n", dst, p,
	        lit(e, 1.0 / (1.0 - p)));
}

/* A random tensor: uniform in [0, 1) or N(0, 1) (Box-Muller on two
 * uniforms), from the same counter-based hash as dropout masks; or, when
 * the trainer was given values for it (--noise NAME=FILE), those. */
static void kernel_random(Emit *e, NodeId id, const char *dst)
{
	FILE *o = e->o;
	const Node *n = NN(e, id);
	long long count = (long long)shape_numel(n->shape);
	fprintf(o, "\tif (%s_noise[%lld].src) { /* values from a file */\n", e->m->name, (long long)n->i[2]);
	fprintf(o, "\t\tconst %s *src = %s_noise[%lld].src;\n", e->T, e->m->name, (long long)n->i[2]);
	fprintf(o, "\t\tfor (long i = 0; i < %lld; i++)\n\t\t\t%s[i] = src[i];\n\t\treturn;\n\t}\n", count, dst);
	if (e->m->policy_only) /* the episode's row this one stands for */
		fprintf(o, "\tconst uint64_t row_base = (uint64_t)%s * UINT64_C(%lld);\n", e->row0, count);
	fprintf(o, "\tfor (long i = 0; i < %s; i++) {\n", batch_rows(e, id, count));
	fprintf(o, "\t\tdouble u[2];\n\t\tfor (int k = 0; k < 2; k++) {\n");
	fprintf(o, "\t\t\tuint64_t hk = %s ^ (UINT64_C(%lld) * UINT64_C(0x9E3779B97F4A7C15)) ^ ((uint64_t)(2 * %s + k) * UINT64_C(0xD1B54A32D192ED03));\n", e->key,
	        (long long)n->i[0], e->m->policy_only ? "(i + row_base)" : "i");
	fprintf(o, "\t\t\thk = (hk ^ (hk >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);\n");
	fprintf(o, "\t\t\thk = (hk ^ (hk >> 27)) * UINT64_C(0x94D049BB133111EB);\n");
	fprintf(o, "\t\t\thk ^= hk >> 31;\n");
	fprintf(o, "\t\t\tu[k] = (double)(hk >> 11) * (1.0 / 9007199254740992.0);\n\t\t}\n");
	if (n->i[1])
		fprintf(o, "\t\t%s[i] = (%s)(sqrt(-2.0 * log(1.0 - u[0])) * cos(6.283185307179586 * u[1]));\n\t}\n", dst,
		        e->T);
	else
		fprintf(o, "\t\t%s[i] = (%s)u[0];\n\t}\n", dst, e->T);
}

/* ---- fused attention ---- */

/* The index of attention node id's mask at slice b, query i, key j, as a C
 * expression in b, i and j: the mask is aligned right to the scores [...,
 * T, S] and read with stride 0 along the axes it broadcasts; NULL when
 * there is no mask (a constant other than 0). */
static const char *attn_mask_index(Emit *e, const Node *n, int *all_masked)
{
	const Node *q = NN(e, n->in[0]), *m = NN(e, n->in[3]);
	*all_masked = 0;
	if (m->op == OP_CONST) {
		*all_masked = m->f == 0;
		return NULL;
	}
	int r = q->shape.rank, rm = m->shape.rank;
	int64_t sd[MAXRANK], st[MAXRANK], inner = 1;
	for (int a = 0; a < r; a++)
		sd[a] = a < r - 2 ? q->shape.d[a] : a == r - 2 ? q->shape.d[r - 2] : NN(e, n->in[1])->shape.d[r - 2];
	for (int a = r - 1; a >= 0; a--) {
		int am = a - (r - rm);
		st[a] = am >= 0 && m->shape.d[am] != 1 ? inner : 0;
		if (am >= 0)
			inner *= m->shape.d[am];
	}
	const char *ix = arena_printf(e->a, "%s[", e->s->buf[n->in[3]]);
	int64_t below = 1;
	int any = 0;
	for (int a = r - 3; a >= 0; a--) {
		if (st[a])
			ix = arena_printf(e->a, "%s%s(b / %lld %% %lld) * %lld", ix, any++ ? " + " : "", (long long)below,
			                  (long long)sd[a], (long long)st[a]);
		below *= sd[a];
	}
	if (st[r - 2])
		ix = arena_printf(e->a, "%s%si * %lld", ix, any++ ? " + " : "", (long long)st[r - 2]);
	if (st[r - 1])
		ix = arena_printf(e->a, "%s%sj * %lld", ix, any++ ? " + " : "", (long long)st[r - 1]);
	return arena_printf(e->a, "%s%s]", ix, any ? "" : "0");
}

/* The loop over the leading indices b of a fused attention's operands (the
 * rows of a partial batch only, in parallel where the work is large), each
 * one's q, k and v, and the loop over its queries i with the keys j < jn
 * that each may see.  Returns the depth of the loop body. */
static int attn_open(Emit *e, NodeId id, const char *dst, long long X, const char *what)
{
	FILE *o;
	const Node *n = NN(e, id), *q = NN(e, n->in[0]), *k = NN(e, n->in[1]), *v = NN(e, n->in[2]);
	int r = q->shape.rank;
	long long T = q->shape.d[r - 2], S = k->shape.d[r - 2], E = q->shape.d[r - 1], F = v->shape.d[r - 1];
	long long L = (long long)(shape_numel(q->shape) / (T * E));
	const char *live = batch_rows(e, id, L);
	if (strcmp(live, arena_printf(e->a, "%lld", L)))
		fprintf(e->o, "\tfor (long c = %s * %lld; c < %lld; c++) /* past the batch's rows */\n\t\t%s[c] = 0;\n", live,
		        X, L * X, dst);
	int par = (double)L * (double)T * (double)S * (double)(E + F) >= PAR_MIN_WORK && L > 1;
	if (par)
		par_begin(e, live, 1, what);
	o = e->o;
	fprintf(o, "\tfor (long b = %s; b < %s; b++) {\n", par ? "lo" : "0", par ? "hi" : live);
	fprintf(o, "\t\tconst %s *qb = %s + b * %lld, *kb = %s + b * %lld, *vb = %s + b * %lld;\n", e->T,
	        e->s->buf[n->in[0]], T * E, e->s->buf[n->in[1]], S * E, e->s->buf[n->in[2]], S * F);
	return par;
}

static void attn_queries(Emit *e, const Node *n, long long T, long long S)
{
	fprintf(e->o, "\t\tfor (long i = 0; i < %lld; i++) {\n", T);
	if (n->i[0]) /* causal: key j is seen by query i when j <= i + S - T */
		fprintf(e->o, "\t\t\tlong jn = i + %lld;\n\t\t\tif (jn > %lld)\n\t\t\t\tjn = %lld;\n", S - T + 1, S, S);
	else
		fprintf(e->o, "\t\t\tconst long jn = %lld;\n", S);
}

/* `ty var = a . b` over len entries, at depth 4: in 8 lanes where len
 * allows (the compiler turns them into one vector of multiply-adds), then
 * summed pairwise; the forward and the gradient print the same sum. */
static void attn_dot(Emit *e, const char *var, const char *a, const char *b, long long len)
{
	FILE *o = e->o;
	long long L = len >= 16 ? 8 : 1, main = len / L * L;
	if (L == 1) {
		fprintf(o, "\t\t\t\t%s %s = 0;\n\t\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\t\t%s += %s[c] * %s[c];\n",
		        e->T, var, len, var, a, b);
		return;
	}
	fprintf(o, "\t\t\t\t%s %s_l[8] = {0};\n\t\t\t\tfor (long c = 0; c < %lld; c += 8)\n"
	           "\t\t\t\t\tfor (int l = 0; l < 8; l++)\n\t\t\t\t\t\t%s_l[l] += %s[c + l] * %s[c + l];\n",
	        e->T, var, main, var, a, b);
	fprintf(o, "\t\t\t\t%s %s = ((%s_l[0] + %s_l[4]) + (%s_l[2] + %s_l[6])) + ((%s_l[1] + %s_l[5]) + (%s_l[3] + %s_l[7]));\n",
	        e->T, var, var, var, var, var, var, var, var, var);
	if (main < len)
		fprintf(o, "\t\t\t\tfor (long c = %lld; c < %lld; c++)\n\t\t\t\t\t%s += %s[c] * %s[c];\n", main, len, var, a, b);
}

/* softmax(q k^T scale, masked) v for one query at a time: its row of S
 * scores becomes its weights in place, and the packed value keeps the
 * output [T, F] and each query's score maximum [T], from which the
 * gradient computes the weights again. */
static void kernel_attention(Emit *e, NodeId id, const char *dst)
{
	const Node *n = NN(e, id), *q = NN(e, n->in[0]), *k = NN(e, n->in[1]), *v = NN(e, n->in[2]);
	int r = q->shape.rank, none;
	long long T = q->shape.d[r - 2], S = k->shape.d[r - 2], E = q->shape.d[r - 1], F = v->shape.d[r - 1];
	long long X = T * F + T;
	const char *mi = attn_mask_index(e, n, &none), *ty = e->T;
	fprintf(e->o, "\t/* per query: the scores q k^T * %.9g%s%s, their softmax, the weighted sum of the values; "
	        "the [%lld, %lld] weights are not stored */\n", n->f, mi ? ", masked keys at -inf" : "",
	        n->i[0] ? ", causal" : "", T, S);
	int par = attn_open(e, id, dst, X, "query rows");
	FILE *o = e->o;
	fprintf(o, "\t\t%s *ob = %s + b * %lld;\n", ty, dst, X);
	attn_queries(e, n, T, S);
	fprintf(o, "\t\t\t%s sc[%lld], mx = -INFINITY;\n", ty, S);
	fprintf(o, "\t\t\tfor (long j = 0; j < jn; j++) {\n");
	if (mi || none)
		fprintf(o, "\t\t\t\tif (%s) {\n\t\t\t\t\tsc[j] = -INFINITY;\n\t\t\t\t\tcontinue;\n\t\t\t\t}\n",
		        none ? "1" : arena_printf(e->a, "%s == 0", mi));
	attn_dot(e, "s", arena_printf(e->a, "(qb + i * %lld)", E), arena_printf(e->a, "(kb + j * %lld)", E), E);
	fprintf(o, "\t\t\t\tsc[j] = s * %s;\n\t\t\t\tif (sc[j] > mx)\n\t\t\t\t\tmx = sc[j];\n\t\t\t}\n", lit(e, n->f));
	/* a query that sees no key: no weight anywhere, an output of 0 */
	fprintf(o, "\t\t\tif (mx == -INFINITY)\n\t\t\t\tmx = 0;\n\t\t\tdouble se = 0;\n");
	fprintf(o, "\t\t\tfor (long j = 0; j < jn; j++) {\n\t\t\t\tsc[j] = %s(sc[j] - mx);\n\t\t\t\tse += sc[j];\n\t\t\t}\n",
	        fn(e, "exp"));
	fprintf(o, "\t\t\tdouble inv = se > 0 ? 1 / se : 0;\n\t\t\t%s *out = ob + i * %lld;\n", ty, F);
	fprintf(o, "\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\tout[c] = 0;\n", F);
	fprintf(o, "\t\t\tfor (long j = 0; j < jn; j++) {\n\t\t\t\t%s w = (%s)(sc[j] * inv);\n", ty, ty);
	fprintf(o, "\t\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\t\tout[c] += w * vb[j * %lld + c];\n\t\t\t}\n", F, F);
	fprintf(o, "\t\t\tob[%lld + i] = mx;\n\t\t}\n\t}\n", T * F);
	if (par)
		par_end(e);
}

/* The adjoint of the fused attention: per query, its weights p_j again
 * (from the packed maximum, normalised again), dp_j = dout . v_j, then ds_j =
 * p_j (dp_j - sum_j p_j dp_j) scale, which goes to dq_i (ds_j k_j) and dk_j
 * (ds_j q_i), and p_j dout to dv_j; in key order, the same on any number of
 * threads (each leading index is one thread's). */
static void kernel_attention_grad(Emit *e, NodeId id, const char *dst)
{
	const Node *n = NN(e, id), *q = NN(e, n->in[0]), *k = NN(e, n->in[1]), *v = NN(e, n->in[2]);
	int r = q->shape.rank, none;
	long long T = q->shape.d[r - 2], S = k->shape.d[r - 2], E = q->shape.d[r - 1], F = v->shape.d[r - 1];
	long long X = T * E + S * E + S * F, XA = T * F + T;
	const char *mi = attn_mask_index(e, n, &none), *ty = e->T;
	fprintf(e->o, "\t/* dq, dk, dv of the attention: each query's weights computed again from its packed "
	        "maximum; the [%lld, %lld] weights are not stored */\n", T, S);
	int par = attn_open(e, id, dst, X, "query rows");
	FILE *o = e->o;
	fprintf(o, "\t\tconst %s *ab = %s + b * %lld, *gb = %s + b * %lld;\n", ty, e->s->buf[n->in[4]], XA,
	        e->s->buf[n->in[5]], XA);
	fprintf(o, "\t\t%s *dq = %s + b * %lld, *dk = dq + %lld, *dv = dk + %lld;\n", ty, dst, X, T * E, S * E);
	fprintf(o, "\t\tfor (long c = 0; c < %lld; c++)\n\t\t\tdq[c] = 0;\n", X);
	attn_queries(e, n, T, S);
	fprintf(o, "\t\t\t%s p[%lld], dp[%lld];\n", ty, S, S);
	fprintf(o, "\t\t\tconst %s mx = ab[%lld + i], *go = gb + i * %lld;\n", ty, T * F, F);
	fprintf(o, "\t\t\tdouble se = 0, pdp = 0;\n\t\t\tfor (long j = 0; j < jn; j++) {\n");
	if (mi || none)
		fprintf(o, "\t\t\t\tif (%s) {\n\t\t\t\t\tp[j] = 0;\n\t\t\t\t\tdp[j] = 0;\n\t\t\t\t\tcontinue;\n\t\t\t\t}\n",
		        none ? "1" : arena_printf(e->a, "%s == 0", mi));
	attn_dot(e, "s", arena_printf(e->a, "(qb + i * %lld)", E), arena_printf(e->a, "(kb + j * %lld)", E), E);
	attn_dot(e, "g", "go", arena_printf(e->a, "(vb + j * %lld)", F), F);
	fprintf(o, "\t\t\t\tp[j] = %s(s * %s - mx);\n\t\t\t\tse += p[j];\n\t\t\t\tdp[j] = g;\n\t\t\t}\n", fn(e, "exp"),
	        lit(e, n->f));
	/* normalised by their own sum: the weights add up to 1 as they are
	 * rounded here, which the sum over keys of ds (0) needs */
	fprintf(o, "\t\t\tdouble inv = se > 0 ? 1 / se : 0;\n\t\t\tfor (long j = 0; j < jn; j++) {\n"
	           "\t\t\t\tp[j] = (%s)(p[j] * inv);\n\t\t\t\tpdp += (double)p[j] * dp[j];\n\t\t\t}\n", ty);
	fprintf(o, "\t\t\tdouble dqi[%lld] = {0};\n", E);
	fprintf(o, "\t\t\tfor (long j = 0; j < jn; j++) {\n\t\t\t\tdouble ds = p[j] * (dp[j] - pdp) * %.17g;\n",
	        n->f);
	fprintf(o, "\t\t\t\tfor (long c = 0; c < %lld; c++) {\n\t\t\t\t\tdqi[c] += ds * kb[j * %lld + c];\n"
	           "\t\t\t\t\tdk[j * %lld + c] += (%s)(ds * qb[i * %lld + c]);\n\t\t\t\t}\n", E, E, E, ty, E);
	fprintf(o, "\t\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\t\tdv[j * %lld + c] += p[j] * go[c];\n\t\t\t}\n", F,
	        F);
	fprintf(o, "\t\t\tfor (long c = 0; c < %lld; c++)\n\t\t\t\tdq[i * %lld + c] = (%s)dqi[c];\n\t\t}\n\t}\n", E, E,
	        ty);
	if (par)
		par_end(e);
}

/* ---- gathers and upsampling ---- */

/* take: the rows of a [V, D] table that the ids select, in parallel over
 * the ids; an id outside [0, V) selects a row of zeros (the trainer checks
 * the ids it loads, so only ids computed otherwise can be out of range). */
static void kernel_take(Emit *e, NodeId id, const char *dst)
{
	const Node *n = NN(e, id), *tab = NN(e, n->in[0]), *ids = NN(e, n->in[1]);
	long long V = (long long)tab->shape.d[0], D = (long long)(shape_numel(tab->shape) / V);
	long long P = (long long)shape_numel(ids->shape);
	const char *tb = e->s->buf[n->in[0]], *ib = e->s->buf[n->in[1]];
	fprintf(e->o, "\t/* rows of a [%lld, %lld] table; an id outside [0, %lld) selects zeros */\n", V, D, V);
	int par = P * D >= PAR_MIN_WORK && P > 1;
	if (par)
		par_begin(e, arena_printf(e->a, "%lld", P), 1, "ids");
	FILE *o = e->o;
	fprintf(o, "\tfor (long i = %s; i < %s; i++) {\n", par ? "lo" : "0", par ? "hi" : arena_printf(e->a, "%lld", P));
	fprintf(o, "\t\tlong r = %s[i];\n", ib);
	fprintf(o, "\t\tif (r >= 0 && r < %lld)\n\t\t\tfor (long j = 0; j < %lld; j++)\n"
	           "\t\t\t\t%s[i * %lld + j] = %s[r * %lld + j];\n", V, D, dst, D, tb, D);
	fprintf(o, "\t\telse\n\t\t\tfor (long j = 0; j < %lld; j++)\n\t\t\t\t%s[i * %lld + j] = 0;\n\t}\n", D, dst, D);
	if (par)
		par_end(e);
}

/* take's adjoint: dy's rows added into the table rows the ids select, in
 * the order of the ids, so duplicate ids accumulate in the same order on
 * any number of threads: the threads split the table's rows, and each one
 * scans every id for the rows it owns.  Along the ids' batch axis only the
 * rows that hold data count. */
static void kernel_take_grad(Emit *e, NodeId id, const char *dst)
{
	const Node *n = NN(e, id), *ids = NN(e, n->in[1]);
	long long V = (long long)n->shape.d[0], D = (long long)(shape_numel(n->shape) / V);
	long long P = (long long)shape_numel(ids->shape);
	const char *yb = e->s->buf[n->in[0]], *ib = e->s->buf[n->in[1]];
	fprintf(e->o, "\t/* dy's rows added into a [%lld, %lld] table, in the order of the ids (duplicates accumulate; "
	              "an id outside [0, %lld) adds nothing) */\n", V, D, V);
	int par = P * D >= PAR_MIN_WORK && V > 1;
	if (par)
		par_begin(e, arena_printf(e->a, "%lld", V), 1, "rows of the table");
	else
		fprintf(e->o, "\tlong lo = 0, hi = %lld;\n", V);
	FILE *o = e->o;
	fprintf(o, "\tfor (long i = lo * %lld; i < hi * %lld; i++)\n\t\t%s[i] = 0;\n", D, D, dst);
	int d;
	if (ids->bax >= 0) {
		int64_t pre, A, post;
		split(ids->shape, ids->bax, &pre, &A, &post);
		fprintf(o, "\tfor (long p = 0; p < %lld; p++)\n\t\tfor (long b = 0; b < %s; b++)\n"
		           "\t\t\tfor (long q = 0; q < %lld; q++) {\n", (long long)pre, batch_extent(e, ids), (long long)post);
		fprintf(o, "\t\t\t\tlong i = (p * %lld + b) * %lld + q;\n", (long long)A, (long long)post);
		d = 4;
	} else {
		fprintf(o, "\tfor (long i = 0; i < %lld; i++) {\n", P);
		d = 2;
	}
	fprintf(o, "%.*slong r = %s[i];\n", IND(d), ib);
	fprintf(o, "%.*sif (r >= lo && r < hi)\n%.*sfor (long j = 0; j < %lld; j++)\n%.*s%s[r * %lld + j] += %s[i * %lld + j];\n",
	        IND(d), IND(d + 1), D, IND(d + 2), dst, D, yb, D);
	fprintf(o, "%.*s}\n", IND(d - 1));
	if (par)
		par_end(e);
}

/* Nearest-neighbour upsampling of NCHW planes and its adjoint, the sum of
 * each block; in parallel over the planes. */
static void kernel_upsample(Emit *e, NodeId id, const char *dst)
{
	const Node *n = NN(e, id), *x = NN(e, n->in[0]);
	int up = n->op == OP_UPSAMPLE;
	const Node *small = up ? x : n, *large = up ? n : x;
	long long sh = (long long)n->i[0], sw = (long long)n->i[1];
	long long planes = (long long)(small->shape.d[0] * small->shape.d[1]);
	long long H = (long long)small->shape.d[2], W = (long long)small->shape.d[3];
	long long OH = (long long)large->shape.d[2], OW = (long long)large->shape.d[3];
	const char *xb = e->s->buf[n->in[0]];
	int par = planes * OH * OW >= PAR_MIN_WORK && planes > 1;
	if (par)
		par_begin(e, arena_printf(e->a, "%lld", planes), 1, "planes");
	FILE *o = e->o;
	fprintf(o, "\tfor (long p = %s; p < %s; p++)\n", par ? "lo" : "0", par ? "hi" : arena_printf(e->a, "%lld", planes));
	if (up) {
		fprintf(o, "\t\tfor (long oh = 0; oh < %lld; oh++)\n\t\t\tfor (long ow = 0; ow < %lld; ow++)\n", OH, OW);
		fprintf(o, "\t\t\t\t%s[(p * %lld + oh) * %lld + ow] = %s[(p * %lld + oh / %lld) * %lld + ow / %lld];\n", dst, OH,
		        OW, xb, H, sh, W, sw);
	} else {
		fprintf(o, "\t\tfor (long h = 0; h < %lld; h++)\n\t\t\tfor (long w = 0; w < %lld; w++) {\n", H, W);
		fprintf(o, "\t\t\t\t%s acc = 0;\n", e->T);
		fprintf(o, "\t\t\t\tfor (long i = 0; i < %lld; i++)\n\t\t\t\t\tfor (long j = 0; j < %lld; j++)\n", sh, sw);
		fprintf(o, "\t\t\t\t\t\tacc += %s[(p * %lld + h * %lld + i) * %lld + w * %lld + j];\n", xb, OH, sh, OW, sw);
		fprintf(o, "\t\t\t\t%s[(p * %lld + h) * %lld + w] = acc;\n\t\t\t}\n", dst, H, W);
	}
	if (par)
		par_end(e);
}

/* ---- loops ---- */

static const char *ctype(DType dt) { return dt == DT_I32 ? "int32_t" : dt == DT_F64 ? "double" : "float"; }

/* dst[0..numel) = the values of node src (an array, or a scalar) */
static void copy_values(Emit *e, const char *ind, const char *dst, NodeId src)
{
	const Node *n = NN(e, src);
	long long numel = (long long)shape_numel(n->shape);
	Storage st = e->s->st[src];
	const char *from = st == ST_SCALAR ? ref(e, src, 0, n->shape)
	                   : (st == ST_OWN || st == ST_ALIAS) ? arena_printf(e->a, "%s[i]", e->s->buf[src]) : NULL;
	if (!from)
		DLC_INTERNAL("loop value %%%u has no array", src);
	fprintf(e->o, "%sfor (int64_t i = 0; i < %lld; i++)\n%s\t%s[i] = %s;\n", ind, numel, ind, dst, from);
}

/* The kernel of a loop (graph.h: Loop): the carries start from their
 * initial values, then every step points the sequences' variables at the
 * step's slices, runs the body's kernels, stores the stacked outputs and
 * copies the next state into the carries. */
static void kernel_loop(Emit *e, NodeId id)
{
	FILE *o = e->o;
	int L = (int)NN(e, id)->i[0];
	const Loop *l = &e->g->loops[L];
	const Schedule *s = e->s;
	long long T = (long long)l->T;
	for (int k = 0; k < l->nslot; k++) {
		const LoopSlot *sl = &l->slot[k];
		if (sl->kind != SLOT_CARRY || !s->any[sl->var])
			continue;
		if (s->carry_ptr[sl->var]) {
			const char *ib = made_name(e, arena_printf(e->a, "%s_init", s->buf[sl->var]));
			copy_values(e, "\t", ib, sl->src);
			fprintf(o, "\t%s = %s;\n", s->buf[sl->var], ib);
		} else {
			copy_values(e, "\t", s->buf[sl->var], sl->src);
		}
	}
	/* loop-invariant operands B of the body's products, packed once */
	for (int ki = 0; ki < s->nk; ki++) {
		const Kernel *k = &s->k[ki];
		if (k->loop != L + 1 || k->dst)
			continue;
		NodeId mm = NN(e, k->node)->op == OP_MATMUL ? k->node : 0;
		const char *pk = mm ? prepacked(e, mm) : NULL;
		if (!pk)
			continue;
		const Node *n = NN(e, mm), *A = NN(e, n->in[0]);
		int tb = (int)n->i[1], r = n->shape.rank;
		long long N = (long long)n->shape.d[r - 1], K = (long long)A->shape.d[A->shape.rank - (n->i[0] ? 2 : 1)];
		long long sbk = tb ? 1 : N, sbj = tb ? K : 1;
		fprintf(o, "\tfor (long kb = %lld, nkb = kb > %d ? (kb + %d) / %d : 1, pb = 0, pc = 0; pb < nkb; pb++) { /* %s */\n",
		        K, MM_KC, MM_KC - 1, MM_KC, pk);
		fprintf(o, "\t\tlong kc = (kb - pc) / (nkb - pb);\n");
		fprintf(o, "\t\tfor (long jc = 0; jc < %lld; jc += %d)\n", N, MM_NC);
		fprintf(o, "\t\t\tdlc_pack_b(kc, %lld - jc < %d ? %lld - jc : %d, %s + pc * %lld + jc * %lld, %lld, %lld, %s + pc * %s + jc * kc);\n",
		        N, MM_NC, N, MM_NC, s->buf[n->in[1]], sbk, sbj, sbk, sbj, pk, npad_expr(e, N));
		fprintf(o, "\t\tpc += kc;\n\t}\n");
	}
	if (l->reverse)
		fprintf(o, "\tfor (int64_t t = %lld; t >= 0; t--) {\n", T - 1);
	else
		fprintf(o, "\tfor (int64_t t = 0; t < %lld; t++) {\n", T);
	for (int k = 0; k < l->nslot; k++) {
		const LoopSlot *sl = &l->slot[k];
		if (sl->kind != SLOT_SEQ || !s->any[sl->var])
			continue;
		long long sz = (long long)shape_numel(NN(e, sl->var)->shape);
		const char *src = s->buf[sched_storage_of(s, sl->src)];
		if (!src)
			DLC_INTERNAL("loop sequence %%%u has no array", sl->src);
		if (!sl->shift) {
			fprintf(o, "\t\t%s = %s + t * %lld;\n", s->buf[sl->var], src, sz);
		} else {
			const char *first = s->buf[sched_storage_of(s, sl->first)];
			if (!first)
				DLC_INTERNAL("loop value %%%u has no array", sl->first);
			fprintf(o, "\t\t%s = t - %d >= 0 && t - %d < %lld ? %s + (t - %d) * %lld : %s;\n", s->buf[sl->var],
			        sl->shift, sl->shift, T, src, sl->shift, sz, first);
		}
	}
	for (int oi = 0; oi < l->nout; oi++) { /* values written into their slots */
		const LoopOut *lo = &l->out[oi];
		if (lo->kind == LOUT_STACK && s->any[lo->node] && s->slot[lo->body] == lo->node)
			fprintf(o, "\t\t%s = %s + t * %lld;\n", s->buf[lo->body], s->buf[lo->node],
			        (long long)shape_numel(NN(e, lo->body)->shape));
	}
	for (int ki = 0; ki < s->nk; ki++)
		if (s->k[ki].loop == L + 1)
			fprintf(o, "\t\t%s(n);\n", kernel_name(e, &s->k[ki]));
	for (int oi = 0; oi < l->nout; oi++) {
		const LoopOut *lo = &l->out[oi];
		if (lo->kind != LOUT_STACK || !s->any[lo->node])
			continue;
		const Node *b = NN(e, lo->body);
		long long sz = (long long)shape_numel(b->shape);
		const char *at = arena_printf(e->a, "(%s + t * %lld)", s->buf[lo->node], sz);
		if (s->slot[lo->body] == lo->node) {
			/* written in place: zeros in the rows past n */
			if (b->bax == 0) {
				long long row = sz / (long long)b->shape.d[0], k = (long long)graph_batch_slots(e->g, lo->body);
				fprintf(o, "\t\tfor (int64_t i = n * %lld; i < %lld; i++)\n\t\t\t%s[i] = 0;\n", k * row, sz,
				        s->buf[lo->body]);
			}
		} else if (b->bax == 0 && s->st[lo->body] != ST_SCALAR) {
			/* the rows that hold data, then zeros: a product over the
			 * stacked steps and rows adds nothing from the others */
			long long row = sz / (long long)b->shape.d[0], k = (long long)graph_batch_slots(e->g, lo->body);
			fprintf(o, "\t\tfor (int64_t i = 0; i < n * %lld; i++)\n\t\t\t%s[i] = %s[i];\n", k * row, at,
			        s->buf[lo->body]);
			fprintf(o, "\t\tfor (int64_t i = n * %lld; i < %lld; i++)\n\t\t\t%s[i] = 0;\n", k * row, sz, at);
		} else {
			copy_values(e, "\t\t", at, lo->body);
		}
	}
	for (int k = 0; k < l->nslot; k++) {
		const LoopSlot *sl = &l->slot[k];
		if (sl->kind != SLOT_CARRY || !s->any[sl->var])
			continue;
		if (s->carry_ptr[sl->var])
			fprintf(o, "\t\t%s = %s;\n", s->buf[sl->var], s->buf[sl->next]);
		else
			copy_values(e, "\t\t", s->buf[sl->var], sl->next);
	}
	fprintf(o, "\t}\n");
	for (int oi = 0; oi < l->nout; oi++) {
		const LoopOut *lo = &l->out[oi];
		if (lo->kind == LOUT_LAST && s->any[lo->node])
			copy_values(e, "\t", s->buf[lo->node], l->slot[lo->carry].var);
	}
}

/* A file-scope name made from an array's name (h1 -> h1_relu): want, or
 * want_2, want_3, ... if an array (a DSL name: h1_relu = ...) or an earlier
 * made name has it.  The same want gets the same name each time. */
static const char *made_name(Emit *e, const char *want)
{
	for (int i = 0; i < e->nmade; i++)
		if (!strcmp(e->made_want[i], want))
			return e->made[i];
	const char *nm = want;
	for (int k = 2;; k++) {
		int taken = 0;
		for (int i = 0; i < e->s->nnames && !taken; i++)
			taken = !strcmp(e->s->names[i], nm);
		for (int i = 0; i < e->nmade && !taken; i++)
			taken = !strcmp(e->made[i], nm);
		if (!taken)
			break;
		nm = arena_printf(e->a, "%s_%d", want, k);
	}
	e->made_want = arena_grow(e->a, e->made_want, (size_t)e->nmade, (size_t)e->nmade + 1, sizeof(char *));
	e->made = arena_grow(e->a, e->made, (size_t)e->nmade, (size_t)e->nmade + 1, sizeof(char *));
	e->made_want[e->nmade] = want;
	e->made[e->nmade++] = nm;
	return nm;
}

static const char *kernel_want(Emit *e, const Kernel *k);

/* Kernel k's function: named, all kernels in order, the first time one is asked for. */
static const char *kernel_name(Emit *e, const Kernel *k)
{
	if (!e->kname_of) {
		e->kname_of = arena_alloc(e->a, (size_t)(e->s->nk ? e->s->nk : 1) * sizeof(char *));
		for (int i = 0; i < e->s->nk; i++)
			e->kname_of[i] = made_name(e, kernel_want(e, &e->s->k[i]));
	}
	return e->kname_of[k - e->s->k];
}

static const char *kernel_want(Emit *e, const Kernel *k)
{
	const Node *n = NN(e, k->node);
	if (k->dst)
		return arena_printf(e->a, k->entries == 1 ? "%s_eval_copy" : "%s_copy", k->dst);
	if (n->op == OP_ASSIGN)
		return arena_printf(e->a, "%s_update", e->s->buf[n->in[0]]);
	if (k->also) /* the optimizer state and the parameter it updates, in one loop */
		return arena_printf(e->a, "%s_update", e->s->buf[NN(e, k->also)->in[0]]);
	return arena_printf(e->a, "%s_%s", e->s->buf[k->node], op_info[n->op].name);
}

/* "%3 add, h1 = %4 relu": node id and the inlined values under it, inputs
 * first, with their DSL names */
static const char *fused_nodes(Emit *e, NodeId id, const char *acc)
{
	const Node *n = NN(e, id);
	for (int k = 0; k < n->nin; k++)
		if (e->s->st[n->in[k]] == ST_INLINE)
			acc = fused_nodes(e, n->in[k], acc);
	return arena_printf(e->a, "%s%s%s%s%%%u %s", acc, *acc ? ", " : "", n->name ? n->name : "", n->name ? " = " : "",
	                    id, op_info[n->op].name);
}

/* The where ops a kernel's loops compute: the fused tree under node id. */
static int where_count(const Emit *e, NodeId id)
{
	const Node *n = NN(e, id);
	int c = n->op == OP_WHERE;
	for (int k = 0; k < n->nin; k++)
		if (e->s->st[n->in[k]] == ST_INLINE)
			c += where_count(e, n->in[k]);
	return c;
}

/* gcc (12.2 at -O3 with AVX2 or AVX-512) vectorises some loops holding two
 * where ops wrong: the masked loads it makes for the branch a where does
 * not take read the wrong lanes (the differential test's programs with a
 * max or min gradient, tests/diff).  Such kernels are compiled without
 * if-conversion (DLC_KERNEL_SELECTS); loops with one select, ReLU's
 * gradient among them, keep their vector code. */
static int kernel_no_ifcvt(const Emit *e, const Kernel *k)
{
	if (k->dst)
		return 0;
	int c = where_count(e, k->node);
	if (e->s->epi[k->node])
		c += where_count(e, e->s->epi[k->node]);
	if (k->also)
		c += where_count(e, k->also);
	return c >= 2;
}

static void emit_kernel(Emit *e, const Kernel *k)
{
	FILE *out = e->o;
	e->kstamp = ++e->stamp_max;
	const Node *n = NN(e, k->node);
	const char *name = kernel_name(e, k);
	char sb[160], *body = NULL, *parts = NULL;
	size_t nbody = 0, nparts = 0;
	e->kname = name;
	e->npart = 0;
	e->kbody = open_memstream(&body, &nbody);
	e->kparts = open_memstream(&parts, &nparts);
	if (!e->kbody || !e->kparts)
		DLC_INTERNAL("out of memory");
	FILE *o = e->o = e->kbody;
	if (k->dst)
		fprintf(o, "/* %s = %s %s */\n", k->dst, e->s->buf[k->node] ? e->s->buf[k->node] : desc_node(e, k->node),
		        shape_str(n->shape, sb, sizeof sb));
	else if (n->op == OP_ASSIGN)
		fprintf(o, "/* %s <- %s: optimizer update */\n", e->s->buf[n->in[0]], desc_node(e, n->in[1]));
	else
		fprintf(o, "/* %s: %s */\n", e->s->buf[k->node], desc_node(e, k->node));
	if (k->also)
		fprintf(o, "/* and %s <- %s: optimizer update, in the same loop */\n", e->s->buf[NN(e, k->also)->in[0]],
		        desc_node(e, NN(e, k->also)->in[1]));
	if (!k->dst && n->op != OP_ASSIGN) {
		/* what a fused kernel computes, in order */
		const char *f = fused_nodes(e, k->node, "");
		if (e->s->epi[k->node])
			f = fused_nodes(e, e->s->epi[k->node], f);
		if (strchr(f, ','))
			fprintf(o, "/* fuses %s */\n", f);
	}
	e->also = k->also;
	fflush(o);
	long head = (long)nbody;
	e->no_ifcvt = kernel_no_ifcvt(e, k);
	fprintf(o, "%s\nstatic void %s(int64_t n)\n{\n\t(void)n;\n", e->no_ifcvt ? "DLC_KERNEL_SELECTS" : "DLC_KERNEL", name);
	if (k->dst) {
		kernel_ew(e, k->dst, n->shape, k->node, 1);
	} else if (n->op == OP_ASSIGN) {
		kernel_ew(e, e->s->buf[n->in[0]], n->shape, k->node, 0);
	} else if (sched_is_ew(n) || n->op == OP_BROADCAST || n->op == OP_RESHAPE) {
		kernel_ew(e, e->s->buf[k->node], n->shape, k->node, 0);
	} else {
		const char *dst = e->s->buf[k->node];
		switch ((OpKind)n->op) {
		case OP_SUM: case OP_MAX: kernel_reduce(e, k->node, dst); break;
		case OP_SUMTO: kernel_sumto(e, k->node, dst); break;
		case OP_TRANSPOSE: kernel_transpose(e, k->node, dst); break;
		case OP_MATMUL: kernel_matmul(e, k->node, dst); break;
		case OP_SOFTMAX: case OP_LOG_SOFTMAX: kernel_softmax(e, k->node, dst); break;
		case OP_ARGMAX: kernel_argmax(e, k->node, dst); break;
		case OP_ONE_HOT: kernel_one_hot(e, k->node, dst); break;
		case OP_XENT: case OP_XENT_GRAD: case OP_NLL: case OP_NLL_GRAD: case OP_BCE: case OP_BCE_GRAD:
		case OP_XENT_HESS: case OP_BCE_HESS:
			kernel_loss(e, k->node, dst);
			break;
		case OP_CONV2D: case OP_CONV2D_DX: case OP_CONV2D_DW: kernel_conv(e, k->node, dst); break;
		case OP_MAXPOOL: case OP_MAXPOOL_GRAD: case OP_AVGPOOL: case OP_AVGPOOL_GRAD:
			kernel_pool(e, k->node, dst);
			break;
		case OP_PAD: case OP_SLICE: case OP_CONCAT: kernel_block(e, k->node, dst); break;
		case OP_DROPOUT_MASK: kernel_dropout(e, k->node, dst); break;
		case OP_RANDOM: kernel_random(e, k->node, dst); break;
		case OP_ARANGE:
			fprintf(e->o, "\tfor (long i = 0; i < %lld; i++)\n\t\t%s[i] = (%s)i;\n",
			        (long long)NN(e, k->node)->shape.d[0], dst, e->T);
			break;
		case OP_ATTENTION: kernel_attention(e, k->node, dst); break;
		case OP_ATTENTION_GRAD: kernel_attention_grad(e, k->node, dst); break;
		case OP_TAKE: kernel_take(e, k->node, dst); break;
		case OP_TAKE_GRAD: kernel_take_grad(e, k->node, dst); break;
		case OP_UPSAMPLE: case OP_UPSAMPLE_GRAD: kernel_upsample(e, k->node, dst); break;
		case OP_SCAN: kernel_loop(e, k->node); break;
		default: DLC_INTERNAL("no lowering for '%s'", op_info[n->op].name);
		}
	}
	if (e->tg->opt.check_memory && e->mp->off) {
		int ki = (int)(k - e->s->k);
		for (uint32_t id = 1; id < e->g->nnodes; id++)
			if (e->mp->off[id] >= 0 && e->mp->last[id] == ki)
				fprintf(o, "\tfor (long i = 0; i < %lld; i++) /* -fcheck-memory: %s is dead */\n\t\t%s[i] = NAN;\n",
				        (long long)shape_numel(NN(e, id)->shape), e->s->buf[id], e->s->buf[id]);
	}
	fprintf(o, "}\n\n");
	e->also = 0;
	fclose(e->kbody);
	fclose(e->kparts);
	/* the comment naming the nodes, the parallel parts, the kernel */
	fwrite(body, 1, (size_t)head, out);
	fwrite(parts, 1, nparts, out);
	fwrite(body + head, 1, nbody - (size_t)head, out);
	free(body);
	free(parts);
	e->o = out;
}


/* ---- helpers and scratch arrays ---- */

/* The helpers the kernels call and the static scratch they use: dlc_pa and
 * dlc_pb hold packed matrix panels, dlc_cs the batch-inner copies of a
 * convolution's operands, dlc_cw its packed weights.  The helpers themselves
 * are the runtime's header dlrt_kernels.h, included once the element type is
 * defined.  Printed only when a kernel needs them. */
static void emit_helpers(Emit *e)
{
	int64_t pa = 0, pb = 0, cs = 0, cw = 0;
	int mm = 0, conv = 0;
	for (int i = 0; i < e->s->nk; i++) {
		const Kernel *k = &e->s->k[i];
		if (k->dst)
			continue;
		const Node *n = NN(e, k->node);
		if (n->op == OP_MATMUL) {
			const Node *A = NN(e, n->in[0]);
			int r = n->shape.rank, ra = A->shape.rank;
			int64_t N = n->shape.d[r - 1], K = A->shape.d[ra - (n->i[0] ? 2 : 1)];
			int64_t M = matmul_flat(e, n) ? shape_numel(n->shape) / N : n->shape.d[r - 2];
			if (matmul_flat(e, n) && few_rows(e, k->node, M, K, matmul_k(e, n, K)) && N * K <= (1 << 20) &&
			    !prepacked(e, k->node))
				continue; /* summed straight from the operands: nothing packed */
			int64_t kc = K < MM_KC ? K : MM_KC, mc = M < MM_MC ? M : MM_MC, nc = N < MM_NC ? N : MM_NC;
			int64_t nr = MM_NRMAX(e);
			mc = (mc + 5) / 6 * 6;
			nc = (nc + nr - 1) / nr * nr;
			if (kc < 1)
				kc = 1;
			if (mc * kc > pa)
				pa = mc * kc;
			if (nc * kc > pb)
				pb = nc * kc;
			mm = 1;
		} else if (n->op == OP_CONV2D || n->op == OP_CONV2D_DX || n->op == OP_CONV2D_DW) {
			int64_t s, w;
			sched_conv_scratch(e->s, k->node, &s, &w);
			if (s > cs)
				cs = s;
			if (w > cw)
				cw = w;
			conv = 1;
		}
	}
	if (!mm && !conv)
		return;
	FILE *o = e->o;
	fprintf(o, "typedef %s dlc_t; /* the element type */\n#define DLC_ESZ %d\n#include \"dlrt_kernels.h\" /* the "
	           "micro-kernels dlc_* */\n\n", e->T, e->f32 ? 4 : 8);
	fprintf(o, "/* scratch: the widest tile row is 256 bytes, a tile 6 rows */\n_Static_assert(DLC_NR * sizeof(dlc_t) <= 256, "
	           "\"tile too wide\");\n_Static_assert(DLC_MR == 6, \"tile height\");\n");
	if (mm)
		fprintf(o, "static _Alignas(64) dlc_t dlc_pa[DLC_MAXT][%lld], dlc_pb[DLC_MAXT][%lld]; /* packed panels of A and B, "
		           "per thread */\n", (long long)pa, (long long)pb);
	if (conv)
		fprintf(o, "static _Alignas(64) dlc_t dlc_cs[%lld], dlc_cw[%lld]; /* operand copies, packed weights */\n",
		        (long long)cs, (long long)(cw ? cw : 1));
	for (int i = 0; conv && i < e->s->nk; i++) {
		if (!e->s->conv_keep[i])
			continue;
		ConvDims c = sched_conv_dims(e->s, e->s->k[i].node);
		if (e->s->conv_keep[i] & 1)
			fprintf(o, "static _Alignas(64) dlc_t dlc_bx%d[%lld]; /* input copy of %s, for its weight gradient */\n", i,
			        c.C * c.HP * c.WP * c.NB, kernel_name(e, &e->s->k[i]));
		if (e->s->conv_keep[i] & 2)
			fprintf(o, "static _Alignas(64) dlc_t dlc_by%d[%lld]; /* output gradient copy of %s, for the weight "
			           "gradient */\n", i, c.Co * c.OH * c.OW * c.NB, kernel_name(e, &e->s->k[i]));
	}
	fprintf(o, "\n");
}

/* ---- the file ---- */

static const char *dlrt_dtype_c(DType t)
{
	return t == DT_F32 ? "DLRT_F32" : t == DT_F64 ? "DLRT_F64" : "DLRT_I32";
}

static const char *init_c(int init)
{
	static const char *const names[] = {
		"DLRT_INIT_NONE", "DLRT_INIT_ZEROS", "DLRT_INIT_ONES", "DLRT_INIT_CONST", "DLRT_INIT_UNIFORM",
		"DLRT_INIT_NORMAL", "DLRT_INIT_XAVIER_UNIFORM", "DLRT_INIT_XAVIER_NORMAL", "DLRT_INIT_HE_UNIFORM",
		"DLRT_INIT_HE_NORMAL", "DLRT_INIT_ORTHOGONAL", "DLRT_INIT_TRUNC_NORMAL", "DLRT_INIT_TORCH_DEFAULT",
		"DLRT_INIT_DATA",
	};
	return init >= 0 && init < (int)(sizeof names / sizeof names[0]) ? names[init] : "DLRT_INIT_NONE";
}

/* A C string literal of s: quotes, backslashes and every '?' escaped (a
 * "??/" would be a trigraph, a backslash, under -std=c11), other bytes
 * outside printable ASCII in octal. */
static const char *c_string(Emit *e, const char *s)
{
	size_t n = strlen(s);
	char *o = arena_alloc(e->a, 4 * n + 3);
	size_t k = 0;
	o[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\' || ch == '?') {
			o[k++] = '\\';
			o[k++] = (char)ch;
		} else if (ch < 32 || ch >= 127) {
			k += (size_t)sprintf(o + k, "\\%03o", ch);
		} else {
			o[k++] = (char)ch;
		}
	}
	o[k++] = '"';
	o[k] = 0;
	return o;
}

/* Text for the inside of a C comment: printable ASCII as it is, except
 * that no comment delimiter can form ('*' after '/', '/' after '*'), nor a
 * trigraph ("??/" is a backslash) nor a backslash (which, before a newline,
 * would splice the lines); those bytes, '%' and the rest as %XX. */
static const char *c_comment(Emit *e, const char *s)
{
	size_t n = strlen(s);
	char *o = arena_alloc(e->a, 3 * n + 1);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i], prev = i ? (unsigned char)s[i - 1] : 0;
		if (ch < 32 || ch >= 127 || ch == '\\' || ch == '%' || (ch == '?' && prev == '?') ||
		    (ch == '/' && prev == '*') || (ch == '*' && prev == '/'))
			k += (size_t)sprintf(o + k, "%%%02X", ch);
		else
			o[k++] = (char)ch;
	}
	o[k] = 0;
	return o;
}

static void emit_array(Emit *e, const char *name, DType dt, Shape s, const char *comment)
{
	char sb[160];
	const char *T = dt == DT_I32 ? "int32_t" : dt == DT_F64 ? "double" : "float";
	fprintf(e->o, "static %s %s[%lld]; /* %s %s */\n", T, name, (long long)shape_numel(s), comment,
	        shape_str(s, sb, sizeof sb));
}

static void emit_data_spec(Emit *e, const char *field, const DataSpec *ds)
{
	static const char *const kinds[] = {"DLRT_DATA_NONE", "DLRT_DATA_IDX", "DLRT_DATA_CSV", "DLRT_DATA_NPY",
	                                    "DLRT_DATA_SPLIT", "DLRT_DATA_GEN", "DLRT_DATA_TEXT"};
	fprintf(e->o, "\t.%s = {.kind = %s, .nfiles = %d", field, kinds[ds->kind], ds->nfiles);
	if (ds->nfiles) {
		fprintf(e->o, ", .files = {");
		for (int i = 0; i < ds->nfiles; i++)
			fprintf(e->o, "%s%s", i ? ", " : "", c_string(e, ds->files[i]));
		fprintf(e->o, "}");
	}
	fprintf(e->o, ", .csv_header = %d", ds->csv_header);
	if (ds->standardize)
		fprintf(e->o, ", .standardize = 1");
	if (ds->kind == DATA_SPLIT)
		fprintf(e->o, ", .split = %.17g, .split_seed = %lldu", ds->split, (long long)ds->split_seed);
	if (ds->kind == DATA_TEXT)
		fprintf(e->o, ", .seq = %lld", (long long)ds->seq);
	if (ds->kind == DATA_GEN)
		fprintf(e->o, ",\n\t\t.gen = {.kind = DLRT_GEN_%s, .n = %lld, .k = %lld, .noise = %.17g, "
		        ".factor = %.17g, .radius = %.17g, .std = %.17g, .turns = %.17g",
		        ds->gen == GEN_MOONS ? "MOONS" : ds->gen == GEN_CIRCLES ? "CIRCLES" :
		        ds->gen == GEN_GAUSSIANS ? "GAUSSIANS" : ds->gen == GEN_SPIRAL ? "SPIRAL" :
		        ds->gen == GEN_PARENS ? "PARENS" : ds->gen == GEN_HIST ? "HIST" : ds->gen == GEN_WORDS ? "WORDS" : "CHECKERBOARD", (long long)ds->gen_n, (long long)ds->gen_k, ds->gen_noise, ds->gen_factor,
		        ds->gen_radius, ds->gen_std, ds->gen_turns);
	if (ds->kind == DATA_GEN && ds->gen == GEN_PARENS)
		fprintf(e->o, ",\n\t\t        .pairs = %lld, .min_len = %lld, .max_len = %lld, .negatives = %.17g, .near_miss = %lld",
		        (long long)ds->gen_pairs, (long long)ds->gen_min_len, (long long)ds->gen_max_len,
		        ds->gen_negatives, (long long)ds->gen_near_miss);
	if (ds->kind == DATA_GEN && ds->gen == GEN_HIST)
		fprintf(e->o, ",\n\t\t        .vocab = %lld, .min_len = %lld, .max_len = %lld", (long long)ds->gen_vocab,
		        (long long)ds->gen_max_len, (long long)ds->gen_max_len);
	if (ds->kind == DATA_GEN && ds->gen == GEN_WORDS)
		fprintf(e->o, ",\n\t\t        .file = %s, .part = %lld, .min_len = %lld, .max_len = %lld, "
		        ".test_share = %.17g, .valid_share = %.17g", c_string(e, ds->gen_file), (long long)ds->gen_part,
		        (long long)ds->gen_min_len, (long long)ds->gen_max_len, ds->gen_test_share, ds->gen_valid_share);
	if (ds->kind == DATA_GEN)
		fprintf(e->o, "}");
	fprintf(e->o, "},\n");
}

/* The printer's state for one schedule. */
static void setup(Emit *e, const Schedule *s, const MemPlan *mp, Arena *a)
{
	const TrainGraph *tg = s->tg;
	e->tg = tg;
	e->m = tg->m;
	e->g = tg->m->g;
	e->a = a;
	e->f32 = e->g->fdtype == DT_F32;
	e->T = e->f32 ? "float" : "double";
	e->s = s;
	e->mp = mp;
	e->done = arena_alloc(a, sizeof(int) * e->g->nnodes);
	const char *p = e->m->name_prefix ? e->m->name_prefix : "";
	e->lr = arena_printf(a, "%slr", p);
	e->key = arena_printf(a, "%srng_key", p);
	e->row0 = arena_printf(a, "%srow0", p);
}

/* The floating-point operations of node id and the values inlined into its
 * kernel, for a full batch. */
static double tree_flops(const Emit *e, NodeId id)
{
	const Node *n = NN(e, id);
	double f = graph_work(e->g, id);
	for (int k = 0; k < n->nin; k++)
		if (e->s->st[n->in[k]] == ST_INLINE)
			f += tree_flops(e, n->in[k]);
	return f;
}

/* A kernel's floating-point operations for a full batch: its node's tree,
 * its epilogue's, an update in the same loop; a loop's, its body's kernels
 * times the steps. */
static double kernel_flops(const Emit *e, const Kernel *k)
{
	if (k->dst)
		return 0;
	const Node *n = NN(e, k->node);
	if (n->op == OP_SCAN) {
		double f = 0;
		for (int i = 0; i < e->s->nk; i++)
			if (e->s->k[i].loop == n->i[0] + 1)
				f += kernel_flops(e, &e->s->k[i]);
		return f * (double)e->g->loops[n->i[0]].T;
	}
	double f = n->op == OP_ASSIGN ? tree_flops(e, n->in[1]) : tree_flops(e, k->node);
	if (e->s->epi_of[k->node]) /* a product whose epilogue this kernel's node is */
		f += tree_flops(e, e->s->epi_of[k->node]);
	if (k->also)
		f += tree_flops(e, NN(e, k->also)->in[1]);
	return f;
}

/* train_step's kernels in the order it calls them, with their work: the
 * trainer's --profile calls them one at a time and times each. */
static void emit_kernel_table(Emit *e, FILE *out)
{
	const Model *m = e->m;
	fprintf(out, "/* train_step's kernels in order, each with its floating-point operations for a full batch\n"
	             " * and the factor of the learning rate it runs at: the trainer's --profile times them */\n");
	fprintf(out, "static void %s_set_lr(double learning_rate)\n{\n\t%s = (%s)learning_rate;\n}\n\n", m->name, e->lr,
	        e->T);
	fprintf(out, "static const dlrt_kernel %s_kernels[] = {\n", m->name);
	int nc = m->nclauses ? m->nclauses : 1;
	for (int c = 0; c < nc; c++) {
		double scale = m->nclauses && m->clauses[0].opt.lr > 0 ? m->clauses[c].opt.lr / m->clauses[0].opt.lr : 1.0;
		int want = m->nclauses ? ENTRY_CLAUSE << c : ENTRY_TRAIN_STEP;
		for (int i = 0; i < e->s->nk; i++)
			if ((e->s->k[i].entries & want) && !e->s->k[i].loop)
				fprintf(out, "\t{%s, %s, %.6g, %.17g},\n", c_string(e, kernel_name(e, &e->s->k[i])),
				        kernel_name(e, &e->s->k[i]), kernel_flops(e, &e->s->k[i]), scale);
	}
	fprintf(out, "};\n\n");
}

void emitc_model(FILE *out, const Schedule *s, const MemPlan *mp, int with_main)
{
	Arena arena = {0};
	Emit E;
	memset(&E, 0, sizeof E);
	Emit *e = &E;
	e->o = out;
	setup(e, s, mp, &arena);
	const Model *m = e->m;
	Graph *g = e->g;
	int nt = g->ntensors;

	/* header */
	int64_t nparams = 0, flops = 0;
	for (int t = 0; t < nt; t++)
		if (g->tensors[t].role == ROLE_PARAM)
			nparams += shape_numel(g->tensors[t].shape);
	for (int i = 0; i < e->s->nk; i++)
		if (!e->s->k[i].dst && NN(e, e->s->k[i].node)->op != OP_ASSIGN)
			flops += graph_flops(g, e->s->k[i].node);
	fprintf(out, "/* %s.c - the model %s, compiled by dlc %s from %s.\n *\n", m->name, m->name, DLC_VERSION,
	        c_comment(e, m->source));
	fprintf(out, " * %lld parameters, element type %s, batch %lld.\n", (long long)nparams, dtype_name(g->fdtype),
	        (long long)g->batch);
	if (m->ndims) {
		fprintf(out, " * Dims:");
		for (int i = 0; i < m->ndims; i++)
			fprintf(out, "%s %s = %lld", i ? "," : "", m->dim_names[i], (long long)m->dim_values[i]);
		fprintf(out, ".\n");
	}
	fprintf(out, " * Training step: %d kernels, %.3f MFLOP per step (%.3f per example).\n", e->s->nk, flops / 1e6,
	        g->batch ? flops / 1e6 / (double)g->batch : 0.0);
	if (m->nclauses) {
		fprintf(out, " * Entry points: %s_forward (loss and outputs), %s_gradients (and every\n"
		             " * parameter's gradient d_NAME), one per step clause, each its loss, its\n"
		             " * parameters' gradients and its update:", m->name, m->name);
		for (int c = 0; c < m->nclauses; c++)
			fprintf(out, "%s %s_step_%s (%s)", c ? "," : "", m->name, m->clauses[c].name,
			        optim_name(m->clauses[c].opt.kind));
		fprintf(out, ";\n * and %s_train_step, every clause once.\n */\n", m->name);
		fprintf(out, "/* lr is a runtime value (each clause's argument); the optimizers' other\n"
		             " * settings are constants of this file. */\n");
	} else if (m->policy_only) {
		fprintf(out, " * The policy of an agent, for one observation: %s_gradients chooses its\n"
		             " * action in training mode (sampling, dropout), %s_forward in evaluation mode\n"
		             " * (the greedy action); neither computes a gradient, and %s_train_step is\n"
		             " * %s_gradients.  The runtime copies the model's params into it.\n */\n",
		        m->name, m->name, m->name, m->name);
	} else if (has_update_entry(e))
		fprintf(out, " * Entry points: %s_forward (loss and outputs), %s_gradients (and every\n"
		             " * parameter's gradient d_NAME), %s_train_step (and the %s update);\n"
		             " * %s_update is the update alone, from the gradients d_NAME as they\n"
		             " * stand (the runtime's --shards and MPI ranks combine them first).\n */\n",
		        m->name, m->name, m->name, optim_name(m->opt.kind), m->name);
	else
		fprintf(out, " * Entry points: %s_forward (loss and outputs), %s_gradients (and every\n"
		             " * parameter's gradient d_NAME), %s_train_step (and the %s update).\n */\n",
		        m->name, m->name, m->name, optim_name(m->opt.kind));
	if (!m->nclauses && !m->policy_only && m->opt.kind != OPT_NEWTON && m->opt.kind != OPT_NEWTON_CG) {
		const char *k = optim_constants(e->a, &m->opt);
		fprintf(out, "/* The %s update: lr is a runtime value (train_step's argument: --lr and\n"
		             " * schedules change it)%s%s%s. */\n", optim_name(m->opt.kind),
		        *k ? "; its other settings (" : "", k, *k ? ") are constants of this file" : "");
	}
	fprintf(out, "#include <math.h>\n#include <stdint.h>\n#include \"dlrt.h\"\n\n");
	if (m->rl.env == ENV_USER && !m->name_prefix)
		fprintf(out, "/* the environment: dlrt_user_env (runtime/dlrt_env.h); the file's FNV-1a hash %016llx\n"
		             " * (a cache of compiled code keyed by this text sees a change to it) */\n#include \"%s\"\n\n",
		        (unsigned long long)file_hash(m->rl.env_file), m->rl.env_file);
	fprintf(out, "/* the most threads the parallel kernels have scratch for */\n#ifndef DLC_MAXT\n#define DLC_MAXT 16\n#endif\n\n");
	fprintf(out, "/* Under gcc each kernel stays a function of its own (DLC_KERNEL): gcc 12 at -O3 with\n"
	             " * AVX-512 vectorises some runs of kernels inlined into one entry point wrong.  A kernel\n"
	             " * whose loop holds two where ops is also compiled without if-conversion\n"
	             " * (DLC_KERNEL_SELECTS): gcc's masked loads for them read the wrong lanes. */\n"
	             "#if defined(__GNUC__) && !defined(__clang__)\n"
	             "#define DLC_KERNEL __attribute__((noinline))\n"
	             "#define DLC_KERNEL_SELECTS __attribute__((noinline, optimize(\"no-tree-loop-if-convert\")))\n"
	             "#else\n#define DLC_KERNEL\n#define DLC_KERNEL_SELECTS\n#endif\n\n");
	emit_helpers(e);

	/* storage */
	fprintf(out, "/* ---- tensors ---- */\n");
	for (int t = 0; t < nt; t++) {
		const Tensor *T = &g->tensors[t];
		const char *what = T->role == ROLE_PARAM ? "param" : T->role == ROLE_INPUT ? "input"
		                   : T->role == ROLE_LABEL ? "label" : "optimizer state";
		if (T->role == ROLE_STATE)
			what = T->of_param >= 0 ? arena_printf(&arena, "optimizer state of %s", g->tensors[T->of_param].name)
			                        : "state";
		if (T->role == ROLE_HYPER)
			what = arena_printf(&arena, "hyper-parameter, %s by default (--set %s=VALUE)", lit(e, T->init_a), T->name);
		if (T->role == ROLE_DIR)
			what = arena_printf(&arena, "direction v for the Hessian-vector product of %s",
			                    g->tensors[T->of_param].name);
		emit_array(e, e->s->buf[T->node], T->dtype, T->shape, what);
	}
	fprintf(out, "\n/* ---- gradients and intermediate values ---- */\n");
	for (int t = 0; t < nt; t++)
		if (e->s->grad_buf[t]) {
			NodeId gid = e->tg->grads[t];
			int own = e->s->buf[gid] == e->s->grad_buf[t];
			if (!own)
				emit_array(e, e->s->grad_buf[t], g->tensors[t].dtype, g->tensors[t].shape,
				           arena_printf(&arena, "gradient of %s", g->tensors[t].name));
		}
	for (uint32_t id = 1; id < g->nnodes; id++) {
		if (!e->s->any[id] || e->s->st[id] != ST_OWN || e->s->inplace[id] || e->s->epi[id] || e->mp->off[id] >= 0 ||
		    e->s->slot[id])
			continue;
		const char *what = op_info[NN(e, id)->op].name;
		for (int t = 0; t < nt; t++)
			if (e->tg->grads[t] == id && e->s->grad_buf[t] == e->s->buf[id])
				what = arena_printf(&arena, "gradient of %s", g->tensors[t].name);
		emit_array(e, e->s->buf[id], (DType)NN(e, id)->dtype, NN(e, id)->shape, what);
	}
	if (e->mp->arena_size) {
		fprintf(out, "\n/* ---- the arena: intermediate arrays that are never live at the same time\n"
		             " * share memory (%lld elements planned for %lld) ---- */\n",
		        (long long)e->mp->arena_size, (long long)e->mp->naive_size);
		fprintf(out, "static %s arena[%lld];\n", e->T, (long long)e->mp->arena_size);
		for (uint32_t id = 1; id < g->nnodes; id++) {
			if (!e->s->any[id] || e->mp->off[id] < 0)
				continue;
			char sb[160];
			fprintf(out, "static %s *const %s = arena + %lld; /* %s %s, live in kernels %d-%d */\n", e->T,
			        e->s->buf[id], (long long)e->mp->off[id], op_info[NN(e, id)->op].name,
			        shape_str(NN(e, id)->shape, sb, sizeof sb), e->mp->first[id], e->mp->last[id]);
		}
	}
	for (int i = 0; i < e->s->nk; i++)
		if (e->s->k[i].dst && e->s->k[i].declare)
			emit_array(e, e->s->k[i].dst, (DType)NN(e, e->s->k[i].node)->dtype, NN(e, e->s->k[i].node)->shape, "copy");
	for (int L = 0; L < g->nloops; L++) {
		const Loop *l = &g->loops[L];
		for (int k = 0; k < l->nslot; k++) {
			const LoopSlot *sl = &l->slot[k];
			const Node *v = NN(e, sl->var);
			char sb[160];
			if (!e->s->any[sl->var])
				continue;
			if (sl->kind == SLOT_CARRY && e->s->carry_ptr[sl->var]) {
				emit_array(e, made_name(e, arena_printf(&arena, "%s_init", e->s->buf[sl->var])), (DType)v->dtype, v->shape,
				           arena_printf(&arena, "loop %d: the state before the first step,", L));
				fprintf(out, "static %s *%s; /* loop %d: the state, the previous step's slot of its stack */\n",
				        ctype((DType)v->dtype), e->s->buf[sl->var], L);
			} else if (sl->kind == SLOT_CARRY)
				emit_array(e, e->s->buf[sl->var], (DType)v->dtype, v->shape,
				           arena_printf(&arena, "loop %d: the state carried from step to step,", L));
			else
				fprintf(out, "static %s *%s; /* loop %d: the step's slice %s of %s */\n", ctype((DType)v->dtype),
				        e->s->buf[sl->var], L, shape_str(v->shape, sb, sizeof sb),
				        e->s->buf[sched_storage_of(e->s, sl->src)]);
		}
	}
	for (int ki = 0; ki < e->s->nk; ki++) {
		const Kernel *k = &e->s->k[ki];
		const char *pk = !k->dst && k->loop ? prepacked(e, k->node) : NULL;
		if (!pk)
			continue;
		const Node *n = NN(e, k->node), *A = NN(e, n->in[0]);
		long long N = (long long)n->shape.d[n->shape.rank - 1], K = (long long)A->shape.d[A->shape.rank - (n->i[0] ? 2 : 1)];
		long long nr = MM_NRMAX(e);
		fprintf(out, "static _Alignas(64) dlc_t %s[%lld]; /* loop %d: %s packed once for its products */\n", pk,
		        K * ((N + nr - 1) / nr * nr), k->loop - 1, e->s->buf[n->in[1]]);
	}
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (e->s->any[id] && e->s->slot[id]) {
			char sb[160];
			fprintf(out, "static %s *%s; /* loop %lld: %s %s, written into its step's slot of %s */\n",
			        ctype((DType)NN(e, id)->dtype), e->s->buf[id], (long long)NN(e, e->s->slot[id])->i[0],
			        op_info[NN(e, id)->op].name, shape_str(NN(e, id)->shape, sb, sizeof sb), e->s->buf[e->s->slot[id]]);
		}
	fprintf(out, "static %s %s; /* learning rate of the current step */\n", e->T, e->lr);
	if (m->uses_rng)
		fprintf(out, "static uint64_t %s; /* random key of the current step (dropout, random tensors) */\n", e->key);
	if (m->policy_only)
		fprintf(out, "static int64_t %s; /* the row of the episode that row 0 stands for (random draws) */\n",
		        e->row0);
	if (m->nrandom) {
		/* the random tensors, which the trainer may feed from files */
		fprintf(out, "static dlrt_noise %s_noise[] = {\n", m->name);
		for (int k = 0; k < m->nrandom; k++) {
			const Node *r = NULL;
			for (NodeId id = 1; id < g->nnodes && !r; id++)
				if (NN(e, id)->op == OP_RANDOM && NN(e, id)->i[2] == k)
					r = NN(e, id);
			if (!r)
				DLC_INTERNAL("random tensor %d has no node", k);
			fprintf(out, "\t{.name = %s, .rank = %d, .shape = {",
			        c_string(e, r->name ? r->name : arena_printf(e->a, "random%d", k + 1)), r->shape.rank);
			for (int j = 0; j < r->shape.rank; j++)
				fprintf(out, "%s%lld", j ? ", " : "", (long long)r->shape.d[j]);
			fprintf(out, "%s}, .numel = %lld},\n", r->shape.rank ? "" : "0", (long long)shape_numel(r->shape));
		}
		fprintf(out, "};\n");
	}
	fprintf(out, "\n");

	/* kernels */
	fprintf(out, "/* ---- kernels ---- */\n\n");
	for (int i = 0; i < e->s->nk; i++)
		emit_kernel(e, &e->s->k[i]);

	/* entry points */
	static const char *const entry[4] = {"forward", "gradients", "train_step", "hvp"};
	for (int en = 0; en < (e->tg->hv ? 4 : 3); en++) {
		if (en == 2 && m->nclauses) {
			/* each step clause's entry point, and train_step: every clause
			 * once, each at its own rate relative to the first's */
			for (int c = 0; c < m->nclauses; c++) {
				const StepClause *sc = &m->clauses[c];
				fprintf(out, "/* step clause %s: its loss, the gradients of its %d parameter%s and its %s update */\n",
				        sc->name, sc_count(g, sc), sc_count(g, sc) == 1 ? "" : "s", optim_name(sc->opt.kind));
				fprintf(out, "static void %s_step_%s(int64_t n, double learning_rate)\n{\n\t%s = (%s)learning_rate;\n",
				        m->name, sc->name, e->lr, e->T);
				for (int i = 0; i < e->s->nk; i++)
					if ((e->s->k[i].entries & (ENTRY_CLAUSE << c)) && !e->s->k[i].loop)
						fprintf(out, "\t%s(n);\n", kernel_name(e, &e->s->k[i]));
				fprintf(out, "}\n\n");
			}
			fprintf(out, "static void %s_train_step(int64_t n, double learning_rate)\n{\n", m->name);
			for (int c = 0; c < m->nclauses; c++)
				fprintf(out, "\t%s_step_%s(n, learning_rate * %s);\n", m->name, m->clauses[c].name,
				        lit(e, m->clauses[0].opt.lr > 0 ? m->clauses[c].opt.lr / m->clauses[0].opt.lr : 1.0));
			fprintf(out, "}\n\n");
			continue;
		}
		if (en == 2)
			fprintf(out, "static void %s_%s(int64_t n, double learning_rate)\n{\n\t%s = (%s)learning_rate;\n",
			        m->name, entry[en], e->lr, e->T);
		else
			fprintf(out, "static void %s_%s(int64_t n)\n{\n", m->name, entry[en]);
		for (int i = 0; i < e->s->nk; i++)
			if ((e->s->k[i].entries & (1 << en)) && !e->s->k[i].loop)
				fprintf(out, "\t%s(n);\n", kernel_name(e, &e->s->k[i]));
		fprintf(out, "}\n\n");
	}
	if (has_update_entry(e)) {
		fprintf(out, "/* the %s update alone: train_step's kernels that gradients does not run */\n",
		        optim_name(m->opt.kind));
		fprintf(out, "static void %s_update(int64_t n, double learning_rate)\n{\n\t%s = (%s)learning_rate;\n",
		        m->name, e->lr, e->T);
		for (int i = 0; i < e->s->nk; i++)
			if (is_update_kernel(&e->s->k[i]))
				fprintf(out, "\t%s(n);\n", kernel_name(e, &e->s->k[i]));
		fprintf(out, "}\n\n");
	}

	emit_kernel_table(e, out);

	/* descriptor */
	fprintf(out, "/* ---- the model descriptor the runtime drives ---- */\n");
	for (int t = 0; t < nt; t++) { /* the values of `const` tensors */
		const Tensor *T = &g->tensors[t];
		if (!T->data)
			continue;
		int64_t cn = shape_numel(T->shape);
		fprintf(out, "static const double %s_const_%d[%lld] = { /* %s */", m->name, t, (long long)cn, T->name);
		for (int64_t i = 0; i < cn; i++)
			fprintf(out, "%s%.17g", i % 6 ? ", " : i ? ",\n\t" : "\n\t", T->data[i]);
		fprintf(out, "\n};\n");
	}
	fprintf(out, "static dlrt_tensor %s_tensors[] = {\n", m->name);
	int ntd = 0, acc_out = -1, acc_label = -1, pos = 0;
	/* where each output lands in tensors[]: declared ones first */
	int *out_at = arena_alloc(e->a, sizeof(int) * (size_t)(m->noutputs + 1));
	for (int pass = 0, k = nt; pass < 2; pass++)
		for (int i = 0; i < m->noutputs; i++)
			if (m->outputs[i].hidden == pass)
				out_at[i] = k++;
	for (int t = 0; t < nt; t++) {
		const Tensor *T = &g->tensors[t];
		static const char *const roles[] = {"DLRT_PARAM", "DLRT_INPUT", "DLRT_LABEL", "DLRT_STATE", "DLRT_DIRECTION",
		                                     "DLRT_HYPER"};
		fprintf(out, "\t{.name = %s, .role = %s, .dtype = %s, .rank = %d, .shape = {", c_string(e, T->name),
		        roles[T->role], dlrt_dtype_c(T->dtype), T->shape.rank);
		for (int k = 0; k < T->shape.rank; k++)
			fprintf(out, "%s%lld", k ? ", " : "", (long long)T->shape.d[k]);
		if (T->shape.rank == 0) /* a scalar: ISO C has no empty braces */
			fprintf(out, "0");
		fprintf(out, "}, .numel = %lld, .data = %s, .grad = %s, .batch_axis = %d", (long long)shape_numel(T->shape),
		        e->s->buf[T->node],
		        e->s->grad_buf[t] ? e->s->grad_buf[t]
		        : T->role == ROLE_DIR && e->s->hv_buf[T->of_param] ? e->s->hv_buf[T->of_param] : "NULL", T->bax);
		if ((T->role == ROLE_STATE || T->role == ROLE_HYPER) && T->init)
			fprintf(out, ", .init = %s, .init_a = %s", init_c(T->init), lit(e, T->init_a));
		if (T->role == ROLE_STATE && !strcmp(init_c(T->init), "DLRT_INIT_NORMAL")) /* spectral_norm's vectors: a stream of their own */
			fprintf(out, ", .init_b = %s, .init_stream = %d", lit(e, T->init_b), 1000000 + t);
		if (T->role == ROLE_PARAM)
			fprintf(out, ",\n\t .init = %s, .init_a = %s, .init_b = %s, .fan_in = %lld, .fan_out = %lld, "
			        ".init_stream = %d",
			        init_c(T->init), lit(e, T->init_a), lit(e, T->init_b), (long long)T->fan_in,
			        (long long)T->fan_out, T->data ? 0 : pos++);
		for (int c = 0; T->role == ROLE_PARAM && c < m->nclauses; c++)
			if (m->clauses[c].params[t]) {
				fprintf(out, ", .clause = %d", c + 1);
				break;
			}
		if (T->role == ROLE_PARAM && T->init_c != 0)
			fprintf(out, ", .init_c = %s", lit(e, T->init_c));
		if (T->data)
			fprintf(out, ", .init_data = %s_const_%d", m->name, t);
		if (T->classes)
			fprintf(out, ", .classes = %lld", (long long)T->classes);
		if (T->has_ignore)
			fprintf(out, ", .has_ignore = 1, .ignore_label = %lld", (long long)T->ignore_label);
		if (T->carry_out)
			fprintf(out, ", .carry_from = %d", 1 + out_at[T->carry_out - 1]);
		fprintf(out, "},\n");
		if (t == m->accuracy_label)
			acc_label = ntd;
		ntd++;
	}
	/* declared outputs first, then the ones dlc adds (the accuracy scores) */
	int ndeclared = 0;
	for (int pass = 0; pass < 2; pass++)
	for (int i = 0; i < m->noutputs; i++) {
		if (m->outputs[i].hidden != pass)
			continue;
		ndeclared += !pass;
		const Node *n = NN(e, m->outputs[i].node);
		fprintf(out, "\t{.name = %s, .role = DLRT_OUTPUT, .dtype = %s, .rank = %d, .shape = {",
		        c_string(e, m->outputs[i].name), dlrt_dtype_c((DType)n->dtype), n->shape.rank);
		for (int k = 0; k < n->shape.rank; k++)
			fprintf(out, "%s%lld", k ? ", " : "", (long long)n->shape.d[k]);
		if (n->shape.rank == 0)
			fprintf(out, "0");
		fprintf(out, "}, .numel = %lld, .data = %s, .batch_axis = %d", (long long)shape_numel(n->shape),
		        e->s->out_buf[i], n->bax == 0 ? 0 : -1);
		if (n->bax == 0 && graph_batch_slots(g, m->outputs[i].node) > 1)
			fprintf(out, ", .slots = %lld", (long long)graph_batch_slots(g, m->outputs[i].node));
		if (m->outputs[i].data_free)
			fprintf(out, ", .data_free = 1");
		if (m->outputs[i].eval_only)
			fprintf(out, ", .eval_only = 1");
		fprintf(out, "},\n");
		if (i == m->accuracy_output)
			acc_out = ntd;
		ntd++;
	}
	fprintf(out, "};\n\n");
	if (e->tg->nprobe)
		emit_probe_table(e);
	/* the vocabulary of a character-level model, byte i having id i */
	if (m->nvocab) {
		fprintf(out, "static const unsigned char %s_vocab[%d] = {", m->name, m->nvocab);
		for (int i = 0; i < m->nvocab; i++)
			fprintf(out, "%s%d", i % 16 ? ", " : i ? ",\n\t" : "\n\t", m->vocab[i]);
		fprintf(out, "\n};\n\n");
	}
	if (m->generator)
		fprintf(out, "extern const dlrt_model %s_model; /* its generator: below */\n", m->generator);
	if (m->nclauses) {
		static const char *const oc[] = {"DLRT_OPT_SGD", "DLRT_OPT_ADAM", "DLRT_OPT_ADAMW", "DLRT_OPT_RMSPROP",
		                                 "DLRT_OPT_ADAGRAD", "DLRT_OPT_NEWTON", "DLRT_OPT_NEWTON_CG"};
		fprintf(out, "static const dlrt_clause %s_clauses[] = {\n", m->name);
		for (int c = 0; c < m->nclauses; c++) {
			const StepClause *sc = &m->clauses[c];
			fprintf(out, "\t{.name = %s, .step = %s_step_%s, .loss = %s, .optimizer = %s, .lr = %.17g,\n"
			             "\t .optimizer_constants = %s, .every = %d},\n",
			        c_string(e, sc->name), m->name, sc->name, e->s->clause_loss_buf[c], oc[sc->opt.kind], sc->opt.lr,
			        c_string(e, optim_constants(e->a, &sc->opt)), sc->every);
		}
		fprintf(out, "};\n");
	}
	if (m->rl.rollout && !m->policy_only)
		emit_rl(e);
	fprintf(out, "const dlrt_model %s_model = {\n", m->name);
	fprintf(out, "\t.name = %s,\n\t.source = %s,\n\t.dtype = %s,\n\t.batch = %lld,\n", c_string(e, m->name),
	        c_string(e, m->source), dlrt_dtype_c(g->fdtype), (long long)(g->batch ? g->batch : 1));
	fprintf(out, "\t.ntensors = %d,\n\t.tensors = %s_tensors,\n\t.loss = %s,\n", ntd, m->name, e->s->loss_buf);
	fprintf(out, "\t.forward = %s_forward,\n\t.gradients = %s_gradients,\n\t.train_step = %s_train_step,\n",
	        m->name, m->name, m->name);
	if (has_update_entry(e))
		fprintf(out, "\t.update = %s_update,\n", m->name);
	fprintf(out, "\t.nkernels = (int)(sizeof %s_kernels / sizeof %s_kernels[0]),\n\t.kernels = %s_kernels,\n"
	             "\t.set_lr = %s_set_lr,\n", m->name, m->name, m->name, m->name);
	if (loss_is_row_mean(e))
		fprintf(out, "\t.loss_row_mean = 1,\n");
	if (m->source && file_hash(m->source))
		fprintf(out, "\t.source_hash = 0x%016llxULL,\n", (unsigned long long)file_hash(m->source));
	if (e->tg->hv)
		fprintf(out, "\t.hvp = %s_hvp,\n\t.damping = %.17g,\n\t.cg_iters = %d,\n", m->name, m->opt.damping,
		        m->opt.cg_iters);
	if (m->nclauses)
		fprintf(out, "\t.nclauses = %d,\n\t.clauses = %s_clauses,\n", m->nclauses, m->name);
	fprintf(out, "\t.accuracy_output = %d,\n\t.accuracy_label = %d,\n", acc_out, acc_label);
	static const char *const opt_c[] = {"DLRT_OPT_SGD", "DLRT_OPT_ADAM", "DLRT_OPT_ADAMW", "DLRT_OPT_RMSPROP",
	                                    "DLRT_OPT_ADAGRAD", "DLRT_OPT_NEWTON", "DLRT_OPT_NEWTON_CG"};
	fprintf(out, "\t.optimizer = %s,\n\t.lr = %.17g,\n\t.optimizer_constants = %s,\n\t.epochs = %d,\n",
	        opt_c[m->opt.kind], m->opt.lr, c_string(e, optim_constants(e->a, &m->opt)), m->epochs);
	emit_data_spec(e, "train_data", &m->train_data);
	emit_data_spec(e, "test_data", &m->test_data);
	if (m->valid_data.kind != DATA_NONE)
		emit_data_spec(e, "valid_data", &m->valid_data);
	fprintf(out, "\t.data_dir = %s,\n", m->data_dir ? c_string(e, m->data_dir) : "NULL");
	fprintf(out, "\t.input_scale = %.17g,\n", m->byte_scale);
	fprintf(out, "\t.rng_key = %s%s,\n", m->uses_rng ? "&" : "", m->uses_rng ? e->key : "NULL");
	if (m->generator)
		fprintf(out, "\t.generator = &%s_model,\n", m->generator);
	if (m->nrandom)
		fprintf(out, "\t.noise = %s_noise,\n\t.nnoise = %d,\n", m->name, m->nrandom);
	fprintf(out, "\t.declared_outputs = %d,\n\t.max_threads = DLC_MAXT,\n", ndeclared);
	if (m->steps)
		fprintf(out, "\t.steps = %lld,\n", (long long)m->steps);
	if (e->tg->nprobe)
		fprintf(out, "\t.nnodes = %d,\n\t.nodes = %s_nodes,\n\t.node_inputs = %s_node_inputs,\n", e->tg->nprobe,
		        m->name, m->name);
	if (m->nvocab)
		fprintf(out, "\t.vocab = %s_vocab,\n\t.nvocab = %d,\n", m->name, m->nvocab);
	if (m->rl.rollout && !m->policy_only)
		fprintf(out, "\t.rl = &%s_rl,\n", m->name);
	if (m->policy_only)
		fprintf(out, "\t.row0 = &%s,\n", e->row0);
	fprintf(out, "};\n");
	if (with_main)
		fprintf(out, "\n#ifndef DLC_NO_MAIN\nint main(int argc, char **argv)\n{\n"
		             "#ifdef DLRT_MPI /* built by dlc --mpi: data-parallel under mpirun (docs/mpi.md) */\n"
		             "\treturn dlrt_mpi_main(&%s_model, argc, argv);\n#else\n"
		             "\treturn dlrt_main(&%s_model, argc, argv);\n#endif\n}\n#endif\n", m->name, m->name);
	arena_free(&arena);
}

/* FNV-1a of a file's bytes (0 if it cannot be read). */
static uint64_t file_hash(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint64_t h = 0xcbf29ce484222325ULL;
	int c;
	if (!f)
		return 0;
	while ((c = getc(f)) != EOF)
		h = (h ^ (uint64_t)(unsigned char)c) * 0x100000001b3ULL;
	fclose(f);
	return h;
}

/* Training in an environment: the dlrt_rl descriptor (dlrt.h). */
static void emit_rl(Emit *e)
{
	FILE *out = e->o;
	const Model *m = e->m;
	const RLSpec *rl = &m->rl;
	static const char *const envs[] = {"NULL", "&dlrt_env_cartpole", "&dlrt_env_gridworld", "&dlrt_user_env"};
	if (m->policy)
		fprintf(out, "extern const dlrt_model %s_model; /* its policy: below */\n", m->policy);
	if (rl->ntargets) {
		fprintf(out, "static const int %s_target_dst[] = {", m->name);
		for (int i = 0; i < rl->ntargets; i++)
			fprintf(out, "%s%d", i ? ", " : "", rl->target_dst[i]);
		fprintf(out, "};\nstatic const int %s_target_src[] = {", m->name);
		for (int i = 0; i < rl->ntargets; i++)
			fprintf(out, "%s%d", i ? ", " : "", rl->target_src[i]);
		fprintf(out, "};\n");
	}
	if (rl->nschedules) {
		fprintf(out, "static const dlrt_schedule %s_schedules[] = {\n", m->name);
		for (int i = 0; i < rl->nschedules; i++) {
			const HyperSchedule *h = &rl->schedules[i];
			fprintf(out, "\t{.tensor = %d, .linear = %d, .start = %.17g, .end = %.17g, .steps = %.17g}, /* %s */\n",
			        h->tensor, h->linear, h->start, h->end, h->steps, e->g->tensors[h->tensor].name);
		}
		fprintf(out, "};\n");
	}
	fprintf(out, "static const dlrt_rl %s_rl = {\n", m->name);
	fprintf(out, "\t.rollout = %s,\n\t.env = %s,\n", rl->rollout == ROLLOUT_EPISODE ? "DLRT_ROLLOUT_EPISODE"
	                                                    : "DLRT_ROLLOUT_REPLAY", envs[rl->env]);
	fprintf(out, "\t.config = {.map = %s, .slip = %.17g, .max_steps = %lld},\n", rl->map ? c_string(e, rl->map) : "NULL",
	        rl->slip, (long long)rl->max_steps);
	fprintf(out, "\t.env_name = %s,\n", c_string(e, rl->env == ENV_CARTPOLE ? "cartpole"
	                                                 : rl->env == ENV_GRIDWORLD ? "gridworld" : rl->env_file));
	if (m->policy)
		fprintf(out, "\t.policy = &%s_model,\n\t.policy_output = -1,\n", m->policy);
	fprintf(out, "\t.obs = %d, .action = %d, .returns = %d, .reward = %d, .next_obs = %d, .done = %d,\n", rl->obs,
	        rl->action, rl->returns, rl->reward, rl->next_obs, rl->done);
	fprintf(out, "\t.gamma = %.17g,\n\t.normalize = %d,\n\t.batch_episodes = %d,\n\t.capacity = %lld,\n\t.start = %lld,\n"
	             "\t.episodes = %lld,\n", rl->gamma, rl->normalize, rl->batch_episodes, (long long)rl->capacity,
	        (long long)rl->start, (long long)rl->episodes);
	if (rl->ntargets)
		fprintf(out, "\t.ntargets = %d,\n\t.target_dst = %s_target_dst,\n\t.target_src = %s_target_src,\n"
		             "\t.tau = %.17g,\n\t.target_every = %lld,\n",
		        rl->ntargets, m->name, m->name, rl->tau, (long long)rl->target_every);
	if (rl->nschedules)
		fprintf(out, "\t.nschedules = %d,\n\t.schedules = %s_schedules,\n", rl->nschedules, m->name);
	fprintf(out, "};\n");
}

/* dlc --probe: the forward graph for the runtime's --dot, each node with
 * the arrays of its value and gradient after gradients(). */
static void emit_probe_table(Emit *e)
{
	FILE *out = e->o;
	const TrainGraph *tg = e->tg;
	const Graph *g = e->g;
	int *index = arena_alloc(e->a, sizeof(int) * (g->nnodes + 1));
	int nin = 0;
	for (int i = 0; i < tg->nprobe; i++) {
		NodeId gx = g->adjoint[tg->probe[i]];
		index[tg->probe[i]] = i;
		if (e->s->probe_grad[i] && gx && NN(e, gx)->op == OP_CONST && NN(e, tg->probe[i])->op != OP_PARAM)
			fprintf(out, "static %s %s[1] = {%s};\n", e->T, e->s->probe_grad[i], lit(e, NN(e, gx)->f));
	}
	fprintf(out, "static const int %s_node_inputs[] = {", e->m->name);
	for (int i = 0; i < tg->nprobe; i++) {
		const Node *n = NN(e, tg->probe[i]);
		for (int k = 0; k < n->nin; k++)
			fprintf(out, "%s%d", nin++ ? ", " : "", index[n->in[k]]);
	}
	fprintf(out, "%s};\n", nin ? "" : "0");
	fprintf(out, "static const dlrt_node %s_nodes[] = {\n", e->m->name);
	nin = 0;
	for (int i = 0; i < tg->nprobe; i++) {
		const Node *n = NN(e, tg->probe[i]);
		int leaf = n->op == OP_PARAM || n->op == OP_INPUT || n->op == OP_STATE;
		const char *name = leaf ? g->tensors[n->sym].name : n->name;
		double c = n->op == OP_CONST ? n->f : n->op == OP_COUNT ? (double)n->i[0] * (double)g->batch : 0;
		fprintf(out, "\t{.op = \"%s\", .name = %s, .dtype = %s, .rank = %d, .shape = {", op_info[n->op].name,
		        name ? c_string(e, name) : "NULL", dlrt_dtype_c((DType)n->dtype), n->shape.rank);
		for (int k = 0; k < n->shape.rank; k++)
			fprintf(out, "%s%lld", k ? ", " : "", (long long)n->shape.d[k]);
		fprintf(out, "%s}, .batch_axis = %d, .first_in = %d, .nin = %d, .value = %s, .grad = %s, .c = %s},\n",
		        n->shape.rank ? "" : "0", n->bax == 0 ? 0 : -1, nin, n->nin,
		        e->s->probe_val[i] ? e->s->probe_val[i] : "NULL", e->s->probe_grad[i] ? e->s->probe_grad[i] : "NULL",
		        lit(e, c));
		nin += n->nin;
	}
	fprintf(out, "};\n\n");
}

/* ---- plan dumps: --emit=kernels and --emit=dot ---- */

static void list_inlined(Emit *e, FILE *out, NodeId id, const char **sep)
{
	const Node *n = NN(e, id);
	for (int k = 0; k < n->nin; k++) {
		NodeId in = n->in[k];
		if (e->s->st[in] == ST_INLINE) {
			list_inlined(e, out, in, sep);
			fprintf(out, "%s%%%u %s", *sep, in, op_info[NN(e, in)->op].name);
			*sep = ", ";
		}
	}
}

void emitc_kernels(FILE *out, const Schedule *s, const MemPlan *mp)
{
	Arena arena = {0};
	Emit E;
	memset(&E, 0, sizeof E);
	Emit *e = &E;
	setup(e, s, mp, &arena);
	static const char *const en[16] = {"-", "F", "G", "FG", "S", "FS", "GS", "FGS",
	                                   "H", "FH", "GH", "FGH", "SH", "FSH", "GSH", "FGSH"};
	fprintf(out, "# kernels of %s: entry points F forward, G gradients, S train_step, H hvp", e->m->name);
	for (int c = 0; c < e->m->nclauses; c++)
		fprintf(out, ", %d step %s", c + 1, e->m->clauses[c].name);
	fprintf(out, "\n");
	for (int ki = 0; ki < e->s->nk; ki++) {
		const Kernel *k = &e->s->k[ki];
		const Node *n = NN(e, k->node);
		fprintf(out, "k%d %s [%s", ki, kernel_name(e, k), en[k->entries & 15]);
		for (int c = 0; c < e->m->nclauses; c++)
			if (k->entries & (ENTRY_CLAUSE << c))
				fprintf(out, "%d", c + 1);
		fprintf(out, "]: ");
		if (k->dst) {
			fprintf(out, "copy %%%u -> %s\n", k->node, k->dst);
			continue;
		}
		const char *sep = "";
		NodeId root = n->op == OP_ASSIGN ? k->node : k->node;
		fprintf(out, "%%%u %s", root, op_info[n->op].name);
		if (n->op == OP_ASSIGN)
			fprintf(out, " %s", e->s->buf[n->in[0]]);
		if (e->s->epi[root]) {
			fprintf(out, " + epilogue %%%u %s", e->s->epi[root], op_info[NN(e, e->s->epi[root])->op].name);
			sep = ", ";
			fprintf(out, " {");
			sep = "";
			list_inlined(e, out, e->s->epi[root], &sep);
			fprintf(out, "}");
		}
		sep = "";
		fprintf(out, " inlined {");
		list_inlined(e, out, root, &sep);
		fprintf(out, "}");
		if (k->also) {
			fprintf(out, " + update %%%u assign %s inlined {", k->also, e->s->buf[NN(e, k->also)->in[0]]);
			sep = "";
			list_inlined(e, out, k->also, &sep);
			fprintf(out, "}");
		}
		NodeId w = e->s->epi[root] ? e->s->epi[root] : root;
		if (n->op != OP_ASSIGN && e->s->inplace[w])
			fprintf(out, " in place of %s", e->s->buf[e->s->inplace[w]]);
		else if (n->op != OP_ASSIGN && e->mp->off[w] >= 0)
			fprintf(out, " -> %s at arena+%lld, live k%d-k%d", e->s->buf[w], (long long)e->mp->off[w], e->mp->first[w], e->mp->last[w]);
		else if (n->op != OP_ASSIGN)
			fprintf(out, " -> %s", e->s->buf[w]);
		fputc('\n', out);
	}
	fprintf(out, "# arena: %lld elements (the intermediate arrays hold %lld in all)\n", (long long)e->mp->arena_size,
	        (long long)e->mp->naive_size);
	arena_free(&arena);
}

static void dot_node(Emit *e, FILE *out, NodeId id, const char *indent)
{
	const Node *n = NN(e, id);
	char sb[96];
	const char *label = n->op == OP_PARAM || n->op == OP_INPUT || n->op == OP_STATE ? e->g->tensors[n->sym].name
	                    : op_info[n->op].name;
	const char *shape = (op_info[n->op].flags & OPF_LEAF) && n->op == OP_CONST ? lit(e, n->f)
	                                                                           : shape_str(n->shape, sb, sizeof sb);
	const char *style = n->op == OP_PARAM ? ", shape=box, style=filled, fillcolor=\"#ffe9b3\""
	                    : n->op == OP_INPUT ? ", shape=box, style=filled, fillcolor=\"#d6ecff\""
	                    : n->op == OP_STATE ? ", shape=box, style=filled, fillcolor=\"#eeeeee\""
	                    : e->s->mark[1][id] && !e->s->mark[0][id] ? ", color=\"#b03030\"" : "";
	fprintf(out, "%sn%u [label=\"%s%s%s\\n%s\"%s];\n", indent, id, label, n->name && !(op_info[n->op].flags & OPF_LEAF) ? " " : "",
	        n->name && !(op_info[n->op].flags & OPF_LEAF) ? n->name : "", shape, style);
}

void emitc_dot(FILE *out, const Schedule *s, const MemPlan *mp)
{
	Arena arena = {0};
	Emit E;
	memset(&E, 0, sizeof E);
	Emit *e = &E;
	setup(e, s, mp, &arena);
	uint32_t nn = e->g->nnodes;
	/* which kernel each node belongs to */
	int *kof = arena_alloc(&arena, sizeof(int) * nn);
	for (uint32_t id = 0; id < nn; id++)
		kof[id] = -1;
	for (int ki = 0; ki < e->s->nk; ki++) {
		const Kernel *k = &e->s->k[ki];
		if (k->dst)
			continue;
		kof[k->node] = ki;
		if (e->s->epi[k->node])
			kof[e->s->epi[k->node]] = ki;
	}
	for (uint32_t id = 1; id < nn; id++)
		if (e->s->any[id] && e->s->st[id] == ST_INLINE) {
			NodeId r = id;
			while (e->s->st[r] == ST_INLINE)
				r = e->s->user[r];
			kof[id] = kof[r] >= 0 ? kof[r] : kof[e->s->epi_of[r]];
		}
	fprintf(out, "digraph %s {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n"
	             "  label=\"%s: forward (black) and backward/update (red) graphs; boxes are fused kernels\";\n",
	        e->m->name, e->m->name);
	for (int ki = 0; ki < e->s->nk; ki++) {
		int members = 0;
		for (uint32_t id = 1; id < nn; id++)
			members += e->s->any[id] && kof[id] == ki;
		if (members < 2)
			continue;
		fprintf(out, "  subgraph cluster_k%d {\n    label=\"%s\"; style=rounded; color=\"#7a7a7a\";\n", ki,
		        kernel_name(e, &e->s->k[ki]));
		for (uint32_t id = 1; id < nn; id++)
			if (e->s->any[id] && kof[id] == ki)
				dot_node(e, out, id, "    ");
		fprintf(out, "  }\n");
	}
	for (uint32_t id = 1; id < nn; id++) {
		if (!e->s->any[id])
			continue;
		int members = 0;
		if (kof[id] >= 0)
			for (uint32_t j = 1; j < nn; j++)
				members += e->s->any[j] && kof[j] == kof[id];
		if (kof[id] < 0 || members < 2)
			dot_node(e, out, id, "  ");
	}
	for (uint32_t id = 1; id < nn; id++) {
		if (!e->s->any[id])
			continue;
		const Node *n = NN(e, id);
		for (int k = 0; k < n->nin; k++)
			fprintf(out, "  n%u -> n%u%s;\n", n->in[k], id, e->s->mark[0][id] ? "" : " [color=\"#b03030\"]");
	}
	fprintf(out, "}\n");
	arena_free(&arena);
}

/* The file-scope names every model's C uses, renamed for a second model in
 * the same file (its own arena, scratch and step variables). */
static const char *const shared_names[] = {"arena", "dlc_pa", "dlc_pb", "dlc_cs", "dlc_cw"};

void emitc_second_model(FILE *out, const Schedule *s, const MemPlan *mp)
{
	const char *p = s->m->name_prefix;
	size_t n = sizeof shared_names / sizeof shared_names[0];
	fprintf(out, "\n/* ======== the model %s, in the same file: its file-scope names take the prefix %s ======== */\n",
	        s->m->name, p);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "#define %s %s%s\n", shared_names[i], p, shared_names[i]);
	for (int k = 0; k < s->nk; k++)
		if (s->conv_keep && s->conv_keep[k])
			fprintf(out, "#define dlc_bx%d %sdlc_bx%d\n#define dlc_by%d %sdlc_by%d\n", k, p, k, k, p, k);
	emitc_model(out, s, mp, 0);
	for (size_t i = 0; i < n; i++)
		fprintf(out, "#undef %s\n", shared_names[i]);
	for (int k = 0; k < s->nk; k++)
		if (s->conv_keep && s->conv_keep[k])
			fprintf(out, "#undef dlc_bx%d\n#undef dlc_by%d\n", k, k);
}
