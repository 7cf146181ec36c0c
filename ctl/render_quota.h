/* SPDX-License-Identifier: MIT */
/*
 * spanctl's views of quotas (spanheapd-quotas.conf(5)): a client's use
 * against its quota, and MemStats' "quotas" block.  A daemon of a
 * version before quotas sends neither: then nothing is printed, and the
 * views look as they did.
 */
#ifndef SPANCTL_RENDER_QUOTA_H
#define SPANCTL_RENDER_QUOTA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Room for render_quota_cell()'s text. */
#define RENDER_QUOTA_CELL 64

/** render_quota_listed() - does some client of @list have a "quota"? */
bool render_quota_listed(const json_t *list);

/**
 * render_quota_cell() - the QUOTA column of client @c into @buf: "-"
 * for none (or a client without the field), else "USED/QUOTA" in
 * binary units, of the quota nearest to being reached: the
 * connection's (its "bytes" against "quota"), or, followed by " uid",
 * its uid's ("uid_bytes" against "uid_quota").
 */
void render_quota_cell(char *buf, size_t len, const json_t *c);

/**
 * render_quota_table() - the lines of the stats table for @st's
 * "quotas" block; none if it has none.
 */
void render_quota_table(FILE *f, const json_t *st);

#endif
