/* SPDX-License-Identifier: MIT */
/*
 * LUKS2 through libcryptsetup. The header is built in memory (a memfd) and written to
 * the image through librbd, so formatting needs no kernel mapping; opening activates
 * dm-crypt over the mapped /dev/rbdN with the volume key in the kernel keyring (the
 * table references it as :64:logon:..., libcryptsetup drops it after activation).
 */
#ifndef PVENC_CRYPT_LUKS_H
#define PVENC_CRYPT_LUKS_H

#include <stddef.h>
#include <stdint.h>

#include "crypt/policy.h"

/* LUKS2 default data offset: the header area at the start of every volume. */
#define LUKS_HEADER_SIZE (16ULL << 20)
/* The binary keyslots area of a new header: room for 15 keyslots of a 512-bit key
 * (4000 AF stripes, 252 KiB each). LUKS2's default is the whole header area less the
 * JSON copies, all of which libcryptsetup fills with random bytes at format. */
#define LUKS_KEYSLOTS_SIZE (4ULL << 20)
/* Smallest image pvenc formats: the header plus 1 MiB of data. */
#define LUKS_MIN_IMAGE_SIZE    (LUKS_HEADER_SIZE + (1ULL << 20))
#define LUKS_SECTOR_SIZE       4096
#define LUKS_PBKDF2_ITERATIONS 1000
/* The keyslot hash (PBKDF2 and the anti-forensic splitter). SHA-512's 64-byte output
 * covers the 512-bit volume key in one block, so unlocking a keyslot hashes half as
 * often as with SHA-256 (4000 AF stripes): the unlock is most of an open's own CPU. */
#define LUKS_PBKDF_HASH "sha512"

struct luks_format_opts {
	const char *uuid; /* lower-case UUID to give the header */
	const char *label; /* shown by blkid (e.g. the image spec), may be truncated */
};

/* Builds a LUKS2 header (aes-xts-plain64, 512-bit volume key, 4096-byte sectors,
 * pbkdf2) whose keyslot is unlocked by @dek. *hdr gets LUKS_HEADER_SIZE bytes (malloc;
 * not secret: the volume key inside is encrypted). */
int luks_build_header(const struct luks_format_opts *o, const uint8_t *dek, size_t deklen,
		      uint8_t **hdr, char *err, size_t errlen);

/* Checks an in-memory header region (the whole header area, or a prefix that holds
 * the keyslot @dek opens): 0 if it is LUKS2 with @uuid and @dek unlocks a keyslot
 * (@uuid NULL: a ceph-csi volume, any UUID, ceph-csi's header policy) whose
 * authenticator matches (required if @mac_required); -ENODATA not LUKS, -ESTALE other
 * UUID, -EMEDIUMTYPE not a header pvenc makes (policy or authenticator), -EPERM wrong
 * key. */
int luks_check_header(const uint8_t *hdr, size_t len, const char *uuid, const uint8_t *dek,
		      size_t deklen, int mac_required);

/* Keyslot @slot's authenticator (crypt/hdrmac.h) in the header loaded in @cd, for @dek:
 * 0 if it matches, or if there is none and it is not @required; else -EMEDIUMTYPE
 * with @why. */
int luks_mac_check(struct crypt_device *cd, int slot, const uint8_t *dek, size_t deklen,
		   int required, char *why, size_t whylen);

/* Whether an in-memory header passes luks_header_policy for @origin (crypt/policy.h):
 * 0, -ENODATA if it is no LUKS2 header, or -EMEDIUMTYPE with @why set. */
int luks_header_check(const uint8_t *hdr, size_t len, enum luks_origin origin, char *why,
		      size_t whylen);

