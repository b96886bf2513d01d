/* verify.c - the graph and memory-plan invariants (see verify.h). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "verify.h"

typedef struct Check {
	const Graph *g;
	const char *stage;
	FILE *err;
	int nbad;
} Check;

static void bad(Check *c, NodeId id, const char *fmt, ...)
{
	va_list ap;
	const Node *n = &c->g->nodes[id];
	fprintf(c->err, "internal error: verify %s: node %%%u (%s): ", c->stage, id,
	        n->op < OP_COUNT_ ? op_info[n->op].name : "?");
	va_start(ap, fmt);
	vfprintf(c->err, fmt, ap);
	va_end(ap);
	fputc('\n', c->err);
	c->nbad++;
}

static const char *sh(Shape s, char *buf) { return shape_str(s, buf, 160); }

static void check_shape(Check *c, NodeId id, const char *what, Shape got, Shape want)
{
	char b1[160], b2[160];
	if (!shape_eq(got, want))
		bad(c, id, "%s is %s, its rule gives %s", what, sh(got, b1), sh(want, b2));
}

/* The shape of a reduction of `in` over `axis` (-1: all). */
static Shape reduced(Shape in, int64_t axis, int64_t keepdims)
{
	Shape s;
	memset(&s, 0, sizeof s);
	for (int i = 0; i < in.rank; i++) {
		if ((axis < 0 || i == axis) && !keepdims)
			continue;
		s.d[s.rank++] = axis < 0 || i == axis ? 1 : in.d[i];
	}
	return s;
}

