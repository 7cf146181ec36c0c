// SPDX-License-Identifier: MIT
/*
 * --memory-limit's default: a percent of the memory the daemon may use.
 * The machine's is MemTotal; a cgroup's is its memory.max (v2) or
 * memory.limit_in_bytes (v1), and a cgroup is bound by every one above
 * it, so the walk goes from the daemon's own cgroup up to the root and
 * keeps the least.  "max", and v1's "no limit" (a huge number, the page
 * counter's maximum), do not bound.  The files are found as
 * /proc/self/cgroup and /proc/self/mountinfo say, under @root.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "memlimit.h"
#include "shm/heap.h"

#define PATH_LEN 4096

/* The first line of @path as a number of bytes: 0, -ENOENT, -EINVAL. */
static int read_bytes(const char *path, uint64_t *ret, bool *ret_max)
{
	char line[64], *end;
	unsigned long long v;
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return -errno;
	ok = fgets(line, sizeof(line), f) != NULL;
	fclose(f);
	if (!ok)
		return -EINVAL;
	line[strcspn(line, "\n")] = '\0';
	*ret_max = !strcmp(line, "max");
	if (*ret_max)
		return 0;
	errno = 0;
	v = strtoull(line, &end, 10);
	if (errno || end == line || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/*
 * The cgroup path of the hierarchy @v2 (the "0::" line) or of v1's
 * memory controller, from /proc/self/cgroup, into @ret.
 */
static bool own_cgroup(const char *root, bool v2, char *ret, size_t len)
{
	char path[PATH_LEN], line[PATH_LEN];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/self/cgroup", root);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *ctl = strchr(line, ':'), *cg;

		if (!ctl || !(cg = strchr(ctl + 1, ':')))
			continue;
		*ctl++ = '\0';
		*cg++ = '\0';
		cg[strcspn(cg, "\n")] = '\0';
		if (v2) {
			found = !strcmp(line, "0") && !*ctl;
		} else {
			for (char *t = strtok(ctl, ","); t && !found;
			     t = strtok(NULL, ","))
				found = !strcmp(t, "memory");
		}
		if (found)
			snprintf(ret, len, "%s", cg);
	}
	fclose(f);
	return found;
}

/*
 * The mount point of the cgroup2 hierarchy (@v2) or of v1's memory
 * controller, and the cgroup path mounted there, from mountinfo.
 */
static bool cgroup_mount(const char *root, bool v2, char *mnt, size_t len,
			 char *base, size_t blen)
{
	char path[PATH_LEN], line[PATH_LEN];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/self/mountinfo", root);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		/* id parent maj:min root mount opts... - fstype source superopts */
		char *fld[5] = { NULL }, *sep = strstr(line, " - "), *save;
		char *fstype, *super;
		int n = 0;

		if (!sep)
			continue;
		*sep = '\0';
		for (char *t = strtok_r(line, " ", &save); t && n < 5;
		     t = strtok_r(NULL, " ", &save))
			fld[n++] = t;
		fstype = strtok_r(sep + 3, " ", &save);
		strtok_r(NULL, " ", &save);	/* source */
		super = strtok_r(NULL, " \n", &save);
		if (n < 5 || !fstype)
			continue;
		if (v2) {
			found = !strcmp(fstype, "cgroup2");
		} else if (!strcmp(fstype, "cgroup") && super) {
			for (char *t = strtok_r(super, ",", &save); t && !found;
			     t = strtok_r(NULL, ",", &save))
				found = !strcmp(t, "memory");
		}
		if (found) {
			snprintf(mnt, len, "%s", fld[4]);
			snprintf(base, blen, "%s", fld[3]);
		}
	}
	fclose(f);
	return found;
}

/*
 * The least limit of the daemon's cgroup and those above it, in the
 * hierarchy @v2 or v1's; its file in @file.  False if none bounds.
 */
static bool cgroup_limit(const char *root, bool v2, uint64_t *ret,
			 char *file, size_t flen)
{
	char cg[PATH_LEN], mnt[PATH_LEN], base[PATH_LEN], path[3 * PATH_LEN];
	const char *name = v2 ? "memory.max" : "memory.limit_in_bytes";
	const char *rel;
	bool found = false;
	size_t blen;

	if (!own_cgroup(root, v2, cg, sizeof(cg)) ||
	    !cgroup_mount(root, v2, mnt, sizeof(mnt), base, sizeof(base)))
		return false;
	/* The mount shows the hierarchy from @base down. */
	blen = strcmp(base, "/") ? strlen(base) : 0;
	if (blen && (strncmp(cg, base, blen) || (cg[blen] && cg[blen] != '/')))
		return false;
	rel = cg + blen;
	for (;;) {
		uint64_t v = 0;
		bool max = false;
		char *slash;

		snprintf(path, sizeof(path), "%s%s%s/%s", root, mnt, rel, name);
		/* v1 says "none" with the page counter's maximum. */
		if (read_bytes(path, &v, &max) == 0 && !max &&
		    v < (UINT64_C(1) << 62) && (!found || v < *ret)) {
			*ret = v;
			found = true;
			snprintf(file, flen, "%s", path + strlen(root));
		}
		if (!*rel || !strcmp(rel, "/"))
			break;
		slash = strrchr(cg, '/');
		if (!slash || slash < rel)
			break;
		*slash = '\0';
	}
	return found;
}

/* MemTotal of @root/proc/meminfo, in bytes. */
static int mem_total_file(const char *root, uint64_t *ret)
{
	char path[PATH_LEN], line[256];
	unsigned long long kb;
	int r = -EINVAL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/meminfo", root);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1 && kb) {
			*ret = (uint64_t)kb * 1024;
			r = 0;
			break;
		}
	fclose(f);
	return r;
}

/*
 * MemTotal of /proc/meminfo, in bytes; on the real system, where /proc
 * may show only processes (ProcSubset=pid), sysinfo()'s total if the
 * file cannot be read.
 */
static int mem_total(const char *root, uint64_t *ret)
{
	struct sysinfo si;
	int r = mem_total_file(root, ret);

	if (r == 0 || *root || sysinfo(&si) < 0 || !si.totalram)
		return r;
	*ret = (uint64_t)si.totalram * (si.mem_unit ? si.mem_unit : 1);
	return 0;
}

int memlimit_resolve(const struct options *o, const char *root,
		     uint64_t *ret, char *source, size_t len)
{
	char file[PATH_LEN] = "MemTotal";
	uint64_t total = 0, cg = 0;
	int r;

	if (o->memory_limit_max) {
		*ret = 0;
		snprintf(source, len, "none (--memory-limit=max)");
		return 0;
	}
	if (o->memory_limit) {
		*ret = o->memory_limit;
		snprintf(source, len, "--memory-limit");
		return 0;
	}
	r = mem_total(root, &total);
	if (r < 0) {
		snprintf(source, len, "cannot read MemTotal from %s/proc/meminfo: %s",
			 root, strerror(-r));
		return r;
	}
	if ((cgroup_limit(root, true, &cg, file, sizeof(file)) ||
	     cgroup_limit(root, false, &cg, file, sizeof(file))) && cg < total)
		total = cg;
	else
		snprintf(file, sizeof(file), "MemTotal");
	*ret = (uint64_t)((unsigned __int128)total * o->memory_limit_pct / 100) &
	       ~(HEAP_PAGE_SIZE - 1);
	snprintf(source, len, "%u%% of %s", o->memory_limit_pct, file);
	return 0;
}
