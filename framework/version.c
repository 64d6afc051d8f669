/* SPDX-License-Identifier: MIT */
/* version.c - the version of the library that is loaded, as opposed to the header compiled against. */
#include "ringwire.h"

_Static_assert(RW_VERSION_MAJOR >= 0 && RW_VERSION_MINOR >= 0 && RW_VERSION_PATCH >= 0, "version numbers");

const char *rw_version(void)
{
	return RW_VERSION_STRING;
}
