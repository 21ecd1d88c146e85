// SPDX-License-Identifier: MIT
/* LUKS2 headers in memory: built for a new volume, checked against a DEK, keyslots
 * added and removed for rotation. The image's bytes never meet device-mapper here. */
#include "crypt/luks.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libcryptsetup.h>
#include <keyutils.h>
#include <libdevmapper.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "crypt/hdrmac.h"
#include "crypt/libcs.h"
#include "crypt/policy.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"

/* A memfd sized @size, returned with its /proc path for libcryptsetup. */
static int memfd_path(uint64_t size, char *path, size_t len)
{
	int fd = memfd_create("pvenc-luks", MFD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	(void)snprintf(path, len, "/proc/self/fd/%d", fd);
	return fd;
}

/*
 * Which keyslots are pvenc's: a LUKS2 token of type "pvenc" lists them, as clevis and
 * systemd-cryptenroll list theirs. Rotation removes only those; a keyslot or token an
 * operator added (a break-glass passphrase, a clevis binding) is never touched. A
 * header made before the token existed gets it at its next rotation, listing the slot
 * the old DEK opens. With the lock held.
 */
#define PVENC_TOKEN_TYPE "pvenc"
/* The recovery key's keyslot (Documentation/recovery.md) has a token of its own: it is
 * not pvenc's in rotation's sense (rotation keeps it), yet pvenc vouches for its
 * settings with an authenticator as for its own. */
#define RECOVERY_TOKEN_TYPE "pvenc-recovery"
#define LUKS2_TOKENS_MAX    32 /* LUKS2's limit; libcryptsetup does not export it */

static int token_of(struct crypt_device *cd, const char *want)
{
	for (int t = 0; t < LUKS2_TOKENS_MAX; t++) {
		const char *type = NULL;
		crypt_token_info ti = crypt_token_status(cd, t, &type);

		if (ti != CRYPT_TOKEN_INACTIVE && ti != CRYPT_TOKEN_INVALID && type &&
		    strcmp(type, want) == 0)
			return t;
	}
	return -ENOENT;
}

static int pvenc_token(struct crypt_device *cd)
{
	return token_of(cd, PVENC_TOKEN_TYPE);
}

/* Adds @slot to the token of @type, making the token if there is none. */
static int token_add(struct crypt_device *cd, const char *type, int slot)
{
	int t = token_of(cd, type);

	if (t == -ENOENT) {
		char json[96];

		(void)snprintf(json, sizeof(json), "{\"type\":\"%s\",\"keyslots\":[]}", type);
		t = crypt_token_json_set(cd, CRYPT_ANY_TOKEN, json);
		if (t < 0)
			return t;
	}
	if (crypt_token_is_assigned(cd, t, slot) == 0)
		return 0;
	/* It returns the token's id, which is 0 only when the token is the first. */
	t = crypt_token_assign_keyslot(cd, t, slot);
	return t < 0 ? t : 0;
}

/* The token that vouches for @slot: the recovery token if it lists it, else pvenc's. */
static int mac_token(struct crypt_device *cd, int slot)
{
	int t = token_of(cd, RECOVERY_TOKEN_TYPE);

	return t >= 0 && crypt_token_is_assigned(cd, t, slot) == 0 ? t : pvenc_token(cd);
}

/* Keyslot @slot's authenticator for @dek into the token that lists it (crypt/hdrmac.h);
 * the MACs of keyslots that token no longer lists go. 1 if the token changed, 0 if not. */
static int token_set_mac(struct crypt_device *cd, int slot, const uint8_t *dek, size_t deklen)
{
	struct json_object *tok, *old, *macs;
	const char *was = NULL, *now;
	char hex[HDRMAC_HEX_LEN + 1], id[16];
	int t = mac_token(cd, slot), r, changed;

	if (t < 0)
		return t;
	r = hdrmac_compute(cd, slot, dek, deklen, hex);
	if (r < 0)
		return r;
	if (crypt_token_json_get(cd, t, &was) < 0 || !was || !(tok = json_tokener_parse(was)))
		return -EIO;
	macs = json_object_new_object();
	if (!macs) {
		json_object_put(tok);
		return -ENOMEM;
	}
	if (json_object_object_get_ex(tok, "mac", &old) &&
	    json_object_is_type(old, json_type_object)) {
		json_object_object_foreach(old, k, v)
		{
			long n = strtol(k, NULL, 10);

			if (n != slot && n >= 0 && n < LUKS2_TOKENS_MAX &&
			    crypt_token_is_assigned(cd, t, (int)n) == 0)
				json_object_object_add(macs, k, json_object_get(v));
		}
	}
	(void)snprintf(id, sizeof(id), "%d", slot);
	json_object_object_add(macs, id, json_object_new_string(hex));
	json_object_object_add(tok, "mac", macs);
	now = json_object_to_json_string_ext(tok, JSON_C_TO_STRING_PLAIN);
	/* @was is libcryptsetup's and gone once the token is set. */
	changed = strcmp(was, now) != 0;
	r = changed ? crypt_token_json_set(cd, t, now) : 0;
	json_object_put(tok);
	return r < 0 ? r : changed;
}

int luks_mac_check(struct crypt_device *cd, int slot, const uint8_t *dek, size_t deklen,
		   int required, char *why, size_t whylen)
{
	struct json_object *tok = NULL, *macs, *v;
	const char *json = NULL, *stored = NULL;
	char hex[HDRMAC_HEX_LEN + 1], id[16];
	int t = mac_token(cd, slot), r;

	(void)snprintf(id, sizeof(id), "%d", slot);
	if (t >= 0 && crypt_token_json_get(cd, t, &json) >= 0 && json)
		tok = json_tokener_parse(json);
	if (json_object_object_get_ex(tok, "mac", &macs) &&
	    json_object_object_get_ex(macs, id, &v) && json_object_is_type(v, json_type_string))
		stored = json_object_get_string(v);
	if (!stored) {
		json_object_put(tok);
		if (!required)
			return 0;
		(void)snprintf(why, whylen, "it carries no authenticator for keyslot %d", slot);
		return -EMEDIUMTYPE;
	}
	r = hdrmac_compute(cd, slot, dek, deklen, hex);
	if (r == 0 &&
	    (strlen(stored) != HDRMAC_HEX_LEN || CRYPTO_memcmp(stored, hex, HDRMAC_HEX_LEN) != 0)) {
		(void)snprintf(why, whylen,
			       "its authenticator for keyslot %d does not match its settings: "
			       "they were changed after pvenc wrote them",
			       slot);
		r = -EMEDIUMTYPE;
	}
	json_object_put(tok);
	return r;
}

/* Every pvenc keyslot: the DEK is 256 random bits, so PBKDF2 at a fixed, low count
 * (no benchmark) protects it as well as any KDF would, and unlocks fast. */
static const struct crypt_pbkdf_type keyslot_pbkdf = {
	.type = CRYPT_KDF_PBKDF2,
	.hash = LUKS_PBKDF_HASH,
	.iterations = LUKS_PBKDF2_ITERATIONS,
	.flags = CRYPT_PBKDF_NO_BENCHMARK,
};

int luks_build_header(const struct luks_format_opts *o, const uint8_t *dek, size_t deklen,
		      uint8_t **hdr, char *err, size_t errlen)
{
	CS_LOCKED;
	struct crypt_params_luks2 params = {
		.sector_size = LUKS_SECTOR_SIZE,
		.label = o->label,
		.subsystem = "pvenc",
	};
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_free_ uint8_t *buf = NULL;
	char path[64], label[48];
	uint64_t meta = 0, slots = 0, ks_off = 0, ks_len = 0;
	ssize_t n;
	int slot, r;

	cs_init_logging();
	if (o->label) {
		(void)snprintf(label, sizeof(label), "%s", o->label);
		params.label = label;
	}
	/* Room for the header area plus some data so libcryptsetup accepts the device. */
	fd = memfd_path(LUKS_MIN_IMAGE_SIZE, path, sizeof(path));
	if (fd < 0)
		return fd;
	r = crypt_init(&cd, path);
	if (r < 0)
		goto fail;
	(void)crypt_metadata_locking(cd, 0);
	r = crypt_set_pbkdf_type(cd, &keyslot_pbkdf);
	if (r < 0)
		goto fail;
	/* A 4 MiB keyslots area, the data still at 16 MiB: a quarter of the random bytes
	 * drawn and then zeroed again below, which were most of a create's own time. */
	r = crypt_set_metadata_size(cd, 0, LUKS_KEYSLOTS_SIZE);
	if (r == 0)
		r = crypt_set_data_offset(cd, LUKS_HEADER_SIZE / 512);
	if (r < 0)
		goto fail;
	/* The DEK is random: it is the keyslot passphrase; the volume key is generated by
	 * libcryptsetup from the kernel RNG. */
	r = crypt_format(cd, CRYPT_LUKS2, "aes", "xts-plain64", o->uuid, NULL, 64, &params);
	if (r < 0)
		goto fail;
	if (crypt_get_data_offset(cd) * 512 != LUKS_HEADER_SIZE) {
		r = -EINVAL;
		(void)snprintf(err, errlen, "unexpected LUKS2 data offset %llu",
			       (unsigned long long)crypt_get_data_offset(cd) * 512);
		return r;
	}
	r = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, NULL, 0, (const char *)dek, deklen);
	if (r < 0)
		goto fail;
	slot = r;
	r = token_add(cd, PVENC_TOKEN_TYPE, slot);
	if (r == 0)
		r = token_set_mac(cd, slot, dek, deklen);
	if (r < 0)
		goto fail;
	if (crypt_get_metadata_size(cd, &meta, &slots) < 0 ||
	    crypt_keyslot_area(cd, slot, &ks_off, &ks_len) < 0 || ks_off < 2 * meta ||
	    ks_off + ks_len > LUKS_HEADER_SIZE) {
		(void)snprintf(err, errlen, "libcryptsetup gave an unexpected keyslot layout");
		return -EINVAL;
	}
	buf = malloc(LUKS_HEADER_SIZE);
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, LUKS_HEADER_SIZE, 0);
	if (n != (ssize_t)LUKS_HEADER_SIZE)
		return n < 0 ? -errno : -EIO;
	/* libcryptsetup fills the unused keyslot area with random bytes. Zeros there cost
	 * nothing (the JSON says what is in use; key material is encrypted either way)
	 * and let format write only the used part, so a new image stays thin. */
	memset(buf + 2 * meta, 0, ks_off - 2 * meta);
	memset(buf + ks_off + ks_len, 0, LUKS_HEADER_SIZE - ks_off - ks_len);
	*hdr = TAKE_PTR(buf);
	return 0;
