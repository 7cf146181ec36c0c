// SPDX-License-Identifier: MIT
/*
 * The client's side of its magazine (the format and its rules are in
 * proto/magazine.h, the daemon's side in daemon/magazine.c): spans of up
 * to MAG_MAX_PAGES pages allocated and freed with no system call in the
 * common case.
 *
 * Allocation takes the newest span of the class's return stack (the one
 * this process freed last, warm in its caches), else the oldest of its
 * fill ring.  A free pushes the span onto the stack.  Only at the
 * watermarks does the library talk to the daemon:
 *   - a take that leaves the class with at most half its limit, or a
 *     push that leaves the stack above its limit, sends MAG_KICK (one
 *     send(2) that never waits and has no reply) unless one is out and
 *     not yet served (mag_status.served has not moved);
 *   - a class with nothing to take, or a stack at twice its limit, waits
 *     for a MAG_REFILL round trip; a class the daemon still does not
 *     fill (the arena or the cache bound has no room) is served by the
 *     socket, as a span of more than MAG_MAX_PAGES pages always is, and
 *     not asked for again until the daemon has served the region once
 *     more (its tick, a kick), so that a refusal costs one round trip,
 *     not one per allocation.
 *
 * Which spans came through the magazine: a byte per arena page, @live,
 * private to this process, holds class + 1 at the first page of each
 * span taken from the magazine and not freed since.  A free whose offset
 * it does not name goes to the socket, so a span from the socket, a
 * double free or another client's offset get the daemon's answer as
 * before, and nothing unknown ever enters the stack.
 *
 * Threads serialise on mag.lock, a process-private mutex held only for
 * the few loads and stores of one take or push: never across a system
 * call.  The daemon takes no lock at all.
 *
 * Fork.  A child inherits the mapping of the region, of its parent's
 * rings and stacks, and possibly a lock held by a thread that does not
 * exist in it.  So a child must not touch its parent's connection: an
 * atfork handler counts forks (conn_forked()), and in a child every
 * call on a connection made before the fork fails with -ENOTCONN
 * before it takes any lock; the child connects again.  Its
 * spanheap_close() only unmaps its own copies.
 *
 * A restart of the daemon (issue 12).  The old region outlives its
 * daemon in our mapping, but nobody serves it any more, and the new
 * daemon knows of it only what its durable record says.  So when
 * conn.c finds the connection broken and sets out to resume it,
 * cmag_suspend() stops every take and push on the old region (each
 * goes to the socket path, which waits for the reconnection) and hands
 * over, per class, the ring's tail just after our own last take (kept
 * as we take: m->took), which the daemon needs to tell the spans we
 * took from those still in the ring.  The daemon frees the latter and
 * makes the former HELD, ours; cmag_resume() then maps the region the
 * WELCOME brought, moves our old stacks onto its empty ones, and
 * unmaps the old.  The live map is kept: a span taken before the
 * restart is freed through the new magazine like any other.  m->r
 * changes only under m->lock, so it is read only under it; m->on says,
 * without the lock, whether there is a magazine at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "libclient/internal.h"

/*
 * How many times an allocation, or a free, asks the daemon before it
 * uses the socket: the other threads may take what one refill brought,
 * or fill again the room it made, before this one gets its turn.
 */
#define CMAG_REFILL_TRIES 2

static bool cmag_dead(const struct conn_mag *m)
{
	return atomic_load_explicit(&m->r->st.flags, memory_order_acquire) &
	       MAG_F_DEAD;
}

/* Map and check the region of @size bytes in @fd: 0 and *@ret, -errno. */
static int cmag_map(struct spanheap *h, int fd, size_t size, void **ret)
{
	void *p;
	int r;

	if (size != mag_layout_size(h->page_size))
		return -EBADMSG;
	/* A region that could shrink under us would be a SIGBUS. */
	r = fcntl(fd, F_GET_SEALS);
	if (r < 0)
		return -errno;
	if ((r & (F_SEAL_SHRINK | F_SEAL_GROW)) != (F_SEAL_SHRINK | F_SEAL_GROW))
		return -EBADMSG;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	r = mag_check_header(p, size);
	if (r < 0) {
		munmap(p, size);
		return r;
	}
	*ret = p;
	return 0;
}

