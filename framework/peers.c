/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "peers.h"

int rw__peers_init(struct rw_peers *p, uint32_t capacity)
{
	uint32_t cap = 64;
	int ret;

	memset(p, 0, sizeof(*p));
	while (cap < 2 * capacity && cap < (1u << 30))
		cap <<= 1;
	p->slots = calloc(cap, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	/* committed up front, as the shards' tables: resident memory stays flat */
	rw__memzero(p->slots, (size_t)cap * sizeof(*p->slots));
	p->mask = cap - 1;
	p->capacity = capacity;
	/* Timestamps of keys without a session are kept too, for the skew window. */
	ret = rw__tsguard_init(&p->ts, capacity + 4096);
	if (ret) {
		free(p->slots);
		return ret;
	}
	pthread_mutex_init(&p->lock, NULL);
	return 0;
}

void rw__peers_destroy(struct rw_peers *p)
{
	if (!p->slots)
		return;
	rw__memzero(p->slots, (size_t)(p->mask + 1) * sizeof(*p->slots));
	free(p->slots);
	rw__tsguard_destroy(&p->ts);
	pthread_mutex_destroy(&p->lock);
	p->slots = NULL;
}

/* Static keys are uniformly random, so their first bytes index the table. */
static struct rw_peer_entry *find(struct rw_peers *p, const uint8_t key[RW_KEY_LEN])
{
	for (uint32_t i = rw_le32(key) & p->mask;; i = (i + 1) & p->mask) {
		struct rw_peer_entry *e = &p->slots[i];

		if (!e->used)
			return NULL;
		if (memcmp(e->key, key, RW_KEY_LEN) == 0)
			return e;
	}
}

enum rw_peer_verdict rw__peers_admit(struct rw_peers *p, const uint8_t key[RW_KEY_LEN],
				     const uint8_t ts[RW_TAI64N_LEN], const uint8_t mac1[RW_MAC_LEN],
				     uint64_t now_unix_s, uint64_t *session_id,
				     uint8_t resp[RW_SIZE_HANDSHAKE_RESP])
{
	enum rw_peer_verdict v;
	struct rw_peer_entry *e;

	pthread_mutex_lock(&p->lock);
	e = find(p, key);
	if (rw__tsguard_check(&p->ts, key, ts, now_unix_s)) {
		if (e && e->has_resp && rw__memeq(e->last_mac1, mac1, RW_MAC_LEN)) {
			memcpy(resp, e->resp, RW_SIZE_HANDSHAKE_RESP);
			v = RW_PEER_RETRANSMIT;
		} else {
			v = RW_PEER_STALE;
		}
	} else if (e) {
		*session_id = e->session_id;
		v = RW_PEER_EXISTING;
	} else {
		v = p->count >= p->capacity ? RW_PEER_FULL : RW_PEER_NEW;
	}
	pthread_mutex_unlock(&p->lock);
	return v;
}

int64_t rw__peers_bind(struct rw_peers *p, const uint8_t key[RW_KEY_LEN], uint64_t session_id,
		       const uint8_t ts[RW_TAI64N_LEN], uint64_t now_unix_s, const uint8_t mac1[RW_MAC_LEN],
		       const uint8_t resp[RW_SIZE_HANDSHAKE_RESP], const uint8_t *ss)
{
	struct rw_peer_entry *e;
	int64_t old = 0;

	pthread_mutex_lock(&p->lock);
	/* the timestamp is spent only now that the init gets its answer */
	if (rw__tsguard_accept(&p->ts, key, ts, now_unix_s)) {
		pthread_mutex_unlock(&p->lock);
		return -EALREADY;
	}
	e = find(p, key);
	if (!e) {
		if (p->count >= p->capacity) {
			pthread_mutex_unlock(&p->lock);
			return -ENOSPC;
		}
		for (uint32_t i = rw_le32(key) & p->mask;; i = (i + 1) & p->mask) {
			if (!p->slots[i].used) {
				e = &p->slots[i];
				break;
			}
		}
		memcpy(e->key, key, RW_KEY_LEN);
		e->used = true;
		p->count++;
	} else if (e->session_id != session_id) {
		old = (int64_t)e->session_id;
	}
	e->session_id = session_id;
	memcpy(e->last_mac1, mac1, RW_MAC_LEN);
	memcpy(e->resp, resp, RW_SIZE_HANDSHAKE_RESP);
	e->has_resp = true;
	if (ss) {
		memcpy(e->ss, ss, RW_KEY_LEN);
		e->has_ss = true;
	}
	pthread_mutex_unlock(&p->lock);
	return old;
}

bool rw__peers_ss(void *peers, const uint8_t key[RW_KEY_LEN], uint8_t ss[RW_KEY_LEN])
{
	struct rw_peers *p = peers;
	struct rw_peer_entry *e;
	bool hit = false;

	pthread_mutex_lock(&p->lock);
	e = find(p, key);
	if (e && e->has_ss) {
		memcpy(ss, e->ss, RW_KEY_LEN);
		hit = true;
	}
	pthread_mutex_unlock(&p->lock);
	return hit;
}

int rw__peers_note_ts(struct rw_peers *p, const uint8_t key[RW_KEY_LEN], const uint8_t ts[RW_TAI64N_LEN],
		      uint64_t now_unix_s)
{
	int ret;

	pthread_mutex_lock(&p->lock);
	ret = rw__tsguard_accept(&p->ts, key, ts, now_unix_s);
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void rw__peers_unbind(struct rw_peers *p, const uint8_t key[RW_KEY_LEN], uint64_t session_id)
{
	struct rw_peer_entry *e;
	uint32_t i, j;

	pthread_mutex_lock(&p->lock);
	e = find(p, key);
	if (!e || e->session_id != session_id)
		goto out;
	/* Backward-shift deletion keeps linear probing tombstone-free. */
	i = (uint32_t)(e - p->slots);
	rw__memzero(e, sizeof(*e));	/* its cached DH is a secret */
	p->count--;
	for (j = (i + 1) & p->mask; p->slots[j].used; j = (j + 1) & p->mask) {
		uint32_t home = rw_le32(p->slots[j].key) & p->mask;

		/* move j back to i if i lies cyclically within [home, j) */
		if (((j - home) & p->mask) >= ((j - i) & p->mask)) {
			p->slots[i] = p->slots[j];
			rw__memzero(&p->slots[j], sizeof(p->slots[j]));
			i = j;
		}
	}
out:
	pthread_mutex_unlock(&p->lock);
}
