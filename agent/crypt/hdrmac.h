/* SPDX-License-Identifier: MIT */
/*
 * The LUKS2 header's authenticator: for each of pvenc's keyslots an HMAC-SHA-256, keyed
 * from the DEK that opens the keyslot, over the settings that decide what the keyslot
 * unlocks and how the data is encrypted: the UUID, the volume key size, the data
 * segment, and that keyslot's key size, KDF, AF and area. Kept in pvenc's token as
 * "mac": {"<slot>": "<64 hex>"}. The header policy (policy.h) bounds what a header may
 * say; the MAC says it is what pvenc wrote, and only the DEK's holder can make one.
 * The keyslot list is left out, so that rotation's steps (add a keyslot, keep only one)
 * leave every other keyslot's MAC valid.
 */
#ifndef PVENC_CRYPT_HDRMAC_H
#define PVENC_CRYPT_HDRMAC_H

#include <libcryptsetup.h>
#include <stddef.h>
#include <stdint.h>

#define HDRMAC_HEX_LEN 64

/* The MAC of keyslot @slot of the header loaded in @cd, for @dek: 0 and @hex filled. */
int hdrmac_compute(struct crypt_device *cd, int slot, const uint8_t *dek, size_t deklen,
		   char hex[HDRMAC_HEX_LEN + 1]);
/* The same over metadata as crypt_dump_json shows it (the part that reads hostile text). */
int hdrmac_compute_json(const char *json, const char *uuid, int vk, int slot, const uint8_t *dek,
			size_t deklen, char hex[HDRMAC_HEX_LEN + 1]);

#endif
