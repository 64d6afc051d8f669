/* SPDX-License-Identifier: MIT */
/*
 * test_stream.c - the TCP deframer (stream.h, docs/protocol.md §17): one
 * table of streams, each fed in every way a TCP stream can arrive (all at
 * once, byte by byte, in reads of 2, 3, 7 and 1500 bytes, the length split
 * from its packet), in a buffer that starts small and grows for long
 * packets, must give the same packets and the same verdict. A bad length
 * never sizes a buffer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream.h"

enum { MAXP = 2000 };

/* Build a stream: n packets, packet i of len[i] bytes of value i + 1; raw lengths where len[i] < 0 (as -raw - 1). */
static size_t build(uint8_t *out, const int *len, unsigned n)
{
	size_t o = 0;

	for (unsigned i = 0; i < n; i++) {
		if (len[i] < 0) {
			rw_put_be16(out + o, (uint16_t)(-len[i] - 1));
			o += 2;
			continue;
		}
		rw__stream_put_len(out + o, (size_t)len[i]);
		o += 2;
		memset(out + o, (int)(i + 1), (size_t)len[i]);
		o += (size_t)len[i];
	}
	return o;
}

struct result {
	unsigned npk;
	size_t len[64];
	uint8_t first[64], last[64];
	int err;
	size_t pending;
};

/*
 * Feed bytes in reads of `step` (0: as much as fits), taking packets after
 * each. The buffer starts at `small` bytes and is swapped for the full size
 * when rw__stream_want asks for more, and back once it is drained, as tcp.c
 * does with an idle connection's buffer.
 */
static void feed(const uint8_t *in, size_t n, size_t max, size_t step, size_t small, struct result *r)
{
	uint8_t *big = malloc(rw__stream_buf_size(max)), *little = malloc(small);
	struct rw_stream s;
	size_t pos = 0;

	assert_non_null(big);
	assert_non_null(little);
	memset(r, 0, sizeof(*r));
	rw__stream_init(&s, little, small, max);
	while (pos < n && !r->err) {
		size_t room, k;
		uint8_t *at, *pkt;
		size_t len;
		int ret;

		assert_true(rw__stream_want(&s) <= rw__stream_buf_size(max));
		if (rw__stream_want(&s) > s.cap)
			rw__stream_rebuf(&s, big, rw__stream_buf_size(max));
		else if (s.buf == big && rw__stream_pending(&s) <= small && rw__stream_want(&s) <= small)
			rw__stream_rebuf(&s, little, small);
		at = rw__stream_space(&s, &room);
		assert_true(room > 0);
		k = step && step < room ? step : room;
		if (k > n - pos)
			k = n - pos;
		memcpy(at, in + pos, k);
		rw__stream_commit(&s, k);
		pos += k;
		while ((ret = rw__stream_next(&s, &pkt, &len)) == 1) {
			assert_true(r->npk < 64);
			r->len[r->npk] = len;
			r->first[r->npk] = pkt[0];
			r->last[r->npk] = pkt[len - 1];
			r->npk++;
		}
		r->err = ret;
	}
	r->pending = rw__stream_pending(&s);
	free(big);
	free(little);
}

struct row {
	const char *name;
	int len[8];
	unsigned n;
	size_t max;
	unsigned want_pk;	/* packets delivered */
	int want_err;
	size_t trunc;		/* cut this many bytes off the end (a peer that stopped mid-packet) */
};

static const struct row rows[] = {
	{ "one packet", { 148 }, 1, MAXP, 1, 0, 0 },
	{ "many in one read", { 32, 1, 92, 148, 64, 1232, 2, 3 }, 8, MAXP, 8, 0, 0 },
	{ "largest accepted", { MAXP }, 1, MAXP, 1, 0, 0 },
	{ "one over the maximum", { 10, MAXP + 1, 5 }, 3, MAXP, 1, -EMSGSIZE, 0 },
	{ "length 65535 over the maximum", { 10, -65535 - 1, 5 }, 3, MAXP, 1, -EMSGSIZE, 0 },
	{ "length 0", { 7, -0 - 1, 5 }, 3, MAXP, 1, -EBADMSG, 0 },
	{ "length 0 first", { -0 - 1 }, 1, MAXP, 0, -EBADMSG, 0 },
	{ "stops mid-packet", { 20, 100 }, 2, MAXP, 1, 0, 50 },
	{ "stops inside the length", { 20, 100 }, 2, MAXP, 1, 0, 101 },
	{ "65535 with the largest maximum", { 65535, 1 }, 2, RW_TCP_MAX_PACKET, 2, 0, 0 },
};

