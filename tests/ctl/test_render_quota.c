// SPDX-License-Identifier: MIT
/*
 * Tests for ctl/render_quota.c: the QUOTA column of spanctl clients and
 * the quota lines of spanctl stats, rendered into memory from MemStats
 * and client lists written here as JSON text, and the views of a daemon
 * before quotas, which must look as they did.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/render.h"
#include "ctl/render_quota.h"
#include "tests/lib/testlib.h"

/* A MemStats object of a daemon before quotas; "%s" is its client list. */
static const char stats_fmt[] =
	"{\"version\": \"0.1.0\", \"uptime_ns\": 90500000000,"
	" \"page_size\": 4096, \"arena_size\": 1073741824,"
	" \"arena_resident\": 12582912, \"heap_sys\": 268435456,"
	" \"heap_idle\": 265289728, \"heap_inuse\": 3145728,"
	" \"cached\": 1048576, \"heap_released\": 209715200,"
	" \"heap_objects\": 5, \"consumed\": 58720256, \"free_spans\": 7,"
	" \"last_gc\": 1700000000123456789, \"num_gc\": 4,"
	" \"pause_total_ns\": 1500000,"
	" \"scavenger\": {\"passes\": 9, \"released_bytes_total\": 1610612736,"
	"   \"released_bytes_last\": 524288, \"time_ns\": 250000000,"
	"   \"forced_releases\": 2},"
	" \"clients\": {\"count\": 1, \"max\": 1024, \"refused\": 0,"
	"   \"list\": %s}}";

/* A client of a daemon before quotas. */
#define OLD_CLIENT                                                      \
	"{\"id\": 7, \"name\": \"worker\", \"pid\": 4242, \"uid\": 1000," \
	" \"gid\": 100, \"spans\": 3, \"bytes\": 12288, \"magazine\": true," \
	" \"cached\": 4096}"

/* The quotas block, as the lead's MemStats sends it. */
static const char quotas_block[] =
	"{\"client\": 1073741824,"
	" \"uids\": [{\"uid\": 0, \"quota\": 536870912, \"bytes\": 1048576},"
	"          {\"uid\": 1000, \"quota\": 4294967296,"
	"           \"bytes\": 3221225472},"
	"          {\"uid\": 1002, \"quota\": 0, \"bytes\": 8192}],"
	" \"refused\": 5, \"file\": \"/etc/spanheapd/quotas.conf\","
	" \"file_rules\": 3, \"file_bad_lines\": 1,"
	" \"loaded_ns\": 1700000000123456789}";

static json_t *parse(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);

	ck_assert_msg(j, "bad test JSON: %s: %s", err.text, text);
	return j;
}

static json_t *stats_with(const char *list)
{
	char *text;
	json_t *st;

	ck_assert_int_ge(asprintf(&text, stats_fmt, list), 0);
	st = parse(text);
	free(text);
	return st;
}

typedef int (*render_fn)(FILE *f, const json_t *j);

/* @fn of @j, into memory; must succeed.  free() the result. */
static char *render(render_fn fn, const json_t *j)
{
	size_t len;
	char *out;
	FILE *f = open_memstream(&out, &len);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fn(f, j), 0);
	ck_assert_int_eq(fclose(f), 0);
	return out;
}

static void assert_has(const char *text, const char *what)
{
	ck_assert_msg(strstr(text, what), "'%s' not in:\n%s", what, text);
}

/* The line of @text that contains @what, into @buf. */
static const char *line_with(const char *text, const char *what, char *buf,
			     size_t len)
{
	const char *p = strstr(text, what), *b, *e;

	ck_assert_msg(p, "'%s' not in:\n%s", what, text);
	for (b = p; b > text && b[-1] != '\n'; b--)
		;
	e = strchrnul(p, '\n');
	ck_assert_uint_lt((size_t)(e - b), len);
	memcpy(buf, b, (size_t)(e - b));
	buf[e - b] = '\0';
	return buf;
}

/* The QUOTA cell of a client of these fields. */
static const char *cell(char *buf, const char *fields)
{
	char *text;
	json_t *c;

	ck_assert_int_ge(asprintf(&text, "{%s}", fields), 0);
	c = parse(text);
	free(text);
	render_quota_cell(buf, RENDER_QUOTA_CELL, c);
	json_decref(c);
	return buf;
}

