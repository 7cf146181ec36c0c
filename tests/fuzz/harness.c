// SPDX-License-Identifier: MIT
/*
 * The fuzz targets' daemon and their reply checker: see harness.h for the
 * model of what the daemon must answer.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/fuzz/harness.h"

#define FUZZ_ARENA (UINT64_C(4) << 20)
/* Small enough for an input to fill: -ENOSPC is a path to cover too. */
#define FUZZ_MAX_OBJECTS 16
#define FUZZ_MAX_REFS 24
/* A few clients' STATS text is a few KiB; more is a runaway. */
#define FUZZ_JSON_MAX (1u << 20)
/* How long a wait for the daemon may take before it is a hang. */
#define FUZZ_WAIT_NS (UINT64_C(30) * 1000000000)

struct daemon fuzz_d;

/* The ids of the input's objects, in the order replies named them. */
static uint64_t ids[FUZZ_IDS];
static unsigned int nids;

/* A timer that bounds each blocking turn of the loop in fuzz_wait(). */
static struct event *wake;
/* FUZZ_TRACE set: every final reply is told on stderr, to write seeds. */
static bool trace;

/*
 * libFuzzer's -close_fd_mask=2 (which silences the daemon's log) sends
 * stderr to /dev/null but gives the sanitizers' reports a copy of it:
 * the reason for an abort goes there when a sanitizer is linked in.
 */
extern void __sanitizer_report_error_summary(const char *summary)
	__attribute__((weak));

void fuzz_fail(size_t at, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%s: ", program_invocation_short_name);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	snprintf(line + n, sizeof(line) - (size_t)n, " (input byte %zu)", at);
	if (__sanitizer_report_error_summary)
		__sanitizer_report_error_summary(line);
	else
		fprintf(stderr, "%s\n", line);
	abort();
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
}

void fuzz_setup(void)
{
	static bool ready;
	uint32_t owners = DEFAULT_MAX_CLIENTS + DAEMON_OWNERS_SPARE;
	struct heap_config cfg = { .arena_size = FUZZ_ARENA,
				   .max_owners = owners,
				   .max_objects = FUZZ_MAX_OBJECTS,
				   .max_refs = FUZZ_MAX_REFS };
	struct daemon *d = &fuzz_d;
	struct heap_ops ops;
	uint64_t meta;

	if (ready)
		return;
	ready = true;
	trace = getenv("FUZZ_TRACE") != NULL;
	memset(d, 0, sizeof(*d));
	d->opt.socket_path = "(fuzz)";
	d->opt.socket_mode = DEFAULT_SOCKET_MODE;
	d->opt.socket_gid = (gid_t)-1;
	d->opt.arena_size = FUZZ_ARENA;
	d->opt.scavenge_after_ns = DEFAULT_SCAVENGE_AFTER_NS;
	d->opt.gc_after_ns = DEFAULT_GC_AFTER_NS;
	d->opt.max_clients = DEFAULT_MAX_CLIENTS;
	d->opt.max_objects = FUZZ_MAX_OBJECTS;
	d->opt.max_refs = FUZZ_MAX_REFS;
	core_init(&d->core);
	signal(SIGPIPE, SIG_IGN);
	/* The scavenger thread wakes the loop: libevent must know threads. */
	if (evthread_use_pthreads() < 0)
		fuzz_fail(0, "libevent without threads");
	d->base = event_base_new();
	if (!d->base || arena_create(FUZZ_ARENA, "fuzz-arena", &d->arena) < 0)
		fuzz_fail(0, "cannot set up the daemon");
	if (heap_layout_size(&cfg, &meta) < 0 ||
	    arena_create(meta, "fuzz-meta", &d->meta) < 0)
		fuzz_fail(0, "cannot map the heap's metadata");
	arena_heap_ops(d->arena, d->meta, &ops);
	if (heap_format(d->meta->base, d->meta->size, &cfg, &ops,
			&d->core.heap) < 0)
		fuzz_fail(0, "cannot create the heap");
	/*
	 * As daemon_init(), but the rate limit and the progress timer are
	 * off (0), and the HELLO timeout is the daemon's: with 0 one
	 * client's loop run drops the others.
	 */
	daemon_compose(d);
	/*
	 * The peers are this process, which never exits: a session kept
	 * after its hang-up would outlive the input.  Every client goes
	 * for good, as when the daemon stops.
	 */
	d->clients.stopping = true;
	d->clients.control_interval_ns = 0;
	d->clients.progress_interval_ns = 0;
	/* Magazines, without their tick (harness.h). */
	d->clients.mag_bytes = FUZZ_MAG_BYTES;
	d->clients.mag_idle_ns = DEFAULT_SCAVENGE_AFTER_NS;
	if (scavenger_start(&d->scav) < 0)
		fuzz_fail(0, "cannot start the scavenger");
	wake = evtimer_new(d->base, on_wake, NULL);
	if (!wake)
		fuzz_fail(0, "cannot make a timer");
}

