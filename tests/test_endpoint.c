/* SPDX-License-Identifier: MIT */
/*
 * test_endpoint.c - wire:// URIs, parsed and formatted.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "encoding.h"
#include "ringwire.h"

#define K "wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3d"
#define K_HEX "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
#define K_B64 "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw="

#define assert_contains(hay, needle)                                                                           \
	do {                                                                                                   \
		if (!strstr((hay), (needle)))                                                                  \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));                           \
	} while (0)

static uint8_t kbytes[RW_KEY_SIZE];

static int setup(void **state)
{
	(void)state;
	return rw__hex_decode(kbytes, sizeof(kbytes), K_HEX, strlen(K_HEX));
}

static const struct {
	const char *uri;
	const char *host;
	uint16_t port;
	const char *canonical;	/* rw_uri_format of the result; NULL: same as uri */
} good[] = {
	{ "wire://" K "@203.0.113.42:9000", "203.0.113.42", 9000, NULL },
	{ "wire://" K "@127.0.0.1:1", "127.0.0.1", 1, NULL },
	{ "wire://" K "@127.0.0.1:65535", "127.0.0.1", 65535, NULL },
	{ "wire://" K "@[::1]:9000", "::1", 9000, NULL },
	{ "wire://" K "@[2001:db8::42]:443", "2001:db8::42", 443, NULL },
	{ "wire://" K "@[::ffff:192.0.2.1]:9000", "::ffff:192.0.2.1", 9000, NULL },
	{ "wire://" K "@[fe80::1%eth0]:9000", "fe80::1%eth0", 9000, NULL },
	{ "wire://" K "@example.com:9000", "example.com", 9000, NULL },
	{ "wire://" K "@my-host_1.example.:9000", "my-host_1.example.", 9000, NULL },
	{ "wire://" K "@localhost:09000", "localhost", 9000, "wire://" K "@localhost:9000" },
	{ "WIRE://" K "@localhost:9000", "localhost", 9000, "wire://" K "@localhost:9000" },
	{ "Wire://WPUB1Q73HE0Q5YZFU3D64MSD3P6RVKSNRWJK3D2598MGTMLQT9WRDR37QAXZK3D@Example.COM:9000", "Example.COM",
	  9000, "wire://" K "@Example.COM:9000" },
};

static void test_parse_good(void **state)
{
	struct rw_endpoint ep;
	char err[RW_ERRBUF_SIZE], out[512];
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		const char *want = good[i].canonical ? good[i].canonical : good[i].uri;

		memset(&ep, 0xee, sizeof(ep));
		err[0] = '\0';
		if (rw_uri_parse(good[i].uri, &ep, err, sizeof(err)) != 0)
			fail_msg("%s: %s", good[i].uri, err);
		assert_memory_equal(ep.pubkey, kbytes, sizeof(kbytes));
		assert_string_equal(ep.host, good[i].host);
		assert_int_equal(ep.port, good[i].port);

		/* Round trip through rw_uri_format and back. */
		n = rw_uri_format(out, sizeof(out), ep.pubkey, ep.host, ep.port);
		assert_int_equal(n, (int)strlen(want));
		assert_string_equal(out, want);
		memset(&ep, 0, sizeof(ep));
		assert_int_equal(rw_uri_parse(out, &ep, err, sizeof(err)), 0);
		assert_string_equal(ep.host, good[i].host);
		assert_int_equal(ep.port, good[i].port);
	}
}

