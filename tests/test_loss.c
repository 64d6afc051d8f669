/* SPDX-License-Identifier: MIT */
/*
 * test_loss.c - reliable channels through ringwire-netem (issue: correct
 * under loss). A server and a client in this process, the impairment proxy
 * between them. The client's reliable channel carries numbered events, small
 * and fragmented; the server checks each arrives exactly once and in order.
 * An unreliable channel beside it must never deliver a duplicate or a
 * corrupted event. Every case is seeded, so a failure can be replayed.
 */
#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <ringwire.h>

enum { CH_REL = 1, CH_UNREL = 2, BIG = 3000 };

/* ---- payloads: a sequence number and a pattern derived from it ---------------------- */

static size_t size_of(uint32_t seq)
{
	/* every 10th reliable event is fragmented (3 packets) */
	return seq % 10 == 9 ? BIG : 24 + seq % 40;
}

static void fill(uint8_t *p, uint32_t seq, size_t len)
{
	memcpy(p, &seq, 4);
	for (size_t i = 4; i < len; i++)
		p[i] = (uint8_t)(seq * 131 + i * 7);
}

static bool intact(const uint8_t *p, size_t len, uint32_t *seq)
{
	if (len < 4)
		return false;
	memcpy(seq, p, 4);
	for (size_t i = 4; i < len; i++)
		if (p[i] != (uint8_t)(*seq * 131 + i * 7))
			return false;
	return true;
}

/* ---- server side: checks ------------------------------------------------------------ */

static unsigned srv_delay_us;	/* a slow receiver: this long per reliable event */

static struct {
	atomic_uint rel_in_order, rel_bad, unrel_got, unrel_dup, unrel_bad;
	uint32_t next_rel;
	uint8_t seen_unrel[8192];
} srv;

static void srv_event(struct rw_session *s, uint8_t ch, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	uint32_t seq;

	(void)s;
	(void)type;
	(void)user;
	if (!intact(p, len, &seq)) {
		atomic_fetch_add(ch == CH_REL ? &srv.rel_bad : &srv.unrel_bad, 1);
		return;
	}
	if (ch == CH_REL) {
		if (srv_delay_us)
			usleep(srv_delay_us);
		/* exactly once, in order: each event must be the next one */
		if (seq == srv.next_rel && len == size_of(seq)) {
			srv.next_rel++;
			atomic_fetch_add(&srv.rel_in_order, 1);
		} else {
			if (atomic_fetch_add(&srv.rel_bad, 1) < 5)
				print_message("reliable event %u (len %zu) where %u (len %zu) was due\n", seq, len,
					      srv.next_rel, size_of(srv.next_rel));
		}
	} else if (seq < sizeof(srv.seen_unrel)) {
		if (srv.seen_unrel[seq]++)
			atomic_fetch_add(&srv.unrel_dup, 1);
		atomic_fetch_add(&srv.unrel_got, 1);
	}
}

/* ---- client side: a feeder on the reactor thread --------------------------------------- */

static struct {
	uint32_t total_rel, total_unrel, next_rel, next_unrel, per_call;
	atomic_uint eagain, writable;
	atomic_bool done;
} cli;

static void feed(struct rw_session *s)
{
	static uint8_t buf[BIG];
	uint32_t budget = cli.per_call ? cli.per_call : UINT32_MAX;

	while (cli.next_rel < cli.total_rel && budget--) {
		size_t len = size_of(cli.next_rel);
		int ret;

		fill(buf, cli.next_rel, len);
		ret = rw_session_send(s, CH_REL, 1, buf, len);
		if (ret == -EAGAIN) {
			atomic_fetch_add(&cli.eagain, 1);
			break;	/* on_writable resumes */
		}
		assert_int_equal(ret, 0);
		cli.next_rel++;
		/* interleave unreliable traffic */
		if (cli.next_unrel < cli.total_unrel && cli.next_rel % 2 == 0) {
			fill(buf, cli.next_unrel, 32);
			if (rw_session_send(s, CH_UNREL, 1, buf, 32) == 0)
				cli.next_unrel++;
		}
	}
	if (cli.next_rel == cli.total_rel)
		atomic_store(&cli.done, true);
}

static void cli_open(struct rw_session *s, void *user)
{
	(void)user;
	rw_session_set_tick(s, 2);
	feed(s);
}

