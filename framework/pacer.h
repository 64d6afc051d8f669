/* SPDX-License-Identifier: MIT */
/*
 * pacer.h - the optional per-session send rate limit (docs/protocol.md §7.8):
 * a token bucket in bytes per second with a burst of twice the
 * rate. A packet that finds too few tokens waits, as plaintext, in a bounded
 * FIFO (it is sealed only when it leaves, so counters stay in send order);
 * the caller asks how long until the head may go and arms a timer, so the
 * reactor never sleeps. Pure logic: time is passed in.
 */
#ifndef RW_PACER_H
#define RW_PACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rw_pacer_pkt {
	struct rw_pacer_pkt *next;
	size_t len;		/* plaintext bytes */
	size_t cost;		/* bytes on the wire, charged to the bucket */
	uint8_t type;
	uint8_t plain[];
};

struct rw_pacer {
	uint64_t rate;		/* bytes per second; 0: no limit */
	uint64_t burst;		/* bucket size: 2 x rate */
	uint64_t tokens_milli;	/* bytes x 1000, so slow rates refill smoothly */
	uint64_t last_ms;
	struct rw_pacer_pkt *head, *tail;
	size_t queued;		/* bytes waiting */
	size_t limit;		/* above this, senders get -EAGAIN */
};

void rw__pacer_init(struct rw_pacer *p, uint64_t rate, uint64_t now_ms);
void rw__pacer_destroy(struct rw_pacer *p);
/* May cost bytes go now? Takes the tokens if so. Never while packets wait (FIFO). */
bool rw__pacer_admit(struct rw_pacer *p, size_t cost, uint64_t now_ms);
/* Queue a packet's plaintext; -ENOMEM. The limit is the caller's to check. */
int rw__pacer_enqueue(struct rw_pacer *p, uint8_t type, const uint8_t *plain, size_t len, size_t cost);
/* The head, with its tokens taken, if it may go now; the caller frees it. */
struct rw_pacer_pkt *rw__pacer_pop(struct rw_pacer *p, uint64_t now_ms);
/* Milliseconds until the head may go (0 if nothing waits or it may go now). */
uint64_t rw__pacer_wait_ms(struct rw_pacer *p, uint64_t now_ms);
static inline bool rw__pacer_full(const struct rw_pacer *p)
{
	return p->queued >= p->limit;
}

#endif
