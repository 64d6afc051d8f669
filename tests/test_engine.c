/* SPDX-License-Identifier: MIT */
/*
 * test_engine.c - the engine end to end over 127.0.0.1, through the public
 * API as a user writes it: handshake and echo, many sessions, event sizes
 * up to 1 MB, keepalive and timeout, rekey under traffic, roaming and
 * hand-over between reactors, the cookie path, the allow-list, a barrage of
 * malformed packets, graceful shutdown. Every wait is bounded.
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

#include "relay.h"
#include "wait.h"

/* ---- shared test state ------------------------------------------------------------ */

struct record {
	atomic_uint opened, closed, events;
	atomic_uint_fast64_t bytes;
	atomic_int close_reason, close_by_peer;
	char close_message[256];
	char peer[64];			/* rw_session_peer_addr_str of the last session opened */
	atomic_uint_fast64_t last_id;
	/* for content checks: the payloads seen, by event type */
	pthread_mutex_t lock;
	uint8_t *payload[16];
	size_t plen[16];
};

static struct record srv_rec, cli_rec;

static void rec_reset(struct record *r)
{
	for (int i = 0; i < 16; i++)
		free(r->payload[i]);
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
}

static void on_open(struct rw_session *s, void *user)
{
	struct record *r = user;

	pthread_mutex_lock(&r->lock);
	if (rw_session_peer_addr_str(s, r->peer, sizeof(r->peer)))
		snprintf(r->peer, sizeof(r->peer), "?");
	pthread_mutex_unlock(&r->lock);
	atomic_store(&r->last_id, rw_session_id(s));
	atomic_fetch_add(&r->opened, 1);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct record *r = user;

	(void)s;
	pthread_mutex_lock(&r->lock);
	atomic_store(&r->close_reason, why->reason);
	atomic_store(&r->close_by_peer, why->by_peer);
	snprintf(r->close_message, sizeof(r->close_message), "%s", why->message);
	pthread_mutex_unlock(&r->lock);
	atomic_fetch_add(&r->closed, 1);
}

static void echo_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct record *r = user;

	atomic_fetch_add(&r->events, 1);
	atomic_fetch_add(&r->bytes, len);
	rw_session_send(s, ch, type, p, len);
}

static void record_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct record *r = user;

	(void)s;
	(void)ch;
	if (type < 16) {
		pthread_mutex_lock(&r->lock);
		free(r->payload[type]);
		r->payload[type] = malloc(len + 1);
		memcpy(r->payload[type], p, len);
		r->plen[type] = len;
		pthread_mutex_unlock(&r->lock);
	}
	atomic_fetch_add(&r->bytes, len);
	atomic_fetch_add(&r->events, 1);
}

/* Wait until *v >= want, at most timeout_ms. */
/* ---- fixtures ---------------------------------------------------------------------- */

struct fixture {
	struct rw_server *srv;
	struct rw_client *cli;
	uint8_t srv_key[RW_KEY_SIZE];
	char uri[256];
	uint64_t id;
};

static void server_up_on(struct fixture *f, struct rw_server_config *cfg, const char *listen);

static void server_up(struct fixture *f, struct rw_server_config *cfg)
{
	server_up_on(f, cfg, "127.0.0.1:0");
}

static void server_up_on(struct fixture *f, struct rw_server_config *cfg, const char *listen)
{
	struct rw_server_config def;
	struct rw_handler h = { .on_open = on_open, .on_close = on_close, .on_event = echo_event, .user = &srv_rec };
	char err[RW_ERRBUF_SIZE];

	if (!cfg) {
		rw_server_config_init(&def);
		cfg = &def;
	}
	cfg->listen = listen;
	cfg->reactors = cfg->reactors ? cfg->reactors : 2;
	cfg->quiet = 1;
	assert_int_equal(rw_key_generate(f->srv_key), 0);
	memcpy(cfg->private_key, f->srv_key, RW_KEY_SIZE);
	assert_int_equal(rw_server_create(&f->srv, cfg, err, sizeof(err)), 0);
	assert_int_equal(rw_server_on(f->srv, RW_CHANNEL_ANY, &h), 0);
	assert_int_equal(rw_server_start(f->srv), 0);
	assert_true(rw_server_uri(f->srv, f->uri, sizeof(f->uri)) > 0);
}

