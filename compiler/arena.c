/* arena.c - the compilation's allocation pool.
 *
 * An Arena is a list of large blocks (64 KiB, or bigger for a single big
 * request).  Allocation bumps an offset in the newest block; nothing is freed
 * until arena_free() releases every block at once.  Blocks come from calloc,
 * so every allocation is already zeroed.  Running out of memory is not
 * something the compiler can recover from: it says so and exits. */
#include "arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_SIZE ((size_t)64 * 1024)
#define ARENA_ALIGN ((size_t)16)

struct ArenaBlock {
	ArenaBlock *next;
	size_t used; /* bytes of data[] handed out, including alignment padding */
	size_t cap;  /* bytes in data[] */
	unsigned char data[];
};

static _Noreturn void out_of_memory(void)
{
	fprintf(stderr, "dlc: out of memory\n");
	exit(1);
}

/* Offset in b->data where the next 16-byte aligned allocation would start. */
static size_t aligned_offset(const ArenaBlock *b)
{
	uintptr_t at = (uintptr_t)(b->data + b->used);
	uintptr_t pad = (ARENA_ALIGN - at % ARENA_ALIGN) % ARENA_ALIGN;
	return b->used + (size_t)pad;
}

void *arena_alloc(Arena *a, size_t size)
{
	if (size == 0)
		size = 1;
	ArenaBlock *b = a->head;
	if (b) {
		size_t off = aligned_offset(b);
		if (off <= b->cap && size <= b->cap - off) {
			b->used = off + size;
			return b->data + off;
		}
	}
	/* A fresh block: room for the request plus worst-case alignment. */
	if (size > SIZE_MAX - sizeof(ArenaBlock) - ARENA_ALIGN)
		out_of_memory();
	size_t cap = size + ARENA_ALIGN;
	if (cap < ARENA_BLOCK_SIZE)
		cap = ARENA_BLOCK_SIZE;
	b = calloc(1, sizeof(ArenaBlock) + cap);
	if (!b)
		out_of_memory();
	b->cap = cap;
	b->next = a->head;
	a->head = b;
	size_t off = aligned_offset(b);
	b->used = off + size;
	return b->data + off;
}

char *arena_strndup(Arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *arena_strdup(Arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

char *arena_printf(Arena *a, const char *fmt, ...)
{
	va_list ap, ap2;
	va_start(ap, fmt);
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		va_end(ap2);
		return arena_strdup(a, "");
	}
	char *p = arena_alloc(a, (size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	return p;
}

void *arena_grow(Arena *a, void *old, size_t oldcount, size_t newcount, size_t itemsize)
{
	if (itemsize != 0 && newcount > SIZE_MAX / itemsize)
		out_of_memory();
	void *p = arena_alloc(a, newcount * itemsize);
	if (old && oldcount > 0)
		memcpy(p, old, (oldcount < newcount ? oldcount : newcount) * itemsize);
	return p;
}

void arena_free(Arena *a)
{
	ArenaBlock *b = a->head;
	while (b) {
		ArenaBlock *next = b->next;
		free(b);
		b = next;
	}
	a->head = NULL;
}
