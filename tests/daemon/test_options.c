// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/options.c: the command line, and what the spanheapd
 * binary does with a bad one (exit 2, one line of reason, the usage,
 * nothing created).  The size and time parsers it relies on live in
 * shm/units.c; their cases are here until tests/shm/test_units.c exists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/options.h"
#include "shm/arena.h"
#include "shm/units.h"
#include "tests/lib/daemon.h"
#include "tests/lib/testlib.h"

#define US UINT64_C(1000)
#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)
#define POISON UINT64_C(0xdeadbeefdeadbeef)

/* ---- options_parse ---- */

#define MAX_ARGS 16

static char *argv_buf[MAX_ARGS];
static char err[256];

/* options_parse() of "spanheapd" and the NULL-terminated @args. */
static int parse(struct options *o, const char *const *args)
{
	int argc = 0;

	argv_buf[argc++] = (char *)(uintptr_t)"spanheapd";
	for (int i = 0; args && args[i]; i++) {
		ck_assert_int_lt(argc, MAX_ARGS - 1);
		argv_buf[argc++] = (char *)(uintptr_t)args[i];
	}
	argv_buf[argc] = NULL;
	memset(err, 0, sizeof(err));
	memset(o, 0xa5, sizeof(*o));
	return options_parse(argc, argv_buf, o, err, sizeof(err));
}

#define PARSE(o, ...) parse(o, (const char *const[]){ __VA_ARGS__, NULL })

/* The options are refused with a one-line reason that contains @word. */
#define PARSE_BAD(word, ...)                                              \
	do {                                                              \
		struct options o_;                                        \
		int r_ = PARSE(&o_, __VA_ARGS__);                         \
		ck_assert_msg(r_ == -EINVAL, "%s accepted", #__VA_ARGS__); \
		ck_assert_msg(err[0] && !strchr(err, '\n'),               \
			      "not a one-line reason: '%s'", err);        \
		ck_assert_msg(strstr(err, word), "'%s' does not say '%s'", \
			      err, word);                                 \
	} while (0)

START_TEST(test_parse_defaults)
{
	struct options o;

	ck_assert_int_eq(parse(&o, NULL), 0);
	ck_assert_str_eq(o.socket_path, DEFAULT_SOCKET);
	ck_assert_str_eq(o.socket_path, "/run/spanheapd/spanheapd.sock");
	ck_assert_uint_eq(o.socket_mode, 0660);
	ck_assert_uint_eq(o.socket_gid, (gid_t)-1);
	ck_assert_uint_eq(o.arena_size, UINT64_C(64) << 30);
	ck_assert_uint_eq(o.scavenge_after_ns, 5 * MIN);
	ck_assert_uint_eq(o.gc_after_ns, 2 * MIN);
	ck_assert_uint_eq(o.max_clients, 1024);
	ck_assert(!o.trace);
	ck_assert_ptr_null(o.stats_file);
	ck_assert(!o.help);
	ck_assert(!o.version);
}
END_TEST

START_TEST(test_parse_every_option)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--socket=/tmp/a b/s.sock",
			       "--socket-mode=0600", "--socket-group=0",
			       "--arena-size=2G", "--scavenge-after=10s",
			       "--gc-after=1min 30s", "--max-clients=5",
			       "--trace", "--stats-file=/tmp/stats.json"),
			 0);
	ck_assert_str_eq(o.socket_path, "/tmp/a b/s.sock");
	ck_assert_uint_eq(o.socket_mode, 0600);
	ck_assert_uint_eq(o.socket_gid, 0);
	ck_assert_uint_eq(o.arena_size, UINT64_C(2) << 30);
	ck_assert_uint_eq(o.scavenge_after_ns, 10 * SEC);
	ck_assert_uint_eq(o.gc_after_ns, 90 * SEC);
	ck_assert_uint_eq(o.max_clients, 5);
	ck_assert(o.trace);
	ck_assert_str_eq(o.stats_file, "/tmp/stats.json");
	ck_assert(!o.help);
	ck_assert(!o.version);
}
END_TEST

