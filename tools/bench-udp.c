/* SPDX-License-Identifier: MIT */
/*
 * bench-udp - the raw UDP ceiling over 127.0.0.1, with no crypto: one reactor
 * sends as fast as its send buffers come back, another receives and counts.
 * The numbers the encrypted engine is later compared against.
 *
 *   bench-udp [--size 64|1232|N] [--seconds S] [--mode auto|plain|zc|msg]
 *
 * Sender and receiver are each a one-reactor group, pinned to different CPUs
 * when there are two. The sender refills every free send buffer at the end of
 * each batch, so it keeps up to --inflight sends queued per io_uring_enter.
 * Reported: datagrams/s the receiver got (one-way throughput) and payload
 * Gbit/s, measured after a warm-up second; the sender's rate is shown too
 * (on loopback the difference is what the receiver's socket dropped).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "reactor.h"

struct bench {
	size_t size;
	struct sockaddr_storage dst;
	socklen_t dstlen;
	int cpu_rx, cpu_tx;
	_Atomic int sending;
};

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Best effort: an unpinned run is still a run, just noisier. */
	pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void fill(struct rw_reactor *r)
{
	struct bench *b = rw__reactor_user(r);
	unsigned idx;
	uint8_t *buf;

	if (!atomic_load_explicit(&b->sending, memory_order_relaxed))
		return;
	while ((buf = rw__reactor_send_buf(r, &idx)) != NULL) {
		buf[0] = 4;	/* looks like a data packet; content is irrelevant */
		if (rw__reactor_send(r, idx, b->size, (struct sockaddr *)&b->dst, b->dstlen) != 0) {
			rw__reactor_send_buf_put(r, idx);
			return;
		}
	}
}

static void tx_start(struct rw_reactor *r)
{
	struct bench *b = rw__reactor_user(r);

	pin(b->cpu_tx);
	fill(r);
}

static void rx_start(struct rw_reactor *r)
{
	struct bench *b = rw__reactor_user(r);

	pin(b->cpu_rx);
}

