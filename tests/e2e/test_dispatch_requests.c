// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/dispatch.c against the real spanheapd over raw sockets:
 * the requests that do the work.  SPAN_ALLOC hands out disjoint spans,
 * zeroed on request, and refuses bad sizes and batches without changing
 * the heap; SPAN_FREE frees only the starts of the connection's own
 * spans, a batch all or none, and with PROTO_FREE_CHECK answers as it
 * would but frees nothing; a client's spans go with its connection,
 * or at the next GC with its process; STATS, SCAVENGE and GC answer with
 * figures that keep the heap's identities.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/e2e/dispatch_fixture.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"
#include "tests/lib/wire.h"

/* ---- alloc ---- */

START_TEST(test_alloc_spans_disjoint)
{
	static const uint64_t sizes[] = { 1, 2, 3, 17, 128, 129, 1000 };
	struct proto_alloc_reply rep;
	struct span s[7 * 8];
	uint64_t off[PROTO_MAX_BATCH], inuse0, pages = 0;
	size_t n = 0;
	int fd = wire_open(td.sock, "spans");

	inuse0 = wire_inuse(fd);
	for (size_t i = 0; i < 7; i++) {
		ck_assert_int_eq(wire_alloc(fd, sizes[i], 8, 0, &rep), 0);
		for (uint32_t k = 0; k < 8; k++) {
			s[n].off = rep.spans[k].off;
			s[n++].npages = rep.spans[k].npages;
			pages += sizes[i];
		}
	}
	assert_disjoint(s, n);
	ck_assert_uint_eq(wire_inuse(fd), inuse0 + pages * PG);
	for (size_t i = 0; i < n; i += 8) {
		for (size_t k = 0; k < 8; k++)
			off[k] = s[i + k].off;
		ck_assert_int_eq(wire_free(fd, off, 8, NULL), 0);
	}
	ck_assert_uint_eq(wire_inuse(fd), inuse0);
	close(fd);
}
END_TEST

START_TEST(test_alloc_bad_npages)
{
	static const uint64_t bad[] = {
		0, ARENA_PAGES + 1, UINT64_C(1) << 32, (UINT64_C(1) << 32) + 1,
		UINT64_MAX,
	};
	struct wire_heap before, after;
	struct proto_alloc_reply rep;
	int fd = wire_open(td.sock, "npages");

	wire_heap(fd, &before);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(wire_alloc(fd, bad[i], 1, 0, &rep), -EINVAL);
		ck_assert_int_eq(wire_alloc(fd, bad[i], PROTO_MAX_BATCH, 0,
					    &rep), -EINVAL);
	}
	wire_heap(fd, &after);
	wire_heap_unchanged(&before, &after);
	/* The whole arena is one span's worth. */
	ck_assert_int_eq(wire_free1(fd, wire_alloc1(fd, ARENA_PAGES)), 0);
	close(fd);
}
END_TEST

