/* SPDX-License-Identifier: MIT */
/*
 * test_frame.c - Frame encode/decode (docs/protocol.md §10): the KAT frames byte for
 * byte, round trips, every rejection reason, every prefix of valid frames
 * (run under ASan: each prefix lives in a buffer of exactly its size).
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

#include "frame.h"

/* KAT frames (tests/vectors/wiresocket-v1-kat.txt) */
#define KAT_HELLO "000a060168656c6c6f"
#define KAT_RELIABLE "070a0302dead10011805210100000000000080288002"

static size_t unhex(uint8_t *out, size_t cap, const char *hex)
{
	size_t n = 0;

	while (*hex) {
		if (*hex == ' ') {
			hex++;
			continue;
		}
		unsigned v;
		assert_true(hex[1] != '\0');
		assert_int_equal(sscanf(hex, "%2x", &v), 1);
		assert_true(n < cap);
		out[n++] = (uint8_t)v;
		hex += 2;
	}
	return n;
}

/* A copy of hex in a heap buffer of exactly its length, so ASan sees overreads. */
static uint8_t *heap_hex(const char *hex, size_t *len)
{
	uint8_t tmp[256];

	*len = unhex(tmp, sizeof(tmp), hex);
	uint8_t *p = malloc(*len ? *len : 1);
	assert_non_null(p);
	memcpy(p, tmp, *len);
	return p;
}

/* The KAT file, when the test runs with RW_VECTORS, must agree with the constants above. */
static void kat_file_agrees(const char *prefix, const char *expect)
{
	const char *dir = getenv("RW_VECTORS");
	char path[4096], line[4096];

	if (!dir)
		return;
	snprintf(path, sizeof(path), "%s/wiresocket-v1-kat.txt", dir);
	FILE *f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s; RW_VECTORS must name the tests/vectors directory", path);
	bool found = false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, prefix, strlen(prefix)) != 0)
			continue;
		char *eq = strstr(line, " = ");
		assert_non_null(eq);
		eq[3 + strcspn(eq + 3, "\r\n")] = '\0';
		assert_string_equal(eq + 3, expect);
		found = true;
	}
	fclose(f);
	assert_true(found);
}

static void test_kat_encode(void **state)
{
	(void)state;
	uint8_t buf[64], want[64];
	struct rw_frame_builder b;
	size_t n;

	kat_file_agrees("frame(ch=0,", KAT_HELLO);
	kat_file_agrees("frame(ch=7,", KAT_RELIABLE);

	assert_int_equal(rw__frame_begin(&b, buf, sizeof(buf), 0, 0), 0);
	assert_int_equal(rw__frame_add_event(&b, 1, "hello", 5), 0);
	n = unhex(want, sizeof(want), KAT_HELLO);
	assert_int_equal(rw__frame_finish(&b, NULL), (int)n);
	assert_memory_equal(buf, want, n);

	const uint8_t dead[] = { 0xde, 0xad };
	const struct rw_frame_rel rel = {
		.seq = 1, .ack_seq = 5, .ack_bitmap = UINT64_C(0x8000000000000001), .window = 256,
	};
	assert_int_equal(rw__frame_begin(&b, buf, sizeof(buf), 7, RW_FRAME_REL_MAX), 0);
	assert_int_equal(rw__frame_add_event(&b, 2, dead, sizeof(dead)), 0);
	n = unhex(want, sizeof(want), KAT_RELIABLE);
	assert_int_equal(rw__frame_rel_size(&rel), 1 + 1 + 1 + 1 + 1 + 8 + 1 + 2);
	assert_int_equal(rw__frame_finish(&b, &rel), (int)n);
	assert_memory_equal(buf, want, n);
}

