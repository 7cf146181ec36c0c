// SPDX-License-Identifier: MIT
/*
 * Tests for ctl/main.c's commands: the real spanctl against the real
 * spanheapd on a private socket (tests/e2e/ctl_fixture.c).  Its JSON and
 * the daemon's --stats-file are validated against
 * docs/memstats.schema.json with python3-jsonschema.  How spanctl finds
 * the daemon, and what it says when it cannot, is test_spanctl_access.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/e2e/ctl_fixture.h"
#include "tests/lib/daemon.h"
#include "tests/lib/prom.h"
#include "tests/lib/testlib.h"

#define PG 4096
#define MAX_ARGS 16

START_TEST(test_stats_table)
{
	const char *args[] = { "stats", NULL };
	struct run r;

	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	ck_assert_int_eq(count_of(r.out, "heap sys"), 1);
	ck_assert_ptr_nonnull(strstr(r.out, "arena"));
	/* test_daemon_start's arena, in human terms. */
	ck_assert_ptr_nonnull(strstr(r.out, "1.0 GiB"));
	ck_assert_ptr_nonnull(strstr(r.out, "uptime"));
	run_free(&r);
}
END_TEST

START_TEST(test_stats_json)
{
	const char *args[] = { "stats", "--json", NULL };
	struct spanheap *c;
	struct spanheap_span sp;
	const json_t *me;
	struct run r;
	json_t *st;

	/* A client with a name JSON must escape, holding a span. */
	ck_assert_int_eq(spanheap_connect_named(ctl_td.sock, "json\"te\\st", &c),
			 0);
	ck_assert_int_eq(spanheap_span_alloc(c, 3, 0, &sp), 0);
	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	/* Exactly one object, on one line. */
	st = parse_one_object(r.out);
	ck_assert_ptr_eq(strchr(r.out, '\n'), r.out + strlen(r.out) - 1);
	assert_valid_text(r.out);
	ck_assert_ptr_null(identities_broken(st));
	ck_assert_int_eq(jnum(st, "arena_size"), 1 << 30);
	ck_assert_int_eq(jnum(st, "page_size"), PG);
	ck_assert_int_ge(jnum(st, "heap_inuse"), 3 * PG);
	ck_assert_int_ge(jnum(st, "heap_objects"), 1);
	me = client_named(st, "json\"te\\st");
	ck_assert_ptr_nonnull(me);
	ck_assert_int_eq(jnum(me, "pid"), getpid());
	ck_assert_int_eq(jnum(me, "spans"), 1);
	ck_assert_int_eq(jnum(me, "bytes"), 3 * PG);
	json_decref(st);
	run_free(&r);
	spanheap_close(c);
}
END_TEST

START_TEST(test_stats_prometheus)
{
	const char *args[] = { "stats", "--prometheus", NULL };
	struct spanheap *c;
	struct run r;
	struct prom_exposition e;

	ck_assert_int_eq(spanheap_connect_named(ctl_td.sock, "prom\"te\\st", &c),
			 0);
	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	ck_assert(*r.out && r.out[strlen(r.out) - 1] == '\n');
	/* The client's name escaped, and spanctl's own connection. */
	ck_assert_ptr_nonnull(strstr(r.out, "name=\"prom\\\"te\\\\st\""));
	ck_assert_ptr_nonnull(strstr(r.out, "name=\"spanctl\""));
	/* Every HELP with its TYPE, no stray comment, every sample valid. */
	prom_parse(r.out, &e);
	ck_assert_int_gt(e.n, 10);
	run_free(&r);
	spanheap_close(c);
}
END_TEST

/* ---- clients, gc, scavenge, watch ---- */

START_TEST(test_clients)
{
	const char *args[] = { "clients", NULL };
	struct spanheap *c;
	struct spanheap_span sp;
	char pid[32], *line;
	struct run r;

	ck_assert_int_eq(spanheap_connect_named(ctl_td.sock, "ctl-test-client", &c),
			 0);
	ck_assert_int_eq(spanheap_span_alloc(c, 16, 0, &sp), 0);
	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	ck_assert_ptr_nonnull(strstr(r.out, "NAME"));
	ck_assert_ptr_nonnull(strstr(r.out, "PID"));
	/* spanctl is a client too. */
	ck_assert_ptr_nonnull(strstr(r.out, " spanctl "));
	line = strstr(r.out, "ctl-test-client");
	ck_assert_ptr_nonnull(line);
	snprintf(pid, sizeof(pid), " %d ", (int)getpid());
	/* The test's own line names its pid and its 64 KiB. */
	*strchrnul(line, '\n') = 0;
	ck_assert_msg(strstr(line, pid), "pid%snot in '%s'", pid, line);
	ck_assert_msg(strstr(line, "64.0 KiB"), "size not in '%s'", line);
	run_free(&r);
	spanheap_close(c);
}
END_TEST

