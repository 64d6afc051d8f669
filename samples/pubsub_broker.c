/* SPDX-License-Identifier: MIT */
/*
 * ringwire-pubsub-broker - topics, subscribers and fan-out across reactors;
 * ringwire-pubsub is its client.
 *
 *   ringwire-pubsub-broker --listen HOST:PORT --key FILE [--reactors N]
 *                          [--queue N] [--flush-ms MS] [the standard server options]
 *                          [--nats nats://HOST:PORT [--nats-prefix P]]
 *
 * --nats joins brokers through a NATS server (samples/nats_bridge.h): a
 * message published on one reaches the subscribers of every broker on that
 * server once, in each publisher's order. Each topic is one subject,
 * PREFIX.t.HEX(topic). Brokers started with the same key file are one
 * identity: a client given "wire://wpub1...@a:9000,b:9000" fails over
 * between them (ringwire-pubsub re-subscribes).
 *
 * Everything goes over channel 1, reliable both ways:
 *
 *   client: 1 SUB    topic
 *           2 UNSUB  topic
 *           3 PUB    topic, NUL, message
 *           5 PING   anything; answered by PONG with the same bytes once
 *                    everything sent before it has been handled (a
 *                    publisher knows its messages are in, a subscriber
 *                    that its subscriptions are)
 *           8 RSUB   u64 LE last sequence seen (0: none), topic   (--nats)
 *           9 RPUB   u64 LE publisher id, u64 LE message number, topic, NUL,
 *                    message                                      (--nats)
 *   broker: 4 DELIVER topic, NUL, message
 *           6 PONG
 *           7 ERROR  text
 *          10 RDELIVER u64 LE stream sequence, topic, NUL, message
 *
 * Reliable topics (RSUB/RPUB, with --nats) live in a JetStream stream
 * (--nats-stream): RPUB stores the message under a de-duplication id
 * (Nats-Msg-Id: the publisher's id and number, so a copy sent again after a
 * failover is stored once), every RSUB gets an ordered consumer of its own starting
 * after the sequence the client names, so a client failing over to another
 * broker of the same identity resumes where it was, without loss or
 * duplicate. A full subscriber queue holds its consumer back (the stream
 * keeps the rest) instead of dropping. Plain topics (SUB/PUB) go over core
 * NATS, at most once: a full queue drops the oldest, counted.
 *
 * Backpressure, not unbounded queues: a delivery that meets a full window
 * (rw_session_send says -EAGAIN) waits in that subscriber's queue of at most
 * --queue messages (default 1024), flushed from on_writable; beyond that the
 * oldest is dropped and counted. Each subscriber's counts are logged when it
 * leaves, and the totals when the broker stops.
 *
 * Fan-out: the publisher's reactor walks the topic's subscribers. One on the
 * same reactor gets the message at once; one on another reactor finds it in
 * its queue, which its own session tick flushes every --flush-ms (default
 * 2), because a session can only be sent to from its own thread and the
 * engine has no way to wake another reactor for us. (rw_server_send would
 * cross over, but it cannot tell us about -EAGAIN there: the message would
 * be lost uncounted.) So between two ticks a subscriber on another reactor
 * takes at most --queue messages; a publisher faster than that sees the
 * oldest dropped. A message is stored once and shared by reference between
 * the queues.
 *
 * The first line on stdout is a wire:// URI a client on this machine can
 * dial (for a wildcard --listen, 0.0.0.0 or [::], the loopback address);
 * for a wildcard, one line per local interface address follows it.
 * SIGINT or SIGTERM stops it gracefully.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ringwire.h>

#include "common.h"

#ifdef RW_HAVE_NATS
#include "nats_bridge.h"
#else
struct nb;	/* built without libnats: --nats says so */
#endif

#define PROG "ringwire-pubsub-broker"

enum {
	CH = 1,
	EV_SUB = 1, EV_UNSUB = 2, EV_PUB = 3, EV_DELIVER = 4, EV_PING = 5, EV_PONG = 6, EV_ERROR = 7,
	EV_RSUB = 8, EV_RPUB = 9, EV_RDELIVER = 10, RSUBS_MAX = 16,
	TOPIC_MAX = 255, NBUCKETS = 1024, SHORT_WPUB = 13,
};

