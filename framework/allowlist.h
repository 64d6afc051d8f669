/* SPDX-License-Identifier: MIT */
/*
 * allowlist.h - who may connect to a server, replaceable while it runs.
 *
 * A set is immutable once published: sorted keys (binary search on the
 * handshake path) and their names. The slot holds the current set behind an
 * atomic pointer. Readers (handshakes, on reactor threads) announce
 * themselves in a counter before loading the pointer and leave after the
 * lookup; a writer swaps the pointer, then waits until the counter has been
 * seen at zero before freeing the set it replaced. A reader that arrives
 * after the swap can only load the new set, so one observed zero is a grace
 * period for the old one. Readers hold the counter for a binary search, so a
 * writer waits microseconds; readers never wait. Retired sets are freed at
 * once: memory stays one set (two during a swap).
 */
#ifndef RW_ALLOWLIST_H
#define RW_ALLOWLIST_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringwire.h"

struct rw__allowset {
	size_t n;
	uint8_t (*keys)[RW_KEY_SIZE];	/* sorted by memcmp */
	char **names;			/* names[i] for keys[i], NULL when unnamed */
};

struct rw__allow_slot {
	_Atomic(struct rw__allowset *) cur;	/* NULL: no list */
	atomic_uint readers;
	pthread_mutex_t wlock;			/* one writer at a time */
};

/* Copy n keys (names may be NULL, or hold NULLs) into a new sorted set. NULL when out of memory. */
struct rw__allowset *rw__allowset_new(const uint8_t (*keys)[RW_KEY_SIZE], const char *const *names, size_t n);
void rw__allowset_free(struct rw__allowset *set);
/* The index of key in set, or -1. */
long rw__allowset_find(const struct rw__allowset *set, const uint8_t key[RW_KEY_SIZE]);

void rw__allow_slot_init(struct rw__allow_slot *slot);
/* Free the current set (no reader may be running). */
void rw__allow_slot_destroy(struct rw__allow_slot *slot);
/* Any thread: 1 key is on the list, 0 it is not, -1 there is no list. Wait-free. */
int rw__allow_check(struct rw__allow_slot *slot, const uint8_t key[RW_KEY_SIZE]);
/*
 * Any thread but a reader's own: publish set (NULL: no list), wait out the
 * readers of the old one and free it.
 */
void rw__allow_swap(struct rw__allow_slot *slot, struct rw__allowset *set);
/* Whether a list is set, and its size (for metrics). */
bool rw__allow_size(struct rw__allow_slot *slot, size_t *n);

/*
 * Parse an allow-list from text (what rw_allowlist_load reads): name is the
 * file name used in messages ("allow.txt:7: ...").
 */
int rw__allowlist_parse(const char *name, const char *text, size_t len, struct rw_allowlist *out, char *err,
			size_t errlen);

#endif
