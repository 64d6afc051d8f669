/* SPDX-License-Identifier: MIT */
/*
 * nats_bridge.c - see nats_bridge.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

#include "nats_bridge.h"

enum {
	QUEUE_MAX = 65536,		/* messages waiting for the publisher thread */
	PENDING_MSGS = 1 << 20,		/* per subscription, before NATS calls us a slow consumer */
	PENDING_BYTES = 256 << 20,
};

struct nsub {
	struct nsub *next;
	natsSubscription *sub;
	unsigned refs;
	struct nb *b;
	char topic[];
};

enum qkind { Q_CORE, Q_STREAM, Q_RSUB, Q_RCLOSE };

struct qmsg {
	enum qkind kind;
	size_t len;
	char *subject;		/* subject, then the body right after its NUL (Q_STREAM: then the msg id) */
	struct nb_rsub *r;	/* Q_RSUB, Q_RCLOSE */
};

/* A reliable subscription: made and ended on the bridge's thread, in queue order. */
struct nb_rsub {
	struct nb *b;
	struct nb_rsub *next;		/* ended ones, freed at close */
	natsSubscription *sub;
	pthread_mutex_t lock;		/* held across fn: release waits for a running one */
	atomic_bool dead;
	uint64_t from_seq;
	int64_t start_ns;		/* from_seq 0: what the stream got after the request */
	nb_rdeliver_fn fn;
	void (*release)(void *closure);
	void *closure;
	char topic[];
};

struct nb {
	natsConnection *nc;
	jsCtx *js;			/* with a stream: reliable topics */
	char stream[64];
	bool stream_ok;			/* created or found: bridge thread only, after nb_open */
	char prefix[NB_PREFIX_MAX + 1];
	nb_deliver_fn fn;
	void *user;

	pthread_mutex_t subs_lock;	/* the subscriptions; never held across a callback of ours */
	struct nsub *subs;
	struct nsub *dead;		/* unsubscribed; freed at close, as a late callback may still hold one */
	struct nb_rsub *rdead;

	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	struct qmsg *q;
	unsigned q_head, q_count;
	bool stopping;
	pthread_t publisher;

	atomic_bool down;		/* in an outage: logged once */
	_Atomic uint64_t published, received, dropped, slow, outages;
};

int nb_prefix_check(const char *p, char *err, size_t errlen)
{
	size_t n = strlen(p);
	char prev = '.';

	if (n == 0 || n > NB_PREFIX_MAX) {
		snprintf(err, errlen, "--nats-prefix: give 1 to %d characters, e.g. ringwire.pubsub", NB_PREFIX_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			  c == '-' || (c == '.' && prev != '.');

		if (!ok) {
			snprintf(err, errlen, "--nats-prefix %s: only letters, digits, '_', '-' and single '.' between "
				 "tokens (no wildcards), e.g. ringwire.pubsub", p);
			return -EINVAL;
		}
		prev = c;
	}
	if (p[0] == '.' || p[n - 1] == '.') {
		snprintf(err, errlen, "--nats-prefix %s: no '.' at either end, e.g. ringwire.pubsub", p);
		return -EINVAL;
	}
	return 0;
}

static int subject(char *out, size_t cap, const char *prefix, const char *kind, const uint8_t *topic, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t pl = strlen(prefix), need = pl + 3 + 2 * len + 1;

	if (need > cap || len == 0)
		return len ? -ENOSPC : -EINVAL;
	memcpy(out, prefix, pl);
	memcpy(out + pl, kind, 3);
	out += pl + 3;
	for (size_t i = 0; i < len; i++) {
		*out++ = hex[topic[i] >> 4];
		*out++ = hex[topic[i] & 15];
	}
	*out = '\0';
	return (int)(need - 1);
}

int nb_subject(char *out, size_t cap, const char *prefix, const uint8_t *topic, size_t len)
{
	return subject(out, cap, prefix, ".t.", topic, len);
}

int nb_rsubject(char *out, size_t cap, const char *prefix, const uint8_t *topic, size_t len)
{
	return subject(out, cap, prefix, ".r.", topic, len);
}

/* ---- NATS callbacks (libnats threads) ---------------------------------------------------- */

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	struct nsub *ns = closure;

	(void)nc;
	(void)sub;
	ns->b->received++;
	ns->b->fn(ns->topic, (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), ns->b->user);
	natsMsg_Destroy(m);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	struct nb *b = closure;

	(void)nc;
	(void)sub;
	/* counted, and logged at the first one only: a slow consumer repeats per message */
	if (err == NATS_SLOW_CONSUMER) {
		if (b->slow++ == 0)
			fprintf(stderr, "nats: slow consumer: messages from NATS dropped (counted)\n");
		return;
	}
	fprintf(stderr, "nats: %s\n", natsStatus_GetText(err));
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct nb *b = closure;

	(void)nc;
	if (!atomic_exchange(&b->down, true)) {
		b->outages++;
		fprintf(stderr, "nats: connection lost; serving local clients, reconnecting\n");
	}
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct nb *b = closure;

	(void)nc;
	if (atomic_exchange(&b->down, false))
		fprintf(stderr, "nats: reconnected; subscriptions re-established\n");
}

