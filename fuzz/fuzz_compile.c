/* fuzz_compile.c - the compiler's front end through emission, on any bytes.
 *
 * The input is a .dl program.  It goes the way `dlc -o model.c` takes it
 * (compiler/driver.c's main): parse, sema (the forward graph), the training
 * step (autodiff and the optimizer), schedule, memory plan and the C
 * emitter, and what --emit prints of each stage (ast, graph, kernels, dot,
 * summary), all writing to /dev/null, with the stage verifier
 * (compiler/verify.h) after each stage.  A user mistake is an
 * error message and the end of that input; a crash, a sanitizer report, an
 * internal error (abort) or a broken invariant is a finding.
 *
 * The input's size picks the optimisation level, so that the corpus covers
 * all of them: size % 4 == 0: -O2; 1: -O0; 2: -O1; 3: -O2 --probe.  With
 * DLC_FUZZ_VERBOSE set in the environment the error messages go to stderr
 * and the C to stdout (to see what an input does). */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "ast.h"
#include "diag.h"
#include "emit_c.h"
#include "memplan.h"
#include "schedule.h"
#include "sema.h"
#include "step.h"
#include "summary.h"
#include "verify.h"

static FILE *devnull, *diag_out, *c_out;

static void check(int problems, const char *stage)
{
	if (problems) {
		fprintf(stderr, "fuzz_compile: %d broken invariant%s after %s\n", problems, problems == 1 ? "" : "s",
		        stage);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!devnull) {
		if (!(devnull = fopen("/dev/null", "w")))
			abort();
		int verbose = getenv("DLC_FUZZ_VERBOSE") && *getenv("DLC_FUZZ_VERBOSE");
		diag_out = verbose ? stderr : devnull;
		c_out = verbose ? stdout : devnull;
	}
	char *src = malloc(size + 1);
	if (!src)
		return 0;
	memcpy(src, data, size);
	src[size] = 0;

	int level = (int)(size % 4), opt = level == 1 ? 0 : level == 2 ? 1 : 2, probe = level == 3;
	StepOptions sopt = {.fuse = opt >= 1, .inplace = opt >= 2, .memplan = opt >= 2, .probe = probe};
	if (probe)
		sopt.fuse = sopt.inplace = sopt.memplan = 0;

	Arena arena = {0};
	Diag diag;
	const char *file = "fuzz.dl";
	diag_init(&diag, diag_out, file, src);
	AstProgram *prog = parse_program(&arena, &diag, file, src);
	if (diag.nerrors)
		goto done;
	ast_dump(devnull, prog);
	Model *m = sema_build(&arena, &diag, prog, NULL, 0, DT_F32, 0, opt >= 1, opt >= 1);
	if (diag.nerrors || !m->loss)
		goto done;
	check(graph_verify(m->g, NULL, 0, "sema", stderr), "sema");
	TrainGraph *step = step_build(&arena, m, &sopt);
	check(graph_verify(m->g, NULL, 0, "step", stderr), "step");
	Schedule *sched = schedule_build(&arena, step);
	MemPlan *mp = memplan_build(&arena, sched);
	check(memplan_verify(sched, mp, stderr), "memplan");
	graph_dump(devnull, m->g, step->roots, step->nroots);
	emitc_kernels(devnull, sched, mp);
	emitc_dot(devnull, sched, mp);
	summary_print(devnull, step);
	emitc_model(c_out, sched, mp, 1);
	fflush(c_out);
done:
	arena_free(&arena);
	free(src);
	return 0;
}