static void client_up(struct fixture *f, struct rw_client_config *cfg)
{
	struct rw_client_config def;
	struct rw_handler h = { .on_open = on_open, .on_close = on_close, .on_event = record_event, .user = &cli_rec };
	char err[RW_ERRBUF_SIZE];

	if (!cfg) {
		rw_client_config_init(&def);
		cfg = &def;
	}
	cfg->quiet = 1;
	assert_int_equal(rw_client_create(&f->cli, cfg, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(f->cli, RW_CHANNEL_ANY, &h), 0);
	assert_int_equal(rw_client_start(f->cli), 0);
}

static void dial(struct fixture *f, const char *uri)
{
	char err[RW_ERRBUF_SIZE];

	assert_int_equal(rw_client_dial(f->cli, uri, NULL, &f->id, err, sizeof(err)), 0);
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

static int reset(void **state)
{
	(void)state;
	rec_reset(&srv_rec);
	rec_reset(&cli_rec);
	return 0;
}

/* ---- tests ------------------------------------------------------------------------- */

static void test_handshake_and_echo(void **state)
{
	struct fixture f = { 0 };
	struct rw_stats st;
	char wpub[RW_WPUB_LEN + 1];

	server_up(&f, NULL);
	client_up(&f, NULL);
	dial(&f, f.uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	assert_true(wait_for(&srv_rec.opened, 1, 5000));
	assert_int_equal(rw_client_send(f.cli, f.id, 3, 7, "hello", 5), 0);
	assert_true(wait_for(&cli_rec.events, 1, 5000));
	pthread_mutex_lock(&cli_rec.lock);
	assert_int_equal(cli_rec.plen[7], 5);
	assert_memory_equal(cli_rec.payload[7], "hello", 5);
	pthread_mutex_unlock(&cli_rec.lock);
	rw_server_stats(f.srv, &st);
	assert_int_equal(st.handshakes_completed, 1);
	assert_int_equal(st.sessions_open, 1);
	assert_int_equal(st.events_in, 1);
	/* the URI names the server's key */
	uint8_t pub[RW_KEY_SIZE];
	assert_int_equal(rw_key_public(pub, f.srv_key), 0);
	assert_int_equal(rw_pubkey_to_wpub(wpub, pub), 0);
	assert_non_null(strstr(f.uri, wpub));
	down(&f);
}

static void test_many_sessions(void **state)
{
	struct fixture f = { 0 };
	struct rw_client_config cc;
	struct rw_server_config sc;
	enum { N = 1000 };
	static uint64_t ids[N];
	char err[RW_ERRBUF_SIZE];
	struct rw_stats st;

	rw_server_config_init(&sc);
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.reactors = 2;
	client_up(&f, &cc);
	for (int i = 0; i < N; i++)
		assert_int_equal(rw_client_dial(f.cli, f.uri, NULL, &ids[i], err, sizeof(err)), 0);
	assert_true(wait_for(&cli_rec.opened, N, 30000));
	assert_true(wait_for(&srv_rec.opened, N, 30000));
	for (int i = 0; i < N; i++)
		assert_int_equal(rw_client_send(f.cli, ids[i], 1, 1, &i, sizeof(i)), 0);
	assert_true(wait_for(&cli_rec.events, N, 30000));
	rw_server_stats(f.srv, &st);
	assert_int_equal(st.sessions_open, N);
	assert_int_equal(st.events_in, N);
	down(&f);
}

static void test_event_sizes(void **state)
{
	static const size_t sizes[] = { 0, 1, 100, 1000, 1180, 1186, 1187, 1188, 1189, 1190, 1191, 1192,
					1193, 1200, 2400, 5000, 65535, 65536, 300000, 1 << 20 };
	struct fixture f = { 0 };
	uint8_t *buf = malloc(1 << 20);

	for (size_t i = 0; i < (1 << 20); i++)
		buf[i] = (uint8_t)(i * 31 + (i >> 8));
	server_up(&f, NULL);
	client_up(&f, NULL);
	dial(&f, f.uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned before = atomic_load(&cli_rec.events);

		buf[0] = (uint8_t)i;
		assert_int_equal(rw_client_send(f.cli, f.id, 2, 9, buf, sizes[i]), 0);
		if (!wait_for(&cli_rec.events, before + 1, 10000))
			fail_msg("no echo of a %zu-byte event", sizes[i]);
		pthread_mutex_lock(&cli_rec.lock);
		assert_int_equal(cli_rec.plen[9], sizes[i]);
		if (sizes[i])
			assert_memory_equal(cli_rec.payload[9], buf, sizes[i]);
		pthread_mutex_unlock(&cli_rec.lock);
	}
	free(buf);
	down(&f);
}

static void test_keepalive_and_timeout(void **state)
{
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct relay r;
	char uri[256];
	struct rw_stats st;

	rw_server_config_init(&sc);
	sc.timers.keepalive_ms = 100;
	sc.timers.session_timeout_ms = 600;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.timers.keepalive_ms = 100;
	cc.timers.session_timeout_ms = 600;
	cc.reconnect = 0;
	client_up(&f, &cc);
	assert_int_equal(relay_start(&r, rw_server_port(f.srv)), 0);
	snprintf(uri, sizeof(uri), "%.*s127.0.0.1:%u", (int)(strrchr(f.uri, '@') - f.uri + 1), f.uri,
		 relay_front_port(&r));
	dial(&f, uri);
	assert_true(wait_for(&srv_rec.opened, 1, 5000));
	/* idle for many timeouts: keepalives keep both sides up */
	usleep(1500 * 1000);
	assert_int_equal(atomic_load(&srv_rec.closed), 0);
	assert_int_equal(atomic_load(&cli_rec.closed), 0);
	rw_server_stats(f.srv, &st);
	assert_true(st.rx_packets >= 5);
	/* the client vanishes without a word: both sides time out */
	atomic_store(&r.silent, true);
	assert_true(wait_for(&srv_rec.closed, 1, 3000));
	assert_int_equal(atomic_load(&srv_rec.close_reason), RW_CLOSE_TIMEOUT);
	assert_int_equal(atomic_load(&srv_rec.close_by_peer), 0);
	assert_true(wait_for(&cli_rec.closed, 1, 3000));
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_TIMEOUT);
	relay_stop(&r);
	down(&f);
}

/* Send n events, keeping at most `window` unanswered, until all echoes are back. */
static unsigned pump(struct fixture *f, unsigned n, unsigned window, unsigned timeout_ms, void (*during)(unsigned));

/*
 * docs/protocol.md §7.3: a Keepalive only after keepalive_ms with nothing
 * sent. A session that carries traffic both ways sends none; an idle one
 * still does, each side its own.
 */
static void test_keepalive_only_when_idle(void **state)
{
	enum { KEEPALIVE = 6 };	/* the packet type, docs/protocol.md §4.6 */
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct relay r;
	char uri[256];
	uint64_t up0, down0, up1, down1, end;

	(void)state;
	rw_server_config_init(&sc);
	sc.timers.keepalive_ms = 300;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.timers.keepalive_ms = 300;
	client_up(&f, &cc);
	assert_int_equal(relay_start(&r, rw_server_port(f.srv)), 0);
	snprintf(uri, sizeof(uri), "%.*s127.0.0.1:%u", (int)(strrchr(f.uri, '@') - f.uri + 1), f.uri,
		 relay_front_port(&r));
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	assert_int_equal(pump(&f, 1, 1, 3000, NULL), 1);	/* the key-confirming keepalive is behind us */
	up0 = atomic_load(&r.up_type[KEEPALIVE]);
	down0 = atomic_load(&r.down_type[KEEPALIVE]);
	/* busy: an event and its echo every 20 ms for 1.5 s, five keepalive intervals */
	end = now_ms() + 1500;
	while (now_ms() < end) {
		assert_int_equal(pump(&f, 1, 1, 3000, NULL), 1);
		usleep(20 * 1000);
	}
	up1 = atomic_load(&r.up_type[KEEPALIVE]);
	down1 = atomic_load(&r.down_type[KEEPALIVE]);
	/* none, or one if this thread stalled past an interval on a loaded machine; not five */
	assert_true(up1 - up0 <= 1);
	assert_true(down1 - down0 <= 1);
	/* idle for 1.5 s: each side sends its own, about every 300 ms */
	usleep(1500 * 1000);
	assert_true(atomic_load(&r.up_type[KEEPALIVE]) - up1 >= 3);
	assert_true(atomic_load(&r.down_type[KEEPALIVE]) - down1 >= 3);
	relay_stop(&r);
	down(&f);
}

/* Send n events, keeping at most `window` unanswered, until all echoes are back. */
static unsigned pump(struct fixture *f, unsigned n, unsigned window, unsigned timeout_ms, void (*during)(unsigned))
{
	unsigned base = atomic_load(&cli_rec.events), sent = 0;
	uint64_t end = now_ms() + timeout_ms;

	while (atomic_load(&cli_rec.events) - base < n && now_ms() < end) {
		while (sent < n && sent - (atomic_load(&cli_rec.events) - base) < window) {
			if (rw_client_send(f->cli, f->id, 1, 1, &sent, sizeof(sent)) == 0)
				sent++;
			if (during)
				during(sent);
		}
		usleep(200);
	}
	return atomic_load(&cli_rec.events) - base;
}

static void test_rekey_under_traffic(void **state)
{
	struct fixture f = { 0 };
	struct rw_client_config cc;
	struct rw_server_config sc;
	struct rw_stats cs, ss;
	enum { N = 20000 };

	rw_server_config_init(&sc);
	sc.timers.rekey_drain_ms = 500;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.timers.rekey_after_ms = 150;
	cc.timers.rekey_drain_ms = 500;
	client_up(&f, &cc);
	dial(&f, f.uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	uint64_t t0 = now_ms();
	unsigned got = pump(&f, N, 64, 30000, NULL);
	uint64_t dt = now_ms() - t0;

	rw_client_stats(f.cli, &cs);
	rw_server_stats(f.srv, &ss);
	print_message("rekey test: %u echoes in %llu ms, %llu rekeys\n", got, (unsigned long long)dt,
		      (unsigned long long)cs.rekeys);
	assert_int_equal(got, N);
	assert_int_equal(ss.events_in, N);
	/* keep going until several rekeys happened under traffic */
	while (cs.rekeys < 5 && now_ms() - t0 < 20000) {
		assert_int_equal(pump(&f, 2000, 64, 10000, NULL), 2000);
		rw_client_stats(f.cli, &cs);
	}
	assert_true(cs.rekeys >= 5);
	rw_server_stats(f.srv, &ss);
	assert_true(ss.rekeys >= 5);
	assert_int_equal(ss.events_in, cs.events_in);
	assert_int_equal(atomic_load(&srv_rec.opened), 1);	/* one session all along */
	assert_int_equal(atomic_load(&cli_rec.closed), 0);
	down(&f);
}

static struct relay *roam_relay;

static void roam_every(unsigned sent)
{
	if (sent % 500 == 250)
		relay_roam(roam_relay);
}

static void test_roaming_and_handoff(void **state)
{
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct relay r;
	struct rw_stats st;
	char uri[256];

	rw_server_config_init(&sc);
	sc.reactors = 2;
	server_up(&f, &sc);
	client_up(&f, NULL);
	assert_int_equal(relay_start(&r, rw_server_port(f.srv)), 0);
	snprintf(uri, sizeof(uri), "%.*s127.0.0.1:%u", (int)(strrchr(f.uri, '@') - f.uri + 1), f.uri,
		 relay_front_port(&r));
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	roam_relay = &r;
	/* 20 new source ports mid-stream: each lands on either reactor; none may lose an event */
	assert_int_equal(pump(&f, 10000, 16, 30000, roam_every), 10000);
	rw_server_stats(f.srv, &st);
	assert_int_equal(st.sessions_opened, 1);
	assert_int_equal(st.events_in, 10000);
	/* with 2 reactors and 20 roams, some packets arrived at the non-owner */
	assert_true(st.handoffs > 0);
	relay_stop(&r);
	down(&f);
}

static void test_cookie_path(void **state)
{
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_stats st;

	rw_server_config_init(&sc);
	sc.force_cookies = 1;
	server_up(&f, &sc);
	client_up(&f, NULL);
	dial(&f, f.uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	rw_server_stats(f.srv, &st);
	assert_true(st.cookies_sent >= 1);
	assert_true(st.drops[RW_DROP_UNDER_LOAD] >= 1);
	assert_int_equal(st.handshakes_completed, 1);
	assert_int_equal(rw_client_send(f.cli, f.id, 1, 1, "x", 1), 0);
	assert_true(wait_for(&cli_rec.events, 1, 5000));
	down(&f);
}

static void test_allow_list_rejects_with_reason(void **state)
{
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	uint8_t allowed[1][RW_KEY_SIZE], other[RW_KEY_SIZE], good[RW_KEY_SIZE];
	struct rw_stats st;

	/* one allowed key; a client with another key is refused and told why */
	assert_int_equal(rw_key_generate(good), 0);
	assert_int_equal(rw_key_public(allowed[0], good), 0);
	rw_server_config_init(&sc);
	sc.allowed_keys = (const uint8_t(*)[RW_KEY_SIZE])allowed;
	sc.allowed_count = 1;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	assert_int_equal(rw_key_generate(other), 0);
	memcpy(cc.private_key, other, RW_KEY_SIZE);
	cc.has_private_key = 1;
	client_up(&f, &cc);
	dial(&f, f.uri);
	assert_true(wait_for(&cli_rec.closed, 1, 5000));
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_REJECTED);
	assert_int_equal(atomic_load(&cli_rec.close_by_peer), 1);
	assert_non_null(strstr(cli_rec.close_message, "not allowed"));
	rw_server_stats(f.srv, &st);
	/*
	 * Two inits refused: the first earns a cookie (the reason costs more
	 * bytes than an unproven address may receive), the retry with MAC2
	 * gets the reason.
	 */
	assert_int_equal(st.drops[RW_DROP_REJECTED_KEY], 2);
	assert_int_equal(st.cookies_sent, 1);
	assert_int_equal(st.sessions_opened, 0);
	rw_client_stop(f.cli);
	rw_client_wait(f.cli);
	rw_client_destroy(f.cli);
	f.cli = NULL;

	/* the allowed key gets in */
	rec_reset(&cli_rec);
	rw_client_config_init(&cc);
	memcpy(cc.private_key, good, RW_KEY_SIZE);
	cc.has_private_key = 1;
	client_up(&f, &cc);
	dial(&f, f.uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	down(&f);
}

static int raw_send(uint16_t port, const void *p, size_t len)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	ssize_t n;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = sendto(fd, p, len, 0, (struct sockaddr *)&a, sizeof(a));
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

static void test_malformed_barrage(void **state)
{
	struct fixture f = { 0 };
	struct relay r;
	struct rw_stats before, after;
	uint8_t pkt[2048];
	char uri[256];
	uint16_t port;

	server_up(&f, NULL);
	client_up(&f, NULL);
	port = rw_server_port(f.srv);
	assert_int_equal(relay_start(&r, port), 0);
	snprintf(uri, sizeof(uri), "%.*s127.0.0.1:%u", (int)(strrchr(f.uri, '@') - f.uri + 1), f.uri,
		 relay_front_port(&r));
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	assert_int_equal(rw_client_send(f.cli, f.id, 1, 1, "abc", 3), 0);
	assert_true(wait_for(&cli_rec.events, 1, 5000));
	usleep(50 * 1000);
	rw_server_stats(f.srv, &before);

	/* sizes per type, unknown types, empty */
	static const struct {
		uint8_t type;
		size_t len;
	} bad[] = { { 1, 147 }, { 1, 149 }, { 2, 91 }, { 2, 93 }, { 3, 63 }, { 3, 65 }, { 4, 20 }, { 4, 32 },
		    { 5, 31 },	{ 5, 33 },  { 6, 16 }, { 6, 40 }, { 7, 40 }, { 7, 17 }, { 8, 100 }, { 0, 50 },
		    { 255, 32 } };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(pkt, 0x5a, sizeof(pkt));
		pkt[0] = bad[i].type;
		assert_int_equal(raw_send(port, pkt, bad[i].len), 0);
	}
	assert_int_equal(raw_send(port, pkt, 0), 0);
	/* a HandshakeInit with a wrong MAC1 */
	memset(pkt, 0x11, 148);
	pkt[0] = 1;
	assert_int_equal(raw_send(port, pkt, 148), 0);
	/* data for an index nobody has */
	memset(pkt, 0x22, 64);
	pkt[0] = 4;
	pkt[4] = 0xfe;	/* low bits name shard 0 or 1 either way; random rest */
	assert_int_equal(raw_send(port, pkt, 64), 0);
	/* real captured packets: a replayed data packet, a tampered one, a replayed keepalive relabelled */
	pthread_mutex_lock(&r.lock);
	size_t dl = r.last_len[4], kl = r.last_len[6];
	uint8_t data[2048], ka[64];
	memcpy(data, r.last[4], dl);
	memcpy(ka, r.last[6], kl);
	pthread_mutex_unlock(&r.lock);
	assert_true(dl > 0 && kl == 32);
	assert_int_equal(raw_send(port, data, dl), 0);		/* replay */
	data[dl - 1] ^= 1;
	data[8] ^= 0x40;					/* new counter, bad tag */
	assert_int_equal(raw_send(port, data, dl), 0);
	ka[0] = 5;						/* Keepalive relabelled as Disconnect */
	assert_int_equal(raw_send(port, ka, kl), 0);
	usleep(200 * 1000);
	rw_server_stats(f.srv, &after);
#define D(reason) (after.drops[reason] - before.drops[reason])
	assert_int_equal(D(RW_DROP_BAD_SIZE), 14);
	assert_int_equal(D(RW_DROP_UNKNOWN_TYPE), 3);
	assert_int_equal(D(RW_DROP_EMPTY), 1);
	assert_int_equal(D(RW_DROP_BAD_MAC1), 1);
	assert_int_equal(D(RW_DROP_UNKNOWN_INDEX), 1);
	assert_int_equal(D(RW_DROP_REPLAY), 2);
	assert_int_equal(D(RW_DROP_DECRYPT), 1);
#undef D
	/* and the session keeps working: the relabelled keepalive did not close it */
	assert_int_equal(atomic_load(&srv_rec.closed), 0);
	unsigned e = atomic_load(&cli_rec.events);
	assert_int_equal(rw_client_send(f.cli, f.id, 1, 1, "still", 5), 0);
	assert_true(wait_for(&cli_rec.events, e + 1, 5000));
	relay_stop(&r);
	down(&f);
}

static void test_graceful_shutdown(void **state)
{
	struct fixture f = { 0 };

	server_up(&f, NULL);
	client_up(&f, NULL);
	dial(&f, f.uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	assert_int_equal(rw_server_stop(f.srv), 0);
	assert_int_equal(rw_server_wait(f.srv), 0);
	/* the client is told, with the reason, instead of timing out */
	assert_true(wait_for(&cli_rec.closed, 1, 3000));
	assert_int_equal(atomic_load(&cli_rec.close_by_peer), 1);
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_SHUTDOWN);
	assert_int_equal(atomic_load(&srv_rec.closed), 1);
	down(&f);
}

static void test_dial_errors(void **state)
{
	struct fixture f = { 0 };
	struct rw_client_config cc;
	char err[RW_ERRBUF_SIZE] = "";
	uint64_t id;

	rw_client_config_init(&cc);
	cc.timers.handshake_retry_ms = 50;
	cc.timers.handshake_attempts = 3;
	client_up(&f, &cc);
	assert_int_equal(rw_client_dial(f.cli, "wire://nope@127.0.0.1:1", NULL, &id, err, sizeof(err)), -EINVAL);
	assert_true(strlen(err) > 0);
	/* nobody answers: the dial ends with RW_CLOSE_RETRIES */
	uint8_t k[RW_KEY_SIZE], pub[RW_KEY_SIZE];
	char uri[256];
	assert_int_equal(rw_key_generate(k), 0);
	assert_int_equal(rw_key_public(pub, k), 0);
	int fd = relay_udp(0);	/* a port that never answers */
	assert_true(rw_uri_format(uri, sizeof(uri), pub, "127.0.0.1", relay_port(fd)) > 0);
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.closed, 1, 5000));
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_RETRIES);
	assert_int_equal(atomic_load(&cli_rec.opened), 0);
	close(fd);
	down(&f);
}

