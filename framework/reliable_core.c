/* SPDX-License-Identifier: MIT */
/*
 * reliable_core.c - reliable delivery state machines (docs/protocol.md §11); the design,
 * the sequence space and the callback contracts are described in
 * reliable_core.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "reliable_core.h"

/* Forward distances above this are "behind" (serial-number arithmetic). */
#define HALF (RW_REL_SEQ_SPACE / 2)

_Static_assert(RW_REL_OOO_SLOTS == 64, "one AckBitmap bit per OOO slot");
_Static_assert(RW_REL_MAX_WINDOW < HALF, "a sender's span stays far from half the space");

/* How far ahead of from (both nonzero) seq to lies, in [0, 2^32 - 2]. */
static uint64_t fwd(uint32_t from, uint32_t to)
{
	return ((uint64_t)to + RW_REL_SEQ_SPACE - from) % RW_REL_SEQ_SPACE;
}

static const char *const verdict_str[RW_REL_VERDICT_COUNT] = {
	[RW_REL_DELIVERED] = "delivered",
	[RW_REL_BUFFERED] = "buffered out of order",
	[RW_REL_DUPLICATE] = "duplicate",
	[RW_REL_TOO_FAR] = "too far ahead",
	[RW_REL_NO_MEMORY] = "over the buffer budget",
	[RW_REL_INVALID] = "seq 0",
};

const char *rw__rel_verdict_str(int v)
{
	if (v < 0 || v >= RW_REL_VERDICT_COUNT)
		return "unknown reliable verdict";
	return verdict_str[v];
}

/* ---- receiver ---------------------------------------------------------- */

static uint64_t rx_bit(uint64_t ext)
{
	return UINT64_C(1) << (ext % RW_REL_OOO_SLOTS);
}

static void rx_purge(struct rw_rel_rx *rx)
{
	for (unsigned i = 0; i < RW_REL_OOO_SLOTS; i++) {
		if (rx->present & (UINT64_C(1) << i))
			free(rx->slot[i].buf);
		rx->slot[i].buf = NULL;
		rx->slot[i].len = 0;
		rx->slot[i].ext = 0;
	}
	rx->present = 0;
	rx->buffered_bytes = 0;
	/* a delivery loop running on rx must stop: its state is gone */
	if (rx->running) {
		*rx->running = false;
		rx->running = NULL;
	}
}

int rw__rel_rx_init(struct rw_rel_rx *rx, uint32_t window, size_t max_buffered_bytes)
{
	memset(rx, 0, sizeof(*rx));
	if (!window)
		return -EINVAL;
	rx->expect = 1;
	rx->window = window;
	rx->ack_delay_ms = RW_DEFAULT_ACK_DELAY_MS;
	rx->ack_quiet_ms = RW_REL_ACK_QUIET_MS;
	rx->max_buffered_bytes = max_buffered_bytes;
	return 0;
}

void rw__rel_rx_destroy(struct rw_rel_rx *rx)
{
	rx_purge(rx);
	rx->ack_pending = false;
}

void rw__rel_rx_reset(struct rw_rel_rx *rx)
{
	rx_purge(rx);
	rx->expect = 1;
	rx->ack_pending = false;
	rx->ack_due_ms = 0;
}

int rw__rel_rx_set_expect(struct rw_rel_rx *rx, uint32_t seq)
{
	if (!seq)
		return -EINVAL;
	if (rx->present)
		return -EBUSY;
	rx->expect = seq;	/* ext == seq for seq in [1, UINT32_MAX] */
	return 0;
}

unsigned rw__rel_rx_buffered(const struct rw_rel_rx *rx)
{
	return (unsigned)__builtin_popcountll(rx->present);
}

/* Copy an out-of-order frame into its slot. */
static int rx_buffer(struct rw_rel_rx *rx, uint64_t ext, const uint8_t *frame, size_t len)
{
	struct rw_rel_rxslot *sl = &rx->slot[ext % RW_REL_OOO_SLOTS];
	uint8_t *buf;

	if (rx->present & rx_bit(ext)) {
		rx->duplicates++;
		return RW_REL_DUPLICATE;
	}
	if (rx->max_buffered_bytes &&
	    (len > rx->max_buffered_bytes || rx->buffered_bytes > rx->max_buffered_bytes - len)) {
		rx->no_memory++;
		return RW_REL_NO_MEMORY;
	}
	buf = malloc(len ? len : 1);
	if (!buf) {
		rx->no_memory++;
		return RW_REL_NO_MEMORY;
	}
	if (len)
		memcpy(buf, frame, len);
	sl->buf = buf;
	sl->len = len;
	sl->ext = ext;
	rx->present |= rx_bit(ext);
	rx->buffered_bytes += len;
	return RW_REL_BUFFERED;
}

