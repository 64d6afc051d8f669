/* SPDX-License-Identifier: MIT */
/*
 * test_rekey.c - rekeys as the application must not see them, over
 * 127.0.0.1 through the public API: a crowd that connected in one burst
 * rekeys spread over the interval (docs/protocol.md §7.4: a random 0-10 %
 * earlier per session and per rekey); a rekey whose responses are lost
 * retries past handshake_attempts while the old keys carry every event;
 * and one that never completes ends at the keys' hard limit (3x the
 * interval), not before; under load, the rekeys of a crowd of sessions from
 * one address are not held to the per-source rate limit meant for
 * strangers. Every wait is bounded.
 */
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

#include "relay.h"
#include "wait.h"

static atomic_uint srv_opened, cli_opened, cli_closed, cli_events;
static atomic_int close_reason;
static char close_message[256];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int reset(void **state)
{
	(void)state;
	atomic_store(&srv_opened, 0);
	atomic_store(&cli_opened, 0);
	atomic_store(&cli_closed, 0);
	atomic_store(&cli_events, 0);
	atomic_store(&close_reason, 0);
	close_message[0] = 0;
	return 0;
}

static void srv_open(struct rw_session *s, void *user)
{
	(void)s;
	(void)user;
	atomic_fetch_add(&srv_opened, 1);
}

static void echo_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	(void)user;
	rw_session_send(s, ch, type, p, len);
}

static void cli_open(struct rw_session *s, void *user)
{
	(void)s;
	(void)user;
	atomic_fetch_add(&cli_opened, 1);
}

static void cli_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	(void)s;
	(void)user;
	pthread_mutex_lock(&lock);
	atomic_store(&close_reason, why->reason);
	snprintf(close_message, sizeof(close_message), "%s", why->message);
	pthread_mutex_unlock(&lock);
	atomic_fetch_add(&cli_closed, 1);
}

static void cli_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	(void)s;
	(void)ch;
	(void)type;
	(void)p;
	(void)len;
	(void)user;
	atomic_fetch_add(&cli_events, 1);
}

struct fixture {
	struct rw_server *srv;
	struct rw_client *cli;
	char uri[256];
	uint64_t id;
};

static void server_up(struct fixture *f, struct rw_server_config *cfg)
{
	struct rw_handler h = { .on_open = srv_open, .on_event = echo_event, .flags = RW_CHANNEL_RELIABLE };
	char err[RW_ERRBUF_SIZE];

	cfg->listen = "127.0.0.1:0";
	cfg->reactors = 1;
	cfg->quiet = 1;
	assert_int_equal(rw_key_generate(cfg->private_key), 0);
	assert_int_equal(rw_server_create(&f->srv, cfg, err, sizeof(err)), 0);
	assert_int_equal(rw_server_on(f->srv, RW_CHANNEL_ANY, &h), 0);
	assert_int_equal(rw_server_start(f->srv), 0);
	assert_true(rw_server_uri(f->srv, f->uri, sizeof(f->uri)) > 0);
}

