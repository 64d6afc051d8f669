/* SPDX-License-Identifier: MIT */
/* hgrm.c - HdrHistogram's .hgrm percentile table (hgrm.h). */
#include "hgrm.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

/* HdrHistogram's default: 5 lines per halving of the distance to 100% */
enum { TICKS_PER_HALF = 5 };

/* Levels (%) every table has a line at, so a reader finds p99 without interpolating. */
static const double fixed[] = { 50, 90, 99, 99.9, 99.99, 99.999 };

static double next_level(double level)
{
	double ticks = TICKS_PER_HALF * pow(2, floor(log2(100.0 / (100.0 - level))) + 1);
	double next = level + 100.0 / ticks;

	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		if (fixed[i] > level && fixed[i] < next)
			return fixed[i];
	return next;
}

int hgrm_write(const char *path, const double *value, const uint64_t *count, size_t n)
{
	uint64_t total = 0, acc = 0;
	double sum = 0, sq = 0, mean, sd, level = 0, max = 0;
	FILE *f;
	int ret = 0;

	for (size_t i = 0; i < n; i++) {
		total += count[i];
		sum += value[i] * (double)count[i];
		if (count[i])
			max = value[i];
	}
	if (!total)
		return -ENODATA;
	mean = sum / (double)total;
	for (size_t i = 0; i < n; i++)
		sq += (value[i] - mean) * (value[i] - mean) * (double)count[i];
	sd = sqrt(sq / (double)total);
	f = fopen(path, "w");
	if (!f)
		return -errno;
	fprintf(f, "%12s %14s %10s %14s\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
	for (size_t i = 0; i < n && acc < total; i++) {
		if (!count[i])
			continue;
		acc += count[i];
		/* as HdrHistogram: the last value gets one tick line, then the 100% line below */
		while (100.0 * (double)acc / (double)total >= level) {
			fprintf(f, "%12.3f %2.12f %10llu %14.2f\n", value[i], level / 100.0, (unsigned long long)acc,
				1.0 / (1.0 - level / 100.0));
			level = next_level(level);
			if (acc == total)
				break;
		}
	}
	fprintf(f, "%12.3f %2.12f %10llu\n", max, 1.0, (unsigned long long)total);
	fprintf(f, "#[Mean    = %12.3f, StdDeviation   = %12.3f]\n", mean, sd);
	fprintf(f, "#[Max     = %12.3f, Total count    = %12llu]\n", max, (unsigned long long)total);
	if (ferror(f))
		ret = -EIO;
	if (fclose(f) && !ret)
		ret = -errno;
	return ret;
}
