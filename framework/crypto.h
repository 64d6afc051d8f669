/* SPDX-License-Identifier: MIT */
/*
 * crypto.h - the primitives of wiresocket v1 over OpenSSL libcrypto.
 *
 * BLAKE2s-256, keyed BLAKE2s (the MAC and KDF of docs/protocol.md §2.1), X25519 and
 * ChaCha20-Poly1305 come from libcrypto; HChaCha20 (for the CookieReply's
 * XChaCha20-Poly1305, docs/protocol.md §2.6) is the one primitive written here, because
 * libcrypto has none.
 *
 * Every function returns 0 or a negative errno. Transport AEAD contexts are
 * created once per key (struct rw_aead) and only the nonce is set per packet,
 * as picotls does; one-shot calls with a key (handshake, cookies) reuse a
 * per-thread scratch context so they do not allocate either.
 */
#ifndef RW_CRYPTO_H
#define RW_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

/* Wipe a secret; the compiler cannot drop it (OPENSSL_cleanse). */
void rw__memzero(void *p, size_t n);
/* Constant-time equality: 1 when equal, 0 otherwise (CRYPTO_memcmp). */
int rw__memeq(const void *a, const void *b, size_t n);
/* Constant-time test for an all-zero buffer. */
int rw__is_zero(const void *p, size_t n);
/* Cryptographically random bytes (RAND_bytes). */
int rw__random(void *buf, size_t n) RW_MUST_CHECK;

/* out = BLAKE2s-256(a || b); b may be NULL with blen 0. */
int rw__hash(uint8_t out[RW_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen) RW_MUST_CHECK;
/* out = keyed BLAKE2s-256 (key of 1..32 bytes) over a || b. */
int rw__mac(uint8_t out[RW_HASH_LEN], const uint8_t *key, size_t keylen, const void *a, size_t alen,
	    const void *b, size_t blen) RW_MUST_CHECK;
/*
 * KDF of docs/protocol.md §2.1: writes T1, T2 and T3 to whichever of t1, t2, t3 is
 * non-NULL (kdf1/kdf2/kdf3 in one function).
 */
int rw__kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[RW_HASH_LEN], const void *in,
	    size_t inlen) RW_MUST_CHECK;

void rw__x25519_clamp(uint8_t priv[RW_KEY_LEN]);
/* New clamped private key and its public key. */
int rw__x25519_generate(uint8_t priv[RW_KEY_LEN], uint8_t pub[RW_KEY_LEN]) RW_MUST_CHECK;
int rw__x25519_public(uint8_t pub[RW_KEY_LEN], const uint8_t priv[RW_KEY_LEN]) RW_MUST_CHECK;
/* DH; -EINVAL when the result is all zero (low-order or zero public key). */
int rw__x25519(uint8_t out[RW_KEY_LEN], const uint8_t priv[RW_KEY_LEN], const uint8_t pub[RW_KEY_LEN]) RW_MUST_CHECK;

/* A ChaCha20-Poly1305 key bound to one direction, set up once. */
struct rw_aead {
	EVP_CIPHER_CTX *ctx;
	int encrypt;
};

int rw__aead_init(struct rw_aead *a, const uint8_t key[RW_KEY_LEN], int encrypt) RW_MUST_CHECK;
void rw__aead_free(struct rw_aead *a);
/*
 * out gets len + RW_TAG_LEN bytes; in and out may be the same buffer. The
 * nonce is 4 zero bytes then the little-endian counter (docs/protocol.md §2.3).
 */
int rw__aead_seal(struct rw_aead *a, uint64_t counter, const void *aad, size_t aadlen, const uint8_t *in,
		  size_t len, uint8_t *out) RW_MUST_CHECK;
/* in holds len bytes including the tag; out gets len - RW_TAG_LEN bytes. -EBADMSG on a bad tag. */
int rw__aead_open(struct rw_aead *a, uint64_t counter, const void *aad, size_t aadlen, const uint8_t *in,
		  size_t len, uint8_t *out) RW_MUST_CHECK;

/* One-shot forms with the key given per call (handshake messages, cookies). */
int rw__aead_seal_key(const uint8_t key[RW_KEY_LEN], uint64_t counter, const void *aad, size_t aadlen,
		      const uint8_t *in, size_t len, uint8_t *out) RW_MUST_CHECK;
int rw__aead_open_key(const uint8_t key[RW_KEY_LEN], uint64_t counter, const void *aad, size_t aadlen,
		      const uint8_t *in, size_t len, uint8_t *out) RW_MUST_CHECK;

/* HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2). */
void rw__hchacha20(uint8_t out[RW_KEY_LEN], const uint8_t key[RW_KEY_LEN], const uint8_t nonce[16]);
/* XChaCha20-Poly1305 with a 24-byte nonce, same in/out rules as above. */
int rw__xaead_seal(const uint8_t key[RW_KEY_LEN], const uint8_t nonce[RW_XNONCE_LEN], const uint8_t *in,
		   size_t len, uint8_t *out) RW_MUST_CHECK;
int rw__xaead_open(const uint8_t key[RW_KEY_LEN], const uint8_t nonce[RW_XNONCE_LEN], const uint8_t *in,
		   size_t len, uint8_t *out) RW_MUST_CHECK;

/* Free this thread's scratch contexts (reactor threads call it on exit). */
void rw__crypto_thread_release(void);

#endif
