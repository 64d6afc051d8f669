/* SPDX-License-Identifier: MIT */
/*
 * crypto.c - wiresocket v1 primitives over OpenSSL 3 libcrypto.
 *
 * Algorithms are fetched once per process. Each thread keeps one scratch
 * digest, MAC and cipher context, re-keyed per call, so the handshake and
 * cookie paths make no allocation of their own; transport keys get their own
 * EVP context each (struct rw_aead) and only the nonce changes per packet.
 * Every EVP return value is checked: a failure is an error, never an assert.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto.h"

static struct {
	EVP_MD *blake2s;
	EVP_MAC *blake2smac;
	EVP_CIPHER *chacha;
	int err;
} algs;
static pthread_once_t algs_once = PTHREAD_ONCE_INIT;
static pthread_key_t scratch_key;

/*
 * Private keys this thread used last, with their EVP_PKEY. Building an
 * EVP_PKEY from raw bytes computes the public key, a scalar multiplication
 * as costly as the DH itself; a handshake uses the static key twice and the
 * ephemeral twice, so keeping the last few halves its X25519 work. The
 * copies are wiped when evicted and when the thread releases its scratch.
 */
enum { KEY_CACHE = 4 };

struct cached_key {
	uint8_t priv[RW_KEY_LEN];
	EVP_PKEY *pk;
	uint64_t used;
};

struct scratch {
	EVP_MD_CTX *md;
	EVP_MAC_CTX *mac;
	EVP_CIPHER_CTX *aead;
	struct cached_key keys[KEY_CACHE];
	uint64_t clock;
};

static void scratch_free(void *p)
{
	struct scratch *s = p;

	if (!s)
		return;
	for (int i = 0; i < KEY_CACHE; i++)
		EVP_PKEY_free(s->keys[i].pk);
	rw__memzero(s->keys, sizeof(s->keys));
	EVP_MD_CTX_free(s->md);
	EVP_MAC_CTX_free(s->mac);
	EVP_CIPHER_CTX_free(s->aead);
	free(s);
}

static void algs_init(void)
{
	algs.blake2s = EVP_MD_fetch(NULL, "BLAKE2S-256", NULL);
	algs.blake2smac = EVP_MAC_fetch(NULL, "BLAKE2SMAC", NULL);
	algs.chacha = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
	if (!algs.blake2s || !algs.blake2smac || !algs.chacha)
		algs.err = -ENOSYS;
	else if (pthread_key_create(&scratch_key, scratch_free))
		algs.err = -EAGAIN;
}

/* This thread's contexts, created on first use. NULL on failure. */
static struct scratch *scratch_get(void)
{
	struct scratch *s;

	pthread_once(&algs_once, algs_init);
	if (rw_unlikely(algs.err))
		return NULL;
	s = pthread_getspecific(scratch_key);
	if (rw_likely(s))
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->md = EVP_MD_CTX_new();
	s->mac = EVP_MAC_CTX_new(algs.blake2smac);
	s->aead = EVP_CIPHER_CTX_new();
	/*
	 * Bind the cipher once: passing it again on every init makes OpenSSL
	 * rebuild its provider context (an allocation per handshake message or
	 * cookie); with NULL it only re-keys.
	 */
	if (!s->md || !s->mac || !s->aead || !EVP_CipherInit_ex2(s->aead, algs.chacha, NULL, NULL, 1, NULL) ||
	    pthread_setspecific(scratch_key, s)) {
		scratch_free(s);
		return NULL;
	}
	return s;
}

void rw__crypto_thread_release(void)
{
	struct scratch *s;

	pthread_once(&algs_once, algs_init);
	if (algs.err)
		return;
	s = pthread_getspecific(scratch_key);
	if (s) {
		pthread_setspecific(scratch_key, NULL);
		scratch_free(s);
	}
}

void rw__memzero(void *p, size_t n)
{
	OPENSSL_cleanse(p, n);
}

int rw__memeq(const void *a, const void *b, size_t n)
{
	return CRYPTO_memcmp(a, b, n) == 0;
}

int rw__is_zero(const void *p, size_t n)
{
	const volatile uint8_t *b = p;
	uint8_t acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return acc == 0;
}

int rw__random(void *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -EIO;
}

int rw__hash(uint8_t out[RW_HASH_LEN], const void *a, size_t alen, const void *b, size_t blen)
{
	struct scratch *s = scratch_get();
	unsigned int olen = 0;

	if (rw_unlikely(!s))
		return -ENOMEM;
	if (!EVP_DigestInit_ex2(s->md, algs.blake2s, NULL) || !EVP_DigestUpdate(s->md, a, alen) ||
	    (blen && !EVP_DigestUpdate(s->md, b, blen)) || !EVP_DigestFinal_ex(s->md, out, &olen) ||
	    olen != RW_HASH_LEN)
		return -EIO;
	return 0;
}

