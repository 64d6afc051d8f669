/* SPDX-License-Identifier: MIT */
/*
 * udp.h - the UDP transport: one per reactor, over its SO_REUSEPORT socket.
 * See transport.h for the contract and udp.c for what it owns.
 */
#ifndef RW_UDP_H
#define RW_UDP_H

#include "reactor.h"
#include "transport.h"

struct rw_udp {
	struct rw_transport t;		/* first: a struct rw_transport * is a struct rw_udp * */
	struct rw_reactor *r;
	struct rw_reactor_group *g;
};

/* Where the reactor group's sockets bind (before rw__reactor_group_create). */
void rw__udp_listen_on(struct rw_reactor_config *rc, const struct rw_peer_addr *listen);
/* The port the group's sockets are bound to (the one picked for port 0). */
uint16_t rw__udp_local_port(const struct rw_reactor_group *g);
/* Bind t to reactor r; received datagrams go to on_datagram(up, ...). The reactor's ctx becomes u. */
void rw__udp_init(struct rw_udp *u, struct rw_reactor *r, rw_transport_rx_fn on_datagram, void *up);
/* The transport a reactor's callbacks belong to. */
struct rw_udp *rw__udp_of(struct rw_reactor *r);
/* The reactor's on_send_error, passed up. */
void rw__udp_send_error(struct rw_udp *u, const struct sockaddr *to, socklen_t tolen, int err);
/* The reactor callbacks that feed the transport (on_datagram and on_handoff alike). */
void rw__udp_on_datagram(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
			 socklen_t fromlen);

#endif