static void test_kat_decode(void **state)
{
	(void)state;
	struct rw_frame f;
	struct rw_frame_iter it;
	uint8_t type;
	const uint8_t *pl;
	size_t plen, len;
	uint8_t *buf;

	buf = heap_hex(KAT_HELLO, &len);
	assert_int_equal(rw__frame_decode(&f, buf, len), 0);
	assert_int_equal(f.err, RW_FRAME_OK);
	assert_int_equal(f.channel, 0);
	assert_int_equal(f.nevents, 1);
	assert_int_equal(f.present, 0);
	assert_int_equal(f.rel.seq, 0);
	assert_int_equal(f.rel.ack_seq, 0);
	assert_int_equal(f.rel.ack_bitmap, 0);
	assert_int_equal(f.rel.window, 0);
	rw__frame_iter_init(&it, &f);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 1);
	assert_int_equal(plen, 5);
	assert_memory_equal(pl, "hello", 5);
	assert_ptr_equal(pl, buf + 4);	/* a view, not a copy */
	assert_false(rw__frame_next_event(&it, &type, &pl, &plen));
	free(buf);

	buf = heap_hex(KAT_RELIABLE, &len);
	assert_int_equal(rw__frame_decode(&f, buf, len), 0);
	assert_int_equal(f.channel, 7);
	assert_int_equal(f.nevents, 1);
	assert_int_equal(f.present,
			 RW_FRAME_HAS_SEQ | RW_FRAME_HAS_ACK_SEQ | RW_FRAME_HAS_ACK_BITMAP | RW_FRAME_HAS_WINDOW);
	assert_int_equal(f.rel.seq, 1);
	assert_int_equal(f.rel.ack_seq, 5);
	assert_true(f.rel.ack_bitmap == UINT64_C(0x8000000000000001));
	assert_int_equal(f.rel.window, 256);
	rw__frame_iter_init(&it, &f);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 2);
	assert_int_equal(plen, 2);
	assert_int_equal(pl[0], 0xde);
	assert_int_equal(pl[1], 0xad);
	assert_false(rw__frame_next_event(&it, &type, &pl, &plen));
	free(buf);
}

/* Deterministic xorshift, so failures reproduce. */
static uint64_t rng = 0x9e3779b97f4a7c15;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_roundtrip_many(void **state)
{
	(void)state;
	enum { CAP = 1 << 16, MAXEV = 400 };
	uint8_t *buf = malloc(CAP), *src = malloc(CAP);
	struct { uint8_t type; size_t off, len; } ev[MAXEV];
	assert_non_null(buf);
	assert_non_null(src);
	for (size_t i = 0; i < CAP; i++)
		src[i] = (uint8_t)rnd();

	for (int round = 0; round < 200; round++) {
		struct rw_frame_builder b;
		struct rw_frame_rel rel = { 0 };
		size_t n = 0, expect_len = 1;
		uint8_t ch = (uint8_t)rnd();

		if (round % 2) {
			rel.seq = (uint32_t)rnd();
			rel.ack_seq = round % 3 ? (uint32_t)rnd() : 0;
			rel.ack_bitmap = round % 5 ? rnd() : 0;
			rel.window = (uint32_t)(rnd() >> (rnd() % 32));
		}
		assert_int_equal(rw__frame_begin(&b, buf, CAP, ch, RW_FRAME_REL_MAX), 0);
		size_t nev = rnd() % MAXEV;
		for (size_t i = 0; i < nev; i++) {
			/* mostly small events, a few across varint boundaries */
			size_t len = rnd() % 8 == 0 ? rnd() % 300 : rnd() % 4;
			ev[n].type = (uint8_t)rnd();
			ev[n].off = rnd() % (CAP - len);
			ev[n].len = len;
			int ret = rw__frame_add_event(&b, ev[n].type, src + ev[n].off, len);
			assert_int_equal(ret, 0);
			expect_len += rw__frame_event_size(len);
			n++;
		}
		expect_len += rw__frame_rel_size(&rel);
		int flen = rw__frame_finish(&b, &rel);
		assert_int_equal(flen, (int)expect_len);

		uint8_t *copy = malloc((size_t)flen);
		assert_non_null(copy);
		memcpy(copy, buf, (size_t)flen);
		struct rw_frame f;
		assert_int_equal(rw__frame_decode(&f, copy, (size_t)flen), 0);
		assert_int_equal(f.channel, ch);
		assert_int_equal(f.nevents, n);
		assert_int_equal(f.rel.seq, rel.seq);
		assert_int_equal(f.rel.ack_seq, rel.ack_seq);
		assert_true(f.rel.ack_bitmap == rel.ack_bitmap);
		assert_int_equal(f.rel.window, rel.window);
		assert_int_equal(!!(f.present & RW_FRAME_HAS_SEQ), rel.seq != 0);
		assert_int_equal(!!(f.present & RW_FRAME_HAS_ACK_BITMAP), rel.ack_bitmap != 0);

		struct rw_frame_iter it;
		uint8_t type;
		const uint8_t *pl;
		size_t plen, i = 0;
		rw__frame_iter_init(&it, &f);
		while (rw__frame_next_event(&it, &type, &pl, &plen)) {
			assert_true(i < n);
			assert_int_equal(type, ev[i].type);
			assert_int_equal(plen, ev[i].len);
			if (plen)
				assert_memory_equal(pl, src + ev[i].off, plen);
			assert_true(pl >= copy && pl + plen <= copy + flen);
			i++;
		}
		assert_int_equal(i, n);
		free(copy);
	}
	free(buf);
	free(src);
}

