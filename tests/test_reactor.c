/* SPDX-License-Identifier: MIT */
/*
 * test_reactor.c - the reactor over loopback: echo through the send path (in
 * every send mode and on the fallback ring), handoff between reactors,
 * commands from a foreign thread, per-send error accounting, receive-ring
 * exhaustion, timers, stop while idle, IPv6; UDP GSO bursts (on, forced
 * off, refused by the "kernel"), GRO super-datagrams split with a short last
 * segment, large datagrams both ways, kernel drop counts.
 *
 * Callbacks run on reactor threads, where a cmocka assert would longjmp
 * across threads: they only count, and the test thread asserts the counts.
 * Every test arms alarm(): a hang kills the binary instead of the CI job.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "reactor.h"

#define MAXR 4
#define MAGIC 0x52574543u	/* "RWEC" */
#define TEST_ALARM_S 10

struct fx {
	struct rw_reactor_group *g;
	pthread_t tid[MAXR];
	_Atomic unsigned started, stopped;
	_Atomic unsigned long wrong_thread;	/* a callback ran on a foreign thread */
	_Atomic unsigned long misaligned;	/* payload not 16-byte aligned */
	_Atomic unsigned long echo_fail;	/* no send buffer, or send refused */
	_Atomic unsigned long handoff_fail;
	_Atomic unsigned long handoff_seen[MAXR];
	_Atomic unsigned long cmds_seen[MAXR];
	_Atomic unsigned long cmd_order_bad;
	_Atomic unsigned long timer_fired;
	_Atomic uint64_t timer_late_ms;
	uint64_t timer_armed_at;
	bool handoff_mode;	/* on_datagram hands off to (id + 1) % n, which echoes */
	bool record_mode;	/* on_datagram records len by the seq in its first 4 bytes, no echo */
	unsigned dgram_sleep_us;	/* slow consumer, to drain the buffer ring */
	_Atomic unsigned long recorded;
	_Atomic size_t rec_len[256];
};

static unsigned long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long)ts.tv_sec * 1000 + (unsigned long)ts.tv_nsec / 1000000;
}

static struct fx *fx_of(struct rw_reactor *r)
{
	return rw__reactor_user(r);
}

static void check_thread(struct rw_reactor *r)
{
	struct fx *f = fx_of(r);

	if (!pthread_equal(pthread_self(), f->tid[rw__reactor_id(r)]))
		atomic_fetch_add(&f->wrong_thread, 1);
}

static void echo(struct rw_reactor *r, const uint8_t *data, size_t len, const struct sockaddr *from,
		 socklen_t fromlen)
{
	struct fx *f = fx_of(r);
	unsigned idx;
	uint8_t *buf = rw__reactor_send_buf_get(r, len, &idx);

	if (!buf) {
		atomic_fetch_add(&f->echo_fail, 1);
		return;
	}
	memcpy(buf, data, len);
	if (rw__reactor_send(r, idx, len, from, fromlen) != 0) {
		rw__reactor_send_buf_put(r, idx);
		atomic_fetch_add(&f->echo_fail, 1);
	}
}

static void on_start(struct rw_reactor *r)
{
	struct fx *f = fx_of(r);

	f->tid[rw__reactor_id(r)] = pthread_self();
	atomic_fetch_add(&f->started, 1);
}

static void on_stop(struct rw_reactor *r)
{
	struct fx *f = fx_of(r);

	check_thread(r);
	atomic_fetch_add(&f->stopped, 1);
}

static void on_datagram(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
			socklen_t fromlen)
{
	struct fx *f = fx_of(r);

	check_thread(r);
	if ((uintptr_t)data & 15)
		atomic_fetch_add(&f->misaligned, 1);
	if (f->dgram_sleep_us)
		usleep(f->dgram_sleep_us);
	if (f->record_mode) {
		uint32_t seq = 0;

		if (len >= 4)
			memcpy(&seq, data, 4);
		if (seq < 256)
			atomic_store(&f->rec_len[seq], len);
		atomic_fetch_add(&f->recorded, 1);
		return;
	}
	if (f->handoff_mode) {
		unsigned to = (rw__reactor_id(r) + 1) % rw__reactor_count(rw__reactor_group(r));

		if (rw__reactor_handoff(r, to, data, len, from, fromlen) != 0)
			atomic_fetch_add(&f->handoff_fail, 1);
		return;
	}
	echo(r, data, len, from, fromlen);
}

static void on_handoff(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
		       socklen_t fromlen)
{
	struct fx *f = fx_of(r);

	check_thread(r);
	if ((uintptr_t)data & 15)
		atomic_fetch_add(&f->misaligned, 1);
	atomic_fetch_add(&f->handoff_seen[rw__reactor_id(r)], 1);
	echo(r, data, len, from, fromlen);
}

/* ---- helpers --------------------------------------------------------------- */

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	*state = f;
	alarm(TEST_ALARM_S);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	alarm(0);
	rw__reactor_group_destroy(f->g);
	free(f);
	return 0;
}

static void loopback(int family, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		*len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		*len = sizeof(*in6);
	}
}

static void base_cfg(struct fx *f, struct rw_reactor_config *c, int family, unsigned n)
{
	memset(c, 0, sizeof(*c));
	loopback(family, &c->listen, &c->listen_len);
	c->n_reactors = n;
	c->ops.on_start = on_start;
	c->ops.on_stop = on_stop;
	c->ops.on_datagram = on_datagram;
	c->ops.on_handoff = on_handoff;
	c->user = f;
}

