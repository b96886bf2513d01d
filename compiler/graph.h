/* graph.h - the graph IR: a dense array of typed, shaped nodes.
 *
 * A Graph holds the model's named tensors (params, inputs, labels, optimizer
 * state) and a node array indexed by 32-bit NodeIds.  Node 0 is unused, so
 * 0 means "none" (and, in autodiff, "symbolic zero").  Constructors are
 * hash-consed: building a node that already exists returns the existing one,
 * which gives common-subexpression elimination for free.  Because a node's
 * inputs always exist before it, id order is a topological order.
 *
 * Every node knows its batch axis (`bax`): the axis that runs over the
 * examples of a minibatch, or -1.  Its size is k times the batch size B,
 * k >= 1 slots per example (k > 1 once a reshape merges the batch with the
 * axes after it, or a concat joins values along it).  For a partial batch of
 * n examples, the first n * k entries along that axis hold exactly what the
 * program computes for a batch of n; the rest are never counted: reductions,
 * contractions and losses over the batch axis stop at n * k, and slices,
 * pads and concats along it place their parts at multiples of n. */
#ifndef DLC_GRAPH_H
#define DLC_GRAPH_H

#include <stdint.h>
#include <stdio.h>
#include "arena.h"
#include "diag.h"

#define MAXRANK 8

/* The largest size of one axis (a dim, a -D value) and the most elements of
 * one tensor or value.  Every shape within them has an element count that
 * fits an int64_t many times over, so shape arithmetic cannot wrap. */
#define DLC_DIM_MAX (INT64_C(1) << 40)
#define DLC_NUMEL_MAX (INT64_C(1) << 34)
/* The most flops one node may take (a matmul, a convolution): its loop
 * counts and their products fit an int64_t too. */
#define DLC_FLOPS_MAX (INT64_C(1) << 52)

typedef uint32_t NodeId;

typedef enum OpKind {
#define OP(e, name, arity, flags, flops) OP_##e,
#include "ops.def"
#undef OP
	OP_COUNT_
} OpKind;

enum {
	OPF_LEAF = 1, OPF_EW = 2, OPF_REDUCE = 4, OPF_VIEW = 8, OPF_SINK = 16,
	OPF_INPLACE = 32, OPF_EPILOGUE = 64, OPF_FOLD = 128, OPF_COMM = 256, OPF_CALL = 512, OPF_INT = 1024,
	OPF_MAP = OPF_EW | OPF_INPLACE | OPF_EPILOGUE
};

typedef struct OpInfo {
	const char *name;
	int arity;
	int flags;
	int flops; /* per output element (MATMUL: per multiply-add pair) */
} OpInfo;
extern const OpInfo op_info[OP_COUNT_];

typedef enum DType { DT_F32 = 0, DT_F64 = 1, DT_I32 = 2 } DType;
const char *dtype_name(DType t);

/* ROLE_DIR: a direction v for Hessian-vector products (one per param) */
/* ROLE_HYPER: a scalar the program reads and the trainer sets (`hyper eps =
 * 0.1`, --set eps=0.05): neither trained nor checkpointed */
typedef enum Role { ROLE_PARAM, ROLE_INPUT, ROLE_LABEL, ROLE_STATE, ROLE_DIR, ROLE_HYPER } Role;

typedef enum { HYPER_LR = 0, HYPER_COUNT_ } Hyper;

typedef struct Shape {
	int rank;
	int64_t d[MAXRANK];
} Shape;

/* The inputs of a node live in the graph's arena: `nin` of them (the op's
 * arity; concat: any number), in at least NODE_MININ slots whose unused
 * ones are 0, so in[0..2] can always be read. */
#define NODE_MININ 3

typedef struct Node {
	uint16_t op;
	uint8_t dtype;
	int8_t bax;         /* batch axis, or -1 */
	uint16_t nin;       /* number of inputs */
	Shape shape;
	NodeId *in;
	int64_t i[2 * MAXRANK]; /* integer attributes (see ops.def) */
	double f;           /* float attribute */
	int sym;            /* leaves: tensor index or Hyper */
	const char *name;   /* DSL name of the value, if it has one */
	SrcLoc loc;
} Node;

