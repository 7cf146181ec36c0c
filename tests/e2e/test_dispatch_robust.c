// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/dispatch.c against the real spanheapd over raw sockets:
 * what no client can break.  SCAVENGE runs on the daemon's scavenger
 * thread and is answered in request order while other clients allocate,
 * free and leave; random datagrams and a client that never reads its
 * replies cannot hurt the daemon or other clients; GC and SCAVENGE are
 * rate-limited per client; hundreds of clients pipelining STATS without
 * reading cost the daemon nothing that stays.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e/dispatch_fixture.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

/* ---- scavenge ---- */

/* Send a bare request of @type; returns its seq. */
static uint32_t send_bare(int fd, uint16_t type)
{
	struct proto_hdr h;
	uint32_t seq = wire_hdr(&h, type);

	wire_send(fd, &h, sizeof(h));
	return seq;
}

static uint64_t stat_u64(int fd, const char *key)
{
	json_t *j = wire_stats(fd);
	uint64_t v = wire_json_u64(j, key);

	json_decref(j);
	return v;
}

/* A daemon whose every GC pass checks the heap, asked for or not. */
static void setup_heap_check(void)
{
	setenv("SPANHEAPD_HEAP_CHECK", "1", 1);
	setup();
	unsetenv("SPANHEAPD_HEAP_CHECK");
}

/* Replies come in the order of the requests, SCAVENGE's too. */
START_TEST(test_scavenge_pipelined)
{
	union {
		struct proto_scavenge_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct proto_alloc a;
	uint32_t s1, s2, s3, s4;
	int fd = wire_open(td.sock, "pipeline");
	json_t *j;

	ck_assert_int_eq(wire_free1(fd, wire_alloc1(fd, 500)), 0);
	s1 = send_bare(fd, PROTO_SCAVENGE);
	s2 = send_bare(fd, PROTO_STATS);
	memset(&a, 0, sizeof(a));
	s3 = wire_hdr(&a.hdr, PROTO_SPAN_ALLOC);
	a.npages = 1;
	a.count = 1;
	wire_send(fd, &a, sizeof(a));
	s4 = send_bare(fd, PROTO_SCAVENGE);
	ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, s1, u.buf,
				    sizeof(u.buf), NULL), 0);
	j = wire_stats_recv(fd, s2, NULL);
	assert_identities(j);
	/* The first SCAVENGE was answered after its pass. */
	ck_assert_uint_eq(wire_json_u64(j, "heap_released"),
			  wire_json_u64(j, "heap_idle"));
	json_decref(j);
	ck_assert_int_eq(wire_reply(fd, PROTO_SPAN_ALLOC, s3, u.buf,
				    sizeof(u.buf), NULL), 0);
	ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, s4, u.buf,
				    sizeof(u.buf), NULL), 0);
	assert_works(fd);
	close(fd);
}
END_TEST

/* A client busy while a SCAVENGE runs, with the spans it holds. */
struct busy {
	int fd;
	struct span live[64];
	size_t n;
	uint64_t rng;
	const unsigned char *base;	/* the arena, mapped */
};

/*
 * One step of the busy client: free a span or take a zeroed one, then
 * check a STATS snapshot.
 */
static void busy_step(struct busy *b)
{
	struct proto_alloc_reply rep;
	uint64_t np = 1 + test_rand(&b->rng) % 64;
	json_t *j;

	if (b->n == 64 || (b->n && test_rand(&b->rng) % 2)) {
		size_t i = test_rand(&b->rng) % b->n;

		ck_assert_int_eq(wire_free1(b->fd, b->live[i].off), 0);
		b->live[i] = b->live[--b->n];
	} else if (wire_alloc(b->fd, np, 1, PROTO_ALLOC_ZERO, &rep) == 0) {
		b->live[b->n].off = rep.spans[0].off;
		b->live[b->n++].npages = np;
		assert_disjoint(b->live, b->n);
		assert_zero(b->base + rep.spans[0].off, np * PG);
	}
	j = wire_stats(b->fd);
	assert_identities(j);
	json_decref(j);
}

