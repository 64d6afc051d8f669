/* SPDX-License-Identifier: MIT */
/*
 * handshake_init.c - type 1: a client wants a session (responder side).
 *
 * The order of checks is the point (WireGuard's, plus docs/protocol.md §15.1):
 * MAC1 before anything costs a DH; under load, MAC2 before anything costs a
 * DH, a CookieReply (smaller than the init: no amplification) otherwise;
 * then the per-source rate limit (not for the address of a session we
 * hold: its rekey); then the Noise work; then the clock, the
 * key policy and the replay rule. No state is kept for a packet that fails
 * any of them.
 *
 * The Noise work (five X25519, four with the static-static DH of a known
 * key cached, ~0.2 ms, several times that on a busy machine) never runs on
 * the reactor thread: an init that passes the cheap checks is copied into a
 * job for the shard's Noise worker (noise_worker.h), which consumes it and
 * prepares the response (the responder's ephemeral and its two DH), and
 * the rest (the clock, the key policy, the replay rule, the session, the
 * index and MAC1 of the response) runs when the job comes back to the
 * shard. Data never waits behind a handshake: a wave of rekeys computed on
 * the reactor, even one per batch after the batch's data, held each echo
 * beside it for that handshake, and on a machine shared with other work
 * put the p99 4-5x up. WireGuard likewise runs handshakes in a queue of
 * their own, off the data path. The worker's queue is bounded (RW_NW_JOBS):
 * past it an init is dropped as no_buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "noise_worker.h"
#include "recv.h"
#include "send.h"
#include "session.h"
#include "tai64n.h"

/* A consumed HandshakeInit travelling to the shard that owns the peer's session. */
struct rw_hs_cmd {
	struct rw_cmd c;
	uint64_t session_id;
	struct rw_handshake hs;
	uint8_t resp[RW_SIZE_HANDSHAKE_RESP];	/* prepared: index and MAC1 to come */
	uint8_t mac1[RW_MAC_LEN];
	struct rw_peer_addr from;
};

static bool under_load(struct rw_shard *sh)
{
	struct rw_engine *e = sh->e;
	uint64_t now = rw__now_ms(sh);

	if (now - sh->hs_window_ms >= 1000) {
		sh->hs_window_ms = now;
		sh->hs_in_window = 0;
	}
	sh->hs_in_window++;
	/*
	 * The budget is per shard: each computes its own handshakes. Occupancy
	 * counts too: a flood kept just under the rate still fills the
	 * half-open pool, and from there on every source must prove itself.
	 */
	return e->force_cookies || sh->hs_in_window > e->load_hps || rw__shard_crowded(sh);
}

static void send_cookie(struct rw_shard *sh, const uint8_t *init, const char *addr, const struct rw_peer_addr *from)
{
	uint8_t reply[RW_SIZE_COOKIE_REPLY];

	if (!rw__cookie_reply_create(&sh->cookies, reply, init, addr, NULL) &&
	    !rw__send_raw(sh, reply, sizeof(reply), from))
		RW_STAT_INC(sh->st.cookies_sent);
}

static bool allowed(const struct rw_engine *e, const uint8_t key[RW_KEY_LEN])
{
	bool any_rule = e->nallowed || e->authenticate;

	if (!any_rule)
		return true;
	for (size_t i = 0; i < e->nallowed; i++)
		if (rw__memeq(e->allowed[i], key, RW_KEY_LEN))
			return true;
	return e->authenticate && e->authenticate(key, e->auth_user) == 0;
}