int cmag_attach(struct spanheap *h, int fd, size_t size)
{
	struct conn_mag *m = &h->mag;
	uint64_t pages = h->arena->size / h->page_size;
	void *p;
	int r;

	r = cmag_map(h, fd, size, &p);
	if (r < 0)
		return r;
	m->live = mmap(NULL, pages, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (m->live == MAP_FAILED) {
		r = -errno;
		goto out_unmap;
	}
	r = -pthread_mutex_init(&m->lock, NULL);
	if (r < 0) {
		munmap(m->live, pages);
		goto out_unmap;
	}
	m->live_size = pages;
	m->size = size;
	m->r = p;
	m->on = true;
	return 0;

out_unmap:
	munmap(p, size);
	return r;
}

void cmag_detach(struct spanheap *h)
{
	struct conn_mag *m = &h->mag;

	if (!m->on)
		return;
	munmap(m->r, m->size);
	munmap(m->live, m->live_size);
	/* A forked child's copy may be held by a thread it does not have. */
	if (!conn_forked(h))
		pthread_mutex_destroy(&m->lock);
	m->r = NULL;
	m->on = false;
}

/* Relaxed, under m->lock: this process is the counters' only writer. */
static void cmag_count(_Atomic uint64_t *counter)
{
	atomic_store_explicit(counter,
			      atomic_load_explicit(counter,
						   memory_order_relaxed) + 1,
			      memory_order_relaxed);
}

/*
 * Should we kick the daemon?  Under m->lock.  Not if a kick is out and
 * the daemon has not served since.
 */
static bool cmag_want_kick(struct conn_mag *m)
{
	uint32_t served = atomic_load_explicit(&m->r->st.served,
					       memory_order_acquire);

	if (m->asking && served == m->asked)
		return false;
	m->asking = true;
	m->asked = served;
	return true;
}

/* MAG_KICK: never waits; if it cannot go out, the daemon's tick serves. */
static void cmag_kick(struct spanheap *h)
{
	struct proto_mag kick;

	memset(&kick, 0, sizeof(kick));
	proto_hdr_init(&kick.hdr, PROTO_MAG_KICK, 0);
	(void)send(h->fd, &kick, sizeof(kick), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* MAG_REFILL of class @c for @why, a round trip under h->lock. */
static int cmag_refill(struct spanheap *h, unsigned int c, uint32_t why)
{
	struct proto_mag req;
	int r;

	r = conn_lock(h);
	if (r < 0)
		return r;
	memset(&req, 0, sizeof(req));
	req.cls = c;
	req.flags = why;
	r = conn_call_locked(h, PROTO_MAG_REFILL, &req.hdr, sizeof(req));
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* Is @r an error of the connection itself, not of the request? */
static bool cmag_conn_error(int r)
{
	return r == -ENOTCONN || r == -ETIMEDOUT || r == -EBADMSG ||
	       r == -ESTALE;
}

/*
 * Take a span of class @c, under m->lock.  Return: 0 and @ret_off;
 * -EAGAIN if the class is empty; -EBADMSG if its indices are corrupt;
 * -ENODEV if the region is not served (dead, or suspended); *@kick set
 * if the daemon should be told.
 */
static int cmag_take_locked(struct conn_mag *m, unsigned int c,
			    uint64_t *ret_off, bool *kick)
{
	struct mag_class *k = &m->r->cls[c];
	uint32_t limit, left = 0, tail;
	uint64_t off;
	int r;

	if (m->suspended || cmag_dead(m))
		return -ENODEV;
	r = mag_stack_pop(&k->ret, &off, &left);
	if (r == -EAGAIN) {
		r = mag_fill_take_at(&k->fill, &off, &tail);
		if (r == 0)
			m->took[c] = tail;
	}
	if (r < 0)
		return r;
	/* The daemon manages the heap; it does not pick our pointers. */
	if (off % HEAP_PAGE_SIZE || off / HEAP_PAGE_SIZE >= m->live_size ||
	    (UINT64_C(1) << c) > m->live_size - off / HEAP_PAGE_SIZE)
		return -EBADMSG;
	m->live[off >> HEAP_PAGE_SHIFT] = (uint8_t)(c + 1);
	cmag_count(&k->fast_allocs);
	limit = atomic_load_explicit(&k->limit, memory_order_acquire);
	/* Left on the stack, then in the ring, while it is below the mark. */
	*kick = limit && 2 * left <= limit &&
		2 * (left + mag_fill_count(&k->fill)) <= limit &&
		cmag_want_kick(m);
	*ret_off = off;
	return 0;
}

int cmag_alloc(struct spanheap *h, size_t npages, unsigned int flags,
	       struct spanheap_span *ret)
{
	struct conn_mag *m = &h->mag;
	int c = mag_class_of(npages);
	bool kick = false;
	uint64_t off;
	int r;

	if (!m->on || c < 0)
		return 1;
	/* As every call after the connection died: see internal.h. */
	if (conn_gone(h))
		return conn_gone_error(h);
	for (int tries = 0;; tries++) {
		bool refused = false;

		pthread_mutex_lock(&m->lock);
		r = cmag_take_locked(m, (unsigned int)c, &off, &kick);
		/* Refused since the daemon last served us: do not ask again. */
		if (r == -EAGAIN && m->refused[c])
			refused = m->refused_at[c] ==
				  atomic_load_explicit(&m->r->st.served,
						       memory_order_acquire);
		pthread_mutex_unlock(&m->lock);
		if (r == 0)
			break;
		if (r != -EAGAIN || refused || tries == CMAG_REFILL_TRIES)
			return 1;
		r = cmag_refill(h, (unsigned int)c, PROTO_MAG_EMPTY);
		if (cmag_conn_error(r))
			return r;
		/* Not filled (no room, or no magazine now): the socket. */
		if (r < 0) {
			pthread_mutex_lock(&m->lock);
			m->refused[c] = true;
			m->refused_at[c] = atomic_load_explicit(
				&m->r->st.served, memory_order_acquire);
			pthread_mutex_unlock(&m->lock);
			return 1;
		}
	}
	if (kick)
		cmag_kick(h);
	ret->off = off;
	ret->npages = (size_t)1 << c;
	ret->ptr = (char *)h->arena->base + off;
	if (flags & SPANHEAP_ZERO)
		memset(ret->ptr, 0, ret->npages * h->page_size);
	return 0;
}

int cmag_owns(struct spanheap *h, uint64_t off)
{
	struct conn_mag *m = &h->mag;
	uint64_t page = off >> HEAP_PAGE_SHIFT;
	int c;

	if (!m->on || off % HEAP_PAGE_SIZE || page >= m->live_size)
		return -1;
	pthread_mutex_lock(&m->lock);
	c = (int)m->live[page] - 1;
	pthread_mutex_unlock(&m->lock);
	return c;
}

/*
 * Push @off, a live span of class @c, under m->lock.  Return: 0;
 * -EAGAIN if the stack is at its hard limit (twice the daemon's);
 * -EBADMSG if its count is corrupt.  *@kick as cmag_take_locked().
 */
static int cmag_push_locked(struct conn_mag *m, unsigned int c, uint64_t off,
			    bool *kick)
{
	struct mag_class *k = &m->r->cls[c];
	uint32_t limit = atomic_load_explicit(&k->limit, memory_order_acquire);
	uint32_t hard = limit > MAG_STACK_CAP / 2 ? MAG_STACK_CAP : 2 * limit;
	uint32_t n;
	int r;

	r = mag_stack_push(&k->ret, off, hard, &n);
	if (r < 0)
		return r;
	m->live[off >> HEAP_PAGE_SHIFT] = 0;
	cmag_count(&k->fast_frees);
	*kick = n > limit && cmag_want_kick(m);
	return 0;
}

int cmag_free(struct spanheap *h, uint64_t off)
{
	struct conn_mag *m = &h->mag;
	uint64_t page = off >> HEAP_PAGE_SHIFT;
	bool kick = false;
	int c, r;

	/* The page size is HEAP_PAGE_SIZE (conn_attach()): no division. */
	if (!m->on || off % HEAP_PAGE_SIZE || page >= m->live_size)
		return -ENOENT;
	if (conn_gone(h))
		return conn_gone_error(h);
	for (int tries = 0;; tries++) {
		pthread_mutex_lock(&m->lock);
		c = (int)m->live[page] - 1;
		r = c < 0 ? -ENOENT :
			    m->suspended || cmag_dead(m) ?
				    -EBADMSG :
				    cmag_push_locked(m, (unsigned int)c, off,
						     &kick);
		/* Through the socket from here on: not the magazine's. */
		if (r == -EBADMSG || (r == -EAGAIN && tries == CMAG_REFILL_TRIES))
			m->live[page] = 0;
		pthread_mutex_unlock(&m->lock);
		if (r == 0)
			break;
		if (r == -ENOENT)
			return r;
		/* Full again after a refill: other threads freed meanwhile. */
		if (r == -EBADMSG || tries == CMAG_REFILL_TRIES)
			return 1;
		r = cmag_refill(h, (unsigned int)c, PROTO_MAG_FULL);
		if (cmag_conn_error(r))
			return r;
	}
	if (kick)
		cmag_kick(h);
	return 0;
}

bool cmag_stacked(struct spanheap *h, uint64_t off)
{
	struct conn_mag *m = &h->mag;
	bool found = false;

	if (!m->on)
		return false;
	pthread_mutex_lock(&m->lock);
	for (unsigned int c = 0; c < MAG_NCLASSES && !found; c++) {
		struct mag_stack *st = &m->r->cls[c].ret;
		uint32_t n = mag_stack_count(st);

		for (uint32_t i = 0; i < n && !found; i++)
			found = atomic_load_explicit(&st->slot[i],
						     memory_order_relaxed) ==
				off;
	}
	pthread_mutex_unlock(&m->lock);
	return found;
}

void cmag_suspend(struct spanheap *h, uint32_t took[MAG_NCLASSES])
{
	struct conn_mag *m = &h->mag;

	if (!m->on) {
		memset(took, 0, MAG_NCLASSES * sizeof(took[0]));
		return;
	}
	pthread_mutex_lock(&m->lock);
	m->suspended = true;
	memcpy(took, m->took, sizeof(m->took));
	pthread_mutex_unlock(&m->lock);
}

/* Is every stack and ring of @r empty, as a new region's are? */
static bool cmag_fresh(struct mag_region *r)
{
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		if (MAG_STACK_COUNT(atomic_load_explicit(
			    &r->cls[c].ret.ctl, memory_order_acquire)) ||
		    atomic_load_explicit(&r->cls[c].fill.tail,
					 memory_order_acquire))
			return false;
	return true;
}

/*
 * Move class @c's old stack onto the new one, under m->lock.  The new
 * one is empty and as large: every entry fits.  A corrupt old count
 * ends the move (those spans stay ours, HELD, until we go).
 */
static void cmag_move_stack(struct mag_stack *from, struct mag_stack *to)
{
	uint64_t off;
	uint32_t n;

	for (unsigned int i = 0; i < MAG_STACK_CAP &&
	     mag_stack_pop(from, &off, NULL) == 0; i++)
		if (mag_stack_push(to, off, MAG_STACK_CAP, &n) < 0)
			break;
}

int cmag_resume(struct spanheap *h, int fd, size_t size)
{
	struct conn_mag *m = &h->mag;
	struct mag_region *old, *nr;
	void *p;
	int r;

	if (!m->on)
		return cmag_attach(h, fd, size);
	r = cmag_map(h, fd, size, &p);
	if (r < 0)
		return r;
	nr = p;
	if (!cmag_fresh(nr)) {
		munmap(p, size);
		return -EBADMSG;
	}
	pthread_mutex_lock(&m->lock);
	old = m->r;
	for (unsigned int c = 0; c < MAG_NCLASSES; c++)
		cmag_move_stack(&old->cls[c].ret, &nr->cls[c].ret);
	m->r = nr;
	memset(m->took, 0, sizeof(m->took));
	memset(m->refused, 0, sizeof(m->refused));
	m->asking = false;
	m->suspended = false;
	pthread_mutex_unlock(&m->lock);
	munmap(old, m->size);
	return 0;
}
