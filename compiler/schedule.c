/* schedule.c - storage, fusion, kernels, names and convolution layouts of
 * a training step (see schedule.h).  Every decision lands in the Schedule;
 * the printers read it. */
#include <stdlib.h>
#include <string.h>
#include "schedule.h"

static const Node *NN(const Schedule *s, NodeId id) { return graph_node(s->g, id); }

/* ---- names ---- */

static const char *const reserved[] = {
	/* the trainer's entry point, and time() */
	"main", "time",
	/* names the generated code uses for itself */
	"n", "lr", "learning_rate", "rng_key", "arena", "i", "j", "k", "r", "c", "p", "q", "i0", "i1", "i2",
	"i3", "i4", "i5", "i6", "i7", "nb", "co", "gi", "oh", "ow", "ci", "ih", "iw", "aik", "part", "mx",
	"se", "lse", "acc", "val", "inv", "total", "count", "plane", "out", "h0", "w0", "at", "gs", "dy", "hk",
	"za", "tb", "up", "sg",
	"yi", "den", "sm", "wsum", /* the losses with options */
	/* locals of the tiled matmul and convolution kernels */
	"kb", "nkb", "pb", "pc", "kc", "jc", "nc", "ic", "mc", "jr", "ir", "mr", "nr", "g", "blk", "col", "ncol",
	"xt", "yt", "toff", "t0", "nt", "j0", "ni", "nj", "oh0", "ow0", "xs", "ws", "ys", "xr", "yr", "dr", "gr", "t", "v", "xo", "yo", "nvr", "npos", "owp", "wp", "ps", "slack", "ntile",
};

/* <math.h>: elementwise ops may call any of these (and their f and l forms) */
static const char *const libm[] = {
	"acos", "asin", "atan", "atan2", "cos", "sin", "tan", "acosh", "asinh", "atanh", "cosh", "sinh",
	"tanh", "exp", "exp2", "expm1", "frexp", "ldexp", "log", "log10", "log1p", "log2", "logb", "ilogb",
	"modf", "scalbn", "scalbln", "cbrt", "fabs", "hypot", "pow", "sqrt", "erf", "erfc", "tgamma", "lgamma",
	"ceil", "floor", "nearbyint", "rint", "lrint", "llrint", "round", "lround", "llround", "trunc", "fmod",
	"remainder", "remquo", "copysign", "nan", "nextafter", "nexttoward", "fdim", "fmax", "fmin", "fma",
};

static int is_libm(const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < sizeof libm / sizeof libm[0]; i++) {
		size_t k = strlen(libm[i]);
		if (!strncmp(libm[i], s, k) && (n == k || (n == k + 1 && (s[k] == 'f' || s[k] == 'l'))))
			return 1;
	}
	return 0;
}

/* The identifiers a DSL name must not take as it is: C's keywords (C23's
 * too), the names the C library headers declare (c_names.def, from
 * scripts/c_names.py), the names reserved to the implementation (a leading
 * '_': _Bool, __LINE__), and the runtime's and the emitter's own prefixes. */
static const char *const c_keywords[] = {
	"alignas", "alignof", "asm", "auto", "bool", "break", "case", "char", "const", "constexpr", "continue",
	"default", "do", "double", "else", "enum", "extern", "false", "float", "for", "fortran", "goto", "if",
	"inline", "int", "long", "nullptr", "register", "restrict", "return", "short", "signed", "sizeof",
	"static", "static_assert", "struct", "switch", "thread_local", "true", "typedef", "typeof",
	"typeof_unqual", "union", "unsigned", "void", "volatile", "while",
};

static const char *const c_names[] = {
#include "c_names.def"
};

static int cmp_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int has_prefix_nocase(const char *s, const char *p)
{
	for (; *p; s++, p++)
		if (*s != *p && !(*p >= 'a' && *p <= 'z' && *s == *p - 'a' + 'A'))
			return 0;
	return 1;
}

static int c_reserved(const char *nm)
{
	if (nm[0] == '_' || has_prefix_nocase(nm, "dlrt_") || has_prefix_nocase(nm, "dlc_"))
		return 1;
	for (size_t i = 0; i < sizeof c_keywords / sizeof c_keywords[0]; i++)
		if (!strcmp(c_keywords[i], nm))
			return 1;
	return is_libm(nm) || bsearch(&nm, c_names, sizeof c_names / sizeof c_names[0], sizeof c_names[0], cmp_name);
}

/* The model's own file-scope names: MODEL_forward, MODEL_const_3, MODEL_step_gen, ... */
static int model_name_taken(const Schedule *s, const char *nm)
{
	static const char *const own[] = {
		"forward", "gradients", "train_step", "model", "tensors", "noise", "vocab", "clauses", "hvp", "nodes",
		"node_inputs", "rl", "target_dst", "target_src", "schedules",
	};
	size_t k = strlen(s->m->name);
	if (strncmp(nm, s->m->name, k) || nm[k] != '_')
		return 0;
	nm += k + 1;
	for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
		if (!strcmp(own[i], nm))
			return 1;
	return !strncmp(nm, "const_", 6) || !strncmp(nm, "step_", 5);
}

static int name_taken(const Schedule *s, const char *nm)
{
	if (model_name_taken(s, nm))
		return 1;
	for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
		if (!strcmp(reserved[i], nm))
			return 1;
	if (c_reserved(nm))
		return 1;
	if (nm[0] == 'v' && nm[1] && strspn(nm + 1, "0123456789") == strlen(nm + 1))
		return 1; /* v<id> are the inlined values */
	for (int i = 0; i < s->nnames; i++)
		if (!strcmp(s->names[i], nm))
			return 1;
	return 0;
}