int rw__rel_rx_frame(struct rw_rel_rx *rx, uint32_t seq, const uint8_t *frame, size_t len, uint64_t now_ms,
		     rw_rel_deliver_fn deliver, void *ctx)
{
	bool running = true;
	uint64_t d;

	if (rw_unlikely(!seq))
		return RW_REL_INVALID;
	if (rw_unlikely(rx->running))
		return -EBUSY;
	/*
	 * Whatever happens to the frame, the sender wants to hear about it:
	 * within ack_delay_ms of the first frame not yet ACKed, sooner once
	 * the frames stop coming for ack_quiet_ms (the sender has paused: its
	 * window, cwnd or application is waiting for this ACK).
	 */
	if (!rx->ack_pending) {
		rx->ack_pending = true;
		rx->ack_first_ms = now_ms;
	}
	rx->ack_due_ms = now_ms + rx->ack_quiet_ms;
	if (rx->ack_due_ms > rx->ack_first_ms + rx->ack_delay_ms || !rx->ack_quiet_ms)
		rx->ack_due_ms = rx->ack_first_ms + rx->ack_delay_ms;
	d = fwd(rw__rel_seq_wire(rx->expect), seq);
	/*
	 * Out of order, a duplicate, or the frame that fills a hole: ACK at
	 * once (RFC 9000 §13.2.1). The sender is repairing a loss (or just
	 * made one visible) and waits for exactly this ACK.
	 */
	if (d || rx->present)
		rx->ack_due_ms = now_ms;
	if (d > HALF) {
		rx->duplicates++;
		return RW_REL_DUPLICATE;
	}
	if (d > RW_REL_OOO_SLOTS) {
		rx->too_far++;
		return RW_REL_TOO_FAR;
	}
	if (d)
		return rx_buffer(rx, rx->expect + d, frame, len);

	/*
	 * In order. State first, callback second, so that the callback sees
	 * (and may piggyback an ACK of) exactly what has been delivered.
	 */
	rx->expect++;
	rx->delivered++;
	rx->running = &running;
	deliver(ctx, frame, len);
	if (!running)
		return RW_REL_DELIVERED;	/* reset or destroyed: rx is not ours any more */
	for (;;) {
		struct rw_rel_rxslot *sl = &rx->slot[rx->expect % RW_REL_OOO_SLOTS];
		uint8_t *buf = sl->buf;
		size_t blen = sl->len;

		/*
		 * Every frame buffered so far was within 64 of an older
		 * expect, so the slot of the new expect can only hold expect
		 * itself; ext says so all the same.
		 */
		if (!(rx->present & rx_bit(rx->expect)) || sl->ext != rx->expect)
			break;
		/* taken out of the buffer before deliver: a reset cannot free it */
		sl->buf = NULL;
		sl->len = 0;
		sl->ext = 0;
		rx->present &= ~rx_bit(rx->expect);
		rx->buffered_bytes -= blen;
		rx->expect++;
		rx->delivered++;
		deliver(ctx, buf, blen);
		free(buf);
		if (!running)
			return RW_REL_DELIVERED;
	}
	rx->running = NULL;
	return RW_REL_DELIVERED;
}

void rw__rel_rx_ack(struct rw_rel_rx *rx, struct rw_frame_rel *out)
{
	/*
	 * Bit i names expect + i + 1: the present bits rotated right by that
	 * slot. That slot is also expect's: outside deliver it can only hold
	 * expect + 64 (bit 63), but from inside deliver it may hold expect
	 * itself, about to be delivered, which is left out: an ACK only ever
	 * covers what has been delivered.
	 */
	unsigned r = (unsigned)((rx->expect + 1) % RW_REL_OOO_SLOTS);
	uint64_t p = rx->present;

	if (rx->slot[rx->expect % RW_REL_OOO_SLOTS].ext == rx->expect)
		p &= ~rx_bit(rx->expect);

	out->ack_seq = rw__rel_seq_wire(rx->expect);
	out->ack_bitmap = r ? (p >> r) | (p << (RW_REL_OOO_SLOTS - r)) : p;
	out->window = rx->window;
	rx->ack_pending = false;
}

bool rw__rel_rx_ack_pending(const struct rw_rel_rx *rx, uint64_t *due_ms)
{
	if (due_ms)
		*due_ms = rx->ack_pending ? rx->ack_due_ms : 0;
	return rx->ack_pending;
}

/* ---- sender ------------------------------------------------------------ */

static struct rw_rel_txslot *tx_slot(const struct rw_rel_tx *tx, uint64_t ext)
{
	return &tx->slot[ext % tx->window];
}

static void *tx_get(struct rw_rel_tx *tx, size_t len)
{
	return tx->alloc.get ? tx->alloc.get(tx->alloc.ctx, len) : malloc(len);
}

static void tx_put(struct rw_rel_tx *tx, void *p, size_t len)
{
	if (!p)
		return;
	if (tx->alloc.put)
		tx->alloc.put(tx->alloc.ctx, p, len);
	else
		free(p);
}

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint32_t max32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

/* The peer's ACK delay to allow for, ms: max_ack_delay, or less as learnt (see the top). */
static uint32_t ack_delay_ms(const struct rw_rel_tx *tx)
{
	uint64_t d = ((uint64_t)tx->ack_delay_us + 999) / 1000 + RW_REL_GRANULARITY_MS;

	return tx->learn_ack_delay && d < tx->max_ack_delay_ms ? (uint32_t)d : tx->max_ack_delay_ms;
}

