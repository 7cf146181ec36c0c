// SPDX-License-Identifier: MIT
/*
 * Tests for libclient/: how the library handles a daemon's answers.
 *
 * The daemon here is a fake: a thread that listens on a socket in a temp
 * dir, sends a scripted WELCOME with a real sealed memfd, and answers
 * requests with a bump allocator that knows which spans are live.  A test
 * changes the WELCOME script or hooks single requests to send wrong,
 * failing or malformed replies.  The fake records what it received; a
 * test reads the record only after fake_join(), which also fails the test
 * if the fake saw a malformed request.  Integration with the real daemon
 * is tested elsewhere.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "shm/arena.h"
#include "shm/proto.h"
#include "tests/lib/testlib.h"

#define PG HEAP_PAGE_SIZE
#define FAKE_ARENA_SIZE (UINT64_C(64) << 20)
#define FAKE_PAGES (FAKE_ARENA_SIZE / PG)
#define FAKE_CLIENT_ID 42
#define FAKE_RELEASED (UINT64_C(123) * PG)
#define FAKE_GC_FREED 7
#define FAKE_STATS "{\"fake\":true}"
#define FAKE_MAX_CONN 16	/* connections one test can script */
#define FAKE_MAX_RECORD 1024	/* offsets the record keeps */
#define FAKE_MAX_REQS 64	/* per-request counts the record keeps */
#define STATS_CAP (UINT64_C(64) << 20)

/* Any request; proto_check_request() has vetted it before it is read. */
union fake_req {
	struct proto_hdr hdr;
	struct proto_hello hello;
	struct proto_alloc alloc;
	struct proto_free free;
};

/* What the fake answers to HELLO on one connection. */
struct fake_welcome {
	struct proto_welcome msg;
	size_t len;		/* bytes of msg sent */
	int nfds;		/* copies of fd sent along */
	int fd;			/* -1: the arena's memfd */
	bool early;		/* send before reading HELLO */
	bool hang_up;		/* close the connection after sending */
};

struct fake {
	char dir[32];			/* /tmp/spanheap-client.XXXXXX */
	char path[64];
	int lfd;
	struct arena *arena;		/* the fake daemon's own mapping */
	pthread_t thread;
	bool running;

	/* The script, set before fake_start(). */
	int nconn;
	struct fake_welcome welcome[FAKE_MAX_CONN];
	/* Answers a request itself if it returns true. */
	bool (*hook)(struct fake *f, int cfd, const union fake_req *req);

	/* The record, written by the fake thread. */
	int conn;			/* connections accepted - 1 */
	uint32_t seq;			/* the seq the next request must have */
	struct proto_hello hello;	/* the last HELLO */
	unsigned int nreq[PROTO_TYPE_MAX + 1];
	struct proto_alloc last_alloc;
	uint32_t alloc_count[FAKE_MAX_REQS];
	uint32_t free_count[FAKE_MAX_REQS];
	uint64_t allocated[FAKE_MAX_RECORD];
	size_t nallocated;
	uint64_t freed[FAKE_MAX_RECORD];
	size_t nfreed;
	uint64_t next_page;
	uint32_t *live;			/* pages of the live span at a page */
	char failure[256];		/* the first thing that went wrong */
};

static struct fake fk;

static void fake_fail(struct fake *f, const char *what)
{
	if (!f->failure[0])
		snprintf(f->failure, sizeof(f->failure), "fake daemon: %s",
			 what);
}

static void fake_send(int cfd, const void *buf, size_t len, int fd, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf,
			     .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	int i;

	if (nfds) {
		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		for (i = 0; i < nfds; i++)
			memcpy(CMSG_DATA(c) + i * sizeof(fd), &fd, sizeof(fd));
	}
	/* The client may have hung up already; it tells what it saw. */
	sendmsg(cfd, &msg, MSG_NOSIGNAL);
}

static void fake_reply_hdr(struct proto_hdr *hdr, const union fake_req *req,
			   int32_t status)
{
	proto_hdr_init(hdr, req->hdr.type | PROTO_REPLY, req->hdr.seq);
	hdr->status = status;
}