void fuzz_peer_open(struct fuzz_peer *p, bool slow)
{
	struct client *c;
	int sv[2], sndbuf = PROTO_REPLY_MAX / 2 + 64;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, sv) < 0)
		fuzz_fail(0, "socketpair: %s", strerror(errno));
	/*
	 * Room for the largest reply (the kernel doubles the figure, and
	 * refuses a datagram over it less 32 bytes), but full after a few:
	 * unread replies soon wait in the daemon's queue.
	 */
	if (slow && setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
			       sizeof(sndbuf)) < 0)
		fuzz_fail(0, "SO_SNDBUF: %s", strerror(errno));
	client_accept(&fuzz_d.clients, sv[0]);
	TAILQ_FOREACH(c, &fuzz_d.clients.list, link)
		if (c->fd == sv[0])
			break;
	if (!c)
		fuzz_fail(0, "client_accept made no client");
	memset(p, 0, sizeof(*p));
	p->fd = sv[1];
	p->id = c->id;
}

struct client *fuzz_peer_client(const struct fuzz_peer *p)
{
	struct client *c;

	TAILQ_FOREACH(c, &fuzz_d.clients.list, link)
		if (c->id == p->id)
			return c;
	return NULL;
}

static void forget(struct fuzz_peer *p)
{
	p->n = 0;
	free(p->json);
	p->json = NULL;
	p->json_len = 0;
}

void fuzz_peer_close(struct fuzz_peer *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	forget(p);
}

void fuzz_peer_shutdown(struct fuzz_peer *p, int how)
{
	if (shutdown(p->fd, how) < 0)
		fuzz_fail(0, "shutdown: %s", strerror(errno));
	if (how != SHUT_WR) {
		p->rd_shut = true;
		forget(p);
	}
}

void fuzz_ids_reset(void)
{
	nids = 0;
}

/* A successful reply named object @id. */
static void id_seen(uint64_t id, size_t at)
{
	if (id <= FUZZ_IDS)
		fuzz_fail(at, "harness bug: object id %llu is an alias",
			  (unsigned long long)id);
	for (unsigned int i = 0; i < nids; i++)
		if (ids[i] == id)
			return;
	if (nids < FUZZ_IDS)
		ids[nids++] = id;
}

void fuzz_obj_alias(void *buf, size_t len)
{
	struct proto_obj_id m;

	if (len != sizeof(m) || proto_check_request(buf, len) < 0)
		return;
	memcpy(&m, buf, sizeof(m));
	if ((m.hdr.type != PROTO_OBJ_SEAL && m.hdr.type != PROTO_OBJ_RELEASE) ||
	    m.id > nids)
		return;
	m.id = ids[m.id - 1];
	memcpy(buf, &m, sizeof(m));
}

