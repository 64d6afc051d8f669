/* SPDX-License-Identifier: MIT */
/*
 * test_padding.c - the padding policy (docs/protocol.md §13.7) end to end
 * over 127.0.0.1, through a relay that sees every datagram's size:
 *  - multiple of N: every Data / DataFragment datagram the client sends is a
 *    multiple of N bytes or the packet size; unreliable, reliable and
 *    fragmented events all arrive intact;
 *  - fixed size with cover traffic: every such datagram is exactly the size;
 *    cover packets leave at the interval while the session is idle, stop
 *    while real traffic flows and resume after it;
 *  - callback: called, and its value applied (clamped to the packet size);
 *  - padded and paced (send_rate_bps): packets the pacer held leave at the
 *    size, padded once;
 *  - the counters (rw_stats, rw_session_stats, the metrics) count the
 *    padding bytes and the cover packets.
 *
 * A v1 peer knows nothing of padding. To show it still decodes every real
 * event, the packets' plaintexts are taken just before they are sealed (the
 * engine's test hook rw__pad_tap: exactly the bytes the AEAD encrypts and a
 * peer decrypts; the AEAD itself is pinned by the known-answer tests) and
 * decoded by the small v1 decoder below, written from docs/protocol.md §9
 * and §10 the way the Go reference decodes (no ringwire frame code): it
 * reassembles fragments, counts the events in a first pass that stops at the
 * first tag that is not an event (as the reference does, which then indexes
 * the events it counted: an event after any other field would be a crash
 * there, so the test fails on one), and skips any field it does not know, by
 * its wire type. The padding field (15, LEN) is such a field; a cover
 * packet is a frame on channel 255 with no event at all.
 * Every wait is bounded.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringwire.h>

#include "engine.h"
#include "frame.h"
#include "padding.h"
#include "relay.h"
#include "wait.h"

enum {
	PKT = 1232,		/* max_packet; discovery off (max_packet_size = max_packet) */
	CH_UNREL = 1,
	CH_REL = 2,
	EV = 7,
	EVENTS = 240,		/* test_multiple */
	BIGLEN = 5000,		/* fragmented at 1232 */
	MAX_SIZES = 1 << 16,
	ARENA = 8 << 20,
	MAX_TAPS = 1 << 16,
};

/* ---- what the test saw ------------------------------------------------------------- */

static struct {
	pthread_mutex_t lock;
	/* the relay: client -> server datagrams of types 4 and 7 */
	uint32_t sizes[MAX_SIZES];
	uint8_t types[MAX_SIZES];
	unsigned nsizes;
	/* the tap: plaintexts just before sealing */
	uint8_t *arena;
	size_t used;
	struct { size_t off, len; uint8_t type; } taps[MAX_TAPS];
	unsigned ntaps;
	bool overflow;
} cap = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void observe(void *ctx, const uint8_t *buf, size_t n, bool up)
{
	(void)ctx;
	if (!up || !n || (buf[0] != 4 && buf[0] != 7))
		return;
	pthread_mutex_lock(&cap.lock);
	if (cap.nsizes < MAX_SIZES) {
		cap.sizes[cap.nsizes] = (uint32_t)n;
		cap.types[cap.nsizes++] = buf[0];
	} else {
		cap.overflow = true;
	}
	pthread_mutex_unlock(&cap.lock);
}

static void tap(uint8_t type, const uint8_t *plain, size_t len)
{
	pthread_mutex_lock(&cap.lock);
	if (cap.ntaps < MAX_TAPS && cap.used + len <= ARENA) {
		memcpy(cap.arena + cap.used, plain, len);
		cap.taps[cap.ntaps].off = cap.used;
		cap.taps[cap.ntaps].len = len;
		cap.taps[cap.ntaps++].type = type;
		cap.used += len;
	} else {
		cap.overflow = true;
	}
	pthread_mutex_unlock(&cap.lock);
}

/* ---- an independent v1 decoder (docs/protocol.md §9, §10; as the Go reference) ------------ */

struct v1_event {
	uint8_t channel, type;
	const uint8_t *payload;
	size_t len;
};

