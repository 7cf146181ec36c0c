/* SPDX-License-Identifier: MIT */
/*
 * MemStats in the Prometheus text exposition format 0.0.4: the one
 * renderer behind `spanctl stats --prometheus` and the daemon's
 * /metrics, so that both print the same text from the same MemStats.
 */
#ifndef SPANHEAP_METRICS_PROM_H
#define SPANHEAP_METRICS_PROM_H

#include <jansson.h>
#include <stdio.h>

/* The Content-Type of what prom_render() writes. */
#define PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/*
 * Write @stats (a MemStats object, as stats_get() builds it and the
 * daemon sends it) to @f.  Return: 0, or -EBADMSG if @stats lacks a
 * field it needs (a daemon of another version), and then nothing is
 * written.
 */
int prom_render(FILE *f, const json_t *stats);

#endif
