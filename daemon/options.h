/* SPDX-License-Identifier: MIT */
/* spanheapd's command line. */
#ifndef SPANHEAPD_OPTIONS_H
#define SPANHEAPD_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DEFAULT_SOCKET "/run/spanheapd/spanheapd.sock"
#define DEFAULT_SOCKET_MODE 0660
/* Bytes of a socket path: what sockaddr_un's sun_path holds, less its NUL. */
#define OPTIONS_SOCKET_PATH_MAX 107
#define DEFAULT_SCAVENGE_AFTER_NS (UINT64_C(300) * 1000000000)
#define DEFAULT_GC_AFTER_NS (UINT64_C(120) * 1000000000)
/* How long an owner without a connection may come back (orphans.h). */
#define DEFAULT_RECONNECT_GRACE_NS (UINT64_C(30) * 1000000000)
#define DEFAULT_MAX_CLIENTS 1024
/* Shared objects, and references to them, that can be live at once. */
#define DEFAULT_MAX_OBJECTS 1048576
#define DEFAULT_MAX_REFS 4194304
/* Bytes one client's magazine may cache (daemon/magazine.h). */
#define DEFAULT_MAGAZINE_BYTES (UINT64_C(4) << 20)
#define OPTIONS_MAGAZINE_BYTES_MAX (UINT64_C(1) << 30)
/* A host name of --metrics-listen, as DNS allows them, and its NUL. */
#define OPTIONS_METRICS_HOST_MAX 256
/* How long an HTTP connection to --metrics-listen may idle (metrics_http.h). */
#define DEFAULT_METRICS_TIMEOUT_S 10
/* --memory-limit when not given: this percent of what the cgroup or the
 * machine allows (daemon/memlimit.h). */
#define DEFAULT_MEMORY_LIMIT_PCT 80
/* --scavenge-policy=paced keeps at most this percent above the peak. */
#define DEFAULT_SCAVENGE_HEADROOM_PCT 10
#define DEFAULT_QUOTA_FILE "/etc/spanheapd/quotas.conf"
/*
 * A PSI trigger (daemon/pressure.h): 200 ms of stall in any 2 s window;
 * a window of whole 2 s, the only kind an unprivileged daemon may set
 * since Linux 6.5.
 */
#define DEFAULT_PRESSURE_TRIGGER "some 200000 2000000"
/* --quota-uid options on one command line, at most. */
#define OPTIONS_QUOTA_UIDS_MAX 64

enum options_scav_policy {
	OPTIONS_SCAV_DELAY,	/* the seed's: release what is free too long */
	OPTIONS_SCAV_PACED,	/* Go's: keep near the recent peak, paced */
};

/* One --quota-uid=UID:SIZE. */
struct options_quota {
	uint32_t uid;
	uint64_t bytes;		/* 0: no quota for this uid */
};

struct options {
	const char *socket_path;
	mode_t socket_mode;
	gid_t socket_gid;		/* (gid_t)-1: leave the group alone */
	uint64_t arena_size;		/* bytes */
	uint64_t scavenge_after_ns;
	uint64_t gc_after_ns;
	uint64_t reconnect_grace_ns;	/* orphans.h; 0: none wait */
	unsigned int max_clients;
	uint32_t max_objects;
	uint32_t max_refs;
	uint64_t magazine_bytes;	/* 0: no magazines */
	bool trace;
	const char *stats_file;		/* NULL: none */
	/* --metrics-listen: host ("" for loopback) and port; -1: off */
	char metrics_host[OPTIONS_METRICS_HOST_MAX];
	int metrics_port;
	unsigned int metrics_timeout_s;	/* hidden, for the tests */
	/* --memory-limit: bytes, or 0 and a percent of what is allowed */
	uint64_t memory_limit;
	unsigned int memory_limit_pct;	/* 0 with memory_limit set, or "max" */
	bool memory_limit_max;		/* "max": the arena size, no limit */
	enum options_scav_policy scavenge_policy;
	unsigned int scavenge_headroom_pct;
	uint64_t quota_client;		/* bytes a connection may hold; 0: none */
	struct options_quota quota_uids[OPTIONS_QUOTA_UIDS_MAX];
	unsigned int nquota_uids;
	const char *quota_file;		/* "" or NULL: none */
	const char *pressure_trigger;	/* "off": no watch */
	const char *pressure_inject;	/* hidden, for the tests: a FIFO */
	bool help, version;
};

/**
 * options_parse() - parse argv into @ret.
 * @err: on failure, a one-line reason (without the usage text).
 *
 * Return: 0, or -EINVAL with @err filled.  Nothing is created either way.
 */
int options_parse(int argc, char **argv, struct options *ret, char *err,
		  size_t errlen);

/** options_usage() - the usage text. */
const char *options_usage(void);

#endif