struct v1_result {
	unsigned events;	/* events on application channels */
	unsigned internal;	/* events on channel 255 */
	unsigned cover;		/* frames on channel 255 without any event */
	unsigned frames;
	unsigned errors;	/* frames the reference would refuse (or crash on) */
	unsigned unknown;	/* unknown fields skipped (the padding) */
	void (*on_event)(const struct v1_event *e);
};

static int v1_varint(const uint8_t **p, const uint8_t *end, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned i = 0; *p < end; i++) {
		uint8_t b = *(*p)++;

		if (i == 10)
			return -1;	/* "varint overflow" */
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if (b < 0x80) {
			*out = v;
			return 0;
		}
	}
	return -1;	/* "truncated varint" */
}

/* One field: its number and wire type, a LEN value's bytes; -1 as the reference's errors. */
static int v1_field(const uint8_t **p, const uint8_t *end, uint64_t *field, unsigned *wt, const uint8_t **lv,
		    uint64_t *llen)
{
	uint64_t tag, v;

	if (v1_varint(p, end, &tag))
		return -1;
	*field = tag >> 3;
	*wt = (unsigned)(tag & 7);
	switch (*wt) {
	case 0:
		return v1_varint(p, end, &v);
	case 1:
		if (end - *p < 8)
			return -1;
		*p += 8;
		return 0;
	case 2:
		if (v1_varint(p, end, llen) || *llen > (uint64_t)(end - *p))
			return -1;
		*lv = *p;
		*p += *llen;
		return 0;
	case 5:
		if (end - *p < 4)
			return -1;
		*p += 4;
		return 0;
	default:
		return -1;	/* "unknown wire type" */
	}
}

static void v1_frame(struct v1_result *r, const uint8_t *b, size_t len)
{
	const uint8_t *p, *end = b + len, *lv;
	uint64_t field, llen;
	unsigned wt, counted = 0, seen = 0, events = 0;
	uint8_t ch;

	r->frames++;
	if (!len)
		return;
	ch = b[0];
	/* the pre-pass: events counted up to the first tag that is not 0x0a */
	for (p = b + 1; end - p >= 2 && p[0] == 0x0a;) {
		p++;
		if (v1_varint(&p, end, &llen) || llen > (uint64_t)(end - p))
			break;
		p += llen;
		counted++;
	}
	for (p = b + 1; p < end;) {
		if (v1_field(&p, end, &field, &wt, &lv, &llen)) {
			r->errors++;
			return;
		}
		if (field == 1 && wt == 2) {
			struct v1_event e = { ch, 0, NULL, 0 };

			if (llen < 1 || seen++ >= counted) {
				r->errors++;	/* too short, or an event the pre-pass did not count */
				return;
			}
			e.type = lv[0];
			e.payload = lv + 1;
			e.len = (size_t)llen - 1;
			events++;
			if (ch == 255) {
				r->internal++;
			} else {
				r->events++;
				if (r->on_event)
					r->on_event(&e);
			}
		} else if (field < 1 || field > 5) {
			r->unknown++;
		}
	}
	if (ch == 255 && !events)
		r->cover++;
}

/* Decode every tapped plaintext as a v1 peer would: Data frames whole, fragments reassembled. */
static void v1_decode_all(struct v1_result *r)
{
	static uint8_t frame[1 << 20];
	uint32_t id = 0;
	unsigned next = 0, count = 0;
	size_t flen = 0;

	pthread_mutex_lock(&cap.lock);
	for (unsigned i = 0; i < cap.ntaps; i++) {
		const uint8_t *pl = cap.arena + cap.taps[i].off;
		size_t len = cap.taps[i].len;

		if (cap.taps[i].type == 4) {
			v1_frame(r, pl, len);
			continue;
		}
		/* type 7: frame_id u32, index u16, count u16, data (§4.7); ours come in order */
		assert_true(len > 8);
		if (pl[4] | pl[5] << 8) {
			assert_int_equal(pl[0] | pl[1] << 8 | pl[2] << 16 | (uint32_t)pl[3] << 24, id);
			assert_int_equal(pl[4] | pl[5] << 8, next);
		} else {
			id = pl[0] | pl[1] << 8 | pl[2] << 16 | (uint32_t)pl[3] << 24;
			count = pl[6] | pl[7] << 8;
			flen = 0;
			next = 0;
		}
		assert_true(flen + len - 8 <= sizeof(frame));
		memcpy(frame + flen, pl + 8, len - 8);
		flen += len - 8;
		if (++next == count)
			v1_frame(r, frame, flen);
	}
	pthread_mutex_unlock(&cap.lock);
}

