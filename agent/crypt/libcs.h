/* SPDX-License-Identifier: MIT */
/*
 * libcryptsetup inside pvenc (crypt/header.c, crypt/luks.c): every call under one lock,
 * its messages in our debug log. Not a public API.
 *
 * libcryptsetup's device-mapper backend keeps process-wide state without locks: a use
 * count whose drop to zero closes libdevmapper's control fd (dm_lib_release), and the
 * context its log callback writes to. Two agent workers opening volumes at once then
 * saw "ioctl failed: Bad file descriptor" and, under load, heap corruption (SIGABRT).
 * Every libcryptsetup and libdevmapper call in pvenc goes through these two files,
 * under this lock; the KMS and librbd work before and after stays concurrent.
 */
#ifndef PVENC_CRYPT_LIBCS_H
#define PVENC_CRYPT_LIBCS_H

#include <libcryptsetup.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "util/macro.h"

pthread_mutex_t *cs_lock_take(void);
void cs_unlockp(pthread_mutex_t **m);
/* Declared before any crypt_device so that it is released after crypt_free(). */
#define CS_LOCKED _cleanup_(cs_unlockp) pthread_mutex_t *cs_held_ = cs_lock_take()

void cd_freep(struct crypt_device **cd);
#define _cleanup_cd_ _cleanup_(cd_freep)

/* Routes libcryptsetup's messages to our debug log; with the lock held. */
void cs_init_logging(void);

/*
 * Reading a header and unlocking a keyslot need no device-mapper: libcryptsetup
 * decrypts keyslots in userspace (OpenSSL) and only falls back to a temporary dm-crypt
 * mapping where userspace cannot do the cipher, which aes-xts-plain64 never needs. Only
 * crypt_init() and crypt_free() touch the shared state there (the use count above), so
 * those two take the lock and the unlock itself (PBKDF2 and the AF merge, most of an
 * open's CPU) runs in parallel across workers.
 */
int crypt_init_locked(struct crypt_device **cd, const char *dev);
void cd_free_locked(struct crypt_device **cd);
#define _cleanup_cd_locked_ _cleanup_(cd_free_locked)

/* A secmem buffer the size of @cd's volume key (*len); NULL when it has none or on
 * ENOMEM. */
uint8_t *cs_vk_alloc(struct crypt_device *cd, size_t *len);

#endif