START_TEST(test_parse_separate_values)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--socket", "/tmp/s.sock", "--arena-size",
			       "8M", "--max-clients", "7", "--socket-mode",
			       "640"),
			 0);
	ck_assert_str_eq(o.socket_path, "/tmp/s.sock");
	ck_assert_uint_eq(o.arena_size, UINT64_C(8) << 20);
	ck_assert_uint_eq(o.max_clients, 7);
	ck_assert_uint_eq(o.socket_mode, 0640);
}
END_TEST

START_TEST(test_parse_last_wins)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--arena-size=1G", "--arena-size=4M"), 0);
	ck_assert_uint_eq(o.arena_size, UINT64_C(4) << 20);
}
END_TEST

START_TEST(test_parse_help_version)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--help"), 0);
	ck_assert(o.help);
	ck_assert(!o.version);
	ck_assert_int_eq(PARSE(&o, "-h"), 0);
	ck_assert(o.help);
	ck_assert_int_eq(PARSE(&o, "--version"), 0);
	ck_assert(o.version);
	ck_assert(!o.help);
}
END_TEST

START_TEST(test_parse_group)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--socket-group=root"), 0);
	ck_assert_uint_eq(o.socket_gid, 0);
	ck_assert_int_eq(PARSE(&o, "--socket-group=4242"), 0);
	ck_assert_uint_eq(o.socket_gid, 4242);
	PARSE_BAD("no-such-group-here", "--socket-group=no-such-group-here");
	PARSE_BAD("group", "--socket-group=");
}
END_TEST

/*
 * A number is digits only: strtoul() would take leading spaces and a
 * sign, and wrap a negative one ("-18446744073709551615" is 1).  Names
 * like those are no group either.
 */
START_TEST(test_parse_group_numbers)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--socket-group=0"), 0);
	ck_assert_uint_eq(o.socket_gid, 0);
	ck_assert_int_eq(PARSE(&o, "--socket-group=4294967294"), 0);
	ck_assert_uint_eq(o.socket_gid, 4294967294u);
	PARSE_BAD("-18446744073709551615",
		  "--socket-group=-18446744073709551615");
	PARSE_BAD("--socket-group", "--socket-group=-1");
	PARSE_BAD("--socket-group", "--socket-group=-0");
	PARSE_BAD("--socket-group", "--socket-group=+0");
	PARSE_BAD("--socket-group", "--socket-group= 0");
	PARSE_BAD("--socket-group", "--socket-group=0 ");
	PARSE_BAD("--socket-group", "--socket-group=4294967295");
	PARSE_BAD("--socket-group", "--socket-group=4294967296");
	PARSE_BAD("--socket-group", "--socket-group=18446744073709551616");
}
END_TEST

START_TEST(test_parse_unknown_option)
{
	PARSE_BAD("--bogus", "--bogus");
	PARSE_BAD("--bogus=1", "--bogus=1");
	PARSE_BAD("-x", "-x");
	PARSE_BAD("--trace=1", "--trace=1");
}
END_TEST

START_TEST(test_parse_missing_value)
{
	PARSE_BAD("--socket", "--socket");
	PARSE_BAD("--arena-size", "--trace", "--arena-size");
	PARSE_BAD("--max-clients", "--max-clients");
	PARSE_BAD("--scavenge-after", "--scavenge-after");
}
END_TEST

START_TEST(test_parse_positional)
{
	PARSE_BAD("foo", "foo");
	PARSE_BAD("foo", "--trace", "foo");
	PARSE_BAD("foo", "foo", "--trace");
}
END_TEST