/* ---- send rate limit --------------------------------------------------------------- */

static struct {
	uint32_t next, total;
	atomic_uint eagain, writable;
} paced;

static void paced_feed(struct rw_session *s)
{
	static uint8_t buf[1000];

	while (paced.next < paced.total) {
		int ret = rw_session_send(s, 1, 1, buf, sizeof(buf));

		if (ret == -EAGAIN) {
			atomic_fetch_add(&paced.eagain, 1);
			return;
		}
		assert_int_equal(ret, 0);
		paced.next++;
	}
}

static void paced_open(struct rw_session *s, void *user)
{
	on_open(s, user);
	paced_feed(s);
}

static void paced_writable(struct rw_session *s, uint8_t ch, void *user)
{
	(void)ch;
	(void)user;
	atomic_fetch_add(&paced.writable, 1);
	paced_feed(s);
}

static void test_send_rate_limit(void **state)
{
	struct fixture f = { 0 };
	struct rw_client_config cc;
	struct rw_handler h = { .on_open = paced_open, .on_writable = paced_writable, .on_event = record_event,
				.user = &cli_rec };
	char err[RW_ERRBUF_SIZE];
	uint64_t t0;

	(void)state;
	memset(&paced, 0, sizeof(paced));
	paced.total = 300;		/* 300 KB at 100 KB/s with a 200 KB burst: >= 1 s */
	server_up(&f, NULL);
	rw_client_config_init(&cc);
	cc.send_rate_bps = 100000;
	cc.quiet = 1;
	assert_int_equal(rw_client_create(&f.cli, &cc, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(f.cli, RW_CHANNEL_ANY, &h), 0);
	assert_int_equal(rw_client_start(f.cli), 0);
	t0 = now_ms();
	dial(&f, f.uri);
	assert_true(wait_for(&srv_rec.events, 300, 10000));
	/* the limiter delayed the sends (a lower bound only: never a speed assertion) */
	assert_true(now_ms() - t0 >= 700);
	/* ... without blocking the reactor: the echoes came back all along */
	assert_true(wait_for(&cli_rec.events, 300, 10000));
	/* the queue (100 KB) was full at times: the sender was told, then resumed */
	assert_true(atomic_load(&paced.eagain) > 0);
	assert_true(atomic_load(&paced.writable) > 0);
	assert_int_equal(atomic_load(&srv_rec.bytes), 300 * 1000);
	down(&f);
}

/* ---- broadcast across reactors --------------------------------------------------- */

static atomic_uint acks, news, stray;

static void sub_srv_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	(void)p;
	(void)len;
	(void)user;
	if (type == 100 && rw_session_subscribe(s, ch) == 0 && rw_session_subscribed(s, ch))
		rw_session_send(s, ch, 101, "ok", 2);
}

