/* SPDX-License-Identifier: MIT */
/*
 * test_fragment.c - fragmenter and reassembler (docs/protocol.md §4.7, §9).
 * Every fragment is fed from a heap buffer of exactly its size, so ASan
 * catches any read past it; destroy must leave nothing behind.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fragment.h"

static uint64_t rng = 0x2545f4914f6cdd1d;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t *make_frame(size_t len)
{
	uint8_t *f = malloc(len);
	assert_non_null(f);
	for (size_t i = 0; i < len; i++)
		f[i] = (uint8_t)rnd();
	return f;
}

struct frag {
	uint8_t *p;
	size_t len;
};

/* All fragments of frame, each in its own exact-size buffer. */
static struct frag *split(const uint8_t *frame, size_t len, size_t max_packet, uint32_t id, unsigned *count)
{
	struct rw_frag_plan plan;

	assert_int_equal(rw__frag_plan(&plan, len, max_packet), 0);
	assert_true(plan.fragmented);
	struct frag *fr = calloc(plan.count, sizeof(*fr));
	uint8_t *tmp = malloc(max_packet);
	assert_non_null(fr);
	assert_non_null(tmp);
	for (unsigned i = 0; i < plan.count; i++) {
		int n = rw__frag_write(&plan, frame, id, i, tmp, max_packet);
		assert_int_equal(n, RW_SIZE_FRAGMENT_HEADER + rw__frag_chunk_len(&plan, i));
		fr[i].p = malloc((size_t)n);
		assert_non_null(fr[i].p);
		memcpy(fr[i].p, tmp, (size_t)n);
		fr[i].len = (size_t)n;
	}
	free(tmp);
	*count = plan.count;
	return fr;
}

static void free_frags(struct frag *fr, unsigned count)
{
	for (unsigned i = 0; i < count; i++)
		free(fr[i].p);
	free(fr);
}

/* A hand-made fragment: header fields and len bytes of data (filled with fill). */
static struct frag mk(uint32_t id, uint16_t index, uint16_t count, size_t len, uint8_t fill)
{
	struct frag f = { malloc(RW_SIZE_FRAGMENT_HEADER + len + 1), RW_SIZE_FRAGMENT_HEADER + len };
	assert_non_null(f.p);
	rw__frag_put_header(f.p, id, index, count);
	memset(f.p + RW_SIZE_FRAGMENT_HEADER, fill, len);
	return f;
}

static int feed(struct rw_reasm *r, struct frag f, uint64_t now, const uint8_t **out, size_t *outlen)
{
	int ret = rw__reasm_add(r, f.p, f.len, now, out, outlen);
	/* the budget holds after every call */
	assert_true(r->memory <= r->max_memory);
	assert_true(r->used <= r->nslots);
	return ret;
}

/* feed + free a hand-made fragment; returns rw__reasm_add's value */
static int feed1(struct rw_reasm *r, struct frag f, uint64_t now)
{
	const uint8_t *out;
	size_t olen;
	int ret = feed(r, f, now, &out, &olen);
	free(f.p);
	return ret;
}

