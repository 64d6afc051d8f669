/* SPDX-License-Identifier: MIT */
/*
 * test_kat.c - every line of tests/vectors/wiresocket-v1-kat.txt,
 * reproduced byte for byte by our code.
 *
 * The vector file drives the test list: each "name = hex" line becomes one
 * cmocka test, and a line whose name we do not know fails. So a vector added
 * to the file cannot go unchecked, and none can be skipped silently.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cookie.h"
#include "crypto.h"
#include "frame.h"
#include "noise.h"
#include "packet.h"
#include "tai64n.h"

struct kat_line {
	char name[128];
	uint8_t want[512];
	size_t want_len;
};

/* Inputs of the README: raw keys are consecutive bytes. */
static void seq(uint8_t *p, size_t n, uint8_t first)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

/* Everything the handshake lines need, computed once by both roles. */
static struct {
	struct rw_noise_identity init_id, resp_id;
	struct rw_noise_remote resp_as_remote;
	struct rw_handshake ini, rsp;
	uint8_t init_eph_raw[32], resp_eph_raw[32];
	uint8_t ts[12];
	uint8_t init_msg[RW_SIZE_HANDSHAKE_INIT];
	uint8_t resp_msg[RW_SIZE_HANDSHAKE_RESP];
	uint8_t final_h[32], final_ck[32];
	uint8_t i_send[32], i_recv[32], r_send[32], r_recv[32];
	struct rw_cookie_checker cc;
	uint8_t cookie[16];
	int ready;
} hs;

static void handshake_setup(void)
{
	uint8_t raw[32];

	if (hs.ready)
		return;
	seq(raw, 32, 0x01);
	assert_int_equal(rw__noise_identity_init(&hs.init_id, raw), 0);
	seq(raw, 32, 0x21);
	assert_int_equal(rw__noise_identity_init(&hs.resp_id, raw), 0);
	seq(hs.init_eph_raw, 32, 0x41);
	seq(hs.resp_eph_raw, 32, 0x61);
	rw__tai64n_encode(hs.ts, 1767225600, 123456789);
	/* Without the cached static-static DH, so the long path is what is checked. */
	assert_int_equal(rw__noise_remote_init(&hs.resp_as_remote, NULL, hs.resp_id.pub), 0);
	assert_int_equal(rw__noise_init_create(&hs.ini, hs.init_msg, &hs.init_id, &hs.resp_as_remote,
					       0x11223344, hs.ts, hs.init_eph_raw), 0);
	assert_true(rw__noise_mac1_ok(hs.init_msg, RW_INIT_OFF_MAC1, hs.resp_id.mac1_key));
	assert_int_equal(rw__noise_init_consume(&hs.rsp, hs.init_msg, &hs.resp_id), 0);
	assert_memory_equal(hs.rsp.remote_static, hs.init_id.pub, 32);
	assert_memory_equal(hs.rsp.timestamp, hs.ts, 12);
	assert_int_equal(hs.rsp.remote_index, 0x11223344);
	assert_int_equal(rw__noise_resp_create(&hs.rsp, hs.resp_msg, 0x55667788, hs.resp_eph_raw), 0);
	assert_true(rw__noise_mac1_ok(hs.resp_msg, RW_RESP_OFF_MAC1, hs.init_id.mac1_key));
	assert_int_equal(rw__noise_resp_consume(&hs.ini, hs.resp_msg, &hs.init_id), 0);
	assert_int_equal(hs.ini.remote_index, 0x55667788);
	memcpy(hs.final_h, hs.ini.h, 32);
	memcpy(hs.final_ck, hs.ini.ck, 32);
	/* Both sides end in the same state. */
	assert_memory_equal(hs.rsp.h, hs.ini.h, 32);
	assert_memory_equal(hs.rsp.ck, hs.ini.ck, 32);
	assert_int_equal(rw__noise_split(&hs.ini, true, hs.i_send, hs.i_recv), 0);
	assert_int_equal(rw__noise_split(&hs.rsp, false, hs.r_send, hs.r_recv), 0);
	assert_memory_equal(hs.i_send, hs.r_recv, 32);
	assert_memory_equal(hs.i_recv, hs.r_send, 32);

	assert_int_equal(rw__cookie_checker_init(&hs.cc, hs.resp_id.pub, 1000, 0, 0), 0);
	seq(raw, 32, 0xa0);
	assert_int_equal(rw__cookie_checker_set_secret(&hs.cc, raw, 1000), 0);
	assert_int_equal(rw__cookie_compute(&hs.cc, "192.0.2.1:51820", hs.cookie), 0);
	hs.ready = 1;
}

