/* SPDX-License-Identifier: MIT */
/*
 * What the tests of spanctl share (ctl_fixture.c): a daemon on a private
 * socket per test, spanctl run against it, and checks of its output.
 */
#ifndef SPANHEAP_TESTS_E2E_CTL_FIXTURE_H
#define SPANHEAP_TESTS_E2E_CTL_FIXTURE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/lib/daemon.h"

/* The daemon of the test that runs (daemon_setup()), and its temp dir. */
extern struct test_daemon ctl_td;
extern char ctl_tmpdir[64];

/* What a program run did. */
struct run {
	int code;		/* exit status, 128 + signal if killed */
	char *out, *err;	/* everything it wrote, NUL-terminated */
	uint64_t ns;		/* how long it took */
};

/* $SPANCTL, else build/spanctl. */
const char *spanctl_bin(void);

/* CLOCK_MONOTONIC in ns. */
uint64_t mono_ns(void);

/* All that can be read from @fd, from its start, NUL-terminated. */
char *slurp_fd(int fd);

/* An unlinked temporary file, to catch a program's output. */
int tmpfile_fd(void);

/* Run @prog with @args, $SPANHEAP_SOCKET @env (unset if NULL), into @r. */
void run_prog(const char *prog, const char *env,
	      const char *const *args, struct run *r);

/* run_prog() as @uid (and its gid, no groups) unless it is 0. */
void run_prog_as(uid_t uid, const char *prog, const char *env,
		 const char *const *args, struct run *r);

/* spanctl --socket <the test daemon's> @args. */
void ctl_run(const char *const *args, struct run *r);

/* ctl_run(), expected to exit @code. */
void ctl_expect(int code, const char *const *args, struct run *r);

void run_free(struct run *r);

/* How many times @what occurs in @text. */
int count_of(const char *text, const char *what);

/* ctl_tmpdir, made and removed with what is in it. */
void make_tmpdir(void);
void remove_tmpdir(void);

/* The fixture: ctl_td on a socket in ctl_tmpdir, then both gone. */
void daemon_setup(void);
void daemon_teardown(void);

/* @path validates against the schema; python's complaint otherwise. */
void assert_valid_file(const char *path);

/* The same for @text. */
void assert_valid_text(const char *text);

/* The integer @key of @o (the test fails if it is none). */
int64_t jnum(const json_t *o, const char *key);

/* The accounting identities docs/memstats.md promises, or why not. */
const char *identities_broken(const json_t *st);

/* @text as one JSON object, nothing after it. */
json_t *parse_one_object(const char *text);

/* The daemon's stats, through spanctl stats --json. */
json_t *ctl_stats(void);

/* The client named @name in @st's list, or NULL. */
const json_t *client_named(const json_t *st, const char *name);

#endif
