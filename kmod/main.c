// SPDX-License-Identifier: GPL-2.0
/*
 * pvenc.ko: per-volume encryption stats for pvenc volumes.
 *
 * This first version only creates /sys/kernel/pvenc/ with the ABI version, so the
 * agent and tools can detect the module; volumes and counters come with the
 * generic-netlink family (Documentation/kmod.md).
 */
#include <linux/init.h>
#include <linux/kobject.h>
#include <linux/module.h>
#include <linux/sysfs.h>
#include <linux/pvenc.h>

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
		goto err_put;

	pr_info("loaded, abi %d\n", PVENC_GENL_VERSION);
	return 0;

err_put:
	kobject_put(pvenc_kobj);
	return ret;
}

static void __exit pvenc_exit(void)
{
	kobject_put(pvenc_kobj);
}

module_init(pvenc_init);
module_exit(pvenc_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("pvenc per-volume encryption statistics");
MODULE_AUTHOR("pvenc developers");
