/* fuzz_checkpoint.c - dlrt_load_checkpoint (runtime/safetensors.c) on any
 * bytes.
 *
 * Byte 0 picks the toy model (fuzz_toy.h: its shapes and dtype, whether it
 * has optimizer state, whether it reads text with the vocabulary "abc");
 * the rest is the safetensors file loaded into it. */
#include "fuzz.h"

#include <string.h>

#include "dlrt.h"
#include "fuzz_toy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned c = data[0];
	dlrt_model m = *fuzz_toy(c);
	static const unsigned char abc[] = "abc";
	if (c & 128) {
		m.vocab = abc;
		m.nvocab = 3;
	}
	const char *path = fuzz_file(0, ".safetensors", data + 1, size - 1);
	dlrt_ckpt_meta meta;
	memset(&meta, 0, sizeof meta);
	dlrt_load_checkpoint(&m, path, &meta);
	return 0;
}
