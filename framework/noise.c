/* SPDX-License-Identifier: MIT */
/*
 * noise.c - Noise_IK_25519_ChaChaPoly_BLAKE2s as wiresocket v1 speaks it.
 *
 * The step comments (-> e, es, s, ss ...) follow the Noise pattern. Each
 * function has one exit that wipes its stack secrets; a failed step also
 * wipes the handshake, so a half-done state can never be split into keys.
 */
#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "noise.h"

/* BLAKE2s("Noise_IK_25519_ChaChaPoly_BLAKE2s"): the name is 33 bytes, so hashed (docs/protocol.md §2.2). */
const uint8_t rw__initial_ck[RW_HASH_LEN] = {
	0xbb, 0xea, 0x02, 0x2b, 0x94, 0x8c, 0xf3, 0xbc, 0x58, 0x57, 0xd7, 0x08, 0x04, 0x22, 0x91, 0x79,
	0xe1, 0x11, 0x6b, 0xc4, 0x0c, 0xb8, 0xcc, 0x07, 0x48, 0x35, 0x34, 0x9c, 0x46, 0x4b, 0xca, 0x36,
};
/* BLAKE2s(initialCK || "wiresocket v1"). selftest.c recomputes both. */
const uint8_t rw__initial_h[RW_HASH_LEN] = {
	0xa4, 0x87, 0x01, 0xdc, 0xb8, 0xe0, 0x97, 0x8a, 0x34, 0xb0, 0x5b, 0x78, 0xbc, 0x37, 0xba, 0xe9,
	0x09, 0xab, 0x2b, 0x55, 0x06, 0xe9, 0xdf, 0xe6, 0xe8, 0x9b, 0xe2, 0xcf, 0xbc, 0x8d, 0x7c, 0x65,
};

static const char mac1_label[8] = "mac1----";

int rw__noise_mac1_key(uint8_t out[RW_HASH_LEN], const uint8_t pub[RW_KEY_LEN])
{
	return rw__hash(out, mac1_label, sizeof(mac1_label), pub, RW_KEY_LEN);
}

int rw__noise_identity_init(struct rw_noise_identity *id, const uint8_t priv[RW_KEY_LEN])
{
	int ret;

	memcpy(id->priv, priv, RW_KEY_LEN);
	rw__x25519_clamp(id->priv);
	ret = rw__x25519_public(id->pub, id->priv);
	if (!ret)
		ret = rw__noise_mac1_key(id->mac1_key, id->pub);
	if (ret)
		rw__memzero(id, sizeof(*id));
	return ret;
}

int rw__noise_remote_init(struct rw_noise_remote *r, const struct rw_noise_identity *local,
			  const uint8_t pub[RW_KEY_LEN])
{
	int ret;

	memset(r, 0, sizeof(*r));
	memcpy(r->pub, pub, RW_KEY_LEN);
	ret = rw__noise_mac1_key(r->mac1_key, pub);
	if (!ret && local) {
		ret = rw__x25519(r->ss, local->priv, pub);
		r->has_ss = !ret;
	}
	if (ret)
		rw__memzero(r, sizeof(*r));
	return ret;
}

int rw__noise_mac1_put(uint8_t *msg, size_t mac_off, const uint8_t key[RW_HASH_LEN])
{
	uint8_t full[RW_HASH_LEN];
	int ret = rw__mac(full, key, RW_HASH_LEN, msg, mac_off, NULL, 0);

	/* MAC1 is the first 16 bytes of a 32-byte keyed BLAKE2s (docs/protocol.md §2.4). */
	if (!ret)
		memcpy(msg + mac_off, full, RW_MAC_LEN);
	return ret;
}

bool rw__noise_mac1_ok(const uint8_t *msg, size_t mac_off, const uint8_t key[RW_HASH_LEN])
{
	uint8_t full[RW_HASH_LEN];

	if (rw__mac(full, key, RW_HASH_LEN, msg, mac_off, NULL, 0))
		return false;
	return rw__memeq(full, msg + mac_off, RW_MAC_LEN);
}

