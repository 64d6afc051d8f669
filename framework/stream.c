/* SPDX-License-Identifier: MIT */
/*
 * stream.c - the TCP deframer (stream.h). One contiguous buffer the size of
 * the largest packet plus its prefix: a packet is always whole in it, so it
 * is handed up in place (decrypted there) and only the unfinished tail of a
 * read is ever moved, once per read.
 */
#include "stream.h"

#include <errno.h>
#include <string.h>

void rw__stream_init(struct rw_stream *s, uint8_t *buf, size_t max)
{
	s->buf = buf;
	s->max = max > RW_TCP_MAX_PACKET ? RW_TCP_MAX_PACKET : max;
	s->start = s->end = 0;
	s->err = 0;
}

uint8_t *rw__stream_space(struct rw_stream *s, size_t *room)
{
	if (s->start) {
		memmove(s->buf, s->buf + s->start, s->end - s->start);
		s->end -= s->start;
		s->start = 0;
	}
	*room = s->err ? 0 : rw__stream_buf_size(s->max) - s->end;
	return s->buf + s->end;
}

void rw__stream_commit(struct rw_stream *s, size_t n)
{
	size_t cap = rw__stream_buf_size(s->max);

	s->end += n <= cap - s->end ? n : cap - s->end;
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
