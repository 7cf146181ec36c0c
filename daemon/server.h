/* SPDX-License-Identifier: MIT */
/*
 * The listening socket (see server.c): bound at --socket or passed by
 * systemd, one daemon per path, and the accept loop, which hands each
 * connection to the connection code (client.h) or refuses it with a
 * clear error: beyond --max-clients, or when file descriptors run out.
 */
#ifndef SPANHEAPD_SERVER_H
#define SPANHEAPD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "options.h"

struct clients;
struct event;
struct event_base;

/* Loop thread only. */
struct server {
	const struct options *opt;
	struct event_base *base;
	struct clients *clients;	/* where accepted connections go */
	struct event *ev_listen;
	int listen_fd;
	int passed_fd;		/* the activated socket, told from stored fds */
	int lock_fd;		/* flock()ed "<socket>.lock", or -1 */
	bool own_socket;	/* we bound the socket at the path */
	dev_t sock_dev;		/* it, while own_socket: unlink only it */
	ino_t sock_ino;
	bool activated;		/* the socket came from systemd */
	/* Accepting when file descriptors run out: see server.c. */
	int reserve_fd;		/* /dev/null, given up to refuse at EMFILE */
	struct event *ev_accept_retry;	/* switches ev_listen on again */
	bool accept_paused;	/* ev_listen off until then */
	unsigned int accept_pause_ms;	/* the last pause; 0 once accepting */
	uint64_t nofile_refused;	/* connections refused with -EMFILE */
	/* Connections refused at --max-clients (MemStats); only grows. */
	uint64_t refused;
	struct log_limit log_nofile, log_refused;
};

/**
 * server_init() - a server of @opt that is not listening yet, whose
 * connections go to @clients.  It cannot fail, and server_close()
 * undoes it.
 */
void server_init(struct server *srv, const struct options *opt,
		 struct event_base *base, struct clients *clients);

/**
 * server_use_passed() - listen on @fd, the activated socket that the
 * fd store's code (fdstore.c) told from the stored memfds, instead of
 * looking at LISTEN_FDS; -1: look there.
 */
void server_use_passed(struct server *srv, int fd);

/** server_listen() - take the activated socket or bind one: 0 or -errno. */
int server_listen(struct server *srv);

/** server_close() - stop listening, and unlink the socket if ours. */
void server_close(struct server *srv);

/** server_resume_accept() - a client has gone: accept again if paused. */
void server_resume_accept(struct server *srv);

#endif
