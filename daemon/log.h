/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with sd-daemon priority prefixes ("<3>" ...), so that
 * journald keeps each line's level.  Only the daemon logs; shm/ and
 * libclient/ never do.
 *
 * Lines that a client can cause at will (a connection, a hang-up, a bad
 * message) go through a struct log_limit, one per kind of line, so that
 * connection churn cannot fill the journal: at most LOG_LIMIT_BURST lines
 * of a kind in any window of LOG_LIMIT_INTERVAL_NS, and the first line
 * printed after some were suppressed says how many.
 */
#ifndef SPANHEAPD_LOG_H
#define SPANHEAPD_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-daemon.h>

void log_msg(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(3, __VA_ARGS__)
#define log_warn(...) log_msg(4, __VA_ARGS__)
#define log_notice(...) log_msg(5, __VA_ARGS__)
#define log_info(...) log_msg(6, __VA_ARGS__)
#define log_debug(...) log_msg(7, __VA_ARGS__)

/* log_limited()'s policy: 10 lines of a kind per 5 s, as printk's. */
#define LOG_LIMIT_BURST 10
#define LOG_LIMIT_INTERVAL_NS (UINT64_C(5) * 1000000000)

/*
 * The state of one kind of rate-limited line.  All zero is a limit that
 * has printed nothing yet.  Not locked: each belongs to one thread (all
 * of the daemon's are the event loop's).
 */
struct log_limit {
	bool begun;		/* a window has begun at begin_ns */
	uint64_t begin_ns;
	unsigned int printed;	/* lines printed in that window */
	uint64_t missed;	/* suppressed since the last one printed */
};

/**
 * log_limit_check() - may a line of @l's kind be printed at @now_ns?
 * @burst: lines allowed in a window
 * @interval_ns: the length of a window; one begins at the first line
 *	asked for after the previous window ended
 * @ret_missed: if it may, how many lines were suppressed since the last
 *	one printed (the count then starts again from 0)
 *
 * Return: true if the line may be printed; false if it is suppressed,
 * and counted.  The clock is the caller's, so tests need not wait.
 */
bool log_limit_check(struct log_limit *l, unsigned int burst,
		     uint64_t interval_ns, uint64_t now_ns,
		     uint64_t *ret_missed);

/**
 * log_limited() - log_msg() under @l with LOG_LIMIT_BURST lines per
 * LOG_LIMIT_INTERVAL_NS of CLOCK_MONOTONIC.  A line printed after some
 * were suppressed ends with " (N similar messages suppressed)".
 */
void log_limited(struct log_limit *l, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** log_limited_rate() - log_limited() at @burst lines per @interval_ns. */
void log_limited_rate(struct log_limit *l, unsigned int burst,
		      uint64_t interval_ns, int prio, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#endif
