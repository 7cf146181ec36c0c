// SPDX-License-Identifier: MIT
/*
 * Restarts with the service manager's fd store (daemon.c, durable.c,
 * fdstore.c, orphans.c), under the stand-in of tests/lib/svcmgr.c: what
 * survives SIGKILL and SIGTERM, what is freed when its client does not
 * come back, what is refused and made anew.
 */
#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "libclient/spanheap.h"
#include "shm/heap.h"
#include "shm/heap_internal.h"
#include "tests/lib/daemon.h"
#include "tests/lib/svcmgr.h"
#include "tests/lib/testlib.h"

#define OBJ_BYTES (3 * 4096 + 100)

static struct svcmgr m;

static void setup(void)
{
	test_socket_only();
	svcmgr_init(&m);
}

static void teardown(void)
{
	svcmgr_fini(&m);
}

/* MemStats, from a new connection. */
static json_t *stats_now(void)
{
	struct spanheap *h;
	json_t *root;
	char *text;

	ck_assert_int_eq(spanheap_connect(m.sock, &h), 0);
	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	spanheap_close(h);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	return root;
}

/* A figure of @root, by a dotted path ("orphans.expired"). */
static long long stat_in(json_t *root, const char *path)
{
	char key[64], *p, *save;
	json_t *v;

	snprintf(key, sizeof(key), "%s", path);
	v = root;
	for (p = strtok_r(key, ".", &save); p; p = strtok_r(NULL, ".", &save))
		v = json_object_get(v, p);
	ck_assert_msg(json_is_integer(v), "no %s in MemStats", path);
	return json_integer_value(v);
}

/* A figure of MemStats now. */
static long long stat_of(const char *path)
{
	json_t *root = stats_now();
	long long n = stat_in(root, path);

	json_decref(root);
	return n;
}

static bool log_has(const char *what)
{
	FILE *f = fopen(m.log, "r");
	char line[2048];
	bool found = false;

	ck_assert_ptr_nonnull(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, what) != NULL;
	fclose(f);
	return found;
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)(i * 7 + 3);
}

/* A sealed object @name of OBJ_BYTES patterned bytes; the connection goes. */
static void make_object(const char *name)
{
	struct spanheap_obj o;
	struct spanheap *h;
	size_t i;

	ck_assert_int_eq(spanheap_connect(m.sock, &h), 0);
	ck_assert_int_eq(spanheap_obj_create(h, name, OBJ_BYTES, 0, &o), 0);
	for (i = 0; i < OBJ_BYTES; i++)
		((unsigned char *)o.ptr)[i] = pattern(i);
	ck_assert_int_eq(spanheap_obj_seal(h, &o), 0);
	spanheap_close(h);
}

/* A new connection finds @name by name, its bytes intact. */
static void check_object(const char *name)
{
	struct spanheap_obj o;
	struct spanheap *h;
	size_t i;

	ck_assert_int_eq(spanheap_connect(m.sock, &h), 0);
	ck_assert_int_eq(spanheap_obj_get(h, name, 0, &o), 0);
	ck_assert_uint_eq(o.size, OBJ_BYTES);
	for (i = 0; i < OBJ_BYTES; i++)
		ck_assert_uint_eq(((unsigned char *)o.ptr)[i], pattern(i));
	ck_assert_int_eq(spanheap_obj_release(h, &o), 0);
	spanheap_close(h);
}

static void object_survives(int sig)
{
	svcmgr_start(&m, NULL);
	ck_assert_int_ge(svcmgr_fd(&m, "arena"), 0);
	ck_assert_int_ge(svcmgr_fd(&m, "meta"), 0);
	ck_assert_uint_eq(m.nfds, 2);
	make_object("kept");
	ck_assert_int_eq(stat_of("generation"), 1);
	svcmgr_kill(&m, sig);
	ck_assert_uint_eq(m.nfds, 2);	/* nothing more, nothing dropped */
	svcmgr_start(&m, NULL);
	ck_assert_uint_eq(m.nfds, 2);
	ck_assert_int_eq(stat_of("generation"), 2);
	ck_assert_int_eq(stat_of("objects.sealed"), 1);
	check_object("kept");
	ck_assert(log_has("adopted the arena of the fd store, generation 2"));
}

