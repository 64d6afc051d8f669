/* SPDX-License-Identifier: MIT */
/*
 * ratelimit.h - per-source handshake rate limit (token bucket per IP), as
 * WireGuard's ratelimiter: under load, a source that passed MAC2 (so its
 * address is real) still gets at most `rate` handshakes a second with a burst
 * of `burst`. A source is an IPv4 address (also when it arrives v4-mapped,
 * ::ffff:a.b.c.d, on a dual-stack socket) or an IPv6 /64, which one host
 * usually owns. Bounded: a full table refuses unknown sources rather than grow.
 * One per shard, owner thread only.
 */
#ifndef RW_RATELIMIT_H
#define RW_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum { RW_RL_KEY_LEN = 16 };

struct rw_rl_entry {
	uint8_t ip[RW_RL_KEY_LEN];
	uint64_t last_ms;
	uint64_t tokens;	/* in 1/1000 of a handshake */
	bool used;
};

struct rw_ratelimit {
	struct rw_rl_entry *t;
	uint32_t mask;
	uint64_t seed;
	uint32_t rate, burst;
};

int rw__ratelimit_init(struct rw_ratelimit *rl, uint32_t capacity, uint32_t rate, uint32_t burst);
void rw__ratelimit_destroy(struct rw_ratelimit *rl);
/* The bucket a source address falls in: its IPv4 address, or its IPv6 /64. */
int rw__ratelimit_key(uint8_t key[RW_RL_KEY_LEN], const struct sockaddr *sa);
bool rw__ratelimit_allow(struct rw_ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms);

#endif