fail:
	(void)snprintf(err, errlen, "libcryptsetup could not format the LUKS2 header: %s",
		       strerror(-r));
	return r;
}

/* Tries @dek on the keyslots in @slots only (luks_header_policy): never on an operator's
 * keyslot or a slow one. NULL name: verify without activating (no device-mapper).
 * Returns the keyslot, or -EPERM. */
static int unlock(struct crypt_device *cd, uint32_t slots, const uint8_t *dek, size_t deklen)
{
	for (int s = 0; s < 32; s++)
		if ((slots & (1U << s)) &&
		    crypt_activate_by_passphrase(cd, NULL, s, (const char *)dek, deklen, 0) >= 0)
			return s;
	return -EPERM;
}

/* @hdr (@len bytes) written to a memfd of @size bytes and loaded as LUKS2; @locked: the
 * init takes libcryptsetup's lock (callers that hold it already pass 0). */
static int load_memfd(const uint8_t *hdr, size_t len, uint64_t size, int locked,
		      struct crypt_device **cd, int *fd)
{
	char path[64];
	int r;

	*fd = memfd_path(size, path, sizeof(path));
	if (*fd < 0)
		return *fd;
	if (pwrite(*fd, hdr, len, 0) != (ssize_t)len)
		return -EIO;
	r = locked ? crypt_init_locked(cd, path) : crypt_init(cd, path);
	if (r < 0)
		return r;
	(void)crypt_metadata_locking(*cd, 0);
	return crypt_load(*cd, CRYPT_LUKS2, NULL) < 0 ? -ENODATA : 0;
}

