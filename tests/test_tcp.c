/* SPDX-License-Identifier: MIT */
/*
 * test_tcp.c - wiresocket over TCP (docs/protocol.md §17) end to end over
 * 127.0.0.1 and ::1, through the public API: a server with UDP and TCP
 * listeners, TCP clients echoing unreliable and reliable events (fragmented
 * ones above 64 KiB too), a UDP and a TCP client at once, AUTO falling back
 * when UDP is swallowed, raw sockets with a length of 0 or over the maximum
 * and one that stops mid-packet, a peer that never reads, and the stream cut
 * byte by byte or gathered into few large reads by a small relay thread.
 * Every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringwire.h>

enum { CH_REL = 1, CH_RAW = 2, BIG = 100 * 1024 };

/* ---- shared state ------------------------------------------------------------------ */

struct record {
	atomic_uint opened, closed, events, tcp_opened, udp_opened;
	atomic_uint_fast64_t bytes;
	atomic_uint bad;		/* payloads that came back wrong */
};

static struct record srv_rec, cli_rec;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool wait_for(atomic_uint *v, unsigned want, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (atomic_load(v) < want) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

static void on_open(struct rw_session *s, void *user)
{
	struct record *r = user;

	if (rw_session_transport(s) == RW_TRANSPORT_TCP)
		atomic_fetch_add(&r->tcp_opened, 1);
	else
		atomic_fetch_add(&r->udp_opened, 1);
	atomic_fetch_add(&r->opened, 1);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	(void)s, (void)why;
	atomic_fetch_add(&((struct record *)user)->closed, 1);
}

enum { T_FLOOD = 9, FLOOD_SIZE = 64 * 1024 };
static atomic_uint flood_sent, flood_refused;

static void echo_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct record *r = user;

	atomic_fetch_add(&r->events, 1);
	atomic_fetch_add(&r->bytes, len);
	if (type == T_FLOOD) {
		/* the server sends reliable 64 KiB events on its own, as fast as it may */
		rw_session_set_tick(s, 5);
		return;
	}
	rw_session_send(s, ch, type, p, len);
}

static void flood_tick(struct rw_session *s, void *user)
{
	static uint8_t big[FLOOD_SIZE];

	(void)user;
	for (int i = 0; i < 64; i++) {
		if (rw_session_send(s, CH_REL, 5, big, sizeof(big))) {
			atomic_fetch_add(&flood_refused, 1);
			return;
		}
		atomic_fetch_add(&flood_sent, 1);
	}
}

/* Payload i of an event: byte k is (k * 7 + type) & 0xff, so a cut or swapped piece shows. */
static void fill(uint8_t *p, size_t len, uint8_t type)
{
	for (size_t k = 0; k < len; k++)
		p[k] = (uint8_t)(k * 7 + type);
}

static void check_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct record *r = user;

	(void)s, (void)ch;
	for (size_t k = 0; k < len; k++)
		if (p[k] != (uint8_t)(k * 7 + type)) {
			atomic_fetch_add(&r->bad, 1);
			break;
		}
	atomic_fetch_add(&r->bytes, len);
	atomic_fetch_add(&r->events, 1);
}

/* ---- fixtures ------------------------------------------------------------------------ */

struct fixture {
	struct rw_server *srv;
	struct rw_client *cli, *cli2;
	uint8_t key[RW_KEY_SIZE];
	char uri[256], uri_tcp[256];
	uint64_t id, id2;
};

static unsigned srv_max_conns;	/* tcp_max_connections of the next server, 0: the default */
static unsigned srv_reactors = 2;	/* reactors of the next server */

