/* schedule.h - the schedule: which kernels run, in what order, and where
 * each value lives.
 *
 * The schedule is data that a printer reads; nothing here prints C.  From
 * the optimized training step it decides, per node:
 *  - its storage: an array of its own, an alias of its input's array (a
 *    reshape), a broadcast view read through strided indexing, an inlined
 *    elementwise value computed inside its only consumer's loop, or a scalar
 *    written as an expression;
 *  - fusion: matrix products that compute their elementwise consumer in the
 *    epilogue, optimizer updates written in place into their tensor, and
 *    updates computed in the loop of the optimizer state they read;
 *  - the kernels: one per stored value, in node-id order (a topological
 *    order), each tagged with the entry points that run it (forward,
 *    gradients, train_step, hvp), plus copies for results that have no array
 *    of their own;
 *  - array names, after the DSL's variables (`h1`, `d_W1`), unique in the
 *    generated file;
 *  - the layout of each convolution (along output rows or batch-inner) and
 *    which batch-inner operand copies a weight gradient reuses.
 * memplan.h then gives the stored arrays offsets in one arena. */
#ifndef DLC_SCHEDULE_H
#define DLC_SCHEDULE_H

#include "step.h"

/* ST_INLINE: an elementwise value computed inside its only consumer's loop
 * (a local variable v<id>), never stored. */
typedef enum { ST_NONE, ST_SCALAR, ST_VIEW, ST_ALIAS, ST_OWN, ST_INLINE } Storage;

/* Entry points, as bits of Kernel.entries; step clause c's is
 * ENTRY_CLAUSE << c (at most MAX_CLAUSES of them). */
enum { ENTRY_FORWARD = 1, ENTRY_GRADIENTS = 2, ENTRY_TRAIN_STEP = 4, ENTRY_HVP = 8, ENTRY_CLAUSE = 16 };
#define MAX_CLAUSES 16

typedef struct Kernel {
	NodeId node;         /* computing node, or source of a copy */
	const char *dst;     /* copy kernels: destination array; else NULL */
	int entries;         /* ENTRY_* bits */
	int declare;         /* copy kernels: dst is an array of its own */
	NodeId also;         /* an optimizer update computed in the same loop */
	int loop;            /* 1 + the loop (graph.h) whose body it belongs to: the
	                        loop's kernel calls it at every step; 0: an entry
	                        point calls it */
} Kernel;

typedef struct Schedule {
	const TrainGraph *tg;
	const Model *m;
	Graph *g;
	Arena *a;
	int f32;
	Storage *st;         /* per node */
	const char **buf;    /* array name per node (after alias resolution) */
	uint8_t *mark[4];    /* nodes each entry point needs */
	uint8_t **cmark;     /* the same for each step clause's entry point */
	const char **clause_loss_buf; /* per step clause: the array of its loss */
	uint8_t *any;        /* nodes any entry point needs */
	Kernel *k;           /* the kernels in the order they run */
	int nk;
	const char **names;  /* array names taken */
	int nnames;
	const char *loss_buf;
	const char **grad_buf;    /* per tensor */
	const char **hv_buf;      /* per tensor: Hessian-vector products */
	const char **out_buf;     /* per output */
	/* dlc --probe: per probed node (tg->probe), the arrays of its value and
	 * its gradient (NULL: a constant, or no gradient) */
	const char **probe_val, **probe_grad;
	uint8_t *result;     /* node is read by the runtime (loss, output, gradient) */
	int *nuse;           /* consumers among the nodes computed */
	NodeId *user;        /* the last consumer seen (the only one when nuse == 1) */
	NodeId *epi;         /* matmul -> the elementwise consumer fused into its epilogue */
	NodeId *epi_of;      /* that consumer -> its matmul */
	NodeId *inplace;     /* update value -> the tensor it overwrites in place */
	/* convolutions: the kernel whose batch-inner copy of the input (2 ki) or
	 * of the output gradient (2 ki + 1) kernel ki reads, or -1; which copies
	 * kernel ki keeps for a later one (bit 0 input, bit 1 output gradient) */
	int *conv_src, *conv_keep;
	/* loops: per node, 1 + the loop whose body computes it (0: none).  A
	 * loop runs as one kernel, at its first OP_SCAN node, that calls its
	 * body's kernels at every step; a loop variable's array is a pointer
	 * into its sequence, or the carry's own array. */
	int *region;
	/* a body value stored straight into the step's slot of its loop's
	 * stacked output: that OP_SCAN node (0: none); its array is a pointer
	 * the loop moves from step to step.  A carry whose next value is such
	 * a value reads the previous step's slot (carry_ptr: 1). */
	NodeId *slot;
	uint8_t *carry_ptr;
} Schedule;

