/* SPDX-License-Identifier: MIT */
/*
 * test_keys.c - key generation, key text and key files, and the
 * constant-time encoders under them.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto.h"
#include "encoding.h"
#include "ringwire.h"

/* RFC 7748-style vector: the key 01 02 .. 20, clamped, and its X25519 public key. */
static const char vec_priv_hex[] = "0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f60";
static const char vec_priv_b64[] = "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=";
static const char vec_pub_hex[] = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c";
static const char vec_pub_b64[] = "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw=";
static const char vec_pub_wpub[] = "wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3d";

static void from_hex(uint8_t *out, const char *hex)
{
	assert_int_equal(rw__hex_decode(out, strlen(hex) / 2, hex, strlen(hex)), 0);
}

#define assert_contains(hay, needle)                                                                           \
	do {                                                                                                   \
		if (!strstr((hay), (needle)))                                                                  \
			fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));                           \
	} while (0)

/* ---- encoding.c -------------------------------------------------------- */

static void test_base64_rfc4648(void **state)
{
	static const char *const v[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	char out[16];
	uint8_t bin[8];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		n = strlen(v[i][0]);
		assert_int_equal(rw__base64_encode(out, sizeof(out), (const uint8_t *)v[i][0], n), 0);
		assert_string_equal(out, v[i][1]);
		assert_int_equal(rw__base64_decode(bin, n, v[i][1], strlen(v[i][1])), 0);
		assert_memory_equal(bin, v[i][0], n);
	}
	/* Wrong lengths, wrong padding, non-canonical trailing bits. */
	assert_int_equal(rw__base64_decode(bin, 1, "Zg=", 3), -EINVAL);
	assert_int_equal(rw__base64_decode(bin, 1, "Zg=A", 4), -EINVAL);
	assert_int_equal(rw__base64_decode(bin, 1, "Zh==", 4), -EINVAL);
	assert_int_equal(rw__base64_decode(bin, 2, "Zm9=", 4), -EINVAL);
	assert_int_equal(rw__base64_decode(bin, 2, "Zm8A", 4), -EINVAL);
	assert_int_equal(rw__base64_decode(bin, 3, "Zm9=", 4), -EINVAL);
	/* Output buffer too small for the NUL. */
	assert_int_equal(rw__base64_encode(out, 4, (const uint8_t *)"foo", 3), -ENOSPC);
	assert_int_equal(rw__base64_encode(out, 5, (const uint8_t *)"foo", 3), 0);
}

/* Every byte value, against a plain table look-up. */
static void test_base64_every_char(void **state)
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char in[4], out[5];
	uint8_t bin[3];
	int c, ret;

	(void)state;
	for (c = 0; c < 256; c++) {
		const char *p = c ? memchr(alpha, c, 64) : NULL;

		/* c in the first position of a 4-character group "cAAA". */
		in[0] = (char)c;
		in[1] = in[2] = in[3] = 'A';
		memset(bin, 0x55, sizeof(bin));
		ret = rw__base64_decode(bin, 3, in, 4);
		if (p) {
			assert_int_equal(ret, 0);
			assert_int_equal(bin[0], (uint8_t)((p - alpha) << 2));
		} else {
			assert_int_equal(ret, -EINVAL);
			/* A failed decode leaves no partial output. */
			assert_int_equal(bin[0] | bin[1] | bin[2], 0);
		}
	}
	for (c = 0; c < 64; c++) {
		bin[0] = (uint8_t)(c << 2);
		bin[1] = bin[2] = 0;
		assert_int_equal(rw__base64_encode(out, sizeof(out), bin, 3), 0);
		assert_int_equal(out[0], alpha[c]);
	}
}

static void test_hex(void **state)
{
	static const char digits[] = "0123456789abcdef";
	uint8_t bin[4], all[256];
	char in[2], out[513];
	int c, ret;

	(void)state;
	for (c = 0; c < 256; c++)
		all[c] = (uint8_t)c;
	assert_int_equal(rw__hex_encode(out, sizeof(out), all, 256), 0);
	for (c = 0; c < 256; c++) {
		assert_int_equal(out[2 * c], digits[c >> 4]);
		assert_int_equal(out[2 * c + 1], digits[c & 15]);
	}
	assert_int_equal(rw__hex_encode(out, 512, all, 256), -ENOSPC);
	for (c = 0; c < 256; c++) {
		int want = (c >= '0' && c <= '9') ? c - '0'
			 : (c >= 'a' && c <= 'f') ? c - 'a' + 10
			 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;

		in[0] = '7';
		in[1] = (char)c;
		bin[0] = 0x55;
		ret = rw__hex_decode(bin, 1, in, 2);
		if (want < 0) {
			assert_int_equal(ret, -EINVAL);
			assert_int_equal(bin[0], 0);
		} else {
			assert_int_equal(ret, 0);
			assert_int_equal(bin[0], 0x70 | want);
		}
	}
	assert_int_equal(rw__hex_decode(bin, 2, "abc", 3), -EINVAL);
	assert_int_equal(rw__hex_decode(bin, 2, "AbCd", 4), 0);
	assert_int_equal(bin[0], 0xab);
	assert_int_equal(bin[1], 0xcd);
}

