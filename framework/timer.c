/* SPDX-License-Identifier: MIT */
/*
 * timer.c - hierarchical timer wheel (see timer.h for the layout).
 *
 * Invariants, with now = w->next_tick (the first unprocessed tick):
 *  - a level-0 timer expires in [now, now + 255], so its slot (expires & 255)
 *    names its tick unambiguously;
 *  - a level-k timer (k >= 1) sits in the slot that is cascaded at the first
 *    tick >= now that is a multiple of 2^shift(k) with the slot's index, and
 *    that tick is <= its expiry.
 * Both hold because placement is always relative to next_tick, next_tick only
 * moves forward, and advance never skips a tick that fires or cascades a
 * non-empty slot. The non-empty-slot bitmaps are what make skipping (and
 * next_ms) cheap: an idle wheel advanced by an hour does a few dozen steps,
 * not 3.6 million.
 */
#include "timer.h"

#include <string.h>

#include "wire.h"

#define L0_MASK (RW_TIMER_L0_SLOTS - 1)
#define LN_MASK (RW_TIMER_LN_SLOTS - 1)

/* Tick granularity of level k >= 1, as a shift. */
static inline unsigned level_shift(unsigned k)
{
	return RW_TIMER_L0_BITS + (k - 1) * RW_TIMER_LN_BITS;
}

static inline unsigned level_base(unsigned k)
{
	return RW_TIMER_L0_SLOTS + (k - 1) * RW_TIMER_LN_SLOTS;
}

static inline void list_init(struct rw_timer_link *h)
{
	h->next = h;
	h->prev = h;
}

static inline bool list_empty(const struct rw_timer_link *h)
{
	return h->next == h;
}

static inline void list_add_tail(struct rw_timer_link *h, struct rw_timer_link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}

static inline void list_del(struct rw_timer_link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->next = NULL;
	n->prev = NULL;
}

/* Move every node of src to the (empty) dst; src ends up empty. */
static inline void list_splice_init(struct rw_timer_link *src, struct rw_timer_link *dst)
{
	if (list_empty(src)) {
		list_init(dst);
		return;
	}
	dst->next = src->next;
	dst->prev = src->prev;
	dst->next->prev = dst;
	dst->prev->next = dst;
	list_init(src);
}

static inline void map_set(struct rw_timer_wheel *w, unsigned slot)
{
	if (slot < RW_TIMER_L0_SLOTS)
		w->l0_map[slot >> 6] |= UINT64_C(1) << (slot & 63);
	else
		w->ln_map[(slot - RW_TIMER_L0_SLOTS) >> RW_TIMER_LN_BITS] |= UINT64_C(1) << (slot & LN_MASK);
}

static inline void map_clear(struct rw_timer_wheel *w, unsigned slot)
{
	if (slot < RW_TIMER_L0_SLOTS)
		w->l0_map[slot >> 6] &= ~(UINT64_C(1) << (slot & 63));
	else
		w->ln_map[(slot - RW_TIMER_L0_SLOTS) >> RW_TIMER_LN_BITS] &= ~(UINT64_C(1) << (slot & LN_MASK));
}

/* Pick the slot for t relative to next_tick and link it there. */
static void place(struct rw_timer_wheel *w, struct rw_timer *t)
{
	uint64_t now = w->next_tick;
	uint64_t e = t->expires < now ? now : t->expires;
	uint64_t d = e - now;
	unsigned slot, k;

	if (d < RW_TIMER_L0_SLOTS) {
		slot = (unsigned)(e & L0_MASK);
	} else {
		/*
		 * The top level also takes deltas beyond its 2^32 ms span: its
		 * slot then comes up (within 2^32 ms, so before the expiry) and
		 * the cascade re-places the timer from its true expiry.
		 */
		for (k = 1; k < RW_TIMER_LEVELS - 1; k++)
			if (d < UINT64_C(1) << (level_shift(k) + RW_TIMER_LN_BITS))
				break;
		slot = level_base(k) + (unsigned)((e >> level_shift(k)) & LN_MASK);
	}
	t->slot = (uint16_t)slot;
	list_add_tail(&w->slot[slot], &t->link);
	map_set(w, slot);
}

void rw__timer_wheel_init(struct rw_timer_wheel *w, uint64_t now_ms)
{
	unsigned i;

	memset(w, 0, sizeof(*w));
	w->next_tick = now_ms + 1;
	for (i = 0; i < RW_TIMER_SLOTS; i++)
		list_init(&w->slot[i]);
}

void rw__timer_init(struct rw_timer *t, rw_timer_fn fn)
{
	t->link.next = NULL;
	t->link.prev = NULL;
	t->expires = 0;
	t->fn = fn;
	t->slot = RW_TIMER_IDLE;
}

bool rw__timer_cancel(struct rw_timer_wheel *w, struct rw_timer *t)
{
	unsigned slot = t->slot;

	if (slot == RW_TIMER_IDLE)
		return false;
	list_del(&t->link);
	/* A RUNNING timer sits on advance's private list, which has no bit. */
	if (slot != RW_TIMER_RUNNING && list_empty(&w->slot[slot]))
		map_clear(w, slot);
	t->slot = RW_TIMER_IDLE;
	w->count--;
	return true;
}

void rw__timer_add(struct rw_timer_wheel *w, struct rw_timer *t, uint64_t expires_ms)
{
	rw__timer_cancel(w, t);
	t->expires = expires_ms;
	place(w, t);
	w->count++;
}