/* The schedule of a training step, allocated in `a`. */
Schedule *schedule_build(Arena *a, const TrainGraph *tg);

/* The node whose array holds id's values (through reshapes and views). */
NodeId sched_storage_of(const Schedule *s, NodeId id);
/* Reading id needs one loop variable per axis (a broadcast view somewhere). */
int sched_needs_nested(const Schedule *s, NodeId id);
/* The kernel that computes node id (-1 if none; _index: an internal error). */
int sched_kernel_of_node(const Schedule *s, NodeId id);
int sched_kernel_index(const Schedule *s, NodeId id);
int sched_is_ew(const Node *n);
/* the kernel that runs loop L, or -1 */
int sched_loop_kernel(const Schedule *s, int L);
int sched_is_scalar_leaf(const Node *n);

/* Blocking of the tiled matrix product (elements): the contraction runs in
 * blocks of up to MM_KC steps, B is packed MM_NC columns at a time and A
 * MM_MC rows at a time (MM_MC a multiple of the tile height DLC_MR = 6). */
#define MM_KC 256
#define MM_MC 120
#define MM_NC 1024
/* the widest tile row any vector width gives: 256 bytes */
#define MM_NRMAX(e) ((e)->f32 ? 64 : 32)

/* Convolutions run through two register-tiled helpers: dlc_cukr (a tile of
 * 6 output channels x DLC_NV vectors of outputs, summed over the taps) and
 * dlc_wukr (the weight gradient: 6 output channels x DLC_NV taps, summed
 * over outputs).  The vectors run along one of two axes:
 *  - "rows": along an output row (stride 1, rows at least 64 bytes wide),
 *    straight on the NCHW arrays; the last vector of a row overlaps the one
 *    before it instead of running past the row;
 *  - "batch-inner": along the batch, on copies of the operands with the
 *    batch innermost (row f of a [rows][NB] copy holds feature f of every
 *    example, columns past n zero), so every tap is a whole row.
 * The forward pass and the weight gradient take rows where they can; the
 * input gradient is batch-inner and visits only the taps that reach each
 * input pixel (no products with padding). */
/* chunks of examples that a weight gradient along output rows sums apart */
#define DW_CHUNKS 8

typedef struct ConvDims {
	long long N, C, H, W;      /* input */
	long long Co, OH, OW;      /* output */
	long long Cg, Cog;         /* channels per group: input, output */
	long long kh, kw;
	const char *rows;          /* batch rows to compute: "n" or N */
	/* batch-inner copies: row stride NB, the input padded to HP x WP with
	 * the padding PT above and PL left; T taps per output channel */
	long long G, NB, HP, WP, PT, PL, T;
	int row;                   /* vectors along output rows (else batch-inner) */
} ConvDims;

/* The layout of a convolution node (any of conv2d, its dx and dw). */
ConvDims sched_conv_dims(const Schedule *s, NodeId id);
/* A depthwise convolution: a group per channel, one filter each (plain
 * loops over the planes, no copies or packed weights). */
int sched_conv_depthwise(const ConvDims *c);
/* Scratch a convolution kernel needs: copies of its operands (cs) and
 * packed weights (cw), in elements. */
void sched_conv_scratch(const Schedule *s, NodeId id, int64_t *cs, int64_t *cw);

#endif
