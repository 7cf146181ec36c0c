// SPDX-License-Identifier: MIT
/*
 * The daemon's life: create the arena and the heap, listen, run the
 * event loop until SIGTERM or SIGINT, then close every client (freeing
 * their spans) and free everything.
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "dispatch.h"
#include "log.h"
#include "shm/arena.h"
#include "shm/heap.h"
#include "shm/units.h"

/*
 * The hooks that let a lower part tell one above (see daemon.h): each
 * calls the part it is for, nothing more.
 */
static struct blob *clients_text(void *ctx, const struct text_req *req)
{
	struct daemon *d = ctx;

	return stats_text(&d->stats, req);
}

static void clients_gone(void *ctx)
{
	struct daemon *d = ctx;

	server_resume_accept(&d->server);
}

static void scav_gc(void *ctx)
{
	struct daemon *d = ctx;

	clients_gc(&d->clients, true, NULL, NULL);
}

static void scav_forced_done(void *ctx, uint64_t done, uint64_t bytes)
{
	struct daemon *d = ctx;

	clients_forced_done(&d->clients, done, bytes);
}

static void scav_publish(void *ctx)
{
	struct daemon *d = ctx;

	stats_publish(&d->stats);
}

void daemon_compose(struct daemon *d)
{
	const struct clients_hooks ch = {
		.text = clients_text,
		.gone = clients_gone,
		.ctx = d,
	};
	const struct scavenger_hooks sh = {
		.gc = scav_gc,
		.forced_done = scav_forced_done,
		.publish = scav_publish,
		.ctx = d,
	};
	const struct objects_hooks oh = {
		.woken = dispatch_obj_woken,
		.ctx = d,
	};
	const struct stats_sources src = {
		.opt = &d->opt,
		.objects = &d->objects,
		.core = &d->core,
		.arena = d->arena,
		.clients = &d->clients,
		.scav = &d->scav,
		.server = &d->server,
	};

	server_init(&d->server, &d->opt, d->base, &d->clients);
	clients_init(&d->clients, &d->core, d->base, d->arena, &d->scav, &ch);
	/* Without its tick a magazine would never give idle spans back. */
	if (clients_set_magazines(&d->clients, d->opt.magazine_bytes,
				  d->opt.scavenge_after_ns) < 0) {
		log_err("out of memory for the magazines' timer; no magazines");
		clients_set_magazines(&d->clients, 0, 0);
	}
	scavenger_init(&d->scav, &d->core, d->base, &d->opt, &sh);
	objects_init(&d->objects, &d->core, d->base, &d->scav, &oh);
	d->clients.objects = &d->objects;
	stats_init(&d->stats, &src);
	d->composed = true;
}

/*
 * No connection comes once the server is closed, and nothing of the
 * scavenger runs once it is stopped: the spans of the clients that go
 * then are only queued, never released.
 */
void daemon_decompose(struct daemon *d)
{
	if (!d->composed)
		return;
	server_close(&d->server);
	scavenger_stop(&d->scav);
	clients_fini(&d->clients);
	objects_fini(&d->objects);
	stats_fini(&d->stats);
	d->composed = false;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	(void)what;
	if (read((int)fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;		/* none after all: wait for the next */
	log_info("caught %s, shutting down", strsignal((int)si.ssi_signo));
	event_base_loopbreak(d->base);
}

/*
 * SIGTERM and SIGINT stop the daemon.  They are blocked in every thread
 * (no thread exists yet, and those made later inherit the mask) and the
 * loop reads them from a signalfd: no handler runs, so none is lost, and
 * one that comes while the daemon starts waits, pending, until the loop
 * reads it.  (With libevent's handler, a signal that came as the loop
 * thread made its first blocking call was lost under TSan, whose
 * runtime sets up its signal state for a thread then, and a daemon
 * stopped right after it started now and then never ended.)
 */
static int stop_signals_take(struct daemon *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	d->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0) {
		int r = -errno;

		log_err("cannot make a signalfd: %s", strerror(-r));
		return r;
	}
	d->ev_signal = event_new(d->base, d->signal_fd, EV_READ | EV_PERSIST,
				 on_signal, d);
	if (!d->ev_signal || event_add(d->ev_signal, NULL) < 0)
		return -ENOMEM;
	return 0;
}

static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what, (void)arg;
	/* From the loop itself: a stuck loop stops the pings. */
	sd_notify(0, "WATCHDOG=1");
}

