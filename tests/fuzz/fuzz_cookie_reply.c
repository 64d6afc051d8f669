/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cookie_reply.c - both ends of the cookie mechanism (docs/protocol.md §6).
 *
 * The server's checker is fixed and drawn from no randomness: server key the
 * KAT responder's, current secret the KAT cookie_secret (a0..bf, born at
 * T0), previous secret c0..df, grace GRACE_MS. The first input byte picks:
 *
 * < 0x80  raw client side: rw__cookie_reply_consume on the next 64 bytes
 *         with the 16 after them as the MAC1 we sent. The KAT CookieReply
 *         with the KAT init's MAC1 must open to the KAT cookie.
 * < 0xc0  built client side: 148 bytes of init, an address selector, a
 *         24-byte nonce, then (offset, xor) pairs over the 64 reply bytes
 *         and the 16 MAC1 bytes (offset % 80). The reply the checker makes
 *         must open to the cookie for that address before the mutations,
 *         and after them exactly when nonce, sealed cookie and MAC1 are
 *         unchanged.
 * >= 0xc0 server side: rw__cookie_mac2_ok on 148 bytes of init, with an
 *         address selector, a time offset, and a mode byte: MAC2 as given,
 *         or recomputed with the current or the previous cookie, then
 *         (offset, xor) pairs. MAC2 covers bytes 0..116 only (docs/protocol.md §2.5,
 *         not MAC1); it must check exactly when those bytes and MAC2 are
 *         what a valid cookie was computed over, the previous cookie only
 *         within the grace period. The KAT HandshakeInit_with_mac2 from the
 *         KAT address is valid under the current secret.
 */
#include <errno.h>
#include <stdbool.h>

#include "cookie.h"
#include "crypto.h"
#include "fuzz.h"
#include "fuzz_kat.h"

enum {
	INIT = RW_SIZE_HANDSHAKE_INIT,
	REPLY = RW_SIZE_COOKIE_REPLY,
	T0 = 1000000,
	GRACE_MS = 5000,
};

static const char *const addrs[] = {
	KAT_COOKIE_ADDR, "192.0.2.1:51821", "[2001:db8::1]:51820", "[fe80::1%eth0]:9000", "",
};

static const char *pick_addr(uint8_t sel)
{
	return addrs[sel % (sizeof(addrs) / sizeof(addrs[0]))];
}

static void checker(struct rw_cookie_checker *c, bool previous_only)
{
	uint8_t pub[32], secret[32];

	memset(c, 0, sizeof(*c));
	fuzz_unhex(pub, 32, KAT_RESP_STATIC_PUB);
	memcpy(c->server_pub, pub, 32);
	c->rotation_ms = RW_COOKIE_ROTATION_S * 1000ull;
	c->grace_ms = GRACE_MS;
	fuzz_kat_key(secret, 0xc0);
	FUZZ_CHECK(rw__cookie_checker_set_secret(c, secret, T0 - 60000) == 0);
	if (previous_only)
		return;
	fuzz_unhex(secret, 32, KAT_COOKIE_SECRET);
	FUZZ_CHECK(rw__cookie_checker_set_secret(c, secret, T0) == 0);
	FUZZ_CHECK(c->has_prev);
}

static void raw_consume(struct fuzz_in *in)
{
	uint8_t reply[REPLY], mac1[RW_MAC_LEN], cookie[RW_COOKIE_LEN], kat[REPLY], init[INIT], want[RW_COOKIE_LEN];
	int ret;

	fuzz_take(in, reply, REPLY);
	fuzz_take(in, mac1, RW_MAC_LEN);
	ret = rw__cookie_reply_consume(reply, mac1, cookie);
	fuzz_unhex(kat, REPLY, KAT_COOKIE_REPLY);
	fuzz_unhex(init, INIT, KAT_HANDSHAKE_INIT);
	if (memcmp(reply + RW_COOKIE_OFF_NONCE, kat + RW_COOKIE_OFF_NONCE, REPLY - RW_COOKIE_OFF_NONCE) == 0 &&
	    memcmp(mac1, init + RW_INIT_OFF_MAC1, RW_MAC_LEN) == 0) {
		FUZZ_CHECK(ret == 0);
		fuzz_unhex(want, RW_COOKIE_LEN, KAT_COOKIE);
		FUZZ_CHECK(memcmp(cookie, want, RW_COOKIE_LEN) == 0);
	} else if (ret == 0) {
		/*
		 * Not the KAT, yet it opened: libFuzzer can learn a genuine reply
		 * for another MAC1 from the comparisons of built_consume. Then it
		 * must be exactly the sealing of the cookie it gave under
		 * MAC1 || 0^16 and its nonce: anything else would be a forgery.
		 */
		uint8_t key[RW_KEY_LEN] = { 0 }, again[RW_COOKIE_LEN + RW_TAG_LEN];

		memcpy(key, mac1, RW_MAC_LEN);
		FUZZ_CHECK(rw__xaead_seal(key, reply + RW_COOKIE_OFF_NONCE, cookie, RW_COOKIE_LEN, again) == 0);
		FUZZ_CHECK(memcmp(again, reply + RW_COOKIE_OFF_COOKIE, sizeof(again)) == 0);
	} else {
		FUZZ_CHECK(ret == -EBADMSG);
	}
}

