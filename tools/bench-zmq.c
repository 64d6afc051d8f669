/* SPDX-License-Identifier: MIT */
/*
 * bench-zmq - the ringwire-load workloads on ZeroMQ with CURVE encryption,
 * over tcp://127.0.0.1, for comparison (scripts/bench.sh). Not installed.
 *
 *   bench-zmq --mode oneway|echo|connect [--size B] [--duration S] [--json] ...
 *
 * Two processes, like ringwire-echo and ringwire-load: the program forks; the
 * child is the server (its own zmq context and I/O thread), the parent the
 * client (likewise). They share one anonymous mapping for the bound endpoint,
 * the receiver's "measured interval is over" flag and the server's results;
 * the data itself only goes through ZeroMQ. --server-cpu / --client-cpu pin
 * each process (every thread of it, the zmq I/O thread included) to a CPU.
 *
 *   oneway   PUSH -> PULL, --sessions PUSH sockets (one TCP connection each)
 *            sending --size byte messages as fast as ZeroMQ takes them. The
 *            receiver (server) counts: from its first message, --warmup
 *            seconds are not counted, then --duration seconds are; then it
 *            tells the sender to stop, and drains to an end marker per
 *            connection so that sent == received can be checked.
 *   echo     DEALER -> ROUTER (the ROUTER echoes every message), at most
 *            --window messages in flight, optionally paced to --rate
 *            messages/s on a fixed schedule of intended send times, as
 *            ringwire-load paces; bytes 0-7 carry the send time, 16-23 the
 *            intended one. --sessions N: the DEALER connects N times (N TCP
 *            connections, N CURVE handshakes, all done before the warm-up)
 *            and deals the messages round robin over them. The client
 *            measures round-trip latency (from the send, and when paced from
 *            the intended send time too) and echoes/s of the messages sent
 *            in --duration after --warmup.
 *   connect  again and again: a new CURVE DEALER socket, connect, one 64-byte
 *            request, its echo, close (linger 0); --window of them in flight.
 *            Handshake latency = zmq_connect() to the echo received, so it
 *            includes TCP connect, the CURVE handshake and one round trip.
 *            Runs for --sessions connections, or --duration if that is 0.
 *
 * Output: a summary and, with --json, one JSON line with the keys of
 * ringwire-load that apply (packets/s does not: TCP segments are not
 * counted); cpu_s is the client process, cpu_server_s the server process.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* CPU_SET, sched_setaffinity */
#endif
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "hgrm.h"

#define NS 1000000000ull
#define KEYLEN 41		/* Z85 key with its terminating NUL */

enum mode { M_ONEWAY, M_ECHO, M_CONNECT };
static const char *const mode_name[] = { "oneway", "echo", "connect" };

static struct {
	enum mode mode;
	size_t size;
	double duration, warmup, rate;
	unsigned sessions, window;
	int server_cpu, client_cpu;
	bool json, sessions_set;
	const char *histogram;	/* --histogram FILE: echo latency as .hgrm */
} o;

static char server_pub[KEYLEN], server_sec[KEYLEN], client_pub[KEYLEN], client_sec[KEYLEN];

/* Shared between the two processes (MAP_SHARED | MAP_ANONYMOUS, before fork). */
struct shared {
	_Atomic int ready;		/* server: bound, endpoint written */
	_Atomic int failed;		/* server: gave up, err written */
	_Atomic int stop;		/* oneway: the receiver's measured interval is over */
	char endpoint[256];
	char err[256];
	uint64_t meas_msgs, meas_bytes;	/* oneway: counted in the measured interval */
	uint64_t total_msgs, total_bytes;	/* oneway: all, warm-up and drain included */
	double interval_s;		/* oneway: measured interval, by the receiver's clock */
	double cpu_s;			/* server process, user + sys */
};

static pid_t server_pid;

static struct shared *sh;

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static double cpu_self_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of another process, seconds; -1 if unknown. */
static double proc_cpu_s(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* VmRSS of a process (0: this one), KiB; -1 if unknown. */
static long rss_kib(pid_t pid)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), pid ? "/proc/%d/status" : "/proc/self/status", (int)pid);
	if (!(f = fopen(path, "r")))
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * A connection is a file descriptor on each side: take the hard limit, and
 * say so plainly when it is not enough (the caller prints the line).
 */
static int raise_nofile(unsigned need, char *err, size_t errlen)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)need + 256 > rl.rlim_cur) {
		snprintf(err, errlen, "--sessions %u: ZeroMQ needs a file descriptor per connection, and the limit is "
			 "%llu (ulimit -Hn); use fewer sessions or raise the limit", need,
			 (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Before the zmq context exists: its I/O thread inherits the mask. */
	if (sched_setaffinity(0, sizeof(set), &set) < 0)
		fprintf(stderr, "bench-zmq: cannot pin to CPU %d: %s (running unpinned)\n", cpu, strerror(errno));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static int set_int(void *s, int opt, int v)
{
	return zmq_setsockopt(s, opt, &v, sizeof(v));
}

/* CURVE client side: the server's public key and our own pair. */
static int curve_client(void *s)
{
	if (zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_pub, KEYLEN) || zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, client_pub, KEYLEN) ||
	    zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, client_sec, KEYLEN))
		return -1;
	return 0;
}

/* ---- latency samples ---------------------------------------------------------- */

struct samples {
	uint64_t *v;
	size_t n, cap;
};

