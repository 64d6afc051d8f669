/* SPDX-License-Identifier: MIT */
/*
 * tai64n.h - handshake timestamps and the replay rule built on them.
 *
 * A HandshakeInit carries the initiator's TAI64N clock (docs/protocol.md §2.7). The
 * responder rejects one more than ±180 s from its own clock (docs/protocol.md §4.1) and,
 * per client static key, one that is not newer than the greatest it accepted
 * (docs/protocol.md §15.1, WireGuard's rule): a captured HandshakeInit cannot be replayed.
 */
#ifndef RW_TAI64N_H
#define RW_TAI64N_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

void rw__tai64n_encode(uint8_t out[RW_TAI64N_LEN], uint64_t unix_s, uint32_t ns);
/* Current wall clock (CLOCK_REALTIME) as TAI64N. */
void rw__tai64n_now(uint8_t out[RW_TAI64N_LEN]);
/* Split a TAI64N; -EINVAL when seconds lie before the TAI epoch or ns >= 1e9. */
int rw__tai64n_decode(const uint8_t in[RW_TAI64N_LEN], uint64_t *unix_s, uint32_t *ns);
/* 0 when ts is within ±skew_s of now_unix_s, -ERANGE otherwise (or -EINVAL). */
int rw__tai64n_check_skew(const uint8_t ts[RW_TAI64N_LEN], uint64_t now_unix_s, unsigned skew_s);
/* Big-endian TAI64N compares as bytes: <0, 0, >0. */
int rw__tai64n_cmp(const uint8_t a[RW_TAI64N_LEN], const uint8_t b[RW_TAI64N_LEN]);

/*
 * Greatest accepted timestamp per client static key, in bounded memory.
 *
 * An entry older than the skew limit can be forgotten at no cost: a replay of
 * the HandshakeInit it guards fails the skew check anyway. So the table only
 * has to hold the keys seen in the last 2 x skew seconds. When it is full of
 * fresh entries, the oldest is evicted and its timestamp becomes a floor that
 * any key not in the table must beat: evicting never reopens a replay.
 * Single-threaded: a caller that shares one across threads serialises it.
 */
struct rw_tsguard_entry {
	uint8_t key[RW_KEY_LEN];
	uint8_t ts[RW_TAI64N_LEN];
	uint8_t used;
};

struct rw_tsguard {
	struct rw_tsguard_entry *slots;
	uint32_t mask;		/* capacity - 1 (a power of two) */
	uint32_t count;
	uint8_t floor[RW_TAI64N_LEN];
	uint64_t evictions;
};

int rw__tsguard_init(struct rw_tsguard *g, uint32_t capacity);
void rw__tsguard_destroy(struct rw_tsguard *g);
/*
 * Accept ts for key if it is newer than the greatest seen for that key (and
 * than the floor for an unknown key), and record it. -EALREADY when stale.
 * now_unix_s lets it forget entries past the skew window.
 */
int rw__tsguard_accept(struct rw_tsguard *g, const uint8_t key[RW_KEY_LEN], const uint8_t ts[RW_TAI64N_LEN],
		       uint64_t now_unix_s);
/*
 * The same verdict without recording anything: a responder checks when the
 * init arrives and records only once it has answered, so an init it could
 * not answer (no room for the session) is still fresh when retransmitted.
 */
int rw__tsguard_check(struct rw_tsguard *g, const uint8_t key[RW_KEY_LEN], const uint8_t ts[RW_TAI64N_LEN],
		      uint64_t now_unix_s);

#endif