static void check_node(Check *c, NodeId id)
{
	const Graph *g = c->g;
	const Node *n = &g->nodes[id];
	char b1[160], b2[160], b3[160];
	if (n->op >= OP_COUNT_) {
		bad(c, id, "op %u is not in the op table", n->op);
		return;
	}
	if (n->dtype > DT_I32)
		bad(c, id, "element type %u", n->dtype);
	if (n->shape.rank < 0 || n->shape.rank > MAXRANK) {
		bad(c, id, "rank %d", n->shape.rank);
		return;
	}
	for (int k = 0; k < n->shape.rank; k++)
		if (n->shape.d[k] < 1)
			bad(c, id, "axis %d has size %lld", k, (long long)n->shape.d[k]);
	if (n->bax < -1 || n->bax >= n->shape.rank)
		bad(c, id, "batch axis %d of a rank-%d value", n->bax, n->shape.rank);
	int arity = n->nin;
	/* losses with options: the labels (cross_entropy_hess) and class weights follow */
	int extra = n->op == OP_XENT || n->op == OP_XENT_GRAD || n->op == OP_NLL || n->op == OP_NLL_GRAD ? 1
	            : n->op == OP_XENT_HESS ? 2 : 0;
	if (arity != op_info[n->op].arity && !((n->op == OP_CONCAT || n->op == OP_SCAN) && arity > op_info[n->op].arity) &&
	    !(arity > op_info[n->op].arity && arity <= op_info[n->op].arity + extra))
		bad(c, id, "%d inputs, the op takes %d", arity, op_info[n->op].arity);
	for (int k = 0; k < arity; k++) {
		if (n->in[k] == 0 || n->in[k] >= g->nnodes) {
			bad(c, id, "input %d is %%%u, not a node", k, n->in[k]);
			return;
		}
		if (n->in[k] >= id) {
			bad(c, id, "input %d is %%%u, which does not come before it", k, n->in[k]);
			return;
		}
	}
	const Node *a = arity > 0 ? &g->nodes[n->in[0]] : NULL;
	const Node *b = arity > 1 ? &g->nodes[n->in[1]] : NULL;
	int flags = op_info[n->op].flags;
	if (flags & OPF_EW) {
		for (int k = 0; k < arity; k++)
			check_shape(c, id, "an elementwise operand", g->nodes[n->in[k]].shape, n->shape);
		if (a->dtype != n->dtype)
			bad(c, id, "element type %s of an operand of type %s", dtype_name((DType)n->dtype),
			    dtype_name((DType)a->dtype));
		return;
	}
	switch (n->op) {
	case OP_PARAM: case OP_INPUT: case OP_STATE:
		if (n->sym < 0 || n->sym >= g->ntensors) {
			bad(c, id, "tensor %d of %d", n->sym, g->ntensors);
			break;
		}
		if (g->tensors[n->sym].node != id)
			bad(c, id, "tensor %s has leaf %%%u", g->tensors[n->sym].name, g->tensors[n->sym].node);
		check_shape(c, id, "the leaf", n->shape, g->tensors[n->sym].shape);
		break;
	case OP_LOOP_VAR: {
		if (n->i[0] < 0 || n->i[0] >= g->nloops || n->i[1] < 0 || n->i[1] >= g->loops[n->i[0]].nslot ||
		    g->loops[n->i[0]].slot[n->i[1]].var != id) {
			bad(c, id, "a variable of no loop");
			break;
		}
		const LoopSlot *sl = &g->loops[n->i[0]].slot[n->i[1]];
		if (sl->kind == SLOT_CARRY) {
			check_shape(c, id, "the carry's initial value", g->nodes[sl->src].shape, n->shape);
			check_shape(c, id, "the carry's next value", g->nodes[sl->next].shape, n->shape);
		} else if (g->nodes[sl->src].shape.d[0] != g->loops[n->i[0]].T) {
			bad(c, id, "a sequence of %lld steps in a loop of %lld", (long long)g->nodes[sl->src].shape.d[0],
			    (long long)g->loops[n->i[0]].T);
		}
		break;
	}
	case OP_SCAN:
		if (n->i[0] < 0 || n->i[0] >= g->nloops || n->i[1] < 0 || n->i[1] >= g->loops[n->i[0]].nout ||
		    g->loops[n->i[0]].out[n->i[1]].node != id)
			bad(c, id, "an output of no loop");
		break;
	case OP_CONST: case OP_HYPER: case OP_COUNT:
		if (n->shape.rank != 0)
			bad(c, id, "a scalar leaf of shape %s", sh(n->shape, b1));
		break;
	case OP_BROADCAST: {
		Shape s;
		if (!shape_broadcast(a->shape, n->shape, &s) || !shape_eq(s, n->shape))
			bad(c, id, "%s does not broadcast to %s", sh(a->shape, b1), sh(n->shape, b2));
		break;
	}
	case OP_RESHAPE:
		if (shape_numel(a->shape) != shape_numel(n->shape))
			bad(c, id, "reshape of %s to %s", sh(a->shape, b1), sh(n->shape, b2));
		break;
	case OP_SUM: case OP_MAX:
		if (n->i[0] >= a->shape.rank)
			bad(c, id, "axis %lld of a rank-%d value", (long long)n->i[0], a->shape.rank);
		else
			check_shape(c, id, "the reduction", n->shape, reduced(a->shape, n->i[0], n->i[1]));
		break;
	case OP_ARGMAX:
		if (n->dtype != DT_I32)
			bad(c, id, "an argmax of element type %s", dtype_name((DType)n->dtype));
		if (n->i[0] < 0 || n->i[0] >= a->shape.rank)
			bad(c, id, "axis %lld of a rank-%d value", (long long)n->i[0], a->shape.rank);
		else
			check_shape(c, id, "the argmax", n->shape, reduced(a->shape, n->i[0], n->i[1]));
		break;
	case OP_ONE_HOT: {
		Shape s = a->shape;
		if (a->dtype != DT_I32 || n->dtype == DT_I32 || s.rank >= MAXRANK) {
			bad(c, id, "a one_hot of %s to %s", dtype_name((DType)a->dtype), dtype_name((DType)n->dtype));
			break;
		}
		s.d[s.rank++] = n->i[0];
		check_shape(c, id, "the one_hot", n->shape, s);
		break;
	}
	case OP_SUMTO: {
		Shape s;
		if (!shape_broadcast(n->shape, a->shape, &s) || !shape_eq(s, a->shape))
			bad(c, id, "%s does not sum to %s", sh(a->shape, b1), sh(n->shape, b2));
		break;
	}
	case OP_TRANSPOSE: {
		/* a permutation: output axis k is input axis i[k] */
		int seen = 0;
		Shape want = a->shape;
		for (int k = 0; k < a->shape.rank; k++) {
			if (n->i[k] < 0 || n->i[k] >= a->shape.rank || (seen >> n->i[k] & 1)) {
				bad(c, id, "axis %lld in the permutation of a rank-%d value", (long long)n->i[k], a->shape.rank);
				return;
			}
			seen |= 1 << n->i[k];
			want.d[k] = a->shape.d[n->i[k]];
		}
		check_shape(c, id, "the permutation", n->shape, want);
		break;
	}
	case OP_MATMUL: {
		/* [..., M, K] @ [..., K, N], leading axes broadcast; i[0], i[1]:
		 * the operands' last two axes swapped */
		int ra = a->shape.rank, rb = b->shape.rank, ta = n->i[0] != 0, tb = n->i[1] != 0;
		Shape lead;
		if (ra < 2 || rb < 2 ||
		    !shape_broadcast(shape_make(ra - 2, a->shape.d), shape_make(rb - 2, b->shape.d), &lead)) {
			bad(c, id, "a product of %s and %s", sh(a->shape, b1), sh(b->shape, b2));
			break;
		}
		if (a->shape.d[ra - (ta ? 2 : 1)] != b->shape.d[rb - (tb ? 1 : 2)])
			bad(c, id, "inner sizes of %s and %s differ", sh(a->shape, b1), sh(b->shape, b2));
		lead.d[lead.rank++] = a->shape.d[ra - (ta ? 1 : 2)];
		lead.d[lead.rank++] = b->shape.d[rb - (tb ? 2 : 1)];
		check_shape(c, id, "the product", n->shape, lead);
		break;
	}
	case OP_CONCAT: {
		int ax = (int)n->i[0];
		if (ax < 0 || ax >= n->shape.rank) {
			bad(c, id, "axis %d of a rank-%d value", ax, n->shape.rank);
			break;
		}
		int64_t total = 0;
		for (int k = 0; k < arity; k++) {
			Shape p = g->nodes[n->in[k]].shape, q = n->shape;
			total += p.d[ax];
			p.d[ax] = q.d[ax] = 1;
			if (!shape_eq(p, q))
				bad(c, id, "part %d is %s, the result %s", k, sh(g->nodes[n->in[k]].shape, b1), sh(n->shape, b2));
		}
		if (total != n->shape.d[ax])
			bad(c, id, "parts of %lld along axis %d make %lld", (long long)total, ax, (long long)n->shape.d[ax]);
		break;
	}
	case OP_SOFTMAX: case OP_LOG_SOFTMAX:
		check_shape(c, id, "the result", n->shape, a->shape);
		if (n->i[0] < 0 || n->i[0] >= a->shape.rank)
			bad(c, id, "axis %lld of a rank-%d value", (long long)n->i[0], a->shape.rank);
		break;
	case OP_XENT: case OP_NLL: case OP_BCE:
		if (n->shape.rank != 0)
			bad(c, id, "a loss of shape %s", sh(n->shape, b1));
		break;
	case OP_XENT_GRAD: case OP_BCE_GRAD: case OP_XENT_HESS: case OP_BCE_HESS:
		check_shape(c, id, "the gradient", n->shape, a->shape);
		break;
	case OP_TAKE: case OP_TAKE_GRAD: {
		/* ids i32 [...]; the table [V, ...] and the rows ids.shape + [...] */
		const Node *tab = n->op == OP_TAKE ? a : n, *rows = n->op == OP_TAKE ? n : a;
		if (b->dtype != DT_I32 || tab->dtype == DT_I32 || rows->dtype != tab->dtype) {
			bad(c, id, "ids of type %s, a table of type %s", dtype_name((DType)b->dtype), dtype_name((DType)tab->dtype));
			break;
		}
		Shape want = b->shape;
		if (tab->shape.rank < 1 || b->shape.rank + tab->shape.rank - 1 > MAXRANK) {
			bad(c, id, "a table %s indexed by ids %s", sh(tab->shape, b1), sh(b->shape, b2));
			break;
		}
		for (int k = 1; k < tab->shape.rank; k++)
			want.d[want.rank++] = tab->shape.d[k];
		check_shape(c, id, n->op == OP_TAKE ? "the result" : "the adjoint", rows->shape, want);
		if (n->op == OP_TAKE && n->bax != b->bax)
			bad(c, id, "batch axis %d of rows indexed by ids with batch axis %d", n->bax, b->bax);
		break;
	}
	case OP_ATTENTION: case OP_ATTENTION_GRAD: {
		/* q [..., T, E], k [..., S, E], v [..., S, F], the leading axes shared;
		 * packed per leading index: [T F + T] or [T E + S E + S F] */
		const Node *q = a, *k = b, *v = &g->nodes[n->in[2]];
		int r = q->shape.rank;
		int ok = r >= 2 && k->shape.rank == r && v->shape.rank == r && q->shape.d[r - 1] == k->shape.d[r - 1] &&
		         k->shape.d[r - 2] == v->shape.d[r - 2];
		for (int x = 0; ok && x < r - 2; x++)
			ok = k->shape.d[x] == q->shape.d[x] && v->shape.d[x] == q->shape.d[x];
		if (!ok) {
			bad(c, id, "attention of q %s, k %s and v %s", sh(q->shape, b1), sh(k->shape, b2), sh(v->shape, b3));
			break;
		}
		int64_t T = q->shape.d[r - 2], S = k->shape.d[r - 2], E = q->shape.d[r - 1], F = v->shape.d[r - 1];
		Shape want = q->shape;
		want.rank = r - 1;
		want.d[r - 2] = n->op == OP_ATTENTION ? T * F + T : T * E + S * E + S * F;
		check_shape(c, id, "the packed value", n->shape, want);
		if (n->op == OP_ATTENTION_GRAD) {
			Shape fw = want;
			fw.d[r - 2] = T * F + T;
			check_shape(c, id, "the attention's value", g->nodes[n->in[4]].shape, fw);
			check_shape(c, id, "its adjoint", g->nodes[n->in[5]].shape, fw);
		}
		break;
	}
	case OP_UPSAMPLE: case OP_UPSAMPLE_GRAD: {
		/* NCHW; the large side is the small one times i[0] x i[1] */
		const Node *small = n->op == OP_UPSAMPLE ? a : n, *large = n->op == OP_UPSAMPLE ? n : a;
		Shape want = small->shape;
		if (small->shape.rank != 4 || n->i[0] < 1 || n->i[1] < 1) {
			bad(c, id, "upsampling of %s by %lldx%lld", sh(a->shape, b1), (long long)n->i[0], (long long)n->i[1]);
			break;
		}
		want.d[2] *= n->i[0];
		want.d[3] *= n->i[1];
		check_shape(c, id, n->op == OP_UPSAMPLE ? "the result" : "the adjoint", large->shape, want);
		break;
	}
	case OP_ASSIGN:
		if (a->op != OP_PARAM && a->op != OP_STATE)
			bad(c, id, "assigns to a %s, not to a parameter or state", op_info[a->op].name);
		if (shape_numel(b->shape) != shape_numel(a->shape))
			bad(c, id, "assigns %s to %s", sh(b->shape, b1), sh(a->shape, b2));
		break;
	default:
		break; /* convolutions, pooling, pad, slice, concat: checked by their constructors */
	}
}

