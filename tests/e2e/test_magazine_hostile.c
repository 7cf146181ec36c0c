// SPDX-License-Identifier: MIT
/*
 * A hostile client against the real spanheapd's magazines (issue 11): it
 * speaks the raw protocol (tests/lib/wire.h), asks for a magazine, maps
 * its region, gets spans into it the proper way (MAG_REFILL), and then
 * writes what it likes into its return stacks and fill rings.
 *
 * What must hold: the daemon lives and answers; every bad entry is
 * counted (magazines.bad_entries), exactly once, and changes nothing
 * else; a corrupt index stops that magazine alone; an honest client's
 * spans keep their patterns and stay its own; the daemon's heap_check()
 * (SPANHEAPD_HEAP_CHECK: at every GC) passes; MAG_KICK is never
 * answered; and once the hostile clients are gone, heap_inuse is the
 * honest client's bytes again.
 *
 * The daemon examines a return stack only above the class's target: a
 * class the hostile client never asked to fill has target 0, so what it
 * pushes there is examined at the next serve.  What it pushes onto a
 * class with spans is examined as the target decays, and all of it once
 * the client has been idle for --scavenge-after (2 s here).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "proto/magazine.h"
#include "tests/e2e/mag_fixture.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

#define PG MAG_PG
#define ARENA (UINT64_C(64) << 20)	/* --arena-size=64M */

static struct test_daemon td;

/* A daemon whose every GC pass runs heap_check(). */
static void setup(void)
{
	static const char *const args[] = {
		"--arena-size=64M", "--scavenge-after=2s", NULL,
	};

	setenv("SPANHEAPD_HEAP_CHECK", "1", 1);
	test_daemon_start(&td, args);
	unsetenv("SPANHEAPD_HEAP_CHECK");
}

static void teardown(void)
{
	test_daemon_stop(&td);
}

/* ---- the hostile client ---- */

struct hostile {
	int fd;
	uint32_t id;
	struct mag_region *r;
	size_t size;
	unsigned char *arena;
};

static void hostile_open(struct hostile *x, const char *name)
{
	const int seals = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL;
	struct proto_welcome w;
	int memfd, magfd;

	x->fd = wire_connect(td.sock);
	ck_assert_int_eq(wire_hello_flags(x->fd, name, PROTO_HELLO_MAGAZINE,
					  &w, &memfd, &magfd), 0);
	ck_assert_uint_eq(w.mag_size, mag_layout_size((uint32_t)PG));
	ck_assert_int_ge(magfd, 0);
	/* Its own memfd, sealed: not the arena. */
	ck_assert_int_eq(fcntl(magfd, F_GET_SEALS) & seals, seals);
	x->id = w.client_id;
	x->size = w.mag_size;
	x->r = mmap(NULL, x->size, PROT_READ | PROT_WRITE, MAP_SHARED, magfd,
		    0);
	ck_assert_ptr_ne(x->r, MAP_FAILED);
	ck_assert_int_eq(mag_check_header(x->r, x->size), 0);
	ck_assert_int_eq(x->r->hdr.pid, getpid());
	x->arena = mmap(NULL, ARENA, PROT_READ | PROT_WRITE, MAP_SHARED, memfd,
			0);
	ck_assert_ptr_ne(x->arena, MAP_FAILED);
	close(memfd);
	close(magfd);
}

/* MAG_KICK never gets a reply: nothing is waiting to be read. */
static void assert_no_reply(int fd)
{
	char buf[PROTO_REPLY_MAX];

	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	ck_assert_int_eq(errno, EAGAIN);
}

static void hostile_close(struct hostile *x)
{
	assert_no_reply(x->fd);
	munmap(x->r, x->size);
	munmap(x->arena, ARENA);
	close(x->fd);
}

static void kick(int fd, uint32_t seq)
{
	struct proto_mag m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_MAG_KICK, seq);
	wire_send(fd, &m, sizeof(m));
}