/* A bare header with @status, the daemon's way to refuse a request. */
static void fake_refuse(int cfd, const union fake_req *req, int32_t status)
{
	struct proto_hdr hdr;

	fake_reply_hdr(&hdr, req, status);
	fake_send(cfd, &hdr, sizeof(hdr), -1, 0);
}

static void fake_chunk(int cfd, const union fake_req *req, const char *data,
		       size_t len, bool more)
{
	static struct proto_stats_reply rep;

	memset(&rep, 0, proto_stats_reply_size(0));
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.len = (uint32_t)len;
	rep.flags = more ? PROTO_MORE : 0;
	memcpy(rep.data, data, len);
	fake_send(cfd, &rep, proto_stats_reply_size(rep.len), -1, 0);
}

static void fake_alloc(struct fake *f, int cfd, const union fake_req *req)
{
	const struct proto_alloc *a = &req->alloc;
	struct proto_alloc_reply rep;
	uint32_t i;

	f->last_alloc = *a;
	if (f->nreq[PROTO_SPAN_ALLOC] <= FAKE_MAX_REQS)
		f->alloc_count[f->nreq[PROTO_SPAN_ALLOC] - 1] = a->count;
	if (a->npages > FAKE_PAGES ||
	    f->next_page + a->npages * a->count > FAKE_PAGES) {
		fake_refuse(cfd, req, -ENOMEM);
		return;
	}
	memset(&rep, 0, sizeof(rep));
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.count = a->count;
	for (i = 0; i < a->count; i++) {
		rep.spans[i].off = f->next_page * PG;
		rep.spans[i].npages = a->npages;
		f->live[f->next_page] = (uint32_t)a->npages;
		f->next_page += a->npages;
		if (f->nallocated < FAKE_MAX_RECORD)
			f->allocated[f->nallocated++] = rep.spans[i].off;
	}
	fake_send(cfd, &rep, proto_alloc_reply_size(rep.count), -1, 0);
}

static bool fake_live(const struct fake *f, uint64_t off)
{
	return off % PG == 0 && off / PG < FAKE_PAGES && f->live[off / PG];
}

static void fake_free(struct fake *f, int cfd, const union fake_req *req)
{
	const struct proto_free *m = &req->free;
	struct proto_free_reply rep;
	uint32_t i, j;

	if (f->nreq[PROTO_SPAN_FREE] <= FAKE_MAX_REQS)
		f->free_count[f->nreq[PROTO_SPAN_FREE] - 1] = m->count;
	for (i = 0; i < m->count; i++)
		if (f->nfreed < FAKE_MAX_RECORD)
			f->freed[f->nfreed++] = m->off[i];
	memset(&rep, 0, sizeof(rep));
	for (i = 0; i < m->count; i++) {
		bool ok = fake_live(f, m->off[i]);

		for (j = 0; j < i; j++)
			ok = ok && m->off[j] != m->off[i];
		if (!ok) {
			fake_reply_hdr(&rep.hdr, req, -EINVAL);
			rep.bad = i;
			fake_send(cfd, &rep, sizeof(rep), -1, 0);
			return;
		}
	}
	for (i = 0; i < m->count; i++)
		f->live[m->off[i] / PG] = 0;
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.count = m->count;
	fake_send(cfd, &rep, sizeof(rep), -1, 0);
}

/* The answers of a daemon that works. */
static void fake_answer(struct fake *f, int cfd, const union fake_req *req)
{
	switch (req->hdr.type) {
	case PROTO_SPAN_ALLOC:
		fake_alloc(f, cfd, req);
		break;
	case PROTO_SPAN_FREE:
		fake_free(f, cfd, req);
		break;
	case PROTO_STATS:
		fake_chunk(cfd, req, FAKE_STATS, strlen(FAKE_STATS), false);
		break;
	case PROTO_SCAVENGE: {
		struct proto_scavenge_reply rep = { .released = FAKE_RELEASED };

		fake_reply_hdr(&rep.hdr, req, 0);
		fake_send(cfd, &rep, sizeof(rep), -1, 0);
		break;
	}
	case PROTO_GC: {
		struct proto_gc_reply rep = { .freed_spans = FAKE_GC_FREED };

		fake_reply_hdr(&rep.hdr, req, 0);
		fake_send(cfd, &rep, sizeof(rep), -1, 0);
		break;
	}
	default:
		fake_fail(f, "unexpected request type");
	}
}

