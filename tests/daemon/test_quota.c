// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/quota.c: quota rules from the command line and from
 * quotas.conf(5) files written to a temp dir, their precedence, every
 * kind of bad line with the "PATH:LINE: reason; ignored" it logs (the
 * log captured from stderr), a missing file against an unreadable one,
 * a failed reload that leaves the old table, and files at the caps.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/quota.h"
#include "tests/daemon/capture.h"
#include "tests/lib/testlib.h"

#define KIB UINT64_C(1024)
#define MIB (KIB * 1024)
#define GIB (MIB * 1024)
#define BAD_SIZE(s) \
	"bad size '" s "' (want a number of bytes with K, M, G or T, such as 512M, or none)"

static char dir[256];
static char file[300];

static void setup(void)
{
	test_tmpdir(dir, sizeof(dir), "spanheap-quota");
	snprintf(file, sizeof(file), "%s/quotas.conf", dir);
}

static void teardown(void)
{
	test_tmpdir_remove(dir);
}

/* ---- the log, from stderr ---- */

static const char *logged;	/* what the last capture got */

/* Restore stderr; what was logged since capture_begin() is in logged. */
static const char *end_capture(void)
{
	logged = capture_end();
	return logged;
}

static unsigned int count_of(const char *text, const char *what)
{
	unsigned int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void assert_logged(const char *what)
{
	ck_assert_msg(strstr(logged, what), "'%s' not logged; the log:\n%s",
		      what, logged);
}

/* "<3>FILE:LINE: WHY; ignored\n" is in the log, once. */
static void assert_bad(unsigned int line, const char *why)
{
	char want[512];

	snprintf(want, sizeof(want), "<3>%s:%u: %s; ignored\n", file, line,
		 why);
	ck_assert_msg(count_of(logged, want) == 1,
		      "'%s' not logged once; the log:\n%s", want, logged);
}

/* ---- files and loads ---- */

static void write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

static void write_conf(const char *text)
{
	write_file(file, text, strlen(text));
}

/* No command-line quotas, as options_parse() leaves them. */
static struct options no_opts(void)
{
	struct options o;

	memset(&o, 0, sizeof(o));
	return o;
}

static struct quota_load_report rep;

/* quota_rules_load() of @path that must succeed, its log captured. */
static struct quota_rules *load_ok(const struct options *o,
				   const char *path)
{
	struct quota_rules *q = NULL;
	int r;

	memset(&rep, 0xa5, sizeof(rep));
	capture_begin();
	r = quota_rules_load(o, path, &q, &rep);
	end_capture();
	ck_assert_msg(r == 0, "load returned %d; the log:\n%s", r, logged);
	ck_assert_ptr_nonnull(q);
	return q;
}

/* quota_rules_load() that must fail with @want and write no table. */
static void load_fails(const struct options *o, const char *path, int want)
{
	struct quota_rules *poison = (struct quota_rules *)&rep, *q = poison;
	int r;

	memset(&rep, 0xa5, sizeof(rep));
	capture_begin();
	r = quota_rules_load(o, path, &q, &rep);
	end_capture();
	ck_assert_msg(r == want, "load of %s returned %d, want %d; the log:\n%s",
		      path, r, want, logged);
	ck_assert_ptr_eq(q, poison);
	ck_assert_int_eq(rep.file_errno, -want);
	ck_assert_uint_eq(rep.rules, 0);
	ck_assert_uint_eq(rep.bad_lines, 0);
}

/* The uid rules in the order quota_rules_next() gives them, checked sorted. */
static size_t walk(const struct quota_rules *q, uint32_t *uids,
		   uint64_t *bytes, size_t max)
{
	size_t cursor = 0, n = 0;
	uint32_t u;
	uint64_t b;

	while (quota_rules_next(q, &cursor, &u, &b)) {
		ck_assert_uint_lt(n, max);
		if (n)
			ck_assert_uint_gt(u, uids[n - 1]);
		uids[n] = u;
		bytes[n] = b;
		n++;
	}
	ck_assert_uint_eq(n, quota_rules_nuids(q));
	ck_assert(!quota_rules_next(q, &cursor, &u, &b));
	return n;
}

static uint32_t uid_of(const char *name)
{
	struct passwd *pw = getpwnam(name);

	ck_assert_msg(pw, "no user %s on this machine", name);
	return (uint32_t)pw->pw_uid;
}

/* ---- the table ---- */

START_TEST(test_no_rules)
{
	struct options o = no_opts();
	struct quota_rules *q;
	uint32_t u[4];
	uint64_t b[4];

	q = load_ok(&o, NULL);
	ck_assert_uint_eq(quota_rules_client(q), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 0), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 1000), 0);
	ck_assert_uint_eq(walk(q, u, b, 4), 0);
	ck_assert_int_eq(rep.file_errno, ENOENT);
	ck_assert_uint_eq(rep.rules, 0);
	ck_assert_uint_eq(rep.bad_lines, 0);
	/* No file named, none looked for: nothing to say. */
	ck_assert_str_eq(logged, "");
	quota_rules_free(q);

	q = load_ok(&o, "");
	ck_assert_str_eq(logged, "");
	ck_assert_uint_eq(quota_rules_nuids(q), 0);
	quota_rules_free(q);

	/* NULL is a table without rules, to look up and to free. */
	ck_assert_uint_eq(quota_rules_client(NULL), 0);
	ck_assert_uint_eq(quota_rules_uid(NULL, 0), 0);
	ck_assert_uint_eq(quota_rules_nuids(NULL), 0);
	ck_assert(!quota_rules_next(NULL, &(size_t){ 0 }, u, b));
	quota_rules_free(NULL);
}
END_TEST

