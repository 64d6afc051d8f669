/* SPDX-License-Identifier: MIT */
/*
 * test_reliable.c - reliable.c's timers on a wheel of its own: an expired
 * retransmit timer waits once for the datagrams its batch has not read yet
 * (the ACK that answers it may be among them), and only once per deadline.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "reliable.h"
#include "timer.h"

static uint64_t clk;
static bool unread_now;
static unsigned retransmits;

static int send_frame(void *ctx, const uint8_t *frame, size_t len, bool retransmit)
{
	(void)ctx;
	(void)frame;
	(void)len;
	if (retransmit)
		retransmits++;
	return 0;
}

static bool deliver(void *ctx, const struct rw_frame *f)
{
	(void)ctx;
	(void)f;
	return true;
}

static bool writable(void *ctx, uint8_t channel)
{
	(void)ctx;
	(void)channel;
	return true;
}

static void failed(void *ctx, const char *why)
{
	(void)ctx;
	(void)why;
}

static const struct rw_reliable_ops ops = {
	.send_frame = send_frame, .deliver = deliver, .writable = writable, .fail = failed,
};

static uint64_t clock_ms(const void *ctx)
{
	(void)ctx;
	return clk;
}

static bool unread(const void *ctx)
{
	(void)ctx;
	return unread_now;
}

/* The reactor's batch: the wheel's time moves, then its timers fire. */
static void batch(struct rw_timer_wheel *w, uint64_t at)
{
	clk = at;
	rw__timer_wheel_advance(w, at);
}

struct chan {
	struct rw_timer_wheel w;
	struct rw_block_pool pool;
	struct rw_reliable *r;
};

/* A channel at t = 1000 ms with one frame sent and unacknowledged. */
static void chan_up(struct chan *c)
{
	struct rw_reliable_env env = {
		.ops = &ops, .wheel = &c->w, .clock = clock_ms, .unread = unread, .pool = &c->pool,
		.ack_delay_ms = 10,
	};
	struct rw_frame_rel rel;
	const uint8_t frame[8] = { 1 };

	memset(c, 0, sizeof(*c));
	clk = 1000;
	retransmits = 0;
	rw__timer_wheel_init(&c->w, clk);
	c->r = rw__reliable_new(&env, 1, NULL);
	assert_non_null(c->r);
	memset(&rel, 0, sizeof(rel));
	rw__reliable_stamp(c->r, &rel);
	assert_int_equal(rw__reliable_sent(c->r, rel.seq, frame, sizeof(frame)), 0);
}

static void chan_down(struct chan *c)
{
	rw__reliable_stop(c->r);
	rw__reliable_free(c->r);
	rw__reliable_pool_free(&c->pool);
}

/* The batch, one per ms from 1001, in which the first retransmission goes. */
static uint64_t first_retransmit(struct chan *c)
{
	for (uint64_t t = 1001; t < 1000 + 10000; t++) {
		batch(&c->w, t);
		if (retransmits)
			return t;
	}
	fail_msg("no retransmission within 10 s");
	return 0;
}

static void test_expiry_waits_once_for_unread(void **state)
{
	struct chan c;
	uint64_t due;

	(void)state;
	/* nothing unread: the timer fires at its deadline, two probes of the oldest frame */
	unread_now = false;
	chan_up(&c);
	due = first_retransmit(&c);
	assert_int_equal(retransmits, 2);
	chan_down(&c);

	/* datagrams unread in every batch: one millisecond later, not never */
	unread_now = true;
	chan_up(&c);
	assert_int_equal(first_retransmit(&c), due + 1);
	assert_int_equal(retransmits, 2);
	chan_down(&c);
}

/* After a stall: timers fire late, with the answering ACK unread; it is read before they act. */
static void test_stalled_batch_reads_first(void **state)
{
	struct chan c;

	(void)state;
	unread_now = true;
	chan_up(&c);
	/* the reactor comes back 2 s late: the deadline is long past, the ACK waits in its batch */
	batch(&c.w, 3000);
	assert_int_equal(retransmits, 0);
	chan_down(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expiry_waits_once_for_unread),
		cmocka_unit_test(test_stalled_batch_reads_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
