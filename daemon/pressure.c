// SPDX-License-Identifier: MIT
/*
 * The memory pressure watch (see pressure.h).
 *
 * Where: the kernel keeps pressure stall information per cgroup v2 and
 * for the whole machine.  The daemon's own cgroup is what matters (a
 * memory.high or memory.max of its unit, or of a container, stalls it
 * before the machine notices), so its memory.pressure comes first; if
 * there is none (no cgroup v2, no cgroup2 mount that shows it, pressure
 * off for the cgroup) or it refuses the trigger (a read-only cgroupfs,
 * a file only root may write), the machine's /proc/pressure/memory,
 * which anyone may write, serves instead.  The log line says which and
 * why.
 *
 * How: writing the trigger to the file makes that open file a trigger;
 * the kernel marks it when the stall crosses the threshold within a
 * window, at most once a window, and wakes its pollers with POLLPRI.
 * Its poll mask always has POLLIN besides, so a plain EV_READ on it
 * would spin the loop.  So the trigger fd sits alone in an epoll set of
 * its own that waits for EPOLLPRI only, and that epoll fd, readable when
 * the set has an event, is what libevent watches (EV_READ | EV_PERSIST).
 *
 * The kernel clears a trigger's mark when it is polled and found set
 * (psi_trigger_poll()), and the loop's own poll of the epoll fd already
 * polls the trigger inside it: by the time the callback runs, the mark
 * has been consumed and epoll_wait() on the inner set usually returns
 * nothing.  So a wake of the callback is the event.  The same poll is
 * what keeps wakes without a mark out: a cgroup file's pollers share
 * one wait queue, so another process's trigger on the same file wakes
 * the set too, but its poll then finds no mark of this trigger's and
 * the loop never sees the set readable.  The callback still calls
 * epoll_wait(0) on the inner set, for what is not a mark: an error,
 * which unlike the mark is sticky; EPOLLERR or EPOLLHUP (the cgroup
 * was removed, or PSI went away) ends the watch with one log line
 * instead of waking the loop forever.
 *
 * Invariants: psi_fd >= 0, epfd >= 0, ev_psi != NULL and source[0] go
 * together (a PSI watch); fifo_fd >= 0 and ev_fifo != NULL go together
 * (the injected events).  Each is torn down whole, never half.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "pressure.h"
#include "psi.h"

/* /proc/self/mountinfo can be long in a busy container; not this long. */
#define PROC_TEXT_MAX (4u << 20)

struct pressure {
	struct event_base *base;
	void (*fired)(void *ctx);
	void *ctx;
	char trigger[PSI_TRIGGER_TEXT_MAX];	/* "": off */
	/* The PSI watch: all or none. */
	char source[PATH_MAX];
	int psi_fd;
	int epfd;
	struct event *ev_psi;
	/* The injected events: both or neither. */
	int fifo_fd;
	struct event *ev_fifo;
	char inject[PATH_MAX];
};

/* Whether this process holds CAP_SYS_RESOURCE, as the kernel sees it. */
static bool have_sys_resource(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[CAP_TO_INDEX(CAP_SYS_RESOURCE)].effective &
	       CAP_TO_MASK(CAP_SYS_RESOURCE);
}

/* What to do about @err from file @path with trigger @t, for a log line. */
static const char *fix_for(int err, const char *path,
			   const struct psi_trigger *t)
{
	bool proc = !strcmp(path, PRESSURE_PROC_FILE);

	switch (err) {
	case ENOENT:
		return proc ? "the kernel has no PSI (built without CONFIG_PSI, or booted with psi=0: boot with psi=1), or /proc hides it (systemd's ProcSubset=pid)" :
			      "pressure is off for this cgroup (cgroup.pressure is 0) or the cgroup is gone";
	case EOPNOTSUPP:
		return "PSI is disabled: boot the kernel with psi=1 (CONFIG_PSI_DEFAULT_DISABLED)";
	case EINVAL:
		if (t->window_us % PSI_WINDOW_UNPRIV_US && !have_sys_resource())
			return "without CAP_SYS_RESOURCE the kernel takes only windows that are multiples of 2 s: give --pressure-trigger a window of 2000000 (such as \"some 200000 2000000\"), or the capability (AmbientCapabilities=CAP_SYS_RESOURCE)";
		return "the kernel refused the trigger: check --pressure-trigger against the kernel's Documentation/accounting/psi.rst";
	case EACCES:
	case EPERM:
		return proc ? "the file must be writable: run the daemon as a user that may write it" :
			      "only its owner, root, may write it: run the daemon as root to watch its own cgroup";
	case EROFS:
		return "the cgroup file system is mounted read-only (systemd's ProtectControlGroups=yes)";
	default:
		return "see the kernel's Documentation/accounting/psi.rst";
	}
}