bool fuzz_peer_room(const struct fuzz_peer *p)
{
	return p->n < FUZZ_PENDING_MAX;
}

void fuzz_peer_sent(struct fuzz_peer *p, const void *buf, size_t len,
		    unsigned int nfds)
{
	struct fuzz_req *q;
	struct proto_hdr hdr = { 0 };

	if (len >= sizeof(hdr))
		memcpy(&hdr, buf, sizeof(hdr));
	/* As dispatch_reject() reads it: never answered, even refused. */
	if (proto_msg(hdr.type & (uint16_t)~PROTO_REPLY) &&
	    proto_msg(hdr.type & (uint16_t)~PROTO_REPLY)->no_reply)
		return;
	if (!fuzz_peer_room(p))
		fuzz_fail(0, "harness bug: pending ring full");
	q = &p->pending[(p->head + p->n++) % FUZZ_PENDING_MAX];
	memset(q, 0, sizeof(*q));
	q->type = hdr.type & (uint16_t)~PROTO_REPLY;
	q->seq = hdr.seq;
	q->fds = nfds > 0;
	q->oversized = len > PROTO_REQUEST_MAX;
	q->valid = !q->oversized && proto_check_request(buf, len) == 0;
	if (!q->valid)
		return;
	if (q->type == PROTO_HELLO) {
		struct proto_hello m;

		memcpy(&m, buf, sizeof(m));
		q->flags = m.flags;
	} else if (q->type == PROTO_SPAN_ALLOC) {
		struct proto_alloc m;

		memcpy(&m, buf, sizeof(m));
		q->count = m.count;
		q->npages = m.npages;
	} else if (q->type == PROTO_SPAN_FREE) {
		struct proto_free m;

		memcpy(&m, buf, proto_free_size(0));
		q->count = m.count;
	} else if (q->type == PROTO_CLIENTS) {
		struct proto_clients m;

		memcpy(&m, buf, sizeof(m));
		q->max = m.max;
	} else if (q->type == PROTO_OBJECTS) {
		struct proto_objects m;

		memcpy(&m, buf, sizeof(m));
		q->max = m.max;
	} else if (q->type == PROTO_OBJ_CREATE) {
		struct proto_obj_create m;

		memcpy(&m, buf, offsetof(struct proto_obj_create, name));
		q->size = m.size;
	} else if (q->type == PROTO_OBJ_GET) {
		struct proto_obj_get m;

		memcpy(&m, buf, offsetof(struct proto_obj_get, name));
		q->timeout_ms = m.timeout_ms;
	}
}

/*
 * One page of OBJECTS: at most @max objects, each with an id and a
 * state, and a cursor "next" that is 0 unless the page is full.
 */
static void check_objects_page(json_t *j, uint32_t max, size_t at)
{
	json_t *list = json_object_get(j, "objects");
	json_t *next = json_object_get(j, "next"), *e;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) > max ||
	    !json_is_integer(next) || json_integer_value(next) < 0)
		fuzz_fail(at, "OBJECTS page without objects[<= %u] and next",
			  max);
	if (json_integer_value(next) && json_array_size(list) != max)
		fuzz_fail(at, "OBJECTS page of %zu objects of %u, yet next %lld",
			  json_array_size(list), max,
			  (long long)json_integer_value(next));
	json_array_foreach(list, i, e) {
		json_t *id = json_object_get(e, "id");
		json_t *state = json_object_get(e, "state");

		if (!json_is_integer(id) || json_integer_value(id) <= 0 ||
		    !json_is_string(state) ||
		    !json_is_string(json_object_get(e, "name")))
			fuzz_fail(at, "object %zu of an OBJECTS page without id, name and state",
				  i);
	}
}