/* Event sizes at the varint boundaries of the body length (plen + 1). */
static void test_event_sizes(void **state)
{
	(void)state;
	static const struct { size_t plen, size; } t[] = {
		{ 0, 3 },		/* 0a 01 type */
		{ 1, 4 },
		{ 126, 129 },		/* body 127: 1-byte length */
		{ 127, 131 },		/* body 128: 2-byte length */
		{ 16382, 16386 },	/* body 16383 */
		{ 16383, 16387 + 1 },	/* body 16384: 3-byte length */
		{ 100000, 100000 + 1 + 3 + 1 },
	};
	uint8_t *buf = malloc(200000), *pay = calloc(1, 200000);
	assert_non_null(buf);
	assert_non_null(pay);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rw_frame_builder b;
		struct rw_frame f;
		struct rw_frame_iter it;
		uint8_t type;
		const uint8_t *pl;
		size_t plen;

		assert_int_equal(rw__frame_event_size(t[i].plen), t[i].size);
		memset(pay, (int)i + 1, t[i].plen);
		/* a buffer of exactly channel + event: fits; one byte less: -ENOSPC */
		assert_int_equal(rw__frame_begin(&b, buf, 1 + t[i].size - 1, 3, 0), 0);
		assert_int_equal(rw__frame_add_event(&b, 9, pay, t[i].plen), -ENOSPC);
		assert_int_equal(b.len, 1);
		assert_int_equal(rw__frame_begin(&b, buf, 1 + t[i].size, 3, 0), 0);
		assert_int_equal(rw__frame_add_event(&b, 9, t[i].plen ? pay : NULL, t[i].plen), 0);
		assert_int_equal(rw__frame_finish(&b, NULL), (int)(1 + t[i].size));
		assert_int_equal(rw__frame_decode(&f, buf, 1 + t[i].size), 0);
		rw__frame_iter_init(&it, &f);
		assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
		assert_int_equal(type, 9);
		assert_int_equal(plen, t[i].plen);
		if (plen)
			assert_memory_equal(pl, pay, plen);
		assert_false(rw__frame_next_event(&it, &type, &pl, &plen));
	}
	free(buf);
	free(pay);
}

