/* SPDX-License-Identifier: MIT */
/*
 * session.c - a session's life on its shard: keypairs, opening and closing,
 * key rotation and roaming after decryption, frames and events up to the
 * application, reliable channels wired in (struct rw_reliable_ops), the
 * initiator's handshakes and reconnects (names looked up by the resolver,
 * off the reactor), and the public rw_session_* API.
 *
 * It calls down only: into send.c (every datagram), reliable.c, index.c,
 * the resolver and the timer wheel. The timers' hooks live in timers.c and
 * the packet handlers in handlers/; both call into this file, never the
 * other way round. Everything here runs on the owning shard's thread.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ratelimit.h"
#include "index.h"
#include "noise_worker.h"
#include "recv.h"
#include "reliable.h"
#include "send.h"
#include "session.h"
#include "tai64n.h"

static void arm(struct rw_session *s, struct rw_timer *t, uint64_t at)
{
	rw__timer_add(s->sh->wheel, t, at);
}

/* A uniform draw from 0 to max (0 when the random source fails: no jitter, nothing worse). */
static uint32_t jitter(uint32_t max)
{
	uint32_t r;

	if (!max || rw__random(&r, sizeof(r)))
		return 0;
	return r % (max + 1);
}

/*
 * When the initiator rekeys keys installed at born: rekey_after_ms less a
 * random share of up to RW_REKEY_JITTER_DIV-th of it, drawn per session and
 * per rekey. Sessions that connected together (a server restart brings its
 * clients back within seconds) would otherwise rekey together at every
 * interval, a wave of handshakes the server must compute at once while the
 * data queues behind them. Earlier, never later: keys never outlive the
 * configured interval.
 */
static uint64_t rekey_at(const struct rw_session *s, uint64_t born)
{
	uint32_t iv = s->e->t.rekey_after_ms;

	return born + iv - jitter(iv / RW_REKEY_JITTER_DIV);
}

uint64_t rw__session_keys_expire_at(const struct rw_session *s)
{
	return s->cur ? s->cur->born_ms + (uint64_t)RW_REKEY_REJECT_MUL * s->e->t.rekey_after_ms : UINT64_MAX;
}

/* ---- keypairs ---------------------------------------------------------------- */

struct rw_keypair *rw__keypair_new(struct rw_session *s, bool initiator)
{
	struct rw_keypair *kp = calloc(1, sizeof(*kp));

	if (!kp)
		return NULL;
	kp->s = s;
	kp->initiator = initiator;
	rw__replay_init(&kp->replay);
	if (rw__index_insert(s->sh, kp)) {
		free(kp);
		return NULL;
	}
	return kp;
}

int rw__keypair_install(struct rw_keypair *kp, const uint8_t send[RW_KEY_LEN], const uint8_t recv[RW_KEY_LEN],
			uint32_t remote_index)
{
	int ret = rw__aead_init(&kp->tx, send, 1);

	if (ret)
		return ret;
	ret = rw__aead_init(&kp->rx, recv, 0);
	if (ret) {
		rw__aead_free(&kp->tx);
		return ret;
	}
	kp->remote_index = remote_index;
	kp->born_ms = rw__now_ms(kp->s->sh);
	kp->ready = true;
	return 0;
}

/* Free a keypair that left the index already (or never entered it). */
static void keypair_release(struct rw_keypair *kp)
{
	if (!kp)
		return;
	if (kp->ready) {
		rw__aead_free(&kp->tx);
		rw__aead_free(&kp->rx);
	}
	rw__memzero(kp, sizeof(*kp));
	free(kp);
}

void rw__keypair_free(struct rw_keypair *kp)
{
	if (!kp)
		return;
	rw__index_remove(kp->s->sh, kp);
	keypair_release(kp);
}

/* ---- reliable channels: what reliable.c may ask of a session ---------------------- */

static void pmtu_arm(struct rw_session *s);

static int rel_send_frame(void *ctx, const uint8_t *frame, size_t len, bool retransmit)
{
	struct rw_session *s = ctx;

	if (s->state != RW_SS_ESTABLISHED)
		return -ENOTCONN;
	if (retransmit) {
		RW_STAT_INC(s->sh->st.retransmits);
		s->st.retransmits++;
		/*
		 * Lost in datagrams above the base size: maybe a black hole at the
		 * grown size (docs/protocol.md §13.6), which a probe confirms.
		 */
		if (s->pmtu.size > s->pmtu.cfg.base &&
		    len + RW_SIZE_DATA_MIN + RW_SIZE_FRAGMENT_HEADER > s->pmtu.cfg.base) {
			rw__pmtu_on_loss(&s->pmtu, rw__now_ms(s->sh));
			pmtu_arm(s);
		}
	}
	return rw__send_frame(s, frame, len);
}

static void deliver_events(struct rw_session *s, const struct rw_frame *f);

static bool rel_deliver(void *ctx, const struct rw_frame *f)
{
	struct rw_session *s = ctx;

	if (s->state != RW_SS_ESTABLISHED)
		return false;
	deliver_events(s, f);
	return s->state == RW_SS_ESTABLISHED;
}

static bool rel_writable(void *ctx, uint8_t channel)
{
	struct rw_session *s = ctx;
	const struct rw_handler *h = rw__engine_handler(s->e, channel);

	if (s->state != RW_SS_ESTABLISHED)
		return false;
	if (h && h->on_writable)
		h->on_writable(s, channel, h->user);
	return s->state == RW_SS_ESTABLISHED;
}

static void rel_fail(void *ctx, const char *why)
{
	struct rw_session *s = ctx;

	if (s->state == RW_SS_ESTABLISHED)
		rw__session_close(s, RW_CLOSE_RELIABLE, RW_CLOSE_F_TELL, why);
}

static const struct rw_reliable_ops rel_ops = {
	.send_frame = rel_send_frame,
	.deliver = rel_deliver,
	.writable = rel_writable,
	.fail = rel_fail,
};

static uint64_t shard_clock(const void *sh)
{
	return rw__now_ms(sh);
}

static bool shard_unread(const void *sh)
{
	return rw__reactor_unread(((const struct rw_shard *)sh)->r);
}

static int reliable_enable(struct rw_session *s, uint8_t channel, const struct rw_handler *h)
{
	struct rw_reliable_env env = {
		.ops = &rel_ops,
		.ctx = s,
		.wheel = s->sh->wheel,
		.clock = shard_clock,
		.clock_ctx = s->sh,
		.unread = shard_unread,
		.pool = &s->sh->pool,
		.ack_delay_ms = s->e->t.ack_delay_ms,
		.spurious = &s->sh->st.spurious_retransmits,
	};

	if (s->rel[channel])
		return 0;
	s->rel[channel] = rw__reliable_new(&env, channel, h);
	return s->rel[channel] ? 0 : -ENOMEM;
}

/* ---- sessions ------------------------------------------------------------------ */

/* Sessions that count against max_sessions: every one but the half-open. */
static bool table_full(const struct rw_shard *sh)
{
	return sh->nsessions - sh->nhalf_open >= sh->e->max_sessions / sh->e->nshards + 1;
}

static struct rw_session *session_alloc(struct rw_shard *sh, const uint8_t peer_key[RW_KEY_SIZE], uint64_t id)
{
	struct rw_engine *e = sh->e;
	const struct rw_session_timer_fns *fn = e->timer_fns;
	struct rw_session *s;
	struct rw_reasm_cfg rc = {
		.max_incomplete = e->max_incomplete,
		.max_frame = e->max_frame_bytes,
		.max_memory = e->max_frame_bytes + (e->max_frame_bytes >> 1),
		.max_age_ms = e->t.fragment_timeout_ms,
	};