/* A published message, shared by every queue it waits in. */
struct msg {
	atomic_uint refs;
	uint8_t type;		/* EV_DELIVER, or EV_RDELIVER (a reliable topic's, with its sequence) */
	size_t len;
	uint8_t data[];		/* topic, NUL, message: the PUB payload as is (RDELIVER: u64 sequence first) */
};

/*
 * A subscriber (every session has one). Its memory is counted: the session
 * holds a reference until on_close, and so does every fan-out walking it,
 * because a fan-out on another reactor may still hold it when it closes.
 * No lock is ever held across rw_session_send: a send can close the session
 * and run on_close at once, which takes the locks itself.
 */
struct sub {
	struct rw_session *s;	/* owner thread only; NULL once closed */
	pthread_t owner;
	char wpub[SHORT_WPUB + 1];
	unsigned ntopics;	/* owner thread only */
	struct nb_rsub *rsubs[RSUBS_MAX];	/* reliable topics (--nats): owner thread only */
	unsigned nrsubs;
	atomic_uint refs;
	/* the queue, dead and the counts: publishers on any thread push */
	pthread_mutex_t lock;
	int dead;		/* set on the owner thread only */
	struct msg **q;
	unsigned head, count;
	uint64_t delivered, stalls, dropped;
};

struct topic {
	struct topic *next;
	struct sub **subs;
	unsigned n, cap;
	char name[];
};

/* Topics: publishers read (any number at once), SUB and UNSUB write. */
static pthread_rwlock_t topics_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct topic *buckets[NBUCKETS];

static unsigned qcap = 1024, flush_ms = 2;
static struct sample sm;
static struct nb *bridge;	/* --nats: other brokers' topics */
static _Atomic uint64_t published, unrouted, t_delivered, t_stalls, t_dropped;

/* ---- messages and queues ---------------------------------------------------------- */

static void msg_put(struct msg *m)
{
	if (atomic_fetch_sub(&m->refs, 1) == 1)
		free(m);
}

static void sub_put(struct sub *b)
{
	if (atomic_fetch_sub(&b->refs, 1) != 1)
		return;
	t_delivered += b->delivered;
	t_stalls += b->stalls;
	t_dropped += b->dropped;
	if (!sm.quiet && (b->delivered || b->dropped))
		fprintf(stderr, "pubsub: %s left: delivered %" PRIu64 ", window full %" PRIu64 " time%s, dropped %" PRIu64
				"\n",
			b->wpub, b->delivered, b->stalls, b->stalls == 1 ? "" : "s", b->dropped);
	pthread_mutex_destroy(&b->lock);
	free(b->q);
	free(b);
}

/* Called with the sub's lock held: append, dropping the oldest if full. */
static void push(struct sub *b, struct msg *m)
{
	if (b->count == qcap) {
		msg_put(b->q[b->head]);
		b->head = (b->head + 1) % qcap;
		b->count--;
		b->dropped++;
	}
	atomic_fetch_add(&m->refs, 1);
	b->q[(b->head + b->count) % qcap] = m;
	b->count++;
}

/*
 * On the subscriber's thread: send what waits, until the window is full.
 * Returns what still waits, or -1 if the session closed meanwhile (b may
 * be gone then).
 */
static int drain(struct sub *b)
{
	int left;

	atomic_fetch_add(&b->refs, 1);	/* a send may close the session: b stays ours till the end */
	for (;;) {
		struct msg *m;
		int ret;

		pthread_mutex_lock(&b->lock);
		if (b->dead || !b->count) {
			left = b->dead ? -1 : 0;
			pthread_mutex_unlock(&b->lock);
			break;
		}
		m = b->q[b->head];
		b->head = (b->head + 1) % qcap;
		b->count--;
		pthread_mutex_unlock(&b->lock);

		ret = rw_session_send(b->s, CH, m->type, m->data, m->len);

		pthread_mutex_lock(&b->lock);
		if (ret == -EAGAIN && !b->dead && b->count < qcap) {
			/* back at the head; on_writable comes back for it */
			b->head = (b->head + qcap - 1) % qcap;
			b->q[b->head] = m;
			b->count++;
			b->stalls++;
			left = (int)b->count;
			pthread_mutex_unlock(&b->lock);
			break;
		}
		if (ret)
			b->dropped++;	/* closed, or the queue refilled while m was out: m is the oldest */
		else
			b->delivered++;
		pthread_mutex_unlock(&b->lock);
		msg_put(m);
	}
	sub_put(b);
	return left;
}