/* The whole text of a STATS, CLIENTS or OBJECTS answer. */
static void check_json(const struct fuzz_peer *p, const struct fuzz_req *q,
		       size_t at)
{
	json_error_t err;
	json_t *j = json_loadb(p->json, p->json_len, 0, &err), *list, *next;

	if (!j || !json_is_object(j))
		fuzz_fail(at, "%s text of %zu bytes is no JSON object: %s",
			  proto_type_name(q->type), p->json_len,
			  j ? "not an object" : err.text);
	if (q->type == PROTO_CLIENTS) {
		list = json_object_get(j, "clients");
		next = json_object_get(j, "next");
		if (!json_is_array(list) || json_array_size(list) > q->max ||
		    !json_is_integer(next) || json_integer_value(next) < 0)
			fuzz_fail(at, "CLIENTS page without clients[<= %u] and next",
				  q->max);
	}
	if (q->type == PROTO_OBJECTS)
		check_objects_page(j, q->max, at);
	json_decref(j);
}

static void append_json(struct fuzz_peer *p, const char *text, size_t len,
			size_t at)
{
	char *s;

	if (p->json_len + len > FUZZ_JSON_MAX)
		fuzz_fail(at, "over %u bytes of JSON text in one answer",
			  FUZZ_JSON_MAX);
	s = realloc(p->json, p->json_len + len + 1);
	if (!s)
		fuzz_fail(at, "out of memory");
	memcpy(s + p->json_len, text, len);
	p->json = s;
	p->json_len += len;
}

/*
 * A successful OBJ_CREATE or OBJ_GET: a span of the arena, page aligned,
 * of exactly the pages the size needs (of the size asked for a create).
 */
static void check_obj(struct fuzz_peer *p, const struct fuzz_req *q,
		      const void *buf, size_t at)
{
	struct proto_obj_reply m;
	uint64_t arena = fuzz_d.arena->size;

	memcpy(&m, buf, sizeof(m));
	if (!m.id || m.off % HEAP_PAGE_SIZE || m.off >= arena ||
	    m.npages > (arena - m.off) / HEAP_PAGE_SIZE)
		fuzz_fail(at, "%s object %llu not a span of the arena: %llu pages at %llu",
			  proto_type_name(q->type), (unsigned long long)m.id,
			  (unsigned long long)m.npages,
			  (unsigned long long)m.off);
	if (m.npages != (m.size + HEAP_PAGE_SIZE - 1) / HEAP_PAGE_SIZE ||
	    (q->type == PROTO_OBJ_CREATE && m.size != q->size))
		fuzz_fail(at, "%s object %llu of %llu bytes in %llu pages",
			  proto_type_name(q->type), (unsigned long long)m.id,
			  (unsigned long long)m.size,
			  (unsigned long long)m.npages);
	p->last_obj = m;
	id_seen(m.id, at);
}

/*
 * A successful WELCOME: the daemon's sizes, and a magazine only if asked
 * for, of its region's size, its memfd as big (@sizes: the fds' sizes).
 */
static void check_welcome(struct fuzz_peer *p, const struct fuzz_req *q,
			  const void *buf, const off_t *sizes, size_t at)
{
	struct proto_welcome w;

	memcpy(&w, buf, sizeof(w));
	if (w.page_size != HEAP_PAGE_SIZE || w.max_batch != PROTO_MAX_BATCH ||
	    w.arena_size != fuzz_d.arena->size || w.client_id != p->id)
		fuzz_fail(at, "WELCOME with wrong sizes or client id %u",
			  w.client_id);
	if (w.mag_size &&
	    (!(q->flags & PROTO_HELLO_MAGAZINE) || !fuzz_d.clients.mag_bytes ||
	     w.mag_size != mag_layout_size((uint32_t)HEAP_PAGE_SIZE) ||
	     sizes[1] != (off_t)w.mag_size))
		fuzz_fail(at, "a WELCOME with a magazine of %u bytes (a memfd of %lld) to a HELLO of flags %#x",
			  w.mag_size, (long long)sizes[1], q->flags);
}

