/* SPDX-License-Identifier: MIT */
/*
 * fuzz_keyfile.c - key text: rw_key_parse_private (the contents of a key
 * file, length-delimited) and rw_pubkey_parse (a NUL-terminated string).
 *
 * The private key parser gets the input bytes as they are, in a buffer of
 * exactly that size, so a read past the length is an ASan report. Checks:
 * - on failure the output key is untouched and the message is a
 *   NUL-terminated line (never truncated mid-buffer);
 * - the message for text that looks like a key (44/64 key characters) does
 *   not quote it: no 12-character run of the key appears in it;
 * - an accepted key is not all zero, and its base64 and hex forms parse back
 *   to the same key; the same for public keys with wpub1, base64 and hex.
 */
#include <errno.h>
#include <stdbool.h>

#include "encoding.h"
#include "fuzz.h"
#include "ringwire.h"

enum { QUOTE_RUN = 12 };

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool is_key_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' ||
	       c == '=';
}

/* Trimmed text made only of key characters, 44 or 64 long: a key, maybe a mistyped one. */
static bool looks_like_key(const char *t, size_t n, const char **kp, size_t *kn)
{
	while (n && is_space(*t))
		t++, n--;
	while (n && is_space(t[n - 1]))
		n--;
	if (n != RW_KEY_B64_LEN && n != RW_KEY_HEX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_key_char(t[i]))
			return false;
	*kp = t;
	*kn = n;
	return true;
}

static void check_err(const char *err, size_t errlen)
{
	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
	FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(strchr(err, '\n') == NULL);
}

static void check_no_quote(const char *err, const char *key, size_t n)
{
	for (size_t i = 0; i + QUOTE_RUN <= n; i++) {
		char run[QUOTE_RUN + 1];

		memcpy(run, key + i, QUOTE_RUN);
		run[QUOTE_RUN] = '\0';
		FUZZ_CHECK(strstr(err, run) == NULL);
	}
}

static void private_round_trip(const uint8_t key[RW_KEY_SIZE])
{
	char b64[RW_KEY_B64_LEN + 1], hex[RW_KEY_HEX_LEN + 1];
	uint8_t again[RW_KEY_SIZE];

	FUZZ_CHECK(rw_key_to_base64(b64, key) == 0);
	FUZZ_CHECK(rw_key_parse_private(b64, strlen(b64), again, NULL, 0) == 0);
	FUZZ_CHECK(memcmp(again, key, RW_KEY_SIZE) == 0);
	FUZZ_CHECK(rw__hex_encode(hex, sizeof(hex), key, RW_KEY_SIZE) == 0);
	FUZZ_CHECK(rw_key_parse_private(hex, strlen(hex), again, NULL, 0) == 0);
	FUZZ_CHECK(memcmp(again, key, RW_KEY_SIZE) == 0);
}

static void public_round_trip(const uint8_t key[RW_KEY_SIZE])
{
	char wpub[RW_WPUB_LEN + 1], b64[RW_KEY_B64_LEN + 1], hex[RW_KEY_HEX_LEN + 1];
	uint8_t again[RW_KEY_SIZE];

	FUZZ_CHECK(rw_pubkey_to_wpub(wpub, key) == 0);
	FUZZ_CHECK(strlen(wpub) == RW_WPUB_LEN);
	FUZZ_CHECK(rw_pubkey_parse(wpub, again, NULL, 0) == 0);
	FUZZ_CHECK(memcmp(again, key, RW_KEY_SIZE) == 0);
	FUZZ_CHECK(rw_key_to_base64(b64, key) == 0);
	FUZZ_CHECK(rw_pubkey_parse(b64, again, NULL, 0) == 0);
	FUZZ_CHECK(memcmp(again, key, RW_KEY_SIZE) == 0);
	FUZZ_CHECK(rw__hex_encode(hex, sizeof(hex), key, RW_KEY_SIZE) == 0);
	FUZZ_CHECK(rw_pubkey_parse(hex, again, NULL, 0) == 0);
	FUZZ_CHECK(memcmp(again, key, RW_KEY_SIZE) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t sentinel[RW_KEY_SIZE] = { 0xa5, 0x5a, 0xa5, 0x5a, 0xa5, 0x5a, 0xa5, 0x5a };
	char *text = calloc(1, size ? size : 1), *str = malloc(size + 1);
	char err[RW_ERRBUF_SIZE];
	uint8_t key[RW_KEY_SIZE];
	const char *kp;
	size_t kn;
	int ret;

	FUZZ_CHECK(text != NULL && str != NULL);
	if (size)
		memcpy(text, data, size);

	/* private key: as a key file's contents */
	memcpy(key, sentinel, sizeof(key));
	memset(err, 0x7f, sizeof(err));
	ret = rw_key_parse_private(text, size, key, err, sizeof(err));
	if (ret == 0) {
		FUZZ_CHECK(!fuzz_all_zero(key, sizeof(key)));
		private_round_trip(key);
	} else {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(memcmp(key, sentinel, sizeof(key)) == 0);
		check_err(err, sizeof(err));
		if (looks_like_key(text, size, &kp, &kn))
			check_no_quote(err, kp, kn);
	}
	/* a small error buffer is cut short, never overrun */
	{
		char small[8];

		(void)rw_key_parse_private(text, size, key, small, sizeof(small));
		(void)rw_key_parse_private(text, size, key, NULL, 0);
	}

	/* public key: a C string (stops at the first NUL) */
	if (size)
		memcpy(str, data, size);
	str[size] = '\0';
	memcpy(key, sentinel, sizeof(key));
	memset(err, 0x7f, sizeof(err));
	ret = rw_pubkey_parse(str, key, err, sizeof(err));
	if (ret == 0) {
		FUZZ_CHECK(!fuzz_all_zero(key, sizeof(key)));
		public_round_trip(key);
	} else {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(memcmp(key, sentinel, sizeof(key)) == 0);
		check_err(err, sizeof(err));
	}
	free(str);
	free(text);
	return 0;
}
