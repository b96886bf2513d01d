/* noise.c - random tensors fed from files: --noise NAME=FILE.npy.
 *
 * A model's random tensors (randn, rand, bernoulli) draw from the step's
 * random key.  To compare a run with another framework on the same draws,
 * the trainer can take them from .npy files instead: a file holds either
 * one draw, of the tensor's shape (used at every step), or one draw per
 * step, of shape [S, ...] (step k uses draw k mod S).  Values are converted
 * to the model's element type once, when the file is loaded. */
#include "dlrt_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fed {
	void *data;       /* S draws, in the model's element type */
	int64_t draws;
} fed;

static fed feds[64];

static const char *shape_text(char *buf, size_t n, int rank, const int64_t *shape)
{
	size_t k = (size_t)snprintf(buf, n, "[");
	for (int i = 0; i < rank && k < n; i++)
		k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)shape[i]);
	if (k < n)
		snprintf(buf + k, n - k, "]");
	return buf;
}

int dlrt_noise_load(const dlrt_model *m, const char *spec)
{
	const char *eq = strchr(spec, '=');
	if (!eq || eq == spec || !eq[1]) {
		fprintf(stderr, "dlrt: --noise %s: expected NAME=FILE.npy\n", spec);
		return -1;
	}
	size_t nlen = (size_t)(eq - spec);
	const char *path = eq + 1;
	int k = -1;
	for (int i = 0; i < m->nnoise; i++)
		if (strlen(m->noise[i].name) == nlen && !strncmp(m->noise[i].name, spec, nlen))
			k = i;
	if (k < 0 || k >= 64) {
		fprintf(stderr, "dlrt: --noise %.*s: the model has no random tensor of that name", (int)nlen, spec);
		for (int i = 0; i < m->nnoise; i++)
			fprintf(stderr, "%s%s", i ? ", " : "; it has ", m->noise[i].name);
		fprintf(stderr, "%s\n", m->nnoise ? "" : "; it draws no random numbers");
		return -1;
	}
	const dlrt_noise *z = &m->noise[k];
	dlrt_dtype dt;
	int rank;
	int64_t shape[DLRT_MAX_RANK];
	void *raw;
	if (dlrt_load_npy(path, &dt, &rank, shape, &raw))
		return -1;
	int64_t draws = 0;
	if (rank == z->rank && !memcmp(shape, z->shape, sizeof(int64_t) * (size_t)rank))
		draws = 1;
	else if (rank == z->rank + 1 && shape[0] > 0 && !memcmp(shape + 1, z->shape, sizeof(int64_t) * (size_t)z->rank))
		draws = shape[0];
	if (!draws || (dt != DLRT_F32 && dt != DLRT_F64)) {
		char a[160], b[160];
		fprintf(stderr, "dlrt: %s: holds %s %s; random tensor '%s' needs f32 or f64 values of shape %s "
		        "(one draw) or [S, ...] (one draw per step)\n", path, dt == DLRT_F64 ? "f64" : dt == DLRT_F32 ? "f32"
		        : "integers of shape", shape_text(a, sizeof a, rank, shape), z->name,
		        shape_text(b, sizeof b, z->rank, z->shape));
		free(raw);
		return -1;
	}
	int64_t count = draws * z->numel;
	void *data = malloc((size_t)count * dlrt_dtype_size(m->dtype));
	if (!data) {
		free(raw);
		fprintf(stderr, "dlrt: %s: out of memory\n", path);
		return -1;
	}
	for (int64_t i = 0; i < count; i++)
		dlrt_set(data, m->dtype, i, dlrt_get(raw, dt, i));
	free(raw);
	free(feds[k].data);
	feds[k].data = data;
	feds[k].draws = draws;
	return 0;
}

void dlrt_noise_step(const dlrt_model *m, int64_t step)
{
	for (int k = 0; k < m->nnoise && k < 64; k++)
		if (feds[k].data)
			m->noise[k].src = (const char *)feds[k].data +
			                  (size_t)((step % feds[k].draws) * m->noise[k].numel) * dlrt_dtype_size(m->dtype);
}
