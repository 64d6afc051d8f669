/* SPDX-License-Identifier: MIT */
/*
 * endpoint.c - "wire://wpub1...@host:port[,host:port...]" endpoints (docs/protocol.md §16.2,
 * §16.3).
 *
 * The key is the peer's identity and the host:port only a hint of where it
 * is, so the key must be exact (bech32 with its checksum) and the address is
 * only checked for shape: a host name is resolved later, by whoever dials.
 * The URI carries no path, query, user info or percent-escapes; anything
 * like that is an error rather than silently dropped, because a URI that
 * parses "mostly" is a URI the user mistyped.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "errmsg.h"
#include "bech32.h"
#include "encoding.h"
#include "ringwire.h"

#define SCHEME "wire://"
#define SCHEME_TCP "wire+tcp://"
#define FORM "wire://wpub1...@host:port"

/*
 * What the input should look like, for messages. "bare" is a listen or bind
 * address (rw_hostport_parse, where port 0 means any): pointing its user at
 * the wire:// form would send them the wrong way.
 */
static const char *form(bool bare)
{
	return bare ? "host:port, e.g. 127.0.0.1:9000 or [::1]:9000 (port 0: any free one)" : FORM;
}

static const char *form6(bool bare)
{
	return bare ? "[addr]:port, e.g. [::1]:9000" : "wire://wpub1...@[addr]:port";
}