static void test_parse_bad(void **state)
{
	static char long_host[700], max_host[300];
	const struct {
		const char *uri;
		const char *msg;
	} bad[] = {
		{ "", "missing scheme" },
		{ K "@203.0.113.42:9000", "missing scheme" },
		{ "http://" K "@203.0.113.42:9000", "unsupported scheme \"http://\"" },
		{ "wires://" K "@203.0.113.42:9000", "unsupported scheme" },
		{ "wire:/" K "@203.0.113.42:9000", "missing scheme" },
		{ "wire://" K "203.0.113.42:9000", "missing '@'" },
		{ "wire://@203.0.113.42:9000", "missing key" },
		{ "wire://" K_B64 "@203.0.113.42:9000", "must be written as wpub1" },
		{ "wire://" K_HEX "@203.0.113.42:9000", "this one is " K },
		{ "wire://npub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qu5r5m3@h:1", "wpub1" },
		{ "wire://wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3e@h:1", "checksum" },
		{ "wire://wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk@h:1", "too short" },
		{ "wire://" K "@203.0.113.42", "missing port" },
		{ "wire://" K "@203.0.113.42:", "missing port" },
		{ "wire://" K "@203.0.113.42:0", "1..65535, found 0" },
		{ "wire://" K "@203.0.113.42:65536", "1..65535, found 65536" },
		{ "wire://" K "@203.0.113.42:99999", "1..65535" },
		{ "wire://" K "@203.0.113.42:100000", "more than 5 digits" },
		{ "wire://" K "@203.0.113.42:http", "must be a number" },
		{ "wire://" K "@203.0.113.42:-1", "must be a number" },
		{ "wire://" K "@203.0.113.42:+9000", "must be a number" },
		{ "wire://" K "@203.0.113.42: 9000", "must be a number" },
		{ "wire://" K "@203.0.113.42:9000/", "unexpected '/'" },
		{ "wire://" K "@203.0.113.42:9000/path", "unexpected '/'" },
		{ "wire://" K "@203.0.113.42:9000?x=1", "unexpected '?'" },
		{ "wire://" K "@203.0.113.42:9000 ", "unexpected 0x20" },
		{ "wire://" K "@203.0.113.42:9000\n", "unexpected 0x0a" },
		{ "wire://" K "@203.0.113.42:90a0", "unexpected 'a'" },
		{ "wire://" K "@::1:9000", "brackets" },
		{ "wire://" K "@2001:db8::1:9000", "brackets" },
		{ "wire://" K "@:9000", "empty host" },
		{ "wire://" K "@[]:9000", "empty host" },
		{ "wire://" K "@[::1:9000", "missing ']'" },
		{ "wire://" K "@[::1]", "missing port" },
		{ "wire://" K "@[::1]9000", "unexpected '9' after ']'" },
		{ "wire://" K "@[::1]:9000x", "unexpected 'x'" },
		{ "wire://" K "@[127.0.0.1]:9000", "not an IPv6 address" },
		{ "wire://" K "@[example.com]:9000", "not an IPv6 address" },
		{ "wire://" K "@[fe80::1%]:9000", "zone" },
		{ "wire://" K "@[fe80::1%e/0]:9000", "zone" },
		{ "wire://" K "@ho st:9000", "host contains 0x20" },
		{ "wire://" K "@ho/st:9000", "host contains '/'" },
		{ "wire://" K "@user@host:9000", "host contains '@'" },
		{ "wire://" K "@host\t:9000", "host contains 0x09" },
		{ "wire://" K "@h%41:9000", "host contains '%'" },
		{ long_host, "limit is 255" },
	};
	struct rw_endpoint ep, before;
	char err[RW_ERRBUF_SIZE];
	size_t i;

	(void)state;
	memset(max_host, 'a', 256);
	max_host[256] = '\0';
	snprintf(long_host, sizeof(long_host), "wire://%s@%s:9000", K, max_host);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ep, 0xee, sizeof(ep));
		before = ep;
		err[0] = '\0';
		if (rw_uri_parse(bad[i].uri, &ep, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i].uri);
		assert_contains(err, bad[i].msg);
		assert_null(strchr(err, '\n'));
		/* ep is untouched by a failed parse. */
		assert_memory_equal(&ep, &before, sizeof(ep));
	}
	/* An IPv6 zone is no way around the host limit. */
	snprintf(long_host, sizeof(long_host), "wire://%s@[fe80::1%%%s]:9000", K, max_host);
	assert_int_equal(rw_uri_parse(long_host, &ep, err, sizeof(err)), -EINVAL);
	assert_contains(err, "limit is 255");
	/* 255 characters is still fine. */
	max_host[255] = '\0';
	snprintf(long_host, sizeof(long_host), "wire://%s@%s:9000", K, max_host);
	assert_int_equal(rw_uri_parse(long_host, &ep, err, sizeof(err)), 0);
	assert_int_equal(strlen(ep.host), 255);
	assert_int_equal(rw_uri_parse(NULL, &ep, NULL, 0), -EINVAL);
	assert_int_equal(rw_uri_parse(long_host, NULL, NULL, 0), -EINVAL);
}

