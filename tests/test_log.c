/* SPDX-License-Identifier: MIT */
/*
 * test_log.c - log records in isolation: logfmt and JSON lines (quoting,
 * escaping, truncation), levels and their names, the callback, and the drop
 * summary that keeps a flood to a bounded number of lines.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"

/* 2026-12-07T07:30:00.123Z */
#define T0 UINT64_C(1796628600123)

static void test_logfmt(void **state)
{
	const struct rw_log_field f[] = {
		{ "peer", "wpub1abc" }, { "addr", "127.0.0.1:5000" }, { "reason", "not_allowed" },
		{ "note", "two words" }, { "q", "say \"hi\"\\" }, { "empty", "" }, { "bad key", "x=y" },
		{ "nl", "a\nb\x01" },
	};
	struct rw_log_record rec = { RW_LOG_WARN, T0, "handshake rejected", f, sizeof(f) / sizeof(f[0]) };
	char buf[512];
	int n = rw_log_format_record(&rec, RW_LOG_LOGFMT, buf, sizeof(buf));

	(void)state;
	assert_int_equal(n, (int)strlen(buf));
	assert_string_equal(buf, "ts=2026-12-07T07:30:00.123Z level=warn msg=\"handshake rejected\" peer=wpub1abc "
				 "addr=127.0.0.1:5000 reason=not_allowed note=\"two words\" q=\"say \\\"hi\\\"\\\\\" "
				 "empty=\"\" bad_key=\"x=y\" nl=\"a\\nb\\x01\"\n");
}

static void test_json(void **state)
{
	const struct rw_log_field f[] = { { "peer", "wpub1abc" }, { "msg2", "tab\there \"q\" \x1f" } };
	struct rw_log_record rec = { RW_LOG_ERROR, T0, "x", f, 2 };
	char buf[512];

	(void)state;
	assert_true(rw_log_format_record(&rec, RW_LOG_JSON, buf, sizeof(buf)) > 0);
	assert_string_equal(buf, "{\"ts\":\"2026-12-07T07:30:00.123Z\",\"level\":\"error\",\"msg\":\"x\","
				 "\"peer\":\"wpub1abc\",\"msg2\":\"tab\\there \\\"q\\\" \\u001f\"}\n");
}

static void test_too_small(void **state)
{
	struct rw_log_record rec = { RW_LOG_INFO, T0, "a message", NULL, 0 };
	char buf[20];

	(void)state;
	assert_int_equal(rw_log_format_record(&rec, RW_LOG_LOGFMT, buf, sizeof(buf)), -ENOSPC);
	assert_true(strlen(buf) < sizeof(buf));
}

static void test_levels(void **state)
{
	enum rw_log_level l;
	enum rw_log_format f;

	(void)state;
	assert_int_equal(rw_log_level_parse("WARN", &l), 0);
	assert_int_equal(l, RW_LOG_WARN);
	assert_int_equal(rw_log_level_parse("warning", &l), 0);
	assert_int_equal(rw_log_level_parse("debug", &l), 0);
	assert_int_equal(l, RW_LOG_DEBUG);
	assert_int_equal(rw_log_level_parse("off", &l), 0);
	assert_int_equal(rw_log_level_parse("loud", &l), -EINVAL);
	assert_string_equal(rw_log_level_name(RW_LOG_INFO), "info");
	assert_int_equal(rw_log_format_parse("json", &f), 0);
	assert_int_equal(f, RW_LOG_JSON);
	assert_int_equal(rw_log_format_parse("xml", &f), -EINVAL);
}

static unsigned got, got_warn;
static char last[RW_LOG_LINE_MAX];

static void capture(const struct rw_log_record *rec, void *user)
{
	(void)user;
	got++;
	if (rec->level == RW_LOG_WARN)
		got_warn++;
	rw_log_format_record(rec, RW_LOG_LOGFMT, last, sizeof(last));
}

static void test_callback_and_level(void **state)
{
	const struct rw_log_field f[] = { { "k", "v" } };

	(void)state;
	got = 0;
	rw_set_log_fn(capture, NULL);
	rw_set_log_level(RW_LOG_WARN);
	rw__log_emit(RW_LOG_INFO, "hidden", f, 1);
	assert_int_equal(got, 0);
	rw__log_emit(RW_LOG_WARN, "shown", f, 1);
	assert_int_equal(got, 1);
	assert_non_null(strstr(last, "level=warn msg=shown k=v\n"));
	rw_set_log_level(RW_LOG_OFF);
	rw__log_emit(RW_LOG_ERROR, "off", f, 1);
	assert_int_equal(got, 1);
	rw_set_log_level(RW_LOG_INFO);
	rw_set_log_fn(NULL, NULL);
}

/* A flood of a million drops over a simulated minute is a handful of lines, with the right counts. */
static void test_drop_summary_bounded(void **state)
{
	struct rw__drop_summary ds;
	uint64_t t = 1000000, total = 0;
	unsigned lines = 0;

	(void)state;
	got = got_warn = 0;
	rw_set_log_fn(capture, NULL);
	rw__drop_summary_init(&ds, 10000, t);
	for (int i = 0; i < 1000000; i++) {
		/* 60 s of two reasons at ~16,700 packets/s */
		lines += rw__drop_summary_add(&ds, i % 3 ? RW_DROP_BAD_MAC1 : RW_DROP_DECRYPT, t + (uint64_t)i * 60 / 1000,
					      0);
		total++;
	}
	lines += rw__drop_summary_flush(&ds, t + 70000, 0);
	/* 6 windows (and the last, flushed), 2 reasons each */
	assert_true(lines <= 2 * 7);
	assert_true(lines >= 2 * 5);
	assert_int_equal(lines, got_warn);
	assert_non_null(strstr(last, "msg=drops reason="));
	assert_non_null(strstr(last, " count="));
	assert_non_null(strstr(last, " window_s="));
	/* nothing left to report, nothing more printed */
	assert_int_equal(rw__drop_summary_flush(&ds, t + 200000, 0), 0);
	rw_set_log_fn(NULL, NULL);
	(void)total;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logfmt),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_too_small),
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_callback_and_level),
		cmocka_unit_test(test_drop_summary_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
