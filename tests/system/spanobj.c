// SPDX-License-Identifier: MIT
/*
 * spanobj: the system test's client of sealed objects across restarts
 * (tests/system/check-system.sh, the RESTARTS checks).
 *
 * Usage:
 *   spanobj make NAME      create NAME, OBJ_BYTES patterned bytes, seal
 *                          it and go (the object stays, sealed)
 *   spanobj check NAME     a new connection gets NAME and compares every
 *                          byte: exit 0 if intact, 2 if there is no such
 *                          object, 1 otherwise
 *   spanobj hold NAME MS   get NAME, hold it MS milliseconds (the test
 *                          stops the daemon meanwhile), then say what a
 *                          request on the same connection returns and
 *                          whether the mapping still reads the bytes:
 *                          exit 0 if it does
 * One line per step on stdout.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libclient/spanheap.h"

#define OBJ_BYTES (3 * 4096 + 100)

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

static int fail(const char *what, int r)
{
	printf("spanobj: %s: %s\n", what, strerror(-r));
	return 1;
}

/* The first byte of @o that is not the pattern, or OBJ_BYTES. */
static size_t first_wrong(const struct spanheap_obj *o)
{
	size_t i;

	for (i = 0; i < OBJ_BYTES; i++)
		if (((const unsigned char *)o->ptr)[i] != pattern(i))
			break;
	return i;
}

static int make(struct spanheap *h, const char *name)
{
	struct spanheap_obj o;
	int r = spanheap_obj_create(h, name, OBJ_BYTES, 0, &o);

	if (r < 0)
		return fail("create", r);
	for (size_t i = 0; i < OBJ_BYTES; i++)
		((unsigned char *)o.ptr)[i] = pattern(i);
	r = spanheap_obj_seal(h, &o);
	if (r < 0)
		return fail("seal", r);
	printf("%s: %d bytes sealed\n", name, OBJ_BYTES);
	return 0;
}

static int check(struct spanheap *h, const char *name)
{
	struct spanheap_obj o;
	size_t bad;
	int r = spanheap_obj_get(h, name, 0, &o);

	if (r == -ENOENT) {
		printf("%s: no such object\n", name);
		return 2;
	}
	if (r < 0)
		return fail("get", r);
	if (o.size != OBJ_BYTES) {
		printf("%s: %zu bytes, want %d\n", name, (size_t)o.size,
		       OBJ_BYTES);
		return 1;
	}
	bad = first_wrong(&o);
	if (bad < OBJ_BYTES) {
		printf("%s: byte %zu differs\n", name, bad);
		return 1;
	}
	printf("%s: %d bytes intact\n", name, OBJ_BYTES);
	return spanheap_obj_release(h, &o) < 0 ? 1 : 0;
}

static int hold(struct spanheap *h, const char *name, long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	struct spanheap_obj o, again;
	size_t bad;
	int r = spanheap_obj_get(h, name, 0, &o);

	if (r < 0)
		return fail("get", r);
	printf("%s: holding it\n", name);
	fflush(stdout);
	nanosleep(&ts, NULL);
	r = spanheap_obj_get(h, name, 0, &again);
	printf("a request after the hold: %s\n",
	       r < 0 ? strerror(-r) : "served");
	bad = first_wrong(&o);
	if (bad < OBJ_BYTES) {
		printf("the mapping: byte %zu differs\n", bad);
		return 1;
	}
	printf("the mapping: %d bytes intact\n", OBJ_BYTES);
	return 0;
}

int main(int argc, char **argv)
{
	struct spanheap *h;
	int r;

	if (argc < 3 || (strcmp(argv[1], "hold") ? argc != 3 : argc != 4)) {
		fputs("usage: spanobj make|check NAME | spanobj hold NAME MS\n",
		      stderr);
		return 1;
	}
	r = spanheap_connect(NULL, &h);
	if (r < 0)
		return fail("connect", r);
	if (!strcmp(argv[1], "make"))
		r = make(h, argv[2]);
	else if (!strcmp(argv[1], "check"))
		r = check(h, argv[2]);
	else if (!strcmp(argv[1], "hold"))
		r = hold(h, argv[2], strtol(argv[3], NULL, 10));
	else
		r = fail(argv[1], -EINVAL);
	spanheap_close(h);
	return r;
}