/* ---- peers ------------------------------------------------------------------------------ */

static struct {
	atomic_uint opened, closed, received, bad, sent, cover, tick_sends;
	atomic_uint limit;		/* events the client sends in all */
	atomic_bool trickle;		/* test_fixed: one small event per tick */
	atomic_uint_fast64_t pad_bytes, cover_packets;	/* the client session's counters */
	atomic_uint cb_calls, cb_bad;
	uint8_t seen[EVENTS];		/* server: events received, by index */
} st;

static size_t ev_len(uint32_t i)
{
	return i % 10 == 9 ? BIGLEN : 4 + (i * 37) % 700;
}

static uint8_t ev_channel(uint32_t i)
{
	return i % 3 == 0 ? CH_REL : CH_UNREL;
}

static void ev_fill(uint8_t *buf, uint32_t i, size_t len)
{
	memcpy(buf, &i, 4);
	for (size_t k = 4; k < len; k++)
		buf[k] = (uint8_t)(i * 7 + k);
}

static bool ev_check(uint8_t ch, uint8_t type, const uint8_t *p, size_t len, uint32_t *idx)
{
	uint32_t i;

	if (type != EV || len < 4)
		return false;
	memcpy(&i, p, 4);
	if (i >= EVENTS || len != ev_len(i) || ch != ev_channel(i))
		return false;
	for (size_t k = 4; k < len; k++)
		if (p[k] != (uint8_t)(i * 7 + k))
			return false;
	*idx = i;
	return true;
}

static void srv_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	uint32_t i;

	(void)s, (void)u;
	if (type == EV + 1)
		return;	/* test_fixed's trickle */
	if (!ev_check(ch, type, p, len, &i) || st.seen[i]) {
		atomic_fetch_add(&st.bad, 1);
		return;
	}
	st.seen[i] = 1;
	atomic_fetch_add(&st.received, 1);
}

static void pump(struct rw_session *s)
{
	static uint8_t buf[BIGLEN];
	unsigned n = 0;

	/* a few per tick: bounded bursts, nothing lost to a socket buffer */
	while (atomic_load(&st.sent) < atomic_load(&st.limit) && n++ < 8) {
		uint32_t i = atomic_load(&st.sent);
		size_t len = ev_len(i);
		int ret;

		ev_fill(buf, i, len);
		ret = rw_session_send(s, ev_channel(i), EV, buf, len);
		if (ret == -EAGAIN)
			return;
		if (ret) {
			atomic_fetch_add(&st.bad, 1);
			return;
		}
		atomic_fetch_add(&st.sent, 1);
	}
}

static void cli_open(struct rw_session *s, void *u)
{
	(void)u;
	if (atomic_fetch_add(&st.opened, 1) == 0)
		rw_session_set_tick(s, 5);
}

static void cli_tick(struct rw_session *s, void *u)
{
	struct rw_session_stats ss;

	(void)u;
	rw_session_stats(s, &ss);
	atomic_store(&st.pad_bytes, ss.tx_padding_bytes);
	atomic_store(&st.cover_packets, ss.cover_packets);
	pump(s);
	if (atomic_load(&st.trickle)) {
		uint8_t b[20] = { 0 };

		if (rw_session_send(s, CH_UNREL, EV + 1, b, sizeof(b)) == 0)
			atomic_fetch_add(&st.tick_sends, 1);
	}
}

static void cli_writable(struct rw_session *s, uint8_t ch, void *u)
{
	(void)ch, (void)u;
	pump(s);
}

static void cli_close(struct rw_session *s, const struct rw_close_info *why, void *u)
{
	(void)s, (void)u;
	print_message("client closed: %s\n", why->message);
	atomic_fetch_add(&st.closed, 1);
}

