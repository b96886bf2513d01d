/* graph.c - graph IR: hash-consed node constructors and their shape rules.
 *
 * Each constructor computes the new node's shape, dtype and batch axis (the
 * shape rule of its op), applies a few algebraic identities that never change
 * a result (x*1, x+0, a broadcast to the same shape, constant arithmetic on
 * scalars), and then looks the node up in the hash-cons table so that equal
 * expressions share one node. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "graph.h"
#include "ops.h"

const OpInfo op_info[OP_COUNT_] = {
#define OP(e, name, arity, flags, flops) {name, arity, flags, flops},
#include "ops.def"
#undef OP
};

const char *dtype_name(DType t)
{
	switch (t) {
	case DT_F32: return "f32";
	case DT_F64: return "f64";
	case DT_I32: return "i32";
	}
	return "?";
}

/* ---- shapes ---- */

Shape shape_make(int rank, const int64_t *d)
{
	Shape s;
	memset(&s, 0, sizeof s);
	s.rank = rank;
	for (int i = 0; i < rank; i++)
		s.d[i] = d[i];
	return s;
}

Shape shape_scalar(void)
{
	Shape s;
	memset(&s, 0, sizeof s);
	return s;
}

int64_t shape_numel(Shape s)
{
	int64_t n = 1;
	for (int i = 0; i < s.rank; i++) {
		if (s.d[i] < 0 || (s.d[i] && n > INT64_MAX / s.d[i]))
			return INT64_MAX;
		n *= s.d[i];
	}
	return n;
}

int shape_fits(Shape s)
{
	for (int i = 0; i < s.rank; i++)
		if (s.d[i] < 0 || s.d[i] > DLC_DIM_MAX)
			return 0;
	return shape_numel(s) <= DLC_NUMEL_MAX;
}

int shape_eq(Shape a, Shape b)
{
	if (a.rank != b.rank)
		return 0;
	for (int i = 0; i < a.rank; i++)
		if (a.d[i] != b.d[i])
			return 0;
	return 1;
}

int shape_broadcast(Shape a, Shape b, Shape *out)
{
	Shape r;
	memset(&r, 0, sizeof r);
	r.rank = a.rank > b.rank ? a.rank : b.rank;
	for (int i = 0; i < r.rank; i++) {
		int ia = i - (r.rank - a.rank), ib = i - (r.rank - b.rank);
		int64_t da = ia >= 0 ? a.d[ia] : 1, db = ib >= 0 ? b.d[ib] : 1;
		if (da != db && da != 1 && db != 1)
			return 0;
		r.d[i] = da == 1 ? db : da;
	}
	*out = r;
	return 1;
}