static void sample_add(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 65536;
		uint64_t *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return;	/* out of memory: the percentiles use fewer samples */
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank, in microseconds; the samples must be sorted. */
static double pct_us(const struct samples *s, double p)
{
	size_t i;

	if (!s->n)
		return 0;
	i = (size_t)(p / 100.0 * (double)s->n + 0.999999);
	i = i < 1 ? 1 : i > s->n ? s->n : i;
	return (double)s->v[i - 1] / 1000.0;
}

/* --histogram: sorted samples as .hgrm (tools/hgrm.c), one step per microsecond; 0 or -1. */
static int write_hgrm(const char *path, const struct samples *s)
{
	double *v = malloc((s->n + 1) * sizeof(*v));
	uint64_t *c = malloc((s->n + 1) * sizeof(*c)), last = UINT64_MAX;
	size_t k = 0;
	int ret = -ENOMEM;

	if (v && c) {
		for (size_t i = 0; i < s->n; i++) {
			uint64_t us = s->v[i] / 1000;

			if (k && us == last) {
				c[k - 1]++;
				continue;
			}
			last = us;
			v[k] = (double)us / 1000.0;
			c[k++] = 1;
		}
		ret = hgrm_write(path, v, c, k);
	}
	free(v);
	free(c);
	if (ret)
		fprintf(stderr, "bench-zmq: --histogram %s: %s\n", path, strerror(-ret));
	return ret ? -1 : 0;
}

/* ---- server (child process) -------------------------------------------------- */

static _Noreturn void server_fail(const char *what)
{
	snprintf(sh->err, sizeof(sh->err), "server: %s: %s", what, zmq_strerror(zmq_errno()));
	atomic_store(&sh->failed, 1);
	_exit(1);
}

/* PULL: count, measure from the first message, then drain to the end markers. */
static void serve_oneway(void *s)
{
	uint64_t t0 = 0, t_meas = 0, t_end = 0, now, meas_from = 0, meas_to = 0;
	uint64_t msgs = 0, bytes = 0, m_msgs = 0, m_bytes = 0;
	unsigned ends = 0, check = 0;
	int state = 0;		/* 0 before the first message, 1 warm-up, 2 measuring, 3 draining */
	zmq_msg_t m;

	zmq_msg_init(&m);
	while (ends < o.sessions) {
		int n = zmq_msg_recv(&m, s, 0);

		if (n < 0) {
			if (zmq_errno() == EAGAIN || zmq_errno() == EINTR)
				continue;	/* RCVTIMEO: the parent-death signal ends us if needed */
			server_fail("zmq_msg_recv");
		}
		if (n == 0) {
			ends++;
			continue;
		}
		msgs++;
		bytes += (uint64_t)n;
		if (state == 2) {
			m_msgs++;
			m_bytes += (uint64_t)n;
		}
		/* The clock every 16 messages (and at each of the first): at most 16 misplaced. */
		if (state < 3 && (state == 0 || ++check % 16 == 0)) {
			now = now_ns();
			if (state == 0) {
				t0 = now;
				t_meas = t0 + (uint64_t)(o.warmup * 1e9);
				state = 1;
			}
			if (state == 1 && now >= t_meas) {
				meas_from = now;
				t_end = now + (uint64_t)(o.duration * 1e9);
				state = 2;
			} else if (state == 2 && now >= t_end) {
				meas_to = now;
				state = 3;
				atomic_store(&sh->stop, 1);
			}
		}
	}
	zmq_msg_close(&m);
	if (state != 3) {
		snprintf(sh->err, sizeof(sh->err), "server: the sender ended before the measured interval did");
		atomic_store(&sh->failed, 1);
	}
	sh->meas_msgs = m_msgs;
	sh->meas_bytes = m_bytes;
	sh->total_msgs = msgs;
	sh->total_bytes = bytes;
	sh->interval_s = (double)(meas_to - meas_from) / 1e9;
}

/* ROUTER: every [identity, payload] goes back as is; an empty payload ends it. */
static void serve_echo(void *s)
{
	zmq_msg_t id, m;

	zmq_msg_init(&id);
	zmq_msg_init(&m);
	for (;;) {
		int n = zmq_msg_recv(&id, s, 0);

		if (n < 0) {
			if (zmq_errno() == EAGAIN || zmq_errno() == EINTR)
				continue;
			server_fail("zmq_msg_recv");
		}
		if (!zmq_msg_more(&id))
			continue;	/* cannot happen on a ROUTER */
		if ((n = zmq_msg_recv(&m, s, 0)) < 0)
			server_fail("zmq_msg_recv");
		if (n == 0)
			break;
		/* The peer may have gone (connect mode closes with linger 0): the ROUTER drops it. */
		if (zmq_msg_send(&id, s, ZMQ_SNDMORE) < 0 || zmq_msg_send(&m, s, 0) < 0)
			server_fail("zmq_msg_send");
	}
	zmq_msg_close(&id);
	zmq_msg_close(&m);
}

static _Noreturn void server_main(void)
{
	void *ctx, *s;
	size_t len = sizeof(sh->endpoint);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	pin(o.server_cpu);
	ctx = zmq_ctx_new();
	if (!ctx)
		server_fail("zmq_ctx_new");
	s = zmq_socket(ctx, o.mode == M_ONEWAY ? ZMQ_PULL : ZMQ_ROUTER);
	if (!s)
		server_fail("zmq_socket");
	if (set_int(s, ZMQ_CURVE_SERVER, 1) || zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, server_sec, KEYLEN))
		server_fail("CURVE server options");
	if (set_int(s, ZMQ_RCVTIMEO, 200) || set_int(s, ZMQ_LINGER, 0) || set_int(s, ZMQ_BACKLOG, 4096) ||
	    set_int(s, ZMQ_SNDHWM, 0) || set_int(s, ZMQ_RCVHWM, 0))
		server_fail("socket options");
	if (zmq_bind(s, "tcp://127.0.0.1:*"))
		server_fail("zmq_bind tcp://127.0.0.1:*");
	if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, sh->endpoint, &len))
		server_fail("ZMQ_LAST_ENDPOINT");
	atomic_store(&sh->ready, 1);
	if (o.mode == M_ONEWAY)
		serve_oneway(s);
	else
		serve_echo(s);
	zmq_close(s);
	zmq_ctx_term(ctx);
	sh->cpu_s = cpu_self_s();
	_exit(atomic_load(&sh->failed) ? 1 : 0);
}

