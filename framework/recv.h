/* SPDX-License-Identifier: MIT */
/*
 * recv.h - the receive side (recv.c): a datagram from the transport is
 * decoded and dispatched by its type byte to one handler (handlers/). Also
 * the handlers' prototypes and what the transport-packet handlers share.
 */
#ifndef RW_RECV_H
#define RW_RECV_H

#include <stdbool.h>
#include <stdint.h>

#include "packet.h"
#include "shard.h"
#include "transport.h"

struct rw_keypair;

/* The transport's on_datagram (up is the shard). */
void rw__recv_datagram(void *up, uint8_t *data, size_t len, const struct rw_peer_addr *from);

/* ---- handlers/ : one per packet type ---- */
typedef void (*rw_packet_handler)(struct rw_shard *sh, struct rw_packet *p, uint8_t *data,
				  const struct rw_peer_addr *from);
void rw__handle_handshake_init(struct rw_shard *sh, struct rw_packet *p, uint8_t *data,
			       const struct rw_peer_addr *from);
void rw__handle_handshake_resp(struct rw_shard *sh, struct rw_packet *p, uint8_t *data,
			       const struct rw_peer_addr *from);
/* The queued HandshakeResp of s, at the batch end (rw__session_noise_later). */
void rw__handshake_resp_run(struct rw_session *s);
void rw__handle_cookie_reply(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from);
void rw__handle_data(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from);
void rw__handle_disconnect(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from);
void rw__handle_keepalive(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from);
void rw__handle_fragment(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from);

/* ---- handlers/transport_open.c ---- */
/*
 * A packet whose receiver index names another shard: hand it over (or drop
 * it, counted). true when the caller must stop.
 */
bool rw__route_elsewhere(struct rw_shard *sh, const struct rw_packet *p, const uint8_t *data,
			 const struct rw_peer_addr *from);
/* HandshakeResp and CookieReply: the keypair of our pending handshake, or NULL (counted). */
struct rw_keypair *rw__pending_handshake(struct rw_shard *sh, const struct rw_packet *p, const uint8_t *data,
					 const struct rw_peer_addr *from);
/*
 * Shared by the four transport handlers: find the keypair (handing the packet
 * to its owner shard if need be), check replay, decrypt in place, update the
 * window. Returns the plaintext length, or -1 when the packet was dropped or
 * handed off (already counted).
 */
int rw__transport_open(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from,
		       struct rw_keypair **kpp);

#endif