/* A C identifier for a DSL name: the '.' of a layer's names (enc.W) becomes
 * '_' (enc_W); a name C, its library or the model's own file-scope names
 * keep for themselves (memcpy, _Bool, dlrt_main, MODEL_const_0) takes the
 * prefix dl_ (dl_memcpy), which no suffix could get out of the reserved ones;
 * take_name keeps the result distinct from every other name with a _2, _3
 * suffix.  The descriptors keep the DSL names. */
static const char *c_ident(Schedule *s, const char *name)
{
	if (strchr(name, '.')) {
		char *c = arena_printf(s->a, "%s", name);
		for (char *p = c; *p; p++)
			if (*p == '.')
				*p = '_';
		name = c;
	}
	return c_reserved(name) || model_name_taken(s, name) ? arena_printf(s->a, "dl_%s", name) : name;
}

static const char *take_name(Schedule *s, const char *want)
{
	if (s->m->name_prefix)
		want = arena_printf(s->a, "%s%s", s->m->name_prefix, want);
	want = c_ident(s, want);
	const char *nm = want;
	for (int k = 2; name_taken(s, nm); k++) {
		nm = arena_printf(s->a, "%s_%d", want, k);
		if (c_reserved(nm) || model_name_taken(s, nm)) { /* dlrt -> dlrt_2, MODEL_step -> MODEL_step_2 */
			want = nm = arena_printf(s->a, "dl_%s", want);
			k = 1;
		}
	}
	s->names = arena_grow(s->a, s->names, (size_t)s->nnames, (size_t)s->nnames + 1, sizeof(char *));
	s->names[s->nnames++] = nm;
	return nm;
}

int sched_is_scalar_leaf(const Node *n)
{
	return n->op == OP_CONST || n->op == OP_HYPER || n->op == OP_COUNT;
}

/* The node whose array holds id's values (through reshapes and views). */
NodeId sched_storage_of(const Schedule *s, NodeId id)
{
	while (s->st[id] == ST_VIEW || (s->st[id] == ST_ALIAS && NN(s, id)->op == OP_RESHAPE))
		id = NN(s, id)->in[0];
	return id;
}

static void mark_results(Schedule *s)
{
	const Model *m = s->m;
	uint32_t nn = s->g->nnodes;
	s->result = arena_alloc(s->a, nn);
	s->result[m->loss] = s->result[m->eval_loss] = 1;
	for (int i = 0; i < m->noutputs; i++)
		s->result[m->outputs[i].node] = s->result[m->eval_outputs[i]] = 1;
	for (int c = 0; c < m->nclauses; c++)
		s->result[m->clauses[c].loss] = 1;
	for (int t = 0; t < s->g->ntensors; t++) {
		if (s->tg->grads[t])
			s->result[s->tg->grads[t]] = 1;
		if (s->tg->hv && s->tg->hv[t])
			s->result[s->tg->hv[t]] = 1;
	}
	for (int i = 0; i < s->tg->nprobe; i++) {
		NodeId x = s->tg->probe[i];
		s->result[x] = 1;
		if (s->g->adjoint[x])
			s->result[s->g->adjoint[x]] = 1;
	}
}

static void count_uses(Schedule *s)
{
	uint32_t nn = s->g->nnodes;
	s->nuse = arena_alloc(s->a, sizeof(int) * nn);
	s->user = arena_alloc(s->a, sizeof(NodeId) * nn);
	for (uint32_t id = 1; id < nn; id++) {
		if (!s->any[id])
			continue;
		const Node *n = NN(s, id);
		for (int k = 0; k < n->nin; k++) {
			s->nuse[n->in[k]]++;
			s->user[n->in[k]] = id;
		}
	}
}

int sched_is_ew(const Node *n)
{
	return (op_info[n->op].flags & OPF_EW) != 0;
}

/* Elementwise values with a single elementwise consumer of the same shape
 * are computed inside that consumer's loop. */
static void plan_inline(Schedule *s)
{
	for (uint32_t id = 1; id < s->g->nnodes; id++) {
		if (!s->any[id] || s->st[id] != ST_OWN || s->result[id] || s->nuse[id] != 1)
			continue;
		const Node *n = NN(s, id), *c = NN(s, s->user[id]);
		if (!sched_is_ew(n))
			continue;
		int ok = (sched_is_ew(c) || c->op == OP_ASSIGN || c->op == OP_SUMTO) && shape_eq(n->shape, c->shape);
		if (c->op == OP_SUMTO)
			ok = 1; /* reads its input at every index of the input's own shape */
		if (ok && s->st[s->user[id]] != ST_VIEW && s->region[id] == s->region[s->user[id]])
			s->st[id] = ST_INLINE;
	}
}

/* Nodes (not views) that read the array of node x. */
static void readers(const Schedule *s, NodeId x, NodeId *out, int *n, int max)
{
	for (uint32_t id = x + 1; id < s->g->nnodes; id++) {
		if (!s->any[id])
			continue;
		const Node *r = NN(s, id);
		for (int k = 0; k < r->nin; k++) {
			if (r->in[k] != x)
				continue;
			if ((s->st[id] == ST_VIEW || (s->st[id] == ST_ALIAS && r->op == OP_RESHAPE)) && r->op != OP_ASSIGN)
				readers(s, id, out, n, max);
			else if (*n < max)
				out[(*n)++] = id;
			break;
		}
	}
}

/* The kernel-order key of a node: where its value is computed. */
static NodeId root_of(const Schedule *s, NodeId id)
{
	while (s->st[id] == ST_INLINE)
		id = s->user[id];
	if (s->epi[id])
		return s->epi[id];
	return id;
}

/* An update `assign(T, V)` writes V straight into T when every other
 * reader of T runs before V's kernel and V is elementwise (each element
 * reads T at its own index before overwriting it). */
