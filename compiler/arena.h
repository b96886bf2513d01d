/* arena.h - one allocation pool per compilation, freed in a single call.
 *
 * The compiler never frees individual AST nodes, graph nodes or strings:
 * everything it builds lives until the compilation ends, so it all comes
 * from an Arena and goes away with arena_free(). */
#ifndef DLC_ARENA_H
#define DLC_ARENA_H

#include <stddef.h>

typedef struct ArenaBlock ArenaBlock;
typedef struct Arena {
	ArenaBlock *head;
} Arena;

void *arena_alloc(Arena *a, size_t size);             /* zeroed, 16-byte aligned */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
char *arena_printf(Arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Grow an array held in the arena: returns a copy with room for newcap items. */
void *arena_grow(Arena *a, void *old, size_t oldcount, size_t newcount, size_t itemsize);
void arena_free(Arena *a);

#endif
