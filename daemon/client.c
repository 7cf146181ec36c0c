// SPDX-License-Identifier: MIT
/*
 * The connections: accept one, read its requests, queue and send its
 * replies, pace its GC and SCAVENGE requests, and when it is gone tear
 * down everything it holds.
 *
 * Flow control.  Replies go out with MSG_DONTWAIT.  When the socket will
 * not take one, it waits in the client's queue, the client's read event
 * is switched off and its write event on: a client that stops reading
 * its replies stops being read, so it can never make the daemon hold more
 * than one reply for it, and other clients are not disturbed.  A STATS
 * or CLIENTS reply is one entry of the queue, whatever its length: its
 * text is made (or the cached MemStats text referenced) only when the
 * socket can take the first chunk, each chunk is made (a header and a
 * slice of the text, no copy) when the socket has taken the one before,
 * and the client is read again only once the last is sent.  So a client
 * that pipelines STATS without reading costs the daemon one small queue
 * entry, and no text.
 *
 * Waits.  A request that cannot be answered at once keeps the client's
 * reads off until it is, so a client has at most one request waiting:
 * a GC or SCAVENGE deferred by the rate limit (control_deferred()), or a
 * SCAVENGE waiting for its forced pass (struct scavenge_wait).  The
 * scavenger knows nothing of clients: it numbers forced passes and says
 * when one has ended (clients_forced_done()), and the waits that pass
 * serves are answered here.
 *
 * Client gone: see client_destroy().
 *
 * Sessions.  A client whose HELLO said PROTO_HELLO_KEEP and whose
 * connection breaks while its process lives (its pidfd says so) without
 * a BYE is not torn down: its connection goes, but its owner, spans,
 * object references, session record and magazine stay, the owner an
 * orphan (orphans_add()) for the grace period.  A HELLO that resumes its
 * session (client_take_session()) claims it back; when the grace ends
 * unclaimed, the owner is freed as a departed client's (free_owner()).
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "client.h"
#include "dispatch.h"
#include "log.h"
#include "objects.h"
#include "reclaim.h"
#include "scavenger.h"
#include "shm/arena.h"
#include "shm/heap.h"
#include "sock.h"
#include "durable.h"
#include "orphans.h"

/* Received fds beyond this are cut off (MSG_CTRUNC) and dropped. */
#define CLIENT_MAX_FDS 8

/*
 * A SCAVENGE waiting for forced pass number @pass (scavenger_force()),
 * on the clients' list of them; @progress is what its last progress
 * reply said.  Its client's reads are off meanwhile.
 */
struct scavenge_wait {
	TAILQ_ENTRY(scavenge_wait) link;
	struct client *c;
	uint64_t pass;
	uint32_t seq;
	uint64_t progress;
	struct event *ev_progress;	/* paces progress replies, or NULL */
};

/*
 * An orphan of a broken connection: its process's pidfd, watched so
 * that an orphan whose process exits is freed at once (its hang-up may
 * be read before its exit can be seen).
 */
struct parked_mag {
	TAILQ_ENTRY(parked_mag) link;
	struct clients *cs;
	uint32_t owner;
	int pidfd;		/* or -1 */
	struct event *ev_exit;	/* on @pidfd, or NULL */
};

static void on_read(evutil_socket_t fd, short what, void *arg);
static void on_write(evutil_socket_t fd, short what, void *arg);
static bool client_departed(const struct client *c);
static void parked_free(struct parked_mag *p);

/* Is a request of the client waiting (reads stay off)? */
static bool client_waiting(const struct client *c)
{
	return c->scavenge || c->deferred_type || c->objwait || c->reclaim;
}

static void free_msg(struct outmsg *m)
{
	while (m->nfds)
		close(m->fds[--m->nfds]);
	blob_put(m->blob);
	free(m);
}

/* A connection that never says HELLO must not hold a slot forever. */
static void on_hello_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd, (void)what;
	if (c->welcomed)
		return;
	log_limited(&c->cs->log_silent, 4,
		    "client %u (pid %d) sent no HELLO in time; dropped", c->id,
		    (int)c->cred.pid);
	client_destroy(c);
}

/* A live client's id, or an orphan's, whose heap owner is keyed by it. */
static bool id_live(const struct clients *cs, uint32_t id)
{
	struct heap_owner_info o;
	const struct client *c;
	uint32_t cursor = 0;
	bool live = false;

	TAILQ_FOREACH(c, &cs->list, link)
		if (c->id == id)
			return true;
	daemon_heap_lock(cs->core);
	while (!live && heap_owner_next(cs->core->heap, &cursor, &o))
		live = o.key == id;
	daemon_heap_unlock(cs->core);
	return live;
}

/*
 * A client id is never 0 nor the scavenger's owner id, and unique among
 * live clients; its heap owner has an id of the heap's (owner_add()).
 * Once the counter has wrapped (after 2^32 connections) it may meet
 * clients that never left, or orphans that may come back: skip them.
 * The check costs a walk of at most --max-clients entries and of the
 * heap's owners per connection.
 */