static void start_group(struct fx *f, const struct rw_reactor_config *c)
{
	unsigned long deadline;

	assert_int_equal(rw__reactor_group_create(&f->g, c), 0);
	assert_int_equal(rw__reactor_group_start(f->g), 0);
	/* on_start has recorded every reactor's thread before traffic starts. */
	deadline = now_ms() + 2000;
	while (atomic_load(&f->started) < rw__reactor_count(f->g) && now_ms() < deadline)
		usleep(1000);
	assert_int_equal(atomic_load(&f->started), rw__reactor_count(f->g));
}

static int client_open(int family)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), sz = 4 << 20;

	assert_true(fd >= 0);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz)), 0);
	loopback(family, &ss, &len);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	return fd;
}

/*
 * Send `total` numbered datagrams of `size` bytes round-robin from the client
 * sockets, at most `window` unanswered, re-sending the missing ones after a
 * quiet spell, until every echo is back or timeout_ms passes. Returns the
 * number of distinct echoes received.
 */
static unsigned roundtrip(const int *cl, unsigned ncl, const struct sockaddr_storage *srv, socklen_t srvlen,
			  unsigned total, size_t size, unsigned window, unsigned long timeout_ms)
{
	uint8_t *got = calloc(total, 1);
	uint8_t buf[2048];
	unsigned next = 0, nrecv = 0, outstanding = 0;
	unsigned long deadline = now_ms() + timeout_ms, last_rx = now_ms();
	struct pollfd pfd[8];

	assert_non_null(got);
	assert_true(ncl <= 8 && size >= 8 && size <= sizeof(buf));
	memset(buf, 0x5a, sizeof(buf));
	for (unsigned i = 0; i < ncl; i++) {
		pfd[i].fd = cl[i];
		pfd[i].events = POLLIN;
	}
	while (nrecv < total && now_ms() < deadline) {
		while (next < total && outstanding < window) {
			uint32_t seq = next, magic = MAGIC;

			memcpy(buf, &seq, 4);
			memcpy(buf + 4, &magic, 4);
			if (sendto(cl[next % ncl], buf, size, 0, (const struct sockaddr *)srv, srvlen) != (ssize_t)size)
				break;
			next++;
			outstanding++;
		}
		if (poll(pfd, ncl, 20) > 0) {
			for (unsigned i = 0; i < ncl; i++) {
				uint8_t in[2048];
				ssize_t n;

				while ((n = recv(cl[i], in, sizeof(in), MSG_DONTWAIT)) > 0) {
					uint32_t seq, magic;

					memcpy(&seq, in, 4);
					memcpy(&magic, in + 4, 4);
					if (n != (ssize_t)size || magic != MAGIC || seq >= total || got[seq])
						continue;
					got[seq] = 1;
					nrecv++;
					if (outstanding)
						outstanding--;
					last_rx = now_ms();
				}
			}
		} else if (now_ms() - last_rx > 300) {
			/* Quiet: whatever is missing was lost somewhere; ask again. */
			for (unsigned s = 0; s < next; s++) {
				uint32_t seq = s, magic = MAGIC;

				if (got[s])
					continue;
				memcpy(buf, &seq, 4);
				memcpy(buf + 4, &magic, 4);
				sendto(cl[s % ncl], buf, size, 0, (const struct sockaddr *)srv, srvlen);
			}
			outstanding = 0;
			last_rx = now_ms();
		}
	}
	free(got);
	return nrecv;
}

static void sum_stats(struct rw_reactor_group *g, struct rw_reactor_stats *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < rw__reactor_count(g); i++) {
		struct rw_reactor_stats s;

		rw__reactor_stats(rw__reactor_get(g, i), &s);
		sum->rx_packets += s.rx_packets;
		sum->tx_packets += s.tx_packets;
		sum->tx_errors += s.tx_errors;
		sum->rx_nobufs += s.rx_nobufs;
		sum->rearms += s.rearms;
		sum->handoffs_out += s.handoffs_out;
		sum->handoffs_in += s.handoffs_in;
		sum->handoff_full += s.handoff_full;
	}
}

static void stop_join(struct fx *f)
{
	assert_int_equal(rw__reactor_group_stop(f->g), 0);
	assert_int_equal(rw__reactor_group_join(f->g), 0);
	assert_int_equal(atomic_load(&f->stopped), rw__reactor_count(f->g));
}

/* Echo over one configured group; shared by the echo, mode and IPv6 tests. */
static void echo_run(struct fx *f, const struct rw_reactor_config *c, unsigned total, size_t size)
{
	struct sockaddr_storage srv;
	struct rw_reactor_stats sum;
	socklen_t srvlen;
	int cl[4];
	int family = c->listen.ss_family;

	start_group(f, c);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	assert_int_not_equal(family == AF_INET ? ((struct sockaddr_in *)&srv)->sin_port
					       : ((struct sockaddr_in6 *)&srv)->sin6_port, 0);
	for (unsigned i = 0; i < 4; i++)
		cl[i] = client_open(family);
	assert_int_equal(roundtrip(cl, 4, &srv, srvlen, total, size, 256, 6000), total);
	for (unsigned i = 0; i < 4; i++)
		close(cl[i]);
	stop_join(f);
	sum_stats(f->g, &sum);
	assert_true(sum.rx_packets >= total);
	assert_true(sum.tx_packets >= total);
	assert_int_equal(sum.tx_errors, 0);
	assert_int_equal(atomic_load(&f->wrong_thread), 0);
	assert_int_equal(atomic_load(&f->echo_fail), 0);
	assert_int_equal(atomic_load(&f->misaligned), 0);
}

/* ---- (1) echo, two reactors, port 0 ---------------------------------------- */

