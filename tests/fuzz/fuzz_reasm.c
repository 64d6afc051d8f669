/* SPDX-License-Identifier: MIT */
/*
 * fuzz_reasm.c - the fragment reassembler as a state machine.
 *
 * Input layout:
 *   4 bytes  config: max_incomplete 1..8, max_frame, max_memory, max_age_ms
 *            (small, so the table, size and memory limits are all reached)
 *   then records, each:
 *     ctl    bits 0-4: time step (0..31 x 37 ms); bit 5: call rw__reasm_expire
 *            (with an age from the next byte) instead of adding; bit 6: compact
 *            sub-header; bit 7: time jump (x 4096 ms)
 *     len    bytes of the record's payload
 *     compact:  id, index, count (1 byte each, expanded to the 8-byte
 *               sub-header), then len bytes of fragment data
 *     raw:      len bytes = the fragment plaintext as received (sub-header + data)
 *
 * Fake time only moves forward. Checks:
 * - r->memory never exceeds max_memory, pending never exceeds max_incomplete;
 * - a completed frame is at most max_frame bytes, and it is exactly the
 *   concatenation, by index, of the fragments of that frame_id the
 *   reassembler accepted (a shadow list kept here); a frame of one fragment
 *   is the fragment's own data, in place;
 * - at the end, expiring everything leaves no memory charged and nothing
 *   pending, and rw__reasm_destroy frees the rest (LeakSanitizer checks).
 */
#include <errno.h>
#include <stdbool.h>

#include "fragment.h"
#include "fuzz.h"

enum {
	MAX_RECORDS = 4096,
	STEP_MS = 37,
	JUMP_MS = 4096,
};

/* One fragment the reassembler took: where its data lies in the input copy. */
struct shadow {
	uint32_t id;
	uint16_t index;
	bool live;
	const uint8_t *data;
	size_t len;
};

struct state {
	struct rw_reasm r;
	struct shadow *sh;
	size_t nsh;
	unsigned max_incomplete;
};

static void remember(struct state *st, uint32_t id, uint16_t index, const uint8_t *data, size_t len)
{
	/* a later take of the same (id, index) supersedes an earlier one */
	for (size_t i = 0; i < st->nsh; i++) {
		if (st->sh[i].live && st->sh[i].id == id && st->sh[i].index == index) {
			st->sh[i].data = data;
			st->sh[i].len = len;
			return;
		}
	}
	FUZZ_CHECK(st->nsh < MAX_RECORDS);
	st->sh[st->nsh++] = (struct shadow){ .id = id, .index = index, .live = true, .data = data, .len = len };
}

static struct shadow *lookup(struct state *st, uint32_t id, uint16_t index)
{
	for (size_t i = 0; i < st->nsh; i++)
		if (st->sh[i].live && st->sh[i].id == id && st->sh[i].index == index)
			return &st->sh[i];
	return NULL;
}

/* A frame of count fragments completed: compare with what was taken, then forget it. */
static void check_complete(struct state *st, uint32_t id, uint16_t count, const uint8_t *frame, size_t frame_len)
{
	size_t off = 0, chunk = 0;

	FUZZ_CHECK(frame_len >= 1 && frame_len <= st->r.max_frame);
	for (unsigned i = 0; i < count; i++) {
		struct shadow *s = lookup(st, id, (uint16_t)i);

		FUZZ_CHECK(s != NULL);
		if (i == 0)
			chunk = s->len;
		if (i + 1 < count)
			FUZZ_CHECK(s->len == chunk);	/* every non-last fragment has the chunk size */
		else
			FUZZ_CHECK(s->len >= 1 && s->len <= chunk);
		FUZZ_CHECK(off + s->len <= frame_len);
		FUZZ_CHECK(memcmp(frame + off, s->data, s->len) == 0);
		off += s->len;
		s->live = false;
	}
	FUZZ_CHECK(off == frame_len);
}

static void repoint(struct state *st, const uint8_t *from, const uint8_t *to)
{
	for (size_t i = 0; i < st->nsh; i++)
		if (st->sh[i].live && st->sh[i].data == from)
			st->sh[i].data = to;
}

static void check_limits(const struct state *st)
{
	FUZZ_CHECK(st->r.memory <= st->r.max_memory);
	FUZZ_CHECK(rw__reasm_pending(&st->r) <= st->max_incomplete);
}

