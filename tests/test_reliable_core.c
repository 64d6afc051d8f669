/* SPDX-License-Identifier: MIT */
/*
 * test_reliable_core.c - the reliable delivery state machines (docs/protocol.md §11,
 * §14 item 10, §15.7): receiver and sender tables, the two bugs of the reference
 * (OOO buffer shifting, SACK then cumulative ACK), window edges, the wrap of
 * the sequence space, retransmit timing, reentrancy, and a simulation over a
 * lossy, reordering, duplicating path in both directions.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reliable_core.h"

#define MAXSEQ UINT32_MAX

enum { DEL = RW_REL_DELIVERED, BUF = RW_REL_BUFFERED, DUP = RW_REL_DUPLICATE, FAR = RW_REL_TOO_FAR,
       NOMEM = RW_REL_NO_MEMORY, INV = RW_REL_INVALID };

/* ---- helpers ------------------------------------------------------------ */

/* A frame's bytes are a function of its seq, so a delivery can be checked. */
static size_t mkframe(uint8_t *buf, uint32_t seq, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seq * 31u + i * 7u + (seq >> 8));
	return len;
}

struct log {
	uint32_t seq[512];
	size_t n;
	/* optional mischief from inside deliver */
	struct rw_rel_rx *rx;
	uint32_t reset_at;	/* reset rx when this seq is delivered */
	uint32_t destroy_at;	/* destroy and free rx when this seq is delivered */
	uint32_t ack_at;	/* take an ACK when this seq is delivered */
	struct rw_frame_rel ack;
	int nested;		/* verdict of a nested rw__rel_rx_frame */
};

/* Frames in these tests are 8 bytes: seq LE then 4 bytes of mkframe. */
static void frame8(uint8_t *b, uint32_t seq)
{
	rw_put_le32(b, seq);
	mkframe(b + 4, seq, 4);
}

static void log_deliver(void *ctx, const uint8_t *frame, size_t len)
{
	struct log *l = ctx;
	uint8_t want[8];
	uint32_t seq;

	assert_int_equal(len, 8);
	seq = rw_le32(frame);
	frame8(want, seq);
	assert_memory_equal(frame, want, 8);
	assert_true(l->n < 512);
	l->seq[l->n++] = seq;
	if (l->ack_at && seq == l->ack_at) {
		rw__rel_rx_ack(l->rx, &l->ack);
		l->nested = rw__rel_rx_frame(l->rx, seq, frame, len, 0, log_deliver, l);
	}
	if (l->reset_at && seq == l->reset_at)
		rw__rel_rx_reset(l->rx);
	if (l->destroy_at && seq == l->destroy_at) {
		rw__rel_rx_destroy(l->rx);
		free(l->rx);
		l->rx = NULL;
	}
}

static int rx_feed(struct rw_rel_rx *rx, uint32_t seq, struct log *l, uint64_t now)
{
	uint8_t b[8];

	frame8(b, seq);
	return rw__rel_rx_frame(rx, seq, b, sizeof(b), now, log_deliver, l);
}

/* ---- receiver ----------------------------------------------------------- */

struct rx_step {
	uint32_t seq;
	int verdict;
};

static void run_rx(struct rw_rel_rx *rx, const struct rx_step *t, size_t n, struct log *l)
{
	for (size_t i = 0; i < n; i++) {
		int v = rx_feed(rx, t[i].seq, l, 0);

		if (v != t[i].verdict)
			fail_msg("step %zu: seq %u: got \"%s\", want \"%s\"", i, t[i].seq, rw__rel_verdict_str(v),
				 rw__rel_verdict_str(t[i].verdict));
	}
}

static void expect_delivered(const struct log *l, uint32_t first, size_t n)
{
	assert_int_equal(l->n, n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(l->seq[i], rw__rel_seq_add(first, i));
}

/* The issue's sequence: the reference loses and duplicates frames here. */
static void test_rx_issue_sequence(void **state)
{
	(void)state;
	static const struct rx_step t[] = {
		{ 1, DEL }, { 4, BUF }, { 2, DEL }, { 3, DEL },	/* 3 drains 4 */
		{ 4, DUP }, { 5, DEL }, { 7, BUF }, { 6, DEL },	/* 6 drains 7 */
		{ 8, DEL }, { 9, DEL },
	};
	struct rw_rel_rx rx;
	struct log l = { 0 };

	assert_int_equal(rw__rel_rx_init(&rx, 256, 0), 0);
	run_rx(&rx, t, sizeof(t) / sizeof(t[0]), &l);
	expect_delivered(&l, 1, 9);
	assert_int_equal(rw__rel_rx_expect(&rx), 10);
	assert_int_equal(rw__rel_rx_buffered(&rx), 0);
	assert_int_equal(rx.buffered_bytes, 0);
	assert_int_equal(rx.delivered, 9);
	assert_int_equal(rx.duplicates, 1);
	rw__rel_rx_destroy(&rx);
}

/*
 * Buffered frames wait in their own slot while in-order frames that do not
 * reach them are delivered: the case where the reference's buffer shifts.
 */
static void test_rx_no_shift(void **state)
{
	(void)state;
	static const struct rx_step t[] = {
		{ 5, BUF }, { 9, BUF }, { 1, DEL }, { 2, DEL }, { 7, BUF }, { 3, DEL },
		{ 9, DUP }, { 5, DUP }, { 4, DEL },	/* drains 5 */
		{ 8, BUF }, { 6, DEL },			/* drains 7, 8, 9 */
		{ 65 + 9, BUF },			/* expect 10: 74 is expect + 64 */
		{ 66 + 9, FAR },
		{ 10, DEL }, { 75, BUF },		/* 75 fits now */
		{ 1, DUP }, { 9, DUP },
		{ 0, INV },
	};
	struct rw_rel_rx rx;
	struct log l = { 0 };

	assert_int_equal(rw__rel_rx_init(&rx, 256, 0), 0);
	run_rx(&rx, t, sizeof(t) / sizeof(t[0]), &l);
	expect_delivered(&l, 1, 10);
	assert_int_equal(rw__rel_rx_buffered(&rx), 2);
	assert_int_equal(rx.too_far, 1);
	for (uint32_t s = 11; s <= 73; s++)
		assert_int_equal(rx_feed(&rx, s, &l, 0), DEL);
	assert_int_equal(rx_feed(&rx, 100, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 99, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 98, &l, 0), BUF);
	/* 73 drained 74 and 75 */
	expect_delivered(&l, 1, 75);
	assert_int_equal(rw__rel_rx_buffered(&rx), 3);
	rw__rel_rx_destroy(&rx);
	assert_int_equal(rw__rel_rx_buffered(&rx), 0);
}

static void test_rx_ack_fields(void **state)
{
	(void)state;
	struct rw_rel_rx rx;
	struct rw_frame_rel a = { .seq = 77 };
	struct log l = { 0 };
	uint64_t due;

	assert_int_equal(rw__rel_rx_init(&rx, 300, 0), 0);
	assert_false(rw__rel_rx_ack_pending(&rx, &due));
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.seq, 77);	/* left alone */
	assert_int_equal(a.ack_seq, 1);
	assert_int_equal(a.ack_bitmap, 0);
	assert_int_equal(a.window, 300);

	assert_int_equal(rx_feed(&rx, 1, &l, 1000), DEL);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1000 + RW_REL_ACK_QUIET_MS);	/* if nothing follows */
	assert_int_equal(rx_feed(&rx, 2, &l, 1001), DEL);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1001 + RW_REL_ACK_QUIET_MS);	/* an in-order frame pushes it back */
	assert_int_equal(rx_feed(&rx, 3, &l, 1003), DEL);
	assert_int_equal(due, 1001 + RW_REL_ACK_QUIET_MS);	/* (read again below) */
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1003 + RW_REL_ACK_QUIET_MS);
	for (uint32_t q = 4; q < 30; q++)
		assert_int_equal(rx_feed(&rx, q, &l, 1000 + q), DEL);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1000 + RW_DEFAULT_ACK_DELAY_MS);	/* but no later than the ACK delay */
	rx.ack_quiet_ms = 0;	/* off: the ACK delay alone */
	assert_int_equal(rx_feed(&rx, 30, &l, 1030), DEL);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1000 + RW_DEFAULT_ACK_DELAY_MS);
	/* out of order: at once (RFC 9000 §13.2.1), whatever the delays */
	assert_int_equal(rx_feed(&rx, 32, &l, 1031), BUF);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1031);
	rx.ack_quiet_ms = RW_REL_ACK_QUIET_MS;
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, 31);
	assert_int_equal(a.ack_bitmap, UINT64_C(1) << 0);	/* 32 */
	assert_false(rw__rel_rx_ack_pending(&rx, NULL));
	/* while a hole is open, every frame is ACKed at once, in order or not */
	assert_int_equal(rx_feed(&rx, 34, &l, 1040), BUF);
	assert_int_equal(rw__rel_rx_ack_pending(&rx, &due), true);
	assert_int_equal(due, 1040);
	rw__rel_rx_ack(&rx, &a);
	/* the frame that fills the hole: at once too */
	assert_int_equal(rx_feed(&rx, 31, &l, 1050), DEL);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1050);
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, 33);
	assert_int_equal(a.ack_bitmap, UINT64_C(1) << 0);	/* 34 */
	/* 33 fills the last hole (34 is buffered): at once */
	assert_int_equal(rx_feed(&rx, 33, &l, 1060), DEL);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1060);
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, 35);
	assert_int_equal(a.ack_bitmap, 0);
	/* and back in order with no hole: the quiet delay again */
	assert_int_equal(rx_feed(&rx, 35, &l, 1065), DEL);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1065 + RW_REL_ACK_QUIET_MS);
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(rx_feed(&rx, 3, &l, 1070), DUP);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 1070);	/* a duplicate: at once */
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.window, 300);
	assert_false(rw__rel_rx_ack_pending(&rx, NULL));
	rw__rel_rx_destroy(&rx);
	assert_int_equal(rw__rel_rx_init(&rx, 300, 0), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(rx_feed(&rx, 1, &l, 1000), DEL);
	assert_int_equal(rx_feed(&rx, 3, &l, 1001), BUF);
	assert_int_equal(rx_feed(&rx, 5, &l, 1011), BUF);
	assert_int_equal(rx_feed(&rx, 66, &l, 1012), BUF);	/* 2 + 64 */
	assert_int_equal(rx_feed(&rx, 67, &l, 1019), FAR);
	rx.ack_quiet_ms = RW_REL_ACK_QUIET_MS;
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, 2);
	assert_int_equal(a.ack_bitmap, (UINT64_C(1) << 0) | (UINT64_C(1) << 2) | (UINT64_C(1) << 63));
	assert_int_equal(a.window, 300);
	assert_false(rw__rel_rx_ack_pending(&rx, NULL));

	/* a duplicate asks for an ACK too, at once */
	rx.ack_delay_ms = 5;
	rx.ack_quiet_ms = 0;
	assert_int_equal(rx_feed(&rx, 1, &l, 2000), DUP);
	assert_true(rw__rel_rx_ack_pending(&rx, &due));
	assert_int_equal(due, 2000);
	rw__rel_rx_ack(&rx, &a);
	/* so does a frame too far ahead (the sender learns where we are) */
	assert_int_equal(rx_feed(&rx, 1000, &l, 3000), FAR);
	assert_true(rw__rel_rx_ack_pending(&rx, NULL));
	rw__rel_rx_ack(&rx, &a);
	/* seq 0 is not reliable: nothing happens */
	assert_int_equal(rx_feed(&rx, 0, &l, 4000), INV);
	assert_false(rw__rel_rx_ack_pending(&rx, NULL));

	/* filling the gap delivers 2, 3 and the ACK moves on */
	assert_int_equal(rx_feed(&rx, 2, &l, 5000), DEL);
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, 4);
	assert_int_equal(a.ack_bitmap, (UINT64_C(1) << 0) | (UINT64_C(1) << 61));	/* 5, 66 */
	expect_delivered(&l, 1, 3);
	rw__rel_rx_destroy(&rx);
	assert_int_equal(rw__rel_rx_init(&rx, 0, 0), -EINVAL);
}