/* What a successful reply of @len bytes to @q must say; true if more come. */
static bool check_success(struct fuzz_peer *p, const struct fuzz_req *q,
			  const void *buf, size_t len, size_t at)
{
	switch (q->type) {
	case PROTO_HELLO:
		return false;
	case PROTO_SPAN_ALLOC: {
		static struct proto_alloc_reply m;

		memcpy(&m, buf, len);
		if (m.count != q->count)
			fuzz_fail(at, "SPAN_ALLOC of %u spans answered with %u",
				  q->count, m.count);
		for (uint32_t i = 0; i < m.count; i++)
			if (m.spans[i].off % HEAP_PAGE_SIZE ||
			    m.spans[i].npages != q->npages ||
			    m.spans[i].off > fuzz_d.arena->size ||
			    q->npages > (fuzz_d.arena->size - m.spans[i].off) /
						HEAP_PAGE_SIZE)
				fuzz_fail(at, "span %u of SPAN_ALLOC not %llu pages in the arena",
					  i, (unsigned long long)q->npages);
		return false;
	}
	case PROTO_SPAN_FREE: {
		struct proto_free_reply m;

		memcpy(&m, buf, sizeof(m));
		if (m.count != q->count)
			fuzz_fail(at, "SPAN_FREE of %u spans answered with %u",
				  q->count, m.count);
		return false;
	}
	case PROTO_STATS:
	case PROTO_CLIENTS:
	case PROTO_OBJECTS: {
		const struct proto_stats_reply *m = buf;

		append_json(p, m->data, m->len, at);
		if (m->flags & PROTO_MORE)
			return true;
		check_json(p, q, at);
		return false;
	}
	case PROTO_SCAVENGE: {
		struct proto_scavenge_reply m;

		memcpy(&m, buf, sizeof(m));
		return m.flags & PROTO_MORE;
	}
	case PROTO_OBJ_CREATE:
	case PROTO_OBJ_GET:
		check_obj(p, q, buf, at);
		return false;
	default:
		return false;
	}
}

/* What a failed reply that is not a bare header must say. */
static void check_error(const struct fuzz_req *q, const void *buf, size_t at)
{
	uint32_t flags;

	switch (q->type) {
	case PROTO_OBJ_CREATE:
	case PROTO_OBJ_GET:
		fuzz_fail(at, "a failed %s that is not a bare header",
			  proto_type_name(q->type));
	case PROTO_SPAN_ALLOC: {
		struct proto_alloc_reply m;

		memcpy(&m, buf, proto_alloc_reply_size(0));
		if (m.count)
			fuzz_fail(at, "failed SPAN_ALLOC with %u spans", m.count);
		break;
	}
	case PROTO_SPAN_FREE: {
		struct proto_free_reply m;

		memcpy(&m, buf, sizeof(m));
		if (m.count || m.bad >= q->count)
			fuzz_fail(at, "failed SPAN_FREE of %u says %u freed, bad %u",
				  q->count, m.count, m.bad);
		break;
	}
	case PROTO_STATS:
	case PROTO_CLIENTS:
	case PROTO_OBJECTS:
		memcpy(&flags, (const char *)buf +
			       offsetof(struct proto_stats_reply, flags),
		       sizeof(flags));
		if (flags & PROTO_MORE)
			fuzz_fail(at, "an error chunk with PROTO_MORE");
		break;
	}
}

/* What a get's status may be, given its timeout. */
static void check_get_status(const struct fuzz_req *q, int32_t status,
			     size_t at)
{
	if ((status == -ENOENT && q->timeout_ms) ||
	    (status == -ETIMEDOUT && q->timeout_ms <= 0))
		fuzz_fail(at, "OBJ_GET of timeout %d ms answered %d",
			  q->timeout_ms, status);
}