const char *shape_str(Shape s, char *buf, size_t n)
{
	size_t k = 0;
	k += (size_t)snprintf(buf + k, n - k, "[");
	for (int i = 0; i < s.rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)s.d[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
	return buf;
}

/* ---- the node table ---- */

Graph *graph_new(Arena *a, DType fdtype)
{
	ops_check();
	Graph *g = arena_alloc(a, sizeof *g);
	g->arena = a;
	g->fdtype = fdtype;
	g->cap = 1024;
	g->nodes = arena_alloc(a, g->cap * sizeof(Node));
	g->nnodes = 1; /* node 0 is "none" */
	g->hcap = 4096;
	g->htab = arena_alloc(a, g->hcap * sizeof(uint32_t));
	g->fold = 1;
	g->cse = 1;
	return g;
}

static uint64_t node_hash(const Node *n)
{
	uint64_t h = 1469598103934665603ULL;
#define MIX(v) (h = (h ^ (uint64_t)(v)) * 1099511628211ULL)
	MIX(n->op);
	MIX(n->dtype);
	MIX(n->shape.rank);
	for (int i = 0; i < n->shape.rank; i++)
		MIX(n->shape.d[i]);
	MIX(n->nin);
	for (int i = 0; i < n->nin; i++)
		MIX(n->in[i]);
	for (int i = 0; i < 2 * MAXRANK; i++)
		MIX(n->i[i]);
	uint64_t fb;
	memcpy(&fb, &n->f, sizeof fb);
	MIX(fb);
	MIX(n->sym);
#undef MIX
	return h;
}

static int node_same(const Node *a, const Node *b)
{
	return a->op == b->op && a->dtype == b->dtype && a->bax == b->bax &&
	       shape_eq(a->shape, b->shape) && a->nin == b->nin &&
	       (a->nin == 0 || !memcmp(a->in, b->in, a->nin * sizeof *a->in)) &&
	       !memcmp(a->i, b->i, sizeof a->i) && !memcmp(&a->f, &b->f, sizeof a->f) &&
	       a->sym == b->sym;
}

static void rehash(Graph *g)
{
	uint32_t ncap = g->hcap * 2;
	uint32_t *t = arena_alloc(g->arena, ncap * sizeof(uint32_t));
	for (uint32_t id = 1; id < g->nnodes; id++) {
		if (g->nodes[id].op == OP_ASSIGN)
			continue;
		uint32_t h = (uint32_t)node_hash(&g->nodes[id]) & (ncap - 1);
		while (t[h])
			h = (h + 1) & (ncap - 1);
		t[h] = id;
	}
	g->htab = t;
	g->hcap = ncap;
}

static double node_flops(const Graph *g, const Node *n);

/* Return the id of a node equal to *n with inputs in[0..nin), adding it if
 * it is new (its inputs then get their own copy in the arena). */
static NodeId intern(Graph *g, Node *n, const NodeId *in, int nin)
{
	if (nin > UINT16_MAX)
		DLC_INTERNAL("%d inputs", nin);
	n->in = (NodeId *)in;
	n->nin = (uint16_t)nin;
	g->built++;
	/* without CSE only leaves are shared (a tensor has one leaf) */
	int share = g->cse || (op_info[n->op].flags & OPF_LEAF);
	if (!shape_fits(n->shape) || node_flops(g, n) > (double)DLC_FLOPS_MAX)
		g->too_large = g->nnodes;
	if (n->op != OP_ASSIGN && share) {
		uint32_t h = (uint32_t)node_hash(n) & (g->hcap - 1);
		while (g->htab[h]) {
			if (node_same(&g->nodes[g->htab[h]], n)) {
				if (g->too_large == g->nnodes)
					g->too_large = g->htab[h];
				return g->htab[h];
			}
			h = (h + 1) & (g->hcap - 1);
		}
	}
	if (g->nnodes == g->cap) {
		g->nodes = arena_grow(g->arena, g->nodes, g->cap, 2 * (size_t)g->cap, sizeof(Node));
		g->cap *= 2;
	}
	NodeId *own = arena_alloc(g->arena, (size_t)(nin > NODE_MININ ? nin : NODE_MININ) * sizeof(NodeId));
	if (nin)
		memcpy(own, in, (size_t)nin * sizeof(NodeId));
	n->in = own;
	NodeId id = g->nnodes++;
	g->nodes[id] = *n;
	if (n->op != OP_ASSIGN) {
		if (2 * g->nnodes > g->hcap) {
			rehash(g);
		} else {
			uint32_t h = (uint32_t)node_hash(n) & (g->hcap - 1);
			while (g->htab[h])
				h = (h + 1) & (g->hcap - 1);
			g->htab[h] = id;
		}
	}
	return id;
}

static Node blank(OpKind op, DType dt, Shape s, int bax)
{
	Node n;
	memset(&n, 0, sizeof n);
	n.op = (uint16_t)op;
	n.dtype = (uint8_t)dt;
	n.shape = s;
	n.bax = (int8_t)bax;
	return n;
}

int graph_add_tensor(Graph *g, const char *name, Role role, DType dt, Shape s, int bax, SrcLoc loc)
{
	if (g->ntensors == g->tcap) {
		int ncap = g->tcap ? 2 * g->tcap : 16;
		g->tensors = arena_grow(g->arena, g->tensors, (size_t)g->tcap, (size_t)ncap, sizeof(Tensor));
		g->tcap = ncap;
	}
	int idx = g->ntensors++;
	Tensor *t = &g->tensors[idx];
	memset(t, 0, sizeof *t);
	t->name = name;
	t->role = role;
	t->dtype = dt;
	t->shape = s;
	t->bax = bax;
	t->loc = loc;
	t->of_param = -1;
	OpKind op = role == ROLE_PARAM ? OP_PARAM : role == ROLE_STATE || role == ROLE_HYPER ? OP_STATE : OP_INPUT;
	Node n = blank(op, dt, s, bax);
	n.sym = idx;
	n.name = name;
	n.loc = loc;
	t->node = intern(g, &n, NULL, 0);
	return idx;
}

NodeId graph_const(Graph *g, double v)
{
	Node n = blank(OP_CONST, g->fdtype, shape_scalar(), -1);
	n.f = v == 0 ? 0.0 * (signbit(v) ? -1 : 1) : v;
	return intern(g, &n, NULL, 0);
}

NodeId graph_hyper(Graph *g, Hyper h)
{
	Node n = blank(OP_HYPER, g->fdtype, shape_scalar(), -1);
	n.sym = (int)h;
	return intern(g, &n, NULL, 0);
}

NodeId graph_count(Graph *g, int64_t k, int dyn)
{
	if (!dyn)
		return graph_const(g, (double)(k * (g->batch ? 1 : 1)));
	Node n = blank(OP_COUNT, g->fdtype, shape_scalar(), -1);
	n.i[0] = k;
	n.i[1] = 1;
	return intern(g, &n, NULL, 0);
}

static int is_const(const Graph *g, NodeId id, double v)
{
	const Node *n = &g->nodes[id];
	if (n->op == OP_RESHAPE && shape_eq(n->shape, g->nodes[n->in[0]].shape))
		n = &g->nodes[n->in[0]]; /* a rebatched value */
	if (n->op == OP_BROADCAST)
		n = &g->nodes[n->in[0]];
	return n->op == OP_CONST && n->f == v;
}

static int scalar_const(const Graph *g, NodeId id, double *v)
{
	const Node *n = &g->nodes[id];
	if (n->op != OP_CONST)
		return 0;
	*v = n->f;
	return 1;
}

/* Constant folding: op on scalar constants, evaluated by the op table's
 * scalar rule, for ops flagged OPF_FOLD.  Results that are not finite are
 * left to the generated code, which computes them in the element type. */
static int fold_scalar(const Graph *g, OpKind op, Scalars s, double *out)
{
	if (!g->fold || !(op_info[op].flags & OPF_FOLD))
		return 0;
	*out = op_rules[op].eval(s);
	return isfinite(*out);
}

static NodeId unary_node(Graph *g, OpKind op, NodeId a, double c)
{
	const Node *na = &g->nodes[a];
	if (!(op_info[op].flags & OPF_EW) || op_info[op].arity != 1)
		DLC_INTERNAL("graph_unary: %s", op_info[op].name);
	Scalars s = {0, 0, c, 0};
	double v;
	/* Only scalars are folded; tensors of constants stay broadcast views. */
	if (scalar_const(g, a, &s.a) && fold_scalar(g, op, s, &v))
		return graph_const(g, v);
	if (g->fold && op == OP_NEG && na->op == OP_NEG)
		return na->in[0];
	/* log(exp(x)) = x, exactly (and without exp's overflow) */
	if (g->fold && op == OP_LOG && na->op == OP_EXP)
		return na->in[0];
	if (na->op == OP_BROADCAST && g->nodes[na->in[0]].op == OP_CONST && g->fold &&
	    (op_info[op].flags & OPF_FOLD))
		return graph_broadcast(g, unary_node(g, op, na->in[0], c), na->shape);
	Node n = blank(op, na->dtype, na->shape, na->bax);
	n.f = c;
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_unary(Graph *g, OpKind op, NodeId a) { return unary_node(g, op, a, 0); }
NodeId graph_unary_f(Graph *g, OpKind op, NodeId a, double f)
{
	if (op == OP_POWC && g->fold && f == 1)
		return a;
	return unary_node(g, op, a, f);
}
NodeId graph_powc(Graph *g, NodeId a, double c) { return graph_unary_f(g, OP_POWC, a, c); }

/* Batch axis of `a` once broadcast to rank r. */
static int bax_in(const Node *a, int r)
{
	return a->bax < 0 ? -1 : a->bax + (r - a->shape.rank);
}

NodeId graph_broadcast(Graph *g, NodeId a, Shape to)
{
	const Node *na = &g->nodes[a];
	if (shape_eq(na->shape, to))
		return a;
	Shape chk;
	if (!shape_broadcast(na->shape, to, &chk) || !shape_eq(chk, to))
		DLC_INTERNAL("bad broadcast");
	if (na->op == OP_BROADCAST)
		return graph_broadcast(g, na->in[0], to);
	int bax = bax_in(na, to.rank);
	if (bax >= 0 && to.d[bax] != na->shape.d[na->bax])
		bax = -1;
	Node n = blank(OP_BROADCAST, na->dtype, to, bax);
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_binary(Graph *g, OpKind op, NodeId a, NodeId b)
{
	if (!(op_info[op].flags & OPF_EW) || op_info[op].arity != 2)
		DLC_INTERNAL("graph_binary: %s", op_info[op].name);
	const Node *na = &g->nodes[a], *nb = &g->nodes[b];
	Shape s;
	if (!shape_broadcast(na->shape, nb->shape, &s))
		DLC_INTERNAL("graph_binary: incompatible shapes");
	Scalars sc = {0, 0, 0, 0};
	double v;
	if (scalar_const(g, a, &sc.a) && scalar_const(g, b, &sc.b) && fold_scalar(g, op, sc, &v))
		return graph_const(g, v);
	if (g->fold) {
		if (op == OP_MUL && is_const(g, b, 1))
			return graph_broadcast(g, a, s);
		if (op == OP_MUL && is_const(g, a, 1))
			return graph_broadcast(g, b, s);
		if ((op == OP_ADD || op == OP_SUB) && is_const(g, b, 0))
			return graph_broadcast(g, a, s);
		if (op == OP_ADD && is_const(g, a, 0))
			return graph_broadcast(g, b, s);
		if (op == OP_DIV && is_const(g, b, 1))
			return graph_broadcast(g, a, s);
	}
	int bax = bax_in(na, s.rank);
	if (bax < 0)
		bax = bax_in(nb, s.rank);
	a = graph_broadcast(g, a, s);
	b = graph_broadcast(g, b, s);
	/* commutative ops get a canonical input order, for CSE */
	if ((op_info[op].flags & OPF_COMM) && a > b) {
		NodeId t = a;
		a = b;
		b = t;
	}
	Node n = blank(op, g->nodes[a].dtype, s, bax);
	return intern(g, &n, (NodeId[]){a, b}, 2);
}

NodeId graph_where(Graph *g, NodeId cond, NodeId a, NodeId b)
{
	const Node *nc = &g->nodes[cond], *na = &g->nodes[a], *nb = &g->nodes[b];
	Shape s, s2;
	if (!shape_broadcast(na->shape, nb->shape, &s2) || !shape_broadcast(nc->shape, s2, &s))
		DLC_INTERNAL("graph_where: incompatible shapes");
	int bax = bax_in(nc, s.rank);
	if (bax < 0)
		bax = bax_in(na, s.rank);
	if (bax < 0)
		bax = bax_in(nb, s.rank);
	/* a constant condition, or one operand: that operand, still with the
	 * batch axis of the others (a sum over it counts the valid rows only) */
	double c;
	NodeId pick = 0;
	if (g->fold && (scalar_const(g, cond, &c) || (nc->op == OP_BROADCAST && scalar_const(g, nc->in[0], &c))))
		pick = c != 0 ? a : b;
	else if (g->fold && a == b)
		pick = a;
	if (pick) {
		NodeId r = graph_broadcast(g, pick, s);
		return bax >= 0 ? graph_rebatch(g, r, bax) : r;
	}
	cond = graph_broadcast(g, cond, s);
	a = graph_broadcast(g, a, s);
	b = graph_broadcast(g, b, s);
	Node n = blank(OP_WHERE, g->nodes[a].dtype, s, bax);
	return intern(g, &n, (NodeId[]){cond, a, b}, 3);
}

int64_t graph_batch_slots(const Graph *g, NodeId id)
{
	const Node *n = &g->nodes[id];
	if (n->bax < 0 || g->batch <= 0)
		return 0;
	return n->shape.d[n->bax] / g->batch;
}

int graph_reshape_bax(const Graph *g, NodeId a, Shape to)
{
	const Node *na = &g->nodes[a];
	if (na->bax < 0 || g->batch <= 0)
		return -1;
	/* a is [P, B * Q] as a matrix: P from the axes before its batch axis,
	 * Q elements of each example in each of the P blocks; the n examples of
	 * a partial batch fill the first n * Q elements of every block */
	int64_t P = 1;
	for (int i = 0; i < na->bax; i++)
		P *= na->shape.d[i];
	int64_t Q = shape_numel(na->shape) / P / g->batch;
	int64_t pre = 1;
	for (int j = 0; j < to.rank && pre <= P; j++) {
		if (pre == P) {
			int64_t T = 1;
			for (int k = j + 1; k < to.rank; k++)
				T *= to.d[k];
			if (T > 0 && Q % T == 0 && to.d[j] == g->batch * (Q / T))
				return j;
		}
		pre *= to.d[j];
	}
	return -1;
}

NodeId graph_reshape(Graph *g, NodeId a, Shape to)
{
	const Node *na = &g->nodes[a];
	if (shape_numel(na->shape) != shape_numel(to))
		DLC_INTERNAL("bad reshape");
	if (shape_eq(na->shape, to))
		return a;
	/* -1 also where the examples would mix: sema rejects such reshapes of
	 * values, so this is only the adjoint of a value without a batch axis
	 * that a product with the batch gave one (a param of B rows) */
	int bax = graph_reshape_bax(g, a, to);
	if (na->op == OP_RESHAPE) {
		/* one reshape of the source, with this batch axis */
		NodeId r = graph_reshape(g, na->in[0], to);
		return bax >= 0 ? graph_rebatch(g, r, bax) : r;
	}
	/* a reshaped scalar constant is that constant broadcast */
	if (g->fold && na->op == OP_CONST)
		return graph_broadcast(g, a, to);
	if (g->fold && na->op == OP_BROADCAST && g->nodes[na->in[0]].op == OP_CONST)
		return graph_broadcast(g, na->in[0], to);
	Node n = blank(OP_RESHAPE, na->dtype, to, bax);
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_rebatch(Graph *g, NodeId a, int bax)
{
	const Node *na = &g->nodes[a];
	if (na->bax == bax)
		return a;
	Node n = blank(OP_RESHAPE, na->dtype, na->shape, bax);
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_reduce(Graph *g, OpKind op, NodeId a, int axis, int keepdims)
{
	const Node *na = &g->nodes[a];
	Shape s;
	memset(&s, 0, sizeof s);
	int bax = -1;
	if (axis < 0) {
		if (keepdims) {
			s.rank = na->shape.rank;
			for (int i = 0; i < s.rank; i++)
				s.d[i] = 1;
		}
	} else {
		if (axis >= na->shape.rank)
			DLC_INTERNAL("bad reduce axis");
		for (int i = 0; i < na->shape.rank; i++) {
			if (i == axis && !keepdims)
				continue;
			if (i == na->bax)
				bax = s.rank;
			s.d[s.rank++] = i == axis ? 1 : na->shape.d[i];
		}
		if (na->bax == axis)
			bax = -1;
	}
	Node n = blank(op, na->dtype, s, bax);
	n.i[0] = axis;
	n.i[1] = keepdims;
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_sumto(Graph *g, NodeId a, Shape to)
{
	const Node *na = &g->nodes[a];
	if (shape_eq(na->shape, to))
		return a;
	if (na->op == OP_BROADCAST && shape_eq(g->nodes[na->in[0]].shape, to) &&
	    g->nodes[na->in[0]].op == OP_CONST && g->fold) {
		/* sum of a broadcast constant: the constant times the count */
		double k = (double)(shape_numel(na->shape) / shape_numel(to));
		if (na->bax < 0)
			return graph_binary(g, OP_MUL, na->in[0], graph_const(g, k));
	}
	int bax = -1;
	int r = na->shape.rank;
	if (na->bax >= 0) {
		int ib = na->bax - (r - to.rank);
		if (ib >= 0 && to.d[ib] == na->shape.d[na->bax])
			bax = ib;
	}
	Node n = blank(OP_SUMTO, na->dtype, to, bax);
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_argmax(Graph *g, NodeId a, int axis, int keepdims)
{
	const Node *na = &g->nodes[a];
	if (axis < 0 || axis >= na->shape.rank)
		DLC_INTERNAL("bad argmax axis");
	Shape s;
	memset(&s, 0, sizeof s);
	int bax = -1;
	for (int i = 0; i < na->shape.rank; i++) {
		if (i == axis && !keepdims)
			continue;
		if (i == na->bax && i != axis)
			bax = s.rank;
		s.d[s.rank++] = i == axis ? 1 : na->shape.d[i];
	}
	Node n = blank(OP_ARGMAX, DT_I32, s, bax);
	n.i[0] = axis;
	n.i[1] = keepdims;
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_one_hot(Graph *g, NodeId a, int64_t classes)
{
	const Node *na = &g->nodes[a];
	if (na->dtype != DT_I32 || classes < 1 || na->shape.rank >= MAXRANK)
		DLC_INTERNAL("bad one_hot");
	Shape s = na->shape;
	s.d[s.rank++] = classes;
	Node n = blank(OP_ONE_HOT, g->fdtype, s, na->bax);
	n.i[0] = classes;
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_permute(Graph *g, NodeId a, const int *perm)
{
	const Node *na = &g->nodes[a];
	int r = na->shape.rank, seen = 0, ident = 1;
	for (int k = 0; k < r; k++) {
		if (perm[k] < 0 || perm[k] >= r || (seen >> perm[k] & 1))
			DLC_INTERNAL("bad permutation");
		seen |= 1 << perm[k];
		ident &= perm[k] == k;
	}
	if (ident)
		return a;
	if (g->fold && na->op == OP_TRANSPOSE) {
		/* permute(permute(x, p), q) = permute(x, p[q]) */
		int pq[MAXRANK];
		for (int k = 0; k < r; k++)
			pq[k] = (int)na->i[perm[k]];
		return graph_permute(g, na->in[0], pq);
	}
	Shape s = na->shape;
	int bax = -1;
	for (int k = 0; k < r; k++) {
		s.d[k] = na->shape.d[perm[k]];
		if (perm[k] == na->bax)
			bax = k;
	}
	Node n = blank(OP_TRANSPOSE, na->dtype, s, bax);
	for (int k = 0; k < r; k++)
		n.i[k] = perm[k];
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_transpose(Graph *g, NodeId a)
{
	const Node *na = &g->nodes[a];
	int r = na->shape.rank, perm[MAXRANK];
	if (r < 2)
		DLC_INTERNAL("transpose of rank %d", r);
	for (int k = 0; k < r; k++)
		perm[k] = k;
	perm[r - 2] = r - 1;
	perm[r - 1] = r - 2;
	return graph_permute(g, a, perm);
}

/* A permutation that swaps the last two axes only (a 2-D transpose). */
static int swaps_last_two(const Node *n)
{
	int r = n->shape.rank;
	if (n->op != OP_TRANSPOSE || r < 2 || n->i[r - 2] != r - 1 || n->i[r - 1] != r - 2)
		return 0;
	for (int k = 0; k < r - 2; k++)
		if (n->i[k] != k)
			return 0;
	return 1;
}

NodeId graph_matmul(Graph *g, NodeId a, NodeId b, int ta, int tb)
{
	const Node *na = &g->nodes[a], *nb = &g->nodes[b];
	int ra = na->shape.rank, rb = nb->shape.rank;
	if (ra < 2 || rb < 2)
		DLC_INTERNAL("matmul of rank %d and %d", ra, rb);
	/* fold explicit transposes into the flags */
	if (g->fold && swaps_last_two(na))
		return graph_matmul(g, na->in[0], b, !ta, tb);
	if (g->fold && swaps_last_two(nb))
		return graph_matmul(g, a, nb->in[0], ta, !tb);
	int64_t M = na->shape.d[ra - (ta ? 1 : 2)], Ka = na->shape.d[ra - (ta ? 2 : 1)];
	int64_t Kb = nb->shape.d[rb - (tb ? 1 : 2)], N = nb->shape.d[rb - (tb ? 2 : 1)];
	if (Ka != Kb)
		DLC_INTERNAL("matmul inner dims %lld vs %lld", (long long)Ka, (long long)Kb);
	/* leading (batch) axes broadcast as in numpy */
	Shape s;
	if (!shape_broadcast(shape_make(ra - 2, na->shape.d), shape_make(rb - 2, nb->shape.d), &s) ||
	    s.rank + 2 > MAXRANK)
		DLC_INTERNAL("matmul leading axes do not broadcast");
	int r = s.rank + 2;
	s.d[r - 2] = M;
	s.d[r - 1] = N;
	s.rank = r;
	int bax = -1;
	if (na->bax >= 0 && na->bax == ra - (ta ? 1 : 2))
		bax = r - 2;
	else if (nb->bax >= 0 && nb->bax == rb - (tb ? 2 : 1))
		bax = r - 1;
	else if (na->bax >= 0 && na->bax < ra - 2)
		bax = na->bax + r - ra;
	else if (nb->bax >= 0 && nb->bax < rb - 2)
		bax = nb->bax + r - rb;
	Node n = blank(OP_MATMUL, na->dtype, s, bax);
	n.i[0] = ta;
	n.i[1] = tb;
	return intern(g, &n, (NodeId[]){a, b}, 2);
}

NodeId graph_softmax(Graph *g, OpKind op, NodeId a, int axis)
{
	const Node *na = &g->nodes[a];
	Node n = blank(op, na->dtype, na->shape, na->bax);
	n.i[0] = axis;
	return intern(g, &n, (NodeId[]){a}, 1);
}

NodeId graph_loss(Graph *g, OpKind op, NodeId a, NodeId b)
{
	const Node *na = &g->nodes[a];
	Shape s = shape_scalar();
	int bax = -1;
	if (op == OP_XENT_GRAD || op == OP_BCE_GRAD || op == OP_XENT_HESS || op == OP_BCE_HESS) {
		s = na->shape;
		bax = na->bax;
	}
	Node n = blank(op, g->fdtype, s, bax);
	return intern(g, &n, (NodeId[]){a, b}, 2);
}

NodeId graph_nll_grad(Graph *g, NodeId labels, Shape s)
{
	Node n = blank(OP_NLL_GRAD, g->fdtype, s, g->nodes[labels].bax >= 0 ? 0 : -1);
	return intern(g, &n, (NodeId[]){labels}, 1);
}

/* Loss options live in i[0] (sum), i[1] (ignore), i[2] (ignore_index),
 * i[3] (class weights given), f (label smoothing); the weights are the
 * last input, after the labels where the op has none of its own (HESS). */
static int loss_plain(const LossOpts *o)
{
	return !o->sum && !o->ignore && !o->weight && o->smoothing == 0;
}

static void loss_attrs(Node *n, const LossOpts *o)
{
	n->i[0] = o->sum;
	n->i[1] = o->ignore;
	n->i[2] = o->ignore ? o->ignore_index : 0;
	n->i[3] = o->weight != 0;
	n->f = o->smoothing;
}

NodeId graph_loss_ex(Graph *g, OpKind op, NodeId a, NodeId b, const LossOpts *o)
{
	if (loss_plain(o))
		return graph_loss(g, op, a, b);
	const Node *na = &g->nodes[a];
	int grad = op == OP_XENT_GRAD || op == OP_BCE_GRAD || op == OP_XENT_HESS || op == OP_BCE_HESS;
	Node n = blank(op, g->fdtype, grad ? na->shape : shape_scalar(), grad ? na->bax : -1);
	if (op == OP_BCE || op == OP_BCE_GRAD || op == OP_BCE_HESS) {
		n.i[0] = o->sum;
		return intern(g, &n, (NodeId[]){a, b}, 2);
	}
	loss_attrs(&n, o);
	NodeId in[4] = {a, b, 0, 0};
	int nin = 2;
	if (op == OP_XENT_HESS)
		in[nin++] = o->labels;
	if (o->weight)
		in[nin++] = o->weight;
	return intern(g, &n, in, nin);
}

NodeId graph_nll_grad_ex(Graph *g, NodeId labels, Shape s, const LossOpts *o)
{
	if (loss_plain(o))
		return graph_nll_grad(g, labels, s);
	Node n = blank(OP_NLL_GRAD, g->fdtype, s, g->nodes[labels].bax >= 0 ? 0 : -1);
	loss_attrs(&n, o);
	return intern(g, &n, (NodeId[]){labels, o->weight}, o->weight ? 2 : 1);
}

void graph_loss_opts(const Graph *g, NodeId id, LossOpts *o)
{
	const Node *n = &g->nodes[id];
	memset(o, 0, sizeof *o);
	o->sum = (int)n->i[0];
	if (n->op == OP_BCE || n->op == OP_BCE_GRAD || n->op == OP_BCE_HESS)
		return;
	o->ignore = (int)n->i[1];
	o->ignore_index = n->i[2];
	o->smoothing = n->f;
	if (n->i[3])
		o->weight = n->in[n->nin - 1];
	if (n->op == OP_XENT_HESS && n->nin > 2)
		o->labels = n->in[2];
}

NodeId graph_assign(Graph *g, NodeId target, NodeId value)
{
	Node n = blank(OP_ASSIGN, g->nodes[target].dtype, g->nodes[target].shape, -1);
	return intern(g, &n, (NodeId[]){target, value}, 2);
}

int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d)
{
	int64_t span = d * (k - 1) + 1;
	if (in + 2 * p < span || s < 1)
		return -1;
	return (in + 2 * p - span) / s + 1;
}

static void window_store(Node *n, Window w)
{
	n->i[0] = w.sh;
	n->i[1] = w.sw;
	n->i[2] = w.ph;
	n->i[3] = w.pw;
	n->i[4] = w.dh;
	n->i[5] = w.dw;
	n->i[6] = w.groups;
	n->i[7] = w.count_pad;
	n->i[8] = w.kh;
	n->i[9] = w.kw;
}

Window graph_window(const Graph *g, NodeId id)
{
	const Node *n = &g->nodes[id];
	Window w;
	w.sh = n->i[0];
	w.sw = n->i[1];
	w.ph = n->i[2];
	w.pw = n->i[3];
	w.dh = n->i[4];
	w.dw = n->i[5];
	w.groups = n->i[6];
	w.count_pad = n->i[7];
	w.kh = w.kw = 0;
	switch (n->op) {
	case OP_CONV2D: case OP_CONV2D_DX:
		w.kh = g->nodes[n->in[1]].shape.d[2];
		w.kw = g->nodes[n->in[1]].shape.d[3];
		break;
	case OP_CONV2D_DW:
		w.kh = n->shape.d[2];
		w.kw = n->shape.d[3];
		break;
	default: /* pooling */
		w.kh = n->i[8];
		w.kw = n->i[9];
	}
	return w;
}

NodeId graph_conv2d(Graph *g, NodeId x, NodeId k, Window w)
{
	const Node *nx = &g->nodes[x], *nk = &g->nodes[k];
	int64_t oh = window_out(nx->shape.d[2], nk->shape.d[2], w.sh, w.ph, w.dh);
	int64_t ow = window_out(nx->shape.d[3], nk->shape.d[3], w.sw, w.pw, w.dw);
	if (nx->shape.rank != 4 || nk->shape.rank != 4 || oh < 1 || ow < 1 ||
	    nk->shape.d[1] * w.groups != nx->shape.d[1] || nk->shape.d[0] % w.groups)
		DLC_INTERNAL("bad conv2d");
	int64_t d[4] = {nx->shape.d[0], nk->shape.d[0], oh, ow};
	Node n = blank(OP_CONV2D, nx->dtype, shape_make(4, d), nx->bax == 0 ? 0 : -1);
	window_store(&n, w);
	return intern(g, &n, (NodeId[]){x, k}, 2);
}

NodeId graph_conv2d_dx(Graph *g, NodeId dy, NodeId k, Shape xshape, Window w)
{
	Node n = blank(OP_CONV2D_DX, g->nodes[dy].dtype, xshape, g->nodes[dy].bax == 0 ? 0 : -1);
	window_store(&n, w);
	return intern(g, &n, (NodeId[]){dy, k}, 2);
}

NodeId graph_conv2d_dw(Graph *g, NodeId x, NodeId dy, Shape kshape, Window w)
{
	Node n = blank(OP_CONV2D_DW, g->nodes[x].dtype, kshape, -1);
	window_store(&n, w);
	return intern(g, &n, (NodeId[]){x, dy}, 2);
}

NodeId graph_pool(Graph *g, OpKind op, NodeId x, Window w)
{
	const Node *nx = &g->nodes[x];
	int64_t oh = window_out(nx->shape.d[2], w.kh, w.sh, w.ph, 1);
	int64_t ow = window_out(nx->shape.d[3], w.kw, w.sw, w.pw, 1);
	if (nx->shape.rank != 4 || oh < 1 || ow < 1)
		DLC_INTERNAL("bad pooling window");
	int64_t d[4] = {nx->shape.d[0], nx->shape.d[1], oh, ow};
	Node n = blank(op, nx->dtype, shape_make(4, d), nx->bax == 0 ? 0 : -1);
	w.dh = w.dw = 1;
	w.groups = 1;
	window_store(&n, w);
	return intern(g, &n, (NodeId[]){x}, 1);
}

NodeId graph_pool_grad(Graph *g, OpKind op, NodeId x, NodeId dy, Window w)
{
	const Node *nx = &g->nodes[x];
	Node n = blank(op, nx->dtype, nx->shape, nx->bax);
	w.dh = w.dw = 1;
	w.groups = 1;
	window_store(&n, w);
	if (op == OP_MAXPOOL_GRAD)
		return intern(g, &n, (NodeId[]){x, dy}, 2);
	return intern(g, &n, (NodeId[]){dy}, 1);
}

NodeId graph_pad(Graph *g, NodeId x, const int64_t *pad)
{
	const Node *nx = &g->nodes[x];
	Shape s = nx->shape;
	int any = 0;
	for (int k = 0; k < s.rank; k++) {
		s.d[k] += pad[2 * k] + pad[2 * k + 1];
		any |= pad[2 * k] || pad[2 * k + 1];
	}
	if (!any)
		return x;
	/* along the batch axis, whole multiples of B stay a batch axis: n * k
	 * rows of zeros before, then the n * k rows that hold data */
	int bax = nx->bax;
	if (bax >= 0 && (pad[2 * bax] % g->batch || pad[2 * bax + 1] % g->batch))
		bax = -1;
	Node n = blank(OP_PAD, nx->dtype, s, bax);
	for (int k = 0; k < 2 * s.rank; k++)
		n.i[k] = pad[k];
	return intern(g, &n, (NodeId[]){x}, 1);
}

NodeId graph_slice(Graph *g, NodeId x, int axis, int64_t start, int64_t end)
{
	const Node *nx = &g->nodes[x];
	if (start == 0 && end == nx->shape.d[axis])
		return x;
	Shape s = nx->shape;
	s.d[axis] = end - start;
	/* along the batch axis, [B i, B j) is a batch axis of j - i slots: [n i, n j) */
	int bax = nx->bax;
	if (bax == axis && (start % g->batch || end % g->batch))
		bax = -1;
	Node n = blank(OP_SLICE, nx->dtype, s, bax);
	n.i[0] = axis;
	n.i[1] = start;
	n.i[2] = end;
	return intern(g, &n, (NodeId[]){x}, 1);
}

NodeId graph_concat(Graph *g, const NodeId *parts, int n, int axis)
{
	if (n == 1)
		return parts[0];
	const Node *n0 = &g->nodes[parts[0]];
	Shape s = n0->shape;
	int bax = -1, all = 1;
	for (int k = 0; k < n; k++) {
		const Node *nk = &g->nodes[parts[k]];
		if (nk->shape.rank != s.rank || axis < 0 || axis >= s.rank)
			DLC_INTERNAL("bad concat");
		if (k)
			s.d[axis] += nk->shape.d[axis];
		if (bax < 0)
			bax = nk->bax;
		all &= nk->bax == axis;
	}
	/* along the batch axis: each part's n * k rows follow the previous part's */
	if (bax == axis && !all)
		bax = -1;
	Node nd = blank(OP_CONCAT, n0->dtype, s, bax);
	nd.i[0] = axis;
	return intern(g, &nd, parts, n);
}

NodeId graph_dropout_mask(Graph *g, Shape s, int bax, double p, int64_t salt)
{
	Node n = blank(OP_DROPOUT_MASK, g->fdtype, s, bax);
	n.f = p;
	n.i[0] = salt;
	return intern(g, &n, NULL, 0);
}

NodeId graph_arange(Graph *g, int64_t count)
{
	Node n = blank(OP_ARANGE, g->fdtype, shape_make(1, (int64_t[]){count}), -1);
	return intern(g, &n, NULL, 0);
}

NodeId graph_random(Graph *g, Shape s, int bax, int normal, int64_t salt, int64_t index)
{
	Node n = blank(OP_RANDOM, g->fdtype, s, bax);
	n.i[0] = salt;
	n.i[1] = normal;
	n.i[2] = index;
	return intern(g, &n, NULL, 0);
}

NodeId graph_take(Graph *g, NodeId table, NodeId ids)
{
	const Node *nt = &g->nodes[table], *ni = &g->nodes[ids];
	if (ni->dtype != DT_I32 || nt->dtype == DT_I32 || nt->shape.rank < 1 ||
	    ni->shape.rank + nt->shape.rank - 1 > MAXRANK)
		DLC_INTERNAL("bad take");
	Shape s = ni->shape;
	for (int k = 1; k < nt->shape.rank; k++)
		s.d[s.rank++] = nt->shape.d[k];
	Node n = blank(OP_TAKE, nt->dtype, s, ni->bax);
	return intern(g, &n, (NodeId[]){table, ids}, 2);
}

NodeId graph_take_grad(Graph *g, NodeId dy, NodeId ids, Shape tshape)
{
	const Node *ny = &g->nodes[dy], *ni = &g->nodes[ids];
	if (ni->dtype != DT_I32 || tshape.rank < 1 || ny->shape.rank != ni->shape.rank + tshape.rank - 1)
		DLC_INTERNAL("bad take_grad");
	Node n = blank(OP_TAKE_GRAD, ny->dtype, tshape, -1);
	return intern(g, &n, (NodeId[]){dy, ids}, 2);
}

/* ---- fused attention ---- */

/* The leading axes of q [..., T, E] and a last axis of x entries. */
static Shape attn_packed(const Node *q, int64_t x)
{
	Shape s = q->shape;
	s.rank--;
	s.d[s.rank - 1] = x;
	return s;
}

NodeId graph_attention(Graph *g, NodeId q, NodeId k, NodeId v, NodeId mask, double scale, int causal)
{
	const Node *nq = &g->nodes[q], *nk = &g->nodes[k], *nv = &g->nodes[v];
	int r = nq->shape.rank;
	if (r < 2 || nk->shape.rank != r || nv->shape.rank != r || nk->bax != nq->bax || nv->bax != nq->bax ||
	    nq->bax >= r - 2 || nq->shape.d[r - 1] != nk->shape.d[r - 1] || nk->shape.d[r - 2] != nv->shape.d[r - 2])
		DLC_INTERNAL("bad fused attention operands");
	for (int a = 0; a < r - 2; a++)
		if (nk->shape.d[a] != nq->shape.d[a] || nv->shape.d[a] != nq->shape.d[a])
			DLC_INTERNAL("fused attention operands with different leading axes");
	/* a broadcast mask is read through its strides */
	while (g->nodes[mask].op == OP_BROADCAST)
		mask = g->nodes[mask].in[0];
	int64_t T = nq->shape.d[r - 2], F = nv->shape.d[r - 1];
	Node n = blank(OP_ATTENTION, nq->dtype, attn_packed(nq, T * F + T), nq->bax);
	n.f = scale;
	n.i[0] = causal;
	return intern(g, &n, (NodeId[]){q, k, v, mask}, 4);
}

NodeId graph_attention_out(Graph *g, NodeId att)
{
	const Node *na = &g->nodes[att], *nq = &g->nodes[na->in[0]], *nv = &g->nodes[na->in[2]];
	int r = nq->shape.rank;
	int64_t T = nq->shape.d[r - 2], F = nv->shape.d[r - 1];
	Shape s = nq->shape;
	s.d[r - 1] = F;
	return graph_reshape(g, graph_slice(g, att, r - 2, 0, T * F), s);
}

NodeId graph_attention_grad(Graph *g, NodeId att, NodeId gy)
{
	const Node *na = &g->nodes[att];
	if (na->op != OP_ATTENTION || !shape_eq(g->nodes[gy].shape, na->shape))
		DLC_INTERNAL("bad fused attention adjoint");
	const Node *nq = &g->nodes[na->in[0]], *nk = &g->nodes[na->in[1]], *nv = &g->nodes[na->in[2]];
	int r = nq->shape.rank;
	int64_t T = nq->shape.d[r - 2], S = nk->shape.d[r - 2], E = nq->shape.d[r - 1], F = nv->shape.d[r - 1];
	Node n = blank(OP_ATTENTION_GRAD, nq->dtype, attn_packed(nq, T * E + S * E + S * F), nq->bax);
	n.f = na->f;
	n.i[0] = na->i[0];
	return intern(g, &n, (NodeId[]){na->in[0], na->in[1], na->in[2], na->in[3], att, gy}, 6);
}

NodeId graph_attention_part(Graph *g, NodeId grad, int which)
{
	const Node *ng = &g->nodes[grad];
	const Node *nq = &g->nodes[ng->in[0]], *nk = &g->nodes[ng->in[1]], *nv = &g->nodes[ng->in[2]];
	int r = nq->shape.rank;
	int64_t T = nq->shape.d[r - 2], S = nk->shape.d[r - 2], E = nq->shape.d[r - 1];
	int64_t start = which == 0 ? 0 : which == 1 ? T * E : T * E + S * E;
	Shape s = which == 0 ? nq->shape : which == 1 ? nk->shape : nv->shape;
	return graph_reshape(g, graph_slice(g, grad, r - 2, start, start + shape_numel(s) / shape_numel(attn_packed(nq, 1))), s);
}

static NodeId upsample_node(Graph *g, OpKind op, NodeId x, int64_t sh, int64_t sw)
{
	const Node *nx = &g->nodes[x];
	if (nx->shape.rank != 4 || sh < 1 || sw < 1 ||
	    (op == OP_UPSAMPLE_GRAD && (nx->shape.d[2] % sh || nx->shape.d[3] % sw)))
		DLC_INTERNAL("bad %s", op_info[op].name);
	if (sh == 1 && sw == 1)
		return x;
	Shape s = nx->shape;
	s.d[2] = op == OP_UPSAMPLE ? s.d[2] * sh : s.d[2] / sh;
	s.d[3] = op == OP_UPSAMPLE ? s.d[3] * sw : s.d[3] / sw;
	Node n = blank(op, nx->dtype, s, nx->bax);
	n.i[0] = sh;
	n.i[1] = sw;
	return intern(g, &n, (NodeId[]){x}, 1);
}

NodeId graph_upsample(Graph *g, NodeId x, int64_t sh, int64_t sw) { return upsample_node(g, OP_UPSAMPLE, x, sh, sw); }
NodeId graph_upsample_grad(Graph *g, NodeId dy, int64_t sh, int64_t sw)
{
	return upsample_node(g, OP_UPSAMPLE_GRAD, dy, sh, sw);
}

int64_t graph_numel(const Graph *g, NodeId id) { return shape_numel(g->nodes[id].shape); }

/* The flops of one evaluation of node n, whose inputs are in g (n itself
 * need not be yet); exact while below 2^53. */
static double node_flops(const Graph *g, const Node *n)
{
	const OpInfo *oi = &op_info[n->op];
	if (n->op == OP_MATMUL) {
		const Node *a = &g->nodes[n->in[0]];
		int64_t K = a->shape.d[a->shape.rank - (n->i[0] ? 2 : 1)];
		return 2 * (double)shape_numel(n->shape) * (double)K;
	}
	if (n->op == OP_CONV2D || n->op == OP_CONV2D_DX || n->op == OP_CONV2D_DW) {
		const Node *k = n->op == OP_CONV2D_DW ? n : &g->nodes[n->in[1]];
		const Node *y = n->op == OP_CONV2D ? n : &g->nodes[n->op == OP_CONV2D_DX ? n->in[0] : n->in[1]];
		return 2 * (double)shape_numel(y->shape) * (double)(shape_numel(k->shape) / k->shape.d[0]);
	}
	if (n->op == OP_ATTENTION || n->op == OP_ATTENTION_GRAD) {
		const Node *q = &g->nodes[n->in[0]], *k = &g->nodes[n->in[1]], *v = &g->nodes[n->in[2]];
		int r = q->shape.rank;
		double E = (double)q->shape.d[r - 1], F = (double)v->shape.d[r - 1];
		double scores = (double)shape_numel(q->shape) / E * (double)k->shape.d[r - 2];
		return 2 * scores * (n->op == OP_ATTENTION ? E + F : 3 * E + 2 * F);
	}
	if (oi->flags & (OPF_REDUCE))
		return (double)shape_numel(g->nodes[n->in[0]].shape) * oi->flops;
	if (n->op == OP_XENT || n->op == OP_NLL || n->op == OP_BCE)
		return (double)shape_numel(g->nodes[n->in[0]].shape) * oi->flops;
	return (double)shape_numel(n->shape) * oi->flops;
}

double graph_work(const Graph *g, NodeId id) { return node_flops(g, &g->nodes[id]); }

int64_t graph_flops(const Graph *g, NodeId id)
{
	double x = node_flops(g, &g->nodes[id]);
	return x < (double)DLC_FLOPS_MAX ? (int64_t)x : DLC_FLOPS_MAX;
}

void graph_reach(const Graph *g, const NodeId *roots, int nroots, uint8_t *mark)
{
	memset(mark, 0, g->nnodes);
	for (int i = 0; i < nroots; i++)
		if (roots[i])
			mark[roots[i]] = 1;
	for (uint32_t id = g->nnodes; id-- > 1;) {
		if (!mark[id])
			continue;
		const Node *n = &g->nodes[id];
		for (int k = 0; k < n->nin; k++)
			if (n->in[k])
				mark[n->in[k]] = 1;
	}
}

void graph_dump(FILE *out, const Graph *g, const NodeId *roots, int nroots)
{
	uint8_t *mark = malloc(g->nnodes);
	if (!mark)
		DLC_INTERNAL("out of memory");
	graph_reach(g, roots, nroots, mark);
	char buf[128];
	for (uint32_t id = 1; id < g->nnodes; id++) {
		if (!mark[id])
			continue;
		const Node *n = &g->nodes[id];
		fprintf(out, "%%%u = %s", id, op_info[n->op].name);
		for (int k = 0; k < n->nin; k++)
			fprintf(out, "%s%%%u", k ? ", " : " ", n->in[k]);
		switch (n->op) {
		case OP_PARAM: case OP_INPUT: case OP_STATE:
			fprintf(out, " %s", g->tensors[n->sym].name);
			break;
		case OP_CONST: fprintf(out, " %.17g", n->f); break;
		case OP_HYPER: fprintf(out, " lr"); break;
		case OP_LOOP_VAR: {
			const LoopSlot *sl = &g->loops[n->i[0]].slot[n->i[1]];
			if (sl->kind == SLOT_CARRY)
				fprintf(out, " loop%lld carry: %%%u, then %%%u", (long long)n->i[0], sl->src, sl->next);
			else if (sl->shift)
				fprintf(out, " loop%lld step of %%%u shifted by %d (else %%%u)", (long long)n->i[0], sl->src, sl->shift,
				        sl->first);
			else
				fprintf(out, " loop%lld step of %%%u", (long long)n->i[0], sl->src);
			break;
		}
		case OP_SCAN: {
			const Loop *l = &g->loops[n->i[0]];
			const LoopOut *lo = &l->out[n->i[1]];
			fprintf(out, " loop%lld (%lld steps%s) ", (long long)n->i[0], (long long)l->T, l->reverse ? ", reversed" : "");
			if (lo->kind == LOUT_STACK)
				fprintf(out, "stacks %%%u", lo->body);
			else
				fprintf(out, "last %%%u", l->slot[lo->carry].var);
			break;
		}
		case OP_COUNT: fprintf(out, " %lld*n", (long long)n->i[0]); break;
		case OP_POWC: fprintf(out, " ^%.17g", n->f); break;
		case OP_SUM: case OP_MAX: case OP_ARGMAX:
			fprintf(out, " axis=%lld%s", (long long)n->i[0], n->i[1] ? " keepdims" : "");
			break;
		case OP_ONE_HOT: fprintf(out, " classes=%lld", (long long)n->i[0]); break;
		case OP_SOFTMAX: case OP_LOG_SOFTMAX:
			fprintf(out, " axis=%lld", (long long)n->i[0]);
			break;
		case OP_TRANSPOSE:
			if (n->shape.rank > 2)
				for (int k = 0; k < n->shape.rank; k++)
					fprintf(out, "%s%lld%s", k ? ", " : " perm=[", (long long)n->i[k],
					        k + 1 < n->shape.rank ? "" : "]");
			break;
		case OP_UPSAMPLE: case OP_UPSAMPLE_GRAD:
			fprintf(out, " scale=%lldx%lld", (long long)n->i[0], (long long)n->i[1]);
			break;
		case OP_ATTENTION: case OP_ATTENTION_GRAD:
			fprintf(out, " scale=%.17g%s", n->f, n->i[0] ? " causal" : "");
			break;
		case OP_MATMUL:
			if (n->i[0] || n->i[1])
				fprintf(out, "%s%s", n->i[0] ? " Ta" : "", n->i[1] ? " Tb" : "");
			break;
		default:
			if (op_rules[n->op].attr)
				fprintf(out, " %s=%.17g", op_rules[n->op].attr, n->f);
			break;
		}
		fprintf(out, " : %s%s", dtype_name((DType)n->dtype), shape_str(n->shape, buf, sizeof buf));
		if (n->bax >= 0)
			fprintf(out, " batch@%d", n->bax);
		if (n->bax >= 0 && graph_batch_slots(g, id) > 1)
			fprintf(out, "x%lld", (long long)graph_batch_slots(g, id));
		if (n->name)
			fprintf(out, "  # %s", n->name);
		fputc('\n', out);
	}
	free(mark);
}

/* ---- loops ---- */

static Loop *loop_at(Graph *g, int L)
{
	if (L < 0 || L >= g->nloops || g->loops[L].closed)
		DLC_INTERNAL("loop %d is not open", L);
	return &g->loops[L];
}

int graph_loop_new(Graph *g, int64_t T, int reverse)
{
	g->loops = arena_grow(g->arena, g->loops, (size_t)g->nloops, (size_t)g->nloops + 1, sizeof(Loop));
	Loop *l = &g->loops[g->nloops];
	memset(l, 0, sizeof *l);
	l->T = T;
	l->reverse = reverse;
	return g->nloops++;
}

static NodeId loop_slot(Graph *g, int L, LoopSlot sl, Shape s, int bax, DType dt)
{
	Loop *l = loop_at(g, L);
	l->slot = arena_grow(g->arena, l->slot, (size_t)l->nslot, (size_t)l->nslot + 1, sizeof(LoopSlot));
	Node n = blank(OP_LOOP_VAR, dt, s, bax);
	n.i[0] = L;
	n.i[1] = l->nslot;
	sl.var = intern(g, &n, NULL, 0);
	l = &g->loops[L];
	l->slot[l->nslot++] = sl;
	return sl.var;
}

NodeId graph_loop_carry(Graph *g, int L, NodeId init)
{
	LoopSlot sl = {SLOT_CARRY, 0, init, 0, 0, 0};
	const Node *i = graph_node(g, init);
	return loop_slot(g, L, sl, i->shape, i->bax, (DType)i->dtype);
}

NodeId graph_loop_seq(Graph *g, int L, NodeId src, int shift, NodeId first)
{
	const Node *sn = graph_node(g, src);
	Loop *l = loop_at(g, L);
	if (sn->shape.rank < 1 || sn->shape.d[0] != l->T || sn->bax == 0 || (shift && !first))
		DLC_INTERNAL("bad sequence for loop %d", L);
	Shape s = sn->shape;
	for (int k = 1; k < s.rank; k++)
		s.d[k - 1] = s.d[k];
	s.rank--;
	if (first && !shape_eq(graph_node(g, first)->shape, s))
		DLC_INTERNAL("first value of a shifted sequence: wrong shape");
	LoopSlot sl = {SLOT_SEQ, 0, src, 0, shift, first};
	return loop_slot(g, L, sl, s, sn->bax > 0 ? sn->bax - 1 : -1, (DType)sn->dtype);
}

static LoopSlot *slot_of(Graph *g, int L, NodeId var)
{
	const Node *v = graph_node(g, var);
	if (v->op != OP_LOOP_VAR || v->i[0] != L)
		DLC_INTERNAL("node %u is no variable of loop %d", var, L);
	return &g->loops[L].slot[v->i[1]];
}

void graph_loop_next(Graph *g, int L, NodeId var, NodeId next)
{
	loop_at(g, L);
	LoopSlot *sl = slot_of(g, L, var);
	const Node *v = graph_node(g, var), *x = graph_node(g, next);
	if (sl->kind != SLOT_CARRY || !shape_eq(v->shape, x->shape) || v->dtype != x->dtype)
		DLC_INTERNAL("bad next value for loop %d", L);
	sl->next = next;
}

static int loop_out(Graph *g, int L, LoopOut o)
{
	Loop *l = loop_at(g, L);
	l->out = arena_grow(g->arena, l->out, (size_t)l->nout, (size_t)l->nout + 1, sizeof(LoopOut));
	l->out[l->nout] = o;
	return l->nout++;
}

int graph_loop_stack(Graph *g, int L, NodeId body)
{
	const Loop *l = loop_at(g, L);
	for (int o = 0; o < l->nout; o++)
		if (l->out[o].kind == LOUT_STACK && l->out[o].body == body)
			return o;
	LoopOut o = {LOUT_STACK, body, -1, 0};
	return loop_out(g, L, o);
}

int graph_loop_last(Graph *g, int L, NodeId var)
{
	LoopSlot *sl = slot_of(g, L, var);
	if (sl->kind != SLOT_CARRY)
		DLC_INTERNAL("the last value of a sequence slot");
	LoopOut o = {LOUT_LAST, 0, (int)graph_node(g, var)->i[1], 0};
	return loop_out(g, L, o);
}

/* The OP_SCAN node of body value `body` stacked over T steps: [T, ...] */
static Node stacked_node(const Graph *g, int64_t T, NodeId body)
{
	const Node *b = &g->nodes[body];
	Shape s = b->shape;
	if (s.rank >= MAXRANK)
		DLC_INTERNAL("a stacked loop output of rank %d", s.rank + 1);
	for (int k = s.rank; k > 0; k--)
		s.d[k] = s.d[k - 1];
	s.d[0] = T;
	s.rank++;
	return blank(OP_SCAN, (DType)b->dtype, s, b->bax >= 0 ? b->bax + 1 : -1);
}

void graph_loop_close(Graph *g, int L, NodeId *outs)
{
	Loop *l = loop_at(g, L);
	int max = 4 * l->nslot + l->nout + 1, nin = 0;
	NodeId *in = arena_alloc(g->arena, sizeof(NodeId) * (size_t)max);
	for (int k = 0; k < l->nslot; k++) {
		LoopSlot *sl = &l->slot[k];
		if (sl->kind == SLOT_CARRY && !sl->next)
			DLC_INTERNAL("carry %d of loop %d has no next value", k, L);
		in[nin++] = sl->src;
		if (sl->next)
			in[nin++] = sl->next;
		if (sl->first)
			in[nin++] = sl->first;
	}
	for (int o = 0; o < l->nout; o++)
		if (l->out[o].kind == LOUT_STACK)
			in[nin++] = l->out[o].body;
	for (int o = 0; o < l->nout; o++) {
		l = &g->loops[L];
		const LoopOut *lo = &l->out[o];
		Node n;
		if (lo->kind == LOUT_STACK) {
			n = stacked_node(g, l->T, lo->body);
		} else {
			const Node *v = graph_node(g, l->slot[lo->carry].var);
			n = blank(OP_SCAN, (DType)v->dtype, v->shape, v->bax);
		}
		n.i[0] = L;
		n.i[1] = o;
		NodeId id = intern(g, &n, in, nin);
		g->loops[L].out[o].node = id;
		if (outs)
			outs[o] = id;
	}
	g->loops[L].closed = 1;
}

int graph_loop_hoist(Graph *g, int L, NodeId *roots, int nroots)
{
	loop_at(g, L);
	uint32_t n0 = g->nnodes;
	uint8_t *body = malloc(n0), *carry = calloc(n0, 1), *mm = calloc(n0, 1), *front = calloc(n0, 1);
	NodeId *full = calloc(n0, sizeof(NodeId)), *map = calloc(n0, sizeof(NodeId));
	if (!body || !carry || !mm || !front || !full || !map)
		DLC_INTERNAL("out of memory");
	graph_loop_body(g, L, body);
	for (int k = 0; k < g->loops[L].nslot; k++) {
		const LoopSlot *sl = &g->loops[L].slot[k];
		if (sl->kind == SLOT_CARRY)
			carry[sl->var] = 1;
		else if (!sl->shift)
			full[sl->var] = sl->src;
	}
	/* the step-parallel values and their whole-sequence versions */
	for (NodeId id = 1; id < n0; id++) {
		if (!body[id] || g->nodes[id].op == OP_LOOP_VAR)
			continue;
		Node n = g->nodes[id];
		for (int k = 0; k < n.nin; k++)
			carry[id] |= carry[n.in[k]];
		if (carry[id])
			continue;
		NodeId f[2] = {0, 0};
		int ok = n.nin <= 2;
		for (int k = 0; k < n.nin && ok; k++) {
			f[k] = body[n.in[k]] ? full[n.in[k]] : n.in[k];
			ok = f[k] != 0;
			mm[id] |= mm[n.in[k]];
		}
		if (!ok)
			continue;
		if ((op_info[n.op].flags & OPF_EW) && n.nin == 1)
			full[id] = graph_unary_f(g, (OpKind)n.op, f[0], n.f);
		else if ((op_info[n.op].flags & OPF_EW) && n.nin == 2)
			full[id] = graph_binary(g, (OpKind)n.op, f[0], f[1]);
		else if (n.op == OP_MATMUL && !n.i[0] && body[n.in[0]] && !body[n.in[1]] &&
		         g->nodes[n.in[1]].shape.rank == 2) {
			full[id] = graph_matmul(g, f[0], n.in[1], 0, (int)n.i[1]);
			mm[id] = 1;
		}
	}
	/* the values to move: step-parallel with a product, read by the rest */
	int moved = 0;
	for (NodeId id = 1; id < n0; id++) {
		if (!body[id] || !carry[id])
			continue;
		const Node *n = &g->nodes[id];
		for (int k = 0; k < n->nin; k++)
			if (body[n->in[k]] && full[n->in[k]] && mm[n->in[k]] && g->nodes[n->in[k]].op != OP_LOOP_VAR)
				front[n->in[k]] = 1;
	}
	for (int i = 0; i < nroots; i++)
		if (roots[i] < n0 && body[roots[i]] && full[roots[i]] && mm[roots[i]])
			front[roots[i]] = 1;
	for (NodeId id = 1; id < n0; id++)
		if (front[id]) {
			map[id] = graph_loop_seq(g, L, full[id], 0, 0);
			moved++;
		}
	/* the rest of the body again, reading the moved values' slices */
	for (NodeId id = 1; moved && id < n0; id++) {
		if (!body[id] || map[id] || g->nodes[id].op == OP_LOOP_VAR)
			continue;
		Node n = g->nodes[id];
		NodeId in[64], *pin = n.nin <= 64 ? in : malloc(sizeof(NodeId) * n.nin);
		int changed = 0;
		for (int k = 0; k < n.nin; k++) {
			pin[k] = n.in[k] < n0 && map[n.in[k]] ? map[n.in[k]] : n.in[k];
			changed |= pin[k] != n.in[k];
		}
		if (changed)
			map[id] = graph_clone(g, id, pin);
		if (pin != in)
			free(pin);
	}
	for (int i = 0; i < nroots; i++)
		if (roots[i] < n0 && map[roots[i]])
			roots[i] = map[roots[i]];
	free(body);
	free(carry);
	free(mm);
	free(front);
	free(full);
	free(map);
	return moved;
}

NodeId graph_loop_add_stack(Graph *g, int L, NodeId body)
{
	Loop *l = &g->loops[L];
	if (!l->closed || !l->nout)
		DLC_INTERNAL("loop %d is not closed", L);
	for (int o = 0; o < l->nout; o++)
		if (l->out[o].kind == LOUT_STACK && l->out[o].body == body)
			return l->out[o].node;
	const Node *first = &g->nodes[l->out[0].node];
	int nin = first->nin;
	NodeId *in = arena_alloc(g->arena, sizeof(NodeId) * (size_t)(nin + 1));
	memcpy(in, first->in, sizeof(NodeId) * (size_t)nin);
	in[nin++] = body;
	l->out = arena_grow(g->arena, l->out, (size_t)l->nout, (size_t)l->nout + 1, sizeof(LoopOut));
	LoopOut lo = {LOUT_STACK, body, -1, 0};
	l->out[l->nout] = lo;
	Node n = stacked_node(g, l->T, body);
	n.i[0] = L;
	n.i[1] = l->nout;
	NodeId id = intern(g, &n, in, nin);
	g->loops[L].out[g->loops[L].nout++].node = id;
	return id;
}

void graph_loop_body(const Graph *g, int L, uint8_t *mark)
{
	memset(mark, 0, g->nnodes);
	const Loop *l = &g->loops[L];
	NodeId lo = g->nnodes;
	for (int k = 0; k < l->nslot; k++) {
		mark[l->slot[k].var] = 1;
		if (l->slot[k].var < lo)
			lo = l->slot[k].var;
	}
	for (NodeId id = lo; id < g->nnodes; id++) {
		const Node *n = &g->nodes[id];
		if (n->op == OP_SCAN || mark[id])
			continue;
		for (int k = 0; k < n->nin; k++)
			if (mark[n->in[k]]) {
				mark[id] = 1;
				break;
			}
	}
}

NodeId graph_clone(Graph *g, NodeId id, const NodeId *in)
{
	Node n = g->nodes[id];
	return intern(g, &n, in, n.nin);
}
