/* SPDX-License-Identifier: MIT */
/*
 * wire.h - every wiresocket v1 wire layout and protocol constant, in one place.
 *
 * Offsets and sizes follow docs/protocol.md §3-4 and §12 with
 * the errata of its §14. Packets are parsed with the explicit little-endian
 * loads below, never by casting packet bytes to structs: a datagram buffer has
 * no alignment guarantee and the wire is little-endian whatever the host is.
 */
#ifndef RW_WIRE_H
#define RW_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Packet type tags (byte 0 of every datagram). */
enum rw_msg_type {
	RW_MSG_HANDSHAKE_INIT = 1,
	RW_MSG_HANDSHAKE_RESP = 2,
	RW_MSG_COOKIE_REPLY = 3,
	RW_MSG_DATA = 4,
	RW_MSG_DISCONNECT = 5,
	RW_MSG_KEEPALIVE = 6,
	RW_MSG_DATA_FRAGMENT = 7,
	RW_MSG_TYPE_MAX = 7,
};

/* Primitive sizes. */
enum {
	RW_KEY_LEN = 32,	/* X25519 keys, symmetric keys, chaining key */
	RW_HASH_LEN = 32,	/* BLAKE2s-256 */
	RW_MAC_LEN = 16,	/* MAC1 / MAC2: first 16 bytes of keyed BLAKE2s */
	RW_TAG_LEN = 16,	/* Poly1305 */
	RW_COOKIE_LEN = 16,
	RW_XNONCE_LEN = 24,	/* XChaCha20 nonce */
	RW_TAI64N_LEN = 12,
};

/* Whole-packet sizes (docs/protocol.md §12). */
enum {
	RW_SIZE_HANDSHAKE_INIT = 148,
	RW_SIZE_HANDSHAKE_RESP = 92,
	RW_SIZE_COOKIE_REPLY = 64,
	RW_SIZE_DATA_HEADER = 16,
	RW_SIZE_FRAGMENT_HEADER = 8,
	RW_SIZE_KEEPALIVE = 32,
	RW_SIZE_DISCONNECT = 32,
	RW_SIZE_DATA_MIN = RW_SIZE_DATA_HEADER + RW_TAG_LEN,
	RW_SIZE_FRAGMENT_MIN = RW_SIZE_DATA_HEADER + RW_SIZE_FRAGMENT_HEADER + RW_TAG_LEN,
};

/*
 * HandshakeInit (type 1) field offsets. MAC1 covers [0, OFF_MAC1); MAC2
 * covers the same bytes (docs/protocol.md §2.5: MAC2 does not cover MAC1).
 */
enum {
	RW_INIT_OFF_SENDER = 4,
	RW_INIT_OFF_EPHEMERAL = 8,
	RW_INIT_OFF_STATIC = 40,	/* 32 + 16 tag */
	RW_INIT_OFF_TIMESTAMP = 88,	/* 12 + 16 tag */
	RW_INIT_OFF_MAC1 = 116,
	RW_INIT_OFF_MAC2 = 132,
};

/* HandshakeResp (type 2) field offsets. */
enum {
	RW_RESP_OFF_SENDER = 4,
	RW_RESP_OFF_RECEIVER = 8,
	RW_RESP_OFF_EPHEMERAL = 12,
	RW_RESP_OFF_EMPTY = 44,		/* 0 + 16 tag */
	RW_RESP_OFF_MAC1 = 60,
	RW_RESP_OFF_MAC2 = 76,
};

/* CookieReply (type 3) field offsets. */
enum {
	RW_COOKIE_OFF_RECEIVER = 4,
	RW_COOKIE_OFF_NONCE = 8,
	RW_COOKIE_OFF_COOKIE = 32,	/* 16 + 16 tag */
};

/* Transport header shared by types 4, 5, 6, 7. */
enum {
	RW_DATA_OFF_RECEIVER = 4,
	RW_DATA_OFF_COUNTER = 8,
	RW_DATA_OFF_PAYLOAD = 16,
};

/* Fragment plaintext sub-header (type 7). */
enum {
	RW_FRAG_OFF_FRAME_ID = 0,
	RW_FRAG_OFF_INDEX = 4,
	RW_FRAG_OFF_COUNT = 6,
	RW_FRAG_OFF_DATA = 8,
};

