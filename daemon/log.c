// SPDX-License-Identifier: MIT
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/*
 * The sd-daemon "<N>" prefix tells journald a line's priority.  It is
 * for the journal (JOURNAL_STREAM names the stream systemd connected
 * us to) or anything else that is not a person at a terminal; a terminal
 * gets plain lines.  Asked at every line: lines are rare and stderr may
 * be redirected at any time.
 */
static bool log_prefixed(void)
{
	return getenv("JOURNAL_STREAM") || !isatty(STDERR_FILENO);
}

/* One write per line, so lines from threads never interleave. */
__attribute__((format(printf, 3, 0)))
static void log_line(int prio, uint64_t missed, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n = 0;

	if (log_prefixed())
		n = (size_t)snprintf(line, sizeof(line), "<%d>", prio);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	n = strlen(line);
	if (missed)
		snprintf(line + n, sizeof(line) - n - 1,
			 " (%llu similar messages suppressed)",
			 (unsigned long long)missed);
	n = strlen(line);
	line[n++] = '\n';
	fwrite(line, 1, n, stderr);
}

void log_msg(int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(prio, 0, fmt, ap);
	va_end(ap);
}

bool log_limit_check(struct log_limit *l, unsigned int burst,
		     uint64_t interval_ns, uint64_t now_ns,
		     uint64_t *ret_missed)
{
	/* A clock that went back also begins a window: never stuck. */
	if (!l->begun || now_ns < l->begin_ns ||
	    now_ns - l->begin_ns >= interval_ns) {
		l->begun = true;
		l->begin_ns = now_ns;
		l->printed = 0;
	}
	if (l->printed >= burst) {
		if (l->missed < UINT64_MAX)
			l->missed++;
		return false;
	}
	l->printed++;
	*ret_missed = l->missed;
	l->missed = 0;
	return true;
}

__attribute__((format(printf, 5, 0)))
static void vlog_limited(struct log_limit *l, unsigned int burst,
			 uint64_t interval_ns, int prio, const char *fmt,
			 va_list ap)
{
	struct timespec ts;
	uint64_t now, missed;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (log_limit_check(l, burst, interval_ns, now, &missed))
		log_line(prio, missed, fmt, ap);
}

void log_limited(struct log_limit *l, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_limited(l, LOG_LIMIT_BURST, LOG_LIMIT_INTERVAL_NS, prio, fmt, ap);
	va_end(ap);
}

void log_limited_rate(struct log_limit *l, unsigned int burst,
		      uint64_t interval_ns, int prio, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_limited(l, burst, interval_ns, prio, fmt, ap);
	va_end(ap);
}
