/* SPDX-License-Identifier: MIT */
/*
 * ringwire-chat-server - chat rooms over wiresocket; ringwire-chat is its
 * terminal client.
 *
 *   ringwire-chat-server --listen HOST:PORT --key FILE [--reactors N]
 *                        [--idle S] [the standard server options] [--nats nats://HOST:PORT [--nats-prefix P]]
 *
 * --nats: servers sharing a NATS server share their rooms, /who and the
 * nicknames (see "other servers" below).
 *
 * Every room is a channel: the server gives a room name a channel from 1 to
 * 200 when someone first joins it, and takes it back when the room empties.
 * Members of a room are subscribed to its channel, so one
 * rw_server_broadcast reaches them all, whichever reactor they are on.
 *
 * Events (every channel is reliable):
 *
 *   channel 0 (control)
 *     client: 1 LINE    a line typed: "/join ROOM", "/leave", "/who",
 *                       "/nick NAME", "/rooms", "/help", or text for the room
 *     server: 2 INFO    text for the user
 *             3 JOINED  u8 channel, room name: the room's channel; the client
 *                       answers READY on that channel
 *             4 LEFT    u8 channel
 *             5 ERROR   text: what was wrong and how to do it right; the
 *                       refusal of a /join starts with "/join" (a client
 *                       holding lines back until its join is answered
 *                       tells it from errors about earlier lines so)
 *   channels 1-200 (rooms)
 *     client: 1 READY   (empty) the client holds the channel reliably now:
 *                       subscribe me. Sent reliably, it makes the server's
 *                       side of the channel reliable too (docs/protocol.md §11.8), so
 *                       only the rooms a session uses cost it memory.
 *     server: 1 MSG     nick, NUL, text
 *             2 NOTICE  text (joins, leaves, renames)
 *
 * Nicknames: 1-16 letters, digits, '-' or '_', starting with a letter,
 * unique regardless of case. A session that breaks these rules three times
 * is closed (a name someone else has is no broken rule, just refused), and
 * so is one idle for --idle seconds; it is told why.
 *
 * The first line on stdout is a wire:// URI a client on this machine can
 * dial (for a wildcard --listen, 0.0.0.0 or [::], the loopback address);
 * for a wildcard, one line per local interface address follows it.
 * Joins and leaves are logged on stderr. SIGINT or SIGTERM stops it
 * gracefully.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <ringwire.h>

#include "common.h"

#ifdef RW_HAVE_NATS
#include "nats_bridge.h"
#endif

#define PROG "ringwire-chat-server"

enum {
	CH_CTL = 0, CH_ROOM_FIRST = 1, CH_ROOM_LAST = 200,
	EV_LINE = 1, EV_INFO = 2, EV_JOINED = 3, EV_LEFT = 4, EV_ERROR = 5,
	EV_READY = 1, EV_MSG = 1, EV_NOTICE = 2,
	NICK_MAX = 16, ROOM_MAX = 32, TEXT_MAX = 1000, STRIKES = 3,
	SHORT_WPUB = 13,
};

struct member {
	uint64_t id;
	char nick[NICK_MAX + 1];
	char wpub[SHORT_WPUB + 1];
	int room;		/* channel of the room, 0: none */
	int ready;		/* subscribed to it */
	unsigned strikes;
	uint64_t last_ms;	/* last line from the user */
	int closed;		/* on_close ran while a callback of ours was using it */
	struct member *next, *prev;
};

struct room {
	char name[ROOM_MAX + 1];	/* "": channel free */
	unsigned members;
};

/*
 * One lock over names: nicknames, the member list, the room table. A member's
 * own fields change only on its session's thread, under the lock; that
 * thread reads them without it. Messages take no lock at all.
 */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct member *members;
static struct room rooms[CH_ROOM_LAST + 1];
static unsigned guests, online;

/*
 * The member a callback of this thread is working on. A send can close its
 * session and run on_close right there (a reliable channel that fails does);
 * on_close then leaves the freeing to that callback, which must check
 * m->closed after each send it goes on from.
 */
static _Thread_local struct member *busy;

