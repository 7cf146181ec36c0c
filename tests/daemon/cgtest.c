// SPDX-License-Identifier: MIT
/* Real cgroups for the pressure tests (see cgtest.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/daemon/cgtest.h"
#include "tests/lib/testlib.h"

static pid_t runner;

void cgtest_init(void)
{
	runner = getpid();
}

static pid_t runner_pid(void)
{
	return runner ? runner : getpid();
}

/* The mount of type @type (with option @opt, if given) into @buf. */
static bool find_mount(const char *type, const char *opt, char *buf,
		       size_t len)
{
	FILE *f = setmntent("/proc/self/mounts", "r");
	struct mntent *m;
	bool found = false;

	ck_assert_ptr_nonnull(f);
	while (!found && (m = getmntent(f))) {
		if (strcmp(m->mnt_type, type) || (opt && !hasmntopt(m, opt)))
			continue;
		ck_assert_uint_lt(strlen(m->mnt_dir), len);
		strcpy(buf, m->mnt_dir);
		found = true;
	}
	endmntent(f);
	return found;
}

void cgtest_v2_mount(char *buf, size_t len)
{
	ck_assert_msg(find_mount("cgroup2", NULL, buf, len),
		      "this machine has no cgroup2 mount in /proc/self/mounts");
}

bool cgtest_v1_memory_mount(char *buf, size_t len)
{
	return find_mount("cgroup", "memory", buf, len);
}

static void name_of(const char *parent, const char *what, char *buf,
		    size_t len)
{
	int n = snprintf(buf, len, "%s/spanheap-test-%d-%s", parent,
			 (int)runner_pid(), what);

	ck_assert(n > 0 && (size_t)n < len);
}

void cgtest_make(const char *parent, const char *what, char *buf, size_t len)
{
	name_of(parent, what, buf, len);
	ck_assert_msg(!mkdir(buf, 0755), "mkdir %s: %s", buf, strerror(errno));
}

void cgtest_write(const char *dir, const char *name, const char *text)
{
	char path[4096];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	n = write(fd, text, strlen(text));
	ck_assert_msg(n == (ssize_t)strlen(text), "write '%s' to %s: %s",
		      text, path, strerror(errno));
	close(fd);
}

void cgtest_join(const char *dir, pid_t pid)
{
	char text[32];

	snprintf(text, sizeof(text), "%d", (int)pid);
	cgtest_write(dir, "cgroup.procs", text);
}

int cgtest_remove(const char *dir)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	/* A task killed a moment ago may still be leaving. */
	for (int i = 0; i < 500; i++) {
		if (!rmdir(dir) || errno == ENOENT)
			return 0;
		if (errno != EBUSY)
			return -errno;
		nanosleep(&ts, NULL);
	}
	return -EBUSY;
}

/* Kill whatever is in @dir and its test cgroups; remove them all. */
static void sweep(const char *dir)
{
	char path[4096];
	struct dirent *e;
	DIR *d;
	FILE *f;
	int pid;

	d = opendir(dir);
	if (!d)
		return;
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR &&
		    !strncmp(e->d_name, "spanheap-test-", 14)) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			sweep(path);
		}
	closedir(d);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "r");
	if (f) {
		while (fscanf(f, "%d", &pid) == 1)
			if (pid > 0 && pid != getpid())
				kill(pid, SIGKILL);
		fclose(f);
	}
	cgtest_remove(dir);
}

void cgtest_cleanup(const char *what)
{
	char mnt[4096], dir[8192];

	if (find_mount("cgroup2", NULL, mnt, sizeof(mnt))) {
		name_of(mnt, what, dir, sizeof(dir));
		sweep(dir);
	}
	if (cgtest_v1_memory_mount(mnt, sizeof(mnt))) {
		name_of(mnt, what, dir, sizeof(dir));
		sweep(dir);
	}
}

unsigned long long cgtest_some_total(const char *path)
{
	char buf[512], *t;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(!strncmp(buf, "some ", 5) && (t = strstr(buf, "total=")),
		      "%s: no some total in '%s'", path, buf);
	return strtoull(t + 6, NULL, 10);
}
