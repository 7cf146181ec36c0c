// SPDX-License-Identifier: MIT
/*
 * Spans: allocation and freeing through the daemon, in batches of up to
 * PROTO_MAX_BATCH a round trip, and the translation between offsets and
 * this process's pointers.
 *
 * An allocation batch is all or none across its round trips: when one
 * fails, the spans the earlier ones brought are freed again before the
 * error is returned.  A free batch is all or none too.  What the library
 * can check itself (alignment, bounds, an offset given twice) it checks
 * for the whole batch before sending anything.  The daemon checks each
 * request as a whole; a batch of several requests is first sent as
 * check-only requests (PROTO_FREE_CHECK), and freed only once every part
 * has passed.  Nothing can fail a passed part in between: only this
 * connection can free its spans, and it holds h->lock throughout, so no
 * other thread's request comes between the check and the free.
 *
 * Every span a reply names is checked to lie inside the arena before its
 * pointer is formed: the daemon is trusted to manage the heap, not to
 * hand out pointers into the rest of this process.
 *
 * Spans of up to MAG_MAX_PAGES pages come from the connection's
 * magazine when it has one (magazine.c), with no round trip; what it
 * does not serve goes through the socket as above.  A batch is still
 * all or none: a failing one gives back what it took either way.  A
 * free goes to the magazine when the span came from it, else to the
 * socket; an offset that is on a return stack already is a double
 * free, refused here, as the daemon would refuse it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libclient/internal.h"

static size_t span_min(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* The page size is HEAP_PAGE_SIZE (conn_attach()): shifts, not divisions. */
static uint64_t span_arena_pages(const struct spanheap *h)
{
	return h->arena->size >> HEAP_PAGE_SHIFT;
}

/* Does the span the daemon returned for @npages pages lie in the arena? */
static bool span_ok(const struct spanheap *h, const struct proto_span *s,
		    uint64_t npages)
{
	if (s->off % h->page_size || s->npages < npages ||
	    s->npages > span_arena_pages(h))
		return false;
	return s->off <= h->arena->size - s->npages * h->page_size;
}

/* One SPAN_ALLOC round trip of @count spans into @ret. */
static int span_alloc_locked(struct spanheap *h, uint64_t npages,
			     unsigned int flags, uint32_t count,
			     struct spanheap_span *ret)
{
	const struct proto_alloc_reply *rep = &h->reply.alloc;
	struct proto_alloc req;
	uint32_t i;
	int r;

	memset(&req, 0, sizeof(req));
	req.npages = npages;
	req.flags = flags & SPANHEAP_ZERO ? PROTO_ALLOC_ZERO : 0;
	req.count = count;
	r = conn_call_locked(h, PROTO_SPAN_ALLOC, &req.hdr, sizeof(req));
	if (r < 0)
		return r;
	if (rep->count != count)
		return conn_broken_locked(h);
	for (i = 0; i < count; i++) {
		if (!span_ok(h, &rep->spans[i], npages))
			return conn_broken_locked(h);
		ret[i].off = rep->spans[i].off;
		ret[i].npages = rep->spans[i].npages;
		ret[i].ptr = (char *)h->arena->base + ret[i].off;
	}
	return 0;
}

/*
 * One SPAN_FREE round trip of the @count offsets in @req, freeing them
 * or, with PROTO_FREE_CHECK in @flags, only checking that it could.
 */
static int span_free_locked(struct spanheap *h, struct proto_free *req,
			    uint32_t count, uint32_t flags)
{
	int r;

	req->count = count;
	req->flags = flags;
	r = conn_call_locked(h, PROTO_SPAN_FREE, &req->hdr,
			     proto_free_size(count));
	if (r < 0)
		return r;
	if (h->reply.free.count != count)
		return conn_broken_locked(h);
	return 0;
}

/*
 * Free the @count spans a failing batch had allocated.  If this fails too
 * the connection is dead or the daemon is broken; either way nothing
 * better can be done than to return the batch's own error.
 */
static void span_undo_locked(struct spanheap *h,
			     const struct spanheap_span *spans, size_t count)
{
	struct proto_free req;
	size_t done, i, n;

	memset(&req, 0, sizeof(req));
	for (done = 0; done < count; done += n) {
		n = span_min(count - done, PROTO_MAX_BATCH);
		for (i = 0; i < n; i++)
			req.off[i] = spans[done + i].off;
		if (span_free_locked(h, &req, (uint32_t)n, 0) < 0)
			return;
	}
}

