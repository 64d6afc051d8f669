/* SPDX-License-Identifier: MIT */
/*
 * fuzz_frame.c - rw__frame_decode, the event iterator and the builder.
 *
 * The whole input is a frame (a decrypted Data payload). On rejection the
 * reason and offset must be sane. On success every event the iterator yields
 * must lie inside the input, there must be exactly nevents of them, and the
 * frame rebuilt with the builder (events in order, then the reliability
 * fields) must decode to the same channel, events and fields; it is never
 * longer than the input (the builder writes minimal varints and omits zero
 * fields) and encoding it once more gives the same bytes.
 */
#include <errno.h>
#include <stdbool.h>

#include "frame.h"
#include "fuzz.h"

struct ev {
	uint8_t type;
	const uint8_t *payload;
	size_t plen;
};

static uint8_t present_of(const struct rw_frame_rel *rel)
{
	return (uint8_t)((rel->seq ? RW_FRAME_HAS_SEQ : 0) | (rel->ack_seq ? RW_FRAME_HAS_ACK_SEQ : 0) |
			 (rel->ack_bitmap ? RW_FRAME_HAS_ACK_BITMAP : 0) | (rel->window ? RW_FRAME_HAS_WINDOW : 0));
}

/* Walk f's events into evs (capacity cap); returns the count, checking each lies in [lo, hi). */
static size_t walk(const struct rw_frame *f, struct ev *evs, size_t cap, const uint8_t *lo, const uint8_t *hi)
{
	struct rw_frame_iter it;
	uint8_t type;
	const uint8_t *payload;
	size_t plen, n = 0;

	rw__frame_iter_init(&it, f);
	while (rw__frame_next_event(&it, &type, &payload, &plen)) {
		FUZZ_CHECK(n < cap);
		/* the body is type byte + payload: both inside the buffer */
		FUZZ_CHECK(payload > lo && payload <= hi);
		FUZZ_CHECK(plen <= (size_t)(hi - payload));
		evs[n].type = type;
		evs[n].payload = payload;
		evs[n].plen = plen;
		/* the type byte sits just before the payload */
		FUZZ_CHECK(payload[-1] == type);
		n++;
	}
	/* exhausted stays exhausted */
	FUZZ_CHECK(!rw__frame_next_event(&it, &type, &payload, &plen));
	return n;
}

static size_t rebuild(const struct rw_frame *f, const struct ev *evs, size_t n, uint8_t *out, size_t cap)
{
	struct rw_frame_builder b;
	int len;

	FUZZ_CHECK(rw__frame_begin(&b, out, cap, f->channel, RW_FRAME_REL_MAX) == 0);
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(rw__frame_add_event(&b, evs[i].type, evs[i].payload, evs[i].plen) == 0);
	FUZZ_CHECK(b.nevents == n);
	len = rw__frame_finish(&b, &f->rel);
	FUZZ_CHECK(len > 0 && (size_t)len <= cap);
	FUZZ_CHECK((size_t)len == b.len);
	return (size_t)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = calloc(1, size ? size : 1);
	struct rw_frame f, g, h;
	struct ev *evs = NULL, *evs2 = NULL;
	uint8_t *out = NULL, *out2 = NULL;
	size_t n, n2, len, len2, cap;

	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	if (rw__frame_decode(&f, buf, size) != 0) {
		FUZZ_CHECK(f.err > RW_FRAME_OK && f.err < RW_FRAME_ERR_COUNT);
		FUZZ_CHECK(f.err_off <= size);
		FUZZ_CHECK(f.nevents == 0);
		FUZZ_CHECK(rw__frame_err_str(f.err) != NULL);
		/* a rejected frame iterates as empty */
		FUZZ_CHECK(walk(&f, NULL, 0, buf, buf + size) == 0);
		free(buf);
		return 0;
	}
	FUZZ_CHECK(size >= 1);
	FUZZ_CHECK(f.err == RW_FRAME_OK);
	FUZZ_CHECK(f.buf == buf && f.len == size);
	FUZZ_CHECK(f.channel == buf[0]);
	FUZZ_CHECK(f.first_event <= size);
	FUZZ_CHECK((f.nevents == 0) == (f.first_event == size));
	/* each event takes at least 3 bytes: tag, length, type */
	FUZZ_CHECK(f.nevents <= (size - 1) / 3);
	/* a field present with 0 means the same as one omitted */
	FUZZ_CHECK((present_of(&f.rel) & ~f.present) == 0);

	evs = calloc(f.nevents + 1, sizeof(*evs));
	FUZZ_CHECK(evs != NULL);
	n = walk(&f, evs, f.nevents, buf, buf + size);
	FUZZ_CHECK(n == f.nevents);

	/* round trip: rebuild, decode, compare */
	cap = size + RW_FRAME_REL_MAX;
	out = malloc(cap);
	FUZZ_CHECK(out != NULL);
	len = rebuild(&f, evs, n, out, cap);
	FUZZ_CHECK(len <= size);
	FUZZ_CHECK(rw__frame_decode(&g, out, len) == 0);
	FUZZ_CHECK(g.channel == f.channel);
	FUZZ_CHECK(g.nevents == n);
	FUZZ_CHECK(g.rel.seq == f.rel.seq && g.rel.ack_seq == f.rel.ack_seq);
	FUZZ_CHECK(g.rel.ack_bitmap == f.rel.ack_bitmap && g.rel.window == f.rel.window);
	FUZZ_CHECK(g.present == present_of(&f.rel));
	evs2 = calloc(n + 1, sizeof(*evs2));
	FUZZ_CHECK(evs2 != NULL);
	n2 = walk(&g, evs2, n, out, out + len);
	FUZZ_CHECK(n2 == n);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(evs2[i].type == evs[i].type);
		FUZZ_CHECK(evs2[i].plen == evs[i].plen);
		FUZZ_CHECK(evs[i].plen == 0 || memcmp(evs2[i].payload, evs[i].payload, evs[i].plen) == 0);
	}
	/* the builder's output is a fixed point */
	out2 = malloc(cap);
	FUZZ_CHECK(out2 != NULL);
	len2 = rebuild(&g, evs2, n2, out2, cap);
	FUZZ_CHECK(len2 == len && memcmp(out, out2, len) == 0);
	FUZZ_CHECK(rw__frame_decode(&h, out2, len2) == 0 && h.nevents == n);

	/* the size helpers agree with what the builder wrote */
	size_t want = RW_FRAME_HEADER_LEN + rw__frame_rel_size(&f.rel);
	for (size_t i = 0; i < n; i++)
		want += rw__frame_event_size(evs[i].plen);
	FUZZ_CHECK(want == len);

	free(out2);
	free(evs2);
	free(out);
	free(evs);
	free(buf);
	return 0;
}
