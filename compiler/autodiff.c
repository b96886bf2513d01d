/* autodiff.c - reverse-mode autodiff over the graph.
 *
 * Nodes are visited in reverse id order (a reverse topological order).  Each
 * node that depends on a trainable parameter and has an adjoint emits its VJP:
 * new graph nodes for the adjoints of its inputs.  A missing adjoint is a
 * symbolic zero (id 0), never a tensor of zeros; fan-out adjoints are summed.
 * Broadcasting is an explicit node, so only BROADCAST's VJP sums over the
 * broadcast axes.  The fused gradient of softmax + cross-entropy comes from
 * the loss op's own rule, (softmax(z) - onehot(y)) / n.  Ops with a gradient
 * rule in the op table (op_rules[].vjp: the elementwise ops) use it; the
 * others have a case in vjp() below. */
#include <stdlib.h>
#include <string.h>
#include "autodiff.h"
#include "ops.h"

typedef struct AD {
	Graph *g;
	NodeId *adj;      /* adjoint per original node, 0 = symbolic zero */
	uint8_t *needs;   /* depends on a trainable param */
	uint32_t n;       /* original node count */
	uint8_t *loop_done; /* loops whose outputs' adjoints are handled */
	int nloop_done;
} AD;

static void accum(AD *ad, NodeId x, NodeId gx)
{
	if (!gx || x >= ad->n || !ad->needs[x])
		return;
	const Node *nx = graph_node(ad->g, x), *ng = graph_node(ad->g, gx);
	if (nx->bax >= 0 && ng->bax < 0 && shape_eq(nx->shape, ng->shape))
		gx = graph_rebatch(ad->g, gx, nx->bax);
	ad->adj[x] = ad->adj[x] ? graph_binary(ad->g, OP_ADD, ad->adj[x], gx) : gx;
}

static NodeId cst(AD *ad, double v) { return graph_const(ad->g, v); }
static NodeId mul(AD *ad, NodeId a, NodeId b) { return graph_binary(ad->g, OP_MUL, a, b); }
static NodeId sub(AD *ad, NodeId a, NodeId b) { return graph_binary(ad->g, OP_SUB, a, b); }
static NodeId dv(AD *ad, NodeId a, NodeId b) { return graph_binary(ad->g, OP_DIV, a, b); }
static NodeId neg(AD *ad, NodeId a) { return graph_unary(ad->g, OP_NEG, a); }

/* The shape a reduction over `axis` has with keepdims. */
static Shape kept_shape(Shape in, int axis)
{
	Shape s = in;
	if (axis < 0)
		for (int i = 0; i < s.rank; i++)
			s.d[i] = 1;
	else
		s.d[axis] = 1;
	return s;
}

/* Broadcast the adjoint of a reduction back over the reduced axes. */
static NodeId unreduce(AD *ad, NodeId gy, const Node *x, int axis)
{
	NodeId k = graph_reshape(ad->g, gy, kept_shape(x->shape, axis));
	return graph_broadcast(ad->g, k, x->shape);
}

static void vjp(AD *ad, NodeId id, NodeId gy);

/* zeros of node x's shape and batch axis */
static NodeId zeros_like(Graph *g, NodeId x)
{
	Node n = *graph_node(g, x);
	NodeId z = graph_broadcast(g, graph_const(g, 0), n.shape);
	return n.bax >= 0 ? graph_rebatch(g, z, n.bax) : z;
}

/* The adjoint of a loop (graph.h: Loop) is a loop over the same steps the
 * other way.  Its body recomputes the forward body from the carries the
 * forward loop stacked (a clone of the body that reads the new loop's
 * variables), then runs the body's reverse sweep: the adjoint of each carry
 * is a carry of the new loop, the adjoints of the sequences' slices are
 * stacked, and the adjoints of loop-invariant values (the parameters) are
 * summed over the steps in carries of their own. */