/* Receive one request; false at the end of the connection. */
static bool fake_recv(struct fake *f, int cfd, union fake_req *req)
{
	ssize_t n = recv(cfd, req, sizeof(*req), 0);

	if (n <= 0)
		return false;
	if (proto_check_request(req, (size_t)n) != 0) {
		fake_fail(f, "malformed request");
		return false;
	}
	f->nreq[req->hdr.type]++;
	/* HELLO is 0, the requests that follow count from 1. */
	if (req->hdr.seq != f->seq++) {
		fake_fail(f, "request out of sequence");
		return false;
	}
	return true;
}

/* Play the WELCOME script; true if the conversation goes on. */
static bool fake_welcome(struct fake *f, int cfd)
{
	const struct fake_welcome *w = &f->welcome[f->conn];
	union fake_req req;

	if (!w->early) {
		if (!fake_recv(f, cfd, &req))
			return false;
		if (req.hdr.type != PROTO_HELLO || req.hdr.seq != 0) {
			fake_fail(f, "first request is not HELLO with seq 0");
			return false;
		}
		f->hello = req.hello;
	}
	fake_send(cfd, &w->msg, w->len, w->fd < 0 ? f->arena->fd : w->fd,
		  w->nfds);
	return !w->early && !w->hang_up && w->msg.hdr.status == 0;
}

static void fake_serve(struct fake *f, int cfd)
{
	union fake_req req;

	if (!fake_welcome(f, cfd))
		return;
	while (fake_recv(f, cfd, &req)) {
		if (req.hdr.type == PROTO_HELLO) {
			fake_fail(f, "HELLO twice");
			return;
		}
		if (!f->hook || !f->hook(f, cfd, &req))
			fake_answer(f, cfd, &req);
	}
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int cfd;

	for (f->conn = 0; f->conn < f->nconn; f->conn++) {
		cfd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd < 0) {
			fake_fail(f, "accept failed");
			break;
		}
		f->seq = 0;
		fake_serve(f, cfd);
		close(cfd);
	}
	return NULL;
}

static void fake_default_welcome(struct fake_welcome *w)
{
	memset(w, 0, sizeof(*w));
	proto_hdr_init(&w->msg.hdr, PROTO_WELCOME, 0);
	w->msg.page_size = PG;
	w->msg.max_batch = PROTO_MAX_BATCH;
	w->msg.arena_size = FAKE_ARENA_SIZE;
	w->msg.client_id = FAKE_CLIENT_ID;
	w->len = sizeof(w->msg);
	w->nfds = 1;
	w->fd = -1;
}

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int i;

	memset(&fk, 0, sizeof(fk));
	strcpy(fk.dir, "/tmp/spanheap-client.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(fk.dir));
	snprintf(fk.path, sizeof(fk.path), "%s/fake.sock", fk.dir);
	strcpy(sa.sun_path, fk.path);
	fk.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fk.lfd, 0);
	ck_assert_int_eq(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fk.lfd, FAKE_MAX_CONN), 0);
	ck_assert_int_eq(arena_create(FAKE_ARENA_SIZE, "spanheap-fake",
				      &fk.arena), 0);
	fk.live = calloc(FAKE_PAGES, sizeof(*fk.live));
	ck_assert_ptr_nonnull(fk.live);
	/* Page 0 stays unused, so that a span's pointer is never the base. */
	fk.next_page = 1;
	fk.nconn = 1;
	for (i = 0; i < FAKE_MAX_CONN; i++)
		fake_default_welcome(&fk.welcome[i]);
}

static void teardown(void)
{
	if (fk.running) {
		pthread_cancel(fk.thread);
		pthread_join(fk.thread, NULL);
	}
	close(fk.lfd);
	unlink(fk.path);
	rmdir(fk.dir);
	arena_destroy(fk.arena);
	free(fk.live);
}

static void fake_start(void)
{
	ck_assert_int_eq(pthread_create(&fk.thread, NULL, fake_main, &fk), 0);
	fk.running = true;
}

/* Wait for the fake to finish its script; its record is then readable. */
static void fake_join(void)
{
	ck_assert(fk.running);
	ck_assert_int_eq(pthread_join(fk.thread, NULL), 0);
	fk.running = false;
	ck_assert_msg(!fk.failure[0], "%s", fk.failure);
}

