/* step.c - the training step, built once: gradients, optimizer update,
 * state updates, Hessian-vector products and the roots of every entry
 * point. */
#include <string.h>
#include "autodiff.h"
#include "step.h"

TrainGraph *step_build(Arena *a, Model *m, const StepOptions *opt)
{
	Graph *g = m->g;
	TrainGraph *tg = arena_alloc(a, sizeof *tg);
	tg->m = m;
	tg->opt = *opt;
	int np = g->ntensors;
	NodeId *grads = arena_alloc(a, sizeof(NodeId) * (size_t)(np + 1));
	NodeId **cgrads = NULL, **cupdates = NULL;
	int *ncupdates = NULL;
	if (m->nclauses) {
		/* every clause's gradients, then every clause's updates, so that an
		 * update comes after all the reads of its param; a param trained
		 * by several clauses (overlap) keeps the first one's gradient in
		 * grads[] (gradients(), --dump-grads) */
		cgrads = arena_alloc(a, sizeof(NodeId *) * (size_t)m->nclauses);
		cupdates = arena_alloc(a, sizeof(NodeId *) * (size_t)m->nclauses);
		ncupdates = arena_alloc(a, sizeof(int) * (size_t)m->nclauses);
		for (int t = 0; t < np; t++)
			grads[t] = 0;
		for (int c = 0; c < m->nclauses; c++) {
			cgrads[c] = arena_alloc(a, sizeof(NodeId) * (size_t)(np + 1));
			ad_gradients_of(g, m->clauses[c].loss, m->clauses[c].params, cgrads[c]);
			for (int t = 0; t < np; t++)
				if (cgrads[c][t] && !grads[t])
					grads[t] = cgrads[c][t];
		}
		int total = 0;
		for (int c = 0; c < m->nclauses; c++) {
			optim_build(g, &m->clauses[c].opt, cgrads[c], np, m->clauses[c].name, &cupdates[c], &ncupdates[c]);
			total += ncupdates[c];
		}
		tg->updates = arena_alloc(a, sizeof(NodeId) * (size_t)(total + 1));
		for (int c = 0; c < m->nclauses; c++)
			for (int i = 0; i < ncupdates[c]; i++)
				tg->updates[tg->nupdates++] = cupdates[c][i];
	} else if (m->policy_only) {
		/* an RL model's policy: its action and nothing else */
		for (int t = 0; t < np; t++)
			grads[t] = 0;
		tg->updates = arena_alloc(a, sizeof(NodeId));
	} else {
		ad_gradients(g, m->loss, grads);
		optim_build(g, &m->opt, grads, np, NULL, &tg->updates, &tg->nupdates);
	}
	if (m->nstate_updates && !m->policy_only) {
		NodeId *all = arena_alloc(a, sizeof(NodeId) * (size_t)(tg->nupdates + m->nstate_updates));
		memcpy(all, tg->updates, sizeof(NodeId) * (size_t)tg->nupdates);
		memcpy(all + tg->nupdates, m->state_updates, sizeof(NodeId) * (size_t)m->nstate_updates);
		tg->updates = all;
		tg->nupdates += m->nstate_updates;
	}
	/* one entry per tensor: those the optimizer added (its state) and the
	 * directions of the products below have no gradient */
	tg->grads = arena_alloc(a, sizeof(NodeId) * (size_t)(2 * g->ntensors + 2));
	memcpy(tg->grads, grads, sizeof(NodeId) * (size_t)np);
	if (opt->hvp || m->opt.kind == OPT_NEWTON || m->opt.kind == OPT_NEWTON_CG) {
		tg->dirs = arena_alloc(a, sizeof(NodeId) * (size_t)(2 * g->ntensors + 2));
		tg->hv = arena_alloc(a, sizeof(NodeId) * (size_t)(2 * g->ntensors + 2));
		ad_hvp(g, tg->grads, tg->dirs, tg->hv);
	}
	int nt = g->ntensors;

	/* dlc --probe: the forward nodes that the loss reads, and their
	 * gradients, become results of gradients() (roots after the gradients) */
	if (opt->probe) {
		uint8_t *need = arena_alloc(a, g->nforward + 1);
		need[m->loss] = 1;
		for (NodeId id = m->loss; id >= 1; id--) {
			const Node *n = graph_node(g, id);
			if (need[id])
				for (int k = 0; k < n->nin; k++)
					need[n->in[k]] = 1;
		}
		tg->probe = arena_alloc(a, sizeof(NodeId) * (size_t)(m->loss + 1));
		for (NodeId id = 1; id <= m->loss; id++)
			if (need[id])
				tg->probe[tg->nprobe++] = id;
	}

	tg->roots = arena_alloc(a, sizeof(NodeId) * (size_t)(m->noutputs + nt + tg->nupdates + 2 * tg->nprobe + 2));
	int nr = 0;
	tg->roots[nr++] = m->loss;
	for (int i = 0; i < m->noutputs; i++)
		tg->roots[nr++] = m->outputs[i].node;
	tg->nfwd = nr;
	for (int t = 0; t < nt; t++)
		if (tg->grads[t])
			tg->roots[nr++] = tg->grads[t];
	for (int i = 0; i < tg->nprobe; i++) {
		tg->roots[nr++] = tg->probe[i];
		if (g->adjoint[tg->probe[i]])
			tg->roots[nr++] = g->adjoint[tg->probe[i]];
	}
	tg->ngrad = nr;
	for (int i = 0; i < tg->nupdates; i++)
		tg->roots[nr++] = tg->updates[i];
	tg->nroots = nr;

	/* outputs that read no input or label (samples of a generative model)
	 * are left out of train_step */
	uint8_t *seen = arena_alloc(a, g->nnodes);
	int has_data = 0;
	for (int t = 0; t < nt; t++)
		has_data |= g->tensors[t].role == ROLE_INPUT || g->tensors[t].role == ROLE_LABEL;
	for (int i = 0; has_data && i < m->noutputs; i++) {
		memset(seen, 0, g->nnodes);
		graph_reach(g, &m->outputs[i].node, 1, seen);
		int data = 0;
		for (int t = 0; t < nt && !data; t++)
			data = (g->tensors[t].role == ROLE_INPUT || g->tensors[t].role == ROLE_LABEL) && seen[g->tensors[t].node];
		m->outputs[i].data_free = !data && !m->outputs[i].hidden;
	}
	/* the other declared outputs (predictions, an accuracy under attack)
	 * are evaluation's too, but for the one the training accuracy is
	 * counted from and those a carried state takes its next value from */
	for (int i = 0; i < m->noutputs; i++) {
		int carried = 0;
		for (int t = 0; t < nt; t++)
			carried |= g->tensors[t].carry_out == i + 1;
		m->outputs[i].eval_only = !m->outputs[i].hidden && !m->outputs[i].data_free && !carried &&
		                          i != m->accuracy_output;
	}
	tg->step_roots = arena_alloc(a, sizeof(NodeId) * (size_t)(nr + 1));
	for (int i = 0; i < nr && !m->nclauses; i++)
		if (i == 0 || i >= tg->nfwd || (!m->outputs[i - 1].data_free && !m->outputs[i - 1].eval_only))
			tg->step_roots[tg->nstep++] = tg->roots[i];
	if (m->nclauses) {
		/* gradients() computes every clause's loss too */
		NodeId *r = arena_alloc(a, sizeof(NodeId) * (size_t)(tg->nroots + m->nclauses));
		memcpy(r, tg->roots, sizeof(NodeId) * (size_t)tg->ngrad);
		int k = tg->ngrad;
		for (int c = 1; c < m->nclauses; c++)
			r[k++] = m->clauses[c].loss;
		memcpy(r + k, tg->roots + tg->ngrad, sizeof(NodeId) * (size_t)(tg->nroots - tg->ngrad));
		tg->roots = r;
		tg->ngrad = k;
		tg->nroots = k + tg->nupdates;
		tg->clause_roots = arena_alloc(a, sizeof(NodeId *) * (size_t)m->nclauses);
		tg->nclause_roots = arena_alloc(a, sizeof(int) * (size_t)m->nclauses);
		for (int c = 0; c < m->nclauses; c++) {
			NodeId *cr = arena_alloc(a, sizeof(NodeId) * (size_t)(np + ncupdates[c] + m->nstate_updates + m->noutputs + 2));
			int n = 0;
			cr[n++] = m->clauses[c].loss;
			for (int i = 0; c == 0 && i < m->noutputs; i++)
				if (!m->outputs[i].data_free && !m->outputs[i].eval_only)
					cr[n++] = m->outputs[i].node;
			for (int t = 0; t < np; t++)
				if (cgrads[c][t])
					cr[n++] = cgrads[c][t];
			for (int i = 0; i < ncupdates[c]; i++)
				cr[n++] = cupdates[c][i];
			for (int i = 0; c == 0 && i < m->nstate_updates; i++) /* batch norm's running statistics */
				cr[n++] = m->state_updates[i];
			tg->clause_roots[c] = cr;
			tg->nclause_roots[c] = n;
		}
	}

	tg->eval_roots = arena_alloc(a, sizeof(NodeId) * (size_t)(m->noutputs + 1));
	tg->eval_roots[tg->neval++] = m->eval_loss;
	for (int i = 0; i < m->noutputs; i++)
		tg->eval_roots[tg->neval++] = m->eval_outputs[i];

	if (tg->hv) {
		tg->hv_roots = arena_alloc(a, sizeof(NodeId) * (size_t)(tg->ngrad + nt + 1));
		memcpy(tg->hv_roots, tg->roots, sizeof(NodeId) * (size_t)tg->ngrad);
		tg->nhv = tg->ngrad;
		for (int t = 0; t < nt; t++)
			if (tg->hv[t])
				tg->hv_roots[tg->nhv++] = tg->hv[t];
	}
	return tg;
}
