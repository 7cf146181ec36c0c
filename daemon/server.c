// SPDX-License-Identifier: MIT
/*
 * The listening socket: the one systemd passed (socket activation), else
 * a Unix SOCK_SEQPACKET socket at --socket, with --socket-mode and
 * --socket-group; and the accept loop that turns away connections beyond
 * --max-clients with a clear error.
 *
 * Out of file descriptors.  When accept() fails with EMFILE or ENFILE
 * while connections wait in the backlog, the listening socket stays
 * readable, so a level-triggered event would call on_accept() again at
 * once, for ever: a spin at 100% CPU, each round a log line.  Instead:
 *  - One fd is held in reserve (/dev/null).  At EMFILE it is closed, and
 *    the connections waiting in the backlog, up to ACCEPT_REFUSE_BATCH,
 *    accepted one at a time in the fd it freed, told -EMFILE (a bare
 *    WELCOME, as refuse() tells -EUSERS) and closed; then the reserve is
 *    taken again.  Clients learn why at once rather than waiting in a
 *    backlog that nobody serves.
 *  - Whatever the error, the listen event is switched off, and a timer
 *    switches it on again after ACCEPT_PAUSE_MIN_MS, doubling while
 *    accept() keeps failing up to ACCEPT_PAUSE_MAX_MS; a client that
 *    leaves frees fds and switches it on at once (server_resume_accept).
 *    So the loop spends a few system calls per pause, and clients that
 *    are connected are served as usual.
 *  - The warning is logged at most once per ACCEPT_WARN_INTERVAL_NS,
 *    with how many pauses it stands for.
 * The invariant: while accept_paused, ev_listen is not pending and
 * ev_accept_retry is; otherwise ev_listen is pending (once listening).
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

/* mkdir -p of @path's parent directory. */
static int make_parent(const char *path)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *p;

	snprintf(buf, sizeof(buf), "%s", path);
	p = strrchr(buf, '/');
	if (!p || p == buf)
		return 0;
	*p = 0;
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * A socket file left at @path: refuse if a daemon still answers there,
 * else remove the stale file.
 */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, r;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (r == 0)
		return -EADDRINUSE;
	return unlink(sa->sun_path) < 0 ? -errno : 0;
}

#define ACCEPT_PAUSE_MIN_MS 100
#define ACCEPT_PAUSE_MAX_MS 1000
#define ACCEPT_WARN_INTERVAL_NS (UINT64_C(5) * 1000000000)
#define ACCEPT_REFUSE_BATCH 64

/*
 * Tell a connection we cannot take it, and why (-errno), then drop it.
 * Closing a socket with datagrams unread resets the connection, and the
 * client's next receive would fail with ECONNRESET before it reads our
 * answer; so stop its sends and drop what it sent (its HELLO, usually)
 * first.  recv() without a control buffer installs no fd it passed.
 */
