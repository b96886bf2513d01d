/* ast.h - the syntax tree the parser builds from a .dl file.
 *
 * The tree mirrors the source: statements in order, expressions as written
 * (user functions not yet inlined, dims not yet evaluated).  Everything is
 * allocated in the compilation's Arena.  sema.c turns it into a graph. */
#ifndef DLC_AST_H
#define DLC_AST_H

#include <stdio.h>
#include "arena.h"
#include "diag.h"

typedef struct AstExpr AstExpr;
typedef struct AstStmt AstStmt;

/* The statements of a { } body, in order. */
typedef struct AstBlock {
	AstStmt **stmts;
	int n, cap;
} AstBlock;

typedef enum AstExprKind {
	AST_NUM,    /* num, is_int                          12  0.05  1e-3 */
	AST_STR,    /* str                                  "train.gz"     */
	AST_NAME,   /* name                                 W1             */
	AST_UNARY,  /* op ('-'), lhs                        -x             */
	AST_BINARY, /* op ('+','-','*','/','@','^'), lhs, rhs               */
	AST_CALL,   /* name (callee), args, nargs           f(a, axis=1)   */
	AST_LIST,   /* args, nargs (positional)             [1, 2, 3]      */
	AST_TUPLE,  /* args, nargs: several results         (h, c)         */
	AST_INDEX,  /* lhs[rhs]                             s[i]           */
	AST_FIELD,  /* lhs.name                             enc.W          */
	AST_APPLY,  /* lhs(args): a call of a value         s[i](z)        */
} AstExprKind;

/* A call argument: positional (name == NULL) or named (`axis = 1`). */
typedef struct AstArg {
	const char *name;
	SrcLoc name_loc;
	AstExpr *value;
} AstArg;

struct AstExpr {
	AstExprKind kind;
	SrcLoc loc;         /* first character of the expression; for binary
	                       and unary expressions, the operator */
	double num;
	int is_int;         /* literal had no '.', 'e' or 'E' */
	const char *str;    /* AST_STR: the unescaped string */
	const char *name;   /* AST_NAME, AST_CALL */
	int op;
	AstExpr *lhs, *rhs;
	AstArg *args;
	int nargs;
};

typedef enum AstStmtKind {
	ST_DIM,     /* dim NAME = value                                        */
	ST_DTYPE,   /* dtype NAME          (name: "f32" | "f64")               */
	ST_INPUT,   /* input NAME : type                                       */
	ST_LABEL,   /* label NAME : type                                       */
	ST_PARAM,   /* param NAME : type [= value]   value: a name, call or number */
	ST_DEF,     /* def NAME(params) = value                                */
	ST_LET,     /* [output] NAME = value        (is_output)                */
	ST_OUTPUT,  /* output NAME                  (an existing value)        */
	ST_LOSS,    /* loss value                                              */
	ST_TRAIN,   /* train { key = value ... }    items, nitems              */
	ST_LAYER,   /* layer NAME(params) { body }                             */
	ST_CONST,   /* const NAME : type = value                               */
	ST_REBIND,  /* NAME := value  /  a, b := value   (names, nnames)       */
	ST_MULTI,   /* a, b = value                      (names, nnames)       */
	ST_ARRAY,   /* NAME[count] = value               (count)               */
	ST_FOR,     /* for NAME in value..hi { body }                          */
	ST_RETURN,  /* return value  (a tuple for several results)             */
	ST_CARRY,   /* carry NAME : type   (a state kept from batch to batch)  */
	ST_HYPER,   /* hyper NAME = value  (a scalar set when running: --set)  */
} AstStmtKind;

/* `f32[B, 784]`, `[784, 512]`, `i32[B]`; dtype is NULL when omitted. */
typedef struct AstType {
	const char *dtype;
	SrcLoc dtype_loc;
	AstExpr **dims;
	int ndims;
	SrcLoc loc;
} AstType;

struct AstStmt {
	AstStmtKind kind;
	SrcLoc loc;         /* the statement's first token */
	const char *name;
	SrcLoc name_loc;
	AstExpr *value;
	AstType type;
	const char **params;   /* ST_DEF, ST_LAYER parameter names */
	SrcLoc *param_locs;
	AstExpr **param_defaults; /* NULL where a parameter has no default */
	int nparams;
	AstBlock *body;        /* ST_DEF with a { } body, ST_LAYER, ST_FOR */
	const char **names;    /* ST_MULTI, ST_REBIND: the names bound */
	SrcLoc *name_locs;
	int nnames;
	AstExpr *count;        /* ST_ARRAY */
	AstExpr *hi;           /* ST_FOR: the end of the range (value: its start) */
	int is_output;         /* ST_LET written as `output NAME = ...` */
	AstArg *items;         /* ST_TRAIN: `key = value` pairs (name = key) */
	int nitems;
};

typedef struct AstProgram {
	const char *file;
	AstStmt **stmts;
	int nstmts;
} AstProgram;

/* Parse `src` (the contents of `file`).  Syntax errors go to `d` (several per
 * run: the parser resynchronises at the next statement).  Returns the
 * program, possibly partial; check d->nerrors.  `src` is at most INT_MAX / 2
 * bytes long (the driver reads at most 512 MiB). */
AstProgram *parse_program(Arena *a, Diag *d, const char *file, const char *src);
/* The same for a source whose locations carry SrcLoc.file = file_id. */
AstProgram *parse_source(Arena *a, Diag *d, const char *file, const char *src, int file_id);

/* --emit=ast: a stable, indented text dump of the tree. */
void ast_dump(FILE *out, const AstProgram *p);

#endif
