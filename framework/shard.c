/* SPDX-License-Identifier: MIT */
/*
 * shard.c - what every engine file may call on a shard without calling up:
 * counting (and rate-limited logging of) dropped packets, the engine's log
 * line, a peer address as text, and which shard this thread runs.
 */
#include "shard.h"

#include <stdarg.h>
#include <stdio.h>

_Thread_local struct rw_shard *rw__current_shard;

void rw__log(const struct rw_engine *e, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (e->quiet)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "ringwire: %s\n", line);
}

int rw__peer_to_string(char out[RW_ADDR_STR_MAX], const struct rw_peer_addr *p)
{
	return rw__addr_to_string(out, &p->u.sa, p->len);
}

void rw__drop(struct rw_shard *sh, enum rw_drop_reason why, const struct rw_peer_addr *from)
{
	uint64_t now = rw__now_ms(sh);

	RW_STAT_INC(sh->st.drops[why]);
	/* one line a second per shard at most: a flood must not become a log flood */
	if (now - sh->drop_log_ms < 1000) {
		sh->drop_log_suppressed++;
		return;
	}
	if (!sh->e->quiet) {
		char a[RW_ADDR_STR_MAX] = "?";

		if (from)
			rw__peer_to_string(a, from);
		if (sh->drop_log_suppressed)
			rw__log(sh->e, "dropped a packet from %s: %s (and %u more in the last second)", a,
				rw_drop_reason_name(why), sh->drop_log_suppressed);
		else
			rw__log(sh->e, "dropped a packet from %s: %s", a, rw_drop_reason_name(why));
	}
	sh->drop_log_ms = now;
	sh->drop_log_suppressed = 0;
}