/* ---- private keys ------------------------------------------------------ */

static void test_parse_private_forms(void **state)
{
	uint8_t want[RW_KEY_SIZE], got[RW_KEY_SIZE];
	char err[RW_ERRBUF_SIZE];
	static const char *const good[] = {
		vec_priv_b64,
		"AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n",
		"  \t AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\r\n\n",
		vec_priv_hex,
		"0002030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F60\n",
		"\n0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f60  ",
	};
	size_t i;

	(void)state;
	from_hex(want, vec_priv_hex);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(got, 0xee, sizeof(got));
		err[0] = '\0';
		assert_int_equal(rw_key_parse_private(good[i], strlen(good[i]), got, err, sizeof(err)), 0);
		assert_memory_equal(got, want, sizeof(want));
		assert_string_equal(err, "");
	}
	/* len, not the NUL, bounds the text. */
	assert_int_equal(rw_key_parse_private(vec_priv_hex, 64, got, NULL, 0), 0);
	assert_int_equal(rw_key_parse_private(vec_priv_hex, 63, got, NULL, 0), -EINVAL);
}

static void test_parse_private_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
		{ "", "empty" },
		{ " \n\t ", "empty" },
		{ "abcdefghijkl", "found 12 characters" },
		{ "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A", "'='" },	/* 43: no padding */
		{ "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A==", "found 45 characters" },
		{ "0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f6", "found 63 characters" },
		{ "0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f600", "found 65 characters" },
		{ "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2!=", "base64" },
		{ "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e_2A=", "base64" },	/* base64url */
		{ "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2B=", "base64" },	/* non-canonical */
		{ "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2AA", "base64" },	/* no '=' */
		{ "AAIDBAUG BwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A", "base64" },	/* inner space */
		{ "0002030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g60", "hex" },
		{ "0x02030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f60", "hex" },
		{ "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\nAAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=",
		  "several" },
		{ vec_pub_wpub, "public key" },
		{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "all zeros" },
		{ "0000000000000000000000000000000000000000000000000000000000000000", "all zeros" },
	};
	uint8_t got[RW_KEY_SIZE], poison[RW_KEY_SIZE];
	char err[RW_ERRBUF_SIZE];
	size_t i;

	(void)state;
	memset(poison, 0xee, sizeof(poison));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(got, poison, sizeof(got));
		err[0] = '\0';
		assert_int_equal(rw_key_parse_private(bad[i].text, strlen(bad[i].text), got, err, sizeof(err)),
				 -EINVAL);
		assert_contains(err, bad[i].msg);
		/* Every message says how to get a good key, on one line. */
		assert_contains(err, "ringwire-key genkey");
		assert_null(strchr(err, '\n'));
		/* The output is untouched on failure. */
		assert_memory_equal(got, poison, sizeof(got));
		/* And no key text is quoted back. */
		if (strlen(bad[i].text) > 12) {
			char frag[13];

			memcpy(frag, bad[i].text + strlen(bad[i].text) / 2 - 6, 12);
			frag[12] = '\0';
			if (!strchr(frag, ' ') && !strchr(frag, '\n'))
				assert_null(strstr(err, frag));
		}
	}
	/* err may be NULL or tiny. */
	assert_int_equal(rw_key_parse_private("x", 1, got, NULL, 0), -EINVAL);
	err[0] = 'z';
	err[1] = 'z';
	assert_int_equal(rw_key_parse_private("x", 1, got, err, 1), -EINVAL);
	assert_int_equal(err[0], '\0');
	assert_int_equal(err[1], 'z');
	assert_int_equal(rw_key_parse_private(NULL, 0, got, NULL, 0), -EINVAL);
}