/*
 * SCAVENGE runs on the daemon's scavenger thread while other clients
 * allocate and free: every STATS snapshot keeps the identities, spans
 * never overlap, zeroed spans read as zeros, and the daemon's own
 * heap_check() (a GC pass, with SPANHEAPD_HEAP_CHECK) passes at the end.
 */
START_TEST(test_scavenge_concurrent)
{
	union {
		struct proto_scavenge_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	static struct busy b;
	int a = wire_connect(td.sock), memfd;
	unsigned char *base;

	ck_assert_int_eq(wire_hello(a, "scavenger", NULL, &memfd), 0);
	base = mmap(NULL, ARENA_PAGES * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	memset(&b, 0, sizeof(b));
	b.fd = wire_open(td.sock, "busy");
	b.rng = test_seed("dispatch scavenge concurrent");
	b.base = base;
	for (int round = 0; round < 20; round++) {
		uint64_t off = wire_alloc1(a, 2048);
		uint32_t seq;

		/* Dirty pages, so that the pass has work to do. */
		memset(base + off, 0x5a, 2048 * PG);
		ck_assert_int_eq(wire_free1(a, off), 0);
		seq = send_bare(a, PROTO_SCAVENGE);
		for (int k = 0; k < 20; k++)
			busy_step(&b);
		ck_assert_int_eq(wire_reply(a, PROTO_SCAVENGE, seq, u.buf,
					    sizeof(u.buf), NULL), 0);
	}
	wire_gc(b.fd);
	ck_assert_uint_ge(stat_u64(b.fd, "heap_checks"), 1);
	munmap(base, ARENA_PAGES * PG);
	close(memfd);
	close(a);
	close(b.fd);
}
END_TEST

/* A client gone while its SCAVENGE runs: its spans go, the daemon stays. */
START_TEST(test_scavenge_then_close)
{
	struct wire_heap before, after;
	int other = wire_open(td.sock, "stays"), fd;

	wire_heap(other, &before);
	for (int i = 0; i < 10; i++) {
		fd = wire_open(td.sock, "leaves");
		wire_alloc1(fd, 100);
		ck_assert_int_eq(wire_free1(fd, wire_alloc1(fd, 1000)), 0);
		send_bare(fd, PROTO_SCAVENGE);
		close(fd);
	}
	wire_heap_wait_inuse(other, before.inuse, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	assert_works(other);
	close(other);
}
END_TEST

/* ---- robustness ---- */

#define MAX_LIVE 4096

/* The live spans of one connection. */
struct live {
	struct span s[MAX_LIVE];
	size_t n;
};

/*
 * The random test: one connection sends junk and mangled requests, the
 * other behaves; both hold spans, so junk frees can hit either's.
 */
struct rnd {
	uint64_t rng;
	int bad, good;
	struct live junk, fine;		/* spans of bad and of good */
	unsigned int reconnects, served;
};

/* The reply to any request the random test sends. */
union rnd_reply {
	struct proto_hdr hdr;
	struct proto_alloc_reply alloc;
	struct proto_free_reply free;
	struct proto_stats_reply stats;
	char buf[PROTO_REPLY_MAX];
};

static bool live_has(const struct live *l, uint64_t off)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->s[i].off == off)
			return true;
	return false;
}

static void live_del(struct live *l, uint64_t off)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->s[i].off == off) {
			l->s[i] = l->s[--l->n];
			return;
		}
	ck_abort_msg("span %#llx is not live", (unsigned long long)off);
}

