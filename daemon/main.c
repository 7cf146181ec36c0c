// SPDX-License-Identifier: MIT
/*
 * spanheapd: parse the command line, then run the daemon in the
 * foreground (it never forks: systemd or the shell supervises it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#include "daemon.h"
#include "log.h"

/* Each client is a file descriptor: allow as many as the hard limit. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct options opt;
	struct daemon d;
	char err[256];
	int r;

	if (options_parse(argc, argv, &opt, err, sizeof(err)) < 0) {
		fprintf(stderr, "spanheapd: %s; see spanheapd --help\n", err);
		return 2;
	}
	if (opt.help) {
		fputs(options_usage(), stdout);
		return 0;
	}
	if (opt.version) {
		puts("spanheapd " SPANHEAPD_VERSION);
		return 0;
	}
	raise_fd_limit();
	r = daemon_init(&d, &opt);
	if (r == 0)
		r = daemon_run(&d);
	daemon_fini(&d);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