/* Loads a header region (the whole header area, or a prefix holding the JSON areas and
 * the keyslots in use: the rest reads as zeros) from a memfd, without the lock. */
static int load_region(const uint8_t *hdr, size_t len, struct crypt_device **cd, int *fd)
{
	if (len < 4096 || memcmp(hdr, "LUKS\xba\xbe", 6) != 0)
		return -ENODATA;
	return load_memfd(hdr, len, len > LUKS_HEADER_SIZE ? len : LUKS_HEADER_SIZE, 1, cd, fd);
}

int luks_check_header(const uint8_t *hdr, size_t len, const char *uuid, const uint8_t *dek,
		      size_t deklen, int mac_required)
{
	_cleanup_close_ int fd = -1;
	_cleanup_cd_locked_ struct crypt_device *cd = NULL;
	const char *have;
	char why[256];
	uint32_t slots;
	int r;

	r = load_region(hdr, len, &cd, &fd);
	if (r < 0)
		return r;
	have = crypt_get_uuid(cd);
	if (uuid && (!have || strcmp(have, uuid) != 0))
		return -ESTALE;
	r = luks_header_policy(cd, uuid ? LUKS_PVENC : LUKS_CEPHCSI, &slots, why, sizeof(why));
	if (r < 0)
		return r;
	r = unlock(cd, slots, dek, deklen);
	if (r >= 0 && uuid)
		r = luks_mac_check(cd, r, dek, deklen, mac_required, why, sizeof(why));
	return r < 0 ? r : 0;
}

