/* SPDX-License-Identifier: MIT */
/*
 * recv.c - the receive side's entry: every datagram the transport delivers
 * (its own, or one another shard handed over) is decoded once and dispatched
 * by its type byte through the table below to its handler in handlers/.
 * Adding a packet type is one line here and one file there.
 */
#include "recv.h"

/* One table, indexed by the type byte (docs/protocol.md §3). */
static const rw_packet_handler dispatch[RW_MSG_TYPE_MAX + 1] = {
	[RW_MSG_HANDSHAKE_INIT] = rw__handle_handshake_init,
	[RW_MSG_HANDSHAKE_RESP] = rw__handle_handshake_resp,
	[RW_MSG_COOKIE_REPLY] = rw__handle_cookie_reply,
	[RW_MSG_DATA] = rw__handle_data,
	[RW_MSG_DISCONNECT] = rw__handle_disconnect,
	[RW_MSG_KEEPALIVE] = rw__handle_keepalive,
	[RW_MSG_DATA_FRAGMENT] = rw__handle_fragment,
};

void rw__recv_datagram(void *up, uint8_t *data, size_t len, const struct rw_peer_addr *from)
{
	struct rw_shard *sh = up;
	enum rw_drop_reason why;
	struct rw_packet p;

	if (rw_unlikely(rw__packet_decode(&p, data, len, sh->tr->max_datagram, &why))) {
		rw__drop(sh, why, from);
		return;
	}
	dispatch[p.type](sh, &p, data, from);
}
