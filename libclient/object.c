// SPDX-License-Identifier: MIT
/*
 * Shared objects: named spans with a create -> seal -> get -> release ->
 * delete life cycle and references counted per connection.  The daemon
 * keeps the objects and enforces their rules (shm/object.c); the library
 * carries the requests and checks what it can before and after.
 *
 * Before anything is sent: a NULL handle, name, object or output, a name
 * of 0 or more than SPANHEAP_NAME_MAX bytes, a size of 0, unknown flags
 * and an id of 0 are -EINVAL, and no request goes out.  SPANHEAP_ZERO
 * and SPANHEAP_EVICTABLE go out as their wire flags; only the daemon
 * acts on them.  That a name is
 * UTF-8 without control characters is the daemon's check (-EINVAL too):
 * one rule in one place.  A name rides after the request's fixed head
 * with its length and without its NUL, so a request is exactly
 * head + namelen bytes.
 *
 * After: the object a reply names is checked to lie in the arena (its
 * offset page aligned, its npages pages inside the arena, its size
 * within them; for a create, the size asked for) before its pointer is
 * formed, as span.c does for spans.  A reply that fails this breaks the
 * protocol: the connection dies with -EBADMSG, and the references the
 * daemon may have given it are dropped when it is closed.
 *
 * Waiting gets.  An OBJ_GET with timeout_ms T > 0 is answered by the
 * daemon within T (with the object, or -ETIMEDOUT), so the library waits
 * for its reply T plus the connection's usual time-out before it gives
 * up itself; with T < 0 the daemon answers only once the object is
 * sealed, and the library waits for ever: a daemon that exits still ends
 * the wait, as the socket closes.  Only that one receive has its own
 * bound (conn_reply_wait_locked()).  The get holds h->lock while it
 * waits, as every round trip does, so the handle's other threads wait
 * with it; a program that must go on meanwhile uses a second connection.
 *
 * The list.  spanheap_objects_json() walks the OBJECTS pages,
 *   {"objects": [ {...}, ... ], "next": N}
 * each a cursor N past the one before, and joins their arrays into one
 * {"objects": [...]}.  The library checks each page's frame, not its
 * entries (it has no JSON parser; spanctl has): the array is taken as
 * the text between its brackets, strings and nesting respected.  The
 * pages' text is capped at OBJ_LIST_MAX bytes in all, which also bounds
 * a walk a broken daemon would make endless with empty pages.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libclient/internal.h"

_Static_assert(SPANHEAP_NAME_MAX == PROTO_OBJ_NAME_MAX, "SPANHEAP_NAME_MAX");

/* The most text of OBJECTS pages one walk reads, as STATS_MAX. */
#define OBJ_LIST_MAX (UINT64_C(64) << 20)
/* Brackets and braces an entry of a page may nest. */
#define OBJ_DEPTH 32

/* The length of @name, or -EINVAL if it is no valid length. */
static int obj_name_len(const char *name, uint16_t *ret)
{
	size_t len;

	if (!name)
		return -EINVAL;
	len = strnlen(name, SPANHEAP_NAME_MAX + 1);
	if (!len || len > SPANHEAP_NAME_MAX)
		return -EINVAL;
	*ret = (uint16_t)len;
	return 0;
}

/*
 * The object of the OBJ_CREATE or OBJ_GET reply in h->reply, into @ret.
 * @size: the size a create asked for; 0 for a get.
 * Return: 0, or -EBADMSG if it does not lie in the arena, and then the
 * connection is dead.
 */
static int obj_take_locked(struct spanheap *h, uint64_t size,
			   struct spanheap_obj *ret)
{
	const struct proto_obj_reply *m = &h->reply.obj;
	uint64_t page = h->page_size, arena = h->arena->size;

	/* proto_check_reply() saw that id, size and npages are not 0. */
	if (m->off % page || m->npages > arena / page ||
	    m->off > arena - m->npages * page || m->size > m->npages * page ||
	    (size && m->size != size))
		return conn_broken_locked(h);
	ret->id = m->id;
	ret->off = m->off;
	ret->size = (size_t)m->size;
	ret->ptr = (char *)h->arena->base + m->off;
	return 0;
}

SPANHEAP_EXPORT int spanheap_obj_create(struct spanheap *h, const char *name,
					size_t size, unsigned int flags,
					struct spanheap_obj *ret)
{
	struct proto_obj_create req;
	struct spanheap_obj o;
	uint16_t len;
	int r;

