/* emit_c.h - the C emitter: one self-contained C11 file per model.
 *
 * The file holds the model's tensors as static arrays named after the DSL's
 * variables, one function per kernel (one loop nest, with a comment naming
 * the graph node it computes), the three entry points (forward, gradients,
 * train_step) and the dlrt_model descriptor the runtime drives.  Shapes are
 * compile-time constants.  It compiles warning-free under
 * `-std=c11 -Wall -Wextra -Werror -pedantic`.
 *
 * The printer only prints: what runs where, and every array's name and
 * place, come from the schedule (schedule.h) and the memory plan
 * (memplan.h). */
#ifndef DLC_EMIT_C_H
#define DLC_EMIT_C_H

#include <stdio.h>
#include "memplan.h"

/* --emit=kernels: one line per kernel with the nodes it fuses and its
 * array; --emit=dot: Graphviz of both graphs with kernels as clusters. */
void emitc_kernels(FILE *out, const Schedule *s, const MemPlan *mp);
void emitc_dot(FILE *out, const Schedule *s, const MemPlan *mp);

/* with_main: also define main() calling dlrt_main. */
void emitc_model(FILE *out, const Schedule *s, const MemPlan *mp, int with_main);
/* A second model after the first in the same file (s->m->name_prefix set):
 * the names every model's C uses are renamed with that prefix. */
void emitc_second_model(FILE *out, const Schedule *s, const MemPlan *mp);

#endif
