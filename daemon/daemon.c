// SPDX-License-Identifier: MIT
/*
 * The daemon's life: adopt the arena and the heap that the service
 * manager's fd store kept from a daemon before, or create them (and
 * store them there), listen, run the event loop until SIGTERM or
 * SIGINT, then close every client and free everything.
 *
 * Adoption.  The store holds two memfds, "arena" and "meta" (fdstore.c),
 * and nothing of them is trusted before it is checked, in this order:
 * each a memfd with the arena's seals and a page-multiple size
 * (arena_attach()); then, in a forked child because each may abort on
 * corruption (heap_attach() in a debug build), whose exit status and
 * report decide (no thread exists yet): the heap's header (heap_attach():
 * magic, version, layout, fitting the memfd), the journal undone
 * (heap_recover(), in the shared mapping: undone for the daemon too) and
 * heap_check(); then in the daemon the heap attached again, the arena's
 * size the one the heap was made for, and the daemon's header
 * (durable_adopt(): magic, version, sizes).  Whatever fails is logged with its cause, the
 * stored fds are dropped (FDSTOREREMOVE=1) and a new arena is made.  An
 * adopted heap keeps the sizes it was made with: --arena-size,
 * --max-clients, --max-objects and --max-refs that differ are logged as
 * ignored until a full stop.  Every owner of the adopted heap is an
 * orphan (orphans.h) until it comes back or its grace ends.
 *
 * Shutdown.  With the memfds in the store, SIGTERM (a restart or a stop:
 * the daemon cannot tell which) leaves the heap as it is for the next
 * daemon: the sockets close, the scavenger stops (giving its held runs
 * back), the clients' connections close, and their spans, objects and
 * owners stay.  Without a store, every client's spans are freed.
 */
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "dispatch.h"
#include "durable.h"
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
	struct pressure_counts *pc = &d->pressure_counts;

	if (pc->pass && done >= pc->pass) {
		pc->released += bytes;
		pc->pass = 0;
		stats_changed(&d->stats);
	}
	clients_forced_done(&d->clients, done, bytes);
}

/*
 * The kernel is short of memory (a PSI trigger, pressure.h): release
 * every idle span now, whatever its age, in a forced pass on the
 * scavenger's thread; one already asked for and not begun serves this
 * event too.
 */
static void on_pressure(void *ctx)
{
	struct daemon *d = ctx;
	struct pressure_counts *pc = &d->pressure_counts;

	pc->events++;
	pc->pass = scavenger_force(&d->scav);
	stats_changed(&d->stats);
	log_limited(&d->log_pressure, 5,
		    "memory pressure (%s): releasing every idle span",
		    d->pressure ? pressure_source(d->pressure) : "injected");
}

/*
 * Watch memory pressure, unless --pressure-trigger=off.  Without a PSI
 * file the daemon runs on with the timer's releases only, when the
 * trigger is the default; one asked for on the command line, or a test's
 * FIFO, must work.
 */
static int pressure_start(struct daemon *d)
{
	bool off = !strcmp(d->opt.pressure_trigger, "off");
	int r;

	if (off && !d->opt.pressure_inject)
		return 0;
	r = pressure_open(d->base, off ? NULL : d->opt.pressure_trigger,
			  d->opt.pressure_inject, on_pressure, d,
			  &d->pressure);
	if (r < 0 && !d->opt.pressure_inject &&
	    !strcmp(d->opt.pressure_trigger, DEFAULT_PRESSURE_TRIGGER)) {
		log_warn("not watching memory pressure: idle spans go back only at --scavenge-after or the memory limit");
		return 0;
	}
	return r;
}

static void scav_publish(void *ctx)
{
	struct daemon *d = ctx;

	stats_publish(&d->stats);
	stats_save(&d->stats);
}

/* The heap freed an object's span (its free hook): uncharge its uid. */
static void on_obj_freed(void *ctx, uint32_t creator, uint32_t uid,
			 uint64_t npages)
{
	(void)creator;
	charge_obj_sub(ctx, uid, npages << HEAP_PAGE_SHIFT);
}