/* RFC 9002 §6.2.1, in ms: srtt + max(4 rttvar, granularity) + max_ack_delay, floored and capped. */
uint32_t rw__rel_tx_pto(const struct rw_rel_tx *tx)
{
	uint64_t us, floor, ad = ack_delay_ms(tx);

	if (!tx->has_rtt)
		return tx->base_rto_ms;
	/*
	 * Frames past the oldest pending one were ACKed (SACK): the receiver
	 * holds a hole that the oldest fills, and a receiver ACKs a frame that
	 * fills a hole at once (RFC 9000 §13.2.1; ringwire's does), not after
	 * its ACK delay. Waiting for that delay too made each lost
	 * retransmission of a window's head cost ~20 ms on a 30 % lossy path.
	 */
	if (tx->next - tx->una > tx->in_flight)
		ad = 0;
	us = (uint64_t)tx->srtt_us + max32(4 * tx->rttvar_us, RW_REL_GRANULARITY_MS * 1000) + ad * 1000;
	us = (us + 999) / 1000;
	floor = ad + RW_REL_MIN_RTO_SLACK_MS;
	if (us < floor)
		us = floor;
	return us > tx->max_rto_ms ? tx->max_rto_ms : (uint32_t)us;
}

/* RFC 9002 §6.1.2: 9/8 max(srtt, latest_rtt), at least the granularity; ms, rounded up. */
static uint64_t loss_delay_ms(const struct rw_rel_tx *tx)
{
	uint64_t us = (uint64_t)max32(tx->srtt_us, tx->latest_rtt_us) * 9 / 8;

	us = (us + 999) / 1000;
	return us < RW_REL_GRANULARITY_MS ? RW_REL_GRANULARITY_MS : us;
}

static void tx_purge(struct rw_rel_tx *tx)
{
	if (tx->slot) {
		for (uint32_t i = 0; i < tx->window; i++) {
			tx_put(tx, tx->slot[i].buf, tx->slot[i].len ? tx->slot[i].len : 1);
			memset(&tx->slot[i], 0, sizeof(tx->slot[i]));
		}
	}
	tx->in_flight = 0;
	tx->cc_in_flight = 0;
	tx->lost_pending = 0;
	tx->pending_bytes = 0;
	tx->deadline_ms = 0;
	tx->loss_ms = 0;
	tx->retries = 0;
	tx->probe_rounds = 0;
	tx->persistent = false;
	tx->rtx_credit = 0;
	if (tx->running) {
		*tx->running = false;
		tx->running = NULL;
	}
}

/* Back to the state of a fresh sender whose first seq is seq. */
static void tx_start(struct rw_rel_tx *tx, uint32_t seq)
{
	tx->una = tx->next = tx->recover = seq;	/* ext == seq for seq in [1, UINT32_MAX] */
	tx->peer_window = tx->window;
	tx->reach = tx->window;
	tx->xmit = tx->acked_xmit = tx->last_new_xmit = 0;
	/* a new session may take another path: RTT and window start afresh */
	tx->has_rtt = false;
	tx->srtt_us = tx->rttvar_us = tx->min_rtt_us = tx->latest_rtt_us = 0;
	tx->ack_delay_us = UINT32_MAX;	/* max_ack_delay_ms, until the peer shows better */
	tx->cwnd = min32(RW_REL_INITIAL_CWND, tx->window);
	tx->ssthresh = UINT32_MAX;
	tx->ca_acked = 0;
	tx->recovery_xmit = 0;
	tx->undo_cwnd = tx->undo_ssthresh = 0;
	tx->probe_xmit = tx->probe_ms = tx->random_xmit = 0;
	tx->heard_ms = tx->expiry_ms = 0;
	tx->pkt_threshold = RW_REL_PACKET_THRESHOLD;
	tx->pace_tokens = 0;
	tx->pace_ms = 0;
	tx->rto_ms = tx->base_rto_ms;
}

int rw__rel_tx_init(struct rw_rel_tx *tx, uint32_t window, uint32_t base_rto_ms, uint32_t max_rto_ms,
		    uint32_t max_retries, size_t max_pending_bytes)
{
	memset(tx, 0, sizeof(*tx));
	if (!window || window > RW_REL_MAX_WINDOW || !base_rto_ms || max_rto_ms < base_rto_ms)
		return -EINVAL;
	tx->slot = calloc(window, sizeof(*tx->slot));
	if (!tx->slot)
		return -ENOMEM;
	tx->window = window;
	tx->base_rto_ms = base_rto_ms;
	tx->max_rto_ms = max_rto_ms;
	tx->max_ack_delay_ms = RW_DEFAULT_ACK_DELAY_MS;
	tx->learn_ack_delay = true;
	tx->queue_filter = true;
	tx->max_retries = max_retries;
	tx->max_pending_bytes = max_pending_bytes;
	tx_start(tx, 1);
	return 0;
}

void rw__rel_tx_destroy(struct rw_rel_tx *tx)
{

	tx_purge(tx);
	free(tx->slot);
	tx->slot = NULL;
	tx->window = 0;
	tx->una = tx->next = 1;
}

void rw__rel_tx_reset(struct rw_rel_tx *tx)
{
	tx_purge(tx);
	tx_start(tx, 1);
}

int rw__rel_tx_set_next_seq(struct rw_rel_tx *tx, uint32_t seq)
{
	if (!seq)
		return -EINVAL;
	if (tx->in_flight)
		return -EBUSY;
	tx_start(tx, seq);
	return 0;
}

