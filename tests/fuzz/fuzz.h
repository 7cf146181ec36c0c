/* SPDX-License-Identifier: MIT */
/*
 * The libFuzzer entry point, declared once for the fuzz targets and for
 * standalone.c, which replays a corpus through them without libFuzzer.
 */
#ifndef SPANHEAP_TESTS_FUZZ_H
#define SPANHEAP_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Run one input; returns 0.  A bug aborts. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
