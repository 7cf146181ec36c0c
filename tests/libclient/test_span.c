// SPDX-License-Identifier: MIT
/*
 * Tests for libclient/span.c against the fake daemon of
 * tests/libclient/fake.h: allocation and freeing in batches, all or none,
 * the checks of what the daemon's replies name, the translation between
 * offsets and pointers, and many threads on one connection.  The same
 * calls against the real daemon are tested in tests/e2e/test_span.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "libclient/spanheap.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"
#include "tests/libclient/fake.h"

START_TEST(test_alloc)
{
	struct spanheap_span s, t;
	struct spanheap *h;
	uint64_t off = 0;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc(h, 3, SPANHEAP_ZERO, &s), 0);
	ck_assert_uint_eq(s.npages, 3);
	ck_assert_uint_eq(s.off % PG, 0);
	ck_assert_ptr_eq(s.ptr, spanheap_ptr(h, s.off));
	ck_assert_ptr_ne(s.ptr, spanheap_ptr(h, 0));
	ck_assert_int_eq(spanheap_off(h, s.ptr, &off), 0);
	ck_assert_uint_eq(off, s.off);
	memset(s.ptr, 0x5a, 3 * PG);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &t), 0);
	ck_assert_uint_eq(t.npages, 1);
	ck_assert_ptr_eq(t.ptr, (char *)s.ptr + 3 * PG);
	memset(t.ptr, 0xa5, PG);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 2);
	ck_assert_uint_eq(fk.allocated[0], s.off);
	ck_assert_uint_eq(fk.allocated[1], t.off);
	ck_assert_uint_eq(fk.last_alloc.npages, 1);
	ck_assert_uint_eq(fk.last_alloc.flags, 0);
	ck_assert_uint_eq(fk.alloc_count[0], 1);
	/* The client's writes are in the daemon's mapping. */
	ck_assert_uint_eq(((unsigned char *)fk.arena->base)[s.off], 0x5a);
	ck_assert_uint_eq(((unsigned char *)fk.arena->base)[t.off - 1], 0x5a);
	ck_assert_uint_eq(((unsigned char *)fk.arena->base)[t.off], 0xa5);
}
END_TEST

START_TEST(test_alloc_zero_flag)
{
	struct spanheap_span s;
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc(h, 2, SPANHEAP_ZERO, &s), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.last_alloc.flags, PROTO_ALLOC_ZERO);
	ck_assert_uint_eq(fk.last_alloc.npages, 2);
	ck_assert_uint_eq(fk.last_alloc.count, 1);
}
END_TEST

START_TEST(test_alloc_invalid)
{
	struct spanheap_span s, many[4];
	struct spanheap *h;

	memset(&s, 0xa5, sizeof(s));
	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc(h, 0, 0, &s), -EINVAL);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0x2, &s), -EINVAL);
	ck_assert_int_eq(spanheap_span_alloc(h, FAKE_PAGES + 1, 0, &s),
			 -EINVAL);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 0, many), -EINVAL);
	/* More pages than the whole arena has cannot be had. */
	ck_assert_int_eq(spanheap_span_alloc_batch(h, FAKE_PAGES / 2, 0, 3,
						   many), -ENOMEM);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, SIZE_MAX, many),
			 -ENOMEM);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 0);
	ck_assert_uint_eq(s.off, UINT64_C(0xa5a5a5a5a5a5a5a5));
}
END_TEST

START_TEST(test_alloc_enomem)
{
	struct spanheap_span s, before;
	struct spanheap *h;

	memset(&s, 0xa5, sizeof(s));
	before = s;
	h = fake_connect();
	/* The fake keeps page 0: the whole arena does not fit. */
	ck_assert_int_eq(spanheap_span_alloc(h, FAKE_PAGES, 0, &s), -ENOMEM);
	ck_assert_mem_eq(&s, &before, sizeof(s));
	/* A refused request leaves the connection working. */
	ck_assert_int_eq(spanheap_span_alloc(h, FAKE_PAGES - 1, 0, &s), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 2);
}
END_TEST

