/* SPDX-License-Identifier: MIT */
/*
 * test_metrics.c - operations through the public API, as a user wires them:
 * the /metrics endpoint scraped with a real HTTP client (curl) while
 * sessions run, counters rising between scrapes, the exposition accepted by
 * promtool, bad and slow requests that leave the reactors alone; the
 * allow-list reloaded by SIGHUP and by rw_server_set_allowed_keys, closing
 * exactly the removed key's session. Only 127.0.0.1; every wait is bounded.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringwire.h>
#include "wait.h"

enum { RW_LOG_LINE_MAX_TEST = 1024 };

struct rec {
	atomic_uint opened, closed, events;
	atomic_int reason, by_peer;
	char message[128];		/* written before closed moves */
};

static void on_open(struct rw_session *s, void *user)
{
	(void)s;
	atomic_fetch_add(&((struct rec *)user)->opened, 1);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct rec *r = user;

	(void)s;
	atomic_store(&r->reason, why->reason);
	atomic_store(&r->by_peer, why->by_peer);
	snprintf(r->message, sizeof(r->message), "%s", why->message);
	atomic_fetch_add(&r->closed, 1);
}

static void on_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	atomic_fetch_add(&((struct rec *)user)->events, 1);
	if (type == 1)	/* the server echoes type 1 as type 2 */
		rw_session_send(s, ch, 2, p, len);
}

static struct rec srv_rec;

static struct rw_server *make_server(const struct rw_handler *h)
{
	struct rw_server_config cfg;
	struct rw_server *srv;
	char err[RW_ERRBUF_SIZE];

	rw_server_config_init(&cfg);
	cfg.listen = "127.0.0.1:0";
	cfg.reactors = 2;
	cfg.quiet = 1;
	assert_int_equal(rw_key_generate(cfg.private_key), 0);
	if (rw_server_create(&srv, &cfg, err, sizeof(err)))
		fail_msg("rw_server_create: %s", err);
	rw_memzero(cfg.private_key, sizeof(cfg.private_key));
	assert_int_equal(rw_server_on(srv, RW_CHANNEL_ANY, h), 0);
	return srv;
}

/* A client with its own key (priv may be NULL: a fresh key), one session to the server. */
static struct rw_client *dial(struct rw_server *srv, const uint8_t *priv, struct rec *r, uint64_t *id)
{
	struct rw_handler h = { .on_open = on_open, .on_close = on_close, .on_event = on_event, .user = r };
	struct rw_client_config cfg;
	struct rw_client *cli;
	char uri[RW_URI_MAX], err[RW_ERRBUF_SIZE];

	rw_client_config_init(&cfg);
	cfg.quiet = 1;
	cfg.reconnect = 0;
	cfg.timers.handshake_retry_ms = 100;
	if (priv) {
		memcpy(cfg.private_key, priv, RW_KEY_SIZE);
		cfg.has_private_key = 1;
	}
	assert_true(rw_server_uri(srv, uri, sizeof(uri)) > 0);
	if (rw_dial(&cli, uri, &cfg, &h, id, err, sizeof(err)))
		fail_msg("rw_dial: %s", err);
	return cli;
}

static void close_client(struct rw_client *cli)
{
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
}

/* ---- scraping -------------------------------------------------------------------------- */

static bool have(const char *prog)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

static char tmpdir[] = "/tmp/rw-metrics-XXXXXX";

static int curl_host(const char *host, int port, const char *args, const char *path, char **body);

/* curl the URL path; the HTTP status (0: no answer), the body in *body (malloc'd). */
static int curl(int port, const char *args, const char *path, char **body)
{
	return curl_host("127.0.0.1", port, args, path, body);
}

