// SPDX-License-Identifier: MIT
/*
 * spanhold: the system test's client that lives through daemon restarts
 * (tests/system/restarts.sh).  It uses the public library only.
 *
 *   spanhold make PREFIX N
 *	creates and seals the objects PREFIX-0 .. PREFIX-(N-1), each filled
 *	with the pattern of its name, and exits: sealed objects outlive
 *	their creator, so a holder gets references to another process's
 *	objects.
 *   spanhold hold PEER N STOPFILE [MIB]
 *	holds MIB (default 256) MiB of spans, a mix of magazine classes
 *	(1..64 pages) and larger ones that go through the socket, each span's
 *	bytes a pattern of its offset, a per-run seed and a per-span version;
 *	a few sealed objects of its own, a reference to each PEER-i, and an
 *	OPEN object it fills a chunk at a time (sealed when full, then a new
 *	one).  It prints "holding" once all that is in place, then loops:
 *	allocations, frees, rewrites, object create/seal/get/release/delete,
 *	every result checked, one span verified each step and everything
 *	every 2 s, until SIGUSR1 or STOPFILE exists.
 *
 * At the end it verifies every byte it holds and compares its ledger
 * with what the daemon says of its connection (CLIENTS: spans, bytes and
 * cached) and of the objects (refs, state).  A page map of the arena
 * catches a span handed out twice: every span or object this process
 * holds must lie on pages no other one of them holds.  Exit 0 only if no
 * call returned an error, no byte changed and the ledgers agree; 1
 * otherwise; 2 for bad usage.  Every failure is one line on stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"

#define MAX_SPANS 16384
#define MAX_OBJS 256
#define MY_SEALED 4		/* sealed objects of our own kept at once */
#define OPEN_SIZE (4u << 20)	/* the OPEN object, filled in chunks */
#define OPEN_CHUNK (64u << 10)
#define FULL_VERIFY_NS 2000000000ull

struct span_rec {
	uint64_t off;
	size_t npages;
	uint64_t *ptr;
	uint32_t ver;
};

struct obj_rec {
	char name[64];
	struct spanheap_obj o;
	unsigned int refs;	/* ours */
	bool mine;		/* we created it: the daemon counts our
				   creator's reference in refs */
	bool sealed;
	size_t filled;		/* bytes written, for the OPEN one */
};

static struct spanheap *h;
static size_t page;
static uint64_t seed;
static volatile sig_atomic_t stop;
static const char *stop_file;

static struct span_rec spans[MAX_SPANS];
static size_t nspans, npages_held;
static struct obj_rec objs[MAX_OBJS];
static size_t nobjs;
static uint8_t *pagemap;	/* 1 per arena page we hold */
static unsigned long errors, ops, verified_bytes;
static unsigned long n_alloc, n_free, n_write, n_create, n_seal, n_get,
	n_release, n_delete;

static void on_usr1(int sig)
{
	(void)sig;
	stop = 1;
}

static void failf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("spanhold: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	errors++;
}