	if (sh->ids_count * 2 > sh->ids_mask)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (rw__reasm_init(&s->reasm, &rc)) {
		free(s);
		return NULL;
	}
	s->e = e;
	s->sh = sh;
	s->id = id ? id : rw__id_make(++sh->next_id, sh->id);
	s->local = &e->id;
	memcpy(s->peer_key, peer_key, RW_KEY_SIZE);
	rw__timer_init(&s->t_keepalive, fn->keepalive);
	rw__timer_init(&s->t_timeout, fn->timeout);
	rw__timer_init(&s->t_rekey, fn->rekey);
	rw__timer_init(&s->t_handshake, fn->handshake_retry);
	rw__timer_init(&s->t_drain, fn->drain);
	rw__timer_init(&s->t_frag, fn->frag);
	rw__timer_init(&s->t_tick, fn->tick);
	rw__timer_init(&s->t_pace, fn->pace);
	rw__timer_init(&s->t_pmtu, fn->pmtu);
	rw__timer_init(&s->t_cover, fn->cover);
	rw__pmtu_init(&s->pmtu, &e->pmtu, rw__now_ms(sh));
	rw__send_session_init(s);
	s->last_rx_ms = s->last_tx_ms = rw__now_ms(sh);
	rw__ids_insert(sh, s);
	s->list_next = sh->sessions;
	if (sh->sessions)
		sh->sessions->list_prev = s;
	sh->sessions = s;
	sh->nsessions++;
	s->born_ms = rw__now_ms(sh);
	RW_STAT_INC(sh->st.sessions_opened);
	return s;
}

struct rw_session *rw__session_new(struct rw_shard *sh, const uint8_t peer_key[RW_KEY_SIZE], uint64_t id)
{
	return table_full(sh) ? NULL : session_alloc(sh, peer_key, id);
}

/* ---- responder sessions by peer address ----------------------------------------- */

/*
 * Under load, a HandshakeInit that proved its address (MAC2) still meets the
 * per-source rate limit and the half-open cap, which group by IP address: a
 * crowd of clients behind one NAT address that rekey together would be
 * throttled like strangers. A rekey comes from the address (IP and port)
 * its session has; spoofing one takes the cookie sent there. So the
 * confirmed responder sessions are kept by peer address, and such an init
 * skips those two limits (the cookie and the Noise budget still apply). A
 * session that roamed to another reactor's socket is simply not found.
 */
static uint32_t addr_hash(const struct rw_peer_addr *a)
{
	const uint8_t *p = (const uint8_t *)&a->u;
	uint32_t h = 2166136261u;

	for (socklen_t i = 0; i < a->len; i++)
		h = (h ^ p[i]) * 16777619u;
	return h ^ h >> 15;
}

static void addr_unlink(struct rw_session *s)
{
	struct rw_shard *sh = s->sh;
	struct rw_session **pp;

	if (!s->in_addr_map)
		return;
	for (pp = &sh->by_addr[addr_hash(&s->peer) & sh->by_addr_mask]; *pp; pp = &(*pp)->addr_next) {
		if (*pp == s) {
			*pp = s->addr_next;
			break;
		}
	}
	s->addr_next = NULL;
	s->in_addr_map = false;
}

static void addr_link(struct rw_session *s)
{
	struct rw_shard *sh = s->sh;
	struct rw_session **b;

	if (s->initiator || s->half_open || s->state == RW_SS_CLOSED || s->in_addr_map)
		return;
	if (!sh->by_addr) {
		uint32_t n = 1024;

		while (n < sh->e->max_sessions / sh->e->nshards + 1 && n < (1u << 20))
			n <<= 1;
		sh->by_addr = calloc(n, sizeof(*sh->by_addr));
		if (!sh->by_addr)
			return;	/* not found later: the ordinary limits apply */
		sh->by_addr_mask = n - 1;
	}
	b = &sh->by_addr[addr_hash(&s->peer) & sh->by_addr_mask];
	s->addr_next = *b;
	*b = s;
	s->in_addr_map = true;
}

/* The peer's address changes: the map follows. */
static void move_peer(struct rw_session *s, const struct rw_peer_addr *a)
{
	bool mapped = s->in_addr_map;

	addr_unlink(s);
	s->peer = *a;
	s->orphan_ms = 0;	/* a connection again (TCP) */
	if (mapped)
		addr_link(s);
	/* over TCP every size the peer takes goes through: no search (docs/protocol.md §13.6) */
	rw__pmtu_set_stream(&s->pmtu, a->via == RW_VIA_TCP);
}

bool rw__session_known_addr(const struct rw_shard *sh, const struct rw_peer_addr *from)
{
	if (!sh->by_addr)
		return false;
	for (const struct rw_session *s = sh->by_addr[addr_hash(from) & sh->by_addr_mask]; s; s = s->addr_next)
		if (rw__peer_eq(&s->peer, from))
			return true;
	return false;
}

void rw__shard_peer_gone(void *up, const struct rw_peer_addr *peer)
{
	struct rw_shard *sh = up;
	struct rw_session *s, *next;

	if (!sh->by_addr)
		return;
	/*
	 * Nothing can reach them until the client comes back: a client whose
	 * connection broke opens another with its next packet, and its
	 * sessions roam to it (rx_ok: a new peer address) with their reliable
	 * state whole. One that does not come back within tcp_stall_ms is
	 * closed then (on_timeout), not a whole session timeout later.
	 * Half-open ones expire on their own, sooner.
	 */
	for (s = sh->by_addr[addr_hash(peer) & sh->by_addr_mask]; s; s = next) {
		next = s->addr_next;
		if (rw__peer_eq(&s->peer, peer) && s->state != RW_SS_CLOSED && !s->orphan_ms) {
			s->orphan_ms = rw__now_ms(sh);
			arm(s, &s->t_timeout, s->orphan_ms + sh->tcp.stall_ms);
		}
	}
}

/* ---- half-open responder sessions ------------------------------------------------ */

/*
 * What a flood of HandshakeInits with fresh keys can make us hold: sessions
 * we answered but whose initiator never used the keys. They wait in a FIFO
 * of their own, bounded per shard, so the table of real sessions stays out of
 * an attacker's reach (WireGuard gets the same from its per-peer handshake
 * state; an open server has no peer list to hang it on).
 */
static void half_open_unlink(struct rw_session *s)
{
	struct rw_shard *sh = s->sh;

	if (!s->half_open)
		return;
	if (s->ho_prev)
		s->ho_prev->ho_next = s->ho_next;
	else
		sh->ho_head = s->ho_next;
	if (s->ho_next)
		s->ho_next->ho_prev = s->ho_prev;
	else
		sh->ho_tail = s->ho_prev;
	s->ho_next = s->ho_prev = NULL;
	s->half_open = false;
	RW_STAT_ADD(sh->nhalf_open, (uint32_t)-1);
}

struct rw_session *rw__session_new_half_open(struct rw_shard *sh, const uint8_t peer_key[RW_KEY_SIZE],
					      const struct rw_peer_addr *from)
{
	struct rw_session *s;

	if (table_full(sh))
		return NULL;
	while (sh->ho_head && sh->nhalf_open >= sh->e->max_half_open) {
		/* the oldest is the likeliest dead: a real client confirms within a round trip */
		RW_STAT_INC(sh->half_open_evicted);
		rw__session_close(sh->ho_head, RW_CLOSE_TIMEOUT, 0, "half-open session evicted (server crowded)");
	}
	s = session_alloc(sh, peer_key, 0);
	if (!s)
		return NULL;
	if (rw__ratelimit_key(s->source, &from->u.sa))
		memset(s->source, 0, sizeof(s->source));
	s->half_open = true;
	s->ho_prev = sh->ho_tail;
	if (sh->ho_tail)
		sh->ho_tail->ho_next = s;
	else
		sh->ho_head = s;
	sh->ho_tail = s;
	RW_STAT_INC(sh->nhalf_open);
	return s;
}

unsigned rw__half_open_from(const struct rw_shard *sh, const struct rw_peer_addr *from)
{
	uint8_t src[RW_RL_KEY_LEN];
	unsigned n = 0;

	if (rw__ratelimit_key(src, &from->u.sa))
		return 0;
	/* bounded by the pool (max_half_open per shard), and only under load */
	for (const struct rw_session *s = sh->ho_head; s; s = s->ho_next)
		n += memcmp(s->source, src, sizeof(src)) == 0;
	return n;
}

