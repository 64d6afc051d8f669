/* SPDX-License-Identifier: MIT */
/*
 * ringwire-rpc-server - request/response with correlation ids;
 * ringwire-rpc-client calls it.
 *
 *   ringwire-rpc-server --listen HOST:PORT --key FILE [--reactors N] [--allow FILE] [--metrics HOST:PORT] [--quiet]
 *
 * Channel 1, reliable both ways, all integers little-endian:
 *
 *   request type 1: u32 id, method name, NUL, arguments
 *   reply   type 2: u32 id, u8 status (0 ok, 1 error), result (error: text)
 *
 *   echo    any bytes            -> the same bytes
 *   add     i64 a, i64 b         -> i64 a + b (error on overflow)
 *   sleep   u32 ms (<= 60000)    -> "slept MS ms", MS later
 *   time    (nothing)            -> u64 nanoseconds since the Unix epoch
 *
 * Replies that cannot go out at once wait in the session's table: a sleep
 * until it is due, a reply that met a full window (-EAGAIN) until
 * on_writable. The session's tick is set to the next sleeper's due time,
 * so an idle session costs no timer at all. The table is bounded; a client
 * with more calls outstanding than that is refused with an error reply.
 *
 * The first line on stdout is a wire:// URI a client on this machine can
 * dial (for a wildcard --listen, 0.0.0.0 or [::], the loopback address);
 * for a wildcard, one line per local interface address follows it.
 * SIGINT or SIGTERM stops it gracefully.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringwire.h>

#include "common.h"

#define PROG "ringwire-rpc-server"

enum {
	CH = 1, EV_REQUEST = 1, EV_REPLY = 2,
	ST_OK = 0, ST_ERROR = 1,
	SLEEP_MAX_MS = 60000,
	PENDING_MAX = 4096,	/* replies waiting per session */
	RETRY_MS = 10,		/* backstop for replies waiting on the window */
};

/* A reply waiting: for its due time (a sleep) or for room in the window. */
struct waiting {
	uint64_t due_ms;
	size_t len;
	uint8_t *reply;
};

struct conn {
	struct waiting *v;
	unsigned n, cap;
	uint32_t tick_ms;	/* as set now; 0: none */
	int closed;		/* on_close ran while a callback was using it */
};

/*
 * The conn a callback of this thread is working on. A send can close the
 * session and run on_close right there (a reliable channel that fails
 * does): on_close then leaves the freeing to that callback.
 */
static _Thread_local struct conn *busy;

static _Atomic uint64_t calls, errors, refused;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

/* ---- the table of waiting replies ---------------------------------------------- */

