/* SPDX-License-Identifier: MIT */
/*
 * tcp.h - the TCP transport (docs/protocol.md §17): one per reactor, beside
 * its UDP transport, on the same ring and the same send buffers. See
 * transport.h for the contract and tcp.c for what it owns.
 */
#ifndef RW_TCP_H
#define RW_TCP_H

#include <stdint.h>

#include "reactor.h"
#include "stream.h"
#include "timer.h"
#include "transport.h"

enum {
	RW_TCP_DEFAULT_MAX_CONNS = 1024,	/* per reactor, server */
	RW_TCP_CLIENT_MAX_CONNS = 256,		/* per reactor, client: one per server address */
	RW_TCP_DEFAULT_STALL_MS = 10000,
	RW_TCP_DEFAULT_FALLBACK_MS = 1000,
	RW_TCP_QUEUE_MAX = 512,			/* packets queued per connection beyond the socket's buffer */
	RW_TCP_GATHER = 32,			/* packets per write (one sendmsg) */
};

/* Counters of one reactor's TCP transport (owner-written, read with RW_STAT_GET). */
struct rw_tcp_stats {
	uint64_t open, accepted, connected, refused;
	uint64_t closed_framing, closed_timeout, closed_peer;
	uint64_t queue_full, no_conn;
	uint64_t rx_packets, rx_bytes, tx_packets, tx_bytes;
};

struct rw_tcp_conn;

struct rw_tcp {
	struct rw_transport t;		/* first */
	struct rw_reactor *r;
	int lfd;			/* listening socket, -1: none (clients) */
	bool accept_on;
	struct rw_tcp_conn *conns;	/* max_conns slots */
	unsigned max_conns, hiwat;	/* slots [0, hiwat) were ever used */
	uint32_t free_head;
	uint32_t flush_head;		/* connections with output to issue at the end of the batch */
	uint32_t stall_ms, idle_ms;
	struct rw_timer t_sweep;
	struct rw_tcp_stats st;
};

struct rw_tcp_config {
	const struct rw_peer_addr *listen;	/* NULL: no listener (outgoing connections only) */
	unsigned max_conns;			/* 0: the default of the role */
	uint32_t stall_ms;			/* 0: RW_TCP_DEFAULT_STALL_MS */
	uint32_t idle_ms;			/* a connection silent this long is closed */
};

/*
 * Open the listening socket of every reactor on cfg->listen (SO_REUSEPORT:
 * the kernel spreads connections; port 0 picks one for all). fds[i] for
 * reactor i; closed again on failure. Before the reactors start.
 */
int rw__tcp_listen(const struct rw_peer_addr *where, unsigned n, int *fds, uint16_t *port);
/* Bind t to reactor r with listening socket lfd (-1: none); received packets go to on_datagram(up, ...). */
int rw__tcp_init(struct rw_tcp *t, struct rw_reactor *r, int lfd, const struct rw_tcp_config *cfg,
		 rw_transport_rx_fn on_datagram, void *up);
/* On the reactor thread, once: arm the accept and the sweep. */
void rw__tcp_start(struct rw_tcp *t);
/* A completion of one of t's SQEs (the reactor's on_ext). */
void rw__tcp_on_cqe(struct rw_tcp *t, uint32_t tag, int res, uint32_t flags);
/* Stop accepting and close every connection (after the last sends were queued). */
void rw__tcp_stop(struct rw_tcp *t);
/* After the ring is gone: close what is left, free everything. */
void rw__tcp_free(struct rw_tcp *t);

#endif