static uint32_t next_id(struct clients *cs)
{
	for (;;) {
		uint32_t id = cs->next_id++;

		if (id != 0 && id != HEAP_OWNER_SCAV && !id_live(cs, id))
			return id;
	}
}

/* The client's heap owner, keyed by its id; false if none is left. */
static bool owner_add(struct client *c)
{
	struct core *core = c->cs->core;
	int r;

	daemon_heap_lock(core);
	r = heap_owner_add(core->heap, NULL, c->id, &c->owner);
	daemon_heap_unlock(core);
	if (r < 0)
		log_err("no heap owner for a client: %s", strerror(-r));
	return r == 0;
}

void clients_init(struct clients *cs, struct core *core,
		  struct event_base *base, struct arena *arena,
		  struct scavenger *scav, const struct clients_hooks *hooks)
{
	const char *env;

	memset(cs, 0, sizeof(*cs));
	cs->core = core;
	cs->base = base;
	cs->arena = arena;
	cs->scav = scav;
	cs->hooks = *hooks;
	TAILQ_INIT(&cs->list);
	TAILQ_INIT(&cs->scavenge_waits);
	cs->next_id = 1;
	cs->hello_timeout = (struct timeval){ CLIENT_HELLO_TIMEOUT_SEC, 0 };
	cs->control_interval_ns = CLIENT_CONTROL_INTERVAL_NS;
	cs->progress_interval_ns = CLIENT_PROGRESS_INTERVAL_NS;
	TAILQ_INIT(&cs->parked);
	sessions_init(&cs->sessions, core, NULL);
	env = getenv("SPANHEAPD_TEST_BREAK_TYPES");
	if (env && *env)
		cs->break_types = (uint32_t)strtoul(env, NULL, 0);
}

void clients_set_durable(struct clients *cs, struct durable *du,
			 struct orphans *orphans)
{
	cs->durable = du;
	cs->orphans = orphans;
	sessions_init(&cs->sessions, cs->core, du);
}

uint32_t clients_grace_ms(const struct clients *cs)
{
	uint64_t ms = cs->orphans ? cs->orphans->grace_ns / 1000000 : 0;

	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

void clients_set_next_id(struct clients *cs, uint32_t next_id)
{
	cs->next_id = next_id;
}

void clients_keep_heap(struct clients *cs)
{
	cs->keep_heap = true;
}

void clients_fini(struct clients *cs)
{
	struct client *c;

	cs->stopping = true;
	while ((c = TAILQ_FIRST(&cs->list)))
		client_destroy(c);
	while (!TAILQ_EMPTY(&cs->parked))
		parked_free(TAILQ_FIRST(&cs->parked));
	sessions_fini(&cs->sessions);
	if (cs->ev_mag)
		event_free(cs->ev_mag);
	cs->ev_mag = NULL;
}

/* The magazines' tick: see magazine_tick_locked(). */
static void on_mag_tick(evutil_socket_t fd, short what, void *arg)
{
	struct clients *cs = arg;
	uint64_t now = daemon_now();
	struct client *c;
	bool any = false;

	(void)fd, (void)what;
	daemon_heap_lock(cs->core);
	TAILQ_FOREACH(c, &cs->list, link) {
		if (!c->mag)
			continue;
		magazine_tick_locked(c->mag, now, cs->mag_idle_ns);
		any = true;
	}
	daemon_heap_unlock(cs->core);
	if (any)
		clients_changed(cs);
}

/* A tick a quarter of the idle time, at most a second, at least 10 ms. */
static struct timeval mag_tick_interval(uint64_t idle_ns)
{
	uint64_t ns = idle_ns / 4;

	if (ns > UINT64_C(1000000000))
		ns = UINT64_C(1000000000);
	if (ns < UINT64_C(10000000))
		ns = UINT64_C(10000000);
	return (struct timeval){ .tv_sec = (time_t)(ns / 1000000000),
				 .tv_usec = (suseconds_t)(ns % 1000000000 /
							  1000) };
}

int clients_set_magazines(struct clients *cs, uint64_t max_bytes,
			  uint64_t idle_ns)
{
	struct timeval tv = mag_tick_interval(idle_ns);

	cs->mag_bytes = max_bytes;
	cs->mag_idle_ns = idle_ns;
	if (!max_bytes || cs->ev_mag)
		return 0;
	cs->ev_mag = event_new(cs->base, -1, EV_PERSIST, on_mag_tick, cs);
	if (!cs->ev_mag || event_add(cs->ev_mag, &tv) < 0)
		return -ENOMEM;
	return 0;
}

void clients_magazines_locked(struct clients *cs, struct magazine_info *ret)
{
	const struct magazine_info *g = &cs->mag_gone;
	struct client *c;

	daemon_assert_locked(cs->core);
	TAILQ_FOREACH(c, &cs->list, link)
		if (c->mag)
			magazine_info_locked(c->mag, ret);
	magazine_info_add(ret, g);
}

void client_magazine_locked(const struct client *c,
			    struct magazine_info *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (c->mag)
		magazine_info_locked(c->mag, ret);
}

void clients_changed(struct clients *cs)
{
	cs->changes++;
}

void client_accept(struct clients *cs, int fd)
{
	socklen_t len = sizeof(struct ucred);
	struct client *c;

	c = calloc(1, sizeof(*c));
	if (!c) {
		log_err("out of memory for a client");
		close(fd);
		return;
	}
	c->cs = cs;
	c->fd = fd;
	c->connected_ns = daemon_now();
	STAILQ_INIT(&c->outq);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->cred, &len) < 0)
		c->cred = (struct ucred){ 0, (uid_t)-1, (gid_t)-1 };
	c->pidfd = c->cred.pid > 0 ?
			   (int)syscall(SYS_pidfd_open, c->cred.pid, 0) : -1;
	c->ev_read = event_new(cs->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(cs->base, fd, EV_WRITE | EV_PERSIST, on_write,
				c);
	c->ev_hello = evtimer_new(cs->base, on_hello_timeout, c);
	c->id = next_id(cs);
	if (!c->ev_read || !c->ev_write || !c->ev_hello ||
	    event_add(c->ev_read, NULL) < 0 ||
	    event_add(c->ev_hello, &cs->hello_timeout) < 0 || !owner_add(c)) {
		log_err("out of memory for a client");
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		if (c->ev_hello)
			event_free(c->ev_hello);
		if (c->pidfd >= 0)
			close(c->pidfd);
		close(fd);
		free(c);
		return;
	}
	TAILQ_INSERT_TAIL(&cs->list, c, link);
	cs->count++;
}