static int curl_host(const char *host, int port, const char *args, const char *path, char **body)
{
	char cmd[512], out[64], file[96];
	FILE *f;
	int status = 0;
	long n;

	snprintf(file, sizeof(file), "%s/body", tmpdir);
	snprintf(cmd, sizeof(cmd), "curl -gsS --max-time 5 %s -o %s -w '%%{http_code}' 'http://%s:%d%s'", args, file,
		 host, port, path);
	f = popen(cmd, "r");
	assert_non_null(f);
	if (fgets(out, sizeof(out), f))
		status = atoi(out);
	pclose(f);
	if (body) {
		f = fopen(file, "r");
		assert_non_null(f);
		fseek(f, 0, SEEK_END);
		n = ftell(f);
		rewind(f);
		*body = calloc(1, (size_t)n + 1);
		assert_int_equal(fread(*body, 1, (size_t)n, f), (size_t)n);
		fclose(f);
	}
	return status;
}

/* The value of a series ("name" or "name{labels}") in an exposition, or -1. */
static double value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static void promtool_check(const char *text)
{
	char cmd[256], file[96];
	FILE *f;
	int ret;

	if (!have("promtool")) {
		print_message("promtool not installed (Debian: prometheus): exposition not linted\n");
		return;
	}
	snprintf(file, sizeof(file), "%s/expo", tmpdir);
	f = fopen(file, "w");
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", file);
	ret = system(cmd);
	if (ret)
		fail_msg("promtool check metrics rejected the exposition (%s)", file);
}

static int tcp_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static void send_events(uint64_t id, struct rw_client *cli, int n)
{
	for (int i = 0; i < n; i++)
		rw_client_send(cli, id, 1, 1, "ping", 4);
}