static void built_consume(struct fuzz_in *in)
{
	struct rw_cookie_checker c;
	uint8_t init[INIT], nonce[RW_XNONCE_LEN], reply[REPLY], orig[REPLY], mac1[RW_MAC_LEN];
	uint8_t cookie[RW_COOKIE_LEN], want[RW_COOKIE_LEN];
	const char *addr;
	int ret;

	checker(&c, false);
	fuzz_take(in, init, INIT);
	addr = pick_addr(fuzz_u8(in));
	fuzz_take(in, nonce, sizeof(nonce));
	FUZZ_CHECK(rw__cookie_reply_create(&c, reply, init, addr, nonce) == 0);
	FUZZ_CHECK(reply[0] == RW_MSG_COOKIE_REPLY);
	FUZZ_CHECK(memcmp(reply + RW_COOKIE_OFF_RECEIVER, init + RW_INIT_OFF_SENDER, 4) == 0);
	FUZZ_CHECK(memcmp(reply + RW_COOKIE_OFF_NONCE, nonce, sizeof(nonce)) == 0);
	FUZZ_CHECK(rw__cookie_compute(&c, addr, want) == 0);
	memcpy(mac1, init + RW_INIT_OFF_MAC1, RW_MAC_LEN);
	FUZZ_CHECK(rw__cookie_reply_consume(reply, mac1, cookie) == 0);
	FUZZ_CHECK(memcmp(cookie, want, RW_COOKIE_LEN) == 0);

	memcpy(orig, reply, REPLY);
	while (in->left) {
		uint8_t off = fuzz_u8(in) % (REPLY + RW_MAC_LEN), x = fuzz_u8(in);

		if (off < REPLY)
			reply[off] ^= x;
		else
			mac1[off - REPLY] ^= x;
	}
	ret = rw__cookie_reply_consume(reply, mac1, cookie);
	if (memcmp(reply + RW_COOKIE_OFF_NONCE, orig + RW_COOKIE_OFF_NONCE, REPLY - RW_COOKIE_OFF_NONCE) == 0 &&
	    memcmp(mac1, init + RW_INIT_OFF_MAC1, RW_MAC_LEN) == 0) {
		/* the header (type, receiver index) is not authenticated */
		FUZZ_CHECK(ret == 0);
		FUZZ_CHECK(memcmp(cookie, want, RW_COOKIE_LEN) == 0);
	} else {
		FUZZ_CHECK(ret == -EBADMSG);
	}
	rw__cookie_checker_wipe(&c);
}

/* Bytes MAC2 depends on: the init up to MAC1, and MAC2 itself. */
static bool mac2_inputs_equal(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, RW_INIT_OFF_MAC1) == 0 &&
	       memcmp(a + RW_INIT_OFF_MAC2, b + RW_INIT_OFF_MAC2, RW_MAC_LEN) == 0;
}

static void mac2_check(struct fuzz_in *in)
{
	struct rw_cookie_checker c, prev;
	uint8_t init[INIT], maced[INIT], kat[INIT], cookie[RW_COOKIE_LEN];
	const char *addr;
	uint8_t asel, mode;
	uint64_t now;
	bool ok, want, in_grace;

	checker(&c, false);
	checker(&prev, true);
	fuzz_take(in, init, INIT);
	asel = fuzz_u8(in);
	addr = pick_addr(asel);
	/* from 100 ms before the secret was drawn to well past the grace period */
	now = T0 - 100 + fuzz_u16(in);
	mode = fuzz_u8(in) % 3;
	in_grace = now >= T0 && now - T0 < GRACE_MS;

	if (mode == 1)
		FUZZ_CHECK(rw__cookie_compute(&c, addr, cookie) == 0);
	else if (mode == 2)
		FUZZ_CHECK(rw__cookie_compute(&prev, addr, cookie) == 0);
	if (mode)
		FUZZ_CHECK(rw__cookie_mac2_put(init, cookie) == 0);
	memcpy(maced, init, INIT);
	while (in->left) {
		uint8_t off = fuzz_u8(in), x = fuzz_u8(in);

		init[off % INIT] ^= x;
	}
	ok = rw__cookie_mac2_ok(&c, init, addr, now);
	fuzz_unhex(kat, INIT, KAT_HANDSHAKE_INIT_WITH_MAC2);
	if (mode == 0)
		want = mac2_inputs_equal(init, kat) && strcmp(addr, KAT_COOKIE_ADDR) == 0;
	else if (!mac2_inputs_equal(init, maced))
		want = false;
	else
		want = mode == 1 || in_grace;
	FUZZ_CHECK(ok == want);
	rw__cookie_checker_wipe(&c);
	rw__cookie_checker_wipe(&prev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	uint8_t sel;

	fuzz_in_init(&in, data, size);
	sel = fuzz_u8(&in);
	if (sel < 0x80)
		raw_consume(&in);
	else if (sel < 0xc0)
		built_consume(&in);
	else
		mac2_check(&in);
	return 0;
}