void client_owner_locked(const struct client *c, struct heap_owner_info *ret)
{
	daemon_assert_locked(c->cs->core);
	if (heap_owner_get(c->cs->core->heap, c->owner, ret) < 0) {
		log_err("BUG: client %u has no heap owner", c->id);
		abort();
	}
}

static void scavenge_wait_free(struct scavenge_wait *w)
{
	struct client *c = w->c;

	TAILQ_REMOVE(&c->cs->scavenge_waits, w, link);
	c->scavenge = NULL;
	if (w->ev_progress)
		event_free(w->ev_progress);
	free(w);
}

/* Step 1 of client_destroy(): nothing answers it from now on. */
static void drop_waits(struct client *c)
{
	if (c->ev_control)
		event_free(c->ev_control);
	c->ev_control = NULL;
	c->deferred_type = 0;
	if (c->scavenge)
		scavenge_wait_free(c->scavenge);
	if (c->objwait)
		objects_wait_cancel(c->cs->objects, c->objwait);
	c->objwait = NULL;
	if (c->reclaim)
		reclaim_cancel(c->cs->reclaim, c->reclaim);
	c->reclaim = NULL;
	free(c->parked);
	c->parked = NULL;
}

/* Its magazine's counters stay in the totals; what it cached goes. */
static void mag_gone_locked(struct clients *cs, struct magazine *mag)
{
	struct magazine_info mi = { 0 };

	magazine_info_locked(mag, &mi);
	mi.cached = 0;
	mi.dead = false;
	magazine_info_add(&cs->mag_gone, &mi);
	magazine_free(mag);
}

/*
 * Free the heap owner @owner and all it holds, its magazine @mag (may
 * be NULL) and its session, each span queued to be released at once
 * (its pages may be charged to a memory cgroup with no task left); in
 * @ret what it held.  Returns whether the scavenger has pages to release.
 */
static bool free_owner_locked(struct clients *cs, uint32_t owner,
			      struct magazine *mag,
			      struct heap_owner_info *ret)
{
	struct heap *h = cs->core->heap;
	uint64_t obj_pages = 0;

	daemon_assert_locked(cs->core);
	if (heap_owner_get(h, owner, ret) < 0) {
		log_err("BUG: owner %u to free is not live", owner);
		abort();
	}
	/*
	 * What it holds through a later layer goes here, one call a layer,
	 * before its own spans go: its object references and open objects,
	 * its magazine (whose spans are its owner's, freed below).
	 */
	if (cs->objects)
		obj_pages = objects_owner_gone_locked(cs->objects, owner);
	if (mag)
		mag_gone_locked(cs, mag);
	heap_free_owner_each(h, owner, daemon_now(),
			     scavenger_queue_departed_locked, cs->scav);
	heap_owner_remove(h, owner);
	session_clear_locked(&cs->sessions, owner);
	return ret->npages || obj_pages;
}

/* Step 2: free what it holds in the heap, then its owner record. */
static void drop_heap(struct client *c)
{
	struct clients *cs = c->cs;
	struct heap_owner_info o;
	bool release;

	daemon_heap_lock(cs->core);
	release = free_owner_locked(cs, c->owner, c->mag, &o);
	c->mag = NULL;
	daemon_heap_unlock(cs->core);
	if (release)
		scavenger_release_departed(cs->scav);
	if (c->welcomed)
		log_limited(&cs->log_gone, 6,
			    "client %u (%s, pid %d) gone; freed %llu spans, %llu pages",
			    c->id, c->name, (int)c->cred.pid,
			    (unsigned long long)o.nspans,
			    (unsigned long long)o.npages);
}

