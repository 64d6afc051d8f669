/* SPDX-License-Identifier: MIT */
/*
 * ringwire-echo - echoes every event back on the same channel with the same
 * event type. A channel the peer uses reliably is answered reliably (the
 * engine does that by itself, docs/protocol.md §11.8).
 *
 *   ringwire-echo --listen 127.0.0.1:9000 --key server.key [--reactors N] [--max-sessions N]
 *                 [--max-packet-size N] [--allow FILE] [--metrics HOST:PORT] [--log-format json]
 *                 [--log-level debug]
 *
 * One-way measurements (ringwire-load --mode oneway): an event of type 253
 * is counted, not echoed; an event of type 252 is answered with type 252 and
 * 16 bytes, the little-endian count and byte total of the type-253 events
 * this session sent, followed by the query's own payload (up to 16 bytes):
 * ringwire-load tags the probes it paces itself by. Any server can
 * implement that to be measured one-way.
 *
 * The first line on stdout is a wire:// URI a client on this machine can
 * dial (for a wildcard --listen, 0.0.0.0 or [::], the loopback address);
 * for a wildcard, one line per local interface address follows it.
 * SIGINT or SIGTERM stops it gracefully (every session gets a Disconnect);
 * then it prints its counters. SIGHUP reloads the --allow file.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringwire.h>

#include "common.h"

#define PROG "ringwire-echo"

enum { EV_REPORT = 252, EV_SINK = 253, BACKLOG_MAX = 8 << 20 };

/* An echo the peer's full window refused: sent again from on_writable. */
struct pending {
	struct pending *next;
	uint8_t channel, type;
	size_t len;
	uint8_t data[];
};

struct sink {
	uint64_t events, bytes;
	struct pending *head, *tail;
	size_t backlog;
};

static _Atomic uint64_t backpressured;

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void on_open(struct rw_session *s, void *user)
{
	(void)user;
	rw_session_set_user(s, calloc(1, sizeof(struct sink)));
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct sink *k = rw_session_user(s);

	(void)why;
	(void)user;
	while (k && k->head) {
		struct pending *p = k->head;

		k->head = p->next;
		free(p);
	}
	free(k);
	rw_session_set_user(s, NULL);
}

/*
 * The event was already acknowledged to the peer: an echo refused now would
 * never be sent again. Keep it, in order, and bounded: a peer that never
 * drains its side gets closed instead of growing the server without end.
 */
static void keep(struct rw_session *s, struct sink *k, uint8_t channel, uint8_t type, const uint8_t *data,
		 size_t len)
{
	struct pending *p;

	backpressured++;
	if (k->backlog + len > BACKLOG_MAX || !(p = malloc(sizeof(*p) + len))) {
		rw_session_close(s, RW_CLOSE_LOCAL, "echo backlog over 8 MiB: read your replies");
		return;
	}
	p->next = NULL;
	p->channel = channel;
	p->type = type;
	p->len = len;
	memcpy(p->data, data, len);
	if (k->tail)
		k->tail->next = p;
	else
		k->head = p;
	k->tail = p;
	k->backlog += len;
}

static void echo(struct rw_session *s, struct sink *k, uint8_t channel, uint8_t type, const uint8_t *data, size_t len)
{
	if (k && k->head) {	/* older echoes wait: keep the order */
		keep(s, k, channel, type, data, len);
		return;
	}
	if (rw_session_send(s, channel, type, data, len) == -EAGAIN && k)
		keep(s, k, channel, type, data, len);
}

static void on_writable(struct rw_session *s, uint8_t channel, void *user)
{
	struct sink *k = rw_session_user(s);

	(void)channel;
	(void)user;
	while (k && k->head) {
		struct pending *p = k->head;

		if (rw_session_send(s, p->channel, p->type, p->data, p->len) == -EAGAIN)
			return;
		k->head = p->next;
		if (!k->head)
			k->tail = NULL;
		k->backlog -= p->len;
		free(p);
	}
}

static void on_event(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *payload, size_t len,
		     void *user)
{
	struct sink *k = rw_session_user(s);
	uint8_t report[32];

	(void)user;
	if (type == EV_SINK && k) {
		k->events++;
		k->bytes += len;
		return;
	}
	if (type == EV_REPORT && k) {
		size_t tag = len < 16 ? len : 16;

		put_le64(report, k->events);
		put_le64(report + 8, k->bytes);
		if (tag)
			memcpy(report + 16, payload, tag);
		payload = report;
		len = 16 + tag;
	}
	echo(s, k, channel, type, payload, len);
}

static struct sample sm;

static void usage(FILE *f)
{
	fprintf(f, "usage: ringwire-echo --listen HOST:PORT --key FILE [--reactors N] [--max-sessions N]\n"
		   "                     [--max-packet-size N] [--allow FILE] [--metrics HOST:PORT]\n"
		   "                     [--log-format logfmt|json] [--log-level LEVEL] [--quiet]\n");
	sample_usage_common(&sm, f);
	fprintf(f, "  --max-sessions N      sessions at once (default 16384; memory for them is reserved at start)\n"
		   "  --max-packet-size N   largest datagram path MTU discovery may grow to, 1232 to 65000 (1232: off)\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-sessions", required_argument, NULL, 'm' }, { "max-packet-size", required_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	struct rw_server_config cfg;
	struct rw_handler h = { .on_event = on_event, .on_open = on_open, .on_close = on_close,
				.on_writable = on_writable };
	struct rw_server *srv;
	struct rw_stats st;
	unsigned long n;
	int c, ret;

	rw_server_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_SERVER, usage);
	while ((c = sample_getopt(&sm, argc, argv, "m:p:", opts)) != -1) {
		if (c == SAMPLE_EXIT)
			return sm.exit_code;
		if (c == 'm') {
			if (sample_number(&sm, "--max-sessions", optarg, 1, 4000000, &n))
				return sm.exit_code;
			cfg.max_sessions = (unsigned)n;
		}
		if (c == 'p') {
			if (sample_number(&sm, "--max-packet-size", optarg, 1232, 65000, &n))
				return sm.exit_code;
			cfg.max_packet_size = (unsigned)n;
		}
	}
	if (sample_no_args(&sm, argc, argv) || sample_server_create(&sm, &cfg, &srv))
		return sm.exit_code;
	rw_server_on(srv, RW_CHANNEL_ANY, &h);
	ret = sample_server_run(&sm, srv);
	rw_server_stats(srv, &st);
	sample_print_stats(&st);
	if (backpressured)
		printf("echoes held back by a full window (sent later): %" PRIu64 "\n", (uint64_t)backpressured);
	rw_server_destroy(srv);
	return ret ? 1 : 0;
}
