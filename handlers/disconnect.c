/* SPDX-License-Identifier: MIT */
/*
 * disconnect.c - type 5: the peer closes the session. It passed the replay
 * window like any packet (PROFILE): v1 does not authenticate the header, so
 * a captured Keepalive relabelled as Disconnect carries a counter already
 * seen and is refused there.
 */
#include "engine.h"

void rw__handle_disconnect(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct sockaddr *from,
			   socklen_t fromlen)
{
	struct rw_keypair *kp;

	if (rw__transport_open(sh, p, data, from, fromlen, &kp) < 0)
		return;
	rw__session_close(kp->s, RW_CLOSE_PEER, true, "peer disconnected", false);
}
