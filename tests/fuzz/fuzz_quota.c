// SPDX-License-Identifier: MIT
/*
 * Fuzz target for the quota file's parser (daemon/quota.c,
 * quota_rules_parse()): whatever bytes quotas.conf holds, the parse
 * never crashes, and a table it builds keeps its invariants: the uid
 * rules sorted, each uid once, every lookup the rule the walk shows,
 * the command line's rules as given, and no more good and bad lines
 * than the input has lines.  A refused input (-E2BIG, -ENOMEM) builds
 * nothing.
 *
 * Input format: byte 0, the command line: bit 0 --quota-client=1G, bits
 * 1-3 --quota-uid for uids 0, 1000 and 65534 (bit 4: their SIZE none
 * rather than 2M); the rest is the file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/quota.h"
#include "tests/fuzz/fuzz.h"

#define GIB (UINT64_C(1) << 30)
#define MIB (UINT64_C(1) << 20)

static const uint32_t cmd_uids[] = { 0, 1000, 65534 };

static struct options opts_of(uint8_t flags)
{
	struct options o;

	memset(&o, 0, sizeof(o));
	if (flags & 1)
		o.quota_client = GIB;
	for (unsigned int i = 0; i < 3; i++)
		if (flags & (2u << i))
			o.quota_uids[o.nquota_uids++] = (struct options_quota){
				cmd_uids[i], flags & 16 ? 0 : 2 * MIB
			};
	return o;
}

static size_t count_lines(const uint8_t *d, size_t n)
{
	size_t lines = n && d[n - 1] != '\n';

	for (size_t i = 0; i < n; i++)
		lines += d[i] == '\n';
	return lines;
}

static void check_table(const struct options *o, const struct quota_rules *q)
{
	size_t cursor = 0, n = 0;
	uint32_t uid, prev = 0;
	uint64_t bytes;

	while (quota_rules_next(q, &cursor, &uid, &bytes)) {
		if (n && uid <= prev)
			abort();
		if (quota_rules_uid(q, uid) != bytes)
			abort();
		prev = uid;
		n++;
	}
	if (n != quota_rules_nuids(q))
		abort();
	for (unsigned int i = 0; i < o->nquota_uids; i++)
		if (quota_rules_uid(q, o->quota_uids[i].uid) !=
		    o->quota_uids[i].bytes)
			abort();
	if (o->quota_client && quota_rules_client(q) != o->quota_client)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct quota_load_report rep;
	struct quota_rules *q = NULL;
	struct options o;
	int r;

	if (size < 1 || size > QUOTA_FILE_MAX)
		return 0;
	o = opts_of(data[0]);
	r = quota_rules_parse(&o, "fuzz.conf", (const char *)data + 1,
			      size - 1, &q, &rep);
	if (r < 0) {
		if ((r != -E2BIG && r != -ENOMEM) || q || rep.rules ||
		    rep.bad_lines || rep.file_errno != -r)
			abort();
		return 0;
	}
	if (r != 0 || !q || rep.file_errno)
		abort();
	if ((size_t)rep.rules + rep.bad_lines > count_lines(data + 1, size - 1))
		abort();
	check_table(&o, q);
	quota_rules_free(q);
	return 0;
}
