// SPDX-License-Identifier: MIT
/*
 * PSI's text: trigger specs and the cgroup's pressure file (see psi.h).
 *
 * Both parsers read text that is not the daemon's own, a command line
 * and two files of /proc, so each bounds every copy by its destination
 * and takes any byte: a field too long, a line without its separator
 * or a path outside every mount is "none", never a crash (the fuzz
 * target tests/fuzz/fuzz_psi.c holds them to it).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "psi.h"

#define WANT "want \"some|full STALL_US WINDOW_US\", such as \"some 200000 2000000\" (200 ms of stall in any 2 s; both in microseconds)"

/* A field of at most this many bytes is a field; longer, it is wrong. */
#define FIELD_MAX 32

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Split @s at runs of blanks into at most @max fields of FIELD_MAX - 1
 * bytes (a longer one is cut, and so fails to parse).  Returns the
 * number of fields there are, which may be more than @max.
 */
static unsigned int split(const char *s, char f[][FIELD_MAX], unsigned int max)
{
	unsigned int n = 0;

	for (;;) {
		size_t len = 0;

		while (is_blank(*s))
			s++;
		if (!*s)
			return n;
		while (*s && !is_blank(*s)) {
			if (n < max && len < FIELD_MAX - 1)
				f[n][len++] = *s;
			s++;
		}
		if (n < max)
			f[n][len] = '\0';
		n++;
	}
}

/* Decimal digits only, at most UINT32_MAX: 0 or -EINVAL. */
static int parse_u32(const char *s, uint32_t *ret)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -EINVAL;
	}
	*ret = (uint32_t)v;
	return 0;
}

int psi_trigger_parse(const char *spec, struct psi_trigger *ret, char *err,
		      size_t errlen)
{
	char f[3][FIELD_MAX];
	struct psi_trigger t;
	unsigned int n = split(spec, f, 3);

	if (n != 3) {
		snprintf(err, errlen, "%u field%s, %s", n, n == 1 ? "" : "s",
			 WANT);
		return -EINVAL;
	}
	if (strcmp(f[0], "some") && strcmp(f[0], "full")) {
		snprintf(err, errlen, "'%s' is neither some nor full: %s", f[0],
			 WANT);
		return -EINVAL;
	}
	t.full = !strcmp(f[0], "full");
	if (parse_u32(f[1], &t.stall_us) || parse_u32(f[2], &t.window_us)) {
		snprintf(err, errlen,
			 "the stall and the window are whole numbers of microseconds: %s",
			 WANT);
		return -EINVAL;
	}
	if (!t.stall_us) {
		snprintf(err, errlen,
			 "a stall of 0 us is not a trigger: want 1 us up to the window, such as \"some 200000 2000000\"");
		return -EINVAL;
	}
	if (t.window_us < PSI_WINDOW_MIN_US || t.window_us > PSI_WINDOW_MAX_US) {
		snprintf(err, errlen,
			 "a window of %u us is outside what the kernel takes: want %u to %u us (0.5 s to 10 s; a multiple of %u without CAP_SYS_RESOURCE)",
			 t.window_us, PSI_WINDOW_MIN_US, PSI_WINDOW_MAX_US,
			 PSI_WINDOW_UNPRIV_US);
		return -EINVAL;
	}
	if (t.stall_us > t.window_us) {
		snprintf(err, errlen,
			 "a stall of %u us is longer than its window of %u us: want at most the window",
			 t.stall_us, t.window_us);
		return -EINVAL;
	}
	*ret = t;
	return 0;
}

void psi_trigger_format(const struct psi_trigger *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s %u %u", t->full ? "full" : "some", t->stall_us,
		 t->window_us);
}

/*
 * Copy mountinfo field @s (up to a blank or the end of the line) into
 * @buf, undoing the kernel's octal escapes (\040 for a space, \011,
 * \012, \134).  Returns the end of the field, or NULL if it does not
 * fit @len.
 */
