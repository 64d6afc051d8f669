/* SPDX-License-Identifier: MIT */
/*
 * frame.h - the Frame: plaintext of a Data packet or of a reassembled run of
 * DataFragments (docs/protocol.md §10, §13.1).
 *
 *   byte 0      channel (raw uint8)
 *   0x0a len    event: field 1, LEN; body = type byte + payload (len >= 1)
 *   0x10 v      Seq        field 2, varint, uint32  (omitted when 0)
 *   0x18 v      AckSeq     field 3, varint, uint32  (omitted when 0)
 *   0x21 8B     AckBitmap  field 4, I64 LE          (omitted when 0)
 *   0x28 v      WindowSize field 5, varint, uint32  (omitted when 0)
 *   0x7a len    padding    field 15, LEN, contents ignored (§13.7; ringwire
 *               writes it last, after everything above)
 *
 * Decoding validates the whole frame in one pass and keeps a view of the
 * input: events are then walked with an iterator whose payload pointers point
 * into that input, so nothing is copied or allocated. Encoding is a builder
 * over a caller buffer: events are added until one no longer fits (-ENOSPC),
 * which is how a sender packs events into full packets.
 *
 * Decoder choices the spec leaves open (all invisible to a v1 peer, whose
 * encoder writes events first and each reliability field at most once):
 * - Fields may come in any order and events may be interleaved with the
 *   reliability fields, as protobuf allows; events keep their wire order.
 * - A reliability field seen twice is rejected (RW_FRAME_DUPLICATE_FIELD)
 *   rather than protobuf's "last one wins": two Seq values in one frame mean
 *   a broken or hostile peer, and silently keeping one would hide it.
 * - A reliability field written with the value 0 is accepted and means the
 *   same as an omitted one (docs/protocol.md §11.4: WindowSize 0 is "omitted").
 * - Unknown fields are rejected, not skipped: the subset has no extensions
 *   but one, the padding field (docs/protocol.md §13.7), which v1 decoders
 *   skip as the unknown field it is to them.
 * - Non-minimal varints are accepted, as protobuf does, but bounded: tags and
 *   the uint32 fields take at most 5 bytes, an event length at most 10.
 */
#ifndef RW_FRAME_H
#define RW_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

/* Why a frame was rejected; RW_FRAME_OK when it was not. */
enum rw_frame_err {
	RW_FRAME_OK = 0,
	RW_FRAME_EMPTY,			/* no channel byte */
	RW_FRAME_TRUNCATED_VARINT,	/* input ends inside a varint */
	RW_FRAME_OVERLONG_VARINT,	/* too many bytes, or a 64-bit overflow */
	RW_FRAME_EVENT_PAST_END,	/* event length runs past the input */
	RW_FRAME_EMPTY_EVENT,		/* event of length 0: no type byte */
	RW_FRAME_UNKNOWN_TAG,		/* field number not in the subset */
	RW_FRAME_WIRE_TYPE,		/* known field with the wrong wire type */
	RW_FRAME_VALUE_RANGE,		/* Seq/AckSeq/WindowSize above UINT32_MAX */
	RW_FRAME_TRUNCATED_FIXED64,	/* AckBitmap with fewer than 8 bytes */
	RW_FRAME_DUPLICATE_FIELD,	/* a reliability field seen twice */
	RW_FRAME_ERR_COUNT,
};

/* Bits of rw_frame.present: which reliability fields were on the wire. */
enum {
	RW_FRAME_HAS_SEQ = 1 << 0,
	RW_FRAME_HAS_ACK_SEQ = 1 << 1,
	RW_FRAME_HAS_ACK_BITMAP = 1 << 2,
	RW_FRAME_HAS_WINDOW = 1 << 3,
};

enum {
	RW_FRAME_HEADER_LEN = 1,	/* the channel byte */
	/* Largest encoding of the four reliability fields: 3 x (1 + 5) + 1 + 8. */
	RW_FRAME_REL_MAX = 3 * (1 + 5) + 1 + 8,
};

/* The reliability fields (docs/protocol.md §11); 0 means "omitted" for each. */
struct rw_frame_rel {
	uint32_t seq;
	uint32_t ack_seq;
	uint64_t ack_bitmap;
	uint32_t window;
};

/* A validated frame: a view of the caller's buffer, which must outlive it. */
struct rw_frame {
	const uint8_t *buf;
	size_t len;
	size_t nevents;
	size_t first_event;	/* offset of the first event's tag (len if none) */
	struct rw_frame_rel rel;
	uint8_t channel;
	uint8_t present;	/* RW_FRAME_HAS_* */
	size_t padding;		/* bytes of padding fields (tags and lengths included) */
	enum rw_frame_err err;	/* reason of the last rw__frame_decode failure */
	size_t err_off;		/* offset of the field element that failed */
};

struct rw_frame_iter {
	const uint8_t *p;
	const uint8_t *end;
	size_t left;		/* events not yet returned */
};

/*
 * Validate buf[0..len) as a frame and fill f. 0 on success; -EBADMSG with
 * f->err and f->err_off set otherwise (f is then not usable for iteration).
 * Never reads outside buf[0..len).
 */
int rw__frame_decode(struct rw_frame *f, const uint8_t *buf, size_t len) RW_MUST_CHECK;

/* Start walking the events of a frame rw__frame_decode accepted. */
void rw__frame_iter_init(struct rw_frame_iter *it, const struct rw_frame *f);

/*
 * Next event in wire order: true with *type, *payload (into the frame's
 * buffer) and *plen set; false when there are no more. plen may be 0.
 */
bool rw__frame_next_event(struct rw_frame_iter *it, uint8_t *type, const uint8_t **payload, size_t *plen);

const char *rw__frame_err_str(enum rw_frame_err e);

/* ---- encoding -------------------------------------------------------- */

struct rw_frame_builder {
	uint8_t *buf;
	size_t cap;		/* whole buffer (capped at INT_MAX) */
	size_t reserve;		/* kept free by add_event for finish */
	size_t len;
	size_t nevents;
};

/* Encoded bytes of one event with a payload of plen bytes (SIZE_MAX if absurd). */
size_t rw__frame_event_size(size_t plen);

/* Encoded bytes of the non-zero fields of rel (0 for NULL). */
size_t rw__frame_rel_size(const struct rw_frame_rel *rel);

/*
 * Start a frame on channel in buf[0..cap). reserve bytes are kept free by
 * rw__frame_add_event so that rw__frame_finish can still append the
 * reliability fields: RW_FRAME_REL_MAX on a reliable channel whose ACK state
 * is only known at send time, 0 on an unreliable one. -ENOSPC if cap cannot
 * hold the channel byte and the reserve.
 */
int rw__frame_begin(struct rw_frame_builder *b, uint8_t *buf, size_t cap, uint8_t channel, size_t reserve)
	RW_MUST_CHECK;

/*
 * Append an event (payload may be NULL when plen is 0). -ENOSPC, leaving the
 * frame as it was, when it does not fit beside the reserve: the caller then
 * finishes this frame and starts another.
 */
int rw__frame_add_event(struct rw_frame_builder *b, uint8_t type, const void *payload, size_t plen) RW_MUST_CHECK;

/*
 * Append the non-zero reliability fields of rel (NULL: none) in the order of
 * the spec and return the frame's length, or -ENOSPC if they do not fit.
 */
int rw__frame_finish(struct rw_frame_builder *b, const struct rw_frame_rel *rel) RW_MUST_CHECK;

#endif