START_TEST(test_object_survives_sigkill)
{
	object_survives(SIGKILL);
}
END_TEST

START_TEST(test_object_survives_sigterm)
{
	object_survives(SIGTERM);
}
END_TEST

/*
 * The spans of a client that does not come back are freed once the
 * grace is over, released at once: the kernel's figure follows.
 */
START_TEST(test_orphan_expires)
{
	const char *args[] = { "--reconnect-grace=3s", NULL };
	struct spanheap_span s[16];
	struct spanheap *h;
	uint64_t resident;
	int i, waited;
	json_t *snap;

	svcmgr_start(&m, args);
	ck_assert_int_eq(spanheap_connect(m.sock, &h), 0);
	for (i = 0; i < 16; i++) {
		ck_assert_int_eq(spanheap_span_alloc(h, 64, 0, &s[i]), 0);
		memset(s[i].ptr, 0xab, 64 * 4096);
	}
	ck_assert_int_eq(stat_of("heap_inuse"), 16 * 64 * 4096);
	svcmgr_kill(&m, SIGKILL);
	spanheap_close(h);	/* its connection broke: gone */
	svcmgr_start(&m, args);
	/* Its spans are still there: it may come back for them. */
	ck_assert_int_eq(stat_of("heap_inuse"), 16 * 64 * 4096);
	/*
	 * One snapshot: they may expire meanwhile.  The stats connection
	 * just before the kill may not have been seen to close: an orphan
	 * too.
	 */
	snap = stats_now();
	ck_assert_int_ge(stat_in(snap, "orphans.waiting") +
			 stat_in(snap, "orphans.expired"), 1);
	json_decref(snap);
	for (waited = 0; stat_of("orphans.waiting") != 0 ||
			 stat_of("orphans.expired") < 1; waited += 100) {
		ck_assert_int_lt(waited, 60000);
		usleep(100000);
	}
	ck_assert_int_eq(stat_of("orphans.waiting"), 0);
	ck_assert_int_eq(stat_of("heap_inuse"), 0);
	/* Released at once: the memfd's st_blocks says so. */
	for (waited = 0;; waited += 100) {
		struct stat st;
		long long consumed = stat_of("consumed");

		ck_assert_int_eq(fstat(svcmgr_fd(&m, "arena"), &st), 0);
		resident = (uint64_t)st.st_blocks * 512;
		if (consumed == stat_of("heap_sys") - stat_of("heap_released") &&
		    resident <= (uint64_t)consumed &&
		    stat_of("heap_released") == stat_of("heap_idle"))
			break;
		ck_assert_int_lt(waited, 60000);
		usleep(100000);
	}
	ck_assert_uint_lt(resident, 16 * 64 * 4096);
	ck_assert_int_eq(stat_of("arena_unaccounted"), 0);
	ck_assert(log_has("did not come back within --reconnect-grace"));
}
END_TEST

/* The generation counts restarts; cumulative counters go on. */
START_TEST(test_generation_and_counters)
{
	struct spanheap *h;
	long long gc1, gc2;
	int i;

	svcmgr_start(&m, NULL);
	ck_assert_int_eq(spanheap_connect(m.sock, &h), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(spanheap_gc(h, NULL), 0);
		usleep(120000);	/* past the control interval */
	}
	spanheap_close(h);
	gc1 = stat_of("num_gc");
	ck_assert_int_ge(gc1, 3);
	svcmgr_kill(&m, SIGTERM);
	svcmgr_start(&m, NULL);
	ck_assert_int_eq(stat_of("generation"), 2);
	gc2 = stat_of("num_gc");
	ck_assert_int_ge(gc2, gc1);
	ck_assert_int_le(stat_of("started"), stat_of("restarted"));
	svcmgr_kill(&m, SIGTERM);
	svcmgr_start(&m, NULL);
	ck_assert_int_eq(stat_of("generation"), 3);
	ck_assert_int_ge(stat_of("num_gc"), gc2);
}
END_TEST

