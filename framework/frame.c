/* SPDX-License-Identifier: MIT */
/*
 * frame.c - Frame encode and decode (docs/protocol.md §10). See frame.h for the choices
 * made where the spec is silent.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "frame.h"

/* Varint lengths: a uint32 needs at most 5 groups of 7 bits, a uint64 10. */
enum {
	VARINT32_MAX = 5,
	VARINT64_MAX = 10,
	FIXED64_LEN = 8,
};

enum {
	FIELD_EVENT = 1,
	FIELD_SEQ = 2,
	FIELD_ACK_SEQ = 3,
	FIELD_ACK_BITMAP = 4,
	FIELD_WINDOW = 5,
	FIELD_PAD = 15,		/* docs/protocol.md §13.7: padding, skipped */
	WT_VARINT = 0,
	WT_I64 = 1,
	WT_LEN = 2,
};

_Static_assert(RW_FRAME_TAG_EVENT == (FIELD_EVENT << 3 | WT_LEN), "event tag");
_Static_assert(RW_FRAME_TAG_SEQ == (FIELD_SEQ << 3 | WT_VARINT), "seq tag");
_Static_assert(RW_FRAME_TAG_ACKSEQ == (FIELD_ACK_SEQ << 3 | WT_VARINT), "ackseq tag");
_Static_assert(RW_FRAME_TAG_ACKBITMAP == (FIELD_ACK_BITMAP << 3 | WT_I64), "ackbitmap tag");
_Static_assert(RW_FRAME_TAG_WINDOW == (FIELD_WINDOW << 3 | WT_VARINT), "window tag");
_Static_assert(RW_FRAME_TAG_PAD == (FIELD_PAD << 3 | WT_LEN), "pad tag");
/* rw_frame.present has bit (field - FIELD_SEQ) for each reliability field */
_Static_assert(RW_FRAME_HAS_SEQ == 1 << (FIELD_SEQ - FIELD_SEQ), "present bits");
_Static_assert(RW_FRAME_HAS_ACK_SEQ == 1 << (FIELD_ACK_SEQ - FIELD_SEQ), "present bits");
_Static_assert(RW_FRAME_HAS_ACK_BITMAP == 1 << (FIELD_ACK_BITMAP - FIELD_SEQ), "present bits");
_Static_assert(RW_FRAME_HAS_WINDOW == 1 << (FIELD_WINDOW - FIELD_SEQ), "present bits");
_Static_assert(RW_FRAME_REL_MAX == 3 * (1 + VARINT32_MAX) + 1 + FIXED64_LEN, "rel max");

static const char *const err_str[RW_FRAME_ERR_COUNT] = {
	[RW_FRAME_OK] = "ok",
	[RW_FRAME_EMPTY] = "empty frame (no channel byte)",
	[RW_FRAME_TRUNCATED_VARINT] = "truncated varint",
	[RW_FRAME_OVERLONG_VARINT] = "overlong varint",
	[RW_FRAME_EVENT_PAST_END] = "event length past end of frame",
	[RW_FRAME_EMPTY_EVENT] = "empty event (no type byte)",
	[RW_FRAME_UNKNOWN_TAG] = "unknown field tag",
	[RW_FRAME_WIRE_TYPE] = "wrong wire type for field",
	[RW_FRAME_VALUE_RANGE] = "field value out of uint32 range",
	[RW_FRAME_TRUNCATED_FIXED64] = "truncated 64-bit field",
	[RW_FRAME_DUPLICATE_FIELD] = "reliability field repeated",
};

const char *rw__frame_err_str(enum rw_frame_err e)
{
	if ((unsigned)e >= RW_FRAME_ERR_COUNT)
		return "unknown frame error";
	return err_str[e];
}

/*
 * Read a varint of at most maxbytes bytes from *pp, never touching end or
 * beyond. With maxbytes 10, a tenth byte above 1 would overflow 64 bits: that
 * is reported as overlong too, since no uint64 is encoded that way.
 */
static enum rw_frame_err get_varint(const uint8_t **pp, const uint8_t *end, unsigned maxbytes, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	for (unsigned i = 0;; i++) {
		if (i == maxbytes)
			return RW_FRAME_OVERLONG_VARINT;
		if (p == end)
			return RW_FRAME_TRUNCATED_VARINT;
		uint8_t b = *p++;
		if (i == VARINT64_MAX - 1 && (b & 0x7f) > 1)
			return RW_FRAME_OVERLONG_VARINT;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			break;
	}
	*pp = p;
	*out = v;
	return RW_FRAME_OK;
}

