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
 * key cached, ~0.2 ms, several times that on a busy machine) never runs
 * in the middle of a batch: inits that pass the cheap checks wait in a
 * bounded FIFO per shard, and the engine's batch end runs it after the
 * batch's data went to the kernel (rw__handshake_run), for at most
 * RW_HS_BUDGET_US per batch. An echo that arrived beside a rekey therefore
 * leaves before the rekey's DH work, and data arriving during that work
 * waits for one handshake at most, not for a wave of them: a batch that
 * computed a few dozen handshakes in a row left the data behind them to
 * overflow the socket's receive buffer, and one that computed them before
 * its data (1 ms of them per batch) put that millisecond into the p99 of
 * every session beside a rekey wave. WireGuard likewise moves handshakes
 * off the data path, into a queue of their own.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "recv.h"
#include "send.h"
#include "session.h"
#include "tai64n.h"

enum {
	/*
	 * Noise work per batch: past it the rest waits for the next batch
	 * (the reactor polls, it does not sleep). Under one handshake (a
	 * responder's is ~0.17 ms of X25519 on a 2020s x86 core, ~0.2 ms
	 * without the cached static-static DH): once they queue, one per
	 * batch, and what arrives meanwhile waits for that one only.
	 */
	RW_HS_BUDGET_US = 100,
	/* inits waiting per shard, more are dropped (no_buffer): WireGuard queues
	 * 4096 too; a client that dials 2000 sessions at once fits (~0.8 MB,
	 * taken on the first init that waits) */
	RW_HS_QUEUE = 4096,
};

/* An init that passed the cheap checks, waiting for its Noise work. */
struct rw_hs_pending {
	uint8_t msg[RW_SIZE_HANDSHAKE_INIT];
	struct rw_peer_addr from;
};