/* Flip @len bytes at @off of the stored metadata. */
static void corrupt_meta(uint64_t off, size_t len)
{
	int fd = svcmgr_fd(&m, "meta");
	unsigned char b[64];
	size_t i;

	ck_assert_uint_le(len, sizeof(b));
	ck_assert_int_eq(pread(fd, b, len, (off_t)off), (ssize_t)len);
	for (i = 0; i < len; i++)
		b[i] ^= 0x5a;
	ck_assert_int_eq(pwrite(fd, b, len, (off_t)off), (ssize_t)len);
}

/* Start again: refused with @why in the log, and a new arena made. */
static void refused_and_new(const char *why)
{
	int old_arena = svcmgr_fd(&m, "arena");
	struct stat before, after;

	ck_assert_int_eq(fstat(old_arena, &before), 0);
	svcmgr_start(&m, NULL);
	ck_assert_msg(log_has(why), "no '%s' in %s", why, m.log);
	ck_assert(log_has("cannot adopt the arena of the service manager's fd store"));
	ck_assert_int_eq(stat_of("generation"), 1);
	ck_assert_int_eq(stat_of("objects.sealed"), 0);
	/* The old fds were dropped from the store, the new ones stored. */
	ck_assert_uint_eq(m.nfds, 2);
	ck_assert_int_eq(fstat(svcmgr_fd(&m, "arena"), &after), 0);
	ck_assert(before.st_ino != after.st_ino);
	make_object("again");
	check_object("again");
}

/*
 * A daemon that made the object "kept" and was stopped by @sig; the
 * heap's metadata header it left in @ret.
 */
static void kept_and_stopped(int sig, struct heap_meta *ret)
{
	svcmgr_start(&m, NULL);
	make_object("kept");
	svcmgr_kill(&m, sig);
	ck_assert_int_eq(pread(svcmgr_fd(&m, "meta"), ret, sizeof(*ret), 0),
			 (ssize_t)sizeof(*ret));
}

START_TEST(test_corrupt_heap_header)
{
	svcmgr_start(&m, NULL);
	make_object("kept");
	svcmgr_kill(&m, SIGKILL);
	corrupt_meta(0, 8);		/* the heap's magic */
	refused_and_new("holds no heap of this version");
}
END_TEST

START_TEST(test_corrupt_page_map)
{
	struct heap_meta hm;

	kept_and_stopped(SIGKILL, &hm);
	corrupt_meta(hm.layout.spans, 16);	/* the object's span */
	refused_and_new("heap_check() found the stored heap corrupt");
}
END_TEST

START_TEST(test_corrupt_durable_header)
{
	struct heap_meta hm;

	kept_and_stopped(SIGTERM, &hm);
	corrupt_meta(hm.layout.size, 8);	/* its magic */
	refused_and_new("the daemon's header has a bad magic number");
}
END_TEST

/* A journal that is not what the heap wrote refuses adoption. */
START_TEST(test_corrupt_journal)
{
	struct heap_meta hm;

	kept_and_stopped(SIGKILL, &hm);
	corrupt_meta(hm.layout.journal, 8);	/* its count word */
	refused_and_new("the stored heap's journal is corrupt");
}
END_TEST

static int no_release(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx, (void)off, (void)len;
	return 0;
}

static void no_zero(void *ctx, uint64_t off, uint64_t len)
{
	(void)ctx, (void)off, (void)len;
}

/*
 * A daemon that died inside a transaction: the test opens one on the
 * stored heap, logs and flips the bytes of the object's span in the page
 * map and the daemon's header magic, and goes without ending it.  The
 * next daemon undoes both (heap_recover() before every check) and
 * adopts the heap as it was.
 */
