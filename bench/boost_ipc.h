/* SPDX-License-Identifier: MIT */
/*
 * Boost.Interprocess's managed_shared_memory, the in-process shared
 * memory allocator bench_fast holds the span fast path against, behind
 * a C entry point (bench/boost_ipc.cc is C++).
 *
 * The segment is a POSIX shared memory object under a name of its own,
 * "spanheap-bench.PID.NS", which Boost creates in /dev/shm: opening it
 * checks that it is there, closing it removes it and checks that it is
 * gone.  Nothing is left behind but by a process killed in between.
 */
#ifndef SPANHEAP_BENCH_BOOST_IPC_H
#define SPANHEAP_BENCH_BOOST_IPC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct boost_ipc;

/**
 * boost_ipc_open() - create a managed segment of @bytes in /dev/shm.
 * @ret: the segment, written only on success.
 *
 * Return: 0; -EEXIST if the name is taken; -ENOENT if the segment is not
 * in /dev/shm; -EIO if Boost failed otherwise (its message goes to
 * stderr); -ENOMEM.
 */
int boost_ipc_open(size_t bytes, struct boost_ipc **ret);

/**
 * boost_ipc_pairs() - @n pairs of allocate(@size), a write of @pattern
 * to the first byte, and deallocate().
 *
 * Return: 0, or -ENOMEM if an allocate() failed (no pair after it runs).
 */
int boost_ipc_pairs(struct boost_ipc *b, uint64_t n, size_t size,
		    unsigned char pattern);

/**
 * boost_ipc_close() - unmap the segment and remove it from /dev/shm.
 *
 * NULL is fine.  Return: 0; -EIO if the segment could not be removed or
 * is still in /dev/shm afterwards.
 */
int boost_ipc_close(struct boost_ipc *b);

#ifdef __cplusplus
}
#endif

#endif /* SPANHEAP_BENCH_BOOST_IPC_H */