static void vjp_loop(AD *ad, int L)
{
	Graph *g = ad->g;
	if (L < ad->nloop_done && ad->loop_done[L])
		return;
	if (L >= ad->nloop_done) {
		ad->loop_done = realloc(ad->loop_done, (size_t)g->nloops);
		if (!ad->loop_done)
			DLC_INTERNAL("out of memory");
		memset(ad->loop_done + ad->nloop_done, 0, (size_t)(g->nloops - ad->nloop_done));
		ad->nloop_done = g->nloops;
	}
	ad->loop_done[L] = 1;
	Loop l = g->loops[L]; /* copy: new loops grow the array */
	int any = 0;
	for (int o = 0; o < l.nout; o++)
		any |= l.out[o].node < ad->n && ad->adj[l.out[o].node] != 0;
	if (!any)
		return;
	/* the carries before each step: their stacked next values, shifted */
	NodeId *stack_of = calloc((size_t)l.nslot, sizeof(NodeId));
	if (!stack_of)
		DLC_INTERNAL("out of memory");
	for (int o = 0; o < l.nout; o++)
		for (int k = 0; k < l.nslot; k++)
			if (l.out[o].kind == LOUT_STACK && l.slot[k].kind == SLOT_CARRY && l.out[o].body == l.slot[k].next &&
			    !stack_of[k])
				stack_of[k] = l.out[o].node;
	for (int k = 0; k < l.nslot; k++)
		if (l.slot[k].kind == SLOT_CARRY && !stack_of[k])
			DLC_INTERNAL("loop %d: carry %d is not stacked", L, k);
	int L2 = graph_loop_new(g, l.T, !l.reverse);
	uint32_t n0 = g->nnodes;
	NodeId *map = calloc(n0, sizeof(NodeId));
	uint8_t *body = malloc(n0);
	if (!map || !body)
		DLC_INTERNAL("out of memory");
	graph_loop_body(g, L, body);
	int dir = l.reverse ? -1 : 1;
	for (int k = 0; k < l.nslot; k++) {
		const LoopSlot *sl = &l.slot[k];
		if (sl->kind == SLOT_CARRY)
			map[sl->var] = graph_loop_seq(g, L2, stack_of[k], dir, sl->src);
		else
			map[sl->var] = graph_loop_seq(g, L2, sl->src, sl->shift, sl->first);
	}
	/* The forward body again, reading L2's variables; but its products are
	 * kept by the forward loop, stacked, and read back at each step (a
	 * variable of L2), so that only the elementwise rest is computed again.
	 * A product's clone stays for its adjoint rule (which reads its
	 * operands, not its value): `kept` maps it to the variable whose
	 * adjoint it takes. */
	NodeId *kept = NULL;
	size_t nkept = 0;
	NodeId lo = n0;
	for (uint32_t id = 1; id < n0; id++)
		if (body[id] && graph_node(g, id)->op != OP_LOOP_VAR) {
			Node n = *graph_node(g, id);
			NodeId in[64], *pin = n.nin <= 64 ? in : malloc(sizeof(NodeId) * n.nin);
			for (int k = 0; k < n.nin; k++)
				pin[k] = map[n.in[k]] ? map[n.in[k]] : n.in[k];
			NodeId c = graph_clone(g, id, pin);
			if (pin != in)
				free(pin);
			if (c < lo)
				lo = c;
			map[id] = c;
			if (n.op == OP_MATMUL) {
				NodeId v = graph_loop_seq(g, L2, graph_loop_add_stack(g, L, id), 0, 0);
				if (c >= nkept) {
					size_t m = (size_t)g->nnodes + 64;
					kept = realloc(kept, sizeof(NodeId) * m);
					if (!kept)
						DLC_INTERNAL("out of memory");
					memset(kept + nkept, 0, sizeof(NodeId) * (m - nkept));
					nkept = m;
				}
				kept[c] = v;
				map[id] = v;
			}
		}
	/* seeds: each output's adjoint at the step, and the carries' adjoints
	 * from the step after */
	AD in;
	memset(&in, 0, sizeof in);
	in.g = g;
	NodeId *seed_node = calloc((size_t)(2 * l.nslot + l.nout + 1), sizeof(NodeId));
	NodeId *seed_val = calloc((size_t)(2 * l.nslot + l.nout + 1), sizeof(NodeId));
	NodeId *dcarry = calloc((size_t)l.nslot, sizeof(NodeId));
	int nseed = 0;
	if (!seed_node || !seed_val || !dcarry)
		DLC_INTERNAL("out of memory");
	for (int k = 0; k < l.nslot; k++) {
		const LoopSlot *sl = &l.slot[k];
		if (sl->kind != SLOT_CARRY)
			continue;
		NodeId init = 0;
		for (int o = 0; o < l.nout; o++)
			if (l.out[o].kind == LOUT_LAST && l.out[o].carry == k && l.out[o].node < ad->n && ad->adj[l.out[o].node])
				init = init ? graph_binary(g, OP_ADD, init, ad->adj[l.out[o].node]) : ad->adj[l.out[o].node];
		dcarry[k] = graph_loop_carry(g, L2, init ? init : zeros_like(g, sl->var));
		seed_node[nseed] = map[sl->next] ? map[sl->next] : sl->next;
		seed_val[nseed++] = dcarry[k];
	}
	for (int o = 0; o < l.nout; o++) {
		const LoopOut *lo2 = &l.out[o];
		if (lo2->kind != LOUT_STACK || lo2->node >= ad->n || !ad->adj[lo2->node])
			continue;
		seed_node[nseed] = map[lo2->body] ? map[lo2->body] : lo2->body;
		seed_val[nseed++] = graph_loop_seq(g, L2, ad->adj[lo2->node], 0, 0);
	}
	/* the reverse sweep over the cloned body */
	in.n = g->nnodes;
	in.adj = calloc(in.n, sizeof(NodeId));
	in.needs = calloc(in.n, 1);
	if (!in.adj || !in.needs)
		DLC_INTERNAL("out of memory");
	for (uint32_t id = 1; id < n0; id++)
		in.needs[id] = id < ad->n && ad->needs[id];
	for (int k = 0; k < l.nslot; k++)
		in.needs[map[l.slot[k].var]] = 1;
	for (size_t id = 0; id < nkept && id < in.n; id++)
		if (kept[id])
			in.needs[kept[id]] = 1;
	for (uint32_t id = lo; id < in.n; id++) {
		const Node *n = graph_node(g, id);
		for (int k = 0; k < n->nin && !in.needs[id]; k++)
			in.needs[id] = in.needs[n->in[k]];
	}
	for (int i = 0; i < nseed; i++)
		if (seed_node[i] < in.n && in.needs[seed_node[i]])
			in.adj[seed_node[i]] = in.adj[seed_node[i]] ? graph_binary(g, OP_ADD, in.adj[seed_node[i]], seed_val[i])
			                                              : seed_val[i];
	uint8_t *clone = calloc(in.n, 1);
	if (!clone)
		DLC_INTERNAL("out of memory");
	for (uint32_t id = 1; id < n0; id++)
		if (body[id] && map[id])
			clone[map[id]] = 1;
	for (uint32_t id = lo; id < in.n && id < nkept; id++)
		if (kept[id])
			clone[id] = 1;
	for (uint32_t id = in.n; id-- > lo;) {
		if (id < nkept && kept[id]) /* a kept product: its variable's adjoint */
			in.adj[id] = in.adj[kept[id]];
		if (clone[id] && in.adj[id] && in.needs[id] && graph_node(g, id)->op != OP_LOOP_VAR)
			vjp(&in, id, in.adj[id]);
	}
	/* the new loop's carries and outputs */
	for (int k = 0; k < l.nslot; k++)
		if (l.slot[k].kind == SLOT_CARRY) {
			NodeId d = in.adj[map[l.slot[k].var]];
			graph_loop_next(g, L2, dcarry[k], d ? d : zeros_like(g, dcarry[k]));
		}
	/* Loop-invariant values the body reads: their adjoints summed over the
	 * steps.  A product contracted over the batch rows (a weight's
	 * gradient, h_{t-1}^T d_t) becomes one product after the loop, of its
	 * operands stacked over the steps, contracted over steps and rows
	 * together; a value with a batch axis (a broadcast bias), the sum over
	 * the steps of its stack.  Stacks hold zeros in the rows past n (the
	 * loop stores them so), so the rows that hold no data add nothing.  The
	 * others are summed in a carry. */
	NodeId *acc = calloc(n0, sizeof(NodeId));
	int *hm = malloc(sizeof(int) * 2 * n0), *hs = malloc(sizeof(int) * n0);
	uint8_t *r2 = malloc(g->nnodes);
	if (!acc || !hm || !hs || !r2)
		DLC_INTERNAL("out of memory");
	graph_loop_body(g, L2, r2);
	for (uint32_t id = 0; id < n0; id++)
		hm[2 * id] = hm[2 * id + 1] = hs[id] = -1;
	for (uint32_t id = 1; id < n0; id++) {
		if (body[id] || id >= ad->n || !ad->needs[id] || !in.adj[id] || graph_node(g, id)->op == OP_LOOP_VAR)
			continue;
		NodeId p = in.adj[id];
		Node pn = *graph_node(g, p), xn = *graph_node(g, id);
		if (p < g->nnodes && r2[p] && pn.op == OP_MATMUL && pn.i[0] == 1 && pn.i[1] == 0 && pn.shape.rank == 2 &&
		    shape_eq(pn.shape, xn.shape) && xn.bax < 0) {
			const Node *a = graph_node(g, pn.in[0]), *b = graph_node(g, pn.in[1]);
			if (a->shape.rank == 2 && b->shape.rank == 2 && a->bax == 0 && b->bax == 0 && r2[pn.in[0]] && r2[pn.in[1]]) {
				hm[2 * id] = graph_loop_stack(g, L2, pn.in[0]);
				hm[2 * id + 1] = graph_loop_stack(g, L2, pn.in[1]);
				continue;
			}
		}
		if (p < g->nnodes && r2[p] && pn.bax == 0 && shape_eq(pn.shape, xn.shape)) {
			hs[id] = graph_loop_stack(g, L2, p);
			continue;
		}
		{
			NodeId z = zeros_like(g, id);
			const Node *ga = graph_node(g, in.adj[id]);
			if (graph_node(g, z)->bax < 0 && ga->bax >= 0)
				z = graph_rebatch(g, z, ga->bax); /* rows past n hold no data: its sum_to stops at n */
			NodeId a = graph_loop_carry(g, L2, z);
			graph_loop_next(g, L2, a, graph_binary(g, OP_ADD, a, in.adj[id]));
			acc[id] = a;
		}
	}
	int *out_of = malloc(sizeof(int) * (size_t)(l.nslot + n0));
	if (!out_of)
		DLC_INTERNAL("out of memory");
	for (int k = 0; k < l.nslot; k++) {
		out_of[k] = -1;
		if (l.slot[k].kind == SLOT_CARRY)
			out_of[k] = graph_loop_last(g, L2, dcarry[k]);
		else if (in.adj[map[l.slot[k].var]] && l.slot[k].src < ad->n && ad->needs[l.slot[k].src])
			out_of[k] = graph_loop_stack(g, L2, in.adj[map[l.slot[k].var]]);
	}
	for (uint32_t id = 1; id < n0; id++)
		out_of[l.nslot + id] = acc[id] ? graph_loop_last(g, L2, acc[id]) : -1;
	NodeId *outs = malloc(sizeof(NodeId) * (size_t)(g->loops[L2].nout + 1));
	if (!outs)
		DLC_INTERNAL("out of memory");
	graph_loop_close(g, L2, outs);
	for (int k = 0; k < l.nslot; k++) {
		const LoopSlot *sl = &l.slot[k];
		if (out_of[k] < 0)
			continue;
		NodeId d = outs[out_of[k]];
		if (sl->kind == SLOT_CARRY) {
			accum(ad, sl->src, d);
		} else if (!sl->shift) {
			accum(ad, sl->src, d);
		} else {
			/* a shifted sequence is a backward loop's (it reads the forward
			 * loop's carries one step over): sema refuses to differentiate
			 * one (ad_missing_rule) */
			DLC_INTERNAL("loop %d: a backward loop is differentiated", L);
		}
	}
	for (uint32_t id = 1; id < n0; id++) {
		if (out_of[l.nslot + id] >= 0)
			accum(ad, id, outs[out_of[l.nslot + id]]);
		if (hm[2 * id] >= 0) {
			NodeId sa = outs[hm[2 * id]], sb = outs[hm[2 * id + 1]];
			Shape as = graph_node(g, sa)->shape, bs = graph_node(g, sb)->shape;
			int64_t da[2] = {as.d[0] * as.d[1], as.d[2]}, db[2] = {bs.d[0] * bs.d[1], bs.d[2]};
			accum(ad, id, graph_matmul(g, graph_reshape(g, sa, shape_make(2, da)), graph_reshape(g, sb, shape_make(2, db)),
			                           1, 0));
		}
		if (hs[id] >= 0)
			accum(ad, id, graph_reduce(g, OP_SUM, outs[hs[id]], 0, 0));
	}
	free(kept);
	free(outs);
	free(out_of);
	free(acc);
	free(hm);
	free(hs);
	free(r2);
	free(clone);
	free(in.adj);
	free(in.needs);
	free(in.loop_done);
	free(seed_node);
	free(seed_val);
	free(dcarry);
	free(map);
	free(body);
	free(stack_of);
}