static void check(const struct row *w, const struct result *r, size_t step, size_t sent)
{
	size_t delivered = 0;

	print_message("%s, reads of %zu: %u packets, err %d, pending %zu\n", w->name, step, r->npk, r->err,
		      r->pending);
	assert_int_equal(r->npk, w->want_pk);
	assert_int_equal(r->err, w->want_err);
	for (unsigned i = 0; i < r->npk; i++) {
		assert_int_equal(r->len[i], (size_t)w->len[i]);
		assert_int_equal(r->first[i], i + 1);
		assert_int_equal(r->last[i], i + 1);
		delivered += 2 + r->len[i];
	}
	if (!w->want_err)
		assert_int_equal(r->pending, sent - delivered);	/* nothing lost, nothing invented */
}

static void test_table(void **state)
{
	static const size_t steps[] = { 0, 1, 2, 3, 7, 1500 };
	uint8_t *in = malloc(2 * 70000);

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		size_t n = build(in, rows[i].len, rows[i].n) - rows[i].trunc;

		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]); k++) {
			static const size_t smalls[] = { 2, 16, 8192 };

			for (size_t m = 0; m < sizeof(smalls) / sizeof(smalls[0]); m++) {
				struct result r;

				feed(in, n, rows[i].max, steps[k], smalls[m], &r);
				check(&rows[i], &r, steps[k], n);
			}
		}
	}
	free(in);
}

/* A length split across two reads: one byte of it, then the rest with the packet. */
static void test_split_length(void **state)
{
	uint8_t buf[2 + 300], in[2 + 200];
	struct rw_stream s;
	uint8_t *at, *pkt;
	size_t room, len;

	(void)state;
	rw__stream_init(&s, buf, sizeof(buf), 300);
	rw__stream_put_len(in, 200);
	memset(in + 2, 0xab, 200);
	at = rw__stream_space(&s, &room);
	at[0] = in[0];
	rw__stream_commit(&s, 1);
	assert_int_equal(rw__stream_next(&s, &pkt, &len), 0);
	assert_int_equal(rw__stream_pending(&s), 1);
	at = rw__stream_space(&s, &room);
	assert_int_equal(room, sizeof(buf) - 1);
	memcpy(at, in + 1, sizeof(in) - 1);
	rw__stream_commit(&s, sizeof(in) - 1);
	assert_int_equal(rw__stream_next(&s, &pkt, &len), 1);
	assert_int_equal(len, 200);
	assert_ptr_equal(pkt, buf + 2);	/* in place: decrypted where it lies */
	assert_int_equal(rw__stream_next(&s, &pkt, &len), 0);
	assert_int_equal(rw__stream_pending(&s), 0);
}

/* After an error the stream stays over: no room, no packets, however much more arrives. */
static void test_error_sticky(void **state)
{
	uint8_t buf[2 + 100], *pkt;
	struct rw_stream s;
	size_t room, len;
	uint8_t *at;

	(void)state;
	rw__stream_init(&s, buf, sizeof(buf), 100);
	at = rw__stream_space(&s, &room);
	rw_put_be16(at, 101);
	rw__stream_commit(&s, 2);
	assert_int_equal(rw__stream_want(&s), RW_TCP_LEN_SIZE);	/* 101 > max: nothing is sized by it */
	assert_int_equal(rw__stream_next(&s, &pkt, &len), -EMSGSIZE);
	assert_int_equal(rw__stream_next(&s, &pkt, &len), -EMSGSIZE);
	rw__stream_space(&s, &room);
	assert_int_equal(room, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_split_length),
		cmocka_unit_test(test_error_sticky),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
