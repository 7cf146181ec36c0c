/* SPDX-License-Identifier: MIT */
/*
 * The text side of the kernel's pressure stall information (PSI), for
 * pressure.c: a trigger spec parsed and checked as the kernel will
 * check it, and the memory.pressure file of a process's cgroup v2 found
 * from the text of /proc/self/cgroup and /proc/self/mountinfo.  Pure
 * functions over strings: no file, no log, no event loop, so that the
 * tests and the fuzz target feed them any text.
 *
 * A trigger, as the kernel's Documentation/accounting/psi.rst has it:
 * "some STALL WINDOW" (or "full"), both in microseconds: fire when the
 * tasks of the group were stalled on memory (some of them, or all of
 * them) for STALL us within any WINDOW us.  The kernel takes windows of
 * 500 ms to 10 s and a stall of 1 us up to the window; without
 * CAP_SYS_RESOURCE only windows that are multiples of 2 s (it then
 * refuses the write with EINVAL).
 */
#ifndef SPANHEAPD_PSI_H
#define SPANHEAPD_PSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The kernel's bounds on a trigger's window (kernel/sched/psi.c). */
#define PSI_WINDOW_MIN_US 500000
#define PSI_WINDOW_MAX_US 10000000
/* Without CAP_SYS_RESOURCE a window must be a multiple of this. */
#define PSI_WINDOW_UNPRIV_US 2000000
/* The longest trigger text, "full 10000000 10000000", and its NUL. */
#define PSI_TRIGGER_TEXT_MAX 32

struct psi_trigger {
	bool full;		/* "full": all tasks stalled; else "some" */
	uint32_t stall_us;	/* 1 <= stall_us <= window_us */
	uint32_t window_us;	/* PSI_WINDOW_MIN_US..PSI_WINDOW_MAX_US */
};

/**
 * psi_trigger_parse() - parse and check a trigger spec.
 * @spec: "some|full STALL_US WINDOW_US", the fields separated by blanks
 * @err: on failure, why and what to write instead (no newline)
 *
 * Return: 0 with @ret filled, or -EINVAL with @err filled.
 */
int psi_trigger_parse(const char *spec, struct psi_trigger *ret, char *err,
		      size_t errlen);

/**
 * psi_trigger_format() - the text the kernel is written: "some 100000
 * 1000000", into @buf of at least PSI_TRIGGER_TEXT_MAX bytes.
 */
void psi_trigger_format(const struct psi_trigger *t, char *buf, size_t len);

/**
 * psi_cgroup_file() - the path of file @name (such as "memory.pressure")
 * in the cgroup v2 a process is in.
 * @cgroup: the text of its /proc/PID/cgroup (the "0::PATH" line counts)
 * @mountinfo: the text of its /proc/PID/mountinfo (the cgroup2 mounts
 *	count: the first whose root holds PATH)
 * @why: on failure, why there is none (no newline)
 *
 * Return: 0 with the path in @buf, -ENOENT with @why filled if there is
 * no cgroup v2 or no mount of it shows the cgroup, -ENAMETOOLONG if the
 * path does not fit @len.
 */
int psi_cgroup_file(const char *cgroup, const char *mountinfo,
		    const char *name, char *buf, size_t len, char *why,
		    size_t whylen);

#endif
