/* SPDX-License-Identifier: MIT */
/*
 * The connections (client.c): each client's socket, its queue of replies
 * and flow control, its identity and heap owner, the rate limit of its
 * GC and SCAVENGE requests and its wait for a forced pass; and the list
 * of them all, with the one place where a client's resources are torn
 * down (client_destroy()).  Requests go up to dispatch.c, which answers
 * them down through client_send() and its kin: that pair is the one
 * cycle of daemon/ (see daemon.h).
 *
 * Loop thread only, but the heap (core.h), which the client's owner
 * record lives in.
 */
#ifndef SPANHEAPD_CLIENT_H
#define SPANHEAPD_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "blob.h"
#include "core.h"
#include "log.h"
#include "magazine.h"
#include "proto/proto.h"
#include "session.h"
#include "shm/object.h"
#include "sock.h"

struct arena;
struct durable;
struct event;
struct event_base;
struct heap_owner_info;
struct magazine;
struct obj_wait;
struct objects;
struct orphans;
struct parked_mag;
struct charge;
struct reclaim;
struct reclaim_wait;
struct scavenge_wait;
struct scavenger;

/* A connection must say HELLO within this time, or it is dropped. */
#define CLIENT_HELLO_TIMEOUT_SEC 10

/*
 * GC and SCAVENGE requests of one client are served at most once per
 * interval; one that comes sooner waits for it (see client.c).
 */
#define CLIENT_CONTROL_INTERVAL_NS (UINT64_C(100) * 1000000)

/* A client waiting for a forced pass hears of its progress this often. */
#define CLIENT_PROGRESS_INTERVAL_NS UINT64_C(1000000000)

/*
 * A STATS or CLIENTS request whose text is made when its reply goes out:
 * @after and @max are CLIENTS' (see stats_text()).
 */
struct text_req {
	uint16_t type;
	uint32_t seq;
	uint64_t after;		/* CLIENTS: a client id; OBJECTS: a cursor */
	uint32_t max;
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
	int fds[SOCK_MAX_FDS];	/* to pass with it: dups, nfds of them */
	unsigned int nfds;
	bool text;
	bool given;		/* @blob came made: keep it */
	struct text_req req;
	struct blob *blob;	/* a reference, or NULL */
	size_t off;
	size_t len;
	unsigned char buf[];
};

/*
 * The reply of a mutating request, held back while its transaction is
 * open (dispatch.c): recorded in the session, then sent.
 */
struct reply_capture {
	size_t len;		/* 0: none yet */
	unsigned char buf[SESSION_REPLY_MAX];
	bool wake;		/* OBJ_SEAL sealed @sealed: wake its waiters */
	uint64_t park;		/* unanswered: wait for room for this many
				   bytes under the memory limit, then retry */
	struct heap_obj_info sealed;
};

struct client {
	TAILQ_ENTRY(client) link;	/* in clients' list */
	struct clients *cs;
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
	/*
	 * The rate limit of GC and SCAVENGE (client.c): when the last one
	 * was served (0: never), and the one waiting for ev_control
	 * (deferred_type 0: none); ev_control is made when first needed.
	 */
	uint64_t control_ns;
	uint16_t deferred_type;
	uint32_t deferred_seq;
	struct event *ev_control;
	/* Its SCAVENGE, waiting for a forced pass (client.c), or NULL. */
	struct scavenge_wait *scavenge;
	/*
	 * Its OBJ_GET, waiting for a seal (objects.c), or NULL; meanwhile
	 * ev_hup sees the peer hang up, so that the wait ends with it.
	 */
	struct obj_wait *objwait;
	/*
	 * An allocation that waits for room under the memory limit
	 * (reclaim.h, dispatch.c): its wait, a copy of the request, to be
	 * dispatched again when the wait ends, and how many times it has
	 * been; @reclaim_final: the next -ENOBUFS is its -ENOMEM.
	 */
	struct reclaim_wait *reclaim;
	void *parked;
	size_t parked_len;
	unsigned int reclaim_rounds;
	bool reclaim_final;
	struct event *ev_hup;
	/*
	 * Replies the socket did not take yet.  While any wait (or a
	 * deferred request, or a forced pass), the client's requests are not
	 * read, so one client holds at most one reply: one datagram, or a
	 * STATS or CLIENTS reply whose text is made when it can go out and
	 * sent a chunk at a time.
	 */
	STAILQ_HEAD(, outmsg) outq;
	uint32_t owner;		/* its heap owner's id, from client_accept() */
	struct magazine *mag;	/* its magazine, if it asked at HELLO; or NULL */
	/*
	 * Sessions: it said BYE (freed at once when it goes); its session
	 * is kept across a break (its HELLO said PROTO_HELLO_KEEP); the
	 * times its session was taken back (0: a fresh one); the reply held
	 * back by an open transaction (dispatch.c), or NULL.
	 */
	bool bye;
	bool keep;
	uint64_t resumed;
	struct reply_capture *capture;
};

