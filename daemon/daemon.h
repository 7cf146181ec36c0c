/* SPDX-License-Identifier: MIT */
/*
 * spanheapd's shared state: one event loop, one arena, one heap, the
 * connected clients.
 *
 * Threads and locks.  The event loop thread does all socket work.  The
 * scavenger thread (scavenger.c) also touches the heap (whose metadata
 * holds every client's owner record) and the scavenger's statistics, so
 * those are guarded by d->heap_lock; the jobs handed to that thread are
 * guarded by
 * d->job_lock.  Lock order: job_lock, then heap_lock.  Functions named
 * *_locked need the caller to hold heap_lock and check that they do.
 * Everything else in struct daemon and struct client belongs to the loop
 * thread.
 */
#ifndef SPANHEAPD_DAEMON_H
#define SPANHEAPD_DAEMON_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"
#include "options.h"
#include "shm/arena.h"
#include "shm/heap.h"
#include "proto/proto.h"
#include "shm/scav.h"

struct event;
struct event_base;

/*
 * Heap owners beyond --max-clients (each client is one): room for the
 * owners of later layers (shared objects) and to spare.
 */
#define DAEMON_OWNERS_SPARE 16

/* A connection must say HELLO within this time, or it is dropped. */
#define DAEMON_HELLO_TIMEOUT_SEC 10

/*
 * GC and SCAVENGE requests of one client are served at most once per
 * interval; one that comes sooner waits for it (see dispatch.c).
 */
#define DAEMON_CONTROL_INTERVAL_NS (UINT64_C(100) * 1000000)

/* A client waiting for a forced pass hears of its progress this often. */
#define DAEMON_PROGRESS_INTERVAL_NS UINT64_C(1000000000)

/* STATS lists at most this many clients; CLIENTS pages give them all. */
#define STATS_LIST_MAX 64

/*
 * The MemStats text is reused while nothing it shows has changed, for
 * at most this long: the fields that always move (uptime_ns,
 * arena_resident, a client's requests) are never older.
 */
#define STATS_MAX_AGE_NS (UINT64_C(100) * 1000000)

/*
 * A reply text (MemStats, a CLIENTS page) shared by the cache and every
 * client it is being sent to.  Loop thread only.
 */
struct stats_blob {
	unsigned int refs;
	size_t len;		/* bytes of text, no NUL counted */
	char text[];
};

/*
 * A STATS or CLIENTS request whose text is made when its reply goes out:
 * @after and @max are CLIENTS' (see stats_text()).
 */
struct text_req {
	uint16_t type;
	uint32_t seq;
	uint32_t after, max;
};

/*
 * One reply waiting for the client's socket to take it: a datagram of
 * @len bytes in @buf; or, if @text, the chunks of the STATS or CLIENTS
 * reply to @req, made one at a time from @blob as the socket takes them
 * (@off bytes of it sent so far).  @blob is made when the first chunk
 * goes out, and dropped if the socket does not take it: a reply that
 * waits holds no text, and gets the freshest.
 */
struct outmsg {
	STAILQ_ENTRY(outmsg) link;
	int fd;			/* to pass with it, or -1 */
	bool text;
	bool given;		/* @blob came made: keep it */
	struct text_req req;
	struct stats_blob *blob;	/* a reference, or NULL */
	size_t off;
	size_t len;
	unsigned char buf[];
};

struct client {
	TAILQ_ENTRY(client) link;
	struct daemon *d;
	int fd;
	struct event *ev_read, *ev_write;
	struct event *ev_hello;	/* drops it if no HELLO comes in time */
	uint32_t id;
	bool welcomed;		/* HELLO answered */
	bool closing;		/* close once the queue is sent */
	struct ucred cred;	/* SO_PEERCRED at accept */
	int pidfd;		/* the peer process, to see it exit; or -1 */
	char name[PROTO_NAME_MAX];
	uint64_t connected_ns;
	uint64_t nrequests;
	uint64_t nbad;		/* bad messages, saturating: a client drives it */
	uint64_t scav_wait;	/* waiting for forced pass number N, or 0 */
	uint32_t scav_seq;	/* the seq of that SCAVENGE request */
	uint64_t scav_progress;	/* bytes in its last progress reply */
	/*
	 * The rate limit of GC and SCAVENGE (dispatch.c): when the last one
	 * was served (0: never), and the one waiting for ev_control
	 * (deferred_type 0: none).  ev_control also paces the progress
	 * replies while scav_wait; it is made when first needed.
	 */
	uint64_t control_ns;
	uint16_t deferred_type;
	uint32_t deferred_seq;
	struct event *ev_control;
	/*
	 * Replies the socket did not take yet.  While any wait (or a
	 * deferred request, or a forced pass), the client's requests are not
	 * read, so one client holds at most one reply: one datagram, or a
	 * STATS or CLIENTS reply whose text is made when it can go out and
	 * sent a chunk at a time.
	 */
	STAILQ_HEAD(, outmsg) outq;
	uint32_t owner;		/* its heap owner's id, from client_accept() */
};