/*
 * Charge every object the heap holds to its creator's uid (an adopted
 * heap has them), and from now on have the heap say when one goes.
 */
static void charge_objects(struct daemon *d)
{
	struct heap_obj_info info;
	uint64_t cursor = 0;

	daemon_heap_lock(&d->core);
	while (heap_obj_next(d->core.heap, &cursor, &info))
		charge_obj_add(&d->charge, info.uid,
			       info.npages << HEAP_PAGE_SHIFT);
	heap_obj_set_free_hook(d->core.heap, on_obj_freed, &d->charge);
	daemon_heap_unlock(&d->core);
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
		.record = dispatch_obj_record,
		.ctx = d,
	};
	const struct reclaim_hooks rh = {
		.retry = dispatch_reclaimed,
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
		.durable = d->durable,
		.orphans = &d->orphans,
		.reclaim = &d->reclaim,
		.charge = &d->charge,
		.pressure_counts = &d->pressure_counts,
		.pressure = &d->pressure,
		.memory_limit = d->memory_limit,
		.memory_limit_source = d->memory_limit_source,
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
	/* Without its event, allocations at the limit fail at once. */
	if (reclaim_init(&d->reclaim, &d->core, d->base, &d->objects,
			 &rh) < 0)
		log_err("out of memory for the memory limit's event; allocations at the limit fail at once");
	d->clients.reclaim = &d->reclaim;
	charge_init(&d->charge, &d->core, &(struct charge_hooks){
			    clients_uid_span_bytes_locked, &d->clients });
	d->clients.charge = &d->charge;
	charge_objects(d);
	if (orphans_init(&d->orphans, &d->core, d->base, &d->objects,
			 &d->scav, d->opt.reconnect_grace_ns,
			 &(struct orphans_hooks){
				 clients_orphan_cleared_locked,
				 &d->clients }) < 0)
		log_err("out of memory for the orphans' timer; orphans wait until a full stop");
	/* Sessions are kept only with the orphans' timer. */
	clients_set_durable(&d->clients, d->durable,
			    d->orphans.ev_grace ? &d->orphans : NULL);
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
	metrics_http_stop(&d->metrics);
	pressure_close(d->pressure);
	d->pressure = NULL;
	scavenger_stop(&d->scav);
	if (d->stored) {
		/* Before the clients go: their magazines' counters count. */
		stats_save(&d->stats);
		clients_keep_heap(&d->clients);
	}
	clients_fini(&d->clients);
	reclaim_fini(&d->reclaim);
	heap_obj_set_free_hook(d->core.heap, NULL, NULL);
	charge_fini(&d->charge);
	objects_fini(&d->objects);
	orphans_fini(&d->orphans);
	stats_fini(&d->stats);
	d->composed = false;
}

/*
 * Read the quotas (quota.h): the command line's and the quota file's, in
 * one table that replaces the old one whole.  A file that cannot be used
 * at all (unreadable, too large) stops a start, and leaves a reload with
 * the quotas it had; bad lines only are logged and skipped.
 */
static int quotas_load(struct daemon *d, bool start)
{
	const char *file = d->opt.quota_file && *d->opt.quota_file ?
			   d->opt.quota_file : NULL;
	struct quota_load_report rep = { 0 };
	struct quota_rules *q;
	struct timespec ts;
	int r = quota_rules_load(&d->opt, file, &q, &rep);

	d->charge.file = file;
	d->charge.file_errno = rep.file_errno;
	d->charge.changes++;
	if (r < 0) {
		log_err("%s the quota file %s: %s; %s", start ? "cannot use" :
			"cannot reload", file, strerror(-r),
			start ? "fix it or give --quota-file='' to start without it" :
				"the quotas in force stay");
		return r;
	}
	charge_set_rules(&d->charge, q);
	clock_gettime(CLOCK_REALTIME, &ts);
	d->charge.loaded_ns = (uint64_t)ts.tv_sec * 1000000000u +
			      (uint64_t)ts.tv_nsec;
	d->charge.file_rules = rep.rules;
	d->charge.file_bad_lines = rep.bad_lines;
	if (start && !quota_rules_nuids(q) && !quota_rules_client(q))
		return 0;
	if (!file || rep.file_errno == ENOENT)
		log_info("quotas %s: %zu uid%s, %s per connection; no quota file",
			 start ? "set" : "reloaded", quota_rules_nuids(q),
			 quota_rules_nuids(q) == 1 ? "" : "s",
			 quota_rules_client(q) ? "a quota" : "none");
	else
		log_info("quotas %s: %zu uid%s, %s per connection; %s: %u rule%s, %u bad line%s ignored",
			 start ? "set" : "reloaded", quota_rules_nuids(q),
			 quota_rules_nuids(q) == 1 ? "" : "s",
			 quota_rules_client(q) ? "a quota" : "none", file,
			 rep.rules, rep.rules == 1 ? "" : "s", rep.bad_lines,
			 rep.bad_lines == 1 ? "" : "s");
	return 0;
}

