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
	for (int i = 0; i < s.rank; i++)
		n *= s.d[i];
	return n;
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
	for (int i = 0; i < 3; i++)
		MIX(n->in[i]);
	for (int i = 0; i < 8; i++)
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
	       shape_eq(a->shape, b->shape) && !memcmp(a->in, b->in, sizeof a->in) &&
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

/* Return the id of a node equal to *n, adding it if it is new. */
static NodeId intern(Graph *g, Node *n)
{
	/* without CSE only leaves are shared (a tensor has one leaf) */
	int share = g->cse || (op_info[n->op].flags & OPF_LEAF);
	if (n->op != OP_ASSIGN && share) {
		uint32_t h = (uint32_t)node_hash(n) & (g->hcap - 1);
		while (g->htab[h]) {
			if (node_same(&g->nodes[g->htab[h]], n))
				return g->htab[h];
			h = (h + 1) & (g->hcap - 1);
		}
	}
	if (g->nnodes == g->cap) {
		g->nodes = arena_grow(g->arena, g->nodes, g->cap, 2 * (size_t)g->cap, sizeof(Node));
		g->cap *= 2;
	}
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
	OpKind op = role == ROLE_PARAM ? OP_PARAM : role == ROLE_STATE ? OP_STATE : OP_INPUT;
	Node n = blank(op, dt, s, bax);
	n.sym = idx;
	n.name = name;
	n.loc = loc;
	t->node = intern(g, &n);
	return idx;
}

NodeId graph_const(Graph *g, double v)
{
	Node n = blank(OP_CONST, g->fdtype, shape_scalar(), -1);
	n.f = v == 0 ? 0.0 * (signbit(v) ? -1 : 1) : v;
	return intern(g, &n);
}

NodeId graph_hyper(Graph *g, Hyper h)
{
	Node n = blank(OP_HYPER, g->fdtype, shape_scalar(), -1);
	n.sym = (int)h;
	return intern(g, &n);
}

NodeId graph_count(Graph *g, int64_t k, int dyn)
{
	if (!dyn)
		return graph_const(g, (double)(k * (g->batch ? 1 : 1)));
	Node n = blank(OP_COUNT, g->fdtype, shape_scalar(), -1);
	n.i[0] = k;
	n.i[1] = 1;
	return intern(g, &n);
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

static double apply_unary(OpKind op, double x, double c)
{
	switch (op) {
	case OP_NEG: return -x;
	case OP_EXP: return exp(x);
	case OP_LOG: return log(x);
	case OP_SQRT: return sqrt(x);
	case OP_POWC: return pow(x, c);
	case OP_ABS: return fabs(x);
	case OP_SIGN: return (x > 0) - (x < 0);
	case OP_RELU: return x > 0 ? x : 0;
	case OP_STEP: return x > 0 ? 1 : 0;
	case OP_SIGMOID: return 1 / (1 + exp(-x));
	case OP_TANH: return tanh(x);
	default: DLC_INTERNAL("not a unary op: %d", op);
	}
}

static NodeId unary_node(Graph *g, OpKind op, NodeId a, double c)
{
	const Node *na = &g->nodes[a];
	if (!(op_info[op].flags & OPF_EW) || op_info[op].arity != 1)
		DLC_INTERNAL("graph_unary: %s", op_info[op].name);
	double v;
	/* Only scalars are folded; tensors of constants stay broadcast views. */
	if (g->fold && scalar_const(g, a, &v) && op != OP_LOG && op != OP_SQRT && op != OP_POWC)
		return graph_const(g, apply_unary(op, v, c));
	if (g->fold && op == OP_NEG && na->op == OP_NEG)
		return na->in[0];
	/* log(exp(x)) = x, exactly (and without exp's overflow) */
	if (g->fold && op == OP_LOG && na->op == OP_EXP)
		return na->in[0];
	if (na->op == OP_BROADCAST && g->nodes[na->in[0]].op == OP_CONST && g->fold &&
	    op != OP_LOG && op != OP_SQRT && op != OP_POWC)
		return graph_broadcast(g, unary_node(g, op, na->in[0], c), na->shape);
	Node n = blank(op, na->dtype, na->shape, na->bax);
	n.in[0] = a;
	n.f = c;
	return intern(g, &n);
}

NodeId graph_unary(Graph *g, OpKind op, NodeId a) { return unary_node(g, op, a, 0); }
NodeId graph_powc(Graph *g, NodeId a, double c)
{
	if (g->fold && c == 1)
		return a;
	return unary_node(g, OP_POWC, a, c);
}

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
	n.in[0] = a;
	return intern(g, &n);
}

