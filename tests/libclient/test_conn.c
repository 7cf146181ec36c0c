// SPDX-License-Identifier: MIT
/*
 * Tests for libclient/conn.c: how the library connects, how it handles a
 * daemon's answers to the handshake and to a round trip, and how long it
 * waits for them.
 *
 * The daemon here is the fake of tests/libclient/fake.h.  The requests
 * about the daemon as a whole are tested in test_control.c, span calls
 * in test_span.c, both against the same fake; the real daemon's
 * time-outs in tests/e2e/test_timeout.c.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "libclient/internal.h"
#include "libclient/spanheap.h"
#include "proto/proto.h"
#include "tests/lib/testlib.h"
#include "tests/libclient/fake.h"

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
	/* Asked for one (and to keep its session); the fake sends none. */
	ck_assert_uint_eq(fk.hello.flags, PROTO_HELLO_MAGAZINE | PROTO_HELLO_KEEP);
	ck_assert_uint_eq(strnlen(fk.hello.name, PROTO_NAME_MAX),
			  strlen(program_invocation_short_name));
	ck_assert_str_eq(fk.hello.name, program_invocation_short_name);
}
END_TEST

/* SPANHEAP_MAGAZINE=0 at connect time: the HELLO asks for no magazine. */
START_TEST(test_connect_no_magazine_env)
{
	struct spanheap *h = NULL;

	ck_assert_int_eq(setenv(SPANHEAP_MAGAZINE_ENV, "0", 1), 0);
	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
	unsetenv(SPANHEAP_MAGAZINE_ENV);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 1);
	ck_assert_uint_eq(fk.hello.flags, PROTO_HELLO_KEEP);
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

/*
 * spanheap_connect_opts(): NULL opts are the defaults; the size must be
 * at least this struct's, and a larger struct is taken if its unknown
 * fields are zero; the name is the program's for NULL, none for "".
 */
START_TEST(test_connect_opts)
{
	struct {
		struct spanheap_opts o;
		char more[8];
	} big;
	struct spanheap_opts opts = { .size = sizeof(opts) };
	struct spanheap *h = UNTOUCHED;

	fk.nconn = 4;
	fake_start();
	opts.socket_path = fk.path;
	opts.size = sizeof(opts) - 1;
	ck_assert_int_eq(spanheap_connect_opts(&opts, &h), -EINVAL);
	opts.size = 0;
	ck_assert_int_eq(spanheap_connect_opts(&opts, &h), -EINVAL);
	memset(&big, 0, sizeof(big));
	big.o.size = sizeof(big);
	big.o.socket_path = fk.path;
	big.more[5] = 1;
	ck_assert_int_eq(spanheap_connect_opts(&big.o, &h), -E2BIG);
	ck_assert_ptr_eq(h, UNTOUCHED);

	big.more[5] = 0;
	big.o.name = "big";
	ck_assert_int_eq(spanheap_connect_opts(&big.o, &h), 0);
	spanheap_close(h);
	opts.size = sizeof(opts);
	opts.name = "";
	ck_assert_int_eq(spanheap_connect_opts(&opts, &h), 0);
	spanheap_close(h);
	ck_assert_int_eq(spanheap_connect_named(fk.path, NULL, &h), 0);
	spanheap_close(h);
	ck_assert_int_eq(setenv(SPANHEAP_SOCKET_ENV, fk.path, 1), 0);
	ck_assert_int_eq(spanheap_connect_opts(NULL, &h), 0);
	unsetenv(SPANHEAP_SOCKET_ENV);
	ck_assert_uint_eq(spanheap_client_id(h), FAKE_CLIENT_ID);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 4);
	ck_assert_str_eq(fk.name[0], "big");
	ck_assert_str_eq(fk.name[1], "");
	ck_assert_str_eq(fk.name[2], "");
	ck_assert_str_eq(fk.name[3], program_invocation_short_name);
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
		static char big[PROTO_REPLY_MAX + 8];

		memcpy(big, &rep, sizeof(rep));
		fake_send(cfd, big, sizeof(big), -1, 0);
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

