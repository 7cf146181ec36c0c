// SPDX-License-Identifier: MIT
/*
 * Quota rules (quota.h): the command line's and quotas.conf(5)'s,
 * merged into one immutable table.
 *
 * The file is read whole (at most QUOTA_FILE_MAX bytes) and parsed in
 * one pass, line by line, so that its errors come out in line order.  A
 * line is "client SIZE" or "uid USER SIZE", blanks between the fields,
 * '#' to the end of the line a comment.  A bad line is logged with its
 * file:line and skipped; only what makes the whole file unusable (it
 * cannot be read, it is too large, memory runs out) fails the load, and
 * then nothing is built.
 *
 * The file's uids are checked for duplicates as they come, in a tree
 * (tsearch(), a red-black tree in glibc: O(log n) a line), so that
 * "duplicate uid 1000 (first on line 3)" is said at the duplicate's own
 * line.  The table is then the command line's rules and the file's that
 * the command line does not override, sorted by uid for bsearch().
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <search.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "quota.h"
#include "shm/units.h"

struct quota_rule {
	uint32_t uid;
	uint64_t bytes;			/* 0: none */
};

struct quota_rules {
	uint64_t client;		/* 0: none */
	size_t n;
	struct quota_rule rule[];	/* sorted by uid, each uid once */
};

/* A token of a line: not NUL-terminated. */
struct tok {
	const char *p;
	size_t n;
};

/* Fields a line may have; one more is counted to say "too many". */
#define LINE_FIELDS 3
/* A token quoted in a log line: this many bytes, then "...". */
#define QUOTE_MAX 64
#define QUOTE_BUF (QUOTE_MAX * 4 + 4)
/* The longest size ("18446744073709551615B") and user name we take. */
#define SIZE_TOK_MAX 32
#define USER_TOK_MAX 256
/* getpwnam_r()'s buffer grows up to this; no passwd line is larger. */
#define PW_BUF_MAX (1u << 20)

/* The state of one parse. */
struct parse {
	const char *name;		/* the file, for the log lines */
	unsigned int line;		/* the line being parsed */
	unsigned int bad, good;
	unsigned int client_line;	/* 0: no client line yet */
	uint64_t client;
	struct quota_rule *uids;	/* the file's, in line order */
	size_t nuids, cap;
	void *seen;			/* tsearch() tree of struct seen */
	char *pw_buf;
	size_t pw_len;
};

/* A uid of the file and the line that set it first. */
struct seen {
	uint32_t uid;
	unsigned int line;
};

