/* SPDX-License-Identifier: MIT */
/*
 * resolver.c - name resolution off the reactor threads (resolver.h): one
 * thread per engine, started on the first request, draining a bounded FIFO
 * with getaddrinfo. A reactor never waits here: it queues a request (a
 * mutex held for a pointer swap) and hears back through a command.
 */
#include "resolver.h"

#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int rw__resolve_now(const char *host, uint16_t port, bool passive, struct rw_peer_addr *out)
{
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV }, *res = NULL;
	char service[8];
	int ret;

	if (passive)
		hints.ai_flags |= AI_PASSIVE;
	snprintf(service, sizeof(service), "%u", port);
	ret = getaddrinfo(host[0] ? host : NULL, service, &hints, &res);
	if (ret || !res)
		return -EHOSTUNREACH;
	rw__peer_set(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

/* Test hook: RW_TEST_RESOLVE_DELAY_MS makes every lookup here that slow (a slow DNS server). */
static void test_delay(void)
{
	const char *v = getenv("RW_TEST_RESOLVE_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;

	if (ms > 0) {
		struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

		while (nanosleep(&ts, &ts) && errno == EINTR)
			;
	}
}

static void *resolver_thread(void *arg)
{
	struct rw_resolver *res = arg;

	pthread_mutex_lock(&res->lock);
	for (;;) {
		struct rw_resolve_req *req;

		while (!res->head && !res->stop)
			pthread_cond_wait(&res->cond, &res->lock);
		if (res->stop)
			break;
		req = res->head;
		res->head = req->next;
		if (!res->head)
			res->tail = &res->head;
		pthread_mutex_unlock(&res->lock);

		test_delay();
		req->ret = rw__resolve_now(req->host, req->port, false, &req->addr);
		req->reply(req);

		pthread_mutex_lock(&res->lock);
		res->pending--;
	}
	pthread_mutex_unlock(&res->lock);
	return NULL;
}

int rw__resolver_init(struct rw_resolver *res)
{
	memset(res, 0, sizeof(*res));
	res->tail = &res->head;
	if (pthread_mutex_init(&res->lock, NULL))
		return -ENOMEM;
	if (pthread_cond_init(&res->cond, NULL)) {
		pthread_mutex_destroy(&res->lock);
		return -ENOMEM;
	}
	res->ready = true;
	return 0;
}

int rw__resolver_submit(struct rw_resolver *res, struct rw_resolve_req *req)
{
	int ret = 0;

	if (!res->ready)
		return -EAGAIN;
	pthread_mutex_lock(&res->lock);
	if (res->stop || res->pending >= RW_RESOLVER_MAX_PENDING) {
		ret = -EAGAIN;
		goto out;
	}
	if (!res->started) {
		sigset_t all, old;

		/* the thread must not take the process's signals (rw_*_run waits for them) */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		ret = pthread_create(&res->thread, NULL, resolver_thread, res) ? -EAGAIN : 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (ret)
			goto out;
		res->started = true;
	}
	req->next = NULL;
	*res->tail = req;
	res->tail = &req->next;
	res->pending++;
	pthread_cond_signal(&res->cond);
out:
	pthread_mutex_unlock(&res->lock);
	return ret;
}

void rw__resolver_destroy(struct rw_resolver *res)
{
	if (!res->ready)
		return;
	pthread_mutex_lock(&res->lock);
	res->stop = true;
	pthread_cond_signal(&res->cond);
	pthread_mutex_unlock(&res->lock);
	if (res->started)
		pthread_join(res->thread, NULL);
	while (res->head) {
		struct rw_resolve_req *req = res->head;

		res->head = req->next;
		req->ret = -ECANCELED;
		req->reply(req);
	}
	pthread_cond_destroy(&res->cond);
	pthread_mutex_destroy(&res->lock);
	res->ready = false;
}
