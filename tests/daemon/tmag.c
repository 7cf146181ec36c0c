// SPDX-License-Identifier: MIT
/*
 * The magazine under test of the daemon/magazine.c suites (tmag.h).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/daemon/tmag.h"

struct daemon tm_d;
static struct log_limit tm_log;

struct tmag tm;

void tm_setup(void)
{
	inproc_start(&tm_d, ARENA, NULL, false);
	memset(&tm, 0, sizeof(tm));
}

void tm_check(void)
{
	daemon_heap_lock(&tm_d.core);
	heap_check(tm_d.core.heap);
	daemon_heap_unlock(&tm_d.core);
}

void tm_teardown(void)
{
	tm_check();
	inproc_stop(&tm_d);
}

static void tm_map(struct tmag *t, int fd)
{
	void *p = mmap(NULL, t->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       0);

	ck_assert_ptr_ne(p, MAP_FAILED);
	t->r = p;
	ck_assert_int_eq(mag_check_header(t->r, t->size), 0);
}

void tm_open(struct tmag *t, uint64_t max_bytes)
{
	daemon_heap_lock(&tm_d.core);
	ck_assert_int_eq(heap_owner_add(tm_d.core.heap, "mag", 1, &t->owner),
			 0);
	daemon_heap_unlock(&tm_d.core);
	ck_assert_int_eq(magazine_new(&tm_d.core, t->owner, 1, getpid(),
				      max_bytes, &tm_log, NULL, &t->m),
			 0);
	t->size = magazine_size(t->m);
	ck_assert_uint_eq(t->size, mag_layout_size((uint32_t)PAGE));
	tm_map(t, magazine_fd(t->m));
	t->t0 = daemon_now();
}

void tm_close(struct tmag *t)
{
	magazine_free(t->m);
	t->m = NULL;
	daemon_heap_lock(&tm_d.core);
	heap_free_owner(tm_d.core.heap, t->owner, daemon_now());
	ck_assert_int_eq(heap_owner_remove(tm_d.core.heap, t->owner), 0);
	daemon_heap_unlock(&tm_d.core);
	munmap(t->r, t->size);
	t->r = NULL;
}

int tm_refill(struct tmag *t, unsigned int c, uint32_t flags, uint64_t now)
{
	int r;

	daemon_heap_lock(&tm_d.core);
	r = magazine_refill_locked(t->m, c, flags, now);
	daemon_heap_unlock(&tm_d.core);
	return r;
}

void tm_kick(struct tmag *t, uint64_t now)
{
	daemon_heap_lock(&tm_d.core);
	magazine_kick_locked(t->m, now);
	daemon_heap_unlock(&tm_d.core);
}

void tm_tick(struct tmag *t, uint64_t now, uint64_t idle_ns)
{
	daemon_heap_lock(&tm_d.core);
	magazine_tick_locked(t->m, now, idle_ns);
	daemon_heap_unlock(&tm_d.core);
}

void tm_sync(struct tmag *t)
{
	daemon_heap_lock(&tm_d.core);
	magazine_sync_locked(t->m);
	daemon_heap_unlock(&tm_d.core);
}

struct magazine_info tm_info(struct tmag *t)
{
	struct magazine_info mi;

	memset(&mi, 0, sizeof(mi));
	daemon_heap_lock(&tm_d.core);
	magazine_info_locked(t->m, &mi);
	daemon_heap_unlock(&tm_d.core);
	return mi;
}

struct heap_stats tm_hstats(void)
{
	struct heap_stats s;

	daemon_heap_lock(&tm_d.core);
	heap_stats(tm_d.core.heap, &s);
	daemon_heap_unlock(&tm_d.core);
	return s;
}

int tm_state(uint64_t off, uint32_t *ret_owner, uint64_t *ret_npages)
{
	unsigned int st;
	uint64_t np;
	uint32_t o;
	int r;

	daemon_heap_lock(&tm_d.core);
	r = heap_mag_get(tm_d.core.heap, off, &o, &np, &st);
	daemon_heap_unlock(&tm_d.core);
	if (r < 0)
		return -1;
	if (ret_owner)
		*ret_owner = o;
	if (ret_npages)
		*ret_npages = np;
	return (int)st;
}

void tm_expect_state(const struct tmag *t, unsigned int c, uint64_t off,
		     int want)
{
	uint64_t np = 0;
	uint32_t o = 0;

	ck_assert_int_eq(tm_state(off, &o, &np), want);
	ck_assert_uint_eq(o, t->owner);
	ck_assert_uint_eq(np, UINT64_C(1) << c);
}

void tm_expect_free(uint64_t off)
{
	ck_assert_int_eq(tm_state(off, NULL, NULL), -1);
}

uint64_t tm_owner_pages(uint32_t owner)
{
	struct heap_owner_info o;

	daemon_heap_lock(&tm_d.core);
	ck_assert_int_eq(heap_owner_get(tm_d.core.heap, owner, &o), 0);
	daemon_heap_unlock(&tm_d.core);
	return o.npages;
}

uint64_t tm_take(struct tmag *t, unsigned int c)
{
	uint64_t off;

	ck_assert_int_eq(mag_fill_take(&t->r->cls[c].fill, &off), 0);
	return off;
}

void tm_push(struct tmag *t, unsigned int c, uint64_t off)
{
	uint32_t n;

	ck_assert_int_eq(mag_stack_push(&t->r->cls[c].ret, off, MAG_STACK_CAP,
					&n),
			 0);
}

uint32_t tm_ring_count(struct tmag *t, unsigned int c)
{
	return mag_fill_count(&t->r->cls[c].fill);
}

uint32_t tm_stack_count(struct tmag *t, unsigned int c)
{
	return mag_stack_count(&t->r->cls[c].ret);
}

uint32_t tm_limit(struct tmag *t, unsigned int c)
{
	return atomic_load(&t->r->cls[c].limit);
}

uint32_t tm_ring_entries(struct tmag *t, unsigned int c, uint64_t *ret)
{
	struct mag_ring *ring = &t->r->cls[c].fill;
	uint32_t tail = atomic_load(&ring->tail);
	uint32_t n = tm_ring_count(t, c);

	ck_assert_uint_le(n, MAG_RING_CAP);
	for (uint32_t i = 0; i < n; i++)
		ret[i] = atomic_load(&ring->entry[(tail + i) %
						  MAG_RING_CAP]);
	return n;
}

void tm_expect_ring(struct tmag *t, unsigned int c, uint32_t n)
{
	uint64_t e[MAG_RING_CAP];

	ck_assert_uint_eq(tm_ring_entries(t, c, e), n);
	for (uint32_t i = 0; i < n; i++) {
		tm_expect_state(t, c, e[i], HEAP_MAG_FILL);
		for (uint32_t j = 0; j < i; j++)
			ck_assert_uint_ne(e[i], e[j]);
	}
}

void tm_take_n(struct tmag *t, unsigned int c, uint64_t *ret,
	       unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		ret[i] = tm_take(t, c);
}

void tm_expect_n(const struct tmag *t, unsigned int c, const uint64_t *off,
		 unsigned int n, int want)
{
	for (unsigned int i = 0; i < n; i++)
		tm_expect_state(t, c, off[i], want);
}

void tm_grow(struct tmag *t, unsigned int c, unsigned int times,
	     uint64_t now)
{
	for (unsigned int i = 0; i < times; i++)
		ck_assert_int_eq(tm_refill(t, c, PROTO_MAG_EMPTY, now), 0);
}

uint64_t tm_budget(struct tmag *t)
{
	uint64_t sum = 0;

	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		sum += 3 * (uint64_t)tm_limit(t, c) * (PAGE << c);
	return sum;
}

uint64_t tm_fill_arena(uint32_t *ret_owner, uint64_t left)
{
	struct heap_span s;

	daemon_heap_lock(&tm_d.core);
	ck_assert_int_eq(heap_owner_add(tm_d.core.heap, "hog", 2, ret_owner),
			 0);
	ck_assert_int_eq(heap_alloc(tm_d.core.heap, ARENA / PAGE - left, 0,
				    *ret_owner, daemon_now(), &s),
			 0);
	daemon_heap_unlock(&tm_d.core);
	return s.off;
}

void tm_drop_owner(uint32_t owner)
{
	daemon_heap_lock(&tm_d.core);
	heap_free_owner(tm_d.core.heap, owner, daemon_now());
	ck_assert_int_eq(heap_owner_remove(tm_d.core.heap, owner), 0);
	daemon_heap_unlock(&tm_d.core);
}

void tm_use_magazines(uint64_t bytes)
{
	tm_d.clients.mag_bytes = bytes;
	tm_d.clients.mag_idle_ns = IDLE_NS;
}

struct client *tm_client(struct tmag *t, int *ret_peer)
{
	struct proto_welcome w;
	unsigned int nfds;
	struct client *c;
	int fds[2];

	tm_use_magazines(MAXB);
	c = inproc_hello(&tm_d, "mag", PROTO_HELLO_MAGAZINE, ret_peer, &w, fds,
			 2, &nfds);
	ck_assert_uint_eq(nfds, 2);
	ck_assert_ptr_nonnull(c->mag);
	t->m = c->mag;
	t->owner = c->owner;
	t->size = w.mag_size;
	tm_map(t, fds[1]);
	close(fds[0]);
	close(fds[1]);
	t->t0 = daemon_now();
	return c;
}

void tm_send_mag(int peer, uint16_t type, uint32_t seq, uint32_t cls,
		 uint32_t flags)
{
	struct proto_mag m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, type, seq);
	m.cls = cls;
	m.flags = flags;
	ck_assert_int_eq(send(peer, &m, sizeof(m), 0), (ssize_t)sizeof(m));
}

int tm_recv_status(int peer, uint16_t type, uint32_t seq)
{
	union {
		struct proto_hdr hdr;
		struct proto_free_reply f;
	} u;
	size_t n = inproc_recv(&tm_d, peer, &u, sizeof(u));

	ck_assert_int_eq(proto_check_reply(&u, n, type, seq), 0);
	return u.hdr.status;
}

int tm_span_free(int peer, uint32_t seq, const uint64_t *off,
		 uint32_t count, uint32_t *ret_bad)
{
	struct proto_free m;
	struct proto_free_reply rep;
	size_t len = proto_free_size(count), n;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.hdr, PROTO_SPAN_FREE, seq);
	m.count = count;
	memcpy(m.off, off, count * sizeof(*off));
	ck_assert_int_eq(send(peer, &m, len, 0), (ssize_t)len);
	n = inproc_recv(&tm_d, peer, &rep, sizeof(rep));
	ck_assert_int_eq(proto_check_reply(&rep, n, PROTO_SPAN_FREE, seq), 0);
	*ret_bad = rep.bad;
	return rep.hdr.status;
}
