/* SPDX-License-Identifier: MIT */
/*
 * reliable_core.h - the pure state machines of reliable delivery (docs/protocol.md §11,
 * §14 item 10 and §15.7: correct under loss, reordering
 * and duplication): a receiver that hands frames over once each and in
 * order, and a sender that keeps what it sent until it is ACKed. No I/O, no
 * timers, no sessions: time comes in as now_ms, frames go out through
 * callbacks. reliable.c is the session-side glue.
 *
 * Sequence space. Seq 0 means "unreliable" on the wire (docs/protocol.md §11.1), so the
 * space is 1..UINT32_MAX and skips 0: after UINT32_MAX comes 1. Both sides
 * keep a 64-bit "extended" sequence number that only grows (ext 1, 2, ...,
 * 2^32 - 1, 2^32, ...) and map it to the wire as ((ext - 1) mod (2^32 - 1)) + 1;
 * a wire seq is placed relative to the current position by its forward
 * distance modulo 2^32 - 1 (serial-number arithmetic, half the space ahead,
 * half behind). SACK bit i names AckSeq + i + 1 in that same space, so across
 * the wrap it names the seq after UINT32_MAX as 1, never 0. A v1 reference
 * peer would send seq 0 after UINT32_MAX (and cannot get there in practice:
 * 2^32 frames on one session); between ringwire peers the wrap is seamless.
 * Anything indexed by seq (the receiver's OOO slots, the sender's ring) is
 * indexed by the extended number, so no slot is shared across the wrap
 * (plain seq % 64 would be: 2^32 - 1 is not a multiple of 64).
 *
 * Receiver. The OOO buffer holds (expect, expect + 64] in 64 slots indexed by
 * ext % 64; a slot keeps its frame until delivery, nothing ever shifts (the
 * reference's buffer shifts by one after an in-order frame that does not
 * drain it, losing and duplicating frames). Buffered bytes are bounded by
 * max_buffered_bytes: a frame over budget is dropped (RW_REL_NO_MEMORY) and
 * not SACKed, so the sender retransmits it. The advertised WindowSize is the
 * configured window, always: frames are handed to the application as they
 * become deliverable, so the receive buffer never fills (docs/protocol.md §11.4 "receive
 * buffer headroom"), and a window of 0 cannot be sent anyway (it means
 * "omitted", docs/protocol.md §11.4).
 *
 * Sender. Stored frames sit in a ring of `window` slots indexed by
 * ext % window; freeing is idempotent (a slot is either full or empty), so a
 * frame freed by a SACK and then covered by a cumulative ACK is neither freed
 * twice nor counted twice (the reference's second bug). Three bounds gate a
 * new frame (rw__rel_tx_can_send):
 * - the peer's WindowSize bounds numPending, as docs/protocol.md §11.4 says;
 * - the "reach" bounds the span next - oldest_pending. It is the own window
 *   (the ring needs that) until a loss is detected; then it is halved, down
 *   to 65, once per recovery episode, and grows back by one per frame ACKed
 *   after the episode. Why: our receiver, like the reference, drops frames
 *   more than 64 past the one it waits for, so with a window of 256 every
 *   hole made the receiver throw away up to 191 frames that had arrived
 *   (3-4 times the traffic under 10 % loss in the simulation). Only ever
 *   stricter than the spec, so invisible to a peer;
 * - max_pending_bytes bounds the stored copies (one frame may always be in
 *   flight, whatever its size, so a sender never wedges).
 *
 * Retransmission (docs/protocol.md §11.6): one timer; when it fires, the oldest unACKed
 * frame is sent again and the RTO doubles (capped at max_rto); an ACK that
 * frees a frame resets the RTO to base and the retry count to 0; after
 * max_retries retransmissions without progress the next expiry reports
 * -ETIMEDOUT. On top of it, wire-compatible and our own (without them a
 * 10-30 % lossy path moves about one hole per RTO, and the doubling RTO with
 * a 50 % chance of losing the data or its ACK makes stalls last seconds):
 * - Fast retransmit. Every (re)transmission gets a transmission number; a
 *   pending frame whose latest transmission is older than one already ACKed
 *   (cumulatively or by SACK) is a hole. Each ACK that leaves it a hole counts
 *   as a duplicate ACK, or as one per frame sent after it that the ACK frees
 *   when more than one (receivers coalesce ACKs over the ACK delay); at 3 the
 *   hole is marked lost and rw__rel_tx_fast_retransmit sends it again, oldest
 *   first. Its new transmission number makes it wait for something sent
 *   after the retransmission to be ACKed before it can be marked again, so
 *   a retransmission is repeated only on new evidence. Frames the receiver
 *   dropped for being beyond its 64 slots are found the same way once
 *   anything sent after them (the hole's retransmission) is ACKed.
 * - Loss probe. An RTT estimate (RFC 6298, samples only from ACKs whose
 *   newest covered transmission was a first one: Karn) arms a probe
 *   srtt + max(4 rttvar, 10 ms) after the last ACK that freed a frame: it
 *   sends the oldest pending frame again without backoff and without
 *   counting a retry, at most RW_REL_MAX_PROBES times per stall, and only
 *   while that is sooner than the base RTO. It repairs a lost retransmission
 *   (or its lost ACK) in about an RTT instead of 200 ms, 400 ms, 800 ms...
 *   while the spec's timer still decides when the channel gives up.
 * rw__rel_tx_deadline/rw__rel_tx_timeout serve both timers as one.
 *
 * Reentrancy. A deliver or emit callback may reset or destroy the object it
 * was called from (a session closed from inside the application's callback):
 * the loop notices (a flag on the caller's stack that reset/destroy clear)
 * and returns at once without touching the object again. Any other call into
 * the same object from inside a callback is allowed only where documented.
 */
