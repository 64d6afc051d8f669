/* SPDX-License-Identifier: MIT */
/*
 * send.h - THE send pipeline (send.c): every datagram the engine sends goes
 * through here, in this order: coalesce -> fragment -> seal -> pace -> batch
 * -> transport. Owner thread only.
 */
#ifndef RW_SEND_H
#define RW_SEND_H

#include <stddef.h>
#include <stdint.h>

#include "shard.h"
#include "transport.h"

struct rw_session;

/* Sealed packets parked per shard at most (beyond it, senders get -EAGAIN, then on_writable). */
enum { RW_PARK_MAX_BYTES = 32 << 20, RW_SEND_BATCH = 64 };

/*
 * An application event: coalesced into the frame open on its channel, or a
 * new frame (fragmented if it does not fit a packet). The caller checked the
 * session is established. -EAGAIN: window, pacer or park full (on_writable
 * follows); -ENOTCONN: the session broke (doomed).
 */
int rw__send_event(struct rw_session *s, uint8_t channel, uint8_t type, const void *payload, size_t len);
/* Finish and send the open frame, if any. */
void rw__send_flush(struct rw_session *s);
/* An encoded frame (a retransmission, a standalone ACK): fragment, seal, send. */
int rw__send_frame(struct rw_session *s, const uint8_t *frame, size_t len);
/*
 * A path MTU probe (docs/protocol.md §13.6): one Data packet of exactly size
 * bytes carrying probe id on channel 255, never fragmented. -ENOBUFS when no
 * buffer that large is free or packets are parked (the probe is skipped).
 */
int rw__send_probe(struct rw_session *s, uint32_t size, uint32_t id);
/*
 * A cover packet (docs/protocol.md §13.7): a Data packet of the padding's
 * fixed size carrying only padding on channel 255. Skipped (-ENOBUFS) when
 * packets are parked: cover never waits ahead of real data.
 */
int rw__send_cover(struct rw_session *s);
/* An empty Keepalive or Disconnect. */
int rw__send_control(struct rw_session *s, uint8_t type);
/* A datagram already complete (handshake messages, cookie replies). */
int rw__send_raw(struct rw_shard *sh, const uint8_t *data, size_t len, const struct rw_peer_addr *to);
/*
 * Without a session (a rejected client): seal frame as Data (counter 0) and
 * a Disconnect (counter 1) under the one-off send key, and send both.
 */
int rw__send_farewell(struct rw_shard *sh, const uint8_t key[RW_KEY_LEN], uint32_t remote_index, const uint8_t *frame,
		      size_t len, const struct rw_peer_addr *to);
/* The pacer's timer: send what the rate allows now. */
void rw__send_paced(struct rw_session *s, uint64_t now);
/* End of a reactor batch (buffers came back): resume parked packets, flush open frames. */
void rw__send_batch_end(struct rw_shard *sh);
/* A session the pipeline flagged (doomed, or due for a rekey), or NULL. Clears its flag. */
struct rw_session *rw__send_attn_pop(struct rw_shard *sh);

void rw__send_session_init(struct rw_session *s);
/* At close: the open frame's buffer goes back, the session leaves every list. */
void rw__send_session_stop(struct rw_session *s);
void rw__send_session_free(struct rw_session *s);
int rw__send_shard_init(struct rw_shard *sh);
void rw__send_shard_free(struct rw_shard *sh);
void rw__send_stats(const struct rw_shard *sh, struct rw_send_stats *st);

#endif
