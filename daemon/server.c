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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define ACCEPT_PAUSE_MIN_MS 100
#define ACCEPT_PAUSE_MAX_MS 1000
#define ACCEPT_WARN_INTERVAL_NS (UINT64_C(5) * 1000000000)
#define ACCEPT_REFUSE_BATCH 64	/* refused in one go at EMFILE */

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
 * One daemon per socket path.  Before it looks at the path, a daemon
 * takes an exclusive flock() on "<path>.lock" and holds it for its life.
 * Without it, a daemon that found another's socket bound but not yet
 * listening took it for stale and removed it, and both ran.  The lock
 * file is never unlinked: had the first holder unlinked it at exit, a
 * daemon that opened it just before could hold a lock on the unlinked
 * file while the next one locks a new file, and both would run.
 *
 * Only the lock's holder looks at a socket file at the path, and removes
 * it only if connect() says ECONNREFUSED: nobody listens, it is stale.  A
 * live listener of any kind is left alone and the daemon refuses to
 * start: connect() succeeds (a daemon of a version that does not lock),
 * says EAGAIN (its backlog is full) or EPROTOTYPE (another program's
 * SOCK_STREAM socket).  At exit the daemon unlinks the path only if it
 * still names the socket it bound (the same st_dev and st_ino).  Socket
 * activation needs none of this: that socket is systemd's.
 */
static int lock_path(struct daemon *d, const char *path)
{
	char lock[PATH_MAX];
	struct stat st;
	int fd, r;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	/* Neither a symlink followed nor a FIFO waited on. */
	fd = open(lock, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
			O_NONBLOCK | O_NOCTTY, 0600);
	if (fd < 0) {
		r = -errno;
		log_err("cannot open the lock file %s: %s", lock, strerror(-r));
		return r;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_err("cannot use %s: the lock file %s is not a regular file; remove it",
			path, lock);
		close(fd);
		return -EEXIST;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		close(fd);
		if (r == -EWOULDBLOCK) {
			log_err("cannot use %s: another spanheapd serves it (it holds %s); stop that one or choose another --socket",
				path, lock);
			return -EADDRINUSE;
		}
		log_err("cannot lock %s: %s", lock, strerror(-r));
		return r;
	}
	d->lock_fd = fd;
	return 0;
}

/*
 * A file left at the path, with the lock held: remove it if it is a
 * socket nobody listens on; refuse anything else.
 */
static int clear_stale(const struct sockaddr_un *sa)
{
	const char *path = sa->sun_path;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		r = -errno;
		log_err("cannot use %s: %s", path, strerror(-r));
		return r;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_err("cannot use %s: a file that is not a socket is there; remove it or choose another --socket",
			path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ? -errno : 0;
	close(fd);
	if (r == -ECONNREFUSED) {
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			log_err("cannot remove the stale socket %s: %s", path,
				strerror(-r));
			return r;
		}
		log_info("removed the stale socket %s", path);
		return 0;
	}
	if (r == 0 || r == -EAGAIN || r == -EPROTOTYPE) {
		log_err("cannot use %s: a program listens there (%s); stop it or choose another --socket",
			path, r == -EPROTOTYPE ?
				"on a socket of another type" :
				"a spanheapd that takes no lock, or another program");
		return -EADDRINUSE;
	}
	log_err("cannot use %s: cannot tell whether a program listens there: %s",
		path, strerror(-r));
	return r;
}

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
			 "cannot accept connections: %s (%u clients, open files limited to %llu); not accepting for %u ms, %llu connections refused with EMFILE so far%s",
			 strerror(err), d->nclients,
			 (unsigned long long)rl.rlim_cur, ms,
			 (unsigned long long)d->nofile_refused,
			 err == EMFILE ? "; raise the limit of open files (LimitNOFILE=, ulimit -n) or lower --max-clients" :
			 err == ENFILE ? "; the system's file table is full (sysctl fs.file-max)" :
					 "");
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

/*
 * Why a user cannot use the default socket: its directory is the system
 * service's, made by systemd (RuntimeDirectory=) or root.
 */
static const char *not_for_users(const char *path, int err)
{
	if ((err != -EACCES && err != -EPERM && err != -EROFS) ||
	    geteuid() == 0 || strcmp(path, DEFAULT_SOCKET))
		return "";
	return "; " DEFAULT_SOCKET " is the system service's socket, in a directory only root and the service may write: as a user, give --socket=PATH (e.g. --socket=$XDG_RUNTIME_DIR/spanheapd.sock)";
}

int server_listen(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = d->opt.socket_path;
	mode_t old_umask;
	struct stat st;
	int fd, r;

	r = take_activated(d);
	if (r)
		return r < 0 ? r : add_listener(d);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	r = make_parent(path);
	if (r < 0) {
		log_err("cannot create the directory of %s: %s%s", path,
			strerror(-r), not_for_users(path, r));
		return r;
	}
	r = lock_path(d, path);
	if (r < 0)
		return r;
	r = clear_stale(&sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Never let the socket exist with wider permissions than asked. */
	old_umask = umask(~d->opt.socket_mode & 0777);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old_umask);
	if (r < 0) {
		r = -errno;
		log_err("cannot bind %s: %s%s", path, strerror(-r),
			not_for_users(path, r));
		goto out_close;
	}
	if (lstat(path, &st) < 0) {
		r = -errno;
		log_err("cannot find the socket just bound at %s: %s", path,
			strerror(-r));
		goto out_close;
	}
	d->own_socket = true;
	d->sock_dev = st.st_dev;
	d->sock_ino = st.st_ino;
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
		const char *path = d->opt.socket_path;
		struct stat st;

		/* Not a socket that replaced ours: it is not ours to remove. */
		if (lstat(path, &st) == 0) {
			if (st.st_dev == d->sock_dev && st.st_ino == d->sock_ino)
				unlink(path);
			else
				log_notice("leaving %s alone: it is no longer the socket this daemon bound",
					   path);
		}
		d->own_socket = false;
	}
	if (d->lock_fd >= 0) {
		close(d->lock_fd);
		d->lock_fd = -1;
	}
}
