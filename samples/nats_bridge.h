/* SPDX-License-Identifier: MIT */
/*
 * nats_bridge.h - several ringwire brokers joined through a NATS server,
 * shared by the samples that take --nats (pubsub broker, chat server).
 *
 * A topic (or chat room) maps to one NATS subject, PREFIX.t.HEX, where HEX
 * is the topic's bytes in lower-case hex: one token of [0-9a-f], so no topic
 * can carry a wildcard ('*', '>'), an extra token ('.'), white space or
 * another prefix onto the subject. The connection has no-echo set: a broker
 * never gets back what it published, so its local subscribers get a message
 * exactly once (from the local fan-out) and other brokers once (from NATS).
 *
 * Threads: libnats runs the message callback on its own threads. Publishing
 * never blocks the caller (a reactor): messages go into a bounded queue that
 * a publisher thread of the bridge hands to libnats; a full queue drops and
 * counts. Connection loss is left to libnats's own reconnect (forever, the
 * subscriptions re-established by it), logged once per outage.
 */
#ifndef NATS_BRIDGE_H
#define NATS_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

enum { NB_PREFIX_MAX = 64, NB_SUBJECT_MAX = NB_PREFIX_MAX + 3 + 2 * 255 + 1, NB_MSGID_MAX = 64 };

struct nb;

/* A message from another broker: topic (NUL-terminated) and body. Runs on a libnats thread. */
typedef void (*nb_deliver_fn)(const char *topic, const uint8_t *body, size_t len, void *user);

struct nb_stats {
	uint64_t published;	/* handed to NATS */
	uint64_t received;	/* from NATS, handed to nb_deliver_fn */
	uint64_t dropped;	/* publish queue full, or NATS refused it */
	uint64_t slow_consumer;	/* NATS slow-consumer events (our subscription fell behind) */
	uint64_t outages;	/* connection lost (each logged once) */
};

/*
 * A prefix: tokens of letters, digits, '_' and '-' separated by single '.';
 * 1..NB_PREFIX_MAX characters. 0, or -EINVAL with a message in err.
 */
int nb_prefix_check(const char *prefix, char *err, size_t errlen);

/* The subject of topic (len bytes, any bytes) under prefix; its length, or -ENOSPC. */
int nb_subject(char *out, size_t cap, const char *prefix, const uint8_t *topic, size_t len);
/* The same for a reliable topic: PREFIX.r.HEX, a namespace of its own. */
int nb_rsubject(char *out, size_t cap, const char *prefix, const uint8_t *topic, size_t len);

/*
 * Connect (retried in the background if the server is not up yet). 0 or a
 * negative errno, message in err. stream (may be NULL): the JetStream stream
 * that backs reliable topics (subjects PREFIX.r.HEX), created if missing.
 */
int nb_open(struct nb **out, const char *url, const char *prefix, const char *stream, const char *who,
	    nb_deliver_fn fn, void *user, char *err, size_t errlen);

/*
 * Reliable topics (JetStream). nb_rpublish queues body with a de-duplication
 * id (Nats-Msg-Id): a copy published twice under one id is stored once.
 * nb_rsubscribe starts, on the bridge's thread, an ordered consumer of the
 * topic from stream sequence from_seq + 1 (0: what is published from now
 * on); each message goes to fn with its stream sequence, on the
 * subscription's own libnats thread, which fn may hold up (backpressure: the
 * stream keeps the rest). nb_rclose stops it; fn is not called after
 * release(closure) ran, which the bridge calls once, off the caller's thread.
 */
typedef void (*nb_rdeliver_fn)(void *closure, const char *topic, uint64_t seq, const uint8_t *body, size_t len);
struct nb_rsub;
int nb_rpublish(struct nb *b, const char *topic, const void *body, size_t len, const char *msgid);
struct nb_rsub *nb_rsubscribe(struct nb *b, const char *topic, uint64_t from_seq, nb_rdeliver_fn fn,
			      void (*release)(void *closure), void *closure);
void nb_rclose(struct nb *b, struct nb_rsub *r);

/* Subscriptions are counted per topic: the first subscribes on NATS, the last unsubscribes. Any thread. */
int nb_subscribe(struct nb *b, const char *topic);
void nb_unsubscribe(struct nb *b, const char *topic);

/* Queue body for topic's subject; never blocks. 0, or -EAGAIN (queue full: dropped and counted). */
int nb_publish(struct nb *b, const char *topic, const void *body, size_t len);

void nb_stats(struct nb *b, struct nb_stats *st);

/* Flush what is queued (bounded wait), then close. */
void nb_close(struct nb *b);

#endif