/* Ping systemd's watchdog at half its period, if it wants pings. */
static int watchdog_start(struct daemon *d)
{
	struct timeval tv;
	uint64_t usec;

	if (sd_watchdog_enabled(0, &usec) <= 0)
		return 0;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	d->ev_watchdog = event_new(d->base, -1, EV_PERSIST, on_watchdog, d);
	if (!d->ev_watchdog || event_add(d->ev_watchdog, &tv) < 0)
		return -ENOMEM;
	log_info("pinging the service manager's watchdog every %llu ms",
		 (unsigned long long)(usec / 1000));
	return 0;
}

int daemon_init(struct daemon *d, const struct options *opt)
{
	uint32_t max_owners = opt->max_clients + DAEMON_OWNERS_SPARE;
	struct heap_config cfg = { .arena_size = opt->arena_size,
				   .max_owners = max_owners,
				   .max_objects = opt->max_objects,
				   .max_refs = opt->max_refs };
	const char *env = getenv("SPANHEAPD_HEAP_CHECK");
	struct heap_ops ops;
	uint64_t meta_size;
	int r;

	memset(d, 0, sizeof(*d));
	d->opt = *opt;
	d->signal_fd = -1;
	core_init(&d->core);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);	/* nothing to reload */
	if (evthread_use_pthreads() < 0) {
		log_err("libevent without thread support");
		return -ENOSYS;
	}
	d->base = event_base_new();
	if (!d->base)
		return -ENOMEM;
	/* Before the socket exists: a SIGTERM from then on is a clean stop. */
	r = stop_signals_take(d);
	if (r < 0)
		return r;
	r = arena_create(opt->arena_size, "spanheapd-arena", &d->arena);
	if (r < 0) {
		char size[32];

		units_format_size(size, sizeof(size), opt->arena_size);
		log_err("cannot create the arena of %s (--arena-size=%llu): %s%s",
			size, (unsigned long long)opt->arena_size,
			strerror(-r),
			r == -ENOMEM || r == -EINVAL ?
				"; the address space may be limited (ulimit -v, or valgrind, which maps at most about 32 GiB): choose a smaller --arena-size" :
				"");
		return r;
	}
	/* Object names are hashed with a key no client can guess. */
	if (getrandom(cfg.hash_key, sizeof(cfg.hash_key), 0) !=
	    (ssize_t)sizeof(cfg.hash_key)) {
		log_err("cannot read a random hash key: %s", strerror(errno));
		return -errno;
	}
	r = heap_layout_size(&cfg, &meta_size);
	if (r == 0)
		r = arena_create(meta_size, "spanheapd-meta", &d->meta);
	if (r < 0) {
		log_err("cannot create the heap's metadata (%llu MiB for the arena, %u owners, %u objects and %u references; see --max-objects, --max-refs): %s",
			(unsigned long long)(meta_size >> 20), max_owners,
			opt->max_objects, opt->max_refs, strerror(-r));
		return r;
	}
	arena_heap_ops(d->arena, d->meta, &ops);
	r = heap_format(d->meta->base, d->meta->size, &cfg, &ops,
			&d->core.heap);
	if (r < 0) {
		log_err("cannot create the heap: %s", strerror(-r));
		return r;
	}
	daemon_compose(d);
	d->scav.heap_check_gc = env && atoi(env) > 0;
	r = server_listen(&d->server);
	if (r < 0)
		return r;
	r = scavenger_start(&d->scav);
	if (r < 0)
		return r;
	r = watchdog_start(d);
	if (r < 0)
		return r;
	return 0;
}

int daemon_run(struct daemon *d)
{
	log_info("spanheapd " SPANHEAPD_VERSION " serving a %llu MiB arena on %s",
		 (unsigned long long)(d->opt.arena_size >> 20),
		 d->server.activated ? "the activated socket" :
				       d->opt.socket_path);
	stats_publish(&d->stats);
	sd_notify(0, "READY=1");
	if (event_base_dispatch(d->base) < 0) {
		log_err("event loop failed");
		return -EIO;
	}
	sd_notify(0, "STOPPING=1");
	return 0;
}

void daemon_fini(struct daemon *d)
{
	daemon_decompose(d);
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	if (d->ev_signal)
		event_free(d->ev_signal);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	heap_detach(d->core.heap);
	arena_destroy(d->meta);
	arena_destroy(d->arena);
	if (d->base)
		event_base_free(d->base);
	core_fini(&d->core);
	libevent_global_shutdown();
}