START_TEST(test_parse_arena_size)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--arena-size=4K"), 0);
	ck_assert_uint_eq(o.arena_size, 4096);
	ck_assert_int_eq(PARSE(&o, "--arena-size=4T"), 0);
	ck_assert_uint_eq(o.arena_size, UINT64_C(4) << 40);
	ck_assert_int_eq(PARSE(&o, "--arena-size=12288"), 0);
	ck_assert_uint_eq(o.arena_size, 12288);
	PARSE_BAD("--arena-size", "--arena-size=4097");
	PARSE_BAD("--arena-size", "--arena-size=1K");
	PARSE_BAD("--arena-size", "--arena-size=0");
	PARSE_BAD("--arena-size", "--arena-size=0G");
	PARSE_BAD("--arena-size", "--arena-size=4398046515200");
	PARSE_BAD("--arena-size", "--arena-size=5T");
	PARSE_BAD("--arena-size", "--arena-size=16777216T");
	PARSE_BAD("--arena-size", "--arena-size=lots");
	PARSE_BAD("--arena-size", "--arena-size=");
	PARSE_BAD("--arena-size", "--arena-size= 1G");
	PARSE_BAD("--arena-size", "--arena-size=1G ");
	PARSE_BAD("--arena-size", "--arena-size=+1G");
	PARSE_BAD("--arena-size", "--arena-size=-1G");
	PARSE_BAD("--arena-size", "--arena-size=-18446744073709551615");
	PARSE_BAD("--arena-size", "--arena-size=18446744073709551616");
}
END_TEST

START_TEST(test_parse_max_clients)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--max-clients=1"), 0);
	ck_assert_uint_eq(o.max_clients, 1);
	ck_assert_int_eq(PARSE(&o, "--max-clients=1000000"), 0);
	ck_assert_uint_eq(o.max_clients, 1000000);
	PARSE_BAD("--max-clients", "--max-clients=0");
	PARSE_BAD("--max-clients", "--max-clients=-1");
	PARSE_BAD("--max-clients", "--max-clients=1000001");
	PARSE_BAD("--max-clients", "--max-clients=18446744073709551617");
	PARSE_BAD("--max-clients", "--max-clients=3x");
	PARSE_BAD("--max-clients", "--max-clients= 3");
	PARSE_BAD("--max-clients", "--max-clients=\t3");
	PARSE_BAD("--max-clients", "--max-clients=3 ");
	PARSE_BAD("--max-clients", "--max-clients=+3");
	PARSE_BAD("--max-clients", "--max-clients=-0");
	PARSE_BAD("--max-clients", "--max-clients=-18446744073709551615");
	PARSE_BAD("1 to 1000000", "--max-clients=0");
	PARSE_BAD("--max-clients", "--max-clients=");
}
END_TEST

START_TEST(test_parse_socket_mode)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--socket-mode=0777"), 0);
	ck_assert_uint_eq(o.socket_mode, 0777);
	ck_assert_int_eq(PARSE(&o, "--socket-mode=0"), 0);
	ck_assert_uint_eq(o.socket_mode, 0);
	PARSE_BAD("999", "--socket-mode=999");
	PARSE_BAD("--socket-mode", "--socket-mode=0668");
	PARSE_BAD("--socket-mode", "--socket-mode=10000");
	PARSE_BAD("--socket-mode", "--socket-mode=rw");
	PARSE_BAD("--socket-mode", "--socket-mode=");
	PARSE_BAD("--socket-mode", "--socket-mode=-1");
	PARSE_BAD("--socket-mode", "--socket-mode= 0660");
	PARSE_BAD("--socket-mode", "--socket-mode=\t0660");
	PARSE_BAD("--socket-mode", "--socket-mode=0660 ");
	PARSE_BAD("--socket-mode", "--socket-mode=-0");
	PARSE_BAD("--socket-mode", "--socket-mode=+0660");
	PARSE_BAD("--socket-mode", "--socket-mode=-18446744073709551615");
	PARSE_BAD("--socket-mode", "--socket-mode=0x1b0");
	PARSE_BAD("--socket-mode", "--socket-mode=1777777777777777777777");
	PARSE_BAD("octal", "--socket-mode= 0660");
	ck_assert_int_eq(PARSE(&o, "--socket-mode=00660"), 0);
	ck_assert_uint_eq(o.socket_mode, 0660);
}
END_TEST