#ifndef RW_RELIABLE_CORE_H
#define RW_RELIABLE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "wire.h"

enum {
	RW_REL_OOO_SLOTS = RW_RELIABLE_OOO_WINDOW,	/* 64: one bit of AckBitmap each */
	RW_REL_DUPACK_THRESHOLD = 3,	/* ACKs that leave a hole before fast retransmit */
	RW_REL_FAST_BURST = RW_RELIABLE_OOO_WINDOW,	/* fast retransmits per call */
	RW_REL_MAX_WINDOW = 1 << 20,	/* sender ring slots; far below half the seq space */
	RW_REL_MAX_PROBES = 6,		/* loss probes per stall, before the RTO alone */
	RW_REL_PROBE_SLACK_MS = 10,	/* least margin of a probe over the smoothed RTT */
};

/* Frames in the sequence space 1..UINT32_MAX (0 skipped). */
#define RW_REL_SEQ_SPACE UINT64_C(0xffffffff)

/* The wire seq of an extended sequence number (ext >= 1). */
static inline uint32_t rw__rel_seq_wire(uint64_t ext)
{
	return (uint32_t)((ext - 1) % RW_REL_SEQ_SPACE) + 1;
}

/* seq + n in the sequence space that skips 0 (seq >= 1). */
static inline uint32_t rw__rel_seq_add(uint32_t seq, uint64_t n)
{
	return rw__rel_seq_wire((uint64_t)seq + n % RW_REL_SEQ_SPACE);
}

/* ---- receiver ---------------------------------------------------------- */

/* What became of a received reliable frame. */
enum rw_rel_verdict {
	RW_REL_DELIVERED = 0,	/* in order: delivered, with any buffered successors */
	RW_REL_BUFFERED,	/* ahead, within 64: kept until the gap fills */
	RW_REL_DUPLICATE,	/* already delivered or already buffered */
	RW_REL_TOO_FAR,		/* more than 64 ahead: dropped (docs/protocol.md §11.3) */
	RW_REL_NO_MEMORY,	/* over the byte budget (or malloc): dropped, not SACKed */
	RW_REL_INVALID,		/* seq 0: not a reliable frame, nothing done */
	RW_REL_VERDICT_COUNT,
};

typedef void (*rw_rel_deliver_fn)(void *ctx, const uint8_t *frame, size_t len);

struct rw_rel_rxslot {
	uint8_t *buf;		/* malloc'd copy; meaningful when its present bit is set */
	size_t len;
	uint64_t ext;		/* its extended seq (the slot of expect is also expect + 64's) */
};

