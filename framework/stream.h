/* SPDX-License-Identifier: MIT */
/*
 * stream.h - the deframer of wiresocket over TCP (docs/protocol.md §17):
 * bytes in, whole packets out. No I/O and no allocation: the caller owns the
 * buffer, reads into the room it is shown, commits what arrived and takes
 * packets out until none is complete. A packet is handed out in place
 * (writable, for decryption in place) and stays valid until the next
 * rw__stream_space. The buffer may be small (an idle connection's) and be
 * swapped for a larger one when a longer packet is announced
 * (rw__stream_want, rw__stream_rebuf): RW_TCP_LEN_SIZE + max bytes always
 * suffice.
 *
 * Whatever way the stream was cut (a length split over two reads, a packet
 * byte by byte, many packets in one read) the packets come out the same. A
 * length of 0 or above max is an error that ends the stream: nothing after
 * it can be trusted to start on a packet boundary, and the length is never
 * used to size anything.
 */
#ifndef RW_STREAM_H
#define RW_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct rw_stream {
	uint8_t *buf;		/* cap bytes, the caller's */
	size_t cap;
	size_t max;		/* the largest packet accepted (<= RW_TCP_MAX_PACKET) */
	size_t start, end;	/* unread bytes: buf[start, end) */
	int err;		/* sticky: the first framing error */
};

/* The buffer size a stream of packets up to max needs. */
static inline size_t rw__stream_buf_size(size_t max)
{
	return RW_TCP_LEN_SIZE + max;
}

/* A stream of packets up to max bytes in buf (cap >= RW_TCP_LEN_SIZE bytes). */
void rw__stream_init(struct rw_stream *s, uint8_t *buf, size_t cap, size_t max);
/*
 * The buffer size the packet now arriving needs: its prefix and, once the
 * prefix is in, all of it (at most rw__stream_buf_size(max)). When it is
 * above cap, rw__stream_space has no room: swap in a larger buffer first.
 */
size_t rw__stream_want(const struct rw_stream *s);
/* Move what is held to buf of cap bytes (cap >= rw__stream_pending); the old buffer is the caller's again. */
void rw__stream_rebuf(struct rw_stream *s, uint8_t *buf, size_t cap);
/*
 * Where the next read goes, and how many bytes fit there (*room > 0 while
 * the stream is good and the buffer holds rw__stream_want): bytes not yet
 * taken move to the front first.
 */
uint8_t *rw__stream_space(struct rw_stream *s, size_t *room);
/* n bytes arrived at the place rw__stream_space gave (n <= its room). */
void rw__stream_commit(struct rw_stream *s, size_t n);
/*
 * The next whole packet: 1 with *pkt and *len set, 0 when more bytes are
 * needed, -EBADMSG for a length of 0 and -EMSGSIZE for one above max (both
 * sticky: the stream is over).
 */
int rw__stream_next(struct rw_stream *s, uint8_t **pkt, size_t *len);
/* Bytes received that are not yet a whole packet (a peer stopped mid-packet?). */
static inline size_t rw__stream_pending(const struct rw_stream *s)
{
	return s->end - s->start;
}

/* The prefix of a packet of len bytes (1..RW_TCP_MAX_PACKET). */
static inline void rw__stream_put_len(uint8_t hdr[RW_TCP_LEN_SIZE], size_t len)
{
	rw_put_be16(hdr, (uint16_t)len);
}

#endif