static void on_signal(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	(void)what;
	if (read((int)fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;		/* none after all: wait for the next */
	if (si.ssi_signo == SIGHUP) {
		log_info("caught Hangup, rereading the quotas");
		quotas_load(d, false);
		return;
	}
	log_info("caught %s, shutting down", strsignal((int)si.ssi_signo));
	event_base_loopbreak(d->base);
}

/*
 * SIGTERM and SIGINT stop the daemon; SIGHUP rereads the quotas.  They
 * are blocked in every thread (no thread exists yet, and those made
 * later inherit the mask) and the loop reads them from a signalfd: no
 * handler runs, so none is lost, and one that comes while the daemon
 * starts waits, pending, until the loop reads it.  (With libevent's handler, a signal that came as the loop
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
	sigaddset(&set, SIGHUP);
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

static uint64_t real_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Make a new arena, heap and durable area, as the options say. */
static int make_new(struct daemon *d)
{
	const struct options *opt = &d->opt;
	uint32_t max_owners = opt->max_clients + DAEMON_OWNERS_SPARE;
	struct heap_config cfg = { .arena_size = opt->arena_size,
				   .max_owners = max_owners,
				   .max_objects = opt->max_objects,
				   .max_refs = opt->max_refs };
	struct durable_config dc = { .arena_size = opt->arena_size,
				     .max_clients = opt->max_clients,
				     .max_owners = max_owners,
				     .max_objects = opt->max_objects,
				     .max_refs = opt->max_refs };
	struct heap_ops ops;
	uint64_t layout = 0, meta_size = 0;
	int r;

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
	r = heap_layout_size(&cfg, &layout);
	if (r == 0)
		r = durable_meta_size(layout, max_owners, &meta_size);
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
	r = durable_format(d->meta->base, d->meta->size, layout, &dc,
			   real_now(), &d->durable);
	if (r < 0) {
		log_err("cannot write the daemon's header into the metadata: %s",
			strerror(-r));
		return r;
	}
	return 0;
}

/* What the child of check_stored() found, through a pipe. */
struct check_report {
	int attach_err;		/* heap_attach()'s -errno, or 0 */
	int recover_err;	/* heap_recover()'s -errno, or 0 */
	struct heap_recovery rec;
	uint64_t recover_ns, check_ns;
	uint64_t inuse_spans;
};

/* In the child: attach, recover and check; abort on corruption. */
static void check_child(struct daemon *d, int fd)
{
	struct check_report rep = { 0 };
	struct heap_stats hs;
	struct heap_ops ops;
	struct heap *h;
	uint64_t t;

	arena_heap_ops(d->arena, d->meta, &ops);
	rep.attach_err = heap_attach(d->meta->base, d->meta->size, &ops, &h);
	if (!rep.attach_err) {
		t = daemon_now();
		rep.recover_err = heap_recover(h, &rep.rec);
		rep.recover_ns = daemon_now() - t;
	}
	if (!rep.attach_err && !rep.recover_err) {
		t = daemon_now();
		heap_check(h);
		rep.check_ns = daemon_now() - t;
		heap_stats(h, &hs);
		rep.inuse_spans = hs.objects;
	}
	_exit(write(fd, &rep, sizeof(rep)) == (ssize_t)sizeof(rep) ? 0 : 1);
}

/*
 * heap_attach() (in a debug build), heap_recover() and heap_check() abort
 * on a corrupt heap: run them first in a child, whose exit says.  The
 * metadata is a shared mapping, so what heap_recover() undid there is
 * undone for this process too.  Only the loop thread exists yet, so the
 * fork is safe.  Return: 0 with @ret filled, or -EUCLEAN if it died.
 */
static int check_stored(struct daemon *d, struct check_report *ret)
{
	struct check_report rep;
	int p[2], status;
	ssize_t n;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -errno;
	}
	if (pid == 0) {
		close(p[0]);
		check_child(d, p[1]);
	}
	close(p[1]);
	do
		n = read(p[0], &rep, sizeof(rep));
	while (n < 0 && errno == EINTR);
	close(p[0]);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (n != (ssize_t)sizeof(rep) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return -EUCLEAN;
	*ret = rep;
	return 0;
}

/* Take over @fd, a stored memfd; it is ours to close from now on. */
static int attach_stored(int *fd, const char *what, struct arena **ret,
			 char *why, size_t len)
{
	int r = arena_attach(*fd, ret);

	if (r < 0) {
		snprintf(why, len,
			 "the stored %s is not a memfd sealed against resizing, of a size that is a multiple of 4 KiB (%s)",
			 what, strerror(-r));
		return r;
	}
	*fd = -1;
	return 0;
}

static void log_checked(const struct check_report *rep)
{
	const struct heap_recovery *rec = &rep->rec;

	if (rec->undone || rec->runs)
		log_info("recovered the stored heap: undid %llu journal entr%s of the change the daemon before died in; gave %llu held scavenger run%s back (%llu pages, %llu of them released)",
			 (unsigned long long)rec->undone,
			 rec->undone == 1 ? "y" : "ies",
			 (unsigned long long)rec->runs,
			 rec->runs == 1 ? "" : "s",
			 (unsigned long long)rec->run_pages,
			 (unsigned long long)rec->released_pages);
	log_info("checked the stored heap (%llu spans in use) in %llu us: heap_recover() %llu us, heap_check() in a child %llu us",
		 (unsigned long long)rep->inuse_spans,
		 (unsigned long long)((rep->recover_ns + rep->check_ns) / 1000),
		 (unsigned long long)(rep->recover_ns / 1000),
		 (unsigned long long)(rep->check_ns / 1000));
}

/* Check and adopt the stored arena and metadata: see the top. */
static int adopt(struct daemon *d, char *why, size_t len)
{
	struct check_report rep = { 0 };
	struct heap_stats hs;
	struct heap_ops ops;
	struct heap *h = NULL;
	int r;

	r = attach_stored(&d->fds.arena_fd, "arena", &d->arena, why, len);
	if (r == 0)
		r = attach_stored(&d->fds.meta_fd, "metadata", &d->meta, why,
				  len);
	if (r < 0)
		return r;
	r = check_stored(d, &rep);
	if (r < 0) {
		snprintf(why, len,
			 "heap_check() found the stored heap corrupt (its report is above)");
		return r;
	}
	if (rep.attach_err) {
		snprintf(why, len,
			 "the stored metadata holds no heap of this version that fits its %llu bytes (%s)",
			 (unsigned long long)d->meta->size,
			 strerror(-rep.attach_err));
		return rep.attach_err;
	}
	if (rep.recover_err) {
		snprintf(why, len,
			 "the stored heap's journal is corrupt, so the change the daemon before died in cannot be undone (heap_recover(): %s)",
			 strerror(-rep.recover_err));
		return rep.recover_err;
	}
	log_checked(&rep);
	/* What the child found and undid holds here: the same memory. */
	arena_heap_ops(d->arena, d->meta, &ops);
	r = heap_attach(d->meta->base, d->meta->size, &ops, &h);
	if (r == 0)
		r = heap_recover(h, NULL);
	if (r < 0) {
		snprintf(why, len,
			 "the stored heap changed after it was checked (%s)",
			 strerror(-r));
		goto out_detach;
	}
	heap_stats(h, &hs);
	if (hs.arena_size != d->arena->size) {
		snprintf(why, len,
			 "the stored heap is of an arena of %llu bytes, the stored arena has %llu",
			 (unsigned long long)hs.arena_size,
			 (unsigned long long)d->arena->size);
		r = -EINVAL;
		goto out_detach;
	}
	r = durable_adopt(d->meta->base, d->meta->size, hs.meta_size,
			  d->arena->size, why, len, &d->durable);
	if (r < 0)
		goto out_detach;
	d->core.heap = h;
	return 0;
out_detach:
	heap_detach(h);
	return r;
}

/* An adopted heap keeps what it was made with, until a full stop. */
static void adopt_options(struct daemon *d, const struct options *opt)
{
	struct durable_config c;

	durable_config(d->durable, &c);
	if (c.arena_size != opt->arena_size)
		log_warn("--arena-size=%llu ignored: the adopted arena has %llu bytes until a full stop (systemctl stop spanheapd)",
			 (unsigned long long)opt->arena_size,
			 (unsigned long long)c.arena_size);
	if (c.max_clients != opt->max_clients)
		log_warn("--max-clients=%u ignored: the adopted heap was made for %u until a full stop",
			 opt->max_clients, c.max_clients);
	if (c.max_objects != opt->max_objects)
		log_warn("--max-objects=%u ignored: the adopted heap was made for %u until a full stop",
			 opt->max_objects, c.max_objects);
	if (c.max_refs != opt->max_refs)
		log_warn("--max-refs=%u ignored: the adopted heap was made for %u until a full stop",
			 opt->max_refs, c.max_refs);
	d->opt.arena_size = c.arena_size;
	d->opt.max_clients = c.max_clients;
	d->opt.max_objects = c.max_objects;
	d->opt.max_refs = c.max_refs;
}

/* Drop what the store holds, and what we attached of it. */
static void unadopt(struct daemon *d)
{
	fdstore_drop(&d->fds, FDSTORE_ARENA);
	fdstore_drop(&d->fds, FDSTORE_META);
	arena_destroy(d->meta);
	arena_destroy(d->arena);
	d->meta = d->arena = NULL;
	if (d->fds.arena_fd >= 0)
		close(d->fds.arena_fd);
	if (d->fds.meta_fd >= 0)
		close(d->fds.meta_fd);
	d->fds.arena_fd = d->fds.meta_fd = -1;
}

/* Adopt the stored heap if there is a good one, else make a new one. */
static int take_heap(struct daemon *d, const struct options *opt)
{
	char why[256] = "";
	int r;

	if (d->fds.arena_fd >= 0 && d->fds.meta_fd >= 0) {
		r = adopt(d, why, sizeof(why));
		if (r == 0) {
			d->adopted = d->stored = true;
			adopt_options(d, opt);
			return 0;
		}
		log_err("cannot adopt the arena of the service manager's fd store: %s; dropping it and starting with a new, empty arena (what clients held in the old one is lost; they get -ESTALE and must connect again)",
			why);
		unadopt(d);
	} else if (d->fds.arena_fd >= 0 || d->fds.meta_fd >= 0) {
		log_err("the service manager's fd store holds the %s but not the %s; dropping it and starting with a new, empty arena",
			d->fds.arena_fd >= 0 ? "arena" : "metadata",
			d->fds.arena_fd >= 0 ? "metadata" : "arena");
		unadopt(d);
	}
	r = make_new(d);
	if (r < 0)
		return r;
	if (!d->fds.available)
		return 0;	/* daemon_run() says what that means */
	if (fdstore_keep(&d->fds, d->arena->fd, FDSTORE_ARENA) < 0 ||
	    fdstore_keep(&d->fds, d->meta->fd, FDSTORE_META) < 0) {
		log_warn("cannot hand the arena to the service manager's fd store: it will not survive a restart of the daemon (is FileDescriptorStoreMax= set in the unit?)");
		fdstore_drop(&d->fds, FDSTORE_ARENA);
		return 0;
	}
	d->stored = true;
	return 0;
}

/* Every owner of the adopted heap is an orphan until it comes back. */
static void adopt_owners(struct daemon *d)
{
	struct heap_owner_info o;
	uint32_t cursor = 0, next = 1, n = 0;

	daemon_heap_lock(&d->core);
	while (heap_owner_next(d->core.heap, &cursor, &o)) {
		if (orphans_add(&d->orphans, o.id) == 0)
			n++;
		if (o.key < UINT32_MAX && o.key + 1 > next)
			next = (uint32_t)o.key + 1;
	}
	durable_restart(d->durable, real_now(), next);
	daemon_heap_unlock(&d->core);
	clients_set_next_id(&d->clients, durable_next_client_id(d->durable));
	log_info("adopted the arena of the fd store, generation %llu: %u client%s may come back within %llu ms (--reconnect-grace)",
		 (unsigned long long)durable_generation(d->durable), n,
		 n == 1 ? "" : "s",
		 (unsigned long long)(d->opt.reconnect_grace_ns / 1000000));
}

/*
 * --memory-limit, resolved (memlimit.h) and given to the heap, which
 * holds every allocation to it.  A limit above the arena changes
 * nothing, and is said to.
 */
static int set_memory_limit(struct daemon *d)
{
	char size[32];
	int r = memlimit_resolve(&d->opt, "", &d->memory_limit,
				 d->memory_limit_source,
				 sizeof(d->memory_limit_source));

	if (r < 0) {
		log_err("cannot work out the memory limit: %s; give --memory-limit=SIZE",
			d->memory_limit_source);
		return r;
	}
	heap_set_limit(d->core.heap, d->memory_limit);
	if (!d->memory_limit) {
		log_info("no memory limit (%s): clients may fill the %llu MiB arena",
			 d->memory_limit_source,
			 (unsigned long long)(d->opt.arena_size >> 20));
		return 0;
	}
	units_format_size(size, sizeof(size), d->memory_limit);
	log_info("memory limit %s (%s)%s", size, d->memory_limit_source,
		 d->memory_limit >= d->opt.arena_size ?
			 ", above the arena: it never binds" : "");
	return 0;
}

int daemon_init(struct daemon *d, const struct options *opt)
{
	const char *env = getenv("SPANHEAPD_HEAP_CHECK");
	int r;

	memset(d, 0, sizeof(*d));
	d->opt = *opt;
	d->signal_fd = -1;
	d->fds.listen_fd = d->fds.arena_fd = d->fds.meta_fd = -1;
	core_init(&d->core);
	signal(SIGPIPE, SIG_IGN);
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
	r = fdstore_take(&d->fds);
	if (r < 0)
		return r;
	r = take_heap(d, opt);
	if (r < 0)
		return r;
	r = set_memory_limit(d);
	if (r < 0)
		return r;
	daemon_compose(d);
	r = quotas_load(d, true);
	if (r < 0)
		return r;
	server_use_passed(&d->server, d->fds.listen_fd);
	d->fds.listen_fd = -1;		/* the server's now */
	if (d->adopted)
		adopt_owners(d);
	d->scav.heap_check_gc = env && atoi(env) > 0;
	r = server_listen(&d->server);
	if (r < 0)
		return r;
	if (d->opt.metrics_port >= 0) {
		r = metrics_http_start(&d->metrics, d->base,
				       d->opt.metrics_host, d->opt.metrics_port,
				       d->opt.metrics_timeout_s, &d->stats);
		if (r < 0)
			return r;
	}
	r = scavenger_start(&d->scav);
	if (r < 0)
		return r;
	r = pressure_start(d);
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
	if (!d->fds.available)
		log_warn("no service manager (NOTIFY_SOCKET is not set): the arena and every span and object in it will not survive a restart of the daemon; run it as spanheapd.service to keep them");
	stats_publish(&d->stats);
	stats_save(&d->stats);
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
	if (d->composed && d->stored)
		log_info("leaving the arena and the heap in the service manager's fd store for the next start (systemd keeps them across a restart, drops them at a full stop)");
	daemon_decompose(d);
	fdstore_close(&d->fds);
	durable_free(d->durable);
	d->durable = NULL;
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