int luks_header_check(const uint8_t *hdr, size_t len, enum luks_origin origin, char *why,
		      size_t whylen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_cd_locked_ struct crypt_device *cd = NULL;
	uint32_t slots;
	int r;

	r = load_region(hdr, len, &cd, &fd);
	return r < 0 ? r : luks_header_policy(cd, origin, &slots, why, whylen);
}

/* ---- keyslots of an in-memory header (rotation) ---- */

/* @hdr (LUKS_HEADER_SIZE bytes) loaded from a memfd; *fd keeps it for the read-back.
 * It must pass luks_header_policy; *slots are the keyslots a DEK may be tried on. */
static int load_mem_header(const uint8_t *hdr, size_t len, struct crypt_device **cd, int *fd,
			   uint32_t *slots)
{
	char why[256];
	int r;

	if (len != LUKS_HEADER_SIZE || memcmp(hdr, "LUKS\xba\xbe", 6) != 0)
		return -ENODATA;
	r = load_memfd(hdr, len, LUKS_MIN_IMAGE_SIZE, 0, cd, fd);
	return r < 0 ? r : luks_header_policy(*cd, LUKS_PVENC, slots, why, sizeof(why));
}

static int store_mem_header(int fd, uint8_t *hdr, size_t len)
{
	ssize_t n = pread(fd, hdr, len, 0);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

int luks_header_keyslot_of(const uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t slots;
	int r;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd, &slots);
	if (r < 0)
		return r;
	return unlock(cd, slots, dek, deklen);
}

/* Before a keyslot's authenticator is written anew: the one it has must match, or the
 * rewrite would vouch for settings someone else changed. */
static int mac_still_good(struct crypt_device *cd, int slot, const uint8_t *dek, size_t deklen)
{
	char why[256];

	return luks_mac_check(cd, slot, dek, deklen, 0, why, sizeof(why));
}

/* The keyslot @dek opens among @slots made the token @type's, its authenticator checked
 * (when it has one) and written: *slot, and 1 if the token changed. -EPERM: @dek opens
 * none. A recovery keyslot is never made pvenc's (rotation would destroy it). */
static int own_slot(struct crypt_device *cd, uint32_t slots, const uint8_t *dek, size_t deklen,
		    const char *type, int *slot)
{
	int t, r;

	*slot = unlock(cd, slots, dek, deklen);
	if (*slot < 0)
		return *slot;
	t = token_of(cd, RECOVERY_TOKEN_TYPE);
	if (t >= 0 && crypt_token_is_assigned(cd, t, *slot) == 0 &&
	    strcmp(type, RECOVERY_TOKEN_TYPE) != 0)
		return -EPERM;
	r = mac_still_good(cd, *slot, dek, deklen);
	if (r == 0)
		r = token_add(cd, type, *slot);
	return r < 0 ? r : token_set_mac(cd, *slot, dek, deklen);
}

/* The recovery key's keyslot, as the recovery token lists it and vouches for it: a
 * keyslot without its authenticator is not one pvenc made, and is not used. */
static int recovery_slot(struct crypt_device *cd, uint32_t slots, const uint8_t *key, size_t keylen)
{
	char why[256];
	int t = token_of(cd, RECOVERY_TOKEN_TYPE), slot, r;

	slot = unlock(cd, slots, key, keylen);
	if (slot < 0 || t < 0 || crypt_token_is_assigned(cd, t, slot) != 0)
		return -EPERM;
	r = luks_mac_check(cd, slot, key, keylen, 1, why, sizeof(why));
	return r < 0 ? r : slot;
}

/* Destroys the recovery keyslots but @keep (-1: all), and the token once it lists none. */
static int drop_recovery(struct crypt_device *cd, int keep)
{
	int t = token_of(cd, RECOVERY_TOKEN_TYPE), n = 0, r;

	if (t < 0)
		return 0;
	for (int slot = 0; slot < crypt_keyslot_max(CRYPT_LUKS2); slot++) {
		if (slot == keep || crypt_token_is_assigned(cd, t, slot) != 0)
			continue;
		r = crypt_keyslot_destroy(cd, slot);
		if (r < 0)
			return r;
		n++;
	}
	if (keep < 0) {
		r = crypt_token_json_set(cd, t, NULL);
		if (r < 0)
			return r;
		n++;
	}
	return n;
}

