/* SPDX-License-Identifier: MIT */
/*
 * ringwire-chat - terminal client of ringwire-chat-server.
 *
 *   ringwire-chat URI [--nick NAME] [--linger MS] [the standard client options: samples/common.h]
 *
 * Reads lines from stdin: commands (/join ROOM, /leave, /who, /nick NAME,
 * /rooms, /help; /quit ends the client) or text for the current room. It
 * prints what arrives on stdout, one line each:
 *
 *   [room] nick: text     a message in a room
 *   [room] * text         a notice in a room (joins, leaves, renames)
 *   * text                the server's answer to a command
 *   ! text                the server's refusal of a command, and why
 *
 * Works the same interactively and scripted: at the end of stdin (or /quit)
 * it sends what is left, listens --linger milliseconds more (default 300)
 * and disconnects. If the server closes the session, or cannot be reached
 * within --timeout (default 5000 ms), the reason is printed on stderr and
 * the exit status is 1.
 *
 * A URI with several addresses (servers with one key, joined with --nats)
 * fails over: a server silent for 3 s is left for the next address, where
 * the client asks for its nickname and room again.
 *
 * Lines are not sent from the reading thread: they wait in a queue that the
 * session's own tick drains with rw_session_send, so a full window makes
 * them wait for on_writable instead of being lost.
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <ringwire.h>

#include "common.h"

#define PROG "ringwire-chat"

enum {
	CH_CTL = 0, CH_ROOM_FIRST = 1, CH_ROOM_LAST = 200,
	EV_LINE = 1, EV_INFO = 2, EV_JOINED = 3, EV_LEFT = 4, EV_ERROR = 5,
	EV_READY = 1, EV_MSG = 1, EV_NOTICE = 2,
	LINE_MAX_ = 4096, TICK_MS = 10,
	JOIN_WAIT_MS = 3000,	/* at most this long for the answer to a /join */
};

struct line {
	struct line *next;
	size_t len;
	char text[];
};

/* lines read, waiting for the session thread */
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static struct line *q_head, **q_tail = &q_head;
static atomic_uint q_len;

static atomic_bool opened, closed;
static char close_text[RW_ERRBUF_SIZE + 256];	/* written before closed is set */
static char peer[RW_HOST_MAX + 16];	/* the server's host:port, for messages */
static unsigned timeout_ms = 5000;	/* to connect, and to get the last lines out */

/*
 * On the session's thread only: room names by channel, and a /join in
 * flight: sent at join_sent_ms, and once JOINED, the room's channel, until
 * our own "joined" notice comes on it.
 */
static char *room_name[CH_ROOM_LAST + 1];
static uint64_t join_sent_ms;
static int join_ch;

/*
 * Failover (a URI with several addresses, docs/protocol.md §16.3): chat
 * servers with one key joined through NATS. The session's timeout is short
 * (a server with --nats sends a keepalive every second); a lost server is
 * dialled again from the next address on, and the nickname and room are
 * asked for again there.
 */
enum { LOSS_MS = 3000, ADDR_TIMEOUT_MS = 1500 };
static struct rw_endpoint ep;
static int failover;
static unsigned cur_addr;
static atomic_bool lost;
static char last_nick[64], last_room[64];	/* session thread until lost, then main */

/* ---- connecting ----------------------------------------------------------------- */

/* ---- the queue of lines -------------------------------------------------------- */