/*
 * Open @path and make it trigger @t: the fd, or -errno.  The kernel
 * reads the trigger up to its NUL, which goes with it.
 */
static int trigger_open(const char *path, const char *text)
{
	size_t len = strlen(text) + 1;
	ssize_t n;
	int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	n = write(fd, text, len);
	if (n != (ssize_t)len) {
		int r = n < 0 ? -errno : -EIO;

		close(fd);
		return r;
	}
	return fd;
}

/* The text of /proc file @path, NUL-terminated, in *@ret: 0 or -errno. */
static int read_text(const char *path, char **ret)
{
	size_t len = 0, cap = 8192;
	char *buf = malloc(cap), *nb;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r = 0;

	if (fd < 0 || !buf) {
		r = fd < 0 ? -errno : -ENOMEM;
		goto out_free;
	}
	for (;;) {
		ssize_t n;

		if (len + 1 == cap) {
			if (cap >= PROC_TEXT_MAX) {
				r = -EFBIG;
				goto out_free;
			}
			nb = realloc(buf, cap * 2);
			if (!nb) {
				r = -ENOMEM;
				goto out_free;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out_free;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	*ret = buf;
	return 0;

out_free:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}

/* The cgroup's memory.pressure into @buf: 0, or -errno with @why. */
static int cgroup_file(char *buf, size_t len, char *why, size_t whylen)
{
	char *cgroup = NULL, *mountinfo = NULL;
	int r = read_text("/proc/self/cgroup", &cgroup);

	if (r == 0)
		r = read_text("/proc/self/mountinfo", &mountinfo);
	if (r < 0)
		snprintf(why, whylen, "cannot read /proc/self/%s: %s",
			 cgroup ? "mountinfo" : "cgroup", strerror(-r));
	else
		r = psi_cgroup_file(cgroup, mountinfo, "memory.pressure", buf,
				    len, why, whylen);
	free(cgroup);
	free(mountinfo);
	return r;
}

static void psi_close(struct pressure *p)
{
	if (p->ev_psi)
		event_free(p->ev_psi);
	if (p->epfd >= 0)
		close(p->epfd);
	if (p->psi_fd >= 0)
		close(p->psi_fd);
	p->ev_psi = NULL;
	p->epfd = p->psi_fd = -1;
	p->source[0] = '\0';
}

static void fifo_close(struct pressure *p)
{
	if (p->ev_fifo)
		event_free(p->ev_fifo);
	if (p->fifo_fd >= 0)
		close(p->fifo_fd);
	p->ev_fifo = NULL;
	p->fifo_fd = -1;
}

/* The epoll set of the trigger is readable: one event, or the end. */
static void on_psi(evutil_socket_t fd, short what, void *arg)
{
	struct pressure *p = arg;
	struct epoll_event ev;
	int n;

	(void)fd;
	(void)what;
	do
		n = epoll_wait(p->epfd, &ev, 1, 0);
	while (n < 0 && errno == EINTR);
	if (n == 1 && (ev.events & (EPOLLERR | EPOLLHUP))) {
		log_warn("memory pressure: %s reports an error (its cgroup was removed?): no longer watching memory pressure",
			 p->source);
		psi_close(p);
		return;
	}
	p->fired(p->ctx);
}

/* The FIFO is readable: what is there, however many bytes, is one event. */
static void on_fifo(evutil_socket_t fd, short what, void *arg)
{
	struct pressure *p = arg;
	bool got = false;
	char buf[256];

	(void)what;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n > 0) {
			got = true;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN) {
			log_err("memory pressure: cannot read %s: %s; no more injected events",
				p->inject, strerror(errno));
			fifo_close(p);
		}
		break;
	}
	if (got)
		p->fired(p->ctx);
}

/* Watch @path with the trigger: 0 or -errno (nothing left open). */
static int psi_watch(struct pressure *p, const char *path)
{
	struct epoll_event ev = { .events = EPOLLPRI };
	int fd = trigger_open(path, p->trigger);

	if (fd < 0)
		return fd;
	p->psi_fd = fd;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (p->epfd < 0 || epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		int r = -errno;

		log_err("memory pressure: cannot make an epoll set for %s: %s",
			path, strerror(-r));
		psi_close(p);
		return r;
	}
	p->ev_psi = event_new(p->base, p->epfd, EV_READ | EV_PERSIST, on_psi,
			      p);
	if (!p->ev_psi || event_add(p->ev_psi, NULL)) {
		log_err("memory pressure: out of memory for the event of %s",
			path);
		psi_close(p);
		return -ENOMEM;
	}
	snprintf(p->source, sizeof(p->source), "%s", path);
	return 0;
}

/*
 * The trigger on the cgroup's file, else the machine's: 0 or -errno,
 * logged.
 */
static int psi_open(struct pressure *p, const struct psi_trigger *t)
{
	char path[PATH_MAX], why[PATH_MAX + 512];
	int cg_err = 0, r = cgroup_file(path, sizeof(path), why, sizeof(why));

	if (r == 0) {
		r = psi_watch(p, path);
		if (r == 0) {
			log_info("memory pressure: watching %s for \"%s\" (the daemon's cgroup)",
				 path, p->trigger);
			return 0;
		}
		cg_err = -r;
		snprintf(why, sizeof(why), "%s refused the trigger: %s (%s)",
			 path, strerror(cg_err), fix_for(cg_err, path, t));
	}
	r = psi_watch(p, PRESSURE_PROC_FILE);
	if (r == 0) {
		log_info("memory pressure: watching %s for \"%s\", the machine's, since %s",
			 PRESSURE_PROC_FILE, p->trigger, why);
		return 0;
	}
	if (cg_err == -r)
		log_err("memory pressure: cannot watch %s for \"%s\": %s; %s (%s refused it too)",
			PRESSURE_PROC_FILE, p->trigger, strerror(-r),
			fix_for(-r, PRESSURE_PROC_FILE, t), path);
	else
		log_err("memory pressure: cannot watch %s for \"%s\": %s; %s (and %s)",
			PRESSURE_PROC_FILE, p->trigger, strerror(-r),
			fix_for(-r, PRESSURE_PROC_FILE, t), why);
	return r;
}

/* The FIFO at p->inject, made if missing: 0 or -errno, logged. */
static int fifo_open(struct pressure *p)
{
	struct stat st;
	int fd;

	if (mkfifo(p->inject, 0600) && errno != EEXIST) {
		int r = -errno;

		log_err("memory pressure: cannot make the FIFO %s: %s",
			p->inject, strerror(-r));
		return r;
	}
	/* Read and write: the FIFO never reads as ended when a writer goes. */
	fd = open(p->inject, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		int r = -errno;

		log_err("memory pressure: cannot open the FIFO %s: %s",
			p->inject, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) || !S_ISFIFO(st.st_mode)) {
		log_err("memory pressure: %s is not a FIFO: give --pressure-inject a FIFO's path (mkfifo), or a path that does not exist",
			p->inject);
		close(fd);
		return -EINVAL;
	}
	p->fifo_fd = fd;
	p->ev_fifo = event_new(p->base, fd, EV_READ | EV_PERSIST, on_fifo, p);
	if (!p->ev_fifo || event_add(p->ev_fifo, NULL)) {
		log_err("memory pressure: out of memory for the event of %s",
			p->inject);
		fifo_close(p);
		return -ENOMEM;
	}
	return 0;
}

static bool is_off(const char *trigger)
{
	return !trigger || !strcmp(trigger, "off");
}

int pressure_open(struct event_base *base, const char *trigger,
		  const char *inject, void (*fired)(void *ctx), void *ctx,
		  struct pressure **ret)
{
	struct psi_trigger t;
	struct pressure *p;
	char err[512];
	int r;

	if (!is_off(trigger) && psi_trigger_parse(trigger, &t, err, sizeof(err))) {
		log_err("memory pressure: invalid trigger '%s': %s", trigger,
			err);
		return -EINVAL;
	}
	if (inject && (!*inject || strlen(inject) >= PATH_MAX)) {
		log_err("memory pressure: invalid FIFO path '%s': want a path shorter than %d bytes",
			inject, PATH_MAX);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		log_err("memory pressure: out of memory");
		return -ENOMEM;
	}
	p->base = base;
	p->fired = fired;
	p->ctx = ctx;
	p->psi_fd = p->epfd = p->fifo_fd = -1;
	if (!is_off(trigger)) {
		psi_trigger_format(&t, p->trigger, sizeof(p->trigger));
		r = psi_open(p, &t);
		if (r < 0)
			goto out_free;
	}
	if (inject) {
		snprintf(p->inject, sizeof(p->inject), "%s", inject);
		r = fifo_open(p);
		if (r < 0)
			goto out_psi;
	}
	*ret = p;
	return 0;

out_psi:
	psi_close(p);
out_free:
	free(p);
	return r;
}

const char *pressure_source(const struct pressure *p)
{
	return p->source[0] ? p->source : NULL;
}

const char *pressure_trigger_text(const struct pressure *p)
{
	return p->trigger[0] ? p->trigger : NULL;
}

void pressure_close(struct pressure *p)
{
	if (!p)
		return;
	psi_close(p);
	fifo_close(p);
	free(p);
}

int pressure_trigger_valid(const char *spec, char *err, size_t len)
{
	struct psi_trigger t;

	if (!strcmp(spec, "off"))
		return 0;
	return psi_trigger_parse(spec, &t, err, len);
}
