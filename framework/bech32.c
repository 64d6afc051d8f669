/* SPDX-License-Identifier: MIT */
/*
 * bech32.c - BIP-173 bech32 and wpub keys (see bech32.h).
 */
#include <errno.h>
#include <string.h>

#include "bech32.h"

static const char charset[32] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/* BIP-173 final constant; BIP-350 bech32m uses the other one. */
#define BECH32_CONST UINT32_C(1)
#define BECH32M_CONST UINT32_C(0x2bc830a3)

static uint32_t polymod_step(uint32_t pre)
{
	uint32_t b = pre >> 25;

	return ((pre & 0x1ffffff) << 5) ^
	       (-((b >> 0) & 1) & 0x3b6a57b2) ^
	       (-((b >> 1) & 1) & 0x26508e6d) ^
	       (-((b >> 2) & 1) & 0x1ea119fa) ^
	       (-((b >> 3) & 1) & 0x3d4233dd) ^
	       (-((b >> 4) & 1) & 0x2a1462b3);
}

/* Checksum state after the expanded hrp; hrp must already be lower case. */
static uint32_t polymod_hrp(const char *hrp, size_t hrplen)
{
	uint32_t chk = 1;
	size_t i;

	for (i = 0; i < hrplen; i++)
		chk = polymod_step(chk) ^ ((uint8_t)hrp[i] >> 5);
	chk = polymod_step(chk);
	for (i = 0; i < hrplen; i++)
		chk = polymod_step(chk) ^ ((uint8_t)hrp[i] & 31);
	return chk;
}