static void test_base64_roundtrip(void **state)
{
	uint8_t key[RW_KEY_SIZE], back[RW_KEY_SIZE];
	char b64[RW_KEY_B64_LEN + 1];
	int i;

	(void)state;
	for (i = 0; i < 500; i++) {
		assert_int_equal(rw__random(key, sizeof(key)), 0);
		key[0] |= 1;	/* never all zero */
		memset(b64, 'x', sizeof(b64));
		assert_int_equal(rw_key_to_base64(b64, key), 0);
		assert_int_equal(strlen(b64), RW_KEY_B64_LEN);
		assert_int_equal(b64[RW_KEY_B64_LEN - 1], '=');
		assert_int_equal(rw_key_parse_private(b64, strlen(b64), back, NULL, 0), 0);
		assert_memory_equal(back, key, sizeof(key));
	}
	from_hex(key, vec_priv_hex);
	assert_int_equal(rw_key_to_base64(b64, key), 0);
	assert_string_equal(b64, vec_priv_b64);
}

static void test_public_vector(void **state)
{
	uint8_t priv[RW_KEY_SIZE], pub[RW_KEY_SIZE], want[RW_KEY_SIZE];
	char w[RW_WPUB_LEN + 1];

	(void)state;
	from_hex(priv, vec_priv_hex);
	from_hex(want, vec_pub_hex);
	assert_int_equal(rw_key_public(pub, priv), 0);
	assert_memory_equal(pub, want, sizeof(want));
	assert_int_equal(rw_pubkey_to_wpub(w, pub), 0);
	assert_string_equal(w, vec_pub_wpub);

	/* The unclamped key 01 02 .. 20 is the same X25519 key. */
	from_hex(priv, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20");
	memset(pub, 0, sizeof(pub));
	assert_int_equal(rw_key_public(pub, priv), 0);
	assert_memory_equal(pub, want, sizeof(want));
	/* ...and rw_key_public did not clamp the caller's copy. */
	assert_int_equal(priv[0], 0x01);
	assert_int_equal(priv[31], 0x20);
}

static void test_generate(void **state)
{
	uint8_t a[RW_KEY_SIZE], b[RW_KEY_SIZE], pa[RW_KEY_SIZE], pa2[RW_KEY_SIZE];

	(void)state;
	assert_int_equal(rw_key_generate(a), 0);
	assert_int_equal(rw_key_generate(b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	/* Clamped as RFC 7748 says. */
	assert_int_equal(a[0] & 7, 0);
	assert_int_equal(a[31] & 0x80, 0);
	assert_int_equal(a[31] & 0x40, 0x40);
	assert_int_equal(rw_key_public(pa, a), 0);
	assert_int_equal(rw_key_public(pa2, a), 0);
	assert_memory_equal(pa, pa2, sizeof(pa));
	assert_int_equal(rw_key_generate(NULL), -EINVAL);
}

/* ---- key files --------------------------------------------------------- */

static char dir[64];

static int setup_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/rw-keys-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	/* fchmod, not the open mode: the umask must not mask the modes we test. */
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_load_modes(void **state)
{
	static const mode_t ok[] = { 0600, 0400, 0700, 0200 | 0400 };
	static const mode_t refused[] = { 0640, 0604, 0644, 0660, 0606, 0620, 0602, 0610, 0601, 0666, 0777 };
	uint8_t want[RW_KEY_SIZE], got[RW_KEY_SIZE];
	char path[128], err[RW_ERRBUF_SIZE], mode[16];
	size_t i;

	(void)state;
	from_hex(want, vec_priv_hex);
	snprintf(path, sizeof(path), "%s/server.key", dir);
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		write_file(path, "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n", 45, ok[i]);
		memset(got, 0, sizeof(got));
		assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), 0);
		assert_memory_equal(got, want, sizeof(want));
	}
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		write_file(path, "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n", 45, refused[i]);
		memset(got, 0xee, sizeof(got));
		err[0] = '\0';
		assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -EPERM);
		assert_contains(err, "chmod 600");
		assert_contains(err, path);
		assert_contains(err, "group/others");
		snprintf(mode, sizeof(mode), "(mode %04o)", (unsigned int)refused[i]);
		assert_contains(err, mode);
		assert_null(strchr(err, '\n'));
		assert_int_equal(got[0], 0xee);
	}
	write_file(path, "AAIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eH2A=\n", 45, 0644);
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -EPERM);
	assert_contains(err, "is readable by group/others (mode 0644); fix with: chmod 600 ");
	/* A hex key file. */
	write_file(path, vec_priv_hex, 64, 0600);
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), 0);
	assert_memory_equal(got, want, sizeof(want));
	unlink(path);
}