/* Computes the value of the line called name; returns its length, or -1 if unknown. */
static long compute(const char *name, uint8_t *out)
{
	uint8_t k[32], in[32], t1[32], t2[32];
	struct rw_aead a;

	if (!strcmp(name, "initialCK")) {
		static const char n[] = "Noise_IK_25519_ChaChaPoly_BLAKE2s";
		assert_int_equal(rw__hash(out, n, sizeof(n) - 1, NULL, 0), 0);
		assert_memory_equal(out, rw__initial_ck, 32);
		return 32;
	}
	if (!strcmp(name, "initialH")) {
		assert_int_equal(rw__hash(out, rw__initial_ck, 32, "wiresocket v1", 13), 0);
		assert_memory_equal(out, rw__initial_h, 32);
		return 32;
	}
	if (!strcmp(name, "HASH(\"abc\")")) {
		assert_int_equal(rw__hash(out, "abc", 3, NULL, 0), 0);
		return 32;
	}
	if (!strcmp(name, "MAC(key=00..1f,\"abc\")")) {
		seq(k, 32, 0);
		assert_int_equal(rw__mac(out, k, 32, "abc", 3, NULL, 0), 0);
		return 32;
	}
	if (!strncmp(name, "kdf2(initialCK, 80..9f).T", 25)) {
		seq(in, 32, 0x80);
		assert_int_equal(rw__kdf(t1, t2, NULL, rw__initial_ck, in, 32), 0);
		memcpy(out, name[25] == '1' ? t1 : t2, 32);
		return 32;
	}
	if (!strncmp(name, "kdf2(initialCK, empty).T", 24)) {
		assert_int_equal(rw__kdf(t1, t2, NULL, rw__initial_ck, NULL, 0), 0);
		memcpy(out, name[24] == '1' ? t1 : t2, 32);
		return 32;
	}
	static const struct {
		const char *priv, *pub;
		uint8_t first;
	} keys[] = {
		{ "init_static_priv(clamped)", "init_static_pub", 0x01 },
		{ "resp_static_priv(clamped)", "resp_static_pub", 0x21 },
		{ "init_eph_priv(clamped)", "init_eph_pub", 0x41 },
		{ "resp_eph_priv(clamped)", "resp_eph_pub", 0x61 },
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		int is_priv = !strcmp(name, keys[i].priv);

		if (!is_priv && strcmp(name, keys[i].pub))
			continue;
		seq(k, 32, keys[i].first);
		rw__x25519_clamp(k);
		if (is_priv)
			memcpy(out, k, 32);
		else
			assert_int_equal(rw__x25519_public(out, k), 0);
		return 32;
	}
	if (!strcmp(name, "tai64n(unix=1767225600,ns=123456789)")) {
		rw__tai64n_encode(out, 1767225600, 123456789);
		return 12;
	}

	handshake_setup();
	if (!strcmp(name, "HandshakeInit(sender_index=0x11223344,mac2=0)")) {
		memcpy(out, hs.init_msg, sizeof(hs.init_msg));
		return sizeof(hs.init_msg);
	}
	if (!strcmp(name, "mac1_key(resp)")) {
		assert_int_equal(rw__noise_mac1_key(out, hs.resp_id.pub), 0);
		return 32;
	}
	if (!strcmp(name, "HandshakeResp(sender_index=0x55667788,receiver_index=0x11223344)")) {
		memcpy(out, hs.resp_msg, sizeof(hs.resp_msg));
		return sizeof(hs.resp_msg);
	}
	if (!strcmp(name, "T_initiator_send")) {
		memcpy(out, hs.i_send, 32);
		return 32;
	}
	if (!strcmp(name, "T_initiator_recv")) {
		memcpy(out, hs.i_recv, 32);
		return 32;
	}
	if (!strcmp(name, "final_h")) {
		memcpy(out, hs.final_h, 32);
		return 32;
	}
	if (!strcmp(name, "final_ck")) {
		memcpy(out, hs.final_ck, 32);
		return 32;
	}
	if (!strcmp(name, "cookie_secret")) {
		/* The checker keeps only the derived key: check that it is this secret's. */
		uint8_t key[32];
		seq(out, 32, 0xa0);
		assert_int_equal(rw__mac(key, out, 32, "cookie--", 8, hs.resp_id.pub, 32), 0);
		assert_memory_equal(key, hs.cc.key, 32);
		return 32;
	}
	if (!strcmp(name, "cookie(addr=\"192.0.2.1:51820\")")) {
		memcpy(out, hs.cookie, 16);
		return 16;
	}
	if (!strcmp(name, "CookieReply(receiver_index=0x11223344,nonce=c0..d7)")) {
		uint8_t nonce[24], got[16];
		seq(nonce, 24, 0xc0);
		assert_int_equal(rw__cookie_reply_create(&hs.cc, out, hs.init_msg, "192.0.2.1:51820", nonce), 0);
		/* and the initiator opens it with the MAC1 it sent */
		assert_int_equal(rw__cookie_reply_consume(out, hs.init_msg + RW_INIT_OFF_MAC1, got), 0);
		assert_memory_equal(got, hs.cookie, 16);
		return RW_SIZE_COOKIE_REPLY;
	}
	if (!strcmp(name, "mac2_over_init_bytes[0:116]")) {
		uint8_t m[RW_SIZE_HANDSHAKE_INIT];
		memcpy(m, hs.init_msg, sizeof(m));
		assert_int_equal(rw__cookie_mac2_put(m, hs.cookie), 0);
		memcpy(out, m + RW_INIT_OFF_MAC2, 16);
		return 16;
	}
	if (!strcmp(name, "HandshakeInit_with_mac2")) {
		memcpy(out, hs.init_msg, sizeof(hs.init_msg));
		assert_int_equal(rw__cookie_mac2_put(out, hs.cookie), 0);
		assert_true(rw__cookie_mac2_ok(&hs.cc, out, "192.0.2.1:51820", 1000));
		assert_false(rw__cookie_mac2_ok(&hs.cc, out, "192.0.2.1:51821", 1000));
		return RW_SIZE_HANDSHAKE_INIT;
	}
	if (!strcmp(name, "frame(ch=0,[type=1,\"hello\"])")) {
		struct rw_frame_builder b;
		assert_int_equal(rw__frame_begin(&b, out, 512, 0, 0), 0);
		assert_int_equal(rw__frame_add_event(&b, 1, "hello", 5), 0);
		return rw__frame_finish(&b, NULL);
	}
	if (!strcmp(name, "frame(ch=7,seq=1,ack=5,bitmap=0x8000000000000001,win=256)")) {
		static const uint8_t dead[] = { 0xde, 0xad };
		const struct rw_frame_rel rel = { 1, 5, UINT64_C(0x8000000000000001), 256 };
		struct rw_frame_builder b;
		assert_int_equal(rw__frame_begin(&b, out, 512, 7, RW_FRAME_REL_MAX), 0);
		assert_int_equal(rw__frame_add_event(&b, 2, dead, 2), 0);
		return rw__frame_finish(&b, &rel);
	}
	if (!strcmp(name, "Data(initiator->responder,receiver_index=0x55667788,counter=0)")) {
		struct rw_frame_builder b;
		struct rw_packet p;
		enum rw_drop_reason why;
		uint8_t plain[64];
		int n;

		assert_int_equal(rw__frame_begin(&b, out + RW_DATA_OFF_PAYLOAD, 64, 0, 0), 0);
		assert_int_equal(rw__frame_add_event(&b, 1, "hello", 5), 0);
		n = rw__frame_finish(&b, NULL);
		assert_int_equal(rw__aead_init(&a, hs.i_send, 1), 0);
		n = rw__packet_seal(&a, out, RW_MSG_DATA, 0x55667788, 0, (size_t)n);
		rw__aead_free(&a);
		/* the responder opens it with its receive key */
		assert_int_equal(rw__packet_decode(&p, out, (size_t)n, 1500, &why), 0);
		assert_int_equal(rw__aead_init(&a, hs.r_recv, 0), 0);
		assert_int_equal(rw__packet_open(&a, &p, plain), 9);
		rw__aead_free(&a);
		assert_memory_equal(plain, "\x00\x0a\x06\x01hello", 9);
		return n;
	}
	if (!strcmp(name, "Keepalive_tag(initiator,counter=1)")) {
		uint8_t pkt[RW_SIZE_KEEPALIVE];
		assert_int_equal(rw__aead_init(&a, hs.i_send, 1), 0);
		assert_int_equal(rw__packet_seal(&a, pkt, RW_MSG_KEEPALIVE, 0x55667788, 1, 0), RW_SIZE_KEEPALIVE);
		rw__aead_free(&a);
		memcpy(out, pkt + RW_DATA_OFF_PAYLOAD, 16);
		return 16;
	}
	return -1;
}