START_TEST(test_alloc_batch)
{
	struct spanheap_span spans[150];
	struct spanheap *h;
	size_t i;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 2, 0, 150, spans), 0);
	for (i = 0; i < 150; i++) {
		if (spans[i].npages != 2 ||
		    spans[i].ptr != spanheap_ptr(h, spans[i].off))
			ck_abort_msg("span %zu is wrong", i);
	}
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 3);
	ck_assert_uint_eq(fk.alloc_count[0], 64);
	ck_assert_uint_eq(fk.alloc_count[1], 64);
	ck_assert_uint_eq(fk.alloc_count[2], 22);
	ck_assert_uint_eq(fk.nallocated, 150);
	for (i = 0; i < 150; i++) {
		if (spans[i].off != fk.allocated[i])
			ck_abort_msg("span %zu is not the daemon's", i);
	}
}
END_TEST

/* Refuses the second SPAN_ALLOC, as a daemon out of room would. */
static bool hook_fail_second_alloc(struct fake *f, int cfd,
				   const union fake_req *req)
{
	if (req->hdr.type != PROTO_SPAN_ALLOC ||
	    f->nreq[PROTO_SPAN_ALLOC] != 2)
		return false;
	f->alloc_count[1] = req->alloc.count;
	fake_refuse(cfd, req, -ENOMEM);
	return true;
}

START_TEST(test_alloc_batch_undo)
{
	struct spanheap_span spans[150], before[150];
	struct spanheap *h;
	size_t i;

	memset(spans, 0xa5, sizeof(spans));
	memcpy(before, spans, sizeof(spans));
	fk.hook = hook_fail_second_alloc;
	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 150, spans),
			 -ENOMEM);
	ck_assert_mem_eq(spans, before, sizeof(spans));
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 2);
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 1);
	ck_assert_uint_eq(fk.free_count[0], 64);
	ck_assert_uint_eq(fk.nallocated, 64);
	ck_assert_uint_eq(fk.nfreed, 64);
	for (i = 0; i < 64; i++)
		ck_assert_uint_eq(fk.freed[i], fk.allocated[i]);
	ck_assert_uint_eq(fake_live_spans(), 0);
}
END_TEST

/* Answers SPAN_ALLOC with a span outside the arena or the request. */
static bool hook_bad_span(struct fake *f, int cfd, const union fake_req *req)
{
	struct proto_alloc_reply rep;

	if (req->hdr.type != PROTO_SPAN_ALLOC)
		return false;
	memset(&rep, 0, sizeof(rep));
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.count = req->alloc.count;
	rep.spans[0].off = PG;
	rep.spans[0].npages = req->alloc.npages;
	switch (f->conn) {
	case 0:
		rep.spans[0].off = PG + 8;
		break;
	case 1:
		rep.spans[0].off = FAKE_ARENA_SIZE;
		break;
	case 2:
		rep.spans[0].off = FAKE_ARENA_SIZE - PG;
		break;
	case 3:
		rep.spans[0].off = UINT64_MAX - PG + 1;
		break;
	case 4:
		rep.spans[0].npages = req->alloc.npages - 1;
		break;
	case 5:
		rep.spans[0].npages = UINT64_MAX / PG + 2;
		break;
	case 6:
		rep.count++;
		rep.spans[1] = rep.spans[0];
		break;
	}
	fake_send(cfd, &rep, proto_alloc_reply_size(rep.count), -1, 0);
	return true;
}

START_TEST(test_alloc_bad_span)
{
	struct spanheap_span s, before;
	struct spanheap *h;
	int i;

	memset(&s, 0xa5, sizeof(s));
	before = s;
	fk.hook = hook_bad_span;
	fk.nconn = 7;
	fake_start();
	for (i = 0; i < fk.nconn; i++) {
		ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
		ck_assert_msg(spanheap_span_alloc(h, 2, 0, &s) == -EBADMSG,
			      "bad span %d accepted", i);
		ck_assert_int_eq(spanheap_scavenge(h, NULL), -ENOTCONN);
		spanheap_close(h);
	}
	fake_join();
	ck_assert_mem_eq(&s, &before, sizeof(s));
	ck_assert_uint_eq(fk.nreq[PROTO_SCAVENGE], 0);
}
END_TEST