static void sub_cli_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	(void)s;
	(void)user;
	if (type == 101)
		atomic_fetch_add(&acks, 1);
	else if (type == 102 && ch == 5 && len == 4 && !memcmp(p, "news", 4))
		atomic_fetch_add(&news, 1);
	else
		atomic_fetch_add(&stray, 1);
}

static void test_broadcast(void **state)
{
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_server *srv;
	struct rw_client *cli;
	struct rw_handler hs = { .on_event = sub_srv_event }, hc = { .on_open = on_open, .on_event = sub_cli_event,
								      .user = &cli_rec };
	char err[RW_ERRBUF_SIZE], uri[256];
	uint64_t ids[20];

	(void)state;
	atomic_store(&acks, 0);
	atomic_store(&news, 0);
	atomic_store(&stray, 0);
	rw_server_config_init(&sc);
	sc.listen = "127.0.0.1:0";
	sc.reactors = 2;
	sc.quiet = 1;
	assert_int_equal(rw_key_generate(sc.private_key), 0);
	assert_int_equal(rw_server_create(&srv, &sc, err, sizeof(err)), 0);
	assert_int_equal(rw_server_on(srv, RW_CHANNEL_ANY, &hs), 0);
	assert_int_equal(rw_server_start(srv), 0);
	assert_true(rw_server_uri(srv, uri, sizeof(uri)) > 0);
	rw_client_config_init(&cc);
	cc.reactors = 2;
	cc.quiet = 1;
	assert_int_equal(rw_client_create(&cli, &cc, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(cli, RW_CHANNEL_ANY, &hc), 0);
	assert_int_equal(rw_client_start(cli), 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(rw_client_dial(cli, uri, NULL, &ids[i], err, sizeof(err)), 0);
	assert_true(wait_for(&cli_rec.opened, 20, 10000));
	/* half subscribe to channel 5 */
	for (int i = 0; i < 20; i += 2)
		assert_int_equal(rw_client_send(cli, ids[i], 5, 100, NULL, 0), 0);
	assert_true(wait_for(&acks, 10, 5000));
	/* from a foreign thread: reaches the subscribers on both server reactors, and only them */
	assert_int_equal(rw_server_broadcast(srv, 5, 102, "news", 4), 0);
	assert_int_equal(rw_server_broadcast(srv, 6, 102, "none", 4), 0);
	assert_true(wait_for(&news, 10, 5000));
	usleep(100 * 1000);
	assert_int_equal(atomic_load(&news), 10);
	assert_int_equal(atomic_load(&stray), 0);
	assert_int_equal(rw_server_broadcast(srv, 255, 1, "x", 1), -EINVAL);
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	rw_server_stop(srv);
	rw_server_wait(srv);
	rw_server_destroy(srv);
}

/* ---- persistent connection: reconnect after an outage ------------------------------- */

static void test_reconnect_after_outage(void **state)
{
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_stats st;
	struct relay r;
	char uri[256];

	(void)state;
	rw_server_config_init(&sc);
	sc.timers.keepalive_ms = 100;
	sc.timers.session_timeout_ms = 400;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.timers.keepalive_ms = 100;
	cc.timers.session_timeout_ms = 400;
	cc.timers.handshake_retry_ms = 100;
	cc.timers.handshake_attempts = 50;
	client_up(&f, &cc);	/* reconnect is on by default */
	assert_int_equal(relay_start(&r, rw_server_port(f.srv)), 0);
	snprintf(uri, sizeof(uri), "%.*s127.0.0.1:%u", (int)(strrchr(f.uri, '@') - f.uri + 1), f.uri,
		 relay_front_port(&r));
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	assert_int_equal(rw_client_send(f.cli, f.id, 1, 1, "a", 1), 0);
	assert_true(wait_for(&cli_rec.events, 1, 5000));
	/* an outage longer than both timeouts: the server forgets the session */
	atomic_store(&r.silent, true);
	assert_true(wait_for(&srv_rec.closed, 1, 3000));
	usleep(300 * 1000);
	atomic_store(&r.silent, false);
	/* the client handshakes again by itself; the same session id keeps working */
	assert_true(wait_for(&srv_rec.opened, 2, 5000));
	unsigned e = atomic_load(&cli_rec.events);
	uint64_t t0 = now_ms();
	while (atomic_load(&cli_rec.events) == e && now_ms() - t0 < 5000) {
		rw_client_send(f.cli, f.id, 1, 1, "b", 1);
		usleep(20 * 1000);
	}
	assert_true(atomic_load(&cli_rec.events) > e);
	assert_int_equal(atomic_load(&cli_rec.closed), 0);
	rw_client_stats(f.cli, &st);
	assert_true(st.handshakes_completed >= 2);
	relay_stop(&r);
	down(&f);
}

/* A session lost at one address hint (§16.3) reconnects to the next one, the same session. */
static void test_reconnect_next_hint(void **state)
{
	struct fixture f = { 0 };
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct relay r1, r2;
	char uri[512];
	unsigned e;
	uint64_t t0;

	(void)state;
	rw_server_config_init(&sc);
	sc.timers.keepalive_ms = 100;
	sc.timers.session_timeout_ms = 400;
	server_up(&f, &sc);
	rw_client_config_init(&cc);
	cc.timers.keepalive_ms = 100;
	cc.timers.session_timeout_ms = 400;
	cc.timers.handshake_retry_ms = 100;
	client_up(&f, &cc);	/* reconnect is on by default */
	/* two ways to the one server: two addresses of one identity */
	assert_int_equal(relay_start(&r1, rw_server_port(f.srv)), 0);
	assert_int_equal(relay_start(&r2, rw_server_port(f.srv)), 0);
	snprintf(uri, sizeof(uri), "%.*s127.0.0.1:%u,127.0.0.1:%u", (int)(strrchr(f.uri, '@') - f.uri + 1), f.uri,
		 relay_front_port(&r1), relay_front_port(&r2));
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	assert_int_equal(rw_client_send(f.cli, f.id, 1, 1, "a", 1), 0);
	assert_true(wait_for(&cli_rec.events, 1, 5000));
	assert_int_equal(atomic_load(&r2.up_packets), 0);
	/* the first address goes silent for good: the session moves to the second */
	atomic_store(&r1.silent, true);
	e = atomic_load(&cli_rec.events);
	t0 = now_ms();
	while (atomic_load(&cli_rec.events) == e && now_ms() - t0 < 5000) {
		rw_client_send(f.cli, f.id, 1, 1, "b", 1);
		usleep(20 * 1000);
	}
	print_message("first address silent: echo again through the second after %llu ms\n",
		      (unsigned long long)(now_ms() - t0));
	assert_true(atomic_load(&cli_rec.events) > e);
	assert_true(atomic_load(&r2.up_packets) > 0);
	assert_int_equal(atomic_load(&cli_rec.closed), 0);
	relay_stop(&r1);
	relay_stop(&r2);
	down(&f);
}

/* ---- address families, dialable URIs, dials that fail fast ------------------------------ */

/* The server's URI with its host replaced (as a user copies a key into a URI). */
static void uri_at(char *out, size_t cap, const struct fixture *f, const char *host)
{
	uint8_t pub[RW_KEY_SIZE];

	assert_int_equal(rw_key_public(pub, f->srv_key), 0);
	assert_true(rw_uri_format(out, cap, pub, host, rw_server_port(f->srv)) > 0);
}

/* One default client dials `host` on the fixture's server and echoes once. */
static void dial_and_echo(struct fixture *f, const char *host, const char *want_peer)
{
	unsigned opened = atomic_load(&cli_rec.opened), srv_opened = atomic_load(&srv_rec.opened);
	unsigned ev = atomic_load(&cli_rec.events);
	char uri[RW_URI_MAX];

	uri_at(uri, sizeof(uri), f, host);
	dial(f, uri);
	assert_true(wait_for(&cli_rec.opened, opened + 1, 5000));
	assert_int_equal(rw_client_send(f->cli, f->id, 1, 1, "hi", 2), 0);
	assert_true(wait_for(&cli_rec.events, ev + 1, 5000));
	assert_true(wait_for(&srv_rec.opened, srv_opened + 1, 5000));
	/* the server names the client as the user would write its address */
	pthread_mutex_lock(&srv_rec.lock);
	if (strncmp(srv_rec.peer, want_peer, strlen(want_peer)) != 0)
		fail_msg("server sees the client as %s, expected %s...", srv_rec.peer, want_peer);
	pthread_mutex_unlock(&srv_rec.lock);
}

static void test_dual_stack_client(void **state)
{
	static const struct {
		const char *listen, *dial, *peer;
	} cases[] = {
		{ "[::1]:0", "::1", "[::1]:" },
		{ "[::]:0", "127.0.0.1", "127.0.0.1:" },	/* not [::ffff:127.0.0.1] */
		{ "[::]:0", "::1", "[::1]:" },
		{ "127.0.0.1:0", "127.0.0.1", "127.0.0.1:" },
	};
	struct fixture srv[4] = { 0 }, cli = { 0 };

	(void)state;
	client_up(&cli, NULL);	/* default bind: one socket for both families */
	for (unsigned i = 0; i < 4; i++) {
		server_up_on(&srv[i], NULL, cases[i].listen);
		cli.srv = srv[i].srv;
		memcpy(cli.srv_key, srv[i].srv_key, RW_KEY_SIZE);
		dial_and_echo(&cli, cases[i].dial, cases[i].peer);
		print_message("default client -> server on %s via %s: open, echoed; server sees %s\n", cases[i].listen,
			      cases[i].dial, srv_rec.peer);
	}
	assert_int_equal(atomic_load(&cli_rec.closed), 0);
	cli.srv = NULL;
	down(&cli);
	for (unsigned i = 0; i < 4; i++)
		down(&srv[i]);
}

/* Count the lines of rw_server_uris output and check each parses; the number of lines. */
static int check_uri_lines(const char *text, uint16_t port)
{
	char line[RW_URI_MAX];
	int n = 0;

	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		struct rw_endpoint ep;
		char err[RW_ERRBUF_SIZE];

		assert_non_null(nl);
		assert_true((size_t)(nl - p) < sizeof(line));
		memcpy(line, p, (size_t)(nl - p));
		line[nl - p] = '\0';
		if (rw_uri_parse(line, &ep, err, sizeof(err)))
			fail_msg("line %d \"%s\" does not parse: %s", n + 1, line, err);
		assert_int_equal(ep.port, port);
		/* a wildcard is never offered as a place to send to */
		assert_string_not_equal(ep.host, "0.0.0.0");
		assert_string_not_equal(ep.host, "::");
		n++;
		p = nl + 1;
	}
	return n;
}

static void test_server_uris(void **state)
{
	struct fixture f = { 0 };
	char out[16 * RW_URI_MAX], one[RW_URI_MAX], want[RW_URI_MAX], small[64];
	int n;

	(void)state;
	/* [::]: first the loopback, then both families' interface addresses */
	server_up_on(&f, NULL, "[::]:0");
	n = rw_server_uris(f.srv, out, sizeof(out));
	print_message("rw_server_uris on [::]:%u (%d lines):\n%s", rw_server_port(f.srv), n, out);
	assert_true(n >= 2);
	assert_int_equal(check_uri_lines(out, rw_server_port(f.srv)), n);
	assert_true(rw_server_uri(f.srv, one, sizeof(one)) > 0);
	uri_at(want, sizeof(want), &f, "::1");
	assert_string_equal(one, want);
	assert_memory_equal(out, one, strlen(one));	/* the first line is rw_server_uri */
	uri_at(want, sizeof(want), &f, "127.0.0.1");
	strcat(want, "\n");
	assert_non_null(strstr(out, want));		/* the socket takes IPv4 too */
	assert_int_equal(rw_server_uris(f.srv, small, sizeof(small)), -ENOSPC);
	/* the first line, dialled by a default client */
	*strchr(out, '\n') = '\0';
	client_up(&f, NULL);
	dial(&f, out);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	down(&f);

	/* 0.0.0.0: IPv4 only */
	server_up_on(&f, NULL, "0.0.0.0:0");
	n = rw_server_uris(f.srv, out, sizeof(out));
	print_message("rw_server_uris on 0.0.0.0:%u (%d lines):\n%s", rw_server_port(f.srv), n, out);
	assert_true(n >= 1);
	assert_int_equal(check_uri_lines(out, rw_server_port(f.srv)), n);
	uri_at(want, sizeof(want), &f, "127.0.0.1");
	assert_memory_equal(out, want, strlen(want));
	assert_null(strchr(out, '['));
	*strchr(out, '\n') = '\0';
	client_up(&f, NULL);
	dial(&f, out);
	assert_true(wait_for(&cli_rec.opened, 2, 5000));
	down(&f);

	/* a specific address: that one line */
	server_up_on(&f, NULL, "127.0.0.1:0");
	assert_int_equal(rw_server_uris(f.srv, out, sizeof(out)), 1);
	assert_true(rw_server_uri(f.srv, one, sizeof(one)) > 0);
	strcat(one, "\n");
	assert_string_equal(out, one);
	down(&f);
}

static void test_dial_fails_fast(void **state)
{
	struct fixture f = { 0 }, g = { 0 };
	struct rw_client_config cc;
	char uri[RW_URI_MAX], want[192];
	uint64_t t0, took;

	(void)state;
	/*
	 * A client bound to [::1] cannot send to an IPv4 server (the kernel
	 * says ENETUNREACH): the dial ends at once, not after ~8 s of retries.
	 */
	server_up(&f, NULL);
	rw_client_config_init(&cc);
	cc.bind = "[::1]:0";
	client_up(&f, &cc);
	uri_at(uri, sizeof(uri), &f, "127.0.0.1");
	t0 = now_ms();
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.closed, 1, 5000));
	took = now_ms() - t0;
	print_message("dial 127.0.0.1 from [::1]: closed after %llu ms: %s\n", (unsigned long long)took,
		      cli_rec.close_message);
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_NETWORK);
	assert_int_equal(atomic_load(&cli_rec.opened), 0);
	assert_true(took < 500);
	snprintf(want, sizeof(want), "send to 127.0.0.1:%u failed: ", rw_server_port(f.srv));
	assert_memory_equal(cli_rec.close_message, want, strlen(want));
	assert_non_null(strstr(cli_rec.close_message, "--bind"));
	assert_string_equal(rw_close_reason_name(RW_CLOSE_NETWORK), "network error");
	down(&f);

	/* the other way round: an IPv4-only client and an IPv6 server (EAFNOSUPPORT, before any send) */
	rec_reset(&cli_rec);
	server_up_on(&f, NULL, "[::1]:0");
	rw_client_config_init(&cc);
	cc.bind = "127.0.0.1:0";
	client_up(&f, &cc);
	uri_at(uri, sizeof(uri), &f, "::1");
	t0 = now_ms();
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.closed, 1, 5000));
	took = now_ms() - t0;
	print_message("dial [::1] from 127.0.0.1: closed after %llu ms: %s\n", (unsigned long long)took,
		      cli_rec.close_message);
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_NETWORK);
	assert_true(took < 500);
	snprintf(want, sizeof(want), "send to [::1]:%u failed: %s; bind an address of the server's family (--bind)",
		 rw_server_port(f.srv), strerror(EAFNOSUPPORT));
	assert_string_equal(cli_rec.close_message, want);
	down(&f);

	/* a wrong key: no answer, and handshake_timeout_ms bounds the wait */
	rec_reset(&cli_rec);
	server_up(&f, NULL);
	server_up(&g, NULL);	/* only for a key that is not f's */
	rw_client_config_init(&cc);
	cc.handshake_timeout_ms = 1000;
	client_up(&f, &cc);
	memcpy(f.srv_key, g.srv_key, RW_KEY_SIZE);
	uri_at(uri, sizeof(uri), &f, "127.0.0.1");
	t0 = now_ms();
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.closed, 1, 5000));
	took = now_ms() - t0;
	print_message("wrong key, handshake_timeout_ms 1000: closed after %llu ms: %s\n", (unsigned long long)took,
		      cli_rec.close_message);
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_RETRIES);
	assert_true(took >= 900 && took < 2000);
	snprintf(want, sizeof(want), "no handshake response from 127.0.0.1:%u within 1000 ms; check the server's key",
		 rw_server_port(f.srv));
	assert_memory_equal(cli_rec.close_message, want, strlen(want));
	down(&g);
	down(&f);
}

