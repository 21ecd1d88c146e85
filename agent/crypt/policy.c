// SPDX-License-Identifier: MIT
/* The LUKS2 header as hostile input: checked against what pvenc (or ceph-csi) makes,
 * from libcryptsetup's own parse of it (crypt_dump_json), before any unlock. */
#include "crypt/policy.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypt/luks.h"

#define LUKS2_KEYSLOTS_MAX 32
#define AF_STRIPES	   4000 /* LUKS's anti-forensic stripes; more only costs time */

static int refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return -EMEDIUMTYPE;
}

static const char *str(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* An integer field, as LUKS2 writes it (a JSON number, or a string for 64-bit ones). */
static int u64(struct json_object *o, const char *key, uint64_t *out)
{
	struct json_object *v;
	const char *s;
	char *end;

	if (!json_object_object_get_ex(o, key, &v))
		return -ENOENT;
	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return -EINVAL;
		*out = (uint64_t)json_object_get_int64(v);
		return 0;
	}
	s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -EINVAL : 0;
}

static int segment_ok(struct json_object *root, enum luks_origin origin, char *why, size_t len)
{
	struct json_object *segs, *seg = NULL, *v;
	const char *enc;
	uint64_t sector = 0, offset = 0;

	/* json-c's length and iteration calls assume the type: every one is checked. */
	if (!json_object_object_get_ex(root, "segments", &segs) ||
	    !json_object_is_type(segs, json_type_object) || json_object_object_length(segs) != 1 ||
	    !json_object_object_get_ex(segs, "0", &seg))
		return refuse(why, len, "it has %d data segments, not one",
			      json_object_is_type(segs, json_type_object)
				      ? json_object_object_length(segs)
				      : 0);
	enc = str(seg, "encryption");
	if (!enc || strcmp(enc, "aes-xts-plain64") != 0)
		return refuse(why, len, "its data segment's cipher is %s, not aes-xts-plain64",
			      enc ? enc : "missing");
	if (!str(seg, "type") || strcmp(str(seg, "type"), "crypt") != 0 || !str(seg, "size") ||
	    strcmp(str(seg, "size"), "dynamic") != 0 ||
	    json_object_object_get_ex(seg, "integrity", &v) ||
	    json_object_object_get_ex(seg, "flags", &v))
		return refuse(why, len,
			      "its data segment is not a plain dm-crypt one (type, size, "
			      "integrity or flags)");
	if (!str(seg, "iv_tweak") || strcmp(str(seg, "iv_tweak"), "0") != 0)
		return refuse(why, len, "its data segment has an IV offset");
	if (u64(seg, "sector_size", &sector) < 0 || u64(seg, "offset", &offset) < 0)
		return refuse(why, len, "its data segment lacks a sector size or offset");
	if (origin == LUKS_PVENC && (sector != LUKS_SECTOR_SIZE || offset != LUKS_HEADER_SIZE))
		return refuse(why, len,
			      "its data segment has %llu-byte sectors at offset %llu, where pvenc "
			      "writes %d-byte sectors at %llu",
			      (unsigned long long)sector, (unsigned long long)offset,
			      LUKS_SECTOR_SIZE, LUKS_HEADER_SIZE);
	if (origin == LUKS_CEPHCSI && ((sector != 512 && sector != 4096) || offset < 4096))
		return refuse(why, len, "its data segment has %llu-byte sectors at offset %llu",
			      (unsigned long long)sector, (unsigned long long)offset);
	return 0;
}

static int no_requirements(struct json_object *root, char *why, size_t len)
{
	struct json_object *cfg, *req, *mand;

	if (json_object_object_get_ex(root, "config", &cfg) &&
	    json_object_object_get_ex(cfg, "requirements", &req) &&
	    json_object_object_get_ex(req, "mandatory", &mand) &&
	    (!json_object_is_type(mand, json_type_array) || json_object_array_length(mand) > 0))
		return refuse(
			why, len,
			"it has mandatory requirements (%s): a reencryption or another tool's "
			"state pvenc did not start",
			json_object_to_json_string_ext(mand, JSON_C_TO_STRING_PLAIN));
	return 0;
}

