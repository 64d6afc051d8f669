/* SPDX-License-Identifier: MIT */
/*
 * fuzz_handshake_init.c - the responder's side of the handshake:
 * rw__noise_init_consume, then rw__noise_resp_create.
 *
 * The responder is the KAT responder (static key 21..40, clamped). A random
 * HandshakeInit never gets past MAC1, so the harness computes MAC1 itself,
 * and a random ephemeral never gets past the first AEAD, so a second mode
 * builds a valid init and then damages it where the input says.
 *
 * Raw mode (first byte < 0xf0): the first 148 input bytes (zero-padded) are
 * the HandshakeInit; MAC1 is recomputed with the responder's MAC1 key. The
 * KAT HandshakeInit is a raw seed: it must be accepted, and the response to
 * it with the KAT responder ephemeral must be the KAT HandshakeResp.
 *
 * Build mode (first byte >= 0xf0), then:
 *   32  initiator static private key (raw; clamped)
 *   32  initiator ephemeral private key (raw; clamped)
 *   12  timestamp
 *    4  sender index
 *    1  flags: 0x01 recompute MAC1 after the mutations
 *              0x02 the initiator claims a small-order static public key
 *              0x04 overwrite the ephemeral with a small-order point
 *              0x08 initiator without the cached static-static DH
 *    1  small-order point selector (fuzz_pick_low_order)
 *   32  responder ephemeral private key for the response
 *   then pairs (offset, xor) applied to the 148 bytes.
 * Oracle: the init is accepted exactly when the AEAD-covered part (ephemeral,
 * encrypted static and timestamp, bytes 8..116) is what the initiator wrote
 * and no small-order key is involved; a small-order key is -EINVAL. MAC1
 * checks exactly when bytes 0..132 are those it was computed over. An
 * accepted init gives the initiator's key, timestamp and index, and the
 * response completes the handshake on the initiator's side with matching
 * transport keys. Every failure leaves the handshake zeroed.
 */
#include <errno.h>
#include <stdbool.h>

#include "crypto.h"
#include "fuzz.h"
#include "fuzz_kat.h"
#include "noise.h"

enum { INIT = RW_SIZE_HANDSHAKE_INIT, RESP = RW_SIZE_HANDSHAKE_RESP };

/* Depends on constants only: computed once, then only copied (see fuzz_handshake_resp.c). */
static void responder_identity(struct rw_noise_identity *id)
{
	static struct rw_noise_identity cached;
	static bool ready;

	if (!ready) {
		uint8_t raw[32];

		fuzz_kat_key(raw, KAT_RESP_STATIC_FIRST);
		FUZZ_CHECK(rw__noise_identity_init(&cached, raw) == 0);
		ready = true;
	}
	*id = cached;
}

/* After an accepted init: respond, and check the response opens with the initiator's MAC1 key. */
static void respond(struct rw_handshake *rhs, uint8_t resp[RESP], uint32_t sender, const uint8_t eph[32])
{
	uint8_t mac1_key[RW_HASH_LEN], initiator[32];

	memcpy(initiator, rhs->remote_static, 32);
	/* a key that passed the static-static DH is not small-order: this cannot fail */
	FUZZ_CHECK(rw__noise_resp_create(rhs, resp, sender, eph) == 0);
	FUZZ_CHECK(resp[0] == RW_MSG_HANDSHAKE_RESP);
	FUZZ_CHECK(rw_le32(resp + RW_RESP_OFF_SENDER) == sender);
	FUZZ_CHECK(rw_le32(resp + RW_RESP_OFF_RECEIVER) == rhs->remote_index);
	FUZZ_CHECK(fuzz_all_zero(resp + RW_RESP_OFF_MAC2, RW_MAC_LEN));
	FUZZ_CHECK(rw__noise_mac1_key(mac1_key, initiator) == 0);
	FUZZ_CHECK(rw__noise_mac1_ok(resp, RW_RESP_OFF_MAC1, mac1_key));
	FUZZ_CHECK(memcmp(rhs->mac1, resp + RW_RESP_OFF_MAC1, RW_MAC_LEN) == 0);
}