static struct rw_server *server_up(uint8_t key[RW_KEY_SIZE])
{
	struct rw_handler h = { .on_event = srv_event };
	struct rw_handler hr = { .on_event = srv_event, .flags = RW_CHANNEL_RELIABLE };
	struct rw_server_config sc;
	struct rw_server *srv;
	char err[RW_ERRBUF_SIZE];

	rw_server_config_init(&sc);
	sc.listen = "127.0.0.1:0";
	sc.reactors = 1;
	sc.quiet = 1;
	sc.max_packet_size = PKT;
	assert_int_equal(rw_key_generate(key), 0);
	memcpy(sc.private_key, key, RW_KEY_SIZE);
	assert_int_equal(rw_server_create(&srv, &sc, err, sizeof(err)), 0);
	assert_int_equal(rw_server_on(srv, CH_UNREL, &h), 0);
	assert_int_equal(rw_server_on(srv, CH_REL, &hr), 0);
	assert_int_equal(rw_server_start(srv), 0);
	return srv;
}

static uint64_t client_rate;	/* send_rate_bps of the next client_up */

static struct rw_client *client_up(const struct rw_padding *pad)
{
	struct rw_handler h = { .on_open = cli_open, .on_close = cli_close, .on_tick = cli_tick,
				.on_writable = cli_writable };
	struct rw_handler hr = { .flags = RW_CHANNEL_RELIABLE, .on_writable = cli_writable };
	struct rw_client_config cc;
	struct rw_client *cli;
	char err[RW_ERRBUF_SIZE];

	rw_client_config_init(&cc);
	cc.quiet = 1;
	cc.bind = "127.0.0.1:0";
	cc.max_packet_size = PKT;
	cc.padding = *pad;
	cc.send_rate_bps = client_rate;
	assert_int_equal(rw_client_create(&cli, &cc, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(cli, CH_UNREL, &h), 0);
	assert_int_equal(rw_client_on(cli, CH_REL, &hr), 0);
	assert_int_equal(rw_client_start(cli), 0);
	return cli;
}

static void dial(struct rw_client *cli, const uint8_t priv[RW_KEY_SIZE], uint16_t port)
{
	uint8_t pub[RW_KEY_SIZE];
	char uri[256], err[RW_ERRBUF_SIZE];

	assert_int_equal(rw_key_public(pub, priv), 0);
	assert_true(rw_uri_format(uri, sizeof(uri), pub, "127.0.0.1", port) > 0);
	assert_int_equal(rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err)), 0);
	assert_true(wait_for(&st.opened, 1, 5000));
}

static int reset(void **state)
{
	(void)state;
	memset(&st, 0, sizeof(st));
	pthread_mutex_lock(&cap.lock);
	cap.nsizes = cap.ntaps = 0;
	cap.used = 0;
	cap.overflow = false;
	if (!cap.arena)
		cap.arena = malloc(ARENA);
	pthread_mutex_unlock(&cap.lock);
	assert_non_null(cap.arena);
	rw__pad_tap = tap;
	return 0;
}

/* Every observed Data / DataFragment size satisfies ok(size); returns how many there were. */
static unsigned sizes_all(bool (*ok)(uint32_t size, uint8_t type), unsigned *bad_out)
{
	unsigned n, bad = 0;

	pthread_mutex_lock(&cap.lock);
	n = cap.nsizes;
	for (unsigned i = 0; i < n; i++) {
		if (!ok(cap.sizes[i], cap.types[i])) {
			if (bad++ < 5)
				print_message("datagram %u: type %u, %u bytes\n", i, cap.types[i], cap.sizes[i]);
		}
	}
	pthread_mutex_unlock(&cap.lock);
	*bad_out = bad;
	return n;
}

/* The v1 decoder's events: each one of ours, intact, on its channel. */
static uint8_t v1_seen[EVENTS];
static unsigned v1_bad;

static void v1_on_event(const struct v1_event *e)
{
	uint32_t i;

	if (e->type == EV + 1)
		return;
	if (!ev_check(e->channel, e->type, e->payload, e->len, &i)) {
		v1_bad++;
		return;
	}
	v1_seen[i] = 1;	/* a reliable frame may be retransmitted: seen twice is fine here */
}

/* ---- multiple of N ---------------------------------------------------------------------------- */

