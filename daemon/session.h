/* SPDX-License-Identifier: MIT */
/*
 * Sessions (session.c): what lets a client whose connection broke come
 * back.  Each heap owner of a client has a session record in its
 * durable_session_area(): the owner and client ids, the secret of its
 * token, and its last mutating request's seq, type and reply, so that a
 * retry of that request after a resume gets the same reply and is not
 * applied twice.  A record is written whole at WELCOME, checked by its
 * owner id before it is trusted, and cleared when the client goes for
 * good.  Every call wants the heap lock: the records live next to the
 * heap, and every change to one is logged with heap_tx_log() in the
 * caller's transaction.  Loop thread.
 */
#ifndef SPANHEAPD_SESSION_H
#define SPANHEAPD_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

struct core;
struct durable;

/* The largest reply a record keeps: SPAN_ALLOC's of a full batch. */
#define SESSION_REPLY_MAX sizeof(struct proto_alloc_reply)

struct session_mem;

/*
 * The records are in @du's areas; without one (tests, a daemon whose
 * state does not outlive it) in memory of this process (@mem), under an
 * arena id of their own.
 */
struct sessions {
	struct core *core;
	struct durable *du;
	struct session_mem *mem;	/* without @du: the areas, or NULL */
	uint64_t arena_id[2];		/* without @du */
	uint64_t resumed;	/* GUARDED_BY(heap_lock): sessions taken back */
	uint64_t replayed;	/* GUARDED_BY(heap_lock): retries answered
				 * from the record */
};

/**
 * sessions_init() - sessions of @core's owners, recorded in @du (NULL:
 * in memory).  Again: the records made so far are forgotten.  Aborts
 * without randomness for the arena id.
 */
void sessions_init(struct sessions *s, struct core *core, struct durable *du);

/** sessions_fini() - free what sessions_init() allocated. */
void sessions_fini(struct sessions *s);

/** sessions_arena_id() - the arena id of the tokens. */
void sessions_arena_id(const struct sessions *s, uint64_t ret[2]);

/** sessions_generation() - the daemon's generation, 1 without @du. */
uint64_t sessions_generation(const struct sessions *s);

/**
 * session_open_locked() - a new session for @owner, client @client_id,
 * with a fresh secret from getrandom(), in a transaction of its own (or
 * the caller's): its token in @ret.
 * Return: 0, or -errno from getrandom() (then nothing is written).
 */
int session_open_locked(struct sessions *s, uint32_t owner,
			uint32_t client_id, struct proto_session *ret);

/**
 * session_match_locked() - does @t name a live session of this arena,
 * its secret compared in constant time?
 * Return: 0, or -ESTALE.
 */
int session_match_locked(struct sessions *s, const struct proto_session *t);

/**
 * session_resumed_locked() - @owner's session, matched, is taken back:
 * count it.  Return: the times it has been, this one included.
 */
uint64_t session_resumed_locked(struct sessions *s, uint32_t owner);

/** session_clear_locked() - @owner's session ends: its token never matches. */
void session_clear_locked(struct sessions *s, uint32_t owner);

/**
 * session_replay_locked() - if @owner's last mutating request was @type
 * with @seq, its reply, in @buf (SESSION_REPLY_MAX bytes) and @ret_len.
 * Return: 0, or -ENOENT.
 */
int session_replay_locked(struct sessions *s, uint32_t owner, uint16_t type,
			  uint32_t seq, void *buf, size_t *ret_len);

/**
 * session_record_locked() - @owner's request @type @seq was answered with
 * the @len bytes of @reply (at most SESSION_REPLY_MAX): record it, in the
 * caller's transaction, which made the request's changes.
 */
void session_record_locked(struct sessions *s, uint32_t owner, uint16_t type,
			   uint32_t seq, const void *reply, size_t len);

#endif