static void refuse(int fd, int err)
{
	struct proto_hdr hdr;
	char c;

	proto_hdr_init(&hdr, PROTO_WELCOME, 0);
	hdr.status = err;
	send(fd, &hdr, sizeof(hdr), MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(fd, SHUT_RD);
	for (int i = 0; i < 8; i++)
		if (recv(fd, &c, 1, MSG_DONTWAIT | MSG_TRUNC) <= 0)
			break;
	close(fd);
}

/* Hold the reserve fd if we do not; it fails only when fds are short. */
static void reserve_take(struct daemon *d)
{
	if (d->reserve_fd < 0)
		d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * At EMFILE or ENFILE: spend the reserve to refuse what waits in the
 * backlog, each connection in the one fd freed, at most a batch a pause.
 */
static void refuse_with_reserve(struct daemon *d, int lfd)
{
	if (d->reserve_fd < 0)
		return;
	close(d->reserve_fd);
	d->reserve_fd = -1;
	for (int i = 0; i < ACCEPT_REFUSE_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		refuse(fd, -EMFILE);
		d->nofile_refused++;
	}
	reserve_take(d);
}

/* accept() failed with @err (not EAGAIN): stop listening for a while. */
static void pause_accept(struct daemon *d, int err)
{
	unsigned int ms = d->accept_pause_ms ? 2 * d->accept_pause_ms :
					      ACCEPT_PAUSE_MIN_MS;
	struct timeval tv;
	struct rlimit rl = { 0, 0 };

	if (ms > ACCEPT_PAUSE_MAX_MS)
		ms = ACCEPT_PAUSE_MAX_MS;
	d->accept_pause_ms = ms;
	tv = (struct timeval){ ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	event_del(d->ev_listen);
	if (evtimer_add(d->ev_accept_retry, &tv) < 0) {
		/* Better a busy loop than a deaf daemon. */
		event_add(d->ev_listen, NULL);
		return;
	}
	d->accept_paused = true;
	getrlimit(RLIMIT_NOFILE, &rl);
	log_limited_rate(&d->log_nofile, 1, ACCEPT_WARN_INTERVAL_NS, 4,
			 "cannot accept connections: %s (%u clients, open files limited to %llu); not accepting for %u ms, %llu connections refused with EMFILE so far; raise the limit of open files (LimitNOFILE=, ulimit -n) or lower --max-clients",
			 strerror(err), d->nclients,
			 (unsigned long long)rl.rlim_cur, ms,
			 (unsigned long long)d->nofile_refused);
}

static void listen_again(struct daemon *d)
{
	d->accept_paused = false;
	reserve_take(d);
	event_add(d->ev_listen, NULL);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	listen_again(arg);
}

void server_resume_accept(struct daemon *d)
{
	if (!d->accept_paused)
		return;
	evtimer_del(d->ev_accept_retry);
	listen_again(d);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)what;
	/* Take what is queued, but let clients' requests run in between. */
	for (int i = 0; i < 64; i++) {
		int fd = accept4((int)lfd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			int err = errno;

			if (err == EAGAIN || err == EWOULDBLOCK)
				return;
			/* That one is gone, or a signal: the next one. */
			if (err == ECONNABORTED || err == EINTR)
				continue;
			if (err == EMFILE || err == ENFILE)
				refuse_with_reserve(d, (int)lfd);
			pause_accept(d, err);
			return;
		}
		d->accept_pause_ms = 0;
		if (d->nclients >= d->opt.max_clients) {
			d->refused++;
			log_limited_rate(&d->log_refused, 1,
					 ACCEPT_WARN_INTERVAL_NS, 4,
					 "refusing connections: %u clients is the limit (--max-clients); %llu refused so far",
					 d->opt.max_clients,
					 (unsigned long long)d->refused);
			refuse(fd, -EUSERS);
			continue;
		}
		client_accept(d, fd);
	}
}

/*
 * Socket activation: systemd passed the listening socket (see
 * systemd/spanheapd.socket).  Then --socket is ignored and the socket
 * file is systemd's, not ours to remove.  Returns 1 if a socket was
 * passed and taken, 0 if none was passed, or -errno.
 */
static int take_activated(struct daemon *d)
{
	int n = sd_listen_fds(1), fd = SD_LISTEN_FDS_START;

	if (n <= 0)
		return n;
	if (n > 1) {
		log_err("socket activation passed %d sockets, want 1", n);
		return -EINVAL;
	}
	if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
		log_err("the socket-activated fd is not a listening AF_UNIX SOCK_SEQPACKET socket");
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	d->listen_fd = fd;
	d->activated = true;
	log_info("using the socket passed by the service manager");
	return 1;
}

static int add_listener(struct daemon *d)
{
	reserve_take(d);
	if (d->reserve_fd < 0) {
		log_err("cannot open /dev/null: %s", strerror(errno));
		return -errno;
	}
	d->ev_accept_retry = evtimer_new(d->base, on_accept_retry, d);
	d->ev_listen = event_new(d->base, d->listen_fd, EV_READ | EV_PERSIST,
				 on_accept, d);
	if (!d->ev_accept_retry || !d->ev_listen ||
	    event_add(d->ev_listen, NULL) < 0)
		return -ENOMEM;
	return 0;
}

int server_listen(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->opt.socket_path;
	mode_t old_umask;
	int fd, r;

	r = take_activated(d);
	if (r)
		return r < 0 ? r : add_listener(d);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	r = make_parent(path);
	if (r < 0) {
		log_err("cannot create the directory of %s: %s", path,
			strerror(-r));
		return r;
	}
	r = clear_stale(&sa);
	if (r < 0) {
		log_err("cannot use %s: %s", path,
			r == -EADDRINUSE ? "another spanheapd is listening there" :
					   strerror(-r));
		return r;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Never let the socket exist with wider permissions than asked. */
	old_umask = umask(~d->opt.socket_mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (r < 0) {
		r = -errno;
		log_err("cannot bind %s: %s", path, strerror(-r));
		goto out_close;
	}
	d->own_socket = true;
	if (d->opt.socket_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, d->opt.socket_gid) < 0) {
		r = -errno;
		log_err("cannot give %s to group %u: %s", path,
			(unsigned int)d->opt.socket_gid, strerror(-r));
		goto out_close;
	}
	if (chmod(path, d->opt.socket_mode) < 0 || listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		log_err("cannot listen on %s: %s", path, strerror(-r));
		goto out_close;
	}
	d->listen_fd = fd;
	return add_listener(d);

out_close:
	close(fd);
	return r;
}

void server_close(struct daemon *d)
{
	d->accept_paused = false;
	if (d->ev_accept_retry) {
		event_free(d->ev_accept_retry);
		d->ev_accept_retry = NULL;
	}
	if (d->ev_listen) {
		event_free(d->ev_listen);
		d->ev_listen = NULL;
	}
	if (d->reserve_fd >= 0) {
		close(d->reserve_fd);
		d->reserve_fd = -1;
	}
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		d->listen_fd = -1;
	}
	if (d->own_socket) {
		unlink(d->opt.socket_path);
		d->own_socket = false;
	}
}