START_TEST(test_command_line_only)
{
	struct options o = no_opts();
	struct quota_rules *q;
	uint32_t u[4];
	uint64_t b[4];

	o.quota_client = GIB;
	o.quota_uids[0] = (struct options_quota){ 1000, 4 * GIB };
	o.quota_uids[1] = (struct options_quota){ 0, 512 * MIB };
	o.quota_uids[2] = (struct options_quota){ 70000, 0 };
	o.nquota_uids = 3;
	q = load_ok(&o, NULL);
	ck_assert_uint_eq(quota_rules_client(q), GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1000), 4 * GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 0), 512 * MIB);
	ck_assert_uint_eq(quota_rules_uid(q, 70000), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 999), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 1001), 0);
	ck_assert_uint_eq(walk(q, u, b, 4), 3);
	ck_assert_uint_eq(u[0], 0);
	ck_assert_uint_eq(b[0], 512 * MIB);
	ck_assert_uint_eq(u[1], 1000);
	ck_assert_uint_eq(b[1], 4 * GIB);
	ck_assert_uint_eq(u[2], 70000);
	ck_assert_uint_eq(b[2], 0);
	quota_rules_free(q);
}
END_TEST

/* Every rule kind, every way of writing a size, comments and blanks. */
START_TEST(test_every_rule_kind)
{
	struct options o = no_opts();
	struct quota_rules *q;
	uint32_t nobody = uid_of("nobody");
	uint32_t u[8];
	uint64_t b[8];

	write_conf("# quotas for the test\n"
		   "\n"
		   "client 1G          # every connection\n"
		   "uid 1000 4G\n"
		   "   uid\t1001\t512MiB\t\n"
		   "uid root 512M # a user name\n"
		   "uid nobody 4096\r\n"
		   "\t\t\n"
		   "uid 4294967294 2KB\n"
		   "uid 1002 none\n"
		   "    # indented comment\n"
		   "uid 1003 1T");
	q = load_ok(&o, file);
	ck_assert_uint_eq(rep.rules, 8);
	ck_assert_uint_eq(rep.bad_lines, 0);
	ck_assert_int_eq(rep.file_errno, 0);
	ck_assert_msg(!strstr(logged, "ignored"), "bad lines:\n%s", logged);
	ck_assert_uint_eq(quota_rules_client(q), GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1000), 4 * GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1001), 512 * MIB);
	ck_assert_uint_eq(quota_rules_uid(q, 0), 512 * MIB);
	ck_assert_uint_eq(quota_rules_uid(q, nobody), 4096);
	ck_assert_uint_eq(quota_rules_uid(q, 4294967294u), 2 * KIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1002), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 1003), 1024 * GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1004), 0);
	ck_assert_uint_eq(walk(q, u, b, 8), 7);
	ck_assert_uint_eq(u[0], 0);
	ck_assert_uint_eq(u[6], 4294967294u);
	quota_rules_free(q);

	/* "client none" is no client quota, and a rule all the same. */
	write_conf("client none\n");
	q = load_ok(&o, file);
	ck_assert_uint_eq(rep.rules, 1);
	ck_assert_uint_eq(quota_rules_client(q), 0);
	quota_rules_free(q);
}
END_TEST

