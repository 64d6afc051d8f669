/* SPDX-License-Identifier: MIT */
/*
 * packet.h - datagram framing of the seven wiresocket v1 packet types.
 *
 * rw__packet_decode is the first thing every datagram meets: it checks the
 * type and the exact size for that type (docs/protocol.md §15.2: exact sizes for types 1, 2,
 * 3, 5, 6; a minimum for 4 and 7) and reads the header fields, without
 * touching a byte past the datagram and without any crypto. A rejection names
 * its reason.
 */
#ifndef RW_PACKET_H
#define RW_PACKET_H

#include <stdint.h>

#include "crypto.h"
#include "ringwire.h"
#include "wire.h"

struct rw_packet {
	const uint8_t *buf;
	size_t len;
	uint8_t type;
	uint32_t sender_index;		/* HandshakeInit, HandshakeResp */
	uint32_t receiver_index;	/* every other type */
	uint64_t counter;		/* transport types 4-7 */
	const uint8_t *ciphertext;	/* transport: the sealed payload with its tag */
	size_t ciphertext_len;
};

/* Smallest sealed transport payloads: a frame needs its channel byte. */
enum {
	RW_SIZE_DATA_SMALLEST = RW_SIZE_DATA_HEADER + 1 + RW_TAG_LEN,
	RW_SIZE_FRAGMENT_SMALLEST = RW_SIZE_DATA_HEADER + RW_SIZE_FRAGMENT_HEADER + 1 + RW_TAG_LEN,
};

/* 0, or -EINVAL with *why set. max_len bounds types 4 and 7. */
int rw__packet_decode(struct rw_packet *p, const uint8_t *buf, size_t len, size_t max_len,
		      enum rw_drop_reason *why);

/* Write the 16-byte transport header (types 4-7). */
void rw__packet_put_header(uint8_t *buf, uint8_t type, uint32_t receiver_index, uint64_t counter);

/*
 * Seal a transport packet in place: buf[16 .. 16+plain_len) holds the
 * plaintext; the tag lands after it. Returns the datagram length or -errno.
 */
int rw__packet_seal(struct rw_aead *send, uint8_t *buf, uint8_t type, uint32_t receiver_index, uint64_t counter,
		    size_t plain_len);

/*
 * Open a decoded transport packet into out (ciphertext_len - 16 bytes; may be
 * the packet's own buffer + 16). Returns the plaintext length or -EBADMSG.
 */
int rw__packet_open(struct rw_aead *recv, const struct rw_packet *p, uint8_t *out);

#endif
