// SPDX-License-Identifier: MIT
/*
 * _spanheap.c - the Python binding of libspanclient.
 *
 * Design and invariants:
 *  - A Client owns a struct hold: the library handle, the pid that
 *    connected it and a reference count.  The Client holds one
 *    reference until close(); every call that releases the GIL holds one
 *    more for its duration, so close() from another thread never frees
 *    a handle under a running call: spanheap_close() runs when the count
 *    drops to 0.  The count changes only with the GIL held.
 *  - Every Span and Object holds a strong reference to its Client, so
 *    the mapping outlives them.  A buffer export (memoryview, ndarray)
 *    holds a reference to its Span or Object.  exports counts the live
 *    exports of one Span/Object, Client.exports the sum over its
 *    children: free(), release() and close() with exports > 0 raise
 *    BufferError and change nothing, so no live view ever points into
 *    memory the daemon may reuse.
 *  - A Span that is garbage collected unfreed is freed; an Object that
 *    is garbage collected unreleased drops its reference.  After close()
 *    every child is dead (the daemon freed its spans and references).
 *  - Threads: the library serialises requests on one connection, so
 *    every method may be called from any thread.  A Span/Object is marked
 *    dead before the GIL is released around its free/release, so two
 *    threads never free it twice and no export starts meanwhile.
 *  - fork: a connection belongs to the process that made it.  Every call
 *    checks the pid and raises OSError(ENOTCONN) naming the fix (connect
 *    again in the child); deallocation in a child only unmaps.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <spanheap.h>

struct hold {
	struct spanheap *h;
	pid_t pid;
	long refs;		/* GIL */
};

typedef struct {
	PyObject_HEAD
	struct hold *hd;	/* NULL once closed */
	Py_ssize_t exports;	/* sum over the children, GIL */
} ClientObject;

typedef struct {
	PyObject_HEAD
	ClientObject *client;
	struct spanheap_span s;
	size_t bytes;		/* npages * page size */
	int dead;		/* freed, or its client closed */
	Py_ssize_t exports;
} SpanObject;

typedef struct {
	PyObject_HEAD
	ClientObject *client;
	struct spanheap_obj o;
	PyObject *name;
	int dead;		/* released */
	Py_ssize_t exports;
} ObjObject;

static PyTypeObject ClientType, SpanType, ObjType;
static PyObject *json_loads;

static PyObject *set_errno(int r, const char *what)
{
	PyObject *exc;

	exc = PyObject_CallFunction(PyExc_OSError, "is", -r, what);
	if (exc) {
		PyObject *msg = PyUnicode_FromFormat("%s: %s", what,
						     strerror(-r));
		if (msg) {
			PyObject_SetAttrString(exc, "strerror", msg);
			Py_DECREF(msg);
		}
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
	return NULL;
}

/* OSError(ENOTCONN) for a connection of another process: say the fix. */
static void set_forked(const char *what, pid_t owner)
{
	PyObject *msg, *exc;

	msg = PyUnicode_FromFormat("spanheap: this %s belongs to process %d's "
				   "connection; after fork the child must call "
				   "spanheap.connect() again", what, (int)owner);
	if (!msg)
		return;
	exc = PyObject_CallFunction(PyExc_OSError, "iO", ENOTCONN, msg);
	Py_DECREF(msg);
	if (exc) {
		PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
		Py_DECREF(exc);
	}
}

static void hold_put(struct hold *hd)
{
	if (--hd->refs)
		return;
	/* In a forked child this only unmaps and closes our copy of the fd. */
	spanheap_close(hd->h);
	free(hd);
}

/* The handle for a call, with a reference; NULL and an exception if none. */
static struct hold *client_get(ClientObject *c)
{
	if (!c->hd) {
		PyErr_SetString(PyExc_ValueError,
				"spanheap: operation on a closed Client");
		return NULL;
	}
	if (c->hd->pid != getpid()) {
		set_forked("Client", c->hd->pid);
		return NULL;
	}
	c->hd->refs++;
	return c->hd;
}

/* ---- Client ---- */

static PyObject *sh_connect(PyObject *mod, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "path", "name", NULL };
	const char *path = NULL, *name = NULL;
	struct spanheap_opts opts = { .size = sizeof(opts) };
	struct spanheap *h;
	ClientObject *c;
	int r;

	(void)mod;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|zz:connect", kwlist,
					 &path, &name))
		return NULL;
	opts.socket_path = path;
	opts.name = name;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_connect_opts(&opts, &h);
	Py_END_ALLOW_THREADS
	if (r < 0)
		return set_errno(r, "spanheap: cannot connect to spanheapd");
	c = PyObject_New(ClientObject, &ClientType);
	if (!c)
		goto out_close;
	c->exports = 0;
	c->hd = malloc(sizeof(*c->hd));
	if (!c->hd) {
		Py_DECREF(c);
		PyErr_NoMemory();
		goto out_close;
	}
	c->hd->h = h;
	c->hd->pid = getpid();
	c->hd->refs = 1;
	return (PyObject *)c;
