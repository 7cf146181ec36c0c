/* SPDX-License-Identifier: MIT */
/*
 * What the seed writer's parts share (seeds.c): a seed being built, the
 * requests made from proto/proto.h's structs, and each target's writer.
 */
#ifndef SPANHEAP_TESTS_FUZZ_SEEDS_H
#define SPANHEAP_TESTS_FUZZ_SEEDS_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define SEED_MAX 4096		/* fuzz-ci's -max_len */
#define ARENA (UINT64_C(4) << 20)	/* the harness's arena */
#define PAGE 4096

struct seed {
	unsigned char buf[SEED_MAX];
	size_t len;
};

/* One request, as built; @len bytes of @u count. */
struct msg {
	union {
		struct proto_hdr hdr;
		struct proto_hello hello;
		struct proto_alloc alloc;
		struct proto_obj_create create;
		struct proto_obj_id id;
		struct proto_obj_get get;
		struct proto_obj_delete del;
		struct proto_objects objects;
		struct proto_mag mag;
		struct proto_free free;
		unsigned char raw[PROTO_REQUEST_MAX];
	} u;
	size_t len;
};

/* The seq of the next request; a seed that starts over sets it to 0. */
extern uint32_t seq;

/* Append to a seed; write it as @target's seed @name (exits on error). */
void put(struct seed *s, const void *p, size_t n);
void put16(struct seed *s, unsigned int v);
void put64(struct seed *s, uint64_t v);
void emit(const char *target, const char *name, const struct seed *s);
/* Valid requests (old_version() makes one wrong), each with the next seq. */
struct msg hdr_only(uint16_t type);
struct msg hello(void);
struct msg alloc(uint64_t npages, uint32_t count);
struct msg create_n(const char *name, size_t n, uint64_t size,
		    uint32_t flags);
struct msg create(const char *name, uint64_t size);
struct msg get_n(const char *name, size_t n, int32_t timeout_ms);
struct msg get(const char *name, int32_t timeout_ms);
struct msg del_n(const char *name, size_t n);
struct msg del(const char *name);
struct msg by_id(uint16_t type, uint64_t id);
struct msg seal(uint64_t id);
struct msg release(uint64_t id);
struct msg objects(uint64_t after, uint32_t max);
struct msg hello_mag(void);
struct msg mag(uint16_t type, uint32_t cls, uint32_t flags);
struct msg refill(uint32_t cls, uint32_t flags);
struct msg kick(void);
struct msg span_free(const uint64_t *off, uint32_t count);
struct msg old_version(struct msg m);

/* Each target's seeds: seeds_msgs.c, seeds_mag.c and seeds_recover.c. */
void seeds_dispatch(void);
void seeds_receive(void);
void seeds_magazine(void);
void seeds_magserve(void);
void seeds_recover(void);
void seeds_magresume(void);

#endif
