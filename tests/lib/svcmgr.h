/* SPDX-License-Identifier: MIT */
/*
 * A service-manager stand-in (svcmgr.c): what systemd does for
 * spanheapd.service that the restart tests and the bench need, without
 * systemd.  It owns a NOTIFY_SOCKET datagram socket and keeps the fds a
 * daemon stores there (FDSTORE=1, FDNAME=; FDSTOREREMOVE=1 drops them),
 * as PID 1 keeps its fd store; it makes the listening socket (as
 * spanheapd.socket does) and starts the daemon with LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES set and the socket, then the stored fds,
 * at 3, 4 ..., as systemd starts a service.
 */
#ifndef SPANHEAP_TESTS_SVCMGR_H
#define SPANHEAP_TESTS_SVCMGR_H

#include <stdbool.h>
#include <sys/types.h>

#define SVCMGR_MAX_FDS 16

struct svcmgr {
	char dir[64];		/* private temp directory */
	char sock[100];		/* dir/spanheapd.sock: the activated socket */
	char log[128];		/* dir/spanheapd.log: every start's stderr */
	char notify[100];	/* dir/notify: NOTIFY_SOCKET */
	char fallback[100];	/* dir/fallback.sock: the --socket it is given */
	int notify_fd;
	int listen_fd;
	pid_t pid;		/* the daemon running, or 0 */
	unsigned int starts;
	unsigned int nfds;	/* the fd store */
	int fds[SVCMGR_MAX_FDS];
	char names[SVCMGR_MAX_FDS][32];
	bool ready;		/* READY=1 came from the daemon running */
};

/* A manager with an empty store; nothing runs yet. */
void svcmgr_init(struct svcmgr *m);

/*
 * Start $SPANHEAPD (else build/spanheapd) with the NULL-terminated @args (--arena-size=1G
 * and --socket=dir/fallback.sock unless they give them: a daemon that
 * did not take the activated socket never reaches /run/spanheapd) and
 * wait for READY=1 (30 s at most), keeping what it stores meanwhile.
 * Aborts (printing the cause) on failure, and if the daemon bound the
 * fallback; so does every call here.
 */
void svcmgr_start(struct svcmgr *m, const char *const *args);

/*
 * Start it without waiting; svcmgr_wait_ready() then waits.  Return:
 * the daemon's pid.
 */
pid_t svcmgr_spawn(struct svcmgr *m, const char *const *args);
void svcmgr_wait_ready(struct svcmgr *m);

/* Read what the daemon sent, for up to @timeout_ms (0: what is there). */
void svcmgr_pump(struct svcmgr *m, int timeout_ms);

/* Send @sig, wait for the daemon, keep what it stored; its wait status. */
int svcmgr_kill(struct svcmgr *m, int sig);

/* The stored fd named @name, or -1. */
int svcmgr_fd(const struct svcmgr *m, const char *name);

/* Replace the stored fd named @name by @fd (which it takes). */
void svcmgr_replace(struct svcmgr *m, const char *name, int fd);

/* Kill what runs, close the store, remove the directory. */
void svcmgr_fini(struct svcmgr *m);

#endif
