/* SPDX-License-Identifier: MIT */
/*
 * pmtu.c - the path MTU discovery state machine of pmtu.h and the wire form
 * of its probe and ack events (docs/protocol.md §13.6).
 */
#include "pmtu.h"

#include <errno.h>
#include <string.h>

#include "frame.h"

/*
 * Sizes tried in turn above the base, each clipped to the cap: the payloads
 * of a 1500-byte Ethernet path over IPv6, then powers of two with a 9000-byte
 * jumbo frame over IPv6 among them, then loopback-sized datagrams.
 */
static const uint32_t candidates[] = { 1452, 2048, 4096, 8192, 8952, 16384, 32768, RW_PMTU_MAX_DATAGRAM };

static uint32_t eff_cap(const struct rw_pmtu *p)
{
	uint32_t cap = p->cfg.cap;

	/* never above what the peer said it receives; unknown: nothing above base */
	if (!p->peer_max)
		return p->cfg.base;
	if (p->peer_max < cap)
		cap = p->peer_max;
	return cap;
}

/* The next size to probe above p->size, 0 when there is none. */
static uint32_t candidate(const struct rw_pmtu *p)
{
	uint32_t cap = eff_cap(p), c = 0;

	for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
		if (candidates[i] > p->size) {
			c = candidates[i];
			break;
		}
	}
	if (!c || c > cap)
		c = cap;
	c = rw__pmtu_reachable(c);
	return c > p->size ? c : 0;
}

/*
 * The next size a search probes: first the largest allowed (the cap, or
 * what the peer receives), where a path carries it (loopback, a LAN of
 * jumbo frames) one round trip instead of a probe per rung of the ladder,
 * each of which may be lost in a transfer already under way; then the
 * ladder. 0 when there is nothing above p->size.
 */
static uint32_t search_next(struct rw_pmtu *p)
{
	if (p->top_first) {
		uint32_t top = rw__pmtu_reachable(eff_cap(p));

		p->top_first = false;
		if (top > p->size) {
			p->top_probe = true;
			return top;
		}
	}
	p->top_probe = false;
	return candidate(p);
}

static uint64_t probe_timeout(const struct rw_pmtu *p)
{
	uint64_t t = p->srtt_ms ? 3 * (uint64_t)p->srtt_ms : RW_PMTU_PROBE_TIMEOUT_INIT_MS;

	return t < RW_PMTU_PROBE_TIMEOUT_MIN_MS ? RW_PMTU_PROBE_TIMEOUT_MIN_MS : t;
}

static void probe(struct rw_pmtu *p, enum rw_pmtu_state st, uint32_t size, uint64_t now)
{
	p->state = st;
	p->probing = size;
	p->tries = 0;
	p->due = now;
}

static void set_due_done(struct rw_pmtu *p)
{
	uint64_t due = UINT64_MAX;

	if (p->raise_at)
		due = p->raise_at;
	if (p->size > p->cfg.base && p->confirm_at < due)
		due = p->confirm_at;
	p->due = due;
}

/* The search is over (reached the cap, or a size failed): hold p->size. */
static void done(struct rw_pmtu *p, uint64_t now)
{
	p->state = RW_PMTU_DONE;
	p->probing = 0;
	p->tries = 0;
	if (p->stream) {
		/* nothing to raise (the size is what the peer takes) and nothing to confirm */
		p->suspect = false;
		p->raise_at = p->confirm_at = 0;
		p->due = UINT64_MAX;
		return;
	}
	if (p->suspect && p->size > p->cfg.base) {
		probe(p, RW_PMTU_CONFIRM, p->size, now);
		return;
	}
	p->suspect = false;
	p->raise_at = p->size < eff_cap(p) || !p->peer_max ? now + p->cfg.raise_ms : 0;
	p->confirm_at = now + p->cfg.confirm_ms;
	p->large_sent = false;
	set_due_done(p);
}

/* From base: a fresh epoch, so acks of earlier probes cannot raise the size again. */
static void to_base(struct rw_pmtu *p, uint64_t now)
{
	p->size = p->cfg.base;
	p->epoch_id = p->next_id;
	p->max_probed = 0;
	p->suspect = false;
	p->large_sent = false;
	p->top_first = true;
	probe(p, RW_PMTU_BASE, p->cfg.base, now);
}

void rw__pmtu_init(struct rw_pmtu *p, const struct rw_pmtu_cfg *cfg, uint64_t now)
{
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	p->size = cfg->base;
	p->next_id = 1;
	p->epoch_id = 1;
	if (cfg->cap <= cfg->base) {
		p->state = RW_PMTU_OFF;
		p->due = UINT64_MAX;
		return;
	}
	to_base(p, now);
}

void rw__pmtu_reset(struct rw_pmtu *p, uint64_t now)
{
	if (p->state == RW_PMTU_OFF)
		return;
	p->peer_max = 0;
	p->quiet_rounds = 0;
	to_base(p, now);
}

