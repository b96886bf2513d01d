/* memplan.h - the static memory plan: arena offsets for the arrays of a
 * schedule.
 *
 * Greedy by size (Pisarchyk & Lee 2020): the kernel order is fixed by the
 * schedule; each planned array (an intermediate value of the float element
 * type that no entry point hands to the runtime) gets the live interval
 * [kernel that writes it, last kernel that reads it]; arrays are placed
 * largest first at the lowest offset that overlaps no placed array whose
 * interval intersects its own.  The arena is the highest end. */
#ifndef DLC_MEMPLAN_H
#define DLC_MEMPLAN_H

#include "schedule.h"

typedef struct MemPlan {
	int64_t *off;         /* per node: offset in the arena (elements), or -1: an array of its own */
	int *first, *last;    /* per node: live interval in kernels, or -1 */
	int64_t arena_size;   /* elements */
	int64_t naive_size;   /* elements of every computed array, planned or not */
} MemPlan;

MemPlan *memplan_build(Arena *a, const Schedule *s);

/* Bytes of storage a compiled step holds. */
typedef struct StepMemory {
	int64_t params, state, inputs;  /* model tensors (gradients count as intermediate) */
	int64_t intermediate;           /* every computed array of the step */
	int64_t forward;                /* those the evaluation pass needs */
	int64_t grads;                  /* parameter gradients */
	int64_t planned, arena;         /* arrays in the memory plan, and the arena they share */
	int kernels, inlined, epilogues, inplace;
} StepMemory;

/* Schedule and plan tg, and measure them (--stats, --emit=summary). */
void memplan_measure(const TrainGraph *tg, StepMemory *mem);

#endif