static void raw_mode(const uint8_t *data, size_t size)
{
	struct rw_noise_identity resp_id;
	struct rw_handshake hs;
	uint8_t msg[INIT], resp[RESP], eph[32], kat[INIT], kat_resp[RESP], s[32], r[32];
	struct fuzz_in in;
	int ret;

	responder_identity(&resp_id);
	fuzz_in_init(&in, data, size);
	fuzz_take(&in, msg, INIT);
	FUZZ_CHECK(rw__noise_mac1_put(msg, RW_INIT_OFF_MAC1, resp_id.mac1_key) == 0);
	FUZZ_CHECK(rw__noise_mac1_ok(msg, RW_INIT_OFF_MAC1, resp_id.mac1_key));

	ret = rw__noise_init_consume(&hs, msg, &resp_id);
	fuzz_unhex(kat, INIT, KAT_HANDSHAKE_INIT);
	if (memcmp(msg + RW_INIT_OFF_EPHEMERAL, kat + RW_INIT_OFF_EPHEMERAL,
		   RW_INIT_OFF_MAC1 - RW_INIT_OFF_EPHEMERAL) == 0)
		FUZZ_CHECK(ret == 0);
	if (ret) {
		FUZZ_CHECK(ret == -EBADMSG || ret == -EINVAL);
		FUZZ_CHECK(fuzz_all_zero(&hs, sizeof(hs)));
		goto out;
	}
	FUZZ_CHECK(hs.remote_index == rw_le32(msg + RW_INIT_OFF_SENDER));
	FUZZ_CHECK(memcmp(hs.remote_e, msg + RW_INIT_OFF_EPHEMERAL, 32) == 0);
	fuzz_kat_key(eph, KAT_RESP_EPH_FIRST);
	respond(&hs, resp, KAT_RESP_SENDER, eph);
	if (memcmp(msg, kat, RW_INIT_OFF_MAC1) == 0) {
		fuzz_unhex(kat_resp, RESP, KAT_HANDSHAKE_RESP);
		FUZZ_CHECK(memcmp(resp, kat_resp, RESP) == 0);
	}
	FUZZ_CHECK(rw__noise_split(&hs, false, s, r) == 0);
	FUZZ_CHECK(fuzz_all_zero(&hs, sizeof(hs)));
out:
	rw__noise_handshake_clear(&hs);
	rw__memzero(&resp_id, sizeof(resp_id));
}