/* Add @s to @l after checking it is sane and overlaps nothing live. */
static void live_add(struct rnd *r, struct live *l, struct span s)
{
	const struct live *both[2] = { &r->junk, &r->fine };

	if (s.off % PG || s.npages == 0 ||
	    s.off + s.npages * PG > ARENA_PAGES * PG)
		ck_abort_msg("bad span %#llx+%llu", (unsigned long long)s.off,
			     (unsigned long long)s.npages);
	for (int k = 0; k < 2; k++)
		for (size_t i = 0; i < both[k]->n; i++)
			if (spans_overlap(&s, &both[k]->s[i]))
				ck_abort_msg("span %#llx overlaps another",
					     (unsigned long long)s.off);
	if (l->n == MAX_LIVE)
		ck_abort_msg("too many live spans");
	l->s[l->n++] = s;
}

/*
 * The status that a valid SPAN_FREE from the junk connection must get,
 * and the index it must name, as the protocol defines them.
 */
static int free_expect(const struct rnd *r, const struct proto_free *f,
		       uint32_t *ret_bad)
{
	for (uint32_t i = 0; i < f->count; i++) {
		int st = 0;

		if (live_has(&r->fine, f->off[i]))
			st = -EPERM;
		else if (!live_has(&r->junk, f->off[i]))
			st = -EINVAL;
		for (uint32_t j = 0; st == 0 && j < i; j++)
			if (f->off[j] == f->off[i])
				st = -EINVAL;
		if (st) {
			*ret_bad = i;
			return st;
		}
	}
	return 0;
}

static void fill_random(void *buf, size_t len, uint64_t *rng)
{
	unsigned char *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)test_rand(rng);
}

/* A valid request of a random type into @buf (zeroed); its length. */
static size_t random_request(unsigned char *buf, struct rnd *r)
{
	uint32_t seq = (uint32_t)test_rand(&r->rng);
	struct proto_hello hello;
	struct proto_alloc a;
	struct proto_free f;
	struct proto_hdr h;

	switch (test_rand(&r->rng) % 4) {
	case 0:
		memset(&a, 0, sizeof(a));
		proto_hdr_init(&a.hdr, PROTO_SPAN_ALLOC, seq);
		a.npages = 1 + test_rand(&r->rng) % 40;
		a.count = 1 + (uint32_t)(test_rand(&r->rng) % 4);
		a.flags = (uint32_t)(test_rand(&r->rng) % 2);
		memcpy(buf, &a, sizeof(a));
		return sizeof(a);
	case 1:
		memset(&f, 0, sizeof(f));
		proto_hdr_init(&f.hdr, PROTO_SPAN_FREE, seq);
		f.count = 1 + (uint32_t)(test_rand(&r->rng) % 3);
		for (uint32_t i = 0; i < f.count; i++) {
			const struct live *l = test_rand(&r->rng) % 4 ?
						       &r->junk : &r->fine;

			f.off[i] = l->n ? l->s[test_rand(&r->rng) % l->n].off :
					  test_rand(&r->rng) % ARENA_PAGES * PG;
		}
		memcpy(buf, &f, proto_free_size(f.count));
		return proto_free_size(f.count);
	case 2:
		memset(&hello, 0, sizeof(hello));
		proto_hdr_init(&hello.hdr, PROTO_HELLO, seq);
		fill_random(hello.name, sizeof(hello.name), &r->rng);
		memcpy(buf, &hello, sizeof(hello));
		return sizeof(hello);
	default:
		proto_hdr_init(&h, (uint16_t)(PROTO_STATS +
					      test_rand(&r->rng) % 3), seq);
		memcpy(buf, &h, sizeof(h));
		return sizeof(h);
	}
}

/*
 * One random datagram into @buf; returns its length.  A third are
 * random bytes, a third a valid header with a random body, a third a
 * valid request, half of those with bytes changed or the length nudged.
 */