bool rw__rel_tx_can_send(const struct rw_rel_tx *tx, size_t len)
{
	if (rw_unlikely(!tx->slot))
		return false;
	if (tx->in_flight >= tx->peer_window)
		return false;
	/* reach <= window: the ring slot of next is free */
	if (tx->next - tx->una >= tx->reach)
		return false;
	/* retransmissions first: frames awaiting one hold their place in the window */
	if (tx->cc_in_flight + tx->lost_pending >= tx->cwnd)
		return false;
	/* one frame may always be in flight, so that any frame can get through */
	if (tx->in_flight && tx->max_pending_bytes &&
	    (len > tx->max_pending_bytes || tx->pending_bytes > tx->max_pending_bytes - len))
		return false;
	return true;
}

uint32_t rw__rel_tx_next_seq(struct rw_rel_tx *tx)
{
	return rw__rel_seq_wire(tx->next);
}

/* ---- pacing (RFC 9002 §7.7) ---- */

enum { TOKEN = 1024 };	/* one frame in the bucket */

/* Tokens per ms at 1.25 cwnd / srtt, and the bucket size; 0: no pacing (no RTT yet). */
static uint64_t pace_rate(const struct rw_rel_tx *tx, uint64_t *cap)
{
	uint64_t rate, c;

	if (!tx->has_rtt)
		return 0;
	rate = (uint64_t)tx->cwnd * TOKEN * 1250 / max32(tx->srtt_us, 1);
	if (!rate)
		rate = 1;
	c = rate * RW_REL_PACE_BURST_MS;
	*cap = c < (uint64_t)RW_REL_INITIAL_CWND * TOKEN ? (uint64_t)RW_REL_INITIAL_CWND * TOKEN : c;
	return rate;
}

static void pace_fill(struct rw_rel_tx *tx, uint64_t now_ms)
{
	uint64_t cap = 0, rate = pace_rate(tx, &cap);

	if (!rate) {
		/* no RTT yet: no pacing, and a full bucket for the first sample */
		tx->pace_tokens = (uint64_t)RW_REL_INITIAL_CWND * TOKEN;
		tx->pace_ms = now_ms;
		return;
	}
	if (now_ms <= tx->pace_ms)
		return;
	if (now_ms - tx->pace_ms >= cap / rate + 1)
		tx->pace_tokens = cap;
	else
		tx->pace_tokens += (now_ms - tx->pace_ms) * rate;
	if (tx->pace_tokens > cap)
		tx->pace_tokens = cap;
	tx->pace_ms = now_ms;
}

/* ms until a token, after pace_fill; 0 when one is there (or no pacing). */
static uint32_t pace_wait(const struct rw_rel_tx *tx)
{
	uint64_t cap = 0, rate = pace_rate(tx, &cap);

	if (!rate || tx->pace_tokens >= TOKEN)
		return 0;
	return (uint32_t)((TOKEN - tx->pace_tokens + rate - 1) / rate);
}

static void pace_take(struct rw_rel_tx *tx)
{
	tx->pace_tokens = tx->pace_tokens >= TOKEN ? tx->pace_tokens - TOKEN : 0;
}

uint32_t rw__rel_tx_pacing_delay(struct rw_rel_tx *tx, uint64_t now_ms)
{
	pace_fill(tx, now_ms);
	return pace_wait(tx);
}

/* The retransmit timer: RTO from the later of the last progress and the last send. */
static void tx_arm(struct rw_rel_tx *tx, uint64_t now_ms)
{
	tx->deadline_ms = tx->in_flight ? now_ms + tx->rto_ms : 0;
}

int rw__rel_tx_store(struct rw_rel_tx *tx, uint32_t seq, const uint8_t *frame, size_t len, uint64_t now_ms)
{
	struct rw_rel_txslot *sl;
	uint8_t *buf;

	if (seq != rw__rel_seq_wire(tx->next))
		return -EINVAL;
	/*
	 * Admission (rw__rel_tx_can_send) happened when the frame was opened;
	 * an ACK processed since may have narrowed the reach, the peer window
	 * or cwnd, but a frame already admitted and numbered must be kept.
	 * Only the ring's own capacity is a hard limit here.
	 */
	if (tx->next - tx->una >= tx->window)
		return -ENOBUFS;
	buf = tx_get(tx, len ? len : 1);
	if (!buf)
		return -ENOMEM;
	if (len)
		memcpy(buf, frame, len);
	sl = tx_slot(tx, tx->next);
	sl->buf = buf;
	sl->len = len;
	sl->xmit = sl->first_xmit = tx->last_new_xmit = ++tx->xmit;
	sl->sent_ms = now_ms;
	sl->lost = false;
	sl->rtx = false;
	sl->probe = false;
	tx->next++;
	tx->pending_bytes += len;
	tx->cc_in_flight++;
	pace_fill(tx, now_ms);
	pace_take(tx);
	if (tx->in_flight++ == 0) {
		/* from idle: a fresh timer and stall */
		tx->rto_ms = rw__rel_tx_pto(tx);
		tx->retries = 0;
		tx->probe_rounds = 0;
		tx->progress_ms = now_ms;
		tx->persistent = false;
	}
	tx_arm(tx, now_ms);
	return 0;
}

/* What one ACK freed, for the RTT estimate and the window. */
struct ack_scan {
	uint64_t top_xmit;	/* greatest transmission number newly freed */
	bool top_first;		/* ... and it was a first transmission */
	uint64_t top_sent_ms;
	uint32_t grow;		/* frames freed that were sent after the recovery began */
};