/* A named tensor of the model: a param, input, label or optimizer state. */
typedef struct Tensor {
	const char *name;
	Role role;
	DType dtype;
	Shape shape;
	int bax;
	NodeId node;        /* its leaf node */
	/* params */
	int init;           /* dlrt_init value */
	double init_a, init_b;
	double init_c;      /* a third argument (trunc_normal's upper bound) */
	int64_t fan_in, fan_out;
	int trainable;
	/* a `carry` state: 1 + the model output that holds its value for the
	 * next batch (0: none, or not a carry) */
	int carry, carry_out;
	const double *data; /* a `const` tensor's values (trainable 0), or NULL */
	/* i32 labels: number of classes, once a loss says so; i32 ids: the
	 * fewest rows of the tables they select (take) */
	int64_t classes;
	/* state: the param it belongs to */
	int of_param;
	SrcLoc loc;
	/* i32 labels: a value outside [0, classes) that a loss ignores */
	int has_ignore;
	int64_t ignore_label;
} Tensor;

/* A loop: T steps (in reverse order, T-1 down to 0, when `reverse`) of a body
 * made of ordinary nodes that read the loop's variables (OP_LOOP_VAR, one per
 * slot).  A carry slot's variable holds `init` before the first step and the
 * body's `next` before every later one; a sequence slot's variable holds
 * src[t - shift] of the time-major sequence `src` [T, ...], or `first` where
 * t - shift falls outside [0, T).  Each output is one OP_SCAN node: the body
 * value `body` at every step, stacked in step order t (LOUT_STACK, [T, ...]),
 * or carry slot `carry` after the last step (LOUT_LAST).  Nodes that read no
 * variable of the loop are computed once, before it (loop-invariant). */
typedef enum { SLOT_CARRY, SLOT_SEQ } SlotKind;
typedef enum { LOUT_STACK, LOUT_LAST } LoopOutKind;
typedef struct LoopSlot {
	SlotKind kind;
	NodeId var;        /* its OP_LOOP_VAR */
	NodeId src;        /* carry: init; sequence: the time-major sequence */
	NodeId next;       /* carry: its value after a step (0 until set) */
	int shift;         /* sequence: the step t reads src[t - shift] */
	NodeId first;      /* sequence with a shift: the value outside [0, T) */
} LoopSlot;
typedef struct LoopOut {
	LoopOutKind kind;
	NodeId body;       /* LOUT_STACK */
	int carry;         /* LOUT_LAST: the slot */
	NodeId node;       /* its OP_SCAN node, once the loop is closed */
} LoopOut;
typedef struct Loop {
	int64_t T;
	int reverse;
	LoopSlot *slot;
	int nslot;
	LoopOut *out;
	int nout;
	int closed;
} Loop;

typedef struct Graph {
	Arena *arena;
	DType fdtype;          /* element type of float values: f32 or f64 */
	Node *nodes;
	uint32_t nnodes, cap;
	uint32_t *htab;        /* hash-cons table: node ids, 0 = empty */
	uint32_t hcap;
	Tensor *tensors;
	int ntensors, tcap;
	int64_t batch;         /* leading dim of inputs and labels, or 0 */
	/* The first differentiation (the loss's): nodes [1, nforward) existed
	 * before it, and adjoint_of[a] is the node whose adjoint a is (0 if
	 * none), for nodes a < nadjoint.  Names backward arrays (d_h1). */
	uint32_t nforward, nadjoint;
	NodeId *adjoint_of;
	/* The same differentiation the other way: adjoint[x] is the adjoint of
	 * forward node x < nforward (0: none, a symbolic zero). */
	NodeId *adjoint;
	Loop *loops;
	int nloops;
	int fold;              /* apply algebraic identities in constructors */
	int cse;               /* return the existing node for an equal one */
	/* The last node built past the limits (a shape past DLC_DIM_MAX or
	 * DLC_NUMEL_MAX, more than DLC_FLOPS_MAX flops), or 0; sema reports it
	 * at the expression and clears it. */
	NodeId too_large;
	uint64_t built;        /* constructor calls so far, equal nodes found included */
} Graph;