static void rx_datagram(struct rw_reactor *r, uint8_t *data, size_t len, const struct sockaddr *from,
			socklen_t fromlen)
{
	(void)r;
	(void)data;
	(void)len;
	(void)from;
	(void)fromlen;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static const char *mode_name(enum rw_send_mode m)
{
	switch (m) {
	case RW_SEND_PLAIN: return "plain";
	case RW_SEND_ZC_FIXED: return "zc";
	case RW_SEND_MSG: return "msg";
	default: return "auto";
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-udp [--size BYTES] [--seconds S] [--mode auto|plain|zc|msg] [--inflight N] [--batch-us US]\n"
		   "  one-way raw UDP over 127.0.0.1 through the io_uring reactor (no crypto)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },
		{ "mode", required_argument, NULL, 'm' },
		{ "inflight", required_argument, NULL, 'i' },
		{ "batch-us", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench b = { .size = 64, .cpu_rx = -1, .cpu_tx = -1 };
	struct rw_reactor_config rc, tc;
	struct rw_reactor_group *rx = NULL, *tx = NULL;
	struct rw_reactor_stats rs0, rs1, ts0, ts1;
	struct sockaddr_in *lo;
	enum rw_send_mode mode = RW_SEND_AUTO;
	double seconds = 5, t0, t1, rx_pps, tx_pps;
	unsigned inflight = 256, batch_us = 0;
	bool batch_set = false;
	cpu_set_t set;
	int c, ret;

	while ((c = getopt_long(argc, argv, "s:t:m:i:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			b.size = strtoul(optarg, NULL, 10);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'i':
			inflight = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			batch_us = (unsigned)strtoul(optarg, NULL, 10);
			batch_set = true;
			break;
		case 'm':
			if (!strcmp(optarg, "plain"))
				mode = RW_SEND_PLAIN;
			else if (!strcmp(optarg, "zc"))
				mode = RW_SEND_ZC_FIXED;
			else if (!strcmp(optarg, "msg"))
				mode = RW_SEND_MSG;
			else if (!strcmp(optarg, "auto"))
				mode = RW_SEND_AUTO;
			else {
				usage(stderr);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (b.size < 1 || b.size > 2048 || seconds <= 0 || seconds > 3600 || inflight < 1 || inflight > 65536) {
		fprintf(stderr, "bench-udp: --size must be 1..2048, --seconds 0..3600, --inflight 1..65536\n");
		return 2;
	}
	/* Receiver on the first allowed CPU, sender on the second, if any. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) >= 2) {
		for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
			if (!CPU_ISSET(cpu, &set))
				continue;
			if (b.cpu_rx < 0)
				b.cpu_rx = cpu;
			else if (b.cpu_tx < 0)
				b.cpu_tx = cpu;
		}
	}

	memset(&rc, 0, sizeof(rc));
	lo = (struct sockaddr_in *)&rc.listen;
	lo->sin_family = AF_INET;
	lo->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rc.listen_len = sizeof(*lo);
	rc.n_reactors = 1;
	rc.buf_count = 4096;
	rc.send_buf_count = 16;
	rc.ops.on_start = rx_start;
	rc.ops.on_datagram = rx_datagram;
	rc.user = &b;
	if (batch_set)
		rc.batch_wait_us = batch_us;
	tc = rc;
	tc.buf_count = 64;
	tc.send_buf_count = inflight;
	tc.ring_entries = inflight < 256 ? 256 : inflight;
	tc.send_mode = mode;
	tc.ops.on_start = tx_start;
	tc.ops.on_datagram = NULL;
	tc.ops.on_batch_end = fill;	/* refill whatever completed in this batch */

	ret = rw__reactor_group_create(&rx, &rc);
	if (!ret)
		ret = rw__reactor_local_addr(rx, &b.dst, &b.dstlen);
	if (!ret)
		ret = rw__reactor_group_create(&tx, &tc);
	if (!ret)
		ret = rw__reactor_group_start(rx);
	atomic_store(&b.sending, 1);
	if (!ret)
		ret = rw__reactor_group_start(tx);
	if (ret) {
		fprintf(stderr, "bench-udp: %s\n", strerror(-ret));
		rw__reactor_group_destroy(tx);
		rw__reactor_group_destroy(rx);
		return 1;
	}

	sleep_s(1.0);	/* warm-up: caches, socket buffers, CPU frequency */
	t0 = now_s();
	rw__reactor_stats(rw__reactor_get(rx, 0), &rs0);
	rw__reactor_stats(rw__reactor_get(tx, 0), &ts0);
	sleep_s(seconds);
	t1 = now_s();
	rw__reactor_stats(rw__reactor_get(rx, 0), &rs1);
	rw__reactor_stats(rw__reactor_get(tx, 0), &ts1);
	atomic_store(&b.sending, 0);
	rw__reactor_group_stop(tx);
	rw__reactor_group_join(tx);
	rw__reactor_group_stop(rx);
	rw__reactor_group_join(rx);

	rx_pps = (double)(rs1.rx_packets - rs0.rx_packets) / (t1 - t0);
	tx_pps = (double)(ts1.tx_packets - ts0.tx_packets) / (t1 - t0);
	printf("bench-udp: size %zu B, %.1f s, send mode %s, cpus rx %d tx %d\n", b.size, t1 - t0,
	       mode_name(rw__reactor_send_mode(rw__reactor_get(tx, 0))), b.cpu_rx, b.cpu_tx);
	printf("  received %.0f packets/s  %.3f Gbit/s one-way\n", rx_pps, rx_pps * (double)b.size * 8 / 1e9);
	printf("  sent     %.0f packets/s  (tx errors %llu, rx nobufs %llu)\n", tx_pps,
	       (unsigned long long)(ts1.tx_errors - ts0.tx_errors),
	       (unsigned long long)(rs1.rx_nobufs - rs0.rx_nobufs));
	rw__reactor_group_destroy(tx);
	rw__reactor_group_destroy(rx);
	return 0;
}
