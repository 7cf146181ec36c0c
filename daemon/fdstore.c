// SPDX-License-Identifier: MIT
/*
 * The fd store: see fdstore.h.  systemd passes the fds of the store to
 * the next start of the service after those of its sockets, each with
 * the name it was stored with (a socket's is its FileDescriptorName=,
 * by default the socket unit's name); it keeps them across a restart
 * job and an automatic restart (Restart=), and closes them when the
 * unit stops for good or fails (see man/spanheapd.8, RESTARTS).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "fdstore.h"
#include "log.h"

static int take_socket(struct fdstore *fs, int fd)
{
	if (fs->listen_fd >= 0) {
		log_err("the service manager passed more than one listening socket; want 1 (see spanheapd.socket)");
		return -EINVAL;
	}
	if (sd_is_socket_unix(fd, SOCK_SEQPACKET, 1, NULL, 0) <= 0) {
		log_err("the socket-activated fd is not a listening AF_UNIX SOCK_SEQPACKET socket: set ListenSequentialPacket= in spanheapd.socket");
		return -EINVAL;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	fs->listen_fd = fd;
	return 0;
}

int fdstore_take(struct fdstore *fs)
{
	char **names = NULL;
	int n, i, r = 0;

	fs->available = getenv("NOTIFY_SOCKET") != NULL;
	fs->listen_fd = fs->arena_fd = fs->meta_fd = -1;
	n = sd_listen_fds_with_names(1, &names);
	for (i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] ? names[i] : "";
		int *slot = NULL;

		fcntl(fd, F_SETFD, FD_CLOEXEC);
		if (!strcmp(name, FDSTORE_ARENA))
			slot = &fs->arena_fd;
		else if (!strcmp(name, FDSTORE_META))
			slot = &fs->meta_fd;
		if (slot && *slot < 0) {
			*slot = fd;
		} else if (!slot && sd_is_socket(fd, AF_UNSPEC, 0, -1) > 0) {
			/*
			 * A socket is the activated one: refused if it is of
			 * the wrong kind, never taken for a stored fd to
			 * drop, lest the daemon then bind --socket instead.
			 */
			if (!r)
				r = take_socket(fs, fd);
			if (fs->listen_fd != fd)
				close(fd);
		} else {
			log_warn("the service manager passed fd %d named '%s', which is neither the listening socket nor a stored arena or metadata; dropping it from the store",
				 fd, name);
			fdstore_drop(fs, name);
			close(fd);
		}
	}
	if (names) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	return r;
}

int fdstore_keep(const struct fdstore *fs, int fd, const char *name)
{
	char msg[64];
	int r;

	if (!fs->available)
		return -ENOTCONN;
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (r < 0)
		return r;
	return r ? 0 : -ENOTCONN;
}

void fdstore_drop(const struct fdstore *fs, const char *name)
{
	char msg[64];

	if (!fs->available || !*name)
		return;
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	sd_notify(0, msg);
}

void fdstore_close(struct fdstore *fs)
{
	if (fs->listen_fd >= 0)
		close(fs->listen_fd);
	if (fs->arena_fd >= 0)
		close(fs->arena_fd);
	if (fs->meta_fd >= 0)
		close(fs->meta_fd);
	fs->listen_fd = fs->arena_fd = fs->meta_fd = -1;
}
