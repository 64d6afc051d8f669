/* SPDX-License-Identifier: MIT */
/*
 * ringwire-rpc-client - calls ringwire-rpc-server, with a time limit per call.
 *
 *   ringwire-rpc-client URI METHOD [ARGS...] [--timeout MS] [--count N]
 *                       [--concurrency C] [--bind HOST:PORT] [--quiet]
 *
 *   echo TEXT...   the server sends TEXT back
 *   add A B        A + B, 64-bit signed
 *   sleep MS       the server answers MS milliseconds later
 *   time           the server's clock
 *
 * Makes the call N times (default 1) with up to C calls outstanding (default
 * 1). Outstanding calls live in a table of C slots on the session's thread;
 * a reply finds its slot from its correlation id, and the session's tick
 * expires the calls older than --timeout (default 5000 ms), reporting each.
 * --timeout bounds connecting too: a server that does not answer the
 * handshake within it is reported in one line, and so is a refusal.
 * With N <= 10 every result is printed, then a line with the counts and the
 * latencies (min, mean, p50, p99, max).
 *
 * Exit status: 0 every call answered without error, 1 a call failed or
 * timed out (or the server could not be reached), 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringwire.h>

#include "common.h"

#define PROG "ringwire-rpc-client"

enum {
	CH = 1, EV_REQUEST = 1, EV_REPLY = 2,
	ST_OK = 0,
	PRINT_MAX = 10,		/* results (and failures) printed one by one */
	LAT_MAX = 1 << 20,	/* latencies kept for the percentiles */
	ARG_MAX_ = 60000,
};

struct slot {
	int used;
	uint32_t id;		/* id % concurrency == this slot's index */
	unsigned long n;	/* the call's number, from 1 */
	uint64_t sent_ns, deadline_ms;
};

/* The call, fixed before the client starts. */
static const char *method;
static uint8_t *request;	/* u32 id (filled per call), method, NUL, arguments */
static size_t request_len;
static unsigned long count = 1;
static unsigned conc = 1, timeout_ms = 5000;

/* On the session's thread (main reads them after rw_client_wait). */
static struct slot *slots;
static uint32_t *next_id;	/* per slot */
static unsigned outstanding;
static unsigned long issued, finished, ok, failed, timed_out, late;
static uint32_t *lat_us;
static size_t nlat;
static uint64_t t_first_ns, t_last_ns;

static atomic_bool opened, done, closed;
static char close_text[RW_ERRBUF_SIZE + 256];
static char peer[RW_HOST_MAX + 16];	/* the server's host:port, for messages */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
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

/* ---- results ---------------------------------------------------------------------- */

static void print_result(const uint8_t *r, size_t len)
{
	if ((!strcmp(method, "add") || !strcmp(method, "time")) && len == 8) {
		uint64_t v = get_le64(r);

		if (!strcmp(method, "add")) {
			printf("%" PRId64, (int64_t)v);
		} else {
			time_t t = (time_t)(v / 1000000000u);
			struct tm tm;
			char when[32];

			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
			printf("%s.%09" PRIu64 "Z", when, v % 1000000000u);
		}
		return;
	}
	/* text, with anything unprintable escaped */
	for (size_t i = 0; i < len; i++)
		if (r[i] >= 0x20 && r[i] < 0x7f)
			putchar(r[i]);
		else
			printf("\\x%02x", r[i]);
}

/* ---- connecting ----------------------------------------------------------------- */

/* ---- the calls (session thread) --------------------------------------------------- */

static void finish(void)
{
	finished++;
	if (finished == count)
		done = 1;
}

/* Issue calls until C are outstanding, all are issued, or the window is full. */
static void fill(struct rw_session *s)
{
	while (outstanding < conc && issued < count) {
		unsigned k;
		int ret;

		for (k = 0; slots[k].used; k++)
			;
		put_le32(request, next_id[k]);
		ret = rw_session_send(s, CH, EV_REQUEST, request, request_len);
		if (ret == -EAGAIN || ret == -ENOTCONN || closed)
			return;	/* on_writable resumes; or the session is closing (on_close says why) */
		if (ret) {
			fprintf(stderr, PROG ": call %lu: cannot send: %s\n", issued + 1, strerror(-ret));
			issued++;
			failed++;
			finish();
			continue;
		}
		slots[k] = (struct slot){ .used = 1, .id = next_id[k], .n = ++issued, .sent_ns = now_ns() };
		slots[k].deadline_ms = slots[k].sent_ns / 1000000 + timeout_ms;
		next_id[k] += conc;	/* the next call in this slot gets a new id: late replies miss */
		outstanding++;
		if (!t_first_ns)
			t_first_ns = slots[k].sent_ns;
	}
}

static void on_open(struct rw_session *s, void *user)
{
	uint32_t tick = timeout_ms / 10;

	(void)user;
	opened = 1;
	/* the tick is what expires calls: a tenth of the timeout is precise enough */
	rw_session_set_tick(s, tick < 1 ? 1 : tick > 50 ? 50 : tick);
	fill(s);
}