/*
 * Count a use of class @c, as the library does: a class whose counters
 * do not move between two ticks halves its target, and the tests that
 * count spans in a ring want it to keep what it was given.
 */
static void touch(struct mag_region *r, unsigned int c)
{
	atomic_fetch_add_explicit(&r->cls[c].fast_allocs, 1,
				  memory_order_relaxed);
}

/* MAG_REFILL of class @cls for @flags; returns its status. */
static int refill_fd(int fd, uint32_t cls, uint32_t flags)
{
	union {
		struct proto_hdr hdr;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct proto_mag m;
	uint32_t seq;
	size_t n;
	int r;

	memset(&m, 0, sizeof(m));
	seq = wire_hdr(&m.hdr, PROTO_MAG_REFILL);
	m.cls = cls;
	m.flags = flags;
	wire_send(fd, &m, sizeof(m));
	/* The next datagram is this reply: no kick was answered. */
	r = wire_reply(fd, PROTO_MAG_REFILL, seq, u.buf, sizeof(u.buf), &n);
	ck_assert_uint_eq(n, sizeof(struct proto_hdr));
	return r;
}

/* refill_fd() of @x's class @cls, which it uses. */
static int refill(struct hostile *x, uint32_t cls, uint32_t flags)
{
	touch(x->r, cls);
	return refill_fd(x->fd, cls, flags);
}

/* Kicks, then a refill that answers once they were all served. */
static void kick_and_refill(struct hostile *x)
{
	kick(x->fd, 0);
	kick(x->fd, 0x4b1c);
	ck_assert_int_eq(refill(x, 0, PROTO_MAG_FULL), 0);
}

/* Take a span from class @c's fill ring, as the library would. */
static uint64_t take(struct hostile *x, unsigned int c)
{
	uint64_t off;

	ck_assert_int_eq(mag_fill_take(&x->r->cls[c].fill, &off), 0);
	touch(x->r, c);
	ck_assert_uint_eq(off % PG, 0);
	ck_assert_uint_lt(off, ARENA);
	return off;
}

/* The entry class @c's fill ring will give next, left in the ring. */
static uint64_t peek(struct hostile *x, unsigned int c)
{
	struct mag_ring *ring = &x->r->cls[c].fill;
	uint32_t tail = atomic_load(&ring->tail);

	ck_assert_uint_gt(mag_fill_count(ring), 0);
	return atomic_load(&ring->entry[tail & (MAG_RING_CAP - 1)]);
}

static void push(struct hostile *x, unsigned int c, const uint64_t *offs,
		 size_t n)
{
	uint32_t count;

	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(mag_stack_push(&x->r->cls[c].ret, offs[i],
						MAG_STACK_CAP, &count), 0);
}

/* ---- the honest client and the observer ---- */

#define NHONEST 6

struct honest {
	struct spanheap *h;
	uint32_t id;
	struct spanheap_span s[NHONEST];
	uint64_t cached_off;	/* a span it freed into its magazine */
};

static void honest_open(struct honest *o)
{
	static const size_t np[NHONEST] = { 1, 2, 4, 8, 64, 65 };
	struct spanheap_span extra;

	ck_assert_int_eq(spanheap_connect_named(td.sock, "honest", &o->h), 0);
	o->id = spanheap_client_id(o->h);
	for (int i = 0; i < NHONEST; i++) {
		ck_assert_int_eq(spanheap_span_alloc(o->h, np[i], 0, &o->s[i]),
				 0);
		mag_pattern(o->s[i].ptr, o->s[i].npages, 0x4011e57 + i, false);
	}
	ck_assert_int_eq(spanheap_span_alloc(o->h, 2, 0, &extra), 0);
	o->cached_off = extra.off;
	ck_assert_int_eq(spanheap_span_free(o->h, extra.off), 0);
}

/* Its spans hold their patterns, and MemStats @st says it holds them. */
static void honest_check(struct honest *o, json_t *st)
{
	uint64_t held = 0;

	for (int i = 0; i < NHONEST; i++) {
		mag_assert_pattern(o->s[i].ptr, o->s[i].npages, 0x4011e57 + i,
				   false, "the honest client's span");
		held += o->s[i].npages * PG;
	}
	ck_assert_uint_eq(mag_client_u64(st, o->id, "bytes") -
			  mag_client_u64(st, o->id, "cached"), held);
}

/* Its spans are still its own: every free succeeds, once. */
static void honest_close(struct honest *o)
{
	for (int i = 0; i < NHONEST; i++) {
		ck_assert_int_eq(spanheap_span_free(o->h, o->s[i].off), 0);
		ck_assert_int_eq(spanheap_span_free(o->h, o->s[i].off),
				 -EINVAL);
	}
	spanheap_close(o->h);
}

/*
 * The daemon is alive and well: it answers, keeps its identities, and
 * its heap_check() passes (a GC runs it); the honest client is intact.
 */
static json_t *check_all(int obs, struct honest *o, uint64_t *checks)
{
	json_t *st;

	ck_assert_int_eq(kill(td.pid, 0), 0);
	wire_gc(obs);
	st = mag_stats_fd(obs);
	ck_assert_uint_gt(wire_json_u64(st, "heap_checks"), *checks);
	*checks = wire_json_u64(st, "heap_checks");
	honest_check(o, st);
	return st;
}

static uint64_t bad_entries(int obs)
{
	json_t *st = mag_stats_fd(obs);
	uint64_t v = mag_counter(st, "bad_entries");

	json_decref(st);
	return v;
}

/* Client *@arg (a uint32_t) caches nothing any more. */
static bool drained(json_t *st, void *arg)
{
	return mag_client_u64(st, *(uint32_t *)arg, "cached") == 0;
}

struct only {
	uint32_t id;		/* the one client left but the observer */
};

static bool only_honest(json_t *st, void *arg)
{
	const struct only *k = arg;

	return wire_json_u64(json_object_get(st, "clients"), "count") == 2 &&
	       mag_client(st, k->id) &&
	       wire_json_u64(st, "heap_inuse") ==
		       mag_client_u64(st, k->id, "bytes");
}

/* ---- entries ---- */

/*
 * Bad entries in the return stacks, each counted once and skipped: the
 * magazine goes on serving, and nobody's spans change hands.
 */
START_TEST(test_bad_entries)
{
	struct honest o;
	struct hostile x;
	int obs = wire_open(td.sock, "observer");
	uint64_t a[8], own, freed, inner, dup, ring, gone, bad, checks = 0;
	uint64_t returned;
	json_t *st;

	honest_open(&o);
	hostile_open(&x, "hostile");
	/* Spans the proper way: class 0 runs dry twice, target 4 then 8. */
	ck_assert_int_eq(refill(&x, 0, PROTO_MAG_EMPTY), 0);
	ck_assert_uint_eq(mag_fill_count(&x.r->cls[0].fill), 4);
	for (int i = 0; i < 4; i++)
		a[i] = take(&x, 0);
	ck_assert_int_eq(refill(&x, 0, PROTO_MAG_EMPTY), 0);
	ck_assert_uint_eq(mag_fill_count(&x.r->cls[0].fill), 8);
	for (int i = 4; i < 8; i++)
		a[i] = take(&x, 0);
	for (int i = 0; i < 8; i++)
		memset(x.arena + a[i], 0x40 + i, PG);
	own = wire_alloc1(x.fd, 8);		/* a socket span: class 3 */
	freed = wire_alloc1(x.fd, 16);		/* class 4, freed at once */
	ck_assert_int_eq(wire_free1(x.fd, freed), 0);
	inner = own + PG;
	json_decref(check_all(obs, &o, &checks));
	bad = bad_entries(obs);
	ck_assert_uint_eq(bad, 0);

	/*
	 * Onto classes the client never had filled (target 0): all of it is
	 * examined at the next serve, and every entry is bad.
	 */
	{
		const uint64_t garbage[] = {
			UINT64_C(0xdeadbeefdeadbeef), UINT64_MAX, 1, 0,
			a[0] + 1, a[0] + 8, a[0] + PG / 2,	/* unaligned */
			ARENA, ARENA + PG, UINT64_MAX & ~(PG - 1),
			UINT64_C(1) << 62,			/* outside */
			inner,			/* inside a span */
			own,			/* its own, from the socket */
			freed,			/* no span's */
		};
		const size_t n = sizeof(garbage) / sizeof(garbage[0]);

		push(&x, 3, garbage, n);
		kick_and_refill(&x);
		ck_assert_uint_eq(mag_stack_count(&x.r->cls[3].ret), 0);
		ck_assert_uint_eq(bad_entries(obs), bad + n);
		bad += n;
	}
	/* Another client's spans: held by it, and in its magazine. */
	{
		const uint64_t theirs[] = { o.s[2].off };
		const uint64_t cached[] = { o.cached_off };

		push(&x, 2, theirs, 1);
		push(&x, 1, cached, 1);
		push(&x, 6, &o.s[4].off, 1);
		kick_and_refill(&x);
		ck_assert_uint_eq(bad_entries(obs), bad + 3);
		bad += 3;
	}
	/* Its own spans of the wrong class. */
	push(&x, 1, &a[0], 1);
	push(&x, 5, &a[1], 1);
	kick_and_refill(&x);
	ck_assert_uint_eq(bad_entries(obs), bad + 2);
	bad += 2;
	for (unsigned int c = 1; c < MAG_NCLASSES; c++)
		ck_assert_uint_eq(mag_stack_count(&x.r->cls[c].ret), 0);
	st = check_all(obs, &o, &checks);
	/* It still holds what it held; nothing of it moved. */
	ck_assert_uint_eq(mag_client_u64(st, x.id, "bytes") -
			  mag_client_u64(st, x.id, "cached"),
			  (8 + 8) * PG);
	json_decref(st);
	/* The honest client, idle, gives its cache back first. */
	st = mag_wait_fd(obs, drained, &o.id,
			 "the idle honest client's magazine drains");
	returned = mag_counter(st, "returned");
	json_decref(st);
	ck_assert_int_eq(refill(&x, 0, PROTO_MAG_EMPTY), 0);

	/*
	 * Onto class 0, which has spans: a valid span twice, a span still in
	 * the fill ring, a span freed through the socket since it was
	 * pushed.  Onto class 5, filled but never taken from: garbage, no
	 * more than its target.  None of it is examined now (the stacks
	 * are within their targets), none of it counts as cached but the
	 * valid span, once (mag_assert_stats()); it is examined as the
	 * targets decay, all of it once the client is idle: one valid
	 * entry, seven bad ones.
	 */
	dup = a[2];
	gone = a[3];
	ring = peek(&x, 0);
	ck_assert_int_eq(refill(&x, 5, PROTO_MAG_EMPTY), 0);
	ck_assert_uint_eq(atomic_load(&x.r->cls[5].limit), 4);
	{
		const uint64_t e[] = { gone, ring, dup, dup };
		const uint64_t junk[] = { 1, a[5], o.s[4].off, ARENA };

		push(&x, 0, e, 4);
		push(&x, 5, junk, 4);
	}
	ck_assert_int_eq(wire_free1(x.fd, gone), 0);
	kick_and_refill(&x);
	json_decref(check_all(obs, &o, &checks));
	json_decref(mag_wait_fd(obs, drained, &x.id,
				"the idle hostile client's magazine drains"));
	ck_assert_uint_eq(mag_stack_count(&x.r->cls[0].ret), 0);
	ck_assert_uint_eq(mag_stack_count(&x.r->cls[5].ret), 0);
	ck_assert_uint_eq(bad_entries(obs), bad + 7);
	bad += 7;
	st = check_all(obs, &o, &checks);
	ck_assert_uint_eq(mag_counter(st, "returned"), returned + 1);
	/* The duplicate's first copy went back; the rest it still holds. */
	ck_assert_uint_eq(mag_client_u64(st, x.id, "bytes"), (6 + 8) * PG);
	json_decref(st);
	/* Those it gave back or freed are not its own to free again. */
	ck_assert_int_eq(wire_free1(x.fd, dup), -EINVAL);
	ck_assert_int_eq(wire_free1(x.fd, gone), -EINVAL);
	ck_assert_int_eq(wire_free1(x.fd, a[4]), 0);

	/* The honest client's spans were never the hostile one's. */
	ck_assert_int_eq(wire_free1(x.fd, o.s[2].off), -EPERM);
	ck_assert_int_eq(wire_free1(x.fd, o.s[5].off), -EPERM);
	hostile_close(&x);
	st = mag_wait_fd(obs, only_honest, &(struct only){ o.id },
			 "the hostile client's spans are freed");
	honest_check(&o, st);
	json_decref(st);
	json_decref(check_all(obs, &o, &checks));
	honest_close(&o);
	close(obs);
}
END_TEST

/*
 * The daemon's own fields and the fill rings' entries, written by the
 * client: the daemon never reads them back, so nothing changes but
 * what the client then takes, which is its own loss.
 */
START_TEST(test_daemon_fields)
{
	struct honest o;
	struct hostile x;
	int obs = wire_open(td.sock, "observer");
	uint64_t checks = 0, got, bad;
	struct mag_class *k;
	json_t *st;

	honest_open(&o);
	hostile_open(&x, "hostile");
	k = &x.r->cls[1];
	ck_assert_int_eq(refill(&x, 1, PROTO_MAG_EMPTY), 0);
	ck_assert_uint_eq(mag_fill_count(&k->fill), 4);
	bad = bad_entries(obs);
	/* The daemon's: head, limit, flags, served, the header. */
	atomic_store(&k->fill.head, 12345);
	atomic_store(&k->limit, 1000);
	atomic_store(&x.r->st.flags, 0xff);
	atomic_store(&x.r->st.served, 999);
	x.r->hdr.magic = 0;
	x.r->hdr.pid = 1;
	kick_and_refill(&x);
	/* Still served: asked again, it fills the ring and writes head. */
	atomic_store(&x.r->st.flags, 0);
	ck_assert_int_eq(refill(&x, 1, PROTO_MAG_EMPTY), 0);
	ck_assert_uint_eq(mag_fill_count(&k->fill), 8);
	ck_assert_uint_eq(atomic_load(&x.r->st.flags), 0);
	ck_assert_uint_eq(bad_entries(obs), bad);
	/* An entry it overwrote: it takes its garbage, the daemon knows. */
	atomic_store(&k->fill.entry[atomic_load(&k->fill.tail) &
				    (MAG_RING_CAP - 1)],
		     ARENA / 2 + 3 * PG);
	got = take(&x, 1);
	ck_assert_uint_eq(got, ARENA / 2 + 3 * PG);
	push(&x, 4, &got, 1);
	kick_and_refill(&x);
	ck_assert_uint_eq(bad_entries(obs), bad + 1);
	/* The span the garbage hid is its own, held, lost to it. */
	st = check_all(obs, &o, &checks);
	ck_assert_uint_eq(mag_client_u64(st, x.id, "bytes") -
			  mag_client_u64(st, x.id, "cached"), 2 * PG);
	json_decref(st);
	hostile_close(&x);
	st = mag_wait_fd(obs, only_honest, &(struct only){ o.id },
			 "the hostile client's spans are freed");
	json_decref(st);
	honest_close(&o);
	close(obs);
}
END_TEST

/* ---- indices ---- */

enum corrupt {
	STACK_ABOVE_CAP,	/* a return stack's count above its cap */
	STACK_HUGE,		/* ... far above */
	TAIL_BEHIND,		/* a fill ring's tail behind what was taken */
	TAIL_PAST,		/* ... past its head */
	TAIL_WRAPPED,		/* ... half the counter's range away */
	NCORRUPT
};

/*
 * One hostile client that breaks an index of its region as @how says:
 * the daemon stops serving that magazine (MAG_F_DEAD), counts it once,
 * and the client's spans stay its own until it goes.
 */
static void corrupt_one(int obs, struct honest *o, enum corrupt how,
			uint64_t *checks)
{
	struct hostile x;
	struct mag_class *k;
	uint64_t a[3], bad = bad_entries(obs);
	json_t *st;

	hostile_open(&x, "corrupt");
	k = &x.r->cls[0];
	ck_assert_int_eq(refill(&x, 0, PROTO_MAG_EMPTY), 0);
	for (int i = 0; i < 3; i++)
		a[i] = take(&x, 0);
	/* Seen taken: the daemon syncs at every serve. */
	kick_and_refill(&x);
	switch (how) {
	case STACK_ABOVE_CAP:
		atomic_store(&x.r->cls[2].ret.ctl,
			     MAG_STACK_WORD(MAG_STACK_CAP + 1, 7));
		break;
	case STACK_HUGE:
		atomic_store(&k->ret.ctl, MAG_STACK_WORD(UINT32_MAX, 0));
		break;
	case TAIL_BEHIND:
		atomic_store(&k->fill.tail, atomic_load(&k->fill.tail) - 1);
		break;
	case TAIL_PAST:
		atomic_store(&k->fill.tail, atomic_load(&k->fill.head) + 1);
		break;
	case TAIL_WRAPPED:
		atomic_store(&k->fill.tail,
			     atomic_load(&k->fill.tail) + 0x80000000u);
		break;
	default:
		ck_abort();
	}
	kick(x.fd, 0);
	ck_assert_int_eq(refill(&x, 0, PROTO_MAG_EMPTY), -ENODEV);
	ck_assert_int_eq(refill(&x, 3, PROTO_MAG_FULL), -ENODEV);
	kick(x.fd, 0);
	ck_assert(atomic_load(&x.r->st.flags) & MAG_F_DEAD);
	ck_assert_uint_eq(bad_entries(obs), bad + 1);
	st = check_all(obs, o, checks);
	ck_assert(mag_client_has_magazine(st, x.id));
	json_decref(st);
	/* What it took is its own, through the socket. */
	for (int i = 0; i < 3; i++)
		memset(x.arena + a[i], 0x77, PG);
	ck_assert_int_eq(wire_free1(x.fd, a[0]), 0);
	ck_assert_int_eq(wire_free1(x.fd, a[0]), -EINVAL);
	ck_assert_int_eq(wire_free1(x.fd, o->s[0].off), -EPERM);
	json_decref(check_all(obs, o, checks));
	hostile_close(&x);
	st = mag_wait_fd(obs, only_honest, &(struct only){ o->id },
			 "the corrupt client's spans are freed");
	json_decref(st);
	ck_assert_uint_eq(bad_entries(obs), bad + 1);
}

START_TEST(test_corrupt_indices)
{
	struct honest o;
	int obs = wire_open(td.sock, "observer");
	uint64_t checks = 0;

	honest_open(&o);
	for (int how = 0; how < NCORRUPT; how++)
		corrupt_one(obs, &o, (enum corrupt)how, &checks);
	json_decref(check_all(obs, &o, &checks));
	honest_close(&o);
	close(obs);
}
END_TEST

static Suite *magazine_hostile_suite(void)
{
	Suite *s = suite_create("magazine_hostile");
	TCase *tc;

	tc = tcase_create("entries");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 3 * MAG_WAIT_S);
	tcase_add_test(tc, test_bad_entries);
	tcase_add_test(tc, test_daemon_fields);
	suite_add_tcase(s, tc);

	tc = tcase_create("indices");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 3 * MAG_WAIT_S);
	tcase_add_test(tc, test_corrupt_indices);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_hostile_suite)
