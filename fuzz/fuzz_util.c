/* fuzz_util.c - scratch files for the harnesses (fuzz.h). */
#define _GNU_SOURCE
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];
static char paths[8][320];

static void remove_dir(void)
{
	for (int i = 0; i < 8; i++)
		if (paths[i][0])
			unlink(paths[i]);
	if (dir[0])
		rmdir(dir);
}

const char *fuzz_dir(void)
{
	if (!dir[0]) {
		const char *tmp = getenv("TMPDIR");
		snprintf(dir, sizeof dir, "%s/dlc-fuzz-XXXXXX", tmp && *tmp && strlen(tmp) < 200 ? tmp : "/tmp");
		if (!mkdtemp(dir)) {
			perror("fuzz: mkdtemp");
			abort();
		}
		atexit(remove_dir);
	}
	return dir;
}

const char *fuzz_file(int slot, const char *suffix, const uint8_t *data, size_t size)
{
	if (slot < 0 || slot >= 8 || strlen(suffix) > 16)
		abort();
	if (paths[slot][0])
		unlink(paths[slot]);
	snprintf(paths[slot], sizeof paths[slot], "%s/f%d%s", fuzz_dir(), slot, suffix);
	FILE *f = fopen(paths[slot], "wb");
	if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
		perror(paths[slot]);
		abort();
	}
	return paths[slot];
}

int fuzz_split(const uint8_t *data, size_t size, const uint8_t **parts, size_t *sizes, int max)
{
	const size_t sl = sizeof FUZZ_SEPARATOR - 1;
	int n = 0;
	while (n < max - 1) {
		const uint8_t *p = size >= sl ? memmem(data, size, FUZZ_SEPARATOR, sl) : NULL;
		if (!p)
			break;
		parts[n] = data;
		sizes[n++] = (size_t)(p - data);
		size -= (size_t)(p - data) + sl;
		data = p + sl;
	}
	parts[n] = data;
	sizes[n++] = size;
	return n;
}
