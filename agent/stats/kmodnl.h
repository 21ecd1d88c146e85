/* SPDX-License-Identifier: MIT */
/*
 * Talking to pvenc.ko over its generic-netlink family (kmod/uapi/linux/pvenc.h):
 * register and unregister volumes, dump them with their counters, and notice the
 * family appearing (module loaded) so the agent can register its volumes again.
 * Every call opens its own socket, so any thread may call any function.
 */
#ifndef PVENC_STATS_KMODNL_H
#define PVENC_STATS_KMODNL_H

#include <linux/pvenc.h>
#include <stddef.h>
#include <stdint.h>

struct kvol {
	char name[PVENC_NAME_MAX + 1];
	unsigned dev_major, dev_minor;
	char pool[PVENC_TEXT_MAX + 1];
	char namespace[PVENC_TEXT_MAX + 1];
	char image[PVENC_TEXT_MAX + 1];
	char image_id[PVENC_TEXT_MAX + 1];
	char cipher[PVENC_TEXT_MAX + 1];
	char kms[PVENC_TEXT_MAX + 1];
	uint32_t key_bits, sector_size, key_version, dek_version;
	uint64_t opened_at; /* seconds since the epoch; 0: keep what the module has */
	uint64_t rotated_at; /* last DEK rotation; 0: never */
	int has_stats; /* 0: the device is gone */
	uint64_t stats[__PVENC_S_MAX]; /* indexed by PVENC_S_* */
};

/* -ENOENT: the module is not loaded; -EPROTO: its ABI version is older than ours. */
int kmodnl_register(const struct kvol *v);
int kmodnl_unregister(const char *name);
/* *vols (malloc) holds *n volumes in name order. */
int kmodnl_list(struct kvol **vols, size_t *n);

/* libnl's words for the last netlink error of this thread (for messages). */
const char *kmodnl_last_error(void);

/* A socket on the controller's notify group: poll its fd, then kmodnl_watch_read
 * returns 1 when the pvenc family appeared since the last call, 0 otherwise. */
struct kmodnl_watch;
int kmodnl_watch_open(struct kmodnl_watch **w);
int kmodnl_watch_fd(const struct kmodnl_watch *w);
int kmodnl_watch_read(struct kmodnl_watch *w);
void kmodnl_watch_close(struct kmodnl_watch *w);

#endif