static void test_plan(void **state)
{
	(void)state;
	static const struct {
		size_t len, max_packet;
		int ret;
		bool fragmented;
		unsigned count;
		size_t chunk, last;
	} t[] = {
		{ 1, 1232, 0, false, 1, 1192, 0 },
		{ 1192, 1232, 0, false, 1, 1192, 0 },	/* KAT README: one Data packet */
		{ 1193, 1232, 0, true, 2, 1192, 1 },	/* KAT README: 2 fragments */
		{ 2384, 1232, 0, true, 2, 1192, 1192 },
		{ 2385, 1232, 0, true, 3, 1192, 1 },
		{ 1192 * 10, 1232, 0, true, 10, 1192, 1192 },
		{ (size_t)RW_MAX_FRAGMENTS * 1192, 1232, 0, true, 65535, 1192, 1192 },
		{ (size_t)RW_MAX_FRAGMENTS * 1192 + 1, 1232, -EMSGSIZE, false, 0, 0, 0 },
		{ 1400, 1400, 0, true, 2, 1360, 40 },
		{ 3, 41, 0, true, 3, 1, 1 },
		{ 0, 1232, -EINVAL, false, 0, 0, 0 },
		{ 10, 40, -EINVAL, false, 0, 0, 0 },
		{ 10, 0, -EINVAL, false, 0, 0, 0 },
		{ 10, 65536, -EINVAL, false, 0, 0, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rw_frag_plan p;
		assert_int_equal(rw__frag_plan(&p, t[i].len, t[i].max_packet), t[i].ret);
		if (t[i].ret)
			continue;
		assert_int_equal(p.fragmented, t[i].fragmented);
		assert_int_equal(p.count, t[i].count);
		assert_int_equal(p.chunk, t[i].chunk);
		if (!p.fragmented) {
			assert_int_equal(rw__frag_chunk_len(&p, 0), 0);
			continue;
		}
		size_t sum = 0;
		for (unsigned j = 0; j < p.count; j++)
			sum += rw__frag_chunk_len(&p, j);
		assert_int_equal(sum, t[i].len);
		assert_int_equal(rw__frag_chunk_len(&p, 0), t[i].chunk);
		assert_int_equal(rw__frag_chunk_len(&p, p.count - 1), t[i].last);
		assert_int_equal(rw__frag_chunk_len(&p, p.count), 0);
	}
	assert_int_equal(RW_DEFAULT_MAX_PACKET - RW_FRAG_OVERHEAD, 1192);
}

static void test_write(void **state)
{
	(void)state;
	struct rw_frag_plan p;
	uint8_t frame[1300], out[1232];

	for (size_t i = 0; i < sizeof(frame); i++)
		frame[i] = (uint8_t)i;
	assert_int_equal(rw__frag_plan(&p, sizeof(frame), 1232), 0);
	assert_int_equal(p.count, 2);
	assert_int_equal(rw__frag_write(&p, frame, 0x11223344, 1, out, sizeof(out)), 8 + 108);
	const uint8_t hdr[] = { 0x44, 0x33, 0x22, 0x11, 0x01, 0x00, 0x02, 0x00 };
	assert_memory_equal(out, hdr, 8);
	assert_memory_equal(out + 8, frame + 1192, 108);
	assert_int_equal(rw__frag_write(&p, frame, 7, 0, out, sizeof(out)), 8 + 1192);
	assert_int_equal(rw_le32(out), 7);
	assert_int_equal(rw_le16(out + 4), 0);
	assert_int_equal(rw_le16(out + 6), 2);
	assert_memory_equal(out + 8, frame, 1192);

	assert_int_equal(rw__frag_write(&p, frame, 7, 2, out, sizeof(out)), -EINVAL);
	assert_int_equal(rw__frag_write(&p, frame, 7, 0, out, 8 + 1191), -ENOSPC);
	assert_int_equal(rw__frag_write(&p, frame, 7, 1, out, 8 + 108), 8 + 108);
	assert_int_equal(rw__frag_write(&p, frame, 7, 1, out, 7), -ENOSPC);
	assert_int_equal(rw__frag_plan(&p, 100, 1232), 0);
	assert_int_equal(rw__frag_write(&p, frame, 7, 0, out, sizeof(out)), -EINVAL);	/* not fragmented */

	/* 65535 fragments: the count field holds it */
	assert_int_equal(rw__frag_plan(&p, 65535, 41), 0);
	assert_int_equal(p.count, 65535);
	uint8_t one[9];
	uint8_t *f = make_frame(65535);
	assert_int_equal(rw__frag_write(&p, f, 1, 65534, one, sizeof(one)), 9);
	assert_int_equal(rw_le16(one + 4), 65534);
	assert_int_equal(rw_le16(one + 6), 65535);
	assert_int_equal(one[8], f[65534]);
	free(f);
}

static void test_ids(void **state)
{
	(void)state;
	struct rw_frag_ids ids;

	rw__frag_ids_init(&ids);
	assert_int_equal(rw__frag_ids_next(&ids), 1);
	assert_int_equal(rw__frag_ids_next(&ids), 2);
	ids.next = UINT32_MAX;
	assert_int_equal(rw__frag_ids_next(&ids), UINT32_MAX);
	assert_int_equal(rw__frag_ids_next(&ids), 1);	/* 0 skipped */
}

enum order { IN_ORDER, REVERSE, SHUFFLE, SHUFFLE_DUPS };

/*
 * Feed every fragment in the given order and check each result against a
 * model of the reassembler: a fragment it holds is a duplicate; the one that
 * makes the set whole completes the frame, which is then forgotten (so late
 * duplicates start over, and may even complete it again).
 */
static void roundtrip(size_t len, size_t max_packet, enum order order)
{
	struct rw_reasm r;
	unsigned count;
	uint8_t *frame = make_frame(len);
	struct frag *fr = split(frame, len, max_packet, 77, &count);
	unsigned n = order == SHUFFLE_DUPS ? count * 2 : count;
	unsigned *seq = malloc(n * sizeof(*seq));
	bool *held = calloc(count, sizeof(*held));
	unsigned nheld = 0, completions = 0, dups = 0;

	assert_non_null(seq);
	assert_non_null(held);
	for (unsigned i = 0; i < n; i++)
		seq[i] = order == REVERSE ? count - 1 - i : i % count;
	if (order >= SHUFFLE)
		for (unsigned i = n; i > 1; i--) {
			unsigned j = (unsigned)(rnd() % i), t = seq[i - 1];
			seq[i - 1] = seq[j];
			seq[j] = t;
		}

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *out = NULL;
		size_t olen = 0;
		unsigned k = seq[i];
		int ret = feed(&r, fr[k], 1000 + i, &out, &olen);

		if (held[k]) {
			assert_int_equal(ret, -EALREADY);
			assert_int_equal(r.err, RW_REASM_DUPLICATE);
			dups++;
			continue;
		}
		held[k] = true;
		if (++nheld < count) {
			assert_int_equal(ret, 0);
			assert_int_equal(rw__reasm_pending(&r), 1);
			continue;
		}
		assert_int_equal(ret, 1);
		assert_int_equal(olen, len);
		assert_memory_equal(out, frame, len);
		assert_int_equal(rw__reasm_pending(&r), 0);
		completions++;
		memset(held, 0, count * sizeof(*held));
		nheld = 0;
	}
	assert_true(completions >= 1);
	if (order != SHUFFLE_DUPS)
		assert_int_equal(completions, 1);
	else
		assert_int_equal(dups + completions * count + nheld, n);
	/* the delivered frame is freed by the next call; stragglers age out */
	rw__reasm_expire(&r, UINT64_MAX, RW_REASM_DEFAULT_MAX_AGE_MS);
	assert_int_equal(r.memory, 0);
	assert_int_equal(rw__reasm_pending(&r), 0);
	rw__reasm_destroy(&r);
	free(seq);
	free(held);
	free_frags(fr, count);
	free(frame);
}