int rw__mac(uint8_t out[RW_HASH_LEN], const uint8_t *key, size_t keylen, const void *a, size_t alen,
	    const void *b, size_t blen)
{
	struct scratch *s = scratch_get();
	size_t olen = 0;

	if (rw_unlikely(!s))
		return -ENOMEM;
	if (keylen == 0 || keylen > RW_KEY_LEN)
		return -EINVAL;
	/* Re-keying resets the state; the default output size is 32 bytes. */
	if (!EVP_MAC_init(s->mac, key, keylen, NULL) || !EVP_MAC_update(s->mac, a, alen) ||
	    (blen && !EVP_MAC_update(s->mac, b, blen)) || !EVP_MAC_final(s->mac, out, &olen, RW_HASH_LEN) ||
	    olen != RW_HASH_LEN)
		return -EIO;
	return 0;
}

int rw__kdf(uint8_t *t1, uint8_t *t2, uint8_t *t3, const uint8_t ck[RW_HASH_LEN], const void *in, size_t inlen)
{
	uint8_t prk[RW_HASH_LEN], t[RW_HASH_LEN];
	uint8_t ctr;
	int ret;

	ret = rw__mac(prk, ck, RW_HASH_LEN, in, inlen, NULL, 0);
	if (ret)
		goto out;
	/* T1 = MAC(prk, 0x01); Ti = MAC(prk, T(i-1) || i) */
	ctr = 1;
	ret = rw__mac(t, prk, RW_HASH_LEN, &ctr, 1, NULL, 0);
	if (ret)
		goto out;
	if (t1)
		memcpy(t1, t, RW_HASH_LEN);
	if (!t2 && !t3)
		goto out;
	ctr = 2;
	ret = rw__mac(t, prk, RW_HASH_LEN, t, RW_HASH_LEN, &ctr, 1);
	if (ret)
		goto out;
	if (t2)
		memcpy(t2, t, RW_HASH_LEN);
	if (!t3)
		goto out;
	ctr = 3;
	ret = rw__mac(t, prk, RW_HASH_LEN, t, RW_HASH_LEN, &ctr, 1);
	if (ret)
		goto out;
	memcpy(t3, t, RW_HASH_LEN);
out:
	rw__memzero(prk, sizeof(prk));
	rw__memzero(t, sizeof(t));
	return ret;
}

void rw__x25519_clamp(uint8_t priv[RW_KEY_LEN])
{
	priv[0] &= 248;
	priv[31] = (priv[31] & 127) | 64;
}

/* The EVP_PKEY of priv: from this thread's cache, or built and cached (LRU). */
static EVP_PKEY *private_key(const uint8_t priv[RW_KEY_LEN])
{
	struct scratch *s = scratch_get();
	struct cached_key *victim;
	EVP_PKEY *pk;

	if (rw_unlikely(!s))
		return NULL;
	victim = &s->keys[0];
	for (int i = 0; i < KEY_CACHE; i++) {
		struct cached_key *k = &s->keys[i];

		if (k->pk && rw__memeq(k->priv, priv, RW_KEY_LEN)) {
			k->used = ++s->clock;
			return k->pk;
		}
		if (!k->pk || k->used < victim->used)
			victim = k;
	}
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, RW_KEY_LEN);
	if (!pk)
		return NULL;
	EVP_PKEY_free(victim->pk);
	memcpy(victim->priv, priv, RW_KEY_LEN);
	victim->pk = pk;
	victim->used = ++s->clock;
	return pk;
}

int rw__x25519_public(uint8_t pub[RW_KEY_LEN], const uint8_t priv[RW_KEY_LEN])
{
	EVP_PKEY *pk = private_key(priv);
	size_t len = RW_KEY_LEN;

	if (!pk)
		return -EIO;
	if (!EVP_PKEY_get_raw_public_key(pk, pub, &len) || len != RW_KEY_LEN)
		return -EIO;
	return 0;
}

int rw__x25519_generate(uint8_t priv[RW_KEY_LEN], uint8_t pub[RW_KEY_LEN])
{
	int ret = rw__random(priv, RW_KEY_LEN);

	if (ret)
		return ret;
	rw__x25519_clamp(priv);
	ret = rw__x25519_public(pub, priv);
	if (ret)
		rw__memzero(priv, RW_KEY_LEN);
	return ret;
}

