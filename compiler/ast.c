/* ast.c - the front end: the scanner's and parser's helpers, the tree
 * builders, syntax error messages, parse_program() and ast_dump().
 *
 * The grammar lives in grammar/lexer.l and grammar/parser.y; their actions
 * call the lex_* and ast_* functions here.  The scanner's state is kept in
 * a Parser: the position in the source, the open brackets (newlines inside
 * ( ) and [ ] do not end a statement), and what is needed to word an error
 * message (the text of the last token).
 *
 * Syntax errors name the unexpected token the way the user wrote it and the
 * tokens that would have fitted, grouped ("an expression", "a statement").
 * After an error the scanner forgets its open brackets, so the next newline
 * ends the broken statement and parsing resumes there.
 *
 * Every expression records its depth; one nested more than AST_MAX_DEPTH
 * levels is an error, so no later recursive pass can overflow the stack.
 * (Bison's own stack limit catches deeply nested parentheses.) */
#include "ast_build.h"
#include "parser.h"
#include "lexer.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AST_MAX_DEPTH 1000
#define MAX_TRACKED_BRACKETS 64
#define MAX_QUOTED_TOKEN 40

struct Parser {
	Arena *arena;
	Diag *diag;
	const char *src;
	AstProgram *prog;
	int stmt_cap;

	/* scanner position: the next character */
	size_t pos;
	int line, col;
	SrcLoc last_newline;
	/* the last two tokens' text, for error messages */
	size_t tok_pos, prev_pos;
	int tok_len, prev_len;
	int at_eof;
	int eof_reported; /* one "unexpected end of file" is enough */
	int skipping; /* after an error, until the parser resynchronises */

	/* open ( and [: how many, and where the innermost ones are */
	int depth;
	SrcLoc open_loc[MAX_TRACKED_BRACKETS];
	int open_tok[MAX_TRACKED_BRACKETS];
	int unmatched_close; /* the last ')' or ']' closed nothing */

	int too_deep_reported; /* in the current statement */
	int file_id;           /* SrcLoc.file of this source */
};

struct AstExprList {
	AstExpr **v;
	int n, cap;
};

struct AstArgList {
	AstArg *v;
	int n, cap;
};

struct AstNameList {
	const char **v;
	SrcLoc *locs;
	int n, cap;
};

/* Every AstExpr built here is the first member of an ExprNode, which adds
 * its depth (a leaf is 1). */
typedef struct ExprNode {
	AstExpr e;
	int depth;
} ExprNode;

static int grow_cap(int cap)
{
	return cap ? cap * 2 : 4;
}

/* ------------------------------------------------------------------ */
/* Scanner helpers                                                      */
/* ------------------------------------------------------------------ */

static int is_continuation_byte(char c)
{
	return ((unsigned char)c & 0xC0) == 0x80;
}

void lex_step(Parser *p, SrcLoc *loc, const char *text, int len)
{
	loc->line = p->line;
	loc->col = p->col;
	loc->file = p->file_id;
	if (!strchr(" \t\r\f\v#\n", text[0])) {
		p->prev_pos = p->tok_pos;
		p->prev_len = p->tok_len;
		p->tok_pos = p->pos;
		p->tok_len = len;
	}
	for (int i = 0; i < len; i++) {
		if (text[i] == '\n') {
			p->last_newline = (SrcLoc){p->line, p->col, p->file_id};
			p->line++;
			p->col = 1;
		} else if (!is_continuation_byte(text[i])) {
			p->col++;
		}
	}
	p->pos += (size_t)len;
}

/* Lexical errors in text the parser is skipping after an error are not
 * reported: the rest of a broken statement is not checked. */
static void lex_vreport(Parser *p, SrcLoc loc, const char *fmt, va_list ap)
{
	if (p->skipping)
		return;
	char msg[128];
	vsnprintf(msg, sizeof msg, fmt, ap);
	diag_error(p->diag, loc, "%s", msg);
}

/* A bad token whose value is still usable (a number out of range): the
 * token is returned as usual. */
