// SPDX-License-Identifier: MIT
/*
 * Tests of how spanctl (ctl/main.c) reaches the daemon and what it says
 * when it cannot: --socket and $SPANHEAP_SOCKET, usage errors, --help
 * and --version, no daemon or a stale socket, a socket it may not use.
 * The real spanctl and spanheapd (tests/e2e/ctl_fixture.c).
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

START_TEST(test_socket_option_and_env)
{
	const char *plain[] = { "stats", NULL };
	const char *opt_sep[] = { "--socket", ctl_td.sock, "stats", NULL };
	char opt_eq[160], nowhere[160];
	const char *opt_eq_args[] = { opt_eq, "stats", NULL };
	struct run r;

	snprintf(opt_eq, sizeof(opt_eq), "--socket=%s", ctl_td.sock);
	snprintf(nowhere, sizeof(nowhere), "%s.nowhere", ctl_td.sock);
	/* $SPANHEAP_SOCKET alone. */
	run_prog(spanctl_bin(), ctl_td.sock, plain, &r);
	ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "heap sys"));
	run_free(&r);
	/* --socket wins over the environment, in both spellings. */
	run_prog(spanctl_bin(), nowhere, opt_sep, &r);
	ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
	ck_assert_ptr_nonnull(strstr(r.out, "heap sys"));
	run_free(&r);
	run_prog(spanctl_bin(), nowhere, opt_eq_args, &r);
	ck_assert_msg(r.code == 0, "exit %d: %s", r.code, r.err);
	run_free(&r);
	/* And the environment is what is used without it. */
	run_prog(spanctl_bin(), nowhere, plain, &r);
	ck_assert_int_eq(r.code, 1);
	ck_assert_ptr_nonnull(strstr(r.err, nowhere));
	run_free(&r);
}
END_TEST

/* ---- usage ---- */

static const char *const usage_cases[][6] = {
	{ NULL },
	{ "frobnicate", NULL },
	{ "stats", "--frob", NULL },
	{ "--frob", "stats", NULL },
	{ "stats", "--json", "--prometheus", NULL },
	{ "stats", "--prometheus", "--json", NULL },
	{ "watch", "--interval", "0", NULL },
	{ "watch", "--interval", "soon", NULL },
	{ "watch", "--count", "0", NULL },
	{ "gc", "--json", NULL },
	{ "stats", "--count", "2", NULL },
	{ "stats", "extra", NULL },
	{ "--socket", NULL },
	{ "objects", "--prometheus", NULL },
	{ "objects", "--count", "2", NULL },
	{ "objects", "extra", NULL },
	{ "delete", NULL },
	{ "delete", "", NULL },
	{ "delete", "a", "b", NULL },
	{ "delete", "--json", "a", NULL },
	{ "delete", "-a", NULL },
	{ "clients", "--json", NULL },
};

START_TEST(test_usage_errors)
{
	const char *const *args = usage_cases[_i];
	char nowhere[128];
	struct run r;

	/* No daemon: were it asked, the exit would be 1, not 2. */
	make_tmpdir();
	snprintf(nowhere, sizeof(nowhere), "%s/none.sock", ctl_tmpdir);
	run_prog(spanctl_bin(), nowhere, args, &r);
	ck_assert_msg(r.code == 2, "spanctl %s %s: exit %d, want 2; stderr: %s",
		      args[0] ? args[0] : "", args[0] && args[1] ? args[1] : "",
		      r.code, r.err);
	ck_assert_str_eq(r.out, "");
	ck_assert_msg(!strncmp(r.err, "spanctl: ", 9), "no reason: %s", r.err);
	ck_assert_ptr_nonnull(strstr(r.err, "Usage: spanctl"));
	run_free(&r);
	remove_tmpdir();
}
END_TEST

/* A NAME longer than any object's is refused before connecting. */
START_TEST(test_delete_name_too_long)
{
	char name[SPANHEAP_NAME_MAX + 2];
	const char *args[] = { "delete", name, NULL };
	struct run r;

	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	run_prog(spanctl_bin(), "/nonexistent", args, &r);
	ck_assert_int_eq(r.code, 2);
	ck_assert_ptr_nonnull(strstr(r.err, "an object NAME is 1 to 255 "
					    "bytes, not 256"));
	run_free(&r);
}
END_TEST