out_close:
	spanheap_close(h);
	return NULL;
}

static PyObject *client_close(ClientObject *c, PyObject *unused)
{
	struct hold *hd = c->hd;

	(void)unused;
	if (!hd)
		Py_RETURN_NONE;
	if (c->exports) {
		PyErr_Format(PyExc_BufferError, "spanheap: cannot close the "
			     "Client: %zd buffer export(s) of its spans or "
			     "objects are alive; drop the memoryviews/arrays "
			     "first", c->exports);
		return NULL;
	}
	c->hd = NULL;
	hold_put(hd);
	Py_RETURN_NONE;
}

static void client_dealloc(ClientObject *c)
{
	if (c->hd)
		hold_put(c->hd);
	PyObject_Free(c);
}

static PyObject *client_enter(PyObject *self, PyObject *unused)
{
	(void)unused;
	Py_INCREF(self);
	return self;
}

static PyObject *client_exit(ClientObject *c, PyObject *args)
{
	(void)args;
	return client_close(c, NULL);
}

static PyObject *client_span(ClientObject *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "npages", "zero", NULL };
	Py_ssize_t npages;
	int zero = 0, r;
	struct spanheap_span s;
	struct hold *hd;
	SpanObject *sp;
	size_t pagesz;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "n|p:span", kwlist,
					 &npages, &zero))
		return NULL;
	if (npages <= 0) {
		PyErr_SetString(PyExc_ValueError,
				"spanheap: npages must be at least 1");
		return NULL;
	}
	hd = client_get(c);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_span_alloc(hd->h, npages, zero ? SPANHEAP_ZERO : 0, &s);
	Py_END_ALLOW_THREADS
	pagesz = spanheap_page_size(hd->h);
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot allocate a span");
	sp = PyObject_New(SpanObject, &SpanType);
	if (!sp) {
		/* Best effort; the span goes with the connection otherwise. */
		if (c->hd)
			spanheap_span_free(c->hd->h, s.off);
		return NULL;
	}
	Py_INCREF(c);
	sp->client = c;
	sp->s = s;
	sp->bytes = s.npages * pagesz;
	sp->dead = 0;
	sp->exports = 0;
	return (PyObject *)sp;
}

static int parse_timeout(PyObject *t, int *ret_ms)
{
	double d;

	if (t == Py_None) {
		*ret_ms = -1;
		return 0;
	}
	d = PyFloat_AsDouble(t);
	if (d == -1.0 && PyErr_Occurred())
		return -1;
	if (isnan(d) || d < 0) {
		PyErr_SetString(PyExc_ValueError, "spanheap: timeout must be "
				"None (wait for ever) or seconds >= 0");
		return -1;
	}
	if (d * 1000.0 >= (double)INT_MAX)
		*ret_ms = -1;
	else
		*ret_ms = (int)ceil(d * 1000.0);
	return 0;
}

static ObjObject *obj_new(ClientObject *c, const struct spanheap_obj *o,
			  PyObject *name)
{
	ObjObject *ob = PyObject_New(ObjObject, &ObjType);

	if (!ob)
		return NULL;
	Py_INCREF(c);
	ob->client = c;
	ob->o = *o;
	Py_INCREF(name);
	ob->name = name;
	ob->dead = 0;
	ob->exports = 0;
	return ob;
}

static PyObject *client_create(ClientObject *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name", "size", "zero", "evictable", NULL };
	PyObject *name;
	const char *cname;
	Py_ssize_t size;
	int zero = 0, evictable = 0, r;
	unsigned int flags;
	struct spanheap_obj o;
	struct hold *hd;
	ObjObject *ob;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "Un|pp:create", kwlist,
					 &name, &size, &zero, &evictable))
		return NULL;
	if (size <= 0) {
		PyErr_SetString(PyExc_ValueError,
				"spanheap: size must be at least 1 byte");
		return NULL;
	}
	cname = PyUnicode_AsUTF8(name);
	if (!cname)
		return NULL;
	hd = client_get(c);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	flags = (zero ? SPANHEAP_ZERO : 0) |
		(evictable ? SPANHEAP_EVICTABLE : 0);
	r = spanheap_obj_create(hd->h, cname, size, flags, &o);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot create the object");
	ob = obj_new(c, &o, name);
	if (!ob && c->hd)
		spanheap_obj_release(c->hd->h, &o);
	return (PyObject *)ob;
}

