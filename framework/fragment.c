/* SPDX-License-Identifier: MIT */
/*
 * fragment.c - fragmenter and per-session reassembler (docs/protocol.md §4.7, §9). The
 * rules the spec leaves open are listed in fragment.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fragment.h"

/* ---- sending --------------------------------------------------------- */

int rw__frag_plan(struct rw_frag_plan *p, size_t frame_len, size_t max_packet)
{
	memset(p, 0, sizeof(*p));
	/* a UDP payload is at most 65535 bytes; this also keeps lengths in an int */
	if (frame_len == 0 || max_packet <= RW_FRAG_OVERHEAD || max_packet > UINT16_MAX)
		return -EINVAL;
	p->frame_len = frame_len;
	p->chunk = max_packet - RW_FRAG_OVERHEAD;
	if (frame_len <= p->chunk) {
		p->count = 1;
		return 0;
	}
	uint64_t count = ((uint64_t)frame_len - 1) / p->chunk + 1;
	if (count > RW_MAX_FRAGMENTS)
		return -EMSGSIZE;
	p->count = (unsigned)count;
	p->fragmented = true;
	return 0;
}

size_t rw__frag_chunk_len(const struct rw_frag_plan *p, unsigned index)
{
	if (!p->fragmented || index >= p->count)
		return 0;
	if (index + 1 < p->count)
		return p->chunk;
	return p->frame_len - (size_t)index * p->chunk;
}

void rw__frag_put_header(uint8_t out[RW_SIZE_FRAGMENT_HEADER], uint32_t frame_id, uint16_t index, uint16_t count)
{
	rw_put_le32(out + RW_FRAG_OFF_FRAME_ID, frame_id);
	rw_put_le16(out + RW_FRAG_OFF_INDEX, index);
	rw_put_le16(out + RW_FRAG_OFF_COUNT, count);
}

int rw__frag_write(const struct rw_frag_plan *p, const uint8_t *frame, uint32_t frame_id, unsigned index,
		   uint8_t *out, size_t cap)
{
	size_t n = rw__frag_chunk_len(p, index);

	if (n == 0)
		return -EINVAL;
	if (cap < RW_FRAG_OFF_DATA || cap - RW_FRAG_OFF_DATA < n)
		return -ENOSPC;
	rw__frag_put_header(out, frame_id, (uint16_t)index, (uint16_t)p->count);
	memcpy(out + RW_FRAG_OFF_DATA, frame + (size_t)index * p->chunk, n);
	return (int)(RW_FRAG_OFF_DATA + n);
}

void rw__frag_ids_init(struct rw_frag_ids *ids)
{
	ids->next = 1;
}

uint32_t rw__frag_ids_next(struct rw_frag_ids *ids)
{
	/* 0 never names a frame, after a wrap either (a session rekeys long before) */
	if (ids->next == 0)
		ids->next = 1;
	return ids->next++;
}

/* ---- receiving ------------------------------------------------------- */

enum slot_state {
	SLOT_FREE = 0,
	SLOT_OPEN,		/* collecting fragments */
	SLOT_DEAD,		/* given up on: only frame_id and the time are kept */
};

struct rw_reasm_slot {
	uint8_t *data;		/* frame bytes, grown as fragments arrive */
	size_t cap;
	uint64_t *seen;		/* one bit per fragment index */
	uint8_t *stash;		/* the last fragment, while chunk is unknown */
	size_t stash_len;
	size_t chunk;		/* size of non-last fragments; 0 until one arrives */
	size_t total;		/* frame length, once the last fragment is placed */
	uint64_t touched_ms;
	uint32_t frame_id;
	uint16_t count;
	uint16_t have;
	uint8_t state;
};

static const char *const err_str[RW_REASM_ERR_COUNT] = {
	[RW_REASM_OK] = "ok",
	[RW_REASM_SHORT] = "fragment shorter than its sub-header",
	[RW_REASM_EMPTY] = "fragment without data",
	[RW_REASM_COUNT_ZERO] = "fragment count 0",
	[RW_REASM_INDEX_RANGE] = "fragment index >= count",
	[RW_REASM_COUNT_MISMATCH] = "fragment count conflicts with the frame's",
	[RW_REASM_LENGTH_MISMATCH] = "fragment length conflicts with the frame's chunk size",
	[RW_REASM_DUPLICATE] = "duplicate fragment",
	[RW_REASM_TABLE_FULL] = "too many partial frames",
	[RW_REASM_TOO_BIG] = "reassembled frame too big",
	[RW_REASM_NO_MEMORY] = "reassembly memory exhausted",
	[RW_REASM_DISCARDED] = "fragment of a discarded frame",
};

