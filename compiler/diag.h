/* diag.h - the user-facing error channel, and the internal-error channel.
 *
 * User mistakes (bad syntax, unknown names, shape mismatches) go through
 * diag_error(): "file:line:col: error: message", then the source line and a
 * caret under the column.  Errors are counted, never fatal, so one run reports
 * several.  Internal bugs go through DLC_INTERNAL(), which names the
 * compiler's own file and line and aborts. */
#ifndef DLC_DIAG_H
#define DLC_DIAG_H

#include <stdio.h>

typedef struct SrcLoc {
	int line; /* 1-based; 0 means "no location" */
	int col;  /* 1-based */
	int file; /* 0: the program; 1: the prelude (the standard layers) */
} SrcLoc;

typedef struct Diag {
	FILE *out;          /* where messages go (stderr, or a test's buffer) */
	const char *file;   /* file name as the user gave it */
	const char *src;    /* whole source text, for quoting lines; may be NULL */
	const char *prelude_file, *prelude_src; /* the same for locations in the prelude */
	int nerrors;
	int max_errors;     /* stop printing after this many (0 = 20) */
	/* the last error printed: the same message again on the same line (one
	 * mistake met by several calls on a line of the prelude) is not repeated */
	char last[256];
	int last_line, last_file;
	/* the last note printed since that error: the same note again at the
	 * same place (a recursive call, note after note) is not repeated */
	char last_note[256];
	SrcLoc last_note_loc;
} Diag;

void diag_init(Diag *d, FILE *out, const char *file, const char *src);
void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "file:line:col: warning: ...": reported like an error, not counted as
 * one (the program still compiles). */
void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A "note:" attached to the previous error (e.g. "did you mean 'W1'?"). */
void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Closest candidate to `name` by edit distance, or NULL if none is close. */
const char *diag_closest(const char *name, const char *const *cands, int ncands);

_Noreturn void dlc_internal_error(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define DLC_INTERNAL(...) dlc_internal_error(__FILE__, __LINE__, __VA_ARGS__)

#endif