/* ---- reliable subscriptions (JetStream ordered consumers) ------------------------------------ */

static natsStatus rsub_start(struct nb *b, struct nb_rsub *r);
static void rsub_end(struct nb_rsub *r);
static void stream_setup(struct nb *b);

static void on_rmsg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
	struct nb_rsub *r = closure;
	jsMsgMetaData *meta = NULL;

	(void)nc;
	(void)sub;
	pthread_mutex_lock(&r->lock);
	if (!atomic_load(&r->dead) && natsMsg_GetMetaData(&meta, m) == NATS_OK) {
		r->b->received++;
		r->fn(r->closure, r->topic, meta->Sequence.Stream, (const uint8_t *)natsMsg_GetData(m),
		      (size_t)natsMsg_GetDataLength(m));
	}
	pthread_mutex_unlock(&r->lock);
	jsMsgMetaData_Destroy(meta);
	natsMsg_Destroy(m);
}

/* On the bridge's thread: create the consumer (a request to the server: never on a reactor). */
static natsStatus rsub_start(struct nb *b, struct nb_rsub *r)
{
	char subj[NB_SUBJECT_MAX];
	jsSubOptions so;
	natsStatus s;

	if (atomic_load(&r->dead) || !b->js)
		return NATS_OK;
	nb_rsubject(subj, sizeof(subj), b->prefix, (const uint8_t *)r->topic, strlen(r->topic));
	jsSubOptions_Init(&so);
	so.Stream = b->stream;
	so.Ordered = true;	/* ephemeral, in stream order, gaps re-fetched by the library */
	if (r->from_seq) {
		so.Config.DeliverPolicy = js_DeliverByStartSequence;
		so.Config.OptStartSeq = r->from_seq + 1;
	} else {
		so.Config.DeliverPolicy = js_DeliverByStartTime;
		so.Config.OptStartTime = r->start_ns;
	}
	s = js_Subscribe(&r->sub, b->js, subj, on_rmsg, r, NULL, &so, NULL);
	if (s != NATS_OK)
		fprintf(stderr, "nats: cannot start a reliable subscription: %s\n", natsStatus_GetText(s));
	else
		natsSubscription_SetPendingLimits(r->sub, PENDING_MSGS, PENDING_BYTES);
	return s;
}

static void rsub_end(struct nb_rsub *r)
{
	if (r->sub)
		natsSubscription_Unsubscribe(r->sub);
	/* a callback under way finishes first (its fn sees the closure's own dead flag and returns) */
	pthread_mutex_lock(&r->lock);
	r->release(r->closure);
	r->closure = NULL;
	pthread_mutex_unlock(&r->lock);
	/* a message already handed to the callback thread may still come: r stays until close */
	pthread_mutex_lock(&r->b->subs_lock);
	r->next = r->b->rdead;
	r->b->rdead = r;
	pthread_mutex_unlock(&r->b->subs_lock);
}

/* ---- publisher thread ------------------------------------------------------------------- */