	if (!h || !ret || !size ||
	    flags & ~(SPANHEAP_ZERO | SPANHEAP_EVICTABLE) ||
	    obj_name_len(name, &len))
		return -EINVAL;
	memset(&req, 0, offsetof(struct proto_obj_create, name));
	req.size = size;
	req.flags = (flags & SPANHEAP_ZERO ? PROTO_OBJ_ZERO : 0) |
		    (flags & SPANHEAP_EVICTABLE ? PROTO_OBJ_EVICTABLE : 0);
	req.namelen = len;
	memcpy(req.name, name, len);

	r = conn_lock(h);
	if (r < 0)
		return r;
	r = conn_call_locked(h, PROTO_OBJ_CREATE, &req.hdr,
			     offsetof(struct proto_obj_create, name) + len);
	if (r == 0)
		r = obj_take_locked(h, size, &o);
	pthread_mutex_unlock(&h->lock);

	if (r == 0)
		*ret = o;
	return r;
}

/* OBJ_SEAL or OBJ_RELEASE (@type) of @obj. */
static int obj_id_call(struct spanheap *h, uint16_t type,
		       const struct spanheap_obj *obj)
{
	struct proto_obj_id req;
	int r;

	if (!h || !obj || !obj->id)
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.id = obj->id;

	r = conn_lock(h);
	if (r < 0)
		return r;
	r = conn_call_locked(h, type, &req.hdr, sizeof(req));
	pthread_mutex_unlock(&h->lock);
	return r;
}

SPANHEAP_EXPORT int spanheap_obj_seal(struct spanheap *h,
				      const struct spanheap_obj *obj)
{
	return obj_id_call(h, PROTO_OBJ_SEAL, obj);
}

SPANHEAP_EXPORT int spanheap_obj_release(struct spanheap *h,
					 const struct spanheap_obj *obj)
{
	return obj_id_call(h, PROTO_OBJ_RELEASE, obj);
}

/*
 * How long a get of @timeout_ms waits for its reply, in ns, < 0 for
 * ever: see the top of the file.
 */
static int64_t obj_get_wait_ns(const struct spanheap *h, int timeout_ms)
{
	if (timeout_ms < 0 || h->timeout_ns < 0)
		return -1;
	return (int64_t)timeout_ms * 1000000 + h->timeout_ns;
}

SPANHEAP_EXPORT int spanheap_obj_get(struct spanheap *h, const char *name,
				     int timeout_ms, struct spanheap_obj *ret)
{
	struct proto_obj_get req;
	struct spanheap_obj o;
	uint16_t len;
	int r;

	if (!h || !ret || obj_name_len(name, &len))
		return -EINVAL;
	memset(&req, 0, offsetof(struct proto_obj_get, name));
	req.timeout_ms = timeout_ms;
	req.namelen = len;
	memcpy(req.name, name, len);

	r = conn_lock(h);
	if (r < 0)
		return r;
	r = conn_request_locked(h, PROTO_OBJ_GET, &req.hdr,
				offsetof(struct proto_obj_get, name) + len);
	if (r == 0)
		r = conn_reply_wait_locked(h, &req.hdr,
					   obj_get_wait_ns(h, timeout_ms));
	if (r == 0)
		r = obj_take_locked(h, 0, &o);
	pthread_mutex_unlock(&h->lock);

	if (r == 0)
		*ret = o;
	return r;
}

SPANHEAP_EXPORT int spanheap_obj_delete(struct spanheap *h, const char *name)
{
	struct proto_obj_delete req;
	uint16_t len;
	int r;

	if (!h || obj_name_len(name, &len))
		return -EINVAL;
	memset(&req, 0, offsetof(struct proto_obj_delete, name));
	req.namelen = len;
	memcpy(req.name, name, len);

	r = conn_lock(h);
	if (r < 0)
		return r;
	r = conn_call_locked(h, PROTO_OBJ_DELETE, &req.hdr,
			     offsetof(struct proto_obj_delete, name) + len);
	pthread_mutex_unlock(&h->lock);
	return r;
}

/* ---- the list ---- */

static bool obj_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Past the white space at @p; NULL stays NULL. */
static const char *obj_ws(const char *p)
{
	while (p && obj_is_ws(*p))
		p++;
	return p;
}

/* Past @lit after white space at @p, or NULL; NULL stays NULL. */
static const char *obj_lit(const char *p, const char *lit)
{
	size_t n = strlen(lit);

	p = obj_ws(p);
	if (!p || strncmp(p, lit, n))
		return NULL;
	return p + n;
}

/* Past the JSON string that opens at @p, or NULL if it does not end. */
static const char *obj_skip_string(const char *p)
{
	for (p++; *p != '"'; p++) {
		if (!*p)
			return NULL;
		if (*p == '\\' && !*++p)
			return NULL;
	}
	return p + 1;
}

/*
 * Past the array that opens at @p: brackets and braces must nest, and
 * those inside strings do not count.  NULL if it does not end.
 */
