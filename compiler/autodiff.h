/* autodiff.h - reverse-mode differentiation as a graph transformation.
 *
 * ad_gradients walks the forward graph from the loss back to the params and
 * adds, for each node, the nodes of its vector-Jacobian product (VJP): the
 * result is an ordinary graph, so passes and emitters treat forward and
 * backward alike.  optim.h adds the optimizer update after it: the fused
 * training step. */
#ifndef DLC_AUTODIFF_H
#define DLC_AUTODIFF_H

#include "graph.h"

/* grads[t] = gradient node of tensor t (params only; 0 where none). */
void ad_gradients(Graph *g, NodeId loss, NodeId *grads);
/* The same for the params marked in params[t] only (a step clause's). */
void ad_gradients_of(Graph *g, NodeId loss, const uint8_t *params, NodeId *grads);

/* The gradient of the scalar f with respect to the value wrt, as nodes of
 * the same graph (so they can be differentiated again): a node of wrt's
 * shape and batch axis, or 0 where it is zero; *depends says whether f
 * depends on wrt at all (through ops with no gradient, such as sign, it
 * does, and the gradient is still 0).  It leaves the graph's record of the
 * loss's differentiation (adjoint, adjoint_of) alone. */
NodeId ad_grad(Graph *g, NodeId f, NodeId wrt, int *depends);

/* Hessian-vector products by differentiating <gradient, v> again: adds a
 * direction tensor dir_<param> per param with a gradient (dirs[t]) and sets
 * hv[t] to the node of (H v) for that param.  Arrays sized ntensors. */
void ad_hvp(Graph *g, const NodeId *grads, NodeId *dirs, NodeId *hv);

/* The ops whose gradient rules stop: why node id cannot be differentiated
 * `order` times (1: its own gradient rule is missing; 2: its gradient is
 * built from ops that have none), or NULL.  ad_first_missing finds such a
 * node among those root depends on (0: none) and sets *why.  Sema refuses a
 * program that needs them (the loss, grad(...), newton) with that reason. */
const char *ad_missing_rule(const Graph *g, NodeId id, int order);
NodeId ad_first_missing(const Graph *g, NodeId root, int order, const char **why);

#endif