/* A zero-payload event is a 1-byte body: just the type (a channel close, docs/protocol.md §13.1). */
static void test_zero_payload(void **state)
{
	(void)state;
	uint8_t buf[16];
	struct rw_frame_builder b;
	struct rw_frame f;
	struct rw_frame_iter it;
	uint8_t type;
	const uint8_t *pl;
	size_t plen;

	assert_int_equal(rw__frame_begin(&b, buf, sizeof(buf), 5, 0), 0);
	assert_int_equal(rw__frame_add_event(&b, RW_EVENT_CHANNEL_CLOSE, NULL, 0), 0);
	assert_int_equal(rw__frame_add_event(&b, 0, NULL, 0), 0);
	assert_int_equal(rw__frame_finish(&b, NULL), 7);
	const uint8_t want[] = { 5, 0x0a, 1, 0xff, 0x0a, 1, 0 };
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(rw__frame_decode(&f, buf, 7), 0);
	assert_int_equal(f.nevents, 2);
	rw__frame_iter_init(&it, &f);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 255);
	assert_int_equal(plen, 0);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 0);
	assert_int_equal(plen, 0);
	assert_false(rw__frame_next_event(&it, &type, &pl, &plen));
}

/* Standalone ACK (docs/protocol.md §10.3): no events, Seq 0. */
static void test_standalone_ack(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct rw_frame_builder b;
	struct rw_frame f;
	struct rw_frame_iter it;
	uint8_t type;
	const uint8_t *pl;
	size_t plen;
	const struct rw_frame_rel rel = { .ack_seq = 300, .ack_bitmap = 5, .window = 1 };

	assert_int_equal(rw__frame_begin(&b, buf, sizeof(buf), 9, RW_FRAME_REL_MAX), 0);
	int n = rw__frame_finish(&b, &rel);
	const uint8_t want[] = { 9, 0x18, 0xac, 0x02, 0x21, 5, 0, 0, 0, 0, 0, 0, 0, 0x28, 1 };
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(rw__frame_decode(&f, buf, (size_t)n), 0);
	assert_int_equal(f.nevents, 0);
	assert_int_equal(f.rel.seq, 0);
	assert_false(f.present & RW_FRAME_HAS_SEQ);
	assert_int_equal(f.rel.ack_seq, 300);
	assert_true(f.rel.ack_bitmap == 5);
	assert_int_equal(f.rel.window, 1);
	rw__frame_iter_init(&it, &f);
	assert_false(rw__frame_next_event(&it, &type, &pl, &plen));

	/* and the smallest frame of all: only a channel byte */
	assert_int_equal(rw__frame_begin(&b, buf, 1, 4, 0), 0);
	assert_int_equal(rw__frame_finish(&b, NULL), 1);
	assert_int_equal(rw__frame_decode(&f, buf, 1), 0);
	assert_int_equal(f.channel, 4);
	assert_int_equal(f.nevents, 0);
	assert_int_equal(f.present, 0);
}