/* The command line wins over the file, said with the file's line. */
START_TEST(test_precedence)
{
	struct options o = no_opts();
	struct quota_rules *q;
	char want[400];

	write_conf("client 1G\n"
		   "uid 1000 4G\n"
		   "uid 1001 1G\n"
		   "uid 1002 3G\n");
	o.quota_client = 2 * GIB;
	o.quota_uids[0] = (struct options_quota){ 1000, 8 * GIB };
	o.quota_uids[1] = (struct options_quota){ 1001, 0 };	/* none */
	o.quota_uids[2] = (struct options_quota){ 5, MIB };
	o.nquota_uids = 3;
	q = load_ok(&o, file);
	ck_assert_uint_eq(quota_rules_client(q), 2 * GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1000), 8 * GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1001), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 1002), 3 * GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 5), MIB);
	ck_assert_uint_eq(quota_rules_nuids(q), 4);
	/* Overridden lines are good lines, not bad ones. */
	ck_assert_uint_eq(rep.rules, 4);
	ck_assert_uint_eq(rep.bad_lines, 0);
	snprintf(want, sizeof(want),
		 "<5>%s:1: --quota-client on the command line wins over this line\n",
		 file);
	assert_logged(want);
	snprintf(want, sizeof(want),
		 "<5>%s:2: uid 1000: --quota-uid on the command line wins over this line\n",
		 file);
	assert_logged(want);
	snprintf(want, sizeof(want), "<5>%s:3: uid 1001: --quota-uid", file);
	assert_logged(want);
	ck_assert_uint_eq(count_of(logged, "wins over"), 3);
	quota_rules_free(q);

	/* Without --quota-client, the file's client applies. */
	o.quota_client = 0;
	q = load_ok(&o, file);
	ck_assert_uint_eq(quota_rules_client(q), GIB);
	ck_assert_uint_eq(count_of(logged, "wins over"), 2);
	quota_rules_free(q);
}
END_TEST

/* ---- bad lines ---- */

