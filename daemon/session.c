// SPDX-License-Identifier: MIT
/*
 * Session records: see session.h.
 *
 * A record is valid when its magic is SESSION_MAGIC and its owner is
 * the owner whose area it is in: an area holds whatever the last owner
 * of its slot number wrote, so nothing else of it is trusted.  Its
 * secret is 128 random bits from getrandom(); a token matches when the
 * arena id is this arena's, the record is valid, its client id is the
 * token's and the secrets are equal, compared without an early exit, so
 * the time a guess takes says nothing of how close it came.
 *
 * The last mutating request: @last_type 0 means none.  A request's
 * changes and its record are one transaction (dispatch.c), so after any
 * crash either both are there or neither: a retry of a request whose
 * record is there gets the recorded reply, one whose record is not was
 * not applied and is applied now.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

#include "core.h"
#include "log.h"
#include "session.h"
#include "shm/heap.h"
#include "durable.h"

#define SESSION_MAGIC 0x53455353u	/* "SESS" */

struct session_rec {
	uint32_t magic;		/* SESSION_MAGIC: written whole */
	uint32_t owner;
	uint32_t client_id;
	uint32_t last_seq;
	uint64_t secret[2];
	uint16_t last_type;	/* enum proto_type; 0: none yet */
	uint16_t pad;
	uint32_t reply_len;	/* bytes of @reply */
	uint64_t resumed;	/* times the session was taken back */
	unsigned char reply[SESSION_REPLY_MAX];
};
_Static_assert(sizeof(struct session_rec) <= DURABLE_SESSION_BYTES,
	       "a session record fits its half of the slot");

/*
 * Without a durable area: an area of DURABLE_SESSION_BYTES per owner,
 * each mapped on its own (page aligned, as a durable slot is) and
 * unmapped when its session ends, so that a daemon that had many clients
 * keeps no memory of them.
 */
struct mem_area {
	unsigned char bytes[DURABLE_SESSION_BYTES];
	uint32_t owner;		/* 0: free */
};

struct session_mem {
	uint32_t n;
	struct mem_area **areas;
};

/* @owner's area, or NULL if it has none. */
static void *mem_find(struct sessions *s, uint32_t owner)
{
	struct session_mem *m = s->mem;

	for (uint32_t i = 0; i < m->n; i++)
		if (m->areas[i]->owner == owner)
			return m->areas[i]->bytes;
	return NULL;
}

