/* SPDX-License-Identifier: MIT */
/*
 * padding.c - the padding policy and the wire form of the padding field
 * (padding.h, docs/protocol.md §13.7).
 */
#include "padding.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

void (*rw__pad_tap)(uint8_t type, const uint8_t *plain, size_t len);

static int bad(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
	return -EINVAL;
}

int rw__pad_check(const struct rw_padding *p, char *err, size_t errlen)
{
	switch (p->policy) {
	case RW_PAD_NONE:
		break;
	case RW_PAD_MULTIPLE:
		if (p->size && (p->size < RW_PAD_MULTIPLE_MIN || p->size > RW_PAD_SIZE_MAX))
			return bad(err, errlen,
				   "padding: a multiple must be 16..65000 bytes (or 0 for full packets); set padding.size");
		break;
	case RW_PAD_FIXED:
		if (p->size && (p->size < RW_PAD_FIXED_MIN || p->size > RW_PAD_SIZE_MAX))
			return bad(err, errlen,
				   "padding: a fixed size must be 128..65000 bytes (or 0 for max_packet); set padding.size");
		break;
	case RW_PAD_CALLBACK:
		if (!p->fn)
			return bad(err, errlen, "padding: RW_PAD_CALLBACK needs padding.fn; set it or pick another policy");
		break;
	default:
		return bad(err, errlen, "padding: unknown policy; use RW_PAD_NONE, _MULTIPLE, _FIXED or _CALLBACK");
	}
	if (p->cover_interval_ms && p->policy != RW_PAD_FIXED)
		return bad(err, errlen,
			   "padding: cover traffic needs RW_PAD_FIXED (cover packets have the fixed size); "
			   "set padding.policy or cover_interval_ms 0");
	return 0;
}

size_t rw__pad_target(const struct rw_padding *p, const struct rw_session *s, size_t dgram, size_t max)
{
	size_t t;

	if (dgram >= max || dgram < RW_SIZE_DATA_MIN)
		return dgram;
	switch (p->policy) {
	case RW_PAD_MULTIPLE:
		if (!p->size)
			return max;
		t = (dgram + p->size - 1) / p->size * p->size;
		if (t == dgram + 1)
			t += p->size;	/* one byte has no padding field: the next multiple */
		return t < max ? t : max;
	case RW_PAD_FIXED:
		/* max is the fixed size already (rw__pad_packet_size), or a smaller buffer's */
		return max;
	case RW_PAD_CALLBACK:
		t = p->fn(s, dgram - RW_SIZE_DATA_MIN, max - RW_SIZE_DATA_MIN, p->user);
		if (t > max - RW_SIZE_DATA_MIN)
			return max;
		t += RW_SIZE_DATA_MIN;
		if (t <= dgram)
			return dgram;
		if (t == dgram + 1)
			t = dgram + RW_PAD_FIELD_MIN <= max ? dgram + RW_PAD_FIELD_MIN : max;
		return t;
	default:
		return dgram;
	}
}

/* Bytes of the length varint in a padding field of n bytes (n < 2^21 + 4). */
static size_t len_bytes(size_t n)
{
	if (n - 2 < 1u << 7)
		return 1;
	if (n - 3 < 1u << 14)
		return 2;
	return 3;
}

/* The tag and length of an n-byte padding field: 1 + len_bytes(n) bytes at hdr. */
static size_t header(uint8_t hdr[4], size_t n)
{
	size_t v = len_bytes(n), body = n - 1 - v;

	hdr[0] = RW_FRAME_TAG_PAD;
	/* exactly v bytes: a non-minimal varint where the minimal one is shorter */
	for (size_t i = 0; i < v; i++) {
		hdr[1 + i] = (uint8_t)(body & 0x7f) | (i + 1 < v ? 0x80 : 0);
		body >>= 7;
	}
	return 1 + v;
}

void rw__pad_write_part(uint8_t *out, size_t n, size_t from, size_t len)
{
	uint8_t hdr[4];
	size_t h = header(hdr, n);

	for (; len && from < h; len--)
		*out++ = hdr[from++];
	memset(out, 0, len);
}

void rw__pad_write(uint8_t *out, size_t n)
{
	rw__pad_write_part(out, n, 0, n);
}

int rw__pad_cover_frame(uint8_t *out, size_t dgram)
{
	size_t flen;

	if (dgram < RW_SIZE_DATA_MIN + 1 + RW_PAD_FIELD_MIN || dgram > RW_PAD_SIZE_MAX)
		return -EINVAL;
	flen = dgram - RW_SIZE_DATA_MIN;
	out[0] = RW_CHANNEL_INTERNAL;
	rw__pad_write(out + 1, flen - 1);
	return (int)flen;
}
