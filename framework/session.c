/* SPDX-License-Identifier: MIT */
/*
 * session.c - a session's life on its shard: receiver indices, keypairs,
 * the send path (coalescing, fragmenting, sealing), the receive path after
 * decryption (frames, events, internal messages), timers and closing.
 *
 * Everything here runs on the owning shard's thread. Nothing allocates per
 * packet: frames are built directly inside registered send buffers, and a
 * packet is sealed in place right before it is queued.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine.h"
#include "ratelimit.h"
#include "reliable.h"
#include "tai64n.h"

#define TOMBSTONE ((struct rw_keypair *)(uintptr_t)1)
enum { IDX_STAGING = 0xffffffffu };

/* ---- receiver-index table --------------------------------------------------- */

int rw__shard_init_tables(struct rw_shard *sh, uint32_t max_sessions)
{
	uint32_t cap = 1024;

	/* up to three keypairs per session (previous, current, next) at half load */
	while (cap < 6 * max_sessions && cap < (1u << 28))
		cap <<= 1;
	sh->idx = calloc(cap, sizeof(*sh->idx));
	sh->ids = calloc(cap / 4, sizeof(*sh->ids));
	if (!sh->idx || !sh->ids)
		return -ENOMEM;
	/*
	 * Commit the pages now: random indices would otherwise touch a new
	 * page now and then for as long as the server runs, and memory that
	 * only ever creeps up hides a real leak. max_sessions sizes it.
	 */
	rw__memzero(sh->idx, (size_t)cap * sizeof(*sh->idx));
	rw__memzero(sh->ids, (size_t)(cap / 4) * sizeof(*sh->ids));
	sh->idx_mask = cap - 1;
	sh->ids_mask = cap / 4 - 1;
	return 0;
}

void rw__shard_free_tables(struct rw_shard *sh)
{
	free(sh->idx);
	free(sh->ids);
	sh->idx = NULL;
	sh->ids = NULL;
}

static uint32_t idx_home(const struct rw_shard *sh, uint32_t index)
{
	/* the low bits name the shard; the rest is random */
	return (index >> sh->e->shard_bits) & sh->idx_mask;
}

struct rw_keypair *rw__index_lookup(struct rw_shard *sh, uint32_t index)
{
	for (uint32_t i = idx_home(sh, index);; i = (i + 1) & sh->idx_mask) {
		struct rw_index_slot *x = &sh->idx[i];

		if (!x->kp)
			return NULL;
		if (x->kp != TOMBSTONE && x->index == index)
			return x->kp;
	}
}

static int idx_insert(struct rw_shard *sh, struct rw_keypair *kp)
{
	const uint32_t mask = (1u << sh->e->shard_bits) - 1;

	/* keep the table at most half full so probes stay short */
	if (sh->idx_used >= (sh->idx_mask + 1) / 2)
		return -ENOSPC;
	for (int tries = 0; tries < 64; tries++) {
		uint32_t index;

		if (rw__random(&index, sizeof(index)))
			return -EIO;
		index = (index & ~mask) | sh->id;
		if (rw__index_lookup(sh, index))
			continue;	/* collision: draw again, as WireGuard does */
		for (uint32_t i = idx_home(sh, index);; i = (i + 1) & sh->idx_mask) {
			struct rw_index_slot *x = &sh->idx[i];

			if (!x->kp || x->kp == TOMBSTONE) {
				if (!x->kp)
					sh->idx_used++;
				x->index = index;
				x->kp = kp;
				kp->local_index = index;
				return 0;
			}
		}
	}
	return -EAGAIN;
}

static void idx_remove(struct rw_shard *sh, struct rw_keypair *kp)
{
	for (uint32_t i = idx_home(sh, kp->local_index);; i = (i + 1) & sh->idx_mask) {
		struct rw_index_slot *x = &sh->idx[i];

		if (!x->kp)
			return;
		if (x->kp == kp) {
			/* a tombstone is only needed if a probe chain runs past it */
			if (!sh->idx[(i + 1) & sh->idx_mask].kp) {
				x->kp = NULL;
				sh->idx_used--;
			} else {
				x->kp = TOMBSTONE;
			}
			return;
		}
	}
}

/* ---- session-id table ------------------------------------------------------- */

static uint32_t id_home(const struct rw_shard *sh, uint64_t id)
{
	return (uint32_t)((id >> 8) * 0x9e3779b97f4a7c15ull >> 32) & sh->ids_mask;
}

struct rw_session *rw__session_by_id(struct rw_shard *sh, uint64_t id)
{
	for (uint32_t i = id_home(sh, id);; i = (i + 1) & sh->ids_mask) {
		struct rw_session *s = sh->ids[i];

		if (!s)
			return NULL;
		if (s->id == id)
			return s;
	}
}

static void id_insert(struct rw_shard *sh, struct rw_session *s)
{
	uint32_t i = id_home(sh, s->id);

	while (sh->ids[i])
		i = (i + 1) & sh->ids_mask;
	sh->ids[i] = s;
	sh->ids_count++;
}