/* ---- time-outs ---- */

/* The time-out of the tests that expect one to expire. */
#define SHORT_MS 300

/* Takes the connection and HELLO, and never answers. */
START_TEST(test_connect_no_welcome)
{
	struct spanheap *h = UNTOUCHED;
	int fds = count_fds();

	fk.welcome[0].silent = true;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), -ETIMEDOUT);
	fake_join();
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 1);
	ck_assert_int_eq(count_fds(), fds);
}
END_TEST

/* A listener whose backlog is full and who never accepts. */
START_TEST(test_connect_backlog_full)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct spanheap_opts opts = { .size = sizeof(opts),
				      .timeout_ms = SHORT_MS };
	struct spanheap *h = UNTOUCHED;
	int lfd, fd, filler[8], nfill = 0, fds, i;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/full.sock", fk.dir);
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(lfd, 0);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 0), 0);
	/* Fill the backlog until a connection finds no room. */
	for (;;) {
		ck_assert_int_lt(nfill, 8);
		filler[nfill] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK,
				       0);
		ck_assert_int_ge(filler[nfill], 0);
		if (connect(filler[nfill], (struct sockaddr *)&sa,
			    sizeof(sa)) < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			close(filler[nfill]);
			break;
		}
		nfill++;
	}
	ck_assert_int_gt(nfill, 0);
	fds = count_fds();
	opts.socket_path = sa.sun_path;
	ck_assert_int_eq(spanheap_connect_opts(&opts, &h), -ETIMEDOUT);
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_int_eq(count_fds(), fds);

	/* The library's connection never got into the backlog. */
	for (i = 0; i < nfill; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		ck_assert_int_ge(fd, 0);
		close(fd);
		close(filler[i]);
	}
	ck_assert_int_eq(accept4(lfd, NULL, NULL, SOCK_CLOEXEC), -1);
	ck_assert_int_eq(errno, EAGAIN);
	close(lfd);
	unlink(sa.sun_path);
}
END_TEST

/*
 * $SPANHEAP_TIMEOUT_MS sets the time-out when the caller leaves it 0;
 * what is not a positive number of ms is ignored for the default, and an
 * explicit time-out wins.  The first two connections get no WELCOME, the
 * others one late by DELAY_MS.
 */
#define DELAY_MS 250

START_TEST(test_timeout_env)
{
	static const char *const ignored[] = { "0", "-100", "100ms", " 100",
					       "", "99999999999999999999" };
	const size_t nignored = sizeof(ignored) / sizeof(ignored[0]);
	struct spanheap *h = UNTOUCHED;
	size_t i;

	fk.nconn = (int)nignored + 3;
	fk.welcome[0].silent = true;
	fk.welcome[1].silent = true;
	for (i = 2; i < (size_t)fk.nconn; i++)
		fk.welcome[i].delay_ms = DELAY_MS;
	fake_start();
	ck_assert_int_eq(setenv(SPANHEAP_TIMEOUT_ENV, "100", 1), 0);
	ck_assert_int_eq(spanheap_connect(fk.path, &h), -ETIMEDOUT);
	ck_assert_int_eq(fake_connect_opts(0, &h), -ETIMEDOUT);
	ck_assert_ptr_eq(h, UNTOUCHED);
	ck_assert_int_eq(fake_connect_opts(2 * DELAY_MS, &h), 0);
	spanheap_close(h);
	for (i = 0; i < nignored; i++) {
		ck_assert_int_eq(setenv(SPANHEAP_TIMEOUT_ENV, ignored[i], 1), 0);
		ck_assert_msg(spanheap_connect(fk.path, &h) == 0,
			      "%s=\"%s\" was not ignored",
			      SPANHEAP_TIMEOUT_ENV, ignored[i]);
		spanheap_close(h);
	}
	unsetenv(SPANHEAP_TIMEOUT_ENV);
	fake_join();
}
END_TEST