static size_t random_datagram(unsigned char *buf, size_t size, struct rnd *r)
{
	uint64_t *rng = &r->rng;
	struct proto_hdr h;
	size_t len;

	switch (test_rand(rng) % 3) {
	case 0:
		len = 1 + test_rand(rng) % 700;
		fill_random(buf, len, rng);
		return len;
	case 1:
		len = sizeof(h) + test_rand(rng) % (700 - sizeof(h));
		fill_random(buf, len, rng);
		proto_hdr_init(&h, (uint16_t)(test_rand(rng) % 8),
			       (uint32_t)test_rand(rng));
		memcpy(buf, &h, sizeof(h));
		return len;
	}
	memset(buf, 0, size);
	len = random_request(buf, r);
	switch (test_rand(rng) % 6) {
	case 0:
		for (int k = 0; k < 3; k++) {
			size_t at = test_rand(rng) % len;

			buf[at] = (unsigned char)test_rand(rng);
		}
		break;
	case 1:
		len -= 1 + test_rand(rng) % (len - 1) / 2;
		break;
	case 2:
		len += 1 + test_rand(rng) % 16;
		break;
	}
	return len;
}

/*
 * The reply @u (status @st) to the valid request @buf of datagram @i
 * must be what the protocol promises; the live spans follow it.
 */
static void check_valid(struct rnd *r, int i, const unsigned char *buf,
			size_t len, int st, const union rnd_reply *u)
{
	struct proto_alloc a;
	struct proto_free f;
	uint32_t bad = 0;
	int want;

	switch (u->hdr.type & (uint16_t)~PROTO_REPLY) {
	case PROTO_HELLO:
		if (st != -EISCONN)
			ck_abort_msg("datagram %d: HELLO got %d", i, st);
		return;
	case PROTO_SPAN_ALLOC:
		memcpy(&a, buf, sizeof(a));
		want = a.npages && a.npages <= ARENA_PAGES ? 0 : -EINVAL;
		if (st != want && !(want == 0 && st == -ENOMEM))
			ck_abort_msg("datagram %d: ALLOC of %llu pages got %d",
				     i, (unsigned long long)a.npages, st);
		for (uint32_t k = 0; st == 0 && k < u->alloc.count; k++)
			live_add(r, &r->junk,
				 (struct span){ u->alloc.spans[k].off,
						u->alloc.spans[k].npages });
		return;
	case PROTO_SPAN_FREE:
		memset(&f, 0, sizeof(f));
		memcpy(&f, buf, len);
		want = free_expect(r, &f, &bad);
		if (st != want || (st && u->free.bad != bad))
			ck_abort_msg("datagram %d: FREE got %d at %u, "
				     "want %d at %u", i, st, u->free.bad, want,
				     bad);
		for (uint32_t k = 0; st == 0 && k < f.count; k++)
			live_del(&r->junk, f.off[k]);
		return;
	default:
		if (st)
			ck_abort_msg("datagram %d: %s got %d", i,
				     proto_type_name(u->hdr.type), st);
	}
}

/* Datagram @i from the junk connection, and its reply. */
static void junk_step(struct rnd *r, int i)
{
	static unsigned char buf[PROTO_REQUEST_MAX + 256];
	static union rnd_reply u;
	size_t len = random_datagram(buf, sizeof(buf), r);
	int check = len > PROTO_REQUEST_MAX ? -EBADMSG :
					      proto_check_request(buf, len);
	struct proto_hdr h;
	int st;

	memset(&h, 0, sizeof(h));
	if (len >= sizeof(h))
		memcpy(&h, buf, sizeof(h));
	h.type &= (uint16_t)~PROTO_REPLY;
	wire_send(r->bad, buf, len);
	/*
	 * A MAG_KICK or a BYE is never answered, refused or not: as if it
	 * said so.
	 */
	st = check;
	if (h.type != PROTO_MAG_KICK && h.type != PROTO_BYE)
		do
			st = wire_reply(r->bad, h.type, h.seq, u.buf,
					sizeof(u.buf), NULL);
		while (check == 0 && st == 0 && h.type == PROTO_STATS &&
		       u.stats.flags & PROTO_MORE);
	if (check == 0 && h.type == PROTO_BYE) {
		/* It went for good, and its spans with it. */
		ck_assert(wire_closed(r->bad));
		close(r->bad);
		r->junk.n = 0;
		r->bad = wire_open(td.sock, "random");
		r->reconnects++;
		return;
	}
	if (check == 0) {
		check_valid(r, i, buf, len, st, &u);
		return;
	}
	if (st != check)
		ck_abort_msg("datagram %d (%zu bytes, %s): status %d, want %d",
			     i, len, proto_type_name(h.type), st, check);
	if (check == -EPROTONOSUPPORT) {
		/* That one ends the connection, and frees its spans. */
		ck_assert(wire_closed(r->bad));
		close(r->bad);
		r->junk.n = 0;
		r->bad = wire_open(td.sock, "random");
		r->reconnects++;
	}
}

