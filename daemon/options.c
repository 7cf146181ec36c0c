// SPDX-License-Identifier: MIT
/*
 * spanheapd's command line: getopt_long, sizes and systemd-style times.
 * Every value is checked here; main() prints the reason and the usage and
 * exits 2 before anything is created.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "shm/arena.h"
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
	"  --max-clients=N        refuse connections beyond N (default 1024)\n"
	"  --trace                print scavenger trace lines (scvgN: ...)\n"
	"  --stats-file=PATH      rewrite MemStats JSON here every tick\n"
	"  --help                 show this and exit\n"
	"  --version              show the version and exit\n"
	"\n"
	"TIME takes systemd-style units: us, ms, s, min, h, d (\"200ms\", \"5min\").\n";

const char *options_usage(void)
{
	return usage;
}

static int parse_mode(const char *s, mode_t *ret)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno || !*s || *end || v > 07777)
		return -EINVAL;
	*ret = (mode_t)v;
	return 0;
}

static int parse_group(const char *s, gid_t *ret)
{
	struct group *g;
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s && !*end && !errno && v < (gid_t)-1) {
		*ret = (gid_t)v;
		return 0;
	}
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
	OPT_MAX_CLIENTS,
	OPT_TRACE,
	OPT_STATS_FILE,
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
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "trace", no_argument, NULL, OPT_TRACE },
	{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

/* Check one option's value; returns 0 or -EINVAL with @err filled. */
static int set_option(struct options *o, int c, const char *arg, char *err,
		      size_t errlen)
{
	unsigned long long n;
	char *end;

	switch (c) {
	case OPT_SOCKET:
		if (!*arg || strlen(arg) >= 108)
			goto bad;
		o->socket_path = arg;
		return 0;
	case OPT_SOCKET_MODE:
		return parse_mode(arg, &o->socket_mode) ? -1 : 0;
	case OPT_SOCKET_GROUP:
		if (parse_group(arg, &o->socket_gid)) {
			snprintf(err, errlen, "unknown group '%s'", arg);
			return -EINVAL;
		}
		return 0;
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
		return units_parse_time(arg, &o->scavenge_after_ns) ? -1 : 0;
	case OPT_GC_AFTER:
		return units_parse_time(arg, &o->gc_after_ns) ? -1 : 0;
	case OPT_MAX_CLIENTS:
		errno = 0;
		n = strtoull(arg, &end, 10);
		if (errno || !isdigit((unsigned char)*arg) || *end || !n ||
		    n > 1000000)
			goto bad;
		o->max_clients = (unsigned int)n;
		return 0;
	case OPT_STATS_FILE:
		if (!*arg)
			goto bad;
		o->stats_file = arg;
		return 0;
	}
bad:
	return -1;
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
	o->max_clients = DEFAULT_MAX_CLIENTS;
	optind = 0;	/* 0, not 1: GNU getopt forgets its state */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", long_options, &idx)) != -1) {
		switch (c) {
		case OPT_TRACE:
			o->trace = true;
			break;
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
			err[0] = 0;
			if (set_option(o, c, optarg, err, errlen)) {
				if (!err[0])
					snprintf(err, errlen,
						 "invalid value '%s' for --%s",
						 optarg, long_options[idx].name);
				return -EINVAL;
			}
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