static unsigned varint_len(uint64_t v)
{
	unsigned n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static int fail(struct rw_frame *f, enum rw_frame_err e, const uint8_t *at)
{
	f->err = e;
	f->err_off = f->buf ? (size_t)(at - f->buf) : 0;
	/* a rejected frame iterates as empty */
	f->nevents = 0;
	f->first_event = f->len;
	return -EBADMSG;
}

int rw__frame_decode(struct rw_frame *f, const uint8_t *buf, size_t len)
{
	memset(f, 0, sizeof(*f));
	f->buf = buf;
	f->len = len;
	if (len < RW_FRAME_HEADER_LEN)
		return fail(f, RW_FRAME_EMPTY, buf);

	const uint8_t *p = buf + RW_FRAME_HEADER_LEN;
	const uint8_t *end = buf + len;
	enum rw_frame_err e;

	f->channel = buf[0];
	f->first_event = len;
	while (p < end) {
		const uint8_t *field = p;
		uint64_t tag, v;

		/* Every tag of the subset fits one byte; five bound a uint32 tag. */
		e = get_varint(&p, end, VARINT32_MAX, &tag);
		if (e)
			return fail(f, e, field);
		uint64_t num = tag >> 3;
		unsigned wt = (unsigned)(tag & 7);

		if (num == FIELD_PAD) {
			/* padding: any number of them, anywhere, contents ignored */
			if (wt != WT_LEN)
				return fail(f, RW_FRAME_WIRE_TYPE, field);
			e = get_varint(&p, end, VARINT64_MAX, &v);
			if (e)
				return fail(f, e, field);
			if (v > (uint64_t)(end - p))
				return fail(f, RW_FRAME_EVENT_PAST_END, field);
			p += v;
			f->padding += (size_t)(p - field);
			continue;
		}
		if (num < FIELD_EVENT || num > FIELD_WINDOW)
			return fail(f, RW_FRAME_UNKNOWN_TAG, field);

		if (num == FIELD_EVENT) {
			if (wt != WT_LEN)
				return fail(f, RW_FRAME_WIRE_TYPE, field);
			e = get_varint(&p, end, VARINT64_MAX, &v);
			if (e)
				return fail(f, e, field);
			if (v == 0)
				return fail(f, RW_FRAME_EMPTY_EVENT, field);
			if (v > (uint64_t)(end - p))
				return fail(f, RW_FRAME_EVENT_PAST_END, field);
			p += v;
			if (f->nevents++ == 0)
				f->first_event = (size_t)(field - buf);
			continue;
		}

		uint8_t bit = (uint8_t)(1u << (num - FIELD_SEQ));
		if (f->present & bit)
			return fail(f, RW_FRAME_DUPLICATE_FIELD, field);

		if (num == FIELD_ACK_BITMAP) {
			if (wt != WT_I64)
				return fail(f, RW_FRAME_WIRE_TYPE, field);
			if ((size_t)(end - p) < FIXED64_LEN)
				return fail(f, RW_FRAME_TRUNCATED_FIXED64, field);
			f->rel.ack_bitmap = rw_le64(p);
			p += FIXED64_LEN;
			f->present |= bit;
			continue;
		}

		if (wt != WT_VARINT)
			return fail(f, RW_FRAME_WIRE_TYPE, field);
		e = get_varint(&p, end, VARINT32_MAX, &v);
		if (e)
			return fail(f, e, field);
		if (v > UINT32_MAX)
			return fail(f, RW_FRAME_VALUE_RANGE, field);
		if (num == FIELD_SEQ)
			f->rel.seq = (uint32_t)v;
		else if (num == FIELD_ACK_SEQ)
			f->rel.ack_seq = (uint32_t)v;
		else
			f->rel.window = (uint32_t)v;
		f->present |= bit;
	}
	return 0;
}

void rw__frame_iter_init(struct rw_frame_iter *it, const struct rw_frame *f)
{
	it->p = f->buf + f->first_event;
	it->end = f->buf + f->len;
	it->left = f->nevents;
}

/*
 * The frame was validated, so each read below succeeds; they stay checked
 * anyway so that an iterator over a frame that was not validated (a bug) ends
 * early instead of reading out of bounds.
 */
bool rw__frame_next_event(struct rw_frame_iter *it, uint8_t *type, const uint8_t **payload, size_t *plen)
{
	while (it->left && it->p < it->end) {
		uint64_t tag, v;

		if (get_varint(&it->p, it->end, VARINT32_MAX, &tag))
			break;
		switch (tag) {
		case RW_FRAME_TAG_EVENT:
			if (get_varint(&it->p, it->end, VARINT64_MAX, &v) || v == 0 || v > (uint64_t)(it->end - it->p))
				goto stop;
			*type = it->p[0];
			*payload = it->p + 1;
			*plen = (size_t)v - 1;
			it->p += v;
			it->left--;
			return true;
		case RW_FRAME_TAG_ACKBITMAP:
			if ((size_t)(it->end - it->p) < FIXED64_LEN)
				goto stop;
			it->p += FIXED64_LEN;
			break;
		case RW_FRAME_TAG_PAD:
			if (get_varint(&it->p, it->end, VARINT64_MAX, &v) || v > (uint64_t)(it->end - it->p))
				goto stop;
			it->p += v;
			break;
		case RW_FRAME_TAG_SEQ:
		case RW_FRAME_TAG_ACKSEQ:
		case RW_FRAME_TAG_WINDOW:
			if (get_varint(&it->p, it->end, VARINT32_MAX, &v))
				goto stop;
			break;
		default:
			goto stop;
		}
	}
stop:
	it->left = 0;
	return false;
}

/* ---- encoding -------------------------------------------------------- */

size_t rw__frame_event_size(size_t plen)
{
	/* tag + varint(body) + type byte + payload, without overflowing */
	if (plen > SIZE_MAX - 2 - VARINT64_MAX)
		return SIZE_MAX;
	return 1 + varint_len((uint64_t)plen + 1) + 1 + plen;
}

size_t rw__frame_rel_size(const struct rw_frame_rel *rel)
{
	size_t n = 0;

	if (!rel)
		return 0;
	if (rel->seq)
		n += 1 + varint_len(rel->seq);
	if (rel->ack_seq)
		n += 1 + varint_len(rel->ack_seq);
	if (rel->ack_bitmap)
		n += 1 + FIXED64_LEN;
	if (rel->window)
		n += 1 + varint_len(rel->window);
	return n;
}

int rw__frame_begin(struct rw_frame_builder *b, uint8_t *buf, size_t cap, uint8_t channel, size_t reserve)
{
	/* finish returns the length as an int; no frame comes near that anyway */
	if (cap > INT_MAX)
		cap = INT_MAX;
	memset(b, 0, sizeof(*b));
	if (cap < RW_FRAME_HEADER_LEN || cap - RW_FRAME_HEADER_LEN < reserve)
		return -ENOSPC;
	b->buf = buf;
	b->cap = cap;
	b->reserve = reserve;
	buf[0] = channel;
	b->len = RW_FRAME_HEADER_LEN;
	return 0;
}

int rw__frame_add_event(struct rw_frame_builder *b, uint8_t type, const void *payload, size_t plen)
{
	size_t need = rw__frame_event_size(plen);

	/* begin guaranteed len + reserve <= cap */
	if (!b->buf || need > b->cap - b->reserve - b->len)
		return -ENOSPC;
	uint8_t *p = b->buf + b->len;
	*p++ = RW_FRAME_TAG_EVENT;
	p = put_varint(p, (uint64_t)plen + 1);
	*p++ = type;
	if (plen)
		memcpy(p, payload, plen);
	b->len += need;
	b->nevents++;
	return 0;
}

int rw__frame_finish(struct rw_frame_builder *b, const struct rw_frame_rel *rel)
{
	size_t need = rw__frame_rel_size(rel);

	if (!b->buf || need > b->cap - b->len)
		return -ENOSPC;
	if (need) {
		uint8_t *p = b->buf + b->len;

		/* The order of the spec and of the reference encoder. */
		if (rel->seq) {
			*p++ = RW_FRAME_TAG_SEQ;
			p = put_varint(p, rel->seq);
		}
		if (rel->ack_seq) {
			*p++ = RW_FRAME_TAG_ACKSEQ;
			p = put_varint(p, rel->ack_seq);
		}
		if (rel->ack_bitmap) {
			*p++ = RW_FRAME_TAG_ACKBITMAP;
			rw_put_le64(p, rel->ack_bitmap);
			p += FIXED64_LEN;
		}
		if (rel->window) {
			*p++ = RW_FRAME_TAG_WINDOW;
			p = put_varint(p, rel->window);
		}
		b->len += need;
	}
	return (int)b->len;
}
