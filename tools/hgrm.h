/* SPDX-License-Identifier: MIT */
/*
 * hgrm.h - a latency distribution written as HdrHistogram's percentile
 * table (.hgrm): the "Value Percentile TotalCount 1/(1-Percentile)" lines
 * and the #[Mean ...] / #[Max ...] footer that wrk2 prints and the
 * HdrHistogram plotter reads. Values are in milliseconds, as wrk2's.
 */
#ifndef RW_TOOLS_HGRM_H
#define RW_TOOLS_HGRM_H

#include <stddef.h>
#include <stdint.h>

/*
 * Write path from n steps of the distribution in ascending order: value[i]
 * (ms) is what count[i] observations read as. Lines follow HdrHistogram's
 * percentile ticks (5 per halving of the distance to 100%), with the usual
 * 50, 90, 99, 99.9, 99.99 and 99.999 among them exactly. 0, or a negative
 * errno (nothing observed: -ENODATA).
 */
int hgrm_write(const char *path, const double *value, const uint64_t *count, size_t n);

#endif
