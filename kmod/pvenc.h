/* SPDX-License-Identifier: GPL-2.0 */
/* pvenc.ko internals shared by main.c, volume.c, stats.c and netlink.c. */
#ifndef _PVENC_H
#define _PVENC_H

#include <linux/atomic.h>
#include <linux/kobject.h>
#include <linux/pvenc.h>
#include <linux/rculist.h>
#include <linux/types.h>

struct pvenc_volume {
	struct kobject kobj; /* /sys/kernel/pvenc/volumes/<name> */
	struct hlist_node hnode; /* in the dev_t hash, for the completion hook */
	struct rcu_head rcu;
	dev_t dev;
	char name[PVENC_NAME_MAX + 1];
	char pool[PVENC_TEXT_MAX + 1];
	char namespace[PVENC_TEXT_MAX + 1];
	char image[PVENC_TEXT_MAX + 1];
	char image_id[PVENC_TEXT_MAX + 1];
	char cipher[PVENC_TEXT_MAX + 1];
	char kms[PVENC_TEXT_MAX + 1];
	u32 key_bits;
	u32 sector_size;
	u32 key_version;
	u32 dek_version;
	u64 opened_at;
	u64 rotated_at;
	atomic64_t errors;
};

/* What a register request carries; strings already validated. */
struct pvenc_identity {
	dev_t dev;
	const char *name, *pool, *namespace, *image, *image_id, *cipher, *kms;
	u32 key_bits, sector_size, key_version, dek_version;
	u64 opened_at, rotated_at;
};

struct pvenc_counters {
	u64 v[__PVENC_S_MAX];
};

/* volume.c: the registry; sleeps (takes pvenc_lock). */
int pvenc_volumes_init(struct kobject *root);
void pvenc_volumes_exit(void);
int pvenc_volume_register(const struct pvenc_identity *id);
int pvenc_volume_unregister(const char *name);
/* Calls @fn for each volume in name order with the registry lock held, starting after
 * the first @skip volumes; stops when @fn returns non-zero and returns that. */
int pvenc_volume_for_each(unsigned long skip,
			  int (*fn)(struct pvenc_volume *v, void *arg), void *arg);
/* A consistent copy of @v's fields (not its kobject) for a netlink answer. */
void pvenc_volume_copy(struct pvenc_volume *dst, struct pvenc_volume *v);
bool pvenc_name_valid(const char *s);
bool pvenc_text_valid(const char *s);

/* stats.c */
int pvenc_stats_init(void);
void pvenc_stats_exit(void);
void pvenc_stats_add(struct pvenc_volume *v);
void pvenc_stats_del(struct pvenc_volume *v);
/* 0, or -ENODEV when the dm device is gone or is another device now. */
int pvenc_stats_read(struct pvenc_volume *v, struct pvenc_counters *c);

/* netlink.c */
int pvenc_genl_init(void);
void pvenc_genl_exit(void);

#endif
