/* jit.h - the in-process LLVM JIT behind `dlc run` (built only with LLVM).
 *
 * It compiles the C file the C emitter prints, held in memory, with clang
 * embedded in dlc (clang's C++ API, LLVM 14): the clang frontend turns it
 * into an LLVM module, clang's own O3 pipeline optimizes it for the host CPU
 * with the flags an ahead-of-time build uses (-O3 -std=c11
 * -ffp-contract=fast -march=native), and ORC's LLJIT turns it into machine
 * code in this process.  The generated code's references to the runtime
 * (dlrt_*) and to libc and libm resolve against the dlc process itself.  No
 * file is written and no program is run.
 *
 * Every failure (a clang diagnostic, an LLVM verifier error, a symbol the
 * process lacks, an LLVM error) comes back as a message in err naming the
 * kernel or the symbol; none aborts dlc. */
#ifndef DLC_JIT_H
#define DLC_JIT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct DlcJit DlcJit;

/* Seconds spent in each phase of jit_compile and jit_lookup, and what
 * came from the cache. */
typedef struct JitTimes {
	double frontend; /* preprocess, parse, generate LLVM IR, verify */
	double compile;  /* clang's O3 pipeline and code generator, on `threads` threads */
	double link;     /* loading and linking the machine code (first lookup) */
	int threads;
	int objects;     /* object files linked */
	int cached;      /* of which read from the cache (all: no compilation at all) */
	int stored;      /* 1 when this compilation was written to the cache */
	/* tiered compilation: compile is the quick code's; the O3 code was in
	 * place `optimized` seconds after jit_compile began (0: not yet) */
	int tiered;
	int optimizing_threads;
	double optimized;
} JitTimes;

/* "LLVM 14.0.6" */
const char *jit_llvm_version(void);

/* Compile c_source (len bytes; c_name names it in diagnostics, e.g.
 * "mlp.c") with include_dir on the include path (where dlrt.h is) and the
 * compiler flags flags[0..nflags) (e.g. "-O3", "-march=native").  Returns
 * NULL with a message in err on failure.
 *
 * cache_dir (NULL or "": no cache) is a directory for compiled objects,
 * created when missing: a model compiled before with the same C source,
 * flags, headers, CPU and dlc executable is loaded from there without
 * compiling, and the shared helper functions (the micro-kernels ahead of the
 * kernels) are compiled once for every model that uses the same ones.  A
 * damaged entry is compiled again; failures to write are not errors. */
DlcJit *jit_compile(const char *c_source, size_t len, const char *c_name, const char *include_dir,
                    const char *const *flags, int nflags, const char *cache_dir, int tiered, char *err, size_t errlen);

/* tiered 1 (when the cache has no entry for the model): compile the code
 * first without optimisation, which takes a tenth of the time, and return
 * with it; the O3 code is compiled on a background thread and takes over
 * each entry point and kernel at its next call.  Both compute the same bits
 * when the flags have -ffp-contract=on (or off), not fast: fused
 * multiply-adds only within an expression.  tiered 2: the quick code
 * alone, never replaced (to compare the two).
 *
 * Where the O3 code stands: 1 in place (always, without tiers), 0 still
 * compiling, -1 failed (the message in err; the quick code goes on).  With
 * wait, returns once it is in place or has failed. */
int jit_optimized(DlcJit *jit, int wait, char *err, size_t errlen);

/* The address of a symbol the compiled code defines (machine code is
 * generated on the first lookup), or NULL with a message in err. */
void *jit_lookup(DlcJit *jit, const char *symbol, char *err, size_t errlen);

/* What the code was compiled for, e.g. "znver3 +avx512f +fma". */
const char *jit_target(const DlcJit *jit);

void jit_times(const DlcJit *jit, JitTimes *t);

/* Frees the machine code too: nothing it defined may be used afterwards. */
void jit_free(DlcJit *jit);

#ifdef __cplusplus
}
#endif

#endif
