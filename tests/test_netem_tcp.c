/* SPDX-License-Identifier: MIT */
/*
 * test_netem_tcp.c - ringwire-netem --tcp run as a user runs it: the built
 * binary (env RW_NETEM, or argv[1]) between plain TCP client sockets and an
 * echo server thread, all on 127.0.0.1. Streams of random bytes go up and
 * come back down through every re-cutting mode and must come back identical;
 * the proxy's final counters (bytes, writes, largest write) show the cuts
 * were made. Every proxy runs with --duration as a backstop and is stopped
 * with SIGTERM; readiness is its "listening on" line, which also gives the
 * port it picked (--listen 127.0.0.1:0).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

static const char *netem;

/* ---- helpers ---------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* xorshift64*: the streams only need to differ, not to be good. */
static void fill(unsigned char *p, size_t n, uint64_t seed)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;

	for (size_t i = 0; i < n; i++) {
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (unsigned char)((x * 0x2545f4914f6cdd1dull) >> 56);
	}
}

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A non-blocking client connected (or connecting) to the proxy. */
static int client(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	assert_true(fd >= 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

/* ---- the echo server: a thread per connection, echoes until EOF, then closes ---- */

struct echo {
	int fd;
	uint16_t port;
	pthread_t th;
	atomic_bool stop;
	atomic_int conns;
};

static void *echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	unsigned char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w <= 0)
				goto out;
			off += w;
		}
	}
out:
	close(fd);
	return NULL;
}