static void lex_complain(Parser *p, SrcLoc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void lex_complain(Parser *p, SrcLoc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lex_vreport(p, loc, fmt, ap);
	va_end(ap);
}

/* A bad token that cannot be used.  Returning YYerror tells the parser that
 * the error is already reported; it skips the rest of the statement. */
static int lex_error(Parser *p, SrcLoc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int lex_error(Parser *p, SrcLoc loc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	lex_vreport(p, loc, fmt, ap);
	va_end(ap);
	p->skipping = 1;
	p->depth = 0;
	return YYerror;
}

int lex_newline(Parser *p)
{
	return p->depth == 0;
}

int lex_open(Parser *p, SrcLoc loc, int tok)
{
	if (p->depth < MAX_TRACKED_BRACKETS) {
		p->open_loc[p->depth] = loc;
		p->open_tok[p->depth] = tok;
	}
	if (p->depth < INT_MAX)
		p->depth++;
	return tok;
}

int lex_close(Parser *p, int tok)
{
	p->unmatched_close = p->depth == 0;
	if (p->depth > 0)
		p->depth--;
	return tok;
}

int lex_name(Parser *p, YYSTYPE *val, const char *text, int len)
{
	val->name = arena_strndup(p->arena, text, (size_t)len);
	return NAME;
}

static AstExpr *new_expr(Parser *p, AstExprKind kind, SrcLoc loc, int depth)
{
	ExprNode *n = arena_alloc(p->arena, sizeof *n);
	n->e.kind = kind;
	n->e.loc = loc;
	n->depth = depth;
	return &n->e;
}

static int depth_of(const AstExpr *e)
{
	return e ? ((const ExprNode *)e)->depth : 0;
}

int lex_number(Parser *p, YYSTYPE *val, const char *text, SrcLoc loc)
{
	AstExpr *e = new_expr(p, AST_NUM, loc, 1);
	e->is_int = strpbrk(text, ".eE") == NULL;
	errno = 0;
	e->num = strtod(text, NULL);
	int overflow = isinf(e->num);
	int underflow = errno == ERANGE && e->num == 0;
	int inexact_int = e->is_int && e->num > 9007199254740992.0; /* 2^53 */
	if (overflow || underflow || inexact_int) {
		if (strlen(text) > MAX_QUOTED_TOKEN)
			lex_complain(p, loc, "number '%.*s...' is out of range", MAX_QUOTED_TOKEN, text);
		else
			lex_complain(p, loc, "number '%s' is out of range", text);
	}
	val->expr = e;
	return NUM;
}

int lex_bad_number(Parser *p, const char *text, SrcLoc loc)
{
	if (strlen(text) > MAX_QUOTED_TOKEN)
		return lex_error(p, loc, "invalid number '%.*s...'", MAX_QUOTED_TOKEN, text);
	return lex_error(p, loc, "invalid number '%s'", text);
}

/* The string's value: the text between the quotes with escapes replaced.
 * An unknown escape is an error; it is kept as written. */
int lex_string(Parser *p, YYSTYPE *val, const char *text, int len, SrcLoc loc)
{
	char *out = arena_alloc(p->arena, (size_t)len);
	int n = 0;
	int col = loc.col + 1;
	for (int i = 1; i < len - 1; i++) {
		char c = text[i];
		if (c == '\\') {
			char e = text[i + 1];
			if (e == '"' || e == '\\')
				c = e;
			else if (e == 'n')
				c = '\n';
			else if (e == 't')
				c = '\t';
			else {
				SrcLoc at = {loc.line, col, loc.file};
				if (isprint((unsigned char)e))
					lex_complain(p, at, "unknown escape sequence '\\%c' in string", e);
				else
					lex_complain(p, at, "unknown escape sequence in string");
				out[n++] = c;
				col++;
				continue;
			}
			i++;
			col++;
		}
		out[n++] = c;
		if (!is_continuation_byte(c))
			col++;
	}
	out[n] = '\0';
	AstExpr *e = new_expr(p, AST_STR, loc, 1);
	e->str = out;
	val->expr = e;
	return STR;
}

int lex_unterminated(Parser *p, SrcLoc loc)
{
	return lex_error(p, loc, "unterminated string");
}

int lex_invalid(Parser *p, const char *text, int len, SrcLoc loc)
{
	unsigned char c = (unsigned char)text[0];
	if (len > 1 || isprint(c))
		return lex_error(p, loc, "invalid character '%.*s'", len, text);
	return lex_error(p, loc, "invalid byte 0x%02x", c);
}

/* End of input: first a newline that ends the last statement (the last line
 * need not have one), then the end itself.  Both are placed at the end of
 * the last line. */
int lex_eof(Parser *p, SrcLoc *loc)
{
	if (p->col == 1 && p->line > 1)
		*loc = p->last_newline;
	else
		*loc = (SrcLoc){p->line, p->col, p->file_id};
	p->prev_pos = p->tok_pos;
	p->prev_len = p->tok_len;
	p->tok_pos = p->pos;
	p->tok_len = 0;
	if (!p->at_eof) {
		p->at_eof = 1;
		return NEWLINE;
	}
	return YYEOF;
}

/* ------------------------------------------------------------------ */
/* Builders                                                             */
/* ------------------------------------------------------------------ */

/* An expression nested too deeply is reported once per statement and
 * replaced by a leaf, so the tree stays shallow. */
static AstExpr *too_deep(Parser *p, SrcLoc loc)
{
	if (!p->too_deep_reported)
		diag_error(p->diag, loc, "expression is nested too deeply (more than %d levels)",
		           AST_MAX_DEPTH);
	p->too_deep_reported = 1;
	return new_expr(p, AST_NUM, loc, 1);
}

AstExpr *ast_name(Parser *p, const char *name, SrcLoc loc)
{
	AstExpr *e = new_expr(p, AST_NAME, loc, 1);
	e->name = name;
	return e;
}

AstExpr *ast_unary(Parser *p, int op, SrcLoc loc, AstExpr *operand)
{
	int depth = depth_of(operand) + 1;
	if (depth > AST_MAX_DEPTH)
		return too_deep(p, loc);
	AstExpr *e = new_expr(p, AST_UNARY, loc, depth);
	e->op = op;
	e->lhs = operand;
	return e;
}

AstExpr *ast_binary(Parser *p, int op, SrcLoc loc, AstExpr *lhs, AstExpr *rhs)
{
	int dl = depth_of(lhs), dr = depth_of(rhs);
	int depth = (dl > dr ? dl : dr) + 1;
	if (depth > AST_MAX_DEPTH)
		return too_deep(p, loc);
	AstExpr *e = new_expr(p, AST_BINARY, loc, depth);
	e->op = op;
	e->lhs = lhs;
	e->rhs = rhs;
	return e;
}

static int max_arg_depth(const AstArg *args, int n)
{
	int depth = 0;
	for (int i = 0; i < n; i++)
		if (depth_of(args[i].value) > depth)
			depth = depth_of(args[i].value);
	return depth;
}

AstExpr *ast_call(Parser *p, AstExpr *callee, SrcLoc loc, AstArgList *args)
{
	(void)loc;
	int named = callee->kind == AST_NAME;
	int depth = max_arg_depth(args ? args->v : NULL, args ? args->n : 0);
	if (!named && depth_of(callee) > depth)
		depth = depth_of(callee);
	if (++depth > AST_MAX_DEPTH)
		return too_deep(p, callee->loc);
	AstExpr *e = new_expr(p, named ? AST_CALL : AST_APPLY, callee->loc, depth);
	if (named)
		e->name = callee->name;
	else
		e->lhs = callee;
	if (args) {
		e->args = args->v;
		e->nargs = args->n;
	}
	return e;
}

AstExpr *ast_index(Parser *p, AstExpr *lhs, SrcLoc loc, AstExpr *index)
{
	(void)loc;
	int dl = depth_of(lhs), dr = depth_of(index);
	int depth = (dl > dr ? dl : dr) + 1;
	if (depth > AST_MAX_DEPTH)
		return too_deep(p, lhs->loc);
	AstExpr *e = new_expr(p, AST_INDEX, lhs->loc, depth);
	e->lhs = lhs;
	e->rhs = index;
	return e;
}

AstExpr *ast_field(Parser *p, AstExpr *lhs, SrcLoc loc, const char *name)
{
	int depth = depth_of(lhs) + 1;
	if (depth > AST_MAX_DEPTH)
		return too_deep(p, loc);
	AstExpr *e = new_expr(p, AST_FIELD, lhs->loc, depth);
	e->lhs = lhs;
	e->name = name;
	return e;
}

AstExpr *ast_tuple(Parser *p, SrcLoc loc, AstExpr *first, AstExprList *rest)
{
	AstExprList *all = ast_exprs(p, NULL, first);
	for (int i = 0; rest && i < rest->n; i++)
		all = ast_exprs(p, all, rest->v[i]);
	AstExpr *e = ast_list(p, loc, all);
	if (e->kind == AST_LIST)
		e->kind = AST_TUPLE;
	return e;
}

AstExpr *ast_list(Parser *p, SrcLoc loc, AstExprList *items)
{
	int n = items ? items->n : 0;
	int depth = 0;
	for (int i = 0; i < n; i++)
		if (depth_of(items->v[i]) > depth)
			depth = depth_of(items->v[i]);
	if (++depth > AST_MAX_DEPTH)
		return too_deep(p, loc);
	AstExpr *e = new_expr(p, AST_LIST, loc, depth);
	e->nargs = n;
	if (n > 0) {
		e->args = arena_alloc(p->arena, (size_t)n * sizeof *e->args);
		for (int i = 0; i < n; i++) {
			e->args[i].value = items->v[i];
			e->args[i].name_loc = items->v[i]->loc;
		}
	}
	return e;
}

AstArg ast_arg(const char *name, SrcLoc name_loc, AstExpr *value)
{
	return (AstArg){.name = name, .name_loc = name_loc, .value = value};
}

static AstArgList *push_arg(Parser *p, AstArgList *list, AstArg arg)
{
	if (!list)
		list = arena_alloc(p->arena, sizeof *list);
	if (list->n == list->cap) {
		int cap = grow_cap(list->cap);
		list->v = arena_grow(p->arena, list->v, (size_t)list->n, (size_t)cap, sizeof *list->v);
		list->cap = cap;
	}
	list->v[list->n++] = arg;
	return list;
}

AstArgList *ast_args(Parser *p, AstArgList *list, AstArg arg)
{
	if (!arg.name && list && list->n > 0 && list->v[list->n - 1].name)
		diag_error(p->diag, arg.value->loc,
		           "positional argument after named argument '%s'",
		           list->v[list->n - 1].name);
	return push_arg(p, list, arg);
}

AstArgList *ast_items(Parser *p, AstArgList *list, AstArg item)
{
	return push_arg(p, list, item);
}

AstArgList *ast_params(Parser *p, AstArgList *list, AstArg param)
{
	if (!param.value && list && list->n > 0 && list->v[list->n - 1].value)
		diag_error(p->diag, param.name_loc, "parameter '%s' without a default follows parameter '%s', which has one",
		           param.name, list->v[list->n - 1].name);
	return push_arg(p, list, param);
}

AstExprList *ast_exprs(Parser *p, AstExprList *list, AstExpr *e)
{
	if (!list)
		list = arena_alloc(p->arena, sizeof *list);
	if (list->n == list->cap) {
		int cap = grow_cap(list->cap);
		list->v = arena_grow(p->arena, list->v, (size_t)list->n, (size_t)cap, sizeof *list->v);
		list->cap = cap;
	}
	list->v[list->n++] = e;
	return list;
}

AstNameList *ast_names(Parser *p, AstNameList *list, const char *name, SrcLoc loc)
{
	if (!list)
		list = arena_alloc(p->arena, sizeof *list);
	if (list->n == list->cap) {
		int cap = grow_cap(list->cap);
		list->v = arena_grow(p->arena, list->v, (size_t)list->n, (size_t)cap, sizeof *list->v);
		list->locs = arena_grow(p->arena, list->locs, (size_t)list->n, (size_t)cap,
		                        sizeof *list->locs);
		list->cap = cap;
	}
	list->v[list->n] = name;
	list->locs[list->n] = loc;
	list->n++;
	return list;
}

AstType ast_type(Parser *p, SrcLoc loc, const char *dtype, AstExprList *dims)
{
	AstType t = {.dtype = dtype, .dtype_loc = loc, .loc = loc};
	if (dims) {
		t.dims = dims->v;
		t.ndims = dims->n;
	}
	return t;
}

static AstStmt *new_stmt(Parser *p, AstStmtKind kind, SrcLoc loc, const char *name,
                         SrcLoc name_loc, AstExpr *value)
{
	AstStmt *s = arena_alloc(p->arena, sizeof *s);
	s->kind = kind;
	s->loc = loc;
	s->name = name;
	s->name_loc = name_loc;
	s->value = value;
	return s;
}

AstStmt *ast_stmt(Parser *p, AstStmtKind kind, SrcLoc loc, const char *name,
                  SrcLoc name_loc, AstExpr *value)
{
	return new_stmt(p, kind, loc, name, name_loc, value);
}

AstStmt *ast_output_let(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                        AstExpr *value)
{
	AstStmt *s = new_stmt(p, ST_LET, loc, name, name_loc, value);
	s->is_output = 1;
	return s;
}

AstStmt *ast_typed(Parser *p, AstStmtKind kind, SrcLoc loc, const char *name,
                   SrcLoc name_loc, AstType type, AstExpr *value)
{
	AstStmt *s = new_stmt(p, kind, loc, name, name_loc, value);
	s->type = type;
	return s;
}

static void end_statement(Parser *p);

static void set_params(Parser *p, AstStmt *s, AstArgList *params)
{
	if (!params)
		return;
	int n = params->n;
	s->nparams = n;
	s->params = arena_alloc(p->arena, (size_t)n * sizeof *s->params);
	s->param_locs = arena_alloc(p->arena, (size_t)n * sizeof *s->param_locs);
	s->param_defaults = arena_alloc(p->arena, (size_t)n * sizeof *s->param_defaults);
	for (int i = 0; i < n; i++) {
		s->params[i] = params->v[i].name;
		s->param_locs[i] = params->v[i].name_loc;
		s->param_defaults[i] = params->v[i].value;
	}
}

AstStmt *ast_def(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                 AstArgList *params, AstExpr *value, AstBlock *body)
{
	AstStmt *s = new_stmt(p, ST_DEF, loc, name, name_loc, value);
	set_params(p, s, params);
	s->body = body;
	return s;
}

AstStmt *ast_layer(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                   AstArgList *params, AstBlock *body)
{
	AstStmt *s = new_stmt(p, ST_LAYER, loc, name, name_loc, NULL);
	set_params(p, s, params);
	s->body = body;
	return s;
}

static void set_names(Parser *p, AstStmt *s, const char *name, SrcLoc name_loc, AstNameList *rest)
{
	int n = 1 + (rest ? rest->n : 0);
	s->nnames = n;
	s->names = arena_alloc(p->arena, (size_t)n * sizeof *s->names);
	s->name_locs = arena_alloc(p->arena, (size_t)n * sizeof *s->name_locs);
	s->names[0] = name;
	s->name_locs[0] = name_loc;
	for (int i = 1; i < n; i++) {
		s->names[i] = rest->v[i - 1];
		s->name_locs[i] = rest->locs[i - 1];
	}
}

AstStmt *ast_rebind(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                    AstNameList *rest, AstExpr *value)
{
	AstStmt *s = new_stmt(p, ST_REBIND, loc, name, name_loc, value);
	set_names(p, s, name, name_loc, rest);
	return s;
}

AstStmt *ast_multi(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                   AstNameList *rest, AstExpr *value, int rebind)
{
	if (rebind)
		return ast_rebind(p, loc, name, name_loc, rest, value);
	AstStmt *s = new_stmt(p, ST_MULTI, loc, name, name_loc, value);
	set_names(p, s, name, name_loc, rest);
	return s;
}

AstStmt *ast_array(Parser *p, SrcLoc loc, const char *name, SrcLoc name_loc,
                   AstExpr *count, AstExpr *value)
{
	AstStmt *s = new_stmt(p, ST_ARRAY, loc, name, name_loc, value);
	s->count = count;
	return s;
}

AstStmt *ast_for(Parser *p, SrcLoc loc, const char *var, SrcLoc var_loc,
                 AstExpr *lo, AstExpr *hi, AstBlock *body)
{
	AstStmt *s = new_stmt(p, ST_FOR, loc, var, var_loc, lo);
	s->hi = hi;
	s->body = body;
	return s;
}

AstBlock *ast_block(Parser *p, AstBlock *list, AstStmt *s)
{
	if (!list)
		list = arena_alloc(p->arena, sizeof *list);
	if (s) {
		if (list->n == list->cap) {
			int cap = grow_cap(list->cap);
			list->stmts = arena_grow(p->arena, list->stmts, (size_t)list->n, (size_t)cap, sizeof *list->stmts);
			list->cap = cap;
		}
		list->stmts[list->n++] = s;
		end_statement(p);
	}
	return list;
}

AstStmt *ast_train(Parser *p, SrcLoc loc, AstArgList *items)
{
	AstStmt *s = new_stmt(p, ST_TRAIN, loc, NULL, loc, NULL);
	if (items) {
		s->items = items->v;
		s->nitems = items->n;
	}
	return s;
}

/* A statement (or a train setting) ended, parsed or skipped: its error
 * state starts afresh. */
static void end_statement(Parser *p)
{
	p->too_deep_reported = 0;
	p->skipping = 0;
}

void ast_add_stmt(Parser *p, AstStmt *s)
{
	AstProgram *prog = p->prog;
	if (prog->nstmts == p->stmt_cap) {
		int cap = grow_cap(p->stmt_cap);
		prog->stmts = arena_grow(p->arena, prog->stmts, (size_t)prog->nstmts, (size_t)cap,
		                         sizeof *prog->stmts);
		p->stmt_cap = cap;
	}
	prog->stmts[prog->nstmts++] = s;
	end_statement(p);
}

void ast_recovered(Parser *p)
{
	end_statement(p);
}

/* ------------------------------------------------------------------ */
/* Syntax errors                                                        */
/* ------------------------------------------------------------------ */

static int is_keyword(int tok)
{
	switch (tok) {
	case DIM: case DTYPE: case INPUT: case LABEL: case PARAM:
	case DEF: case OUTPUT: case LOSS: case TRAIN:
	case LAYER: case FOR: case IN: case RETURN: case CONST:
		return 1;
	default:
		return 0;
	}
}

/* How a token is shown in "expected ...": its spelling in quotes. */
static const char *token_spelling(int tok)
{
	switch (tok) {
	case DIM: return "dim";
	case DTYPE: return "dtype";
	case INPUT: return "input";
	case LABEL: return "label";
	case PARAM: return "param";
	case DEF: return "def";
	case OUTPUT: return "output";
	case LOSS: return "loss";
	case TRAIN: return "train";
	case LAYER: return "layer";
	case FOR: return "for";
	case IN: return "in";
	case RETURN: return "return";
	case CONST: return "const";
	case COLONEQ: return ":=";
	case DOTDOT: return "..";
	case DOT: return ".";
	case PLUS: return "+";
	case MINUS: return "-";
	case STAR: return "*";
	case SLASH: return "/";
	case AT: return "@";
	case CARET: return "^";
	case LPAREN: return "(";
	case RPAREN: return ")";
	case LBRACK: return "[";
	case RBRACK: return "]";
	case LBRACE: return "{";
	case RBRACE: return "}";
	case COMMA: return ",";
	case COLON: return ":";
	case EQUALS: return "=";
	case SEMI: return ";";
	default: return NULL;
	}
}

#define NTOKEN_SLOTS 64
_Static_assert(DOT < NTOKEN_SLOTS && SEMI < NTOKEN_SLOTS, "token kinds must fit the table in describe_expected");

static int is_keyword_text(const char *s, int len)
{
	for (int t = 0; t < NTOKEN_SLOTS; t++)
		if (is_keyword(t) && (int)strlen(token_spelling(t)) == len
		    && memcmp(s, token_spelling(t), (size_t)len) == 0)
			return 1;
	return 0;
}

/* The unexpected token as the user wrote it: "name 'foo'", "')'". */
static void describe_token(const Parser *p, int tok, char *buf, size_t size)
{
	const char *text = p->src + p->tok_pos;
	int len = p->tok_len;
	const char *more = "";
	if (len > MAX_QUOTED_TOKEN) {
		len = MAX_QUOTED_TOKEN;
		more = "...";
	}
	switch (tok) {
	case YYEOF:
		snprintf(buf, size, "end of file");
		break;
	case NEWLINE:
		snprintf(buf, size, "%s", p->at_eof ? "end of file" : "end of line");
		break;
	case NUM:
		snprintf(buf, size, "number '%.*s%s'", len, text, more);
		break;
	case NAME:
		snprintf(buf, size, "name '%.*s%s'", len, text, more);
		break;
	case STR:
		snprintf(buf, size, "string %.*s%s", len, text, more);
		break;
	default:
		if (is_keyword(tok))
			snprintf(buf, size, "keyword '%s'", token_spelling(tok));
		else if (token_spelling(tok))
			snprintf(buf, size, "'%s'", token_spelling(tok));
		else
			snprintf(buf, size, "token");
		break;
	}
}

/* The order in which single tokens are listed after the groups. */
static const int listed_tokens[] = {
	EQUALS, COLONEQ, COLON, IN, DOTDOT, COMMA, RPAREN, RBRACK, LBRACE, RBRACE, LBRACK, LPAREN,
	NAME, NUM, STR, NEWLINE, SEMI, YYEOF,
};

static void append(char *buf, size_t size, const char *s)
{
	size_t used = strlen(buf);
	if (used < size)
		snprintf(buf + used, size - used, "%s", s);
}

/* Word the set of expected tokens: "an expression", "'=' or ':'", ... */
static void describe_expected(const int *expected, int n, char *buf, size_t size)
{
	char has[NTOKEN_SLOTS] = {0};
	for (int i = 0; i < n; i++)
		if (expected[i] >= 0 && expected[i] < NTOKEN_SLOTS)
			has[expected[i]] = 1;

	const char *items[24];
	int nitems = 0;
	if (has[DIM]) {
		items[nitems++] = "a statement (dim, dtype, input, label, param, const, def, layer, "
		                  "output, loss, train, for, return, or NAME = expr)";
		has[NAME] = has[NEWLINE] = has[SEMI] = has[YYEOF] = 0;
		for (int t = 0; t < NTOKEN_SLOTS; t++)
			if (is_keyword(t))
				has[t] = 0;
	}
	if (has[NUM]) {
		items[nitems++] = "an expression";
		has[NUM] = has[STR] = has[NAME] = has[LPAREN] = has[LBRACK] = has[MINUS] = 0;
	}
	if (has[NAME] && has[LBRACK]) {
		items[nitems++] = "a type (such as f32[B, 10] or [10])";
		has[NAME] = has[LBRACK] = 0;
	}
	if (has[LBRACE] || has[RBRACE])
		has[NEWLINE] = has[SEMI] = has[COMMA] = 0; /* optional separators */
	if (has[NEWLINE])
		has[SEMI] = 0;
	int operators = has[PLUS];
	if (operators) {
		/* after a name: '(' would make a call and '=' a named argument */
		has[PLUS] = has[MINUS] = has[STAR] = has[SLASH] = has[AT] = has[CARET] = 0;
		has[LPAREN] = has[EQUALS] = has[DOT] = 0;
		if (has[RBRACK] || has[COMMA] || has[RPAREN] || has[DOTDOT] || has[NEWLINE])
			has[LBRACK] = 0; /* indexing, s[i] */
		if (has[RPAREN] || has[RBRACK] || has[COMMA])
			operators = 0; /* inside brackets, name the bracket instead */
	}

	char quoted[NTOKEN_SLOTS][8];
	for (size_t i = 0; i < sizeof listed_tokens / sizeof listed_tokens[0]; i++) {
		int t = listed_tokens[i];
		if (!has[t])
			continue;
		if (t == NAME)
			items[nitems++] = "a name";
		else if (t == NUM)
			items[nitems++] = "a number";
		else if (t == STR)
			items[nitems++] = "a string";
		else if (t == NEWLINE)
			items[nitems++] = "end of line";
		else if (t == YYEOF)
			items[nitems++] = "end of file";
		else {
			snprintf(quoted[t], sizeof quoted[t], "'%s'", token_spelling(t));
			items[nitems++] = quoted[t];
		}
	}
	if (operators)
		items[nitems++] = "an operator";

	buf[0] = '\0';
	for (int i = 0; i < nitems; i++) {
		if (i > 0)
			append(buf, size, nitems == 2 ? " or " : i == nitems - 1 ? ", or " : ", ");
		append(buf, size, items[i]);
	}
}

static int closing_token(int open)
{
	return open == LPAREN ? RPAREN : RBRACK;
}

void ast_syntax_error(Parser *p, SrcLoc loc, int tok, const int *expected, int nexpected)
{
	if (p->at_eof) {
		if (p->eof_reported)
			return;
		p->eof_reported = 1;
	}
	char what[MAX_QUOTED_TOKEN + 32];
	char want[512];
	describe_token(p, tok, what, sizeof what);
	describe_expected(expected, nexpected, want, sizeof want);

	int name_expected = 0, closer_expected = 0;
	int inner = p->depth - 1;
	for (int i = 0; i < nexpected; i++) {
		if (expected[i] == NAME)
			name_expected = 1;
		if (inner >= 0 && inner < MAX_TRACKED_BRACKETS
		    && expected[i] == closing_token(p->open_tok[inner]))
			closer_expected = 1;
	}

	if ((tok == RPAREN || tok == RBRACK) && p->unmatched_close)
		diag_error(p->diag, loc, "unmatched '%s'", token_spelling(tok));
	else if ((is_keyword(tok) && name_expected)
	         || (tok == EQUALS && is_keyword_text(p->src + p->prev_pos, p->prev_len)))
		diag_error(p->diag, loc, "unexpected %s, expected %s (keywords cannot be used as names)",
		           what, want);
	else
		diag_error(p->diag, loc, "unexpected %s%s%s", what, want[0] ? ", expected " : "", want);

	/* The statement ran on past a line end: point at the open bracket. */
	if (closer_expected && p->open_loc[inner].line != loc.line)
		diag_note(p->diag, p->open_loc[inner], "to match this '%s'",
		          token_spelling(p->open_tok[inner]));

	p->depth = 0;
	p->skipping = 1;
}

void yyerror(const SrcLoc *loc, yyscan_t scanner, Parser *p, const char *msg)
{
	diag_error(p->diag, *loc, "nesting is too deep");
}

/* ------------------------------------------------------------------ */
/* Entry point                                                          */
/* ------------------------------------------------------------------ */

AstProgram *parse_program(Arena *a, Diag *d, const char *file, const char *src)
{
	return parse_source(a, d, file, src, 0);
}

AstProgram *parse_source(Arena *a, Diag *d, const char *file, const char *src, int file_id)
{
	Parser p = {.arena = a, .diag = d, .src = src ? src : "", .line = 1, .col = 1, .file_id = file_id};
	p.prog = arena_alloc(a, sizeof *p.prog);
	p.prog->file = arena_strdup(a, file ? file : "<input>");

	size_t len = strlen(p.src);
	if (len > INT_MAX / 2) /* the scanner counts in ints; the driver reads at most 512 MiB */
		DLC_INTERNAL("a source of %zu bytes is too large for the scanner", len);
	yyscan_t scanner;
	if (yylex_init_extra(&p, &scanner) != 0)
		DLC_INTERNAL("cannot start the scanner");
	YY_BUFFER_STATE buf = yy_scan_bytes(p.src, (int)len, scanner);
	yyparse(scanner, &p);
	yy_delete_buffer(buf, scanner);
	yylex_destroy(scanner);
	return p.prog;
}

/* ------------------------------------------------------------------ */
/* --emit=ast                                                           */
/* ------------------------------------------------------------------ */

/* Integers print as integers; other numbers with the fewest significant
 * digits (up to 17) that read back as the same double, so 0.05 prints as
 * 0.05, and without an exponent below 1e17, so 1E3 prints as 1000. */
static void dump_number(FILE *out, const AstExpr *e)
{
	if (e->is_int && fabs(e->num) <= 9007199254740992.0) {
		fprintf(out, "%.0f", e->num);
		return;
	}
	char buf[64];
	int prec;
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof buf, "%.*g", prec, e->num);
		if (strtod(buf, NULL) == e->num)
			break;
	}
	snprintf(buf, sizeof buf, "%.*e", prec - 1, e->num);
	const char *exp = strchr(buf, 'e');
	int exp10 = exp ? atoi(exp + 1) : 0;
	if (exp10 >= prec && exp10 < 17)
		prec = exp10 + 1;
	fprintf(out, "%.*g", prec, e->num);
}

