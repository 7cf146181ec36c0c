// SPDX-License-Identifier: MIT
/*
 * The durable area: the daemon's own records in the metadata memfd,
 * past the heap's layout (see durable.h for where).
 *
 * The header (struct durable_hdr, one page) says what the heap was made
 * with (the sizes, the options) and what is the daemon's across its
 * restarts: the arena id, random at format and the same until a full
 * stop makes a new arena; the generation (1 at the first start); the
 * CLOCK_REALTIME of the first and of the last start; where client ids go
 * on, so that a new client's id never collides with an orphan's; and the
 * cumulative MemStats counters (struct durable_counters).
 *
 * Which counters, and how.  MemStats counters that only grow (num_gc,
 * pause_total_ns, heap_checks, control_deferred, the scavenger's ticks,
 * passes, *_total, time_ns, forced_releases, release_errors, forced_gc,
 * clients.refused, objects.woken and timeouts, the magazines' counters,
 * departed clients' included, and the orphans' reclaimed and expired)
 * stay where they are counted, in their parts, from 0 at each start.
 * They are added into the header, not kept in it: at every publish
 * (every scavenger tick), whenever MemStats is built for a reader, and
 * at shutdown, durable_save() writes this daemon's figures into @last;
 * at the next start, durable_restart() adds @last to the counters
 * carried.  So what a SIGKILL loses is what was counted since the last
 * save and that no reader has seen (a tick, 10 s at most by default):
 * no counter a reader saw ever goes back.  A SIGTERM loses nothing.  Figures of the
 * moment (sizes, counts, *_last, pause_ns) are not carried.
 *
 * Crash consistency, with no journal of its own: the generation, the
 * last start and the counters carried live in two blocks (as LMDB keeps
 * two meta pages), each with its generation and a checksum; the valid
 * block of the higher generation is the current one.  A restart writes
 * the other block whole, then clears @last, then says (@last_gen) whose
 * @last it holds: killed at any point in between, the next start sees
 * either the old block (and folds @last again, exactly once) or the new
 * one with @last_gen older than it (and folds nothing).  @last itself is
 * written one aligned 64-bit counter at a time, so each counter is
 * either its older or its newer figure, both true.
 *
 * Invariants checked at adoption (durable_adopt()), before anything of
 * it is trusted: magic, version, header size; the metadata's size
 * equals what the layout, the header and the slots need; the arena's
 * size is the one the heap was made for; one block has a good checksum;
 * max_owners is at least max_clients.  The slots are not checked here:
 * their users check an owner id in them before they trust one.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "durable.h"
#include "shm/heap.h"

#define DURABLE_MAGIC UINT64_C(0x314c42525544534e)	/* "NSDURBL1" */
#define DURABLE_VERSION 1
#define DURABLE_HDR_SIZE HEAP_PAGE_SIZE

/* One of the two blocks: valid when @csum is that of the rest. */
struct durable_block {
	uint64_t generation;		/* 1 = first start */
	uint64_t restarted;		/* CLOCK_REALTIME ns of its start */
	struct durable_counters carried;
	uint64_t csum;
};

struct durable_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_size;
	uint64_t meta_size;		/* the whole memfd */
	uint64_t layout_size;		/* the heap's part of it */
	uint64_t slot_size;
	uint64_t arena_size;
	uint32_t max_clients;
	uint32_t max_owners;
	uint32_t max_objects;
	uint32_t max_refs;
	uint64_t arena_id[2];
	uint64_t started;		/* CLOCK_REALTIME ns of the first start */
	uint32_t next_client_id;
	uint32_t pad;
	struct durable_block block[2];
	uint64_t last_gen;		/* the generation @last is of */
	struct durable_counters last;	/* its counters at its last save */
};

_Static_assert(sizeof(struct durable_hdr) <= DURABLE_HDR_SIZE, "hdr");
_Static_assert(DURABLE_SESSION_BYTES + DURABLE_MAG_BYTES ==
	       DURABLE_SLOT_SIZE, "slot");
_Static_assert(sizeof(struct durable_counters) % 8 == 0, "counters");

struct durable {
	struct durable_hdr *hdr;
	unsigned char *slots;
	uint32_t nslots;
	uint32_t slot_mask;		/* an owner id's slot number bits */
};

/* FNV-1a over a block but its checksum. */
static uint64_t block_csum(const struct durable_block *b)
{
	const unsigned char *p = (const unsigned char *)b;
	uint64_t h = UINT64_C(0xcbf29ce484222325);
	size_t i;

	for (i = 0; i < offsetof(struct durable_block, csum); i++)
		h = (h ^ p[i]) * UINT64_C(0x100000001b3);
	return h;
}

static bool block_valid(const struct durable_block *b)
{
	return b->generation && b->csum == block_csum(b);
}

/*
 * The current block of a header durable_adopt() or durable_format()
 * checked or wrote: there is one, or it is a bug.
 */