static void test_scrape(void **state)
{
	struct rw_handler h = { .on_event = on_event, .user = &srv_rec };
	struct rw_server *srv;
	struct rw_client *cli[4];
	struct rec crec = { 0 };
	uint64_t ids[4];
	char err[RW_ERRBUF_SIZE], *b1, *b2, *b3, small[64], big[1 << 16];
	int port, fd_slow, fd_huge;

	(void)state;
	if (!have("curl"))
		skip();
	srv = make_server(&h);
	port = rw_server_metrics_listen(srv, "127.0.0.1:0", err, sizeof(err));
#ifndef RW_TEST_MICROHTTPD
	/* built without libmicrohttpd: the endpoint says so, the buffer form works */
	assert_int_equal(port, -ENOTSUP);
	assert_non_null(strstr(err, "rw_server_metrics_write"));
	assert_true(rw_server_metrics_write(srv, big, sizeof(big)) > 0);
	rw_server_destroy(srv);
	skip();
#endif
	if (port <= 0)
		fail_msg("metrics_listen: %d %s", port, err);
	assert_int_equal(rw_server_metrics_listen(srv, "127.0.0.1:0", err, sizeof(err)), -EALREADY);
	assert_int_equal(rw_server_start(srv), 0);

	for (int i = 0; i < 2; i++)
		cli[i] = dial(srv, NULL, &crec, &ids[i]);
	assert_true(wait_for(&crec.opened, 2, 10000));
	for (int i = 0; i < 2; i++)
		send_events(ids[i], cli[i], 50);
	assert_true(wait_for(&crec.events, 100, 10000));

	assert_int_equal(curl(port, "", "/metrics", &b1), 200);
	assert_true(value(b1, "ringwire_handshakes_completed_total") >= 2);
	assert_true(value(b1, "ringwire_sessions_open") == 2);
	assert_true(value(b1, "ringwire_events_received_total") >= 100);
	assert_true(value(b1, "ringwire_drops_total{reason=\"bad_mac1\"}") == 0);
	assert_non_null(strstr(b1, "ringwire_build_info{version=\"" RW_VERSION_STRING "\",role=\"server\"} 1\n"));
	promtool_check(b1);

	/* a slow client holds a half-sent request; another sends a huge header */
	fd_slow = tcp_connect(port);
	assert_int_equal(write(fd_slow, "GET /metrics HTTP/1.1\r\nHost: x\r\n", 32), 32);
	fd_huge = tcp_connect(port);
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX-Big: ", 30);
	(void)!write(fd_huge, big, sizeof(big));

	/* more sessions and events meanwhile: the reactors do not notice */
	for (int i = 2; i < 4; i++)
		cli[i] = dial(srv, NULL, &crec, &ids[i]);
	assert_true(wait_for(&crec.opened, 4, 10000));
	for (int i = 0; i < 4; i++)
		send_events(ids[i], cli[i], 50);
	assert_true(wait_for(&crec.events, 300, 10000));
	{
		uint64_t t0 = now_ms();

		assert_int_equal(curl(port, "", "/metrics", &b2), 200);
		/* the stalled connection did not hold this one up (curl's own limit is 5 s) */
		assert_true(now_ms() - t0 < 4000);
	}
	assert_true(value(b2, "ringwire_handshakes_completed_total") > value(b1, "ringwire_handshakes_completed_total"));
	assert_true(value(b2, "ringwire_events_received_total") > value(b1, "ringwire_events_received_total"));
	assert_true(value(b2, "ringwire_packets_received_total") > value(b1, "ringwire_packets_received_total"));
	assert_true(value(b2, "ringwire_bytes_sent_total") > value(b1, "ringwire_bytes_sent_total"));
	assert_true(value(b2, "ringwire_sessions_opened_total") >= 4);
	assert_true(value(b2, "ringwire_spurious_retransmits_total") >= 0);
	promtool_check(b2);
	/* the operational series: outcomes, batches, the sampled dispatch histogram */
	assert_true(value(b2, "ringwire_handshakes_total{outcome=\"completed\"}") >= 4);
	assert_true(value(b2, "ringwire_handshakes_total{outcome=\"rejected\"}") == 0);
	assert_true(value(b2, "ringwire_sessions_closed_by_reason_total{reason=\"timeout\"}") == 0);
	assert_true(value(b2, "ringwire_reliable_window_stalls_total") == 0);
	assert_true(value(b2, "ringwire_reactor_receive_batches_total{reactor=\"0\"}") +
			    value(b2, "ringwire_reactor_receive_batches_total{reactor=\"1\"}") >
		    0);
	assert_true(value(b2, "ringwire_reactor_receive_batch_datagrams_total{reactor=\"0\"}") >=
		    value(b2, "ringwire_reactor_receive_batches_total{reactor=\"0\"}"));
	/* 300 events over two reactors: at least one in 64 on either was timed */
	assert_true(value(b2, "ringwire_event_dispatch_seconds_count") >= 1);
	assert_true(value(b2, "ringwire_event_dispatch_seconds_bucket{le=\"+Inf\"}") ==
		    value(b2, "ringwire_event_dispatch_seconds_count"));
	assert_true(value(b2, "ringwire_event_dispatch_seconds_sum") > 0);
	/* per reactor: both reactors have their series, and together they received packets */
	{
		double r0 = value(b2, "ringwire_reactor_packets_received_total{reactor=\"0\"}"),
		       r1 = value(b2, "ringwire_reactor_packets_received_total{reactor=\"1\"}");

		assert_true(r0 >= 0 && r1 >= 0 && r0 + r1 > 0);
		assert_true(value(b2, "ringwire_reactor_send_parked_total{reactor=\"1\"}") >= 0);
		assert_true(value(b2, "ringwire_reactor_handoff_full_total{reactor=\"0\"}") >= 0);
	}
	{
		/* the huge header got an error status or a closed connection, never a hang of the others */
		char resp[64] = "";

		(void)!read(fd_huge, resp, sizeof(resp) - 1);
		assert_null(strstr(resp, "200 OK"));
	}
	close(fd_slow);
	close(fd_huge);

	/* wrong paths and methods */
	assert_int_equal(curl(port, "", "/", NULL), 404);
	assert_int_equal(curl(port, "", "/metrics/x", NULL), 404);
	assert_int_equal(curl(port, "-X POST -d x=1", "/metrics", NULL), 405);
	assert_int_equal(curl(port, "-I", "/metrics", NULL), 200);

	/* the buffer form */
	assert_int_equal(rw_server_metrics_write(srv, small, sizeof(small)), -ENOSPC);
	{
		int n = rw_server_metrics_write(srv, big, sizeof(big));

		assert_true(n > 0 && (size_t)n == strlen(big));
		assert_true(value(big, "ringwire_sessions_open") == 4);
		promtool_check(big);
	}
	/* a client's own exposition */
	assert_true(rw_client_metrics_write(cli[0], big, sizeof(big)) > 0);
	assert_true(value(big, "ringwire_handshakes_initiated_total") >= 1);
	/* the dial's handshake was timed: one observation, under the 4 s bucket on loopback */
	assert_true(value(big, "ringwire_handshake_duration_seconds_count") == 1);
	assert_true(value(big, "ringwire_handshake_duration_seconds_bucket{le=\"4.194304\"}") == 1);
	assert_true(value(big, "ringwire_handshake_duration_seconds_bucket{le=\"0.000001\"}") == 0);
	{
		/* over IPv6 loopback this time */
		int cport = rw_client_metrics_listen(cli[0], "[::1]:0", err, sizeof(err));

		if (cport <= 0)
			fail_msg("client metrics_listen: %s", err);
		assert_int_equal(curl_host("[::1]", cport, "", "/metrics", &b3), 200);
		promtool_check(b3);
		assert_non_null(strstr(b3, "role=\"client\""));
		free(b3);
	}

	for (int i = 0; i < 4; i++)
		close_client(cli[i]);
	{
		/* the clients said goodbye: the server counts four closes by the peer */
		uint64_t end = now_ms() + 5000;

		do {
			usleep(5000);
			assert_true(rw_server_metrics_write(srv, big, sizeof(big)) > 0);
		} while (value(big, "ringwire_sessions_closed_by_reason_total{reason=\"shutdown\"}") < 4 &&
			 now_ms() < end);
		assert_true(value(big, "ringwire_sessions_closed_by_reason_total{reason=\"shutdown\"}") == 4);
		promtool_check(big);
	}
	rw_server_stop(srv);
	rw_server_wait(srv);
	rw_server_destroy(srv);
	free(b1);
	free(b2);
}

