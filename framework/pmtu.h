/* SPDX-License-Identifier: MIT */
/*
 * pmtu.h - per-session datagram packetization-layer path MTU discovery in the
 * manner of RFC 8899 (DPLPMTUD), docs/protocol.md §13.6. Pure: no I/O, no
 * clock of its own; the session feeds it times, acks and loss signals and
 * sends the probes it asks for.
 *
 *   BASE     probe at the base size (the configured max_packet, 1232): an ack
 *            says the peer speaks this and how large a datagram it receives
 *   SEARCH   probe the largest size allowed once (loopback, a jumbo-frame
 *            LAN: one round trip to the top), then up the ladder of
 *            candidate sizes; an ack raises the size in use, a ladder
 *            size lost MAX_PROBES times ends the search below it
 *   DONE     the size holds; search again after raise_ms if below the cap;
 *            while packets above base are sent, confirm the size every
 *            confirm_ms, at once on a loss signal from the reliable layer
 *   CONFIRM  probe the size in use: MAX_PROBES lost is a black hole, back to
 *            base and BASE again
 *   QUIET    BASE probes were never acked (a v1 peer): stay at base and try
 *            again only after raise_ms, doubling up to 8x
 *   OFF      cap <= base: discovery is off
 * Over a stream (TCP) only BASE runs: its ack sets the size to what the peer
 * receives, and DONE then holds it without timers.
 */
#ifndef RW_PMTU_H
#define RW_PMTU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct rw_pmtu_cfg {
	uint32_t base;		/* BASE_PLPMTU: the size every peer takes */
	uint32_t cap;		/* largest datagram this side sends or receives */
	uint32_t raise_ms;	/* PMTU_RAISE_TIMER */
	uint32_t confirm_ms;
};

enum rw_pmtu_state {
	RW_PMTU_OFF,
	RW_PMTU_BASE,
	RW_PMTU_SEARCH,
	RW_PMTU_DONE,
	RW_PMTU_CONFIRM,
	RW_PMTU_QUIET,
};

struct rw_pmtu {
	struct rw_pmtu_cfg cfg;
	enum rw_pmtu_state state;
	uint32_t size;		/* PLPMTU: the largest datagram sent now */
	uint32_t peer_max;	/* the largest the peer receives, 0: not yet known */
	uint32_t probing;	/* the size under probe */
	unsigned tries;		/* probes sent at `probing` */
	uint32_t next_id;
	uint32_t epoch_id;	/* acks of lower ids came before a reset or black hole: stale */
	uint32_t max_probed;	/* largest size probed since epoch_id */
	uint32_t sent_id;	/* the last probe, for an RTT sample */
	uint64_t sent_ms;
	uint32_t srtt_ms;	/* 0: no sample yet */
	uint64_t due;		/* poll at or after this (UINT64_MAX: nothing to do) */
	uint64_t raise_at, confirm_at;	/* DONE's two timers (0: off) */
	unsigned quiet_rounds;
	unsigned search_fails;	/* searches in a row that stopped on lost probes */
	bool top_first;		/* the search's first probe is the largest size allowed */
	bool top_probe;		/* the probe out is that one: a single try, then the ladder */
	bool large_sent;	/* a packet above base left since the last confirmation */
	bool stream;		/* a stream transport (TCP): nothing is lost, no search needed */
	bool suspect;		/* loss above base was reported: confirm the size */
	uint64_t probes_sent, probes_acked, probes_lost, black_holes;
};

void rw__pmtu_init(struct rw_pmtu *p, const struct rw_pmtu_cfg *cfg, uint64_t now);
/* The path may have changed (roaming, a reconnect): back to base, search again. */
void rw__pmtu_reset(struct rw_pmtu *p, uint64_t now);
/*
 * Time has come (now >= p->due): true when a probe of *size bytes with *id
 * must be sent now (counted as sent; rw__pmtu_unsent if it could not be).
 * Handles probe timeouts. At most one probe per call; p->due says when to
 * call next.
 */
bool rw__pmtu_poll(struct rw_pmtu *p, uint64_t now, uint32_t *size, uint32_t *id);
/* The probe just handed out did not leave (no buffer): not lost, retried later. */
void rw__pmtu_unsent(struct rw_pmtu *p, uint64_t now);
/* An ack of probe id (of `size` bytes) from a peer that receives up to peer_max. true: p->size changed. */
bool rw__pmtu_on_ack(struct rw_pmtu *p, uint32_t id, uint32_t size, uint32_t peer_max, uint64_t now);
/* A probe from the peer told how large a datagram it receives. */
void rw__pmtu_on_peer_max(struct rw_pmtu *p, uint32_t peer_max);
/*
 * The session runs over a stream (TCP, docs/protocol.md §17): it takes every
 * size the peer receives, so the base probe's ack (which says how large that
 * is) goes straight to min(cap, peer_max), with no search, no confirmations
 * and no black holes.
 */
void rw__pmtu_set_stream(struct rw_pmtu *p, bool stream);
/*
 * A datagram of len bytes is known to have reached the peer (a reliable frame
 * sent in it was ACKed): at len >= the size in use that confirms the size, as
 * a probe's ack would (RFC 8899 §4.1 lets the packetization layer's own
 * acknowledgements confirm), so a CONFIRM under way ends well and DONE's next
 * confirmation waits. A loss of probes to congestion is then no black hole
 * while data of that size keeps getting through.
 */
void rw__pmtu_on_delivered(struct rw_pmtu *p, size_t len, uint64_t now);
/* Data above base went unacknowledged (a reliable retransmission): confirm the size. */
void rw__pmtu_on_loss(struct rw_pmtu *p, uint64_t now);

/* A datagram of len bytes left (send path: one compare). */
static inline void rw__pmtu_sent(struct rw_pmtu *p, size_t len)
{
	if (len > p->cfg.base)
		p->large_sent = true;
}

/* ---- the probe and ack events (payloads of channel-255 events) ---- */

/*
 * A probe's whole frame for a datagram of exactly size bytes: channel 255,
 * one event of type RW_INTERNAL_PMTU_PROBE whose payload is id, size, my_max
 * and zeros. Returns the frame length (size - 32), -EINVAL for a size no
 * frame reaches exactly (see rw__pmtu_reachable), -ENOSPC if cap is short.
 */
int rw__pmtu_probe_frame(uint8_t *out, size_t cap, uint32_t id, uint32_t size, uint32_t my_max);
/* size, or the next smaller size a probe can be padded to exactly. */
uint32_t rw__pmtu_reachable(uint32_t size);
/* An ack's payload (RW_PMTU_MSG_LEN bytes). */
void rw__pmtu_ack_put(uint8_t out[RW_PMTU_MSG_LEN], uint32_t id, uint32_t size, uint32_t my_max);

struct rw_pmtu_msg {
	uint32_t id, size, max;
};

/*
 * Parse a probe or ack payload. A probe must be padded to exactly the size it
 * states (a sender that fragmented or trimmed it is not believed). -EINVAL
 * when malformed.
 */
int rw__pmtu_msg_parse(struct rw_pmtu_msg *m, uint8_t type, const uint8_t *payload, size_t len);

#endif