/* MAX_PROBES probes of p->probing went unanswered. */
static void failed(struct rw_pmtu *p, uint64_t now)
{
	unsigned shift = p->quiet_rounds < 3 ? p->quiet_rounds : 3;

	switch (p->state) {
	case RW_PMTU_BASE:
		/* no ack at the base size: a v1 peer (or a dead path); ask again rarely */
		p->state = RW_PMTU_QUIET;
		p->probing = 0;
		p->quiet_rounds++;
		p->due = now + ((uint64_t)p->cfg.raise_ms << shift);
		break;
	case RW_PMTU_SEARCH: {
		/*
		 * Lost probes are no proof the size is too large: on a busy
		 * path (a flood filling the peer's socket buffer, which drops
		 * the largest datagrams first) they are lost with the data.
		 * Search again after 1, 2, 4... s, up to the raise timer,
		 * rather than hold a small size for ten minutes.
		 */
		unsigned k = p->search_fails < 16 ? p->search_fails : 16;
		uint64_t again = (uint64_t)RW_PMTU_RESEARCH_MS << k;

		p->search_fails++;
		done(p, now);
		if (p->state == RW_PMTU_DONE && p->raise_at && again < p->cfg.raise_ms) {
			p->raise_at = now + again;
			set_due_done(p);
		}
		break;
	}
	case RW_PMTU_CONFIRM:
		/* the size in use no longer gets through: a black hole */
		p->black_holes++;
		to_base(p, now);
		break;
	default:
		break;
	}
}

bool rw__pmtu_poll(struct rw_pmtu *p, uint64_t now, uint32_t *size, uint32_t *id)
{
	if (now < p->due)
		return false;
	switch (p->state) {
	case RW_PMTU_OFF:
		p->due = UINT64_MAX;
		return false;
	case RW_PMTU_QUIET:
		probe(p, RW_PMTU_BASE, p->cfg.base, now);
		p->epoch_id = p->next_id;
		break;
	case RW_PMTU_DONE:
		if (p->raise_at && now >= p->raise_at) {
			uint32_t c;

			p->top_first = true;
			c = search_next(p);
			p->raise_at = 0;
			if (c) {
				probe(p, RW_PMTU_SEARCH, c, now);
				break;
			}
			if (!p->peer_max) {
				/* never heard the peer's maximum: ask at the base size */
				probe(p, RW_PMTU_BASE, p->cfg.base, now);
				break;
			}
		}
		if (p->size > p->cfg.base && now >= p->confirm_at) {
			if (p->large_sent) {
				probe(p, RW_PMTU_CONFIRM, p->size, now);
				break;
			}
			p->confirm_at = now + p->cfg.confirm_ms;
		}
		set_due_done(p);
		return false;
	default:
		break;
	}
	if (p->tries) {
		/* the last probe timed out */
		p->probes_lost++;
		if (p->state == RW_PMTU_SEARCH && p->top_probe) {
			/* the top was a guess, one try: up the ladder from the size in use */
			uint32_t c = candidate(p);

			p->top_probe = false;
			if (c)
				probe(p, RW_PMTU_SEARCH, c, now);
			else
				p->tries = RW_PMTU_MAX_PROBES;
		}
		if (p->tries >= RW_PMTU_MAX_PROBES) {
			failed(p, now);
			return rw__pmtu_poll(p, now, size, id);
		}
	}
	p->tries++;
	p->probes_sent++;
	*size = p->probing;
	*id = p->sent_id = p->next_id++;
	p->sent_ms = now;
	if (p->probing > p->max_probed)
		p->max_probed = p->probing;
	p->due = now + probe_timeout(p);
	return true;
}

void rw__pmtu_unsent(struct rw_pmtu *p, uint64_t now)
{
	if (p->tries) {
		p->tries--;
		p->probes_sent--;
	}
	p->due = now + RW_PMTU_PROBE_TIMEOUT_MIN_MS;
}

void rw__pmtu_on_peer_max(struct rw_pmtu *p, uint32_t peer_max)
{
	if (peer_max >= p->cfg.base && p->state != RW_PMTU_OFF)
		p->peer_max = peer_max;
}

bool rw__pmtu_on_ack(struct rw_pmtu *p, uint32_t id, uint32_t size, uint32_t peer_max, uint64_t now)
{
	uint32_t before = p->size;

	if (p->state == RW_PMTU_OFF || id < p->epoch_id || id >= p->next_id)
		return false;
	/* only sizes we probed since the epoch, at least base, within what the peer receives */
	if (size < p->cfg.base || size > p->max_probed || peer_max < size)
		return false;
	p->probes_acked++;
	p->peer_max = peer_max;
	if (id == p->sent_id) {
		uint32_t rtt = (uint32_t)(now - p->sent_ms);

		p->srtt_ms = p->srtt_ms ? (7 * p->srtt_ms + rtt) / 8 : (rtt ? rtt : 1);
	}
	if (size > p->size) {
		p->size = size;	/* also a late ack of a size given up on: the path does carry it */
		if (p->size >= eff_cap(p))
			p->search_fails = 0;	/* reached the top: a later failure starts the backoff over */
	}
	if (p->stream) {
		p->quiet_rounds = 0;
		p->size = eff_cap(p);
		done(p, now);
		return p->size != before;
	}
	switch (p->state) {
	case RW_PMTU_BASE:
	case RW_PMTU_QUIET:
	case RW_PMTU_SEARCH: {
		uint32_t c;

		p->quiet_rounds = 0;
		if (p->state == RW_PMTU_SEARCH && size < p->probing)
			break;	/* an older, smaller probe: the current one is still out */
		c = search_next(p);
		if (c)
			probe(p, RW_PMTU_SEARCH, c, now);
		else
			done(p, now);
		break;
	}
	case RW_PMTU_CONFIRM:
		if (size >= p->size) {
			p->suspect = false;
			done(p, now);
		}
		break;
	case RW_PMTU_DONE:
		if (p->size != before)
			done(p, now);
		break;
	default:
		break;
	}
	return p->size != before;
}