/* @owner's area, made if it has none: only for a session it opens. */
static void *mem_area(struct sessions *s, uint32_t owner)
{
	struct session_mem *m = s->mem;
	struct mem_area *a = NULL, **more;
	void *p = mem_find(s, owner);

	if (p)
		return p;
	more = realloc(m->areas, (m->n + 1) * sizeof(*more));
	if (!more)
		goto out_of_memory;
	m->areas = more;
	p = mmap(NULL, sizeof(*a), PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		goto out_of_memory;
	a = p;
	a->owner = owner;
	m->areas[m->n++] = a;
	return a->bytes;

out_of_memory:
	log_err("out of memory for a session record");
	abort();
}

static void mem_drop(struct sessions *s, uint32_t owner)
{
	struct session_mem *m = s->mem;

	for (uint32_t i = 0; m && i < m->n; i++)
		if (m->areas[i]->owner == owner) {
			munmap(m->areas[i], sizeof(struct mem_area));
			m->areas[i] = m->areas[--m->n];
			return;
		}
}

void sessions_fini(struct sessions *s)
{
	struct session_mem *m = s->mem;

	if (!m)
		return;
	for (uint32_t i = 0; i < m->n; i++)
		munmap(m->areas[i], sizeof(struct mem_area));
	free(m->areas);
	free(m);
	s->mem = NULL;
}

void sessions_init(struct sessions *s, struct core *core, struct durable *du)
{
	sessions_fini(s);
	memset(s, 0, sizeof(*s));
	s->core = core;
	s->du = du;
	if (du)
		return;
	s->mem = calloc(1, sizeof(*s->mem));
	if (!s->mem || getrandom(s->arena_id, sizeof(s->arena_id), 0) !=
			       (ssize_t)sizeof(s->arena_id)) {
		log_err("no memory or randomness for the session records");
		abort();
	}
	s->arena_id[0] |= 1;	/* never 0 */
}

void sessions_arena_id(const struct sessions *s, uint64_t ret[2])
{
	if (s->du) {
		durable_arena_id(s->du, ret);
		return;
	}
	ret[0] = s->arena_id[0];
	ret[1] = s->arena_id[1];
}

uint64_t sessions_generation(const struct sessions *s)
{
	return s->du ? durable_generation(s->du) : 1;
}

/*
 * Log [@p, @p + @len) of a record in the open transaction: a durable
 * area is the metadata's; the memory areas are not, and outlive nothing.
 */
static void rec_log(struct sessions *s, const void *p, size_t len)
{
	if (s->du)
		heap_tx_log(s->core->heap, p, len);
}

/*
 * @owner's area: a durable slot, or a memory area, made only if @make
 * (a session opens), so that a token of any owner id costs nothing.
 */
static struct session_rec *rec_of(struct sessions *s, uint32_t owner,
				  bool make)
{
	if (s->du)
		return durable_session_area(s->du, owner);
	return make ? mem_area(s, owner) : mem_find(s, owner);
}

/* @owner's record, or NULL if its area holds no session of its. */
static struct session_rec *valid_rec(struct sessions *s, uint32_t owner)
{
	struct session_rec *r = rec_of(s, owner, false);

	if (!r || r->magic != SESSION_MAGIC || r->owner != owner)
		return NULL;
	return r;
}

int session_open_locked(struct sessions *s, uint32_t owner,
			uint32_t client_id, struct proto_session *ret)
{
	struct heap *h = s->core->heap;
	struct session_rec *r;
	uint64_t secret[2];
	ssize_t n;

	daemon_assert_locked(s->core);
	do
		n = getrandom(secret, sizeof(secret), 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(secret))
		return n < 0 ? -errno : -EIO;
	r = rec_of(s, owner, true);
	if (!r) {
		log_err("BUG: live owner %u has no durable slot", owner);
		abort();
	}
	heap_tx_begin(h);
	rec_log(s, r, offsetof(struct session_rec, reply));
	memset(r, 0, offsetof(struct session_rec, reply));
	r->magic = SESSION_MAGIC;
	r->owner = owner;
	r->client_id = client_id;
	memcpy(r->secret, secret, sizeof(secret));
	heap_tx_end(h);
	memset(ret, 0, sizeof(*ret));
	sessions_arena_id(s, ret->arena_id);
	ret->owner = owner;
	ret->client_id = client_id;
	memcpy(ret->secret, secret, sizeof(secret));
	return 0;
}

int session_match_locked(struct sessions *s, const struct proto_session *t)
{
	const struct session_rec *r;
	uint64_t arena[2], diff;

	daemon_assert_locked(s->core);
	sessions_arena_id(s, arena);
	if (t->arena_id[0] != arena[0] || t->arena_id[1] != arena[1] ||
	    !t->owner)
		return -ESTALE;
	r = valid_rec(s, t->owner);
	if (!r || r->client_id != t->client_id)
		return -ESTALE;
	diff = (r->secret[0] ^ t->secret[0]) | (r->secret[1] ^ t->secret[1]);
	return diff ? -ESTALE : 0;
}

uint64_t session_resumed_locked(struct sessions *s, uint32_t owner)
{
	struct heap *h = s->core->heap;
	struct session_rec *r;

	daemon_assert_locked(s->core);
	r = valid_rec(s, owner);
	if (!r) {
		log_err("BUG: owner %u resumed has no session", owner);
		abort();
	}
	heap_tx_begin(h);
	rec_log(s, &r->resumed, sizeof(r->resumed));
	r->resumed++;
	heap_tx_end(h);
	s->resumed++;
	return r->resumed;
}

void session_clear_locked(struct sessions *s, uint32_t owner)
{
	struct heap *h = s->core->heap;
	struct session_rec *r;

	daemon_assert_locked(s->core);
	r = valid_rec(s, owner);
	if (r) {
		heap_tx_begin(h);
		rec_log(s, r, offsetof(struct session_rec, reply));
		memset(r, 0, offsetof(struct session_rec, reply));
		heap_tx_end(h);
	}
	mem_drop(s, owner);
}

int session_replay_locked(struct sessions *s, uint32_t owner, uint16_t type,
			  uint32_t seq, void *buf, size_t *ret_len)
{
	const struct session_rec *r;

	daemon_assert_locked(s->core);
	r = valid_rec(s, owner);
	if (!r || !r->last_type || r->last_type != type || r->last_seq != seq)
		return -ENOENT;
	if (r->reply_len > SESSION_REPLY_MAX) {
		log_err("BUG: session record of owner %u holds a reply of %u bytes",
			owner, r->reply_len);
		abort();
	}
	memcpy(buf, r->reply, r->reply_len);
	*ret_len = r->reply_len;
	s->replayed++;
	return 0;
}

void session_record_locked(struct sessions *s, uint32_t owner, uint16_t type,
			   uint32_t seq, const void *reply, size_t len)
{
	struct session_rec *r;

	daemon_assert_locked(s->core);
	r = valid_rec(s, owner);
	if (!r || len > SESSION_REPLY_MAX) {
		log_err("BUG: a reply of %zu bytes recorded for owner %u, %s",
			len, owner, r ? "too long" : "which has no session");
		abort();
	}
	rec_log(s, &r->last_seq, sizeof(r->last_seq));
	rec_log(s, &r->last_type, offsetof(struct session_rec, reply) -
					      offsetof(struct session_rec,
						       last_type) + len);
	r->last_seq = seq;
	r->last_type = type;
	r->reply_len = (uint32_t)len;
	memcpy(r->reply, reply, len);
}
