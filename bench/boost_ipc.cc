// SPDX-License-Identifier: MIT
/*
 * bench/boost_ipc.h in C++: Boost.Interprocess's managed_shared_memory,
 * as its users call it.  allocate() and deallocate() take the segment's
 * process-shared mutex and walk its rbtree best-fit free list; a second
 * process mapping the segment would pay the same.  No exception leaves
 * this file: every entry point returns 0 or -errno.
 */
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <new>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/interprocess/managed_shared_memory.hpp>

#include "bench/boost_ipc.h"

namespace bip = boost::interprocess;

struct boost_ipc {
	char name[64];		// the shared memory object's name
	char path[80];		// where it lives: /dev/shm/name
	bip::managed_shared_memory seg;
};

static bool in_dev_shm(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0;
}

int boost_ipc_open(size_t bytes, struct boost_ipc **ret)
{
	struct timespec ts;
	boost_ipc *b = new (std::nothrow) boost_ipc;

	if (!b)
		return -ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(b->name, sizeof(b->name), "spanheap-bench.%d.%lld%09ld",
		 (int)getpid(), (long long)ts.tv_sec, ts.tv_nsec);
	snprintf(b->path, sizeof(b->path), "/dev/shm/%s", b->name);
	try {
		// create_only: a segment of that name is never clobbered.
		b->seg = bip::managed_shared_memory(bip::create_only, b->name,
						    bytes);
	} catch (const bip::interprocess_exception &e) {
		int r = e.get_error_code() == bip::already_exists_error ?
			-EEXIST : -EIO;

		fprintf(stderr, "boost_ipc: cannot create %s: %s\n", b->path,
			e.what());
		delete b;
		return r;
	} catch (const std::bad_alloc &) {
		delete b;
		return -ENOMEM;
	}
	if (!in_dev_shm(b->path)) {
		fprintf(stderr, "boost_ipc: the segment %s is not in /dev/shm\n",
			b->name);
		boost_ipc_close(b);
		return -ENOENT;
	}
	*ret = b;
	return 0;
}

int boost_ipc_pairs(struct boost_ipc *b, uint64_t n, size_t size,
		    unsigned char pattern)
{
	for (uint64_t i = 0; i < n; i++) {
		void *p = b->seg.allocate(size, std::nothrow);

		if (!p)
			return -ENOMEM;
		*static_cast<volatile unsigned char *>(p) = pattern;
		b->seg.deallocate(p);
	}
	return 0;
}

int boost_ipc_close(struct boost_ipc *b)
{
	bool removed;

	if (!b)
		return 0;
	// Unmapped first: the object then goes as soon as it is removed.
	b->seg = bip::managed_shared_memory();
	removed = bip::shared_memory_object::remove(b->name);
	if (!removed || in_dev_shm(b->path)) {
		fprintf(stderr, "boost_ipc: cannot remove %s; remove it by hand\n",
			b->path);
		delete b;
		return -EIO;
	}
	delete b;
	return 0;
}