START_TEST(test_parse_socket_path)
{
	struct options o;
	char path[160], opt[180];

	/* sun_path holds 107 bytes and the NUL. */
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[108] = 0;
	snprintf(opt, sizeof(opt), "--socket=%s", path);
	PARSE_BAD("--socket", opt);
	path[107] = 0;
	snprintf(opt, sizeof(opt), "--socket=%s", path);
	ck_assert_int_eq(PARSE(&o, opt), 0);
	ck_assert_str_eq(o.socket_path, path);
	PARSE_BAD("--socket", "--socket=");
	PARSE_BAD("--stats-file", "--stats-file=");
}
END_TEST

START_TEST(test_parse_times)
{
	PARSE_BAD("--scavenge-after", "--scavenge-after=0");
	PARSE_BAD("--gc-after", "--gc-after=0s");
	PARSE_BAD("--scavenge-after", "--scavenge-after=soon");
	PARSE_BAD("--gc-after", "--gc-after=5 parsecs");
	PARSE_BAD("--gc-after", "--gc-after=213504d");
	PARSE_BAD("--gc-after", "--gc-after= 5min");
	PARSE_BAD("--gc-after", "--gc-after=5min ");
	PARSE_BAD("--gc-after", "--gc-after=+5min");
	PARSE_BAD("--gc-after", "--gc-after=-5min");
	PARSE_BAD("--scavenge-after", "--scavenge-after=-18446744073709551615");
	PARSE_BAD("--scavenge-after", "--scavenge-after=\t30s");
	PARSE_BAD("5min", "--scavenge-after=soon");
}
END_TEST

/* The reason names the option, not the program. */
START_TEST(test_parse_unknown_short_cluster)
{
	PARSE_BAD("-x", "-xy");
	ck_assert_msg(!strstr(err, "spanheapd"), "reason: %s", err);
}
END_TEST

/* Parsing is a pure function of argv: an earlier error leaves no trace. */
START_TEST(test_parse_repeatable)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "-xy"), -EINVAL);
	ck_assert_int_eq(PARSE(&o, "--max-clients=3"), 0);
	ck_assert_uint_eq(o.max_clients, 3);
	PARSE_BAD("--bogus", "--trace", "--bogus", "--help");
	ck_assert_int_eq(parse(&o, NULL), 0);
	ck_assert(!o.trace);
	ck_assert(!o.help);
	ck_assert_uint_eq(o.max_clients, DEFAULT_MAX_CLIENTS);
}
END_TEST

START_TEST(test_parse_memory_defaults)
{
	struct options o;

	ck_assert_int_eq(parse(&o, NULL), 0);
	ck_assert_uint_eq(o.memory_limit, 0);
	ck_assert_uint_eq(o.memory_limit_pct, 80);
	ck_assert(!o.memory_limit_max);
	ck_assert_int_eq(o.scavenge_policy, OPTIONS_SCAV_DELAY);
	ck_assert_uint_eq(o.scavenge_headroom_pct, 10);
	ck_assert_uint_eq(o.quota_client, 0);
	ck_assert_uint_eq(o.nquota_uids, 0);
	ck_assert_str_eq(o.quota_file, "/etc/spanheapd/quotas.conf");
	ck_assert_str_eq(o.pressure_trigger, "some 200000 2000000");
	ck_assert_ptr_null(o.pressure_inject);
}
END_TEST

