/* summary.c - the model summary table.
 *
 * Rows follow node-id order, which is the order in which sema built the
 * nodes, so each unnamed node's FLOPs and first-use parameters are charged to
 * the next named value.  The receptive field of a value is the input window
 * (height x width) that one of its elements depends on: a convolution or
 * pooling layer grows it by (k - 1) * dilation * jump and multiplies the jump
 * by its stride; a matrix product or a reduction over the spatial axes makes
 * it the whole input. */
#include <stdlib.h>
#include <string.h>
#include "summary.h"
#include "memplan.h"

typedef struct RF {
	int64_t h, w;     /* 0: no spatial meaning; -1: the whole input */
	int64_t jh, jw;   /* distance in input pixels between adjacent elements */
} RF;

static RF rf_merge(RF a, RF b)
{
	if (a.h == 0)
		return b;
	if (b.h == 0)
		return a;
	if (a.h < 0 || b.h < 0) {
		RF r = {-1, -1, 1, 1};
		return r;
	}
	RF r = a;
	if (b.h > r.h) r.h = b.h;
	if (b.w > r.w) r.w = b.w;
	return r;
}

static const char *human(double v, char *buf, size_t n)
{
	const char *u[] = {"", "K", "M", "G", "T"};
	int k = 0;
	while (v >= 1000 && k < 4) {
		v /= 1000;
		k++;
	}
	snprintf(buf, n, k ? "%.2f%s" : "%.0f%s", v, u[k]);
	return buf;
}

static const char *bytes(double v, char *buf, size_t n)
{
	const char *u[] = {"B", "KiB", "MiB", "GiB"};
	int k = 0;
	while (v >= 1024 && k < 3) {
		v /= 1024;
		k++;
	}
	snprintf(buf, n, k ? "%.2f %s" : "%.0f %s", v, u[k]);
	return buf;
}

