// SPDX-License-Identifier: MIT
/*
 * spanuse: the system test's client (tests/system/check-system.sh).
 *
 * It drives the three calls the hardened spanheapd.service must still be
 * allowed to make: the daemon created its arena with memfd_create() when
 * it started, hands it over in SCM_RIGHTS when this client connects, and
 * punches freed pages out of it with fallocate() when it scavenges.  The
 * service sets SystemCallErrorNumber=EPERM, so a filtered call does not
 * kill the daemon; it fails, and only what the kernel reports shows it.
 * That is why this client judges by arena_resident, the memfd's own
 * st_blocks: it must grow when the span is touched and shrink again after
 * the span is freed and scavenged.
 *
 * Usage: spanuse PAGES HOLD_MS
 * Allocates a span of PAGES pages, writes every page, holds it HOLD_MS
 * milliseconds (the test reads the unit's STATUS= meanwhile), frees it
 * and asks for a scavenge.  Prints one line per step; exits 0 if every
 * step did what it should, 1 otherwise.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libclient/spanheap.h"

/* arena_resident from the daemon's MemStats JSON; see docs/memstats.md. */
static int resident(struct spanheap *h, uint64_t *ret)
{
	const char *key = "\"arena_resident\":";
	char *json, *p;
	int r = spanheap_stats_json(h, &json);

	if (r < 0)
		return r;
	p = strstr(json, key);
	if (!p) {
		free(json);
		return -EBADMSG;
	}
	*ret = strtoull(p + strlen(key), NULL, 10);
	free(json);
	return 0;
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "spanuse: %s: %s\n", what, strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	uint64_t before, held, after, released;
	struct spanheap_span s;
	struct timespec hold;
	struct spanheap *h;
	size_t npages, len;
	long ms;
	int r;

	if (argc != 3 || (npages = strtoul(argv[1], NULL, 10)) == 0 ||
	    (ms = strtol(argv[2], NULL, 10)) < 0) {
		fputs("usage: spanuse PAGES HOLD_MS\n", stderr);
		return 2;
	}
	/* Lines in order with stderr's, though stdout is a file. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = spanheap_connect_named(NULL, "spanuse", &h);
	if (r < 0)
		return fail("connect", r);
	printf("connected: the arena's memfd came in SCM_RIGHTS, %" PRIu64
	       " bytes mapped\n",
	       spanheap_arena_size(h));
	r = resident(h, &before);
	if (r < 0)
		return fail("stats", r);
	r = spanheap_span_alloc(h, npages, 0, &s);
	if (r < 0)
		return fail("alloc", r);
	len = s.npages * spanheap_page_size(h);
	memset(s.ptr, 0xa5, len);
	r = resident(h, &held);
	if (r < 0)
		return fail("stats", r);
	printf("allocated and wrote %zu bytes: arena_resident %" PRIu64
	       " -> %" PRIu64 "\n",
	       len, before, held);
	if (held < before + len) {
		fprintf(stderr, "spanuse: the written span is not resident\n");
		return 1;
	}
	hold.tv_sec = ms / 1000;
	hold.tv_nsec = (ms % 1000) * 1000000;
	nanosleep(&hold, NULL);
	r = spanheap_span_free(h, s.off);
	if (r < 0)
		return fail("free", r);
	r = spanheap_scavenge(h, &released);
	if (r < 0)
		return fail("scavenge", r);
	r = resident(h, &after);
	if (r < 0)
		return fail("stats", r);
	spanheap_close(h);
	printf("freed and scavenged: released %" PRIu64
	       " bytes, arena_resident %" PRIu64 " -> %" PRIu64 "\n",
	       released, held, after);
	if (after > held - len) {
		fprintf(stderr, "spanuse: the freed span is still resident: "
				"fallocate(PUNCH_HOLE) did not happen\n");
		return 1;
	}
	return 0;
}
