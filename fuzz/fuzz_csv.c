/* fuzz_csv.c - the CSV loader (runtime/data.c) on any bytes.
 *
 * Byte 0 picks the toy model (fuzz_toy.h; bit 6: the file has a header
 * line); the rest is the CSV file, whose columns fill x and then y.  It is
 * loaded as a dataset (inputs and labels) and, again, as inputs only; a
 * dataset that loads is used as the trainer uses it. */
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
	dlrt_data_spec spec;
	memset(&spec, 0, sizeof spec);
	spec.kind = DLRT_DATA_CSV;
	spec.nfiles = 1;
	spec.csv_header = (c >> 6) & 1;
	spec.files[0] = fuzz_file(0, ".csv", data + 1, size - 1);
	dlrt_dataset ds;
	if (dlrt_load_dataset(m, &spec, NULL, &ds) == 0) {
		fuzz_use_dataset(m, c, &ds);
		dlrt_free_dataset(&ds);
	}
	if (dlrt_load_inputs(m, &spec, NULL, &ds) == 0) {
		fuzz_use_dataset(m, c, &ds);
		dlrt_free_dataset(&ds);
	}
	return 0;
}
