/* SPDX-License-Identifier: MIT */
/*
 * Shared objects: named spans of the heap.  For now, the rule of their
 * names, which the heap, the protocol and the tools share.
 */
#ifndef SPANHEAP_SHM_OBJECT_H
#define SPANHEAP_SHM_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heap.h"

/* Bytes of an object's name, at most. */
#define HEAP_OBJ_NAME_MAX 255

/**
 * heap_obj_name_valid() - is @s a good object name?
 * @s, @len: 1..HEAP_OBJ_NAME_MAX bytes of UTF-8 in its shortest form, no
 *	surrogate and nothing past U+10FFFF, without control characters
 *	(U+0000..U+001F, U+007F..U+009F), so that a tool can print it.
 *
 * The one rule, for the heap, the protocol and the tools alike.
 */
bool heap_obj_name_valid(const char *s, size_t len);

#endif