/*
 * A retransmission of a frame first sent at transmission x was spurious:
 * if the reduction of this recovery period came from a loss of a frame
 * sent no later (so possibly this very false alarm), take it back, as
 * TCP's Eifel response (RFC 4015) does; a true loss would have been
 * answered no sooner than min_rtt after its retransmission.
 */
static void cc_undo(struct rw_rel_tx *tx, uint64_t x)
{
	if (!tx->undo_cwnd || x > tx->recovery_xmit)
		return;
	if (tx->cwnd < tx->undo_cwnd)
		tx->cwnd = tx->undo_cwnd;
	tx->ssthresh = tx->undo_ssthresh;
	tx->undo_cwnd = 0;
	tx->congestion_undos++;
}

/* Free the frame ext if it is still pending (idempotent): 1 if it was. */
static int tx_free(struct rw_rel_tx *tx, uint64_t ext, uint64_t now_ms, struct ack_scan *a)
{
	struct rw_rel_txslot *sl = tx_slot(tx, ext);
	uint64_t x;

	if (!sl->buf)
		return 0;
	x = sl->xmit;
	if (sl->rtx) {
		/*
		 * RFC 8985 §6.1: an ACK sooner than min_rtt after the
		 * retransmission answers the original: credit that one,
		 * and count the retransmission as unnecessary. Times are
		 * whole ms, so within 1 ms it cannot be told: credit the
		 * original then too (crediting a retransmission that was
		 * not what arrived would declare everything sent between
		 * the two lost, and so on), but count nothing.
		 */
		uint64_t since_us = (now_ms - sl->sent_ms) * 1000;

		/*
		 * A probe (timer retransmission) is a guess: most often its
		 * original was only late (a receiver busy for a while), and
		 * crediting the probe would declare all sent since lost.
		 * Credit the original; a fast retransmission had evidence.
		 */
		if (sl->probe || since_us < max32(tx->min_rtt_us, 1000))
			x = sl->first_xmit;
		/*
		 * The probe may have been what arrived (a blackout): then
		 * what was sent before it and stays unACKed for the peer's
		 * whole ACK delay after this is lost (tx_detect). (Whatever
		 * the time since the probe: samples hold ACK delays, so
		 * min_rtt is no floor for an immediate ACK.)
		 */
		if (sl->probe && sl->xmit > tx->probe_xmit) {
			tx->probe_xmit = sl->xmit;
			tx->probe_ms = now_ms;
		}
		if (since_us < tx->min_rtt_us) {
			tx->spurious_retransmits++;
			cc_undo(tx, x);
			/* reordering, not loss: wait for more evidence next time (RFC 9002 §6.1.1) */
			if (!sl->probe && tx->pkt_threshold < RW_REL_MAX_PACKET_THRESHOLD)
				tx->pkt_threshold++;
		}
	}
	if (x > tx->acked_xmit)
		tx->acked_xmit = x;
	if (sl->xmit > a->top_xmit) {
		a->top_xmit = sl->xmit;
		a->top_first = !sl->rtx;
		a->top_sent_ms = sl->sent_ms;
	}
	if (x > tx->recovery_xmit)
		a->grow++;
	if (sl->lost)
		tx->lost_pending--;
	else
		tx->cc_in_flight--;
	if (sl->len > tx->acked_max_len && sl->sent_ms >= tx->acked_since_ms)
		tx->acked_max_len = sl->len;
	tx_put(tx, sl->buf, sl->len ? sl->len : 1);
	tx->pending_bytes -= sl->len;
	tx->in_flight--;
	memset(sl, 0, sizeof(*sl));
	return 1;
}

/* RFC 9002 §5.3 (RFC 6298 §2), in µs; no ACK delay on the wire to subtract. */
static void tx_rtt(struct rw_rel_tx *tx, uint64_t sample_ms)
{
	uint64_t ms = sample_ms > RW_MAX_RTO_MS ? RW_MAX_RTO_MS : sample_ms;
	uint32_t r = (uint32_t)ms * 1000, dev;

	tx->latest_rtt_us = r;
	if (!tx->has_rtt) {
		tx->has_rtt = true;
		tx->min_rtt_us = tx->srtt_us = r;
		tx->rttvar_us = r / 2;
		return;
	}
	if (r < tx->min_rtt_us)
		tx->min_rtt_us = r;
	dev = r > tx->srtt_us ? r - tx->srtt_us : tx->srtt_us - r;
	tx->rttvar_us = (uint32_t)(((uint64_t)3 * tx->rttvar_us + dev) / 4);
	tx->srtt_us = (uint32_t)(((uint64_t)7 * tx->srtt_us + r) / 8);
}

/*
 * A loss was detected: once per episode (until every frame sent before now
 * is ACKed), halve the reach, down to what the receiver can hold out of
 * order (a frame more than 64 past the one it waits for is dropped).
 */
static void tx_loss(struct rw_rel_tx *tx)
{
	uint32_t r = tx->reach / 2;

	if (tx->una < tx->recover)
		return;
	if (r < RW_REL_OOO_SLOTS + 1)
		r = RW_REL_OOO_SLOTS + 1;
	if (r < tx->reach)
		tx->reach = r;
	tx->recover = tx->next;
	tx->recoveries++;
}