START_TEST(test_parse_memory_limit)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--memory-limit=8G"), 0);
	ck_assert_uint_eq(o.memory_limit, UINT64_C(8) << 30);
	ck_assert_uint_eq(o.memory_limit_pct, 0);
	/* Down to whole pages. */
	ck_assert_int_eq(PARSE(&o, "--memory-limit=10000"), 0);
	ck_assert_uint_eq(o.memory_limit, 8192);
	ck_assert_int_eq(PARSE(&o, "--memory-limit=50%"), 0);
	ck_assert_uint_eq(o.memory_limit, 0);
	ck_assert_uint_eq(o.memory_limit_pct, 50);
	ck_assert_int_eq(PARSE(&o, "--memory-limit=100%"), 0);
	ck_assert_uint_eq(o.memory_limit_pct, 100);
	ck_assert_int_eq(PARSE(&o, "--memory-limit=1G", "--memory-limit=max"),
			 0);
	ck_assert(o.memory_limit_max);
	ck_assert_uint_eq(o.memory_limit, 0);
	ck_assert_uint_eq(o.memory_limit_pct, 0);
	PARSE_BAD("--memory-limit", "--memory-limit=0");
	PARSE_BAD("--memory-limit", "--memory-limit=4095");
	PARSE_BAD("--memory-limit", "--memory-limit=0%");
	PARSE_BAD("--memory-limit", "--memory-limit=101%");
	PARSE_BAD("--memory-limit", "--memory-limit=%");
	PARSE_BAD("--memory-limit", "--memory-limit=-1G");
	PARSE_BAD("--memory-limit", "--memory-limit=lots");
}
END_TEST

START_TEST(test_parse_quotas)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--quota-client=1G", "--quota-uid=0:2G",
			       "--quota-uid=root:3G", "--quota-uid=1000:512M",
			       "--quota-uid=2000:none", "--quota-file="),
			 0);
	ck_assert_uint_eq(o.quota_client, UINT64_C(1) << 30);
	/* root is uid 0: the last one for a uid wins. */
	ck_assert_uint_eq(o.nquota_uids, 3);
	ck_assert_uint_eq(o.quota_uids[0].uid, 0);
	ck_assert_uint_eq(o.quota_uids[0].bytes, UINT64_C(3) << 30);
	ck_assert_uint_eq(o.quota_uids[1].uid, 1000);
	ck_assert_uint_eq(o.quota_uids[1].bytes, UINT64_C(512) << 20);
	ck_assert_uint_eq(o.quota_uids[2].uid, 2000);
	ck_assert_uint_eq(o.quota_uids[2].bytes, 0);
	ck_assert_str_eq(o.quota_file, "");
	ck_assert_int_eq(PARSE(&o, "--quota-client=none"), 0);
	ck_assert_uint_eq(o.quota_client, 0);
	PARSE_BAD("--quota-client", "--quota-client=0");
	PARSE_BAD("--quota-client", "--quota-client=big");
	PARSE_BAD("UID:SIZE", "--quota-uid=1000");
	PARSE_BAD("UID:SIZE", "--quota-uid=1000:");
	PARSE_BAD("UID:SIZE", "--quota-uid=1000:0");
	PARSE_BAD("unknown user 'no-such-user-x'",
		  "--quota-uid=no-such-user-x:1G");
	PARSE_BAD("invalid uid", "--quota-uid=:1G");
	PARSE_BAD("invalid uid", "--quota-uid=-1:1G");
	PARSE_BAD("invalid uid", "--quota-uid=4294967295:1G");
}
END_TEST

START_TEST(test_parse_quota_uids_max)
{
	char args[OPTIONS_QUOTA_UIDS_MAX + 1][32];
	char *argv[OPTIONS_QUOTA_UIDS_MAX + 3];
	struct options o;
	int argc = 0;

	argv[argc++] = (char *)(uintptr_t)"spanheapd";
	for (int i = 0; i <= OPTIONS_QUOTA_UIDS_MAX; i++) {
		snprintf(args[i], sizeof(args[i]), "--quota-uid=%d:1G",
			 5000 + i);
		argv[argc++] = args[i];
	}
	argv[argc] = NULL;
	ck_assert_int_eq(options_parse(argc - 1, argv, &o, err, sizeof(err)),
			 0);
	ck_assert_uint_eq(o.nquota_uids, OPTIONS_QUOTA_UIDS_MAX);
	ck_assert_int_eq(options_parse(argc, argv, &o, err, sizeof(err)),
			 -EINVAL);
	ck_assert_msg(strstr(err, "--quota-file"), "%s", err);
}
END_TEST

