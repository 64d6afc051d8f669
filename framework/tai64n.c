/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "tai64n.h"

void rw__tai64n_encode(uint8_t out[RW_TAI64N_LEN], uint64_t unix_s, uint32_t ns)
{
	rw_put_be64(out, unix_s + RW_TAI64_EPOCH);
	rw_put_be32(out + 8, ns);
}

void rw__tai64n_now(uint8_t out[RW_TAI64N_LEN])
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	rw__tai64n_encode(out, (uint64_t)ts.tv_sec, (uint32_t)ts.tv_nsec);
}

int rw__tai64n_decode(const uint8_t in[RW_TAI64N_LEN], uint64_t *unix_s, uint32_t *ns)
{
	uint64_t s = rw_be64(in);
	uint32_t n = rw_be32(in + 8);

	if (s < RW_TAI64_EPOCH || n >= 1000000000u)
		return -EINVAL;
	*unix_s = s - RW_TAI64_EPOCH;
	*ns = n;
	return 0;
}

int rw__tai64n_check_skew(const uint8_t ts[RW_TAI64N_LEN], uint64_t now_unix_s, unsigned skew_s)
{
	uint64_t s;
	uint32_t ns;

	if (rw__tai64n_decode(ts, &s, &ns))
		return -EINVAL;
	if (s > now_unix_s + skew_s || s + skew_s < now_unix_s)
		return -ERANGE;
	return 0;
}

int rw__tai64n_cmp(const uint8_t a[RW_TAI64N_LEN], const uint8_t b[RW_TAI64N_LEN])
{
	return memcmp(a, b, RW_TAI64N_LEN);
}

int rw__tsguard_init(struct rw_tsguard *g, uint32_t capacity)
{
	uint32_t cap = 16;

	memset(g, 0, sizeof(*g));
	while (cap < capacity && cap < (1u << 24))
		cap <<= 1;
	g->slots = calloc(cap, sizeof(*g->slots));
	if (!g->slots)
		return -ENOMEM;
	/* committed up front: new keys land on random slots for as long as the server runs */
	rw__memzero(g->slots, (size_t)cap * sizeof(*g->slots));
	g->mask = cap - 1;
	return 0;
}

void rw__tsguard_destroy(struct rw_tsguard *g)
{
	free(g->slots);
	g->slots = NULL;
}

static uint32_t slot_of(const struct rw_tsguard *g, const uint8_t key[RW_KEY_LEN])
{
	/* Public keys are uniformly random: their bytes are a fine hash. */
	return rw_le32(key) & g->mask;
}

/* Probe window: bounded work per handshake whatever the table holds. */
enum { PROBE = 16 };

static int expired(const struct rw_tsguard_entry *e, uint64_t now_unix_s)
{
	uint64_t s = rw_be64(e->ts) - RW_TAI64_EPOCH;

	return s + 2 * RW_MAX_TIMESTAMP_SKEW_S < now_unix_s;
}

static int guard(struct rw_tsguard *g, const uint8_t key[RW_KEY_LEN], const uint8_t ts[RW_TAI64N_LEN],
		 uint64_t now_unix_s, bool record)
{
	struct rw_tsguard_entry *free_slot = NULL, *oldest = NULL;
	uint32_t base = slot_of(g, key);

	for (uint32_t i = 0; i < PROBE && i <= g->mask; i++) {
		struct rw_tsguard_entry *e = &g->slots[(base + i) & g->mask];

		if (e->used && expired(e, now_unix_s)) {
			e->used = 0;
			g->count--;
		}
		if (!e->used) {
			if (!free_slot)
				free_slot = e;
			continue;
		}
		if (memcmp(e->key, key, RW_KEY_LEN) == 0) {
			if (rw__tai64n_cmp(ts, e->ts) <= 0)
				return -EALREADY;
			if (record)
				memcpy(e->ts, ts, RW_TAI64N_LEN);
			return 0;
		}
		if (!oldest || rw__tai64n_cmp(e->ts, oldest->ts) < 0)
			oldest = e;
	}
	/* Unknown key: it must beat what eviction has forgotten. */
	if (rw__tai64n_cmp(ts, g->floor) <= 0)
		return -EALREADY;
	if (!record)
		return 0;
	if (!free_slot) {
		if (rw__tai64n_cmp(oldest->ts, g->floor) > 0)
			memcpy(g->floor, oldest->ts, RW_TAI64N_LEN);
		free_slot = oldest;
		g->evictions++;
		g->count--;
	}
	memcpy(free_slot->key, key, RW_KEY_LEN);
	memcpy(free_slot->ts, ts, RW_TAI64N_LEN);
	free_slot->used = 1;
	g->count++;
	return 0;
}

int rw__tsguard_accept(struct rw_tsguard *g, const uint8_t key[RW_KEY_LEN], const uint8_t ts[RW_TAI64N_LEN],
		       uint64_t now_unix_s)
{
	return guard(g, key, ts, now_unix_s, true);
}

int rw__tsguard_check(struct rw_tsguard *g, const uint8_t key[RW_KEY_LEN], const uint8_t ts[RW_TAI64N_LEN],
		      uint64_t now_unix_s)
{
	return guard(g, key, ts, now_unix_s, false);
}