static void vjp(AD *ad, NodeId id, NodeId gy)
{
	Graph *g = ad->g;
	const Node n = *graph_node(g, id); /* copy: constructors may grow the array */
	NodeId a = n.in[0], b = n.in[1];
	Node na = *graph_node(g, a);
	if (op_rules[n.op].vjp) {
		/* the table's rule, one input at a time, each adjoint summed in
		 * before the next is built */
		VjpCall v;
		memset(&v, 0, sizeof v);
		v.g = g;
		v.id = id;
		v.n = n;
		v.gy = gy;
		for (int k = 0; k < op_info[n.op].arity; k++)
			v.need[k] = n.in[k] < ad->n && ad->needs[n.in[k]];
		for (v.k = 0; v.k < op_info[n.op].arity; v.k++)
			accum(ad, n.in[v.k], op_rules[n.op].vjp(&v));
		return;
	}
	switch ((OpKind)n.op) {
	case OP_BROADCAST: accum(ad, a, graph_sumto(g, gy, na.shape)); break;
	case OP_RESHAPE: accum(ad, a, graph_reshape(g, gy, na.shape)); break;
	case OP_SUMTO: accum(ad, a, graph_broadcast(g, gy, na.shape)); break;
	case OP_SUM: {
		int axis = (int)n.i[0];
		accum(ad, a, unreduce(ad, gy, &na, axis));
		break;
	}
	case OP_MAX: {
		/* the gradient goes to the maxima, shared evenly among ties (as
		 * torch.amax; torch.max(x, dim) gives all of it to one of them) */
		int axis = (int)n.i[0];
		NodeId mask = graph_binary(g, OP_EQ, a, unreduce(ad, id, &na, axis));
		NodeId ties = graph_reduce(g, OP_SUM, mask, axis, (int)n.i[1]);
		NodeId share = graph_binary(g, OP_DIV, mask, unreduce(ad, ties, &na, axis));
		accum(ad, a, mul(ad, share, unreduce(ad, gy, &na, axis)));
		break;
	}
	case OP_TRANSPOSE: {
		int inv[MAXRANK];
		for (int k = 0; k < n.shape.rank; k++)
			inv[n.i[k]] = k;
		accum(ad, a, graph_permute(g, gy, inv));
		break;
	}
	case OP_MATMUL: {
		int ta = (int)n.i[0], tb = (int)n.i[1];
		/* C = A'B' with A' = ta ? A^T : A (the last two axes swapped).
		 * dA' = G B'^T, dB' = A'^T G, product by product; an operand
		 * broadcast over leading axes gets the sum over them. */
		Shape sb = graph_node(g, b)->shape;
		int b_done = 0;
		if (b < ad->n && ad->needs[b] && !ta && sb.rank == 2 && na.shape.rank >= 3 && na.bax <= 0 &&
		    graph_node(g, gy)->bax == na.bax) {
			/* [..., M, K] @ [K, N]: B's adjoint is one product over all the
			 * rows of A, [rows, K]^T [rows, N] (the batch axis first, so a
			 * partial batch's rows stay a prefix) */
			int64_t K = na.shape.d[na.shape.rank - 1], N = n.shape.d[n.shape.rank - 1];
			int64_t rows = shape_numel(na.shape) / K;
			int64_t da[2] = {rows, K}, dg[2] = {rows, N};
			NodeId a2 = graph_reshape(g, a, shape_make(2, da)), g2 = graph_reshape(g, gy, shape_make(2, dg));
			accum(ad, b, tb ? graph_matmul(g, g2, a2, 1, 0) : graph_matmul(g, a2, g2, 1, 0));
			b_done = 1;
		}
		if (a < ad->n && ad->needs[a])
			accum(ad, a, graph_sumto(g, ta ? graph_matmul(g, b, gy, tb, 1) : graph_matmul(g, gy, b, 0, !tb),
			                         na.shape));
		if (b < ad->n && ad->needs[b] && !b_done)
			accum(ad, b, graph_sumto(g, tb ? graph_matmul(g, gy, a, 1, ta) : graph_matmul(g, a, gy, !ta, 0), sb));
		break;
	}
	case OP_SOFTMAX: {
		int axis = (int)n.i[0];
		NodeId s = graph_reduce(g, OP_SUM, mul(ad, gy, id), axis, 1);
		accum(ad, a, mul(ad, id, sub(ad, gy, s)));
		break;
	}
	case OP_LOG_SOFTMAX: {
		int axis = (int)n.i[0];
		NodeId s = graph_reduce(g, OP_SUM, gy, axis, 1);
		NodeId p = graph_softmax(g, OP_SOFTMAX, a, axis);
		accum(ad, a, sub(ad, gy, mul(ad, p, s)));
		break;
	}
	case OP_XENT: { /* the class weights (options) get no gradient, as in PyTorch */
		LossOpts o;
		graph_loss_opts(g, id, &o);
		accum(ad, a, mul(ad, graph_loss_ex(g, OP_XENT_GRAD, a, b, &o), gy));
		break;
	}
	case OP_NLL: {
		LossOpts o;
		graph_loss_opts(g, id, &o);
		accum(ad, a, mul(ad, graph_nll_grad_ex(g, b, na.shape, &o), gy));
		break;
	}
	case OP_BCE: {
		LossOpts o;
		graph_loss_opts(g, id, &o);
		accum(ad, a, mul(ad, graph_loss_ex(g, OP_BCE_GRAD, a, b, &o), gy));
		if (b < ad->n && ad->needs[b]) {
			NodeId cnt = o.sum ? 0 : na.bax >= 0 ? graph_count(g, graph_numel(g, a) / g->batch, 1)
			                                     : cst(ad, (double)graph_numel(g, a));
			accum(ad, b, mul(ad, cnt ? dv(ad, neg(ad, a), cnt) : neg(ad, a), gy));
		}
		break;
	}
	case OP_CONV2D: {
		Window w = graph_window(g, id);
		if (a < ad->n && ad->needs[a])
			accum(ad, a, graph_conv2d_dx(g, gy, b, na.shape, w));
		if (b < ad->n && ad->needs[b])
			accum(ad, b, graph_conv2d_dw(g, a, gy, graph_node(g, b)->shape, w));
		break;
	}
	case OP_CONV2D_DX: {
		/* linear in each operand: conv_transpose2d(dy, k) is its forward use */
		Window w = graph_window(g, id);
		if (a < ad->n && ad->needs[a])
			accum(ad, a, graph_conv2d(g, gy, b, w));
		if (b < ad->n && ad->needs[b])
			accum(ad, b, graph_conv2d_dw(g, gy, a, graph_node(g, b)->shape, w));
		break;
	}
	case OP_CONV2D_DW: {
		Window w = graph_window(g, id);
		if (a < ad->n && ad->needs[a])
			accum(ad, a, graph_conv2d_dx(g, b, gy, na.shape, w));
		if (b < ad->n && ad->needs[b])
			accum(ad, b, graph_conv2d(g, a, gy, w));
		break;
	}
	case OP_TAKE: accum(ad, a, graph_take_grad(g, gy, b, na.shape)); break;
	case OP_TAKE_GRAD: accum(ad, a, graph_take(g, gy, b)); break;
	case OP_UPSAMPLE: accum(ad, a, graph_upsample_grad(g, gy, n.i[0], n.i[1])); break;
	case OP_UPSAMPLE_GRAD: accum(ad, a, graph_upsample(g, gy, n.i[0], n.i[1])); break;
	case OP_MAXPOOL: accum(ad, a, graph_pool_grad(g, OP_MAXPOOL_GRAD, a, gy, graph_window(g, id))); break;
	case OP_AVGPOOL: accum(ad, a, graph_pool_grad(g, OP_AVGPOOL_GRAD, a, gy, graph_window(g, id))); break;
	case OP_PAD: {
		NodeId r = gy;
		for (int k = 0; k < na.shape.rank; k++)
			r = graph_slice(g, r, k, n.i[2 * k], n.i[2 * k] + na.shape.d[k]);
		accum(ad, a, r);
		break;
	}
	case OP_SLICE: {
		int64_t pad[2 * MAXRANK] = {0};
		int axis = (int)n.i[0];
		pad[2 * axis] = n.i[1];
		pad[2 * axis + 1] = na.shape.d[axis] - n.i[2];
		accum(ad, a, graph_pad(g, gy, pad));
		break;
	}
	case OP_CONCAT: {
		int axis = (int)n.i[0];
		int64_t at = 0;
		for (int k = 0; k < n.nin; k++) {
			int64_t dk = graph_node(g, n.in[k])->shape.d[axis];
			accum(ad, n.in[k], graph_slice(g, gy, axis, at, at + dk));
			at += dk;
		}
		break;
	}
	case OP_ATTENTION: {
		/* one kernel recomputes each query's weights from the packed
		 * maxima and sums, and gives dq, dk and dv; the mask gets none */
		NodeId d = graph_attention_grad(g, id, gy);
		for (int k = 0; k < 3; k++)
			if (n.in[k] < ad->n && ad->needs[n.in[k]])
				accum(ad, n.in[k], graph_attention_part(g, d, k));
		break;
	}
	case OP_SCAN: vjp_loop(ad, (int)n.i[0]); break;
	case OP_PARAM: case OP_INPUT: case OP_STATE: case OP_CONST: case OP_HYPER: case OP_COUNT:
	case OP_DROPOUT_MASK: case OP_RANDOM: case OP_ARANGE: case OP_LOOP_VAR:
		break;
	case OP_AVGPOOL_GRAD: /* linear in dy: its adjoint is the pooling itself */
		accum(ad, a, graph_pool(g, OP_AVGPOOL, gy, graph_window(g, id)));
		break;
	case OP_MAXPOOL_GRAD: {
		/* linear in dy (b), piecewise constant in x: the adjoint of dy at
		 * a window is gy at the window's first maximum.  Windows that do
		 * not overlap each hold one maximum, so it is the sum over the
		 * window of gy times the indicator of the maxima, the max pooling
		 * gradient of x for a dy of ones. */
		Window w = graph_window(g, id);
		if (!(b < ad->n && ad->needs[b]))
			break;
		if (w.sh < w.kh || w.sw < w.kw)
			DLC_INTERNAL("no second derivative for max_pool2d with overlapping windows (stride below the window)");
		NodeId ones = graph_broadcast(g, cst(ad, 1), graph_node(g, b)->shape);
		if (graph_node(g, b)->bax >= 0)
			ones = graph_rebatch(g, ones, graph_node(g, b)->bax);
		NodeId at_max = mul(ad, gy, graph_pool_grad(g, OP_MAXPOOL_GRAD, a, ones, w));
		w.count_pad = 1;
		accum(ad, b, mul(ad, graph_pool(g, OP_AVGPOOL, at_max, w), cst(ad, (double)(w.kh * w.kw))));
		break;
	}
	case OP_XENT_GRAD: {
		LossOpts o;
		graph_loss_opts(g, id, &o);
		o.labels = b;
		accum(ad, a, graph_loss_ex(g, OP_XENT_HESS, a, gy, &o));
		break;
	}
	case OP_BCE_GRAD: {
		LossOpts o;
		graph_loss_opts(g, id, &o);
		accum(ad, a, graph_loss_ex(g, OP_BCE_HESS, a, gy, &o));
		if (b < ad->n && ad->needs[b]) {
			NodeId cnt = o.sum ? 0 : na.bax >= 0 ? graph_count(g, graph_numel(g, a) / g->batch, 1)
			                                     : cst(ad, (double)graph_numel(g, a));
			accum(ad, b, neg(ad, cnt ? dv(ad, gy, cnt) : gy));
		}
		break;
	}
	case OP_NLL_GRAD:
		break; /* depends on the labels only */
	case OP_ARGMAX: case OP_ONE_HOT:
		break; /* integers, and floats computed from integers: no gradient */
	case OP_XENT_HESS: case OP_BCE_HESS: case OP_ASSIGN: case OP_ATTENTION_GRAD:
	case OP_COUNT_:
	default: /* elementwise ops without a rule in op_rules (maximum) */
		DLC_INTERNAL("no gradient rule for '%s'", op_info[n.op].name);
	}
}

