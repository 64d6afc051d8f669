/* SPDX-License-Identifier: MIT */
/*
 * ringwire-pubsub - client of ringwire-pubsub-broker.
 *
 *   ringwire-pubsub URI sub TOPIC... [--count N] [--timeout MS] [--bind HOST:PORT]
 *   ringwire-pubsub URI pub TOPIC MESSAGE [--count N] [--timeout MS] [--bind HOST:PORT]
 *
 * sub: subscribes to every TOPIC, says "subscribed" on stderr once the
 * broker has them all, then prints each message as "topic: message" on
 * stdout, until N messages (with --count) or SIGINT.
 *
 * pub: publishes MESSAGE N times (default once); with N > 1 each copy ends
 * in its sequence number, "MESSAGE 1" to "MESSAGE N", so a subscriber can
 * check order and loss. It finishes once the broker confirms it has them
 * all (a PING answered after them).
 *
 * Everything is sent from the session's own thread, as fast as the reliable
 * window allows: -EAGAIN stops the pump, on_writable restarts it.
 *
 * --reliable uses the broker's reliable topics (RSUB/RPUB, a broker with
 * --nats): each message comes with its stream sequence, and a subscriber
 * that fails over (a URI with several addresses) resubscribes from the last
 * one it got: nothing lost, nothing twice. A publisher numbers its messages
 * under a random id and, failing over, sends again from the last number the
 * broker confirmed; the stream de-duplicates the copies.
 *
 * Exit status: 0 done, 1 the broker could not be reached, closed the session
 * or went silent for --timeout ms, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringwire.h>

#include "common.h"

#define PROG "ringwire-pubsub"

enum {
	CH = 1,
	EV_SUB = 1, EV_UNSUB = 2, EV_PUB = 3, EV_DELIVER = 4, EV_PING = 5, EV_PONG = 6, EV_ERROR = 7,
	EV_RSUB = 8, EV_RPUB = 9, EV_RDELIVER = 10,
	TOPIC_MAX = 255, MSG_MAX = 60000,
};

/* The plan, fixed before the client starts. */
static int publisher;
static char **topics;
static unsigned ntopics;
static const char *message;
static unsigned long count;
static int reliable;		/* --reliable: the broker's JetStream-backed topics */
static uint64_t *last_seq;	/* per topic: the last stream sequence delivered (session thread) */

/* Progress: on the session's thread, except the atomics main watches. */
static unsigned long next;	/* topics subscribed or messages sent so far */
static int pinged;
static uint8_t *buf;
static atomic_bool opened, subscribed, done, closed;
static atomic_ulong received;
static _Atomic uint64_t progress_ms;
static char close_text[RW_ERRBUF_SIZE + 256];
static char peer[RW_HOST_MAX + 16];	/* the broker's host:port, for messages */
static unsigned timeout_ms = 5000;

/*
 * Failover (a URI with several addresses, docs/protocol.md §16.3): brokers
 * with one key joined through NATS. A lost session (nothing heard for
 * LOSS_MS; a PING every PING_MS keeps a quiet topic talking) is dialled
 * again from the next address on, and the subscriptions sent again.
 */
enum { PING_MS = 500, LOSS_MS = 2000, ADDR_TIMEOUT_MS = 1500, CONFIRM_EVERY = 50 };
static uint64_t pub_id;			/* --reliable publisher: its id in the de-dup ids, random */
static unsigned long confirmed;		/* --reliable publisher: messages the broker has confirmed */
static struct rw_endpoint ep;
static int failover;
static unsigned cur_addr;		/* the address the session went to first */
static atomic_bool lost;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Microseconds on the clock every process of this machine shares (--stamp compares two). */
static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* --stamp and --rate (benchmarks): send times in the messages, a paced publisher. */
static int stamp;
static unsigned long rate;		/* messages/s, 0: as fast as the window allows */
static uint64_t start_us;
static uint32_t *lat_us;		/* subscriber with --stamp: one per message, up to --count */