static int seen_cmp(const void *a, const void *b)
{
	const struct seen *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static int rule_cmp(const void *a, const void *b)
{
	const struct quota_rule *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* @t as it is safe to log: graphic ASCII as is, else \xNN; cut. */
static const char *quote(char out[QUOTE_BUF], struct tok t)
{
	size_t n = 0;

	for (size_t i = 0; i < t.n && i < QUOTE_MAX; i++) {
		unsigned char c = (unsigned char)t.p[i];

		if (c > 0x20 && c < 0x7f)
			out[n++] = (char)c;
		else
			n += (size_t)snprintf(out + n, 5, "\\x%02x", c);
	}
	if (t.n > QUOTE_MAX) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

static bool tok_is(struct tok t, const char *s)
{
	return t.n == strlen(s) && !memcmp(t.p, s, t.n);
}

/* "PATH:LINE: reason; ignored", for the first QUOTA_LOG_BAD_MAX. */
__attribute__((format(printf, 2, 3)))
static void bad_line(struct parse *p, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (++p->bad > QUOTA_LOG_BAD_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_err("%s:%u: %s; ignored", p->name, p->line, why);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/*
 * Split [s, s + n) at blanks, up to '#', into @t: how many fields, at
 * most LINE_FIELDS + 1 (a line of more stops there).
 */
static unsigned int split(const char *s, size_t n, struct tok *t)
{
	unsigned int k = 0;
	size_t i = 0;

	while (k <= LINE_FIELDS) {
		size_t start;

		while (i < n && blank(s[i]))
			i++;
		if (i == n || s[i] == '#')
			break;
		start = i;
		while (i < n && !blank(s[i]) && s[i] != '#')
			i++;
		t[k].p = s + start;
		t[k].n = i - start;
		k++;
	}
	return k;
}

/* A SIZE field: units_parse_size()'s, or none (0). */
static int parse_size(struct parse *p, struct tok t, uint64_t *ret)
{
	char s[SIZE_TOK_MAX], q[QUOTE_BUF];
	int r;

	if (tok_is(t, "none")) {
		*ret = 0;
		return 0;
	}
	if (t.n >= sizeof(s)) {
		r = -EINVAL;
	} else {
		memcpy(s, t.p, t.n);
		s[t.n] = '\0';
		r = units_parse_size(s, ret);
	}
	if (r == -ERANGE)
		bad_line(p, "size '%s' is too large", quote(q, t));
	else if (r < 0)
		bad_line(p, "bad size '%s' (want a number of bytes with K, M, G or T, such as 512M, or none)",
			 quote(q, t));
	else if (!*ret)
		bad_line(p, "size 0 (write none for no quota)");
	else
		return 0;
	return -EINVAL;
}

/* The uid of a user name, through getpwnam_r(); 0 or -errno. */
static int lookup_user(struct parse *p, const char *name, uint32_t *ret)
{
	struct passwd pw, *res;
	char *nb;
	int r;

	for (;;) {
		if (!p->pw_buf) {
			p->pw_len = 4096;
			p->pw_buf = malloc(p->pw_len);
			if (!p->pw_buf)
				return -ENOMEM;
		}
		r = getpwnam_r(name, &pw, p->pw_buf, p->pw_len, &res);
		if (r != ERANGE || p->pw_len >= PW_BUF_MAX)
			break;
		nb = realloc(p->pw_buf, p->pw_len * 2);
		if (!nb)
			return -ENOMEM;
		p->pw_buf = nb;
		p->pw_len *= 2;
	}
	/* getpwnam_r(3): these also mean "no such user". */
	if (r == ENOENT || r == ESRCH || r == EBADF || r == EPERM)
		r = 0;
	if (r)
		return -r;
	if (!res)
		return -ENOENT;
	*ret = (uint32_t)res->pw_uid;
	return 0;
}

/*
 * A USER field: digits are a uid below (uid_t)-1, anything else a user
 * name, looked up now.  0, -EINVAL (logged) or -ENOMEM.
 */
static int parse_user(struct parse *p, struct tok t, uint32_t *ret)
{
	char name[USER_TOK_MAX], q[QUOTE_BUF];
	uint64_t v = 0;
	size_t i;
	int r;

	for (i = 0; i < t.n && t.p[i] >= '0' && t.p[i] <= '9'; i++)
		if (v <= UINT32_MAX)
			v = v * 10 + (uint64_t)(t.p[i] - '0');
	if (i == t.n) {
		if (v >= UINT32_MAX) {
			bad_line(p, "bad uid '%s' (uids go up to %u)",
				 quote(q, t), UINT32_MAX - 1);
			return -EINVAL;
		}
		*ret = (uint32_t)v;
		return 0;
	}
	if (t.n >= sizeof(name)) {
		bad_line(p, "unknown user '%s' (a name that long is none)",
			 quote(q, t));
		return -EINVAL;
	}
	memcpy(name, t.p, t.n);
	name[t.n] = '\0';
	r = lookup_user(p, name, ret);
	if (r == -ENOMEM)
		return r;
	if (r == -ENOENT)
		bad_line(p, "unknown user '%s'", quote(q, t));
	else if (r < 0)
		bad_line(p, "cannot look up user '%s': %s", quote(q, t),
			 strerror(-r));
	return r < 0 ? -EINVAL : 0;
}

/* A good "uid" line: unless its uid came before, add it. */
static int add_uid(struct parse *p, uint32_t uid, uint64_t bytes)
{
	struct seen *s, **found;
	struct quota_rule *nu;

	s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->uid = uid;
	s->line = p->line;
	found = tsearch(s, &p->seen, seen_cmp);
	if (!found) {
		free(s);
		return -ENOMEM;
	}
	if (*found != s) {
		free(s);
		bad_line(p, "duplicate uid %u (first on line %u)", uid,
			 (*found)->line);
		return 0;
	}
	if (p->nuids == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;

		nu = realloc(p->uids, cap * sizeof(*nu));
		if (!nu) {
			/* The tree keeps s: tdestroy() frees it. */
			return -ENOMEM;
		}
		p->uids = nu;
		p->cap = cap;
	}
	p->uids[p->nuids].uid = uid;
	p->uids[p->nuids].bytes = bytes;
	p->nuids++;
	p->good++;
	return 0;
}

/* One rule line of @k fields; 0 (a bad one is logged) or -ENOMEM. */
static int parse_line(struct parse *p, const struct tok *t, unsigned int k)
{
	char q[QUOTE_BUF];
	uint64_t bytes = 0;
	uint32_t uid = 0;
	int r;

	if (tok_is(t[0], "client")) {
		if (k != 2) {
			if (k < 2)
				bad_line(p, "client: missing SIZE (client SIZE)");
			else
				bad_line(p, "client: unexpected '%s' after the size",
					 quote(q, t[2]));
			return 0;
		}
		if (parse_size(p, t[1], &bytes))
			return 0;
		if (p->client_line) {
			bad_line(p, "duplicate client (first on line %u)",
				 p->client_line);
			return 0;
		}
		p->client_line = p->line;
		p->client = bytes;
		p->good++;
		return 0;
	}
	if (tok_is(t[0], "uid")) {
		if (k != 3) {
			if (k < 3)
				bad_line(p, "uid: missing %s (uid USER SIZE)",
					 k == 1 ? "USER and SIZE" : "SIZE");
			else
				bad_line(p, "uid: unexpected '%s' after the size",
					 quote(q, t[3]));
			return 0;
		}
		r = parse_user(p, t[1], &uid);
		if (r == -ENOMEM)
			return r;
		if (r || parse_size(p, t[2], &bytes))
			return 0;
		return add_uid(p, uid, bytes);
	}
	bad_line(p, "unknown keyword '%s' (want client or uid)",
		 quote(q, t[0]));
	return 0;
}

/* Is @uid on the command line? */
static bool on_command_line(const struct options *opt, uint32_t uid)
{
	for (unsigned int i = 0; i < opt->nquota_uids; i++)
		if (opt->quota_uids[i].uid == uid)
			return true;
	return false;
}

/*
 * The table of the command line's rules and the file's of @p that it
 * does not override.  0 or -ENOMEM.
 */
static int build(const struct options *opt, const struct parse *p,
		 struct quota_rules **ret)
{
	struct quota_rules *q;
	size_t n = 0;

	q = malloc(sizeof(*q) + (opt->nquota_uids + p->nuids) *
					sizeof(q->rule[0]));
	if (!q)
		return -ENOMEM;
	for (unsigned int i = 0; i < opt->nquota_uids; i++) {
		size_t j;

		/* options.c keeps one a uid; were there two, the last wins. */
		for (j = 0; j < n; j++)
			if (q->rule[j].uid == opt->quota_uids[i].uid)
				break;
		q->rule[j].uid = opt->quota_uids[i].uid;
		q->rule[j].bytes = opt->quota_uids[i].bytes;
		if (j == n)
			n++;
	}
	for (size_t i = 0; i < p->nuids; i++)
		if (!on_command_line(opt, p->uids[i].uid))
			q->rule[n++] = p->uids[i];
	qsort(q->rule, n, sizeof(q->rule[0]), rule_cmp);
	q->n = n;
	q->client = opt->quota_client ? opt->quota_client : p->client;
	*ret = q;
	return 0;
}

/* The next line of [buf, buf + len) from *@pos: its start and length. */
static bool next_line(const char *buf, size_t len, size_t *pos,
		      const char **ret, size_t *ret_len)
{
	const char *nl;

	if (*pos >= len)
		return false;
	*ret = buf + *pos;
	nl = memchr(*ret, '\n', len - *pos);
	*ret_len = nl ? (size_t)(nl - *ret) : len - *pos;
	*pos += *ret_len + (nl != NULL);
	return true;
}

/* How many lines of the buffer have a field, or a NUL. */
static size_t count_rule_lines(const char *buf, size_t len)
{
	struct tok t[LINE_FIELDS + 1];
	const char *s;
	size_t pos = 0, n, count = 0;

	while (next_line(buf, len, &pos, &s, &n))
		if (memchr(s, '\0', n) || split(s, n, t))
			count++;
	return count;
}

/* Overridden by the command line: said once a line, never an error. */
static void overridden(const struct options *opt, const struct parse *p)
{
	if (p->client_line && opt->quota_client)
		log_notice("%s:%u: --quota-client on the command line wins over this line",
			   p->name, p->client_line);
	for (size_t i = 0; i < p->nuids; i++)
		if (on_command_line(opt, p->uids[i].uid)) {
			struct seen key = { p->uids[i].uid, 0 }, **s;

			s = tfind(&key, &p->seen, seen_cmp);
			log_notice("%s:%u: uid %u: --quota-uid on the command line wins over this line",
				   p->name, s ? (*s)->line : 0,
				   p->uids[i].uid);
		}
}

int quota_rules_parse(const struct options *opt, const char *name,
		      const char *buf, size_t len, struct quota_rules **ret,
		      struct quota_load_report *rep)
{
	struct tok t[LINE_FIELDS + 1];
	struct parse p = { .name = name };
	const char *s;
	size_t pos = 0, n;
	unsigned int k;
	int r = 0;

	if (count_rule_lines(buf, len) > QUOTA_LINES_MAX) {
		log_err("%s: more than %u rule lines, the most a quota file may hold; none of its rules are loaded (merge or remove some)",
			name, QUOTA_LINES_MAX);
		if (rep)
			*rep = (struct quota_load_report){ .file_errno = E2BIG };
		return -E2BIG;
	}
	while (r == 0 && next_line(buf, len, &pos, &s, &n)) {
		p.line++;
		if (memchr(s, '\0', n)) {
			bad_line(&p, "a NUL byte (a quota file is text)");
			continue;
		}
		k = split(s, n, t);
		if (k)
			r = parse_line(&p, t, k);
	}
	if (r == 0 && p.bad > QUOTA_LOG_BAD_MAX)
		log_err("%s: %u more bad lines not shown; ignored", name,
			p.bad - QUOTA_LOG_BAD_MAX);
	if (r == 0) {
		overridden(opt, &p);
		r = build(opt, &p, ret);
	}
	if (r < 0)
		log_err("%s: out of memory reading the quota rules; none are loaded",
			name);
	if (rep)
		*rep = (struct quota_load_report){
			.bad_lines = r ? 0 : p.bad,
			.rules = r ? 0 : p.good,
			.file_errno = -r,
		};
	tdestroy(p.seen, free);
	free(p.uids);
	free(p.pw_buf);
	return r;
}

/* The file's bytes, into *@ret (free it); 0 or -errno, logged. */
static int read_file(const char *path, char **ret, size_t *ret_len)
{
	struct stat st;
	size_t len = 0;
	char *buf;
	ssize_t n;
	int fd, r;

	/* O_NONBLOCK: a FIFO put there must not hang the loop. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out_close;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto out_close;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out_close;
	}
	/* One byte more than the most it may hold, to see it is larger. */
	buf = malloc(QUOTA_FILE_MAX + 1);
	if (!buf) {
		r = -ENOMEM;
		goto out_close;
	}
	while (len <= QUOTA_FILE_MAX) {
		n = read(fd, buf + len, QUOTA_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out_free;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > QUOTA_FILE_MAX) {
		r = -EFBIG;
		goto out_free;
	}
	close(fd);
	*ret = buf;
	*ret_len = len;
	return 0;

out_free:
	free(buf);
out_close:
	close(fd);
	return r;
}

/* Why the file at @path cannot be loaded, and what to do. */
static void log_unreadable(const char *path, int r)
{
	switch (r) {
	case -EISDIR:
		log_err("%s: a directory, not a quota file; none of its rules are loaded (name a file with --quota-file, or '' for none)",
			path);
		break;
	case -EINVAL:
		log_err("%s: not a regular file; none of its rules are loaded (a quota file is a text file, see spanheapd-quotas.conf(5))",
			path);
		break;
	case -EFBIG:
		log_err("%s: larger than %u bytes, the most a quota file may hold; none of its rules are loaded (remove some lines)",
			path, QUOTA_FILE_MAX);
		break;
	case -EACCES:
	case -EPERM:
		log_err("%s: cannot read the quota file: %s; none of its rules are loaded (make it readable by spanheapd's user)",
			path, strerror(-r));
		break;
	default:
		log_err("%s: cannot read the quota file: %s; none of its rules are loaded",
			path, strerror(-r));
	}
}

int quota_rules_load(const struct options *opt, const char *path,
		     struct quota_rules **ret, struct quota_load_report *rep)
{
	struct quota_load_report r0 = { 0 };
	struct quota_rules *q;
	char *buf = NULL;
	size_t len = 0;
	int r;

	if (!rep)
		rep = &r0;
	if (path && *path) {
		r = read_file(path, &buf, &len);
		if (r == -ENOENT) {
			log_notice("%s: no such file: no quota rules but the command line's (see spanheapd-quotas.conf(5))",
				   path);
			path = NULL;
		} else if (r < 0) {
			log_unreadable(path, r);
			*rep = (struct quota_load_report){ .file_errno = -r };
			return r;
		}
	} else {
		path = NULL;
	}
	r = quota_rules_parse(opt, path ? path : "(none)", buf ? buf : "",
			      len, &q, rep);
	free(buf);
	if (r < 0)
		return r;
	if (!path)
		rep->file_errno = ENOENT;
	else
		log_info("%s: loaded %u quota rules (and %u bad lines)", path,
			 rep->rules, rep->bad_lines);
	*ret = q;
	return 0;
}

uint64_t quota_rules_uid(const struct quota_rules *q, uint32_t uid)
{
	struct quota_rule key = { .uid = uid };
	const struct quota_rule *r;

	if (!q)
		return 0;
	r = bsearch(&key, q->rule, q->n, sizeof(q->rule[0]), rule_cmp);
	return r ? r->bytes : 0;
}

uint64_t quota_rules_client(const struct quota_rules *q)
{
	return q ? q->client : 0;
}

size_t quota_rules_nuids(const struct quota_rules *q)
{
	return q ? q->n : 0;
}

bool quota_rules_next(const struct quota_rules *q, size_t *cursor,
		      uint32_t *uid, uint64_t *bytes)
{
	if (!q || *cursor >= q->n)
		return false;
	*uid = q->rule[*cursor].uid;
	*bytes = q->rule[*cursor].bytes;
	(*cursor)++;
	return true;
}

void quota_rules_free(struct quota_rules *q)
{
	free(q);
}
