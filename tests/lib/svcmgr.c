// SPDX-License-Identifier: MIT
/*
 * The service-manager stand-in: see svcmgr.h.  It links into the tests
 * and into bench_restart, so it does not use check: a failure prints its
 * cause and aborts (a test reports the signal, the cause is in its log).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "svcmgr.h"

/* Unless @ok: print the cause (errno's too, if set) and abort. */
__attribute__((format(printf, 2, 3)))
static void need(bool ok, const char *fmt, ...)
{
	int err = errno;
	va_list ap;

	if (ok)
		return;
	fputs("svcmgr: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (errno: %s)\n", strerror(err));
	abort();
}

static const char *daemon_bin(void)
{
	const char *bin = getenv("SPANHEAPD");

	return bin && *bin ? bin : "build/spanheapd";
}

static int bind_unix(const char *path, int type)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);

	need(fd >= 0, "socket");
	need(strlen(path) < sizeof(sa.sun_path), "%s: too long", path);
	strcpy(sa.sun_path, path);
	need(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind %s",
	     path);
	return fd;
}

static int remove_one(const char *path, const struct stat *st, int type,
		      struct FTW *ftw)
{
	(void)st, (void)type, (void)ftw;
	return remove(path) < 0 ? -1 : 0;
}

void svcmgr_init(struct svcmgr *m)
{
	memset(m, 0, sizeof(*m));
	snprintf(m->dir, sizeof(m->dir), "/tmp/svcmgr.XXXXXX");
	need(mkdtemp(m->dir) != NULL, "mkdtemp %s", m->dir);
	snprintf(m->sock, sizeof(m->sock), "%s/spanheapd.sock", m->dir);
	snprintf(m->log, sizeof(m->log), "%s/spanheapd.log", m->dir);
	snprintf(m->notify, sizeof(m->notify), "%s/notify", m->dir);
	snprintf(m->fallback, sizeof(m->fallback), "%s/fallback.sock", m->dir);
	m->notify_fd = bind_unix(m->notify, SOCK_DGRAM);
	m->listen_fd = bind_unix(m->sock, SOCK_SEQPACKET);
	need(listen(m->listen_fd, SOMAXCONN) == 0, "listen %s", m->sock);
}

static void store_drop(struct svcmgr *m, const char *name)
{
	unsigned int i = 0;

	while (i < m->nfds) {
		if (strcmp(m->names[i], name)) {
			i++;
			continue;
		}
		close(m->fds[i]);
		m->nfds--;
		m->fds[i] = m->fds[m->nfds];
		memcpy(m->names[i], m->names[m->nfds], sizeof(m->names[i]));
	}
}

/* One datagram's fields: FDSTORE, FDSTOREREMOVE, FDNAME, READY. */
static void handle(struct svcmgr *m, char *msg, const int *fds,
		   unsigned int nfds)
{
	bool store = false, remove = false;
	char name[32] = "stored";
	unsigned int i;
	char *line, *save;

	for (line = strtok_r(msg, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strcmp(line, "FDSTORE=1"))
			store = true;
		else if (!strcmp(line, "FDSTOREREMOVE=1"))
			remove = true;
		else if (!strcmp(line, "READY=1"))
			m->ready = true;
		else if (!strncmp(line, "FDNAME=", 7))
			snprintf(name, sizeof(name), "%s", line + 7);
	}
	if (remove)
		store_drop(m, name);
	for (i = 0; i < nfds; i++) {
		if (!store || m->nfds == SVCMGR_MAX_FDS) {
			close(fds[i]);
			continue;
		}
		m->fds[m->nfds] = fds[i];
		snprintf(m->names[m->nfds], sizeof(m->names[0]), "%s", name);
		m->nfds++;
	}
}

void svcmgr_pump(struct svcmgr *m, int timeout_ms)
{
	struct pollfd p = { .fd = m->notify_fd, .events = POLLIN };

	while (poll(&p, 1, timeout_ms) > 0) {
		union {
			struct cmsghdr h;
			char buf[CMSG_SPACE(sizeof(int) * SVCMGR_MAX_FDS)];
		} cbuf;
		char msg[4096];
		struct iovec iov = { msg, sizeof(msg) - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf.buf,
				     .msg_controllen = sizeof(cbuf.buf) };
		int fds[SVCMGR_MAX_FDS];
		unsigned int nfds = 0;
		struct cmsghdr *c;
		ssize_t n = recvmsg(m->notify_fd, &mh,
				    MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0)
			break;
		msg[n] = 0;
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET ||
			    c->cmsg_type != SCM_RIGHTS)
				continue;
			nfds = (unsigned int)((c->cmsg_len - CMSG_LEN(0)) /
					      sizeof(int));
			memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
		}
		handle(m, msg, fds, nfds);
		timeout_ms = 0;
	}
}