static bool call_ok(const char *what, int r)
{
	if (r >= 0)
		return true;
	failf("%s returned %d (%s)", what, r, strerror(-r));
	return false;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* --- patterns ---------------------------------------------------------- */

static uint64_t word_of(uint64_t key, uint64_t i)
{
	return (key + i) * 0x9e3779b97f4a7c15ull ^ (key >> 7);
}

static uint64_t span_key(const struct span_rec *s)
{
	return (s->off / 8) ^ (seed + (uint64_t)s->ver * 0x100000001b3ull);
}

static uint64_t name_key(const char *name)
{
	uint64_t k = 0xcbf29ce484222325ull;	/* FNV-1a */

	for (; *name; name++)
		k = (k ^ (uint8_t)*name) * 0x100000001b3ull;
	return k;
}

static void fill(uint64_t *p, uint64_t key, size_t from, size_t to)
{
	for (size_t i = from / 8; i < to / 8; i++)
		p[i] = word_of(key, i);
}

/* Returns whether [from, to) of p holds its pattern; one line if not. */
static bool check_words(const char *what, const uint64_t *p, uint64_t key,
			size_t from, size_t to)
{
	size_t bad = 0, first = 0;

	for (size_t i = from / 8; i < to / 8; i++) {
		if (p[i] != word_of(key, i) && !bad++)
			first = i;
	}
	verified_bytes += to - from;
	if (bad)
		failf("%s: %zu of %zu words changed, the first at byte %zu "
		      "(0x%016" PRIx64 ", want 0x%016" PRIx64 ")",
		      what, bad, (to - from) / 8, first * 8, p[first],
		      word_of(key, first));
	return !bad;
}

static bool verify_span(const struct span_rec *s)
{
	char what[64];

	snprintf(what, sizeof(what), "span at %" PRIu64 " (%zu pages)", s->off,
		 s->npages);
	return check_words(what, s->ptr, span_key(s), 0, s->npages * page);
}

static bool verify_obj(const struct obj_rec *x)
{
	return check_words(x->name, x->o.ptr, name_key(x->name), 0,
			   x->sealed ? x->o.size & ~(size_t)7 : x->filled);
}

/* --- the page map: nothing we hold is held twice ------------------------ */

static bool claim(const char *what, uint64_t off, size_t npages)
{
	uint64_t first = off / page;

	if (off % page || off + npages * page > spanheap_arena_size(h) ||
	    off + npages * page < off) {
		failf("%s: [%" PRIu64 ", +%zu pages) is not arena pages", what,
		      off, npages);
		return false;
	}
	for (size_t i = 0; i < npages; i++) {
		if (pagemap[first + i]) {
			failf("%s at %" PRIu64 " (%zu pages): page %" PRIu64
			      " is already ours: handed out twice",
			      what, off, npages, first + i);
			return false;
		}
	}
	memset(pagemap + first, 1, npages);
	return true;
}

static void unclaim(uint64_t off, size_t npages)
{
	memset(pagemap + off / page, 0, npages);
}

/* --- spans --------------------------------------------------------------- */

static size_t pick_pages(void)
{
	if (rnd() % 10)
		return (size_t)1 << (rnd() % 7);	/* a magazine class */
	return 65 + rnd() % 960;			/* through the socket */
}

static bool add_span(const struct spanheap_span *sp)
{
	struct span_rec *s;

	if (!claim("a new span", sp->off, sp->npages))
		return false;
	if (nspans == MAX_SPANS) {
		failf("more than %d spans", MAX_SPANS);
		return false;
	}
	if (sp->ptr != spanheap_ptr(h, sp->off)) {
		failf("span at %" PRIu64 ": ptr %p, spanheap_ptr() says %p",
		      sp->off, sp->ptr, spanheap_ptr(h, sp->off));
		return false;
	}
	s = &spans[nspans++];
	*s = (struct span_rec){ sp->off, sp->npages, sp->ptr, 0 };
	fill(s->ptr, span_key(s), 0, s->npages * page);
	npages_held += s->npages;
	return true;
}

static bool span_alloc(void)
{
	struct spanheap_span sp;
	size_t want = pick_pages();

	n_alloc++;
	if (!call_ok("spanheap_span_alloc", spanheap_span_alloc(h, want, 0, &sp)))
		return false;
	if (sp.npages < want) {
		failf("asked for %zu pages, got %zu", want, sp.npages);
		return false;
	}
	return add_span(&sp);
}

static bool span_alloc_batch(void)
{
	struct spanheap_span sp[8];
	size_t want = (size_t)1 << (rnd() % 7), n = 1 + rnd() % 8;

	n_alloc += n;
	if (!call_ok("spanheap_span_alloc_batch",
		     spanheap_span_alloc_batch(h, want, 0, n, sp)))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!add_span(&sp[i]))
			return false;
	}
	return true;
}