static struct spanheap *fake_connect(void)
{
	struct spanheap *h = NULL;

	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
	return h;
}

static size_t fake_live_spans(void)
{
	size_t i, n = 0;

	for (i = 0; i < FAKE_PAGES; i++)
		n += fk.live[i] != 0;
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* Written where a call must not write. */
static char sentinel;
#define UNTOUCHED ((struct spanheap *)&sentinel)

START_TEST(test_connect_env)
{
	struct spanheap *h = NULL;

	ck_assert_int_eq(setenv(SPANHEAP_SOCKET_ENV, fk.path, 1), 0);
	fake_start();
	ck_assert_int_eq(spanheap_connect(NULL, &h), 0);
	unsetenv(SPANHEAP_SOCKET_ENV);
	ck_assert_uint_eq(spanheap_client_id(h), FAKE_CLIENT_ID);
	ck_assert_uint_eq(spanheap_page_size(h), PG);
	ck_assert_uint_eq(spanheap_arena_size(h), FAKE_ARENA_SIZE);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 1);
	ck_assert_uint_eq(fk.hello.flags, 0);
	ck_assert_uint_eq(strnlen(fk.hello.name, PROTO_NAME_MAX),
			  strlen(program_invocation_short_name));
	ck_assert_str_eq(fk.hello.name, program_invocation_short_name);
}
END_TEST

START_TEST(test_connect_name_truncated)
{
	struct spanheap *h = NULL;
	char name[100];
	int i;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	fake_start();
	ck_assert_int_eq(spanheap_connect_named(fk.path, name, &h), 0);
	spanheap_close(h);
	fake_join();

	for (i = 0; i < PROTO_NAME_MAX - 1; i++)
		ck_assert_int_eq(fk.hello.name[i], 'n');
	ck_assert_int_eq(fk.hello.name[PROTO_NAME_MAX - 1], '\0');
}
END_TEST

START_TEST(test_connect_missing)
{
	struct spanheap *h = UNTOUCHED;
	char path[128];

	snprintf(path, sizeof(path), "%s/none.sock", fk.dir);
	ck_assert_int_eq(spanheap_connect(path, &h), -ENOENT);
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_int_eq(spanheap_connect("", &h), -EINVAL);
	ck_assert_ptr_eq(h, UNTOUCHED);
}
END_TEST

START_TEST(test_connect_too_long)
{
	struct sockaddr_un sa;
	struct spanheap *h = UNTOUCHED;
	char path[200];

	/* sun_path must hold the path and its NUL. */
	memset(path, 'x', sizeof(path));
	memcpy(path, fk.dir, strlen(fk.dir));
	path[strlen(fk.dir)] = '/';
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(spanheap_connect(path, &h), -ENAMETOOLONG);
	path[sizeof(sa.sun_path)] = '\0';
	ck_assert_int_eq(spanheap_connect(path, &h), -ENAMETOOLONG);
	path[sizeof(sa.sun_path) - 1] = '\0';
	ck_assert_int_eq(spanheap_connect(path, &h), -ENOENT);
	ck_assert_ptr_eq(h, UNTOUCHED);
}
END_TEST

START_TEST(test_connect_refused)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct spanheap *h = UNTOUCHED;
	int fd;

	/* Bound but not listening: no daemon there. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/deaf.sock", fk.dir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(spanheap_connect(sa.sun_path, &h), -ECONNREFUSED);
	ck_assert_ptr_eq(h, UNTOUCHED);
	close(fd);
	unlink(sa.sun_path);
}
END_TEST

/*
 * A full daemon answers before it reads HELLO and hangs up, so the
 * client's HELLO may or may not go out first: either way it is -EUSERS.
 */
