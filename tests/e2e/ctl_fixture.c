// SPDX-License-Identifier: MIT
/*
 * What the tests of spanctl share (ctl_fixture.h): the real spanctl
 * ($SPANCTL, else build/spanctl) run against the real spanheapd on a
 * private socket, and the checks of what it prints.
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

#define SCHEMA "docs/memstats.schema.json"
#define MAX_ARGS 16

static const char validate_py[] =
	"import json,sys,jsonschema; "
	"jsonschema.validate(json.load(open(sys.argv[1])), "
	"json.load(open(sys.argv[2])))";

/* What one run of spanctl did. */
struct test_daemon ctl_td;
char ctl_tmpdir[64];

const char *spanctl_bin(void)
{
	const char *bin = getenv("SPANCTL");

	return bin && *bin ? bin : "build/spanctl";
}

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

char *slurp_fd(int fd)
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

int tmpfile_fd(void)
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

void run_prog(const char *prog, const char *env,
	      const char *const *args, struct run *r)
{
	run_prog_as(0, prog, env, args, r);
}

/* run_prog() as @uid (and its gid, no groups) unless it is 0. */
void run_prog_as(uid_t uid, const char *prog, const char *env,
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
void ctl_run(const char *const *args, struct run *r)
{
	const char *argv[MAX_ARGS];
	char opt[160];
	int n = 0;

	snprintf(opt, sizeof(opt), "--socket=%s", ctl_td.sock);
	argv[n++] = opt;
	for (int i = 0; args[i]; i++) {
		ck_assert_int_lt(n, MAX_ARGS - 1);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	run_prog(spanctl_bin(), NULL, argv, r);
}

/* ctl_run(), expected to exit @code. */
void ctl_expect(int code, const char *const *args, struct run *r)
{
	ctl_run(args, r);
	ck_assert_msg(r->code == code,
		      "spanctl %s exited %d, want %d\nstdout: %s\nstderr: %s",
		      args[0] ? args[0] : "", r->code, code, r->out, r->err);
}

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

int count_of(const char *text, const char *what)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
		n++;
	return n;
}

void make_tmpdir(void)
{
	test_tmpdir(ctl_tmpdir, sizeof(ctl_tmpdir), "spanctl-test");
}

void remove_tmpdir(void)
{
	if (!ctl_tmpdir[0])
		return;
	test_tmpdir_remove(ctl_tmpdir);
	ctl_tmpdir[0] = 0;
}

void daemon_setup(void)
{
	test_daemon_start(&ctl_td, NULL);
}

void daemon_teardown(void)
{
	test_daemon_stop(&ctl_td);
}

/* ---- JSON ---- */

/* @path validates against the schema; python's complaint otherwise. */
void assert_valid_file(const char *path)
{
	const char *args[] = { "-c", validate_py, path, SCHEMA, NULL };
	struct run r;

	run_prog("/usr/bin/python3", NULL, args, &r);
	ck_assert_msg(r.code == 0, "%s does not validate against %s:\n%s",
		      path, SCHEMA, r.err);
	run_free(&r);
}

void assert_valid_text(const char *text)
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

int64_t jnum(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "no integer %s", key);
	return (int64_t)json_integer_value(v);
}

/* The accounting identities docs/memstats.md promises, or why not. */
const char *identities_broken(const json_t *st)
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

json_t *parse_one_object(const char *text)
{
	json_error_t jerr;
	json_t *st = json_loads(text, 0, &jerr);

	ck_assert_msg(st, "not one JSON value (%s at %d): %s", jerr.text,
		      jerr.position, text);
	ck_assert(json_is_object(st));
	return st;
}

/* The daemon's stats, through spanctl stats --json. */
json_t *ctl_stats(void)
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
const json_t *client_named(const json_t *st, const char *name)
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