bool rw__shard_crowded(const struct rw_shard *sh)
{
	uint32_t table = sh->e->max_sessions / sh->e->nshards + 1;

	return sh->nhalf_open * 2 >= sh->e->max_half_open || (sh->nsessions - sh->nhalf_open) * 10 >= table * 9;
}

void rw__half_open_expire(struct rw_session *s)
{
	RW_STAT_INC(s->sh->half_open_expired);
	rw__session_close(s, RW_CLOSE_TIMEOUT, 0, "handshake never confirmed");
}

/* The initiator used our keys: the session is real and takes a table slot. */
static void half_open_confirm(struct rw_session *s)
{
	/* counted among the half-open until now, so full means full without it */
	bool full = table_full(s->sh);

	half_open_unlink(s);
	if (full) {
		rw__session_close(s, RW_CLOSE_LOCAL, RW_CLOSE_F_TELL, "server full");
		return;
	}
	addr_link(s);
	arm(s, &s->t_timeout, s->last_rx_ms + s->e->t.session_timeout_ms);
	pmtu_arm(s);
}

struct rw_session *rw__session_by_id(struct rw_shard *sh, uint64_t id)
{
	return rw__ids_lookup(sh, id);
}

void rw__session_set_peer(struct rw_session *s, const struct rw_peer_addr *a)
{
	struct rw_peer_addr p = *a;

	/* a dial's address comes from the resolver: the session says which transport reaches it */
	if (s->initiator) {
		p.via = s->via;
		p.conn = 0;
	}
	move_peer(s, &p);
}

/*
 * Closing happens in two steps. detach() runs at close time: the session
 * leaves every table, so no packet, command or timer can reach it again.
 * Its memory stays until the end of the batch (rw__shard_reap), because a
 * callback that closed it may still be on the stack of the code that
 * delivered to it.
 */
static void detach(struct rw_session *s)
{
	struct rw_shard *sh = s->sh;
	struct rw_timer_wheel *w = sh->wheel;
	struct rw_keypair *kps[5] = { s->prev, s->cur, s->next, s->next_old, s->hs_kp };

	half_open_unlink(s);
	addr_unlink(s);
	rw__timer_cancel(w, &s->t_keepalive);
	rw__timer_cancel(w, &s->t_timeout);
	rw__timer_cancel(w, &s->t_rekey);
	rw__timer_cancel(w, &s->t_handshake);
	rw__timer_cancel(w, &s->t_drain);
	rw__timer_cancel(w, &s->t_frag);
	rw__timer_cancel(w, &s->t_tick);
	rw__timer_cancel(w, &s->t_pace);
	rw__timer_cancel(w, &s->t_pmtu);
	rw__timer_cancel(w, &s->t_cover);
	for (int ch = 0; ch < RW_MAX_CHANNELS; ch++)
		rw__reliable_stop(s->rel[ch]);
	rw__send_session_stop(s);
	for (int i = 0; i < 5; i++) {
		if (kps[i]) {
			rw__index_remove(sh, kps[i]);
			kps[i]->local_index = 0;
		}
	}
	rw__ids_remove(sh, s);
	if (s->list_prev)
		s->list_prev->list_next = s->list_next;
	else
		sh->sessions = s->list_next;
	if (s->list_next)
		s->list_next->list_prev = s->list_prev;
	sh->nsessions--;
	if (!sh->nsessions) {
		/* the last one gone (the shard stops, say): the map goes too, made again on need */
		free(sh->by_addr);
		sh->by_addr = NULL;
	}
	s->list_prev = NULL;
	s->list_next = sh->graveyard;
	sh->graveyard = s;
	sh->closes++;
}

void rw__shard_reap(struct rw_shard *sh)
{
	while (sh->graveyard) {
		struct rw_session *s = sh->graveyard;

		sh->graveyard = s->list_next;
		for (int ch = 0; ch < RW_MAX_CHANNELS; ch++)
			rw__reliable_free(s->rel[ch]);
		rw__send_session_free(s);
		keypair_release(s->prev);
		keypair_release(s->cur);
		keypair_release(s->next);
		keypair_release(s->next_old);
		keypair_release(s->hs_kp);
		rw__reasm_destroy(&s->reasm);
		free(s->hints);
		rw__memzero(s, sizeof(*s));
		free(s);
	}
}

/* ---- sending ------------------------------------------------------------------------ */

/* What the pipeline flagged on a session: a reliable frame it could not keep, a rekey due. */
static void attend(struct rw_session *s)
{
	if (s->tx.doomed && s->state != RW_SS_CLOSED) {
		s->tx.doomed = false;
		rw__session_close(s, RW_CLOSE_RELIABLE, RW_CLOSE_F_TELL, "out of memory for a reliable frame");
		return;
	}
	if (s->tx.rekey_due) {
		s->tx.rekey_due = false;
		if (s->initiator && !s->hs_kp && !s->resolving && s->state == RW_SS_ESTABLISHED)
			rw__session_handshake_start(s);
	}
}

int rw__session_send_event(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	int ret;

	if (s->state != RW_SS_ESTABLISHED || !s->cur)
		return -ENOTCONN;
	if (len > s->e->max_frame_bytes)
		return -EMSGSIZE;
	ret = rw__send_event(s, channel, type, payload, len);
	if (rw_unlikely(s->tx.doomed)) {
		attend(s);
		return -ENOTCONN;
	}
	return ret;
}

void rw__shard_batch_end(struct rw_shard *sh)
{
	struct rw_session *s;

	rw__send_batch_end(sh);
	while ((s = rw__send_attn_pop(sh)))
		attend(s);
	/* what attend() sent (a close's reason and Disconnect) leaves in this batch too */
	rw__send_batch_end(sh);
	rw__shard_reap(sh);
}

/* ---- receive path -------------------------------------------------------------- */

void rw__session_opened(struct rw_session *s)
{
	struct rw_engine *e = s->e;

	if (s->opened)
		return;
	s->opened = true;
	s->state = RW_SS_ESTABLISHED;
	RW_STAT_INC(s->sh->st.sessions_open);
	pmtu_arm(s);
	if (rw__log_on(e, RW_LOG_DEBUG)) {
		char wpub[RW_WPUB_LEN + 1], addr[RW_ADDR_STR_MAX] = "?";

		rw_pubkey_to_wpub(wpub, s->peer_key);
		rw__peer_to_string(addr, &s->peer);
		rw__log(e, RW_LOG_DEBUG, "session opened", 2, "peer", wpub, "addr", addr);
	}

	/* every channel's handler hears of the new session */
	for (int ch = 0; ch < RW_MAX_CHANNELS; ch++) {
		if (e->has_handler[ch]) {
			if (e->handlers[ch].flags & RW_CHANNEL_RELIABLE)
				reliable_enable(s, (uint8_t)ch, &e->handlers[ch]);
			if (e->handlers[ch].on_open)
				e->handlers[ch].on_open(s, e->handlers[ch].user);
		}
		if (s->state == RW_SS_CLOSED)
			return;
	}
	if (e->has_any && e->any.on_open)
		e->any.on_open(s, e->any.user);
}

void rw__session_keys_established(struct rw_session *s, struct rw_keypair *kp)
{
	struct rw_engine *e = s->e;
	uint64_t now = rw__now_ms(s->sh);

	if (kp->initiator) {
		/* the response proved the peer has the keys: use them at once */
		if (s->prev)
			rw__keypair_free(s->prev);
		s->prev = s->cur;
		s->cur = kp;
		if (s->prev)
			arm(s, &s->t_drain, now + e->t.rekey_drain_ms);
		arm(s, &s->t_rekey, rekey_at(s, now));
	} else {
		/*
		 * Responder: hold the new keys as next until the initiator uses
		 * them (key confirmation, as WireGuard); keep sending on the
		 * current ones. A first session has nothing else: use it now.
		 */
		if (!s->cur) {
			s->cur = kp;
		} else {
			rw__keypair_free(s->next_old);
			s->next_old = s->next;
			s->next = kp;
		}
	}
	RW_STAT_INC(s->sh->st.handshakes_completed);
	if (kp->initiator && s->hs_started_ns)
		rw__hist_add(&s->sh->ops.hs_time, rw__now_ns() - s->hs_started_ns);
	if (s->opened) {
		s->st.rekeys++;
		RW_STAT_INC(s->sh->st.rekeys);
	}
	s->last_rx_ms = now;
	arm(s, &s->t_timeout, s->half_open ? s->born_ms + e->half_open_timeout_ms : now + e->t.session_timeout_ms);
	arm(s, &s->t_keepalive, now + e->t.keepalive_ms);
	if (e->pad.cover_interval_ms)
		arm(s, &s->t_cover, now + e->pad.cover_interval_ms);
}