static void test_line(void **state)
{
	const struct kat_line *l = *state;
	uint8_t got[512];
	long n = compute(l->name, got);

	if (n < 0)
		fail_msg("no computation for KAT line \"%s\"", l->name);
	assert_int_equal((size_t)n, l->want_len);
	assert_memory_equal(got, l->want, l->want_len);
}

static int parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = 0;

	while (s[0] && s[0] != '\n' && s[0] != '\r') {
		unsigned v;
		if (n == cap || sscanf(s, "%2x", &v) != 1 || !s[1])
			return -1;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	*len = n;
	return n ? 0 : -1;
}

int main(void)
{
	/* meson sets RW_VECTORS; by hand, run from the build directory */
	const char *dir = getenv("RW_VECTORS");
	char path[4096], buf[2048];
	struct kat_line *lines = NULL;
	struct CMUnitTest *tests;
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/wiresocket-v1-kat.txt", dir ? dir : "../tests/vectors");
	f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "cannot open %s; set RW_VECTORS to the tests/vectors directory\n", path);
		return 1;
	}
	while (fgets(buf, sizeof(buf), f)) {
		char *eq = strstr(buf, " = ");

		if (buf[0] == '#' || !eq)
			continue;
		lines = realloc(lines, (n + 1) * sizeof(*lines));
		*eq = 0;
		if (strlen(buf) >= sizeof(lines[n].name)) {
			fprintf(stderr, "KAT line name too long: %s\n", buf);
			return 1;
		}
		memcpy(lines[n].name, buf, strlen(buf) + 1);
		if (parse_hex(eq + 3, lines[n].want, sizeof(lines[n].want), &lines[n].want_len)) {
			fprintf(stderr, "bad hex on KAT line %s\n", buf);
			return 1;
		}
		n++;
	}
	fclose(f);
	if (n < 30) {
		fprintf(stderr, "only %zu KAT lines in %s\n", n, path);
		return 1;
	}
	tests = calloc(n, sizeof(*tests));
	for (size_t i = 0; i < n; i++) {
		tests[i].name = lines[i].name;
		tests[i].test_func = test_line;
		tests[i].initial_state = &lines[i];
	}
	int failed = _cmocka_run_group_tests("kat", tests, n, NULL, NULL);
	free(tests);
	free(lines);
	return failed;
}