/* Several address hints (docs/protocol.md §16.3): a silent first address, then the server. */
static void test_dial_hints(void **state)
{
	struct fixture f = { 0 };
	struct rw_client_config cc;
	char one[RW_URI_MAX], uri[2 * RW_URI_MAX];
	char *at;
	uint64_t t0, took;

	(void)state;
	server_up(&f, NULL);
	rw_client_config_init(&cc);
	cc.handshake_timeout_ms = 500;
	client_up(&f, &cc);
	uri_at(one, sizeof(one), &f, "127.0.0.1");
	at = strchr(one, '@');
	assert_non_null(at);
	/* port 9 (discard) on loopback: nothing of ours answers there */
	snprintf(uri, sizeof(uri), "%.*s@127.0.0.1:9,%s", (int)(at - one), one, at + 1);
	t0 = now_ms();
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	took = now_ms() - t0;
	print_message("first address silent, second serves: opened after %llu ms\n", (unsigned long long)took);
	assert_true(took >= 400);
	assert_int_equal(atomic_load(&cli_rec.closed), 0);
	down(&f);

	/* every address silent: the dial fails once each has had its handshake_timeout_ms */
	rec_reset(&cli_rec);
	server_up(&f, NULL);
	client_up(&f, &cc);
	snprintf(uri, sizeof(uri), "%.*s@127.0.0.1:9,[::1]:9", (int)(at - one), one);
	t0 = now_ms();
	dial(&f, uri);
	assert_true(wait_for(&cli_rec.closed, 1, 5000));
	took = now_ms() - t0;
	print_message("two silent addresses: closed after %llu ms: %s\n", (unsigned long long)took,
		      cli_rec.close_message);
	assert_int_equal(atomic_load(&cli_rec.close_reason), RW_CLOSE_RETRIES);
	assert_int_equal(atomic_load(&cli_rec.opened), 0);
	assert_true(took >= 900 && took < 3000);
	assert_non_null(strstr(cli_rec.close_message, "[::1]:9"));
	down(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_handshake_and_echo, reset),
		cmocka_unit_test_setup(test_many_sessions, reset),
		cmocka_unit_test_setup(test_event_sizes, reset),
		cmocka_unit_test_setup(test_keepalive_and_timeout, reset),
		cmocka_unit_test_setup(test_keepalive_only_when_idle, reset),
		cmocka_unit_test_setup(test_rekey_under_traffic, reset),
		cmocka_unit_test_setup(test_roaming_and_handoff, reset),
		cmocka_unit_test_setup(test_cookie_path, reset),
		cmocka_unit_test_setup(test_allow_list_rejects_with_reason, reset),
		cmocka_unit_test_setup(test_malformed_barrage, reset),
		cmocka_unit_test_setup(test_graceful_shutdown, reset),
		cmocka_unit_test_setup(test_dial_errors, reset),
		cmocka_unit_test_setup(test_send_rate_limit, reset),
		cmocka_unit_test_setup(test_broadcast, reset),
		cmocka_unit_test_setup(test_reconnect_after_outage, reset),
		cmocka_unit_test_setup(test_reconnect_next_hint, reset),
		cmocka_unit_test_setup(test_dual_stack_client, reset),
		cmocka_unit_test_setup(test_server_uris, reset),
		cmocka_unit_test_setup(test_dial_fails_fast, reset),
		cmocka_unit_test_setup(test_dial_hints, reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
