/* SPDX-License-Identifier: MIT */
/*
 * noise.h - the Noise IK handshake of wiresocket v1 (docs/protocol.md §5, §2).
 *
 *   -> e, es, s, ss     HandshakeInit  (initiator: init_create, responder: init_consume)
 *   <- e, ee, se        HandshakeResp  (responder: resp_create, initiator: resp_consume)
 *
 * These functions only do the Noise work on message bytes: the caller checks
 * MAC1 (before any of this, so no DH is spent on junk), MAC2 under load, the
 * timestamp rules and the indices. Every function wipes its stack secrets on
 * every path and leaves the handshake zeroed when it fails.
 */
#ifndef RW_NOISE_H
#define RW_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

/* The protocol's constant initial chaining key and hash (docs/protocol.md §2.2). */
extern const uint8_t rw__initial_ck[RW_HASH_LEN];
extern const uint8_t rw__initial_h[RW_HASH_LEN];

/* Our static key pair, with the MAC1 key others use to reach us. */
struct rw_noise_identity {
	uint8_t priv[RW_KEY_LEN];
	uint8_t pub[RW_KEY_LEN];
	uint8_t mac1_key[RW_HASH_LEN];	/* HASH("mac1----" || pub) */
};

/* A peer's static key with what can be computed once for it. */
struct rw_noise_remote {
	uint8_t pub[RW_KEY_LEN];
	uint8_t mac1_key[RW_HASH_LEN];
	uint8_t ss[RW_KEY_LEN];		/* DH(our static, its static), cached */
	bool has_ss;
};

struct rw_handshake {
	uint8_t ck[RW_HASH_LEN];
	uint8_t h[RW_HASH_LEN];
	uint8_t e_priv[RW_KEY_LEN];
	uint8_t e_pub[RW_KEY_LEN];
	uint8_t remote_static[RW_KEY_LEN];
	uint8_t remote_e[RW_KEY_LEN];
	uint8_t timestamp[RW_TAI64N_LEN];	/* the initiator's, as received */
	uint8_t mac1[RW_MAC_LEN];		/* MAC1 of the last message we sent */
	uint8_t ss[RW_KEY_LEN];			/* responder: the static-static DH, for its cache */
	uint32_t local_index;
	uint32_t remote_index;
};

int rw__noise_identity_init(struct rw_noise_identity *id, const uint8_t priv[RW_KEY_LEN]) RW_MUST_CHECK;
/* mac1_key = HASH("mac1----" || pub) */
int rw__noise_mac1_key(uint8_t out[RW_HASH_LEN], const uint8_t pub[RW_KEY_LEN]) RW_MUST_CHECK;
/* With local, pre-computes the static-static DH too (-EINVAL for a low-order key). */
int rw__noise_remote_init(struct rw_noise_remote *r, const struct rw_noise_identity *local,
			  const uint8_t pub[RW_KEY_LEN]) RW_MUST_CHECK;

/* MAC1 over msg[0:mac_off] with key, written to msg + mac_off. */
int rw__noise_mac1_put(uint8_t *msg, size_t mac_off, const uint8_t key[RW_HASH_LEN]) RW_MUST_CHECK;
/* Constant-time check of the MAC1 at msg + mac_off. true when valid. */
bool rw__noise_mac1_ok(const uint8_t *msg, size_t mac_off, const uint8_t key[RW_HASH_LEN]);

/*
 * Initiator: write a HandshakeInit (MAC1 set, MAC2 zero) into msg. eph_priv
 * injects the ephemeral key (known-answer tests, fuzzing); NULL draws one.
 */
int rw__noise_init_create(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_INIT],
			  const struct rw_noise_identity *local, const struct rw_noise_remote *remote,
			  uint32_t sender_index, const uint8_t ts[RW_TAI64N_LEN],
			  const uint8_t *eph_priv) RW_MUST_CHECK;
/*
 * Responder: decrypt a HandshakeInit whose MAC1 the caller verified. On
 * success hs holds the initiator's static key, ephemeral, timestamp and
 * index. -EBADMSG when the AEAD fails, -EINVAL for low-order keys.
 */
int rw__noise_init_consume(struct rw_handshake *hs, const uint8_t msg[RW_SIZE_HANDSHAKE_INIT],
			   const struct rw_noise_identity *local) RW_MUST_CHECK;
/*
 * The same, with a cache of static-static DH results by initiator key: a
 * rekey of a key we know repeats that DH with the same two static keys, so
 * it is looked up (get copies it into ss and returns true) instead of
 * computed. Either way hs->ss holds it afterwards, for the caller to cache
 * (rw__noise_handshake_clear wipes it with the rest).
 */
typedef bool (*rw_noise_ss_get_fn)(void *user, const uint8_t key[RW_KEY_LEN], uint8_t ss[RW_KEY_LEN]);
int rw__noise_init_consume_cached(struct rw_handshake *hs, const uint8_t msg[RW_SIZE_HANDSHAKE_INIT],
				  const struct rw_noise_identity *local, rw_noise_ss_get_fn get,
				  void *user) RW_MUST_CHECK;
/* Responder: write the HandshakeResp (MAC1 for the initiator, MAC2 zero). */
int rw__noise_resp_create(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_RESP],
			  uint32_t sender_index, const uint8_t *eph_priv) RW_MUST_CHECK;
/*
 * The same in two steps: prepare does the Noise work (an ephemeral, two
 * X25519) and needs no state of the session, so it can run before the
 * session's index is drawn (and off the reactor thread); finish writes the
 * sender index, which the transcript hash does not cover, and MAC1.
 */
int rw__noise_resp_prepare(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_RESP],
			   const uint8_t *eph_priv) RW_MUST_CHECK;
int rw__noise_resp_finish(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_RESP],
			  uint32_t sender_index) RW_MUST_CHECK;
/* Initiator: consume a HandshakeResp whose MAC1 the caller verified. */
int rw__noise_resp_consume(struct rw_handshake *hs, const uint8_t msg[RW_SIZE_HANDSHAKE_RESP],
			   const struct rw_noise_identity *local) RW_MUST_CHECK;
/*
 * Transport keys (docs/protocol.md §5.6): the initiator sends with T1 and receives with
 * T2, the responder the other way round. Wipes the handshake.
 */
int rw__noise_split(struct rw_handshake *hs, bool initiator, uint8_t send_key[RW_KEY_LEN],
		    uint8_t recv_key[RW_KEY_LEN]) RW_MUST_CHECK;
void rw__noise_handshake_clear(struct rw_handshake *hs);

#endif
