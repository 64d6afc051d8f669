/* SPDX-License-Identifier: MIT */
/*
 * test_timer.c - the timer wheel as pure logic: exact firing ticks, order,
 * cancel/re-arm (also from callbacks), delays across every level and beyond
 * the top one, next_ms as a sleep bound, and a randomised run checked against
 * a brute-force model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "timer.h"

struct probe {
	struct rw_timer t;
	unsigned fired;
	uint64_t fired_at;	/* tick passed to the callback */
	uint64_t want;		/* tick it must fire at */
	unsigned seq;		/* global firing order */
	bool cancelled;
};

static unsigned fire_seq;

static void probe_fn(struct rw_timer *t, uint64_t now)
{
	struct probe *p = rw_container_of(t, struct probe, t);

	p->fired++;
	p->fired_at = now;
	p->seq = fire_seq++;
}

static void probe_init(struct probe *p)
{
	memset(p, 0, sizeof(*p));
	rw__timer_init(&p->t, probe_fn);
}

static void test_add_fire_exact(void **state)
{
	struct rw_timer_wheel w;
	struct probe p;

	(void)state;
	rw__timer_wheel_init(&w, 1000);
	probe_init(&p);
	assert_int_equal(rw__timer_wheel_next_ms(&w), -1);
	rw__timer_add_in(&w, &p.t, 10);
	assert_true(rw__timer_pending(&p.t));
	assert_int_equal(rw__timer_wheel_count(&w), 1);
	assert_int_equal(rw__timer_wheel_next_ms(&w), 10);
	assert_int_equal(rw__timer_wheel_advance(&w, 1009), 0);
	assert_int_equal(p.fired, 0);
	assert_int_equal(rw__timer_wheel_next_ms(&w), 1);
	assert_int_equal(rw__timer_wheel_advance(&w, 1010), 1);
	assert_int_equal(p.fired, 1);
	assert_int_equal(p.fired_at, 1010);
	assert_false(rw__timer_pending(&p.t));
	assert_int_equal(rw__timer_wheel_count(&w), 0);
	assert_int_equal(rw__timer_wheel_next_ms(&w), -1);
	/* Going back in time is a no-op; a second advance fires nothing. */
	assert_int_equal(rw__timer_wheel_advance(&w, 5), 0);
	assert_int_equal(rw__timer_wheel_now(&w), 1010);
	assert_int_equal(rw__timer_wheel_advance(&w, 5000), 0);
	assert_int_equal(p.fired, 1);
}

static void test_due_fires_next_tick(void **state)
{
	struct rw_timer_wheel w;
	struct probe a, b;

	(void)state;
	rw__timer_wheel_init(&w, 50);
	probe_init(&a);
	probe_init(&b);
	rw__timer_add(&w, &a.t, 10);	/* in the past */
	rw__timer_add_in(&w, &b.t, 0);	/* now */
	assert_int_equal(rw__timer_wheel_next_ms(&w), 1);
	assert_int_equal(rw__timer_wheel_advance(&w, 50), 0);
	assert_int_equal(rw__timer_wheel_advance(&w, 51), 2);
	assert_int_equal(a.fired_at, 51);
	assert_int_equal(b.fired_at, 51);
}

static void test_cancel_and_rearm(void **state)
{
	struct rw_timer_wheel w;
	struct probe a, b;

	(void)state;
	rw__timer_wheel_init(&w, 0);
	probe_init(&a);
	probe_init(&b);
	assert_false(rw__timer_cancel(&w, &a.t));
	rw__timer_add_in(&w, &a.t, 5);
	rw__timer_add_in(&w, &b.t, 700);	/* level 1 */
	assert_true(rw__timer_cancel(&w, &a.t));
	assert_false(rw__timer_cancel(&w, &a.t));
	assert_true(rw__timer_cancel(&w, &b.t));
	assert_int_equal(rw__timer_wheel_count(&w), 0);
	assert_int_equal(rw__timer_wheel_next_ms(&w), -1);
	assert_int_equal(rw__timer_wheel_advance(&w, 10000), 0);
	assert_int_equal(a.fired + b.fired, 0);

	/* Re-arm while pending moves it: later, then earlier, across levels. */
	rw__timer_add_in(&w, &a.t, 20);
	rw__timer_add_in(&w, &a.t, 90000);
	rw__timer_add_in(&w, &a.t, 300);
	assert_int_equal(rw__timer_wheel_count(&w), 1);
	assert_int_equal(rw__timer_wheel_advance(&w, 10299), 0);
	assert_int_equal(rw__timer_wheel_advance(&w, 10300), 1);
	assert_int_equal(a.fired_at, 10300);
	/* Re-usable after firing. */
	rw__timer_add_in(&w, &a.t, 1);
	assert_int_equal(rw__timer_wheel_advance(&w, 10301), 1);
	assert_int_equal(a.fired, 2);
}

