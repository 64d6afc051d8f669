/* SPDX-License-Identifier: MIT */
/* test_packet.c - every type at every size around its limits, header fields, sealing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "packet.h"

enum { MAX = 1232 };

static void test_sizes_per_type(void **state)
{
	static const struct {
		uint8_t type;
		size_t len;
		enum rw_drop_reason want;
	} cases[] = {
		{ 1, 148, RW_DROP_NONE }, { 1, 147, RW_DROP_BAD_SIZE }, { 1, 149, RW_DROP_BAD_SIZE },
		{ 1, 1, RW_DROP_BAD_SIZE }, { 1, 92, RW_DROP_BAD_SIZE },
		{ 2, 92, RW_DROP_NONE }, { 2, 91, RW_DROP_BAD_SIZE }, { 2, 93, RW_DROP_BAD_SIZE },
		{ 2, 148, RW_DROP_BAD_SIZE },
		{ 3, 64, RW_DROP_NONE }, { 3, 63, RW_DROP_BAD_SIZE }, { 3, 65, RW_DROP_BAD_SIZE },
		{ 4, 33, RW_DROP_NONE }, { 4, 32, RW_DROP_BAD_SIZE }, { 4, 16, RW_DROP_BAD_SIZE },
		{ 4, 1, RW_DROP_BAD_SIZE }, { 4, MAX, RW_DROP_NONE }, { 4, MAX + 1, RW_DROP_BAD_SIZE },
		{ 5, 32, RW_DROP_NONE }, { 5, 31, RW_DROP_BAD_SIZE }, { 5, 33, RW_DROP_BAD_SIZE },
		{ 6, 32, RW_DROP_NONE }, { 6, 31, RW_DROP_BAD_SIZE }, { 6, 33, RW_DROP_BAD_SIZE },
		{ 6, 1, RW_DROP_BAD_SIZE },
		{ 7, 41, RW_DROP_NONE }, { 7, 40, RW_DROP_BAD_SIZE }, { 7, 32, RW_DROP_BAD_SIZE },
		{ 7, MAX, RW_DROP_NONE }, { 7, MAX + 1, RW_DROP_BAD_SIZE },
		{ 0, 148, RW_DROP_UNKNOWN_TYPE }, { 8, 32, RW_DROP_UNKNOWN_TYPE },
		{ 0xff, 33, RW_DROP_UNKNOWN_TYPE }, { 0x41, 100, RW_DROP_UNKNOWN_TYPE },
	};
	static uint8_t buf[MAX + 1];
	struct rw_packet p;
	enum rw_drop_reason why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf[0] = cases[i].type;
		int ret = rw__packet_decode(&p, buf, cases[i].len, MAX, &why);
		assert_int_equal(why, cases[i].want);
		assert_int_equal(ret, cases[i].want == RW_DROP_NONE ? 0 : -EINVAL);
	}
	assert_int_equal(rw__packet_decode(&p, buf, 0, MAX, &why), -EINVAL);
	assert_int_equal(why, RW_DROP_EMPTY);
}

/* Exhaustive: for every type byte and length up to MAX, only the allowed ones pass. */
static void test_exhaustive_small(void **state)
{
	static uint8_t buf[MAX + 1];
	struct rw_packet p;
	enum rw_drop_reason why;
	unsigned ok = 0;

	for (unsigned t = 0; t < 256; t++) {
		buf[0] = (uint8_t)t;
		for (size_t len = 1; len <= MAX + 1; len++) {
			if (rw__packet_decode(&p, buf, len, MAX, &why) == 0) {
				ok++;
				assert_true(t >= 1 && t <= 7);
			} else {
				assert_true(why == RW_DROP_BAD_SIZE || why == RW_DROP_UNKNOWN_TYPE);
			}
		}
	}
	/* 1+1+1 exact sizes, 2 exact for 5/6, then ranges for 4 and 7 */
	assert_int_equal(ok, 3 + 2 + (MAX - 33 + 1) + (MAX - 41 + 1));
}