static void id_remove(struct rw_shard *sh, struct rw_session *s)
{
	uint32_t i = id_home(sh, s->id), j;

	while (sh->ids[i] != s) {
		if (!sh->ids[i])
			return;
		i = (i + 1) & sh->ids_mask;
	}
	sh->ids[i] = NULL;
	sh->ids_count--;
	for (j = (i + 1) & sh->ids_mask; sh->ids[j]; j = (j + 1) & sh->ids_mask) {
		uint32_t home = id_home(sh, sh->ids[j]->id);

		if (((j - home) & sh->ids_mask) >= ((j - i) & sh->ids_mask)) {
			sh->ids[i] = sh->ids[j];
			sh->ids[j] = NULL;
			i = j;
		}
	}
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
	if (idx_insert(s->sh, kp)) {
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

void rw__keypair_free(struct rw_keypair *kp)
{
	if (!kp)
		return;
	idx_remove(kp->s->sh, kp);
	if (kp->ready) {
		rw__aead_free(&kp->tx);
		rw__aead_free(&kp->rx);
	}
	rw__memzero(kp, sizeof(*kp));
	free(kp);
}

/* ---- timers ------------------------------------------------------------------ */

static void on_keepalive(struct rw_timer *t, uint64_t now);
static void on_timeout(struct rw_timer *t, uint64_t now);
static void on_rekey(struct rw_timer *t, uint64_t now);
static void on_handshake_retry(struct rw_timer *t, uint64_t now);
static void on_drain(struct rw_timer *t, uint64_t now);
static void on_frag(struct rw_timer *t, uint64_t now);
static void on_tick(struct rw_timer *t, uint64_t now);
static void on_pace(struct rw_timer *t, uint64_t now);

static struct rw_timer_wheel *wheel(struct rw_session *s)
{
	return rw__reactor_timers(s->sh->r);
}

static void arm(struct rw_session *s, struct rw_timer *t, uint64_t at)
{
	rw__timer_add(wheel(s), t, at);
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
	s->id = id ? id : (++sh->next_id << 8) | sh->id;
	s->tx_channel = -1;
	s->local = &e->id;
	memcpy(s->peer_key, peer_key, RW_KEY_SIZE);
	rw__frag_ids_init(&s->frag_ids);
	rw__timer_init(&s->t_keepalive, on_keepalive);
	rw__timer_init(&s->t_timeout, on_timeout);
	rw__timer_init(&s->t_rekey, on_rekey);
	rw__timer_init(&s->t_handshake, on_handshake_retry);
	rw__timer_init(&s->t_drain, on_drain);
	rw__timer_init(&s->t_frag, on_frag);
	rw__timer_init(&s->t_tick, on_tick);
	rw__timer_init(&s->t_pace, on_pace);
	rw__pacer_init(&s->pacer, e->send_rate, rw__now_ms(sh));
	s->last_rx_ms = s->last_tx_ms = rw__now_ms(sh);
	id_insert(sh, s);
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
					      const struct sockaddr *from, socklen_t fromlen)
{
	struct rw_session *s;

	(void)fromlen;
	if (table_full(sh))
		return NULL;
	while (sh->ho_head && sh->nhalf_open >= sh->e->max_half_open) {
		/* the oldest is the likeliest dead: a real client confirms within a round trip */
		RW_STAT_INC(sh->half_open_evicted);
		rw__session_close(sh->ho_head, RW_CLOSE_TIMEOUT, false, "half-open session evicted (server crowded)",
				  false);
	}
	s = session_alloc(sh, peer_key, 0);
	if (!s)
		return NULL;
	if (rw__ratelimit_key(s->source, from))
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

unsigned rw__half_open_from(const struct rw_shard *sh, const struct sockaddr *from, socklen_t fromlen)
{
	uint8_t src[RW_RL_KEY_LEN];
	unsigned n = 0;

	(void)fromlen;
	if (rw__ratelimit_key(src, from))
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

/* The initiator used our keys: the session is real and takes a table slot. */
static void half_open_confirm(struct rw_session *s)
{
	/* counted among the half-open until now, so full means full without it */
	bool full = table_full(s->sh);

	half_open_unlink(s);
	if (full) {
		rw__session_close(s, RW_CLOSE_LOCAL, false, "server full", true);
		return;
	}
	arm(s, &s->t_timeout, s->last_rx_ms + s->e->t.session_timeout_ms);
}

void rw__session_set_addr(struct rw_session *s, const struct sockaddr *a, socklen_t len)
{
	if (len > sizeof(s->addr))
		len = sizeof(s->addr);
	memcpy(&s->addr, a, len);
	s->addrlen = len;
}

static bool same_addr(const struct rw_session *s, const struct sockaddr *a, socklen_t len)
{
	return len == s->addrlen && memcmp(&s->addr, a, len) == 0;
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
	struct rw_timer_wheel *w = wheel(s);
	struct rw_keypair *kps[4] = { s->prev, s->cur, s->next, s->hs_kp };

	rw__timer_cancel(w, &s->t_keepalive);
	rw__timer_cancel(w, &s->t_timeout);
	rw__timer_cancel(w, &s->t_rekey);
	rw__timer_cancel(w, &s->t_handshake);
	rw__timer_cancel(w, &s->t_drain);
	rw__timer_cancel(w, &s->t_frag);
	rw__timer_cancel(w, &s->t_tick);
	rw__timer_cancel(w, &s->t_pace);
	rw__reliable_session_stop(s);
	half_open_unlink(s);
	if (s->tx_buf && s->tx_idx != IDX_STAGING)
		rw__reactor_send_buf_put(sh->r, s->tx_idx);
	s->tx_buf = NULL;
	if (s->dirty) {
		struct rw_session **pp = &sh->dirty;

		while (*pp && *pp != s)
			pp = &(*pp)->dirty_next;
		if (*pp)
			*pp = s->dirty_next;
		s->dirty = false;
	}
	for (int i = 0; i < 4; i++) {
		if (kps[i]) {
			idx_remove(sh, kps[i]);
			kps[i]->local_index = 0;
		}
	}
	id_remove(sh, s);
	if (s->list_prev)
		s->list_prev->list_next = s->list_next;
	else
		sh->sessions = s->list_next;
	if (s->list_next)
		s->list_next->list_prev = s->list_prev;
	sh->nsessions--;
	s->list_prev = NULL;
	s->list_next = sh->graveyard;
	sh->graveyard = s;
	sh->closes++;
}

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

void rw__shard_reap(struct rw_shard *sh)
{
	while (sh->graveyard) {
		struct rw_session *s = sh->graveyard;

		sh->graveyard = s->list_next;
		rw__reliable_session_free(s);
		rw__pacer_destroy(&s->pacer);
		keypair_release(s->prev);
		keypair_release(s->cur);
		keypair_release(s->next);
		keypair_release(s->hs_kp);
		rw__reasm_destroy(&s->reasm);
		rw__memzero(s, sizeof(*s));
		free(s);
	}
}

/* ---- send path ------------------------------------------------------------------ */

static uint8_t *buf_get(struct rw_shard *sh, unsigned *idx)
{
	uint8_t *b = rw__reactor_send_buf(sh->r, idx);

	if (rw_likely(b))
		return b;
	/*
	 * Every registered buffer is in flight: send this one synchronously
	 * from the staging buffer rather than drop it or block the ring.
	 */
	*idx = IDX_STAGING;
	return sh->staging;
}

static int buf_send(struct rw_shard *sh, unsigned idx, uint8_t *buf, size_t len, const struct sockaddr *to,
		    socklen_t tolen)
{
	if (rw_likely(idx != IDX_STAGING))
		return rw__reactor_send(sh->r, idx, len, to, tolen);
	/*
	 * Whatever waits in the ring goes first: a packet sent past queued
	 * ones would reach the peer with a counter far ahead of theirs, and
	 * theirs would then fall out of its replay window.
	 */
	rw__reactor_submit(sh->r);
	for (int tries = 0; tries < 100; tries++) {
		ssize_t n = sendto(rw__reactor_fd(sh->r), buf, len, MSG_DONTWAIT, to, tolen);
		struct pollfd pfd = { .fd = rw__reactor_fd(sh->r), .events = POLLOUT };

		if (n >= 0) {
			RW_STAT_INC(sh->st.tx_packets);
			RW_STAT_ADD(sh->st.tx_bytes, (uint64_t)n);
			return 0;
		}
		if (errno != EAGAIN && errno != ENOBUFS) {
			RW_STAT_INC(sh->st.tx_errors);
			return -errno;
		}
		poll(&pfd, 1, 10);
	}
	RW_STAT_INC(sh->st.tx_errors);
	return -EAGAIN;
}

int rw__shard_send_raw(struct rw_shard *sh, const uint8_t *data, size_t len, const struct sockaddr *to,
		       socklen_t tolen)
{
	unsigned idx;
	uint8_t *b = rw__reactor_send_buf(sh->r, &idx);
	uint8_t tmp[RW_SIZE_HANDSHAKE_INIT];

	if (!b) {
		if (len > sizeof(tmp))
			return -EMSGSIZE;
		memcpy(tmp, data, len);
		return buf_send(sh, IDX_STAGING, tmp, len, to, tolen);
	}
	memcpy(b, data, len);
	int ret = rw__reactor_send(sh->r, idx, len, to, tolen);

	if (ret)
		rw__reactor_send_buf_put(sh->r, idx);
	return ret;
}

/* Seal buf (plaintext at +16) under the current keys and send it. */
static int seal_send(struct rw_session *s, unsigned idx, uint8_t *buf, uint8_t type, size_t plain_len)
{
	struct rw_keypair *kp = s->cur;
	struct rw_shard *sh = s->sh;
	int n;

	if (rw_unlikely(!kp || !kp->ready)) {
		if (idx != IDX_STAGING)
			rw__reactor_send_buf_put(sh->r, idx);
		return -ENOTCONN;
	}
	if (rw_unlikely(kp->tx_counter >= UINT64_MAX - RW_COUNTER_LIMIT_MARGIN)) {
		if (idx != IDX_STAGING)
			rw__reactor_send_buf_put(sh->r, idx);
		return -EKEYEXPIRED;
	}
	if (rw_unlikely(s->pacer.rate) && !s->pacing && (type == RW_MSG_DATA || type == RW_MSG_DATA_FRAGMENT) &&
	    !rw__pacer_admit(&s->pacer, plain_len + RW_SIZE_DATA_MIN, rw__now_ms(sh))) {
		/* over the rate: wait as plaintext, sealed when it leaves (counters stay in order) */
		n = rw__pacer_enqueue(&s->pacer, type, buf + RW_DATA_OFF_PAYLOAD, plain_len,
				      plain_len + RW_SIZE_DATA_MIN);
		if (idx != IDX_STAGING)
			rw__reactor_send_buf_put(sh->r, idx);
		if (!n && !rw__timer_pending(&s->t_pace))
			arm(s, &s->t_pace, rw__now_ms(sh) + rw__pacer_wait_ms(&s->pacer, rw__now_ms(sh)));
		return n;
	}
	n = rw__packet_seal(&kp->tx, buf, type, kp->remote_index, kp->tx_counter++, plain_len);
	if (n < 0) {
		if (idx != IDX_STAGING)
			rw__reactor_send_buf_put(sh->r, idx);
		return n;
	}
	n = buf_send(sh, idx, buf, (size_t)n, (const struct sockaddr *)&s->addr, s->addrlen);
	if (n && idx != IDX_STAGING)
		rw__reactor_send_buf_put(sh->r, idx);
	s->last_tx_ms = rw__now_ms(sh);
	s->st.tx_packets++;
	s->st.tx_bytes += plain_len;
	if (rw_unlikely(kp->tx_counter >= s->e->t.rekey_after_messages) && s->initiator && !s->hs_kp)
		rw__session_handshake_start(s);
	return n;
}

static size_t frame_cap(const struct rw_session *s)
{
	/* PROFILE §8: a frame longer than this is fragmented */
	return s->e->max_packet - RW_SIZE_DATA_HEADER - RW_SIZE_FRAGMENT_HEADER - RW_TAG_LEN;
}

static void mark_dirty(struct rw_session *s)
{
	if (!s->dirty) {
		s->dirty = true;
		s->dirty_next = s->sh->dirty;
		s->sh->dirty = s;
	}
}

void rw__session_flush(struct rw_session *s)
{
	struct rw_frame_rel rel = { 0 };
	int n;

	if (!s->tx_buf)
		return;
	if (s->rel[s->tx_channel])
		rw__reliable_stamp(s, (uint8_t)s->tx_channel, &rel);
	n = rw__frame_finish(&s->txb, &rel);
	if (n > 0 && (!rel.seq || rw__reliable_sent(s, (uint8_t)s->tx_channel, rel.seq,
						      s->tx_buf + RW_DATA_OFF_PAYLOAD, (size_t)n) == 0)) {
		seal_send(s, s->tx_idx, s->tx_buf, RW_MSG_DATA, (size_t)n);
	} else {
		rw__reactor_send_buf_put(s->sh->r, s->tx_idx);
		if (n > 0)
			s->doomed = true;	/* a reliable frame we cannot keep: the channel is broken */
	}
	s->tx_buf = NULL;
	s->tx_channel = -1;
	if (rw_unlikely(s->doomed) && s->state != RW_SS_CLOSED) {
		s->doomed = false;
		rw__session_close(s, RW_CLOSE_RELIABLE, false, "out of memory for a reliable frame", true);
	}
}

void rw__shard_flush_all(struct rw_shard *sh)
{
	while (sh->dirty) {
		struct rw_session *s = sh->dirty;

		sh->dirty = s->dirty_next;
		s->dirty = false;
		rw__session_flush(s);
	}
}

/* A frame too large for one packet: encode it whole, then send its fragments. */
static int send_fragmented(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	struct rw_shard *sh = s->sh;
	struct rw_frame_builder b;
	struct rw_frame_rel rel = { 0 };
	size_t need = len + 32 + RW_FRAME_REL_MAX;
	bool reliable = s->rel[channel] != NULL;
	uint8_t *frame;
	int n, ret;

	/* one scratch buffer per shard, grown to the largest frame sent: no allocation per event */
	if (need > sh->big_cap) {
		uint8_t *nb = realloc(sh->big, need);

		if (!nb)
			return -ENOMEM;
		sh->big = nb;
		sh->big_cap = need;
	}
	frame = sh->big;
	ret = rw__frame_begin(&b, frame, need, channel, reliable ? RW_FRAME_REL_MAX : 0);
	if (!ret)
		ret = rw__frame_add_event(&b, type, payload, len);
	if (ret)
		goto out;
	if (reliable)
		rw__reliable_stamp(s, channel, &rel);
	n = rw__frame_finish(&b, &rel);
	if (n < 0) {
		ret = n;
		goto out;
	}
	if (rel.seq && rw__reliable_sent(s, channel, rel.seq, frame, (size_t)n)) {
		ret = -ENOMEM;
		s->doomed = true;
		goto out;
	}
	ret = rw__session_send_frame(s, frame, (size_t)n);
out:
	return ret;
}

int rw__session_send_frame(struct rw_session *s, const uint8_t *frame, size_t len)
{
	struct rw_shard *sh = s->sh;
	struct rw_frag_plan plan;
	uint32_t frame_id;
	int ret;

	ret = rw__frag_plan(&plan, len, s->e->max_packet);
	if (ret)
		return ret;
	if (!plan.fragmented) {
		unsigned idx;
		uint8_t *b = buf_get(sh, &idx);

		memcpy(b + RW_DATA_OFF_PAYLOAD, frame, len);
		return seal_send(s, idx, b, RW_MSG_DATA, len);
	}
	frame_id = rw__frag_ids_next(&s->frag_ids);
	for (unsigned i = 0; i < plan.count; i++) {
		unsigned idx;
		uint8_t *b = buf_get(sh, &idx);
		int n;

		if (idx == IDX_STAGING) {
			n = rw__frag_write(&plan, frame, frame_id, i, b + RW_DATA_OFF_PAYLOAD,
					   sizeof(sh->staging) - RW_DATA_OFF_PAYLOAD - RW_TAG_LEN);
			if (n < 0)
				return n;
			ret = seal_send(s, IDX_STAGING, b, RW_MSG_DATA_FRAGMENT, (size_t)n);
		} else {
			n = rw__frag_write(&plan, frame, frame_id, i, b + RW_DATA_OFF_PAYLOAD,
					   rw__reactor_send_buf_size(sh->r) - RW_DATA_OFF_PAYLOAD - RW_TAG_LEN);
			if (n < 0) {
				rw__reactor_send_buf_put(sh->r, idx);
				return n;
			}
			ret = seal_send(s, idx, b, RW_MSG_DATA_FRAGMENT, (size_t)n);
		}
		if (ret)
			return ret;
	}
	return 0;
}

int rw__session_send_event(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	struct rw_shard *sh = s->sh;
	size_t esz = rw__frame_event_size(len);
	bool reliable;
	int ret;

	if (s->state != RW_SS_ESTABLISHED || !s->cur)
		return -ENOTCONN;
	if (len > s->e->max_frame_bytes)
		return -EMSGSIZE;
	reliable = s->rel[channel] != NULL;
	if (rw_unlikely(s->pacer.rate) && rw__pacer_full(&s->pacer)) {
		s->pace_blocked[channel >> 6] |= UINT64_C(1) << (channel & 63);
		return -EAGAIN;
	}

	/* 1. fits beside what is already queued on this channel (already admitted) */
	if (s->tx_buf && s->tx_channel == channel && rw__frame_add_event(&s->txb, type, payload, len) == 0)
		goto counted;
	/* 2. a new frame: flush the open one first (order on the wire = order of calls) */
	if (s->tx_buf)
		rw__session_flush(s);
	if (s->state != RW_SS_ESTABLISHED)
		return -ENOTCONN;
	/*
	 * Admission after the flush: the frame just flushed took its window
	 * slot, and a frame sent beyond the window would carry a sequence
	 * number the sender cannot keep for retransmission.
	 */
	if (reliable && !rw__reliable_can_send(s, channel, len))
		return -EAGAIN;
	s->st.events_out++;
	RW_STAT_INC(sh->st.events_out);
	if (1 + esz + (reliable ? RW_FRAME_REL_MAX : 0) > frame_cap(s))
		return send_fragmented(s, channel, type, payload, len);
	s->tx_buf = rw__reactor_send_buf(sh->r, &s->tx_idx);
	if (!s->tx_buf) {
		/* no registered buffer: no coalescing, send it now */
		return send_fragmented(s, channel, type, payload, len);
	}
	ret = rw__frame_begin(&s->txb, s->tx_buf + RW_DATA_OFF_PAYLOAD, frame_cap(s), channel,
			      reliable ? RW_FRAME_REL_MAX : 0);
	if (!ret)
		ret = rw__frame_add_event(&s->txb, type, payload, len);
	if (ret) {
		rw__reactor_send_buf_put(sh->r, s->tx_idx);
		s->tx_buf = NULL;
		return ret;
	}
	s->tx_channel = channel;
	mark_dirty(s);
	return 0;
counted:
	s->st.events_out++;
	RW_STAT_INC(sh->st.events_out);
	return 0;
}

int rw__session_send_keepalive(struct rw_session *s)
{
	unsigned idx;
	uint8_t *b = buf_get(s->sh, &idx);

	return seal_send(s, idx, b, RW_MSG_KEEPALIVE, 0);
}

static int send_disconnect(struct rw_session *s)
{
	unsigned idx;
	uint8_t *b = buf_get(s->sh, &idx);

	return seal_send(s, idx, b, RW_MSG_DISCONNECT, 0);
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
	/* every channel's handler hears of the new session */
	for (int ch = 0; ch < RW_MAX_CHANNELS; ch++) {
		if (e->has_handler[ch]) {
			if (e->handlers[ch].flags & RW_CHANNEL_RELIABLE)
				rw__reliable_enable(s, (uint8_t)ch, &e->handlers[ch]);
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
		arm(s, &s->t_rekey, now + e->t.rekey_after_ms);
	} else {
		/*
		 * Responder: hold the new keys as next until the initiator uses
		 * them (key confirmation, as WireGuard); keep sending on the
		 * current ones. A first session has nothing else: use it now.
		 */
		if (!s->cur) {
			s->cur = kp;
		} else {
			rw__keypair_free(s->next);
			s->next = kp;
		}
	}
	RW_STAT_INC(s->sh->st.handshakes_completed);
	if (s->opened) {
		s->st.rekeys++;
		RW_STAT_INC(s->sh->st.rekeys);
	}
	s->last_rx_ms = now;
	arm(s, &s->t_timeout, s->half_open ? s->born_ms + e->half_open_timeout_ms : now + e->t.session_timeout_ms);
	arm(s, &s->t_keepalive, now + e->t.keepalive_ms);
}

void rw__session_rx_ok(struct rw_session *s, struct rw_keypair *kp, const struct sockaddr *from, socklen_t fromlen,
		       size_t bytes)
{
	struct rw_shard *sh = s->sh;

	if (rw_unlikely(kp == s->next)) {
		/* the initiator uses the new keys: they are confirmed, rotate */
		if (s->prev)
			rw__keypair_free(s->prev);
		s->prev = s->cur;
		s->cur = kp;
		s->next = NULL;
		arm(s, &s->t_drain, rw__now_ms(sh) + s->e->t.rekey_drain_ms);
	}
	/* roaming: the authenticated packet's source is where the peer now is */
	if (rw_unlikely(!same_addr(s, from, fromlen)) && kp == s->cur)
		rw__session_set_addr(s, from, fromlen);
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
	if (++s->aead_failures >= RW_AEAD_FAILURES_REHANDSHAKE && s->initiator && !s->hs_kp) {
		s->aead_failures = 0;
		rw__session_handshake_start(s);
	}
}

static void deliver_internal(struct rw_session *s, uint8_t type, const uint8_t *p, size_t len)
{
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
			/* PROFILE §9: the peer closed the channel; it reopens on the next frame */
			rw__reliable_channel_closed(s, f->channel);
			continue;
		}
		s->st.events_in++;
		RW_STAT_INC(s->sh->st.events_in);
		if (h && h->on_event)
			h->on_event(s, f->channel, type, payload, plen, h->user);
		if (s->state == RW_SS_CLOSED)
			return;
	}
}

void rw__session_deliver_frame(struct rw_session *s, const uint8_t *frame, size_t len)
{
	struct rw_frame f;

	if (rw__frame_decode(&f, frame, len)) {
		rw__drop(s->sh, RW_DROP_BAD_FRAME, NULL, 0);
		return;
	}
	if (f.channel != RW_CHANNEL_INTERNAL && (f.rel.seq || f.rel.ack_seq || f.present))
		rw__reliable_rx(s, &f, deliver_events);
	else
		deliver_events(s, &f);
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
	rw__session_send_event(s, RW_CHANNEL_INTERNAL, RW_INTERNAL_CLOSE_REASON, p, 1 + n);
	rw__session_flush(s);
}

void rw__session_close(struct rw_session *s, enum rw_close_reason reason, bool by_peer, const char *message,
		       bool send_reason_first)
{
	struct rw_engine *e = s->e;
	struct rw_close_info info;
	bool was_open = s->opened;

	if (s->state == RW_SS_CLOSED)
		return;
	if (!by_peer && s->cur && s->cur->ready && s->state == RW_SS_ESTABLISHED) {
		rw__session_flush(s);
		if (send_reason_first)
			send_reason(s, reason, message);
		send_disconnect(s);
	} else {
		rw__session_flush(s);
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
	if (!s->initiator)
		rw__peers_unbind(&e->peers, s->peer_key, s->id);
	detach(s);
}

void rw__shard_close_all(struct rw_shard *sh, enum rw_close_reason reason, const char *message)
{
	while (sh->sessions)
		rw__session_close(sh->sessions, reason, false, message, true);
}

/* ---- initiator handshakes ---------------------------------------------------------- */

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
	ret = rw__noise_init_create(&s->hs, s->hs_msg, s->local, &s->remote, s->hs_kp->local_index, ts, NULL);
	if (ret)
		return ret;
	/* a cookie still fresh (WireGuard: 120 s minus latency) goes in MAC2 */
	if (s->has_cookie && rw__now_ms(s->sh) - s->cookie_ms < 115000) {
		ret = rw__cookie_mac2_put(s->hs_msg, s->cookie);
		if (ret)
			return ret;
	}
	RW_STAT_INC(s->sh->st.handshakes_initiated);
	return rw__shard_send_raw(s->sh, s->hs_msg, sizeof(s->hs_msg), (const struct sockaddr *)&s->addr,
				  s->addrlen);
}

/* A retry due at `due`, or earlier when a first dial's handshake_timeout_ms runs out. */
static uint64_t hs_due(const struct rw_session *s, uint64_t due)
{
	uint64_t deadline = s->hs_started_ms + s->e->hs_timeout_ms;

	return s->state == RW_SS_CONNECTING && s->e->hs_timeout_ms && deadline < due ? deadline : due;
}

/* Why a dial got no answer, and what to check: the key and the address are the usual suspects. */
static void close_unanswered(struct rw_session *s, const char *within)
{
	char a[RW_ADDR_STR_MAX] = "?", msg[160];

	rw__addr_to_string(a, (const struct sockaddr *)&s->addr, s->addrlen);
	snprintf(msg, sizeof(msg), "no handshake response from %s %s; check the server's key and address", a, within);
	rw__session_close(s, RW_CLOSE_RETRIES, false, msg, false);
}

bool rw__send_error_permanent(int err)
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

/* The socket is bound to one IPv6 address: it cannot send to IPv4 peers. */
static bool bound_v6_only(const struct rw_engine *e)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	return rw__reactor_local_addr(e->group, &ss, &len) == 0 && ss.ss_family == AF_INET6 &&
	       !IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&ss)->sin6_addr);
}