static struct rw_server *srv;
static unsigned idle_s = 600;
static struct sample sm;
static _Atomic uint64_t messages, kicked;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (sm.quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "chat: %s\n", line);
}

static void say(struct rw_session *s, uint8_t type, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(struct rw_session *s, uint8_t type, const char *fmt, ...)
{
	char text[TEXT_MAX + 200];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(text) - 1)
		n = (int)sizeof(text) - 1;
	/* a client that does not ACK its control channel misses its notices; nothing to queue for */
	rw_session_send(s, CH_CTL, type, text, (size_t)n);
}

/* ---- other servers (--nats) --------------------------------------------------------------- */

/*
 * Servers sharing a NATS server share their rooms: a room NAME is the NATS
 * topic "r/NAME" (escaped into one subject token by nats_bridge), whose
 * messages are 'M' nick NUL text or 'N' notice text; a server subscribes to
 * it while the room has members here. Presence: every server announces its
 * members ("presence": its id, then "nick TAB room" lines) every
 * PRESENCE_MS and at once on a change; an announcement not renewed within
 * PRESENCE_TTL_MS is dropped, so a server that dies leaves /who by itself.
 * /who lists everyone, /nick refuses a name in use on any server.
 */
enum { PRESENCE_MS = 500, PRESENCE_TTL_MS = 1800, REMOTES_MAX = 64 };

struct remote {
	char id[17];
	uint64_t expires_ms;
	char *list;		/* "nick\troom\n"... (room empty: in none) */
};

/* (a build without NATS uses some of these not at all: unused, not an error) */
static struct nb *bridge;
static char server_id[17] __attribute__((unused));
static struct remote remotes[REMOTES_MAX];	/* under lock */
static pthread_mutex_t presence_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t presence_cond = PTHREAD_COND_INITIALIZER;
static int presence_dirty, presence_stop __attribute__((unused));

static __attribute__((unused)) void room_topic(char *out, size_t cap, const char *room)
{
	snprintf(out, cap, "r/%s", room);
}

/* A change of who is here: announce it now rather than at the next beat. */
static void presence_changed(void)
{
	if (!bridge)
		return;
	pthread_mutex_lock(&presence_lock);
	presence_dirty = 1;
	pthread_cond_signal(&presence_cond);
	pthread_mutex_unlock(&presence_lock);
}

static void remote_send(const char *room, char kind, const char *a, size_t al, const char *b, size_t bl)
{
#ifdef RW_HAVE_NATS
	char topic[ROOM_MAX + 3], buf[1 + NICK_MAX + 1 + TEXT_MAX + 256];

	if (!bridge || !room[0] || 1 + al + bl > sizeof(buf))
		return;
	room_topic(topic, sizeof(topic), room);
	buf[0] = kind;
	memcpy(buf + 1, a, al);
	memcpy(buf + 1 + al, b, bl);
	nb_publish(bridge, topic, buf, 1 + al + bl);	/* never blocks: a full queue drops, counted */
#else
	(void)room, (void)kind, (void)a, (void)al, (void)b, (void)bl;
#endif
}

static void notice(int ch, const char *room, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void notice(int ch, const char *room, const char *fmt, ...)
{
	char text[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(text) - 1)
		n = (int)sizeof(text) - 1;
	rw_server_broadcast(srv, (uint8_t)ch, EV_NOTICE, text, (size_t)n);
	remote_send(room, 'N', text, (size_t)n, "", 0);
}

/* ---- names ------------------------------------------------------------------- */

/* NULL if name is a valid nickname, else the rule it breaks. */
static const char *nick_rule(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > NICK_MAX)
		return "a nickname is 1 to 16 characters";
	if (!isalpha((unsigned char)name[0]))
		return "a nickname starts with a letter";
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
			return "a nickname has only letters, digits, '-' and '_'";
	return NULL;
}