/* The value of a lower-case data character, or -1. */
static int charset_value(char c)
{
	const char *p;

	if (c == '\0')
		return -1;
	p = memchr(charset, c, sizeof(charset));
	return p ? (int)(p - charset) : -1;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

int rw__bech32_encode(char *out, size_t outlen, const char *hrp, const uint8_t *data, size_t datalen)
{
	size_t hrplen, total, i;
	uint32_t chk;

	if (!out || !hrp || (!data && datalen))
		return -EINVAL;
	hrplen = strlen(hrp);
	if (hrplen < 1 || hrplen > RW_BECH32_HRP_MAX || datalen > RW_BECH32_DATA_MAX)
		return -EINVAL;
	total = hrplen + 1 + datalen + RW_BECH32_CHECKSUM_LEN;
	if (total > RW_BECH32_MAX_LEN)
		return -EINVAL;
	for (i = 0; i < hrplen; i++) {
		uint8_t c = (uint8_t)hrp[i];

		/* Encoders emit lower case only (BIP-173 "Uppercase/lowercase"). */
		if (c < 33 || c > 126 || (c >= 'A' && c <= 'Z'))
			return -EINVAL;
	}
	for (i = 0; i < datalen; i++)
		if (data[i] >> 5)
			return -EINVAL;
	if (outlen < total + 1)
		return -ENOSPC;

	chk = polymod_hrp(hrp, hrplen);
	memcpy(out, hrp, hrplen);
	out += hrplen;
	*out++ = '1';
	for (i = 0; i < datalen; i++) {
		chk = polymod_step(chk) ^ data[i];
		*out++ = charset[data[i]];
	}
	for (i = 0; i < RW_BECH32_CHECKSUM_LEN; i++)
		chk = polymod_step(chk);
	chk ^= BECH32_CONST;
	for (i = 0; i < RW_BECH32_CHECKSUM_LEN; i++)
		*out++ = charset[(chk >> (5 * (5 - i))) & 31];
	*out = '\0';
	return 0;
}

static int fail(const char **why, const char *msg)
{
	if (why)
		*why = msg;
	return -EINVAL;
}

int rw__bech32_decode(char *hrp, size_t hrpcap, uint8_t *data, size_t datacap, size_t *datalen,
		      const char *in, size_t inlen, const char **why)
{
	int has_lower = 0, has_upper = 0;
	size_t sep, hrplen, dlen, i;
	uint32_t chk;

	if (why)
		*why = NULL;
	if (!hrp || !data || !datalen || !in)
		return fail(why, "missing argument");
	if (inlen > RW_BECH32_MAX_LEN)
		return fail(why, "longer than 90 characters");
	for (i = 0; i < inlen; i++) {
		uint8_t c = (uint8_t)in[i];

		if (c < 33 || c > 126)
			return fail(why, "contains a character outside ASCII 33..126");
		has_lower |= c >= 'a' && c <= 'z';
		has_upper |= c >= 'A' && c <= 'Z';
	}
	if (has_lower && has_upper)
		return fail(why, "mixes upper and lower case");
	/* The separator is the last '1': the hrp may contain '1' itself. */
	for (sep = inlen; sep > 0 && in[sep - 1] != '1'; sep--)
		;
	if (sep == 0)
		return fail(why, "has no '1' separator");
	sep--;
	hrplen = sep;
	if (hrplen == 0)
		return fail(why, "has an empty human-readable part before the '1'");
	if (inlen - sep - 1 < RW_BECH32_CHECKSUM_LEN)
		return fail(why, "is too short to hold the 6-character checksum");
	dlen = inlen - sep - 1 - RW_BECH32_CHECKSUM_LEN;
	if (hrpcap < hrplen + 1 || datacap < dlen)
		return -ENOSPC;

	for (i = 0; i < hrplen; i++)
		hrp[i] = lower(in[i]);
	hrp[hrplen] = '\0';
	chk = polymod_hrp(hrp, hrplen);
	for (i = sep + 1; i < inlen; i++) {
		int v = charset_value(lower(in[i]));

		if (v < 0)
			return fail(why, i - sep - 1 < dlen ? "has a character that bech32 never uses (1, b, i, o)"
							    : "has a character that bech32 never uses (1, b, i, o) "
							      "in its checksum");
		chk = polymod_step(chk) ^ (uint32_t)v;
		if (i - sep - 1 < dlen)
			data[i - sep - 1] = (uint8_t)v;
	}
	if (chk == BECH32M_CONST)
		return fail(why, "has a bech32m checksum; keys use bech32 (BIP-173)");
	if (chk != BECH32_CONST)
		return fail(why, "has a wrong checksum (a character is mistyped, missing or extra)");
	*datalen = dlen;
	return 0;
}

int rw__bech32_convert_bits(uint8_t *out, size_t outcap, size_t *outlen, unsigned int tobits, const uint8_t *in,
			    size_t inlen, unsigned int frombits, int pad)
{
	const uint32_t maxv = (UINT32_C(1) << tobits) - 1;
	const uint32_t maxacc = (UINT32_C(1) << (frombits + tobits - 1)) - 1;
	uint32_t acc = 0;
	unsigned int bits = 0;
	size_t n = 0, i;

	if (!out || !outlen || (!in && inlen) || tobits < 1 || tobits > 8 || frombits < 1 || frombits > 8)
		return -EINVAL;
	for (i = 0; i < inlen; i++) {
		if (in[i] >> frombits)
			return -EINVAL;
		acc = ((acc << frombits) | in[i]) & maxacc;
		bits += frombits;
		while (bits >= tobits) {
			bits -= tobits;
			if (n == outcap)
				return -ENOSPC;
			out[n++] = (uint8_t)((acc >> bits) & maxv);
		}
	}
	if (pad) {
		if (bits) {
			if (n == outcap)
				return -ENOSPC;
			out[n++] = (uint8_t)((acc << (tobits - bits)) & maxv);
		}
	} else if (bits >= frombits || ((acc << (tobits - bits)) & maxv)) {
		return -EINVAL;
	}
	*outlen = n;
	return 0;
}

int rw__wpub_encode(char out[RW_WPUB_LEN + 1], const uint8_t key[RW_KEY_LEN])
{
	uint8_t five[RW_WPUB_DATA_LEN];
	size_t n;
	int ret;

	ret = rw__bech32_convert_bits(five, sizeof(five), &n, 5, key, RW_KEY_LEN, 8, 1);
	if (ret)
		return ret;
	return rw__bech32_encode(out, RW_WPUB_LEN + 1, RW_WPUB_HRP, five, n);
}

int rw__wpub_decode(uint8_t key[RW_KEY_LEN], const char *in, size_t inlen, const char **why)
{
	char hrp[RW_BECH32_HRP_MAX + 1];
	uint8_t five[RW_BECH32_DATA_MAX], bytes[RW_KEY_LEN];
	static const char prefix[] = RW_WPUB_HRP "1";
	const size_t plen = sizeof(prefix) - 1;
	size_t n, m, i;
	int ret;

	if (!key || !in)
		return fail(why, "missing argument");
	/*
	 * A wpub string cut short by a copy and paste fails its checksum; say
	 * what happened instead.
	 */
	if (inlen != RW_WPUB_LEN && inlen >= plen) {
		for (i = 0; i < plen && lower(in[i]) == prefix[i]; i++)
			;
		if (i == plen)
			return fail(why, inlen < RW_WPUB_LEN ? "is too short: a wpub key has 63 characters"
							     : "is too long: a wpub key has 63 characters");
	}
	ret = rw__bech32_decode(hrp, sizeof(hrp), five, sizeof(five), &n, in, inlen, why);
	if (ret)
		return ret == -ENOSPC ? fail(why, "is too long") : ret;
	if (strcmp(hrp, RW_WPUB_HRP) != 0)
		return fail(why, "does not start with wpub1");
	if (n != RW_WPUB_DATA_LEN)
		return fail(why, "does not hold 32 bytes");
	ret = rw__bech32_convert_bits(bytes, sizeof(bytes), &m, 8, five, n, 5, 0);
	if (ret || m != RW_KEY_LEN)
		return fail(why, "has non-zero padding bits");
	memcpy(key, bytes, RW_KEY_LEN);
	return 0;
}
