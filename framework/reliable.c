/* SPDX-License-Identifier: MIT */
/*
 * reliable.c - reliable channels: timers, stamping, delivery (reliable.h).
 *
 * The sequencing, SACK and retransmission logic lives in reliable_core.c,
 * which knows nothing of sessions or time sources and is unit-tested alone.
 * This file wires it to an owner through struct rw_reliable_ops: one
 * retransmit timer and one delayed-ACK timer per reliable channel on the
 * shard's wheel, ACKs piggybacked on any frame sent on the channel (stamp)
 * and otherwise sent standalone within ack_delay_ms, and writable once a
 * full window opens again. It owns the shard's block pool for kept frames.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reliable.h"
#include "reliable_core.h"
#include "wire.h"

/* Bytes a channel may hold unacknowledged / out of order: bounded whatever the peer does. */
enum { RW_REL_MAX_PENDING = 8 << 20, RW_REL_MAX_BUFFERED = 8 << 20 };

struct rw_reliable {
	struct rw_reliable_env env;
	uint8_t channel;
	bool want_writable;
	bool stopped;		/* the owner closed during a callback: deliver nothing more */
	struct rw_rel_tx tx;
	struct rw_rel_rx rx;
	struct rw_timer t_rto, t_ack;
	uint64_t deferred;	/* the retransmit deadline whose expiry already waited for the reads */
};

static struct rw_timer_wheel *wheel(struct rw_reliable *r)
{
	return r->env.wheel;
}

static uint64_t now(struct rw_reliable *r)
{
	return r->env.clock(r->env.clock_ctx);
}

/*
 * The shard's pool of blocks for the copies a sender keeps until ACKed:
 * frames fit a packet (1192 bytes by default), so one block size serves
 * nearly all of them and storing a frame allocates nothing in steady
 * state. Larger ones (fragmented events) use malloc. Bounded: beyond
 * RW_POOL_KEEP blocks, freed blocks go back to the allocator.
 */
enum { RW_BLOCK = 2048, RW_POOL_KEEP = 8192 };

struct rw_block {
	struct rw_block *next;
};

static void *pool_get(void *ctx, size_t len)
{
	struct rw_block_pool *pool = ctx;
	struct rw_block *b = pool->blocks;

	if (len > RW_BLOCK)
		return malloc(len);
	if (!b)
		return malloc(RW_BLOCK);
	pool->blocks = b->next;
	pool->n--;
	return b;
}

static void pool_put(void *ctx, void *p, size_t len)
{
	struct rw_block_pool *pool = ctx;
	struct rw_block *b = p;

	if (len > RW_BLOCK || pool->n >= RW_POOL_KEEP) {
		free(p);
		return;
	}
	b->next = pool->blocks;
	pool->blocks = b;
	pool->n++;
}

void rw__reliable_pool_free(struct rw_block_pool *pool)
{
	while (pool->blocks) {
		struct rw_block *b = pool->blocks;

		pool->blocks = b->next;
		free(b);
	}
	pool->n = 0;
}

static void arm_rto(struct rw_reliable *r)
{
	uint64_t d = rw__rel_tx_deadline(&r->tx);

	/* an application held back by pacing alone is woken when the next token is there */
	if (r->want_writable && rw__rel_tx_can_send(&r->tx, 0)) {
		uint64_t p = now(r) + rw__rel_tx_pacing_delay(&r->tx, now(r));

		if (!d || p < d)
			d = p;
	}
	if (d)
		rw__timer_add(wheel(r), &r->t_rto, d);
	else
		rw__timer_cancel(wheel(r), &r->t_rto);
}

static int emit(void *ctx, uint32_t seq, const uint8_t *frame, size_t len)
{
	struct rw_reliable *r = ctx;

	(void)seq;
	return r->env.ops->send_frame(r->env.ctx, frame, len, true);
}

/* writable, once, when a sender that was refused may send again. false: the owner closed. */
static bool notify_writable(struct rw_reliable *r)
{
	if (!r->want_writable || !rw__rel_tx_can_send(&r->tx, 0) || rw__rel_tx_pacing_delay(&r->tx, now(r)))
		return true;
	r->want_writable = false;
	return r->env.ops->writable(r->env.ctx, r->channel);
}

