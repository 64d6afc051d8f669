/* SPDX-License-Identifier: MIT */
/*
 * handshake_resp.c - type 2: the server answered our HandshakeInit (initiator side).
 *
 * The cheap checks (a handshake we wait on, MAC1) run as the datagram
 * arrives; its two X25519 wait for the batch end, after the batch's data
 * (rw__session_noise_later), so the echoes that came in beside a wave of
 * rekey responses are not held behind their DH work.
 */
#include <string.h>

#include "recv.h"
#include "send.h"
#include "session.h"

static void consume(struct rw_session *s, struct rw_keypair *kp, const uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_shard *sh = s->sh;
	uint8_t tx[RW_KEY_LEN], rx[RW_KEY_LEN];
	bool first;
	/* consume on a copy: a forged response must not spoil the real one to come */
	struct rw_handshake hs = s->hs;

	if (rw__noise_resp_consume(&hs, data, s->local)) {
		rw__noise_handshake_clear(&hs);
		rw__drop(sh, RW_DROP_HANDSHAKE, from);
		return;
	}
	uint32_t remote_index = hs.remote_index;	/* split wipes hs */

	if (rw__noise_split(&hs, true, tx, rx) || rw__keypair_install(kp, tx, rx, remote_index)) {
		rw__drop(sh, RW_DROP_HANDSHAKE, from);
		goto out;
	}
	rw__noise_handshake_clear(&s->hs);
	s->hs_kp = NULL;
	rw__timer_cancel(sh->wheel, &s->t_handshake);
	first = !s->opened;
	rw__session_set_peer(s, from);
	rw__session_keys_established(s, kp);
	if (first)
		rw__session_opened(s);
	/* confirm the keys to the responder now, even with nothing to say */
	if (s->state == RW_SS_ESTABLISHED)
		rw__send_control(s, RW_MSG_KEEPALIVE);
out:
	rw__memzero(tx, sizeof(tx));
	rw__memzero(rx, sizeof(rx));
	rw__noise_handshake_clear(&hs);
}

void rw__handle_handshake_resp(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_keypair *kp;
	struct rw_session *s;

	kp = rw__pending_handshake(sh, p, data, from);
	if (!kp)
		return;
	s = kp->s;
	if (!rw__noise_mac1_ok(data, RW_RESP_OFF_MAC1, s->local->mac1_key)) {
		rw__drop(sh, RW_DROP_BAD_MAC1, from);
		return;
	}
	/* one waits already (a duplicate, or a forgery first): this one is consumed now, as before */
	if (!s->hs_resp_queued) {
		memcpy(s->hs_resp, data, RW_SIZE_HANDSHAKE_RESP);
		s->hs_resp_from = *from;
		s->hs_resp_index = kp->local_index;
		s->hs_resp_queued = true;
		if (rw__session_noise_later(s))
			return;
		s->hs_resp_queued = false;
	}
	consume(s, kp, data, from);
}

void rw__handshake_resp_run(struct rw_session *s)
{
	struct rw_keypair *kp = s->hs_kp;

	s->hs_resp_queued = false;
	/* still the handshake it answered (a retry since has its own index) */
	if (kp && kp->local_index == s->hs_resp_index && s->state != RW_SS_CLOSED)
		consume(s, kp, s->hs_resp, &s->hs_resp_from);
	else
		rw__drop(s->sh, RW_DROP_UNKNOWN_INDEX, &s->hs_resp_from);
	rw__memzero(s->hs_resp, sizeof(s->hs_resp));
}