static const struct durable_block *current_of(const struct durable *du);

/* The current block: the valid one of the higher generation, or NULL. */
static const struct durable_block *current(const struct durable_hdr *hdr)
{
	const struct durable_block *a = &hdr->block[0], *b = &hdr->block[1];

	if (!block_valid(a))
		return block_valid(b) ? b : NULL;
	if (!block_valid(b))
		return a;
	return a->generation >= b->generation ? a : b;
}

static const struct durable_block *current_of(const struct durable *du)
{
	const struct durable_block *b = current(du->hdr);

	if (!b)
		abort();	/* checked at adoption, written at format */
	return b;
}

static uint32_t slot_mask(uint32_t max_owners)
{
	uint32_t bits = 32 - (uint32_t)__builtin_clz(max_owners);

	return (UINT32_C(1) << bits) - 1;
}

static uint64_t slots_bytes(uint32_t max_owners)
{
	return ((uint64_t)max_owners + 1) * DURABLE_SLOT_SIZE;
}

int durable_meta_size(uint64_t layout_size, uint32_t max_owners,
		      uint64_t *ret)
{
	uint64_t s = layout_size + DURABLE_HDR_SIZE + slots_bytes(max_owners);

	if (s < layout_size)
		return -EOVERFLOW;
	*ret = s;
	return 0;
}

static int handle(void *meta, uint64_t layout_size, uint32_t max_owners,
		  struct durable **ret)
{
	struct durable *du = calloc(1, sizeof(*du));

	if (!du)
		return -ENOMEM;
	du->hdr = (struct durable_hdr *)((unsigned char *)meta + layout_size);
	du->slots = (unsigned char *)du->hdr + DURABLE_HDR_SIZE;
	du->nslots = max_owners + 1;
	du->slot_mask = slot_mask(max_owners);
	*ret = du;
	return 0;
}

static void block_write(struct durable_block *b, uint64_t generation,
			uint64_t restarted, const struct durable_counters *c)
{
	b->generation = generation;
	b->restarted = restarted;
	b->carried = *c;
	b->csum = block_csum(b);
}

int durable_format(void *meta, uint64_t meta_size, uint64_t layout_size,
		   const struct durable_config *cfg, uint64_t now_real,
		   struct durable **ret)
{
	const struct durable_counters zero = { 0 };
	struct durable_hdr *hdr;
	uint64_t need, id[2];
	int r;

	if (!cfg->max_owners || cfg->max_owners < cfg->max_clients ||
	    durable_meta_size(layout_size, cfg->max_owners, &need) < 0 ||
	    need > meta_size || layout_size % HEAP_PAGE_SIZE)
		return -EINVAL;
	if (getrandom(id, sizeof(id), 0) != (ssize_t)sizeof(id))
		return -errno;
	r = handle(meta, layout_size, cfg->max_owners, ret);
	if (r < 0)
		return r;
	hdr = (*ret)->hdr;
	hdr->version = DURABLE_VERSION;
	hdr->hdr_size = DURABLE_HDR_SIZE;
	hdr->meta_size = meta_size;
	hdr->layout_size = layout_size;
	hdr->slot_size = DURABLE_SLOT_SIZE;
	hdr->arena_size = cfg->arena_size;
	hdr->max_clients = cfg->max_clients;
	hdr->max_owners = cfg->max_owners;
	hdr->max_objects = cfg->max_objects;
	hdr->max_refs = cfg->max_refs;
	memcpy(hdr->arena_id, id, sizeof(id));
	hdr->started = now_real;
	hdr->next_client_id = 1;
	block_write(&hdr->block[0], 1, now_real, &zero);
	hdr->last_gen = 1;
	/* Last: a header without its magic is never adopted. */
	__atomic_store_n(&hdr->magic, DURABLE_MAGIC, __ATOMIC_RELEASE);
	return 0;
}

int durable_adopt(void *meta, uint64_t meta_size, uint64_t layout_size,
		  uint64_t arena_size, char *why, size_t whylen,
		  struct durable **ret)
{
	const struct durable_hdr *hdr;
	uint64_t need;

