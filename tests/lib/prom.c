// SPDX-License-Identifier: MIT
/* The Prometheus text format reader of the tests: see prom.h. */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/lib/prom.h"
#include "tests/lib/testlib.h"

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool prom_name_ok(const char *s, size_t n)
{
	if (!n || isdigit((unsigned char)s[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isascii(c) || !(isalnum(c) || c == '_' || c == ':'))
			return false;
	}
	return true;
}

/*
 * Label pairs as the text format 0.0.4 has them: name="value", values
 * escaping only \\, \" and \n.  @s is just past the opening brace.
 * Returns the length up to the closing brace, or 0 if malformed (an
 * empty pair of braces included).
 */
static size_t prom_labels_len(const char *s)
{
	const char *p = s;

	while (*p != '}') {
		const char *n = p;

		while (*p && *p != '=')
			p++;
		if (*p != '=' || !prom_name_ok(n, (size_t)(p - n)) ||
		    p[1] != '"')
			return 0;
		for (p += 2; *p != '"'; p++) {
			if (!*p || *p == '\n')
				return 0;
			if (*p == '\\') {
				p++;
				if (*p != '\\' && *p != '"' && *p != 'n')
					return 0;
			}
		}
		p++;
		if (*p == ',')
			p++;
		else if (*p != '}')
			return 0;
	}
	return (size_t)(p - s);
}

void prom_parse(const char *text, struct prom_exposition *e)
{
	char family[64] = "", help_for[64] = "";
	int lineno = 0;

	memset(e, 0, sizeof(*e));
	for (const char *p = text; *p; lineno++) {
		const char *end = strchr(p, '\n');
		char line[512];
		size_t len;

		ck_assert_msg(end, "line %d does not end in a newline", lineno);
		len = (size_t)(end - p);
		ck_assert_uint_lt(len, sizeof(line));
		memcpy(line, p, len);
		line[len] = 0;
		p = end + 1;
		if (!strncmp(line, "# HELP ", 7)) {
			char *name = line + 7, *sp = strchr(name, ' ');

			ck_assert_msg(!help_for[0], "HELP %s without its TYPE",
				      help_for);
			ck_assert_msg(sp && sp[1], "HELP, no text: %s", line);
			*sp = 0;
			ck_assert(prom_name_ok(name, strlen(name)));
			ck_assert_uint_lt(strlen(name), sizeof(help_for));
			for (int i = 0; i < e->nfamilies; i++)
				ck_assert_msg(strcmp(e->families[i], name),
					      "family %s twice", name);
			ck_assert_int_lt(e->nfamilies, PROM_MAX_SAMPLES);
			strcpy(e->families[e->nfamilies++], name);
			strcpy(help_for, name);
			family[0] = 0;
			continue;
		}
		if (!strncmp(line, "# TYPE ", 7)) {
			char *name = line + 7, *sp = strchr(name, ' ');

			ck_assert_msg(sp, "TYPE without a type: %s", line);
			*sp = 0;
			ck_assert_msg(!strcmp(name, help_for),
				      "TYPE %s not right after its HELP", name);
			ck_assert_msg(!strcmp(sp + 1, "counter") ||
					      !strcmp(sp + 1, "gauge"),
				      "type %s of %s", sp + 1, name);
			strcpy(family, name);
			help_for[0] = 0;
			continue;
		}
		ck_assert_msg(line[0] != '#', "stray comment: %s", line);
		{
			struct prom_sample *s = &e->s[e->n];
			size_t n = strcspn(line, "{ "), l = 0;
			char *v, *vend;

			ck_assert_int_lt(e->n, PROM_MAX_SAMPLES);
			ck_assert_msg(prom_name_ok(line, n), "bad name: %s",
				      line);
			ck_assert_uint_lt(n, sizeof(s->name));
			memcpy(s->name, line, n);
			s->name[n] = 0;
			ck_assert_msg(!strncmp(s->name, "spanheap_", 9),
				      "unprefixed: %s", s->name);
			ck_assert_msg(family[0] && !strcmp(s->name, family),
				      "sample %s without its HELP and TYPE",
				      s->name);
			if (line[n] == '{') {
				l = prom_labels_len(line + n + 1);
				ck_assert_msg(l, "bad labels: %s", line);
				ck_assert_uint_lt(l, sizeof(s->labels));
				memcpy(s->labels, line + n + 1, l);
				s->labels[l] = 0;
				l += 2;
			}
			v = line + n + l;
			ck_assert_msg(v[0] == ' ' && v[1] && v[1] != ' ',
				      "bad value in: %s", line);
			s->value = strtod(v + 1, &vend);
			ck_assert_msg(!*vend, "bad value in: %s", line);
			e->n++;
		}
	}
	/* The last family's HELP has its TYPE too. */
	ck_assert_msg(!help_for[0], "HELP %s without its TYPE", help_for);
}