void rw__session_rx_ok(struct rw_session *s, struct rw_keypair *kp, const struct rw_peer_addr *from, size_t bytes)
{
	struct rw_shard *sh = s->sh;

	if (rw_unlikely(kp == s->next || kp == s->next_old)) {
		/* the initiator uses the new keys: they are confirmed, rotate */
		if (s->prev)
			rw__keypair_free(s->prev);
		rw__keypair_free(kp == s->next ? s->next_old : s->next);
		s->prev = s->cur;
		s->cur = kp;
		s->next = s->next_old = NULL;
		arm(s, &s->t_drain, rw__now_ms(sh) + s->e->t.rekey_drain_ms);
	}
	/* roaming: the authenticated packet's source is where the peer now is */
	if (rw_unlikely(!rw__peer_eq(&s->peer, from)) && kp == s->cur) {
		move_peer(s, from);
		/* another path: its MTU is learnt afresh */
		rw__pmtu_reset(&s->pmtu, rw__now_ms(sh));
		pmtu_arm(s);
	}
	s->last_rx_ms = rw__now_ms(sh);
	s->aead_failures = 0;
	s->st.rx_packets++;
	s->st.rx_bytes += bytes;
	if (rw_unlikely(s->half_open))
		half_open_confirm(s);
}

void rw__session_aead_failed(struct rw_session *s)
{
	/*
	 * A session that worked and now fails repeatedly (the peer restarted
	 * and lost its keys, say): the initiator re-handshakes rather than
	 * going silent until the timeout.
	 */
	if (++s->aead_failures >= RW_AEAD_FAILURES_REHANDSHAKE && s->initiator && !s->hs_kp && !s->resolving) {
		s->aead_failures = 0;
		rw__session_handshake_start(s);
	}
}

/* ---- path MTU discovery (docs/protocol.md §13.6) --------------------------------- */

static void pmtu_arm(struct rw_session *s)
{
	/*
	 * Not before the peer proved its address (a half-open responder session
	 * is confirmed by the initiator's first packet under the new keys): a
	 * 1232-byte probe answering a 148-byte HandshakeInit would amplify.
	 */
	if (s->pmtu.due != UINT64_MAX && s->state == RW_SS_ESTABLISHED && !s->half_open)
		arm(s, &s->t_pmtu, s->pmtu.due);
}

void rw__session_pmtu_run(struct rw_session *s, uint64_t now)
{
	uint64_t holes = s->pmtu.black_holes;
	uint32_t size, id;

	if (s->state != RW_SS_ESTABLISHED || s->half_open)
		return;	/* half_open_confirm arms it again */
	if (!s->cur || !s->cur->ready) {
		/* reconnecting: probes wait for the keys */
		arm(s, &s->t_pmtu, now + RW_PMTU_PROBE_TIMEOUT_INIT_MS);
		return;
	}
	if (s->pmtu.size > s->pmtu.cfg.base) {
		/* reliable frames ACKed since the last look: datagrams of their size got through */
		size_t big = 0;

		for (unsigned ch = 0; ch < RW_MAX_CHANNELS; ch++) {
			if (s->rel[ch]) {
				size_t n = rw__reliable_take_acked_max(s->rel[ch], now);

				big = n > big ? n : big;
			}
		}
		if (big) {
			size_t dgram = big + RW_SIZE_DATA_MIN;

			/* a frame above the size went in fragments of the size */
			rw__pmtu_on_delivered(&s->pmtu, dgram > s->pmtu.size ? s->pmtu.size : dgram, now);
		}
	}
	if (rw__pmtu_poll(&s->pmtu, now, &size, &id) && rw__send_probe(s, size, id))
		rw__pmtu_unsent(&s->pmtu, now);
	if (s->pmtu.black_holes != holes)
		RW_STAT_ADD(s->sh->pmtu_black_holes, s->pmtu.black_holes - holes);
	pmtu_arm(s);
}

static void pmtu_rx(struct rw_session *s, uint8_t type, const uint8_t *p, size_t len)
{
	struct rw_pmtu_msg m;

	if (s->e->pmtu_deaf || rw__pmtu_msg_parse(&m, type, p, len))
		return;
	if (type == RW_INTERNAL_PMTU_PROBE) {
		uint8_t ack[RW_PMTU_MSG_LEN];

		rw__pmtu_on_peer_max(&s->pmtu, m.max);
		/* answered at the end of this batch, in a small frame of its own */
		rw__pmtu_ack_put(ack, m.id, m.size, s->e->pmtu_rx_max);
		rw__send_event(s, RW_CHANNEL_INTERNAL, RW_INTERNAL_PMTU_ACK, ack, sizeof(ack));
		return;
	}
	rw__pmtu_on_ack(&s->pmtu, m.id, m.size, m.max, rw__now_ms(s->sh));
	pmtu_arm(s);
}

static void deliver_internal(struct rw_session *s, uint8_t type, const uint8_t *p, size_t len)
{
	if (type == RW_INTERNAL_PMTU_PROBE || type == RW_INTERNAL_PMTU_ACK) {
		pmtu_rx(s, type, p, len);
		return;
	}
	if (type == RW_INTERNAL_CLOSE_REASON && len >= 1) {
		s->peer_reason = p[0] < RW_CLOSE__COUNT ? (enum rw_close_reason)p[0] : RW_CLOSE_PEER;
		s->peer_gave_reason = true;
		len = len - 1 > RW_CLOSE_MESSAGE_MAX ? RW_CLOSE_MESSAGE_MAX : len - 1;
		memcpy(s->peer_message, p + 1, len);
		s->peer_message[len] = 0;
	}
	/* anything else on channel 255 is from a later version: ignored */
}

/* Deliver the events of one frame; the caller counted the frame. */
static void deliver_events(struct rw_session *s, const struct rw_frame *f)
{
	const struct rw_handler *h = rw__engine_handler(s->e, f->channel);
	struct rw_frame_iter it;
	const uint8_t *payload;
	uint8_t type;
	size_t plen;

	rw__frame_iter_init(&it, f);
	while (rw__frame_next_event(&it, &type, &payload, &plen)) {
		if (f->channel == RW_CHANNEL_INTERNAL) {
			deliver_internal(s, type, payload, plen);
			continue;
		}
		if (type == RW_EVENT_CHANNEL_CLOSE) {
			/* docs/protocol.md §13.1: the peer closed the channel; it reopens on the next frame */
			rw__reliable_reset(s->rel[f->channel]);
			continue;
		}
		s->st.events_in++;
		RW_STAT_INC(s->sh->st.events_in);
		if (h && h->on_event) {
			struct rw_shard *sh = s->sh;

			h->on_event(s, f->channel, type, payload, plen, h->user);
			/* sampled: a clock read per event would cost more than many handlers */
			if (!(++sh->dispatch_tick % RW_DISPATCH_SAMPLE) && sh->batch_start_ns)
				rw__hist_add(&sh->ops.dispatch, rw__now_ns() - sh->batch_start_ns);
		}
		if (s->state == RW_SS_CLOSED)
			return;
	}
}

