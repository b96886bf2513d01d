/* fuzz.h - what the libFuzzer harnesses of fuzz/ share.
 *
 * Each harness defines LLVMFuzzerTestOneInput.  Built with
 * -DDLC_FUZZ=ON (clang) it links libFuzzer's main; otherwise
 * fuzz/replay_main.c supplies a main() that runs the files and
 * directories named on its command line through it once each (the
 * corpus replay that every build's tests run). */
#ifndef DLC_FUZZ_H
#define DLC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The bytes as the contents of file `slot` (0..7) of this process, in a
 * directory of its own that is removed at exit; returns its path, which
 * ends in `suffix`.  Aborts when the file cannot be written (that is the
 * machine's fault, not the input's). */
const char *fuzz_file(int slot, const char *suffix, const uint8_t *data, size_t size);

/* The directory the files of fuzz_file live in. */
const char *fuzz_dir(void);

/* Cut data at each "--next-file--" into at most max parts: parts[i] and
 * sizes[i]; returns how many.  Lets one input hold several files (the
 * input's and the label's file of a dataset). */
#define FUZZ_SEPARATOR "--next-file--"
int fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *sizes, int max);

#endif
