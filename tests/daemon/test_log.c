// SPDX-License-Identifier: MIT
/*
 * Tests for daemon/log.c: the one-write lines with their priority
 * prefix, and the rate limit that keeps lines a client can cause from
 * filling the journal (log_limit_check() on an injected clock, and
 * log_limited()'s "suppressed" suffix).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tests/daemon/capture.h"
#include "tests/lib/testlib.h"

static const char *out;

/* Restore stderr; what was written goes to out. */
static void end_capture(void)
{
	out = capture_end();
}

/*
 * At a terminal a person reads the lines: no "<N>" prefix.  Under
 * systemd (JOURNAL_STREAM) or into a file or pipe: the prefix.
 */
START_TEST(test_msg_prefix_only_off_a_terminal)
{
	char buf[256], *name;
	int master, slave, saved_err;
	ssize_t n;

	master = posix_openpt(O_RDWR | O_NOCTTY);
	ck_assert_int_ge(master, 0);
	ck_assert_int_eq(grantpt(master), 0);
	ck_assert_int_eq(unlockpt(master), 0);
	name = ptsname(master);
	ck_assert_ptr_nonnull(name);
	slave = open(name, O_RDWR | O_NOCTTY);
	ck_assert_int_ge(slave, 0);
	fflush(stderr);
	saved_err = dup(STDERR_FILENO);
	ck_assert_int_eq(dup2(slave, STDERR_FILENO), STDERR_FILENO);
	unsetenv("JOURNAL_STREAM");
	log_warn("to a person");
	setenv("JOURNAL_STREAM", "8:1234", 1);
	log_warn("to the journal");
	unsetenv("JOURNAL_STREAM");
	fflush(stderr);
	ck_assert_int_eq(dup2(saved_err, STDERR_FILENO), STDERR_FILENO);
	close(saved_err);
	close(slave);
	n = read(master, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = 0;
	close(master);
	/* The terminal turns \n into \r\n. */
	ck_assert_msg(!strncmp(buf, "to a person\r\n<4>to the journal\r\n", n),
		      "got '%s'", buf);

	capture_begin();
	log_warn("to a file");
	end_capture();
	ck_assert_str_eq(out, "<4>to a file\n");
}
END_TEST

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* ---- log_msg ---- */

START_TEST(test_msg_prefix_and_newline)
{
	capture_begin();
	log_warn("a %s of %d", "line", 7);
	log_info("second");
	end_capture();
	ck_assert_str_eq(out, "<4>a line of 7\n<6>second\n");
}
END_TEST

/* A line too long for the buffer is cut, but still ends the line. */
START_TEST(test_msg_long_line_cut)
{
	static char big[4000];

	memset(big, 'x', sizeof(big) - 1);
	capture_begin();
	log_err("%s", big);
	end_capture();
	ck_assert_uint_eq(count_lines(out), 1);
	ck_assert_uint_eq(strlen(out), 1023);
	ck_assert(!strncmp(out, "<3>xxx", 6));
	ck_assert_int_eq(out[1022], '\n');
}
END_TEST

/* ---- log_limit_check ---- */

START_TEST(test_limit_burst_then_window)
{
	struct log_limit l = { 0 };
	uint64_t missed = 99;

	/* A zero state at time 0 is a fresh limit. */
	for (int i = 0; i < 3; i++) {
		missed = 99;
		ck_assert(log_limit_check(&l, 3, 100, 0, &missed));
		ck_assert_uint_eq(missed, 0);
	}
	missed = 99;
	ck_assert(!log_limit_check(&l, 3, 100, 1, &missed));
	ck_assert(!log_limit_check(&l, 3, 100, 50, &missed));
	ck_assert(!log_limit_check(&l, 3, 100, 99, &missed));
	/* Nothing is written when the line is suppressed. */
	ck_assert_uint_eq(missed, 99);
	/* The next window: the first line says what was missed. */
	ck_assert(log_limit_check(&l, 3, 100, 100, &missed));
	ck_assert_uint_eq(missed, 3);
	ck_assert(log_limit_check(&l, 3, 100, 150, &missed));
	ck_assert_uint_eq(missed, 0);
	ck_assert(log_limit_check(&l, 3, 100, 199, &missed));
	ck_assert(!log_limit_check(&l, 3, 100, 199, &missed));
	/* A window begins at the first line after the last one ended. */
	ck_assert(log_limit_check(&l, 3, 100, 1000, &missed));
	ck_assert_uint_eq(missed, 1);
	ck_assert(log_limit_check(&l, 3, 100, 1099, &missed));
	ck_assert(log_limit_check(&l, 3, 100, 1099, &missed));
	ck_assert(!log_limit_check(&l, 3, 100, 1099, &missed));
}
END_TEST

/* However many calls, a window never lets more than its burst through. */
START_TEST(test_limit_bounded)
{
	struct log_limit l = { 0 };
	unsigned int printed = 0;
	uint64_t missed, total_missed = 0;

	for (uint64_t t = 0; t < 100000; t++) {
		if (log_limit_check(&l, 5, 1000, t, &missed)) {
			printed++;
			total_missed += missed;
		}
	}
	ck_assert_uint_eq(printed, 5 * 100);
	/* Every suppressed line but the last window's is reported. */
	ck_assert_uint_eq(total_missed + l.missed, 100000 - printed);
}
END_TEST

/* A clock that goes back starts a window rather than locking up. */
START_TEST(test_limit_clock_back)
{
	struct log_limit l = { 0 };
	uint64_t missed;

	ck_assert(log_limit_check(&l, 1, 100, 5000, &missed));
	ck_assert(!log_limit_check(&l, 1, 100, 5001, &missed));
	ck_assert(log_limit_check(&l, 1, 100, 10, &missed));
	ck_assert_uint_eq(missed, 1);
}
END_TEST

START_TEST(test_limit_missed_saturates)
{
	struct log_limit l = { .begun = true, .begin_ns = 0,
			       .printed = 1, .missed = UINT64_MAX - 1 };
	uint64_t missed;

	ck_assert(!log_limit_check(&l, 1, 100, 1, &missed));
	ck_assert(!log_limit_check(&l, 1, 100, 2, &missed));
	ck_assert_uint_eq(l.missed, UINT64_MAX);
	ck_assert(log_limit_check(&l, 1, 100, 100, &missed));
	ck_assert_uint_eq(missed, UINT64_MAX);
}
END_TEST

/* ---- log_limited ---- */

START_TEST(test_limited_lines)
{
	struct log_limit l = { 0 };
	char want[64];

	capture_begin();
	for (int i = 0; i < LOG_LIMIT_BURST + 7; i++)
		log_limited(&l, 6, "event %d", i);
	/* As if the window had ended: the next line reports the 7. */
	l.begin_ns -= LOG_LIMIT_INTERVAL_NS;
	log_limited(&l, 6, "event last");
	log_limited(&l, 6, "event after");
	end_capture();
	ck_assert_uint_eq(count_lines(out), LOG_LIMIT_BURST + 2);
	ck_assert(!strncmp(out, "<6>event 0\n<6>event 1\n", 22));
	snprintf(want, sizeof(want), "<6>event %d\n", LOG_LIMIT_BURST - 1);
	ck_assert_ptr_nonnull(strstr(out, want));
	snprintf(want, sizeof(want), "<6>event %d\n", LOG_LIMIT_BURST);
	ck_assert_ptr_null(strstr(out, want));
	ck_assert_ptr_nonnull(strstr(out,
		"\n<6>event last (7 similar messages suppressed)\n"
		"<6>event after\n"));
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc;

	tc = tcase_create("log_msg");
	tcase_add_test(tc, test_msg_prefix_and_newline);
	tcase_add_test(tc, test_msg_long_line_cut);
	tcase_add_test(tc, test_msg_prefix_only_off_a_terminal);
	suite_add_tcase(s, tc);

	tc = tcase_create("log_limit_check");
	tcase_add_test(tc, test_limit_burst_then_window);
	tcase_add_test(tc, test_limit_bounded);
	tcase_add_test(tc, test_limit_clock_back);
	tcase_add_test(tc, test_limit_missed_saturates);
	suite_add_tcase(s, tc);

	tc = tcase_create("log_limited");
	tcase_add_test(tc, test_limited_lines);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(log_suite)