static void test_ordering(void **state)
{
	enum { N = 64 };
	static const uint64_t delays[] = { 3, 1, 255, 256, 257, 2, 1000, 16383, 16384, 16385, 70000, 5 };
	struct rw_timer_wheel w;
	struct probe p[N];
	unsigned i, n = sizeof(delays) / sizeof(delays[0]);

	(void)state;
	rw__timer_wheel_init(&w, 123);
	fire_seq = 0;
	for (i = 0; i < n; i++) {
		probe_init(&p[i]);
		rw__timer_add_in(&w, &p[i].t, delays[i]);
	}
	/* Same tick: FIFO in add order. */
	for (i = n; i < n + 10; i++) {
		probe_init(&p[i]);
		rw__timer_add_in(&w, &p[i].t, 256);
	}
	assert_int_equal(rw__timer_wheel_advance(&w, 123 + 70000), n + 10);
	for (i = 0; i < n; i++)
		assert_int_equal(p[i].fired_at, 123 + delays[i]);
	for (i = 0; i < n + 10; i++)
		for (unsigned j = 0; j < n + 10; j++)
			if (p[i].fired_at < p[j].fired_at)
				assert_true(p[i].seq < p[j].seq);
	for (i = n + 1; i < n + 10; i++)
		assert_true(p[i - 1].seq < p[i].seq);
}

/* Delays on every level and past the top (2^32 ms), one jump and stepwise. */
static void test_long_delays(void **state)
{
	static const uint64_t delays[] = {
		1, 255, 256, 16383, 16384, (UINT64_C(1) << 20) - 1, UINT64_C(1) << 20,
		(UINT64_C(1) << 26) + 7, 5 * 3600 * 1000ULL, (UINT64_C(1) << 32) - 1,
		UINT64_C(1) << 32, 60ULL * 24 * 3600 * 1000 + 3,	/* 60 days */
	};
	unsigned i, n = sizeof(delays) / sizeof(delays[0]);
	uint64_t start = 987654321;

	(void)state;
	for (i = 0; i < n; i++) {
		struct rw_timer_wheel w;
		struct probe p;
		uint64_t want = start + delays[i], now = start;
		unsigned steps = 0;

		/* One jump straight past the expiry. */
		rw__timer_wheel_init(&w, start);
		probe_init(&p);
		rw__timer_add_in(&w, &p.t, delays[i]);
		assert_int_equal(rw__timer_wheel_advance(&w, want - 1), 0);
		assert_int_equal(rw__timer_wheel_advance(&w, want + 12345), 1);
		assert_int_equal(p.fired_at, want);

		/* As the reactor does: sleep next_ms, advance, repeat. */
		rw__timer_wheel_init(&w, start);
		probe_init(&p);
		rw__timer_add_in(&w, &p.t, delays[i]);
		while (!p.fired) {
			int64_t ms = rw__timer_wheel_next_ms(&w);

			assert_true(ms >= 1);
			assert_true(now + (uint64_t)ms <= want);	/* never oversleeps */
			now += (uint64_t)ms;
			rw__timer_wheel_advance(&w, now);
			assert_true(++steps < 400);	/* few cascade wakes, not one per ms */
		}
		assert_int_equal(now, want);
		assert_int_equal(p.fired_at, want);
	}
}

/* Callbacks that cancel, re-arm and free. */
static struct rw_timer_wheel cb_wheel;
static struct probe cb_a, cb_b, cb_c;
static unsigned periodic_count;

static void cancel_b_fn(struct rw_timer *t, uint64_t now)
{
	probe_fn(t, now);
	assert_true(rw__timer_cancel(&cb_wheel, &cb_b.t));	/* due in this same tick */
	assert_true(rw__timer_cancel(&cb_wheel, &cb_c.t));	/* due later */
	/* The running timer is already idle. */
	assert_false(rw__timer_cancel(&cb_wheel, t));
	/* Nested advance is refused. */
	assert_int_equal(rw__timer_wheel_advance(&cb_wheel, now + 1000), 0);
}

static void periodic_fn(struct rw_timer *t, uint64_t now)
{
	probe_fn(t, now);
	if (++periodic_count < 5)
		rw__timer_add_in(&cb_wheel, t, 0);	/* "again now": next tick */
}

struct heap_timer {
	struct rw_timer t;
	unsigned *counter;
};

static void free_self_fn(struct rw_timer *t, uint64_t now)
{
	struct heap_timer *h = rw_container_of(t, struct heap_timer, t);

	(void)now;
	(*h->counter)++;
	free(h);
}

