/* SPDX-License-Identifier: MIT */
/*
 * test_bech32.c - BIP-173 test vectors and the wpub key format.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bech32.h"
#include "crypto.h"

/* BIP-173 "Test vectors": valid bech32 strings. */
static const char *const valid[] = {
	"A12UEL5L",
	"a12uel5l",
	"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
	"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
	"11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
	"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
	"?1ezyfcl",
};

/* BIP-173 invalid strings with the reason BIP-173 gives, and the phrase our decoder uses for it. */
static const struct {
	const char *s;
	const char *bip173_reason;
	const char *why;
} invalid[] = {
	{ "\x20" "1nwldj5", "HRP character out of range", "outside ASCII 33..126" },
	{ "\x7f" "1axkwrx", "HRP character out of range", "outside ASCII 33..126" },
	{ "\x80" "1eym55h", "HRP character out of range", "outside ASCII 33..126" },
	{ "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx",
	  "overall max length exceeded", "longer than 90" },
	{ "pzry9x0s0muk", "No separator character", "no '1' separator" },
	{ "1pzry9x0s0muk", "Empty HRP", "empty human-readable part" },
	{ "x1b4n0q5v", "Invalid data character", "never uses (1, b, i, o)" },
	{ "li1dgmt3", "Too short checksum", "too short" },
	{ "de1lg7wt" "\xff", "Invalid character in checksum", "outside ASCII 33..126" },
	{ "A1G7SGD8", "checksum calculated with uppercase form of HRP", "wrong checksum" },
	{ "10a06t8", "empty HRP", "empty human-readable part" },
	{ "1qzzfhee", "empty HRP", "empty human-readable part" },
	/* BIP-173 "Uppercase/lowercase": decoders must not accept mixed case. */
	{ "a12UEL5L", "mixed case", "mixes upper and lower case" },
	{ "A12uEL5L", "mixed case", "mixes upper and lower case" },
	/* A checksum character outside the charset (not a BIP vector). */
	{ "a12uel5b", "invalid character in checksum", "in its checksum" },
};

/* BIP-350 valid bech32m strings: a bech32 decoder must reject them. */
static const char *const bech32m[] = {
	"A1LQFN3A",
	"a1lqfn3a",
	"abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
	"split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
	"?1v759aa",
};

static void lowercase(char *dst, const char *src)
{
	for (; *src; src++, dst++)
		*dst = (*src >= 'A' && *src <= 'Z') ? (char)(*src - 'A' + 'a') : *src;
	*dst = '\0';
}

static void test_valid_vectors(void **state)
{
	char hrp[RW_BECH32_HRP_MAX + 1], out[RW_BECH32_MAX_LEN + 1], low[RW_BECH32_MAX_LEN + 1];
	uint8_t data[RW_BECH32_DATA_MAX];
	const char *why;
	size_t i, n;

	(void)state;
	assert_int_equal(strlen(valid[2]), 90);
	assert_int_equal(strlen(valid[4]), 90);
	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		why = "unset";
		n = 999;
		assert_int_equal(rw__bech32_decode(hrp, sizeof(hrp), data, sizeof(data), &n, valid[i], strlen(valid[i]),
						   &why), 0);
		assert_null(why);
		assert_int_equal(n, strlen(valid[i]) - strlen(hrp) - 1 - 6);
		/* Re-encoding gives the lower-case form back. */
		assert_int_equal(rw__bech32_encode(out, sizeof(out), hrp, data, n), 0);
		lowercase(low, valid[i]);
		assert_string_equal(out, low);
	}
	/* The hrp comes back in lower case, the data as decoded. */
	assert_int_equal(rw__bech32_decode(hrp, sizeof(hrp), data, sizeof(data), &n, "A12UEL5L", 8, NULL), 0);
	assert_string_equal(hrp, "a");
	assert_int_equal(n, 0);
	assert_int_equal(rw__bech32_decode(hrp, sizeof(hrp), data, sizeof(data), &n, valid[3], strlen(valid[3]),
					   NULL), 0);
	assert_string_equal(hrp, "abcdef");
	assert_int_equal(n, 32);
	for (i = 0; i < 32; i++)
		assert_int_equal(data[i], i);
}