static struct parked_mag *parked_of(struct clients *cs, uint32_t owner)
{
	struct parked_mag *p;

	TAILQ_FOREACH(p, &cs->parked, link)
		if (p->owner == owner)
			return p;
	return NULL;
}

/* @p leaves the list. */
static void parked_free(struct parked_mag *p)
{
	TAILQ_REMOVE(&p->cs->parked, p, link);
	if (p->ev_exit)
		event_free(p->ev_exit);
	if (p->pidfd >= 0)
		close(p->pidfd);
	free(p);
}

/* The orphan @owner is freed as a departed client; @why for the log. */
static void orphan_free(struct clients *cs, uint32_t owner, const char *why)
{
	struct parked_mag *p = parked_of(cs, owner);
	struct heap_owner_info o;
	bool release;

	if (p)
		parked_free(p);
	daemon_heap_lock(cs->core);
	release = free_owner_locked(cs, owner, NULL, &o);
	daemon_heap_unlock(cs->core);
	if (release)
		scavenger_release_departed(cs->scav);
	clients_changed(cs);
	log_limited(&cs->log_gone, 6,
		    "client of owner %u %s; freed %llu spans, %llu pages",
		    owner, why, (unsigned long long)o.nspans,
		    (unsigned long long)o.npages);
}

void clients_orphan_cleared_locked(void *ctx, uint32_t owner)
{
	struct clients *cs = ctx;
	struct parked_mag *p = parked_of(cs, owner);

	daemon_assert_locked(cs->core);
	if (p)
		parked_free(p);
	session_clear_locked(&cs->sessions, owner);
	clients_changed(cs);
}

/* An orphan's process exited: it will not come back. */
static void on_orphan_exit(evutil_socket_t fd, short what, void *arg)
{
	struct parked_mag *p = arg;
	struct clients *cs = p->cs;
	uint32_t owner = p->owner;
	int r;

	(void)fd, (void)what;
	daemon_heap_lock(cs->core);
	r = orphans_claim(cs->orphans, owner);
	daemon_heap_unlock(cs->core);
	if (r == 0)
		orphan_free(cs, owner, "has exited");
}

/*
 * Step 2 for a client whose session is kept: its owner becomes an
 * orphan, its magazine and pidfd wait with it.  False if it cannot be
 * kept.
 */
static bool keep_session(struct client *c)
{
	struct clients *cs = c->cs;
	struct parked_mag *p;

	if (!c->welcomed || !c->keep || c->bye || cs->stopping ||
	    !cs->orphans || client_departed(c))
		return false;
	p = calloc(1, sizeof(*p));
	if (!p)
		return false;
	p->cs = cs;
	p->owner = c->owner;
	p->pidfd = -1;
	if (c->pidfd >= 0) {
		p->ev_exit = event_new(cs->base, c->pidfd, EV_READ,
				       on_orphan_exit, p);
		if (!p->ev_exit || event_add(p->ev_exit, NULL) < 0) {
			if (p->ev_exit)
				event_free(p->ev_exit);
			free(p);
			return false;
		}
	}
	daemon_heap_lock(cs->core);
	if (orphans_add(cs->orphans, c->owner) < 0) {
		daemon_heap_unlock(cs->core);
		if (p->ev_exit)
			event_free(p->ev_exit);
		free(p);
		return false;
	}
	daemon_heap_unlock(cs->core);
	/*
	 * Its pidfd is the orphan's now; its magazine stops (the spans stay
	 * the owner's, its durable record tells a resume which were taken).
	 */
	p->pidfd = c->pidfd;
	c->pidfd = -1;
	magazine_free(c->mag);
	c->mag = NULL;
	TAILQ_INSERT_TAIL(&cs->parked, p, link);
	log_limited(&cs->log_gone, 6,
		    "client %u (%s, pid %d) lost its connection; its session is kept for %u ms",
		    c->id, c->name, (int)c->cred.pid, clients_grace_ms(cs));
	return true;
}

int client_take_session(struct client *c, const struct proto_session *t,
			const uint32_t took[MAG_NCLASSES])
{
	struct clients *cs = c->cs;
	struct parked_mag *p;
	struct client *old;
	int r;

	daemon_heap_lock(cs->core);
	r = session_match_locked(&cs->sessions, t);
	daemon_heap_unlock(cs->core);
	if (r < 0)
		return r;
	/*
	 * Its old connection may have broken with its hang-up not yet read:
	 * it goes now (an orphan) rather than after this HELLO.  One that
	 * has not hung up is alive, and its session not to be taken.
	 */
	TAILQ_FOREACH(old, &cs->list, link)
		if (old != c && old->welcomed && old->owner == t->owner)
			break;
	if (old && sock_peer_closed(old->fd))
		client_destroy(old);
	daemon_heap_lock(cs->core);
	r = session_match_locked(&cs->sessions, t);
	if (r == 0 && orphans_claim(cs->orphans, t->owner) < 0)
		r = -ESTALE;
	if (r < 0) {
		daemon_heap_unlock(cs->core);
		return r;
	}
	/* Its fresh owner has had no request: it owns nothing. */
	if (heap_owner_remove(cs->core->heap, c->owner) < 0) {
		log_err("BUG: a fresh owner owns something");
		abort();
	}
	c->owner = t->owner;
	c->id = t->client_id;
	c->resumed = session_resumed_locked(&cs->sessions, c->owner);
	/* What its old magazine held, settled: its takes are its own. */
	if (cs->durable) {
		r = magazine_resume_locked(cs->core, c->owner,
					   durable_mag_area(cs->durable,
							    c->owner), took);
		if (r < 0 && r != -ENOENT)
			log_err("client %u: its magazine's record is corrupt (%s); its spans stay its own until it goes",
				c->id, strerror(-r));
	}
	daemon_heap_unlock(cs->core);
	p = parked_of(cs, c->owner);
	if (p)
		parked_free(p);
	return 0;
}

