/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cookie.h"
#include "crypto.h"

static const char cookie_label[8] = "cookie--";

int rw__addr_to_string(char out[RW_ADDR_STR_MAX], const struct sockaddr *sa, socklen_t len)
{
	char ip[INET6_ADDRSTRLEN];
	const void *a;
	bool v6 = false;
	uint16_t port;
	int n;

	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		a = &in->sin_addr;
		port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		port = ntohs(in6->sin6_port);
		/* ::ffff:a.b.c.d is an IPv4 peer seen through a dual-stack socket: one peer, one name */
		v6 = !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr);
		a = v6 ? (const void *)&in6->sin6_addr : (const void *)&in6->sin6_addr.s6_addr[12];
	} else {
		return -EAFNOSUPPORT;
	}
	if (!inet_ntop(v6 ? AF_INET6 : AF_INET, a, ip, sizeof(ip)))
		return -EINVAL;
	n = snprintf(out, RW_ADDR_STR_MAX, v6 ? "[%s]:%u" : "%s:%u", ip, (unsigned int)port);
	return n > 0 && n < RW_ADDR_STR_MAX ? 0 : -ENOSPC;
}

static int derive_key(uint8_t key[RW_HASH_LEN], const uint8_t secret[RW_KEY_LEN], const uint8_t pub[RW_KEY_LEN])
{
	return rw__mac(key, secret, RW_KEY_LEN, cookie_label, sizeof(cookie_label), pub, RW_KEY_LEN);
}

int rw__cookie_checker_set_secret(struct rw_cookie_checker *c, const uint8_t *secret, uint64_t now_ms)
{
	uint8_t s[RW_KEY_LEN], key[RW_HASH_LEN];
	int ret = 0;

	if (secret)
		memcpy(s, secret, RW_KEY_LEN);
	else
		ret = rw__random(s, sizeof(s));
	if (!ret)
		ret = derive_key(key, s, c->server_pub);
	if (!ret) {
		/* Only the derived key is kept: the secret itself is never needed again. */
		memcpy(c->prev_key, c->key, RW_HASH_LEN);
		c->has_prev = c->born_ms != 0 || !rw__is_zero(c->key, RW_HASH_LEN);
		memcpy(c->key, key, RW_HASH_LEN);
		c->born_ms = now_ms;
	}
	rw__memzero(s, sizeof(s));
	rw__memzero(key, sizeof(key));
	return ret;
}

int rw__cookie_checker_init(struct rw_cookie_checker *c, const uint8_t server_pub[RW_KEY_LEN], uint64_t now_ms,
			    uint64_t rotation_ms, uint64_t grace_ms)
{
	memset(c, 0, sizeof(*c));
	memcpy(c->server_pub, server_pub, RW_KEY_LEN);
	c->rotation_ms = rotation_ms ? rotation_ms : RW_COOKIE_ROTATION_S * 1000ull;
	c->grace_ms = grace_ms;
	return rw__cookie_checker_set_secret(c, NULL, now_ms);
}

int rw__cookie_checker_tick(struct rw_cookie_checker *c, uint64_t now_ms)
{
	if (now_ms - c->born_ms < c->rotation_ms)
		return 0;
	return rw__cookie_checker_set_secret(c, NULL, now_ms) ? 0 : 1;
}

void rw__cookie_checker_wipe(struct rw_cookie_checker *c)
{
	rw__memzero(c, sizeof(*c));
}

static int cookie_with(const uint8_t key[RW_HASH_LEN], const char *addr, uint8_t cookie[RW_COOKIE_LEN])
{
	uint8_t full[RW_HASH_LEN];
	int ret = rw__mac(full, key, RW_HASH_LEN, addr, strlen(addr), NULL, 0);

	if (!ret)
		memcpy(cookie, full, RW_COOKIE_LEN);
	rw__memzero(full, sizeof(full));
	return ret;
}

int rw__cookie_compute(const struct rw_cookie_checker *c, const char *addr, uint8_t cookie[RW_COOKIE_LEN])
{
	return cookie_with(c->key, addr, cookie);
}

