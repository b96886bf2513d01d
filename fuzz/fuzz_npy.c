/* fuzz_npy.c - the NPY loader (runtime/data.c, runtime/npy.c) on any bytes
 * (fuzz_load_files: one file, or an input and a label file), then the
 * generic reader on the first file. */
#include "fuzz.h"

#include <stdlib.h>

#include "dlrt.h"
#include "fuzz_toy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	dlrt_data_spec spec;
	if (!fuzz_load_files(data, size, DLRT_DATA_NPY, ".npy", &spec))
		return 0;
	/* the generic reader (--noise, --predict's inputs) on the first file */
	dlrt_dtype dt;
	int rank;
	int64_t shape[DLRT_MAX_RANK];
	void *arr = NULL;
	if (dlrt_load_npy(spec.files[0], &dt, &rank, shape, &arr) == 0)
		free(arr);
	return 0;
}