/* Called with lock held. */
static int nick_taken(const char *name, const struct member *self)
{
	uint64_t now = now_ms();
	size_t nl = strlen(name);

	for (struct member *m = members; m; m = m->next)
		if (m != self && !strcasecmp(m->nick, name))
			return 1;
	/* and on the other servers, as they last announced */
	for (int i = 0; i < REMOTES_MAX; i++) {
		const char *l = remotes[i].list;

		if (!l || remotes[i].expires_ms < now)
			continue;
		for (; *l; l = strchr(l, '\n') + 1)
			if (!strncasecmp(l, name, nl) && l[nl] == '\t')
				return 1;
	}
	return !strcasecmp(name, "server");
}

static int room_valid(const char *name)
{
	size_t n = strlen(name);

	if (n < 1 || n > ROOM_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)name[i]) && !strchr("-_.", name[i]))
			return 0;
	return 1;
}

/* ---- rooms -------------------------------------------------------------------- */

static void leave(struct rw_session *s, struct member *m, const char *why, int tell)
{
	int ch = m->room, emptied;
	char name[ROOM_MAX + 1];

	if (!ch)
		return;
	rw_session_unsubscribe(s, (uint8_t)ch);
	pthread_mutex_lock(&lock);
	memcpy(name, rooms[ch].name, sizeof(name));
	m->room = 0;
	m->ready = 0;
	/* an empty room gives its channel back; its members are all unsubscribed */
	emptied = --rooms[ch].members == 0;
	if (emptied)
		rooms[ch].name[0] = 0;
	pthread_mutex_unlock(&lock);
#ifdef RW_HAVE_NATS
	if (bridge && emptied) {
		char topic[ROOM_MAX + 3];

		room_topic(topic, sizeof(topic), name);
		nb_unsubscribe(bridge, topic);
	}
#endif
	presence_changed();
	if (tell) {
		uint8_t c = (uint8_t)ch;

		rw_session_send(s, CH_CTL, EV_LEFT, &c, 1);
	}
	notice(ch, name, "%s left%s%s", m->nick, why ? ": " : "", why ? why : "");
	logf_("%s left #%s%s%s", m->nick, name, why ? ": " : "", why ? why : "");
}

static void join(struct rw_session *s, struct member *m, const char *name)
{
	uint8_t buf[1 + ROOM_MAX];
	int ch = 0, free_ch = 0;

	if (!room_valid(name)) {
		say(s, EV_ERROR, "/join %.40s: a room name is 1 to %d letters, digits, '-', '_' or '.': /join lobby",
		    name, ROOM_MAX);
		return;
	}
	if (m->room && !strcmp(rooms[m->room].name, name)) {
		/* JOINED again all the same: a client may be waiting for it */
		say(s, EV_INFO, "you are in %s already", rooms[m->room].name);
		buf[0] = (uint8_t)m->room;
		memcpy(buf + 1, name, strlen(name));
		rw_session_send(s, CH_CTL, EV_JOINED, buf, 1 + strlen(name));
		return;
	}
	leave(s, m, NULL, 1);
	if (m->closed)
		return;
	pthread_mutex_lock(&lock);
	for (int c = CH_ROOM_FIRST; c <= CH_ROOM_LAST && !ch; c++) {
		if (!strcmp(rooms[c].name, name))
			ch = c;
		else if (!rooms[c].name[0] && !free_ch)
			free_ch = c;
	}
	if (!ch && free_ch) {
		ch = free_ch;
		snprintf(rooms[ch].name, sizeof(rooms[ch].name), "%s", name);
#ifdef RW_HAVE_NATS
		if (bridge) {
			char topic[ROOM_MAX + 3];

			/* the room's messages from other servers, while it has members here (no round trip) */
			room_topic(topic, sizeof(topic), name);
			nb_subscribe(bridge, topic);
		}
#endif
	}
	if (ch) {
		rooms[ch].members++;
		m->room = ch;
		m->ready = 0;
	}
	pthread_mutex_unlock(&lock);
	if (!ch) {
		say(s, EV_ERROR, "/join %s: all %d rooms are in use; /rooms lists them, join one of those", name,
		    CH_ROOM_LAST);
		return;
	}
	/* subscribed when READY comes back: the channel is reliable both ways by then */
	buf[0] = (uint8_t)ch;
	memcpy(buf + 1, name, strlen(name));
	rw_session_send(s, CH_CTL, EV_JOINED, buf, 1 + strlen(name));
	logf_("%s joined #%s (channel %d)", m->nick, name, ch);
}

