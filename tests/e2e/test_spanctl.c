// SPDX-License-Identifier: MIT
/*
 * Tests for ctl/main.c: the real spanctl ($SPANCTL, else build/spanctl)
 * against the real spanheapd on a private socket.  Its JSON and the
 * daemon's --stats-file are validated against docs/memstats.schema.json
 * with python3-jsonschema.
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
#include "tests/lib/daemon.h"
#include "tests/lib/prom.h"
#include "tests/lib/testlib.h"

#define SCHEMA "docs/memstats.schema.json"
#define PG 4096
#define MAX_ARGS 16

static const char validate_py[] =
	"import json,sys,jsonschema; "
	"jsonschema.validate(json.load(open(sys.argv[1])), "
	"json.load(open(sys.argv[2])))";

/* What one run of spanctl did. */
struct run {
	int code;		/* exit status, 128 + signal if killed */
	char *out, *err;	/* everything it wrote, NUL-terminated */
	uint64_t ns;		/* how long it took */
};

static struct test_daemon td;
static char tmpdir[64];

static const char *spanctl_bin(void)
{
	const char *bin = getenv("SPANCTL");

	return bin && *bin ? bin : "build/spanctl";
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *slurp_fd(int fd)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2) {
			cap *= 2;
			buf = realloc(buf, cap);
			ck_assert_ptr_nonnull(buf);
		}
	}
	ck_assert_int_eq(n, 0);
	buf[len] = 0;
	return buf;
}

static int tmpfile_fd(void)
{
	char path[] = "/tmp/spanctl-test.XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	return fd;
}

/*
 * Run @prog with the NULL-terminated @args, $SPANHEAP_SOCKET set to @env
 * (unset if NULL), stdin from /dev/null, stdout and stderr captured.
 */
static void run_prog_as(uid_t uid, const char *prog, const char *env,
			const char *const *args, struct run *r);

static void run_prog(const char *prog, const char *env,
		     const char *const *args, struct run *r)
{
	run_prog_as(0, prog, env, args, r);
}