static const short err_errno[RW_REASM_ERR_COUNT] = {
	[RW_REASM_SHORT] = EBADMSG,
	[RW_REASM_EMPTY] = EBADMSG,
	[RW_REASM_COUNT_ZERO] = EBADMSG,
	[RW_REASM_INDEX_RANGE] = EBADMSG,
	[RW_REASM_COUNT_MISMATCH] = EBADMSG,
	[RW_REASM_LENGTH_MISMATCH] = EBADMSG,
	[RW_REASM_DUPLICATE] = EALREADY,
	[RW_REASM_TABLE_FULL] = ENOBUFS,
	[RW_REASM_TOO_BIG] = EMSGSIZE,
	[RW_REASM_NO_MEMORY] = ENOMEM,
	[RW_REASM_DISCARDED] = ECANCELED,
};

const char *rw__reasm_err_str(enum rw_reasm_err e)
{
	if ((unsigned)e >= RW_REASM_ERR_COUNT)
		return "unknown reassembly error";
	return err_str[e];
}

static int reject(struct rw_reasm *r, enum rw_reasm_err e)
{
	r->err = e;
	return -err_errno[e];
}

static size_t seen_bytes(unsigned count)
{
	return (count + 63) / 64 * sizeof(uint64_t);
}

static bool charge(struct rw_reasm *r, size_t n)
{
	if (n > r->max_memory - r->memory)
		return false;
	r->memory += n;
	return true;
}

static void release_done(struct rw_reasm *r)
{
	if (!r->done)
		return;
	free(r->done);
	r->memory -= r->done_size;
	r->done = NULL;
	r->done_size = 0;
}

static void slot_drop_buffers(struct rw_reasm *r, struct rw_reasm_slot *s)
{
	free(s->data);
	free(s->seen);
	free(s->stash);
	r->memory -= s->cap + (s->seen ? seen_bytes(s->count) : 0) + s->stash_len;
	s->data = NULL;
	s->seen = NULL;
	s->stash = NULL;
	s->cap = s->stash_len = 0;
}

static void slot_clear(struct rw_reasm *r, struct rw_reasm_slot *s)
{
	slot_drop_buffers(r, s);
	memset(s, 0, sizeof(*s));
	r->used--;
}

/*
 * Give up on a frame that can no longer complete: free its memory now, keep
 * its frame_id so the rest of its fragments are dropped without cost.
 */
static int slot_discard(struct rw_reasm *r, struct rw_reasm_slot *s, enum rw_reasm_err why)
{
	slot_drop_buffers(r, s);
	s->state = SLOT_DEAD;
	return reject(r, why);
}

static struct rw_reasm_slot *slot_find(struct rw_reasm *r, uint32_t frame_id)
{
	for (unsigned i = 0; r->used && i < r->nslots; i++) {
		struct rw_reasm_slot *s = &r->slots[i];
		if (s->state != SLOT_FREE && s->frame_id == frame_id)
			return s;
	}
	return NULL;
}

static unsigned reclaim(struct rw_reasm *r, uint64_t now_ms, uint64_t max_age_ms)
{
	unsigned n = 0;

	for (unsigned i = 0; r->used && i < r->nslots; i++) {
		struct rw_reasm_slot *s = &r->slots[i];
		if (s->state != SLOT_FREE && now_ms > s->touched_ms && now_ms - s->touched_ms > max_age_ms) {
			slot_clear(r, s);
			n++;
		}
	}
	return n;
}

/*
 * Free the partial frames idle longest (never keep) until n more bytes fit
 * the budget. As with a full table: under loss the old partials are the
 * ones that can no longer complete, and a peer can only evict its own.
 */
static void make_room(struct rw_reasm *r, const struct rw_reasm_slot *keep, size_t n, uint64_t now_ms)
{
	while (r->slots && n > r->max_memory - r->memory) {
		struct rw_reasm_slot *lru = NULL;

		/* only stalled partials: two live frames must not evict each other in turn */
		for (unsigned i = 0; i < r->nslots; i++) {
			struct rw_reasm_slot *x = &r->slots[i];

			if (x != keep && x->state == SLOT_OPEN && now_ms >= x->touched_ms + RW_REASM_STALL_MS &&
			    (!lru || x->touched_ms < lru->touched_ms))
				lru = x;
		}
		if (!lru)
			return;
		slot_clear(r, lru);
		r->evicted++;
	}
}

static struct rw_reasm_slot *slot_new(struct rw_reasm *r, uint32_t frame_id, uint16_t count, uint64_t now_ms,
				      enum rw_reasm_err *why)
{
	struct rw_reasm_slot *s = NULL;