/* Step 3: its replies, events and fds. */
static void close_connection(struct client *c)
{
	struct outmsg *m;

	while ((m = STAILQ_FIRST(&c->outq))) {
		STAILQ_REMOVE_HEAD(&c->outq, link);
		free_msg(m);
	}
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_hello);
	if (c->ev_hup)
		event_free(c->ev_hup);
	if (c->pidfd >= 0)
		close(c->pidfd);
	close(c->fd);
}

/*
 * Client gone.  The one place where what a client holds is torn down,
 * whatever ended it: a hang-up, a failed receive or send, no HELLO in
 * time, its process gone (clients_gc()), the daemon stopping.  In order:
 *  1. what waits on its behalf, so that nothing answers it later: its
 *     deferred request, its SCAVENGE wait (and, to come, its waiting
 *     object gets);
 *  2. what it holds in the heap, under the heap lock: before the spans,
 *     its object references and open objects, its magazine; its spans,
 *     then its owner record and its session; unless its session is kept
 *     (keep_session(): see "Sessions" at the top);
 *  3. its connection: queued replies, events, the pidfd, the socket;
 *  4. then it leaves the list, and the layers above hear of it (the
 *     server accepts again: its fds are free).
 * A later layer's per-client state is dropped by one call at its step.
 */
void client_destroy(struct client *c)
{
	struct clients *cs = c->cs;

	drop_waits(c);
	if (cs->keep_heap)
		magazine_free(c->mag);	/* its spans stay its owner's */
	else if (!keep_session(c))
		drop_heap(c);
	close_connection(c);
	if (c->welcomed)
		clients_changed(cs);
	TAILQ_REMOVE(&cs->list, c, link);
	cs->count--;
	free(c);
	cs->hooks.gone(cs->hooks.ctx);
}

/*
 * Send the next chunk of @m's text.  Returns 1 when it was the last, 0
 * when more follow, -EAGAIN if the socket is full, or -errno.
 */
static int send_chunk(int fd, struct outmsg *m)
{
	size_t left = m->blob->len - m->off;
	size_t n = left < PROTO_CHUNK_MAX ? left : PROTO_CHUNK_MAX;
	int r;

	r = sock_send_chunk(fd, m->req.type | PROTO_REPLY, m->req.seq,
			    m->blob->text + m->off, n, n < left);
	if (r < 0)
		return r;
	m->off += n;
	return n == left;
}

/* Send all of @m the socket takes; 0 when it is all sent, or -errno. */
static int send_msg(struct client *c, struct outmsg *m)
{
	struct iovec iov = { m->buf, m->len };
	int r;

	if (!m->text)
		return sock_send(c->fd, &iov, 1, m->fds, m->nfds);
	if (!m->blob) {
		m->blob = c->cs->hooks.text(c->cs->hooks.ctx, &m->req);
		/* Its text cannot be made: a bare -ENOMEM. */
		if (!m->blob)
			return sock_send_status(c->fd,
						m->req.type | PROTO_REPLY,
						m->req.seq, -ENOMEM);
	}
	do
		r = send_chunk(c->fd, m);
	while (r == 0);
	/* A text not begun is made again when it can go: the freshest. */
	if (r == -EAGAIN && !m->off && !m->given) {
		blob_put(m->blob);
		m->blob = NULL;
	}
	return r < 0 ? r : 0;
}

/* Wait for the socket to take @m: nothing more is read meanwhile. */
static void enqueue(struct client *c, struct outmsg *m)
{
	STAILQ_INSERT_TAIL(&c->outq, m, link);
	event_del(c->ev_read);
	event_add(c->ev_write, NULL);
}