int rw__x25519(uint8_t out[RW_KEY_LEN], const uint8_t priv[RW_KEY_LEN], const uint8_t pub[RW_KEY_LEN])
{
	EVP_PKEY *mine, *peer = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	size_t len = RW_KEY_LEN;
	int ret = -EIO;

	mine = private_key(priv);	/* owned by the cache */
	peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, RW_KEY_LEN);
	if (!mine || !peer)
		goto out;
	ctx = EVP_PKEY_CTX_new_from_pkey(NULL, mine, NULL);
	if (!ctx || EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer(ctx, peer) <= 0)
		goto out;
	/*
	 * libcrypto refuses an all-zero result itself; a low-order point lands
	 * here, and is a bad key from the peer, not an internal error.
	 */
	if (EVP_PKEY_derive(ctx, out, &len) <= 0 || len != RW_KEY_LEN) {
		ret = -EINVAL;
		goto out;
	}
	ret = rw__is_zero(out, RW_KEY_LEN) ? -EINVAL : 0;
out:
	if (ret)
		rw__memzero(out, RW_KEY_LEN);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(peer);
	return ret;
}

static void make_nonce(uint8_t nonce[12], uint64_t counter)
{
	memset(nonce, 0, 4);
	rw_put_le64(nonce + 4, counter);
}

/* Seal or open with ctx already keyed; only the nonce is set here. */
static int seal(EVP_CIPHER_CTX *ctx, uint64_t counter, const void *aad, size_t aadlen, const uint8_t *in,
		size_t len, uint8_t *out)
{
	uint8_t nonce[12];
	int outl = 0, fl = 0;

	make_nonce(nonce, counter);
	if (rw_unlikely(len > INT32_MAX || aadlen > INT32_MAX))
		return -EMSGSIZE;
	if (!EVP_EncryptInit_ex2(ctx, NULL, NULL, nonce, NULL))
		return -EIO;
	if (aadlen && !EVP_EncryptUpdate(ctx, NULL, &outl, aad, (int)aadlen))
		return -EIO;
	if (len && !EVP_EncryptUpdate(ctx, out, &outl, in, (int)len))
		return -EIO;
	if (!EVP_EncryptFinal_ex(ctx, out + outl, &fl) ||
	    !EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, RW_TAG_LEN, out + len))
		return -EIO;
	return 0;
}

static int open_(EVP_CIPHER_CTX *ctx, uint64_t counter, const void *aad, size_t aadlen, const uint8_t *in,
		 size_t len, uint8_t *out)
{
	uint8_t nonce[12], tag[RW_TAG_LEN];
	int outl = 0, fl = 0;
	size_t plen;

	if (rw_unlikely(len < RW_TAG_LEN))
		return -EBADMSG;
	if (rw_unlikely(len > INT32_MAX || aadlen > INT32_MAX))
		return -EMSGSIZE;
	plen = len - RW_TAG_LEN;
	/* Copy the tag first: with in == out it lies past what we overwrite, but be explicit. */
	memcpy(tag, in + plen, RW_TAG_LEN);
	make_nonce(nonce, counter);
	if (!EVP_DecryptInit_ex2(ctx, NULL, NULL, nonce, NULL))
		return -EIO;
	if (aadlen && !EVP_DecryptUpdate(ctx, NULL, &outl, aad, (int)aadlen))
		return -EIO;
	if (plen && !EVP_DecryptUpdate(ctx, out, &outl, in, (int)plen))
		return -EIO;
	if (!EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, RW_TAG_LEN, tag))
		return -EIO;
	if (EVP_DecryptFinal_ex(ctx, out + outl, &fl) <= 0) {
		/* Never hand out plaintext that failed authentication. */
		rw__memzero(out, plen);
		return -EBADMSG;
	}
	return 0;
}

int rw__aead_init(struct rw_aead *a, const uint8_t key[RW_KEY_LEN], int encrypt)
{
	pthread_once(&algs_once, algs_init);
	a->ctx = NULL;
	if (algs.err)
		return algs.err;
	a->ctx = EVP_CIPHER_CTX_new();
	if (!a->ctx)
		return -ENOMEM;
	a->encrypt = !!encrypt;
	if (!EVP_CipherInit_ex2(a->ctx, algs.chacha, key, NULL, a->encrypt, NULL)) {
		rw__aead_free(a);
		return -EIO;
	}
	return 0;
}

void rw__aead_free(struct rw_aead *a)
{
	/* EVP_CIPHER_CTX_free cleanses the key schedule. */
	EVP_CIPHER_CTX_free(a->ctx);
	a->ctx = NULL;
}

