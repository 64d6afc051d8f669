/* SPDX-License-Identifier: MIT */
/*
 * test_replay.c - the 4096-counter replay window (docs/protocol.md §8), table-driven in
 * the manner of WireGuard's selftest/counter.c, plus a comparison against a
 * naive model over random walks (near 0 and near UINT64_MAX).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replay.h"

#define W ((uint64_t)RW_REPLAY_WINDOW)
#define L RW_REPLAY_REJECT_AFTER

enum { OK = RW_REPLAY_OK, OLD = RW_REPLAY_TOO_OLD, DUP = RW_REPLAY_DUPLICATE, LIM = RW_REPLAY_LIMIT };

/*
 * One packet arriving: its verdict must be want; an accepted one is then
 * recorded (as after a good AEAD) and must be a duplicate afterwards.
 */
static void step(struct rw_replay *r, uint64_t counter, int want, int line)
{
	struct rw_replay before = *r;
	enum rw_replay_verdict v = rw__replay_classify(r, counter);

	if ((int)v != want)
		fail_msg("line %d: counter %llu: got \"%s\", want \"%s\"", line, (unsigned long long)counter,
			 rw__replay_verdict_str(v), rw__replay_verdict_str((enum rw_replay_verdict)want));
	assert_int_equal(rw__replay_check(r, counter), want == OK);
	/* checking changes nothing */
	assert_memory_equal(&before, r, sizeof(before));
	v = rw__replay_update(r, counter);
	assert_int_equal(v, want);
	if (want != OK) {
		/* neither does a refused update */
		assert_memory_equal(&before, r, sizeof(before));
		return;
	}
	assert_int_equal(rw__replay_classify(r, counter), DUP);
}

#define T(c, v) step(&r, (c), (v), __LINE__)

static void test_table(void **state)
{
	(void)state;
	struct rw_replay r;

	rw__replay_init(&r);
	T(0, OK);		/* the first packet carries counter 0 */
	T(0, DUP);
	T(1, OK);
	T(1, DUP);
	T(9, OK);
	T(8, OK);
	T(7, OK);
	T(7, DUP);
	T(9, DUP);
	T(2, OK);
	T(W, OK);		/* window [1, 4096] */
	T(0, OLD);
	T(1, DUP);
	T(3, OK);
	T(W + 1, OK);		/* window [2, 4097] */
	T(1, OLD);
	T(2, DUP);
	T(4, OK);
	T(W * 4, OK);		/* window [12289, 16384] */
	T(W * 4 - (W - 1), OK);	/* head - 4095: accepted once */
	T(W * 4 - (W - 1), DUP);
	T(W * 4 - W, OLD);	/* head - 4096 */
	T(W * 4 - (W + 1), OLD);
	T(W * 4 - 1, OK);
	T(W * 4 - 2, OK);
	T(W * 4 + 1, OK);
	T(W * 4 - (W - 1), OLD);	/* the window moved on by one */
	T(W * 4 - (W - 2), OK);
	T(W, OLD);
	T(0, OLD);
	/* the counter limit */
	T(L, LIM);
	T(L - 1, OK);		/* a huge jump */
	T(L - 1, DUP);
	T(L, LIM);
	T(L - 2, OK);
	T(L - W, OK);		/* head - 4095 */
	T(L - W - 1, OLD);
	T(L - 3, OK);
	T(W * 4 + 2, OLD);
	T(0, OLD);
	T(L, LIM);
}

/* Strictly descending fill of a whole window, as a burst reversed in flight. */
static void test_descending(void **state)
{
	(void)state;
	struct rw_replay r;

	rw__replay_init(&r);
	T(W - 1, OK);
	for (uint64_t c = W - 1; c-- > 0;)
		T(c, OK);
	for (uint64_t c = 0; c < W; c++)
		T(c, DUP);
	T(W, OK);
	T(0, OLD);
	T(1, DUP);

	/* first packet is not counter 0: everything below it is still new */
	rw__replay_init(&r);
	T(5000, OK);
	T(905, OK);		/* 5000 - 4095 */
	T(904, OLD);
	T(0, OLD);
	T(4999, OK);
}

/*
 * Jumps from a full window: after head moves from 4095 to 4095 + k, the
 * counters that left the window are too old, those still inside keep their
 * "seen" bit (a ring that cleared whole words would forget them), and the
 * ones the head passed over are new. Covers word boundaries and the jumps of
 * exactly 4095, 4096 and 4097.
 */
