// SPDX-License-Identifier: MIT
/*
 * The listening socket: the one systemd passed (socket activation), else
 * a Unix SOCK_SEQPACKET socket at --socket, with --socket-mode and
 * --socket-group; and the accept loop that turns away connections beyond
 * --max-clients with a clear error.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Tell a connection we cannot take it, then drop it. */
static void refuse(int fd)
{
	struct proto_hdr hdr;

	proto_hdr_init(&hdr, PROTO_WELCOME, 0);
	hdr.status = -EUSERS;
	send(fd, &hdr, sizeof(hdr), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
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
			if (errno == EMFILE || errno == ENFILE)
				log_warn("cannot accept: %s", strerror(errno));
			return;
		}
		if (d->nclients >= d->opt.max_clients) {
			if (d->refused++ % 100 == 0)
				log_warn("refusing a connection: %u clients is the limit (--max-clients)",
					 d->opt.max_clients);
			refuse(fd);
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
	d->ev_listen = event_new(d->base, d->listen_fd, EV_READ | EV_PERSIST,
				 on_accept, d);
	if (!d->ev_listen || event_add(d->ev_listen, NULL) < 0)
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
	if (d->ev_listen) {
		event_free(d->ev_listen);
		d->ev_listen = NULL;
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
