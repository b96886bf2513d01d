/* optim.h - the optimizer update as graph nodes: the last part of the
 * training step.
 *
 * Each optimizer follows torch.optim's update rule exactly, so a model
 * trained here and one trained with PyTorch from the same parameters and
 * data agree step for step.  Its state (momentum buffers, moment estimates,
 * the step count) is made of state tensors, so checkpoints carry it and a
 * resumed run continues where it stopped. */
#ifndef DLC_OPTIM_H
#define DLC_OPTIM_H

#include "graph.h"

/* OPT_NEWTON*: second-order methods run by the runtime from Hessian-vector
 * products (no update in the graph). */
typedef enum OptKind { OPT_SGD = 0, OPT_ADAM, OPT_ADAMW, OPT_RMSPROP, OPT_ADAGRAD, OPT_NEWTON, OPT_NEWTON_CG } OptKind;

typedef struct OptimSpec {
	OptKind kind;
	double lr;
	double momentum, dampening;   /* sgd, rmsprop (momentum) */
	int nesterov;                 /* sgd */
	double weight_decay;          /* all: L2 added to the gradient; adamw: decoupled */
	double beta1, beta2, eps;     /* adam, adamw; rmsprop: alpha = beta2; adagrad: eps */
	int amsgrad;                  /* adam, adamw: normalise by the largest second moment so far */
	double initial_accumulator;   /* adagrad */
	double clip_value;            /* > 0: clamp every gradient element to [-clip_value, clip_value] */
	double clip_norm;             /* > 0: then scale gradients to this global norm at most */
	double damping;               /* newton: (H + damping I) d = g */
	int cg_iters;                 /* newton_cg: conjugate-gradient iterations at most */
	const char **no_decay;        /* parameters exempt from weight decay */
	int nno_decay;
} OptimSpec;

void optim_defaults(OptimSpec *o, OptKind kind);
const char *optim_name(OptKind k);

/* The optimizer's settings that the training step holds as constants
 * (everything but lr, which is a runtime value so that --lr and schedules
 * can change it), as the text the descriptor carries for the trainer's log:
 * "momentum 0.9 nesterov", "betas 0.9 0.999 eps 1e-08 amsgrad"; settings
 * at zero are left out. */
const char *optim_constants(Arena *a, const OptimSpec *o);

/* Append the update of every parameter with a gradient (grads[t] != 0, for
 * the tensors t < ngrads) to the graph as ASSIGN nodes (returned in
 * *updates), adding state tensors:
 * m_W1, vmax_W1 (amsgrad), optimizer_step, or for a step clause (clause not
 * NULL) critic.m_W1, critic.optimizer_step. */
void optim_build(Graph *g, const OptimSpec *o, const NodeId *grads, int ngrads, const char *clause,
                 NodeId **updates, int *nupdates);

#endif