static int enqueue(const char *text, size_t len)
{
	struct line *l = malloc(sizeof(*l) + len);

	if (!l)
		return -ENOMEM;
	l->next = NULL;
	l->len = len;
	memcpy(l->text, text, len);
	pthread_mutex_lock(&q_lock);
	*q_tail = l;
	q_tail = &l->next;
	q_len++;
	pthread_mutex_unlock(&q_lock);
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int is_join(const struct line *l)
{
	return l->len >= 5 && !memcmp(l->text, "/join", 5) && (l->len == 5 || l->text[5] == ' ');
}

/* Send queued lines until the window is full; on the session's thread. */
static void drain(struct rw_session *s)
{
	for (;;) {
		struct line *l;
		int ret;

		/*
		 * After a /join, hold the next lines until we are in the room:
		 * our own "joined" notice on its channel says the server has
		 * subscribed us (or until the join is refused). Text typed
		 * right after the /join then reaches the room after the join,
		 * and comes back to us too. A server that never answers gets
		 * JOIN_WAIT_MS.
		 */
		if (join_sent_ms && now_ms() - join_sent_ms < JOIN_WAIT_MS)
			return;
		join_sent_ms = 0;
		join_ch = 0;
		pthread_mutex_lock(&q_lock);
		l = q_head;
		pthread_mutex_unlock(&q_lock);
		if (!l)
			return;
		ret = rw_session_send(s, CH_CTL, EV_LINE, l->text, l->len);
		if (ret == -EAGAIN || ret == -ENOTCONN || closed)
			return;	/* on_writable or the next tick resumes; or the session is closing */
		if (ret)
			fprintf(stderr, PROG ": a line could not be sent: %s\n", strerror(-ret));
		else if (is_join(l))
			join_sent_ms = now_ms();
		/* what to ask for again after a failover */
		if (!ret && l->len > 6 && l->len < sizeof(last_nick) && !memcmp(l->text, "/nick ", 6))
			snprintf(last_nick, sizeof(last_nick), "%.*s", (int)l->len, l->text);
		if (!ret && l->len > 6 && l->len < sizeof(last_room) && !memcmp(l->text, "/join ", 6))
			snprintf(last_room, sizeof(last_room), "%.*s", (int)l->len, l->text);
		if (!ret && l->len == 6 && !memcmp(l->text, "/leave", 6))
			last_room[0] = 0;
		pthread_mutex_lock(&q_lock);
		q_head = l->next;
		if (!q_head)
			q_tail = &q_head;
		q_len--;
		pthread_mutex_unlock(&q_lock);
		free(l);
	}
}

/* Put a line before everything queued (main thread, while no session runs). */
static void requeue_first(const char *text)
{
	size_t len = strlen(text);
	struct line *l = malloc(sizeof(*l) + len);

	if (!l)
		return;
	l->len = len;
	memcpy(l->text, text, len);
	pthread_mutex_lock(&q_lock);
	l->next = q_head;
	q_head = l;
	if (!l->next)
		q_tail = &l->next;
	q_len++;
	pthread_mutex_unlock(&q_lock);
}

static void free_queue(void)
{
	while (q_head) {
		struct line *l = q_head;

		q_head = l->next;
		free(l);
	}
	q_tail = &q_head;
}

/* ---- callbacks ------------------------------------------------------------------------ */

static void show(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void show(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	/* one line at a time, even into a pipe: a script sees each as it comes */
	fflush(stdout);
}

static void on_open(struct rw_session *s, void *user)
{
	(void)user;
	rw_session_set_tick(s, TICK_MS);
	opened = 1;
	drain(s);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	(void)s;
	(void)user;
	if (failover && opened && !why->by_peer && why->reason == RW_CLOSE_TIMEOUT) {
		for (int c = 0; c <= CH_ROOM_LAST; c++) {
			free(room_name[c]);
			room_name[c] = NULL;
		}
		join_sent_ms = 0;
		join_ch = 0;
		lost = 1;	/* main dials the next address */
		return;
	}
	if (!opened)
		sample_dial_failure(close_text, sizeof(close_text), peer, "server", timeout_ms, why);
	else if (why->by_peer)
		snprintf(close_text, sizeof(close_text), "the server closed the session: %s",
			 why->message[0] ? why->message : rw_close_reason_name(why->reason));
	else if (why->reason != RW_CLOSE_SHUTDOWN)
		snprintf(close_text, sizeof(close_text), "session closed: %s%s%s", rw_close_reason_name(why->reason),
			 why->message[0] ? ": " : "", why->message);
	for (int c = 0; c <= CH_ROOM_LAST; c++) {
		free(room_name[c]);
		room_name[c] = NULL;
	}
	closed = 1;
}

static void on_tick(struct rw_session *s, void *user)
{
	(void)user;
	if (q_len)
		drain(s);
}

static void on_writable(struct rw_session *s, uint8_t channel, void *user)
{
	(void)channel;
	(void)user;
	drain(s);
}

static void on_control(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len,
		       void *user)
{
	const char *name;
	int n = (int)len;

	(void)channel;
	(void)user;
	switch (type) {
	case EV_INFO:
		show("* %.*s\n", n, (const char *)p);
		break;
	case EV_ERROR:
		show("! %.*s\n", n, (const char *)p);
		/*
		 * Only the refusal of the /join itself ends the wait (the server
		 * starts those with "/join"): an error about an earlier line,
		 * say a nickname taken, comes first and must not let the lines
		 * held for the join into the room before we are in it.
		 */
		if (join_sent_ms && len >= 5 && !memcmp(p, "/join", 5)) {
			join_sent_ms = 0;
			join_ch = 0;
			drain(s);
		}
		break;
	case EV_JOINED:
		if (len < 2 || p[0] < CH_ROOM_FIRST || p[0] > CH_ROOM_LAST)
			return;
		if (room_name[p[0]] && strlen(room_name[p[0]]) == len - 1 && !memcmp(room_name[p[0]], p + 1, len - 1)) {
			/* in that room already: no new notice will come */
			join_sent_ms = 0;
			join_ch = 0;
			drain(s);
			break;
		}
		free(room_name[p[0]]);
		room_name[p[0]] = strndup((const char *)p + 1, len - 1);
		/* a reliable frame on the room makes it reliable at the server too; then it subscribes us */
		rw_session_send(s, p[0], EV_READY, NULL, 0);
		if (join_sent_ms)
			join_ch = p[0];	/* the lines wait for our "joined" notice there */
		break;
	case EV_LEFT:
		if (len < 1 || p[0] < CH_ROOM_FIRST || p[0] > CH_ROOM_LAST)
			return;
		name = room_name[p[0]] ? room_name[p[0]] : "?";
		show("* you left %s\n", name);
		free(room_name[p[0]]);
		room_name[p[0]] = NULL;
		break;
	}
}

static void on_room(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	const char *room = channel <= CH_ROOM_LAST && room_name[channel] ? room_name[channel] : "?";
	const char *nul;

	(void)user;
	if (type == EV_MSG && (nul = memchr(p, 0, len)) != NULL) {
		size_t nl = (size_t)(nul - (const char *)p);

		show("[%s] %s: %.*s\n", room, (const char *)p, (int)(len - nl - 1), nul + 1);
	} else if (type == EV_NOTICE) {
		show("[%s] * %.*s\n", room, (int)len, (const char *)p);
	}
	if (join_ch && channel == join_ch) {
		/* the first event of the room we joined: we are subscribed, the held lines may go */
		join_sent_ms = 0;
		join_ch = 0;
		drain(s);
	}
}

/* ---- main ------------------------------------------------------------------------------ */

static struct sample sm;

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " URI [--nick NAME] [--linger MS] [--timeout MS] [--bind HOST:PORT] [options]\n"
		   "  URI                   wire://wpub1...@host:port of ringwire-chat-server\n");
	sample_usage_common(&sm, f);
	fprintf(f, "                        (--timeout also bounds sending the last lines at the end)\n"
		   "  --nick NAME           take this nickname at once\n"
		   "  --linger MS           after the end of stdin, keep listening this long (default 300)\n"
		   "Type /join ROOM, then text; /who, /rooms, /nick NAME, /leave, /help; /quit.\n");
}