/* Builder capacity: -ENOSPC leaves the frame intact; the reserve keeps room for finish. */
static void test_builder_capacity(void **state)
{
	(void)state;
	uint8_t buf[100], ref[100];
	struct rw_frame_builder b;
	const struct rw_frame_rel worst = { UINT32_MAX, UINT32_MAX, UINT64_MAX, UINT32_MAX };
	int added = 0;

	assert_int_equal(rw__frame_rel_size(&worst), RW_FRAME_REL_MAX);
	assert_int_equal(rw__frame_begin(&b, buf, 0, 0, 0), -ENOSPC);
	assert_int_equal(rw__frame_add_event(&b, 1, "x", 1), -ENOSPC);	/* failed begin: unusable */
	assert_int_equal(rw__frame_begin(&b, buf, RW_FRAME_REL_MAX, 0, RW_FRAME_REL_MAX), -ENOSPC);
	assert_int_equal(rw__frame_begin(&b, buf, 1 + RW_FRAME_REL_MAX, 0, RW_FRAME_REL_MAX), 0);
	assert_int_equal(rw__frame_add_event(&b, 1, NULL, 0), -ENOSPC);
	assert_int_equal(rw__frame_finish(&b, &worst), 1 + RW_FRAME_REL_MAX);

	/* coalesce 10-byte events until one does not fit */
	assert_int_equal(rw__frame_begin(&b, buf, sizeof(buf), 1, RW_FRAME_REL_MAX), 0);
	for (;;) {
		size_t before = b.len;
		memcpy(ref, buf, before);
		int ret = rw__frame_add_event(&b, 7, "0123456789", 10);
		if (ret) {
			assert_int_equal(ret, -ENOSPC);
			assert_int_equal(b.len, before);
			assert_memory_equal(buf, ref, before);
			break;
		}
		added++;
	}
	/* (100 - 1 - 27) / 13 */
	assert_int_equal(added, 5);
	assert_int_equal(b.nevents, 5);
	assert_int_equal(rw__frame_finish(&b, &worst), 1 + 5 * 13 + RW_FRAME_REL_MAX);

	/* without a reserve, finish reports what does not fit */
	assert_int_equal(rw__frame_begin(&b, buf, 20, 1, 0), 0);
	assert_int_equal(rw__frame_add_event(&b, 7, "0123456789", 10), 0);
	assert_int_equal(rw__frame_finish(&b, &worst), -ENOSPC);
	const struct rw_frame_rel small = { .seq = 1 };
	assert_int_equal(rw__frame_finish(&b, &small), 16);
}

struct bad {
	const char *hex;
	enum rw_frame_err err;
	size_t off;
};

