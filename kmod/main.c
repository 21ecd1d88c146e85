// SPDX-License-Identifier: GPL-2.0
/*
 * pvenc.ko: per-volume encryption stats for pvenc volumes.
 *
 * /sys/kernel/pvenc/version is the ABI version; /sys/kernel/pvenc/volumes/<name>/
 * holds each registered dm-crypt device's identity and kernel-measured counters. The
 * agent registers volumes over the generic-netlink family "pvenc" (netlink.c).
 * Nothing here is in the I/O path except a tracepoint probe that counts failed bios
 * (stats.c); without the module, I/O is exactly as before.
 */
#include <linux/init.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/sysfs.h>

#include "pvenc.h"

static struct kobject *pvenc_kobj;

static ssize_t version_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%d\n", PVENC_GENL_VERSION);
}

static struct kobj_attribute version_attr = __ATTR_RO(version);

static struct attribute *pvenc_attrs[] = {
	&version_attr.attr,
	NULL,
};

static const struct attribute_group pvenc_group = {
	.attrs = pvenc_attrs,
};

static int __init pvenc_init(void)
{
	int ret;

	pvenc_kobj = kobject_create_and_add(PVENC_SYSFS_NAME, kernel_kobj);
	if (!pvenc_kobj)
		return -ENOMEM;
	ret = sysfs_create_group(pvenc_kobj, &pvenc_group);
	if (ret)
		goto err_kobj;
	ret = pvenc_volumes_init(pvenc_kobj);
	if (ret)
		goto err_kobj;
	ret = pvenc_stats_init();
	if (ret)
		goto err_volumes;
	/* Last: the family appearing is what tells the agent to register its volumes. */
	ret = pvenc_genl_init();
	if (ret)
		goto err_stats;
	pr_info("loaded, abi %d\n", PVENC_GENL_VERSION);
	return 0;

err_stats:
	pvenc_stats_exit();
err_volumes:
	pvenc_volumes_exit();
err_kobj:
	kobject_put(pvenc_kobj);
	return ret;
}

static void __exit pvenc_exit(void)
{
	/* No new registrations, then no probe, then drop the volumes (kobject_del waits
	 * for sysfs readers). */
	pvenc_genl_exit();
	pvenc_stats_exit();
	pvenc_volumes_exit();
	kobject_put(pvenc_kobj);
	rcu_barrier(); /* kfree_rcu of the last volumes */
}

module_init(pvenc_init);
module_exit(pvenc_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pvenc per-volume encryption statistics");
MODULE_AUTHOR("pvenc developers");
MODULE_SOFTDEP("pre: dm-mod");
