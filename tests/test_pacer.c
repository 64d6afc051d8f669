/* SPDX-License-Identifier: MIT */
/* test_pacer.c - the per-session token bucket: burst, refill, FIFO, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pacer.h"

static void test_burst_then_rate(void **state)
{
	struct rw_pacer p;

	(void)state;
	rw__pacer_init(&p, 1000, 0);		/* 1000 B/s, burst 2000 */
	assert_true(rw__pacer_admit(&p, 1500, 0));
	assert_false(rw__pacer_admit(&p, 600, 0));	/* 500 left */
	assert_true(rw__pacer_admit(&p, 500, 0));
	assert_false(rw__pacer_admit(&p, 1, 0));
	/* 1 byte per ms */
	assert_false(rw__pacer_admit(&p, 100, 99));
	assert_true(rw__pacer_admit(&p, 100, 100));
	/* the bucket never holds more than the burst */
	assert_true(rw__pacer_admit(&p, 2000, 1000000));
	assert_false(rw__pacer_admit(&p, 1, 1000000));
	rw__pacer_destroy(&p);
}

static void test_fifo_and_wait(void **state)
{
	struct rw_pacer p;
	struct rw_pacer_pkt *k;
	uint8_t a[10] = "aaaaaaaaa", b[10] = "bbbbbbbbb";

	(void)state;
	rw__pacer_init(&p, 1000, 0);
	assert_true(rw__pacer_admit(&p, 2000, 0));
	assert_int_equal(rw__pacer_enqueue(&p, 4, a, 10, 300), 0);
	assert_int_equal(rw__pacer_enqueue(&p, 7, b, 10, 300), 0);
	assert_int_equal(p.queued, 20);
	/* while anything waits, nothing jumps the queue */
	assert_false(rw__pacer_admit(&p, 1, 5000));
	rw__pacer_destroy(&p);

	rw__pacer_init(&p, 1000, 0);
	assert_true(rw__pacer_admit(&p, 2000, 0));
	assert_int_equal(rw__pacer_enqueue(&p, 4, a, 10, 300), 0);
	assert_int_equal(rw__pacer_enqueue(&p, 7, b, 10, 300), 0);
	assert_int_equal(rw__pacer_wait_ms(&p, 0), 300);
	assert_null(rw__pacer_pop(&p, 299));
	k = rw__pacer_pop(&p, 300);
	assert_non_null(k);
	assert_int_equal(k->type, 4);
	assert_memory_equal(k->plain, a, 10);
	free(k);
	assert_int_equal(rw__pacer_wait_ms(&p, 300), 300);
	k = rw__pacer_pop(&p, 600);
	assert_non_null(k);
	assert_int_equal(k->type, 7);
	free(k);
	assert_null(rw__pacer_pop(&p, 10000));
	assert_int_equal(rw__pacer_wait_ms(&p, 10000), 0);
	assert_int_equal(p.queued, 0);
	rw__pacer_destroy(&p);
}

static void test_oversized_packet_still_goes(void **state)
{
	struct rw_pacer p;
	struct rw_pacer_pkt *k;
	uint8_t x[8] = { 0 };

	(void)state;
	rw__pacer_init(&p, 100, 0);		/* burst 200 B: a 1000-byte packet never fits */
	assert_true(rw__pacer_admit(&p, 200, 0));
	assert_int_equal(rw__pacer_enqueue(&p, 4, x, 8, 1000), 0);
	assert_int_equal(rw__pacer_wait_ms(&p, 0), 2000);	/* until the bucket is full */
	k = rw__pacer_pop(&p, 2000);
	assert_non_null(k);
	free(k);
	rw__pacer_destroy(&p);
}

static void test_bounded(void **state)
{
	struct rw_pacer p;
	uint8_t x[1000] = { 0 };
	int n = 0;

	(void)state;
	rw__pacer_init(&p, 1000, 0);
	while (!rw__pacer_full(&p)) {
		assert_int_equal(rw__pacer_enqueue(&p, 4, x, sizeof(x), sizeof(x)), 0);
		n++;
	}
	/* 64 KiB at least, about a second of traffic at higher rates */
	assert_true(p.queued >= 65536 && n <= 66);
	rw__pacer_destroy(&p);
	assert_null(p.head);
	/* rate 0: no limit at all */
	rw__pacer_init(&p, 0, 0);
	for (int i = 0; i < 100; i++)
		assert_true(rw__pacer_admit(&p, 1 << 20, 0));
	rw__pacer_destroy(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_rate),
		cmocka_unit_test(test_fifo_and_wait),
		cmocka_unit_test(test_oversized_packet_still_goes),
		cmocka_unit_test(test_bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