void summary_print(FILE *out, const TrainGraph *tg)
{
	const Model *m = tg->m;
	const Graph *g = m->g;
	uint32_t nn = g->nnodes;
	uint8_t *fwd = malloc(nn);
	RF *rf = calloc(nn, sizeof(RF));
	uint8_t *param_seen = calloc((size_t)g->ntensors + 1, 1);
	if (!fwd || !rf || !param_seen)
		DLC_INTERNAL("out of memory");
	NodeId *roots = malloc(sizeof(NodeId) * (size_t)(m->noutputs + 1));
	int nr = 0;
	roots[nr++] = m->eval_loss;
	for (int i = 0; i < m->noutputs; i++)
		roots[nr++] = m->eval_outputs[i];
	graph_reach(g, roots, nr, fwd);
	int64_t B = g->batch ? g->batch : 1;

	fprintf(out, "Model: %s (%s, batch %lld)\n", m->name, dtype_name(g->fdtype), (long long)B);
	fprintf(out, "%-20s %-20s %12s %14s %12s\n", "value", "shape", "params", "FLOPs/example", "receptive");
	for (int i = 0; i < 82; i++)
		fputc('-', out);
	fputc('\n', out);
	int64_t flops = 0, params = 0, total_params = 0;
	char sb[96], fb[32], rb[32];
	for (uint32_t id = 1; id < nn; id++) {
		const Node *n = &g->nodes[id];
		RF r = {0, 0, 1, 1};
		switch (n->op) {
		case OP_INPUT:
			if (n->shape.rank == 4) {
				r.h = r.w = 1;
			}
			break;
		case OP_CONV2D: case OP_MAXPOOL: case OP_AVGPOOL: {
			RF a = rf[n->in[0]];
			Window w = graph_window(g, id);
			if (a.h > 0) {
				int64_t dh = n->op == OP_CONV2D ? w.dh : 1, dw = n->op == OP_CONV2D ? w.dw : 1;
				r.h = a.h + (w.kh - 1) * dh * a.jh;
				r.w = a.w + (w.kw - 1) * dw * a.jw;
				r.jh = a.jh * w.sh;
				r.jw = a.jw * w.sw;
			} else {
				r = a;
			}
			break;
		}
		case OP_MATMUL: case OP_SUMTO: case OP_SUM: case OP_MAX: case OP_XENT: case OP_NLL: case OP_BCE: {
			RF a = {0, 0, 1, 1};
			for (int k = 0; k < n->nin; k++)
				a = rf_merge(a, rf[n->in[k]]);
			if (a.h != 0)
				r.h = r.w = -1;
			break;
		}
		default:
			for (int k = 0; k < n->nin; k++)
				r = rf_merge(r, rf[n->in[k]]);
		}
		rf[id] = r;
		if (!fwd[id])
			continue;
		for (int k = 0; k < n->nin && !(op_info[n->op].flags & OPF_VIEW); k++) {
			NodeId a = n->in[k];
			while (op_info[g->nodes[a].op].flags & OPF_VIEW)
				a = g->nodes[a].in[0];
			const Node *p = &g->nodes[a];
			if (p->op == OP_PARAM && !param_seen[p->sym]) {
				param_seen[p->sym] = 1;
				params += shape_numel(p->shape);
				total_params += shape_numel(p->shape);
			}
		}
		if (!(op_info[n->op].flags & (OPF_LEAF | OPF_VIEW)))
			flops += graph_flops(g, id);
		int named = n->name && !(op_info[n->op].flags & OPF_LEAF);
		if (id == m->eval_loss && !named)
			named = 2;
		if (!named)
			continue;
		const char *rfs = "-";
		if (r.h < 0)
			rfs = "all";
		else if (r.h > 0)
			rfs = (snprintf(rb, sizeof rb, "%lldx%lld", (long long)r.h, (long long)r.w), rb);
		fprintf(out, "%-20s %-20s %12lld %14s %12s\n", named == 2 ? "(loss)" : n->name,
		        shape_str(n->shape, sb, sizeof sb), (long long)params, human((double)flops / (double)B, fb, sizeof fb),
		        rfs);
		flops = 0;
		params = 0;
	}
	for (int i = 0; i < 82; i++)
		fputc('-', out);
	fputc('\n', out);
	/* totals over the training step */
	int64_t step_flops = 0;
	uint8_t *all = malloc(nn);
	NodeId *troots = malloc(sizeof(NodeId) * (size_t)(g->ntensors + m->noutputs + tg->nupdates + 1));
	int nt = 0;
	troots[nt++] = m->loss;
	for (int i = 0; i < m->noutputs; i++)
		troots[nt++] = m->outputs[i].node;
	for (int t = 0; t < g->ntensors; t++)
		if (tg->grads[t])
			troots[nt++] = tg->grads[t];
	for (int i = 0; i < tg->nupdates; i++)
		troots[nt++] = tg->updates[i];
	graph_reach(g, troots, nt, all);
	for (uint32_t id = 1; id < nn; id++)
		if (all[id] && !(op_info[g->nodes[id].op].flags & (OPF_LEAF | OPF_VIEW | OPF_SINK)))
			step_flops += graph_flops(g, id);
	StepMemory mem;
	memplan_measure(tg, &mem);
	char b1[32], b2[32], b3[32], b4[32];
	fprintf(out, "parameters:              %lld (%s)\n", (long long)total_params, bytes((double)mem.params, b1, sizeof b1));
	fprintf(out, "optimizer state:         %s\n", bytes((double)mem.state, b2, sizeof b2));
	fprintf(out, "FLOPs per training step: %s (%s per example)\n", human((double)step_flops, fb, sizeof fb),
	        human((double)step_flops / (double)B, b4, sizeof b4));
	fprintf(out, "activations (forward):   %s\n", bytes((double)mem.forward, b3, sizeof b3));
	fprintf(out, "intermediate buffers:    %s in %d kernels (training step, gradients included)\n",
	        bytes((double)mem.intermediate, b1, sizeof b1), mem.kernels);
	free(all);
	free(troots);
	free(fwd);
	free(rf);
	free(param_seen);
	free(roots);
}
