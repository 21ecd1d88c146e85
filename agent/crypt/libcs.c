// SPDX-License-Identifier: MIT
#include "crypt/libcs.h"

#include <stdio.h>
#include <string.h>

#include "util/log.h"
#include "util/secmem.h"

static pthread_mutex_t cs_lock = PTHREAD_MUTEX_INITIALIZER;

pthread_mutex_t *cs_lock_take(void)
{
	pthread_mutex_lock(&cs_lock);
	return &cs_lock;
}

void cs_unlockp(pthread_mutex_t **m)
{
	if (*m)
		pthread_mutex_unlock(*m);
}

void cd_freep(struct crypt_device **cd)
{
	if (*cd)
		crypt_free(*cd);
}

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

void cs_init_logging(void)
{
	crypt_set_log_callback(NULL, cs_log, NULL);
}

int crypt_init_locked(struct crypt_device **cd, const char *dev)
{
	CS_LOCKED;

	cs_init_logging();
	return crypt_init(cd, dev);
}

void cd_free_locked(struct crypt_device **cd)
{
	if (*cd) {
		CS_LOCKED;

		crypt_free(*cd);
	}
}

uint8_t *cs_vk_alloc(struct crypt_device *cd, size_t *len)
{
	int n = crypt_get_volume_key_size(cd);

	*len = n > 0 ? (size_t)n : 0;
	return *len ? secmem_alloc(*len) : NULL;
}
