/* SPDX-License-Identifier: MIT */
/*
 * Quota rules: how many bytes one connection may hold, and how many all
 * connections of one uid may hold together.  They come from the command
 * line (--quota-client, --quota-uid) and from a file, quotas.conf(5),
 * read at start and on SIGHUP.  This file only builds and answers the
 * table; the accounting and the -EDQUOT are the dispatcher's.
 *
 * A table is immutable once built: a reload builds a new one from
 * scratch and the caller swaps the pointer, so that a request sees
 * either the old rules or the new ones, never a mix, and a file that
 * cannot be read leaves the old table in place.  Nothing in it is
 * locked: the event loop builds, swaps and frees tables, and reads them.
 *
 * Invariants of a table: its uid rules are sorted by uid, each uid once,
 * so that a lookup is a binary search; a rule of 0 bytes is "none" (the
 * uid has no quota: a command line --quota-uid=UID:none that overrides
 * the file); precedence is settled when the table is built: a uid on
 * the command line wins over the file, --quota-client over "client".
 */
#ifndef SPANHEAPD_QUOTA_H
#define SPANHEAPD_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "options.h"

/* A quota file larger than this is not loaded (-EFBIG). */
#define QUOTA_FILE_MAX (UINT32_C(1) << 20)
/* A quota file of more rule lines, good or bad, is not loaded (-E2BIG). */
#define QUOTA_LINES_MAX 65536
/* Bad lines logged one by one in a load; the rest are counted. */
#define QUOTA_LOG_BAD_MAX 100

struct quota_rules;

/*
 * What a load found in the file.  @rules: the file's good rule lines
 * (whether or not the command line overrides them); @bad_lines: the
 * lines it logged and ignored; @file_errno: 0 when the file was read,
 * ENOENT when there is none (missing or not given: no file rules, not
 * an error), else the (positive) errno the load failed with.
 */
struct quota_load_report {
	unsigned int bad_lines;
	unsigned int rules;
	int file_errno;
};

/**
 * quota_rules_load() - build a table from the command line and a file.
 * @opt: its quota_client and quota_uids/nquota_uids
 * @path: quotas.conf(5); NULL or "": none
 * @ret: the new table, on success only
 * @rep: what the file held, on success and failure; may be NULL
 *
 * Each bad line is logged "PATH:LINE: reason; ignored" (the first
 * QUOTA_LOG_BAD_MAX of them, then a count) and skipped: the rest of the
 * file still applies.  A missing file is no file rules: one notice.
 *
 * Return: 0; or, with nothing built and the reason logged, -ENOMEM,
 * -EFBIG (larger than QUOTA_FILE_MAX), -E2BIG (more than
 * QUOTA_LINES_MAX rule lines), -EISDIR, -EINVAL (not a regular file),
 * or the -errno of open() or read() (-EACCES ...).  On failure the
 * caller keeps the table it had.
 */
int quota_rules_load(const struct options *opt, const char *path,
		     struct quota_rules **ret, struct quota_load_report *rep);

/**
 * quota_rules_parse() - quota_rules_load() of a file's contents.
 * @name: the file's name, for the log lines
 * @buf, @len: its bytes (any bytes: NULs and all)
 *
 * For quota_rules_load(), the tests and the fuzzer.  Return: 0, -ENOMEM
 * or -E2BIG, as quota_rules_load().
 */
int quota_rules_parse(const struct options *opt, const char *name,
		      const char *buf, size_t len, struct quota_rules **ret,
		      struct quota_load_report *rep);

/*
 * The lookups take a NULL table as one without rules.
 */

/** quota_rules_uid() - the bytes all connections of @uid may hold; 0: none. */
uint64_t quota_rules_uid(const struct quota_rules *q, uint32_t uid);

/** quota_rules_client() - the bytes one connection may hold; 0: none. */
uint64_t quota_rules_client(const struct quota_rules *q);

/** quota_rules_nuids() - how many uid rules quota_rules_next() walks. */
size_t quota_rules_nuids(const struct quota_rules *q);

/**
 * quota_rules_next() - the uid rules in uid order, for MemStats.
 * @cursor: 0 to begin; advanced by each call
 *
 * Return: true with the next rule in @uid and @bytes (0: none, a uid
 * the command line exempts from the file's rule), false after the last.
 */
bool quota_rules_next(const struct quota_rules *q, size_t *cursor,
		      uint32_t *uid, uint64_t *bytes);

/** quota_rules_free() - free @q; NULL is fine. */
void quota_rules_free(struct quota_rules *q);

#endif