static void test_roundtrip(void **state)
{
	(void)state;
	static const size_t sizes[] = { 1193, 2383, 2384, 2385, 1192 * 7, 1192 * 7 + 5, 10000, 100000, 1 << 20 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int o = IN_ORDER; o <= SHUFFLE_DUPS; o++)
			roundtrip(sizes[i], RW_DEFAULT_MAX_PACKET, (enum order)o);
	/* a peer with another MTU: chunk size learnt from the fragments */
	for (int o = IN_ORDER; o <= SHUFFLE_DUPS; o++) {
		roundtrip(5000, 540, (enum order)o);
		roundtrip(3, 41, (enum order)o);
		roundtrip(60000, 1500, (enum order)o);
	}
}

static void test_single_fragment(void **state)
{
	(void)state;
	struct rw_reasm r;
	struct frag f = mk(9, 0, 1, 50, 0xab);
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	assert_int_equal(feed(&r, f, 0, &out, &olen), 1);
	assert_ptr_equal(out, f.p + 8);	/* no copy */
	assert_int_equal(olen, 50);
	assert_int_equal(r.memory, 0);
	assert_null(r.slots);		/* nothing allocated for it */
	free(f.p);
	rw__reasm_destroy(&r);
}

static void test_malformed(void **state)
{
	(void)state;
	static const struct {
		uint16_t index, count;
		size_t len;
		int ret;
		enum rw_reasm_err err;
	} t[] = {
		{ 0, 0, 10, -EBADMSG, RW_REASM_COUNT_ZERO },
		{ 2, 2, 10, -EBADMSG, RW_REASM_INDEX_RANGE },
		{ 65535, 65535, 10, -EBADMSG, RW_REASM_INDEX_RANGE },
		{ 5, 3, 10, -EBADMSG, RW_REASM_INDEX_RANGE },
		{ 0, 2, 0, -EBADMSG, RW_REASM_EMPTY },
		{ 1, 2, 0, -EBADMSG, RW_REASM_EMPTY },
		{ 0, 1, 0, -EBADMSG, RW_REASM_EMPTY },
	};
	struct rw_reasm r;
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(feed1(&r, mk(1, t[i].index, t[i].count, t[i].len, 0), 0), t[i].ret);
		assert_int_equal(r.err, t[i].err);
		assert_int_equal(rw__reasm_pending(&r), 0);
	}
	/* shorter than the sub-header: every length 0..7, exact-size buffers */
	for (size_t len = 0; len < RW_SIZE_FRAGMENT_HEADER; len++) {
		uint8_t *p = malloc(len ? len : 1);
		assert_non_null(p);
		memset(p, 1, len);
		assert_int_equal(rw__reasm_add(&r, p, len, 0, &out, &olen), -EBADMSG);
		assert_int_equal(r.err, RW_REASM_SHORT);
		free(p);
	}
	assert_int_equal(r.memory, 0);
	rw__reasm_destroy(&r);
}

