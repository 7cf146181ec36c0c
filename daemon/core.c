// SPDX-License-Identifier: MIT
/* The heap lock with its holder check, and the clock: see core.h. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core.h"

void core_init(struct core *core)
{
	pthread_mutex_init(&core->heap_lock, NULL);
	core->locked = false;
	core->heap = NULL;
}

void core_fini(struct core *core)
{
	pthread_mutex_destroy(&core->heap_lock);
}

uint64_t daemon_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void daemon_heap_lock(struct core *core)
{
	pthread_mutex_lock(&core->heap_lock);
	core->holder = pthread_self();
	core->locked = true;
}

void daemon_heap_unlock(struct core *core)
{
	daemon_assert_locked(core);
	core->locked = false;
	pthread_mutex_unlock(&core->heap_lock);
}

/*
 * A broken invariant of the daemon itself: no log.h here (this file
 * includes nothing of daemon/), so the line goes to stderr as it is.
 */
void daemon_assert_locked(const struct core *core)
{
	if (!core->locked || !pthread_equal(core->holder, pthread_self())) {
		fputs("BUG: heap used without its lock\n", stderr);
		abort();
	}
}