START_TEST(test_parse_scavenge_policy)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--scavenge-policy=paced",
			       "--scavenge-headroom=25"),
			 0);
	ck_assert_int_eq(o.scavenge_policy, OPTIONS_SCAV_PACED);
	ck_assert_uint_eq(o.scavenge_headroom_pct, 25);
	ck_assert_int_eq(PARSE(&o, "--scavenge-policy=paced",
			       "--scavenge-policy=delay",
			       "--scavenge-headroom=0"),
			 0);
	ck_assert_int_eq(o.scavenge_policy, OPTIONS_SCAV_DELAY);
	ck_assert_uint_eq(o.scavenge_headroom_pct, 0);
	PARSE_BAD("delay or paced", "--scavenge-policy=go");
	PARSE_BAD("delay or paced", "--scavenge-policy=");
	PARSE_BAD("--scavenge-headroom", "--scavenge-headroom=1001");
	PARSE_BAD("--scavenge-headroom", "--scavenge-headroom=10%");
}
END_TEST

START_TEST(test_parse_pressure)
{
	struct options o;

	ck_assert_int_eq(PARSE(&o, "--pressure-trigger=off",
			       "--pressure-inject=/tmp/f"),
			 0);
	ck_assert_str_eq(o.pressure_trigger, "off");
	ck_assert_str_eq(o.pressure_inject, "/tmp/f");
	PARSE_BAD("--pressure-trigger", "--pressure-trigger=");
}
END_TEST

/* ---- the binary ---- */

static char out[16384];

#define HINT "; see spanheapd --help"

/*
 * Run spanheapd with --socket under a temp dir and the bad @arg: it
 * exits 2, says "spanheapd: <reason>; see spanheapd --help" naming @word
 * on one line and nothing else (not the usage), and creates nothing.
 */