static void plan_inplace(Schedule *s)
{
	const TrainGraph *tg = s->tg;
	NodeId rd[256];
	for (int u = 0; u < tg->nupdates; u++) {
		const Node *a = NN(s, tg->updates[u]);
		NodeId T = a->in[0], V = a->in[1];
		if (s->st[V] != ST_OWN || !(op_info[NN(s, V)->op].flags & OPF_INPLACE) || s->result[V] || s->inplace[V] ||
		    s->epi_of[V])
			continue;
		int nr = 0, ok = 1;
		readers(s, T, rd, &nr, 256);
		if (nr >= 256)
			continue;
		NodeId vroot = root_of(s, V);
		for (int i = 0; i < nr && ok; i++) {
			NodeId r = rd[i];
			if (r == tg->updates[u])
				continue;
			if (NN(s, r)->op == OP_ASSIGN) {
				ok = 0;
				break;
			}
			NodeId rr = root_of(s, r);
			if (rr == vroot) {
				/* inside V's own loop: must read T directly at the same index */
				for (int k = 0; k < NN(s, r)->nin; k++)
					if (NN(s, r)->in[k] != T && sched_storage_of(s, NN(s, r)->in[k]) == T)
						ok = 0;
				continue;
			}
			if (rr > vroot)
				ok = 0;
		}
		/* the runtime must not find T changed under a result */
		for (uint32_t id = 1; id < s->g->nnodes && ok; id++)
			if (s->any[id] && s->result[id] && sched_storage_of(s, id) == T)
				ok = 0;
		if (ok)
			s->inplace[V] = T;
	}
}

/* Whether node n computes the elementwise consumer of its value in its own
 * kernel: a 2-D matrix product (row by row), a max-pooling gradient (plane
 * by plane: the mask of the ReLU before the pooling), a convolution (an
 * example or a block of examples at a time: the bias and the activation)
 * and a convolution's input gradient (the mask of the activation before
 * it); not a depthwise convolution. */
static int epilogue_producer(const Schedule *s, NodeId id)
{
	const Node *n = NN(s, id);
	if (n->op == OP_MATMUL)
		return n->shape.rank == 2;
	if (n->op == OP_MAXPOOL_GRAD)
		return n->shape.rank == 4;
	if (n->op == OP_CONV2D || n->op == OP_CONV2D_DX) {
		ConvDims c = sched_conv_dims(s, id);
		return !sched_conv_depthwise(&c);
	}
	return 0;
}

/* A producer (above) whose only consumer is elementwise (a bias, an
 * activation, an activation's gradient mask) computes that consumer in its
 * epilogue, while the values are in cache, into the consumer's array. */
static void plan_epilogues(Schedule *s)
{
	for (uint32_t id = 1; id < s->g->nnodes; id++) {
		if (!s->any[id] || s->result[id] || s->nuse[id] != 1 || !epilogue_producer(s, id))
			continue;
		NodeId c = s->user[id];
		while (s->st[c] == ST_INLINE) /* the chain ends in the kernel that stores it */
			c = s->user[c];
		const Node *cn = NN(s, c);
		if (!(op_info[cn->op].flags & OPF_EPILOGUE) || s->st[c] != ST_OWN || s->epi_of[c] ||
		    !shape_eq(cn->shape, NN(s, id)->shape) || s->region[c] != s->region[id])
			continue;
		s->epi[id] = c;
		s->epi_of[c] = id;
	}
}

static void plan_storage(Schedule *s)
{
	Graph *g = s->g;
	uint32_t nn = g->nnodes;
	s->st = arena_alloc(s->a, sizeof(Storage) * nn);
	s->buf = arena_alloc(s->a, sizeof(char *) * nn);
	s->epi = arena_alloc(s->a, sizeof(NodeId) * nn);
	s->epi_of = arena_alloc(s->a, sizeof(NodeId) * nn);
	s->inplace = arena_alloc(s->a, sizeof(NodeId) * nn);
	/* which broadcasts must be materialised: read by a non-elementwise kernel */
	uint8_t *mat = arena_alloc(s->a, nn);
	for (uint32_t id = 1; id < nn; id++) {
		if (!s->any[id])
			continue;
		const Node *n = NN(s, id);
		int ew = sched_is_ew(n) || n->op == OP_ASSIGN || n->op == OP_SUMTO;
		for (int k = 0; k < n->nin; k++) {
			const Node *in = NN(s, n->in[k]);
			if (ew)
				continue;
			if (in->op == OP_BROADCAST &&
			    !(n->op == OP_RESHAPE && shape_eq(n->shape, in->shape))) /* rebatched: read through */
				mat[n->in[k]] = 1;
			if (in->op == OP_RESHAPE)
				mat[n->in[k]] = 1;
		}
	}
	for (uint32_t id = 1; id < nn; id++) {
		if (!s->any[id])
			continue;
		const Node *n = NN(s, id);
		switch (n->op) {
		case OP_PARAM: case OP_INPUT: case OP_STATE:
			s->st[id] = ST_ALIAS;
			s->buf[id] = NULL; /* set from the tensor names below */
			break;
		case OP_CONST: case OP_HYPER: case OP_COUNT:
			s->st[id] = ST_SCALAR;
			break;
		case OP_BROADCAST: {
			const Node *src = NN(s, n->in[0]);
			s->st[id] = mat[id] ? ST_OWN : sched_is_scalar_leaf(src) ? ST_SCALAR : ST_VIEW;
			break;
		}
		case OP_RESHAPE: {
			Storage si = s->st[n->in[0]];
			/* a rebatched scalar or broadcast (same shape) is read like its input */
			int same = shape_eq(n->shape, NN(s, n->in[0])->shape);
			s->st[id] = (si == ST_OWN || si == ST_ALIAS) ? ST_ALIAS
			            : si == ST_SCALAR && !mat[id] ? ST_SCALAR
			            : si == ST_VIEW && same && !mat[id] ? ST_VIEW
			            : ST_OWN;
			break;
		}
		case OP_ASSIGN:
			s->st[id] = ST_NONE;
			break;
		case OP_LOOP_VAR:
			s->st[id] = ST_ALIAS; /* named below */
			break;
		default:
			s->st[id] = ST_OWN;
		}
	}
	mark_results(s);
	count_uses(s);
	if (s->tg->opt.fuse) {
		plan_inline(s);
		/* a reshape of an inlined value needs an array after all */
		for (uint32_t id = 1; id < nn; id++)
			if (s->any[id] && NN(s, id)->op == OP_RESHAPE && s->st[NN(s, id)->in[0]] == ST_INLINE)
				s->st[NN(s, id)->in[0]] = ST_OWN;
		plan_epilogues(s);
	}
	if (s->tg->opt.inplace)
		plan_inplace(s);
	/* an epilogue consumer updated in place would let the product overwrite
	 * the tensor it is still reading */
	for (uint32_t id = 1; id < nn; id++)
		if (s->epi[id] && s->inplace[s->epi[id]]) {
			s->epi_of[s->epi[id]] = 0;
			s->epi[id] = 0;
		}
}

