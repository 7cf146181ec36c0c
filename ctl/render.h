/* SPDX-License-Identifier: MIT */
/* spanctl's views of the daemon's MemStats JSON. */
#ifndef SPANCTL_RENDER_H
#define SPANCTL_RENDER_H

#include <jansson.h>
#include <stdio.h>

/*
 * Each returns 0, or -EBADMSG if @stats lacks a field it needs (the
 * daemon is of another version); what was printed before stays printed.
 */
int render_table(FILE *f, const json_t *stats);
int render_clients(FILE *f, const json_t *stats);
/* The table of render_clients() for @list, an array of clients.list entries. */
int render_client_list(FILE *f, const json_t *list);
int render_prometheus(FILE *f, const json_t *stats);

#endif
