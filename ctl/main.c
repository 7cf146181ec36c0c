// SPDX-License-Identifier: MIT
/*
 * spanctl: ask spanheapd for its MemStats, release idle memory now, run
 * a GC pass, list clients, list and delete shared objects.  A client of
 * libspanclient like any other.
 *
 * Exit status: 0 success, 1 the daemon could not be reached or answered
 * with an error, 2 usage errors.
 */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "metrics/prom.h"
#include "render.h"
#include "shm/units.h"

static const char usage[] =
	"Usage: spanctl [--socket PATH] COMMAND [ARGS]\n"
	"Query and steer spanheapd.\n"
	"\n"
	"Commands:\n"
	"  stats [--json | --prometheus]   MemStats as a table, JSON or Prometheus text\n"
	"  clients                         connected clients and what they hold\n"
	"  objects [--json]                the shared objects, as a table or JSON\n"
	"  delete NAME                     delete the shared object NAME\n"
	"  scavenge                        give every free span back to the kernel now\n"
	"  gc                              run a GC pass now\n"
	"  watch [--interval TIME] [--count N]\n"
	"                                  refresh the stats table (default every 1s)\n"
	"\n"
	"  --socket PATH   the daemon's socket (default $" SPANHEAP_SOCKET_ENV
	", then " SPANHEAP_DEFAULT_SOCKET ")\n"
	"  --help          show this\n"
	"  --version       show the version\n";

