// SPDX-License-Identifier: MIT
#include "crypt/luks.h"

#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <keyutils.h>
#include <libdevmapper.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"

/*
 * libcryptsetup's device-mapper backend keeps process-wide state without locks: a use
 * count whose drop to zero closes libdevmapper's control fd (dm_lib_release), and the
 * context its log callback writes to. Two agent workers opening volumes at once then
 * saw "ioctl failed: Bad file descriptor" and, under load, heap corruption (SIGABRT).
 * Every libcryptsetup and libdevmapper call in pvenc goes through this file, under
 * this lock; the KMS and librbd work before and after stays concurrent.
 */
static pthread_mutex_t cs_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t *cs_lock_take(void)
{
	pthread_mutex_lock(&cs_lock);
	return &cs_lock;
}

static void cs_unlockp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}
/* Declared before any crypt_device so that it is released after crypt_free(). */
#define CS_LOCKED _cleanup_(cs_unlockp) pthread_mutex_t *cs_held_ = cs_lock_take()

static void cd_freep(struct crypt_device **cd)
{
	if (*cd)
		crypt_free(*cd);
}
#define _cleanup_cd_ _cleanup_(cd_freep)

/* Route libcryptsetup's messages to our debug log; it never sees keys in messages. */
static void cs_log(int level, const char *msg, void *usrptr)
{
	char line[512];
	size_t n;

	(void)usrptr;
	(void)snprintf(line, sizeof(line), "%s", msg);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	log_debug("libcryptsetup: %s", line);
	(void)level;
}

static void cs_init_logging(void)
{
	crypt_set_log_callback(NULL, cs_log, NULL);
}

/*
 * Reading a header and unlocking a keyslot need no device-mapper: libcryptsetup
 * decrypts keyslots in userspace (OpenSSL) and only falls back to a temporary dm-crypt
 * mapping where userspace cannot do the cipher, which aes-xts-plain64 never needs. Only
 * crypt_init() and crypt_free() touch the shared state there (the use count above), so
 * those two take the lock and the unlock itself (PBKDF2 and the AF merge, most of an
 * open's CPU) runs in parallel across workers. crypt_init_locked() and
 * cd_free_locked() are that pattern.
 */
static int crypt_init_locked(struct crypt_device **cd, const char *dev)
{
	CS_LOCKED;

	cs_init_logging();
	return crypt_init(cd, dev);
}

static void cd_free_locked(struct crypt_device **cd)
{
	if (*cd) {
		CS_LOCKED;

		crypt_free(*cd);
	}
}
#define _cleanup_cd_locked_ _cleanup_(cd_free_locked)

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
#define LUKS2_TOKENS_MAX 32 /* LUKS2's limit; libcryptsetup does not export it */

static int pvenc_token(struct crypt_device *cd)
{
	for (int t = 0; t < LUKS2_TOKENS_MAX; t++) {
		const char *type = NULL;
		crypt_token_info ti = crypt_token_status(cd, t, &type);

		if (ti != CRYPT_TOKEN_INACTIVE && ti != CRYPT_TOKEN_INVALID && type &&
		    strcmp(type, PVENC_TOKEN_TYPE) == 0)
			return t;
	}
	return -ENOENT;
}

/* Adds @slot to pvenc's token, making the token if there is none. */
static int pvenc_token_add(struct crypt_device *cd, int slot)
{
	int t = pvenc_token(cd);

	if (t == -ENOENT) {
		t = crypt_token_json_set(cd, CRYPT_ANY_TOKEN,
					 "{\"type\":\"" PVENC_TOKEN_TYPE "\",\"keyslots\":[]}");
		if (t < 0)
			return t;
	}
	if (crypt_token_is_assigned(cd, t, slot) == 0)
		return 0;
	return crypt_token_assign_keyslot(cd, t, slot);
}