/* What poll on stdin and the signalfd reported. */
enum { GOT_NOTHING, GOT_SIGNAL, GOT_EOF, GOT_QUIT };

/* Read what stdin has; queue complete lines. */
static int read_stdin(char *buf, size_t *have)
{
	ssize_t n = read(STDIN_FILENO, buf + *have, LINE_MAX_ - *have);
	char *nl;

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? GOT_NOTHING : GOT_EOF;
	*have += (size_t)n;
	if (n == 0) {
		/* a last line without its newline still counts */
		if (*have && !(*have == 5 && !memcmp(buf, "/quit", 5)))
			enqueue(buf, *have);
		*have = 0;
		return GOT_EOF;
	}
	while ((nl = memchr(buf, '\n', *have)) != NULL) {
		size_t len = (size_t)(nl - buf);

		if (len && buf[len - 1] == '\r')
			len--;
		if (len == 5 && !memcmp(buf, "/quit", 5))
			return GOT_QUIT;
		if (len)
			enqueue(buf, len);
		*have -= (size_t)(nl + 1 - buf);
		memmove(buf, nl + 1, *have);
	}
	if (*have == LINE_MAX_) {
		fprintf(stderr, PROG ": a line of over %d bytes was cut there\n", LINE_MAX_);
		enqueue(buf, *have);
		*have = 0;
	}
	return GOT_NOTHING;
}