START_TEST(test_free)
{
	struct spanheap_span s;
	struct spanheap *h;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc(h, 2, 0, &s), 0);
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	/* The daemon refuses a double free; the connection goes on. */
	ck_assert_int_eq(spanheap_span_free(h, s.off), -EINVAL);
	/* No span can start here: refused without asking. */
	ck_assert_int_eq(spanheap_span_free(h, s.off + 1), -EINVAL);
	ck_assert_int_eq(spanheap_span_free(h, FAKE_ARENA_SIZE), -EINVAL);
	ck_assert_int_eq(spanheap_scavenge(h, NULL), 0);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 2);
	ck_assert_uint_eq(fk.free_count[0], 1);
	ck_assert_uint_eq(fk.freed[0], s.off);
	ck_assert_uint_eq(fake_live_spans(), 0);
}
END_TEST

static bool hook_eperm(struct fake *f, int cfd, const union fake_req *req)
{
	(void)f;
	if (req->hdr.type != PROTO_SPAN_FREE)
		return false;
	fake_refuse(cfd, req, -EPERM);
	return true;
}

START_TEST(test_free_refused)
{
	struct spanheap *h;

	fk.hook = hook_eperm;
	h = fake_connect();
	ck_assert_int_eq(spanheap_span_free(h, PG), -EPERM);
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 1);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 1);
}
END_TEST

START_TEST(test_free_batch)
{
	struct spanheap_span spans[150], more[64];
	uint64_t offs[150], more_offs[64];
	struct spanheap *h;
	size_t i;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 150, spans), 0);
	/* Freed in another order than allocated. */
	for (i = 0; i < 150; i++)
		offs[i] = spans[149 - i].off;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 150), 0);
	/* What fits one request is not checked first. */
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 64, more), 0);
	for (i = 0; i < 64; i++)
		more_offs[i] = more[i].off;
	ck_assert_int_eq(spanheap_span_free_batch(h, more_offs, 64), 0);
	spanheap_close(h);
	fake_join();

	/* Every part checked, then every part freed. */
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 7);
	for (i = 0; i < 7; i++) {
		ck_assert_uint_eq(fk.free_count[i], i % 3 == 2 ? 22 : 64);
		ck_assert_uint_eq(fk.free_flags[i],
				  i < 3 ? PROTO_FREE_CHECK : 0);
	}
	ck_assert_uint_eq(fk.nfreed, 150 + 64);
	ck_assert_mem_eq(fk.freed, offs, sizeof(offs));
	ck_assert_mem_eq(fk.freed + 150, more_offs, sizeof(more_offs));
	ck_assert_uint_eq(fake_live_spans(), 0);
}
END_TEST

START_TEST(test_free_batch_duplicate)
{
	struct spanheap_span spans[150];
	uint64_t offs[150];
	struct spanheap *h;
	size_t i;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 150, spans), 0);
	for (i = 0; i < 150; i++)
		offs[i] = spans[i].off;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 0), -EINVAL);
	offs[2] = offs[0];
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 3), -EINVAL);
	offs[2] = spans[2].off;
	/* Far apart, in different round trips. */
	offs[149] = offs[0];
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 150), -EINVAL);
	offs[149] = spans[149].off;
	offs[100] = offs[100] + 8;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 150), -EINVAL);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 0);
	ck_assert_uint_eq(fake_live_spans(), 150);
}
END_TEST

/* Claims success but not for the number of spans asked. */
static bool hook_short_free(struct fake *f, int cfd, const union fake_req *req)
{
	struct proto_free_reply rep;

	(void)f;
	if (req->hdr.type != PROTO_SPAN_FREE)
		return false;
	memset(&rep, 0, sizeof(rep));
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.count = req->free.count - 1;
	fake_send(cfd, &rep, sizeof(rep), -1, 0);
	return true;
}