static void drop_span(size_t i)
{
	unclaim(spans[i].off, spans[i].npages);
	npages_held -= spans[i].npages;
	spans[i] = spans[--nspans];
}

static bool span_free(void)
{
	size_t i = rnd() % nspans;

	if (!verify_span(&spans[i]))
		return false;
	n_free++;
	if (!call_ok("spanheap_span_free", spanheap_span_free(h, spans[i].off)))
		return false;
	drop_span(i);
	return true;
}

static bool span_free_batch(void)
{
	uint64_t offs[8];
	size_t n = 1 + rnd() % 8;

	if (n > nspans)
		n = nspans;
	/* The last n, so that the indices stay valid as we drop them. */
	for (size_t k = 0; k < n; k++) {
		if (!verify_span(&spans[nspans - 1 - k]))
			return false;
		offs[k] = spans[nspans - 1 - k].off;
	}
	n_free += n;
	if (!call_ok("spanheap_span_free_batch",
		     spanheap_span_free_batch(h, offs, n)))
		return false;
	for (size_t k = 0; k < n; k++)
		drop_span(nspans - 1);
	return true;
}

static bool span_rewrite(void)
{
	struct span_rec *s = &spans[rnd() % nspans];

	if (!verify_span(s))
		return false;
	n_write++;
	s->ver++;
	fill(s->ptr, span_key(s), 0, s->npages * page);
	return true;
}

/* --- objects ------------------------------------------------------------- */

static struct obj_rec *obj_find(const char *name)
{
	for (size_t i = 0; i < nobjs; i++) {
		if (!strcmp(objs[i].name, name))
			return &objs[i];
	}
	return NULL;
}

static void obj_drop(struct obj_rec *x)
{
	unclaim(x->o.off, (x->o.size + page - 1) / page);
	*x = objs[--nobjs];
}

static bool obj_get(const char *name)
{
	struct spanheap_obj o;
	struct obj_rec *x = obj_find(name);

	n_get++;
	if (!call_ok("spanheap_obj_get", spanheap_obj_get(h, name, 0, &o)))
		return false;
	if (x) {
		if (o.id != x->o.id || o.off != x->o.off ||
		    o.size != x->o.size) {
			failf("%s: got id %" PRIu64 " at %" PRIu64
			      ", held id %" PRIu64 " at %" PRIu64,
			      name, o.id, o.off, x->o.id, x->o.off);
			return false;
		}
		x->refs++;
		return verify_obj(x);
	}
	if (nobjs == MAX_OBJS) {
		failf("more than %d objects", MAX_OBJS);
		return false;
	}
	if (!claim(name, o.off, (o.size + page - 1) / page))
		return false;
	x = &objs[nobjs++];
	*x = (struct obj_rec){ .o = o, .refs = 1, .sealed = true };
	snprintf(x->name, sizeof(x->name), "%s", name);
	return verify_obj(x);
}

static bool obj_release(struct obj_rec *x)
{
	n_release++;
	if (!verify_obj(x))
		return false;
	if (!call_ok("spanheap_obj_release", spanheap_obj_release(h, &x->o)))
		return false;
	if (!--x->refs)
		obj_drop(x);
	return true;
}

static bool obj_create(const char *name, size_t size, struct obj_rec **ret)
{
	struct spanheap_obj o;
	struct obj_rec *x;

	if (nobjs == MAX_OBJS) {
		failf("more than %d objects", MAX_OBJS);
		return false;
	}
	n_create++;
	if (!call_ok("spanheap_obj_create",
		     spanheap_obj_create(h, name, size, 0, &o)))
		return false;
	if (o.size != size) {
		failf("%s: created %zu bytes, asked %zu", name, o.size, size);
		return false;
	}
	if (!claim(name, o.off, (o.size + page - 1) / page))
		return false;
	x = &objs[nobjs++];
	*x = (struct obj_rec){ .o = o, .refs = 1, .mine = true };
	snprintf(x->name, sizeof(x->name), "%s", name);
	*ret = x;
	return true;
}