static void test_header_fields(void **state)
{
	uint8_t b[148] = { 0 };
	struct rw_packet p;
	enum rw_drop_reason why;

	b[0] = 1;
	memcpy(b + 4, "\x44\x33\x22\x11", 4);
	assert_int_equal(rw__packet_decode(&p, b, 148, MAX, &why), 0);
	assert_int_equal(p.sender_index, 0x11223344);

	memset(b, 0, sizeof(b));
	b[0] = 2;
	memcpy(b + 4, "\x88\x77\x66\x55\x44\x33\x22\x11", 8);
	assert_int_equal(rw__packet_decode(&p, b, 92, MAX, &why), 0);
	assert_int_equal(p.sender_index, 0x55667788);
	assert_int_equal(p.receiver_index, 0x11223344);

	memset(b, 0, sizeof(b));
	b[0] = 3;
	memcpy(b + 4, "\x01\x02\x03\x04", 4);
	assert_int_equal(rw__packet_decode(&p, b, 64, MAX, &why), 0);
	assert_int_equal(p.receiver_index, 0x04030201);

	rw__packet_put_header(b, RW_MSG_DATA, 0xdeadbeef, UINT64_C(0x0102030405060708));
	assert_int_equal(rw__packet_decode(&p, b, 50, MAX, &why), 0);
	assert_int_equal(p.receiver_index, 0xdeadbeef);
	assert_int_equal(p.counter, UINT64_C(0x0102030405060708));
	assert_ptr_equal(p.ciphertext, b + 16);
	assert_int_equal(p.ciphertext_len, 34);
	/* reserved bytes are ignored, as the reference does */
	b[1] = b[2] = b[3] = 0xff;
	assert_int_equal(rw__packet_decode(&p, b, 50, MAX, &why), 0);
}

static void test_seal_open(void **state)
{
	uint8_t key[32] = { 3 }, pkt[64], out[64];
	struct rw_aead tx, rx;
	struct rw_packet p;
	enum rw_drop_reason why;
	int n;

	assert_int_equal(rw__aead_init(&tx, key, 1), 0);
	assert_int_equal(rw__aead_init(&rx, key, 0), 0);
	memcpy(pkt + 16, "\x05\x0a\x01\x07", 4);
	n = rw__packet_seal(&tx, pkt, RW_MSG_DATA, 9, 77, 4);
	assert_int_equal(n, 16 + 4 + 16);
	assert_int_equal(rw__packet_decode(&p, pkt, (size_t)n, MAX, &why), 0);
	assert_int_equal(rw__packet_open(&rx, &p, out), 4);
	assert_memory_equal(out, "\x05\x0a\x01\x07", 4);
	/* the counter in the header is the nonce: change it and the packet fails */
	rw__packet_put_header(pkt, RW_MSG_DATA, 9, 78);
	assert_int_equal(rw__packet_decode(&p, pkt, (size_t)n, MAX, &why), 0);
	assert_int_equal(rw__packet_open(&rx, &p, out), -EBADMSG);
	/* keepalive and disconnect: empty plaintext, 32 bytes */
	assert_int_equal(rw__packet_seal(&tx, pkt, RW_MSG_KEEPALIVE, 9, 1, 0), 32);
	assert_int_equal(rw__packet_decode(&p, pkt, 32, MAX, &why), 0);
	assert_int_equal(rw__packet_open(&rx, &p, out), 0);
	rw__aead_free(&tx);
	rw__aead_free(&rx);
}

static void test_reason_names(void **state)
{
	for (int r = 0; r < RW_DROP__COUNT; r++) {
		const char *n = rw_drop_reason_name((enum rw_drop_reason)r);
		assert_non_null(n);
		assert_string_not_equal(n, "invalid");
		for (int q = 0; q < r; q++)
			assert_string_not_equal(n, rw_drop_reason_name((enum rw_drop_reason)q));
	}
	assert_string_equal(rw_drop_reason_name(RW_DROP__COUNT), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes_per_type),
		cmocka_unit_test(test_exhaustive_small),
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_seal_open),
		cmocka_unit_test(test_reason_names),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	rw__crypto_thread_release();
	return ret;
}
