/* SPDX-License-Identifier: MIT */
/*
 * test_pipeline.c - the send pipeline and the reactor never blocking, end to
 * end over 127.0.0.1 (public API, plus the engine's internal counters):
 *  - a full send ring under a slow receiver: the server has 8 send buffers
 *    (RW_TEST_SEND_BUFFERS) and bursts a reliable channel; every event must
 *    arrive once and in order, and the pipeline must have parked sends;
 *  - a reconnect whose name lookup takes seconds (RW_TEST_RESOLVE_DELAY_MS):
 *    another session on the same reactor keeps echoing meanwhile.
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

static struct rw_server *server_up(struct rw_server_config *sc, const struct rw_handler *h, uint8_t key[RW_KEY_SIZE])
{
	struct rw_server *srv;
	char err[RW_ERRBUF_SIZE];

	sc->listen = "127.0.0.1:0";
	sc->reactors = 1;
	sc->quiet = 1;
	assert_int_equal(rw_key_generate(key), 0);
	memcpy(sc->private_key, key, RW_KEY_SIZE);
	assert_int_equal(rw_server_create(&srv, sc, err, sizeof(err)), 0);
	assert_int_equal(rw_server_on(srv, 1, h), 0);
	assert_int_equal(rw_server_start(srv), 0);
	return srv;
}

static struct rw_client *client_up(struct rw_client_config *cc, const struct rw_handler *h)
{
	struct rw_client *cli;
	char err[RW_ERRBUF_SIZE];

	cc->quiet = 1;
	assert_int_equal(rw_client_create(&cli, cc, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(cli, 1, h), 0);
	assert_int_equal(rw_client_start(cli), 0);
	return cli;
}

/* The server's URI, at another port (a relay's). */
static void uri_to(char *out, size_t cap, const uint8_t priv[RW_KEY_SIZE], uint16_t port)
{
	uint8_t pub[RW_KEY_SIZE];

	assert_int_equal(rw_key_public(pub, priv), 0);
	assert_true(rw_uri_format(out, cap, pub, "127.0.0.1", port) > 0);
}

/* ---- a full send ring under a slow receiver ------------------------------------------ */

enum { BURST_EVENTS = 3000, EV_GO = 1, EV_DATA = 2 };

static struct {
	atomic_uint sent, received, errors, opened, closed;
	uint32_t expect;
} burst;

static void pump(struct rw_session *s)
{
	uint8_t buf[4000];

	while (atomic_load(&burst.sent) < BURST_EVENTS) {
		uint32_t seq = atomic_load(&burst.sent);
		/* every 50th event is larger than a packet: fragments park too */
		size_t len = seq % 50 == 0 ? sizeof(buf) : 1000;
		int ret;

		memset(buf, (int)(seq & 0xff), len);
		memcpy(buf, &seq, sizeof(seq));
		ret = rw_session_send(s, 1, EV_DATA, buf, len);
		if (ret == -EAGAIN)
			return;	/* window full: on_writable resumes */
		if (ret) {
			atomic_fetch_add(&burst.errors, 1);
			return;
		}
		atomic_fetch_add(&burst.sent, 1);
	}
}

static void srv_burst_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	(void)ch, (void)p, (void)len, (void)u;
	if (type == EV_GO)
		pump(s);
}

static void srv_burst_writable(struct rw_session *s, uint8_t ch, void *u)
{
	(void)ch, (void)u;
	pump(s);
}

static void cli_burst_open(struct rw_session *s, void *u)
{
	(void)u;
	atomic_fetch_add(&burst.opened, 1);
	rw_session_send(s, 1, EV_GO, "go", 2);
}

static void cli_burst_close(struct rw_session *s, const struct rw_close_info *why, void *u)
{
	(void)s, (void)why, (void)u;
	atomic_fetch_add(&burst.closed, 1);
}