static void dump_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c < 0x20 || c == 0x7f)
			fprintf(out, "\\x%02x", c);
		else
			fputc(c, out);
	}
	fputc('"', out);
}

static const char *op_name(int op, int unary)
{
	static char buf[2];
	if (unary && op == '-')
		return "neg";
	buf[0] = (char)op;
	buf[1] = '\0';
	return buf;
}

static void dump_expr(FILE *out, const AstExpr *e)
{
	if (!e) {
		fputs("?", out);
		return;
	}
	switch (e->kind) {
	case AST_NUM:
		dump_number(out, e);
		break;
	case AST_STR:
		dump_string(out, e->str);
		break;
	case AST_NAME:
		fputs(e->name, out);
		break;
	case AST_UNARY:
		fprintf(out, "(%s ", op_name(e->op, 1));
		dump_expr(out, e->lhs);
		fputc(')', out);
		break;
	case AST_BINARY:
		fprintf(out, "(%s ", op_name(e->op, 0));
		dump_expr(out, e->lhs);
		fputc(' ', out);
		dump_expr(out, e->rhs);
		fputc(')', out);
		break;
	case AST_INDEX:
		fputs("(index ", out);
		dump_expr(out, e->lhs);
		fputc(' ', out);
		dump_expr(out, e->rhs);
		fputc(')', out);
		break;
	case AST_FIELD:
		fputs("(field ", out);
		dump_expr(out, e->lhs);
		fprintf(out, " %s)", e->name);
		break;
	case AST_CALL:
	case AST_APPLY:
	case AST_LIST:
	case AST_TUPLE:
		fputs(e->kind == AST_CALL ? "(call " : e->kind == AST_APPLY ? "(apply " : e->kind == AST_LIST ? "(list" : "(tuple", out);
		if (e->kind == AST_CALL)
			fputs(e->name, out);
		if (e->kind == AST_APPLY)
			dump_expr(out, e->lhs);
		for (int i = 0; i < e->nargs; i++) {
			const AstArg *a = &e->args[i];
			fputc(' ', out);
			if (a->name)
				fprintf(out, "(%s ", a->name);
			dump_expr(out, a->value);
			if (a->name)
				fputc(')', out);
		}
		fputc(')', out);
		break;
	}
}

