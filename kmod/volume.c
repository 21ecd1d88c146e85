// SPDX-License-Identifier: GPL-2.0
/*
 * The registry of volumes: one kobject per registered dm device under
 * /sys/kernel/pvenc/volumes/<dm name>/, one value per file.
 *
 * Identity comes from the agent (what only it knows: pool, image, KMS); the counters
 * are read from the kernel at the moment the file is read (stats.c). A volume's name
 * and dev_t never change while its kobject lives: registering a name with another
 * device replaces the kobject, so readers need no lock for them. The other identity
 * fields can be updated in place and are read under v->lock.
 */
#include <linux/ctype.h>
#include <linux/types.h>
#include <linux/kdev_t.h>
#include <linux/list.h>
#include <linux/math64.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/timekeeping.h>

#include "pvenc.h"

struct pvenc_entry {
	struct list_head node; /* in pvenc_list, sorted by name */
	struct pvenc_volume *vol;
};

static DEFINE_MUTEX(pvenc_lock); /* pvenc_list, the dev_t hash */
static LIST_HEAD(pvenc_list);
static struct kset *pvenc_kset;
static DEFINE_SPINLOCK(pvenc_ident_lock); /* identity strings of every volume */

#define to_vol(k) container_of(k, struct pvenc_volume, kobj)

bool pvenc_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > PVENC_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (; *s; s++)
		if (!isalnum(*s) && !strchr("._@+-", *s))
			return false;
	return true;
}