static void server_up(struct fixture *f, const char *udp, const char *tcp, uint32_t stall_ms)
{
	struct rw_server_config cfg;
	struct rw_handler rel = { .on_event = echo_event, .user = &srv_rec, .flags = RW_CHANNEL_RELIABLE };
	struct rw_handler any = { .on_open = on_open, .on_close = on_close, .on_event = echo_event, .on_tick = flood_tick,
				  .user = &srv_rec };
	char err[RW_ERRBUF_SIZE];

	memset(&srv_rec, 0, sizeof(srv_rec));
	rw_server_config_init(&cfg);
	cfg.listen = udp;
	cfg.listen_tcp = tcp;
	cfg.reactors = srv_reactors;
	cfg.quiet = 1;
	cfg.tcp_stall_timeout_ms = stall_ms;
	cfg.tcp_max_connections = srv_max_conns;
	assert_int_equal(rw_key_generate(f->key), 0);
	memcpy(cfg.private_key, f->key, RW_KEY_SIZE);
	if (rw_server_create(&f->srv, &cfg, err, sizeof(err)))
		fail_msg("server: %s", err);
	assert_int_equal(rw_server_on(f->srv, RW_CHANNEL_ANY, &any), 0);
	assert_int_equal(rw_server_on(f->srv, CH_REL, &rel), 0);
	assert_int_equal(rw_server_start(f->srv), 0);
	assert_true(rw_server_uri(f->srv, f->uri, sizeof(f->uri)) > 0);
	assert_true(rw_server_uri_tcp(f->srv, f->uri_tcp, sizeof(f->uri_tcp)) > 0);
	assert_non_null(strstr(f->uri_tcp, "wire+tcp://"));
}

static struct rw_client *client_up(enum rw_transport_kind tr, uint32_t fallback_ms)
{
	struct rw_client_config cfg;
	struct rw_handler rel = { .on_event = check_event, .user = &cli_rec, .flags = RW_CHANNEL_RELIABLE };
	struct rw_handler any = { .on_open = on_open, .on_close = on_close, .on_event = check_event, .user = &cli_rec };
	struct rw_client *cli;
	char err[RW_ERRBUF_SIZE];

	rw_client_config_init(&cfg);
	cfg.quiet = 1;
	cfg.transport = tr;
	cfg.tcp_fallback_ms = fallback_ms;
	if (rw_client_create(&cli, &cfg, err, sizeof(err)))
		fail_msg("client: %s", err);
	assert_int_equal(rw_client_on(cli, RW_CHANNEL_ANY, &any), 0);
	assert_int_equal(rw_client_on(cli, CH_REL, &rel), 0);
	assert_int_equal(rw_client_start(cli), 0);
	return cli;
}

static uint64_t dial(struct rw_client *cli, const char *uri)
{
	char err[RW_ERRBUF_SIZE];
	uint64_t id;

	if (rw_client_dial(cli, uri, NULL, &id, err, sizeof(err)))
		fail_msg("dial %s: %s", uri, err);
	return id;
}

static void down(struct fixture *f)
{
	struct rw_client *c[2] = { f->cli, f->cli2 };

	for (int i = 0; i < 2; i++)
		if (c[i]) {
			rw_client_stop(c[i]);
			rw_client_wait(c[i]);
			rw_client_destroy(c[i]);
		}
	if (f->srv) {
		rw_server_stop(f->srv);
		rw_server_wait(f->srv);
		rw_server_destroy(f->srv);
	}
	memset(f, 0, sizeof(*f));
}

static struct rw_stats srv_stats(const struct fixture *f)
{
	struct rw_stats st;

	rw_server_stats(f->srv, &st);
	return st;
}

/* Events of sizes 10, 1000, 5000 (unreliable) and 10, BIG (reliable, fragmented) echo back intact. */
static void echo_round(struct rw_client *cli, uint64_t id, unsigned rounds)
{
	static const size_t raw_sizes[] = { 10, 1000, 5000 };
	static const size_t rel_sizes[] = { 10, BIG };
	unsigned start = atomic_load(&cli_rec.events), want = start;
	uint8_t *p = malloc(BIG);

	assert_non_null(p);
	for (unsigned r = 0; r < rounds; r++) {
		for (size_t i = 0; i < 3; i++) {
			fill(p, raw_sizes[i], (uint8_t)(i + 1));
			assert_int_equal(rw_client_send(cli, id, CH_RAW, (uint8_t)(i + 1), p, raw_sizes[i]), 0);
			want++;
		}
		for (size_t i = 0; i < 2; i++) {
			fill(p, rel_sizes[i], (uint8_t)(i + 5));
			assert_int_equal(rw_client_send(cli, id, CH_REL, (uint8_t)(i + 5), p, rel_sizes[i]), 0);
			want++;
		}
	}
	free(p);
	/* over TCP nothing is lost: every event, unreliable ones too, comes back */
	if (!wait_for(&cli_rec.events, want, 10000))
		fail_msg("%u of %u events came back", atomic_load(&cli_rec.events) - start, want - start);
	assert_int_equal(atomic_load(&cli_rec.bad), 0);
}

