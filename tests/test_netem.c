/* SPDX-License-Identifier: MIT */
/*
 * test_netem.c - ringwire-netem run as a user runs it: the built binary
 * (env RW_NETEM, or argv[1]) between a plain UDP client socket and an echo
 * server thread, all on 127.0.0.1. Every proxy runs with --duration as a
 * backstop and is stopped with SIGTERM; readiness is its "listening on"
 * line, which also gives the port it picked (--listen 127.0.0.1:0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "netem_proxy.h"

/* ---- helpers ---------------------------------------------------------------- */

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void bufs(int fd)
{
	int v = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
}

static int udp_bound(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	bufs(fd);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A client socket connected to the proxy. */
static int client(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint16_t dummy;
	int fd = udp_bound(&dummy);

	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* recv with a timeout in ms; -1 on timeout. */
static ssize_t recv_to(int fd, void *buf, size_t n, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) <= 0)
		return -1;
	return recv(fd, buf, n, MSG_DONTWAIT);
}

/* ---- the echo server ---------------------------------------------------------- */

enum { PEERS_MAX = 8 };

struct echo {
	int fd;
	uint16_t port;
	pthread_t th;
	atomic_bool stop;
	/* distinct source ports seen: each proxy flow should be one */
	pthread_mutex_t mu;
	uint16_t peers[PEERS_MAX];
	int npeers;
};