static void test_rx_budget(void **state)
{
	(void)state;
	struct rw_rel_rx rx;
	struct rw_frame_rel a;
	struct log l = { 0 };

	/* room for two 8-byte frames out of order */
	assert_int_equal(rw__rel_rx_init(&rx, 16, 16), 0);
	assert_int_equal(rx_feed(&rx, 2, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 4, &l, 0), BUF);
	assert_int_equal(rx.buffered_bytes, 16);
	assert_int_equal(rx_feed(&rx, 3, &l, 0), NOMEM);
	assert_int_equal(rx.no_memory, 1);
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, 1);
	assert_int_equal(a.ack_bitmap, (UINT64_C(1) << 0) | (UINT64_C(1) << 2));	/* 3 is not SACKed */
	assert_int_equal(rx_feed(&rx, 1, &l, 0), DEL);
	expect_delivered(&l, 1, 2);
	assert_int_equal(rx.buffered_bytes, 8);
	assert_int_equal(rx_feed(&rx, 3, &l, 0), DEL);	/* the retransmission */
	expect_delivered(&l, 1, 4);
	assert_int_equal(rx.buffered_bytes, 0);
	/* in-order frames never count against the budget */
	assert_int_equal(rx_feed(&rx, 5, &l, 0), DEL);
	rw__rel_rx_destroy(&rx);

	/* a frame bigger than the whole budget is never buffered */
	assert_int_equal(rw__rel_rx_init(&rx, 16, 7), 0);
	assert_int_equal(rx_feed(&rx, 2, &l, 0), NOMEM);
	rw__rel_rx_destroy(&rx);
}

/* The sequence space skips 0: after UINT32_MAX comes 1. */
static void test_rx_wrap(void **state)
{
	(void)state;
	const struct rx_step t[] = {
		{ MAXSEQ, BUF }, { 2, BUF }, { MAXSEQ - 2, BUF },
		{ 0, INV },
		{ MAXSEQ - 3, DEL },		/* drains MAXSEQ - 2 */
		{ 1, BUF }, { MAXSEQ, DUP },
		{ MAXSEQ - 1, DEL },		/* drains MAXSEQ, 1, 2 */
		{ MAXSEQ - 3, DUP }, { 2, DUP },
		{ 4, BUF }, { 3, DEL },		/* drains 4 */
		{ 5 + 64, BUF }, { 5 + 65, FAR },
		{ MAXSEQ - 50, DUP },		/* behind, across the wrap */
	};
	struct rw_rel_rx rx;
	struct rw_frame_rel a;
	struct log l = { 0 };

	assert_int_equal(rw__rel_rx_init(&rx, 8, 0), 0);
	assert_int_equal(rw__rel_rx_set_expect(&rx, 0), -EINVAL);
	assert_int_equal(rw__rel_rx_set_expect(&rx, MAXSEQ - 3), 0);
	assert_int_equal(rx_feed(&rx, MAXSEQ, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 2, &l, 0), BUF);
	assert_int_equal(rw__rel_rx_set_expect(&rx, 5), -EBUSY);
	/* SACK bits count across the wrap with 0 skipped: MAXSEQ is +3, 2 is +5 */
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, MAXSEQ - 3);
	assert_int_equal(a.ack_bitmap, (UINT64_C(1) << 2) | (UINT64_C(1) << 4));
	/* the window edge across the wrap */
	assert_int_equal(rx_feed(&rx, rw__rel_seq_add(MAXSEQ - 3, 65), &l, 0), FAR);
	assert_int_equal(rx_feed(&rx, rw__rel_seq_add(MAXSEQ - 3, 64), &l, 0), BUF);
	assert_int_equal(rw__rel_seq_add(MAXSEQ - 3, 64), 61);
	rw__rel_rx_destroy(&rx);

	assert_int_equal(rw__rel_rx_init(&rx, 8, 0), 0);
	assert_int_equal(rw__rel_rx_set_expect(&rx, MAXSEQ - 3), 0);
	l.n = 0;
	run_rx(&rx, t, sizeof(t) / sizeof(t[0]), &l);
	expect_delivered(&l, MAXSEQ - 3, 8);
	assert_int_equal(l.seq[4], 1);
	assert_int_equal(rw__rel_rx_expect(&rx), 5);
	rw__rel_rx_ack(&rx, &a);
	assert_int_equal(a.ack_seq, 5);
	assert_int_equal(a.ack_bitmap, UINT64_C(1) << 63);
	rw__rel_rx_destroy(&rx);

	/* half the space ahead is "too far", the other half "behind" */
	assert_int_equal(rw__rel_rx_init(&rx, 8, 0), 0);
	assert_int_equal(rw__rel_rx_set_expect(&rx, 10), 0);
	assert_int_equal(rx_feed(&rx, rw__rel_seq_add(10, 0x7fffffff), &l, 0), FAR);
	assert_int_equal(rx_feed(&rx, rw__rel_seq_add(10, 0x80000000), &l, 0), DUP);
	assert_int_equal(rx_feed(&rx, 9, &l, 0), DUP);
	rw__rel_rx_destroy(&rx);
}

/* reset (docs/protocol.md §11.7) and deliver callbacks that pull the rug. */
static void test_rx_reentrancy(void **state)
{
	(void)state;
	struct rw_rel_rx rx;
	struct rw_rel_rx *hx;
	struct log l = { 0 };

	/* reset in the middle of a drain: delivery stops, nothing leaks */
	assert_int_equal(rw__rel_rx_init(&rx, 8, 0), 0);
	l.rx = &rx;
	for (uint32_t s = 2; s <= 6; s++)
		assert_int_equal(rx_feed(&rx, s, &l, 0), BUF);
	l.reset_at = 3;
	assert_int_equal(rx_feed(&rx, 1, &l, 0), DEL);
	expect_delivered(&l, 1, 3);
	assert_int_equal(rw__rel_rx_expect(&rx), 1);
	assert_int_equal(rw__rel_rx_buffered(&rx), 0);
	assert_int_equal(rx.buffered_bytes, 0);
	assert_false(rw__rel_rx_ack_pending(&rx, NULL));
	/* and rx works afresh from 1 */
	l.reset_at = 0;
	l.n = 0;
	assert_int_equal(rx_feed(&rx, 2, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 1, &l, 0), DEL);
	expect_delivered(&l, 1, 2);
	/* reset on the in-order frame itself */
	l.reset_at = 3;
	l.n = 0;
	assert_int_equal(rx_feed(&rx, 4, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 3, &l, 0), DEL);
	expect_delivered(&l, 3, 1);
	assert_int_equal(rw__rel_rx_expect(&rx), 1);
	assert_int_equal(rw__rel_rx_buffered(&rx), 0);
	rw__rel_rx_destroy(&rx);

	/* destroy and free the rx itself from inside deliver (ASan watches) */
	hx = malloc(sizeof(*hx));
	assert_non_null(hx);
	assert_int_equal(rw__rel_rx_init(hx, 8, 0), 0);
	memset(&l, 0, sizeof(l));
	l.rx = hx;
	for (uint32_t s = 2; s <= 40; s++)
		assert_int_equal(rx_feed(hx, s, &l, 0), BUF);
	l.destroy_at = 20;
	assert_int_equal(rx_feed(hx, 1, &l, 0), DEL);
	assert_null(l.rx);
	expect_delivered(&l, 1, 20);

	/* an ACK taken from inside deliver is exact; a nested frame is refused */
	assert_int_equal(rw__rel_rx_init(&rx, 8, 0), 0);
	memset(&l, 0, sizeof(l));
	l.rx = &rx;
	assert_int_equal(rx_feed(&rx, 2, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 3, &l, 0), BUF);
	assert_int_equal(rx_feed(&rx, 5, &l, 0), BUF);
	l.ack_at = 2;
	assert_int_equal(rx_feed(&rx, 1, &l, 0), DEL);
	assert_int_equal(l.ack.ack_seq, 3);
	/* 3 is held but not yet delivered: not covered; 5 is SACKed */
	assert_int_equal(l.ack.ack_bitmap, UINT64_C(1) << 1);
	assert_int_equal(l.nested, -EBUSY);
	expect_delivered(&l, 1, 3);
	rw__rel_rx_destroy(&rx);
}

/* ---- sender ------------------------------------------------------------- */

struct emitlog {
	uint32_t seq[256];
	size_t n;
	int fail;		/* emit returns this when nonzero */
	struct rw_rel_tx *tx;
	int destroy_after;	/* destroy tx at this emit (1-based) */
};

static int log_emit(void *ctx, uint32_t seq, const uint8_t *frame, size_t len)
{
	struct emitlog *e = ctx;
	uint8_t want[64];

	assert_true(len <= sizeof(want));
	mkframe(want, seq, len);
	assert_memory_equal(frame, want, len);
	if (e->fail)
		return e->fail;
	assert_true(e->n < 256);
	e->seq[e->n++] = seq;
	if (e->destroy_after && (int)e->n == e->destroy_after) {
		rw__rel_tx_destroy(e->tx);
		free(e->tx);
		e->tx = NULL;
	}
	return 0;
}

/* Store the next frame (len bytes, content from its seq); its seq. */
static uint32_t tx_put(struct rw_rel_tx *tx, size_t len, uint64_t now)
{
	uint8_t b[64];
	uint32_t seq = rw__rel_tx_next_seq(tx);

	assert_true(len <= sizeof(b));
	mkframe(b, seq, len);
	assert_true(rw__rel_tx_can_send(tx, len));
	assert_int_equal(rw__rel_tx_store(tx, seq, b, len, now), 0);
	return seq;
}

static int tx_ack(struct rw_rel_tx *tx, uint32_t ack_seq, uint64_t bitmap, uint32_t window, uint64_t now)
{
	struct rw_frame_rel a = { .ack_seq = ack_seq, .ack_bitmap = bitmap, .window = window };

	return rw__rel_tx_on_ack(tx, &a, now);
}

static bool tx_pending(const struct rw_rel_tx *tx, uint32_t seq)
{
	for (uint64_t e = tx->una; e < tx->next; e++)
		if (rw__rel_seq_wire(e) == seq)
			return tx->slot[e % tx->window].buf != NULL;
	return false;
}

/* An ACK, what it must free, and what must be left. */
struct ack_step {
	uint32_t ack_seq;
	uint64_t bitmap;
	int freed;
	uint32_t in_flight;
	uint32_t pending[8];	/* 0-terminated: exactly these stay */
};

static void run_acks(struct rw_rel_tx *tx, uint32_t first, uint32_t stored, const struct ack_step *t,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int freed = tx_ack(tx, t[i].ack_seq, t[i].bitmap, 0, 100);
		size_t want = 0;

		if (freed != t[i].freed)
			fail_msg("step %zu: ACK(%u, %#llx) freed %d, want %d", i, t[i].ack_seq,
				 (unsigned long long)t[i].bitmap, freed, t[i].freed);
		assert_int_equal(tx->in_flight, t[i].in_flight);
		assert_int_equal(tx->pending_bytes, (size_t)t[i].in_flight * 10);
		for (uint32_t k = 0; k < stored; k++) {
			uint32_t s = rw__rel_seq_add(first, k);
			bool should = false;

			for (size_t j = 0; j < 8 && t[i].pending[j]; j++)
				should |= t[i].pending[j] == s;
			if (tx_pending(tx, s) != should)
				fail_msg("step %zu: seq %u pending %d, want %d", i, s, !should, should);
			want += should;
		}
		assert_int_equal(want, t[i].in_flight);
	}
}

/* The issue's test: SACK then a cumulative ACK must not lose track. */
static void test_tx_sack_then_cumulative(void **state)
{
	(void)state;
	static const struct ack_step t[] = {
		{ 2, 1u << 0, 2, 3, { 2, 4, 5 } },	/* frees 1 and 3 (SACK) */
		{ 6, 0, 3, 0, { 0 } },			/* frees 2, 4, 5: not 3 again */
		{ 6, 0, 0, 0, { 0 } },			/* repeated */
		{ 2, 1u << 0, 0, 0, { 0 } },		/* stale */
	};
	/* SACKs in several ACKs, some repeated, then cumulative ACKs over them */
	static const struct ack_step t2[] = {
		{ 1, 0x2a, 3, 5, { 1, 2, 4, 6, 8 } },	/* SACK 3, 5, 7 */
		{ 1, 0x2a, 0, 5, { 1, 2, 4, 6, 8 } },	/* the same again */
		{ 2, 0x1f, 3, 2, { 2, 8 } },		/* frees 1; SACK 3..7 frees 4, 6 */
		{ 2, 0x1f, 0, 2, { 2, 8 } },
		{ 9, 0, 2, 0, { 0 } },			/* frees 2, 8 only */
		{ 9, 0xff, 0, 0, { 0 } },		/* bits past next: ignored */
	};
	struct rw_rel_tx tx;

	assert_int_equal(rw__rel_tx_init(&tx, 8, 200, 30000, 10, 0), 0);
	for (uint32_t s = 1; s <= 5; s++)
		assert_int_equal(tx_put(&tx, 10, 0), s);
	assert_int_equal(tx.in_flight, 5);
	run_acks(&tx, 1, 5, t, sizeof(t) / sizeof(t[0]));
	assert_int_equal(tx.acked, 5);
	assert_int_equal(tx.stale_acks, 1);
	assert_int_equal(rw__rel_tx_deadline(&tx), 0);
	rw__rel_tx_destroy(&tx);

	assert_int_equal(rw__rel_tx_init(&tx, 8, 200, 30000, 10, 0), 0);
	for (uint32_t s = 1; s <= 8; s++)
		assert_int_equal(tx_put(&tx, 10, 0), s);
	run_acks(&tx, 1, 8, t2, sizeof(t2) / sizeof(t2[0]));
	assert_int_equal(tx.acked, 8);
	rw__rel_tx_destroy(&tx);
}

