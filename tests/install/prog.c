// SPDX-License-Identifier: MIT
/* A program outside the tree: built with pkg-config against an install. */
#include <spanheap.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	struct spanheap *h;
	struct spanheap_span s;
	int r;

	r = spanheap_connect(argc > 1 ? argv[1] : NULL, &h);
	if (r < 0) {
		fprintf(stderr, "connect: %s\n", strerror(-r));
		return 1;
	}
	r = spanheap_span_alloc(h, 16, SPANHEAP_ZERO, &s);
	if (r < 0) {
		fprintf(stderr, "alloc: %s\n", strerror(-r));
		return 1;
	}
	memset(s.ptr, 0x5a, s.npages * spanheap_page_size(h));
	r = spanheap_span_free(h, s.off);
	spanheap_close(h);
	printf("allocated, wrote and freed %zu pages\n", s.npages);
	return r < 0;
}
