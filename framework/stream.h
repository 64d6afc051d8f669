/* SPDX-License-Identifier: MIT */
/*
 * stream.h - the deframer of wiresocket over TCP (docs/protocol.md §17):
 * bytes in, whole packets out. No I/O and no allocation: the caller owns a
 * buffer of RW_TCP_LEN_SIZE + max bytes, reads into the room it is shown,
 * commits what arrived and takes packets out until none is complete. A
 * packet is handed out in place (writable, for decryption in place) and
 * stays valid until the next rw__stream_space.
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
	uint8_t *buf;		/* RW_TCP_LEN_SIZE + max bytes, the caller's */
	size_t max;		/* the largest packet accepted (<= RW_TCP_MAX_PACKET) */
	size_t start, end;	/* unread bytes: buf[start, end) */
	int err;		/* sticky: the first framing error */
};

/* The buffer size a stream of packets up to max needs. */
static inline size_t rw__stream_buf_size(size_t max)
{
	return RW_TCP_LEN_SIZE + max;
}

void rw__stream_init(struct rw_stream *s, uint8_t *buf, size_t max);
/*
 * Where the next read goes, and how many bytes fit there (*room > 0 while
 * the stream is good): bytes not yet taken move to the front first.
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
