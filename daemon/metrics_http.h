/* SPDX-License-Identifier: MIT */
/*
 * --metrics-listen: MemStats as Prometheus text over HTTP, GET or HEAD
 * /metrics, served by evhttp on the daemon's event loop.  Loop thread
 * only.  It reads MemStats from stats.c and nothing else of daemon/.
 */
#ifndef SPANHEAPD_METRICS_HTTP_H
#define SPANHEAPD_METRICS_HTTP_H

#include "stats.h"

struct event_base;
struct evhttp;

#define METRICS_HTTP_MAX_HEADERS 8192
#define METRICS_HTTP_MAX_BODY 1024

struct metrics_http {
	struct evhttp *http;		/* NULL: off */
	struct stats *stats;
};

/*
 * metrics_http_start() - listen on @host:@port ("" host: loopback) and
 * serve /metrics from @stats on @base; @timeout_s closes an idle or
 * slow connection.  Logs the address it bound.  Return: 0 or -errno
 * (logged with the address and the fix); nothing is left open then.
 */
int metrics_http_start(struct metrics_http *m, struct event_base *base,
		       const char *host, int port, unsigned int timeout_s,
		       struct stats *stats);

/* metrics_http_stop() - close the listener and every connection. */
void metrics_http_stop(struct metrics_http *m);

#endif
