/* SPDX-License-Identifier: MIT */
/*
 * application/x-www-form-urlencoded values (RFC 3986 unreserved characters kept, every
 * other byte %XX), written into the caller's buffer: the values are bearer tokens and
 * API keys, which the caller keeps in secret memory (libcurl's escape would not).
 */
#ifndef PVENC_UTIL_FORMENC_H
#define PVENC_UTIL_FORMENC_H

#include <stddef.h>

/* @s encoded into @out: 0, or -ENOBUFS when it does not fit in @cap bytes. */
int form_encode(const char *s, char *out, size_t cap);

#endif
