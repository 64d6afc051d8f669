/* SPDX-License-Identifier: MIT */
/*
 * transport_open.c - what types 4 to 7 share before their own handling: route to
 * the owning shard, replay check, AEAD in place, window update (docs/protocol.md §8:
 * only after the AEAD succeeded). Nothing is kept for a packet that fails.
 */
#include "index.h"
#include "recv.h"
#include "send.h"
#include "session.h"

bool rw__route_elsewhere(struct rw_shard *sh, const struct rw_packet *p, const uint8_t *data,
			 const struct rw_peer_addr *from)
{
	unsigned owner = rw__index_shard(sh->e->shard_bits, p->receiver_index);

	if (rw_likely(owner == sh->id))
		return false;
	/*
	 * the kernel's hash picked another shard: hand it to its owner. Never
	 * over TCP: a connection's sessions live where it was accepted, and
	 * another shard could not answer on it (dropped: unknown_index).
	 */
	if (owner < sh->e->nshards && from->via == RW_VIA_UDP &&
	    !rw__transport_handoff(sh->tr, owner, data, p->len, from))
		return true;
	rw__drop(sh, owner < sh->e->nshards && from->via == RW_VIA_UDP ? RW_DROP_NO_BUFFER : RW_DROP_UNKNOWN_INDEX,
		 from);
	return true;
}

struct rw_keypair *rw__pending_handshake(struct rw_shard *sh, const struct rw_packet *p, const uint8_t *data,
					 const struct rw_peer_addr *from)
{
	struct rw_keypair *kp;

	if (rw__route_elsewhere(sh, p, data, from))
		return NULL;
	kp = rw__index_lookup(sh, p->receiver_index);
	/* only the index of a handshake we started and still wait on */
	if (!kp || kp->s->hs_kp != kp) {
		rw__drop(sh, RW_DROP_UNKNOWN_INDEX, from);
		return NULL;
	}
	return kp;
}

int rw__transport_open(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from, struct rw_keypair **kpp)
{
	struct rw_keypair *kp;
	int n;

	if (rw_unlikely(rw__route_elsewhere(sh, p, data, from)))
		return -1;
	kp = rw__index_lookup(sh, p->receiver_index);
	/*
	 * Keys whose HandshakeResp waits for the batch end (handshake_resp.c),
	 * and a packet under them already behind it (a refusal's reason):
	 * the response is consumed now, in arrival order.
	 */
	if (rw_unlikely(kp && !kp->ready && kp->s->hs_resp_queued && kp->s->hs_kp == kp))
		sh->e->hs_resp_run(kp->s);
	if (rw_unlikely(!kp || !kp->ready)) {
		rw__drop(sh, RW_DROP_UNKNOWN_INDEX, from);
		return -1;
	}
	switch (rw__replay_classify(&kp->replay, p->counter)) {
	case RW_REPLAY_OK:
		break;
	case RW_REPLAY_LIMIT:
		rw__drop(sh, RW_DROP_LIMIT, from);
		return -1;
	default:
		rw__drop(sh, RW_DROP_REPLAY, from);
		return -1;
	}
	n = rw__packet_open(&kp->rx, p, data + RW_DATA_OFF_PAYLOAD);
	if (rw_unlikely(n < 0)) {
		rw__drop(sh, RW_DROP_DECRYPT, from);
		rw__session_aead_failed(kp->s);
		return -1;
	}
	if (rw_unlikely(rw__replay_update(&kp->replay, p->counter) != RW_REPLAY_OK)) {
		rw__drop(sh, RW_DROP_REPLAY, from);
		return -1;
	}
	rw__session_rx_ok(kp->s, kp, from, p->len);
	*kpp = kp;
	return n;
}