static const char *obj_skip_array(const char *p)
{
	char close[OBJ_DEPTH];
	size_t depth = 0;

	while (*p) {
		if (*p == '"') {
			p = obj_skip_string(p);
			if (!p)
				return NULL;
			continue;
		}
		if (*p == '[' || *p == '{') {
			if (depth == OBJ_DEPTH)
				return NULL;
			close[depth++] = *p == '[' ? ']' : '}';
		} else if (*p == ']' || *p == '}') {
			if (!depth || close[--depth] != *p)
				return NULL;
			if (!depth)
				return p + 1;
		}
		p++;
	}
	return NULL;
}

/* A page: its entries, the @len bytes at @items, and its "next". */
struct obj_page {
	const char *items;
	size_t len;
	uint64_t next;
};

/*
 * Take {"objects": [ ... ], "next": N} apart, white space allowed
 * between the tokens: the text between the brackets, trimmed, and N.
 * Return: 0, or -EBADMSG if @text is not such a page.
 */
static int obj_page_parse(const char *text, struct obj_page *ret)
{
	const char *p, *open, *end;
	uint64_t next = 0;

	p = obj_lit(obj_lit(obj_lit(text, "{"), "\"objects\""), ":");
	p = obj_ws(p);
	if (!p || *p != '[')
		return -EBADMSG;
	open = p;
	end = obj_skip_array(open);
	if (!end)
		return -EBADMSG;
	p = obj_ws(obj_lit(obj_lit(obj_lit(end, ","), "\"next\""), ":"));
	if (!p || *p < '0' || *p > '9')
		return -EBADMSG;
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (next > (UINT64_MAX - d) / 10)
			return -EBADMSG;
		next = next * 10 + d;
	}
	p = obj_ws(obj_lit(p, "}"));
	if (!p || *p)
		return -EBADMSG;
	ret->items = obj_ws(open + 1);
	ret->len = (size_t)(end - 1 - ret->items);
	while (ret->len && obj_is_ws(ret->items[ret->len - 1]))
		ret->len--;
	ret->next = next;
	return 0;
}

/* The joined list: "{\"objects\":[" entries "]}". */
struct obj_list {
	char *buf;
	size_t len;
	size_t size;
	bool empty;		/* no entry yet: no comma before the next */
};

static int obj_list_append(struct obj_list *l, const char *s, size_t n)
{
	char *buf;
	size_t size;

	if (l->len + n + 1 > l->size) {
		size = l->size ? l->size : 4096;
		while (size < l->len + n + 1)
			size *= 2;
		buf = realloc(l->buf, size);
		if (!buf)
			return -ENOMEM;
		l->buf = buf;
		l->size = size;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
	return 0;
}

/*
 * The page after the cursor @after onto @l, its text counted in @nread;
 * its "next" in @ret_next.
 */
static int obj_list_page(struct spanheap *h, struct obj_list *l,
			 uint64_t after, uint64_t *nread, uint64_t *ret_next)
{
	struct proto_objects req;
	struct obj_page page;
	char *text;
	int r;

	memset(&req, 0, sizeof(req));
	req.after = after;
	req.max = PROTO_OBJECTS_PAGE;
	r = control_text_call(h, PROTO_OBJECTS, &req.hdr, sizeof(req), &text);
	if (r < 0)
		return r;
	*nread += strlen(text);
	r = *nread > OBJ_LIST_MAX ? -EMSGSIZE : obj_page_parse(text, &page);
	/* Pages go up: a daemon that says otherwise would loop the walk. */
	if (r == 0 && page.next && page.next <= after)
		r = -EBADMSG;
	if (r == 0 && page.len && !l->empty)
		r = obj_list_append(l, ",", 1);
	if (r == 0 && page.len) {
		r = obj_list_append(l, page.items, page.len);
		l->empty = false;
	}
	free(text);
	if (r == 0)
		*ret_next = page.next;
	return r;
}

SPANHEAP_EXPORT int spanheap_objects_json(struct spanheap *h, char **ret)
{
	static const char head[] = "{\"objects\":[";
	struct obj_list l = { .empty = true };
	uint64_t after = 0, next, nread = 0;
	int r;

	if (!h || !ret)
		return -EINVAL;
	r = obj_list_append(&l, head, sizeof(head) - 1);
	while (r == 0) {
		r = obj_list_page(h, &l, after, &nread, &next);
		if (r < 0 || !next)
			break;
		after = next;
	}
	if (r == 0)
		r = obj_list_append(&l, "]}", 2);
	if (r < 0) {
		free(l.buf);
		return r;
	}
	*ret = l.buf;
	return 0;
}
