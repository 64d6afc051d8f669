/* SPDX-License-Identifier: MIT */
/*
 * resolver.h - name resolution off the reactor threads.
 *
 * Owns: the engine's resolver thread and its queue. getaddrinfo may take
 * seconds; a reactor asks here and keeps serving its other sessions. The
 * answer is handed to req->reply on the resolver thread, which posts it back
 * to the asking reactor as a command. Also the one blocking lookup used
 * before any reactor runs (listen, dial).
 */
#ifndef RW_RESOLVER_H
#define RW_RESOLVER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ringwire.h"
#include "transport.h"

struct rw_resolve_req {
	struct rw_resolve_req *next;
	char host[RW_HOST_MAX + 1];
	uint16_t port;
	/* the answer: ret 0 and addr, or a negative errno */
	int ret;
	struct rw_peer_addr addr;
	/* runs on the resolver thread (or at destroy, with ret -ECANCELED); owns req from then on */
	void (*reply)(struct rw_resolve_req *req);
};

struct rw_resolver {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop, ready;
	unsigned pending;
	struct rw_resolve_req *head, **tail;
};

enum { RW_RESOLVER_MAX_PENDING = 1024 };

int rw__resolver_init(struct rw_resolver *res);
/* Stop and join the thread; requests not yet answered get reply() with -ECANCELED. */
void rw__resolver_destroy(struct rw_resolver *res);
/*
 * Queue a lookup (any thread; the thread starts on first use). On error
 * (-EAGAIN: queue full, or no thread) req is still the caller's.
 */
int rw__resolver_submit(struct rw_resolver *res, struct rw_resolve_req *req);
/* Blocking lookup, for the caller's own thread (never a reactor). */
int rw__resolve_now(const char *host, uint16_t port, bool passive, struct rw_peer_addr *out);

#endif