/* Give back the @count spans of @spans: the magazine's, then the rest. */
static void span_undo(struct spanheap *h, const struct spanheap_span *spans,
		      size_t count)
{
	struct spanheap_span *rest;
	size_t i, n = 0;

	rest = calloc(count, sizeof(*rest));
	for (i = 0; i < count; i++) {
		int r = cmag_free(h, spans[i].off);

		if ((r == -ENOENT || r == 1) && rest)
			rest[n++] = spans[i];
	}
	if (n && conn_lock(h) == 0) {
		span_undo_locked(h, rest, n);
		pthread_mutex_unlock(&h->lock);
	}
	free(rest);
}

/* @count spans through the socket into @spans, all or none. */
static int span_alloc_socket(struct spanheap *h, size_t npages,
			     unsigned int flags, size_t count,
			     struct spanheap_span *spans)
{
	size_t done, n;
	int r;

	r = conn_lock(h);
	if (r < 0)
		return r;
	for (done = 0; done < count; done += n) {
		n = span_min(count - done, PROTO_MAX_BATCH);
		r = span_alloc_locked(h, npages, flags, (uint32_t)n,
				      spans + done);
		if (r < 0) {
			span_undo_locked(h, spans, done);
			break;
		}
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

SPANHEAP_EXPORT int spanheap_span_alloc_batch(struct spanheap *h,
					      size_t npages,
					      unsigned int flags, size_t count,
					      struct spanheap_span *ret)
{
	struct spanheap_span *spans;
	size_t done = 0;
	int r;

	if (!npages || flags & ~SPANHEAP_ZERO || !count ||
	    npages > span_arena_pages(h))
		return -EINVAL;
	if (count > 1 && count > span_arena_pages(h) / npages)
		return -ENOMEM;
	if (conn_forked(h))
		return -ENOTCONN;
	/* One span, the common case, needs no array aside. */
	if (count == 1) {
		struct spanheap_span one;

		r = cmag_alloc(h, npages, flags, ret);
		if (r <= 0)
			return r;
		r = span_alloc_socket(h, npages, flags, 1, &one);
		if (r == 0)
			*ret = one;
		return r;
	}
	/* @ret is written only on success: collect the spans aside. */
	spans = calloc(count, sizeof(*spans));
	if (!spans)
		return -ENOMEM;
	/* The magazine's, while it serves them; the socket for the rest. */
	r = 0;
	while (done < count) {
		r = cmag_alloc(h, npages, flags, spans + done);
		if (r)
			break;
		done++;
	}
	if (r > 0)
		r = span_alloc_socket(h, npages, flags, count - done,
				      spans + done);
	if (r < 0)
		span_undo(h, spans, done);
	else
		memcpy(ret, spans, count * sizeof(*spans));
	free(spans);
	return r;
}

SPANHEAP_EXPORT int spanheap_span_alloc(struct spanheap *h, size_t npages,
					unsigned int flags,
					struct spanheap_span *ret)
{
	return spanheap_span_alloc_batch(h, npages, flags, 1, ret);
}

static int span_cmp_off(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Return: 0, -EINVAL if an offset appears twice in @offs, or -ENOMEM. */
static int span_check_unique(const uint64_t *offs, size_t count)
{
	uint64_t *sorted;
	size_t i, j;
	int r = 0;

	/* A batch that fits one round trip is checked in place. */
	if (count <= PROTO_MAX_BATCH) {
		for (i = 0; i < count; i++)
			for (j = i + 1; j < count; j++)
				if (offs[i] == offs[j])
					return -EINVAL;
		return 0;
	}
	sorted = malloc(count * sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	memcpy(sorted, offs, count * sizeof(*sorted));
	qsort(sorted, count, sizeof(*sorted), span_cmp_off);
	for (i = 1; i < count; i++) {
		if (sorted[i] == sorted[i - 1]) {
			r = -EINVAL;
			break;
		}
	}
	free(sorted);
	return r;
}

/* Return: 0, or -EINVAL if no span can start at one of the offsets. */
static int span_check_offs(const struct spanheap *h, const uint64_t *offs,
			   size_t count)
{
	size_t i;

	for (i = 0; i < count; i++)
		if (offs[i] % HEAP_PAGE_SIZE || offs[i] >= h->arena->size)
			return -EINVAL;
	return span_check_unique(offs, count);
}

/*
 * The @count offsets at @offs in requests of up to PROTO_MAX_BATCH, with
 * @flags.  Return: 0, or the first request's error.
 */
static int span_free_parts_locked(struct spanheap *h, const uint64_t *offs,
				  size_t count, uint32_t flags)
{
	struct proto_free req;
	size_t done, n;
	int r = 0;

	memset(&req, 0, sizeof(req));
	for (done = 0; done < count; done += n) {
		n = span_min(count - done, PROTO_MAX_BATCH);
		memcpy(req.off, offs + done, n * sizeof(*offs));
		r = span_free_locked(h, &req, (uint32_t)n, flags);
		if (r < 0)
			break;
	}
	return r;
}

/* The socket's part of a free batch: all or none. */
static int span_free_socket(struct spanheap *h, const uint64_t *offs,
			    size_t count)
{
	int r;

	r = conn_lock(h);
	if (r < 0)
		return r;
	/* One request is all or none by itself; several are checked first. */
	if (count > PROTO_MAX_BATCH)
		r = span_free_parts_locked(h, offs, count, PROTO_FREE_CHECK);
	if (r == 0) {
		r = span_free_parts_locked(h, offs, count, 0);
		/*
		 * The daemon refused a part it had passed: it broke its
		 * word, and some parts may be freed already.
		 */
		if (r < 0 && !h->dead && count > PROTO_MAX_BATCH)
			r = conn_broken_locked(h);
	}
	pthread_mutex_unlock(&h->lock);
	return r;
}

SPANHEAP_EXPORT int spanheap_span_free_batch(struct spanheap *h,
					     const uint64_t *offs,
					     size_t count)
{
	uint64_t *slow = NULL, *fast = NULL;
	size_t nslow = 0, nfast = 0, i;
	int r;

	if (!count)
		return -EINVAL;
	r = span_check_offs(h, offs, count);
	if (r < 0)
		return r;
	if (conn_forked(h))
		return -ENOTCONN;
	/* One span, the common case, needs no arrays aside. */
	if (count == 1) {
		r = cmag_free(h, offs[0]);
		if (r == -ENOENT && cmag_stacked(h, offs[0]))
			return -EINVAL;	/* freed before, and not reused */
		if (r == -ENOENT || r == 1)
			return span_free_socket(h, offs, 1);
		return r;
	}
	if (!h->mag.r)
		return span_free_socket(h, offs, count);
	slow = malloc(count * sizeof(*slow));
	fast = malloc(count * sizeof(*fast));
	if (!slow || !fast) {
		r = -ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++) {
		if (cmag_owns(h, offs[i]) >= 0) {
			fast[nfast++] = offs[i];
		} else if (cmag_stacked(h, offs[i])) {
			r = -EINVAL;	/* freed before, and not reused */
			goto out;
		} else {
			slow[nslow++] = offs[i];
		}
	}
	/* The part that can fail first; the magazine's cannot. */
	if (nslow)
		r = span_free_socket(h, slow, nslow);
	for (i = 0; r == 0 && i < nfast; i++) {
		r = cmag_free(h, fast[i]);
		if (r == 1)
			r = span_free_socket(h, fast + i, 1);
		/* Live a moment ago: another thread freed it meanwhile. */
		if (r == -ENOENT)
			r = -EINVAL;
	}
out:
	free(slow);
	free(fast);
	return r;
}

SPANHEAP_EXPORT int spanheap_span_free(struct spanheap *h, uint64_t off)
{
	return spanheap_span_free_batch(h, &off, 1);
}

SPANHEAP_EXPORT void *spanheap_ptr(const struct spanheap *h, uint64_t off)
{
	if (off >= h->arena->size)
		return NULL;
	return (char *)h->arena->base + off;
}

SPANHEAP_EXPORT int spanheap_off(const struct spanheap *h, const void *p,
				 uint64_t *ret)
{
	uintptr_t base = (uintptr_t)h->arena->base;
	uintptr_t addr = (uintptr_t)p;

	if (addr < base || addr - base >= h->arena->size)
		return -EINVAL;
	*ret = addr - base;
	return 0;
}
