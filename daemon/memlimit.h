/* SPDX-License-Identifier: MIT */
/*
 * What --memory-limit comes to (memlimit.c): a size given, none ("max"),
 * or a percent of the memory the daemon may use, which is the least of
 * the machine's MemTotal and the memory limits of its cgroup and every
 * cgroup above it (cgroup v2 memory.max, or v1 memory.limit_in_bytes).
 * Read once, at start: a limit moved later is not followed.
 */
#ifndef SPANHEAPD_MEMLIMIT_H
#define SPANHEAPD_MEMLIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "options.h"

/* Bytes of a description of where the limit came from, its NUL included. */
#define MEMLIMIT_SOURCE_MAX 320

/**
 * memlimit_resolve() - the limit @o asks for, in bytes (0: none), and in
 * @source a description for the log and MemStats ("80% of MemTotal",
 * "80% of /sys/fs/cgroup/system.slice/spanheapd.service/memory.max").
 * @root: "" for the real system, or a directory that stands for "/" (the
 *	tests' fake /proc and /sys).
 *
 * Return: 0, or -errno if MemTotal cannot be read (then @source says
 * what failed); a cgroup file that cannot be read only does not count.
 */
int memlimit_resolve(const struct options *o, const char *root,
		     uint64_t *ret, char *source, size_t len);

#endif