/*
 * spanctl objects lists every object of the real daemon, across pages,
 * as a table and as JSON; spanctl delete takes a name away.
 */
START_TEST(test_objects_and_delete)
{
	const char *table[] = { "objects", NULL };
	const char *json[] = { "objects", "--json", NULL };
	const char *del[] = { "delete", "ctl-sealed", NULL };
	struct spanheap *c;
	struct spanheap_obj so, oo, x;
	json_t *root, *list, *e;
	char name[32];
	struct run r;
	size_t i, found = 0;

	ck_assert_int_eq(spanheap_connect_named(ctl_td.sock, "ctl-maker", &c), 0);
	ck_assert_int_eq(spanheap_obj_create(c, "ctl-sealed", 10000, 0, &so), 0);
	ck_assert_int_eq(spanheap_obj_seal(c, &so), 0);
	ck_assert_int_eq(spanheap_obj_create(c, "ctl-open", 1, 0, &oo), 0);
	/* More than one OBJECTS page (64). */
	for (int k = 0; k < 70; k++) {
		snprintf(name, sizeof(name), "pg-%d", k);
		ck_assert_int_eq(spanheap_obj_create(c, name, 1, 0, &x), 0);
	}
	ctl_expect(0, table, &r);
	ck_assert_str_eq(r.err, "");
	ck_assert_int_eq(count_of(r.out, "pg-"), 70);
	ck_assert_int_eq(count_of(r.out, "ctl-sealed"), 1);
	ck_assert_int_eq(count_of(r.out, "ctl-open"), 1);
	ck_assert_ptr_nonnull(strstr(r.out, "ctl-maker"));
	run_free(&r);

	ctl_expect(0, json, &r);
	root = json_loads(r.out, 0, NULL);
	ck_assert_ptr_nonnull(root);
	list = json_object_get(root, "objects");
	ck_assert_uint_eq(json_array_size(list), 72);
	json_array_foreach(list, i, e) {
		const json_t *cr = json_object_get(e, "creator");

		ck_assert_int_eq(jnum(cr, "pid"), getpid());
		if (strcmp(json_string_value(json_object_get(e, "name")),
			   "ctl-sealed"))
			continue;
		found++;
		ck_assert_int_eq(jnum(e, "id"), (int64_t)so.id);
		ck_assert_int_eq(jnum(e, "size"), 10000);
		ck_assert_int_eq(jnum(e, "pages"), 3);
		ck_assert_int_eq(jnum(e, "refs"), 1);
		ck_assert_str_eq(json_string_value(json_object_get(e, "state")),
				 "sealed");
		ck_assert_str_eq(json_string_value(json_object_get(cr, "name")),
				 "ctl-maker");
	}
	ck_assert_uint_eq(found, 1);
	json_decref(root);
	run_free(&r);

	ctl_expect(0, del, &r);
	run_free(&r);
	ck_assert_int_eq(spanheap_obj_get(c, "ctl-sealed", 0, &x), -ENOENT);
	/* Still referenced by its creator: listed as deleted, nameless. */
	ctl_expect(0, json, &r);
	ck_assert_int_eq(count_of(r.out, "\"deleted\""), 1);
	ck_assert_int_eq(count_of(r.out, "ctl-sealed"), 0);
	run_free(&r);
	ctl_expect(1, del, &r);
	ck_assert_msg(strstr(r.err, "ctl-sealed"), "no name in: %s", r.err);
	ck_assert_int_eq(count_of(r.err, "\n"), 1);
	run_free(&r);
	spanheap_close(c);
}
END_TEST

/* Lines of @text that hold @needle. */
static int count_of_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/*
 * More clients than MemStats lists (64): spanctl clients pages through
 * CLIENTS and shows each exactly once, and so do the Prometheus series.
 */