NodeId graph_binary(Graph *g, OpKind op, NodeId a, NodeId b)
{
	if (!(op_info[op].flags & OPF_EW) || op_info[op].arity != 2)
		DLC_INTERNAL("graph_binary: %s", op_info[op].name);
	const Node *na = &g->nodes[a], *nb = &g->nodes[b];
	Shape s;
	if (!shape_broadcast(na->shape, nb->shape, &s))
		DLC_INTERNAL("graph_binary: incompatible shapes");
	double va, vb;
	if (g->fold && scalar_const(g, a, &va) && scalar_const(g, b, &vb)) {
		switch (op) {
		case OP_ADD: return graph_const(g, va + vb);
		case OP_SUB: return graph_const(g, va - vb);
		case OP_MUL: return graph_const(g, va * vb);
		case OP_DIV: if (vb != 0) return graph_const(g, va / vb); break;
		default: break;
		}
	}
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
	if ((op == OP_ADD || op == OP_MUL || op == OP_EQ || op == OP_MAXIMUM) && a > b) {
		NodeId t = a;
		a = b;
		b = t;
	}
	Node n = blank(op, g->nodes[a].dtype, s, bax);
	n.in[0] = a;
	n.in[1] = b;
	return intern(g, &n);
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
	n.in[0] = a;
	return intern(g, &n);
}

NodeId graph_rebatch(Graph *g, NodeId a, int bax)
{
	const Node *na = &g->nodes[a];
	if (na->bax == bax)
		return a;
	Node n = blank(OP_RESHAPE, na->dtype, na->shape, bax);
	n.in[0] = a;
	return intern(g, &n);
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
	n.in[0] = a;
	n.i[0] = axis;
	n.i[1] = keepdims;
	return intern(g, &n);
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
	n.in[0] = a;
	return intern(g, &n);
}

NodeId graph_transpose(Graph *g, NodeId a)
{
	const Node *na = &g->nodes[a];
	if (na->shape.rank != 2)
		DLC_INTERNAL("transpose of rank %d", na->shape.rank);
	if (g->fold && na->op == OP_TRANSPOSE)
		return na->in[0];
	int64_t d[2] = {na->shape.d[1], na->shape.d[0]};
	int bax = na->bax < 0 ? -1 : 1 - na->bax;
	Node n = blank(OP_TRANSPOSE, na->dtype, shape_make(2, d), bax);
	n.in[0] = a;
	return intern(g, &n);
}

NodeId graph_matmul(Graph *g, NodeId a, NodeId b, int ta, int tb)
{
	const Node *na = &g->nodes[a], *nb = &g->nodes[b];
	if (na->shape.rank != 2 || nb->shape.rank != 2)
		DLC_INTERNAL("matmul of rank %d and %d", na->shape.rank, nb->shape.rank);
	/* fold explicit transposes into the flags */
	if (g->fold && na->op == OP_TRANSPOSE)
		return graph_matmul(g, na->in[0], b, !ta, tb);
	if (g->fold && nb->op == OP_TRANSPOSE)
		return graph_matmul(g, a, nb->in[0], ta, !tb);
	int64_t M = na->shape.d[ta ? 1 : 0], Ka = na->shape.d[ta ? 0 : 1];
	int64_t Kb = nb->shape.d[tb ? 1 : 0], N = nb->shape.d[tb ? 0 : 1];
	if (Ka != Kb)
		DLC_INTERNAL("matmul inner dims %lld vs %lld", (long long)Ka, (long long)Kb);
	int64_t d[2] = {M, N};
	int bax = -1;
	if (na->bax >= 0 && na->bax == (ta ? 1 : 0))
		bax = 0;
	else if (nb->bax >= 0 && nb->bax == (tb ? 0 : 1))
		bax = 1;
	Node n = blank(OP_MATMUL, na->dtype, shape_make(2, d), bax);
	n.in[0] = a;
	n.in[1] = b;
	n.i[0] = ta;
	n.i[1] = tb;
	return intern(g, &n);
}

