/* SPDX-License-Identifier: MIT */
/*
 * test_nats_subject.c - topic names map to one NATS subject token each
 * (samples/nats_bridge.c): no wildcard, extra token, space or prefix gets in.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "nats_bridge.h"

static int subj(char *out, size_t cap, const char *prefix, const char *topic)
{
	return nb_subject(out, cap, prefix, (const uint8_t *)topic, strlen(topic));
}

static void test_escape(void **state)
{
	static const char *const nasty[] = { "a.b", "*", ">", "a b", "a.*", "x.>", "rw.t.61", "\t\r\n", "\xff\x01" };
	char out[NB_SUBJECT_MAX], other[NB_SUBJECT_MAX];

	(void)state;
	assert_int_equal(subj(out, sizeof(out), "rw", "news"), (int)strlen("rw.t.6e657773"));
	assert_string_equal(out, "rw.t.6e657773");
	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		const char *tok;

		assert_true(subj(out, sizeof(out), "rw.pubsub", nasty[i]) > 0);
		/* exactly the prefix's tokens, "t" and one token of hex digits */
		assert_memory_equal(out, "rw.pubsub.t.", 12);
		tok = out + 12;
		assert_int_equal(strspn(tok, "0123456789abcdef"), strlen(tok));
		assert_int_equal(strlen(tok), 2 * strlen(nasty[i]));
		/* and no two topics share a subject */
		for (size_t j = 0; j < i; j++) {
			assert_true(subj(other, sizeof(other), "rw.pubsub", nasty[j]) > 0);
			assert_string_not_equal(out, other);
		}
	}
	/* the longest topic fits; a buffer one short does not */
	{
		char topic[256];
		int n;

		memset(topic, '*', 255);
		topic[255] = 0;
		n = subj(out, sizeof(out), "rw", topic);
		assert_int_equal(n, 2 + 3 + 510);
		assert_int_equal(subj(out, (size_t)n, "rw", topic), -ENOSPC);
	}
	assert_int_equal(subj(out, sizeof(out), "rw", ""), -EINVAL);
}

static void test_prefix(void **state)
{
	static const char *const bad[] = { "", "a..b", ".a", "a.", "a*", "a.>", "a b", "a\tb", "ä" };
	char err[256], longp[80];

	(void)state;
	assert_int_equal(nb_prefix_check("ringwire.pubsub", err, sizeof(err)), 0);
	assert_int_equal(nb_prefix_check("A-b_9", err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		if (nb_prefix_check(bad[i], err, sizeof(err)) != -EINVAL)
			fail_msg("accepted prefix \"%s\"", bad[i]);
		assert_non_null(strstr(err, "--nats-prefix"));
		assert_null(strchr(err, '\n'));
	}
	memset(longp, 'a', 65);
	longp[65] = 0;
	assert_int_equal(nb_prefix_check(longp, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_prefix),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
