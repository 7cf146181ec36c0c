// SPDX-License-Identifier: MIT
/* Tests for shm/units.c: sizes and systemd-style times. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/units.h"
#include "tests/lib/testlib.h"

#define US UINT64_C(1000)
#define MS UINT64_C(1000000)
#define SEC UINT64_C(1000000000)
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)
#define DAY (86400 * SEC)
#define POISON UINT64_C(0xdeadbeefdeadbeef)

/* ---- units_parse_size ---- */

static void size_ok(const char *s, uint64_t want)
{
	uint64_t v = POISON;
	int r = units_parse_size(s, &v);

	ck_assert_msg(r == 0, "size \"%s\": %d", s, r);
	ck_assert_msg(v == want, "size \"%s\" = %llu, want %llu", s,
		      (unsigned long long)v, (unsigned long long)want);
}

/* @s is refused with @err, and the output is not written. */
static void size_bad(const char *s, int err)
{
	uint64_t v = POISON;
	int r = units_parse_size(s, &v);

	ck_assert_msg(r == err, "size \"%s\": %d, want %d", s, r, err);
	ck_assert_msg(v == POISON, "size \"%s\": output written", s);
}

START_TEST(test_size_plain)
{
	size_ok("0", 0);
	size_ok("1", 1);
	size_ok("4096", 4096);
	size_ok("007", 7);
	size_ok("18446744073709551615", UINT64_MAX);
}
END_TEST

START_TEST(test_size_suffixes)
{
	size_ok("1K", 1024);
	size_ok("1k", 1024);
	size_ok("2M", UINT64_C(2) << 20);
	size_ok("3G", UINT64_C(3) << 30);
	size_ok("4T", UINT64_C(4) << 40);
	size_ok("64g", UINT64_C(64) << 30);
	size_ok("0K", 0);
	size_ok("1KiB", 1024);
	size_ok("1KB", 1024);
	size_ok("512MiB", UINT64_C(512) << 20);
	size_ok("512MB", UINT64_C(512) << 20);
	size_ok("1GiB", UINT64_C(1) << 30);
	size_ok("1TB", UINT64_C(1) << 40);
	size_ok("16777215T", UINT64_MAX - ((UINT64_C(1) << 40) - 1));
}
END_TEST

