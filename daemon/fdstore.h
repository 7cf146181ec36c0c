/* SPDX-License-Identifier: MIT */
/*
 * The service manager's fd store (fdstore.c): the fds systemd passed at
 * start (LISTEN_FDS, LISTEN_FDNAMES), told apart by name and kind (the
 * listening socket of socket activation; the memfds named "arena" and
 * "meta" that a daemon before stored), and the calls that store an fd
 * there (FDSTORE=1) and drop one (FDSTOREREMOVE=1).  A leaf: it includes
 * nothing of daemon/ but log.h.
 */
#ifndef SPANHEAPD_FDSTORE_H
#define SPANHEAPD_FDSTORE_H

#include <stdbool.h>

#define FDSTORE_ARENA "arena"
#define FDSTORE_META "meta"

struct fdstore {
	bool available;		/* NOTIFY_SOCKET is set: a manager listens */
	int listen_fd;		/* the activated socket, or -1 */
	int arena_fd;		/* the stored arena memfd, or -1 */
	int meta_fd;		/* the stored metadata memfd, or -1 */
};

/**
 * fdstore_take() - take the fds the service manager passed, and unset
 * its variables (so that no child sees them).  A socket not named arena
 * or meta is the activated one; an fd of another name or kind is logged,
 * dropped from the store and closed.  Return: 0, or -EINVAL (logged) for
 * more than one socket or one that is no listening AF_UNIX SOCK_SEQPACKET
 * socket: the daemon then must not fall back to --socket.
 */
int fdstore_take(struct fdstore *fs);

/**
 * fdstore_keep() - hand @fd (which stays ours too) to the manager's
 * store under @name.  Return: 0; -ENOTCONN without a manager; or the
 * -errno of sending.
 */
int fdstore_keep(const struct fdstore *fs, int fd, const char *name);

/** fdstore_drop() - have the manager close the fds stored as @name. */
void fdstore_drop(const struct fdstore *fs, const char *name);

/** fdstore_close() - close what fdstore_take() took and nobody took over. */
void fdstore_close(struct fdstore *fs);

#endif