/* Complete the handshake only to tell a rejected client why, then forget it. */
static void reject_with_reason(struct rw_shard *sh, struct rw_handshake *hs, uint8_t resp[RW_SIZE_HANDSHAKE_RESP],
			       const struct rw_peer_addr *from)
{
	static const char msg[] = "key not allowed by this server";
	uint8_t frame[64], tx[RW_KEY_LEN], rx[RW_KEY_LEN];
	struct rw_frame_builder b;
	uint8_t ev[1 + sizeof(msg) - 1];
	uint32_t remote_index = hs->remote_index;	/* split wipes hs */
	int n;

	if (rw__noise_resp_finish(hs, resp, 0) || rw__noise_split(hs, false, tx, rx))
		goto out;
	rw__send_raw(sh, resp, RW_SIZE_HANDSHAKE_RESP, from);
	ev[0] = RW_CLOSE_REJECTED;
	memcpy(ev + 1, msg, sizeof(msg) - 1);
	if (rw__frame_begin(&b, frame, sizeof(frame), RW_CHANNEL_INTERNAL, 0) ||
	    rw__frame_add_event(&b, RW_INTERNAL_CLOSE_REASON, ev, sizeof(ev)))
		goto out;
	n = rw__frame_finish(&b, NULL);
	if (n > 0)
		rw__send_farewell(sh, tx, remote_index, frame, (size_t)n, from);
out:
	rw__memzero(tx, sizeof(tx));
	rw__memzero(rx, sizeof(rx));
	rw__noise_handshake_clear(hs);
}

/*
 * Finish on the owning shard: respond, install the keys as next (or as the
 * first keys of a new session), remember the response for retransmits.
 */
static void finish(struct rw_shard *sh, struct rw_session *s, struct rw_handshake *hs, uint8_t resp[RW_SIZE_HANDSHAKE_RESP],
		   const uint8_t mac1[RW_MAC_LEN], const struct rw_peer_addr *from)
{
	struct rw_engine *e = sh->e;
	uint8_t tx[RW_KEY_LEN], rx[RW_KEY_LEN];
	struct rw_keypair *kp = NULL;
	bool fresh = false;
	uint32_t remote_index = hs->remote_index;
	uint8_t ts[RW_TAI64N_LEN], ss[RW_KEY_LEN];
	enum rw_drop_reason why = RW_DROP_HANDSHAKE;
	int64_t old;

	memcpy(ts, hs->timestamp, sizeof(ts));	/* split wipes hs */
	memcpy(ss, hs->ss, sizeof(ss));
	if (!s) {
		/* half-open until the client uses the keys: a flood of fresh keys stays in the pool */
		s = rw__session_new_half_open(sh, hs->remote_static, from);
		if (!s) {
			rw__drop(sh, RW_DROP_NO_BUFFER, from);
			goto out;
		}
		fresh = true;
		rw__session_set_peer(s, from);
	}
	kp = rw__keypair_new(s, false);
	if (!kp)
		goto fail;
	if (rw__noise_resp_finish(hs, resp, kp->local_index) || rw__noise_split(hs, false, tx, rx) ||
	    rw__keypair_install(kp, tx, rx, remote_index))
		goto fail;
	old = rw__peers_bind(&e->peers, s->peer_key, s->id, ts, (uint64_t)time(NULL), mac1, resp, ss);
	if (old < 0) {
		if (old == -EALREADY)
			why = RW_DROP_STALE_TIMESTAMP;
		goto fail;
	}
	/*
	 * The allow-list may have been replaced since allowed(): its sweep
	 * closes the keys bound before it, so a key bound after it is checked
	 * again here.
	 */
	if (!allowed(e, s->peer_key)) {
		why = RW_DROP_REJECTED_KEY;
		goto fail;
	}
	if (old > 0 && (uint64_t)old != s->id)
		rw__session_close_id(e, (uint64_t)old, RW_CLOSE_LOCAL, "superseded by a new session of the same key");
	/* a handshake is proof of the address: the session follows it */
	rw__session_set_peer(s, from);
	rw__send_raw(sh, resp, RW_SIZE_HANDSHAKE_RESP, from);
	rw__session_keys_established(s, kp);
	if (fresh)
		rw__session_opened(s);
	goto out;
fail:
	rw__keypair_free(kp);
	rw__drop(sh, why, from);
	if (fresh)
		rw__session_close(s, RW_CLOSE_PROTOCOL, RW_CLOSE_F_BY_PEER, NULL);
out:
	rw__memzero(tx, sizeof(tx));
	rw__memzero(rx, sizeof(rx));
	rw__memzero(ss, sizeof(ss));
	rw__noise_handshake_clear(hs);
}