/* ---- the QUOTA column ---- */

START_TEST(test_cell_which_quota)
{
	char b[RENDER_QUOTA_CELL];

	/* No quota at all. */
	ck_assert_str_eq(cell(b, "\"bytes\": 4096, \"quota\": 0,"
				 " \"uid_bytes\": 4096, \"uid_quota\": 0"), "-");
	/* Only the connection's. */
	ck_assert_str_eq(cell(b, "\"bytes\": 268435456, \"quota\": 1073741824,"
				 " \"uid_bytes\": 536870912, \"uid_quota\": 0"),
			 "256.0 MiB/1.0 GiB");
	/* Only the uid's: the connection's quota is the uid's. */
	ck_assert_str_eq(cell(b, "\"bytes\": 1073741824, \"quota\": 4294967296,"
				 " \"uid_bytes\": 3221225472,"
				 " \"uid_quota\": 4294967296"),
			 "3.0 GiB/4.0 GiB uid");
	/* Both; the uid has less room left (100 MiB against 924 MiB). */
	ck_assert_str_eq(cell(b, "\"bytes\": 104857600, \"quota\": 1073741824,"
				 " \"uid_bytes\": 2042626048,"
				 " \"uid_quota\": 2147483648"),
			 "1.9 GiB/2.0 GiB uid");
	/* Both; the connection has less room left. */
	ck_assert_str_eq(cell(b, "\"bytes\": 943718400, \"quota\": 1073741824,"
				 " \"uid_bytes\": 1073741824,"
				 " \"uid_quota\": 8589934592"),
			 "900.0 MiB/1.0 GiB");
	/* Beyond its quota (one lowered by a reload): shown as it is. */
	ck_assert_str_eq(cell(b, "\"bytes\": 2147483648, \"quota\": 1073741824,"
				 " \"uid_bytes\": 2147483648, \"uid_quota\": 0"),
			 "2.0 GiB/1.0 GiB");
	/* Without the uid's fields: the connection's. */
	ck_assert_str_eq(cell(b, "\"bytes\": 0, \"quota\": 4096"),
			 "0 B/4.0 KiB");
	/* Without the field, or a wrong one: none. */
	ck_assert_str_eq(cell(b, "\"bytes\": 4096"), "-");
	ck_assert_str_eq(cell(b, "\"bytes\": 4096, \"quota\": \"1G\""), "-");
}
END_TEST

START_TEST(test_clients_quota_column)
{
	json_t *list = parse(
		"[{\"id\": 1, \"name\": \"a\", \"pid\": 10, \"uid\": 1000,"
		"  \"spans\": 2, \"bytes\": 268435456, \"quota\": 1073741824,"
		"  \"uid_bytes\": 268435456, \"uid_quota\": 0},"
		" {\"id\": 2, \"name\": \"b\", \"pid\": 11, \"uid\": 1001,"
		"  \"spans\": 1, \"bytes\": 4096, \"quota\": 0,"
		"  \"uid_bytes\": 4096, \"uid_quota\": 0},"
		" {\"id\": 3, \"name\": \"c\", \"pid\": 12, \"uid\": 1002,"
		"  \"spans\": 1, \"bytes\": 4096}]");
	char *out = render(render_client_list, list), l[256];
	const char *nl = strchr(out, '\n');

	/* The header ends with QUOTA, the last column. */
	ck_assert_ptr_nonnull(nl);
	ck_assert(nl - out > 7 && !strncmp(nl - 7, "  QUOTA", 7));
	line_with(out, " a ", l, sizeof(l));
	ck_assert_msg(strlen(l) > 19 &&
			      !strcmp(l + strlen(l) - 19, "  256.0 MiB/1.0 GiB"),
		      "'%s'", l);
	line_with(out, " b ", l, sizeof(l));
	ck_assert_msg(!strcmp(l + strlen(l) - 3, "  -"), "'%s'", l);
	/* A client without the field, beside others that have it. */
	line_with(out, " c ", l, sizeof(l));
	ck_assert_msg(!strcmp(l + strlen(l) - 3, "  -"), "'%s'", l);
	free(out);
	json_decref(list);
}
END_TEST

