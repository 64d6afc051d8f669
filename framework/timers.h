/* SPDX-License-Identifier: MIT */
/*
 * timers.h - a session's named timer hooks (timers.c), in the manner of
 * WireGuard's timers.c. The engine registers rw__session_timer_fns; a
 * session's timers fire into these and nothing else.
 */
#ifndef RW_TIMERS_H
#define RW_TIMERS_H

#include "shard.h"

extern const struct rw_session_timer_fns rw__session_timer_fns;

#endif