static void on_rto(struct rw_timer *t, uint64_t now_ms)
{
	struct rw_reliable *r = rw_container_of(t, struct rw_reliable, t_rto);
	uint64_t d = rw__rel_tx_deadline(&r->tx);

	/*
	 * A batch's timers fire before its datagrams are read. After a stall
	 * (a preempted reactor, a burst of handshakes) every session's timer
	 * is due at once while the ACKs that answer them wait unread: firing
	 * now would retransmit whole windows the peer has, and a loaded
	 * machine then drowns in them. So an expiry with reads waiting looks
	 * again just after them, once per deadline: a real loss costs a
	 * millisecond more, however busy the socket stays.
	 */
	if (d && now_ms >= d && d != r->deferred && r->env.unread && r->env.unread(r->env.clock_ctx)) {
		r->deferred = d;
		rw__timer_add(wheel(r), &r->t_rto, now(r) + 1);
		return;
	}
	if (rw__rel_tx_timeout(&r->tx, now_ms, emit, r) == -ETIMEDOUT) {
		char msg[64];

		snprintf(msg, sizeof(msg), "reliable channel %u: no ACK after %u retransmissions", r->channel,
			 r->tx.max_retries);
		r->env.ops->fail(r->env.ctx, msg);
		return;
	}
	if (!notify_writable(r))
		return;
	arm_rto(r);
}

static void send_ack(struct rw_reliable *r)
{
	struct rw_frame_builder b;
	struct rw_frame_rel rel = { 0 };
	uint8_t frame[1 + RW_FRAME_REL_MAX];
	int n;

	/* a standalone ACK: no events, Seq 0 (docs/protocol.md §10.3) */
	rw__rel_rx_ack(&r->rx, &rel);
	if (rw__frame_begin(&b, frame, sizeof(frame), r->channel, RW_FRAME_REL_MAX))
		return;
	n = rw__frame_finish(&b, &rel);
	if (n > 0)
		r->env.ops->send_frame(r->env.ctx, frame, (size_t)n, false);
}

static void on_ack_timer(struct rw_timer *t, uint64_t now_ms)
{
	struct rw_reliable *r = rw_container_of(t, struct rw_reliable, t_ack);
	uint64_t due;

	(void)now_ms;
	if (rw__rel_rx_ack_pending(&r->rx, &due))
		send_ack(r);
}

struct rw_reliable *rw__reliable_new(const struct rw_reliable_env *env, uint8_t channel, const struct rw_handler *h)
{
	struct rw_reliable *r;
	uint32_t window = h && h->window ? h->window : RW_DEFAULT_RELIABLE_WINDOW;
	uint32_t rto = h && h->base_rto_ms ? h->base_rto_ms : RW_DEFAULT_BASE_RTO_MS;
	uint32_t retries = h && h->max_retries ? h->max_retries : RW_DEFAULT_MAX_RETRIES;

	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->env = *env;
	r->channel = channel;
	if (rw__rel_tx_init(&r->tx, window, rto, RW_MAX_RTO_MS, retries, RW_REL_MAX_PENDING) ||
	    rw__rel_rx_init(&r->rx, window, RW_REL_MAX_BUFFERED)) {
		rw__rel_tx_destroy(&r->tx);
		free(r);
		return NULL;
	}
	r->tx.alloc = (struct rw_rel_alloc){ .get = pool_get, .put = pool_put, .ctx = env->pool };
	r->rx.ack_delay_ms = env->ack_delay_ms;
	/* the peer's ACK delay is not on the wire: assume ours, and never below the default */
	if (env->ack_delay_ms > r->tx.max_ack_delay_ms)
		r->tx.max_ack_delay_ms = env->ack_delay_ms;
	rw__timer_init(&r->t_rto, on_rto);
	rw__timer_init(&r->t_ack, on_ack_timer);
	return r;
}

bool rw__reliable_can_send(struct rw_reliable *r, size_t len)
{
	/* the windows (peer, own, congestion), then pacing (RFC 9002 §7.7) */
	if (rw__rel_tx_can_send(&r->tx, len) && !rw__rel_tx_pacing_delay(&r->tx, now(r)))
		return true;
	r->want_writable = true;
	arm_rto(r);
	return false;
}

