/* SPDX-License-Identifier: MIT */
/*
 * keys.c - X25519 key generation, key files and the text forms of keys
 * (docs/protocol.md §16.1).
 *
 * Private key text goes through encoding.c's constant-time decoders; which
 * decoder runs depends only on the length of the text, so the only
 * secret-dependent branch is "valid or not". Every buffer that held key
 * material is wiped on every path out, and error messages never quote key
 * text (a private key must not end up in a log).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errmsg.h"
#include "bech32.h"
#include "crypto.h"
#include "encoding.h"
#include "keys.h"
#include "ringwire.h"

/*
 * A key file holds 44 or 64 characters and a newline, maybe a comment-free
 * bit of white space around them. Anything bigger is the wrong file, and we
 * refuse it before reading it all.
 */
enum { KEY_FILE_MAX = 1024 };

/* Example file name for the "generate one" hint when the caller has none. */
#define DEFAULT_KEY_FILE "server.key"

_Static_assert((int)RW_KEY_SIZE == (int)RW_KEY_LEN, "public and internal key sizes");
_Static_assert(RW_KEY_B64_LEN == RW_BASE64_LEN(RW_KEY_SIZE), "base64 key length");
_Static_assert(RW_KEY_HEX_LEN == RW_HEX_LEN(RW_KEY_SIZE), "hex key length");


/* Not isspace(): the C library's answer depends on the locale. */
static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static void trim(const char **text, size_t *len)
{
	const char *p = *text;
	size_t n = *len;

	while (n && is_space(*p))
		p++, n--;
	while (n && is_space(p[n - 1]))
		n--;
	*text = p;
	*len = n;
}

static int has_prefix_ci(const char *p, size_t n, const char *prefix)
{
	size_t i;

	for (i = 0; prefix[i]; i++) {
		char c = i < n ? p[i] : '\0';

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != prefix[i])
			return 0;
	}
	return 1;
}

/* A file name as the user would type it in a shell: quoted when needed. */
static const char *shell_quote(char *buf, size_t size, const char *path)
{
	if (!strpbrk(path, " \t\n'\"\\$`;&|<>*?()[]{}!#~"))
		return path;
	snprintf(buf, size, "'%s'", path);
	return buf;
}

/*
 * Parse private key text; name, when not NULL, is the file it came from and
 * prefixes the message. The length decides the format before any character
 * is looked at, so nothing here branches on key material except the final
 * verdict.
 */
static int parse_private(const char *name, const char *text, size_t len, uint8_t priv[RW_KEY_SIZE], char *err,
			 size_t errlen)
{
	const char *pre = name ? name : "", *sep = name ? ": " : "";
	const char *file = name ? name : DEFAULT_KEY_FILE;
	uint8_t key[RW_KEY_SIZE];
	char q[320];
	size_t i;
	int ret;

	if (!text || !priv)
		return rw__errf(err, errlen, -EINVAL, "missing argument");
	file = shell_quote(q, sizeof(q), file);
	trim(&text, &len);
	if (len == RW_KEY_B64_LEN) {
		ret = rw__base64_decode(key, sizeof(key), text, len);
		if (ret) {
			rw__errf(err, errlen, ret,
			     "%s%s44 characters but not a base64 key (A-Z a-z 0-9 + / and one '=' at the end); "
			     "generate one with: ringwire-key genkey > %s", pre, sep, file);
			goto out;
		}
	} else if (len == RW_KEY_HEX_LEN) {
		ret = rw__hex_decode(key, sizeof(key), text, len);
		if (ret) {
			rw__errf(err, errlen, ret,
			     "%s%s64 characters but not a hex key (digits 0-9 a-f); "
			     "generate one with: ringwire-key genkey > %s", pre, sep, file);
			goto out;
		}
	} else {
		/* Wrong length: the text is no key, so it is safe to look at. */
		ret = -EINVAL;
		if (len == 0) {
			rw__errf(err, errlen, ret, "%s%sno key found (empty); generate one with: ringwire-key genkey > %s",
			     pre, sep, file);
			goto out;
		}
		if (has_prefix_ci(text, len, RW_WPUB_HRP "1")) {
			/* not "genkey > that file": it would replace the public key, not find the private one */
			rw__errf(err, errlen, ret,
			     "%s%sthis is a public key (wpub1...); a server needs its private key, the file "
			     "ringwire-key genkey wrote (ringwire-key pubkey < that file prints this public key)",
			     pre, sep);
			goto out;
		}
		for (i = 0; i < len && !is_space(text[i]); i++)
			;
		if (i < len) {
			rw__errf(err, errlen, ret,
			     "%s%sexpected one 32-byte key as 44 base64 or 64 hex characters, found several "
			     "words or lines; generate one with: ringwire-key genkey > %s", pre, sep, file);
			goto out;
		}
		rw__errf(err, errlen, ret,
		     "%s%sexpected a 32-byte key as 44 base64 or 64 hex characters, found %zu characters%s; "
		     "generate one with: ringwire-key genkey > %s", pre, sep, len,
		     len == RW_KEY_B64_LEN - 1 ? " (the final '=' is missing?)" : "", file);
		goto out;
	}
	/* WireGuard treats an all-zero key as "no key"; it is never one we made. */
	if (rw__is_zero(key, sizeof(key))) {
		ret = rw__errf(err, errlen, -EINVAL, "%s%sthe key is all zeros; generate one with: ringwire-key genkey > %s",
			   pre, sep, file);
		goto out;
	}
	memcpy(priv, key, sizeof(key));
	ret = 0;
out:
	rw__memzero(key, sizeof(key));
	return ret;
}

