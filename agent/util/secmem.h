/* SPDX-License-Identifier: MIT */
/*
 * Memory for secrets (DEKs, tokens, passphrases): page-backed, mlock-ed, excluded from
 * core dumps, and wiped with explicit_bzero before it is returned to the system.
 */
#ifndef PVENC_UTIL_SECMEM_H
#define PVENC_UTIL_SECMEM_H

#include <stddef.h>

#include "util/macro.h"

/* Zeroed secret buffer of @len bytes, or NULL with errno set. */
void *secmem_alloc(size_t len);
/* Usable length of a secmem buffer. */
size_t secmem_len(const void *p);
/* Wipe and release; NULL is fine. */
void secmem_free(void *p);
/* Grow or shrink, copying and wiping the old buffer; NULL with errno on failure
 * (the old buffer is then untouched). */
void *secmem_realloc(void *p, size_t len);

/* Keys also pass through memory pvenc does not own: libcurl's and OpenSSL's buffers,
 * json-c's reallocations. This keeps every page of the process out of swap, each from
 * its first use (mlockall with MCL_ONFAULT), where CAP_IPC_LOCK or an unlimited
 * RLIMIT_MEMLOCK allows it (a limit would make later allocations fail). 0 or -errno. */
int secmem_lock_all(void);

static inline void secmem_freep(void *p)
{
	secmem_free(*(void **)p);
}
#define _cleanup_secmem_ _cleanup_(secmem_freep)

#endif
