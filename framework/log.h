/* SPDX-License-Identifier: MIT */
/*
 * log.h - structured log records (rw_set_log_fn and friends in ringwire.h)
 * and the per-reactor drop summary that keeps a flood from becoming a log
 * flood: drops are counted per reason and reported once per window, one
 * record per reason seen ("drops" reason=bad_mac1 count=10432 window_s=10).
 */
#ifndef RW_LOG_H
#define RW_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringwire.h"

enum { RW_LOG_LINE_MAX = 1024 };

/* Whether a record of this level would go anywhere (skip building its fields otherwise). */
bool rw__log_enabled(enum rw_log_level level);
/* Hand a record to the installed function, or write it to stderr as one line. */
void rw__log_emit(enum rw_log_level level, const char *msg, const struct rw_log_field *fields, size_t n);

/* Per reactor (owner thread only): no lock, no allocation. */
struct rw__drop_summary {
	uint64_t window_start_ms;
	uint32_t window_ms;
	uint64_t count[RW_DROP__COUNT];
};

void rw__drop_summary_init(struct rw__drop_summary *ds, uint32_t window_ms, uint64_t now_ms);
/*
 * Count one drop. When the window has run out, report it first (one record
 * per reason seen, with the reactor's id) and start a new one. Returns the
 * records emitted.
 */
unsigned rw__drop_summary_add(struct rw__drop_summary *ds, enum rw_drop_reason why, uint64_t now_ms,
			      unsigned reactor);
/* Report the window if it has run out (a housekeeping timer calls this, so a flood that stopped is told). */
unsigned rw__drop_summary_flush(struct rw__drop_summary *ds, uint64_t now_ms, unsigned reactor);

#endif
