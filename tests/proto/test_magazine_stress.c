// SPDX-License-Identifier: MIT
/*
 * The stress cases of proto/magazine.c, a suite of their own (they
 * spin two threads, which memcheck runs one at a time: check-valgrind
 * leaves them to ThreadSanitizer, check-tsan).  One thread is the
 * client and the other the daemon, and every operation of the format
 * runs at once on one class; tests/proto/test_magazine.c has the
 * single-threaded cases.  It links only the protocol.
 */
#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/magazine.h"
#include "tests/lib/testlib.h"

#define PAGE 4096u
#define PID 4242
#define MASK (MAG_RING_CAP - 1)

static alignas(MAG_LINE) unsigned char mem[3 * PAGE];

static struct mag_region *fresh(void)
{
	ck_assert_int_eq(mag_format(mem, sizeof(mem), PAGE, PID), 0);
	return (struct mag_region *)mem;
}

/*
 * The stress cases: one thread is the client (take, push, pop, in a
 * random mix), the other the daemon (push, sync, revoke, stack take),
 * each on its own records; the main thread then drains what is left as
 * the daemon and counts each offset's owners.  The daemon produces
 * offset (k + 1) * PAGE as its k-th, STRESS_N in all, each once; it
 * knows which it revoked from its own record of what it pushed, and
 * revokes at most half of them, so that the client takes at least the
 * other half.
 */
#define STRESS_N 300000u

struct stress_mix {
	const char *name;
	unsigned int cls;
	uint32_t start;		/* ring indices, stack generation */
	unsigned int push, sync, revoke, take;	/* the daemon's weights */
	unsigned int ctake, cpush, cpop;	/* the client's */
};

struct stress {
	struct mag_class *c;
	const struct stress_mix *mix;
	uint64_t seed;
	_Atomic bool done;		/* the daemon has produced them all */
	/* The client's. */
	uint64_t *held;			/* the offsets it holds */
	size_t nheld;
	uint32_t *c_take, *c_push, *c_pop;
	uint64_t c_takes, c_bad, last_take;
	/* The daemon's. */
	struct mag_fill_cursor cur;
	uint64_t rec[MAG_RING_CAP];	/* index i pushed rec[i & MASK] */
	uint64_t produced, revokes;
	uint32_t *d_sync, *d_revoke, *d_take;
	uint64_t d_bad;
};

/* The k of an offset, or STRESS_N for one the daemon never produced. */
static uint64_t stress_k(uint64_t off)
{
	if (off % PAGE || off < PAGE || off / PAGE > STRESS_N)
		return STRESS_N;
	return off / PAGE - 1;
}

/* A pick among @n weights, in proportion. */
static unsigned int pick(uint64_t *rng, const unsigned int *w, unsigned int n)
{
	unsigned int sum = 0, r;

	for (unsigned int i = 0; i < n; i++)
		sum += w[i];
	r = (unsigned int)(test_rand(rng) % sum);
	for (unsigned int i = 0;; i++) {
		if (r < w[i])
			return i;
		r -= w[i];
	}
}

static void client_take(struct stress *s)
{
	uint64_t off, k;
	int rc = mag_fill_take(&s->c->fill, &off);

	if (rc == -EAGAIN)
		return;
	k = rc ? STRESS_N : stress_k(off);
	/* In the order produced, revoked ones skipped. */
	if (k == STRESS_N || off <= s->last_take || s->nheld == STRESS_N) {
		s->c_bad++;
		return;
	}
	s->last_take = off;
	s->c_take[k]++;
	s->c_takes++;
	s->held[s->nheld++] = off;
}

static void client_push(struct stress *s, uint64_t *rng)
{
	size_t j;
	uint32_t n;
	int rc;

	if (!s->nheld)
		return;
	j = test_rand(rng) % s->nheld;
	rc = mag_stack_push(&s->c->ret, s->held[j], MAG_STACK_CAP, &n);
	if (rc == -EAGAIN)
		return;
	if (rc || n > MAG_STACK_CAP) {
		s->c_bad++;
		return;
	}
	s->c_push[stress_k(s->held[j])]++;
	s->held[j] = s->held[--s->nheld];
}

static void client_pop(struct stress *s)
{
	uint64_t off, k;
	int rc = mag_stack_pop(&s->c->ret, &off, NULL);

	if (rc == -EAGAIN)
		return;
	k = rc ? STRESS_N : stress_k(off);
	if (k == STRESS_N || s->nheld == STRESS_N) {
		s->c_bad++;
		return;
	}
	s->c_pop[k]++;
	s->held[s->nheld++] = off;
}

