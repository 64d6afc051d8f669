/* SPDX-License-Identifier: MIT */
/*
 * fragment.h - splitting large frames into DataFragments and putting them
 * back together (docs/protocol.md §4.7, §9).
 *
 * A frame longer than max_packet - 16 - 8 - 16 bytes (1192 at the default
 * 1232) goes out as DataFragments; each carries, inside the AEAD, the 8-byte
 * sub-header (frame_id u32, index u16, count u16, little-endian) and one
 * chunk of that size, the last chunk shorter. frame_id counts from 1 per
 * session.
 *
 * The receiver keeps at most max_incomplete partial frames per session in a
 * fixed table scanned linearly (64 entries: cheaper than hashing, and the
 * bound is the point). Its rules, beyond the spec's:
 * - The chunk size is learnt from the first non-last fragment of a frame
 *   (the sender's MTU may differ from ours). Every other non-last fragment
 *   must have exactly that size, the last one 1..chunk bytes; a fragment with
 *   no data is rejected. The first fragment seen fixes frag_count; one that
 *   disagrees is rejected and the partial frame kept.
 * - A reassembled frame may not exceed max_frame bytes (default 1 MiB, not
 *   the ~78 MB the wire allows), and everything a reassembler holds (frame
 *   buffers, received-bitmaps, the frame last handed out) stays within
 *   max_memory (default 4 MiB). Buffers grow as fragments arrive, so a frame
 *   costs what has arrived, not what its count claims.
 * - A partial frame that breaks a limit (too big, out of memory) can never
 *   complete, since v1 does not resend single fragments: it is freed and its
 *   frame_id remembered as discarded until it ages out, so that its remaining
 *   fragments are dropped cheaply and do not compete with healthy frames.
 * - With the table full, any partial idle for longer than max_age_ms is
 *   reclaimed; failing that, the partial idle longest gives way to the new
 *   frame_id (counted in evicted). The draft (docs/protocol.md §9.2) drops the newcomer instead,
 *   but v1 resends only whole frames under new ids, so under loss it is the
 *   old partials that can never complete: keeping them stalls every large
 *   frame until they age out. Either way at most max_incomplete are held.
 * - A fragment that arrives after its frame completed opens a new partial
 *   that will age out: the replay window stops replayed packets, and the
 *   reference never sends a fragment twice, so this is not worth a history.
 */
#ifndef RW_FRAGMENT_H
#define RW_FRAGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

enum {
	/* Frame bytes carried by one packet: max_packet less header, sub-header, tag. */
	RW_FRAG_OVERHEAD = RW_SIZE_DATA_HEADER + RW_SIZE_FRAGMENT_HEADER + RW_TAG_LEN,
	RW_REASM_DEFAULT_MAX_FRAME = 1 << 20,
	RW_REASM_DEFAULT_MAX_MEMORY = 4 << 20,
	/* docs/protocol.md §9.2: partial frames are collected after 2 x KeepaliveInterval */
	RW_REASM_DEFAULT_MAX_AGE_MS = 2 * RW_KEEPALIVE_INTERVAL_S * 1000,
	/* bound on max_incomplete, so the linear scan stays short */
	RW_REASM_MAX_SLOTS = 4096,
};

_Static_assert(RW_DEFAULT_MAX_PACKET - RW_FRAG_OVERHEAD == RW_DEFAULT_MAX_FRAG_PAYLOAD, "docs/protocol.md §9.1");

/* ---- sending --------------------------------------------------------- */

/* How a frame of frame_len bytes is sent. */
struct rw_frag_plan {
	size_t frame_len;
	size_t chunk;		/* frame bytes per fragment (maxFragPayload) */
	unsigned count;		/* fragments; 1 when not fragmented */
	bool fragmented;	/* false: send one Data packet */
};

/*
 * Plan the sending of a frame. -EINVAL for an empty frame or a max_packet
 * that leaves no room for data, -EMSGSIZE for more than 65535 fragments.
 */
int rw__frag_plan(struct rw_frag_plan *p, size_t frame_len, size_t max_packet) RW_MUST_CHECK;

/* Frame bytes in fragment index of a fragmented plan (0 for a bad index). */
size_t rw__frag_chunk_len(const struct rw_frag_plan *p, unsigned index);

/* The 8-byte plaintext sub-header, for callers that encrypt header and chunk without copying. */
void rw__frag_put_header(uint8_t out[RW_SIZE_FRAGMENT_HEADER], uint32_t frame_id, uint16_t index, uint16_t count);

/*
 * Write the plaintext of fragment index (sub-header + chunk) of frame to
 * out[0..cap). Returns its length, -EINVAL for a plan that is not fragmented
 * or an index out of range, -ENOSPC if cap is too small.
 */