/* The reverse sweep from `out` (seeded with 1) over the nodes that depend
 * on a node `from` marks: every node's adjoint in ad->adj.  The first
 * sweep of the loss (record) notes whose adjoint each new node is. */
static void sweep(AD *ad, Graph *g, NodeId out, int record)
{
	ad->g = g;
	ad->n = g->nnodes;
	ad->adj = calloc(ad->n, sizeof(NodeId));
	ad->loop_done = NULL;
	ad->nloop_done = 0;
	if (!ad->adj)
		DLC_INTERNAL("out of memory");
	for (uint32_t id = 1; id < ad->n; id++) {
		const Node *n = graph_node(g, id);
		for (int k = 0; k < n->nin && !ad->needs[id]; k++)
			if (n->in[k] && ad->needs[n->in[k]])
				ad->needs[id] = 1;
	}
	ad->adj[out] = graph_const(g, 1.0);
	NodeId *of = NULL;
	size_t nof = 0;
	for (uint32_t id = out; id >= 1; id--) {
		if (!ad->adj[id] || !ad->needs[id])
			continue;
		if (record && ad->adj[id] >= ad->n) {
			if (ad->adj[id] >= nof) {
				size_t m = (size_t)g->nnodes + 64;
				of = arena_grow(g->arena, of, nof, m, sizeof(NodeId));
				nof = m;
			}
			if (!of[ad->adj[id]])
				of[ad->adj[id]] = id;
		}
		vjp(ad, id, ad->adj[id]);
	}
	if (record && of) {
		g->adjoint_of = of;
		g->nadjoint = (uint32_t)nof;
		g->nforward = ad->n;
	}
	if (record && !g->adjoint) {
		g->adjoint = arena_alloc(g->arena, sizeof(NodeId) * ad->n);
		memcpy(g->adjoint, ad->adj, sizeof(NodeId) * ad->n);
	}
}

