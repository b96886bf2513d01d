/* fuzz_ckpt_meta.c - a checkpoint's "__metadata__" (runtime/safetensors.c)
 * on any bytes.
 *
 * Byte 0 picks the toy model (fuzz_toy.h); the rest is the JSON value of
 * "__metadata__" in an otherwise valid checkpoint of that model (its
 * tensors' entries follow the metadata; their data are zeros), which
 * dlrt_load_checkpoint then loads: the epoch, step, seed and vocabulary a
 * run resumes from. */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlrt.h"
#include "fuzz_toy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > (1u << 20))
		return 0;
	unsigned c = data[0];
	dlrt_model m = *fuzz_toy(c);
	static const unsigned char abc[] = "abc";
	if (c & 128) {
		m.vocab = abc;
		m.nvocab = 3;
	}
	/* the header: metadata, then an entry per param and state tensor */
	size_t cap = size + 4096, len = 0;
	char *file = malloc(cap);
	if (!file)
		return 0;
	len = 8;
	memcpy(file + len, "{\"__metadata__\":", 16);
	len += 16;
	memcpy(file + len, data + 1, size - 1);
	len += size - 1;
	uint64_t off = 0;
	for (int k = 0; k < m.ntensors; k++) {
		const dlrt_tensor *t = &m.tensors[k];
		if (t->role != DLRT_PARAM && t->role != DLRT_STATE)
			continue;
		uint64_t bytes = (uint64_t)t->numel * dlrt_dtype_size(t->dtype);
		char shape[64];
		if (t->rank == 1)
			snprintf(shape, sizeof shape, "%lld", (long long)t->shape[0]);
		else
			snprintf(shape, sizeof shape, "%lld,%lld", (long long)t->shape[0], (long long)t->shape[1]);
		len += (size_t)snprintf(file + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],"
		                        "\"data_offsets\":[%llu,%llu]}", t->name, t->dtype == DLRT_F64 ? "F64" : "F32",
		                        shape, (unsigned long long)off, (unsigned long long)(off + bytes));
		off += bytes;
	}
	file[len++] = '}';
	uint64_t hlen = len - 8;
	for (int i = 0; i < 8; i++)
		file[i] = (char)(hlen >> (8 * i));
	if (len + off > cap) {
		char *nf = realloc(file, len + off);
		if (!nf) {
			free(file);
			return 0;
		}
		file = nf;
	}
	memset(file + len, 0, off);
	len += off;
	const char *path = fuzz_file(0, ".safetensors", (const uint8_t *)file, len);
	free(file);
	dlrt_ckpt_meta meta;
	memset(&meta, 0, sizeof meta);
	dlrt_load_checkpoint(&m, path, &meta);
	return 0;
}
