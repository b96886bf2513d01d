/* test_verify.c - the stage verifier finds what a broken pass would leave:
 * a well-formed graph passes; each corruption (a dangling input, an input
 * that comes after its node, a wrong elementwise shape, a bad reduction, an
 * inner-size mismatch, a batch axis out of range, a leaf that lost its
 * tensor, an assignment to a computed value, float ids, a gather, scatter
 * or upsampling of the wrong shape) is reported; and a memory plan
 * that puts two live arrays in the same place is caught. */
#include <stdio.h>
#include <string.h>
#include "graph.h"
#include "verify.h"

static int failures;
static FILE *sink; /* the verifier's messages */

static int problems(const Graph *g)
{
	return graph_verify(g, NULL, 0, "test", sink);
}

static void expect(const char *what, int got_problems, int want_bad)
{
	if ((got_problems > 0) != want_bad) {
		printf("FAIL %s: %d problems, expected %s\n", what, got_problems, want_bad ? "some" : "none");
		failures++;
	} else {
		printf("ok   %s (%d)\n", what, got_problems);
	}
}

/* x [4, 3] @ W [3, 2] + b, relu, sum: a small forward graph. */
static Graph *model(Arena *a, NodeId *mm, NodeId *add, NodeId *loss, int *tw)
{
	Graph *g = graph_new(a, DT_F64);
	int64_t dx[2] = {4, 3}, dw[2] = {3, 2}, db[1] = {2};
	int tx = graph_add_tensor(g, "x", ROLE_INPUT, DT_F64, shape_make(2, dx), 0, (SrcLoc){0, 0, 0});
	*tw = graph_add_tensor(g, "W", ROLE_PARAM, DT_F64, shape_make(2, dw), -1, (SrcLoc){0, 0, 0});
	int tb = graph_add_tensor(g, "b", ROLE_PARAM, DT_F64, shape_make(1, db), -1, (SrcLoc){0, 0, 0});
	g->batch = 4;
	*mm = graph_matmul(g, g->tensors[tx].node, g->tensors[*tw].node, 0, 0);
	*add = graph_binary(g, OP_ADD, *mm, g->tensors[tb].node);
	*loss = graph_reduce(g, OP_SUM, graph_unary(g, OP_RELU, *add), -1, 0);
	return g;
}