/* On the publisher's thread: hand m to one subscriber (the caller holds a reference to b). */
static void deliver(struct sub *b, struct msg *m)
{
	/* same reactor and nothing ahead of it: straight out (b->s and dead change only on this thread) */
	if (pthread_equal(b->owner, pthread_self())) {
		int direct, ret;

		pthread_mutex_lock(&b->lock);
		direct = !b->dead && !b->count;
		pthread_mutex_unlock(&b->lock);
		if (direct) {
			ret = rw_session_send(b->s, CH, m->type, m->data, m->len);
			pthread_mutex_lock(&b->lock);
			if (ret == -EAGAIN && !b->dead) {
				b->stalls++;
				push(b, m);
			} else if (ret) {
				b->dropped++;
			} else {
				b->delivered++;
			}
			pthread_mutex_unlock(&b->lock);
			return;
		}
	}
	pthread_mutex_lock(&b->lock);
	if (!b->dead)
		push(b, m);
	pthread_mutex_unlock(&b->lock);
}

/* ---- NATS (--nats): the same topics on every broker ------------------------------------------- */

#ifdef RW_HAVE_NATS
static void bridge_sub(const char *topic)
{
	if (bridge && nb_subscribe(bridge, topic))
		fprintf(stderr, "pubsub: cannot subscribe to topic on NATS; other brokers' messages will not arrive\n");
}

static void bridge_unsub(const char *topic)
{
	if (bridge)
		nb_unsubscribe(bridge, topic);
}

static void bridge_pub(const uint8_t *data, size_t len)
{
	size_t tl = strlen((const char *)data);

	/* never blocks: a full queue drops and counts (nb_stats) */
	if (bridge)
		nb_publish(bridge, (const char *)data, data + tl + 1, len - tl - 1);
}
#else
static void bridge_sub(const char *topic)
{
	(void)topic;
}

static void bridge_unsub(const char *topic)
{
	(void)topic;
}

static void bridge_pub(const uint8_t *data, size_t len)
{
	(void)data;
	(void)len;
}
#endif

/* ---- topics ------------------------------------------------------------------------- */

static unsigned hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s)
		h = (h ^ (uint8_t)*s++) * 16777619u;
	return h % NBUCKETS;
}

static struct topic *topic_find(const char *name, struct topic ***link)
{
	struct topic **pp = &buckets[hash(name)];

	for (; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name))
			break;
	if (link)
		*link = pp;
	return *pp;
}

/* 1 added, 0 already there, -ENOMEM. */
static int topic_add(const char *name, struct sub *b)
{
	struct topic **link, *t;
	int ret = 1;

	pthread_rwlock_wrlock(&topics_lock);
	t = topic_find(name, &link);
	if (!t) {
		t = calloc(1, sizeof(*t) + strlen(name) + 1);
		if (!t) {
			ret = -ENOMEM;
			goto out;
		}
		strcpy(t->name, name);
		*link = t;
	}
	for (unsigned i = 0; i < t->n; i++)
		if (t->subs[i] == b) {
			ret = 0;
			goto out;
		}
	if (t->n == t->cap) {
		unsigned cap = t->cap ? t->cap * 2 : 4;
		struct sub **ns = realloc(t->subs, cap * sizeof(*ns));

		if (!ns) {
			ret = -ENOMEM;
			goto out;
		}
		t->subs = ns;
		t->cap = cap;
	}
	t->subs[t->n++] = b;
out:
	pthread_rwlock_unlock(&topics_lock);
	return ret;
}

/* Remove b from t; called with the write lock. Frees an emptied topic. 1 if b was there. */
static int topic_drop(struct topic **link, struct sub *b)
{
	struct topic *t = *link;
	int found = 0;

	for (unsigned i = 0; i < t->n; i++)
		if (t->subs[i] == b) {
			t->subs[i] = t->subs[--t->n];
			found = 1;
			break;
		}
	if (!t->n) {
		*link = t->next;
		free(t->subs);
		free(t);
	}
	return found;
}