int luks_header_add_key(uint8_t *hdr, size_t len, const uint8_t *old, const uint8_t *new_key,
			size_t deklen, unsigned flags)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	_cleanup_secmem_ uint8_t *vk = NULL;
	const char *type = flags & LUKS_KEY_TO_RECOVERY ? RECOVERY_TOKEN_TYPE : PVENC_TOKEN_TYPE;
	size_t vklen;
	uint32_t slots;
	int r, slot;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd, &slots);
	if (r < 0)
		return r;
	/* Already there (a resumed rotation): nothing to add. */
	r = own_slot(cd, slots, new_key, deklen, type, &slot);
	if (r == -EPERM) {
		r = crypt_set_pbkdf_type(cd, &keyslot_pbkdf);
		if (r < 0)
			return r;
		/* The slot @old opens is pvenc's: a header older than the token learns it
		 * here. The recovery key's slot stays the recovery token's. The volume key
		 * comes from that slot alone; libcryptsetup's add by passphrase would try
		 * @old on every keyslot, an operator's slow ones too. */
		if (flags & LUKS_KEY_FROM_RECOVERY)
			r = slot = recovery_slot(cd, slots, old, deklen);
		else
			r = own_slot(cd, slots, old, deklen, PVENC_TOKEN_TYPE, &slot);
		if (r < 0)
			return r;
		vk = cs_vk_alloc(cd, &vklen);
		if (!vk)
			return -ENOMEM;
		r = crypt_volume_key_get(cd, slot, (char *)vk, &vklen, (const char *)old, deklen);
		if (r < 0)
			return r == -EPERM || r == -ENOENT ? -EPERM : r;
		slot = crypt_keyslot_add_by_volume_key(cd, CRYPT_ANY_SLOT, (const char *)vk, vklen,
						       (const char *)new_key, deklen);
		if (slot < 0)
			return slot;
		r = token_add(cd, type, slot);
		if (r == 0)
			r = token_set_mac(cd, slot, new_key, deklen);
	}
	/* One recovery key at a time: setting one replaces the one before. */
	if (r >= 0 && (flags & LUKS_KEY_TO_RECOVERY)) {
		r = drop_recovery(cd, slot);
		if (r > 0) /* the MACs of the slots destroyed go too */
			r = token_set_mac(cd, slot, new_key, deklen);
	}
	if (r < 0)
		return r;
	r = store_mem_header(fd, hdr, len);
	return r < 0 ? r : slot;
}

int luks_header_drop_recovery(uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t slots;
	int r, slot, w;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd, &slots);
	if (r < 0)
		return r;
	/* Never without a keyslot of pvenc's that is known to work. */
	slot = unlock(cd, slots, dek, deklen);
	w = token_of(cd, RECOVERY_TOKEN_TYPE);
	if (slot < 0 || (w >= 0 && crypt_token_is_assigned(cd, w, slot) == 0))
		return -EPERM;
	r = drop_recovery(cd, -1);
	if (r > 0 && (w = store_mem_header(fd, hdr, len)) < 0)
		return w;
	return r;
}

int luks_header_keep_only(uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t slots;
	int r, keep, token, removed = 0;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd, &slots);
	if (r < 0)
		return r;
	keep = unlock(cd, slots, dek, deklen);
	if (keep < 0)
		return -EPERM; /* never remove slots without one that is known to work */
	r = mac_still_good(cd, keep, dek, deklen);
	if (r < 0)
		return r;
	token = pvenc_token(cd);
	if (token < 0)
		return 0; /* no record of which slots are pvenc's: remove none */
	for (int slot = 0; slot < crypt_keyslot_max(CRYPT_LUKS2); slot++) {
		crypt_keyslot_info ki = crypt_keyslot_status(cd, slot);

		if (slot == keep || (ki != CRYPT_SLOT_ACTIVE && ki != CRYPT_SLOT_ACTIVE_LAST))
			continue;
		if (crypt_token_is_assigned(cd, token, slot) != 0)
			continue; /* not pvenc's: an operator's slot stays */
		r = crypt_keyslot_destroy(cd, slot);
		if (r < 0)
			return r;
		removed++;
	}
	/* The kept keyslot's MAC (a header from before MACs gets one), the others' gone. */
	r = token_set_mac(cd, keep, dek, deklen);
	if (r < 0)
		return r;
	removed += r;
	if (removed) {
		r = store_mem_header(fd, hdr, len);
		if (r < 0)
			return r;
	}
	return removed;
}

int luks_header_set_mac(uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	uint32_t slots;
	int r, slot;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd, &slots);
	if (r < 0)
		return r;
	r = own_slot(cd, slots, dek, deklen, PVENC_TOKEN_TYPE, &slot);
	if (r > 0) {
		int w = store_mem_header(fd, hdr, len);

		if (w < 0)
			return w;
	}
	return r;
}