int client_send_fds(struct client *c, const void *buf, size_t len,
		    const int *fds, unsigned int nfds)
{
	struct iovec iov = { (void *)(uintptr_t)buf, len };
	int dups[SOCK_MAX_FDS];
	struct outmsg *m;
	unsigned int i;
	int r;

	if (nfds > SOCK_MAX_FDS)
		return -EINVAL;
	if (STAILQ_EMPTY(&c->outq)) {
		r = sock_send(c->fd, &iov, 1, fds, nfds);
		if (r != -EAGAIN)
			return r;
	}
	/* The queued reply passes fds of its own: the caller's may close. */
	for (i = 0; i < nfds; i++) {
		dups[i] = dup(fds[i]);
		if (dups[i] < 0) {
			r = -errno;
			while (i > 0)
				close(dups[--i]);
			return r;
		}
	}
	m = malloc(sizeof(*m) + len);
	if (!m) {
		while (i > 0)
			close(dups[--i]);
		return -ENOMEM;
	}
	memset(m, 0, sizeof(*m));
	memcpy(m->fds, dups, nfds * sizeof(int));
	m->nfds = nfds;
	m->len = len;
	memcpy(m->buf, buf, len);
	enqueue(c, m);
	return 0;
}

int client_send(struct client *c, const void *buf, size_t len)
{
	return client_send_fds(c, buf, len, NULL, 0);
}

int client_send_blob(struct client *c, const struct text_req *req,
		     struct blob *blob)
{
	struct outmsg head = { .text = true, .given = blob != NULL,
			       .req = *req, .blob = blob };
	struct outmsg *m;
	int r;

	/* From here on @head holds a reference of its own, if any. */
	if (blob)
		blob_get(blob);
	if (STAILQ_EMPTY(&c->outq)) {
		r = send_msg(c, &head);
		if (r != -EAGAIN) {
			blob_put(head.blob);
			return r;
		}
	}
	m = malloc(sizeof(*m));
	if (!m) {
		blob_put(head.blob);
		return -ENOMEM;
	}
	*m = head;
	enqueue(c, m);
	return 0;
}

int client_send_text(struct client *c, const struct text_req *req)
{
	return client_send_blob(c, req, NULL);
}

unsigned int client_queued(const struct client *c)
{
	const struct outmsg *m;
	unsigned int n = 0;

	STAILQ_FOREACH(m, &c->outq, link)
		n++;
	return n;
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	struct outmsg *m;
	int r;

	(void)fd, (void)what;
	while ((m = STAILQ_FIRST(&c->outq))) {
		r = send_msg(c, m);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			client_destroy(c);
			return;
		}
		STAILQ_REMOVE_HEAD(&c->outq, link);
		free_msg(m);
	}
	event_del(c->ev_write);
	if (c->closing) {
		client_destroy(c);
		return;
	}
	if (!client_waiting(c))
		event_add(c->ev_read, NULL);
}

/*
 * The peer hung up while its OBJ_GET waited: the wait ends with it.  A
 * close is EV_CLOSED, or, if it left a reply unread, an error on our end
 * (ECONNRESET), which libevent reports as EV_READ; data the client sent
 * meanwhile is EV_READ too and stays unread.  Edge-triggered, so neither
 * fires again until something new happens.
 */
static void on_hup(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);
	char b;

	if (!(what & EV_CLOSED) &&
	    getsockopt((int)fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 &&
	    !err && recv((int)fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) != 0)
		return;
	client_destroy(c);
}

uint64_t client_held_locked(const struct client *c)
{
	struct heap_owner_info o;

	client_owner_locked(c, &o);
	return o.npages << HEAP_PAGE_SHIFT;
}

uint64_t clients_uid_span_bytes_locked(void *ctx, uint32_t uid)
{
	const struct clients *cs = ctx;
	const struct client *c;
	uint64_t sum = 0;

	TAILQ_FOREACH(c, &cs->list, link)
		if (c->welcomed && c->cred.uid == uid)
			sum += client_held_locked(c);
	return sum;
}

void client_wait_object(struct client *c, struct obj_wait *w)
{
	c->objwait = w;
	event_del(c->ev_read);
	/*
	 * Only while ev_read and ev_write are off (a request is read only
	 * with nothing queued): libevent does not mix edge- and level-
	 * triggered events on one fd.  Without the event the wait ends as
	 * it would have, then the hang-up is seen.
	 */
	if (!c->ev_hup)
		c->ev_hup = event_new(c->cs->base, c->fd,
				      EV_READ | EV_CLOSED | EV_ET | EV_PERSIST,
				      on_hup, c);
	if (c->ev_hup)
		event_add(c->ev_hup, NULL);
}

void client_object_answered(struct client *c)
{
	c->objwait = NULL;
	if (c->ev_hup)
		event_del(c->ev_hup);
}

void client_resume(struct client *c)
{
	if (!STAILQ_EMPTY(&c->outq))
		return;		/* on_write resumes it */
	if (c->closing)
		client_destroy(c);
	else if (!client_waiting(c))
		event_add(c->ev_read, NULL);
}

/*
 * Receive one request.  Returns 1 when a message was handled, 0 when
 * there is nothing more to read now, -1 when the client is gone (it has
 * been destroyed).
 *
 * Every datagram that recvmsg() returns has its passed fds closed before
 * anything else looks at it, whatever comes next: an empty datagram with
 * fds followed by a hang-up would otherwise leak them for good.  A failed
 * recvmsg() installs none.
 */
