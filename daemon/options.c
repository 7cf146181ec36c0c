// SPDX-License-Identifier: MIT
/*
 * spanheapd's command line: getopt_long, sizes and systemd-style times.
 * Every value is checked here; main() prints the one-line reason with a
 * hint to --help and exits 2 before anything is created.
 *
 * A number is its digits and nothing else.  strtoul() alone would take
 * leading spaces and a sign, and wrap a negative value around: "-0" is
 * 0 and "-18446744073709551615" is 1.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "pressure.h"
#include "shm/arena.h"
#include "shm/heap.h"
#include "shm/units.h"

static const char usage[] =
	"Usage: spanheapd [OPTION]...\n"
	"Serve page spans of one shared-memory arena to local clients.\n"
	"\n"
	"  --socket=PATH          listen on PATH (default " DEFAULT_SOCKET ")\n"
	"  --socket-mode=MODE     socket permissions, octal (default 0660)\n"
	"  --socket-group=GROUP   socket group, a name or a number\n"
	"  --arena-size=SIZE      arena bytes, suffixes K M G T (default 64G)\n"
	"  --scavenge-after=TIME  release spans free this long (default 5min)\n"
	"  --gc-after=TIME        force a GC pass when none ran this long (default 2min)\n"
	"  --reconnect-grace=TIME how long a client may come back after a restart\n"
	"                         before what it held is freed (default 30s)\n"
	"  --max-clients=N        refuse connections beyond N (default 1024)\n"
	"  --max-objects=N        shared objects live at once (default 1048576)\n"
	"  --max-refs=N           references to them held at once (default 4194304)\n"
	"  --magazine-bytes=SIZE  bytes each client's magazine may cache (default\n"
	"                         4M; 0: no magazines, every span by the socket)\n"
	"  --trace                print scavenger trace lines (scvgN: ...)\n"
	"  --stats-file=PATH      rewrite MemStats JSON here every tick\n"
	"  --metrics-listen=ADDR:PORT\n"
	"                         serve Prometheus metrics over HTTP at\n"
	"                         http://ADDR:PORT/metrics (default off; ADDR\n"
	"                         127.0.0.1, [::1] or a host name, none for\n"
	"                         loopback; port 0: a free one, logged)\n"
	"  --memory-limit=SIZE    never hold more than SIZE of the arena in memory;\n"
	"                         N% of what the cgroup or machine allows, or max\n"
	"                         (default 80%)\n"
	"  --quota-client=SIZE    bytes one connection may hold (default none)\n"
	"  --quota-uid=UID:SIZE   bytes all connections of UID (a number or a user\n"
	"                         name) may hold; repeatable\n"
	"  --quota-file=PATH      more quotas, reread on SIGHUP (default\n"
	"                         " DEFAULT_QUOTA_FILE "; '' for none)\n"
	"  --scavenge-policy=delay|paced\n"
	"                         delay: release spans free --scavenge-after;\n"
	"                         paced: keep at most the headroom above the recent\n"
	"                         peak in use, at under 1% of a CPU (default delay)\n"
	"  --scavenge-headroom=PCT  paced: percent kept above the peak (default 10)\n"
	"  --pressure-trigger=SPEC  PSI trigger that releases idle memory at once\n"
	"                         (default \"" DEFAULT_PRESSURE_TRIGGER "\"; off)\n"
	"  -h, --help             show this and exit\n"
	"  --version              show the version and exit\n"
	"\n"
	"TIME takes systemd-style units: us, ms, s, min, h, d (\"200ms\", \"5min\").\n";

const char *options_usage(void)
{
	return usage;
}

/*
 * @s in @base (at most 10): digits only, no sign, no space; at most @max.
 * Return: 0, -EINVAL if malformed, -ERANGE if above @max.
 */