static bool obj_seal(struct obj_rec *x)
{
	fill(x->o.ptr, name_key(x->name), x->filled, x->o.size & ~(size_t)7);
	x->filled = x->o.size & ~(size_t)7;
	n_seal++;
	if (!call_ok("spanheap_obj_seal", spanheap_obj_seal(h, &x->o)))
		return false;
	x->sealed = true;
	return true;
}

/* Delete one of ours and drop every reference we hold to it. */
static bool obj_delete(struct obj_rec *x)
{
	n_delete++;
	if (!verify_obj(x))
		return false;
	if (!call_ok("spanheap_obj_delete", spanheap_obj_delete(h, x->name)))
		return false;
	while (x->refs > 1) {
		if (!call_ok("spanheap_obj_release",
			     spanheap_obj_release(h, &x->o)))
			return false;
		x->refs--;
		n_release++;
	}
	return obj_release(x);
}

static unsigned long name_seq;
static char open_name[64];	/* obj_drop() moves records: by name */

static bool new_open(void)
{
	struct obj_rec *x;

	snprintf(open_name, sizeof(open_name), "spanhold-%d-open-%lu",
		 (int)getpid(), name_seq++);
	return obj_create(open_name, OPEN_SIZE - 8 * (rnd() % 64), &x);
}

static size_t count_mine_sealed(struct obj_rec **oldest)
{
	size_t n = 0;

	*oldest = NULL;
	for (size_t i = 0; i < nobjs; i++) {
		if (objs[i].mine && objs[i].sealed) {
			if (!n++ || objs[i].o.id < (*oldest)->o.id)
				*oldest = &objs[i];
		}
	}
	return n;
}

/* One chunk more of the OPEN object; when full, seal it, open another. */
static bool fill_open(void)
{
	struct obj_rec *x = obj_find(open_name);
	size_t end;

	if (!x) {
		failf("lost our record of %s", open_name);
		return false;
	}
	end = x->filled + OPEN_CHUNK;

	if (end < (x->o.size & ~(size_t)7)) {
		fill(x->o.ptr, name_key(x->name), x->filled, end);
		x->filled = end;
		return true;
	}
	if (!obj_seal(x))
		return false;
	return new_open();
}

static bool small_obj(void)
{
	struct obj_rec *x, *oldest;
	char name[64];

	if (count_mine_sealed(&oldest) >= MY_SEALED)
		return obj_delete(oldest);
	snprintf(name, sizeof(name), "spanhold-%d-obj-%lu", (int)getpid(),
		 name_seq++);
	if (!obj_create(name, 1 + rnd() % (256 << 10), &x))
		return false;
	return obj_seal(x);
}

static bool peer_ref(const char *peer, unsigned long npeer)
{
	char name[64];
	struct obj_rec *x;

	snprintf(name, sizeof(name), "%s-%lu", peer, rnd() % npeer);
	x = obj_find(name);
	if (x && x->refs > 1 && rnd() % 2)
		return obj_release(x);
	return obj_get(name);
}

/* --- the ledgers --------------------------------------------------------- */

static bool verify_all(void)
{
	bool ok = true;

	for (size_t i = 0; i < nspans; i++)
		ok &= verify_span(&spans[i]);
	for (size_t i = 0; i < nobjs; i++)
		ok &= verify_obj(&objs[i]);
	return ok;
}

static json_t *parse(const char *what, int r, char *text)
{
	json_error_t e;
	json_t *j;

	if (!call_ok(what, r))
		return NULL;
	j = json_loads(text, 0, &e);
	free(text);
	if (!j)
		failf("%s: not JSON: %s", what, e.text);
	return j;
}

static int64_t num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/*
 * What the daemon says of our connection.  Its spans and bytes include
 * what sits in our magazine (cached bytes, whose spans the client has
 * not taken): the bytes must match exactly, the span count within what
 * the cached bytes can hold.  Quiet: the caller retries while the
 * figures lag (MemStats' age bound).
 */
