/* SPDX-License-Identifier: MIT */
/*
 * test_pmtu_engine.c - path MTU discovery end to end over 127.0.0.1
 * (docs/protocol.md §13.6), public API plus the engine's test hook:
 *  - two ringwire peers grow to a large packet size, and a 64 KiB event then
 *    leaves in a couple of datagrams instead of 55;
 *  - a peer that ignores channel 255 as a v1 peer does (the engine's
 *    pmtu_deaf hook, discovery off on its side): the session stays at 1232
 *    after MAX_PROBES base-size probes, and events of every size flow;
 *  - a black hole mid-transfer: through a relay that starts dropping every
 *    datagram above 3000 bytes, a reliable transfer of 64 KiB events
 *    completes, once and in order, after the sender fell back to 1232.
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
#include "relay.h"
#include "wait.h"

enum { EV_DATA = 2, BIG = 65536, XFER_EVENTS = 120, HOLE_AT = 3000 };

/* What the client's session reports, copied on its thread (on_tick). */
static struct {
	atomic_uint opened, closed, received, errors, sent, pmtu, probes_sent, probes_acked, black_holes;
	atomic_uint limit;	/* the client sends events until it has sent this many */
	uint32_t expect;
} st;

static uint8_t big[BIG];

static void snap(struct rw_session *s)
{
	struct rw_session_stats ss;

	rw_session_stats(s, &ss);
	atomic_store(&st.pmtu, ss.pmtu);
	atomic_store(&st.probes_sent, (unsigned)ss.pmtu_probes_sent);
	atomic_store(&st.probes_acked, (unsigned)ss.pmtu_probes_acked);
	atomic_store(&st.black_holes, (unsigned)ss.pmtu_black_holes);
}

static void pump(struct rw_session *s)
{
	while (atomic_load(&st.sent) < atomic_load(&st.limit)) {
		uint32_t seq = atomic_load(&st.sent);
		int ret;

		memcpy(big, &seq, sizeof(seq));
		big[BIG - 1] = (uint8_t)seq;
		ret = rw_session_send(s, 1, EV_DATA, big, BIG);
		if (ret == -EAGAIN)
			return;	/* window full: on_writable resumes */
		if (ret) {
			atomic_fetch_add(&st.errors, 1);
			return;
		}
		atomic_fetch_add(&st.sent, 1);
	}
}

static void cli_open(struct rw_session *s, void *u)
{
	(void)u;
	rw_session_set_tick(s, 10);
	atomic_fetch_add(&st.opened, 1);
}

static void cli_tick(struct rw_session *s, void *u)
{
	(void)u;
	snap(s);
	pump(s);
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

static void srv_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	uint32_t seq;

	(void)s, (void)ch, (void)u;
	if (type != EV_DATA || len < sizeof(seq)) {
		atomic_fetch_add(&st.errors, 1);
		return;
	}
	memcpy(&seq, p, sizeof(seq));
	/* once and in order, whole */
	if (seq != st.expect || p[len - 1] != (uint8_t)seq)
		atomic_fetch_add(&st.errors, 1);
	st.expect = seq + 1;
	atomic_fetch_add(&st.received, 1);
}

static struct rw_server *server_up(unsigned max_packet_size, bool deaf, bool reliable, uint8_t key[RW_KEY_SIZE])
{
	struct rw_handler h = { .flags = reliable ? RW_CHANNEL_RELIABLE : 0, .on_event = srv_event };
	struct rw_server_config sc;
	struct rw_server *srv;
	char err[RW_ERRBUF_SIZE];

	rw_server_config_init(&sc);
	sc.listen = "127.0.0.1:0";
	sc.reactors = 1;
	sc.quiet = 1;
	sc.max_packet_size = max_packet_size;
	assert_int_equal(rw_key_generate(key), 0);
	memcpy(sc.private_key, key, RW_KEY_SIZE);
	assert_int_equal(rw_server_create(&srv, &sc, err, sizeof(err)), 0);
	rw__server_engine(srv)->pmtu_deaf = deaf;
	assert_int_equal(rw_server_on(srv, 1, &h), 0);
	assert_int_equal(rw_server_start(srv), 0);
	return srv;
}

static struct rw_client *client_up(unsigned max_packet_size, bool reliable)
{
	struct rw_handler h = { .flags = reliable ? RW_CHANNEL_RELIABLE : 0, .on_open = cli_open,
				.on_close = cli_close, .on_tick = cli_tick, .on_writable = cli_writable };
	struct rw_client_config cc;
	struct rw_client *cli;
	char err[RW_ERRBUF_SIZE];

