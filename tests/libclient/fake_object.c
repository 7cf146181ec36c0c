// SPDX-License-Identifier: MIT
/*
 * The fake daemon's shared objects: a small table with the rules of
 * issue 10 that a test of the library needs (names unique among live
 * objects, seal once by the creator's connection, references, delete),
 * on the fake's bump allocator.  Anything subtler a test scripts with a
 * hook.  See fake.h.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/libclient/fake.h"

void fake_obj_reply(int cfd, const union fake_req *req, uint64_t id,
		    uint64_t off, uint64_t size, uint64_t npages)
{
	struct proto_obj_reply rep;

	memset(&rep, 0, sizeof(rep));
	fake_reply_hdr(&rep.hdr, req, 0);
	rep.id = id;
	rep.off = off;
	rep.size = size;
	rep.npages = npages;
	fake_send(cfd, &rep, sizeof(rep), -1, 0);
}

/* The live (not deleted) object named by @name of @len bytes, or NULL. */
static struct fake_obj *fake_obj_named(struct fake *f, const char *name,
				       uint16_t len)
{
	for (int i = 0; i < f->nobjs; i++) {
		struct fake_obj *o = &f->objs[i];

		if (!o->deleted && strlen(o->name) == len &&
		    !memcmp(o->name, name, len))
			return o;
	}
	return NULL;
}

static struct fake_obj *fake_obj_id(struct fake *f, uint64_t id)
{
	for (int i = 0; i < f->nobjs; i++)
		if (f->objs[i].id == id)
			return &f->objs[i];
	return NULL;
}

static void fake_obj_create(struct fake *f, int cfd, const union fake_req *req)
{
	const struct proto_obj_create *m = &req->obj_create;
	uint64_t npages = (m->size + PG - 1) / PG;
	struct fake_obj *o;

	if (fake_obj_named(f, m->name, m->namelen)) {
		fake_refuse(cfd, req, -EEXIST);
		return;
	}
	if (f->nobjs == FAKE_MAX_OBJS || npages > FAKE_PAGES ||
	    f->next_page + npages > FAKE_PAGES) {
		fake_refuse(cfd, req, -ENOMEM);
		return;
	}
	o = &f->objs[f->nobjs];
	memset(o, 0, sizeof(*o));
	memcpy(o->name, m->name, m->namelen);
	o->id = FAKE_FIRST_OBJ_ID + (uint64_t)f->nobjs;
	o->off = f->next_page * PG;
	o->size = m->size;
	o->npages = npages;
	o->refs = 1;
	f->next_page += npages;
	f->nobjs++;
	fake_obj_reply(cfd, req, o->id, o->off, o->size, o->npages);
}

static void fake_obj_seal(struct fake *f, int cfd, const union fake_req *req)
{
	struct fake_obj *o = fake_obj_id(f, req->obj_id.id);

	if (!o || o->deleted)
		fake_refuse(cfd, req, -ENOENT);
	else if (o->sealed)
		fake_refuse(cfd, req, -EALREADY);
	else {
		o->sealed = true;
		fake_refuse(cfd, req, 0);
	}
}

static void fake_obj_get(struct fake *f, int cfd, const union fake_req *req)
{
	const struct proto_obj_get *m = &req->obj_get;
	struct fake_obj *o = fake_obj_named(f, m->name, m->namelen);

	if (o && o->sealed) {
		o->refs++;
		fake_obj_reply(cfd, req, o->id, o->off, o->size, o->npages);
		return;
	}
	if (m->timeout_ms < 0) {
		fake_fail(f, "a get that would wait for ever, unscripted");
		fake_refuse(cfd, req, -EIO);
		return;
	}
	if (m->timeout_ms == 0) {
		fake_refuse(cfd, req, -ENOENT);
		return;
	}
	/* Nobody else can seal it meanwhile: the fake serves one client. */
	fake_sleep_ms((unsigned int)m->timeout_ms);
	fake_refuse(cfd, req, -ETIMEDOUT);
}

static void fake_obj_release(struct fake *f, int cfd,
			     const union fake_req *req)
{
	struct fake_obj *o = fake_obj_id(f, req->obj_id.id);

	if (!o || !o->refs) {
		fake_refuse(cfd, req, -EINVAL);
		return;
	}
	o->refs--;
	fake_refuse(cfd, req, 0);
}

static void fake_obj_delete(struct fake *f, int cfd,
			    const union fake_req *req)
{
	const struct proto_obj_delete *m = &req->obj_delete;
	struct fake_obj *o = fake_obj_named(f, m->name, m->namelen);

	if (!o) {
		fake_refuse(cfd, req, -ENOENT);
		return;
	}
	o->deleted = true;
	fake_refuse(cfd, req, 0);
}

/* One page of every object that has a name or a reference. */
static void fake_objects(struct fake *f, int cfd, const union fake_req *req)
{
	static char text[PROTO_CHUNK_MAX];
	bool first = true;
	size_t len;
	int i, n;

	n = snprintf(text, sizeof(text), "{\"objects\":[");
	len = (size_t)n;
	for (i = 0; i < f->nobjs; i++) {
		const struct fake_obj *o = &f->objs[i];

		if (o->deleted && !o->refs)
			continue;
		if (strpbrk(o->name, "\"\\"))
			fake_fail(f, "a name the fake's OBJECTS cannot quote");
		n = snprintf(text + len, sizeof(text) - len,
			     "%s{\"name\":\"%s\",\"id\":%llu}",
			     first ? "" : ",", o->deleted ? "" : o->name,
			     (unsigned long long)o->id);
		len += (size_t)n;
		first = false;
	}
	n = snprintf(text + len, sizeof(text) - len, "],\"next\":0}");
	len += (size_t)n;
	fake_chunk(cfd, req, text, len, false);
}

bool fake_object_answer(struct fake *f, int cfd, const union fake_req *req)
{
	switch (req->hdr.type) {
	case PROTO_OBJ_CREATE:
		fake_obj_create(f, cfd, req);
		return true;
	case PROTO_OBJ_SEAL:
		fake_obj_seal(f, cfd, req);
		return true;
	case PROTO_OBJ_GET:
		fake_obj_get(f, cfd, req);
		return true;
	case PROTO_OBJ_RELEASE:
		fake_obj_release(f, cfd, req);
		return true;
	case PROTO_OBJ_DELETE:
		fake_obj_delete(f, cfd, req);
		return true;
	case PROTO_OBJECTS:
		fake_objects(f, cfd, req);
		return true;
	default:
		return false;
	}
}