bool rw__session_dial_error(struct rw_session *s, int err)
{
	char a[RW_ADDR_STR_MAX] = "?", msg[256];
	const char *hint;

	if (s->state != RW_SS_CONNECTING || !rw__send_error_permanent(err))
		return false;
	switch (-err) {
	case EAFNOSUPPORT:
		hint = "bind an address of the server's family (--bind)";
		break;
	case ENETUNREACH:
	case EADDRNOTAVAIL:
		/* an IPv4 server from a socket bound to one IPv6 address says "unreachable" */
		hint = bound_v6_only(s->e) && s->addr.ss_family == AF_INET
			       ? "bind an address of the server's family (--bind)"
			       : "check the server's address, or bind one that can reach it (--bind)";
		break;
	default:
		hint = "a firewall rule or the kind of address (broadcast?) forbids it";
		break;
	}
	rw__addr_to_string(a, (const struct sockaddr *)&s->addr, s->addrlen);
	snprintf(msg, sizeof(msg), "send to %s failed: %s; %s", a, strerror(-err), hint);
	rw__session_close(s, RW_CLOSE_NETWORK, false, msg, false);
	return true;
}

void rw__shard_send_failed(struct rw_shard *sh, const struct sockaddr *to, socklen_t tolen, int err)
{
	struct rw_session *s, *next;

	/* only dials end on a send error, and only servers have many sessions to walk */
	if (sh->e->server || !rw__send_error_permanent(err))
		return;
	for (s = sh->sessions; s; s = next) {
		next = s->list_next;
		if (s->initiator && s->state == RW_SS_CONNECTING && s->addrlen == tolen &&
		    memcmp(&s->addr, to, tolen) == 0)
			rw__session_dial_error(s, err);
	}
}