/* ---- commands ------------------------------------------------------------------ */

static void who(struct rw_session *s, struct member *m)
{
	char list[TEXT_MAX];
	size_t len = 0;
	unsigned n = 0, more = 0;

	uint64_t now = now_ms();

	pthread_mutex_lock(&lock);
	for (struct member *x = members; x; x = x->next) {
		if (m->room && x->room != m->room)
			continue;
		if (len + strlen(x->nick) + 2 < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, " %s", x->nick);
		else
			more++;
		n++;
	}
	/* the members of the other servers, as they last announced */
	for (int i = 0; i < REMOTES_MAX; i++) {
		const char *l = remotes[i].list;

		if (!l || remotes[i].expires_ms < now)
			continue;
		for (; *l; l = strchr(l, '\n') + 1) {
			const char *tab = strchr(l, '\t'), *nl = strchr(l, '\n');
			size_t rl = (size_t)(nl - tab - 1);

			if (m->room && (rl != strlen(rooms[m->room].name) || strncmp(tab + 1, rooms[m->room].name, rl)))
				continue;
			if (len + (size_t)(tab - l) + 2 < sizeof(list))
				len += (size_t)snprintf(list + len, sizeof(list) - len, " %.*s", (int)(tab - l), l);
			else
				more++;
			n++;
		}
	}
	pthread_mutex_unlock(&lock);
	list[len] = 0;
	if (m->room)
		say(s, EV_INFO, "in %s (%u):%s%s", rooms[m->room].name, n, list, more ? " ..." : "");
	else
		say(s, EV_INFO, "online (%u):%s%s", n, list, more ? " ..." : "");
}

static void list_rooms(struct rw_session *s)
{
	char list[TEXT_MAX];
	size_t len = 0;

	pthread_mutex_lock(&lock);
	for (int c = CH_ROOM_FIRST; c <= CH_ROOM_LAST; c++)
		if (rooms[c].name[0] && len + ROOM_MAX + 16 < sizeof(list))
			len += (size_t)snprintf(list + len, sizeof(list) - len, " %s (%u)", rooms[c].name,
						rooms[c].members);
	pthread_mutex_unlock(&lock);
	list[len] = 0;
	if (len)
		say(s, EV_INFO, "rooms:%s", list);
	else
		say(s, EV_INFO, "no rooms yet; /join NAME makes one");
}

static void nick(struct rw_session *s, struct member *m, const char *name)
{
	const char *rule = nick_rule(name);
	char old[NICK_MAX + 1];
	int taken = 0;

	if (!rule) {
		pthread_mutex_lock(&lock);
		if (nick_taken(name, m)) {
			taken = 1;
		} else {
			memcpy(old, m->nick, sizeof(old));
			snprintf(m->nick, sizeof(m->nick), "%s", name);
		}
		pthread_mutex_unlock(&lock);
	}
	if (taken) {
		/* not a broken rule: someone else was first (a --nick at start often is) */
		say(s, EV_ERROR, "/nick %s: that nickname is taken; choose another", name);
		return;
	}
	if (rule) {
		if (++m->strikes >= STRIKES) {
			char why[128];

			snprintf(why, sizeof(why), "nickname rules violated %u times (last: %s)", m->strikes, rule);
			logf_("closing %s (%s): %s", m->nick, m->wpub, why);
			kicked++;
			rw_session_close(s, RW_CLOSE_LOCAL, why);
			return;
		}
		say(s, EV_ERROR, "/nick %s: %s (warning %u of %d)", name, rule, m->strikes, STRIKES - 1);
		return;
	}
	say(s, EV_INFO, "you are now %s", m->nick);
	presence_changed();
	if (m->ready)
		notice(m->room, rooms[m->room].name, "%s is now known as %s", old, m->nick);
	logf_("%s is now known as %s", old, m->nick);
}