Graph *graph_new(Arena *a, DType fdtype);
static inline Node *graph_node(const Graph *g, NodeId id) { return &g->nodes[id]; }

/* Shapes */
Shape shape_make(int rank, const int64_t *d);
Shape shape_scalar(void);
/* The element count; INT64_MAX when it would not fit an int64_t. */
int64_t shape_numel(Shape s);
/* 1 when every axis and the element count are within DLC_DIM_MAX and
 * DLC_NUMEL_MAX */
int shape_fits(Shape s);
int shape_eq(Shape a, Shape b);
/* numpy broadcasting: 1 on success, 0 if incompatible */
int shape_broadcast(Shape a, Shape b, Shape *out);
/* "[64, 784]" into buf */
const char *shape_str(Shape s, char *buf, size_t n);

/* Tensors and leaves */
int graph_add_tensor(Graph *g, const char *name, Role role, DType dt, Shape s, int bax, SrcLoc loc);
NodeId graph_const(Graph *g, double v);
NodeId graph_hyper(Graph *g, Hyper h);
/* k times the batch size, or k times the valid rows n when dyn */
NodeId graph_count(Graph *g, int64_t k, int dyn);

/* Constructors.  Callers check shapes first (sema reports user errors);
 * a bad call here is an internal error. */
NodeId graph_unary(Graph *g, OpKind op, NodeId a);
NodeId graph_powc(Graph *g, NodeId a, double c);
/* a unary elementwise op with its float attribute f (see op_rules.attr) */
NodeId graph_unary_f(Graph *g, OpKind op, NodeId a, double f);
/* binary elementwise with numpy broadcasting (inserts BROADCAST views) */
NodeId graph_binary(Graph *g, OpKind op, NodeId a, NodeId b);
NodeId graph_broadcast(Graph *g, NodeId a, Shape to);
/* where(cond, a, b): a where cond != 0, else b; the three broadcast together */
NodeId graph_where(Graph *g, NodeId cond, NodeId a, NodeId b);
/* k, the slots per example of node id's batch axis (its size over B), or 0
 * without one. */
int64_t graph_batch_slots(const Graph *g, NodeId id);
/* The batch axis of `a` reshaped to `to`: the axis j whose preceding axes
 * hold exactly the ones before a's batch axis and whose following axes hold
 * a whole part of one example.  -1 when `a` has no batch axis, or when such
 * a reshape would mix examples (then a partial batch has no exact value:
 * sema rejects it for values computed from the batch). */
int graph_reshape_bax(const Graph *g, NodeId a, Shape to);
NodeId graph_reshape(Graph *g, NodeId a, Shape to);
/* The same values, with `bax` as their batch axis (a reshape to the same
 * shape): an adjoint that is a broadcast of a scalar still only counts the
 * rows that hold data when it is summed over the batch. */
NodeId graph_rebatch(Graph *g, NodeId a, int bax);
NodeId graph_reduce(Graph *g, OpKind op, NodeId a, int axis, int keepdims);
NodeId graph_sumto(Graph *g, NodeId a, Shape to);
/* i32: the index of the first maximum of `a` along `axis` */
NodeId graph_argmax(Graph *g, NodeId a, int axis, int keepdims);
/* an i32 tensor [...] to floats [..., classes]: 1 at its value, else 0 */
NodeId graph_one_hot(Graph *g, NodeId a, int64_t classes);
/* axes permuted: output axis k is input axis perm[k] */
NodeId graph_permute(Graph *g, NodeId a, const int *perm);
/* a 2-D transpose; for rank > 2, the last two axes swapped */
NodeId graph_transpose(Graph *g, NodeId a);
/* op(a) op(b), op = swap the last two axes when ta / tb: a batch of
 * products [..., M, K] x [..., K, N] whose leading axes broadcast (rank 2
 * and more; sema turns 1-D operands into rows and columns) */