/* A daemon before quotas: the list is exactly as it was. */
START_TEST(test_clients_older_daemon)
{
	json_t *list = parse("[" OLD_CLIENT "]");
	json_t *st = stats_with("[" OLD_CLIENT "]");
	char *out = render(render_client_list, list);
	static const char want[] =
		"    ID NAME                      PID    UID    SPANS        BYTES       CACHED\n"
		"     7 worker                   4242   1000        3     12.0 KiB      4.0 KiB\n";

	ck_assert_str_eq(out, want);
	free(out);
	out = render(render_clients, st);
	ck_assert_str_eq(out, want);
	free(out);
	json_decref(list);
	json_decref(st);

	/* An empty list has no quota to show either. */
	list = parse("[]");
	out = render(render_client_list, list);
	ck_assert_ptr_null(strstr(out, "QUOTA"));
	free(out);
	json_decref(list);
}
END_TEST

/* ---- the stats table ---- */

static json_t *stats_quotas(const char *block)
{
	json_t *st = stats_with("[" OLD_CLIENT "]");

	ck_assert_int_eq(json_object_set_new(st, "quotas", parse(block)), 0);
	return st;
}

START_TEST(test_table_quotas)
{
	json_t *st = stats_quotas(quotas_block);
	char *out = render(render_table, st), l[512];

	ck_assert_str_eq(line_with(out, "quotas", l, sizeof(l)),
			 "quotas           client 1.0 GiB, 3 uid rules, 5 allocations refused");
	ck_assert_str_eq(line_with(out, "uid 0 ", l, sizeof(l)),
			 "  uid 0          1.0 MiB of 512.0 MiB");
	ck_assert_str_eq(line_with(out, "uid 1000", l, sizeof(l)),
			 "  uid 1000       3.0 GiB of 4.0 GiB");
	ck_assert_str_eq(line_with(out, "uid 1002", l, sizeof(l)),
			 "  uid 1002       8.0 KiB, no quota");
	ck_assert_str_eq(line_with(out, "  file", l, sizeof(l)),
			 "  file           /etc/spanheapd/quotas.conf: 3 rules, 1 bad line, read 2023-11-14 22:13:20 UTC");
	/* After the clients line, before the uptime. */
	ck_assert(strstr(out, "clients ") < strstr(out, "quotas "));
	ck_assert(strstr(out, "  file") < strstr(out, "uptime"));
	free(out);
	json_decref(st);
}
END_TEST

START_TEST(test_table_quota_file_states)
{
	json_t *st;
	char *out, l[512], block[512];

	st = stats_quotas("{\"client\": 0, \"uids\": [], \"refused\": 1,"
			  " \"file\": \"\", \"file_rules\": 0,"
			  " \"file_bad_lines\": 0, \"loaded_ns\": 0}");
	out = render(render_table, st);
	ck_assert_str_eq(line_with(out, "quotas", l, sizeof(l)),
			 "quotas           client none, 0 uid rules, 1 allocation refused");
	ck_assert_str_eq(line_with(out, "  file", l, sizeof(l)),
			 "  file           none");
	ck_assert_ptr_null(strstr(out, "  uid "));
	free(out);
	json_decref(st);

	/* A file that was not there (file_errno ENOENT). */
	snprintf(block, sizeof(block),
		 "{\"client\": 0, \"uids\": [], \"refused\": 0,"
		 " \"file\": \"/etc/q.conf\", \"file_rules\": 0,"
		 " \"file_bad_lines\": 0, \"file_errno\": %d,"
		 " \"loaded_ns\": 1700000000000000000}", ENOENT);
	st = stats_quotas(block);
	out = render(render_table, st);
	ck_assert_str_eq(line_with(out, "  file", l, sizeof(l)),
			 "  file           /etc/q.conf: missing");
	free(out);
	json_decref(st);

	/* A reload that failed: the rules in force are the ones before. */
	snprintf(block, sizeof(block),
		 "{\"client\": 4096, \"uids\": [], \"refused\": 0,"
		 " \"file\": \"/etc/q.conf\", \"file_rules\": 2,"
		 " \"file_bad_lines\": 0, \"file_errno\": %d,"
		 " \"loaded_ns\": 1700000000000000000}", EACCES);
	st = stats_quotas(block);
	out = render(render_table, st);
	line_with(out, "  file", l, sizeof(l));
	assert_has(l, "/etc/q.conf: 2 rules, 0 bad lines, read 2023-11-14 22:13:20 UTC");
	assert_has(l, "; the last read failed (");
	assert_has(l, strerror(EACCES));
	assert_has(line_with(out, "quotas", l, sizeof(l)), "client 4.0 KiB");
	free(out);
	json_decref(st);

	/* A path is printed safe: no escape reaches the terminal. */
	st = stats_quotas("{\"client\": 0, \"uids\": [], \"refused\": 0,"
			  " \"file\": \"/etc/\\u001b[2Jq\", \"file_rules\": 0,"
			  " \"file_bad_lines\": 0}");
	out = render(render_table, st);
	ck_assert_ptr_null(strchr(out, '\x1b'));
	assert_has(out, "/etc/\\x1b[2Jq: 0 rules, 0 bad lines\n");
	free(out);
	json_decref(st);
}
END_TEST

