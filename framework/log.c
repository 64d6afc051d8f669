/* SPDX-License-Identifier: MIT */
/* log.c - structured log records: levels, the logfmt and JSON lines, drop summaries. */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Set at start-up (documented): atomics only so that a late change is not a data race. */
static _Atomic(rw_log_fn) log_fn;
static _Atomic(void *) log_user;
static atomic_int log_level = RW_LOG_INFO;
static atomic_int log_format = RW_LOG_LOGFMT;

static const char *const level_names[] = {
	[RW_LOG_DEBUG] = "debug", [RW_LOG_INFO] = "info", [RW_LOG_WARN] = "warn",
	[RW_LOG_ERROR] = "error", [RW_LOG_OFF] = "off",
};

void rw_set_log_fn(rw_log_fn fn, void *user)
{
	atomic_store(&log_user, user);
	atomic_store(&log_fn, fn);
}

void rw_set_log_level(enum rw_log_level level)
{
	atomic_store(&log_level, level > RW_LOG_OFF ? RW_LOG_OFF : (int)level);
}

void rw_set_log_format(enum rw_log_format format)
{
	atomic_store(&log_format, format == RW_LOG_JSON ? RW_LOG_JSON : RW_LOG_LOGFMT);
}

const char *rw_log_level_name(enum rw_log_level level)
{
	return (unsigned)level <= RW_LOG_OFF ? level_names[level] : "?";
}

int rw_log_level_parse(const char *s, enum rw_log_level *level)
{
	if (!s || !level)
		return -EINVAL;
	for (int l = RW_LOG_DEBUG; l <= RW_LOG_OFF; l++)
		if (!strcasecmp(s, level_names[l])) {
			*level = (enum rw_log_level)l;
			return 0;
		}
	if (!strcasecmp(s, "warning")) {
		*level = RW_LOG_WARN;
		return 0;
	}
	return -EINVAL;
}

int rw_log_format_parse(const char *s, enum rw_log_format *format)
{
	if (!s || !format)
		return -EINVAL;
	if (!strcasecmp(s, "logfmt"))
		*format = RW_LOG_LOGFMT;
	else if (!strcasecmp(s, "json"))
		*format = RW_LOG_JSON;
	else
		return -EINVAL;
	return 0;
}

/* ---- formatting ------------------------------------------------------------------------ */

struct line {
	char *buf;
	size_t cap, len;
	bool full;
};

static void add_mem(struct line *l, const char *s, size_t n)
{
	if (l->full || n >= l->cap - l->len) {
		l->full = true;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = '\0';
}

static void add(struct line *l, const char *s)
{
	add_mem(l, s, strlen(s));
}

static void add_escaped(struct line *l, const char *s, bool json)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[8];

		switch (*p) {
		case '"':
			add(l, "\\\"");
			break;
		case '\\':
			add(l, "\\\\");
			break;
		case '\n':
			add(l, "\\n");
			break;
		case '\r':
			add(l, "\\r");
			break;
		case '\t':
			add(l, "\\t");
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				snprintf(esc, sizeof(esc), json ? "\\u%04x" : "\\x%02x", *p);
				add(l, esc);
			} else {
				add_mem(l, (const char *)p, 1);
			}
		}
	}
}

/* logfmt quotes a value that is empty or holds a space, '=', '"' or anything unprintable. */
static bool needs_quotes(const char *s)
{
	if (!*s)
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == 0x7f)
			return true;
	return false;
}

/* A key as written by the caller, with anything but [A-Za-z0-9_.-] made '_'. */
static void add_key(struct line *l, const char *k)
{
	for (; *k; k++) {
		char c = *k;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			c = '_';
		add_mem(l, &c, 1);
	}
}

static void add_pair(struct line *l, bool json, bool first, const char *k, const char *v)
{
	if (json) {
		add(l, first ? "{\"" : ",\"");
		add_key(l, k);
		add(l, "\":\"");
		add_escaped(l, v, true);
		add(l, "\"");
		return;
	}
	if (!first)
		add(l, " ");
	add_key(l, k);
	add(l, "=");
	if (needs_quotes(v)) {
		add(l, "\"");
		add_escaped(l, v, false);
		add(l, "\"");
	} else {
		add(l, v);
	}
}