static void open_tcp(struct fixture *f, const char *udp, const char *tcp)
{
	memset(&cli_rec, 0, sizeof(cli_rec));
	server_up(f, udp, tcp, 0);
	f->cli = client_up(RW_TRANSPORT_UDP, 0);
	f->id = dial(f->cli, f->uri_tcp);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	assert_true(wait_for(&srv_rec.opened, 1, 5000));
	assert_int_equal(atomic_load(&cli_rec.tcp_opened), 1);
	assert_int_equal(atomic_load(&srv_rec.tcp_opened), 1);
}

static void test_echo_v4(void **state)
{
	struct fixture f = { 0 };
	struct rw_stats st;

	(void)state;
	open_tcp(&f, "127.0.0.1:0", "127.0.0.1:0");
	echo_round(f.cli, f.id, 3);
	st = srv_stats(&f);
	assert_int_equal(st.tcp_accepted, 1);
	assert_int_equal(st.tcp_connections, 1);
	assert_true(st.rx_packets > 10);
	{
		struct rw_stats cs;

		rw_client_stats(f.cli, &cs);
		assert_int_equal(cs.tcp_connected, 1);
	}
	down(&f);
}

static void test_echo_v6(void **state)
{
	struct fixture f = { 0 };

	(void)state;
	open_tcp(&f, "[::1]:0", "[::1]:0");
	assert_non_null(strstr(f.uri_tcp, "[::1]"));
	echo_round(f.cli, f.id, 2);
	down(&f);
}

/* One server, a UDP client and a TCP client at once: each session on its own transport. */
static void test_udp_and_tcp(void **state)
{
	struct fixture f = { 0 };

	(void)state;
	memset(&cli_rec, 0, sizeof(cli_rec));
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 0);
	f.cli = client_up(RW_TRANSPORT_UDP, 0);
	f.cli2 = client_up(RW_TRANSPORT_TCP, 0);
	f.id = dial(f.cli, f.uri);
	/* RW_TRANSPORT_TCP takes a plain wire:// URI over TCP to the TCP port */
	{
		size_t skip = strlen("wire+tcp://") - strlen("wire://");

		memmove(f.uri_tcp + strlen("wire://"), f.uri_tcp + strlen("wire+tcp://"),
			strlen(f.uri_tcp + strlen("wire+tcp://")) + 1);
		memcpy(f.uri_tcp, "wire://", strlen("wire://"));
		assert_true(skip == 4);
	}
	f.id2 = dial(f.cli2, f.uri_tcp);
	assert_true(wait_for(&srv_rec.opened, 2, 5000));
	assert_true(wait_for(&cli_rec.opened, 2, 5000));
	assert_int_equal(atomic_load(&srv_rec.tcp_opened), 1);
	assert_int_equal(atomic_load(&srv_rec.udp_opened), 1);
	assert_int_equal(atomic_load(&cli_rec.tcp_opened), 1);
	assert_int_equal(atomic_load(&cli_rec.udp_opened), 1);
	echo_round(f.cli, f.id, 1);
	echo_round(f.cli2, f.id2, 1);
	assert_int_equal(srv_stats(&f).tcp_accepted, 1);
	down(&f);
}

