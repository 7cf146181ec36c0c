// SPDX-License-Identifier: MIT
/*
 * Quotas (--quota-client, --quota-uid; daemon/charge.c), with the real
 * daemon and the real library: a connection's spans, socket and
 * magazine alike, and all the connections of a uid together (two uids:
 * root and nobody, a forked child that drops to 65534), never pass their
 * quota; an allocation that would fails with -EDQUOT and changes
 * nothing; MemStats and CLIENTS show usage against quota.
 */
#include <errno.h>
#include <signal.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "tests/e2e/memstats.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define MiB (UINT64_C(1) << 20)
#define PG UINT64_C(4096)
#define NOBODY 65534

static struct test_daemon td;

static void start(const char *const *args)
{
	test_daemon_start(&td, args);
	/* Let nobody in: the socket's directory and the socket itself. */
	ck_assert_int_eq(chmod(td.dir, 0755), 0);
	ck_assert_int_eq(chmod(td.sock, 0666), 0);
}

static void teardown(void)
{
	chmod(td.dir, 0700);
	test_daemon_stop(&td);
}

static uint64_t quota_stat(struct spanheap *h, const char *key)
{
	char path[64];

	snprintf(path, sizeof(path), "quotas.%s", key);
	return memstats_u64(h, path);
}

/* @key of this connection's entry in the client list. */
static uint64_t my_client(struct spanheap *h, const char *key)
{
	json_t *root = memstats_get(h), *c;
	json_t *list = json_object_get(json_object_get(root, "clients"), "list");
	uint64_t n = UINT64_MAX;
	size_t i;

	json_array_foreach(list, i, c)
		if ((uint32_t)json_integer_value(json_object_get(c, "id")) ==
		    spanheap_client_id(h))
			n = (uint64_t)json_integer_value(json_object_get(c, key));
	json_decref(root);
	ck_assert_msg(n != UINT64_MAX, "no %s for client %u", key,
		      spanheap_client_id(h));
	return n;
}

START_TEST(test_client_quota)
{
	const char *const args[] = { "--quota-client=8M", NULL };
	struct spanheap *h, *h2;
	struct spanheap_span a, b, s[4];

	test_socket_only();
	start(args);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 6 * MiB / PG, 0, &a), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 2 * MiB / PG, 0, &b), 0);
	ck_assert_uint_eq(my_client(h, "quota"), 8 * MiB);
	ck_assert_uint_eq(my_client(h, "bytes"), 8 * MiB);
	/* One page more is over: refused, nothing changed. */
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &s[0]), -EDQUOT);
	ck_assert_uint_eq(my_client(h, "bytes"), 8 * MiB);
	ck_assert_uint_eq(quota_stat(h, "refused_client"), 1);
	/* Another connection of the same uid has its own. */
	ck_assert_int_eq(spanheap_connect(td.sock, &h2), 0);
	ck_assert_int_eq(spanheap_span_alloc(h2, 8 * MiB / PG, 0, &s[0]), 0);
	spanheap_close(h2);
	/* Freeing makes room; a batch is all or none. */
	ck_assert_int_eq(spanheap_span_free(h, a.off), 0);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 2 * MiB / PG, 0, 4, s),
			 -EDQUOT);
	ck_assert_uint_eq(my_client(h, "bytes"), 2 * MiB);
	ck_assert_int_eq(spanheap_span_alloc_batch(h, 2 * MiB / PG, 0, 3, s),
			 0);
	ck_assert_uint_eq(my_client(h, "bytes"), 8 * MiB);
	ck_assert_uint_eq(quota_stat(h, "refused"), 2);
	ck_assert_uint_eq(quota_stat(h, "client"), 8 * MiB);
	spanheap_close(h);
}
END_TEST

START_TEST(test_client_quota_counts_the_magazine)
{
	const char *const args[] = { "--quota-client=256K", NULL };
	struct spanheap_span s[128];
	struct spanheap *h;
	uint64_t cached = 0;
	int n = 0, r = 0;

	start(args);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	/* Small spans, the magazine's: they come until the quota. */
	while (n < 128 && (r = spanheap_span_alloc(h, 1, 0, &s[n])) == 0) {
		uint64_t c = my_client(h, "cached");

		ck_assert_uint_le(my_client(h, "bytes"), 256 * 1024);
		if (c > cached)
			cached = c;
		n++;
	}
	ck_assert_msg(cached > 0, "no span came from a magazine");
	ck_assert_int_eq(r, -EDQUOT);
	/* The magazine served them, its rings within the quota too. */
	ck_assert_uint_gt(my_client(h, "requests"), 0);
	ck_assert_int_le(n, 64);
	ck_assert_int_gt(n, 0);
	ck_assert_uint_le(my_client(h, "bytes"), 256 * 1024);
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(spanheap_span_free(h, s[i].off), 0);
	spanheap_close(h);
}
END_TEST

