// SPDX-License-Identifier: GPL-2.0
/*
 * Counters of a registered dm-crypt device, measured by the kernel.
 *
 * Reads, writes, bytes, discards, flushes, time and in-flight are the block layer's
 * own accounting of the dm device (what /sys/block/dm-N/stat prints): device-mapper
 * accounts every bio it is given, so they cost nothing extra and exist whether or
 * not this module is loaded. The device is looked up by dev_t each time a value is
 * read and released right after, so pvenc.ko never keeps a device from being removed,
 * and the dm name is checked so a dev_t reused by another device reads as gone.
 *
 * The block layer does not count failed I/O. Errors are counted by a probe on the
 * block_bio_complete tracepoint, which fires once for every bio that completes; the
 * probe returns at once for successful bios and otherwise looks the device up in an
 * RCU hash of registered devices. Errors are therefore those since registration.
 * Why this design and not a stacking target: Documentation/kmod.md.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-ioctl.h>
#include <linux/hashtable.h>
#include <linux/part_stat.h>
#include <linux/string.h>
#include <linux/tracepoint.h>
#include <trace/events/block.h>

#include "pvenc.h"

static DEFINE_HASHTABLE(pvenc_devs, 6);

static void pvenc_bio_complete(void *data, struct request_queue *q, struct bio *bio)
{
	struct pvenc_volume *v;
	dev_t dev;

	if (likely(!bio->bi_status) || !bio->bi_bdev)
		return;
	dev = bio->bi_bdev->bd_dev;
	rcu_read_lock();
	hash_for_each_possible_rcu(pvenc_devs, v, hnode, dev)
		if (v->dev == dev)
			atomic64_inc(&v->errors);
	rcu_read_unlock();
}

/* With the registry lock held. */
void pvenc_stats_add(struct pvenc_volume *v)
{
	hash_add_rcu(pvenc_devs, &v->hnode, v->dev);
}

void pvenc_stats_del(struct pvenc_volume *v)
{
	hash_del_rcu(&v->hnode);
}

static u64 in_flight(struct block_device *part)
{
	long sum = 0;
	int cpu;

	/* device-mapper is bio-based: in-flight lives in per-cpu counters that only add
	 * up across CPUs (one may be negative on its own). */
	for_each_possible_cpu(cpu)
		sum += part_stat_local_read_cpu(part, in_flight[READ], cpu) +
		       part_stat_local_read_cpu(part, in_flight[WRITE], cpu);
	return sum > 0 ? sum : 0;
}

/* Sleeps (dm's name lookup takes its hash lock): process context only. */
int pvenc_stats_read(struct pvenc_volume *v, struct pvenc_counters *c)
{
	struct mapped_device *md = dm_get_md(v->dev);
	char name[DM_NAME_LEN], uuid[DM_UUID_LEN];
	struct block_device *part;
	int ret = -ENODEV;

	memset(c, 0, sizeof(*c));
	if (!md)
		return ret;
	/* dm_device_name() is the disk name (dm-N); the dm name is dm-ioctl's. */
	if (dm_copy_name_and_uuid(md, name, uuid) || strcmp(name, v->name))
		goto out;
	part = dm_disk(md)->part0;
	c->v[PVENC_S_READS] = part_stat_read(part, ios[STAT_READ]);
	c->v[PVENC_S_WRITES] = part_stat_read(part, ios[STAT_WRITE]);
	c->v[PVENC_S_DISCARDS] = part_stat_read(part, ios[STAT_DISCARD]);
	c->v[PVENC_S_FLUSHES] = part_stat_read(part, ios[STAT_FLUSH]);
	c->v[PVENC_S_READ_BYTES] = (u64)part_stat_read(part, sectors[STAT_READ]) << SECTOR_SHIFT;
	c->v[PVENC_S_WRITE_BYTES] = (u64)part_stat_read(part, sectors[STAT_WRITE])
				    << SECTOR_SHIFT;
	c->v[PVENC_S_DISCARD_BYTES] = (u64)part_stat_read(part, sectors[STAT_DISCARD])
				      << SECTOR_SHIFT;
	c->v[PVENC_S_READ_NS] = part_stat_read(part, nsecs[STAT_READ]);
	c->v[PVENC_S_WRITE_NS] = part_stat_read(part, nsecs[STAT_WRITE]);
	c->v[PVENC_S_DISCARD_NS] = part_stat_read(part, nsecs[STAT_DISCARD]);
	c->v[PVENC_S_FLUSH_NS] = part_stat_read(part, nsecs[STAT_FLUSH]);
	c->v[PVENC_S_BUSY_MS] = jiffies_to_msecs(part_stat_read(part, io_ticks));
	c->v[PVENC_S_IN_FLIGHT] = in_flight(part);
	c->v[PVENC_S_ERRORS] = atomic64_read(&v->errors);
	ret = 0;
out:
	dm_put(md);
	return ret;
}

int pvenc_stats_init(void)
{
	return register_trace_block_bio_complete(pvenc_bio_complete, NULL);
}

void pvenc_stats_exit(void)
{
	unregister_trace_block_bio_complete(pvenc_bio_complete, NULL);
	/* No probe may still run when the module text goes away. */
	tracepoint_synchronize_unregister();
}