static bool multiple_64(uint32_t size, uint8_t type)
{
	(void)type;
	return size % 64 == 0 || size == PKT;
}

static void test_multiple(void **state)
{
	struct rw_padding pad = { .policy = RW_PAD_MULTIPLE, .size = 64 };
	struct rw_server *srv;
	struct rw_client *cli;
	struct relay relay;
	struct rw_stats cs;
	struct v1_result r = { .on_event = v1_on_event };
	uint8_t key[RW_KEY_SIZE];
	unsigned n, bad, frags = 0;
	char *metrics;

	(void)state;
	srv = server_up(key);
	assert_int_equal(relay_start_observed(&relay, rw_server_port(srv), observe, NULL), 0);
	cli = client_up(&pad);
	dial(cli, key, relay_front_port(&relay));
	atomic_store(&st.limit, EVENTS);
	assert_true(wait_for(&st.received, EVENTS, 30000));
	usleep(100 * 1000);	/* the last acks */
	assert_int_equal(atomic_load(&st.bad), 0);
	assert_int_equal(atomic_load(&st.closed), 0);

	/* on the wire: a multiple of 64 or the packet size, every one */
	n = sizes_all(multiple_64, &bad);
	pthread_mutex_lock(&cap.lock);
	for (unsigned i = 0; i < cap.nsizes; i++)
		frags += cap.types[i] == 7;
	pthread_mutex_unlock(&cap.lock);
	print_message("%u datagrams (%u fragments), %u off the policy\n", n, frags, bad);
	assert_true(n >= EVENTS / 8);
	assert_true(frags >= 2 * (EVENTS / 10));
	assert_int_equal(bad, 0);

	/* a v1 peer decodes every real event */
	memset(v1_seen, 0, sizeof(v1_seen));
	v1_bad = 0;
	v1_decode_all(&r);
	print_message("v1 decoder: %u frames, %u events, %u padding fields skipped, %u errors\n", r.frames, r.events,
		      r.unknown, r.errors);
	assert_false(cap.overflow);
	assert_int_equal(r.errors, 0);
	assert_int_equal(v1_bad, 0);
	for (unsigned i = 0; i < EVENTS; i++)
		assert_int_equal(v1_seen[i], 1);
	assert_true(r.unknown > 0);

	/* counted */
	rw_client_stats(cli, &cs);
	print_message("padding: %llu bytes; session %llu\n", (unsigned long long)cs.tx_padding_bytes,
		      (unsigned long long)atomic_load(&st.pad_bytes));
	assert_true(cs.tx_padding_bytes > 0);
	assert_true(atomic_load(&st.pad_bytes) > 0 && atomic_load(&st.pad_bytes) <= cs.tx_padding_bytes);
	assert_int_equal(cs.cover_packets, 0);
	metrics = malloc(1 << 16);
	assert_non_null(metrics);
	assert_true(rw_client_metrics_write(cli, metrics, 1 << 16) > 0);
	{
		char want[128];

		snprintf(want, sizeof(want), "ringwire_padding_bytes_sent_total %llu",
			 (unsigned long long)cs.tx_padding_bytes);
		/* the counter may have moved on (an ack) between the two reads: the name is what matters */
		assert_non_null(strstr(metrics, "ringwire_padding_bytes_sent_total "));
		assert_non_null(strstr(metrics, "ringwire_cover_packets_sent_total 0"));
	}
	free(metrics);
	rw_client_destroy(cli);
	relay_stop(&relay);
	rw_server_destroy(srv);
}

/* ---- fixed size and cover traffic --------------------------------------------------------------- */

enum { FIXED = 256, COVER_MS = 40, PHASE_MS = 600 };

static bool fixed_256(uint32_t size, uint8_t type)
{
	(void)type;
	return size == FIXED;
}

static unsigned covers_now(void)
{
	struct v1_result r = { 0 };

	v1_decode_all(&r);
	assert_int_equal(r.errors, 0);
	return r.cover;
}

