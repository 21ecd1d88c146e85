// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the LUKS2 header's metadata as pvenc's policy reads it (what
 * libcryptsetup's crypt_dump_json shows of a header a pool writer may have rewritten).
 * Both origins; the verdict must be 0 with keyslots, or -EMEDIUMTYPE with none. The
 * authenticator's reading of the same text (crypt/hdrmac.h) must not fail on it either.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/hdrmac.h"
#include "crypt/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *json = malloc(size + 1), why[256];
	uint32_t slots;

	if (!json)
		return 0;
	memcpy(json, data, size);
	json[size] = '\0';
	for (int origin = LUKS_PVENC; origin <= LUKS_CEPHCSI; origin++)
		for (int vk = 32; vk <= 64; vk += 32) {
			int r = luks_policy_json(json, vk, (enum luks_origin)origin, &slots, why,
						 sizeof(why));

			if ((r == 0) != (slots != 0) || (r != 0 && r != -EMEDIUMTYPE))
				abort();
		}
	{
		static const uint8_t dek[32] = { 1 };
		char hex[HDRMAC_HEX_LEN + 1];

		(void)hdrmac_compute_json(json, "00000000-0000-4000-8000-000000000000", 64, 0, dek,
					  sizeof(dek), hex);
	}
	free(json);
	return 0;
}