	if (layout_size > meta_size ||
	    meta_size - layout_size < DURABLE_HDR_SIZE) {
		snprintf(why, whylen,
			 "the metadata (%llu bytes) has no room for the daemon's header past the heap's %llu",
			 (unsigned long long)meta_size,
			 (unsigned long long)layout_size);
		return -EINVAL;
	}
	hdr = (const struct durable_hdr *)((const unsigned char *)meta +
					   layout_size);
	if (hdr->magic != DURABLE_MAGIC) {
		snprintf(why, whylen, "the daemon's header has a bad magic number");
		return -EINVAL;
	}
	if (hdr->version != DURABLE_VERSION) {
		snprintf(why, whylen,
			 "the daemon's header is of version %u, this daemon knows %u",
			 hdr->version, DURABLE_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (hdr->hdr_size != DURABLE_HDR_SIZE ||
	    hdr->slot_size != DURABLE_SLOT_SIZE ||
	    hdr->layout_size != layout_size || !hdr->max_owners ||
	    hdr->max_owners > HEAP_OWNERS_MAX ||
	    hdr->max_owners < hdr->max_clients ||
	    durable_meta_size(layout_size, hdr->max_owners, &need) < 0 ||
	    need != meta_size || hdr->meta_size != meta_size) {
		snprintf(why, whylen,
			 "the daemon's header gives sizes that do not match the metadata's %llu bytes",
			 (unsigned long long)meta_size);
		return -EINVAL;
	}
	if (hdr->arena_size != arena_size) {
		snprintf(why, whylen,
			 "the heap was made for an arena of %llu bytes, the stored arena has %llu",
			 (unsigned long long)hdr->arena_size,
			 (unsigned long long)arena_size);
		return -EINVAL;
	}
	if (!current(hdr)) {
		snprintf(why, whylen,
			 "neither block of the daemon's header has a good checksum");
		return -EINVAL;
	}
	return handle(meta, layout_size, hdr->max_owners, ret);
}

static void counters_add(struct durable_counters *a,
			 const struct durable_counters *b)
{
	uint64_t *pa = (uint64_t *)a;
	const uint64_t *pb = (const uint64_t *)b;
	size_t i;

	for (i = 0; i < sizeof(*a) / sizeof(uint64_t); i++)
		pa[i] += pb[i];
}

void durable_restart(struct durable *du, uint64_t now_real, uint32_t min_client_id)
{
	struct durable_hdr *hdr = du->hdr;
	const struct durable_block *cur = current(hdr);
	struct durable_block *next;
	struct durable_counters c;
	uint64_t g;

	if (!cur)
		abort();	/* durable_adopt() checked */
	g = cur->generation;
	c = cur->carried;
	if (hdr->last_gen == g)
		counters_add(&c, &hdr->last);
	next = cur == &hdr->block[0] ? &hdr->block[1] : &hdr->block[0];
	block_write(next, g + 1, now_real, &c);
	/*
	 * Process death is the model (as the heap's journal's): stores
	 * reach the memfd in program order, so the compiler's order is all
	 * that needs fixing; a thread fence also upsets TSan builds.
	 */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	memset(&hdr->last, 0, sizeof(hdr->last));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	hdr->last_gen = g + 1;
	if (min_client_id > hdr->next_client_id)
		hdr->next_client_id = min_client_id;
}

void durable_free(struct durable *du)
{
	free(du);
}

void durable_config(const struct durable *du, struct durable_config *ret)
{
	const struct durable_hdr *hdr = du->hdr;

	ret->arena_size = hdr->arena_size;
	ret->max_clients = hdr->max_clients;
	ret->max_owners = hdr->max_owners;
	ret->max_objects = hdr->max_objects;
	ret->max_refs = hdr->max_refs;
}

static unsigned char *slot(struct durable *du, uint32_t owner_id)
{
	uint32_t n = owner_id & du->slot_mask;

	if (n >= du->nslots)
		return NULL;
	return du->slots + (uint64_t)n * DURABLE_SLOT_SIZE;
}

void *durable_session_area(struct durable *du, uint32_t owner_id)
{
	return slot(du, owner_id);
}

void *durable_mag_area(struct durable *du, uint32_t owner_id)
{
	unsigned char *s = slot(du, owner_id);

	return s ? s + DURABLE_SESSION_BYTES : NULL;
}

uint64_t durable_generation(const struct durable *du)
{
	return current_of(du)->generation;
}

void durable_arena_id(const struct durable *du, uint64_t ret[2])
{
	ret[0] = du->hdr->arena_id[0];
	ret[1] = du->hdr->arena_id[1];
}

uint64_t durable_started(const struct durable *du)
{
	return du->hdr->started;
}

uint64_t durable_restarted(const struct durable *du)
{
	return current_of(du)->restarted;
}

uint32_t durable_next_client_id(const struct durable *du)
{
	return du->hdr->next_client_id;
}

void durable_carried(const struct durable *du, struct durable_counters *ret)
{
	*ret = current_of(du)->carried;
}

void durable_save(struct durable *du, const struct durable_counters *live,
			 uint32_t next_client_id)
{
	struct durable_hdr *hdr = du->hdr;
	const uint64_t *src = (const uint64_t *)live;
	uint64_t *dst = (uint64_t *)&hdr->last;
	size_t i;

	/* One aligned counter at a time: each is old or new, both true. */
	for (i = 0; i < sizeof(*live) / sizeof(uint64_t); i++)
		__atomic_store_n(&dst[i], src[i], __ATOMIC_RELAXED);
	if (next_client_id > hdr->next_client_id)
		hdr->next_client_id = next_client_id;
}
