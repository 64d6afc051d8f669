/* SPDX-License-Identifier: MIT */
/*
 * ringwire-telemetry-device - simulates sensor devices for
 * ringwire-telemetry-server: N sessions, each with its own fresh key (so each
 * is a device of its own), sending readings at R per second per device.
 *
 *   ringwire-telemetry-device --server URI --devices N --rate R
 *                             [--duration S] [--query[=PREFIX]] [--reactors N]
 *                             [--timeout MS] [--bind HOST:PORT]
 *
 * Each device takes turns over temperature, humidity, GPS and battery, each
 * a random walk from a random starting point, paced by the session's own
 * tick (no thread of ours per device). A device that cannot connect within
 * --timeout says why. After --duration seconds (or SIGINT)
 * it stops sending; with --query it then asks the server for the totals
 * (or for the device whose wpub starts with PREFIX) and prints the answer.
 *
 * Exit status: 0 ok, 1 no device could connect or the query failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringwire.h>

#include "common.h"

#define PROG "ringwire-telemetry-device"

enum {
	CH_TEMP = 1, CH_HUM = 2, CH_GPS = 3, CH_BATT = 4, CH_QUERY = 10,
	EV_READING = 1, EV_QUERY = 1, EV_REPLY = 2,
	MAX_PER_TICK = 1000,	/* a late tick catches up at most this much */
};

struct device {
	uint64_t id;
	uint64_t rng;
	double temp, hum, lat, lon, batt;
	uint64_t t0_ms, sent;
	unsigned turn;
	int open;		/* on the session's thread only */
	atomic_bool up;		/* open, as main sees it */
};

static struct device *devs;
static double rate;
static atomic_uint opened, failed, closed_by_peer;
static atomic_bool stop_sending;
static _Atomic uint64_t send_errors, total_sent;
static char close_msg[RW_ERRBUF_SIZE + 256];	/* the first reason a device could not connect or was closed */
static char peer[RW_HOST_MAX + 16];	/* the server's host:port, for messages */
static unsigned timeout_ms = 5000;
static pthread_mutex_t msg_lock = PTHREAD_MUTEX_INITIALIZER;

/* the query: one at a time, answered on a reactor thread */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond;
static uint32_t q_corr;
static int q_done, q_status;
static char q_text[8192];

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_f32(uint8_t *p, double v)
{
	float f = (float)v;
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	put_le32(p, u);
}

static void put_f64(uint8_t *p, double v)
{
	uint64_t u;

	memcpy(&u, &v, sizeof(u));
	put_le32(p, (uint32_t)u);
	put_le32(p + 4, (uint32_t)(u >> 32));
}