static void dump_type(FILE *out, const AstType *t)
{
	if (t->dtype)
		fprintf(out, " %s", t->dtype);
	fputs(" [", out);
	for (int i = 0; i < t->ndims; i++) {
		if (i > 0)
			fputc(' ', out);
		dump_expr(out, t->dims[i]);
	}
	fputc(']', out);
}

static void dump_stmt(FILE *out, const AstStmt *s, int indent);

static void dump_params(FILE *out, const AstStmt *s)
{
	fputc('(', out);
	for (int i = 0; i < s->nparams; i++) {
		fprintf(out, i ? " %s" : "%s", s->params[i]);
		if (s->param_defaults && s->param_defaults[i]) {
			fputc('=', out);
			dump_expr(out, s->param_defaults[i]);
		}
	}
	fputs(") ", out);
}

static void dump_block(FILE *out, const AstBlock *b, int indent)
{
	fputs("{", out);
	for (int i = 0; b && i < b->n; i++) {
		fputc('\n', out);
		dump_stmt(out, b->stmts[i], indent + 2);
	}
	fputs("}", out);
}

static void dump_names(FILE *out, const AstStmt *s)
{
	for (int i = 0; i < s->nnames; i++)
		fprintf(out, i ? " %s" : "%s", s->names[i]);
}