static void test_callbacks(void **state)
{
	unsigned freed = 0, i;

	(void)state;
	rw__timer_wheel_init(&cb_wheel, 0);
	probe_init(&cb_a);
	probe_init(&cb_b);
	probe_init(&cb_c);
	cb_a.t.fn = cancel_b_fn;
	rw__timer_add_in(&cb_wheel, &cb_a.t, 40);
	rw__timer_add_in(&cb_wheel, &cb_b.t, 40);
	rw__timer_add_in(&cb_wheel, &cb_c.t, 500);
	assert_int_equal(rw__timer_wheel_advance(&cb_wheel, 1000), 1);
	assert_int_equal(cb_a.fired, 1);
	assert_int_equal(cb_b.fired, 0);
	assert_int_equal(cb_c.fired, 0);
	assert_int_equal(rw__timer_wheel_count(&cb_wheel), 0);

	/* Self re-arm with no delay: once per tick, no loop within a tick. */
	probe_init(&cb_a);
	cb_a.t.fn = periodic_fn;
	periodic_count = 0;
	rw__timer_add_in(&cb_wheel, &cb_a.t, 1);
	assert_int_equal(rw__timer_wheel_advance(&cb_wheel, 1001), 1);
	assert_int_equal(rw__timer_wheel_advance(&cb_wheel, 1001), 0);
	assert_int_equal(rw__timer_wheel_advance(&cb_wheel, 1010), 4);
	assert_int_equal(cb_a.fired_at, 1005);
	assert_int_equal(periodic_count, 5);

	/* Callbacks freeing their own timer (ASan checks nothing touches it after). */
	for (i = 0; i < 100; i++) {
		struct heap_timer *h = malloc(sizeof(*h));

		assert_non_null(h);
		h->counter = &freed;
		rw__timer_init(&h->t, free_self_fn);
		rw__timer_add_in(&cb_wheel, &h->t, i % 7 + 300 * (i % 3));
	}
	rw__timer_wheel_advance(&cb_wheel, 1010 + 1000);
	assert_int_equal(freed, 100);
}

/* xorshift64*: deterministic and seedable from the test. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static uint64_t rand_delay(void)
{
	switch (rnd() % 5) {
	case 0: return rnd() % 256;
	case 1: return rnd() % 16384;
	case 2: return rnd() % (1u << 20);
	case 3: return rnd() % (1u << 24);
	default: return rnd() % 2000;
	}
}

/* Many timers against a model: each fires once, at exactly its tick. */
static void test_many_random(void **state)
{
	enum { N = 20000 };
	struct rw_timer_wheel w;
	struct probe *p = calloc(N, sizeof(*p));
	uint64_t now = 5, end;
	unsigned i, live = 0, fired_total = 0;

	(void)state;
	assert_non_null(p);
	rw__timer_wheel_init(&w, now);
	for (i = 0; i < N; i++) {
		uint64_t d = rand_delay();

		probe_init(&p[i]);
		rw__timer_add_in(&w, &p[i].t, d);
		p[i].want = now + (d ? d : 1);
	}
	live = N;
	end = now + (1u << 24) + 10;
	while (now < end) {
		uint64_t before = fire_seq;
		unsigned f;

		/* Random cancels and re-arms between advances. */
		for (unsigned k = 0; k < 20; k++) {
			struct probe *q = &p[rnd() % N];

			if (rnd() & 1) {
				if (rw__timer_cancel(&w, &q->t)) {
					q->cancelled = true;
					live--;
				}
			} else if (!q->fired && !q->cancelled) {
				uint64_t d = rand_delay();

				rw__timer_add_in(&w, &q->t, d);
				q->want = now + (d ? d : 1);
			}
		}
		assert_int_equal(rw__timer_wheel_count(&w), live - fired_total);
		/* Random steps: often short, sometimes a long jump. */
		now += (rnd() & 7) ? rnd() % 300 : rnd() % 400000;
		f = rw__timer_wheel_advance(&w, now);
		assert_int_equal(fire_seq - before, f);
		fired_total += f;
	}
	/* Drain what late re-arms pushed past the loop. */
	fired_total += rw__timer_wheel_advance(&w, now + (1u << 24));
	for (i = 0; i < N; i++) {
		if (p[i].cancelled) {
			assert_int_equal(p[i].fired, 0);
			continue;
		}
		assert_int_equal(p[i].fired, 1);
		assert_int_equal(p[i].fired_at, p[i].want);
	}
	assert_int_equal(fired_total, live);
	assert_int_equal(rw__timer_wheel_count(&w), 0);
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_fire_exact),
		cmocka_unit_test(test_due_fires_next_tick),
		cmocka_unit_test(test_cancel_and_rearm),
		cmocka_unit_test(test_ordering),
		cmocka_unit_test(test_long_delays),
		cmocka_unit_test(test_callbacks),
		cmocka_unit_test(test_many_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