void rw__session_deliver_frame(struct rw_session *s, const uint8_t *frame, size_t len)
{
	struct rw_frame f;

	if (rw__frame_decode(&f, frame, len)) {
		rw__drop(s->sh, RW_DROP_BAD_FRAME, NULL);
		return;
	}
	if (f.channel == RW_CHANNEL_INTERNAL || !(f.rel.seq || f.rel.ack_seq || f.present)) {
		deliver_events(s, &f);
		return;
	}
	if (!s->rel[f.channel]) {
		/* docs/protocol.md §11.8: reliable frames from the peer make the channel reliable here too */
		if (!f.rel.seq) {
			deliver_events(s, &f);
			return;
		}
		if (reliable_enable(s, f.channel, rw__engine_handler(s->e, f.channel)))
			return;
	}
	rw__reliable_rx(s->rel[f.channel], &f);
}

void rw__session_frag_timer(struct rw_session *s)
{
	if (!rw__timer_pending(&s->t_frag))
		arm(s, &s->t_frag, rw__now_ms(s->sh) + s->e->t.fragment_timeout_ms);
}

/* ---- closing ------------------------------------------------------------------ */

static void send_reason(struct rw_session *s, enum rw_close_reason reason, const char *message)
{
	uint8_t p[1 + RW_CLOSE_MESSAGE_MAX];
	size_t n = message ? strlen(message) : 0;

	if (n > RW_CLOSE_MESSAGE_MAX)
		n = RW_CLOSE_MESSAGE_MAX;
	p[0] = (uint8_t)reason;
	memcpy(p + 1, message, n);
	rw__send_event(s, RW_CHANNEL_INTERNAL, RW_INTERNAL_CLOSE_REASON, p, 1 + n);
	rw__send_flush(s);
}

/*
 * One record per closed session. A dial's close goes to the application's
 * on_close, which tells its user: debug here. A server's: debug for the
 * everyday reasons, info for a rejected key, warn for the ones an operator
 * acts on (a peer or a network that stopped working).
 */
static void log_close(struct rw_session *s, const struct rw_close_info *info)
{
	enum rw_log_level level = RW_LOG_DEBUG;

	if (!s->initiator && (info->reason == RW_CLOSE_RELIABLE || info->reason == RW_CLOSE_NETWORK ||
			      info->reason == RW_CLOSE_PROTOCOL))
		level = RW_LOG_WARN;
	else if (!s->initiator && info->reason == RW_CLOSE_REJECTED)
		level = RW_LOG_INFO;
	char wpub[RW_WPUB_LEN + 1], a[RW_ADDR_STR_MAX] = "?";

	if (!rw__log_on(s->e, level))
		return;
	rw_pubkey_to_wpub(wpub, s->peer_key);
	rw__peer_to_string(a, &s->peer);
	rw__log(s->e, level, "session closed", 5, "peer", wpub, "addr", a, "reason",
		rw__close_reason_token(info->reason), "by", info->by_peer ? "peer" : "local", "message", info->message);
}

void rw__session_close(struct rw_session *s, enum rw_close_reason reason, unsigned flags, const char *message)
{
	struct rw_engine *e = s->e;
	struct rw_close_info info;
	bool was_open = s->opened, by_peer = flags & RW_CLOSE_F_BY_PEER;

	if (s->state == RW_SS_CLOSED)
		return;
	rw__send_flush(s);
	if (!by_peer && s->cur && s->cur->ready && s->state == RW_SS_ESTABLISHED) {
		if (flags & RW_CLOSE_F_TELL)
			send_reason(s, reason, message);
		rw__send_control(s, RW_MSG_DISCONNECT);
	}
	s->state = RW_SS_CLOSED;
	info.reason = by_peer && s->peer_gave_reason ? s->peer_reason : reason;
	info.by_peer = by_peer;
	info.message = by_peer && s->peer_gave_reason ? s->peer_message : (message ? message : "");
	if (was_open) {
		for (int ch = 0; ch < RW_MAX_CHANNELS; ch++)
			if (e->has_handler[ch] && e->handlers[ch].on_close)
				e->handlers[ch].on_close(s, &info, e->handlers[ch].user);
		if (e->has_any && e->any.on_close)
			e->any.on_close(s, &info, e->any.user);
		RW_STAT_ADD(s->sh->st.sessions_open, (uint64_t)-1);
	} else if (s->initiator) {
		/* a dial that never opened still tells the application why */
		if (e->has_any && e->any.on_close)
			e->any.on_close(s, &info, e->any.user);
		for (int ch = 0; ch < RW_MAX_CHANNELS; ch++)
			if (e->has_handler[ch] && e->handlers[ch].on_close)
				e->handlers[ch].on_close(s, &info, e->handlers[ch].user);
	}
	RW_STAT_INC(s->sh->st.sessions_closed);
	RW_STAT_INC(s->sh->ops.closed[(unsigned)info.reason < RW_CLOSE__COUNT ? info.reason : RW_CLOSE_PROTOCOL]);
	if (was_open || s->initiator)
		log_close(s, &info);
	if (!s->initiator)
		rw__peers_unbind(&e->peers, s->peer_key, s->id);
	detach(s);
}

struct cmd_close {
	struct rw_cmd c;
	uint64_t id;
	enum rw_close_reason reason;
	const char *message;
};

static void run_close(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct cmd_close *c = (struct cmd_close *)cmd;
	struct rw_session *s = rw__session_by_id(sh, c->id);

	if (s)
		rw__session_close(s, c->reason, RW_CLOSE_F_TELL, c->message);
	free(c);
}

int rw__session_close_id(struct rw_engine *e, uint64_t id, enum rw_close_reason reason, const char *message)
{
	struct rw_shard *sh = rw__shard_of_id(e, id);
	struct cmd_close *c;
	int ret;

	if (!sh)
		return -ENOENT;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->c.run = run_close;
	c->id = id;
	c->reason = reason;
	c->message = message;
	ret = rw__shard_post(sh, &c->c);
	if (ret)
		free(c);
	return ret;
}

void rw__shard_close_all(struct rw_shard *sh, enum rw_close_reason reason, const char *message)
{
	while (sh->sessions)
		rw__session_close(sh->sessions, reason, RW_CLOSE_F_TELL, message);
}

/* ---- initiator handshakes ---------------------------------------------------------- */

/* The init in hs_msg goes out, with MAC2 when we hold a cookie. */
static int init_send(struct rw_session *s)
{
	int ret;

	/* a cookie still fresh (WireGuard: 120 s minus latency) goes in MAC2 */
	if (s->has_cookie && rw__now_ms(s->sh) - s->cookie_ms < 115000) {
		ret = rw__cookie_mac2_put(s->hs_msg, s->cookie);
		if (ret)
			return ret;
	}
	RW_STAT_INC(s->sh->st.handshakes_initiated);
	return rw__send_raw(s->sh, s->hs_msg, sizeof(s->hs_msg), &s->peer);
}

static void init_work(struct rw_nw_job *j)
{
	j->ret = rw__noise_init_create(&j->hs, j->out, &j->id, &j->remote, j->index, j->ts, NULL);
}

/* A rekey's init back from the worker: still the attempt we wait on? Then it goes out. */
static void init_done(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct rw_nw_job *j = rw_container_of(cmd, struct rw_nw_job, c);
	struct rw_session *s = rw__session_by_id(sh, j->session_id);

	if (s && !j->ret && s->hs_gen == j->gen && s->hs_kp && s->hs_kp->local_index == j->index &&
	    s->state == RW_SS_ESTABLISHED) {
		rw__noise_handshake_clear(&s->hs);
		s->hs = j->hs;
		memcpy(s->hs_msg, j->out, sizeof(s->hs_msg));
		(void)init_send(s);	/* a send that fails is retried with the attempt */
	}
	rw__nw_put(sh->nw, j);
}

/*
 * A rekey's init is made on the Noise worker (an ephemeral and two X25519):
 * the session keeps sending on its keys meanwhile. 0 when it went there.
 */