/* The fds a successful WELCOME of @len bytes in @buf says come with it. */
static unsigned int welcome_fds(const void *buf, size_t len)
{
	struct proto_welcome w;

	if (len != sizeof(w))
		return 1;
	memcpy(&w, buf, sizeof(w));
	return w.mag_size ? 2 : 1;
}

/*
 * One reply with @nfds fds, of the sizes @sizes (the first two): check it
 * against the oldest pending request.
 */
static void check_reply(struct fuzz_peer *p, const void *buf, size_t len,
			unsigned int nfds, const off_t *sizes, size_t at)
{
	struct fuzz_req *q;
	struct proto_hdr hdr;
	bool more = false, bare = len == sizeof(hdr);
	unsigned int want = 0;

	if (!p->n)
		fuzz_fail(at, "client %u: a reply of %zu bytes to nothing",
			  p->id, len);
	q = &p->pending[p->head];
	if (proto_check_reply(buf, len, q->type, q->seq) != 0)
		fuzz_fail(at, "client %u: malformed reply of %zu bytes to %s seq %u",
			  p->id, len, proto_type_name(q->type), q->seq);
	memcpy(&hdr, buf, sizeof(hdr));
	if (!q->valid && (hdr.status >= 0 || !bare))
		fuzz_fail(at, "client %u: a %s%s request of type %#x served",
			  p->id, q->oversized ? "oversized" : "malformed",
			  q->fds ? ", with fds," : "", q->type);
	if (q->type == PROTO_HELLO && !hdr.status)
		want = welcome_fds(buf, len);
	if (nfds != want)
		fuzz_fail(at, "client %u: %u fds with a %s reply of status %d",
			  p->id, nfds, proto_type_name(q->type), hdr.status);
	if (want)
		check_welcome(p, q, buf, sizes, at);
	if (hdr.status == 0)
		more = check_success(p, q, buf, len, at);
	else if (!bare)
		check_error(q, buf, at);
	if (q->valid && q->type == PROTO_OBJ_GET)
		check_get_status(q, hdr.status, at);
	if (more)
		return;
	if (trace)
		fprintf(stderr, "fuzz: client %u: %s seq %u: %s%s\n", p->id,
			proto_type_name(q->type), q->seq,
			hdr.status ? strerror(-hdr.status) : "ok",
			q->valid ? "" : " (not valid)");
	p->last_status = hdr.status;
	p->last_count = 0;
	if (!bare && (q->type == PROTO_SPAN_ALLOC ||
		      q->type == PROTO_SPAN_FREE))
		memcpy(&p->last_count, (const char *)buf + sizeof(hdr),
		       sizeof(p->last_count));
	free(p->json);
	p->json = NULL;
	p->json_len = 0;
	p->head = (p->head + 1) % FUZZ_PENDING_MAX;
	p->n--;
}

/*
 * Close every fd that came with @msg; returns how many, and the sizes of
 * the first two in @ret_sizes (-1 for none).
 */
static unsigned int close_fds(struct msghdr *msg, off_t *ret_sizes,
			      size_t at)
{
	unsigned int n = 0;

	ret_sizes[0] = ret_sizes[1] = -1;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm;
	     cm = CMSG_NXTHDR(msg, cm)) {
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (cm->cmsg_level != SOL_SOCKET ||
		    cm->cmsg_type != SCM_RIGHTS)
			fuzz_fail(at, "odd control message in a reply");
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (n < 2) {
				struct stat st;

				if (fstat(fd, &st) < 0)
					fuzz_fail(at, "fstat of a passed fd: %s",
						  strerror(errno));
				ret_sizes[n] = st.st_size;
			}
			close(fd);
			n++;
		}
	}
	return n;
}

