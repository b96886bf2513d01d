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

%token PLUS "+" MINUS "-" STAR "*" SLASH "/" AT "@" CARET "^"
%token LPAREN "(" RPAREN ")" LBRACK "[" RBRACK "]" LBRACE "{" RBRACE "}"
%token COMMA "," COLON ":" EQUALS "=" SEMI ";"

%type <stmt> stmt
%type <expr> expr term unary power primary
%type <arg> arg item
%type <args> args arglist items
%type <exprs> exprs exprs_opt
%type <names> params names
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
|	"def" NAME "(" params ")" "=" expr      { $$ = ast_def(p, @1, $2, @2, $4, $7); }
|	NAME "=" expr                           { $$ = ast_stmt(p, ST_LET, @1, $1, @1, $3); }
|	"output" NAME "=" expr                  { $$ = ast_output_let(p, @1, $2, @2, $4); }
|	"output" NAME                           { $$ = ast_stmt(p, ST_OUTPUT, @1, $2, @2, NULL); }
|	"loss" expr                             { $$ = ast_stmt(p, ST_LOSS, @1, NULL, @1, $2); }
|	"train" newlines "{" items "}"          { $$ = ast_train(p, @1, $4); }
|	"train" newlines "{" items error "}"    { $$ = ast_train(p, @1, $4); yyerrok; }
;

newlines: %empty | newlines NEWLINE ;

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

params:
	%empty                                  { $$ = NULL; }
|	names
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

primary:
	NUM
|	STR
|	NAME                                    { $$ = ast_name(p, $1, @1); }
|	NAME "(" args ")"                       { $$ = ast_call(p, $1, @1, $3); }
|	"(" expr ")"                            { $$ = $2; }
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