	rw_client_config_init(&cc);
	cc.quiet = 1;
	cc.bind = "127.0.0.1:0";
	cc.max_packet_size = max_packet_size;
	assert_int_equal(rw_client_create(&cli, &cc, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(cli, 1, &h), 0);
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
	return 0;
}

/* ---- two ringwire peers ------------------------------------------------------------------ */

static void test_acknowledged(void **state)
{
	struct rw_server *srv;
	struct rw_client *cli;
	struct rw_stats before, after;
	uint8_t key[RW_KEY_SIZE];
	uint64_t tx;

	(void)state;
	srv = server_up(65000, false, false, key);
	{
		/* probes leave with Don't Fragment: too large is lost, not fragmented */
		int v = -1;
		socklen_t vl = sizeof(v);

		assert_int_equal(getsockopt(rw__reactor_fd(rw__server_engine(srv)->shards[0].r), IPPROTO_IP,
					    IP_MTU_DISCOVER, &v, &vl), 0);
		assert_int_equal(v, IP_PMTUDISC_PROBE);
	}
	cli = client_up(65000, false);
	dial(cli, key, rw_server_port(srv));
	assert_true(wait_for(&st.pmtu, 8001, 10000));
	/* the search ends at the cap: both sides said they receive 65000 */
	assert_true(wait_for(&st.pmtu, 65000, 10000));
	print_message("pmtu %u after %u probes (%u acked)\n", atomic_load(&st.pmtu), atomic_load(&st.probes_sent),
		      atomic_load(&st.probes_acked));
	assert_int_equal(atomic_load(&st.black_holes), 0);
	usleep(300 * 1000);	/* the server's own search is over too */
	rw_client_stats(cli, &before);
	/* one 64 KiB event, sent from the session's thread */
	atomic_store(&st.limit, 1);
	assert_true(wait_for(&st.received, 1, 5000));
	usleep(50 * 1000);
	rw_client_stats(cli, &after);
	tx = after.tx_packets - before.tx_packets;
	/*
	 * 64 KiB at 1232 bytes a datagram is 55 fragments; at 65000, 2. A few
	 * more may be acks of the server's last probes on a loaded machine.
	 */
	print_message("a 64 KiB event: %llu datagrams\n", (unsigned long long)tx);
	assert_true(tx >= 2 && tx <= 6);
	assert_int_equal(atomic_load(&st.errors), 0);
	rw_client_destroy(cli);
	rw_server_destroy(srv);
}

/* ---- a peer that ignores channel 255 -------------------------------------------------------- */

static void test_ignored(void **state)
{
	struct rw_server *srv;
	struct rw_client *cli;
	uint8_t key[RW_KEY_SIZE];

	(void)state;
	/* the "v1" server neither probes (max_packet_size = max_packet) nor answers */
	srv = server_up(1232, true, true, key);
	cli = client_up(65000, true);
	dial(cli, key, rw_server_port(srv));
	/* MAX_PROBES base-size probes, 500 ms apart, then quiet */
	assert_true(wait_for(&st.probes_sent, RW_PMTU_MAX_PROBES, 5000));
	usleep(2500 * 1000);
	assert_int_equal(atomic_load(&st.probes_sent), RW_PMTU_MAX_PROBES);
	assert_int_equal(atomic_load(&st.probes_acked), 0);
	assert_int_equal(atomic_load(&st.pmtu), 1232);
	/* and everything flows at 1232 */
	atomic_store(&st.limit, XFER_EVENTS);
	assert_true(wait_for(&st.received, XFER_EVENTS, 60000));
	assert_int_equal(atomic_load(&st.errors), 0);
	assert_int_equal(atomic_load(&st.closed), 0);
	assert_int_equal(atomic_load(&st.pmtu), 1232);
	assert_int_equal(atomic_load(&st.probes_sent), RW_PMTU_MAX_PROBES);
	rw_client_destroy(cli);
	rw_server_destroy(srv);
}

/* ---- black-holed mid-transfer ---------------------------------------------------------------- */

static void test_black_hole(void **state)
{
	struct rw_server *srv;
	struct rw_client *cli;
	struct rw_stats cs;
	struct relay relay;
	uint8_t key[RW_KEY_SIZE];

	(void)state;
	srv = server_up(65000, false, true, key);
	assert_int_equal(relay_start(&relay, rw_server_port(srv)), 0);
	cli = client_up(65000, true);
	dial(cli, key, relay_front_port(&relay));
	assert_true(wait_for(&st.pmtu, 65000, 10000));
	atomic_store(&st.limit, XFER_EVENTS / 4);
	assert_true(wait_for(&st.received, XFER_EVENTS / 4, 30000));
	/* the path narrows: every datagram above 3000 bytes vanishes from now on */
	atomic_store(&relay.max_len, HOLE_AT);
	atomic_store(&st.limit, XFER_EVENTS);
	assert_true(wait_for(&st.received, XFER_EVENTS, 60000));
	usleep(100 * 1000);
	print_message("black holes %u, pmtu now %u, relay dropped %llu large datagrams\n",
		      atomic_load(&st.black_holes), atomic_load(&st.pmtu),
		      (unsigned long long)atomic_load(&relay.dropped_big));
	assert_int_equal(atomic_load(&st.errors), 0);
	assert_int_equal(atomic_load(&st.closed), 0);
	assert_int_equal(atomic_load(&st.received), XFER_EVENTS);
	assert_true(atomic_load(&st.black_holes) >= 1);
	assert_true(atomic_load(&st.pmtu) <= HOLE_AT);
	assert_true(atomic_load(&relay.dropped_big) > 0);
	rw_client_stats(cli, &cs);
	assert_true(cs.pmtu_black_holes >= 1);
	rw_client_destroy(cli);
	relay_stop(&relay);
	rw_server_destroy(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_acknowledged, reset),
		cmocka_unit_test_setup(test_ignored, reset),
		cmocka_unit_test_setup(test_black_hole, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