static void build_mode(const uint8_t *data, size_t size)
{
	struct rw_noise_identity resp_id, ini_id;
	struct rw_noise_remote remote;
	struct rw_handshake ihs, rhs;
	uint8_t ist[32], ieph[32], reph[32], ts[12], lo[32];
	uint8_t msg[INIT], orig[INIT], maced[INIT], resp[RESP];
	uint8_t is[32], ir[32], rs[32], rr[32];
	struct fuzz_in in;
	uint32_t sender;
	uint8_t flags, sel;
	bool lo_static, lo_eph;
	int ret;

	fuzz_in_init(&in, data, size);
	fuzz_take(&in, ist, 32);
	fuzz_take(&in, ieph, 32);
	fuzz_take(&in, ts, 12);
	sender = fuzz_u32(&in);
	flags = fuzz_u8(&in);
	sel = fuzz_u8(&in);
	fuzz_take(&in, reph, 32);
	lo_static = flags & 0x02;
	lo_eph = flags & 0x04;
	fuzz_pick_low_order(lo, sel);

	responder_identity(&resp_id);
	FUZZ_CHECK(rw__noise_identity_init(&ini_id, ist) == 0);
	if (lo_static)
		memcpy(ini_id.pub, lo, 32);	/* a hostile initiator */
	FUZZ_CHECK(rw__noise_remote_init(&remote, (flags & 0x08) ? NULL : &ini_id, resp_id.pub) == 0);
	FUZZ_CHECK(rw__noise_init_create(&ihs, msg, &ini_id, &remote, sender, ts, ieph) == 0);
	FUZZ_CHECK(msg[0] == RW_MSG_HANDSHAKE_INIT);
	FUZZ_CHECK(rw_le32(msg + RW_INIT_OFF_SENDER) == sender);
	FUZZ_CHECK(fuzz_all_zero(msg + RW_INIT_OFF_MAC2, RW_MAC_LEN));
	FUZZ_CHECK(rw__noise_mac1_ok(msg, RW_INIT_OFF_MAC1, resp_id.mac1_key));
	memcpy(orig, msg, INIT);

	if (lo_eph) {
		memcpy(msg + RW_INIT_OFF_EPHEMERAL, lo, 32);
		FUZZ_CHECK(rw__noise_mac1_put(msg, RW_INIT_OFF_MAC1, resp_id.mac1_key) == 0);
	}
	memcpy(maced, msg, INIT);
	while (in.left) {
		uint8_t off = fuzz_u8(&in), x = fuzz_u8(&in);

		msg[off % INIT] ^= x;
	}
	if (flags & 0x01) {
		FUZZ_CHECK(rw__noise_mac1_put(msg, RW_INIT_OFF_MAC1, resp_id.mac1_key) == 0);
		memcpy(maced, msg, INIT);
	}
	FUZZ_CHECK(rw__noise_mac1_ok(msg, RW_INIT_OFF_MAC1, resp_id.mac1_key) ==
		   (memcmp(msg, maced, RW_INIT_OFF_MAC2) == 0));

	/* the Noise step runs whatever MAC1 said: it is the code under test */
	ret = rw__noise_init_consume(&rhs, msg, &resp_id);
	bool intact = memcmp(msg + RW_INIT_OFF_EPHEMERAL, orig + RW_INIT_OFF_EPHEMERAL,
			     RW_INIT_OFF_MAC1 - RW_INIT_OFF_EPHEMERAL) == 0;
	if (intact)
		FUZZ_CHECK(ret == (lo_static ? -EINVAL : 0));
	else
		FUZZ_CHECK(ret != 0);
	if (lo_eph && memcmp(msg + RW_INIT_OFF_EPHEMERAL, lo, 32) == 0)
		FUZZ_CHECK(ret == -EINVAL);
	if (ret) {
		FUZZ_CHECK(ret == -EBADMSG || ret == -EINVAL);
		FUZZ_CHECK(fuzz_all_zero(&rhs, sizeof(rhs)));
		goto out;
	}
	FUZZ_CHECK(memcmp(rhs.remote_static, ini_id.pub, 32) == 0);
	FUZZ_CHECK(memcmp(rhs.timestamp, ts, 12) == 0);
	FUZZ_CHECK(rhs.remote_index == rw_le32(msg + RW_INIT_OFF_SENDER));
	FUZZ_CHECK(memcmp(rhs.remote_e, ihs.e_pub, 32) == 0);

	/* finish the handshake on both sides */
	respond(&rhs, resp, sender ^ 0x5a5a5a5au, reph);
	FUZZ_CHECK(rw__noise_mac1_ok(resp, RW_RESP_OFF_MAC1, ini_id.mac1_key));
	FUZZ_CHECK(rw__noise_resp_consume(&ihs, resp, &ini_id) == 0);
	FUZZ_CHECK(ihs.remote_index == (sender ^ 0x5a5a5a5au));
	FUZZ_CHECK(rw__noise_split(&ihs, true, is, ir) == 0);
	FUZZ_CHECK(rw__noise_split(&rhs, false, rs, rr) == 0);
	FUZZ_CHECK(memcmp(is, rr, 32) == 0 && memcmp(ir, rs, 32) == 0);
	FUZZ_CHECK(memcmp(is, ir, 32) != 0);
out:
	rw__noise_handshake_clear(&ihs);
	rw__noise_handshake_clear(&rhs);
	rw__memzero(&ini_id, sizeof(ini_id));
	rw__memzero(&resp_id, sizeof(resp_id));
	rw__memzero(&remote, sizeof(remote));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size && data[0] >= 0xf0)
		build_mode(data + 1, size - 1);
	else
		raw_mode(data, size);
	return 0;
}
