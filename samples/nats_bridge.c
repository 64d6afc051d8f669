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

struct qmsg {
	size_t len;
	char *subject;		/* subject, then the body right after its NUL */
};

struct nb {
	natsConnection *nc;
	char prefix[NB_PREFIX_MAX + 1];
	nb_deliver_fn fn;
	void *user;

	pthread_mutex_t subs_lock;	/* the subscriptions; never held across a callback of ours */
	struct nsub *subs;
	struct nsub *dead;		/* unsubscribed; freed at close, as a late callback may still hold one */

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

int nb_subject(char *out, size_t cap, const char *prefix, const uint8_t *topic, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t pl = strlen(prefix), need = pl + 3 + 2 * len + 1;

	if (need > cap || len == 0)
		return len ? -ENOSPC : -EINVAL;
	memcpy(out, prefix, pl);
	memcpy(out + pl, ".t.", 3);
	out += pl + 3;
	for (size_t i = 0; i < len; i++) {
		*out++ = hex[topic[i] >> 4];
		*out++ = hex[topic[i] & 15];
	}
	*out = '\0';
	return (int)(need - 1);
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
		/* may block while libnats flushes a full buffer: on this thread, never a reactor's */
		s = natsConnection_Publish(b->nc, m.subject, m.subject + strlen(m.subject) + 1, (int)m.len);
		if (s == NATS_OK)
			b->published++;
		else
			b->dropped++;
		free(m.subject);
		pthread_mutex_lock(&b->q_lock);
	}
	pthread_mutex_unlock(&b->q_lock);
	return NULL;
}

/* ---- API ---------------------------------------------------------------------------------- */

int nb_open(struct nb **out, const char *url, const char *prefix, const char *who, nb_deliver_fn fn, void *user,
	    char *err, size_t errlen)
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
	pthread_mutex_lock(&b->q_lock);
	if (b->q_count == QUEUE_MAX) {
		pthread_mutex_unlock(&b->q_lock);
		free(m);
		b->dropped++;
		return -EAGAIN;
	}
	b->q[(b->q_head + b->q_count) % QUEUE_MAX] = (struct qmsg){ .len = len, .subject = m };
	b->q_count++;
	pthread_cond_signal(&b->q_cond);
	pthread_mutex_unlock(&b->q_lock);
	return 0;
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
	if (!atomic_load(&b->down))
		natsConnection_FlushTimeout(b->nc, 2000);
	natsConnection_Close(b->nc);
	for (int i = 0; i < 2; i++)
		for (ns = i ? b->dead : b->subs; ns; ns = next) {
			next = ns->next;
			natsSubscription_Destroy(ns->sub);
			free(ns);
		}
	natsConnection_Destroy(b->nc);
	pthread_mutex_destroy(&b->q_lock);
	pthread_cond_destroy(&b->q_cond);
	pthread_mutex_destroy(&b->subs_lock);
	free(b->q);
	free(b);
}