START_TEST(test_connect_full)
{
	struct spanheap *h = UNTOUCHED;
	int i, fds = count_fds();

	fk.nconn = FAKE_MAX_CONN;
	for (i = 0; i < fk.nconn; i++) {
		fk.welcome[i].msg.hdr.status = -EUSERS;
		fk.welcome[i].len = sizeof(struct proto_hdr);
		fk.welcome[i].nfds = 0;
		fk.welcome[i].early = true;
	}
	/* One of them does send the memfd along, which must be closed. */
	fk.welcome[1].nfds = 1;
	fk.welcome[2].len = sizeof(struct proto_welcome);
	fake_start();
	for (i = 0; i < fk.nconn; i++)
		ck_assert_int_eq(spanheap_connect(fk.path, &h), -EUSERS);
	fake_join();
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_connect_version)
{
	struct spanheap *h = UNTOUCHED;

	fk.welcome[0].msg.hdr.status = -EPROTONOSUPPORT;
	fk.welcome[0].len = sizeof(struct proto_hdr);
	fk.welcome[0].nfds = 0;
	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), -EPROTONOSUPPORT);
	fake_join();
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 1);
}
END_TEST

/* Each WELCOME here is wrong in one way; none may leak a descriptor. */
START_TEST(test_connect_bad_welcome)
{
	struct spanheap *h = UNTOUCHED;
	struct fake_welcome *w = fk.welcome;
	int i, fds = count_fds();

	w[0].nfds = 0;
	w[1].nfds = 2;
	w[2].msg.hdr.seq = 1;
	w[3].msg.hdr.type = PROTO_HELLO;
	w[4].msg.hdr.magic = ~PROTO_MAGIC;
	w[5].msg.hdr.status = 1;
	w[6].msg.page_size = 2 * PG;
	w[7].msg.max_batch = PROTO_MAX_BATCH / 2;
	w[8].msg.arena_size = FAKE_ARENA_SIZE / 2;
	w[9].msg.arena_size = FAKE_ARENA_SIZE * 2;
	w[10].len = sizeof(struct proto_hdr);
	w[11].len = sizeof(w[11].msg) - 4;
	w[12].msg.hdr.status = -5000;
	w[12].len = sizeof(struct proto_hdr);
	fk.nconn = 13;
	fake_start();
	for (i = 0; i < fk.nconn; i++)
		ck_assert_msg(spanheap_connect(fk.path, &h) == -EBADMSG,
			      "WELCOME %d accepted", i);
	fake_join();
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

START_TEST(test_connect_unsealed)
{
	struct spanheap *h = UNTOUCHED;
	int fd, fds;

	fd = memfd_create("unsealed", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)FAKE_ARENA_SIZE), 0);
	fds = count_fds();
	fk.welcome[0].fd = fd;
	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), -EPERM);
	fake_join();
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_int_eq(count_fds(), fds);
	close(fd);
}
END_TEST

/* Answers SCAVENGE wrongly, in the way the connection's number says. */
static bool hook_bad_reply(struct fake *f, int cfd, const union fake_req *req)
{
	struct proto_scavenge_reply rep = { .released = 1 };
	size_t len = sizeof(rep);
	int fd = -1, nfds = 0;

	if (req->hdr.type != PROTO_SCAVENGE)
		return false;
	fake_reply_hdr(&rep.hdr, req, 0);
	switch (f->conn) {
	case 0:
		rep.hdr.seq++;
		break;
	case 1:
		rep.hdr.seq--;
		break;
	case 2:
		rep.hdr.type = PROTO_GC | PROTO_REPLY;
		break;
	case 3:
		rep.hdr.magic++;
		break;
	case 4:
		rep.hdr.status = 1;
		break;
	case 5:
		rep.hdr.status = -5000;
		break;
	case 6:
		len -= 4;
		break;
	case 7:
		fd = f->arena->fd;
		nfds = 1;
		break;
	case 8: {
		/* Larger than any reply can be. */
		char *big = calloc(1, PROTO_REPLY_MAX + 8);

		memcpy(big, &rep, sizeof(rep));
		fake_send(cfd, big, PROTO_REPLY_MAX + 8, -1, 0);
		free(big);
		return true;
	}
	}
	fake_send(cfd, &rep, len, fd, nfds);
	return true;
}