static int topic_remove(const char *name, struct sub *b)
{
	struct topic **link;
	int found = 0;

	pthread_rwlock_wrlock(&topics_lock);
	if (topic_find(name, &link))
		found = topic_drop(link, b);
	pthread_rwlock_unlock(&topics_lock);
	return found;
}

static void topic_remove_all(struct sub *b)
{
	char **gone = NULL;
	unsigned ngone = 0, cap = 0;

	pthread_rwlock_wrlock(&topics_lock);
	for (unsigned i = 0; i < NBUCKETS; i++) {
		struct topic **link = &buckets[i];

		while (*link) {
			struct topic *t = *link;
			char *name = bridge ? strdup(t->name) : NULL;
			int found = topic_drop(link, b);

			/* the NATS side is told after the lock: it takes its own */
			if (found && name && (ngone < cap || (gone = realloc(gone, (cap = cap * 2 + 8) * sizeof(*gone))))) {
				gone[ngone++] = name;
				name = NULL;
			}
			free(name);
			if (*link == t)
				link = &t->next;	/* still there: next one */
		}
	}
	pthread_rwlock_unlock(&topics_lock);
	for (unsigned i = 0; i < ngone; i++) {
		bridge_unsub(gone[i]);
		free(gone[i]);
	}
	free(gone);
}

/* ---- callbacks ---------------------------------------------------------------------------- */

static void refuse(struct rw_session *s, const char *text)
{
	rw_session_send(s, CH, EV_ERROR, text, strlen(text));
}

static void on_open(struct rw_session *s, void *user)
{
	struct sub *b = calloc(1, sizeof(*b));
	char wpub[RW_WPUB_LEN + 1];

	(void)user;
	if (!b || !(b->q = calloc(qcap, sizeof(*b->q)))) {
		free(b);
		rw_session_close(s, RW_CLOSE_LOCAL, "broker out of memory");
		return;
	}
	b->s = s;
	b->owner = pthread_self();
	atomic_init(&b->refs, 1);
	pthread_mutex_init(&b->lock, NULL);
	rw_session_peer_wpub(s, wpub);
	snprintf(b->wpub, sizeof(b->wpub), "%.*s", SHORT_WPUB, wpub);
	rw_session_set_user(s, b);
}

static void on_close(struct rw_session *s, const struct rw_close_info *why, void *user)
{
	struct sub *b = rw_session_user(s);

	(void)why;
	(void)user;
	if (!b)
		return;
	/* out of every topic: no new fan-out finds b; those under way hold references */
	topic_remove_all(b);
	pthread_mutex_lock(&b->lock);
	b->dead = 1;	/* a stream callback waiting for room gives up */
	b->s = NULL;
	while (b->count) {
		msg_put(b->q[b->head]);
		b->head = (b->head + 1) % qcap;
		b->count--;
		b->dropped++;
	}
	pthread_mutex_unlock(&b->lock);
#ifdef RW_HAVE_NATS
	for (unsigned i = 0; i < b->nrsubs; i++)
		nb_rclose(bridge, b->rsubs[i]);
#endif
	rw_session_set_user(s, NULL);
	sub_put(b);
}

static void on_tick(struct rw_session *s, void *user)
{
	struct sub *b = rw_session_user(s);

	(void)user;
	if (!b)
		return;
	/* unsubscribed from everything, and flushed: the tick has no more to do */
	if (drain(b) == 0 && !b->ntopics && !b->nrsubs)
		rw_session_set_tick(s, 0);
}

static void on_writable(struct rw_session *s, uint8_t channel, void *user)
{
	struct sub *b = rw_session_user(s);

	(void)channel;
	(void)user;
	if (b)
		drain(b);
}

static int fanout(struct msg *m);

static void publish(struct rw_session *s, const uint8_t *p, size_t len)
{
	const uint8_t *nul = memchr(p, 0, len);
	struct msg *m;

	if (!nul || nul == p || nul - p > TOPIC_MAX) {
		refuse(s, "PUB payload is topic (1-255 bytes), NUL, message");
		return;
	}
	m = malloc(sizeof(*m) + len);
	if (!m) {
		refuse(s, "broker out of memory: message dropped");
		return;
	}
	atomic_init(&m->refs, 1);
	m->type = EV_DELIVER;
	m->len = len;
	memcpy(m->data, p, len);
	published++;
	/* other brokers first: its place in the NATS queue fixes this publisher's order there */
	bridge_pub(m->data, m->len);
	if (fanout(m) < 0)
		refuse(s, "broker out of memory: message dropped");
	msg_put(m);
}