int rw__frag_write(const struct rw_frag_plan *p, const uint8_t *frame, uint32_t frame_id, unsigned index,
		   uint8_t *out, size_t cap) RW_MUST_CHECK;

/* Per-session frame_id counter: 1, 2, ... (0 is skipped when it wraps). */
struct rw_frag_ids {
	uint32_t next;
};

void rw__frag_ids_init(struct rw_frag_ids *ids);
uint32_t rw__frag_ids_next(struct rw_frag_ids *ids);

/* ---- receiving ------------------------------------------------------- */

/* Why a fragment was not taken; RW_REASM_OK when it was. */
enum rw_reasm_err {
	RW_REASM_OK = 0,
	RW_REASM_SHORT,			/* shorter than the 8-byte sub-header */
	RW_REASM_EMPTY,			/* no fragment data */
	RW_REASM_COUNT_ZERO,		/* frag_count 0 */
	RW_REASM_INDEX_RANGE,		/* frag_index >= frag_count */
	RW_REASM_COUNT_MISMATCH,	/* frag_count differs from the frame's first fragment */
	RW_REASM_LENGTH_MISMATCH,	/* non-last != chunk size, or last > chunk size */
	RW_REASM_DUPLICATE,		/* same frame_id + index already held */
	RW_REASM_TABLE_FULL,		/* too many partial frames */
	RW_REASM_TOO_BIG,		/* frame would exceed max_frame */
	RW_REASM_NO_MEMORY,		/* max_memory reached or allocation failed */
	RW_REASM_DISCARDED,		/* frame_id already given up on */
	RW_REASM_ERR_COUNT,
};

/* Limits; 0 in any field selects its default. */
struct rw_reasm_cfg {
	unsigned max_incomplete;	/* partial frames (RW_DEFAULT_MAX_INCOMPLETE_FRAMES) */
	size_t max_frame;		/* bytes of one reassembled frame */
	size_t max_memory;		/* bytes held in all; >= max_frame */
	uint64_t max_age_ms;		/* idle partials reclaimed when the table is full */
};

/* A partial frame with no fragment for this long may give way when memory is short. */
enum { RW_REASM_STALL_MS = 200 };

struct rw_reasm_slot;

struct rw_reasm {
	struct rw_reasm_slot *slots;	/* allocated with the first fragment */
	unsigned nslots;
	unsigned used;			/* slots holding a partial or discarded frame */
	size_t max_frame;
	size_t max_memory;
	uint64_t max_age_ms;
	size_t memory;			/* bytes held now, counted against max_memory */
	uint8_t *done;			/* the frame handed out by the last call */
	size_t done_size;
	enum rw_reasm_err err;		/* reason of the last rejection */
	uint64_t evicted;		/* partial frames given up to make room for newer ones */
};

/* -EINVAL for limits out of range (max_memory < max_frame, too many slots). */
int rw__reasm_init(struct rw_reasm *r, const struct rw_reasm_cfg *cfg) RW_MUST_CHECK;
void rw__reasm_destroy(struct rw_reasm *r);

/*
 * Take the decrypted plaintext of one DataFragment (sub-header + data),
 * received at now_ms. Returns:
 *   1  the frame is complete: *frame and *frame_len describe it. The bytes are
 *      valid until the next call on r (add, expire, destroy); for a frame of
 *      one fragment they are inside plain itself, with plain's lifetime.
 *   0  stored, the frame is still incomplete.
 *   <0 not stored, r->err says why: -EBADMSG (SHORT, EMPTY, COUNT_ZERO,
 *      INDEX_RANGE, COUNT_MISMATCH, LENGTH_MISMATCH), -EALREADY (DUPLICATE),
 *      -ENOBUFS (TABLE_FULL), -EMSGSIZE (TOO_BIG), -ENOMEM (NO_MEMORY),
 *      -ECANCELED (DISCARDED).
 */
int rw__reasm_add(struct rw_reasm *r, const uint8_t *plain, size_t len, uint64_t now_ms, const uint8_t **frame,
		  size_t *frame_len);

/*
 * Free every partial (or discarded) frame that received nothing for more
 * than max_age_ms (spec: RW_REASM_DEFAULT_MAX_AGE_MS), and the frame last
 * handed out. Returns how many partial frames were freed.
 */
unsigned rw__reasm_expire(struct rw_reasm *r, uint64_t now_ms, uint64_t max_age_ms);

/* Partial frames held (discarded frame_ids included). */
unsigned rw__reasm_pending(const struct rw_reasm *r);

const char *rw__reasm_err_str(enum rw_reasm_err e);

#endif