/* Body values written straight into their stacked output (see Schedule.slot). */
static void plan_slots(Schedule *s)
{
	Graph *g = s->g;
	s->slot = arena_alloc(s->a, sizeof(NodeId) * g->nnodes);
	s->carry_ptr = arena_alloc(s->a, g->nnodes);
	for (int L = 0; L < g->nloops; L++) {
		const Loop *l = &g->loops[L];
		for (int o = 0; o < l->nout; o++) {
			const LoopOut *lo = &l->out[o];
			NodeId b = lo->body, out = lo->node;
			if (lo->kind != LOUT_STACK || !s->any[out] || !s->any[b] || s->region[b] != L + 1 || s->st[b] != ST_OWN ||
			    s->st[out] != ST_OWN || s->epi[b] || s->inplace[b] || s->result[b] || s->slot[b] ||
			    NN(s, b)->dtype != NN(s, out)->dtype)
				continue;
			s->slot[b] = out;
		}
		for (int k = 0; k < l->nslot; k++) {
			const LoopSlot *sl = &l->slot[k];
			if (sl->kind == SLOT_CARRY && s->any[sl->var] && s->slot[sl->next])
				s->carry_ptr[sl->var] = 1;
		}
	}
}

/* A name for forward value x: its DSL name, or, for an unnamed value
 * whose one consumer in the forward graph has a DSL name, that name and
 * "_in" (the pre-activation of h is h_in); NULL if neither. */
static const char *value_name(const Schedule *s, NodeId x, int depth)
{
	const Graph *g = s->g;
	if (NN(s, x)->name)
		return NN(s, x)->name;
	if (depth >= 1)
		return NULL;
	NodeId c = 0;
	for (NodeId id = x + 1; id < g->nforward; id++) {
		const Node *n = NN(s, id);
		for (int k = 0; k < n->nin; k++)
			if (n->in[k] == x) {
				if (c && c != id)
					return NULL;
				c = id;
			}
	}
	const char *v = c ? value_name(s, c, depth + 1) : NULL;
	return v ? arena_printf(s->a, "%s_in", v) : NULL;
}

static void name_buffers(Schedule *s)
{
	Graph *g = s->g;
	const TrainGraph *tg = s->tg;
	for (int t = 0; t < g->ntensors; t++)
		s->buf[g->tensors[t].node] = take_name(s, g->tensors[t].name);
	/* loop variables: the step's slice of a sequence, the carried state */
	for (int L = 0; L < g->nloops; L++)
		for (int k = 0; k < g->loops[L].nslot; k++) {
			const LoopSlot *sl = &g->loops[L].slot[k];
			if (!s->any[sl->var])
				continue;
			const Node *src = NN(s, sl->src);
			const char *base = src->name ? src->name : NULL;
			if (!base && sl->kind == SLOT_SEQ && NN(s, sl->src)->op == OP_TRANSPOSE)
				base = NN(s, NN(s, sl->src)->in[0])->name;
			if (sl->kind == SLOT_CARRY)
				s->buf[sl->var] = take_name(s, arena_printf(s->a, "loop%d_state%d", L, k));
			else
				s->buf[sl->var] = take_name(s, arena_printf(s->a, "%s_%s", base ? base : arena_printf(s->a, "loop%d_in%d", L, k),
				                                            sl->shift ? "prev" : "t"));
		}
	/* the loss */
	NodeId L = s->m->loss;
	if (s->st[L] == ST_OWN && !NN(s, L)->name && !s->epi[L]) {
		s->buf[L] = take_name(s, "loss_value");
		s->loss_buf = s->buf[L];
	}
	if (s->m->eval_loss != L && s->st[s->m->eval_loss] == ST_OWN && !NN(s, s->m->eval_loss)->name &&
	    !s->epi[s->m->eval_loss])
		s->buf[s->m->eval_loss] = take_name(s, "eval_loss");
	/* parameter gradients take the array of the node that computes them */
	s->grad_buf = arena_alloc(s->a, sizeof(char *) * (size_t)(g->ntensors + 1));
	for (int t = 0; t < g->ntensors; t++) {
		NodeId gid = tg->grads[t];
		if (!gid)
			continue;
		if (s->st[gid] == ST_OWN && !s->buf[gid] && !NN(s, gid)->name && !s->epi[gid] && !s->inplace[gid]) {
			s->buf[gid] = take_name(s, arena_printf(s->a, "d_%s", g->tensors[t].name));
			s->grad_buf[t] = s->buf[gid];
		}
	}
	/* a gradient that is a reshape of another value (a conv bias's sum over
	 * [1, C, 1, 1]): that value's array, so that the optimizer update reads
	 * the array the runtime sees, and no copy is needed */
	for (int t = 0; t < g->ntensors; t++) {
		NodeId gid = tg->grads[t], x = gid ? sched_storage_of(s, gid) : 0;
		if (!gid || s->grad_buf[t] || x == gid || s->st[gid] != ST_ALIAS || NN(s, gid)->op != OP_RESHAPE)
			continue;
		if (s->st[x] == ST_OWN && !s->buf[x] && !NN(s, x)->name && !s->epi[x] && !s->inplace[x] && !s->slot[x] &&
		    !s->region[x] && shape_numel(NN(s, x)->shape) == shape_numel(NN(s, gid)->shape)) {
			s->buf[x] = take_name(s, arena_printf(s->a, "d_%s", g->tensors[t].name));
			s->grad_buf[t] = s->buf[x];
		}
	}
	for (int t = 0; tg->hv && t < g->ntensors; t++) {
		NodeId h = tg->hv[t];
		if (h && s->st[h] == ST_OWN && !s->buf[h] && !NN(s, h)->name && !s->epi[h] && !s->inplace[h])
			s->buf[h] = take_name(s, arena_printf(s->a, "hv_%s", g->tensors[t].name));
	}
	/* DSL-named values, then the rest by id */
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (s->any[id] && s->st[id] == ST_OWN && !s->buf[id] && NN(s, id)->name && !s->inplace[id] && !s->epi[id])
			s->buf[id] = take_name(s, NN(s, id)->name);
	/* backward values after the forward value they are the gradient of */
	for (uint32_t id = 1; id < g->nnodes && id < g->nadjoint; id++) {
		if (!s->any[id] || s->st[id] != ST_OWN || s->buf[id] || s->inplace[id] || s->epi[id] || !g->adjoint_of[id])
			continue;
		const char *v = value_name(s, g->adjoint_of[id], 0);
		if (v)
			s->buf[id] = take_name(s, arena_printf(s->a, "d_%s", v));
	}
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (s->any[id] && s->st[id] == ST_OWN && !s->buf[id] && !s->inplace[id] && !s->epi[id])
			s->buf[id] = take_name(s, arena_printf(s->a, "t%u", id));
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (s->any[id] && s->inplace[id])
			s->buf[id] = s->buf[s->inplace[id]];
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (s->any[id] && s->epi[id])
			s->buf[id] = s->buf[s->epi[id]];
	for (uint32_t id = 1; id < g->nnodes; id++)
		if (s->any[id] && s->st[id] == ST_ALIAS && NN(s, id)->op == OP_RESHAPE)
			s->buf[id] = s->buf[NN(s, id)->in[0]];
}