/*
 * Hand m to every local subscriber of its topic, on any thread (a
 * publisher's reactor, or a NATS thread for another broker's message).
 * Returns the subscribers reached, or -ENOMEM.
 */
static int fanout(struct msg *m)
{
	struct sub *local[64], **subs = local;
	struct topic *t;
	unsigned n = 0;

	/* take the subscribers out under the lock; send after it (a send may close a session) */
	pthread_rwlock_rdlock(&topics_lock);
	t = topic_find((const char *)m->data, NULL);
	if (t && t->n > sizeof(local) / sizeof(local[0]))
		subs = malloc(t->n * sizeof(*subs));
	if (t && subs) {
		for (n = 0; n < t->n; n++) {
			subs[n] = t->subs[n];
			atomic_fetch_add(&subs[n]->refs, 1);
		}
	}
	pthread_rwlock_unlock(&topics_lock);
	if (!t)
		unrouted++;
	else if (!subs)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		deliver(subs[i], m);
		sub_put(subs[i]);
	}
	if (subs != local)
		free(subs);
	return (int)n;
}

#ifdef RW_HAVE_NATS
/* Another broker's message, on a libnats thread: to our subscribers only (never back to NATS). */
static void from_nats(const char *topic, const uint8_t *body, size_t len, void *user)
{
	size_t tl = strlen(topic);
	struct msg *m = malloc(sizeof(*m) + tl + 1 + len);

	(void)user;
	if (!m) {
		t_dropped++;
		return;
	}
	atomic_init(&m->refs, 1);
	m->type = EV_DELIVER;
	m->len = tl + 1 + len;
	memcpy(m->data, topic, tl + 1);
	memcpy(m->data + tl + 1, body, len);
	if (fanout(m) < 0)
		t_dropped++;
	msg_put(m);
}

/*
 * A reliable topic's message for one subscriber, on its JetStream
 * subscription's own libnats thread. A full queue holds this thread up (and
 * so this subscription only; the stream keeps the rest): backpressure, no
 * drop. The subscriber's tick flushes the queue.
 */
