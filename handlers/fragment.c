/* SPDX-License-Identifier: MIT */
/* fragment.c - type 7: one piece of a large frame, reassembled per session. */
#include <errno.h>

#include "recv.h"
#include "send.h"
#include "session.h"

void rw__handle_fragment(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	const uint8_t *frame;
	struct rw_keypair *kp;
	size_t flen;
	int n = rw__transport_open(sh, p, data, from, &kp);

	if (n < 0)
		return;
	switch (rw__reasm_add(&kp->s->reasm, data + RW_DATA_OFF_PAYLOAD, (size_t)n, rw__now_ms(sh), &frame, &flen)) {
	case 1:
		rw__session_deliver_frame(kp->s, frame, flen);
		break;
	case 0:
		rw__session_frag_timer(kp->s);
		break;
	case -ENOBUFS:
	case -EMSGSIZE:
	case -ENOMEM:
	case -ECANCELED:
		rw__drop(sh, RW_DROP_FRAGMENT_LIMIT, from);
		break;
	default:
		rw__drop(sh, RW_DROP_BAD_FRAGMENT, from);
		break;
	}
}