/* Keep it; the reply buffer is taken over. -ENOSPC when the table is full. */
static int keep(struct conn *c, uint64_t due_ms, uint8_t *reply, size_t len)
{
	if (c->n == c->cap) {
		unsigned cap = c->cap ? c->cap * 2 : 16;
		struct waiting *nv;

		if (c->n >= PENDING_MAX)
			return -ENOSPC;
		nv = realloc(c->v, cap * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = (struct waiting){ .due_ms = due_ms, .len = len, .reply = reply };
	return 0;
}

/* Aim the tick at the next sleeper, or at a backstop for blocked replies. */
static void retick(struct rw_session *s, struct conn *c, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	uint32_t t;

	for (unsigned i = 0; i < c->n; i++)
		if (c->v[i].due_ms < next)
			next = c->v[i].due_ms;
	if (next == UINT64_MAX)
		t = 0;
	else if (next <= now)
		t = RETRY_MS;
	else
		t = next - now > 1000 ? 1000 : (uint32_t)(next - now);
	if (t != c->tick_ms) {
		rw_session_set_tick(s, t);
		c->tick_ms = t;
	}
}

/* Send every due reply the window takes. */
static void flush(struct rw_session *s, struct conn *c)
{
	uint64_t now = now_ms();
	unsigned i = 0;

	while (i < c->n) {
		struct waiting *w = &c->v[i];

		if (w->due_ms > now) {
			i++;
			continue;
		}
		if (rw_session_send(s, CH, EV_REPLY, w->reply, w->len) == -EAGAIN)
			break;	/* on_writable (or the backstop tick) comes back */
		if (c->closed)
			return;
		free(w->reply);
		/* order among the waiting does not matter (ids say who is who): fill the hole */
		*w = c->v[--c->n];
	}
	retick(s, c, now);
}

/* ---- methods ----------------------------------------------------------------------- */

/*
 * Build the reply to one request into a fresh buffer: 5 header bytes, then
 * the result. *due_ms is 0 to reply now, else when.
 */
static uint8_t *call(const char *method, const uint8_t *arg, size_t alen, uint32_t id, size_t *len, uint64_t *due_ms)
{
	uint8_t *r = malloc(5 + (alen > 64 ? alen : 64));
	const char *err = NULL;
	size_t n = 0;

	if (!r)
		return NULL;
	*due_ms = 0;
	if (!strcmp(method, "echo")) {
		memcpy(r + 5, arg, alen);
		n = alen;
	} else if (!strcmp(method, "add")) {
		int64_t sum;

		if (alen != 16)
			err = "add takes two i64 (16 bytes)";
		else if (__builtin_add_overflow((int64_t)get_le64(arg), (int64_t)get_le64(arg + 8), &sum))
			err = "add: the sum overflows i64";
		else
			put_le64(r + 5, (uint64_t)sum);
		n = 8;
	} else if (!strcmp(method, "sleep")) {
		uint32_t ms = alen == 4 ? get_le32(arg) : 0;

		if (alen != 4 || ms > SLEEP_MAX_MS) {
			err = "sleep takes a u32 of milliseconds, at most 60000";
		} else {
			n = (size_t)snprintf((char *)r + 5, 64, "slept %" PRIu32 " ms", ms);
			*due_ms = now_ms() + ms;
		}
	} else if (!strcmp(method, "time")) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		put_le64(r + 5, (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec);
		n = 8;
	} else {
		err = "unknown method; there are echo, add, sleep and time";
	}
	put_le32(r, id);
	r[4] = err ? ST_ERROR : ST_OK;
	if (err) {
		n = strlen(err);
		memcpy(r + 5, err, n);
		errors++;
	}
	*len = 5 + n;
	return r;
}

/* ---- callbacks ------------------------------------------------------------------------ */

static void on_open(struct rw_session *s, void *user)
{
	struct conn *c = calloc(1, sizeof(*c));

	(void)user;
	if (!c) {
		rw_session_close(s, RW_CLOSE_LOCAL, "server out of memory");
		return;
	}
	rw_session_set_user(s, c);
}

static void conn_free(struct conn *c)
{
	for (unsigned i = 0; i < c->n; i++)
		free(c->v[i].reply);
	free(c->v);
	free(c);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct conn *c = rw_session_user(s);

	(void)why;
	(void)user;
	if (!c)
		return;
	rw_session_set_user(s, NULL);
	if (c == busy)
		c->closed = 1;	/* the callback under way frees it */
	else
		conn_free(c);
}

/* The end of a callback that used c: free it if its session closed meanwhile. */
static void done_with(struct conn *c)
{
	busy = NULL;
	if (c->closed)
		conn_free(c);
}

static void on_event(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct conn *c = rw_session_user(s);
	const uint8_t *nul;
	uint8_t *r;
	uint64_t due;
	size_t rlen;
	uint32_t id;

	(void)channel;
	(void)user;
	if (!c || type != EV_REQUEST)
		return;
	if (len < 5 || !(nul = memchr(p + 4, 0, len - 4))) {
		/* no id to answer to, or none we can trust: tell the client and move on */
		static const char bad[] = "a request is u32 id, method, NUL, arguments";
		uint8_t e[5 + sizeof(bad) - 1];

		put_le32(e, len >= 4 ? get_le32(p) : 0);
		e[4] = ST_ERROR;
		memcpy(e + 5, bad, sizeof(bad) - 1);
		rw_session_send(s, CH, EV_REPLY, e, sizeof(e));
		errors++;
		return;
	}
	id = get_le32(p);
	calls++;
	r = call((const char *)p + 4, nul + 1, len - (size_t)(nul + 1 - p), id, &rlen, &due);
	if (!r)
		return;	/* out of memory: the client's timeout reports it */
	if (!due && !c->n) {
		int ret = rw_session_send(s, CH, EV_REPLY, r, rlen);

		if (ret != -EAGAIN) {
			free(r);	/* sent, or the session is closing (then c may be gone) */
			return;
		}
	}
	if (keep(c, due, r, rlen)) {
		static const char full[] = "too many calls outstanding on this session";
		uint8_t e[5 + sizeof(full) - 1];

		free(r);
		put_le32(e, id);
		e[4] = ST_ERROR;
		memcpy(e + 5, full, sizeof(full) - 1);
		rw_session_send(s, CH, EV_REPLY, e, sizeof(e));
		refused++;
		return;
	}
	busy = c;
	flush(s, c);
	done_with(c);
}

static void on_tick(struct rw_session *s, void *user)
{
	struct conn *c = rw_session_user(s);

	(void)user;
	if (!c)
		return;
	busy = c;
	flush(s, c);
	done_with(c);
}

static void on_writable(struct rw_session *s, uint8_t channel, void *user)
{
	(void)channel;
	on_tick(s, user);
}

/* ---- main ----------------------------------------------------------------------------------- */

static struct sample sm;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --listen HOST:PORT --key FILE [--reactors N] [--allow FILE] [--metrics HOST:PORT]\n"
		   "       [--log-format logfmt|json] [--log-level LEVEL] [--quiet]\n");
	sample_usage_common(&sm, f);
	fprintf(f, "Methods: echo BYTES, add I64 I64, sleep MS, time. Call them with ringwire-rpc-client.\n");
}

int main(int argc, char **argv)
{
	struct rw_handler h = { .on_open = on_open, .on_close = on_close, .on_event = on_event, .on_tick = on_tick,
				.on_writable = on_writable, .flags = RW_CHANNEL_RELIABLE };
	struct rw_server_config cfg;
	struct rw_server *srv;
	struct rw_stats st;
	int c, ret;

	rw_server_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_SERVER, usage);
	while ((c = sample_getopt(&sm, argc, argv, "", NULL)) != -1)
		if (c == SAMPLE_EXIT)
			return sm.exit_code;
	if (sample_no_args(&sm, argc, argv) || sample_server_create(&sm, &cfg, &srv))
		return sm.exit_code;
	rw_server_on(srv, CH, &h);
	ret = sample_server_run(&sm, srv);
	rw_server_stats(srv, &st);
	printf("calls %" PRIu64 " (errors %" PRIu64 ", refused %" PRIu64 "), sessions opened %" PRIu64
	       ", events in %" PRIu64 " out %" PRIu64 ", retransmits %" PRIu64 "\n",
	       (uint64_t)calls, (uint64_t)errors, (uint64_t)refused, st.sessions_opened, st.events_in, st.events_out,
	       st.retransmits);
	rw_server_destroy(srv);
	return ret ? 1 : 0;
}
