/* SPDX-License-Identifier: MIT */
/*
 * timer.h - a hierarchical timer wheel with millisecond ticks, one per reactor.
 *
 * Sessions need many timers (rekey, keepalive, retransmit, ack delay) that are
 * armed and cancelled far more often than they fire. A kernel timer or a heap
 * entry per session costs a syscall or O(log n) per re-arm; the wheel makes
 * add and cancel O(1) and lets the reactor sleep exactly until the next tick
 * that has work.
 *
 * Layout: level 0 has 256 slots of 1 ms; levels 1-4 have 64 slots each, every
 * level 64 times coarser (256 ms, 16.4 s, 17.5 min, 18.6 h per slot), so one
 * placement covers up to 2^32 ms (49.7 days). A timer further out is parked in
 * the top level and re-placed when its slot comes up; it still fires on time.
 * Coarse slots cascade into finer ones as time reaches them, so every timer
 * fires at its exact millisecond (never early, and late only by how late the
 * caller advances the wheel).
 *
 * Timers are intrusive: embed struct rw_timer in the owning object and get
 * back to it in the callback with rw_container_of. Nothing here allocates or
 * locks; a wheel belongs to one thread.
 */
#ifndef RW_TIMER_H
#define RW_TIMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifndef rw_container_of
#define rw_container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#endif

struct rw_timer;

/** Called once when the timer expires; now_ms is the tick being processed. */
typedef void (*rw_timer_fn)(struct rw_timer *t, uint64_t now_ms);

/** Doubly linked list links; a slot head is a struct rw_timer_link too. */
struct rw_timer_link {
	struct rw_timer_link *next, *prev;
};

/**
 * One timer. Initialise with rw__timer_init before first use; after that it
 * may be added, cancelled and re-added any number of times. All fields are
 * private to timer.c.
 */
struct rw_timer {
	struct rw_timer_link link;	/* first: a link pointer is a timer pointer */
	uint64_t expires;		/* absolute expiry, ms */
	rw_timer_fn fn;
	uint16_t slot;			/* wheel slot, or RW_TIMER_IDLE / RW_TIMER_RUNNING */
};

enum {
	RW_TIMER_L0_BITS = 8,
	RW_TIMER_LN_BITS = 6,
	RW_TIMER_LEVELS = 5,
	RW_TIMER_L0_SLOTS = 1 << RW_TIMER_L0_BITS,
	RW_TIMER_LN_SLOTS = 1 << RW_TIMER_LN_BITS,
	RW_TIMER_SLOTS = RW_TIMER_L0_SLOTS + (RW_TIMER_LEVELS - 1) * RW_TIMER_LN_SLOTS,
	RW_TIMER_IDLE = 0xffff,		/* not queued */
	RW_TIMER_RUNNING = 0xfffe,	/* taken off the wheel by advance, about to fire */
};

/** The wheel. Private fields; embed it or allocate it, then rw__timer_wheel_init. */
struct rw_timer_wheel {
	uint64_t next_tick;		/* first tick not yet processed (now + 1) */
	size_t count;			/* timers queued (not counting RUNNING) */
	bool advancing;
	uint64_t l0_map[RW_TIMER_L0_SLOTS / 64];	/* non-empty slot bits */
	uint64_t ln_map[RW_TIMER_LEVELS - 1];
	struct rw_timer_link slot[RW_TIMER_SLOTS];
};

/** Prepare a wheel whose current time is now_ms. */
void rw__timer_wheel_init(struct rw_timer_wheel *w, uint64_t now_ms);

/**
 * Prepare a timer (idle, not queued). Must not be called on a queued timer.
 */
void rw__timer_init(struct rw_timer *t, rw_timer_fn fn);

/**
 * Queue t to fire at absolute time expires_ms (re-arms it if already queued,
 * O(1)). A timer due at or before the wheel's current time fires on the next
 * tick, never inside this call: a callback that re-adds itself with no delay
 * cannot loop forever within one advance.
 */
void rw__timer_add(struct rw_timer_wheel *w, struct rw_timer *t, uint64_t expires_ms);

/** Queue t to fire delay_ms after the wheel's current time. */
void rw__timer_add_in(struct rw_timer_wheel *w, struct rw_timer *t, uint64_t delay_ms);

/**
 * Cancel t, O(1). Returns true if it was queued (it will not fire now), false
 * if it was idle. Safe on any timer of this wheel at any time, including from
 * a callback during advance (on itself or on a timer due in the same tick).
 */
bool rw__timer_cancel(struct rw_timer_wheel *w, struct rw_timer *t);

/** True while t is queued. */
static inline bool rw__timer_pending(const struct rw_timer *t)
{
	return t->slot != RW_TIMER_IDLE;
}

/** The wheel's current time: the last now_ms given to advance (or init). */
static inline uint64_t rw__timer_wheel_now(const struct rw_timer_wheel *w)
{
	return w->next_tick - 1;
}

/** Timers queued. */
static inline size_t rw__timer_wheel_count(const struct rw_timer_wheel *w)
{
	return w->count;
}

/**
 * Process every tick up to and including now_ms, firing the timers due, in
 * expiry order (same-tick timers in the order they reached the tick).
 * Callbacks may add, re-add or cancel any timer, including themselves, and may
 * free their own timer. A now_ms earlier than the current time does nothing.
 * Must not be called from a callback. Returns the number of timers fired.
 */
unsigned rw__timer_wheel_advance(struct rw_timer_wheel *w, uint64_t now_ms);

/**
 * How long (ms, from the wheel's current time) the owner may sleep before it
 * must call advance again: the next expiry, or an earlier internal cascade
 * point (at most one spurious wake per coarse slot). -1 when no timer is
 * queued. Always >= 1 otherwise.
 */
int64_t rw__timer_wheel_next_ms(const struct rw_timer_wheel *w);

#endif