static int init_offload(struct rw_session *s, const uint8_t ts[RW_TAI64N_LEN])
{
	struct rw_noise_worker *nw = rw__nw_of(s->sh);
	struct rw_nw_job *j = nw ? rw__nw_get(nw) : NULL;

	if (!j)
		return -ENOBUFS;
	j->session_id = s->id;
	j->gen = s->hs_gen;
	j->index = s->hs_kp->local_index;
	j->id = *s->local;
	j->remote = s->remote;
	memcpy(j->ts, ts, RW_TAI64N_LEN);
	j->work = init_work;
	j->c.run = init_done;
	if (rw__nw_submit(nw, j) == 0)
		return 0;
	rw__nw_put(nw, j);
	return -EAGAIN;
}

static int send_init(struct rw_session *s)
{
	uint8_t ts[RW_TAI64N_LEN];
	int ret;

	if (!s->hs_kp) {
		s->hs_kp = rw__keypair_new(s, true);
		if (!s->hs_kp)
			return -ENOMEM;
	}
	rw__tai64n_now(ts);
	s->cookie_retried = false;
	s->hs_gen++;	/* an init still on the worker for an earlier attempt is not sent */
	if (s->state == RW_SS_ESTABLISHED && init_offload(s, ts) == 0)
		return 0;
	ret = rw__noise_init_create(&s->hs, s->hs_msg, s->local, &s->remote, s->hs_kp->local_index, ts, NULL);
	if (ret)
		return ret;
	return init_send(s);
}

/* Still waiting for a first answer over UDP in AUTO mode: TCP is tried at hs_started_ms + tcp_fallback_ms. */
static bool tcp_fallback_due(const struct rw_session *s)
{
	return s->tcp_auto && s->via == RW_VIA_UDP && s->state == RW_SS_CONNECTING;
}

/* A retry due at `due`, or earlier when a first dial's handshake_timeout_ms (or the TCP fallback) comes. */
static uint64_t hs_due(const struct rw_session *s, uint64_t due)
{
	uint64_t deadline = s->hs_started_ms + s->e->hs_timeout_ms;

	if (s->state == RW_SS_CONNECTING && s->e->hs_timeout_ms && deadline < due)
		due = deadline;
	if (tcp_fallback_due(s) && s->hs_started_ms + s->e->tcp_fallback_ms < due)
		due = s->hs_started_ms + s->e->tcp_fallback_ms;
	return due;
}

/* Why a dial got no answer, and what to check: the key and the address are the usual suspects. */
static void close_unanswered(struct rw_session *s, const char *within)
{
	char a[RW_ADDR_STR_MAX] = "?", msg[160];

	rw__peer_to_string(a, &s->peer);
	snprintf(msg, sizeof(msg), "no handshake response from %s %s; check the server's key and address", a, within);
	rw__session_close(s, RW_CLOSE_RETRIES, 0, msg);
}

/* A send error that no retry fixes (no route, wrong address family, not permitted). */
static bool permanent(int err)
{
	switch (-err) {
	case EAFNOSUPPORT:
	case ENETUNREACH:
	case EACCES:
	case EPERM:
	case EADDRNOTAVAIL:
		return true;
	default:
		return false;
	}
}

static bool next_hint(struct rw_session *s);

/* A TCP connection refused: nothing listens there on TCP, and a retry will not change that soon. */
static bool tcp_refused(const struct rw_peer_addr *to, int err)
{
	return to->via == RW_VIA_TCP && err == -ECONNREFUSED;
}

bool rw__session_dial_error(struct rw_session *s, int err)
{
	char a[RW_ADDR_STR_MAX] = "?", msg[256];
	const char *hint;

	if (s->state != RW_SS_CONNECTING || !(permanent(err) || tcp_refused(&s->peer, err)))
		return false;
	if (next_hint(s))
		return true;	/* that address cannot be reached from here: the next one may */
	switch (-err) {
	case EAFNOSUPPORT:
		hint = "bind an address of the server's family (--bind)";
		break;
	case ENETUNREACH:
	case EADDRNOTAVAIL:
		/* an IPv4 server from a socket bound to one IPv6 address says "unreachable" */
		hint = s->sh->tr->v6_source_only && rw__peer_family(&s->peer) == AF_INET
			       ? "bind an address of the server's family (--bind)"
			       : "check the server's address, or bind one that can reach it (--bind)";
		break;
	case ECONNREFUSED:
		hint = "nothing serves TCP there (a server needs --listen-tcp, or dial over UDP)";
		break;
	default:
		hint = "a firewall rule or the kind of address (broadcast?) forbids it";
		break;
	}
	rw__peer_to_string(a, &s->peer);
	snprintf(msg, sizeof(msg), "%s to %s failed: %s; %s", s->peer.via == RW_VIA_TCP ? "TCP connection" : "send",
		 a, strerror(-err), hint);
	rw__session_close(s, RW_CLOSE_NETWORK, 0, msg);
	return true;
}

void rw__shard_send_failed(void *up, const struct rw_peer_addr *to, int err)
{
	struct rw_shard *sh = up;
	struct rw_session *s, *next;

	/* only dials end on a send error, and only servers have many sessions to walk */
	if (sh->e->server || !(permanent(err) || tcp_refused(to, err)))
		return;
	for (s = sh->sessions; s; s = next) {
		next = s->list_next;
		if (s->initiator && s->state == RW_SS_CONNECTING && rw__peer_eq(&s->peer, to))
			rw__session_dial_error(s, err);
	}
}

/*
 * Up to a third of the first retry interval, at most RW_HANDSHAKE_JITTER_MAX_MS
 * (WireGuard's REKEY_TIMEOUT_JITTER_MAX): inits that a burst of loss or a
 * busy server left unanswered do not all come back in the same millisecond.
 */
static uint32_t retry_jitter(const struct rw_session *s)
{
	uint32_t max = s->e->t.handshake_retry_ms / 3;

	return jitter(max < RW_HANDSHAKE_JITTER_MAX_MS ? max : RW_HANDSHAKE_JITTER_MAX_MS);
}

/*
 * A rekey still unanswered when the current keys reach their hard limit: they
 * may not be used any longer. A persistent client starts over as after a
 * timeout (§7.7); anything else closes.
 */
static void rekey_expired(struct rw_session *s, uint64_t now)
{
	char msg[128];

	rw__keypair_free(s->hs_kp);
	s->hs_kp = NULL;
	rw__noise_handshake_clear(&s->hs);
	if (s->e->reconnect) {
		arm(s, &s->t_timeout, now + s->e->t.session_timeout_ms);
		rw__session_reconnect(s, now);
		return;
	}
	snprintf(msg, sizeof(msg), "no rekey within %u ms (the keys expired after %u attempts); check the server",
		 (unsigned int)(RW_REKEY_REJECT_MUL * s->e->t.rekey_after_ms), (unsigned int)s->hs_attempt);
	rw__session_close(s, RW_CLOSE_TIMEOUT, 0, msg);
}

int rw__session_handshake_start(struct rw_session *s)
{
	s->hs_attempt = 0;
	s->hs_started_ms = rw__now_ms(s->sh);
	s->hs_started_ns = rw__now_ns();
	arm(s, &s->t_handshake, hs_due(s, s->hs_started_ms + s->e->t.handshake_retry_ms + retry_jitter(s)));
	return send_init(s);
}

enum {
	RW_NOISE_QUEUE = 4096,		/* sessions waiting per shard; past it their work runs at once */
	/* work per batch: a first session's HandshakeResp (~70 us of DH) or, once they queue, a
	 * rekey's start (its DH goes to the Noise worker; inline only without one) */
	RW_NOISE_BUDGET_US = 100,
};

static bool rekey_wanted(const struct rw_session *s)
{
	return s->initiator && s->state == RW_SS_ESTABLISHED && !s->hs_kp && !s->resolving;
}

/* Only keeps the reactor from sleeping: the queue runs at the batch end. */
static void on_noiseq(struct rw_timer *t, uint64_t now)
{
	(void)t;
	(void)now;
}

