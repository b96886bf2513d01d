/* diag.c - error messages for the user, and the internal-error abort.
 *
 * An error looks like this:
 *
 *     model.dl:3:9: error: unknown name 'W3'
 *         3 | h = x @ W3
 *           |         ^
 *
 * The source line is quoted with its number right-aligned in five columns,
 * and the caret line copies the tabs of the quoted line so the caret sits
 * under the right character.  Columns count characters, not bytes: UTF-8
 * continuation bytes do not start a new column (the scanner counts the same
 * way).  Errors are counted; after max_errors of them one "too many errors"
 * line is printed and everything after it is dropped.  A note that repeats
 * the one before it at the same place (each level of a recursive call says
 * "in this call to 'f'") is printed once. */
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DIAG_DEFAULT_MAX_ERRORS 20

void diag_init(Diag *d, FILE *out, const char *file, const char *src)
{
	d->out = out;
	d->file = file ? file : "<input>";
	d->src = src;
	d->nerrors = 0;
	d->max_errors = DIAG_DEFAULT_MAX_ERRORS;
	d->last[0] = 0;
	d->last_line = d->last_file = 0;
	d->last_note[0] = 0;
}

static int max_errors(const Diag *d)
{
	return d->max_errors > 0 ? d->max_errors : DIAG_DEFAULT_MAX_ERRORS;
}

static int is_continuation_byte(char c)
{
	return ((unsigned char)c & 0xC0) == 0x80;
}

/* Print line `loc.line` of the source and a caret under column `loc.col`. */
static void quote_source(const Diag *d, SrcLoc loc)
{
	const char *s = loc.file ? d->prelude_src : d->src;
	for (int line = 1; line < loc.line; line++) {
		s = strchr(s, '\n');
		if (!s)
			return; /* no such line */
		s++;
	}
	size_t len = strcspn(s, "\n");
	if (len > 0 && s[len - 1] == '\r')
		len--;

	char num[16];
	int width = snprintf(num, sizeof num, "%d", loc.line);
	if (width < 5)
		width = 5;
	fprintf(d->out, "%*d | %.*s\n", width, loc.line, (int)len, s);
	fprintf(d->out, "%*s | ", width, "");
	int col = 1;
	for (size_t i = 0; i < len && col < loc.col; i++) {
		if (is_continuation_byte(s[i]))
			continue;
		fputc(s[i] == '\t' ? '\t' : ' ', d->out);
		col++;
	}
	for (; col < loc.col; col++)
		fputc(' ', d->out);
	fputs("^\n", d->out);
}

static void report(Diag *d, SrcLoc loc, const char *kind, const char *fmt, va_list ap)
{
	const char *file = loc.file && d->prelude_file ? d->prelude_file : d->file;
	if (loc.line > 0)
		fprintf(d->out, "%s:%d:%d: %s: ", file, loc.line, loc.col, kind);
	else
		fprintf(d->out, "%s: %s: ", file, kind);
	vfprintf(d->out, fmt, ap);
	fputc('\n', d->out);
	if (loc.line > 0 && (loc.file ? d->prelude_src : d->src))
		quote_source(d, loc);
}

void diag_error(Diag *d, SrcLoc loc, const char *fmt, ...)
{
	d->nerrors++;
	if (d->nerrors > max_errors(d)) {
		if (d->nerrors == max_errors(d) + 1)
			fprintf(d->out, "%s: error: too many errors, stopping\n", d->file);
		return;
	}
	char msg[sizeof d->last];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (loc.file && loc.line > 0 && loc.line == d->last_line && loc.file == d->last_file && !strcmp(msg, d->last))
		return;
	memcpy(d->last, msg, sizeof msg);
	d->last_line = loc.line;
	d->last_file = loc.file;
	d->last_note[0] = 0;
	va_start(ap, fmt);
	report(d, loc, "error", fmt, ap);
	va_end(ap);
}

void diag_warning(Diag *d, SrcLoc loc, const char *fmt, ...)
{
	if (d->nerrors > max_errors(d))
		return;
	va_list ap;
	va_start(ap, fmt);
	report(d, loc, "warning", fmt, ap);
	va_end(ap);
}

void diag_note(Diag *d, SrcLoc loc, const char *fmt, ...)
{
	if (d->nerrors > max_errors(d))
		return;
	char msg[sizeof d->last_note];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (!strcmp(msg, d->last_note) && loc.line == d->last_note_loc.line && loc.col == d->last_note_loc.col &&
	    loc.file == d->last_note_loc.file)
		return;
	memcpy(d->last_note, msg, sizeof msg);
	d->last_note_loc = loc;
	va_start(ap, fmt);
	report(d, loc, "note", fmt, ap);
	va_end(ap);
}

static size_t min3(size_t a, size_t b, size_t c)
{
	size_t m = a < b ? a : b;
	return m < c ? m : c;
}

/* Edit distance counting insertions, deletions, substitutions and swaps of
 * two neighbouring characters (the "optimal string alignment" variant of
 * Damerau-Levenshtein).  Three rolling rows of the usual table. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b);
	size_t *rows = malloc(3 * (m + 1) * sizeof *rows);
	if (!rows) {
		fprintf(stderr, "dlc: out of memory\n");
		exit(1);
	}
	size_t *prev2 = rows, *prev = rows + (m + 1), *cur = rows + 2 * (m + 1);
	for (size_t j = 0; j <= m; j++)
		prev[j] = j;
	for (size_t i = 1; i <= n; i++) {
		cur[0] = i;
		for (size_t j = 1; j <= m; j++) {
			size_t cost = a[i - 1] != b[j - 1];
			cur[j] = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]
			    && prev2[j - 2] + 1 < cur[j])
				cur[j] = prev2[j - 2] + 1;
		}
		size_t *t = prev2;
		prev2 = prev;
		prev = cur;
		cur = t;
	}
	size_t dist = prev[m];
	free(rows);
	return dist;
}

const char *diag_closest(const char *name, const char *const *cands, int ncands)
{
	size_t len = strlen(name);
	size_t limit = len / 3 > 1 ? len / 3 : 1;
	const char *best = NULL;
	size_t best_dist = limit + 1;
	for (int i = 0; i < ncands; i++) {
		const char *c = cands[i];
		if (!c || strcmp(c, name) == 0)
			continue;
		size_t clen = strlen(c);
		if ((clen > len ? clen - len : len - clen) > limit)
			continue; /* the length difference alone is too far */
		if (strcasecmp(c, name) == 0)
			return c; /* differs only in case */
		size_t dist = edit_distance(name, c);
		if (dist >= len)
			continue; /* nothing in common with a short name */
		if (dist < best_dist) {
			best = c;
			best_dist = dist;
		}
	}
	return best;
}

/* Name the compiler's source file by its last two components
 * ("compiler/sema.c"), whatever path the build used. */
static const char *short_path(const char *path)
{
	const char *p = strrchr(path, '/');
	if (!p)
		return path;
	while (p > path && p[-1] != '/')
		p--;
	return p;
}

_Noreturn void dlc_internal_error(const char *file, int line, const char *fmt, ...)
{
	fflush(stdout);
	fprintf(stderr, "dlc: internal error at %s:%d: ", short_path(file), line);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}