static void *echo_main(void *arg)
{
	struct echo *e = arg;

	while (!atomic_load(&e->stop)) {
		struct pollfd p = { .fd = e->fd, .events = POLLIN };
		pthread_t th;
		int fd;

		if (poll(&p, 1, 20) <= 0)
			continue;
		fd = accept4(e->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		atomic_fetch_add(&e->conns, 1);
		if (pthread_create(&th, NULL, echo_conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(th);
		else
			close(fd);
	}
	return NULL;
}

static void echo_start(struct echo *e)
{
	memset(e, 0, sizeof(*e));
	e->fd = tcp_listener(&e->port);
	assert_int_equal(pthread_create(&e->th, NULL, echo_main, e), 0);
}

static void echo_stop(struct echo *e)
{
	atomic_store(&e->stop, true);
	pthread_join(e->th, NULL);
	close(e->fd);
}

/* ---- the proxy ------------------------------------------------------------------ */

struct proxy {
	pid_t pid;
	int errfd;
	uint16_t port;
	char log[16384];
	size_t loglen;
};

/* Append what is readable on fd within ms; false at EOF. */
static bool slurp(struct proxy *px, int ms)
{
	struct pollfd p = { .fd = px->errfd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return true;
	if (px->loglen + 1 >= sizeof(px->log))
		px->loglen = 0;	/* only the newest lines matter */
	n = read(px->errfd, px->log + px->loglen, sizeof(px->log) - 1 - px->loglen);
	if (n <= 0)
		return false;
	px->loglen += (size_t)n;
	px->log[px->loglen] = '\0';
	return true;
}

/* knobs: NULL-terminated extra arguments after --tcp --listen --upstream. */
static void proxy_start(struct proxy *px, uint16_t upstream, const char *const *knobs)
{
	char up[32];
	const char *argv[64];
	int n = 0, pfd[2];
	uint64_t deadline;
	const char *l;

	memset(px, 0, sizeof(*px));
	snprintf(up, sizeof(up), "127.0.0.1:%u", upstream);
	argv[n++] = netem;
	argv[n++] = "--tcp";
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--upstream";
	argv[n++] = up;
	/* a backstop only: each test ends its proxy with SIGTERM */
	argv[n++] = "--duration";
	argv[n++] = "60";
	for (; knobs && *knobs; knobs++)
		argv[n++] = *knobs;
	argv[n] = NULL;

	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	px->pid = fork();
	assert_true(px->pid >= 0);
	if (!px->pid) {
		dup2(pfd[1], 2);
		execv(netem, (char *const *)argv);
		_exit(127);
	}
	close(pfd[1]);
	px->errfd = pfd[0];
	deadline = now_ms() + 5000;
	while (!(l = strstr(px->log, "listening on 127.0.0.1:"))) {
		if (now_ms() > deadline || !slurp(px, 100))
			fail_msg("no 'listening on' line from %s: %s", netem, px->log);
	}
	px->port = (uint16_t)atoi(l + strlen("listening on 127.0.0.1:"));
	assert_true(px->port > 0);
	assert_non_null(strstr(l, "(tcp)"));
}

/* SIGTERM, collect stderr to EOF, reap: a clean exit with final counters. */
static void proxy_stop(struct proxy *px)
{
	int st;
	uint64_t deadline = now_ms() + 5000;

	kill(px->pid, SIGTERM);
	while (slurp(px, 100))
		if (now_ms() > deadline)
			fail_msg("proxy did not exit on SIGTERM");
	close(px->errfd);
	assert_int_equal(waitpid(px->pid, &st, 0), px->pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_non_null(strstr(px->log, "ringwire-netem: final up "));
	assert_non_null(strstr(px->log, "ringwire-netem: final down "));
}

/* A counter from the final report, e.g. counter(px, "up", "writes"). */
static unsigned long long counter(const struct proxy *px, const char *dir, const char *name)
{
	char tag[64], key[32];
	const char *l, *v;

	snprintf(tag, sizeof(tag), "ringwire-netem: final %s ", dir);
	snprintf(key, sizeof(key), " %s=", name);
	l = strstr(px->log, tag);
	assert_non_null(l);
	v = strstr(l, key);
	assert_non_null(v);
	assert_true(v < strchr(l, '\n'));
	return strtoull(v + strlen(key), NULL, 10);
}

/* ---- streams: send each connection's bytes, read the echo to EOF, compare ------- */

struct stream {
	int fd;
	unsigned char *out, *in;
	size_t len, sent, got;
	bool shut, eof;
};

/* n streams of len random bytes each through the proxy at port; all within ms. */
static void run_streams(uint16_t port, int n, size_t len, uint64_t seed, unsigned ms)
{
	struct stream s[16];
	uint64_t deadline = now_ms() + ms;
	int left = n;

	assert_true(n <= 16);
	for (int i = 0; i < n; i++) {
		s[i] = (struct stream){ .fd = client(port), .len = len };
		s[i].out = malloc(len);
		s[i].in = malloc(len + 1);
		assert_non_null(s[i].out);
		assert_non_null(s[i].in);
		fill(s[i].out, len, seed + (uint64_t)i);
	}
	while (left) {
		struct pollfd p[16];

		for (int i = 0; i < n; i++) {
			p[i].fd = s[i].eof ? -1 : s[i].fd;
			p[i].events = POLLIN | (s[i].shut ? 0 : POLLOUT);
		}
		if (now_ms() > deadline)
			fail_msg("streams not echoed within %u ms: stream 0 sent %zu, got %zu of %zu", ms, s[0].sent,
				 s[0].got, len);
		poll(p, (nfds_t)n, 100);
		for (int i = 0; i < n; i++) {
			struct stream *x = &s[i];
			ssize_t r;

			if (x->eof)
				continue;
			if (!x->shut && (p[i].revents & POLLOUT)) {
				r = send(x->fd, x->out + x->sent, x->len - x->sent, MSG_NOSIGNAL);
				if (r > 0)
					x->sent += (size_t)r;
				else if (r < 0 && errno != EAGAIN)
					fail_msg("send: %s", strerror(errno));
				if (x->sent == x->len) {
					assert_int_equal(shutdown(x->fd, SHUT_WR), 0);
					x->shut = true;
				}
			}
			if (p[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				/* One byte of room past len: an echo longer than what was sent shows. */
				r = recv(x->fd, x->in + x->got, x->len + 1 - x->got, 0);
				if (r > 0) {
					x->got += (size_t)r;
				} else if (r == 0) {
					x->eof = true;
					left--;
				} else if (errno != EAGAIN) {
					fail_msg("recv: %s (after %zu of %zu bytes)", strerror(errno), x->got, len);
				}
			}
		}
	}
	for (int i = 0; i < n; i++) {
		assert_int_equal(s[i].got, len);
		if (memcmp(s[i].out, s[i].in, len)) {
			size_t at = 0;

			while (s[i].out[at] == s[i].in[at])
				at++;
			fail_msg("stream %d: the echo differs from byte %zu on", i, at);
		}
		close(s[i].fd);
		free(s[i].out);
		free(s[i].in);
	}
}

/* ---- tests ------------------------------------------------------------------------ */

struct fix {
	struct echo echo;
	struct proxy px;
};

static int fix_setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	echo_start(&f->echo);
	*state = f;
	return 0;
}

static int fix_teardown(void **state)
{
	struct fix *f = *state;

	echo_stop(&f->echo);
	free(f);
	return 0;
}

enum { MIB = 1 << 20 };

/* Both directions carried len bytes in full, and as many writes as the mode says. */
static void check_bytes(const struct proxy *px, unsigned long long len)
{
	for (int d = 0; d < 2; d++) {
		const char *dir = d ? "down" : "up";

		assert_int_equal(counter(px, dir, "bytes-in"), len);
		assert_int_equal(counter(px, dir, "bytes-fwd"), len);
		assert_int_equal(counter(px, dir, "err"), 0);
	}
	assert_int_equal(counter(px, "up", "open"), 0);
	assert_int_equal(counter(px, "up", "resets"), 0);
	assert_int_equal(counter(px, "up", "refused"), 0);
}

/* No knob: the bytes pass as they come. */
static void test_plain(void **state)
{
	struct fix *f = *state;

	proxy_start(&f->px, f->echo.port, NULL);
	run_streams(f->px.port, 1, MIB, 1, 20000);
	proxy_stop(&f->px);
	check_bytes(&f->px, MIB);
	assert_int_equal(counter(&f->px, "up", "conns"), 1);
}

/* --segment 1: every byte its own write, so the receiver reads byte by byte. */
static void test_segment_1(void **state)
{
	struct fix *f = *state;
	const char *knobs[] = { "--segment", "1", NULL };

	proxy_start(&f->px, f->echo.port, knobs);
	run_streams(f->px.port, 1, MIB, 2, 40000);
	proxy_stop(&f->px);
	check_bytes(&f->px, MIB);
	for (int d = 0; d < 2; d++) {
		const char *dir = d ? "down" : "up";

		assert_int_equal(counter(&f->px, dir, "writes"), MIB);
		assert_int_equal(counter(&f->px, dir, "largest-write"), 1);
	}
}

/* --segment random:MAX, with a buffer small enough to wrap and fill (backpressure) often. */
static void test_segment_random(void **state)
{
	struct fix *f = *state;
	const char *knobs[] = { "--segment", "random:100", "--seed", "11", "--buffer", "4k", NULL };

	proxy_start(&f->px, f->echo.port, knobs);
	run_streams(f->px.port, 1, MIB, 3, 30000);
	proxy_stop(&f->px);
	check_bytes(&f->px, MIB);
	for (int d = 0; d < 2; d++) {
		const char *dir = d ? "down" : "up";

		/* sizes drawn from 1..100: about 50 on average, never more than 100 */
		assert_true(counter(&f->px, dir, "writes") >= MIB / 100);
		assert_true(counter(&f->px, dir, "writes") > MIB / 80);
		assert_true(counter(&f->px, dir, "largest-write") <= 100);
	}
}

/* Several connections at once, each cut its own way, none mixed with another. */
static void test_many(void **state)
{
	struct fix *f = *state;
	const char *knobs[] = { "--segment", "random:700", "--delay", "1:3", "--seed", "5", NULL };

	proxy_start(&f->px, f->echo.port, knobs);
	run_streams(f->px.port, 8, MIB / 4, 4, 30000);
	proxy_stop(&f->px);
	check_bytes(&f->px, 8ull * (MIB / 4));
	assert_int_equal(counter(&f->px, "up", "conns"), 8);
	assert_int_equal(atomic_load(&f->echo.conns), 8);
}

/* Every knob at once, each direction its own way. */
static void test_combined(void **state)
{
	struct fix *f = *state;
	const char *knobs[] = { "--segment", "random:50", "--segment-down", "1", "--coalesce", "2",
				"--delay", "2:2", "--seed", "9", NULL };

	proxy_start(&f->px, f->echo.port, knobs);
	run_streams(f->px.port, 2, MIB / 4, 5, 40000);
	proxy_stop(&f->px);
	check_bytes(&f->px, 2ull * (MIB / 4));
	assert_int_equal(counter(&f->px, "down", "writes"), 2ull * (MIB / 4));
	assert_true(counter(&f->px, "up", "largest-write") <= 50);
}

/*
 * --coalesce MS: small writes 2 ms apart come out merged, and nothing leaves
 * before MS. Checked by time (a lower bound, safe on a busy machine) and by the
 * largest write (more than one client write's worth).
 */
static void test_coalesce(void **state)
{
	struct fix *f = *state;
	const char *knobs[] = { "--coalesce-up", "100", NULL };
	unsigned char msg[10], back[400];
	size_t got = 0;
	uint64_t t0, first = 0;
	int fd;

	proxy_start(&f->px, f->echo.port, knobs);
	fd = client(f->px.port);
	memset(msg, 'c', sizeof(msg));
	t0 = now_ms();
	for (int i = 0; i < 20; i++) {
		assert_int_equal(send(fd, msg, sizeof(msg), MSG_NOSIGNAL), (ssize_t)sizeof(msg));
		sleep_ms(2);
	}
	while (got < 200 && now_ms() < t0 + 10000) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		poll(&p, 1, 100);
		r = recv(fd, back + got, sizeof(back) - got, 0);
		if (r > 0 && !first)
			first = now_ms();
		if (r > 0)
			got += (size_t)r;
	}
	close(fd);
	proxy_stop(&f->px);
	assert_int_equal(got, 200);
	assert_true(first - t0 >= 99);
	assert_true(counter(&f->px, "up", "largest-write") > sizeof(msg));
	assert_true(counter(&f->px, "up", "writes") < 20);
}

/* --delay MS: a round trip takes at least twice MS. */
static void test_delay(void **state)
{
	struct fix *f = *state;
	const char *knobs[] = { "--delay", "60", NULL };
	unsigned char b[5];
	size_t got = 0;
	uint64_t t0;
	int fd;

	proxy_start(&f->px, f->echo.port, knobs);
	fd = client(f->px.port);
	sleep_ms(50);	/* connected upstream by now: only the delay counts below */
	t0 = now_ms();
	assert_int_equal(send(fd, "hello", 5, MSG_NOSIGNAL), 5);
	while (got < 5 && now_ms() < t0 + 10000) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;

		poll(&p, 1, 100);
		r = recv(fd, b + got, sizeof(b) - got, 0);
		if (r > 0)
			got += (size_t)r;
	}
	assert_int_equal(got, 5);
	assert_true(now_ms() - t0 >= 119);
	assert_memory_equal(b, "hello", 5);
	close(fd);
	proxy_stop(&f->px);
}

/* An upstream that refuses: the client's connection ends at once (a reset), counted. */
static void test_refused(void **state)
{
	struct proxy px;
	uint16_t port;
	int lfd = tcp_listener(&port), fd;
	unsigned char b[4];
	ssize_t r = 1;
	uint64_t t0;

	(void)state;
	close(lfd);	/* nothing listens on port now */
	proxy_start(&px, port, NULL);
	fd = client(px.port);
	t0 = now_ms();
	while (now_ms() < t0 + 5000) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		poll(&p, 1, 100);
		r = recv(fd, b, sizeof(b), 0);
		if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
	}
	assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
	close(fd);
	proxy_stop(&px);
	assert_int_equal(counter(&px, "up", "refused"), 1);
	assert_int_equal(counter(&px, "up", "open"), 0);
}

/* The flags --tcp adds, and those it refuses, each a one-line usage error. */
static void test_bad_flags(void **state)
{
	static const struct {
		const char *args[8];
		const char *want;
	} rows[] = {
		{ { "--segment", "1" }, "--segment cuts a byte stream: it needs --tcp" },
		{ { "--coalesce-up", "5" }, "--coalesce-up cuts a byte stream: it needs --tcp" },
		{ { "--buffer", "64k" }, "--buffer sizes the --tcp byte buffers: it needs --tcp" },
		{ { "--tcp", "--loss", "1" }, "--loss has no meaning with --tcp" },
		{ { "--tcp", "--reorder-down", "1" }, "--reorder-down has no meaning with --tcp" },
		{ { "--tcp", "--flow-timeout", "5" }, "--flow-timeout is for UDP flows" },
		{ { "--tcp", "--segment", "0" }, "--segment: \"0\" is not a whole number from 1" },
		{ { "--tcp", "--segment", "big" }, "is not N or random[:MAX]" },
		{ { "--tcp", "--segment", "random:0" }, "is not a whole number from 1" },
		{ { "--tcp", "--coalesce", "x" }, "--coalesce: \"x\" is not a time in milliseconds" },
		{ { "--tcp", "--buffer", "10" }, "--buffer: \"10\" is not a size from 1024" },
		{ { "--tcp=1" }, "--tcp takes no value" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *argv[16];
		int n = 0, pfd[2], st;
		char out[1024] = "";
		size_t len = 0;
		ssize_t r;
		pid_t pid;

		argv[n++] = netem;
		argv[n++] = "--listen";
		argv[n++] = "127.0.0.1:0";
		argv[n++] = "--upstream";
		argv[n++] = "127.0.0.1:9";
		for (int j = 0; rows[i].args[j]; j++)
			argv[n++] = rows[i].args[j];
		argv[n] = NULL;
		assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (!pid) {
			dup2(pfd[1], 2);
			execv(netem, (char *const *)argv);
			_exit(127);
		}
		close(pfd[1]);
		while ((r = read(pfd[0], out + len, sizeof(out) - 1 - len)) > 0)
			len += (size_t)r;
		out[len] = '\0';
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &st, 0), pid);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 2 || !strstr(out, rows[i].want) ||
		    strchr(out, '\n') != out + len - 1)
			fail_msg("row %zu: want exit 2 and one line with \"%s\", got status %d: %s", i, rows[i].want,
				 WIFEXITED(st) ? WEXITSTATUS(st) : -1, out);
	}
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_flags),
		cmocka_unit_test(test_refused),
		cmocka_unit_test_setup_teardown(test_plain, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_segment_1, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_segment_random, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_many, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_combined, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_coalesce, fix_setup, fix_teardown),
		cmocka_unit_test_setup_teardown(test_delay, fix_setup, fix_teardown),
	};

	netem = getenv("RW_NETEM");
	if (argc > 1)
		netem = argv[1];
	if (!netem) {
		fprintf(stderr, "test_netem_tcp: set RW_NETEM or pass the ringwire-netem binary\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
