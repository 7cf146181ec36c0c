// SPDX-License-Identifier: MIT
/*
 * The Prometheus endpoint.  evhttp serves it on the daemon's own loop;
 * a request renders the cached MemStats text (stats_get()) with
 * metrics/prom.c, the renderer spanctl uses, so that both print the
 * same text.  Nothing blocks: the socket is non-blocking, evhttp writes
 * the reply as the peer reads it.
 *
 * Against slow or hostile HTTP clients:
 *  - a connection that sends nothing, dribbles its request or never
 *    reads its reply is closed after the timeout (evhttp_set_timeout);
 *  - headers and body are capped; the methods are GET and HEAD, any
 *    other that evhttp parses gets 405, one it does not 501;
 *  - evhttp in libevent 2.1 has no cap on open connections, and none
 *    is added here: a peer that opens connections faster than the
 *    timeout closes them holds that many fds (LimitNOFILE=65536 under
 *    the unit).  So listen on loopback, or let only the scraper in
 *    (IPAddressAllow= of the drop-in).
 */
#include <errno.h>
#include <jansson.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics/prom.h"
#include "metrics_http.h"

#define FIX_UNIT "under spanheapd.service, install the drop-in metrics.conf of spanheapd(8) (PrivateNetwork=no, RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6, IPAddressAllow=localhost)"

static void reply_metrics(struct evhttp_request *req, struct metrics_http *m)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct blob *b = stats_get(m->stats);
	json_t *st = b ? json_loadb(b->text, b->len, 0, NULL) : NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	int r = -ENOMEM;

	blob_put(b);
	f = st ? open_memstream(&text, &len) : NULL;
	if (f) {
		r = prom_render(f, st);
		if (fclose(f))
			r = -ENOMEM;
	}
	json_decref(st);
	if (r < 0 || evbuffer_add(out, text, len)) {
		free(text);
		evhttp_send_error(req, HTTP_INTERNAL, "MemStats unavailable");
		return;
	}
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req),
			  "Content-Type", PROM_CONTENT_TYPE);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void on_request(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (!(evhttp_request_get_command(req) &
	      (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD))) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "GET, HEAD");
		evhttp_send_error(req, 405, "Method Not Allowed: use GET or HEAD");
		return;
	}
	if (!path || strcmp(path, "/metrics")) {
		evhttp_send_error(req, HTTP_NOTFOUND,
				  "Not Found: the metrics are at /metrics");
		return;
	}
	reply_metrics(req, arg);
}

/* A listening socket on @host:@port; -errno, logged, if none. */
static int listen_on(const char *host, int port, int *ret_fd)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *ai;
	char serv[8];
	int fd, r, one = 1;

	snprintf(serv, sizeof(serv), "%d", port);
	if (!*host)
		host = "127.0.0.1";
	r = getaddrinfo(host, serv, &hints, &ai);
	if (r) {
		log_err("cannot listen for metrics on %s:%d: %s; give --metrics-listen an address or a name this host resolves",
			host, port, r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
		r = -errno;
		log_err("cannot listen for metrics on %s:%d: %s; %s",
			host, port, strerror(-r),
			r == -EAFNOSUPPORT || r == -EPERM || r == -EACCES ?
				FIX_UNIT :
			r == -EADDRINUSE ? "pick a free port (0: any)" :
				"give --metrics-listen a local address");
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	freeaddrinfo(ai);
	*ret_fd = fd;
	return 0;
}

static void log_bound(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char a[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		return;
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
		port = ntohs(s6->sin6_port);
		log_info("serving metrics on http://[%s]:%d/metrics", a, port);
		return;
	}
	inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
	port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	log_info("serving metrics on http://%s:%d/metrics", a, port);
}

int metrics_http_start(struct metrics_http *m, struct event_base *base,
		       const char *host, int port, unsigned int timeout_s,
		       struct stats *stats)
{
	struct evhttp_bound_socket *bound;
	int fd = -1, r;

	memset(m, 0, sizeof(*m));
	m->stats = stats;
	r = listen_on(host, port, &fd);
	if (r < 0)
		return r;
	m->http = evhttp_new(base);
	if (!m->http) {
		close(fd);
		return -ENOMEM;
	}
	evhttp_set_timeout(m->http, (int)timeout_s);
	evhttp_set_max_headers_size(m->http, METRICS_HTTP_MAX_HEADERS);
	evhttp_set_max_body_size(m->http, METRICS_HTTP_MAX_BODY);
	/* All that evhttp knows, so that on_request() answers 405. */
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
				   EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
				   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
				   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
				   EVHTTP_REQ_PATCH);
	evhttp_set_gencb(m->http, on_request, m);
	bound = evhttp_accept_socket_with_handle(m->http, fd);
	if (!bound) {
		close(fd);
		metrics_http_stop(m);
		return -ENOMEM;
	}
	log_bound(fd);
	return 0;
}

void metrics_http_stop(struct metrics_http *m)
{
	if (m->http)
		evhttp_free(m->http);
	m->http = NULL;
}