static void test_echo_two_reactors(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	unsigned flags;

	base_cfg(f, &c, AF_INET, 2);
	echo_run(f, &c, 4000, 64);
	/* This kernel takes the full flag set; a smaller one would have fallen back. */
	flags = rw__reactor_ring_flags(rw__reactor_get(f->g, 0));
	if (!(flags & IORING_SETUP_DEFER_TASKRUN))
		skip();
	assert_true(flags & IORING_SETUP_SINGLE_ISSUER);
}

static void test_echo_send_modes(void **state)
{
	static const enum rw_send_mode modes[] = { RW_SEND_PLAIN, RW_SEND_ZC_FIXED, RW_SEND_MSG };
	struct fx *f = *state;

	for (unsigned m = 0; m < 3; m++) {
		struct rw_reactor_config c;

		memset(f, 0, sizeof(*f));
		base_cfg(f, &c, AF_INET, 2);
		c.send_mode = modes[m];
		c.ring_entries = 16;	/* echo bursts overflow the SQ: exercises submit-and-retry */
		echo_run(f, &c, 1500, 1232);
		assert_int_equal(rw__reactor_send_mode(rw__reactor_get(f->g, 0)), modes[m]);
		rw__reactor_group_destroy(f->g);
		f->g = NULL;
	}
}

static void test_echo_compat_ring(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;

	base_cfg(f, &c, AF_INET, 2);
	c.compat_ring = true;
	echo_run(f, &c, 1000, 200);
	assert_false(rw__reactor_ring_flags(rw__reactor_get(f->g, 0)) &
		     (IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SINGLE_ISSUER));
}

/* Completions gathered for up to 50 µs (kernel min-wait): same results, still prompt to stop. */
static void test_echo_batch_wait(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct sockaddr_storage srv;
	socklen_t srvlen;
	unsigned long t0;
	int cl[2];

	base_cfg(f, &c, AF_INET, 2);
	c.batch_wait_us = 50;
	start_group(f, &c);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	cl[0] = client_open(AF_INET);
	cl[1] = client_open(AF_INET);
	assert_int_equal(roundtrip(cl, 2, &srv, srvlen, 3000, 64, 256, 6000), 3000);
	/* One at a time: each echo must come back although fewer than a batch arrive. */
	assert_int_equal(roundtrip(cl, 1, &srv, srvlen, 50, 64, 1, 3000), 50);
	close(cl[0]);
	close(cl[1]);
	usleep(100 * 1000);
	t0 = now_ms();
	stop_join(f);
	assert_true(now_ms() - t0 < 500);
	assert_int_equal(atomic_load(&f->wrong_thread), 0);
	assert_int_equal(atomic_load(&f->echo_fail), 0);
}

/* ---- (2) handoff: receiver i hands to (i + 1) % n, which echoes ------------ */

static void handoff_run(struct fx *f, unsigned n)
{
	struct rw_reactor_config c;
	struct rw_reactor_stats st[MAXR], sum;
	struct sockaddr_storage srv;
	socklen_t srvlen;
	int cl[8];
	unsigned total = 3000, i;

	base_cfg(f, &c, AF_INET, n);
	f->handoff_mode = true;
	start_group(f, &c);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	for (i = 0; i < 8; i++)
		cl[i] = client_open(AF_INET);
	assert_int_equal(roundtrip(cl, 8, &srv, srvlen, total, 100, 128, 6000), total);
	for (i = 0; i < 8; i++)
		close(cl[i]);
	stop_join(f);
	for (i = 0; i < n; i++)
		rw__reactor_stats(rw__reactor_get(f->g, i), &st[i]);
	sum_stats(f->g, &sum);
	/* Every datagram went through exactly one handoff and was echoed from there. */
	for (i = 0; i < n; i++) {
		assert_int_equal(st[i].handoffs_out, st[i].rx_packets - st[i].handoff_full);
		assert_int_equal(st[(i + 1) % n].handoffs_in, st[i].handoffs_out);
		assert_int_equal(atomic_load(&f->handoff_seen[(i + 1) % n]), st[(i + 1) % n].handoffs_in);
		assert_int_equal(st[(i + 1) % n].tx_packets, st[(i + 1) % n].handoffs_in);
	}
	assert_true(sum.handoffs_in >= total);
	assert_int_equal(atomic_load(&f->wrong_thread), 0);
	assert_int_equal(atomic_load(&f->misaligned), 0);
	assert_int_equal(atomic_load(&f->echo_fail), 0);
}

static void test_handoff(void **state)
{
	handoff_run(*state, 3);
}

static void test_handoff_self(void **state)
{
	handoff_run(*state, 1);
}

/* ---- (3) commands from foreign threads ------------------------------------- */

struct cmd {
	struct rw_cmd_node node;
	unsigned poster, seq;
};

enum { POSTERS = 2, CMDS = 20000 };

struct poster {
	struct fx *f;
	unsigned id;
	struct cmd *cmds;	/* [reactor][CMDS] */
	_Atomic unsigned long post_errors;
};

static unsigned last_seq[MAXR][POSTERS];

static void on_command(struct rw_reactor *r, struct rw_cmd_node *n)
{
	struct fx *f = fx_of(r);
	struct cmd *c = rw_container_of(n, struct cmd, node);
	unsigned id = rw__reactor_id(r);

	check_thread(r);
	/* One producer's commands to one reactor arrive in order. */
	if (c->seq != last_seq[id][c->poster] + 1)
		atomic_fetch_add(&f->cmd_order_bad, 1);
	last_seq[id][c->poster] = c->seq;
	atomic_fetch_add(&f->cmds_seen[id], 1);
}