int rw_key_generate(uint8_t priv[RW_KEY_SIZE])
{
	uint8_t pub[RW_KEY_SIZE];
	int ret;

	if (!priv)
		return -EINVAL;
	ret = rw__x25519_generate(priv, pub);
	rw__memzero(pub, sizeof(pub));
	if (ret)
		rw__memzero(priv, RW_KEY_SIZE);
	return ret;
}

int rw_key_public(uint8_t pub[RW_KEY_SIZE], const uint8_t priv[RW_KEY_SIZE])
{
	uint8_t k[RW_KEY_SIZE];
	int ret;

	if (!pub || !priv)
		return -EINVAL;
	/*
	 * Keys are stored as given (a key from elsewhere may be unclamped);
	 * X25519 clamps anyway, and clamping a copy here makes that explicit
	 * whatever the backend does.
	 */
	memcpy(k, priv, sizeof(k));
	rw__x25519_clamp(k);
	ret = rw__x25519_public(pub, k);
	rw__memzero(k, sizeof(k));
	return ret;
}

int rw_key_parse_private(const char *text, size_t len, uint8_t priv[RW_KEY_SIZE], char *err, size_t errlen)
{
	return parse_private(NULL, text, len, priv, err, errlen);
}

static const char *file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISFIFO(mode))
		return "a pipe";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "not a regular file";
}

int rw__private_file_check(const char *path, const struct stat *st, const char *what, char *err, size_t errlen)
{
	char q[320];

	if (!S_ISREG(st->st_mode))
		return rw__errf(err, errlen, -EINVAL, "%s: is %s, not %s", path, file_kind(st->st_mode), what);
	if (st->st_mode & 077)
		return rw__errf(err, errlen, -EPERM, "%s is %s by group/others (mode %04o); fix with: chmod 600 %s", path,
				st->st_mode & 044 ? "readable" : st->st_mode & 022 ? "writable" : "accessible",
				(unsigned int)(st->st_mode & 07777), shell_quote(q, sizeof(q), path));
	return 0;
}

int rw_key_load_private(const char *path, uint8_t priv[RW_KEY_SIZE], char *err, size_t errlen)
{
	char buf[KEY_FILE_MAX + 1], q[320];
	const char *qpath;
	struct stat st;
	size_t n = 0;
	ssize_t r;
	int fd = -1, ret;

	if (!path || !priv)
		return rw__errf(err, errlen, -EINVAL, "missing argument");
	qpath = shell_quote(q, sizeof(q), path);
	/* O_NONBLOCK: opening a FIFO by mistake must not hang start-up. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		ret = -errno;
		if (ret == -ENOENT)
			rw__errf(err, errlen, ret, "%s: no such file; generate a key with: ringwire-key genkey > %s", path,
			     qpath);
		else if (ret == -EACCES)
			rw__errf(err, errlen, ret, "%s: permission denied; run as the key file's owner", path);
		else
			rw__errf(err, errlen, ret, "%s: cannot open: %s", path, strerror(-ret));
		goto out;
	}
	/* Check the file we opened, not the name, so nothing can swap it in between. */
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		rw__errf(err, errlen, ret, "%s: cannot stat: %s", path, strerror(-ret));
		goto out;
	}
	ret = rw__private_file_check(path, &st, "a key file; make one with: ringwire-key genkey > server.key", err,
				     errlen);
	if (ret)
		goto out;
	if (st.st_size > KEY_FILE_MAX) {
		ret = rw__errf(err, errlen, -EFBIG, "%s: %lld bytes is too big for a key file (one 44-character key); "
			   "wrong file?", path, (long long)st.st_size);
		goto out;
	}
	/* Bounded read: the file may grow after fstat(). */
	while (n < sizeof(buf)) {
		r = read(fd, buf + n, sizeof(buf) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = -errno;
			rw__errf(err, errlen, ret, "%s: cannot read: %s", path, strerror(-ret));
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > KEY_FILE_MAX) {
		ret = rw__errf(err, errlen, -EFBIG, "%s: too big for a key file (one 44-character key); wrong file?", path);
		goto out;
	}
	ret = parse_private(path, buf, n, priv, err, errlen);
out:
	rw__memzero(buf, sizeof(buf));
	if (fd >= 0)
		close(fd);
	return ret;
}