int rw__session_handshake_start(struct rw_session *s)
{
	s->hs_attempt = 0;
	s->hs_started_ms = rw__now_ms(s->sh);
	arm(s, &s->t_handshake, hs_due(s, s->hs_started_ms + s->e->t.handshake_retry_ms));
	return send_init(s);
}

static void on_handshake_retry(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_handshake);
	struct rw_engine *e = s->e;
	uint64_t delay;

	if (!s->hs_kp)
		return;	/* completed meanwhile */
	if (s->state == RW_SS_CONNECTING && e->hs_timeout_ms && now >= s->hs_started_ms + e->hs_timeout_ms) {
		char within[32];

		snprintf(within, sizeof(within), "within %u ms", (unsigned int)e->hs_timeout_ms);
		close_unanswered(s, within);
		return;
	}
	if (++s->hs_attempt >= e->t.handshake_attempts) {
		rw__keypair_free(s->hs_kp);
		s->hs_kp = NULL;
		rw__noise_handshake_clear(&s->hs);
		if (s->state == RW_SS_CONNECTING || !s->cur) {
			char after[32];

			snprintf(after, sizeof(after), "after %u attempts", (unsigned int)s->hs_attempt);
			close_unanswered(s, after);
			return;
		}
		/* a rekey that failed: the old keys stay until the session times out */
		return;
	}
	delay = (uint64_t)e->t.handshake_retry_ms << (s->hs_attempt < 3 ? s->hs_attempt : 3);
	arm(s, t, hs_due(s, now + delay));
	rw__session_dial_error(s, send_init(s));
}