static int mix_hash(uint8_t h[RW_HASH_LEN], const uint8_t *data, size_t len)
{
	return rw__hash(h, h, RW_HASH_LEN, data, len);
}

/* (ck, k) = kdf2(ck, DH(priv, pub)) */
static int mix_dh(uint8_t ck[RW_HASH_LEN], uint8_t k[RW_KEY_LEN], const uint8_t priv[RW_KEY_LEN],
		  const uint8_t pub[RW_KEY_LEN])
{
	uint8_t dh[RW_KEY_LEN];
	int ret = rw__x25519(dh, priv, pub);

	if (!ret)
		ret = rw__kdf(ck, k, NULL, ck, dh, RW_KEY_LEN);
	rw__memzero(dh, sizeof(dh));
	return ret;
}

static int mix_precomputed(uint8_t ck[RW_HASH_LEN], uint8_t k[RW_KEY_LEN], const uint8_t dh[RW_KEY_LEN])
{
	return rw__kdf(ck, k, NULL, ck, dh, RW_KEY_LEN);
}

/* Every handshake AEAD uses a fresh key from mix_dh, so its nonce is always 0. */
static int encrypt_and_hash(uint8_t h[RW_HASH_LEN], const uint8_t k[RW_KEY_LEN], const uint8_t *plain,
			    size_t len, uint8_t *out)
{
	int ret = rw__aead_seal_key(k, 0, h, RW_HASH_LEN, plain, len, out);

	return ret ? ret : mix_hash(h, out, len + RW_TAG_LEN);
}

static int decrypt_and_hash(uint8_t h[RW_HASH_LEN], const uint8_t k[RW_KEY_LEN], const uint8_t *cipher,
			    size_t len, uint8_t *out)
{
	int ret = rw__aead_open_key(k, 0, h, RW_HASH_LEN, cipher, len, out);

	return ret ? ret : mix_hash(h, cipher, len);
}

static int new_ephemeral(struct rw_handshake *hs, const uint8_t *eph_priv)
{
	if (!eph_priv)
		return rw__x25519_generate(hs->e_priv, hs->e_pub);
	memcpy(hs->e_priv, eph_priv, RW_KEY_LEN);
	rw__x25519_clamp(hs->e_priv);
	return rw__x25519_public(hs->e_pub, hs->e_priv);
}

void rw__noise_handshake_clear(struct rw_handshake *hs)
{
	rw__memzero(hs, sizeof(*hs));
}

int rw__noise_init_create(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_INIT],
			  const struct rw_noise_identity *local, const struct rw_noise_remote *remote,
			  uint32_t sender_index, const uint8_t ts[RW_TAI64N_LEN], const uint8_t *eph_priv)
{
	uint8_t k[RW_KEY_LEN];
	int ret;

	memset(hs, 0, sizeof(*hs));
	memcpy(hs->ck, rw__initial_ck, RW_HASH_LEN);
	memcpy(hs->h, rw__initial_h, RW_HASH_LEN);
	memcpy(hs->remote_static, remote->pub, RW_KEY_LEN);
	hs->local_index = sender_index;

	memset(msg, 0, RW_SIZE_HANDSHAKE_INIT);
	msg[0] = RW_MSG_HANDSHAKE_INIT;
	rw_put_le32(msg + RW_INIT_OFF_SENDER, sender_index);

	ret = mix_hash(hs->h, remote->pub, RW_KEY_LEN);		/* <- s (pre-message) */
	if (ret)
		goto out;
	ret = new_ephemeral(hs, eph_priv);			/* -> e */
	if (ret)
		goto out;
	memcpy(msg + RW_INIT_OFF_EPHEMERAL, hs->e_pub, RW_KEY_LEN);
	ret = mix_hash(hs->h, hs->e_pub, RW_KEY_LEN);
	if (ret)
		goto out;
	ret = mix_dh(hs->ck, k, hs->e_priv, remote->pub);	/* es */
	if (ret)
		goto out;
	ret = encrypt_and_hash(hs->h, k, local->pub, RW_KEY_LEN, msg + RW_INIT_OFF_STATIC); /* s */
	if (ret)
		goto out;
	if (remote->has_ss)					/* ss */
		ret = mix_precomputed(hs->ck, k, remote->ss);
	else
		ret = mix_dh(hs->ck, k, local->priv, remote->pub);
	if (ret)
		goto out;
	ret = encrypt_and_hash(hs->h, k, ts, RW_TAI64N_LEN, msg + RW_INIT_OFF_TIMESTAMP); /* {t} */
	if (ret)
		goto out;
	ret = rw__noise_mac1_put(msg, RW_INIT_OFF_MAC1, remote->mac1_key);
	if (ret)
		goto out;
	memcpy(hs->mac1, msg + RW_INIT_OFF_MAC1, RW_MAC_LEN);
out:
	rw__memzero(k, sizeof(k));
	if (ret)
		rw__noise_handshake_clear(hs);
	return ret;
}