static void test_tx_stale_bogus(void **state)
{
	(void)state;
	struct rw_rel_tx tx;

	assert_int_equal(rw__rel_tx_init(&tx, 16, 200, 30000, 10, 0), 0);
	/* nothing sent: only AckSeq 1 (== next) is meaningful */
	assert_int_equal(tx_ack(&tx, 1, 0, 0, 0), 0);
	assert_int_equal(tx_ack(&tx, 2, 0, 0, 0), 0);
	assert_int_equal(tx.bogus_acks, 1);
	for (uint32_t s = 1; s <= 6; s++)
		tx_put(&tx, 10, 0);
	/* beyond next (7): bogus, ignored whole, WindowSize included */
	assert_int_equal(tx_ack(&tx, 8, ~UINT64_C(0), 3, 0), 0);
	assert_int_equal(tx.bogus_acks, 2);
	assert_int_equal(tx.in_flight, 6);
	assert_int_equal(tx.peer_window, 16);
	/* a SACK bit past what was sent is ignored, the rest taken */
	assert_int_equal(tx_ack(&tx, 4, (UINT64_C(1) << 1) | (UINT64_C(1) << 2) | (UINT64_C(1) << 40), 5, 0), 4);
	assert_int_equal(tx.in_flight, 2);	/* 4, 5 */
	assert_int_equal(tx.peer_window, 5);
	/* stale: behind the oldest pending (4) */
	assert_int_equal(tx_ack(&tx, 3, 1, 9, 0), 0);
	assert_int_equal(tx.stale_acks, 1);
	assert_int_equal(tx.peer_window, 5);
	assert_int_equal(tx_ack(&tx, 1, 0, 0, 0), 0);
	assert_int_equal(tx.stale_acks, 2);
	/* AckSeq 0: only the window */
	assert_int_equal(tx_ack(&tx, 0, ~UINT64_C(0), 7, 0), 0);
	assert_int_equal(tx.peer_window, 7);
	assert_int_equal(tx.in_flight, 2);
	/* AckSeq == next frees everything */
	assert_int_equal(tx_ack(&tx, 7, 0, 0, 0), 2);
	assert_int_equal(tx.in_flight, 0);
	assert_int_equal(tx.pending_bytes, 0);
	/* and now 7 is the only meaningful AckSeq again */
	assert_int_equal(tx_ack(&tx, 6, 0, 0, 0), 0);
	assert_int_equal(tx_ack(&tx, 8, 0, 0, 0), 0);
	assert_int_equal(tx.stale_acks, 3);
	assert_int_equal(tx.bogus_acks, 3);
	assert_int_equal(tx.acked, 6);
	rw__rel_tx_destroy(&tx);
}

/*
 * A frame admitted by can_send is kept even when an ACK processed before
 * it is stored narrows the peer window: it already carries its Seq.
 */
static void test_tx_admitted_frame_is_kept(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	uint8_t b[64];

	assert_int_equal(rw__rel_tx_init(&tx, 8, 200, 30000, 10, 0), 0);
	tx_put(&tx, 10, 0);
	tx_put(&tx, 10, 0);
	assert_true(rw__rel_tx_can_send(&tx, 10));
	assert_int_equal(tx_ack(&tx, 1, 0, 1, 0), 0);	/* peer window shrinks to 1 */
	assert_false(rw__rel_tx_can_send(&tx, 10));
	mkframe(b, 3, 10);
	assert_int_equal(rw__rel_tx_store(&tx, 3, b, 10, 0), 0);
	assert_int_equal(tx.in_flight, 3);
	rw__rel_tx_destroy(&tx);
}

static void test_tx_window(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	uint8_t b[64];

	assert_int_equal(rw__rel_tx_init(&tx, 4, 200, 30000, 10, 0), 0);
	assert_int_equal(tx.peer_window, 4);
	for (int i = 0; i < 4; i++)
		tx_put(&tx, 10, 0);
	/* exactly at the window */
	assert_false(rw__rel_tx_can_send(&tx, 1));
	mkframe(b, 5, 10);
	assert_int_equal(rw__rel_tx_store(&tx, 5, b, 10, 0), -ENOBUFS);
	assert_int_equal(rw__rel_tx_next_seq(&tx), 5);
	/* one ACKed: one more may go */
	assert_int_equal(tx_ack(&tx, 2, 0, 0, 0), 1);
	assert_true(rw__rel_tx_can_send(&tx, 1));
	tx_put(&tx, 10, 0);
	assert_false(rw__rel_tx_can_send(&tx, 1));
	/* SACKs free frames but the oldest pins the ring: span 4 */
	assert_int_equal(tx_ack(&tx, 2, 0x7, 0, 0), 3);
	assert_int_equal(tx.in_flight, 1);
	assert_false(rw__rel_tx_can_send(&tx, 1));
	assert_int_equal(tx_ack(&tx, 6, 0, 0, 0), 1);
	assert_true(rw__rel_tx_can_send(&tx, 1));
	/* that SACK showed 2 lost and halved cwnd: not what this test is about */
	tx.cwnd = 4;
	/* the peer shrinks its window to 2, then grows it beyond ours */
	tx_put(&tx, 10, 0);
	tx_put(&tx, 10, 0);
	assert_int_equal(tx_ack(&tx, 6, 0, 2, 0), 0);
	assert_false(rw__rel_tx_can_send(&tx, 1));
	assert_int_equal(tx_ack(&tx, 6, 0, 1000, 0), 0);
	assert_true(rw__rel_tx_can_send(&tx, 1));
	tx_put(&tx, 10, 0);
	tx_put(&tx, 10, 0);
	assert_false(rw__rel_tx_can_send(&tx, 1));	/* own window still 4 */
	/* WindowSize 0 is "omitted": the peer window stays */
	assert_int_equal(tx_ack(&tx, 7, 0, 0, 0), 1);
	assert_int_equal(tx.peer_window, 1000);
	rw__rel_tx_destroy(&tx);

	/* byte budget */
	assert_int_equal(rw__rel_tx_init(&tx, 8, 200, 30000, 10, 100), 0);
	assert_true(rw__rel_tx_can_send(&tx, 1000));	/* one frame always fits */
	tx_put(&tx, 60, 0);
	assert_true(rw__rel_tx_can_send(&tx, 40));
	assert_false(rw__rel_tx_can_send(&tx, 41));
	assert_false(rw__rel_tx_can_send(&tx, SIZE_MAX));
	tx_put(&tx, 40, 0);
	assert_int_equal(tx.pending_bytes, 100);
	assert_false(rw__rel_tx_can_send(&tx, 1));
	assert_true(rw__rel_tx_can_send(&tx, 0));
	assert_int_equal(tx_ack(&tx, 2, 0, 0, 0), 1);
	assert_int_equal(tx.pending_bytes, 40);
	assert_true(rw__rel_tx_can_send(&tx, 60));
	assert_false(rw__rel_tx_can_send(&tx, 61));
	rw__rel_tx_destroy(&tx);
	assert_false(rw__rel_tx_can_send(&tx, 1));

	assert_int_equal(rw__rel_tx_init(&tx, 0, 200, 30000, 10, 0), -EINVAL);
	assert_int_equal(rw__rel_tx_init(&tx, RW_REL_MAX_WINDOW + 1, 200, 30000, 10, 0), -EINVAL);
	assert_int_equal(rw__rel_tx_init(&tx, 4, 0, 30000, 10, 0), -EINVAL);
	assert_int_equal(rw__rel_tx_init(&tx, 4, 200, 100, 10, 0), -EINVAL);
}

/* Taking a seq commits nothing; store wants exactly that seq. */
static void test_tx_seq(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	uint8_t b[16];

	assert_int_equal(rw__rel_tx_init(&tx, 8, 200, 30000, 10, 0), 0);
	assert_int_equal(rw__rel_tx_next_seq(&tx), 1);
	assert_int_equal(rw__rel_tx_next_seq(&tx), 1);
	mkframe(b, 2, 16);
	assert_int_equal(rw__rel_tx_store(&tx, 2, b, 16, 0), -EINVAL);
	assert_int_equal(rw__rel_tx_store(&tx, 0, b, 16, 0), -EINVAL);
	assert_int_equal(tx.in_flight, 0);
	assert_int_equal(tx_put(&tx, 16, 0), 1);
	assert_int_equal(rw__rel_tx_next_seq(&tx), 2);
	assert_int_equal(rw__rel_tx_set_next_seq(&tx, 9), -EBUSY);

	/* reset (docs/protocol.md §11.7): pending purged, seq 1, peer window restored */
	assert_int_equal(tx_ack(&tx, 1, 0, 3, 0), 0);
	assert_int_equal(tx.peer_window, 3);
	tx_put(&tx, 16, 0);
	rw__rel_tx_reset(&tx);
	assert_int_equal(tx.in_flight, 0);
	assert_int_equal(tx.pending_bytes, 0);
	assert_int_equal(tx.peer_window, 8);
	assert_int_equal(rw__rel_tx_deadline(&tx), 0);
	assert_int_equal(rw__rel_tx_next_seq(&tx), 1);
	assert_int_equal(tx_put(&tx, 16, 0), 1);
	assert_int_equal(rw__rel_tx_set_next_seq(&tx, 0), -EINVAL);
	rw__rel_tx_destroy(&tx);

	/* zero-length frames are frames too */
	assert_int_equal(rw__rel_tx_init(&tx, 2, 200, 30000, 10, 1), 0);
	assert_int_equal(rw__rel_tx_store(&tx, 1, NULL, 0, 0), 0);
	assert_int_equal(tx.in_flight, 1);
	assert_int_equal(tx_ack(&tx, 2, 0, 0, 0), 1);
	rw__rel_tx_destroy(&tx);
}

/* The sender across the wrap: UINT32_MAX is followed by 1. */
static void test_tx_wrap(void **state)
{
	(void)state;
	static const struct ack_step t[] = {
		/* AckSeq MAXSEQ-1 frees MAXSEQ-2; bit 1 names 1 (MAXSEQ is +1) */
		{ MAXSEQ - 1, 1u << 1, 2, 4, { MAXSEQ - 1, MAXSEQ, 2, 3 } },
		{ MAXSEQ - 2, 0, 0, 4, { MAXSEQ - 1, MAXSEQ, 2, 3 } },	/* stale */
		{ 2, 1u << 0, 3, 1, { 2 } },		/* frees MAXSEQ-1, MAXSEQ; SACK 3 */
		{ 5, 0, 0, 1, { 2 } },			/* bogus: next is 4 */
		{ 4, 0, 1, 0, { 0 } },
	};
	struct rw_rel_tx tx;

	assert_int_equal(rw__rel_tx_init(&tx, 8, 200, 30000, 10, 0), 0);
	assert_int_equal(rw__rel_tx_set_next_seq(&tx, MAXSEQ - 2), 0);
	assert_int_equal(tx_put(&tx, 10, 0), MAXSEQ - 2);
	assert_int_equal(tx_put(&tx, 10, 0), MAXSEQ - 1);
	assert_int_equal(tx_put(&tx, 10, 0), MAXSEQ);
	assert_int_equal(tx_put(&tx, 10, 0), 1);
	assert_int_equal(tx_put(&tx, 10, 0), 2);
	assert_int_equal(tx_put(&tx, 10, 0), 3);
	run_acks(&tx, MAXSEQ - 2, 6, t, sizeof(t) / sizeof(t[0]));
	assert_int_equal(tx.bogus_acks, 1);
	assert_int_equal(tx.stale_acks, 1);
	rw__rel_tx_destroy(&tx);
}

