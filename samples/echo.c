/* SPDX-License-Identifier: MIT */
/*
 * ringwire-echo - echoes every event back on the same channel with the same
 * event type. A channel the peer uses reliably is answered reliably (the
 * engine does that by itself, docs/protocol.md §11.8).
 *
 *   ringwire-echo --listen 127.0.0.1:9000 --key server.key [--reactors N] [--max-sessions N]
 *
 * One-way measurements (ringwire-load --mode oneway): an event of type 253
 * is counted, not echoed; an event of type 252 is answered with type 252 and
 * 16 bytes, the little-endian count and byte total of the type-253 events
 * this session sent. Any server can implement that to be measured one-way.
 *
 * The first line on stdout is a wire:// URI a client on this machine can
 * dial (for a wildcard --listen, 0.0.0.0 or [::], the loopback address);
 * for a wildcard, one line per local interface address follows it.
 * SIGINT or SIGTERM stops it gracefully (every session gets a Disconnect);
 * then it prints its counters.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringwire.h>

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
	uint8_t report[16];

	(void)user;
	if (type == EV_SINK && k) {
		k->events++;
		k->bytes += len;
		return;
	}
	if (type == EV_REPORT && k) {
		put_le64(report, k->events);
		put_le64(report + 8, k->bytes);
		payload = report;
		len = sizeof(report);
	}
	echo(s, k, channel, type, payload, len);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: ringwire-echo --listen HOST:PORT --key FILE [--reactors N] [--max-sessions N] [--quiet]\n"
		   "  --listen HOST:PORT  address to serve on, e.g. 127.0.0.1:9000 or [::]:9000\n"
		   "  --key FILE          private key file (create one: ringwire-key genkey > server.key)\n"
		   "  --reactors N        reactor threads (default: one per CPU)\n"
		   "  --max-sessions N    sessions at once (default 16384; memory for them is reserved at start)\n"
		   "  --quiet             no log lines on stderr\n");
}

static void print_stats(const struct rw_stats *st)
{
	printf("packets in %" PRIu64 " out %" PRIu64 ", bytes in %" PRIu64 " out %" PRIu64 "\n", st->rx_packets,
	       st->tx_packets, st->rx_bytes, st->tx_bytes);
	printf("events in %" PRIu64 " out %" PRIu64 ", handshakes %" PRIu64 ", cookies %" PRIu64
	       ", sessions opened %" PRIu64 " closed %" PRIu64 ", retransmits %" PRIu64 "\n",
	       st->events_in, st->events_out, st->handshakes_completed, st->cookies_sent, st->sessions_opened,
	       st->sessions_closed, st->retransmits);
	/* datagrams the kernel dropped for a full receive buffer (SO_RXQ_OVFL): the engine never saw them */
	printf("kernel drops %" PRIu64 "\n", st->kernel_drops);
	for (int r = 1; r < RW_DROP__COUNT; r++)
		if (st->drops[r])
			printf("dropped %s: %" PRIu64 "\n", rw_drop_reason_name((enum rw_drop_reason)r), st->drops[r]);
}