void rw__reliable_stamp(struct rw_reliable *r, struct rw_frame_rel *rel)
{
	rw__rel_rx_ack(&r->rx, rel);
	rel->seq = rw__rel_tx_next_seq(&r->tx);
	/* the ACK rides along: no standalone one needed now */
	rw__timer_cancel(wheel(r), &r->t_ack);
}

int rw__reliable_sent(struct rw_reliable *r, uint32_t seq, const uint8_t *frame, size_t len)
{
	int ret = rw__rel_tx_store(&r->tx, seq, frame, len, now(r));

	if (ret == 0)
		arm_rto(r);
	return ret;
}

static void deliver_cb(void *ctx, const uint8_t *frame, size_t len)
{
	struct rw_reliable *r = ctx;
	struct rw_frame f;

	if (r->stopped)
		return;
	/* the stored copy was validated when it arrived; decode it again as a view */
	if (rw__frame_decode(&f, frame, len) == 0 && !r->env.ops->deliver(r->env.ctx, &f))
		r->stopped = true;
}

void rw__reliable_rx(struct rw_reliable *r, const struct rw_frame *f)
{
	uint64_t due;
	int v;

	if (f->rel.ack_seq || f->rel.ack_bitmap || f->rel.window) {
		uint64_t spurious = r->tx.spurious_retransmits;

		/* losses it shows are sent again at once, as far as cwnd and pacing allow */
		rw__rel_tx_on_ack(&r->tx, &f->rel, now(r));
		if (r->tx.spurious_retransmits != spurious && r->env.spurious)
			__atomic_fetch_add(r->env.spurious, r->tx.spurious_retransmits - spurious, __ATOMIC_RELAXED);
		rw__rel_tx_fast_retransmit(&r->tx, now(r), emit, r);
		arm_rto(r);
		if (!notify_writable(r))
			return;
	}
	if (!f->rel.seq) {
		/* an ACK, or unreliable events on a reliable channel */
		if (f->nevents)
			r->env.ops->deliver(r->env.ctx, f);
		return;
	}
	v = rw__rel_rx_frame(&r->rx, f->rel.seq, f->buf, f->len, now(r), deliver_cb, r);
	if (r->stopped)
		return;
	if (v == RW_REL_BUFFERED || v == RW_REL_DUPLICATE || v == RW_REL_TOO_FAR) {
		/*
		 * A hole, or a retransmission we already had: ACK at once, as TCP
		 * does. A sender whose window is full sends nothing new, so a
		 * delayed ACK would leave it waiting for its retransmit timer.
		 */
		send_ack(r);
		rw__timer_cancel(wheel(r), &r->t_ack);
		return;
	}
	/* the core moves the due time with each frame (sooner once they stop) */
	if (rw__rel_rx_ack_pending(&r->rx, &due) && (!rw__timer_pending(&r->t_ack) || r->t_ack.expires != due))
		rw__timer_add(wheel(r), &r->t_ack, due);
}

size_t rw__reliable_take_acked_max(struct rw_reliable *r, uint64_t now_ms)
{
	size_t n = r->tx.acked_max_len;

	r->tx.acked_max_len = 0;
	r->tx.acked_since_ms = now_ms;
	return n;
}

void rw__reliable_reset(struct rw_reliable *r)
{
	/* docs/protocol.md §13.1: a later frame on the id opens the channel afresh */
	if (!r)
		return;
	rw__rel_tx_reset(&r->tx);
	rw__rel_rx_reset(&r->rx);
	rw__timer_cancel(wheel(r), &r->t_rto);
	rw__timer_cancel(wheel(r), &r->t_ack);
}

void rw__reliable_stop(struct rw_reliable *r)
{
	if (!r)
		return;
	r->stopped = true;
	rw__timer_cancel(wheel(r), &r->t_rto);
	rw__timer_cancel(wheel(r), &r->t_ack);
}

void rw__reliable_free(struct rw_reliable *r)
{
	if (!r)
		return;
	rw__rel_tx_destroy(&r->tx);
	rw__rel_rx_destroy(&r->rx);
	free(r);
}