static void help(struct rw_session *s)
{
	say(s, EV_INFO, "commands: /join ROOM, /leave, /who, /nick NAME, /rooms, /help, /quit (ends the "
			"client); anything else is said in your room");
}

/* Make a line safe to show on a terminal: control characters become '?'. */
static void sanitize(char *t)
{
	for (; *t; t++)
		if ((unsigned char)*t < 0x20 || *t == 0x7f)
			*t = '?';
}

static void on_line(struct rw_session *s, struct member *m, char *line)
{
	char *cmd, *arg;

	m->last_ms = now_ms();
	if (line[0] != '/') {
		uint8_t buf[NICK_MAX + 1 + TEXT_MAX];
		size_t nl = strlen(m->nick), tl = strlen(line);

		if (!tl)
			return;
		if (!m->room) {
			say(s, EV_ERROR, "you are in no room: /join ROOM first (/rooms lists them)");
			return;
		}
		if (tl > TEXT_MAX) {
			say(s, EV_ERROR, "that line is %zu bytes; at most %d fit in a message", tl, TEXT_MAX);
			return;
		}
		memcpy(buf, m->nick, nl + 1);
		memcpy(buf + nl + 1, line, tl);
		rw_server_broadcast(srv, (uint8_t)m->room, EV_MSG, buf, nl + 1 + tl);
		remote_send(rooms[m->room].name, 'M', (const char *)buf, nl + 1 + tl, "", 0);
		messages++;
		return;
	}
	/* the command, then the whole rest of the line: "/nick a b" is a bad name, not "a" */
	cmd = line;
	arg = line + strcspn(line, " \t");
	if (*arg)
		*arg++ = 0;
	arg += strspn(arg, " \t");
	for (size_t n = strlen(arg); n && (arg[n - 1] == ' ' || arg[n - 1] == '\t'); n--)
		arg[n - 1] = 0;
	if (!strcmp(cmd, "/join") && *arg)
		join(s, m, arg[0] == '#' ? arg + 1 : arg);
	else if (!strcmp(cmd, "/join"))
		say(s, EV_ERROR, "/join needs a room name: /join lobby");
	else if (!strcmp(cmd, "/leave") && m->room)
		leave(s, m, NULL, 1);
	else if (!strcmp(cmd, "/leave"))
		say(s, EV_ERROR, "you are in no room to leave");
	else if (!strcmp(cmd, "/who"))
		who(s, m);
	else if (!strcmp(cmd, "/nick") && *arg)
		nick(s, m, arg);
	else if (!strcmp(cmd, "/nick"))
		say(s, EV_ERROR, "/nick needs a name: /nick alice");
	else if (!strcmp(cmd, "/rooms"))
		list_rooms(s);
	else if (!strcmp(cmd, "/help"))
		help(s);
	else
		say(s, EV_ERROR, "unknown command %s; /help lists them", cmd);
}

/* ---- callbacks -------------------------------------------------------------------- */

static void on_open(struct rw_session *s, void *user)
{
	struct member *m = calloc(1, sizeof(*m));
	char wpub[RW_WPUB_LEN + 1], addr[64] = "?";

	(void)user;
	if (!m) {
		rw_session_close(s, RW_CLOSE_LOCAL, "server out of memory");
		return;
	}
	m->id = rw_session_id(s);
	rw_session_peer_wpub(s, wpub);
	snprintf(m->wpub, sizeof(m->wpub), "%.*s", SHORT_WPUB, wpub);
	rw_session_peer_addr_str(s, addr, sizeof(addr));
	m->last_ms = now_ms();
	pthread_mutex_lock(&lock);
	do
		snprintf(m->nick, sizeof(m->nick), "guest%u", ++guests);
	while (nick_taken(m->nick, m));
	m->next = members;
	if (members)
		members->prev = m;
	members = m;
	online++;
	pthread_mutex_unlock(&lock);
	rw_session_set_user(s, m);
	presence_changed();
	if (idle_s)
		rw_session_set_tick(s, idle_s < 4 ? 250 : 1000);
	logf_("%s connected (%s from %s)", m->nick, m->wpub, addr);
	say(s, EV_INFO, "welcome, you are %s; /help lists the commands", m->nick);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct member *m = rw_session_user(s);

	(void)user;
	if (!m)
		return;
	/* at shutdown the other reactors are stopping too: no farewells to broadcast */
	if (!(why->reason == RW_CLOSE_SHUTDOWN && !why->by_peer))
		leave(s, m, why->message[0] ? why->message : rw_close_reason_name(why->reason), 0);
	pthread_mutex_lock(&lock);
	if (m->prev)
		m->prev->next = m->next;
	else
		members = m->next;
	if (m->next)
		m->next->prev = m->prev;
	online--;
	pthread_mutex_unlock(&lock);
	presence_changed();
	logf_("%s disconnected (%s%s)", m->nick, why->by_peer ? "by the client: " : "",
	      why->message[0] ? why->message : rw_close_reason_name(why->reason));
	rw_session_set_user(s, NULL);
	if (m == busy)
		m->closed = 1;	/* the callback under way frees it */
	else
		free(m);
}

