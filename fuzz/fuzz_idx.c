/* fuzz_idx.c - the IDX loader (runtime/data.c) on any bytes (fuzz_load_files:
 * one file, or an input and a label file). */
#include "fuzz.h"

#include "dlrt.h"
#include "fuzz_toy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dlrt_data_spec spec;
	fuzz_load_files(data, size, DLRT_DATA_IDX, ".idx", &spec);
	return 0;
}