static void *poster_main(void *arg)
{
	struct poster *p = arg;
	unsigned n = rw__reactor_count(p->f->g);

	for (unsigned s = 0; s < CMDS; s++) {
		for (unsigned r = 0; r < n; r++) {
			struct cmd *c = &p->cmds[r * CMDS + s];

			c->poster = p->id;
			c->seq = s + 1;
			if (rw__reactor_post(rw__reactor_get(p->f->g, r), &c->node) != 0)
				atomic_fetch_add(&p->post_errors, 1);
		}
		if (s % 4096 == 0)
			usleep(1000);	/* let some posts find the reactor asleep */
	}
	return NULL;
}

static void test_commands(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct poster p[POSTERS];
	pthread_t th[POSTERS];
	struct cmd late;
	unsigned long deadline;
	unsigned i, n = 2;

	memset(last_seq, 0, sizeof(last_seq));
	base_cfg(f, &c, AF_INET, n);
	c.ops.on_command = on_command;
	start_group(f, &c);
	for (i = 0; i < POSTERS; i++) {
		p[i].f = f;
		p[i].id = i;
		p[i].cmds = calloc((size_t)n * CMDS, sizeof(struct cmd));
		atomic_init(&p[i].post_errors, 0);
		assert_non_null(p[i].cmds);
		assert_int_equal(pthread_create(&th[i], NULL, poster_main, &p[i]), 0);
	}
	for (i = 0; i < POSTERS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	deadline = now_ms() + 5000;
	for (i = 0; i < n; i++)
		while (atomic_load(&f->cmds_seen[i]) < POSTERS * CMDS && now_ms() < deadline)
			usleep(1000);
	for (i = 0; i < n; i++) {
		struct rw_reactor_stats st;

		assert_int_equal(atomic_load(&f->cmds_seen[i]), POSTERS * CMDS);
		rw__reactor_stats(rw__reactor_get(f->g, i), &st);
		assert_int_equal(st.commands, POSTERS * CMDS);
		assert_int_equal(st.wake_errors, 0);
	}
	for (i = 0; i < POSTERS; i++)
		assert_int_equal(atomic_load(&p[i].post_errors), 0);
	assert_int_equal(atomic_load(&f->cmd_order_bad), 0);
	assert_int_equal(atomic_load(&f->wrong_thread), 0);
	stop_join(f);
	/* After stop, posting is refused rather than lost. */
	assert_int_equal(rw__reactor_post(rw__reactor_get(f->g, 0), &late.node), -ESHUTDOWN);
	for (i = 0; i < POSTERS; i++)
		free(p[i].cmds);
}

/* ---- (4) failing sends mixed with good ones --------------------------------- */

enum { MIX_ROUNDS = 50 };

struct mix_cmd {
	struct rw_cmd_node node;
	struct sockaddr_in good, bad, closed;
	unsigned good_sent, bad_sent, closed_sent, refused;
	unsigned free_after;	/* send buffers free once everything completed */
	_Atomic int done;
};

static struct mix_cmd mix;

static void send_one(struct rw_reactor *r, const struct sockaddr_in *to, unsigned *counter)
{
	unsigned idx;
	uint8_t *b = rw__reactor_send_buf(r, &idx);

	if (!b) {
		mix.refused++;
		return;
	}
	memset(b, 0x33, 64);
	if (rw__reactor_send(r, idx, 64, (const struct sockaddr *)to, sizeof(*to)) == 0)
		(*counter)++;
	else
		mix.refused++;
}

static void mix_command(struct rw_reactor *r, struct rw_cmd_node *n)
{
	struct mix_cmd *m = rw_container_of(n, struct mix_cmd, node);

	check_thread(r);
	if (atomic_load(&m->done) == 0) {
		/* One batch: good, bad, good, closed-port, ... interleaved. */
		for (unsigned i = 0; i < MIX_ROUNDS; i++) {
			send_one(r, &m->good, &m->good_sent);
			send_one(r, &m->bad, &m->bad_sent);
			send_one(r, &m->good, &m->good_sent);
			send_one(r, &m->closed, &m->closed_sent);
		}
		atomic_store(&m->done, 1);
		return;
	}
	/* Second command: count the free send buffers (all must be back). */
	unsigned idx[4096], k = 0;

	while (k < 4096 && rw__reactor_send_buf(r, &idx[k]))
		k++;
	for (unsigned i = 0; i < k; i++)
		rw__reactor_send_buf_put(r, idx[i]);
	m->free_after = k;
	atomic_store(&m->done, 2);
}

static void test_send_errors(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct rw_reactor_stats st;
	struct sockaddr_in self;
	socklen_t slen = sizeof(self);
	int cl = client_open(AF_INET), closed = client_open(AF_INET);
	unsigned got = 0;
	unsigned long deadline;
	uint8_t buf[256];

	base_cfg(f, &c, AF_INET, 1);
	c.ops.on_command = mix_command;
	c.send_buf_count = 300;
	c.ring_entries = 8;	/* 200 sends in one callback: many SQ refills */
	start_group(f, &c);
	memset(&mix, 0, sizeof(mix));
	assert_int_equal(getsockname(cl, (struct sockaddr *)&self, &slen), 0);
	mix.good = self;
	mix.bad = self;
	mix.bad.sin_port = 0;	/* udp_sendmsg: -EINVAL, synchronously, per send */
	/* A port nobody reads: the send succeeds, the ICMP goes nowhere. */
	slen = sizeof(self);
	assert_int_equal(getsockname(closed, (struct sockaddr *)&self, &slen), 0);
	close(closed);
	mix.closed = self;

	assert_int_equal(rw__reactor_post(rw__reactor_get(f->g, 0), &mix.node), 0);
	deadline = now_ms() + 5000;
	while (got < 2 * MIX_ROUNDS && now_ms() < deadline) {
		struct pollfd p = { .fd = cl, .events = POLLIN };

		if (poll(&p, 1, 50) > 0)
			while (recv(cl, buf, sizeof(buf), MSG_DONTWAIT) == 64)
				got++;
	}
	assert_int_equal(atomic_load(&mix.done), 1);
	assert_int_equal(mix.refused, 0);
	assert_int_equal(mix.good_sent, 2 * MIX_ROUNDS);
	assert_int_equal(mix.bad_sent, MIX_ROUNDS);
	assert_int_equal(got, 2 * MIX_ROUNDS);
	/* Completions are in: check the buffers came back, then the counts. */
	deadline = now_ms() + 2000;
	do {
		rw__reactor_stats(rw__reactor_get(f->g, 0), &st);
	} while (st.tx_packets + st.tx_errors < 4 * MIX_ROUNDS && now_ms() < deadline && !usleep(1000));
	assert_int_equal(rw__reactor_post(rw__reactor_get(f->g, 0), &mix.node), 0);
	while (atomic_load(&mix.done) != 2 && now_ms() < deadline + 2000)
		usleep(1000);
	assert_int_equal(atomic_load(&mix.done), 2);
	assert_int_equal(mix.free_after, 300);
	rw__reactor_stats(rw__reactor_get(f->g, 0), &st);
	assert_int_equal(st.tx_errors, MIX_ROUNDS);
	assert_int_equal(st.tx_last_error, -EINVAL);
	assert_int_equal(st.tx_packets, 3 * MIX_ROUNDS);
	close(cl);
	stop_join(f);
	assert_int_equal(atomic_load(&f->wrong_thread), 0);
}

/* ---- (5) receive ring exhaustion ---------------------------------------------- */

static void test_nobufs(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct rw_reactor_stats st;
	struct sockaddr_storage srv;
	socklen_t srvlen;
	int cl[2];

	base_cfg(f, &c, AF_INET, 1);
	c.buf_count = 4;
	c.big_rx_count = 4;
	f->dgram_sleep_us = 20;	/* a slow consumer lets the burst pile up */
	start_group(f, &c);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	cl[0] = client_open(AF_INET);
	cl[1] = client_open(AF_INET);
	/* A window far larger than the 4 buffers: bursts run the ring dry. */
	assert_int_equal(roundtrip(cl, 2, &srv, srvlen, 3000, 300, 1024, 8000), 3000);
	close(cl[0]);
	close(cl[1]);
	rw__reactor_stats(rw__reactor_get(f->g, 0), &st);
	assert_true(st.rx_nobufs > 0);
	assert_true(st.rearms > 0);
	assert_true(st.rx_packets >= 3000);
	stop_join(f);
	assert_int_equal(atomic_load(&f->wrong_thread), 0);
}

/* Larger than a receive buffer can hold: dropped and counted, the next one is fine. */
static void test_truncated(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct rw_reactor_stats st;
	struct sockaddr_storage srv;
	socklen_t srvlen;
	static uint8_t big[2048 - 96 + 1];
	unsigned long deadline;
	int cl;

	base_cfg(f, &c, AF_INET, 1);
	c.max_datagram = sizeof(big) - 1;	/* small receive buffers: a 96-byte header, then the payload */
	start_group(f, &c);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	cl = client_open(AF_INET);
	memset(big, 0x77, sizeof(big));
	assert_int_equal(sendto(cl, big, sizeof(big), 0, (struct sockaddr *)&srv, srvlen), sizeof(big));
	deadline = now_ms() + 2000;
	do {
		rw__reactor_stats(rw__reactor_get(f->g, 0), &st);
	} while (!st.rx_truncated && now_ms() < deadline && !usleep(1000));
	assert_int_equal(st.rx_truncated, 1);
	assert_int_equal(st.rx_packets, 0);
	/* The largest that fits still makes the round trip. */
	assert_int_equal(roundtrip(&cl, 1, &srv, srvlen, 20, sizeof(big) - 1, 4, 3000), 20);
	close(cl);
	stop_join(f);
	assert_int_equal(atomic_load(&f->misaligned), 0);
}

/* ---- (6) stop while idle; timers drive the wait -------------------------------- */

static struct rw_timer once_timer, tick_timer;
static _Atomic unsigned ticks;

static struct fx *timer_fx;

static void timer_once(struct rw_timer *t, uint64_t now)
{
	(void)t;
	atomic_store(&timer_fx->timer_late_ms, now - timer_fx->timer_armed_at);
	atomic_fetch_add(&timer_fx->timer_fired, 1);
}

static struct rw_reactor *tick_reactor;

static void timer_tick(struct rw_timer *t, uint64_t now)
{
	(void)now;
	if (atomic_fetch_add(&ticks, 1) + 1 < 20)
		rw__timer_add_in(rw__reactor_timers(tick_reactor), t, 5);
}

static void timer_start(struct rw_reactor *r)
{
	on_start(r);
	timer_fx = fx_of(r);
	tick_reactor = r;
	timer_fx->timer_armed_at = rw__reactor_now_ms(r);
	rw__timer_init(&once_timer, timer_once);
	rw__timer_init(&tick_timer, timer_tick);
	rw__timer_add_in(rw__reactor_timers(r), &once_timer, 60);
	rw__timer_add_in(rw__reactor_timers(r), &tick_timer, 5);
}

static void test_timers(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	unsigned long t0 = now_ms(), deadline;

	atomic_store(&ticks, 0);
	base_cfg(f, &c, AF_INET, 1);
	c.ops.on_start = timer_start;
	start_group(f, &c);
	/* Nothing but timers wakes this reactor: they must end its waits. */
	deadline = now_ms() + 3000;
	while ((atomic_load(&f->timer_fired) == 0 || atomic_load(&ticks) < 20) && now_ms() < deadline)
		usleep(2000);
	assert_int_equal(atomic_load(&f->timer_fired), 1);
	assert_true(atomic_load(&f->timer_late_ms) >= 60);
	assert_true(atomic_load(&f->timer_late_ms) < 1000);
	assert_int_equal(atomic_load(&ticks), 20);
	assert_true(now_ms() - t0 >= 60);
	stop_join(f);
}

static void test_stop_idle(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	unsigned long t0;

	base_cfg(f, &c, AF_INET, 2);
	start_group(f, &c);
	usleep(100 * 1000);	/* both threads are asleep in io_uring_enter by now */
	t0 = now_ms();
	stop_join(f);
	assert_true(now_ms() - t0 < 500);
	assert_int_equal(rw__reactor_group_stop(f->g), 0);	/* idempotent */
	assert_int_equal(rw__reactor_group_join(f->g), 0);
}

static void test_destroy_unstarted(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct rw_reactor_group *g;

	base_cfg(f, &c, AF_INET, 2);
	assert_int_equal(rw__reactor_group_create(&g, &c), 0);
	rw__reactor_group_destroy(g);
	/* Bad configurations are refused up front. */
	c.buf_size = 1024;
	assert_int_equal(rw__reactor_group_create(&g, &c), -EINVAL);
	assert_null(g);
	c.buf_size = 0;
	c.listen.ss_family = AF_UNIX;
	assert_int_equal(rw__reactor_group_create(&g, &c), -EAFNOSUPPORT);
}

/* ---- (7) IPv6 -------------------------------------------------------------- */

static void test_ipv6(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	int probe = socket(AF_INET6, SOCK_DGRAM, 0);
	struct sockaddr_in6 lo = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	if (probe < 0 || bind(probe, (struct sockaddr *)&lo, sizeof(lo)) < 0) {
		if (probe >= 0)
			close(probe);
		skip();	/* no ::1 in this network namespace */
	}
	close(probe);
	base_cfg(f, &c, AF_INET6, 2);
	echo_run(f, &c, 2000, 1232);
}

/* ---- (8) GSO: bursts to one destination leave as few sendmsgs ------------------- */

enum { BURST_A = 40, BURST_B = 100 };

/* One command: a burst of BURST_A x 1200 bytes (last 500), then BURST_B x 1232, to gso_to. */
static struct {
	struct rw_cmd_node node;
	struct sockaddr_in to;
	unsigned sent, failed;
	size_t big_len;		/* > 0: one large datagram of this size instead */
	bool big_too_large_null;
	_Atomic int done;
} gsoc;

static void burst_send(struct rw_reactor *r, unsigned seq, size_t len)
{
	unsigned idx;
	uint8_t *b = rw__reactor_send_buf_get(r, len, &idx);
	uint32_t s32 = seq;

	if (!b) {
		gsoc.failed++;
		return;
	}
	memset(b, (int)(seq & 0xff), len);
	memcpy(b, &s32, 4);
	if (rw__reactor_send(r, idx, len, (const struct sockaddr *)&gsoc.to, sizeof(gsoc.to)) == 0) {
		gsoc.sent++;
	} else {
		rw__reactor_send_buf_put(r, idx);
		gsoc.failed++;
	}
}

static void gso_command(struct rw_reactor *r, struct rw_cmd_node *n)
{
	unsigned idx;

	(void)n;
	check_thread(r);
	if (gsoc.big_len) {
		gsoc.big_too_large_null = rw__reactor_send_buf_get(r, rw__reactor_max_datagram(r) + 1, &idx) == NULL;
		burst_send(r, 0, gsoc.big_len);
	} else {
		for (unsigned i = 0; i < BURST_A; i++)
			burst_send(r, i, i == BURST_A - 1 ? 500 : 1200);
		for (unsigned i = 0; i < BURST_B; i++)
			burst_send(r, BURST_A + i, 1232);
	}
	atomic_store(&gsoc.done, 1);
}

/* Receive `want` datagrams on fd; each must have the length its seq says and its fill byte. */
static unsigned burst_recv(int fd, unsigned want, unsigned long timeout_ms)
{
	static uint8_t in[70000];
	uint8_t seen[BURST_A + BURST_B] = { 0 };
	unsigned got = 0;
	unsigned long deadline = now_ms() + timeout_ms;

	while (got < want && now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 50) <= 0)
			continue;
		while ((n = recv(fd, in, sizeof(in), MSG_DONTWAIT)) > 0) {
			uint32_t seq;
			size_t exp;

			memcpy(&seq, in, 4);
			if (gsoc.big_len)
				exp = gsoc.big_len;
			else if (seq >= BURST_A + BURST_B)
				continue;
			else
				exp = seq < BURST_A ? (seq == BURST_A - 1 ? 500 : 1200) : 1232;
			if ((size_t)n != exp || in[n - 1] != (uint8_t)(seq & 0xff) || (!gsoc.big_len && seen[seq]++))
				continue;
			got++;
		}
	}
	return got;
}