static void test_tx_retransmit_timing(void **state)
{
	(void)state;
	/* base 100, cap 500, 4 retries, no RTT sample: when each expiry happens and what follows */
	static const struct {
		uint64_t now;
		int ret;
		uint32_t rto;
		uint64_t deadline;
	} t[] = {
		{ 99, 0, 100, 100 },		/* not yet */
		{ 100, 1, 200, 300 },		/* retransmit 1, RTO doubles */
		{ 299, 0, 200, 300 },
		{ 300, 1, 400, 700 },
		{ 750, 1, 500, 1250 },		/* capped; rearmed from now */
		{ 1250, 1, 500, 1750 },		/* 4th retransmission */
		{ 1750, -ETIMEDOUT, 500, 1750 },
		{ 5000, -ETIMEDOUT, 500, 1750 },	/* stays so */
	};
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };

	assert_int_equal(rw__rel_tx_init(&tx, 8, 100, 500, 4, 0), 0);
	assert_int_equal(rw__rel_tx_deadline(&tx), 0);
	assert_int_equal(rw__rel_tx_timeout(&tx, 1000, log_emit, &e), 0);
	assert_int_equal(rw__rel_tx_pto(&tx), 100);	/* base RTO until a sample */
	tx_put(&tx, 10, 0);
	assert_int_equal(rw__rel_tx_deadline(&tx), 100);
	tx_put(&tx, 10, 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = rw__rel_tx_timeout(&tx, t[i].now, log_emit, &e);

		if (r != t[i].ret)
			fail_msg("step %zu: at %llu got %d, want %d", i, (unsigned long long)t[i].now, r, t[i].ret);
		assert_int_equal(tx.rto_ms, t[i].rto);
		assert_int_equal(rw__rel_tx_deadline(&tx), t[i].deadline);
	}
	/* two probes each time (RFC 9002 §6.2.4), both the oldest */
	assert_int_equal(e.n, 8);
	for (size_t i = 0; i < e.n; i++)
		assert_int_equal(e.seq[i], 1);
	assert_int_equal(tx.retransmits, 8);
	assert_int_equal(tx.retries, 4);
	rw__rel_tx_destroy(&tx);

	/* the timer runs from the last send (RFC 9002 §6.2.1) */
	assert_int_equal(rw__rel_tx_init(&tx, 8, 100, 500, 4, 0), 0);
	tx_put(&tx, 10, 0);
	tx_put(&tx, 10, 50);
	assert_int_equal(rw__rel_tx_deadline(&tx), 150);
	rw__rel_tx_destroy(&tx);

	/* an ACK that frees something resets RTO (to the PTO) and retries, timer from now */
	assert_int_equal(rw__rel_tx_init(&tx, 8, 100, 500, 3, 0), 0);
	memset(&e, 0, sizeof(e));
	tx_put(&tx, 10, 0);
	tx_put(&tx, 10, 0);
	tx_put(&tx, 10, 0);
	assert_int_equal(rw__rel_tx_timeout(&tx, 100, log_emit, &e), 1);
	assert_int_equal(rw__rel_tx_timeout(&tx, 300, log_emit, &e), 1);
	assert_int_equal(tx.rto_ms, 400);
	/* an ACK freeing nothing changes nothing */
	assert_int_equal(tx_ack(&tx, 1, 0, 0, 350), 0);
	assert_int_equal(tx.rto_ms, 400);
	assert_int_equal(tx.retries, 2);
	assert_int_equal(rw__rel_tx_deadline(&tx), 700);
	assert_int_equal(e.n, 4);
	/* a SACK freeing 3 counts as progress; its 400 ms sample makes the PTO the cap */
	assert_int_equal(tx_ack(&tx, 1, 1u << 1, 0, 400), 1);
	assert_int_equal(tx.rto_ms, 500);
	assert_int_equal(tx.retries, 0);
	/* sooner: the loss timer of 2, sent at 0 and behind 3: 9/8 * 400 ms */
	assert_int_equal(rw__rel_tx_deadline(&tx), 450);
	/* 1's probe at 300 ACKed 120 ms later, sooner than min_rtt (400): the original's ACK */
	assert_int_equal(tx_ack(&tx, 2, 0, 0, 420), 1);
	assert_int_equal(tx.spurious_retransmits, 1);
	assert_int_equal(rw__rel_tx_deadline(&tx), 450);
	assert_int_equal(rw__rel_tx_timeout(&tx, 450, log_emit, &e), 1);
	assert_int_equal(e.n, 5);
	assert_int_equal(e.seq[4], 2);	/* the new oldest, lost */
	assert_int_equal(tx.fast_retransmits, 1);
	assert_int_equal(rw__rel_tx_deadline(&tx), 950);	/* from that send */
	assert_int_equal(rw__rel_tx_timeout(&tx, 950, log_emit, &e), 1);
	assert_int_equal(e.n, 7);
	assert_int_equal(e.seq[6], 2);
	/* a failing emit is a lost retransmission: counted, backoff continues */
	e.fail = -ENOBUFS;
	assert_int_equal(rw__rel_tx_timeout(&tx, 1450, log_emit, &e), 1);
	assert_int_equal(tx.emit_errors, 2);
	assert_int_equal(rw__rel_tx_timeout(&tx, 1950, log_emit, &e), 1);
	assert_int_equal(rw__rel_tx_timeout(&tx, 2450, log_emit, &e), -ETIMEDOUT);
	/* everything ACKed: the timer stops */
	assert_int_equal(tx_ack(&tx, 3, 0, 0, 2500), 1);
	assert_int_equal(rw__rel_tx_deadline(&tx), 0);
	assert_int_equal(rw__rel_tx_timeout(&tx, 99999, log_emit, &e), 0);
	/* a new frame starts it again at the PTO */
	tx_put(&tx, 10, 3000);
	assert_int_equal(rw__rel_tx_deadline(&tx), 3500);
	rw__rel_tx_destroy(&tx);

	/* max_retries 0: the first expiry closes */
	assert_int_equal(rw__rel_tx_init(&tx, 8, 100, 500, 0, 0), 0);
	tx_put(&tx, 10, 0);
	assert_int_equal(rw__rel_tx_timeout(&tx, 100, log_emit, &e), -ETIMEDOUT);
	rw__rel_tx_destroy(&tx);
}

/* RFC 6298 §2 / RFC 9002 §5.3 by hand: each sample, then the estimate and the PTO. */
static void test_tx_rtt(void **state)
{
	(void)state;
	static const struct {
		uint32_t sample_ms;
		uint32_t srtt_us, rttvar_us, min_rtt_us, pto_ms;
	} t[] = {
		/* first: srtt = r, rttvar = r/2; PTO = srtt + 4 rttvar + 20 ms ACK delay */
		{ 40, 40000, 20000, 40000, 140 },
		/* rttvar = 3/4 rttvar + 1/4 |srtt - r|, then srtt = 7/8 srtt + 1/8 r */
		{ 60, 42500, 20000, 40000, 143 },	/* 142.5 ms, rounded up */
		{ 20, 39687, 20625, 20000, 143 },
		{ 100, 47226, 30547, 20000, 190 },
		{ 10, 42572, 32216, 10000, 192 },
		{ 0, 37250, 34805, 0, 197 },
	};
	struct rw_rel_tx tx;
	uint64_t now = 1000;

	assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 10, 0), 0);
	tx.learn_ack_delay = false;	/* RFC 9002's formula as is (see test_tx_ack_delay) */
	assert_false(tx.has_rtt);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint32_t seq = tx_put(&tx, 10, now);

		now += t[i].sample_ms;
		assert_int_equal(tx_ack(&tx, rw__rel_seq_add(seq, 1), 0, 0, now), 1);
		if (tx.srtt_us != t[i].srtt_us || tx.rttvar_us != t[i].rttvar_us || tx.min_rtt_us != t[i].min_rtt_us ||
		    rw__rel_tx_pto(&tx) != t[i].pto_ms)
			fail_msg("step %zu: srtt %u rttvar %u min %u pto %u, want %u %u %u %u", i, tx.srtt_us,
				 tx.rttvar_us, tx.min_rtt_us, rw__rel_tx_pto(&tx), t[i].srtt_us, t[i].rttvar_us,
				 t[i].min_rtt_us, t[i].pto_ms);
		assert_int_equal(tx.latest_rtt_us, t[i].sample_ms * 1000);
		now += 5;
	}
	rw__rel_tx_reset(&tx);
	assert_false(tx.has_rtt);
	assert_int_equal(rw__rel_tx_pto(&tx), 200);

	/* the floor: a loopback path with no variance is still max_ack_delay + 5 ms */
	for (int i = 0; i < 40; i++) {
		uint32_t seq = tx_put(&tx, 10, now);

		assert_int_equal(tx_ack(&tx, rw__rel_seq_add(seq, 1), 0, 0, now), 1);
	}
	assert_int_equal(tx.srtt_us, 0);
	assert_int_equal(rw__rel_tx_pto(&tx), RW_DEFAULT_ACK_DELAY_MS + RW_REL_MIN_RTO_SLACK_MS);
	tx.max_ack_delay_ms = 40;
	assert_int_equal(rw__rel_tx_pto(&tx), 45);
	/* and the cap */
	tx.srtt_us = 40000000;
	assert_int_equal(rw__rel_tx_pto(&tx), 30000);
	rw__rel_tx_destroy(&tx);
}

/* Karn: no sample from an ACK whose newest newly covered transmission was a retransmission. */
static void test_tx_karn(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };

	assert_int_equal(rw__rel_tx_init(&tx, 64, 100, 30000, 10, 0), 0);
	tx_put(&tx, 10, 0);	/* 1 */
	assert_int_equal(rw__rel_tx_timeout(&tx, 100, log_emit, &e), 1);
	/* the ACK of a retransmitted frame: progress, no sample */
	assert_int_equal(tx_ack(&tx, 2, 0, 0, 150), 1);
	assert_false(tx.has_rtt);
	assert_int_equal(tx.rto_ms, 100);
	/* 2 and 3 first sent at 200, 2 probed at 300: an ACK of both is no sample */
	tx_put(&tx, 10, 200);
	tx_put(&tx, 10, 200);
	assert_int_equal(rw__rel_tx_timeout(&tx, 300, log_emit, &e), 1);
	assert_int_equal(e.seq[e.n - 2], 2);
	assert_int_equal(e.seq[e.n - 1], 2);
	assert_int_equal(tx_ack(&tx, 4, 0, 0, 340), 2);
	assert_false(tx.has_rtt);
	/* a first transmission newest: a sample, even beside a retransmitted one */
	tx_put(&tx, 10, 400);	/* 4 */
	tx_put(&tx, 10, 400);	/* 5 */
	assert_int_equal(rw__rel_tx_timeout(&tx, 500, log_emit, &e), 1);	/* 4 again */
	tx_put(&tx, 10, 520);	/* 6, newest */
	assert_int_equal(tx_ack(&tx, 7, 0, 0, 550), 3);
	assert_true(tx.has_rtt);
	assert_int_equal(tx.srtt_us, 30000);
	rw__rel_tx_destroy(&tx);
}

/* Give tx an RTT estimate of ms milliseconds (one clean sample) at now; returns now + ms. */
static uint64_t tx_prime(struct rw_rel_tx *tx, uint32_t ms, uint64_t now)
{
	uint32_t seq = tx_put(tx, 10, now);

	assert_int_equal(tx_ack(tx, rw__rel_seq_add(seq, 1), 0, 0, now + ms), 1);
	return now + ms;
}

