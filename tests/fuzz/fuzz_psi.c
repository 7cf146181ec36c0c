// SPDX-License-Identifier: MIT
/*
 * Fuzz target for daemon/psi.c: psi_trigger_parse() over any spec (the
 * command line's --pressure-trigger) and psi_cgroup_file() over any
 * /proc/self/cgroup and mountinfo text.  Neither may crash or write
 * past its buffers; a trigger accepted is within the kernel's bounds and
 * reads back the same from its text; a path found fits its buffer and
 * names the file asked for; on failure the output buffer is untouched.
 *
 * Input format: byte 0, the mode (bit 0) and, in bits 1-7, a length L
 * (mod 128) for the path buffer (0: the whole buffer); then
 *   mode 0  the rest is the spec (cut at its first NUL);
 *   mode 1  the rest is the cgroup text, a NUL, the mountinfo text.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/psi.h"
#include "tests/fuzz/fuzz.h"

#define FUZZ_TEXT_MAX 8192
#define FUZZ_PATH_MAX 4096

static void check_trigger(const char *spec)
{
	struct psi_trigger t, u;
	char err[512], text[PSI_TRIGGER_TEXT_MAX];

	if (psi_trigger_parse(spec, &t, err, sizeof(err))) {
		if (!memchr(err, '\0', sizeof(err)) || !err[0])
			abort();
		return;
	}
	if (!t.stall_us || t.stall_us > t.window_us ||
	    t.window_us < PSI_WINDOW_MIN_US || t.window_us > PSI_WINDOW_MAX_US)
		abort();
	psi_trigger_format(&t, text, sizeof(text));
	if (psi_trigger_parse(text, &u, err, sizeof(err)) ||
	    u.full != t.full || u.stall_us != t.stall_us ||
	    u.window_us != t.window_us)
		abort();
}

static void check_cgroup(const char *cg, const char *mi, size_t len)
{
	static const char name[] = "memory.pressure";
	char buf[FUZZ_PATH_MAX + 1], why[512];
	size_t n;
	int r;

	memset(buf, 'U', sizeof(buf));
	r = psi_cgroup_file(cg, mi, name, buf, len, why, sizeof(why));
	if (r) {
		if (buf[0] != 'U' || !memchr(why, '\0', sizeof(why)))
			abort();
		return;
	}
	n = strnlen(buf, len);
	if (n >= len || buf[len] != 'U' || n < sizeof(name) ||
	    strcmp(buf + n - (sizeof(name) - 1), name) ||
	    buf[n - sizeof(name)] != '/')
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char text[FUZZ_TEXT_MAX + 1];
	size_t len, n;
	char *nul;

	if (size < 1)
		return 0;
	len = data[0] >> 1 ? data[0] >> 1 : FUZZ_PATH_MAX;
	n = size - 1 < FUZZ_TEXT_MAX ? size - 1 : FUZZ_TEXT_MAX;
	memcpy(text, data + 1, n);
	text[n] = '\0';
	if (!(data[0] & 1)) {
		check_trigger(text);
		return 0;
	}
	nul = memchr(text, '\0', n);
	check_cgroup(text, nul ? nul + 1 : "", len);
	return 0;
}