static void gso_run(struct fx *f, bool no_gso, bool refuse, bool zc, struct rw_reactor_stats *st)
{
	struct rw_reactor_config c;
	socklen_t slen = sizeof(gsoc.to);
	int cl = client_open(AF_INET);
	unsigned long deadline;

	memset(&gsoc, 0, sizeof(gsoc));
	assert_int_equal(getsockname(cl, (struct sockaddr *)&gsoc.to, &slen), 0);
	base_cfg(f, &c, AF_INET, 1);
	c.ops.on_command = gso_command;
	c.no_gso = no_gso;
	c.gso_zc = zc;
	if (refuse)
		setenv("RW_TEST_GSO_REFUSE", "1", 1);
	start_group(f, &c);
	unsetenv("RW_TEST_GSO_REFUSE");
	assert_int_equal(rw__reactor_post(rw__reactor_get(f->g, 0), &gsoc.node), 0);
	assert_int_equal(burst_recv(cl, BURST_A + BURST_B, 5000), BURST_A + BURST_B);
	assert_int_equal(gsoc.sent, BURST_A + BURST_B);
	assert_int_equal(gsoc.failed, 0);
	deadline = now_ms() + 2000;
	do {
		rw__reactor_stats(rw__reactor_get(f->g, 0), st);
	} while (st->tx_packets < BURST_A + BURST_B && now_ms() < deadline && !usleep(1000));
	stop_join(f);
	rw__reactor_stats(rw__reactor_get(f->g, 0), st);
	assert_int_equal(st->tx_packets, BURST_A + BURST_B);
	assert_int_equal(st->tx_errors, 0);
	close(cl);
	print_message("gso %s%s: %llu sendmsgs carried %llu datagrams\n", no_gso ? "off" : "on",
		      refuse ? " (refused)" : "", (unsigned long long)st->tx_gso_sends,
		      (unsigned long long)st->tx_gso_segments);
}