static void *stress_client(void *arg)
{
	struct stress *s = arg;
	const unsigned int w[] = { s->mix->ctake, s->mix->cpush,
				   s->mix->cpop };
	uint64_t rng = s->seed ^ UINT64_C(0x9e3779b97f4a7c15);

	/* Relaxed: a flag to stop; the joins order the rest. */
	while (!atomic_load_explicit(&s->done, memory_order_relaxed)) {
		switch (pick(&rng, w, 3)) {
		case 0:
			client_take(s);
			break;
		case 1:
			client_push(s, &rng);
			break;
		default:
			client_pop(s);
			break;
		}
	}
	return NULL;
}

/* The daemon's sync: it names what was taken from its own record. */
static void daemon_sync(struct stress *s)
{
	uint32_t seen = s->cur.seen;
	int n = mag_fill_sync(&s->c->fill, &s->cur);

	if (n < 0) {
		s->d_bad++;
		return;
	}
	for (int i = 0; i < n; i++)
		s->d_sync[stress_k(s->rec[(seen + (uint32_t)i) & MASK])]++;
}

static int daemon_revoke(struct stress *s)
{
	uint32_t seen = s->cur.seen;
	int rc = mag_fill_revoke(&s->c->fill, &s->cur);

	if (rc == 0) {
		s->d_revoke[stress_k(s->rec[seen & MASK])]++;
		s->revokes++;
	} else if (rc == -EAGAIN) {
		/* The client took meanwhile: see what. */
		daemon_sync(s);
	} else if (rc != -ENOENT) {
		s->d_bad++;
	}
	return rc;
}

static void daemon_push(struct stress *s)
{
	uint32_t head = s->cur.head;
	uint64_t off = (s->produced + 1) * PAGE;
	int rc = mag_fill_push(&s->c->fill, &s->cur, off);

	if (rc == 0) {
		s->rec[head & MASK] = off;
		s->produced++;
	} else if (rc != -EAGAIN) {
		s->d_bad++;
	}
}

static int daemon_take(struct stress *s)
{
	uint64_t off, k;
	int rc = mag_stack_take(&s->c->ret, &off);

	if (rc == -EAGAIN || rc == -ENOENT)
		return rc;
	k = rc ? STRESS_N : stress_k(off);
	if (k == STRESS_N) {
		s->d_bad++;
		return -EBADMSG;
	}
	s->d_take[k]++;
	return 0;
}

static void *stress_daemon(void *arg)
{
	struct stress *s = arg;
	const unsigned int w[] = { s->mix->push, s->mix->sync, s->mix->revoke,
				   s->mix->take };
	uint64_t rng = s->seed;

	while (s->produced < STRESS_N) {
		switch (pick(&rng, w, 4)) {
		case 0:
			daemon_push(s);
			break;
		case 1:
			daemon_sync(s);
			break;
		case 2:
			if (s->revokes < STRESS_N / 2)
				daemon_revoke(s);
			else
				daemon_sync(s);
			break;
		default:
			daemon_take(s);
			break;
		}
	}
	atomic_store_explicit(&s->done, true, memory_order_relaxed);
	return NULL;
}