/* ---- timers ------------------------------------------------------------------------ */

static void on_keepalive(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_keepalive);
	uint64_t due = s->last_tx_ms + s->e->t.keepalive_ms;

	if (s->state != RW_SS_ESTABLISHED)
		return;
	if (now >= due) {
		rw__session_flush(s);
		rw__session_send_keepalive(s);
		due = now + s->e->t.keepalive_ms;
	}
	arm(s, t, due);
}

static void on_timeout(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_timeout);
	uint64_t due = s->last_rx_ms + s->e->t.session_timeout_ms;

	if (s->half_open) {
		if (now < s->born_ms + s->e->half_open_timeout_ms) {
			arm(s, t, s->born_ms + s->e->half_open_timeout_ms);
			return;
		}
		RW_STAT_INC(s->sh->half_open_expired);
		rw__session_close(s, RW_CLOSE_TIMEOUT, false, "handshake never confirmed", false);
		return;
	}
	if (now < due) {
		arm(s, t, due);
		return;
	}
	if (s->initiator && s->e->reconnect && s->state == RW_SS_ESTABLISHED) {
		/* persistent connection: start over with a fresh handshake */
		rw__reliable_reset_all(s);
		rw__keypair_free(s->prev);
		rw__keypair_free(s->cur);
		rw__keypair_free(s->next);
		s->prev = s->cur = s->next = NULL;
		s->last_rx_ms = now;
		arm(s, t, now + s->e->t.session_timeout_ms);
		rw__session_reresolve(s);
		rw__session_handshake_start(s);
		return;
	}
	rw__session_close(s, RW_CLOSE_TIMEOUT, false, "session timed out", false);
}

