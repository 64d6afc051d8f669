/* SPDX-License-Identifier: MIT */
/*
 * handshake_resp.c - type 2: the server answered our HandshakeInit (initiator side).
 *
 * The cheap checks (a handshake we wait on, MAC1) run as the datagram
 * arrives. A rekey's two X25519 run on the shard's Noise worker
 * (noise_worker.h) while the old keys carry the data; a first session's
 * wait for the batch end, after the batch's data (rw__session_noise_later),
 * where a packet under the new keys right behind the response (a server
 * may use a first session's keys at once) gets the response consumed
 * first.
 */
#include <errno.h>
#include <string.h>

#include "noise_worker.h"
#include "recv.h"
#include "send.h"
#include "session.h"

/* The response's keys are good: they become the session's. */
static void established(struct rw_session *s, struct rw_keypair *kp, const uint8_t tx[RW_KEY_LEN],
			const uint8_t rx[RW_KEY_LEN], uint32_t remote_index, const struct rw_peer_addr *from)
{
	struct rw_shard *sh = s->sh;
	bool first;

	if (rw__keypair_install(kp, tx, rx, remote_index)) {
		rw__drop(sh, RW_DROP_HANDSHAKE, from);
		return;
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
}

static void consume(struct rw_session *s, struct rw_keypair *kp, const uint8_t *data, const struct rw_peer_addr *from)
{
	uint8_t tx[RW_KEY_LEN], rx[RW_KEY_LEN];
	/* consume on a copy: a forged response must not spoil the real one to come */
	struct rw_handshake hs = s->hs;
	uint32_t remote_index;

	if (rw__noise_resp_consume(&hs, data, s->local)) {
		rw__noise_handshake_clear(&hs);
		rw__drop(s->sh, RW_DROP_HANDSHAKE, from);
		return;
	}
	remote_index = hs.remote_index;	/* split wipes hs */
	if (rw__noise_split(&hs, true, tx, rx))
		rw__drop(s->sh, RW_DROP_HANDSHAKE, from);
	else
		established(s, kp, tx, rx, remote_index, from);
	rw__memzero(tx, sizeof(tx));
	rw__memzero(rx, sizeof(rx));
	rw__noise_handshake_clear(&hs);
}

/* On the worker: a rekey's response, consumed on a copy of the handshake, and the keys from it. */
static void resp_work(struct rw_nw_job *j)
{
	j->ret = rw__noise_resp_consume(&j->hs, j->in, &j->id);
	if (j->ret)
		return;
	j->remote_index = j->hs.remote_index;
	j->ret = rw__noise_split(&j->hs, true, j->tx, j->rx);
}

/* Back on the shard: still the attempt it answers? Then the keys take over. */
static void resp_done(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct rw_nw_job *j = rw_container_of(cmd, struct rw_nw_job, c);
	struct rw_session *s = rw__session_by_id(sh, j->session_id);

	if (s)
		s->hs_resp_jobs--;
	if (!s || s->state == RW_SS_CLOSED || !s->hs_kp || s->hs_kp->local_index != j->index || s->hs_gen != j->gen)
		rw__drop(sh, RW_DROP_UNKNOWN_INDEX, &j->from);	/* answered already, or a retry went out since */
	else if (j->ret)
		rw__drop(sh, RW_DROP_HANDSHAKE, &j->from);
	else
		established(s, s->hs_kp, j->tx, j->rx, j->remote_index, &j->from);
	rw__nw_put(sh->nw, j);	/* wipes the keys with the job */
}

/*
 * A rekey: the old keys carry the data meanwhile, so the two X25519 go to
 * the Noise worker. Two at most per session (the real one and a duplicate
 * or a forgery); 0 when it went there.
 */
static int resp_offload(struct rw_session *s, struct rw_keypair *kp, const uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_noise_worker *nw;
	struct rw_nw_job *j;

	if (s->state != RW_SS_ESTABLISHED || !s->cur || s->hs_resp_jobs >= 2)
		return -EAGAIN;
	nw = rw__nw_of(s->sh);
	j = nw ? rw__nw_get(nw) : NULL;
	if (!j)
		return -ENOBUFS;
	j->session_id = s->id;
	j->gen = s->hs_gen;
	j->index = kp->local_index;
	j->id = *s->local;
	j->hs = s->hs;
	memcpy(j->in, data, RW_SIZE_HANDSHAKE_RESP);
	j->from = *from;
	j->work = resp_work;
	j->c.run = resp_done;
	if (rw__nw_submit(nw, j)) {
		rw__nw_put(nw, j);
		return -EAGAIN;
	}
	s->hs_resp_jobs++;
	return 0;
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
	if (resp_offload(s, kp, data, from) == 0)
		return;
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