/*
 * A standing queue on the path: srtt above min_rtt by more than
 * max(min_rtt / 2, RW_REL_QUEUE_MS). No RTT sample yet: assume one.
 */
static bool queueing(const struct rw_rel_tx *tx)
{
	uint32_t slack = max32(tx->min_rtt_us / 2, RW_REL_QUEUE_MS * 1000);

	return !tx->has_rtt || tx->srtt_us > tx->min_rtt_us + slack;
}

/* RFC 9002 §7.3.2: a frame sent at transmission x was lost; one reduction per recovery period. */
static void cc_lost(struct rw_rel_tx *tx, uint64_t x)
{
	if (x <= tx->recovery_xmit)
		return;
	if (tx->queue_filter && !queueing(tx)) {
		/*
		 * No queue built up: random loss, not congestion (see the
		 * top). Nothing to recover from, so no recovery period (the
		 * window keeps growing); counted once per round trip.
		 */
		if (x > tx->random_xmit) {
			tx->random_xmit = tx->xmit;
			tx->random_losses++;
			tx->rtx_credit = 1;
		}
		return;
	}
	tx->recovery_xmit = tx->xmit;
	tx->rtx_credit = 1;
	tx->undo_cwnd = tx->cwnd;
	tx->undo_ssthresh = tx->ssthresh;
	tx->ssthresh = max32(tx->cwnd / 2, RW_REL_MIN_CWND);
	tx->cwnd = tx->ssthresh;
	tx->ca_acked = 0;
	tx->congestion_events++;
}

/* RFC 9002 §7.3.1/§7.3.3: n frames sent outside recovery were ACKed. */
static void cc_acked(struct rw_rel_tx *tx, uint32_t n)
{
	if (!n)
		return;
	if (tx->cwnd < tx->ssthresh) {
		uint64_t c = (uint64_t)tx->cwnd + n;

		tx->cwnd = c > tx->ssthresh ? tx->ssthresh : (uint32_t)c;
	} else {
		tx->ca_acked += n;
		while (tx->ca_acked >= tx->cwnd) {
			tx->ca_acked -= tx->cwnd;
			tx->cwnd++;
		}
	}
	/* beyond the own window it could never be used (and would not shrink in time) */
	if (tx->cwnd > tx->window)
		tx->cwnd = tx->window;
}

/*
 * RFC 9002 §6.1: every pending frame whose latest transmission is older
 * than the greatest credited one is lost past either threshold; the loss
 * timer waits for the earliest still short of the time threshold.
 */
static void tx_detect(struct rw_rel_tx *tx, uint64_t now_ms)
{
	uint64_t delay = loss_delay_ms(tx);
	/* (before the PTO restarted by the probe's ACK: that is at least this + the granularity) */
	uint64_t probe_due = tx->probe_ms + max32(loss_delay_ms(tx), ack_delay_ms(tx));
	uint64_t lost_x = 0;

	tx->loss_ms = 0;
	for (uint64_t e = tx->una; e < tx->next; e++) {
		struct rw_rel_txslot *sl = tx_slot(tx, e);

		if (!sl->buf || sl->lost)
			continue;
		if (sl->xmit >= tx->acked_xmit) {
			/* behind an ACKed probe: lost unless ACKed within the peer's ACK delay */
			if (sl->xmit >= tx->probe_xmit)
				continue;
			if (now_ms < probe_due) {
				if (!tx->loss_ms || probe_due < tx->loss_ms)
					tx->loss_ms = probe_due;
				continue;
			}
		} else if (tx->acked_xmit - sl->xmit < tx->pkt_threshold && now_ms < sl->sent_ms + delay) {
			if (!tx->loss_ms || sl->sent_ms + delay < tx->loss_ms)
				tx->loss_ms = sl->sent_ms + delay;
			continue;
		}
		sl->lost = true;
		tx->cc_in_flight--;
		tx->lost_pending++;
		tx->lost_frames++;
		if (sl->xmit > lost_x)
			lost_x = sl->xmit;
	}
	if (lost_x) {
		tx_loss(tx);
		cc_lost(tx, lost_x);
	}
}