static void on_rekey(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_rekey);

	if (s->initiator && s->state == RW_SS_ESTABLISHED && !s->hs_kp)
		rw__session_handshake_start(s);
	(void)now;
}

static void on_drain(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_drain);

	/* the drain window is over: the previous keys stop decrypting */
	rw__keypair_free(s->prev);
	s->prev = NULL;
	(void)now;
}

static void on_frag(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_frag);

	rw__reasm_expire(&s->reasm, now, s->e->t.fragment_timeout_ms);
	if (rw__reasm_pending(&s->reasm))
		arm(s, t, now + s->e->t.fragment_timeout_ms);
}

static void on_tick(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_tick);
	struct rw_engine *e = s->e;

	if (s->state != RW_SS_ESTABLISHED || !s->tick_ms)
		return;
	/*
	 * Re-arm from the time it really is, not the tick due: a reactor that
	 * ran late calls on_tick once, not once per missed interval.
	 */
	(void)now;
	arm(s, t, rw__now_ms(s->sh) + s->tick_ms);
	for (int ch = 0; ch < RW_MAX_CHANNELS && s->state == RW_SS_ESTABLISHED; ch++)
		if (e->has_handler[ch] && e->handlers[ch].on_tick)
			e->handlers[ch].on_tick(s, e->handlers[ch].user);
	if (s->state == RW_SS_ESTABLISHED && e->has_any && e->any.on_tick)
		e->any.on_tick(s, e->any.user);
}