static void add_kernel(Schedule *s, NodeId node, const char *dst, int entries, int declare)
{
	s->k = arena_grow(s->a, s->k, (size_t)s->nk, (size_t)s->nk + 1, sizeof(Kernel));
	s->k[s->nk].node = node;
	s->k[s->nk].dst = dst;
	s->k[s->nk].entries = entries;
	s->k[s->nk].declare = declare;
	s->k[s->nk].loop = 0;
	s->k[s->nk].also = 0;
	s->nk++;
}

static int entries_of(const Schedule *s, NodeId id)
{
	int e = (s->mark[0][id] ? 1 : 0) | (s->mark[1][id] ? 2 : 0) | (s->mark[2][id] ? 4 : 0) | (s->mark[3][id] ? 8 : 0);
	for (int c = 0; c < s->m->nclauses; c++)
		if (s->cmark[c][id])
			e |= ENTRY_CLAUSE << c;
	return e;
}

/* the training entry points (train_step, the step clauses') that need id */
static int train_entries_of(const Schedule *s, NodeId id)
{
	return entries_of(s, id) & ~(ENTRY_FORWARD | ENTRY_GRADIENTS | ENTRY_HVP);
}

/* The array holding a result that has a training-mode node and an
 * evaluation-mode node: the training node's own array when it has one, else
 * a new array filled by a copy; the evaluation entry copies its node there. */
static const char *result_array(Schedule *s, NodeId train, NodeId eval, const char *want, int in_step)
{
	const char *dst;
	int train_entries = ENTRY_GRADIENTS | ENTRY_HVP | (in_step ? train_entries_of(s, train) : 0) |
	                    (train == eval ? ENTRY_FORWARD : 0);
	if (s->st[train] == ST_OWN || (s->st[train] == ST_ALIAS && NN(s, train)->op != OP_RESHAPE)) {
		dst = s->buf[train];
	} else {
		dst = take_name(s, want);
		add_kernel(s, train, dst, train_entries, 1);
	}
	if (eval != train)
		add_kernel(s, eval, dst, 1, 0);
	return dst;
}

/* dlc --probe: an array for each probed value and gradient, filled by the
 * entry points that compute gradients: the node's own array, or a copy. */
static const char *probe_array(Schedule *s, NodeId id, const char *want)
{
	const Node *n = NN(s, id);
	if (n->op == OP_CONST || n->op == OP_HYPER || n->op == OP_COUNT)
		return NULL;
	if (n->op == OP_PARAM || n->op == OP_INPUT || n->op == OP_STATE)
		return s->buf[id];
	if (s->st[id] == ST_OWN || (s->st[id] == ST_ALIAS && n->op != OP_RESHAPE))
		return s->buf[id];
	const char *dst = take_name(s, want);
	add_kernel(s, id, dst, 14, 1);
	return dst;
}

static void plan_probes(Schedule *s)
{
	const TrainGraph *tg = s->tg;
	s->probe_val = arena_alloc(s->a, sizeof(char *) * (size_t)(tg->nprobe + 1));
	s->probe_grad = arena_alloc(s->a, sizeof(char *) * (size_t)(tg->nprobe + 1));
	for (int i = 0; i < tg->nprobe; i++) {
		NodeId x = tg->probe[i], gx = s->g->adjoint[x];
		const Node *n = NN(s, x);
		s->probe_val[i] = probe_array(s, x, arena_printf(s->a, "probe_v%u", x));
		if (n->op == OP_PARAM)
			s->probe_grad[i] = s->grad_buf[n->sym];
		else if (gx && NN(s, gx)->op == OP_CONST && NN(s, x)->shape.rank == 0)
			s->probe_grad[i] = take_name(s, arena_printf(s->a, "probe_g%u", x)); /* a constant: emit_c */
		else if (gx && shape_eq(NN(s, gx)->shape, n->shape))
			s->probe_grad[i] = probe_array(s, gx, arena_printf(s->a, "probe_g%u", x));
	}
}