static void cli_tick(struct rw_session *s, void *user)
{
	(void)user;
	feed(s);
}

static void cli_writable(struct rw_session *s, uint8_t ch, void *user)
{
	(void)ch;
	(void)user;
	atomic_fetch_add(&cli.writable, 1);
	feed(s);
}

/* ---- ringwire-netem as a child process ---------------------------------------------------- */

static pid_t netem_start(uint16_t upstream, uint16_t *port, const char *const *knobs)
{
	const char *bin = getenv("RW_NETEM");
	char up[32], line[512];
	const char *argv[32];
	int p[2], n = 0;
	pid_t pid;
	FILE *f;

	assert_non_null(bin);
	snprintf(up, sizeof(up), "127.0.0.1:%u", upstream);
	argv[n++] = bin;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--upstream";
	argv[n++] = up;
	argv[n++] = "--duration";
	argv[n++] = "60";
	while (*knobs)
		argv[n++] = *knobs++;
	argv[n] = NULL;
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(p[1], 2);
		close(p[0]);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	*port = 0;
	while (fgets(line, sizeof(line), f)) {
		char *at = strstr(line, "listening on 127.0.0.1:");

		fputs(line, stderr);
		if (at) {
			*port = (uint16_t)atoi(at + strlen("listening on 127.0.0.1:"));
			break;
		}
	}
	/* the proxy's later lines go to a pipe nobody reads: make it non-blocking by closing */
	fclose(f);
	assert_true(*port != 0);
	return pid;
}

