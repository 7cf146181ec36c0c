// SPDX-License-Identifier: MIT
/*
 * Object names: what makes one valid.  A name is printed by spanctl and
 * logged by the daemon, so it must be text that a terminal shows as
 * text: UTF-8 in its one shortest form (RFC 3629: no overlong form, no
 * surrogate, nothing past U+10FFFF), without a control character (C0,
 * DEL, C1), and not empty nor longer than HEAP_OBJ_NAME_MAX bytes.
 */
#include "object.h"

/* Bytes a sequence starting with @c has, or 0 if @c cannot start one. */
static unsigned int seq_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if (c < 0xc2)		/* continuation, or overlong 2-byte lead */
		return 0;
	if (c < 0xe0)
		return 2;
	if (c < 0xf0)
		return 3;
	if (c < 0xf5)		/* past 0xf4 is past U+10FFFF */
		return 4;
	return 0;
}

/*
 * Is the second byte @c of a sequence led by @lead in range?  The bounds
 * rule out the overlong 3- and 4-byte forms, the surrogates
 * (U+D800..U+DFFF, led by 0xed) and what is past U+10FFFF (0xf4).
 */
static bool second_ok(unsigned char lead, unsigned char c)
{
	unsigned char lo = 0x80, hi = 0xbf;

	if (lead == 0xe0)
		lo = 0xa0;
	else if (lead == 0xed)
		hi = 0x9f;
	else if (lead == 0xf0)
		lo = 0x90;
	else if (lead == 0xf4)
		hi = 0x8f;
	return c >= lo && c <= hi;
}

bool heap_obj_name_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;

	if (!s || len == 0 || len > HEAP_OBJ_NAME_MAX)
		return false;
	for (size_t i = 0; i < len;) {
		unsigned int n = seq_len(p[i]);

		if (n == 0 || n > len - i)
			return false;
		if (n == 1) {
			if (p[i] < 0x20 || p[i] == 0x7f)	/* C0, DEL */
				return false;
		} else {
			if (!second_ok(p[i], p[i + 1]))
				return false;
			for (unsigned int k = 2; k < n; k++)
				if ((p[i + k] & 0xc0) != 0x80)
					return false;
			/* C1: U+0080..U+009F, 0xc2 0x80..0x9f. */
			if (p[i] == 0xc2 && p[i + 1] < 0xa0)
				return false;
		}
		i += n;
	}
	return true;
}
