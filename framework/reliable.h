/* SPDX-License-Identifier: MIT */
/*
 * reliable.h - reliable channels on a session (spec §11, PROFILE §10): the
 * session-side glue around the pure state machines of reliable_core.h. It
 * owns the per-channel timers (retransmit, delayed ACK), stamps outgoing
 * frames with Seq and the piggybacked ACK, feeds incoming frames through the
 * receiver so the application sees each reliable frame once and in order,
 * and reports backpressure (-EAGAIN, then on_writable).
 */
#ifndef RW_RELIABLE_H
#define RW_RELIABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"
#include "ringwire.h"

struct rw_session;

typedef void (*rw_frame_deliver_fn)(struct rw_session *s, const struct rw_frame *f);

/* Make channel reliable on this session (handler settings, or defaults when h is NULL). */
int rw__reliable_enable(struct rw_session *s, uint8_t channel, const struct rw_handler *h);
/* May a frame of about len bytes be sent now? false: the app gets -EAGAIN. */
bool rw__reliable_can_send(struct rw_session *s, uint8_t channel, size_t len);
/* Fill the Seq of the frame about to be sent and the ACK state to piggyback. */
void rw__reliable_stamp(struct rw_session *s, uint8_t channel, struct rw_frame_rel *rel);
/* Keep a copy of a reliable frame about to be sent (before sealing). 0 or -errno. */
int rw__reliable_sent(struct rw_session *s, uint8_t channel, uint32_t seq, const uint8_t *frame, size_t len);
/* A received frame with reliability fields: ACKs, then in-order delivery. */
void rw__reliable_rx(struct rw_session *s, const struct rw_frame *f, rw_frame_deliver_fn deliver);
/* The peer closed the channel (event type 255): forget its state. */
void rw__reliable_channel_closed(struct rw_session *s, uint8_t channel);
/* A reconnect: every channel starts over at Seq 1 (spec §11.7). */
void rw__reliable_reset_all(struct rw_session *s);
/* Stop timers (at close) and free (at reap). */
void rw__reliable_session_stop(struct rw_session *s);
void rw__reliable_session_free(struct rw_session *s);

#endif