bool pvenc_text_valid(const char *s)
{
	if (strlen(s) > PVENC_TEXT_MAX)
		return false;
	for (; *s; s++)
		if (*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* ---- sysfs ---- */

static ssize_t text_show(struct pvenc_volume *v, const char *field, char *buf)
{
	ssize_t n;

	spin_lock(&pvenc_ident_lock);
	n = sysfs_emit(buf, "%s\n", field);
	spin_unlock(&pvenc_ident_lock);
	return n;
}

#define PVENC_TEXT_ATTR(field)                                                                \
	static ssize_t field##_show(struct kobject *k, struct kobj_attribute *a, char *buf) \
	{                                                                                     \
		return text_show(to_vol(k), to_vol(k)->field, buf);                           \
	}                                                                                     \
	static struct kobj_attribute field##_attr = __ATTR_RO(field)

#define PVENC_NUM_ATTR(field, type)                                                           \
	static ssize_t field##_show(struct kobject *k, struct kobj_attribute *a, char *buf) \
	{                                                                                     \
		type x;                                                                       \
		spin_lock(&pvenc_ident_lock);                                                 \
		x = to_vol(k)->field;                                                         \
		spin_unlock(&pvenc_ident_lock);                                               \
		return sysfs_emit(buf, "%llu\n", (unsigned long long)x);                      \
	}                                                                                     \
	static struct kobj_attribute field##_attr = __ATTR_RO(field)

PVENC_TEXT_ATTR(pool);
PVENC_TEXT_ATTR(namespace);
PVENC_TEXT_ATTR(image);
PVENC_TEXT_ATTR(image_id);
PVENC_TEXT_ATTR(cipher);
PVENC_TEXT_ATTR(kms);
PVENC_NUM_ATTR(key_bits, u32);
PVENC_NUM_ATTR(sector_size, u32);
PVENC_NUM_ATTR(key_version, u32);
PVENC_NUM_ATTR(opened_at, u64);
PVENC_NUM_ATTR(dek_version, u32);
PVENC_NUM_ATTR(rotated_at, u64);

static ssize_t dev_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	return sysfs_emit(buf, "%u:%u\n", MAJOR(to_vol(k)->dev), MINOR(to_vol(k)->dev));
}
static struct kobj_attribute dev_attr = __ATTR_RO(dev);

/* Counters: read now from the kernel; -ENODEV once the device is gone. */
static ssize_t counter_show(struct kobject *k, char *buf, int idx, u64 div)
{
	struct pvenc_counters c;
	int ret = pvenc_stats_read(to_vol(k), &c);

	if (ret)
		return ret;
	return sysfs_emit(buf, "%llu\n", div_u64(c.v[idx], div));
}

#define PVENC_COUNTER_ATTR(fname, idx, div)                                                   \
	static ssize_t fname##_show(struct kobject *k, struct kobj_attribute *a, char *buf) \
	{                                                                                     \
		return counter_show(k, buf, idx, div);                                        \
	}                                                                                     \
	static struct kobj_attribute fname##_attr = __ATTR_RO(fname)

PVENC_COUNTER_ATTR(reads, PVENC_S_READS, 1);
PVENC_COUNTER_ATTR(writes, PVENC_S_WRITES, 1);
PVENC_COUNTER_ATTR(read_bytes, PVENC_S_READ_BYTES, 1);
PVENC_COUNTER_ATTR(write_bytes, PVENC_S_WRITE_BYTES, 1);
PVENC_COUNTER_ATTR(discards, PVENC_S_DISCARDS, 1);
PVENC_COUNTER_ATTR(discard_bytes, PVENC_S_DISCARD_BYTES, 1);
PVENC_COUNTER_ATTR(flushes, PVENC_S_FLUSHES, 1);
PVENC_COUNTER_ATTR(in_flight, PVENC_S_IN_FLIGHT, 1);
PVENC_COUNTER_ATTR(errors, PVENC_S_ERRORS, 1);
PVENC_COUNTER_ATTR(read_ms, PVENC_S_READ_NS, NSEC_PER_MSEC);
PVENC_COUNTER_ATTR(write_ms, PVENC_S_WRITE_NS, NSEC_PER_MSEC);
PVENC_COUNTER_ATTR(discard_ms, PVENC_S_DISCARD_NS, NSEC_PER_MSEC);
PVENC_COUNTER_ATTR(flush_ms, PVENC_S_FLUSH_NS, NSEC_PER_MSEC);
PVENC_COUNTER_ATTR(busy_ms, PVENC_S_BUSY_MS, 1);

/* io_ms: all time spent in requests, the sum of the four above. */
static ssize_t io_ms_show(struct kobject *k, struct kobj_attribute *a, char *buf)
{
	struct pvenc_counters c;
	int ret = pvenc_stats_read(to_vol(k), &c);

	if (ret)
		return ret;
	return sysfs_emit(buf, "%llu\n",
			  div_u64(c.v[PVENC_S_READ_NS] + c.v[PVENC_S_WRITE_NS] +
					  c.v[PVENC_S_DISCARD_NS] + c.v[PVENC_S_FLUSH_NS],
				  NSEC_PER_MSEC));
}
static struct kobj_attribute io_ms_attr = __ATTR_RO(io_ms);

static struct attribute *pvenc_volume_attrs[] = {
	&pool_attr.attr,	 &namespace_attr.attr,	   &image_attr.attr,
	&image_id_attr.attr,	 &dev_attr.attr,	   &cipher_attr.attr,
	&key_bits_attr.attr,	 &sector_size_attr.attr,   &kms_attr.attr,
	&key_version_attr.attr,	 &opened_at_attr.attr,	   &reads_attr.attr,
	&writes_attr.attr,	 &read_bytes_attr.attr,	   &write_bytes_attr.attr,
	&discards_attr.attr,	 &discard_bytes_attr.attr, &flushes_attr.attr,
	&in_flight_attr.attr,	 &errors_attr.attr,	   &read_ms_attr.attr,
	&write_ms_attr.attr,	 &discard_ms_attr.attr,	   &flush_ms_attr.attr,
	&io_ms_attr.attr,	 &busy_ms_attr.attr,	   &dek_version_attr.attr,
	&rotated_at_attr.attr,	 NULL,
};
ATTRIBUTE_GROUPS(pvenc_volume);

static void pvenc_volume_release(struct kobject *k)
{
	/* The completion hook may still be walking the hash bucket. */
	kfree_rcu(to_vol(k), rcu);
}

static struct kobj_type pvenc_volume_ktype = {
	.release = pvenc_volume_release,
	.sysfs_ops = &kobj_sysfs_ops,
	.default_groups = pvenc_volume_groups,
};

/* ---- registry ---- */

static struct pvenc_entry *find_locked(const char *name)
{
	struct pvenc_entry *e;

	list_for_each_entry(e, &pvenc_list, node)
		if (!strcmp(e->vol->name, name))
			return e;
	return NULL;
}

static void set_identity(struct pvenc_volume *v, const struct pvenc_identity *id)
{
	spin_lock(&pvenc_ident_lock);
	strscpy(v->pool, id->pool, sizeof(v->pool));
	strscpy(v->namespace, id->namespace, sizeof(v->namespace));
	strscpy(v->image, id->image, sizeof(v->image));
	strscpy(v->image_id, id->image_id, sizeof(v->image_id));
	strscpy(v->cipher, id->cipher, sizeof(v->cipher));
	strscpy(v->kms, id->kms, sizeof(v->kms));
	v->key_bits = id->key_bits;
	v->sector_size = id->sector_size;
	v->key_version = id->key_version;
	v->dek_version = id->dek_version;
	v->rotated_at = id->rotated_at;
	if (id->opened_at || !v->opened_at)
		v->opened_at = id->opened_at ?: ktime_get_real_seconds();
	spin_unlock(&pvenc_ident_lock);
}

void pvenc_volume_copy(struct pvenc_volume *dst, struct pvenc_volume *v)
{
	spin_lock(&pvenc_ident_lock);
	memcpy(dst, v, sizeof(*dst));
	spin_unlock(&pvenc_ident_lock);
}

/* Takes @e out of the registry; the caller drops the kobject after unlocking, as
 * kobject_del waits for sysfs readers. */
static struct pvenc_volume *unlink_locked(struct pvenc_entry *e)
{
	struct pvenc_volume *v = e->vol;

	pvenc_stats_del(v);
	list_del(&e->node);
	kfree(e);
	return v;
}

static void drop(struct pvenc_volume *v)
{
	if (!v)
		return;
	kobject_del(&v->kobj);
	kobject_put(&v->kobj);
}

int pvenc_volume_register(const struct pvenc_identity *id)
{
	struct pvenc_volume *v, *old = NULL;
	struct pvenc_entry *e, *pos;
	int ret;

	mutex_lock(&pvenc_lock);
	e = find_locked(id->name);
	if (e && e->vol->dev == id->dev) {
		set_identity(e->vol, id);
		mutex_unlock(&pvenc_lock);
		return 0;
	}
	if (e)
		old = unlink_locked(e);
	mutex_unlock(&pvenc_lock);
	/* Outside the lock: the old directory must be gone before the new one is added. */
	drop(old);

	v = kzalloc(sizeof(*v), GFP_KERNEL);
	e = kzalloc(sizeof(*e), GFP_KERNEL);
	if (!v || !e) {
		kfree(v);
		kfree(e);
		return -ENOMEM;
	}
	v->dev = id->dev;
	strscpy(v->name, id->name, sizeof(v->name));
	atomic64_set(&v->errors, 0);
	set_identity(v, id);
	e->vol = v;
	v->kobj.kset = pvenc_kset;

	mutex_lock(&pvenc_lock);
	if (find_locked(id->name)) { /* a concurrent register won */
		mutex_unlock(&pvenc_lock);
		kfree(v);
		kfree(e);
		return -EBUSY;
	}
	ret = kobject_init_and_add(&v->kobj, &pvenc_volume_ktype, NULL, "%s", v->name);
	if (ret) {
		mutex_unlock(&pvenc_lock);
		kobject_put(&v->kobj); /* frees v */
		kfree(e);
		return ret;
	}
	list_for_each_entry(pos, &pvenc_list, node)
		if (strcmp(pos->vol->name, v->name) > 0)
			break;
	list_add_tail(&e->node, &pos->node);
	pvenc_stats_add(v);
	/* Under the lock: once it is dropped, a concurrent unregister may free v. The
	 * uevent does not wait for sysfs readers, unlike kobject_del in drop(). */
	kobject_uevent(&v->kobj, KOBJ_ADD);
	mutex_unlock(&pvenc_lock);
	return 0;
}

int pvenc_volume_unregister(const char *name)
{
	struct pvenc_volume *v = NULL;
	struct pvenc_entry *e;

	mutex_lock(&pvenc_lock);
	e = find_locked(name);
	if (e)
		v = unlink_locked(e);
	mutex_unlock(&pvenc_lock);
	if (!v)
		return -ENOENT;
	drop(v);
	return 0;
}

int pvenc_volume_for_each(unsigned long skip, int (*fn)(struct pvenc_volume *v, void *arg),
			  void *arg)
{
	struct pvenc_entry *e;
	unsigned long i = 0;
	int ret = 0;

	mutex_lock(&pvenc_lock);
	list_for_each_entry(e, &pvenc_list, node) {
		if (i++ < skip)
			continue;
		ret = fn(e->vol, arg);
		if (ret)
			break;
	}
	mutex_unlock(&pvenc_lock);
	return ret;
}

int pvenc_volumes_init(struct kobject *root)
{
	pvenc_kset = kset_create_and_add("volumes", NULL, root);
	return pvenc_kset ? 0 : -ENOMEM;
}

/* After the netlink family is gone: nothing can register any more. */
void pvenc_volumes_exit(void)
{
	for (;;) {
		struct pvenc_volume *v = NULL;

		mutex_lock(&pvenc_lock);
		if (!list_empty(&pvenc_list))
			v = unlink_locked(list_first_entry(&pvenc_list, struct pvenc_entry, node));
		mutex_unlock(&pvenc_lock);
		if (!v)
			break;
		drop(v);
	}
	kset_unregister(pvenc_kset);
}
