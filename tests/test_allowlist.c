/* SPDX-License-Identifier: MIT */
/*
 * test_allowlist.c - the allow-list file format (table-driven: good files,
 * comments, names, bad lines named by number, duplicates, file modes) and
 * the swap of a running list under concurrent readers.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "allowlist.h"

enum { NKEYS = 3 };

static uint8_t pub[NKEYS][RW_KEY_SIZE];
static char wpub[NKEYS][RW_WPUB_LEN + 1];
static char b64[NKEYS][RW_KEY_B64_LEN + 1];

static int setup_keys(void **state)
{
	(void)state;
	for (int i = 0; i < NKEYS; i++) {
		uint8_t priv[RW_KEY_SIZE];

		assert_int_equal(rw_key_generate(priv), 0);
		assert_int_equal(rw_key_public(pub[i], priv), 0);
		assert_int_equal(rw_pubkey_to_wpub(wpub[i], pub[i]), 0);
		assert_int_equal(rw_key_to_base64(b64[i], pub[i]), 0);
	}
	return 0;
}

/* "@0" -> wpub of key 0, "%1" -> base64 of key 1. */
static char *expand(const char *tmpl)
{
	size_t cap = strlen(tmpl) * 2 + NKEYS * 200, n = 0;
	char *out = malloc(cap);

	for (const char *p = tmpl; *p; p++) {
		if ((*p == '@' || *p == '%') && p[1] >= '0' && p[1] < '0' + NKEYS) {
			const char *k = *p == '@' ? wpub[p[1] - '0'] : b64[p[1] - '0'];

			memcpy(out + n, k, strlen(k));
			n += strlen(k);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return out;
}

struct parse_case {
	const char *what;
	const char *text;
	int ret;
	size_t n;
	const char *err;		/* a substring of the message */
	int key[NKEYS];			/* expected keys, in file order */
	const char *name[NKEYS];
};

static const struct parse_case cases[] = {
	{ "empty file", "", 0, 0, NULL, { 0 }, { NULL } },
	{ "comments and blanks only", "# nobody yet\n\n   \n\t# still nobody\n", 0, 0, NULL, { 0 }, { NULL } },
	{ "one key", "@0\n", 0, 1, NULL, { 0 }, { NULL } },
	{ "no final newline", "@0", 0, 1, NULL, { 0 }, { NULL } },
	{ "names and comments", "# team\n@0 alice\n  @1\tbob laptop   # since May\n@2#carol\n", 0, 3, NULL,
	  { 0, 1, 2 }, { "alice", "bob laptop", NULL } },
	{ "base64 and CRLF", "%1 bob\r\n@0\r\n", 0, 2, NULL, { 1, 0 }, { "bob", NULL } },
	{ "bad key names its line", "@0 alice\n# fine\nwpub1notakey bob\n", -EINVAL, 0, "allow.txt:3: ", { 0 },
	  { NULL } },
	{ "foreign key", "@0\nage1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq\n", -EINVAL, 0,
	  "allow.txt:2: ", { 0 }, { NULL } },
	{ "duplicate key", "@0 alice\n@1 bob\n%0 alice again\n", -EINVAL, 0, "allow.txt:3: this key is already listed as alice",
	  { 0 }, { NULL } },
	{ "control character in a name", "@0 al\x01ice\n", -EINVAL, 0, "allow.txt:1: control character", { 0 },
	  { NULL } },
	{ "name too long", "@0 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", -EINVAL, 0,
	  "allow.txt:1: name longer", { 0 }, { NULL } },
};

static void test_parse_table(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		const struct parse_case *k = &cases[c];
		char *text = expand(k->text), err[RW_ERRBUF_SIZE] = "";
		struct rw_allowlist al;
		int ret = rw__allowlist_parse("allow.txt", text, strlen(text), &al, err, sizeof(err));

		if (ret != k->ret)
			fail_msg("%s: returned %d, want %d (%s)", k->what, ret, k->ret, err);
		if (k->err && !strstr(err, k->err))
			fail_msg("%s: message \"%s\" lacks \"%s\"", k->what, err, k->err);
		if (ret == 0) {
			assert_int_equal(al.n, k->n);
			for (size_t i = 0; i < al.n; i++) {
				assert_memory_equal(al.keys[i], pub[k->key[i]], RW_KEY_SIZE);
				if (k->name[i])
					assert_string_equal(al.names[i], k->name[i]);
				else
					assert_null(al.names[i]);
			}
		} else {
			assert_int_equal(al.n, 0);
			assert_null(al.keys);
		}
		rw_allowlist_free(&al);
		free(text);
	}
}

static void test_long_line(void **state)
{
	char text[700], err[RW_ERRBUF_SIZE];
	struct rw_allowlist al;

	(void)state;
	memset(text, 'a', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(rw__allowlist_parse("f", text, strlen(text), &al, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "f:1: line longer"));
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f;

	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_load_modes(void **state)
{
	char dir[] = "/tmp/rw-allow-XXXXXX", path[64], err[RW_ERRBUF_SIZE];
	char *text = expand("@0 alice\n@1 bob\n");
	struct rw_allowlist al;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/allow.txt", dir);

	write_file(path, text, 0600);
	assert_int_equal(rw_allowlist_load(path, &al, err, sizeof(err)), 0);
	assert_int_equal(al.n, 2);
	assert_string_equal(al.names[1], "bob");
	rw_allowlist_free(&al);

	/* readable by others: refused like a key file, with the fix */
	write_file(path, text, 0644);
	assert_int_equal(rw_allowlist_load(path, &al, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "readable by group/others"));
	assert_non_null(strstr(err, "chmod 600"));
	write_file(path, text, 0620);
	assert_int_equal(rw_allowlist_load(path, &al, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "writable"));

	/* the message names the file and the line */
	write_file(path, "# ok\nnot-a-key\n", 0600);
	assert_int_equal(rw_allowlist_load(path, &al, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "allow.txt:2: "));

	unlink(path);
	assert_int_equal(rw_allowlist_load(path, &al, err, sizeof(err)), -ENOENT);
	assert_int_equal(rw_allowlist_load(dir, &al, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "a directory"));
	rmdir(dir);
	free(text);
}

static void test_set_lookup(void **state)
{
	const char *names[2] = { "b", NULL };
	struct rw__allowset *set;

	(void)state;
	set = rw__allowset_new((const uint8_t(*)[RW_KEY_SIZE])pub[1], names, 2);
	assert_non_null(set);
	assert_true(rw__allowset_find(set, pub[1]) >= 0);
	assert_true(rw__allowset_find(set, pub[2]) >= 0);
	assert_int_equal(rw__allowset_find(set, pub[0]), -1);
	assert_string_equal(set->names[rw__allowset_find(set, pub[1])], "b");
	assert_null(set->names[rw__allowset_find(set, pub[2])]);
	rw__allowset_free(set);
}

/* Readers hammer the slot while a writer swaps: key 0 is on every list, key 1 on every other one. */
static struct rw__allow_slot slot;
static atomic_bool stop_readers;
static atomic_uint wrong;

static void *reader(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_readers)) {
		if (rw__allow_check(&slot, pub[0]) != 1)
			atomic_fetch_add(&wrong, 1);
		if (rw__allow_check(&slot, pub[2]) != 0)
			atomic_fetch_add(&wrong, 1);
		(void)rw__allow_check(&slot, pub[1]);
	}
	return NULL;
}

static void test_swap_under_readers(void **state)
{
	pthread_t t[3];
	size_t n;

	(void)state;
	rw__allow_slot_init(&slot);
	assert_int_equal(rw__allow_check(&slot, pub[0]), -1);
	assert_false(rw__allow_size(&slot, &n));
	rw__allow_swap(&slot, rw__allowset_new((const uint8_t(*)[RW_KEY_SIZE])pub[0], NULL, 1));
	for (int i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, reader, NULL), 0);
	for (int i = 0; i < 2000; i++)
		rw__allow_swap(&slot, rw__allowset_new((const uint8_t(*)[RW_KEY_SIZE])pub[0], NULL, 1 + (i & 1)));
	atomic_store(&stop_readers, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&wrong), 0);
	assert_true(rw__allow_size(&slot, &n));
	assert_int_equal(n, 2);
	rw__allow_swap(&slot, NULL);
	assert_int_equal(rw__allow_check(&slot, pub[1]), -1);
	rw__allow_slot_destroy(&slot);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_load_modes),
		cmocka_unit_test(test_set_lookup),
		cmocka_unit_test(test_swap_under_readers),
	};

	return cmocka_run_group_tests(tests, setup_keys, NULL);
}
