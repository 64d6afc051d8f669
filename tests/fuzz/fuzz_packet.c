/* SPDX-License-Identifier: MIT */
/*
 * fuzz_packet.c - rw__packet_decode over arbitrary datagrams.
 *
 * The whole input is one datagram. It is decoded under several max_len
 * bounds and every verdict is compared with the size table of docs/protocol.md §12 /
 * §15.2 as written out here (exact sizes for types 1, 2, 3, 5, 6; a minimum
 * and max_len for 4 and 7); an accepted packet must describe only bytes of
 * the datagram. The datagram is copied to a buffer of exactly its size, so
 * AddressSanitizer sees any read past it.
 *
 * Transport packets then go through rw__packet_open with the KAT key
 * T_initiator_send: the KAT Data packet of the seed corpus opens, and its
 * plaintext must be a valid frame and seal back to the same bytes.
 */
#include <errno.h>
#include <stdbool.h>

#include "crypto.h"
#include "frame.h"
#include "fuzz.h"
#include "packet.h"

static const uint8_t kat_send_key[32] = {
	0x94, 0x26, 0x54, 0xb8, 0x7c, 0x3b, 0xda, 0x8b, 0x48, 0x25, 0xe9, 0xd4, 0xdf, 0xda, 0x91, 0xf1,
	0xdd, 0xa7, 0x83, 0xaf, 0x66, 0x0e, 0x14, 0x34, 0xd2, 0xed, 0x10, 0x21, 0x20, 0x2a, 0xc4, 0xa2,
};

/* The spec's verdict, written independently of packet.c. */
static enum rw_drop_reason expected(const uint8_t *buf, size_t len, size_t max_len)
{
	if (len == 0)
		return RW_DROP_EMPTY;
	switch (buf[0]) {
	case 1:
		return len == 148 ? RW_DROP_NONE : RW_DROP_BAD_SIZE;
	case 2:
		return len == 92 ? RW_DROP_NONE : RW_DROP_BAD_SIZE;
	case 3:
		return len == 64 ? RW_DROP_NONE : RW_DROP_BAD_SIZE;
	case 5:
	case 6:
		return len == 32 ? RW_DROP_NONE : RW_DROP_BAD_SIZE;
	case 4:	/* header 16 + channel byte + tag 16 */
		return len >= 33 && len <= max_len ? RW_DROP_NONE : RW_DROP_BAD_SIZE;
	case 7:	/* header 16 + sub-header 8 + one byte + tag 16 */
		return len >= 41 && len <= max_len ? RW_DROP_NONE : RW_DROP_BAD_SIZE;
	default:
		return RW_DROP_UNKNOWN_TYPE;
	}
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void check_decoded(const struct rw_packet *p, const uint8_t *buf, size_t len)
{
	FUZZ_CHECK(p->buf == buf);
	FUZZ_CHECK(p->len == len);
	FUZZ_CHECK(p->type == buf[0]);
	FUZZ_CHECK(p->type >= RW_MSG_HANDSHAKE_INIT && p->type <= RW_MSG_TYPE_MAX);
	switch (p->type) {
	case RW_MSG_HANDSHAKE_INIT:
		FUZZ_CHECK(p->sender_index == le32(buf + 4));
		FUZZ_CHECK(p->ciphertext == NULL && p->ciphertext_len == 0 && p->counter == 0);
		break;
	case RW_MSG_HANDSHAKE_RESP:
		FUZZ_CHECK(p->sender_index == le32(buf + 4));
		FUZZ_CHECK(p->receiver_index == le32(buf + 8));
		FUZZ_CHECK(p->ciphertext == NULL && p->ciphertext_len == 0 && p->counter == 0);
		break;
	case RW_MSG_COOKIE_REPLY:
		FUZZ_CHECK(p->receiver_index == le32(buf + 4));
		FUZZ_CHECK(p->ciphertext == NULL && p->ciphertext_len == 0 && p->counter == 0);
		break;
	default:
		FUZZ_CHECK(p->receiver_index == le32(buf + 4));
		FUZZ_CHECK(p->counter == ((uint64_t)le32(buf + 8) | (uint64_t)le32(buf + 12) << 32));
		FUZZ_CHECK(p->ciphertext == buf + 16);
		FUZZ_CHECK(p->ciphertext_len + 16 == len);
		FUZZ_CHECK(p->ciphertext_len >= RW_TAG_LEN);
		/* the ciphertext ends exactly where the datagram does */
		FUZZ_CHECK(p->ciphertext + p->ciphertext_len == buf + len);
		break;
	}
}

static void try_open(const struct rw_packet *p, const uint8_t *buf, size_t len)
{
	struct rw_aead recv = { 0 }, send = { 0 };
	uint8_t *plain = NULL, *again = NULL;
	int n;

	if (p->type < RW_MSG_DATA)
		return;
	if (rw__aead_init(&recv, kat_send_key, 0) != 0)
		return;
	plain = malloc(p->ciphertext_len - RW_TAG_LEN + 1);
	FUZZ_CHECK(plain != NULL);
	n = rw__packet_open(&recv, p, plain);
	if (n >= 0) {
		FUZZ_CHECK((size_t)n == p->ciphertext_len - RW_TAG_LEN);
		if (p->type == RW_MSG_DATA) {
			struct rw_frame f;

			/* the KAT frame; a forgery would be the real finding */
			if (rw__frame_decode(&f, plain, (size_t)n) == 0)
				FUZZ_CHECK(f.len == (size_t)n);
		}
		/* sealing the plaintext again under the same counter gives the same packet */
		again = malloc(len);
		FUZZ_CHECK(again != NULL);
		memcpy(again + 16, plain, (size_t)n);
		if (rw__aead_init(&send, kat_send_key, 1) == 0) {
			int m = rw__packet_seal(&send, again, p->type, p->receiver_index, p->counter, (size_t)n);

			FUZZ_CHECK(m == (int)len);
			/* the three reserved bytes are written as zero */
			FUZZ_CHECK(memcmp(again + 4, buf + 4, len - 4) == 0);
			FUZZ_CHECK(again[0] == buf[0]);
		}
	} else {
		FUZZ_CHECK(n == -EBADMSG);
	}
	rw__aead_free(&send);
	rw__aead_free(&recv);
	free(again);
	free(plain);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly the datagram: a read past it is an ASan report */
	uint8_t *buf = calloc(1, size ? size : 1);
	const size_t bounds[] = { RW_DEFAULT_MAX_PACKET, 65535, size, size ? size - 1 : 0, 0 };
	struct rw_packet p;
	enum rw_drop_reason why;
	bool decoded = false;

	FUZZ_CHECK(buf != NULL);
	if (size)
		memcpy(buf, data, size);
	for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++) {
		enum rw_drop_reason want = expected(buf, size, bounds[i]);
		int ret = rw__packet_decode(&p, buf, size, bounds[i], &why);

		if (ret == 0) {
			FUZZ_CHECK(want == RW_DROP_NONE);
			FUZZ_CHECK(why == RW_DROP_NONE);
			check_decoded(&p, buf, size);
			if (!decoded && bounds[i] == RW_DEFAULT_MAX_PACKET) {
				try_open(&p, buf, size);
				decoded = true;
			}
		} else {
			FUZZ_CHECK(ret == -EINVAL);
			FUZZ_CHECK(why == want);
			FUZZ_CHECK(why != RW_DROP_NONE);
		}
		FUZZ_CHECK(rw_drop_reason_name(why) != NULL);
	}
	free(buf);
	return 0;
}