NodeId graph_matmul(Graph *g, NodeId a, NodeId b, int ta, int tb);
NodeId graph_softmax(Graph *g, OpKind op, NodeId a, int axis);
NodeId graph_loss(Graph *g, OpKind op, NodeId a, NodeId b);
NodeId graph_nll_grad(Graph *g, NodeId labels, Shape s);
/* The options of a loss (ops.def: the cross-entropy family and bce).  All
 * zero is the plain loss that graph_loss builds: a mean over the valid rows. */
typedef struct LossOpts {
	int sum;              /* reduction "sum" instead of the mean */
	int ignore;           /* rows whose label is ignore_index count nowhere */
	int64_t ignore_index;
	double smoothing;     /* label smoothing (cross_entropy) */
	NodeId weight;        /* class weights [C], or 0 */
	NodeId labels;        /* cross_entropy_hess with options: the labels */
} LossOpts;
/* op over (a, b) with options: XENT, XENT_GRAD, NLL, BCE, BCE_GRAD and
 * BCE_HESS take (a, b) as graph_loss does; XENT_HESS takes (z, u) and
 * o->labels. */
NodeId graph_loss_ex(Graph *g, OpKind op, NodeId a, NodeId b, const LossOpts *o);
NodeId graph_nll_grad_ex(Graph *g, NodeId labels, Shape s, const LossOpts *o);
/* The options of a loss node (its attributes and extra inputs). */
void graph_loss_opts(const Graph *g, NodeId id, LossOpts *o);
NodeId graph_assign(Graph *g, NodeId target, NodeId value);

/* Convolution and pooling windows over NCHW tensors. */
typedef struct Window {
	int64_t kh, kw;       /* pooling window (convolutions: from the kernel) */
	int64_t sh, sw;       /* stride */
	int64_t ph, pw;       /* zero padding on each side */
	int64_t dh, dw;       /* dilation (convolutions) */
	int64_t groups;       /* convolutions */
	int64_t count_pad;    /* avg pooling: padding counts in the divisor */
} Window;
/* output size of a window along one axis, or -1 if the window does not fit */
int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d);
Window graph_window(const Graph *g, NodeId id);
NodeId graph_conv2d(Graph *g, NodeId x, NodeId k, Window w);
NodeId graph_conv2d_dx(Graph *g, NodeId dy, NodeId k, Shape xshape, Window w);
NodeId graph_conv2d_dw(Graph *g, NodeId x, NodeId dy, Shape kshape, Window w);
NodeId graph_pool(Graph *g, OpKind op, NodeId x, Window w);
NodeId graph_pool_grad(Graph *g, OpKind op, NodeId x, NodeId dy, Window w);
/* pad[2*k], pad[2*k+1]: zeros before and after axis k */
NodeId graph_pad(Graph *g, NodeId x, const int64_t *pad);
NodeId graph_slice(Graph *g, NodeId x, int axis, int64_t start, int64_t end);
/* parts[0..n) joined along axis; they agree in every other axis */
NodeId graph_concat(Graph *g, const NodeId *parts, int n, int axis);
/* 0 or 1/(1-p) per element, drawn from the step's random stream */
NodeId graph_dropout_mask(Graph *g, Shape s, int bax, double p, int64_t salt);
/* Random numbers from the step's random stream: uniform in [0, 1), or
 * N(0, 1) when `normal`; index: the tensor's number among the model's
 * random tensors (the trainer may feed it from a file instead). */
NodeId graph_arange(Graph *g, int64_t count); /* [count]: 0, 1, ..., count - 1 */
NodeId graph_random(Graph *g, Shape s, int bax, int normal, int64_t salt, int64_t index);
/* Rows of `table` [V, ...] selected by the i32 tensor `ids` (any shape):
 * ids.shape + table.shape[1:], with the batch axis of ids. */
