/* parser.y - the grammar of .dl files.
 *
 * A pure bison parser with locations.  It recognises the statements and
 * expressions of the language and hands every piece to a builder in ast.c
 * (declared in ast_build.h); error messages are worded there too.
 *
 * Statements end at a newline or ';' (the scanner drops newlines inside
 * ( ) and [ ]).  After a syntax error the parser skips to the end of the
 * statement, or of the setting inside a train block, and goes on (yyerrok:
 * the next line may report its own error at once), so one run reports
 * several mistakes.
 *
 * Expression precedence, lowest first: + - (left), * / @ (left), unary -,
 * ^ (right; -x^2 is -(x^2), and 2^-1 is allowed). */

%define api.pure full
%define api.token.raw
%define api.location.type {SrcLoc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0

%param {yyscan_t scanner}
%parse-param {Parser *p}

%code requires {
#include "ast_build.h"
}

%union {
	const char *name;
	AstBlock *block;
	AstExpr *expr;
	AstStmt *stmt;
	AstArg arg;
	AstArgList *args;
	AstExprList *exprs;
	AstNameList *names;
	AstType type;
}

%token NEWLINE "end of line"
%token <expr> NUM "number"
%token <expr> STR "string"
%token <name> NAME "name"

%token DIM "dim" DTYPE "dtype" INPUT "input" LABEL "label" PARAM "param"
%token DEF "def" OUTPUT "output" LOSS "loss" TRAIN "train"
%token LAYER "layer" FOR "for" IN "in" RETURN "return" CONST "const" CARRY "carry" HYPER "hyper"

%token PLUS "+" MINUS "-" STAR "*" SLASH "/" AT "@" CARET "^"
%token LPAREN "(" RPAREN ")" LBRACK "[" RBRACK "]" LBRACE "{" RBRACE "}"
%token COMMA "," COLON ":" EQUALS "=" SEMI ";"
%token COLONEQ ":=" DOTDOT ".." DOT "."

%type <stmt> stmt
%type <expr> expr term unary power primary
%type <arg> arg item
%type <args> args arglist items params plist
%type <arg> pitem
%type <block> block bstmts
%type <exprs> exprs exprs_opt
%type <names> names
%type <type> type

%%

program:
	%empty
|	program line
;

line:
	end
|	stmt end                                { ast_add_stmt(p, $1); }
|	error end                               { ast_recovered(p); yyerrok; }
;

end: NEWLINE | ";" ;

stmt:
	"dim" NAME "=" expr                     { $$ = ast_stmt(p, ST_DIM, @1, $2, @2, $4); }
|	"dtype" NAME                            { $$ = ast_stmt(p, ST_DTYPE, @1, $2, @2, NULL); }
|	"input" NAME ":" type                   { $$ = ast_typed(p, ST_INPUT, @1, $2, @2, $4, NULL); }
|	"label" NAME ":" type                   { $$ = ast_typed(p, ST_LABEL, @1, $2, @2, $4, NULL); }
|	"param" NAME ":" type                   { $$ = ast_typed(p, ST_PARAM, @1, $2, @2, $4, NULL); }
|	"param" NAME ":" type "=" expr          { $$ = ast_typed(p, ST_PARAM, @1, $2, @2, $4, $6); }
|	"def" NAME "(" params ")" "=" expr      { $$ = ast_def(p, @1, $2, @2, $4, $7, NULL); }
|	"def" NAME "(" params ")" block         { $$ = ast_def(p, @1, $2, @2, $4, NULL, $6); }
|	"def" "(" params ")" "=" expr           { $$ = ast_def(p, @1, NULL, @1, $3, $6, NULL); }
|	"def" "(" params ")" block              { $$ = ast_def(p, @1, NULL, @1, $3, NULL, $5); }
|	"layer" NAME "(" params ")" block       { $$ = ast_layer(p, @1, $2, @2, $4, $6); }
|	"const" NAME ":" type "=" expr          { $$ = ast_typed(p, ST_CONST, @1, $2, @2, $4, $6); }
|	"carry" NAME ":" type                   { $$ = ast_typed(p, ST_CARRY, @1, $2, @2, $4, NULL); }
|	"hyper" NAME "=" expr                   { $$ = ast_stmt(p, ST_HYPER, @1, $2, @2, $4); }
|	NAME "=" expr                           { $$ = ast_stmt(p, ST_LET, @1, $1, @1, $3); }
|	NAME ":=" expr                          { $$ = ast_rebind(p, @1, $1, @1, NULL, $3); }
|	NAME "," names "=" expr                 { $$ = ast_multi(p, @1, $1, @1, $3, $5, 0); }
|	NAME "," names ":=" expr                { $$ = ast_multi(p, @1, $1, @1, $3, $5, 1); }
|	NAME "[" expr "]" "=" expr              { $$ = ast_array(p, @1, $1, @1, $3, $6); }
|	"for" NAME "in" expr ".." expr block    { $$ = ast_for(p, @1, $2, @2, $4, $6, $7); }
|	"return" expr                           { $$ = ast_stmt(p, ST_RETURN, @1, NULL, @1, $2); }
|	"return" expr "," exprs                 { $$ = ast_stmt(p, ST_RETURN, @1, NULL, @1, ast_tuple(p, @2, $2, $4)); }
|	"output" NAME "=" expr                  { $$ = ast_output_let(p, @1, $2, @2, $4); }
|	"output" NAME                           { $$ = ast_stmt(p, ST_OUTPUT, @1, $2, @2, NULL); }
|	"loss" expr                             { $$ = ast_stmt(p, ST_LOSS, @1, NULL, @1, $2); }
|	"train" newlines "{" items "}"          { $$ = ast_train(p, @1, $4); }
|	"train" newlines "{" items error "}"    { $$ = ast_train(p, @1, $4); yyerrok; }
;

newlines: %empty | newlines NEWLINE ;

/* { statements }: the body of a def, a layer or a loop.  Statements are
 * separated as at the top level; the last one may end at the '}'. */
block:
	"{" bstmts "}"                          { $$ = $2; }
|	"{" bstmts stmt "}"                     { $$ = ast_block(p, $2, $3); }
;

bstmts:
	%empty                                  { $$ = ast_block(p, NULL, NULL); }
|	bstmts end                              { $$ = $1; }
|	bstmts stmt end                         { $$ = ast_block(p, $1, $2); }
|	bstmts error end                        { $$ = $1; ast_recovered(p); yyerrok; }
;

/* train { optimizer = sgd(lr = 0.05)  epochs = 5 }: settings separated by
 * newlines, ';', ',' or nothing at all.  A broken setting is skipped up to
 * the end of its line. */
items:
	%empty                                  { $$ = NULL; }
|	items item                              { $$ = ast_items(p, $1, $2); }
|	items separator                         { $$ = $1; }
|	items error end                         { $$ = $1; ast_recovered(p); yyerrok; }
;

item: NAME "=" expr                         { $$ = ast_arg($1, @1, $3); } ;

separator: NEWLINE | ";" | "," ;

/* f32[B, 784]   [784, 512]   [] */
type:
	"[" exprs_opt "]"                       { $$ = ast_type(p, @1, NULL, $2); }
|	NAME "[" exprs_opt "]"                  { $$ = ast_type(p, @1, $1, $3); }
;

/* def f(x, W, b)   layer Conv2d(cin, cout, k, stride = 1): parameters,
 * the ones with a default value last. */
params:
	%empty                                  { $$ = NULL; }
|	plist
;

plist:
	pitem                                   { $$ = ast_params(p, NULL, $1); }
|	plist "," pitem                         { $$ = ast_params(p, $1, $3); }
;

pitem:
	NAME                                    { $$ = ast_arg($1, @1, NULL); }
|	NAME "=" expr                           { $$ = ast_arg($1, @1, $3); }
;

names:
	NAME                                    { $$ = ast_names(p, NULL, $1, @1); }
|	names "," NAME                          { $$ = ast_names(p, $1, $3, @3); }
;

expr:
	term
|	expr "+" term                           { $$ = ast_binary(p, '+', @2, $1, $3); }
|	expr "-" term                           { $$ = ast_binary(p, '-', @2, $1, $3); }
;

term:
	unary
|	term "*" unary                          { $$ = ast_binary(p, '*', @2, $1, $3); }
|	term "/" unary                          { $$ = ast_binary(p, '/', @2, $1, $3); }
|	term "@" unary                          { $$ = ast_binary(p, '@', @2, $1, $3); }
;

unary:
	power
|	"-" unary                               { $$ = ast_unary(p, '-', @1, $2); }
;

power:
	primary
|	primary "^" unary                       { $$ = ast_binary(p, '^', @2, $1, $3); }
;

/* Calls, indexing and fields bind tightest: s[i](z), vae.encode(x), enc.W */
primary:
	NUM
|	STR
|	NAME                                    { $$ = ast_name(p, $1, @1); }
|	primary "(" args ")"                    { $$ = ast_call(p, $1, @2, $3); }
|	primary "[" expr "]"                    { $$ = ast_index(p, $1, @2, $3); }
|	primary "." NAME                        { $$ = ast_field(p, $1, @3, $3); }
|	"(" expr ")"                            { $$ = $2; }
|	"(" expr "," exprs ")"                  { $$ = ast_tuple(p, @1, $2, $4); }
|	"[" exprs_opt "]"                       { $$ = ast_list(p, @1, $2); }
;

/* f(x, W, axis = 1): positional arguments, then named ones. */
args:
	%empty                                  { $$ = NULL; }
|	arglist
;

arglist:
	arg                                     { $$ = ast_args(p, NULL, $1); }
|	arglist "," arg                         { $$ = ast_args(p, $1, $3); }
;

arg:
	expr                                    { $$ = ast_arg(NULL, @1, $1); }
|	NAME "=" expr                           { $$ = ast_arg($1, @1, $3); }
;

exprs_opt:
	%empty                                  { $$ = NULL; }
|	exprs
;

exprs:
	expr                                    { $$ = ast_exprs(p, NULL, $1); }
|	exprs "," expr                          { $$ = ast_exprs(p, $1, $3); }
;

%%

/* Called by bison on a syntax error: pass the unexpected token and the
 * tokens that would have fitted to ast.c, which words the message.  With
 * api.token.raw, symbol kinds are the token kinds of parser.h. */
static int yyreport_syntax_error(const yypcontext_t *ctx, yyscan_t scanner, Parser *p)
{
	yysymbol_kind_t kinds[YYNTOKENS];
	int expected[YYNTOKENS];
	int n = yypcontext_expected_tokens(ctx, kinds, YYNTOKENS);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		expected[i] = kinds[i];
	ast_syntax_error(p, *yypcontext_location(ctx), yypcontext_token(ctx), expected, n);
	return 0;
}