/* The end of a callback that used m: free it if its session closed meanwhile. */
static void done_with(struct member *m)
{
	busy = NULL;
	if (m->closed)
		free(m);
}

static void on_tick(struct rw_session *s, void *user)
{
	struct member *m = rw_session_user(s);
	char why[64];

	(void)user;
	if (!m || now_ms() - m->last_ms < idle_s * 1000ull)
		return;
	snprintf(why, sizeof(why), "idle for more than %u s", idle_s);
	logf_("closing %s (%s): %s", m->nick, m->wpub, why);
	kicked++;
	rw_session_close(s, RW_CLOSE_LOCAL, why);
}

static void on_control(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len,
		       void *user)
{
	struct member *m = rw_session_user(s);
	char line[TEXT_MAX + 64];

	(void)channel;
	(void)user;
	if (!m || type != EV_LINE)
		return;
	if (len >= sizeof(line)) {
		say(s, EV_ERROR, "that line is %zu bytes; at most %d fit in a message", len, TEXT_MAX);
		return;
	}
	memcpy(line, p, len);
	line[len] = 0;
	line[strcspn(line, "\r\n")] = 0;
	sanitize(line);
	busy = m;
	on_line(s, m, line);
	done_with(m);
}

static void on_room(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct member *m = rw_session_user(s);

	(void)p;
	(void)len;
	(void)user;
	/* a READY for a room left meanwhile is stale: ignore it */
	if (!m || type != EV_READY || channel != m->room || m->ready)
		return;
	rw_session_subscribe(s, channel);
	m->ready = 1;
	busy = m;
	presence_changed();
	notice(channel, rooms[channel].name, "%s joined", m->nick);	/* to us as well: a send that may close us */
	done_with(m);
}

#ifdef RW_HAVE_NATS
/* Another server's room message or presence, on a libnats thread. */
static void from_nats(const char *topic, const uint8_t *p, size_t len, void *user)
{
	(void)user;
	if (!strcmp(topic, "presence")) {
		/* "ID\n" then "nick\troom\n" lines */
		const uint8_t *nl = memchr(p, '\n', len);
		char id[17];
		char *list;
		int slot = -1;
		uint64_t now = now_ms();

		if (!nl || nl - p != 16 || memchr(p, 0, len))
			return;
		memcpy(id, p, 16);
		id[16] = 0;
		if (!strcmp(id, server_id) || !(list = strndup((const char *)nl + 1, len - 17)))
			return;
		/* only well-formed lines: every line has a tab and ends in a newline */
		for (const char *l = list; *l; l = strchr(l, '\n') + 1)
			if (!strchr(l, '\n') || !memchr(l, '\t', (size_t)(strchr(l, '\n') - l))) {
				free(list);
				return;
			}
		pthread_mutex_lock(&lock);
		for (int i = 0; i < REMOTES_MAX; i++)
			if (remotes[i].list && !strcmp(remotes[i].id, id))
				slot = i;
		for (int i = 0; i < REMOTES_MAX && slot < 0; i++)
			if (!remotes[i].list || remotes[i].expires_ms < now)
				slot = i;
		if (slot >= 0) {
			free(remotes[slot].list);
			memcpy(remotes[slot].id, id, sizeof(id));
			remotes[slot].list = list;
			remotes[slot].expires_ms = now + PRESENCE_TTL_MS;
			list = NULL;
		}
		pthread_mutex_unlock(&lock);
		free(list);
		return;
	}
	if (!strncmp(topic, "r/", 2) && len >= 1) {
		int ch = 0;

		pthread_mutex_lock(&lock);
		for (int c = CH_ROOM_FIRST; c <= CH_ROOM_LAST && !ch; c++)
			if (!strcmp(rooms[c].name, topic + 2))
				ch = c;
		pthread_mutex_unlock(&lock);
		/* rw_server_broadcast is thread-safe and never blocks: the room's members here, once */
		if (ch && p[0] == 'M' && memchr(p + 1, 0, len - 1))
			rw_server_broadcast(srv, (uint8_t)ch, EV_MSG, p + 1, len - 1);
		else if (ch && p[0] == 'N')
			rw_server_broadcast(srv, (uint8_t)ch, EV_NOTICE, p + 1, len - 1);
	}
}

