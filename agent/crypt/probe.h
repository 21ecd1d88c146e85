/* SPDX-License-Identifier: MIT */
/* Is an image region empty? Never format over data: libblkid signatures and non-zero
 * bytes in the first MiB both count as data. */
#ifndef PVENC_CRYPT_PROBE_H
#define PVENC_CRYPT_PROBE_H

#include <stddef.h>
#include <stdint.h>

#define PROBE_ZERO_CHECK (1u << 20)

struct probe_result {
	int nonzero; /* first MiB holds non-zero bytes */
	char type[32]; /* blkid TYPE (e.g. ext4, crypto_LUKS), "" if none */
	char usage[32]; /* blkid USAGE (filesystem, crypto, raid, ...) */
};

/* Probes @len bytes read from the start of the image. */
int probe_region(const uint8_t *buf, size_t len, struct probe_result *res);

#endif
