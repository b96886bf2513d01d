/* memplan.c - arena offsets by greedy-by-size placement (see memplan.h). */
#include <string.h>
#include "memplan.h"

static const Node *NN(const Schedule *s, NodeId id) { return graph_node(s->g, id); }

/* Mark every array-owning node that kernel node `id` reads (through inlined
 * values, views and aliases) as read at kernel ki. */
static void mark_reads(const Schedule *s, MemPlan *p, NodeId id, int ki)
{
	const Node *n = NN(s, id);
	for (int k = 0; k < n->nin; k++) {
		NodeId in = n->in[k];
		if (s->st[in] == ST_INLINE) {
			mark_reads(s, p, in, ki);
			continue;
		}
		NodeId o = sched_storage_of(s, in);
		if (s->st[o] == ST_SCALAR && NN(s, o)->op == OP_BROADCAST)
			continue;
		if (p->last[o] < ki)
			p->last[o] = ki;
	}
}

static void mark_copy_read(const Schedule *s, MemPlan *p, NodeId src, int ki)
{
	if (s->st[src] == ST_INLINE) {
		mark_reads(s, p, src, ki);
		return;
	}
	NodeId o = sched_storage_of(s, src);
	if (p->last[o] < ki)
		p->last[o] = ki;
}

/* Greedy by size (Pisarchyk & Lee 2020): fix the kernel order, give each
 * planned array the interval [kernel that writes it, last kernel that reads
 * it], then place arrays largest first at the lowest offset that overlaps
 * no placed array whose interval intersects its own. */
MemPlan *memplan_build(Arena *a, const Schedule *s)
{
	MemPlan *p = arena_alloc(a, sizeof *p);
	uint32_t nn = s->g->nnodes;
	p->off = arena_alloc(a, sizeof(int64_t) * nn);
	p->first = arena_alloc(a, sizeof(int) * nn);
	p->last = arena_alloc(a, sizeof(int) * nn);
	for (uint32_t id = 0; id < nn; id++) {
		p->off[id] = -1;
		p->first[id] = -1;
		p->last[id] = -1;
	}
	/* a loop body's kernels run at the loop's kernel */
	int *at = arena_alloc(a, sizeof(int) * (size_t)(s->nk + 1));
	for (int ki = 0; ki < s->nk; ki++)
		at[ki] = s->k[ki].loop ? sched_loop_kernel(s, s->k[ki].loop - 1) : ki;
	for (int ki0 = 0; ki0 < s->nk; ki0++) {
		const Kernel *k = &s->k[ki0];
		int ki = at[ki0];
		if (k->dst)
			continue;
		if (NN(s, k->node)->op == OP_SCAN) { /* it writes every output of its loop */
			const Loop *l = &s->g->loops[NN(s, k->node)->i[0]];
			for (int o = 0; o < l->nout; o++)
				if (p->first[l->out[o].node] < 0)
					p->first[l->out[o].node] = ki;
		}
		NodeId w = NN(s, k->node)->op == OP_ASSIGN ? 0 : k->node;
		if (w) {
			NodeId owner = s->epi[w] ? s->epi[w] : w;
			if (p->first[owner] < 0)
				p->first[owner] = ki;
		}
	}
	for (int ki0 = 0; ki0 < s->nk; ki0++) {
		const Kernel *k = &s->k[ki0];
		int ki = at[ki0];
		if (k->dst) {
			mark_copy_read(s, p, k->node, ki);
			continue;
		}
		mark_reads(s, p, k->node, ki);
		if (s->epi[k->node])
			mark_reads(s, p, s->epi[k->node], ki);
	}
	/* which arrays are planned */
	NodeId *cand = arena_alloc(a, sizeof(NodeId) * nn);
	int nc = 0;
	int64_t elems = 0;
	for (uint32_t id = 1; id < nn; id++) {
		if (!s->any[id] || s->st[id] != ST_OWN || s->inplace[id] || s->epi[id] || p->first[id] < 0 || s->slot[id])
			continue;
		int64_t sz = shape_numel(NN(s, id)->shape);
		elems += sz;
		if (s->result[id] || NN(s, id)->dtype != (uint8_t)s->g->fdtype || !s->tg->opt.memplan)
			continue;
		int is_res_buf = 0;
		for (int t = 0; t < s->g->ntensors; t++)
			if (s->grad_buf && s->grad_buf[t] == s->buf[id])
				is_res_buf = 1;
		if (s->buf[id] == s->loss_buf)
			is_res_buf = 1;
		for (int i = 0; i < s->m->noutputs; i++)
			if (s->out_buf[i] == s->buf[id])
				is_res_buf = 1;
		if (is_res_buf)
			continue;
		if (p->last[id] < p->first[id])
			p->last[id] = p->first[id];
		cand[nc++] = id;
	}
	p->naive_size = elems;
	/* largest first (stable by id) */
	for (int i = 1; i < nc; i++)
		for (int j = i; j > 0; j--) {
			int64_t sa = shape_numel(NN(s, cand[j - 1])->shape), sb = shape_numel(NN(s, cand[j])->shape);
			if (sa >= sb)
				break;
			NodeId t = cand[j];
			cand[j] = cand[j - 1];
			cand[j - 1] = t;
		}
	int64_t top = 0;
	for (int i = 0; i < nc; i++) {
		NodeId x = cand[i];
		int64_t sz = (shape_numel(NN(s, x)->shape) + 15) / 16 * 16;
		int64_t at = 0;
		for (int again = 1; again;) {
			again = 0;
			for (int j = 0; j < i; j++) {
				NodeId y = cand[j];
				if (p->last[y] < p->first[x] || p->last[x] < p->first[y])
					continue; /* not live at the same time */
				int64_t ysz = (shape_numel(NN(s, y)->shape) + 15) / 16 * 16;
				if (at < p->off[y] + ysz && p->off[y] < at + sz) {
					at = p->off[y] + ysz;
					again = 1;
				}
			}
		}
		p->off[x] = at;
		if (at + sz > top)
			top = at + sz;
	}
	p->arena_size = top;
	return p;
}

