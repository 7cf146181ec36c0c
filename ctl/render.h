/* SPDX-License-Identifier: MIT */
/* spanctl's views of the daemon's MemStats and object list JSON. */
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

/*
 * The table of spanctl objects for @list, the "objects" array of
 * spanheap_objects_json(); -EBADMSG if an entry lacks a field it prints.
 */
int render_object_list(FILE *f, const json_t *list);

/*
 * @s as it is safe to print on a terminal: UTF-8 of printable
 * characters as it is, any other byte as \xNN and the characters that
 * reorder or break lines as \uNNNN.
 */
void render_text(FILE *f, const char *s);

/*
 * The line that says why deleting @name failed with @err (a negative
 * errno), "spanctl: cannot delete NAME: why".
 */
void render_delete_error(FILE *f, const char *name, int err);

#endif
