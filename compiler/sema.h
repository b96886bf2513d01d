/* sema.h - semantic analysis: from the AST to the model's forward graph.
 *
 * Resolves names (dims, tensors, values, user functions, layers), evaluates
 * dims, inlines user functions, instantiates layers (their params named
 * after the instance: enc.W), unrolls loops, checks shapes (numpy broadcasting), element types
 * and call signatures, and builds the forward graph: the loss, the declared
 * outputs and the model's tensors.  Every user mistake is reported through
 * the Diag with its location; analysis goes on after an error so that one
 * run reports several. */
#ifndef DLC_SEMA_H
#define DLC_SEMA_H

#include "ast.h"
#include "model.h"

/* A `-D NAME=VALUE` from the command line. */
typedef struct DimDefine {
	const char *name;
	int64_t value;
	int used;
} DimDefine;

/* `dtype` is the element type unless the program says otherwise (or
 * force_dtype is set, which overrides the program). */
Model *sema_build(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs,
                  DType dtype, int force_dtype, int fold, int cse);

/* The program as a cached generator (a transformer that writes text): one
 * new token per run, the batch and the token axis 1 (set by defs); each
 * causal attention keeps the keys and values of the last `context` tokens
 * in carried states (kv.cacheN.k, kv.cacheN.v), and positions(1) and
 * position_rows(table, 1) are the input kv.position's.  Attention that is
 * not causal is an error. */
Model *sema_build_cached(Arena *a, Diag *d, const AstProgram *p, DimDefine *defs, int ndefs,
                         DType dtype, int force_dtype, int fold, int cse, int64_t context);

#endif