static PyObject *client_getobj(ClientObject *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "name", "timeout", NULL };
	PyObject *name, *timeout = Py_None;
	const char *cname;
	int ms, r;
	struct spanheap_obj o;
	struct hold *hd;
	ObjObject *ob;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "U|O:get", kwlist,
					 &name, &timeout))
		return NULL;
	if (parse_timeout(timeout, &ms) < 0)
		return NULL;
	cname = PyUnicode_AsUTF8(name);
	if (!cname)
		return NULL;
	hd = client_get(c);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_obj_get(hd->h, cname, ms, &o);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot get the object");
	ob = obj_new(c, &o, name);
	if (!ob && c->hd)
		spanheap_obj_release(c->hd->h, &o);
	return (PyObject *)ob;
}

static PyObject *client_delete(ClientObject *c, PyObject *args)
{
	const char *cname;
	struct hold *hd;
	int r;

	if (!PyArg_ParseTuple(args, "s:delete", &cname))
		return NULL;
	hd = client_get(c);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_obj_delete(hd->h, cname);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot delete the object");
	Py_RETURN_NONE;
}

static PyObject *client_stats(ClientObject *c, PyObject *unused)
{
	struct hold *hd;
	PyObject *ret;
	char *js;
	int r;

	(void)unused;
	hd = client_get(c);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_stats_json(hd->h, &js);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot read the stats");
	ret = PyObject_CallFunction(json_loads, "s", js);
	free(js);
	return ret;
}

static PyObject *client_scavenge(ClientObject *c, PyObject *unused)
{
	struct hold *hd;
	uint64_t n = 0;
	int r;

	(void)unused;
	hd = client_get(c);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_scavenge(hd->h, &n);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot scavenge");
	return PyLong_FromUnsignedLongLong(n);
}

static PyObject *client_gc(ClientObject *c, PyObject *unused)
{
	struct hold *hd;
	uint64_t n = 0;
	int r;

	(void)unused;
	hd = client_get(c);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_gc(hd->h, &n);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot run a GC pass");
	return PyLong_FromUnsignedLongLong(n);
}

static PyObject *client_page_size(ClientObject *c, void *unused)
{
	(void)unused;
	if (!c->hd) {
		PyErr_SetString(PyExc_ValueError,
				"spanheap: operation on a closed Client");
		return NULL;
	}
	return PyLong_FromSize_t(spanheap_page_size(c->hd->h));
}

static PyObject *client_arena_size(ClientObject *c, void *unused)
{
	(void)unused;
	if (!c->hd) {
		PyErr_SetString(PyExc_ValueError,
				"spanheap: operation on a closed Client");
		return NULL;
	}
	return PyLong_FromUnsignedLongLong(spanheap_arena_size(c->hd->h));
}

static PyObject *client_closed(ClientObject *c, void *unused)
{
	(void)unused;
	return PyBool_FromLong(!c->hd);
}