static void on_pace(struct rw_timer *t, uint64_t now)
{
	struct rw_session *s = rw_container_of(t, struct rw_session, t_pace);
	struct rw_engine *e = s->e;
	struct rw_pacer_pkt *k;

	if (s->state != RW_SS_ESTABLISHED)
		return;
	s->pacing = true;
	while ((k = rw__pacer_pop(&s->pacer, now))) {
		unsigned idx;
		uint8_t *b = buf_get(s->sh, &idx);

		memcpy(b + RW_DATA_OFF_PAYLOAD, k->plain, k->len);
		seal_send(s, idx, b, k->type, k->len);
		free(k);
	}
	s->pacing = false;
	if (s->pacer.head)
		arm(s, t, now + rw__pacer_wait_ms(&s->pacer, now));
	/* room again: the channels that were told -EAGAIN hear so */
	if (!rw__pacer_full(&s->pacer)) {
		for (int ch = 0; ch < RW_MAX_CHANNELS && s->state == RW_SS_ESTABLISHED; ch++) {
			const struct rw_handler *h;

			if (!(s->pace_blocked[ch >> 6] >> (ch & 63) & 1))
				continue;
			s->pace_blocked[ch >> 6] &= ~(UINT64_C(1) << (ch & 63));
			h = rw__engine_handler(e, (uint8_t)ch);
			if (h && h->on_writable)
				h->on_writable(s, (uint8_t)ch, h->user);
		}
	}
}

