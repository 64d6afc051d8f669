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
	/* whatever happens to the frame, the sender wants to hear about it */
	if (!rx->ack_pending) {
		rx->ack_pending = true;
		rx->ack_due_ms = now_ms + rx->ack_delay_ms;
	}
	d = fwd(rw__rel_seq_wire(rx->expect), seq);
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

static void tx_purge(struct rw_rel_tx *tx)
{
	if (tx->slot) {
		for (uint32_t i = 0; i < tx->window; i++) {
			tx_put(tx, tx->slot[i].buf, tx->slot[i].len ? tx->slot[i].len : 1);
			memset(&tx->slot[i], 0, sizeof(tx->slot[i]));
		}
	}
	tx->in_flight = 0;
	tx->pending_bytes = 0;
	tx->deadline_ms = 0;
	tx->probe_ms = 0;
	tx->probes = 0;
	tx->rto_ms = tx->base_rto_ms;
	tx->retries = 0;
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
	tx->xmit = tx->acked_xmit = 0;
	tx->srtt_ms = tx->rttvar_ms = 0;	/* a new session may take another path */
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
	tx->base_rto_ms = tx->rto_ms = base_rto_ms;
	tx->max_rto_ms = max_rto_ms;
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

/*
 * Arm the loss probe: the oldest pending frame is sent again when no ACK has
 * freed anything for srtt + max(4 rttvar, RW_REL_PROBE_SLACK_MS) (RFC 6298's
 * RTO without its 1 s floor), at most RW_REL_MAX_PROBES times per stall and
 * only while that is sooner than the spec's base RTO. No RTT sample yet: no
 * probe, the spec's timer alone.
 */
static void tx_arm_probe(struct rw_rel_tx *tx, uint64_t now_ms)
{
	uint32_t var = 4 * tx->rttvar_ms;
	uint32_t pto = tx->srtt_ms + (var > RW_REL_PROBE_SLACK_MS ? var : RW_REL_PROBE_SLACK_MS);

	tx->probe_ms = 0;
	if (tx->in_flight && tx->srtt_ms && tx->probes < RW_REL_MAX_PROBES && pto < tx->base_rto_ms)
		tx->probe_ms = now_ms + pto;
}

int rw__rel_tx_store(struct rw_rel_tx *tx, uint32_t seq, const uint8_t *frame, size_t len, uint64_t now_ms)
{
	struct rw_rel_txslot *sl;
	uint8_t *buf;

	if (seq != rw__rel_seq_wire(tx->next))
		return -EINVAL;
	/*
	 * Admission (rw__rel_tx_can_send) happened when the frame was opened;
	 * an ACK processed since may have narrowed the reach or the peer
	 * window, but a frame already admitted and numbered must be kept.
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
	sl->xmit = ++tx->xmit;
	sl->sent_ms = now_ms;
	sl->dupacks = 0;
	sl->lost = false;
	sl->rtx = false;
	tx->next++;
	tx->pending_bytes += len;
	if (tx->in_flight++ == 0) {
		tx->rto_ms = tx->base_rto_ms;
		tx->retries = 0;
		tx->deadline_ms = now_ms + tx->rto_ms;
		tx->probes = 0;
		tx_arm_probe(tx, now_ms);
	}
	return 0;
}

/* What one ACK freed, for loss detection and the RTT estimate. */
struct ack_scan {
	uint64_t top[RW_REL_DUPACK_THRESHOLD];	/* greatest transmission numbers, greatest first */
	uint64_t rtt_xmit;	/* latest never-retransmitted frame freed (Karn) */
	uint64_t rtt_sent_ms;
};

/* Free the frame ext if it is still pending (idempotent): 1 if it was. */
static int tx_free(struct rw_rel_tx *tx, uint64_t ext, struct ack_scan *a)
{
	struct rw_rel_txslot *sl = tx_slot(tx, ext);
	uint64_t x;

	if (!sl->buf)
		return 0;
	x = sl->xmit;
	if (x > tx->acked_xmit)
		tx->acked_xmit = x;
	if (!sl->rtx && x > a->rtt_xmit) {
		a->rtt_xmit = x;
		a->rtt_sent_ms = sl->sent_ms;
	}
	/* keep the 3 greatest: enough to count up to the dup-ACK threshold */
	for (unsigned i = 0; i < RW_REL_DUPACK_THRESHOLD; i++) {
		if (x > a->top[i]) {
			uint64_t t = a->top[i];

			a->top[i] = x;
			x = t;
		}
	}
	tx_put(tx, sl->buf, sl->len ? sl->len : 1);
	tx->pending_bytes -= sl->len;
	tx->in_flight--;
	memset(sl, 0, sizeof(*sl));
	return 1;
}

/* RFC 6298 §2, in ms. The sample includes the peer's ACK delay: so must the probe. */
static void tx_rtt(struct rw_rel_tx *tx, uint64_t sample)
{
	uint32_t r = sample > RW_MAX_RTO_MS ? RW_MAX_RTO_MS : (uint32_t)(sample ? sample : 1);
	uint32_t dev;

	if (!tx->srtt_ms) {
		tx->srtt_ms = r;
		tx->rttvar_ms = r / 2;
		return;
	}
	dev = r > tx->srtt_ms ? r - tx->srtt_ms : tx->srtt_ms - r;
	tx->rttvar_ms = (3 * tx->rttvar_ms + dev) / 4;
	tx->srtt_ms = (7 * tx->srtt_ms + r) / 8;
	if (!tx->srtt_ms)
		tx->srtt_ms = 1;
}

/*
 * A loss was detected: once per recovery episode (until every frame sent
 * before now is ACKed), halve the reach, down to what the receiver can hold
 * out of order (a frame more than 64 past the one it waits for is dropped).
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

int rw__rel_tx_on_ack(struct rw_rel_tx *tx, const struct rw_frame_rel *ack, uint64_t now_ms)
{
	struct ack_scan a = { 0 };
	uint64_t d, ack_ext, e;
	bool loss = false;
	int freed = 0;

	if (rw_unlikely(!tx->slot))
		return 0;
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
		freed += tx_free(tx, e, &a);
	for (unsigned i = 0; i < RW_REL_OOO_SLOTS; i++) {
		if (!(ack->ack_bitmap >> i & 1))
			continue;
		e = ack_ext + i + 1;
		if (e >= tx->next)
			break;	/* bits beyond what was sent: ignored */
		freed += tx_free(tx, e, &a);
	}
	if (ack->window)
		tx->peer_window = ack->window;
	while (tx->una < tx->next && !tx_slot(tx, tx->una)->buf)
		tx->una++;
	/*
	 * Karn, strictly: a sample only when the newest transmission this ACK
	 * covers was a first one; if a retransmission is newer, the ACK may
	 * well answer it, and a stall would pass for a long path.
	 */
	if (a.rtt_xmit && a.rtt_xmit == a.top[0])
		tx_rtt(tx, now_ms > a.rtt_sent_ms ? now_ms - a.rtt_sent_ms : 0);
	/* out of recovery, every frame ACKed widens the reach (up to window) */
	if (freed && tx->una >= tx->recover) {
		uint64_t r = (uint64_t)tx->reach + (uint64_t)freed;

		tx->reach = r > tx->window ? tx->window : (uint32_t)r;
	}

	/*
	 * Loss detection, dup-ACK style: a pending frame whose latest
	 * transmission is older than one already ACKed is a hole. Each ACK
	 * that sees it so is a "duplicate ACK"; as a receiver coalesces its
	 * ACKs (one per ACK delay), an ACK that frees several frames sent
	 * after the hole counts once per such frame (what TCP would have seen
	 * as that many duplicate ACKs). At the threshold the hole is lost.
	 */
	for (e = tx->una; e < tx->next; e++) {
		struct rw_rel_txslot *sl = tx_slot(tx, e);
		unsigned later = 0;

		if (!sl->buf || sl->lost || sl->xmit >= tx->acked_xmit)
			continue;
		for (unsigned i = 0; i < RW_REL_DUPACK_THRESHOLD; i++)
			later += a.top[i] > sl->xmit;
		sl->dupacks = (uint8_t)(sl->dupacks + (later ? later : 1));
		if (sl->dupacks >= RW_REL_DUPACK_THRESHOLD)
			sl->lost = loss = true;
	}
	if (loss)
		tx_loss(tx);

	if (freed) {
		tx->acked += (uint64_t)freed;
		tx->rto_ms = tx->base_rto_ms;
		tx->retries = 0;
		tx->deadline_ms = tx->in_flight ? now_ms + tx->rto_ms : 0;
		tx->probes = 0;
		tx_arm_probe(tx, now_ms);
	}
	return freed;
}