START_TEST(test_clients_paged)
{
	enum { N = 150 };
	const char *args[] = { "clients", NULL };
	const char *prom[] = { "stats", "--prometheus", NULL };
	static struct spanheap *c[N];
	char name[32];
	struct run r;

	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "paged-%03d", i);
		ck_assert_int_eq(spanheap_connect_named(ctl_td.sock, name, &c[i]),
				 0);
	}
	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), " paged-%03d ", i);
		ck_assert_msg(count_of_lines(r.out, name) == 1,
			      "%s is not listed once", name);
	}
	/* A header, our clients and spanctl itself. */
	ck_assert_int_eq(count_of_lines(r.out, "\n"), N + 2);
	run_free(&r);
	ctl_expect(0, prom, &r);
	ck_assert_int_eq(count_of_lines(r.out, "spanheap_client_bytes{"),
			 N + 1);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "name=\"paged-%03d\"", i);
		ck_assert_int_eq(count_of_lines(r.out, name), 1);
	}
	run_free(&r);
	for (int i = 0; i < N; i++)
		spanheap_close(c[i]);
}
END_TEST

START_TEST(test_gc)
{
	const char *args[] = { "gc", NULL };
	struct run r;
	json_t *st;
	int64_t n0;

	st = ctl_stats();
	n0 = jnum(st, "num_gc");
	json_decref(st);
	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	ck_assert_str_eq(r.out, "gc: freed 0 spans of departed clients\n");
	run_free(&r);
	st = ctl_stats();
	ck_assert_int_eq(jnum(st, "num_gc"), n0 + 1);
	ck_assert_int_gt(jnum(st, "last_gc"), 0);
	json_decref(st);
}
END_TEST

/*
 * A client whose process exits while a child keeps its socket open: the
 * GC pass frees its spans, and spanctl gc says how many.
 */
START_TEST(test_gc_departed_client)
{
	const char *args[] = { "gc", NULL };
	int ready[2], status;
	pid_t pid, keeper = 0;
	struct run r;
	json_t *st;

	ck_assert_int_eq(pipe(ready), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spanheap *c;
		struct spanheap_span sp;
		pid_t k;

		if (spanheap_connect_named(ctl_td.sock, "departed", &c))
			_exit(1);
		for (int i = 0; i < 3; i++)
			if (spanheap_span_alloc(c, 2, 0, &sp))
				_exit(1);
		/* The keeper inherits the socket and outlives us. */
		k = fork();
		if (k == 0) {
			close(ready[1]);
			pause();
			_exit(0);
		}
		if (write(ready[1], &k, sizeof(k)) != sizeof(k))
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	ck_assert_int_eq(read(ready[0], &keeper, sizeof(keeper)),
			 sizeof(keeper));
	close(ready[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		kill(keeper, SIGKILL);
		ck_abort_msg("the departing client failed");
	}
	ctl_run(args, &r);
	kill(keeper, SIGKILL);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "gc: freed 3 spans of departed clients\n");
	run_free(&r);
	st = ctl_stats();
	ck_assert_ptr_null(client_named(st, "departed"));
	json_decref(st);
}
END_TEST

START_TEST(test_scavenge)
{
	const char *args[] = { "scavenge", NULL };
	enum { NSPANS = 8, NPAGES = 64 };
	uint64_t touched = NSPANS * NPAGES * PG, bytes;
	struct spanheap_span sp[NSPANS];
	int64_t resident;
	struct spanheap *c;
	struct run r;
	json_t *st;
	char unit[16];

	ck_assert_int_eq(spanheap_connect_named(ctl_td.sock, "scav-test", &c), 0);
	for (int i = 0; i < NSPANS; i++) {
		ck_assert_int_eq(spanheap_span_alloc(c, NPAGES, 0, &sp[i]), 0);
		memset(sp[i].ptr, 0xa5, NPAGES * PG);
	}
	st = ctl_stats();
	resident = jnum(st, "arena_resident");
	ck_assert_int_ge(resident, (int64_t)touched);
	json_decref(st);
	for (int i = 0; i < NSPANS; i++)
		ck_assert_int_eq(spanheap_span_free(c, sp[i].off), 0);

	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	ck_assert_msg(sscanf(r.out, "released %llu bytes (%15[^)])",
			     (unsigned long long *)&bytes, unit) == 2,
		      "unexpected output: %s", r.out);
	ck_assert_uint_ge(bytes, touched);
	run_free(&r);

	st = ctl_stats();
	ck_assert_int_ge(jnum(st, "heap_released"), (int64_t)touched);
	/* A forced pass leaves no free page unreleased... */
	ck_assert_int_eq(jnum(st, "heap_released"), jnum(st, "heap_idle"));
	/* ...and the kernel got the memory back. */
	ck_assert_int_le(jnum(st, "arena_resident") + (int64_t)touched,
			 resident);
	ck_assert_int_eq(jnum(json_object_get(st, "scavenger"),
			      "forced_releases"), 1);
	ck_assert_int_ge(jnum(json_object_get(st, "scavenger"),
			      "released_bytes_total"), (int64_t)bytes);
	json_decref(st);

	/* Nothing left to release. */
	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.out, "released 0 bytes (0 B)\n");
	run_free(&r);
	spanheap_close(c);
}
END_TEST