bool rw__session_noise_later(struct rw_session *s)
{
	struct rw_shard *sh = s->sh;

	if (!sh->rekeyq) {
		sh->rekeyq = malloc(RW_NOISE_QUEUE * sizeof(*sh->rekeyq));
		rw__timer_init(&sh->t_rekeyq, on_noiseq);
	}
	if (!sh->rekeyq || sh->rekeyq_len == RW_NOISE_QUEUE)
		return false;
	sh->rekeyq[(sh->rekeyq_head + sh->rekeyq_len++) % RW_NOISE_QUEUE] = s->id;
	return true;
}

void rw__session_rekey_due(struct rw_session *s)
{
	if (!rekey_wanted(s) || s->rekey_queued)
		return;
	s->rekey_queued = true;
	if (!rw__session_noise_later(s)) {
		s->rekey_queued = false;
		rw__session_handshake_start(s);
	}
}

bool rw__session_rekeys_pending(const struct rw_shard *sh)
{
	return sh->rekeyq_len != 0;
}

void rw__session_rekeys_run(struct rw_shard *sh)
{
	uint64_t t0 = rw__now_ns();

	while (sh->rekeyq_len) {
		/* closed meanwhile, or its work done by another path: nothing to do */
		struct rw_session *s = rw__session_by_id(sh, sh->rekeyq[sh->rekeyq_head]);

		sh->rekeyq_head = (sh->rekeyq_head + 1) % RW_NOISE_QUEUE;
		sh->rekeyq_len--;
		if (!s)
			continue;
		if (s->hs_resp_queued) {
			s->e->hs_resp_run(s);
		} else if (s->rekey_queued) {
			s->rekey_queued = false;
			if (!rekey_wanted(s))
				continue;
			rw__session_handshake_start(s);
		} else {
			continue;	/* done already (a response consumed on demand) */
		}
		if (rw__now_ns() - t0 >= (uint64_t)RW_NOISE_BUDGET_US * 1000)
			break;
	}
	/* due at once: the reactor polls its socket and comes back without sleeping */
	if (sh->rekeyq_len && !rw__timer_pending(&sh->t_rekeyq))
		rw__timer_add(sh->wheel, &sh->t_rekeyq, rw__now_ms(sh));
}

void rw__session_rekey_queue_free(struct rw_shard *sh)
{
	if (!sh->rekeyq)
		return;
	rw__timer_cancel(sh->wheel, &sh->t_rekeyq);
	free(sh->rekeyq);
	sh->rekeyq = NULL;
	sh->rekeyq_head = sh->rekeyq_len = 0;
}

void rw__session_handshake_retry(struct rw_session *s, uint64_t now)
{
	struct rw_engine *e = s->e;
	uint64_t delay, due;

	if (!s->hs_kp)
		return;	/* completed meanwhile */
	if (tcp_fallback_due(s) && now >= s->hs_started_ms + e->tcp_fallback_ms) {
		/*
		 * AUTO (docs/protocol.md §17.4): no answer over UDP in time, so
		 * UDP is likely dropped on the way. The same handshake starts
		 * over TCP to the same host and port; the session stays there.
		 */
		char a[RW_ADDR_STR_MAX] = "?";

		rw__peer_to_string(a, &s->peer);
		rw__log(e, RW_LOG_INFO, "no answer over UDP, trying TCP", 1, "addr", a);
		s->via = RW_VIA_TCP;
		rw__session_set_peer(s, &s->peer);
		rw__keypair_free(s->hs_kp);
		s->hs_kp = NULL;
		rw__noise_handshake_clear(&s->hs);
		rw__session_dial_error(s, rw__session_handshake_start(s));
		return;
	}
	if (s->state == RW_SS_CONNECTING && e->hs_timeout_ms && now >= s->hs_started_ms + e->hs_timeout_ms) {
		char within[32];

		if (next_hint(s))
			return;

		snprintf(within, sizeof(within), "within %u ms", (unsigned int)e->hs_timeout_ms);
		close_unanswered(s, within);
		return;
	}
	++s->hs_attempt;
	if (s->state == RW_SS_ESTABLISHED && s->cur) {
		/*
		 * A rekey: the current keys carry the session meanwhile, so it
		 * retries (backing off, jittered) for as long as they may be
		 * used, however many attempts that takes; a cookie, a rate
		 * limit or a lossy minute only delays it. At their hard limit
		 * the keys are dropped (rekey_expired).
		 */
		if (now >= rw__session_keys_expire_at(s)) {
			rekey_expired(s, now);
			return;
		}
	} else if (s->hs_attempt >= e->t.handshake_attempts) {
		char after[32];

		rw__keypair_free(s->hs_kp);
		s->hs_kp = NULL;
		rw__noise_handshake_clear(&s->hs);
		if (next_hint(s))
			return;
		snprintf(after, sizeof(after), "after %u attempts", (unsigned int)s->hs_attempt);
		close_unanswered(s, after);
		return;
	}
	delay = (uint64_t)e->t.handshake_retry_ms << (s->hs_attempt < 3 ? s->hs_attempt : 3);
	due = hs_due(s, now + delay + retry_jitter(s));
	/* a rekey's keys expire on time, not at the next retry after */
	if (s->state == RW_SS_ESTABLISHED && rw__session_keys_expire_at(s) < due)
		due = rw__session_keys_expire_at(s);
	arm(s, &s->t_handshake, due);
	rw__session_dial_error(s, send_init(s));
}

/* ---- reconnecting --------------------------------------------------------------------- */

/* A lookup for a reconnect, travelling to the resolver and back as a command. */
struct cmd_resolved {
	struct rw_cmd c;
	struct rw_resolve_req req;
	struct rw_shard *sh;
	uint64_t id;
	uint8_t hint;		/* the address hint looked up */
};

static void resolve_and_start(struct rw_session *s);

static void run_resolved(struct rw_shard *sh, struct rw_cmd *cmd)
{
	struct cmd_resolved *c = (struct cmd_resolved *)cmd;
	struct rw_session *s = rw__session_by_id(sh, c->id);

	if (s && s->resolving && s->hints && c->hint != s->hint) {
		/* the session moved to another hint meanwhile: look that one up instead */
		s->resolving = false;
		resolve_and_start(s);
	} else if (s && s->resolving) {
		s->resolving = false;
		/*
		 * host names can move; keep the old address if the name is gone or
		 * changed family. Another hint (§16.3) may well be of the other
		 * family: the client socket is dual-stack unless bound otherwise,
		 * and a send error then moves on to the next hint.
		 */
		if (c->req.ret == 0 && (s->hints || rw__peer_family(&c->req.addr) == rw__peer_family(&s->peer)))
			rw__session_set_peer(s, &c->req.addr);
		if ((s->state == RW_SS_ESTABLISHED && !s->cur) || s->state == RW_SS_CONNECTING)
			rw__session_handshake_start(s);
	}
	free(c);
}

/* On the resolver thread: post the answer to the shard that asked. */
static void resolved(struct rw_resolve_req *req)
{
	struct cmd_resolved *c = rw_container_of(req, struct cmd_resolved, req);

	if (req->ret == -ECANCELED || rw__shard_post(c->sh, &c->c))
		free(c);
}

/* Look s->host up off this thread; the handshake starts with the answer. */
static void resolve_and_start(struct rw_session *s)
{
	struct cmd_resolved *c;

	if (s->resolving)
		return;	/* the previous lookup is still out: the handshake starts when it answers (or,
			 * for an older hint, this one is looked up then) */
	c = calloc(1, sizeof(*c));
	if (c) {
		c->c.run = run_resolved;
		c->sh = s->sh;
		c->id = s->id;
		c->hint = s->hint;
		memcpy(c->req.host, s->host, sizeof(c->req.host));
		c->req.port = s->port;
		c->req.reply = resolved;
		if (rw__resolver_submit(&s->e->resolver, &c->req) == 0) {
			s->resolving = true;
			return;
		}
		free(c);
	}
	/* no lookup possible: try the address we have */
	rw__session_handshake_start(s);
}