/* A late WELCOME is fine when the caller waits for ever. */
START_TEST(test_timeout_none)
{
	struct spanheap *h = NULL;

	ck_assert_int_eq(setenv(SPANHEAP_TIMEOUT_ENV, "100", 1), 0);
	fk.welcome[0].delay_ms = DELAY_MS;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(-1, &h), 0);
	unsetenv(SPANHEAP_TIMEOUT_ENV);
	ck_assert_int_eq(spanheap_gc(h, NULL), 0);
	spanheap_close(h);
	fake_join();
}
END_TEST

static void on_alarm(int sig)
{
	(void)sig;
}

/* A signal every 50 ms interrupts the waits, but does not prolong them. */
START_TEST(test_timeout_signals)
{
	struct itimerval every = { .it_interval = { .tv_usec = 50000 },
				   .it_value = { .tv_usec = 50000 } };
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	struct sigaction sa = { .sa_handler = on_alarm };
	struct spanheap *h = UNTOUCHED;

	fk.welcome[0].silent = true;
	fake_start();
	ck_assert_int_eq(sigaction(SIGALRM, &sa, NULL), 0);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &every, NULL), 0);
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), -ETIMEDOUT);
	ck_assert_int_eq(setitimer(ITIMER_REAL, &off, NULL), 0);
	ck_assert_ptr_eq(h, UNTOUCHED);
	fake_join();
}
END_TEST

static bool late_sent;

/* Answers GC only after the client has given up waiting for it. */
static bool hook_late_gc(struct fake *f, int cfd, const union fake_req *req)
{
	struct proto_gc_reply rep = { .freed_spans = 1 };

	(void)f;
	if (req->hdr.type != PROTO_GC)
		return false;
	fake_sleep_ms(2 * SHORT_MS);
	fake_reply_hdr(&rep.hdr, req, 0);
	fake_send(cfd, &rep, sizeof(rep), -1, 0);
	__atomic_store_n(&late_sent, true, __ATOMIC_RELEASE);
	return true;
}

/* A reply that comes after its time-out never answers a later request. */
START_TEST(test_reply_late)
{
	struct spanheap_span span;
	struct spanheap *h = NULL;
	uint64_t n = 99;
	char *json = NULL;
	int i;

	fk.hook = hook_late_gc;
	fake_start();
	ck_assert_int_eq(fake_connect_opts(SHORT_MS, &h), 0);
	ck_assert_int_eq(spanheap_gc(h, &n), -ETIMEDOUT);
	ck_assert_uint_eq(n, 99);
	for (i = 0; i < 3000 && !__atomic_load_n(&late_sent, __ATOMIC_ACQUIRE);
	     i++)
		fake_sleep_ms(10);
	ck_assert(late_sent);
	/* The late reply is waiting in the socket now. */
	ck_assert_int_eq(spanheap_gc(h, &n), -ENOTCONN);
	ck_assert_uint_eq(n, 99);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &span), -ENOTCONN);
	ck_assert_int_eq(spanheap_stats_json(h, &json), -ENOTCONN);
	spanheap_close(h);
	fake_join();
	ck_assert_ptr_null(json);
	ck_assert_uint_eq(fk.nreq[PROTO_GC], 1);
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 0);
	ck_assert_uint_eq(fk.nreq[PROTO_STATS], 0);
}
END_TEST

/* Two connections scripted alike, with a grace to reconnect in. */
static void script_resume(void)
{
	fk.nconn = 2;
	fk.welcome[0].msg.grace_ms = 10000;
	fk.welcome[1] = fk.welcome[0];
}

/*
 * A connection cut under the library is mended within the call: a HELLO
 * that resumes the WELCOME's session, then the request again, its seq
 * the same.
 */
