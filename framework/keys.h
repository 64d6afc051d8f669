/* SPDX-License-Identifier: MIT */
/* keys.h - what keys.c shares with the other readers of private files (allowlist.c). */
#ifndef RW_KEYS_H
#define RW_KEYS_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * The ssh rule for a file that says who we are or who may talk to us: a
 * regular file, not accessible by group or others. 0, or a negative errno
 * with a message naming the file and the chmod that fixes it.
 */
int rw__private_file_check(const char *path, const struct stat *st, const char *what, char *err, size_t errlen);

#endif
