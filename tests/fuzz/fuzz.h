/* SPDX-License-Identifier: MIT */
/*
 * fuzz.h - shared by every harness under tests/fuzz/.
 *
 * Each fuzz_<name>.c defines LLVMFuzzerTestOneInput and is built twice: with
 * clang -fsanitize=fuzzer (meson -Dfuzz=true, driven by tests/fuzz/run.sh),
 * and with the normal compiler plus replay_main.c, which feeds it the
 * committed corpus and regressions in the unit test suite. So a harness uses
 * nothing from libFuzzer but this entry point.
 *
 * FUZZ_CHECK is the harness's assert: it is never compiled out (NDEBUG does
 * not touch it), names the failed condition, and aborts, which libFuzzer
 * reports as a crash and replay_main as a failed input.
 *
 * A harness keeps no state between calls: every key, checker and table is
 * built from constants and the input on each call (the one exception, a few
 * values derived from constants alone, is computed on the first call and
 * then only read), so an input replays the same way alone, after others, or
 * in a different build.
 */
#ifndef RW_FUZZ_H
#define RW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                          \
	do {                                                                                      \
		if (!(cond)) {                                                                    \
			fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, __func__, \
				#cond);                                                           \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

/* Reads the input front to back; past its end every read gives zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline void fuzz_in_init(struct fuzz_in *in, const uint8_t *data, size_t size)
{
	in->p = data;
	in->left = size;
}

/* Copy n bytes to out, zero-filling what the input lacks. */
static inline void fuzz_take(struct fuzz_in *in, void *out, size_t n)
{
	size_t k = n < in->left ? n : in->left;

	if (k)
		memcpy(out, in->p, k);
	if (n > k)
		memset((uint8_t *)out + k, 0, n - k);
	in->p += k;
	in->left -= k;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	fuzz_take(in, &v, 1);
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint8_t b[2];

	fuzz_take(in, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	uint8_t b[4];

	fuzz_take(in, b, 4);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t lo = fuzz_u32(in);

	return lo | (uint64_t)fuzz_u32(in) << 32;
}

/* The KAT raw private keys: a, a+1, ..., a+31 (tests/vectors/README.md). */
static inline void fuzz_kat_key(uint8_t out[32], uint8_t first)
{
	for (unsigned i = 0; i < 32; i++)
		out[i] = (uint8_t)(first + i);
}

/*
 * X25519 points of small order (and their non-canonical encodings): a DH
 * with any of them gives all zeros, which the core must refuse. With the top
 * bit set they are the same points again (X25519 ignores bit 255).
 */
static const uint8_t fuzz_low_order[][32] = {
	/* 0 */
	{ 0 },
	/* 1 */
	{ 1 },
	/* order 8 */
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
	  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
	/* order 8 */
	{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef, 0x5b,
	  0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f, 0x11, 0x57 },
	/* p - 1 (order 2) */
	{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	/* p (= 0) */
	{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
	/* p + 1 (= 1) */
	{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f },
};

enum { FUZZ_LOW_ORDER_COUNT = sizeof(fuzz_low_order) / sizeof(fuzz_low_order[0]) };

/* Pick a small-order point by a selector byte: low bits the point, 0x80 the top bit. */
static inline void fuzz_pick_low_order(uint8_t out[32], uint8_t sel)
{
	memcpy(out, fuzz_low_order[(sel & 0x7f) % FUZZ_LOW_ORDER_COUNT], 32);
	if (sel & 0x80)
		out[31] |= 0x80;
}

static inline int fuzz_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

#endif
