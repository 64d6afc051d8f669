/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "ratelimit.h"

enum { PROBE = 8 };

int rw__ratelimit_init(struct rw_ratelimit *rl, uint32_t capacity, uint32_t rate, uint32_t burst)
{
	uint32_t cap = 64;

	memset(rl, 0, sizeof(*rl));
	while (cap < capacity && cap < (1u << 24))
		cap <<= 1;
	rl->t = calloc(cap, sizeof(*rl->t));
	if (!rl->t)
		return -ENOMEM;
	rl->mask = cap - 1;
	rl->rate = rate ? rate : 1;
	rl->burst = burst ? burst : 1;
	/* A keyed hash: a flood cannot aim every source at one probe window. */
	if (rw__random(&rl->seed, sizeof(rl->seed))) {
		free(rl->t);
		rl->t = NULL;
		return -EIO;
	}
	return 0;
}

void rw__ratelimit_destroy(struct rw_ratelimit *rl)
{
	free(rl->t);
	rl->t = NULL;
}

static uint32_t hash(const struct rw_ratelimit *rl, const uint8_t ip[RW_RL_KEY_LEN])
{
	uint64_t a, b, h;

	memcpy(&a, ip, 8);
	memcpy(&b, ip + 8, 8);
	h = (a ^ rl->seed) * 0x9e3779b97f4a7c15ull;
	h ^= (b + (rl->seed >> 7)) * 0xc2b2ae3d27d4eb4full;
	h ^= h >> 29;
	return (uint32_t)(h ^ (h >> 32));
}

int rw__ratelimit_key(uint8_t key[RW_RL_KEY_LEN], const struct sockaddr *sa)
{
	memset(key, 0, RW_RL_KEY_LEN);
	if (sa->sa_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a)) {
			/* an IPv4 peer on a dual-stack socket: its /32, not the shared ::ffff:0:0/96 */
			memcpy(key, &a->s6_addr[12], 4);
			return 0;
		}
		memcpy(key, a, 8);	/* the /64 */
		key[15] = 6;		/* never equal to an IPv4 key */
		return 0;
	}
	return -EAFNOSUPPORT;
}

bool rw__ratelimit_allow(struct rw_ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms)
{
	const uint64_t full = (uint64_t)rl->burst * 1000;
	struct rw_rl_entry *e = NULL, *spare = NULL;
	uint8_t ip[RW_RL_KEY_LEN];
	uint32_t h;

	if (rw__ratelimit_key(ip, sa))
		return false;
	h = hash(rl, ip);
	for (uint32_t i = 0; i < PROBE; i++) {
		struct rw_rl_entry *x = &rl->t[(h + i) & rl->mask];

		if (x->used && memcmp(x->ip, ip, RW_RL_KEY_LEN) == 0) {
			e = x;
			break;
		}
		/* an entry whose bucket has refilled carries no information */
		if (!spare && (!x->used || (now_ms - x->last_ms) * rl->rate >= full))
			spare = x;
	}
	if (!e) {
		if (!spare)
			return false;
		e = spare;
		memcpy(e->ip, ip, RW_RL_KEY_LEN);
		e->used = true;
		e->tokens = full;
		e->last_ms = now_ms;
	}
	e->tokens += (now_ms - e->last_ms) * rl->rate;
	if (e->tokens > full)
		e->tokens = full;
	e->last_ms = now_ms;
	if (e->tokens < 1000)
		return false;
	e->tokens -= 1000;
	return true;
}
