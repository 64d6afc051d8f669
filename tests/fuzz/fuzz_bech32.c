/* SPDX-License-Identifier: MIT */
/*
 * fuzz_bech32.c - the BIP-173 decoder, rw__wpub_decode and convert_bits.
 *
 * The input is the text, in a buffer of exactly its size (not terminated).
 * - rw__bech32_decode with ample buffers returns 0 or -EINVAL (with a
 *   reason); on success the text is not mixed-case, and encoding the hrp and
 *   data again gives the input in lower case (round trip).
 * - The same decode into buffers sized by the input's first byte, allocated
 *   to exactly that size, may say -ENOSPC but never writes past them.
 * - rw__wpub_decode: on success, rw__wpub_encode gives the input in lower
 *   case; on failure the reason is set.
 * - convert_bits 8 -> 5 (padded) -> 8 (strict) gives the bytes back.
 */
#include <errno.h>
#include <stdbool.h>

#include "bech32.h"
#include "fuzz.h"

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool equal_lower(const char *enc, const char *in, size_t n)
{
	if (strlen(enc) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (enc[i] != lower(in[i]))
			return false;
	return true;
}

static bool mixed_case(const char *in, size_t n)
{
	bool lo = false, up = false;

	for (size_t i = 0; i < n; i++) {
		lo |= in[i] >= 'a' && in[i] <= 'z';
		up |= in[i] >= 'A' && in[i] <= 'Z';
	}
	return lo && up;
}

static void generic(const char *in, size_t n)
{
	char hrp[RW_BECH32_HRP_MAX + 1], enc[RW_BECH32_MAX_LEN + 1];
	uint8_t five[RW_BECH32_DATA_MAX];
	const char *why = (const char *)1;
	size_t dlen = 0;
	int ret = rw__bech32_decode(hrp, sizeof(hrp), five, sizeof(five), &dlen, in, n, &why);

	if (ret) {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(why != NULL && why != (const char *)1 && why[0] != '\0');
		return;
	}
	FUZZ_CHECK(why == NULL);
	FUZZ_CHECK(!mixed_case(in, n));
	FUZZ_CHECK(dlen <= RW_BECH32_DATA_MAX);
	FUZZ_CHECK(strlen(hrp) >= 1 && strlen(hrp) <= RW_BECH32_HRP_MAX);
	FUZZ_CHECK(strlen(hrp) + 1 + dlen + RW_BECH32_CHECKSUM_LEN == n);
	for (size_t i = 0; i < dlen; i++)
		FUZZ_CHECK(five[i] < 32);
	FUZZ_CHECK(rw__bech32_encode(enc, sizeof(enc), hrp, five, dlen) == 0);
	FUZZ_CHECK(equal_lower(enc, in, n));
	/* and the exact size is enough, one less is not */
	FUZZ_CHECK(rw__bech32_encode(enc, n + 1, hrp, five, dlen) == 0);
	FUZZ_CHECK(rw__bech32_encode(enc, n, hrp, five, dlen) == -ENOSPC);
}

static void tight(const char *in, size_t n, uint8_t sel)
{
	size_t hcap = (size_t)(sel & 0x0f) * 6, dcap = (size_t)(sel >> 4) * 6, dlen = 0;
	char *hrp = malloc(hcap ? hcap : 1);
	uint8_t *five = malloc(dcap ? dcap : 1);
	int ret;

	FUZZ_CHECK(hrp != NULL && five != NULL);
	ret = rw__bech32_decode(hrp, hcap, five, dcap, &dlen, in, n, NULL);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOSPC);
	if (ret == 0) {
		FUZZ_CHECK(dlen <= dcap);
		FUZZ_CHECK(memchr(hrp, '\0', hcap) != NULL);
	}
	free(five);
	free(hrp);
}

static void wpub(const char *in, size_t n)
{
	uint8_t key[RW_KEY_LEN];
	char enc[RW_WPUB_LEN + 1];
	const char *why = NULL;
	int ret = rw__wpub_decode(key, in, n, &why);

	if (ret) {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(why != NULL && why[0] != '\0');
		return;
	}
	FUZZ_CHECK(n == RW_WPUB_LEN);
	FUZZ_CHECK(rw__wpub_encode(enc, key) == 0);
	FUZZ_CHECK(equal_lower(enc, in, n));
}

static void bits(const uint8_t *in, size_t n)
{
	uint8_t five[256 * 8 / 5 + 1], back[256];
	size_t m = 0, k = 0;

	if (n > 256)
		n = 256;
	FUZZ_CHECK(rw__bech32_convert_bits(five, sizeof(five), &m, 5, in, n, 8, 1) == 0);
	FUZZ_CHECK(m == (n * 8 + 4) / 5);
	FUZZ_CHECK(rw__bech32_convert_bits(back, sizeof(back), &k, 8, five, m, 5, 0) == 0);
	FUZZ_CHECK(k == n && (n == 0 || memcmp(back, in, n) == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in = calloc(1, size ? size : 1);

	FUZZ_CHECK(in != NULL);
	if (size)
		memcpy(in, data, size);
	generic(in, size);
	tight(in, size, size ? data[0] : 0);
	wpub(in, size);
	bits(data, size);
	free(in);
	return 0;
}