int rw__noise_init_consume(struct rw_handshake *hs, const uint8_t msg[RW_SIZE_HANDSHAKE_INIT],
			   const struct rw_noise_identity *local)
{
	return rw__noise_init_consume_cached(hs, msg, local, NULL, NULL);
}

int rw__noise_init_consume_cached(struct rw_handshake *hs, const uint8_t msg[RW_SIZE_HANDSHAKE_INIT],
				  const struct rw_noise_identity *local, rw_noise_ss_get_fn get, void *user)
{
	uint8_t k[RW_KEY_LEN];
	int ret;

	memset(hs, 0, sizeof(*hs));
	memcpy(hs->ck, rw__initial_ck, RW_HASH_LEN);
	memcpy(hs->h, rw__initial_h, RW_HASH_LEN);
	hs->remote_index = rw_le32(msg + RW_INIT_OFF_SENDER);
	memcpy(hs->remote_e, msg + RW_INIT_OFF_EPHEMERAL, RW_KEY_LEN);

	ret = mix_hash(hs->h, local->pub, RW_KEY_LEN);		/* <- s (pre-message) */
	if (ret)
		goto out;
	ret = mix_hash(hs->h, hs->remote_e, RW_KEY_LEN);	/* -> e */
	if (ret)
		goto out;
	ret = mix_dh(hs->ck, k, local->priv, hs->remote_e);	/* es */
	if (ret)
		goto out;
	ret = decrypt_and_hash(hs->h, k, msg + RW_INIT_OFF_STATIC, RW_KEY_LEN + RW_TAG_LEN,
			       hs->remote_static);		/* s */
	if (ret)
		goto out;
	if (!get || !get(user, hs->remote_static, hs->ss))	/* ss */
		ret = rw__x25519(hs->ss, local->priv, hs->remote_static);
	if (!ret)
		ret = mix_precomputed(hs->ck, k, hs->ss);
	if (ret)
		goto out;
	ret = decrypt_and_hash(hs->h, k, msg + RW_INIT_OFF_TIMESTAMP, RW_TAI64N_LEN + RW_TAG_LEN,
			       hs->timestamp);			/* {t} */
out:
	rw__memzero(k, sizeof(k));
	if (ret)
		rw__noise_handshake_clear(hs);
	return ret;
}

