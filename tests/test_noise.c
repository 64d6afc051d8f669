/* SPDX-License-Identifier: MIT */
/* test_noise.c - Noise IK round trips and every way a handshake must fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "noise.h"
#include "tai64n.h"

struct pair {
	struct rw_noise_identity a, b;	/* a initiates to b */
	struct rw_noise_remote b_for_a;
	struct rw_handshake ini, rsp;
	uint8_t init[RW_SIZE_HANDSHAKE_INIT], resp[RW_SIZE_HANDSHAKE_RESP];
	uint8_t ts[12];
};

static void new_identity(struct rw_noise_identity *id)
{
	uint8_t priv[32], pub[32];

	assert_int_equal(rw__x25519_generate(priv, pub), 0);
	assert_int_equal(rw__noise_identity_init(id, priv), 0);
	assert_memory_equal(id->pub, pub, 32);
}

static void make_init(struct pair *p, bool cached_ss)
{
	new_identity(&p->a);
	new_identity(&p->b);
	assert_int_equal(rw__noise_remote_init(&p->b_for_a, cached_ss ? &p->a : NULL, p->b.pub), 0);
	assert_int_equal(p->b_for_a.has_ss, cached_ss);
	rw__tai64n_now(p->ts);
	assert_int_equal(rw__noise_init_create(&p->ini, p->init, &p->a, &p->b_for_a, 42, p->ts, NULL), 0);
}

static void full(struct pair *p, bool cached_ss)
{
	uint8_t is[32], ir[32], rs[32], rr[32];

	make_init(p, cached_ss);
	assert_true(rw__noise_mac1_ok(p->init, RW_INIT_OFF_MAC1, p->b.mac1_key));
	assert_true(rw__is_zero(p->init + RW_INIT_OFF_MAC2, 16));
	assert_int_equal(rw__noise_init_consume(&p->rsp, p->init, &p->b), 0);
	assert_memory_equal(p->rsp.remote_static, p->a.pub, 32);
	assert_memory_equal(p->rsp.timestamp, p->ts, 12);
	assert_int_equal(p->rsp.remote_index, 42);
	assert_int_equal(rw__noise_resp_create(&p->rsp, p->resp, 77, NULL), 0);
	assert_true(rw__noise_mac1_ok(p->resp, RW_RESP_OFF_MAC1, p->a.mac1_key));
	assert_int_equal(rw__noise_resp_consume(&p->ini, p->resp, &p->a), 0);
	assert_int_equal(p->ini.remote_index, 77);
	assert_int_equal(rw__noise_split(&p->ini, true, is, ir), 0);
	assert_int_equal(rw__noise_split(&p->rsp, false, rs, rr), 0);
	assert_memory_equal(is, rr, 32);
	assert_memory_equal(ir, rs, 32);
	assert_memory_not_equal(is, ir, 32);
	/* split leaves nothing behind */
	assert_true(rw__is_zero(&p->ini, sizeof(p->ini)));
	assert_true(rw__is_zero(&p->rsp, sizeof(p->rsp)));
}

static void test_round_trip(void **state)
{
	struct pair p;

	full(&p, false);
	full(&p, true);
}

static void test_fresh_ephemerals(void **state)
{
	struct pair p;
	uint8_t first[RW_SIZE_HANDSHAKE_INIT];

	make_init(&p, true);
	memcpy(first, p.init, sizeof(first));
	assert_int_equal(rw__noise_init_create(&p.ini, p.init, &p.a, &p.b_for_a, 42, p.ts, NULL), 0);
	assert_memory_not_equal(first + RW_INIT_OFF_EPHEMERAL, p.init + RW_INIT_OFF_EPHEMERAL, 32);
}

/* Every byte under MAC1 is covered by it; every byte of the Noise payload also by the AEAD. */
static void test_init_tamper_each_byte(void **state)
{
	struct pair p;
	struct rw_handshake hs;

	make_init(&p, true);
	for (size_t i = 0; i < RW_INIT_OFF_MAC2; i++) {
		p.init[i] ^= 0x01;
		assert_false(rw__noise_mac1_ok(p.init, RW_INIT_OFF_MAC1, p.b.mac1_key));
		if (i >= RW_INIT_OFF_EPHEMERAL && i < RW_INIT_OFF_MAC1) {
			int ret = rw__noise_init_consume(&hs, p.init, &p.b);
			/* a flipped ephemeral can also become a low-order point */
			assert_true(ret == -EBADMSG || ret == -EINVAL);
			assert_true(rw__is_zero(&hs, sizeof(hs)));
		}
		p.init[i] ^= 0x01;
	}
	assert_true(rw__noise_mac1_ok(p.init, RW_INIT_OFF_MAC1, p.b.mac1_key));
	assert_int_equal(rw__noise_init_consume(&hs, p.init, &p.b), 0);
}

