/* SPDX-License-Identifier: MIT */
/*
 * disconnect.c - type 5: the peer closes the session. It passed the replay
 * window like any packet (docs/protocol.md §15.3): v1 does not authenticate the header, so
 * a captured Keepalive relabelled as Disconnect carries a counter already
 * seen and is refused there.
 */
#include "recv.h"
#include "send.h"
#include "session.h"

void rw__handle_disconnect(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_keypair *kp;

	if (rw__transport_open(sh, p, data, from, &kp) < 0)
		return;
	rw__session_close(kp->s, RW_CLOSE_PEER, RW_CLOSE_F_BY_PEER, "peer disconnected");
}