static void dump_stmt(FILE *out, const AstStmt *s, int indent)
{
	fprintf(out, "%*s(", indent, "");
	switch (s->kind) {
	case ST_DIM:
		fprintf(out, "dim %s ", s->name);
		dump_expr(out, s->value);
		break;
	case ST_DTYPE:
		fprintf(out, "dtype %s", s->name);
		break;
	case ST_INPUT:
	case ST_LABEL:
	case ST_PARAM:
		fprintf(out, "%s %s",
		        s->kind == ST_INPUT ? "input" : s->kind == ST_LABEL ? "label" : "param",
		        s->name);
		dump_type(out, &s->type);
		if (s->value) {
			fputc(' ', out);
			dump_expr(out, s->value);
		}
		break;
	case ST_DEF:
		fprintf(out, "def %s ", s->name ? s->name : "()");
		dump_params(out, s);
		if (s->body)
			dump_block(out, s->body, indent);
		else
			dump_expr(out, s->value);
		break;
	case ST_LAYER:
		fprintf(out, "layer %s ", s->name);
		dump_params(out, s);
		dump_block(out, s->body, indent);
		break;
	case ST_CARRY:
		fprintf(out, "carry %s", s->name);
		dump_type(out, &s->type);
		break;
	case ST_HYPER:
		fprintf(out, "hyper %s ", s->name);
		dump_expr(out, s->value);
		break;
	case ST_CONST:
		fprintf(out, "const %s", s->name);
		dump_type(out, &s->type);
		fputc(' ', out);
		dump_expr(out, s->value);
		break;
	case ST_REBIND:
	case ST_MULTI:
		fputs(s->kind == ST_REBIND ? "rebind " : "let ", out);
		dump_names(out, s);
		fputc(' ', out);
		dump_expr(out, s->value);
		break;
	case ST_ARRAY:
		fprintf(out, "array %s ", s->name);
		dump_expr(out, s->count);
		fputc(' ', out);
		dump_expr(out, s->value);
		break;
	case ST_FOR:
		fprintf(out, "for %s ", s->name);
		dump_expr(out, s->value);
		fputc(' ', out);
		dump_expr(out, s->hi);
		fputc(' ', out);
		dump_block(out, s->body, indent);
		break;
	case ST_RETURN:
		fputs("return ", out);
		dump_expr(out, s->value);
		break;
	case ST_LET:
		fprintf(out, "%s %s ", s->is_output ? "output" : "let", s->name);
		dump_expr(out, s->value);
		break;
	case ST_OUTPUT:
		fprintf(out, "output %s", s->name);
		break;
	case ST_LOSS:
		fputs("loss ", out);
		dump_expr(out, s->value);
		break;
	case ST_TRAIN:
		fputs("train", out);
		for (int i = 0; i < s->nitems; i++) {
			fprintf(out, "\n    (%s ", s->items[i].name);
			dump_expr(out, s->items[i].value);
			fputc(')', out);
		}
		break;
	}
	fputc(')', out);
}

void ast_dump(FILE *out, const AstProgram *p)
{
	fputs("(program ", out);
	dump_string(out, p->file);
	for (int i = 0; i < p->nstmts; i++) {
		fputc('\n', out);
		dump_stmt(out, p->stmts[i], 2);
	}
	fputs(")\n", out);
}