/* The peer's ACK delay after a pause, learnt from samples of the last frame sent. */
static void test_tx_ack_delay(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	uint64_t now = 0;
	uint32_t seq;

	assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 10, 0), 0);
	assert_int_equal(tx.max_ack_delay_ms, RW_DEFAULT_ACK_DELAY_MS);
	now = tx_prime(&tx, 2, now);
	assert_int_equal(rw__rel_tx_pto(&tx), 2 + 4 + 20);	/* 17.5 ms learnt: + 2 ms granularity, 20 */
	/* a peer that ACKs 2 ms after the frames stop: down by 1/8 per sample */
	for (int i = 0; i < 40; i++)
		now = tx_prime(&tx, 2, now + 1);
	assert_true(tx.ack_delay_us < 200);
	assert_int_equal(rw__rel_tx_pto(&tx), 1 + 2 + 5);	/* floor: 3 ms ACK delay + 5 */
	/* a sample of a frame with another sent after it says nothing about pauses */
	seq = tx_put(&tx, 10, now);
	tx_put(&tx, 10, now);
	assert_int_equal(tx_ack(&tx, rw__rel_seq_add(seq, 1), 0, 0, now + 30), 1);
	assert_true(tx.ack_delay_us < 200);
	assert_int_equal(tx_ack(&tx, rw__rel_seq_add(seq, 2), 0, 0, now + 30), 1);
	/* a peer that waits its full ACK delay: up at once, capped by max_ack_delay */
	now = tx_prime(&tx, 30, now + 40);
	assert_int_equal(tx.ack_delay_us, 28000);
	assert_true(rw__rel_tx_pto(&tx) >= 20 + 5);
	tx.learn_ack_delay = false;
	tx.ack_delay_us = 0;
	assert_true(rw__rel_tx_pto(&tx) >= 20 + 5);	/* off: max_ack_delay as is */
	/*
	 * A SACK past the oldest pending frame: the receiver holds a hole the
	 * oldest fills, and ACKs that at once (RFC 9000 §13.2.1), so the PTO
	 * waits for no ACK delay.
	 */
	seq = tx_put(&tx, 10, now);
	tx_put(&tx, 10, now);
	assert_int_equal(tx_ack(&tx, seq, 1u << 0, 0, now + 1), 1);
	{
		uint64_t us = tx.srtt_us + (4 * tx.rttvar_us > 2000 ? 4 * tx.rttvar_us : 2000);
		uint64_t want = (us + 999) / 1000;

		assert_int_equal(rw__rel_tx_pto(&tx), want < RW_REL_MIN_RTO_SLACK_MS ? RW_REL_MIN_RTO_SLACK_MS : want);
	}
	/* the hole filled, nothing SACKed beyond: the ACK delay counts again */
	assert_int_equal(tx_ack(&tx, rw__rel_seq_add(seq, 2), 0, 0, now + 2), 1);
	seq = tx_put(&tx, 10, now + 2);
	assert_true(rw__rel_tx_pto(&tx) >= 20 + 5);
	rw__rel_tx_destroy(&tx);
}

/*
 * A stall on a path without a standing queue (random loss) probes flat
 * until it is base_rto_ms old, as long as the peer is heard from (ACKs of
 * other frames: it is there, this frame's copies go missing); a silent peer
 * (a stalled receiver, a blackout: nothing at all comes back), a queue (a
 * busy receiver), or the filter off: the timer doubles from the 5th expiry
 * (RW_REL_FLAT_PROBES).
 */
static void test_tx_flat_probes(void **state)
{
	(void)state;
	for (int c = 0; c < 4; c++) {
		enum { HEARD, SILENT, QUEUE, NO_FILTER };
		struct rw_rel_tx tx;
		struct emitlog e = { 0 };
		uint64_t now = 0, start;
		uint32_t pto, flat = 0, seq;

		assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 100, 0), 0);
		for (int i = 0; i < 40; i++)
			now = tx_prime(&tx, 2, now + 1);
		if (c == QUEUE)
			tx.srtt_us = tx.min_rtt_us + 20000;	/* a standing queue */
		if (c == NO_FILTER)
			tx.queue_filter = false;
		pto = rw__rel_tx_pto(&tx);
		assert_true(pto < 100);
		seq = tx_put(&tx, 10, now);
		start = now;
		while (now - start < 400) {
			now = rw__rel_tx_deadline(&tx);
			assert_true(rw__rel_tx_timeout(&tx, now, log_emit, &e) > 0);
			if (tx.rto_ms != pto)
				break;
			flat++;
			/* an ACK that frees nothing: the peer waits for this frame */
			if (c != SILENT)
				assert_int_equal(tx_ack(&tx, seq, 0, 0, now + 1), 0);
		}
		if (c == HEARD) {
			/* flat while the stall is under 200 ms: 200 / pto expiries or so */
			assert_true(flat >= 200 / pto - 1);
			assert_true(now - start >= 200 - pto);
		} else {
			assert_int_equal(flat, RW_REL_FLAT_PROBES);
		}
		rw__rel_tx_destroy(&tx);
	}
}

/* RFC 9002 §6.1: packet threshold 3, time threshold 9/8 RTT, the loss timer. */
static void test_tx_loss_detection(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };
	uint64_t now;

	/* packet threshold: 2 is lost once a transmission 3 newer is ACKed */
	assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 10, 0), 0);
	now = tx_prime(&tx, 40, 0);	/* 1; srtt 40: time threshold 45 ms */
	for (int i = 0; i < 6; i++)
		tx_put(&tx, 10, now);	/* 2..7 */
	assert_int_equal(tx_ack(&tx, 2, 1u << 0, 0, now + 10), 1);	/* 3 */
	assert_int_equal(tx_ack(&tx, 2, 3u << 0, 0, now + 10), 1);	/* 4: 2 below */
	assert_int_equal(tx.lost_frames, 0);
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 10, log_emit, &e), 0);
	assert_int_equal(tx_ack(&tx, 2, 7u << 0, 0, now + 10), 1);	/* 5: 3 newer */
	assert_int_equal(tx.lost_frames, 1);
	assert_int_equal(tx.lost_pending, 1);
	assert_int_equal(tx.congestion_events, 1);
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 10, log_emit, &e), 1);
	assert_int_equal(e.seq[0], 2);
	assert_int_equal(tx.fast_retransmits, 1);
	assert_int_equal(tx.lost_pending, 0);
	/* once: more ACKs of frames sent before the retransmission are no evidence */
	assert_int_equal(tx_ack(&tx, 2, 0x1f, 0, now + 11), 2);	/* 6, 7 */
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 11, log_emit, &e), 0);
	assert_int_equal(tx.lost_frames, 1);
	assert_int_equal(rw__rel_tx_deadline(&tx), now + 11 + rw__rel_tx_pto(&tx));
	/* three sent after it are ACKed: it was lost again */
	for (int i = 0; i < 3; i++)
		tx_put(&tx, 10, now + 12);	/* 8..10 */
	assert_int_equal(tx_ack(&tx, 2, 0x1ff, 0, now + 20), 3);
	assert_int_equal(tx.lost_frames, 2);
	/* a retransmission is sent after the recovery began: its loss is a new event (RFC 9002 §7.3.2) */
	assert_int_equal(tx.congestion_events, 2);
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 20, log_emit, &e), 1);
	assert_int_equal(e.seq[1], 2);
	assert_int_equal(tx_ack(&tx, 11, 0, 0, now + 80), 1);
	assert_int_equal(tx.in_flight, 0);
	assert_int_equal(tx.retransmits, 0);
	assert_int_equal(rw__rel_tx_deadline(&tx), 0);
	rw__rel_tx_destroy(&tx);

	/* time threshold: a hole with fewer than 3 after it waits 9/8 max(srtt, latest_rtt) */
	static const struct {
		uint32_t rtt_ms;
		uint64_t wait_ms;	/* from its send to its loss */
	} tt[] = {
		{ 40, 45 }, { 8, 9 }, { 1, 2 }, { 0, 2 },	/* granularity floor 2 ms */
	};
	for (size_t i = 0; i < sizeof(tt) / sizeof(tt[0]); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 10, 0), 0);
		now = tx_prime(&tx, tt[i].rtt_ms, 1000);
		tx_put(&tx, 10, now);	/* 2 */
		tx_put(&tx, 10, now);	/* 3 */
		tx_put(&tx, 10, now);	/* 4 */
		assert_int_equal(tx_ack(&tx, 2, 1u << 1, 0, now + tt[i].rtt_ms), 1);	/* 4: 2 and 3 are holes */
		assert_int_equal(tx.lost_frames, 0);
		if (rw__rel_tx_deadline(&tx) != now + tt[i].wait_ms)
			fail_msg("rtt %u: loss timer at +%llu, want +%llu", tt[i].rtt_ms,
				 (unsigned long long)(rw__rel_tx_deadline(&tx) - now),
				 (unsigned long long)tt[i].wait_ms);
		assert_int_equal(rw__rel_tx_timeout(&tx, now + tt[i].wait_ms - 1, log_emit, &e), 0);
		assert_int_equal(rw__rel_tx_timeout(&tx, now + tt[i].wait_ms, log_emit, &e), 1);
		assert_int_equal(tx.lost_frames, 2);
		assert_int_equal(e.n, 2);
		assert_int_equal(e.seq[0], 2);
		assert_int_equal(e.seq[1], 3);
		assert_int_equal(tx.retransmits, 0);	/* not the RTO */
		assert_int_equal(tx.fast_retransmits, 2);
		rw__rel_tx_destroy(&tx);
	}

	/* an ACK that arrives after the time threshold declares the loss by itself */
	memset(&e, 0, sizeof(e));
	assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 10, 0), 0);
	now = tx_prime(&tx, 8, 0);
	tx_put(&tx, 10, now);	/* 2 */
	tx_put(&tx, 10, now + 20);	/* 3 */
	assert_int_equal(tx_ack(&tx, 2, 1u << 0, 0, now + 28), 1);	/* latest_rtt 8, 2 sent 28 ago */
	assert_int_equal(tx.lost_frames, 1);
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 28, log_emit, &e), 1);
	rw__rel_tx_destroy(&tx);
}

/*
 * An ACK of a frame that went more than once: Karn's rule takes no sample,
 * but the time since the latest send is a lower bound on the RTT (what
 * QUIC, whose retransmissions have packet numbers of their own, would
 * sample). It raises the estimate and never lowers it: behind a receiver
 * stalled or backed up for longer than the PTO, every frame is probed, and
 * without it the estimate stays at the quiet path's while every frame is
 * declared lost again (the collapse of docs/protocol.md §11.6).
 */
static void test_tx_rtt_lower_bound(void **state)
{
	struct emitlog e = { 0 };
	struct rw_rel_tx tx;
	uint32_t seq, pto;
	uint64_t now;

	(void)state;
	assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 10, 0), 0);
	now = tx_prime(&tx, 2, 0);	/* srtt 2 ms */
	assert_int_equal(tx.srtt_us, 2000);
	pto = rw__rel_tx_pto(&tx);
	seq = tx_put(&tx, 10, now);
	now = rw__rel_tx_deadline(&tx);
	assert_int_equal(rw__rel_tx_timeout(&tx, now, log_emit, &e), 1);	/* probed */
	/* the ACK 100 ms after the probe: at least 100 ms, whichever copy it answers */
	assert_int_equal(tx_ack(&tx, rw__rel_seq_add(seq, 1), 0, 0, now + 100), 1);
	assert_int_equal(tx.latest_rtt_us, 100000);
	assert_int_equal(tx.srtt_us, (7 * 2000 + 100000) / 8);
	assert_int_equal(tx.min_rtt_us, 2000);
	assert_true(rw__rel_tx_pto(&tx) > pto + 4 * 20);	/* the variance too */
	now += 100;

	/* one sooner than srtt says nothing new: no sample */
	pto = tx.srtt_us;
	seq = tx_put(&tx, 10, now);
	now = rw__rel_tx_deadline(&tx);
	assert_int_equal(rw__rel_tx_timeout(&tx, now, log_emit, &e), 1);
	assert_int_equal(tx_ack(&tx, rw__rel_seq_add(seq, 1), 0, 0, now + 3), 1);
	assert_int_equal(tx.srtt_us, pto);
	assert_int_equal(tx.latest_rtt_us, 100000);

	/* first transmissions bring it down again, as ever */
	for (int i = 0; i < 40; i++)
		now = tx_prime(&tx, 2, now + 1);
	assert_true(tx.srtt_us < 3000);
	rw__rel_tx_destroy(&tx);
}