/* ---- reliable window stalls: every -EAGAIN of rw_session_send on a reliable channel is counted ---- */

static atomic_uint stall_opened, stall_eagain;

static void stall_open(struct rw_session *s, void *user)
{
	static const uint8_t big[1000];

	(void)user;
	/* one event a frame (1000 bytes), a window of 4 frames: the fifth send on is refused */
	for (int i = 0; i < 50; i++)
		if (rw_session_send(s, 3, 1, big, sizeof(big)) == -EAGAIN)
			atomic_fetch_add(&stall_eagain, 1);
	atomic_fetch_add(&stall_opened, 1);
}

static void test_reliable_stalls(void **state)
{
	struct rw_handler h = { .on_event = on_event, .user = &srv_rec };
	struct rw_handler ch = { .on_open = stall_open, .flags = RW_CHANNEL_RELIABLE, .window = 4 };
	struct rw_client_config cfg;
	struct rw_server *srv;
	struct rw_client *cli;
	char uri[RW_URI_MAX], err[RW_ERRBUF_SIZE], buf[1 << 16];

	(void)state;
	srv = make_server(&h);
	assert_int_equal(rw_server_start(srv), 0);
	rw_client_config_init(&cfg);
	cfg.quiet = 1;
	cfg.reconnect = 0;
	assert_int_equal(rw_client_create(&cli, &cfg, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(cli, 3, &ch), 0);
	assert_int_equal(rw_client_start(cli), 0);
	assert_true(rw_server_uri(srv, uri, sizeof(uri)) > 0);
	assert_int_equal(rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err)), 0);
	assert_true(wait_for(&stall_opened, 1, 10000));
	assert_true(atomic_load(&stall_eagain) > 0);
	assert_true(rw_client_metrics_write(cli, buf, sizeof(buf)) > 0);
	assert_true(value(buf, "ringwire_reliable_window_stalls_total") == (double)atomic_load(&stall_eagain));
	assert_true(rw_server_metrics_write(srv, buf, sizeof(buf)) > 0);
	assert_true(value(buf, "ringwire_reliable_window_stalls_total") == 0);
	close_client(cli);
	rw_server_stop(srv);
	rw_server_wait(srv);
	rw_server_destroy(srv);
}