static uint64_t clock_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* A consumed HandshakeInit travelling to the shard that owns the peer's session. */
struct rw_hs_cmd {
	struct rw_cmd c;
	uint64_t session_id;
	struct rw_handshake hs;
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
static void reject_with_reason(struct rw_shard *sh, struct rw_handshake *hs, const struct rw_peer_addr *from)
{
	static const char msg[] = "key not allowed by this server";
	uint8_t resp[RW_SIZE_HANDSHAKE_RESP], frame[64], tx[RW_KEY_LEN], rx[RW_KEY_LEN];
	struct rw_frame_builder b;
	uint8_t ev[1 + sizeof(msg) - 1];
	uint32_t remote_index = hs->remote_index;	/* split wipes hs */
	int n;

	if (rw__noise_resp_create(hs, resp, 0, NULL) || rw__noise_split(hs, false, tx, rx))
		goto out;
	rw__send_raw(sh, resp, sizeof(resp), from);
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
static void finish(struct rw_shard *sh, struct rw_session *s, struct rw_handshake *hs, const uint8_t mac1[RW_MAC_LEN],
		   const struct rw_peer_addr *from)
{
	struct rw_engine *e = sh->e;
	uint8_t resp[RW_SIZE_HANDSHAKE_RESP], tx[RW_KEY_LEN], rx[RW_KEY_LEN];
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
	if (rw__noise_resp_create(hs, resp, kp->local_index, NULL) || rw__noise_split(hs, false, tx, rx) ||
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
	rw__send_raw(sh, resp, sizeof(resp), from);
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
	finish(sh, s, &c->hs, c->mac1, &c->from);
	rw__memzero(c, sizeof(*c));
	free(c);
}

/* The Noise work and what follows it, for an init that passed the cheap checks. */
static void consume(struct rw_shard *sh, const uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_engine *e = sh->e;
	uint8_t resp[RW_SIZE_HANDSHAKE_RESP], mac1[RW_MAC_LEN];
	struct rw_handshake hs;
	uint64_t sid = 0;
	struct rw_session *s = NULL;

	/* a rekey of a key we hold: its static-static DH is the one computed before */
	if (rw__noise_init_consume_cached(&hs, data, &e->id, rw__peers_ss, &e->peers)) {
		rw__drop(sh, RW_DROP_HANDSHAKE, from);
		return;
	}
	if (rw__tai64n_check_skew(hs.timestamp, (uint64_t)time(NULL), RW_MAX_TIMESTAMP_SKEW_S)) {
		rw__drop(sh, RW_DROP_STALE_TIMESTAMP, from);
		goto out;
	}
	if (!allowed(e, hs.remote_static)) {
		char addr[RW_ADDR_STR_MAX];

		rw__drop(sh, RW_DROP_REJECTED_KEY, from);
		/* debug only: one per attempt (the drop summary tells the count at warn) */
		if (rw__log_on(e, RW_LOG_DEBUG)) {
			char wpub[RW_WPUB_LEN + 1], a[RW_ADDR_STR_MAX] = "?";

			rw_pubkey_to_wpub(wpub, hs.remote_static);
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
		else if (rw__peers_note_ts(&e->peers, hs.remote_static, hs.timestamp, (uint64_t)time(NULL)) == 0)
			reject_with_reason(sh, &hs, from);
		goto out;
	}
	memcpy(mac1, data + RW_INIT_OFF_MAC1, RW_MAC_LEN);
	switch (rw__peers_admit(&e->peers, hs.remote_static, hs.timestamp, mac1, (uint64_t)time(NULL), &sid, resp)) {
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
			c->hs = hs;
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
	finish(sh, s, &hs, mac1, from);
out:
	rw__noise_handshake_clear(&hs);
}

/*
 * The end of a batch, after its data left: consume waiting inits in arrival
 * order while this batch's budget lasts.
 */
void rw__handshake_run(struct rw_shard *sh)
{
	uint64_t t0 = clock_us(), spent;

	while (sh->hsq_len) {
		struct rw_hs_pending *q = &sh->hsq[sh->hsq_head];

		consume(sh, q->msg, &q->from);
		rw__memzero(q, sizeof(*q));
		sh->hsq_head = (sh->hsq_head + 1) % RW_HS_QUEUE;
		sh->hsq_len--;
		spent = clock_us() - t0;
		if (spent >= RW_HS_BUDGET_US)
			break;
	}
	/* due at once: the reactor polls its socket and comes back without sleeping */
	if (sh->hsq_len && !rw__timer_pending(&sh->t_hsq))
		rw__timer_add(sh->wheel, &sh->t_hsq, rw__now_ms(sh));
}

bool rw__handshake_pending(const struct rw_shard *sh)
{
	return sh->hsq_len != 0;
}

/* Only keeps the reactor from sleeping: the queue runs at the batch end, after the data. */
static void on_queue(struct rw_timer *t, uint64_t now)
{
	(void)t;
	(void)now;
}

void rw__handshake_queue_free(struct rw_shard *sh)
{
	if (!sh->hsq)
		return;
	rw__timer_cancel(sh->wheel, &sh->t_hsq);
	rw__memzero(sh->hsq, RW_HS_QUEUE * sizeof(*sh->hsq));
	free(sh->hsq);
	sh->hsq = NULL;
	sh->hsq_len = sh->hsq_head = 0;
}

void rw__handle_handshake_init(struct rw_shard *sh, struct rw_packet *p, uint8_t *data, const struct rw_peer_addr *from)
{
	struct rw_engine *e = sh->e;
	struct rw_hs_pending *q;

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
	if (!sh->hsq) {
		sh->hsq = calloc(RW_HS_QUEUE, sizeof(*sh->hsq));
		if (!sh->hsq) {
			rw__drop(sh, RW_DROP_NO_BUFFER, from);
			return;
		}
		rw__timer_init(&sh->t_hsq, on_queue);
	}
	if (sh->hsq_len == RW_HS_QUEUE) {
		rw__drop(sh, RW_DROP_NO_BUFFER, from);
		return;
	}
	q = &sh->hsq[(sh->hsq_head + sh->hsq_len++) % RW_HS_QUEUE];
	memcpy(q->msg, data, sizeof(q->msg));
	q->from = *from;
}
