/* driver.c - the dlc command line: the pass pipeline, start to end.
 *
 *   read file -> parse (AST) -> sema (forward graph) -> autodiff (gradients)
 *   -> optimizer step (training graph) -> emit C -> [cc -> executable]
 *
 * Each stage can be printed with --emit.  User mistakes are reported with
 * file:line:col and make dlc exit with status 1; bad usage exits with 2. */
#define _DEFAULT_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ast.h"
#include "emit_c.h"
#include "memplan.h"
#include "sema.h"
#include "step.h"
#include "summary.h"
#include "verify.h"
#include "../runtime/dlrt.h"
#ifdef DLC_HAVE_LLVM
#include "jit.h"
#endif

#ifndef DLC_EXTRA_CFLAGS
#define DLC_EXTRA_CFLAGS ""
#endif

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: dlc [options] MODEL.dl\n"
	        "       dlc run [options] MODEL.dl [trainer flags]   compile and train in this process\n"
	        "\n"
	        "Compile a model written in the dlc language into a C file or a standalone\n"
	        "trainer.  The trainer links against the dlc runtime (libdlrt) and libm.\n"
	        "\n"
	        "options:\n"
	        "  -o FILE           output: FILE.c writes the C source; any other name builds\n"
	        "                    an executable with the system C compiler (default: MODEL.c)\n"
	        "  -D NAME=VALUE     override a dim, e.g. -D B=1\n"
	        "  --dtype f32|f64   element type of float tensors (overrides the program)\n"
	        "  --emit=STAGE      print a stage to stdout instead of compiling:\n"
	        "                      ast    the syntax tree\n"
	        "                      graph  the forward graph and the training graph\n"
	        "                      kernels the fused kernels, their arrays and the memory plan\n"
	        "                      dot    Graphviz of the forward and backward graphs\n"
	        "                      summary  a table of values, shapes, parameters,\n"
	        "                             FLOPs, receptive fields and memory\n"
	        "                      c      the generated C\n"
	        "  --check           only check the program for errors\n"
	        "  -O0, -O1, -O2     optimization level (default -O2):\n"
	        "                      -O0 every node as written, its own kernel and array\n"
	        "                      -O1 folding, CSE, fusion\n"
	        "                      -O2 also in-place updates and the memory plan\n"
	        "  -fno-PASS, -fPASS switch one pass off or on: fold, cse, fuse, inplace, memplan\n"
	        "  -fcheck-memory    poison planned arrays once they are dead (a test of the plan)\n"
	        "  --stats           print node counts, kernels and memory to stderr\n"
	        "  --probe           keep every value and gradient of the forward graph for the\n"
	        "                    trainer's --dot (no fusion, no shared memory)\n"
	        "  --cc CC           C compiler used to build executables (default: $CC or cc)\n"
	        "  --cflags FLAGS    extra flags for that compiler (and for dlc run's LLVM JIT)\n"
	        "  --cc-jit          dlc run: build with the system C compiler into a shared\n"
	        "                    object instead of the LLVM JIT (implied by --cc)\n"
	        "  --no-jit-cache    dlc run: neither use nor fill the LLVM JIT's cache of compiled\n"
	        "                    code (also DLC_JIT_CACHE=0; see docs/cli.md)\n"
	        "  --mpi             build a data-parallel trainer: with mpicc, for mpirun -np P\n"
	        "                    (docs/mpi.md); dlc run under mpirun is one already\n"
	        "  --no-kv-cache     a transformer's text generator reruns its whole context for\n"
	        "                    each character instead of caching keys and values\n"
	        "  --target=T        native (default): code for this machine (-march=native);\n"
	        "                    portable: code that runs on any CPU of this architecture\n"
	        "  --help            show this help\n"
	        "  --version         show the version and the available backends\n"
	        "\n"
	        "A trainer built by dlc takes --help too: it lists the training flags.\n");
}

/* The largest model file dlc reads: 512 MiB (the scanner counts bytes in
 * ints; parse_program takes no more). */
