/* SPDX-License-Identifier: MIT */
/*
 * reliable.h - reliable channels (docs/protocol.md §11): the glue around the
 * pure state machines of reliable_core.h. One struct rw_reliable per reliable
 * channel of a session. It owns the per-channel timers (retransmit, delayed
 * ACK), stamps outgoing frames with Seq and the piggybacked ACK, feeds
 * incoming frames through the receiver so the application sees each
 * reliable frame once and in order, and reports backpressure (-EAGAIN, then
 * writable).
 *
 * It knows nothing of sessions: it reaches its owner only through the
 * callbacks of struct rw_reliable_ops, so the session calls down into it and
 * it never calls back up by name.
 */
#ifndef RW_RELIABLE_H
#define RW_RELIABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "ringwire.h"
#include "timer.h"

struct rw_reliable;

/* What a reliable channel needs from its owner. ctx is the owner's (a session). */
struct rw_reliable_ops {
	/* Seal and send an encoded frame: a retransmission (retransmit true) or a standalone ACK. */
	int (*send_frame)(void *ctx, const uint8_t *frame, size_t len, bool retransmit);
	/* One frame, in order. false: the owner closed meanwhile, stop. */
	bool (*deliver)(void *ctx, const struct rw_frame *f);
	/* A full window opened again. false: the owner closed meanwhile. */
	bool (*writable)(void *ctx, uint8_t channel);
	/* No ACK after every retransmission: the channel is broken. */
	void (*fail)(void *ctx, const char *why);
};

/* The shard's pool of blocks for the copies a sender keeps until ACKed (owner thread only). */
struct rw_block;
struct rw_block_pool {
	struct rw_block *blocks;
	uint32_t n;
};

struct rw_reliable_env {
	const struct rw_reliable_ops *ops;
	void *ctx;
	struct rw_timer_wheel *wheel;
	/* the owner's clock in ms (its reactor's batch time), clock(clock_ctx) */
	uint64_t (*clock)(const void *clock_ctx);
	const void *clock_ctx;
	/*
	 * true while datagrams the owner received are still to be read (its
	 * timers run first), unread(clock_ctx); NULL: never. An expired
	 * retransmit timer then looks again after them, once per deadline:
	 * after a stall the ACK that makes it spurious is likely among them.
	 */
	bool (*unread)(const void *clock_ctx);
	struct rw_block_pool *pool;
	uint32_t ack_delay_ms;
	uint64_t *spurious;	/* counter for retransmissions shown unnecessary (relaxed atomic), or NULL */
};

/* A reliable channel (handler settings, or defaults when h is NULL). NULL: out of memory. */
struct rw_reliable *rw__reliable_new(const struct rw_reliable_env *env, uint8_t channel, const struct rw_handler *h);
/* May a frame of about len bytes be sent now? false: the app gets -EAGAIN, then writable. */
bool rw__reliable_can_send(struct rw_reliable *r, size_t len);
/* Fill the Seq of the frame about to be sent and the ACK state to piggyback. */
void rw__reliable_stamp(struct rw_reliable *r, struct rw_frame_rel *rel);
/* Keep a copy of a reliable frame about to be sent (before sealing). 0 or -errno. */
int rw__reliable_sent(struct rw_reliable *r, uint32_t seq, const uint8_t *frame, size_t len);
/* A received frame with reliability fields: ACKs, then in-order delivery through ops->deliver. */
void rw__reliable_rx(struct rw_reliable *r, const struct rw_frame *f);
/* The peer closed the channel (event type 255), or a reconnect: forget its state (Seq starts at 1). */
/*
 * The largest frame the peer ACKed that was last sent since the previous
 * call (0: none): the datagrams it went in got through (path MTU evidence).
 */
size_t rw__reliable_take_acked_max(struct rw_reliable *r, uint64_t now_ms);
void rw__reliable_reset(struct rw_reliable *r);
/* Stop the timers (at close), then free (at reap). NULL is fine for both. */
void rw__reliable_stop(struct rw_reliable *r);
void rw__reliable_free(struct rw_reliable *r);
/* Free the pool's blocks (engine teardown). */
void rw__reliable_pool_free(struct rw_block_pool *pool);

#endif