START_TEST(test_help_and_version)
{
	const char *help[] = { "--help", NULL };
	const char *version[] = { "--version", NULL };
	struct run r;

	run_prog(spanctl_bin(), "/nonexistent", help, &r);
	ck_assert_int_eq(r.code, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage: spanctl"));
	run_free(&r);
	run_prog(spanctl_bin(), "/nonexistent", version, &r);
	ck_assert_int_eq(r.code, 0);
	ck_assert_str_eq(r.out, "spanctl " SPANHEAPD_VERSION "\n");
	run_free(&r);
}
END_TEST

/* ---- no daemon ---- */

static const char *const cmds[] = { "stats", "clients", "gc", "scavenge",
				    "watch", "objects" };

/* Exit 1 and one line naming @path and asking whether the daemon runs. */
static void assert_not_running(const char *path)
{
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char opt[160];
		const char *args[] = { opt, cmds[i], NULL };
		struct run r;

		snprintf(opt, sizeof(opt), "--socket=%s", path);
		run_prog(spanctl_bin(), NULL, args, &r);
		ck_assert_msg(r.code == 1, "%s: exit %d, want 1", cmds[i],
			      r.code);
		ck_assert_str_eq(r.out, "");
		ck_assert_msg(count_of(r.err, "\n") == 1 &&
				      r.err[strlen(r.err) - 1] == '\n',
			      "not one line: %s", r.err);
		ck_assert_msg(strstr(r.err, path), "path not in: %s", r.err);
		ck_assert_msg(strstr(r.err, "is spanheapd running?"),
			      "no hint in: %s", r.err);
		run_free(&r);
	}
}

START_TEST(test_no_daemon_missing_socket)
{
	char path[128];

	make_tmpdir();
	snprintf(path, sizeof(path), "%s/none.sock", ctl_tmpdir);
	assert_not_running(path);
	remove_tmpdir();
}
END_TEST

START_TEST(test_no_daemon_stale_socket)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	/* A socket file nobody listens on: connect() is refused. */
	make_tmpdir();
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale.sock", ctl_tmpdir);
	fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_not_running(sa.sun_path);
	remove_tmpdir();
}
END_TEST

/*
 * A refused connection names its real cause: the directory, or the
 * socket's mode and group; the group to join only if there is one.
 */
static void denied_as_nobody(const char *want, const char *not_want)
{
	char opt[160];
	const char *args[] = { opt, "stats", NULL };
	struct run r;

	snprintf(opt, sizeof(opt), "--socket=%s", ctl_td.sock);
	run_prog_as(65534, spanctl_bin(), NULL, args, &r);
	ck_assert_msg(r.code == 1, "exit %d: %s", r.code, r.err);
	ck_assert_msg(strstr(r.err, "Permission denied") && strstr(r.err, want),
		      "want '%s' in: %s", want, r.err);
	ck_assert_msg(!not_want || !strstr(r.err, not_want),
		      "'%s' in: %s", not_want, r.err);
	run_free(&r);
}

START_TEST(test_denied_says_why)
{
	char dirmsg[160];

	/* The test daemon's directory is 0700: nobody may not enter it. */
	snprintf(dirmsg, sizeof(dirmsg), "you may not enter the directory %s",
		 ctl_td.dir);
	denied_as_nobody(dirmsg, "spanheap group");
	ck_assert_int_eq(chmod(ctl_td.dir, 0755), 0);
	/* A root:root socket: no group to suggest. */
	ck_assert_int_eq(chmod(ctl_td.sock, 0660), 0);
	ck_assert_int_eq(chown(ctl_td.sock, 0, 0), 0);
	denied_as_nobody("mode 0660, owner 0, group 0", "join");
	/* A group of its own: join it. */
	ck_assert_int_eq(chown(ctl_td.sock, 0, 1), 0);
	denied_as_nobody("join that group, e.g. usermod -aG", NULL);
	ck_assert_int_eq(chmod(ctl_td.dir, 0700), 0);
}
END_TEST

/* ---- the daemon's --stats-file ---- */

static Suite *spanctl_access_suite(void)
{
	Suite *s = suite_create("spanctl_access");
	TCase *tc;

	test_socket_only();
	tc = tcase_create("socket");
	tcase_add_checked_fixture(tc, daemon_setup, daemon_teardown);
	tcase_add_test(tc, test_socket_option_and_env);
	tcase_add_test(tc, test_denied_says_why);
	suite_add_tcase(s, tc);

	tc = tcase_create("usage");
	tcase_add_loop_test(tc, test_usage_errors, 0,
			    (int)(sizeof(usage_cases) / sizeof(*usage_cases)));
	tcase_add_test(tc, test_delete_name_too_long);
	tcase_add_test(tc, test_help_and_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("unreachable");
	tcase_add_test(tc, test_no_daemon_missing_socket);
	tcase_add_test(tc, test_no_daemon_stale_socket);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(spanctl_access_suite)