int luks_build_header(const struct luks_format_opts *o, const uint8_t *dek, size_t deklen,
		      uint8_t **hdr, char *err, size_t errlen)
{
	CS_LOCKED;
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = LUKS_PBKDF_HASH,
		.iterations = LUKS_PBKDF2_ITERATIONS,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
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
	r = crypt_set_pbkdf_type(cd, &pbkdf);
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
	r = pvenc_token_add(cd, slot);
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

int luks_check_header(const uint8_t *hdr, size_t len, const char *uuid, const uint8_t *dek,
		      size_t deklen)
{
	_cleanup_close_ int fd = -1;
	_cleanup_cd_locked_ struct crypt_device *cd = NULL;
	const char *have;
	char path[64];
	int r;

	if (len < 4096 || memcmp(hdr, "LUKS\xba\xbe", 6) != 0)
		return -ENODATA;
	/* A prefix (the JSON areas and the keyslots in use) is enough: the rest of the
	 * header area reads as zeros. */
	fd = memfd_path(len > LUKS_HEADER_SIZE ? len : LUKS_HEADER_SIZE, path, sizeof(path));
	if (fd < 0)
		return fd;
	if (pwrite(fd, hdr, len, 0) != (ssize_t)len)
		return -EIO;
	r = crypt_init_locked(&cd, path);
	if (r < 0)
		return r;
	(void)crypt_metadata_locking(cd, 0);
	if (crypt_load(cd, CRYPT_LUKS2, NULL) < 0)
		return -ENODATA;
	have = crypt_get_uuid(cd);
	if (uuid && (!have || strcmp(have, uuid) != 0))
		return -ESTALE;
	/* NULL name: verify the passphrase without activating (no device-mapper). */
	r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)dek, deklen, 0);
	return r < 0 ? -EPERM : 0;
}

/* ---- keyslots of an in-memory header (rotation) ---- */

/* @hdr (LUKS_HEADER_SIZE bytes) loaded from a memfd; *fd keeps it for the read-back. */
static int load_mem_header(const uint8_t *hdr, size_t len, struct crypt_device **cd, int *fd)
{
	char path[64];
	int r;

	if (len != LUKS_HEADER_SIZE || memcmp(hdr, "LUKS\xba\xbe", 6) != 0)
		return -ENODATA;
	*fd = memfd_path(LUKS_MIN_IMAGE_SIZE, path, sizeof(path));
	if (*fd < 0)
		return *fd;
	if (pwrite(*fd, hdr, len, 0) != (ssize_t)len)
		return -EIO;
	r = crypt_init(cd, path);
	if (r < 0)
		return r;
	(void)crypt_metadata_locking(*cd, 0);
	return crypt_load(*cd, CRYPT_LUKS2, NULL) < 0 ? -ENODATA : 0;
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
	int r;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd);
	if (r < 0)
		return r;
	r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)dek, deklen, 0);
	return r < 0 ? -EPERM : r;
}

int luks_header_add_key(uint8_t *hdr, size_t len, const uint8_t *old, const uint8_t *new_key,
			size_t deklen)
{
	CS_LOCKED;
	struct crypt_pbkdf_type pbkdf = {
		.type = CRYPT_KDF_PBKDF2,
		.hash = LUKS_PBKDF_HASH,
		.iterations = LUKS_PBKDF2_ITERATIONS,
		.flags = CRYPT_PBKDF_NO_BENCHMARK,
	};
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	int r, slot;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd);
	if (r < 0)
		return r;
	/* Already there (a resumed rotation): nothing to add. */
	slot = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)new_key, deklen,
					    0);
	if (slot >= 0) {
		r = pvenc_token_add(cd, slot);
		if (r == 0)
			r = store_mem_header(fd, hdr, len);
		return r < 0 ? r : slot;
	}
	r = crypt_set_pbkdf_type(cd, &pbkdf);
	if (r < 0)
		return r;
	/* The slot @old opens is pvenc's: a header older than the token learns it here. */
	r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)old, deklen, 0);
	if (r < 0)
		return r == -EPERM || r == -ENOENT ? -EPERM : r;
	r = pvenc_token_add(cd, r);
	if (r < 0)
		return r;
	slot = crypt_keyslot_add_by_passphrase(cd, CRYPT_ANY_SLOT, (const char *)old, deklen,
					       (const char *)new_key, deklen);
	if (slot < 0)
		return slot == -EPERM || slot == -ENOENT ? -EPERM : slot;
	r = pvenc_token_add(cd, slot);
	if (r < 0)
		return r;
	r = store_mem_header(fd, hdr, len);
	return r < 0 ? r : slot;
}