static void *publisher(void *arg)
{
	struct nb *b = arg;

	pthread_mutex_lock(&b->q_lock);
	for (;;) {
		struct qmsg m;
		natsStatus s;

		while (!b->q_count && !b->stopping)
			pthread_cond_wait(&b->q_cond, &b->q_lock);
		if (!b->q_count)
			break;
		m = b->q[b->q_head];
		b->q_head = (b->q_head + 1) % QUEUE_MAX;
		b->q_count--;
		pthread_mutex_unlock(&b->q_lock);
		/* NATS was down at start: the stream is made when it is first needed */
		if ((m.kind == Q_STREAM || m.kind == Q_RSUB) && b->js && !b->stream_ok && !atomic_load(&b->down))
			stream_setup(b);
		/* may block while libnats flushes a full buffer: on this thread, never a reactor's */
		switch (m.kind) {
		case Q_CORE:
			s = natsConnection_Publish(b->nc, m.subject, m.subject + strlen(m.subject) + 1, (int)m.len);
			break;
		case Q_STREAM: {
			const char *body = m.subject + strlen(m.subject) + 1;
			jsPubOptions po;

			jsPubOptions_Init(&po);
			po.MsgId = body + m.len;
			/* async: acks are collected by libnats; too many pending makes this wait, here */
			s = b->js ? js_PublishAsync(b->js, m.subject, body, (int)m.len, &po) : NATS_ERR;
			break;
		}
		case Q_RSUB:
			s = rsub_start(b, m.r);
			break;
		case Q_RCLOSE:
			rsub_end(m.r);
			s = NATS_OK;
			break;
		}
		if (m.kind == Q_CORE || m.kind == Q_STREAM) {
			if (s == NATS_OK)
				b->published++;
			else
				b->dropped++;
		}
		free(m.subject);
		pthread_mutex_lock(&b->q_lock);
	}
	pthread_mutex_unlock(&b->q_lock);
	return NULL;
}

/* ---- API ---------------------------------------------------------------------------------- */

/* The stream of reliable topics: created, or found as it is. */
static void stream_setup(struct nb *b)
{
	char subj[NB_PREFIX_MAX + 8];
	const char *subjects[1] = { subj };
	jsStreamConfig sc;
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s;

	snprintf(subj, sizeof(subj), "%s.r.>", b->prefix);
	jsStreamConfig_Init(&sc);
	sc.Name = b->stream;
	sc.Subjects = subjects;
	sc.SubjectsLen = 1;
	sc.Storage = js_FileStorage;
	s = js_AddStream(&si, b->js, &sc, NULL, &jerr);
	if (s == NATS_OK || jerr == JSStreamNameExistErr)
		b->stream_ok = true;
	else if (!atomic_load(&b->down))
		fprintf(stderr, "nats: cannot create stream %s: %s (JetStream on? nats-server -js)\n", b->stream,
			natsStatus_GetText(s));
	jsStreamInfo_Destroy(si);
}

int nb_open(struct nb **out, const char *url, const char *prefix, const char *stream, const char *who,
	    nb_deliver_fn fn, void *user, char *err, size_t errlen)
{
	struct nb *b = calloc(1, sizeof(*b));
	natsOptions *o = NULL;
	natsStatus s;

	if (!b || !(b->q = calloc(QUEUE_MAX, sizeof(*b->q)))) {
		free(b);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(b->prefix, sizeof(b->prefix), "%s", prefix);
	b->fn = fn;
	b->user = user;
	pthread_mutex_init(&b->subs_lock, NULL);
	pthread_mutex_init(&b->q_lock, NULL);
	pthread_cond_init(&b->q_cond, NULL);
	s = natsOptions_Create(&o);
	if (s == NATS_OK)
		s = natsOptions_SetURL(o, url);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, who);
	if (s == NATS_OK)
		s = natsOptions_SetNoEcho(o, true);	/* what we publish, our own subscribers already had */
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, 250);
	if (s == NATS_OK)
		s = natsOptions_SetRetryOnFailedConnect(o, true, NULL, NULL);
	if (s == NATS_OK)
		s = natsOptions_SetErrorHandler(o, on_error, b);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, b);
	if (s == NATS_OK)
		s = natsConnection_Connect(&b->nc, o);
	if (s == NATS_NOT_YET_CONNECTED) {
		/* retried in the background; local clients are served meanwhile */
		fprintf(stderr, "nats: %s not reachable yet; retrying in the background\n", url);
		atomic_store(&b->down, true);
		s = NATS_OK;
	}
	natsOptions_Destroy(o);
	if (s != NATS_OK) {
		snprintf(err, errlen, "--nats %s: %s (expected nats://HOST:PORT)", url, natsStatus_GetText(s));
		goto fail;
	}
	if (stream) {
		snprintf(b->stream, sizeof(b->stream), "%s", stream);
		if (natsConnection_JetStream(&b->js, b->nc, NULL) == NATS_OK && !atomic_load(&b->down))
			stream_setup(b);
	}
	if (pthread_create(&b->publisher, NULL, publisher, b)) {
		snprintf(err, errlen, "cannot start the NATS publisher thread");
		natsConnection_Destroy(b->nc);
		goto fail;
	}
	*out = b;
	return 0;