static void test_conflicting_count(void **state)
{
	(void)state;
	struct rw_reasm r;
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	assert_int_equal(feed1(&r, mk(5, 0, 3, 100, 1), 0), 0);
	assert_int_equal(feed1(&r, mk(5, 1, 4, 100, 2), 0), -EBADMSG);
	assert_int_equal(r.err, RW_REASM_COUNT_MISMATCH);
	assert_int_equal(feed1(&r, mk(5, 3, 4, 100, 2), 0), -EBADMSG);
	assert_int_equal(r.err, RW_REASM_COUNT_MISMATCH);
	assert_int_equal(feed1(&r, mk(5, 0, 1, 100, 2), 0), -EBADMSG);	/* not a one-fragment frame either */
	assert_int_equal(r.err, RW_REASM_COUNT_MISMATCH);
	/* the partial frame was kept and completes with the first count */
	assert_int_equal(feed1(&r, mk(5, 1, 3, 100, 2), 0), 0);
	struct frag f = mk(5, 2, 3, 30, 3);
	assert_int_equal(feed(&r, f, 0, &out, &olen), 1);
	free(f.p);
	assert_int_equal(olen, 230);
	assert_int_equal(out[0], 1);
	assert_int_equal(out[100], 2);
	assert_int_equal(out[229], 3);
	rw__reasm_destroy(&r);
}

