/* SPDX-License-Identifier: MIT */
/* Sizes and times on command lines, and sizes for people. */
#ifndef SPANHEAP_SHM_UNITS_H
#define SPANHEAP_SHM_UNITS_H

#include <stddef.h>
#include <stdint.h>

/**
 * units_parse_size() - "64G", "512M", "4096": K, M, G, T are powers of
 * 1024, optionally followed by "iB" or "B".  Digits and the suffix only:
 * no space, no sign.
 * Return: 0, -EINVAL for a malformed string, -ERANGE on overflow.
 */
int units_parse_size(const char *s, uint64_t *ret);

/**
 * units_parse_time() - a systemd-style time span: "200ms", "5min",
 * "1h 30min", "90" (seconds); units us, ms, s, min, h, d and their long
 * spellings.  Spaces may stand between numbers and units, never before
 * the first number or after the last; no sign.
 * Return: 0, -EINVAL for a malformed string, -ERANGE on overflow.
 */
int units_parse_time(const char *s, uint64_t *ret_ns);

/** units_format_size() - "1.5 GiB", "512 B". */
void units_format_size(char *buf, size_t len, uint64_t bytes);

#endif