static uint32_t *counts(void)
{
	uint32_t *p = calloc(STRESS_N, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	return p;
}

static void stress(const struct stress_mix *mix)
{
	struct stress s = { .mix = mix };
	struct mag_ring *ring;
	uint32_t *hold = counts();
	uint64_t bad = 0, first = STRESS_N, off;
	pthread_t client, daemon;
	int rc;

	s.c = &fresh()->cls[mix->cls];
	ring = &s.c->fill;
	s.seed = test_seed(mix->name);
	s.held = calloc(STRESS_N, sizeof(*s.held));
	ck_assert_ptr_nonnull(s.held);
	s.c_take = counts();
	s.c_push = counts();
	s.c_pop = counts();
	s.d_sync = counts();
	s.d_revoke = counts();
	s.d_take = counts();
	atomic_store(&ring->head, mix->start);
	atomic_store(&ring->tail, mix->start);
	s.cur.head = mix->start;
	s.cur.seen = mix->start;
	atomic_store(&s.c->ret.ctl, MAG_STACK_WORD(0, mix->start));

	ck_assert_int_eq(pthread_create(&client, NULL, stress_client, &s), 0);
	ck_assert_int_eq(pthread_create(&daemon, NULL, stress_daemon, &s), 0);
	ck_assert_int_eq(pthread_join(daemon, NULL), 0);
	ck_assert_int_eq(pthread_join(client, NULL), 0);
	ck_assert_uint_eq(s.c_bad, 0);
	ck_assert_uint_eq(s.d_bad, 0);

	/* The client is gone: the daemon takes back the rest, uncontended. */
	daemon_sync(&s);
	while ((rc = daemon_revoke(&s)) == 0)
		;
	ck_assert_int_eq(rc, -ENOENT);
	while ((rc = daemon_take(&s)) == 0)
		;
	ck_assert_int_eq(rc, -ENOENT);
	ck_assert_uint_eq(s.d_bad, 0);
	ck_assert_uint_eq(s.produced, STRESS_N);
	ck_assert_uint_eq(s.cur.head, (uint32_t)(mix->start + STRESS_N));
	ck_assert_uint_eq(s.cur.seen, s.cur.head);
	ck_assert_uint_eq(atomic_load(&ring->head), s.cur.head);
	ck_assert_uint_eq(atomic_load(&ring->tail), s.cur.head);
	ck_assert_int_eq(mag_fill_take(ring, &off), -EAGAIN);
	ck_assert_int_eq(mag_stack_count_checked(&s.c->ret), 0);
	/* At most half revoked while it ran, and a ring full at the end. */
	ck_assert_uint_ge(s.c_takes, STRESS_N / 2 - MAG_RING_CAP);

	/*
	 * Out of the ring by exactly one side, once; the daemon's syncs
	 * saw exactly the client's takes; every push popped once; and one
	 * owner at the end: the client, or the daemon by revoke or take.
	 */
	for (size_t i = 0; i < s.nheld; i++)
		hold[stress_k(s.held[i])]++;
	for (uint64_t k = 0; k < STRESS_N; k++) {
		if (s.c_take[k] + s.d_revoke[k] == 1 &&
		    s.d_sync[k] == s.c_take[k] &&
		    s.c_push[k] == s.c_pop[k] + s.d_take[k] &&
		    hold[k] + s.d_revoke[k] + s.d_take[k] == 1)
			continue;
		if (!bad++)
			first = k;
	}
	ck_assert_msg(!bad,
		      "%llu offsets not owned once, the first %llu: taken %u, "
		      "revoked %u, synced %u, pushed %u, popped %u, taken "
		      "back %u, held %u",
		      (unsigned long long)bad, (unsigned long long)first,
		      s.c_take[first], s.d_revoke[first], s.d_sync[first],
		      s.c_push[first], s.c_pop[first], s.d_take[first],
		      hold[first]);
	free(hold);
	free(s.held);
	free(s.c_take);
	free(s.c_push);
	free(s.c_pop);
	free(s.d_sync);
	free(s.d_revoke);
	free(s.d_take);
}

/* Everything at once, from 0. */
static const struct stress_mix mix_all = {
	"stress_all", 0, 0, 3, 2, 1, 2, 2, 1, 1,
};

/* Across 2^32 of indices and generations. */
static const struct stress_mix mix_wrap = {
	"stress_wrap", 3, UINT32_MAX - 1000, 3, 2, 1, 2, 2, 1, 1,
};

/*
 * A full ring, revoked and refilled under a client that takes: the
 * head it reads can then be more than the capacity past the tail it
 * read before, which is a stale tail, not a corrupt ring.
 */
static const struct stress_mix mix_full = {
	"stress_full", 6, UINT32_MAX - 100000, 8, 1, 4, 1, 4, 1, 1,
};

START_TEST(test_stress_all)
{
	stress(&mix_all);
}
END_TEST

START_TEST(test_stress_wrap)
{
	stress(&mix_wrap);
}
END_TEST

START_TEST(test_stress_full)
{
	stress(&mix_full);
}
END_TEST

static Suite *magazine_stress_suite(void)
{
	Suite *s = suite_create("magazine_stress");
	TCase *tc;

	tc = tcase_create("stress");
	tcase_add_test(tc, test_stress_all);
	tcase_add_test(tc, test_stress_wrap);
	tcase_add_test(tc, test_stress_full);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(magazine_stress_suite)