/* The bookkeeping of a retransmission of sl, before emit is called. */
static void tx_resent(struct rw_rel_tx *tx, struct rw_rel_txslot *sl, uint64_t now_ms)
{
	sl->xmit = ++tx->xmit;
	sl->sent_ms = now_ms;
	sl->dupacks = 0;
	sl->lost = false;
	sl->rtx = true;
}

int rw__rel_tx_fast_retransmit(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx)
{
	bool running = true;
	int n = 0;

	if (rw_unlikely(tx->running))
		return -EBUSY;
	tx->running = &running;
	for (uint64_t e = tx->una; e < tx->next && n < RW_REL_FAST_BURST; e++) {
		struct rw_rel_txslot *sl = tx_slot(tx, e);
		int r;

		if (!sl->buf || !sl->lost)
			continue;
		r = emit(ctx, rw__rel_seq_wire(e), sl->buf, sl->len);
		if (!running)
			return n + (r >= 0);
		if (r < 0) {
			tx->emit_errors++;
			break;	/* the path is refusing: keep it marked, try next call */
		}
		tx_resent(tx, sl, now_ms);
		tx->fast_retransmits++;
		n++;
	}
	tx->running = NULL;
	return n;
}

uint64_t rw__rel_tx_deadline(const struct rw_rel_tx *tx)
{
	if (!tx->in_flight)
		return 0;
	if (tx->probe_ms && tx->probe_ms < tx->deadline_ms)
		return tx->probe_ms;
	return tx->deadline_ms;
}

