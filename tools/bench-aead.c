/* SPDX-License-Identifier: MIT */
/*
 * bench-aead - what one transport packet's ChaCha20-Poly1305 costs, through
 * the code ringwire runs per packet: rw__aead_seal / rw__aead_open on a
 * context keyed once (struct rw_aead), only the nonce set per call, AAD
 * empty, sealed in place after the 16-byte data header as the packet layer
 * does. Linked with the core static library (the shared library hides the
 * rw__ symbols), like the unit tests.
 *
 *   bench-aead [--size N[,N...]] [--runs N] [--ms MS] [--json]
 *
 * For each payload size: nanoseconds per packet and GB/s of payload, the
 * median of --runs runs of about --ms milliseconds each, for
 *   seal, open     ringwire's per-packet path (open decrypts into a second
 *                  buffer so the ciphertext stays valid for the next run)
 *   evp-init       plain EVP with key and nonce set per packet (what a
 *                  context per packet would cost)
 *   evp-stream     one EVP_EncryptUpdate per packet on a context never
 *                  re-initialised: the cost of the bytes alone
 * seal minus evp-stream is the fixed cost of a call (nonce, final, tag).
 * Default sizes: 0, 64, 1024, 1200 (a 1232-byte datagram less header and
 * tag), 8192 and 65475 (a 65507-byte datagram less header and tag).
 *
 * Exit status: 0 ok; 1 a crypto call failed; 2 bad flags.
 */
#include <errno.h>
#include <getopt.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"

enum { MAX_SIZE = 65507 - 32, MAX_SIZES = 16, HDR = 16, TAG = 16 };
enum kind { K_SEAL, K_OPEN, K_EVP_INIT, K_EVP_STREAM, K_COUNT };
static const char *const kind_name[K_COUNT] = { "seal", "open", "evp_init", "evp_stream" };