/* In the child: the socket and the store at 3, 4 ..., and exec. */
static void exec_daemon(struct svcmgr *m, const char *const *args)
{
	const char *argv[64];
	char names[SVCMGR_MAX_FDS * 33 + 32], num[16], fallback[128];
	int high[SVCMGR_MAX_FDS + 1], n = 0, i, a = 0, logfd;
	bool sized = false, own_socket = false;

	logfd = open(m->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (logfd < 0)
		_exit(127);
	dup2(logfd, 2);
	high[n++] = fcntl(m->listen_fd, F_DUPFD_CLOEXEC, 100);
	snprintf(names, sizeof(names), "spanheapd.socket");
	for (i = 0; i < (int)m->nfds; i++) {
		high[n++] = fcntl(m->fds[i], F_DUPFD_CLOEXEC, 100);
		strcat(names, ":");
		strcat(names, m->names[i]);
	}
	for (i = 0; i < n; i++)
		if (dup2(high[i], 3 + i) < 0)
			_exit(127);
	snprintf(num, sizeof(num), "%d", n);
	setenv("LISTEN_FDS", num, 1);
	snprintf(num, sizeof(num), "%d", (int)getpid());
	setenv("LISTEN_PID", num, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	setenv("NOTIFY_SOCKET", m->notify, 1);
	argv[a++] = daemon_bin();
	for (i = 0; args && args[i] && a < 60; i++) {
		sized |= !strncmp(args[i], "--arena-size=", 13);
		own_socket |= !strncmp(args[i], "--socket=", 9);
		argv[a++] = args[i];
	}
	if (!sized)
		argv[a++] = "--arena-size=1G";
	/* Never the system's /run/spanheapd, should it not take ours. */
	snprintf(fallback, sizeof(fallback), "--socket=%s", m->fallback);
	if (!own_socket)
		argv[a++] = fallback;
	argv[a] = NULL;
	execv(argv[0], (char *const *)(uintptr_t)argv);
	_exit(127);
}

pid_t svcmgr_spawn(struct svcmgr *m, const char *const *args)
{
	pid_t pid;

	need(m->pid == 0, "a daemon runs already");
	svcmgr_pump(m, 0);
	m->ready = false;
	pid = fork();
	need(pid >= 0, "fork");
	if (pid == 0)
		exec_daemon(m, args);
	m->pid = pid;
	m->starts++;
	return pid;
}

void svcmgr_wait_ready(struct svcmgr *m)
{
	int waited = 0, status;

	while (!m->ready) {
		svcmgr_pump(m, 100);
		waited += 100;
		need(waitpid(m->pid, &status, WNOHANG) == 0,
		     "the daemon exited before READY=1 (see %s)", m->log);
		need(waited < 30000, "no READY=1 in 30 s (see %s)", m->log);
	}
	need(access(m->fallback, F_OK) != 0,
	     "the daemon bound its --socket, not the activated one (see %s)",
	     m->log);
}

void svcmgr_start(struct svcmgr *m, const char *const *args)
{
	svcmgr_spawn(m, args);
	svcmgr_wait_ready(m);
}

int svcmgr_kill(struct svcmgr *m, int sig)
{
	int status = -1;

	need(m->pid > 0, "no daemon runs");
	kill(m->pid, sig);
	while (waitpid(m->pid, &status, 0) < 0 && errno == EINTR)
		;
	m->pid = 0;
	svcmgr_pump(m, 0);
	return status;
}

int svcmgr_fd(const struct svcmgr *m, const char *name)
{
	unsigned int i;

	for (i = 0; i < m->nfds; i++)
		if (!strcmp(m->names[i], name))
			return m->fds[i];
	return -1;
}

void svcmgr_replace(struct svcmgr *m, const char *name, int fd)
{
	unsigned int i;

	for (i = 0; i < m->nfds; i++)
		if (!strcmp(m->names[i], name)) {
			close(m->fds[i]);
			m->fds[i] = fd;
			return;
		}
	need(false, "nothing stored as %s", name);
}

void svcmgr_fini(struct svcmgr *m)
{
	unsigned int i;

	if (m->pid > 0)
		svcmgr_kill(m, SIGKILL);
	for (i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
	close(m->notify_fd);
	close(m->listen_fd);
	need(nftw(m->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ||
	     errno == ENOENT, "cannot remove %s", m->dir);
}