static int parse_digits(const char *s, int base, unsigned long long max,
			unsigned long long *ret)
{
	unsigned long long v;
	char *end;

	if (!*s)
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p >= '0' + base)
			return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, base);
	if (errno || *end || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

static int parse_mode(const char *s, mode_t *ret)
{
	unsigned long long v;
	int r = parse_digits(s, 8, 07777, &v);

	if (r == 0)
		*ret = (mode_t)v;
	return r;
}

/* A number below (gid_t)-1 (which means no group), or a group's name. */
static int parse_group(const char *s, gid_t *ret)
{
	unsigned long long v;
	struct group *g;
	int r = parse_digits(s, 10, (gid_t)-2, &v);

	if (r != -EINVAL) {
		if (r == 0)
			*ret = (gid_t)v;
		return r;
	}
	/* Signed or spaced, it is a number gone wrong, not a name. */
	if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -EINVAL;
	g = getgrnam(s);
	if (!g)
		return -ENOENT;
	*ret = g->gr_gid;
	return 0;
}

enum {
	OPT_SOCKET = 256,
	OPT_SOCKET_MODE,
	OPT_SOCKET_GROUP,
	OPT_ARENA_SIZE,
	OPT_SCAVENGE_AFTER,
	OPT_GC_AFTER,
	OPT_RECONNECT_GRACE,
	OPT_MAX_CLIENTS,
	OPT_MAX_OBJECTS,
	OPT_MAX_REFS,
	OPT_MAGAZINE_BYTES,
	OPT_TRACE,
	OPT_STATS_FILE,
	OPT_METRICS_LISTEN,
	OPT_METRICS_TIMEOUT,
	OPT_MEMORY_LIMIT,
	OPT_QUOTA_CLIENT,
	OPT_QUOTA_UID,
	OPT_QUOTA_FILE,
	OPT_SCAVENGE_POLICY,
	OPT_SCAVENGE_HEADROOM,
	OPT_PRESSURE_TRIGGER,
	OPT_PRESSURE_INJECT,
	OPT_HELP,
	OPT_VERSION,
};

static const struct option long_options[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "socket-mode", required_argument, NULL, OPT_SOCKET_MODE },
	{ "socket-group", required_argument, NULL, OPT_SOCKET_GROUP },
	{ "arena-size", required_argument, NULL, OPT_ARENA_SIZE },
	{ "scavenge-after", required_argument, NULL, OPT_SCAVENGE_AFTER },
	{ "gc-after", required_argument, NULL, OPT_GC_AFTER },
	{ "reconnect-grace", required_argument, NULL, OPT_RECONNECT_GRACE },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "max-objects", required_argument, NULL, OPT_MAX_OBJECTS },
	{ "max-refs", required_argument, NULL, OPT_MAX_REFS },
	{ "magazine-bytes", required_argument, NULL, OPT_MAGAZINE_BYTES },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
	{ "metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN },
	/* Hidden, for the tests: idle seconds before an HTTP close. */
	{ "metrics-timeout", required_argument, NULL, OPT_METRICS_TIMEOUT },
	{ "memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT },
	{ "quota-client", required_argument, NULL, OPT_QUOTA_CLIENT },
	{ "quota-uid", required_argument, NULL, OPT_QUOTA_UID },
	{ "quota-file", required_argument, NULL, OPT_QUOTA_FILE },
	{ "scavenge-policy", required_argument, NULL, OPT_SCAVENGE_POLICY },
	{ "scavenge-headroom", required_argument, NULL, OPT_SCAVENGE_HEADROOM },
	{ "pressure-trigger", required_argument, NULL, OPT_PRESSURE_TRIGGER },
	/* Hidden, for the tests: a FIFO whose bytes are pressure events. */
	{ "pressure-inject", required_argument, NULL, OPT_PRESSURE_INJECT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/*
 * --metrics-listen's ADDR:PORT into @host and @port: "[v6]:PORT",
 * "HOST:PORT" (an IPv4 address or a name, no colon in it) or ":PORT",
 * which leaves @host empty (loopback).  Nothing is resolved here; the
 * daemon resolves and binds it at its start.  Return: 0 or -EINVAL.
 */
static int parse_listen(const char *s, char host[OPTIONS_METRICS_HOST_MAX],
			int *port)
{
	const char *colon = strrchr(s, ':'), *h = s, *he;
	unsigned long long n;
	size_t len;

	if (!colon || parse_digits(colon + 1, 10, 65535, &n))
		return -EINVAL;
	he = colon;
	if (*s == '[') {
		if (colon == s || colon[-1] != ']')
			return -EINVAL;
		h = s + 1;
		he = colon - 1;
		if (h == he)
			return -EINVAL;
		for (const char *p = h; p < he; p++)
			if (!isxdigit((unsigned char)*p) && *p != ':' &&
			    *p != '.')
				return -EINVAL;
	} else {
		for (const char *p = h; p < he; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-')
				return -EINVAL;
	}
	len = (size_t)(he - h);
	if (len >= OPTIONS_METRICS_HOST_MAX)
		return -EINVAL;
	memcpy(host, h, len);
	host[len] = '\0';
	*port = (int)n;
	return 0;
}

/* A time for option @name; returns 0 or -EINVAL with @err filled. */
static int set_time(const char *name, const char *arg, uint64_t *ret,
		    char *err, size_t errlen)
{
	int r = units_parse_time(arg, ret);

	if (r == -ERANGE)
		snprintf(err, errlen, "invalid --%s '%s': too long, want at most 213503d",
			 name, arg);
	else if (r < 0)
		snprintf(err, errlen,
			 "invalid --%s '%s': want a time such as 200ms, 5min or \"1h 30min\"",
			 name, arg);
	return r < 0 ? -EINVAL : 0;
}

/* A user name or a number below (uid_t)-1; 0, -EINVAL or -ENOENT. */
static int parse_user(const char *s, uint32_t *ret)
{
	unsigned long long v;
	struct passwd *pw;
	int r = parse_digits(s, 10, (uid_t)-2, &v);

	if (r != -EINVAL) {
		if (r == 0)
			*ret = (uint32_t)v;
		return r;
	}
	if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
		return -EINVAL;
	pw = getpwnam(s);
	if (!pw)
		return -ENOENT;
	*ret = pw->pw_uid;
	return 0;
}

/* A quota's SIZE: units_parse_size()'s, or "none" (0). */
static int parse_quota_size(const char *s, uint64_t *ret)
{
	if (!strcmp(s, "none")) {
		*ret = 0;
		return 0;
	}
	return units_parse_size(s, ret) || !*ret ? -EINVAL : 0;
}

/* --quota-uid=UID:SIZE; the last one for a uid wins. */
static int set_quota_uid(struct options *o, const char *arg, char *err,
			 size_t errlen)
{
	const char *colon = strrchr(arg, ':');
	char user[256];
	uint64_t bytes;
	uint32_t uid = 0;
	unsigned int i;
	int r;

	if (!colon || (size_t)(colon - arg) >= sizeof(user) ||
	    parse_quota_size(colon + 1, &bytes)) {
		snprintf(err, errlen,
			 "invalid --quota-uid '%s': want UID:SIZE, such as 1000:4G or alice:512M (SIZE none: no quota)",
			 arg);
		return -EINVAL;
	}
	memcpy(user, arg, (size_t)(colon - arg));
	user[colon - arg] = '\0';
	r = parse_user(user, &uid);
	if (r < 0) {
		snprintf(err, errlen,
			 r == -ENOENT ? "unknown user '%s' in --quota-uid: want a user name or a number" :
					"invalid uid '%s' in --quota-uid: want a user name or a number",
			 user);
		return -EINVAL;
	}
	for (i = 0; i < o->nquota_uids; i++)
		if (o->quota_uids[i].uid == uid)
			break;
	if (i == OPTIONS_QUOTA_UIDS_MAX) {
		snprintf(err, errlen,
			 "too many --quota-uid options (at most %d): put the rest in --quota-file",
			 OPTIONS_QUOTA_UIDS_MAX);
		return -EINVAL;
	}
	if (i == o->nquota_uids)
		o->nquota_uids++;
	o->quota_uids[i].uid = uid;
	o->quota_uids[i].bytes = bytes;
	return 0;
}

/* --memory-limit=SIZE, N% or max. */
static int set_memory_limit(struct options *o, const char *arg, char *err,
			    size_t errlen)
{
	size_t len = strlen(arg);
	unsigned long long n;
	char pct[8];

	o->memory_limit = 0;
	o->memory_limit_pct = 0;
	o->memory_limit_max = false;
	if (!strcmp(arg, "max")) {
		o->memory_limit_max = true;
		return 0;
	}
	if (len > 1 && len < sizeof(pct) && arg[len - 1] == '%') {
		memcpy(pct, arg, len - 1);
		pct[len - 1] = '\0';
		if (parse_digits(pct, 10, 100, &n) == 0 && n) {
			o->memory_limit_pct = (unsigned int)n;
			return 0;
		}
	} else if (units_parse_size(arg, &o->memory_limit) == 0 &&
		   o->memory_limit >= HEAP_PAGE_SIZE) {
		o->memory_limit &= ~(HEAP_PAGE_SIZE - 1);
		return 0;
	}
	snprintf(err, errlen,
		 "invalid --memory-limit '%s': want a size of at least 4K (such as 8G), a percent of the memory allowed (1%% to 100%%) or max",
		 arg);
	return -EINVAL;
}

/* Check one option's value; returns 0 or -EINVAL with @err filled. */
static int set_option(struct options *o, int c, const char *arg, char *err,
		      size_t errlen)
{
	unsigned long long n;
	int r;

	switch (c) {
	case OPT_SOCKET:
		if (!*arg) {
			snprintf(err, errlen, "invalid --socket '': want a path");
			return -EINVAL;
		}
		if (strlen(arg) >= OPTIONS_SOCKET_PATH_MAX + 1) {
			/* The kernel's limit: sun_path holds 107 bytes and a NUL. */
			snprintf(err, errlen,
				 "invalid --socket: path too long (%zu > %d bytes); choose a shorter path",
				 strlen(arg), OPTIONS_SOCKET_PATH_MAX);
			return -EINVAL;
		}
		o->socket_path = arg;
		return 0;
	case OPT_SOCKET_MODE:
		if (parse_mode(arg, &o->socket_mode)) {
			snprintf(err, errlen,
				 "invalid --socket-mode '%s': want an octal mode such as 0660, at most 07777",
				 arg);
			return -EINVAL;
		}
		return 0;
	case OPT_SOCKET_GROUP:
		r = parse_group(arg, &o->socket_gid);
		if (r == -ENOENT)
			snprintf(err, errlen,
				 "unknown group '%s' for --socket-group: want a group name or a number",
				 arg);
		else if (r < 0)
			snprintf(err, errlen,
				 "invalid --socket-group '%s': want a group name or a number below %u",
				 arg, (unsigned int)(gid_t)-1);
		return r < 0 ? -EINVAL : 0;
	case OPT_ARENA_SIZE:
		if (units_parse_size(arg, &o->arena_size) || !o->arena_size ||
		    o->arena_size % HEAP_PAGE_SIZE ||
		    o->arena_size > (HEAP_MAX_PAGES << HEAP_PAGE_SHIFT)) {
			snprintf(err, errlen,
				 "invalid --arena-size '%s': want a multiple of 4K up to 4T",
				 arg);
			return -EINVAL;
		}
		return 0;
	case OPT_SCAVENGE_AFTER:
		return set_time("scavenge-after", arg, &o->scavenge_after_ns,
				err, errlen);
	case OPT_GC_AFTER:
		return set_time("gc-after", arg, &o->gc_after_ns, err, errlen);
	case OPT_RECONNECT_GRACE:
		return set_time("reconnect-grace", arg, &o->reconnect_grace_ns,
				err, errlen);
	case OPT_MAX_CLIENTS:
		if (parse_digits(arg, 10, 1000000, &n) || !n) {
			snprintf(err, errlen,
				 "invalid --max-clients '%s': want a number from 1 to 1000000",
				 arg);
			return -EINVAL;
		}
		o->max_clients = (unsigned int)n;
		return 0;
	case OPT_MAX_OBJECTS:
		if (parse_digits(arg, 10, HEAP_OBJECTS_MAX, &n) || !n) {
			snprintf(err, errlen,
				 "invalid --max-objects '%s': want a number from 1 to %u",
				 arg, (unsigned int)HEAP_OBJECTS_MAX);
			return -EINVAL;
		}
		o->max_objects = (uint32_t)n;
		return 0;
	case OPT_MAX_REFS:
		if (parse_digits(arg, 10, HEAP_REFS_MAX, &n) || !n) {
			snprintf(err, errlen,
				 "invalid --max-refs '%s': want a number from 1 to %u",
				 arg, (unsigned int)HEAP_REFS_MAX);
			return -EINVAL;
		}
		o->max_refs = (uint32_t)n;
		return 0;
	case OPT_MAGAZINE_BYTES:
		if (units_parse_size(arg, &o->magazine_bytes) ||
		    o->magazine_bytes > OPTIONS_MAGAZINE_BYTES_MAX) {
			snprintf(err, errlen,
				 "invalid --magazine-bytes '%s': want a size up to 1G (0: no magazines)",
				 arg);
			return -EINVAL;
		}
		return 0;
	case OPT_STATS_FILE:
		if (!*arg) {
			snprintf(err, errlen, "invalid --stats-file '': want a path");
			return -EINVAL;
		}
		o->stats_file = arg;
		return 0;
	case OPT_METRICS_LISTEN:
		if (parse_listen(arg, o->metrics_host, &o->metrics_port)) {
			snprintf(err, errlen,
				 "invalid --metrics-listen '%s': want ADDR:PORT, such as 127.0.0.1:9464, [::1]:9464, localhost:9464 or :9464 (loopback), PORT 0 to 65535",
				 arg);
			return -EINVAL;
		}
		return 0;
	case OPT_METRICS_TIMEOUT:
		if (parse_digits(arg, 10, 3600, &n) || n < 1) {
			snprintf(err, errlen,
				 "invalid --metrics-timeout '%s': want seconds, 1 to 3600",
				 arg);
			return -EINVAL;
		}
		o->metrics_timeout_s = (unsigned int)n;
		return 0;
	case OPT_MEMORY_LIMIT:
		return set_memory_limit(o, arg, err, errlen);
	case OPT_QUOTA_CLIENT:
		if (parse_quota_size(arg, &o->quota_client)) {
			snprintf(err, errlen,
				 "invalid --quota-client '%s': want a size such as 1G, or none",
				 arg);
			return -EINVAL;
		}
		return 0;
	case OPT_QUOTA_UID:
		return set_quota_uid(o, arg, err, errlen);
	case OPT_QUOTA_FILE:
		o->quota_file = arg;
		return 0;
	case OPT_SCAVENGE_POLICY:
		if (!strcmp(arg, "delay")) {
			o->scavenge_policy = OPTIONS_SCAV_DELAY;
		} else if (!strcmp(arg, "paced")) {
			o->scavenge_policy = OPTIONS_SCAV_PACED;
		} else {
			snprintf(err, errlen,
				 "invalid --scavenge-policy '%s': want delay or paced",
				 arg);
			return -EINVAL;
		}
		return 0;
	case OPT_SCAVENGE_HEADROOM:
		if (parse_digits(arg, 10, 1000, &n)) {
			snprintf(err, errlen,
				 "invalid --scavenge-headroom '%s': want a percent, 0 to 1000",
				 arg);
			return -EINVAL;
		}
		o->scavenge_headroom_pct = (unsigned int)n;
		return 0;
	case OPT_PRESSURE_TRIGGER: {
		char why[400];

		if (pressure_trigger_valid(arg, why, sizeof(why))) {
			snprintf(err, errlen, "invalid --pressure-trigger '%s': %s",
				 arg, why);
			return -EINVAL;
		}
		o->pressure_trigger = arg;
		return 0;
	}
	case OPT_PRESSURE_INJECT:
		o->pressure_inject = arg;
		return 0;
	}
	snprintf(err, errlen, "invalid value '%s'", arg);
	return -EINVAL;
}

int options_parse(int argc, char **argv, struct options *o, char *err,
		  size_t errlen)
{
	int c, idx = 0;

	memset(o, 0, sizeof(*o));
	o->socket_path = DEFAULT_SOCKET;
	o->socket_mode = DEFAULT_SOCKET_MODE;
	o->socket_gid = (gid_t)-1;
	o->arena_size = ARENA_DEFAULT_SIZE;
	o->scavenge_after_ns = DEFAULT_SCAVENGE_AFTER_NS;
	o->gc_after_ns = DEFAULT_GC_AFTER_NS;
	o->reconnect_grace_ns = DEFAULT_RECONNECT_GRACE_NS;
	o->max_clients = DEFAULT_MAX_CLIENTS;
	o->max_objects = DEFAULT_MAX_OBJECTS;
	o->max_refs = DEFAULT_MAX_REFS;
	o->magazine_bytes = DEFAULT_MAGAZINE_BYTES;
	o->metrics_port = -1;
	o->metrics_timeout_s = DEFAULT_METRICS_TIMEOUT_S;
	o->memory_limit_pct = DEFAULT_MEMORY_LIMIT_PCT;
	o->scavenge_policy = OPTIONS_SCAV_DELAY;
	o->scavenge_headroom_pct = DEFAULT_SCAVENGE_HEADROOM_PCT;
	o->quota_file = DEFAULT_QUOTA_FILE;
	o->pressure_trigger = DEFAULT_PRESSURE_TRIGGER;
	optind = 0;	/* 0, not 1: GNU getopt forgets its state */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", long_options, &idx)) != -1) {
		switch (c) {
		case OPT_TRACE:
			o->trace = true;
			break;
		case 'h':
		case OPT_HELP:
			o->help = true;
			break;
		case OPT_VERSION:
			o->version = true;
			break;
		case '?':
			if (optopt && optopt < 256)
				snprintf(err, errlen, "unknown option '-%c'",
					 optopt);
			else
				snprintf(err, errlen,
					 "unknown or incomplete option '%s'",
					 argv[optind - 1]);
			return -EINVAL;
		default:
			if (set_option(o, c, optarg, err, errlen))
				return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -EINVAL;
	}
	if (!o->scavenge_after_ns || !o->gc_after_ns) {
		snprintf(err, errlen, "--scavenge-after and --gc-after must be above 0");
		return -EINVAL;
	}
	return 0;
}
