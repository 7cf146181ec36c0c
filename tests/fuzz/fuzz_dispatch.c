// SPDX-License-Identifier: MIT
/*
 * Fuzz target for daemon/dispatch.c: feeds datagrams to dispatch_request()
 * on real struct clients of a real (small) daemon, with no listening
 * socket, as read_one() would hand them on.
 *
 * Input format: a sequence of messages, each a 16-bit little-endian word
 * then that many bytes (cut short at the end of the input).  The word's
 * low 15 bits are the length; its top bit picks one of two clients, so
 * that inputs can free each other's spans.  Lengths above
 * PROTO_REQUEST_MAX are turned away as client.c's read_one() does.
 *
 * Each client is client_accept()ed on one end of a socketpair; after
 * every message the loop runs and the other end is drained until the
 * message's final reply comes (harness.h says what every reply must be):
 * SCAVENGE is answered once the scavenger thread's forced pass ends,
 * perhaps after progress replies.  A client the daemon marks closing is
 * destroyed, as its event loop would; one it destroys itself takes no
 * more messages.  A request changes the heap's count of spans in use by
 * what its reply says and no more: a failed one, and a SPAN_FREE with
 * PROTO_FREE_CHECK, by nothing.  After each input the clients are
 * destroyed (freeing their spans), heap_check() verifies the heap,
 * nothing may be left in use and the process has the fds it had before.
 * Any failure aborts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "daemon/dispatch.h"
#include "tests/fuzz/harness.h"

#define FUZZ_CLIENTS 2

/* The input byte of the message being delivered, for fuzz_wait(). */
static size_t cur_at;

static uint64_t spans_in_use(void)
{
	struct heap_stats hs;

	daemon_heap_lock(&fuzz_d.core);
	heap_stats(fuzz_d.core.heap, &hs);
	daemon_heap_unlock(&fuzz_d.core);
	return hs.objects;
}

static bool answered(void *arg)
{
	struct fuzz_peer *p = arg;

	fuzz_peer_drain(p, cur_at);
	return fuzz_peer_settled(p);
}

/* How many spans @msg may add to those in use, given its answer. */
static int64_t spans_added(const struct fuzz_peer *p, const uint8_t *msg,
			   size_t len)
{
	struct proto_free f;
	struct proto_hdr hdr;

	if (len > PROTO_REQUEST_MAX || proto_check_request(msg, len) < 0 ||
	    p->last_status < 0)
		return 0;
	memcpy(&hdr, msg, sizeof(hdr));
	if (hdr.type == PROTO_SPAN_ALLOC)
		return p->last_count;
	if (hdr.type != PROTO_SPAN_FREE)
		return 0;
	memcpy(&f, msg, proto_free_size(0));
	return f.flags & PROTO_FREE_CHECK ? 0 : -(int64_t)p->last_count;
}

/*
 * One datagram from @p's client, as read_one() hands it on, and its
 * replies.  Returns false once the daemon has destroyed the client.
 */
static bool deliver(struct fuzz_peer *p, const uint8_t *msg, size_t len,
		    size_t at)
{
	struct client *c = fuzz_peer_client(p);
	uint64_t before = spans_in_use(), after;
	struct proto_hdr hdr = { 0 };

	if (len >= sizeof(hdr))
		memcpy(&hdr, msg, sizeof(hdr));
	if (!c)
		return false;
	cur_at = at;
	fuzz_peer_sent(p, msg, len, 0);
	if (len > PROTO_REQUEST_MAX)
		dispatch_reject(c, msg, len, -EBADMSG, "oversized");
	else
		dispatch_request(c, msg, len);
	/* Queued replies go out from the loop, which may end the client. */
	fuzz_wait(answered, p, "a request got no final reply", at);
	c = fuzz_peer_client(p);
	if (!c)
		return false;
	if (!STAILQ_EMPTY(&c->outq))
		fuzz_fail(at, "replies stuck in the queue of a drained client");
	after = spans_in_use();
	if ((int64_t)(after - before) != spans_added(p, msg, len))
		fuzz_fail(at, "%s of status %d took spans in use from %llu to %llu",
			  proto_type_name(hdr.type), p->last_status,
			  (unsigned long long)before,
			  (unsigned long long)after);
	if (c->closing) {
		client_destroy(c);
		return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_peer peer[FUZZ_CLIENTS];
	bool live[FUZZ_CLIENTS];
	size_t pos = 0;
	int fds;

	fuzz_setup();
	fds = fuzz_fd_count();
	for (int i = 0; i < FUZZ_CLIENTS; i++) {
		fuzz_peer_open(&peer[i], false);
		live[i] = true;
	}
	while (pos + 2 <= size) {
		unsigned int word = data[pos] | data[pos + 1] << 8;
		size_t len = word & 0x7fff, at = pos;
		int k = (int)(word >> 15);

		pos += 2;
		if (len > size - pos)
			len = size - pos;
		if (live[k])
			live[k] = deliver(&peer[k], data + pos, len, at);
		pos += len;
	}
	for (int i = 0; i < FUZZ_CLIENTS; i++) {
		struct client *c = fuzz_peer_client(&peer[i]);

		if (c)
			client_destroy(c);
		fuzz_peer_close(&peer[i]);
	}
	fuzz_heap_idle(size);
	if (fuzz_fd_count() != fds)
		fuzz_fail(size, "%d fds open after the input, %d before",
			  fuzz_fd_count(), fds);
	return 0;
}