static void test_length_mismatch(void **state)
{
	(void)state;
	struct rw_reasm r;
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	/* non-last fragments must all have the chunk size of the first */
	assert_int_equal(feed1(&r, mk(1, 0, 4, 100, 1), 0), 0);
	assert_int_equal(feed1(&r, mk(1, 1, 4, 99, 1), 0), -EBADMSG);
	assert_int_equal(r.err, RW_REASM_LENGTH_MISMATCH);
	assert_int_equal(feed1(&r, mk(1, 2, 4, 101, 1), 0), -EBADMSG);
	assert_int_equal(r.err, RW_REASM_LENGTH_MISMATCH);
	/* the last may be shorter, never longer */
	assert_int_equal(feed1(&r, mk(1, 3, 4, 101, 1), 0), -EBADMSG);
	assert_int_equal(r.err, RW_REASM_LENGTH_MISMATCH);
	assert_int_equal(feed1(&r, mk(1, 3, 4, 100, 1), 0), 0);

	/* last fragment first: its length bounds the chunk size learnt later */
	assert_int_equal(feed1(&r, mk(2, 2, 3, 80, 1), 0), 0);
	assert_int_equal(feed1(&r, mk(2, 0, 3, 79, 1), 0), -EBADMSG);
	assert_int_equal(r.err, RW_REASM_LENGTH_MISMATCH);
	assert_int_equal(feed1(&r, mk(2, 1, 3, 80, 2), 0), 0);
	assert_int_equal(feed1(&r, mk(2, 0, 3, 81, 1), 0), -EBADMSG);
	assert_int_equal(r.err, RW_REASM_LENGTH_MISMATCH);
	struct frag f = mk(2, 0, 3, 80, 3);
	assert_int_equal(feed(&r, f, 0, &out, &olen), 1);
	free(f.p);
	assert_int_equal(olen, 240);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[80], 2);
	assert_int_equal(out[160], 1);
	assert_int_equal(out[239], 1);

	/* duplicate of a stashed last fragment */
	assert_int_equal(feed1(&r, mk(3, 1, 2, 10, 1), 0), 0);
	assert_int_equal(feed1(&r, mk(3, 1, 2, 10, 1), 0), -EALREADY);
	assert_int_equal(r.err, RW_REASM_DUPLICATE);
	rw__reasm_destroy(&r);
}

static void test_table_full(void **state)
{
	(void)state;
	struct rw_reasm r;
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	assert_int_equal(r.nslots, RW_DEFAULT_MAX_INCOMPLETE_FRAMES);
	for (uint32_t id = 1; id <= 64; id++)
		assert_int_equal(feed1(&r, mk(id, 0, 2, 100, (uint8_t)id), 0), 0);
	assert_int_equal(rw__reasm_pending(&r), 64);
	/* the 65th frame takes the slot of the one idle longest (frame 1) */
	assert_int_equal(feed1(&r, mk(65, 0, 2, 100, 0), 10), 0);
	assert_int_equal(r.evicted, 1);
	assert_int_equal(rw__reasm_pending(&r), 64);
	assert_int_equal(feed1(&r, mk(67, 0, 1, 100, 0), 10), 1);	/* a frame needing no slot never evicts */
	assert_int_equal(r.evicted, 1);
	/* frame 1's second half no longer completes anything: it opens a new partial, evicting frame 2 */
	assert_int_equal(feed1(&r, mk(1, 1, 2, 100, 1), 11), 0);
	assert_int_equal(r.evicted, 2);
	assert_string_equal(rw__reasm_err_str(RW_REASM_TABLE_FULL), "too many partial frames");
	/* frames still held progress, and a completion frees a slot */
	struct frag f = mk(30, 1, 2, 5, 30);
	assert_int_equal(feed(&r, f, 12, &out, &olen), 1);
	free(f.p);
	assert_int_equal(olen, 105);
	assert_int_equal(rw__reasm_pending(&r), 63);
	assert_int_equal(feed1(&r, mk(66, 0, 2, 100, 0), 12), 0);
	assert_int_equal(r.evicted, 2);
	assert_int_equal(rw__reasm_pending(&r), 64);
	rw__reasm_destroy(&r);

	/* configurable */
	const struct rw_reasm_cfg cfg = { .max_incomplete = 4 };
	assert_int_equal(rw__reasm_init(&r, &cfg), 0);
	for (uint32_t id = 1; id <= 4; id++)
		assert_int_equal(feed1(&r, mk(id, 1, 3, 100, 0), 0), 0);
	/* full: the least recently touched partial (id 1) gives way, never more than 4 held */
	assert_int_equal(feed1(&r, mk(5, 1, 3, 100, 0), 1), 0);
	assert_int_equal(rw__reasm_pending(&r), 4);
	assert_int_equal(r.evicted, 1);
	/* partials idle past max_age are reclaimed without counting as evictions */
	assert_int_equal(feed1(&r, mk(2, 2, 3, 100, 0), 15000), 0);
	assert_int_equal(rw__reasm_expire(&r, 20001, 20000), 2);	/* 3 and 4: idle since 0 */
	assert_int_equal(rw__reasm_pending(&r), 2);	/* id 2, and id 5 (20 s is not more than 20 s) */
	assert_int_equal(r.evicted, 1);
	assert_int_equal(feed1(&r, mk(2, 0, 3, 100, 0), 20001), 1);
	rw__reasm_destroy(&r);
}