int rw__noise_resp_prepare(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_RESP], const uint8_t *eph_priv)
{
	uint8_t k[RW_KEY_LEN];
	int ret;

	memset(msg, 0, RW_SIZE_HANDSHAKE_RESP);
	msg[0] = RW_MSG_HANDSHAKE_RESP;
	rw_put_le32(msg + RW_RESP_OFF_RECEIVER, hs->remote_index);

	ret = new_ephemeral(hs, eph_priv);			/* <- e */
	if (ret)
		goto out;
	memcpy(msg + RW_RESP_OFF_EPHEMERAL, hs->e_pub, RW_KEY_LEN);
	ret = mix_hash(hs->h, hs->e_pub, RW_KEY_LEN);
	if (ret)
		goto out;
	ret = mix_dh(hs->ck, k, hs->e_priv, hs->remote_e);	/* ee */
	if (ret)
		goto out;
	ret = mix_dh(hs->ck, k, hs->e_priv, hs->remote_static); /* se */
	if (ret)
		goto out;
	ret = encrypt_and_hash(hs->h, k, NULL, 0, msg + RW_RESP_OFF_EMPTY); /* {} */
out:
	rw__memzero(k, sizeof(k));
	if (ret)
		rw__noise_handshake_clear(hs);
	return ret;
}

int rw__noise_resp_finish(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_RESP], uint32_t sender_index)
{
	uint8_t mac1_key[RW_HASH_LEN];
	int ret;

	/* the sender index is outside the transcript hash: only MAC1 covers it */
	hs->local_index = sender_index;
	rw_put_le32(msg + RW_RESP_OFF_SENDER, sender_index);
	ret = rw__noise_mac1_key(mac1_key, hs->remote_static);
	if (!ret)
		ret = rw__noise_mac1_put(msg, RW_RESP_OFF_MAC1, mac1_key);
	if (!ret)
		memcpy(hs->mac1, msg + RW_RESP_OFF_MAC1, RW_MAC_LEN);
	else
		rw__noise_handshake_clear(hs);
	return ret;
}

int rw__noise_resp_create(struct rw_handshake *hs, uint8_t msg[RW_SIZE_HANDSHAKE_RESP], uint32_t sender_index,
			  const uint8_t *eph_priv)
{
	int ret = rw__noise_resp_prepare(hs, msg, eph_priv);

	return ret ? ret : rw__noise_resp_finish(hs, msg, sender_index);
}

int rw__noise_resp_consume(struct rw_handshake *hs, const uint8_t msg[RW_SIZE_HANDSHAKE_RESP],
			   const struct rw_noise_identity *local)
{
	uint8_t k[RW_KEY_LEN], empty[1];
	int ret;

	memcpy(hs->remote_e, msg + RW_RESP_OFF_EPHEMERAL, RW_KEY_LEN);
	hs->remote_index = rw_le32(msg + RW_RESP_OFF_SENDER);

	ret = mix_hash(hs->h, hs->remote_e, RW_KEY_LEN);	/* <- e */
	if (ret)
		goto out;
	ret = mix_dh(hs->ck, k, hs->e_priv, hs->remote_e);	/* ee */
	if (ret)
		goto out;
	ret = mix_dh(hs->ck, k, local->priv, hs->remote_e);	/* se */
	if (ret)
		goto out;
	ret = decrypt_and_hash(hs->h, k, msg + RW_RESP_OFF_EMPTY, RW_TAG_LEN, empty); /* {} */
out:
	rw__memzero(k, sizeof(k));
	if (ret)
		rw__noise_handshake_clear(hs);
	return ret;
}

int rw__noise_split(struct rw_handshake *hs, bool initiator, uint8_t send_key[RW_KEY_LEN],
		    uint8_t recv_key[RW_KEY_LEN])
{
	uint8_t t1[RW_KEY_LEN], t2[RW_KEY_LEN];
	int ret = rw__kdf(t1, t2, NULL, hs->ck, NULL, 0);

	if (!ret) {
		memcpy(send_key, initiator ? t1 : t2, RW_KEY_LEN);
		memcpy(recv_key, initiator ? t2 : t1, RW_KEY_LEN);
	}
	rw__memzero(t1, sizeof(t1));
	rw__memzero(t2, sizeof(t2));
	rw__noise_handshake_clear(hs);
	return ret;
}
