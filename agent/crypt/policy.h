/* SPDX-License-Identifier: MIT */
/*
 * What pvenc accepts of a LUKS2 header before it unlocks or activates anything. The
 * header lives in the image, so whoever can write to the pool can rewrite it: a data
 * segment of cipher_null-ecb (both copies, checksums recomputed) still loads and the
 * DEK still unlocks its keyslot, and a keyslot with a KDF cost of days ties up a worker
 * for good. pvenc's own headers must be exactly what it makes; ceph-csi's what
 * ceph-csi's cryptsetup makes. Keyslots an operator added (a break-glass passphrase, a
 * clevis binding) are allowed, and never tried with a DEK.
 */
#ifndef PVENC_CRYPT_POLICY_H
#define PVENC_CRYPT_POLICY_H

#include <libcryptsetup.h>
#include <stddef.h>
#include <stdint.h>

enum luks_origin {
	LUKS_PVENC, /* made by pvenc: 4096-byte sectors at 16 MiB, PBKDF2 keyslots */
	LUKS_CEPHCSI, /* made by ceph-csi (cryptsetup luksFormat with its defaults) */
};

/* pvenc's keyslots use 1000 PBKDF2 iterations; a bound well above that. */
#define LUKS_PVENC_PBKDF2_MAX 10000
/* ceph-csi's: cryptsetup benchmarks the KDF to about 2 s (argon2id, 32 MiB, time cost
 * ~200 measured); the bounds allow ten times that on a slow node and no more. */
#define LUKS_CSI_PBKDF2_MAX	 (1U << 24)
#define LUKS_CSI_ARGON2_COST_MAX (1ULL << 26) /* time cost x memory (KiB) */
#define LUKS_CSI_ARGON2_MEM_MAX	 (1U << 20) /* KiB: cryptsetup's own limit, 1 GiB */
#define LUKS_CSI_ARGON2_CPUS_MAX 4

/* 0 if the header loaded in @cd is one that @origin makes, with *slots the keyslots a
 * DEK may be tried on (bit N: keyslot N); else -EMEDIUMTYPE and @why says what is
 * wrong. A pure read of the loaded metadata: no lock needed. */
int luks_header_policy(struct crypt_device *cd, enum luks_origin origin, uint32_t *slots, char *why,
		       size_t len);
/* The same check of the header's metadata as libcryptsetup shows it (crypt_dump_json)
 * and its volume key size @vk in bytes: the part that reads hostile text, fuzzed. */
int luks_policy_json(const char *json, int vk, enum luks_origin origin, uint32_t *slots, char *why,
		     size_t len);

#endif
