/* SPDX-License-Identifier: MIT */
/*
 * One request from a client, validated and answered (dispatch.c): the
 * request comes up from the connection code (client.c), the reply goes
 * down through client_send().
 */
#ifndef SPANHEAPD_DISPATCH_H
#define SPANHEAPD_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct heap_obj_info;

/** dispatch_request() - validate the request of @len bytes and answer it. */
void dispatch_request(struct client *c, const void *buf, size_t len);

/* Rounds of reclaim (reclaim.h) one allocation may wait, at most. */
#define DISPATCH_RECLAIM_ROUNDS 8

/**
 * dispatch_reclaimed() - the reclaim hook (reclaim.h): the wait of the
 * client @waiter for room under the memory limit has ended; dispatch
 * its request again, as the last try if the round freed nothing
 * (@progress false) or it has waited DISPATCH_RECLAIM_ROUNDS rounds.
 */
void dispatch_reclaimed(void *ctx, void *waiter, bool progress);

/**
 * dispatch_obj_woken() - the objects' woken hook (objects.h): answer the
 * OBJ_GET @seq of the client @waiter, and read its requests again.
 */
void dispatch_obj_woken(void *ctx, void *waiter, uint32_t seq, int status,
			const struct heap_obj_info *info);

/**
 * dispatch_obj_record() - the objects' record hook: record that answer in
 * the session of @waiter, under the heap lock, in the transaction of the
 * reference it took.
 */
void dispatch_obj_record(void *ctx, void *waiter, uint32_t seq, int status,
			 const struct heap_obj_info *info);

/** dispatch_handles() - whether requests of @type have a handler. */
bool dispatch_handles(uint16_t type);

/**
 * dispatch_reject() - answer a message that will not be served with
 * status @err, and log @why (rate-limited); a message of a type that is
 * never answered (struct proto_msg's no_reply: MAG_KICK) is only
 * counted and logged.
 */
void dispatch_reject(struct client *c, const void *buf, size_t len, int err,
		     const char *why);

#endif