static void on_event(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct slot *sl;
	uint32_t id;
	uint64_t t = now_ns();

	(void)channel;
	(void)user;
	if (type != EV_REPLY || len < 5)
		return;
	id = get_le32(p);
	sl = &slots[id % conc];
	if (!sl->used || sl->id != id) {
		late++;	/* timed out already (or not ours) */
		return;
	}
	sl->used = 0;
	outstanding--;
	t_last_ns = t;
	if (p[4] == ST_OK) {
		ok++;
		if (nlat < LAT_MAX)
			lat_us[nlat++] = (uint32_t)((t - sl->sent_ns) / 1000);
		if (count <= PRINT_MAX) {
			if (count > 1)
				printf("#%lu ", sl->n);
			print_result(p + 5, len - 5);
			printf("  (%.3f ms)\n", (double)(t - sl->sent_ns) / 1e6);
			fflush(stdout);
		}
	} else {
		failed++;
		if (failed <= PRINT_MAX)
			fprintf(stderr, PROG ": call %lu: the server says: %.*s\n", sl->n, (int)(len - 5),
				(const char *)p + 5);
	}
	finish();
	fill(s);
}

static void on_tick(struct rw_session *s, void *user)
{
	uint64_t now = now_ns() / 1000000;

	(void)user;
	for (unsigned k = 0; k < conc; k++) {
		struct slot *sl = &slots[k];

		if (!sl->used || now < sl->deadline_ms)
			continue;
		sl->used = 0;
		outstanding--;
		timed_out++;
		if (timed_out <= PRINT_MAX)
			fprintf(stderr, PROG ": call %lu (id %" PRIu32 "): timed out after %u ms\n", sl->n, sl->id,
				timeout_ms);
		finish();
	}
	fill(s);
}

static void on_writable(struct rw_session *s, uint8_t channel, void *user)
{
	(void)channel;
	(void)user;
	fill(s);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	(void)s;
	(void)user;
	if (!opened)
		sample_dial_failure(close_text, sizeof(close_text), peer, "server", timeout_ms, why);
	else if (why->by_peer)
		snprintf(close_text, sizeof(close_text), "the server closed the session: %s",
			 why->message[0] ? why->message : rw_close_reason_name(why->reason));
	else if (why->reason != RW_CLOSE_SHUTDOWN)
		snprintf(close_text, sizeof(close_text), "session closed: %s%s%s", rw_close_reason_name(why->reason),
			 why->message[0] ? ": " : "", why->message);
	closed = 1;
}

/* ---- main ------------------------------------------------------------------------------- */

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void summary(void)
{
	double sum = 0, secs = (double)(t_last_ns - t_first_ns) / 1e9;

	printf("%lu call%s: ok %lu, failed %lu, timed out %lu", count, count == 1 ? "" : "s", ok, failed, timed_out);
	if (finished < count)
		printf(", unfinished %lu", count - finished);
	if (late)
		printf(", late replies %lu", late);
	if (nlat) {
		qsort(lat_us, nlat, sizeof(*lat_us), by_value);
		for (size_t i = 0; i < nlat; i++)
			sum += lat_us[i];
		printf("; latency ms min %.3f mean %.3f p50 %.3f p99 %.3f max %.3f", lat_us[0] / 1e3,
		       sum / (double)nlat / 1e3, lat_us[nlat / 2] / 1e3, lat_us[nlat * 99 / 100] / 1e3,
		       lat_us[nlat - 1] / 1e3);
		if (ok > 1 && secs > 0)
			printf("; %.0f calls/s", (double)ok / secs);
	}
	printf("\n");
}

/* Encode the arguments for the method; a message and -1 if they do not fit it. */
static int encode_args(int argc, char **argv, uint8_t *out, size_t *len)
{
	char *end;

	*len = 0;
	if (!strcmp(method, "add")) {
		long long v[2];

		if (argc != 2) {
			fprintf(stderr, PROG ": add takes two integers: add 2 3\n");
			return -1;
		}
		for (int i = 0; i < 2; i++) {
			errno = 0;
			v[i] = strtoll(argv[i], &end, 10);
			if (errno || end == argv[i] || *end) {
				fprintf(stderr, PROG ": add: \"%s\" is not a 64-bit integer\n", argv[i]);
				return -1;
			}
			put_le64(out + 8 * i, (uint64_t)v[i]);
		}
		*len = 16;
	} else if (!strcmp(method, "sleep")) {
		unsigned long ms;

		errno = 0;
		ms = argc == 1 ? strtoul(argv[0], &end, 10) : 0;
		if (argc != 1 || errno || end == argv[0] || *end || argv[0][0] == '-' || ms > UINT32_MAX) {
			fprintf(stderr, PROG ": sleep takes a number of milliseconds: sleep 500\n");
			return -1;
		}
		put_le32(out, (uint32_t)ms);
		*len = 4;
	} else if (!strcmp(method, "time") && argc) {
		fprintf(stderr, PROG ": time takes no arguments\n");
		return -1;
	} else {
		/* echo, and methods this client does not know: the words, space-separated */
		for (int i = 0; i < argc; i++) {
			size_t n = strlen(argv[i]);

			if (*len + n + 1 > ARG_MAX_) {
				fprintf(stderr, PROG ": the arguments are over %d bytes\n", ARG_MAX_);
				return -1;
			}
			if (i)
				out[(*len)++] = ' ';
			memcpy(out + *len, argv[i], n);
			*len += n;
		}
	}
	return 0;
}

