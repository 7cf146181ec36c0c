// SPDX-License-Identifier: MIT
/*
 * Requests about the daemon as a whole: its MemStats, a page of its
 * client list, a scavenge and a GC pass on demand.
 *
 * The MemStats, CLIENTS and OBJECTS JSON (the last for object.c, through
 * control_text_call()) come in chunks of up to PROTO_CHUNK_MAX bytes
 * that share the request's seq, all but the last flagged PROTO_MORE.
 * The text is capped at STATS_MAX bytes; past that, or if
 * memory runs out, the remaining chunks are still read and dropped, so
 * that the connection stays in step and only this call fails.
 *
 * A SCAVENGE waits for a whole release pass, which may take many
 * seconds: the daemon sends a progress reply (PROTO_MORE) about once a
 * second while it runs, then the final one.  Each reply is one wait of
 * conn_reply_locked(), so the time-out bounds the gap between two of
 * them, never the pass.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libclient/internal.h"

#define STATS_MAX (UINT64_C(64) << 20)
#define STATS_MIN_BUF 4096

struct stats_text {
	char *buf;
	size_t len;		/* bytes of text, without the NUL */
	size_t size;		/* bytes allocated, > len */
};

/* Append @n bytes at @data, keeping room for the final NUL. */
static int stats_append(struct stats_text *t, const char *data, size_t n)
{
	if (n > STATS_MAX - t->len)
		return -EMSGSIZE;
	if (t->len + n >= t->size) {
		size_t size = t->size ? t->size : STATS_MIN_BUF;
		char *buf;

		while (size <= t->len + n)
			size *= 2;
		if (size > STATS_MAX + 1)
			size = STATS_MAX + 1;
		buf = realloc(t->buf, size);
		if (!buf)
			return -ENOMEM;
		t->buf = buf;
		t->size = size;
	}
	memcpy(t->buf + t->len, data, n);
	t->len += n;
	return 0;
}

/* See internal.h. */
int control_text_call(struct spanheap *h, uint16_t type,
		      struct proto_hdr *req, size_t len, char **ret)
{
	const struct proto_stats_reply *chunk = &h->reply.stats;
	struct stats_text text = { .size = STATS_MIN_BUF };
	int r, err = 0;

	/* Even an empty text needs room for its NUL. */
	text.buf = malloc(text.size);
	if (!text.buf)
		return -ENOMEM;

	r = conn_lock(h);
	if (r < 0) {
		free(text.buf);
		return r;
	}
	r = conn_request_locked(h, type, req, len);
	while (r == 0) {
		uint64_t resumes = h->resumes;

		r = conn_reply_locked(h, req);
		if (r < 0)
			break;
		/* Sent again after a break: its chunks start over. */
		if (h->resumes != resumes)
			text.len = 0;
		if (!err)
			err = stats_append(&text, chunk->data, chunk->len);
		if (!(chunk->flags & PROTO_MORE))
			break;
	}
	pthread_mutex_unlock(&h->lock);

	if (r == 0)
		r = err;
	if (r < 0) {
		free(text.buf);
		return r;
	}
	text.buf[text.len] = '\0';
	*ret = text.buf;
	return 0;
}

SPANHEAP_EXPORT int spanheap_stats_json(struct spanheap *h, char **ret)
{
	struct proto_hdr req;

	return control_text_call(h, PROTO_STATS, &req, sizeof(req), ret);
}

/*
 * The "next" of a CLIENTS page.  The daemon writes it last, as
 * ,"next":N}: a name cannot hide that text, as a quote inside a JSON
 * string is always escaped.
 */
static int page_next(const char *text, uint32_t *ret)
{
	static const char key[] = "\"next\":";
	const char *p = NULL, *q;
	unsigned long long v = 0;

	for (q = strstr(text, key); q; q = strstr(q + 1, key))
		p = q;
	if (!p)
		return -EBADMSG;
	p += sizeof(key) - 1;
	if (*p < '0' || *p > '9')
		return -EBADMSG;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long long)(*p - '0');
		if (v > UINT32_MAX)
			return -EBADMSG;
	}
	if (strcmp(p, "}"))
		return -EBADMSG;
	*ret = (uint32_t)v;
	return 0;
}

SPANHEAP_EXPORT int spanheap_clients_json(struct spanheap *h, uint32_t after,
					  uint32_t *ret_next, char **ret)
{
	struct proto_clients req;
	uint32_t next;
	char *text;
	int r;

	memset(&req, 0, sizeof(req));
	req.after = after;
	req.max = PROTO_CLIENTS_PAGE;
	r = control_text_call(h, PROTO_CLIENTS, &req.hdr, sizeof(req), &text);
	if (r < 0)
		return r;
	r = page_next(text, &next);
	/* Pages go up: a daemon that says otherwise would loop a caller. */
	if (r == 0 && next && next <= after)
		r = -EBADMSG;
	if (r < 0) {
		free(text);
		return r;
	}
	if (ret_next)
		*ret_next = next;
	*ret = text;
	return 0;
}

SPANHEAP_EXPORT int spanheap_scavenge(struct spanheap *h,
				      uint64_t *ret_released)
{
	struct proto_hdr req;
	uint64_t released = 0;
	int r;

	r = conn_lock(h);
	if (r < 0)
		return r;
	r = conn_request_locked(h, PROTO_SCAVENGE, &req, sizeof(req));
	while (r == 0) {
		r = conn_reply_locked(h, &req);
		if (r < 0 || !(h->reply.scavenge.flags & PROTO_MORE))
			break;
	}
	if (r == 0)
		released = h->reply.scavenge.released;
	pthread_mutex_unlock(&h->lock);

	if (r == 0 && ret_released)
		*ret_released = released;
	return r;
}

SPANHEAP_EXPORT int spanheap_gc(struct spanheap *h, uint64_t *ret_freed_spans)
{
	struct proto_hdr req;
	uint64_t freed = 0;
	int r;

	r = conn_lock(h);
	if (r < 0)
		return r;
	r = conn_call_locked(h, PROTO_GC, &req, sizeof(req));
	if (r == 0)
		freed = h->reply.gc.freed_spans;
	pthread_mutex_unlock(&h->lock);

	if (r == 0 && ret_freed_spans)
		*ret_freed_spans = freed;
	return r;
}
