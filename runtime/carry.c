/* carry.c - states kept from batch to batch (see dlrt_internal.h). */
#include <stdlib.h>
#include <string.h>
#include "dlrt_internal.h"

static size_t bytes_of(const dlrt_tensor *t)
{
	return (size_t)t->numel * (t->dtype == DLRT_F64 ? 8 : 4);
}

int dlrt_has_carry(const dlrt_model *m)
{
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].carry_from)
			return 1;
	return 0;
}

void dlrt_carry_advance(const dlrt_model *m)
{
	for (int i = 0; i < m->ntensors; i++) {
		const dlrt_tensor *t = &m->tensors[i];
		if (t->carry_from)
			memcpy(t->data, m->tensors[t->carry_from - 1].data, bytes_of(t));
	}
}

void dlrt_carry_zero(const dlrt_model *m)
{
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].carry_from)
			memset(m->tensors[i].data, 0, bytes_of(&m->tensors[i]));
}

void *dlrt_carry_save(const dlrt_model *m)
{
	size_t total = 0;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].carry_from)
			total += bytes_of(&m->tensors[i]);
	char *p = malloc(total ? total : 1), *at = p;
	if (!p)
		return NULL;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].carry_from) {
			memcpy(at, m->tensors[i].data, bytes_of(&m->tensors[i]));
			at += bytes_of(&m->tensors[i]);
		}
	return p;
}

void dlrt_carry_restore(const dlrt_model *m, void *saved)
{
	char *at = saved;
	if (!saved)
		return;
	for (int i = 0; i < m->ntensors; i++)
		if (m->tensors[i].carry_from) {
			memcpy(m->tensors[i].data, at, bytes_of(&m->tensors[i]));
			at += bytes_of(&m->tensors[i]);
		}
	free(saved);
}
