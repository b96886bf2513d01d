/* step.h - the training step: the forward graph, its gradients, the
 * optimizer update and, for Newton's method, Hessian-vector products, built
 * once into one graph.
 *
 * step_build differentiates the loss (autodiff.h), appends the optimizer
 * update (optim.h) and the model's state updates (batch norm's running
 * statistics) as ASSIGN nodes, adds the Hessian-vector part when the
 * optimizer is second order, and gathers the roots of each entry point:
 *   forward    the evaluation-mode loss and outputs
 *   gradients  the training-mode loss, outputs and every parameter gradient
 *   train_step those and the updates
 *   hvp        the gradients and every H v
 * and, for a program with step clauses (model.h: StepClause), one entry
 * point per clause: its loss, its params' gradients and its updates, in
 * place of train_step.
 * The later stages (schedule.h, memplan.h, emit_c.h) read the step and its
 * model description (model.h) only. */
#ifndef DLC_STEP_H
#define DLC_STEP_H

#include "model.h"

/* Which passes of the back end run (see docs/architecture.md). */
typedef struct StepOptions {
	int fuse;             /* elementwise chains, matmul epilogues */
	int inplace;          /* updates written straight into their tensor */
	int memplan;          /* intermediate arrays share one arena */
	int check_memory;     /* poison arena arrays once dead (testing the plan) */
	int hvp;              /* build Hessian-vector products even without a Newton optimizer */
	int probe;            /* every forward value and its gradient as results of gradients() */
} StepOptions;

typedef struct TrainGraph {
	const Model *m;
	NodeId *grads;        /* per tensor: gradient node (params) or 0 */
	NodeId *updates;      /* ASSIGN nodes of the step: optimizer, then state */
	int nupdates;
	NodeId *dirs, *hv;    /* per tensor, or NULL: Hessian-vector products */
	/* roots: training loss and outputs [0, nfwd), gradients [nfwd, ngrad),
	 * updates [ngrad, nroots); eval_roots: evaluation loss and outputs */
	NodeId *roots, *eval_roots, *hv_roots;
	int nfwd, ngrad, nroots, neval, nhv;
	/* what train_step computes: roots without the data-free outputs */
	NodeId *step_roots;
	int nstep;
	StepOptions opt;
	/* opt.probe: the forward nodes the loss depends on, in id order (the
	 * loss last); their gradients are g->adjoint[] (params: grads[]) */
	NodeId *probe;
	int nprobe;
	/* step clauses (m->nclauses): what each clause's entry point computes
	 * (its loss, its params' gradients, its updates; train_step computes
	 * nothing then) */
	NodeId **clause_roots;
	int *nclause_roots;
} TrainGraph;

/* Build the training step of m (whose graph it extends), allocated in a. */
TrainGraph *step_build(Arena *a, Model *m, const StepOptions *opt);

#endif
