/* SPDX-License-Identifier: MIT */
/*
 * relay.h - a tiny UDP relay for engine tests: client -> relay -> server.
 *
 * It can change its upstream source port (the server sees the client roam),
 * go silent (the client vanishes without a Disconnect), lose the next N
 * server->client packets of a type (drop_down), and keeps a copy of
 * the last client->server packet of each type so a test can replay or
 * tamper with real traffic, and black-hole datagrams above a size in both
 * directions (max_len, a path whose MTU shrank). One thread, poll(), bounded.
 */
#ifndef RW_TEST_RELAY_H
#define RW_TEST_RELAY_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct relay {
	int front;			/* clients talk to this */
	_Atomic int up;			/* towards the server */
	int old_up;
	struct sockaddr_in server, client;
	bool have_client;
	atomic_bool silent, stop;
	pthread_t thread;
	pthread_mutex_t lock;
	uint8_t last[8][2048];		/* last client->server packet per type */
	size_t last_len[8];
	atomic_uint_fast64_t up_packets, down_packets;
	atomic_uint_fast64_t up_type[8], down_type[8];	/* packets relayed, by type */
	atomic_uint drop_down[8];	/* server->client packets of each type still to drop */
	atomic_uint max_len;		/* 0, or datagrams above it vanish, both ways */
	atomic_uint_fast64_t dropped_big;
	/* optional: sees every datagram it forwards (up: client -> server), on the relay thread */
	void (*observe)(void *ctx, const uint8_t *buf, size_t n, bool up);
	void *observe_ctx;
};

/* A datagram the path is too narrow for: dropped, counted. */
static inline bool relay_too_big(struct relay *r, ssize_t n)
{
	unsigned max = atomic_load(&r->max_len);

	if (!max || n <= (ssize_t)max)
		return false;
	atomic_fetch_add(&r->dropped_big, 1);
	return true;
}

static inline int relay_udp(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int big = 4 << 20;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a))) {
		close(fd);
		return -1;
	}
	return fd;
}

static inline uint16_t relay_port(int fd)
{
	struct sockaddr_in a;
	socklen_t l = sizeof(a);

	getsockname(fd, (struct sockaddr *)&a, &l);
	return ntohs(a.sin_port);
}

static inline void *relay_main(void *arg)
{
	struct relay *r = arg;
	uint8_t buf[65536];

	while (!atomic_load(&r->stop)) {
		int up = atomic_load(&r->up);
		struct pollfd p[3] = { { r->front, POLLIN, 0 }, { up, POLLIN, 0 }, { r->old_up, POLLIN, 0 } };
		int np = r->old_up >= 0 ? 3 : 2;

		if (poll(p, (nfds_t)np, 20) <= 0)
			continue;
		if (p[0].revents & POLLIN) {
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(r->front, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);

			if (n > 0) {
				pthread_mutex_lock(&r->lock);
				r->client = from;
				r->have_client = true;
				if (buf[0] < 8 && (size_t)n <= sizeof(r->last[0])) {
					memcpy(r->last[buf[0]], buf, (size_t)n);
					r->last_len[buf[0]] = (size_t)n;
				}
				pthread_mutex_unlock(&r->lock);
				if (!atomic_load(&r->silent) && !relay_too_big(r, n)) {
					if (r->observe)
						r->observe(r->observe_ctx, buf, (size_t)n, true);
					sendto(up, buf, (size_t)n, 0, (struct sockaddr *)&r->server, sizeof(r->server));
					atomic_fetch_add(&r->up_packets, 1);
					if (buf[0] < 8)
						atomic_fetch_add(&r->up_type[buf[0]], 1);
				}
			}
		}
		for (int i = 1; i < np; i++) {
			if (!(p[i].revents & POLLIN))
				continue;
			ssize_t n = recv(p[i].fd, buf, sizeof(buf), 0);

			if (n > 0 && buf[0] < 8 && atomic_load(&r->drop_down[buf[0]])) {
				atomic_fetch_sub(&r->drop_down[buf[0]], 1);
				continue;
			}
			if (n > 0 && r->have_client && !atomic_load(&r->silent) && !relay_too_big(r, n)) {
				if (r->observe)
					r->observe(r->observe_ctx, buf, (size_t)n, false);
				sendto(r->front, buf, (size_t)n, 0, (struct sockaddr *)&r->client, sizeof(r->client));
				atomic_fetch_add(&r->down_packets, 1);
				if (buf[0] < 8)
					atomic_fetch_add(&r->down_type[buf[0]], 1);
			}
		}
	}
	return NULL;
}

/* A relay whose observe(ctx, ...) sees every datagram it forwards (set before its thread starts). */
static inline int relay_start_observed(struct relay *r, uint16_t server_port,
				       void (*observe)(void *ctx, const uint8_t *buf, size_t n, bool up), void *ctx)
{
	memset(r, 0, sizeof(*r));
	r->observe = observe;
	r->observe_ctx = ctx;
	r->old_up = -1;
	r->front = relay_udp(0);
	atomic_store(&r->up, relay_udp(0));
	if (r->front < 0 || atomic_load(&r->up) < 0)
		return -1;
	r->server.sin_family = AF_INET;
	r->server.sin_port = htons(server_port);
	r->server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pthread_mutex_init(&r->lock, NULL);
	return pthread_create(&r->thread, NULL, relay_main, r);
}

static inline int relay_start(struct relay *r, uint16_t server_port)
{
	return relay_start_observed(r, server_port, NULL, NULL);
}

/* New upstream socket: from now on the server sees another source port. */
static inline void relay_roam(struct relay *r)
{
	int fd = relay_udp(0);
	int old = atomic_exchange(&r->up, fd);

	/* the relay thread may still poll the old one; close it on the next roam */
	if (r->old_up >= 0)
		close(r->old_up);
	r->old_up = old;
}

static inline void relay_stop(struct relay *r)
{
	atomic_store(&r->stop, true);
	pthread_join(r->thread, NULL);
	close(r->front);
	close(atomic_load(&r->up));
	if (r->old_up >= 0)
		close(r->old_up);
}

static inline uint16_t relay_front_port(const struct relay *r)
{
	return relay_port(r->front);
}

#endif