struct daemon {
	struct options opt;
	struct event_base *base;
	struct event *ev_listen, *ev_sigterm, *ev_sigint;
	struct event *ev_tick;		/* scavenger timer */
	struct event *ev_done;		/* a release pass has ended */
	int listen_fd;
	int lock_fd;		/* flock()ed "<socket>.lock", or -1 */
	bool own_socket;	/* we bound the socket at the path */
	dev_t sock_dev;		/* it, while own_socket: unlink only it */
	ino_t sock_ino;
	bool activated;		/* the socket came from systemd */
	/* server.c: accepting when file descriptors run out */
	int reserve_fd;		/* /dev/null, given up to refuse at EMFILE */
	struct event *ev_accept_retry;	/* switches ev_listen on again */
	bool accept_paused;	/* ev_listen off until then */
	unsigned int accept_pause_ms;	/* the last pause; 0 once accepting */
	uint64_t nofile_refused;	/* connections refused with -EMFILE */
	struct log_limit log_nofile, log_refused;
	struct event *ev_watchdog;	/* WATCHDOG=1 to systemd */
	struct arena *arena;
	struct arena *meta;		/* the heap's metadata memfd */
	uint64_t start_ns;

	pthread_mutex_t heap_lock;
	pthread_t heap_lock_holder;	/* valid while heap_locked */
	bool heap_locked;
	struct heap *heap;		/* GUARDED_BY(heap_lock) */
	struct scav scav;		/* GUARDED_BY(heap_lock) */
	uint64_t ticks;			/* scavenger timer ticks */
	uint64_t pass_tick;		/* scvgN of the pass in progress */
	uint64_t release_errors_seen;	/* failed releases already logged */
	bool trace;			/* --trace or SPANHEAPD_TRACE=1 */

	/* The scavenger thread and its jobs; see scavenger.c. */
	pthread_t scav_thread;
	bool scav_started;
	pthread_mutex_t job_lock;	/* taken before heap_lock, never after */
	pthread_cond_t job_cond;
	unsigned int jobs;		/* GUARDED_BY(job_lock) */
	bool job_stop;			/* GUARDED_BY(job_lock) */
	bool pass_running;		/* GUARDED_BY(job_lock) */
	bool pass_done;			/* GUARDED_BY(job_lock) */
	uint64_t forced_asked;		/* GUARDED_BY(job_lock): forced passes asked */
	uint64_t forced_done;		/* GUARDED_BY(job_lock): last one served */
	uint64_t forced_bytes;		/* GUARDED_BY(job_lock): what it released */
	uint64_t forced_running;	/* GUARDED_BY(job_lock): the forced pass
					 * running now, or 0 */
	bool stats_file_failed;		/* logged once until it works again */

	/* stats.c: the MemStats text, rebuilt only when stats_gen moved. */
	uint64_t stats_gen;		/* bumped by stats_changed() */
	struct stats_blob *stats_cache;	/* a reference, or NULL */
	uint64_t stats_cache_gen;	/* stats_key() when it was built */
	uint64_t stats_cache_ns;	/* daemon_now() when it was built */
	uint64_t heap_checks;		/* full heap_check() runs */
	bool heap_check_gc;		/* SPANHEAPD_HEAP_CHECK: every GC */
	/* dispatch.c: DAEMON_CONTROL_INTERVAL_NS, _PROGRESS_; 0: none */
	uint64_t control_interval_ns;
	uint64_t progress_interval_ns;
	uint64_t control_deferred;	/* GC, SCAVENGE requests deferred */

	TAILQ_HEAD(, client) clients;
	unsigned int nclients;
	uint32_t next_client_id;
	struct timeval hello_timeout;	/* to say HELLO after connecting */
	uint64_t refused;	/* connections refused at --max-clients */
	/* Lines any client can cause, each kind rate-limited (log.h). */
	struct log_limit log_connected, log_gone, log_silent, log_bad;
};