static void test_format(void **state)
{
	char out[512], host[300];
	int n;

	(void)state;
	n = rw_uri_format(out, sizeof(out), kbytes, "203.0.113.42", 9000);
	assert_string_equal(out, "wire://" K "@203.0.113.42:9000");
	assert_int_equal(n, (int)strlen(out));
	n = rw_uri_format(out, sizeof(out), kbytes, "::1", 9000);
	assert_string_equal(out, "wire://" K "@[::1]:9000");
	assert_int_equal(n, (int)strlen(out));

	/* Exactly enough room, then one byte short. */
	assert_int_equal(rw_uri_format(out, n + 1, kbytes, "::1", 9000), n);
	assert_int_equal(rw_uri_format(out, (size_t)n, kbytes, "::1", 9000), -ENOSPC);
	assert_string_equal(out, "");
	assert_int_equal(rw_uri_format(out, 0, kbytes, "::1", 9000), -ENOSPC);

	/* What rw_uri_parse would refuse is not written either. */
	assert_int_equal(rw_uri_format(out, sizeof(out), kbytes, "", 9000), -EINVAL);
	assert_int_equal(rw_uri_format(out, sizeof(out), kbytes, "h", 0), -EINVAL);
	assert_int_equal(rw_uri_format(out, sizeof(out), kbytes, "a@b", 1), -EINVAL);
	assert_int_equal(rw_uri_format(out, sizeof(out), kbytes, "a/b", 1), -EINVAL);
	assert_int_equal(rw_uri_format(out, sizeof(out), kbytes, "[::1]", 1), -EINVAL);
	assert_int_equal(rw_uri_format(out, sizeof(out), kbytes, "1:2:3", 1), -EINVAL);
	memset(host, 'a', 256);
	host[256] = '\0';
	assert_int_equal(rw_uri_format(out, sizeof(out), kbytes, host, 1), -EINVAL);
	assert_int_equal(rw_uri_format(out, sizeof(out), NULL, "h", 1), -EINVAL);
}

/* Random keys, hosts and ports survive format -> parse. */
static void test_roundtrip_random(void **state)
{
	static const char *const hosts[] = { "10.0.0.1", "::", "2001:db8:85a3::8a2e:370:7334", "a", "x.y.z" };
	struct rw_endpoint ep;
	uint8_t key[RW_KEY_SIZE];
	char out[512], err[RW_ERRBUF_SIZE];
	uint16_t port;
	int i;

	(void)state;
	for (i = 0; i < 300; i++) {
		assert_int_equal(rw__random(key, sizeof(key)), 0);
		assert_int_equal(rw__random(&port, sizeof(port)), 0);
		key[0] |= 1;
		port = port ? port : 1;
		assert_true(rw_uri_format(out, sizeof(out), key, hosts[i % 5], port) > 0);
		if (rw_uri_parse(out, &ep, err, sizeof(err)) != 0)
			fail_msg("%s: %s", out, err);
		assert_memory_equal(ep.pubkey, key, sizeof(key));
		assert_string_equal(ep.host, hosts[i % 5]);
		assert_int_equal(ep.port, port);
	}
}

/* A listen or bind address: port 0 is "any"; a message never points at the wire:// form. */
static void test_hostport(void **state)
{
	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "127.0.0.1", "missing port; expected host:port, e.g. 127.0.0.1:9000" },
		{ "[::1]", "missing port; expected [addr]:port" },
		{ "::1:9000", "an IPv6 address must be in brackets, as in [::1]:9000" },
		{ "127.0.0.1:", "missing port number after ':'" },
		{ "127.0.0.1:9000/x", "unexpected '/' after the port; expected host:port" },
		{ "[::1]x", "unexpected 'x' after ']'" },
		{ "a!b:9", "host contains '!'" },
		{ ":9", "empty host" },
		{ "127.0.0.1:65536", "port must be" },
	};
	char host[RW_HOST_MAX + 1], err[RW_ERRBUF_SIZE];
	uint16_t port;

	(void)state;
	assert_int_equal(rw_hostport_parse("127.0.0.1:0", host, &port, err, sizeof(err)), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 0);
	assert_int_equal(rw_hostport_parse("[::]:9000", host, &port, err, sizeof(err)), 0);
	assert_string_equal(host, "::");
	assert_int_equal(port, 9000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(rw_hostport_parse(bad[i].in, host, &port, err, sizeof(err)), -EINVAL);
		assert_contains(err, bad[i].msg);
		if (strstr(err, "wire://"))
			fail_msg("%s: \"%s\" points at the wire:// form", bad[i].in, err);
	}
}

