// SPDX-License-Identifier: MIT
/*
 * Quotas in spanctl's views (render_quota.h).
 *
 * A client is bound by two quotas, its connection's and its uid's; the
 * daemon sends the tighter limit as "quota" and the uid's as
 * "uid_quota", with what the client and its whole uid hold.  Which one
 * a client will hit first is the one with less room left, so that is
 * the one the QUOTA column shows.  When "quota" equals "uid_quota" the
 * connection's own is no tighter, and the uid's room is never more than
 * the connection's (the uid holds at least what the connection holds):
 * the uid's.
 *
 * The "quotas" block of MemStats is printed as far as it is well
 * formed: a daemon of another version may send less, and the table for
 * people should still show what there is.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "render.h"
#include "render_quota.h"
#include "metrics/fields.h"
#include "shm/units.h"

/* Uid rules listed in the stats table; the rest are counted. */
#define UIDS_SHOWN 16

static const char *size(char *buf, size_t len, int64_t bytes)
{
	units_format_size(buf, len, bytes < 0 ? 0 : (uint64_t)bytes);
	return buf;
}

static const char *plural(long long n)
{
	return n == 1 ? "" : "s";
}

bool render_quota_listed(const json_t *list)
{
	const json_t *c;
	size_t i;

	json_array_foreach(list, i, c)
		if (json_is_integer(json_object_get(c, "quota")))
			return true;
	return false;
}

void render_quota_cell(char *buf, size_t len, const json_t *c)
{
	int64_t q = memstats_num(c, "quota"), used = memstats_num(c, "bytes");
	int64_t uq = memstats_num(c, "uid_quota");
	int64_t ub = memstats_num(c, "uid_bytes");
	char a[32], b[32];
	bool by_uid;

	if (q <= 0) {
		snprintf(buf, len, "-");
		return;
	}
	if (uq <= 0 || ub < 0)
		by_uid = false;
	else if (uq <= q)
		by_uid = true;
	else
		by_uid = uq - ub < q - (used < 0 ? 0 : used);
	if (by_uid)
		snprintf(buf, len, "%s/%s uid", size(a, sizeof(a), ub),
			 size(b, sizeof(b), uq));
	else
		snprintf(buf, len, "%s/%s", size(a, sizeof(a), used),
			 size(b, sizeof(b), q));
}

/*
 * How many uid rules there are: "uid_rules" if the daemon lists only
 * some of them in "uids", else as many as it lists.
 */
static long long uid_rules(const json_t *qs, const json_t *uids)
{
	int64_t n = memstats_num(qs, "uid_rules");

	return n >= 0 ? (long long)n : (long long)json_array_size(uids);
}

/* "  uid N          USED of QUOTA" for each of the first UIDS_SHOWN. */
static void uid_lines(FILE *f, const json_t *uids, long long total)
{
	const json_t *u;
	char label[32], a[32], b[32];
	size_t i, shown = 0;

	json_array_foreach(uids, i, u) {
		int64_t uid = memstats_num(u, "uid"), q = memstats_num(u, "quota");
		int64_t used = memstats_num(u, "bytes");

		if (uid < 0 || q < 0)
			continue;
		if (shown == UIDS_SHOWN)
			break;
		snprintf(label, sizeof(label), "  uid %lld", (long long)uid);
		if (q)
			fprintf(f, "%-16s %s of %s\n", label,
				size(a, sizeof(a), used), size(b, sizeof(b), q));
		else
			fprintf(f, "%-16s %s, no quota\n", label,
				size(a, sizeof(a), used));
		shown++;
	}
	if (total > (long long)shown)
		fprintf(f, "%-16s %lld more uid rule%s\n", "  ...",
			total - (long long)shown, plural(total - (long long)shown));
}

/* "  file           PATH: N rules, M bad lines, read TIME". */
static void file_line(FILE *f, const json_t *qs)
{
	const char *path = json_string_value(json_object_get(qs, "file"));
	int64_t rules = memstats_num(qs, "file_rules");
	int64_t bad = memstats_num(qs, "file_bad_lines");
	int64_t loaded = memstats_num(qs, "loaded_ns");
	int64_t err = memstats_num(qs, "file_errno");
	char when[64];
	struct tm tm;
	time_t t;

	if (!path)
		return;
	fprintf(f, "%-16s ", "  file");
	if (!*path) {
		fputs("none\n", f);
		return;
	}
	render_text(f, path);
	if (err == ENOENT) {
		fputs(": missing\n", f);
		return;
	}
	if (rules >= 0)
		fprintf(f, ": %lld rule%s", (long long)rules, plural(rules));
	if (bad >= 0)
		fprintf(f, ", %lld bad line%s", (long long)bad, plural(bad));
	t = (time_t)(loaded / 1000000000);
	if (loaded > 0 && gmtime_r(&t, &tm) &&
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm))
		fprintf(f, ", read %s", when);
	if (err > 0)
		fprintf(f, "; the last read failed (%s): the rules before it stay",
			strerror((int)err));
	fputc('\n', f);
}

void render_quota_table(FILE *f, const json_t *st)
{
	const json_t *qs = json_object_get(st, "quotas");
	const json_t *uids = json_object_get(qs, "uids");
	int64_t client = memstats_num(qs, "client");
	int64_t refused = memstats_num(qs, "refused");
	long long nuids = uid_rules(qs, uids);
	char a[32];

	if (!json_is_object(qs) || client < 0)
		return;
	fprintf(f, "%-16s client %s", "quotas",
		client ? size(a, sizeof(a), client) : "none");
	if (json_is_array(uids))
		fprintf(f, ", %lld uid rule%s", nuids, plural(nuids));
	if (refused >= 0)
		fprintf(f, ", %lld allocation%s refused", (long long)refused,
			plural(refused));
	fputc('\n', f);
	if (json_is_array(uids))
		uid_lines(f, uids, nuids);
	file_line(f, qs);
}