static void test_malformed(void **state)
{
	(void)state;
	static const struct bad t[] = {
		{ "", RW_FRAME_EMPTY, 0 },
		{ "00 0a", RW_FRAME_TRUNCATED_VARINT, 1 },
		{ "00 0a 80", RW_FRAME_TRUNCATED_VARINT, 1 },
		{ "00 0a 80 80 80 80 80 80 80 80 80", RW_FRAME_TRUNCATED_VARINT, 1 },
		{ "00 10", RW_FRAME_TRUNCATED_VARINT, 1 },
		{ "00 10 ff", RW_FRAME_TRUNCATED_VARINT, 1 },
		{ "00 28 80 80", RW_FRAME_TRUNCATED_VARINT, 1 },
		{ "00 8a", RW_FRAME_TRUNCATED_VARINT, 1 },	/* inside a tag */
		/* uint32 fields: 6 bytes is overlong, 5 bytes above UINT32_MAX out of range */
		{ "00 10 ff ff ff ff ff 01", RW_FRAME_OVERLONG_VARINT, 1 },
		{ "00 10 80 80 80 80 80", RW_FRAME_OVERLONG_VARINT, 1 },
		{ "00 10 80 80 80 80 10", RW_FRAME_VALUE_RANGE, 1 },
		{ "00 18 ff ff ff ff 1f", RW_FRAME_VALUE_RANGE, 1 },
		{ "00 28 80 80 80 80 7f", RW_FRAME_VALUE_RANGE, 1 },
		/* event length: 11 bytes, or a 10th byte that overflows 64 bits */
		{ "00 0a 80 80 80 80 80 80 80 80 80 80 01", RW_FRAME_OVERLONG_VARINT, 1 },
		{ "00 0a 80 80 80 80 80 80 80 80 80 02", RW_FRAME_OVERLONG_VARINT, 1 },
		{ "00 0a ff ff ff ff ff ff ff ff ff 01", RW_FRAME_EVENT_PAST_END, 1 },
		{ "00 0a 05 01 02", RW_FRAME_EVENT_PAST_END, 1 },
		{ "00 0a 02 01", RW_FRAME_EVENT_PAST_END, 1 },
		{ "00 0a 02 01 00 0a 03 05", RW_FRAME_EVENT_PAST_END, 5 },
		{ "00 0a 00", RW_FRAME_EMPTY_EVENT, 1 },
		{ "00 0a 01 07 0a 00", RW_FRAME_EMPTY_EVENT, 4 },
		{ "00 0a 80 00", RW_FRAME_EMPTY_EVENT, 1 },	/* non-minimal 0 */
		/* tags */
		{ "00 00", RW_FRAME_UNKNOWN_TAG, 1 },		/* field 0 */
		{ "00 30 00", RW_FRAME_UNKNOWN_TAG, 1 },	/* field 6 */
		{ "00 0c", RW_FRAME_WIRE_TYPE, 1 },		/* field 1 start-group */
		{ "00 08 00", RW_FRAME_WIRE_TYPE, 1 },		/* field 1 varint */
		{ "00 12 01 00", RW_FRAME_WIRE_TYPE, 1 },	/* field 2 LEN */
		{ "00 1d 00 00 00 00", RW_FRAME_WIRE_TYPE, 1 },	/* field 3 I32 */
		{ "00 20 00", RW_FRAME_WIRE_TYPE, 1 },		/* field 4 varint */
		{ "00 29 00 00 00 00 00 00 00 00", RW_FRAME_WIRE_TYPE, 1 },	/* field 5 I64 */
		{ "00 ff ff ff ff 0f", RW_FRAME_UNKNOWN_TAG, 1 },
		{ "00 8a 80 80 80 80 00", RW_FRAME_OVERLONG_VARINT, 1 },
		{ "00 0a 01 01 f8 01", RW_FRAME_UNKNOWN_TAG, 4 },	/* field 31 after an event */
		/* AckBitmap */
		{ "00 21", RW_FRAME_TRUNCATED_FIXED64, 1 },
		{ "00 21 01 02 03 04 05 06 07", RW_FRAME_TRUNCATED_FIXED64, 1 },
		/* repeated reliability fields */
		{ "00 10 01 10 02", RW_FRAME_DUPLICATE_FIELD, 3 },
		{ "00 18 01 0a 01 01 18 01", RW_FRAME_DUPLICATE_FIELD, 6 },
		{ "00 21 00 00 00 00 00 00 00 00 21 00 00 00 00 00 00 00 00", RW_FRAME_DUPLICATE_FIELD, 10 },
		{ "00 28 00 28 00", RW_FRAME_DUPLICATE_FIELD, 3 },
		/* accepted on purpose, see frame.h */
		{ "00 10 ff ff ff ff 0f", RW_FRAME_OK, 0 },	/* Seq = UINT32_MAX */
		{ "00 0a 81 80 80 80 80 80 80 80 80 00 01", RW_FRAME_OK, 0 },	/* 10-byte length 1 */
		{ "00 8a 00 02 01 00", RW_FRAME_OK, 0 },	/* 2-byte event tag */
		{ "00 10 01 0a 02 05 aa 18 02", RW_FRAME_OK, 0 },	/* event between fields */
		{ "00 28 00", RW_FRAME_OK, 0 },			/* explicit zero */
		{ "ff", RW_FRAME_OK, 0 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct rw_frame f;
		size_t len;
		uint8_t *buf = heap_hex(t[i].hex, &len);
		int ret = rw__frame_decode(&f, len ? buf : NULL, len);

		if (t[i].err != f.err)
			print_error("case %zu \"%s\": got %s, want %s\n", i, t[i].hex, rw__frame_err_str(f.err),
				    rw__frame_err_str(t[i].err));
		assert_int_equal(f.err, t[i].err);
		assert_int_equal(ret, t[i].err == RW_FRAME_OK ? 0 : -EBADMSG);
		if (ret) {
			assert_int_equal(f.err_off, t[i].off);
			assert_int_equal(f.nevents, 0);
		}
		free(buf);
	}
}

static void test_accepted_oddities(void **state)
{
	(void)state;
	struct rw_frame f;
	struct rw_frame_iter it;
	uint8_t type;
	const uint8_t *pl;
	size_t plen, len;
	uint8_t *buf;

	/* events on both sides of the reliability fields keep their order */
	buf = heap_hex("03 0a 02 05 aa 10 07 0a 01 06 21 01 00 00 00 00 00 00 00 0a 03 08 bb cc", &len);
	assert_int_equal(rw__frame_decode(&f, buf, len), 0);
	assert_int_equal(f.nevents, 3);
	assert_int_equal(f.rel.seq, 7);
	assert_true(f.rel.ack_bitmap == 1);
	rw__frame_iter_init(&it, &f);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 5);
	assert_int_equal(plen, 1);
	assert_int_equal(pl[0], 0xaa);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 6);
	assert_int_equal(plen, 0);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 8);
	assert_int_equal(plen, 2);
	assert_memory_equal(pl, "\xbb\xcc", 2);
	assert_false(rw__frame_next_event(&it, &type, &pl, &plen));
	free(buf);

	/* explicit zero: present on the wire, value 0 (= omitted) */
	buf = heap_hex("00 28 00 10 80 00", &len);
	assert_int_equal(rw__frame_decode(&f, buf, len), 0);
	assert_int_equal(f.present, RW_FRAME_HAS_WINDOW | RW_FRAME_HAS_SEQ);
	assert_int_equal(f.rel.window, 0);
	assert_int_equal(f.rel.seq, 0);
	free(buf);

	/* 5-byte Seq encoding of UINT32_MAX and a non-minimal tag */
	buf = heap_hex("00 90 00 ff ff ff ff 0f 8a 80 00 01 09", &len);
	assert_int_equal(rw__frame_decode(&f, buf, len), 0);
	assert_int_equal(f.rel.seq, UINT32_MAX);
	rw__frame_iter_init(&it, &f);
	assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
	assert_int_equal(type, 9);
	assert_int_equal(plen, 0);
	free(buf);
}