struct rw_rel_rx {
	uint64_t expect;	/* extended seq of the next in-order frame */
	uint64_t present;	/* bit s: slot[s] holds frame ext with ext % 64 == s */
	struct rw_rel_rxslot slot[RW_REL_OOO_SLOTS];
	uint32_t window;	/* advertised WindowSize, nonzero */
	uint32_t ack_delay_ms;	/* RW_DEFAULT_ACK_DELAY_MS after init; may be set */
	size_t max_buffered_bytes;
	size_t buffered_bytes;
	bool ack_pending;
	uint64_t ack_due_ms;
	bool *running;		/* rw__rel_rx_frame's "still valid" flag, if inside it */
	/* statistics */
	uint64_t delivered;
	uint64_t duplicates;
	uint64_t too_far;
	uint64_t no_memory;
};

/*
 * window: WindowSize to advertise (>= 1); max_buffered_bytes: bound on the
 * bytes held out of order (0: no bound beyond the 64 slots). -EINVAL if
 * window is 0.
 */
int rw__rel_rx_init(struct rw_rel_rx *rx, uint32_t window, size_t max_buffered_bytes) RW_MUST_CHECK;
/* Free the OOO buffer; init may be called again. Safe from inside deliver. */
void rw__rel_rx_destroy(struct rw_rel_rx *rx);
/*
 * docs/protocol.md §11.7: expect 1, OOO buffer emptied, no ACK pending; configuration and
 * statistics kept. Safe from inside deliver.
 */
void rw__rel_rx_reset(struct rw_rel_rx *rx);
/*
 * Test hook (and nothing else should need it): make seq the next expected.
 * -EBUSY unless the OOO buffer is empty, -EINVAL for seq 0.
 */
int rw__rel_rx_set_expect(struct rw_rel_rx *rx, uint32_t seq) RW_MUST_CHECK;
/* The wire seq expected next (the AckSeq an ACK would carry). */
static inline uint32_t rw__rel_rx_expect(const struct rw_rel_rx *rx)
{
	return rw__rel_seq_wire(rx->expect);
}
/* Frames held out of order. */
unsigned rw__rel_rx_buffered(const struct rw_rel_rx *rx);

/*
 * A decrypted frame with Seq seq (its bytes, frame[0..len), are only read
 * during the call). Returns its enum rw_rel_verdict, or -EBUSY when called
 * from inside deliver for this same rx (then nothing is done).
 *
 * In order: deliver(ctx, frame, len), then every buffered successor in
 * order, each removed from the buffer before its deliver and freed after.
 * Every seq other than 0 also sets the ACK pending (a duplicate too: the
 * sender needs a fresh ACK), due at now_ms + ack_delay_ms unless one is
 * already pending (the first one wins until the ACK is taken).
 *
 * deliver contract: the state is consistent at every deliver (expect is past
 * the frame delivered, so rw__rel_rx_ack may be called from inside it to
 * piggyback an ACK); deliver may call rw__rel_rx_reset or rw__rel_rx_destroy
 * on this rx, even free the memory holding it: rw__rel_rx_frame then returns
 * RW_REL_DELIVERED at once, delivering nothing more and never touching rx
 * again. It must not call rw__rel_rx_frame on the same rx (-EBUSY).
 */
int rw__rel_rx_frame(struct rw_rel_rx *rx, uint32_t seq, const uint8_t *frame, size_t len, uint64_t now_ms,
		     rw_rel_deliver_fn deliver, void *ctx);

/*
 * Fill the ACK fields of out (AckSeq = next expected, bit i of AckBitmap set
 * when AckSeq + i + 1 is buffered, WindowSize = the configured window) and
 * clear the pending ACK. out->seq is left alone.
 */
void rw__rel_rx_ack(struct rw_rel_rx *rx, struct rw_frame_rel *out);

/* Is an ACK owed? With *due_ms (may be NULL) the time by which to send it. */
bool rw__rel_rx_ack_pending(const struct rw_rel_rx *rx, uint64_t *due_ms);

const char *rw__rel_verdict_str(int v);

/* ---- sender ------------------------------------------------------------ */