/*
 * In a child that drops to nobody: connect, take @first bytes, then
 * check that one page more is refused.  Exits 0 if all was as expected.
 */
static void as_nobody(uint64_t first)
{
	pid_t pid = fork();
	int status;

	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct spanheap *h;
		struct spanheap_span a, b;

		if (setgid(NOBODY) || setuid(NOBODY))
			_exit(10);
		if (spanheap_connect(td.sock, &h))
			_exit(11);
		if (spanheap_span_alloc(h, first / PG, 0, &a))
			_exit(12);
		if (spanheap_span_alloc(h, 1, 0, &b) != -EDQUOT)
			_exit(13);
		if (spanheap_span_free(h, a.off) ||
		    spanheap_span_alloc(h, 1, 0, &b))
			_exit(14);
		spanheap_close(h);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the nobody client failed at step %d",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

START_TEST(test_uid_quotas)
{
	const char *const args[] = { "--quota-uid=0:16M",
				     "--quota-uid=nobody:4M", NULL };
	struct spanheap *a, *b;
	struct spanheap_span x, y, z;
	json_t *root, *uids;

	test_socket_only();
	start(args);
	ck_assert_int_eq(spanheap_connect(td.sock, &a), 0);
	ck_assert_int_eq(spanheap_connect(td.sock, &b), 0);
	/* Two connections of root share its 16 MiB. */
	ck_assert_int_eq(spanheap_span_alloc(a, 8 * MiB / PG, 0, &x), 0);
	ck_assert_int_eq(spanheap_span_alloc(b, 8 * MiB / PG, 0, &y), 0);
	ck_assert_uint_eq(my_client(a, "uid_bytes"), 16 * MiB);
	ck_assert_uint_eq(my_client(a, "uid_quota"), 16 * MiB);
	ck_assert_uint_eq(my_client(b, "quota"), 16 * MiB);
	ck_assert_int_eq(spanheap_span_alloc(b, 1, 0, &z), -EDQUOT);
	ck_assert_uint_eq(quota_stat(a, "refused_uid"), 1);
	/* nobody's 4 MiB are its own, whatever root holds. */
	as_nobody(4 * MiB);
	root = memstats_get(a);
	uids = json_object_get(json_object_get(root, "quotas"), "uids");
	ck_assert_int_eq(json_array_size(uids), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(uids, 0), "uid")), 0);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(uids, 0), "bytes")),
			 16 * MiB);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(uids, 1), "uid")), NOBODY);
	ck_assert_int_eq(json_integer_value(json_object_get(
				 json_array_get(uids, 1), "quota")), 4 * MiB);
	json_decref(root);
	/* Root frees one span: room again. */
	ck_assert_int_eq(spanheap_span_free(a, x.off), 0);
	ck_assert_int_eq(spanheap_span_alloc(b, 1, 0, &z), 0);
	spanheap_close(a);
	spanheap_close(b);
}
END_TEST

/* A uid's objects count against its quota until they are freed. */
START_TEST(test_uid_quota_counts_objects)
{
	const char *const args[] = { "--quota-uid=0:8M", NULL };
	struct spanheap_obj o, p;
	struct spanheap_span s;
	struct spanheap *h;

	test_socket_only();
	start(args);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_int_eq(spanheap_obj_create(h, "a", 6 * MiB, 0, &o), 0);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	/* Released: nobody holds it, but it lives, and its uid pays. */
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	ck_assert_uint_eq(my_client(h, "uid_bytes"), 6 * MiB);
	ck_assert_int_eq(spanheap_span_alloc(h, 4 * MiB / PG, 0, &s), -EDQUOT);
	ck_assert_int_eq(spanheap_obj_create(h, "b", 4 * MiB, 0, &p), -EDQUOT);
	/* Even from a new connection: the object is the uid's, not its. */
	spanheap_close(h);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_uint_eq(my_client(h, "uid_bytes"), 6 * MiB);
	ck_assert_int_eq(spanheap_span_alloc(h, 2 * MiB / PG, 0, &s), 0);
	ck_assert_int_eq(spanheap_span_free(h, s.off), 0);
	/* Deleted and freed: the quota has its room back. */
	ck_assert_int_eq(spanheap_obj_delete(h, "a"), 0);
	ck_assert_uint_eq(my_client(h, "uid_bytes"), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 8 * MiB / PG, 0, &s), 0);
	spanheap_close(h);
}
END_TEST