static bool client_agrees(char *msg, size_t len)
{
	uint32_t id = spanheap_client_id(h), next;
	int64_t dspans, dbytes, cached;
	json_t *j, *e;
	char *text;
	bool ok;
	int r;

	r = spanheap_clients_json(h, id - 1, &next, &text);
	j = parse("spanheap_clients_json", r, text);
	if (!j)
		return false;
	e = json_array_get(json_object_get(j, "clients"), 0);
	if (num(e, "id") != id) {
		snprintf(msg, len, "CLIENTS has no entry for client %u", id);
		json_decref(j);
		return false;
	}
	dspans = num(e, "spans");
	dbytes = num(e, "bytes");
	cached = num(e, "cached");
	json_decref(j);
	ok = dbytes - cached == (int64_t)(npages_held * page) &&
	     dspans >= (int64_t)nspans &&
	     dspans - (int64_t)nspans <= cached / (int64_t)page;
	snprintf(msg, len,
		 "client %u: daemon says %" PRId64 " spans, %" PRId64
		 " bytes, %" PRId64 " cached; we hold %zu spans, %zu bytes",
		 id, dspans, dbytes, cached, nspans, npages_held * page);
	return ok;
}

/* Our objects' references and states, as the daemon lists them. */
static bool objects_agree(char *msg, size_t len)
{
	size_t found = 0;
	json_t *j, *list, *e;
	char *text;
	size_t i;
	int r;

	r = spanheap_objects_json(h, &text);
	j = parse("spanheap_objects_json", r, text);
	if (!j)
		return false;
	list = json_object_get(j, "objects");
	snprintf(msg, len, "%zu objects agree", nobjs);
	json_array_foreach(list, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		const char *state = json_string_value(json_object_get(e, "state"));
		struct obj_rec *x = name ? obj_find(name) : NULL;
		int64_t want;

		if (!x)
			continue;
		found++;
		want = x->refs;
		if (num(e, "refs") != want || num(e, "id") != (int64_t)x->o.id ||
		    strcmp(state ? state : "", x->sealed ? "sealed" : "open")) {
			snprintf(msg, len, "%s: daemon says id %" PRId64
				 " refs %" PRId64 " %s; we hold id %" PRIu64
				 " refs %" PRId64 " %s",
				 name, num(e, "id"), num(e, "refs"), state,
				 x->o.id, want, x->sealed ? "sealed" : "open");
			json_decref(j);
			return false;
		}
	}
	json_decref(j);
	if (found != nobjs) {
		snprintf(msg, len, "the daemon lists %zu of our %zu objects",
			 found, nobjs);
		return false;
	}
	return true;
}

static bool ledgers_agree(void)
{
	char cmsg[256] = "", omsg[256] = "";
	bool c = false, o = false;

	/* Up to 10 s: stats may lag our magazine by their age bound. */
	for (int i = 0; i < 100 && !(c && o); i++) {
		if (i)
			usleep(100000);
		c = client_agrees(cmsg, sizeof(cmsg));
		o = objects_agree(omsg, sizeof(omsg));
		if (errors)
			return false;
	}
	printf("ledger: %s: %s\n", c ? "agrees" : "DIFFERS", cmsg);
	printf("ledger: objects: %s\n", omsg);
	if (!c)
		failf("the daemon's ledger of our spans differs: %s", cmsg);
	if (!o)
		failf("the daemon's ledger of our objects differs: %s", omsg);
	return c && o;
}

/* --- the two modes ------------------------------------------------------- */

static int make_objects(const char *prefix, unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		struct obj_rec *x;
		char name[64];

		snprintf(name, sizeof(name), "%s-%lu", prefix, i);
		if (!obj_create(name, (1 + i) * 12345, &x) || !obj_seal(x))
			return 1;
	}
	printf("made %lu sealed objects %s-*\n", n, prefix);
	return 0;
}

static bool stopping(void)
{
	struct stat st;

	return stop || stat(stop_file, &st) == 0;
}