/* ---- client (parent process) -------------------------------------------------- */

struct result {
	double events_per_s, gbit_s, interval_s;
	uint64_t sent, received, meas;
	struct samples lat;		/* echo: round trips; connect: connect-to-echo */
	struct samples lat_int;		/* paced echo: from the intended send time */
	double dial_s, cpu_meas, srv_cpu_meas;
	long rss_before, rss_up, srv_rss_before, srv_rss_up;
	double hs_per_s;
	uint64_t hs_failed;
	const char *error;
};

static void *ctx;
static char errbuf[512];

static const char *zerr(const char *what)
{
	snprintf(errbuf, sizeof(errbuf), "%s: %s", what, zmq_strerror(zmq_errno()));
	return errbuf;
}

static void *client_socket(int type, const char **err)
{
	void *s = zmq_socket(ctx, type);

	if (!s) {
		*err = zerr("zmq_socket");
		return NULL;
	}
	if (curve_client(s)) {
		*err = zerr("CURVE client options");
		zmq_close(s);
		return NULL;
	}
	if (zmq_connect(s, sh->endpoint)) {
		*err = zerr("zmq_connect");
		zmq_close(s);
		return NULL;
	}
	return s;
}

static void run_oneway(struct result *r)
{
	void **socks = calloc(o.sessions, sizeof(*socks));
	zmq_pollitem_t *items = calloc(o.sessions, sizeof(*items));
	uint8_t *buf = malloc(o.size ? o.size : 1);
	uint64_t sent = 0;
	unsigned i;

	if (!socks || !items || !buf) {
		r->error = "out of memory";
		goto out;
	}
	memset(buf, 0xa5, o.size);
	for (i = 0; i < o.sessions; i++) {
		if (!(socks[i] = client_socket(ZMQ_PUSH, &r->error)))
			goto out;
		set_int(socks[i], ZMQ_LINGER, 5000);
		items[i].socket = socks[i];
		items[i].events = ZMQ_POLLOUT;
	}
	if (o.sessions == 1) {
		/* One connection: blocking sends, bounded so a dead receiver cannot hang us. */
		set_int(socks[0], ZMQ_SNDTIMEO, 100);
		while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
			if (zmq_send(socks[0], buf, o.size, 0) >= 0)
				sent++;
			else if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
				r->error = zerr("zmq_send");
				goto out;
			} else if (atomic_load(&sh->failed) || waitpid(-1, NULL, WNOHANG) > 0) {
				r->error = "the server went away";
				goto out;
			}
		}
	} else {
		/* Round robin over the connections that take a message now; poll when none does. */
		while (!atomic_load_explicit(&sh->stop, memory_order_relaxed)) {
			bool any = false;

			for (i = 0; i < o.sessions; i++) {
				if (zmq_send(socks[i], buf, o.size, ZMQ_DONTWAIT) >= 0) {
					sent++;
					any = true;
				} else if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
					r->error = zerr("zmq_send");
					goto out;
				}
			}
			if (!any && zmq_poll(items, (int)o.sessions, 100) == 0 &&
			    (atomic_load(&sh->failed) || waitpid(-1, NULL, WNOHANG) > 0)) {
				r->error = "the server went away";
				goto out;
			}
		}
	}
	for (i = 0; i < o.sessions; i++) {
		set_int(socks[i], ZMQ_SNDTIMEO, 5000);
		if (zmq_send(socks[i], "", 0, 0) < 0) {
			r->error = zerr("zmq_send (end marker)");
			goto out;
		}
	}
	r->sent = sent;
out:
	for (i = 0; socks && i < o.sessions; i++)
		if (socks[i]) {
			if (r->error)
				set_int(socks[i], ZMQ_LINGER, 0);
			zmq_close(socks[i]);
		}
	free(socks);
	free(items);
	free(buf);
}

/* One echo: count it, and time it if it was sent in the measured interval. */
static int echo_got(struct result *r, zmq_msg_t *m, uint64_t t_meas, uint64_t t_end)
{
	uint64_t ts;

	if (zmq_msg_size(m) != o.size) {
		r->error = "an echo of the wrong size";
		return -1;
	}
	ts = get_le64(zmq_msg_data(m));
	r->received++;
	if (ts >= t_meas && ts < t_end) {
		uint64_t now = now_ns();

		r->meas++;
		sample_add(&r->lat, now - ts);
		if (o.rate > 0 && o.size >= 24) {
			uint64_t due = get_le64((const uint8_t *)zmq_msg_data(m) + 16);

			sample_add(&r->lat_int, now > due ? now - due : 0);
		}
	}
	return 0;
}

/*
 * Several connections: libzmq connects a DEALER to an endpoint only once, so
 * the client is a ROUTER that names each connection (ZMQ_CONNECT_ROUTING_ID,
 * "c" and the index) and addresses messages to them in turn; one
 * connection keeps the plain DEALER.
 */
static bool multi;
static unsigned next_conn;

