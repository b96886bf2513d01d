/* ast_build.h - the front end's private glue: what the scanner (lexer.l) and
 * the parser (parser.y) call in ast.c.
 *
 * The grammar files only recognise text.  Every action is one call to a
 * function declared here: lex_* functions track positions, brackets and
 * lexical errors and make the token values; ast_* functions build the tree
 * and report syntax errors.  The Parser state they share is private to
 * ast.c.  Nothing outside the front end includes this header. */
#ifndef DLC_AST_BUILD_H
#define DLC_AST_BUILD_H

#include "ast.h"

typedef struct Parser Parser;

/* Growable lists the grammar accumulates before they become arrays. */
typedef struct AstExprList AstExprList;
typedef struct AstArgList AstArgList;
typedef struct AstNameList AstNameList;

#ifndef YY_TYPEDEF_YY_SCANNER_T
#define YY_TYPEDEF_YY_SCANNER_T
typedef void *yyscan_t;
#endif

union YYSTYPE;

/* Locations are SrcLocs.  A rule's location is that of its first symbol; an
 * empty rule takes the location of the symbol before it. */
#define YYLLOC_DEFAULT(cur, rhs, n) ((cur) = (n) ? (rhs)[1] : (rhs)[0])

int yylex(union YYSTYPE *lval, SrcLoc *lloc, yyscan_t scanner);

/* ---- scanner side (lexer.l) ---- */

/* Runs before every scanner action: sets the token's location and moves the
 * position past its text. */
void lex_step(Parser *p, SrcLoc *loc, const char *text, int len);
int lex_newline(Parser *p);           /* 1 if this newline ends a statement */
int lex_open(Parser *p, SrcLoc loc, int tok);
int lex_close(Parser *p, int tok);
int lex_name(Parser *p, union YYSTYPE *val, const char *text, int len);
int lex_number(Parser *p, union YYSTYPE *val, const char *text, SrcLoc loc);
int lex_string(Parser *p, union YYSTYPE *val, const char *text, int len, SrcLoc loc);
int lex_bad_number(Parser *p, const char *text, SrcLoc loc);
int lex_unterminated(Parser *p, SrcLoc loc);
int lex_invalid(Parser *p, const char *text, int len, SrcLoc loc);
int lex_eof(Parser *p, SrcLoc *loc);

/* ---- parser side (parser.y) ---- */

AstExpr *ast_name(Parser *p, const char *name, SrcLoc loc);
AstExpr *ast_unary(Parser *p, int op, SrcLoc loc, AstExpr *operand);
AstExpr *ast_binary(Parser *p, int op, SrcLoc loc, AstExpr *lhs, AstExpr *rhs);
/* callee(args): a call by name (AST_CALL) or of any other value (AST_APPLY) */
AstExpr *ast_call(Parser *p, AstExpr *callee, SrcLoc loc, AstArgList *args);
AstExpr *ast_index(Parser *p, AstExpr *lhs, SrcLoc loc, AstExpr *index);
AstExpr *ast_field(Parser *p, AstExpr *lhs, SrcLoc loc, const char *name);
/* (first, rest...) */
AstExpr *ast_tuple(Parser *p, SrcLoc loc, AstExpr *first, AstExprList *rest);
AstExpr *ast_list(Parser *p, SrcLoc loc, AstExprList *items);

AstArg ast_arg(const char *name, SrcLoc name_loc, AstExpr *value);
AstArgList *ast_args(Parser *p, AstArgList *list, AstArg arg);   /* call arguments */
AstArgList *ast_items(Parser *p, AstArgList *list, AstArg item); /* train settings */
AstArgList *ast_params(Parser *p, AstArgList *list, AstArg param); /* def/layer parameters */
AstExprList *ast_exprs(Parser *p, AstExprList *list, AstExpr *e);
AstNameList *ast_names(Parser *p, AstNameList *list, const char *name, SrcLoc loc);
AstType ast_type(Parser *p, SrcLoc loc, const char *dtype, AstExprList *dims);

/* dim, dtype, let, output, loss: whichever of name and value the kind uses. */
AstStmt *ast_stmt(Parser *p, AstStmtKind kind, SrcLoc loc, const char *name,
                  SrcLoc name_loc, AstExpr *value);
AstStmt *ast_output_let(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                        AstExpr *value);
/* input, label, param (value: the initializer, or NULL). */
AstStmt *ast_typed(Parser *p, AstStmtKind kind, SrcLoc loc, const char *name,
                   SrcLoc name_loc, AstType type, AstExpr *value);
/* def with `= value` or a { } body; name NULL: a layer's call */
AstStmt *ast_def(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                 AstArgList *params, AstExpr *value, AstBlock *body);
AstStmt *ast_layer(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                   AstArgList *params, AstBlock *body);
/* NAME := value (rest NULL), and the several-name forms a, b = / := value */
AstStmt *ast_rebind(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                    AstNameList *rest, AstExpr *value);
AstStmt *ast_multi(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                   AstNameList *rest, AstExpr *value, int rebind);
AstStmt *ast_array(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                   AstExpr *count, AstExpr *value);
AstStmt *ast_for(Parser *p, SrcLoc loc, const char *var, SrcLoc var_loc,
                 AstExpr *lo, AstExpr *hi, AstBlock *body);
/* a block with s appended (list NULL: a new, empty block; s NULL: none) */
AstBlock *ast_block(Parser *p, AstBlock *list, AstStmt *s);
AstStmt *ast_train(Parser *p, SrcLoc loc, AstArgList *items);

void ast_add_stmt(Parser *p, AstStmt *s);
void ast_recovered(Parser *p);  /* the parser skipped a bad statement or setting */

/* A syntax error: `tok` is the unexpected token, `expected` the tokens that
 * would have been accepted (token kinds from parser.h). */
void ast_syntax_error(Parser *p, SrcLoc loc, int tok, const int *expected, int nexpected);
/* Bison's only other complaint: its stack is full ("memory exhausted"). */
void yyerror(const SrcLoc *loc, yyscan_t scanner, Parser *p, const char *msg);

#endif