static void test_expiry(void **state)
{
	(void)state;
	struct rw_reasm r;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	for (uint32_t id = 1; id <= 10; id++)
		assert_int_equal(feed1(&r, mk(id, 0, 5, 1000, 0), id <= 5 ? 0 : 15000), 0);
	size_t before = r.memory;
	assert_true(before >= 10 * 1000);
	assert_int_equal(rw__reasm_expire(&r, 10000, RW_REASM_DEFAULT_MAX_AGE_MS), 0);
	assert_int_equal(rw__reasm_expire(&r, 20000, RW_REASM_DEFAULT_MAX_AGE_MS), 0);
	/* a fragment refreshes its partial frame */
	assert_int_equal(feed1(&r, mk(1, 1, 5, 1000, 0), 19000), 0);
	assert_int_equal(rw__reasm_expire(&r, 20001, RW_REASM_DEFAULT_MAX_AGE_MS), 4);
	assert_int_equal(rw__reasm_pending(&r), 6);
	assert_true(r.memory < before);
	/* a duplicate does not refresh it */
	assert_int_equal(feed1(&r, mk(1, 1, 5, 1000, 0), 38000), -EALREADY);
	assert_int_equal(rw__reasm_expire(&r, 35001, RW_REASM_DEFAULT_MAX_AGE_MS), 5);
	assert_int_equal(rw__reasm_pending(&r), 1);
	assert_int_equal(rw__reasm_expire(&r, 39001, RW_REASM_DEFAULT_MAX_AGE_MS), 1);
	assert_int_equal(rw__reasm_pending(&r), 0);
	assert_int_equal(r.memory, 0);
	/* the slots are reusable */
	assert_int_equal(feed1(&r, mk(1, 0, 2, 10, 0), 40000), 0);
	assert_int_equal(feed1(&r, mk(1, 1, 2, 10, 0), 40000), 1);
	rw__reasm_expire(&r, 40000, 1);
	assert_int_equal(r.memory, 0);
	rw__reasm_destroy(&r);
}