static void plan_kernels(Schedule *s)
{
	Graph *g = s->g;
	const Model *m = s->m;
	uint8_t *loop_seen = arena_alloc(s->a, (size_t)g->nloops + 1);
	for (uint32_t id = 1; id < g->nnodes; id++) {
		if (!s->any[id] || s->st[id] != ST_OWN || NN(s, id)->op == OP_ASSIGN || s->epi[id])
			continue;
		if (NN(s, id)->op == OP_SCAN) {
			/* one kernel runs the loop, for all its outputs */
			int L = (int)NN(s, id)->i[0], en = 0;
			if (loop_seen[L])
				continue;
			loop_seen[L] = 1;
			for (int o = 0; o < g->loops[L].nout; o++)
				if (s->any[g->loops[L].out[o].node])
					en |= entries_of(s, g->loops[L].out[o].node);
			add_kernel(s, id, NULL, en, 0);
			continue;
		}
		/* a fused product runs where its consumer would */
		add_kernel(s, s->epi_of[id] ? s->epi_of[id] : id, NULL, entries_of(s, id), 0);
		s->k[s->nk - 1].loop = s->region[id];
	}
	/* copies for results that have no array of their own */
	if (!s->loss_buf || m->eval_loss != m->loss)
		s->loss_buf = result_array(s, m->loss, m->eval_loss, s->loss_buf ? s->loss_buf : "loss_value", 1);
	/* each step clause's loss, for the trainer's log (the first is the loss) */
	s->clause_loss_buf = arena_alloc(s->a, sizeof(char *) * (size_t)(m->nclauses + 1));
	for (int c = 0; c < m->nclauses; c++) {
		NodeId l = m->clauses[c].loss;
		if (c == 0 || l == m->loss)
			s->clause_loss_buf[c] = s->loss_buf;
		else if (s->st[l] == ST_OWN || (s->st[l] == ST_ALIAS && NN(s, l)->op != OP_RESHAPE))
			s->clause_loss_buf[c] = s->buf[l];
		else {
			s->clause_loss_buf[c] = take_name(s, arena_printf(s->a, "%s_loss", m->clauses[c].name));
			add_kernel(s, l, s->clause_loss_buf[c], ENTRY_GRADIENTS | train_entries_of(s, l), 1);
		}
	}
	for (int t = 0; t < g->ntensors; t++) {
		NodeId gid = s->tg->grads[t];
		if (!gid || s->grad_buf[t])
			continue;
		s->grad_buf[t] = take_name(s, arena_printf(s->a, "d_%s", g->tensors[t].name));
		add_kernel(s, gid, s->grad_buf[t], ENTRY_GRADIENTS | ENTRY_HVP | train_entries_of(s, gid),
		           0); /* declared with the gradients */
	}
	s->out_buf = arena_alloc(s->a, sizeof(char *) * (size_t)(m->noutputs + 1));
	for (int i = 0; i < m->noutputs; i++)
		s->out_buf[i] = result_array(s, m->outputs[i].node, m->eval_outputs[i],
		                             arena_printf(s->a, "%s_out", m->outputs[i].name),
		                             !m->outputs[i].data_free && !m->outputs[i].eval_only);
	s->hv_buf = arena_alloc(s->a, sizeof(char *) * (size_t)(g->ntensors + 1));
	for (int t = 0; s->tg->hv && t < g->ntensors; t++) {
		NodeId h = s->tg->hv[t];
		if (!h)
			continue;
		if (s->st[h] == ST_OWN && s->buf[h] && !strncmp(s->buf[h], "hv_", 3)) {
			s->hv_buf[t] = s->buf[h];
		} else {
			s->hv_buf[t] = take_name(s, arena_printf(s->a, "hv_%s", g->tensors[t].name));
			add_kernel(s, h, s->hv_buf[t], 8, 1);
		}
	}
	for (int i = 0; i < s->tg->nupdates; i++)
		if (!s->inplace[NN(s, s->tg->updates[i])->in[1]])
			add_kernel(s, s->tg->updates[i], NULL, train_entries_of(s, s->tg->updates[i]), 0);
	plan_probes(s);
}

/* the arrays and scalars the inlined tree of id reads */
static int tree_leaves(const Schedule *s, NodeId id, NodeId *out, int n, int max)
{
	if (s->st[id] == ST_INLINE) {
		const Node *x = NN(s, id);
		for (int k = 0; k < x->nin; k++)
			n = tree_leaves(s, x->in[k], out, n, max);
		return n;
	}
	NodeId a = sched_storage_of(s, id);
	for (int i = 0; i < n; i++)
		if (out[i] == a)
			return n;
	if (n < max)
		out[n] = a;
	return n + 1;
}

/* the kernel that computes node id, or -1 */
int sched_kernel_of_node(const Schedule *s, NodeId id)
{
	for (int k = 0; k < s->nk; k++)
		if (!s->k[k].dst && s->k[k].node == id)
			return k;
	return -1;
}

/* the array kernel k writes */
static NodeId kernel_writes(const Schedule *s, const Kernel *k)
{
	const Node *n = NN(s, k->node);
	if (n->op == OP_ASSIGN)
		return sched_storage_of(s, n->in[0]);
	return s->inplace[k->node] ? s->inplace[k->node] : k->node;
}