int rw__rel_tx_timeout(struct rw_rel_tx *tx, uint64_t now_ms, rw_rel_emit_fn emit, void *ctx)
{
	bool running = true;
	struct rw_rel_txslot *sl;
	bool rto;
	int r;

	if (!tx->in_flight)
		return 0;
	rto = now_ms >= tx->deadline_ms;
	if (!rto && !(tx->probe_ms && now_ms >= tx->probe_ms))
		return 0;
	if (rw_unlikely(tx->running))
		return -EBUSY;
	if (rto) {
		uint64_t t;

		if (tx->retries >= tx->max_retries)
			return -ETIMEDOUT;
		/* docs/protocol.md §11.6: oldest frame, RTO doubles up to max */
		tx->retries++;
		tx->retransmits++;
		t = (uint64_t)tx->rto_ms * 2;
		tx->rto_ms = t > tx->max_rto_ms ? tx->max_rto_ms : (uint32_t)t;
		tx->deadline_ms = now_ms + tx->rto_ms;
	} else {
		/* a probe: same frame, but no backoff and no retry counted */
		tx->probes++;
		tx->probes_sent++;
	}
	tx_arm_probe(tx, now_ms);
	tx_loss(tx);

	/* una is the oldest pending frame: in_flight > 0 keeps its slot full */
	sl = tx_slot(tx, tx->una);
	tx_resent(tx, sl, now_ms);
	tx->running = &running;
	r = emit(ctx, rw__rel_seq_wire(tx->una), sl->buf, sl->len);
	if (!running)
		return 1;
	tx->running = NULL;
	if (r < 0)
		tx->emit_errors++;
	return 1;
}