/* Many uid rules: the first 16 are listed, the rest counted. */
START_TEST(test_table_many_uids)
{
	json_t *st = stats_quotas("{\"client\": 0, \"uids\": [], \"refused\": 0}");
	json_t *uids = json_object_get(json_object_get(st, "quotas"), "uids");
	char *out, l[256];

	for (int i = 0; i < 20; i++)
		ck_assert_int_eq(json_array_append_new(uids,
			json_pack("{s:i, s:i, s:i}", "uid", 2000 + i, "quota",
				  4096, "bytes", 0)), 0);
	out = render(render_table, st);
	assert_has(out, "  uid 2015 ");
	ck_assert_ptr_null(strstr(out, "  uid 2016 "));
	ck_assert_str_eq(line_with(out, "more uid rules", l, sizeof(l)),
			 "  ...            4 more uid rules");
	assert_has(out, "client none, 20 uid rules, 0 allocations refused\n");
	/* No file fields: no file line. */
	ck_assert_ptr_null(strstr(out, "  file"));
	free(out);

	/* A daemon that lists some of its rules says how many there are. */
	ck_assert_int_eq(json_object_set_new(json_object_get(st, "quotas"),
					     "uid_rules", json_integer(65600)),
			 0);
	out = render(render_table, st);
	assert_has(out, "client none, 65600 uid rules, 0 allocations refused\n");
	assert_has(out, "  ...            65584 more uid rules\n");
	free(out);
	while (json_array_size(uids) > 17)
		json_array_remove(uids, 0);
	json_object_set_new(json_object_get(st, "quotas"), "uid_rules",
			    json_integer(17));
	out = render(render_table, st);
	assert_has(out, "  ...            1 more uid rule\n");
	free(out);
	json_decref(st);
}
END_TEST

/* A daemon before quotas, or a block that is not one: no quota lines. */
START_TEST(test_table_older_daemon)
{
	static const char *const blocks[] = {
		NULL, "[]", "{}", "{\"client\": \"1G\", \"uids\": []}",
	};

	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		json_t *st = blocks[i] ? stats_quotas(blocks[i]) :
					 stats_with("[" OLD_CLIENT "]");
		char *out = render(render_table, st);

		ck_assert_msg(!strstr(out, "quota") && !strstr(out, "  uid ") &&
				      !strstr(out, "  file"),
			      "quota lines from %s:\n%s",
			      blocks[i] ? blocks[i] : "no block", out);
		assert_has(out, "clients          1\nuptime           90.5 s\n");
		free(out);
		json_decref(st);
	}
}
END_TEST

static Suite *render_quota_suite(void)
{
	Suite *s = suite_create("render_quota");
	TCase *tc;

	tc = tcase_create("clients");
	tcase_add_test(tc, test_cell_which_quota);
	tcase_add_test(tc, test_clients_quota_column);
	tcase_add_test(tc, test_clients_older_daemon);
	suite_add_tcase(s, tc);

	tc = tcase_create("table");
	tcase_add_test(tc, test_table_quotas);
	tcase_add_test(tc, test_table_quota_file_states);
	tcase_add_test(tc, test_table_many_uids);
	tcase_add_test(tc, test_table_older_daemon);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(render_quota_suite)