static void test_fixed_cover(void **state)
{
	struct rw_padding pad = { .policy = RW_PAD_FIXED, .size = FIXED, .cover_interval_ms = COVER_MS };
	struct rw_server *srv;
	struct rw_client *cli;
	struct relay relay;
	struct rw_stats cs, ss;
	uint8_t key[RW_KEY_SIZE];
	unsigned n, bad, idle1, busy, idle2, c0, c1, c2, c3;

	(void)state;
	srv = server_up(key);
	assert_int_equal(relay_start_observed(&relay, rw_server_port(srv), observe, NULL), 0);
	cli = client_up(&pad);
	dial(cli, key, relay_front_port(&relay));

	/* idle: cover at the interval */
	c0 = covers_now();
	usleep(PHASE_MS * 1000);
	c1 = covers_now();
	idle1 = c1 - c0;
	/* real traffic every 5 ms (the tick), and the events of test_multiple: no cover */
	atomic_store(&st.trickle, true);
	atomic_store(&st.limit, EVENTS);
	usleep(PHASE_MS * 1000);
	c2 = covers_now();
	busy = c2 - c1;
	atomic_store(&st.trickle, false);
	assert_true(wait_for(&st.received, EVENTS, 30000));
	usleep(50 * 1000);
	/* idle again: cover resumes */
	c2 = covers_now();
	usleep(PHASE_MS * 1000);
	c3 = covers_now();
	idle2 = c3 - c2;
	print_message("cover packets: %u idle, %u busy (%u tick sends), %u idle again\n", idle1, busy,
		      atomic_load(&st.tick_sends), idle2);
	/* 600 ms / 40 ms = 15; a loaded machine runs timers late, never early */
	assert_true(idle1 >= 5 && idle1 <= PHASE_MS / COVER_MS + 2);
	assert_true(idle2 >= 5 && idle2 <= PHASE_MS / COVER_MS + 2);
	/* while sending every 5 ms: none (a reactor stalled past 40 ms may let one out) */
	assert_true(atomic_load(&st.tick_sends) >= 20);
	assert_true(busy <= 2);
	assert_int_equal(atomic_load(&st.bad), 0);
	assert_int_equal(atomic_load(&st.closed), 0);

	/* every Data and DataFragment datagram, cover or not, exactly the size */
	n = sizes_all(fixed_256, &bad);
	print_message("%u datagrams, %u not %u bytes\n", n, bad, FIXED);
	assert_int_equal(bad, 0);
	assert_true(n > EVENTS);

	/* counted: cover packets and their padding */
	rw_client_stats(cli, &cs);
	print_message("stats: %llu cover packets, %llu padding bytes\n", (unsigned long long)cs.cover_packets,
		      (unsigned long long)cs.tx_padding_bytes);
	assert_int_equal(cs.cover_packets, covers_now());
	assert_true(cs.tx_padding_bytes >= cs.cover_packets * (FIXED - 33));
	/* the server pads nothing */
	rw_server_stats(srv, &ss);
	assert_int_equal(ss.tx_padding_bytes, 0);
	assert_int_equal(ss.cover_packets, 0);
	rw_client_destroy(cli);
	relay_stop(&relay);
	rw_server_destroy(srv);
}

/* ---- callback ------------------------------------------------------------------------------------ */

static size_t pad_cb(const struct rw_session *s, size_t plain_len, size_t max_len, void *user)
{
	(void)s;
	atomic_fetch_add(&st.cb_calls, 1);
	if (user != &st || max_len != PKT - 32 || plain_len > max_len)
		atomic_fetch_add(&st.cb_bad, 1);
	/* 500 bytes of plaintext; more than that asks for too much, which is clamped */
	return plain_len <= 500 ? 500 : SIZE_MAX;
}

static bool callback_sizes(uint32_t size, uint8_t type)
{
	(void)type;
	return size == 532 || size == PKT;
}