int luks_header_keep_only(uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	_cleanup_close_ int fd = -1;
	int r, keep, token, removed = 0;

	cs_init_logging();
	r = load_mem_header(hdr, len, &cd, &fd);
	if (r < 0)
		return r;
	keep = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)dek, deklen, 0);
	if (keep < 0)
		return -EPERM; /* never remove slots without one that is known to work */
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
	if (removed) {
		r = store_mem_header(fd, hdr, len);
		if (r < 0)
			return r;
	}
	return removed;
}

static int remove_stale(const char *name);

static int same_device(const char *a, const char *b)
{
	struct stat sa, sb;

	if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
		return 0;
	return S_ISBLK(sa.st_mode) && S_ISBLK(sb.st_mode) && sa.st_rdev == sb.st_rdev;
}

/* Already active over @dev: 1; over another device: -EEXIST with @err; else 0. */
static int active_over(const char *name, const char *dev, char *err, size_t errlen)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	const char *under;

	cs_init_logging();
	if (remove_stale(name) > 0)
		log_notice("dm=%s event=stale-removed", name);
	if (crypt_init_by_name(&cd, name) < 0 || crypt_status(cd, name) != CRYPT_ACTIVE)
		return 0;
	under = crypt_get_device_name(cd);
	if (under && same_device(under, dev))
		return 1;
	(void)snprintf(err, errlen, "device-mapper name %s is in use over %s, not %s", name,
		       under ? under : "another device", dev);
	return -EEXIST;
}

static int activate(struct crypt_device *cd, const char *name, const uint8_t *vk, size_t vklen,
		    uint32_t cflags)
{
	CS_LOCKED;

	return crypt_activate_by_volume_key(cd, name, (const char *)vk, vklen, cflags);
}

int luks_open(const char *dev, const char *name, const char *uuid, const uint8_t *dek,
	      size_t deklen, unsigned flags, int *already, char *err, size_t errlen)
{
	_cleanup_cd_locked_ struct crypt_device *cd = NULL;
	_cleanup_secmem_ uint8_t *vk = NULL;
	size_t vklen;
	uint32_t cflags = 0;
	const char *have;
	int r;

	*already = 0;
	r = active_over(name, dev, err, errlen);
	if (r != 0) {
		*already = r > 0;
		return r < 0 ? r : 0;
	}
	/* libcryptsetup reports every open() failure as ENOTBLK ("Block device required");
	 * say what it was. A device that cannot be opened now (a device cgroup that
	 * predates rbd.ko, a node not there yet) may be later: EACCES is retried. */
	{
		int fd = open(dev, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			r = -errno;
			(void)snprintf(err, errlen, "cannot open %s: %s", dev, strerror(-r));
			return r == -EPERM ? -EACCES : r;
		}
		(void)close(fd);
	}
	/* Header read and keyslot unlock: no device-mapper, so outside the lock. */
	r = crypt_init_locked(&cd, dev);
	if (r < 0) {
		(void)snprintf(err, errlen, "cannot open %s: %s", dev, strerror(-r));
		return r;
	}
	r = crypt_load(cd, CRYPT_LUKS2, NULL);
	if (r < 0) {
		(void)snprintf(err, errlen, "%s has no valid LUKS2 header", dev);
		return -ENODATA;
	}
	have = crypt_get_uuid(cd);
	if (uuid && (!have || strcmp(have, uuid) != 0)) {
		(void)snprintf(err, errlen,
			       "LUKS2 header UUID %s of %s is not the volume's UUID %s (metadata "
			       "and data do not belong together)",
			       have ? have : "(none)", dev, uuid);
		return -ESTALE;
	}
	r = crypt_get_volume_key_size(cd);
	vklen = r > 0 ? (size_t)r : 0;
	vk = vklen ? secmem_alloc(vklen) : NULL;
	if (!vk)
		return -ENOMEM;
	r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, (char *)vk, &vklen, (const char *)dek, deklen);
	if (r < 0) {
		(void)snprintf(err, errlen, "the unwrapped DEK does not unlock any keyslot of %s",
			       dev);
		return -EPERM;
	}
	if (flags & LUKS_OPEN_READONLY)
		cflags |= CRYPT_ACTIVATE_READONLY;
	if (flags & LUKS_OPEN_DISCARDS)
		cflags |= CRYPT_ACTIVATE_ALLOW_DISCARDS;
	if (flags & LUKS_OPEN_NO_READ_WQ)
		cflags |= CRYPT_ACTIVATE_NO_READ_WORKQUEUE;
	if (flags & LUKS_OPEN_NO_WRITE_WQ)
		cflags |= CRYPT_ACTIVATE_NO_WRITE_WORKQUEUE;
	/* The table load: the volume key goes to the thread keyring as a logon key. */
	r = activate(cd, name, vk, vklen, cflags);
	if (r == -EEXIST) { /* raced with another opener */
		*already = 1;
		return 0;
	}
	if (r < 0) {
		(void)snprintf(err, errlen, "dm-crypt activation of %s over %s failed: %s", name,
			       dev, strerror(-r));
		return r;
	}
	return 0;
}