/* What the connections need from the layers above; daemon.c gives them. */
struct clients_hooks {
	/*
	 * The text of the reply to @req, STATS or CLIENTS (stats_text()): a
	 * new reference, or NULL if out of memory.
	 */
	struct blob *(*text)(void *ctx, const struct text_req *req);
	/* A client has gone and its fds are free (the server accepts again). */
	void (*gone)(void *ctx);
	void *ctx;
};

/* Every connection, and what they share.  Loop thread only. */
struct clients {
	struct core *core;		/* the heap the owners live in */
	struct event_base *base;
	struct arena *arena;		/* WELCOME passes its fd */
	struct scavenger *scav;		/* GC records, forced passes */
	struct objects *objects;	/* references, open objects, waits */
	struct reclaim *reclaim;	/* room under the memory limit */
	struct charge *charge;		/* quotas, or NULL: none */
	struct durable *durable;	/* the records that outlive us, or NULL */
	struct clients_hooks hooks;
	TAILQ_HEAD(, client) list;	/* in connection order */
	unsigned int count;
	uint32_t next_id;
	/*
	 * Set at a shutdown that keeps the heap for the next daemon (the fd
	 * store): a client gone then leaves its spans, objects and owner.
	 */
	bool keep_heap;
	struct timeval hello_timeout;	/* to say HELLO after connecting */
	/* CLIENT_CONTROL_INTERVAL_NS, _PROGRESS_; 0: none (tests) */
	uint64_t control_interval_ns;
	uint64_t progress_interval_ns;
	uint64_t control_deferred;	/* GC, SCAVENGE requests deferred */
	TAILQ_HEAD(, scavenge_wait) scavenge_waits;	/* in request order */
	/* What MemStats shows of them changed (stats.c's key); only grows. */
	uint64_t changes;
	/*
	 * Magazines (magazine.h): the bytes each may cache (0: none are
	 * made), the idleness after which one gives everything back, its
	 * tick, and the counters of the magazines of clients gone.
	 */
	uint64_t mag_bytes;
	uint64_t mag_idle_ns;
	struct event *ev_mag;
	struct magazine_info mag_gone;
	/*
	 * Sessions (session.h) and the owners of broken connections that may
	 * come back (orphans), over the durable area; the magazines of such
	 * owners' pidfds wait in @parked.  @stopping: the daemon stops, clients go
	 * for good.  @break_types: tests only (SPANHEAPD_TEST_BREAK_TYPES),
	 * request types (bits 1 << type) whose first recorded reply is not
	 * sent: the connection is shut down instead.
	 */
	struct sessions sessions;
	struct orphans *orphans;	/* or NULL: no session is kept */
	TAILQ_HEAD(, parked_mag) parked;
	bool stopping;
	uint32_t break_types;
	/* Lines any client can cause, each kind rate-limited (log.h). */
	struct log_limit log_connected, log_gone, log_silent, log_bad;
};

/**
 * clients_init() - no clients yet, over @core's heap; WELCOME passes
 * @arena, GC and SCAVENGE go to @scav.  The intervals are the defaults
 * (CLIENT_*).  It cannot fail.
 */
void clients_init(struct clients *cs, struct core *core,
		  struct event_base *base, struct arena *arena,
		  struct scavenger *scav, const struct clients_hooks *hooks);

/**
 * clients_set_magazines() - give clients that ask a magazine of up to
 * @max_bytes (0: none), and drain it once its client has not used it
 * for @idle_ns.  Return: 0, or -ENOMEM for its tick's timer.
 */
int clients_set_magazines(struct clients *cs, uint64_t max_bytes,
			  uint64_t idle_ns);

/**
 * clients_magazines_locked() - every magazine's figures (struct
 * magazine_info), departed clients' counters included, added up.
 */
void clients_magazines_locked(struct clients *cs, struct magazine_info *ret);

/**
 * client_magazine_locked() - @c's magazine's figures, all 0 if it has
 * none.
 */
void client_magazine_locked(const struct client *c,
			    struct magazine_info *ret);

/**
 * clients_set_next_id() - the next client's id is @next_id or the first
 * free one after it: an adopted heap's owners keep their ids.
 */
void clients_set_next_id(struct clients *cs, uint32_t next_id);

/**
 * clients_keep_heap() - from now on a client gone leaves what it holds
 * in the heap (a shutdown that hands the heap to the next daemon).
 */
void clients_keep_heap(struct clients *cs);

/** clients_fini() - every client gone (client_destroy()), its spans freed. */
void clients_fini(struct clients *cs);

/** clients_changed() - something MemStats shows of the clients changed. */
void clients_changed(struct clients *cs);

/**
 * client_accept() - a new connection on @fd, which it takes: a client
 * with an id and a heap owner of its own, to say HELLO in time.  On
 * failure (logged) @fd is closed and there is no client.
 */