fail:
	free(b->q);
	free(b);
	return -EINVAL;
}

int nb_subscribe(struct nb *b, const char *topic)
{
	char subject[NB_SUBJECT_MAX];
	struct nsub *ns;
	int ret = 0;

	if (nb_subject(subject, sizeof(subject), b->prefix, (const uint8_t *)topic, strlen(topic)) < 0)
		return -EINVAL;
	pthread_mutex_lock(&b->subs_lock);
	for (ns = b->subs; ns; ns = ns->next)
		if (!strcmp(ns->topic, topic))
			break;
	if (ns) {
		ns->refs++;
		goto out;
	}
	ns = calloc(1, sizeof(*ns) + strlen(topic) + 1);
	if (!ns) {
		ret = -ENOMEM;
		goto out;
	}
	strcpy(ns->topic, topic);
	ns->b = b;
	ns->refs = 1;
	/* libnats only queues the SUB here: no round trip on the caller's thread */
	if (natsConnection_Subscribe(&ns->sub, b->nc, subject, on_msg, ns) != NATS_OK) {
		free(ns);
		ret = -EIO;
		goto out;
	}
	natsSubscription_SetPendingLimits(ns->sub, PENDING_MSGS, PENDING_BYTES);
	ns->next = b->subs;
	b->subs = ns;
out:
	pthread_mutex_unlock(&b->subs_lock);
	return ret;
}

void nb_unsubscribe(struct nb *b, const char *topic)
{
	struct nsub **pp, *ns = NULL;

	pthread_mutex_lock(&b->subs_lock);
	for (pp = &b->subs; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->topic, topic))
			break;
	if (*pp && --(*pp)->refs == 0) {
		ns = *pp;
		*pp = ns->next;
	}
	pthread_mutex_unlock(&b->subs_lock);
	if (ns) {
		natsSubscription_Unsubscribe(ns->sub);
		pthread_mutex_lock(&b->subs_lock);
		ns->next = b->dead;
		b->dead = ns;
		pthread_mutex_unlock(&b->subs_lock);
	}
}

/* Append to the bridge thread's queue; never blocks. */
static int enqueue(struct nb *b, struct qmsg m, bool droppable)
{
	pthread_mutex_lock(&b->q_lock);
	if (b->q_count == QUEUE_MAX && droppable) {
		pthread_mutex_unlock(&b->q_lock);
		free(m.subject);
		b->dropped++;
		return -EAGAIN;
	}
	if (b->q_count == QUEUE_MAX) {
		/* control items (subscriptions) are never dropped: they take the oldest message's place */
		free(b->q[b->q_head].subject);
		b->q_head = (b->q_head + 1) % QUEUE_MAX;
		b->q_count--;
		b->dropped++;
	}
	b->q[(b->q_head + b->q_count) % QUEUE_MAX] = m;
	b->q_count++;
	pthread_cond_signal(&b->q_cond);
	pthread_mutex_unlock(&b->q_lock);
	return 0;
}