/* run_prog() as @uid (and its gid, no groups) unless it is 0. */
static void run_prog_as(uid_t uid, const char *prog, const char *env,
			const char *const *args, struct run *r)
{
	const char *argv[MAX_ARGS];
	int out = tmpfile_fd(), err = tmpfile_fd(), n = 0, status;
	uint64_t t0 = mono_ns();
	pid_t pid;

	argv[n++] = prog;
	for (int i = 0; args && args[i]; i++) {
		ck_assert_int_lt(n, MAX_ARGS - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY);

		if (env)
			setenv(SPANHEAP_SOCKET_ENV, env, 1);
		else
			unsetenv(SPANHEAP_SOCKET_ENV);
		dup2(in, STDIN_FILENO);
		dup2(out, STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		if (uid && (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
			    setresuid(uid, uid, uid) < 0))
			_exit(126);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	r->ns = mono_ns() - t0;
	r->code = WIFEXITED(status) ? WEXITSTATUS(status)
				    : 128 + WTERMSIG(status);
	r->out = slurp_fd(out);
	r->err = slurp_fd(err);
	close(out);
	close(err);
}

/* spanctl --socket <the test daemon's> @args. */
static void ctl_run(const char *const *args, struct run *r)
{
	const char *argv[MAX_ARGS];
	char opt[160];
	int n = 0;

	snprintf(opt, sizeof(opt), "--socket=%s", td.sock);
	argv[n++] = opt;
	for (int i = 0; args[i]; i++) {
		ck_assert_int_lt(n, MAX_ARGS - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	run_prog(spanctl_bin(), NULL, argv, r);
}

/* ctl_run(), expected to exit @code. */
static void ctl_expect(int code, const char *const *args, struct run *r)
{
	ctl_run(args, r);
	ck_assert_msg(r->code == code,
		      "spanctl %s exited %d, want %d\nstdout: %s\nstderr: %s",
		      args[0] ? args[0] : "", r->code, code, r->out, r->err);
}

static void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

static int count_of(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

static void make_tmpdir(void)
{
	test_tmpdir(tmpdir, sizeof(tmpdir), "spanctl-test");
}

static void remove_tmpdir(void)
{
	if (!tmpdir[0])
		return;
	test_tmpdir_remove(tmpdir);
	tmpdir[0] = 0;
}

static void daemon_setup(void)
{
	test_daemon_start(&td, NULL);
}

static void daemon_teardown(void)
{
	test_daemon_stop(&td);
}

/* ---- JSON ---- */

/* @path validates against the schema; python's complaint otherwise. */
static void assert_valid_file(const char *path)
{
	const char *args[] = { "-c", validate_py, path, SCHEMA, NULL };
	struct run r;

	run_prog("/usr/bin/python3", NULL, args, &r);
	ck_assert_msg(r.code == 0, "%s does not validate against %s:\n%s",
		      path, SCHEMA, r.err);
	run_free(&r);
}

static void assert_valid_text(const char *text)
{
	char path[] = "/tmp/spanctl-json.XXXXXX";
	int fd = mkstemp(path);
	size_t len = strlen(text);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	assert_valid_file(path);
	unlink(path);
}

static int64_t jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "no integer %s", key);
	return (int64_t)json_integer_value(v);
}

/* The accounting identities docs/memstats.md promises, or why not. */
static const char *identities_broken(const json_t *st)
{
	const char *keys[] = { "heap_sys", "heap_idle", "heap_inuse",
			       "heap_released", "consumed" };
	int64_t v[5];

	for (int i = 0; i < 5; i++) {
		const json_t *x = json_object_get(st, keys[i]);

		if (!json_is_integer(x))
			return keys[i];
		v[i] = (int64_t)json_integer_value(x);
	}
	if (v[0] != v[1] + v[2])
		return "heap_sys != heap_idle + heap_inuse";
	if (v[3] > v[1])
		return "heap_released > heap_idle";
	if (v[4] != v[0] - v[3])
		return "consumed != heap_sys - heap_released";
	return NULL;
}

static json_t *parse_one_object(const char *text)
{
	json_error_t jerr;
	json_t *st = json_loads(text, 0, &jerr);

	ck_assert_msg(st, "not one JSON value (%s at %d): %s", jerr.text,
		      jerr.position, text);
	ck_assert(json_is_object(st));
	return st;
}

/* The daemon's stats, through spanctl stats --json. */
static json_t *ctl_stats(void)
{
	const char *args[] = { "stats", "--json", NULL };
	const char *why;
	struct run r;
	json_t *st;

	ctl_expect(0, args, &r);
	st = parse_one_object(r.out);
	why = identities_broken(st);
	ck_assert_msg(!why, "%s in %s", why, r.out);
	run_free(&r);
	return st;
}

/* The client named @name in @st's list, or NULL. */
static const json_t *client_named(const json_t *st, const char *name)
{
	const json_t *list = json_object_get(json_object_get(st, "clients"),
					     "list"), *c;
	size_t i;

	json_array_foreach(list, i, c) {
		const char *n = json_string_value(json_object_get(c, "name"));

		if (n && !strcmp(n, name))
			return c;
	}
	return NULL;
}

/* ---- stats ---- */

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
	ck_assert_int_eq(spanheap_connect_named(td.sock, "json\"te\\st", &c),
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

	ck_assert_int_eq(spanheap_connect_named(td.sock, "prom\"te\\st", &c),
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

	ck_assert_int_eq(spanheap_connect_named(td.sock, "ctl-test-client", &c),
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

	ck_assert_int_eq(spanheap_connect_named(td.sock, "ctl-maker", &c), 0);
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
		ck_assert_int_eq(spanheap_connect_named(td.sock, name, &c[i]),
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

		if (spanheap_connect_named(td.sock, "departed", &c))
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

	ck_assert_int_eq(spanheap_connect_named(td.sock, "scav-test", &c), 0);
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

START_TEST(test_socket_option_and_env)
{
	const char *plain[] = { "stats", NULL };
	const char *opt_sep[] = { "--socket", td.sock, "stats", NULL };
	char opt_eq[160], nowhere[160];
	const char *opt_eq_args[] = { opt_eq, "stats", NULL };
	struct run r;

	snprintf(opt_eq, sizeof(opt_eq), "--socket=%s", td.sock);
	snprintf(nowhere, sizeof(nowhere), "%s.nowhere", td.sock);
	/* $SPANHEAP_SOCKET alone. */
	run_prog(spanctl_bin(), td.sock, plain, &r);
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
	snprintf(nowhere, sizeof(nowhere), "%s/none.sock", tmpdir);
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
	snprintf(path, sizeof(path), "%s/none.sock", tmpdir);
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
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/stale.sock", tmpdir);
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

	snprintf(opt, sizeof(opt), "--socket=%s", td.sock);
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
		 td.dir);
	denied_as_nobody(dirmsg, "spanheap group");
	ck_assert_int_eq(chmod(td.dir, 0755), 0);
	/* A root:root socket: no group to suggest. */
	ck_assert_int_eq(chmod(td.sock, 0660), 0);
	ck_assert_int_eq(chown(td.sock, 0, 0), 0);
	denied_as_nobody("mode 0660, owner 0, group 0", "join");
	/* A group of its own: join it. */
	ck_assert_int_eq(chown(td.sock, 0, 1), 0);
	denied_as_nobody("join that group, e.g. usermod -aG", NULL);
	ck_assert_int_eq(chmod(td.dir, 0700), 0);
}
END_TEST

/* ---- the daemon's --stats-file ---- */

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
	snprintf(path, sizeof(path), "%s/m.json", tmpdir);
	snprintf(opt, sizeof(opt), "--stats-file=%s", path);
	test_daemon_start(&td, args);
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
	test_daemon_stop(&td);
	remove_tmpdir();
}
END_TEST

static Suite *spanctl_suite(void)
{
	Suite *s = suite_create("spanctl");
	test_socket_only();
	TCase *tc;

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

	tc = tcase_create("stats_file");
	tcase_add_test(tc, test_stats_file);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(spanctl_suite)