/* MemStats' quotas.loaded_ns, until it is past @after (a reload). */
static uint64_t wait_loaded(struct spanheap *h, uint64_t after)
{
	uint64_t t;

	for (int i = 0; i < 1000; i++) {
		t = quota_stat(h, "loaded_ns");
		if (t > after)
			return t;
		usleep(10000);
	}
	ck_abort_msg("no reload of the quota file after SIGHUP");
	return 0;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* The quota file: read at start, bad lines skipped, reread on SIGHUP. */
START_TEST(test_quota_file_and_sighup)
{
	char dir[64], path[128], opt[160], log[8192];
	const char *args[] = { opt, NULL };
	struct spanheap_span a, b;
	struct spanheap *h;
	uint64_t t0, t1;
	FILE *f;
	size_t n;

	test_socket_only();
	test_tmpdir(dir, sizeof(dir), "spanheap-quotafile");
	snprintf(path, sizeof(path), "%s/quotas.conf", dir);
	snprintf(opt, sizeof(opt), "--quota-file=%s", path);
	write_file(path, "# root may hold 4 MiB\nuid 0 4M\nuid 0 lots\n");
	start(args);
	ck_assert_int_eq(spanheap_connect(td.sock, &h), 0);
	ck_assert_uint_eq(quota_stat(h, "file_rules"), 1);
	ck_assert_uint_eq(quota_stat(h, "file_bad_lines"), 1);
	ck_assert_uint_eq(quota_stat(h, "file_errno"), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 4 * MiB / PG, 0, &a), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &b), -EDQUOT);
	/* The bad line, named with its file and line. */
	f = fopen(td.log, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(log, 1, sizeof(log) - 1, f);
	fclose(f);
	log[n] = 0;
	snprintf(opt, sizeof(opt), "%s:3:", path);
	ck_assert_msg(strstr(log, opt), "no '%s' in the log: %s", opt, log);
	/* A new file, a SIGHUP: the new quota holds, whole. */
	t0 = quota_stat(h, "loaded_ns");
	write_file(path, "uid 0 8M\n");
	ck_assert_int_eq(kill(td.pid, SIGHUP), 0);
	t1 = wait_loaded(h, t0);
	ck_assert_uint_eq(quota_stat(h, "file_bad_lines"), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 4 * MiB / PG, 0, &b), 0);
	ck_assert_int_eq(spanheap_span_free(h, b.off), 0);
	/* A file that cannot be read: the quotas in force stay. */
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(kill(td.pid, SIGHUP), 0);
	for (int i = 0; i < 1000 && quota_stat(h, "file_errno") == 0; i++)
		usleep(10000);
	ck_assert_uint_eq(quota_stat(h, "file_errno"), EISDIR);
	ck_assert_uint_eq(quota_stat(h, "loaded_ns"), t1);
	ck_assert_int_eq(spanheap_span_alloc(h, 4 * MiB / PG, 0, &b), 0);
	ck_assert_int_eq(spanheap_span_alloc(h, 1, 0, &b), -EDQUOT);
	spanheap_close(h);
	rmdir(path);
	test_tmpdir_remove(dir);
}
END_TEST

/* A quota file that cannot be used stops the start, naming it. */
START_TEST(test_quota_file_unusable_at_start)
{
	char dir[64], opt[128], out[4096];
	const char *args[] = { opt, NULL };

	test_tmpdir(dir, sizeof(dir), "spanheap-quotafile");
	snprintf(opt, sizeof(opt), "--quota-file=%s", dir);
	ck_assert_int_eq(test_daemon_run(args, out, sizeof(out)), 1);
	ck_assert_msg(strstr(out, "--quota-file=''"), "%s", out);
	test_tmpdir_remove(dir);
}
END_TEST

static Suite *quota_suite(void)
{
	Suite *s = suite_create("quota");
	TCase *tc = tcase_create("quota");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_client_quota);
	tcase_add_test(tc, test_client_quota_counts_the_magazine);
	tcase_add_test(tc, test_uid_quotas);
	tcase_add_test(tc, test_uid_quota_counts_objects);
	tcase_add_test(tc, test_quota_file_and_sighup);
	suite_add_tcase(s, tc);
	tc = tcase_create("start");
	tcase_add_test(tc, test_quota_file_unusable_at_start);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(quota_suite)