	/* the table costs nothing to sessions that never see a fragment */
	if (!r->slots) {
		r->slots = calloc(r->nslots, sizeof(*r->slots));
		if (!r->slots) {
			*why = RW_REASM_NO_MEMORY;
			return NULL;
		}
	}
	if (r->used == r->nslots && !reclaim(r, now_ms, r->max_age_ms)) {
		/*
		 * Full of partial frames: give up the one idle longest. v1 never
		 * resends a single fragment, only whole frames under a new id
		 * (reliable retransmission), so under loss the oldest partials
		 * are the ones that can no longer complete; refusing the newest
		 * instead would stall every large frame until the age limit.
		 */
		struct rw_reasm_slot *lru = NULL;

		for (unsigned i = 0; i < r->nslots; i++)
			if (r->slots[i].state != SLOT_FREE && (!lru || r->slots[i].touched_ms < lru->touched_ms))
				lru = &r->slots[i];
		if (!lru) {
			*why = RW_REASM_TABLE_FULL;
			return NULL;
		}
		slot_clear(r, lru);
		r->evicted++;
	}
	for (unsigned i = 0; i < r->nslots; i++) {
		if (r->slots[i].state == SLOT_FREE) {
			s = &r->slots[i];
			break;
		}
	}
	make_room(r, NULL, seen_bytes(count), now_ms);
	if (!charge(r, seen_bytes(count))) {
		*why = RW_REASM_NO_MEMORY;
		return NULL;
	}
	s->seen = calloc(1, seen_bytes(count));
	if (!s->seen) {
		r->memory -= seen_bytes(count);
		*why = RW_REASM_NO_MEMORY;
		return NULL;
	}
	s->frame_id = frame_id;
	s->count = count;
	s->touched_ms = now_ms;
	s->state = SLOT_OPEN;
	r->used++;
	return s;
}

/* Grow s->data to hold need bytes, doubling so in-order arrival reallocates rarely. */
static bool slot_reserve(struct rw_reasm *r, struct rw_reasm_slot *s, size_t need, uint64_t now_ms)
{
	if (need <= s->cap)
		return true;

	/* callers checked need against the frame's bound */
	uint64_t bound = s->total ? s->total : (uint64_t)s->count * s->chunk;
	if (bound > r->max_frame)
		bound = r->max_frame;
	size_t want = s->cap * 2 > need ? s->cap * 2 : need;
	if (want > bound)
		want = (size_t)bound;
	if (want - s->cap > r->max_memory - r->memory)
		want = need;
	if (want - s->cap > r->max_memory - r->memory)
		make_room(r, s, want - s->cap, now_ms);
	if (want - s->cap > r->max_memory - r->memory)
		return false;

	uint8_t *p = realloc(s->data, want);
	if (!p)
		return false;
	r->memory += want - s->cap;
	s->data = p;
	s->cap = want;
	return true;
}

int rw__reasm_init(struct rw_reasm *r, const struct rw_reasm_cfg *cfg)
{
	static const struct rw_reasm_cfg defaults;

	if (!cfg)
		cfg = &defaults;
	memset(r, 0, sizeof(*r));
	r->nslots = cfg->max_incomplete ? cfg->max_incomplete : RW_DEFAULT_MAX_INCOMPLETE_FRAMES;
	r->max_frame = cfg->max_frame ? cfg->max_frame : RW_REASM_DEFAULT_MAX_FRAME;
	r->max_memory = cfg->max_memory;
	if (!r->max_memory)
		r->max_memory = r->max_frame > RW_REASM_DEFAULT_MAX_MEMORY ? r->max_frame : RW_REASM_DEFAULT_MAX_MEMORY;
	r->max_age_ms = cfg->max_age_ms ? cfg->max_age_ms : RW_REASM_DEFAULT_MAX_AGE_MS;
	if (r->nslots > RW_REASM_MAX_SLOTS || r->max_memory < r->max_frame)
		return -EINVAL;
	return 0;
}

void rw__reasm_destroy(struct rw_reasm *r)
{
	release_done(r);
	for (unsigned i = 0; r->slots && i < r->nslots; i++)
		if (r->slots[i].state != SLOT_FREE)
			slot_clear(r, &r->slots[i]);
	free(r->slots);
	memset(r, 0, sizeof(*r));
}

unsigned rw__reasm_expire(struct rw_reasm *r, uint64_t now_ms, uint64_t max_age_ms)
{
	release_done(r);
	return reclaim(r, now_ms, max_age_ms);
}

unsigned rw__reasm_pending(const struct rw_reasm *r)
{
	return r->used;
}

