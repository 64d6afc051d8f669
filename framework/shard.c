/* SPDX-License-Identifier: MIT */
/*
 * shard.c - what every engine file may call on a shard without calling up:
 * counting (and summarised logging of) dropped packets, the engine's log
 * records, a peer address as text, and which shard this thread runs.
 */
#include "shard.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

_Thread_local struct rw_shard *rw__current_shard;

enum { LOG_FIELDS_MAX = 8 };

uint64_t rw__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

bool rw__log_on(const struct rw_engine *e, enum rw_log_level level)
{
	/* quiet silences stderr; a program that installed a log function asked for the records */
	return rw__log_enabled(level) && (!e->quiet || rw__log_has_fn());
}

void rw__log(const struct rw_engine *e, enum rw_log_level level, const char *msg, unsigned nfields, ...)
{
	struct rw_log_field f[LOG_FIELDS_MAX];
	unsigned n = 0;
	va_list ap;

	if (!rw__log_on(e, level))
		return;
	va_start(ap, nfields);
	for (unsigned i = 0; i < nfields; i++) {
		const char *k = va_arg(ap, const char *), *v = va_arg(ap, const char *);

		if (n < LOG_FIELDS_MAX && k)
			f[n++] = (struct rw_log_field){ k, v ? v : "" };
	}
	va_end(ap);
	rw__log_emit(level, msg, f, n);
}

int rw__peer_to_string(char out[RW_ADDR_STR_MAX], const struct rw_peer_addr *p)
{
	return rw__addr_to_string(out, &p->u.sa, p->len);
}

void rw__drop(struct rw_shard *sh, enum rw_drop_reason why, const struct rw_peer_addr *from)
{
	(void)from;
	RW_STAT_INC(sh->st.drops[why]);
	/*
	 * Never a line per packet: the summary counts, and tells each reason
	 * once per window (here when a drop finds the window over, else from
	 * the housekeeping timer), so a flood costs a bounded number of lines.
	 */
	if (rw__log_on(sh->e, RW_LOG_WARN))
		rw__drop_summary_add(&sh->drop_sum, why, rw__now_ms(sh), sh->id);
}
