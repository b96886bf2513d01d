/* verify.h - invariants checked between the stages of the pipeline.
 *
 * graph_verify checks the graph IR after sema and after the training step
 * is built: every node's op, arity and element type are valid; its inputs
 * exist and come before it (id order is a topological order, no dangling
 * ids); shapes are well formed and agree with the op (elementwise operands
 * have the output's shape, reductions, products, views, losses and
 * assignments have the shapes their rules give); batch axes are in range;
 * leaves point at their tensors.  memplan_verify checks the memory plan:
 * no two arrays that are live in the same kernel share a byte of the arena.
 *
 * Each problem is printed as "internal error: verify STAGE: ..." on `err`;
 * the functions return the number of problems.  The driver runs them in
 * debug builds, and in release builds when DLC_VERIFY=1 is set (the test
 * suite sets it); DLC_VERIFY=0 turns them off. */
#ifndef DLC_VERIFY_H
#define DLC_VERIFY_H

#include <stdio.h>
#include "memplan.h"

/* Nodes reachable from the roots (all nodes when nroots is 0). */
int graph_verify(const Graph *g, const NodeId *roots, int nroots, const char *stage, FILE *err);
int memplan_verify(const Schedule *s, const MemPlan *p, FILE *err);
/* Whether the driver verifies: DLC_VERIFY, else on unless NDEBUG. */
int verify_enabled(void);

#endif