/* RFC 8985 §6.1: an ACK sooner than min_rtt after a retransmission answers the original. */
static void test_tx_spurious(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };

	assert_int_equal(rw__rel_tx_init(&tx, 64, 200, 30000, 10, 0), 0);
	tx_prime(&tx, 10, 0);	/* 1; min_rtt 10 ms, PTO 10 + 20 + 20 = 50 */
	assert_int_equal(rw__rel_tx_pto(&tx), 50);
	tx_put(&tx, 10, 20);	/* 2: xmit 2 */
	tx_put(&tx, 10, 30);	/* 3, 4, 5: xmit 3..5 */
	tx_put(&tx, 10, 30);
	tx_put(&tx, 10, 30);
	assert_int_equal(rw__rel_tx_deadline(&tx), 80);
	assert_int_equal(rw__rel_tx_timeout(&tx, 80, log_emit, &e), 1);	/* 2 again, twice: xmit 6, 7 */
	assert_int_equal(e.seq[0], 2);
	assert_int_equal(e.seq[1], 2);
	/* the ACK of the original, merely late: 2 ms after the retransmission */
	assert_int_equal(tx_ack(&tx, 3, 0, 0, 82), 1);
	assert_int_equal(tx.spurious_retransmits, 1);
	/* credited to the original: 3..5, sent after it, are not lost (no cascade) */
	assert_int_equal(tx.acked_xmit, 2);
	assert_int_equal(tx.lost_frames, 0);
	assert_int_equal(tx_ack(&tx, 6, 0, 0, 90), 3);
	assert_int_equal(tx.lost_frames, 0);
	assert_int_equal(tx.spurious_retransmits, 1);

	/* a retransmission answered after min_rtt is not counted */
	tx_put(&tx, 10, 100);	/* 6 */
	assert_int_equal(rw__rel_tx_timeout(&tx, rw__rel_tx_deadline(&tx), log_emit, &e), 1);
	assert_int_equal(tx_ack(&tx, 7, 0, 0, tx.slot[6 % 64].sent_ms + 10), 1);
	assert_int_equal(tx.spurious_retransmits, 1);
	assert_int_equal(tx.retransmits, 4);

	/*
	 * A timer probe's ACK, however late, is credited to the original: no
	 * cascade behind a busy receiver, whose backlog is ACKed soon after;
	 * after a blackout, what stays unACKed for the peer's ACK delay is lost.
	 */
	for (int blackout = 0; blackout < 2; blackout++) {
		struct rw_rel_tx t2;
		size_t n0;

		assert_int_equal(rw__rel_tx_init(&t2, 64, 200, 30000, 10, 0), 0);
		tx_prime(&t2, 2, 0);	/* PTO 2 + 4 + 20 */
		tx_put(&t2, 10, 10);	/* 2 */
		for (int i = 0; i < 3; i++)
			tx_put(&t2, 10, 12);	/* 3..5 */
		assert_int_equal(rw__rel_tx_deadline(&t2), 38);
		assert_int_equal(rw__rel_tx_timeout(&t2, 38, log_emit, &e), 1);	/* 2, twice */
		assert_int_equal(tx_ack(&t2, 3, 0, 0, 60), 1);	/* 22 ms later */
		assert_int_equal(t2.acked_xmit, 2);
		assert_int_equal(t2.lost_frames, 0);
		/*
		 * The ACK, 22 ms after the probe, says the RTT is at least 22
		 * (latest_rtt): what is left waits 9/8 of that (25 ms), more
		 * than the ACK delay.
		 */
		assert_int_equal(t2.latest_rtt_us, 22000);
		assert_int_equal(rw__rel_tx_deadline(&t2), 60 + 25);
		if (!blackout) {
			assert_int_equal(tx_ack(&t2, 6, 0, 0, 65), 3);	/* the backlog */
		} else {
			n0 = e.n;
			assert_int_equal(rw__rel_tx_timeout(&t2, 85, log_emit, &e), 1);
			assert_int_equal(t2.lost_frames, 3);	/* 3, 4, 5 */
			assert_int_equal(e.n - n0, 3);
			assert_int_equal(e.seq[e.n - 1], 5);
		}
		rw__rel_tx_destroy(&t2);
	}

	/* a fast retransmission shown spurious the same way */
	for (int i = 0; i < 5; i++)
		tx_put(&tx, 10, 200);	/* 7..11 */
	assert_int_equal(tx_ack(&tx, 7, 0xf, 0, 210), 4);	/* 7 lost by packet threshold */
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, 210, log_emit, &e), 1);
	assert_int_equal(tx.pkt_threshold, RW_REL_PACKET_THRESHOLD);
	assert_int_equal(tx_ack(&tx, 12, 0, 0, 211), 1);	/* the original was only reordered */
	assert_int_equal(tx.spurious_retransmits, 2);
	assert_int_equal(tx.pkt_threshold, RW_REL_PACKET_THRESHOLD + 1);	/* a reordering path */
	rw__rel_tx_destroy(&tx);
}

/* Ack every frame in flight (the cumulative ACK of next) at now; returns how many. */
static int tx_ack_all(struct rw_rel_tx *tx, uint64_t now)
{
	return tx_ack(tx, rw__rel_tx_next_seq(tx), 0, 0, now);
}

/* Store frames at now while can_send allows; returns how many. */
static unsigned tx_fill(struct rw_rel_tx *tx, uint64_t now)
{
	unsigned n = 0;

	while (rw__rel_tx_can_send(tx, 10)) {
		tx_put(tx, 10, now);
		n++;
	}
	return n;
}

/* NewReno (RFC 9002 §7): slow start, one halving per recovery period, congestion avoidance. */
static void test_tx_cwnd(void **state)
{
	(void)state;
	/* slow start: the window doubles each round trip (+1 per frame ACKed) */
	static const uint32_t ss[] = { 10, 20, 40, 80, 160, 256, 256 };
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };
	uint64_t now = 0;
	uint32_t first;

	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	for (size_t i = 0; i < sizeof(ss) / sizeof(ss[0]); i++) {
		assert_int_equal(tx.cwnd, ss[i]);
		/* can_send is what cwnd allows (the peer and own windows are 256) */
		assert_int_equal(tx_fill(&tx, now), ss[i]);
		now += 10;
		assert_int_equal(tx_ack_all(&tx, now), (int)ss[i]);
	}
	assert_int_equal(tx.congestion_events, 0);
	rw__rel_tx_destroy(&tx);

	/* a loss halves it, once per recovery period (plain NewReno: see test_tx_queue_filter) */
	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	tx.queue_filter = false;
	now = tx_prime(&tx, 10, 0);
	assert_int_equal(tx.cwnd, 11);
	tx.cwnd = 40;
	assert_int_equal(tx_fill(&tx, now), 40);	/* 2..41 */
	/* RFC 9002 order: the 3 frames ACKed grow it to 43, then 2's loss halves it */
	assert_int_equal(tx_ack(&tx, 2, 0x7, 0, now + 10), 3);
	assert_int_equal(tx.congestion_events, 1);
	assert_int_equal(tx.cwnd, 21);
	assert_int_equal(tx.ssthresh, 21);
	/* 36 in flight, 1 awaiting retransmission: nothing new, but the hole goes (RFC 5681 fast retransmit) */
	assert_false(rw__rel_tx_can_send(&tx, 10));
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 10, log_emit, &e), 1);
	/* another hole sent before the reduction (6): no second one */
	assert_int_equal(tx_ack(&tx, 2, 0x7 | (0xfull << 4), 0, now + 11), 4);
	assert_int_equal(tx.lost_frames, 2);
	assert_int_equal(tx.congestion_events, 1);
	assert_int_equal(tx.cwnd, 21);
	/* frames sent before the reduction ACKed: no growth in recovery (2's retransmission counts) */
	assert_int_equal(tx_ack_all(&tx, now + 30), 33);
	assert_int_equal(tx.in_flight, 0);
	assert_int_equal(tx.cwnd, 21);
	assert_int_equal(tx.ca_acked, 1);
	/* congestion avoidance: +1 per window of frames sent after it, ACKed */
	assert_int_equal(tx_fill(&tx, now + 30), 21);
	assert_int_equal(tx_ack_all(&tx, now + 40), 21);
	assert_int_equal(tx.cwnd, 22);
	assert_int_equal(tx_fill(&tx, now + 50), 22);
	assert_int_equal(tx_ack_all(&tx, now + 60), 22);
	assert_int_equal(tx.cwnd, 23);
	/* a loss of a frame sent after the recovery began is a new event */
	first = rw__rel_tx_next_seq(&tx);
	assert_int_equal(tx_fill(&tx, now + 70), 23);
	assert_int_equal(tx_ack(&tx, first, 0xe, 0, now + 80), 3);	/* first + 2..4: first, first + 1 lost */
	assert_int_equal(tx.lost_frames, 4);
	assert_int_equal(tx.congestion_events, 2);
	assert_int_equal(tx.cwnd, 11);
	/* ... a false alarm: first's retransmission is ACKed sooner than min_rtt, the halving is undone */
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 80, log_emit, &e), 1);
	assert_int_equal(tx_ack(&tx, rw__rel_seq_add(first, 1), 0x7, 0, now + 81), 1);
	assert_int_equal(tx.spurious_retransmits, 1);
	assert_int_equal(tx.congestion_undos, 1);
	assert_int_equal(tx.cwnd, 23);
	rw__rel_tx_destroy(&tx);

	/* never below the minimum window; a window of 4 caps it */
	assert_int_equal(rw__rel_tx_init(&tx, 4, 200, 30000, 10, 0), 0);
	tx.queue_filter = false;
	assert_int_equal(tx.cwnd, 4);
	assert_int_equal(tx_fill(&tx, 0), 4);
	assert_int_equal(tx_ack_all(&tx, 10), 4);
	assert_int_equal(tx.cwnd, 4);
	tx.cwnd = 3;
	assert_int_equal(tx_fill(&tx, 20), 3);
	assert_int_equal(tx_ack(&tx, 5, 0x3, 0, 30), 2);	/* 6, 7: cwnd 4 again (the cap) */
	assert_int_equal(tx.cwnd, 4);
	tx_put(&tx, 10, 30);
	assert_int_equal(tx_ack(&tx, 5, 0x7, 0, 31), 1);	/* 8: 5 lost */
	assert_int_equal(tx.cwnd, RW_REL_MIN_CWND);
	rw__rel_tx_destroy(&tx);
}

/* A loss without a standing queue is random loss: no halving; with one, NewReno's. */
static void test_tx_queue_filter(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };
	uint64_t now;
	uint32_t first, c;

	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	assert_true(tx.queue_filter);
	now = tx_prime(&tx, 10, 0);	/* min_rtt = srtt = 10 ms */
	tx.cwnd = 40;
	first = rw__rel_tx_next_seq(&tx);
	assert_int_equal(tx_fill(&tx, now), 40);
	assert_int_equal(tx_ack(&tx, first, 0x7, 0, now + 10), 3);	/* first lost */
	assert_int_equal(tx.lost_frames, 1);
	assert_int_equal(tx.random_losses, 1);
	assert_int_equal(tx.congestion_events, 0);
	assert_int_equal(tx.cwnd, 43);
	/* still a recovery period: the hole goes at once, more holes are the same event */
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, now + 10, log_emit, &e), 1);
	assert_int_equal(tx_ack(&tx, first, 0x7 | (0xfull << 4), 0, now + 11), 4);
	assert_int_equal(tx.random_losses, 1);
	rw__rel_tx_fast_retransmit(&tx, now + 11, log_emit, &e);
	assert_int_equal(tx_ack_all(&tx, now + 30), 33);

	/* the path queues: RTT samples 50 ms against a minimum of 10 */
	while (tx.srtt_us <= tx.min_rtt_us + RW_REL_QUEUE_MS * 1000) {
		now += 100;
		tx_fill(&tx, now);
		tx_ack_all(&tx, now + 50);
	}
	assert_int_equal(tx.min_rtt_us, 10000);
	now += 200;
	c = tx.cwnd;
	first = rw__rel_tx_next_seq(&tx);
	assert_true(tx_fill(&tx, now) >= 4);
	assert_int_equal(tx_ack(&tx, first, 0x7, 0, now + 50), 3);
	assert_int_equal(tx.random_losses, 1);
	assert_int_equal(tx.congestion_events, 1);
	assert_int_equal(tx.cwnd, (c + 3 > 256 ? 256 : c + 3) / 2);	/* grown (capped), then halved */
	rw__rel_tx_destroy(&tx);
}