static void test_callback(void **state)
{
	struct rw_padding pad = { .policy = RW_PAD_CALLBACK, .fn = pad_cb, .user = &st };
	struct rw_server *srv;
	struct rw_client *cli;
	struct relay relay;
	uint8_t key[RW_KEY_SIZE];
	unsigned n, bad;

	(void)state;
	srv = server_up(key);
	assert_int_equal(relay_start_observed(&relay, rw_server_port(srv), observe, NULL), 0);
	cli = client_up(&pad);
	dial(cli, key, relay_front_port(&relay));
	atomic_store(&st.limit, EVENTS);
	assert_true(wait_for(&st.received, EVENTS, 30000));
	usleep(50 * 1000);
	assert_int_equal(atomic_load(&st.bad), 0);
	n = sizes_all(callback_sizes, &bad);
	print_message("%u datagrams, %u calls, %u not 532 or %u bytes\n", n, atomic_load(&st.cb_calls), bad, PKT);
	assert_int_equal(bad, 0);
	assert_true(atomic_load(&st.cb_calls) >= EVENTS / 8);
	assert_int_equal(atomic_load(&st.cb_bad), 0);
	rw_client_destroy(cli);
	relay_stop(&relay);
	rw_server_destroy(srv);
}

/* ---- padded and paced: a packet over the rate waits, padded once, and leaves at the size ------------ */

static bool fixed_512(uint32_t size, uint8_t type)
{
	(void)type;
	return size == 512;
}

static void test_paced(void **state)
{
	struct rw_padding pad = { .policy = RW_PAD_FIXED, .size = 512 };
	struct rw_server *srv;
	struct rw_client *cli;
	struct relay relay;
	struct v1_result r = { .on_event = v1_on_event };
	uint8_t key[RW_KEY_SIZE];
	unsigned n, bad;

	(void)state;
	srv = server_up(key);
	assert_int_equal(relay_start_observed(&relay, rw_server_port(srv), observe, NULL), 0);
	client_rate = 64 << 10;	/* ~0.25 MB on the wire, a 128 KB burst: paced for about 2 s */
	cli = client_up(&pad);
	client_rate = 0;
	dial(cli, key, relay_front_port(&relay));
	atomic_store(&st.limit, EVENTS);
	assert_true(wait_for(&st.received, EVENTS, 30000));
	usleep(50 * 1000);
	assert_int_equal(atomic_load(&st.bad), 0);
	n = sizes_all(fixed_512, &bad);
	print_message("%u datagrams at 64 KB/s, %u not 512 bytes\n", n, bad);
	assert_int_equal(bad, 0);
	memset(v1_seen, 0, sizeof(v1_seen));
	v1_bad = 0;
	v1_decode_all(&r);
	assert_int_equal(r.errors, 0);
	assert_int_equal(v1_bad, 0);
	for (unsigned i = 0; i < EVENTS; i++)
		assert_int_equal(v1_seen[i], 1);
	{
		/* the pacer held packets, and none grew twice: every tapped plaintext is 512 - 32 */
		unsigned odd = 0;

		pthread_mutex_lock(&cap.lock);
		for (unsigned i = 0; i < cap.ntaps; i++)
			odd += cap.taps[i].len != 512 - 32;
		pthread_mutex_unlock(&cap.lock);
		assert_int_equal(odd, 0);
	}
	{
		struct rw_stats cs;
		struct rw_send_stats ps;

		rw_client_stats(cli, &cs);
		rw__engine_send_stats(rw__client_engine(cli), &ps);
		print_message("paced %llu packets, padding %llu bytes\n", (unsigned long long)ps.paced,
			      (unsigned long long)cs.tx_padding_bytes);
		assert_true(ps.paced > 0);
	}
	rw_client_destroy(cli);
	relay_stop(&relay);
	rw_server_destroy(srv);
}

/* ---- the padding field itself --------------------------------------------------------------------- */