START_TEST(test_size_bad_strings)
{
	static const char *const bad[] = {
		"", "K", "KiB", "-1", "+1", " 1", "1 ", "1 K", "1X", "1E",
		"-0", "+0", "\t1", "\n1", "1\n", "-18446744073709551615",
		"- 1", " 1G", "1G ",
		"1P", "1KiBB", "1Ki", "1iB", "1Kb", "1KIB", "1.5G",
		"0x10", "1K2", "1KK", "one",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		size_bad(bad[i], -EINVAL);
}
END_TEST

/* Too big for 64 bits is -ERANGE, whether in the digits or the unit. */
START_TEST(test_size_overflow)
{
	size_bad("16777216T", -ERANGE);
	size_bad("17179869184G", -ERANGE);
	size_bad("18014398509481984K", -ERANGE);
	size_bad("18446744073709551615K", -ERANGE);
	size_bad("18446744073709551616", -ERANGE);
	size_bad("99999999999999999999999", -ERANGE);
}
END_TEST

/* ---- units_parse_time, as options_parse() uses it ---- */

static void time_ok(const char *s, uint64_t want)
{
	uint64_t v = POISON;
	int r = units_parse_time(s, &v);

	ck_assert_msg(r == 0, "time \"%s\": %d", s, r);
	ck_assert_msg(v == want, "time \"%s\" = %llu, want %llu", s,
		      (unsigned long long)v, (unsigned long long)want);
}

static void time_bad(const char *s, int err)
{
	uint64_t v = POISON;
	int r = units_parse_time(s, &v);

	ck_assert_msg(r == err, "time \"%s\": %d, want %d", s, r, err);
	ck_assert_msg(v == POISON, "time \"%s\": output written", s);
}

START_TEST(test_time_units)
{
	time_ok("7us", 7 * US);
	time_ok("7usec", 7 * US);
	time_ok("200ms", 200 * MS);
	time_ok("200msec", 200 * MS);
	time_ok("5s", 5 * SEC);
	time_ok("5sec", 5 * SEC);
	time_ok("1second", SEC);
	time_ok("5seconds", 5 * SEC);
	time_ok("5min", 5 * MIN);
	time_ok("5m", 5 * MIN);
	time_ok("1minute", MIN);
	time_ok("5minutes", 5 * MIN);
	time_ok("2h", 2 * HOUR);
	time_ok("2hr", 2 * HOUR);
	time_ok("1hour", HOUR);
	time_ok("2hours", 2 * HOUR);
	time_ok("3d", 3 * DAY);
	time_ok("1day", DAY);
	time_ok("3days", 3 * DAY);
	time_ok("0ms", 0);
}
END_TEST

START_TEST(test_time_bare_seconds)
{
	time_ok("90", 90 * SEC);
	time_ok("0", 0);
	time_ok("18446744073", UINT64_C(18446744073) * SEC);
}
END_TEST

START_TEST(test_time_combos)
{
	time_ok("1h 30min", HOUR + 30 * MIN);
	time_ok("1h30min", HOUR + 30 * MIN);
	time_ok("1h   30min", HOUR + 30 * MIN);
	time_ok("5 min", 5 * MIN);
	time_ok("1d 2h 3min 4s 5ms 6us",
		DAY + 2 * HOUR + 3 * MIN + 4 * SEC + 5 * MS + 6 * US);
	time_ok("1s 500ms", SEC + 500 * MS);
	time_ok("2min 30", 2 * MIN + 30 * SEC);
	time_ok("1h 1h", 2 * HOUR);
}
END_TEST

START_TEST(test_time_bad)
{
	static const char *const bad[] = {
		"", "   ", "s", "ms", "-5s", "+5s", "5x", "5 mins", "5S", "5H",
		"5M", "5y", "1.5s", "1h,30min", "1h-30min", "5 s x", "five",
		"5_s", "0x10s",
		/* No space before or after, no sign: as every option. */
		"  90  ", " 90", "90 ", "\t5s", "5s\n", "1h 30min ", " 1h 30min",
		"-0", "+0", "-18446744073709551615", "1h -30min", "1h +30min",
		"5 ",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		time_bad(bad[i], -EINVAL);
}
END_TEST

START_TEST(test_time_overflow)
{
	time_ok("213503d", UINT64_C(213503) * DAY);
	time_bad("213504d", -ERANGE);
	time_bad("213503d 213503d", -ERANGE);
	time_bad("18446744073709551616", -ERANGE);
	time_bad("18446744073709551615us", -ERANGE);
	time_bad("18446744074", -ERANGE);
	time_bad("1h 18446744073", -ERANGE);
}
END_TEST

START_TEST(test_format_size)
{
	char buf[32];

	units_format_size(buf, sizeof(buf), 512);
	ck_assert_str_eq(buf, "512 B");
	units_format_size(buf, sizeof(buf), UINT64_C(3) << 29);
	ck_assert_str_eq(buf, "1.5 GiB");
	units_format_size(buf, sizeof(buf), UINT64_C(64) << 30);
	ck_assert_str_eq(buf, "64.0 GiB");
}
END_TEST

static Suite *units_suite(void)
{
	Suite *s = suite_create("units");
	TCase *tc;

	tc = tcase_create("parse_size");
	tcase_add_test(tc, test_size_plain);
	tcase_add_test(tc, test_size_suffixes);
	tcase_add_test(tc, test_size_bad_strings);
	tcase_add_test(tc, test_size_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("parse_time");
	tcase_add_test(tc, test_time_units);
	tcase_add_test(tc, test_time_bare_seconds);
	tcase_add_test(tc, test_time_combos);
	tcase_add_test(tc, test_time_bad);
	tcase_add_test(tc, test_time_overflow);
	suite_add_tcase(s, tc);

	tc = tcase_create("format_size");
	tcase_add_test(tc, test_format_size);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(units_suite)