static void client_up(struct fixture *f, struct rw_client_config *cfg)
{
	struct rw_handler h = { .on_open = cli_open, .on_close = cli_close, .on_event = cli_event,
				.flags = RW_CHANNEL_RELIABLE };
	char err[RW_ERRBUF_SIZE];

	cfg->quiet = 1;
	assert_int_equal(rw_client_create(&f->cli, cfg, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(f->cli, 1, &h), 0);
	assert_int_equal(rw_client_start(f->cli), 0);
}

static void down(struct fixture *f)
{
	if (f->cli) {
		rw_client_stop(f->cli);
		rw_client_wait(f->cli);
		rw_client_destroy(f->cli);
	}
	if (f->srv) {
		rw_server_stop(f->srv);
		rw_server_wait(f->srv);
		rw_server_destroy(f->srv);
	}
	memset(f, 0, sizeof(*f));
}

/* The wire:// URI of the server, with the port of the relay in front of it. */
static void via(char *out, size_t cap, const char *uri, uint16_t port)
{
	const char *colon = strrchr(uri, ':');

	assert_non_null(colon);
	snprintf(out, cap, "%.*s:%u", (int)(colon - uri), uri, (unsigned int)port);
}

static uint16_t port_of(const char *uri)
{
	return (uint16_t)atoi(strrchr(uri, ':') + 1);
}

/*
 * Echo on the one session for ms milliseconds, at most window in flight;
 * false when an echo is missing at the end (reliable: none may be).
 */
static bool echo_for(struct fixture *f, unsigned ms, unsigned window)
{
	unsigned base = atomic_load(&cli_events), sent = 0;
	uint64_t end = now_ms() + ms;

	while (now_ms() < end && !atomic_load(&cli_closed)) {
		while (sent - (atomic_load(&cli_events) - base) < window &&
		       rw_client_send(f->cli, f->id, 1, 1, &sent, sizeof(sent)) == 0)
			sent++;
		usleep(500);
	}
	end = now_ms() + 5000;
	while (atomic_load(&cli_events) - base < sent && now_ms() < end && !atomic_load(&cli_closed))
		usleep(1000);
	return atomic_load(&cli_events) - base == sent && sent > 0;
}

/* ---- a crowd that connected together rekeys spread out ---------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_rekey_spread(void **state)
{
	enum { N = 200, INTERVAL = 10000 };
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	char err[RW_ERRBUF_SIZE];
	static uint64_t opened_at[N], rekeyed_at[N];
	unsigned nopen = 0, nrekey = 0;
	uint64_t t0, end, open_spread, rekey_spread;

	(void)state;
	rw_server_config_init(&sc);
	/* the burst is all from 127.0.0.1: no cookies, no per-source limit in the way */
	sc.load_handshakes_per_s = 100000;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.timers.rekey_after_ms = INTERVAL;
	cc.reactors = 2;
	client_up(&f, &cc);
	t0 = now_ms();
	for (int i = 0; i < N; i++)
		assert_int_equal(rw_client_dial(f.cli, f.uri, NULL, NULL, err, sizeof(err)), 0);
	/*
	 * The server's counters say when each handshake completed there: the
	 * opens, then (the first wave) the rekeys. Polled every millisecond.
	 */
	end = t0 + INTERVAL * 2 + 5000;
	while (nrekey < N && now_ms() < end) {
		struct rw_stats st;
		uint64_t t = now_ms();

		rw_server_stats(f.srv, &st);
		while (nopen < N && nopen < st.sessions_opened)
			opened_at[nopen++] = t;
		while (nrekey < N && nrekey < st.rekeys)
			rekeyed_at[nrekey++] = t;
		usleep(1000);
	}
	assert_int_equal(nopen, N);
	assert_int_equal(nrekey, N);
	qsort(opened_at, N, sizeof(opened_at[0]), cmp_u64);
	/* 5th to 95th percentile: a straggler or two says nothing about the crowd */
	open_spread = opened_at[N * 95 / 100] - opened_at[N * 5 / 100];
	rekey_spread = rekeyed_at[N * 95 / 100] - rekeyed_at[N * 5 / 100];
	print_message("%d sessions opened over %llu ms, rekeyed over %llu ms (interval %d ms)\n", N,
		      (unsigned long long)open_spread, (unsigned long long)rekey_spread, INTERVAL);
	/* without jitter the first wave is as tight as the burst; with it, 5 % of the interval wider at least */
	assert_true(rekey_spread >= open_spread + INTERVAL / 20);
	/* earlier, never later: no key outlives the interval (plus a busy machine's slack) */
	assert_true(rekeyed_at[N - 1] <= opened_at[N - 1] + INTERVAL + 1000);
	down(&f);
}

/* ---- a rekey whose answers are lost retries while the old keys carry the session -- */

static void test_rekey_retries_past_attempts(void **state)
{
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_stats cs;
	struct relay r;
	char uri[300], err[RW_ERRBUF_SIZE];

	(void)state;
	rw_server_config_init(&sc);
	server_up(&f, &sc);
	assert_int_equal(relay_start(&r, port_of(f.uri)), 0);
	via(uri, sizeof(uri), f.uri, relay_front_port(&r));
	rw_client_config_init(&cc);
	cc.timers.rekey_after_ms = 1000;
	cc.timers.handshake_retry_ms = 100;
	/* a first dial would give up after 3: a rekey must not */
	cc.timers.handshake_attempts = 3;
	client_up(&f, &cc);
	assert_int_equal(rw_client_dial(f.cli, uri, NULL, &f.id, err, sizeof(err)), 0);
	assert_true(wait_for(&cli_opened, 1, 5000));
	/* the next 4 HandshakeResps are lost: attempts 1-4 of the first rekey go unanswered */
	atomic_store(&r.drop_down[2], 4);
	assert_true(echo_for(&f, 2800, 16));
	rw_client_stats(f.cli, &cs);
	print_message("rekeys %llu, retransmits %llu, resps still to drop %u\n", (unsigned long long)cs.rekeys,
		      (unsigned long long)cs.retransmits, atomic_load(&r.drop_down[2]));
	assert_int_equal(atomic_load(&r.drop_down[2]), 0);
	assert_true(cs.rekeys >= 1);
	assert_int_equal(atomic_load(&cli_closed), 0);
	assert_int_equal(atomic_load(&srv_opened), 1);	/* one session all along */
	assert_int_equal(atomic_load(&cli_opened), 1);
	down(&f);
	relay_stop(&r);
}