START_TEST(test_bad_lines)
{
	static const char conf[] =
		"uid 1000 4G\n"				/* 1 */
		"users 1001 1G\n"			/* 2 */
		"uid no-such-user-spanheap 1G\n"	/* 3 */
		"uid 1001 lots\n"			/* 4 */
		"uid 1001 1Q\n"				/* 5 */
		"uid 1001 99999999999T\n"		/* 6 */
		"uid 1001 0\n"				/* 7 */
		"uid 1000 1G\n"				/* 8 */
		"client 1G\n"				/* 9 */
		"client 2G\n"				/* 10 */
		"client\n"				/* 11 */
		"uid\n"					/* 12 */
		"uid 1001\n"				/* 13 */
		"uid 1001 1G extra\n"			/* 14 */
		"client 1G 2G\n"			/* 15 */
		"uid 4294967295 1G\n"			/* 16 */
		"uid 99999999999999999999 1G\n"		/* 17 */
		"uid -1 1G\n"				/* 18 */
		"uid 1001 -1G\n"			/* 19 */
		"uid 1001 1G\n"				/* 20 */
		"Client 1G\n"				/* 21 */
		"uid root 1G\n"				/* 22 */
		"uid 0 2G\n"				/* 23 */
		"uid 1002 \x1b[2J\n"			/* 24 */
		"uid 1003 1G\0 hidden\n"		/* 25 */
		"uid 1004 +1G\n";			/* 26 */
	struct options o = no_opts();
	struct quota_rules *q;

	write_file(file, conf, sizeof(conf) - 1);
	q = load_ok(&o, file);
	assert_bad(2, "unknown keyword 'users' (want client or uid)");
	assert_bad(3, "unknown user 'no-such-user-spanheap'");
	assert_bad(4, BAD_SIZE("lots"));
	assert_bad(5, BAD_SIZE("1Q"));
	assert_bad(6, "size '99999999999T' is too large");
	assert_bad(7, "size 0 (write none for no quota)");
	assert_bad(8, "duplicate uid 1000 (first on line 1)");
	assert_bad(10, "duplicate client (first on line 9)");
	assert_bad(11, "client: missing SIZE (client SIZE)");
	assert_bad(12, "uid: missing USER and SIZE (uid USER SIZE)");
	assert_bad(13, "uid: missing SIZE (uid USER SIZE)");
	assert_bad(14, "uid: unexpected 'extra' after the size");
	assert_bad(15, "client: unexpected '2G' after the size");
	assert_bad(16, "bad uid '4294967295' (uids go up to 4294967294)");
	assert_bad(17, "bad uid '99999999999999999999' (uids go up to 4294967294)");
	assert_bad(18, "unknown user '-1'");
	assert_bad(19, BAD_SIZE("-1G"));
	/* Keywords are lower case. */
	assert_bad(21, "unknown keyword 'Client' (want client or uid)");
	/* A name and a number for one uid are a duplicate too. */
	assert_bad(23, "duplicate uid 0 (first on line 22)");
	/* What is quoted is safe to print: no escape reaches the journal. */
	assert_bad(24, BAD_SIZE("\\x1b[2J"));
	assert_bad(25, "a NUL byte (a quota file is text)");
	assert_bad(26, BAD_SIZE("+1G"));
	ck_assert_msg(!strchr(logged, '\x1b'), "an escape logged:\n%s", logged);
	ck_assert_uint_eq(count_of(logged, "; ignored\n"), 22);
	ck_assert_uint_eq(rep.bad_lines, 22);
	/* Lines 1, 9, 20 and 22 apply; a duplicate's first line wins. */
	ck_assert_uint_eq(rep.rules, 4);
	ck_assert_uint_eq(quota_rules_uid(q, 1000), 4 * GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1001), GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 0), GIB);
	ck_assert_uint_eq(quota_rules_uid(q, 1002), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 1003), 0);
	ck_assert_uint_eq(quota_rules_uid(q, 1004), 0);
	ck_assert_uint_eq(quota_rules_client(q), GIB);
	ck_assert_uint_eq(quota_rules_nuids(q), 3);
	quota_rules_free(q);
}
END_TEST

/* More bad lines than are logged one by one: the rest are counted. */
START_TEST(test_many_bad_lines)
{
	unsigned int nbad = QUOTA_LOG_BAD_MAX + 50;
	size_t cap = (size_t)nbad * 32 + 64, len = 0;
	struct options o = no_opts();
	struct quota_rules *q;
	char *text = malloc(cap), want[400];

	ck_assert_ptr_nonnull(text);
	for (unsigned int i = 0; i < nbad; i++)
		len += (size_t)snprintf(text + len, cap - len, "bogus %u\n", i);
	len += (size_t)snprintf(text + len, cap - len, "uid 7 1M\n");
	write_file(file, text, len);
	free(text);
	q = load_ok(&o, file);
	ck_assert_uint_eq(rep.bad_lines, nbad);
	ck_assert_uint_eq(rep.rules, 1);
	ck_assert_uint_eq(count_of(logged, "unknown keyword"), QUOTA_LOG_BAD_MAX);
	assert_bad(QUOTA_LOG_BAD_MAX, "unknown keyword 'bogus' (want client or uid)");
	snprintf(want, sizeof(want), "<3>%s: 50 more bad lines not shown; ignored\n",
		 file);
	assert_logged(want);
	ck_assert_uint_eq(quota_rules_uid(q, 7), MIB);
	quota_rules_free(q);
}
END_TEST

