/* fuzz_toy.h - the loader harnesses' model: tests/runtime/toy_model.c's
 * linear layer, its variant picked by the input's first byte:
 *   bits 0-1  features F = 1..4 (x is [B, F])
 *   bits 2-3  outputs K = 1..4 (a classifier's classes)
 *   bit 4     f64 (else f32)
 *   bit 5     classifier: i32 labels [B] in [0, K) (else float labels [B, K])
 *   bit 6     CSV: a header line; data: standardise the inputs;
 *             checkpoints: no optimizer state
 *   bit 7     u8 inputs scaled by 1/255; checkpoints: a vocabulary "abc"
 * B is 4. */
#ifndef DLC_FUZZ_TOY_H
#define DLC_FUZZ_TOY_H

#include "toy_model.h"

static inline const dlrt_model *fuzz_toy(unsigned c)
{
	toy_config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.features = 1 + (int)(c & 3);
	cfg.outputs = 1 + (int)((c >> 2) & 3);
	cfg.batch = 4;
	cfg.dtype = c & 16 ? DLRT_F64 : DLRT_F32;
	cfg.classifier = (c >> 5) & 1;
	cfg.no_state = (c >> 6) & 1;
	cfg.input_scale = c & 128 ? 1.0 / 255 : 0;
	return toy_build(&cfg);
}

/* What the trainer does with a dataset it loaded: standardise (bit 6),
 * gather the first and the last rows into the model's buffers, hold a
 * quarter of the rows out. */
static inline void fuzz_use_dataset(const dlrt_model *m, unsigned c, dlrt_dataset *ds)
{
	if (c & 64)
		dlrt_standardize(m, ds, NULL, 0);
	int64_t idx[4], n = 0;
	for (int64_t r = 0; r < ds->rows && r < 2; r++)
		idx[n++] = r;
	for (int64_t r = ds->rows - 2; r >= 2 && r < ds->rows; r++)
		idx[n++] = r;
	if (n)
		dlrt_gather_batch(m, ds, idx, n);
	dlrt_dataset held;
	memset(&held, 0, sizeof held);
	if (ds->rows >= 2 && dlrt_split_dataset(ds, 0.25, 1, 2, "test", &held) == 0)
		dlrt_free_dataset(&held);
}

/* The IDX and NPY harnesses: byte 0 picks the toy model; the rest is the
 * input x's file, or, cut at "--next-file--", x's file and the label y's.
 * One file is loaded with dlrt_load_inputs, two with dlrt_load_dataset; a
 * dataset that loads is used as the trainer uses it.  The files' spec goes
 * to *spec; 0 without input. */
static inline int fuzz_load_files(const uint8_t *data, size_t size, dlrt_data_kind kind, const char *suffix,
                                  dlrt_data_spec *spec)
{
	if (size < 1)
		return 0;
	unsigned c = data[0];
	const dlrt_model *m = fuzz_toy(c);
	const uint8_t *parts[2];
	size_t sizes[2];
	int n = fuzz_split(data + 1, size - 1, parts, sizes, 2);
	memset(spec, 0, sizeof *spec);
	spec->kind = kind;
	spec->nfiles = n;
	for (int i = 0; i < n; i++)
		spec->files[i] = fuzz_file(i, suffix, parts[i], sizes[i]);
	dlrt_dataset ds;
	if ((n == 1 ? dlrt_load_inputs : dlrt_load_dataset)(m, spec, NULL, &ds) == 0) {
		fuzz_use_dataset(m, c, &ds);
		dlrt_free_dataset(&ds);
	}
	return 1;
}

#endif