/* ---- logs: a flood of bad packets is a bounded number of records ------------------------- */

struct log_count {
	atomic_uint records, drop_records, other;
	atomic_ullong dropped_told;	/* the sum of the count fields of "drops" reason=bad_mac1 */
	char first[RW_LOG_LINE_MAX_TEST], first_json[RW_LOG_LINE_MAX_TEST];
	atomic_bool have_first;
};

static void count_log(const struct rw_log_record *rec, void *user)
{
	struct log_count *lc = user;
	const char *reason = NULL, *count = NULL;

	atomic_fetch_add(&lc->records, 1);
	if (strcmp(rec->msg, "drops")) {
		atomic_fetch_add(&lc->other, 1);
		return;
	}
	atomic_fetch_add(&lc->drop_records, 1);
	for (size_t i = 0; i < rec->nfields; i++) {
		if (!strcmp(rec->fields[i].key, "reason"))
			reason = rec->fields[i].value;
		if (!strcmp(rec->fields[i].key, "count"))
			count = rec->fields[i].value;
	}
	if (reason && count && !strcmp(reason, "bad_mac1")) {
		atomic_fetch_add(&lc->dropped_told, strtoull(count, NULL, 10));
		if (!atomic_exchange(&lc->have_first, true)) {
			rw_log_format_record(rec, RW_LOG_LOGFMT, lc->first, sizeof(lc->first));
			rw_log_format_record(rec, RW_LOG_JSON, lc->first_json, sizeof(lc->first_json));
		}
	}
}

static void test_log_flood(void **state)
{
	static struct log_count lc;
	struct rw_handler h = { .on_event = on_event, .user = &srv_rec };
	struct sockaddr_in to = { .sin_family = AF_INET };
	uint8_t pkt[148] = { 1 };	/* a HandshakeInitiation of the right size, MAC1 all zero */
	struct rw_server *srv;
	struct rw_stats st;
	uint64_t t0, elapsed, end;
	int fd, sent = 0;

	(void)state;
	memset(&lc, 0, sizeof(lc));
	/* a short window, so that the test sees several of them */
	setenv("RW_TEST_DROP_WINDOW_MS", "200", 1);
	rw_set_log_fn(count_log, &lc);
	srv = make_server(&h);	/* quiet: nothing on stderr, yet the log function gets the records */
	assert_int_equal(rw_server_start(srv), 0);
	to.sin_port = htons(rw_server_port(srv));
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	t0 = now_ms();
	for (int i = 0; i < 100000; i++) {
		pkt[4] = (uint8_t)i;	/* every packet different */
		if (sendto(fd, pkt, sizeof(pkt), 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)sizeof(pkt))
			sent++;
		if (!(i % 2000))
			usleep(1000);	/* let the reactors keep up a little (the kernel drops the rest) */
	}
	elapsed = now_ms() - t0;
	close(fd);
	/* every drop the engine counted is told once its window is over (housekeeping runs each second) */
	end = now_ms() + 5000;
	do {
		usleep(50000);
		rw_server_stats(srv, &st);
	} while (atomic_load(&lc.dropped_told) < st.drops[RW_DROP_BAD_MAC1] && now_ms() < end);
	rw_server_stats(srv, &st);
	print_message("flood: %d sent in %llu ms, %llu counted, %u records (%u drop summaries)\n", sent,
		      (unsigned long long)elapsed, (unsigned long long)st.drops[RW_DROP_BAD_MAC1],
		      atomic_load(&lc.records), atomic_load(&lc.drop_records));
	assert_true(st.drops[RW_DROP_BAD_MAC1] > 1000);
	assert_int_equal(atomic_load(&lc.dropped_told), st.drops[RW_DROP_BAD_MAC1]);
	/* at most one summary per reason, reactor and window (plus the window each one was in at the end) */
	assert_true(atomic_load(&lc.drop_records) >= 1);
	assert_true(atomic_load(&lc.drop_records) <= 2 * (elapsed / 200 + 2 + 5000 / 200));
	assert_true(atomic_load(&lc.records) < 100);
	assert_int_equal(atomic_load(&lc.other), 0);
	/* the record as a line, in both formats */
	assert_true(!strncmp(lc.first, "ts=", 3));
	assert_non_null(strstr(lc.first, " level=warn msg=drops reason=bad_mac1 count="));
	assert_non_null(strstr(lc.first, " window_s="));
	assert_non_null(strstr(lc.first, " reactor="));
	assert_true(lc.first[strlen(lc.first) - 1] == '\n');
	assert_true(!strncmp(lc.first_json, "{\"ts\":\"", 7));
	assert_non_null(strstr(lc.first_json, ",\"level\":\"warn\",\"msg\":\"drops\",\"reason\":\"bad_mac1\",\"count\":\""));
	rw_server_stop(srv);
	rw_server_wait(srv);
	rw_server_destroy(srv);
	rw_set_log_fn(NULL, NULL);
	unsetenv("RW_TEST_DROP_WINDOW_MS");
}