/* Send until the plan is done or the window is full. */
static void pump(struct rw_session *s)
{
	size_t tl = strlen(publisher ? topics[0] : ""), ml = message ? strlen(message) : 0;
	int ret = 0;

	while (!pinged) {
		if (publisher && next < count && rate && next >= (now_us() - start_us) * rate / 1000000 + 1)
			break;	/* --rate: ahead of schedule; the 1 ms tick resumes */
		if (publisher && next < count) {
			size_t len = tl + 1 + ml;

			memcpy(buf, topics[0], tl + 1);
			if (stamp) {
				/* --stamp: the send time first, for the subscriber's latency */
				size_t sl = (size_t)snprintf((char *)buf + tl + 1, 24, "%llu ", (unsigned long long)now_us());

				memcpy(buf + tl + 1 + sl, message, ml);
				len += sl;
			} else {
				memcpy(buf + tl + 1, message, ml);
			}
			if (count > 1)
				len += (size_t)snprintf((char *)buf + len, 24, " %lu", next + 1);
			if (reliable) {
				/* publisher id and number first: the stream stores a copy sent again once */
				memmove(buf + 16, buf, len);
				for (int i = 0; i < 8; i++) {
					buf[i] = (uint8_t)(pub_id >> (8 * i));
					buf[8 + i] = (uint8_t)((next + 1) >> (8 * i));
				}
				len += 16;
			}
			ret = rw_session_send(s, CH, reliable ? EV_RPUB : EV_PUB, buf, len);
			/* a failing-over publisher learns every CONFIRM_EVERY what the broker has */
			if (!ret && reliable && failover && (next + 1) % CONFIRM_EVERY == 0) {
				char mark[24];
				int ml2 = snprintf(mark, sizeof(mark), "m%lu", next + 1);

				rw_session_send(s, CH, EV_PING, mark, (size_t)ml2);
			}
		} else if (!publisher && next < ntopics && reliable) {
			/* where to resume: after the last message seen (a fail-over), or from now */
			size_t tl2 = strlen(topics[next]);

			for (int i = 0; i < 8; i++)
				buf[i] = (uint8_t)(last_seq[next] >> (8 * i));
			memcpy(buf + 8, topics[next], tl2);
			ret = rw_session_send(s, CH, EV_RSUB, buf, 8 + tl2);
		} else if (!publisher && next < ntopics) {
			ret = rw_session_send(s, CH, EV_SUB, topics[next], strlen(topics[next]));
		} else {
			/* PING after everything: its PONG says the broker has handled all of it */
			ret = rw_session_send(s, CH, EV_PING, "done", 4);
			if (!ret)
				pinged = 1;
			break;
		}
		if (ret || closed)
			break;	/* the window is full (on_writable resumes), or the session is closing */
		next++;
	}
	if (ret && ret != -EAGAIN && ret != -ENOTCONN)
		fprintf(stderr, PROG ": cannot send: %s\n", strerror(-ret));
	progress_ms = now_ms();
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- connecting ----------------------------------------------------------------- */

static void on_open(struct rw_session *s, void *user)
{
	(void)user;
	opened = 1;
	if (publisher && rate)
		rw_session_set_tick(s, 1);
	else if (failover)
		rw_session_set_tick(s, PING_MS);
	start_us = now_us();
	pump(s);
}

static void on_tick(struct rw_session *s, void *user)
{
	static uint64_t last_ping;
	uint64_t t = now_ms();

	(void)user;
	if (rate && !pinged)
		pump(s);
	/* a broker answers every PING: traffic both ways, so only a lost broker goes silent */
	if (failover && pinged && t - last_ping >= PING_MS) {
		last_ping = t;
		rw_session_send(s, CH, EV_PING, "alive", 5);
	}
}

static void on_writable(struct rw_session *s, uint8_t channel, void *user)
{
	(void)channel;
	(void)user;
	pump(s);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	(void)s;
	(void)user;
	if (failover && opened && !done && !why->by_peer && why->reason == RW_CLOSE_TIMEOUT) {
		lost = 1;	/* main dials the next address */
		return;
	}
	if (!opened)
		sample_dial_failure(close_text, sizeof(close_text), peer, "broker", timeout_ms, why);
	else if (why->by_peer)
		snprintf(close_text, sizeof(close_text), "the broker closed the session: %s",
			 why->message[0] ? why->message : rw_close_reason_name(why->reason));
	else if (why->reason != RW_CLOSE_SHUTDOWN)
		snprintf(close_text, sizeof(close_text), "session closed: %s%s%s", rw_close_reason_name(why->reason),
			 why->message[0] ? ": " : "", why->message);
	closed = 1;
}

static void on_event(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	const uint8_t *nul;

	(void)s;
	(void)channel;
	(void)user;
	switch (type) {
	case EV_RDELIVER: {
		uint64_t seq = 0;

		if (len < 9 || done)
			return;
		for (int i = 7; i >= 0; i--)
			seq = seq << 8 | p[i];
		p += 8;
		len -= 8;
		for (unsigned i = 0; i < ntopics; i++)
			if (!strncmp(topics[i], (const char *)p, len) && strlen(topics[i]) < len &&
			    !p[strlen(topics[i])]) {
				if (seq <= last_seq[i])
					return;	/* seen already (cannot happen with one consumer; cheap to be sure) */
				last_seq[i] = seq;
			}
	}
		/* fall through */
	case EV_DELIVER:
		nul = memchr(p, 0, len);
		if (!nul || done)
			return;
		if (stamp && lat_us && received < count) {
			uint64_t sent = strtoull((const char *)nul + 1, NULL, 10), t = now_us();

			lat_us[received] = (uint32_t)(t > sent && t - sent < UINT32_MAX ? t - sent : 0);
		}
		printf("%s: %.*s\n", (const char *)p, (int)(len - (size_t)(nul - p) - 1), (const char *)nul + 1);
		fflush(stdout);
		if (++received == count)
			done = 1;
		break;
	case EV_PONG:
		progress_ms = now_ms();
		if (len == 5 && !memcmp(p, "alive", 5))
			break;
		if (len > 1 && len < 24 && p[0] == 'm') {
			char mark[24];

			memcpy(mark, p + 1, len - 1);
			mark[len - 1] = 0;
			confirmed = strtoul(mark, NULL, 10);	/* the broker has every message up to it */
			break;
		}
		if (publisher) {
			done = 1;
		} else {
			fprintf(stderr, PROG ": subscribed to %u topic%s\n", ntopics, ntopics > 1 ? "s" : "");
			subscribed = 1;
		}
		break;
	case EV_ERROR:
		fprintf(stderr, PROG ": the broker says: %.*s\n", (int)len, (const char *)p);
		break;
	}
}

static struct sample sm;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " URI sub TOPIC... [--count N] [--timeout MS] [--bind HOST:PORT] [options]\n"
		   "       " PROG " URI pub TOPIC MESSAGE [--count N] [--timeout MS] [--bind HOST:PORT] [options]\n"
		   "  URI                   wire://wpub1...@host:port of ringwire-pubsub-broker\n");
	sample_usage_common(&sm, f);
	fprintf(f, "                        (--timeout: give up after MS ms without progress, connecting included;\n"
		   "                        sub: until subscribed)\n"
		   "  --count N             sub: exit after N messages (default: run until Ctrl-C)\n"
		   "                        pub: publish N times, numbered \"MESSAGE 1\".. \"MESSAGE N\" (default 1)\n"
		   "  --stamp               pub: start each message with its send time; sub: print latency p50/p99 at the end\n"
		   "  --rate N              pub: at most N messages/s (default: as fast as the window allows)\n"
		   "  --reliable            the broker's reliable topics (a broker with --nats: JetStream); a subscriber\n"
		   "                        failing over to another address of the URI resumes after its last message\n");
}