static int msg_send(void *s, const uint8_t *buf, int flags)
{
	if (multi) {
		uint8_t id[5];

		id[0] = 'c';
		id[1] = (uint8_t)next_conn;
		id[2] = (uint8_t)(next_conn >> 8);
		id[3] = (uint8_t)(next_conn >> 16);
		id[4] = (uint8_t)(next_conn >> 24);
		if (zmq_send(s, id, sizeof(id), flags | ZMQ_SNDMORE) < 0)
			return -1;
		next_conn = next_conn + 1 < o.sessions ? next_conn + 1 : 0;
	}
	return zmq_send(s, buf, o.size, flags);
}

/* The payload of the next message into m (a ROUTER's identity frame skipped). */
static int msg_recv(void *s, zmq_msg_t *m, int flags)
{
	int n = zmq_msg_recv(m, s, flags);

	if (n >= 0 && multi && zmq_msg_more(m))
		n = zmq_msg_recv(m, s, 0);
	return n;
}

/*
 * --sessions N: connect N times and wait until every
 * connection has finished its CURVE handshake (a socket monitor counts
 * them), so that, as in ringwire-load, only what is up is measured.
 */
static int connect_all(void *s, struct result *r)
{
	void *mon;
	unsigned up = 0;
	uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)(60 + o.sessions / 200) * NS;
	zmq_msg_t ev;

	r->rss_before = rss_kib(0);
	r->srv_rss_before = rss_kib(server_pid);
	if (zmq_socket_monitor(s, "inproc://bench-zmq-mon", ZMQ_EVENT_HANDSHAKE_SUCCEEDED) ||
	    !(mon = zmq_socket(ctx, ZMQ_PAIR)) || zmq_connect(mon, "inproc://bench-zmq-mon")) {
		r->error = zerr("zmq_socket_monitor");
		return -1;
	}
	set_int(mon, ZMQ_RCVTIMEO, 100);
	for (unsigned i = 0; i < o.sessions; i++) {
		uint8_t id[5] = { 'c', (uint8_t)i, (uint8_t)(i >> 8), (uint8_t)(i >> 16), (uint8_t)(i >> 24) };

		if (multi && zmq_setsockopt(s, ZMQ_CONNECT_ROUTING_ID, id, sizeof(id))) {
			r->error = zerr("ZMQ_CONNECT_ROUTING_ID");
			zmq_close(mon);
			return -1;
		}
		if (zmq_connect(s, sh->endpoint)) {
			r->error = zerr("zmq_connect");
			zmq_close(mon);
			return -1;
		}
	}
	zmq_msg_init(&ev);
	while (up < o.sessions && now_ns() < deadline) {
		if (zmq_msg_recv(&ev, mon, 0) < 0)
			continue;
		/* frame 1: u16 event, u32 value; frame 2: the endpoint */
		if (zmq_msg_size(&ev) >= 2 && *(const uint16_t *)zmq_msg_data(&ev) == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
			up++;
		while (zmq_msg_more(&ev) && zmq_msg_recv(&ev, mon, 0) >= 0)
			;
	}
	zmq_msg_close(&ev);
	zmq_socket_monitor(s, NULL, 0);
	zmq_close(mon);
	r->dial_s = (double)(now_ns() - t0) / 1e9;
	r->rss_up = rss_kib(0);
	r->srv_rss_up = rss_kib(server_pid);
	if (up < o.sessions) {
		snprintf(errbuf, sizeof(errbuf), "only %u of %u connections finished their handshake in %.0f s", up,
			 o.sessions, r->dial_s);
		r->error = errbuf;
		return -1;
	}
	return 0;
}

/*
 * Paced like ringwire-load: a fixed schedule of intended send times at
 * --rate, sends due by now go out on each 1 ms step and whenever echoes
 * arrive; an event that leaves late keeps its intended time (wrk2's
 * coordinated-omission correction). Unpaced: the window refills as echoes
 * arrive.
 */