START_TEST(test_reply_malformed)
{
	struct spanheap_span span;
	struct spanheap *h;
	uint64_t released = 99;
	char *json = NULL;
	int i, fds = count_fds();

	fk.nconn = 9;
	fk.hook = hook_bad_reply;
	fake_start();
	for (i = 0; i < fk.nconn; i++) {
		ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
		ck_assert_msg(spanheap_scavenge(h, &released) == -EBADMSG,
			      "bad reply %d accepted", i);
		ck_assert_uint_eq(released, 99);
		/* Dead now: nothing more is sent. */
		ck_assert_int_eq(spanheap_gc(h, NULL), -ENOTCONN);
		ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &span),
				 -ENOTCONN);
		ck_assert_int_eq(spanheap_span_free(h, PG), -ENOTCONN);
		ck_assert_int_eq(spanheap_stats_json(h, &json), -ENOTCONN);
		ck_assert_int_eq(spanheap_scavenge(h, NULL), -ENOTCONN);
		spanheap_close(h);
	}
	fake_join();
	ck_assert_ptr_null(json);
	ck_assert_uint_eq(fk.nreq[PROTO_SCAVENGE], fk.nconn);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 0);
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 0);
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 0);
	ck_assert_uint_eq(fk.nreq[PROTO_STATS], 0);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

static bool hook_hang_up(struct fake *f, int cfd, const union fake_req *req)
{
	(void)f;
	(void)req;
	shutdown(cfd, SHUT_RDWR);
	return true;
}

/* The daemon hangs up while the client waits for a reply. */
START_TEST(test_daemon_hangs_up)
{
	struct spanheap *h;
	uint64_t n = 99;

	fk.hook = hook_hang_up;
	h = fake_connect();
	ck_assert_int_eq(spanheap_gc(h, &n), -ENOTCONN);
	ck_assert_int_eq(spanheap_gc(h, &n), -ENOTCONN);
	ck_assert_uint_eq(n, 99);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 1);
}
END_TEST

/* The daemon is gone before the client sends: no SIGPIPE, -ENOTCONN. */
START_TEST(test_daemon_gone)
{
	struct spanheap_span span;
	struct spanheap *h;

	fk.welcome[0].hang_up = true;
	h = fake_connect();
	fake_join();
	ck_assert_int_eq(spanheap_scavenge(h, NULL), -ENOTCONN);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &span), -ENOTCONN);
	spanheap_close(h);
}
END_TEST

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
	struct spanheap_span spans[150];
	uint64_t offs[150];
	struct spanheap *h;
	size_t i;

	h = fake_connect();
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 1, 0, 150, spans), 0);
	/* Freed in another order than allocated. */
	for (i = 0; i < 150; i++)
		offs[i] = spans[149 - i].off;
	ck_assert_int_eq(spanheap_span_free_batch(h, offs, 150), 0);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 3);
	ck_assert_uint_eq(fk.free_count[0], 64);
	ck_assert_uint_eq(fk.free_count[1], 64);
	ck_assert_uint_eq(fk.free_count[2], 22);
	ck_assert_uint_eq(fk.nfreed, 150);
	ck_assert_mem_eq(fk.freed, offs, sizeof(offs));
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

/* A batch whose second round trip is refused keeps the first one freed. */
START_TEST(test_free_batch_partial)
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
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_FREE], 2);
	ck_assert_uint_eq(fake_live_spans(), 150 - 64);
}
END_TEST

/* The first STATS in three chunks, the second as one empty chunk. */
static bool hook_stats_chunks(struct fake *f, int cfd,
			      const union fake_req *req)
{
	static char text[PROTO_CHUNK_MAX];

	if (req->hdr.type != PROTO_STATS || f->nreq[PROTO_STATS] > 2)
		return false;
	if (f->nreq[PROTO_STATS] == 2) {
		fake_chunk(cfd, req, "", 0, false);
		return true;
	}
	memset(text, 'a', sizeof(text));
	text[0] = '[';
	fake_chunk(cfd, req, text, sizeof(text), true);
	memset(text, 'b', sizeof(text));
	fake_chunk(cfd, req, text, sizeof(text), true);
	fake_chunk(cfd, req, "c]", 2, false);
	return true;
}

START_TEST(test_stats_chunks)
{
	struct spanheap *h;
	char *json = NULL;
	size_t i, len = 2 * PROTO_CHUNK_MAX + 2;

	fk.hook = hook_stats_chunks;
	h = fake_connect();
	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_uint_eq(strlen(json), len);
	ck_assert_int_eq(json[0], '[');
	for (i = 1; i < len - 2; i++) {
		if (json[i] != (i < PROTO_CHUNK_MAX ? 'a' : 'b'))
			ck_abort_msg("byte %zu is wrong", i);
	}
	ck_assert_str_eq(json + len - 2, "c]");
	free(json);

	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_str_eq(json, "");
	free(json);
	/* Still in step: the default single chunk. */
	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_str_eq(json, FAKE_STATS);
	free(json);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_STATS], 3);
}
END_TEST