static void plan_fuse_updates(Schedule *s)
{
	enum { MAXL = 16 };
	for (int u = 0; u < s->nk; u++) {
		const Kernel *ku = &s->k[u];
		const Node *un = NN(s, ku->node);
		if (ku->dst || un->op != OP_ASSIGN || sched_needs_nested(s, un->in[1]))
			continue;
		NodeId lv[MAXL];
		int nl = tree_leaves(s, un->in[1], lv, 0, MAXL), K = -1, ok = nl <= MAXL;
		for (int i = 0; ok && i < nl; i++) {
			int k = sched_kernel_of_node(s, lv[i]);
			if (k < 0)
				continue;
			if (K >= 0 || k > u)
				ok = 0;
			K = k;
		}
		if (!ok || K < 0)
			continue;
		const Kernel *kk = &s->k[K];
		const Node *kn = NN(s, kk->node);
		/* the value read is kept (optimizer state), never an arena array */
		if (kk->also || kk->entries != ku->entries || !sched_is_ew(kn) || !s->inplace[kk->node] || kn->op == OP_BROADCAST || kn->op == OP_RESHAPE ||
		    !shape_eq(kn->shape, un->shape) || s->epi_of[kk->node])
			continue;
		for (int k = 0; k < kn->nin; k++)
			if (sched_needs_nested(s, kn->in[k]))
				ok = 0;
		/* nothing between the two kernels reads the updated array or
		 * writes what the update reads */
		NodeId w = sched_storage_of(s, un->in[0]);
		for (int j = K + 1; ok && j < u; j++) {
			const Kernel *kj = &s->k[j];
			NodeId jl[MAXL];
			const Node *jn = NN(s, kj->node);
			int njl = 0;
			if (kj->dst)
				njl = tree_leaves(s, kj->node, jl, 0, MAXL);
			else
				for (int k = 0; k < jn->nin; k++)
					njl = tree_leaves(s, jn->in[k], jl, njl, MAXL);
			if (njl > MAXL)
				ok = 0;
			for (int i = 0; ok && i < njl; i++)
				ok = jl[i] != w;
			NodeId jw = kj->dst ? 0 : kernel_writes(s, kj);
			for (int i = 0; ok && i < nl; i++)
				ok = jw != lv[i];
			if (kj->dst)
				ok = 0;
		}
		if (!ok)
			continue;
		s->k[K].also = ku->node;
		memmove(&s->k[u], &s->k[u + 1], sizeof(Kernel) * (size_t)(s->nk - u - 1));
		s->nk--;
		u--;
	}
}

/* Reading id needs one loop variable per axis (a broadcast view somewhere). */
int sched_needs_nested(const Schedule *s, NodeId id)
{
	if (s->st[id] == ST_VIEW)
		return 1;
	if (s->st[id] != ST_INLINE)
		return 0;
	const Node *n = NN(s, id);
	for (int k = 0; k < n->nin; k++)
		if (sched_needs_nested(s, n->in[k]))
			return 1;
	return 0;
}

static ConvDims conv_dims(const Schedule *s, Shape x, Shape y, Window w, int x_bax)
{
	ConvDims c;
	c.N = x.d[0];
	c.C = x.d[1];
	c.H = x.d[2];
	c.W = x.d[3];
	c.Co = y.d[1];
	c.OH = y.d[2];
	c.OW = y.d[3];
	long long g = w.groups ? w.groups : 1;
	c.G = g;
	c.Cg = c.C / g;
	c.Cog = c.Co / g;
	c.kh = w.kh;
	c.kw = w.kw;
	c.rows = x_bax == 0 ? (c.N == s->g->batch ? "n" : arena_printf(s->a, "(n * %lld)", (long long)(c.N / s->g->batch)))
	                    : arena_printf(s->a, "%lld", c.N);
	long long nr = MM_NRMAX(s), vl = s->f32 ? 16 : 8;
	c.NB = (c.N + nr - 1) / nr * nr;
	c.PT = w.ph;
	c.PL = w.pw;
	long long reach_h = (c.OH - 1) * w.sh + (c.kh - 1) * w.dh + 1, reach_w = (c.OW - 1) * w.sw + (c.kw - 1) * w.dw + 1;
	c.HP = c.H + w.ph > reach_h ? c.H + w.ph : reach_h;
	c.WP = c.W + w.pw > reach_w ? c.W + w.pw : reach_w;
	c.T = c.Cg * c.kh * c.kw;
	c.row = w.sw == 1 && c.OW >= vl;
	return c;
}

/* The dimensions of a convolution node (any of the three). */
ConvDims sched_conv_dims(const Schedule *s, NodeId id)
{
	const Node *n = NN(s, id);
	Window w = graph_window(s->g, id);
	Shape xs, ys;
	int bax;
	if (n->op == OP_CONV2D) {
		xs = NN(s, n->in[0])->shape;
		ys = n->shape;
		bax = NN(s, n->in[0])->bax;
	} else if (n->op == OP_CONV2D_DX) {
		xs = n->shape;
		ys = NN(s, n->in[0])->shape;
		bax = n->bax;
	} else {
		xs = NN(s, n->in[0])->shape;
		ys = NN(s, n->in[1])->shape;
		bax = NN(s, n->in[0])->bax;
	}
	return conv_dims(s, xs, ys, w, bax);
}

int sched_conv_depthwise(const ConvDims *c)
{
	return c->G > 1 && c->Cg == 1 && c->Cog == 1;
}

/* Scratch a convolution kernel needs: copies of its operands (cs) and
 * packed weights (cw), in elements. */