void rw__session_frag_timer(struct rw_session *s)
{
	if (!rw__timer_pending(&s->t_frag))
		arm(s, &s->t_frag, rw__now_ms(s->sh) + s->e->t.fragment_timeout_ms);
}

/* ---- public session API (owner thread) ------------------------------------------------ */

static bool owned(const struct rw_session *s)
{
	return s && s->sh == rw__current_shard;
}

int rw_session_send(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len)
{
	if (!owned(s))
		return -EPERM;
	if (channel == RW_CHANNEL_INTERNAL || type == RW_EVENT_CHANNEL_CLOSE || (len && !payload))
		return -EINVAL;
	return rw__session_send_event(s, channel, type, payload, len);
}

int rw_session_close(struct rw_session *s, enum rw_close_reason reason, const char *message)
{
	if (!owned(s))
		return -EPERM;
	if (s->state == RW_SS_CLOSED)
		return -ENOTCONN;
	rw__session_close(s, reason ? reason : RW_CLOSE_LOCAL, false, message ? message : "closed by peer application",
			  true);
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
		rw__timer_cancel(wheel(s), &s->t_tick);
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
	if (cap < s->addrlen)
		return -ENOSPC;
	memcpy(sockaddr_out, &s->addr, s->addrlen);
	return (int)s->addrlen;
}

int rw_session_peer_addr_str(const struct rw_session *s, char *out, size_t cap)
{
	char a[RW_ADDR_STR_MAX];
	int ret = rw__addr_to_string(a, (const struct sockaddr *)&s->addr, s->addrlen);

	if (ret)
		return ret;
	if (strlen(a) >= cap)
		return -ENOSPC;
	memcpy(out, a, strlen(a) + 1);
	return 0;
}

void rw_session_stats(const struct rw_session *s, struct rw_session_stats *st)
{
	*st = s->st;
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