static void cli_burst_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	uint32_t seq;

	(void)s, (void)ch, (void)u;
	if (type != EV_DATA || len < sizeof(seq)) {
		atomic_fetch_add(&burst.errors, 1);
		return;
	}
	memcpy(&seq, p, sizeof(seq));
	/* once and in order: exactly the next one */
	if (seq != burst.expect || len != (seq % 50 == 0 ? 4000u : 1000u) || p[len - 1] != (uint8_t)(seq & 0xff))
		atomic_fetch_add(&burst.errors, 1);
	burst.expect = seq + 1;
	atomic_fetch_add(&burst.received, 1);
	/* a slow receiver: its reactor stops reading now and then */
	if (seq % 64 == 0)
		usleep(2000);
}

static void test_full_send_ring(void **state)
{
	struct rw_handler sh = { .flags = RW_CHANNEL_RELIABLE, .on_event = srv_burst_event,
				 .on_writable = srv_burst_writable };
	struct rw_handler ch = { .flags = RW_CHANNEL_RELIABLE, .on_open = cli_burst_open, .on_close = cli_burst_close,
				 .on_event = cli_burst_event };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_send_stats ss;
	struct rw_stats st;
	struct rw_server *srv;
	struct rw_client *cli;
	uint8_t key[RW_KEY_SIZE];
	char uri[256], err[RW_ERRBUF_SIZE];

	(void)state;
	memset(&burst, 0, sizeof(burst));
	rw_server_config_init(&sc);
	/* the sender gets 8 send buffers; the receiver the default */
	setenv("RW_TEST_SEND_BUFFERS", "8", 1);
	srv = server_up(&sc, &sh, key);
	unsetenv("RW_TEST_SEND_BUFFERS");
	rw_client_config_init(&cc);
	cli = client_up(&cc, &ch);
	uri_to(uri, sizeof(uri), key, rw_server_port(srv));
	assert_int_equal(rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err)), 0);
	assert_true(wait_for(&burst.opened, 1, 5000));
	assert_true(wait_for(&burst.received, BURST_EVENTS, 60000));
	assert_int_equal(atomic_load(&burst.errors), 0);
	assert_int_equal(atomic_load(&burst.closed), 0);
	assert_int_equal(atomic_load(&burst.received), BURST_EVENTS);
	rw__engine_send_stats(rw__server_engine(srv), &ss);
	print_message("parked %llu, resumed %llu\n", (unsigned long long)ss.parked, (unsigned long long)ss.resumed);
	assert_true(ss.parked > 0);
	rw_server_stats(srv, &st);
	assert_int_equal(st.tx_errors, 0);
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	rw_server_stop(srv);
	rw_server_wait(srv);
	rw_server_destroy(srv);
}

/* ---- a reconnect whose name lookup takes seconds ----------------------------------- */

enum { RESOLVE_DELAY_MS = 2500 };

static struct {
	atomic_uint opened;
	atomic_uint_fast64_t id_a, id_b;
	atomic_uint_fast64_t last_b_ms, max_gap_b_ms, last_a_ms;
	atomic_uint events_a, events_b;
	atomic_bool measuring;
} rc;

static void srv_echo(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	(void)u;
	rw_session_send(s, ch, type, p, len);
}

static void cli_rc_open(struct rw_session *s, void *u)
{
	(void)s, (void)u;
	atomic_fetch_add(&rc.opened, 1);
}

static void cli_rc_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *u)
{
	uint64_t now = now_ms(), id = rw_session_id(s);

	(void)ch, (void)type, (void)p, (void)len, (void)u;
	if (id == atomic_load(&rc.id_b)) {
		uint64_t last = atomic_load(&rc.last_b_ms);

		if (atomic_load(&rc.measuring) && last && now - last > atomic_load(&rc.max_gap_b_ms))
			atomic_store(&rc.max_gap_b_ms, now - last);
		atomic_store(&rc.last_b_ms, now);
		atomic_fetch_add(&rc.events_b, 1);
	} else if (id == atomic_load(&rc.id_a)) {
		atomic_store(&rc.last_a_ms, now);
		atomic_fetch_add(&rc.events_a, 1);
	}
}

