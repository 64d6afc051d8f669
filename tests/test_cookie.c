/* SPDX-License-Identifier: MIT */
/* test_cookie.c - cookie secret rotation, MAC2, CookieReply both ways, address text. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cookie.h"
#include "crypto.h"
#include "noise.h"
#include "tai64n.h"

static struct rw_noise_identity cli, srv;
static struct rw_noise_remote srv_remote;
static uint8_t init[RW_SIZE_HANDSHAKE_INIT];
static struct rw_handshake hs;

static int setup(void **state)
{
	uint8_t priv[32], pub[32], ts[12];

	if (rw__x25519_generate(priv, pub) || rw__noise_identity_init(&cli, priv))
		return -1;
	if (rw__x25519_generate(priv, pub) || rw__noise_identity_init(&srv, priv))
		return -1;
	if (rw__noise_remote_init(&srv_remote, &cli, srv.pub))
		return -1;
	rw__tai64n_now(ts);
	return rw__noise_init_create(&hs, init, &cli, &srv_remote, 7, ts, NULL);
}

static void test_addr_strings(void **state)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(51820) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons(9000) };
	char s[RW_ADDR_STR_MAX];

	inet_pton(AF_INET, "192.0.2.1", &in.sin_addr);
	assert_int_equal(rw__addr_to_string(s, (struct sockaddr *)&in, sizeof(in)), 0);
	assert_string_equal(s, "192.0.2.1:51820");
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	assert_int_equal(rw__addr_to_string(s, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_string_equal(s, "[2001:db8::1]:9000");
	assert_int_equal(rw__addr_to_string(s, (struct sockaddr *)&in, 4), -EAFNOSUPPORT);
	/* an IPv4 peer seen through a dual-stack socket is written (and cookied) as IPv4 */
	inet_pton(AF_INET6, "::ffff:127.0.0.2", &in6.sin6_addr);
	in6.sin6_port = htons(5000);
	assert_int_equal(rw__addr_to_string(s, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_string_equal(s, "127.0.0.2:5000");
	/* only ::ffff:0:0/96 is v4-mapped: the deprecated v4-compatible form stays IPv6 */
	inet_pton(AF_INET6, "::127.0.0.2", &in6.sin6_addr);
	assert_int_equal(rw__addr_to_string(s, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_string_equal(s, "[::127.0.0.2]:5000");
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	assert_int_equal(rw__addr_to_string(s, (struct sockaddr *)&in6, sizeof(in6)), 0);
	assert_string_equal(s, "[2001:db8::1]:5000");
}

static void test_full_cookie_exchange(void **state)
{
	struct rw_cookie_checker cc;
	uint8_t reply[RW_SIZE_COOKIE_REPLY], cookie[16], retry[RW_SIZE_HANDSHAKE_INIT];

	assert_int_equal(rw__cookie_checker_init(&cc, srv.pub, 1000, 120000, 10000), 0);
	/* no cookie yet: MAC2 is zero and does not verify */
	assert_false(rw__cookie_mac2_ok(&cc, init, "10.0.0.1:4000", 1000));
	assert_int_equal(rw__cookie_reply_create(&cc, reply, init, "10.0.0.1:4000", NULL), 0);
	assert_int_equal(reply[0], RW_MSG_COOKIE_REPLY);
	assert_memory_equal(reply + 4, init + 4, 4);	/* echoes the sender index */
	assert_int_equal(rw__cookie_reply_consume(reply, hs.mac1, cookie), 0);
	memcpy(retry, init, sizeof(retry));
	assert_int_equal(rw__cookie_mac2_put(retry, cookie), 0);
	/* the retry is the first init with MAC2 filled in, nothing else */
	assert_memory_equal(retry, init, RW_INIT_OFF_MAC2);
	assert_true(rw__cookie_mac2_ok(&cc, retry, "10.0.0.1:4000", 2000));
	/* bound to the address: another port or host fails */
	assert_false(rw__cookie_mac2_ok(&cc, retry, "10.0.0.1:4001", 2000));
	assert_false(rw__cookie_mac2_ok(&cc, retry, "10.0.0.2:4000", 2000));
	/* MAC1 still verifies: MAC2 does not cover it and is not covered by it */
	assert_true(rw__noise_mac1_ok(retry, RW_INIT_OFF_MAC1, srv.mac1_key));
	rw__cookie_checker_wipe(&cc);
}

static void test_reply_only_opens_for_the_initiator(void **state)
{
	struct rw_cookie_checker cc;
	uint8_t reply[RW_SIZE_COOKIE_REPLY], cookie[16], wrong_mac1[16];

	assert_int_equal(rw__cookie_checker_init(&cc, srv.pub, 1, 0, 0), 0);
	assert_int_equal(rw__cookie_reply_create(&cc, reply, init, "10.0.0.1:4000", NULL), 0);
	memcpy(wrong_mac1, hs.mac1, 16);
	wrong_mac1[0] ^= 1;
	assert_int_equal(rw__cookie_reply_consume(reply, wrong_mac1, cookie), -EBADMSG);
	for (size_t i = RW_COOKIE_OFF_NONCE; i < RW_SIZE_COOKIE_REPLY; i++) {
		reply[i] ^= 0x10;
		assert_int_equal(rw__cookie_reply_consume(reply, hs.mac1, cookie), -EBADMSG);
		reply[i] ^= 0x10;
	}
	assert_int_equal(rw__cookie_reply_consume(reply, hs.mac1, cookie), 0);
}

static void test_rotation_and_grace(void **state)
{
	struct rw_cookie_checker cc;
	uint8_t reply[RW_SIZE_COOKIE_REPLY], cookie[16], retry[RW_SIZE_HANDSHAKE_INIT];
	const uint64_t t0 = 5000, rot = 120000, grace = 10000;

	assert_int_equal(rw__cookie_checker_init(&cc, srv.pub, t0, rot, grace), 0);
	assert_int_equal(rw__cookie_reply_create(&cc, reply, init, "[::1]:9", NULL), 0);
	assert_int_equal(rw__cookie_reply_consume(reply, hs.mac1, cookie), 0);
	memcpy(retry, init, sizeof(retry));
	assert_int_equal(rw__cookie_mac2_put(retry, cookie), 0);

	assert_int_equal(rw__cookie_checker_tick(&cc, t0 + rot - 1), 0);
	assert_true(rw__cookie_mac2_ok(&cc, retry, "[::1]:9", t0 + rot - 1));
	assert_int_equal(rw__cookie_checker_tick(&cc, t0 + rot), 1);
	/* just rotated: the old cookie still works within the grace period ... */
	assert_true(rw__cookie_mac2_ok(&cc, retry, "[::1]:9", t0 + rot + grace - 1));
	/* ... and not after it */
	assert_false(rw__cookie_mac2_ok(&cc, retry, "[::1]:9", t0 + rot + grace));
	/* two rotations later it is gone for good */
	assert_int_equal(rw__cookie_checker_tick(&cc, t0 + 2 * rot), 1);
	assert_false(rw__cookie_mac2_ok(&cc, retry, "[::1]:9", t0 + 2 * rot));
}

static void test_no_amplification(void **state)
{
	/* A responder that has not seen a valid MAC2 answers 148 bytes with 64. */
	assert_true(RW_SIZE_COOKIE_REPLY < RW_SIZE_HANDSHAKE_INIT);
	assert_true(RW_SIZE_HANDSHAKE_RESP < RW_SIZE_HANDSHAKE_INIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr_strings),
		cmocka_unit_test(test_full_cookie_exchange),
		cmocka_unit_test(test_reply_only_opens_for_the_initiator),
		cmocka_unit_test(test_rotation_and_grace),
		cmocka_unit_test(test_no_amplification),
	};
	int ret = cmocka_run_group_tests(tests, setup, NULL);

	rw__crypto_thread_release();
	return ret;
}