static void test_oversize(void **state)
{
	(void)state;
	struct rw_reasm r;
	const struct rw_reasm_cfg cfg = { .max_frame = 10000 };
	unsigned count;
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, &cfg), 0);
	assert_int_equal(r.max_memory, RW_REASM_DEFAULT_MAX_MEMORY);

	/* exactly max_frame */
	uint8_t *frame = make_frame(10001);
	struct frag *fr = split(frame, 10000, 1232, 1, &count);
	for (unsigned i = 0; i < count; i++)
		assert_int_equal(feed(&r, fr[i], 0, &out, &olen), i + 1 == count);
	assert_int_equal(olen, 10000);
	assert_memory_equal(out, frame, 10000);
	free_frags(fr, count);

	/* one byte more: found out at the last fragment, then the frame is discarded */
	fr = split(frame, 10001, 1232, 2, &count);
	assert_int_equal(count, 9);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(feed(&r, fr[i], 0, &out, &olen), 0);
	assert_int_equal(feed(&r, fr[8], 0, &out, &olen), -EMSGSIZE);
	assert_int_equal(r.err, RW_REASM_TOO_BIG);
	assert_int_equal(r.memory, 0);
	for (unsigned i = 4; i < 8; i++) {
		assert_int_equal(feed(&r, fr[i], 0, &out, &olen), -ECANCELED);
		assert_int_equal(r.err, RW_REASM_DISCARDED);
	}
	assert_int_equal(rw__reasm_pending(&r), 1);	/* remembered until it ages out */
	assert_int_equal(rw__reasm_expire(&r, 20001, RW_REASM_DEFAULT_MAX_AGE_MS), 1);
	/* last fragment first: found out when the chunk size is learnt */
	assert_int_equal(feed(&r, fr[8], 30000, &out, &olen), 0);
	assert_int_equal(feed(&r, fr[3], 30000, &out, &olen), -EMSGSIZE);
	assert_int_equal(r.err, RW_REASM_TOO_BIG);
	assert_int_equal(r.memory, 0);
	free_frags(fr, count);
	free(frame);

	/* a count that can never fit is refused before any state is made */
	assert_int_equal(feed1(&r, mk(3, 0, 65535, 1192, 0), 40000), -EMSGSIZE);
	assert_int_equal(r.err, RW_REASM_TOO_BIG);
	assert_int_equal(feed1(&r, mk(3, 65534, 65535, 1, 0), 40000), -EMSGSIZE);
	/* a last fragment first: chunk >= its length, so 10 x 1001 > 10000 already */
	assert_int_equal(feed1(&r, mk(5, 9, 10, 1001, 0), 40000), -EMSGSIZE);
	assert_int_equal(r.err, RW_REASM_TOO_BIG);
	assert_int_equal(feed1(&r, mk(6, 9, 10, 1000, 0), 40000), 0);	/* 10 x 1000 may fit */
	assert_int_equal(rw__reasm_pending(&r), 2);
	assert_int_equal(rw__reasm_expire(&r, 40000 + 20001, RW_REASM_DEFAULT_MAX_AGE_MS), 2);
	assert_int_equal(feed1(&r, mk(4, 0, 1, 10001, 0), 40000), -EMSGSIZE);
	assert_int_equal(rw__reasm_pending(&r), 0);
	rw__reasm_destroy(&r);
}

/* Two big frames that do not both fit the budget: one completes, the other is given up. */
static void test_memory_budget(void **state)
{
	(void)state;
	struct rw_reasm r;
	const struct rw_reasm_cfg cfg = { .max_frame = 100000, .max_memory = 150000 };
	unsigned ca, cb;
	const uint8_t *out;
	size_t olen;
	uint8_t *a = make_frame(90000), *b = make_frame(90000);
	struct frag *fa = split(a, 90000, 1232, 10, &ca);
	struct frag *fb = split(b, 90000, 1232, 11, &cb);
	int done_a = 0, nomem = 0, discarded = 0, ok_b = 0;

	assert_int_equal(rw__reasm_init(&r, &cfg), 0);
	for (unsigned i = 0; i < ca; i++) {
		int ret = feed(&r, fa[i], 0, &out, &olen);
		if (ret == 1) {
			assert_int_equal(olen, 90000);
			assert_memory_equal(out, a, 90000);
			done_a++;
		} else {
			assert_int_equal(ret, 0);
		}
		ret = feed(&r, fb[i], 0, &out, &olen);
		if (ret == -ENOMEM) {
			assert_int_equal(r.err, RW_REASM_NO_MEMORY);
			nomem++;
		} else if (ret == -ECANCELED) {
			discarded++;
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(nomem, 0);	/* nothing of b is taken once it failed */
			ok_b++;
		}
	}
	assert_int_equal(done_a, 1);
	assert_int_equal(nomem, 1);
	assert_true(discarded > 0);
	assert_int_equal(ok_b + nomem + discarded, (int)cb);
	rw__reasm_destroy(&r);
	free_frags(fa, ca);
	free_frags(fb, cb);
	free(a);
	free(b);

	/* init checks */
	const struct rw_reasm_cfg bad1 = { .max_frame = 2000, .max_memory = 1000 };
	const struct rw_reasm_cfg bad2 = { .max_incomplete = RW_REASM_MAX_SLOTS + 1 };
	const struct rw_reasm_cfg big = { .max_frame = 8 << 20 };
	assert_int_equal(rw__reasm_init(&r, &bad1), -EINVAL);
	assert_int_equal(rw__reasm_init(&r, &bad2), -EINVAL);
	assert_int_equal(rw__reasm_init(&r, &big), 0);
	assert_int_equal(r.max_memory, 8 << 20);
	rw__reasm_destroy(&r);
}