/* ---- the file ---- */

START_TEST(test_missing_file)
{
	struct options o = no_opts();
	struct quota_rules *q;
	char want[400];

	o.quota_uids[0] = (struct options_quota){ 1000, GIB };
	o.nquota_uids = 1;
	q = load_ok(&o, file);
	ck_assert_int_eq(rep.file_errno, ENOENT);
	ck_assert_uint_eq(rep.rules, 0);
	ck_assert_uint_eq(rep.bad_lines, 0);
	/* The command line's rules, and one notice. */
	ck_assert_uint_eq(quota_rules_uid(q, 1000), GIB);
	snprintf(want, sizeof(want), "<5>%s: no such file", file);
	assert_logged(want);
	ck_assert_uint_eq(count_of(logged, "\n"), 1);
	quota_rules_free(q);
}
END_TEST

START_TEST(test_unreadable_file)
{
	struct options o = no_opts();
	char path[400], want[600];

	/* A directory. */
	load_fails(&o, dir, -EISDIR);
	snprintf(want, sizeof(want), "<3>%s: a directory, not a quota file; none of its rules are loaded",
		 dir);
	assert_logged(want);

	/* A FIFO: refused at once, not waited on. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	load_fails(&o, path, -EINVAL);
	assert_logged("not a regular file; none of its rules are loaded");

	/* A path through a regular file is not "missing". */
	write_conf("uid 1 1G\n");
	snprintf(path, sizeof(path), "%s/quotas.conf/x", dir);
	load_fails(&o, path, -ENOTDIR);
	snprintf(want, sizeof(want), "<3>%s: cannot read the quota file: %s; none of its rules are loaded",
		 path, strerror(ENOTDIR));
	assert_logged(want);
}
END_TEST

/*
 * A file the daemon's user may not read.  Root reads any file: as root
 * the load runs in a child that has become nobody.
 */
START_TEST(test_permission_denied)
{
	struct options o = no_opts();
	struct passwd *nobody;
	char want[600];
	pid_t pid;
	int status;

	write_conf("uid 1 1G\n");
	ck_assert_int_eq(chmod(file, 0600), 0);
	if (geteuid() != 0) {
		ck_assert_int_eq(chmod(file, 0), 0);
		load_fails(&o, file, -EACCES);
		snprintf(want, sizeof(want), "<3>%s: cannot read the quota file: %s; none of its rules are loaded (make it readable by spanheapd's user)",
			 file, strerror(EACCES));
		assert_logged(want);
		return;
	}
	ck_assert_int_eq(chmod(dir, 0755), 0);
	nobody = getpwnam("nobody");
	ck_assert_ptr_nonnull(nobody);
	/* The child logs into the capture the parent set up. */
	capture_begin();
	pid = fork();
	if (pid == 0) {
		struct quota_rules *q = NULL;
		struct quota_load_report r;

		if (setgid(nobody->pw_gid) || setuid(nobody->pw_uid))
			_exit(10);
		if (quota_rules_load(&o, file, &q, &r) != -EACCES || q ||
		    r.file_errno != EACCES)
			_exit(11);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	end_capture();
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the unprivileged load: status %#x; the log:\n%s", status,
		      logged);
	snprintf(want, sizeof(want), "<3>%s: cannot read the quota file: %s; none of its rules are loaded (make it readable by spanheapd's user)",
		 file, strerror(EACCES));
	assert_logged(want);
}
END_TEST

/*
 * A reload that fails leaves the caller's table as it was: the caller
 * swaps only on success.
 */