NodeId graph_softmax(Graph *g, OpKind op, NodeId a, int axis)
{
	const Node *na = &g->nodes[a];
	Node n = blank(op, na->dtype, na->shape, na->bax);
	n.in[0] = a;
	n.i[0] = axis;
	return intern(g, &n);
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
	n.in[0] = a;
	n.in[1] = b;
	return intern(g, &n);
}

NodeId graph_nll_grad(Graph *g, NodeId labels, Shape s)
{
	Node n = blank(OP_NLL_GRAD, g->fdtype, s, g->nodes[labels].bax >= 0 ? 0 : -1);
	n.in[0] = labels;
	return intern(g, &n);
}

NodeId graph_assign(Graph *g, NodeId target, NodeId value)
{
	Node n = blank(OP_ASSIGN, g->nodes[target].dtype, g->nodes[target].shape, -1);
	n.in[0] = target;
	n.in[1] = value;
	return intern(g, &n);
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
	default: /* pooling: the window is stored in f as kh * 65536 + kw */
		w.kh = (int64_t)n->f / 65536;
		w.kw = (int64_t)n->f % 65536;
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
	n.in[0] = x;
	n.in[1] = k;
	window_store(&n, w);
	return intern(g, &n);
}

NodeId graph_conv2d_dx(Graph *g, NodeId dy, NodeId k, Shape xshape, Window w)
{
	Node n = blank(OP_CONV2D_DX, g->nodes[dy].dtype, xshape, g->nodes[dy].bax == 0 ? 0 : -1);
	n.in[0] = dy;
	n.in[1] = k;
	window_store(&n, w);
	return intern(g, &n);
}

NodeId graph_conv2d_dw(Graph *g, NodeId x, NodeId dy, Shape kshape, Window w)
{
	Node n = blank(OP_CONV2D_DW, g->nodes[x].dtype, kshape, -1);
	n.in[0] = x;
	n.in[1] = dy;
	window_store(&n, w);
	return intern(g, &n);
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
	n.in[0] = x;
	w.dh = w.dw = 1;
	w.groups = 1;
	window_store(&n, w);
	n.f = (double)(w.kh * 65536 + w.kw);
	return intern(g, &n);
}

NodeId graph_pool_grad(Graph *g, OpKind op, NodeId x, NodeId dy, Window w)
{
	const Node *nx = &g->nodes[x];
	Node n = blank(op, nx->dtype, nx->shape, nx->bax);
	if (op == OP_MAXPOOL_GRAD) {
		n.in[0] = x;
		n.in[1] = dy;
	} else {
		n.in[0] = dy;
	}
	w.dh = w.dw = 1;
	w.groups = 1;
	window_store(&n, w);
	n.f = (double)(w.kh * 65536 + w.kw);
	return intern(g, &n);
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
	if (s.rank > 4)
		DLC_INTERNAL("pad of rank %d", s.rank);
	/* along the batch axis, whole multiples of B stay a batch axis: n * k
	 * rows of zeros before, then the n * k rows that hold data */
	int bax = nx->bax;
	if (bax >= 0 && (pad[2 * bax] % g->batch || pad[2 * bax + 1] % g->batch))
		bax = -1;
	Node n = blank(OP_PAD, nx->dtype, s, bax);
	n.in[0] = x;
	for (int k = 0; k < 2 * s.rank; k++)
		n.i[k] = pad[k];
	return intern(g, &n);
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
	n.in[0] = x;
	n.i[0] = axis;
	n.i[1] = start;
	n.i[2] = end;
	return intern(g, &n);
}

