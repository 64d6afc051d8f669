/* SPDX-License-Identifier: MIT */
/*
 * fuzz_stream.c - the TCP deframer (stream.h) against a reference model.
 *
 * Input: byte 0 picks the largest packet (max = 1 + byte0 * 257, so 1 ..
 * 65536 and over the cap), byte 1 seeds how the stream is cut into reads,
 * the rest is the stream itself. The stream is fed in reads of the sizes a
 * small generator draws from the seed (1 byte, a few bytes, a whole room),
 * taking every whole packet after each read, in a buffer of 2 to 65 bytes
 * that is swapped for the full size when a longer packet is announced (and
 * back, at the generator's whim, once it fits again). The model walks the whole
 * input at once: length, packet, length, packet ... until a length of 0 or
 * above max, or the end. The packets, their order and the error must be the
 * same however the stream was cut; bytes beyond a framing error are never
 * delivered; the deframer never writes outside its buffer (ASan).
 */
#include <errno.h>

#include "fuzz.h"
#include "stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rw_stream s;
	size_t max, pos = 0, mpos, npk = 0;
	uint32_t rng;
	uint8_t *buf, *little;
	size_t small;
	int merr = 0;

	if (size < 2)
		return 0;
	max = 1 + (size_t)data[0] * 257;
	if (max > RW_TCP_MAX_PACKET)
		max = RW_TCP_MAX_PACKET;
	rng = data[1] * 2654435761u + 1;
	small = RW_TCP_LEN_SIZE + (data[1] & 0x3f);	/* a small buffer, grown when needed */
	data += 2;
	size -= 2;
	buf = malloc(rw__stream_buf_size(max));
	little = malloc(small);
	FUZZ_CHECK(buf && little);
	rw__stream_init(&s, little, small, max);
	mpos = 0;
	while (pos < size) {
		size_t room, n;
		uint8_t *at;
		uint8_t *pkt;
		size_t len;
		int r;

		/* as tcp.c: the full buffer when a longer packet is announced, the small one again when it fits */
		FUZZ_CHECK(rw__stream_want(&s) <= rw__stream_buf_size(max));
		if (rw__stream_want(&s) > s.cap)
			rw__stream_rebuf(&s, buf, rw__stream_buf_size(max));
		else if (s.buf == buf && rw__stream_pending(&s) <= small && rw__stream_want(&s) <= small &&
			 (rng >> 30))
			rw__stream_rebuf(&s, little, small);
		at = rw__stream_space(&s, &room);

		if (!room) {
			FUZZ_CHECK(s.err);
			break;
		}
		rng = rng * 1103515245u + 12345u;
		switch ((rng >> 16) & 3) {
		case 0: n = 1; break;
		case 1: n = 1 + (rng >> 20) % 7; break;
		case 2: n = 1 + (rng >> 8) % 1500; break;
		default: n = room; break;
		}
		if (n > room)
			n = room;
		if (n > size - pos)
			n = size - pos;
		memcpy(at, data + pos, n);
		rw__stream_commit(&s, n);
		pos += n;
		while ((r = rw__stream_next(&s, &pkt, &len)) == 1) {
			/* the model's next packet */
			size_t ml;

			FUZZ_CHECK(mpos + RW_TCP_LEN_SIZE <= size);
			ml = (size_t)data[mpos] << 8 | data[mpos + 1];
			FUZZ_CHECK(ml >= 1 && ml <= max);
			FUZZ_CHECK(len == ml && mpos + RW_TCP_LEN_SIZE + ml <= pos);
			FUZZ_CHECK(memcmp(pkt, data + mpos + RW_TCP_LEN_SIZE, len) == 0);
			FUZZ_CHECK(pkt >= s.buf && pkt + len <= s.buf + s.cap);
			mpos += RW_TCP_LEN_SIZE + ml;
			npk++;
		}
		FUZZ_CHECK(r == 0 || r == -EBADMSG || r == -EMSGSIZE);
		if (r < 0)
			break;
	}
	/* the model from where the deframer stopped delivering: the rest of its verdict */
	while (mpos + RW_TCP_LEN_SIZE <= size) {
		size_t ml = (size_t)data[mpos] << 8 | data[mpos + 1];

		if (ml == 0 || ml > max) {
			merr = ml == 0 ? -EBADMSG : -EMSGSIZE;
			break;
		}
		/* a whole packet left undelivered would be a bug (it was all fed) */
		FUZZ_CHECK(mpos + RW_TCP_LEN_SIZE + ml > size);
		break;
	}
	FUZZ_CHECK(s.err == merr);
	if (!merr)
		FUZZ_CHECK(rw__stream_pending(&s) == size - mpos);
	(void)npk;
	free(buf);
	free(little);
	return 0;
}