/* AUTO: UDP goes to a socket that swallows everything, TCP on the same port answers. */
static void test_auto_fallback(void **state)
{
	struct fixture f = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	char tcp[64], wpub[RW_WPUB_LEN + 1], uri[256];
	int hole = socket(AF_INET, SOCK_DGRAM, 0);
	uint64_t t0;

	(void)state;
	memset(&cli_rec, 0, sizeof(cli_rec));
	assert_true(hole >= 0);
	assert_int_equal(bind(hole, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(hole, (struct sockaddr *)&a, &alen), 0);
	snprintf(tcp, sizeof(tcp), "127.0.0.1:%u", ntohs(a.sin_port));
	server_up(&f, "127.0.0.1:0", tcp, 0);
	rw_pubkey_to_wpub(wpub, (uint8_t[RW_KEY_SIZE]){ 0 });
	{
		uint8_t pub[RW_KEY_SIZE];

		assert_int_equal(rw_key_public(pub, f.key), 0);
		rw_pubkey_to_wpub(wpub, pub);
	}
	snprintf(uri, sizeof(uri), "wire://%s@127.0.0.1:%u", wpub, ntohs(a.sin_port));
	f.cli = client_up(RW_TRANSPORT_AUTO, 300);
	t0 = now_ms();
	f.id = dial(f.cli, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	/* not before the fallback time: UDP had its chance */
	assert_true(now_ms() - t0 >= 250);
	assert_int_equal(atomic_load(&cli_rec.tcp_opened), 1);
	assert_int_equal(atomic_load(&srv_rec.tcp_opened), 1);
	echo_round(f.cli, f.id, 1);
	down(&f);
	close(hole);
}

/* ---- raw sockets ------------------------------------------------------------------------ */

static int raw_connect(const struct fixture *f)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(rw_server_tcp_port(f->srv)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* The server closes fd within timeout_ms: read gives 0 (or a reset). */
static bool closed_within(int fd, unsigned timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t end = now_ms() + timeout_ms;
	char b[256];

	while (now_ms() < end) {
		if (poll(&p, 1, 50) == 1) {
			ssize_t n = read(fd, b, sizeof(b));

			if (n <= 0)
				return true;
		}
	}
	return false;
}

static bool stat_reaches(const struct fixture *f, size_t off, uint64_t want, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	for (;;) {
		struct rw_stats st = srv_stats(f);

		if (*(uint64_t *)(void *)((char *)&st + off) >= want)
			return true;
		if (now_ms() > end)
			return false;
		usleep(2000);
	}
}

static void test_bad_lengths(void **state)
{
	struct fixture f = { 0 };
	static const uint8_t zero[] = { 0, 0, 1, 2, 3 }, over[] = { 0xff, 0xff, 1, 2, 3 };
	int fd;

	(void)state;
	memset(&cli_rec, 0, sizeof(cli_rec));
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 0);
	fd = raw_connect(&f);
	assert_int_equal(write(fd, zero, sizeof(zero)), (ssize_t)sizeof(zero));
	assert_true(closed_within(fd, 3000));
	close(fd);
	assert_true(stat_reaches(&f, offsetof(struct rw_stats, tcp_closed_framing), 1, 2000));
	fd = raw_connect(&f);
	assert_int_equal(write(fd, over, sizeof(over)), (ssize_t)sizeof(over));
	assert_true(closed_within(fd, 3000));
	close(fd);
	assert_true(stat_reaches(&f, offsetof(struct rw_stats, tcp_closed_framing), 2, 2000));
	assert_int_equal(srv_stats(&f).drops[RW_DROP_BAD_LENGTH], 2);
	assert_string_equal(rw_drop_reason_name(RW_DROP_BAD_LENGTH), "bad_length");
	/* a well-framed packet of nonsense is dropped like a bad datagram, the connection stays */
	fd = raw_connect(&f);
	{
		static const uint8_t junk[] = { 0, 3, 0x63, 0x63, 0x63 };

		assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
		assert_false(closed_within(fd, 300));
	}
	close(fd);
	/* the server still serves */
	f.cli = client_up(RW_TRANSPORT_UDP, 0);
	f.id = dial(f.cli, f.uri_tcp);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	echo_round(f.cli, f.id, 1);
	down(&f);
}

static void test_mid_packet_timeout(void **state)
{
	struct fixture f = { 0 };
	static const uint8_t half[] = { 0, 148, 1, 0, 0, 0, 9, 9 };
	uint64_t t0;
	int fd;

	(void)state;
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 300);
	fd = raw_connect(&f);
	t0 = now_ms();
	assert_int_equal(write(fd, half, sizeof(half)), (ssize_t)sizeof(half));
	assert_true(closed_within(fd, 3000));
	assert_true(now_ms() - t0 >= 250);
	close(fd);
	assert_true(stat_reaches(&f, offsetof(struct rw_stats, tcp_closed_timeout), 1, 2000));
	{
		/* the slot is free once the last completion of the closed connection is in */
		uint64_t end = now_ms() + 2000;

		while (srv_stats(&f).tcp_connections && now_ms() < end)
			usleep(2000);
		assert_int_equal(srv_stats(&f).tcp_connections, 0);
	}
	down(&f);
}

/* ---- a relay that re-cuts the stream ---------------------------------------------------------- */

enum relay_mode { R_PLAIN, R_BYTES, R_GATHER };

struct relay {
	int lfd;
	uint16_t port, target;
	enum relay_mode mode;
	atomic_bool pause_down, stop, cut;
	atomic_uint_fast64_t up_writes, down_writes;
	atomic_uint conns;		/* connections relayed so far (after a cut, the next is accepted) */
	pthread_t th;
};

static int write_all(int fd, const uint8_t *p, size_t n, enum relay_mode mode, atomic_uint_fast64_t *writes)
{
	size_t step = mode == R_BYTES ? 1 : n;

	while (n) {
		ssize_t w = send(fd, p, n < step ? n : step, MSG_NOSIGNAL);

		if (w <= 0)
			return -1;
		atomic_fetch_add(writes, 1);
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(r->target),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct pollfd lp = { .fd = r->lfd, .events = POLLIN };
	static uint8_t buf[2][1 << 17];
	int c = -1, s = -1, one = 1;

	while (!atomic_load(&r->stop) && poll(&lp, 1, 20) != 1)
		;
	if (atomic_load(&r->stop))
		return NULL;
next:
	c = accept(r->lfd, NULL, NULL);
	atomic_fetch_add(&r->conns, 1);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s >= 0) {
		int small = 4096;

		/* a peer that stops reading holds little in its own buffer */
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	}
	if (c < 0 || s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)))
		goto out;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (!atomic_load(&r->stop)) {
		if (atomic_exchange(&r->cut, false)) {
			/* the connection breaks (a NAT rebinding, a proxy restart): both ends closed, next one */
			close(c);
			close(s);
			c = s = -1;
			while (!atomic_load(&r->stop) && poll(&lp, 1, 20) != 1)
				;
			if (atomic_load(&r->stop))
				goto out;
			goto next;
		}
		struct pollfd p[2] = { { .fd = c, .events = POLLIN },
				       { .fd = s, .events = atomic_load(&r->pause_down) ? 0 : POLLIN } };

		if (poll(p, 2, 20) <= 0)
			continue;
		for (int i = 0; i < 2; i++) {
			int from = i ? s : c, to = i ? c : s;
			ssize_t n;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(from, buf[i], sizeof(buf[i]));
			if (n <= 0)
				goto out;
			if (r->mode == R_GATHER) {
				/* let more arrive, then one write: many packets in one read on the other side */
				usleep(20000);
				for (;;) {
					ssize_t m = recv(from, buf[i] + n, sizeof(buf[i]) - (size_t)n, MSG_DONTWAIT);

					if (m <= 0)
						break;
					n += m;
				}
			}
			if (write_all(to, buf[i], (size_t)n, r->mode, i ? &r->down_writes : &r->up_writes))
				goto out;
		}
	}