static void test_field(void **state)
{
	static uint8_t buf[4096];
	struct rw_padding mul = { .policy = RW_PAD_MULTIPLE, .size = 16 };
	struct rw_padding fix = { .policy = RW_PAD_FIXED, .size = 300 };

	(void)state;
	/* every length of padding has an exact encoding that both decoders skip */
	for (size_t n = RW_PAD_FIELD_MIN; n < 3000; n++) {
		struct v1_result r = { 0 };
		struct rw_frame f;
		struct rw_frame_iter it;
		const uint8_t *pl;
		uint8_t type;
		size_t plen, len = 0;

		buf[len++] = 3;
		buf[len++] = 0x0a;
		buf[len++] = 6;
		buf[len++] = 1;
		memcpy(buf + len, "hello", 5);
		len += 5;
		rw__pad_write(buf + len, n);
		len += n;
		assert_int_equal(rw__frame_decode(&f, buf, len), 0);
		assert_int_equal(f.nevents, 1);
		assert_int_equal(f.padding, n);
		rw__frame_iter_init(&it, &f);
		assert_true(rw__frame_next_event(&it, &type, &pl, &plen));
		assert_int_equal(plen, 5);
		assert_memory_equal(pl, "hello", 5);
		assert_false(rw__frame_next_event(&it, &type, &pl, &plen));
		v1_frame(&r, buf, len);
		assert_int_equal(r.errors, 0);
		assert_int_equal(r.events, 1);
		assert_int_equal(r.unknown, 1);
		/* a part at a time gives the same bytes */
		{
			uint8_t part[3000];
			size_t cut = n / 3;

			rw__pad_write_part(part, n, 0, cut);
			rw__pad_write_part(part + cut, n, cut, n - cut);
			assert_memory_equal(part, buf + len - n, n);
		}
	}
	/* cover frames: channel 255, no event */
	for (size_t d = 35; d < 2000; d++) {
		struct v1_result r = { 0 };
		struct rw_frame f;

		assert_int_equal(rw__pad_cover_frame(buf, d), (int)(d - 32));
		assert_int_equal(rw__frame_decode(&f, buf, d - 32), 0);
		assert_int_equal(f.channel, 255);
		assert_int_equal(f.nevents, 0);
		v1_frame(&r, buf, d - 32);
		assert_int_equal(r.errors, 0);
		assert_int_equal(r.cover, 1);
	}
	assert_int_equal(rw__pad_cover_frame(buf, 34), -EINVAL);
	/* targets: in [dgram, max], a multiple or max, never one byte over */
	for (size_t d = 32; d <= 1232; d++) {
		size_t t = rw__pad_target(&mul, NULL, d, 1232);

		assert_true(t >= d && t <= 1232);
		assert_true(t % 16 == 0 || t == 1232);
		assert_true(t != d + 1 || d + 1 == 1232);
		assert_int_equal(rw__pad_target(&fix, NULL, d, 300 < 1232 ? 300 : 1232), d < 300 ? 300 : d);
	}
	assert_int_equal(rw__pad_packet_size(&fix, 1232, 65000), 300);
	assert_int_equal(rw__pad_packet_size(&fix, 1232, 200), 200);
	fix.size = 0;
	assert_int_equal(rw__pad_packet_size(&fix, 1232, 65000), 1232);
	assert_int_equal(rw__pad_packet_size(&mul, 1232, 65000), 65000);
}

static void test_config(void **state)
{
	static const struct {
		struct rw_padding p;
		const char *word;
	} bad[] = {
		{ { .policy = RW_PAD_MULTIPLE, .size = 8 }, "16..65000" },
		{ { .policy = RW_PAD_FIXED, .size = 100 }, "128..65000" },
		{ { .policy = RW_PAD_FIXED, .size = 70000 }, "128..65000" },
		{ { .policy = RW_PAD_CALLBACK }, "padding.fn" },
		{ { .policy = 9 }, "unknown policy" },
		{ { .policy = RW_PAD_MULTIPLE, .size = 64, .cover_interval_ms = 10 }, "RW_PAD_FIXED" },
	};
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_server *srv;
	struct rw_client *cli;
	char err[RW_ERRBUF_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rw_server_config_init(&sc);
		sc.listen = "127.0.0.1:0";
		sc.quiet = 1;
		assert_int_equal(rw_key_generate(sc.private_key), 0);
		sc.padding = bad[i].p;
		err[0] = 0;
		assert_int_equal(rw_server_create(&srv, &sc, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, bad[i].word));
		rw_client_config_init(&cc);
		cc.quiet = 1;
		cc.padding = bad[i].p;
		assert_int_equal(rw_client_create(&cli, &cc, err, sizeof(err)), -EINVAL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_field),
		cmocka_unit_test(test_config),
		cmocka_unit_test_setup(test_multiple, reset),
		cmocka_unit_test_setup(test_fixed_cover, reset),
		cmocka_unit_test_setup(test_callback, reset),
		cmocka_unit_test_setup(test_paced, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