static void test_gso_burst(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_stats st;

	gso_run(f, false, false, false, &st);
	assert_true(rw__reactor_gso(rw__reactor_get(f->g, 0)));
	/* 40 (the last shorter) in one; 100 x 1232 in two: 53 fit 65,507 bytes */
	assert_int_equal(st.tx_gso_sends, 3);
	assert_int_equal(st.tx_gso_segments, BURST_A + BURST_B);
	assert_int_equal(st.tx_gso_refused, 0);
}

static void test_gso_forced_off(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_stats st;

	gso_run(f, true, false, false, &st);
	assert_false(rw__reactor_gso(rw__reactor_get(f->g, 0)));
	assert_int_equal(st.tx_gso_sends, 0);
	assert_int_equal(st.tx_gso_segments, 0);
}

/* The first GSO send is refused: its datagrams go again one by one, GSO is off, nothing is lost. */
static void test_gso_refused(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_stats st;

	gso_run(f, false, true, false, &st);
	assert_false(rw__reactor_gso(rw__reactor_get(f->g, 0)));
	assert_int_equal(st.tx_gso_refused, 1);
	assert_int_equal(st.tx_gso_off, 1);
	/* the run that was open when the refusal came in may still have gone as GSO */
	assert_true(st.tx_gso_sends <= 2);
}

