/* SPDX-License-Identifier: MIT */
/*
 * replay.c - 4096-counter sliding window (docs/protocol.md §8); see replay.h for why the
 * ring clears bits rather than words.
 */
#include <string.h>

#include "replay.h"

enum {
	WINDOW_MASK = RW_REPLAY_WINDOW - 1,
};

_Static_assert((RW_REPLAY_WINDOW & WINDOW_MASK) == 0, "window is a power of two");

static const char *const verdict_str[RW_REPLAY_VERDICT_COUNT] = {
	[RW_REPLAY_OK] = "ok",
	[RW_REPLAY_TOO_OLD] = "counter too old",
	[RW_REPLAY_DUPLICATE] = "counter replayed",
	[RW_REPLAY_LIMIT] = "counter at limit",
};

const char *rw__replay_verdict_str(enum rw_replay_verdict v)
{
	if ((unsigned)v >= RW_REPLAY_VERDICT_COUNT)
		return "unknown replay verdict";
	return verdict_str[v];
}

void rw__replay_init(struct rw_replay *r)
{
	memset(r, 0, sizeof(*r));
}

static uint64_t bit(uint64_t counter)
{
	return UINT64_C(1) << (counter & 63);
}

static unsigned word(uint64_t counter)
{
	return (unsigned)((counter & WINDOW_MASK) >> 6);
}

enum rw_replay_verdict rw__replay_classify(const struct rw_replay *r, uint64_t counter)
{
	if (rw_unlikely(counter >= RW_REPLAY_REJECT_AFTER))
		return RW_REPLAY_LIMIT;
	if (rw_likely(counter >= r->next))
		return RW_REPLAY_OK;
	/* counter < next here, so the difference cannot wrap */
	if (r->next - counter > RW_REPLAY_WINDOW)
		return RW_REPLAY_TOO_OLD;
	if (r->bits[word(counter)] & bit(counter))
		return RW_REPLAY_DUPLICATE;
	return RW_REPLAY_OK;
}

/*
 * Clear the bits of the n counters from..from+n-1 (n < 4096): they held
 * counters 4096 lower, which drop out of the window as head reaches them.
 * In-order traffic clears a single bit; a jump costs a word per 64.
 */
static void clear_span(struct rw_replay *r, uint64_t from, uint64_t n)
{
	unsigned pos = (unsigned)(from & WINDOW_MASK);

	while (n) {
		unsigned shift = pos & 63;
		unsigned take = 64 - shift < n ? 64 - shift : (unsigned)n;
		uint64_t mask = take == 64 ? UINT64_MAX : ((UINT64_C(1) << take) - 1) << shift;

		r->bits[pos >> 6] &= ~mask;
		pos = (pos + take) & WINDOW_MASK;
		n -= take;
	}
}

enum rw_replay_verdict rw__replay_update(struct rw_replay *r, uint64_t counter)
{
	enum rw_replay_verdict v = rw__replay_classify(r, counter);

	if (v != RW_REPLAY_OK)
		return v;
	if (counter >= r->next) {
		uint64_t advance = counter - r->next + 1;	/* counters next..counter */

		if (advance >= RW_REPLAY_WINDOW)
			memset(r->bits, 0, sizeof(r->bits));
		else
			clear_span(r, r->next, advance);
		r->next = counter + 1;	/* no overflow: counter < UINT64_MAX */
	}
	r->bits[word(counter)] |= bit(counter);
	return RW_REPLAY_OK;
}