void ad_gradients(Graph *g, NodeId loss, NodeId *grads) { ad_gradients_of(g, loss, NULL, grads); }

void ad_gradients_of(Graph *g, NodeId loss, const uint8_t *params, NodeId *grads)
{
	for (int t = 0; t < g->ntensors; t++)
		grads[t] = 0;
	if (!loss)
		return;
	AD ad;
	ad.needs = calloc(g->nnodes, 1);
	if (!ad.needs)
		DLC_INTERNAL("out of memory");
	for (uint32_t id = 1; id < g->nnodes; id++) {
		const Node *n = graph_node(g, id);
		if (n->op == OP_PARAM && g->tensors[n->sym].trainable && (!params || params[n->sym]))
			ad.needs[id] = 1;
	}
	sweep(&ad, g, loss, !g->adjoint_of);
	for (int t = 0; t < g->ntensors; t++) {
		const Tensor *T = &g->tensors[t];
		if (T->role == ROLE_PARAM && T->trainable && (!params || params[t])) {
			NodeId gt = ad.adj[T->node];
			/* a parameter the loss does not depend on has a zero gradient */
			grads[t] = gt ? graph_broadcast(g, gt, T->shape) : graph_broadcast(g, graph_const(g, 0), T->shape);
		}
	}
	free(ad.adj);
	free(ad.needs);
	free(ad.loop_done);
}