static int read_one(struct client *c)
{
	union {
		char buf[CMSG_SPACE(CLIENT_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	/* One byte more than the largest request, to see oversized ones. */
	uint64_t buf[PROTO_REQUEST_MAX / 8 + 1];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	bool had_fds;
	ssize_t n;

	n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		client_destroy(c);
		return -1;
	}
	had_fds = sock_drop_fds(&msg) || msg.msg_flags & MSG_CTRUNC;
	if (n == 0 && sock_peer_closed(c->fd)) {
		client_destroy(c);
		return -1;
	}
	c->nrequests++;
	if (had_fds)
		dispatch_reject(c, buf, (size_t)n, -EBADMSG,
			  "closed the file descriptors passed with a");
	else if (msg.msg_flags & MSG_TRUNC || (size_t)n > PROTO_REQUEST_MAX)
		dispatch_reject(c, buf, (size_t)n, -EBADMSG, "oversized");
	else
		dispatch_request(c, buf, (size_t)n);
	return 1;
}

/*
 * One request per wake-up: a libspanclient connection never has a second
 * request waiting (it holds its lock for a whole round trip), so reading
 * again would only cost a recvmsg that fails with EAGAIN.  Level-triggered
 * events bring us back at once for pipelined requests.
 */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;

	(void)fd, (void)what;
	if (read_one(c) < 0)
		return;
	if (c->closing && STAILQ_EMPTY(&c->outq))
		client_destroy(c);
}

/* ---- GC and SCAVENGE: the rate limit, and the waits for a forced pass */

/* A reply to a GC or SCAVENGE: a client whose socket fails closes. */
static void reply(struct client *c, const void *buf, size_t len)
{
	if (client_send(c, buf, len) < 0)
		c->closing = true;
}

static void on_control(evutil_socket_t fd, short what, void *arg);

/* @ns as a timeout, rounded up: a timer never fires early. */
static struct timeval timeval_of(uint64_t ns)
{
	uint64_t us = (ns + 999) / 1000;

	return (struct timeval){ (time_t)(us / 1000000),
				 (suseconds_t)(us % 1000000) };
}

/* The client's timer for deferred requests; NULL if none. */
static struct event *control_timer(struct client *c)
{
	if (!c->ev_control)
		c->ev_control = evtimer_new(c->cs->base, on_control, c);
	return c->ev_control;
}

/*
 * Arm the timer for the end of the client's interval.  libevent measures
 * timeouts from the time it cached at the start of the loop's turn, so
 * the timer may fire a little early: on_control() checks and waits
 * again for what is left.
 */
static void control_wait(struct client *c, uint64_t now)
{
	struct timeval tv = timeval_of(c->control_ns +
				       c->cs->control_interval_ns - now);

	evtimer_add(c->ev_control, &tv);
}

/*
 * GC and SCAVENGE cost more than other requests: a GC pass polls every
 * client's pidfd, a forced release pass walks the heap on the scavenger
 * thread.  So a client gets at most one of them per
 * cs->control_interval_ns.  One that comes sooner is not refused: it
 * waits, with the client's reads off, until on_control() serves it when
 * the interval has passed, with the reply it would have had.  A client
 * that loops GC then costs the daemon at most 10 passes a second, and
 * other clients are read in between.  Returns true if the request of
 * @type and @seq waits.
 */
static bool control_deferred(struct client *c, uint16_t type, uint32_t seq)
{
	struct clients *cs = c->cs;
	uint64_t now = daemon_now();

	if (!c->control_ns || now - c->control_ns >= cs->control_interval_ns ||
	    !control_timer(c)) {
		c->control_ns = now;
		return false;
	}
	c->deferred_type = type;
	c->deferred_seq = seq;
	cs->control_deferred++;
	event_del(c->ev_read);
	control_wait(c, now);
	return true;
}

static void on_progress(evutil_socket_t fd, short what, void *arg);

/*
 * Released in the background; the reply comes when that is done.  Out of
 * memory for the wait, the request is answered -ENOMEM at once.
 */
static void scavenge_start(struct client *c, uint32_t seq)
{
	struct clients *cs = c->cs;
	struct timeval tv = timeval_of(cs->progress_interval_ns);
	struct scavenge_wait *w = calloc(1, sizeof(*w));

	if (!w) {
		struct proto_hdr hdr;

		proto_hdr_init(&hdr, PROTO_SCAVENGE | PROTO_REPLY, seq);
		hdr.status = -ENOMEM;
		reply(c, &hdr, sizeof(hdr));
		return;
	}
	w->c = c;
	w->seq = seq;
	w->pass = scavenger_force(cs->scav);
	TAILQ_INSERT_TAIL(&cs->scavenge_waits, w, link);
	c->scavenge = w;
	/* Read nothing more from it until it has its answer. */
	event_del(c->ev_read);
	/* Without a timer the client hears only the final reply. */
	if (!cs->progress_interval_ns)
		return;
	w->ev_progress = evtimer_new(cs->base, on_progress, w);
	if (w->ev_progress)
		evtimer_add(w->ev_progress, &tv);
}

/*
 * While a client waits for its forced pass, a progress reply every
 * cs->progress_interval_ns (a second) says what the pass has released so
 * far, so that the client can tell a long pass from a stuck daemon.
 * Only when its queue is empty: a client that does not read gets no
 * more.
 */
static void on_progress(evutil_socket_t fd, short what, void *arg)
{
	struct scavenge_wait *w = arg;
	struct client *c = w->c;
	struct timeval tv = timeval_of(c->cs->progress_interval_ns);
	struct proto_scavenge_reply rep;
	uint64_t released;

	(void)fd, (void)what;
	if (!client_queued(c)) {
		released = scavenger_released(c->cs->scav, w->pass);
		/* Never backwards, even at the edge of a pass. */
		if (released < w->progress)
			released = w->progress;
		w->progress = released;
		memset(&rep, 0, sizeof(rep));
		proto_hdr_init(&rep.hdr, PROTO_SCAVENGE | PROTO_REPLY, w->seq);
		rep.released = released;
		rep.flags = PROTO_MORE;
		reply(c, &rep, sizeof(rep));
	}
	evtimer_add(w->ev_progress, &tv);
}

/* The pass @w waited for has ended, having released @released. */
static void scavenge_end(struct scavenge_wait *w, uint64_t released)
{
	struct client *c = w->c;
	struct proto_scavenge_reply rep;

	memset(&rep, 0, sizeof(rep));
	proto_hdr_init(&rep.hdr, PROTO_SCAVENGE | PROTO_REPLY, w->seq);
	rep.released = released;
	scavenge_wait_free(w);
	reply(c, &rep, sizeof(rep));
	client_resume(c);
}

void clients_forced_done(struct clients *cs, uint64_t done, uint64_t bytes)
{
	struct scavenge_wait *w, *next;

	/* Passes are numbered in order: a later one serves it too. */
	for (w = TAILQ_FIRST(&cs->scavenge_waits); w; w = next) {
		next = TAILQ_NEXT(w, link);
		if (w->pass > done)
			continue;
		log_info("client %u: released %llu bytes on demand", w->c->id,
			 (unsigned long long)bytes);
		scavenge_end(w, bytes);
	}
}

void client_scavenge(struct client *c, uint32_t seq)
{
	if (!control_deferred(c, PROTO_SCAVENGE, seq))
		scavenge_start(c, seq);
}

static void gc_reply(struct client *c, uint32_t seq)
{
	struct proto_gc_reply rep;

	memset(&rep, 0, sizeof(rep));
	proto_hdr_init(&rep.hdr, PROTO_GC | PROTO_REPLY, seq);
	rep.freed_spans = clients_gc(c->cs, false, c, &rep.pause_ns);
	reply(c, &rep, sizeof(rep));
}

void client_gc(struct client *c, uint32_t seq)
{
	if (!control_deferred(c, PROTO_GC, seq))
		gc_reply(c, seq);
}

/* A deferred request's time has come. */
static void on_control(evutil_socket_t fd, short what, void *arg)
{
	struct client *c = arg;
	uint16_t type = c->deferred_type;
	uint64_t now = daemon_now();

	(void)fd, (void)what;
	if (now - c->control_ns < c->cs->control_interval_ns) {
		control_wait(c, now);
		return;
	}
	c->deferred_type = 0;
	c->control_ns = now;
	clients_changed(c->cs);
	if (type == PROTO_SCAVENGE) {
		scavenge_start(c, c->deferred_seq);
		if (!c->scavenge)	/* answered already */
			client_resume(c);
		return;
	}
	gc_reply(c, c->deferred_seq);
	client_resume(c);
}

/* ---- GC passes: the clients whose process has exited */

/*
 * Has the process that opened this connection exited?  A pidfd says so
 * for sure.  Without one (a kernel before 5.3) kill(pid, 0) can only err
 * on the safe side: a reused pid looks alive, never the other way.
 */
static bool client_departed(const struct client *c)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };

	if (c->pidfd >= 0)
		return poll(&p, 1, 0) == 1;
	return c->cred.pid > 0 && kill(c->cred.pid, 0) < 0 && errno == ESRCH;
}

/*
 * The pause is the walk of the clients (a poll of each one's pidfd), the
 * frees of the departed and what scavenger_gc_record() adds.
 */
uint64_t clients_gc(struct clients *cs, bool forced, struct client *except,
		    uint64_t *ret_pause)
{
	uint64_t t0 = daemon_now(), pause, freed = 0;
	struct heap_owner_info o;
	struct client *c, *next;

	/*
	 * Clients whose socket closed were freed at once; here go those
	 * whose process died while a child kept the socket open.
	 */
	for (c = TAILQ_FIRST(&cs->list); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c == except || !client_departed(c))
			continue;
		log_info("gc: client %u (pid %d) has exited with its socket still open",
			 c->id, (int)c->cred.pid);
		daemon_heap_lock(cs->core);
		client_owner_locked(c, &o);
		freed += o.nspans;
		daemon_heap_unlock(cs->core);
		client_destroy(c);
	}
	pause = scavenger_gc_record(cs->scav, forced, t0);
	if (ret_pause)
		*ret_pause = pause;
	return freed;
}
