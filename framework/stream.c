/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the TCP deframer (stream.h). One contiguous buffer, large
 * enough for the packet arriving (the caller swaps in a larger one when a
 * longer packet is announced): a packet is always whole in it, so it is
 * handed up in place (decrypted there) and only the unfinished tail of a
 * read is ever moved, once per read.
 */
#include "stream.h"

#include <errno.h>
#include <string.h>

void rw__stream_init(struct rw_stream *s, uint8_t *buf, size_t cap, size_t max)
{
	s->buf = buf;
	s->cap = cap;
	s->max = max > RW_TCP_MAX_PACKET ? RW_TCP_MAX_PACKET : max;
	s->start = s->end = 0;
	s->err = 0;
}

size_t rw__stream_want(const struct rw_stream *s)
{
	size_t n;

	if (s->end - s->start < RW_TCP_LEN_SIZE)
		return RW_TCP_LEN_SIZE;
	n = rw_be16(s->buf + s->start);
	/* a bad length is refused by rw__stream_next; never size a buffer by it */
	return n == 0 || n > s->max ? RW_TCP_LEN_SIZE : RW_TCP_LEN_SIZE + n;
}

void rw__stream_rebuf(struct rw_stream *s, uint8_t *buf, size_t cap)
{
	size_t have = s->end - s->start;

	if (have > cap)
		have = cap;	/* never: the caller keeps what is held */
	memmove(buf, s->buf + s->start, have);
	s->buf = buf;
	s->cap = cap;
	s->start = 0;
	s->end = have;
}

uint8_t *rw__stream_space(struct rw_stream *s, size_t *room)
{
	if (s->start) {
		memmove(s->buf, s->buf + s->start, s->end - s->start);
		s->end -= s->start;
		s->start = 0;
	}
	*room = s->err ? 0 : s->cap - s->end;
	return s->buf + s->end;
}

void rw__stream_commit(struct rw_stream *s, size_t n)
{
	s->end += n <= s->cap - s->end ? n : s->cap - s->end;
}

int rw__stream_next(struct rw_stream *s, uint8_t **pkt, size_t *len)
{
	size_t have = s->end - s->start, n;

	if (s->err)
		return s->err;
	if (have < RW_TCP_LEN_SIZE)
		return 0;
	n = rw_be16(s->buf + s->start);
	if (rw_unlikely(n == 0 || n > s->max)) {
		s->err = n == 0 ? -EBADMSG : -EMSGSIZE;
		return s->err;
	}
	if (have < RW_TCP_LEN_SIZE + n)
		return 0;
	*pkt = s->buf + s->start + RW_TCP_LEN_SIZE;
	*len = n;
	s->start += RW_TCP_LEN_SIZE + n;
	if (s->start == s->end)
		s->start = s->end = 0;	/* drained: the next read starts at the front, nothing to move */
	return 1;
}