static void test_invalid_vectors(void **state)
{
	char hrp[RW_BECH32_HRP_MAX + 1];
	uint8_t data[RW_BECH32_DATA_MAX];
	const char *why;
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		why = NULL;
		print_message("  invalid: %s\n", invalid[i].bip173_reason);
		assert_int_equal(rw__bech32_decode(hrp, sizeof(hrp), data, sizeof(data), &n, invalid[i].s,
						   strlen(invalid[i].s), &why), -EINVAL);
		assert_non_null(why);
		if (!strstr(why, invalid[i].why))
			fail_msg("vector %zu (%s): why \"%s\" lacks \"%s\"", i, invalid[i].bip173_reason, why,
				 invalid[i].why);
	}
	for (i = 0; i < sizeof(bech32m) / sizeof(bech32m[0]); i++) {
		why = NULL;
		assert_int_equal(rw__bech32_decode(hrp, sizeof(hrp), data, sizeof(data), &n, bech32m[i],
						   strlen(bech32m[i]), &why), -EINVAL);
		assert_non_null(why);
		assert_non_null(strstr(why, "bech32m"));
	}
	/* An embedded NUL is out of range too, not an end of string. */
	assert_int_equal(rw__bech32_decode(hrp, sizeof(hrp), data, sizeof(data), &n, "a12uel5l\0", 9, &why),
			 -EINVAL);
	/* Buffers too small for what the string holds. */
	assert_int_equal(rw__bech32_decode(hrp, 6, data, sizeof(data), &n, valid[3], strlen(valid[3]), NULL),
			 -ENOSPC);
	assert_int_equal(rw__bech32_decode(hrp, sizeof(hrp), data, 31, &n, valid[3], strlen(valid[3]), NULL),
			 -ENOSPC);
}

static void test_encode_rules(void **state)
{
	uint8_t data[RW_BECH32_DATA_MAX] = { 0 };
	char out[RW_BECH32_MAX_LEN + 1];

	(void)state;
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "a", NULL, 0), 0);
	assert_string_equal(out, "a12uel5l");
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "", data, 1), -EINVAL);
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "A", data, 1), -EINVAL);
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "a b", data, 1), -EINVAL);
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "a\x7f", data, 1), -EINVAL);
	data[0] = 32;
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "a", data, 1), -EINVAL);
	data[0] = 0;
	/* 90 characters is the limit: hrp 1 + '1' + 82 + 6. */
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "1", data, 82), 0);
	assert_string_equal(out, valid[4]);
	assert_int_equal(rw__bech32_encode(out, sizeof(out), "12", data, 82), -EINVAL);
	assert_int_equal(rw__bech32_encode(out, 90, "1", data, 82), -ENOSPC);
}

static void test_convert_bits(void **state)
{
	const uint8_t in8[] = { 0xff };
	uint8_t out[16];
	uint8_t five[2];
	size_t n;

	(void)state;
	/* 8 bits -> two 5-bit groups, the second zero-padded: 11111 11100. */
	assert_int_equal(rw__bech32_convert_bits(out, sizeof(out), &n, 5, in8, 1, 8, 1), 0);
	assert_int_equal(n, 2);
	assert_int_equal(out[0], 31);
	assert_int_equal(out[1], 28);
	/* And back, the 2 padding bits being zero. */
	assert_int_equal(rw__bech32_convert_bits(out, sizeof(out), &n, 8, (uint8_t[]){ 31, 28 }, 2, 5, 0), 0);
	assert_int_equal(n, 1);
	assert_int_equal(out[0], 0xff);
	/* Non-zero padding bits are refused. */
	five[0] = 31;
	five[1] = 29;
	assert_int_equal(rw__bech32_convert_bits(out, sizeof(out), &n, 8, five, 2, 5, 0), -EINVAL);
	/* A whole spare group (5 bits or more left over) is refused. */
	assert_int_equal(rw__bech32_convert_bits(out, sizeof(out), &n, 8, (uint8_t[]){ 31, 28, 0 }, 3, 5, 0),
			 -EINVAL);
	/* Values wider than frombits. */
	assert_int_equal(rw__bech32_convert_bits(out, sizeof(out), &n, 8, (uint8_t[]){ 32 }, 1, 5, 0), -EINVAL);
	/* Too small an output. */
	assert_int_equal(rw__bech32_convert_bits(out, 1, &n, 5, in8, 1, 8, 1), -ENOSPC);
}