/* Meanwhile the good connection allocates and frees, and must not fail. */
static void good_step(struct rnd *r, int i)
{
	struct proto_alloc_reply rep;
	uint64_t off[16];
	uint32_t count;

	if (i % 4 == 0) {
		count = 1 + (uint32_t)(test_rand(&r->rng) % 4);
		ck_assert_int_eq(wire_alloc(r->good,
					    1 + test_rand(&r->rng) % 32,
					    count, 0, &rep), 0);
		for (uint32_t k = 0; k < count; k++)
			live_add(r, &r->fine,
				 (struct span){ rep.spans[k].off,
						rep.spans[k].npages });
	} else if (i % 4 == 2 && r->fine.n) {
		/* One at random, or 16 at once when that many pile up. */
		if (r->fine.n >= 16) {
			count = 16;
			for (uint32_t k = 0; k < count; k++)
				off[k] = r->fine.s[k].off;
		} else {
			count = 1;
			off[0] = r->fine.s[test_rand(&r->rng) % r->fine.n].off;
		}
		ck_assert_int_eq(wire_free(r->good, off, count, NULL), 0);
		for (uint32_t k = 0; k < count; k++)
			live_del(&r->fine, off[k]);
	} else {
		return;
	}
	r->served++;
}

START_TEST(test_random_datagrams)
{
	static struct rnd r;
	uint64_t pages = 0;
	json_t *j;

	memset(&r, 0, sizeof(r));
	r.rng = test_seed("dispatch random datagrams");
	r.bad = wire_open(td.sock, "random");
	r.good = wire_open(td.sock, "good");
	for (int i = 0; i < 2000; i++) {
		junk_step(&r, i);
		good_step(&r, i);
	}
	/* With SPANHEAPD_HEAP_CHECK, a GC runs the daemon's heap_check(). */
	wire_gc(r.good);
	j = wire_stats(r.good);
	assert_identities(j);
	ck_assert_uint_ge(wire_json_u64(j, "heap_checks"), 1);
	for (size_t k = 0; k < r.junk.n; k++)
		pages += r.junk.s[k].npages;
	for (size_t k = 0; k < r.fine.n; k++)
		pages += r.fine.s[k].npages;
	ck_assert_uint_eq(wire_json_u64(j, "heap_inuse"), pages * PG);
	ck_assert_uint_eq(wire_json_u64(j, "heap_objects"),
			  r.junk.n + r.fine.n);
	json_decref(j);
	ck_assert_int_eq(kill(td.pid, 0), 0);
	fprintf(stderr, "random datagrams: %u reconnects, %u good requests, "
		"%zu junk spans live\n", r.reconnects, r.served, r.junk.n);
	close(r.bad);
	close(r.good);
}
END_TEST

/*
 * A client that sends STATS after STATS and never reads: the daemon
 * stops reading it instead of queueing replies, so its memory stays put
 * and everyone else is served; the client later gets every reply, in
 * order.
 */
