/* SPDX-License-Identifier: MIT */
/*
 * fuzz_uri.c - rw_uri_parse and rw_uri_format.
 *
 * The input, NUL-terminated, is a URI. On failure the endpoint is untouched
 * and the message a NUL-terminated line. On success the host is a
 * NUL-terminated string of at most RW_HOST_MAX characters and the port is
 * not 0; rw_uri_format of the parsed endpoint must succeed, return its
 * length, and parse back to the same key, host and port; and formatting into
 * a buffer one byte short must say -ENOSPC without writing past it.
 */
#include <errno.h>
#include <stdbool.h>

#include "fuzz.h"
#include "ringwire.h"

/* wire:// + wpub + @ + [ host ] + :65535 + NUL */
enum { URI_MAX = 7 + RW_WPUB_LEN + 1 + 1 + RW_HOST_MAX + 1 + 6 + 1 };

static void check_err(const char *err, size_t errlen)
{
	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
	FUZZ_CHECK(err[0] != '\0');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *uri = malloc(size + 1), *out, *shorter;
	char err[RW_ERRBUF_SIZE];
	struct rw_endpoint ep, ep2, sentinel;
	int ret, n;

	FUZZ_CHECK(uri != NULL);
	if (size)
		memcpy(uri, data, size);
	uri[size] = '\0';

	memset(&sentinel, 0xa5, sizeof(sentinel));
	ep = sentinel;
	memset(err, 0x7f, sizeof(err));
	ret = rw_uri_parse(uri, &ep, err, sizeof(err));
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(memcmp(&ep, &sentinel, sizeof(ep)) == 0);
		check_err(err, sizeof(err));
		/* no message buffer, and a tiny one */
		FUZZ_CHECK(rw_uri_parse(uri, &ep, NULL, 0) == ret);
		FUZZ_CHECK(rw_uri_parse(uri, &ep, err, 4) == ret);
		FUZZ_CHECK(strlen(err) < 4);
		free(uri);
		return 0;
	}
	FUZZ_CHECK(ep.port != 0);
	FUZZ_CHECK(memchr(ep.host, '\0', sizeof(ep.host)) != NULL);
	FUZZ_CHECK(strlen(ep.host) >= 1 && strlen(ep.host) <= RW_HOST_MAX);

	out = malloc(URI_MAX);
	FUZZ_CHECK(out != NULL);
	n = rw_uri_format(out, URI_MAX, ep.pubkey, ep.host, ep.port);
	FUZZ_CHECK(n > 0 && (size_t)n < URI_MAX);
	FUZZ_CHECK(strlen(out) == (size_t)n);
	/* the canonical form is never longer than what was parsed */
	FUZZ_CHECK((size_t)n <= strlen(uri));
	memset(&ep2, 0, sizeof(ep2));
	FUZZ_CHECK(rw_uri_parse(out, &ep2, err, sizeof(err)) == 0);
	FUZZ_CHECK(memcmp(ep2.pubkey, ep.pubkey, RW_KEY_SIZE) == 0);
	FUZZ_CHECK(strcmp(ep2.host, ep.host) == 0);
	FUZZ_CHECK(ep2.port == ep.port);

	/* exactly one byte too small */
	shorter = malloc((size_t)n);
	FUZZ_CHECK(shorter != NULL);
	FUZZ_CHECK(rw_uri_format(shorter, (size_t)n, ep.pubkey, ep.host, ep.port) == -ENOSPC);
	FUZZ_CHECK(shorter[0] == '\0');
	free(shorter);
	free(out);
	free(uri);
	return 0;
}