/* Zero-copy GSO sends: the buffers come back on the notification, the counts are the same. */
static void test_gso_zc(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_stats st;

	gso_run(f, false, false, true, &st);
	/* at most 16 segments a send (page fragments of one skb): 40 in 3, 100 in 7 */
	assert_int_equal(st.tx_gso_refused, 0);
	assert_int_equal(st.tx_gso_sends, 10);
	assert_int_equal(st.tx_gso_segments, BURST_A + BURST_B);
}

/* ---- (9) GRO: a GSO burst from a plain socket reaches on_datagram split ------------ */

enum { GRO_SEG = 1000, GRO_N = 11, GRO_LAST = 300 };

static void test_gro_split(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct rw_reactor_stats st;
	struct sockaddr_storage srv;
	socklen_t srvlen;
	static uint8_t burst[GRO_SEG * (GRO_N - 1) + GRO_LAST];
	union {
		struct cmsghdr h;
		uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
	} cm;
	struct iovec iov = { burst, sizeof(burst) };
	struct msghdr msg = { 0 };
	uint16_t seg = GRO_SEG;
	unsigned long deadline;
	int cl;

	base_cfg(f, &c, AF_INET, 1);
	f->record_mode = true;
	start_group(f, &c);
	assert_true(rw__reactor_gro(rw__reactor_get(f->g, 0)));
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	cl = client_open(AF_INET);
	for (uint32_t i = 0; i < GRO_N; i++) {
		memset(burst + i * GRO_SEG, 0x40 + (int)i, i == GRO_N - 1 ? GRO_LAST : GRO_SEG);
		memcpy(burst + i * GRO_SEG, &i, 4);
	}
	msg.msg_name = &srv;
	msg.msg_namelen = srvlen;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.b;
	msg.msg_controllen = sizeof(cm.b);
	cm.h.cmsg_level = SOL_UDP;
	cm.h.cmsg_type = UDP_SEGMENT;
	cm.h.cmsg_len = CMSG_LEN(sizeof(uint16_t));
	memcpy(CMSG_DATA(&cm.h), &seg, sizeof(seg));
	assert_int_equal(sendmsg(cl, &msg, 0), (ssize_t)sizeof(burst));
	deadline = now_ms() + 3000;
	while (atomic_load(&f->recorded) < GRO_N && now_ms() < deadline)
		usleep(1000);
	assert_int_equal(atomic_load(&f->recorded), GRO_N);
	for (unsigned i = 0; i < GRO_N; i++)
		assert_int_equal(atomic_load(&f->rec_len[i]), i == GRO_N - 1 ? GRO_LAST : GRO_SEG);
	close(cl);
	stop_join(f);
	rw__reactor_stats(rw__reactor_get(f->g, 0), &st);
	/* loopback hands the burst over whole to a UDP_GRO socket */
	assert_int_equal(st.rx_gro_packets, 1);
	assert_int_equal(st.rx_gro_segments, GRO_N);
	assert_int_equal(st.rx_packets, GRO_N);
	/* 1000 is not a multiple of 16: the reactor copied the odd segments, payloads stayed aligned */
	assert_int_equal(atomic_load(&f->misaligned), 0);
}

/* ---- (10) large datagrams: 60,000 bytes out, 65,507 in -------------------------- */

