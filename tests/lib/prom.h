/* SPDX-License-Identifier: MIT */
/*
 * A strict reader of the Prometheus text exposition format 0.0.4, as
 * ctl/render.c writes it, for the tests of spanctl's views.
 */
#ifndef SPANHEAP_TESTS_LIB_PROM_H
#define SPANHEAP_TESTS_LIB_PROM_H

#define PROM_MAX_SAMPLES 64

struct prom_sample {
	char name[64];
	char labels[256];	/* between the braces, as printed */
	double value;
};

struct prom_exposition {
	struct prom_sample s[PROM_MAX_SAMPLES];
	int n;
	char families[PROM_MAX_SAMPLES][64];
	int nfamilies;
};

/*
 * Parse @text strictly: every line ends in a newline; every family opens
 * with its HELP line, then right after it its TYPE line (counter or
 * gauge), then its samples; every sample belongs to the family just
 * opened; every name starts with spanheap_.  Fails the test at the first
 * line that breaks a rule; @e gets the samples and the families.
 */
void prom_parse(const char *text, struct prom_exposition *e);

#endif