/* Several address hints for one key (docs/protocol.md §16.3). */
static void test_multi_addr(void **state)
{
	static const struct {
		const char *uri, *msg;
	} bad[] = {
		{ "wire://" K "@127.0.0.1:9000,", "empty address in the list after '@' (address 2)" },
		{ "wire://" K "@,127.0.0.1:9000", "empty address in the list after '@' (address 1)" },
		{ "wire://" K "@a:1,,b:2", "empty address in the list after '@' (address 2)" },
		{ "wire://" K "@a:1,b", "missing port" },
		{ "wire://" K "@a:1,b:0", "port must be 1..65535" },
		{ "wire://" K "@a:1, b:2", "host contains 0x20" },
		{ "wire://" K "@a:1,::1:2", "IPv6 address must be in brackets" },
		{ "wire://" K "@a:1,[::1]:2/x", "unexpected '/'" },
		{ "wire://" K "@a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1", "more than 8 addresses" },
	};
	struct rw_endpoint ep, before;
	char err[RW_ERRBUF_SIZE], uri[2048], host[300];

	(void)state;
	/* one address: naddrs 1, addrs[0] the same as host:port */
	assert_int_equal(rw_uri_parse("wire://" K "@127.0.0.1:9000", &ep, err, sizeof(err)), 0);
	assert_int_equal(ep.naddrs, 1);
	assert_string_equal(ep.addrs[0].host, "127.0.0.1");
	assert_int_equal(ep.addrs[0].port, 9000);

	assert_int_equal(rw_uri_parse("wire://" K "@127.0.0.1:9000,[::1]:9001,example.com:9002", &ep, err,
				      sizeof(err)), 0);
	assert_memory_equal(ep.pubkey, kbytes, RW_KEY_SIZE);
	assert_int_equal(ep.naddrs, 3);
	assert_string_equal(ep.host, "127.0.0.1");
	assert_int_equal(ep.port, 9000);
	assert_string_equal(ep.addrs[0].host, "127.0.0.1");
	assert_int_equal(ep.addrs[0].port, 9000);
	assert_string_equal(ep.addrs[1].host, "::1");
	assert_int_equal(ep.addrs[1].port, 9001);
	assert_string_equal(ep.addrs[2].host, "example.com");
	assert_int_equal(ep.addrs[2].port, 9002);

	/* exactly the limit, with a zone (whose characters never include ',') */
	assert_int_equal(rw_uri_parse("wire://" K "@a:1,b:2,c:3,d:4,e:5,f:6,[fe80::1%eth0]:7,h:8", &ep, err,
				      sizeof(err)), 0);
	assert_int_equal(ep.naddrs, RW_ENDPOINT_ADDRS_MAX);
	assert_string_equal(ep.addrs[6].host, "fe80::1%eth0");
	assert_int_equal(ep.addrs[7].port, 8);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&ep, 0xee, sizeof(ep));
		before = ep;
		err[0] = '\0';
		if (rw_uri_parse(bad[i].uri, &ep, err, sizeof(err)) != -EINVAL)
			fail_msg("accepted: %s", bad[i].uri);
		assert_contains(err, bad[i].msg);
		assert_null(strchr(err, '\n'));
		assert_memory_equal(&ep, &before, sizeof(ep));
	}
	/* a later address over the host limit gets the limit's message */
	memset(host, 'a', 256);
	host[256] = '\0';
	snprintf(uri, sizeof(uri), "wire://%s@b:1,%s:9000", K, host);
	assert_int_equal(rw_uri_parse(uri, &ep, err, sizeof(err)), -EINVAL);
	assert_contains(err, "limit is 255");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_multi_addr),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