static void *echo_main(void *arg)
{
	struct echo *e = arg;
	unsigned char buf[65536];

	while (!atomic_load(&e->stop)) {
		struct pollfd p = { .fd = e->fd, .events = POLLIN };
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n;
		int i;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = recvfrom(e->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (n < 0)
			continue;
		pthread_mutex_lock(&e->mu);
		for (i = 0; i < e->npeers && e->peers[i] != ntohs(from.sin_port); i++)
			;
		if (i == e->npeers && i < PEERS_MAX)
			e->peers[e->npeers++] = ntohs(from.sin_port);
		pthread_mutex_unlock(&e->mu);
		sendto(e->fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
	}
	return NULL;
}

static void echo_start(struct echo *e)
{
	memset(e, 0, sizeof(*e));
	e->fd = udp_bound(&e->port);
	pthread_mutex_init(&e->mu, NULL);
	atomic_store(&e->stop, false);
	assert_int_equal(pthread_create(&e->th, NULL, echo_main, e), 0);
}

static void echo_stop(struct echo *e)
{
	atomic_store(&e->stop, true);
	pthread_join(e->th, NULL);
	pthread_mutex_destroy(&e->mu);
	close(e->fd);
}

/* ---- the proxy ------------------------------------------------------------------ */

static void proxy_start(struct proxy *px, uint16_t upstream, const char *const *knobs)
{
	proxy_run(px, false, "20", upstream, knobs);
}

/* Run the binary to completion: exit status, stdout and stderr. */
static int run(const char *const *args, char *out, size_t on, char *err, size_t en)
{
	const char *argv[32];
	int n = 0, po[2], pe[2], st;
	size_t ol = 0, el = 0;
	bool oo = true, eo = true;
	pid_t pid;

	argv[n++] = netem;
	for (; *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	assert_int_equal(pipe2(po, O_CLOEXEC), 0);
	assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(netem, (char *const *)argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while (oo || eo) {
		struct pollfd p[2] = { { .fd = oo ? po[0] : -1, .events = POLLIN },
				       { .fd = eo ? pe[0] : -1, .events = POLLIN } };
		ssize_t r;

		assert_true(poll(p, 2, 5000) > 0);
		if (p[0].revents) {
			r = read(po[0], out + ol, on - 1 - ol);
			if (r <= 0)
				oo = false;
			else
				ol += (size_t)r;
		}
		if (p[1].revents) {
			r = read(pe[0], err + el, en - 1 - el);
			if (r <= 0)
				eo = false;
			else
				el += (size_t)r;
		}
	}
	out[ol] = err[el] = '\0';
	close(po[0]);
	close(pe[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

/* ---- payloads --------------------------------------------------------------------- */

static size_t payload(unsigned char *b, uint32_t seq, size_t len)
{
	b[0] = (unsigned char)(seq >> 24);
	b[1] = (unsigned char)(seq >> 16);
	b[2] = (unsigned char)(seq >> 8);
	b[3] = (unsigned char)seq;
	for (size_t j = 4; j < len; j++)
		b[j] = (unsigned char)(seq * 131 + j * 7);
	return len;
}

static uint32_t seq_of(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static int bitdiff(const unsigned char *a, const unsigned char *b, size_t n)
{
	int d = 0;

	for (size_t i = 0; i < n; i++)
		d += __builtin_popcount((unsigned)(a[i] ^ b[i]));
	return d;
}

static unsigned char sbuf[65536], rbuf[65536];

/* ---- setup ------------------------------------------------------------------------ */

struct fix {
	struct echo echo;
	struct proxy px;
	int fd;
};

static int fix_setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	echo_start(&f->echo);
	f->fd = -1;
	*state = f;
	return 0;
}

static int fix_teardown(void **state)
{
	struct fix *f = *state;

	if (f->fd >= 0)
		close(f->fd);
	echo_stop(&f->echo);
	free(f);
	return 0;
}

static void start(struct fix *f, const char *const *knobs)
{
	proxy_start(&f->px, f->echo.port, knobs);
	f->fd = client(f->px.port);
}

/* ---- tests ---------------------------------------------------------------------------- */

/* (1) A clean proxy echoes everything, byte for byte, big datagrams included. */
static void test_clean(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--loss", "0", NULL };
	static bool got[1000];
	int nrecv = 0;

	start(f, knobs);
	for (uint32_t base = 0; base < 1000; base += 50) {
		uint64_t deadline;

		for (uint32_t s = base; s < base + 50; s++) {
			size_t len = 8 + (s * 37) % 1400;

			if (s % 100 == 7)
				len = 9000;	/* big pool */
			if (s == 500)
				len = 65000;
			payload(sbuf, s, len);
			assert_int_equal(send(f->fd, sbuf, len, 0), (ssize_t)len);
		}
		deadline = now_ms() + 2000;
		while (nrecv < (int)base + 50 && now_ms() < deadline) {
			ssize_t n = recv_to(f->fd, rbuf, sizeof(rbuf), 100);
			uint32_t s;
			size_t len;

			if (n < 4)
				continue;
			s = seq_of(rbuf);
			assert_true(s < 1000);
			len = s % 100 == 7 ? 9000 : s == 500 ? 65000 : 8 + (s * 37) % 1400;
			assert_int_equal(n, (ssize_t)len);
			payload(sbuf, s, len);
			assert_memory_equal(rbuf, sbuf, len);
			assert_false(got[s]);
			got[s] = true;
			nrecv++;
		}
	}
	assert_int_equal(nrecv, 1000);
	proxy_stop(&f->px);
	assert_int_equal(counter(&f->px, "up", "in"), 1000);
	assert_int_equal(counter(&f->px, "up", "fwd"), 1000);
	assert_int_equal(counter(&f->px, "down", "fwd"), 1000);
	assert_int_equal(counter(&f->px, "down", "err"), 0);
}

enum { LOSS_N = 400 };

/* Sequential traffic through --loss 30%; which sequence numbers came back. */
static int loss_run(struct fix *f, const char *seed, bool *got)
{
	const char *const knobs[] = { "--loss", "30%", "--seed", seed, NULL };
	int n = 0;
	char want[64];

	start(f, knobs);
	snprintf(want, sizeof(want), "seed %s ", seed);
	assert_non_null(strstr(f->px.log, want));
	memset(got, 0, LOSS_N * sizeof(*got));
	for (uint32_t s = 0; s < LOSS_N; s++) {
		payload(sbuf, s, 64);
		assert_int_equal(send(f->fd, sbuf, 64, 0), 64);
		/* Wait for the echo, briefly: what is lost takes the whole wait. */
		while (recv_to(f->fd, rbuf, sizeof(rbuf), 3) >= 4) {
			uint32_t r = seq_of(rbuf);

			assert_true(r < LOSS_N);
			if (!got[r])
				n++;
			got[r] = true;
			if (r == s)
				break;
		}
	}
	while (recv_to(f->fd, rbuf, sizeof(rbuf), 100) >= 4) {
		uint32_t r = seq_of(rbuf);

		if (r < LOSS_N && !got[r])
			n++, got[r] = true;
	}
	proxy_stop(&f->px);
	assert_int_equal(counter(&f->px, "up", "in"), LOSS_N);
	assert_int_equal(counter(&f->px, "up", "loss") + counter(&f->px, "up", "fwd"), LOSS_N);
	assert_int_equal(counter(&f->px, "down", "in"), counter(&f->px, "up", "fwd"));
	close(f->fd);
	f->fd = -1;
	return n;
}

/* (2) Loss both ways: ~0.7 * 0.7 = 49% round trip; the same seed drops the same packets. */
static void test_loss_seeded(void **state)
{
	struct fix *f = *state;
	static bool a[LOSS_N], b[LOSS_N], c[LOSS_N];
	int na = loss_run(f, "1", a);
	int nb = loss_run(f, "1", b);
	int nc = loss_run(f, "2", c);

	/* binomial sd at n=400 is 10 packets; this is +-5 sd */
	assert_in_range(na, 146, 246);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, sizeof(a));
	assert_in_range(nc, 146, 246);
	assert_true(memcmp(a, c, sizeof(a)) != 0);
}

/* Send count datagrams in small bursts, then collect for ms; counts per seq. */
static void burst_send(struct fix *f, uint32_t count, size_t len)
{
	for (uint32_t s = 0; s < count; s++) {
		payload(sbuf, s, len);
		assert_int_equal(send(f->fd, sbuf, len, 0), (ssize_t)len);
		if (s % 20 == 19)
			sleep_ms(1);
	}
}

static int collect(struct fix *f, int *seen, uint32_t count, uint32_t *order, int ms)
{
	int n = 0;
	uint64_t deadline = now_ms() + (uint64_t)ms;

	while (now_ms() < deadline) {
		ssize_t r = recv_to(f->fd, rbuf, sizeof(rbuf), 20);
		uint32_t s;

		if (r < 4)
			continue;
		s = seq_of(rbuf);
		assert_true(s < count);
		if (order)
			order[n] = s;
		seen[s]++;
		n++;
	}
	return n;
}

/* (3) --duplicate 100%: a copy each way, so each echo comes back twice or more. */
static void test_duplicate(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--duplicate", "100%", NULL };
	static int seen[100];

	start(f, knobs);
	burst_send(f, 100, 100);
	collect(f, seen, 100, NULL, 400);
	for (int s = 0; s < 100; s++)
		assert_in_range(seen[s], 2, 4);
	proxy_stop(&f->px);
	assert_int_equal(counter(&f->px, "up", "dup"), 100);
	assert_int_equal(counter(&f->px, "up", "fwd"), 200);
}

/* (4) --corrupt-up 100% --corrupt-down 0: every echo is exactly one bit off. */
static void test_corrupt(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--corrupt-up", "100%", "--corrupt-down", "0", NULL };
	int ones = 0;

	start(f, knobs);
	for (uint32_t s = 0; s < 200; s++) {
		size_t len = 16 + s % 200;
		ssize_t n;

		payload(sbuf, s, len);
		assert_int_equal(send(f->fd, sbuf, len, 0), (ssize_t)len);
		n = recv_to(f->fd, rbuf, sizeof(rbuf), 1000);
		assert_int_equal(n, (ssize_t)len);
		assert_int_equal(bitdiff(sbuf, rbuf, len), 1);
		ones++;
	}
	assert_int_equal(ones, 200);
	proxy_stop(&f->px);
	assert_int_equal(counter(&f->px, "up", "corrupt"), 200);
	assert_int_equal(counter(&f->px, "down", "corrupt"), 0);
}

/* (5) --reorder 50%: some come back out of order, none lost, none twice. */
static void test_reorder(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--reorder", "50%", "--seed", "7", NULL };
	static int seen[300];
	static uint32_t order[600];
	int n, inversions = 0;

	start(f, knobs);
	burst_send(f, 300, 64);
	n = collect(f, seen, 300, order, 500);
	assert_int_equal(n, 300);
	for (int s = 0; s < 300; s++)
		assert_int_equal(seen[s], 1);
	for (int i = 1; i < n; i++)
		inversions += order[i] < order[i - 1];
	assert_true(inversions > 0);
	proxy_stop(&f->px);
	assert_true(counter(&f->px, "up", "reorder") > 0);
	assert_true(counter(&f->px, "down", "reorder") > 0);
	assert_int_equal(counter(&f->px, "down", "fwd"), 300);
}

/*
 * (6) --blackhole 300:600: the proxy's clock starts just before its
 * "listening on" line, so a datagram sent t ms after that line is lost if
 * t mod 600 < 300. 30 ms either side of each edge are not judged.
 */
static void test_blackhole(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--blackhole", "300:600", NULL };
	static int seen[240];
	static uint64_t sent_at[240];
	int lost_on = 0, got_off = 0, judged_on = 0, judged_off = 0;
	uint32_t count = 0;

	start(f, knobs);
	while (count < 240 && now_ms() - f->px.ready_ms < 1200) {
		payload(sbuf, count, 32);
		sent_at[count] = now_ms() - f->px.ready_ms;
		assert_int_equal(send(f->fd, sbuf, 32, 0), 32);
		count++;
		/* pick up echoes while pacing at ~5 ms */
		while (recv_to(f->fd, rbuf, sizeof(rbuf), 5) >= 4)
			seen[seq_of(rbuf) % 240]++;
	}
	collect(f, seen, 240, NULL, 100);
	for (uint32_t s = 0; s < count; s++) {
		uint64_t ph = sent_at[s] % 600;

		if (ph >= 30 && ph < 270) {
			judged_on++;
			lost_on += !seen[s];
		} else if (ph >= 330 && ph < 570) {
			judged_off++;
			got_off += seen[s] > 0;
		}
	}
	assert_true(judged_on > 40);
	assert_true(judged_off > 40);
	assert_int_equal(lost_on, judged_on);
	assert_int_equal(got_off, judged_off);
	proxy_stop(&f->px);
	assert_true(counter(&f->px, "up", "blackhole") > 0);
}

/* (7) --delay 50 each way: no round trip under 100 ms. */
static void test_delay(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--delay", "50", NULL };

	start(f, knobs);
	for (uint32_t s = 0; s < 5; s++) {
		uint64_t t0 = now_ms(), rtt;

		payload(sbuf, s, 100);
		assert_int_equal(send(f->fd, sbuf, 100, 0), 100);
		assert_int_equal(recv_to(f->fd, rbuf, sizeof(rbuf), 2000), 100);
		rtt = now_ms() - t0;
		assert_memory_equal(rbuf, sbuf, 100);
		assert_true(rtt >= 100);
		assert_true(rtt < 1000);
	}
	proxy_stop(&f->px);
	assert_int_equal(counter(&f->px, "up", "delay"), 5);
	assert_int_equal(counter(&f->px, "down", "delay"), 5);
}

/*
 * --rate-up 100k: a 60 KB burst gets a 5 KB bucket and a 25 KB queue; the
 * rest is tail-dropped and what passes is spread over ~250 ms.
 */
static void test_rate(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--rate-up", "100k", NULL };
	static int seen[60];
	uint64_t t0 = now_ms(), last = 0;
	int n = 0;

	start(f, knobs);
	t0 = now_ms();
	for (uint32_t s = 0; s < 60; s++) {
		payload(sbuf, s, 1000);
		assert_int_equal(send(f->fd, sbuf, 1000, 0), 1000);
	}
	while (now_ms() - t0 < 800) {
		if (recv_to(f->fd, rbuf, sizeof(rbuf), 50) < 4)
			continue;
		seen[seq_of(rbuf) % 60]++;
		last = now_ms() - t0;
		n++;
	}
	assert_in_range(n, 20, 45);
	assert_true(last >= 150);
	proxy_stop(&f->px);
	assert_true(counter(&f->px, "up", "rate") > 0);
	assert_int_equal(counter(&f->px, "up", "rate") + counter(&f->px, "up", "fwd"), 60);
}

/*
 * Flows: each client is its own source port upstream; replies find their
 * client; --max-flows bounds the table; an idle flow is forgotten.
 */
static void test_flows(void **state)
{
	struct fix *f = *state;
	const char *const knobs[] = { "--max-flows", "2", "--flow-timeout", "0.2", NULL };
	int c2, c3;
	ssize_t n;

	start(f, knobs);
	c2 = client(f->px.port);
	c3 = client(f->px.port);
	payload(sbuf, 1, 40);
	assert_int_equal(send(f->fd, sbuf, 40, 0), 40);
	assert_int_equal(recv_to(f->fd, rbuf, sizeof(rbuf), 1000), 40);
	assert_int_equal(seq_of(rbuf), 1);
	payload(sbuf, 2, 40);
	assert_int_equal(send(c2, sbuf, 40, 0), 40);
	assert_int_equal(recv_to(c2, rbuf, sizeof(rbuf), 1000), 40);
	assert_int_equal(seq_of(rbuf), 2);
	/* the table is full: a third client gets nothing */
	payload(sbuf, 3, 40);
	assert_int_equal(send(c3, sbuf, 40, 0), 40);
	assert_int_equal(recv_to(c3, rbuf, sizeof(rbuf), 200), -1);
	pthread_mutex_lock(&f->echo.mu);
	assert_int_equal(f->echo.npeers, 2);
	pthread_mutex_unlock(&f->echo.mu);
	/* idle past the timeout: both flows go, so the third client fits, on a new port */
	sleep_ms(500);
	assert_int_equal(send(c3, sbuf, 40, 0), 40);
	n = recv_to(c3, rbuf, sizeof(rbuf), 1000);
	assert_int_equal(n, 40);
	assert_int_equal(seq_of(rbuf), 3);
	pthread_mutex_lock(&f->echo.mu);
	assert_int_equal(f->echo.npeers, 3);
	pthread_mutex_unlock(&f->echo.mu);
	close(c2);
	close(c3);
	proxy_stop(&f->px);
	assert_int_equal(counter(&f->px, "up", "noflow"), 1);
}

/* --duration ends the proxy on its own, cleanly, with final counters. */
static void test_duration(void **state)
{
	const char *const args[] = { "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9",
				     "--duration", "0.3", "--stats-interval", "0.1", NULL };
	static char out[4096], err[8192];
	uint64_t t0 = now_ms();

	(void)state;
	assert_int_equal(run(args, out, sizeof(out), err, sizeof(err)), 0);
	assert_true(now_ms() - t0 >= 250);
	assert_true(now_ms() - t0 < 3000);
	assert_non_null(strstr(err, "seed "));
	assert_non_null(strstr(err, "ringwire-netem: t="));
	assert_non_null(strstr(err, "ringwire-netem: final up "));
	assert_non_null(strstr(err, "ringwire-netem: final down "));
	assert_string_equal(out, "");
}

/* (8) Bad usage: exit 2, one line on stderr naming the problem, nothing on stdout. */
static void test_bad_flags(void **state)
{
	static const struct {
		const char *args[8];
		const char *msg;
	} cases[] = {
		{ { "--listen", "127.0.0.1:1", "--upstream", "127.0.0.1:2", "--loss", "150%" },
		  "ringwire-netem: --loss: \"150%\" is not a percentage between 0 and 100\n" },
		{ { "--loss-up", "-1" }, "--loss-up: \"-1\" is not a percentage" },
		{ { "--loss=abc" }, "--loss: \"abc\" is not a percentage" },
		{ { "--bogus", "1" }, "unknown flag --bogus; see --help" },
		{ { "--loss-left", "1" }, "unknown flag --loss-left; see --help" },
		{ { "--loss" }, "--loss needs a value" },
		{ { "stray" }, "unexpected argument \"stray\"" },
		{ { "--listen", "127.0.0.1" }, "--listen 127.0.0.1: the address needs a port" },
		{ { "--listen", "300.0.0.1:9" }, "--listen: \"300.0.0.1:9\" is not an address" },
		{ { "--listen", "[::1:9" }, "--listen: \"[::1:9\" is not an address" },
		{ { "--listen", "127.0.0.1:70000" }, "needs a port" },
		{ { "--upstream", "[::1]:0" }, "--upstream: \"[::1]:0\" needs a port from 1 to 65535" },
		{ { "--burst-loss", "5%" }, "--burst-loss: \"5%\" is not P:LEN" },
		{ { "--burst-loss", "5%:0.5" }, "mean burst length" },
		{ { "--reorder", "5%:x" }, "--reorder: \"x\" is not a whole number" },
		{ { "--delay", "abc" }, "--delay: \"abc\" is not a time in milliseconds" },
		{ { "--blackhole", "700:600" }, "--blackhole: \"700:600\"" },
		{ { "--rate", "fast" }, "--rate: \"fast\" is not a rate" },
		{ { "--duration", "0" }, "--duration: \"0\" is not a time in seconds" },
		{ { "--max-flows", "0" }, "--max-flows: \"0\" is not a whole number" },
		{ { "--seed", "x1" }, "--seed: \"x1\" is not a whole number" },
		{ { "--quiet=yes" }, "--quiet takes no value" },
		{ { "--upstream", "127.0.0.1:9" }, "missing --listen HOST:PORT" },
	};
	static char out[4096], err[4096];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = run(cases[i].args, out, sizeof(out), err, sizeof(err));

		if (rc != 2 || !strstr(err, cases[i].msg))
			fail_msg("case %zu: exit %d, stderr \"%s\", want \"%s\"", i, rc, err, cases[i].msg);
		assert_string_equal(out, "");
		assert_int_equal(strncmp(err, "ringwire-netem: ", 16), 0);
		/* one line */
		assert_true(strchr(err, '\n') == err + strlen(err) - 1);
	}
}

/* --help: exit 0 and every knob is documented. */
static void test_help(void **state)
{
	static const char *const words[] = {
		"--listen", "--upstream", "--loss P", "--burst-loss P:LEN", "--reorder P[:GAP]",
		"--duplicate P", "--delay MS[:JITTER]", "--corrupt P", "--blackhole ON:PERIOD",
		"--rate BYTES", "--seed N", "--duration S", "--stats-interval S", "--flow-timeout S",
		"--max-flows N", "--queue-limit N", "--quiet", "--help", "-up", "-down", "Examples:",
	};
	const char *const args[] = { "--help", NULL };
	const char *const args_h[] = { "-h", NULL };
	static char out[16384], err[4096], out2[16384];

	(void)state;
	assert_int_equal(run(args, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(err, "");
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (!strstr(out, words[i]))
			fail_msg("--help does not mention \"%s\"", words[i]);
	assert_int_equal(run(args_h, out2, sizeof(out2), err, sizeof(err)), 0);
	assert_string_equal(out, out2);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_duration),
		cmocka_unit_test_setup_teardown(test_clean, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_loss_seeded, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_reorder, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_blackhole, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_delay, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_rate, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_flows, fix_setup, fix_teardown),
	};

	netem = getenv("RW_NETEM");
	if (!netem && argc > 1)
		netem = argv[1];
	if (!netem) {
		fprintf(stderr, "test_netem: set RW_NETEM to the ringwire-netem binary\n");
		return 1;
	}
	/* a proxy that dies must not take the test with it */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