int rw__rel_tx_on_ack(struct rw_rel_tx *tx, const struct rw_frame_rel *ack, uint64_t now_ms)
{
	struct ack_scan a = { 0 };
	uint64_t d, ack_ext, e;
	int freed = 0;

	if (rw_unlikely(!tx->slot))
		return 0;
	tx->heard_ms = now_ms;
	if (!ack->ack_seq) {
		/* no ACK here (SACK bits relative to nothing are meaningless) */
		if (ack->window)
			tx->peer_window = ack->window;
		return 0;
	}
	d = fwd(rw__rel_seq_wire(tx->una), ack->ack_seq);
	if (d > tx->next - tx->una) {
		if (d > HALF)
			tx->stale_acks++;	/* reordered: older than what we know */
		else
			tx->bogus_acks++;	/* acknowledges what was never sent */
		return 0;
	}
	ack_ext = tx->una + d;
	for (e = tx->una; e < ack_ext; e++)
		freed += tx_free(tx, e, now_ms, &a);
	for (unsigned i = 0; i < RW_REL_OOO_SLOTS; i++) {
		if (!(ack->ack_bitmap >> i & 1))
			continue;
		e = ack_ext + i + 1;
		if (e >= tx->next)
			break;	/* bits beyond what was sent: ignored */
		freed += tx_free(tx, e, now_ms, &a);
	}
	if (ack->window)
		tx->peer_window = ack->window;
	while (tx->una < tx->next && !tx_slot(tx, tx->una)->buf)
		tx->una++;
	/*
	 * Karn, strictly: a sample only when the newest transmission this ACK
	 * newly covers was a first one (RFC 9002 §5.1: the largest newly
	 * acknowledged); if a retransmission is newer, the ACK may well
	 * answer it, and a stall would pass for a long path.
	 */
	if (a.top_xmit && a.top_first) {
		tx_rtt(tx, now_ms > a.top_sent_ms ? now_ms - a.top_sent_ms : 0);
		/*
		 * Nothing sent since that frame: the sample holds the whole
		 * delay the peer adds once frames stop, what the PTO must
		 * allow for. Up at once, down by 1/8 per such sample.
		 */
		if (a.top_xmit == tx->last_new_xmit) {
			uint32_t pd = tx->latest_rtt_us - min32(tx->latest_rtt_us, tx->min_rtt_us);

			if (tx->ack_delay_us > tx->max_ack_delay_ms * 1000)
				tx->ack_delay_us = tx->max_ack_delay_ms * 1000;
			tx->ack_delay_us = pd > tx->ack_delay_us ? pd : tx->ack_delay_us - (tx->ack_delay_us - pd) / 8;
		}
	} else if (a.top_xmit && tx->has_rtt && (now_ms - a.top_sent_ms) * 1000 > tx->srtt_us) {
		/*
		 * The newest is a retransmission: whichever copy this answers,
		 * the RTT is at least the time since the latest send (QUIC's
		 * sample, its retransmissions numbered apart). Taken when it
		 * raises the estimate: behind a receiver stalled or backed up
		 * past the PTO every frame goes twice, and with no samples
		 * at all the PTO and the loss delay stayed at the quiet
		 * path's while the queue grew from their own retransmissions
		 * (a 500 ms stall of the receiver: 1.1 M retransmits in 10 s).
		 */
		tx_rtt(tx, now_ms - a.top_sent_ms);
	}
	/* out of the reach's recovery, every frame ACKed widens it (up to window) */
	if (freed && tx->una >= tx->recover) {
		uint64_t r = (uint64_t)tx->reach + (uint64_t)freed;

		tx->reach = r > tx->window ? tx->window : (uint32_t)r;
	}
	cc_acked(tx, a.grow);
	tx_detect(tx, now_ms);

	if (freed) {
		tx->acked += (uint64_t)freed;
		tx->rto_ms = rw__rel_tx_pto(tx);
		tx->retries = 0;
		tx->probe_rounds = 0;
		tx->progress_ms = now_ms;
		tx->persistent = false;
		tx_arm(tx, now_ms);
	}
	return freed;
}

/* The bookkeeping of a retransmission of sl, before emit is called. */
static void tx_resent(struct rw_rel_tx *tx, struct rw_rel_txslot *sl, uint64_t now_ms)
{
	sl->xmit = ++tx->xmit;
	sl->sent_ms = now_ms;
	if (sl->lost) {
		sl->lost = false;
		tx->lost_pending--;
		tx->cc_in_flight++;
	}
	sl->rtx = true;
	pace_take(tx);
}

/* Lost frames, oldest first, within cwnd and the pacing bucket. */
static int tx_resend_lost(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx)
{
	bool running = true;
	int n = 0;

	if (!tx->lost_pending)
		return 0;
	pace_fill(tx, now_ms);
	tx->running = &running;
	for (uint64_t e = tx->una; e < tx->next && tx->lost_pending && n < RW_REL_FAST_BURST; e++) {
		struct rw_rel_txslot *sl = tx_slot(tx, e);
		int r;

		if (!sl->buf || !sl->lost)
			continue;
		/*
		 * Within the window and the bucket; but one may always go when
		 * nothing else is in flight, and the first after a reduction
		 * goes at once (RFC 5681 §3.2 fast retransmit, RFC 9002 §7.3.2).
		 */
		if (tx->rtx_credit)
			tx->rtx_credit = 0;
		else if (tx->cc_in_flight && (tx->cc_in_flight >= tx->cwnd || pace_wait(tx)))
			break;
		r = emit(ctx, rw__rel_seq_wire(e), sl->buf, sl->len);
		if (!running)
			return n + (r >= 0);
		if (r < 0) {
			tx->emit_errors++;
			break;	/* the path is refusing: keep it marked, try next call */
		}
		tx_resent(tx, sl, now_ms);
		sl->probe = false;
		tx->fast_retransmits++;
		n++;
	}
	tx->running = NULL;
	if (n)
		tx_arm(tx, now_ms);
	return n;
}

int rw__rel_tx_fast_retransmit(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx)
{
	if (rw_unlikely(tx->running))
		return -EBUSY;
	return tx_resend_lost(tx, now_ms, emit, ctx);
}

/* When lost frames could go but wait for a pacing token: then; else 0. */
static uint64_t pace_due(const struct rw_rel_tx *tx)
{
	uint32_t w;

	if (!tx->lost_pending || (tx->cc_in_flight && tx->cc_in_flight >= tx->cwnd))
		return 0;
	w = pace_wait(tx);
	return w ? tx->pace_ms + w : 0;
}

