// SPDX-License-Identifier: MIT
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/daemon/capture.h"

static char path[] = "/tmp/spanheap-capture.XXXXXX";
static char *text;
static int saved = -1;

void capture_begin(void)
{
	int fd;

	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
}

const char *capture_end(void)
{
	struct stat st;
	ssize_t n;
	int fd;

	fflush(stderr);
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	saved = -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	free(text);
	text = malloc((size_t)st.st_size + 1);
	ck_assert_ptr_nonnull(text);
	n = read(fd, text, (size_t)st.st_size);
	ck_assert_int_eq(n, st.st_size);
	text[n] = '\0';
	close(fd);
	unlink(path);
	return text;
}
