/* SPDX-License-Identifier: MIT */
/*
 * peers.h - the one table the shards share: which session, on which shard,
 * a peer's static key belongs to; the newest handshake timestamp accepted
 * from each key (tai64n.h); and the last HandshakeResp we sent it, so that a
 * retransmitted HandshakeInit is answered with the same response instead of
 * opening a second session (docs/protocol.md §15.1); and the static-static
 * DH with each bound key, which every rekey of that key repeats (wiped when
 * the key is unbound).
 *
 * It is touched only by handshakes, behind one mutex; data packets never
 * see it. Memory is bounded by the session limit.
 */
#ifndef RW_PEERS_H
#define RW_PEERS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "tai64n.h"
#include "wire.h"

struct rw_peer_entry {
	uint8_t key[RW_KEY_LEN];
	uint64_t session_id;
	uint8_t last_mac1[RW_MAC_LEN];
	uint8_t resp[RW_SIZE_HANDSHAKE_RESP];
	uint8_t ss[RW_KEY_LEN];		/* DH(our static, this key): a secret */
	bool used, has_resp, has_ss;
};

struct rw_peers {
	pthread_mutex_t lock;
	struct rw_peer_entry *slots;
	uint32_t mask, count, capacity;
	struct rw_tsguard ts;
};

enum rw_peer_verdict {
	RW_PEER_NEW,		/* no session for this key: open one */
	RW_PEER_EXISTING,	/* *session_id has one: rekey it */
	RW_PEER_RETRANSMIT,	/* same HandshakeInit again: resend *resp */
	RW_PEER_STALE,		/* timestamp not newer: a replay */
	RW_PEER_FULL,		/* no room for another peer */
};

int rw__peers_init(struct rw_peers *p, uint32_t capacity);
void rw__peers_destroy(struct rw_peers *p);
/* Decide what a HandshakeInit that passed the AEAD and the clock check leads to (records nothing). */
enum rw_peer_verdict rw__peers_admit(struct rw_peers *p, const uint8_t key[RW_KEY_LEN],
				     const uint8_t ts[RW_TAI64N_LEN], const uint8_t mac1[RW_MAC_LEN],
				     uint64_t now_unix_s, uint64_t *session_id,
				     uint8_t resp[RW_SIZE_HANDSHAKE_RESP]);
/*
 * Record key -> session_id with the response about to be sent for the init
 * whose MAC1 and timestamp are given; only now is the timestamp recorded (an
 * init that got no answer stays fresh for its retransmission). Returns the
 * id of a different session the key had (to be closed as superseded), or 0.
 * ss (NULL: none) is the handshake's static-static DH, kept for the key's
 * next rekey (rw__peers_ss).
 * -ENOSPC when full, -EALREADY when another init of the key got there first.
 */
int64_t rw__peers_bind(struct rw_peers *p, const uint8_t key[RW_KEY_LEN], uint64_t session_id,
		       const uint8_t ts[RW_TAI64N_LEN], uint64_t now_unix_s, const uint8_t mac1[RW_MAC_LEN],
		       const uint8_t resp[RW_SIZE_HANDSHAKE_RESP], const uint8_t *ss);
/* The cached static-static DH of a bound key, copied into ss: false when none (rw_noise_ss_get_fn). */
bool rw__peers_ss(void *peers, const uint8_t key[RW_KEY_LEN], uint8_t ss[RW_KEY_LEN]);
/* Record a timestamp for a key that gets no session (refused): -EALREADY if not newer. */
int rw__peers_note_ts(struct rw_peers *p, const uint8_t key[RW_KEY_LEN], const uint8_t ts[RW_TAI64N_LEN],
		      uint64_t now_unix_s);
/* Forget key if it still points at session_id. */
void rw__peers_unbind(struct rw_peers *p, const uint8_t key[RW_KEY_LEN], uint64_t session_id);

#endif