NodeId ad_grad(Graph *g, NodeId f, NodeId wrt, int *depends)
{
	*depends = 0;
	if (!f || !wrt || wrt > f)
		return 0;
	AD ad;
	ad.needs = calloc(g->nnodes, 1);
	if (!ad.needs)
		DLC_INTERNAL("out of memory");
	ad.needs[wrt] = 1;
	sweep(&ad, g, f, 0);
	*depends = ad.needs[f];
	NodeId gx = ad.adj[wrt];
	free(ad.adj);
	free(ad.needs);
	free(ad.loop_done);
	if (!gx)
		return 0;
	const Node *nx = graph_node(g, wrt);
	if (!shape_eq(graph_node(g, gx)->shape, nx->shape))
		gx = graph_broadcast(g, gx, nx->shape);
	if (nx->bax >= 0 && graph_node(g, gx)->bax != nx->bax)
		gx = graph_rebatch(g, gx, nx->bax);
	return gx;
}

const char *ad_missing_rule(const Graph *g, NodeId id, int order)
{
	const Node *n = graph_node(g, id);
	int overlap = 0;
	if (n->op == OP_MAXPOOL || n->op == OP_MAXPOOL_GRAD) {
		Window w = graph_window(g, id);
		overlap = w.sh < w.kh || w.sw < w.kw;
	}
	switch ((OpKind)n->op) {
	case OP_XENT_HESS: return "the second derivative of cross_entropy has no gradient rule";
	case OP_BCE_HESS: return "the second derivative of bce has no gradient rule";
	case OP_ATTENTION:
		return order > 1 ? "the fused attention (attention(..., fused = 1)) is differentiated once only" : NULL;
	case OP_ATTENTION_GRAD: return "the gradient of the fused attention has no gradient rule";
	case OP_XENT_GRAD: return order > 1 ? "the gradient of cross_entropy is differentiated once only" : NULL;
	case OP_BCE_GRAD: return order > 1 ? "the gradient of bce is differentiated once only" : NULL;
	case OP_MAXPOOL:
		return order > 1 && overlap ? "max_pool2d with a stride below its window is differentiated once only" : NULL;
	case OP_MAXPOOL_GRAD:
		return overlap ? "the gradient of max_pool2d with a stride below its window has no gradient rule" : NULL;
	case OP_SCAN: {
		/* a backward loop (it reads the forward loop's carries one step
		 * shifted): the gradient of a scan, which is differentiated once */
		const Loop *l = &g->loops[n->i[0]];
		for (int k = 0; k < l->nslot; k++)
			if (l->slot[k].kind == SLOT_SEQ && l->slot[k].shift)
				return "the gradient of a scan (a grad(...) through it) is differentiated once only";
		return NULL;
	}
	default: return NULL;
	}
}

