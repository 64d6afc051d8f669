/* SPDX-License-Identifier: MIT */
/*
 * cookie.h - WireGuard-style cookies against handshake floods (docs/protocol.md §6,
 * §2.5-2.6).
 *
 * Under load the responder answers a HandshakeInit with a CookieReply: a
 * cookie bound to the sender's address, sealed to the MAC1 the initiator
 * sent. The initiator retries with MAC2 = MAC(cookie, init[0:116]); a valid
 * MAC2 proves the source address is real without the responder keeping any
 * state per client. The secret behind cookies rotates every 2 minutes; the
 * previous one stays valid for a grace period so a cookie handed out just
 * before a rotation still works.
 */
#ifndef RW_COOKIE_H
#define RW_COOKIE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "wire.h"

enum { RW_ADDR_STR_MAX = 64 };	/* "[ipv6%scope]:port" fits */

/*
 * "ip:port" or "[ipv6]:port", the text cookies are computed over (docs/protocol.md §6.1)
 * and the one logs print. A v4-mapped IPv6 address (::ffff:a.b.c.d) is
 * written as the IPv4 address it stands for.
 */
int rw__addr_to_string(char out[RW_ADDR_STR_MAX], const struct sockaddr *sa, socklen_t len);

/* Server side: the rotating secret. */
struct rw_cookie_checker {
	uint8_t server_pub[RW_KEY_LEN];
	uint8_t key[RW_HASH_LEN];	/* MAC(secret, "cookie--" || server_pub) */
	uint8_t prev_key[RW_HASH_LEN];
	uint64_t born_ms;		/* when the current secret was drawn */
	uint64_t rotation_ms;
	uint64_t grace_ms;
	bool has_prev;
};

int rw__cookie_checker_init(struct rw_cookie_checker *c, const uint8_t server_pub[RW_KEY_LEN], uint64_t now_ms,
			    uint64_t rotation_ms, uint64_t grace_ms) RW_MUST_CHECK;
/* Install a given secret (known-answer tests) or a new random one (secret NULL). */
int rw__cookie_checker_set_secret(struct rw_cookie_checker *c, const uint8_t *secret, uint64_t now_ms) RW_MUST_CHECK;
/* Rotate when the secret is older than rotation_ms. Returns 1 when it rotated. */
int rw__cookie_checker_tick(struct rw_cookie_checker *c, uint64_t now_ms);
void rw__cookie_checker_wipe(struct rw_cookie_checker *c);

/* cookie = MAC(cookie_key, addr)[0:16] under the current secret. */
int rw__cookie_compute(const struct rw_cookie_checker *c, const char *addr, uint8_t cookie[RW_COOKIE_LEN]) RW_MUST_CHECK;
/*
 * Is the MAC2 of this HandshakeInit valid for addr? Checks the current
 * secret and, within the grace period, the previous one.
 */
bool rw__cookie_mac2_ok(const struct rw_cookie_checker *c, const uint8_t init[RW_SIZE_HANDSHAKE_INIT],
			const char *addr, uint64_t now_ms);
/*
 * Build the CookieReply for a HandshakeInit from addr. nonce NULL draws a
 * random one (it is only injected by tests).
 */
int rw__cookie_reply_create(const struct rw_cookie_checker *c, uint8_t out[RW_SIZE_COOKIE_REPLY],
			    const uint8_t init[RW_SIZE_HANDSHAKE_INIT], const char *addr,
			    const uint8_t *nonce) RW_MUST_CHECK;

/* Client side: open a CookieReply with the MAC1 we sent. -EBADMSG when it fails. */
int rw__cookie_reply_consume(const uint8_t reply[RW_SIZE_COOKIE_REPLY], const uint8_t mac1_sent[RW_MAC_LEN],
			     uint8_t cookie[RW_COOKIE_LEN]) RW_MUST_CHECK;
/* MAC2 = MAC(cookie || 0^16, init[0:116])[0:16], written into the init. */
int rw__cookie_mac2_put(uint8_t init[RW_SIZE_HANDSHAKE_INIT], const uint8_t cookie[RW_COOKIE_LEN]) RW_MUST_CHECK;

#endif