static void test_resp_tamper_each_byte(void **state)
{
	struct pair p;
	struct rw_handshake saved;

	make_init(&p, false);
	assert_int_equal(rw__noise_init_consume(&p.rsp, p.init, &p.b), 0);
	assert_int_equal(rw__noise_resp_create(&p.rsp, p.resp, 77, NULL), 0);
	saved = p.ini;
	for (size_t i = 0; i < RW_RESP_OFF_MAC2; i++) {
		p.resp[i] ^= 0x01;
		assert_false(rw__noise_mac1_ok(p.resp, RW_RESP_OFF_MAC1, p.a.mac1_key));
		if (i >= RW_RESP_OFF_EPHEMERAL && i < RW_RESP_OFF_MAC1) {
			p.ini = saved;
			int ret = rw__noise_resp_consume(&p.ini, p.resp, &p.a);
			assert_true(ret == -EBADMSG || ret == -EINVAL);
		}
		p.resp[i] ^= 0x01;
	}
	p.ini = saved;
	assert_int_equal(rw__noise_resp_consume(&p.ini, p.resp, &p.a), 0);
}

static void test_wrong_responder_key(void **state)
{
	struct pair p;
	struct rw_noise_identity other;
	struct rw_handshake hs;

	make_init(&p, true);
	new_identity(&other);
	/* MAC1 fails for anybody but the intended responder ... */
	assert_false(rw__noise_mac1_ok(p.init, RW_INIT_OFF_MAC1, other.mac1_key));
	/* ... and so would the AEAD if MAC1 were skipped */
	assert_int_equal(rw__noise_init_consume(&hs, p.init, &other), -EBADMSG);
}

static void test_response_to_someone_else(void **state)
{
	struct pair p, q;

	/* a response built for q's handshake cannot complete p's */
	make_init(&p, false);
	make_init(&q, false);
	assert_int_equal(rw__noise_init_consume(&q.rsp, q.init, &q.b), 0);
	assert_int_equal(rw__noise_resp_create(&q.rsp, q.resp, 9, NULL), 0);
	assert_false(rw__noise_mac1_ok(q.resp, RW_RESP_OFF_MAC1, p.a.mac1_key));
	assert_int_not_equal(rw__noise_resp_consume(&p.ini, q.resp, &p.a), 0);
}

static const uint8_t low_order[][32] = {
	{ 0 },
	{ 1 },
	{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
	  0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00 },
};

static void test_low_order_keys(void **state)
{
	struct pair p;
	struct rw_noise_remote r;
	struct rw_handshake hs;

	make_init(&p, true);
	for (size_t i = 0; i < sizeof(low_order) / sizeof(low_order[0]); i++) {
		/* an initiator will not start towards a low-order static key */
		assert_int_equal(rw__noise_remote_init(&r, &p.a, low_order[i]), -EINVAL);
		assert_int_equal(rw__noise_remote_init(&r, NULL, low_order[i]), 0);
		assert_int_equal(rw__noise_init_create(&hs, p.init, &p.a, &r, 1, p.ts, NULL), -EINVAL);
		/* a responder refuses a low-order ephemeral (es) */
		make_init(&p, true);
		memcpy(p.init + RW_INIT_OFF_EPHEMERAL, low_order[i], 32);
		assert_int_equal(rw__noise_init_consume(&hs, p.init, &p.b), -EINVAL);
	}
	/* an initiator refuses a low-order responder ephemeral (ee) */
	make_init(&p, false);
	assert_int_equal(rw__noise_init_consume(&p.rsp, p.init, &p.b), 0);
	assert_int_equal(rw__noise_resp_create(&p.rsp, p.resp, 5, NULL), 0);
	memcpy(p.resp + RW_RESP_OFF_EPHEMERAL, low_order[2], 32);
	assert_int_equal(rw__noise_resp_consume(&p.ini, p.resp, &p.a), -EINVAL);
}

/* An initiator whose static key is low order cannot get through ss. */
static void test_zero_static_initiator(void **state)
{
	struct pair p;
	struct rw_handshake hs;

	make_init(&p, true);
	/* forge: encrypt a zero static key under the real es key is not possible
	 * without the ephemeral; so replace the identity instead */
	struct rw_noise_identity zero = p.a;
	memset(zero.pub, 0, 32);
	assert_int_equal(rw__noise_init_create(&p.ini, p.init, &zero, &p.b_for_a, 1, p.ts, NULL), 0);
	assert_int_equal(rw__noise_init_consume(&hs, p.init, &p.b), -EINVAL);
}

static void test_failed_init_create_wipes(void **state)
{
	struct pair p;
	struct rw_noise_remote bad;

	make_init(&p, true);
	assert_int_equal(rw__noise_remote_init(&bad, NULL, low_order[0]), 0);
	memset(&p.ini, 0x55, sizeof(p.ini));
	assert_int_equal(rw__noise_init_create(&p.ini, p.init, &p.a, &bad, 1, p.ts, NULL), -EINVAL);
	assert_true(rw__is_zero(&p.ini, sizeof(p.ini)));
}

/* The responder's static-static cache: what it looked up is what the DH gives. */
struct ss_cache {
	uint8_t ss[32];
	bool have;
	int calls;
};

