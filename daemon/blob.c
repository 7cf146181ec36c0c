// SPDX-License-Identifier: MIT
/* Shared reply texts: see blob.h. */
#include <stdlib.h>
#include <string.h>

#include "blob.h"

struct blob *blob_new(const char *text, size_t len)
{
	struct blob *b = malloc(sizeof(*b) + len + 1);

	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	memcpy(b->text, text, len);
	b->text[len] = 0;
	return b;
}

struct blob *blob_get(struct blob *b)
{
	b->refs++;
	return b;
}

void blob_put(struct blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}
