// SPDX-License-Identifier: MIT
/*
 * Sizes and times as people write them: "64G", "512MiB", "200ms",
 * "1h 30min" (systemd's time span units), and sizes printed back.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "units.h"

int units_parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGT";
	unsigned long long v;
	const char *u;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -ERANGE;
	if (*end) {
		u = strchr(units, toupper((unsigned char)*end));
		if (!u)
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
		end++;
		if (!strcmp(end, "iB") || !strcmp(end, "B"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*ret = (uint64_t)v << shift;
	return 0;
}

static const struct {
	const char *name;
	uint64_t ns;
} time_units[] = {
	{ "us", 1000 }, { "usec", 1000 },
	{ "ms", 1000000 }, { "msec", 1000000 },
	{ "s", 1000000000 }, { "sec", 1000000000 }, { "second", 1000000000 },
	{ "seconds", 1000000000 },
	{ "min", UINT64_C(60) * 1000000000 }, { "minute", UINT64_C(60) * 1000000000 },
	{ "minutes", UINT64_C(60) * 1000000000 }, { "m", UINT64_C(60) * 1000000000 },
	{ "h", UINT64_C(3600) * 1000000000 }, { "hour", UINT64_C(3600) * 1000000000 },
	{ "hours", UINT64_C(3600) * 1000000000 }, { "hr", UINT64_C(3600) * 1000000000 },
	{ "d", UINT64_C(86400) * 1000000000 }, { "day", UINT64_C(86400) * 1000000000 },
	{ "days", UINT64_C(86400) * 1000000000 },
};

/* The nanoseconds of the unit spelled by [s, s + n), or 0. */
static uint64_t time_unit(const char *s, size_t n)
{
	if (n == 0)
		return 1000000000;	/* a bare number is seconds */
	for (size_t i = 0; i < sizeof(time_units) / sizeof(time_units[0]); i++)
		if (strlen(time_units[i].name) == n &&
		    !strncmp(time_units[i].name, s, n))
			return time_units[i].ns;
	return 0;
}

/*
 * Numbers, each with its unit or none, spaces only between them: none
 * before the first or after the last, and no sign, as for every option.
 */
int units_parse_time(const char *s, uint64_t *ret_ns)
{
	uint64_t total = 0;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	while (*s) {
		unsigned long long v;
		const char *u, *e;
		uint64_t unit;
		char *end;

		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno)
			return -ERANGE;
		/* Spaces may part a number from its unit: "5 min". */
		for (u = end; isspace((unsigned char)*u); u++)
			;
		if (!isalpha((unsigned char)*u))
			u = end;
		for (e = u; isalpha((unsigned char)*e); e++)
			;
		unit = time_unit(u, (size_t)(e - u));
		if (!unit)
			return -EINVAL;
		if (v > (UINT64_MAX - total) / unit)
			return -ERANGE;
		total += v * unit;
		s = e;
		if (isspace((unsigned char)*s)) {
			while (isspace((unsigned char)*s))
				s++;
			if (!isdigit((unsigned char)*s))
				return -EINVAL;
		}
	}
	*ret_ns = total;
	return 0;
}

void units_format_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const names[] = { "B", "KiB", "MiB", "GiB", "TiB",
					     "PiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, names[u]);
}