#define MAX_MODEL_BYTES ((size_t)1 << 29)

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "dlc: cannot open '%s': %s\n", path, strerror(errno));
		return NULL;
	}
	/* a regular file says its size before it is read; a pipe or a device
	 * is read until it ends or passes the limit */
	struct stat st;
	int too_large = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (uintmax_t)st.st_size > MAX_MODEL_BYTES;
	size_t cap = 1 << 16, n = 0;
	char *buf = NULL;
	while (!too_large) {
		char *grown = realloc(buf, cap + 1);
		if (!grown) {
			fclose(f);
			free(buf);
			fprintf(stderr, "dlc: out of memory reading '%s'\n", path);
			return NULL;
		}
		buf = grown;
		n += fread(buf + n, 1, cap - n, f);
		if (n < cap)
			break;
		too_large = n > MAX_MODEL_BYTES;
		cap = 2 * cap > MAX_MODEL_BYTES ? MAX_MODEL_BYTES + 1 : 2 * cap;
	}
	if (too_large) {
		fclose(f);
		free(buf);
		fprintf(stderr, "dlc: '%s' is too large for a model file (more than %zu MiB)\n", path, MAX_MODEL_BYTES >> 20);
		return NULL;
	}
	if (ferror(f)) {
		fprintf(stderr, "dlc: error reading '%s': %s\n", path, strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	if (memchr(buf, 0, n)) {
		fprintf(stderr, "%s: error: the file contains NUL bytes; a model is a text file\n", path);
		free(buf);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

static int ends_with(const char *s, const char *suf)
{
	size_t a = strlen(s), b = strlen(suf);
	return a >= b && !strcmp(s + a - b, suf);
}

static int file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

/* Run argv, wait; returns the exit status or -1. */
static int run_cmd(char **argv)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		fprintf(stderr, "dlc: cannot run '%s': %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Split a flag string on spaces into argv slots. */
static int split_flags(char *s, char **out, int max)
{
	int n = 0;
	for (char *t = strtok(s, " \t"); t && n < max; t = strtok(NULL, " \t"))
		out[n++] = t;
	return n;
}

/* --target=portable: no -march, so the binary runs on any CPU of the
 * architecture (on x86-64: SSE2, the generated kernels use 16-byte vectors) */
static int target_portable;

/* The optimization flags dlc builds generated code with: -O3, FMA
 * contraction on (gcc turns it off under -std=c11 unless asked), and the
 * host's instruction set unless --target=portable.  Returns the count. */
static int opt_flags(char **argv)
{
	static char o3[] = "-O3", std[] = "-std=c11", contract[] = "-ffp-contract=fast", native[] = "-march=native";
	int n = 0;
	argv[n++] = o3;
	argv[n++] = std;
	argv[n++] = contract;
	if (!target_portable)
		argv[n++] = native;
	return n;
}

/* A template for mkstemps: $TMPDIR/PREFIX-XXXXXX.c, or under /tmp when
 * TMPDIR is unset or too long. */
static void temp_name(char *buf, size_t size, const char *prefix)
{
	const char *dir = getenv("TMPDIR");
	if (!dir || !*dir || strlen(dir) + strlen(prefix) + 16 > size)
		dir = "/tmp";
	snprintf(buf, size, "%s/%s-XXXXXX.c", dir, prefix);
}

/* dlc --mpi: the trainer is built with mpicc and links libdlrt_mpi */
static int use_mpi;

static int build_executable(const char *csrc, const char *out, const char *cc, const char *cflags)
{
	const char *inc = DLC_RUNTIME_INCLUDE, *lib = DLC_RUNTIME_LIBDIR;
	char probe[4096];
	snprintf(probe, sizeof probe, "%s/dlrt.h", inc);
	if (!file_exists(probe)) {
		inc = DLC_INSTALL_INCLUDE;
		lib = DLC_INSTALL_LIBDIR;
	}
	char *argv[96];
	int n = 0;
	char *ccdup = strdup(cc);
	n += split_flags(ccdup, argv + n, 8);
	static char w[] = "-w";
	n += opt_flags(argv + n);
	argv[n++] = w;
	char *extra = strdup(DLC_EXTRA_CFLAGS);
	n += split_flags(extra, argv + n, 16);
	char *user = strdup(cflags ? cflags : "");
	n += split_flags(user, argv + n, 32);
	char incflag[4200], libflag[4200];
	snprintf(incflag, sizeof incflag, "-I%s", inc);
	snprintf(libflag, sizeof libflag, "-L%s", lib);
	static char dasho[] = "-o", ldlrt[] = "-ldlrt", lz[] = "-lz", lm[] = "-lm";
	static char dmpi[] = "-DDLRT_MPI", ldlrt_mpi[] = "-ldlrt_mpi";
	if (use_mpi)
		argv[n++] = dmpi;
	argv[n++] = incflag;
	argv[n++] = (char *)csrc;
	argv[n++] = dasho;
	argv[n++] = (char *)out;
	argv[n++] = libflag;
	if (use_mpi)
		argv[n++] = ldlrt_mpi;
	argv[n++] = ldlrt;
	argv[n++] = lz;
	argv[n++] = lm;
	argv[n] = NULL;
	int rc = run_cmd(argv);
	free(ccdup);
	free(extra);
	free(user);
	if (rc != 0) {
		fprintf(stderr, "dlc: the C compiler failed building '%s' (exit status %d)\n", out, rc);
		return 1;
	}
	return 0;
}

/* The schedule of a second model printed into the model's file (a
 * generator, a policy): named `name`, its arrays prefixed with `prefix`. */
static Schedule *second_schedule(Arena *a, Model *g, const Model *m, const char *name, const char *prefix,
                                 const StepOptions *sopt)
{
	g->name = name;
	g->name_prefix = prefix;
	g->data_dir = m->data_dir;
	StepOptions o = *sopt;
	o.probe = 0;
	return schedule_build(a, step_build(a, g, &o));
}

/* A character model (`dim V = vocab(...)` and an i32 input [B, T] whose
 * dims are named) gets a generator, printed into the same file with its
 * names prefixed: the same program for B = 1 and T = 1 when it carries state
 * (its carried states hold the context from one character to the next),
 * else for B = 1 and the whole context T (a transformer: it reads the last T
 * characters and predicts from the last position).  NULL when the model is
 * no such model, or when the program does not compile that way. */
static int no_kv_cache; /* --no-kv-cache: a transformer's generator reruns the whole context */

static Schedule *build_generator(Arena *a, const AstProgram *prog, Model *m, const DimDefine *defs, int ndefs,
                                 DType dtype, int force_dtype, int fold, int cse, const StepOptions *sopt)
{
	if (!m->nvocab)
		return NULL;
	const AstType *ty = NULL;
	for (int i = 0; i < prog->nstmts && !ty; i++) {
		const AstStmt *st = prog->stmts[i];
		if (st->kind == ST_INPUT && st->type.ndims == 2 && st->type.dims[0]->kind == AST_NAME &&
		    st->type.dims[1]->kind == AST_NAME)
			ty = &st->type;
	}
	if (!ty)
		return NULL;
	int carries = 0;
	const Tensor *x = NULL;
	for (int i = 0; i < m->g->ntensors; i++) {
		const Tensor *t = &m->g->tensors[i];
		carries |= t->carry != 0;
		if (!x && t->role == ROLE_INPUT && t->dtype == DT_I32 && t->shape.rank == 2)
			x = t;
	}
	DimDefine *d = arena_alloc(a, sizeof(DimDefine) * (size_t)(ndefs + 2));
	int nd = 0;
	for (int i = 0; i < ndefs; i++)
		if (strcmp(defs[i].name, ty->dims[0]->name) && (!carries || strcmp(defs[i].name, ty->dims[1]->name)))
			d[nd++] = defs[i];
	d[nd].name = ty->dims[0]->name;
	d[nd++].value = 1;
	if (carries) {
		d[nd].name = ty->dims[1]->name;
		d[nd++].value = 1;
	}
	FILE *devnull = fopen("/dev/null", "w");
	if (!devnull)
		return NULL;
	Diag quiet;
	diag_init(&quiet, devnull, prog->file, "");
	Model *g = NULL;
	if (!carries && !no_kv_cache && x && x->shape.d[1] > 1) {
		/* a transformer with causal attention: one token at a time, the keys
		 * and values of the context cached; the whole context otherwise */
		g = sema_build_cached(a, &quiet, prog, d, nd, dtype, force_dtype, fold, cse, x->shape.d[1]);
		if (quiet.nerrors || !g->loss) {
			quiet.nerrors = 0;
			g = NULL;
		}
	}
	if (!g)
		g = sema_build(a, &quiet, prog, d, nd, dtype, force_dtype, fold, cse);
	fclose(devnull);
	if (quiet.nerrors || !g->loss)
		return NULL;
	m->generator = arena_printf(a, "%s_gen", m->name);
	return second_schedule(a, g, m, m->generator, "gen_", sopt);
}

/* An RL model's policy: the program compiled again for one observation (its
 * batch dim, the first of the observation's type, set to 1), computing the
 * policy's action alone.  The runtime calls it at every environment step.
 * Reports an error and returns NULL when the batch dim is not named. */
static Schedule *build_policy(Arena *a, Diag *d, const AstProgram *prog, Model *m, const DimDefine *defs,
                              int ndefs, DType dtype, int force_dtype, int fold, int cse, const StepOptions *sopt)
{
	const char *obs = m->g->tensors[m->rl.obs].name;
	const AstStmt *decl = NULL;
	for (int i = 0; i < prog->nstmts && !decl; i++) {
		const AstStmt *st = prog->stmts[i];
		if ((st->kind == ST_INPUT || st->kind == ST_LABEL) && !strcmp(st->name, obs))
			decl = st;
	}
	if (!decl || decl->type.ndims < 1 || decl->type.dims[0]->kind != AST_NAME) {
		diag_error(d, decl ? decl->loc : m->rl.loc, "the policy is compiled again for one observation: give "
		           "the batch of '%s' a named dim (dim T = 500, input %s : f32[T, ...])", obs, obs);
		return NULL;
	}
	const char *bdim = decl->type.dims[0]->name;
	DimDefine *dd = arena_alloc(a, sizeof(DimDefine) * (size_t)(ndefs + 1));
	int nd = 0;
	for (int i = 0; i < ndefs; i++)
		if (strcmp(defs[i].name, bdim))
			dd[nd++] = defs[i];
	dd[nd].name = bdim;
	dd[nd++].value = 1;
	Model *g = sema_build(a, d, prog, dd, nd, dtype, force_dtype, fold, cse);
	if (d->nerrors || !g->rl.rollout || g->rl.policy < 0)
		return NULL;
	/* the action, in both modes, and a scalar of its scores as the "loss" */
	int k = g->rl.policy;
	Output out = g->outputs[k];
	NodeId ev = g->eval_outputs[k];
	const Node *pn = graph_node(g->g, out.node), *en = graph_node(g->g, ev);
	if (pn->op != OP_ARGMAX || en->op != OP_ARGMAX) {
		diag_error(d, m->rl.loc, "the policy '%s' must choose its action with categorical, epsilon_greedy or "
		           "argmax", out.name);
		return NULL;
	}
	g->outputs = arena_alloc(a, sizeof(Output));
	g->outputs[0] = out;
	g->eval_outputs = arena_alloc(a, sizeof(NodeId));
	g->eval_outputs[0] = ev;
	g->noutputs = 1;
	g->rl.policy = 0;
	g->accuracy_output = -1;
	g->accuracy_label = -1;
	g->nstate_updates = 0;
	g->loss = graph_reduce(g->g, OP_SUM, pn->in[0], -1, 0);
	g->eval_loss = graph_reduce(g->g, OP_SUM, en->in[0], -1, 0);
	g->policy_only = 1;
	m->policy = arena_printf(a, "%s_policy", m->name);
	return second_schedule(a, g, m, m->policy, "policy_", sopt);
}

/* The C file: the model, then its generator if it has one. */
static Schedule *gen_sched, *pol_sched;
static MemPlan *gen_mp, *pol_mp;
static void emit_file(FILE *f, const Schedule *sched, const MemPlan *mp, int with_main)
{
	emitc_model(f, sched, mp, with_main);
	if (gen_sched)
		emitc_second_model(f, gen_sched, gen_mp);
	if (pol_sched)
		emitc_second_model(f, pol_sched, pol_mp);
}

static uint32_t count_reached(const Graph *g, const NodeId *roots, int n)
{
	uint8_t *mark = malloc(g->nnodes);
	uint32_t c = 0;
	if (!mark)
		return 0;
	graph_reach(g, roots, n, mark);
	for (uint32_t id = 1; id < g->nnodes; id++)
		c += mark[id];
	free(mark);
	return c;
}

/* A stage left the graph or the plan broken: a bug of dlc's, not the user's. */
static void check_stage(int problems)
{
	if (problems) {
		fprintf(stderr, "dlc: internal error: %d broken invariant%s (see above); please report this with the "
		        "model\n", problems, problems == 1 ? "" : "s");
		exit(3);
	}
}

/* Nodes of the forward pass and of the whole training step. */
static uint32_t step_nodes(const TrainGraph *tg, uint32_t *forward)
{
	*forward = count_reached(tg->m->g, tg->roots, tg->nfwd);
	return count_reached(tg->m->g, tg->roots, tg->nroots);
}

static const char *mib(double b, char *buf)
{
	snprintf(buf, 32, b >= 1048576 ? "%.2f MiB" : "%.1f KiB", b >= 1048576 ? b / 1048576 : b / 1024);
	return buf;
}

/* --stats: what each pass did, on stderr. */
/* Expression swell: the loss and the parameters' gradients as graphs
 * (each value computed once, shared by every use) against the same
 * expressions written out in full, as symbolic differentiation that never
 * names a subexpression would: a tree with one copy of a value per path
 * through the graph, size(v) = 1 + sum of size(input), each tensor op one
 * symbol.  Counted in doubles, never built. */
static void print_swell(const TrainGraph *tg)
{
	const Graph *g = tg->m->g;
	uint32_t nn = g->nnodes;
	double *tree = calloc(nn + 1, sizeof *tree);
	uint8_t *reach = calloc(nn + 1, 1);
	NodeId *roots = calloc((size_t)g->ntensors + 1, sizeof *roots);
	if (!tree || !reach || !roots) {
		free(tree), free(reach), free(roots);
		return;
	}
	for (uint32_t id = 1; id < nn; id++) {
		const Node *n = graph_node(g, id);
		tree[id] = 1;
		for (int k = 0; k < n->nin; k++)
			tree[id] += tree[n->in[k]];
	}
	int nr = 0;
	double gtree = 0;
	for (int t = 0; t < g->ntensors; t++)
		if (tg->grads[t]) {
			roots[nr++] = tg->grads[t];
			gtree += tree[tg->grads[t]];
		}
	NodeId loss = tg->m->loss;
	graph_reach(g, &loss, 1, reach);
	uint32_t lnodes = 0, gnodes = 0;
	for (uint32_t id = 1; id < nn; id++)
		lnodes += reach[id];
	memset(reach, 0, nn + 1);
	graph_reach(g, roots, nr, reach);
	for (uint32_t id = 1; id < nn; id++)
		gnodes += reach[id];
	fprintf(stderr, "  expression swell:            loss %u nodes, %.4g as a tree; gradients of %d parameters %u "
	        "nodes, %.4g as trees (%.3gx)\n", lnodes, tree[loss], nr, gnodes, gtree,
	        gnodes ? gtree / (double)gnodes : 0.0);
	free(tree), free(reach), free(roots);
}

static void print_stats(const TrainGraph *tg, const char *input, const char *src, const AstProgram *prog,
                        DimDefine *defs, int ndefs, DType dtype, int force_dtype)
{
	(void)src;
	(void)input;
	const Model *m = tg->m;
	uint32_t fwd, step = step_nodes(tg, &fwd);
	/* the same program with folding and CSE off, for comparison */
	Arena a0 = {0};
	FILE *devnull = fopen("/dev/null", "w");
	Diag d0;
	diag_init(&d0, devnull ? devnull : stderr, input, src);
	Model *m0 = sema_build(&a0, &d0, prog, defs, ndefs, dtype, force_dtype, 0, 0);
	StepOptions o0 = {.hvp = tg->hv != NULL};
	TrainGraph *t0 = step_build(&a0, m0, &o0);
	uint32_t fwd0, step0 = step_nodes(t0, &fwd0);
	StepMemory mem, mem0;
	memplan_measure(tg, &mem);
	memplan_measure(t0, &mem0);
	char b1[32], b2[32], b3[32], b4[32], b5[32];
	fprintf(stderr, "dlc: stats for %s\n", m->name);
	fprintf(stderr, "  graph nodes, forward:        %u (%u without folding and CSE)\n", fwd, fwd0);
	fprintf(stderr, "  graph nodes, training step:  %u (%u without folding and CSE; %u created)\n", step, step0,
	        m->g->nnodes - 1);
	fprintf(stderr, "  kernels:                     %d (%d without fusion): %d values inlined, %d matmul "
	        "epilogues, %d in-place updates\n", mem.kernels, mem0.kernels, mem.inlined, mem.epilogues, mem.inplace);
	fprintf(stderr, "  intermediate arrays:         %s (%s at -O0)\n", mib((double)mem.intermediate, b1),
	        mib((double)mem0.intermediate, b2));
	fprintf(stderr, "  arena:                       %s planned for %s of arrays (%.1f%%)\n",
	        mib((double)mem.arena, b3), mib((double)mem.planned, b4),
	        mem.planned ? 100.0 * (double)mem.arena / (double)mem.planned : 0.0);
	fprintf(stderr, "  arena vs naive sum:          %s vs %s of every intermediate array at -O0 (%.1f%%)\n",
	        mib((double)(mem.arena + mem.intermediate - mem.planned), b1), mib((double)mem0.intermediate, b2),
	        mem0.intermediate ? 100.0 * (double)(mem.arena + mem.intermediate - mem.planned) / (double)mem0.intermediate : 0.0);
	fprintf(stderr, "  parameters %s, gradients %s, optimizer and norm state %s\n", mib((double)mem.params, b1),
	        mib((double)mem.grads, b2), mib((double)mem.state, b5));
	print_swell(tg);
	if (devnull)
		fclose(devnull);
	arena_free(&a0);
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The directory holding dlrt.h: the source tree's runtime, else the
 * installed headers. */
static const char *runtime_include(void)
{
	char probe[4200];
	snprintf(probe, sizeof probe, "%s/dlrt.h", DLC_RUNTIME_INCLUDE);
	return file_exists(probe) ? DLC_RUNTIME_INCLUDE : DLC_INSTALL_INCLUDE;
}

/* Whether the trainer flags targv[1..targc) hold one of flags (NULL-ended),
 * as `--flag` or `--flag=value`. */
static int any_flag(int targc, char **targv, const char *const *flags)
{
	for (int i = 1; i < targc; i++)
		for (int k = 0; flags[k]; k++) {
			size_t l = strlen(flags[k]);
			if (!strncmp(targv[i], flags[k], l) && (targv[i][l] == 0 || targv[i][l] == '='))
				return 1;
		}
	return 0;
}

/* With DLC_JIT_VERBOSE set, `dlc run` says when the trainer starts its first
 * training step, counted from the start of dlc. */
static double first_step_origin;
static void (*first_step_inner)(int64_t n, double lr);
static int first_step_seen;
/* and, with the JIT's two tiers, the step the O3 code was first in place for */
static long steps_timed;
#ifdef DLC_HAVE_LLVM
static long o3_step = -1;
static DlcJit *timed_jit;
#endif

static void first_step_timed(int64_t n, double lr)
{
	if (!first_step_seen) {
		first_step_seen = 1;
		fprintf(stderr, "dlc run: first training step %.0f ms after start\n", 1e3 * (now_s() - first_step_origin));
	}
#ifdef DLC_HAVE_LLVM
	if (timed_jit && o3_step < 0 && jit_optimized(timed_jit, 0, NULL, 0) == 1)
		o3_step = steps_timed;
#endif
	steps_timed++;
	first_step_inner(n, lr);
}

/* Under mpirun (Open MPI's or a PMI launcher's variables), or with --mpi:
 * the MPI trainer (dlrt_mpi_main). */
static int under_mpi(void)
{
	return use_mpi || getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

static int run_trainer(const dlrt_model *model, double t_start, int targc, char **targv)
{
#ifdef DLC_HAVE_MPI
	if (under_mpi())
		return dlrt_mpi_main(model, targc, targv);
#else
	if (under_mpi() && getenv("OMPI_COMM_WORLD_SIZE") && strcmp(getenv("OMPI_COMM_WORLD_SIZE"), "1")) {
		fprintf(stderr, "dlc run: under mpirun, but this dlc was built without MPI: every rank would "
		                "train alone (apt-get install libopenmpi-dev, then configure and build again)\n");
		return 2;
	}
#endif
	if (!getenv("DLC_JIT_VERBOSE") || !model->train_step)
		return dlrt_main(model, targc, targv);
	dlrt_model timed = *model;
	first_step_origin = t_start;
	first_step_inner = model->train_step;
	timed.train_step = first_step_timed;
	return dlrt_main(&timed, targc, targv);
}

#ifdef DLC_HAVE_LLVM
/* The directory of the LLVM JIT's cache (NULL: none): $DLC_JIT_CACHE_DIR,
 * else $XDG_CACHE_HOME/dlc, else ~/.cache/dlc; none with DLC_JIT_CACHE=0. */
static const char *jit_cache_dir(void)
{
	static char dir[4200];
	const char *e = getenv("DLC_JIT_CACHE");
	if (e && (!strcmp(e, "0") || !strcmp(e, "off") || !strcmp(e, "no")))
		return NULL;
	if ((e = getenv("DLC_JIT_CACHE_DIR")) && *e)
		return e;
	if ((e = getenv("XDG_CACHE_HOME")) && *e == '/')
		snprintf(dir, sizeof dir, "%s/dlc", e);
	else if ((e = getenv("HOME")) && *e)
		snprintf(dir, sizeof dir, "%s/.cache/dlc", e);
	else
		return NULL;
	return dir;
}

/* Whether the trainer flags train the model, rather than check it
 * (--gradcheck, --dump-grads, ...), evaluate it or sample from it. */
static int trains(int targc, char **targv)
{
	static const char *const modes[] = {"--eval", "--eval-valid", "--predict", "--sample", "--lipschitz",
	                                    "--batch-from", "--dump-forward", "--dump-grads", "--gradcheck",
	                                    "--hvpcheck", "--dump-hvp", "--grad", "--grad-sweep", "--dot",
	                                    "--value-iteration", "--dump-data", "--help", NULL};
	return !any_flag(targc, targv, modes);
}

/* `dlc run` through the LLVM JIT (compiler/jit.cpp): the generated C, held
 * in memory, compiled by the clang embedded in dlc with the flags of an
 * ahead-of-time build (-O3 -std=c11 -ffp-contract=fast -march=native, and
 * --cflags), linked into this process by LLVM's ORC JIT; the model's
 * dlrt_* references resolve to the runtime linked into dlc.  No file is
 * written and no program is run. */
static int run_llvm_jit(const Schedule *sched, const MemPlan *mp, const char *cflags, const char *cache_dir, double t_start, int targc,
                        char **targv)
{
	const Model *m = sched->m;
	char *csrc = NULL;
	size_t clen = 0;
	FILE *f = open_memstream(&csrc, &clen);
	if (!f) {
		fprintf(stderr, "dlc run: out of memory\n");
		return 1;
	}
	emit_file(f, sched, mp, 0);
	if (fclose(f) != 0) {
		fprintf(stderr, "dlc run: out of memory\n");
		free(csrc);
		return 1;
	}
	char *flags[64];
	int n = opt_flags(flags);
	/* fused multiply-adds only within an expression, where the C source
	 * writes a*b+c: then code compiled without optimisation and the O3
	 * code compute the same bits, and the tiers (jit.h) can take turns */
	static char contract_on[] = "-ffp-contract=on";
	for (int i = 0; i < n; i++)
		if (!strncmp(flags[i], "-ffp-contract=", 14))
			flags[i] = contract_on;
	static char w[] = "-w", nomain[] = "-DDLC_NO_MAIN";
	flags[n++] = w;
	flags[n++] = nomain;
	char *user = strdup(cflags ? cflags : "");
	int nuser = split_flags(user, flags + n, 48);
	n += nuser;
	/* quick code first, O3 on a background thread, unless --cflags asks
	 * for other code generation, or DLC_JIT_TIERED says otherwise: 0 O3
	 * only, "quick" the quick code only (to compare the two) */
	const char *te = getenv("DLC_JIT_TIERED");
	int tiered = nuser ? 0 : te && !strcmp(te, "0") ? 0 : te && !strcmp(te, "quick") ? 2 : 1;
	/* a run that checks, evaluates or samples instead of training is over
	 * in moments on the O3 code, and would wait for it at the end anyway */
	if (tiered == 1 && !trains(targc, targv))
		tiered = 0;
	char cname[300], sym[300];
	snprintf(cname, sizeof cname, "%s.c", m->name);
	snprintf(sym, sizeof sym, "%s_model", m->name);
	static char err[16384];
	DlcJit *jit = jit_compile(csrc, clen, cname, runtime_include(), (const char *const *)flags, n, cache_dir, tiered,
	                          err, sizeof err);
	free(user);
	free(csrc);
	if (!jit) {
		fprintf(stderr, "dlc run: %s: the LLVM JIT failed: %s\n", m->source, err);
		return 1;
	}
	const dlrt_model *model = (const dlrt_model *)jit_lookup(jit, sym, err, sizeof err);
	if (!model) {
		fprintf(stderr, "dlc run: %s: the LLVM JIT failed: %s\n", m->source, err);
		jit_free(jit);
		return 1;
	}
	JitTimes t;
	jit_times(jit, &t);
	if (t.objects > 0 && t.cached == t.objects)
		fprintf(stderr, "dlc run: %s compiled in %.2f s (%s JIT: machine code from the cache %s, linking %.0f ms; "
		        "for %s)\n", m->source, now_s() - t_start, jit_llvm_version(), cache_dir, 1e3 * t.link,
		        jit_target(jit));
	else if (t.tiered)
		fprintf(stderr, "dlc run: %s compiled in %.2f s (%s JIT: clang frontend %.0f ms, quick code %.0f ms, "
		        "linking %.0f ms; %s; for %s)\n", m->source, now_s() - t_start, jit_llvm_version(),
		        1e3 * t.frontend, 1e3 * t.compile, 1e3 * t.link,
		        tiered == 2 ? "no O3 code (DLC_JIT_TIERED=quick)" : "the O3 code follows from a background thread",
		        jit_target(jit));
	else
		fprintf(stderr, "dlc run: %s compiled in %.2f s (%s JIT: clang frontend %.0f ms, O3 and machine code %.0f ms "
		        "on %d thread%s%s, linking %.0f ms; for %s)\n", m->source, now_s() - t_start, jit_llvm_version(),
		        1e3 * t.frontend, 1e3 * t.compile, t.threads, t.threads == 1 ? "" : "s",
		        t.cached ? ", shared helpers from the cache" : "", 1e3 * t.link, jit_target(jit));
	/* --profile measures the O3 code: it waits for it */
	for (int i = 1; t.tiered && tiered == 1 && i < targc; i++)
		if (!strcmp(targv[i], "--profile") || !strncmp(targv[i], "--profile=", 10) ||
		    !strcmp(targv[i], "--profile-peak")) {
			jit_optimized(jit, 1, err, sizeof err);
			break;
		}
	targv[0] = (char *)m->name;
	timed_jit = jit;
	int rc = run_trainer(model, t_start, targc, targv);
	timed_jit = NULL;
	if (t.tiered && tiered == 1) {
		/* the O3 code's compilation finishes (and goes into the cache)
		 * even when training was over first */
		int st = jit_optimized(jit, 1, err, sizeof err);
		if (st < 0)
			fprintf(stderr, "dlc run: %s: note: the O3 code did not compile (%s); the model ran on the quick code\n",
			        m->source, err);
		else if (getenv("DLC_JIT_VERBOSE")) {
			jit_times(jit, &t);
			if (o3_step >= 0)
				fprintf(stderr, "dlc run: O3 code in place %.0f ms after the JIT began, from training step %ld of %ld\n",
				        1e3 * t.optimized, o3_step, steps_timed);
			else
				fprintf(stderr, "dlc run: O3 code in place %.0f ms after the JIT began, after %ld training steps\n",
				        1e3 * t.optimized, steps_timed);
		}
	}
	jit_free(jit);
	return rc;
}
#endif

/* `dlc run`: through the LLVM JIT when dlc has one (unless cc_jit, as with
 * --cc-jit or --cc); otherwise compile the generated C into a shared object
 * with the system C compiler, load it into this process (its dlrt_*
 * references resolve to the runtime linked into dlc), delete the files, and
 * hand the trainer flags to the same runtime trainer a standalone binary
 * uses. */
/* The model's data files, decompressed on other threads while the model
 * compiles (dlrt_prefetch), unless the trainer's flags name other data or
 * a mode that reads other sets. */
static void prefetch_data(const Model *m, int targc, char **targv)
{
	static const char *const other[] = {"--train", "--test", "--valid", "--eval", "--eval-valid", "--predict",
	                                    "--sample", "--help", NULL};
	if (any_flag(targc, targv, other))
		return;
	const char *dir = m->data_dir;
	for (int i = 1; i < targc; i++) {
		const char *a = targv[i];
		if (!strcmp(a, "--data") && i + 1 < targc)
			dir = targv[i + 1];
		else if (!strncmp(a, "--data=", 7))
			dir = a + 7;
	}
	const DataSpec *sets[] = {&m->train_data, &m->test_data, &m->valid_data};
	for (int s = 0; s < 3; s++) {
		const DataSpec *d = sets[s];
		if (d->kind != DATA_IDX && d->kind != DATA_CSV && d->kind != DATA_NPY && d->kind != DATA_SPLIT)
			continue;
		for (int i = 0; i < d->nfiles && i < 8; i++) {
			char path[4200];
			const char *f = d->files[i];
			if (!f)
				continue;
			if (f[0] == '/' || !dir || !*dir)
				snprintf(path, sizeof path, "%s", f);
			else
				snprintf(path, sizeof path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", f);
			dlrt_prefetch(path);
		}
	}
}

static int run_in_process(const Schedule *sched, const MemPlan *mp, const char *cc, int cc_jit, int no_jit_cache, const char *cflags,
                          double t_start, int targc, char **targv)
{
	const Model *m = sched->m;
	prefetch_data(m, targc, targv);
#ifdef DLC_HAVE_LLVM
	if (!cc_jit)
		return run_llvm_jit(sched, mp, cflags, no_jit_cache ? NULL : jit_cache_dir(), t_start, targc, targv);
#else
	(void)cc_jit;
	(void)no_jit_cache;
#endif
	char csrc[4200];
	temp_name(csrc, sizeof csrc, "dlc-run");
	int fd = mkstemps(csrc, 2);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		fprintf(stderr, "dlc run: cannot create a temporary file: %s\n", strerror(errno));
		return 1;
	}
	emit_file(f, sched, mp, 0);
	if (fclose(f) != 0) {
		fprintf(stderr, "dlc run: cannot write '%s': %s\n", csrc, strerror(errno));
		remove(csrc);
		return 1;
	}
	char so[sizeof csrc + 2];
	snprintf(so, sizeof so, "%.*s.so", (int)(strlen(csrc) - 2), csrc);
	char incflag[4200];
	snprintf(incflag, sizeof incflag, "-I%s", runtime_include());
	char *argv[64];
	int n = 0;
	char *ccdup = strdup(cc), *user = strdup(cflags ? cflags : "");
	n += split_flags(ccdup, argv + n, 8);
	static char w[] = "-w", shared[] = "-shared", pic[] = "-fPIC", nomain[] = "-DDLC_NO_MAIN", dasho[] = "-o";
	n += opt_flags(argv + n);
	argv[n++] = w;
	argv[n++] = shared;
	argv[n++] = pic;
	argv[n++] = nomain;
	n += split_flags(user, argv + n, 32);
	argv[n++] = incflag;
	argv[n++] = csrc;
	argv[n++] = dasho;
	argv[n++] = so;
	argv[n] = NULL;
	int rc = run_cmd(argv);
	free(ccdup);
	free(user);
	remove(csrc);
	if (rc != 0) {
		fprintf(stderr, "dlc run: the C compiler failed on the generated code (exit status %d)\n", rc);
		remove(so);
		return 1;
	}
	void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
	remove(so);
	if (!h) {
		fprintf(stderr, "dlc run: cannot load the compiled model: %s\n", dlerror());
		return 1;
	}
	char sym[256];
	snprintf(sym, sizeof sym, "%s_model", m->name);
	const dlrt_model *model = (const dlrt_model *)dlsym(h, sym);
	if (!model) {
		fprintf(stderr, "dlc run: the compiled model has no symbol '%s'\n", sym);
		dlclose(h);
		return 1;
	}
#ifdef DLC_HAVE_LLVM
	fprintf(stderr, "dlc run: %s compiled in %.2f s (system C compiler '%s', by request: --cc-jit or --cc)\n",
	        m->source, now_s() - t_start, cc);
#else
	fprintf(stderr, "dlc run: %s compiled in %.2f s (system C compiler '%s'; this dlc has no LLVM JIT)\n",
	        m->source, now_s() - t_start, cc);
#endif
	targv[0] = (char *)m->name;
	rc = run_trainer(model, t_start, targc, targv);
	dlclose(h);
	return rc;
}

int main(int argc, char **argv)
{
	double t_start = now_s();
	int run_mode = argc > 1 && !strcmp(argv[1], "run");
	int targc = 0;
	char **targv = NULL;
	if (run_mode) {
		/* dlc run [dlc options] MODEL.dl [trainer flags]: split at the model */
		int k = 2;
		while (k < argc && !ends_with(argv[k], ".dl"))
			k++;
		if (k == argc) {
			fprintf(stderr, "usage: dlc run [dlc options] MODEL.dl [trainer flags]\n");
			return 2;
		}
		targc = argc - k;
		targv = malloc(sizeof(char *) * (size_t)(targc + 1));
		for (int i = 1; i < targc; i++)
			targv[i] = argv[k + i];
		targv[targc] = NULL;
		argc = k + 1;
		argv++;
		argc--;
	}
	const char *input = NULL, *output = NULL, *emit = NULL, *cc = NULL, *cflags = NULL;
	int check_only = 0, opt = 2, force_dtype = 0, cc_jit = 0, no_jit_cache = 0, cc_named = 0;
	/* -f[no-]PASS: -1 = as the -O level says */
	int f_fold = -1, f_cse = -1, f_fuse = -1, f_inplace = -1, f_memplan = -1, f_check_memory = 0, stats = 0;
	DType dtype = DT_F32;
	/* --probe: keep every forward value and its gradient for the trainer's
	 * --dot (dlc run turns it on when the trainer flags ask for --dot) */
	int probe = 0;
	for (int i = 1; targv && i < targc; i++)
		if (!strcmp(targv[i], "--dot") || !strncmp(targv[i], "--dot=", 6))
			probe = 1;
	DimDefine defs[64];
	static char dnames[64][128];
	int ndefs = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
#define TAKE(flag)                                                                          \
	(!strcmp(a, flag) ? (i + 1 < argc ? (val = argv[++i], 1) : (fprintf(stderr,               \
	  "dlc: %s needs a value\n", flag), exit(2), 0))                                           \
	 : (!strncmp(a, flag "=", strlen(flag) + 1) ? (val = a + strlen(flag) + 1, 1) : 0))
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(a, "--version")) {
#ifdef DLC_HAVE_LLVM
			printf("dlc %s\nbackends: c (ahead-of-time C, built by the system C compiler); run (in-process: the\n"
			       "generated C compiled in memory by clang embedded in dlc, O3 for this CPU; or with --cc-jit the\n"
			       "system C compiler into a shared object, loaded by dlc); llvm JIT: %s, clang frontend\n",
			       DLC_VERSION, jit_llvm_version());
#else
			printf("dlc %s\nbackends: c (ahead-of-time C, built by the system C compiler); run (in-process: the\n"
		       "system C compiler into a shared object, loaded by dlc); llvm JIT: not in this build\n", DLC_VERSION);
#endif
			return 0;
		} else if (!strcmp(a, "--check")) {
			check_only = 1;
		} else if (!strcmp(a, "--cc-jit")) {
			cc_jit = 1; /* dlc run: the system C compiler, not the LLVM JIT */
		} else if (!strcmp(a, "--no-jit-cache")) {
			no_jit_cache = 1;
		} else if (!strcmp(a, "--no-kv-cache")) {
			no_kv_cache = 1;
		} else if (!strcmp(a, "--mpi")) {
#ifndef DLC_HAVE_MPI
			fprintf(stderr, "dlc: --mpi: this dlc was built without MPI (apt-get install openmpi-bin "
			                "libopenmpi-dev, then configure and build again)\n");
			return 2;
#endif
			use_mpi = 1;
		} else if (!strcmp(a, "-O0") || !strcmp(a, "-O1") || !strcmp(a, "-O2") || !strcmp(a, "-O3")) {
			opt = a[2] - '0';
		} else if (!strncmp(a, "-f", 2) && a[2]) {
			const char *f = a + 2;
			int on = strncmp(f, "no-", 3) != 0;
			if (!on)
				f += 3;
			int *flag = !strcmp(f, "fold") ? &f_fold : !strcmp(f, "cse") ? &f_cse : !strcmp(f, "fuse") ? &f_fuse
			            : !strcmp(f, "inplace") ? &f_inplace : !strcmp(f, "memplan") ? &f_memplan
			            : !strcmp(f, "check-memory") ? &f_check_memory : NULL;
			if (!flag) {
				fprintf(stderr, "dlc: unknown option '%s' (passes: fold, cse, fuse, inplace, memplan, "
				        "check-memory)\n", a);
				return 2;
			}
			*flag = on;
		} else if (!strcmp(a, "--stats")) {
			stats = 1;
		} else if (!strcmp(a, "--probe")) {
			probe = 1;
		} else if (TAKE("-o")) {
			output = val;
		} else if (TAKE("--emit")) {
			emit = val;
			if (strcmp(emit, "ast") && strcmp(emit, "graph") && strcmp(emit, "c") && strcmp(emit, "summary") &&
			    strcmp(emit, "kernels") && strcmp(emit, "dot")) {
				fprintf(stderr, "dlc: unknown stage '%s' for --emit (expected ast, graph, kernels, dot, summary "
				        "or c)\n", emit);
				return 2;
			}
		} else if (TAKE("--dtype")) {
			if (strcmp(val, "f32") && strcmp(val, "f64")) {
				fprintf(stderr, "dlc: unknown --dtype '%s' (expected f32 or f64)\n", val);
				return 2;
			}
			dtype = val[2] == '2' ? DT_F32 : DT_F64;
			force_dtype = 1;
		} else if (TAKE("--cc")) {
			cc = val;
			cc_named = 1;
		} else if (TAKE("--cflags")) {
			cflags = val;
		} else if (TAKE("--target")) {
			if (strcmp(val, "native") && strcmp(val, "portable")) {
				fprintf(stderr, "dlc: unknown --target '%s' (expected native or portable)\n", val);
				return 2;
			}
			target_portable = !strcmp(val, "portable");
		} else if (!strncmp(a, "-D", 2)) {
			const char *d = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : NULL);
			const char *eq = d ? strchr(d, '=') : NULL;
			char *end = NULL;
			errno = 0;
			long long v = eq ? strtoll(eq + 1, &end, 10) : 0;
			if (!d || !eq || eq == d || !end || *end || end == eq + 1 || v < 1) {
				fprintf(stderr, "dlc: -D needs NAME=VALUE with a positive integer VALUE, got '%s'\n",
				        d ? d : "");
				return 2;
			}
			if (errno == ERANGE || v > DLC_DIM_MAX) {
				fprintf(stderr, "dlc: -D %s: the value is out of range (a dim is at most 2^40 = %lld)\n", d,
				        (long long)DLC_DIM_MAX);
				return 2;
			}
			if (ndefs == 64) {
				fprintf(stderr, "dlc: too many -D options\n");
				return 2;
			}
			if ((size_t)(eq - d) >= sizeof dnames[0]) {
				fprintf(stderr, "dlc: -D name too long: '%.*s'\n", (int)(eq - d), d);
				return 2;
			}
			memcpy(dnames[ndefs], d, (size_t)(eq - d));
			dnames[ndefs][eq - d] = 0;
			defs[ndefs].name = dnames[ndefs];
			defs[ndefs].value = v;
			defs[ndefs].used = 0;
			ndefs++;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "dlc: unknown option '%s'\n", a);
			usage(stderr);
			return 2;
		} else if (input) {
			fprintf(stderr, "dlc: more than one input file ('%s' and '%s')\n", input, a);
			return 2;
		} else {
			input = a;
		}
#undef TAKE
	}
	if (!input) {
		fprintf(stderr, "dlc: no input file\n");
		usage(stderr);
		return 2;
	}

	size_t len;
	char *src = read_file(input, &len);
	if (!src) {
		free(targv);
		return 1;
	}
	Arena arena = {0};
	Diag diag;
	diag_init(&diag, stderr, input, src);

	AstProgram *prog = parse_program(&arena, &diag, input, src);
	if (emit && !strcmp(emit, "ast")) {
		if (diag.nerrors == 0)
			ast_dump(stdout, prog);
		arena_free(&arena);
		free(src);
		return diag.nerrors ? 1 : 0;
	}
	if (diag.nerrors) {
		arena_free(&arena);
		free(src);
		return 1;
	}

	if (f_fold < 0) f_fold = opt >= 1;
	if (f_cse < 0) f_cse = opt >= 1;
	if (f_fuse < 0) f_fuse = opt >= 1;
	if (f_inplace < 0) f_inplace = opt >= 2;
	if (f_memplan < 0) f_memplan = opt >= 2;
	Model *m = sema_build(&arena, &diag, prog, defs, ndefs, dtype, force_dtype, f_fold, f_cse);
	if (!diag.nerrors && !m->loss)
		diag_error(&diag, (SrcLoc){0, 0, 0}, "the model has no 'loss' statement; dlc needs a loss to train");
	if (diag.nerrors) {
		arena_free(&arena);
		free(src);
		return 1;
	}
	/* relative data paths are relative to the model file's directory */
	if (!m->data_dir || m->data_dir[0] != '/') {
		char *abs = realpath(input, NULL);
		if (abs) {
			char *slash = strrchr(abs, '/');
			*slash = 0;
			const char *base = *abs ? abs : "/";
			m->data_dir = m->data_dir ? arena_printf(&arena, "%s/%s", base, m->data_dir)
			                          : arena_strdup(&arena, base);
			free(abs);
		}
	}
	/* a user environment's C file, relative to the model file's directory */
	if (m->rl.env_file) {
		const char *f = m->rl.env_file;
		char *abs = f[0] == '/' ? realpath(f, NULL) : NULL;
		if (f[0] != '/') {
			char *dir = realpath(input, NULL);
			if (dir) {
				*strrchr(dir, '/') = 0;
				abs = realpath(arena_printf(&arena, "%s/%s", *dir ? dir : "", f), NULL);
				free(dir);
			}
		}
		if (!abs || !file_exists(abs)) {
			diag_error(&diag, m->rl.loc, "cannot open the environment file '%s'%s: %s", f,
			           f[0] == '/' ? "" : " (relative to the model's directory)", strerror(errno ? errno : ENOENT));
			free(abs);
			arena_free(&arena);
			free(src);
			return 1;
		}
		m->rl.env_file = arena_strdup(&arena, abs);
		free(abs);
		for (const char *c = m->rl.env_file; *c; c++)
			if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20 || (c[0] == '?' && c[1] == '?') ||
			    (c[0] == '/' && c[1] == '*')) {
				diag_error(&diag, m->rl.loc, "the environment file's path '%s' holds a quote, a backslash, a "
				           "control character, \"??\" (a trigraph) or \"/*\" (a comment), which its #include "
				           "cannot spell", m->rl.env_file);
				arena_free(&arena);
				free(src);
				return 1;
			}
	}
	Graph *g = m->g;
	uint32_t fwd_nodes = g->nnodes;
	if (probe) /* every value in an array of its own, kept to the end of the step */
		f_fuse = f_inplace = f_memplan = 0;
	StepOptions sopt = {.fuse = f_fuse, .inplace = f_inplace, .memplan = f_memplan,
	                    .check_memory = f_check_memory, .probe = probe};
	int verify = verify_enabled();
	if (verify)
		check_stage(graph_verify(g, NULL, 0, "sema", stderr));
	TrainGraph *step = step_build(&arena, m, &sopt);
	if (verify)
		check_stage(graph_verify(g, NULL, 0, "step", stderr));
	/* dlc run builds the generator only when the run asks for text */
	int want_gen = !probe;
	if (run_mode) {
		want_gen = 0;
		for (int i = 1; targv && i < targc; i++)
			if (!strcmp(targv[i], "--prime") || !strcmp(targv[i], "--sample"))
				want_gen = !probe;
	}
	if (want_gen && (!emit || !strcmp(emit, "c"))) {
		gen_sched = build_generator(&arena, prog, m, defs, ndefs, dtype, force_dtype, f_fold, f_cse, &sopt);
		gen_mp = gen_sched ? memplan_build(&arena, gen_sched) : NULL;
	}
	if (m->rl.rollout) {
		pol_sched = build_policy(&arena, &diag, prog, m, defs, ndefs, dtype, force_dtype, f_fold, f_cse, &sopt);
		if (!pol_sched) {
			arena_free(&arena);
			free(src);
			return 1;
		}
		pol_mp = memplan_build(&arena, pol_sched);
	}
	Schedule *sched = schedule_build(&arena, step);
	MemPlan *mp = memplan_build(&arena, sched);
	if (verify)
		check_stage(memplan_verify(sched, mp, stderr));

	if (stats)
		print_stats(step, input, src, prog, defs, ndefs, dtype, force_dtype);
	if (check_only) {
		arena_free(&arena);
		free(src);
		return 0;
	}
	if (emit && !strcmp(emit, "graph")) {
		printf("# forward graph of %s (%u nodes)\n", m->name, fwd_nodes - 1);
		graph_dump(stdout, g, step->roots, step->nfwd);
		printf("\n# training step: forward, gradients (");
		for (int t = 0, first = 1; t < g->ntensors; t++)
			if (step->grads[t]) {
				printf("%sd_%s = %%%u", first ? "" : ", ", g->tensors[t].name, step->grads[t]);
				first = 0;
			}
		printf("), update\n");
		graph_dump(stdout, g, step->roots, step->nroots);
		arena_free(&arena);
		free(src);
		return 0;
	}
	if (emit && (!strcmp(emit, "kernels") || !strcmp(emit, "dot"))) {
		(emit[0] == 'k' ? emitc_kernels : emitc_dot)(stdout, sched, mp);
		arena_free(&arena);
		free(src);
		return 0;
	}
	if (emit && !strcmp(emit, "summary")) {
		summary_print(stdout, step);
		arena_free(&arena);
		free(src);
		return 0;
	}
	if (emit && !strcmp(emit, "c")) {
		emit_file(stdout, sched, mp, 1);
		arena_free(&arena);
		free(src);
		return fflush(stdout) ? 1 : 0;
	}

	if (run_mode) {
		if (cc)
			cc_jit = 1; /* a C compiler named on the command line: use it */
		else
			cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
		int rc = run_in_process(sched, mp, cc, cc_jit, no_jit_cache, cflags, t_start, targc, targv);
		free(targv);
		arena_free(&arena);
		free(src);
		return rc;
	}
	/* write the C file (or a temporary one, to build an executable) */
	char *default_out = NULL;
	if (!output) {
		const char *base = strrchr(input, '/');
		base = base ? base + 1 : input;
		size_t n = strcspn(base, ".");
		default_out = malloc(n + 3);
		memcpy(default_out, base, n);
		strcpy(default_out + n, ".c");
		output = default_out;
	}
	int rc = 0;
	if (ends_with(output, ".c")) {
		char tmp[4200];
		snprintf(tmp, sizeof tmp, "%s.tmp%ld", output, (long)getpid());
		FILE *f = fopen(tmp, "w");
		if (!f) {
			fprintf(stderr, "dlc: cannot write '%s': %s\n", output, strerror(errno));
			rc = 1;
		} else {
			emit_file(f, sched, mp, 1);
			if (fclose(f) != 0 || rename(tmp, output) != 0) {
				fprintf(stderr, "dlc: cannot write '%s': %s\n", output, strerror(errno));
				remove(tmp);
				rc = 1;
			}
		}
	} else {
		char tmp[4200];
		temp_name(tmp, sizeof tmp, "dlc");
		int fd = mkstemps(tmp, 2);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
		if (!f) {
			fprintf(stderr, "dlc: cannot create a temporary file: %s\n", strerror(errno));
			rc = 1;
		} else {
			emit_file(f, sched, mp, 1);
			if (fclose(f) != 0) {
				fprintf(stderr, "dlc: cannot write '%s': %s\n", tmp, strerror(errno));
				rc = 1;
			} else {
				if (!cc)
					cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
#ifdef DLC_HAVE_MPI
				if (use_mpi && !cc_named)
					cc = DLC_MPICC; /* the C compiler that knows where MPI is */
#else
				(void)cc_named; /* --mpi is refused without MPI */
#endif
				rc = build_executable(tmp, output, cc, cflags);
			}
			remove(tmp);
		}
	}
	free(default_out);
	arena_free(&arena);
	free(src);
	return rc;
}
