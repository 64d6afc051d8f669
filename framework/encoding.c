/* SPDX-License-Identifier: MIT */
/*
 * encoding.c - constant-time base64 and hex (see encoding.h).
 *
 * Character classes are computed with masks instead of comparisons or a
 * look-up table: a branch or a table index that depends on a key character
 * leaks it through timing or the cache. All arithmetic is on uint32_t so that
 * the wrap-around the masks rely on is defined behaviour; the values involved
 * (characters 0..255, 6-bit groups, nibbles) never reach bit 31.
 */
#include <errno.h>

#include "crypto.h"
#include "encoding.h"

/* All ones when lo <= c <= hi, else 0: an out-of-range side wraps into bit 31. */
static inline uint32_t in_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	return ((((c - lo) | (hi - c)) >> 31) & 1) - 1;
}

/* All ones when v >= k, else 0. */
static inline uint32_t ge(uint32_t v, uint32_t k)
{
	return ((v - k) >> 31) - 1;
}

/* 1 when x (below 2^31) is non-zero, else 0. */
static inline uint32_t nonzero(uint32_t x)
{
	return (x | (0u - x)) >> 31;
}

static char b64_char(uint32_t v)
{
	uint32_t c = 'A' + v;		/* 0..25  -> 'A'..'Z' */

	c += ge(v, 26) & 6;		/* 26..51 -> 'a'..'z' */
	c -= ge(v, 52) & 75;		/* 52..61 -> '0'..'9' */
	c -= ge(v, 62) & 15;		/* 62     -> '+' */
	c += ge(v, 63) & 3;		/* 63     -> '/' */
	return (char)c;
}

/* The 6-bit value of a base64 character plus one, or 0 if it is not one. */
static uint32_t b64_val1(char ch)
{
	uint32_t c = (uint8_t)ch;

	return (in_range(c, 'A', 'Z') & (c - 'A' + 1)) |
	       (in_range(c, 'a', 'z') & (c - 'a' + 27)) |
	       (in_range(c, '0', '9') & (c - '0' + 53)) |
	       (in_range(c, '+', '+') & 63) |
	       (in_range(c, '/', '/') & 64);
}

static char hex_char(uint32_t n)
{
	return (char)('0' + n + (ge(n, 10) & ('a' - '0' - 10)));
}

/* The value of a hex digit plus one, or 0 if it is not one. */
static uint32_t hex_val1(char ch)
{
	uint32_t c = (uint8_t)ch;

	return (in_range(c, '0', '9') & (c - '0' + 1)) |
	       (in_range(c, 'a', 'f') & (c - 'a' + 11)) |
	       (in_range(c, 'A', 'F') & (c - 'A' + 11));
}

int rw__base64_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	size_t full = inlen / 3, rest = inlen % 3, i;
	char *o = out;

	if (!out || (!in && inlen))
		return -EINVAL;
	if (inlen > SIZE_MAX / 4 || outlen < RW_BASE64_LEN(inlen) + 1)
		return -ENOSPC;
	for (i = 0; i < full; i++, in += 3) {
		uint32_t acc = (uint32_t)in[0] << 16 | (uint32_t)in[1] << 8 | in[2];

		*o++ = b64_char(acc >> 18);
		*o++ = b64_char((acc >> 12) & 63);
		*o++ = b64_char((acc >> 6) & 63);
		*o++ = b64_char(acc & 63);
	}
	if (rest) {
		uint32_t acc = (uint32_t)in[0] << 16 | (rest == 2 ? (uint32_t)in[1] << 8 : 0);

		*o++ = b64_char(acc >> 18);
		*o++ = b64_char((acc >> 12) & 63);
		*o++ = rest == 2 ? b64_char((acc >> 6) & 63) : '=';
		*o++ = '=';
	}
	*o = '\0';
	return 0;
}

int rw__base64_decode(uint8_t *out, size_t outlen, const char *in, size_t inlen)
{
	size_t full = outlen / 3, rest = outlen % 3, i, j;
	uint32_t bad = 0, acc, v;

	/* The lengths are public; only the characters are secret. */
	if (!out || !in || outlen > SIZE_MAX / 4 || inlen != RW_BASE64_LEN(outlen))
		return -EINVAL;
	for (i = 0; i < full; i++, in += 4) {
		acc = 0;
		for (j = 0; j < 4; j++) {
			v = b64_val1(in[j]);
			bad |= 1 ^ nonzero(v);
			acc |= ((v - 1) & 63) << (18 - 6 * j);
		}
		out[3 * i] = (uint8_t)(acc >> 16);
		out[3 * i + 1] = (uint8_t)(acc >> 8);
		out[3 * i + 2] = (uint8_t)acc;
	}
	if (rest) {
		/* rest + 1 data characters, then 3 - rest '='. */
		acc = 0;
		for (j = 0; j <= rest; j++) {
			v = b64_val1(in[j]);
			bad |= 1 ^ nonzero(v);
			acc |= ((v - 1) & 63) << (18 - 6 * j);
		}
		for (; j < 4; j++)
			bad |= nonzero((uint8_t)in[j] ^ (uint32_t)'=');
		out[3 * full] = (uint8_t)(acc >> 16);
		if (rest == 2)
			out[3 * full + 1] = (uint8_t)(acc >> 8);
		/*
		 * The bits of the last character that no byte uses must be 0,
		 * so that each key has exactly one text form (as WireGuard).
		 */
		bad |= nonzero(acc & (rest == 1 ? 0xffffu : 0xffu));
	}
	if (bad) {
		rw__memzero(out, outlen);
		return -EINVAL;
	}
	return 0;
}

int rw__hex_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen)
{
	size_t i;

	if (!out || (!in && inlen))
		return -EINVAL;
	if (inlen > SIZE_MAX / 4 || outlen < RW_HEX_LEN(inlen) + 1)
		return -ENOSPC;
	for (i = 0; i < inlen; i++) {
		out[2 * i] = hex_char(in[i] >> 4);
		out[2 * i + 1] = hex_char(in[i] & 15);
	}
	out[2 * inlen] = '\0';
	return 0;
}

int rw__hex_decode(uint8_t *out, size_t outlen, const char *in, size_t inlen)
{
	uint32_t bad = 0, hi, lo;
	size_t i;

	if (!out || !in || outlen > SIZE_MAX / 2 || inlen != RW_HEX_LEN(outlen))
		return -EINVAL;
	for (i = 0; i < outlen; i++) {
		hi = hex_val1(in[2 * i]);
		lo = hex_val1(in[2 * i + 1]);
		bad |= (1 ^ nonzero(hi)) | (1 ^ nonzero(lo));
		out[i] = (uint8_t)(((hi - 1) & 15) << 4 | ((lo - 1) & 15));
	}
	if (bad) {
		rw__memzero(out, outlen);
		return -EINVAL;
	}
	return 0;
}
