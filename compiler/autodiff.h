/* autodiff.h - reverse-mode differentiation as a graph transformation.
 *
 * ad_gradients walks the forward graph from the loss back to the params and
 * adds, for each node, the nodes of its vector-Jacobian product (VJP): the
 * result is an ordinary graph, so passes and emitters treat forward and
 * backward alike.  ad_sgd_step adds the optimizer update (with its state
 * tensors) as ASSIGN nodes: the fused training step. */
#ifndef DLC_AUTODIFF_H
#define DLC_AUTODIFF_H

#include "graph.h"

/* grads[t] = gradient node of tensor t (params only; 0 where none). */
void ad_gradients(Graph *g, NodeId loss, NodeId *grads);

/* SGD with momentum in PyTorch's form (v = mu*v + g; p -= lr*v) when
 * momentum > 0, plain p -= lr*g otherwise.  Adds a state tensor v_<param>
 * per param and returns the ASSIGN nodes in *updates (count in *nupdates). */
void ad_sgd_step(Graph *g, const NodeId *grads, double momentum, NodeId **updates, int *nupdates);

#endif