out:
	if (c >= 0)
		close(c);
	if (s >= 0)
		close(s);
	return NULL;
}

static void relay_start(struct relay *r, uint16_t target, enum relay_mode mode)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	memset(r, 0, sizeof(*r));
	r->target = target;
	r->mode = mode;
	r->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(r->lfd >= 0);
	assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(r->lfd, 4), 0);
	assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &len), 0);
	r->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&r->th, NULL, relay_main, r), 0);
}

static void relay_stop(struct relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->th, NULL);
	close(r->lfd);
}

/* A wire+tcp:// URI of the server's key at the relay's port. */
static void relay_uri(const struct fixture *f, const struct relay *r, char *out, size_t cap)
{
	uint8_t pub[RW_KEY_SIZE];

	assert_int_equal(rw_key_public(pub, f->key), 0);
	assert_true(rw_uri_format_tcp(out, cap, pub, "127.0.0.1", r->port) > 0);
}

static void relayed_echo(enum relay_mode mode)
{
	struct fixture f = { 0 };
	struct relay r;
	char uri[256];

	memset(&cli_rec, 0, sizeof(cli_rec));
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 0);
	relay_start(&r, rw_server_tcp_port(f.srv), mode);
	relay_uri(&f, &r, uri, sizeof(uri));
	f.cli = client_up(RW_TRANSPORT_UDP, 0);
	f.id = dial(f.cli, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 8000));
	echo_round(f.cli, f.id, mode == R_BYTES ? 1 : 2);
	print_message("relay mode %d: %llu writes up, %llu down, %llu packets in\n", (int)mode,
		      (unsigned long long)atomic_load(&r.up_writes), (unsigned long long)atomic_load(&r.down_writes),
		      (unsigned long long)srv_stats(&f).rx_packets);
	if (mode == R_BYTES)	/* the server read the stream in pieces far smaller than its packets */
		assert_true(atomic_load(&r.up_writes) > 100000);
	if (mode == R_GATHER)	/* fewer writes than packets: several packets per read */
		assert_true(atomic_load(&r.up_writes) < srv_stats(&f).rx_packets);
	assert_int_equal(srv_stats(&f).tcp_closed_framing, 0);
	down(&f);
	relay_stop(&r);
}