/* One line for a flag getopt refused (opterr is 0: its own messages are off). */
static int flag_error(int c, char **argv)
{
	const char *arg = argv[optind - 1], *eq = strchr(arg, '=');

	if (c == ':')
		fprintf(stderr, PROG ": %s needs a value; see --help\n", arg);
	else if (strncmp(arg, "--", 2))
		fprintf(stderr, PROG ": unknown flag -%c; see --help\n", optopt);
	else if (optopt && eq)
		fprintf(stderr, PROG ": %.*s takes no value; see --help\n", (int)(eq - arg), arg);
	else
		fprintf(stderr, PROG ": unknown flag %.*s; see --help\n", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
	return 2;
}

/* A --listen address, "host:port" or "[v6]:port" (port 0: any free one); a message and 0 if not. */
static int listen_ok(const char *s)
{
	char host[RW_HOST_MAX + 1], err[RW_ERRBUF_SIZE];
	uint16_t port;
	const char *colon = strchr(s, ':');

	if (!rw_hostport_parse(s, host, &port, err, sizeof(err)))
		return 1;
	if (s[0] == '[' ? !strstr(s, "]:") : !colon) {
		fprintf(stderr, PROG ": --listen %s: a listen address needs a port, e.g. --listen %s:9000 (0: any free "
			"port)\n", s, s);
	} else if (s[0] != '[' && strchr(colon + 1, ':')) {
		fprintf(stderr, PROG ": --listen %s: write an IPv6 address in brackets, e.g. --listen [::]:9000\n", s);
	} else {
		fprintf(stderr, PROG ": --listen %s: %s\n", s, err);
	}
	return 0;
}

/*
 * The URIs to dial this server at, on stdout: first one a client on this
 * machine can dial (scripts read that first line), then, for a wildcard
 * listen address, one per address of the local interfaces.
 */
static void print_uris(const struct rw_server *server)
{
	size_t cap = 16 * RW_URI_MAX;
	char *buf = NULL;
	int n = -ENOSPC;

	while (n == -ENOSPC && cap <= 4096 * RW_URI_MAX) {
		char *nb = realloc(buf, cap);

		if (!nb)
			break;
		buf = nb;
		n = rw_server_uris(server, buf, cap);
		cap *= 4;
	}
	if (n > 0)
		fputs(buf, stdout);
	else if (buf && rw_server_uri(server, buf, RW_URI_MAX) > 0)
		printf("%s\n", buf);
	fflush(stdout);
	free(buf);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "key", required_argument, NULL, 'k' },
		{ "reactors", required_argument, NULL, 'r' }, { "quiet", no_argument, NULL, 'q' },
		{ "max-sessions", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct rw_server_config cfg;
	struct rw_handler h = { .on_event = on_event, .on_open = on_open, .on_close = on_close,
				.on_writable = on_writable };
	struct rw_server *srv;
	struct rw_stats st;
	char err[RW_ERRBUF_SIZE];
	const char *key = NULL;
	int c, ret;

	rw_server_config_init(&cfg);
	cfg.listen = NULL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":l:k:r:m:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (!listen_ok(optarg))
				return 2;
			cfg.listen = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'r': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || n < 1 || n > 64) {
				fprintf(stderr, PROG ": --reactors: \"%s\" is not a number from 1 to 64\n", optarg);
				return 2;
			}
			cfg.reactors = (unsigned)n;
			break;
		}
		case 'm': {
			char *end;
			unsigned long n = strtoul(optarg, &end, 10);

			if (*end || n < 1 || n > 4000000) {
				fprintf(stderr, PROG ": --max-sessions: \"%s\" is not a number from 1 to 4000000\n",
					optarg);
				return 2;
			}
			cfg.max_sessions = (unsigned)n;
			break;
		}
		case 'q':
			cfg.quiet = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return flag_error(c, argv);
		}
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument \"%s\"; see --help\n", argv[optind]);
		return 2;
	}
	if (!cfg.listen) {
		fprintf(stderr, PROG ": missing --listen HOST:PORT, e.g. --listen 127.0.0.1:9000\n");
		return 2;
	}
	if (!key) {
		fprintf(stderr, PROG ": missing --key FILE; create one with: ringwire-key genkey > server.key\n");
		return 2;
	}
	ret = rw_key_load_private(key, cfg.private_key, err, sizeof(err));
	if (ret) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	ret = rw_server_create(&srv, &cfg, err, sizeof(err));
	rw_memzero(cfg.private_key, sizeof(cfg.private_key));
	if (ret) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	rw_server_on(srv, RW_CHANNEL_ANY, &h);
	print_uris(srv);
	ret = rw_server_run(srv);
	if (ret)
		fprintf(stderr, PROG ": %s\n", strerror(-ret));
	rw_server_stats(srv, &st);
	print_stats(&st);
	if (backpressured)
		printf("echoes held back by a full window (sent later): %" PRIu64 "\n", (uint64_t)backpressured);
	rw_server_destroy(srv);
	return ret ? 1 : 0;
}