int nb_rpublish(struct nb *b, const char *topic, const void *body, size_t len, const char *msgid)
{
	char subj[NB_SUBJECT_MAX];
	int n = nb_rsubject(subj, sizeof(subj), b->prefix, (const uint8_t *)topic, strlen(topic));
	size_t il = strlen(msgid);
	char *m;

	if (n < 0)
		return n;
	m = malloc((size_t)n + 1 + len + il + 1);
	if (!m) {
		b->dropped++;
		return -ENOMEM;
	}
	memcpy(m, subj, (size_t)n + 1);
	memcpy(m + n + 1, body, len);
	memcpy(m + n + 1 + len, msgid, il + 1);
	return enqueue(b, (struct qmsg){ .kind = Q_STREAM, .len = len, .subject = m }, true);
}

struct nb_rsub *nb_rsubscribe(struct nb *b, const char *topic, uint64_t from_seq, nb_rdeliver_fn fn,
			      void (*release)(void *closure), void *closure)
{
	struct nb_rsub *r = calloc(1, sizeof(*r) + strlen(topic) + 1);
	struct timespec ts;

	if (!r)
		return NULL;
	r->b = b;
	pthread_mutex_init(&r->lock, NULL);
	r->from_seq = from_seq;
	clock_gettime(CLOCK_REALTIME, &ts);
	r->start_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
	r->fn = fn;
	r->release = release;
	r->closure = closure;
	strcpy(r->topic, topic);
	enqueue(b, (struct qmsg){ .kind = Q_RSUB, .r = r }, false);
	return r;
}

void nb_rclose(struct nb *b, struct nb_rsub *r)
{
	if (!r)
		return;
	atomic_store(&r->dead, true);
	enqueue(b, (struct qmsg){ .kind = Q_RCLOSE, .r = r }, false);
}

int nb_publish(struct nb *b, const char *topic, const void *body, size_t len)
{
	char subject[NB_SUBJECT_MAX];
	int n = nb_subject(subject, sizeof(subject), b->prefix, (const uint8_t *)topic, strlen(topic));
	char *m;

	if (n < 0)
		return n;
	m = malloc((size_t)n + 1 + len);
	if (!m) {
		b->dropped++;
		return -ENOMEM;
	}
	memcpy(m, subject, (size_t)n + 1);
	memcpy(m + n + 1, body, len);
	return enqueue(b, (struct qmsg){ .kind = Q_CORE, .len = len, .subject = m }, true);
}

void nb_stats(struct nb *b, struct nb_stats *st)
{
	st->published = b->published;
	st->received = b->received;
	st->dropped = b->dropped;
	st->slow_consumer = b->slow;
	st->outages = b->outages;
}

void nb_close(struct nb *b)
{
	struct nsub *ns, *next;

	if (!b)
		return;
	pthread_mutex_lock(&b->q_lock);
	b->stopping = true;
	pthread_cond_signal(&b->q_cond);
	pthread_mutex_unlock(&b->q_lock);
	pthread_join(b->publisher, NULL);
	if (b->js && !atomic_load(&b->down)) {
		jsPubOptions po;

		jsPubOptions_Init(&po);
		po.MaxWait = 2000;
		js_PublishAsyncComplete(b->js, &po);
	}
	if (!atomic_load(&b->down))
		natsConnection_FlushTimeout(b->nc, 2000);
	natsConnection_Close(b->nc);
	for (int i = 0; i < 2; i++)
		for (ns = i ? b->dead : b->subs; ns; ns = next) {
			next = ns->next;
			natsSubscription_Destroy(ns->sub);
			free(ns);
		}
	for (struct nb_rsub *r = b->rdead, *rn; r; r = rn) {
		rn = r->next;
		if (r->sub)
			natsSubscription_Destroy(r->sub);
		pthread_mutex_destroy(&r->lock);
		free(r);
	}
	jsCtx_Destroy(b->js);
	natsConnection_Destroy(b->nc);
	pthread_mutex_destroy(&b->q_lock);
	pthread_cond_destroy(&b->q_cond);
	pthread_mutex_destroy(&b->subs_lock);
	free(b->q);
	free(b);
}
