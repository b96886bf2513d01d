/* fuzz_idx.c - the IDX loader (runtime/data.c) on any bytes.
 *
 * Byte 0 picks the toy model (fuzz_toy.h); the rest is the input x's file,
 * or, cut at "--next-file--", x's file and the label y's.  One file is
 * loaded with dlrt_load_inputs, two with dlrt_load_dataset; a dataset that
 * loads is used as the trainer uses it. */
#include "fuzz.h"

#include <string.h>

#include "dlrt.h"
#include "fuzz_toy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned c = data[0];
	const dlrt_model *m = fuzz_toy(c);
	const uint8_t *parts[2];
	size_t sizes[2];
	int n = fuzz_split(data + 1, size - 1, parts, sizes, 2);
	dlrt_data_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.kind = DLRT_DATA_IDX;
	spec.nfiles = n;
	for (int i = 0; i < n; i++)
		spec.files[i] = fuzz_file(i, ".idx", parts[i], sizes[i]);
	dlrt_dataset ds;
	if ((n == 1 ? dlrt_load_inputs : dlrt_load_dataset)(m, &spec, NULL, &ds) == 0) {
		fuzz_use_dataset(m, c, &ds);
		dlrt_free_dataset(&ds);
	}
	return 0;
}