static PyMethodDef client_methods[] = {
	{ "close", (PyCFunction)client_close, METH_NOARGS,
	  "close() -> None\n\nClose the connection; the daemon frees its "
	  "spans and drops its object references.  Raises BufferError while "
	  "a buffer of one of its spans or objects is exported.  Idempotent." },
	{ "__enter__", client_enter, METH_NOARGS, "Return the Client." },
	{ "__exit__", (PyCFunction)client_exit, METH_VARARGS,
	  "Close the Client." },
	{ "span", (PyCFunction)(void (*)(void))client_span,
	  METH_VARARGS | METH_KEYWORDS,
	  "span(npages, zero=False) -> Span\n\nAllocate a span of at least "
	  "npages pages (zeroed if zero)." },
	{ "create", (PyCFunction)(void (*)(void))client_create,
	  METH_VARARGS | METH_KEYWORDS,
	  "create(name, size, zero=False, evictable=False) -> Object\n\n"
	  "Create an OPEN shared object; seal() makes it visible.  "
	  "FileExistsError if the name is live.  With evictable, the daemon "
	  "may evict it to stay within its memory limit once it is sealed "
	  "and nobody holds it (then get() finds nothing)." },
	{ "get", (PyCFunction)(void (*)(void))client_getobj,
	  METH_VARARGS | METH_KEYWORDS,
	  "get(name, timeout=None) -> Object\n\nA reference to the sealed "
	  "object name.  timeout None waits for ever, 0 does not wait, else "
	  "seconds.  FileNotFoundError (timeout 0) or TimeoutError.  The "
	  "GIL is released while waiting; the wait holds the connection." },
	{ "delete", (PyCFunction)client_delete, METH_VARARGS,
	  "delete(name) -> None\n\nRemove the name of a live object; its "
	  "memory goes with the last reference." },
	{ "stats", (PyCFunction)client_stats, METH_NOARGS,
	  "stats() -> dict\n\nThe daemon's MemStats JSON." },
	{ "scavenge", (PyCFunction)client_scavenge, METH_NOARGS,
	  "scavenge() -> int\n\nRelease every free span now; bytes "
	  "released." },
	{ "gc", (PyCFunction)client_gc, METH_NOARGS,
	  "gc() -> int\n\nRun a GC pass now; spans of departed clients "
	  "freed." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef client_getset[] = {
	{ "page_size", (getter)client_page_size, NULL,
	  "The arena's page size in bytes.", NULL },
	{ "arena_size", (getter)client_arena_size, NULL,
	  "The arena's size in bytes.", NULL },
	{ "closed", (getter)client_closed, NULL,
	  "True once close() ran.", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject ClientType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "spanheap.Client",
	.tp_basicsize = sizeof(ClientObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A connection to spanheapd and its mapped arena; made by "
		  "spanheap.connect().  A context manager that closes.",
	.tp_dealloc = (destructor)client_dealloc,
	.tp_methods = client_methods,
	.tp_getset = client_getset,
};

/* ---- Span ---- */

/* 0 if @c may be used for a child's memory, else -1 and an exception. */
static int child_check(ClientObject *c, int dead, const char *what)
{
	if (dead || !c->hd) {
		PyErr_Format(PyExc_ValueError, "spanheap: operation on a %s %s",
			     dead ? "freed/released" : "closed Client's", what);
		return -1;
	}
	if (c->hd->pid != getpid()) {
		set_forked(what, c->hd->pid);
		return -1;
	}
	return 0;
}

static int fill_buffer(PyObject *self, Py_buffer *v, void *ptr,
		       Py_ssize_t len, int flags)
{
	return PyBuffer_FillInfo(v, self, ptr, len, 0, flags);
}

static int span_getbuffer(SpanObject *sp, Py_buffer *v, int flags)
{
	if (child_check(sp->client, sp->dead, "Span") < 0)
		return -1;
	if (fill_buffer((PyObject *)sp, v, sp->s.ptr, sp->bytes,
			flags) < 0)
		return -1;
	sp->exports++;
	sp->client->exports++;
	return 0;
}

static void span_releasebuffer(SpanObject *sp, Py_buffer *v)
{
	(void)v;
	sp->exports--;
	sp->client->exports--;
}

static PyObject *span_free(SpanObject *sp, PyObject *unused)
{
	struct hold *hd;
	int r;

	(void)unused;
	if (sp->exports) {
		PyErr_Format(PyExc_BufferError, "spanheap: cannot free the "
			     "Span: %zd buffer export(s) alive; drop the "
			     "memoryviews/arrays first", sp->exports);
		return NULL;
	}
	if (child_check(sp->client, sp->dead, "Span") < 0)
		return NULL;
	hd = client_get(sp->client);
	if (!hd)
		return NULL;
	sp->dead = 1;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_span_free(hd->h, sp->s.off);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0) {
		sp->dead = r == -EINVAL;	/* not live: it is gone */
		return set_errno(r, "spanheap: cannot free the span");
	}
	Py_RETURN_NONE;
}

static void span_dealloc(SpanObject *sp)
{
	ClientObject *c = sp->client;

	if (!sp->dead && c->hd && c->hd->pid == getpid())
		spanheap_span_free(c->hd->h, sp->s.off);
	Py_DECREF(c);
	PyObject_Free(sp);
}

static PyObject *span_exit(SpanObject *sp, PyObject *args)
{
	(void)args;
	if (sp->dead || !sp->client->hd)
		Py_RETURN_NONE;
	return span_free(sp, NULL);
}

static Py_ssize_t span_len(SpanObject *sp)
{
	return (Py_ssize_t)sp->bytes;
}

static PyObject *span_offset(SpanObject *sp, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(sp->s.off);
}

static PyObject *span_npages(SpanObject *sp, void *unused)
{
	(void)unused;
	return PyLong_FromSize_t(sp->s.npages);
}

static PyObject *span_freed(SpanObject *sp, void *unused)
{
	(void)unused;
	return PyBool_FromLong(sp->dead || !sp->client->hd);
}

static PyBufferProcs span_as_buffer = {
	(getbufferproc)span_getbuffer, (releasebufferproc)span_releasebuffer,
};

static PySequenceMethods span_as_seq = {
	.sq_length = (lenfunc)span_len,
};

static PyMethodDef span_methods[] = {
	{ "free", (PyCFunction)span_free, METH_NOARGS,
	  "free() -> None\n\nFree the span.  BufferError while its buffer is "
	  "exported; ValueError if already freed." },
	{ "__enter__", client_enter, METH_NOARGS, "Return the Span." },
	{ "__exit__", (PyCFunction)span_exit, METH_VARARGS,
	  "Free the Span unless it is freed already." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef span_getset[] = {
	{ "offset", (getter)span_offset, NULL,
	  "Offset of the span in the arena.", NULL },
	{ "npages", (getter)span_npages, NULL,
	  "Pages in the span (>= requested).", NULL },
	{ "freed", (getter)span_freed, NULL,
	  "True once freed (or its Client closed).", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject SpanType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "spanheap.Span",
	.tp_basicsize = sizeof(SpanObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Pages of shared memory owned by one connection; a "
		  "writable buffer (format 'B').  Freed by free(), on leaving "
		  "a with block, or when garbage collected.",
	.tp_dealloc = (destructor)span_dealloc,
	.tp_as_buffer = &span_as_buffer,
	.tp_as_sequence = &span_as_seq,
	.tp_methods = span_methods,
	.tp_getset = span_getset,
};

/* ---- Object ---- */

static int obj_getbuffer(ObjObject *ob, Py_buffer *v, int flags)
{
	if (child_check(ob->client, ob->dead, "Object") < 0)
		return -1;
	if (fill_buffer((PyObject *)ob, v, ob->o.ptr, ob->o.size, flags) < 0)
		return -1;
	ob->exports++;
	ob->client->exports++;
	return 0;
}

static void obj_releasebuffer(ObjObject *ob, Py_buffer *v)
{
	(void)v;
	ob->exports--;
	ob->client->exports--;
}

static PyObject *obj_seal(ObjObject *ob, PyObject *unused)
{
	struct hold *hd;
	int r;

	(void)unused;
	if (child_check(ob->client, ob->dead, "Object") < 0)
		return NULL;
	hd = client_get(ob->client);
	if (!hd)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_obj_seal(hd->h, &ob->o);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0)
		return set_errno(r, "spanheap: cannot seal the object");
	Py_RETURN_NONE;
}

static PyObject *obj_release(ObjObject *ob, PyObject *unused)
{
	struct hold *hd;
	int r;

	(void)unused;
	if (ob->exports) {
		PyErr_Format(PyExc_BufferError, "spanheap: cannot release the "
			     "Object: %zd buffer export(s) alive; drop the "
			     "memoryviews/arrays first", ob->exports);
		return NULL;
	}
	if (child_check(ob->client, ob->dead, "Object") < 0)
		return NULL;
	hd = client_get(ob->client);
	if (!hd)
		return NULL;
	ob->dead = 1;
	Py_BEGIN_ALLOW_THREADS
	r = spanheap_obj_release(hd->h, &ob->o);
	Py_END_ALLOW_THREADS
	hold_put(hd);
	if (r < 0) {
		ob->dead = r == -EINVAL;
		return set_errno(r, "spanheap: cannot release the object");
	}
	Py_RETURN_NONE;
}

static void obj_dealloc(ObjObject *ob)
{
	ClientObject *c = ob->client;

	if (!ob->dead && c->hd && c->hd->pid == getpid())
		spanheap_obj_release(c->hd->h, &ob->o);
	Py_DECREF(ob->name);
	Py_DECREF(c);
	PyObject_Free(ob);
}

static PyObject *obj_exit(ObjObject *ob, PyObject *args)
{
	(void)args;
	if (ob->dead || !ob->client->hd)
		Py_RETURN_NONE;
	return obj_release(ob, NULL);
}

static Py_ssize_t obj_len(ObjObject *ob)
{
	return (Py_ssize_t)ob->o.size;
}

static PyObject *obj_name(ObjObject *ob, void *unused)
{
	(void)unused;
	Py_INCREF(ob->name);
	return ob->name;
}

static PyObject *obj_size(ObjObject *ob, void *unused)
{
	(void)unused;
	return PyLong_FromSize_t(ob->o.size);
}

static PyObject *obj_id(ObjObject *ob, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(ob->o.id);
}

static PyObject *obj_offset(ObjObject *ob, void *unused)
{
	(void)unused;
	return PyLong_FromUnsignedLongLong(ob->o.off);
}

static PyObject *obj_released(ObjObject *ob, void *unused)
{
	(void)unused;
	return PyBool_FromLong(ob->dead || !ob->client->hd);
}

static PyBufferProcs obj_as_buffer = {
	(getbufferproc)obj_getbuffer, (releasebufferproc)obj_releasebuffer,
};

static PySequenceMethods obj_as_seq = {
	.sq_length = (lenfunc)obj_len,
};

static PyMethodDef obj_methods[] = {
	{ "seal", (PyCFunction)obj_seal, METH_NOARGS,
	  "seal() -> None\n\nMake the OPEN object visible to every get()." },
	{ "release", (PyCFunction)obj_release, METH_NOARGS,
	  "release() -> None\n\nDrop this reference.  BufferError while its "
	  "buffer is exported; ValueError if already released." },
	{ "__enter__", client_enter, METH_NOARGS, "Return the Object." },
	{ "__exit__", (PyCFunction)obj_exit, METH_VARARGS,
	  "Release the Object unless it is released already." },
	{ NULL, NULL, 0, NULL }
};

static PyGetSetDef obj_getset[] = {
	{ "name", (getter)obj_name, NULL, "The object's name.", NULL },
	{ "size", (getter)obj_size, NULL, "Bytes, as created.", NULL },
	{ "id", (getter)obj_id, NULL, "Unique id in this arena.", NULL },
	{ "offset", (getter)obj_offset, NULL,
	  "Arena offset of the data.", NULL },
	{ "released", (getter)obj_released, NULL,
	  "True once released (or its Client closed).", NULL },
	{ NULL, NULL, NULL, NULL, NULL }
};

static PyTypeObject ObjType = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "spanheap.Object",
	.tp_basicsize = sizeof(ObjObject),
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A reference to a named shared object; a writable buffer "
		  "(format 'B') of size bytes.  Released by release(), on "
		  "leaving a with block, or when garbage collected.",
	.tp_dealloc = (destructor)obj_dealloc,
	.tp_as_buffer = &obj_as_buffer,
	.tp_as_sequence = &obj_as_seq,
	.tp_methods = obj_methods,
	.tp_getset = obj_getset,
};

/* ---- module ---- */

static PyMethodDef module_methods[] = {
	{ "connect", (PyCFunction)(void (*)(void))sh_connect,
	  METH_VARARGS | METH_KEYWORDS,
	  "connect(path=None, name=None) -> Client\n\nConnect to spanheapd "
	  "and map its arena.  path None: $SPANHEAP_SOCKET, then the default "
	  "socket; name None: the program's name." },
	{ NULL, NULL, 0, NULL }
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "spanheap._spanheap",
	"The C extension behind spanheap.", -1, module_methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__spanheap(void);
PyMODINIT_FUNC PyInit__spanheap(void)
{
	PyObject *m, *json;

	if (PyType_Ready(&ClientType) < 0 || PyType_Ready(&SpanType) < 0 ||
	    PyType_Ready(&ObjType) < 0)
		return NULL;
	json = PyImport_ImportModule("json");
	if (!json)
		return NULL;
	json_loads = PyObject_GetAttrString(json, "loads");
	Py_DECREF(json);
	if (!json_loads)
		return NULL;
	m = PyModule_Create(&module);
	if (!m)
		return NULL;
	Py_INCREF(&ClientType);
	Py_INCREF(&SpanType);
	Py_INCREF(&ObjType);
	if (PyModule_AddObject(m, "Client", (PyObject *)&ClientType) < 0 ||
	    PyModule_AddObject(m, "Span", (PyObject *)&SpanType) < 0 ||
	    PyModule_AddObject(m, "Object", (PyObject *)&ObjType) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
