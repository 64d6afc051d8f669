/* SPDX-License-Identifier: MIT */
/*
 * fuzz_replay.c - the receive counter window against a reference model.
 *
 * Input: a sequence of operations, each a flag byte then a counter:
 *   flag bit 0      1: rw__replay_update, 0: rw__replay_classify only
 *   flag bits 1-2   how the counter is written:
 *                   0  8 bytes, absolute (little-endian)
 *                   1  2 bytes, a signed offset from the model's head + 1
 *                   2  2 bytes, head - 4096 + (offset % 8)  ... the window's lower edge
 *                   3  1 byte,  UINT64_MAX - byte           ... the counter limit
 *
 * The model is the spec's definition written as plainly as possible
 * (docs/protocol.md §8, replay.h): nothing accepted yet means every counter below
 * UINT64_MAX is new; otherwise with head the greatest accepted counter, the
 * window is [head - 4095, head]; below it is too old, in it a counter is a
 * duplicate when it was accepted before, above it is new. The model keeps
 * accepted counters as a plain array of flags indexed by head - counter and
 * shifts it when head moves: a different mechanism from the ring of bits in
 * replay.c. Every verdict must agree; a rejected update and every classify
 * must leave the window bytes unchanged.
 */
#include <stdbool.h>

#include "fuzz.h"
#include "replay.h"

enum { W = RW_REPLAY_WINDOW };

struct model {
	bool any;		/* something was accepted */
	uint64_t head;		/* greatest accepted counter */
	uint8_t seen[W];	/* seen[d]: head - d was accepted (d < W) */
};

static enum rw_replay_verdict model_classify(const struct model *m, uint64_t c)
{
	if (c == UINT64_MAX)
		return RW_REPLAY_LIMIT;
	if (!m->any || c > m->head)
		return RW_REPLAY_OK;
	if (m->head - c > W - 1)
		return RW_REPLAY_TOO_OLD;
	return m->seen[m->head - c] ? RW_REPLAY_DUPLICATE : RW_REPLAY_OK;
}

static void model_accept(struct model *m, uint64_t c)
{
	if (!m->any) {
		memset(m->seen, 0, sizeof(m->seen));
		m->any = true;
		m->head = c;
	} else if (c > m->head) {
		uint64_t shift = c - m->head;

		if (shift >= W) {
			memset(m->seen, 0, sizeof(m->seen));
		} else {
			memmove(m->seen + shift, m->seen, W - (size_t)shift);
			memset(m->seen, 0, (size_t)shift);
		}
		m->head = c;
	}
	m->seen[m->head - c] = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct model *m = calloc(1, sizeof(*m));
	struct rw_replay r, before;
	struct fuzz_in in;

	FUZZ_CHECK(m != NULL);
	rw__replay_init(&r);
	fuzz_in_init(&in, data, size);
	while (in.left) {
		uint8_t flag = fuzz_u8(&in);
		uint64_t base = m->any ? m->head + 1 : 0;
		uint64_t c;

		switch ((flag >> 1) & 3) {
		case 0:
			c = fuzz_u64(&in);
			break;
		case 1:
			c = base + (uint64_t)(int64_t)(int16_t)fuzz_u16(&in);
			break;
		case 2:
			c = base - W - 1 + (fuzz_u16(&in) % 8);
			break;
		default:
			c = UINT64_MAX - fuzz_u8(&in);
			break;
		}

		enum rw_replay_verdict want = model_classify(m, c);
		enum rw_replay_verdict got = rw__replay_classify(&r, c);

		FUZZ_CHECK(got == want);
		FUZZ_CHECK(rw__replay_check(&r, c) == (want == RW_REPLAY_OK));
		FUZZ_CHECK(rw__replay_verdict_str(got) != NULL);
		if (flag & 1) {
			before = r;
			got = rw__replay_update(&r, c);
			FUZZ_CHECK(got == want);
			if (got == RW_REPLAY_OK) {
				model_accept(m, c);
				/* accepted once, a duplicate from now on */
				FUZZ_CHECK(rw__replay_classify(&r, c) == RW_REPLAY_DUPLICATE);
			} else {
				FUZZ_CHECK(memcmp(&before, &r, sizeof(r)) == 0);
			}
		}
	}
	free(m);
	return 0;
}