void rw__pmtu_on_delivered(struct rw_pmtu *p, size_t len, uint64_t now)
{
	if (p->size <= p->cfg.base || len < p->size)
		return;
	if (p->state == RW_PMTU_CONFIRM) {
		p->suspect = false;
		done(p, now);
	} else if (p->state == RW_PMTU_DONE) {
		p->confirm_at = now + p->cfg.confirm_ms;
		p->large_sent = false;
		set_due_done(p);
	} else if (p->state == RW_PMTU_SEARCH) {
		p->suspect = false;
	}
}

void rw__pmtu_set_stream(struct rw_pmtu *p, bool stream)
{
	p->stream = stream;
}

void rw__pmtu_on_loss(struct rw_pmtu *p, uint64_t now)
{
	if (p->size <= p->cfg.base || p->stream)
		return;
	if (p->state == RW_PMTU_DONE)
		probe(p, RW_PMTU_CONFIRM, p->size, now);
	else if (p->state == RW_PMTU_SEARCH)
		p->suspect = true;	/* confirmed when the search ends */
}

/* ---- wire ---------------------------------------------------------------------- */

static size_t varint_len(size_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* The event length L (type byte + payload) that makes the frame exactly flen bytes, 0 if none. */
static size_t event_len_for(size_t flen)
{
	/* frame = channel byte + 0x0a tag + varint(L) + L */
	for (size_t v = 1; v <= 3; v++) {
		if (flen < 2 + v + 1 + RW_PMTU_MSG_LEN)
			return 0;
		if (varint_len(flen - 2 - v) == v)
			return flen - 2 - v;
	}
	return 0;
}

uint32_t rw__pmtu_reachable(uint32_t size)
{
	/* a varint length stepping from 2 to 3 bytes skips one frame length (16388) */
	if (size > RW_SIZE_DATA_MIN && !event_len_for(size - RW_SIZE_DATA_MIN))
		return size - 1;
	return size;
}

int rw__pmtu_probe_frame(uint8_t *out, size_t cap, uint32_t id, uint32_t size, uint32_t my_max)
{
	size_t flen, l, o = 0;

	if (size <= RW_SIZE_DATA_MIN)
		return -EINVAL;
	flen = size - RW_SIZE_DATA_MIN;
	l = event_len_for(flen);
	if (!l)
		return -EINVAL;
	if (cap < flen)
		return -ENOSPC;
	out[o++] = RW_CHANNEL_INTERNAL;
	out[o++] = RW_FRAME_TAG_EVENT;
	for (size_t v = l; ; v >>= 7) {
		out[o++] = (uint8_t)(v & 0x7f) | (v >= 0x80 ? 0x80 : 0);
		if (v < 0x80)
			break;
	}
	out[o++] = RW_INTERNAL_PMTU_PROBE;
	rw_put_le32(out + o + RW_PMTU_OFF_ID, id);
	rw_put_le32(out + o + RW_PMTU_OFF_SIZE, size);
	rw_put_le32(out + o + RW_PMTU_OFF_MAX, my_max);
	memset(out + o + RW_PMTU_MSG_LEN, 0, flen - o - RW_PMTU_MSG_LEN);
	return (int)flen;
}

void rw__pmtu_ack_put(uint8_t out[RW_PMTU_MSG_LEN], uint32_t id, uint32_t size, uint32_t my_max)
{
	rw_put_le32(out + RW_PMTU_OFF_ID, id);
	rw_put_le32(out + RW_PMTU_OFF_SIZE, size);
	rw_put_le32(out + RW_PMTU_OFF_MAX, my_max);
}

int rw__pmtu_msg_parse(struct rw_pmtu_msg *m, uint8_t type, const uint8_t *payload, size_t len)
{
	if (len < RW_PMTU_MSG_LEN)
		return -EINVAL;
	m->id = rw_le32(payload + RW_PMTU_OFF_ID);
	m->size = rw_le32(payload + RW_PMTU_OFF_SIZE);
	m->max = rw_le32(payload + RW_PMTU_OFF_MAX);
	if (type == RW_INTERNAL_PMTU_PROBE) {
		/* padded to exactly its size: header + channel byte + the event + tag */
		if (m->size != RW_SIZE_DATA_MIN + 1 + rw__frame_event_size(len))
			return -EINVAL;
	} else if (type != RW_INTERNAL_PMTU_ACK) {
		return -EINVAL;
	}
	return 0;
}
