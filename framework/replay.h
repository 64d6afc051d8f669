/* SPDX-License-Identifier: MIT */
/*
 * replay.h - the receive counter window of a session (docs/protocol.md §8).
 *
 * 4096 counters, [head - 4095, head], in a 64 x uint64 bitmap. Checking and
 * updating are separate steps: rw__replay_check runs before the AEAD and
 * changes nothing, so a forged packet cannot move the window;
 * rw__replay_update runs only after the AEAD succeeded, and checks again,
 * because two copies of one packet can both pass the first check before
 * either is decrypted.
 *
 * The bitmap is a ring indexed by counter mod 4096. Unlike RFC 6479, which
 * clears whole words and so keeps a word of slack (WireGuard's window is
 * (words - 1) x 64), the ring clears exactly the bits of the counters the
 * head passes over. Every counter of [head - 4095, head] then has a bit of
 * its own and the window is the full 4096 the spec promises: head - 4095 is
 * accepted once, head - 4096 is too old.
 *
 * Counter limit: a sender closes the session when its counter reaches
 * 2^64 - 1 (docs/protocol.md §7.2), so no valid packet carries UINT64_MAX; it is
 * rejected (RW_REPLAY_LIMIT), which also keeps head + 1 from overflowing.
 * Every other value is accepted, so no v1 peer is ever cut short; rekeying
 * (RW_REKEY_AFTER_MESSAGES = 2^60) happens long before.
 */
#ifndef RW_REPLAY_H
#define RW_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "wire.h"

/* The first counter a receiver refuses. */
#define RW_REPLAY_REJECT_AFTER UINT64_MAX

enum rw_replay_verdict {
	RW_REPLAY_OK = 0,	/* new: deliver */
	RW_REPLAY_TOO_OLD,	/* below head - 4095 */
	RW_REPLAY_DUPLICATE,	/* inside the window, already seen */
	RW_REPLAY_LIMIT,	/* counter >= RW_REPLAY_REJECT_AFTER */
	RW_REPLAY_VERDICT_COUNT,
};

struct rw_replay {
	uint64_t next;		/* head + 1; 0 while nothing has been accepted */
	uint64_t bits[RW_REPLAY_WORDS];
};

/* Nothing seen: every counter below the limit is acceptable, 0 included. */
void rw__replay_init(struct rw_replay *r);

/* What would become of counter; changes nothing. */
enum rw_replay_verdict rw__replay_classify(const struct rw_replay *r, uint64_t counter);

/* May a packet with this counter be decrypted? (before the AEAD) */
static inline bool rw__replay_check(const struct rw_replay *r, uint64_t counter)
{
	return rw__replay_classify(r, counter) == RW_REPLAY_OK;
}

/*
 * Record counter after the AEAD succeeded. Returns its verdict, checked
 * again: anything but RW_REPLAY_OK means the packet must be dropped after
 * all (a duplicate decrypted in the meantime), and the window is unchanged.
 */
enum rw_replay_verdict rw__replay_update(struct rw_replay *r, uint64_t counter) RW_MUST_CHECK;

const char *rw__replay_verdict_str(enum rw_replay_verdict v);

#endif