void rw__timer_add_in(struct rw_timer_wheel *w, struct rw_timer *t, uint64_t delay_ms)
{
	uint64_t now = rw__timer_wheel_now(w);

	/* Saturate: "never" must not wrap into the past. */
	rw__timer_add(w, t, delay_ms > UINT64_MAX - now ? UINT64_MAX : now + delay_ms);
}

/* First set bit of a 64-bit map at or after start, cyclically; map != 0. */
static inline unsigned first_cyclic64(uint64_t map, unsigned start)
{
	uint64_t hi = map & (~UINT64_C(0) << start);

	return (unsigned)__builtin_ctzll(hi ? hi : map);
}

/* Same over the 256-bit level-0 map; returns the distance from start. */
static unsigned l0_distance(const struct rw_timer_wheel *w, unsigned start)
{
	unsigned word = start >> 6, i;
	uint64_t m = w->l0_map[word] & (~UINT64_C(0) << (start & 63));

	for (i = 0; i <= RW_TIMER_L0_SLOTS / 64; i++) {
		if (m) {
			unsigned idx = (word << 6) + (unsigned)__builtin_ctzll(m);

			return (idx - start) & L0_MASK;
		}
		word = (word + 1) & (RW_TIMER_L0_SLOTS / 64 - 1);
		m = w->l0_map[word];
	}
	return RW_TIMER_L0_SLOTS;	/* not reached when the map is non-empty */
}

/*
 * The first tick >= next_tick at which advance has something to do: fire a
 * level-0 slot or cascade a non-empty coarser slot. UINT64_MAX if none.
 */
static uint64_t next_event(const struct rw_timer_wheel *w)
{
	uint64_t now = w->next_tick, best = UINT64_MAX;
	unsigned k, i;

	for (i = 0; i < RW_TIMER_L0_SLOTS / 64; i++) {
		if (w->l0_map[i]) {
			best = now + l0_distance(w, (unsigned)(now & L0_MASK));
			break;
		}
	}
	for (k = 1; k < RW_TIMER_LEVELS; k++) {
		uint64_t map = w->ln_map[k - 1], c, at;
		unsigned s = level_shift(k), start, j;

		if (!map)
			continue;
		/* The next cascade point of this level, then the first used slot from it. */
		c = ((now + (UINT64_C(1) << s) - 1) >> s) << s;
		start = (unsigned)((c >> s) & LN_MASK);
		j = first_cyclic64(map, start);
		at = c + ((uint64_t)((j - start) & LN_MASK) << s);
		if (at < best)
			best = at;
	}
	return best;
}

/* Re-place every timer of one coarse slot relative to the current tick. */
static void cascade_slot(struct rw_timer_wheel *w, unsigned slot)
{
	struct rw_timer_link list;

	if (list_empty(&w->slot[slot]))
		return;
	list_splice_init(&w->slot[slot], &list);
	map_clear(w, slot);
	while (!list_empty(&list)) {
		struct rw_timer *t = rw_container_of(list.next, struct rw_timer, link);

		list_del(&t->link);
		place(w, t);
	}
}

/* Tick t (a multiple of 256, next_tick == t): pull coarse slots down. */
static void cascade(struct rw_timer_wheel *w, uint64_t t)
{
	unsigned k;

	for (k = 1; k < RW_TIMER_LEVELS; k++) {
		unsigned idx = (unsigned)((t >> level_shift(k)) & LN_MASK);

		cascade_slot(w, level_base(k) + idx);
		/* The next level only turns over when this one wraps to 0. */
		if (idx)
			break;
	}
}

unsigned rw__timer_wheel_advance(struct rw_timer_wheel *w, uint64_t now_ms)
{
	unsigned fired = 0;

	if (rw_unlikely(w->advancing))
		return 0;
	w->advancing = true;
	while (w->next_tick <= now_ms) {
		uint64_t t = next_event(w);
		struct rw_timer_link work;
		unsigned idx;

		if (t > now_ms) {
			w->next_tick = now_ms + 1;
			break;
		}
		w->next_tick = t;
		if ((t & L0_MASK) == 0)
			cascade(w, t);
		idx = (unsigned)(t & L0_MASK);
		/*
		 * Time moves to t before any callback runs, so a timer re-added
		 * for "now" lands in tick t + 1, not in the list being fired.
		 */
		w->next_tick = t + 1;
		list_splice_init(&w->slot[idx], &work);
		map_clear(w, idx);
		for (struct rw_timer_link *l = work.next; l != &work; l = l->next)
			rw_container_of(l, struct rw_timer, link)->slot = RW_TIMER_RUNNING;
		/* Pop one at a time: a callback may cancel any timer still on work. */
		while (!list_empty(&work)) {
			struct rw_timer *tm = rw_container_of(work.next, struct rw_timer, link);

			list_del(&tm->link);
			tm->slot = RW_TIMER_IDLE;
			w->count--;
			fired++;
			tm->fn(tm, t);
		}
	}
	w->advancing = false;
	return fired;
}

int64_t rw__timer_wheel_next_ms(const struct rw_timer_wheel *w)
{
	uint64_t t;

	if (!w->count)
		return -1;
	t = next_event(w);
	if (t == UINT64_MAX)
		return -1;	/* only RUNNING timers left: they fire in this advance */
	t -= w->next_tick - 1;
	return t > INT64_MAX ? INT64_MAX : (int64_t)t;
}