int graph_verify(const Graph *g, const NodeId *roots, int nroots, const char *stage, FILE *err)
{
	Check c = {g, stage, err, 0};
	uint8_t *mark = NULL;
	if (nroots > 0) {
		mark = calloc(g->nnodes ? g->nnodes : 1, 1);
		if (!mark)
			DLC_INTERNAL("out of memory");
		for (int i = 0; i < nroots; i++)
			if (roots[i] == 0 || roots[i] >= g->nnodes) {
				fprintf(err, "internal error: verify %s: root %d is %%%u, not a node\n", stage, i, roots[i]);
				c.nbad++;
				free(mark);
				return c.nbad;
			}
		graph_reach(g, roots, nroots, mark);
	}
	for (NodeId id = 1; id < g->nnodes; id++)
		if (!mark || mark[id])
			check_node(&c, id);
	for (int t = 0; t < g->ntensors; t++) {
		NodeId l = g->tensors[t].node;
		if (l == 0 || l >= g->nnodes || g->nodes[l].sym != t || !(op_info[g->nodes[l].op].flags & OPF_LEAF)) {
			fprintf(err, "internal error: verify %s: tensor %s has no leaf of its own\n", stage, g->tensors[t].name);
			c.nbad++;
		}
	}
	free(mark);
	return c.nbad;
}