/* Known answers computed with BIP-173's Python reference code. */
static void test_wpub_known(void **state)
{
	uint8_t key[RW_KEY_LEN], back[RW_KEY_LEN];
	char w[RW_WPUB_LEN + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	assert_int_equal(rw__wpub_encode(w, key), 0);
	assert_string_equal(w, "wpub1qqqsyqcyq5rqwzqfpg9scrgwpugpzysnzs23v9ccrydpk8qarc0s2xkj3u");
	assert_int_equal(rw__wpub_decode(back, w, strlen(w), NULL), 0);
	assert_memory_equal(back, key, sizeof(key));
	memset(key, 0xff, sizeof(key));
	assert_int_equal(rw__wpub_encode(w, key), 0);
	assert_string_equal(w, "wpub1lllllllllllllllllllllllllllllllllllllllllllllllllllspv7pcj");
}

static void test_wpub_roundtrip(void **state)
{
	uint8_t key[RW_KEY_LEN], back[RW_KEY_LEN];
	char w[RW_WPUB_LEN + 1], up[RW_WPUB_LEN + 1];
	const char *why;
	int i, j;

	(void)state;
	for (i = 0; i < 200; i++) {
		assert_int_equal(rw__random(key, sizeof(key)), 0);
		memset(w, 'x', sizeof(w));
		assert_int_equal(rw__wpub_encode(w, key), 0);
		assert_int_equal(strlen(w), RW_WPUB_LEN);
		assert_memory_equal(w, "wpub1", 5);
		why = "unset";
		memset(back, 0, sizeof(back));
		assert_int_equal(rw__wpub_decode(back, w, strlen(w), &why), 0);
		assert_memory_equal(back, key, sizeof(key));
		/* All upper case is the same key (BIP-173 allows it, e.g. for QR codes). */
		for (j = 0; w[j]; j++)
			up[j] = (w[j] >= 'a' && w[j] <= 'z') ? (char)(w[j] - 'a' + 'A') : w[j];
		up[j] = '\0';
		memset(back, 0, sizeof(back));
		assert_int_equal(rw__wpub_decode(back, up, strlen(up), NULL), 0);
		assert_memory_equal(back, key, sizeof(key));
	}
}

static void test_wpub_errors(void **state)
{
	static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
	uint8_t key[RW_KEY_LEN], back[RW_KEY_LEN], five[RW_WPUB_DATA_LEN];
	char w[RW_WPUB_LEN + 1], bad[RW_BECH32_MAX_LEN + 2];
	const char *why;
	size_t i, n;
	int k;

	(void)state;
	assert_int_equal(rw__random(key, sizeof(key)), 0);
	assert_int_equal(rw__wpub_encode(w, key), 0);

	/* Every single-character substitution is caught (bech32 guarantees it). */
	for (i = 0; i < RW_WPUB_LEN; i++) {
		for (k = 0; k < 32; k++) {
			if (cs[k] == w[i] || (i < 5))
				continue;
			memcpy(bad, w, sizeof(w));
			bad[i] = cs[k];
			why = NULL;
			assert_int_equal(rw__wpub_decode(back, bad, RW_WPUB_LEN, &why), -EINVAL);
			assert_non_null(why);
			assert_non_null(strstr(why, "checksum"));
		}
	}
	/* Swapped adjacent characters. */
	for (i = 5; i + 1 < RW_WPUB_LEN; i++) {
		if (w[i] == w[i + 1])
			continue;
		memcpy(bad, w, sizeof(w));
		bad[i] = w[i + 1];
		bad[i + 1] = w[i];
		assert_int_equal(rw__wpub_decode(back, bad, RW_WPUB_LEN, NULL), -EINVAL);
	}

	/* Truncated by one or many, and one too many. */
	why = NULL;
	assert_int_equal(rw__wpub_decode(back, w, RW_WPUB_LEN - 1, &why), -EINVAL);
	assert_non_null(strstr(why, "too short"));
	assert_int_equal(rw__wpub_decode(back, w, 20, &why), -EINVAL);
	assert_non_null(strstr(why, "too short"));
	snprintf(bad, sizeof(bad), "%sq", w);
	assert_int_equal(rw__wpub_decode(back, bad, strlen(bad), &why), -EINVAL);
	assert_non_null(strstr(why, "too long"));
	/* A middle character dropped. */
	memcpy(bad, w, 30);
	memcpy(bad + 30, w + 31, RW_WPUB_LEN - 31 + 1);
	assert_int_equal(rw__wpub_decode(back, bad, strlen(bad), &why), -EINVAL);

	/* The same data under another hrp: a valid bech32 string, not a wpub. */
	assert_int_equal(rw__bech32_convert_bits(five, sizeof(five), &n, 5, key, sizeof(key), 8, 1), 0);
	assert_int_equal(n, RW_WPUB_DATA_LEN);
	assert_int_equal(rw__bech32_encode(bad, sizeof(bad), "wpuc", five, n), 0);
	why = NULL;
	assert_int_equal(rw__wpub_decode(back, bad, strlen(bad), &why), -EINVAL);
	assert_non_null(strstr(why, "wpub1"));
	assert_int_equal(rw__bech32_encode(bad, sizeof(bad), "age", five, n), 0);
	assert_int_equal(rw__wpub_decode(back, bad, strlen(bad), &why), -EINVAL);
	assert_non_null(strstr(why, "wpub1"));

	/* Right hrp, wrong amount of data (31 bytes). */
	assert_int_equal(rw__bech32_convert_bits(five, sizeof(five), &n, 5, key, 31, 8, 1), 0);
	assert_int_equal(rw__bech32_encode(bad, sizeof(bad), "wpub", five, n), 0);
	assert_int_equal(rw__wpub_decode(back, bad, strlen(bad), &why), -EINVAL);

	/* Right length and checksum, but non-zero padding bits in the last group. */
	assert_int_equal(rw__bech32_convert_bits(five, sizeof(five), &n, 5, key, sizeof(key), 8, 1), 0);
	five[RW_WPUB_DATA_LEN - 1] |= 1;
	assert_int_equal(rw__bech32_encode(bad, sizeof(bad), "wpub", five, n), 0);
	assert_int_equal(strlen(bad), RW_WPUB_LEN);
	why = NULL;
	assert_int_equal(rw__wpub_decode(back, bad, strlen(bad), &why), -EINVAL);
	assert_non_null(strstr(why, "padding"));

	/* Mixed case. */
	memcpy(bad, w, sizeof(w));
	bad[0] = 'W';
	assert_int_equal(rw__wpub_decode(back, bad, RW_WPUB_LEN, &why), -EINVAL);
	assert_non_null(strstr(why, "case"));
}

/* BIP-350 polymod, written out here so the test does not trust bech32.c. */
static uint32_t ref_polymod(const uint8_t *v, size_t n)
{
	static const uint32_t gen[5] = { 0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3 };
	uint32_t chk = 1, b;
	size_t i;
	int j;

	for (i = 0; i < n; i++) {
		b = chk >> 25;
		chk = ((chk & 0x1ffffff) << 5) ^ v[i];
		for (j = 0; j < 5; j++)
			if ((b >> j) & 1)
				chk ^= gen[j];
	}
	return chk;
}

static void test_wpub_bech32m_rejected(void **state)
{
	static const char cs[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
	uint8_t key[RW_KEY_LEN], back[RW_KEY_LEN], five[RW_WPUB_DATA_LEN];
	uint8_t v[4 * 2 + 1 + RW_WPUB_DATA_LEN + 6];
	char s[RW_WPUB_LEN + 1];
	const char *why = NULL;
	size_t n, i, m = 0;
	uint32_t pm;

	(void)state;
	assert_int_equal(rw__random(key, sizeof(key)), 0);
	assert_int_equal(rw__bech32_convert_bits(five, sizeof(five), &n, 5, key, sizeof(key), 8, 1), 0);
	for (i = 0; i < 4; i++)
		v[m++] = (uint8_t)("wpub"[i] >> 5);
	v[m++] = 0;
	for (i = 0; i < 4; i++)
		v[m++] = (uint8_t)("wpub"[i] & 31);
	memcpy(v + m, five, n);
	m += n;
	memset(v + m, 0, 6);
	m += 6;
	pm = ref_polymod(v, m) ^ 0x2bc830a3;	/* bech32m constant */

	memcpy(s, "wpub1", 5);
	for (i = 0; i < n; i++)
		s[5 + i] = cs[five[i]];
	for (i = 0; i < 6; i++)
		s[5 + n + i] = cs[(pm >> (5 * (5 - i))) & 31];
	s[RW_WPUB_LEN] = '\0';
	assert_int_equal(rw__wpub_decode(back, s, RW_WPUB_LEN, &why), -EINVAL);
	assert_non_null(why);
	assert_non_null(strstr(why, "bech32m"));

	/* The same string with the bech32 constant is accepted: the test is sound. */
	pm ^= 0x2bc830a3 ^ 1;
	for (i = 0; i < 6; i++)
		s[5 + n + i] = cs[(pm >> (5 * (5 - i))) & 31];
	assert_int_equal(rw__wpub_decode(back, s, RW_WPUB_LEN, NULL), 0);
	assert_memory_equal(back, key, sizeof(key));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_vectors),
		cmocka_unit_test(test_invalid_vectors),
		cmocka_unit_test(test_encode_rules),
		cmocka_unit_test(test_convert_bits),
		cmocka_unit_test(test_wpub_known),
		cmocka_unit_test(test_wpub_roundtrip),
		cmocka_unit_test(test_wpub_errors),
		cmocka_unit_test(test_wpub_bech32m_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
