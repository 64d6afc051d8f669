/* SPDX-License-Identifier: MIT */
/*
 * test_gso.c - bulk data through the send pipeline and the UDP transport's
 * GSO / GRO, end to end over 127.0.0.1 (public API, plus the engine's
 * reactor counters). Each side sends the other, on a reliable channel:
 * events of 0 bytes to 1 MiB (fragmented, so an event is a burst of equal
 * packets and a short last one), then 3000 small events (coalesced: one
 * packet per flush, runs of flushes to one peer). Everything must arrive
 * once, in order, intact.
 *
 * The same binary runs three ways (meson.build): as is (GSO on: some
 * sendmsgs must carry several datagrams), with RW_TEST_NO_GSO=1 (none may),
 * and with RW_TEST_GSO_REFUSE=1 (the first GSO send of each reactor fails
 * like a refusing kernel: resent one by one, GSO off, nothing lost).
 * Every wait is bounded.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
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
#include "reactor.h"
#include "shard.h"
#include "wait.h"

enum { EV_GO = 1, EV_DATA = 2, SMALL_EVENTS = 3000, SMALL_LEN = 100 };

static const size_t sizes[] = { 0, 1, 64, 1000, 1200, 1232, 2000, 5000, 20000, 65536, 200000, 1 << 20 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
#define TOTAL (NSIZES + SMALL_EVENTS)

static size_t len_of(unsigned seq)
{
	return seq < NSIZES ? sizes[seq] : SMALL_LEN;
}

/* One direction: the sender's progress and the receiver's checks. */
struct flow {
	atomic_uint sent, received, errors;
	unsigned expect;
	uint8_t *buf;	/* the sender's 1 MiB scratch (each side runs on its own thread) */
};

static struct {
	struct flow up, down;	/* client -> server, server -> client */
	atomic_uint opened, closed;
} g;

static void fill(uint8_t *p, size_t len, unsigned seq)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 7 + i);
}

static void pump(struct rw_session *s, struct flow *f)
{
	while (atomic_load(&f->sent) < TOTAL) {
		unsigned seq = atomic_load(&f->sent);
		size_t len = len_of(seq);
		int ret;

		fill(f->buf, len, seq);
		ret = rw_session_send(s, 1, EV_DATA, f->buf, len);
		if (ret == -EAGAIN)
			return;	/* window full: on_writable resumes */
		if (ret) {
			atomic_fetch_add(&f->errors, 1);
			return;
		}
		atomic_fetch_add(&f->sent, 1);
	}
}

static void check(struct flow *f, const uint8_t *p, size_t len)
{
	unsigned seq = f->expect++;
	bool ok = len == len_of(seq);

	for (size_t i = 0; ok && i < len; i++)
		ok = p[i] == (uint8_t)(seq * 7 + i);
	if (!ok)
		atomic_fetch_add(&f->errors, 1);
	atomic_fetch_add(&f->received, 1);
}

static void srv_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	(void)ch, (void)u;
	if (type == EV_GO)
		pump(s, &g.down);
	else
		check(&g.up, p, len);
}

static void srv_writable(struct rw_session *s, uint8_t ch, void *u)
{
	(void)ch, (void)u;
	pump(s, &g.down);
}

static void cli_open(struct rw_session *s, void *u)
{
	(void)u;
	atomic_fetch_add(&g.opened, 1);
	rw_session_send(s, 1, EV_GO, "go", 2);
	pump(s, &g.up);
}

static void cli_close(struct rw_session *s, const struct rw_close_info *why, void *u)
{
	(void)s, (void)why, (void)u;
	atomic_fetch_add(&g.closed, 1);
}

static void cli_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	(void)s, (void)ch, (void)type, (void)u;
	check(&g.down, p, len);
}

static void cli_writable(struct rw_session *s, uint8_t ch, void *u)
{
	(void)ch, (void)u;
	pump(s, &g.up);
}

static void reactor_sum(struct rw_engine *e, struct rw_reactor_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < rw__reactor_count(e->group); i++) {
		struct rw_reactor_stats st;

		rw__reactor_stats(rw__reactor_get(e->group, i), &st);
		sum->tx_packets += st.tx_packets;
		sum->tx_gso_sends += st.tx_gso_sends;
		sum->tx_gso_segments += st.tx_gso_segments;
		sum->tx_gso_refused += st.tx_gso_refused;
		sum->tx_gso_off += st.tx_gso_off;
		sum->rx_gro_packets += st.rx_gro_packets;
		sum->rx_gro_segments += st.rx_gro_segments;
		sum->rx_nobufs += st.rx_nobufs;
		sum->rx_kernel_drops += st.rx_kernel_drops;
	}
}

static bool env_on(const char *name)
{
	const char *v = getenv(name);

	return v && atoi(v) > 0;
}