int memplan_verify(const Schedule *s, const MemPlan *p, FILE *err)
{
	int nbad = 0;
	uint32_t nn = s->g->nnodes;
	for (NodeId x = 1; x < nn; x++) {
		if (p->off[x] < 0)
			continue;
		int64_t xs = shape_numel(s->g->nodes[x].shape);
		if (p->off[x] + xs > p->arena_size) {
			fprintf(err, "internal error: verify memplan: %s ends past the arena\n", s->buf[x]);
			nbad++;
		}
		for (NodeId y = x + 1; y < nn; y++) {
			if (p->off[y] < 0 || p->last[y] < p->first[x] || p->last[x] < p->first[y])
				continue;
			int64_t ys = shape_numel(s->g->nodes[y].shape);
			if (p->off[x] < p->off[y] + ys && p->off[y] < p->off[x] + xs) {
				fprintf(err, "internal error: verify memplan: %s (kernels %d-%d) and %s (kernels %d-%d) overlap "
				        "in the arena\n", s->buf[x], p->first[x], p->last[x], s->buf[y], p->first[y], p->last[y]);
				nbad++;
			}
		}
	}
	return nbad;
}

int verify_enabled(void)
{
	const char *v = getenv("DLC_VERIFY");
	if (v && *v)
		return strcmp(v, "0") != 0;
#ifdef NDEBUG
	return 0;
#else
	return 1;
#endif
}
