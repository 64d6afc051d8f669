/* SPDX-License-Identifier: MIT */
/*
 * fuzz_kat.h - known-answer values of tests/vectors/wiresocket-v1-kat.txt
 * that harnesses check against, as hex macros (harnesses do no I/O).
 * Private keys are the raw a..a+31 runs of the KAT README (fuzz_kat_key).
 */
#ifndef RW_FUZZ_KAT_H
#define RW_FUZZ_KAT_H

#include <stddef.h>
#include <stdint.h>

#define KAT_INIT_STATIC_FIRST 0x01
#define KAT_RESP_STATIC_FIRST 0x21
#define KAT_INIT_EPH_FIRST 0x41
#define KAT_RESP_EPH_FIRST 0x61
#define KAT_INIT_SENDER 0x11223344u
#define KAT_RESP_SENDER 0x55667788u

#define KAT_INIT_STATIC_PUB "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
#define KAT_RESP_STATIC_PUB "5869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b"
#define KAT_TAI64N "400000006955b900075bcd15"
#define KAT_HANDSHAKE_INIT \
	"010000004433221164b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466949eedbe76965eb7f835310292b077e3b02dec41646c1b0b23a9a24bbf52c3c0f4e8" \
	"ea6bc0e5db259a416738d9ee36e63079f65d4d9c2e8c5c764ccb6c875eaf9570e4f6afb7da3aed6cc5515b1f2d363ee4b5c872c620e6fd8584d000000000000000000000000000000000"
#define KAT_HANDSHAKE_RESP \
	"020000008877665544332211244fe3b963e899dd295baffce248d3530f3a9a7479ba063002680ebfe7adad49f06259fb948cee0c112a886c2fed57827abb1fceaa22a6f5223bba1532b9136b00000000000000000000000000000000"
#define KAT_T_INITIATOR_SEND "942654b87c3bda8b4825e9d4dfda91f1dda783af660e1434d2ed1021202ac4a2"
#define KAT_T_INITIATOR_RECV "c222e57cb2f7d64704ad7b61b079fcac3ab408a9e5f6498473b8b22286d3e67b"
#define KAT_COOKIE_SECRET "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
#define KAT_COOKIE_ADDR "192.0.2.1:51820"
#define KAT_COOKIE "a5897d4ec0fbb9ee3f2537e0c30cebb5"
#define KAT_COOKIE_REPLY \
	"0300000044332211c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7177fd65618ab037b03ea8003b794f48f298b6311f5e6bbc5dce15427ab75edb1"
#define KAT_HANDSHAKE_INIT_WITH_MAC2 \
	"010000004433221164b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466949eedbe76965eb7f835310292b077e3b02dec41646c1b0b23a9a24bbf52c3c0f4e8" \
	"ea6bc0e5db259a416738d9ee36e63079f65d4d9c2e8c5c764ccb6c875eaf9570e4f6afb7da3aed6cc5515b1f2d363ee4b5c872c620e6fd8584d0b96fe0563dd62ac25a1590515f98551e"

static inline int fuzz_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode exactly n bytes of a KAT macro (lower-case hex, 2n digits). */
static inline void fuzz_unhex(uint8_t *out, size_t n, const char *hex)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(fuzz_hexval(hex[2 * i]) << 4 | fuzz_hexval(hex[2 * i + 1]));
}

#endif