int main(void)
{
	sink = fopen("/dev/null", "w");
	if (!sink)
		sink = stderr;
	Arena a = {0};
	NodeId mm, add, loss;
	int tw;
	Graph *g = model(&a, &mm, &add, &loss, &tw);
	expect("a well-formed graph", problems(g), 0);
	expect("roots that exist", graph_verify(g, &loss, 1, "test", sink), 0);

	Node saved;
	NodeId saved_in[8];
#define CORRUPT(what, id, stmt)                                           \
	do {                                                                  \
		saved = g->nodes[id];                                             \
		memcpy(saved_in, saved.in, sizeof(NodeId) * saved.nin);           \
		stmt;                                                             \
		expect(what, problems(g), 1);                                     \
		g->nodes[id] = saved;                                             \
		memcpy(g->nodes[id].in, saved_in, sizeof(NodeId) * saved.nin);   \
	} while (0)
	CORRUPT("a dangling input", add, g->nodes[add].in[1] = 0);
	CORRUPT("an input past the end", add, g->nodes[add].in[1] = g->nnodes + 5);
	CORRUPT("an input after its node", mm, g->nodes[mm].in[0] = add);
	CORRUPT("an elementwise shape", add, g->nodes[add].shape.d[1] = 3);
	CORRUPT("a reduction's shape", loss, g->nodes[loss].shape.rank = 1; g->nodes[loss].shape.d[0] = 2);
	CORRUPT("a product's inner sizes", mm, g->nodes[mm].i[0] = 1);
	CORRUPT("a batch axis out of range", add, g->nodes[add].bax = 2);
	CORRUPT("an axis of size 0", add, g->nodes[add].shape.d[0] = 0);
	CORRUPT("an op not in the table", add, g->nodes[add].op = OP_COUNT_);
	CORRUPT("an element type", add, g->nodes[add].dtype = 7);
	NodeId wleaf = g->tensors[tw].node;
	CORRUPT("a leaf that lost its tensor", wleaf, g->nodes[wleaf].sym = 0);
	expect("still well-formed after the corruptions are undone", problems(g), 0);

	NodeId as = graph_assign(g, mm, add);
	expect("an assignment to a computed value", problems(g), 1);
	(void)as;

	/* the memory plan: two arrays live in the same kernels at one offset */
	Arena a2 = {0};
	Graph *g2 = model(&a2, &mm, &add, &loss, &tw);
	Schedule s;
	memset(&s, 0, sizeof s);
	s.g = g2;
	const char **buf = arena_alloc(&a2, sizeof(char *) * g2->nnodes);
	for (NodeId id = 0; id < g2->nnodes; id++)
		buf[id] = "t";
	s.buf = buf;
	MemPlan p;
	int64_t off[64];
	int first[64], last[64];
	for (int i = 0; i < 64; i++)
		off[i] = first[i] = last[i] = -1;
	p.off = off;
	p.first = first;
	p.last = last;
	p.arena_size = 32;
	off[mm] = 0, first[mm] = 0, last[mm] = 1; /* 8 elements at 0, kernels 0-1 */
	off[add] = 16, first[add] = 1, last[add] = 2;
	expect("a plan without overlaps", memplan_verify(&s, &p, sink), 0);
	off[add] = 4;
	expect("two live arrays overlapping", memplan_verify(&s, &p, sink), 1);
	first[add] = 2; /* no longer live together */
	expect("overlapping arrays never live together", memplan_verify(&s, &p, sink), 0);
	off[add] = 28; /* 8 elements from 28 end past the 32-element arena */
	expect("an array past the arena's end", memplan_verify(&s, &p, sink), 1);

	/* gathers and upsampling: ids i32 [4, 2] into a table [5, 3]; x [4, 2, 3, 3] by 2 x 3 */
	Arena a3 = {0};
	g = graph_new(&a3, DT_F64);
	int64_t di[2] = {4, 2}, dt[2] = {5, 3}, dx4[4] = {4, 2, 3, 3};
	int ti = graph_add_tensor(g, "tok", ROLE_INPUT, DT_I32, shape_make(2, di), 0, (SrcLoc){0, 0, 0});
	int te = graph_add_tensor(g, "E", ROLE_PARAM, DT_F64, shape_make(2, dt), -1, (SrcLoc){0, 0, 0});
	int tx4 = graph_add_tensor(g, "x", ROLE_INPUT, DT_F64, shape_make(4, dx4), 0, (SrcLoc){0, 0, 0});
	g->batch = 4;
	NodeId tok = g->tensors[ti].node, tab = g->tensors[te].node;
	NodeId tk = graph_take(g, tab, tok);
	NodeId tg = graph_take_grad(g, tk, tok, g->tensors[te].shape);
	NodeId up = graph_upsample(g, g->tensors[tx4].node, 2, 3);
	NodeId ug = graph_upsample_grad(g, up, 2, 3);
	expect("gathers and upsampling", problems(g), 0);
	CORRUPT("float ids", tk, g->nodes[tk].in[1] = tab);
	CORRUPT("rows of the wrong width", tk, g->nodes[tk].shape.d[2] = 4);
	CORRUPT("a gather that lost the batch axis of its ids", tk, g->nodes[tk].bax = -1);
	CORRUPT("a scatter into a table of the wrong width", tg, g->nodes[tg].shape.d[1] = 2);
	CORRUPT("an upsampled size", up, g->nodes[up].shape.d[3] = 6);
	CORRUPT("a block sum's size", ug, g->nodes[ug].i[0] = 3);
	expect("still well-formed after those corruptions are undone", problems(g), 0);

	arena_free(&a);
	arena_free(&a2);
	arena_free(&a3);
	if (sink != stderr)
		fclose(sink);
	printf("%d failure%s\n", failures, failures == 1 ? "" : "s");
	return failures ? 1 : 0;
}