START_TEST(test_reload_keeps_table)
{
	struct options o = no_opts();
	struct quota_rules *cur, *old;
	char *big;

	write_conf("client 1G\nuid 1000 4G\n");
	cur = load_ok(&o, file);
	old = cur;

	/* The file became a directory. */
	ck_assert_int_eq(unlink(file), 0);
	ck_assert_int_eq(mkdir(file, 0700), 0);
	ck_assert_int_eq(quota_rules_load(&o, file, &cur, &rep), -EISDIR);
	ck_assert_ptr_eq(cur, old);
	ck_assert_uint_eq(quota_rules_uid(cur, 1000), 4 * GIB);
	ck_assert_uint_eq(quota_rules_client(cur), GIB);
	ck_assert_int_eq(rmdir(file), 0);

	/* It grew past the cap. */
	big = malloc(QUOTA_FILE_MAX + 1);
	ck_assert_ptr_nonnull(big);
	memset(big, '#', QUOTA_FILE_MAX);
	big[QUOTA_FILE_MAX] = '\n';
	write_file(file, big, QUOTA_FILE_MAX + 1);
	free(big);
	capture_begin();
	ck_assert_int_eq(quota_rules_load(&o, file, &cur, &rep), -EFBIG);
	end_capture();
	ck_assert_ptr_eq(cur, old);
	ck_assert_uint_eq(quota_rules_uid(cur, 1000), 4 * GIB);

	/* A good file again: a new table, which the caller swaps in. */
	write_conf("uid 1000 2G\n");
	cur = load_ok(&o, file);
	ck_assert_ptr_ne(cur, old);
	ck_assert_uint_eq(quota_rules_uid(cur, 1000), 2 * GIB);
	ck_assert_uint_eq(quota_rules_client(cur), 0);
	/* The old one still answers until freed. */
	ck_assert_uint_eq(quota_rules_uid(old, 1000), 4 * GIB);
	quota_rules_free(old);
	quota_rules_free(cur);
}
END_TEST

/* ---- large files ---- */

/* Exactly QUOTA_FILE_MAX bytes is fine; one more is refused. */
START_TEST(test_size_cap)
{
	struct options o = no_opts();
	struct quota_rules *q;
	char *big = malloc(QUOTA_FILE_MAX + 1), want[400];

	ck_assert_ptr_nonnull(big);
	memset(big, ' ', QUOTA_FILE_MAX + 1);
	memcpy(big, "uid 1 1M\n#", 10);
	big[QUOTA_FILE_MAX - 1] = '\n';
	write_file(file, big, QUOTA_FILE_MAX);
	q = load_ok(&o, file);
	ck_assert_uint_eq(quota_rules_uid(q, 1), MIB);
	ck_assert_uint_eq(rep.bad_lines, 0);
	quota_rules_free(q);

	write_file(file, big, QUOTA_FILE_MAX + 1);
	free(big);
	load_fails(&o, file, -EFBIG);
	snprintf(want, sizeof(want), "<3>%s: larger than %u bytes, the most a quota file may hold; none of its rules are loaded",
		 file, QUOTA_FILE_MAX);
	assert_logged(want);
}
END_TEST

/*
 * QUOTA_LINES_MAX rules, written in a shuffled order, all apply and walk
 * sorted; one more rule line, even a bad one, refuses the file.
 */
