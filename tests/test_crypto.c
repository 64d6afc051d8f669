/* SPDX-License-Identifier: MIT */
/* test_crypto.c - primitives: AEAD (transport and one-shot), XChaCha, X25519 edge cases, KDF, self-test. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "ringwire.h"

static void hex(uint8_t *out, const char *s)
{
	for (size_t i = 0; s[2 * i]; i++) {
		unsigned v;
		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void test_selftest_passes(void **state)
{
	char err[RW_ERRBUF_SIZE] = "";

	assert_int_equal(rw_selftest(err, sizeof(err)), 0);
	assert_string_equal(err, "");
	/* cached: a second call gives the same answer */
	assert_int_equal(rw_selftest(NULL, 0), 0);
}

static void test_hchacha20_vector(void **state)
{
	uint8_t key[32], nonce[16], want[32], got[32];

	for (int i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	hex(nonce, "000000090000004a0000000031415927");
	hex(want, "82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc");
	rw__hchacha20(got, key, nonce);
	assert_memory_equal(got, want, 32);
}

static void test_xaead_round_trip_and_tamper(void **state)
{
	uint8_t key[32], nonce[24], msg[16] = "sixteen byte msg", ct[32], pt[16];

	assert_int_equal(rw__random(key, 32), 0);
	assert_int_equal(rw__random(nonce, 24), 0);
	assert_int_equal(rw__xaead_seal(key, nonce, msg, 16, ct), 0);
	assert_int_equal(rw__xaead_open(key, nonce, ct, 32, pt), 0);
	assert_memory_equal(pt, msg, 16);
	for (size_t i = 0; i < sizeof(ct); i++) {
		ct[i] ^= 0x80;
		assert_int_equal(rw__xaead_open(key, nonce, ct, 32, pt), -EBADMSG);
		ct[i] ^= 0x80;
	}
	nonce[0] ^= 1;	/* the HChaCha20 half of the nonce matters */
	assert_int_equal(rw__xaead_open(key, nonce, ct, 32, pt), -EBADMSG);
	nonce[0] ^= 1;
	nonce[23] ^= 1;	/* and so does the ChaCha20 half */
	assert_int_equal(rw__xaead_open(key, nonce, ct, 32, pt), -EBADMSG);
}

static void test_aead_contexts(void **state)
{
	struct rw_aead tx, rx;
	uint8_t key[32], buf[1300], orig[1300];

	assert_int_equal(rw__random(key, 32), 0);
	assert_int_equal(rw__aead_init(&tx, key, 1), 0);
	assert_int_equal(rw__aead_init(&rx, key, 0), 0);
	/* one context per key, many packets, in place, all lengths across block edges */
	for (size_t len = 0; len < 1280; len += 37) {
		for (size_t i = 0; i < len; i++)
			orig[i] = (uint8_t)(i * 7 + len);
		memcpy(buf, orig, len);
		assert_int_equal(rw__aead_seal(&tx, len, NULL, 0, buf, len, buf), 0);
		assert_int_equal(rw__aead_open(&rx, len, NULL, 0, buf, len + 16, buf), 0);
		assert_memory_equal(buf, orig, len);
	}
	/* wrong counter, tampered tag, tampered body, truncated */
	memcpy(buf, orig, 100);
	assert_int_equal(rw__aead_seal(&tx, 5, NULL, 0, buf, 100, buf), 0);
	assert_int_equal(rw__aead_open(&rx, 6, NULL, 0, buf, 116, orig), -EBADMSG);
	buf[110] ^= 1;
	assert_int_equal(rw__aead_open(&rx, 5, NULL, 0, buf, 116, orig), -EBADMSG);
	buf[110] ^= 1;
	buf[3] ^= 1;
	assert_int_equal(rw__aead_open(&rx, 5, NULL, 0, buf, 116, orig), -EBADMSG);
	buf[3] ^= 1;
	assert_int_equal(rw__aead_open(&rx, 5, NULL, 0, buf, 15, orig), -EBADMSG);
	assert_int_equal(rw__aead_open(&rx, 5, NULL, 0, buf, 116, orig), 0);
	/* a context is bound to its direction */
	assert_int_equal(rw__aead_open(&tx, 5, NULL, 0, buf, 116, orig), -EINVAL);
	assert_int_equal(rw__aead_seal(&rx, 5, NULL, 0, orig, 10, buf), -EINVAL);
	rw__aead_free(&tx);
	rw__aead_free(&rx);
}

static void test_aead_aad_is_bound(void **state)
{
	uint8_t key[32] = { 1 }, ct[26], pt[10];

	assert_int_equal(rw__aead_seal_key(key, 0, "hash-a", 6, (const uint8_t *)"0123456789", 10, ct), 0);
	assert_int_equal(rw__aead_open_key(key, 0, "hash-a", 6, ct, 26, pt), 0);
	assert_memory_equal(pt, "0123456789", 10);
	assert_int_equal(rw__aead_open_key(key, 0, "hash-b", 6, ct, 26, pt), -EBADMSG);
	assert_int_equal(rw__aead_open_key(key, 0, NULL, 0, ct, 26, pt), -EBADMSG);
	/* failed opens never leave plaintext behind */
	assert_true(rw__is_zero(pt, sizeof(pt)));
}

static void test_x25519_rejects_low_order(void **state)
{
	static const char *const bad[] = {
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		/* the same with the (ignored) top bit set */
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f11d7",
		"0000000000000000000000000000000000000000000000000000000000000080",
		"0100000000000000000000000000000000000000000000000000000000000080",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
	};
	uint8_t priv[32], pub[32], out[32];

	assert_int_equal(rw__x25519_generate(priv, pub), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		hex(pub, bad[i]);
		memset(out, 0xaa, 32);
		assert_int_equal(rw__x25519(out, priv, pub), -EINVAL);
		assert_true(rw__is_zero(out, 32));
	}
}

static void test_x25519_agreement(void **state)
{
	uint8_t a[32], A[32], b[32], B[32], s1[32], s2[32];

	assert_int_equal(rw__x25519_generate(a, A), 0);
	assert_int_equal(rw__x25519_generate(b, B), 0);
	assert_int_equal(a[0] & 7, 0);	/* clamped */
	assert_int_equal(a[31] & 0xc0, 0x40);
	assert_int_equal(rw__x25519(s1, a, B), 0);
	assert_int_equal(rw__x25519(s2, b, A), 0);
	assert_memory_equal(s1, s2, 32);
	assert_memory_not_equal(A, B, 32);
}

static void test_kdf_consistency(void **state)
{
	uint8_t ck[32] = { 9 }, a1[32], a2[32], b1[32], b2[32], b3[32], c1[32];

	assert_int_equal(rw__kdf(a1, a2, NULL, ck, "in", 2), 0);
	assert_int_equal(rw__kdf(b1, b2, b3, ck, "in", 2), 0);
	assert_int_equal(rw__kdf(c1, NULL, NULL, ck, "in", 2), 0);
	assert_memory_equal(a1, b1, 32);
	assert_memory_equal(a2, b2, 32);
	assert_memory_equal(c1, b1, 32);
	assert_memory_not_equal(b2, b3, 32);
	assert_int_equal(rw__kdf(c1, NULL, NULL, ck, "io", 2), 0);
	assert_memory_not_equal(c1, b1, 32);
}

static void test_mac_key_lengths(void **state)
{
	uint8_t key[33] = { 0 }, out[32];

	assert_int_equal(rw__mac(out, key, 0, "x", 1, NULL, 0), -EINVAL);
	assert_int_equal(rw__mac(out, key, 33, "x", 1, NULL, 0), -EINVAL);
	assert_int_equal(rw__mac(out, key, 16, "x", 1, NULL, 0), 0);
	/* two-part input equals the concatenation */
	uint8_t x[32], y[32];
	assert_int_equal(rw__mac(x, key, 32, "ab", 2, "cd", 2), 0);
	assert_int_equal(rw__mac(y, key, 32, "abcd", 4, NULL, 0), 0);
	assert_memory_equal(x, y, 32);
}

static void test_compare_and_wipe(void **state)
{
	uint8_t a[32], b[32];

	memset(a, 5, 32);
	memcpy(b, a, 32);
	assert_true(rw__memeq(a, b, 32));
	b[31] ^= 1;
	assert_false(rw__memeq(a, b, 32));
	rw__memzero(a, 32);
	assert_true(rw__is_zero(a, 32));
	assert_false(rw__is_zero(b, 32));
	assert_int_equal(rw__random(a, 32), 0);
	assert_int_equal(rw__random(b, 32), 0);
	assert_memory_not_equal(a, b, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selftest_passes),
		cmocka_unit_test(test_hchacha20_vector),
		cmocka_unit_test(test_xaead_round_trip_and_tamper),
		cmocka_unit_test(test_aead_contexts),
		cmocka_unit_test(test_aead_aad_is_bound),
		cmocka_unit_test(test_x25519_rejects_low_order),
		cmocka_unit_test(test_x25519_agreement),
		cmocka_unit_test(test_kdf_consistency),
		cmocka_unit_test(test_mac_key_lengths),
		cmocka_unit_test(test_compare_and_wipe),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	rw__crypto_thread_release();
	return ret;
}
