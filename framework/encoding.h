/* SPDX-License-Identifier: MIT */
/*
 * encoding.h - constant-time base64 and hex for key material.
 *
 * Private keys pass through these functions, so neither the time taken nor
 * the memory touched depends on the bytes or characters: no branches and no
 * table look-ups on secret data, only on the (public) lengths. Base64 is the
 * standard alphabet (RFC 4648 §4) with '=' padding, as WireGuard writes keys;
 * hex is written in lower case and read in either case.
 *
 * Every function returns 0 or a negative errno. A failed decode wipes out, so
 * a caller never holds half a key.
 */
#ifndef RW_ENCODING_H
#define RW_ENCODING_H

#include <stddef.h>
#include <stdint.h>

/* Characters of the base64 / hex form of n bytes, without the NUL. */
#define RW_BASE64_LEN(n) ((((n) + 2) / 3) * 4)
#define RW_HEX_LEN(n) ((n) * 2)

/*
 * out gets RW_BASE64_LEN(inlen) characters and a NUL; -ENOSPC if outlen is
 * smaller than that plus one.
 */
int rw__base64_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen);
/*
 * Decode exactly outlen bytes from in, which must be exactly
 * RW_BASE64_LEN(outlen) characters with canonical padding (unused low bits of
 * the last character zero). -EINVAL otherwise.
 */
int rw__base64_decode(uint8_t *out, size_t outlen, const char *in, size_t inlen);

/* out gets RW_HEX_LEN(inlen) lower-case digits and a NUL, or -ENOSPC. */
int rw__hex_encode(char *out, size_t outlen, const uint8_t *in, size_t inlen);
/* Decode exactly outlen bytes from RW_HEX_LEN(outlen) digits, or -EINVAL. */
int rw__hex_decode(uint8_t *out, size_t outlen, const char *in, size_t inlen);

#endif