/*
 * Every prefix of a valid frame, each in a buffer of exactly its size: the
 * decoder must never read past it, and accepts a prefix exactly when it ends
 * on a field boundary (the boundaries are recorded while encoding).
 */
static void check_prefixes(const uint8_t *frame, size_t len, const size_t *bounds, size_t nbounds)
{
	for (size_t cut = 0; cut <= len; cut++) {
		uint8_t *p = malloc(cut ? cut : 1);
		struct rw_frame f;
		bool boundary = false;

		assert_non_null(p);
		memcpy(p, frame, cut);
		for (size_t i = 0; i < nbounds; i++)
			boundary |= bounds[i] == cut;
		int ret = rw__frame_decode(&f, p, cut);
		if (boundary) {
			assert_int_equal(ret, 0);
			/* and the iterator stays inside too */
			struct rw_frame_iter it;
			uint8_t type;
			const uint8_t *pl;
			size_t plen, n = 0;
			rw__frame_iter_init(&it, &f);
			while (rw__frame_next_event(&it, &type, &pl, &plen)) {
				assert_true(pl + plen <= p + cut);
				n++;
			}
			assert_int_equal(n, f.nevents);
		} else {
			assert_int_equal(ret, -EBADMSG);
			assert_int_not_equal(f.err, RW_FRAME_OK);
			if (cut == 0)
				assert_int_equal(f.err, RW_FRAME_EMPTY);
		}
		free(p);
	}
}