/*
 * Move to the next address hint (§16.3): after a dial's address gave no
 * answer, or on a reconnect. A dial gives up once it has tried them all
 * (false: the caller closes); a reconnect wraps round.
 */
static bool next_hint(struct rw_session *s)
{
	if (!s->hints || s->nhints < 2)
		return false;
	if (s->state == RW_SS_CONNECTING && ++s->hints_tried >= s->nhints)
		return false;
	s->hint = (uint8_t)((s->hint + 1) % s->nhints);
	memcpy(s->host, s->hints[s->hint].host, sizeof(s->host));
	s->port = s->hints[s->hint].port;
	rw__keypair_free(s->hs_kp);
	s->hs_kp = NULL;
	rw__noise_handshake_clear(&s->hs);
	rw__timer_cancel(s->sh->wheel, &s->t_handshake);
	if (rw__log_on(s->e, RW_LOG_INFO)) {
		char addr[RW_HOST_MAX + 10], which[24];

		snprintf(addr, sizeof(addr), "%s%s%s:%u", strchr(s->host, ':') ? "[" : "", s->host,
			 strchr(s->host, ':') ? "]" : "", (unsigned int)s->port);
		snprintf(which, sizeof(which), "%u/%u", (unsigned int)s->hint + 1, (unsigned int)s->nhints);
		rw__log(s->e, RW_LOG_INFO, "no answer, trying the next address", 2, "addr", addr, "hint", which);
	}
	resolve_and_start(s);
	return true;
}

void rw__session_reconnect(struct rw_session *s, uint64_t now)
{
	for (int ch = 0; ch < RW_MAX_CHANNELS; ch++)
		rw__reliable_reset(s->rel[ch]);
	rw__keypair_free(s->prev);
	rw__keypair_free(s->cur);
	rw__keypair_free(s->next);
	rw__keypair_free(s->next_old);
	s->prev = s->cur = s->next = s->next_old = NULL;
	s->last_rx_ms = now;
	/* the server may have restarted, moved or changed version: learn its MTU again */
	rw__pmtu_reset(&s->pmtu, now);
	pmtu_arm(s);
	/* the address that went silent is the suspect: the next hint, if the URI gave several */
	if (next_hint(s))
		return;
	/* the name is looked up again off this thread; the handshake starts with the answer */
	resolve_and_start(s);
}

/* ---- public session API (owner thread) ------------------------------------------------ */

static bool owned(const struct rw_session *s)
{
	return s && s->sh == rw__current_shard;
}

int rw_session_send(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	int ret;

	if (!owned(s))
		return -EPERM;
	if (channel == RW_CHANNEL_INTERNAL || type == RW_EVENT_CHANNEL_CLOSE || (len && !payload))
		return -EINVAL;
	ret = rw__session_send_event(s, channel, type, payload, len);
	if (ret == -EAGAIN && s->rel[channel])
		RW_STAT_INC(s->sh->ops.reliable_stalls);
	return ret;
}

int rw_session_close(struct rw_session *s, enum rw_close_reason reason, const char *message)
{
	if (!owned(s))
		return -EPERM;
	if (s->state == RW_SS_CLOSED)
		return -ENOTCONN;
	rw__session_close(s, reason ? reason : RW_CLOSE_LOCAL, RW_CLOSE_F_TELL,
			  message ? message : "closed by peer application");
	return 0;
}

int rw_session_set_tick(struct rw_session *s, uint32_t interval_ms)
{
	if (!owned(s))
		return -EPERM;
	if (s->state != RW_SS_ESTABLISHED)
		return -ENOTCONN;
	s->tick_ms = interval_ms;
	if (interval_ms)
		arm(s, &s->t_tick, rw__now_ms(s->sh) + interval_ms);
	else
		rw__timer_cancel(s->sh->wheel, &s->t_tick);
	return 0;
}

int rw_session_subscribe(struct rw_session *s, uint8_t channel)
{
	if (!owned(s))
		return -EPERM;
	s->subs[channel >> 6] |= UINT64_C(1) << (channel & 63);
	return 0;
}

int rw_session_unsubscribe(struct rw_session *s, uint8_t channel)
{
	if (!owned(s))
		return -EPERM;
	s->subs[channel >> 6] &= ~(UINT64_C(1) << (channel & 63));
	return 0;
}

int rw_session_subscribed(const struct rw_session *s, uint8_t channel)
{
	return (int)(s->subs[channel >> 6] >> (channel & 63) & 1);
}

uint64_t rw_session_id(const struct rw_session *s)
{
	return s->id;
}

void rw_session_set_user(struct rw_session *s, void *user)
{
	s->user = user;
}

void *rw_session_user(const struct rw_session *s)
{
	return s->user;
}

void rw_session_peer_key(const struct rw_session *s, uint8_t key[RW_KEY_SIZE])
{
	memcpy(key, s->peer_key, RW_KEY_SIZE);
}

void rw_session_peer_wpub(const struct rw_session *s, char out[RW_WPUB_LEN + 1])
{
	if (rw_pubkey_to_wpub(out, s->peer_key))
		out[0] = 0;
}

int rw_session_peer_addr(const struct rw_session *s, void *sockaddr_out, size_t cap)
{
	if (cap < s->peer.len)
		return -ENOSPC;
	memcpy(sockaddr_out, &s->peer.u, s->peer.len);
	return (int)s->peer.len;
}

int rw_session_peer_addr_str(const struct rw_session *s, char *out, size_t cap)
{
	char a[RW_ADDR_STR_MAX];
	int ret = rw__peer_to_string(a, &s->peer);

	if (ret)
		return ret;
	if (strlen(a) >= cap)
		return -ENOSPC;
	memcpy(out, a, strlen(a) + 1);
	return 0;
}

enum rw_transport_kind rw_session_transport(const struct rw_session *s)
{
	return s && s->peer.via == RW_VIA_TCP ? RW_TRANSPORT_TCP : RW_TRANSPORT_UDP;
}

void rw_session_stats(const struct rw_session *s, struct rw_session_stats *st)
{
	*st = s->st;
	st->pmtu = s->pmtu.size;
	st->pmtu_peer_max = s->pmtu.peer_max;
	st->pmtu_probes_sent = s->pmtu.probes_sent;
	st->pmtu_probes_acked = s->pmtu.probes_acked;
	st->pmtu_probes_lost = s->pmtu.probes_lost;
	st->pmtu_black_holes = s->pmtu.black_holes;
}

const char *rw__close_reason_token(enum rw_close_reason r)
{
	static const char *const tokens[RW_CLOSE__COUNT] = {
		[RW_CLOSE_NONE] = "none",	  [RW_CLOSE_LOCAL] = "local",	    [RW_CLOSE_PEER] = "peer",
		[RW_CLOSE_TIMEOUT] = "timeout",	  [RW_CLOSE_SHUTDOWN] = "shutdown", [RW_CLOSE_REJECTED] = "rejected",
		[RW_CLOSE_RETRIES] = "retries",	  [RW_CLOSE_RELIABLE] = "reliable", [RW_CLOSE_PROTOCOL] = "protocol",
		[RW_CLOSE_NETWORK] = "network",
	};

	return (unsigned)r < RW_CLOSE__COUNT ? tokens[r] : "unknown";
}

const char *rw_close_reason_name(enum rw_close_reason r)
{
	static const char *const names[RW_CLOSE__COUNT] = {
		[RW_CLOSE_NONE] = "none",
		[RW_CLOSE_LOCAL] = "closed",
		[RW_CLOSE_PEER] = "peer disconnected",
		[RW_CLOSE_TIMEOUT] = "timed out",
		[RW_CLOSE_SHUTDOWN] = "shutting down",
		[RW_CLOSE_REJECTED] = "key rejected",
		[RW_CLOSE_RETRIES] = "handshake retries exhausted",
		[RW_CLOSE_RELIABLE] = "reliable channel failed",
		[RW_CLOSE_PROTOCOL] = "protocol error",
		[RW_CLOSE_NETWORK] = "network error",
	};

	return (unsigned)r < RW_CLOSE__COUNT ? names[r] : "unknown";
}
