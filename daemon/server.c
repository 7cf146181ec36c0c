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

#include "client.h"
#include "log.h"
#include "proto/proto.h"
#include "server.h"

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
static int lock_path(struct server *srv, const char *path)
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
	srv->lock_fd = fd;
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
static void reserve_take(struct server *srv)
{
	if (srv->reserve_fd < 0)
		srv->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/*
 * At EMFILE or ENFILE: spend the reserve to refuse what waits in the
 * backlog, each connection in the one fd freed, at most a batch a pause.
 */
static void refuse_with_reserve(struct server *srv, int lfd)
{
	if (srv->reserve_fd < 0)
		return;
	close(srv->reserve_fd);
	srv->reserve_fd = -1;
	for (int i = 0; i < ACCEPT_REFUSE_BATCH; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			break;
		refuse(fd, -EMFILE);
		srv->nofile_refused++;
	}
	reserve_take(srv);
}

/* accept() failed with @err (not EAGAIN): stop listening for a while. */
static void pause_accept(struct server *srv, int err)
{
	unsigned int ms = srv->accept_pause_ms ? 2 * srv->accept_pause_ms :
					      ACCEPT_PAUSE_MIN_MS;
	struct timeval tv;
	struct rlimit rl = { 0, 0 };

	if (ms > ACCEPT_PAUSE_MAX_MS)
		ms = ACCEPT_PAUSE_MAX_MS;
	srv->accept_pause_ms = ms;
	tv = (struct timeval){ ms / 1000, (suseconds_t)(ms % 1000) * 1000 };
	event_del(srv->ev_listen);
	if (evtimer_add(srv->ev_accept_retry, &tv) < 0) {
		/* Better a busy loop than a deaf daemon. */
		event_add(srv->ev_listen, NULL);
		return;
	}
	srv->accept_paused = true;
	getrlimit(RLIMIT_NOFILE, &rl);
	log_limited_rate(&srv->log_nofile, 1, ACCEPT_WARN_INTERVAL_NS, 4,
			 "cannot accept connections: %s (%u clients, open files limited to %llu); not accepting for %u ms, %llu connections refused with EMFILE so far%s",
			 strerror(err), srv->clients->count,
			 (unsigned long long)rl.rlim_cur, ms,
			 (unsigned long long)srv->nofile_refused,
			 err == EMFILE ? "; raise the limit of open files (LimitNOFILE=, ulimit -n) or lower --max-clients" :
			 err == ENFILE ? "; the system's file table is full (sysctl fs.file-max)" :
					 "");
}

static void listen_again(struct server *srv)
{
	srv->accept_paused = false;
	reserve_take(srv);
	event_add(srv->ev_listen, NULL);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd, (void)what;
	listen_again(arg);
}

void server_resume_accept(struct server *srv)
{
	if (!srv->accept_paused)
		return;
	evtimer_del(srv->ev_accept_retry);
	listen_again(srv);
}

static void on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct server *srv = arg;

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
				refuse_with_reserve(srv, (int)lfd);
			pause_accept(srv, err);
			return;
		}
		srv->accept_pause_ms = 0;
		if (srv->clients->count >= srv->opt->max_clients) {
			srv->refused++;
			log_limited_rate(&srv->log_refused, 1,
					 ACCEPT_WARN_INTERVAL_NS, 4,
					 "refusing connections: %u clients is the limit (--max-clients); %llu refused so far",
					 srv->opt->max_clients,
					 (unsigned long long)srv->refused);
			refuse(fd, -EUSERS);
			continue;
		}
		client_accept(srv->clients, fd);
	}
}

/*
 * Socket activation: systemd passed the listening socket (see
 * systemd/spanheapd.socket).  Then --socket is ignored and the socket
 * file is systemd's, not ours to remove.  Returns 1 if a socket was
 * passed and taken, 0 if none was passed, or -errno.
 */