START_TEST(test_alloc_batch_too_big)
{
	const char *args[] = { "--arena-size=4M", NULL };
	struct test_daemon t;
	struct proto_alloc_reply rep;
	struct wire_heap before, after;
	uint64_t held;
	int fd;

	test_daemon_start(&t, args);
	fd = wire_open(t.sock, "batch");
	wire_heap(fd, &before);
	/* 64 spans of 32 pages: twice the arena's 1024 pages. */
	ck_assert_int_eq(wire_alloc(fd, 32, PROTO_MAX_BATCH, 0, &rep),
			 -ENOMEM);
	wire_heap(fd, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	ck_assert_uint_eq(after.sys, after.idle + after.inuse);

	/* Most of the batch fits: the spans it got are given back. */
	held = wire_alloc1(fd, 900);
	wire_heap(fd, &before);
	ck_assert_int_eq(wire_alloc(fd, 2, PROTO_MAX_BATCH, 0, &rep),
			 -ENOMEM);
	wire_heap(fd, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	ck_assert_uint_eq(after.free_spans, before.free_spans);
	/* And exactly what is left can be had. */
	ck_assert_int_eq(wire_alloc(fd, 2, 62, 0, &rep), 0);
	ck_assert_int_eq(wire_alloc(fd, 1, 1, 0, &rep), -ENOMEM);
	ck_assert_int_eq(wire_free1(fd, held), 0);
	close(fd);
	test_daemon_stop(&t);
}
END_TEST

/* PROTO_ALLOC_ZERO: a span that held data reads as zeros. */
START_TEST(test_alloc_zero_flag)
{
	static const uint64_t sizes[] = { 1, 5, 16, 64 };
	struct proto_alloc_reply rep;
	int fd = wire_connect(td.sock), memfd;
	unsigned char *base;

	ck_assert_int_eq(wire_hello(fd, "zero", NULL, &memfd), 0);
	base = mmap(NULL, ARENA_PAGES * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t len = sizes[i] * PG, off = wire_alloc1(fd, sizes[i]);

		memset(base + off, 0xa5, len);
		ck_assert_int_eq(wire_free1(fd, off), 0);
		ck_assert_int_eq(wire_alloc(fd, sizes[i], 1, PROTO_ALLOC_ZERO,
					    &rep), 0);
		assert_zero(base + rep.spans[0].off, len);
		ck_assert_int_eq(wire_free1(fd, rep.spans[0].off), 0);
	}
	munmap(base, ARENA_PAGES * PG);
	close(memfd);
	close(fd);
}
END_TEST

/* ---- free ---- */

static void expect_free(int fd, const uint64_t *off, uint32_t count,
			int status, uint32_t bad)
{
	struct proto_free_reply rep;
	struct wire_heap before, after;

	wire_heap(fd, &before);
	ck_assert_int_eq(wire_free(fd, off, count, &rep), status);
	ck_assert_uint_eq(rep.count, 0);
	ck_assert_uint_eq(rep.bad, bad);
	wire_heap(fd, &after);
	wire_heap_unchanged(&before, &after);
}

START_TEST(test_free_not_span_start)
{
	uint64_t off, bad;
	int fd = wire_open(td.sock, "not-start");

	off = wire_alloc1(fd, 4);
	bad = off + PG;
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = off + 1;
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = off + 4 * PG;	/* the free rest of the heap */
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = ARENA_PAGES * PG;
	expect_free(fd, &bad, 1, -EINVAL, 0);
	bad = UINT64_MAX & ~(PG - 1);
	expect_free(fd, &bad, 1, -EINVAL, 0);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	close(fd);
}
END_TEST

START_TEST(test_free_double)
{
	uint64_t off;
	int fd = wire_open(td.sock, "double");

	off = wire_alloc1(fd, 2);
	wire_alloc1(fd, 2);	/* keeps the span from merging away */
	ck_assert_int_eq(wire_free1(fd, off), 0);
	expect_free(fd, &off, 1, -EINVAL, 0);
	close(fd);
}
END_TEST

START_TEST(test_free_other_connection)
{
	int fd1 = wire_open(td.sock, "owner");
	int fd2 = wire_open(td.sock, "thief");
	uint64_t off = wire_alloc1(fd1, 3);

	expect_free(fd2, &off, 1, -EPERM, 0);
	ck_assert_int_eq(wire_free1(fd1, off), 0);
	close(fd1);
	close(fd2);
}
END_TEST

START_TEST(test_free_batch_one_bad)
{
	int fd = wire_open(td.sock, "batch"), other = wire_open(td.sock, "x");
	struct proto_alloc_reply rep;
	uint64_t off[10], saved;

	ck_assert_int_eq(wire_alloc(fd, 2, 10, 0, &rep), 0);
	for (int i = 0; i < 10; i++)
		off[i] = rep.spans[i].off;

	saved = off[6];
	off[6] = saved + PG;
	expect_free(fd, off, 10, -EINVAL, 6);
	off[6] = saved;

	saved = off[0];
	off[0] = wire_alloc1(other, 1);
	expect_free(fd, off, 10, -EPERM, 0);
	off[0] = saved;

	saved = off[3];
	off[3] = off[1];
	expect_free(fd, off, 10, -EINVAL, 3);
	off[3] = saved;

	off[9] = off[8] + 2 * PG * 1000;
	expect_free(fd, off, 10, -EINVAL, 9);
	off[9] = rep.spans[9].off;

	ck_assert_int_eq(wire_free(fd, off, 10, NULL), 0);
	close(fd);
	close(other);
}
END_TEST

START_TEST(test_free_full_batch)
{
	struct proto_alloc_reply rep;
	uint64_t off[PROTO_MAX_BATCH], inuse;
	int fd = wire_open(td.sock, "full");

	inuse = wire_inuse(fd);
	ck_assert_int_eq(wire_alloc(fd, 1, PROTO_MAX_BATCH, 0, &rep), 0);
	for (int i = 0; i < PROTO_MAX_BATCH; i++)
		off[i] = rep.spans[PROTO_MAX_BATCH - 1 - i].off;
	ck_assert_uint_eq(wire_inuse(fd), inuse + PROTO_MAX_BATCH * PG);
	ck_assert_int_eq(wire_free(fd, off, PROTO_MAX_BATCH, NULL), 0);
	ck_assert_uint_eq(wire_inuse(fd), inuse);
	close(fd);
}
END_TEST

/*
 * SPAN_FREE with PROTO_FREE_CHECK of @count offsets: check the reply as
 * wire_free() does, that the heap did not change, and return the status.
 */
static int free_check(int fd, const uint64_t *off, uint32_t count,
		      struct proto_free_reply *ret)
{
	struct wire_heap before, after;
	union {
		struct proto_free_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	struct proto_free f;
	uint32_t seq;
	size_t n;
	int r;

	wire_heap(fd, &before);
	memset(&f, 0, sizeof(f));
	seq = wire_hdr(&f.hdr, PROTO_SPAN_FREE);
	f.count = count;
	f.flags = PROTO_FREE_CHECK;
	memcpy(f.off, off, count * sizeof(*off));
	wire_send(fd, &f, proto_free_size(count));
	r = wire_reply(fd, PROTO_SPAN_FREE, seq, u.buf, sizeof(u.buf), &n);
	ck_assert_uint_eq(n, sizeof(struct proto_free_reply));
	ck_assert_uint_eq(u.rep.count, r == 0 ? count : 0);
	wire_heap(fd, &after);
	wire_heap_unchanged(&before, &after);
	*ret = u.rep;
	return r;
}

START_TEST(test_free_check)
{
	int fd = wire_open(td.sock, "check"), other = wire_open(td.sock, "x");
	struct proto_alloc_reply rep;
	struct proto_free_reply fr;
	uint64_t off[10], saved;

	ck_assert_int_eq(wire_alloc(fd, 2, 10, 0, &rep), 0);
	for (int i = 0; i < 10; i++)
		off[i] = rep.spans[i].off;

	/* As a free would be answered, with nothing freed. */
	ck_assert_int_eq(free_check(fd, off, 10, &fr), 0);
	ck_assert_int_eq(free_check(fd, off, 10, &fr), 0);

	saved = off[6];
	off[6] = saved + PG;
	ck_assert_int_eq(free_check(fd, off, 10, &fr), -EINVAL);
	ck_assert_uint_eq(fr.bad, 6);
	off[6] = saved;

	saved = off[2];
	off[2] = wire_alloc1(other, 1);
	ck_assert_int_eq(free_check(fd, off, 10, &fr), -EPERM);
	ck_assert_uint_eq(fr.bad, 2);
	off[2] = saved;

	saved = off[8];
	off[8] = off[1];
	ck_assert_int_eq(free_check(fd, off, 10, &fr), -EINVAL);
	ck_assert_uint_eq(fr.bad, 8);
	off[8] = saved;

	/* The real free still finds every span, and a check then fails. */
	ck_assert_int_eq(wire_free(fd, off, 10, NULL), 0);
	ck_assert_int_eq(free_check(fd, off, 10, &fr), -EINVAL);
	ck_assert_uint_eq(fr.bad, 0);
	close(fd);
	close(other);
}
END_TEST

/* ---- lifetime ---- */

START_TEST(test_close_frees_spans)
{
	struct proto_alloc_reply rep;
	struct wire_heap before, during, after;
	int other = wire_open(td.sock, "watcher"), fd;

	wire_heap(other, &before);
	fd = wire_open(td.sock, "leaver");
	ck_assert_int_eq(wire_alloc(fd, 3, PROTO_MAX_BATCH, 0, &rep), 0);
	wire_alloc1(fd, 1000);
	wire_alloc1(fd, 1);
	wire_heap(other, &during);
	ck_assert_uint_eq(during.inuse,
			  before.inuse + (3 * PROTO_MAX_BATCH + 1001) * PG);
	ck_assert_uint_eq(during.objects, before.objects + PROTO_MAX_BATCH + 2);
	close(fd);
	wire_heap_wait_inuse(other, before.inuse, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	ck_assert_uint_eq(after.objects, before.objects);
	close(other);
}
END_TEST

/*
 * A client process that exits while a child keeps its socket open: GC
 * frees its spans (docs/memstats.md), and says how many.
 */
START_TEST(test_gc_frees_departed_process)
{
	struct wire_heap before, after;
	int other = wire_open(td.sock, "gc"), sync[2], status;
	pid_t pid;
	char c;

	wire_heap(other, &before);
	ck_assert_int_eq(pipe(sync), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct proto_alloc_reply rep;
		int fd = wire_open(td.sock, "departing");

		if (wire_alloc(fd, 5, 7, 0, &rep) != 0)
			_exit(1);
		/* A grandchild keeps the socket until the test ends. */
		if (fork() == 0) {
			close(sync[1]);
			(void)!read(sync[0], &c, 1);
			_exit(0);
		}
		_exit(0);
	}
	close(sync[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_int_eq(status, 0);
	wire_heap(other, &after);
	ck_assert_uint_eq(after.inuse, before.inuse + 35 * PG);

	ck_assert_uint_eq(wire_gc(other).freed_spans, 7);
	wire_heap(other, &after);
	ck_assert_uint_eq(after.inuse, before.inuse);
	close(sync[1]);
	close(other);
}
END_TEST

/* ---- stats ---- */

START_TEST(test_stats_identities_and_client)
{
	struct proto_welcome w;
	struct proto_alloc_reply rep;
	int fd = wire_connect(td.sock);
	json_t *j, *c;
	uint64_t off;

	ck_assert_int_eq(wire_hello(fd, "stats-client", &w, NULL), 0);
	j = wire_stats(fd);
	assert_identities(j);
	ck_assert_str_eq(json_string_value(json_object_get(j, "version")),
			 SPANHEAPD_VERSION);
	ck_assert_uint_eq(wire_json_u64(j, "page_size"), PG);
	ck_assert_uint_eq(wire_json_u64(j, "arena_size"), ARENA_PAGES * PG);
	json_decref(j);

	ck_assert_int_eq(wire_alloc(fd, 7, 3, 0, &rep), 0);
	off = wire_alloc1(fd, 100);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	j = wire_stats(fd);
	assert_identities(j);
	ck_assert_uint_eq(wire_json_u64(j, "heap_inuse"), 21 * PG);
	ck_assert_uint_eq(wire_json_u64(j, "heap_objects"), 3);
	c = find_client(j, w.client_id);
	ck_assert_ptr_nonnull(c);
	ck_assert_str_eq(json_string_value(json_object_get(c, "name")),
			 "stats-client");
	ck_assert_uint_eq(wire_json_u64(c, "pid"), (uint64_t)getpid());
	ck_assert_uint_eq(wire_json_u64(c, "uid"), (uint64_t)getuid());
	ck_assert_uint_eq(wire_json_u64(c, "gid"), (uint64_t)getgid());
	ck_assert_uint_eq(wire_json_u64(c, "spans"), 3);
	ck_assert_uint_eq(wire_json_u64(c, "bytes"), 21 * PG);
	/* HELLO, STATS, ALLOC, ALLOC, FREE, STATS. */
	ck_assert_uint_eq(wire_json_u64(c, "requests"), 6);
	ck_assert_uint_eq(wire_json_u64(json_object_get(j, "clients"),
					"count"), 1);
	json_decref(j);
	close(fd);
}
END_TEST

/* The ids of a clients list (MemStats' or a CLIENTS page's) in @ids. */
static size_t list_ids(const json_t *list, uint64_t *ids, size_t max)
{
	const json_t *c;
	size_t i;

	ck_assert_msg(json_is_array(list), "no client list");
	ck_assert_uint_le(json_array_size(list), max);
	json_array_foreach(list, i, c)
		ids[i] = wire_json_u64(c, "id");
	return json_array_size(list);
}

/*
 * STATS lists the first 64 clients by id, however many there are
 * (before, every client, in a text that grew without bound): count is
 * all of them, listed the 64.
 */
START_TEST(test_stats_list_bounded)
{
	enum { N = 150 };
	char name[PROTO_NAME_MAX];
	struct proto_welcome w;
	uint64_t ids[N], first = 0;
	int fd[N];
	json_t *j, *cl;
	size_t n;

	memset(name, 'c', sizeof(name));
	for (int i = 0; i < N; i++) {
		fd[i] = wire_connect(td.sock);
		ck_assert_int_eq(wire_hello(fd[i], name, &w, NULL), 0);
		if (i == 0)
			first = w.client_id;
	}
	j = wire_stats(fd[0]);
	assert_identities(j);
	cl = json_object_get(j, "clients");
	ck_assert_uint_eq(wire_json_u64(cl, "count"), N);
	ck_assert_uint_eq(wire_json_u64(cl, "listed"), 64);
	n = list_ids(json_object_get(cl, "list"), ids, N);
	ck_assert_uint_eq(n, 64);
	/* The first 64 by id: ours, as we connected in order. */
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(ids[i], first + i);
	json_decref(j);
	for (int i = 0; i < N; i++)
		close(fd[i]);
}
END_TEST

/*
 * Walk every CLIENTS page of @max from @fd: each client once, in id
 * order, and "next" the last id of a page but the last (0).  Returns
 * how many, their ids in @ids.
 */
static size_t walk_pages(int fd, uint32_t max, uint64_t *ids, size_t room)
{
	uint32_t after = 0;
	size_t total = 0;

	for (;;) {
		json_t *page = wire_clients(fd, after, max);
		size_t n = list_ids(json_object_get(page, "clients"),
				    ids + total, max);
		uint64_t next = wire_json_u64(page, "next");

		ck_assert_uint_le(total + n, room);
		for (size_t i = 0; i < n; i++)
			ck_assert_uint_gt(ids[total + i],
					  total + i ? ids[total + i - 1] :
						      after);
		total += n;
		json_decref(page);
		if (!next)
			break;
		ck_assert_uint_eq(n, max);
		ck_assert_uint_eq(next, ids[total - 1]);
		after = (uint32_t)next;
	}
	return total;
}

/* CLIENTS pages give every client exactly once, in id order. */
START_TEST(test_clients_pages)
{
	enum { N = 150 };
	uint64_t want[N], got[N + 1];
	struct proto_welcome w;
	int fd[N];
	size_t n;

	for (int i = 0; i < N; i++) {
		fd[i] = wire_connect(td.sock);
		ck_assert_int_eq(wire_hello(fd[i], "paged", &w, NULL), 0);
		want[i] = w.client_id;
	}
	n = walk_pages(fd[7], PROTO_CLIENTS_PAGE, got, N + 1);
	ck_assert_uint_eq(n, N);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(got[i], want[i]);
	/* Smaller pages, and a page that ends exactly at the last. */
	ck_assert_uint_eq(walk_pages(fd[7], 7, got, N + 1), N);
	ck_assert_uint_eq(walk_pages(fd[7], 50, got, N + 1), N);
	/* Clients that come and go between pages do not upset the walk. */
	{
		json_t *page = wire_clients(fd[0], 0, 64);
		uint32_t after = (uint32_t)wire_json_u64(page, "next");

		json_decref(page);
		close(fd[100]);
		fd[100] = wire_open(td.sock, "late");
		page = wire_clients(fd[0], after, 64);
		n = list_ids(json_object_get(page, "clients"), got, 64);
		ck_assert_uint_eq(got[0], want[64]);
		json_decref(page);
	}
	for (int i = 0; i < N; i++)
		close(fd[i]);
}
END_TEST

/* A CLIENTS page's entries are MemStats' entries; bad pages are refused. */
START_TEST(test_clients_entries)
{
	struct proto_welcome w;
	struct proto_clients req;
	int fd = wire_connect(td.sock);
	json_t *page, *list, *c;
	uint32_t seq;

	ck_assert_int_eq(wire_hello(fd, "entry", &w, NULL), 0);
	wire_alloc1(fd, 5);
	page = wire_clients(fd, 0, 64);
	ck_assert_uint_eq(wire_json_u64(page, "next"), 0);
	list = json_object_get(page, "clients");
	ck_assert_uint_eq(json_array_size(list), 1);
	c = json_array_get(list, 0);
	ck_assert_uint_eq(wire_json_u64(c, "id"), w.client_id);
	ck_assert_str_eq(json_string_value(json_object_get(c, "name")),
			 "entry");
	ck_assert_uint_eq(wire_json_u64(c, "pid"), (uint64_t)getpid());
	ck_assert_uint_eq(wire_json_u64(c, "spans"), 1);
	ck_assert_uint_eq(wire_json_u64(c, "bytes"), 5 * PG);
	/* A raw HELLO asks for no magazine: nothing cached. */
	ck_assert_uint_eq(wire_json_u64(c, "cached"), 0);
	ck_assert(json_is_false(json_object_get(c, "magazine")));
	ck_assert_uint_eq(wire_json_u64(c, "resumed"), 0);
	/* No quotas: none, and its uid holds what it holds. */
	ck_assert_uint_eq(wire_json_u64(c, "quota"), 0);
	ck_assert_uint_eq(wire_json_u64(c, "uid_quota"), 0);
	ck_assert_uint_eq(wire_json_u64(c, "uid_bytes"), 5 * PG);
	ck_assert_uint_eq(json_object_size(c), 14);
	json_decref(page);
	/* Past the last client: an empty page. */
	page = wire_clients(fd, w.client_id, 1);
	ck_assert_uint_eq(json_array_size(json_object_get(page, "clients")),
			  0);
	ck_assert_uint_eq(wire_json_u64(page, "next"), 0);
	json_decref(page);
	/* max must be 1..PROTO_CLIENTS_PAGE. */
	memset(&req, 0, sizeof(req));
	seq = wire_hdr(&req.hdr, PROTO_CLIENTS);
	wire_send(fd, &req, sizeof(req));
	wire_expect_error(fd, PROTO_CLIENTS, seq, -EBADMSG);
	seq = wire_hdr(&req.hdr, PROTO_CLIENTS);
	req.max = PROTO_CLIENTS_PAGE + 1;
	wire_send(fd, &req, sizeof(req));
	wire_expect_error(fd, PROTO_CLIENTS, seq, -EBADMSG);
	assert_works(fd);
	close(fd);
}
END_TEST

START_TEST(test_scavenge_releases)
{
	union {
		struct proto_scavenge_reply rep;
		char buf[PROTO_REPLY_MAX];
	} u;
	int fd = wire_connect(td.sock), memfd;
	struct proto_hdr h;
	unsigned char *base;
	uint64_t off;
	json_t *j;

	ck_assert_int_eq(wire_hello(fd, "scavenge", NULL, &memfd), 0);
	base = mmap(NULL, ARENA_PAGES * PG, PROT_READ | PROT_WRITE,
		    MAP_SHARED, memfd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	off = wire_alloc1(fd, 1000);
	memset(base + off, 1, 1000 * PG);
	ck_assert_int_eq(wire_free1(fd, off), 0);
	j = wire_stats(fd);
	ck_assert_uint_ge(wire_json_u64(j, "arena_resident"), 1000 * PG);
	ck_assert_uint_le(wire_json_u64(j, "heap_released") + 1000 * PG,
			  wire_json_u64(j, "heap_idle"));
	json_decref(j);

	wire_hdr(&h, PROTO_SCAVENGE);
	wire_send(fd, &h, sizeof(h));
	ck_assert_int_eq(wire_reply(fd, PROTO_SCAVENGE, h.seq, u.buf,
				    sizeof(u.buf), NULL), 0);
	ck_assert_uint_ge(u.rep.released, 1000 * PG);
	j = wire_stats(fd);
	assert_identities(j);
	ck_assert_uint_eq(wire_json_u64(j, "heap_released"),
			  wire_json_u64(j, "heap_idle"));
	ck_assert_uint_lt(wire_json_u64(j, "arena_resident"), 1000 * PG);
	json_decref(j);
	/* The released pages read as zeros. */
	for (uint64_t k = 0; k < 1000 * PG; k += 512)
		if (base[off + k])
			ck_abort_msg("released byte %llu is not zero",
				     (unsigned long long)k);
	munmap(base, ARENA_PAGES * PG);
	close(memfd);
	close(fd);
}
END_TEST

START_TEST(test_gc_reply)
{
	int fd = wire_open(td.sock, "gc");
	struct proto_gc_reply rep;
	json_t *j;

	wire_alloc1(fd, 3);
	rep = wire_gc(fd);
	ck_assert_uint_eq(rep.freed_spans, 0);
	ck_assert_uint_gt(rep.pause_ns, 0);
	j = wire_stats(fd);
	ck_assert_uint_ge(wire_json_u64(j, "num_gc"), 1);
	ck_assert_uint_ge(wire_json_u64(j, "pause_total_ns"), rep.pause_ns);
	ck_assert_uint_eq(wire_json_u64(j, "heap_inuse"), 3 * PG);
	json_decref(j);
	close(fd);
}
END_TEST

/*
 * A GC request does not walk the heap (heap_check() is O(pages grown)
 * under the heap lock: 10 ms at 64 GiB, which every client waited for):
 * GC passes are counted, heap checks are not.
 */
START_TEST(test_gc_request_no_heap_check)
{
	int fd = wire_open(td.sock, "gc");
	uint64_t gc0, checks0;
	json_t *j;

	j = wire_stats(fd);
	gc0 = wire_json_u64(j, "num_gc");
	checks0 = wire_json_u64(j, "heap_checks");
	json_decref(j);
	for (int i = 0; i < 3; i++)
		wire_gc(fd);
	j = wire_stats(fd);
	ck_assert_uint_eq(wire_json_u64(j, "num_gc"), gc0 + 3);
	ck_assert_uint_eq(wire_json_u64(j, "heap_checks"), checks0);
	json_decref(j);
	close(fd);
}
END_TEST

/* The timer's GC passes still check the heap. */
START_TEST(test_timer_gc_checks_heap)
{
	const char *args[] = { "--arena-size=64M", "--gc-after=100ms", NULL };
	struct test_daemon t;
	uint64_t checks = 0, forced = 0;
	int fd;

	test_daemon_start(&t, args);
	fd = wire_open(t.sock, "watch");
	wire_free1(fd, wire_alloc1(fd, 9));
	for (int i = 0; i < 3000 && checks < 2; i++) {
		json_t *j = wire_stats(fd);

		checks = wire_json_u64(j, "heap_checks");
		forced = wire_json_u64(json_object_get(j, "scavenger"),
				       "forced_gc");
		json_decref(j);
		usleep(10000);
	}
	ck_assert_uint_ge(checks, 2);
	ck_assert_uint_le(checks, forced);
	close(fd);
	test_daemon_stop(&t);
}
END_TEST

static Suite *dispatch_requests_suite(void)
{
	Suite *s = suite_create("dispatch-requests");
	TCase *tc;

	tc = tcase_create("alloc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_alloc_spans_disjoint);
	tcase_add_test(tc, test_alloc_bad_npages);
	tcase_add_test(tc, test_alloc_batch_too_big);
	tcase_add_test(tc, test_alloc_zero_flag);
	suite_add_tcase(s, tc);

	tc = tcase_create("free");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_free_not_span_start);
	tcase_add_test(tc, test_free_double);
	tcase_add_test(tc, test_free_other_connection);
	tcase_add_test(tc, test_free_batch_one_bad);
	tcase_add_test(tc, test_free_full_batch);
	tcase_add_test(tc, test_free_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_close_frees_spans);
	tcase_add_test(tc, test_gc_frees_departed_process);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_stats_identities_and_client);
	tcase_add_test(tc, test_stats_list_bounded);
	tcase_add_test(tc, test_scavenge_releases);
	tcase_add_test(tc, test_gc_reply);
	suite_add_tcase(s, tc);

	tc = tcase_create("clients");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_clients_pages);
	tcase_add_test(tc, test_clients_entries);
	suite_add_tcase(s, tc);

	tc = tcase_create("gc");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_gc_request_no_heap_check);
	suite_add_tcase(s, tc);

	tc = tcase_create("gc_timer");
	tcase_add_test(tc, test_timer_gc_checks_heap);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(dispatch_requests_suite)