START_TEST(test_free_bad_reply)
{
	struct spanheap_span spans[2];
	uint64_t offs[2];
	struct spanheap *h;

	fk.hook = hook_short_free;
	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 2, spans), 0);
	offs[0] = spans[0].off;
	offs[1] = spans[1].off;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 2), -EBADMSG);
	ck_assert_int_eq(spanheap_span_free(h, offs[0]), -ENOTCONN);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 1);
}
END_TEST

/*
 * A batch whose second part is refused frees nothing, not even the
 * first part, and the connection goes on.
 */
START_TEST(test_free_batch_all_or_none)
{
	struct spanheap_span spans[150];
	uint64_t offs[150];
	struct spanheap *h;
	size_t i;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 150, spans), 0);
	for (i = 0; i < 150; i++)
		offs[i] = spans[i].off;
	/* Aligned and inside the arena, but not a live span. */
	offs[100] = FAKE_ARENA_SIZE - PG;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 150), -EINVAL);
	ck_assert_uint_eq(fake_live_spans(), 150);
	offs[100] = spans[100].off;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 150), 0);
	spanheap_close(h);
	fake_join();

	/* Two parts checked, the second refused; then 3 checks, 3 frees. */
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 2 + 6);
	ck_assert_uint_eq(fk.free_flags[0], PROTO_FREE_CHECK);
	ck_assert_uint_eq(fk.free_flags[1], PROTO_FREE_CHECK);
	ck_assert_uint_eq(fk.nfreed, 150);
	ck_assert_uint_eq(fake_live_spans(), 0);
}
END_TEST

/* Passes the check of a batch's second part, then refuses to free it. */
static bool hook_free_contradicts(struct fake *f, int cfd,
				  const union fake_req *req)
{
	if (req->hdr.type != PROTO_SPAN_FREE || f->nreq[PROTO_SPAN_FREE] != 4)
		return false;
	fake_refuse(cfd, req, -EINVAL);
	return true;
}

START_TEST(test_free_batch_contradicted)
{
	struct spanheap_span spans[100];
	uint64_t offs[100];
	struct spanheap *h;
	size_t i;

	fk.hook = hook_free_contradicts;
	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 100, spans), 0);
	for (i = 0; i < 100; i++)
		offs[i] = spans[i].off;
	/* The first part is freed: the batch is not all or none any more. */
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 100), -EBADMSG);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 4);
	ck_assert_uint_eq(fk.nfreed, 64);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 0);
}
END_TEST

START_TEST(test_ptr_off)
{
	struct spanheap *h;
	uint64_t size, off = 77;
	uintptr_t base;
	int local;

	h = fake_connect();
	size = spanheap_arena_size(h);
	base = (uintptr_t)spanheap_ptr(h, 0);
	ck_assert_uint_ne(base, 0);
	ck_assert_uint_eq((uintptr_t)spanheap_ptr(h, size - 1),
			  base + size - 1);
	ck_assert_ptr_null(spanheap_ptr(h, size));
	ck_assert_ptr_null(spanheap_ptr(h, UINT64_MAX));

	ck_assert_int_eq(spanheap_off(h, (void *)base, &off), 0);
	ck_assert_uint_eq(off, 0);
	ck_assert_int_eq(spanheap_off(h, (void *)(base + size - 1), &off), 0);
	ck_assert_uint_eq(off, size - 1);
	off = 77;
	ck_assert_int_eq(spanheap_off(h, (void *)(base + size), &off),
			 -EINVAL);
	ck_assert_int_eq(spanheap_off(h, (void *)(base - 1), &off), -EINVAL);
	ck_assert_int_eq(spanheap_off(h, &local, &off), -EINVAL);
	ck_assert_int_eq(spanheap_off(h, NULL, &off), -EINVAL);
	ck_assert_uint_eq(off, 77);
	spanheap_close(h);
	fake_join();

	spanheap_close(NULL);
}
END_TEST

#define THREADS 8
#define THREAD_OPS 250
#define THREAD_HELD 8

struct worker {
	struct spanheap *h;
	pthread_t thread;
	uint64_t rng;
	unsigned int id;
	unsigned int nalloc, nfree;
	const char *failure;
};