/* Whether a DEK may be tried on keyslot @ks: its KDF's cost is bounded for @origin. */
static int slot_allowed(struct json_object *ks, enum luks_origin origin)
{
	struct json_object *kdf, *af;
	const char *type, *hash;
	uint64_t key_size = 0, stripes = 0, it = 0, mem = 0, cpus = 0;

	if (!str(ks, "type") || strcmp(str(ks, "type"), "luks2") != 0 ||
	    u64(ks, "key_size", &key_size) < 0 || !json_object_object_get_ex(ks, "kdf", &kdf) ||
	    !json_object_object_get_ex(ks, "af", &af) || u64(af, "stripes", &stripes) < 0 ||
	    stripes > AF_STRIPES)
		return 0;
	type = str(kdf, "type");
	if (!type)
		return 0;
	if (!strcmp(type, "pbkdf2")) {
		hash = str(kdf, "hash");
		if (!hash || (strcmp(hash, "sha256") != 0 && strcmp(hash, "sha512") != 0 &&
			      (origin == LUKS_PVENC || strcmp(hash, "sha1") != 0)))
			return 0;
		if (u64(kdf, "iterations", &it) < 0)
			return 0;
		return origin == LUKS_PVENC ? key_size == 64 && it <= LUKS_PVENC_PBKDF2_MAX
					    : it <= LUKS_CSI_PBKDF2_MAX;
	}
	if (origin == LUKS_CEPHCSI && (!strcmp(type, "argon2id") || !strcmp(type, "argon2i"))) {
		if (u64(kdf, "time", &it) < 0 || u64(kdf, "memory", &mem) < 0 ||
		    u64(kdf, "cpus", &cpus) < 0)
			return 0;
		return mem <= LUKS_CSI_ARGON2_MEM_MAX && cpus <= LUKS_CSI_ARGON2_CPUS_MAX &&
		       it * mem <= LUKS_CSI_ARGON2_COST_MAX;
	}
	return 0;
}

/* pvenc's keyslots: those its "pvenc" token and the recovery key's "pvenc-recovery"
 * token list, or (a header made before the tokens) every keyslot; as a bit mask. */
static uint32_t pvenc_listed(struct json_object *root)
{
	struct json_object *tokens, *slots;
	uint32_t m = 0;
	int found = 0;

	if (!json_object_object_get_ex(root, "tokens", &tokens) ||
	    !json_object_is_type(tokens, json_type_object))
		return UINT32_MAX;
	json_object_object_foreach(tokens, id, tok)
	{
		const char *type = str(tok, "type");

		(void)id;
		if (!type || (strcmp(type, "pvenc") != 0 && strcmp(type, "pvenc-recovery") != 0) ||
		    !json_object_object_get_ex(tok, "keyslots", &slots) ||
		    !json_object_is_type(slots, json_type_array))
			continue;
		found = 1;
		for (size_t i = 0; i < json_object_array_length(slots); i++) {
			const char *s = json_object_get_string(json_object_array_get_idx(slots, i));
			long n = s ? strtol(s, NULL, 10) : -1;

			if (n >= 0 && n < LUKS2_KEYSLOTS_MAX)
				m |= 1U << n;
		}
	}
	return found ? m : UINT32_MAX;
}

int luks_policy_json(const char *json, int vk, enum luks_origin origin, uint32_t *slots, char *why,
		     size_t len)
{
	struct json_object *root, *keyslots;
	uint32_t listed, ok = 0;
	int r;

	*slots = 0;
	root = json_tokener_parse(json);
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return refuse(why, len, "its metadata is not a JSON object");
	}
	r = segment_ok(root, origin, why, len);
	if (r == 0)
		r = no_requirements(root, why, len);
	if (r == 0 && vk != 64 && (origin == LUKS_PVENC || vk != 32))
		r = refuse(why, len, "its volume key has %d bits", vk * 8);
	if (r == 0) {
		listed = origin == LUKS_PVENC ? pvenc_listed(root) : UINT32_MAX;
		if (json_object_object_get_ex(root, "keyslots", &keyslots) &&
		    json_object_is_type(keyslots, json_type_object)) {
			json_object_object_foreach(keyslots, id, ks)
			{
				long n = strtol(id, NULL, 10);

				if (n >= 0 && n < LUKS2_KEYSLOTS_MAX && (listed & (1U << n)) &&
				    json_object_is_type(ks, json_type_object) &&
				    slot_allowed(ks, origin))
					ok |= 1U << n;
			}
		}
		if (!ok)
			r = refuse(why, len,
				   origin == LUKS_PVENC
					   ? "it has no keyslot of pvenc's (PBKDF2-SHA-256/512, at "
					     "most 10000 iterations, a 512-bit key)"
					   : "it has no keyslot with a KDF whose cost is within "
					     "cryptsetup's defaults");
	}
	json_object_put(root);
	*slots = r == 0 ? ok : 0;
	return r;
}

int luks_header_policy(struct crypt_device *cd, enum luks_origin origin, uint32_t *slots, char *why,
		       size_t len)
{
	const char *json = NULL;

	*slots = 0;
	if (crypt_dump_json(cd, &json, 0) < 0 || !json)
		return refuse(why, len, "libcryptsetup cannot show its metadata");
	return luks_policy_json(json, crypt_get_volume_key_size(cd), origin, slots, why, len);
}