static void test_large_datagrams(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct sockaddr_storage srv;
	socklen_t srvlen, slen = sizeof(gsoc.to);
	static uint8_t big[65507];
	unsigned long deadline;
	uint32_t zero = 0;
	int cl = client_open(AF_INET);

	memset(&gsoc, 0, sizeof(gsoc));
	assert_int_equal(getsockname(cl, (struct sockaddr *)&gsoc.to, &slen), 0);
	gsoc.big_len = 60000;
	base_cfg(f, &c, AF_INET, 1);
	c.ops.on_command = gso_command;
	f->record_mode = true;
	start_group(f, &c);
	assert_int_equal(rw__reactor_max_datagram(rw__reactor_get(f->g, 0)), 65507);
	assert_int_equal(rw__reactor_post(rw__reactor_get(f->g, 0), &gsoc.node), 0);
	assert_int_equal(burst_recv(cl, 1, 3000), 1);
	assert_true(gsoc.big_too_large_null);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	memset(big, 0x11, sizeof(big));
	memcpy(big, &zero, 4);
	assert_int_equal(sendto(cl, big, sizeof(big), 0, (struct sockaddr *)&srv, srvlen), (ssize_t)sizeof(big));
	deadline = now_ms() + 3000;
	while (atomic_load(&f->recorded) < 1 && now_ms() < deadline)
		usleep(1000);
	assert_int_equal(atomic_load(&f->rec_len[0]), sizeof(big));
	close(cl);
	stop_join(f);
}

/* Handoff of datagrams of every size, 64 KiB ones among small ones, through the byte ring. */
static void test_handoff_large(void **state)
{
	static const size_t sz[] = { 65507, 100, 60000, 1232, 30000, 64, 65000, 2000 };
	static uint8_t out[65507], in[70000];
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct rw_reactor_stats st[2];
	struct sockaddr_storage srv;
	socklen_t srvlen;
	unsigned got = 0, rounds = 200;
	int cl[4];

	base_cfg(f, &c, AF_INET, 2);
	c.handoff_slots = 64;	/* the smallest ring (4 of the largest records): large records wrap it often */
	f->handoff_mode = true;
	start_group(f, &c);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	for (unsigned i = 0; i < 4; i++)
		cl[i] = client_open(AF_INET);
	for (unsigned i = 0; i < rounds; i++) {
		size_t len = sz[i % 8];
		struct pollfd p = { .fd = cl[i % 4], .events = POLLIN };
		uint32_t seq = i;
		ssize_t n;

		memset(out, (int)(i & 0xff), len);
		memcpy(out, &seq, 4);
		assert_int_equal(sendto(cl[i % 4], out, len, 0, (struct sockaddr *)&srv, srvlen), (ssize_t)len);
		if (poll(&p, 1, 2000) != 1)
			continue;
		n = recv(cl[i % 4], in, sizeof(in), MSG_DONTWAIT);
		memcpy(&seq, in, 4);
		if (n == (ssize_t)len && seq == i && in[n - 1] == (uint8_t)(i & 0xff))
			got++;
	}
	for (unsigned i = 0; i < 4; i++)
		close(cl[i]);
	stop_join(f);
	rw__reactor_stats(rw__reactor_get(f->g, 0), &st[0]);
	rw__reactor_stats(rw__reactor_get(f->g, 1), &st[1]);
	assert_int_equal(got, rounds);
	assert_int_equal(st[0].handoffs_in + st[1].handoffs_in, rounds);
	assert_int_equal(st[0].handoff_full + st[1].handoff_full, 0);
	assert_int_equal(atomic_load(&f->misaligned), 0);
	assert_int_equal(atomic_load(&f->echo_fail), 0);
}

/* ---- (11) kernel drops: a tiny socket buffer and a slow reader --------------------- */

static void test_kernel_drops(void **state)
{
	struct fx *f = *state;
	struct rw_reactor_config c;
	struct rw_reactor_stats st;
	struct sockaddr_storage srv;
	socklen_t srvlen;
	uint8_t buf[1000];
	unsigned long deadline;
	int cl, rcv, snd;

	base_cfg(f, &c, AF_INET, 1);
	c.rcvbuf = 4096;
	f->record_mode = true;
	f->dgram_sleep_us = 2000;
	start_group(f, &c);
	rw__reactor_sockbufs(rw__reactor_get(f->g, 0), &rcv, &snd);
	assert_true(rcv > 0 && rcv < 64 * 1024);
	assert_int_equal(rw__reactor_local_addr(f->g, &srv, &srvlen), 0);
	cl = client_open(AF_INET);
	memset(buf, 0, sizeof(buf));
	for (unsigned i = 0; i < 500; i++)
		sendto(cl, buf, sizeof(buf), 0, (struct sockaddr *)&srv, srvlen);
	/* later datagrams carry the socket's drop count */
	deadline = now_ms() + 5000;
	do {
		sendto(cl, buf, sizeof(buf), 0, (struct sockaddr *)&srv, srvlen);
		usleep(5000);
		rw__reactor_stats(rw__reactor_get(f->g, 0), &st);
	} while (!st.rx_kernel_drops && now_ms() < deadline);
	print_message("rcvbuf %d: %llu dropped by the kernel, %llu received\n", rcv,
		      (unsigned long long)st.rx_kernel_drops, (unsigned long long)st.rx_packets);
	assert_true(st.rx_kernel_drops > 0);
	assert_true(st.rx_kernel_drops <= 500 + (now_ms() - deadline + 5000) / 5);
	close(cl);
	stop_join(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_echo_two_reactors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_send_modes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_compat_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_echo_batch_wait, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nobufs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_idle, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destroy_unstarted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gso_burst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gso_forced_off, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gso_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gso_zc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gro_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_datagrams, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handoff_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kernel_drops, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