static void run_bad(const char *arg, const char *word)
{
	char dir[64], sock[128], sub[96];
	const char *args[4];
	const char *nl;
	int code;

	/* A fresh temp dir for a socket path that must never be created. */
	test_tmpdir(dir, sizeof(dir), "spanheap-opt");
	snprintf(sub, sizeof(sub), "%s/x", dir);
	snprintf(sock, sizeof(sock), "--socket=%s/s.sock", sub);
	args[0] = sock;
	args[1] = "--arena-size=4M";
	args[2] = arg;
	args[3] = NULL;
	code = test_daemon_run(args, out, sizeof(out));
	ck_assert_msg(code == 2, "%s: exit %d, want 2", arg, code);
	ck_assert_msg(!strncmp(out, "spanheapd: ", 11),
		      "%s: the first line is not 'spanheapd: <reason>': %.200s",
		      arg, out);
	nl = strchr(out, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_msg(memmem(out, (size_t)(nl - out), word, strlen(word)),
		      "%s: the reason does not name '%s': %.*s", arg, word,
		      (int)(nl - out), out);
	ck_assert_msg(nl[1] == 0, "%s: more than one line: %s", arg, out);
	ck_assert_msg((size_t)(nl - out) >= strlen(HINT) &&
		      !memcmp(nl - strlen(HINT), HINT, strlen(HINT)),
		      "%s: the line does not end with the hint: %s", arg, out);
	ck_assert_msg(access(sub, F_OK) < 0 && errno == ENOENT,
		      "%s: %s was created", arg, sub);
	test_tmpdir_remove(dir);
}

START_TEST(test_bin_bad_options)
{
	run_bad("--socket-mode= 0660", "--socket-mode ' 0660'");
	run_bad("--socket-mode=-0", "--socket-mode");
	run_bad("--socket-group=-18446744073709551615", "--socket-group");
	run_bad("--gc-after=5 parsecs", "--gc-after");
	run_bad("--max-clients=0", "--max-clients");
	run_bad("--bogus", "--bogus");
	run_bad("extra", "extra");
	run_bad("--arena-size=4097", "--arena-size");
	run_bad("--socket-mode=999", "999");
	run_bad("--scavenge-after=0", "--scavenge-after");
	run_bad("--socket-group=no-such-group-here", "no-such-group-here");
	run_bad("--socket=/tmp/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"path too long (114 > 107 bytes)");
	run_bad("--socket", "--socket");
}
END_TEST

START_TEST(test_bin_help)
{
	const char *args[] = { "--help", NULL };

	ck_assert_int_eq(test_daemon_run(args, out, sizeof(out)), 0);
	ck_assert_str_eq(out, options_usage());
	ck_assert(!strncmp(out, "Usage: spanheapd ", 17));
	args[0] = "-h";
	ck_assert_int_eq(test_daemon_run(args, out, sizeof(out)), 0);
	ck_assert_str_eq(out, options_usage());
}
END_TEST

START_TEST(test_bin_version)
{
	const char *args[] = { "--version", NULL };

	ck_assert_int_eq(test_daemon_run(args, out, sizeof(out)), 0);
	ck_assert_str_eq(out, "spanheapd " SPANHEAPD_VERSION "\n");
}
END_TEST

/* The reason and usage go to stderr, --help's usage to stdout. */
START_TEST(test_bin_streams)
{
	const char *bin = test_daemon_bin();
	char cmd[512];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "exec '%s' --bogus 2>/dev/null", bin);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	ck_assert_int_eq(pclose(p), 2 << 8);
	ck_assert_uint_eq(n, 0);
	snprintf(cmd, sizeof(cmd), "exec '%s' --help 2>&1 >/dev/null", bin);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, sizeof(out) - 1, p);
	ck_assert_int_eq(pclose(p), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc;

	tc = tcase_create("options_parse");
	tcase_add_test(tc, test_parse_defaults);
	tcase_add_test(tc, test_parse_every_option);
	tcase_add_test(tc, test_parse_separate_values);
	tcase_add_test(tc, test_parse_last_wins);
	tcase_add_test(tc, test_parse_help_version);
	tcase_add_test(tc, test_parse_group);
	tcase_add_test(tc, test_parse_group_numbers);
	tcase_add_test(tc, test_parse_unknown_option);
	tcase_add_test(tc, test_parse_missing_value);
	tcase_add_test(tc, test_parse_positional);
	tcase_add_test(tc, test_parse_arena_size);
	tcase_add_test(tc, test_parse_max_clients);
	tcase_add_test(tc, test_parse_socket_mode);
	tcase_add_test(tc, test_parse_socket_path);
	tcase_add_test(tc, test_parse_times);
	tcase_add_test(tc, test_parse_unknown_short_cluster);
	tcase_add_test(tc, test_parse_repeatable);
	tcase_add_test(tc, test_parse_memory_defaults);
	tcase_add_test(tc, test_parse_memory_limit);
	tcase_add_test(tc, test_parse_quotas);
	tcase_add_test(tc, test_parse_quota_uids_max);
	tcase_add_test(tc, test_parse_scavenge_policy);
	tcase_add_test(tc, test_parse_pressure);
	suite_add_tcase(s, tc);

	tc = tcase_create("binary");
	tcase_add_test(tc, test_bin_bad_options);
	tcase_add_test(tc, test_bin_help);
	tcase_add_test(tc, test_bin_version);
	tcase_add_test(tc, test_bin_streams);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(options_suite)
