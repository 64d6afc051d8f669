/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "packet.h"

static const char *const drop_names[RW_DROP__COUNT] = {
	[RW_DROP_NONE] = "none",
	[RW_DROP_EMPTY] = "empty",
	[RW_DROP_UNKNOWN_TYPE] = "unknown_type",
	[RW_DROP_BAD_SIZE] = "bad_size",
	[RW_DROP_BAD_MAC1] = "bad_mac1",
	[RW_DROP_BAD_MAC2] = "bad_mac2",
	[RW_DROP_UNDER_LOAD] = "under_load",
	[RW_DROP_RATE_LIMITED] = "rate_limited",
	[RW_DROP_HALF_OPEN_LIMIT] = "half_open_limit",
	[RW_DROP_UNKNOWN_INDEX] = "unknown_index",
	[RW_DROP_DECRYPT] = "decrypt",
	[RW_DROP_REPLAY] = "replay",
	[RW_DROP_STALE_TIMESTAMP] = "stale_timestamp",
	[RW_DROP_REJECTED_KEY] = "rejected_key",
	[RW_DROP_HANDSHAKE] = "handshake",
	[RW_DROP_BAD_COOKIE] = "bad_cookie",
	[RW_DROP_BAD_FRAME] = "bad_frame",
	[RW_DROP_BAD_FRAGMENT] = "bad_fragment",
	[RW_DROP_FRAGMENT_LIMIT] = "fragment_limit",
	[RW_DROP_NO_BUFFER] = "no_buffer",
	[RW_DROP_LIMIT] = "counter_limit",
	[RW_DROP_BAD_LENGTH] = "bad_length",
};

const char *rw_drop_reason_name(enum rw_drop_reason r)
{
	return (unsigned)r < RW_DROP__COUNT && drop_names[r] ? drop_names[r] : "invalid";
}

static int reject(enum rw_drop_reason *why, enum rw_drop_reason r)
{
	*why = r;
	return -EINVAL;
}

int rw__packet_decode(struct rw_packet *p, const uint8_t *buf, size_t len, size_t max_len,
		      enum rw_drop_reason *why)
{
	*why = RW_DROP_NONE;
	memset(p, 0, sizeof(*p));
	if (rw_unlikely(len == 0))
		return reject(why, RW_DROP_EMPTY);
	p->buf = buf;
	p->len = len;
	p->type = buf[0];
	/*
	 * The three reserved bytes are not checked: the reference ignores
	 * them, and a v1 peer that sets them must still be understood.
	 */
	switch (p->type) {
	case RW_MSG_HANDSHAKE_INIT:
		if (len != RW_SIZE_HANDSHAKE_INIT)
			return reject(why, RW_DROP_BAD_SIZE);
		p->sender_index = rw_le32(buf + RW_INIT_OFF_SENDER);
		return 0;
	case RW_MSG_HANDSHAKE_RESP:
		if (len != RW_SIZE_HANDSHAKE_RESP)
			return reject(why, RW_DROP_BAD_SIZE);
		p->sender_index = rw_le32(buf + RW_RESP_OFF_SENDER);
		p->receiver_index = rw_le32(buf + RW_RESP_OFF_RECEIVER);
		return 0;
	case RW_MSG_COOKIE_REPLY:
		if (len != RW_SIZE_COOKIE_REPLY)
			return reject(why, RW_DROP_BAD_SIZE);
		p->receiver_index = rw_le32(buf + RW_COOKIE_OFF_RECEIVER);
		return 0;
	case RW_MSG_DISCONNECT:
	case RW_MSG_KEEPALIVE:
		if (len != RW_SIZE_KEEPALIVE)
			return reject(why, RW_DROP_BAD_SIZE);
		break;
	case RW_MSG_DATA:
		if (len < RW_SIZE_DATA_SMALLEST || len > max_len)
			return reject(why, RW_DROP_BAD_SIZE);
		break;
	case RW_MSG_DATA_FRAGMENT:
		if (len < RW_SIZE_FRAGMENT_SMALLEST || len > max_len)
			return reject(why, RW_DROP_BAD_SIZE);
		break;
	default:
		return reject(why, RW_DROP_UNKNOWN_TYPE);
	}
	p->receiver_index = rw_le32(buf + RW_DATA_OFF_RECEIVER);
	p->counter = rw_le64(buf + RW_DATA_OFF_COUNTER);
	p->ciphertext = buf + RW_DATA_OFF_PAYLOAD;
	p->ciphertext_len = len - RW_DATA_OFF_PAYLOAD;
	return 0;
}

void rw__packet_put_header(uint8_t *buf, uint8_t type, uint32_t receiver_index, uint64_t counter)
{
	buf[0] = type;
	buf[1] = buf[2] = buf[3] = 0;
	rw_put_le32(buf + RW_DATA_OFF_RECEIVER, receiver_index);
	rw_put_le64(buf + RW_DATA_OFF_COUNTER, counter);
}

int rw__packet_seal(struct rw_aead *send, uint8_t *buf, uint8_t type, uint32_t receiver_index, uint64_t counter,
		    size_t plain_len)
{
	int ret;

	rw__packet_put_header(buf, type, receiver_index, counter);
	/* v1 authenticates no header: AAD is empty (docs/protocol.md §4.4). */
	ret = rw__aead_seal(send, counter, NULL, 0, buf + RW_DATA_OFF_PAYLOAD, plain_len, buf + RW_DATA_OFF_PAYLOAD);
	return ret ? ret : (int)(RW_DATA_OFF_PAYLOAD + plain_len + RW_TAG_LEN);
}

int rw__packet_open(struct rw_aead *recv, const struct rw_packet *p, uint8_t *out)
{
	int ret = rw__aead_open(recv, p->counter, NULL, 0, p->ciphertext, p->ciphertext_len, out);

	return ret ? ret : (int)(p->ciphertext_len - RW_TAG_LEN);
}