static bool step(const char *peer, unsigned long npeer, size_t target)
{
	unsigned int r = rnd() % 100;

	ops++;
	if (!verify_span(&spans[rnd() % nspans]))
		return false;
	if (r < 40)
		return npages_held < target ? span_alloc() : span_free();
	if (r < 60)
		return span_free() && span_alloc();
	if (r < 65)
		return npages_held < target ? span_alloc_batch() :
					      span_free_batch();
	if (r < 75)
		return span_rewrite();
	if (r < 88)
		return fill_open();
	if (r < 95)
		return peer_ref(peer, npeer);
	return small_obj();
}

static int hold(const char *peer, unsigned long npeer, size_t mib)
{
	size_t target = (mib << 20) / page;
	uint64_t t0 = now_ns(), last = t0, fulls = 0;

	while (npages_held < target) {
		if (!span_alloc())
			goto out;
	}
	for (unsigned long i = 0; i < npeer; i++) {
		char name[64];

		snprintf(name, sizeof(name), "%s-%lu", peer, i);
		if (!obj_get(name))
			goto out;
	}
	for (int i = 0; i < MY_SEALED - 1; i++) {
		if (!small_obj())
			goto out;
	}
	if (!new_open())
		goto out;
	printf("holding %zu spans, %zu MiB, %zu objects, seed %" PRIu64 "\n",
	       nspans, npages_held * page >> 20, nobjs, seed);
	while (!stopping()) {
		if (!step(peer, npeer, target))
			break;
		if (now_ns() - last > FULL_VERIFY_NS) {
			if (!verify_all())
				break;
			fulls++;
			last = now_ns();
		}
	}
out:
	printf("stopped after %lu steps in %.1f s (%" PRIu64
	       " full verifies): %lu allocs, %lu frees, %lu rewrites, "
	       "%lu creates, %lu seals, %lu gets, %lu releases, %lu deletes\n",
	       ops, (double)(now_ns() - t0) / 1e9, fulls, n_alloc, n_free,
	       n_write, n_create, n_seal, n_get, n_release, n_delete);
	verified_bytes = 0;
	verify_all();
	printf("verified every byte held: %zu spans (%zu MiB), %zu objects: "
	       "%lu MiB, %s\n",
	       nspans, npages_held * page >> 20, nobjs, verified_bytes >> 20,
	       errors ? "NOT all intact" : "all intact");
	if (!errors)
		ledgers_agree();
	printf("%lu errors\n", errors);
	return errors ? 1 : 0;
}

static int usage(void)
{
	fputs("usage: spanhold make PREFIX N\n"
	      "       spanhold hold PEER N STOPFILE [MIB]\n", stderr);
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long n;
	size_t mib = 256;
	int r;

	if (argc < 4)
		return usage();
	n = strtoul(argv[3], NULL, 10);
	if (!strcmp(argv[1], "hold")) {
		if (argc < 5 || argc > 6 || !n)
			return usage();
		stop_file = argv[4];
		if (argc == 6)
			mib = strtoul(argv[5], NULL, 10);
		if (!mib)
			return usage();
	} else if (strcmp(argv[1], "make") || argc != 4) {
		return usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	seed = now_ns() ^ ((uint64_t)getpid() << 32);
	rng_state = seed | 1;
	r = spanheap_connect_named(NULL, "spanhold", &h);
	if (r < 0) {
		fprintf(stderr, "spanhold: connect: %s\n", strerror(-r));
		return 1;
	}
	page = spanheap_page_size(h);
	pagemap = calloc(spanheap_arena_size(h) / page, 1);
	if (!pagemap) {
		fputs("spanhold: no memory for the page map\n", stderr);
		return 1;
	}
	printf("connected as client %u\n", spanheap_client_id(h));
	if (!strcmp(argv[1], "make"))
		r = make_objects(argv[2], n);
	else
		r = hold(argv[2], n, mib);
	spanheap_close(h);
	free(pagemap);
	return r;
}
