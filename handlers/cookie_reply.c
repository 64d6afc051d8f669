/* SPDX-License-Identifier: MIT */
/*
 * cookie_reply.c - type 3: the server is under load and wants proof of our
 * address. Retry the same HandshakeInit with MAC2 (docs/protocol.md §6.3: byte for byte
 * the first one with MAC2 filled in), once per handshake attempt.
 */
#include "recv.h"
#include "send.h"
#include "session.h"

void rw__handle_cookie_reply(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_keypair *kp;
	struct rw_session *s;

	kp = rw__pending_handshake(sh, p, data, from);
	if (!kp)
		return;
	s = kp->s;
	if (rw__cookie_reply_consume(data, s->hs.mac1, s->cookie)) {
		rw__drop(sh, RW_DROP_BAD_COOKIE, from);
		return;
	}
	s->has_cookie = true;
	s->cookie_ms = rw__now_ms(sh);
	/*
	 * One immediate retry per attempt: a server (or a forger on the path)
	 * answering every init with a CookieReply would otherwise make us
	 * resend at its pace. Later cookies only wait for the timed retry,
	 * which carries the newest one in MAC2.
	 */
	if (s->cookie_retried)
		return;
	s->cookie_retried = true;
	if (rw__cookie_mac2_put(s->hs_msg, s->cookie))
		return;
	rw__send_raw(sh, s->hs_msg, sizeof(s->hs_msg), &s->peer);
}