NodeId graph_take(Graph *g, NodeId table, NodeId ids);
/* Its adjoint: dy's rows added into a table of shape `tshape`. */
NodeId graph_take_grad(Graph *g, NodeId dy, NodeId ids, Shape tshape);
/* Nearest-neighbour upsampling of NCHW by sh x sw, and its adjoint (the
 * sum of each sh x sw block of dy). */
NodeId graph_upsample(Graph *g, NodeId x, int64_t sh, int64_t sw);
NodeId graph_upsample_grad(Graph *g, NodeId dy, int64_t sh, int64_t sw);

/* Fused attention (ops.def: ATTENTION): q [..., T, E], k [..., S, E], v
 * [..., S, F] with the same leading axes and batch axis, a mask broadcast to
 * [..., T, S] (a constant 1 for none).  graph_attention's value is packed;
 * graph_attention_out is softmax(q k^T scale, masked) v [..., T, F] from it.
 * graph_attention_grad takes the packed value and its adjoint, and
 * graph_attention_part views its dq (0), dk (1) or dv (2). */
NodeId graph_attention(Graph *g, NodeId q, NodeId k, NodeId v, NodeId mask, double scale, int causal);
NodeId graph_attention_out(Graph *g, NodeId att);
NodeId graph_attention_grad(Graph *g, NodeId att, NodeId gy);
NodeId graph_attention_part(Graph *g, NodeId grad, int which);

/* Loops (see Loop): open one, add its slots and outputs, then close it,
 * which builds its OP_SCAN nodes (consecutive ids) into outs[0..nout). */
int graph_loop_new(Graph *g, int64_t T, int reverse);
/* a carry slot starting from init; returns its variable */
NodeId graph_loop_carry(Graph *g, int L, NodeId init);
void graph_loop_next(Graph *g, int L, NodeId var, NodeId next);
/* a sequence slot reading src[t - shift] (time-major), `first` outside */
NodeId graph_loop_seq(Graph *g, int L, NodeId src, int shift, NodeId first);
/* outputs: returns the output's index */
int graph_loop_stack(Graph *g, int L, NodeId body);
int graph_loop_last(Graph *g, int L, NodeId var);
void graph_loop_close(Graph *g, int L, NodeId *outs);
/* Before closing: the parts of loop L's body that read its sequences but no
 * carry and hold a matrix product (a step's input projection x_t W + b) are
 * computed once over the whole sequence, before the loop, and the body
 * reads their step's slice; roots[0..n) (the body's results) become the
 * rebuilt nodes.  Returns how many parts moved. */
int graph_loop_hoist(Graph *g, int L, NodeId *roots, int nroots);
/* one more stacked output of a closed loop: its OP_SCAN node (the value at
 * every step kept for its adjoint, which then need not compute it again) */
NodeId graph_loop_add_stack(Graph *g, int L, NodeId body);
/* mark[id] = 1 for every node that reads a variable of loop L (the body),
 * for ids in [1, g->nnodes) */
void graph_loop_body(const Graph *g, int L, uint8_t *mark);
/* node id again with inputs in[] (same op, attributes, shape and type) */
NodeId graph_clone(Graph *g, NodeId id, const NodeId *in);

/* Elements of node id's output; flops of one evaluation (n = batch), at most
 * DLC_FLOPS_MAX; the same flops without that bound. */
int64_t graph_numel(const Graph *g, NodeId id);
int64_t graph_flops(const Graph *g, NodeId id);
double graph_work(const Graph *g, NodeId id);

/* --emit=graph: one line per node reachable from roots, in id order. */
void graph_dump(FILE *out, const Graph *g, const NodeId *roots, int nroots);
/* mark[i] = 1 for every node reachable from the roots */
void graph_reach(const Graph *g, const NodeId *roots, int nroots, uint8_t *mark);

#endif