/* MAC2 key: the cookie then 16 zero bytes, a 32-byte key (docs/protocol.md §2.5). */
static int mac2(uint8_t out[RW_MAC_LEN], const uint8_t init[RW_SIZE_HANDSHAKE_INIT],
		const uint8_t cookie[RW_COOKIE_LEN])
{
	uint8_t key[RW_KEY_LEN] = { 0 }, full[RW_HASH_LEN];
	int ret;

	memcpy(key, cookie, RW_COOKIE_LEN);
	ret = rw__mac(full, key, RW_KEY_LEN, init, RW_INIT_OFF_MAC1, NULL, 0);
	if (!ret)
		memcpy(out, full, RW_MAC_LEN);
	rw__memzero(key, sizeof(key));
	rw__memzero(full, sizeof(full));
	return ret;
}

static bool mac2_with(const uint8_t key[RW_HASH_LEN], const uint8_t init[RW_SIZE_HANDSHAKE_INIT],
		      const char *addr)
{
	uint8_t cookie[RW_COOKIE_LEN], m[RW_MAC_LEN];
	bool ok = false;

	if (!cookie_with(key, addr, cookie) && !mac2(m, init, cookie))
		ok = rw__memeq(m, init + RW_INIT_OFF_MAC2, RW_MAC_LEN);
	rw__memzero(cookie, sizeof(cookie));
	return ok;
}

bool rw__cookie_mac2_ok(const struct rw_cookie_checker *c, const uint8_t init[RW_SIZE_HANDSHAKE_INIT],
			const char *addr, uint64_t now_ms)
{
	if (mac2_with(c->key, init, addr))
		return true;
	return c->has_prev && now_ms - c->born_ms < c->grace_ms && mac2_with(c->prev_key, init, addr);
}

int rw__cookie_reply_create(const struct rw_cookie_checker *c, uint8_t out[RW_SIZE_COOKIE_REPLY],
			    const uint8_t init[RW_SIZE_HANDSHAKE_INIT], const char *addr, const uint8_t *nonce)
{
	uint8_t key[RW_KEY_LEN] = { 0 }, cookie[RW_COOKIE_LEN];
	int ret;

	memset(out, 0, RW_SIZE_COOKIE_REPLY);
	out[0] = RW_MSG_COOKIE_REPLY;
	memcpy(out + RW_COOKIE_OFF_RECEIVER, init + RW_INIT_OFF_SENDER, 4);
	if (nonce)
		memcpy(out + RW_COOKIE_OFF_NONCE, nonce, RW_XNONCE_LEN);
	else if ((ret = rw__random(out + RW_COOKIE_OFF_NONCE, RW_XNONCE_LEN)))
		goto out;
	ret = rw__cookie_compute(c, addr, cookie);
	if (ret)
		goto out;
	/* Sealed to the initiator's MAC1: only who sent that init can open it. */
	memcpy(key, init + RW_INIT_OFF_MAC1, RW_MAC_LEN);
	ret = rw__xaead_seal(key, out + RW_COOKIE_OFF_NONCE, cookie, RW_COOKIE_LEN, out + RW_COOKIE_OFF_COOKIE);
out:
	rw__memzero(key, sizeof(key));
	rw__memzero(cookie, sizeof(cookie));
	return ret;
}

int rw__cookie_reply_consume(const uint8_t reply[RW_SIZE_COOKIE_REPLY], const uint8_t mac1_sent[RW_MAC_LEN],
			     uint8_t cookie[RW_COOKIE_LEN])
{
	uint8_t key[RW_KEY_LEN] = { 0 };
	int ret;

	memcpy(key, mac1_sent, RW_MAC_LEN);
	ret = rw__xaead_open(key, reply + RW_COOKIE_OFF_NONCE, reply + RW_COOKIE_OFF_COOKIE,
			     RW_COOKIE_LEN + RW_TAG_LEN, cookie);
	rw__memzero(key, sizeof(key));
	return ret;
}

int rw__cookie_mac2_put(uint8_t init[RW_SIZE_HANDSHAKE_INIT], const uint8_t cookie[RW_COOKIE_LEN])
{
	return mac2(init + RW_INIT_OFF_MAC2, init, cookie);
}