void client_accept(struct clients *cs, int fd);

/**
 * client_destroy() - the client is gone: everything it holds is torn
 * down, its spans freed, and @c with it.  See client.c, "Client gone".
 */
void client_destroy(struct client *c);

/**
 * client_take_session() - @c, not yet welcomed, takes back the session of
 * token @t, whose owner is an orphan: its fresh owner goes, it gets the
 * session's owner and client id, and its magazine if one waits.
 * Return: 0, or -ESTALE (a token of no live orphaned session of this
 * arena; nothing changed).
 */
int client_take_session(struct client *c, const struct proto_session *t,
			const uint32_t took[MAG_NCLASSES]);

/**
 * clients_set_durable() - session records in @du (NULL: in memory, lost
 * at exit) and broken sessions kept as @orphans (NULL: none kept).
 */
void clients_set_durable(struct clients *cs, struct durable *du,
			 struct orphans *orphans);

/*
 * clients_orphan_cleared_locked() - the orphans' hook: the grace of
 * @owner ended and it was freed; its session goes too.
 */
void clients_orphan_cleared_locked(void *ctx, uint32_t owner);

/** clients_grace_ms() - how long a broken session is kept, for WELCOME. */
uint32_t clients_grace_ms(const struct clients *cs);

/** client_resume() - read requests again after a deferred reply was queued. */
void client_resume(struct client *c);

/**
 * client_send() - queue a reply of @len bytes; replies go out in order.
 * Return: 0 or -errno (then the client should close).
 */
int client_send(struct client *c, const void *buf, size_t len);

/**
 * client_send_fds() - client_send() with the @nfds fds of @fds (up to
 * SOCK_MAX_FDS) to pass; they stay the caller's.
 */
int client_send_fds(struct client *c, const void *buf, size_t len,
		    const int *fds, unsigned int nfds);

/**
 * client_send_text() - queue the chunked reply (struct proto_stats_reply)
 * to @req, STATS or CLIENTS.  Its text is made (hooks.text) when the
 * socket can take the first chunk, and each further chunk when the
 * socket has taken the one before.  Return: 0 or -errno.
 */
int client_send_text(struct client *c, const struct text_req *req);

/**
 * client_send_blob() - the same with the text @blob made already
 * (tests), of which the client takes a reference if it must wait; NULL:
 * made as for client_send_text().
 */
int client_send_blob(struct client *c, const struct text_req *req,
		     struct blob *blob);

/** client_queued() - replies not yet taken: 0, or 1 (a chunked one is 1). */
unsigned int client_queued(const struct client *c);

/**
 * client_owner_locked() - what @c holds in the heap, from its owner
 * record.  Aborts if it has none: a live client always has one.
 */
void client_owner_locked(const struct client *c, struct heap_owner_info *ret);

/**
 * clients_uid_span_bytes_locked() - the charge hook (charge.h): bytes of
 * the spans the welcomed connections of @uid hold; @cs a struct clients.
 */
uint64_t clients_uid_span_bytes_locked(void *cs, uint32_t uid);

/** client_held_locked() - bytes of the spans @c holds. */
uint64_t client_held_locked(const struct client *c);

/**
 * client_wait_object() - @c's OBJ_GET waits (@w): its reads are off until
 * client_object_answered(), and a hang-up destroys it meanwhile.
 */
void client_wait_object(struct client *c, struct obj_wait *w);

/**
 * client_object_answered() - @c's wait is over (objects.c has freed it);
 * the caller queues the reply, then client_resume().
 */
void client_object_answered(struct client *c);

/**
 * client_gc() - a GC request: a GC pass (clients_gc(), @c spared) now,
 * or once the client's control interval has passed; the reply, to @seq,
 * comes then.
 */
void client_gc(struct client *c, uint32_t seq);

/**
 * client_scavenge() - a SCAVENGE request: a forced pass, asked now or
 * once the client's control interval has passed.  The client waits for
 * it with its reads off; it hears of its progress every
 * progress_interval_ns and gets the final reply, to @seq, when the pass
 * has ended (clients_forced_done()).
 */
void client_scavenge(struct client *c, uint32_t seq);

/**
 * clients_forced_done() - forced passes up to number @done have ended,
 * the last having released @bytes: answer the SCAVENGE requests that
 * waited for one of them.
 */
void clients_forced_done(struct clients *cs, uint64_t done, uint64_t bytes);

/**
 * clients_gc() - a GC pass: destroy the clients whose process has
 * exited, but @except (the client asking, or NULL); then the scavenger
 * records the pass (scavenger_gc_record(), which with @forced, the
 * timer's pass, also checks the heap).
 *
 * Return: the spans it freed; its pause in @ret_pause (may be NULL).
 */
uint64_t clients_gc(struct clients *cs, bool forced, struct client *except,
		    uint64_t *ret_pause);

#endif