static void test_interleaved(void **state)
{
	(void)state;
	enum { N = 6 };
	static const size_t sizes[N] = { 1193, 5000, 30000, 2384, 12345, 70000 };
	struct rw_reasm r;
	uint8_t *frames[N];
	struct frag *fr[N];
	unsigned count[N], next[N] = { 0 }, done = 0, left = N;
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	for (int i = 0; i < N; i++) {
		frames[i] = make_frame(sizes[i]);
		fr[i] = split(frames[i], sizes[i], 1232, 100 + (uint32_t)i, &count[i]);
	}
	/* random interleaving, each frame in order within itself but the first one reversed */
	while (left) {
		int i = (int)(rnd() % N);
		if (next[i] == count[i])
			continue;
		unsigned k = i == 0 ? count[i] - 1 - next[i] : next[i];
		int ret = feed(&r, fr[i][k], 0, &out, &olen);
		if (++next[i] < count[i]) {
			assert_int_equal(ret, 0);
			continue;
		}
		assert_int_equal(ret, 1);
		assert_int_equal(olen, sizes[i]);
		assert_memory_equal(out, frames[i], sizes[i]);
		done++;
		left--;
	}
	assert_int_equal(done, N);
	assert_int_equal(rw__reasm_pending(&r), 0);
	for (int i = 0; i < N; i++) {
		free_frags(fr[i], count[i]);
		free(frames[i]);
	}
	rw__reasm_destroy(&r);
}

/* destroy with partials, stashes and a delivered frame outstanding: ASan checks for leaks */
static void test_destroy(void **state)
{
	(void)state;
	struct rw_reasm r;
	const uint8_t *out;
	size_t olen;

	assert_int_equal(rw__reasm_init(&r, NULL), 0);
	assert_int_equal(feed1(&r, mk(1, 0, 3, 500, 0), 0), 0);
	assert_int_equal(feed1(&r, mk(2, 2, 3, 500, 0), 0), 0);	/* stashed */
	assert_int_equal(feed1(&r, mk(3, 0, 2, 500, 0), 0), 0);
	struct frag f = mk(3, 1, 2, 5, 0);
	assert_int_equal(feed(&r, f, 0, &out, &olen), 1);
	free(f.p);
	assert_true(r.memory > 0);
	rw__reasm_destroy(&r);
	assert_int_equal(r.memory, 0);
	assert_null(r.slots);
	rw__reasm_destroy(&r);	/* twice is harmless */
}

static void test_err_str(void **state)
{
	(void)state;
	for (int i = 0; i < RW_REASM_ERR_COUNT; i++) {
		const char *s = rw__reasm_err_str((enum rw_reasm_err)i);
		assert_non_null(s);
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, rw__reasm_err_str((enum rw_reasm_err)j));
	}
	assert_string_equal(rw__reasm_err_str(RW_REASM_ERR_COUNT), "unknown reassembly error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plan),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_single_fragment),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_conflicting_count),
		cmocka_unit_test(test_length_mismatch),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_oversize),
		cmocka_unit_test(test_memory_budget),
		cmocka_unit_test(test_interleaved),
		cmocka_unit_test(test_destroy),
		cmocka_unit_test(test_err_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
