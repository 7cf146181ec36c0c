/* SPDX-License-Identifier: MIT */
/*
 * The fake daemon that the tests of libclient/ talk to: a thread that
 * listens on a socket in a temp dir, sends a scripted WELCOME with a real
 * sealed memfd, and answers requests with a bump allocator that knows
 * which spans are live.  A test changes the WELCOME script or hooks
 * single requests to send wrong, failing, malformed or late replies, or
 * none.  The fake records what it received; a test reads the record only
 * after fake_join(), which also fails the test if the fake saw a
 * malformed request.
 */
#ifndef SPANHEAP_TESTS_LIBCLIENT_FAKE_H
#define SPANHEAP_TESTS_LIBCLIENT_FAKE_H

#include <check.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libclient/spanheap.h"
#include "shm/arena.h"
#include "proto/proto.h"

#define PG HEAP_PAGE_SIZE
#define FAKE_ARENA_SIZE (UINT64_C(64) << 20)
#define FAKE_PAGES (FAKE_ARENA_SIZE / PG)
#define FAKE_CLIENT_ID 42
#define FAKE_RELEASED (UINT64_C(123) * PG)
#define FAKE_GC_FREED 7
#define FAKE_STATS "{\"fake\":true}"
#define FAKE_MAX_CONN 16	/* connections one test can script */
#define FAKE_MAX_FDS 4		/* descriptors one message can carry */
#define FAKE_MAX_RECORD 1024	/* offsets the record keeps */
#define FAKE_MAX_REQS 64	/* per-request counts the record keeps */
#define FAKE_MAX_OBJS 16	/* objects the fake keeps */
/* The first object's id: past 32 bits, as the daemon's may be. */
#define FAKE_FIRST_OBJ_ID ((UINT64_C(1) << 32) + 1)

/* Any request; proto_check_request() has vetted it before it is read. */
union fake_req {
	struct proto_hdr hdr;
	struct proto_hello hello;
	struct proto_alloc alloc;
	struct proto_free free;
	struct proto_obj_create obj_create;
	struct proto_obj_id obj_id;
	struct proto_obj_get obj_get;
	struct proto_obj_delete obj_delete;
	struct proto_objects objects;
};

/* An object of the fake's object table (tests/libclient/fake_object.c). */
struct fake_obj {
	char name[PROTO_OBJ_NAME_MAX + 1];
	uint64_t id;
	uint64_t off;
	uint64_t size;
	uint64_t npages;
	unsigned int refs;
	bool sealed;
	bool deleted;
};

/* What the fake answers to HELLO on one connection. */
struct fake_welcome {
	struct proto_welcome msg;
	size_t len;		/* bytes of msg sent */
	int nfds;		/* copies of fd sent along */
	int fd;			/* -1: the arena's memfd */
	bool early;		/* send before reading HELLO */
	bool hang_up;		/* close the connection after sending */
	bool silent;		/* read HELLO, never answer */
	unsigned int delay_ms;	/* between HELLO and the WELCOME */
};

struct fake {
	char dir[32];			/* /tmp/spanheap-client.XXXXXX */
	char path[64];
	int lfd;
	struct arena *arena;		/* the fake daemon's own mapping */
	pthread_t thread;
	bool running;

	/* The script, set before fake_start(). */
	int nconn;
	struct fake_welcome welcome[FAKE_MAX_CONN];
	/* Answers a request itself if it returns true. */
	bool (*hook)(struct fake *f, int cfd, const union fake_req *req);

	/* The record, written by the fake thread. */
	int conn;			/* connections accepted - 1 */
	uint32_t seq;			/* the seq the next request must have */
	struct proto_hello hello;	/* the last HELLO */
	char name[FAKE_MAX_CONN][PROTO_NAME_MAX + 1]; /* each HELLO's name */
	unsigned int nreq[PROTO_TYPE_MAX + 1];
	struct proto_alloc last_alloc;
	uint32_t alloc_count[FAKE_MAX_REQS];
	uint32_t free_count[FAKE_MAX_REQS];
	uint32_t free_flags[FAKE_MAX_REQS];
	uint64_t allocated[FAKE_MAX_RECORD];
	size_t nallocated;
	uint64_t freed[FAKE_MAX_RECORD];	/* by frees, not checks */
	size_t nfreed;
	uint64_t next_page;
	uint32_t *live;			/* pages of the live span at a page */
	/* The last request of each type, as it came, and its length. */
	unsigned char last[PROTO_TYPE_MAX + 1][PROTO_REQUEST_MAX];
	size_t last_len[PROTO_TYPE_MAX + 1];
	struct fake_obj objs[FAKE_MAX_OBJS];
	int nobjs;
	char failure[256];		/* the first thing that went wrong */
};

/* The fake of the test that runs, set up afresh by fake_tcase(). */
extern struct fake fk;

/* Keep @what as what went wrong first, for fake_join() to report. */
void fake_fail(struct fake *f, const char *what);

/* Sleep @ms, signals or not. */
void fake_sleep_ms(unsigned int ms);

/*
 * Send @len bytes at @buf on @cfd with @nfds copies of @fd; a client
 * that has hung up already is not an error.
 */
void fake_send(int cfd, const void *buf, size_t len, int fd,
	       int nfds);

/* The header of the reply to @req, with @status, in @hdr. */
void fake_reply_hdr(struct proto_hdr *hdr,
		    const union fake_req *req, int32_t status);

/* A bare header with @status, the daemon's way to refuse a request. */
void fake_refuse(int cfd, const union fake_req *req,
		 int32_t status);

/* One chunk of a text reply to @req, flagged PROTO_MORE if @more. */
void fake_chunk(int cfd, const union fake_req *req,
		const char *data, size_t len, bool more);

/*
 * The answers of a daemon that works to the object requests: create,
 * seal, get (a wait is a sleep of the fake's thread; for ever is the
 * test's mistake), release, delete, and OBJECTS as one page of name and
 * id.  Return: false if @req is no object request.
 */
bool fake_object_answer(struct fake *f, int cfd, const union fake_req *req);

/* An OBJ_CREATE or OBJ_GET reply to @req naming that object. */
void fake_obj_reply(int cfd, const union fake_req *req, uint64_t id,
		    uint64_t off, uint64_t size, uint64_t npages);

/* Start the fake on its script. */
void fake_start(void);

/* Wait for the fake to finish its script; its record is then readable. */
void fake_join(void);

/* Start the fake and connect to it; the test fails if that fails. */
struct spanheap *fake_connect(void);

/* Connect to the fake with @timeout_ms as spanheap_connect_opts() has it. */
int fake_connect_opts(int timeout_ms, struct spanheap **ret);

/* The spans the fake handed out and has not seen freed. */
size_t fake_live_spans(void);

/* A TCase whose every test gets a fresh fake, not yet started. */
TCase *fake_tcase(const char *name);

#endif
