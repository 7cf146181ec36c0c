/* SPDX-License-Identifier: MIT */
/*
 * SipHash-2-4 (Aumasson and Bernstein, 2012): a keyed hash, so that
 * nobody who does not know the key can choose inputs that collide.  The
 * object table hashes names and reference keys with it (object.c,
 * objref.c).
 */
#ifndef SPANHEAP_SHM_SIPHASH_H
#define SPANHEAP_SHM_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * The 64-bit SipHash-2-4 of @len bytes at @data under the 128-bit @key
 * (key[0] its first 8 bytes, little-endian, key[1] the next 8).
 */
uint64_t siphash24(const uint64_t key[2], const void *data, size_t len);

#endif