static void run_echo(struct result *r)
{
	void *s;
	uint8_t *buf = calloc(1, o.size);
	uint64_t inflight = 0, seq = 0, t0, t_meas, t_end, t_drain, now;
	bool paced = o.rate > 0, cpu_started = false;
	double next_due = 0, period = paced ? 1e9 / o.rate : 0, cpu0 = 0, scpu0 = 0;
	int n;
	zmq_msg_t m;

	if (!buf) {
		r->error = "out of memory";
		return;
	}
	multi = o.sessions > 1;
	s = zmq_socket(ctx, multi ? ZMQ_ROUTER : ZMQ_DEALER);
	if (!s || curve_client(s)) {
		r->error = zerr("DEALER socket");
		free(buf);
		if (s)
			zmq_close(s);
		return;
	}
	set_int(s, ZMQ_LINGER, 1000);
	set_int(s, ZMQ_RCVTIMEO, 100);
	set_int(s, ZMQ_SNDHWM, 0);
	set_int(s, ZMQ_RCVHWM, 0);
	zmq_msg_init(&m);
	if (connect_all(s, r))
		goto out;
	/* Wait for the connection (handshake included) with one round trip first. */
	put_le64(buf, 0);
	put_le64(buf + 8, 0);
	if (multi)
		set_int(s, ZMQ_ROUTER_MANDATORY, 1);	/* a connection that is not there is an error, not a drop */
	if (msg_send(s, buf, 0) < 0) {
		r->error = zerr("zmq_send");
		goto out;
	}
	for (int tries = 0; msg_recv(s, &m, 0) < 0; tries++)
		if ((zmq_errno() != EAGAIN && zmq_errno() != EINTR) || tries > 50) {
			r->error = zerr("first echo");
			goto out;
		}
	t0 = now_ns();
	next_due = (double)t0;
	t_meas = t0 + (uint64_t)(o.warmup * 1e9);
	t_end = t_meas + (uint64_t)(o.duration * 1e9);
	t_drain = t_end + 2 * NS;
	for (;;) {
		bool got = false;

		now = now_ns();
		if (now >= t_drain || (now >= t_end && !inflight))
			break;
		if (!cpu_started && now >= t_meas) {
			cpu_started = true;
			cpu0 = cpu_self_s();
			scpu0 = proc_cpu_s(server_pid);
		}
		if (cpu_started && now >= t_end && !r->cpu_meas) {
			r->cpu_meas = cpu_self_s() - cpu0;
			r->srv_cpu_meas = proc_cpu_s(server_pid) - scpu0;
		}
		/* Send what the window and the schedule allow. */
		while (now < t_end && inflight < o.window && (!paced || next_due <= (double)now)) {
			put_le64(buf, now_ns());
			put_le64(buf + 8, ++seq);
			if (o.size >= 24)
				put_le64(buf + 16, paced ? (uint64_t)next_due : now);
			if (msg_send(s, buf, ZMQ_DONTWAIT) < 0) {
				if (zmq_errno() == EAGAIN || zmq_errno() == EINTR)
					break;
				r->error = zerr("zmq_send");
				goto out;
			}
			r->sent++;
			inflight++;
			next_due += period;
		}
		/* Take every echo that is there. */
		while ((n = msg_recv(s, &m, ZMQ_DONTWAIT)) >= 0) {
			if (echo_got(r, &m, t_meas, t_end))
				goto out;
			inflight--;
			got = true;
		}
		if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
			r->error = zerr("zmq_msg_recv");
			goto out;
		}
		if (got)
			continue;
		if (!paced) {
			/* The window is full (or sending is over): block for the next echo. */
			if (msg_recv(s, &m, 0) >= 0) {
				if (echo_got(r, &m, t_meas, t_end))
					goto out;
				inflight--;
			} else if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
				r->error = zerr("zmq_msg_recv");
				goto out;
			}
			continue;
		}
		/* Paced: sleep until an echo comes or the next tick (zmq_poll has 1 ms steps). */
		{
			zmq_pollitem_t it = { .socket = s, .events = ZMQ_POLLIN };

			now = now_ns();
			if (zmq_poll(&it, 1, now >= t_end || inflight >= o.window ? 100 : 1) < 0 && zmq_errno() != EINTR) {
				r->error = zerr("zmq_poll");
				goto out;
			}
		}
	}
	if (cpu_started && !r->cpu_meas) {
		r->cpu_meas = cpu_self_s() - cpu0;
		r->srv_cpu_meas = proc_cpu_s(server_pid) - scpu0;
	}
	r->interval_s = o.duration;
	r->events_per_s = (double)r->meas / o.duration;
	r->gbit_s = (double)r->meas * (double)o.size * 8 / o.duration / 1e9;
out:
	zmq_msg_close(&m);
	/* End the server: an empty message. */
	set_int(s, ZMQ_SNDTIMEO, 1000);
	if (multi)
		zmq_send(s, "c\0\0\0\0", 5, ZMQ_SNDMORE);	/* by connection 0 */
	zmq_send(s, "", 0, 0);
	zmq_close(s);
	free(buf);
}

struct conn {
	void *s;
	uint64_t t;
};

static void run_connect(struct result *r)
{
	unsigned w = o.window, live = 0, i, k;
	struct conn *c = calloc(w, sizeof(*c));
	zmq_pollitem_t *items = calloc(w, sizeof(*items));
	unsigned *slot = calloc(w, sizeof(*slot));
	uint8_t req[64];
	uint64_t t0, t_end, done = 0, started = 0, target = o.sessions_set ? o.sessions : 0;
	zmq_msg_t m;

	if (!c || !items || !slot) {
		r->error = "out of memory";
		free(c);
		free(items);
		free(slot);
		return;
	}
	memset(req, 0x5a, sizeof(req));
	zmq_msg_init(&m);
	t0 = now_ns();
	t_end = t0 + (uint64_t)(o.duration * 1e9);
	for (;;) {
		uint64_t now = now_ns();
		bool more = target ? started < target && now < t_end : now < t_end;
		int n;

		for (i = 0; i < w && more; i++) {
			if (c[i].s)
				continue;
			c[i].t = now_ns();
			if (!(c[i].s = client_socket(ZMQ_DEALER, &r->error)))
				goto out;
			set_int(c[i].s, ZMQ_LINGER, 0);
			/* A DEALER queues the request on its pipe until the handshake is done. */
			if (zmq_send(c[i].s, req, sizeof(req), ZMQ_DONTWAIT) < 0) {
				r->error = zerr("zmq_send");
				goto out;
			}
			live++;
			started++;
			more = target ? started < target : now < t_end;
		}
		if (!live)
			break;
		for (i = 0, k = 0; i < w; i++)
			if (c[i].s) {
				items[k].socket = c[i].s;
				items[k].fd = -1;
				items[k].events = ZMQ_POLLIN;
				items[k].revents = 0;
				slot[k++] = i;
			}
		n = zmq_poll(items, (int)k, 1000);
		if (n < 0) {
			if (zmq_errno() == EINTR)
				continue;
			r->error = zerr("zmq_poll");
			goto out;
		}
		if (n == 0 && now_ns() > t_end + 5 * NS) {
			r->hs_failed = live;
			break;
		}
		for (unsigned j = 0; j < k; j++) {
			if (!(items[j].revents & ZMQ_POLLIN))
				continue;
			i = slot[j];
			if (zmq_msg_recv(&m, c[i].s, ZMQ_DONTWAIT) != (int)sizeof(req))
				continue;
			sample_add(&r->lat, now_ns() - c[i].t);
			zmq_close(c[i].s);
			c[i].s = NULL;
			live--;
			done++;
		}
	}
	r->interval_s = (double)(now_ns() - t0) / 1e9;
	r->sent = started;
	r->received = done;
	r->hs_per_s = (double)done / r->interval_s;
out:
	for (i = 0; i < w; i++)
		if (c[i].s)
			zmq_close(c[i].s);
	zmq_msg_close(&m);
	free(c);
	free(items);
	free(slot);
	{
		/* End the server: one more connection with an empty message. */
		const char *err = NULL;
		void *s = client_socket(ZMQ_DEALER, &err);

		if (s) {
			set_int(s, ZMQ_LINGER, 1000);
			zmq_send(s, "", 0, 0);
			zmq_close(s);
		}
	}
}