START_TEST(test_stats_flood_bounded)
{
	int flood = wire_open(td.sock, "flood"), other;
	const uint32_t first = 0x100000;	/* seqs of our own */
	uint64_t rss0, rss1;
	struct proto_hdr h;
	int sent = 0;
	json_t *j;

	other = wire_open(td.sock, "other");
	for (int i = 0; i < 20; i++)
		json_decref(wire_stats(flood));
	rss0 = wire_rss_kib(td.pid);
	while (sent < 10000) {
		struct pollfd p = { .fd = flood, .events = POLLOUT };

		proto_hdr_init(&h, PROTO_STATS, first + (uint32_t)sent);
		if (send(flood, &h, sizeof(h), MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    (ssize_t)sizeof(h)) {
			sent++;
			continue;
		}
		ck_assert_int_eq(errno, EAGAIN);
		if (poll(&p, 1, 300) == 0)
			break;	/* the daemon stopped reading us */
	}
	ck_assert_msg(sent < 10000, "the daemon took 10000 requests unread");
	rss1 = wire_rss_kib(td.pid);
	ck_assert_msg(rss1 < rss0 + 4096, "RSS grew from %llu to %llu KiB",
		      (unsigned long long)rss0, (unsigned long long)rss1);

	/* Others are served meanwhile. */
	j = wire_stats(other);
	assert_identities(j);
	json_decref(j);
	assert_works(other);

	/* Every request got its reply, in order. */
	for (int i = 0; i < sent; i++) {
		j = wire_stats_recv(flood, first + (uint32_t)i, NULL);
		json_decref(j);
	}
	assert_works(flood);
	fprintf(stderr, "stats flood: %d requests before the daemon stopped "
		"reading; RSS %llu -> %llu KiB\n", sent,
		(unsigned long long)rss0, (unsigned long long)rss1);
	close(flood);
	close(other);
}
END_TEST

/* ---- control requests ---- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Is a datagram waiting at @fd? */
static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, 0) == 1;
}

/*
 * A client that pipelines GC after GC is answered at most once per
 * 100 ms (CLIENT_CONTROL_INTERVAL_NS), every request in order, the ones
 * that came too soon counted in control_deferred; another client's
 * requests are served all the while.  The bound on the time is a lower
 * one, and it follows from the rate limit: before it, the ten replies
 * came at once.
 */
START_TEST(test_gc_rate_limited)
{
	enum { N = 10 };
	union {
		struct proto_gc_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	int gc = wire_open(td.sock, "gc-loop"), other;
	uint32_t seq[N];
	uint64_t t0, elapsed, deferred0, rounds = 0, rounds_between = 0;
	int got = 0;

	other = wire_open(td.sock, "other");
	deferred0 = stat_u64(other, "control_deferred");
	t0 = mono_ns();
	for (int i = 0; i < N; i++)
		seq[i] = send_bare(gc, PROTO_GC);
	while (got < N) {
		/* Round trips of the other client, in order, all answered. */
		assert_works(other);
		rounds++;
		if (got)
			rounds_between++;
		while (got < N && readable(gc)) {
			ck_assert_int_eq(wire_reply(gc, PROTO_GC, seq[got],
						    u.buf, sizeof(u.buf),
						    NULL), 0);
			got++;
		}
		ck_assert_uint_lt(rounds, 10000000);
	}
	elapsed = mono_ns() - t0;
	ck_assert_msg(elapsed >= (N - 1) * UINT64_C(100000000),
		      "%d GC replies in %llu ms", N,
		      (unsigned long long)(elapsed / 1000000));
	ck_assert_uint_ge(stat_u64(other, "control_deferred"), deferred0 + 1);
	ck_assert_uint_ge(rounds_between, N - 1);
	assert_works(gc);
	fprintf(stderr, "gc rate limit: %d GCs answered in %llu ms, %llu "
		"alloc+free round trips of another client meanwhile\n", N,
		(unsigned long long)(elapsed / 1000000),
		(unsigned long long)rounds);
	close(gc);
	close(other);
}
END_TEST

/* SCAVENGE shares GC's limit; both replies still come, in order. */
START_TEST(test_scavenge_rate_limited)
{
	union {
		struct proto_scavenge_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	int fd = wire_open(td.sock, "scavenge");
	uint64_t deferred0 = stat_u64(fd, "control_deferred");
	uint32_t s1, s2, s3;

	s1 = send_bare(fd, PROTO_GC);
	s2 = send_bare(fd, PROTO_SCAVENGE);
	s3 = send_bare(fd, PROTO_SCAVENGE);
	ck_assert_int_eq(wire_reply(fd, PROTO_GC, s1, u.buf, sizeof(u.buf),
				    NULL), 0);
	do
		ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, s2, u.buf,
					    sizeof(u.buf), NULL), 0);
	while (u.rep.flags & PROTO_MORE);
	do
		ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, s3, u.buf,
					    sizeof(u.buf), NULL), 0);
	while (u.rep.flags & PROTO_MORE);
	ck_assert_uint_ge(stat_u64(fd, "control_deferred"), deferred0 + 1);
	close(fd);
}
END_TEST