/* ---- the allow-list: SIGHUP and the library call ----------------------------------------- */

static void write_allow(const char *path, const char *text)
{
	char tmp[128];
	FILE *f;

	/* replaced whole, as an editor or a config tool does */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(tmp, 0600), 0);
	assert_int_equal(rename(tmp, path), 0);
}

static void *run_server(void *arg)
{
	return (void *)(intptr_t)rw_server_run(arg);
}

static void test_allow_reload(void **state)
{
	struct rw_handler h = { .on_event = on_event, .user = &srv_rec };
	uint8_t priv[3][RW_KEY_SIZE], pub[3][RW_KEY_SIZE];
	char wpub[3][RW_WPUB_LEN + 1], path[96], text[512], err[RW_ERRBUF_SIZE], expo[1 << 15];
	struct rec ra = { 0 }, rb = { 0 }, rc = { 0 }, rc2 = { 0 };
	struct rw_client *a, *b, *c, *c2;
	struct rw_server *srv;
	uint64_t ida, idb, idc;
	pthread_t t;
	void *ret;

	(void)state;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rw_key_generate(priv[i]), 0);
		assert_int_equal(rw_key_public(pub[i], priv[i]), 0);
		assert_int_equal(rw_pubkey_to_wpub(wpub[i], pub[i]), 0);
	}
	snprintf(path, sizeof(path), "%s/allow.txt", tmpdir);
	snprintf(text, sizeof(text), "# test peers\n%s alice\n%s bob\n", wpub[0], wpub[1]);
	write_allow(path, text);

	srv = make_server(&h);
	/* a file others can read is refused before anything runs */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(rw_server_allow_file(srv, path, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "chmod 600"));
	assert_int_equal(chmod(path, 0600), 0);
	if (rw_server_allow_file(srv, path, err, sizeof(err)))
		fail_msg("allow_file: %s", err);
	assert_int_equal(pthread_create(&t, NULL, run_server, srv), 0);

	a = dial(srv, priv[0], &ra, &ida);
	b = dial(srv, priv[1], &rb, &idb);
	c = dial(srv, priv[2], &rc, &idc);
	assert_true(wait_for(&ra.opened, 1, 10000));
	assert_true(wait_for(&rb.opened, 1, 10000));
	/*
	 * carol is not on the list: the server completes the handshake only
	 * to tell her why (she may see on_open first), then closes
	 */
	assert_true(wait_for(&rc.closed, 1, 10000));
	assert_int_equal(atomic_load(&rc.reason), RW_CLOSE_REJECTED);
	assert_int_equal(atomic_load(&rc.by_peer), 1);
	close_client(c);
	assert_true(rw_server_metrics_write(srv, expo, sizeof(expo)) > 0);
	assert_true(value(expo, "ringwire_allowed_keys") == 2);

	/* bob is removed; SIGHUP: exactly his session closes, as rejected */
	snprintf(text, sizeof(text), "%s alice\n", wpub[0]);
	write_allow(path, text);
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	assert_true(wait_for(&rb.closed, 1, 10000));
	assert_int_equal(atomic_load(&rb.reason), RW_CLOSE_REJECTED);
	assert_int_equal(atomic_load(&rb.by_peer), 1);
	if (!strstr(rb.message, "allow-list"))
		fail_msg("bob was told \"%s\"", rb.message);
	send_events(ida, a, 10);
	assert_true(wait_for(&ra.events, 10, 10000));
	assert_int_equal(atomic_load(&ra.closed), 0);
	assert_true(rw_server_metrics_write(srv, expo, sizeof(expo)) > 0);
	assert_true(value(expo, "ringwire_allowed_keys") == 1);
	close_client(b);

	/* a file that does not parse keeps the old list: alice stays, bob stays out */
	write_allow(path, "wpub1broken\n");
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	usleep(200000);
	atomic_store(&rb.reason, RW_CLOSE_NONE);
	b = dial(srv, priv[1], &rb, &idb);
	assert_true(wait_for(&rb.closed, 2, 10000));
	assert_int_equal(atomic_load(&rb.reason), RW_CLOSE_REJECTED);
	assert_int_equal(atomic_load(&ra.closed), 0);
	close_client(b);

	/* the library call from this thread: no list at all, carol gets in */
	assert_int_equal(rw_server_set_allowed_keys(srv, NULL, NULL, 0), 0);
	c2 = dial(srv, priv[2], &rc2, &idc);
	assert_true(wait_for(&rc2.opened, 1, 10000));
	/* an empty list: nobody, and both sessions close */
	assert_int_equal(rw_server_set_allowed_keys(srv, (const uint8_t(*)[RW_KEY_SIZE])pub, NULL, 0), 0);
	assert_true(wait_for(&ra.closed, 1, 10000));
	assert_true(wait_for(&rc2.closed, 1, 10000));
	assert_int_equal(atomic_load(&ra.reason), RW_CLOSE_REJECTED);
	close_client(a);
	close_client(c2);

	rw_server_stop(srv);
	pthread_join(t, &ret);
	assert_int_equal((intptr_t)ret, 0);
	rw_server_destroy(srv);
	unlink(path);
}