/* Frame encoding (docs/protocol.md §10, §13.1). */
enum {
	RW_FRAME_TAG_EVENT = 0x0a,	/* field 1, LEN */
	RW_FRAME_TAG_SEQ = 0x10,	/* field 2, varint */
	RW_FRAME_TAG_ACKSEQ = 0x18,	/* field 3, varint */
	RW_FRAME_TAG_ACKBITMAP = 0x21,	/* field 4, I64 LE */
	RW_FRAME_TAG_WINDOW = 0x28,	/* field 5, varint */
	RW_FRAME_TAG_PAD = 0x7a,	/* field 15, LEN: padding (docs/protocol.md §13.7), skipped */
	RW_CHANNEL_INTERNAL = 255,
	RW_EVENT_CHANNEL_CLOSE = 255,	/* event type 255: channel closed */
	RW_MAX_CHANNELS = 256,
};

/* Sizes, limits and timers (docs/protocol.md §7, §9, §11, §12). */
enum {
	RW_DEFAULT_MAX_PACKET = 1232,
	RW_DEFAULT_MAX_FRAG_PAYLOAD =
		RW_DEFAULT_MAX_PACKET - RW_SIZE_DATA_HEADER - RW_SIZE_FRAGMENT_HEADER - RW_TAG_LEN,
	RW_MAX_FRAGMENTS = 65535,
	RW_DEFAULT_MAX_INCOMPLETE_FRAMES = 64,
	RW_REPLAY_WORDS = 64,
	RW_REPLAY_WINDOW = RW_REPLAY_WORDS * 64,
	RW_MAX_TIMESTAMP_SKEW_S = 180,
	RW_COOKIE_ROTATION_S = 120,
	RW_REKEY_AFTER_TIME_S = 180,
	RW_KEEPALIVE_INTERVAL_S = 10,
	RW_SESSION_TIMEOUT_S = 180,
	RW_DEFAULT_RELIABLE_WINDOW = 256,
	RW_DEFAULT_BASE_RTO_MS = 200,
	RW_DEFAULT_MAX_RETRIES = 10,
	RW_DEFAULT_ACK_DELAY_MS = 20,
	RW_MAX_RTO_MS = 30000,
	RW_RELIABLE_OOO_WINDOW = 64,
};

/*
 * Internal events on channel 255 (docs/protocol.md §13.2) and path MTU
 * discovery (§13.6). A probe's payload is id, size, max, then zero padding up
 * to the probed datagram size; an ack's is id, size, max and nothing else.
 */
enum {
	RW_INTERNAL_CLOSE_REASON = 1,
	RW_INTERNAL_PMTU_PROBE = 2,
	RW_INTERNAL_PMTU_ACK = 3,
	RW_PMTU_OFF_ID = 0,		/* u32 LE: the probe's id */
	RW_PMTU_OFF_SIZE = 4,		/* u32 LE: the probe's whole datagram size */
	RW_PMTU_OFF_MAX = 8,		/* u32 LE: the largest datagram the sender of this event receives */
	RW_PMTU_MSG_LEN = 12,
	RW_PMTU_MAX_DATAGRAM = 65000,	/* the default cap (below IPv4's 65507-byte UDP payload) */
	RW_PMTU_MAX_PROBES = 3,		/* RFC 8899 MAX_PROBES */
	RW_PMTU_PROBE_TIMEOUT_MIN_MS = 100,
	RW_PMTU_PROBE_TIMEOUT_INIT_MS = 500,	/* before a probe RTT is known */
	RW_PMTU_RAISE_MS = 600000,	/* RFC 8899 PMTU_RAISE_TIMER */
	RW_PMTU_RESEARCH_MS = 1000,	/* a search that stopped on lost probes resumes after 1, 2, 4... s */
	RW_PMTU_CONFIRM_MS = 10000,	/* a grown size carrying data is confirmed this often */
};
_Static_assert(RW_INTERNAL_PMTU_PROBE == RW_INTERNAL_CLOSE_REASON + 1, "next free internal event");
_Static_assert(RW_PMTU_OFF_MAX + 4 == RW_PMTU_MSG_LEN, "pmtu message layout");
/* below the largest UDP payload over IPv4 (65507), above the v1 default */
_Static_assert(RW_PMTU_MAX_DATAGRAM <= 65507 && (int)RW_PMTU_MAX_DATAGRAM > (int)RW_DEFAULT_MAX_PACKET, "pmtu cap");

