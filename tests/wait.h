/* SPDX-License-Identifier: MIT */
/*
 * wait.h - the clock and the polling wait the engine tests share: a test
 * thread waits for a counter the reactors raise, bounded in time.
 */
#ifndef RW_TEST_WAIT_H
#define RW_TEST_WAIT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Until *v reaches want (true) or timeout_ms passes (false), looking every millisecond. */
static inline bool wait_for(atomic_uint *v, unsigned want, unsigned timeout_ms)
{
	uint64_t end = now_ms() + timeout_ms;

	while (atomic_load(v) < want) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

#endif