NodeId ad_first_missing(const Graph *g, NodeId root, int order, const char **why)
{
	uint8_t *need = calloc((size_t)root + 1, 1);
	if (!need)
		DLC_INTERNAL("out of memory");
	need[root] = 1;
	NodeId found = 0;
	for (NodeId id = root; id >= 1 && !found; id--) {
		if (!need[id])
			continue;
		const Node *n = graph_node(g, id);
		if ((*why = ad_missing_rule(g, id, order)))
			found = id;
		/* only the inputs a gradient flows back to */
		if (op_vjp_is_zero(n->op) || n->op == OP_ARGMAX || n->op == OP_ONE_HOT || n->op == OP_NLL_GRAD)
			continue;
		for (int k = n->op == OP_WHERE ? 1 : 0; k < n->nin; k++)
			if (n->in[k] <= root && graph_node(g, n->in[k])->dtype != DT_I32)
				need[n->in[k]] = 1;
	}
	free(need);
	return found;
}

void ad_hvp(Graph *g, const NodeId *grads, NodeId *dirs, NodeId *hv)
{
	int nt = g->ntensors;
	NodeId s = 0;
	for (int t = 0; t < nt; t++) {
		dirs[t] = 0;
		if (!grads[t])
			continue;
		Tensor T = g->tensors[t];
		int d = graph_add_tensor(g, arena_printf(g->arena, "dir_%s", T.name), ROLE_DIR, T.dtype, T.shape, -1, T.loc);
		g->tensors[d].of_param = t;
		dirs[t] = g->tensors[d].node;
		NodeId dot = graph_reduce(g, OP_SUM, graph_binary(g, OP_MUL, grads[t], dirs[t]), -1, 0);
		s = s ? graph_binary(g, OP_ADD, s, dot) : dot;
	}
	NodeId *h = calloc((size_t)g->ntensors + 1, sizeof(NodeId));
	if (!h)
		DLC_INTERNAL("out of memory");
	ad_gradients(g, s, h);
	for (int t = 0; t < nt; t++)
		hv[t] = grads[t] ? h[t] : 0;
	free(h);
}