static void run_finish(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct rw_hs_cmd *c = (struct rw_hs_cmd *)cmd;
	struct rw_session *s = rw__session_by_id(sh, c->session_id);

	/* the session may have closed meanwhile: then this starts a new one */
	finish(sh, s, &c->hs, c->resp, c->mac1, &c->from);
	rw__memzero(c, sizeof(*c));
	free(c);
}

/*
 * On the worker: the Noise work of an init and of the response to it,
 * prepared before the checks that need the engine's state (the response
 * is wasted on an init those refuse; a refused key is told why with it).
 */
static void respond_work(struct rw_nw_job *j)
{
	/* a rekey of a key we hold: its static-static DH is the one computed before */
	j->ret = rw__noise_init_consume_cached(&j->hs, j->in, &j->id, rw__peers_ss, j->peers);
	if (!j->ret)
		j->ret = rw__noise_resp_prepare(&j->hs, j->out, NULL);
}

/* Back on the shard: what follows the Noise work of an init. */
static void respond_done(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct rw_nw_job *j = rw_container_of(cmd, struct rw_nw_job, c);
	struct rw_engine *e = sh->e;
	struct rw_handshake *hs = &j->hs;
	const struct rw_peer_addr *from = &j->from;
	const uint8_t *data = j->in;
	uint8_t resp[RW_SIZE_HANDSHAKE_RESP], mac1[RW_MAC_LEN];
	uint64_t sid = 0;
	struct rw_session *s = NULL;

	if (j->ret) {
		rw__drop(sh, RW_DROP_HANDSHAKE, from);
		goto out;
	}
	if (rw__tai64n_check_skew(hs->timestamp, (uint64_t)time(NULL), RW_MAX_TIMESTAMP_SKEW_S)) {
		rw__drop(sh, RW_DROP_STALE_TIMESTAMP, from);
		goto out;
	}
	if (!allowed(e, hs->remote_static)) {
		char addr[RW_ADDR_STR_MAX];

		rw__drop(sh, RW_DROP_REJECTED_KEY, from);
		/* debug only: one per attempt (the drop summary tells the count at warn) */
		if (rw__log_on(e, RW_LOG_DEBUG)) {
			char wpub[RW_WPUB_LEN + 1], a[RW_ADDR_STR_MAX] = "?";

			rw_pubkey_to_wpub(wpub, hs->remote_static);
			rw__peer_to_string(a, from);
			rw__log(e, RW_LOG_DEBUG, "handshake rejected", 3, "peer", wpub, "addr", a, "reason", "not_allowed");
		}
		if (e->reject_silently || rw__peer_to_string(addr, from))
			goto out;
		/*
		 * The reason costs three packets (191 bytes): only for an address
		 * that proved itself with a cookie, never more than it sent us
		 * otherwise. Then the timestamp is recorded, so a replay of the
		 * same init is stale and costs nothing more.
		 */
		if (!rw__cookie_mac2_ok(&sh->cookies, data, addr, rw__now_ms(sh)))
			send_cookie(sh, data, addr, from);
		else if (rw__peers_note_ts(&e->peers, hs->remote_static, hs->timestamp, (uint64_t)time(NULL)) == 0)
			reject_with_reason(sh, hs, j->out, from);
		goto out;
	}
	memcpy(mac1, data + RW_INIT_OFF_MAC1, RW_MAC_LEN);
	switch (rw__peers_admit(&e->peers, hs->remote_static, hs->timestamp, mac1, (uint64_t)time(NULL), &sid, resp)) {
	case RW_PEER_RETRANSMIT:
		/* our response was lost: the same answer again, no second session */
		rw__send_raw(sh, resp, sizeof(resp), from);
		goto out;
	case RW_PEER_STALE:
		rw__drop(sh, RW_DROP_STALE_TIMESTAMP, from);
		goto out;
	case RW_PEER_FULL:
		rw__drop(sh, RW_DROP_NO_BUFFER, from);
		goto out;
	case RW_PEER_EXISTING:
		if (rw__id_shard(sid) != sh->id && from->via == RW_VIA_TCP) {
			/*
			 * A new TCP connection landed on another reactor than the
			 * key's session: that reactor could not answer on it. A new
			 * session here supersedes the old one (finish closes it).
			 */
			break;
		}
		if (rw__id_shard(sid) != sh->id) {
			struct rw_hs_cmd *c = malloc(sizeof(*c));

			if (!c) {
				rw__drop(sh, RW_DROP_NO_BUFFER, from);
				goto out;
			}
			c->session_id = sid;
			c->hs = *hs;
			memcpy(c->resp, j->out, RW_SIZE_HANDSHAKE_RESP);
			memcpy(c->mac1, mac1, RW_MAC_LEN);
			c->from = *from;
			c->c.run = run_finish;
			if (!rw__shard_of_id(e, sid) || rw__shard_post(rw__shard_of_id(e, sid), &c->c)) {
				rw__memzero(c, sizeof(*c));
				free(c);
			}
			goto out;
		}
		s = rw__session_by_id(sh, sid);
		break;
	case RW_PEER_NEW:
		break;
	}
	finish(sh, s, hs, j->out, mac1, from);
out:
	rw__nw_put(sh->nw, j);	/* wipes the handshake with the job */
}

