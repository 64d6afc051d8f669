/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pacer.h"

void rw__pacer_init(struct rw_pacer *p, uint64_t rate, uint64_t now_ms)
{
	memset(p, 0, sizeof(*p));
	p->rate = rate;
	p->burst = 2 * rate;
	p->tokens_milli = p->burst * 1000;	/* a new session may burst at once */
	p->last_ms = now_ms;
	/* a second of traffic may wait; beyond that the application is told to slow down */
	p->limit = rate > 65536 ? rate : 65536;
}

void rw__pacer_destroy(struct rw_pacer *p)
{
	while (p->head) {
		struct rw_pacer_pkt *k = p->head;

		p->head = k->next;
		free(k);
	}
	p->tail = NULL;
	p->queued = 0;
}

static void refill(struct rw_pacer *p, uint64_t now_ms)
{
	if (now_ms > p->last_ms) {
		p->tokens_milli += (now_ms - p->last_ms) * p->rate;
		if (p->tokens_milli > p->burst * 1000)
			p->tokens_milli = p->burst * 1000;
	}
	p->last_ms = now_ms;
}

bool rw__pacer_admit(struct rw_pacer *p, size_t cost, uint64_t now_ms)
{
	if (!p->rate)
		return true;
	if (p->head)
		return false;
	refill(p, now_ms);
	if (p->tokens_milli < cost * 1000)
		return false;
	p->tokens_milli -= cost * 1000;
	return true;
}

int rw__pacer_enqueue(struct rw_pacer *p, uint8_t type, const uint8_t *plain, size_t len, size_t cost)
{
	struct rw_pacer_pkt *k = malloc(sizeof(*k) + len);

	if (!k)
		return -ENOMEM;
	k->next = NULL;
	k->len = len;
	k->cost = cost;
	k->type = type;
	memcpy(k->plain, plain, len);
	if (p->tail)
		p->tail->next = k;
	else
		p->head = k;
	p->tail = k;
	p->queued += len;
	return 0;
}

struct rw_pacer_pkt *rw__pacer_pop(struct rw_pacer *p, uint64_t now_ms)
{
	struct rw_pacer_pkt *k = p->head;

	if (!k)
		return NULL;
	refill(p, now_ms);
	/* a packet larger than the whole bucket still goes once the bucket is full */
	if (p->tokens_milli < k->cost * 1000 && p->tokens_milli < p->burst * 1000)
		return NULL;
	p->tokens_milli = p->tokens_milli > k->cost * 1000 ? p->tokens_milli - k->cost * 1000 : 0;
	p->head = k->next;
	if (!p->head)
		p->tail = NULL;
	p->queued -= k->len;
	return k;
}

uint64_t rw__pacer_wait_ms(struct rw_pacer *p, uint64_t now_ms)
{
	uint64_t need;

	if (!p->head)
		return 0;
	refill(p, now_ms);
	need = p->head->cost * 1000;
	if (need > p->burst * 1000)
		need = p->burst * 1000;
	if (p->tokens_milli >= need)
		return 0;
	return (need - p->tokens_milli + p->rate - 1) / p->rate;
}