/* CLOCK_MONOTONIC in ns: the clock the heap's unusedsince uses. */
uint64_t daemon_now(void);

void daemon_heap_lock(struct daemon *d);
void daemon_heap_unlock(struct daemon *d);
/* Abort unless this thread holds the heap lock. */
void daemon_assert_locked(const struct daemon *d);

/* daemon.c: set up and tear down everything but the loop */
int daemon_init(struct daemon *d, const struct options *opt);
void daemon_fini(struct daemon *d);
int daemon_run(struct daemon *d);

/* server.c: the listening socket */
int server_listen(struct daemon *d);
void server_close(struct daemon *d);
/* A client has gone and freed its fds: accept again if paused. */
void server_resume_accept(struct daemon *d);

/* client.c: one connection */
void client_accept(struct daemon *d, int fd);
void client_destroy(struct client *c);
/* Read requests again after a deferred reply was queued. */
void client_resume(struct client *c);
/* Queue a reply (with @fd to pass, or -1); it is sent in order. */
int client_send(struct client *c, const void *buf, size_t len, int fd);
/*
 * Queue the chunked reply (struct proto_stats_reply) to @req, STATS or
 * CLIENTS.  Its text is made (stats_text()) when the socket can take
 * the first chunk, and each further chunk when the socket has taken the
 * one before.
 */
int client_send_text(struct client *c, const struct text_req *req);
/*
 * The same with the text @blob made already (tests), of which the client
 * takes a reference if it must wait; NULL: made as for client_send_text().
 */
int client_send_blob(struct client *c, const struct text_req *req,
		     struct stats_blob *blob);
/* Replies not yet taken by the socket: 0, or 1 (a chunked one counts 1). */
unsigned int client_queued(const struct client *c);

/* dispatch.c: validate one request and answer it */
void client_reply_scavenge(struct client *c, uint64_t released);
void dispatch_request(struct client *c, const void *buf, size_t len);
/* Whether requests of @type have a handler (every type proto_msg() knows). */
bool dispatch_handles(uint16_t type);
/* Answer a message that will not be served with status @err; log @why. */
void dispatch_reject(struct client *c, const void *buf, size_t len, int err,
		     const char *why);

/* scavenger.c: the timer, release passes and GC passes */
int scavenger_start(struct daemon *d);
void scavenger_stop(struct daemon *d);
/*
 * A GC pass now: frees the clients whose process has exited, but
 * @except (the client asking, or NULL).  @forced: the timer's pass,
 * which also runs heap_check() (as every pass does with
 * SPANHEAPD_HEAP_CHECK=1).  Returns the spans it freed, and its pause in
 * @ret_pause (may be NULL).
 */
uint64_t scavenger_gc(struct daemon *d, bool forced, struct client *except,
		      uint64_t *ret_pause);
/* A SCAVENGE request: answered by client_reply_scavenge() when done. */
void scavenger_release_now(struct client *c);
/*
 * A destroyed client's spans: queue each (a heap_free_owner_each()
 * callback, heap lock held), then have them released at once.
 */
void scavenger_queue_departed_locked(void *d, uint64_t page,
				     uint64_t npages);
void scavenger_release_departed(struct daemon *d);
/* Bytes released so far by the forced pass @c waits for (0: not begun). */
uint64_t scavenger_released(struct client *c);

/* stats.c: MemStats as JSON, and the CLIENTS pages */
/* Something MemStats shows has changed: the next STATS rebuilds it. */
void stats_changed(struct daemon *d);
/* A reference to the MemStats text, built if stale; NULL if out of memory. */
struct stats_blob *stats_get(struct daemon *d);
/*
 * A CLIENTS page: the welcomed clients of id above @after, in id order,
 * at most @max.  A new reference; NULL if out of memory.
 */
struct stats_blob *stats_clients_page(struct daemon *d, uint32_t after,
				      uint32_t max);
/* The text of the reply to @req: stats_get() or stats_clients_page(). */
struct stats_blob *stats_text(struct daemon *d, const struct text_req *req);
/* Drop a reference; NULL is fine. */
void stats_blob_put(struct stats_blob *b);
/* Drop the cached text (at exit). */
void stats_fini(struct daemon *d);
/* Rewrite the stats file (if any) and the systemd status line. */
void stats_publish(struct daemon *d);

#endif
