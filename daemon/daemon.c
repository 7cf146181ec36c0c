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
#include <time.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "log.h"
#include "shm/units.h"

uint64_t daemon_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void daemon_heap_lock(struct daemon *d)
{
	pthread_mutex_lock(&d->heap_lock);
	d->heap_lock_holder = pthread_self();
	d->heap_locked = true;
}

void daemon_heap_unlock(struct daemon *d)
{
	daemon_assert_locked(d);
	d->heap_locked = false;
	pthread_mutex_unlock(&d->heap_lock);
}

void daemon_assert_locked(const struct daemon *d)
{
	if (!d->heap_locked || !pthread_equal(d->heap_lock_holder,
					      pthread_self())) {
		log_err("BUG: heap used without its lock");
		abort();
	}
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	log_info("caught %s, shutting down", strsignal((int)sig));
	event_base_loopbreak(d->base);
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
				   .max_owners = max_owners };
	const char *env;
	struct heap_ops ops;
	uint64_t meta_size;
	int r;

	memset(d, 0, sizeof(*d));
	d->opt = *opt;
	d->listen_fd = -1;
	d->reserve_fd = -1;
	d->lock_fd = -1;
	d->next_client_id = 1;
	d->hello_timeout = (struct timeval){ DAEMON_HELLO_TIMEOUT_SEC, 0 };
	d->start_ns = daemon_now();
	d->control_interval_ns = DAEMON_CONTROL_INTERVAL_NS;
	d->progress_interval_ns = DAEMON_PROGRESS_INTERVAL_NS;
	env = getenv("SPANHEAPD_HEAP_CHECK");
	d->heap_check_gc = env && atoi(env) > 0;
	TAILQ_INIT(&d->clients);
	pthread_mutex_init(&d->heap_lock, NULL);
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
	d->ev_sigterm = evsignal_new(d->base, SIGTERM, on_signal, d);
	d->ev_sigint = evsignal_new(d->base, SIGINT, on_signal, d);
	if (!d->ev_sigterm || !d->ev_sigint ||
	    event_add(d->ev_sigterm, NULL) || event_add(d->ev_sigint, NULL))
		return -ENOMEM;
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
	r = heap_layout_size(&cfg, &meta_size);
	if (r == 0)
		r = arena_create(meta_size, "spanheapd-meta", &d->meta);
	if (r < 0) {
		log_err("cannot create the heap's metadata (%llu MiB for the arena and %u owners): %s",
			(unsigned long long)(meta_size >> 20), max_owners,
			strerror(-r));
		return r;
	}
	arena_heap_ops(d->arena, d->meta, &ops);
	r = heap_format(d->meta->base, d->meta->size, &cfg, &ops, &d->heap);
	if (r < 0) {
		log_err("cannot create the heap: %s", strerror(-r));
		return r;
	}
	r = server_listen(d);
	if (r < 0)
		return r;
	r = scavenger_start(d);
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
		 d->activated ? "the activated socket" : d->opt.socket_path);
	stats_publish(d);
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
	struct client *c;

	server_close(d);
	scavenger_stop(d);
	if (d->ev_watchdog)
		event_free(d->ev_watchdog);
	while ((c = TAILQ_FIRST(&d->clients)))
		client_destroy(c);
	stats_fini(d);
	if (d->ev_sigterm)
		event_free(d->ev_sigterm);
	if (d->ev_sigint)
		event_free(d->ev_sigint);
	heap_detach(d->heap);
	arena_destroy(d->meta);
	arena_destroy(d->arena);
	if (d->base)
		event_base_free(d->base);
	pthread_mutex_destroy(&d->heap_lock);
	libevent_global_shutdown();
}
