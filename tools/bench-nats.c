/* SPDX-License-Identifier: MIT */
/*
 * bench-nats - the fan-out scripts/bench-cluster.sh compares the brokers
 * with, through NATS alone: one publisher, S subscribers (one connection
 * each), N messages of 64 bytes. Prints delivered messages/s and the
 * p50/p99 publish-to-delivery latency.
 *
 *   bench-nats nats://HOST:PORT [N] [S] [RATE]
 *
 * RATE (messages/s, default 0: as fast as libnats takes them) paces the
 * publisher, so latency is measured at a load rather than as a queue.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

enum { SIZE = 64, SUBS_MAX = 64 };

static uint64_t *lat;
static atomic_ulong got;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	uint64_t sent;
	unsigned long i = atomic_fetch_add(&got, 1);

	(void)nc;
	(void)sub;
	(void)closure;
	memcpy(&sent, natsMsg_GetData(m), sizeof(sent));
	lat[i] = now_ns() - sent;
	natsMsg_Destroy(m);
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	natsConnection *pub, *subc[SUBS_MAX];
	natsSubscription *subs[SUBS_MAX];
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 100000, total;
	unsigned s = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 10;
	unsigned long rate = argc > 4 ? strtoul(argv[4], NULL, 10) : 0;
	uint8_t buf[SIZE] = { 0 };
	uint64_t t0, t1;

	if (argc < 2 || !n || !s || s > SUBS_MAX) {
		fprintf(stderr, "usage: bench-nats nats://HOST:PORT [N] [SUBSCRIBERS 1-%d]\n", SUBS_MAX);
		return 2;
	}
	total = n * s;
	lat = calloc(total, sizeof(*lat));
	if (!lat || natsConnection_ConnectTo(&pub, argv[1]) != NATS_OK) {
		fprintf(stderr, "bench-nats: cannot connect to %s\n", argv[1]);
		return 1;
	}
	for (unsigned i = 0; i < s; i++) {
		if (natsConnection_ConnectTo(&subc[i], argv[1]) != NATS_OK ||
		    natsConnection_Subscribe(&subs[i], subc[i], "bench.fanout", on_msg, NULL) != NATS_OK) {
			fprintf(stderr, "bench-nats: cannot subscribe\n");
			return 1;
		}
		natsSubscription_SetPendingLimits(subs[i], -1, -1);
		natsConnection_Flush(subc[i]);
	}
	t0 = now_ns();
	for (unsigned long i = 0; i < n; i++) {
		uint64_t t = now_ns();

		/* ahead of schedule: wait for the slot (libnats's flusher sends what is buffered) */
		while (rate && t < t0 + i * 1000000000ull / rate) {
			struct timespec d = { 0, (long)(t0 + i * 1000000000ull / rate - t) };

			nanosleep(&d, NULL);
			t = now_ns();
		}
		memcpy(buf, &t, sizeof(t));
		natsConnection_Publish(pub, "bench.fanout", buf, SIZE);
	}
	natsConnection_Flush(pub);
	while (atomic_load(&got) < total && now_ns() - t0 < 60 * 1000000000ull)
		usleep(1000);
	t1 = now_ns();
	total = atomic_load(&got);
	qsort(lat, total, sizeof(*lat), cmp);
	printf("nats alone: %lu x 64 B to %u subscribers, publisher at %lu msg/s (0: unpaced): delivered %lu, "
	       "%.0f msg/s, p50 %.1f us, p99 %.1f us\n", n, s, rate, total, total / ((t1 - t0) / 1e9), total ? lat[total / 2] / 1e3 : 0.0,
	       total ? lat[total * 99 / 100] / 1e3 : 0.0);
	for (unsigned i = 0; i < s; i++) {
		natsSubscription_Destroy(subs[i]);
		natsConnection_Destroy(subc[i]);
	}
	natsConnection_Destroy(pub);
	free(lat);
	return 0;
}
