// SPDX-License-Identifier: MIT
#include "util/secmem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* A header page in front of the data keeps the mapping length; the data starts at a
 * 16-byte aligned offset inside the first page so small secrets cost one page. */
struct secmem_hdr {
	size_t map_len;
	size_t len;
};

#define SECMEM_HDR_SIZE 16

_Static_assert(sizeof(struct secmem_hdr) <= SECMEM_HDR_SIZE, "secmem header too large");

static size_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (size_t)ps : 4096;
}

static struct secmem_hdr *hdr_of(const void *p)
{
	return (struct secmem_hdr *)(void *)((const uint8_t *)p - SECMEM_HDR_SIZE);
}

void *secmem_alloc(size_t len)
{
	size_t ps = page_size(), map_len;
	struct secmem_hdr *h;
	void *m;

	if (len > SIZE_MAX - SECMEM_HDR_SIZE - ps) {
		errno = ENOMEM;
		return NULL;
	}
	map_len = (len + SECMEM_HDR_SIZE + ps - 1) / ps * ps;
	m = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	/* Best effort: without CAP_IPC_LOCK the RLIMIT_MEMLOCK may be small; the key
	 * is still wiped and kept out of core dumps. */
	(void)mlock(m, map_len);
	(void)madvise(m, map_len, MADV_DONTDUMP);
	(void)madvise(m, map_len, MADV_WIPEONFORK);

	h = m;
	h->map_len = map_len;
	h->len = len;
	return (uint8_t *)m + SECMEM_HDR_SIZE;
}

size_t secmem_len(const void *p)
{
	return p ? hdr_of(p)->len : 0;
}

void secmem_free(void *p)
{
	struct secmem_hdr *h;
	size_t map_len;

	if (!p)
		return;
	h = hdr_of(p);
	map_len = h->map_len;
	explicit_bzero(h, map_len);
	(void)munlock(h, map_len);
	(void)munmap(h, map_len);
}

void *secmem_realloc(void *p, size_t len)
{
	void *n = secmem_alloc(len);
	size_t old;

	if (!n)
		return NULL;
	old = secmem_len(p);
	if (p)
		memcpy(n, p, old < len ? old : len);
	secmem_free(p);
	return n;
}

/* CAP_IPC_LOCK in the effective set (bit 14 of CapEff): mlock without a limit. */
static __attribute__((unused)) int can_lock_unlimited(void)
{
	char line[256];
	unsigned long long eff = 0;
	struct rlimit rl;
	FILE *f;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY)
		return 1;
	f = fopen("/proc/self/status", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "CapEff:", 7)) {
			eff = strtoull(line + 7, NULL, 16);
			break;
		}
	(void)fclose(f);
	return !!(eff & (1ULL << 14));
}

int secmem_lock_all(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return -EOPNOTSUPP; /* ASan's shadow memory is terabytes of reservations */
#else
	if (!can_lock_unlimited())
		return -EPERM;
	return mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0 ? -errno : 0;
#endif
}
