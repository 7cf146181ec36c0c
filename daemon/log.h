/* SPDX-License-Identifier: MIT */
/*
 * Logging to stderr with sd-daemon priority prefixes ("<3>" ...), so that
 * journald keeps each line's level.  Only the daemon logs; shm/ and
 * libclient/ never do.
 */
#ifndef SPANHEAPD_LOG_H
#define SPANHEAPD_LOG_H

#include <systemd/sd-daemon.h>

void log_msg(int prio, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(3, __VA_ARGS__)
#define log_warn(...) log_msg(4, __VA_ARGS__)
#define log_notice(...) log_msg(5, __VA_ARGS__)
#define log_info(...) log_msg(6, __VA_ARGS__)
#define log_debug(...) log_msg(7, __VA_ARGS__)

#endif