static void test_byte_by_byte(void **state)
{
	(void)state;
	relayed_echo(R_BYTES);
}

static void test_many_per_read(void **state)
{
	(void)state;
	relayed_echo(R_GATHER);
}

/*
 * The connection breaks under a session (a NAT rebinding, a proxy restart):
 * the client opens another with its next packet and the server's session
 * roams to it (docs/protocol.md §17.3): same session, reliable state whole,
 * every event echoed, nothing closed on either side. One server reactor: the
 * new connection must land on the reactor that owns the session (with
 * several, the kernel picks the listener; see §17.3).
 */
static void test_connection_breaks(void **state)
{
	struct fixture f = { 0 };
	struct relay r;
	char uri[256];

	(void)state;
	memset(&cli_rec, 0, sizeof(cli_rec));
	srv_reactors = 1;
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 3000);
	srv_reactors = 2;
	relay_start(&r, rw_server_tcp_port(f.srv), R_PLAIN);
	relay_uri(&f, &r, uri, sizeof(uri));
	f.cli = client_up(RW_TRANSPORT_UDP, 0);
	f.id = dial(f.cli, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	echo_round(f.cli, f.id, 1);
	for (int i = 0; i < 3; i++) {
		unsigned conns = atomic_load(&r.conns);
		struct rw_stats cs;
		uint64_t closed, end;

		rw_client_stats(f.cli, &cs);
		closed = cs.tcp_closed_peer;
		atomic_store(&r.cut, true);
		/* unreliable events written into the dying connection would be lost: send once the client saw it close */
		end = now_ms() + 5000;
		do {
			usleep(2000);
			rw_client_stats(f.cli, &cs);
		} while (cs.tcp_closed_peer == closed && now_ms() < end);
		assert_true(cs.tcp_closed_peer > closed);
		echo_round(f.cli, f.id, 1);
		assert_true(atomic_load(&r.conns) > conns);
	}
	assert_int_equal(atomic_load(&srv_rec.opened), 1);
	assert_int_equal(atomic_load(&srv_rec.closed), 0);
	assert_int_equal(atomic_load(&cli_rec.closed), 0);
	assert_int_equal(atomic_load(&cli_rec.opened), 1);
	down(&f);
	relay_stop(&r);
}

/*
 * A peer that never reads: the relay stops taking the server's bytes while
 * the client keeps the server echoing reliable 64 KiB events. The server's
 * queue for that connection fills (refused beyond it, counted), reliable
 * sends back off, nothing grows without bound, and after the stall timeout
 * the connection is closed. The server still serves others.
 */