static void test_load_errors(void **state)
{
	uint8_t got[RW_KEY_SIZE];
	char path[128], err[RW_ERRBUF_SIZE], big[4096];

	(void)state;
	/* Missing. */
	snprintf(path, sizeof(path), "%s/missing.key", dir);
	err[0] = '\0';
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -ENOENT);
	assert_contains(err, path);
	assert_contains(err, "ringwire-key genkey");

	/* A directory, even a private one. */
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -EINVAL);
	assert_contains(err, "directory");
	rmdir(path);

	/* A FIFO must not block start-up. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -EINVAL);
	assert_contains(err, "pipe");
	unlink(path);

	/* Empty. */
	snprintf(path, sizeof(path), "%s/empty.key", dir);
	write_file(path, "", 0, 0600);
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -EINVAL);
	assert_contains(err, path);
	assert_contains(err, "empty");

	/* Garbage, with the file named and the fix given. */
	write_file(path, "hello\n", 6, 0600);
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -EINVAL);
	assert_contains(err, path);
	assert_contains(err, "found 5 characters");
	assert_contains(err, "ringwire-key genkey > ");

	/* Too big: refused whatever it holds. */
	memset(big, ' ', sizeof(big));
	memcpy(big, vec_priv_b64, RW_KEY_B64_LEN);
	write_file(path, big, sizeof(big), 0600);
	assert_int_equal(rw_key_load_private(path, got, err, sizeof(err)), -EFBIG);
	assert_contains(err, path);
	unlink(path);

	/* Through a symlink, the target's mode counts. */
	snprintf(path, sizeof(path), "%s/real.key", dir);
	write_file(path, vec_priv_b64, RW_KEY_B64_LEN, 0600);
	{
		char link[128];

		snprintf(link, sizeof(link), "%s/link.key", dir);
		assert_int_equal(symlink(path, link), 0);
		assert_int_equal(rw_key_load_private(link, got, err, sizeof(err)), 0);
		assert_int_equal(chmod(path, 0644), 0);
		assert_int_equal(rw_key_load_private(link, got, err, sizeof(err)), -EPERM);
		unlink(link);
	}
	unlink(path);

	assert_int_equal(rw_key_load_private(NULL, got, err, sizeof(err)), -EINVAL);
}

/* ---- public keys ------------------------------------------------------- */

static void test_pubkey_forms(void **state)
{
	static const char *const forms[] = {
		vec_pub_wpub,
		"WPUB1Q73HE0Q5YZFU3D64MSD3P6RVKSNRWJK3D2598MGTMLQT9WRDR37QAXZK3D",
		" wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3d\n",
		vec_pub_b64,
		vec_pub_hex,
		"07A37CBC142093C8B755DC1B10E86CB426374AD16AA853ED0BDFC0B2B86D1C7C",
	};
	uint8_t want[RW_KEY_SIZE], got[RW_KEY_SIZE];
	char err[RW_ERRBUF_SIZE];
	size_t i;

	(void)state;
	from_hex(want, vec_pub_hex);
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		memset(got, 0, sizeof(got));
		err[0] = '\0';
		assert_int_equal(rw_pubkey_parse(forms[i], got, err, sizeof(err)), 0);
		assert_memory_equal(got, want, sizeof(want));
	}
}

static void test_pubkey_errors(void **state)
{
	static const struct {
		const char *text;
		const char *msg;
	} bad[] = {
		{ "", "empty" },
		{ "npub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qu5r5m3", "\"npub1\"" },
		{ "wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3e", "checksum" },
		{ "wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3", "too short" },
		{ "wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3dq", "too long" },
		{ "wpub1q73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3D", "case" },
		{ "wpub1b73he0q5yzfu3d64msd3p6rvksnrwjk3d2598mgtmlqt9wrdr37qaxzk3d", "never uses" },
		{ "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7", "not 64" },
		{ "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9/AsrhtHHw!", "base64" },
		{ "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7g", "hex" },
		{ "hello world", "expected wpub1" },
		{ "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "zeros" },
	};
	uint8_t got[RW_KEY_SIZE];
	char err[RW_ERRBUF_SIZE];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(got, 0xee, sizeof(got));
		err[0] = '\0';
		assert_int_equal(rw_pubkey_parse(bad[i].text, got, err, sizeof(err)), -EINVAL);
		assert_contains(err, bad[i].msg);
		assert_null(strchr(err, '\n'));
		assert_int_equal(got[0], 0xee);
	}
	assert_int_equal(rw_pubkey_parse(NULL, got, NULL, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64_rfc4648),
		cmocka_unit_test(test_base64_every_char),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_parse_private_forms),
		cmocka_unit_test(test_parse_private_errors),
		cmocka_unit_test(test_base64_roundtrip),
		cmocka_unit_test(test_public_vector),
		cmocka_unit_test(test_generate),
		cmocka_unit_test(test_load_modes),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_pubkey_forms),
		cmocka_unit_test(test_pubkey_errors),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
