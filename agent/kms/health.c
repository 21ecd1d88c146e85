// SPDX-License-Identifier: MIT
#include "kms/health.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kms/kms.h"

/* kms.json has a handful of entries; a node with more than this many in use has the
 * rest left out rather than an unbounded table. */
#define HEALTH_MAX 64

struct entry {
	char id[128];
	time_t ok_at, fail_at;
	char error[512];
	long (*ttl)(const void *arg);
	const void *ttl_arg;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry table[HEALTH_MAX];
static size_t used;

/* The entry of @id, made if there is room; lock held. */
static struct entry *entry_of(const char *id)
{
	if (!id || !*id || strlen(id) >= sizeof(table[0].id))
		return NULL;
	for (size_t i = 0; i < used; i++)
		if (!strcmp(table[i].id, id))
			return &table[i];
	if (used == HEALTH_MAX)
		return NULL;
	memset(&table[used], 0, sizeof(table[used]));
	(void)snprintf(table[used].id, sizeof(table[used].id), "%s", id);
	return &table[used++];
}

static int record(const struct kms *k, int r, int ok)
{
	struct entry *e;

	pthread_mutex_lock(&lock);
	e = entry_of(k->id);
	if (e && ok) {
		e->ok_at = time(NULL);
	} else if (e) {
		e->fail_at = time(NULL);
		(void)snprintf(e->error, sizeof(e->error), "%s",
			       k->error[0] ? k->error : strerror(-r));
	}
	pthread_mutex_unlock(&lock);
	return r;
}

int kms_health_note(const struct kms *k, int r)
{
	return record(k, r, r >= 0 || r == -ENOENT || r == -ENOKEY);
}

int kms_health_fail(const struct kms *k, int r)
{
	return record(k, r, 0);
}

void kms_health_ttl_source(const char *id, long (*ttl)(const void *arg), const void *arg)
{
	struct entry *e;

	pthread_mutex_lock(&lock);
	e = entry_of(id);
	if (e) {
		e->ttl = ttl;
		e->ttl_arg = arg;
	}
	pthread_mutex_unlock(&lock);
}

struct json_object *kms_health_json(void)
{
	struct json_object *arr = json_object_new_array();

	if (!arr)
		return NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < used; i++) {
		const struct entry *e = &table[i];
		struct json_object *o = json_object_new_object();
		long ttl = e->ttl ? e->ttl(e->ttl_arg) : -1;

		if (!o)
			break;
		json_object_object_add(o, "kms", json_object_new_string(e->id));
		json_object_object_add(o, "last_success", json_object_new_int64(e->ok_at));
		json_object_object_add(o, "last_failure", json_object_new_int64(e->fail_at));
		json_object_object_add(o, "last_error",
				       e->fail_at ? json_object_new_string(e->error) : NULL);
		json_object_object_add(o, "token_ttl_s",
				       ttl >= 0 ? json_object_new_int64(ttl) : NULL);
		json_object_array_add(arr, o);
	}
	pthread_mutex_unlock(&lock);
	return arr;
}

void kms_health_reset(void)
{
	pthread_mutex_lock(&lock);
	used = 0;
	pthread_mutex_unlock(&lock);
}