/* RFC 9002 §7.6: no ACK for 3 PTOs: the window collapses to the minimum. */
static void test_tx_persistent_congestion(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };
	uint64_t now;
	uint32_t pto;

	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	tx.queue_filter = false;	/* plain RFC 9002 (the filter: below) */
	now = tx_prime(&tx, 10, 0);
	pto = rw__rel_tx_pto(&tx);	/* 10 + 20 + 20 */
	assert_int_equal(pto, 50);
	assert_int_equal(tx_fill(&tx, now), 11);
	/*
	 * Expiries (no backoff for the first RW_REL_FLAT_PROBES below
	 * base_rto_ms) after 1, 2, 3, 4 PTOs of silence: persistent
	 * congestion at 3, once per stall.
	 */
	for (uint32_t k = 1; k <= RW_REL_FLAT_PROBES; k++) {
		assert_int_equal(rw__rel_tx_deadline(&tx), now + k * pto);
		assert_int_equal(rw__rel_tx_timeout(&tx, now + k * pto, log_emit, &e), 1);
		assert_int_equal(tx.persistent_congestions, k >= 3);
		assert_int_equal(tx.cwnd, k >= 3 ? RW_REL_MIN_CWND : 11);
	}
	/* then the backoff */
	assert_int_equal(rw__rel_tx_deadline(&tx), now + 5 * pto);
	assert_int_equal(rw__rel_tx_timeout(&tx, now + 5 * pto, log_emit, &e), 1);
	assert_int_equal(rw__rel_tx_deadline(&tx), now + 7 * pto);
	assert_int_equal(tx.persistent_congestions, 1);
	assert_int_equal(tx.retransmits, 10);
	assert_int_equal(tx.retries, 0);	/* below base_rto_ms (200): not the spec's retransmissions */
	/* progress: slow start from the minimum */
	assert_int_equal(tx_ack_all(&tx, now + 5 * pto + 20), 11);
	assert_false(tx.persistent);
	/* (the probes' ACKs are credited to their originals, sent before it: no growth yet) */
	assert_int_equal(tx_fill(&tx, now + 400), RW_REL_MIN_CWND);
	rw__rel_tx_destroy(&tx);

	/* with the queue filter and no queue (srtt = min_rtt): a blackout, not congestion */
	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	now = tx_prime(&tx, 10, 0);
	assert_int_equal(tx_fill(&tx, now), 11);
	for (uint32_t k = 1; k <= 3; k++)
		assert_int_equal(rw__rel_tx_timeout(&tx, rw__rel_tx_deadline(&tx), log_emit, &e), 1);
	assert_int_equal(tx.persistent_congestions, 0);
	assert_int_equal(tx.random_losses, 1);
	assert_int_equal(tx.cwnd, 11);
	rw__rel_tx_destroy(&tx);

	/* without an RTT sample the spec's timer alone: no collapse (nothing to compare with) */
	assert_int_equal(rw__rel_tx_init(&tx, 256, 100, 30000, 10, 0), 0);
	tx_fill(&tx, 0);
	for (int i = 0; i < 4; i++)
		assert_int_equal(rw__rel_tx_timeout(&tx, rw__rel_tx_deadline(&tx), log_emit, &e), 1);
	assert_int_equal(tx.persistent_congestions, 0);
	rw__rel_tx_destroy(&tx);
}

/* RFC 9002 §7.7: new frames and retransmissions paced at 1.25 cwnd / srtt. */
static void test_tx_pacing(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };
	uint64_t now;
	unsigned sent = 0;

	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	/* no RTT yet: no pacing */
	for (int i = 0; i < 10; i++)
		assert_int_equal(rw__rel_tx_pacing_delay(&tx, 0), 0);
	now = tx_prime(&tx, 40, 0);
	tx.cwnd = 64;	/* 1.25 * 64 / 40 ms = 2 frames a ms; bucket 10 frames */
	/* a full bucket, then one every half ms */
	for (uint64_t t = now; t < now + 20; t++) {
		while (rw__rel_tx_can_send(&tx, 10) && rw__rel_tx_pacing_delay(&tx, t) == 0) {
			tx_put(&tx, 10, t);
			sent++;
		}
		if (t == now) {
			assert_int_equal(sent, 10);
			assert_int_equal(rw__rel_tx_pacing_delay(&tx, t), 1);
		}
	}
	assert_int_equal(sent, 10 + 19 * 2);
	rw__rel_tx_destroy(&tx);

	/* retransmissions: never a burst beyond the bucket and cwnd; the deadline says when the rest go */
	memset(&e, 0, sizeof(e));
	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	tx.queue_filter = false;
	now = tx_prime(&tx, 40, 0);
	tx.cwnd = 200;
	for (int i = 0; i < 150; i++)
		tx_put(&tx, 10, now - 1);	/* 2..151, before the bucket */
	/* the receiver got 39..66: 2..38 lost; cwnd (200 + 28) / 2 */
	assert_int_equal(tx_ack(&tx, 2, ~0ull << 36, 0, now + 40), 28);
	assert_int_equal(tx_ack(&tx, 2, ~0ull << 36, 0, now + 40), 0);
	assert_int_equal(tx.cwnd, 114);
	assert_int_equal(tx.lost_pending, 37);
	/* 1.25 * 114 / 40 ms = 3.6 a ms, bucket 10, and the one that goes at once */
	assert_true(rw__rel_tx_fast_retransmit(&tx, now + 40, log_emit, &e) <= 11);
	assert_true(rw__rel_tx_deadline(&tx) <= now + 41);
	assert_int_equal(rw__rel_tx_timeout(&tx, now + 41, log_emit, &e), 1);
	assert_true(e.n <= 11 + 4);
	rw__rel_tx_destroy(&tx);
}

/* A loss narrows the reach (span past the oldest pending) once per episode. */
static void test_tx_reach(void **state)
{
	(void)state;
	struct rw_rel_tx tx;
	struct emitlog e = { 0 };

	assert_int_equal(rw__rel_tx_init(&tx, 256, 200, 30000, 10, 0), 0);
	tx.queue_filter = false;
	assert_int_equal(tx.reach, 256);
	tx.cwnd = 256;
	for (int i = 0; i < 200; i++)
		tx_put(&tx, 10, 0);
	/* 1 lost, 2..65 SACKed, 66..200 dropped as too far by the receiver */
	assert_int_equal(tx_ack(&tx, 1, UINT64_MAX, 0, 40), 64);
	assert_int_equal(tx.recoveries, 1);
	assert_int_equal(tx.reach, 128);
	assert_int_equal(tx.in_flight, 136);
	assert_false(rw__rel_tx_can_send(&tx, 1));	/* span 200 >= 128 */
	/* the hole goes at once, whatever the window (RFC 5681 fast retransmit) */
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, 40, log_emit, &e), 1);
	/* its ACK (one RTT later) shows 66..200, sent before it, lost */
	assert_int_equal(tx_ack(&tx, 66, 0, 0, 80), 1);
	assert_int_equal(tx.lost_pending, 135);
	assert_int_equal(tx.cwnd, 128);
	assert_false(rw__rel_tx_can_send(&tx, 1));	/* span 135 */
	/* they go as the bucket (10, then 1.25 * 128 / 40 ms = 4 a ms) and cwnd allow */
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, 80, log_emit, &e), 10);
	while (tx.lost_pending && rw__rel_tx_deadline(&tx) < 200) {
		uint64_t t = rw__rel_tx_deadline(&tx);
		size_t n0 = e.n;

		assert_int_equal(rw__rel_tx_timeout(&tx, t, log_emit, &e), 1);
		assert_true(e.n - n0 >= 1 && e.n - n0 <= 5);	/* the last one: cwnd */
	}
	assert_int_equal(tx.cc_in_flight, 128);
	assert_int_equal(tx.lost_pending, 7);
	assert_int_equal(rw__rel_tx_fast_retransmit(&tx, 120, log_emit, &e), 0);	/* cwnd */
	assert_int_equal(tx.recoveries, 1);
	assert_int_equal(tx.reach, 128);
	/* the episode ends when everything sent before it is ACKed: it grows */
	assert_int_equal(tx_ack(&tx, 150, 0, 0, 120), 84);
	assert_int_equal(tx.reach, 128);
	rw__rel_tx_fast_retransmit(&tx, 120, log_emit, &e);
	assert_int_equal(tx_ack(&tx, 201, 0, 0, 160), 51);
	assert_int_equal(tx.reach, 179);
	tx.cwnd = 256;
	for (int i = 0; i < 100; i++)
		tx_put(&tx, 10, 200);
	assert_int_equal(tx_ack(&tx, 301, 0, 0, 240), 100);
	assert_int_equal(tx.reach, 256);	/* capped at the window */
	/* an RTO is a loss too; the floor is the receiver's reach, 65 */
	tx_put(&tx, 10, 300);
	assert_int_equal(rw__rel_tx_timeout(&tx, 1000, log_emit, &e), 1);
	assert_int_equal(tx.reach, 128);
	assert_int_equal(tx.recoveries, 2);
	assert_int_equal(tx_ack(&tx, 302, 0, 0, 1100), 1);
	tx.reach = 100;
	tx_put(&tx, 10, 1200);
	assert_int_equal(rw__rel_tx_timeout(&tx, 1400, log_emit, &e), 1);
	assert_int_equal(tx.reach, 65);
	rw__rel_tx_reset(&tx);
	assert_int_equal(tx.reach, 256);
	assert_int_equal(tx.cwnd, RW_REL_INITIAL_CWND);
	rw__rel_tx_destroy(&tx);

	/* a window within the receiver's reach is never narrowed */
	assert_int_equal(rw__rel_tx_init(&tx, 32, 200, 30000, 10, 0), 0);
	tx_put(&tx, 10, 0);
	assert_int_equal(rw__rel_tx_timeout(&tx, 200, log_emit, &e), 1);
	assert_int_equal(tx.reach, 32);
	rw__rel_tx_destroy(&tx);
}

/* An emit that destroys (and frees) the tx mid-burst, from an ACK's retransmissions or the timer. */
static void test_tx_emit_destroys(void **state)
{
	(void)state;
	struct rw_rel_tx *hx = malloc(sizeof(*hx));
	struct emitlog e = { 0 };

	assert_non_null(hx);
	assert_int_equal(rw__rel_tx_init(hx, 256, 200, 30000, 10, 0), 0);
	for (int i = 0; i < 10; i++)
		tx_put(hx, 10, 0);
	tx_ack(hx, 1, 1u << 8, 0, 10);	/* 10 arrived 10 ms later: 1..7 lost (8, 9 not yet) */
	assert_int_equal(hx->lost_pending, 7);
	hx->cwnd = 10;
	e.tx = hx;
	e.destroy_after = 4;
	assert_int_equal(rw__rel_tx_fast_retransmit(hx, 10, log_emit, &e), 4);
	assert_null(e.tx);

	hx = malloc(sizeof(*hx));
	assert_non_null(hx);
	assert_int_equal(rw__rel_tx_init(hx, 256, 200, 30000, 10, 0), 0);
	memset(&e, 0, sizeof(e));
	tx_put(hx, 10, 0);
	e.tx = hx;
	e.destroy_after = 1;
	assert_int_equal(rw__rel_tx_timeout(hx, 200, log_emit, &e), 1);
	assert_null(e.tx);
}

/* ---- simulation --------------------------------------------------------- */

static uint64_t rnd(uint64_t *s)
{
	/* splitmix64 */
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

struct pkt {
	uint64_t at;
	uint32_t seq;
	uint8_t *data;
	size_t len;
	struct rw_frame_rel ack;
};

struct path {
	struct pkt *q;
	size_t n, cap;
	uint64_t *rng;
	unsigned loss_pct, dup_pct;
	unsigned latency_ms, jitter_ms;	/* jitter reorders */
	uint64_t sent, dropped;
};

static void path_push(struct path *p, const struct pkt *k)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? p->cap * 2 : 256;
		p->q = realloc(p->q, p->cap * sizeof(*p->q));
		assert_non_null(p->q);
	}
	p->q[p->n++] = *k;
}

static void path_send(struct path *p, uint64_t now, uint32_t seq, const uint8_t *data, size_t len,
		      const struct rw_frame_rel *ack)
{
	unsigned copies = 1 + (rnd(p->rng) % 100 < p->dup_pct);

	p->sent++;
	if (rnd(p->rng) % 100 < p->loss_pct) {
		p->dropped++;
		return;
	}
	for (unsigned i = 0; i < copies; i++) {
		struct pkt k = { .at = now + p->latency_ms + rnd(p->rng) % (p->jitter_ms + 1), .seq = seq, .len = len };

		if (data) {
			k.data = malloc(len ? len : 1);
			assert_non_null(k.data);
			memcpy(k.data, data, len);
		}
		if (ack)
			k.ack = *ack;
		path_push(p, &k);
	}
}

/* Take one packet due by now (any of them: arrival order is shuffled). */
static bool path_recv(struct path *p, uint64_t now, struct pkt *out)
{
	for (size_t i = 0; i < p->n; i++) {
		if (p->q[i].at <= now) {
			*out = p->q[i];
			p->q[i] = p->q[--p->n];
			return true;
		}
	}
	return false;
}

static void path_free(struct path *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->q[i].data);
	free(p->q);
}

struct sim_cfg {
	uint64_t seed;
	unsigned loss_pct, dup_pct, jitter_ms;
	uint32_t window;
	size_t rx_budget, tx_budget;
	uint32_t first_seq;
	unsigned frames;
};

