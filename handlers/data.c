/* SPDX-License-Identifier: MIT */
/* data.c - type 4: one encrypted frame. */
#include "recv.h"
#include "send.h"
#include "session.h"

void rw__handle_data(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_keypair *kp;
	int n = rw__transport_open(sh, p, data, from, &kp);

	if (n > 0)
		rw__session_deliver_frame(kp->s, data + RW_DATA_OFF_PAYLOAD, (size_t)n);
}