/* wiresocket over TCP (docs/protocol.md §17): each packet behind its length, 2 bytes big-endian. */
enum {
	RW_TCP_LEN_SIZE = 2,
	RW_TCP_MAX_PACKET = 65535,	/* what 2 bytes can say; a side accepts at most its max datagram */
};
_Static_assert(RW_TCP_MAX_PACKET == (1 << (8 * RW_TCP_LEN_SIZE)) - 1, "length prefix width");

#define RW_REKEY_AFTER_MESSAGES (UINT64_C(1) << 60)
#define RW_TAI64_EPOCH UINT64_C(0x4000000000000000)

/* Layouts pinned so a change to one constant cannot silently skew another. */
_Static_assert(RW_INIT_OFF_EPHEMERAL + RW_KEY_LEN == RW_INIT_OFF_STATIC, "init ephemeral");
_Static_assert(RW_INIT_OFF_STATIC + RW_KEY_LEN + RW_TAG_LEN == RW_INIT_OFF_TIMESTAMP, "init static");
_Static_assert(RW_INIT_OFF_TIMESTAMP + RW_TAI64N_LEN + RW_TAG_LEN == RW_INIT_OFF_MAC1, "init ts");
_Static_assert(RW_INIT_OFF_MAC1 + RW_MAC_LEN == RW_INIT_OFF_MAC2, "init mac1");
_Static_assert(RW_INIT_OFF_MAC2 + RW_MAC_LEN == RW_SIZE_HANDSHAKE_INIT, "init size");
_Static_assert(RW_RESP_OFF_EPHEMERAL + RW_KEY_LEN == RW_RESP_OFF_EMPTY, "resp eph");
_Static_assert(RW_RESP_OFF_EMPTY + RW_TAG_LEN == RW_RESP_OFF_MAC1, "resp empty");
_Static_assert(RW_RESP_OFF_MAC1 + RW_MAC_LEN == RW_RESP_OFF_MAC2, "resp mac1");
_Static_assert(RW_RESP_OFF_MAC2 + RW_MAC_LEN == RW_SIZE_HANDSHAKE_RESP, "resp size");
_Static_assert(RW_COOKIE_OFF_NONCE + RW_XNONCE_LEN == RW_COOKIE_OFF_COOKIE, "cookie nonce");
_Static_assert(RW_COOKIE_OFF_COOKIE + RW_COOKIE_LEN + RW_TAG_LEN == RW_SIZE_COOKIE_REPLY, "cookie size");
_Static_assert((int)RW_DATA_OFF_PAYLOAD == (int)RW_SIZE_DATA_HEADER, "data header");
_Static_assert(RW_SIZE_DATA_HEADER + RW_TAG_LEN == RW_SIZE_KEEPALIVE, "keepalive size");
_Static_assert((int)RW_SIZE_KEEPALIVE == (int)RW_SIZE_DISCONNECT, "disconnect size");
_Static_assert(RW_DEFAULT_MAX_FRAG_PAYLOAD == 1192, "docs/protocol.md §9.1");
_Static_assert(RW_REPLAY_WINDOW == 4096, "docs/protocol.md §8");

/* Explicit little/big-endian loads and stores for packet bytes. */
static inline uint16_t rw_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t rw_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rw_le64(const uint8_t *p) { return (uint64_t)rw_le32(p) | (uint64_t)rw_le32(p + 4) << 32; }
static inline void rw_put_le16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void rw_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void rw_put_le64(uint8_t *p, uint64_t v) { rw_put_le32(p, (uint32_t)v); rw_put_le32(p + 4, (uint32_t)(v >> 32)); }
static inline uint16_t rw_be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void rw_put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline uint32_t rw_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}
static inline uint64_t rw_be64(const uint8_t *p) { return (uint64_t)rw_be32(p) << 32 | rw_be32(p + 4); }
static inline void rw_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void rw_put_be64(uint8_t *p, uint64_t v) { rw_put_be32(p, (uint32_t)(v >> 32)); rw_put_be32(p + 4, (uint32_t)v); }

#if defined(__GNUC__)
#define rw_likely(x) __builtin_expect(!!(x), 1)
#define rw_unlikely(x) __builtin_expect(!!(x), 0)
#define RW_MUST_CHECK __attribute__((warn_unused_result))
#else
#define rw_likely(x) (x)
#define rw_unlikely(x) (x)
#define RW_MUST_CHECK
#endif

#endif