/*
 * Send a stored frame again. Returns >= 0 when it went out, negative errno
 * when it could not (counted as a loss: the frame stays pending). May reset
 * or destroy the rw_rel_tx it was called for (the caller then stops and
 * touches it no more); must not call any other rw__rel_tx_* on it. frame is
 * the stored copy: valid until emit returns or resets/destroys the tx.
 */
typedef int (*rw_rel_emit_fn)(void *ctx, uint32_t seq, const uint8_t *frame, size_t len);

struct rw_rel_txslot {
	uint8_t *buf;		/* malloc'd copy; NULL: slot free */
	size_t len;
	uint64_t xmit;		/* transmission number of its latest (re)send */
	uint64_t sent_ms;	/* time of that send */
	uint8_t dupacks;	/* ACKs that left it a hole since that send */
	bool lost;		/* awaiting fast retransmit */
	bool rtx;		/* sent more than once: no RTT sample from it (Karn) */
};

/*
 * Where the sender keeps its copies of frames. NULL members: malloc/free. A
 * session gives a per-thread pool, so storing a frame allocates nothing.
 */
struct rw_rel_alloc {
	void *(*get)(void *ctx, size_t len);
	void (*put)(void *ctx, void *p, size_t len);
	void *ctx;
};

struct rw_rel_tx {
	struct rw_rel_alloc alloc;	/* set after init, before the first store */
	struct rw_rel_txslot *slot;	/* ring of window slots, by ext % window */
	uint32_t window;	/* own window: ring size */
	uint32_t peer_window;	/* latest nonzero WindowSize, bound on in_flight */
	uint32_t reach;		/* bound on next - una, <= window (see the top) */
	uint64_t recover;	/* recovering from a loss until una reaches this */
	uint64_t una;		/* ext of the oldest pending frame; == next if none */
	uint64_t next;		/* ext the next stored frame gets */
	uint64_t xmit;		/* transmission counter */
	uint64_t acked_xmit;	/* greatest transmission number ACKed so far */
	uint32_t base_rto_ms;
	uint32_t max_rto_ms;
	uint32_t rto_ms;	/* current RTO */
	uint32_t max_retries;
	uint32_t retries;	/* consecutive timer retransmits without progress */
	uint64_t deadline_ms;	/* retransmit timer (docs/protocol.md §11.6) */
	uint64_t probe_ms;	/* loss probe, 0: none armed */
	uint32_t probes;	/* probes since the last ACK that freed a frame */
	uint32_t srtt_ms;	/* smoothed RTT, 0: no sample yet */
	uint32_t rttvar_ms;
	size_t max_pending_bytes;
	bool *running;		/* a burst's "still valid" flag, if inside one */
	/* statistics */
	uint64_t retransmits;	/* by the retransmit timer (docs/protocol.md §11.6) */
	uint64_t fast_retransmits;	/* by rw__rel_tx_fast_retransmit */
	uint64_t acked;		/* frames freed by ACKs */
	uint64_t stale_acks;	/* AckSeq behind the oldest pending: ignored */
	uint64_t bogus_acks;	/* AckSeq beyond what was sent: ignored */
	uint64_t emit_errors;
	uint64_t recoveries;	/* losses that narrowed the reach */
	uint64_t probes_sent;	/* loss probes (not in retransmits) */
	uint32_t in_flight;	/* frames stored and not yet ACKed */
	size_t pending_bytes;	/* their bytes */
};

/*
 * window: own window, 1..RW_REL_MAX_WINDOW (also the initial peer window,
 * docs/protocol.md §11.4); base_rto_ms >= 1; max_rto_ms >= base_rto_ms; max_pending_bytes:
 * bound on stored bytes (0: none). -EINVAL on a bad argument, -ENOMEM.
 */
int rw__rel_tx_init(struct rw_rel_tx *tx, uint32_t window, uint32_t base_rto_ms, uint32_t max_rto_ms,
		    uint32_t max_retries, size_t max_pending_bytes) RW_MUST_CHECK;