int rw_key_to_base64(char out[RW_KEY_B64_LEN + 1], const uint8_t key[RW_KEY_SIZE])
{
	return rw__base64_encode(out, RW_KEY_B64_LEN + 1, key, RW_KEY_SIZE);
}

int rw_pubkey_to_wpub(char out[RW_WPUB_LEN + 1], const uint8_t pub[RW_KEY_SIZE])
{
	if (!out || !pub)
		return -EINVAL;
	return rw__wpub_encode(out, pub);
}

static int all_hex(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') || (p[i] >= 'A' && p[i] <= 'F')))
			return 0;
	return 1;
}

#define PUB_FORMS "wpub1... (63 characters), base64 (44) or hex (64)"
#define PUB_HINT "print it with: ringwire-key pubkey < server.key"

int rw_pubkey_parse(const char *text, uint8_t pub[RW_KEY_SIZE], char *err, size_t errlen)
{
	const char *why = NULL;
	uint8_t key[RW_KEY_SIZE];
	size_t n, sep;
	int ret;

	if (!text || !pub)
		return rw__errf(err, errlen, -EINVAL, "missing argument");
	n = strlen(text);
	trim(&text, &n);
	if (n == 0)
		return rw__errf(err, errlen, -EINVAL, "public key is empty; expected " PUB_FORMS);
	if (has_prefix_ci(text, n, RW_WPUB_HRP "1")) {
		ret = rw__wpub_decode(key, text, n, &why);
		if (ret)
			return rw__errf(err, errlen, ret, "public key %s; " PUB_HINT, why ? why : "is not valid");
	} else if (n == RW_KEY_B64_LEN) {
		ret = rw__base64_decode(key, sizeof(key), text, n);
		if (ret)
			return rw__errf(err, errlen, ret,
				    "public key has 44 characters but is not base64 (A-Z a-z 0-9 + / and one '=' at "
				    "the end); expected " PUB_FORMS);
	} else if (n == RW_KEY_HEX_LEN) {
		ret = rw__hex_decode(key, sizeof(key), text, n);
		if (ret)
			return rw__errf(err, errlen, ret,
				    "public key has 64 characters but is not hex (0-9 a-f); expected " PUB_FORMS);
	} else if (all_hex(text, n)) {
		return rw__errf(err, errlen, -EINVAL, "public key looks like hex but has %zu characters, not 64; "
			    "expected " PUB_FORMS, n);
	} else {
		/* Some other bech32 key (age1..., npub1...)? Name its prefix. */
		for (sep = n; sep > 0 && text[sep - 1] != '1'; sep--)
			;
		if (sep > 1 && sep <= 17 && n - sep >= RW_BECH32_CHECKSUM_LEN) {
			size_t i;

			for (i = 0; i + 1 < sep; i++)
				if (!((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z') ||
				      (text[i] >= '0' && text[i] <= '9')))
					break;
			if (i + 1 == sep)
				return rw__errf(err, errlen, -EINVAL,
					    "public key starts with \"%.*s\", not \"wpub1\": not a wiresocket key",
					    (int)sep, text);
		}
		return rw__errf(err, errlen, -EINVAL, "public key: expected " PUB_FORMS ", found %zu characters", n);
	}
	if (rw__is_zero(key, sizeof(key)))
		return rw__errf(err, errlen, -EINVAL, "public key is all zeros, which is never a valid key");
	memcpy(pub, key, sizeof(key));
	return 0;
}

void rw_memzero(void *p, size_t n)
{
	rw__memzero(p, n);
}