static void from_stream(void *closure, const char *topic, uint64_t seq, const uint8_t *body, size_t len)
{
	struct sub *b = closure;
	size_t tl = strlen(topic);
	struct msg *m = malloc(sizeof(*m) + 8 + tl + 1 + len);

	if (!m)
		return;	/* the subscriber sees a gap in the sequence and can resubscribe from its last */
	atomic_init(&m->refs, 1);
	m->type = EV_RDELIVER;
	m->len = 8 + tl + 1 + len;
	for (int i = 0; i < 8; i++)
		m->data[i] = (uint8_t)(seq >> (8 * i));
	memcpy(m->data + 8, topic, tl + 1);
	memcpy(m->data + 8 + tl + 1, body, len);
	for (;;) {
		int room;

		pthread_mutex_lock(&b->lock);
		room = b->dead || b->count < qcap;
		if (room && !b->dead)
			push(b, m);
		pthread_mutex_unlock(&b->lock);
		if (room)
			break;
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	msg_put(m);
}

static void stream_release(void *closure)
{
	sub_put(closure);
}

/* RSUB: u64 LE last sequence seen (0: none), then the topic. */
static void rsubscribe(struct rw_session *s, struct sub *b, const uint8_t *p, size_t len)
{
	char topic[TOPIC_MAX + 1];
	uint64_t from = 0;

	if (!bridge) {
		refuse(s, "reliable topics need a broker started with --nats");
		return;
	}
	if (len < 9 || len > 8 + TOPIC_MAX || memchr(p + 8, 0, len - 8)) {
		refuse(s, "RSUB payload is the last sequence seen (8 bytes LE, 0: none) and a topic of 1 to 255 bytes");
		return;
	}
	if (b->nrsubs == RSUBS_MAX) {
		refuse(s, "at most 16 reliable topics per session");
		return;
	}
	for (int i = 7; i >= 0; i--)
		from = from << 8 | p[i];
	memcpy(topic, p + 8, len - 8);
	topic[len - 8] = 0;
	atomic_fetch_add(&b->refs, 1);	/* the stream subscription's, until stream_release */
	b->rsubs[b->nrsubs] = nb_rsubscribe(bridge, topic, from, from_stream, stream_release, b);
	if (!b->rsubs[b->nrsubs]) {
		sub_put(b);
		refuse(s, "broker out of memory: not subscribed");
		return;
	}
	if (b->nrsubs++ == 0 && !b->ntopics)
		rw_session_set_tick(s, flush_ms);
}

/*
 * RPUB: u64 LE publisher id, u64 LE message number, topic, NUL, message,
 * into the stream under the de-duplication id "publisher-number": a
 * publisher that fails over and sends its unconfirmed messages again, to
 * this broker or another, has each stored once.
 */
static void rpublish(struct rw_session *s, const uint8_t *p, size_t len)
{
	const uint8_t *nul = len > 16 ? memchr(p + 16, 0, len - 16) : NULL;
	uint64_t pub = 0, n = 0;
	char id[NB_MSGID_MAX];

	if (!bridge) {
		refuse(s, "reliable topics need a broker started with --nats");
		return;
	}
	if (!nul || nul == p + 16 || nul - (p + 16) > TOPIC_MAX) {
		refuse(s, "RPUB payload is publisher id and message number (8 bytes LE each), topic (1-255 bytes), NUL, "
			  "message");
		return;
	}
	for (int i = 7; i >= 0; i--) {
		pub = pub << 8 | p[i];
		n = n << 8 | p[8 + i];
	}
	snprintf(id, sizeof(id), "%016" PRIx64 "-%" PRIu64, pub, n);
	published++;
	if (nb_rpublish(bridge, (const char *)p + 16, nul + 1, len - (size_t)(nul - p) - 1, id))
		refuse(s, "broker's NATS queue is full: message dropped");
}
#endif

static void on_event(struct rw_session *s, uint8_t channel, uint8_t type, const uint8_t *p, size_t len, void *user)
{
	struct sub *b = rw_session_user(s);
	char topic[TOPIC_MAX + 1];

	(void)channel;
	(void)user;
	if (!b)
		return;
	switch (type) {
	case EV_PUB:
		publish(s, p, len);
		return;
#ifdef RW_HAVE_NATS
	case EV_RSUB:
		rsubscribe(s, b, p, len);
		return;
	case EV_RPUB:
		rpublish(s, p, len);
		return;
#endif
	case EV_PING:
		/* the channel is in order: whatever came before is handled */
		rw_session_send(s, CH, EV_PONG, p, len);
		return;
	case EV_SUB:
	case EV_UNSUB:
		if (!len || len > TOPIC_MAX || memchr(p, 0, len)) {
			refuse(s, "a topic is 1 to 255 bytes, without NUL");
			return;
		}
		memcpy(topic, p, len);
		topic[len] = 0;
		break;
	default:
		refuse(s, "unknown event type: 1 SUB, 2 UNSUB, 3 PUB, 5 PING");
		return;
	}
	if (type == EV_SUB) {
		int ret = topic_add(topic, b);

		if (ret < 0)
			refuse(s, "broker out of memory: not subscribed");
		if (ret > 0)
			bridge_sub(topic);
		if (ret > 0 && ++b->ntopics == 1)
			rw_session_set_tick(s, flush_ms);	/* a subscriber: flush deliveries from other reactors */
	} else if (topic_remove(topic, b)) {
		bridge_unsub(topic);
		b->ntopics--;	/* the tick stops once the queue is empty too */
	}
}

/* ---- main ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " --listen HOST:PORT --key FILE [--reactors N] [--queue N] [--flush-ms MS]\n"
		   "       [--allow FILE] [--metrics HOST:PORT] [--log-format logfmt|json] [--log-level LEVEL] [--quiet]\n"
		   "       [--nats nats://HOST:PORT [--nats-prefix P] [--nats-stream NAME]]\n");
	sample_usage_common(&sm, f);
	fprintf(f, "  --queue N             deliveries waiting per subscriber before the oldest is dropped (default 1024)\n"
		   "  --flush-ms MS         how often a subscriber collects deliveries from other reactors (default 2)\n"
		   "  --nats URL            join other brokers through a NATS server, e.g. nats://127.0.0.1:4222:\n"
		   "                        brokers on one NATS server share their topics\n"
		   "  --nats-prefix P       NATS subject prefix (default ringwire.pubsub); brokers sharing topics use the same\n"
		   "  --nats-stream NAME    JetStream stream of the reliable topics (RSUB/RPUB; default RINGWIRE_PUBSUB)\n"
		   "Clients: ringwire-pubsub URI sub TOPIC... | ringwire-pubsub URI pub TOPIC MESSAGE\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'Q' }, { "flush-ms", required_argument, NULL, 'f' },
		{ "nats", required_argument, NULL, 'N' }, { "nats-prefix", required_argument, NULL, 'P' },
		{ "nats-stream", required_argument, NULL, 'S' }, { NULL, 0, NULL, 0 },
	};
	struct rw_handler h = { .on_open = on_open, .on_close = on_close, .on_event = on_event, .on_tick = on_tick,
				.on_writable = on_writable, .flags = RW_CHANNEL_RELIABLE };
	struct rw_server_config cfg;
	struct rw_server *srv;
	struct rw_stats st;
	char err[RW_ERRBUF_SIZE];
	const char *nats_url = NULL, *nats_prefix = "ringwire.pubsub", *nats_stream = "RINGWIRE_PUBSUB";
	unsigned long v;
	int c, ret;
#ifdef RW_HAVE_NATS
	sigset_t sigs;
#endif

	rw_server_config_init(&cfg);
	sample_init(&sm, PROG, SAMPLE_SERVER, usage);
	while ((c = sample_getopt(&sm, argc, argv, "Q:f:N:P:S:", opts)) != -1) {
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
		case 'S':
			if (!optarg[0] || strlen(optarg) > 32 || strspn(optarg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
									"0123456789_-") != strlen(optarg)) {
				fprintf(stderr, PROG ": --nats-stream %s: a stream name is 1 to 32 letters, digits, '_' or "
					"'-', e.g. RINGWIRE_PUBSUB\n", optarg);
				return 2;
			}
			nats_stream = optarg;
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
		case 'Q':
			if (sample_number(&sm, "--queue", optarg, 1, 1 << 20, &v))
				return sm.exit_code;
			qcap = (unsigned)v;
			break;
		case 'f':
			if (sample_number(&sm, "--flush-ms", optarg, 1, 10000, &v))
				return sm.exit_code;
			flush_ms = (unsigned)v;
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
#endif
	if (sample_server_create(&sm, &cfg, &srv))
		return sm.exit_code;
	rw_server_on(srv, CH, &h);
#ifdef RW_HAVE_NATS
	/* the NATS library's threads must not take the signals rw_server_run waits for */
	if (nats_url)
		sample_block_signals(&sigs);
	if (nats_url && nb_open(&bridge, nats_url, nats_prefix, nats_stream, PROG, from_nats, NULL, err, sizeof(err))) {
		fprintf(stderr, PROG ": %s\n", err);
		rw_server_destroy(srv);
		return 1;
	}
#else
	(void)nats_prefix;
	(void)nats_stream;
	(void)err;
#endif
	ret = sample_server_run(&sm, srv);
	rw_server_stats(srv, &st);
	printf("published %" PRIu64 " (%" PRIu64 " to no subscriber), delivered %" PRIu64 ", window full %" PRIu64
	       " times, dropped %" PRIu64 "\n",
	       (uint64_t)published, (uint64_t)unrouted, (uint64_t)t_delivered, (uint64_t)t_stalls,
	       (uint64_t)t_dropped);
	printf("sessions opened %" PRIu64 ", events in %" PRIu64 " out %" PRIu64 ", retransmits %" PRIu64 "\n",
	       st.sessions_opened, st.events_in, st.events_out, st.retransmits);
#ifdef RW_HAVE_NATS
	if (bridge) {
		struct nb_stats ns;

		/* the reactors are stopped: no publisher remains, so closing cannot race one */
		nb_stats(bridge, &ns);
		nb_close(bridge);
		printf("nats: published %" PRIu64 ", received %" PRIu64 ", dropped %" PRIu64 ", slow consumer %" PRIu64
		       ", outages %" PRIu64 "\n",
		       ns.published, ns.received, ns.dropped, ns.slow_consumer, ns.outages);
	}
#endif
	rw_server_destroy(srv);
	return ret ? 1 : 0;
}