static void test_bulk_both_ways(void **state)
{
	struct rw_handler sh = { .flags = RW_CHANNEL_RELIABLE, .on_event = srv_event, .on_writable = srv_writable };
	struct rw_handler ch = { .flags = RW_CHANNEL_RELIABLE, .on_open = cli_open, .on_close = cli_close,
				 .on_event = cli_event, .on_writable = cli_writable };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_reactor_stats rs, rc;
	struct rw_stats st;
	struct rw_server *srv;
	struct rw_client *cli;
	uint8_t key[RW_KEY_SIZE], pub[RW_KEY_SIZE];
	char uri[256], err[RW_ERRBUF_SIZE];
	bool no_gso = env_on("RW_TEST_NO_GSO"), refuse = env_on("RW_TEST_GSO_REFUSE");

	(void)state;
	memset(&g, 0, sizeof(g));
	g.up.buf = malloc(1 << 20);
	g.down.buf = malloc(1 << 20);
	assert_true(g.up.buf && g.down.buf);
	rw_server_config_init(&sc);
	sc.listen = "127.0.0.1:0";
	sc.reactors = 1;
	sc.quiet = 1;
	assert_int_equal(rw_key_generate(key), 0);
	memcpy(sc.private_key, key, RW_KEY_SIZE);
	assert_int_equal(rw_server_create(&srv, &sc, err, sizeof(err)), 0);
	assert_int_equal(rw_server_on(srv, 1, &sh), 0);
	assert_int_equal(rw_server_start(srv), 0);
	rw_client_config_init(&cc);
	cc.quiet = 1;
	cc.reactors = 1;
	assert_int_equal(rw_client_create(&cli, &cc, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(cli, 1, &ch), 0);
	assert_int_equal(rw_client_start(cli), 0);
	assert_int_equal(rw_key_public(pub, key), 0);
	assert_true(rw_uri_format(uri, sizeof(uri), pub, "127.0.0.1", rw_server_port(srv)) > 0);
	assert_int_equal(rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err)), 0);
	assert_true(wait_for(&g.opened, 1, 5000));
	assert_true(wait_for(&g.up.received, TOTAL, 60000));
	assert_true(wait_for(&g.down.received, TOTAL, 60000));
	assert_int_equal(atomic_load(&g.up.errors), 0);
	assert_int_equal(atomic_load(&g.down.errors), 0);
	assert_int_equal(atomic_load(&g.closed), 0);
	assert_int_equal(atomic_load(&g.up.received), TOTAL);
	assert_int_equal(atomic_load(&g.down.received), TOTAL);
	rw_server_stats(srv, &st);
	assert_int_equal(st.tx_errors, 0);

	reactor_sum(rw__server_engine(srv), &rs);
	reactor_sum(rw__client_engine(cli), &rc);
	print_message("server: %llu datagrams, %llu in %llu GSO sends, %llu GRO receives (%llu segments), "
		      "refused %llu, nobufs %llu, kernel drops %llu\n",
		      (unsigned long long)rs.tx_packets, (unsigned long long)rs.tx_gso_segments,
		      (unsigned long long)rs.tx_gso_sends, (unsigned long long)rs.rx_gro_packets,
		      (unsigned long long)rs.rx_gro_segments, (unsigned long long)rs.tx_gso_refused,
		      (unsigned long long)rs.rx_nobufs, (unsigned long long)rs.rx_kernel_drops);
	print_message("client: %llu datagrams, %llu in %llu GSO sends, %llu GRO receives (%llu segments)\n",
		      (unsigned long long)rc.tx_packets, (unsigned long long)rc.tx_gso_segments,
		      (unsigned long long)rc.tx_gso_sends, (unsigned long long)rc.rx_gro_packets,
		      (unsigned long long)rc.rx_gro_segments);
	if (no_gso) {
		assert_int_equal(rs.tx_gso_sends + rc.tx_gso_sends, 0);
		assert_int_equal(rs.rx_gro_packets + rc.rx_gro_packets, 0);
	} else if (refuse) {
		assert_true(rs.tx_gso_refused >= 1 && rc.tx_gso_refused >= 1);
		assert_int_equal(rs.tx_gso_off, 1);
		assert_int_equal(rc.tx_gso_off, 1);
	} else {
		/* a 1 MiB event is ~870 fragments: they leave 53 to a sendmsg, and arrive coalesced */
		assert_true(rs.tx_gso_sends > 0 && rc.tx_gso_sends > 0);
		assert_true(rs.tx_gso_segments >= 2 * rs.tx_gso_sends);
		assert_true(rs.rx_gro_packets > 0 && rc.rx_gro_packets > 0);
		assert_int_equal(rs.tx_gso_refused + rc.tx_gso_refused, 0);
	}

	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	rw_server_stop(srv);
	rw_server_wait(srv);
	rw_server_destroy(srv);
	free(g.up.buf);
	free(g.down.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bulk_both_ways),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
