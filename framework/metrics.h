/* SPDX-License-Identifier: MIT */
/*
 * metrics.h - rw_stats as Prometheus text (exposition format 0.0.4), and a
 * small HTTP endpoint serving it from a thread of its own (libmicrohttpd).
 * Nothing here touches a reactor: the counters are read with relaxed loads
 * (rw_server_stats / rw_client_stats), whatever thread asks.
 */
#ifndef RW_METRICS_H
#define RW_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "ringwire.h"

/* One reactor's own counters (label reactor="i"): what it received and handed over, how its send path coped. */
struct rw__metrics_reactor {
	uint64_t rx_packets, rx_bytes;
	uint64_t handoffs_out, handoffs_in, handoff_full;
	uint64_t rx_nobufs;		/* the receive ring ran dry */
	uint64_t send_buf_exhausted;	/* no free send buffer */
	uint64_t send_parked, send_resumed, send_paced;
	uint64_t rx_batches, rx_batch_datagrams;	/* receive batches holding datagrams, and those datagrams */
};

/* The engine's operational counters beyond rw_stats, summed over reactors (shard.h). */
struct rw_ops_stats;

/* What the exposition says beside the counters. */
struct rw__metrics_info {
	bool server;
	unsigned reactors;
	bool has_allowlist;	/* then allowed_keys is a gauge */
	size_t allowed_keys;
	const struct rw__metrics_reactor *per;	/* reactors entries, or NULL */
	const struct rw_ops_stats *ops;		/* or NULL */
};

struct rw_engine;
/* Fill per[0..max) from the engine's reactors (relaxed loads; any thread). Returns how many. */
unsigned rw__metrics_reactors(const struct rw_engine *e, struct rw__metrics_reactor *per, unsigned max);

/* Sum the shards' operational counters into *out (relaxed loads; any thread). */
void rw__metrics_ops(const struct rw_engine *e, struct rw_ops_stats *out);

/* Write the exposition; its length, or -ENOSPC. */
int rw__metrics_format(const struct rw_stats *st, const struct rw__metrics_info *info, char *buf, size_t cap);

/*
 * The exposition of one engine: its stats, reactors and operational
 * counters, with info's server / allow-list fields as given.
 */
int rw__metrics_write_engine(const struct rw_engine *e, struct rw__metrics_info *info, char *buf, size_t cap);

/* Fill buf with the current exposition (length or -ENOSPC): called on the endpoint's thread. */
typedef int (*rw__metrics_fill_fn)(void *obj, char *buf, size_t cap);

struct rw__metrics;

/* Listen on "HOST:PORT" (TCP). Returns the bound port or a negative errno (message in err). */
int rw__metrics_listen(struct rw__metrics **out, const char *hostport, rw__metrics_fill_fn fill, void *obj,
		       char *err, size_t errlen);
/* Stop the thread and close the socket (NULL is fine). */
void rw__metrics_stop(struct rw__metrics *m);

#endif
