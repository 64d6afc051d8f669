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
 * Retransmission, loss detection and congestion control, in the manner of
 * RFC 9002 (QUIC) and RFC 6298, wire-compatible (v1 frames carry no ACK
 * delay and no packet numbers, so the sender keeps its own):
 * - Transmission numbers. Every (re)transmission gets the next number of a
 *   per-sender counter, QUIC's packet number. An ACK credits the number of
 *   the transmission it most likely answers: the latest one, unless the
 *   frame was retransmitted less than max(min_rtt, 1 ms) ago, when the
 *   retransmission cannot have been answered yet (RFC 8985 §6.1): then it
 *   answers the original, and the retransmission was spurious (counted
 *   when sooner than min_rtt; ms clocks cannot tell below 1 ms). The
 *   original is credited as well when the latest send was a timer probe:
 *   a probe is a guess (the original is most often only late, behind a
 *   busy receiver), and crediting it would declare everything sent since
 *   the original lost. What was sent before an ACKed probe is declared
 *   lost only when no ACK covers it for the peer's ACK delay after that
 *   (a receiver back from a stall ACKs its backlog by then; after a
 *   blackout, everything then goes again as the window allows, not one
 *   frame per timeout).
 * - RTT (RFC 9002 §5, RFC 6298 §2): a sample from each ACK whose newest
 *   newly ACKed transmission is a first one (Karn); when it is a
 *   retransmission, the time since its latest send is a lower bound (what
 *   QUIC would sample), taken only when above srtt: behind a stalled
 *   receiver every frame is retransmitted, and the estimate must still
 *   learn the queue. smoothed_rtt, rttvar, min_rtt and latest_rtt kept in
 *   microseconds. The peer's ACK delay is not
 *   on the wire: as QUIC without the field, the ACK delay is left in the
 *   samples and max_ack_delay (the standalone-ACK delay, 20 ms by default)
 *   is added to the PTO.
 * - Retransmit timer (docs/protocol.md §11.6): PTO = srtt + max(4 rttvar, granularity)
 *   + max_ack_delay, at least max_ack_delay + RW_REL_MIN_RTO_SLACK_MS and at
 *   most max_rto; base_rto_ms before the first sample. While frames past
 *   the oldest pending one are SACKed, max_ack_delay counts as 0: the
 *   oldest fills a hole, which a receiver ACKs at once (RFC 9000 §13.2.1;
 *   ringwire's receiver ACKs out-of-order frames, duplicates and hole
 *   fills at once, others within ack_quiet_ms / ack_delay_ms). It runs from the
 *   latest of the last ACK that freed a frame and the last transmission
 *   (RFC 9002 §6.2.1 arms it from the last send; RFC 6298 §5.3 restarts it
 *   on ACKs). Each expiry sends two probes, both the oldest pending frame
 *   (RFC 9002 §6.2.4: the receiver waits for that one), and doubles the
 *   timer (capped at max_rto), but for the first RW_REL_FLAT_PROBES
 *   expiries while it is below base_rto_ms (and, with no standing queue on
 *   the path, for as long as the stall is younger than base_rto_ms and
 *   an ACK, of anything, came since the last expiry: the peer is there and
 *   only this frame's copies go missing; from a silent peer, stalled or
 *   cut off, every further probe would only add to its backlog); an ACK
 *   that frees a frame resets it. Only expiries at base_rto_ms or more count as the spec's
 *   retransmissions: after max_retries of them without progress the next
 *   one reports -ETIMEDOUT, so a short PTO gives up no sooner than the
 *   spec's timer would.
 *   max_ack_delay is an assumption (v1 has no transport parameter for it):
 *   the PTO allows for less once the peer shows it ACKs sooner. A sample
 *   from an ACK of the newest frame (no new frame sent since: the sender
 *   has paused, but for retransmissions) holds the whole delay the peer
 *   adds when frames stop; that minus min_rtt, rising at once and falling
 *   by 1/8 per such sample, plus the granularity, replaces max_ack_delay
 *   while smaller. A ringwire peer ACKs a paused sender within
 *   RW_REL_ACK_QUIET_MS (a PTO of ~10 ms on a LAN instead of ~25); a peer
 *   that waits its full ACK delay keeps max_ack_delay in force.
 * - Loss by ACK (RFC 9002 §6.1): a pending frame whose latest transmission
 *   is older than the greatest one credited is lost once it is
 *   RW_REL_PACKET_THRESHOLD transmissions older (one more per spurious
 *   fast retransmission, up to RW_REL_MAX_PACKET_THRESHOLD: a reordering
 *   path, RFC 9002 §6.1.1), or once it was sent
 *   9/8 max(srtt, latest_rtt) ago (at least the granularity); until then a
 *   loss timer waits for the time threshold. Lost frames are sent again by
 *   rw__rel_tx_fast_retransmit (after each ACK) or rw__rel_tx_timeout (loss
 *   timer, pacing), oldest first, within the congestion window (the
 *   first after a reduction at once, as TCP's fast retransmit). A
 *   retransmission has a new transmission number, so it is declared lost
 *   again only on new evidence. Frames the receiver dropped for being
 *   beyond its 64 slots are found the same way once something sent after
 *   them (the hole's retransmission) is ACKed.
 * - Congestion control: NewReno as in RFC 9002 §7, counted in frames (a
 *   frame is one packet, or one fragmented event; the peer's WindowSize and
 *   the receiver's 64 slots count frames too). Initial window
 *   RW_REL_INITIAL_CWND, slow start (+1 per frame ACKed) up to ssthresh,
 *   then +1 per window ACKed; a loss halves it (not below
 *   RW_REL_MIN_CWND) once per recovery period (until a frame sent after
 *   the reduction is ACKed); persistent congestion (an RTO expiring with no
 *   progress for 3 PTOs, RFC 9002 §7.6) drops it to RW_REL_MIN_CWND. The
 *   window never grows past the own window (it could not be used).
 *   Frames in flight for it are those sent and neither ACKed nor declared
 *   lost; frames awaiting retransmission count against it too, so they go
 *   before new data. One departure from RFC 9002, in the manner of TCP
 *   Veno: a loss event while srtt is within max(min_rtt / 2,
 *   RW_REL_QUEUE_MS) of min_rtt (no standing queue, so no congested
 *   buffer) is taken as random loss: its frames are sent again (the first
 *   at once) but the window is neither halved nor held (counted apart). A
 *   10-30 % lossy path (a radio link, the loss lab) would otherwise be held
 *   at 2-4 frames per round trip; a receiver or link that overflows builds
 *   a queue first (on a busy machine: ACKs that come late), and then each
 *   loss halves the window. Persistent congestion is judged the same way.
 *   queue_filter = false gives plain NewReno. A reduction whose loss turns
 *   out spurious (above) is taken back (RFC 4015's Eifel response): a
 *   reordering path is not held at half its window.
 * - Pacing (RFC 9002 §7.7): a token bucket of frames filled at
 *   1.25 cwnd / srtt, holding at most the larger of RW_REL_INITIAL_CWND and
 *   RW_REL_PACE_BURST_MS of that rate; each transmission takes a token.
 *   Retransmissions wait for one (the timer says when); for new data the
 *   caller asks rw__rel_tx_pacing_delay. No RTT sample yet: no pacing.
 * - The "reach" above narrows on a loss and on an RTO, once per episode.
 * rw__rel_tx_deadline/rw__rel_tx_timeout serve the timers as one.
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
	RW_REL_PACKET_THRESHOLD = 3,	/* transmissions newer ACKed before a frame is lost (RFC 9002 kPacketThreshold) */
	RW_REL_MAX_PACKET_THRESHOLD = 16,	/* as far as spurious retransmissions raise it */
	RW_REL_FAST_BURST = RW_RELIABLE_OOO_WINDOW,	/* retransmissions per call, at most */
	RW_REL_MAX_WINDOW = 1 << 20,	/* sender ring slots; far below half the seq space */
	RW_REL_GRANULARITY_MS = 2,	/* timer and clock granularity: whole ms at both ends */
	RW_REL_MIN_RTO_SLACK_MS = 5,	/* least margin of the PTO over max_ack_delay */
	RW_REL_INITIAL_CWND = 10,	/* frames (RFC 9002 §7.2: 10 packets) */
	RW_REL_MIN_CWND = 2,		/* frames (RFC 9002 kMinimumWindow) */
	RW_REL_PERSISTENT_PTOS = 3,	/* RFC 9002 kPersistentCongestionThreshold */
	RW_REL_PACE_BURST_MS = 2,	/* pacing bucket: this long at the pacing rate */
	RW_REL_QUEUE_MS = 10,		/* least srtt - min_rtt that is a standing queue */
	RW_REL_FLAT_PROBES = 4,		/* PTO expiries before the backoff starts (below base_rto_ms) */
	RW_REL_ACK_QUIET_MS = 2,	/* ACK this soon after the frames stop (1-2 ms on a ms wheel) */
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
	uint32_t ack_quiet_ms;	/* RW_REL_ACK_QUIET_MS after init; may be set (0: off) */
	uint64_t ack_first_ms;	/* arrival of the first frame the pending ACK covers */
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
 * sender needs a fresh ACK), due ack_quiet_ms after the latest such frame
 * but no later than ack_delay_ms after the first since the last ACK: a
 * steady stream is ACKed every ack_delay_ms, a burst once it ends (a
 * sender held by its congestion window would otherwise wait ack_delay_ms
 * for every window). The due time may thus move with each frame.
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
	uint64_t first_xmit;	/* that of its first send */
	uint64_t sent_ms;	/* time of the latest send */
	bool lost;		/* declared lost, awaiting retransmission */
	bool rtx;		/* sent more than once: no RTT sample from it (Karn) */
	bool probe;		/* latest send by the retransmit timer: an ACK credits the first */
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
	uint64_t last_new_xmit;	/* that of the newest frame's first send */
	uint64_t acked_xmit;	/* greatest transmission number credited to an ACK */
	uint32_t pkt_threshold;	/* RW_REL_PACKET_THRESHOLD, raised by each spurious fast retransmit */
	uint64_t probe_xmit;	/* greatest timer probe ACKed (not credited: see the top) */
	uint64_t probe_ms;	/* when */
	/* timers */
	uint32_t base_rto_ms;	/* the RTO before the first RTT sample */
	uint32_t max_rto_ms;
	uint32_t max_ack_delay_ms;	/* the peer's, assumed: RW_DEFAULT_ACK_DELAY_MS after init; may be set */
	bool learn_ack_delay;	/* true after init: allow less once the peer shows it (see the top) */
	uint32_t ack_delay_us;	/* that learnt delay; UINT32_MAX: max_ack_delay_ms */
	uint32_t rto_ms;	/* current RTO: the PTO, doubled per expiry without progress */
	uint32_t max_retries;
	uint32_t retries;	/* consecutive timer retransmits without progress */
	uint32_t probe_rounds;	/* expiries since progress, all of them */
	uint64_t deadline_ms;	/* retransmit timer (docs/protocol.md §11.6) */
	uint64_t loss_ms;	/* time-threshold loss timer, 0: none armed */
	uint64_t progress_ms;	/* last ACK that freed a frame (or first send after idle) */
	uint64_t heard_ms;	/* last ACK of any kind: the peer is there */
	uint64_t expiry_ms;	/* last expiry of the retransmit timer */
	bool persistent;	/* persistent congestion declared in this stall */
	/* RTT estimate, microseconds; has_rtt false: no sample yet */
	bool has_rtt;
	uint32_t srtt_us, rttvar_us, min_rtt_us, latest_rtt_us;
	/* congestion control, frames (see the top) */
	uint32_t cwnd;
	uint32_t ssthresh;
	uint32_t ca_acked;	/* frames ACKed toward the next +1 in congestion avoidance */
	uint64_t recovery_xmit;	/* recovery period: until a later transmission is ACKed */
	uint64_t random_xmit;	/* the same for random losses (counted, nothing reduced) */
	uint32_t undo_cwnd, undo_ssthresh;	/* before this period's reduction; 0: nothing to undo */
	bool queue_filter;	/* true after init: loss without a queue is no congestion (see the top) */
	uint32_t cc_in_flight;	/* frames sent, neither ACKed nor declared lost */
	uint32_t lost_pending;	/* frames declared lost, not yet sent again */
	uint32_t rtx_credit;	/* retransmissions allowed beyond cwnd (1 on a reduction) */
	uint64_t pace_tokens;	/* pacing bucket, in 1/1024 frames */
	uint64_t pace_ms;	/* when it was last filled */
	size_t max_pending_bytes;
	bool *running;		/* a burst's "still valid" flag, if inside one */
	/* statistics */
	uint64_t retransmits;	/* by the retransmit timer (docs/protocol.md §11.6) */
	uint64_t fast_retransmits;	/* of frames declared lost by ACKs or the loss timer */
	uint64_t spurious_retransmits;	/* retransmissions shown unnecessary (see the top) */
	uint64_t lost_frames;	/* frames declared lost */
	uint64_t congestion_events;	/* window reductions (one per recovery period) */
	uint64_t random_losses;	/* loss events without a queue: no reduction */
	uint64_t congestion_undos;	/* reductions taken back: their loss was spurious */
	uint64_t persistent_congestions;
	uint64_t acked;		/* frames freed by ACKs */
	uint64_t stale_acks;	/* AckSeq behind the oldest pending: ignored */
	uint64_t bogus_acks;	/* AckSeq beyond what was sent: ignored */
	uint64_t emit_errors;
	uint64_t recoveries;	/* losses that narrowed the reach */
	uint32_t in_flight;	/* frames stored and not yet ACKed */
	size_t acked_max_len;	/* largest frame sent since acked_since_ms and freed by an ACK (path evidence) */
	uint64_t acked_since_ms;
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
 * from the oldest pending frame < reach (<= own window), frames in flight
 * and awaiting retransmission < cwnd, and pending bytes + len within the
 * budget (or nothing pending). Pacing is asked apart
 * (rw__rel_tx_pacing_delay). After an ACK, ask again: a
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
 * the RTO is back to the PTO, the retry count to 0 and the timer restarted
 * from now_ms (docs/protocol.md §11.6). Also feeds the RTT estimate, loss detection and
 * the congestion window (see the top). Then call
 * rw__rel_tx_fast_retransmit, and ask rw__rel_tx_can_send and
 * rw__rel_tx_deadline again.
 */
int rw__rel_tx_on_ack(struct rw_rel_tx *tx, const struct rw_frame_rel *ack, uint64_t now_ms);

/*
 * Send again, oldest first, the frames declared lost, as far as the
 * congestion window and the pacing bucket allow (one at least when nothing
 * else is in flight) and at most RW_REL_FAST_BURST per call; the rest wait
 * for the next call or for rw__rel_tx_timeout at the deadline. Returns how
 * many went out. Stops at the first emit failure (the frame stays marked,
 * for the next call) and when emit resets or destroys tx.
 */
int rw__rel_tx_fast_retransmit(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx);

/*
 * When rw__rel_tx_timeout next has something to do (absolute ms: the sooner
 * of the retransmit timer, the loss timer and, while lost frames wait for
 * a pacing token, the token), 0 when nothing is in flight. Changes after
 * rw__rel_tx_store, rw__rel_tx_on_ack, rw__rel_tx_fast_retransmit and
 * rw__rel_tx_timeout.
 */
uint64_t rw__rel_tx_deadline(const struct rw_rel_tx *tx);

/*
 * Call at or after the deadline. 0 if nothing was due (or nothing is in
 * flight). When the retransmit timer has expired: -ETIMEDOUT if max_retries
 * retransmissions went unanswered (the caller closes the channel; the state
 * is left as is and later calls say the same), else the oldest pending
 * frame is emitted, the RTO doubles (capped at max_rto_ms) and the timer is
 * rearmed from now_ms; persistent congestion is declared when nothing was
 * ACKed for RW_REL_PERSISTENT_PTOS PTOs. When the loss timer has expired,
 * the frames past the time threshold are declared lost. Then the lost frames
 * go as rw__rel_tx_fast_retransmit sends them. Returns 1 when anything was
 * done, also when emit failed (that counts as a lost retransmission).
 */
int rw__rel_tx_timeout(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx);

/*
 * Pacing of new frames: 0 when one may go now, else the ms to wait for a
 * pacing token. Fills the bucket up to now_ms (so not const). The token is
 * taken by rw__rel_tx_store.
 */
uint32_t rw__rel_tx_pacing_delay(struct rw_rel_tx *tx, uint64_t now_ms);

/* The PTO without backoff, in ms (base_rto_ms before the first RTT sample). */
uint32_t rw__rel_tx_pto(const struct rw_rel_tx *tx);

#endif