static void test_never_reads(void **state)
{
	struct fixture f = { 0 };
	struct relay r;
	char uri[256];
	uint64_t end;

	(void)state;
	memset(&cli_rec, 0, sizeof(cli_rec));
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 1000);
	relay_start(&r, rw_server_tcp_port(f.srv), R_PLAIN);
	relay_uri(&f, &r, uri, sizeof(uri));
	f.cli = client_up(RW_TRANSPORT_UDP, 0);
	f.id = dial(f.cli, uri);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	atomic_store(&r.pause_down, true);
	assert_int_equal(rw_client_send(f.cli, f.id, CH_RAW, T_FLOOD, "go", 2), 0);
	end = now_ms() + 20000;
	while (now_ms() < end && srv_stats(&f).tcp_closed_timeout == 0)
		usleep(10000);
	{
		struct rw_stats st = srv_stats(&f);

		print_message("sent %u, refused %u (-EAGAIN), queue_full %llu, closed_timeout %llu\n",
			      atomic_load(&flood_sent), atomic_load(&flood_refused),
			      (unsigned long long)st.tcp_queue_full, (unsigned long long)st.tcp_closed_timeout);
		assert_true(st.tcp_closed_timeout >= 1);
		/* the reliable window pushed back: the application was told -EAGAIN */
		assert_true(atomic_load(&flood_refused) >= 1);
		/* bounded: what the reliable window holds, not everything the ticks wanted to send */
		assert_true(atomic_load(&flood_sent) <= 1024);
		assert_true(atomic_load(&flood_refused) > atomic_load(&flood_sent));
	}
	/*
	 * the session of the closed connection closes once no other connection
	 * brought it back within the stall timeout (1 s here), not a session
	 * timeout later
	 */
	assert_true(wait_for(&srv_rec.closed, 1, 4000));
	relay_stop(&r);
	/* another client is served */
	rw_client_stop(f.cli);
	rw_client_wait(f.cli);
	rw_client_destroy(f.cli);
	memset(&cli_rec, 0, sizeof(cli_rec));
	f.cli = client_up(RW_TRANSPORT_TCP, 0);
	f.id = dial(f.cli, f.uri_tcp);
	assert_true(wait_for(&cli_rec.opened, 1, 5000));
	echo_round(f.cli, f.id, 1);
	down(&f);
}

/* Rekeys ride the same connection; a client of two reactors opens one connection from each. */
static void test_rekey_and_reactors(void **state)
{
	struct fixture f = { 0 };
	struct rw_client_config cfg;
	struct rw_handler any = { .on_open = on_open, .on_close = on_close, .on_event = check_event, .user = &cli_rec };
	struct rw_handler rel = { .on_event = check_event, .user = &cli_rec, .flags = RW_CHANNEL_RELIABLE };
	char err[RW_ERRBUF_SIZE];
	uint64_t ids[4];
	struct rw_stats st;

	(void)state;
	memset(&cli_rec, 0, sizeof(cli_rec));
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 0);
	rw_client_config_init(&cfg);
	cfg.quiet = 1;
	cfg.reactors = 2;
	cfg.transport = RW_TRANSPORT_TCP;
	cfg.timers.rekey_after_ms = 400;
	if (rw_client_create(&f.cli, &cfg, err, sizeof(err)))
		fail_msg("client: %s", err);
	assert_int_equal(rw_client_on(f.cli, RW_CHANNEL_ANY, &any), 0);
	assert_int_equal(rw_client_on(f.cli, CH_REL, &rel), 0);
	assert_int_equal(rw_client_start(f.cli), 0);
	for (int i = 0; i < 4; i++)
		ids[i] = dial(f.cli, f.uri_tcp);
	if (!wait_for(&cli_rec.opened, 4, 5000)) {
		st = srv_stats(&f);
		fail_msg("%u of 4 sessions opened (server: %llu open, %llu accepted, %llu handshakes)",
			 atomic_load(&cli_rec.opened), (unsigned long long)st.sessions_open,
			 (unsigned long long)st.tcp_accepted, (unsigned long long)st.handshakes_completed);
	}
	assert_int_equal(atomic_load(&cli_rec.tcp_opened), 4);
	for (int k = 0; k < 3; k++) {
		for (int i = 0; i < 4; i++)
			echo_round(f.cli, ids[i], 1);
		usleep(300000);
	}
	st = srv_stats(&f);
	print_message("rekeys %llu, connections %llu\n", (unsigned long long)st.rekeys,
		      (unsigned long long)st.tcp_accepted);
	assert_true(st.rekeys >= 4);
	assert_int_equal(st.tcp_accepted, 2);	/* one per client reactor, shared by its sessions */
	assert_int_equal(st.sessions_open, 4);
	down(&f);
}

