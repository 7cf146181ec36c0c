// SPDX-License-Identifier: MIT
/* The fake daemon of the tests of libclient/: see fake.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tests/lib/testlib.h"
#include "tests/libclient/fake.h"

struct fake fk;

void fake_fail(struct fake *f, const char *what)
{
	if (!f->failure[0])
		snprintf(f->failure, sizeof(f->failure), "fake daemon: %s",
			 what);
}

void fake_sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Wait until the client hangs up, reading and dropping what it sends. */
static void fake_drain(int cfd)
{
	char buf[PROTO_REQUEST_MAX];

	while (recv(cfd, buf, sizeof(buf), 0) > 0)
		;
}

void fake_send(int cfd, const void *buf, size_t len, int fd,
	       int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * FAKE_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)(uintptr_t)buf,
			     .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	int i;

	/* A script that asks for more is the test's own mistake. */
	if (nfds < 0 || nfds > FAKE_MAX_FDS)
		abort();
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

void fake_reply_hdr(struct proto_hdr *hdr,
		    const union fake_req *req, int32_t status)
{
	proto_hdr_init(hdr, req->hdr.type | PROTO_REPLY, req->hdr.seq);
	hdr->status = status;
}

void fake_refuse(int cfd, const union fake_req *req,
		 int32_t status)
{
	struct proto_hdr hdr;

	fake_reply_hdr(&hdr, req, status);
	fake_send(cfd, &hdr, sizeof(hdr), -1, 0);
}

void fake_chunk(int cfd, const union fake_req *req,
		const char *data, size_t len, bool more)
{
	static struct proto_stats_reply rep;

	memset(&rep, 0, proto_stats_reply_size(0));
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.len = (uint32_t)len;
	rep.flags = more ? PROTO_MORE : 0;
	memcpy(rep.data, data, len);
	fake_send(cfd, &rep, proto_stats_reply_size(rep.len), -1, 0);
}

static void fake_alloc(struct fake *f, int cfd,
		       const union fake_req *req)
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

	if (f->nreq[PROTO_SPAN_FREE] <= FAKE_MAX_REQS) {
		f->free_count[f->nreq[PROTO_SPAN_FREE] - 1] = m->count;
		f->free_flags[f->nreq[PROTO_SPAN_FREE] - 1] = m->flags;
	}
	for (i = 0; i < m->count && !(m->flags & PROTO_FREE_CHECK); i++)
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
	for (i = 0; i < m->count && !(m->flags & PROTO_FREE_CHECK); i++)
		f->live[m->off[i] / PG] = 0;
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.count = m->count;
	fake_send(cfd, &rep, sizeof(rep), -1, 0);
}

/* The answers of a daemon that works. */
static void fake_answer(struct fake *f, int cfd,
			const union fake_req *req)
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
		if (!fake_object_answer(f, cfd, req))
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
	/* spanheap_close() says BYE: the end of the connection. */
	if (req->hdr.type == PROTO_BYE)
		return false;
	f->nreq[req->hdr.type]++;
	memcpy(f->last[req->hdr.type], req, (size_t)n);
	f->last_len[req->hdr.type] = (size_t)n;
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
		memcpy(f->name[f->conn], req.hello.name, PROTO_NAME_MAX);
	}
	if (w->silent) {
		fake_drain(cfd);
		return false;
	}
	fake_sleep_ms(w->delay_ms);
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
	w->msg.session.arena_id[0] = 1;
	w->msg.session.owner = 1;
	w->msg.session.client_id = FAKE_CLIENT_ID;
	w->msg.generation = 1;
	w->len = sizeof(w->msg);
	w->nfds = 1;
	w->fd = -1;
}

static void setup(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int i;

	memset(&fk, 0, sizeof(fk));
	test_tmpdir(fk.dir, sizeof(fk.dir), "spanheap-client");
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
	test_tmpdir_remove(fk.dir);
	arena_destroy(fk.arena);
	free(fk.live);
}

void fake_start(void)
{
	ck_assert_int_eq(pthread_create(&fk.thread, NULL, fake_main, &fk), 0);
	fk.running = true;
}

void fake_join(void)
{
	ck_assert(fk.running);
	ck_assert_int_eq(pthread_join(fk.thread, NULL), 0);
	fk.running = false;
	ck_assert_msg(!fk.failure[0], "%s", fk.failure);
}

struct spanheap *fake_connect(void)
{
	struct spanheap *h = NULL;

	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
	return h;
}

int fake_connect_opts(int timeout_ms, struct spanheap **ret)
{
	struct spanheap_opts opts = {
		.size = sizeof(opts),
		.socket_path = fk.path,
		.timeout_ms = timeout_ms,
	};

	return spanheap_connect_opts(&opts, ret);
}

size_t fake_live_spans(void)
{
	size_t i, n = 0;

	for (i = 0; i < FAKE_PAGES; i++)
		n += fk.live[i] != 0;
	return n;
}

TCase *fake_tcase(const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	return tc;
}