void memplan_measure(const TrainGraph *tg, StepMemory *mem)
{
	Arena arena = {0};
	const Schedule *s = schedule_build(&arena, tg);
	const MemPlan *p = memplan_build(&arena, s);
	memset(mem, 0, sizeof *mem);
	mem->kernels = s->nk;
	for (uint32_t id = 1; id < s->g->nnodes; id++) {
		if (!s->any[id] || s->st[id] != ST_OWN || s->inplace[id] || s->epi[id])
			continue;
		int64_t bytes = shape_numel(NN(s, id)->shape) * (NN(s, id)->dtype == DT_F64 ? 8 : 4);
		mem->intermediate += bytes;
		if (s->mark[0][id])
			mem->forward += bytes;
	}
	int esz = s->g->fdtype == DT_F64 ? 8 : 4;
	for (uint32_t id = 1; id < s->g->nnodes; id++) {
		if (!s->any[id])
			continue;
		mem->inlined += s->st[id] == ST_INLINE;
		mem->epilogues += s->epi[id] != 0;
		mem->inplace += s->inplace[id] != 0;
		if (p->off[id] >= 0)
			mem->planned += shape_numel(NN(s, id)->shape) * esz;
	}
	mem->arena = p->arena_size * esz;
	for (int t = 0; t < s->g->ntensors; t++) {
		const Tensor *T = &s->g->tensors[t];
		int64_t bytes = shape_numel(T->shape) * (T->dtype == DT_F64 ? 8 : 4);
		if (s->tg->grads[t])
			mem->grads += bytes;
		if (T->role == ROLE_PARAM)
			mem->params += bytes;
		else if (T->role == ROLE_STATE)
			mem->state += bytes;
		else
			mem->inputs += bytes;
	}
	arena_free(&arena);
}