static int is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* Characters of a host name or IPv4 address (RFC 3986 reg-name, less escapes). */
static int is_host_char(char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

/* A character for a message: printable as is, anything else in hex. */
static const char *show_char(char buf[8], char c)
{
	if (c > ' ' && c < 0x7f)
		snprintf(buf, 8, "'%c'", c);
	else
		snprintf(buf, 8, "0x%02x", (unsigned int)(uint8_t)c);
	return buf;
}

/* Port: 1 to 5 decimal digits, 1..65535 (0 too for a bare address), nothing else. */
static int parse_port(const char *p, uint16_t *port, bool bare, char *err, size_t errlen)
{
	unsigned long v = 0;
	size_t i;

	if (!*p)
		return rw__errf(err, errlen, -EINVAL, "missing port number after ':'; expected %s", form(bare));
	for (i = 0; p[i] >= '0' && p[i] <= '9'; i++) {
		if (i == 5)
			return rw__errf(err, errlen, -EINVAL, "port must be 1..65535, found more than 5 digits");
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	if (i == 0)
		return rw__errf(err, errlen, -EINVAL, "port must be a number 1..65535, found \"%.16s\"", p);
	if (p[i]) {
		char c[8];

		return rw__errf(err, errlen, -EINVAL, "unexpected %s after the port%s; expected %s", show_char(c, p[i]),
			    bare ? "" : " (a wire:// URI has no path or query)", form(bare));
	}
	if ((v < 1 && !bare) || v > 65535)
		return rw__errf(err, errlen, -EINVAL, "port must be 1..65535, found %lu", v);
	*port = (uint16_t)v;
	return 0;
}

/* An IPv6 literal, optionally with a zone ("fe80::1%eth0"). */
static int check_ipv6(const char *host, size_t len, char *err, size_t errlen)
{
	char addr[INET6_ADDRSTRLEN + 1];
	struct in6_addr a;
	const char *pct = memchr(host, '%', len);
	size_t alen = pct ? (size_t)(pct - host) : len, i;

	if (alen >= sizeof(addr))
		return rw__errf(err, errlen, -EINVAL, "\"[%.*s]\" is not an IPv6 address", (int)len, host);
	memcpy(addr, host, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET6, addr, &a) != 1)
		return rw__errf(err, errlen, -EINVAL, "\"[%.*s]\" is not an IPv6 address", (int)len, host);
	if (pct) {
		if (pct + 1 == host + len)
			return rw__errf(err, errlen, -EINVAL, "empty IPv6 zone after '%%' in \"[%.*s]\"", (int)len, host);
		for (i = alen + 1; i < len; i++)
			if (!is_host_char(host[i]))
				return rw__errf(err, errlen, -EINVAL, "bad IPv6 zone in \"[%.*s]\"", (int)len, host);
	}
	return 0;
}

static int check_host(const char *host, size_t len, bool bare, char *err, size_t errlen)
{
	size_t i;

	if (len == 0)
		return rw__errf(err, errlen, -EINVAL, "empty host; expected %s", form(bare));
	if (len > RW_HOST_MAX)
		return rw__errf(err, errlen, -EINVAL, "host is %zu characters long, the limit is %d", len, RW_HOST_MAX);
	for (i = 0; i < len; i++) {
		char c[8];

		if (host[i] == ':')
			return rw__errf(err, errlen, -EINVAL, "an IPv6 address must be in brackets, as in %s[::1]:9000",
				    bare ? "" : "wire://wpub1...@");
		if (!is_host_char(host[i]))
			return rw__errf(err, errlen, -EINVAL, "host contains %s; expected %s", show_char(c, host[i]),
				    form(bare));
	}
	return 0;
}

/* "host:port" or "[v6]:port" into e->host / e->port; bare: a listen or bind address. */
static int parse_hostport(const char *host, struct rw_endpoint *e, bool bare, char *err, size_t errlen)
{
	const char *hend, *colon;
	size_t hlen;
	int ret;

	if (*host == '[') {
		hend = strchr(host, ']');
		if (!hend)
			return rw__errf(err, errlen, -EINVAL, "missing ']' after the IPv6 address");
		host++;
		hlen = (size_t)(hend - host);
		if (hlen == 0)
			return rw__errf(err, errlen, -EINVAL, "empty host \"[]\"; expected %s", form(bare));
		ret = check_ipv6(host, hlen, err, errlen);
		if (ret)
			return ret;
		colon = hend + 1;
		if (*colon != ':') {
			char c[8];

			if (!*colon)
				return rw__errf(err, errlen, -EINVAL, "missing port; expected %s", form6(bare));
			return rw__errf(err, errlen, -EINVAL, "unexpected %s after ']'; expected %s", show_char(c, *colon),
				    form6(bare));
		}
	} else {
		colon = strrchr(host, ':');
		if (!colon) {
			hlen = strlen(host);
			ret = check_host(host, hlen, bare, err, errlen);
			if (ret)
				return ret;
			return rw__errf(err, errlen, -EINVAL, "missing port; expected %s", form(bare));
		}
		hlen = (size_t)(colon - host);
		ret = check_host(host, hlen, bare, err, errlen);
		if (ret)
			return ret;
	}
	ret = parse_port(colon + 1, &e->port, bare, err, errlen);
	if (ret)
		return ret;
	if (hlen > RW_HOST_MAX)
		return rw__errf(err, errlen, -EINVAL, "host is %zu characters long, the limit is %d", hlen, RW_HOST_MAX);
	memcpy(e->host, host, hlen);
	e->host[hlen] = '\0';
	return 0;
}

/*
 * The address list after '@': "host:port" or several joined by ',' (§16.3).
 * ',' is in no host, port or bracketed IPv6 address, so splitting on it
 * first is exact; each piece then parses as the one address of today's
 * URIs, with the same messages.
 */
static int parse_addrs(const char *list, struct rw_endpoint *e, char *err, size_t errlen)
{
	const char *p = list;
	unsigned n = 0;
	int ret;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		struct rw_endpoint one;

		if (n == RW_ENDPOINT_ADDRS_MAX)
			return rw__errf(err, errlen, -EINVAL, "more than %d addresses after '@'; give at most %d",
				    RW_ENDPOINT_ADDRS_MAX, RW_ENDPOINT_ADDRS_MAX);
		if (len == 0 && (comma || n))
			return rw__errf(err, errlen, -EINVAL, "empty address in the list after '@' (address %u); "
				    "expected " FORM "[,host:port...]", n + 1);
		if (comma) {
			/* a piece of any length, so an over-long host gets the usual message */
			char *piece = strndup(p, len);

			if (!piece)
				return rw__errf(err, errlen, -ENOMEM, "out of memory parsing the address list");
			memset(&one, 0, sizeof(one));
			ret = parse_hostport(piece, &one, false, err, errlen);
			free(piece);
		} else {
			memset(&one, 0, sizeof(one));
			ret = parse_hostport(p, &one, false, err, errlen);
		}
		if (ret)
			return ret;
		memcpy(e->addrs[n].host, one.host, sizeof(one.host));
		e->addrs[n].port = one.port;
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	e->naddrs = n;
	memcpy(e->host, e->addrs[0].host, sizeof(e->host));
	e->port = e->addrs[0].port;
	return 0;
}

int rw_hostport_parse(const char *s, char host[RW_HOST_MAX + 1], uint16_t *port, char *err, size_t errlen)
{
	struct rw_endpoint e;
	int ret;

	if (!s || !host || !port)
		return rw__errf(err, errlen, -EINVAL, "missing argument");
	memset(&e, 0, sizeof(e));
	ret = parse_hostport(s, &e, true, err, errlen);
	if (ret)
		return ret;
	memcpy(host, e.host, sizeof(e.host));
	*port = e.port;
	return 0;
}

int rw_uri_parse(const char *uri, struct rw_endpoint *ep, char *err, size_t errlen)
{
	struct rw_endpoint e;
	const char *key, *at, *s, *why = NULL;
	int ret;

	if (!uri || !ep)
		return rw__errf(err, errlen, -EINVAL, "missing argument");
	memset(&e, 0, sizeof(e));
	s = strstr(uri, "://");
	if (!s)
		return rw__errf(err, errlen, -EINVAL, "missing scheme; expected " FORM);
	if ((size_t)(s - uri) == strlen(SCHEME_TCP) - 3 && strncasecmp(uri, SCHEME_TCP, strlen(SCHEME_TCP)) == 0) {
		/* docs/protocol.md §17: the same packets, framed over TCP */
		e.transport = RW_TRANSPORT_TCP;
		key = uri + strlen(SCHEME_TCP);
	} else if ((size_t)(s - uri) != strlen(SCHEME) - 3 || strncasecmp(uri, SCHEME, strlen(SCHEME)) != 0) {
		return rw__errf(err, errlen, -EINVAL, "unsupported scheme \"%.*s://\"; expected " FORM
			    " (or wire+tcp://)", (int)(s - uri < 16 ? s - uri : 16), uri);
	} else {
		key = uri + strlen(SCHEME);
	}
	at = strchr(key, '@');
	if (!at)
		return rw__errf(err, errlen, -EINVAL, "missing '@' between key and host; expected " FORM);
	if (at == key)
		return rw__errf(err, errlen, -EINVAL, "missing key before '@'; expected " FORM);

	/*
	 * wpub only: base64's '/', '+' and '=' do not belong in a URI, and one
	 * spelling per key keeps URIs comparable.
	 */
	if ((size_t)(at - key) < strlen(RW_WPUB_HRP "1") || strncasecmp(key, RW_WPUB_HRP "1", 5) != 0) {
		size_t klen = (size_t)(at - key);
		uint8_t k[RW_KEY_SIZE];

		if ((klen == RW_KEY_HEX_LEN && !rw__hex_decode(k, sizeof(k), key, klen)) ||
		    (klen == RW_KEY_B64_LEN && !rw__base64_decode(k, sizeof(k), key, klen))) {
			char wpub[RW_WPUB_LEN + 1];

			if (rw__wpub_encode(wpub, k) == 0)
				return rw__errf(err, errlen, -EINVAL, "key in a URI must be written as wpub1...; "
					    "this one is %s", wpub);
		}
		return rw__errf(err, errlen, -EINVAL, "key must start with wpub1 (print it with: ringwire-key pubkey "
			    "< server.key); expected " FORM);
	}
	ret = rw__wpub_decode(e.pubkey, key, (size_t)(at - key), &why);
	if (ret)
		return rw__errf(err, errlen, ret, "key %s", why ? why : "is not valid");
	{
		uint8_t acc = 0;

		for (int i = 0; i < RW_KEY_SIZE; i++)
			acc |= e.pubkey[i];
		if (!acc)	/* as rw_pubkey_parse: all zeros is never a key */
			return rw__errf(err, errlen, -EINVAL, "key is all zeros, which is never a valid key");
	}

	ret = parse_addrs(at + 1, &e, err, errlen);
	if (ret)
		return ret;
	*ep = e;
	return 0;
}

static int uri_format(char *out, size_t outlen, const char *scheme, const uint8_t pub[RW_KEY_SIZE], const char *host,
		      uint16_t port);

int rw_uri_format(char *out, size_t outlen, const uint8_t pub[RW_KEY_SIZE], const char *host, uint16_t port)
{
	return uri_format(out, outlen, SCHEME, pub, host, port);
}

int rw_uri_format_tcp(char *out, size_t outlen, const uint8_t pub[RW_KEY_SIZE], const char *host, uint16_t port)
{
	return uri_format(out, outlen, SCHEME_TCP, pub, host, port);
}

static int uri_format(char *out, size_t outlen, const char *scheme, const uint8_t pub[RW_KEY_SIZE], const char *host,
		      uint16_t port)
{
	char wpub[RW_WPUB_LEN + 1];
	size_t hlen;
	int v6, n, ret;

	if (!out || !pub || !host || port == 0)
		return -EINVAL;
	hlen = strlen(host);
	if (hlen == 0 || hlen > RW_HOST_MAX)
		return -EINVAL;
	ret = rw__wpub_encode(wpub, pub);
	if (ret)
		return ret;
	v6 = strchr(host, ':') != NULL;
	/* Only write what rw_uri_parse() reads back. */
	if (v6 ? check_ipv6(host, hlen, NULL, 0) : check_host(host, hlen, false, NULL, 0))
		return -EINVAL;
	n = snprintf(out, outlen, "%s%s@%s%s%s:%u", scheme, wpub, v6 ? "[" : "", host, v6 ? "]" : "",
		     (unsigned int)port);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= outlen) {
		if (outlen)
			out[0] = '\0';
		return -ENOSPC;
	}
	return n;
}
