/* SPDX-License-Identifier: MIT */
/*
 * keepalive.c - type 6: the peer is alive. Opening it (replay window and
 * AEAD) is all there is: that refreshes the receive time and confirms new
 * keys; it does not reset our own keepalive clock (docs/protocol.md §7.3).
 */
#include "recv.h"
#include "send.h"
#include "session.h"

void rw__handle_keepalive(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_keypair *kp;

	(void)rw__transport_open(sh, p, data, from, &kp);
}