int rw_log_format_record(const struct rw_log_record *rec, enum rw_log_format format, char *buf, size_t cap)
{
	struct line l = { buf, cap, 0, false };
	bool json = format == RW_LOG_JSON;
	char ts[80];
	struct tm tm;
	time_t secs;

	if (!rec || !buf || !cap)
		return -EINVAL;
	buf[0] = '\0';
	secs = (time_t)(rec->unix_ms / 1000);
	gmtime_r(&secs, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(rec->unix_ms % 1000));
	add_pair(&l, json, true, "ts", ts);
	add_pair(&l, json, false, "level", rw_log_level_name(rec->level));
	add_pair(&l, json, false, "msg", rec->msg ? rec->msg : "");
	for (size_t i = 0; i < rec->nfields; i++)
		if (rec->fields[i].key)
			add_pair(&l, json, false, rec->fields[i].key,
				 rec->fields[i].value ? rec->fields[i].value : "");
	add(&l, json ? "}\n" : "\n");
	return l.full ? -ENOSPC : (int)l.len;
}

/* ---- emitting --------------------------------------------------------------------------- */

bool rw__log_enabled(enum rw_log_level level)
{
	return (int)level >= atomic_load_explicit(&log_level, memory_order_relaxed) && level < RW_LOG_OFF;
}

void rw__log_emit(enum rw_log_level level, const char *msg, const struct rw_log_field *fields, size_t n)
{
	struct rw_log_record rec = { .level = level, .msg = msg, .fields = fields, .nfields = n };
	rw_log_fn fn = atomic_load(&log_fn);
	struct timespec now;
	char line[RW_LOG_LINE_MAX];
	int len;

	if (!rw__log_enabled(level))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	rec.unix_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
	if (fn) {
		fn(&rec, atomic_load(&log_user));
		return;
	}
	len = rw_log_format_record(&rec, (enum rw_log_format)atomic_load(&log_format), line, sizeof(line));
	if (len == -ENOSPC) {
		/* cut, but still one line */
		len = (int)strlen(line);
		if (len > 0 && line[len - 1] != '\n' && len < (int)sizeof(line) - 1)
			line[len++] = '\n';
		else if (len > 0)
			line[len - 1] = '\n';
	}
	/* one write per line: lines of concurrent threads never interleave */
	if (len > 0 && write(STDERR_FILENO, line, (size_t)len) < 0) {
		/* nowhere left to report it */
	}
}

/* ---- drop summaries ------------------------------------------------------------------------ */

void rw__drop_summary_init(struct rw__drop_summary *ds, uint32_t window_ms, uint64_t now_ms)
{
	memset(ds, 0, sizeof(*ds));
	ds->window_ms = window_ms ? window_ms : 10000;
	ds->window_start_ms = now_ms;
}

unsigned rw__drop_summary_flush(struct rw__drop_summary *ds, uint64_t now_ms, unsigned reactor)
{
	unsigned lines = 0;

	if (now_ms - ds->window_start_ms < ds->window_ms)
		return 0;
	for (int r = 0; r < RW_DROP__COUNT; r++) {
		char count[24], window[24], re[12];
		struct rw_log_field f[4] = {
			{ "reason", rw_drop_reason_name((enum rw_drop_reason)r) },
			{ "count", count },
			{ "window_s", window },
			{ "reactor", re },
		};

		if (!ds->count[r])
			continue;
		snprintf(count, sizeof(count), "%llu", (unsigned long long)ds->count[r]);
		snprintf(window, sizeof(window), "%llu", (unsigned long long)((now_ms - ds->window_start_ms) / 1000));
		snprintf(re, sizeof(re), "%u", reactor);
		rw__log_emit(RW_LOG_WARN, "drops", f, 4);
		ds->count[r] = 0;
		lines++;
	}
	ds->window_start_ms = now_ms;
	return lines;
}

unsigned rw__drop_summary_add(struct rw__drop_summary *ds, enum rw_drop_reason why, uint64_t now_ms,
			      unsigned reactor)
{
	unsigned lines = rw__drop_summary_flush(ds, now_ms, reactor);

	if ((unsigned)why < RW_DROP__COUNT)
		ds->count[why]++;
	return lines;
}
