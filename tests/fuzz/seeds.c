// SPDX-License-Identifier: MIT
/*
 * Writes the fuzz targets' seeds for the shared objects' messages and
 * the magazines', tests/fuzz/corpus/{dispatch,receive}/{obj,mag}-*, and
 * for the magazine region, tests/fuzz/corpus/magazine/, and of the
 * magserve target, tests/fuzz/corpus/magserve/mag-*, and of the heap's
 * recovery, tests/fuzz/corpus/recover/, and of a magazine record a
 * restarted daemon reads back, tests/fuzz/corpus/magresume/: `make
 * fuzz-seeds` runs it once and the outputs are committed; run it again
 * when the messages or the magazine's format change.  The messages are made from
 * proto/proto.h's structs, so that they are what the daemon expects (or
 * exactly as wrong as meant), and the magazine's from proto/magazine.h's.
 *
 * Each seed says what it covers in its name and in a comment here.  The
 * dispatch target's client 0 has uid 0 and client 1 an ordinary uid;
 * ids 1..FUZZ_IDS in OBJ_SEAL and OBJ_RELEASE name the input's objects
 * in the order replies first named them (tests/fuzz/harness.h), and a
 * get's timeout over 20 ms is cut to 20 ms in the dispatch target.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/seeds.h"

static const char *root;
uint32_t seq;
static unsigned int written;

void put(struct seed *s, const void *p, size_t n)
{
	if (s->len + n > sizeof(s->buf)) {
		fprintf(stderr, "seeds: a seed over %d bytes\n", SEED_MAX);
		exit(1);
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
}

void put16(struct seed *s, unsigned int v)
{
	unsigned char b[2] = { (unsigned char)v, (unsigned char)(v >> 8) };

	put(s, b, sizeof(b));
}

void put64(struct seed *s, uint64_t v)
{
	unsigned char b[8];

	for (unsigned int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> 8 * i);
	put(s, b, sizeof(b));
}

void emit(const char *target, const char *name, const struct seed *s)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(s->buf, 1, s->len, f) != s->len || fclose(f)) {
		perror(path);
		exit(1);
	}
	written++;
}

/* ---- requests */

struct msg hdr_only(uint16_t type)
{
	struct msg m;

	memset(&m, 0, sizeof(m));
	proto_hdr_init(&m.u.hdr, type, ++seq);
	m.len = sizeof(m.u.hdr);
	return m;
}

struct msg hello(void)
{
	struct msg m = hdr_only(PROTO_HELLO);

	m.u.hdr.seq = 0;
	strcpy(m.u.hello.name, "seed");
	m.len = sizeof(m.u.hello);
	return m;
}

struct msg alloc(uint64_t npages, uint32_t count)
{
	struct msg m = hdr_only(PROTO_SPAN_ALLOC);

	m.u.alloc.npages = npages;
	m.u.alloc.count = count;
	m.len = sizeof(m.u.alloc);
	return m;
}

struct msg create_n(const char *name, size_t n, uint64_t size,
		    uint32_t flags)
{
	struct msg m = hdr_only(PROTO_OBJ_CREATE);

	m.u.create.size = size;
	m.u.create.flags = flags;
	m.u.create.namelen = (uint16_t)n;
	memcpy(m.u.create.name, name, n);
	m.len = offsetof(struct proto_obj_create, name) + n;
	return m;
}

struct msg create(const char *name, uint64_t size)
{
	return create_n(name, strlen(name), size, 0);
}

struct msg get_n(const char *name, size_t n, int32_t timeout_ms)
{
	struct msg m = hdr_only(PROTO_OBJ_GET);

	m.u.get.timeout_ms = timeout_ms;
	m.u.get.namelen = (uint16_t)n;
	memcpy(m.u.get.name, name, n);
	m.len = offsetof(struct proto_obj_get, name) + n;
	return m;
}

struct msg get(const char *name, int32_t timeout_ms)
{
	return get_n(name, strlen(name), timeout_ms);
}

struct msg del_n(const char *name, size_t n)
{
	struct msg m = hdr_only(PROTO_OBJ_DELETE);

	m.u.del.namelen = (uint16_t)n;
	memcpy(m.u.del.name, name, n);
	m.len = offsetof(struct proto_obj_delete, name) + n;
	return m;
}

struct msg del(const char *name)
{
	return del_n(name, strlen(name));
}

/* OBJ_SEAL or OBJ_RELEASE of @id (an alias: 1..FUZZ_IDS). */
struct msg by_id(uint16_t type, uint64_t id)
{
	struct msg m = hdr_only(type);

	m.u.id.id = id;
	m.len = sizeof(m.u.id);
	return m;
}

struct msg seal(uint64_t id)
{
	return by_id(PROTO_OBJ_SEAL, id);
}

struct msg release(uint64_t id)
{
	return by_id(PROTO_OBJ_RELEASE, id);
}

struct msg objects(uint64_t after, uint32_t max)
{
	struct msg m = hdr_only(PROTO_OBJECTS);

	m.u.objects.after = after;
	m.u.objects.max = max;
	m.len = sizeof(m.u.objects);
	return m;
}

/* A HELLO that asks for a magazine. */
struct msg hello_mag(void)
{
	struct msg m = hello();

	m.u.hello.flags = PROTO_HELLO_MAGAZINE;
	return m;
}

struct msg mag(uint16_t type, uint32_t cls, uint32_t flags)
{
	struct msg m = hdr_only(type);

	m.u.mag.cls = cls;
	m.u.mag.flags = flags;
	m.len = sizeof(m.u.mag);
	return m;
}

struct msg refill(uint32_t cls, uint32_t flags)
{
	return mag(PROTO_MAG_REFILL, cls, flags);
}

struct msg kick(void)
{
	return mag(PROTO_MAG_KICK, 0, 0);
}

struct msg span_free(const uint64_t *off, uint32_t count)
{
	struct msg m = hdr_only(PROTO_SPAN_FREE);

	m.u.free.count = count;
	memcpy(m.u.free.off, off, count * sizeof(*off));
	m.len = proto_free_size(count);
	return m;
}

/* An old client's request: protocol version 2. */
struct msg old_version(struct msg m)
{
	m.u.hdr.version = 2;
	return m;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n",
			argv[0]);
		return 2;
	}
	root = argv[1];
	seeds_dispatch();
	seeds_receive();
	seeds_magazine();
	seeds_magserve();
	seeds_recover();
	seeds_magresume();
	printf("seeds: %u inputs written under %s\n", written, root);
	return 0;
}