static struct sample sm;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " URI METHOD [ARGS...] [--timeout MS] [--count N] [--concurrency C] [--bind HOST:PORT]\n"
		   "       [--key FILE] [--metrics HOST:PORT] [--log-format logfmt|json] [--log-level LEVEL] [--quiet]\n"
		   "  URI                   wire://wpub1...@host:port of ringwire-rpc-server\n"
		   "  METHOD [ARGS]         echo TEXT... | add A B | sleep MS | time\n"
		   "  --count N             make the call N times (default 1)\n"
		   "  --concurrency C       calls outstanding at once (default 1)\n");
	sample_usage_common(&sm, f);
	fprintf(f, "--timeout MS bounds each call as well. Negative numbers follow \"--\": " PROG " URI add -- -1 2\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'n' }, { "concurrency", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 },
	};
	struct rw_handler h = { .on_open = on_open, .on_close = on_close, .on_event = on_event, .on_tick = on_tick,
				.on_writable = on_writable, .flags = RW_CHANNEL_RELIABLE };
	struct rw_client_config cfg;
	struct rw_client *cli = NULL;
	struct rw_endpoint ep;
	char err[RW_ERRBUF_SIZE];
	const char *uri;
	unsigned long v;
	size_t alen, mlen;
	int c, ret = 0, interrupted = 0;
	struct timespec tick = { 0, 20 * 1000000 };
	sigset_t sigs;

	rw_client_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_CLIENT, usage);
	/* options may follow the arguments; "--" ends them, for "add -- -1 2" */
	while ((c = sample_getopt(&sm, argc, argv, "n:c:", opts)) != -1) {
		if (c == SAMPLE_EXIT)
			return sm.exit_code;
		if (c == 'n' && sample_number(&sm, "--count", optarg, 1, 1000000000, &count))
			return sm.exit_code;
		if (c == 'c') {
			if (sample_number(&sm, "--concurrency", optarg, 1, 65536, &v))
				return sm.exit_code;
			conc = (unsigned)v;
		}
	}
	timeout_ms = sm.timeout_ms;
	if (argc - optind < 2) {
		fprintf(stderr, PROG ": expected URI METHOD [ARGS...]; see --help\n");
		return 2;
	}
	uri = argv[optind];
	method = argv[optind + 1];
	mlen = strlen(method);
	if (!mlen || mlen > 64) {
		fprintf(stderr, PROG ": a method name is 1 to 64 characters: echo, add, sleep or time\n");
		return 2;
	}
	if (rw_uri_parse(uri, &ep, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	sample_host_port(peer, sizeof(peer), ep.host, ep.port);
	request = malloc(4 + mlen + 1 + ARG_MAX_);
	slots = calloc(conc, sizeof(*slots));
	next_id = calloc(conc, sizeof(*next_id));
	lat_us = malloc((count < LAT_MAX ? count : LAT_MAX) * sizeof(*lat_us));
	if (!request || !slots || !next_id || !lat_us) {
		fprintf(stderr, PROG ": out of memory\n");
		ret = 1;
		goto out;
	}
	memcpy(request + 4, method, mlen + 1);
	if (encode_args(argc - optind - 2, argv + optind + 2, request + 4 + mlen + 1, &alen)) {
		ret = 2;
		goto out;
	}
	request_len = 4 + mlen + 1 + alen;
	for (unsigned k = 0; k < conc; k++)
		next_id[k] = k + conc;	/* ids start at conc: 0 is never one */

	/* the reactor threads inherit this mask: SIGINT comes to us in sigtimedwait */
	sample_block_signals(&sigs);

	cfg.reconnect = 0;
	cfg.handshake_timeout_ms = timeout_ms;	/* connecting is bounded like a call */
	if (sample_client_create(&sm, &cfg, &cli)) {
		ret = sm.exit_code;
		goto out;
	}
	rw_client_on(cli, CH, &h);
	if ((ret = rw_client_start(cli)) != 0) {
		fprintf(stderr, PROG ": cannot start the client: %s\n", strerror(-ret));
		ret = 1;
		goto out;
	}
	if (rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 1;
		goto out;
	}
	while (!done && !closed)
		if (sigtimedwait(&sigs, NULL, &tick) > 0) {
			interrupted = 1;
			break;
		}
	/* after this no callback runs: the counters are ours to read */
	rw_client_stop(cli);
	rw_client_wait(cli);
	if (!done && closed && close_text[0])
		fprintf(stderr, PROG ": %s\n", close_text);
	if (opened)
		summary();
	ret = done && ok == count ? 0 : 1;
	if (interrupted)
		fprintf(stderr, PROG ": interrupted\n");
out:
	rw_client_destroy(cli);
	free(request);
	free(slots);
	free(next_id);
	free(lat_us);
	return ret;
}