/*
 * The session to a broker was lost: dial again, starting at the address
 * after the one that went silent (the engine goes on along the list), and
 * start the plan over: the subscriptions, or the rest of the messages.
 */
static int redial(struct rw_client *cli)
{
	char uri[RW_URI_MAX * RW_ENDPOINT_ADDRS_MAX], err[RW_ERRBUF_SIZE];

	lost = 0;
	opened = 0;
	subscribed = 0;
	pinged = 0;
	if (!publisher)
		next = 0;
	else if (reliable)
		next = confirmed;	/* again from the last confirmed: the stream keeps one of each */
	/* a plain publisher goes on from where it was: at most once, as plain topics are */
	cur_addr = (cur_addr + 1) % ep.naddrs;
	sample_failover_uri(uri, sizeof(uri), &ep, cur_addr, peer, sizeof(peer));
	fprintf(stderr, PROG ": lost the broker; failing over, trying %s first\n", peer);
	progress_ms = now_ms();
	if (rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		closed = 1;
		return -1;
	}
	return 0;
}

enum { O_RATE = SAMPLE_OPT_OWN };

int main(int argc, char **argv)
{
	/* --rate has no short form: -r is --reactors */
	static const struct option opts[] = {
		{ "count", required_argument, NULL, 'c' }, { "reliable", no_argument, NULL, 'R' },
		{ "stamp", no_argument, NULL, 'S' }, { "rate", required_argument, NULL, O_RATE },
		{ NULL, 0, NULL, 0 },
	};
	struct rw_handler h = { .on_open = on_open, .on_close = on_close, .on_event = on_event,
				.on_writable = on_writable, .on_tick = on_tick, .flags = RW_CHANNEL_RELIABLE };
	struct rw_client_config cfg;
	struct rw_client *cli;
	char err[RW_ERRBUF_SIZE];
	const char *uri, *mode;
	int c, ret = 0, have_count = 0;
	sigset_t sigs;
	struct timespec tick = { 0, 20 * 1000000 };

	rw_client_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_CLIENT, usage);
	while ((c = sample_getopt(&sm, argc, argv, "c:RS", opts)) != -1) {
		switch (c) {
		case SAMPLE_EXIT:
			return sm.exit_code;
		case 'c':
			if (sample_number(&sm, "--count", optarg, 1, 1000000000, &count))
				return sm.exit_code;
			have_count = 1;
			break;
		case 'R':
			reliable = 1;
			break;
		case 'S':
			stamp = 1;
			break;
		case O_RATE:
			if (sample_number(&sm, "--rate", optarg, 1, 10000000, &rate))
				return sm.exit_code;
			break;
		}
	}
	timeout_ms = sm.timeout_ms;
	if (argc - optind < 3) {
		fprintf(stderr, PROG ": expected URI sub TOPIC... or URI pub TOPIC MESSAGE; see --help\n");
		return 2;
	}
	uri = argv[optind];
	mode = argv[optind + 1];
	topics = argv + optind + 2;
	ntopics = (unsigned)(argc - optind - 2);
	if (!strcmp(mode, "pub")) {
		if (ntopics != 2) {
			fprintf(stderr, PROG ": pub takes a TOPIC and a MESSAGE (quote a message with spaces)\n");
			return 2;
		}
		publisher = 1;
		message = topics[1];
		ntopics = 1;
		if (!have_count)
			count = 1;
	} else if (strcmp(mode, "sub")) {
		fprintf(stderr, PROG ": \"%s\" is not a mode: use sub or pub\n", mode);
		return 2;
	}
	for (unsigned i = 0; i < ntopics; i++)
		if (!topics[i][0] || strlen(topics[i]) > TOPIC_MAX) {
			fprintf(stderr, PROG ": topic \"%s\": a topic is 1 to %d bytes\n", topics[i], TOPIC_MAX);
			return 2;
		}
	if (message && strlen(message) > MSG_MAX) {
		fprintf(stderr, PROG ": the message is %zu bytes; at most %d\n", strlen(message), MSG_MAX);
		return 2;
	}
	if (rw_uri_parse(uri, &ep, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	sample_host_port(peer, sizeof(peer), ep.host, ep.port);
	buf = malloc(16 + TOPIC_MAX + 1 + MSG_MAX + 48);
	last_seq = calloc(ntopics, sizeof(*last_seq));
	if (reliable && publisher) {
		FILE *f = fopen("/dev/urandom", "rb");

		if (!f || fread(&pub_id, 1, sizeof(pub_id), f) != sizeof(pub_id)) {
			fprintf(stderr, PROG ": cannot read /dev/urandom\n");
			return 1;
		}
		fclose(f);
	}
	if (stamp && !publisher && count)
		lat_us = calloc(count, sizeof(*lat_us));
	if (!buf || !last_seq) {
		fprintf(stderr, PROG ": out of memory\n");
		return 1;
	}

	/* the reactor threads inherit this mask: SIGINT comes to us in sigtimedwait */
	sample_block_signals(&sigs);

	cfg.reconnect = 0;
	cfg.handshake_timeout_ms = timeout_ms;
	failover = ep.naddrs > 1;
	if (failover) {
		/* each address gets its own handshake timeout; a lost broker shows in LOSS_MS */
		cfg.handshake_timeout_ms = timeout_ms < ADDR_TIMEOUT_MS ? timeout_ms : ADDR_TIMEOUT_MS;
		cfg.timers.keepalive_ms = PING_MS;
		cfg.timers.session_timeout_ms = LOSS_MS;
	}
	if (sample_client_create(&sm, &cfg, &cli)) {
		free(buf);
		free(last_seq);
		return sm.exit_code;
	}
	rw_client_on(cli, CH, &h);
	ret = rw_client_start(cli);
	if (ret) {
		fprintf(stderr, PROG ": cannot start the client: %s\n", strerror(-ret));
		goto out;
	}
	progress_ms = now_ms();
	if (rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 1;
		goto out;
	}
	while (!done && !closed) {
		if (sigtimedwait(&sigs, NULL, &tick) > 0)
			break;
		if (lost && redial(cli) == 0)
			continue;
		/*
		 * A subscriber waits for messages as long as it takes, once
		 * subscribed. While connecting, 500 ms more: the dial's own
		 * timeout ends it first, and says why.
		 */
		if ((publisher || !subscribed) && !done && now_ms() - progress_ms > timeout_ms +
		    (opened ? 0 : 500u)) {
			fprintf(stderr, PROG ": no progress for %u ms; %s\n", timeout_ms,
				opened ? "the broker stopped answering" : "cannot reach the broker");
			ret = 1;
			break;
		}
	}
	if (closed && close_text[0]) {
		fprintf(stderr, PROG ": %s\n", close_text);
		ret = 1;
	}
	if (publisher && done)
		fprintf(stderr, PROG ": published %lu message%s to %s\n", count, count > 1 ? "s" : "", topics[0]);
	else if (!publisher && opened)
		fprintf(stderr, PROG ": received %lu message%s\n", (unsigned long)received, received == 1 ? "" : "s");
	if (lat_us && received) {
		unsigned long n = received < count ? received : count;

		qsort(lat_us, n, sizeof(*lat_us), cmp_u32);
		fprintf(stderr, PROG ": latency p50 %u us, p99 %u us (%lu messages)\n", lat_us[n / 2],
			lat_us[n * 99 / 100], n);
	}
	free(lat_us);
out:
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	free(buf);
	free(last_seq);
	return ret;
}