/* Beyond tcp_max_connections per reactor a connection is accepted and closed at once, counted. */
static void test_max_connections(void **state)
{
	struct fixture f = { 0 };
	int fd[10];
	unsigned closed = 0;

	(void)state;
	srv_max_conns = 2;
	server_up(&f, "127.0.0.1:0", "127.0.0.1:0", 0);
	srv_max_conns = 0;
	for (int i = 0; i < 10; i++)
		fd[i] = raw_connect(&f);
	assert_true(stat_reaches(&f, offsetof(struct rw_stats, tcp_refused), 6, 3000));
	for (int i = 0; i < 10; i++)
		closed += closed_within(fd[i], 100);
	{
		struct rw_stats st = srv_stats(&f);

		/*
		 * two reactors, at most two each: 4 open and 6 refused, unless the
		 * kernel's hash gave one reactor fewer than two (then more refused)
		 */
		assert_int_equal(st.tcp_refused + st.tcp_connections, 10);
		assert_true(st.tcp_connections <= 4 && st.tcp_connections >= 2);
		assert_int_equal(closed, st.tcp_refused);
	}
	for (int i = 0; i < 10; i++)
		close(fd[i]);
	down(&f);
}

/* A TCP dial to a port where nothing listens ends at once, saying so, not after the handshake timeout. */
static void test_refused(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	uint8_t pub[RW_KEY_SIZE] = { 9 };
	struct rw_client *cli;
	char uri[256];
	uint64_t t0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	/* a port that was just free: bound, never listened on */
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	assert_true(rw_uri_format_tcp(uri, sizeof(uri), pub, "127.0.0.1", ntohs(a.sin_port)) > 0);
	memset(&cli_rec, 0, sizeof(cli_rec));
	cli = client_up(RW_TRANSPORT_UDP, 0);
	t0 = now_ms();
	dial(cli, uri);
	assert_true(wait_for(&cli_rec.closed, 1, 3000));
	assert_true(now_ms() - t0 < 900);	/* the first handshake retry would be at 1000 ms */
	assert_int_equal(atomic_load(&cli_rec.opened), 0);
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	close(fd);
}

static void test_uri(void **state)
{
	struct rw_endpoint ep;
	uint8_t pub[RW_KEY_SIZE] = { 1 };
	char uri[256], err[RW_ERRBUF_SIZE];

	(void)state;
	assert_true(rw_uri_format_tcp(uri, sizeof(uri), pub, "::1", 9000) > 0);
	assert_int_equal(strncmp(uri, "wire+tcp://wpub1", 16), 0);
	assert_int_equal(rw_uri_parse(uri, &ep, err, sizeof(err)), 0);
	assert_int_equal(ep.transport, RW_TRANSPORT_TCP);
	assert_int_equal(ep.port, 9000);
	assert_true(rw_uri_format(uri, sizeof(uri), pub, "127.0.0.1", 9000) > 0);
	assert_int_equal(rw_uri_parse(uri, &ep, err, sizeof(err)), 0);
	assert_int_equal(ep.transport, RW_TRANSPORT_UDP);
	memcpy(uri, "wire+udp", 8);
	assert_int_not_equal(rw_uri_parse(uri, &ep, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri),
		cmocka_unit_test(test_echo_v4),
		cmocka_unit_test(test_echo_v6),
		cmocka_unit_test(test_udp_and_tcp),
		cmocka_unit_test(test_auto_fallback),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_mid_packet_timeout),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_many_per_read),
		cmocka_unit_test(test_never_reads),
		cmocka_unit_test(test_connection_breaks),
		cmocka_unit_test(test_rekey_and_reactors),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_max_connections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