START_TEST(test_unfinished_transaction_undone)
{
	const struct heap_ops ops = { .release = no_release, .zero = no_zero };
	struct heap_meta hm;
	struct heap *h;
	struct stat st;
	unsigned char *base, *p;
	size_t i;
	int fd;

	svcmgr_start(&m, NULL);
	make_object("kept");
	svcmgr_kill(&m, SIGKILL);
	fd = svcmgr_fd(&m, "meta");
	ck_assert_int_eq(fstat(fd, &st), 0);
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
		    MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(base, MAP_FAILED);
	memcpy(&hm, base, sizeof(hm));
	ck_assert_int_eq(heap_attach(base, (uint64_t)st.st_size, &ops, &h), 0);
	/*
	 * The SIGKILL may have come inside a transaction of the daemon's
	 * own (the client's goodbye frees its references, the scavenger
	 * releases what it held): undo that first, as any attach must.
	 */
	ck_assert_int_eq(heap_recover(h, NULL), 0);
	heap_tx_begin(h);
	heap_tx_log(h, base + hm.layout.spans, 16);
	for (p = base + hm.layout.spans, i = 0; i < 16; i++)
		p[i] ^= 0x5a;
	heap_tx_log(h, base + hm.layout.size, 8);
	for (p = base + hm.layout.size, i = 0; i < 8; i++)
		p[i] ^= 0x5a;
	heap_detach(h);		/* dead: no heap_tx_end() */
	munmap(base, (size_t)st.st_size);
	svcmgr_start(&m, NULL);
	ck_assert(log_has("recovered the stored heap: undid "));
	ck_assert(log_has("adopted the arena of the fd store, generation 2"));
	ck_assert_int_eq(stat_of("generation"), 2);
	check_object("kept");
}
END_TEST

START_TEST(test_arena_wrong_size)
{
	int fd;

	svcmgr_start(&m, NULL);
	make_object("kept");
	svcmgr_kill(&m, SIGKILL);
	fd = memfd_create("other", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 512 << 20), 0);
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			       F_SEAL_SEAL), 0);
	svcmgr_replace(&m, "arena", fd);
	refused_and_new("the stored arena has 536870912");
}
END_TEST

/* Options that differ from the adopted heap's are logged as ignored. */
START_TEST(test_options_ignored)
{
	const char *args[] = { "--arena-size=2G", "--max-clients=10", NULL };

	svcmgr_start(&m, NULL);
	make_object("kept");
	svcmgr_kill(&m, SIGTERM);
	svcmgr_start(&m, args);
	ck_assert(log_has("--arena-size=2147483648 ignored"));
	ck_assert(log_has("--max-clients=10 ignored"));
	ck_assert_int_eq(stat_of("arena_size"), 1 << 30);
	ck_assert_int_eq(stat_of("clients.max"), 1024);
	check_object("kept");
}
END_TEST

/* Without a service manager, the start-up says what is at stake. */
START_TEST(test_no_notify_socket_warns)
{
	struct test_daemon t;
	char line[2048];
	bool found = false;
	FILE *f;

	unsetenv("NOTIFY_SOCKET");
	test_daemon_start(&t, NULL);
	/* The line may come after the socket is up: wait for it. */
	for (int i = 0; !found && i < 600; i++) {
		if (i)
			usleep(50 * 1000);
		f = fopen(t.log, "r");
		ck_assert_ptr_nonnull(f);
		while (!found && fgets(line, sizeof(line), f))
			found = strstr(line,
				       "will not survive a restart of the daemon");
		fclose(f);
	}
	test_daemon_stop(&t);
	ck_assert(found);
}
END_TEST

static Suite *restart_suite(void)
{
	Suite *s = suite_create("restart");
	TCase *tc = tcase_create("survive");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_object_survives_sigkill);
	tcase_add_test(tc, test_object_survives_sigterm);
	tcase_add_test(tc, test_generation_and_counters);
	tcase_add_test(tc, test_options_ignored);
	suite_add_tcase(s, tc);
	tc = tcase_create("orphans");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_orphan_expires);
	suite_add_tcase(s, tc);
	tc = tcase_create("refused");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_corrupt_heap_header);
	tcase_add_test(tc, test_corrupt_page_map);
	tcase_add_test(tc, test_corrupt_durable_header);
	tcase_add_test(tc, test_arena_wrong_size);
	tcase_add_test(tc, test_corrupt_journal);
	tcase_add_test(tc, test_unfinished_transaction_undone);
	tcase_add_test(tc, test_no_notify_socket_warns);
	suite_add_tcase(s, tc);
	return s;
}

TEST_MAIN(restart_suite)