struct sim {
	const struct sim_cfg *cfg;
	struct path fwd, back;
	uint64_t delivered;
	uint64_t seq0;		/* first seq: frame i carries seq0 + i */
	uint64_t now;
};

/* Frame i: 4 bytes of i, then bytes from i; 1..1200 bytes, mostly small. */
static size_t sim_len(uint64_t seed, uint64_t i)
{
	uint64_t s = seed ^ (i * UINT64_C(0x2545f4914f6cdd1d));
	uint64_t r = rnd(&s);

	return 4 + (r % 4 == 0 ? r % 1197 : r % 60);
}

static void sim_frame(uint64_t seed, uint64_t i, uint8_t *buf, size_t len)
{
	rw_put_le32(buf, (uint32_t)i);
	for (size_t k = 4; k < len; k++)
		buf[k] = (uint8_t)(i * 131 + k * 17 + seed);
}

static void sim_deliver(void *ctx, const uint8_t *frame, size_t len)
{
	struct sim *s = ctx;
	uint8_t want[1200];
	size_t wl = sim_len(s->cfg->seed, s->delivered);

	/* every frame once, in order: frame number delivered comes next */
	if (len != wl || rw_le32(frame) != (uint32_t)s->delivered)
		fail_msg("seed %llu: delivery %llu: got frame %u (%zu bytes)", (unsigned long long)s->cfg->seed,
			 (unsigned long long)s->delivered, rw_le32(frame), len);
	sim_frame(s->cfg->seed, s->delivered, want, wl);
	assert_memory_equal(frame, want, wl);
	s->delivered++;
}

static int sim_emit(void *ctx, uint32_t seq, const uint8_t *frame, size_t len)
{
	struct sim *s = ctx;

	path_send(&s->fwd, s->now, seq, frame, len, NULL);
	return 0;
}

static void run_sim(const struct sim_cfg *c)
{
	struct rw_rel_tx tx;
	struct rw_rel_rx rx;
	uint64_t rs = c->seed;
	struct sim s = { .cfg = c };
	uint64_t queued = 0, max_span = 0;
	struct pkt k;
	uint8_t buf[1200];

	s.fwd = (struct path){ .rng = &rs, .loss_pct = c->loss_pct, .dup_pct = c->dup_pct, .latency_ms = 10,
			       .jitter_ms = c->jitter_ms };
	s.back = s.fwd;
	assert_int_equal(rw__rel_tx_init(&tx, c->window, RW_DEFAULT_BASE_RTO_MS, RW_MAX_RTO_MS,
					 RW_DEFAULT_MAX_RETRIES, c->tx_budget), 0);
	assert_int_equal(rw__rel_rx_init(&rx, c->window, c->rx_budget), 0);
	assert_int_equal(rw__rel_tx_set_next_seq(&tx, c->first_seq), 0);
	assert_int_equal(rw__rel_rx_set_expect(&rx, c->first_seq), 0);

	for (s.now = 0; s.now < 3600 * 1000; s.now++) {
		uint64_t due;
		int r;

		/* the application writes whenever it may, 32 frames a ms at most */
		for (int burst = 0; queued < c->frames && burst < 32; burst++) {
			size_t len = sim_len(c->seed, queued);
			uint32_t seq;

			if (!rw__rel_tx_can_send(&tx, len) || rw__rel_tx_pacing_delay(&tx, s.now))
				break;
			seq = rw__rel_tx_next_seq(&tx);
			assert_int_equal(seq, rw__rel_seq_add(c->first_seq, queued));
			sim_frame(c->seed, queued, buf, len);
			assert_int_equal(rw__rel_tx_store(&tx, seq, buf, len, s.now), 0);
			path_send(&s.fwd, s.now, seq, buf, len, NULL);
			queued++;
		}
		/* memory stays bounded, whatever the path does */
		assert_true(tx.in_flight <= c->window);
		if (c->tx_budget)
			assert_true(tx.pending_bytes <= c->tx_budget + 1200);
		if (c->rx_budget)
			assert_true(rx.buffered_bytes <= c->rx_budget);
		if (tx.next - tx.una > max_span)
			max_span = tx.next - tx.una;

		while (path_recv(&s.fwd, s.now, &k)) {
			r = rw__rel_rx_frame(&rx, k.seq, k.data, k.len, s.now, sim_deliver, &s);
			assert_true(r >= 0 && r < RW_REL_INVALID);
			free(k.data);
		}
		if (rw__rel_rx_ack_pending(&rx, &due) && due <= s.now) {
			struct rw_frame_rel a = { 0 };

			rw__rel_rx_ack(&rx, &a);
			assert_int_not_equal(a.window, 0);
			path_send(&s.back, s.now, 0, NULL, 0, &a);
		}
		while (path_recv(&s.back, s.now, &k)) {
			assert_true(rw__rel_tx_on_ack(&tx, &k.ack, s.now) >= 0);
			assert_true(rw__rel_tx_fast_retransmit(&tx, s.now, sim_emit, &s) >= 0);
		}
		if (rw__rel_tx_deadline(&tx) && rw__rel_tx_deadline(&tx) <= s.now) {
			r = rw__rel_tx_timeout(&tx, s.now, sim_emit, &s);
			if (r < 0)
				fail_msg("seed %llu: timeout %d at %llu ms: una %llu next %llu in flight %u cc %u lost %u "
					 "cwnd %u srtt %u rto %u retries %u delivered %llu",
					 (unsigned long long)c->seed, r, (unsigned long long)s.now,
					 (unsigned long long)tx.una, (unsigned long long)tx.next, tx.in_flight,
					 tx.cc_in_flight, tx.lost_pending, tx.cwnd, tx.srtt_us, tx.rto_ms, tx.retries,
					 (unsigned long long)s.delivered);
		}
		if (s.delivered == c->frames && tx.in_flight == 0)
			break;
	}
	if (s.delivered != c->frames || tx.in_flight)
		fail_msg("seed %llu: %llu of %u delivered, %u pending after %llu ms", (unsigned long long)c->seed,
			 (unsigned long long)s.delivered, c->frames, tx.in_flight, (unsigned long long)s.now);
	assert_int_equal(tx.pending_bytes, 0);
	assert_int_equal(rw__rel_tx_deadline(&tx), 0);
	assert_int_equal(rw__rel_rx_buffered(&rx), 0);
	assert_int_equal(rx.buffered_bytes, 0);
	assert_int_equal(rx.delivered, c->frames);
	assert_int_equal(tx.acked, c->frames);
	assert_int_equal(rw__rel_tx_next_seq(&tx), rw__rel_seq_add(c->first_seq, c->frames));
	assert_int_equal(rw__rel_rx_expect(&rx), rw__rel_seq_add(c->first_seq, c->frames));
	print_message("seed %-3llu loss %2u%% dup %u%% jit %2u win %3u: %u frames in %6llu ms, "
		      "%llu sent, %llu rto, %llu fast, %llu spurious, %llu cong/%llu random/%llu persistent, "
		      "%llu dup/rx, %llu far, span %llu\n",
		      (unsigned long long)c->seed, c->loss_pct, c->dup_pct, c->jitter_ms, c->window, c->frames,
		      (unsigned long long)s.now, (unsigned long long)s.fwd.sent, (unsigned long long)tx.retransmits,
		      (unsigned long long)tx.fast_retransmits, (unsigned long long)tx.spurious_retransmits,
		      (unsigned long long)tx.congestion_events, (unsigned long long)tx.random_losses,
		      (unsigned long long)tx.persistent_congestions, (unsigned long long)rx.duplicates,
		      (unsigned long long)rx.too_far, (unsigned long long)max_span);
	rw__rel_tx_destroy(&tx);
	rw__rel_rx_destroy(&rx);
	path_free(&s.fwd);
	path_free(&s.back);
}

static void test_simulation(void **state)
{
	(void)state;
	static const struct sim_cfg cfgs[] = {
		/* seed loss dup jitter window rx_budget tx_budget first_seq frames */
		{ 1, 0, 0, 0, 256, 0, 0, 1, 3000 },
		{ 2, 0, 5, 20, 256, 0, 0, 1, 3000 },
		{ 3, 10, 0, 0, 256, 0, 0, 1, 3000 },
		{ 4, 10, 5, 20, 256, 0, 0, 1, 3000 },
		{ 5, 10, 5, 20, 64, 32 * 1024, 64 * 1024, 1, 3000 },
		{ 6, 30, 0, 5, 256, 0, 0, 1, 2000 },
		{ 7, 30, 10, 20, 256, 0, 0, 1, 2000 },
		{ 8, 30, 10, 20, 32, 16 * 1024, 32 * 1024, 1, 2000 },
		{ 9, 10, 5, 20, 256, 0, 0, UINT32_MAX - 1000, 3000 },	/* across the wrap */
		{ 10, 30, 10, 40, 128, 0, 64 * 1024, UINT32_MAX - 300, 2000 },
		{ 11, 20, 20, 40, 256, 8 * 1024, 0, 1, 2000 },
		{ 12, 30, 10, 20, 256, 0, 0, UINT32_MAX - 64, 1000 },
	};

	for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++)
		run_sim(&cfgs[i]);
}

/* More seeds, shorter runs, the path drawn from the seed. */
static void test_simulation_seeds(void **state)
{
	(void)state;
	static const unsigned loss[] = { 0, 10, 30 };
	static const uint32_t win[] = { 16, 64, 256 };

	for (uint64_t seed = 100; seed < 136; seed++) {
		uint64_t r = seed * UINT64_C(0x9e3779b97f4a7c15);
		struct sim_cfg c = {
			.seed = seed,
			.loss_pct = loss[seed % 3],
			.dup_pct = (unsigned)(r >> 8) % 15,
			.jitter_ms = (unsigned)(r >> 16) % 30,
			.window = win[(seed / 3) % 3],
			.rx_budget = (r >> 24) % 2 ? 16 * 1024 : 0,
			.tx_budget = (r >> 25) % 2 ? 48 * 1024 : 0,
			.first_seq = (r >> 26) % 2 ? UINT32_MAX - (uint32_t)((r >> 32) % 600) : 1,
			.frames = 600,
		};

		run_sim(&c);
	}
}

static void test_verdict_str(void **state)
{
	(void)state;
	for (int v = 0; v < RW_REL_VERDICT_COUNT; v++)
		assert_string_not_equal(rw__rel_verdict_str(v), "unknown reliable verdict");
	assert_string_equal(rw__rel_verdict_str(-1), "unknown reliable verdict");
	assert_string_equal(rw__rel_verdict_str(RW_REL_VERDICT_COUNT), "unknown reliable verdict");
	assert_int_equal(rw__rel_seq_add(MAXSEQ, 1), 1);
	assert_int_equal(rw__rel_seq_add(MAXSEQ - 1, 3), 2);
	assert_int_equal(rw__rel_seq_add(5, RW_REL_SEQ_SPACE), 5);
	assert_int_equal(rw__rel_seq_wire(RW_REL_SEQ_SPACE + 1), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_issue_sequence),
		cmocka_unit_test(test_rx_no_shift),
		cmocka_unit_test(test_rx_ack_fields),
		cmocka_unit_test(test_rx_budget),
		cmocka_unit_test(test_rx_wrap),
		cmocka_unit_test(test_rx_reentrancy),
		cmocka_unit_test(test_tx_sack_then_cumulative),
		cmocka_unit_test(test_tx_stale_bogus),
		cmocka_unit_test(test_tx_window),
		cmocka_unit_test(test_tx_admitted_frame_is_kept),
		cmocka_unit_test(test_tx_seq),
		cmocka_unit_test(test_tx_wrap),
		cmocka_unit_test(test_tx_retransmit_timing),
		cmocka_unit_test(test_tx_rtt),
		cmocka_unit_test(test_tx_ack_delay),
		cmocka_unit_test(test_tx_flat_probes),
		cmocka_unit_test(test_tx_karn),
		cmocka_unit_test(test_tx_loss_detection),
		cmocka_unit_test(test_tx_rtt_lower_bound),
		cmocka_unit_test(test_tx_spurious),
		cmocka_unit_test(test_tx_cwnd),
		cmocka_unit_test(test_tx_queue_filter),
		cmocka_unit_test(test_tx_persistent_congestion),
		cmocka_unit_test(test_tx_pacing),
		cmocka_unit_test(test_tx_emit_destroys),
		cmocka_unit_test(test_tx_reach),
		cmocka_unit_test(test_simulation),
		cmocka_unit_test(test_simulation_seeds),
		cmocka_unit_test(test_verdict_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