unsigned int fuzz_peer_drain(struct fuzz_peer *p, size_t at)
{
	static union {
		struct proto_hdr hdr;
		char buf[PROTO_REPLY_MAX + 1];
	} u;
	unsigned int finals = 0;

	if (p->fd < 0 || p->rd_shut || p->gone)
		return 0;
	for (;;) {
		union {
			char buf[CMSG_SPACE(8 * sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { u.buf, sizeof(u.buf) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf,
			.msg_controllen = sizeof(cbuf.buf),
		};
		unsigned int nfds, before = p->n;
		off_t sizes[2];
		ssize_t r;

		r = recvmsg(p->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return finals;
		/*
		 * The daemon closed its end with our requests unread: said
		 * once, before the replies it sent and the end of the stream.
		 */
		if (r < 0 && errno == ECONNRESET && !fuzz_peer_client(p))
			continue;
		if (r < 0)
			fuzz_fail(at, "client %u: recvmsg: %s", p->id,
				  strerror(errno));
		nfds = close_fds(&msg, sizes, at);
		if (r == 0 && !nfds) {
			/* The daemon closed its end: nothing more comes. */
			p->gone = true;
			forget(p);
			return finals;
		}
		if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
			fuzz_fail(at, "a reply over PROTO_REPLY_MAX or with over 8 fds");
		check_reply(p, u.buf, (size_t)r, nfds, sizes, at);
		finals += p->n < before;
	}
}

bool fuzz_peer_waiting(const struct fuzz_peer *p)
{
	const struct client *c = fuzz_peer_client(p);
	const struct fuzz_req *q = &p->pending[p->head];

	return c && c->objwait && p->n && q->valid &&
	       q->type == PROTO_OBJ_GET && q->timeout_ms;
}

bool fuzz_peer_settled(const struct fuzz_peer *p)
{
	return p->fd < 0 || p->rd_shut || p->gone || !p->n ||
	       !fuzz_peer_client(p) || fuzz_peer_waiting(p);
}

void fuzz_wait(bool (*done)(void *arg), void *arg, const char *what,
	       size_t at)
{
	const struct timeval turn = { 0, 10000 };
	uint64_t deadline = daemon_now() + FUZZ_WAIT_NS;

	for (;;) {
		/* Without EVLOOP_ONCE: until nothing is ready. */
		event_base_loop(fuzz_d.base, EVLOOP_NONBLOCK);
		if (done(arg))
			break;
		if (daemon_now() > deadline)
			fuzz_fail(at, "%s after 30 s", what);
		evtimer_add(wake, &turn);
		event_base_loop(fuzz_d.base, EVLOOP_ONCE);
	}
	evtimer_del(wake);
}

void fuzz_spans_locked(void (*fn)(void *ctx, uint64_t off, uint32_t owner,
				  uint64_t npages, unsigned int state),
		       void *ctx)
{
	struct heap *h = fuzz_d.core.heap;

	daemon_assert_locked(&fuzz_d.core);
	for (uint64_t off = 0; off < fuzz_d.arena->size;) {
		unsigned int state;
		uint64_t npages;
		uint32_t owner;

		if (heap_mag_get(h, off, &owner, &npages, &state) < 0) {
			off += HEAP_PAGE_SIZE;
			continue;
		}
		fn(ctx, off, owner, npages, state);
		off += npages * HEAP_PAGE_SIZE;
	}
}

struct owned_walk {
	uint32_t owner;
	struct fuzz_owned *o;
	size_t at;
};

static void owned_one(void *ctx, uint64_t off, uint32_t owner,
		      uint64_t npages, unsigned int state)
{
	struct owned_walk *w = ctx;
	int c;

	if (owner != w->owner)
		return;
	w->o->spans++;
	w->o->pages += npages;
	if (state == HEAP_MAG_NONE)
		return;
	c = mag_class_of(npages);
	if (c < 0 || UINT64_C(1) << c != npages)
		fuzz_fail(w->at, "a magazine span of %llu pages at 0x%llx",
			  (unsigned long long)npages, (unsigned long long)off);
	w->o->mag++;
	if (state == HEAP_MAG_FILL)
		w->o->fill[c]++;
	else
		w->o->held[c]++;
}

void fuzz_owned_locked(uint32_t owner, struct fuzz_owned *ret, size_t at)
{
	struct owned_walk w = { owner, ret, at };

	memset(ret, 0, sizeof(*ret));
	fuzz_spans_locked(owned_one, &w);
}

static bool scavenger_idle(void *arg)
{
	struct heap_stats hs;
	unsigned int queued;

	(void)arg;
	daemon_heap_lock(&fuzz_d.core);
	heap_stats(fuzz_d.core.heap, &hs);
	queued = fuzz_d.scav.scav.ndeparted;
	daemon_heap_unlock(&fuzz_d.core);
	return !hs.held && !queued;
}

/* The thread needs no loop for departed ranges: poll, briefly. */
void fuzz_scavenger_idle(size_t at)
{
	const struct timespec pause = { 0, 100000 };
	uint64_t deadline = daemon_now() + FUZZ_WAIT_NS;

	while (!scavenger_idle(NULL)) {
		if (daemon_now() > deadline)
			fuzz_fail(at, "the scavenger still releasing after 30 s");
		nanosleep(&pause, NULL);
	}
}

int fuzz_fd_count(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!dir)
		fuzz_fail(0, "/proc/self/fd: %s", strerror(errno));
	while ((e = readdir(dir)))
		n += e->d_name[0] != '.';
	closedir(dir);
	return n;
}

/*
 * With every client gone, only SEALED objects that nobody holds may be
 * left (their creators' OPEN ones were aborted, every reference
 * dropped): delete each, which frees it at once.
 */
static void delete_objects_locked(size_t at)
{
	struct heap *h = fuzz_d.core.heap;
	struct heap_obj_stats s;
	struct heap_obj_info i;
	uint64_t cursor = 0;

	heap_obj_stats(h, &s);
	if (s.open || s.deleted || s.refs || s.ref_records)
		fuzz_fail(at, "%llu open, %llu deleted objects and %llu references left after every client went",
			  (unsigned long long)s.open,
			  (unsigned long long)s.deleted,
			  (unsigned long long)s.refs);
	while (heap_obj_next(h, &cursor, &i)) {
		uint64_t now = daemon_now();

		if (i.state != HEAP_OBJ_SEALED || i.deleted || i.refs ||
		    heap_obj_delete(h, i.name, i.name_len, 0, now) < 0 ||
		    heap_obj_lookup(h, i.id, &i) == 0)
			fuzz_fail(at, "object %llu (%s) left, and not freed by its delete",
				  (unsigned long long)i.id, i.name);
	}
	heap_obj_stats(h, &s);
	if (s.sealed || s.bytes || s.pages)
		fuzz_fail(at, "%llu sealed objects of %llu pages after deleting all",
			  (unsigned long long)s.sealed,
			  (unsigned long long)s.pages);
}

void fuzz_heap_idle(size_t at)
{
	struct heap_stats hs;

	if (fuzz_d.clients.count || !TAILQ_EMPTY(&fuzz_d.clients.list))
		fuzz_fail(at, "%u clients left over", fuzz_d.clients.count);
	if (fuzz_d.objects.nwaits || !TAILQ_EMPTY(&fuzz_d.objects.waits))
		fuzz_fail(at, "%u object waits left after every client went",
			  fuzz_d.objects.nwaits);
	daemon_heap_lock(&fuzz_d.core);
	heap_check(fuzz_d.core.heap);
	delete_objects_locked(at);
	heap_check(fuzz_d.core.heap);
	heap_stats(fuzz_d.core.heap, &hs);
	daemon_heap_unlock(&fuzz_d.core);
	if (hs.inuse || hs.objects || hs.owners)
		fuzz_fail(at, "%llu spans, %llu owners left after every client went",
			  (unsigned long long)hs.objects,
			  (unsigned long long)hs.owners);
}