/* xorshift64*: plausible noise, not cryptography */
static double rnd(struct device *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return (double)((d->rng * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

/* A step of a random walk kept inside [lo, hi]. */
static double walk(struct device *d, double v, double step, double lo, double hi)
{
	v += (rnd(d) * 2 - 1) * step;
	return v < lo ? lo : v > hi ? hi : v;
}

static void device_init(struct device *d, uint64_t seed)
{
	d->rng = seed | 1;
	d->temp = 15 + 10 * rnd(d);
	d->hum = 30 + 40 * rnd(d);
	d->lat = -60 + 120 * rnd(d);
	d->lon = -180 + 360 * rnd(d);
	d->batt = 60 + 40 * rnd(d);
}

static void send_reading(struct rw_session *s, struct device *d)
{
	uint8_t p[16];
	int ch, ret;

	switch (d->turn++ % 4) {
	case 0:
		d->temp = walk(d, d->temp, 0.1, -20, 45);
		put_f32(p, d->temp);
		ch = CH_TEMP;
		break;
	case 1:
		d->hum = walk(d, d->hum, 0.5, 5, 95);
		put_f32(p, d->hum);
		ch = CH_HUM;
		break;
	case 2:
		d->lat = walk(d, d->lat, 0.0001, -89, 89);
		d->lon = walk(d, d->lon, 0.0001, -179, 179);
		put_f64(p, d->lat);
		put_f64(p + 8, d->lon);
		ch = CH_GPS;
		break;
	default:
		/* drains slowly, and is recharged when nearly flat */
		d->batt -= 0.01 * rnd(d);
		if (d->batt < 5)
			d->batt = 100;
		put_f32(p, d->batt);
		ch = CH_BATT;
		break;
	}
	ret = rw_session_send(s, (uint8_t)ch, EV_READING, p, ch == CH_GPS ? 16 : 4);
	if (ret)
		send_errors++;
	d->sent++;
}

/* ---- connecting ----------------------------------------------------------------- */

/* Keep the first reason a device could not connect (what: NULL) or was closed. */
static void note_close(const char *what, const struct rw_close_info *why)
{
	pthread_mutex_lock(&msg_lock);
	if (!close_msg[0] && !what)
		sample_dial_failure(close_msg, sizeof(close_msg), peer, "server", timeout_ms, why);
	else if (!close_msg[0])
		snprintf(close_msg, sizeof(close_msg), "%s: %s%s%s", what, rw_close_reason_name(why->reason),
			 why->message[0] ? ": " : "", why->message);
	pthread_mutex_unlock(&msg_lock);
}

static void on_open(struct rw_session *s, void *user)
{
	struct device *d = rw_session_user(s);
	uint32_t every;

	(void)user;
	d->open = 1;
	d->up = 1;
	d->t0_ms = now_ms();
	/* pace with the session's tick: one reading per tick up to 100/s, then batches */
	every = rate >= 100 ? 10 : (uint32_t)(1000 / rate);
	rw_session_set_tick(s, every ? every : 1);
	opened++;
}

static void on_tick(struct rw_session *s, void *user)
{
	struct device *d = rw_session_user(s);
	uint64_t due;
	unsigned n;

	(void)user;
	if (stop_sending) {
		rw_session_set_tick(s, 0);
		return;
	}
	due = (uint64_t)(rate * (double)(now_ms() - d->t0_ms) / 1000.0);
	for (n = 0; d->sent < due && n < MAX_PER_TICK; n++)
		send_reading(s, d);
	total_sent += n;	/* once per tick, not per reading: one shared counter for all reactors */
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct device *d = rw_session_user(s);

	(void)user;
	if (!d->open) {
		note_close(NULL, why);
		failed++;
		return;
	}
	d->open = 0;
	d->up = 0;
	if (why->by_peer) {
		closed_by_peer++;
		note_close("the server closed the session", why);
	}
}

static void on_reply(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	(void)s;
	(void)channel;
	(void)user;
	if (type != EV_REPLY || len < 5)
		return;
	pthread_mutex_lock(&q_lock);
	if (get_le32(p) == q_corr && !q_done) {
		size_t n = len - 5 < sizeof(q_text) - 1 ? len - 5 : sizeof(q_text) - 1;

		memcpy(q_text, p + 5, n);
		q_text[n] = 0;
		q_status = p[4];
		q_done = 1;
		pthread_cond_signal(&q_cond);
	}
	pthread_mutex_unlock(&q_lock);
}

/* Ask the server through the first open device; 0 and the text printed, or 1. */
static int query(struct rw_client *cli, unsigned ndev, const char *prefix)
{
	uint8_t req[4 + RW_WPUB_LEN];
	size_t plen = strlen(prefix);
	struct timespec ts;
	unsigned i;
	int ret = 0;

	for (i = 0; i < ndev && !devs[i].up; i++)
		;
	if (i == ndev) {
		fprintf(stderr, PROG ": --query: no device is connected to ask the server\n");
		return 1;
	}
	pthread_mutex_lock(&q_lock);
	q_corr = (uint32_t)now_ms() | 1;
	q_done = 0;
	pthread_mutex_unlock(&q_lock);
	put_le32(req, q_corr);
	memcpy(req + 4, prefix, plen);
	ret = rw_client_send(cli, devs[i].id, CH_QUERY, EV_QUERY, req, 4 + plen);
	if (ret) {
		fprintf(stderr, PROG ": --query: cannot send: %s\n", strerror(-ret));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&q_lock);
	while (!q_done && pthread_cond_timedwait(&q_cond, &q_lock, &ts) != ETIMEDOUT)
		;
	if (!q_done) {
		fprintf(stderr, PROG ": --query: no answer from the server within %u ms\n", timeout_ms);
		ret = 1;
	} else if (q_status) {
		fprintf(stderr, PROG ": --query: %s\n", q_text);
		ret = 1;
	} else {
		fputs(q_text, stdout);
	}
	pthread_mutex_unlock(&q_lock);
	return ret;
}

/* Sleep up to ms, or until SIGINT/SIGTERM (blocked, so taken here): 1 if interrupted. */
static int wait_signal(const sigset_t *sigs, unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	return sigtimedwait(sigs, NULL, &ts) > 0;
}

static struct sample sm;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --server URI --devices N --rate R [--duration S] [--query[=PREFIX]] [--timeout MS]\n"
		   "       [--bind HOST:PORT] [--metrics HOST:PORT] [--log-format logfmt|json] [--log-level LEVEL] [--quiet]\n"
		   "  --server URI          wire://wpub1...@host:port of ringwire-telemetry-server\n"
		   "  --devices N           simulated devices, one session and one key each (default 1)\n"
		   "  --rate R              readings per second per device (default 10; may be fractional)\n"
		   "  --duration S          seconds to send, e.g. 10 or 0.5 (default 10; 0: until Ctrl-C)\n"
		   "  --query[=PREFIX]      then ask the server for totals (or the device whose wpub\n"
		   "                        starts with PREFIX) and print the answer\n");
	sample_usage_common(&sm, f);
	fprintf(f, "--timeout MS bounds the query too; --key gives the one device (--devices 1) a fixed key.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "server", required_argument, NULL, 's' }, { "devices", required_argument, NULL, 'n' },
		{ "rate", required_argument, NULL, 'R' }, { "duration", required_argument, NULL, 'd' },
		{ "query", optional_argument, NULL, 'Q' }, { NULL, 0, NULL, 0 },
	};
	struct rw_handler any = { .on_open = on_open, .on_close = on_close, .on_tick = on_tick };
	struct rw_handler qh = { .on_event = on_reply, .flags = RW_CHANNEL_RELIABLE };
	struct rw_client_config cfg;
	struct rw_client *cli;
	struct rw_endpoint ep;
	char err[RW_ERRBUF_SIZE];
	const char *uri = NULL, *prefix = NULL;
	unsigned ndev = 1;
	double duration = 10;
	uint64_t t0, t1;
	int c, ret = 0, interrupted = 0, do_query = 0;
	pthread_condattr_t ca;
	sigset_t sigs;

	rate = 10;
	rw_client_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_CLIENT, usage);
	while ((c = sample_getopt(&sm, argc, argv, "s:n:R:d:", opts)) != -1) {
		unsigned long v;

		switch (c) {
		case SAMPLE_EXIT:
			return sm.exit_code;
		case 's':
			uri = optarg;
			break;
		case 'n':
			if (sample_number(&sm, "--devices", optarg, 1, 100000, &v))
				return sm.exit_code;
			ndev = (unsigned)v;
			break;
		case 'R': {
			char *end;

			rate = strtod(optarg, &end);
			if (end == optarg || *end || !(rate >= 0.01 && rate <= 1e6)) {
				fprintf(stderr, PROG ": --rate: \"%s\" is not a rate from 0.01 to 1000000 per second\n",
					optarg);
				return 2;
			}
			break;
		}
		case 'd': {
			char *end;

			duration = strtod(optarg, &end);
			if (end == optarg || *end || !(duration == 0 || (duration >= 0.001 && duration <= 1000000))) {
				fprintf(stderr, PROG ": --duration: \"%s\" is not a number of seconds from 0.001 to "
					"1000000 (e.g. 10 or 0.5; 0: until Ctrl-C)\n", optarg);
				return 2;
			}
			break;
		}
		case 'Q':
			do_query = 1;
			prefix = optarg ? optarg : "";
			break;
		default:
			break;
		}
	}
	if (sample_no_args(&sm, argc, argv))
		return sm.exit_code;
	timeout_ms = sm.timeout_ms;
	if (sm.key && ndev > 1) {
		fprintf(stderr, PROG ": --key: %u devices cannot share one key; drop --key, or use --devices 1\n", ndev);
		return 2;
	}
	if (!uri) {
		fprintf(stderr, PROG ": missing --server URI (the wire:// line ringwire-telemetry-server prints)\n");
		return 2;
	}
	if (rw_uri_parse(uri, &ep, err, sizeof(err))) {
		fprintf(stderr, PROG ": --server: %s\n", err);
		return 2;
	}
	sample_host_port(peer, sizeof(peer), ep.host, ep.port);
	if (prefix && strlen(prefix) > RW_WPUB_LEN) {
		fprintf(stderr, PROG ": --query: a device prefix is at most %d characters of its wpub\n", RW_WPUB_LEN);
		return 2;
	}
	devs = calloc(ndev, sizeof(*devs));
	if (!devs) {
		fprintf(stderr, PROG ": out of memory for %u device%s\n", ndev, ndev == 1 ? "" : "s");
		return 1;
	}
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q_cond, &ca);
	pthread_condattr_destroy(&ca);

	/* the reactor threads inherit this mask: SIGINT comes to us, in wait_signal */
	sample_block_signals(&sigs);

	cfg.has_private_key = 0;	/* a fresh key per session (each is a device), unless --key */
	cfg.reconnect = 0;
	/*
	 * The engine's retry schedule (1 s, doubling) stays: hundreds of
	 * handshakes at once keep a server busy for a while, and a sooner
	 * retry would only replace handshakes it is still answering.
	 * --timeout bounds the whole dial.
	 */
	cfg.handshake_timeout_ms = timeout_ms;
	if (sample_client_create(&sm, &cfg, &cli))
		return sm.exit_code;
	rw_client_on(cli, RW_CHANNEL_ANY, &any);
	rw_client_on(cli, CH_QUERY, &qh);
	ret = rw_client_start(cli);
	if (ret) {
		fprintf(stderr, PROG ": cannot start the client: %s\n", strerror(-ret));
		rw_client_destroy(cli);
		return 1;
	}
	for (unsigned i = 0; i < ndev; i++) {
		uint8_t rnd32[RW_KEY_SIZE];
		uint64_t seed = now_ms() * (i + 1);

		/* a fresh key is 32 random bytes: the first 8 seed this device's walks */
		if (rw_key_generate(rnd32) == 0)
			memcpy(&seed, rnd32, sizeof(seed));
		device_init(&devs[i], seed ^ ((uint64_t)i << 32));
		if (rw_client_dial(cli, uri, &devs[i], &devs[i].id, err, sizeof(err))) {
			fprintf(stderr, PROG ": %s\n", err);
			ret = 1;
			goto out;
		}
	}
	/* everyone up (or given up), within the timeout */
	t0 = now_ms();
	/* each dial ends by --timeout: on_open or on_close; a little more for the last callbacks */
	while (opened + failed < ndev && now_ms() - t0 < timeout_ms + 500u)
		if (wait_signal(&sigs, 10)) {
			interrupted = 1;
			break;
		}
	if (!opened) {
		pthread_mutex_lock(&msg_lock);
		if (!close_msg[0])
			snprintf(close_msg, sizeof(close_msg), "cannot connect to %s: no answer within %u ms; check the "
				 "key in the URI and the address (is the server running?)", peer, timeout_ms);
		fprintf(stderr, PROG ": %s\n", close_msg);
		pthread_mutex_unlock(&msg_lock);
		ret = 1;
		goto out;
	}
	if (failed)
		fprintf(stderr, PROG ": %u of %u device%s could not connect (%s)\n", (unsigned)failed, ndev,
			ndev == 1 ? "" : "s", close_msg);
	fprintf(stderr, PROG ": %u device%s connected, %.2f readings/s each\n", (unsigned)opened,
		opened == 1 ? "" : "s", rate);
	t0 = now_ms();
	while (!interrupted && (!duration || now_ms() - t0 < (uint64_t)(duration * 1000))) {
		if (closed_by_peer == opened) {
			fprintf(stderr, PROG ": %s\n", close_msg);
			ret = 1;
			break;
		}
		interrupted = wait_signal(&sigs, 50);
	}
	stop_sending = 1;
	t1 = now_ms();
	/* readings are unreliable and may still be in flight: give them a moment before asking */
	wait_signal(&sigs, 200);
	printf("sent %" PRIu64 " reading%s from %u device%s in %.1f s\n", (uint64_t)total_sent,
	       total_sent == 1 ? "" : "s", (unsigned)opened, opened == 1 ? "" : "s", (double)(t1 - t0) / 1000.0);
	fflush(stdout);
	if (do_query && !ret)
		ret = query(cli, ndev, prefix);
out:
	rw_client_stop(cli);
	rw_client_wait(cli);
	if (send_errors)
		fprintf(stderr, PROG ": %" PRIu64 " reading%s could not be sent\n", (uint64_t)send_errors,
			send_errors == 1 ? "" : "s");
	rw_client_destroy(cli);
	free(devs);
	return ret;
}