static void netem_stop(pid_t pid)
{
	int st;

	kill(pid, SIGTERM);
	waitpid(pid, &st, 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- one run ----------------------------------------------------------------------------- */

static void run(const char *name, const char *const *knobs, uint32_t nrel, uint32_t nunrel, uint32_t retries,
		unsigned timeout_ms, uint32_t per_call)
{
	struct rw_server_config sc;
	struct rw_client_config cc;
	struct rw_server *s;
	struct rw_client *c;
	struct rw_stats ss, cs;
	char err[RW_ERRBUF_SIZE], uri[256], via[256];
	uint16_t port;
	uint64_t id, t0;
	pid_t np;
	struct rw_handler hs = { .on_event = srv_event };
	struct rw_handler hsr = { .on_event = srv_event, .flags = RW_CHANNEL_RELIABLE, .base_rto_ms = 100,
				  .max_retries = retries };
	struct rw_handler hc = { .on_open = cli_open, .on_tick = cli_tick, .on_writable = cli_writable };
	struct rw_handler hcr = { .flags = RW_CHANNEL_RELIABLE, .window = 64, .base_rto_ms = 100,
				  .max_retries = retries, .on_writable = cli_writable };

	memset(&srv, 0, sizeof(srv));
	memset(&cli, 0, sizeof(cli));
	cli.total_rel = nrel;
	cli.total_unrel = nunrel;
	cli.per_call = per_call;

	rw_server_config_init(&sc);
	sc.listen = "127.0.0.1:0";
	sc.reactors = 1;
	sc.quiet = 1;
	assert_int_equal(rw_key_generate(sc.private_key), 0);
	assert_int_equal(rw_server_create(&s, &sc, err, sizeof(err)), 0);
	assert_int_equal(rw_server_on(s, RW_CHANNEL_ANY, &hs), 0);
	assert_int_equal(rw_server_on(s, CH_REL, &hsr), 0);
	assert_int_equal(rw_server_start(s), 0);
	assert_true(rw_server_uri(s, uri, sizeof(uri)) > 0);

	np = netem_start(rw_server_port(s), &port, knobs);
	snprintf(via, sizeof(via), "%.*s127.0.0.1:%u", (int)(strrchr(uri, '@') - uri + 1), uri, port);

	rw_client_config_init(&cc);
	cc.quiet = 1;
	/* handshakes lost to the proxy are retried quickly */
	cc.timers.handshake_retry_ms = 200;
	cc.timers.handshake_attempts = 50;
	assert_int_equal(rw_client_create(&c, &cc, err, sizeof(err)), 0);
	assert_int_equal(rw_client_on(c, RW_CHANNEL_ANY, &hc), 0);
	assert_int_equal(rw_client_on(c, CH_REL, &hcr), 0);
	assert_int_equal(rw_client_start(c), 0);
	t0 = now_ms();
	assert_int_equal(rw_client_dial(c, via, NULL, &id, err, sizeof(err)), 0);

	while (atomic_load(&srv.rel_in_order) < nrel && atomic_load(&srv.rel_bad) == 0 && now_ms() - t0 < timeout_ms)
		usleep(2000);
	/* late unreliable stragglers (delayed, reordered) */
	usleep(100 * 1000);
	rw_server_stats(s, &ss);
	rw_client_stats(c, &cs);
	print_message("%-22s rel sent %u delivered %u bad %u | unrel sent %u got %u dup %u corrupt %u | "
		      "retransmits %llu, eagain %u, writable %u, drops: replay %llu decrypt %llu | %llu ms\n",
		      name, cli.next_rel, atomic_load(&srv.rel_in_order), atomic_load(&srv.rel_bad), cli.next_unrel,
		      atomic_load(&srv.unrel_got), atomic_load(&srv.unrel_dup), atomic_load(&srv.unrel_bad),
		      (unsigned long long)cs.retransmits, atomic_load(&cli.eagain), atomic_load(&cli.writable),
		      (unsigned long long)ss.drops[RW_DROP_REPLAY], (unsigned long long)ss.drops[RW_DROP_DECRYPT],
		      (unsigned long long)(now_ms() - t0));

	rw_client_stop(c);
	rw_client_wait(c);
	rw_client_destroy(c);
	rw_server_stop(s);
	rw_server_wait(s);
	rw_server_destroy(s);
	netem_stop(np);

	assert_int_equal(atomic_load(&srv.rel_bad), 0);
	assert_int_equal(atomic_load(&srv.rel_in_order), nrel);
	assert_int_equal(atomic_load(&srv.unrel_dup), 0);
	assert_int_equal(atomic_load(&srv.unrel_bad), 0);
	assert_true(atomic_load(&srv.unrel_got) <= cli.next_unrel);
}

static void test_loss_1(void **state)
{
	static const char *const k[] = { "--loss", "1%", "--reorder", "5%", "--duplicate", "5%", "--seed", "1",
					 NULL };
	(void)state;
	run("1% loss", k, 3000, 1000, 10, 30000, 0);
}

static void test_loss_10(void **state)
{
	static const char *const k[] = { "--loss", "10%", "--reorder", "5%", "--duplicate", "5%", "--corrupt",
					 "1%", "--seed", "2", NULL };
	(void)state;
	run("10% loss", k, 2000, 1000, 20, 40000, 0);
}

static void test_loss_30(void **state)
{
	static const char *const k[] = { "--loss", "30%", "--reorder", "10%", "--duplicate", "10%", "--seed", "3",
					 NULL };
	(void)state;
	/* a 3-packet event survives one try with p = 0.34: allow more tries than the default */
	run("30% loss", k, 1000, 500, 40, 60000, 0);
}

static void test_bursty_loss(void **state)
{
	static const char *const k[] = { "--burst-loss", "2%:6", "--delay", "5:5", "--seed", "4", NULL };
	(void)state;
	run("bursty loss + jitter", k, 2000, 500, 20, 40000, 0);
}

static void test_blackhole(void **state)
{
	/*
	 * 1 s of silence in every 2 s, while events flow for a few seconds (10
	 * every 2 ms): each blackhole is far shorter than the retry budget
	 * (0.1 s doubling, 10 tries), so nothing may be lost.
	 */
	static const char *const k[] = { "--blackhole", "1000:2000", "--seed", "5", NULL };
	(void)state;
	run("blackhole 1s/2s", k, 8000, 500, 10, 40000, 10);
}

/*
 * A receiver that takes 0.3 ms per event: the sender's window fills, sends
 * return -EAGAIN, on_writable resumes them, and nothing is buffered beyond
 * the window (the memory bound), nor lost.
 */
static void test_slow_receiver(void **state)
{
	static const char *const k[] = { "--seed", "6", NULL };
	(void)state;
	srv_delay_us = 300;
	run("slow receiver", k, 5000, 0, 10, 40000, 0);
	srv_delay_us = 0;
	assert_true(atomic_load(&cli.eagain) > 0);
	assert_true(atomic_load(&cli.writable) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loss_1),
		cmocka_unit_test(test_loss_10),
		cmocka_unit_test(test_loss_30),
		cmocka_unit_test(test_bursty_loss),
		cmocka_unit_test(test_blackhole),
		cmocka_unit_test(test_slow_receiver),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