void rw__handle_handshake_init(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_engine *e = sh->e;
	struct rw_noise_worker *nw;
	struct rw_nw_job *j;

	(void)p;
	if (!e->server) {
		rw__drop(sh, RW_DROP_UNKNOWN_TYPE, from);
		return;
	}
	if (!rw__noise_mac1_ok(data, RW_INIT_OFF_MAC1, e->id.mac1_key)) {
		rw__drop(sh, RW_DROP_BAD_MAC1, from);
		return;
	}
	if (under_load(sh)) {
		char addr[RW_ADDR_STR_MAX];

		if (rw__peer_to_string(addr, from)) {
			rw__drop(sh, RW_DROP_BAD_MAC2, from);
			return;
		}
		if (!rw__cookie_mac2_ok(&sh->cookies, data, addr, rw__now_ms(sh))) {
			/*
			 * One reason per datagram: no MAC2 yet is "under load", a
			 * wrong one is "bad MAC2"; both get a (smaller) CookieReply.
			 */
			send_cookie(sh, data, addr, from);
			rw__drop(sh, rw__is_zero(data + RW_INIT_OFF_MAC2, RW_MAC_LEN) ? RW_DROP_UNDER_LOAD : RW_DROP_BAD_MAC2,
				 from);
			return;
		}
		/*
		 * A rekey of a session we hold, from its own address (proved by
		 * MAC2), is no stranger: the limits below group by IP address
		 * and would throttle a crowd behind one NAT address that rekeys
		 * together.
		 */
		if (!rw__session_known_addr(sh, from)) {
			if (!rw__ratelimit_allow(&sh->limiter, &from->u.sa, rw__now_ms(sh))) {
				rw__drop(sh, RW_DROP_RATE_LIMITED, from);
				return;
			}
			/* however many keys it makes, one address holds a bounded share of the pool */
			if (rw__half_open_from(sh, from) >= e->source_max_half_open) {
				rw__drop(sh, RW_DROP_HALF_OPEN_LIMIT, from);
				return;
			}
		}
	}
	nw = rw__nw_of(sh);
	j = nw ? rw__nw_get(nw) : NULL;
	if (!j) {
		rw__drop(sh, RW_DROP_NO_BUFFER, from);
		return;
	}
	memcpy(j->in, data, RW_SIZE_HANDSHAKE_INIT);
	j->from = *from;
	j->id = e->id;
	j->peers = &e->peers;
	j->work = respond_work;
	j->c.run = respond_done;
	rw__nw_run(sh, nw, j);
}
