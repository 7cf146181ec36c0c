// SPDX-License-Identifier: MIT
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "libclient/spanheap.h"
#include "tests/e2e/memstats.h"

json_t *memstats_get(struct spanheap *h)
{
	json_t *root;
	char *text;

	ck_assert_int_eq(spanheap_stats_json(h, &text), 0);
	root = json_loads(text, 0, NULL);
	free(text);
	ck_assert_ptr_nonnull(root);
	return root;
}

uint64_t memstats_u64(struct spanheap *h, const char *path)
{
	json_t *root = memstats_get(h), *v = root;
	char key[128], *save, *k;
	uint64_t n;

	ck_assert_uint_lt(strlen(path), sizeof(key));
	strcpy(key, path);
	for (k = strtok_r(key, ".", &save); k && v;
	     k = strtok_r(NULL, ".", &save))
		v = json_object_get(v, k);
	ck_assert_msg(json_is_integer(v), "no integer %s in MemStats", path);
	n = (uint64_t)json_integer_value(v);
	json_decref(root);
	return n;
}