START_TEST(test_lines_cap)
{
	size_t cap = (size_t)QUOTA_LINES_MAX * 24 + 64, len = 0, n;
	uint64_t seed = test_seed("quota lines");
	struct options o = no_opts();
	uint32_t *order, *u;
	struct quota_rules *q;
	char *text, want[400];
	uint64_t *b;

	text = malloc(cap);
	order = malloc(QUOTA_LINES_MAX * sizeof(*order));
	u = malloc(QUOTA_LINES_MAX * sizeof(*u));
	b = malloc(QUOTA_LINES_MAX * sizeof(*b));
	ck_assert(text && order && u && b);
	for (uint32_t i = 0; i < QUOTA_LINES_MAX; i++)
		order[i] = i * 3 + 100;
	for (uint32_t i = QUOTA_LINES_MAX - 1; i > 0; i--) {
		uint32_t j = (uint32_t)(test_rand(&seed) % (i + 1)), t;

		t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	len += (size_t)snprintf(text, cap, "# %u rules\n\n", QUOTA_LINES_MAX);
	for (uint32_t i = 0; i < QUOTA_LINES_MAX; i++)
		len += (size_t)snprintf(text + len, cap - len, "uid %u %uK\n",
					order[i], order[i] % 9 + 1);
	ck_assert_uint_le(len, QUOTA_FILE_MAX);
	write_file(file, text, len);
	q = load_ok(&o, file);
	ck_assert_uint_eq(rep.rules, QUOTA_LINES_MAX);
	ck_assert_uint_eq(rep.bad_lines, 0);
	n = walk(q, u, b, QUOTA_LINES_MAX);
	ck_assert_uint_eq(n, QUOTA_LINES_MAX);
	for (uint32_t i = 0; i < QUOTA_LINES_MAX; i++) {
		ck_assert_uint_eq(u[i], i * 3 + 100);
		ck_assert_uint_eq(b[i], (u[i] % 9 + 1) * KIB);
		ck_assert_uint_eq(quota_rules_uid(q, order[i]),
				  (order[i] % 9 + 1) * KIB);
		/* Between two rules there is none. */
		ck_assert_uint_eq(quota_rules_uid(q, i * 3 + 101), 0);
	}
	ck_assert_uint_eq(quota_rules_uid(q, 99), 0);
	quota_rules_free(q);

	len += (size_t)snprintf(text + len, cap - len, "junk\n");
	write_file(file, text, len);
	load_fails(&o, file, -E2BIG);
	snprintf(want, sizeof(want), "<3>%s: more than %u rule lines, the most a quota file may hold; none of its rules are loaded",
		 file, QUOTA_LINES_MAX);
	assert_logged(want);
	/* Refused before any line is looked at: no line's error is said. */
	ck_assert_ptr_null(strstr(logged, "ignored"));
	free(text);
	free(order);
	free(u);
	free(b);
}
END_TEST

/* Many duplicates, each found against its first line. */
START_TEST(test_many_duplicates)
{
	unsigned int nuid = 20000;
	size_t cap = (size_t)nuid * 2 * 24 + 64, len = 0;
	struct options o = no_opts();
	struct quota_rules *q;
	char *text = malloc(cap);

	ck_assert_ptr_nonnull(text);
	for (unsigned int i = 0; i < nuid; i++)
		len += (size_t)snprintf(text + len, cap - len, "uid %u 1M\n", i);
	for (unsigned int i = 0; i < nuid; i++)
		len += (size_t)snprintf(text + len, cap - len, "uid %u 2M\n",
					nuid - 1 - i);
	write_file(file, text, len);
	free(text);
	q = load_ok(&o, file);
	ck_assert_uint_eq(rep.rules, nuid);
	ck_assert_uint_eq(rep.bad_lines, nuid);
	/* The first duplicate, of the last uid, names its first line. */
	assert_bad(nuid + 1, "duplicate uid 19999 (first on line 20000)");
	assert_bad(nuid + 2, "duplicate uid 19998 (first on line 19999)");
	for (unsigned int i = 0; i < nuid; i++)
		ck_assert_uint_eq(quota_rules_uid(q, i), MIB);
	quota_rules_free(q);
}
END_TEST

static Suite *quota_suite(void)
{
	Suite *s = suite_create("quota");
	TCase *tc;

	tc = tcase_create("rules");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_no_rules);
	tcase_add_test(tc, test_command_line_only);
	tcase_add_test(tc, test_every_rule_kind);
	tcase_add_test(tc, test_precedence);
	suite_add_tcase(s, tc);

	tc = tcase_create("bad_lines");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_lines);
	tcase_add_test(tc, test_many_bad_lines);
	suite_add_tcase(s, tc);

	tc = tcase_create("file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_unreadable_file);
	tcase_add_test(tc, test_permission_denied);
	tcase_add_test(tc, test_reload_keeps_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("large");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_size_cap);
	tcase_add_test(tc, test_lines_cap);
	tcase_add_test(tc, test_many_duplicates);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(quota_suite)