/*
 * The server was lost: dial again from the address after the one that went
 * silent, then ask for the nickname and the room again, before what waits.
 */
static int redial(struct rw_client *cli)
{
	char uri[RW_URI_MAX * RW_ENDPOINT_ADDRS_MAX], err[RW_ERRBUF_SIZE];

	lost = 0;
	opened = 0;
	cur_addr = (cur_addr + 1) % ep.naddrs;
	sample_failover_uri(uri, sizeof(uri), &ep, cur_addr, peer, sizeof(peer));
	fprintf(stderr, PROG ": lost the server; failing over, trying %s first\n", peer);
	if (last_room[0])
		requeue_first(last_room);
	if (last_nick[0])
		requeue_first(last_nick);
	if (rw_client_dial(cli, uri, NULL, NULL, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		closed = 1;
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nick", required_argument, NULL, 'n' }, { "linger", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	struct rw_handler ctl = { .on_open = on_open, .on_close = on_close, .on_tick = on_tick,
				  .on_writable = on_writable, .on_event = on_control, .flags = RW_CHANNEL_RELIABLE };
	/* rooms are reliable from the start here: READY is what makes them so at the server */
	struct rw_handler room = { .on_event = on_room, .flags = RW_CHANNEL_RELIABLE, .window = 32 };
	struct rw_client_config cfg;
	struct rw_client *cli;
	char err[RW_ERRBUF_SIZE], buf[LINE_MAX_];
	const char *uri = NULL, *nick = NULL;
	unsigned long linger = 300;
	size_t have = 0;
	uint64_t id, t0;
	int c, ret = 0, state = GOT_NOTHING, sfd;
	sigset_t sigs;

	rw_client_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_CLIENT, usage);
	while ((c = sample_getopt(&sm, argc, argv, "n:L:", opts)) != -1) {
		switch (c) {
		case SAMPLE_EXIT:
			return sm.exit_code;
		case 'n':
			nick = optarg;
			break;
		case 'L': {
			char *end;

			linger = strtoul(optarg, &end, 10);
			if (end == optarg || *end || optarg[0] == '-' || linger > 600000) {
				fprintf(stderr, PROG ": --linger: \"%s\" is not a number of milliseconds from 0 to 600000\n",
					optarg);
				return 2;
			}
			break;
		}
		}
	}
	timeout_ms = sm.timeout_ms;
	if (optind >= argc) {
		fprintf(stderr, PROG ": missing the server URI (the wire:// line ringwire-chat-server prints); see --help\n");
		return 2;
	}
	uri = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument \"%s\"; see --help\n", argv[optind]);
		return 2;
	}
	if (rw_uri_parse(uri, &ep, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		return 2;
	}
	sample_host_port(peer, sizeof(peer), ep.host, ep.port);
	if (nick) {
		char cmd[64];
		int n = snprintf(cmd, sizeof(cmd), "/nick %s", nick);

		if (n >= (int)sizeof(cmd) || strchr(nick, '\n')) {
			fprintf(stderr, PROG ": --nick: \"%s\" is too long for a nickname (at most 16 characters)\n", nick);
			return 2;
		}
		enqueue(cmd, (size_t)n);
	}

	/* signals come through a signalfd in our poll, so the reactors must not take them */
	sample_block_signals(&sigs);
	sfd = signalfd(-1, &sigs, SFD_CLOEXEC);

	cfg.reconnect = 0;	/* a lost server is reported, not silently re-dialled */
	cfg.handshake_timeout_ms = timeout_ms;
	failover = ep.naddrs > 1;
	if (failover) {
		/* one identity at several addresses: a lost server is failed over, not reported */
		cfg.handshake_timeout_ms = timeout_ms < ADDR_TIMEOUT_MS ? timeout_ms : ADDR_TIMEOUT_MS;
		cfg.timers.session_timeout_ms = LOSS_MS;
	}
	if (sample_client_create(&sm, &cfg, &cli)) {
		close(sfd);
		free_queue();
		return sm.exit_code;
	}
	rw_client_on(cli, CH_CTL, &ctl);
	for (int ch = CH_ROOM_FIRST; ch <= CH_ROOM_LAST; ch++)
		rw_client_on(cli, ch, &room);
	ret = rw_client_start(cli);
	if (ret) {
		fprintf(stderr, PROG ": cannot start the client: %s\n", strerror(-ret));
		rw_client_destroy(cli);
		return 1;
	}
	if (rw_client_dial(cli, uri, NULL, &id, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		ret = 1;
		goto out;
	}

	/* read stdin until it ends, /quit or a signal, while the session lives */
	while (state == GOT_NOTHING && !closed) {
		struct pollfd p[2] = { { .fd = STDIN_FILENO, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };

		if (lost && redial(cli))
			break;
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (p[1].revents & POLLIN)
			state = GOT_SIGNAL;
		else if (p[0].revents & (POLLIN | POLLHUP | POLLERR))
			state = read_stdin(buf, &have);
	}
	/*
	 * The end: get the queued lines out (after the handshake, if still
	 * going: its own timeout, a moment before ours, then says why it
	 * failed), then listen a little.
	 */
	t0 = now_ms();
	if (state != GOT_SIGNAL) {
		while (!closed && (q_len || !opened) && now_ms() - t0 < timeout_ms + (opened ? 0 : 500u))
			usleep(5000);
		t0 = now_ms();
		while (!closed && now_ms() - t0 < linger)
			usleep(5000);
	}
	if (closed) {
		if (close_text[0])
			fprintf(stderr, PROG ": %s\n", close_text);
		ret = close_text[0] ? 1 : 0;
	} else if (!opened && state != GOT_SIGNAL) {
		fprintf(stderr, PROG ": cannot connect to %s: no answer within %u ms; check the key in the URI and the "
			"address (is the server running?)\n", peer, timeout_ms);
		ret = 1;
	} else if (q_len) {
		fprintf(stderr, PROG ": %u line%s could not be sent within %u ms\n", (unsigned)q_len,
			q_len == 1 ? "" : "s", timeout_ms);
		ret = 1;
	}
out:
	rw_client_stop(cli);
	rw_client_wait(cli);
	rw_client_destroy(cli);
	free_queue();
	if (sfd >= 0)
		close(sfd);
	return ret;
}