/*
 * Clients that hang up while their GC or SCAVENGE waits for its turn:
 * the daemon's fds go back to where they were, and it exits cleanly
 * (under ASan, with no leak: the timer and the client are freed).
 */
START_TEST(test_deferred_hangup)
{
	int other = wire_open(td.sock, "stays");
	unsigned int fds0 = wire_fd_count(td.pid), fds = 0;
	json_t *j;

	for (int i = 0; i < 20; i++) {
		int fd = wire_open(td.sock, "leaves");

		send_bare(fd, PROTO_GC);
		send_bare(fd, i % 2 ? PROTO_SCAVENGE : PROTO_GC);
		send_bare(fd, PROTO_STATS);
		close(fd);
	}
	for (int i = 0; i < 3000; i++) {
		fds = wire_fd_count(td.pid);
		if (fds == fds0)
			break;
		usleep(10000);
	}
	ck_assert_uint_eq(fds, fds0);
	j = wire_stats(other);
	ck_assert_uint_eq(wire_json_u64(json_object_get(j, "clients"),
					"count"), 1);
	json_decref(j);
	assert_works(other);
	close(other);
}
END_TEST

/* ---- many clients pipelining STATS ---- */

/* Bytes of @fd's requests the daemon has not read yet. */
static int unread(int fd)
{
	int n = 0;

	ck_assert_int_eq(ioctl(fd, SIOCOUTQ, &n), 0);
	return n;
}

/*
 * Round trips of @other until the daemon reads none of @fd's requests:
 * it reads one request of each readable client per turn of its loop,
 * so what a client left unread through three of another's round trips
 * is what the daemon does not read (its reply waits).
 */
static void wait_stalled(int other, const int *fd, int n)
{
	static int before[1024];

	ck_assert_int_le(n, 1024);
	for (int round = 0; round < 10000; round++) {
		bool moved = false;

		for (int i = 0; i < n; i++)
			before[i] = unread(fd[i]);
		for (int k = 0; k < 3; k++)
			assert_works(other);
		for (int i = 0; i < n && !moved; i++)
			moved = unread(fd[i]) != before[i];
		if (!moved)
			return;
	}
	ck_abort_msg("the daemon kept reading pipelined STATS");
}

/* Room for a thousand connections in this process and in the daemon. */
static void setup_many_fds(void)
{
	struct rlimit rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 4096)
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
	ck_assert_msg(rl.rlim_cur >= 2048,
		      "the test needs 2048 fds; the hard limit is %llu",
		      (unsigned long long)rl.rlim_max);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	setup_no_quarantine();
}

/*
 * Hundreds of clients pipeline STATS and do not read, while another
 * client does alloc/free round trips and a new one connects: every
 * request is answered, the daemon stops reading the flooders, and once
 * they have gone its RSS is within 16 MiB of what it was (before, each
 * held every chunk of its reply: 61 MB kept after 900 clients).
 */
/*
 * What 900 connections may leave the daemon's RSS grown by: the memory
 * of the connections themselves, which the allocator keeps (about 5 MiB
 * here), against the 61 MB of the bug.  Under TSan every byte the
 * daemon touches also costs shadow memory, which the sanitizer's
 * allocator never gives back: the same heap shows as about 19 MiB.
 */
