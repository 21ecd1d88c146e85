// SPDX-License-Identifier: MIT
/* dm-crypt activation of a LUKS2 volume: open, resize, close, status. */
#include "crypt/luks.h"

#include <errno.h>
#include <fcntl.h>
#include <libcryptsetup.h>
#include <keyutils.h>
#include <libdevmapper.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "crypt/libcs.h"
#include "crypt/policy.h"
#include "util/log.h"
#include "util/macro.h"
#include "util/secmem.h"

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
	uint32_t cflags = 0, slots = 0;
	const char *have;
	char why[256];
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
	r = luks_header_policy(cd, uuid ? LUKS_PVENC : LUKS_CEPHCSI, &slots, why, sizeof(why));
	if (r < 0) {
		(void)snprintf(err, errlen, "refusing the LUKS2 header of %s: %s", dev, why);
		return r;
	}
	vk = cs_vk_alloc(cd, &vklen);
	if (!vk)
		return -ENOMEM;
	/* Only the keyslots the policy allows: never an operator's, never a slow one. */
	r = -EPERM;
	for (int s = 0; r < 0 && s < 32; s++)
		if (slots & (1U << s)) {
			size_t n = vklen;

			r = crypt_volume_key_get(cd, s, (char *)vk, &n, (const char *)dek, deklen);
			if (r >= 0)
				vklen = n;
		}
	if (r < 0) {
		(void)snprintf(err, errlen, "the unwrapped DEK does not unlock any keyslot of %s",
			       dev);
		return -EPERM;
	}
	/* pvenc's own header: the keyslot's settings are what pvenc wrote (hdrmac.h). */
	if (uuid) {
		r = luks_mac_check(cd, r, dek, deklen, !!(flags & LUKS_OPEN_MAC_REQUIRED), why,
				   sizeof(why));
		if (r < 0) {
			(void)snprintf(err, errlen, "refusing the LUKS2 header of %s: %s", dev,
				       why);
			return r;
		}
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

/* Active (or busy) mapping @name whose data device is @dev (NULL: any): 0, -ENOENT
 * when there is none, -EXDEV when it is over another device. */
static int mapping_over(struct crypt_device *cd, const char *name, const char *dev)
{
	const char *under;

	if (crypt_status(cd, name) != CRYPT_ACTIVE && crypt_status(cd, name) != CRYPT_BUSY)
		return -ENOENT;
	under = crypt_get_device_name(cd);
	/* Refused only when it is provably over another device (an error table has none). */
	return !dev || !under || same_device(under, dev) ? 0 : -EXDEV;
}

int luks_over(const char *name, const char *dev)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	int r;

	cs_init_logging();
	if (crypt_init_by_name(&cd, name) < 0)
		return 0;
	r = mapping_over(cd, name, dev);
	return r == 0 ? 1 : r == -ENOENT ? 0 : r;
}

int luks_resize(const char *name, const char *dev, const uint8_t *dek, size_t deklen,
		uint64_t *new_size)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	struct crypt_active_device ad;
	int r;

	cs_init_logging();
	r = crypt_init_by_name(&cd, name);
	if (r < 0)
		return r;
	r = mapping_over(cd, name, dev);
	if (r < 0)
		return r;
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

int luks_close(const char *name, const char *dev, int deferred)
{
	CS_LOCKED;
	_cleanup_cd_ struct crypt_device *cd = NULL;
	int r;

	cs_init_logging();
	r = crypt_init_by_name(&cd, name);
	if (r < 0)
		return r == -ENODEV ? -ENOENT : r;
	r = mapping_over(cd, name, dev);
	if (r < 0)
		return r;
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

/* The data device of a crypt table's parameters ("MAJ:MIN", its fourth field), the
 * key's size (":64:logon:desc" or hex) and the sector size option. */
static int parse_crypt_params(const char *params, struct luks_status *st, dev_t *dev)
{
	char cipher[64], key[320], devs[32], *end;
	unsigned long maj, min;
	const char *opt;

	if (sscanf(params, "%63s %319s %*s %31s", cipher, key, devs) != 3) {
		explicit_bzero(key, sizeof(key));
		return -EINVAL;
	}
	maj = strtoul(devs, &end, 10);
	min = *end == ':' ? strtoul(end + 1, &end, 10) : 0;
	if (*end || maj > UINT32_MAX || min > UINT32_MAX) {
		explicit_bzero(key, sizeof(key));
		return -EINVAL;
	}
	*dev = makedev((unsigned)maj, (unsigned)min);
	(void)snprintf(st->cipher, sizeof(st->cipher), "%s", cipher);
	st->key_bits = key[0] == ':' ? (int)strtol(key + 1, NULL, 10) * 8 : (int)strlen(key) * 4;
	explicit_bzero(key, sizeof(key));
	opt = strstr(params, "sector_size:");
	st->sector_size = opt ? (int)strtol(opt + strlen("sector_size:"), NULL, 10) : 512;
	return 0;
}

int luks_table_status(const char *name, const char *dev, struct luks_status *st)
{
	struct dm_task *dmt;
	struct dm_info info;
	uint64_t start, length;
	char *type = NULL, *params = NULL;
	struct stat sd;
	dev_t under = 0;
	int r = 0;

	memset(st, 0, sizeof(*st));
	dmt = dm_task_create(DM_DEVICE_TABLE);
	if (!dmt)
		return -ENOMEM;
	if (!dm_task_set_name(dmt, name) || !dm_task_run(dmt) || !dm_task_get_info(dmt, &info) ||
	    !info.exists)
		goto out;
	(void)dm_get_next_target(dmt, NULL, &start, &length, &type, &params);
	if (!type || strcmp(type, "crypt") != 0 || !params ||
	    parse_crypt_params(params, st, &under) < 0)
		goto out; /* not a crypt table (an error target has no device): not ours */
	if (dev && stat(dev, &sd) == 0 && S_ISBLK(sd.st_mode) && sd.st_rdev != under) {
		r = -EXDEV;
		goto out;
	}
	(void)snprintf(st->device, sizeof(st->device), "%u:%u", major(under), minor(under));
	st->active = 1;
	st->size_bytes = length * 512;
	st->readonly = info.read_only;
	r = 1;
out:
	if (params)
		explicit_bzero(params, strlen(params));
	dm_task_destroy(dmt);
	return r;
}
