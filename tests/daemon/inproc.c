// SPDX-License-Identifier: MIT
#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/daemon/inproc.h"

void inproc_start(struct daemon *d, uint64_t arena,
		  inproc_release_fn *release, bool scavenger)
{
	uint32_t owners = DEFAULT_MAX_CLIENTS + DAEMON_OWNERS_SPARE;
	struct heap_config cfg = { .arena_size = arena, .max_owners = owners,
				   .max_objects = 1024, .max_refs = 4096 };
	struct heap_ops ops;
	uint64_t meta;

	memset(d, 0, sizeof(*d));
	d->opt.socket_path = "(in process)";
	d->opt.socket_gid = (gid_t)-1;
	d->opt.arena_size = arena;
	d->opt.scavenge_after_ns = DEFAULT_SCAVENGE_AFTER_NS;
	d->opt.gc_after_ns = DEFAULT_GC_AFTER_NS;
	d->opt.max_clients = DEFAULT_MAX_CLIENTS;
	core_init(&d->core);
	/* The scavenger thread wakes the loop: libevent must know threads. */
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	d->base = event_base_new();
	ck_assert_ptr_nonnull(d->base);
	ck_assert_int_eq(arena_create(arena, "inproc-arena", &d->arena), 0);
	ck_assert_int_eq(heap_layout_size(&cfg, &meta), 0);
	ck_assert_int_eq(arena_create(meta, "inproc-meta", &d->meta), 0);
	arena_heap_ops(d->arena, d->meta, &ops);
	if (release)
		ops.release = release;
	ck_assert_int_eq(heap_format(d->meta->base, d->meta->size, &cfg, &ops,
				     &d->core.heap),
			 0);
	daemon_compose(d);
	d->clients.control_interval_ns = 0;
	d->clients.progress_interval_ns = 0;
	if (scavenger)
		ck_assert_int_eq(scavenger_start(&d->scav), 0);
}

void inproc_stop(struct daemon *d)
{
	daemon_decompose(d);
	heap_detach(d->core.heap);
	arena_destroy(d->meta);
	arena_destroy(d->arena);
	event_base_free(d->base);
	core_fini(&d->core);
}

struct client *inproc_client(struct daemon *d, int fd)
{
	struct client *c;

	TAILQ_FOREACH(c, &d->clients.list, link)
		if (c->fd == fd)
			return c;
	return NULL;
}

struct client *inproc_accept(struct daemon *d, int *ret_peer)
{
	struct client *c;
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
					     SOCK_CLOEXEC, 0, sv), 0);
	client_accept(&d->clients, sv[0]);
	c = inproc_client(d, sv[0]);
	ck_assert_ptr_nonnull(c);
	*ret_peer = sv[1];
	return c;
}

void inproc_turn(struct daemon *d)
{
	ck_assert_int_ge(event_base_loop(d->base, EVLOOP_NONBLOCK), 0);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

size_t inproc_recv_fds(struct daemon *d, int peer, void *buf, size_t len,
		       int *fds, unsigned int max, unsigned int *ret_nfds)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct timeval tick = { 0, 100000 };
	uint64_t t0 = mono_ms();

	while (mono_ms() - t0 < 30000) {
		struct iovec iov = { buf, len };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
		};
		ssize_t n;

		n = recvmsg(peer, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n >= 0) {
			unsigned int k = 0;

			for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm;
			     cm = CMSG_NXTHDR(&msg, cm)) {
				size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) /
					     sizeof(int);

				for (size_t i = 0; i < nfd; i++) {
					int fd;

					memcpy(&fd, CMSG_DATA(cm) +
						    i * sizeof(int),
					       sizeof(fd));
					if (k < max)
						fds[k++] = fd;
					else
						close(fd);
				}
			}
			ck_assert(!(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)));
			*ret_nfds = k;
			return (size_t)n;
		}
		ck_assert_int_eq(errno, EAGAIN);
		/* A turn that waits, but not forever if nothing comes. */
		event_base_loopexit(d->base, &tick);
		ck_assert_int_ge(event_base_loop(d->base, EVLOOP_ONCE), 0);
	}
	ck_abort_msg("no reply came in 30 s");
	return 0;
}

size_t inproc_recv(struct daemon *d, int peer, void *buf, size_t len)
{
	unsigned int nfds;

	return inproc_recv_fds(d, peer, buf, len, NULL, 0, &nfds);
}

struct client *inproc_hello(struct daemon *d, const char *name,
			    uint32_t flags, int *ret_peer,
			    struct proto_welcome *ret_welcome, int *fds,
			    unsigned int max, unsigned int *ret_nfds)
{
	struct proto_hello h;
	struct proto_welcome w;
	struct client *c = inproc_accept(d, ret_peer);

	memset(&h, 0, sizeof(h));
	proto_hdr_init(&h.hdr, PROTO_HELLO, 0);
	h.flags = flags;
	strncpy(h.name, name, sizeof(h.name) - 1);
	ck_assert_int_eq(send(*ret_peer, &h, sizeof(h), 0), sizeof(h));
	ck_assert_uint_eq(inproc_recv_fds(d, *ret_peer, &w, sizeof(w), fds,
					  max, ret_nfds),
			  sizeof(w));
	ck_assert_int_eq(w.hdr.status, 0);
	ck_assert(c->welcomed);
	*ret_welcome = w;
	return c;
}

struct client *inproc_welcomed(struct daemon *d, const char *name,
			       int *ret_peer)
{
	struct proto_welcome w;
	unsigned int nfds;

	return inproc_hello(d, name, 0, ret_peer, &w, NULL, 0, &nfds);
}