static void test_jumps(void **state)
{
	(void)state;
	static const uint64_t jumps[] = { 1, 2, 63, 64, 65, 127, 128, 129, 1000, 4031, 4032, 4033, 4094, 4095,
					   4096, 4097, 8191, 8192, 100000 };

	for (size_t j = 0; j < sizeof(jumps) / sizeof(jumps[0]); j++) {
		for (uint64_t base = 0; base < 200; base += 37) {
			struct rw_replay r;
			uint64_t k = jumps[j], head = base + W - 1, nh = head + k;

			rw__replay_init(&r);
			for (uint64_t c = base; c <= head; c++)
				T(c, OK);
			T(nh, OK);
			for (uint64_t c = nh >= 2 * W ? nh - 2 * W : 0; c <= nh + 3; c++) {
				int want;
				if (c == nh || (c + (W - 1) >= nh && c >= base && c <= head))
					want = DUP;
				else if (c + (W - 1) < nh)
					want = OLD;
				else
					want = OK;
				assert_int_equal(rw__replay_classify(&r, c), want);
			}
		}
	}
}

/* ---- against a naive model ---------------------------------------------- */

struct model {
	uint64_t base;		/* counters are base + [0, SPAN) */
	bool any;
	uint64_t head;
	uint8_t *seen;
};

enum { SPAN = 1 << 24 };

static int model_verdict(const struct model *m, uint64_t c)
{
	if (c >= L)
		return LIM;
	if (!m->any || c > m->head)
		return OK;
	if (m->head - c >= W)
		return OLD;
	return m->seen[c - m->base] ? DUP : OK;
}

static uint64_t rng = 0x853c49e6748fea9b;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void run_model(uint64_t base, uint64_t span)
{
	struct model m = { .base = base, .seen = calloc(span, 1) };
	struct rw_replay r;
	uint64_t cur = 0, ok = 0, dup = 0, old = 0;

	assert_non_null(m.seen);
	rw__replay_init(&r);
	for (int i = 0; i < 400000; i++) {
		uint64_t off;

		uint64_t pick = rnd() % 1000;

		if (pick < 2)		/* jump about a window or more, onto its edges */
			off = cur + W * (1 + rnd() % 3) + rnd() % 5 - 2;
		else if (pick < 5)	/* jump onto a word boundary */
			off = cur + 64 * (rnd() % 70);
		else if (pick < 60)	/* around the window's trailing edge */
			off = cur > W + 2 ? cur - W - 2 + rnd() % 5 : rnd() % 5;
		else if (pick < 200)	/* replay something recent */
			off = cur > 100 ? cur - rnd() % 100 : cur;
		else {			/* mostly forward, some reordering */
			off = cur + rnd() % 8 - 3;
			if (off > cur + 4)	/* wrapped below 0 */
				off = 0;
		}
		if (off >= span)
			break;
		uint64_t c = base + off;
		int want = model_verdict(&m, c);
		enum rw_replay_verdict v = rw__replay_classify(&r, c);
		if ((int)v != want)
			fail_msg("step %d: counter base+%llu: got %s want %s", i, (unsigned long long)off,
				 rw__replay_verdict_str(v), rw__replay_verdict_str((enum rw_replay_verdict)want));
		/* one accepted packet in 16 fails its AEAD: checked, never recorded */
		if (want == OK && rnd() % 16 == 0)
			continue;
		assert_int_equal(rw__replay_update(&r, c), want);
		if (want == OK) {
			m.seen[off] = 1;
			if (!m.any || c > m.head)
				m.head = c;
			m.any = true;
			if (off > cur)
				cur = off;
			ok++;
		}
		dup += want == DUP;
		old += want == OLD;
	}
	/* the walk exercised every outcome */
	assert_true(ok > 1000);
	assert_true(dup > 1000);
	assert_true(old > 100);
	free(m.seen);
}

static void test_model(void **state)
{
	(void)state;
	run_model(0, SPAN);
	run_model(UINT64_C(1) << 60, SPAN);
	/* up to the limit: the last counters are UINT64_MAX - SPAN .. UINT64_MAX - 1 */
	run_model(UINT64_MAX - SPAN, SPAN);
}

static void test_limit(void **state)
{
	(void)state;
	struct rw_replay r;

	rw__replay_init(&r);
	T(UINT64_MAX, LIM);
	T(UINT64_MAX - 1, OK);
	T(UINT64_MAX, LIM);
	T(0, OLD);
	assert_true(L == UINT64_MAX);
	assert_true(RW_REKEY_AFTER_MESSAGES < L);
}

static void test_verdict_str(void **state)
{
	(void)state;
	for (int i = 0; i < RW_REPLAY_VERDICT_COUNT; i++) {
		const char *s = rw__replay_verdict_str((enum rw_replay_verdict)i);
		assert_non_null(s);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, rw__replay_verdict_str((enum rw_replay_verdict)j));
	}
	assert_string_equal(rw__replay_verdict_str(RW_REPLAY_VERDICT_COUNT), "unknown replay verdict");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_descending),
		cmocka_unit_test(test_jumps),
		cmocka_unit_test(test_model),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_verdict_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