/* ---- output -------------------------------------------------------------------- */

static void json_num(const char *key, double v, bool valid, bool comma)
{
	if (valid)
		printf("\"%s\":%.3f%s", key, v, comma ? "," : "");
	else
		printf("\"%s\":null%s", key, comma ? "," : "");
}

static void report(struct result *r, double cpu_client)
{
	bool lat = o.mode == M_ECHO && r->lat.n, hs = o.mode == M_CONNECT && r->lat.n;
	bool lat_int = o.mode == M_ECHO && r->lat_int.n, echo = o.mode == M_ECHO;
	double up = o.sessions;
	bool rss = echo && r->rss_before > 0 && r->rss_up > 0, srss = echo && r->srv_rss_before > 0 && r->srv_rss_up > 0;
	uint64_t lost = r->sent > r->received ? r->sent - r->received : 0;

	if (r->lat.n)
		qsort(r->lat.v, r->lat.n, sizeof(*r->lat.v), cmp_u64);
	if (r->lat_int.n)
		qsort(r->lat_int.v, r->lat_int.n, sizeof(*r->lat_int.v), cmp_u64);
	printf("bench-zmq: %s over %s, CURVE on, server CPU %d, client CPU %d (-1: not pinned)\n", mode_name[o.mode],
	       sh->endpoint, o.server_cpu, o.client_cpu);
	if (o.mode == M_ONEWAY) {
		printf("  %-18s%u PUSH -> PULL, %zu bytes\n", "connections", o.sessions, o.size);
		printf("  %-18s%.2f s (after %.2f s warm-up), counted by the receiver\n", "measured", r->interval_s,
		       o.warmup);
	} else if (o.mode == M_ECHO) {
		printf("  %-18sDEALER -> ROUTER, %zu bytes, window %u", "echo", o.size, o.window);
		if (o.rate > 0)
			printf(", target %.0f/s", o.rate);
		printf("\n  %-18s%.2f s (after %.2f s warm-up)\n", "measured", r->interval_s, o.warmup);
	}
	if (o.mode != M_CONNECT) {
		printf("  %-18s%.0f\n", "events/s", r->events_per_s);
		printf("  %-18s%.3f Gbit/s\n", "payload", r->gbit_s);
		printf("  %-18s%" PRIu64 "\n", "sent", r->sent);
		printf("  %-18s%" PRIu64 "%s\n", "received", r->received,
		       o.mode == M_ONEWAY ? " (all, warm-up and drain included)" : "");
		printf("  %-18s%" PRIu64 "\n", "lost", lost);
	}
	if (lat)
		printf("  %-18sp50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (send to echo)\n", "latency (us)",
		       pct_us(&r->lat, 50), pct_us(&r->lat, 90), pct_us(&r->lat, 99), pct_us(&r->lat, 99.9),
		       pct_us(&r->lat, 100));
	if (lat_int)
		printf("  %-18sp50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f  (intended send time to echo)\n",
		       "latency (us)", pct_us(&r->lat_int, 50), pct_us(&r->lat_int, 90), pct_us(&r->lat_int, 99),
		       pct_us(&r->lat_int, 99.9), pct_us(&r->lat_int, 100));
	if (o.mode == M_ECHO)
		printf("  %-18s%u connection%s up in %.2f s; %.2f s client, %.2f s server CPU in the measured interval\n",
		       "sessions", o.sessions, o.sessions == 1 ? "" : "s", r->dial_s, r->cpu_meas, r->srv_cpu_meas);
	if (o.mode == M_CONNECT)
		printf("  %-18s%" PRIu64 " in %.3f s: %.0f/s, %u at a time; connect-to-echo latency (us) p50 %.1f  p99 %.1f  "
		       "max %.1f; %" PRIu64 " unanswered\n",
		       "connections", r->received, r->interval_s, r->hs_per_s, o.window, pct_us(&r->lat, 50),
		       pct_us(&r->lat, 99), pct_us(&r->lat, 100), r->hs_failed);
	printf("  %-18s%.2f s client, %.2f s server (user+sys, whole run)\n", "cpu", cpu_client, sh->cpu_s);
	if (!o.json)
		return;
	printf("{\"tool\":\"bench-zmq\",\"mode\":\"%s\",\"sessions\":%u,\"size\":%zu,\"window\":%u,\"rate_target\":%.0f,"
	       "\"duration_s\":%.3f,\"warmup_s\":%.3f,",
	       mode_name[o.mode], o.mode == M_ECHO ? o.sessions : o.mode == M_CONNECT ? (unsigned)r->sent : o.sessions, o.size, o.window, o.rate, r->interval_s,
	       o.mode == M_CONNECT ? 0 : o.warmup);
	json_num("events_per_s", r->events_per_s, o.mode != M_CONNECT, true);
	json_num("payload_gbit_s", r->gbit_s, o.mode != M_CONNECT, true);
	json_num("packets_per_s", 0, false, true);
	printf("\"sent\":%" PRIu64 ",\"received\":%" PRIu64 ",\"lost\":%" PRIu64 ",", r->sent, r->received, lost);
	if (o.mode == M_ECHO)
		printf("\"duplicates\":0,");
	else
		printf("\"duplicates\":null,");
	printf("\"latency_us\":{");
	json_num("p50", pct_us(&r->lat, 50), lat, true);
	json_num("p90", pct_us(&r->lat, 90), lat, true);
	json_num("p99", pct_us(&r->lat, 99), lat, true);
	json_num("p999", pct_us(&r->lat, 99.9), lat, true);
	json_num("max", pct_us(&r->lat, 100), lat, false);
	printf("},\"latency_intended_us\":{");
	json_num("p50", pct_us(&r->lat_int, 50), lat_int, true);
	json_num("p90", pct_us(&r->lat_int, 90), lat_int, true);
	json_num("p99", pct_us(&r->lat_int, 99), lat_int, true);
	json_num("p999", pct_us(&r->lat_int, 99.9), lat_int, true);
	json_num("max", pct_us(&r->lat_int, 100), lat_int, false);
	printf("},\"latency_kinds\":{\"latency_us\":\"send to echo\",\"latency_intended_us\":"
	       "\"intended send time to echo (paced echo runs; coordinated omission corrected)\"},");
	if (echo)
		printf("\"sessions_up\":%u,\"dial_s\":%.3f,", o.sessions, r->dial_s);
	json_num("rss_kib_per_session", (double)(r->rss_up - r->rss_before) / up, rss, true);
	json_num("server_rss_kib_per_session", (double)(r->srv_rss_up - r->srv_rss_before) / up, srss, true);
	json_num("cpu_measured_s", r->cpu_meas, echo, true);
	json_num("server_cpu_measured_s", r->srv_cpu_meas, echo, true);
	json_num("handshakes_per_s", r->hs_per_s, hs, true);
	printf("\"handshake_latency_us\":{");
	json_num("p50", pct_us(&r->lat, 50), hs, true);
	json_num("p99", pct_us(&r->lat, 99), hs, true);
	json_num("max", pct_us(&r->lat, 100), hs, false);
	printf("},\"dials_failed\":%" PRIu64 ",", r->hs_failed);
	json_num("cpu_s", cpu_client, true, true);
	json_num("cpu_server_s", sh->cpu_s, true, false);
	printf("}\n");
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench-zmq --mode oneway|echo|connect [options]\n"
		"\n"
		"The ringwire-load workloads on ZeroMQ %d.%d.%d with CURVE, over tcp://127.0.0.1,\n"
		"server and client in two processes (fork).\n"
		"\n"
		"  --mode M          oneway: PUSH -> PULL, counted by the receiver;\n"
		"                    echo: DEALER -> ROUTER round trips, latency;\n"
		"                    connect: new CURVE connection + one request/echo + close\n"
		"  --size B          message payload bytes (default 64; echo: 16 or more;\n"
		"                    connect: always 64)\n"
		"  --duration S      measured seconds (default 5; connect: the bound)\n"
		"  --warmup S        seconds not counted before it (default 1)\n"
		"  --sessions N      oneway: PUSH connections (default 1); echo: connections of\n"
		"                    the DEALER, all up before the warm-up (default 1); connect:\n"
		"                    how many connections to make (default: as many as fit in\n"
		"                    --duration). A connection is a file descriptor on each side:\n"
		"                    the limit is raised to the hard one (ulimit -Hn)\n"
		"  --window N        echo: messages in flight (default 1); connect: connections\n"
		"                    in progress at once (default 1)\n"
		"  --rate R          echo: messages per second, 0 = unlimited (default 0)\n"
		"  --server-cpu N    pin the server process (its zmq I/O thread too) to CPU N\n"
		"  --client-cpu N    pin the client process likewise\n"
		"  --json            also print one JSON line (the last line)\n"
		"  --histogram FILE  echo: the latency distribution as HdrHistogram's .hgrm text\n"
		"                    (ms, per microsecond; with --rate also FILE.intended)\n"
		"\n"
		"exit status: 0 ok, 1 the run failed, 2 bad flags\n",
		ZMQ_VERSION_MAJOR, ZMQ_VERSION_MINOR, ZMQ_VERSION_PATCH);
}

