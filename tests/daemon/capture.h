/* SPDX-License-Identifier: MIT */
/* What the daemon's code logs, caught from stderr, for tests/daemon. */
#ifndef SPANHEAP_TESTS_DAEMON_CAPTURE_H
#define SPANHEAP_TESTS_DAEMON_CAPTURE_H

/* Send stderr to a temp file until capture_end(). */
void capture_begin(void);

/*
 * Restore stderr; all that was written since capture_begin(),
 * NUL-terminated, valid until the next capture_end().
 */
const char *capture_end(void);

#endif
