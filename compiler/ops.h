/* ops.h - the op table: what each op computes, beyond ops.def's row.
 *
 * ops.def lists every op once (its enum, name, arity, flags and FLOPs per
 * element); op_rules[] holds, for the same enum, the rules generic code asks
 * instead of switching on op kinds:
 *
 *   attr     the name (and default) of the op's float argument (Node.f) in
 *            the language, as in pow(x, exponent)
 *   c_expr   the scalar C expression the emitter prints for one element
 *   eval     the same function on doubles: constant folding (graph.c) and
 *            numbers in the language (sema.c) use it
 *   vjp      the gradient rule: the adjoint of one input, built with graph
 *            constructors, so it can be differentiated again
 *
 * The elementwise family (ops_ew.c) lives here: sema resolves `gelu(x)`
 * through ops_find, graph.c folds with eval, autodiff.c calls vjp and
 * emit_c.c prints c_expr, so a new elementwise op is its ops.def line, its
 * row in ops_ew.c and its tests.  Ops without rules (NULL hooks) keep their
 * switch cases in those files. */
#ifndef DLC_OPS_H
#define DLC_OPS_H

#include "graph.h"

/* One element of an elementwise kernel, for OpRules.c_expr: the operand
 * expressions and the float attribute, and how the emitter writes scalars
 * of the element type (1.0f and expf, or 1.0 and exp). */
typedef struct CExpr {
	Arena *arena;
	int f32;
	const char *a, *b;  /* operand expressions (b: binary ops) */
	double f;           /* the node's float attribute */
	const char *c;      /* the third operand (where) */
} CExpr;
/* A literal: "1.0f", "(-2.0)", "INFINITY". */
const char *cx_lit(const CExpr *x, double v);
/* A libm function for the element type: cx_fn(x, "exp") is "expf" or "exp". */
const char *cx_fn(const CExpr *x, const char *name);

/* The operands of one scalar evaluation, for OpRules.eval. */
typedef struct Scalars {
	double a, b;        /* b: binary ops */
	double f;           /* the node's float attribute */
	double c;           /* the third operand (where) */
} Scalars;

/* One call of a gradient rule (OpRules.vjp): the adjoint of input k. */
typedef struct VjpCall {
	Graph *g;
	NodeId id;          /* the node: its value, for rules such as exp's */
	Node n;             /* a copy of it (constructors may move the node array) */
	NodeId gy;          /* the adjoint of its value */
	int need[3];        /* input j depends on a trainable parameter */
	int k;              /* the input whose adjoint is asked for */
} VjpCall;

typedef struct OpRules {
	const char *attr;       /* the float attribute's argument name in the language, or NULL */
	double attr_default;    /* its value when a call leaves it out; NAN: required */
	const char *(*c_expr)(const CExpr *x);
	double (*eval)(Scalars s);
	NodeId (*vjp)(const VjpCall *v); /* 0: no adjoint (a symbolic zero) */
} OpRules;

extern const OpRules op_rules[OP_COUNT_];
/* 1 when op's gradient rule is zero for every input (comparisons, sign,
 * step, stop_gradient): nothing flows back through it */
int op_vjp_is_zero(int op);

/* The op the language calls `name` (flag OPF_CALL), or -1. */
int ops_find(const char *name);
/* Internal error unless the table is consistent: elementwise ops, and only
 * they, have a C expression and an evaluation; only they are folded, called
 * by name or have a float attribute (unary ops only); names called by the
 * language are distinct. */
void ops_check(void);

#endif
