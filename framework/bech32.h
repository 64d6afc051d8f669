/* SPDX-License-Identifier: MIT */
/*
 * bech32.h - BIP-173 bech32 (not BIP-350 bech32m) and the wpub key format.
 *
 * A wiresocket public key is written "wpub1" + 52 data characters + a 6
 * character checksum: bech32 with human-readable part "wpub" over the 32 key
 * bytes (docs/protocol.md §16.1). Public keys are not secret, so unlike encoding.c
 * this code may branch and use tables.
 *
 * Functions return 0 or a negative errno. Decoders that can fail on user
 * input take "why": when not NULL it gets a static string, a short phrase
 * naming what is wrong, for the caller to put into a message.
 */
#ifndef RW_BECH32_H
#define RW_BECH32_H

#include <stddef.h>
#include <stdint.h>

#include "ringwire.h"
#include "wire.h"

enum {
	RW_BECH32_MAX_LEN = 90,		/* whole string, BIP-173 */
	RW_BECH32_CHECKSUM_LEN = 6,
	RW_BECH32_HRP_MAX = RW_BECH32_MAX_LEN - 1 - RW_BECH32_CHECKSUM_LEN,
	RW_BECH32_DATA_MAX = RW_BECH32_MAX_LEN - 2 - RW_BECH32_CHECKSUM_LEN,
	RW_WPUB_DATA_LEN = (RW_KEY_LEN * 8 + 4) / 5,	/* 52 five-bit groups */
};

#define RW_WPUB_HRP "wpub"

_Static_assert(sizeof(RW_WPUB_HRP) - 1 + 1 + RW_WPUB_DATA_LEN + RW_BECH32_CHECKSUM_LEN == RW_WPUB_LEN,
	       "wpub length");

/*
 * Encode 5-bit values data[0..datalen) under hrp (1..83 characters 33..126,
 * no upper case) as lower-case bech32. out gets the string and a NUL; -EINVAL
 * for a bad hrp, a value above 31 or a result over 90 characters, -ENOSPC if
 * outlen is too small.
 */
int rw__bech32_encode(char *out, size_t outlen, const char *hrp, const uint8_t *data, size_t datalen);

/*
 * Decode in[0..inlen) (all lower or all upper case). hrp gets the
 * human-readable part in lower case and a NUL (hrpcap >= RW_BECH32_HRP_MAX + 1
 * always suffices); data gets the 5-bit values without the checksum and
 * *datalen their count (datacap >= RW_BECH32_DATA_MAX always suffices).
 * -EINVAL with why set for anything BIP-173 rejects, -ENOSPC if a buffer is
 * too small.
 */
int rw__bech32_decode(char *hrp, size_t hrpcap, uint8_t *data, size_t datacap, size_t *datalen,
		      const char *in, size_t inlen, const char **why);

/*
 * Regroup frombits-bit values into tobits-bit values (both 1..8), BIP-173's
 * convertbits. pad != 0: zero-pad the last group (encoding). pad == 0: the
 * leftover must be fewer than frombits bits, all zero (decoding). -EINVAL
 * for an input value too wide or bad padding, -ENOSPC if outcap is too small.
 */
int rw__bech32_convert_bits(uint8_t *out, size_t outcap, size_t *outlen, unsigned int tobits, const uint8_t *in,
			    size_t inlen, unsigned int frombits, int pad);

/* "wpub1..." of a public key: RW_WPUB_LEN characters and a NUL. */
int rw__wpub_encode(char out[RW_WPUB_LEN + 1], const uint8_t key[RW_KEY_LEN]);
/* Parse a wpub string (either case); -EINVAL with why on any fault. */
int rw__wpub_decode(uint8_t key[RW_KEY_LEN], const char *in, size_t inlen, const char **why);

#endif