/* Keyslots of an in-memory header (LUKS_HEADER_SIZE bytes), for rotation; the header
 * is changed in place. keyslot_of: the slot @dek opens, -EPERM if none. add_key: a
 * keyslot for @new_key unlocked with @old (none added if @new_key opens one already);
 * returns the slot. keep_only: destroys every keyslot of pvenc's (those its "pvenc"
 * token lists) but the one @dek opens (-EPERM if @dek opens none); returns how many
 * were destroyed. Keyslots and tokens pvenc did not make are never destroyed, and
 * neither is the recovery key's keyslot ("pvenc-recovery" token). */
int luks_header_keyslot_of(const uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen);
enum {
	/* @old is the recovery key: its keyslot must be the recovery token's, with its
	 * authenticator, and stays the recovery key's. */
	LUKS_KEY_FROM_RECOVERY = 1 << 0,
	/* @new_key becomes the recovery key, replacing any recovery keyslot there was. */
	LUKS_KEY_TO_RECOVERY = 1 << 1,
};
int luks_header_add_key(uint8_t *hdr, size_t len, const uint8_t *old, const uint8_t *new_key,
			size_t deklen, unsigned flags);
/* Destroys the recovery keyslot and its token, once @dek is known to open a keyslot of
 * pvenc's; returns how much was removed (0: there was none). */
int luks_header_drop_recovery(uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen);
int luks_header_keep_only(uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen);
/* Gives the keyslot @dek opens its authenticator (a header made before them); 1 if the
 * header changed, 0 if it had it, <0 on error. */
int luks_header_set_mac(uint8_t *hdr, size_t len, const uint8_t *dek, size_t deklen);

enum {
	LUKS_OPEN_READONLY = 1 << 0,
	LUKS_OPEN_DISCARDS = 1 << 1,
	LUKS_OPEN_NO_READ_WQ = 1 << 2,
	LUKS_OPEN_NO_WRITE_WQ = 1 << 3,
	/* The keyslot's authenticator must be there (binding v2: crypt/hdrmac.h). */
	LUKS_OPEN_MAC_REQUIRED = 1 << 4,
};

/* Activates @name over @dev. Idempotent: if @name is already active over @dev, 0 and
 * *already = 1. -EEXIST: @name is active over another device. -ESTALE: header UUID is
 * not @uuid. -EPERM: @dek does not unlock it. */
int luks_open(const char *dev, const char *name, const char *uuid, const uint8_t *dek,
	      size_t deklen, unsigned flags, int *already, char *err, size_t errlen);
/* Removes the mapping @name if it is over @dev (NULL: the device is gone, any):
 * -ENOENT none, -EXDEV over another device, -EBUSY when in use unless @deferred (then
 * removal is scheduled). */
int luks_close(const char *name, const char *dev, int deferred);

/* Grows @name (over @dev, else -EXDEV) to the size of its (grown) device. The volume
 * key is reloaded into the thread keyring by unlocking with @dek, as cryptsetup resize
 * does. */
int luks_resize(const char *name, const char *dev, const uint8_t *dek, size_t deklen,
		uint64_t *new_size);

/* 1 if @name is an active mapping over @dev, 0 if there is none, -EXDEV if it is over
 * another device. */
int luks_over(const char *name, const char *dev);

/* Unlinks every key from the calling thread's keyring, where libcryptsetup puts
 * volume keys; long-lived threads call this after each operation. */
void luks_forget_thread_keys(void);

/* A mapping a killed process left half made (created, no live table): remove it.
 * 1 if one was removed, 0 if none, <0 on error. */
int luks_remove_stale(const char *name);

struct luks_status {
	int active;
	char device[256];
	char cipher[64];
	int key_bits;
	int sector_size;
	uint64_t size_bytes;
	int readonly;
	uint32_t flags;
};
int luks_status(const char *name, struct luks_status *st);
/* The same from device-mapper's table alone, without reading the device under it (which
 * blocks while the cluster is out of reach): 1 for a crypt mapping @name over @dev (NULL:
 * any; device is "MAJ:MIN"), 0 when there is none, -EXDEV when it is over another. */
int luks_table_status(const char *name, const char *dev, struct luks_status *st);

#endif