static const char *copy_field(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	while (*s && *s != ' ' && *s != '\n') {
		char c = *s++;

		if (c == '\\' && s[0] >= '0' && s[0] <= '3' && s[1] >= '0' &&
		    s[1] <= '7' && s[2] >= '0' && s[2] <= '7') {
			c = (char)((s[0] - '0') << 6 | (s[1] - '0') << 3 |
				   (s[2] - '0'));
			s += 3;
		}
		if (n + 1 >= len)
			return NULL;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return s;
}

/* Skip @n blank-separated fields of the line at @s; NULL at its end. */
static const char *skip_fields(const char *s, unsigned int n)
{
	while (n--) {
		while (*s && *s != ' ' && *s != '\n')
			s++;
		if (*s != ' ')
			return NULL;
		s++;
	}
	return s;
}

/*
 * If the mountinfo line at @line is a cgroup2 mount whose root holds
 * @cg, write where @cg is under it into @dir and return 0; else
 * -ENOENT, or -ENAMETOOLONG.
 */
static int cgroup2_dir(const char *line, const char *cg, char *dir, size_t len)
{
	char root[4096], mnt[4096], fstype[16];
	const char *s = skip_fields(line, 3), *rel;
	size_t rlen;
	int n;

	if (!s || !(s = copy_field(s, root, sizeof(root))) || *s != ' ' ||
	    !(s = copy_field(s + 1, mnt, sizeof(mnt))))
		return -ENOENT;
	/* The optional fields end at a lone "-". */
	for (;;) {
		s = skip_fields(s, 1);
		if (!s)
			return -ENOENT;
		if (s[0] == '-' && s[1] == ' ')
			break;
	}
	if (!copy_field(s + 2, fstype, sizeof(fstype)) ||
	    strcmp(fstype, "cgroup2"))
		return -ENOENT;
	rlen = strlen(root);
	if (!strcmp(root, "/"))
		rel = cg;
	else if (!strncmp(cg, root, rlen) && (!cg[rlen] || cg[rlen] == '/'))
		rel = cg + rlen;
	else
		return -ENOENT;
	if (!strcmp(rel, "/"))
		rel = "";
	n = snprintf(dir, len, "%s%s", strcmp(mnt, "/") ? mnt : "", rel);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The "0::PATH" line's PATH into @buf: 0, -ENOENT or -ENAMETOOLONG. */
static int unified_path(const char *cgroup, char *buf, size_t len)
{
	const char *s = cgroup, *end;

	while (strncmp(s, "0::", 3)) {
		s = strchr(s, '\n');
		if (!s)
			return -ENOENT;
		s++;
	}
	s += 3;
	end = strchrnul(s, '\n');
	while (end - s > 1 && end[-1] == '/')
		end--;
	if ((size_t)(end - s) >= len)
		return -ENAMETOOLONG;
	memcpy(buf, s, (size_t)(end - s));
	buf[end - s] = '\0';
	return 0;
}

/* A path outside the cgroup namespace ("/../x") is under no mount. */
static bool reachable(const char *cg)
{
	size_t n = strlen(cg);

	return cg[0] == '/' && !strstr(cg, "/../") &&
	       !(n >= 3 && !strcmp(cg + n - 3, "/.."));
}

int psi_cgroup_file(const char *cgroup, const char *mountinfo,
		    const char *name, char *buf, size_t len, char *why,
		    size_t whylen)
{
	char cg[4096], dir[8192], path[8448];
	const char *line;
	int r = unified_path(cgroup, cg, sizeof(cg));

	if (r == -ENOENT) {
		snprintf(why, whylen,
			 "/proc/self/cgroup has no \"0::\" line: the daemon is in no cgroup v2");
		return -ENOENT;
	}
	if (r < 0 || !reachable(cg)) {
		snprintf(why, whylen,
			 "the daemon's cgroup v2 is outside its cgroup namespace");
		return -ENOENT;
	}
	for (line = mountinfo; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL) {
		r = cgroup2_dir(line, cg, dir, sizeof(dir));
		if (r == -ENOENT)
			continue;
		if (r == 0) {
			int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

			if (n >= 0 && (size_t)n < len && (size_t)n < sizeof(path)) {
				memcpy(buf, path, (size_t)n + 1);
				return 0;
			}
		}
		snprintf(why, whylen, "the path of cgroup %s is too long", cg);
		return -ENAMETOOLONG;
	}
	snprintf(why, whylen,
		 "no cgroup2 mount in /proc/self/mountinfo shows the daemon's cgroup %s",
		 cg);
	return -ENOENT;
}