struct bench {
	struct rw_aead tx, rx;
	EVP_CIPHER *chacha;
	EVP_CIPHER_CTX *evp, *stream;
	uint8_t key[32];
	uint8_t *pkt, *sealed, *out;	/* header + payload + tag each */
	size_t size;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int evp_init_seal(struct bench *b, uint64_t counter)
{
	uint8_t nonce[12] = { 0 };
	int outl = 0, fl = 0;

	rw_put_le64(nonce + 4, counter);
	if (!EVP_EncryptInit_ex2(b->evp, b->chacha, b->key, nonce, NULL) ||
	    (b->size && !EVP_EncryptUpdate(b->evp, b->pkt + HDR, &outl, b->pkt + HDR, (int)b->size)) ||
	    !EVP_EncryptFinal_ex(b->evp, b->pkt + HDR + outl, &fl) ||
	    !EVP_CIPHER_CTX_ctrl(b->evp, EVP_CTRL_AEAD_GET_TAG, TAG, b->pkt + HDR + b->size))
		return -EIO;
	return 0;
}

/* n calls of one kind; 0 or a negative errno. */
static int loop(struct bench *b, enum kind k, uint64_t n)
{
	int outl;

	for (uint64_t i = 0; i < n; i++) {
		int ret = 0;

		switch (k) {
		case K_SEAL:
			ret = rw__aead_seal(&b->tx, i, NULL, 0, b->pkt + HDR, b->size, b->pkt + HDR);
			break;
		case K_OPEN:
			/* every run opens the one packet sealed with counter 0: same work as a fresh one */
			ret = rw__aead_open(&b->rx, 0, NULL, 0, b->sealed + HDR, b->size + TAG, b->out + HDR);
			break;
		case K_EVP_INIT:
			ret = evp_init_seal(b, i);
			break;
		case K_EVP_STREAM:
			if (b->size && !EVP_EncryptUpdate(b->stream, b->pkt + HDR, &outl, b->pkt + HDR, (int)b->size))
				ret = -EIO;
			break;
		default:
			break;
		}
		if (ret)
			return ret;
	}
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Median ns per call over runs of about ms milliseconds. */
static int measure(struct bench *b, enum kind k, unsigned runs, double ms, double *ns_out)
{
	double ns[64];
	uint64_t n = 16, t0, dt;
	int ret;

	/* calibrate: double n until one batch takes a tenth of a run */
	for (;;) {
		t0 = now_ns();
		if ((ret = loop(b, k, n)) != 0)
			return ret;
		dt = now_ns() - t0;
		if ((double)dt >= ms * 1e5 || n >= (1ull << 40))
			break;
		n *= 2;
	}
	n = (uint64_t)((double)n * ms * 1e6 / (double)(dt ? dt : 1));
	if (n < 1)
		n = 1;
	for (unsigned r = 0; r < runs; r++) {
		/* a fresh stream per run: its 32-bit block counter never wraps */
		if (k == K_EVP_STREAM && !EVP_EncryptInit_ex2(b->stream, NULL, b->key, (const uint8_t[12]){ 0 }, NULL))
			return -EIO;
		t0 = now_ns();
		if ((ret = loop(b, k, n)) != 0)
			return ret;
		ns[r] = (double)(now_ns() - t0) / (double)n;
	}
	qsort(ns, runs, sizeof(ns[0]), cmp_double);
	*ns_out = runs % 2 ? ns[runs / 2] : (ns[runs / 2 - 1] + ns[runs / 2]) / 2;
	return 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench-aead [--size N[,N...]] [--runs N] [--ms MS] [--json]\n"
		   "  per-packet ChaCha20-Poly1305 through ringwire's rw__aead_seal/open, and plain EVP\n"
		   "  --size  payload bytes, 0..%d (default 0,64,1024,1200,8192,65475)\n"
		   "  --runs  runs per measurement, median reported, 1..63 (default 5)\n"
		   "  --ms    milliseconds per run, 1..10000 (default 100)\n"
		   "  --json  one JSON line per size on stdout (the table goes to stderr)\n",
		MAX_SIZE);
}

static bool num(const char *s, const char *flag, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || end == s || v < lo || v > hi) {
		fprintf(stderr, "bench-aead: %s: \"%s\" is not a number from %ld to %ld\n", flag, s, lo, hi);
		return false;
	}
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "size", required_argument, NULL, 's' }, { "runs", required_argument, NULL, 'r' },
		{ "ms", required_argument, NULL, 'm' },	  { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },	  { NULL, 0, NULL, 0 },
	};
	long sizes[MAX_SIZES] = { 0, 64, 1024, 1200, 8192, MAX_SIZE }, v;
	int nsizes = 6, c, ret = 0;
	unsigned runs = 5;
	double ms = 100;
	bool json = false;
	struct bench b;
	FILE *txt;

	while ((c = getopt_long(argc, argv, "s:r:m:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's': {
			char *copy = strdup(optarg), *save = NULL, *tok;

			nsizes = 0;
			for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (nsizes == MAX_SIZES || !num(tok, "--size", 0, MAX_SIZE, &sizes[nsizes])) {
					free(copy);
					return 2;
				}
				nsizes++;
			}
			free(copy);
			if (!nsizes)
				return 2;
			break;
		}
		case 'r':
			if (!num(optarg, "--runs", 1, 63, &v))
				return 2;
			runs = (unsigned)v;
			break;
		case 'm':
			if (!num(optarg, "--ms", 1, 10000, &v))
				return 2;
			ms = (double)v;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bench-aead: unexpected argument \"%s\"; see --help\n", argv[optind]);
		return 2;
	}

	memset(&b, 0, sizeof(b));
	for (size_t i = 0; i < sizeof(b.key); i++)
		b.key[i] = (uint8_t)(i * 7 + 1);	/* a fixed key: nothing secret here */
	b.chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	b.evp = EVP_CIPHER_CTX_new();
	b.stream = EVP_CIPHER_CTX_new();
	b.pkt = calloc(1, HDR + MAX_SIZE + TAG);
	b.sealed = calloc(1, HDR + MAX_SIZE + TAG);
	b.out = calloc(1, HDR + MAX_SIZE + TAG);
	if (!b.chacha || !b.evp || !b.stream || !b.pkt || !b.sealed || !b.out ||
	    rw__aead_init(&b.tx, b.key, 1) || rw__aead_init(&b.rx, b.key, 0) ||
	    !EVP_EncryptInit_ex2(b.stream, b.chacha, b.key, (const uint8_t[12]){ 0 }, NULL)) {
		fprintf(stderr, "bench-aead: cannot set up ChaCha20-Poly1305 (libcrypto 3.0 or later needed)\n");
		return 1;
	}

	txt = json ? stderr : stdout;
	fprintf(txt, "bench-aead: ChaCha20-Poly1305, ns per packet and GB/s of payload, median of %u runs of ~%.0f ms\n",
		runs, ms);
	fprintf(txt, "%8s | %9s %7s | %9s %7s | %12s %7s | %14s | %10s\n", "payload", "seal ns", "GB/s", "open ns",
		"GB/s", "evp-init ns", "GB/s", "evp-stream ns", "fixed ns");
	for (int i = 0; i < nsizes && !ret; i++) {
		double ns[K_COUNT];

		b.size = (size_t)sizes[i];
		/* the packet open measures: sealed once with counter 0 */
		ret = rw__aead_seal(&b.tx, 0, NULL, 0, b.sealed + HDR, b.size, b.sealed + HDR);
		for (int k = 0; k < K_COUNT && !ret; k++)
			ret = measure(&b, (enum kind)k, runs, ms, &ns[k]);
		if (ret)
			break;
		/* GB/s = bytes per ns */
		fprintf(txt, "%8zu | %9.0f %7.3f | %9.0f %7.3f | %12.0f %7.3f | %14.0f | %10.0f\n", b.size, ns[K_SEAL],
			(double)b.size / ns[K_SEAL], ns[K_OPEN], (double)b.size / ns[K_OPEN], ns[K_EVP_INIT],
			(double)b.size / ns[K_EVP_INIT], ns[K_EVP_STREAM], ns[K_SEAL] - ns[K_EVP_STREAM]);
		if (json) {
			printf("{\"tool\":\"bench-aead\",\"size\":%zu,\"runs\":%u", b.size, runs);
			for (int k = 0; k < K_COUNT; k++)
				printf(",\"%s_ns\":%.1f,\"%s_gbyte_s\":%.4f", kind_name[k], ns[k], kind_name[k],
				       (double)b.size / ns[k]);
			printf(",\"fixed_ns\":%.1f}\n", ns[K_SEAL] - ns[K_EVP_STREAM]);
			fflush(stdout);
		}
	}
	if (ret)
		fprintf(stderr, "bench-aead: a crypto call failed at %zu bytes: %s\n", b.size, strerror(-ret));
	rw__aead_free(&b.tx);
	rw__aead_free(&b.rx);
	EVP_CIPHER_CTX_free(b.evp);
	EVP_CIPHER_CTX_free(b.stream);
	EVP_CIPHER_free(b.chacha);
	free(b.pkt);
	free(b.sealed);
	free(b.out);
	return ret ? 1 : 0;
}