static double num(const char *flag, const char *s, double lo, double hi)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end || errno || v < lo || v > hi) {
		fprintf(stderr, "bench-zmq: %s: \"%s\" is not a number from %.10g to %.10g\n", flag, s, lo, hi);
		exit(2);
	}
	return v;
}

static void parse_args(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mode", required_argument, NULL, 'm' },     { "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'd' }, { "warmup", required_argument, NULL, 'w' },
		{ "sessions", required_argument, NULL, 'n' }, { "window", required_argument, NULL, 'W' },
		{ "rate", required_argument, NULL, 'r' },     { "server-cpu", required_argument, NULL, 'S' },
		{ "client-cpu", required_argument, NULL, 'C' }, { "json", no_argument, NULL, 'j' },
		{ "histogram", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },	      { NULL, 0, NULL, 0 },
	};
	bool mode_set = false;
	int c;

	o.size = 64;
	o.duration = 5;
	o.warmup = 1;
	o.sessions = 1;
	o.window = 1;
	o.server_cpu = o.client_cpu = -1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (!strcmp(optarg, "oneway"))
				o.mode = M_ONEWAY;
			else if (!strcmp(optarg, "echo"))
				o.mode = M_ECHO;
			else if (!strcmp(optarg, "connect"))
				o.mode = M_CONNECT;
			else {
				fprintf(stderr, "bench-zmq: --mode: \"%s\" is not oneway, echo or connect\n", optarg);
				exit(2);
			}
			mode_set = true;
			break;
		case 's':
			o.size = (size_t)num("--size", optarg, 1, 64 << 20);
			break;
		case 'd':
			o.duration = num("--duration", optarg, 0.01, 86400);
			break;
		case 'w':
			o.warmup = num("--warmup", optarg, 0, 3600);
			break;
		case 'n':
			o.sessions = (unsigned)num("--sessions", optarg, 1, 1000000);
			o.sessions_set = true;
			break;
		case 'W':
			o.window = (unsigned)num("--window", optarg, 1, 65536);
			break;
		case 'H':
			o.histogram = optarg;
			break;
		case 'r':
			o.rate = num("--rate", optarg, 0, 1e9);
			break;
		case 'S':
			o.server_cpu = (int)num("--server-cpu", optarg, 0, CPU_SETSIZE - 1);
			break;
		case 'C':
			o.client_cpu = (int)num("--client-cpu", optarg, 0, CPU_SETSIZE - 1);
			break;
		case 'j':
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench-zmq: unexpected argument \"%s\"; see --help\n", argv[optind]);
		exit(2);
	}
	if (!mode_set) {
		fprintf(stderr, "bench-zmq: missing --mode oneway|echo|connect; see --help\n");
		exit(2);
	}
	if (o.mode == M_ECHO && o.size < 16) {
		fprintf(stderr, "bench-zmq: --size: echo messages carry a 16-byte header; use 16 or more\n");
		exit(2);
	}
	if (o.mode == M_ONEWAY && o.sessions > 1024) {
		fprintf(stderr, "bench-zmq: --sessions: at most 1024 connections in oneway mode\n");
		exit(2);
	}
	if (o.mode == M_CONNECT)
		o.size = 64;
}