/* Free everything; init may be called again. Safe from inside emit. */
void rw__rel_tx_destroy(struct rw_rel_tx *tx);
/*
 * docs/protocol.md §11.7: purge pending frames, next seq 1, peer window back to the own
 * window, RTO to base, timers stopped, reach and RTT estimate forgotten (a
 * new session may take another path); statistics kept. Safe from inside emit.
 */
void rw__rel_tx_reset(struct rw_rel_tx *tx);
/* Test hook: make seq the next seq. -EBUSY unless nothing is pending, -EINVAL for 0. */
int rw__rel_tx_set_next_seq(struct rw_rel_tx *tx, uint32_t seq) RW_MUST_CHECK;

/*
 * May a frame of len bytes be stored now? in_flight < peer window, the span
 * from the oldest pending frame < reach (<= own window), and pending bytes +
 * len within the budget (or nothing pending). After an ACK, ask again: a
 * freed frame or a larger WindowSize may have opened the window (the
 * caller's on_writable).
 */
bool rw__rel_tx_can_send(const struct rw_rel_tx *tx, size_t len);

/*
 * The Seq for the next frame. Taking it commits nothing: calling again before
 * rw__rel_tx_store returns the same seq, so a frame whose encoding failed
 * after its seq was taken leaves no hole in the sequence.
 */
uint32_t rw__rel_tx_next_seq(struct rw_rel_tx *tx);

/*
 * Keep a copy of the frame just sent with seq (which must be
 * rw__rel_tx_next_seq's) until it is ACKed; starts the retransmit timer if
 * nothing was in flight. -EINVAL for another seq, -ENOBUFS when
 * rw__rel_tx_can_send(len) is false, -ENOMEM. On failure nothing changed and
 * seq was not consumed: a caller that sent the frame anyway must close the
 * channel (the next frame would reuse its seq).
 */
int rw__rel_tx_store(struct rw_rel_tx *tx, uint32_t seq, const uint8_t *frame, size_t len, uint64_t now_ms)
	RW_MUST_CHECK;

/*
 * The ACK fields of a received frame (ack->seq is ignored). Frees every
 * pending frame below AckSeq and each one its AckBitmap names; a nonzero
 * WindowSize becomes the peer window. An AckSeq behind the oldest pending
 * frame (a stale, reordered ACK) or beyond the last seq stored (bogus) is
 * ignored whole, WindowSize included. AckSeq 0 carries no ACK: only the
 * window is taken. Returns the number of frames freed (>= 0); when any were,
 * the RTO is back to base, the retry count to 0 and the timer restarted
 * from now_ms (docs/protocol.md §11.6). Also feeds the RTT estimate and loss detection
 * (see the top). Then call rw__rel_tx_fast_retransmit, and ask
 * rw__rel_tx_can_send and rw__rel_tx_deadline again.
 */
int rw__rel_tx_on_ack(struct rw_rel_tx *tx, const struct rw_frame_rel *ack, uint64_t now_ms);

/*
 * Send again, oldest first, the frames ACKs showed lost (see the top of this
 * file), at most RW_REL_FAST_BURST per call; the rest wait for the next call.
 * Returns how many went out. Stops at the first emit failure (the frame stays
 * marked, for the next call) and when emit resets or destroys tx.
 */
int rw__rel_tx_fast_retransmit(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx);

/*
 * When rw__rel_tx_timeout next has something to do (absolute ms: the sooner
 * of the retransmit timer and the loss probe), 0 when nothing is in flight.
 * Changes after rw__rel_tx_store, rw__rel_tx_on_ack and rw__rel_tx_timeout.
 */
uint64_t rw__rel_tx_deadline(const struct rw_rel_tx *tx);

/*
 * Call at or after the deadline. 0 if it has not passed (or nothing is in
 * flight). When the retransmit timer has expired: -ETIMEDOUT if max_retries
 * retransmissions went unanswered (the caller closes the channel; the state
 * is left as is and later calls say the same), else the oldest pending
 * frame is emitted, the RTO doubles (capped at max_rto_ms) and the timer is
 * rearmed from now_ms. When only the loss probe is due: the oldest pending
 * frame is emitted, nothing else changes. Both return 1, also when emit
 * failed (that counts as a lost retransmission).
 */
int rw__rel_tx_timeout(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx);

#endif