/* ---- sd_notify: READY=1 once running, STOPPING=1 when the graceful stop begins ------------ */

static bool notify_wait(int fd, const char *want, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;
	char msg[256];

	while (now_ms() < end) {
		ssize_t n = recv(fd, msg, sizeof(msg) - 1, MSG_DONTWAIT);

		if (n > 0) {
			msg[n] = '\0';
			if (strstr(msg, want))
				return true;
			continue;
		}
		usleep(2000);
	}
	return false;
}

static void test_sd_notify(void **state)
{
	struct rw_handler h = { .on_event = on_event, .user = &srv_rec };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct rw_server *srv;
	pthread_t t;
	void *ret;
	int fd;

	(void)state;
#ifndef RW_TEST_SYSTEMD
	skip();
#endif
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/notify", tmpdir);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setenv("NOTIFY_SOCKET", a.sun_path, 1);
	srv = make_server(&h);
	/* nothing before it runs */
	assert_false(notify_wait(fd, "READY=1", 100));
	assert_int_equal(pthread_create(&t, NULL, run_server, srv), 0);
	assert_true(notify_wait(fd, "READY=1", 5000));
	/* a reload without an allow-list file neither stops it nor reports a reload */
	assert_int_equal(kill(getpid(), SIGHUP), 0);
	assert_false(notify_wait(fd, "STOPPING=1", 200));
	rw_server_stop(srv);
	assert_true(notify_wait(fd, "STOPPING=1", 5000));
	pthread_join(t, &ret);
	assert_int_equal((intptr_t)ret, 0);
	rw_server_destroy(srv);
	unsetenv("NOTIFY_SOCKET");
	close(fd);
}

static int cleanup(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scrape),
		cmocka_unit_test(test_allow_reload),
		cmocka_unit_test(test_sd_notify),
		cmocka_unit_test(test_log_flood),
		cmocka_unit_test(test_reliable_stalls),
	};
	sigset_t set;

	/* SIGHUP must reach the thread in rw_server_run: no other thread may take it */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!mkdtemp(tmpdir))
		return 1;
	return cmocka_run_group_tests(tests, NULL, cleanup);
}
