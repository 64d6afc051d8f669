/* SPDX-License-Identifier: MIT */
/* test_tai64n.c - timestamp encoding, the ±180 s rule and the per-key greatest-timestamp rule. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "tai64n.h"

static const uint64_t NOW = 1767225600;

static void test_encode_decode(void **state)
{
	uint8_t ts[12];
	uint64_t s;
	uint32_t ns;

	rw__tai64n_encode(ts, NOW, 123456789);
	assert_memory_equal(ts, "\x40\x00\x00\x00\x69\x55\xb9\x00\x07\x5b\xcd\x15", 12);
	assert_int_equal(rw__tai64n_decode(ts, &s, &ns), 0);
	assert_int_equal(s, NOW);
	assert_int_equal(ns, 123456789);
	ts[8] = 0xff;	/* ns >= 1e9 */
	assert_int_equal(rw__tai64n_decode(ts, &s, &ns), -EINVAL);
	memset(ts, 0, 12);	/* before the TAI epoch */
	assert_int_equal(rw__tai64n_decode(ts, &s, &ns), -EINVAL);
	rw__tai64n_now(ts);
	assert_int_equal(rw__tai64n_decode(ts, &s, &ns), 0);
	assert_true(s + 5 > (uint64_t)time(NULL) && s < (uint64_t)time(NULL) + 5);
}

static void test_skew(void **state)
{
	static const struct {
		int64_t delta;
		int want;
	} cases[] = {
		{ 0, 0 }, { 179, 0 }, { -179, 0 }, { 180, 0 }, { -180, 0 },
		{ 181, -ERANGE }, { -181, -ERANGE }, { 100000, -ERANGE }, { -100000, -ERANGE },
	};
	uint8_t ts[12];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		rw__tai64n_encode(ts, (uint64_t)((int64_t)NOW + cases[i].delta), 0);
		assert_int_equal(rw__tai64n_check_skew(ts, NOW, 180), cases[i].want);
	}
	memset(ts, 0, 12);
	assert_int_equal(rw__tai64n_check_skew(ts, NOW, 180), -EINVAL);
}

static void key_n(uint8_t key[32], uint32_t n)
{
	memset(key, 0, 32);
	key[0] = (uint8_t)n;
	key[1] = (uint8_t)(n >> 8);
	key[5] = (uint8_t)(n >> 16);
	key[31] = 0x42;
}

static void test_greatest_timestamp_per_key(void **state)
{
	struct rw_tsguard g;
	uint8_t a[32], b[32], t1[12], t2[12], t0[12];

	assert_int_equal(rw__tsguard_init(&g, 64), 0);
	key_n(a, 1);
	key_n(b, 2);
	rw__tai64n_encode(t0, NOW - 1, 0);
	rw__tai64n_encode(t1, NOW, 5);
	rw__tai64n_encode(t2, NOW, 6);
	assert_int_equal(rw__tsguard_accept(&g, a, t1, NOW), 0);
	assert_int_equal(rw__tsguard_accept(&g, a, t1, NOW), -EALREADY);	/* replay */
	assert_int_equal(rw__tsguard_accept(&g, a, t0, NOW), -EALREADY);	/* older */
	assert_int_equal(rw__tsguard_accept(&g, b, t0, NOW), 0);		/* keys are independent */
	assert_int_equal(rw__tsguard_accept(&g, a, t2, NOW), 0);		/* newer by 1 ns */
	assert_int_equal(rw__tsguard_accept(&g, a, t1, NOW), -EALREADY);
	assert_int_equal(g.count, 2);
	rw__tsguard_destroy(&g);
}

/* check gives accept's verdict and records nothing: an unanswered init stays fresh */
static void test_check_records_nothing(void **state)
{
	struct rw_tsguard g;
	uint8_t a[32], t1[12], t2[12];

	(void)state;
	assert_int_equal(rw__tsguard_init(&g, 64), 0);
	key_n(a, 7);
	rw__tai64n_encode(t1, NOW, 5);
	rw__tai64n_encode(t2, NOW, 6);
	assert_int_equal(rw__tsguard_check(&g, a, t1, NOW), 0);
	assert_int_equal(rw__tsguard_check(&g, a, t1, NOW), 0);	/* still fresh */
	assert_int_equal(g.count, 0);
	assert_int_equal(rw__tsguard_accept(&g, a, t2, NOW), 0);
	assert_int_equal(rw__tsguard_check(&g, a, t1, NOW), -EALREADY);
	assert_int_equal(rw__tsguard_check(&g, a, t2, NOW), -EALREADY);
	assert_int_equal(g.count, 1);
	rw__tsguard_destroy(&g);
}

static void test_bounded_with_floor(void **state)
{
	struct rw_tsguard g;
	uint8_t key[32], ts[12], first_ts[12];

	assert_int_equal(rw__tsguard_init(&g, 16), 0);
	/* many more keys than slots: memory stays fixed, evictions raise the floor */
	for (uint32_t i = 0; i < 1000; i++) {
		key_n(key, i);
		rw__tai64n_encode(ts, NOW, i + 1);
		if (i == 0)
			memcpy(first_ts, ts, 12);
		assert_int_equal(rw__tsguard_accept(&g, key, ts, NOW), 0);
	}
	assert_true(g.count <= 16);
	assert_true(g.evictions >= 1000 - 16);
	/* an evicted key replaying its old init is still refused: it is below the floor */
	key_n(key, 0);
	assert_int_equal(rw__tsguard_accept(&g, key, first_ts, NOW), -EALREADY);
	/* a genuinely new init from it is accepted */
	rw__tai64n_encode(ts, NOW + 1, 0);
	assert_int_equal(rw__tsguard_accept(&g, key, ts, NOW), 0);
	rw__tsguard_destroy(&g);
}

static void test_expired_entries_forgotten(void **state)
{
	struct rw_tsguard g;
	uint8_t key[32], ts[12];

	assert_int_equal(rw__tsguard_init(&g, 16), 0);
	for (uint32_t i = 0; i < 16; i++) {
		key_n(key, i);
		rw__tai64n_encode(ts, NOW, 1);
		assert_int_equal(rw__tsguard_accept(&g, key, ts, NOW), 0);
	}
	/* ten minutes later the old entries are useless (skew check) and make room without eviction */
	for (uint32_t i = 100; i < 116; i++) {
		key_n(key, i);
		rw__tai64n_encode(ts, NOW + 600, 1);
		assert_int_equal(rw__tsguard_accept(&g, key, ts, NOW + 600), 0);
	}
	assert_int_equal(g.evictions, 0);
	rw__tsguard_destroy(&g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_decode),
		cmocka_unit_test(test_skew),
		cmocka_unit_test(test_greatest_timestamp_per_key),
		cmocka_unit_test(test_check_records_nothing),
		cmocka_unit_test(test_bounded_with_floor),
		cmocka_unit_test(test_expired_entries_forgotten),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