static void test_prefixes(void **state)
{
	(void)state;
	uint8_t buf[2048], pay[400];
	size_t bounds[64], nb = 0;
	struct rw_frame_builder b;

	for (size_t i = 0; i < sizeof(pay); i++)
		pay[i] = (uint8_t)(i * 7);
	assert_int_equal(rw__frame_begin(&b, buf, sizeof(buf), 42, RW_FRAME_REL_MAX), 0);
	bounds[nb++] = b.len;
	static const size_t sizes[] = { 0, 5, 126, 127, 300, 1, 0 };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(rw__frame_add_event(&b, (uint8_t)i, pay, sizes[i]), 0);
		bounds[nb++] = b.len;
	}
	/* the trailer: one boundary per field */
	const struct rw_frame_rel rel = { 0x12345678, 0xfedcba98, UINT64_C(0x0102030405060708), 70000 };
	struct rw_frame_rel part = { 0 };
	part.seq = rel.seq;
	bounds[nb++] = 1 + (b.len - 1) + rw__frame_rel_size(&part);
	part.ack_seq = rel.ack_seq;
	bounds[nb++] = 1 + (b.len - 1) + rw__frame_rel_size(&part);
	part.ack_bitmap = rel.ack_bitmap;
	bounds[nb++] = 1 + (b.len - 1) + rw__frame_rel_size(&part);
	int n = rw__frame_finish(&b, &rel);
	assert_true(n > 0);
	bounds[nb++] = (size_t)n;
	check_prefixes(buf, (size_t)n, bounds, nb);

	/* the KAT frames: boundaries by hand */
	uint8_t kat[64];
	size_t klen = unhex(kat, sizeof(kat), KAT_RELIABLE);
	static const size_t kb[] = { 1, 6, 8, 10, 19, 22 };
	check_prefixes(kat, klen, kb, sizeof(kb) / sizeof(kb[0]));
	klen = unhex(kat, sizeof(kat), KAT_HELLO);
	static const size_t hb[] = { 1, 9 };
	check_prefixes(kat, klen, hb, sizeof(hb) / sizeof(hb[0]));
}

/* Random bytes: never crash, never read out of bounds, and an accepted frame iterates consistently. */
static void test_random_garbage(void **state)
{
	(void)state;
	for (int round = 0; round < 20000; round++) {
		size_t len = rnd() % 40;
		uint8_t *p = malloc(len ? len : 1);
		struct rw_frame f;

		assert_non_null(p);
		for (size_t i = 0; i < len; i++) {
			/* bias toward valid tags so parsing goes deep */
			static const uint8_t tags[] = { 0x0a, 0x10, 0x18, 0x21, 0x28, 0x80, 0x01, 0x00 };
			p[i] = rnd() % 3 ? tags[rnd() % sizeof(tags)] : (uint8_t)rnd();
		}
		int ret = rw__frame_decode(&f, p, len);
		if (ret == 0) {
			struct rw_frame_iter it;
			uint8_t type;
			const uint8_t *pl;
			size_t plen, n = 0;
			rw__frame_iter_init(&it, &f);
			while (rw__frame_next_event(&it, &type, &pl, &plen)) {
				assert_true(pl >= p && pl + plen <= p + len);
				n++;
			}
			assert_int_equal(n, f.nevents);
		} else {
			assert_int_equal(ret, -EBADMSG);
			assert_true(f.err > RW_FRAME_OK && f.err < RW_FRAME_ERR_COUNT);
			assert_true(f.err_off < (len ? len : 1));
		}
		free(p);
	}
}

static void test_err_str(void **state)
{
	(void)state;
	for (int i = 0; i < RW_FRAME_ERR_COUNT; i++) {
		const char *s = rw__frame_err_str((enum rw_frame_err)i);
		assert_non_null(s);
		assert_null(strstr(s, "unknown frame error"));
		for (int j = 0; j < i; j++)
			assert_string_not_equal(s, rw__frame_err_str((enum rw_frame_err)j));
	}
	assert_string_equal(rw__frame_err_str(RW_FRAME_ERR_COUNT), "unknown frame error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_encode),
		cmocka_unit_test(test_kat_decode),
		cmocka_unit_test(test_roundtrip_many),
		cmocka_unit_test(test_event_sizes),
		cmocka_unit_test(test_zero_payload),
		cmocka_unit_test(test_standalone_ack),
		cmocka_unit_test(test_builder_capacity),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_accepted_oddities),
		cmocka_unit_test(test_prefixes),
		cmocka_unit_test(test_random_garbage),
		cmocka_unit_test(test_err_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