START_TEST(test_watch)
{
	const char *args[] = { "watch", "--count", "2", "--interval", "100ms",
			       NULL };
	struct run r;

	ctl_expect(0, args, &r);
	ck_assert_str_eq(r.err, "");
	ck_assert_int_eq(count_of(r.out, "heap sys"), 2);
	ck_assert_int_eq(count_of(r.out, "uptime"), 2);
	/* Not a terminal: no screen clearing. */
	ck_assert_ptr_null(strchr(r.out, '\033'));
	/* It waited one interval between the two. */
	ck_assert_uint_ge(r.ns, 100000000);
	run_free(&r);
}
END_TEST

/* ---- socket ---- */

static char *read_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	char *text;

	if (fd < 0)
		return NULL;
	text = slurp_fd(fd);
	close(fd);
	return text;
}

START_TEST(test_stats_file)
{
	char path[128], opt[160];
	const char *args[] = { opt, "--scavenge-after=100ms",
			       "--gc-after=100ms", NULL };
	int64_t ticks0 = -1, ticks1 = -1;
	json_error_t jerr;
	char *text = NULL;
	json_t *st;

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/m.json", ctl_tmpdir);
	snprintf(opt, sizeof(opt), "--stats-file=%s", path);
	test_daemon_start(&ctl_td, args);
	/* The first tick is 50 ms away; allow for slow sanitizer builds. */
	for (int i = 0; i < 1000 && !(text = read_file(path)); i++)
		usleep(10000);
	ck_assert_msg(text, "%s never appeared", path);
	free(text);
	assert_valid_file(path);

	/* Read it while the daemon rewrites it every 50 ms. */
	for (int i = 0; i < 300; i++) {
		const char *why;

		text = read_file(path);
		if (!text)
			ck_abort_msg("read %d: %s vanished", i, path);
		st = json_loads(text, 0, &jerr);
		if (!st || !json_is_object(st))
			ck_abort_msg("read %d: not one JSON object (%s): '%s'",
				     i, jerr.text, text);
		why = identities_broken(st);
		if (why)
			ck_abort_msg("read %d: %s", i, why);
		ticks1 = (int64_t)json_integer_value(json_object_get(
			json_object_get(st, "scavenger"), "ticks"));
		if (ticks0 < 0)
			ticks0 = ticks1;
		json_decref(st);
		free(text);
		usleep(5000);
	}
	/* The loop really raced with rewrites. */
	ck_assert_int_gt(ticks1, ticks0);
	assert_valid_file(path);
	test_daemon_stop(&ctl_td);
	remove_tmpdir();
}
END_TEST

static Suite *spanctl_suite(void)
{
	Suite *s = suite_create("spanctl");
	TCase *tc;

	test_socket_only();
	tc = tcase_create("stats");
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_stats_table);
	tcase_add_test(tc, test_stats_json);
	tcase_add_test(tc, test_stats_prometheus);
	suite_add_tcase(s, tc);

	tc = tcase_create("commands");
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_clients);
	tcase_add_test(tc, test_clients_paged);
	tcase_add_test(tc, test_objects_and_delete);
	tcase_add_test(tc, test_gc);
	tcase_add_test(tc, test_gc_departed_client);
	tcase_add_test(tc, test_scavenge);
	tcase_add_test(tc, test_watch);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats_file");
	tcase_add_test(tc, test_stats_file);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(spanctl_suite)
