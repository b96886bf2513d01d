/* predict.c - --predict: run the model over a file of inputs, save outputs.
 *
 * The rows of a dataset that holds the model's inputs only (no labels; see
 * dlrt_load_inputs) go through forward() in batches of m->batch, the last
 * one partial, and every declared output (m->declared_outputs) with a
 * batch axis is collected row by row
 * into one array [rows, ...] written as .npy: the first output to OUT, the
 * others to OUT with ".npy" replaced by ".<name>.npy".  Label buffers are
 * zero-filled, so the loss that forward() computes on the way means nothing
 * and is not reported.  forward() runs in evaluation mode (no dropout,
 * batch-norm running statistics), as for --eval. */
#include "dlrt_internal.h"

#include <stdlib.h>
#include <string.h>

/* OUT for the first output, else OUT's stem + "." + name + ".npy". */
static char *output_path(const char *out, const char *name, int first)
{
	size_t n = strlen(out), stem = n;
	char *p;
	if (first) {
		p = malloc(n + 1);
		if (p)
			strcpy(p, out);
		return p;
	}
	if (n >= 4 && !strcmp(out + n - 4, ".npy"))
		stem = n - 4;
	p = malloc(stem + strlen(name) + 6);
	if (p)
		sprintf(p, "%.*s.%s.npy", (int)stem, out, name);
	return p;
}

/* Write the collected outputs (bufs[i] non-NULL), `rows` examples each, to
 * paths[i] as .npy and say where they went. */
static int save_outputs(const dlrt_model *m, void **bufs, char **paths, int64_t rows, const char *what)
{
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		int64_t shape[DLRT_MAX_RANK];
		if (!bufs[i])
			continue;
		memcpy(shape, t->shape, sizeof shape);
		shape[0] = rows * (t->slots > 1 ? t->slots : 1);
		if (dlrt_save_npy(paths[i], t->dtype, t->rank, shape, bufs[i]))
			return -1;
	}
	printf("%s: %lld rows ->", what, (long long)rows);
	for (int i = 0, k = 0; i < m->ntensors; i++)
		if (paths[i])
			printf("%s %s", k++ ? "," : "", paths[i]);
	printf("\n");
	fflush(stdout);
	return 0;
}

/* --sample ROWS: the data-free outputs (computed from params and random
 * draws alone, such as a decoder run on randn) for ROWS rows, batch after
 * batch of forward() in evaluation mode, each batch with its own random key
 * from the seed; written like --predict's outputs. */
int dlrt_sample(const dlrt_model *m, int64_t rows, const char *out, uint64_t seed)
{
	int nout = 0, rc = 1;
	int64_t B = m->batch > 0 ? m->batch : 1;
	void **bufs = calloc((size_t)(m->ntensors + 1), sizeof *bufs);
	char **paths = calloc((size_t)(m->ntensors + 1), sizeof *paths);
	if (!bufs || !paths)
		goto oom;
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		int64_t bytes;
		if (t->role != DLRT_OUTPUT || !t->data_free || t->batch_axis != 0 || t->rank < 1)
			continue;
		if (dlrt_mul_ok(rows, dlrt_row_elems(t), &bytes) ||
		    dlrt_mul_ok(bytes, (int64_t)dlrt_dtype_size(t->dtype), &bytes)) {
			dlrt_error("output '%s': %lld rows are too many", t->name, (long long)rows);
			goto done;
		}
		paths[i] = output_path(out, t->name, nout == 0);
		bufs[i] = malloc(bytes > 0 ? (size_t)bytes : 1);
		if (!paths[i] || !bufs[i])
			goto oom;
		nout++;
	}
	if (nout == 0) {
		dlrt_error("model %s has no output computed from its params and random draws alone, with a batch "
		           "axis (such as `output samples = sigmoid(dec(randn([B, 20])))`); nothing to sample", m->name);
		goto done;
	}
	for (int64_t start = 0, k = 0; start < rows; start += B, k++) {
		int64_t n = rows - start < B ? rows - start : B;
		if (m->rng_key)
			*m->rng_key = dlrt_step_key(seed, (uint64_t)k);
		dlrt_noise_step(m, k);
		m->forward(n);
		for (int i = 0; i < m->ntensors; i++) {
			const dlrt_tensor *t = &m->tensors[i];
			size_t row = (size_t)dlrt_row_elems(t) * dlrt_dtype_size(t->dtype);
			if (bufs[i])
				memcpy((char *)bufs[i] + (size_t)start * row, t->data, (size_t)n * row);
		}
	}
	if (save_outputs(m, bufs, paths, rows, "sample"))
		goto done;
	rc = 0;
	goto done;
oom:
	dlrt_error("out of memory");
done:
	for (int i = 0; bufs && paths && i < m->ntensors; i++) {
		free(bufs[i]);
		free(paths[i]);
	}
	free(bufs);
	free(paths);
	return rc;
}

int dlrt_predict(const dlrt_model *m, const dlrt_dataset *ds, const char *out)
{
	int nout = 0, rc = 1;
	int64_t B = m->batch, *idx = NULL;
	void **bufs = calloc((size_t)(m->ntensors + 1), sizeof *bufs);
	char **paths = calloc((size_t)(m->ntensors + 1), sizeof *paths);
	if (!bufs || !paths)
		goto oom;
	for (int i = 0, k = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		int64_t bytes;
		if (t->role != DLRT_OUTPUT || (m->declared_outputs > 0 && k++ >= m->declared_outputs))
			continue;
		if (t->batch_axis != 0 || t->rank < 1) {
			fprintf(stderr, "dlrt: note: output '%s' has no batch axis; not written\n", t->name);
			continue;
		}
		if (dlrt_mul_ok(ds->rows, dlrt_row_elems(t), &bytes) ||
		    dlrt_mul_ok(bytes, (int64_t)dlrt_dtype_size(t->dtype), &bytes)) {
			dlrt_error("output '%s': %lld rows are too many", t->name, (long long)ds->rows);
			goto done;
		}
		paths[i] = output_path(out, t->name, nout == 0);
		bufs[i] = malloc(bytes > 0 ? (size_t)bytes : 1);
		if (!paths[i] || !bufs[i])
			goto oom;
		nout++;
	}
	if (nout == 0) {
		dlrt_error("model %s has no outputs with a batch axis to predict", m->name);
		goto done;
	}
	idx = malloc((size_t)B * sizeof *idx);
	if (!idx)
		goto oom;
	for (int64_t start = 0; start < ds->rows; start += B) {
		int64_t n = ds->rows - start < B ? ds->rows - start : B;
		for (int64_t r = 0; r < n; r++)
			idx[r] = start + r;
		dlrt_gather_batch(m, ds, idx, n);
		m->forward(n);
		for (int i = 0; i < m->ntensors; i++) {
			const dlrt_tensor *t = &m->tensors[i];
			size_t row = (size_t)dlrt_row_elems(t) * dlrt_dtype_size(t->dtype);
			if (bufs[i])
				memcpy((char *)bufs[i] + (size_t)start * row, t->data, (size_t)n * row);
		}
	}
	if (save_outputs(m, bufs, paths, ds->rows, "predict"))
		goto done;
	rc = 0;
	goto done;
oom:
	dlrt_error("out of memory");
done:
	for (int i = 0; bufs && paths && i < m->ntensors; i++) {
		free(bufs[i]);
		free(paths[i]);
	}
	free(bufs);
	free(paths);
	free(idx);
	return rc;
}