START_TEST(test_resume_mended)
{
	struct spanheap_span s;
	struct spanheap *h;

	script_resume();
	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
	ck_assert_int_eq(shutdown(h->fd, SHUT_RDWR), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), 0);
	ck_assert_uint_eq(spanheap_client_id(h), FAKE_CLIENT_ID);
	spanheap_close(h);
	fake_join();

	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 2);
	ck_assert_uint_eq(fk.hello.flags, PROTO_HELLO_RESUME |
					  PROTO_HELLO_KEEP |
					  PROTO_HELLO_MAGAZINE);
	ck_assert_uint_eq(fk.hello.next_seq, 1);
	ck_assert_mem_eq(&fk.hello.session, &fk.welcome[0].msg.session,
			 sizeof(fk.hello.session));
	ck_assert_str_eq(fk.hello.name, program_invocation_short_name);
	/* Sent once on each connection: the first was cut before it. */
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 1);
}
END_TEST

/* A resume that finds another arena: -ESTALE, now and from then on. */
static void expect_stale(void)
{
	struct spanheap_span s;
	struct spanheap *h;

	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
	ck_assert_int_eq(shutdown(h->fd, SHUT_RDWR), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), -ESTALE);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), -ESTALE);
	ck_assert_int_eq(spanheap_gc(h, NULL), -ESTALE);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 2);
	ck_assert_uint_eq(fk.nreq[PROTO_SPAN_ALLOC], 0);
}

START_TEST(test_resume_other_arena_id)
{
	script_resume();
	fk.welcome[1].msg.session.arena_id[1] ^= 1;
	expect_stale();
}
END_TEST

/* The same arena id with another memfd: not our mapping's arena. */
START_TEST(test_resume_other_memfd)
{
	struct arena *other;

	ck_assert_int_eq(arena_create(FAKE_ARENA_SIZE, "other", &other), 0);
	script_resume();
	fk.welcome[1].fd = other->fd;
	expect_stale();
	arena_destroy(other);
}
END_TEST

START_TEST(test_resume_refused)
{
	script_resume();
	fk.welcome[1].msg.hdr.status = -ESTALE;
	fk.welcome[1].len = sizeof(struct proto_hdr);
	fk.welcome[1].nfds = 0;
	expect_stale();
}
END_TEST

/* No grace (a daemon of protocol v5 that keeps nothing): -ENOTCONN. */
START_TEST(test_resume_no_grace)
{
	struct spanheap_span s;
	struct spanheap *h;

	fake_start();
	ck_assert_int_eq(spanheap_connect(fk.path, &h), 0);
	ck_assert_int_eq(shutdown(h->fd, SHUT_RDWR), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), -ENOTCONN);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s), -ENOTCONN);
	spanheap_close(h);
	fake_join();
	ck_assert_uint_eq(fk.nreq[PROTO_HELLO], 1);
}
END_TEST

static Suite *conn_suite(void)
{
	Suite *s = suite_create("conn");
	TCase *tc;

	tc = fake_tcase("connect");
	tcase_add_test(tc, test_connect_env);
	tcase_add_test(tc, test_connect_no_magazine_env);
	tcase_add_test(tc, test_connect_name_truncated);
	tcase_add_test(tc, test_connect_opts);
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

	tc = fake_tcase("timeouts");
	tcase_add_test(tc, test_connect_no_welcome);
	tcase_add_test(tc, test_connect_backlog_full);
	tcase_add_test(tc, test_timeout_env);
	tcase_add_test(tc, test_timeout_none);
	tcase_add_test(tc, test_timeout_signals);
	tcase_add_test(tc, test_reply_late);
	suite_add_tcase(s, tc);

	tc = fake_tcase("resume");
	tcase_add_test(tc, test_resume_mended);
	tcase_add_test(tc, test_resume_other_arena_id);
	tcase_add_test(tc, test_resume_other_memfd);
	tcase_add_test(tc, test_resume_refused);
	tcase_add_test(tc, test_resume_no_grace);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(conn_suite)