/* Each span a worker holds is filled with a byte no other span has. */
static unsigned char worker_tag(const struct worker *w, int slot)
{
	return (unsigned char)(1 + w->id * THREAD_HELD + slot);
}

static bool span_holds(const struct spanheap_span *s, unsigned char tag)
{
	const unsigned char *p = s->ptr;
	size_t i;

	for (i = 0; i < s->npages * PG; i++)
		if (p[i] != tag)
			return false;
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct spanheap_span held[THREAD_HELD];
	int i, slot, n = 0;

	for (i = 0; i < THREAD_OPS && !w->failure; i++) {
		uint64_t r = test_rand(&w->rng);

		if (n < THREAD_HELD && (n == 0 || r & 1)) {
			size_t npages = 1 + (r >> 8) % 4;

			if (spanheap_span_alloc(w->h, npages, 0, &held[n])) {
				w->failure = "alloc failed";
			} else if (held[n].npages != npages ||
				   held[n].ptr !=
					   spanheap_ptr(w->h, held[n].off)) {
				w->failure = "alloc answered another request";
			} else {
				memset(held[n].ptr, worker_tag(w, n),
				       npages * PG);
				n++;
				w->nalloc++;
			}
			continue;
		}
		slot = (int)((r >> 8) % (uint64_t)n);
		if (!span_holds(&held[slot], worker_tag(w, slot)))
			w->failure = "span shared with another thread";
		else if (spanheap_span_free(w->h, held[slot].off))
			w->failure = "free failed";
		w->nfree++;
		/* The last span takes the freed slot, and its tag. */
		if (slot != --n) {
			held[slot] = held[n];
			memset(held[slot].ptr, worker_tag(w, slot),
			       held[slot].npages * PG);
		}
	}
	for (slot = 0; slot < n && !w->failure; slot++) {
		if (!span_holds(&held[slot], worker_tag(w, slot)))
			w->failure = "span shared with another thread";
		else if (spanheap_span_free(w->h, held[slot].off))
			w->failure = "free failed";
		w->nfree++;
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct worker w[THREADS];
	uint64_t seed = test_seed("client threads");
	unsigned int i, nalloc = 0, nfree = 0;
	struct spanheap *h;

	h = fake_connect();
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .h = h, .id = i };
		w[i].rng = seed + i;
		test_rand(&w[i].rng);
		ck_assert_int_eq(pthread_create(&w[i].thread, NULL,
						worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		ck_assert_int_eq(pthread_join(w[i].thread, NULL), 0);
		ck_assert_msg(!w[i].failure, "thread %u: %s", i,
			      w[i].failure);
		nalloc += w[i].nalloc;
		nfree += w[i].nfree;
	}
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(nalloc, nfree);
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], nalloc);
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], nfree);
	ck_assert_uint_eq(fake_live_spans(), 0);
}
END_TEST

static Suite *span_suite(void)
{
	Suite *s = suite_create("span");
	TCase *tc;

	tc = fake_tcase("alloc");
	tcase_add_test(tc, test_alloc);
	tcase_add_test(tc, test_alloc_zero_flag);
	tcase_add_test(tc, test_alloc_invalid);
	tcase_add_test(tc, test_alloc_enomem);
	tcase_add_test(tc, test_alloc_batch);
	tcase_add_test(tc, test_alloc_batch_undo);
	tcase_add_test(tc, test_alloc_bad_span);
	suite_add_tcase(s, tc);

	tc = fake_tcase("free");
	tcase_add_test(tc, test_free);
	tcase_add_test(tc, test_free_refused);
	tcase_add_test(tc, test_free_bad_reply);
	tcase_add_test(tc, test_free_batch);
	tcase_add_test(tc, test_free_batch_duplicate);
	tcase_add_test(tc, test_free_batch_all_or_none);
	tcase_add_test(tc, test_free_batch_contradicted);
	suite_add_tcase(s, tc);

	tc = fake_tcase("ptr");
	tcase_add_test(tc, test_ptr_off);
	suite_add_tcase(s, tc);

	tc = fake_tcase("threads");
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(span_suite)
