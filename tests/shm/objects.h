/* SPDX-License-Identifier: MIT */
/*
 * Objects for the tests of shm/object.c, objref.c and heap_check.c: a
 * heap with an object table over plain memory (mem.h), shortcuts that
 * check the heap after each call, and a snapshot of everything a call
 * may change, to prove that a failed call changed nothing.
 */
#ifndef SPANHEAP_TESTS_SHM_OBJECTS_H
#define SPANHEAP_TESTS_SHM_OBJECTS_H

#include "shm/object.h"
#include "tests/shm/mem.h"

/* The table of the default object heap. */
#define OBJ_TABLE 64
#define OBJ_REFS 128
/* The creators' pids and uids of the shortcuts. */
#define OBJ_PID 4242
#define OBJ_UID 1000

/*
 * A heap of @pages pages (backed by memory or not, metadata in a memfd)
 * with @max_objects and @max_refs, its hash key from the test's seed.
 */
void obj_start(uint64_t pages, uint32_t max_objects, uint32_t max_refs,
	       bool backed);
/* 1024 backed pages, OBJ_TABLE objects, OBJ_REFS references. */
void obj_setup(void);

/* A request for @name of @size bytes by OBJ_PID, OBJ_UID, no flags. */
struct heap_obj_new obj_new(const char *name, uint64_t size);
/* Create @name of @size bytes for @owner (uid OBJ_UID); must succeed. */
struct heap_obj_info obj_create(uint32_t owner, const char *name,
				uint64_t size);
/* obj_create() with the heap_obj_new @flags. */
struct heap_obj_info obj_create_flags(uint32_t owner, const char *name,
				      uint64_t size, unsigned int flags);
/* obj_create(), then seal it. */
struct heap_obj_info obj_sealed(uint32_t owner, const char *name,
				uint64_t size);
/*
 * An evictable object created by @owner, sealed and released: a
 * candidate for eviction, the LRU's newest.
 */
struct heap_obj_info obj_candidate(uint32_t owner, const char *name,
				   uint64_t size);
/* heap_obj_get() by a NUL-terminated name, and its result. */
int obj_get(uint32_t owner, const char *name, struct heap_obj_info *ret);
/* heap_obj_delete() by a NUL-terminated name, uid @uid, at 0. */
int obj_delete(const char *name, uint32_t uid);
/* The object @id's info; it must exist. */
struct heap_obj_info obj_info(uint64_t id);

/* Everything an object call may change, summed up. */
struct obj_snap {
	struct heap_stats heap;
	struct heap_obj_stats objs;
	struct heap_owner_info o1, o2;
	uint64_t nobjs;		/* objects the walk sees */
	uint64_t digest;	/* of every object's info, in walk order */
	uint64_t meta_digest;	/* of the metadata's header */
};

struct obj_snap obj_snap(void);
/* The heap is as @before, and passes heap_check(). */
void obj_assert_same(const struct obj_snap *before);

#endif