static int __attribute__((format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("spanctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fputs(usage, stderr);
	return 2;
}

static const char *socket_path(const char *opt)
{
	const char *env = getenv(SPANHEAP_SOCKET_ENV);

	if (opt)
		return opt;
	return env && *env ? env : SPANHEAP_DEFAULT_SOCKET;
}

/*
 * Why connecting to @path was refused, in @buf: the directory that may
 * not be searched, or the socket's owner, group and mode, and the group
 * to join only when there is one that is not root's.
 */
static const char *why_denied(const char *path, char *buf, size_t len)
{
	struct group *gr;
	struct stat st;
	char dir[PATH_MAX];
	char *slash;

	if (stat(path, &st) < 0) {
		snprintf(dir, sizeof(dir), "%s", path);
		slash = strrchr(dir, '/');
		if (slash && slash != dir)
			*slash = 0;
		snprintf(buf, len,
			 " (you may not enter the directory %s: ask its owner, or use a socket elsewhere)",
			 slash ? dir : ".");
		return buf;
	}
	gr = getgrgid(st.st_gid);
	if (st.st_gid == 0 || !gr) {
		snprintf(buf, len,
			 " (the socket is mode %04o, owner %u, group %u: only they may connect; the daemon's --socket-mode and --socket-group set this)",
			 (unsigned int)(st.st_mode & 07777),
			 (unsigned int)st.st_uid, (unsigned int)st.st_gid);
		return buf;
	}
	snprintf(buf, len,
		 " (the socket is mode %04o, group %s: join that group, e.g. usermod -aG %s $USER, then log in again)",
		 (unsigned int)(st.st_mode & 07777), gr->gr_name, gr->gr_name);
	return buf;
}

static int connect_or_say(const char *path, struct spanheap **ret)
{
	const char *why = "";
	char buf[PATH_MAX + 256];
	int r;

	/* spanctl allocates no spans: no magazine for the daemon to make. */
	setenv(SPANHEAP_MAGAZINE_ENV, "0", 1);
	r = spanheap_connect_named(path, "spanctl", ret);

	if (r == 0)
		return 0;
	if (r == -ENOENT || r == -ECONNREFUSED)
		why = " (is spanheapd running?)";
	else if (r == -EACCES)
		why = why_denied(path, buf, sizeof(buf));
	else if (r == -EUSERS)
		why = " (the daemon is at its --max-clients limit)";
	else if (r == -EPROTONOSUPPORT)
		why = " (spanctl and spanheapd are of different versions)";
	fprintf(stderr, "spanctl: cannot connect to %s: %s%s\n", path,
		strerror(-r), why);
	return r;
}

static int daemon_error(const char *what, int r)
{
	fprintf(stderr, "spanctl: %s: %s\n", what, strerror(-r));
	return 1;
}

static int get_stats(struct spanheap *h, json_t **ret)
{
	json_error_t jerr;
	char *text;
	int r = spanheap_stats_json(h, &text);

	if (r < 0)
		return daemon_error("stats", r);
	*ret = json_loads(text, 0, &jerr);
	free(text);
	if (!*ret) {
		fprintf(stderr, "spanctl: the daemon sent bad JSON: %s\n",
			jerr.text);
		return 1;
	}
	return 0;
}

/*
 * Every client, paged through with CLIENTS (MemStats lists only the
 * first 64): an array of clients.list entries in @ret.
 */
static int get_clients(struct spanheap *h, json_t **ret)
{
	json_t *all = json_array(), *page, *list;
	uint32_t after = 0, next;
	json_error_t jerr;
	char *text;
	int r;

	if (!all)
		return daemon_error("clients", -ENOMEM);
	do {
		r = spanheap_clients_json(h, after, &next, &text);
		if (r < 0) {
			json_decref(all);
			return daemon_error("clients", r);
		}
		page = json_loads(text, 0, &jerr);
		free(text);
		list = json_object_get(page, "clients");
		if (!json_is_array(list) || json_array_extend(all, list)) {
			fprintf(stderr, "spanctl: the daemon sent a bad client list: %s\n",
				page ? "no \"clients\" array" : jerr.text);
			json_decref(page);
			json_decref(all);
			return 1;
		}
		json_decref(page);
		after = next;
	} while (next);
	*ret = all;
	return 0;
}

static int show_objects(struct spanheap *h, bool as_json)
{
	json_t *all, *list;
	json_error_t jerr;
	char *text;
	int r = spanheap_objects_json(h, &text);

	if (r < 0)
		return daemon_error("objects", r);
	all = json_loads(text, 0, &jerr);
	free(text);
	list = json_object_get(all, "objects");
	if (!json_is_array(list)) {
		fprintf(stderr, "spanctl: the daemon sent a bad object list: %s\n",
			all ? "no \"objects\" array" : jerr.text);
		json_decref(all);
		return 1;
	}
	if (as_json) {
		r = json_dumpf(all, stdout, JSON_COMPACT) < 0 ? -EIO : 0;
		putchar('\n');
	} else {
		r = render_object_list(stdout, list);
	}
	json_decref(all);
	if (r < 0) {
		fprintf(stderr, "spanctl: unexpected object list from the daemon\n");
		return 1;
	}
	return fflush(stdout) ? 1 : 0;
}

static int show_clients(struct spanheap *h)
{
	json_t *list;
	int r = get_clients(h, &list);

	if (r)
		return r;
	r = render_client_list(stdout, list);
	json_decref(list);
	if (r < 0) {
		fprintf(stderr, "spanctl: unexpected client list from the daemon\n");
		return 1;
	}
	return fflush(stdout) ? 1 : 0;
}

/* MemStats lists the first 64 clients: put them all in, for Prometheus. */
static int complete_list(struct spanheap *h, json_t *st)
{
	json_t *cl = json_object_get(st, "clients"), *list;
	int r;

	if ((json_int_t)json_array_size(json_object_get(cl, "list")) >=
	    json_integer_value(json_object_get(cl, "count")))
		return 0;
	r = get_clients(h, &list);
	if (r)
		return r;
	json_object_set_new(cl, "list", list);
	return 0;
}

enum view { VIEW_TABLE, VIEW_JSON, VIEW_PROMETHEUS };

static int show(struct spanheap *h, enum view v)
{
	json_t *st;
	int r = get_stats(h, &st);

	if (r)
		return r;
	if (v == VIEW_PROMETHEUS) {
		r = complete_list(h, st);
		if (r) {
			json_decref(st);
			return r;
		}
	}
	switch (v) {
	case VIEW_JSON:
		r = json_dumpf(st, stdout, JSON_COMPACT) < 0 ? -EIO : 0;
		putchar('\n');
		break;
	case VIEW_PROMETHEUS:
		r = prom_render(stdout, st);
		break;
	case VIEW_TABLE:
		r = render_table(stdout, st);
		break;
	}
	json_decref(st);
	if (r < 0) {
		fprintf(stderr, "spanctl: unexpected stats from the daemon\n");
		return 1;
	}
	return fflush(stdout) ? 1 : 0;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int watch(struct spanheap *h, uint64_t interval_ns, long count)
{
	struct timespec ts = { (time_t)(interval_ns / 1000000000),
			       (long)(interval_ns % 1000000000) };
	bool tty = isatty(STDOUT_FILENO);

	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	for (long i = 0; !interrupted && (count <= 0 || i < count); i++) {
		int r;

		if (i)
			nanosleep(&ts, NULL);
		if (interrupted)
			break;
		if (tty)
			fputs("\033[H\033[2J", stdout);
		r = show(h, VIEW_TABLE);
		if (r)
			return r;
		if (!tty)
			putchar('\n');
	}
	return 0;
}

enum { OPT_SOCKET = 256, OPT_HELP, OPT_VERSION, OPT_JSON, OPT_PROMETHEUS,
       OPT_INTERVAL, OPT_COUNT };

static const struct option global_opts[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static const struct option cmd_opts[] = {
	{ "json", no_argument, NULL, OPT_JSON },
	{ "prometheus", no_argument, NULL, OPT_PROMETHEUS },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "count", required_argument, NULL, OPT_COUNT },
	{ NULL, 0, NULL, 0 },
};

struct cmd_args {
	enum view view;
	uint64_t interval_ns;
	long count;
	bool set_view, set_watch;
	const char *name;	/* the NAME of a command that takes one */
};

/* Which of the command options (struct cmd_args) a command takes. */
enum { TAKES_VIEW = 1, TAKES_WATCH = 2, TAKES_JSON = 4, TAKES_NAME = 8 };

/* The NAME argument of a command that takes one, as @a->name. */
static int parse_name(int argc, char **argv, struct cmd_args *a)
{
	size_t len;

	if (optind >= argc)
		return usage_error("no object NAME given");
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	a->name = argv[optind];
	len = strlen(a->name);
	if (!len || len > SPANHEAP_NAME_MAX)
		return usage_error("an object NAME is 1 to %d bytes, not %zu",
				   SPANHEAP_NAME_MAX, len);
	return 0;
}

static int parse_cmd_opts(int argc, char **argv, unsigned int takes,
			  struct cmd_args *a)
{
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "+", cmd_opts, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
		case OPT_PROMETHEUS:
			if (a->set_view)
				return usage_error("choose one of --json and --prometheus");
			a->view = c == OPT_JSON ? VIEW_JSON : VIEW_PROMETHEUS;
			a->set_view = true;
			break;
		case OPT_INTERVAL:
			if (units_parse_time(optarg, &a->interval_ns) ||
			    !a->interval_ns)
				return usage_error("invalid --interval '%s'", optarg);
			a->set_watch = true;
			break;
		case OPT_COUNT:
			errno = 0;
			a->count = strtol(optarg, &end, 10);
			if (errno || *end || a->count < 1)
				return usage_error("invalid --count '%s'", optarg);
			a->set_watch = true;
			break;
		default:
			return usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (takes & TAKES_NAME)
		return parse_name(argc, argv, a);
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	return 0;
}

static int cmd_stats(struct spanheap *h, const struct cmd_args *a)
{
	return show(h, a->view);
}

static int cmd_clients(struct spanheap *h, const struct cmd_args *a)
{
	(void)a;
	return show_clients(h);
}

static int cmd_objects(struct spanheap *h, const struct cmd_args *a)
{
	return show_objects(h, a->view == VIEW_JSON);
}

static int cmd_delete(struct spanheap *h, const struct cmd_args *a)
{
	int r = spanheap_obj_delete(h, a->name);

	if (r < 0) {
		render_delete_error(stderr, a->name, r);
		return 1;
	}
	fputs("deleted ", stdout);
	render_text(stdout, a->name);
	putchar('\n');
	return fflush(stdout) ? 1 : 0;
}

static int cmd_watch(struct spanheap *h, const struct cmd_args *a)
{
	return watch(h, a->interval_ns, a->count);
}

static int cmd_scavenge(struct spanheap *h, const struct cmd_args *a)
{
	uint64_t n;
	char s[32];
	int r = spanheap_scavenge(h, &n);

	(void)a;
	if (r < 0)
		return daemon_error("scavenge", r);
	units_format_size(s, sizeof(s), n);
	printf("released %llu bytes (%s)\n", (unsigned long long)n, s);
	return 0;
}

static int cmd_gc(struct spanheap *h, const struct cmd_args *a)
{
	uint64_t n;
	int r = spanheap_gc(h, &n);

	(void)a;
	if (r < 0)
		return daemon_error("gc", r);
	printf("gc: freed %llu spans of departed clients\n",
	       (unsigned long long)n);
	return 0;
}

/* Every command: a new one is one entry here and its function. */
static const struct command {
	const char *name;
	int (*run)(struct spanheap *h, const struct cmd_args *a);
	unsigned int takes;
} commands[] = {
	{ "stats", cmd_stats, TAKES_VIEW },
	{ "clients", cmd_clients, 0 },
	{ "objects", cmd_objects, TAKES_JSON },
	{ "delete", cmd_delete, TAKES_NAME },
	{ "scavenge", cmd_scavenge, 0 },
	{ "gc", cmd_gc, 0 },
	{ "watch", cmd_watch, TAKES_WATCH },
};

static const struct command *command_named(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	struct cmd_args a = { VIEW_TABLE, 1000000000, 0, false, false, NULL };
	const struct command *cmd;
	const char *sock = NULL;
	struct spanheap *h;
	int c, r;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", global_opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			sock = optarg;
			break;
		case OPT_HELP:
			fputs(usage, stdout);
			return 0;
		case OPT_VERSION:
			puts("spanctl " SPANHEAPD_VERSION);
			return 0;
		default:
			return usage_error("unknown or incomplete option '%s'",
					   argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	cmd = command_named(argv[optind]);
	if (!cmd)
		return usage_error("unknown command '%s'", argv[optind]);
	optind++;
	/* Parse the command's own options from here on. */
	argc -= optind - 1;
	argv += optind - 1;
	optind = 1;
	r = parse_cmd_opts(argc, argv, cmd->takes, &a);
	if (r)
		return r;
	if ((a.set_view && !(cmd->takes & TAKES_VIEW) &&
	     !(a.view == VIEW_JSON && cmd->takes & TAKES_JSON)) ||
	    (a.set_watch && !(cmd->takes & TAKES_WATCH)))
		return usage_error("option not valid for '%s'", cmd->name);
	if (connect_or_say(socket_path(sock), &h) < 0)
		return 1;
	r = cmd->run(h, &a);
	spanheap_close(h);
	return r;
}