#ifdef __SANITIZE_THREAD__
#define FLOOD_RSS_KIB (32 * 1024)
#else
#define FLOOD_RSS_KIB (16 * 1024)
#endif

START_TEST(test_stats_flood_many_clients)
{
	enum { N = 900 };
	static int fd[N];
	static uint32_t sent[N];
	int other = wire_open(td.sock, "other"), late;
	uint64_t rss0, rss_peak, rss1;
	char name[PROTO_NAME_MAX];
	unsigned int total = 0;
	struct proto_hdr h;
	json_t *j;

	for (int i = 0; i < 20; i++)
		json_decref(wire_stats(other));
	rss0 = wire_rss_kib(td.pid);
	/* Long names: before, every reply listed them all, in 9 chunks. */
	memset(name, 'f', sizeof(name) - 1);
	name[sizeof(name) - 1] = 0;
	for (int i = 0; i < N; i++) {
		fd[i] = wire_open(td.sock, name);
		/* Pipeline until the socket takes no more. */
		for (;;) {
			proto_hdr_init(&h, PROTO_STATS, 0x100000 + sent[i]);
			if (send(fd[i], &h, sizeof(h),
				 MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(h))
				break;
			sent[i]++;
		}
		ck_assert_int_eq(errno, EAGAIN);
		total += sent[i];
		if (i % 20 == 0)
			assert_works(other);
	}
	late = wire_open(td.sock, "late");
	assert_works(late);
	wait_stalled(other, fd, N);
	for (int i = 0; i < N; i++)
		ck_assert_int_gt(unread(fd[i]), 0);
	rss_peak = wire_rss_kib(td.pid);
	/* Each was answered in order, and leaves with replies unread. */
	for (int i = 0; i < N; i++) {
		json_decref(wire_stats_recv(fd[i], 0x100000, NULL));
		close(fd[i]);
	}
	for (int i = 0; i < 3000; i++) {
		j = wire_stats(other);
		if (wire_json_u64(json_object_get(j, "clients"), "count") == 2)
			break;
		json_decref(j);
		j = NULL;
		usleep(10000);
	}
	ck_assert_ptr_nonnull(j);
	json_decref(j);
	assert_works(late);
	rss1 = wire_rss_kib(td.pid);
	fprintf(stderr, "stats flood: %d clients pipelined %u STATS; RSS "
		"%llu KiB before, %llu while they waited, %llu after\n", N,
		total, (unsigned long long)rss0, (unsigned long long)rss_peak,
		(unsigned long long)rss1);
	ck_assert_msg(rss1 < rss0 + FLOOD_RSS_KIB,
		      "RSS grew from %llu to %llu KiB",
		      (unsigned long long)rss0, (unsigned long long)rss1);
	close(late);
	close(other);
}
END_TEST

static Suite *dispatch_robust_suite(void)
{
	Suite *s = suite_create("dispatch-robust");
	TCase *tc;

	tc = tcase_create("scavenge");
	tcase_add_checked_fixture(tc, setup_heap_check, teardown);
	tcase_add_test(tc, test_scavenge_pipelined);
	tcase_add_test(tc, test_scavenge_concurrent);
	tcase_add_test(tc, test_scavenge_then_close);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("robustness");
	tcase_add_checked_fixture(tc, setup_heap_check, teardown);
	tcase_add_test(tc, test_random_datagrams);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("flow_control");
	tcase_add_checked_fixture(tc, setup_no_quarantine, teardown);
	tcase_add_test(tc, test_stats_flood_bounded);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);

	tc = tcase_create("flood");
	tcase_add_checked_fixture(tc, setup_many_fds, teardown);
	tcase_add_test(tc, test_stats_flood_many_clients);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);

	tc = tcase_create("control");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_gc_rate_limited);
	tcase_add_test(tc, test_scavenge_rate_limited);
	tcase_add_test(tc, test_deferred_hangup);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(dispatch_robust_suite)
