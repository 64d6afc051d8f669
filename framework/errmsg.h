/* SPDX-License-Identifier: MIT */
/*
 * errmsg.h - the one-line error messages of the public API: functions that
 * take (char *err, size_t errlen) fill it with what went wrong and how to
 * fix it, and return the negative errno.
 */
#ifndef RW_ERRMSG_H
#define RW_ERRMSG_H

#include <stddef.h>

/* Format into err (when given) and return ret. */
int rw__errf(char *err, size_t errlen, int ret, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
