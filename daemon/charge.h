/* SPDX-License-Identifier: MIT */
/*
 * Quotas, enforced (charge.c): what a connection and a uid hold, against
 * what they may (the rules: --quota-client, --quota-uid and the quota
 * file, which quota.h reads into one table and the daemon hands here
 * whole, at start and at each SIGHUP).
 *
 * What counts:
 *  - a connection: the spans its heap owner holds, socket and magazine
 *    alike (its fill rings included: they are its own, taken ahead);
 *  - a uid: the spans of all its connections, and the objects its
 *    connections created that are still alive (objects outlive their
 *    creator's connection, so they count against its uid only).
 * An allocation that would take either past its quota fails with
 * -EDQUOT and changes nothing; one already past it (a quota lowered by a
 * reload) may still free.  One socket is one trust group: a uid's quota
 * bounds what it takes, not what it can write (every client maps the
 * whole arena).
 *
 * Below the connection code (see daemon.h): it includes core.h and
 * quota.h only;
 * the callers say what a connection holds, and the spans of a uid's
 * connections come through a hook.  Under the heap lock, loop thread
 * only.
 */
#ifndef SPANHEAPD_CHARGE_H
#define SPANHEAPD_CHARGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quota.h"

struct core;
struct json_t;

struct charge_hooks {
	/* Bytes of the spans that the connections of @uid hold. */
	uint64_t (*uid_span_bytes)(void *ctx, uint32_t uid);
	void *ctx;
};

/* Object bytes charged to one uid. */
struct charge_uid {
	uint32_t uid;
	uint64_t obj_bytes;
};

struct charge {
	struct core *core;
	struct charge_hooks hooks;
	struct quota_rules *rules;	/* ours; NULL: none */
	struct charge_uid *uids;	/* by uid, sorted */
	size_t nuids, uids_cap;
	/* where the rules came from, for MemStats (the daemon sets them) */
	const char *file;		/* the quota file, or NULL */
	uint64_t file_rules;		/* its good lines at the last load */
	uint64_t file_bad_lines;	/* its bad lines then, ignored */
	int file_errno;			/* of the last load: 0, ENOENT (no
					   file) or why a reload failed */
	uint64_t loaded_ns;		/* Unix time of the last load */
	uint64_t refused_client;	/* allocations refused, by kind */
	uint64_t refused_uid;
	uint64_t changes;		/* what MemStats shows moved; only grows */
};

/** charge_init() - no rules, nothing charged. */
void charge_init(struct charge *ch, struct core *core,
		 const struct charge_hooks *hooks);

/** charge_fini() - free the tables. */
void charge_fini(struct charge *ch);

/**
 * charge_set_rules() - make @rules (taken over; NULL: none) the quotas,
 * in one step: from the next check on, all of them hold, and none of
 * the old ones, which are freed.
 */
void charge_set_rules(struct charge *ch, struct quota_rules *rules);

/** charge_client_quota() - bytes one connection may hold, 0 for none. */
uint64_t charge_client_quota(const struct charge *ch);

/** charge_uid_quota() - @uid's quota in bytes, 0 for none. */
uint64_t charge_uid_quota(const struct charge *ch, uint32_t uid);

/** charge_uid_bytes_locked() - what @uid holds: its spans and objects. */
uint64_t charge_uid_bytes_locked(const struct charge *ch, uint32_t uid);

/**
 * charge_room_locked() - the bytes a connection of @uid holding @held in
 * spans may still take: the least of what its connection's and its
 * uid's quotas leave (0 if either is past), or UINT64_MAX with neither.
 */
uint64_t charge_room_locked(const struct charge *ch, uint32_t uid,
			    uint64_t held);

/**
 * charge_spans_locked() - may a connection of @uid holding @held take
 * spans of @bytes more?
 * Return: 0, or -EDQUOT (counted) if that would pass its connection's or
 * its uid's quota.
 */
int charge_spans_locked(struct charge *ch, uint32_t uid, uint64_t held,
			uint64_t bytes);

/**
 * charge_object_locked() - may a connection of @uid create an object of
 * @bytes (whole pages)?  Only its uid's quota counts.
 * Return: 0 or -EDQUOT (counted).
 */
int charge_object_locked(struct charge *ch, uint32_t uid, uint64_t bytes);

/**
 * charge_obj_add() - an object of @bytes of @uid's was made (or found at
 * start); charge_obj_sub() - one was freed.  Return: 0, or -ENOMEM for
 * a new uid's entry (the object is then not charged: logged once).
 */
int charge_obj_add(struct charge *ch, uint32_t uid, uint64_t bytes);
void charge_obj_sub(struct charge *ch, uint32_t uid, uint64_t bytes);

/** charge_json_locked() - MemStats' "quotas" block; NULL out of memory. */
struct json_t *charge_json_locked(const struct charge *ch);

#endif