int rw__aead_seal(struct rw_aead *a, uint64_t counter, const void *aad, size_t aadlen, const uint8_t *in,
		  size_t len, uint8_t *out)
{
	if (rw_unlikely(!a->ctx || !a->encrypt))
		return -EINVAL;
	return seal(a->ctx, counter, aad, aadlen, in, len, out);
}

int rw__aead_open(struct rw_aead *a, uint64_t counter, const void *aad, size_t aadlen, const uint8_t *in,
		  size_t len, uint8_t *out)
{
	if (rw_unlikely(!a->ctx || a->encrypt))
		return -EINVAL;
	return open_(a->ctx, counter, aad, aadlen, in, len, out);
}

int rw__aead_seal_key(const uint8_t key[RW_KEY_LEN], uint64_t counter, const void *aad, size_t aadlen,
		      const uint8_t *in, size_t len, uint8_t *out)
{
	struct scratch *s = scratch_get();

	if (rw_unlikely(!s))
		return -ENOMEM;
	if (!EVP_EncryptInit_ex2(s->aead, NULL, key, NULL, NULL))
		return -EIO;
	return seal(s->aead, counter, aad, aadlen, in, len, out);
}

int rw__aead_open_key(const uint8_t key[RW_KEY_LEN], uint64_t counter, const void *aad, size_t aadlen,
		      const uint8_t *in, size_t len, uint8_t *out)
{
	struct scratch *s = scratch_get();

	if (rw_unlikely(!s))
		return -ENOMEM;
	if (!EVP_DecryptInit_ex2(s->aead, NULL, key, NULL, NULL))
		return -EIO;
	return open_(s->aead, counter, aad, aadlen, in, len, out);
}

/*
 * HChaCha20: the ChaCha20 block function without the final feed-forward,
 * keeping words 0-3 and 12-15. The one primitive we write ourselves:
 * libcrypto 3.0 has no XChaCha20.
 */
#define ROTL32(v, n) (((v) << (n)) | ((v) >> (32 - (n))))
#define QR(a, b, c, d)                                                                                     \
	do {                                                                                               \
		a += b; d ^= a; d = ROTL32(d, 16);                                                         \
		c += d; b ^= c; b = ROTL32(b, 12);                                                         \
		a += b; d ^= a; d = ROTL32(d, 8);                                                          \
		c += d; b ^= c; b = ROTL32(b, 7);                                                          \
	} while (0)

void rw__hchacha20(uint8_t out[RW_KEY_LEN], const uint8_t key[RW_KEY_LEN], const uint8_t nonce[16])
{
	uint32_t x[16];

	x[0] = 0x61707865;
	x[1] = 0x3320646e;
	x[2] = 0x79622d32;
	x[3] = 0x6b206574;
	for (int i = 0; i < 8; i++)
		x[4 + i] = rw_le32(key + 4 * i);
	for (int i = 0; i < 4; i++)
		x[12 + i] = rw_le32(nonce + 4 * i);
	for (int i = 0; i < 10; i++) {
		QR(x[0], x[4], x[8], x[12]);
		QR(x[1], x[5], x[9], x[13]);
		QR(x[2], x[6], x[10], x[14]);
		QR(x[3], x[7], x[11], x[15]);
		QR(x[0], x[5], x[10], x[15]);
		QR(x[1], x[6], x[11], x[12]);
		QR(x[2], x[7], x[8], x[13]);
		QR(x[3], x[4], x[9], x[14]);
	}
	for (int i = 0; i < 4; i++) {
		rw_put_le32(out + 4 * i, x[i]);
		rw_put_le32(out + 16 + 4 * i, x[12 + i]);
	}
	rw__memzero(x, sizeof(x));
}

/* The last 8 nonce bytes form the 12-byte ChaCha20 nonce 00000000 || n[16:24]. */
int rw__xaead_seal(const uint8_t key[RW_KEY_LEN], const uint8_t nonce[RW_XNONCE_LEN], const uint8_t *in,
		   size_t len, uint8_t *out)
{
	uint8_t sub[RW_KEY_LEN];
	int ret;

	rw__hchacha20(sub, key, nonce);
	ret = rw__aead_seal_key(sub, rw_le64(nonce + 16), NULL, 0, in, len, out);
	rw__memzero(sub, sizeof(sub));
	return ret;
}

int rw__xaead_open(const uint8_t key[RW_KEY_LEN], const uint8_t nonce[RW_XNONCE_LEN], const uint8_t *in,
		   size_t len, uint8_t *out)
{
	uint8_t sub[RW_KEY_LEN];
	int ret;

	rw__hchacha20(sub, key, nonce);
	ret = rw__aead_open_key(sub, rw_le64(nonce + 16), NULL, 0, in, len, out);
	rw__memzero(sub, sizeof(sub));
	return ret;
}