void sched_conv_scratch(const Schedule *s, NodeId id, int64_t *cs, int64_t *cw)
{
	const Node *n = NN(s, id);
	ConvDims c = sched_conv_dims(s, id);
	if (sched_conv_depthwise(&c)) {
		*cs = *cw = 0;
		return;
	}
	int64_t xin = c.C * c.HP * c.WP * c.NB, xplain = c.C * c.H * c.W * c.NB, y = c.Co * c.OH * c.OW * c.NB;
	int64_t vl = s->f32 ? 16 : 8, xrow = c.N * c.C * c.HP * c.WP;
	int64_t part = c.G * ((c.Cog + 5) / 6) * (c.T + 4) * 6 * vl * (c.N < DW_CHUNKS ? c.N : DW_CHUNKS);
	if (n->op == OP_CONV2D) {
		*cs = c.row ? xrow : xin + y;
		*cw = c.G * ((c.Cog + 5) / 6) * c.T * 6;
	} else if (n->op == OP_CONV2D_DX) {
		*cs = y + xplain;
		*cw = c.G * ((c.Cg + 5) / 6) * c.Cog * c.kh * c.kw * 6;
	} else {
		*cs = c.row ? xrow + part : xin + y;
		*cw = 0;
	}
}

/* A weight gradient reuses the batch-inner copies made by the forward
 * convolution of the same input and by the input gradient of the same
 * output gradient, when that kernel runs before it in every entry point it
 * runs in (the copied arrays stay live and unchanged until the weight
 * gradient, their last reader, has run). */
static void plan_conv_copies(Schedule *s)
{
	s->conv_src = arena_alloc(s->a, sizeof(int) * (size_t)(2 * s->nk + 2));
	s->conv_keep = arena_alloc(s->a, sizeof(int) * (size_t)(s->nk + 1));
	for (int k = 0; k < 2 * s->nk; k++)
		s->conv_src[k] = -1;
	for (int k = 0; k < s->nk; k++) {
		const Kernel *kk = &s->k[k];
		if (kk->dst || NN(s, kk->node)->op != OP_CONV2D_DW)
			continue;
		const Node *w = NN(s, kk->node);
		ConvDims cw = sched_conv_dims(s, kk->node);
		if (cw.row || sched_conv_depthwise(&cw))
			continue;
		for (int j = 0; j < k; j++) {
			const Kernel *kj = &s->k[j];
			if (kj->dst || (kj->entries & kk->entries) != kk->entries)
				continue;
			const Node *f = NN(s, kj->node);
			if (f->op != OP_CONV2D && f->op != OP_CONV2D_DX)
				continue;
			ConvDims cf = sched_conv_dims(s, kj->node);
			if (cf.row || sched_conv_depthwise(&cf) || strcmp(cf.rows, cw.rows) || cf.NB != cw.NB)
				continue;
			if (f->op == OP_CONV2D && f->in[0] == w->in[0] && s->conv_src[2 * k] < 0 && cf.HP == cw.HP &&
			    cf.WP == cw.WP && cf.PT == cw.PT && cf.PL == cw.PL && cf.C == cw.C && cf.H == cw.H && cf.W == cw.W) {
				s->conv_src[2 * k] = j;
				s->conv_keep[j] |= 1;
			}
			if (f->op == OP_CONV2D_DX && f->in[0] == w->in[1] && s->conv_src[2 * k + 1] < 0 && cf.Co == cw.Co &&
			    cf.OH == cw.OH && cf.OW == cw.OW) {
				s->conv_src[2 * k + 1] = j;
				s->conv_keep[j] |= 2;
			}
		}
	}
}

int sched_loop_kernel(const Schedule *s, int L)
{
	for (int k = 0; k < s->nk; k++)
		if (!s->k[k].dst && NN(s, s->k[k].node)->op == OP_SCAN && NN(s, s->k[k].node)->i[0] == L)
			return k;
	return -1;
}

int sched_kernel_index(const Schedule *s, NodeId id)
{
	int k = sched_kernel_of_node(s, id);
	if (k < 0)
		DLC_INTERNAL("no kernel for node %u", id);
	return k;
}

Schedule *schedule_build(Arena *a, const TrainGraph *tg)
{
	Schedule *s = arena_alloc(a, sizeof *s);
	s->tg = tg;
	s->m = tg->m;
	s->g = tg->m->g;
	s->a = a;
	s->f32 = s->g->fdtype == DT_F32;
	Graph *g = s->g;

	/* what each entry point computes */
	for (int k = 0; k < 4; k++)
		s->mark[k] = arena_alloc(a, g->nnodes);
	s->any = arena_alloc(a, g->nnodes);
	graph_reach(g, tg->eval_roots, tg->neval, s->mark[0]);
	graph_reach(g, tg->roots, tg->ngrad, s->mark[1]);
	graph_reach(g, tg->step_roots, tg->nstep, s->mark[2]);
	if (tg->hv)
		graph_reach(g, tg->hv_roots, tg->nhv, s->mark[3]);
	for (uint32_t id = 0; id < g->nnodes; id++)
		s->any[id] = s->mark[0][id] | s->mark[1][id] | s->mark[2][id] | s->mark[3][id];
	if (s->m->nclauses > MAX_CLAUSES)
		DLC_INTERNAL("more than %d step clauses", MAX_CLAUSES);
	s->cmark = arena_alloc(a, sizeof(uint8_t *) * (size_t)(s->m->nclauses + 1));
	for (int c = 0; c < s->m->nclauses; c++) {
		s->cmark[c] = arena_alloc(a, g->nnodes);
		graph_reach(g, tg->clause_roots[c], tg->nclause_roots[c], s->cmark[c]);
		for (uint32_t id = 0; id < g->nnodes; id++)
			s->any[id] |= s->cmark[c][id];
	}

	/* loop bodies */
	s->region = arena_alloc(a, sizeof(int) * g->nnodes);
	if (g->nloops) {
		uint8_t *body = arena_alloc(a, g->nnodes);
		for (int L = 0; L < g->nloops; L++) {
			graph_loop_body(g, L, body);
			for (uint32_t id = 1; id < g->nnodes; id++)
				if (body[id])
					s->region[id] = L + 1;
		}
	}
	plan_storage(s);
	plan_slots(s);
	name_buffers(s);
	plan_kernels(s);
	if (tg->opt.fuse)
		plan_fuse_updates(s);
	plan_conv_copies(s);
	return s;
}
