// SPDX-License-Identifier: MIT
#include "metrics/fields.h"

int64_t memstats_num(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

bool memstats_has_all(const json_t *o, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (memstats_num(o, keys[i]) < 0)
			return false;
	return true;
}