static int take_activated(struct server *srv)
{
	int n, fd = SD_LISTEN_FDS_START;

	if (srv->passed_fd >= 0) {
		/* fdstore.c took it from among the stored fds. */
		fd = srv->passed_fd;
		srv->passed_fd = -1;
		n = 1;
	} else {
		n = sd_listen_fds(1);
	}
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
	srv->listen_fd = fd;
	srv->activated = true;
	log_info("using the socket passed by the service manager");
	return 1;
}

static int add_listener(struct server *srv)
{
	reserve_take(srv);
	if (srv->reserve_fd < 0) {
		log_err("cannot open /dev/null: %s", strerror(errno));
		return -errno;
	}
	srv->ev_accept_retry = evtimer_new(srv->base, on_accept_retry, srv);
	srv->ev_listen = event_new(srv->base, srv->listen_fd,
				   EV_READ | EV_PERSIST, on_accept, srv);
	if (!srv->ev_accept_retry || !srv->ev_listen ||
	    event_add(srv->ev_listen, NULL) < 0)
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

void server_use_passed(struct server *srv, int fd)
{
	srv->passed_fd = fd;
}

void server_init(struct server *srv, const struct options *opt,
		 struct event_base *base, struct clients *clients)
{
	memset(srv, 0, sizeof(*srv));
	srv->opt = opt;
	srv->base = base;
	srv->clients = clients;
	srv->listen_fd = -1;
	srv->passed_fd = -1;
	srv->lock_fd = -1;
	srv->reserve_fd = -1;
}

int server_listen(struct server *srv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = srv->opt->socket_path;
	mode_t old_umask;
	struct stat st;
	int fd, r;

	r = take_activated(srv);
	if (r)
		return r < 0 ? r : add_listener(srv);
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	r = make_parent(path);
	if (r < 0) {
		log_err("cannot create the directory of %s: %s%s", path,
			strerror(-r), not_for_users(path, r));
		return r;
	}
	r = lock_path(srv, path);
	if (r < 0)
		return r;
	r = clear_stale(&sa);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Never let the socket exist with wider permissions than asked. */
	old_umask = umask(~srv->opt->socket_mode & 0777);
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
	srv->own_socket = true;
	srv->sock_dev = st.st_dev;
	srv->sock_ino = st.st_ino;
	if (srv->opt->socket_gid != (gid_t)-1 &&
	    chown(path, (uid_t)-1, srv->opt->socket_gid) < 0) {
		r = -errno;
		log_err("cannot give %s to group %u: %s", path,
			(unsigned int)srv->opt->socket_gid, strerror(-r));
		goto out_close;
	}
	if (chmod(path, srv->opt->socket_mode) < 0 ||
	    listen(fd, SOMAXCONN) < 0) {
		r = -errno;
		log_err("cannot listen on %s: %s", path, strerror(-r));
		goto out_close;
	}
	srv->listen_fd = fd;
	return add_listener(srv);

out_close:
	close(fd);
	return r;
}

void server_close(struct server *srv)
{
	srv->accept_paused = false;
	if (srv->ev_accept_retry) {
		event_free(srv->ev_accept_retry);
		srv->ev_accept_retry = NULL;
	}
	if (srv->ev_listen) {
		event_free(srv->ev_listen);
		srv->ev_listen = NULL;
	}
	if (srv->reserve_fd >= 0) {
		close(srv->reserve_fd);
		srv->reserve_fd = -1;
	}
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		srv->listen_fd = -1;
	}
	if (srv->own_socket) {
		const char *path = srv->opt->socket_path;
		struct stat st;

		/* Not a socket that replaced ours: it is not ours to remove. */
		if (lstat(path, &st) == 0) {
			if (st.st_dev == srv->sock_dev &&
			    st.st_ino == srv->sock_ino)
				unlink(path);
			else
				log_notice("leaving %s alone: it is no longer the socket this daemon bound",
					   path);
		}
		srv->own_socket = false;
	}
	if (srv->lock_fd >= 0) {
		close(srv->lock_fd);
		srv->lock_fd = -1;
	}
}