/* Announce who is here: at every beat, and at once after a change. */
static void *presence_loop(void *arg)
{
	size_t cap = 64 * 1024;
	char *buf = malloc(cap);

	(void)arg;
	pthread_mutex_lock(&presence_lock);
	while (buf) {
		struct timespec until;
		size_t len;
		int stop;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += PRESENCE_MS / 1000;
		while (!presence_dirty && !presence_stop &&
		       pthread_cond_timedwait(&presence_cond, &presence_lock, &until) == 0)
			;
		presence_dirty = 0;
		stop = presence_stop;
		pthread_mutex_unlock(&presence_lock);
		len = (size_t)snprintf(buf, cap, "%s\n", server_id);
		pthread_mutex_lock(&lock);
		for (struct member *m = stop ? NULL : members; m; m = m->next)
			if (len + NICK_MAX + ROOM_MAX + 3 < cap)
				len += (size_t)snprintf(buf + len, cap - len, "%s\t%s\n", m->nick,
							m->room ? rooms[m->room].name : "");
		pthread_mutex_unlock(&lock);
		nb_publish(bridge, "presence", buf, len);	/* at exit: an empty list, gone at once */
		pthread_mutex_lock(&presence_lock);
		if (stop)
			break;
	}
	pthread_mutex_unlock(&presence_lock);
	free(buf);
	return NULL;
}
#endif

/* ---- main ------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --listen HOST:PORT --key FILE [--reactors N] [--idle S] [--allow FILE]\n"
		   "       [--metrics HOST:PORT] [--log-format logfmt|json] [--log-level LEVEL] [--quiet]\n"
		   "       [--nats nats://HOST:PORT [--nats-prefix P]]\n");
	sample_usage_common(&sm, f);
	fprintf(f, "  --idle S              close sessions silent for S seconds (default 600, 0: never)\n"
		   "  --nats URL            join other chat servers through a NATS server, e.g. nats://127.0.0.1:4222:\n"
		   "                        rooms span them, /who lists everyone, nicknames are unique across them\n"
		   "  --nats-prefix P       NATS subject prefix (default ringwire.chat)\n"
		   "Connect with: ringwire-chat URI --nick NAME\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "idle", required_argument, NULL, 'i' }, { "nats", required_argument, NULL, 'N' },
		{ "nats-prefix", required_argument, NULL, 'P' }, { NULL, 0, NULL, 0 },
	};
	struct rw_handler ctl = { .on_open = on_open, .on_close = on_close, .on_tick = on_tick,
				  .on_event = on_control, .flags = RW_CHANNEL_RELIABLE };
	/* no flags: a room channel turns reliable when the client's READY does */
	struct rw_handler room = { .on_event = on_room, .window = 128 };
	struct rw_server_config cfg;
	struct rw_stats st;
	char err[RW_ERRBUF_SIZE];
	const char *nats_url = NULL, *nats_prefix = "ringwire.chat";
	unsigned long v;
	int c, ret;
