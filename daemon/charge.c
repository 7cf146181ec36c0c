// SPDX-License-Identifier: MIT
/*
 * Quotas, enforced: see charge.h.
 *
 * A connection's bytes are its owner record's pages, which the heap
 * keeps exact (the caller reads them).  A uid's are the sum of its
 * connections' and of its objects': the first summed over the
 * connections when asked (the hook: O(clients), and asked only for a uid
 * that has a quota), the second kept here, by uid, as objects are made
 * and freed, in a sorted array: a lookup is a binary search, a new uid
 * an insertion.
 *
 * Invariant: @uids is sorted by uid, no uid twice.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "charge.h"
#include "core.h"
#include "log.h"

/* Uids listed in MemStats' quotas block, at most. */
#define CHARGE_LIST_MAX 64

void charge_init(struct charge *ch, struct core *core,
		 const struct charge_hooks *hooks)
{
	memset(ch, 0, sizeof(*ch));
	ch->core = core;
	ch->hooks = *hooks;
}

void charge_fini(struct charge *ch)
{
	quota_rules_free(ch->rules);
	free(ch->uids);
	ch->rules = NULL;
	ch->uids = NULL;
	ch->nuids = ch->uids_cap = 0;
}

void charge_set_rules(struct charge *ch, struct quota_rules *rules)
{
	quota_rules_free(ch->rules);
	ch->rules = rules;
	ch->changes++;
}

uint64_t charge_client_quota(const struct charge *ch)
{
	return quota_rules_client(ch->rules);
}

uint64_t charge_uid_quota(const struct charge *ch, uint32_t uid)
{
	return quota_rules_uid(ch->rules, uid);
}

/* The entry of @uid, or where it would go: its index in @ret. */
static bool uid_find(const struct charge *ch, uint32_t uid, size_t *ret)
{
	size_t lo = 0, hi = ch->nuids;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ch->uids[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*ret = lo;
	return lo < ch->nuids && ch->uids[lo].uid == uid;
}

static uint64_t uid_obj_bytes(const struct charge *ch, uint32_t uid)
{
	size_t i;

	return uid_find(ch, uid, &i) ? ch->uids[i].obj_bytes : 0;
}

int charge_obj_add(struct charge *ch, uint32_t uid, uint64_t bytes)
{
	size_t i;

	if (!uid_find(ch, uid, &i)) {
		if (ch->nuids == ch->uids_cap) {
			size_t cap = ch->uids_cap ? 2 * ch->uids_cap : 16;
			struct charge_uid *u = realloc(ch->uids,
						       cap * sizeof(*u));

			if (!u) {
				log_err("out of memory for the quota of uid %u: its objects are not charged",
					(unsigned int)uid);
				return -ENOMEM;
			}
			ch->uids = u;
			ch->uids_cap = cap;
		}
		memmove(&ch->uids[i + 1], &ch->uids[i],
			(ch->nuids - i) * sizeof(ch->uids[0]));
		ch->uids[i] = (struct charge_uid){ .uid = uid };
		ch->nuids++;
	}
	ch->uids[i].obj_bytes += bytes;
	ch->changes++;
	return 0;
}

void charge_obj_sub(struct charge *ch, uint32_t uid, uint64_t bytes)
{
	size_t i;

	/* An object charge_obj_add() could not charge is not there. */
	if (!uid_find(ch, uid, &i))
		return;
	ch->uids[i].obj_bytes -= bytes < ch->uids[i].obj_bytes ?
				 bytes : ch->uids[i].obj_bytes;
	ch->changes++;
}

uint64_t charge_uid_bytes_locked(const struct charge *ch, uint32_t uid)
{
	return uid_obj_bytes(ch, uid) +
	       ch->hooks.uid_span_bytes(ch->hooks.ctx, uid);
}

/* What @quota leaves when @used is held: 0 if past, UINT64_MAX if none. */
static uint64_t left(uint64_t quota, uint64_t used)
{
	if (!quota)
		return UINT64_MAX;
	return used < quota ? quota - used : 0;
}

uint64_t charge_room_locked(const struct charge *ch, uint32_t uid,
			    uint64_t held)
{
	uint64_t room = left(charge_client_quota(ch), held);
	uint64_t uq = charge_uid_quota(ch, uid);

	if (uq) {
		uint64_t u = left(uq, charge_uid_bytes_locked(ch, uid));

		if (u < room)
			room = u;
	}
	return room;
}

int charge_object_locked(struct charge *ch, uint32_t uid, uint64_t bytes)
{
	uint64_t uq = charge_uid_quota(ch, uid);

	daemon_assert_locked(ch->core);
	if (uq && left(uq, charge_uid_bytes_locked(ch, uid)) < bytes) {
		ch->refused_uid++;
		ch->changes++;
		return -EDQUOT;
	}
	return 0;
}

/* Spans count against the connection's quota, then as an object does. */
int charge_spans_locked(struct charge *ch, uint32_t uid, uint64_t held,
			uint64_t bytes)
{
	daemon_assert_locked(ch->core);
	if (left(charge_client_quota(ch), held) < bytes) {
		ch->refused_client++;
		ch->changes++;
		return -EDQUOT;
	}
	return charge_object_locked(ch, uid, bytes);
}

json_t *charge_json_locked(const struct charge *ch)
{
	json_t *list = json_array();
	size_t cursor = 0;
	uint64_t bytes;
	uint32_t uid;

	for (size_t i = 0; list && i < CHARGE_LIST_MAX &&
	     quota_rules_next(ch->rules, &cursor, &uid, &bytes); i++)
		json_array_append_new(list, json_pack(
			"{s:I, s:I, s:I}",
			"uid", (json_int_t)uid,
			"quota", (json_int_t)bytes,
			"bytes", (json_int_t)charge_uid_bytes_locked(ch, uid)));
	if (!list)
		return NULL;
	return json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:s, s:I, s:I, s:I,"
			 " s:i}",
			 "client", (json_int_t)charge_client_quota(ch),
			 "uid_rules", (json_int_t)quota_rules_nuids(ch->rules),
			 "uids", list,
			 "refused", (json_int_t)(ch->refused_client +
						 ch->refused_uid),
			 "refused_client", (json_int_t)ch->refused_client,
			 "refused_uid", (json_int_t)ch->refused_uid,
			 "file", ch->file ? ch->file : "",
			 "file_rules", (json_int_t)ch->file_rules,
			 "file_bad_lines", (json_int_t)ch->file_bad_lines,
			 "loaded_ns", (json_int_t)ch->loaded_ns,
			 "file_errno", ch->file_errno);
}
