// SPDX-License-Identifier: MIT
/*
 * The seeds of fuzz_recover (seeds.c says how they are made),
 * tests/fuzz/corpus/recover/: workloads over the small heap, then either
 * journal bytes over the heap they leave (mode 0) or a kill point in one
 * more call (mode 1).  See tests/fuzz/fuzz_recover.c for the format.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tests/fuzz/seeds.h"

/* The target's calls (tests/fuzz/fuzz_recover.c). */
enum {
	R_ALLOC, R_FREE, R_MAG_ALLOC, R_MAG_MOVE, R_SCAVENGE, R_OWNER,
	R_CREATE, R_OBJ, R_OWNER_GONE, R_EVICT
};

/* A workload that leaves spans, free holes, objects and references. */
static const unsigned char work[][2] = {
	{ R_ALLOC, 6 },	    { R_ALLOC, 41 },	 { R_ALLOC, 3 },
	{ R_MAG_ALLOC, 5 }, { R_FREE, 1 },	 { R_CREATE, 0 },
	{ R_CREATE, 35 },   { R_OBJ, 0 },	 { R_OBJ, 9 },
	{ R_MAG_MOVE, 3 },  { R_SCAVENGE, 3 },	 { R_OWNER, 0 },
	{ R_ALLOC, 200 },   { R_FREE, 0 },
};
#define NWORK (sizeof(work) / sizeof(work[0]))

/*
 * Then the evictable objects c (of a) and d (of b), sealed and released
 * by their creators: candidates for eviction, c the older.
 */
static const unsigned char evictable[][2] = {
	{ R_CREATE, 4 }, { R_CREATE, 7 }, { R_OBJ, 4 },
	{ R_OBJ, 7 },	 { R_OBJ, 20 },	  { R_OBJ, 23 },
};
#define NEVICTABLE (sizeof(evictable) / sizeof(evictable[0]))

static void start(struct seed *s, unsigned int mode, unsigned int nwork)
{
	unsigned char b[2] = { (unsigned char)mode, (unsigned char)nwork };

	s->len = 0;
	put(s, b, 2);
	put(s, work, 2 * nwork);
}

void seeds_recover(void)
{
	static const struct {
		const char *name;
		unsigned char kind, arg;
	} kills[] = {
		{ "kill-alloc", R_ALLOC, 10 },
		{ "kill-alloc-grow", R_ALLOC, 250 },
		{ "kill-free", R_FREE, 0 },
		{ "kill-mag", R_MAG_ALLOC, 2 },
		{ "kill-scavenge", R_SCAVENGE, 7 },
		{ "kill-owner", R_OWNER, 0 },
		{ "kill-create", R_CREATE, 12 },
		{ "kill-get", R_OBJ, 9 },
		{ "kill-owner-gone", R_OWNER_GONE, 0 },
	};
	struct seed s;
	char name[64];

	start(&s, 0, 0);
	emit("recover", "journal-empty", &s);
	start(&s, 0, NWORK);
	put64(&s, 0);
	emit("recover", "journal-committed", &s);
	/* A count with a check that cannot be right, and entries. */
	start(&s, 0, NWORK);
	put64(&s, 3 | UINT64_C(0x123456) << 40);
	put64(&s, 1);
	for (unsigned int i = 0; i < 3; i++) {
		put64(&s, 4096 + 8 * i);
		put64(&s, 0xdead);
	}
	emit("recover", "journal-forged", &s);
	for (unsigned int k = 0; k < sizeof(kills) / sizeof(kills[0]); k++) {
		for (unsigned int at = 0; at < 40; at += 13) {
			unsigned char b[2] = { kills[k].kind, kills[k].arg };

			start(&s, 1, NWORK);
			put16(&s, at);
			put(&s, b, 2);
			snprintf(name, sizeof(name), "%s-%u", kills[k].name,
				 at);
			emit("recover", name, &s);
		}
	}
	/* A kill point in an eviction, and in a get of a candidate. */
	for (unsigned int at = 0; at < 40; at += 13) {
		static const unsigned char calls[][2] = { { R_EVICT, 0 },
							  { R_OBJ, 12 } };

		for (unsigned int c = 0; c < 2; c++) {
			unsigned char b[2] = { 1, NWORK + NEVICTABLE };

			s.len = 0;
			put(&s, b, 2);
			put(&s, work, 2 * NWORK);
			put(&s, evictable, 2 * NEVICTABLE);
			put16(&s, at);
			put(&s, calls[c], 2);
			snprintf(name, sizeof(name), "kill-%s-%u",
				 c ? "get-candidate" : "evict", at);
			emit("recover", name, &s);
		}
	}
}