static bool hook_stats_refused(struct fake *f, int cfd,
			       const union fake_req *req)
{
	(void)f;
	if (req->hdr.type != PROTO_STATS)
		return false;
	fake_refuse(cfd, req, -EIO);
	return true;
}

START_TEST(test_stats_refused)
{
	struct spanheap *h;
	char *json = (char *)&sentinel;

	fk.hook = hook_stats_refused;
	h = fake_connect();
	ck_assert_int_eq(spanheap_stats_json(h, &json), -EIO);
	ck_assert_ptr_eq(json, &sentinel);
	ck_assert_int_eq(spanheap_scavenge(h, NULL), 0);
	spanheap_close(h);
	fake_join();
}
END_TEST

/* A chunk more than the library takes, and one after it. */
static bool hook_stats_huge(struct fake *f, int cfd,
			    const union fake_req *req)
{
	static char text[PROTO_CHUNK_MAX];
	size_t i;

	if (req->hdr.type != PROTO_STATS || f->nreq[PROTO_STATS] != 1)
		return false;
	memset(text, ' ', sizeof(text));
	for (i = 0; i <= STATS_CAP / PROTO_CHUNK_MAX; i++)
		fake_chunk(cfd, req, text, sizeof(text), true);
	fake_chunk(cfd, req, text, 1, false);
	return true;
}

START_TEST(test_stats_too_big)
{
	struct spanheap *h;
	char *json = (char *)&sentinel;

	fk.hook = hook_stats_huge;
	h = fake_connect();
	ck_assert_int_eq(spanheap_stats_json(h, &json), -EMSGSIZE);
	ck_assert_ptr_eq(json, &sentinel);
	/* The chunk after the one too many was drained. */
	ck_assert_int_eq(spanheap_stats_json(h, &json), 0);
	ck_assert_str_eq(json, FAKE_STATS);
	free(json);
	spanheap_close(h);
	fake_join();
}
END_TEST

START_TEST(test_scavenge_gc)
{
	struct spanheap *h;
	uint64_t released = 0, freed = 0;

	h = fake_connect();
	ck_assert_int_eq(spanheap_scavenge(h, &released), 0);
	ck_assert_uint_eq(released, FAKE_RELEASED);
	ck_assert_int_eq(spanheap_scavenge(h, NULL), 0);
	ck_assert_int_eq(spanheap_gc(h, &freed), 0);
	ck_assert_uint_eq(freed, FAKE_GC_FREED);
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_SCAVENGE], 2);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 2);
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

static TCase *fake_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}

static Suite *client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *tc;

	tc = fake_tcase("connect");
	tcase_add_test(tc, test_connect_env);
	tcase_add_test(tc, test_connect_name_truncated);
	tcase_add_test(tc, test_connect_missing);
	tcase_add_test(tc, test_connect_too_long);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_connect_full);
	tcase_add_test(tc, test_connect_version);
	tcase_add_test(tc, test_connect_bad_welcome);
	tcase_add_test(tc, test_connect_unsealed);
	suite_add_tcase(s, tc);

	tc = fake_tcase("replies");
	tcase_add_test(tc, test_reply_malformed);
	tcase_add_test(tc, test_daemon_hangs_up);
	tcase_add_test(tc, test_daemon_gone);
	suite_add_tcase(s, tc);

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
	tcase_add_test(tc, test_free_batch_partial);
	suite_add_tcase(s, tc);

	tc = fake_tcase("control");
	tcase_add_test(tc, test_stats_chunks);
	tcase_add_test(tc, test_stats_refused);
	tcase_add_test(tc, test_stats_too_big);
	tcase_add_test(tc, test_scavenge_gc);
	suite_add_tcase(s, tc);

	tc = fake_tcase("ptr");
	tcase_add_test(tc, test_ptr_off);
	suite_add_tcase(s, tc);

	tc = fake_tcase("threads");
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(client_suite)