int main(int argc, char **argv)
{
	struct result r;
	pid_t pid;
	int status, ret = 0;
	uint64_t deadline;
	double cpu;

	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	if (o.mode != M_CONNECT && raise_nofile(o.sessions, errbuf, sizeof(errbuf))) {
		fprintf(stderr, "bench-zmq: %s\n", errbuf);
		return 1;
	}
	if (!zmq_has("curve")) {
		fprintf(stderr, "bench-zmq: this libzmq has no CURVE support\n");
		return 1;
	}
	if (zmq_curve_keypair(server_pub, server_sec) || zmq_curve_keypair(client_pub, client_sec)) {
		fprintf(stderr, "bench-zmq: zmq_curve_keypair: %s\n", zmq_strerror(zmq_errno()));
		return 1;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		perror("bench-zmq: mmap");
		return 1;
	}
	memset(sh, 0, sizeof(*sh));
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("bench-zmq: fork");
		return 1;
	}
	if (pid == 0)
		server_main();
	server_pid = pid;

	/* No zmq context before the fork: ZeroMQ is not fork-safe. */
	deadline = now_ns() + 5 * NS;
	while (!atomic_load(&sh->ready) && !atomic_load(&sh->failed) && now_ns() < deadline)
		usleep(1000);
	if (!atomic_load(&sh->ready)) {
		fprintf(stderr, "bench-zmq: %s\n", atomic_load(&sh->failed) ? sh->err : "the server did not start");
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	pin(o.client_cpu);
	memset(&r, 0, sizeof(r));
	ctx = zmq_ctx_new();
	if (!ctx) {
		fprintf(stderr, "bench-zmq: zmq_ctx_new: %s\n", zmq_strerror(zmq_errno()));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return 1;
	}
	if (o.mode == M_ONEWAY)
		run_oneway(&r);
	else if (o.mode == M_ECHO)
		run_echo(&r);
	else
		run_connect(&r);
	if (r.error)
		kill(pid, SIGKILL);
	/* The server ends on the end marker(s); do not wait for ever. */
	deadline = now_ns() + 10 * NS;
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			if (!r.error)
				r.error = "the server did not finish";
			break;
		}
		usleep(1000);
	}
	zmq_ctx_term(ctx);
	cpu = cpu_self_s();
	if (!r.error && (!WIFEXITED(status) || WEXITSTATUS(status)))
		r.error = atomic_load(&sh->failed) ? sh->err : "the server failed";
	if (!r.error && o.mode == M_ONEWAY) {
		r.received = sh->total_msgs;
		r.meas = sh->meas_msgs;
		r.interval_s = sh->interval_s;
		r.events_per_s = (double)sh->meas_msgs / sh->interval_s;
		r.gbit_s = (double)sh->meas_bytes * 8 / sh->interval_s / 1e9;
	}
	if (!r.error && o.mode == M_CONNECT && !r.received)
		r.error = "no connection completed";
	if (!r.error && o.mode == M_ECHO && !r.meas)
		r.error = "no echo in the measured interval";
	if (r.error) {
		fprintf(stderr, "bench-zmq: %s\n", r.error);
		ret = 1;
	} else {
		report(&r, cpu);	/* sorts the samples */
		if (o.histogram && o.mode == M_ECHO) {
			char path[4096];

			snprintf(path, sizeof(path), "%s.intended", o.histogram);
			if (write_hgrm(o.histogram, &r.lat) || (r.lat_int.n && write_hgrm(path, &r.lat_int)))
				ret = 1;
		}
	}
	free(r.lat.v);
	free(r.lat_int.v);
	munmap(sh, sizeof(*sh));
	return ret;
}
