/* emit_c.h - the C emitter: one self-contained C11 file per model.
 *
 * The file holds the model's tensors as static arrays named after the DSL's
 * variables, one function per kernel (one loop nest, with a comment naming
 * the graph node it computes), the three entry points (forward, gradients,
 * train_step) and the dlrt_model descriptor the runtime drives.  Shapes are
 * compile-time constants.  It compiles warning-free under
 * `-std=c11 -Wall -Wextra -Werror -pedantic`. */
#ifndef DLC_EMIT_C_H
#define DLC_EMIT_C_H

#include <stdio.h>
#include "sema.h"

typedef struct TrainGraph {
	const Model *m;
	NodeId *grads;        /* per tensor: gradient node (params) or 0 */
	NodeId *updates;      /* ASSIGN nodes of the step: optimizer, then state */
	int nupdates;
	NodeId *dirs, *hv;    /* per tensor, or NULL: Hessian-vector products */
	/* optimizations (see docs/architecture.md) */
	int fuse;             /* elementwise chains, matmul epilogues */
	int inplace;          /* updates written straight into their tensor */
	int memplan;          /* intermediate arrays share one arena */
	int check_memory;     /* poison arena arrays once dead (testing the plan) */
} TrainGraph;

/* Bytes of storage the generated file holds. */
typedef struct EmitMemory {
	int64_t params, state, inputs;  /* model tensors (gradients count as intermediate) */
	int64_t intermediate;           /* every computed array of the step */
	int64_t forward;                /* those the evaluation pass needs */
	int64_t grads;                  /* parameter gradients */
	int64_t planned, arena;         /* arrays in the memory plan, and the arena they share */
	int kernels, inlined, epilogues, inplace;
} EmitMemory;
void emitc_memory(const TrainGraph *tg, EmitMemory *mem);

/* --emit=kernels: one line per kernel with the nodes it fuses and its
 * array; --emit=dot: Graphviz of both graphs with kernels as clusters. */
void emitc_kernels(FILE *out, const TrainGraph *tg);
void emitc_dot(FILE *out, const TrainGraph *tg);

/* with_main: also define main() calling dlrt_main. */
void emitc_model(FILE *out, const TrainGraph *tg, int with_main);

#endif
