// SPDX-License-Identifier: MIT
/*
 * Replay fuzz inputs without libFuzzer: every regular file in the
 * directories (or the files) named on the command line goes once through
 * LLVMFuzzerTestOneInput(), in name order.  A regression run of the
 * corpus under gcc, and under ASan/UBSan in the sanitizer build; a bug
 * aborts, so the exit status tells.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

/* Inputs larger than this are not what a corpus holds. */
#define FUZZ_MAX_INPUT (1 << 20)

static int run_file(const char *path)
{
	static uint8_t buf[FUZZ_MAX_INPUT];
	size_t n;
	FILE *f;

	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	/* The last of these lines names the input that aborted. */
	fprintf(stderr, "%s: replaying %s\n", program_invocation_short_name,
		path);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

static int visible(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

/* Byte order, whatever the locale. */
static int cmp_names(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Run every regular file in @dir; returns how many, or -1. */
static int run_dir(const char *dir)
{
	struct dirent **names;
	char path[4096];
	int n, ran = 0;

	n = scandir(dir, &names, visible, cmp_names);
	if (n < 0) {
		fprintf(stderr, "%s: %s\n", dir, strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) < 0)
				ran = -1;
			else if (ran >= 0)
				ran++;
		}
		free(names[i]);
	}
	free(names);
	return ran;
}

int main(int argc, char **argv)
{
	int total = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		int r;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		r = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]);
		if (r < 0)
			return 1;
		total += S_ISDIR(st.st_mode) ? r : 1;
	}
	if (total == 0) {
		fprintf(stderr, "%s: no inputs\n", argv[0]);
		return 1;
	}
	fprintf(stderr, "%s: %d inputs passed\n", argv[0], total);
	return 0;
}