static void add(struct state *st, const uint8_t *plain, size_t len, uint64_t now)
{
	const uint8_t *frame = NULL;
	size_t frame_len = 0;
	int ret = rw__reasm_add(&st->r, plain, len, now, &frame, &frame_len);

	check_limits(st);
	if (ret < 0) {
		FUZZ_CHECK(st->r.err > RW_REASM_OK && st->r.err < RW_REASM_ERR_COUNT);
		FUZZ_CHECK(rw__reasm_err_str(st->r.err) != NULL);
		switch (st->r.err) {
		case RW_REASM_DUPLICATE:
			FUZZ_CHECK(ret == -EALREADY);
			break;
		case RW_REASM_TABLE_FULL:
			FUZZ_CHECK(ret == -ENOBUFS);
			FUZZ_CHECK(rw__reasm_pending(&st->r) == st->max_incomplete);
			break;
		case RW_REASM_TOO_BIG:
			FUZZ_CHECK(ret == -EMSGSIZE);
			break;
		case RW_REASM_NO_MEMORY:
			FUZZ_CHECK(ret == -ENOMEM);
			break;
		case RW_REASM_DISCARDED:
			FUZZ_CHECK(ret == -ECANCELED);
			break;
		default:
			FUZZ_CHECK(ret == -EBADMSG);
			break;
		}
		if (len < RW_FRAG_OFF_DATA)
			FUZZ_CHECK(st->r.err == RW_REASM_SHORT);
		return;
	}
	FUZZ_CHECK(st->r.err == RW_REASM_OK);
	FUZZ_CHECK(len > RW_FRAG_OFF_DATA);

	uint32_t id = rw_le32(plain + RW_FRAG_OFF_FRAME_ID);
	uint16_t index = rw_le16(plain + RW_FRAG_OFF_INDEX);
	uint16_t count = rw_le16(plain + RW_FRAG_OFF_COUNT);
	const uint8_t *data = plain + RW_FRAG_OFF_DATA;
	size_t dlen = len - RW_FRAG_OFF_DATA;

	FUZZ_CHECK(count >= 1 && index < count);
	if (ret == 0) {
		FUZZ_CHECK(count > 1);
		remember(st, id, index, data, dlen);
		return;
	}
	FUZZ_CHECK(ret == 1);
	FUZZ_CHECK(frame != NULL);
	if (count == 1) {
		/* handed out in place */
		FUZZ_CHECK(frame == data && frame_len == dlen);
		FUZZ_CHECK(frame_len <= st->r.max_frame);
		return;
	}
	remember(st, id, index, data, dlen);
	check_complete(st, id, count, frame, frame_len);
	/* the completed frame is handed over: its buffer is charged until the next call */
	FUZZ_CHECK(st->r.done == frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct state st;
	struct rw_reasm_cfg cfg;
	struct fuzz_in in;
	uint8_t *copy;
	uint64_t now = 1000;
	size_t records = 0;

	/* the shadow points into this copy: it lives until the end */
	copy = calloc(1, size ? size : 1);
	FUZZ_CHECK(copy != NULL);
	if (size)
		memcpy(copy, data, size);
	fuzz_in_init(&in, copy, size);

	memset(&st, 0, sizeof(st));
	st.sh = calloc(MAX_RECORDS, sizeof(*st.sh));
	FUZZ_CHECK(st.sh != NULL);

	uint8_t c0 = fuzz_u8(&in), c1 = fuzz_u8(&in), c2 = fuzz_u8(&in), c3 = fuzz_u8(&in);
	memset(&cfg, 0, sizeof(cfg));
	cfg.max_incomplete = 1 + (c0 & 7);
	cfg.max_frame = 1 + (size_t)c1 * 8;		/* 1 .. 2041 bytes */
	cfg.max_memory = cfg.max_frame + (size_t)c2 * 24;	/* up to ~8 KiB */
	cfg.max_age_ms = 1 + (uint64_t)c3 * 100;
	if (c0 & 0x80) {
		/* sometimes the defaults: big limits, 64 slots */
		memset(&cfg, 0, sizeof(cfg));
	}
	FUZZ_CHECK(rw__reasm_init(&st.r, &cfg) == 0);
	st.max_incomplete = st.r.nslots;

	while (in.left >= 2 && records < MAX_RECORDS) {
		uint8_t ctl = fuzz_u8(&in);
		size_t len = fuzz_u8(&in);

		records++;
		now += (uint64_t)(ctl & 0x1f) * STEP_MS;
		if (ctl & 0x80)
			now += JUMP_MS;
		if (ctl & 0x20) {
			/* expire with an age taken from the length byte */
			uint64_t age = (uint64_t)len * 100;
			unsigned before = rw__reasm_pending(&st.r);
			unsigned freed = rw__reasm_expire(&st.r, now, age);

			FUZZ_CHECK(freed <= before);
			FUZZ_CHECK(rw__reasm_pending(&st.r) == before - freed);
			FUZZ_CHECK(st.r.done == NULL);
			check_limits(&st);
			continue;
		}
		if (ctl & 0x40) {
			uint8_t id = fuzz_u8(&in), index = fuzz_u8(&in), count = fuzz_u8(&in);
			size_t dlen = len < in.left ? len : in.left;
			/* exactly the fragment: reads past it are reports */
			uint8_t *one = malloc(RW_FRAG_OFF_DATA + dlen);

			FUZZ_CHECK(one != NULL);
			rw__frag_put_header(one, id, index, count);
			memcpy(one + RW_FRAG_OFF_DATA, in.p, dlen);
			add(&st, one, RW_FRAG_OFF_DATA + dlen, now);
			/* the shadow must outlive `one`: point it at the same bytes in the input copy */
			repoint(&st, one + RW_FRAG_OFF_DATA, in.p);
			free(one);
			in.p += dlen;
			in.left -= dlen;
		} else {
			size_t n = len < in.left ? len : in.left;
			/* exactly the fragment: reads past it are reports */
			uint8_t *one = malloc(n ? n : 1);

			FUZZ_CHECK(one != NULL);
			if (n)
				memcpy(one, in.p, n);
			add(&st, one, n, now);
			repoint(&st, one + RW_FRAG_OFF_DATA, in.p + RW_FRAG_OFF_DATA);
			free(one);
			in.p += n;
			in.left -= n;
		}
	}

	/* age everything out: nothing may stay charged or pending */
	rw__reasm_expire(&st.r, UINT64_MAX, 0);
	FUZZ_CHECK(rw__reasm_pending(&st.r) == 0);
	FUZZ_CHECK(st.r.used == 0);
	FUZZ_CHECK(st.r.memory == 0);
	rw__reasm_destroy(&st.r);

	free(st.sh);
	free(copy);
	return 0;
}