/* ---- one that never completes ends at the keys' hard limit, not before ------------- */

static void test_rekey_hard_limit(void **state)
{
	enum { INTERVAL = 500 };
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct relay r;
	char uri[300], err[RW_ERRBUF_SIZE];
	uint64_t t_open, t_closed;

	(void)state;
	rw_server_config_init(&sc);
	server_up(&f, &sc);
	assert_int_equal(relay_start(&r, port_of(f.uri)), 0);
	via(uri, sizeof(uri), f.uri, relay_front_port(&r));
	rw_client_config_init(&cc);
	cc.timers.rekey_after_ms = INTERVAL;
	cc.timers.handshake_retry_ms = 100;
	cc.reconnect = 0;
	client_up(&f, &cc);
	assert_int_equal(rw_client_dial(f.cli, uri, NULL, &f.id, err, sizeof(err)), 0);
	assert_true(wait_for(&cli_opened, 1, 5000));
	t_open = now_ms();
	atomic_store(&r.drop_down[2], 1000000);
	/* the old keys carry every event until the limit */
	assert_true(echo_for(&f, INTERVAL * 2, 16));
	assert_int_equal(atomic_load(&cli_closed), 0);
	assert_true(wait_for(&cli_closed, 1, INTERVAL * 3 + 3000));
	t_closed = now_ms();
	pthread_mutex_lock(&lock);
	print_message("closed after %llu ms: %s\n", (unsigned long long)(t_closed - t_open), close_message);
	assert_int_equal(atomic_load(&close_reason), RW_CLOSE_TIMEOUT);
	assert_non_null(strstr(close_message, "rekey"));
	pthread_mutex_unlock(&lock);
	assert_true(t_closed - t_open >= INTERVAL * 3 - 50);
	assert_true(t_closed - t_open <= INTERVAL * 3 + 1000);
	down(&f);
	relay_stop(&r);
}

/* ---- under load, a crowd from one address rekeys past the per-source limit ---------- */

static void test_rekey_not_rate_limited(void **state)
{
	enum { N = 10, INTERVAL = 400 };
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_stats ss0, ss, cs;
	char err[RW_ERRBUF_SIZE];
	uint64_t end;

	(void)state;
	rw_server_config_init(&sc);
	/* always under load: every init needs a cookie, then meets the per-source limit */
	sc.force_cookies = 1;
	sc.source_rate = 2;
	sc.source_burst = N;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.timers.rekey_after_ms = INTERVAL;
	client_up(&f, &cc);
	for (int i = 0; i < N; i++)
		assert_int_equal(rw_client_dial(f.cli, f.uri, NULL, NULL, err, sizeof(err)), 0);
	assert_true(wait_for(&cli_opened, N, 10000));
	rw_server_stats(f.srv, &ss0);
	/* N sessions from 127.0.0.1 rekeying every ~0.4 s: 25 inits/s, against 2/s per source */
	end = now_ms() + 3000;
	while (now_ms() < end)
		usleep(10000);
	rw_server_stats(f.srv, &ss);
	rw_client_stats(f.cli, &cs);
	print_message("%llu rekeys in 3 s, %llu cookies; rate_limited %llu, half_open_limit %llu\n",
		      (unsigned long long)(ss.rekeys - ss0.rekeys),
		      (unsigned long long)(ss.cookies_sent - ss0.cookies_sent),
		      (unsigned long long)(ss.drops[RW_DROP_RATE_LIMITED] - ss0.drops[RW_DROP_RATE_LIMITED]),
		      (unsigned long long)(ss.drops[RW_DROP_HALF_OPEN_LIMIT] - ss0.drops[RW_DROP_HALF_OPEN_LIMIT]));
	/* the dials went through the cookie path (the rekeys carry the cookie in MAC2) */
	assert_true(ss0.cookies_sent >= N);
	assert_int_equal(ss.drops[RW_DROP_RATE_LIMITED], ss0.drops[RW_DROP_RATE_LIMITED]);
	/* every session rekeyed several times (at 2/s for all of them, 6 would have in all) */
	assert_true(ss.rekeys - ss0.rekeys >= N * 4);
	assert_int_equal(atomic_load(&cli_closed), 0);
	down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_rekey_spread, reset),
		cmocka_unit_test_setup(test_rekey_retries_past_attempts, reset),
		cmocka_unit_test_setup(test_rekey_hard_limit, reset),
		cmocka_unit_test_setup(test_rekey_not_rate_limited, reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
