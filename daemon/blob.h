/* SPDX-License-Identifier: MIT */
/*
 * A reply text (MemStats, a CLIENTS page) shared by reference: stats.c
 * makes it and caches MemStats's, client.c holds a reference for each
 * reply that sends it.  Loop thread only.  A leaf of daemon/.
 */
#ifndef SPANHEAPD_BLOB_H
#define SPANHEAPD_BLOB_H

#include <stddef.h>

struct blob {
	unsigned int refs;
	size_t len;		/* bytes of text, no NUL counted */
	char text[];		/* NUL-terminated */
};

/** blob_new() - a blob of one reference holding @len bytes of @text. */
struct blob *blob_new(const char *text, size_t len);

/** blob_get() - take one more reference to @b; returns @b. */
struct blob *blob_get(struct blob *b);

/** blob_put() - drop a reference, freeing @b with its last; NULL is fine. */
void blob_put(struct blob *b);

#endif