void luks_forget_thread_keys(void)
{
	(void)keyctl_clear(KEY_SPEC_THREAD_KEYRING);
}

static int remove_stale(const char *name)
{
	struct dm_task *dmt;
	struct dm_info info;
	int r = 0;

	dmt = dm_task_create(DM_DEVICE_INFO);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt) || !dm_task_get_info(dmt, &info)) {
		dm_task_destroy(dmt);
		return -EIO;
	}
	dm_task_destroy(dmt);
	if (!info.exists || info.live_table)
		return 0;
	dmt = dm_task_create(DM_DEVICE_REMOVE);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt))
		r = -EBUSY;
	else
		r = 1;
	dm_task_destroy(dmt);
	return r;
}

int luks_remove_stale(const char *name)
{
	CS_LOCKED;

	return remove_stale(name);
}

int luks_resize(const char *name, const uint8_t *dek, size_t deklen, uint64_t *new_size)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	struct crypt_active_device ad;
	int r;

	cs_init_logging();
	r = crypt_init_by_name(&cd, name);
	if (r < 0)
		return r;
	if (crypt_status(cd, name) != CRYPT_ACTIVE && crypt_status(cd, name) != CRYPT_BUSY)
		return -ENOENT;
	/* NULL name + KEYRING_KEY: verify the key and load the volume key into the
	 * keyring for the new table; it is dropped again when this thread exits. */
	r = crypt_activate_by_passphrase(cd, NULL, CRYPT_ANY_SLOT, (const char *)dek, deklen,
					 CRYPT_ACTIVATE_KEYRING_KEY);
	if (r < 0)
		return r;
	r = crypt_resize(cd, name, 0);
	/* The reloaded volume key is no longer needed by the table. */
	luks_forget_thread_keys();
	if (r < 0)
		return r;
	if (new_size && crypt_get_active_device(cd, name, &ad) == 0)
		*new_size = ad.size * 512;
	return 0;
}

int luks_close(const char *name, int deferred)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	int r;

	cs_init_logging();
	r = crypt_init_by_name(&cd, name);
	if (r < 0)
		return r == -ENODEV ? -ENOENT : r;
	if (crypt_status(cd, name) != CRYPT_ACTIVE && crypt_status(cd, name) != CRYPT_BUSY)
		return -ENOENT;
	return crypt_deactivate_by_name(cd, name, deferred ? CRYPT_DEACTIVATE_DEFERRED : 0);
}

int luks_status(const char *name, struct luks_status *st)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	struct crypt_active_device ad;
	crypt_status_info s;

	cs_init_logging();
	memset(st, 0, sizeof(*st));
	if (crypt_init_by_name(&cd, name) < 0)
		return 0;
	s = crypt_status(cd, name);
	if (s != CRYPT_ACTIVE && s != CRYPT_BUSY)
		return 0;
	st->active = 1;
	if (crypt_get_device_name(cd))
		(void)snprintf(st->device, sizeof(st->device), "%s", crypt_get_device_name(cd));
	(void)snprintf(st->cipher, sizeof(st->cipher), "%s-%s", crypt_get_cipher(cd) ?: "?",
		       crypt_get_cipher_mode(cd) ?: "?");
	st->key_bits = crypt_get_volume_key_size(cd) * 8;
	st->sector_size = crypt_get_sector_size(cd);
	if (crypt_get_active_device(cd, name, &ad) == 0) {
		st->size_bytes = ad.size * 512;
		st->flags = ad.flags;
		st->readonly = !!(ad.flags & CRYPT_ACTIVATE_READONLY);
	}
	return 1;
}