uint64_t rw__rel_tx_deadline(const struct rw_rel_tx *tx)
{
	uint64_t d, p;

	if (!tx->in_flight)
		return 0;
	d = tx->deadline_ms;
	if (tx->loss_ms && tx->loss_ms < d)
		d = tx->loss_ms;
	p = pace_due(tx);
	if (p && p < d)
		d = p;
	return d;
}

int rw__rel_tx_timeout(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx)
{
	bool running = true;
	bool did = false;
	int r;

	if (!tx->in_flight)
		return 0;
	if (rw_unlikely(tx->running))
		return -EBUSY;
	if (now_ms >= tx->deadline_ms) {
		struct rw_rel_txslot *sl;
		uint64_t t;

		/*
		 * The spec's give-up rule counts expiries of its own timer: an
		 * RTT-based one shorter than base_rto_ms is a probe that does
		 * not count, so a fast path gives up no sooner than the spec's
		 * schedule (base_rto_ms doubling, max_retries times) would.
		 */
		if (tx->retries >= tx->max_retries)
			return -ETIMEDOUT;
		/* RFC 9002 §7.6: no ACK for that long, everything sent meanwhile was lost */
		if (tx->has_rtt && !tx->persistent &&
		    now_ms - tx->progress_ms >= (uint64_t)RW_REL_PERSISTENT_PTOS * rw__rel_tx_pto(tx)) {
			tx->persistent = true;
			tx->undo_cwnd = 0;	/* not for a false alarm to take back */
			tx->recovery_xmit = tx->xmit;
			/*
			 * Slow start again from the minimum, up to half the
			 * window, when a queue says congestion; without one
			 * (a blackout, a run of random losses: nothing was
			 * congested) the window stays, and what goes when
			 * the path is back is paced over the RTT.
			 */
			if (!tx->queue_filter || queueing(tx)) {
				tx->persistent_congestions++;
				tx->ssthresh = max32(tx->cwnd / 2, RW_REL_MIN_CWND);
				tx->cwnd = RW_REL_MIN_CWND;
				tx->ca_acked = 0;
			} else {
				tx->random_losses++;
			}
		}
		/*
		 * docs/protocol.md §11.6: oldest frame, RTO doubles up to max. Below
		 * base_rto_ms, the first RW_REL_FLAT_PROBES expiries keep the
		 * PTO: two small probes per PTO cost the path nothing, and
		 * on a lossy path (a fragmented frame gets through 30 % loss
		 * one time in three) doubling at once turns one unlucky
		 * round into seconds of stall.
		 */
		if (tx->rto_ms >= tx->base_rto_ms)
			tx->retries++;
		tx->probe_rounds++;
		/*
		 * Past those, a path with no standing queue (random loss, see
		 * the top: the receiver keeps up, it is the frames that go
		 * missing) keeps probing flat until the stall is base_rto_ms
		 * old: a fragmented frame through 30 % loss needs ~2.5 PTOs on
		 * average and doubling from the 5th turned one unlucky frame
		 * into 300 ms of stall. A queue (a busy receiver) backs off,
		 * and so does a peer that sent no ACK at all since the last
		 * expiry: stalled (preempted, stopped) it reads every probe
		 * later, and 500 sessions probing flat behind one such
		 * receiver sent ~50 probes each per 500 ms stall.
		 */
		if (tx->rto_ms >= tx->base_rto_ms ||
		    (tx->probe_rounds > RW_REL_FLAT_PROBES &&
		     !(tx->queue_filter && !queueing(tx) && now_ms - tx->progress_ms < tx->base_rto_ms &&
		       tx->heard_ms >= tx->expiry_ms))) {
			t = (uint64_t)tx->rto_ms * 2;
			tx->rto_ms = t > tx->max_rto_ms ? tx->max_rto_ms : (uint32_t)t;
		}
		tx->expiry_ms = now_ms;
		tx->deadline_ms = now_ms + tx->rto_ms;
		tx_loss(tx);

		/*
		 * Two probes, as RFC 9002 §6.2.4 allows, both the oldest
		 * pending frame: the receiver waits for that one (or its ACK
		 * was lost, and either copy brings another), and one lost
		 * datagram or ACK then does not cost a timer round. What
		 * else is missing shows once it is ACKed.
		 */
		for (int i = 0; i < 2; i++) {
			uint64_t ext = tx->una;

			/* una is the oldest pending frame: in_flight > 0 keeps its slot full */
			sl = tx_slot(tx, ext);
			tx_resent(tx, sl, now_ms);
			sl->probe = true;
			tx->retransmits++;
			tx->running = &running;
			r = emit(ctx, rw__rel_seq_wire(ext), sl->buf, sl->len);
			if (!running)
				return 1;
			tx->running = NULL;
			if (r < 0)
				tx->emit_errors++;
		}
		did = true;
	}
	if (tx->loss_ms && now_ms >= tx->loss_ms) {
		tx_detect(tx, now_ms);
		did = true;
	}
	if (tx->lost_pending) {
		pace_fill(tx, now_ms);
		r = tx_resend_lost(tx, now_ms, emit, ctx);
		if (r > 0)
			did = true;
	}
	return did;
}