#ifdef RW_HAVE_NATS
	pthread_t presence;
	sigset_t sigs;
#endif

	rw_server_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_SERVER, usage);
	while ((c = sample_getopt(&sm, argc, argv, "i:N:P:", opts)) != -1) {
		switch (c) {
		case SAMPLE_EXIT:
			return sm.exit_code;
		case 'N':
			if (strncmp(optarg, "nats://", 7) || !optarg[7]) {
				fprintf(stderr, PROG ": --nats %s: expected nats://HOST:PORT, e.g. --nats nats://127.0.0.1:4222\n",
					optarg);
				return 2;
			}
			nats_url = optarg;
			break;
		case 'P':
#ifdef RW_HAVE_NATS
			if (nb_prefix_check(optarg, err, sizeof(err))) {
				fprintf(stderr, PROG ": %s\n", err);
				return 2;
			}
#endif
			nats_prefix = optarg;
			break;
		case 'i':
			if (sample_number(&sm, "--idle", optarg, 0, 86400 * 7, &v))
				return sm.exit_code;
			idle_s = (unsigned)v;
			break;
		}
	}
	if (sample_no_args(&sm, argc, argv))
		return sm.exit_code;
#ifndef RW_HAVE_NATS
	if (nats_url) {
		fprintf(stderr, PROG ": --nats: this build has no NATS support; install libnats-dev and rebuild\n");
		return 2;
	}
	(void)nats_prefix;
	(void)err;
#endif
	if (nats_url && !cfg.timers.keepalive_ms)
		cfg.timers.keepalive_ms = 1000;	/* a client failing over between servers hears us every second */
	if (sample_server_create(&sm, &cfg, &srv))
		return sm.exit_code;
	rw_server_on(srv, CH_CTL, &ctl);
	rw_server_on(srv, RW_CHANNEL_ANY, &room);
#ifdef RW_HAVE_NATS
	if (nats_url) {
		uint8_t rnd[8];

		/* this server's id in presence announcements: random, so a restart is a new server */
		FILE *f = fopen("/dev/urandom", "rb");

		if (!f || fread(rnd, 1, sizeof(rnd), f) != sizeof(rnd)) {
			fprintf(stderr, PROG ": cannot read /dev/urandom\n");
			return 1;
		}
		fclose(f);
		for (int i = 0; i < 8; i++)
			snprintf(server_id + 2 * i, 3, "%02x", rnd[i]);
		/* the NATS library's threads and ours must not take the signals rw_server_run waits for */
		sample_block_signals(&sigs);
		if (nb_open(&bridge, nats_url, nats_prefix, NULL, PROG, from_nats, NULL, err, sizeof(err))) {
			fprintf(stderr, PROG ": %s\n", err);
			rw_server_destroy(srv);
			return 1;
		}
		nb_subscribe(bridge, "presence");
		if (pthread_create(&presence, NULL, presence_loop, NULL)) {
			fprintf(stderr, PROG ": cannot start the presence thread\n");
			return 1;
		}
	}
#endif
	ret = sample_server_run(&sm, srv);
	rw_server_stats(srv, &st);
	printf("sessions opened %" PRIu64 ", messages %" PRIu64 ", sessions closed by the server %" PRIu64
	       ", events in %" PRIu64 " out %" PRIu64 ", retransmits %" PRIu64 "\n",
	       st.sessions_opened, (uint64_t)messages, (uint64_t)kicked, st.events_in, st.events_out,
	       st.retransmits);
#ifdef RW_HAVE_NATS
	if (bridge) {
		pthread_mutex_lock(&presence_lock);
		presence_stop = 1;
		pthread_cond_signal(&presence_cond);
		pthread_mutex_unlock(&presence_lock);
		pthread_join(presence, NULL);
		nb_close(bridge);
		for (int i = 0; i < REMOTES_MAX; i++)
			free(remotes[i].list);
	}
#endif
	rw_server_destroy(srv);
	return ret ? 1 : 0;
}