NodeId graph_concat(Graph *g, NodeId a, NodeId b, int axis)
{
	const Node *na = &g->nodes[a], *nb = &g->nodes[b];
	Shape s = na->shape;
	s.d[axis] += nb->shape.d[axis];
	int bax = na->bax >= 0 ? na->bax : nb->bax;
	/* along the batch axis: b's n * kb rows follow a's n * ka */
	if (bax == axis && (na->bax != axis || nb->bax != axis))
		bax = -1;
	Node n = blank(OP_CONCAT, na->dtype, s, bax);
	n.in[0] = a;
	n.in[1] = b;
	n.i[0] = axis;
	return intern(g, &n);
}

NodeId graph_dropout_mask(Graph *g, Shape s, int bax, double p, int64_t salt)
{
	Node n = blank(OP_DROPOUT_MASK, g->fdtype, s, bax);
	n.f = p;
	n.i[0] = salt;
	return intern(g, &n);
}

int64_t graph_numel(const Graph *g, NodeId id) { return shape_numel(g->nodes[id].shape); }

int64_t graph_flops(const Graph *g, NodeId id)
{
	const Node *n = &g->nodes[id];
	const OpInfo *oi = &op_info[n->op];
	if (n->op == OP_MATMUL) {
		const Node *a = &g->nodes[n->in[0]];
		int64_t K = a->shape.d[n->i[0] ? 0 : 1];
		return 2 * shape_numel(n->shape) * K;
	}
	if (n->op == OP_CONV2D || n->op == OP_CONV2D_DX || n->op == OP_CONV2D_DW) {
		const Node *k = n->op == OP_CONV2D_DW ? n : &g->nodes[n->in[1]];
		const Node *y = n->op == OP_CONV2D ? n : &g->nodes[n->op == OP_CONV2D_DX ? n->in[0] : n->in[1]];
		return 2 * shape_numel(y->shape) * shape_numel(k->shape) / k->shape.d[0];
	}
	if (oi->flags & (OPF_REDUCE))
		return shape_numel(g->nodes[n->in[0]].shape) * oi->flops;
	if (n->op == OP_XENT || n->op == OP_NLL || n->op == OP_BCE)
		return shape_numel(g->nodes[n->in[0]].shape) * oi->flops;
	return shape_numel(n->shape) * oi->flops;
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
		for (int k = 0; k < op_info[n->op].arity; k++)
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
		for (int k = 0; k < op_info[n->op].arity; k++)
			fprintf(out, "%s%%%u", k ? ", " : " ", n->in[k]);
		switch (n->op) {
		case OP_PARAM: case OP_INPUT: case OP_STATE:
			fprintf(out, " %s", g->tensors[n->sym].name);
			break;
		case OP_CONST: fprintf(out, " %.17g", n->f); break;
		case OP_HYPER: fprintf(out, " lr"); break;
		case OP_COUNT: fprintf(out, " %lld*n", (long long)n->i[0]); break;
		case OP_POWC: fprintf(out, " ^%.17g", n->f); break;
		case OP_SUM: case OP_MAX:
			fprintf(out, " axis=%lld%s", (long long)n->i[0], n->i[1] ? " keepdims" : "");
			break;
		case OP_SOFTMAX: case OP_LOG_SOFTMAX:
			fprintf(out, " axis=%lld", (long long)n->i[0]);
			break;
		case OP_MATMUL:
			if (n->i[0] || n->i[1])
				fprintf(out, "%s%s", n->i[0] ? " Ta" : "", n->i[1] ? " Tb" : "");
			break;
		default: break;
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