static void test_slow_resolve_reconnect(void **state)
{
	struct rw_handler sh = { .on_event = srv_echo };
	struct rw_handler ch = { .on_open = cli_rc_open, .on_event = cli_rc_event };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_server *srv;
	struct rw_client *cli;
	struct relay r;
	uint8_t key[RW_KEY_SIZE];
	char uri[256], err[RW_ERRBUF_SIZE];
	uint64_t id_a, id_b, t0, a_before;
	unsigned ea;

	(void)state;
	memset(&rc, 0, sizeof(rc));
	rw_server_config_init(&sc);
	sc.timers.keepalive_ms = 100;
	srv = server_up(&sc, &sh, key);
	rw_client_config_init(&cc);
	cc.reactors = 1;	/* both sessions on one reactor */
	cc.timers.keepalive_ms = 100;
	cc.timers.session_timeout_ms = 600;
	cc.timers.handshake_retry_ms = 100;
	cc.timers.handshake_attempts = 50;
	cli = client_up(&cc, &ch);
	assert_int_equal(relay_start(&r, rw_server_port(srv)), 0);
	/* A through the relay (it will lose the server), B straight to it */
	uri_to(uri, sizeof(uri), key, relay_front_port(&r));
	assert_int_equal(rw_client_dial(cli, uri, NULL, &id_a, err, sizeof(err)), 0);
	atomic_store(&rc.id_a, id_a);
	uri_to(uri, sizeof(uri), key, rw_server_port(srv));
	assert_int_equal(rw_client_dial(cli, uri, NULL, &id_b, err, sizeof(err)), 0);
	atomic_store(&rc.id_b, id_b);
	assert_true(wait_for(&rc.opened, 2, 5000));

	/* every lookup on the resolver thread now takes seconds */
	setenv("RW_TEST_RESOLVE_DELAY_MS", "2500", 1);
	atomic_store(&r.silent, true);
	t0 = now_ms();
	atomic_store(&rc.last_b_ms, 0);
	atomic_store(&rc.measuring, true);
	/* A times out after 600 ms and reconnects; its lookup ends near t0 + 3.1 s */
	while (now_ms() - t0 < 4500) {
		if (now_ms() - t0 > 1500)
			atomic_store(&r.silent, false);
		rw_client_send(cli, id_b, 1, 1, "b", 1);
		if ((now_ms() - t0) % 100 < 10)
			rw_client_send(cli, id_a, 1, 1, "a", 1);
		usleep(10 * 1000);
	}
	atomic_store(&rc.measuring, false);
	/* a stall still going on at the end counts too */
	if (now_ms() - atomic_load(&rc.last_b_ms) > atomic_load(&rc.max_gap_b_ms))
		atomic_store(&rc.max_gap_b_ms, now_ms() - atomic_load(&rc.last_b_ms));
	print_message("B: %u echoes, longest gap %llu ms while A reconnected\n", atomic_load(&rc.events_b),
		      (unsigned long long)atomic_load(&rc.max_gap_b_ms));
	/* the reactor kept serving B: no gap anywhere near the lookup's seconds */
	assert_true(atomic_load(&rc.events_b) > 100);
	assert_true(atomic_load(&rc.max_gap_b_ms) < 1000);
	/* and A comes back, through the relay, once its lookup answered */
	a_before = atomic_load(&rc.last_a_ms);
	ea = atomic_load(&rc.events_a);
	t0 = now_ms();
	while (atomic_load(&rc.events_a) == ea && now_ms() - t0 < 8000) {
		rw_client_send(cli, id_a, 1, 1, "a", 1);
		usleep(20 * 1000);
	}
	assert_true(atomic_load(&rc.events_a) > ea);
	assert_true(atomic_load(&rc.last_a_ms) > a_before);
	unsetenv("RW_TEST_RESOLVE_DELAY_MS");
	relay_stop(&r);
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	rw_server_stop(srv);
	rw_server_wait(srv);
	rw_server_destroy(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_send_ring),
		cmocka_unit_test(test_slow_resolve_reconnect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
