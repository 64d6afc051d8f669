/* SPDX-License-Identifier: MIT */
/*
 * padding.h - the padding policy (docs/protocol.md §13.7): how large a Data
 * or DataFragment datagram becomes, and the padding field that makes it so.
 *
 * The padding is one frame field, number 15 with wire type LEN (tag 0x7a),
 * written after everything else in the frame: a v1 decoder skips it as an
 * unknown field, ringwire's decoder (frame.c) skips it by name. Its length
 * varint may be non-minimal, so every padding of 2 bytes or more has an
 * exact encoding; 1 byte has none (a field is a tag and a length at least).
 *
 * Sizes here are datagram sizes (what an observer on the path sees): the
 * plaintext is 32 bytes less (16 header + 16 tag). Pure: no I/O, no clock;
 * send.c asks and writes, timers.c sends the cover packets.
 */
#ifndef RW_PADDING_H
#define RW_PADDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringwire.h"

enum {
	RW_PAD_FIELD_MIN = 2,		/* tag + a zero length */
	RW_PAD_MULTIPLE_MIN = 16,	/* a smaller N pads so little it hides nothing */
	RW_PAD_FIXED_MIN = 128,		/* as max_packet's own floor */
	RW_PAD_SIZE_MAX = 65000,	/* RW_PMTU_MAX_DATAGRAM */
};

/* Check a configuration: 0, or -EINVAL with a one-line message naming the field and the fix. */
int rw__pad_check(const struct rw_padding *p, char *err, size_t errlen);

static inline bool rw__pad_on(const struct rw_padding *p)
{
	return p->policy != RW_PAD_NONE;
}

/*
 * The largest datagram a session builds under the policy, given max_packet
 * (base) and its path packet size (pmtu.size): the fixed size caps it, other
 * policies keep it.
 */
static inline uint32_t rw__pad_packet_size(const struct rw_padding *p, uint32_t base, uint32_t size)
{
	if (p->policy == RW_PAD_FIXED) {
		uint32_t f = p->size ? p->size : base;

		return f < size ? f : size;
	}
	return size;
}

/*
 * The datagram length a packet of dgram bytes is padded to, at most max: in
 * [dgram, max], and never dgram + 1 unless max is exactly that (the caller
 * then has no exact padding; see send.c). The callback sees plaintext
 * lengths (32 bytes less; a DataFragment's includes its 8-byte header).
 */
size_t rw__pad_target(const struct rw_padding *p, const struct rw_session *s, size_t dgram, size_t max);

/* Write a padding field of exactly n >= RW_PAD_FIELD_MIN bytes at out. */
void rw__pad_write(uint8_t *out, size_t n);

/*
 * Bytes [from, from + len) of the n-byte padding field rw__pad_write would
 * write: for a padding that straddles fragments.
 */
void rw__pad_write_part(uint8_t *out, size_t n, size_t from, size_t len);

/*
 * A cover packet's whole frame for a datagram of exactly dgram bytes: the
 * internal channel 255 and one padding field, no event. Returns the frame
 * length (dgram - 32), -EINVAL if dgram is too small to hold one.
 */
int rw__pad_cover_frame(uint8_t *out, size_t dgram);

/*
 * Test hook (tests/test_padding.c): when set, called with the plaintext of
 * every Data and DataFragment packet of a session that pads, just before it
 * is sealed, on the reactor thread. NULL in every program.
 */
extern void (*rw__pad_tap)(uint8_t type, const uint8_t *plain, size_t len);

#endif