/* A non-last fragment tells the chunk size; a stashed last fragment can then go in place. */
static int learn_chunk(struct rw_reasm *r, struct rw_reasm_slot *s, size_t dlen)
{
	uint64_t last = s->stash ? s->stash_len : 1;

	if (s->stash_len > dlen)
		return reject(r, RW_REASM_LENGTH_MISMATCH);
	if ((uint64_t)(s->count - 1) * dlen + last > r->max_frame)
		return slot_discard(r, s, RW_REASM_TOO_BIG);
	s->chunk = dlen;
	if (s->stash) {
		size_t total = (size_t)(s->count - 1) * dlen + s->stash_len;

		if (!slot_reserve(r, s, total, s->touched_ms))
			return slot_discard(r, s, RW_REASM_NO_MEMORY);
		memcpy(s->data + (total - s->stash_len), s->stash, s->stash_len);
		free(s->stash);
		r->memory -= s->stash_len;
		s->stash = NULL;
		s->stash_len = 0;
		s->total = total;
	}
	return 0;
}

int rw__reasm_add(struct rw_reasm *r, const uint8_t *plain, size_t len, uint64_t now_ms, const uint8_t **frame,
		  size_t *frame_len)
{
	release_done(r);
	r->err = RW_REASM_OK;
	if (len < RW_FRAG_OFF_DATA)
		return reject(r, RW_REASM_SHORT);

	uint32_t id = rw_le32(plain + RW_FRAG_OFF_FRAME_ID);
	uint16_t index = rw_le16(plain + RW_FRAG_OFF_INDEX);
	uint16_t count = rw_le16(plain + RW_FRAG_OFF_COUNT);
	const uint8_t *data = plain + RW_FRAG_OFF_DATA;
	size_t dlen = len - RW_FRAG_OFF_DATA;
	bool last = index + 1 == count;
	enum rw_reasm_err why;
	size_t off;
	int ret;

	if (count == 0)
		return reject(r, RW_REASM_COUNT_ZERO);
	if (index >= count)
		return reject(r, RW_REASM_INDEX_RANGE);
	if (dlen == 0)
		return reject(r, RW_REASM_EMPTY);

	struct rw_reasm_slot *s = slot_find(r, id);
	if (s) {
		if (s->state == SLOT_DEAD)
			return reject(r, RW_REASM_DISCARDED);
		if (s->count != count)
			return reject(r, RW_REASM_COUNT_MISMATCH);
		if (s->seen[index / 64] & UINT64_C(1) << (index % 64))
			return reject(r, RW_REASM_DUPLICATE);
	} else {
		if (count == 1) {
			/* the whole frame in one fragment: nothing to keep */
			if (dlen > r->max_frame)
				return reject(r, RW_REASM_TOO_BIG);
			*frame = data;
			*frame_len = dlen;
			return 1;
		}
		/*
		 * Frame size lower bounds, before any state: chunk == dlen for
		 * a non-last fragment, chunk >= dlen for the last one.
		 */
		if ((uint64_t)(count - 1) * dlen + (last ? dlen : 1) > r->max_frame)
			return reject(r, RW_REASM_TOO_BIG);
		s = slot_new(r, id, count, now_ms, &why);
		if (!s)
			return reject(r, why);
	}

	if (!last) {
		if (!s->chunk) {
			ret = learn_chunk(r, s, dlen);
			if (ret)
				return ret;
		} else if (dlen != s->chunk) {
			return reject(r, RW_REASM_LENGTH_MISMATCH);
		}
		off = (size_t)index * s->chunk;
		if (!slot_reserve(r, s, off + dlen, now_ms))
			return slot_discard(r, s, RW_REASM_NO_MEMORY);
	} else if (!s->chunk) {
		/* where the last chunk goes depends on a chunk size not yet seen */
		make_room(r, s, dlen, now_ms);
		if (!charge(r, dlen))
			return slot_discard(r, s, RW_REASM_NO_MEMORY);
		s->stash = malloc(dlen);
		if (!s->stash) {
			r->memory -= dlen;
			return slot_discard(r, s, RW_REASM_NO_MEMORY);
		}
		memcpy(s->stash, data, dlen);
		s->stash_len = dlen;
		off = SIZE_MAX;
	} else {
		if (dlen > s->chunk)
			return reject(r, RW_REASM_LENGTH_MISMATCH);
		off = (size_t)index * s->chunk;
		if ((uint64_t)off + dlen > r->max_frame)
			return slot_discard(r, s, RW_REASM_TOO_BIG);
		s->total = off + dlen;
		if (!slot_reserve(r, s, s->total, now_ms))
			return slot_discard(r, s, RW_REASM_NO_MEMORY);
	}

	if (off != SIZE_MAX)
		memcpy(s->data + off, data, dlen);
	s->seen[index / 64] |= UINT64_C(1) << (index % 64);
	s->touched_ms = now_ms;
	if (++s->have < s->count)
		return 0;

	/* complete: hand the buffer over until the next call */
	r->done = s->data;
	r->done_size = s->cap;
	*frame = s->data;
	*frame_len = s->total;
	s->data = NULL;
	s->cap = 0;
	slot_clear(r, s);
	return 1;
}