static bool ss_get(void *user, const uint8_t key[RW_KEY_LEN], uint8_t ss[RW_KEY_LEN])
{
	struct ss_cache *c = user;

	(void)key;
	c->calls++;
	if (c->have)
		memcpy(ss, c->ss, 32);
	return c->have;
}

/* The response in two steps (prepare off the reactor, then index and MAC1) is the one-step response. */
static void test_resp_in_two_steps(void **state)
{
	struct pair p;
	struct rw_handshake two, other;
	uint8_t eph[32], one_msg[RW_SIZE_HANDSHAKE_RESP], two_msg[RW_SIZE_HANDSHAKE_RESP],
		other_msg[RW_SIZE_HANDSHAKE_RESP];

	(void)state;
	make_init(&p, false);
	assert_int_equal(rw__noise_init_consume(&p.rsp, p.init, &p.b), 0);
	two = p.rsp;
	other = p.rsp;
	memset(eph, 0x5a, sizeof(eph));
	assert_int_equal(rw__noise_resp_create(&p.rsp, one_msg, 77, eph), 0);
	assert_int_equal(rw__noise_resp_prepare(&two, two_msg, eph), 0);
	assert_int_equal(rw__noise_resp_finish(&two, two_msg, 77), 0);
	assert_memory_equal(one_msg, two_msg, sizeof(one_msg));
	assert_memory_equal(p.rsp.ck, two.ck, RW_HASH_LEN);
	assert_memory_equal(p.rsp.h, two.h, RW_HASH_LEN);
	assert_int_equal(two.local_index, 77);
	/* another index: only the sender field and MAC1 differ, and the initiator takes it */
	assert_int_equal(rw__noise_resp_prepare(&other, other_msg, eph), 0);
	assert_int_equal(rw__noise_resp_finish(&other, other_msg, 78), 0);
	assert_memory_equal(other_msg + RW_RESP_OFF_RECEIVER, one_msg + RW_RESP_OFF_RECEIVER,
			    RW_RESP_OFF_MAC1 - RW_RESP_OFF_RECEIVER);
	assert_memory_not_equal(other_msg + RW_RESP_OFF_SENDER, one_msg + RW_RESP_OFF_SENDER, 4);
	assert_memory_not_equal(other_msg + RW_RESP_OFF_MAC1, one_msg + RW_RESP_OFF_MAC1, RW_MAC_LEN);
	assert_true(rw__noise_mac1_ok(other_msg, RW_RESP_OFF_MAC1, p.a.mac1_key));
	assert_int_equal(rw__noise_resp_consume(&p.ini, other_msg, &p.a), 0);
	assert_int_equal(p.ini.remote_index, 78);
	rw__noise_handshake_clear(&p.ini);
	rw__noise_handshake_clear(&p.rsp);
	rw__noise_handshake_clear(&two);
	rw__noise_handshake_clear(&other);
}

static void test_responder_ss_cache(void **state)
{
	struct pair p;
	struct rw_handshake plain, miss, hit, wrong;
	struct ss_cache c = { .have = false };

	(void)state;
	make_init(&p, true);
	assert_int_equal(rw__noise_init_consume(&plain, p.init, &p.b), 0);
	/* a miss computes it and leaves it in hs->ss for the caller to keep */
	assert_int_equal(rw__noise_init_consume_cached(&miss, p.init, &p.b, ss_get, &c), 0);
	assert_int_equal(c.calls, 1);
	assert_memory_equal(miss.ss, p.b_for_a.ss, 32);
	assert_memory_equal(miss.ck, plain.ck, 32);
	assert_memory_equal(miss.h, plain.h, 32);
	/* a hit gives the same state without the DH */
	memcpy(c.ss, miss.ss, 32);
	c.have = true;
	assert_int_equal(rw__noise_init_consume_cached(&hit, p.init, &p.b, ss_get, &c), 0);
	assert_memory_equal(hit.ck, plain.ck, 32);
	assert_memory_equal(hit.timestamp, p.ts, 12);
	/* a wrong cached value fails the timestamp's AEAD and wipes the state */
	c.ss[0] ^= 1;
	assert_int_equal(rw__noise_init_consume_cached(&wrong, p.init, &p.b, ss_get, &c), -EBADMSG);
	assert_true(rw__is_zero(&wrong, sizeof(wrong)));
	rw__noise_handshake_clear(&plain);
	rw__noise_handshake_clear(&miss);
	rw__noise_handshake_clear(&hit);
	assert_true(rw__is_zero(&hit, sizeof(hit)));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_resp_in_two_steps),
		cmocka_unit_test(test_responder_ss_cache),
		cmocka_unit_test(test_fresh_ephemerals),
		cmocka_unit_test(test_init_tamper_each_byte),
		cmocka_unit_test(test_resp_tamper_each_byte),
		cmocka_unit_test(test_wrong_responder_key),
		cmocka_unit_test(test_response_to_someone_else),
		cmocka_unit_test(test_low_order_keys),
		cmocka_unit_test(test_zero_static_initiator),
		cmocka_unit_test(test_failed_init_create_wipes),
	};
	int ret = cmocka_run_group_tests(tests, NULL, NULL);

	rw__crypto_thread_release();
	return ret;
}
